/* specs.c - berth specs: the spec catalogue (DescribeBillingSpecs) and what
 * instances of them cost (DescribeBillingSpecsPrice). */
#include "cli/cli.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char specs_usage[] = "usage: berth specs [--type CPU|GPU]\n"
                                  "       berth specs price NAME[=COUNT]...\n";

/* 1234 fen as "12.34". */
static void money(json_int_t v, char *out, size_t size)
{
    snprintf(out, size, "%lld.%02lld", (long long)(v / 100), (long long)(v % 100));
}

static int list(struct cli *c, int argc, char **argv)
{
    json_t *p = json_pack("{s:s}", "ChargeType", "POSTPAID_BY_HOUR");
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--type") == 0 && i + 1 < argc) {
            json_object_set_new(p, "ResourceType", json_string(argv[++i]));
        } else {
            fputs(specs_usage, stderr);
            json_decref(p);
            return CLI_USAGE;
        }
    }
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

static int price(struct cli *c, int argc, char **argv)
{
    if (argc < 1) {
        fputs(specs_usage, stderr);
        return CLI_USAGE;
    }
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

int cli_specs(struct cli *c, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "price") == 0)
        return price(c, argc - 1, argv + 1);
    return list(c, argc, argv);
}
