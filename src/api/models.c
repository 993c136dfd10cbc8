/* models.c - the model repository actions: CreateTrainingModel,
 * DescribeTrainingModels, DescribeTrainingModelVersions,
 * DescribeTrainingModelVersion, DeleteTrainingModel, DeleteTrainingModelVersion
 * (../shared/reference/tione-api.md §3.21-3.26, §4.6). A local import names an
 * absolute source directory in TrainingModelCosPath.Paths[0] with Bucket and
 * Region empty; the files are copied (or moved, ModelMoveMode CUT) into the
 * data directory by the import thread. */
#include "api/api.h"
#include "api/authz.h"
#include "api/container.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "control/imports.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

static const char *const model_formats[] = {"XGBOOST",
                                            "PYTORCH",
                                            "TORCH_SCRIPT",
                                            "DETECTRON2",
                                            "SAVED_MODEL",
                                            "FROZEN_GRAPH",
                                            "PMML",
                                            "MMDETECTION",
                                            "ONNX",
                                            "HUGGING_FACE_BERT",
                                            "HUGGING_FACE_STABLE_DIFFUSION",
                                            "HUGGING_FACE_STABLE_DIFFUSION_LORA",
                                            "WEB_UI_STABLE_DIFFUSION",
                                            NULL};
static const char *const frameworks[] = {"XGBOOST", "PYTORCH",     "TENSORFLOW", "DETECTRON2",
                                         "PMML",    "MMDETECTION", "ONNX",       NULL};

/* Fields of CreateTrainingModel echoed back in TrainingModelVersionDTO as given. */
static const char *const echoed[] = {"TrainingJobName",
                                     "AlgorithmFramework",
                                     "ReasoningEnvironment",
                                     "TrainingModelIndex",
                                     "ReasoningImageInfo",
                                     "TrainingJobId",
                                     "TrainingModelSource",
                                     "TrainingPreference",
                                     "AutoMLTaskId",
                                     "TrainingJobVersion",
                                     "ReasoningEnvironmentId",
                                     "ReasoningEnvironmentSource",
                                     "AutoClean",
                                     "MaxReservedModels",
                                     "ModelCleanPeriod",
                                     "IsQAT",
                                     NULL};

static const struct api_field create_fields[] = {
    {"ImportMethod", API_FIELD_USED},
    {"ReasoningEnvironmentSource", API_FIELD_USED},
    {"TrainingModelName", API_FIELD_USED},
    {"Tags", API_FIELD_USED},
    {"TrainingJobName", API_FIELD_USED},
    {"TrainingModelCosPath", API_FIELD_USED},
    {"AlgorithmFramework", API_FIELD_USED},
    {"ReasoningEnvironment", API_FIELD_USED},
    {"TrainingModelIndex", API_FIELD_USED},
    {"TrainingModelVersion", API_FIELD_USED},
    {"ReasoningImageInfo", API_FIELD_USED},
    {"ModelMoveMode", API_FIELD_USED},
    {"TrainingJobId", API_FIELD_USED},
    {"TrainingModelId", API_FIELD_USED},
    {"ModelOutputPath", API_FIELD_IGNORED}, /* the data directory decides where files go */
    {"TrainingModelSource", API_FIELD_USED},
    {"TrainingPreference", API_FIELD_USED},
    {"AutoMLTaskId", API_FIELD_USED},
    {"TrainingJobVersion", API_FIELD_USED},
    {"ModelVersionType", API_FIELD_USED},
    {"ModelFormat", API_FIELD_USED},
    {"ReasoningEnvironmentId", API_FIELD_USED},
    {"AutoClean", API_FIELD_USED},
    {"MaxReservedModels", API_FIELD_USED},
    {"ModelCleanPeriod", API_FIELD_USED},
    {"IsQAT", API_FIELD_USED},
    {NULL, API_FIELD_USED},
};

/* At most 60 characters: letters (any non-ASCII letter too), digits, '_' and
 * '-', starting with a letter or digit. */
static bool valid_name(const char *s)
{
    size_t chars = 0;
    if (!isalnum((unsigned char)s[0]) && (unsigned char)s[0] < 0x80)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) != 0x80)
            chars++;
        if (*p < 0x80 && !isalnum(*p) && *p != '_' && *p != '-')
            return false;
    }
    return chars <= 60;
}

static bool valid_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return false;
    return true;
}

