/* services.c - online services: CreateModelService, DescribeModelService,
 * DescribeModelServiceGroup, DescribeModelServiceGroups, ModifyModelService
 * (STOP, RESUME, SCALE), DeleteModelService, DeleteModelServiceGroup
 * (../shared/reference/tione-api.md §3.1-3.8, §4.1-4.2). Requests only write
 * desired state to the store and kick the reconciler; status comes from the
 * reconciler's table. */
#include "api/api.h"
#include "api/authz.h"
#include "api/container.h"
#include "api/scaling.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "control/billing.h"
#include "control/cronscale.h"
#include "control/events.h"
#include "control/reconciler.h"
#include "control/limits.h"
#include "control/specs.h"
#include "control/schedstop.h"
#include "drivers/kube_objects.h"
#include "logs/deliver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_REPLICAS 64
#define SERVICE_RPS_LIMIT_MAX 1000000 /* per instance */
#define SERVICE_REQ_LIMIT_MAX 100000  /* per instance */

static const struct api_field create_fields[] = {
    {"ServiceGroupId", API_FIELD_USED},
    {"ServiceGroupName", API_FIELD_USED},
    {"ServiceDescription", API_FIELD_USED},
    {"ChargeType", API_FIELD_USED},
    {"ModelInfo", API_FIELD_USED},
    {"ImageInfo", API_FIELD_USED},
    {"Env", API_FIELD_USED},
    {"InstanceType", API_FIELD_USED},
    {"ScaleMode", API_FIELD_USED},
    {"Replicas", API_FIELD_USED},
    {"Tags", API_FIELD_USED},
    {"NewVersion", API_FIELD_USED},
    {"CreateSource", API_FIELD_USED},
    {"Command", API_FIELD_USED},
    {"CommandBase64", API_FIELD_USED},
    {"DeployType", API_FIELD_USED},
    {"InstancePerReplicas", API_FIELD_USED},
    {"SchedulingStrategy", API_FIELD_USED},
    /* cloud-only, accepted and ignored (§3.1) */
    {"TiProjectId", API_FIELD_IGNORED},
    {"LogConfig", API_FIELD_USED},
    {"ServiceEIP", API_FIELD_IGNORED},
    {"GatewayLogConfig", API_FIELD_IGNORED},
    {"ResourceSupplyAttribute", API_FIELD_IGNORED},
    {"ServiceCategory", API_FIELD_IGNORED},
    /* defined by TI-ONE, not built yet: refused by name */
    {"ResourceGroupId", API_FIELD_USED},
    {"Resources", API_FIELD_USED},
    {"HorizontalPodAutoscaler", API_FIELD_USED},
    {"LogEnable", API_FIELD_USED},
    {"AuthorizationEnable", API_FIELD_USED},
    {"CronScaleJobs", API_FIELD_USED},
    {"ScaleStrategy", API_FIELD_USED},
    {"HybridBillingPrepaidReplicas", API_FIELD_USED},
    {"ModelHotUpdateEnable", API_FIELD_USED},
    {"ScheduledAction", API_FIELD_USED},
    {"VolumeMount", API_FIELD_USED},
    {"ServiceLimit", API_FIELD_USED},
    {"CallbackUrl", API_FIELD_UNSUPPORTED},
    {"ModelTurboEnable", API_FIELD_UNSUPPORTED},
    {"ServicePort", API_FIELD_USED},
    {"TerminationGracePeriodSeconds", API_FIELD_USED},
    {"PreStopCommand", API_FIELD_USED},
    {"GrpcEnable", API_FIELD_UNSUPPORTED},
    {"HealthProbe", API_FIELD_USED},
    {"RequestTimeoutSeconds", API_FIELD_USED}, /* a Berth extension: the gateway's, per request */
    {"RollingUpdate", API_FIELD_UNSUPPORTED},
    {"Sidecar", API_FIELD_UNSUPPORTED},
    {"VolumeMounts", API_FIELD_USED},
    {"GatewayConfig", API_FIELD_UNSUPPORTED},
    {NULL, API_FIELD_USED},
};

/* ScaleMode MANUAL runs Replicas instances: 0 would be a service that never
 * runs (and that RESUME could not tell from a stopped one). */
static int manual_needs_a_replica(struct api_call *c)
{
    return api_fail(c, "InvalidParameterValue",
                    "Replicas must be at least 1 with ScaleMode MANUAL; to run nothing, use "
                    "ModifyModelService with ServiceAction STOP (or SCALE to 0)");
}

static bool valid_group_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 60 ||
        !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
          (s[0] >= '0' && s[0] <= '9')))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return false;
    return true;
}

/* Put "where." before the recorded error unless it names that path (or
 * one below it) already; returns -1. The api_get_*() errors start with the
 * field's own name. */
static int in(struct api_call *c, const char *where)
{
    size_t n = strlen(where);
    if (strncmp(c->error_message, where, n) == 0 &&
        (c->error_message[n] == '.' || c->error_message[n] == ' '))
        return -1;
    char prefix[160];
    snprintf(prefix, sizeof(prefix), "%s.", where);
    return api_prefix_error(c, prefix);
}

