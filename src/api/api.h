/* api.h - the management API: TI-ONE's API 3.0 envelope at POST / (headers
 * X-TC-Action, X-TC-Version 2021-11-11, X-TC-Region, X-TC-Timestamp and a TC3
 * Authorization), dispatch to one handler per action, and the answer
 * {"Response": {..., "RequestId"}} with HTTP 200 and Content-Type exactly
 * application/json, errors included (../shared/reference/tione-api.md §1). */
#ifndef BERTH_API_H
#define BERTH_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "http/server.h"
#include "store/store.h"

#define API_VERSION "2021-11-11"
#define API_CLOCK_SKEW_S 300

struct api_server;
struct imports;
struct ctl_reconciler;
struct ctl_metrics;
struct ctl_cronscale;
struct ctl_schedstop;
struct ctl_billing;

struct logs_deliver;
struct drv_volumes;
struct api_policy;

struct api_config {
    struct store *store;
    struct imports *imports;
    struct ctl_reconciler *reconciler;
    struct ctl_cronscale *cronscale; /* CRON scaling: berthd's zone and clock */
    struct ctl_schedstop *schedstop; /* scheduled stops, kicked when a spec changes */
    const char *data_dir;
    const char *gateway_url;     /* e.g. http://127.0.0.1:8501, for DescribeModelServiceCallInfo */
    const char *const *regions;  /* NULL-terminated; NULL accepts any well-formed name */
    const uint8_t *seal_key;     /* CRYPTO_SEAL_KEY_BYTES: seals tokens and AppSecrets at rest */
    struct ctl_metrics *metrics; /* GET /metrics, /healthz, /readyz, /sd/instances; NULL: none */
    const char *logs_db;         /* the log store (store/logs.h), for DescribeLogs */
    /* The log sinks a LogConfig may name; NULL: none. */
    struct logs_deliver *deliver;
    /* The file systems a VolumeMount may name (drivers/mounts.h); NULL: none. */
    const struct drv_volumes *volumes;
    bool containers; /* a container engine runs ImageInfo services */
    bool kube;       /* ... and that is a Kubernetes cluster (drivers/kube_driver.h) */
    /* The built-in runtime's image for SYSTEM model services (--model-runtime
     * container); NULL: they run as processes. */
    const char *model_image;
    struct ctl_billing *billing; /* postpaid billing; NULL: hours of 3600 s, no kicks */
};

/* What one action sees. Handlers fill 'out' (the Response object, without
 * RequestId) or fail with api_fail(). */
struct api_call {
    const struct api_config *cfg;
    const char *action;
    const char *region;
    json_t *params; /* the request body, an object */
    json_t *out;
    /* The caller (api/authz.h): its SecretId, whether it is an administrator
     * key, and its policy (NULL: none, every action). */
    char secret_id[128];
    bool admin;
    struct api_policy *policy;
    char account_id[64]; /* the caller's account; "" for the administrator (billing.c) */
    char error_code[64];
    char error_message[512];
};

/* The http_handler_fn for the API listener; 'ud' is a struct api_config. */
void api_handle(struct http_request *req, struct http_response *res, void *ud);
/* The http_error_fn for the API listener: the server's own errors in the envelope. */
void api_format_http_error(struct http_response *res, int status, const char *msg, void *ud);

