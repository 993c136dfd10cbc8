/* billing.c - Berth's account actions (extensions to TI-ONE's API, see
 * docs/billing.md): CreateAccount, DescribeAccounts, CreateAccountKey,
 * TopUpAccount, DescribeLedger and DescribeUsageReport, and what the
 * service actions ask of billing: a balance check before a postpaid
 * version starts, its freeze once it exists, and its BusinessStatus and
 * BillingInfo. Creating accounts, keys and top-ups is for the administrator
 * (a credential without an account); an account's own key reads its own
 * account, ledger and usage only. */
#include "api/api.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "base/log.h"
#include "control/billing.h"
#include "control/cronscale.h"
#include "control/events.h"
#include "control/reconciler.h"
#include "store/billing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEDGER_PAGE_MAX 1000
#define ACCOUNT_NAME_MAX 60

static int admin_only(struct api_call *c)
{
    if (c->admin)
        return 0;
    return api_fail(c, "UnauthorizedOperation",
                    "%s is an administrator action; key %s is not an administrator's", c->action,
                    c->secret_id);
}

static int64_t hour_s(struct api_call *c)
{
    return ctl_billing_hour_s(c->cfg->billing);
}

static void time_text(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "12.34" from 1234 fen. */
static void yuan(int64_t fen, char out[32])
{
    snprintf(out, 32, "%s%lld.%02lld", fen < 0 ? "-" : "", (long long)(llabs(fen) / 100),
             (long long)(llabs(fen) % 100));
}

static json_t *account_json(struct api_call *c, const struct store_account *a)
{
    int64_t lb = 0, lf = 0;
    struct err err = {0};
    bool checked = store_billing_check(c->cfg->store, a->id, &lb, &lf, &err) == 0;
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:{s:I, s:I, s:b}}", "AccountId", a->id,
                     "AccountName", a->name, "Balance", (json_int_t)a->balance, "Frozen",
                     (json_int_t)a->frozen, "Available", (json_int_t)(a->balance - a->frozen),
                     "Currency", "CNY", "CreateTime", a->created_at, "LedgerCheck", "Balance",
                     (json_int_t)lb, "Frozen", (json_int_t)lf, "Consistent",
                     checked && lb == a->balance && lf == a->frozen);
}

int api_create_account(struct api_call *c)
{
    static const struct api_field fields[] = {
        {"AccountName", API_FIELD_USED}, {"Balance", API_FIELD_USED}, {NULL, API_FIELD_USED}};
    const char *name;
    long long balance = 0;
    if (admin_only(c) || api_check_fields(c, c->params, NULL, fields) ||
        api_get_str(c, c->params, "AccountName", true, &name) ||
        api_get_int(c, c->params, "Balance", false, 0, STORE_AMOUNT_MAX, &balance))
        return -1;
    if (!ctl_billing_name_ok(name, ACCOUNT_NAME_MAX))
        return api_fail(c, "InvalidParameterValue",
                        "AccountName '%s' must be 1 to %d letters, digits, '-' or '_'", name,
                        ACCOUNT_NAME_MAX);
    char suffix[9], id[16];
    crypto_random_string("abcdefghijklmnopqrstuvwxyz0123456789", 8, suffix);
    snprintf(id, sizeof(id), "acc-%s", suffix);
    struct err err = {0};
    struct store_account a = {0};
    if (store_account_create(c->cfg->store, id, name, balance, ctl_billing_now_ms(), &err) != 0 ||
        store_account_get(c->cfg->store, id, &a, &err) != 0)
        return api_fail_store(c, &err);
    json_object_set_new(c->out, "Account", account_json(c, &a));
    store_account_release(&a);
    return 0;
}

