/* bill.c - berth bill: what the ledger's charges add up to per tag value,
 * account or service over a month or a period (DescribeUsageReport). */
#include "cli/cli.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char bill_usage[] =
    "usage: berth bill --by tag:KEY|account|service [--month YYYY-MM | --from RFC3339 --to "
    "RFC3339]\n"
    "                  [--account acc-ID]\n";

/* "2026-12" into its first instant and the next month's. */
static bool month_period(const char *v, char from[32], char to[32])
{
    int y, m;
    char rest;
    if (strlen(v) != 7 || sscanf(v, "%4d-%2d%c", &y, &m, &rest) != 2 || m < 1 || m > 12 ||
        y < 1970 || y > 9998)
        return false;
    snprintf(from, 32, "%04d-%02d-01T00:00:00Z", y, m);
    snprintf(to, 32, "%04d-%02d-01T00:00:00Z", m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1);
    return true;
}

static int usage_error(const char *what)
{
    fprintf(stderr, "berth: bill: %s\n%s", what, bill_usage);
    return CLI_USAGE;
}

int cli_bill(struct cli *c, int argc, char **argv)
{
    json_t *p = json_object();
    for (int i = 0; i < argc; i++) {
        if (i + 1 >= argc) {
            json_decref(p);
            return usage_error("an option needs a value");
        }
        const char *a = argv[i], *v = argv[++i];
        char from[32], to[32];
        if (strcmp(a, "--by") == 0) {
            if (strcmp(v, "account") && strcmp(v, "service") && (strncmp(v, "tag:", 4) || !v[4])) {
                json_decref(p);
                return usage_error("--by must be tag:KEY, account or service");
            }
            json_object_set_new(p, "GroupBy", json_string(v));
        } else if (strcmp(a, "--month") == 0) {
            if (!month_period(v, from, to)) {
                json_decref(p);
                return usage_error("--month must be YYYY-MM");
            }
            json_object_set_new(p, "StartTime", json_string(from));
            json_object_set_new(p, "EndTime", json_string(to));
        } else if (strcmp(a, "--from") == 0) {
            json_object_set_new(p, "StartTime", json_string(v));
        } else if (strcmp(a, "--to") == 0) {
            json_object_set_new(p, "EndTime", json_string(v));
        } else if (strcmp(a, "--account") == 0) {
            json_object_set_new(p, "AccountId", json_string(v));
        } else {
            json_decref(p);
            return usage_error("unknown option");
        }
    }
    if (!json_object_get(p, "GroupBy")) {
        json_decref(p);
        return usage_error("--by is required");
    }
    char *by = xstrdup(json_string_value(json_object_get(p, "GroupBy")));
    json_t *resp = NULL;
    int rc = cli_call(c, "DescribeUsageReport", p, &resp);
    if (rc == CLI_OK && c->json) {
        cli_print_json(resp);
    } else if (rc == CLI_OK) {
        printf("%-36s  %14s  %14s  %8s\n", strncmp(by, "tag:", 4) ? by : by + 4, "AMOUNT (CNY)",
               "INSTANCE-HOURS", "CHARGES");
        size_t i;
        const json_t *it;
        json_array_foreach(json_object_get(resp, "Items"), i, it)
        {
            long long fen = (long long)json_integer_value(json_object_get(it, "Amount"));
            double hours = (double)json_integer_value(json_object_get(it, "InstanceMs")) / 3.6e6;
            const char *key = cli_jstr(it, "Key");
            printf("%-36s  %11lld.%02lld  %14.4f  %8lld\n", *key ? key : "(untagged)", fen / 100,
                   fen % 100, hours, (long long)json_integer_value(json_object_get(it, "Charges")));
        }
        long long total = (long long)json_integer_value(json_object_get(resp, "TotalAmount"));
        printf("%-36s  %11lld.%02lld\n", "TOTAL", total / 100, total % 100);
    }
    free(by);
    json_decref(resp);
    return rc;
}