/* A 19-digit id from the clock (ms) and randomness, like TI-ONE's. */
static unsigned long long new_number(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    unsigned long long ms =
        (unsigned long long)tv.tv_sec * 1000 + (unsigned long long)tv.tv_usec / 1000;
    uint32_t r;
    crypto_random(&r, sizeof(r));
    return (ms << 20 | (r & 0xFFFFF)) % 9000000000000000000ULL + 1000000000000000000ULL;
}

/* TrainingModelCosPath, local form: {"Bucket": "", "Region": "", "Paths": ["/abs/dir"]},
 * a directory inside one of the import roots (control/imports.h has the rules). */
static int source_path(struct api_call *c, const char **out)
{
    const json_t *cos = json_object_get(c->params, "TrainingModelCosPath");
    if (!api_present(cos))
        return api_fail(c, "MissingParameter",
                        "TrainingModelCosPath is required: {\"Bucket\": \"\", \"Region\": \"\", "
                        "\"Paths\": [\"/absolute/model/dir\"]}");
    if (!json_is_object(cos))
        return api_fail(c, "InvalidParameter", "TrainingModelCosPath must be an object");
    static const struct api_field cos_fields[] = {{"Bucket", API_FIELD_UNSUPPORTED},
                                                  {"Region", API_FIELD_UNSUPPORTED},
                                                  {"Paths", API_FIELD_USED},
                                                  {NULL, API_FIELD_USED}};
    if (api_check_fields(c, cos, "TrainingModelCosPath", cos_fields)) {
        size_t n = strlen(c->error_message);
        if (strcmp(c->error_code, "UnsupportedOperation") == 0)
            snprintf(c->error_message + n, sizeof(c->error_message) - n,
                     ": COS buckets are not supported; leave Bucket and Region empty and give a "
                     "local directory in Paths");
        return -1;
    }
    const json_t *paths = json_object_get(cos, "Paths");
    if (!json_is_array(paths) || json_array_size(paths) != 1 ||
        !json_is_string(json_array_get(paths, 0)))
        return api_fail(c, "InvalidParameterValue",
                        "TrainingModelCosPath.Paths must hold exactly one directory");
    const char *p = json_string_value(json_array_get(paths, 0));
    struct err err = {0};
    int rc = imports_check_source(c->cfg->imports, p, &err);
    if (rc)
        return api_fail(c, rc == ERR_UNSUPPORTED ? "UnsupportedOperation" : "InvalidParameterValue",
                        "TrainingModelCosPath.Paths[0]: %s", err.msg);
    *out = p;
    return 0;
}

/* ModelOutputPath is cloud-only (the data directory decides where files go)
 * and ignored, but it must still be a CosPathInfo. */
static int check_output_path(struct api_call *c)
{
    static const struct api_field fields[] = {{"Bucket", API_FIELD_IGNORED},
                                              {"Region", API_FIELD_IGNORED},
                                              {"Paths", API_FIELD_IGNORED},
                                              {NULL, API_FIELD_USED}};
    const json_t *out = json_object_get(c->params, "ModelOutputPath");
    if (!api_present(out))
        return 0;
    if (!json_is_object(out))
        return api_fail(c, "InvalidParameter",
                        "ModelOutputPath must be an object {Bucket, Region, Paths}");
    return api_check_fields(c, out, "ModelOutputPath", fields);
}

/* The next automatic label of a model: v<N+1>, N the highest vN label or
 * the number of versions, whichever is larger (labels freed by deletes are
 * not reused). */
#define MAX_LABEL_TRIES 32
static int next_label(struct api_call *c, const struct store_model *model, bool new_model,
                      char out[32], struct err *err)
{
    struct store_model_version *vs = NULL;
    size_t n = 0;
    int rc =
        new_model ? 0 : store_model_version_list(c->cfg->store, c->region, model->id, &vs, &n, err);
    if (rc)
        return rc;
    unsigned long top = n;
    for (size_t i = 0; i < n; i++) {
        const char *l = vs[i].version;
        size_t digits = strspn(l + 1, "0123456789");
        if (l[0] == 'v' && digits > 0 && digits < 10 && l[1 + digits] == '\0') {
            unsigned long k = strtoul(l + 1, NULL, 10);
            if (k > top)
                top = k;
        }
        store_model_version_release(&vs[i]);
    }
    free(vs);
    snprintf(out, 32, "v%lu", top + 1);
    return 0;
}

/* Which ModelFormat each AlgorithmFramework produces; a pair outside this
 * table contradicts itself. */
