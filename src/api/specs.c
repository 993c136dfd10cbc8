/* specs.c - the spec catalogue on the wire: DescribeBillingSpecs and
 * DescribeBillingSpecsPrice (../shared/reference/tione-api.md §3.17-3.18,
 * §4.9), and the Resources request of CreateModelService and
 * ModifyModelService (§4.4 ResourceInfo), read into a version's spec. */
#include "api/api.h"
#include "control/specs.h"

#include <stdio.h>
#include <string.h>

#define SPECS_PARAM_MAX 100
#define SPEC_COUNT_MAX 1000000 /* "recommended ≤ 1,000,000" (§4.9 SpecUnit) */

static const char *spec_type(const struct spec *sp)
{
    return sp->gpu ? "GPU" : "CPU";
}

/* A stable billing item id of Berth's own: "berth_ti_s_medium_post". */
static void spec_id(const struct spec *sp, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "berth_");
    for (const char *p = sp->name; *p && n + 1 < size; p++)
        out[n++] = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p == '.' ? '_' : *p;
    out[n] = '\0';
}

int api_describe_billing_specs(struct api_call *c)
{
    static const struct api_field fields[] = {{"ChargeType", API_FIELD_USED},
                                              {"TaskType", API_FIELD_USED},
                                              {"ResourceType", API_FIELD_USED},
                                              {"TiProjectId", API_FIELD_IGNORED},
                                              {NULL, API_FIELD_USED}};
    static const char *const charges[] = {"POSTPAID_BY_HOUR", "PREPAID", NULL};
    static const char *const tasks[] = {"TRAIN", "NOTEBOOK", "INFERENCE", "EMS", NULL};
    static const char *const kinds[] = {"CALC", "CPU", "GPU", "GPU-SW", NULL};
    const json_t *p = c->params;
    const char *charge, *task, *kind;
    if (api_check_fields(c, p, NULL, fields) || api_get_str(c, p, "ChargeType", true, &charge) ||
        api_get_str(c, p, "TaskType", false, &task) ||
        api_get_str(c, p, "ResourceType", false, &kind))
        return -1;
    if (!api_in_list(charges, charge))
        return api_fail(c, "InvalidParameterValue",
                        "ChargeType must be POSTPAID_BY_HOUR or PREPAID, got '%s'", charge);
    if (task && !api_in_list(tasks, task))
        return api_fail(c, "InvalidParameterValue",
                        "TaskType must be TRAIN, NOTEBOOK, INFERENCE or EMS, got '%s'", task);
    if (kind && !api_in_list(kinds, kind))
        return api_fail(c, "InvalidParameterValue",
                        "ResourceType must be CALC, CPU, GPU or GPU-SW, got '%s'", kind);
    /* Specs are what postpaid instances run on; prepaid capacity is the
     * operator's resource groups, bought with no spec. Berth serves
     * inference only. GPU-SW (customer machines) has none. */
    bool none = strcasecmp(charge, "PREPAID") == 0 || (task && strcasecmp(task, "INFERENCE")) ||
                (kind && strcasecmp(kind, "GPU-SW") == 0);
    json_t *list = json_array();
    for (size_t i = 0; !none && i < specs_count(); i++) {
        const struct spec *sp = specs_at(i);
        if (kind && (strcasecmp(kind, "CPU") == 0 || strcasecmp(kind, "GPU") == 0) &&
            strcasecmp(kind, spec_type(sp)) != 0)
            continue;
        char id[96];
        spec_id(sp, id, sizeof(id));
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:s, s:b, s:[], s:[], s:s, s:s, s:s, s:{s:I, s:I, s:I, "
                            "s:I, s:s}, s:I, s:s}",
                            "SpecId", id, "SpecName", sp->name, "SpecAlias", sp->alias, "Available",
                            1, "AvailableRegion", "SpecFeatures", "SpecType", spec_type(sp),
                            "GpuType", sp->gpu_type, "CategoryId", "", "Resources", "Cpu",
                            (json_int_t)sp->cpu_millicores, "Memory", (json_int_t)sp->memory_mib,
                            "Gpu", (json_int_t)sp->gpu, "RealGpu", (json_int_t)sp->real_gpu,
                            "GpuType", sp->gpu_type, "PricePerHour", (json_int_t)sp->price_per_hour,
                            "Currency", sp->currency));
    }
    json_object_set_new(c->out, "Specs", list);
    return 0;
}