static int check_env(struct api_call *c, const json_t *env)
{
    static const struct api_field fields[] = {
        {"Name", API_FIELD_USED}, {"Value", API_FIELD_USED}, {NULL, API_FIELD_USED}};
    if (!env || json_is_null(env))
        return 0;
    if (!json_is_array(env))
        return api_fail(c, "InvalidParameter", "Env must be a list of {Name, Value}");
    if (json_array_size(env) > 64)
        return api_fail(c, "InvalidParameterValue", "Env holds at most 64 variables");
    size_t i;
    const json_t *e;
    json_array_foreach(env, i, e)
    {
        char where[32];
        snprintf(where, sizeof(where), "Env[%zu]", i);
        const char *n, *value;
        if (!json_is_object(e))
            return api_fail(c, "InvalidParameter",
                            "%s must be {\"Name\": string, \"Value\": string}", where);
        if (api_check_fields(c, e, where, fields) || api_get_str(c, e, "Name", true, &n) ||
            api_get_str(c, e, "Value", false, &value))
            return in(c, where);
        if (!json_is_string(json_object_get(e, "Value")))
            return api_fail(c, "MissingParameter", "%s.Value is required (\"\" for empty)", where);
        bool ok = !(*n >= '0' && *n <= '9');
        for (const char *p = n; *p; p++)
            ok &= (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '_';
        if (!ok)
            return api_fail(c, "InvalidParameterValue",
                            "%s.Name '%s' must be letters, digits and '_', not starting with "
                            "a digit",
                            where, n);
        if (strcmp(n, "PORT") == 0)
            return api_fail(c, "InvalidParameterValue",
                            "%s.Name PORT is set by Berth to the instance's port", where);
    }
    return 0;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n\v\f", s[i]))
            return false;
    return true;
}

/* ScheduledAction {ScheduleStop, ScheduleStopTime} (§4 ScheduledAction)
 * into 'spec', whole: on, the time must be RFC 3339 with an offset and not
 * in the past; off, the time is kept as given and means nothing.
 * control/schedstop.h stops the version at that time. */
static int read_scheduled_action(struct api_call *c, const json_t *p, json_t *spec)
{
    static const struct api_field fields[] = {{"ScheduleStop", API_FIELD_USED},
                                              {"ScheduleStopTime", API_FIELD_USED},
                                              {NULL, API_FIELD_USED}};
    const json_t *sa = json_object_get(p, "ScheduledAction");
    if (!sa || json_is_null(sa))
        return 0;
    bool on = false;
    const char *when = NULL;
    if (api_check_object(c, sa, "ScheduledAction", fields) ||
        api_get_bool(c, sa, "ScheduleStop", &on) ||
        api_get_str(c, sa, "ScheduleStopTime", on, &when))
        return in(c, "ScheduledAction");
    int64_t at = 0;
    if (when && !api_parse_time(when, &at))
        return api_fail(c, "InvalidParameterValue",
                        "ScheduledAction.ScheduleStopTime '%s' must be an RFC 3339 time such as "
                        "2022-01-26T19:46:22+08:00",
                        when);
    if (on && at < (int64_t)time(NULL))
        return api_fail(c, "InvalidParameterValue",
                        "ScheduledAction.ScheduleStopTime %s is in the past", when);
    if (spec)
        json_object_set_new(
            spec, "ScheduledAction",
            json_pack("{s:b, s:s}", "ScheduleStop", on, "ScheduleStopTime", when ? when : ""));
    return 0;
}

/* Whether a ScheduledAction that comes with a ServiceAction is valid and
 * switched off (it is then ignored); false with the error recorded. */
static bool scheduled_action_off(struct api_call *c, const json_t *p)
{
    if (read_scheduled_action(c, p, NULL))
        return false;
    if (json_is_true(json_object_get(json_object_get(p, "ScheduledAction"), "ScheduleStop"))) {
        api_fail(c, "InvalidParameterValue",
                 "ScheduledAction.ScheduleStop true cannot be combined with a ServiceAction; set "
                 "it with ModifyModelService without ServiceAction");
        return false;
    }
    return true;
}

/* ServiceLimit (§4.3) into 'spec', whole: the gateway's per-instance rate
 * and concurrency limits. A switch on needs its value (0 = unlimited, as
 * TI-ONE defines); a value is kept while its switch is off, and ignored. */
static int read_service_limit(struct api_call *c, const json_t *limit, json_t *spec)
{
    static const struct api_field fields[] = {{"EnableInstanceRpsLimit", API_FIELD_USED},
                                              {"InstanceRpsLimit", API_FIELD_USED},
                                              {"EnableInstanceReqLimit", API_FIELD_USED},
                                              {"InstanceReqLimit", API_FIELD_USED},
                                              {NULL, API_FIELD_USED}};
    if (!limit || json_is_null(limit))
        return 0;
    bool rps_on = false, req_on = false;
    long long rps = 0, req = 0;
    if (api_check_object(c, limit, "ServiceLimit", fields))
        return -1;
    if (api_get_bool(c, limit, "EnableInstanceRpsLimit", &rps_on) ||
        api_get_bool(c, limit, "EnableInstanceReqLimit", &req_on) ||
        api_get_int(c, limit, "InstanceRpsLimit", rps_on, 0, SERVICE_RPS_LIMIT_MAX, &rps) ||
        api_get_int(c, limit, "InstanceReqLimit", req_on, 0, SERVICE_REQ_LIMIT_MAX, &req))
        return in(c, "ServiceLimit");
    json_object_set_new(spec, "ServiceLimit",
                        json_pack("{s:b, s:I, s:b, s:I}", "EnableInstanceRpsLimit", rps_on,
                                  "InstanceRpsLimit", (json_int_t)rps, "EnableInstanceReqLimit",
                                  req_on, "InstanceReqLimit", (json_int_t)req));
    return 0;
}

/* A valid ServiceLimit with both switches off (which a ServiceAction may
 * carry along); false, with the error recorded when it is not valid. */
static bool service_limit_off(struct api_call *c, const json_t *limit)
{
    json_t *scratch = json_object();
    bool off = read_service_limit(c, limit, scratch) == 0;
    const json_t *l = json_object_get(scratch, "ServiceLimit");
    off = off && !json_is_true(json_object_get(l, "EnableInstanceRpsLimit")) &&
          !json_is_true(json_object_get(l, "EnableInstanceReqLimit"));
    json_decref(scratch);
    return off;
}

/* Decode CommandBase64 (which wins over Command) into a heap string. */
static int read_command(struct api_call *c, char **out)
{
    const char *cmd, *b64;
    *out = NULL;
    if (api_get_str(c, c->params, "Command", false, &cmd) ||
        api_get_str(c, c->params, "CommandBase64", false, &b64))
        return -1;
    if (!b64) {
        if (cmd && blank(cmd, strlen(cmd)))
            return api_fail(c, "InvalidParameterValue", "Command is blank: give a shell command");
        *out = cmd ? xstrdup(cmd) : NULL;
        return 0;
    }
    size_t len = strlen(b64);
    char *dec = xmalloc(len + 1);
    size_t n = 0;
    if (crypto_base64_decode(b64, len, (uint8_t *)dec, &n) != 0) {
        free(dec);
        return api_fail(c, "InvalidParameterValue",
                        "CommandBase64 must be standard base64 (RFC 4648: A-Z a-z 0-9 + /, in "
                        "groups of 4 with '=' padding)");
    }
    if (memchr(dec, '\0', n)) {
        free(dec);
        return api_fail(c, "InvalidParameterValue",
                        "CommandBase64 must decode to text without NUL bytes");
    }
    if (blank(dec, n)) {
        free(dec);
        return api_fail(c, "InvalidParameterValue",
                        "CommandBase64 decodes to a blank command: give a shell command");
    }
    dec[n] = '\0';
    *out = dec;
    return 0;
}

/* What the import recorded for a version (AlgorithmFramework,
 * TrainingModelSource), or 'fallback'; a heap copy. */
static char *version_attr(const struct store_model_version *v, const char *name,
                          const char *fallback)
{
    json_t *attrs = json_loads(v->attrs_json, 0, NULL);
    const char *s = json_string_value(json_object_get(attrs, name));
    char *out = xstrdup(s && *s ? s : fallback);
    json_decref(attrs);
    return out;
}

/* The ModelInfo fields besides ModelVersionId describe the same version, so
 * each one given must agree with the repository; a contradiction names both
 * values. A version imported without AlgorithmFramework has its format's
 * (XGBOOST); without TrainingModelSource it came from the path given in
 * TrainingModelCosPath, which TI-ONE calls COS. */
static int model_info_agrees(struct api_call *c, const json_t *info,
                             const struct store_model_version *v)
{
    static const char *const keys[] = {"ModelId",     "ModelName",          "ModelVersion",
                                       "ModelFormat", "AlgorithmFramework", "ModelSource",
                                       NULL};
    char *framework = version_attr(v, "AlgorithmFramework", v->format);
    char *source = version_attr(v, "TrainingModelSource", "COS");
    const char *want[] = {v->model_id, v->model_name, v->version, v->format, framework, source};
    static const bool nocase[] = {false, false, false, true, true, true};
    int rc = 0;
    for (size_t i = 0; keys[i] && rc == 0; i++) {
        const char *given;
        if (api_get_str(c, info, keys[i], false, &given))
            rc = in(c, "ModelInfo");
        else if (given && (nocase[i] ? strcasecmp(given, want[i]) : strcmp(given, want[i])) != 0)
            rc = api_fail(c, "InvalidParameterValue",
                          "ModelInfo.%s '%s' contradicts model version %s, whose %s is '%s'",
                          keys[i], given, v->id, keys[i], want[i]);
    }
    free(framework);
    free(source);
    return rc;
}

/* ModelInfo: ModelVersionId names an imported XGBOOST model version. Fills
 * the spec's model fields. */
static int resolve_model(struct api_call *c, const json_t *info, json_t *spec, char **version_id)
{
    static const struct api_field fields[] = {{"ModelVersionId", API_FIELD_USED},
                                              {"ModelId", API_FIELD_USED},
                                              {"ModelName", API_FIELD_USED},
                                              {"ModelVersion", API_FIELD_USED},
                                              {"ModelSource", API_FIELD_USED},
                                              {"ModelFormat", API_FIELD_USED},
                                              {"AlgorithmFramework", API_FIELD_USED},
                                              {"ModelType", API_FIELD_USED},
                                              {"CosPathInfo", API_FIELD_IGNORED},
                                              {"GooseFSx", API_FIELD_IGNORED},
                                              {"IsPrivateModel", API_FIELD_UNSUPPORTED},
                                              {"ModelCategory", API_FIELD_UNSUPPORTED},
                                              {"PublicDataSource", API_FIELD_UNSUPPORTED},
                                              {NULL, API_FIELD_USED}};
    if (!json_is_object(info))
        return api_fail(c, "InvalidParameter", "ModelInfo must be an object");
    const char *id, *type;
    if (api_check_fields(c, info, "ModelInfo", fields) ||
        api_get_str(c, info, "ModelVersionId", true, &id) ||
        api_get_str(c, info, "ModelType", false, &type))
        return in(c, "ModelInfo");
    if (type && strcmp(type, "NORMAL") != 0)
        return api_fail(c, "UnsupportedOperation", "ModelInfo.ModelType %s is not supported", type);
    struct store_model_version v = {0};
    struct err err = {0};
    if (store_model_version_get(c->cfg->store, c->region, id, &v, &err) != 0)
        return api_fail(c, "ResourceNotFound", "ModelInfo.ModelVersionId: %s", err.msg);
    int rc = model_info_agrees(c, info, &v);
    if (rc == 0 && v.status == STORE_IMPORT_RUNNING)
        rc = api_fail(c, "ResourceUnavailable", "model version %s is still being imported", id);
    else if (rc == 0 && v.status == STORE_IMPORT_FAILED)
        rc = api_fail(c, "InvalidParameterValue", "model version %s failed to import: %s", id,
                      v.error);
    json_t *attrs = rc == 0 ? json_loads(v.attrs_json, 0, NULL) : NULL;
    const char *model_image = api_model_image(attrs);
    /* A custom image, the version's or the request's, serves any format. */
    if (rc == 0 && !model_image && !api_image_custom(json_object_get(c->params, "ImageInfo")) &&
        !api_builtin_format(v.format))
        rc = api_fail(c, "UnsupportedOperation",
                      "there is no built-in runtime for %s models yet (only XGBOOST, PYTORCH and "
                      "TORCH_SCRIPT); give a Command instead",
                      v.format);
    if (rc == 0) {
        if (model_image)
            json_object_set_new(spec, "ModelImage", json_string(model_image));
        else
            json_object_del(spec, "ModelImage");
        json_object_set_new(spec, "Kind", json_string("model"));
        json_object_set_new(spec, "ModelVersionId", json_string(v.id));
        json_object_set_new(spec, "ModelId", json_string(v.model_id));
        json_object_set_new(spec, "ModelName", json_string(v.model_name));
        json_object_set_new(spec, "ModelVersion", json_string(v.version));
        json_object_set_new(spec, "ModelFormat", json_string(v.format));
        json_object_set_new(spec, "ModelPath", json_string(v.path));
        *version_id = xstrdup(v.id);
    }
    json_decref(attrs);
    store_model_version_release(&v);
    return rc;
}

static int check_image(struct api_call *c, const json_t *image, bool model)
{
    struct api_image img;
    if (!api_present(image))
        return 0;
    if (api_check_image(c, image, "ImageInfo", &img))
        return -1;
    if (!img.preset || !model)
        return api_fail(c, "UnsupportedOperation",
                        "ImageInfo.ImageType %s: container images need the container driver, "
                        "which this berthd does not run; use the built-in runtime (PreSet) with "
                        "ModelInfo, or a Command",
                        img.type);
    /* PreSet means Berth's built-in runtime, whatever image a cloud would pick. */
    const char *named[][2] = {{"ImageUrl", img.url}, {"ImageName", img.name}};
    for (size_t i = 0; i < 2; i++)
        if (named[i][1])
            return api_fail(c, "UnsupportedOperation",
                            "ImageInfo.%s '%s': Berth serves a PreSet model with its built-in "
                            "runtime (berth-serve) and cannot run another image; leave %s empty "
                            "or omit ImageInfo",
                            named[i][0], named[i][1], named[i][0]);
    return 0;
}

/* ProbeAction at 'where': its type, and the Path and Port of its HTTPGet or
 * TCPSocket. */
static int read_probe_action(struct api_call *c, const json_t *action, const char *where,
                             const char **type, const char **path, long long *port)
{
    static const struct api_field action_fields[] = {{"ActionType", API_FIELD_USED},
                                                     {"HTTPGet", API_FIELD_USED},
                                                     {"TCPSocket", API_FIELD_USED},
                                                     {"Exec", API_FIELD_UNSUPPORTED},
                                                     {NULL, API_FIELD_USED}};
    static const struct api_field http_fields[] = {
        {"Path", API_FIELD_USED}, {"Port", API_FIELD_USED}, {NULL, API_FIELD_USED}};
    static const struct api_field tcp_fields[] = {{"Port", API_FIELD_USED}, {NULL, API_FIELD_USED}};
    const char *t;
    if (!json_is_object(action))
        return api_fail(c, "InvalidParameter", "%s must be an object", where);
    if (api_check_fields(c, action, where, action_fields) ||
        api_get_str(c, action, "ActionType", false, &t))
        return in(c, where);
    *type = t ? t : "HTTPGet";
    if (strcmp(*type, "Exec") == 0)
        return api_fail(c, "UnsupportedOperation",
                        "%s.ActionType Exec is not supported yet; use HTTPGet or TCPSocket", where);
    bool http = strcmp(*type, "HTTPGet") == 0;
    if (!http && strcmp(*type, "TCPSocket") != 0)
        return api_fail(c, "InvalidParameterValue",
                        "%s.ActionType must be HTTPGet, TCPSocket or Exec, got '%s'", where, *type);
    /* The action of the other type would not run: refuse it rather than ignore it. */
    const char *other = http ? "TCPSocket" : "HTTPGet";
    if (api_present(json_object_get(action, other)))
        return api_fail(c, "InvalidParameterValue", "%s.%s is given but %s.ActionType is %s", where,
                        other, where, *type);
    const json_t *sub = json_object_get(action, *type);
    if (!api_present(sub))
        return 0;
    char at[160];
    snprintf(at, sizeof(at), "%s.%s", where, *type);
    const char *p = NULL;
    if (api_check_object(c, sub, at, http ? http_fields : tcp_fields) ||
        api_get_int(c, sub, "Port", false, 0, 65535, port) ||
        (http && api_get_str(c, sub, "Path", false, &p)))
        return in(c, at);
    if (p)
        *path = p;
    return 0;
}

/* One Probe of HealthProbe (HTTPGet or TCPSocket on the instance's port),
 * kept in the spec at 'key' for the reconciler. Liveness and startup
 * probes pass with one success, as in Kubernetes. */
static int read_probe(struct api_call *c, const json_t *hp, const char *name, const char *key,
                      json_t *spec)
{
    static const struct api_field probe_fields[] = {{"ProbeAction", API_FIELD_USED},
                                                    {"InitialDelaySeconds", API_FIELD_USED},
                                                    {"PeriodSeconds", API_FIELD_USED},
                                                    {"TimeoutSeconds", API_FIELD_USED},
                                                    {"FailureThreshold", API_FIELD_USED},
                                                    {"SuccessThreshold", API_FIELD_USED},
                                                    {NULL, API_FIELD_USED}};
    const json_t *rp = json_object_get(hp, name);
    json_object_del(spec, key);
    if (!api_present(rp))
        return 0;
    char where[96], action_at[128];
    snprintf(where, sizeof(where), "HealthProbe.%s", name);
    snprintf(action_at, sizeof(action_at), "%s.ProbeAction", where);
    if (!json_is_object(rp))
        return api_fail(c, "InvalidParameter", "%s must be an object", where);
    bool readiness = strcmp(key, "Probe") == 0;
    long long delay = 0, period = 10, timeout = 1, failures = 3, successes = 1;
    if (api_check_fields(c, rp, where, probe_fields) ||
        api_get_int(c, rp, "InitialDelaySeconds", false, 0, 3600, &delay) ||
        api_get_int(c, rp, "PeriodSeconds", false, 1, 3600, &period) ||
        api_get_int(c, rp, "TimeoutSeconds", false, 1, 3600, &timeout) ||
        api_get_int(c, rp, "FailureThreshold", false, 1, 1000, &failures) ||
        api_get_int(c, rp, "SuccessThreshold", false, 1, readiness ? 1000 : 1, &successes))
        return in(c, where);
    const json_t *action = json_object_get(rp, "ProbeAction");
    const char *type = "HTTPGet", *path = "/";
    long long port = 0;
    if (api_present(action) && read_probe_action(c, action, action_at, &type, &path, &port))
        return -1;
    json_int_t service_port = json_integer_value(json_object_get(spec, "ServicePort"));
    if (port && port != (service_port ? service_port : 8501))
        return api_fail(c, "InvalidParameterValue",
                        "%s.%s.Port %lld: the probe checks the instance's own port (the service "
                        "port, %lld; $PORT of the process)",
                        action_at, type, port, (long long)(service_port ? service_port : 8501));
    if (path[0] != '/' || strlen(path) > 200 || strpbrk(path, " \r\n"))
        return api_fail(c, "InvalidParameterValue",
                        "%s.HTTPGet.Path must be an absolute path without spaces, got '%s'",
                        action_at, path);
    json_object_set_new(spec, key,
                        json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "Type",
                                  strcmp(type, "HTTPGet") == 0 ? "http" : "tcp", "Path", path,
                                  "InitialDelayMs", (json_int_t)delay * 1000, "PeriodMs",
                                  (json_int_t)period * 1000, "TimeoutMs",
                                  (json_int_t)timeout * 1000, "SuccessThreshold",
                                  (json_int_t)successes, "FailureThreshold", (json_int_t)failures));
    return 0;
}

