/* api.c - the API 3.0 envelope: checks the common headers and the TC3
 * signature, parses the body, dispatches the action and writes the answer.
 * Every answer, errors included, is HTTP 200 with Content-Type exactly
 * "application/json" and a RequestId: the official SDKs read errors only then. */
#include "api/api.h"
#include "api/authz.h"
#include "api/console.h"
#include "api/tc3.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "base/log.h"
#include "control/metrics.h"
#include "control/modelfiles.h"
#include "store/billing.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define BODY_LIMIT_BYTES (10 * 1024 * 1024)

typedef int (*api_action_fn)(struct api_call *c);

static const struct {
    const char *name;
    api_action_fn fn;
} actions[] = {
    {"CreateTrainingModel", api_create_training_model},
    {"DescribeTrainingModels", api_describe_training_models},
    {"DescribeTrainingModelVersions", api_describe_training_model_versions},
    {"DescribeTrainingModelVersion", api_describe_training_model_version},
    {"DeleteTrainingModel", api_delete_training_model},
    {"DeleteTrainingModelVersion", api_delete_training_model_version},
    {"CreateModelService", api_create_model_service},
    {"DescribeModelService", api_describe_model_service},
    {"DescribeModelServiceGroup", api_describe_model_service_group},
    {"DescribeModelServiceGroups", api_describe_model_service_groups},
    {"ModifyModelService", api_modify_model_service},
    {"DeleteModelService", api_delete_model_service},
    {"DeleteModelServiceGroup", api_delete_model_service_group},
    {"DescribeModelServiceCallInfo", api_describe_model_service_call_info},
    {"ModifyServiceGroupWeights", api_modify_service_group_weights},
    {"DescribeModelServiceHotUpdated", api_describe_model_service_hot_updated},
    {"ModifyModelServiceAuthorization", api_modify_model_service_authorization},
    {"CreateModelServiceAuthToken", api_create_model_service_auth_token},
    {"ModifyModelServiceAuthToken", api_modify_model_service_auth_token},
    {"DeleteModelServiceAuthToken", api_delete_model_service_auth_token},
    {"DescribeEvents", api_describe_events},
    {"DescribeLogs", api_describe_logs},
    {"DescribeBillingSpecs", api_describe_billing_specs},
    {"DescribeBillingSpecsPrice", api_describe_billing_specs_price},
    /* Berth extensions: keys and their policies (api/authz.h) */
    {"CreateAccessKey", api_create_access_key},
    {"ModifyAccessKeyPolicy", api_modify_access_key_policy},
    /* Berth extensions: accounts and the ledger (billing.c) */
    {"CreateAccount", api_create_account},
    {"DescribeAccounts", api_describe_accounts},
    {"CreateAccountKey", api_create_account_key},
    {"TopUpAccount", api_top_up_account},
    {"DescribeLedger", api_describe_ledger},
    {"DescribeUsageReport", api_describe_usage_report},
    {"DescribeBillingResourceGroups", api_describe_billing_resource_groups},
    {"DescribeBillingResourceGroup", api_describe_billing_resource_group},
};

/* The action's name for the metrics: one of ours, else "other" (labels stay bounded). */
static const char *metric_action(const char *action)
{
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strcmp(actions[i].name, action) == 0)
            return action;
    return "other";
}

int api_fail(struct api_call *c, const char *code, const char *fmt, ...)
{
    snprintf(c->error_code, sizeof(c->error_code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error_message, sizeof(c->error_message), fmt, ap);
    va_end(ap);
    return -1;
}

int api_prefix_error(struct api_call *c, const char *prefix)
{
    char msg[sizeof(c->error_message)];
    snprintf(msg, sizeof(msg), "%s%s", prefix, c->error_message);
    memcpy(c->error_message, msg, sizeof(msg));
    return -1;
}

int api_fail_store(struct api_call *c, const struct err *err)
{
    switch (err->code) {
    case ERR_NOTFOUND:
        return api_fail(c, "ResourceNotFound", "%s", err->msg);
    case ERR_EXISTS:
        return api_fail(c, "InvalidParameterValue.DuplicateName", "%s", err->msg);
    case ERR_UNSUPPORTED:
        return api_fail(c, "UnsupportedOperation", "%s", err->msg);
    case ERR_UNAVAILABLE:
        return api_fail(c, "ResourceUnavailable", "%s", err->msg);
    case ERR_TOOBIG:
        return api_fail(c, "LimitExceeded", "%s", err->msg);
    default:
        log_error("api", "action=%s store failure: %s", c->action, err->msg);
        return api_fail(c, "InternalError", "%s", err->msg);
    }
}

void api_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ------------------------------------------------------------------------ */
/* Parameters                                                               */

bool api_present(const json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v))
        return false;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    return true;
}

