/* account.c - berth account: the administrator's accounts, their keys,
 * top-ups and the ledger (CreateAccount, DescribeAccounts, CreateAccountKey,
 * TopUpAccount, DescribeLedger; docs/billing.md). Amounts are shown in CNY
 * and given in fen, as the API takes them. */
#include "cli/cli.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "12.34" from 1234 fen. */
static void yuan(json_int_t fen, char out[32])
{
    snprintf(out, 32, "%s%lld.%02lld", fen < 0 ? "-" : "", (long long)(llabs(fen) / 100),
             (long long)(llabs(fen) % 100));
}

static json_int_t jint(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* A whole number of fen, or -1. */
static long long fen_arg(const char *v)
{
    char *end;
    long long n = strtoll(v, &end, 10);
    return *v && !*end && n >= 0 ? n : -1;
}

static void print_accounts(const json_t *set)
{
    printf("%-14s  %-20s  %12s  %12s  %12s  %s\n", "ACCOUNT", "NAME", "BALANCE", "FROZEN",
           "AVAILABLE", "LEDGER");
    size_t i;
    const json_t *a;
    json_array_foreach(set, i, a)
    {
        char b[32], f[32], av[32];
        yuan(jint(a, "Balance"), b);
        yuan(jint(a, "Frozen"), f);
        yuan(jint(a, "Available"), av);
        bool ok = json_is_true(json_object_get(json_object_get(a, "LedgerCheck"), "Consistent"));
        printf("%-14s  %-20s  %12s  %12s  %12s  %s\n", cli_jstr(a, "AccountId"),
               cli_jstr(a, "AccountName"), b, f, av, ok ? "consistent" : "MISMATCH");
    }
}

static int show(struct cli *c, int rc, json_t *resp, const char *key)
{
    if (rc == CLI_OK && c->json) {
        cli_print_json(resp);
    } else if (rc == CLI_OK && key) {
        json_t *set = json_pack("[O]", json_object_get(resp, key));
        print_accounts(set);
        json_decref(set);
    }
    json_decref(resp);
    return rc;
}

static int ledger(struct cli *c, const struct cli_args *a)
{
    json_t *p = json_object();
    const char *v;
    long limit;
    if (a->argc > 0)
        json_object_set_new(p, "AccountId", json_string(a->argv[0]));
    if ((v = cli_arg(a, "service")))
        json_object_set_new(p, "ServiceId", json_string(v));
    if ((v = cli_arg(a, "kind")))
        json_object_set_new(p, "Kind", json_string(v));
    int got = cli_arg_long(a, "limit", 1, 1000, &limit);
    if (got < 0) {
        json_decref(p);
        return CLI_USAGE;
    }
    if (got > 0)
        json_object_set_new(p, "Limit", json_integer(limit));
    json_t *resp = NULL;
    int rc = cli_call(c, "DescribeLedger", p, &resp);
    if (rc == CLI_OK && !c->json) {
        printf("%6s  %-20s  %-14s  %-6s  %10s  %12s  %12s  %s\n", "SEQ", "TIME", "ACCOUNT", "KIND",
               "AMOUNT", "BALANCE", "FROZEN", "SERVICE / NOTE");
        size_t k;
        const json_t *r;
        json_array_foreach(json_object_get(resp, "LedgerSet"), k, r)
        {
            char amt[32], bal[32], fro[32];
            yuan(jint(r, "Amount"), amt);
            yuan(jint(r, "Balance"), bal);
            yuan(jint(r, "Frozen"), fro);
            printf("%6lld  %-20s  %-14s  %-6s  %10s  %12s  %12s  %s%s%s\n",
                   (long long)jint(r, "Seq"), cli_jstr(r, "Time"), cli_jstr(r, "AccountId"),
                   cli_jstr(r, "Kind"), amt, bal, fro, cli_jstr(r, "ServiceId"),
                   *cli_jstr(r, "ServiceId") ? " " : "", cli_jstr(r, "Note"));
        }
        printf("(%zu of %lld rows)\n", json_array_size(json_object_get(resp, "LedgerSet")),
               (long long)jint(resp, "TotalCount"));
        json_decref(resp);
        return rc;
    }
    return show(c, rc, resp, NULL);
}

static int create(struct cli *c, const struct cli_args *a)
{
    const char *v = cli_arg(a, "balance");
    long long balance = v ? fen_arg(v) : 0;
    if (balance < 0) {
        fprintf(stderr, "berth account create: --balance must be whole fen\n");
        return CLI_USAGE;
    }
    json_t *resp = NULL;
    json_t *p = json_pack("{s:s, s:I}", "AccountName", a->argv[0], "Balance", (json_int_t)balance);
    int rc = cli_call(c, "CreateAccount", p, &resp);
    return show(c, rc, resp, "Account");
}

static int list(struct cli *c, const struct cli_args *a)
{
    (void)a;
    json_t *resp = NULL;
    int rc = cli_call(c, "DescribeAccounts", json_object(), &resp);
    if (rc == CLI_OK && !c->json)
        print_accounts(json_object_get(resp, "AccountSet"));
    return show(c, rc, resp, NULL);
}

static int key(struct cli *c, const struct cli_args *a)
{
    json_t *resp = NULL;
    int rc = cli_call(c, "CreateAccountKey", json_pack("{s:s}", "AccountId", a->argv[0]), &resp);
    if (rc == CLI_OK && !c->json)
        printf("SecretId:  %s\nSecretKey: %s\n", cli_jstr(resp, "SecretId"),
               cli_jstr(resp, "SecretKey"));
    return show(c, rc, resp, NULL);
}

static int topup(struct cli *c, const struct cli_args *a)
{
    long long amount = fen_arg(a->argv[1]);
    if (amount < 1) {
        fprintf(stderr, "berth account topup: the amount must be whole fen above 0\n");
        return CLI_USAGE;
    }
    json_t *resp = NULL;
    json_t *p = json_pack("{s:s, s:I}", "AccountId", a->argv[0], "Amount", (json_int_t)amount);
    const char *note = cli_arg(a, "note");
    if (note)
        json_object_set_new(p, "Note", json_string(note));
    int rc = cli_call(c, "TopUpAccount", p, &resp);
    if (rc == CLI_OK && !c->json) {
        size_t i;
        const json_t *id;
        json_array_foreach(json_object_get(resp, "ResumedServiceIds"), i, id)
            printf("resumed %s\n", json_string_value(id));
    }
    return show(c, rc, resp, "Account");
}

static const struct cli_opt create_opts[] = {
    {"balance", 'b', "FEN", "the opening balance, in fen (default 0)"},
    {NULL, 0, NULL, NULL},
};
static const struct cli_opt topup_opts[] = {
    {"note", 'n', "TEXT", "a note on the ledger row"},
    {NULL, 0, NULL, NULL},
};
static const struct cli_opt ledger_opts[] = {
    {"service", 's', "ms-ID-N", "only the rows of this version"},
    {"kind", 'k', "KIND", "only rows of this kind (topup, freeze, charge, refund)"},
    {"limit", 'l', "N", "at most N rows, newest first (1 to 1000; default 100)"},
    {NULL, 0, NULL, NULL},
};

static const struct cli_cmd create_cmd = {
    "create", "NAME", "a new account (CreateAccount)", NULL, 1, 1, create_opts, create, NULL};
static const struct cli_cmd list_cmd = {
    "list", "",   "the accounts, their balances and ledger checks (DescribeAccounts)",
    NULL,   0,    0,
    NULL,   list, NULL};
static const struct cli_cmd key_cmd = {
    "key", "acc-ID", "a new SecretId and SecretKey of the account (CreateAccountKey)",
    NULL,  1,        1,
    NULL,  key,      NULL};
static const struct cli_cmd topup_cmd = {
    "topup",
    "acc-ID FEN",
    "add FEN fen to the balance; resumes arrears stops (TopUpAccount)",
    NULL,
    2,
    2,
    topup_opts,
    topup,
    NULL};
static const struct cli_cmd ledger_cmd = {
    "ledger", "[acc-ID]", "the ledger's rows (DescribeLedger)", NULL, 0, 1, ledger_opts,
    ledger,   NULL};
static const struct cli_cmd *const account_subs[] = {&create_cmd, &list_cmd,   &key_cmd,
                                                     &topup_cmd,  &ledger_cmd, NULL};

const struct cli_cmd cli_account_cmd = {
    "account",
    "",
    "accounts, their keys, top-ups and the ledger (administrator; docs/billing.md)",
    NULL,
    0,
    0,
    NULL,
    NULL,
    account_subs};