/* HealthProbe: readiness (the instance serves once it passes), startup
 * (readiness and liveness wait for it; failing it restarts the instance)
 * and liveness (failing it restarts the instance), for both drivers. A
 * HealthProbe given replaces the one kept. */
static int read_health_probe(struct api_call *c, const json_t *hp, json_t *spec)
{
    if (!api_present(hp))
        return 0;
    static const struct api_field hp_fields[] = {{"ReadinessProbe", API_FIELD_USED},
                                                 {"LivenessProbe", API_FIELD_USED},
                                                 {"StartupProbe", API_FIELD_USED},
                                                 {NULL, API_FIELD_USED}};
    if (!json_is_object(hp))
        return api_fail(c, "InvalidParameter", "HealthProbe must be an object");
    if (api_check_fields(c, hp, "HealthProbe", hp_fields) ||
        read_probe(c, hp, "ReadinessProbe", "Probe", spec) ||
        read_probe(c, hp, "LivenessProbe", "LivenessProbe", spec) ||
        read_probe(c, hp, "StartupProbe", "StartupProbe", spec))
        return -1;
    json_object_set(spec, "HealthProbe", (json_t *)hp);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                   */

/* LogEnable and LogConfig (§4 LogConfig) into 'spec': a LogConfig given
 * replaces the one kept, a LogEnable given the switch. On, the LogConfig
 * kept must name a sink berthd has (log-sink = LOGSET/TOPIC URL). */
static int read_log_delivery(struct api_call *c, const json_t *p, json_t *spec)
{
    static const struct api_field fields[] = {
        {"LogsetId", API_FIELD_USED}, {"TopicId", API_FIELD_USED}, {NULL, API_FIELD_USED}};
    const json_t *lc = json_object_get(p, "LogConfig");
    bool enable = false;
    if (api_get_bool(c, p, "LogEnable", &enable))
        return -1;
    if (api_present(lc)) {
        const char *logset, *topic;
        if (api_check_object(c, lc, "LogConfig", fields) ||
            api_get_str(c, lc, "LogsetId", false, &logset) ||
            api_get_str(c, lc, "TopicId", false, &topic))
            return in(c, "LogConfig");
        json_object_set_new(
            spec, "LogConfig",
            json_pack("{s:s, s:s}", "LogsetId", logset ?: "", "TopicId", topic ?: ""));
    }
    if (json_is_boolean(json_object_get(p, "LogEnable")))
        json_object_set_new(spec, "LogEnable", json_boolean(enable));
    if (!json_is_true(json_object_get(spec, "LogEnable")))
        return 0;
    const json_t *kept = json_object_get(spec, "LogConfig");
    const char *logset = json_string_value(json_object_get(kept, "LogsetId"));
    const char *topic = json_string_value(json_object_get(kept, "TopicId"));
    if (!logset || !*logset || !topic || !*topic)
        return api_fail(c, "MissingParameter",
                        "LogEnable is true: LogConfig.LogsetId and LogConfig.TopicId must name a "
                        "log sink configured in berthd (log-sink = LOGSET/TOPIC URL)");
    if (!logs_deliver_has_sink(c->cfg->deliver, logset, topic))
        return api_fail(c, "InvalidParameterValue",
                        "LogConfig %s/%s: LogEnable needs a log sink with this LogsetId and "
                        "TopicId configured in berthd (log-sink = %s/%s URL), and there is none",
                        logset, topic, logset, topic);
    return 0;
}

static json_t *tags_value(const char *tags_json)
{
    json_t *t = json_loads(tags_json, 0, NULL);
    return t ? t : json_array();
}

/* A new reference to obj[key], or 'fallback' (a new reference) when absent. */
static json_t *copy_or(json_t *obj, const char *key, json_t *fallback)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return fallback;
    json_decref(fallback);
    return json_incref(v);
}

