/* container.c - custom images on the container driver: what the request
 * says runs in a container, checked before anything is written. */
#include "api/container.h"

#include <string.h>
#include <strings.h>

bool api_image_custom(const json_t *image)
{
    const char *type = json_string_value(json_object_get(image, "ImageType"));
    return json_is_object(image) && type && strcasecmp(type, "PreSet") != 0 &&
           strcasecmp(type, "PRE_SET") != 0;
}

/* An image reference as the engine takes it: [host[:port]/]path[:tag][@digest],
 * lower-case path components, no blanks. */
static bool reference_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255 || s[0] == '/' || s[0] == ':' || s[n - 1] == '/' || s[n - 1] == ':')
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("._-/:@", *p)))
            return false;
    return true;
}

static int read_prestop(struct api_call *c, const json_t *v, json_t *spec)
{
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 64)
        return api_fail(c, "InvalidParameterValue",
                        "PreStopCommand must be a non-empty array of at most 64 strings (exec "
                        "form, e.g. [\"sleep\",\"5\"])");
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e) || json_string_length(e) > 4096 ||
            strlen(json_string_value(e)) != json_string_length(e))
            return api_fail(c, "InvalidParameterValue",
                            "PreStopCommand[%zu] must be a string without NUL bytes (at most 4096 "
                            "bytes)",
                            i);
    }
    if (json_string_length(json_array_get(v, 0)) == 0)
        return api_fail(c, "InvalidParameterValue",
                        "PreStopCommand[0] names the program: it "
                        "cannot be empty");
    json_object_set(spec, "PreStopCommand", (json_t *)v);
    return 0;
}

int api_check_model_image(struct api_call *c, const struct api_image *img, const char *where)
{
    if (!c->cfg->containers)
        return api_fail(c, "UnsupportedOperation",
                        "ReasoningEnvironmentSource CUSTOM (%s '%s') needs the container driver, "
                        "which this berthd does not run (start it with --engine-socket); use "
                        "SYSTEM for the built-in runtime",
                        where, img->url);
    if (!reference_ok(img->url))
        return api_fail(c, "InvalidParameterValue",
                        "%s.ImageUrl '%s' is not an image reference "
                        "([host[:port]/]path[:tag][@digest])",
                        where, img->url);
    return 0;
}

const char *api_model_image(const json_t *attrs)
{
    const char *src = json_string_value(json_object_get(attrs, "ReasoningEnvironmentSource"));
    const json_t *info = json_object_get(attrs, "ReasoningImageInfo");
    const char *url = json_string_value(json_object_get(info, "ImageUrl"));
    return src && strcmp(src, "CUSTOM") == 0 && url && *url ? url : NULL;
}

/* A SYSTEM model in the built-in runtime's image (berthd --model-runtime
 * container). The image holds berth-serve without libtorch, and hot update
 * syncs versions into a directory of the process driver's. */
static int api_runtime_image(struct api_call *c, const json_t *p, json_t *spec)
{
    const char *format = json_string_value(json_object_get(spec, "ModelFormat"));
    if (!format || strcmp(format, "XGBOOST") != 0)
        return api_fail(c, "UnsupportedOperation",
                        "ModelFormat %s: the built-in runtime's container image serves XGBOOST "
                        "models only (it holds berth-serve without libtorch); TorchScript models "
                        "run on the process driver (berthd --model-runtime process)",
                        format ? format : "(none)");
    if (json_is_true(json_object_get(p, "ModelHotUpdateEnable")) ||
        (!json_is_boolean(json_object_get(p, "ModelHotUpdateEnable")) &&
         json_is_true(json_object_get(spec, "ModelHotUpdateEnable"))))
        return api_fail(c, "UnsupportedOperation",
                        "ModelHotUpdateEnable: hot update runs on the process driver only, and "
                        "this berthd runs built-in model services in containers (--model-runtime "
                        "container)");
    /* PreSet: the built-in runtime, whatever image a cloud would pick. */
    const json_t *image = json_object_get(p, "ImageInfo");
    static const char *const named[] = {"ImageUrl", "ImageName"};
    for (size_t i = 0; api_present(image) && i < 2; i++) {
        const char *v = json_string_value(json_object_get(image, named[i]));
        if (v && *v)
            return api_fail(c, "UnsupportedOperation",
                            "ImageInfo.%s '%s': Berth serves a PreSet model with its built-in "
                            "runtime (berth-serve) and cannot run another image; leave %s empty "
                            "or omit ImageInfo",
                            named[i], v, named[i]);
    }
    json_object_set_new(spec, "Kind", json_string("image"));
    json_object_set_new(spec, "Image", json_string(c->cfg->model_image));
    json_object_set_new(spec, "Runtime", json_string("berth-serve"));
    if (api_present(image))
        json_object_set(spec, "ImageInfo", (json_t *)image);
    else
        json_object_del(spec, "ImageInfo");
    json_object_del(spec, "Command");
    return 0;
}