/* Record an API error (code as in §1.4); returns -1 for 'return api_fail(...)'. */
int api_fail(struct api_call *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Put 'prefix' before the recorded error message; returns -1. */
int api_prefix_error(struct api_call *c, const char *prefix);
/* Map a store error to an API error: NOTFOUND -> ResourceNotFound, EXISTS ->
 * InvalidParameterValue.DuplicateName, UNSUPPORTED (e.g. deleting a model
 * version in use) -> UnsupportedOperation, UNAVAILABLE (a model version not
 * imported yet) -> ResourceUnavailable, TOOBIG (a cap reached) ->
 * LimitExceeded, anything else -> InternalError. */
int api_fail_store(struct api_call *c, const struct err *err);

/* ------------------------------------------------------------------------ */
/* Parameters                                                               */

enum api_field_kind {
    API_FIELD_USED,        /* implemented */
    API_FIELD_IGNORED,     /* cloud-only, accepted and ignored as the reference suggests */
    API_FIELD_UNSUPPORTED, /* defined by TI-ONE, not implemented yet: refused by name */
};

struct api_field {
    const char *name;
    enum api_field_kind kind;
};

/* Refuse fields the action does not define (UnknownParameter) and defined
 * ones Berth does not implement yet (UnsupportedOperation), naming the field.
 * Empty strings, nulls and false count as absent (clients send "" for unused
 * fields). 'fields' ends with a {NULL} row. */
int api_check_fields(struct api_call *c, const json_t *obj, const char *where,
                     const struct api_field *fields);
/* api_check_fields() of 'obj', which must be an object (InvalidParameter
 * "<where> must be an object" otherwise). */
int api_check_object(struct api_call *c, const json_t *obj, const char *where,
                     const struct api_field *fields);
/* A string field; "" and absent give NULL, or MissingParameter when required. */
int api_get_str(struct api_call *c, const json_t *obj, const char *name, bool required,
                const char **out);
int api_get_int(struct api_call *c, const json_t *obj, const char *name, bool required,
                long long min, long long max, long long *out);
int api_get_bool(struct api_call *c, const json_t *obj, const char *name, bool *out);
/* Whether a value counts as given ("" and null do not). */
bool api_present(const json_t *v);

/* An ImageInfo (§4.4) given at 'where' ("ImageInfo", "ReasoningImageInfo"):
 * an object of its defined fields only, ImageType (required) one of TCR,
 * CCR, PreSet (or PRE_SET, as answers spell it) and CUSTOM in any case,
 * ImageUrl and ImageName strings, the flags booleans. Errors name the full
 * path. The caller checks presence first and what it can honour after. */
struct api_image {
    const char *type, *url, *name; /* url and name NULL when absent or "" */
    bool preset;                   /* PreSet: the platform's image, Berth's built-in runtime */
};
int api_check_image(struct api_call *c, const json_t *image, const char *where,
                    struct api_image *out);

/* A list filter (§4.10): one value is a fuzzy match, several are exact, unless
 * Fuzzy says otherwise; Negative inverts. */
struct api_filter {
    const char *name;
    const json_t *values;
    bool fuzzy, negative;
};

/* Read "Filters" (at most 10) whose names are in 'allowed'. */
int api_read_filters(struct api_call *c, const char *const *allowed, struct api_filter *out,
                     size_t *n);
bool api_filter_match(const struct api_filter *f, const char *value);
/* Check "TagFilters"; then whether a [{TagKey, TagValue}] list matches them all. */
int api_check_tag_filters(struct api_call *c, const json_t *tag_filters);
bool api_tags_match(const char *tags_json, const json_t *tag_filters);
/* Check "Tags": a list of {"TagKey": non-empty, "TagValue": string}. */
int api_check_tags(struct api_call *c, const json_t *tags);
/* Case-insensitive membership in a NULL-terminated list. */
bool api_in_list(const char *const *list, const char *v);

/* RFC 3339 UTC "now". */
void api_now(char out[32]);
/* An RFC 3339 time with Z or an offset ("2022-01-26T19:46:22+08:00") into
 * Unix seconds (a fraction is dropped); false when it is not one. */
bool api_parse_time(const char *s, int64_t *out);

/* The action handlers (models.c). */
/* Whether berth-serve serves a ModelFormat (XGBOOST, PYTORCH, TORCH_SCRIPT). */
bool api_builtin_format(const char *format);
int api_create_training_model(struct api_call *c);
int api_describe_training_models(struct api_call *c);
int api_describe_training_model_versions(struct api_call *c);
int api_describe_training_model_version(struct api_call *c);
int api_delete_training_model(struct api_call *c);
int api_delete_training_model_version(struct api_call *c);

/* The service actions (services.c). */
int api_create_model_service(struct api_call *c);
int api_describe_model_service(struct api_call *c);
int api_describe_model_service_group(struct api_call *c);
int api_describe_model_service_groups(struct api_call *c);
int api_modify_model_service(struct api_call *c);
int api_delete_model_service(struct api_call *c);
int api_delete_model_service_group(struct api_call *c);
int api_describe_model_service_call_info(struct api_call *c);
int api_modify_service_group_weights(struct api_call *c);

/* The spec catalogue (specs.c). */
int api_describe_billing_specs(struct api_call *c);
int api_describe_billing_specs_price(struct api_call *c);
struct spec;
/* Read 'p's Resources into 'spec' (LimitCpuMilli, LimitMemoryMiB) for a
 * prepaid version, or, without Resources and with InstanceType 'sp', drop
 * them so the spec's figures apply. Fails naming the field. */
int api_read_resources(struct api_call *c, const json_t *p, const struct spec *sp, json_t *spec,
                       bool creating);
/* Model hot update (hotupdate.c). */
/* ModelHotUpdateEnable of Create/ModifyModelService into 'spec' (after the
 * model fields are in it): on needs a model version with auto-clean. */
int api_hotupdate_read(struct api_call *c, const json_t *p, json_t *spec);
/* Whether a version was imported with AutoClean "true"; *keep (optional)
 * gets its MaxReservedModels then, else 0. */
bool api_version_auto_clean(const struct store_model_version *v, long long *keep);
int api_describe_model_service_hot_updated(struct api_call *c);

/* Storage mounts (volumes.c). */
/* VolumeMount / VolumeMounts of Create/ModifyModelService into spec "Mounts". */
int api_volumes_read(struct api_call *c, const json_t *p, json_t *spec);
/* One VolumeMount at 'where' (of a container service: its MountPath need
 * not exist here); *out a new {Id, Path, MountPath, ReadOnly}. */
int api_volume_read(struct api_call *c, const json_t *vm, const char *where, bool container,
                    json_t **out);
/* Accounts, the ledger and postpaid billing (billing.c, Berth extensions). */
int api_create_account(struct api_call *c);
int api_describe_accounts(struct api_call *c);
int api_create_account_key(struct api_call *c);
int api_top_up_account(struct api_call *c);
int api_describe_ledger(struct api_call *c);
int api_describe_usage_report(struct api_call *c);
/* Whether the caller's account can freeze two hours of the postpaid
 * 'instances' of a version with 'spec' (always, for the administrator, whose
 * services are not billed, and for PREPAID); OperationDenied.BalanceInsufficient
 * with the numbers if not. */
int api_billing_precheck(struct api_call *c, const json_t *spec, int instances);
/* Begin billing the postpaid part of a version just created by the caller's account. */
void api_billing_begin(struct api_call *c, const char *tags_json, const char *group_id,
                       const char *service_id, const json_t *spec, int instances);
/* Before a RESUME of 's' to 'instances': refused when its account cannot
 * freeze two hours of them. */
int api_billing_resume_check(struct api_call *c, const struct store_service *s, int instances);
/* BusinessStatus and BillingInfo of a billed version, over what 'o' has. */
void api_billing_show(struct api_call *c, const struct store_service *s, json_t *o);

/* Prepaid resource groups (resgroups.c). */
int api_describe_billing_resource_groups(struct api_call *c);
int api_describe_billing_resource_group(struct api_call *c);
/* The PREPAID / HYBRID_PAID fields of a create (ResourceGroupId, Resources,
 * HybridBillingPrepaidReplicas) into 'spec', refused for other charge types;
 * 'group_charge' is the group's for a new version (NULL for a new group).
 * When what it takes fits its group, returns 0 holding the capacity lock
 * until api_prepaid_done(), which the caller calls once the version is
 * inserted (or not); ResourceInsufficient with the numbers otherwise. */
int api_prepaid_read(struct api_call *c, const char *charge, const char *group_charge, json_t *spec,
                     int replicas);
/* Whether stored version 's' with 'replicas' fits its group beside the
 * others; holds the lock as api_prepaid_read() does when it returns 0. */
int api_prepaid_check(struct api_call *c, const struct store_service *s, int replicas);
/* A ModifyModelService of 's' to 'spec' and 'replicas' (< 0: unchanged):
 * PREPAID versions keep ScaleMode MANUAL and their InstanceType-less size,
 * and a new count must fit; holds the lock as api_prepaid_read() does. */
int api_prepaid_modify(struct api_call *c, const struct store_service *s, const json_t *spec,
                       long long replicas);
void api_prepaid_done(void);
/* ResourceGroupId, ResourceGroupName, Resources and the prepaid counts. */
void api_prepaid_show(const struct store_service *s, json_t *o);

/* Events (events.c). */
int api_describe_events(struct api_call *c);

/* The log store (logs.c). */
int api_describe_logs(struct api_call *c);

/* Call authentication (auth.c). */
int api_modify_model_service_authorization(struct api_call *c);
int api_create_model_service_auth_token(struct api_call *c);
int api_modify_model_service_auth_token(struct api_call *c);
int api_delete_model_service_auth_token(struct api_call *c);
/* Hex SHA-256 of a token value: how the store and the gateway find it. */
void api_token_hash(const char *value, char out[65]);
/* A new token with a fresh value, id and sealed value, no limits. */
void api_token_make(const struct api_config *cfg, const char *name, const char *description,
                    struct store_token *t);
/* A new AppKey and its AppSecret, sealed for group 'group_id'. */
void api_key_pair_make(const struct api_config *cfg, const char *group_id, char **app_key,
                       char **app_secret_sealed);
/* The group's AppSecret in the clear (heap), or NULL. */
char *api_app_secret(const struct api_config *cfg, const struct store_group *g);
/* The group's tokens as AuthToken objects, oldest first, and (when
 * default_value is not NULL and auth is on) the oldest one's value (heap, or
 * NULL when there is none). */
int api_group_tokens(struct api_call *c, const struct store_group *g, json_t **list,
                     char **default_value);

#endif