int api_describe_accounts(struct api_call *c)
{
    static const struct api_field fields[] = {{"AccountIds", API_FIELD_USED},
                                              {NULL, API_FIELD_USED}};
    if (api_check_fields(c, c->params, NULL, fields))
        return -1;
    const json_t *ids = json_object_get(c->params, "AccountIds");
    if (api_present(ids) && !json_is_array(ids))
        return api_fail(c, "InvalidParameter", "AccountIds must be a list of account ids");
    struct store_account *list;
    size_t n;
    struct err err = {0};
    if (store_account_list(c->cfg->store, &list, &n, &err) != 0)
        return api_fail_store(c, &err);
    json_t *set = json_array();
    for (size_t i = 0; i < n; i++) {
        bool want = c->admin || strcmp(list[i].id, c->account_id) == 0;
        if (want && json_is_array(ids) && json_array_size(ids)) {
            want = false;
            size_t k;
            json_t *v;
            json_array_foreach(ids, k, v) want |=
                json_is_string(v) && strcmp(json_string_value(v), list[i].id) == 0;
        }
        if (want)
            json_array_append_new(set, account_json(c, &list[i]));
        store_account_release(&list[i]);
    }
    free(list);
    json_object_set_new(c->out, "TotalCount", json_integer((json_int_t)json_array_size(set)));
    json_object_set_new(c->out, "AccountSet", set);
    json_object_set_new(c->out, "BillingHourSeconds", json_integer((json_int_t)hour_s(c)));
    return 0;
}

int api_create_account_key(struct api_call *c)
{
    static const struct api_field fields[] = {{"AccountId", API_FIELD_USED},
                                              {NULL, API_FIELD_USED}};
    const char *id;
    if (admin_only(c) || api_check_fields(c, c->params, NULL, fields) ||
        api_get_str(c, c->params, "AccountId", true, &id))
        return -1;
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char secret_id[37] = "AKID", key[33];
    crypto_random_string(alnum, 32, secret_id + 4);
    crypto_random_string(alnum, 32, key);
    struct err err = {0};
    if (store_account_key_add(c->cfg->store, id, secret_id, key, &err) != 0)
        return api_fail_store(c, &err);
    json_object_set_new(c->out, "AccountId", json_string(id));
    json_object_set_new(c->out, "SecretId", json_string(secret_id));
    json_object_set_new(c->out, "SecretKey", json_string(key));
    crypto_wipe(key, sizeof(key));
    return 0;
}

int api_top_up_account(struct api_call *c)
{
    static const struct api_field fields[] = {{"AccountId", API_FIELD_USED},
                                              {"Amount", API_FIELD_USED},
                                              {"Note", API_FIELD_USED},
                                              {NULL, API_FIELD_USED}};
    const char *id, *note;
    long long amount;
    if (admin_only(c) || api_check_fields(c, c->params, NULL, fields) ||
        api_get_str(c, c->params, "AccountId", true, &id) ||
        api_get_int(c, c->params, "Amount", true, 1, STORE_AMOUNT_MAX, &amount) ||
        api_get_str(c, c->params, "Note", false, &note))
        return -1;
    if (note && strlen(note) > 256)
        return api_fail(c, "InvalidParameterValue", "Note must be at most 256 bytes");
    struct err err = {0};
    struct store_account a = {0};
    if (store_account_get(c->cfg->store, id, &a, &err) != 0)
        return api_fail_store(c, &err);
    if (a.balance + amount > STORE_AMOUNT_MAX) {
        store_account_release(&a);
        return api_fail(c, "InvalidParameterValue",
                        "Amount %lld would take the balance of %s past %lld fen", amount, id,
                        STORE_AMOUNT_MAX);
    }
    store_account_release(&a);
    char **resumed;
    size_t nresumed;
    if (store_account_topup(c->cfg->store, id, amount, note ? note : "top-up", ctl_billing_now_ms(),
                            &resumed, &nresumed, &err) != 0)
        return api_fail_store(c, &err);
    json_t *list = json_array();
    for (size_t i = 0; i < nresumed; i++) {
        json_array_append_new(list, json_string(resumed[i]));
        log_info("billing", "service=%s account=%s resumed after a top-up", resumed[i], id);
        struct store_billing b = {0};
        if (store_billing_get(c->cfg->store, resumed[i], &b, NULL) == 0)
            ctl_event_version(c->cfg->store, b.region, resumed[i], CTL_EVENT_NORMAL,
                              "ArrearsResumed", "Resumed after a top-up of %lld fen to account %s",
                              amount, id);
        store_billing_release(&b);
        free(resumed[i]);
    }
    free(resumed);
    if (nresumed) {
        ctl_cronscale_kick(c->cfg->cronscale);
        ctl_reconciler_kick(c->cfg->reconciler);
    }
    if (store_account_get(c->cfg->store, id, &a, &err) != 0) {
        json_decref(list);
        return api_fail_store(c, &err);
    }
    json_object_set_new(c->out, "Account", account_json(c, &a));
    json_object_set_new(c->out, "ResumedServiceIds", list);
    store_account_release(&a);
    return 0;
}