static json_t *service_json(struct api_call *c, const struct store_group *g,
                            const struct store_service *s, int latest, json_t **status_out)
{
    json_t *spec = json_loads(s->spec_json, 0, NULL);
    if (!spec)
        spec = json_object();
    struct ctl_status st;
    ctl_reconciler_status(c->cfg->reconciler, s->id, &st);
    const struct spec *sp = specs_find(json_string_value(json_object_get(spec, "InstanceType")));
    struct spec_request lim;
    json_t *info = json_object();
    json_object_set_new(info, "Replicas", json_integer(s->replicas));
    json_object_set_new(info, "OldReplicas", json_integer(s->old_replicas));
    json_object_set_new(info, "ImageInfo", copy_or(spec, "ImageInfo", json_null()));
    json_object_set_new(info, "Env", copy_or(spec, "Env", json_array()));
    json_object_set_new(info, "InstanceType", copy_or(spec, "InstanceType", json_string("")));
    if (sp)
        json_object_set_new(info, "InstanceAlias", json_string(sp->alias));
    if (ctl_limits_of_spec(s->spec_json, &lim) == 0) {
        json_object_set_new(info, "Resources",
                            json_pack("{s:I, s:I, s:I, s:s}", "Cpu", (json_int_t)lim.cpu_millicores,
                                      "Memory", (json_int_t)lim.memory_mib, "Gpu",
                                      (json_int_t)lim.gpu, "GpuType", lim.gpu_type));
        json_object_set_new(info, "ResourceTotal",
                            json_pack("{s:I, s:I, s:I}", "Cpu",
                                      (json_int_t)lim.cpu_millicores * s->replicas, "Memory",
                                      (json_int_t)lim.memory_mib * s->replicas, "Gpu",
                                      (json_int_t)lim.gpu * s->replicas));
    }
    if (json_is_string(json_object_get(spec, "ModelVersionId")) &&
        json_string_length(json_object_get(spec, "ModelVersionId")))
        json_object_set_new(info, "ModelInfo",
                            json_pack("{s:O, s:O, s:O, s:O, s:O, s:s}", "ModelVersionId",
                                      json_object_get(spec, "ModelVersionId"), "ModelId",
                                      json_object_get(spec, "ModelId"), "ModelName",
                                      json_object_get(spec, "ModelName"), "ModelVersion",
                                      json_object_get(spec, "ModelVersion"), "ModelFormat",
                                      json_object_get(spec, "ModelFormat"), "ModelType", "NORMAL"));
    else
        json_object_set_new(info, "ModelInfo", json_null());
    json_object_set_new(info, "Command", copy_or(spec, "Command", json_string("")));
    json_object_set_new(info, "ModelHotUpdateEnable",
                        copy_or(spec, "ModelHotUpdateEnable", json_false()));
    json_object_set_new(info, "VolumeMount", copy_or(spec, "VolumeMount", json_null()));
    json_object_set_new(info, "VolumeMounts", copy_or(spec, "VolumeMounts", json_null()));
    if (json_object_get(spec, "Image")) {
        json_object_set_new(info, "ServicePort", copy_or(spec, "ServicePort", json_integer(8501)));
        json_object_set_new(info, "PreStopCommand", copy_or(spec, "PreStopCommand", json_null()));
    }
    json_object_set_new(info, "HealthProbe", copy_or(spec, "HealthProbe", json_null()));
    json_int_t grace_ms = json_integer_value(json_object_get(spec, "GraceMs"));
    json_object_set_new(info, "TerminationGracePeriodSeconds",
                        json_integer(grace_ms ? grace_ms / 1000 : 30));
    /* A Berth extension, as given on Create or Modify; null: the gateway's default. */
    json_int_t timeout_ms = json_integer_value(json_object_get(spec, "RequestTimeoutMs"));
    json_object_set_new(info, "RequestTimeoutSeconds",
                        timeout_ms ? json_integer(timeout_ms / 1000) : json_null());
    api_scaling_show(info, spec, MAX_REPLICAS);
    json_object_set_new(info, "ServiceLimit", copy_or(spec, "ServiceLimit", json_null()));
    json_object_set_new(info, "ScheduledAction", copy_or(spec, "ScheduledAction", json_null()));
    json_object_set_new(info, "LogEnable", copy_or(spec, "LogEnable", json_false()));
    json_object_set_new(info, "LogConfig", copy_or(spec, "LogConfig", json_null()));
    json_object_set_new(info, "AuthorizationEnable", json_boolean(g->auth_enable));
    json_object_set_new(info, "Weight", json_integer(s->weight));
    json_t *pods = json_array();
    for (size_t i = 0; i < st.npods; i++) {
        const struct ctl_pod *p = &st.pods[i];
        json_t *pod = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:{s:i, s:s, s:b, s:s, s:s}}]}", "Name",
            p->name, "Phase", p->phase, "Status", p->phase, "IP", p->address, "CreateTime",
            p->start_time, "ContainerInfos", "Name", "main", "ContainerId", p->name, "Status",
            "RestartCount", p->restarts, "State", p->ready ? "running" : "waiting", "Ready",
            p->ready, "Reason", "", "Message", "");
        /* What the instance uses now (Cpu in 1/1000 core, Memory in MB), sampled every 2 s. */
        json_object_set_new(
            pod, "ResourceInfo",
            p->usage_known ? json_pack("{s:I, s:I}", "Cpu", (json_int_t)(p->cpu_cores * 1000 + 0.5),
                                       "Memory", (json_int_t)((p->memory_bytes + (1 << 19)) >> 20))
                           : json_null());
        json_array_append_new(pods, pod);
    }
    json_object_set_new(info, "PodInfos", pods);
    json_t *workload = json_pack(
        "{s:i, s:i, s:i, s:i, s:i, s:s, s:s}", "Replicas", st.replicas, "UpdatedReplicas",
        st.updated, "ReadyReplicas", st.ready, "AvailableReplicas", st.ready, "UnavailableReplicas",
        s->replicas > st.ready ? s->replicas - st.ready : 0, "Status",
        strcmp(st.status, "CREATING") == 0 || strcmp(st.status, "CREATE_FAILED") == 0 ? "Pending"
                                                                                      : st.status,
        "Reason", st.reason);
    json_object_set_new(info, "Status", workload);

    char version[16], latest_s[16];
    snprintf(version, sizeof(version), "%d", s->version);
    snprintf(latest_s, sizeof(latest_s), "%d", latest);
    const char *business = strcmp(st.status, "CREATE_FAILED") == 0 ? "CREATE_FAILED"
                           : strcmp(st.status, "CREATING") == 0    ? "CREATING"
                                                                   : "CREATE_SUCCEED";
    json_t *o = json_object();
    json_object_set_new(o, "ServiceGroupId", json_string(g->id));
    json_object_set_new(o, "ServiceId", json_string(s->id));
    json_object_set_new(o, "ServiceGroupName", json_string(g->name));
    json_object_set_new(o, "ServiceDescription", json_string(s->description));
    json_object_set_new(o, "ServiceInfo", info);
    json_object_set_new(o, "ClusterId", json_string(""));
    json_object_set_new(o, "Region", json_string(s->region));
    json_object_set_new(o, "Namespace", json_string(""));
    json_object_set_new(o, "ChargeType", json_string(g->charge_type));
    json_object_set_new(o, "ResourceGroupId", json_string(""));
    json_object_set_new(o, "Tags", tags_value(g->tags_json));
    json_object_set_new(o, "CreatedBy", json_string(""));
    json_object_set_new(o, "CreateTime", json_string(s->created_at));
    json_object_set_new(o, "UpdateTime", json_string(s->updated_at));
    json_object_set_new(o, "BusinessStatus", json_string(business));
    json_object_set_new(o, "CreateFailedReason",
                        json_string(strcmp(business, "CREATE_FAILED") == 0 ? st.reason : business));
    json_object_set_new(o, "Status", json_string(st.status));
    json_object_set_new(o, "Weight", json_integer(s->weight));
    json_object_set_new(o, "CreateSource", copy_or(spec, "CreateSource", json_string("DEFAULT")));
    json_object_set_new(o, "Version", json_string(version));
    json_object_set_new(o, "LatestVersion", json_string(latest_s));
    json_object_set_new(o, "DeployType", json_string("STANDARD"));
    json_object_set_new(o, "InstancePerReplicas", json_string("1"));
    api_billing_show(c, s, o);
    if (status_out)
        *status_out = json_pack("{s:s, s:i, s:i}", "Status", st.status, "Ready", st.ready,
                                "Replicas", s->replicas);
    free(st.pods);
    json_decref(spec);
    return o;
}

/* The billing side of a group (§4.1 ServiceGroup: CREATING, CREATE_FAILED,
 * ARREARS_STOP, BILLING, ...). A group with nothing running bills nothing:
 * TI-ONE answers "" for a stopped group (§5.2, whose versions say
 * CREATE_SUCCEED); the *_STOP values mean stopped for arrears or quota,
 * which Berth does not do. */
static const char *group_business_status(const char *group_status)
{
    if (strcmp(group_status, "CREATE_FAILED") == 0 || strcmp(group_status, "CREATING") == 0)
        return group_status;
    if (strcmp(group_status, "Stopped") == 0)
        return "";
    return "BILLING";
}

/* The group with its versions; NULL with the call's error on failure. */
static json_t *group_json(struct api_call *c, const struct store_group *g)
{
    struct store_service *svcs;
    size_t n;
    struct err err = {0};
    if (store_service_list(c->cfg->store, g->id, &svcs, &n, &err) != 0) {
        api_fail_store(c, &err);
        return NULL;
    }
    int latest = 0, running = 0, ready = 0, desired = 0;
    for (size_t i = 0; i < n; i++)
        latest = svcs[i].version > latest ? svcs[i].version : latest;
    json_t *list = json_array();
    const char *group_status = n ? NULL : "Stopped";
    static const char *const rank[] = {"CREATE_FAILED", "Abnormal", "CREATING", "Pending",
                                       "Waiting",       "Stopping", "Normal",   "Stopped"};
    int best = 8;
    bool arrears = false;
    for (size_t i = 0; i < n; i++) {
        json_t *st = NULL;
        json_array_append_new(list, service_json(c, g, &svcs[i], latest, &st));
        arrears |=
            strcmp(json_string_value(json_object_get(json_array_get(list, i), "BusinessStatus")),
                   "ARREARS_STOP") == 0;
        const char *s = json_string_value(json_object_get(st, "Status"));
        running += strcmp(s, "Normal") == 0;
        ready += (int)json_integer_value(json_object_get(st, "Ready"));
        desired += (int)json_integer_value(json_object_get(st, "Replicas"));
        for (int k = 0; k < 8; k++)
            if (strcmp(rank[k], s) == 0 && k < best)
                best = k;
        json_decref(st);
        store_service_release(&svcs[i]);
    }
    free(svcs);
    if (!group_status)
        group_status = best < 8 ? rank[best] : "Pending";
    char latest_s[16];
    snprintf(latest_s, sizeof(latest_s), "%d", latest);
    json_t *o = json_object();
    json_object_set_new(o, "ServiceGroupId", json_string(g->id));
    json_object_set_new(o, "ServiceGroupName", json_string(g->name));
    json_object_set_new(o, "CreatedBy", json_string(""));
    json_object_set_new(o, "CreateTime", json_string(g->created_at));
    json_object_set_new(o, "UpdateTime", json_string(g->updated_at));
    json_object_set_new(o, "ServiceCount", json_integer((json_int_t)n));
    json_object_set_new(o, "RunningServiceCount", json_integer(running));
    json_object_set_new(o, "Services", list);
    json_object_set_new(o, "Status", json_string(group_status));
    json_object_set_new(o, "Tags", tags_value(g->tags_json));
    json_object_set_new(o, "LatestVersion", json_string(latest_s));
    json_object_set_new(o, "BusinessStatus",
                        json_string(arrears && strcmp(group_status, "Stopped") == 0
                                        ? "ARREARS_STOP"
                                        : group_business_status(group_status)));
    json_object_set_new(o, "CreateSource", json_string("DEFAULT"));
    json_object_set_new(o, "WeightUpdateStatus", json_string("UPDATED"));
    json_object_set_new(o, "ReplicasCount", json_integer(ready));
    json_object_set_new(o, "AvailableReplicasCount", json_integer(desired));
    json_object_set_new(o, "AuthorizationEnable", json_boolean(g->auth_enable));
    json_t *tokens;
    if (api_group_tokens(c, g, &tokens, NULL)) {
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "AuthTokens", tokens);
    return o;
}

/* ------------------------------------------------------------------------ */
/* Create                                                                   */

/* What runs and how, from the request fields that describe it, applied over
 * 'spec' (empty for a new version, the current spec for a modification):
 * ModelInfo or Command/CommandBase64, ImageInfo, Env, InstanceType,
 * HealthProbe, TerminationGracePeriodSeconds, and the scaling and placement
 * fields Berth checks but has one choice for. Fields not given stay as they
 * are; a new version must say what runs and on which InstanceType.
 * *model_version_id is set when the model changes. */
