/* auth.c - call authentication of service groups (tione-api.md §2, §3.13,
 * §3.14): ModifyModelServiceAuthorization, the token actions, tokens and the
 * legacy key pair in answers.
 *
 * A token's value is 32 random letters and digits (190 bits). The store keeps
 * its SHA-256, which is how the gateway and these actions find it, and the
 * value sealed with berthd's secret key (a file beside the database, never in
 * it), because TI-ONE shows tokens again on the call page. A stolen database
 * alone therefore holds no working token and no AppSecret. */
#include "api/api.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "base/log.h"
#include "control/reconciler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define TOKEN_CHARS 32
#define TOKEN_NAME_MAX 60
#define TOKEN_DESCRIPTION_MAX 200
#define TOKEN_LIMIT_MAX 1000000000000ULL /* a Max past this is a typo */

void api_token_hash(const char *value, char out[65])
{
    uint8_t h[CRYPTO_SHA256_BYTES];
    crypto_sha256(value, strlen(value), h);
    crypto_hex(h, sizeof(h), out);
}

static char *seal(const struct api_config *cfg, const char *ad, const char *plain)
{
    char *out = xmalloc(crypto_sealed_size(strlen(plain)));
    crypto_seal(cfg->seal_key, ad, plain, strlen(plain), out);
    return out;
}

/* The sealed value opened, or NULL (logged) when it does not open: the
 * secret key file is not the one that sealed it. */
static char *unseal(const struct api_config *cfg, const char *ad, const char *sealed)
{
    char *out = xmalloc(strlen(sealed) + 1);
    size_t n;
    if (crypto_open(cfg->seal_key, ad, sealed, out, &n) != 0) {
        log_error("api", "a secret of %s does not open with this berthd's secret key", ad);
        free(out);
        return NULL;
    }
    return out;
}

void api_key_pair_make(const struct api_config *cfg, const char *group_id, char **app_key,
                       char **app_secret_sealed)
{
    char key[41] = "APID", secret[41];
    crypto_random_string(ALNUM, 36, key + 4);
    crypto_random_string(ALNUM, 40, secret);
    *app_key = xstrdup(key);
    *app_secret_sealed = seal(cfg, group_id, secret);
    crypto_wipe(secret, sizeof(secret));
}

char *api_app_secret(const struct api_config *cfg, const struct store_group *g)
{
    return *g->app_secret ? unseal(cfg, g->id, g->app_secret) : NULL;
}

/* A fresh id, value, hash and sealed value into 't'. */
static void token_fill_secret(const struct api_config *cfg, struct store_token *t)
{
    char id[33], value[TOKEN_CHARS + 1], hash[65];
    crypto_random_string("0123456789abcdef", 32, id);
    crypto_random_string(ALNUM, TOKEN_CHARS, value);
    api_token_hash(value, hash);
    t->id = xstrdup(id);
    t->value_hash = xstrdup(hash);
    t->value_sealed = seal(cfg, id, value);
    crypto_wipe(value, sizeof(value));
}

void api_token_make(const struct api_config *cfg, const char *name, const char *description,
                    struct store_token *t)
{
    char now[32];
    api_now(now);
    memset(t, 0, sizeof(*t));
    token_fill_secret(cfg, t);
    t->name = xstrdup(name ? name : "");
    t->description = xstrdup(description ? description : "");
    t->limits_json = xstrdup("[]");
    t->status = xstrdup("Enabled");
    t->created_at = xstrdup(now);
}

/* AuthToken (§4.7) for an answer; Value "" if it does not open. */
static json_t *token_json(const struct api_config *cfg, const struct store_token *t)
{
    char *value = unseal(cfg, t->id, t->value_sealed);
    json_error_t jerr;
    json_t *limits = json_loads(t->limits_json, 0, &jerr);
    json_t *o =
        json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:o}", "Base", "Value", value ? value : "",
                  "Name", t->name, "Description", t->description, "CreateTime", t->created_at,
                  "Status", t->status, "Id", t->id, "Limits", limits ? limits : json_array());
    if (value) {
        crypto_wipe(value, strlen(value));
        free(value);
    }
    return o;
}

int api_group_tokens(struct api_call *c, const struct store_group *g, json_t **list,
                     char **default_value)
{
    struct store_token *t;
    size_t n;
    struct err err = {0};
    if (store_token_list(c->cfg->store, g->id, &t, &n, &err) != 0)
        return api_fail_store(c, &err);
    *list = json_array();
    if (default_value)
        *default_value = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *tj = token_json(c->cfg, &t[i]);
        if (default_value && !*default_value && g->auth_enable)
            *default_value =
                xstrdup(json_string_value(json_object_get(json_object_get(tj, "Base"), "Value")));
        json_array_append_new(*list, tj);
        store_token_release(&t[i]);
    }
    free(t);
    return 0;
}