static const struct {
    const char *framework;
    const char *const formats[10];
} framework_formats[] = {
    {"XGBOOST", {"XGBOOST", "ONNX", "PMML", NULL}},
    {"PYTORCH",
     {"PYTORCH", "TORCH_SCRIPT", "DETECTRON2", "MMDETECTION", "ONNX", "HUGGING_FACE_BERT",
      "HUGGING_FACE_STABLE_DIFFUSION", "HUGGING_FACE_STABLE_DIFFUSION_LORA",
      "WEB_UI_STABLE_DIFFUSION", NULL}},
    {"TENSORFLOW", {"SAVED_MODEL", "FROZEN_GRAPH", "ONNX", "HUGGING_FACE_BERT", NULL}},
    {"DETECTRON2", {"DETECTRON2", "TORCH_SCRIPT", "ONNX", NULL}},
    {"PMML", {"PMML", NULL}},
    {"MMDETECTION", {"MMDETECTION", "TORCH_SCRIPT", "ONNX", NULL}},
    {"ONNX", {"ONNX", NULL}},
};

static int check_framework(struct api_call *c, const char *framework, const char *format)
{
    for (size_t i = 0; i < sizeof(framework_formats) / sizeof(framework_formats[0]); i++) {
        if (strcasecmp(framework_formats[i].framework, framework) != 0)
            continue;
        const char *const *f = framework_formats[i].formats;
        if (api_in_list(f, format))
            return 0;
        char list[256] = "";
        for (size_t n = 0; *f && n < sizeof(list); f++)
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", *f);
        return api_fail(c, "InvalidParameterValue",
                        "AlgorithmFramework '%s' contradicts ModelFormat '%s': a %s model is "
                        "stored as one of %s",
                        framework, format, framework_formats[i].framework, list);
    }
    return 0;
}

/* The formats berth-serve serves, as ReasoningEnvironmentId 'berth-serve':
 * XGBoost models, and TorchScript files for PYTORCH and TORCH_SCRIPT (an
 * eager torch.save file fails the import: control/imports.c). */
static const char *const builtin_formats[] = {"XGBOOST", "PYTORCH", "TORCH_SCRIPT", NULL};

bool api_builtin_format(const char *format)
{
    for (const char *const *f = builtin_formats; *f; f++)
        if (strcasecmp(*f, format) == 0)
            return true;
    return false;
}

/* ReasoningEnvironmentSource and ReasoningImageInfo (an ImageInfo, §4.4).
 * SYSTEM runs the version with the built-in runtime; the console also sends
 * the preset image it chose, which is kept as given. A CUSTOM image is the
 * version's services' container image (with the container driver only). */
static int check_runtime(struct api_call *c, const char *env_source)
{
    static const char *const where = "ReasoningImageInfo";
    bool custom = strcmp(env_source, "CUSTOM") == 0;
    if (!custom && strcmp(env_source, "SYSTEM") != 0)
        return api_fail(c, "InvalidParameterValue",
                        "ReasoningEnvironmentSource must be SYSTEM or CUSTOM, got '%s'",
                        env_source);
    const json_t *info = json_object_get(c->params, where);
    struct api_image img;
    if (!api_present(info))
        return custom ? api_fail(c, "MissingParameter",
                                 "ReasoningImageInfo is required when ReasoningEnvironmentSource "
                                 "is CUSTOM")
                      : 0;
    if (api_check_image(c, info, where, &img))
        return -1;
    if (!img.url)
        return api_fail(c, "MissingParameter", "%s.ImageUrl is required", where);
    if (!custom && !img.preset)
        return api_fail(c, "InvalidParameterValue",
                        "ReasoningImageInfo.ImageType '%s' needs ReasoningEnvironmentSource "
                        "CUSTOM; with SYSTEM it can only be PRE_SET",
                        img.type);
    if (custom)
        return api_check_model_image(c, &img, where); /* its services run it (api/container.h) */
    return 0;
}

