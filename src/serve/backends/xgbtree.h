/* xgbtree.h - a native evaluator for XGBoost tree ensembles.
 * Compiled once from the JSON the library itself writes for a loaded model
 * (XGBoosterSaveModelToBuffer with {"format":"json"}), so every format the
 * library reads reaches it; predicts without the library, without allocating
 * and without locks, so any number of threads may share one model.
 * It covers gbtree with numerical splits, missing values by default_left,
 * base_score, num_parallel_tree, multi-class and multi-output models, and the
 * objectives listed in xgbtree.c; anything else is refused at compile time
 * with the reason, and the caller keeps predicting with the library. */
#ifndef BERTH_SERVE_XGBTREE_H
#define BERTH_SERVE_XGBTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct xgbt_model;

/* Compile the model in 'json' (the library's JSON model document, 'len'
 * bytes). 'iteration_end' limits prediction to the first iterations (boosting
 * rounds) as the library's config field of that name does; 0 uses them all.
 * Returns ERR_UNSUPPORTED with the reason for a model it does not evaluate
 * (dart, gblinear, categorical splits, an unknown objective), ERR_INVALID
 * for a document that is not a valid model. */
int xgbt_compile(const char *json, size_t len, size_t iteration_end, struct xgbt_model **out,
                 struct err *err);

size_t xgbt_num_features(const struct xgbt_model *m);
/* Values per row: of the margins ('margin'), or of what the library's
 * predict (type 0) returns: 1, num_class for softprob, num_target. */
size_t xgbt_width(const struct xgbt_model *m, bool margin);

/* Predict 'nrows' rows of xgbt_num_features() floats (NaN = missing) into
 * 'out', nrows * xgbt_width(m, margin) floats: the raw margins when 'margin',
 * else what the library's predict returns for the model's objective. Margins
 * are bit-identical to the library's (XGBoost 1.7); so are type-0 outputs
 * where this libm is the library's (see xgbtree.c). Any number of threads may
 * predict with one model at once; a call uses about 33 KiB of stack and no
 * heap. The walk (AVX-512, AVX2 or portable) is chosen by xgbt_compile() for
 * the CPU; BERTH_XGBT_NO_SIMD=1 in the environment then picks the portable
 * one, =2 AVX2 at most (for tests and comparisons). */
void xgbt_predict(const struct xgbt_model *m, bool margin, const float *rows, size_t nrows,
                  float *out);

/* One line for the load log: trees, depth, features, outputs, objective,
 * layout and walk; e.g. "50 trees of depth <= 6 (5684 nodes), 8 features (8
 * used), 1 output, binary:logistic (sigmoid), complete-tree layout, AVX-512,
 * prepared rows". */
void xgbt_describe(const struct xgbt_model *m, char *out, size_t n);

void xgbt_free(struct xgbt_model *m);

#endif