int api_describe_billing_specs_price(struct api_call *c)
{
    static const struct api_field fields[] = {{"SpecsParam", API_FIELD_USED},
                                              {NULL, API_FIELD_USED}};
    static const struct api_field unit_fields[] = {
        {"SpecName", API_FIELD_USED}, {"SpecCount", API_FIELD_USED}, {NULL, API_FIELD_USED}};
    const json_t *p = c->params;
    if (api_check_fields(c, p, NULL, fields))
        return -1;
    const json_t *units = json_object_get(p, "SpecsParam");
    if (!api_present(units))
        return api_fail(c, "MissingParameter", "SpecsParam is required: [{SpecName, SpecCount}]");
    if (!json_is_array(units))
        return api_fail(c, "InvalidParameter",
                        "SpecsParam must be a list of {SpecName, SpecCount}");
    if (json_array_size(units) == 0 || json_array_size(units) > SPECS_PARAM_MAX)
        return api_fail(c, "InvalidParameterValue", "SpecsParam must hold 1 to %d entries",
                        SPECS_PARAM_MAX);
    json_t *out = json_array();
    size_t i;
    const json_t *u;
    json_array_foreach(units, i, u)
    {
        char where[48];
        snprintf(where, sizeof(where), "SpecsParam[%zu]", i);
        const char *name;
        long long count;
        if (api_check_object(c, u, where, unit_fields) ||
            api_get_str(c, u, "SpecName", true, &name) ||
            api_get_int(c, u, "SpecCount", true, 1, SPEC_COUNT_MAX, &count)) {
            json_decref(out);
            if (strncmp(c->error_message, where, strlen(where)) != 0) {
                char prefix[64];
                snprintf(prefix, sizeof(prefix), "%s.", where);
                api_prefix_error(c, prefix);
            }
            return -1;
        }
        const struct spec *sp = specs_find(name);
        if (!sp) {
            json_decref(out);
            return api_fail(c, "InvalidParameterValue",
                            "%s.SpecName '%s' is not in the catalogue (see DescribeBillingSpecs)",
                            where, name);
        }
        /* uint64 on the wire, but 0 above ~4.2 billion fen (§4.9 SpecPrice). */
        unsigned long long total = sp->price_per_hour * (unsigned long long)count;
        if (sp->price_per_hour && total / sp->price_per_hour != (unsigned long long)count)
            total = 0;
        if (total > 4294967295ULL)
            total = 0;
        json_array_append_new(out, json_pack("{s:s, s:I, s:I, s:I, s:s}", "SpecName", sp->name,
                                             "SpecCount", (json_int_t)count, "TotalCost",
                                             (json_int_t)total, "RealTotalCost", (json_int_t)total,
                                             "Currency", sp->currency));
    }
    json_object_set_new(c->out, "SpecsPrice", out);
    return 0;
}

int api_read_resources(struct api_call *c, const json_t *p, const struct spec *sp, json_t *spec,
                       bool creating)
{
    const json_t *res = json_object_get(p, "Resources");
    if (!api_present(res)) {
        if (sp) { /* the InstanceType's figures, as they are when an instance starts */
            json_object_del(spec, "LimitCpuMilli");
            json_object_del(spec, "LimitMemoryMiB");
            json_object_del(spec, "LimitGpu");
            json_object_del(spec, "Resources");
        }
        return 0;
    }
    if (sp)
        return api_fail(
            c, "InvalidParameterValue",
            "Resources: give InstanceType (POSTPAID_BY_HOUR) or Resources (PREPAID), not "
            "both");
    const char *charge = json_string_value(json_object_get(p, "ChargeType"));
    bool prepaid =
        creating ? charge && (strcmp(charge, "PREPAID") == 0 || strcmp(charge, "HYBRID_PAID") == 0)
                 : !json_object_get(spec, "InstanceType");
    if (!prepaid)
        return api_fail(c, "InvalidParameterValue",
                        "Resources is for ChargeType PREPAID or HYBRID_PAID (a share of a resource "
                        "group); POSTPAID_BY_HOUR instances get what their InstanceType says");
    struct spec_request req;
    struct err err = {0};
    if (specs_request_parse(res, &req, &err) != 0)
        return api_fail(c, err.code == ERR_NOTFOUND ? "MissingParameter" : "InvalidParameterValue",
                        "%s", err.msg);
    if (req.gpu)
        return api_fail(c, "UnsupportedOperation",
                        "Resources.Gpu %u: the process driver has no GPUs to give; leave it out",
                        req.gpu);
    json_object_set_new(spec, "LimitCpuMilli", json_integer(req.cpu_millicores));
    json_object_set_new(spec, "LimitMemoryMiB", json_integer(req.memory_mib));
    /* Cores, for the HPA's utilisation: a real when the request is a fraction. */
    json_object_set_new(spec, "Cpu",
                        req.cpu_millicores % 1000 ? json_real(req.cpu_millicores / 1000.0)
                                                  : json_integer(req.cpu_millicores / 1000));
    json_object_set_new(spec, "Memory", json_integer(req.memory_mib));
    json_object_set_new(spec, "Resources",
                        json_pack("{s:I, s:I}", "Cpu", (json_int_t)req.cpu_millicores, "Memory",
                                  (json_int_t)req.memory_mib));
    json_object_del(spec, "InstanceType");
    return 0;
}