/* Limits: at most one {Strategy: PerMinute|PerDay, Max: 1..} per strategy,
 * into compact JSON (heap). */
static int check_limits(struct api_call *c, const json_t *limits, char **out)
{
    static const struct api_field fields[] = {
        {"Strategy", API_FIELD_USED}, {"Max", API_FIELD_USED}, {NULL, API_FIELD_USED}};
    if (!json_is_array(limits))
        return api_fail(c, "InvalidParameter",
                        "AuthToken.Limits must be a list of {Strategy, Max}");
    bool seen[2] = {false, false};
    json_t *clean = json_array();
    size_t i;
    const json_t *l;
    json_array_foreach(limits, i, l)
    {
        char where[48], at[52];
        snprintf(where, sizeof(where), "AuthToken.Limits[%zu]", i);
        snprintf(at, sizeof(at), "%s.", where);
        const char *strategy;
        long long max;
        if (api_check_object(c, l, where, fields)) {
            json_decref(clean);
            return -1;
        }
        if (api_get_str(c, l, "Strategy", true, &strategy) ||
            api_get_int(c, l, "Max", true, 1, (long long)TOKEN_LIMIT_MAX, &max)) {
            json_decref(clean);
            return api_prefix_error(c, at);
        }
        int k = strcmp(strategy, "PerMinute") == 0 ? 0 : strcmp(strategy, "PerDay") == 0 ? 1 : -1;
        if (k < 0 || seen[k]) {
            json_decref(clean);
            return k < 0 ? api_fail(c, "InvalidParameterValue",
                                    "%s.Strategy '%s' must be PerMinute or PerDay", where, strategy)
                         : api_fail(c, "InvalidParameterValue", "%s.Strategy %s is given twice",
                                    where, strategy);
        }
        seen[k] = true;
        json_array_append_new(
            clean, json_pack("{s:s, s:I}", "Strategy", strategy, "Max", (json_int_t)max));
    }
    *out = json_dumps(clean, JSON_COMPACT);
    json_decref(clean);
    return 0;
}

static int check_text(struct api_call *c, const char *what, const char *v, size_t max)
{
    if (v && strlen(v) > max)
        return api_fail(c, "InvalidParameterValue", "%s has %zu bytes, more than %zu", what,
                        strlen(v), max);
    return 0;
}

int api_modify_model_service_authorization(struct api_call *c)
{
    static const struct api_field fields[] = {{"ServiceGroupId", API_FIELD_USED},
                                              {"AuthorizationEnable", API_FIELD_USED},
                                              {"TiProjectId", API_FIELD_IGNORED},
                                              {NULL, API_FIELD_USED}};
    const char *id;
    bool on = false;
    if (api_check_fields(c, c->params, NULL, fields) ||
        api_get_str(c, c->params, "ServiceGroupId", true, &id) ||
        api_get_bool(c, c->params, "AuthorizationEnable", &on))
        return -1;
    struct store_token t = {0};
    if (on)
        api_token_make(c->cfg, "default", "", &t);
    struct err err = {0};
    int rc = store_group_set_auth(c->cfg->store, c->region, id, on, on ? &t : NULL, &err);
    store_token_release(&t);
    if (rc)
        return api_fail_store(c, &err);
    ctl_reconciler_sync(c->cfg->reconciler);
    return 0;
}

int api_create_model_service_auth_token(struct api_call *c)
{
    static const struct api_field fields[] = {{"ServiceGroupId", API_FIELD_USED},
                                              {"Name", API_FIELD_USED},
                                              {"Description", API_FIELD_USED},
                                              {"TiProjectId", API_FIELD_IGNORED},
                                              {NULL, API_FIELD_USED}};
    const char *id, *name = NULL, *desc = NULL;
    if (api_check_fields(c, c->params, NULL, fields) ||
        api_get_str(c, c->params, "ServiceGroupId", true, &id) ||
        api_get_str(c, c->params, "Name", false, &name) ||
        api_get_str(c, c->params, "Description", false, &desc) ||
        check_text(c, "Name", name, TOKEN_NAME_MAX) ||
        check_text(c, "Description", desc, TOKEN_DESCRIPTION_MAX))
        return -1;
    struct store_token t;
    api_token_make(c->cfg, name, desc, &t);
    struct err err = {0};
    int rc = store_token_create(c->cfg->store, c->region, id, &t, &err);
    store_token_release(&t);
    if (rc)
        return api_fail_store(c, &err);
    ctl_reconciler_sync(c->cfg->reconciler);
    return 0;
}