static int apply_runtime(struct api_call *c, const json_t *p, json_t *spec, bool creating,
                         char **model_version_id)
{
    const char *itype, *deploy, *strategy;
    long long per_replica = 1, grace_s = 0, request_timeout_s = 0;
    char *command = NULL;
    *model_version_id = NULL;
    if (api_get_str(c, p, "InstanceType", false, &itype) ||
        api_get_str(c, p, "DeployType", false, &deploy) ||
        api_get_str(c, p, "SchedulingStrategy", false, &strategy) ||
        api_get_int(c, p, "InstancePerReplicas", false, 1, 1, &per_replica) ||
        api_get_int(c, p, "TerminationGracePeriodSeconds", false, 1, 3600, &grace_s) ||
        api_get_int(c, p, "RequestTimeoutSeconds", false, 1, 3600, &request_timeout_s) ||
        check_env(c, json_object_get(p, "Env")) || read_command(c, &command))
        return -1;
    int rc = -1;
    const json_t *model = json_object_get(p, "ModelInfo");
    const struct spec *sp = NULL;
    if (deploy && strcmp(deploy, "STANDARD") != 0) {
        api_fail(c, "UnsupportedOperation", "DeployType %s: only STANDARD is supported", deploy);
        goto out;
    }
    if (strategy && strcmp(strategy, "binpack") != 0) {
        /* One machine holds every instance: binpack is what happens, spread cannot. */
        if (strcmp(strategy, "spread") == 0)
            api_fail(c, "UnsupportedOperation",
                     "SchedulingStrategy spread: Berth runs every instance on one machine, so it "
                     "cannot spread them over nodes; use binpack or omit it");
        else
            api_fail(c, "InvalidParameterValue",
                     "SchedulingStrategy must be binpack or spread, got '%s'", strategy);
        goto out;
    }
    if (!itype && creating && !api_present(json_object_get(p, "Resources")) &&
        strcmp(json_string_value(json_object_get(spec, "ChargeType")) ?: "", "PREPAID") != 0) {
        api_fail(c, "MissingParameter",
                 "InstanceType is required for POSTPAID_BY_HOUR, e.g. TI.S.MEDIUM.POST");
        goto out;
    }
    if (itype && !(sp = specs_find(itype))) {
        api_fail(c, "InvalidParameterValue",
                 "InstanceType '%s' is not in the catalogue (DescribeBillingSpecs lists it: "
                 "TI.S.MEDIUM.POST, TI.S.LARGE.POST, ...)",
                 itype);
        goto out;
    }
    if (api_read_resources(c, p, sp, spec, creating))
        goto out;
    if (api_present(model) && command) {
        api_fail(c, "UnsupportedOperation",
                 "give either ModelInfo (the built-in runtime serves it) or Command, not both");
        goto out;
    }
    bool custom = api_image_custom(json_object_get(p, "ImageInfo"));
    if (creating && !api_present(model) && !command && !custom) {
        api_fail(c, "MissingParameter",
                 "what runs is missing: give ModelInfo.ModelVersionId, Command or ImageInfo");
        goto out;
    }
    if (api_present(model)) {
        if (resolve_model(c, model, spec, model_version_id))
            goto out;
        json_object_del(spec, "Command");
    } else if (command) {
        static const char *const model_keys[] = {
            "ModelVersionId", "ModelId",   "ModelName", "ModelVersion",
            "ModelFormat",    "ModelPath", NULL};
        for (const char *const *k = model_keys; *k; k++)
            json_object_del(spec, *k);
        json_object_set_new(spec, "Kind", json_string("command"));
        json_object_set_new(spec, "Command", json_string(command));
        *model_version_id = xstrdup("");
    }
    bool model_kind = strcmp(json_string_value(json_object_get(spec, "Kind")) ?: "", "model") == 0;
    int image = api_container_apply(c, p, spec, api_present(model), command != NULL);
    if (image < 0 || (!image && check_image(c, json_object_get(p, "ImageInfo"), model_kind)))
        goto out;
    if (!image && api_present(json_object_get(p, "ImageInfo")))
        json_object_set(spec, "ImageInfo", json_object_get(p, "ImageInfo"));
    else if (!image && !model_kind)
        json_object_del(spec, "ImageInfo"); /* a built-in image does not run commands */
    if (sp) {
        json_object_set_new(spec, "InstanceType", json_string(sp->name));
        json_object_set_new(spec, "Cpu",
                            sp->cpu_millicores % 1000 ? json_real(sp->cpu_millicores / 1000.0)
                                                      : json_integer(sp->cpu_millicores / 1000));
        json_object_set_new(spec, "Memory", json_integer(sp->memory_mib));
    }
    if (json_is_array(json_object_get(p, "Env")))
        json_object_set(spec, "Env", json_object_get(p, "Env"));
    else if (creating)
        json_object_set_new(spec, "Env", json_array());
    if (read_health_probe(c, json_object_get(p, "HealthProbe"), spec))
        goto out;
    if (grace_s)
        json_object_set_new(spec, "GraceMs", json_integer((json_int_t)grace_s * 1000));
    else if (creating)
        json_object_set_new(spec, "GraceMs", json_integer(30000));
    if (request_timeout_s)
        json_object_set_new(spec, "RequestTimeoutMs",
                            json_integer((json_int_t)request_timeout_s * 1000));
    if (read_service_limit(c, json_object_get(p, "ServiceLimit"), spec) ||
        read_log_delivery(c, p, spec) || api_volumes_read(c, p, spec) ||
        api_hotupdate_read(c, p, spec) || read_scheduled_action(c, p, spec))
        goto out;
    rc = 0;
out:
    if (rc) {
        free(*model_version_id);
        *model_version_id = NULL;
    }
    free(command);
    return rc;
}

/* What a cluster cannot run as asked, refused before it is stored: an HPA
 * that mixes the cluster's metrics (CPU, memory) with Berth's, or asks the
 * cluster's autoscaler for 0 replicas (kube_objects.h). */
static int cluster_check(struct api_call *c, const json_t *spec)
{
    if (!c->cfg->kube || strcmp(json_string_value(json_object_get(spec, "Kind")) ?: "", "image"))
        return 0;
    struct kube_version v = {.service_id = "ms-check-1"};
    struct err err = {0};
    json_t *hpa = kube_hpa(&v, spec, "autoscaling/v2", &err);
    json_decref(hpa);
    return err.msg[0] ? api_fail(c, "UnsupportedOperation", "%s", err.msg) : 0;
}

