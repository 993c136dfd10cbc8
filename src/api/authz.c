/* authz.c - which resource an action touches, as its parameters name it,
 * and the key actions of the administrator (CreateAccessKey,
 * ModifyAccessKeyPolicy).
 *
 * The resource is looked up before the handler runs, so that a key never
 * learns from an answer whether a resource it may not touch exists: an id
 * that names nothing is decided as a resource without tags, and only a key
 * allowed on it hears ResourceNotFound from the handler. */
#include "api/authz.h"
#include "api/policy.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What an action's parameters name. */
enum target {
    T_NONE,          /* no resource: statements for every resource decide */
    T_GROUP,         /* ServiceGroupId */
    T_SERVICE,       /* ServiceId (a version) */
    T_SCOPE,         /* ServiceId optional: a version or a group; absent, the region */
    T_CREATE_SVC,    /* a new group with Tags, or a new version of ServiceGroupId */
    T_MODEL,         /* TrainingModelId */
    T_MODEL_VERSION, /* TrainingModelVersionId */
    T_CREATE_MODEL,  /* a new model with Tags, or a new version of TrainingModelId */
    T_LIST,          /* a list: filtered by entry */
    T_ADMIN,         /* the administrator's own */
};

static const struct {
    const char *action;
    enum target target;
} targets[] = {
    {"DescribeModelServiceGroup", T_GROUP},
    {"DeleteModelServiceGroup", T_GROUP},
    {"DescribeModelServiceCallInfo", T_GROUP},
    {"ModifyServiceGroupWeights", T_GROUP},
    {"ModifyModelServiceAuthorization", T_GROUP},
    {"CreateModelServiceAuthToken", T_GROUP},
    {"ModifyModelServiceAuthToken", T_GROUP},
    {"DeleteModelServiceAuthToken", T_GROUP},
    {"DescribeModelService", T_SERVICE},
    {"ModifyModelService", T_SERVICE},
    {"DeleteModelService", T_SERVICE},
    {"DescribeEvents", T_SCOPE},
    {"DescribeLogs", T_SCOPE},
    {"CreateModelService", T_CREATE_SVC},
    {"DescribeTrainingModelVersions", T_MODEL},
    {"DeleteTrainingModel", T_MODEL},
    {"DescribeTrainingModelVersion", T_MODEL_VERSION},
    {"DeleteTrainingModelVersion", T_MODEL_VERSION},
    {"CreateTrainingModel", T_CREATE_MODEL},
    {"DescribeModelServiceGroups", T_LIST},
    {"DescribeTrainingModels", T_LIST},
    {"CreateAccessKey", T_ADMIN},
    {"ModifyAccessKeyPolicy", T_ADMIN},
    /* Accounts (api/billing.c): an account's keys read their own account. */
    {"CreateAccount", T_ADMIN},
    {"CreateAccountKey", T_ADMIN},
    {"TopUpAccount", T_ADMIN},
};

static enum target target_of(const char *action)
{
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
        if (strcmp(targets[i].action, action) == 0)
            return targets[i].target;
    return T_NONE;
}

void api_authz_release(struct api_call *c)
{
    api_policy_free(c->policy);
    c->policy = NULL;
}

static int refuse(struct api_call *c, const char *resource, enum api_policy_effect e, int stmt)
{
    char why[64];
    if (e == API_POLICY_DENY)
        snprintf(why, sizeof(why), "statement[%d] of its policy denies it", stmt);
    else
        snprintf(why, sizeof(why), "no statement of its policy allows it");
    if (resource)
        return api_fail(c, "UnauthorizedOperation",
                        "key %s is not authorized to perform operation (tione:%s) on resource "
                        "(qcs::tione:%s::%s): %s",
                        c->secret_id, c->action, c->region, resource, why);
    return api_fail(c, "UnauthorizedOperation",
                    "key %s is not authorized to perform operation (tione:%s): %s", c->secret_id,
                    c->action, why);
}

/* The resource a lookup found: its names and tags (NULL when it does not exist). */
struct found {
    char resource[160], resource2[160];
    json_t *tags;
};

static void find_group(struct api_call *c, const char *id, struct found *f)
{
    snprintf(f->resource, sizeof(f->resource), "service-group/%s", id);
    struct store_group g;
    struct err err = {0};
    if (store_group_get(c->cfg->store, c->region, id, &g, &err) == 0) {
        f->tags = json_loads(g.tags_json, 0, NULL);
        store_group_release(&g);
    }
}

static void find_service(struct api_call *c, const char *id, struct found *f)
{
    struct store_service s;
    struct err err = {0};
    if (store_service_get(c->cfg->store, c->region, id, &s, &err) == 0) {
        find_group(c, s.group_id, f);
        memcpy(f->resource2, f->resource, sizeof(f->resource));
        store_service_release(&s);
    }
    snprintf(f->resource, sizeof(f->resource), "service/%s", id);
}

