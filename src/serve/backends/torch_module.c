/* torch_module.c - the TorchScript backend as berth-serve sees it: a stand-in
 * that loads the real one, berth-serve-torch.so (torch.cc on libtorch), the
 * first time a TorchScript version loads.
 *
 * libtorch and what it needs come to about 290 shared libraries; linked in,
 * they cost every berth-serve half a second of dynamic linking before main(),
 * XGBoost models included. Loaded on demand they cost only the processes that
 * serve TorchScript. The module sits next to the binary (the build tree) or in
 * ../lib/berth/ from it (make install). Without it, a TorchScript version
 * fails to load and says why; nothing else changes. The module resolves the
 * few functions it uses (err_set, the allocators) from berth-serve, which
 * exports its symbols for that (-rdynamic). Unit tests and fuzz targets link
 * this file too, and never find a module. */
#include "serve/backend.h"

#include "base/exe.h"
#include "base/log.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TORCH_MODULE "berth-serve-torch.so"
#define TORCH_SYMBOL "serve_backend_torch_module"

static pthread_once_t module_once = PTHREAD_ONCE_INIT;
static const struct serve_backend *module; /* set once, read with __atomic */
static struct err module_error;            /* why it is not there */

static void load_module(void)
{
    char *paths[2] = {exe_beside(TORCH_MODULE), exe_beside("../lib/berth/" TORCH_MODULE)};
    if (!paths[0] ||
        !paths[1]) /* no /proc: a bare name would send dlopen() down the library path */
        err_set(&module_error, ERR_UNSUPPORTED,
                "the TorchScript backend is looked for beside berth-serve, whose directory "
                "/proc/self/exe does not give");
    else
        err_set(&module_error, ERR_UNSUPPORTED,
                "this berth-serve has no TorchScript backend (%s, next to it or in ../lib/berth/; "
                "build with libtorch-dev installed, make TORCH=1)",
                TORCH_MODULE);
    for (int i = 0; i < 2 && paths[0] && paths[1]; i++) {
        if (access(paths[i], F_OK) != 0)
            continue;
        /* Never closed: libtorch keeps threads and static state. */
        void *h = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        const struct serve_backend *b = h ? dlsym(h, TORCH_SYMBOL) : NULL;
        if (!b) {
            err_set(&module_error, ERR_UNSUPPORTED, "the TorchScript backend %s does not load: %s",
                    paths[i], dlerror());
            log_error("serve", "%s", module_error.msg);
        } else {
            log_info("serve", "TorchScript backend loaded from %s", paths[i]);
            __atomic_store_n(&module, b, __ATOMIC_RELEASE);
        }
        break;
    }
    free(paths[0]);
    free(paths[1]);
}

static const struct serve_backend *loaded(void)
{
    return __atomic_load_n(&module, __ATOMIC_ACQUIRE);
}

static int module_load(const char *path, const struct serve_load_options *opt,
                       struct serve_signature *sig, void **handle, struct err *err)
{
    pthread_once(&module_once, load_module);
    const struct serve_backend *b = loaded();
    if (!b)
        return err_set(err, module_error.code, "cannot load the TorchScript model '%s': %s", path,
                       module_error.msg);
    return b->load(path, opt, sig, handle, err);
}

/* A handle exists only once the module has loaded. */
static int module_infer(void *handle, const struct serve_tensor *in, struct arena *a,
                        struct serve_tensor *out, struct err *err)
{
    return loaded()->infer(handle, in, a, out, err);
}

static void module_free(void *handle)
{
    if (handle)
        loaded()->free(handle);
}

static void module_thread_done(void)
{
    const struct serve_backend *b = loaded();
    if (b)
        b->thread_done();
}

const struct serve_backend serve_backend_torch = {
    .name = "torchscript",
    .platform = "pytorch_torchscript",
    .load = module_load,
    .infer = module_infer,
    .free = module_free,
    .thread_done = module_thread_done,
};