int api_create_model_service(struct api_call *c)
{
    const json_t *p = c->params;
    const char *group_id, *group_name, *desc, *charge, *source;
    long long replicas = 1;
    bool new_version = false, auth = false;
    char *model_version_id = NULL;
    if (api_check_fields(c, p, NULL, create_fields) ||
        api_get_bool(c, p, "AuthorizationEnable", &auth) ||
        api_get_str(c, p, "ServiceGroupId", false, &group_id) ||
        api_get_str(c, p, "ServiceGroupName", false, &group_name) ||
        api_get_str(c, p, "ServiceDescription", false, &desc) ||
        api_get_str(c, p, "ChargeType", false, &charge) ||
        api_get_str(c, p, "CreateSource", false, &source) ||
        api_get_int(c, p, "Replicas", false, 0, MAX_REPLICAS, &replicas) ||
        api_get_bool(c, p, "NewVersion", &new_version))
        return -1;
    struct api_scaling *sc = xmalloc(sizeof(*sc));
    struct ctl_cron_state cron = {0};
    if (api_scaling_request(c, p, MAX_REPLICAS, sc)) {
        free(sc);
        return -1;
    }
    if (sc->strategy == API_SCALE_MANUAL && replicas < 1) {
        free(sc);
        return manual_needs_a_replica(c);
    }
    if (sc->strategy == API_SCALE_CRON)
        replicas = ctl_cronscale_count(c->cfg->cronscale, sc, &cron);
    else if (sc->strategy == API_SCALE_HPA)
        replicas = sc->replicas;
    int rc = -1;
    json_t *spec = json_object();
    if (charge && strcmp(charge, "POSTPAID_BY_HOUR") != 0 && strcmp(charge, "PREPAID") != 0 &&
        strcmp(charge, "HYBRID_PAID") != 0) {
        api_fail(c, "InvalidParameterValue",
                 "ChargeType must be POSTPAID_BY_HOUR, PREPAID or HYBRID_PAID, got '%s'", charge);
        goto out;
    }
    json_object_set_new(spec, "ChargeType", json_string(charge ? charge : "POSTPAID_BY_HOUR"));
    if (source && strcmp(source, "DEFAULT") && strcmp(source, "AUTO_ML") &&
        strcmp(source, "AUTO_ML_FORMAL")) {
        api_fail(c, "InvalidParameterValue",
                 "CreateSource must be DEFAULT, AUTO_ML or AUTO_ML_FORMAL, got '%s'", source);
        goto out;
    }
    if (apply_runtime(c, p, spec, true, &model_version_id))
        goto out;
    json_object_set_new(spec, "CreateSource", json_string(source ? source : "DEFAULT"));
    api_scaling_put(spec, sc);
    if (cluster_check(c, spec))
        goto out;

    struct store_group g = {0};
    struct err err = {0};
    char now[32];
    api_now(now);
    bool new_group = !group_id;
    if (new_group) {
        if (new_version) {
            api_fail(c, "MissingParameter", "NewVersion needs ServiceGroupId");
            goto out;
        }
        if (!group_name) {
            api_fail(c, "MissingParameter", "ServiceGroupName is required for a new service group");
            goto out;
        }
        if (!valid_group_name(group_name)) {
            api_fail(c, "InvalidParameterValue",
                     "ServiceGroupName '%s' must be at most 60 characters of letters, digits, "
                     "'_' and '-', starting with a letter or digit",
                     group_name);
            goto out;
        }
        if (api_check_tags(c, json_object_get(p, "Tags")))
            goto out;
        char suffix[9];
        crypto_random_string("abcdefghijklmnopqrstuvwxyz0123456789", 8, suffix);
        g.id = xasprintf("ms-%s", suffix);
        g.region = xstrdup(c->region);
        g.name = xstrdup(group_name);
        g.tags_json = json_is_array(json_object_get(p, "Tags"))
                          ? json_dumps(json_object_get(p, "Tags"), JSON_COMPACT)
                          : xstrdup("[]");
        g.charge_type = xstrdup(charge ? charge : "POSTPAID_BY_HOUR");
        g.auth_enable = auth;
        api_key_pair_make(c->cfg, g.id, &g.app_key, &g.app_secret);
        g.created_at = xstrdup(now);
    } else {
        if (!new_version) {
            api_fail(c, "InvalidParameterValue",
                     "ServiceGroupId is given: set NewVersion to true to add a version to it");
            goto out;
        }
        if (api_present(json_object_get(p, "Tags"))) {
            api_fail(c, "InvalidParameterValue",
                     "Tags belong to the group; set them when "
                     "creating it");
            goto out;
        }
        if (store_group_get(c->cfg->store, c->region, group_id, &g, &err) != 0) {
            api_fail_store(c, &err);
            goto out;
        }
        if (group_name && strcmp(group_name, g.name) != 0) {
            api_fail(c, "InvalidParameterValue",
                     "ServiceGroupName '%s' is not the name of %s ('%s')", group_name, g.id,
                     g.name);
            store_group_release(&g);
            goto out;
        }
        if (auth && !g.auth_enable) {
            api_fail(c, "InvalidParameterValue",
                     "AuthorizationEnable belongs to the group and %s has it off; turn it on "
                     "with ModifyModelServiceAuthorization",
                     g.id);
            store_group_release(&g);
            goto out;
        }
        free(g.created_at);
        g.created_at = xstrdup(now);
    }
    if (api_billing_precheck(c, spec, (int)replicas) ||
        api_prepaid_read(c, json_string_value(json_object_get(spec, "ChargeType")),
                         new_group ? NULL : g.charge_type, spec, (int)replicas)) {
        store_group_release(&g);
        goto out;
    }
    char *spec_text = json_dumps(spec, JSON_COMPACT | JSON_PRESERVE_ORDER);
    struct store_service s = {
        .description = (char *)(desc ? desc : ""),
        .spec_json = spec_text,
        .model_version_id = model_version_id ? model_version_id : (char *)"",
        .replicas = (int)replicas,
        .weight = new_group ? 100 : 0,
        .created_at = now,
    };
    struct store_token token = {0};
    if (new_group && auth)
        api_token_make(c->cfg, "default", "", &token);
    int created = store_service_create(c->cfg->store, &g, new_group,
                                       new_group && auth ? &token : NULL, &s, &err);
    api_prepaid_done();
    store_token_release(&token);
    if (created != 0) {
        api_fail_store(c, &err);
    } else {
        ctl_event_version(c->cfg->store, c->region, s.id, CTL_EVENT_NORMAL, "Created",
                          "Created with %d replica%s%s", s.replicas, s.replicas == 1 ? "" : "s",
                          new_group ? " in a new service group" : "");
        api_billing_begin(c, g.tags_json, g.id, s.id, spec, s.replicas);
        if (sc->strategy == API_SCALE_CRON) {
            ctl_cronscale_event(c->cfg->cronscale, c->cfg->store, c->region, s.id, sc, &cron, -1);
            ctl_cronscale_kick(c->cfg->cronscale);
        }
        ctl_reconciler_kick(c->cfg->reconciler);
        ctl_schedstop_kick(c->cfg->schedstop);
        struct store_service back;
        if (store_service_get(c->cfg->store, c->region, s.id, &back, &err) == 0) {
            json_object_set_new(c->out, "Service", service_json(c, &g, &back, back.version, NULL));
            store_service_release(&back);
            rc = 0;
        } else {
            api_fail_store(c, &err);
        }
    }
    free(s.id);
    free(spec_text);
    store_group_release(&g);
out:
    json_decref(spec);
    free(model_version_id);
    free(sc);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Describe                                                                 */

/* The request of an action that takes one id ('key') and the workspace
 * fields TI-ONE accepts everywhere (cloud-only, ignored). */
static int read_id_only(struct api_call *c, const char *key, const char **id)
{
    const struct api_field fields[] = {{key, API_FIELD_USED},
                                       {"TiProjectId", API_FIELD_IGNORED},
                                       {"ServiceCategory", API_FIELD_IGNORED},
                                       {NULL, API_FIELD_USED}};
    return api_check_fields(c, c->params, NULL, fields) || api_get_str(c, c->params, key, true, id)
               ? -1
               : 0;
}

/* The group 'params' names in ServiceGroupId, already checked; the caller
 * releases it. */
static int read_group_by_id(struct api_call *c, const json_t *params, struct store_group *g)
{
    struct err err = {0};
    const char *id = json_string_value(json_object_get(params, "ServiceGroupId"));
    if (store_group_get(c->cfg->store, c->region, id ? id : "", g, &err) != 0)
        return api_fail_store(c, &err);
    return 0;
}

/* The group a request names in ServiceGroupId (its only field); the caller
 * releases it. */
static int read_group(struct api_call *c, struct store_group *g)
{
    const char *id;
    struct err err = {0};
    if (read_id_only(c, "ServiceGroupId", &id))
        return -1;
    if (store_group_get(c->cfg->store, c->region, id, g, &err) != 0)
        return api_fail_store(c, &err);
    return 0;
}

int api_describe_model_service(struct api_call *c)
{
    const char *id;
    if (read_id_only(c, "ServiceId", &id))
        return -1;
    struct store_service s;
    struct store_group g;
    struct err err = {0};
    if (store_service_get(c->cfg->store, c->region, id, &s, &err) != 0)
        return api_fail_store(c, &err);
    int rc = store_group_get(c->cfg->store, c->region, s.group_id, &g, &err);
    if (rc == 0) {
        struct store_service *all;
        size_t n;
        int latest = s.version;
        if (store_service_list(c->cfg->store, g.id, &all, &n, &err) == 0) {
            for (size_t i = 0; i < n; i++) {
                latest = all[i].version > latest ? all[i].version : latest;
                store_service_release(&all[i]);
            }
            free(all);
        }
        json_object_set_new(c->out, "Service", service_json(c, &g, &s, latest, NULL));
        store_group_release(&g);
    }
    store_service_release(&s);
    return rc ? api_fail_store(c, &err) : 0;
}

int api_describe_model_service_group(struct api_call *c)
{
    struct store_group g;
    if (read_group(c, &g))
        return -1;
    json_t *o = group_json(c, &g);
    store_group_release(&g);
    if (!o)
        return -1;
    json_object_set_new(c->out, "ServiceGroup", o);
    return 0;
}

static bool group_matches(const json_t *group, const struct api_filter *fs, size_t nf)
{
    for (size_t i = 0; i < nf; i++) {
        const char *name = fs[i].name;
        bool hit = false;
        if (strcmp(name, "ServiceGroupId") == 0 || strcmp(name, "ServiceGroupName") == 0 ||
            strcmp(name, "Status") == 0 || strcmp(name, "CreatedBy") == 0) {
            const char *v = json_string_value(json_object_get(group, name));
            hit = api_filter_match(&fs[i], v ? v : "");
        } else { /* ServiceId, ModelVersionId, ClusterId: any version matches */
            size_t k;
            const json_t *svc;
            json_array_foreach(json_object_get(group, "Services"), k, svc)
            {
                const json_t *v =
                    strcmp(name, "ServiceId") == 0 ? json_object_get(svc, "ServiceId")
                    : strcmp(name, "ClusterId") == 0
                        ? json_object_get(svc, "ClusterId")
                        : json_object_get(
                              json_object_get(json_object_get(svc, "ServiceInfo"), "ModelInfo"),
                              "ModelVersionId");
                hit |= api_filter_match(&fs[i], json_string_value(v) ? json_string_value(v) : "");
            }
        }
        if (!hit)
            return false;
    }
    return true;
}

int api_describe_model_service_groups(struct api_call *c)
{
    static const struct api_field fields[] = {{"Offset", API_FIELD_USED},
                                              {"Limit", API_FIELD_USED},
                                              {"Order", API_FIELD_USED},
                                              {"OrderField", API_FIELD_USED},
                                              {"Filters", API_FIELD_USED},
                                              {"TagFilters", API_FIELD_USED},
                                              {"TiProjectId", API_FIELD_IGNORED},
                                              {"ServiceCategory", API_FIELD_IGNORED},
                                              {NULL, API_FIELD_USED}};
    static const char *const allowed[] = {"ClusterId",      "ServiceId", "ServiceGroupName",
                                          "ServiceGroupId", "Status",    "CreatedBy",
                                          "ModelVersionId", NULL};
    const char *order, *order_field;
    long long offset = 0, limit = 20;
    struct api_filter fs[10];
    size_t nf;
    const json_t *tag_filters = json_object_get(c->params, "TagFilters");
    if (api_check_fields(c, c->params, NULL, fields) ||
        api_get_int(c, c->params, "Offset", false, 0, 1LL << 40, &offset) ||
        api_get_int(c, c->params, "Limit", false, 1, 100, &limit) ||
        api_get_str(c, c->params, "Order", false, &order) ||
        api_get_str(c, c->params, "OrderField", false, &order_field) ||
        api_read_filters(c, allowed, fs, &nf) || api_check_tag_filters(c, tag_filters))
        return -1;
    if (order && strcmp(order, "ASC") != 0 && strcmp(order, "DESC") != 0)
        return api_fail(c, "InvalidParameterValue", "Order must be ASC or DESC, got '%s'", order);
    if (order_field && strcmp(order_field, "CreateTime") != 0 &&
        strcmp(order_field, "UpdateTime") != 0)
        return api_fail(c, "InvalidParameterValue", "OrderField must be CreateTime or UpdateTime");
    bool desc = !order || strcmp(order, "DESC") == 0;
    bool by_update = order_field && strcmp(order_field, "UpdateTime") == 0;
    struct store_group *gs;
    size_t n;
    struct err err = {0};
    if (store_group_list(c->cfg->store, c->region, &gs, &n, &err) != 0)
        return api_fail_store(c, &err);
    /* Sort by the chosen time; the store gives creation order, and times are
     * to the second, so groups of the same second keep creation order with
     * ASC and come newest first with DESC. */
    for (size_t i = 1; i < n; i++) {
        for (size_t k = i; k > 0; k--) {
            const char *a = by_update ? gs[k - 1].updated_at : gs[k - 1].created_at;
            const char *b = by_update ? gs[k].updated_at : gs[k].created_at;
            int cmp = strcmp(a, b);
            if (desc ? cmp > 0 : cmp <= 0)
                break;
            struct store_group t = gs[k - 1];
            gs[k - 1] = gs[k];
            gs[k] = t;
        }
    }
    json_t *list = json_array();
    size_t total = 0, visible = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        bool seen = api_authz_visible(c, "service-group", gs[i].id, gs[i].tags_json);
        visible += seen;
        if (rc == 0 && seen &&
            (!api_present(tag_filters) || api_tags_match(gs[i].tags_json, tag_filters))) {
            json_t *o = group_json(c, &gs[i]);
            if (!o)
                rc = -1;
            else if (group_matches(o, fs, nf)) {
                if (total >= (size_t)offset && json_array_size(list) < (size_t)limit)
                    json_array_append(list, o);
                total++;
            }
            json_decref(o);
        }
        store_group_release(&gs[i]);
    }
    free(gs);
    if (rc) {
        json_decref(list);
        return -1;
    }
    json_object_set_new(c->out, "TotalCount", json_integer((json_int_t)total));
    json_object_set_new(c->out, "ServiceGroups", list);
    json_object_set_new(c->out, "GlobalTotalCount", json_integer((json_int_t)visible));
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Modify and delete                                                        */

static const struct api_field modify_fields[] = {
    {"ServiceId", API_FIELD_USED},
    {"ServiceAction", API_FIELD_USED},
    {"ServiceDescription", API_FIELD_USED},
    {"ModelInfo", API_FIELD_USED},
    {"ImageInfo", API_FIELD_USED},
    {"Env", API_FIELD_USED},
    {"InstanceType", API_FIELD_USED},
    {"ScaleMode", API_FIELD_USED},
    {"Replicas", API_FIELD_USED},
    {"Command", API_FIELD_USED},
    {"CommandBase64", API_FIELD_USED},
    {"InstancePerReplicas", API_FIELD_USED},
    {"TerminationGracePeriodSeconds", API_FIELD_USED},
    {"HealthProbe", API_FIELD_USED},
    {"RequestTimeoutSeconds", API_FIELD_USED}, /* a Berth extension */
    {"SchedulingStrategy", API_FIELD_USED},
    {"TiProjectId", API_FIELD_IGNORED},
    {"LogConfig", API_FIELD_USED},
    {"ServiceEIP", API_FIELD_IGNORED},
    {"ResourceGroupId", API_FIELD_UNSUPPORTED},
    {"TargetProjectId", API_FIELD_UNSUPPORTED},
    {"Resources", API_FIELD_USED},
    {"HorizontalPodAutoscaler", API_FIELD_USED},
    {"LogEnable", API_FIELD_USED},
    {"ScaleStrategy", API_FIELD_USED},
    {"CronScaleJobs", API_FIELD_USED},
    {"HybridBillingPrepaidReplicas", API_FIELD_UNSUPPORTED},
    {"ModelHotUpdateEnable", API_FIELD_USED},
    {"ScheduledAction", API_FIELD_USED},
    {"ServiceLimit", API_FIELD_USED},
    {"VolumeMount", API_FIELD_USED},
    {"ModelTurboEnable", API_FIELD_UNSUPPORTED},
    {"ServicePort", API_FIELD_USED},
    {"PreStopCommand", API_FIELD_USED},
    {"GrpcEnable", API_FIELD_UNSUPPORTED},
    {"RollingUpdate", API_FIELD_UNSUPPORTED},
    {"Sidecar", API_FIELD_UNSUPPORTED},
    {"VolumeMounts", API_FIELD_USED},
    {NULL, API_FIELD_USED},
};

/* The count of a version that Modify switches to MANUAL without Replicas:
 * what it runs now; -1 keeps a stopped one stopped. */
static int manual_count(struct api_call *c, const struct store_service *s, long long *replicas)
{
    if (*replicas >= 0 || s->stopped)
        return 0;
    if (s->replicas < 1)
        return api_fail(c, "MissingParameter",
                        "Replicas is required with ScaleMode MANUAL here: %s runs 0 instances now",
                        s->id);
    *replicas = s->replicas;
    return 0;
}

/* The count of a version that Modify switches to (or keeps at) HPA:
 * Replicas if given, else what it runs now within MinReplicas..MaxReplicas. */
static long long hpa_count(const json_t *p, const struct api_scaling *sc,
                           const struct store_service *s)
{
    if (api_present(json_object_get(p, "Replicas")))
        return sc->replicas;
    long long n = s->replicas;
    if (n < sc->hpa.min_replicas)
        n = sc->hpa.min_replicas;
    if (n > sc->hpa.max_replicas)
        n = sc->hpa.max_replicas;
    return n;
}

/* Without ServiceAction: change what a version runs. The fields given
 * replace the current ones, the others stay (the scaling fields as
 * api_scaling_modify() says); the reconciler then replaces the instances one at
 * a time while the rest stay ready. A change of scaling alone restarts
 * nothing. */
static int modify_config(struct api_call *c, const char *id)
{
    const json_t *p = c->params;
    const char *desc;
    long long replicas = -1;
    if (api_check_fields(c, p, NULL, modify_fields) ||
        api_get_str(c, p, "ServiceDescription", false, &desc) ||
        api_get_int(c, p, "Replicas", false, 0, MAX_REPLICAS, &replicas))
        return -1;
    struct store_service s;
    struct err err = {0};
    if (store_service_get(c->cfg->store, c->region, id, &s, &err) != 0)
        return api_fail_store(c, &err);
    json_t *spec = json_loads(s.spec_json, 0, NULL);
    if (!spec)
        spec = json_object();
    char *model_version_id = NULL;
    struct api_scaling *sc = xmalloc(sizeof(*sc));
    struct ctl_cron_state cron = {0};
    bool scaling = false;
    long long cron_count = -1; /* written apart: an update to 0 would mean STOP */
    int rc = api_scaling_modify(c, p, spec, MAX_REPLICAS, sc, &scaling);
    if (rc == 0 && scaling && sc->strategy == API_SCALE_MANUAL)
        rc = replicas == 0 ? manual_needs_a_replica(c) : manual_count(c, &s, &replicas);
    if (rc == 0 && scaling && sc->strategy == API_SCALE_CRON) {
        replicas = -1;
        cron_count = s.stopped ? -1 : ctl_cronscale_count(c->cfg->cronscale, sc, &cron);
    }
    if (rc == 0 && scaling && sc->strategy == API_SCALE_HPA) {
        replicas = -1;
        cron_count = s.stopped ? -1 : hpa_count(p, sc, &s);
    }
    if (rc == 0)
        rc = apply_runtime(c, p, spec, false, &model_version_id);
    if (rc == 0 && scaling)
        api_scaling_put(spec, sc);
    if (rc == 0)
        rc = cluster_check(c, spec);
    if (rc == 0)
        rc = api_prepaid_modify(c, &s, spec, replicas);
    if (rc == 0) {
        char *text = json_dumps(spec, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (store_service_update(c->cfg->store, id, text, model_version_id, desc, (int)replicas,
                                 &err) != 0)
            rc = api_fail_store(c, &err);
        else if (cron_count >= 0 && cron_count != s.replicas) {
            if (store_service_set_replicas(c->cfg->store, id, (int)cron_count, s.old_replicas,
                                           false, &err) != 0)
                rc = api_fail_store(c, &err);
            else if (sc->strategy == API_SCALE_CRON)
                ctl_cronscale_event(c->cfg->cronscale, c->cfg->store, c->region, id, sc, &cron,
                                    s.replicas);
        }
        free(text);
    }
    api_prepaid_done();
    json_decref(spec);
    free(model_version_id);
    free(sc);
    store_service_release(&s);
    return rc;
}

/* SCALE on a CRON version: refused unless ScaleMode MANUAL says to leave
 * the schedule, which then switches it to MANUAL (the jobs are dropped). */
static int scale_to_manual(struct api_call *c, const struct store_service *s, bool manual_given,
                           struct err *err)
{
    json_t *spec = json_loads(s->spec_json, 0, NULL);
    const char *strategy = json_string_value(json_object_get(spec, "ScaleStrategy"));
    int rc = 0;
    bool hpa = strategy && strcmp(strategy, "HPA") == 0;
    if (strategy && (strcmp(strategy, "CRON") == 0 || hpa)) {
        if (!manual_given) {
            rc = api_fail(c, "UnsupportedOperation",
                          "%s scales by its %s (ScaleMode AUTO, ScaleStrategy %s): "
                          "give ScaleMode MANUAL with SCALE to leave it and run "
                          "Replicas, or change it with ModifyModelService",
                          s->id, hpa ? "HorizontalPodAutoscaler" : "CronScaleJobs", strategy);
        } else {
            struct api_scaling manual = {.strategy = API_SCALE_MANUAL, .replicas = -1};
            api_scaling_put(spec, &manual);
            char *text = json_dumps(spec, JSON_COMPACT | JSON_PRESERVE_ORDER);
            rc = store_service_update(c->cfg->store, s->id, text, NULL, NULL, -1, err);
            free(text);
            if (rc == 0)
                ctl_event_version(c->cfg->store, c->region, s->id, CTL_EVENT_NORMAL,
                                  "ScaleModeChanged",
                                  "ServiceAction SCALE with ScaleMode MANUAL: the %s no longer "
                                  "applies",
                                  hpa ? "HorizontalPodAutoscaler" : "CronScaleJobs");
        }
    }
    json_decref(spec);
    return rc;
}

int api_modify_model_service(struct api_call *c)
{
    const json_t *p = c->params;
    const char *id, *action, *scale_mode;
    long long replicas = -1;
    if (api_get_str(c, p, "ServiceId", true, &id) ||
        api_get_str(c, p, "ServiceAction", false, &action))
        return -1;
    if (!action) {
        struct err err = {0};
        struct store_service s;
        struct store_group g;
        if (modify_config(c, id))
            return -1;
        ctl_cronscale_kick(c->cfg->cronscale);
        ctl_schedstop_kick(c->cfg->schedstop);
        ctl_reconciler_kick(c->cfg->reconciler);
        if (store_service_get(c->cfg->store, c->region, id, &s, &err) != 0)
            return api_fail_store(c, &err);
        if (store_group_get(c->cfg->store, c->region, s.group_id, &g, &err) != 0) {
            store_service_release(&s);
            return api_fail_store(c, &err);
        }
        json_object_set_new(c->out, "Service", service_json(c, &g, &s, s.version, NULL));
        store_group_release(&g);
        store_service_release(&s);
        return 0;
    }
    if (strcmp(action, "STOP") && strcmp(action, "RESUME") && strcmp(action, "SCALE"))
        return api_fail(c, "InvalidParameterValue",
                        "ServiceAction must be STOP, RESUME or SCALE, got '%s'", action);
    /* With ServiceAction set, TI-ONE ignores the other update fields, except
     * the scaling fields for SCALE. Berth refuses what it would not apply. */
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)p, key, v)
    {
        bool scale_field = strcmp(key, "Replicas") == 0 || strcmp(key, "ScaleMode") == 0;
        /* Off switches change nothing, so they may come along. */
        bool switched_off = (strcmp(key, "ScheduledAction") == 0 && scheduled_action_off(c, p)) ||
                            (strcmp(key, "ServiceLimit") == 0 && service_limit_off(c, v));
        if (c->error_code[0])
            return -1;
        if (!switched_off && strcmp(key, "ServiceId") && strcmp(key, "ServiceAction") &&
            strcmp(key, "TiProjectId") && !(scale_field && strcmp(action, "SCALE") == 0) &&
            api_present(v))
            return api_fail(c, "InvalidParameterValue",
                            "%s cannot be combined with ServiceAction %s", key, action);
    }
    struct store_service s;
    struct err err = {0};
    if (store_service_get(c->cfg->store, c->region, id, &s, &err) != 0)
        return api_fail_store(c, &err);
    int rc = 0;
    if (strcmp(action, "STOP") == 0) {
        if (!s.stopped)
            rc = store_service_set_replicas(c->cfg->store, id, 0, s.replicas, true, &err);
    } else if (strcmp(action, "RESUME") == 0) {
        /* Stopped, or left with no replica (a version created with Replicas 0
         * before that was refused): back to what ran before, at least one. */
        long long cron = ctl_cronscale_count_spec(c->cfg->cronscale, s.spec_json);
        int back = cron >= 0 ? (int)cron : s.old_replicas ? s.old_replicas : 1;
        if ((s.stopped || s.replicas == 0) &&
            (api_billing_resume_check(c, &s, back) || api_prepaid_check(c, &s, back))) {
            store_service_release(&s);
            return -1;
        }
        if (cron >= 0 && s.stopped) /* a CRON version: what its jobs ask for now */
            rc = store_service_set_replicas(c->cfg->store, id, (int)cron, 0, false, &err);
        else if (cron < 0 && (s.stopped || s.replicas == 0))
            rc = store_service_set_replicas(c->cfg->store, id, s.old_replicas ? s.old_replicas : 1,
                                            0, false, &err);
    } else if (strcmp(action, "SCALE") == 0) {
        if (api_get_int(c, p, "Replicas", true, 0, MAX_REPLICAS, &replicas) ||
            api_get_str(c, p, "ScaleMode", false, &scale_mode)) {
            store_service_release(&s);
            return -1;
        }
        if (scale_mode && strcmp(scale_mode, "MANUAL") != 0) {
            store_service_release(&s);
            return api_fail(c, "InvalidParameterValue",
                            "ScaleMode %s: ServiceAction SCALE sets a MANUAL count; set ScaleMode "
                            "AUTO with ModifyModelService without ServiceAction",
                            scale_mode);
        }
        if (scale_to_manual(c, &s, scale_mode != NULL, &err) != 0) {
            store_service_release(&s);
            return c->error_code[0] ? -1 : api_fail_store(c, &err);
        }
        if (api_prepaid_check(c, &s, (int)replicas)) {
            store_service_release(&s);
            return -1;
        }
        rc = store_service_set_replicas(c->cfg->store, id, (int)replicas, replicas ? 0 : s.replicas,
                                        replicas == 0, &err);
    } else {
        store_service_release(&s);
        return api_fail(c, "InvalidParameterValue",
                        "ServiceAction must be STOP, RESUME or SCALE, got '%s'", action);
    }
    api_prepaid_done();
    store_service_release(&s);
    if (rc)
        return api_fail_store(c, &err);
    ctl_cronscale_kick(c->cfg->cronscale); /* RESUME of a CRON version: what the jobs say now */
    ctl_reconciler_kick(c->cfg->reconciler);
    ctl_billing_kick(c->cfg->billing);
    struct store_group g;
    if (store_service_get(c->cfg->store, c->region, id, &s, &err) != 0 ||
        store_group_get(c->cfg->store, c->region, s.group_id, &g, &err) != 0) {
        store_service_release(&s);
        return api_fail_store(c, &err);
    }
    json_object_set_new(c->out, "Service", service_json(c, &g, &s, s.version, NULL));
    store_group_release(&g);
    store_service_release(&s);
    return 0;
}