static void find_model(struct api_call *c, const char *id, struct found *f)
{
    snprintf(f->resource, sizeof(f->resource), "model/%s", id);
    struct store_model m;
    struct err err = {0};
    if (store_model_get(c->cfg->store, c->region, id, &m, &err) == 0) {
        f->tags = json_loads(m.tags_json, 0, NULL);
        store_model_release(&m);
    }
}

static void find_model_version(struct api_call *c, const char *id, struct found *f)
{
    struct store_model_version v;
    struct err err = {0};
    if (store_model_version_get(c->cfg->store, c->region, id, &v, &err) == 0) {
        find_model(c, v.model_id, f);
        store_model_version_release(&v);
    } else {
        snprintf(f->resource, sizeof(f->resource), "model/%s", id);
    }
}

/* A string parameter, or NULL (the handler reports a wrong type). */
static const char *param(const struct api_call *c, const char *name)
{
    const char *s = json_string_value(json_object_get(c->params, name));
    return s && *s ? s : NULL;
}

/* Name the resource; false when the parameter that names it is missing. */
static bool locate(struct api_call *c, enum target t, struct found *f, bool *creating)
{
    const char *id;
    *creating = false;
    switch (t) {
    case T_GROUP:
        if (!(id = param(c, "ServiceGroupId")))
            return false;
        find_group(c, id, f);
        return true;
    case T_SERVICE:
        if (!(id = param(c, "ServiceId")))
            return false;
        find_service(c, id, f);
        return true;
    case T_SCOPE:
        if (!(id = param(c, "ServiceId")))
            return false;
        find_service(c, id, f);
        if (!f->tags && !f->resource2[0]) /* not a version: a group? */
            find_group(c, id, f);
        return true;
    case T_CREATE_SVC:
        if ((id = param(c, "ServiceGroupId"))) {
            find_group(c, id, f);
            return true;
        }
        *creating = true;
        snprintf(f->resource, sizeof(f->resource), "service-group/*");
        return true;
    case T_MODEL:
        if (!(id = param(c, "TrainingModelId")))
            return false;
        find_model(c, id, f);
        return true;
    case T_MODEL_VERSION:
        if (!(id = param(c, "TrainingModelVersionId")))
            return false;
        find_model_version(c, id, f);
        return true;
    case T_CREATE_MODEL:
        if ((id = param(c, "TrainingModelId"))) {
            find_model(c, id, f);
            return true;
        }
        *creating = true;
        snprintf(f->resource, sizeof(f->resource), "model/*");
        return true;
    default:
        return false;
    }
}

int api_authorize(struct api_call *c)
{
    bool admin = false;
    char *text = NULL;
    struct err err = {0};
    if (store_credential_access(c->cfg->store, c->secret_id, &admin, &text, &err) != 0)
        return api_fail(c, "InternalError", "%s", err.msg);
    c->admin = admin;
    enum target t = target_of(c->action);
    if (t == T_ADMIN && !admin) {
        free(text);
        return api_fail(c, "UnauthorizedOperation",
                        "key %s is not authorized to perform operation (tione:%s): only an "
                        "administrator key may",
                        c->secret_id, c->action);
    }
    if (admin || !text) {
        free(text);
        return 0;
    }
    json_t *doc = json_string(text);
    int rc = api_policy_parse(doc, &c->policy, NULL, &err);
    json_decref(doc);
    free(text);
    if (rc) {
        log_error("api", "the stored policy of key %s does not parse: %s", c->secret_id, err.msg);
        return api_fail(c, "UnauthorizedOperation",
                        "key %s is not authorized to perform operation (tione:%s): its policy "
                        "does not read back",
                        c->secret_id, c->action);
    }
    int stmt = -1;
    enum api_policy_effect e;
    struct found f = {0};
    bool creating = false;
    if (t == T_LIST) {
        e = api_policy_eval_action(c->policy, c->action, &stmt);
        return e == API_POLICY_ALLOW ? 0 : refuse(c, NULL, e, stmt);
    }
    if (t == T_SCOPE && !param(c, "ServiceId"))
        return api_fail(c, "UnauthorizedOperation",
                        "key %s is not authorized to perform operation (tione:%s) on a whole "
                        "region: give ServiceId, a service or group its policy allows",
                        c->secret_id, c->action);
    if (t == T_NONE || !locate(c, t, &f, &creating)) {
        /* No resource named: a statement for every resource decides; with the
         * naming parameter missing, the handler says so to a key that may
         * call the action at all. */
        if (t != T_NONE) {
            e = api_policy_eval_action(c->policy, c->action, &stmt);
            return e == API_POLICY_ALLOW ? 0 : refuse(c, NULL, e, stmt);
        }
        struct api_policy_request r = {.action = c->action, .region = c->region};
        e = api_policy_eval(c->policy, &r, &stmt);
        return e == API_POLICY_ALLOW ? 0 : refuse(c, NULL, e, stmt);
    }
    const json_t *given = json_object_get(c->params, "Tags");
    if (!json_is_array(given))
        given = NULL;
    struct api_policy_request r = {
        .action = c->action,
        .region = c->region,
        .resource = f.resource,
        .resource2 = f.resource2[0] ? f.resource2 : NULL,
        .tags = creating ? given : f.tags,
        .request_tags = creating ? given : NULL,
    };
    e = api_policy_eval(c->policy, &r, &stmt);
    rc = e == API_POLICY_ALLOW ? 0 : refuse(c, f.resource, e, stmt);
    json_decref(f.tags);
    return rc;
}

