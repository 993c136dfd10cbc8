/* account.c - berth account: the administrator's accounts, their keys,
 * top-ups and the ledger (CreateAccount, DescribeAccounts, CreateAccountKey,
 * TopUpAccount, DescribeLedger; docs/billing.md). Amounts are shown in CNY
 * and given in fen, as the API takes them. */
#include "cli/cli.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char account_usage[] =
    "usage: berth account create NAME [--balance FEN]\n"
    "       berth account list\n"
    "       berth account key acc-ID            a new SecretId/SecretKey of the account\n"
    "       berth account topup acc-ID FEN [--note TEXT]\n"
    "       berth account ledger [acc-ID] [--service ms-ID-N] [--kind K] [--limit N]\n";

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

static int ledger(struct cli *c, int argc, char **argv)
{
    json_t *p = json_object();
    int i = 0;
    if (argc > 0 && argv[0][0] != '-')
        json_object_set_new(p, "AccountId", json_string(argv[i++]));
    long long limit = 100;
    for (; i < argc; i++) {
        if (i + 1 >= argc) {
            fprintf(stderr, "berth: account ledger: %s needs a value\n%s", argv[i], account_usage);
            json_decref(p);
            return CLI_USAGE;
        }
        const char *a = argv[i], *v = argv[++i];
        if (strcmp(a, "--service") == 0) {
            json_object_set_new(p, "ServiceId", json_string(v));
        } else if (strcmp(a, "--kind") == 0) {
            json_object_set_new(p, "Kind", json_string(v));
        } else if (strcmp(a, "--limit") == 0 && (limit = fen_arg(v)) >= 1 && limit <= 1000) {
            json_object_set_new(p, "Limit", json_integer(limit));
        } else {
            fprintf(stderr, "berth: account ledger: bad option '%s %s'\n%s", a, v, account_usage);
            json_decref(p);
            return CLI_USAGE;
        }
    }
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

int cli_account(struct cli *c, int argc, char **argv)
{
    const char *verb = argc ? argv[0] : "";
    json_t *resp = NULL;
    if (strcmp(verb, "create") == 0 &&
        (argc == 2 || (argc == 4 && !strcmp(argv[2], "--balance")))) {
        long long balance = argc == 4 ? fen_arg(argv[3]) : 0;
        if (balance < 0) {
            fprintf(stderr, "berth: account create: --balance must be whole fen\n");
            return CLI_USAGE;
        }
        json_t *p = json_pack("{s:s, s:I}", "AccountName", argv[1], "Balance", (json_int_t)balance);
        int rc = cli_call(c, "CreateAccount", p, &resp);
        return show(c, rc, resp, "Account");
    }
    if (strcmp(verb, "list") == 0 && argc == 1) {
        int rc = cli_call(c, "DescribeAccounts", json_object(), &resp);
        if (rc == CLI_OK && !c->json)
            print_accounts(json_object_get(resp, "AccountSet"));
        return show(c, rc, resp, NULL);
    }
    if (strcmp(verb, "key") == 0 && argc == 2) {
        int rc = cli_call(c, "CreateAccountKey", json_pack("{s:s}", "AccountId", argv[1]), &resp);
        if (rc == CLI_OK && !c->json)
            printf("SecretId:  %s\nSecretKey: %s\n", cli_jstr(resp, "SecretId"),
                   cli_jstr(resp, "SecretKey"));
        return show(c, rc, resp, NULL);
    }
    if (strcmp(verb, "topup") == 0 && (argc == 3 || (argc == 5 && !strcmp(argv[3], "--note")))) {
        long long amount = fen_arg(argv[2]);
        if (amount < 1) {
            fprintf(stderr, "berth: account topup: the amount must be whole fen above 0\n");
            return CLI_USAGE;
        }
        json_t *p = json_pack("{s:s, s:I}", "AccountId", argv[1], "Amount", (json_int_t)amount);
        if (argc == 5)
            json_object_set_new(p, "Note", json_string(argv[4]));
        int rc = cli_call(c, "TopUpAccount", p, &resp);
        if (rc == CLI_OK && !c->json) {
            size_t i;
            const json_t *id;
            json_array_foreach(json_object_get(resp, "ResumedServiceIds"), i, id)
                printf("resumed %s\n", json_string_value(id));
        }
        return show(c, rc, resp, "Account");
    }
    if (strcmp(verb, "ledger") == 0)
        return ledger(c, argc - 1, argv + 1);
    fputs(account_usage, stderr);
    return CLI_USAGE;
}