int api_create_training_model(struct api_call *c)
{
    const json_t *p = c->params;
    const char *method, *env_source, *name, *model_id, *label, *move, *format, *framework;
    const char *src = NULL, *auto_clean, *version_type, *index, *env_id;
    long long max_reserved = 24, clean_period = 1;
    bool qat = false;
    if (api_check_fields(c, p, NULL, create_fields) ||
        api_get_str(c, p, "ImportMethod", true, &method) ||
        api_get_str(c, p, "ReasoningEnvironmentSource", true, &env_source) ||
        api_get_str(c, p, "TrainingModelName", false, &name) ||
        api_get_str(c, p, "TrainingModelId", false, &model_id) ||
        api_get_str(c, p, "TrainingModelVersion", false, &label) ||
        api_get_str(c, p, "ModelMoveMode", false, &move) ||
        api_get_str(c, p, "ModelFormat", false, &format) ||
        api_get_str(c, p, "AlgorithmFramework", false, &framework) ||
        api_get_str(c, p, "AutoClean", false, &auto_clean) ||
        api_get_str(c, p, "ModelVersionType", false, &version_type) ||
        api_get_str(c, p, "TrainingModelIndex", false, &index) ||
        api_get_str(c, p, "ReasoningEnvironmentId", false, &env_id) ||
        api_get_int(c, p, "MaxReservedModels", false, 1, 24, &max_reserved) ||
        api_get_int(c, p, "ModelCleanPeriod", false, 1, 1440, &clean_period) ||
        api_get_bool(c, p, "IsQAT", &qat) || api_check_tags(c, json_object_get(p, "Tags")))
        return -1;
    for (const char *const *f = echoed; *f; f++) {
        const json_t *v = json_object_get(p, *f);
        if (v && !json_is_null(v) && !json_is_string(v) && strcmp(*f, "ReasoningImageInfo") &&
            strcmp(*f, "MaxReservedModels") && strcmp(*f, "ModelCleanPeriod") &&
            strcmp(*f, "IsQAT"))
            return api_fail(c, "InvalidParameter", "%s must be a string", *f);
    }
    bool new_model = strcmp(method, "MODEL") == 0;
    if (!new_model && strcmp(method, "VERSION") != 0)
        return strcmp(method, "EXIST") == 0
                   ? api_fail(c, "UnsupportedOperation",
                              "ImportMethod EXIST is not supported; use MODEL or VERSION")
                   : api_fail(c, "InvalidParameterValue",
                              "ImportMethod must be MODEL, VERSION or EXIST, got '%s'", method);
    if (check_runtime(c, env_source))
        return -1;
    if (!format)
        return api_fail(c, "MissingParameter", "ModelFormat is required (e.g. XGBOOST)");
    if (!api_in_list(model_formats, format))
        return api_fail(c, "InvalidParameterValue",
                        "ModelFormat '%s' is not one of XGBOOST, "
                        "PYTORCH, TORCH_SCRIPT, SAVED_MODEL, ONNX, ...",
                        format);
    if (framework && !api_in_list(frameworks, framework))
        return api_fail(c, "InvalidParameterValue",
                        "AlgorithmFramework '%s' is not one of XGBOOST, PYTORCH, TENSORFLOW, "
                        "DETECTRON2, PMML, MMDETECTION, ONNX",
                        framework);
    if (framework && check_framework(c, framework, format))
        return -1;
    if (move && strcmp(move, "COPY") != 0 && strcmp(move, "CUT") != 0)
        return api_fail(c, "InvalidParameterValue", "ModelMoveMode must be COPY or CUT, got '%s'",
                        move);
    if (version_type && strcmp(version_type, "NORMAL") != 0)
        return strcmp(version_type, "ACCELERATE") == 0
                   ? api_fail(c, "UnsupportedOperation",
                              "ModelVersionType ACCELERATE is not supported")
                   : api_fail(c, "InvalidParameterValue",
                              "ModelVersionType must be NORMAL or ACCELERATE, got '%s'",
                              version_type);
    bool clean = auto_clean && strcmp(auto_clean, "true") == 0;
    if (auto_clean && !clean && strcmp(auto_clean, "false") != 0)
        return api_fail(c, "InvalidParameterValue",
                        "AutoClean must be the string \"true\" or \"false\", got '%s'", auto_clean);
    /* Auto-clean prunes the numbered version directories of a hot-updated
     * service (control/hotupdate.h): TF Serving's SAVED_MODEL layout in
     * TI-ONE, berth-serve's formats here. */
    if (clean && !api_builtin_format(format) && strcasecmp(format, "SAVED_MODEL") != 0)
        return api_fail(c, "InvalidParameterValue",
                        "AutoClean \"true\" applies to models served from numbered version "
                        "directories (SAVED_MODEL, XGBOOST, PYTORCH, TORCH_SCRIPT), not %s",
                        format);
    if (index && strlen(index) > 1000)
        return api_fail(c, "InvalidParameterValue",
                        "TrainingModelIndex must be at most 1000 characters");
    if (strcmp(env_source, "SYSTEM") == 0 && env_id && api_builtin_format(format) &&
        strcmp(env_id, "berth-serve") != 0)
        return api_fail(c, "InvalidParameterValue",
                        "ReasoningEnvironmentId '%s' does not exist; the built-in runtime for "
                        "%s is 'berth-serve'",
                        env_id, format);
    if (source_path(c, &src) || check_output_path(c))
        return -1;

    struct store_model model = {0};
    struct err err = {0};
    char created[32], number[24], model_number[24];
    api_now(created);
    if (new_model) {
        if (!name)
            return api_fail(c, "MissingParameter",
                            "TrainingModelName is required for "
                            "ImportMethod MODEL");
        if (!valid_name(name))
            return api_fail(c, "InvalidParameterValue",
                            "TrainingModelName '%s' must be at most 60 characters of letters, "
                            "digits, '_' and '-', starting with a letter or digit",
                            name);
        if (model_id)
            return api_fail(c, "InvalidParameterValue",
                            "TrainingModelId is only for ImportMethod VERSION");
        snprintf(model_number, sizeof(model_number), "%llu", new_number());
        const json_t *given = json_object_get(p, "Tags");
        char *tags =
            json_is_array(given) ? json_dumps(given, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        model.id = xasprintf("m-%s", model_number);
        model.region = xstrdup(c->region);
        model.name = xstrdup(name);
        model.tags_json = tags ? tags : xstrdup("[]");
        model.created_at = xstrdup(created);
    } else {
        if (!model_id)
            return api_fail(c, "MissingParameter",
                            "TrainingModelId is required for ImportMethod VERSION");
        if (store_model_get(c->cfg->store, c->region, model_id, &model, &err) != 0)
            return api_fail_store(c, &err);
        if (name && strcmp(name, model.name) != 0) {
            api_fail(c, "InvalidParameterValue",
                     "TrainingModelName '%s' does not match model %s ('%s')", name, model_id,
                     model.name);
            store_model_release(&model);
            return -1;
        }
    }
    if (label && !valid_label(label)) {
        store_model_release(&model);
        return api_fail(c, "InvalidParameterValue",
                        "TrainingModelVersion '%s' must be 1-32 letters, digits, '.', '_' or '-'",
                        label);
    }

    json_t *attrs = json_object();
    for (const char *const *f = echoed; *f; f++) {
        json_t *v = json_object_get(p, *f);
        if (v && !json_is_null(v))
            json_object_set(attrs, *f, v);
    }
    /* The auto-clean policy as it applies: off, the limit and the period are
     * 0 (as TI-ONE answers); on, what was given or the defaults 24 and 1. */
    json_object_set_new(attrs, "AutoClean", json_string(clean ? "true" : "false"));
    json_object_set_new(attrs, "MaxReservedModels", json_integer(clean ? max_reserved : 0));
    json_object_set_new(attrs, "ModelCleanPeriod", json_integer(clean ? clean_period : 0));
    if (!env_id && strcmp(env_source, "SYSTEM") == 0 && api_builtin_format(format))
        json_object_set_new(attrs, "ReasoningEnvironmentId", json_string("berth-serve"));
    char *attrs_text = json_dumps(attrs, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(attrs);

    struct store_model_version v = {0};
    v.model_id = model.id;
    v.region = (char *)c->region;
    v.status = STORE_IMPORT_RUNNING;
    v.source_path = (char *)src;
    v.move_mode = (char *)(move ? move : "COPY");
    v.format = xstrdup(format);
    for (char *f = v.format; *f; f++)
        *f = (char)toupper((unsigned char)*f);
    v.attrs_json = attrs_text;
    v.created_at = created;
    /* Without a label the version gets the next vN. A parallel import may
     * take the same one first: the store's unique (model, label) refuses the
     * second insert, which then takes the next label. */
    char auto_label[32];
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        if (!label || label == auto_label) {
            rc = next_label(c, &model, new_model, auto_label, &err);
            if (rc)
                break;
            label = auto_label;
        }
        snprintf(number, sizeof(number), "%llu", new_number());
        v.version = (char *)label;
        v.id = xasprintf("mv-%s-%s", label, number);
        v.path = xasprintf("%s/models/%s/%s", c->cfg->data_dir, model.id, v.id);
        rc = store_model_version_create(c->cfg->store, &model, new_model, &v, &err);
        if (rc != ERR_EXISTS || label != auto_label || new_model || attempt == MAX_LABEL_TRIES)
            break;
        free(v.id);
        free(v.path);
        v.id = v.path = NULL;
    }
    if (rc == 0) {
        imports_queue(c->cfg->imports, v.id);
        json_object_set_new(c->out, "Id", json_string(model.id));
        json_object_set_new(c->out, "TrainingModelVersionId", json_string(v.id));
    } else {
        api_fail_store(c, &err);
    }
    free(v.id);
    free(v.path);
    free(v.format);
    free(attrs_text);
    store_model_release(&model);
    return rc ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* Describe                                                                 */

static json_t *version_dto(const struct store_model_version *v)
{
    json_t *attrs = json_loads(v->attrs_json, 0, NULL);
    if (!attrs)
        attrs = json_object();
    json_t *o = json_object();
    json_object_set_new(o, "TrainingModelId", json_string(v->model_id));
    json_object_set_new(o, "TrainingModelVersionId", json_string(v->id));
    json_object_set_new(o, "TrainingModelVersion", json_string(v->version));
    json_object_set_new(o, "TrainingModelName", json_string(v->model_name));
    json_object_set_new(o, "TrainingModelSource", json_string(""));
    json_object_set_new(o, "TrainingModelCreateTime", json_string(v->created_at));
    json_object_set_new(o, "TrainingModelCreator", json_string(""));
    json_object_set_new(o, "CreateTime", json_string(v->created_at));
    json_object_set_new(
        o, "TrainingModelCosPath",
        json_pack("{s:s, s:s, s:[s]}", "Bucket", "", "Region", "", "Paths", v->source_path));
    json_object_set_new(
        o, "ModelHotUpdatePath",
        json_pack("{s:s, s:s, s:[s]}", "Bucket", "", "Region", "", "Paths", v->path));
    json_object_set_new(o, "TrainingModelFormat", json_string(v->format));
    json_object_set_new(o, "TrainingModelStatus", json_string(store_import_status_name(v->status)));
    json_object_set_new(o, "TrainingModelProgress", json_integer(v->progress));
    json_object_set_new(o, "TrainingModelErrorMsg", json_string(v->error));
    json_object_set_new(o, "VersionType", json_string("NORMAL"));
    json_object_set_new(o, "GPUType", json_string(""));
    json_object_set_new(o, "AutoClean", json_string("false"));
    json_object_set_new(o, "MaxReservedModels", json_integer(0));
    json_object_set_new(o, "ModelCleanPeriod", json_integer(0));
    json_object_set_new(o, "IsQAT", json_false());
    /* What the import named, as given (AlgorithmFramework, ReasoningEnvironment, ...). */
    json_object_update(o, attrs);
    json_decref(attrs);
    return o;
}

static const char *dto_field(const json_t *dto, const char *name)
{
    const json_t *v = json_object_get(dto, name);
    return json_is_string(v) ? json_string_value(v) : "";
}

static bool version_matches(const json_t *dto, const struct api_filter *fs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *field = strcmp(fs[i].name, "ModelFormat") == 0        ? "TrainingModelFormat"
                            : strcmp(fs[i].name, "ModelVersionType") == 0 ? "VersionType"
                                                                          : fs[i].name;
        if (!api_filter_match(&fs[i], dto_field(dto, field)))
            return false;
    }
    return true;
}

int api_describe_training_model_versions(struct api_call *c)
{
    static const struct api_field fields[] = {
        {"TrainingModelId", API_FIELD_USED}, {"Filters", API_FIELD_USED}, {NULL, API_FIELD_USED}};
    static const char *const allowed[] = {"TrainingModelVersionId", "ModelVersionType",
                                          "ModelFormat", "AlgorithmFramework", NULL};
    const char *model_id;
    struct api_filter fs[10];
    size_t nf;
    if (api_check_fields(c, c->params, NULL, fields) ||
        api_get_str(c, c->params, "TrainingModelId", true, &model_id) ||
        api_read_filters(c, allowed, fs, &nf))
        return -1;
    struct store_model m;
    struct err err = {0};
    if (store_model_get(c->cfg->store, c->region, model_id, &m, &err) != 0)
        return api_fail_store(c, &err);
    store_model_release(&m);
    struct store_model_version *vs;
    size_t n;
    if (store_model_version_list(c->cfg->store, c->region, model_id, &vs, &n, &err) != 0)
        return api_fail_store(c, &err);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *dto = version_dto(&vs[i]);
        if (version_matches(dto, fs, nf))
            json_array_append(list, dto);
        json_decref(dto);
        store_model_version_release(&vs[i]);
    }
    free(vs);
    json_object_set_new(c->out, "TrainingModelVersions", list);
    return 0;
}

