/* torch.cc - the TorchScript backend, on libtorch (C++ behind the C backend
 * interface; nothing else in berth-serve is C++). It is built as a module of
 * its own, berth-serve-torch.so, which berth-serve opens on the first
 * TorchScript version (torch_module.c).
 *
 * A version's model is a file written by torch.jit.save. At load it is
 * checked to be TorchScript (serve_torch_check: an eager torch.save file is
 * refused with what to do instead), loaded on the CPU, put in eval mode and
 * frozen (parameters become constants, which the graph optimizer then folds;
 * a module that cannot be frozen stays as it is, and the load log says why).
 * Then forward() runs once on the example berth.json gives, or on zeros of
 * the declared shapes (each -1 as 1): that checks the signature, names and
 * types the outputs (a tensor, a tuple or list of tensors, or a dict of them
 * by string key) and warms the graph executor.
 *
 * Requests run forward() on the calling worker thread under
 * c10::InferenceMode, with one intra-op thread: concurrency comes from the
 * server's workers, as for XGBoost. libgomp keeps the thread count per
 * thread, so each worker sets its own on its first call. */
extern "C" {
#include "serve/backend.h"
#include "base/alloc.h"
#include "serve/modelcheck.h"
#include "serve/tensor.h"
}

#include <ATen/Parallel.h>
#include <torch/script.h>
#include <torch/version.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace
{

enum class out_kind { tensor, tuple, list, dict };

struct torch_model {
    torch::jit::Module module;
    out_kind kind = out_kind::tensor;
    /* Where output i comes from: its index in a tuple or list, its key in a dict. */
    std::vector<size_t> index;
    std::vector<std::string> key;
    size_t ninputs = 0;
    std::vector<std::string> names; /* of the outputs, for the answers */
};

/* One line of a libtorch error: its message without the C++ backtrace. */
std::string one_line(const std::exception &e)
{
    const c10::Error *ce = dynamic_cast<const c10::Error *>(&e);
    std::string s = ce ? ce->what_without_backtrace() : e.what();
    for (char &c : s)
        if (c == '\n' || c == '\r' || c == '\t')
            c = ' ';
    if (s.size() > 200)
        s = s.substr(0, 200) + "...";
    return s;
}

void threads_once()
{
    static std::once_flag once;
    std::call_once(once, [] {
        at::set_num_threads(1);
        try {
            at::set_num_interop_threads(1);
        } catch (const std::exception &) {
            /* set already (the pool started): forward() does not fork */
        }
    });
}

/* Each thread's intra-op thread count: 1, set on its first call. */
void thread_init()
{
    static thread_local bool done;
    if (!done) {
        threads_once();
        at::init_num_threads();
        done = true;
    }
}

bool dtype_to_torch(enum v2_dtype t, c10::ScalarType *out)
{
    switch (t) {
    case V2_BOOL:
        *out = c10::kBool;
        return true;
    case V2_UINT8:
        *out = c10::kByte;
        return true;
    case V2_INT8:
        *out = c10::kChar;
        return true;
    case V2_INT16:
        *out = c10::kShort;
        return true;
    case V2_INT32:
        *out = c10::kInt;
        return true;
    case V2_INT64:
        *out = c10::kLong;
        return true;
    case V2_FP16:
        *out = c10::kHalf;
        return true;
    case V2_FP32:
        *out = c10::kFloat;
        return true;
    case V2_FP64:
        *out = c10::kDouble;
        return true;
    default:
        return false;
    }
}

enum v2_dtype dtype_from_torch(c10::ScalarType t)
{
    switch (t) {
    case c10::kBool:
        return V2_BOOL;
    case c10::kByte:
        return V2_UINT8;
    case c10::kChar:
        return V2_INT8;
    case c10::kShort:
        return V2_INT16;
    case c10::kInt:
        return V2_INT32;
    case c10::kLong:
        return V2_INT64;
    case c10::kHalf:
        return V2_FP16;
    case c10::kFloat:
        return V2_FP32;
    case c10::kDouble:
        return V2_FP64;
    default:
        return V2_INVALID;
    }
}

at::Tensor to_torch(const struct serve_tensor *t)
{
    c10::ScalarType st = c10::kFloat;
    dtype_to_torch(t->dtype, &st);
    std::vector<int64_t> shape(t->shape, t->shape + t->rank);
    return torch::from_blob(t->data, shape, torch::TensorOptions().dtype(st));
}

/* Output i of forward's result 'r', per the model's output layout. */
at::Tensor pick_output(const torch_model *m, const c10::IValue &r, size_t i)
{
    switch (m->kind) {
    case out_kind::tensor:
        return r.toTensor();
    case out_kind::tuple:
        return r.toTupleRef().elements()[m->index[i]].toTensor();
    case out_kind::list:
        return r.toListRef()[m->index[i]].toTensor();
    case out_kind::dict:
        return r.toGenericDict().at(c10::IValue(m->key[i])).toTensor();
    }
    return r.toTensor();
}

/* Copy 't' into arena memory as output 'o'. */
int tensor_out(const at::Tensor &t0, const char *name, struct arena *a, struct serve_tensor *o,
               struct err *err)
{
    enum v2_dtype dt = dtype_from_torch(t0.scalar_type());
    if (dt == V2_INVALID)
        return err_set(err, ERR_INTERNAL, "output '%s' has type %s, which berth-serve cannot send",
                       name, c10::toString(t0.scalar_type()));
    if (t0.dim() > SERVE_MAX_RANK)
        return err_set(err, ERR_INTERNAL, "output '%s' has %lld dimensions, more than %d", name,
                       (long long)t0.dim(), SERVE_MAX_RANK);
    at::Tensor t = t0.contiguous();
    o->name = name;
    o->dtype = dt;
    o->rank = (size_t)t.dim();
    for (size_t d = 0; d < o->rank; d++)
        o->shape[d] = t.size((int64_t)d);
    o->nbytes = (size_t)t.numel() * t.element_size();
    o->data = arena_alloc(a, o->nbytes ? o->nbytes : 1);
    if (o->nbytes)
        memcpy(o->data, t.data_ptr(), o->nbytes);
    return 0;
}

/* Read the whole file to check what it is, without keeping it. */
int check_file(const char *path, struct err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, ERR_SYS(errno), "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size == 0) {
        close(fd);
        return err_set(err, ERR_INVALID, "'%s' is empty", path);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return err_set(err, ERR_SYS(errno), "cannot map '%s': %s", path, strerror(errno));
    const char *base = strrchr(path, '/');
    int rc = serve_torch_check(map, (size_t)st.st_size, base ? base + 1 : path, NULL, err);
    munmap(map, (size_t)st.st_size);
    return rc;
}

void info_set(struct serve_tensor_info *ti, const char *name, const at::Tensor &t, bool batched)
{
    ti->name = xstrdup(name);
    ti->dtype = dtype_from_torch(t.scalar_type());
    ti->rank = (size_t)t.dim();
    for (size_t d = 0; d < ti->rank && d < SERVE_MAX_RANK; d++)
        ti->shape[d] = d == 0 && batched ? -1 : t.size((int64_t)d);
}

/* Work out the output layout from the probe's result and fill sig->outputs. */
int outputs_from(torch_model *m, const c10::IValue &r, const struct serve_load_options *opt,
                 struct serve_signature *sig, bool batched, struct err *err)
{
    std::vector<std::string> names;
    std::vector<at::Tensor> ts;
    if (r.isTensor()) {
        m->kind = out_kind::tensor;
        names.push_back("output_0");
        ts.push_back(r.toTensor());
    } else if (r.isTuple() || r.isList()) {
        m->kind = r.isTuple() ? out_kind::tuple : out_kind::list;
        std::vector<c10::IValue> el;
        if (r.isTuple())
            el = r.toTupleRef().elements().vec();
        else
            for (const c10::IValue &v : r.toListRef())
                el.push_back(v);
        for (size_t i = 0; i < el.size(); i++) {
            if (!el[i].isTensor())
                return err_set(err, ERR_UNSUPPORTED,
                               "forward() returns a %s whose element %zu is a %s; berth-serve "
                               "takes tensors, tuples or lists of tensors and dicts of them",
                               r.isTuple() ? "tuple" : "list", i, el[i].tagKind().c_str());
            names.push_back("output_" + std::to_string(i));
            ts.push_back(el[i].toTensor());
            m->index.push_back(i);
        }
    } else if (r.isGenericDict()) {
        m->kind = out_kind::dict;
        for (const auto &kv : r.toGenericDict()) {
            if (!kv.key().isString() || !kv.value().isTensor())
                return err_set(err, ERR_UNSUPPORTED,
                               "forward() returns a dict that is not of strings to tensors");
            names.push_back(kv.key().toStringRef());
            ts.push_back(kv.value().toTensor());
            m->key.push_back(kv.key().toStringRef());
        }
    } else {
        return err_set(err, ERR_UNSUPPORTED,
                       "forward() returns a %s; berth-serve takes tensors, tuples or lists of "
                       "tensors and dicts of them",
                       r.tagKind().c_str());
    }
    if (ts.empty())
        return err_set(err, ERR_UNSUPPORTED, "forward() returns no tensors");
    /* Names from berth.json: by position for tensors, tuples and lists, and
     * for a dict the keys to serve, in that order. */
    std::vector<size_t> order;
    if (opt->noutputs) {
        if (m->kind != out_kind::dict && opt->noutputs != ts.size())
            return err_set(err, ERR_INVALID,
                           "berth.json names %zu outputs but forward() returns %zu tensors",
                           opt->noutputs, ts.size());
        for (size_t i = 0; i < opt->noutputs; i++) {
            if (m->kind != out_kind::dict) {
                order.push_back(i);
                names[i] = opt->output_names[i];
                continue;
            }
            size_t k = 0;
            while (k < names.size() && names[k] != opt->output_names[i])
                k++;
            if (k == names.size())
                return err_set(err, ERR_INVALID,
                               "berth.json names output '%s' but forward()'s dict has no such "
                               "key (it has '%s', ...)",
                               opt->output_names[i], names[0].c_str());
            order.push_back(k);
        }
    } else {
        for (size_t i = 0; i < ts.size(); i++)
            order.push_back(i);
    }
    std::vector<std::string> keys = m->key;
    std::vector<size_t> index = m->index;
    m->key.clear();
    m->index.clear();
    sig->noutputs = order.size();
    sig->outputs =
        static_cast<struct serve_tensor_info *>(xcalloc(order.size(), sizeof(*sig->outputs)));
    for (size_t i = 0; i < order.size(); i++) {
        size_t k = order[i];
        if (m->kind == out_kind::dict)
            m->key.push_back(keys[k]);
        else if (m->kind != out_kind::tensor)
            m->index.push_back(index[k]);
        if (dtype_from_torch(ts[k].scalar_type()) == V2_INVALID)
            return err_set(err, ERR_UNSUPPORTED,
                           "output '%s' has type %s, which berth-serve "
                           "cannot send",
                           names[k].c_str(), c10::toString(ts[k].scalar_type()));
        if (ts[k].dim() > SERVE_MAX_RANK)
            return err_set(err, ERR_UNSUPPORTED, "output '%s' has more than %d dimensions",
                           names[k].c_str(), SERVE_MAX_RANK);
        info_set(&sig->outputs[i], names[k].c_str(), ts[k], batched && ts[k].dim() > 0);
    }
    return 0;
}

/* The inputs of the load-time run: the example, or zeros of the declared shapes. */
int probe_inputs(const struct serve_load_options *opt, const struct serve_signature *sig,
                 std::vector<c10::IValue> &in, struct err *err)
{
    for (size_t i = 0; i < sig->ninputs; i++) {
        const struct serve_tensor_info *ti = &sig->inputs[i];
        c10::ScalarType st;
        if (!dtype_to_torch(ti->dtype, &st))
            return err_set(err, ERR_INVALID, "input '%s': datatype %s is not supported", ti->name,
                           v2_dtype_name(ti->dtype));
        if (opt->nexample && opt->example[i].data) {
            in.push_back(to_torch(&opt->example[i]).clone());
            continue;
        }
        std::vector<int64_t> shape;
        const int64_t *dims = opt->nexample ? opt->example[i].shape : ti->shape;
        for (size_t d = 0; d < ti->rank; d++)
            shape.push_back(dims[d] < 0 ? 1 : dims[d]);
        in.push_back(torch::zeros(shape, torch::TensorOptions().dtype(st)));
    }
    return 0;
}

/* The signature's inputs: declared, or the example's with its first size as -1. */
int inputs_from(const torch::jit::Module &mod, const struct serve_load_options *opt,
                struct serve_signature *sig, bool *batched, struct err *err)
{
    const c10::FunctionSchema &schema = mod.get_method("forward").function().getSchema();
    const std::vector<c10::Argument> &args = schema.arguments();
    size_t nargs = args.size() > 0 ? args.size() - 1 : 0, required = 0;
    for (size_t i = 1; i < args.size(); i++)
        if (!args[i].default_value())
            required++;
    size_t n = opt->ninputs ? opt->ninputs : opt->nexample;
    if (n == 0)
        return err_set(err, ERR_INVALID,
                       "berth.json must declare the model's \"inputs\" or give an \"example\" "
                       "(forward() takes %zu tensors: '%s', ...)",
                       nargs, nargs ? args[1].name().c_str() : "");
    if (n < required || n > nargs)
        return err_set(err, ERR_INVALID, "berth.json gives %zu inputs but forward() takes %s%zu", n,
                       required < nargs ? "at most " : "", nargs);
    if (opt->ninputs && opt->nexample && opt->nexample != opt->ninputs)
        return err_set(err, ERR_INVALID, "berth.json has %zu inputs but its example has %zu",
                       opt->ninputs, opt->nexample);
    sig->ninputs = n;
    sig->inputs = static_cast<struct serve_tensor_info *>(xcalloc(n, sizeof(*sig->inputs)));
    *batched = true;
    for (size_t i = 0; i < n; i++) {
        struct serve_tensor_info *ti = &sig->inputs[i];
        if (opt->ninputs) {
            *ti = opt->inputs[i];
            ti->name = xstrdup(opt->inputs[i].name);
        } else {
            const struct serve_tensor *ex = &opt->example[i];
            ti->name = xstrdup(ex->name ? ex->name : args[i + 1].name().c_str());
            ti->dtype = ex->dtype;
            ti->rank = ex->rank;
            memcpy(ti->shape, ex->shape, sizeof(ti->shape));
            if (ti->rank)
                ti->shape[0] = -1;
        }
        *batched &= ti->rank > 0 && ti->shape[0] == -1;
        if (opt->nexample) {
            const struct serve_tensor *ex = &opt->example[i];
            bool fits = ex->dtype == ti->dtype && ex->rank == ti->rank;
            for (size_t d = 0; fits && d < ti->rank; d++)
                fits = ti->shape[d] < 0 || ti->shape[d] == ex->shape[d];
            if (!fits)
                return err_set(err, ERR_INVALID,
                               "berth.json: example input %zu does not fit input '%s' (datatype "
                               "or shape)",
                               i, ti->name);
        }
    }
    return 0;
}

void torch_free(void *handle)
{
    delete static_cast<torch_model *>(handle);
}

int torch_load(const char *path, const struct serve_load_options *opt, struct serve_signature *sig,
               void **handle, struct err *err)
{
    int rc = check_file(path, err);
    if (rc)
        return rc;
    thread_init();
    torch_model *m = new torch_model;
    std::string how;
    try {
        c10::InferenceMode guard;
        m->module = torch::jit::load(path, torch::kCPU);
        m->module.eval();
        try {
            m->module = torch::jit::freeze(m->module);
            how = "frozen";
        } catch (const std::exception &e) {
            how = "not frozen: " + one_line(e);
        }
    } catch (const std::exception &e) {
        delete m;
        return err_set(err, ERR_INVALID, "libtorch cannot load '%s': %s", path,
                       one_line(e).c_str());
    }
    bool batched = false;
    std::vector<c10::IValue> in;
    if ((rc = inputs_from(m->module, opt, sig, &batched, err)) ||
        (rc = probe_inputs(opt, sig, in, err))) {
        delete m;
        return rc;
    }
    try {
        c10::InferenceMode guard;
        c10::IValue r = m->module.forward(in);
        rc = outputs_from(m, r, opt, sig, batched, err);
        /* A second run: the profiling executor optimizes after its first. */
        if (rc == 0)
            m->module.forward(in);
    } catch (const std::exception &e) {
        rc = err_set(err, ERR_INVALID, "forward() fails on the %s: %s",
                     opt->nexample ? "example in berth.json" : "declared inputs (zeros)",
                     one_line(e).c_str());
    }
    if (rc) {
        delete m;
        return rc;
    }
    m->ninputs = sig->ninputs;
    for (size_t i = 0; i < sig->noutputs; i++)
        m->names.push_back(sig->outputs[i].name);
    sig->objective = xstrdup("torchscript");
    sig->predictor = xasprintf("libtorch %s (%s), %zu inputs, %zu outputs", TORCH_VERSION,
                               how.c_str(), sig->ninputs, sig->noutputs);
    *handle = m;
    return 0;
}

int torch_infer(void *handle, const struct serve_tensor *in, struct arena *a,
                struct serve_tensor *out, struct err *err)
{
    torch_model *m = static_cast<torch_model *>(handle);
    thread_init();
    size_t i = 0;
    try {
        c10::InferenceMode guard;
        std::vector<c10::IValue> args;
        args.reserve(m->ninputs);
        for (size_t k = 0; k < m->ninputs; k++)
            args.push_back(to_torch(&in[k]));
        c10::IValue r = m->module.forward(std::move(args));
        for (; i < m->names.size(); i++) {
            int rc = tensor_out(pick_output(m, r, i), m->names[i].c_str(), a, &out[i], err);
            if (rc)
                return rc;
        }
    } catch (const std::exception &e) {
        if (i > 0 || m->names.empty())
            return err_set(err, ERR_INTERNAL, "output '%s': %s", m->names[i].c_str(),
                           one_line(e).c_str());
        return err_set(err, ERR_INVALID, "the model's forward() fails on these inputs: %s",
                       one_line(e).c_str());
    }
    return 0;
}

void torch_thread_done(void)
{
}

} // namespace

/* What berth-serve's torch_module.c looks up once it has opened this module. */
extern "C" {
extern const struct serve_backend serve_backend_torch_module;
const struct serve_backend serve_backend_torch_module = {
    "torchscript", "pytorch_torchscript", torch_load, nullptr, torch_infer,
    torch_free,    torch_thread_done,
};
}