/* StartTime and EndTime (RFC 3339) into [start, end) in ms; end 0: none. */
static int read_period(struct api_call *c, int64_t *start_ms, int64_t *end_ms)
{
    const char *start, *end;
    if (api_get_str(c, c->params, "StartTime", false, &start) ||
        api_get_str(c, c->params, "EndTime", false, &end))
        return -1;
    int64_t s = 0, e = 0;
    if (start && !api_parse_time(start, &s))
        return api_fail(c, "InvalidParameterValue",
                        "StartTime must be an RFC 3339 time such as 2026-12-01T00:00:00Z, got '%s'",
                        start);
    if (end && !api_parse_time(end, &e))
        return api_fail(c, "InvalidParameterValue",
                        "EndTime must be an RFC 3339 time such as 2027-01-01T00:00:00Z, got '%s'",
                        end);
    if (start && end && e <= s)
        return api_fail(c, "InvalidParameterValue", "EndTime '%s' is not after StartTime '%s'", end,
                        start);
    *start_ms = s * 1000;
    *end_ms = e * 1000;
    return 0;
}

/* The account a reading action is about: the caller's own for an account
 * key (another one is refused), any or the given one for the administrator. */
static int read_account_scope(struct api_call *c, const char **account)
{
    if (api_get_str(c, c->params, "AccountId", false, account))
        return -1;
    if (!c->admin) { /* a key of an account (or of none: then it reads nothing) */
        if (*account && strcmp(*account, c->account_id) != 0)
            return api_fail(c, "UnauthorizedOperation",
                            "%s: account %s's keys cannot read account %s", c->action,
                            c->account_id, *account);
        *account = c->account_id;
    }
    return 0;
}

int api_describe_ledger(struct api_call *c)
{
    static const struct api_field fields[] = {
        {"AccountId", API_FIELD_USED}, {"ServiceId", API_FIELD_USED}, {"Kind", API_FIELD_USED},
        {"StartTime", API_FIELD_USED}, {"EndTime", API_FIELD_USED},   {"Offset", API_FIELD_USED},
        {"Limit", API_FIELD_USED},     {NULL, API_FIELD_USED}};
    static const char *const kinds[] = {"TOPUP", "FREEZE", "CHARGE", "REFUND", NULL};
    struct store_ledger_query q = {0};
    long long offset = 0, limit = 100;
    if (api_check_fields(c, c->params, NULL, fields) || read_account_scope(c, &q.account_id) ||
        api_get_str(c, c->params, "ServiceId", false, &q.service_id) ||
        api_get_str(c, c->params, "Kind", false, &q.kind) ||
        api_get_int(c, c->params, "Offset", false, 0, 1LL << 40, &offset) ||
        api_get_int(c, c->params, "Limit", false, 1, LEDGER_PAGE_MAX, &limit) ||
        read_period(c, &q.start_ms, &q.end_ms))
        return -1;
    if (q.kind && !api_in_list(kinds, q.kind))
        return api_fail(c, "InvalidParameterValue",
                        "Kind must be TOPUP, FREEZE, CHARGE or REFUND, got '%s'", q.kind);
    char kind[8] = "";
    if (q.kind) {
        for (size_t i = 0; q.kind[i] && i < sizeof(kind) - 1; i++)
            kind[i] = (char)(q.kind[i] >= 'a' && q.kind[i] <= 'z' ? q.kind[i] - 32 : q.kind[i]);
        q.kind = kind;
    }
    q.offset = (size_t)offset;
    q.limit = (size_t)limit;
    struct store_ledger_row *rows;
    size_t n;
    uint64_t total;
    struct err err = {0};
    if (store_ledger_list(c->cfg->store, &q, &rows, &n, &total, &err) != 0)
        return api_fail_store(c, &err);
    json_t *set = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct store_ledger_row *r = &rows[i];
        char t[32];
        time_text(r->t_ms, t);
        json_t *tags = json_loads(r->tags_json, 0, NULL);
        json_array_append_new(
            set,
            json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:o, s:I, s:I, s:s, "
                      "s:s, s:I}",
                      "Seq", (json_int_t)r->seq, "AccountId", r->account_id, "Kind", r->kind,
                      "Amount", (json_int_t)r->amount, "Balance", (json_int_t)r->balance, "Frozen",
                      (json_int_t)r->frozen, "Region", r->region, "ServiceGroupId", r->group_id,
                      "ServiceId", r->service_id, "Tags", tags ? tags : json_array(), "Price",
                      (json_int_t)r->price, "InstanceMs", (json_int_t)r->instance_ms, "Note",
                      r->note, "Time", t, "TimeMs", (json_int_t)r->t_ms));
        store_ledger_row_release(&rows[i]);
    }
    free(rows);
    json_object_set_new(c->out, "TotalCount", json_integer((json_int_t)total));
    json_object_set_new(c->out, "LedgerSet", set);
    return 0;
}

