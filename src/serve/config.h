/* config.h - the model list berth-serve serves: TF Serving's model config
 * (text format or JSON) or the single model of --model_name/--model_base_path.
 * Pure parsing; errors name 'file:line' and the reason. */
#ifndef BERTH_SERVE_CONFIG_H
#define BERTH_SERVE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

enum serve_policy { SERVE_POLICY_LATEST, SERVE_POLICY_ALL, SERVE_POLICY_SPECIFIC };

struct serve_label {
    char *name;
    int64_t version;
};

struct serve_model_config {
    char *name;
    char *base_path;
    char *platform; /* model_platform: "xgboost", "pytorch"; NULL: from each version's files */
    enum serve_policy policy;
    int64_t latest_n;  /* SERVE_POLICY_LATEST */
    int64_t *versions; /* SERVE_POLICY_SPECIFIC */
    size_t nversions;
    struct serve_label *labels;
    size_t nlabels;
};

struct serve_config {
    struct serve_model_config *models;
    size_t nmodels;
};

/* Parse a config file's contents; 'file' names it in error messages.
 * JSON if the first non-blank byte is '{' and parses as JSON, else text format. */
int serve_config_parse(const char *file, const char *data, size_t len, struct serve_config *out,
                       struct err *err);
int serve_config_load(const char *path, struct serve_config *out, struct err *err);
/* Add one model (latest 1, no labels). */
void serve_config_add(struct serve_config *c, const char *name, const char *base_path);
void serve_config_release(struct serve_config *c);
/* Free what one model entry owns (not the entry itself). */
void serve_model_config_release(struct serve_model_config *m);

#endif