int api_modify_model_service_auth_token(struct api_call *c)
{
    static const struct api_field fields[] = {{"ServiceGroupId", API_FIELD_USED},
                                              {"NeedReset", API_FIELD_USED},
                                              {"AuthToken", API_FIELD_USED},
                                              {"TiProjectId", API_FIELD_IGNORED},
                                              {NULL, API_FIELD_USED}};
    static const struct api_field token_fields[] = {
        {"Base", API_FIELD_USED}, {"Limits", API_FIELD_USED}, {NULL, API_FIELD_USED}};
    /* CreateTime, Id and Status are the token's own: clients send back what
     * they read, so they are accepted and not changed. */
    static const struct api_field base_fields[] = {
        {"Value", API_FIELD_USED},      {"Name", API_FIELD_USED},   {"Description", API_FIELD_USED},
        {"CreateTime", API_FIELD_USED}, {"Status", API_FIELD_USED}, {"Id", API_FIELD_USED},
        {NULL, API_FIELD_USED}};
    const char *id, *value, *name = NULL, *desc = NULL, *status = NULL;
    bool reset = false;
    const json_t *tok = json_object_get(c->params, "AuthToken");
    const json_t *base = json_object_get(tok, "Base");
    if (api_check_fields(c, c->params, NULL, fields) ||
        api_get_str(c, c->params, "ServiceGroupId", true, &id) ||
        api_get_bool(c, c->params, "NeedReset", &reset))
        return -1;
    if (!api_present(tok))
        return api_fail(c, "MissingParameter", "AuthToken is required");
    if (api_check_object(c, tok, "AuthToken", token_fields))
        return -1;
    if (!api_present(base))
        return api_fail(c, "MissingParameter", "AuthToken.Base is required");
    if (api_check_object(c, base, "AuthToken.Base", base_fields) ||
        api_get_str(c, base, "Value", true, &value) || api_get_str(c, base, "Name", false, &name) ||
        api_get_str(c, base, "Description", false, &desc) ||
        api_get_str(c, base, "Status", false, &status))
        return api_prefix_error(c, "AuthToken.Base.");
    if (check_text(c, "AuthToken.Base.Name", name, TOKEN_NAME_MAX) ||
        check_text(c, "AuthToken.Base.Description", desc, TOKEN_DESCRIPTION_MAX))
        return -1;
    if (status && strcmp(status, "Enabled") != 0)
        return api_fail(c, "InvalidParameterValue",
                        "AuthToken.Base.Status '%s': tokens are Enabled; delete one to stop it",
                        status);

    /* Name, Description and Limits given are set; absent ones stay. */
    char hash[65];
    api_token_hash(value, hash);
    struct store_token cur = {0}, *all;
    size_t n;
    struct err err = {0};
    if (store_token_list(c->cfg->store, id, &all, &n, &err) != 0)
        return api_fail_store(c, &err);
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        if (!found && strcmp(all[i].value_hash, hash) == 0) {
            cur = all[i];
            found = true;
        } else {
            store_token_release(&all[i]);
        }
    }
    free(all);
    struct store_group g;
    if (store_group_get(c->cfg->store, c->region, id, &g, &err) != 0) {
        store_token_release(&cur);
        return api_fail_store(c, &err);
    }
    store_group_release(&g);
    if (!found)
        return api_fail(c, "ResourceNotFound", "service group '%s' has no such token", id);
    struct store_token t = {
        .name = (char *)(name ? name : cur.name),
        .description = (char *)(desc ? desc : cur.description),
        .limits_json = cur.limits_json,
    };
    char *limits = NULL;
    const json_t *lj = json_object_get(tok, "Limits");
    if (lj && !json_is_null(lj)) {
        if (check_limits(c, lj, &limits)) {
            store_token_release(&cur);
            return -1;
        }
        t.limits_json = limits;
    }
    struct store_token fresh = {0};
    if (reset) {
        token_fill_secret(c->cfg, &fresh);
        t.id = fresh.id;
        t.value_hash = fresh.value_hash;
        t.value_sealed = fresh.value_sealed;
    }
    int rc = store_token_update(c->cfg->store, c->region, id, hash, &t, &err);
    free(limits);
    store_token_release(&fresh);
    store_token_release(&cur);
    if (rc)
        return api_fail_store(c, &err);
    ctl_reconciler_sync(c->cfg->reconciler);
    return 0;
}

int api_delete_model_service_auth_token(struct api_call *c)
{
    static const struct api_field fields[] = {{"ServiceGroupId", API_FIELD_USED},
                                              {"AuthTokenValue", API_FIELD_USED},
                                              {"TiProjectId", API_FIELD_IGNORED},
                                              {NULL, API_FIELD_USED}};
    const char *id, *value;
    if (api_check_fields(c, c->params, NULL, fields) ||
        api_get_str(c, c->params, "ServiceGroupId", true, &id) ||
        api_get_str(c, c->params, "AuthTokenValue", true, &value))
        return -1;
    char hash[65];
    api_token_hash(value, hash);
    struct err err = {0};
    if (store_token_delete(c->cfg->store, c->region, id, hash, &err) != 0)
        return api_fail_store(c, &err);
    ctl_reconciler_sync(c->cfg->reconciler);
    return 0;
}