int api_describe_usage_report(struct api_call *c)
{
    static const struct api_field fields[] = {{"GroupBy", API_FIELD_USED},
                                              {"AccountId", API_FIELD_USED},
                                              {"StartTime", API_FIELD_USED},
                                              {"EndTime", API_FIELD_USED},
                                              {NULL, API_FIELD_USED}};
    const char *by_text, *account;
    int64_t start_ms, end_ms;
    if (api_check_fields(c, c->params, NULL, fields) || read_account_scope(c, &account) ||
        api_get_str(c, c->params, "GroupBy", true, &by_text) || read_period(c, &start_ms, &end_ms))
        return -1;
    enum store_usage_by by;
    const char *tag_key = NULL;
    if (strcmp(by_text, "account") == 0)
        by = STORE_USAGE_ACCOUNT;
    else if (strcmp(by_text, "service") == 0)
        by = STORE_USAGE_SERVICE;
    else if (strncmp(by_text, "tag:", 4) == 0 && by_text[4])
        by = STORE_USAGE_TAG, tag_key = by_text + 4;
    else
        return api_fail(c, "InvalidParameterValue",
                        "GroupBy must be account, service or tag:KEY (e.g. tag:team), got '%s'",
                        by_text);
    struct store_usage *u;
    size_t n;
    struct err err = {0};
    if (store_billing_usage(c->cfg->store, by, tag_key, account, start_ms, end_ms, &u, &n, &err))
        return api_fail_store(c, &err);
    json_t *items = json_array();
    int64_t total = 0, total_ms = 0;
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(items, json_pack("{s:s, s:I, s:I, s:I}", "Key", u[i].key, "Amount",
                                               (json_int_t)u[i].amount, "InstanceMs",
                                               (json_int_t)u[i].instance_ms, "Charges",
                                               (json_int_t)u[i].charges));
        total += u[i].amount;
        total_ms += u[i].instance_ms;
        store_usage_release(&u[i]);
    }
    free(u);
    json_object_set_new(c->out, "GroupBy", json_string(by_text));
    json_object_set_new(c->out, "Currency", json_string("CNY"));
    json_object_set_new(c->out, "TotalAmount", json_integer((json_int_t)total));
    json_object_set_new(c->out, "TotalInstanceMs", json_integer((json_int_t)total_ms));
    json_object_set_new(c->out, "Items", items);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* What the service actions ask                                             */

static int insufficient(struct api_call *c, int64_t available, int64_t freeze, int instances,
                        const char *instance_type, int64_t price)
{
    return api_fail(c, "OperationDenied.BalanceInsufficient",
                    "account %s has %lld fen free, less than the %lld fen that starting %d "
                    "instance%s of %s (%lld fen an hour each) freezes for two hours; top it up",
                    c->account_id, (long long)available, (long long)freeze, instances,
                    instances == 1 ? "" : "s", instance_type, (long long)price);
}

