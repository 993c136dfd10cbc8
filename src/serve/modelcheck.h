/* modelcheck.h - structural checks of model files before a library parses
 * them: XGBoost's (below) and PyTorch's (serve_torch_check, at the end).
 * XGBoost's check: the library parses it. XGBoost reads JSON and UBJSON with recursive descent and
 * reads UBJSON lengths without bounds checks, so a deeply nested file
 * overflows the loading thread's stack and a short one reads past its end.
 * This check walks the file without recursion and refuses both. Pure: no I/O,
 * no allocation, safe on any bytes. */
#ifndef BERTH_SERVE_MODELCHECK_H
#define BERTH_SERVE_MODELCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Arrays and objects may nest this deep. XGBoost's schema fixes a model's
 * depth whatever its size, since trees are stored as flat arrays: 5 levels
 * for gblinear, 7 for gbtree, 8 for dart (measured with XGBoost 1.7; the
 * saved config nests 5 to 7). 64 is 8 times that, and at a few hundred bytes
 * per level a recursive parser then needs a few dozen KiB of stack at most. */
#define SERVE_MODEL_MAX_DEPTH 64
/* The largest model file berth-serve reads. */
#define SERVE_MODEL_MAX_BYTES ((uint64_t)4 << 30)

enum serve_model_format {
    SERVE_MODEL_BINARY, /* XGBoost's legacy binary format: flat but for one JSON attribute */
    SERVE_MODEL_JSON,
    SERVE_MODEL_UBJSON,
};

struct serve_model_limits {
    size_t max_depth;   /* arrays and objects nested deeper are refused */
    uint64_t max_bytes; /* larger files are refused */
};

/* The format XGBoost will read 'data' as: it dispatches on the first byte
 * '{' and then on the first byte after it that is not a space ('"': JSON,
 * a letter: UBJSON); anything else is the binary format. */
enum serve_model_format serve_model_format_of(const void *data, size_t len);
const char *serve_model_format_name(enum serve_model_format f);

/* Check the 'len' bytes at 'data' against 'lim' (NULL: the defaults above).
 * 0 when the file is within the limits and, for UBJSON, every length it
 * declares fits in the file; else ERR_TOOBIG (size or depth) or ERR_INVALID
 * (malformed or truncated), with 'err' naming the limit or the byte offset.
 * A JSON file is only lexed (strings, brackets); the library checks the rest.
 * A binary file is checked for the one string the library parses as JSON,
 * the "objective" attribute, and refused only for its depth.
 * 'fmt', when not NULL, receives the format. */
int serve_model_check(const void *data, size_t len, const struct serve_model_limits *lim,
                      enum serve_model_format *fmt, struct err *err);

/* What a PyTorch file is, from its zip directory alone (no unpickling). */
enum serve_torch_kind {
    SERVE_TORCH_SCRIPT,  /* torch.jit.save: a zip with <name>/code/ and <name>/constants.pkl */
    SERVE_TORCH_EAGER,   /* torch.save (a module or a state dict): data.pkl without code */
    SERVE_TORCH_LEGACY,  /* torch.save before zip files: a bare pickle */
    SERVE_TORCH_UNKNOWN, /* not a zip archive PyTorch writes */
};

/* Read the central directory of the zip archive at 'data' ('len' bytes,
 * zip64 included) and say what kind of PyTorch file it is. 0 for
 * SERVE_TORCH_SCRIPT; otherwise ERR_INVALID with 'err' saying what the file
 * is and, for eager files, to script or trace the model. 'name' names the
 * file in messages. 'kind', when not NULL, receives the kind. Pure. */
int serve_torch_check(const void *data, size_t len, const char *name, enum serve_torch_kind *kind,
                      struct err *err);

#endif