/* Delete one service or group named by 'key'; the reconciler stops what ran. */
static int delete_by_id(struct api_call *c, const char *key,
                        int (*del)(struct store *, const char *, const char *, struct err *))
{
    const char *id;
    struct err err = {0};
    if (read_id_only(c, key, &id))
        return -1;
    if (del(c->cfg->store, c->region, id, &err) != 0)
        return api_fail_store(c, &err);
    if (del == store_group_delete)
        ctl_event_group(c->cfg->store, c->region, id, CTL_EVENT_NORMAL, "Deleted",
                        "Deleted the service group and its versions");
    else
        ctl_event_version(c->cfg->store, c->region, id, CTL_EVENT_NORMAL, "Deleted",
                          "Deleted the version");
    ctl_reconciler_kick(c->cfg->reconciler);
    ctl_billing_kick(c->cfg->billing);
    return 0;
}

int api_delete_model_service(struct api_call *c)
{
    return delete_by_id(c, "ServiceId", store_service_delete);
}

int api_delete_model_service_group(struct api_call *c)
{
    return delete_by_id(c, "ServiceGroupId", store_group_delete);
}

/* ------------------------------------------------------------------------ */
/* Call info                                                                */

/* EnableLimit: whether a version has a ServiceLimit switched on or a token a quota. */
static bool group_limited(struct api_call *c, const struct store_group *g, const json_t *tokens)
{
    size_t i;
    const json_t *t;
    json_array_foreach(tokens, i, t) if (json_array_size(json_object_get(t, "Limits"))) return true;
    struct store_service *svcs;
    size_t n;
    struct err err = {0};
    bool on = false;
    if (store_service_list(c->cfg->store, g->id, &svcs, &n, &err) != 0)
        return false;
    for (size_t k = 0; k < n; k++) {
        json_t *spec = json_loads(svcs[k].spec_json, 0, NULL);
        const json_t *l = json_object_get(spec, "ServiceLimit");
        on |= json_is_true(json_object_get(l, "EnableInstanceRpsLimit")) ||
              json_is_true(json_object_get(l, "EnableInstanceReqLimit"));
        json_decref(spec);
        store_service_release(&svcs[k]);
    }
    free(svcs);
    return on;
}

