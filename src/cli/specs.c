/* specs.c - berth specs: the spec catalogue (DescribeBillingSpecs) and what
 * instances of them cost (DescribeBillingSpecsPrice). */
#include "cli/cli.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1234 fen as "12.34". */
static void money(json_int_t v, char *out, size_t size)
{
    snprintf(out, size, "%lld.%02lld", (long long)(v / 100), (long long)(v % 100));
}

static int list(struct cli *c, const struct cli_args *a)
{
    json_t *p = json_pack("{s:s}", "ChargeType", "POSTPAID_BY_HOUR");
    const char *type = cli_arg(a, "type");
    if (type)
        json_object_set_new(p, "ResourceType", json_string(type));
    json_t *resp = NULL;
    int rc = cli_call(c, "DescribeBillingSpecs", p, &resp);
    if (rc == CLI_OK && c->json) {
        cli_print_json(resp);
    } else if (rc == CLI_OK) {
        printf("%-24s  %-16s  %8s  %10s  %-10s  %10s  %s\n", "NAME", "ALIAS", "CPU", "MEMORY",
               "GPU", "PRICE/HOUR", "CURRENCY");
        size_t i;
        const json_t *s;
        json_array_foreach(json_object_get(resp, "Specs"), i, s)
        {
            const json_t *r = json_object_get(s, "Resources");
            json_int_t cpu = json_integer_value(json_object_get(r, "Cpu"));
            json_int_t real = json_integer_value(json_object_get(r, "RealGpu"));
            char cores[32], mem[32], gpu[48] = "-", price[32];
            snprintf(cores, sizeof(cores), "%lld.%03lld", (long long)(cpu / 1000),
                     (long long)(cpu % 1000));
            snprintf(mem, sizeof(mem), "%lld MiB",
                     (long long)json_integer_value(json_object_get(r, "Memory")));
            if (real)
                snprintf(gpu, sizeof(gpu), "%s*%lld.%02lld", cli_jstr(s, "GpuType"),
                         (long long)(real / 100), (long long)(real % 100));
            money(json_integer_value(json_object_get(s, "PricePerHour")), price, sizeof(price));
            printf("%-24s  %-16s  %8s  %10s  %-10s  %10s  %s\n", cli_jstr(s, "SpecName"),
                   cli_jstr(s, "SpecAlias"), cores, mem, gpu, price, cli_jstr(s, "Currency"));
        }
    }
    json_decref(resp);
    return rc;
}

static int price(struct cli *c, const struct cli_args *a)
{
    int argc = a->argc;
    char **argv = a->argv;
    json_t *units = json_array();
    for (int i = 0; i < argc; i++) {
        char *name = xstrdup(argv[i]), *eq = strchr(name, '=');
        long long count = 1;
        if (eq) {
            char *end;
            *eq = '\0';
            count = strtoll(eq + 1, &end, 10);
            if (*end || end == eq + 1) {
                fprintf(stderr, "berth: specs price: '%s' must be NAME or NAME=COUNT\n", argv[i]);
                free(name);
                json_decref(units);
                return CLI_USAGE;
            }
        }
        json_array_append_new(units, json_pack("{s:s, s:I}", "SpecName", name, "SpecCount", count));
        free(name);
    }
    json_t *resp = NULL;
    int rc =
        cli_call(c, "DescribeBillingSpecsPrice", json_pack("{s:o}", "SpecsParam", units), &resp);
    if (rc == CLI_OK && c->json) {
        cli_print_json(resp);
    } else if (rc == CLI_OK) {
        printf("%-24s  %8s  %12s  %s\n", "NAME", "COUNT", "PER HOUR", "CURRENCY");
        size_t i;
        const json_t *s;
        json_array_foreach(json_object_get(resp, "SpecsPrice"), i, s)
        {
            char total[32];
            money(json_integer_value(json_object_get(s, "TotalCost")), total, sizeof(total));
            printf("%-24s  %8lld  %12s  %s\n", cli_jstr(s, "SpecName"),
                   (long long)json_integer_value(json_object_get(s, "SpecCount")), total,
                   cli_jstr(s, "Currency"));
        }
    }
    json_decref(resp);
    return rc;
}

static const struct cli_opt list_opts[] = {
    {"type", 't', "CPU|GPU", "only the specs of this resource type"},
    {NULL, 0, NULL, NULL},
};

static const struct cli_cmd list_cmd = {
    "list",    "",   "the spec catalogue with hourly prices (DescribeBillingSpecs)",
    NULL,      0,    0,
    list_opts, list, NULL};

static const struct cli_cmd price_cmd = {
    "price",
    "NAME[=COUNT]...",
    "what instances of specs cost an hour (DescribeBillingSpecsPrice)",
    NULL,
    1,
    -1,
    NULL,
    price,
    NULL};

static const struct cli_cmd *const specs_subs[] = {&list_cmd, &price_cmd, NULL};

const struct cli_cmd cli_specs_cmd = {
    "specs", "", "instance specs and their prices", NULL, 0, 0, NULL, NULL, specs_subs};
