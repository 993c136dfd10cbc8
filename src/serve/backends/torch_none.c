/* torch_none.c - the TorchScript backend of a berth-serve built without
 * libtorch (make TORCH=0): every TorchScript version fails to load, saying
 * why. Unit tests and fuzz targets link this one too: they do not need
 * libtorch, which only berth-serve links. */
#include "serve/backend.h"

static int none_load(const char *path, const struct serve_load_options *opt,
                     struct serve_signature *sig, void **handle, struct err *err)
{
    (void)opt;
    (void)sig;
    (void)handle;
    return err_set(err, ERR_UNSUPPORTED,
                   "cannot load the TorchScript model '%s': this berth-serve was built without "
                   "libtorch (make TORCH=0); build it with libtorch-dev installed (TORCH=1)",
                   path);
}

static void none_free(void *handle)
{
    (void)handle;
}

static void none_thread_done(void)
{
}

const struct serve_backend serve_backend_torch = {
    .name = "torchscript",
    .platform = "pytorch_torchscript",
    .load = none_load,
    .free = none_free,
    .thread_done = none_thread_done,
};
