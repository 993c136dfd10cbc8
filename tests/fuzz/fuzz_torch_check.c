/* fuzz_torch_check.c - what a PyTorch file is, from its zip directory
 * (serve_torch_check in serve/modelcheck.c). Input: the bytes of a .pt file.
 * The check must stay inside the bytes, answer 0 exactly for TorchScript and
 * otherwise ERR_INVALID with a message naming the file, and the same input
 * must get the same answer. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "serve/modelcheck.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err err;
    memset(&err, 0, sizeof(err));
    enum serve_torch_kind kind = SERVE_TORCH_UNKNOWN, again = SERVE_TORCH_UNKNOWN;
    int rc = serve_torch_check(data, size, "f.pt", &kind, &err);
    FUZZ_CHECK(rc == 0 || rc == ERR_INVALID);
    FUZZ_CHECK((rc == 0) == (kind == SERVE_TORCH_SCRIPT));
    FUZZ_CHECK(rc == 0 || (err.code == rc && strstr(err.msg, "'f.pt'") != NULL));
    FUZZ_CHECK(kind != SERVE_TORCH_EAGER || strstr(err.msg, "torch.jit.script") != NULL);
    FUZZ_CHECK(serve_torch_check(data, size, "f.pt", &again, NULL) == rc && again == kind);
    return 0;
}
