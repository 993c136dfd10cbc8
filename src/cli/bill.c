/* bill.c - berth bill: what the ledger's charges add up to per tag value,
 * account or service over a month or a period (DescribeUsageReport). */
#include "cli/cli.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int bill(struct cli *c, const struct cli_args *a)
{
    const char *by = cli_arg(a, "by"), *month = cli_arg(a, "month"), *v;
    if (!by)
        return cli_usage_error(a, "--by is required");
    if (strcmp(by, "account") && strcmp(by, "service") && (strncmp(by, "tag:", 4) || !by[4]))
        return cli_usage_error(a, "--by must be tag:KEY, account or service");
    json_t *p = json_pack("{s:s}", "GroupBy", by);
    if (month) {
        char from[32], to[32];
        if (!month_period(month, from, to)) {
            json_decref(p);
            return cli_usage_error(a, "--month must be YYYY-MM");
        }
        json_object_set_new(p, "StartTime", json_string(from));
        json_object_set_new(p, "EndTime", json_string(to));
    }
    if ((v = cli_arg(a, "from")))
        json_object_set_new(p, "StartTime", json_string(v));
    if ((v = cli_arg(a, "to")))
        json_object_set_new(p, "EndTime", json_string(v));
    if ((v = cli_arg(a, "account")))
        json_object_set_new(p, "AccountId", json_string(v));
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
    json_decref(resp);
    return rc;
}

static const struct cli_opt bill_opts[] = {
    {"by", 'b', "tag:KEY|account|service", "what to add the charges up by (required)"},
    {"month", 'm', "YYYY-MM", "the charges of this month (UTC)"},
    {"from", 'f', "RFC3339", "the charges from this time"},
    {"to", 't', "RFC3339", "the charges before this time"},
    {"account", 'a', "acc-ID", "only this account's charges"},
    {NULL, 0, NULL, NULL},
};

const struct cli_cmd cli_bill_cmd = {"bill",
                                     "--by tag:KEY|account|service",
                                     "what the ledger's charges add up to (DescribeUsageReport)",
                                     NULL,
                                     0,
                                     0,
                                     bill_opts,
                                     bill,
                                     NULL};