int api_describe_model_service_call_info(struct api_call *c)
{
    struct store_group g;
    if (read_group(c, &g))
        return -1;
    if (!*g.app_key) {
        /* A group from before key pairs: it gets one now, and keeps it. */
        struct err err = {0};
        char *key, *sealed;
        api_key_pair_make(c->cfg, g.id, &key, &sealed);
        int rc = store_group_set_key_pair(c->cfg->store, g.id, key, sealed, &err);
        free(key);
        free(sealed);
        store_group_release(&g);
        if (rc)
            return api_fail_store(c, &err);
        if (read_group_by_id(c, c->params, &g))
            return -1;
        ctl_reconciler_kick(c->cfg->reconciler);
    }
    /* The gateway's address for the group; a version is at <endpoint>-<n>. */
    char *endpoint = xasprintf("%s/%s", c->cfg->gateway_url, g.id);
    bool https = strncmp(endpoint, "https:", 6) == 0; /* the gateway has TLS on */
    json_t *tokens;
    char *token = NULL;
    if (api_group_tokens(c, &g, &tokens, &token)) {
        free(endpoint);
        store_group_release(&g);
        return -1;
    }
    char *secret = api_app_secret(c->cfg, &g);
    json_object_set_new(c->out, "ServiceCallInfoV2",
                        json_pack("{s:s, s:s, s:b, s:s, s:o, s:b, s:s, s:n}", "ServiceGroupId",
                                  g.id, "InternetEndpoint", endpoint, "AuthorizationEnable",
                                  g.auth_enable, "AuthToken", token ? token : "", "AuthTokens",
                                  tokens, "EnableLimit", group_limited(c, &g, tokens), "GrpcHost",
                                  "", "GatewayConfig"));
    json_object_set_new(c->out, "ServiceCallInfo",
                        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "ServiceGroupId",
                                  g.id, "InnerHttpAddr", "", "InnerHttpsAddr", "", "OuterHttpAddr",
                                  https ? "" : endpoint, "OuterHttpsAddr", https ? endpoint : "",
                                  "AppKey", g.app_key, "AppSecret", secret ? secret : "",
                                  "AuthorizationEnable", g.auth_enable));
    if (secret) {
        crypto_wipe(secret, strlen(secret));
        free(secret);
    }
    free(token);
    json_object_set_new(c->out, "InferGatewayCallInfo", json_null());
    json_object_set_new(c->out, "DefaultNginxGatewayCallInfo", json_null());
    json_object_set_new(c->out, "TJCallInfo", json_null());
    json_object_set_new(c->out, "IntranetCallInfo", json_null());
    free(endpoint);
    store_group_release(&g);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Weights                                                                  */

#define MAX_WEIGHT 100000

/* Weights are relative; versions not listed keep theirs; the sum must stay
 * above 0 so that the group can take traffic (§3.10). */
int api_modify_service_group_weights(struct api_call *c)
{
    static const struct api_field fields[] = {
        {"ServiceGroupId", API_FIELD_USED}, {"Weights", API_FIELD_USED}, {NULL, API_FIELD_USED}};
    const char *id;
    if (api_check_fields(c, c->params, NULL, fields) ||
        api_get_str(c, c->params, "ServiceGroupId", true, &id))
        return -1;
    const json_t *list = json_object_get(c->params, "Weights");
    if (!list || json_is_null(list))
        return api_fail(c, "MissingParameter", "Weights is required");
    if (!json_is_array(list) || json_array_size(list) == 0)
        return api_fail(c, "InvalidParameter",
                        "Weights must be a non-empty list of {ServiceId, "
                        "Weight}");
    struct store_group g;
    struct err err = {0};
    if (store_group_get(c->cfg->store, c->region, id, &g, &err) != 0)
        return api_fail_store(c, &err);
    struct store_service *svcs;
    size_t n;
    if (store_service_list(c->cfg->store, id, &svcs, &n, &err) != 0) {
        store_group_release(&g);
        return api_fail_store(c, &err);
    }
    size_t k = json_array_size(list);
    const char **ids = xcalloc(k, sizeof(char *));
    int *weights = xcalloc(k, sizeof(int));
    int *result = xcalloc(n ? n : 1, sizeof(int));
    for (size_t i = 0; i < n; i++)
        result[i] = svcs[i].weight;
    int rc = 0;
    size_t i;
    const json_t *e;
    json_array_foreach(list, i, e)
    {
        static const struct api_field entry[] = {
            {"ServiceId", API_FIELD_USED}, {"Weight", API_FIELD_USED}, {NULL, API_FIELD_USED}};
        const char *sid;
        long long w = -1;
        char where[32];
        snprintf(where, sizeof(where), "Weights[%zu]", i);
        if (api_check_object(c, e, where, entry) || api_get_str(c, e, "ServiceId", true, &sid) ||
            api_get_int(c, e, "Weight", true, 0, MAX_WEIGHT, &w)) {
            rc = in(c, where);
            break;
        }
        size_t at = n;
        for (size_t s = 0; s < n; s++)
            if (strcmp(svcs[s].id, sid) == 0)
                at = s;
        if (at == n) {
            rc = api_fail(c, "InvalidParameterValue",
                          "Weights[%zu].ServiceId %s is not a version "
                          "of %s",
                          i, sid, id);
            break;
        }
        for (size_t p = 0; p < i; p++)
            if (strcmp(ids[p], sid) == 0) {
                rc = api_fail(c, "InvalidParameterValue", "Weights lists %s twice", sid);
                break;
            }
        if (rc)
            break;
        ids[i] = sid;
        weights[i] = (int)w;
        result[at] = (int)w;
    }
    long long sum = 0;
    for (size_t s = 0; s < n; s++)
        sum += result[s];
    if (rc == 0 && sum == 0)
        rc = api_fail(c, "InvalidParameterValue",
                      "the weights of %s would add up to 0: at least one version needs weight", id);
    if (rc == 0 && store_service_set_weights(c->cfg->store, id, ids, weights, k, &err) != 0)
        rc = api_fail_store(c, &err);
    if (rc == 0) {
        ctl_event_weights(c->cfg->store, c->region, id, svcs, n, result);
        ctl_reconciler_kick(c->cfg->reconciler);
        json_t *o = group_json(c, &g);
        if (o)
            json_object_set_new(c->out, "ServiceGroup", o);
        else
            rc = -1;
    }
    for (size_t s = 0; s < n; s++)
        store_service_release(&svcs[s]);
    free(svcs);
    free(ids);
    free(weights);
    free(result);
    store_group_release(&g);
    return rc;
}