int api_describe_training_model_version(struct api_call *c)
{
    static const struct api_field fields[] = {{"TrainingModelVersionId", API_FIELD_USED},
                                              {NULL, API_FIELD_USED}};
    const char *id;
    if (api_check_fields(c, c->params, NULL, fields) ||
        api_get_str(c, c->params, "TrainingModelVersionId", true, &id))
        return -1;
    struct store_model_version v;
    struct err err = {0};
    if (store_model_version_get(c->cfg->store, c->region, id, &v, &err) != 0)
        return api_fail_store(c, &err);
    json_object_set_new(c->out, "TrainingModelVersion", version_dto(&v));
    store_model_version_release(&v);
    return 0;
}

int api_describe_training_models(struct api_call *c)
{
    static const struct api_field fields[] = {{"Filters", API_FIELD_USED},
                                              {"OrderField", API_FIELD_USED},
                                              {"Order", API_FIELD_USED},
                                              {"Offset", API_FIELD_USED},
                                              {"Limit", API_FIELD_USED},
                                              {"TagFilters", API_FIELD_USED},
                                              {"WithModelVersions", API_FIELD_USED},
                                              {NULL, API_FIELD_USED}};
    static const char *const allowed[] = {"keyword",          "TrainingModelId",
                                          "ModelVersionType", "TrainingModelSource",
                                          "ModelFormat",      NULL};
    const char *order_field, *order;
    long long offset = 0, limit = 20;
    bool with_versions = false;
    struct api_filter fs[10];
    size_t nf;
    const json_t *tag_filters = json_object_get(c->params, "TagFilters");
    if (api_check_fields(c, c->params, NULL, fields) ||
        api_get_str(c, c->params, "OrderField", false, &order_field) ||
        api_get_str(c, c->params, "Order", false, &order) ||
        api_get_int(c, c->params, "Offset", false, 0, 1LL << 40, &offset) ||
        api_get_int(c, c->params, "Limit", false, 1, 1000, &limit) ||
        api_get_bool(c, c->params, "WithModelVersions", &with_versions) ||
        api_read_filters(c, allowed, fs, &nf) || api_check_tag_filters(c, tag_filters))
        return -1;
    if (order_field && strcmp(order_field, "CreateTime") != 0)
        return api_fail(c, "InvalidParameterValue", "OrderField must be CreateTime");
    if (order && strcmp(order, "ASC") != 0 && strcmp(order, "DESC") != 0)
        return api_fail(c, "InvalidParameterValue", "Order must be ASC or DESC, got '%s'", order);
    bool desc = !order || strcmp(order, "DESC") == 0;

    struct store_model *ms;
    size_t n;
    struct err err = {0};
    if (store_model_list(c->cfg->store, c->region, &ms, &n, &err) != 0)
        return api_fail_store(c, &err);
    json_t *list = json_array();
    size_t total = 0;
    for (size_t k = 0; k < n; k++) {
        struct store_model *m = &ms[desc ? n - 1 - k : k];
        bool ok = api_authz_visible(c, "model", m->id, m->tags_json) &&
                  (!tag_filters || json_is_null(tag_filters) ||
                   api_tags_match(m->tags_json, tag_filters));
        json_t *versions = json_array();
        struct store_model_version *vs = NULL;
        size_t nv = 0;
        if (ok && store_model_version_list(c->cfg->store, c->region, m->id, &vs, &nv, &err) != 0)
            ok = false;
        for (size_t i = 0; i < nf && ok; i++) {
            if (strcmp(fs[i].name, "keyword") == 0) {
                ok = api_filter_match(&fs[i], m->name);
            } else if (strcmp(fs[i].name, "TrainingModelId") == 0) {
                ok = api_filter_match(&fs[i], m->id);
            } else { /* version attributes: the model matches if one version does */
                bool any = false;
                for (size_t j = 0; j < nv && !any; j++) {
                    json_t *dto = version_dto(&vs[j]);
                    any = version_matches(dto, &fs[i], 1);
                    json_decref(dto);
                }
                ok = any;
            }
        }
        for (size_t j = 0; j < nv; j++) {
            if (ok && with_versions)
                json_array_append_new(versions, version_dto(&vs[j]));
            store_model_version_release(&vs[j]);
        }
        free(vs);
        if (ok && total >= (size_t)offset && json_array_size(list) < (size_t)limit) {
            json_t *tags = json_loads(m->tags_json, 0, NULL);
            json_t *o =
                json_pack("{s:s, s:s, s:o, s:s}", "TrainingModelId", m->id, "TrainingModelName",
                          m->name, "Tags", tags ? tags : json_array(), "CreateTime", m->created_at);
            json_object_set(o, "TrainingModelVersions", versions);
            json_array_append_new(list, o);
        }
        total += ok;
        json_decref(versions);
    }
    for (size_t k = 0; k < n; k++)
        store_model_release(&ms[k]);
    free(ms);
    json_object_set_new(c->out, "TrainingModels", list);
    json_object_set_new(c->out, "TotalCount", json_integer((json_int_t)total));
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Delete                                                                   */

/* Refuse to delete a version that a service runs. */
static int check_unused(struct api_call *c, const char *version_id)
{
    int users = 0;
    struct err err = {0};
    if (store_model_version_users(c->cfg->store, version_id, &users, &err) != 0)
        return api_fail_store(c, &err);
    if (users)
        return api_fail(c, "UnsupportedOperation",
                        "model version %s is used by %d service%s; delete those first", version_id,
                        users, users == 1 ? "" : "s");
    return 0;
}

/* A CUT import moves the user's files: deleting its version midway would
 * delete them, so it waits until the import has finished. */
static int check_not_moving(struct api_call *c, const struct store_model_version *v)
{
    if (v->status == STORE_IMPORT_RUNNING && strcmp(v->move_mode, "CUT") == 0)
        return api_fail(c, "ResourceInUse",
                        "model version %s is being imported with ModelMoveMode CUT; delete it "
                        "once TrainingModelStatus is STATUS_SUCCESS or STATUS_FAILED",
                        v->id);
    return 0;
}

static void remove_files(struct api_call *c, const char *path)
{
    struct err err = {0};
    if (imports_remove_tree(path, &err) != 0)
        api_fail(c, "InternalError", "the version is deleted but its files were not: %s", err.msg);
}

int api_delete_training_model_version(struct api_call *c)
{
    static const struct api_field fields[] = {{"TrainingModelVersionId", API_FIELD_USED},
                                              {"EnableDeleteCos", API_FIELD_IGNORED},
                                              {NULL, API_FIELD_USED}};
    const char *id;
    if (api_check_fields(c, c->params, NULL, fields) ||
        api_get_str(c, c->params, "TrainingModelVersionId", true, &id))
        return -1;
    struct store_model_version v = {0};
    struct err err = {0};
    if (store_model_version_get(c->cfg->store, c->region, id, &v, &err) != 0)
        return api_fail_store(c, &err);
    if (check_not_moving(c, &v) || check_unused(c, id) ||
        store_model_version_delete(c->cfg->store, c->region, id, &err) != 0) {
        store_model_version_release(&v);
        return c->error_code[0] ? -1 : api_fail_store(c, &err);
    }
    remove_files(c, v.path);
    store_model_version_release(&v);
    return c->error_code[0] ? -1 : 0;
}

int api_delete_training_model(struct api_call *c)
{
    static const struct api_field fields[] = {{"TrainingModelId", API_FIELD_USED},
                                              {"EnableDeleteCos", API_FIELD_IGNORED},
                                              {"ModelVersionType", API_FIELD_USED},
                                              {NULL, API_FIELD_USED}};
    const char *id, *type;
    if (api_check_fields(c, c->params, NULL, fields) ||
        api_get_str(c, c->params, "TrainingModelId", true, &id) ||
        api_get_str(c, c->params, "ModelVersionType", false, &type))
        return -1;
    if (type && strcmp(type, "NORMAL") != 0 && strcmp(type, "ACCELERATE") != 0)
        return api_fail(c, "InvalidParameterValue",
                        "ModelVersionType must be NORMAL or ACCELERATE, got '%s'", type);
    struct store_model m;
    struct err err = {0};
    if (store_model_get(c->cfg->store, c->region, id, &m, &err) != 0)
        return api_fail_store(c, &err);
    store_model_release(&m);
    if (type && strcmp(type, "ACCELERATE") == 0)
        return 0; /* Berth has no ACCELERATE versions: nothing matches */
    struct store_model_version *vs;
    size_t n;
    if (store_model_version_list(c->cfg->store, c->region, id, &vs, &n, &err) != 0)
        return api_fail_store(c, &err);
    int busy = 0;
    for (size_t i = 0; i < n; i++) {
        if (!busy)
            busy = check_not_moving(c, &vs[i]) || check_unused(c, vs[i].id);
        store_model_version_release(&vs[i]);
    }
    free(vs);
    if (busy)
        return -1;
    if (store_model_delete(c->cfg->store, c->region, id, &err) != 0)
        return api_fail_store(c, &err);
    char *dir = xasprintf("%s/models/%s", c->cfg->data_dir, id);
    remove_files(c, dir);
    free(dir);
    return c->error_code[0] ? -1 : 0;
}