int api_container_apply(struct api_call *c, const json_t *p, json_t *spec, bool model, bool command)
{
    const json_t *image = json_object_get(p, "ImageInfo");
    bool custom = api_present(image) && api_image_custom(image);
    if (custom) {
        struct api_image img;
        if (api_check_image(c, image, "ImageInfo", &img))
            return -1;
        if (!c->cfg->containers)
            return api_fail(c, "UnsupportedOperation",
                            "ImageInfo.ImageType %s: container images need the container driver, "
                            "which this berthd does not run (start it with --engine-socket); use "
                            "the built-in runtime (PreSet) with ModelInfo, or a Command",
                            img.type);
        if (!img.url)
            return api_fail(c, "MissingParameter",
                            "ImageInfo.ImageUrl is required for ImageType %s", img.type);
        if (!reference_ok(img.url))
            return api_fail(c, "InvalidParameterValue",
                            "ImageInfo.ImageUrl '%s' is not an image reference "
                            "([host[:port]/]path[:tag][@digest])",
                            img.url);
        json_object_set_new(spec, "Kind", json_string("image"));
        json_object_set_new(spec, "Image", json_string(img.url));
        json_object_set(spec, "ImageInfo", (json_t *)image);
        json_object_del(spec, "Runtime");
        if (!command)
            json_object_del(spec, "Command");
    } else if (model && !api_present(image) &&
               json_is_string(json_object_get(spec, "ModelImage"))) {
        /* The model version's own image, with its files mounted. */
        json_object_set_new(spec, "Kind", json_string("image"));
        json_object_set(spec, "Image", json_object_get(spec, "ModelImage"));
        json_object_del(spec, "ImageInfo");
        json_object_del(spec, "Runtime");
        if (!command)
            json_object_del(spec, "Command");
    } else if (model && c->cfg->model_image) {
        if (api_runtime_image(c, p, spec))
            return -1;
    } else if (model || api_present(image)) {
        json_object_del(spec, "Image");
        json_object_del(spec, "Runtime");
    } else if (json_is_string(json_object_get(spec, "Image"))) {
        /* A modification that leaves the image: a new Command runs in it. */
        json_object_set_new(spec, "Kind", json_string("image"));
    }
    bool runs_image = json_is_string(json_object_get(spec, "Image"));
    if (!runs_image) {
        json_object_del(spec, "ServicePort");
        json_object_del(spec, "PreStopCommand");
    }
    const json_t *port = json_object_get(p, "ServicePort");
    if (api_present(port)) {
        long long v;
        if (!runs_image)
            return api_fail(c, "UnsupportedOperation",
                            "ServicePort is the port of a custom image (ImageInfo); the built-in "
                            "runtime and commands listen where berthd tells them ($PORT)");
        if (api_get_int(c, p, "ServicePort", false, 1, 65535, &v))
            return -1;
        if ((v >= 8501 && v <= 8510) || v == 6006 || v == 9092)
            return api_fail(c, "InvalidParameterValue",
                            "ServicePort %lld is reserved (8501-8510, 6006 and 9092 are TI-ONE's); "
                            "omit it for the default 8501 or choose another",
                            v);
        json_object_set_new(spec, "ServicePort", json_integer(v));
    }
    const json_t *prestop = json_object_get(p, "PreStopCommand");
    if (api_present(prestop)) {
        if (!runs_image)
            return api_fail(c, "UnsupportedOperation",
                            "PreStopCommand runs inside a container: it needs a custom image "
                            "(ImageInfo)");
        if (read_prestop(c, prestop, spec))
            return -1;
    }
    return runs_image ? 1 : 0;
}
