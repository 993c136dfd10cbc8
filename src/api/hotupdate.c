/* hotupdate.c - model hot update on the API side: ModelHotUpdateEnable of
 * CreateModelService and ModifyModelService, and DescribeModelServiceHotUpdated
 * (../shared/reference/tione-api.md §3.1, §3.11, §3.21). A service with hot
 * update on gets each newer version of its model as the next numbered
 * directory of its model base path (control/hotupdate.h does that); the
 * console's rule, that this needs the built-in TF Serving layout and the
 * model's auto-clean or a mount, is enforced here. Berth has no mounts yet, so
 * auto-clean it is. */
#include "api/api.h"

#include <stdio.h>
#include <string.h>

bool api_version_auto_clean(const struct store_model_version *v, long long *keep)
{
    json_t *attrs = json_loads(v->attrs_json ? v->attrs_json : "{}", 0, NULL);
    const char *on = json_string_value(json_object_get(attrs, "AutoClean"));
    bool yes = on && strcmp(on, "true") == 0;
    if (keep)
        *keep = yes ? json_integer_value(json_object_get(attrs, "MaxReservedModels")) : 0;
    json_decref(attrs);
    return yes;
}

/* Whether a spec's "Mounts" hold one the instances may write. */
static bool writable_mount(const json_t *mounts)
{
    size_t i;
    json_t *m;
    json_array_foreach(mounts, i, m)
    {
        if (!json_is_true(json_object_get(m, "ReadOnly")))
            return true;
    }
    return false;
}

/* Why 'version_id' cannot be hot-updated, in c's error; 0 when it can. */
static int check_version(struct api_call *c, const char *where, const char *version_id,
                         bool mounted)
{
    struct store_model_version v = {0};
    struct err err = {0};
    if (store_model_version_get(c->cfg->store, c->region, version_id, &v, &err) != 0)
        return api_fail(c, "ResourceNotFound", "%s: %s", where, err.msg);
    int rc = 0;
    if (!api_builtin_format(v.format))
        rc = api_fail(c, "UnsupportedOperation",
                      "%s: hot update needs a model the built-in runtime serves (XGBOOST, "
                      "PYTORCH, TORCH_SCRIPT); %s is %s",
                      where, v.id, v.format);
    else if (!mounted && !api_version_auto_clean(&v, NULL))
        rc = api_fail(c, "InvalidParameterValue",
                      "ModelHotUpdateEnable needs the model's auto-clean or a VolumeMount: model "
                      "version %s was imported without AutoClean \"true\" (CreateTrainingModel "
                      "AutoClean, MaxReservedModels), and the service mounts no writable file "
                      "system (VolumeMount with MountType STORAGE)",
                      v.id);
    store_model_version_release(&v);
    return rc;
}

int api_hotupdate_read(struct api_call *c, const json_t *p, json_t *spec)
{
    bool on = false;
    if (api_get_bool(c, p, "ModelHotUpdateEnable", &on))
        return -1;
    if (json_is_boolean(json_object_get(p, "ModelHotUpdateEnable"))) {
        if (on)
            json_object_set_new(spec, "ModelHotUpdateEnable", json_true());
        else
            json_object_del(spec, "ModelHotUpdateEnable");
    }
    if (!json_is_true(json_object_get(spec, "ModelHotUpdateEnable")))
        return 0;
    const char *kind = json_string_value(json_object_get(spec, "Kind"));
    const char *version = json_string_value(json_object_get(spec, "ModelVersionId"));
    if (!kind || strcmp(kind, "model") != 0 || !version)
        return api_fail(c, "InvalidParameterValue",
                        "ModelHotUpdateEnable needs ModelInfo: hot update brings new versions of "
                        "a repository model to the built-in runtime, and a Command has none");
    return check_version(c, "ModelInfo.ModelVersionId", version,
                         writable_mount(json_object_get(spec, "Mounts")));
}

int api_describe_model_service_hot_updated(struct api_call *c)
{
    static const struct api_field fields[] = {{"ImageInfo", API_FIELD_USED},
                                              {"ModelInfo", API_FIELD_USED},
                                              {"VolumeMount", API_FIELD_USED},
                                              {NULL, API_FIELD_USED}};
    static const struct api_field model_fields[] = {
        {"ModelVersionId", API_FIELD_USED},        {"ModelId", API_FIELD_IGNORED},
        {"ModelName", API_FIELD_IGNORED},          {"ModelVersion", API_FIELD_IGNORED},
        {"ModelSource", API_FIELD_IGNORED},        {"ModelFormat", API_FIELD_IGNORED},
        {"AlgorithmFramework", API_FIELD_IGNORED}, {"ModelType", API_FIELD_IGNORED},
        {"CosPathInfo", API_FIELD_IGNORED},        {"GooseFSx", API_FIELD_IGNORED},
        {"IsPrivateModel", API_FIELD_IGNORED},     {"ModelCategory", API_FIELD_IGNORED},
        {"PublicDataSource", API_FIELD_IGNORED},   {NULL, API_FIELD_USED}};
    const json_t *image = json_object_get(c->params, "ImageInfo");
    const json_t *model = json_object_get(c->params, "ModelInfo");
    struct api_image img;
    const char *version = NULL;
    if (api_check_fields(c, c->params, NULL, fields))
        return -1;
    if (!api_present(image))
        return api_fail(c, "MissingParameter", "ImageInfo is required");
    if (api_check_image(c, image, "ImageInfo", &img))
        return -1;
    if (api_present(model) && (api_check_object(c, model, "ModelInfo", model_fields) ||
                               api_get_str(c, model, "ModelVersionId", true, &version)))
        return -1;
    bool mounted = false;
    const json_t *vm = json_object_get(c->params, "VolumeMount");
    if (api_present(vm)) {
        json_t *entry;
        if (api_volume_read(c, vm, "VolumeMount", false, &entry))
            return -1;
        mounted = !json_is_true(json_object_get(entry, "ReadOnly"));
        json_decref(entry);
    }
    /* Allowed: the built-in runtime (TF Serving's numbered base path) run as
     * a process (its image, --model-runtime container, reads one version)
     * and a model version with auto-clean. A custom image's layout is its own. */
    bool allowed = img.preset && !img.url && !img.name && version && !c->cfg->model_image;
    if (allowed) {
        allowed = check_version(c, "ModelInfo.ModelVersionId", version, mounted) == 0;
        if (!allowed && strcmp(c->error_code, "ResourceNotFound") == 0)
            return -1;
        c->error_code[0] = c->error_message[0] = '\0';
    }
    json_object_set_new(c->out, "ModelTurboFlag", json_string(allowed ? "Allowed" : "Forbidden"));
    return 0;
}