bool api_authz_visible(const struct api_call *c, const char *kind, const char *id,
                       const char *tags_json)
{
    if (!c->policy)
        return true;
    char resource[160];
    snprintf(resource, sizeof(resource), "%s/%s", kind, id);
    json_t *tags = json_loads(tags_json, 0, NULL);
    struct api_policy_request r = {
        .action = c->action, .region = c->region, .resource = resource, .tags = tags};
    bool ok = api_policy_eval(c->policy, &r, NULL) == API_POLICY_ALLOW;
    json_decref(tags);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* Key actions                                                              */

/* "Policy": an object or a string holding one; null or "" (remove) sets
 * *compact to NULL. */
static int read_policy(struct api_call *c, const json_t *v, char **compact)
{
    *compact = NULL;
    if (json_is_null(v) || (json_is_string(v) && !json_string_length(v)))
        return 0;
    if (!json_is_object(v) && !json_is_string(v))
        return api_fail(c, "InvalidParameter",
                        "Policy must be a policy document: an object or a string holding one");
    struct api_policy *p;
    struct err err = {0};
    if (api_policy_parse(v, &p, compact, &err) != 0)
        return api_fail(c, "InvalidParameterValue", "Policy: %s", err.msg);
    api_policy_free(p);
    return 0;
}

int api_create_access_key(struct api_call *c)
{
    static const struct api_field fields[] = {{"Policy", API_FIELD_USED}, {NULL, API_FIELD_USED}};
    char *policy = NULL;
    if (api_check_fields(c, c->params, NULL, fields))
        return -1;
    const json_t *v = json_object_get(c->params, "Policy");
    if (v && read_policy(c, v, &policy))
        return -1;
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char id[37] = "AKID", key[33];
    crypto_random_string(alnum, 32, id + 4);
    crypto_random_string(alnum, 32, key);
    struct err err = {0};
    int rc = store_credential_add_key(c->cfg->store, id, key, policy, &err);
    if (rc == 0) {
        json_object_set_new(c->out, "SecretId", json_string(id));
        json_object_set_new(c->out, "SecretKey", json_string(key));
        json_object_set_new(c->out, "Policy", policy ? json_string(policy) : json_null());
        log_info("api", "created key %s%s", id, policy ? " with a policy" : "");
    }
    crypto_wipe(key, sizeof(key));
    free(policy);
    return rc ? api_fail_store(c, &err) : 0;
}

int api_modify_access_key_policy(struct api_call *c)
{
    static const struct api_field fields[] = {
        {"SecretId", API_FIELD_USED}, {"Policy", API_FIELD_USED}, {NULL, API_FIELD_USED}};
    const char *id;
    char *policy = NULL;
    if (api_check_fields(c, c->params, NULL, fields) ||
        api_get_str(c, c->params, "SecretId", true, &id))
        return -1;
    const json_t *v = json_object_get(c->params, "Policy");
    if (!v)
        return api_fail(c, "MissingParameter",
                        "Policy is required (null or \"\" removes the key's policy)");
    bool admin = false;
    char *old = NULL;
    struct err err = {0};
    if (store_credential_access(c->cfg->store, id, &admin, &old, &err) != 0)
        return err.code == ERR_NOTFOUND
                   ? api_fail(c, "ResourceNotFound", "SecretId '%s' does not exist", id)
                   : api_fail_store(c, &err);
    free(old);
    if (admin)
        return api_fail(c, "InvalidParameterValue",
                        "SecretId %s is an administrator key, which policies do not restrict; "
                        "give the policy to a key made with CreateAccessKey",
                        id);
    if (read_policy(c, v, &policy))
        return -1;
    int rc = store_credential_set_policy(c->cfg->store, id, policy, &err);
    if (rc == 0) {
        json_object_set_new(c->out, "SecretId", json_string(id));
        json_object_set_new(c->out, "Policy", policy ? json_string(policy) : json_null());
        log_info("api", "key %s: policy %s", id, policy ? "set" : "removed");
    }
    free(policy);
    return rc ? api_fail_store(c, &err) : 0;
}