/* The charge type a stored or new spec bills by. */
static bool postpaid(const json_t *spec)
{
    const char *charge = json_string_value(json_object_get(spec, "ChargeType"));
    return !charge || strcmp(charge, "PREPAID") != 0;
}

int api_billing_precheck(struct api_call *c, const json_t *spec, int instances)
{
    const char *instance_type = json_string_value(json_object_get(spec, "InstanceType"));
    if (!c->account_id[0] || !postpaid(spec))
        return 0;
    int64_t price = ctl_billing_price(instance_type);
    if (price < 0)
        return api_fail(c, "FailedOperation.UnknownInstanceType", "InstanceType '%s' has no price",
                        instance_type ? instance_type : "");
    int64_t available;
    struct err err = {0};
    if (store_account_available(c->cfg->store, c->account_id, &available, &err) != 0)
        return api_fail_store(c, &err);
    int64_t freeze = 2 * price * instances;
    if (available < freeze)
        return insufficient(c, available, freeze, instances, instance_type, price);
    return 0;
}

void api_billing_begin(struct api_call *c, const char *tags_json, const char *group_id,
                       const char *service_id, const json_t *spec, int instances)
{
    const char *instance_type = json_string_value(json_object_get(spec, "InstanceType"));
    if (!c->account_id[0] || !postpaid(spec))
        return;
    struct store_billing b = {.service_id = (char *)service_id,
                              .account_id = c->account_id,
                              .region = (char *)c->region,
                              .group_id = (char *)group_id,
                              .tags_json = (char *)tags_json,
                              .price = ctl_billing_price(instance_type)};
    struct err err = {0};
    int rc = store_billing_start(c->cfg->store, &b, instances, ctl_billing_now_ms(), &err);
    if (rc < 0)
        log_error("billing", "cannot bill %s to %s: %s", service_id, c->account_id, err.msg);
    else if (rc == 1) /* another start took the balance since the check */
        ctl_reconciler_kick(c->cfg->reconciler);
}

int api_billing_resume_check(struct api_call *c, const struct store_service *s, int instances)
{
    struct store_billing b = {0};
    struct err err = {0};
    int rc = store_billing_get(c->cfg->store, s->id, &b, &err);
    if (rc == ERR_NOTFOUND)
        return 0;
    if (rc)
        return api_fail_store(c, &err);
    int64_t available;
    rc = store_account_available(c->cfg->store, b.account_id, &available, &err);
    int64_t freeze = 2 * b.price * instances;
    if (rc)
        rc = api_fail_store(c, &err);
    else if (available < freeze)
        rc =
            api_fail(c, "OperationDenied.BalanceInsufficient",
                     "%s%s: account %s has %lld fen free, less than the %lld fen that resuming "
                     "%d instance%s (%lld fen an hour each) freezes for two hours; top it up",
                     s->id, strcmp(b.status, "ARREARS_STOP") == 0 ? " was stopped for arrears" : "",
                     b.account_id, (long long)available, (long long)freeze, instances,
                     instances == 1 ? "" : "s", (long long)b.price);
    store_billing_release(&b);
    return rc;
}

void api_billing_show(struct api_call *c, const struct store_service *s, json_t *o)
{
    struct store_billing b = {0};
    struct err err = {0};
    json_object_set_new(o, "BillingInfo", json_string(""));
    api_prepaid_show(s, o);
    if (store_billing_get(c->cfg->store, s->id, &b, &err) != 0)
        return;
    json_object_set_new(o, "BillingAccountId", json_string(b.account_id));
    if (strcmp(b.status, "ARREARS_STOP") == 0) {
        json_object_set_new(o, "BusinessStatus", json_string("ARREARS_STOP"));
        json_object_set_new(o, "BillingInfo", json_string("模型服务已欠费停止"));
    } else if (strcmp(b.status, "BILLING") == 0 && !s->stopped) {
        /* TI-ONE's text: 模型服务计费中：1.2元/小时 */
        char price[32], text[96];
        yuan(b.price * s->replicas, price);
        snprintf(text, sizeof(text), "模型服务计费中：%s元/小时", price);
        json_object_set_new(o, "BusinessStatus", json_string("BILLING"));
        json_object_set_new(o, "BillingInfo", json_string(text));
    }
    store_billing_release(&b);
}