int api_check_fields(struct api_call *c, const json_t *obj, const char *where,
                     const struct api_field *fields)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        const struct api_field *f = fields;
        while (f->name && strcmp(f->name, key) != 0)
            f++;
        if (!f->name)
            return api_fail(c, "UnknownParameter", "%s%s%s is not a parameter of %s",
                            where ? where : "", where ? "." : "", key, c->action);
        if (f->kind == API_FIELD_UNSUPPORTED && api_present(v))
            return api_fail(c, "UnsupportedOperation", "%s%s%s is not supported by Berth yet",
                            where ? where : "", where ? "." : "", key);
    }
    return 0;
}

int api_check_object(struct api_call *c, const json_t *obj, const char *where,
                     const struct api_field *fields)
{
    if (!json_is_object(obj))
        return api_fail(c, "InvalidParameter", "%s must be an object", where);
    return api_check_fields(c, obj, where, fields);
}

int api_get_str(struct api_call *c, const json_t *obj, const char *name, bool required,
                const char **out)
{
    const json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (v && !json_is_null(v) && !json_is_string(v))
        return api_fail(c, "InvalidParameter", "%s must be a string", name);
    if (v && json_is_string(v) && json_string_length(v) > 0)
        *out = json_string_value(v);
    if (!*out && required)
        return api_fail(c, "MissingParameter", "%s is required", name);
    return 0;
}

int api_get_int(struct api_call *c, const json_t *obj, const char *name, bool required,
                long long min, long long max, long long *out)
{
    const json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v)) {
        if (required)
            return api_fail(c, "MissingParameter", "%s is required", name);
        return 0;
    }
    if (!json_is_integer(v))
        return api_fail(c, "InvalidParameter", "%s must be an integer", name);
    long long x = json_integer_value(v);
    if (x < min || x > max)
        return api_fail(c, "InvalidParameterValue", "%s must be between %lld and %lld, got %lld",
                        name, min, max, x);
    *out = x;
    return 0;
}

int api_get_bool(struct api_call *c, const json_t *obj, const char *name, bool *out)
{
    const json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return api_fail(c, "InvalidParameter", "%s must be true or false", name);
    *out = json_is_true(v);
    return 0;
}

int api_check_tags(struct api_call *c, const json_t *tags)
{
    if (!tags || json_is_null(tags))
        return 0;
    if (!json_is_array(tags))
        return api_fail(c, "InvalidParameter", "Tags must be a list of {TagKey, TagValue}");
    size_t i;
    const json_t *t;
    json_array_foreach(tags, i, t)
    {
        const json_t *k = json_object_get(t, "TagKey"), *v = json_object_get(t, "TagValue");
        if (!json_is_object(t) || !json_is_string(k) || !json_string_length(k) ||
            !json_is_string(v) || json_object_size(t) != 2)
            return api_fail(
                c, "InvalidParameter",
                "Tags[%zu] must be {\"TagKey\": non-empty string, \"TagValue\": string}", i);
    }
    return 0;
}

/* A string member 'name' of the object at 'where'. */
static int member_str(struct api_call *c, const json_t *obj, const char *where, const char *name,
                      bool required, const char **out)
{
    const json_t *v = json_object_get(obj, name);
    *out = json_is_string(v) && json_string_length(v) ? json_string_value(v) : NULL;
    if (v && !json_is_null(v) && !json_is_string(v))
        return api_fail(c, "InvalidParameter", "%s.%s must be a string", where, name);
    if (!*out && required)
        return api_fail(c, "MissingParameter", "%s.%s is required", where, name);
    return 0;
}

int api_check_image(struct api_call *c, const json_t *image, const char *where,
                    struct api_image *out)
{
    static const struct api_field fields[] = {{"ImageType", API_FIELD_USED},
                                              {"ImageUrl", API_FIELD_USED},
                                              {"RegistryRegion", API_FIELD_IGNORED},
                                              {"RegistryId", API_FIELD_IGNORED},
                                              {"AllowSaveAllContent", API_FIELD_IGNORED},
                                              {"ImageName", API_FIELD_USED},
                                              {"SupportDataPipeline", API_FIELD_IGNORED},
                                              {NULL, API_FIELD_USED}};
    static const char *const types[] = {"TCR", "CCR", "PRE_SET", "PreSet", "CUSTOM", NULL};
    static const char *const flags[] = {"AllowSaveAllContent", "SupportDataPipeline", NULL};
    *out = (struct api_image){0};
    if (!json_is_object(image))
        return api_fail(c, "InvalidParameter", "%s must be an object {ImageType, ImageUrl, ...}",
                        where);
    if (api_check_fields(c, image, where, fields) ||
        member_str(c, image, where, "ImageType", true, &out->type) ||
        member_str(c, image, where, "ImageUrl", false, &out->url) ||
        member_str(c, image, where, "ImageName", false, &out->name))
        return -1;
    for (const char *const *f = flags; *f; f++) {
        const json_t *v = json_object_get(image, *f);
        if (v && !json_is_null(v) && !json_is_boolean(v))
            return api_fail(c, "InvalidParameter", "%s.%s must be a boolean", where, *f);
    }
    if (!api_in_list(types, out->type))
        return api_fail(c, "InvalidParameterValue",
                        "%s.ImageType must be TCR, CCR, PreSet or CUSTOM, got '%s'", where,
                        out->type);
    out->preset = strcasecmp(out->type, "PRE_SET") == 0 || strcasecmp(out->type, "PreSet") == 0;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Filters                                                                  */

bool api_in_list(const char *const *list, const char *v)
{
    for (; *list; list++)
        if (strcasecmp(*list, v) == 0)
            return true;
    return false;
}

int api_read_filters(struct api_call *c, const char *const *allowed, struct api_filter *out,
                     size_t *n)
{
    const json_t *filters = json_object_get(c->params, "Filters");
    *n = 0;
    if (!filters || json_is_null(filters))
        return 0;
    if (!json_is_array(filters))
        return api_fail(c, "InvalidParameter", "Filters must be a list");
    if (json_array_size(filters) > 10)
        return api_fail(c, "InvalidParameterValue.LimitExceeded", "at most 10 Filters");
    size_t i;
    const json_t *f;
    json_array_foreach(filters, i, f)
    {
        static const struct api_field fields[] = {{"Name", API_FIELD_USED},
                                                  {"Values", API_FIELD_USED},
                                                  {"Fuzzy", API_FIELD_USED},
                                                  {"Negative", API_FIELD_USED},
                                                  {NULL, API_FIELD_USED}};
        char where[32];
        snprintf(where, sizeof(where), "Filters[%zu]", i);
        if (api_check_object(c, f, where, fields))
            return -1;
        if (json_object_get(f, "Fuzzy") && !json_is_null(json_object_get(f, "Fuzzy")) &&
            !json_is_boolean(json_object_get(f, "Fuzzy")))
            return api_fail(c, "InvalidParameter", "%s.Fuzzy must be true or false", where);
        if (json_object_get(f, "Negative") && !json_is_null(json_object_get(f, "Negative")) &&
            !json_is_boolean(json_object_get(f, "Negative")))
            return api_fail(c, "InvalidParameter", "%s.Negative must be true or false", where);
        const json_t *name = json_object_get(f, "Name"), *values = json_object_get(f, "Values");
        if (!json_is_string(name) || !api_in_list(allowed, json_string_value(name)))
            return api_fail(c, "InvalidParameterValue.InvalidFilter",
                            "Filters[%zu].Name must be one of the filters of %s", i, c->action);
        if (!json_is_array(values) || json_array_size(values) == 0 || json_array_size(values) > 100)
            return api_fail(c, "InvalidParameterValue.InvalidFilter",
                            "Filters[%zu].Values must be a list of 1 to 100 strings", i);
        size_t k;
        const json_t *val;
        json_array_foreach(values, k, val) if (!json_is_string(val)) return api_fail(
            c, "InvalidParameterValue.InvalidFilter", "Filters[%zu].Values[%zu] must be a string",
            i, k);
        bool fuzzy = json_array_size(values) == 1; /* one value = fuzzy, several = exact */
        if (json_is_boolean(json_object_get(f, "Fuzzy")))
            fuzzy = json_is_true(json_object_get(f, "Fuzzy"));
        out[(*n)++] = (struct api_filter){json_string_value(name), values, fuzzy,
                                          json_is_true(json_object_get(f, "Negative"))};
    }
    return 0;
}

bool api_filter_match(const struct api_filter *f, const char *value)
{
    bool hit = false;
    size_t k;
    const json_t *v;
    json_array_foreach(f->values, k, v)
    {
        const char *want = json_string_value(v);
        hit |= f->fuzzy ? strcasestr(value, want) != NULL : strcmp(value, want) == 0;
    }
    return hit != f->negative;
}

bool api_tags_match(const char *tags_json, const json_t *tag_filters)
{
    json_t *tags = json_loads(tags_json, 0, NULL);
    bool ok = true;
    size_t i, k, t;
    const json_t *tf, *want, *tag;
    json_array_foreach(tag_filters, i, tf)
    {
        const char *key = json_string_value(json_object_get(tf, "TagKey"));
        const json_t *values = json_object_get(tf, "TagValues");
        bool hit = false;
        json_array_foreach(tags, t, tag)
        {
            if (!key || strcmp(json_string_value(json_object_get(tag, "TagKey")), key) != 0)
                continue;
            if (!json_array_size(values))
                hit = true;
            json_array_foreach(values, k, want) hit |=
                json_is_string(want) &&
                strcmp(json_string_value(want),
                       json_string_value(json_object_get(tag, "TagValue"))) == 0;
        }
        ok &= hit;
    }
    json_decref(tags);
    return ok;
}

int api_check_tag_filters(struct api_call *c, const json_t *tf)
{
    if (!tf || json_is_null(tf))
        return 0;
    size_t i;
    const json_t *f;
    if (!json_is_array(tf))
        return api_fail(c, "InvalidParameter", "TagFilters must be a list");
    json_array_foreach(tf, i, f)
    {
        static const struct api_field fields[] = {
            {"TagKey", API_FIELD_USED}, {"TagValues", API_FIELD_USED}, {NULL, API_FIELD_USED}};
        char where[40];
        snprintf(where, sizeof(where), "TagFilters[%zu]", i);
        if (api_check_object(c, f, where, fields))
            return -1;
        if (!json_is_string(json_object_get(f, "TagKey")))
            return api_fail(c, "InvalidParameter", "%s.TagKey must be a string", where);
        const json_t *vals = json_object_get(f, "TagValues"), *val;
        if (vals && !json_is_array(vals))
            return api_fail(c, "InvalidParameter", "%s.TagValues must be a list", where);
        size_t k;
        json_array_foreach(vals, k, val) if (!json_is_string(val)) return api_fail(
            c, "InvalidParameter", "%s.TagValues[%zu] must be a string", where, k);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Envelope                                                                 */

static bool header_cstr(const struct http_request *req, const char *name, char *out, size_t size)
{
    struct str v = http_request_header(req, name);
    if (!v.ptr)
        return false;
    while (v.len && isspace((unsigned char)v.ptr[0])) {
        v.ptr++;
        v.len--;
    }
    while (v.len && isspace((unsigned char)v.ptr[v.len - 1]))
        v.len--;
    if (v.len >= size)
        v.len = size - 1;
    memcpy(out, v.ptr, v.len);
    out[v.len] = '\0';
    return true;
}

static bool valid_region(const struct api_config *cfg, const char *region)
{
    if (!*region || strlen(region) > 64)
        return false;
    for (const char *p = region; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-')
            return false;
    if (!cfg->regions)
        return true;
    for (const char *const *r = cfg->regions; *r; r++)
        if (strcmp(*r, region) == 0)
            return true;
    return false;
}

/* The signatures accepted in the last clock window, bound to their action,
 * region and version (see tc3.h); one for the process, shared by the API
 * workers. */
static struct tc3_replay *replay_record;
static pthread_once_t replay_once = PTHREAD_ONCE_INIT;

static void replay_init(void)
{
    replay_record = tc3_replay_new(TC3_REPLAY_CAPACITY, TC3_REPLAY_GRACE_MS);
}

/* Refuse a signature accepted before with another action, region or
 * version, or re-bound from another address than its first use's. */
static int check_replay(struct api_call *c, const struct tc3_auth *auth, const char *version,
                        long long ts, const char *peer)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    pthread_once(&replay_once, replay_init);
    /* At most 63 + 79 + 31 bytes and two newlines (the header buffers): it fits. */
    char binding[256];
    snprintf(binding, sizeof(binding), "%s\n%s\n%s", c->action, c->region, version);
    switch (tc3_replay_check(replay_record, auth->signature, str_from(binding), peer,
                             (ts + API_CLOCK_SKEW_S + 1) * 1000, now_ms)) {
    case TC3_REPLAY_OK:
        return 0;
    case TC3_REPLAY_OTHER_PEER:
        return api_fail(c, "AuthFailure.SignatureFailure",
                        "this signature was first used from another address with another "
                        "X-TC-Action, X-TC-Region or X-TC-Version; sign the request again");
    default:
        return api_fail(c, "AuthFailure.SignatureFailure",
                        "this signature was already used with another X-TC-Action, X-TC-Region or "
                        "X-TC-Version; sign the request again");
    }
}

/* Check the signature; on failure fills the call's error. */
static int authenticate(struct api_call *c, const struct http_request *req, const char *version)
{
    struct str authz = http_request_header(req, "Authorization");
    if (!authz.ptr)
        return api_fail(c, "AuthFailure.InvalidAuthorization",
                        "the request is not signed: Authorization header missing");
    struct tc3_auth auth;
    struct err err = {0};
    if (tc3_parse_authorization(authz, &auth, &err) != 0)
        return api_fail(c, "AuthFailure.InvalidAuthorization", "%s", err.msg);
    char tsbuf[32];
    if (!header_cstr(req, "X-TC-Timestamp", tsbuf, sizeof(tsbuf)))
        return api_fail(c, "MissingParameter", "the X-TC-Timestamp header is required");
    char *end;
    long long ts = strtoll(tsbuf, &end, 10);
    if (*end || end == tsbuf || ts <= 0)
        return api_fail(c, "InvalidParameter", "X-TC-Timestamp must be Unix seconds, got '%s'",
                        tsbuf);
    long long now = (long long)time(NULL);
    if (ts > now + API_CLOCK_SKEW_S || ts < now - API_CLOCK_SKEW_S)
        return api_fail(c, "AuthFailure.SignatureExpire",
                        "X-TC-Timestamp %lld is more than 5 minutes from the server time %lld", ts,
                        now);
    char date[11];
    tc3_date(ts, date);
    if (!str_eq_cstr(auth.date, date))
        return api_fail(c, "AuthFailure.SignatureFailure",
                        "the credential date %.*s is not the UTC date of X-TC-Timestamp (%s)",
                        (int)auth.date.len, auth.date.ptr, date);
    char id[128];
    if (auth.secret_id.len >= sizeof(id))
        return api_fail(c, "AuthFailure.SecretIdNotFound", "unknown SecretId");
    memcpy(id, auth.secret_id.ptr, auth.secret_id.len);
    id[auth.secret_id.len] = '\0';
    char *key = NULL;
    if (store_credential_get(c->cfg->store, id, &key, &err) != 0)
        return err.code == ERR_NOTFOUND
                   ? api_fail(c, "AuthFailure.SecretIdNotFound", "SecretId '%s' does not exist", id)
                   : api_fail(c, "InternalError", "%s", err.msg);
    snprintf(c->secret_id, sizeof(c->secret_id), "%s", id);
    bool ok = tc3_verify(req, &auth, ts, key);
    crypto_wipe(key, strlen(key));
    free(key);
    char *account = NULL; /* fail closed: no account read is no administrator either */
    if (ok && store_credential_account(c->cfg->store, id, &account, &err) != 0)
        return api_fail(c, "InternalError", "%s", err.msg);
    if (ok)
        snprintf(c->account_id, sizeof(c->account_id), "%s", account);
    free(account);
    if (!ok) {
        struct buf canon;
        buf_init(&canon, 1 << 20);
        if (tc3_canonical_request(req, auth.signed_headers, false, &canon, &err) != 0) {
            buf_release(&canon);
            return api_fail(c, "AuthFailure.SignatureFailure", "%s", err.msg);
        }
        buf_release(&canon);
        return api_fail(c, "AuthFailure.SignatureFailure",
                        "The provided credentials could not be validated. Please check your "
                        "signature is correct.");
    }
    return check_replay(c, &auth, version, ts, req->peer);
}

static int dispatch(struct api_call *c, const struct http_request *req, char *region_buf,
                    size_t region_size)
{
    char action[64], version[32];
    if (!str_eq_cstr(req->method, "POST"))
        return api_fail(c, "UnsupportedProtocol", "use POST with a JSON body, not %.*s",
                        (int)req->method.len, req->method.ptr);
    if (!header_cstr(req, "X-TC-Action", action, sizeof(action)) || !*action)
        return api_fail(c, "MissingParameter", "the X-TC-Action header is required");
    if (!header_cstr(req, "X-TC-Version", version, sizeof(version)) || !*version)
        return api_fail(c, "MissingParameter", "the X-TC-Version header is required");
    if (strcmp(version, API_VERSION) != 0)
        return api_fail(c, "NoSuchVersion", "API version '%s' does not exist; use " API_VERSION,
                        version);
    if (!header_cstr(req, "X-TC-Region", region_buf, region_size) || !*region_buf)
        return api_fail(c, "MissingParameter", "the X-TC-Region header is required");
    if (!valid_region(c->cfg, region_buf))
        return api_fail(c, "InvalidParameterValue", "region '%s' is not served here", region_buf);
    c->region = region_buf;
    if (authenticate(c, req, version))
        return -1;
    api_action_fn fn = NULL;
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strcmp(actions[i].name, action) == 0)
            fn = actions[i].fn;
    if (!fn)
        return api_fail(c, "InvalidAction", "action '%s' does not exist or is not supported",
                        action);
    struct str ct = http_request_header(req, "Content-Type");
    if (!ct.ptr || ct.len < 16 || strncasecmp(ct.ptr, "application/json", 16) != 0)
        return api_fail(c, "InvalidParameter", "Content-Type must be application/json");
    json_error_t jerr;
    c->params = json_loadb(req->body.len ? req->body.ptr : "{}", req->body.len ? req->body.len : 2,
                           JSON_REJECT_DUPLICATES, &jerr);
    if (!c->params)
        return api_fail(c, "InvalidParameter", "the body is not valid JSON: %s (line %d)",
                        jerr.text, jerr.line);
    if (!json_is_object(c->params))
        return api_fail(c, "InvalidParameter", "the body must be a JSON object");
    if (api_authorize(c))
        return -1;
    return fn(c);
}

/* An error answer in the envelope with HTTP 200; 'fallback' replaces a
 * 'msg' that is not UTF-8. */
static void envelope_error(struct http_response *res, const char *request_id, const char *code,
                           const char *msg, const char *fallback)
{
    json_t *root = json_pack("{s:{s:{s:s, s:s}, s:s}}", "Response", "Error", "Code", code,
                             "Message", msg, "RequestId", request_id);
    if (!root) /* a message that is not UTF-8: say less */
        root = json_pack("{s:{s:{s:s, s:s}, s:s}}", "Response", "Error", "Code", code, "Message",
                         fallback, "RequestId", request_id);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    res->status = 200;
    res->content_type = "application/json";
    buf_reset(&res->body);
    buf_puts(&res->body, text);
    free(text);
    json_decref(root);
}

void api_handle(struct http_request *req, struct http_response *res, void *ud)
{
    struct api_call c = {.cfg = ud};
    /* Another site's page gets nothing; the console's is answered CORS. */
    enum api_origin origin = api_check_origin(req, res);
    if (origin == API_ORIGIN_FOREIGN || origin == API_ORIGIN_ANSWERED) {
        log_debug("api", "origin %s: answered %d", origin == API_ORIGIN_FOREIGN ? "refused" : "ok",
                  res->status);
        return;
    }
    if (api_console_serve(req, res))
        return;
    if (ctl_metrics_serve(c.cfg->metrics, req, res))
        return;
    if (ctl_modelfiles_serve(c.cfg->store, c.cfg->data_dir, c.cfg->seal_key, req, res))
        return;
    char region[80] = "", request_id[37], action[64] = "";
    crypto_uuid(request_id);
    header_cstr(req, "X-TC-Action", action, sizeof(action));
    c.action = action;
    res->content_type = "application/json";
    if (!str_eq_cstr(req->path, "/")) {
        /* The envelope here too, with HTTP 200: an SDK pointed at a wrong
         * endpoint reads the reason only then. */
        char msg[160];
        snprintf(msg, sizeof(msg), "no such endpoint: %.*s; the API is at POST /",
                 req->path.len > 100 ? 100 : (int)req->path.len, req->path.ptr);
        envelope_error(res, request_id, "UnsupportedProtocol", msg,
                       "no such endpoint; the API is at POST /");
        log_info("api", "req=%s error=UnsupportedProtocol: %s", request_id, msg);
        ctl_metrics_api_count(c.cfg->metrics, "other", "UnsupportedProtocol");
        return;
    }
    c.out = json_object();
    int rc = dispatch(&c, req, region, sizeof(region));
    json_t *response;
    if (rc == 0) {
        response = c.out;
        c.out = NULL;
    } else {
        response = json_object();
        json_object_set_new(
            response, "Error",
            json_pack("{s:s, s:s}", "Code", c.error_code, "Message", c.error_message));
    }
    json_object_set_new(response, "RequestId", json_string(request_id));
    json_t *root = json_pack("{s:o}", "Response", response);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    buf_puts(&res->body, text);
    free(text);
    json_decref(root);
    json_decref(c.out);
    json_decref(c.params);
    api_authz_release(&c);
    res->status = 200;
    ctl_metrics_api_count(c.cfg->metrics, metric_action(action), rc == 0 ? "OK" : c.error_code);
    /* Reads are what clients poll (a --wait, a console): debug. Changes and
     * refusals are what an operator looks for. */
    if (rc == 0 && strncmp(action, "Describe", 8) == 0)
        log_debug("api", "action=%s region=%s req=%s ok", action, region, request_id);
    else if (rc == 0)
        log_info("api", "action=%s region=%s req=%s ok", action, region, request_id);
    else
        log_info("api", "action=%s region=%s req=%s error=%s: %s", action, region, request_id,
                 c.error_code, c.error_message);
}

/* Errors the HTTP server answers itself (malformed request, 408, 413, 431,
 * 503 busy) in the envelope, with HTTP 200 like every other API error: the
 * SDKs read Error only then. */
void api_format_http_error(struct http_response *res, int status, const char *msg, void *ud)
{
    (void)ud;
    const char *code = "UnsupportedProtocol";
    if (status == 413 || status == 414 || status == 431)
        code = "RequestSizeLimitExceeded";
    else if (status == 503)
        code = "ServiceUnavailable";
    char request_id[37];
    crypto_uuid(request_id);
    /* not logged: the server warns about floods itself, once a second */
    envelope_error(res, request_id, code, msg, http_status_text(status));
}
