/* resgroups.c - prepaid resource groups on the API: DescribeBillingResourceGroups
 * and DescribeBillingResourceGroup (§3.19, §3.20), and the capacity checks of
 * PREPAID and HYBRID_PAID versions (docs/billing.md). A create checks what
 * fits and inserts the version under one lock, so that two creates cannot
 * both take the last node; the other changes (RESUME, SCALE, Replicas) check
 * under the same lock. */
#include "api/api.h"
#include "base/alloc.h"
#include "control/resgroups.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREPAID_MAX_REPLICAS 64

static pthread_mutex_t capacity_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local bool capacity_held;

static json_t *res_json(const struct ctl_res *r, const char *gpu_type)
{
    json_t *o = json_pack("{s:I, s:I, s:I}", "Cpu", (json_int_t)r->cpu, "Memory",
                          (json_int_t)r->memory, "Gpu", (json_int_t)r->gpu);
    if (gpu_type && *gpu_type)
        json_object_set_new(o, "GpuType", json_string(gpu_type));
    return o;
}

static json_t *group_resource(const struct ctl_res *r, const char *gpu_type)
{
    json_t *o = res_json(r, NULL);
    json_object_set_new(o, "GpuDetailSet",
                        r->gpu && gpu_type[0] ? json_pack("[{s:s, s:I}]", "Name", gpu_type, "Value",
                                                          (json_int_t)r->gpu)
                                              : json_array());
    return o;
}

static json_t *node_json(const struct ctl_resgroup *g, size_t i, const struct ctl_res *used)
{
    char id[96], alias[64];
    snprintf(id, sizeof(id), "%s-node-%zu", g->id, i + 1);
    snprintf(alias, sizeof(alias), "%lluC%lluG", (unsigned long long)(g->node[i].cpu / 1000),
             (unsigned long long)(g->node[i].memory / 1024));
    struct ctl_res avail = {g->node[i].cpu - used->cpu, g->node[i].memory - used->memory,
                            g->node[i].gpu - used->gpu};
    return json_pack(
        "{s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:s, s:s, s:s, s:[], s:b, s:b}", "InstanceId", id,
        "InstanceName", id, "UsedResource", res_json(used, g->gpu_type), "TotalResource",
        res_json(&g->node[i], g->gpu_type), "AvailableResource", res_json(&avail, g->gpu_type),
        "InstanceStatus", "RUNNING", "SpecAlias", alias, "InstanceIP", "127.0.0.1", "CreateTime",
        "", "ExpireTime", "", "SpecFeatures", "AutoRenew", 0, "Isolated", 0);
}

/* The group's use per node, or NULL with the call's error. */
static struct ctl_res *usage(struct api_call *c, const struct ctl_resgroup *g)
{
    struct ctl_res *used = xcalloc(g->nnodes, sizeof(*used));
    struct err err = {0};
    if (ctl_resgroups_usage(c->cfg->store, g, NULL, NULL, used, &err) < 0) {
        free(used);
        api_fail_store(c, &err);
        return NULL;
    }
    return used;
}

static json_t *group_json(const struct ctl_resgroup *g, const struct ctl_res *used, bool nodes)
{
    struct ctl_res tu = {0}, tt = {0};
    json_t *set = json_array();
    uint64_t free_nodes = 0;
    for (size_t i = 0; i < g->nnodes; i++) {
        tu.cpu += used[i].cpu, tu.memory += used[i].memory, tu.gpu += used[i].gpu;
        tt.cpu += g->node[i].cpu, tt.memory += g->node[i].memory, tt.gpu += g->node[i].gpu;
        free_nodes += used[i].cpu < g->node[i].cpu && used[i].memory < g->node[i].memory;
        if (nodes)
            json_array_append_new(set, node_json(g, i, &used[i]));
    }
    return json_pack("{s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:[]}", "ResourceGroupId", g->id,
                     "ResourceGroupName", g->name, "FreeInstance", (json_int_t)free_nodes,
                     "TotalInstance", (json_int_t)g->nnodes, "UsedResource",
                     group_resource(&tu, g->gpu_type), "TotalResource",
                     group_resource(&tt, g->gpu_type), "InstanceSet", set, "TagSet");
}

int api_describe_billing_resource_groups(struct api_call *c)
{
    static const struct api_field fields[] = {{"TiProjectId", API_FIELD_IGNORED},
                                              {"Filters", API_FIELD_USED},
                                              {"TagFilters", API_FIELD_USED},
                                              {"Offset", API_FIELD_USED},
                                              {"Limit", API_FIELD_USED},
                                              {"SearchWord", API_FIELD_USED},
                                              {"DontShowInstanceSet", API_FIELD_USED},
                                              {NULL, API_FIELD_USED}};
    static const char *const names[] = {"ResourceGroupId", "ResourceGroupName",
                                        "AvailableNodeCount", NULL};
    struct api_filter fs[10];
    size_t nf = 0;
    long long offset = 0, limit = 20;
    const char *word;
    bool hide = false;
    if (api_check_fields(c, c->params, NULL, fields) || api_read_filters(c, names, fs, &nf) ||
        api_check_tag_filters(c, json_object_get(c->params, "TagFilters")) ||
        api_get_int(c, c->params, "Offset", false, 0, 1LL << 40, &offset) ||
        api_get_int(c, c->params, "Limit", false, 1, 100, &limit) ||
        api_get_str(c, c->params, "SearchWord", false, &word) ||
        api_get_bool(c, c->params, "DontShowInstanceSet", &hide))
        return -1;
    if (nf > 5)
        return api_fail(c, "InvalidParameterValue.LimitExceeded", "Filters: at most 5");
    json_t *set = json_array();
    size_t total = 0;
    for (size_t i = 0; i < ctl_resgroups_count(); i++) {
        const struct ctl_resgroup *g = ctl_resgroups_at(i);
        /* Groups carry no tags: a tag filter matches none. */
        const json_t *tf = json_object_get(c->params, "TagFilters");
        bool match = !(json_is_array(tf) && json_array_size(tf)) &&
                     (!word || strstr(g->id, word) || strstr(g->name, word));
        struct ctl_res *used = match ? usage(c, g) : NULL;
        if (match && !used) {
            json_decref(set);
            return -1;
        }
        size_t free_nodes = 0;
        for (size_t k = 0; used && k < g->nnodes; k++)
            free_nodes += used[k].cpu < g->node[k].cpu && used[k].memory < g->node[k].memory;
        char count[24];
        snprintf(count, sizeof(count), "%zu", free_nodes);
        for (size_t f = 0; match && f < nf; f++) {
            const char *v = strcmp(fs[f].name, "ResourceGroupId") == 0     ? g->id
                            : strcmp(fs[f].name, "ResourceGroupName") == 0 ? g->name
                                                                           : count;
            match = api_filter_match(&fs[f], v);
        }
        if (match && total++ >= (size_t)offset && json_array_size(set) < (size_t)limit)
            json_array_append_new(set, group_json(g, used, !hide));
        free(used);
    }
    json_object_set_new(c->out, "TotalCount", json_integer((json_int_t)total));
    json_object_set_new(c->out, "ResourceGroupSet", set);
    return 0;
}

int api_describe_billing_resource_group(struct api_call *c)
{
    static const struct api_field fields[] = {
        {"ResourceGroupId", API_FIELD_USED}, {"TiProjectId", API_FIELD_IGNORED},
        {"Filters", API_FIELD_USED},         {"Offset", API_FIELD_USED},
        {"Limit", API_FIELD_USED},           {"Order", API_FIELD_USED},
        {"OrderField", API_FIELD_USED},      {NULL, API_FIELD_USED}};
    static const char *const names[] = {"InstanceId", "InstanceStatus", NULL};
    struct api_filter fs[10];
    size_t nf = 0;
    long long offset = 0, limit = 20;
    const char *id, *order, *order_field;
    if (api_check_fields(c, c->params, NULL, fields) ||
        api_get_str(c, c->params, "ResourceGroupId", true, &id) ||
        api_read_filters(c, names, fs, &nf) ||
        api_get_int(c, c->params, "Offset", false, 0, 1LL << 40, &offset) ||
        api_get_int(c, c->params, "Limit", false, 1, 100, &limit) ||
        api_get_str(c, c->params, "Order", false, &order) ||
        api_get_str(c, c->params, "OrderField", false, &order_field))
        return -1;
    if (order && strcmp(order, "ASC") && strcmp(order, "DESC"))
        return api_fail(c, "InvalidParameterValue", "Order must be ASC or DESC, got '%s'", order);
    if (order_field && strcmp(order_field, "CreateTime") && strcmp(order_field, "ExpireTime"))
        return api_fail(c, "InvalidParameterValue",
                        "OrderField must be CreateTime or ExpireTime, got '%s'", order_field);
    const struct ctl_resgroup *g = ctl_resgroups_find(id);
    if (!g)
        return api_fail(c, "ResourceNotFound", "resource group '%s' does not exist", id);
    struct ctl_res *used = usage(c, g);
    if (!used)
        return -1;
    json_t *set = json_array();
    size_t total = 0;
    bool asc = order && strcmp(order, "ASC") == 0;
    for (size_t k = 0; k < g->nnodes; k++) {
        size_t i = asc ? k : g->nnodes - 1 - k; /* nodes were "created" in the order given */
        json_t *node = node_json(g, i, &used[i]);
        bool match = true;
        for (size_t f = 0; match && f < nf; f++)
            match = api_filter_match(
                &fs[f],
                json_string_value(json_object_get(
                    node, strcmp(fs[f].name, "InstanceId") ? "InstanceStatus" : "InstanceId")));
        if (match && total++ >= (size_t)offset && json_array_size(set) < (size_t)limit)
            json_array_append(set, node);
        json_decref(node);
    }
    free(used);
    json_object_set_new(c->out, "TotalCount", json_integer((json_int_t)total));
    json_object_set_new(c->out, "InstanceSet", set);
    json_object_set_new(c->out, "ResourceGroupSWType", json_string("NORMAL"));
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Capacity of PREPAID and HYBRID_PAID versions                             */

static void capacity_take(void)
{
    if (!capacity_held) {
        pthread_mutex_lock(&capacity_lock);
        capacity_held = true;
    }
}

void api_prepaid_done(void)
{
    if (capacity_held) {
        capacity_held = false;
        pthread_mutex_unlock(&capacity_lock);
    }
}

/* Whether 'd' fits on 'g' beside what runs (leaving out 'except'); the
 * call's error with the numbers when it does not. Under the lock. */
static int fits(struct api_call *c, const struct ctl_resgroup *g, const char *except,
                const struct ctl_demand *d)
{
    struct ctl_res *used = xcalloc(g->nnodes, sizeof(*used));
    struct err err = {0};
    int rc = ctl_resgroups_usage(c->cfg->store, g, except, NULL, used, &err);
    if (rc < 0) {
        free(used);
        return api_fail_store(c, &err);
    }
    struct ctl_res *after = xmalloc(g->nnodes * sizeof(*after));
    memcpy(after, used, g->nnodes * sizeof(*after));
    int left = ctl_resgroups_place(g, d, 1, after);
    free(after);
    if (left == 0) {
        free(used);
        return 0;
    }
    struct ctl_res freeres = {0}, big = {0};
    for (size_t i = 0; i < g->nnodes; i++) {
        struct ctl_res f = {g->node[i].cpu - used[i].cpu, g->node[i].memory - used[i].memory,
                            g->node[i].gpu - used[i].gpu};
        freeres.cpu += f.cpu, freeres.memory += f.memory, freeres.gpu += f.gpu;
        if (f.cpu > big.cpu)
            big = f;
    }
    free(used);
    return api_fail(
        c, "ResourceInsufficient",
        "resource group %s cannot hold %d instance%s of Cpu %llu, Memory %llu MB, "
        "Gpu %llu: %d do not fit; it has Cpu %llu, Memory %llu MB, Gpu %llu free on %zu "
        "node%s (at most Cpu %llu, Memory %llu MB, Gpu %llu on one)",
        g->id, d->count, d->count == 1 ? "" : "s", (unsigned long long)d->each.cpu,
        (unsigned long long)d->each.memory, (unsigned long long)d->each.gpu, left,
        (unsigned long long)freeres.cpu, (unsigned long long)freeres.memory,
        (unsigned long long)freeres.gpu, g->nnodes, g->nnodes == 1 ? "" : "s",
        (unsigned long long)big.cpu, (unsigned long long)big.memory, (unsigned long long)big.gpu);
}

/* Resources (§4.4) of a PREPAID version, per instance. */
static int read_resources(struct api_call *c, const json_t *r, struct ctl_res *out)
{
    static const struct api_field fields[] = {
        {"Cpu", API_FIELD_USED},        {"Memory", API_FIELD_USED},
        {"Gpu", API_FIELD_USED},        {"GpuType", API_FIELD_USED},
        {"RealGpu", API_FIELD_USED},    {"RealGpuDetailSet", API_FIELD_USED},
        {"EnableRDMA", API_FIELD_USED}, {"RootDisk", API_FIELD_USED},
        {"DataDisk", API_FIELD_USED},   {NULL, API_FIELD_USED}};
    long long cpu, mem, gpu = 0;
    const char *gpu_type;
    if (api_check_object(c, r, "Resources", fields) ||
        api_get_int(c, r, "Cpu", true, 10, 100000 * 1000LL, &cpu) ||
        api_get_int(c, r, "Memory", true, 16, 1LL << 32, &mem) ||
        api_get_int(c, r, "Gpu", false, 0, 102400, &gpu) ||
        api_get_str(c, r, "GpuType", false, &gpu_type))
        return api_prefix_error(c, "Resources.");
    static const char *const output_only[] = {"RealGpu",  "RealGpuDetailSet", "EnableRDMA",
                                              "RootDisk", "DataDisk",         NULL};
    for (const char *const *k = output_only; *k; k++)
        if (api_present(json_object_get(r, *k)) &&
            !(json_is_integer(json_object_get(r, *k)) &&
              json_integer_value(json_object_get(r, *k)) == 0) &&
            !(json_is_array(json_object_get(r, *k)) && !json_array_size(json_object_get(r, *k))))
            return api_fail(c, "UnsupportedOperation",
                            "Resources.%s: Berth sizes CPU, memory and GPU only", *k);
    *out = (struct ctl_res){(uint64_t)cpu, (uint64_t)mem, (uint64_t)gpu};
    return 0;
}

int api_prepaid_read(struct api_call *c, const char *charge, const char *group_charge, json_t *spec,
                     int replicas)
{
    const json_t *p = c->params;
    const char *group_id;
    long long hybrid = 1;
    if (api_get_str(c, p, "ResourceGroupId", false, &group_id) ||
        api_get_int(c, p, "HybridBillingPrepaidReplicas", false, 0, PREPAID_MAX_REPLICAS, &hybrid))
        return -1;
    bool prepaid = strcmp(charge, "PREPAID") == 0, mixed = strcmp(charge, "HYBRID_PAID") == 0;
    if (group_charge && strcmp(group_charge, charge) != 0)
        return api_fail(c, "InvalidParameterValue",
                        "ChargeType belongs to the group, which is %s; a new version cannot be %s",
                        group_charge, charge);
    if (!prepaid && !mixed) {
        if (group_id)
            return api_fail(c, "InvalidParameterValue",
                            "ResourceGroupId is for ChargeType PREPAID or HYBRID_PAID, not %s",
                            charge);
        if (api_present(json_object_get(p, "Resources")))
            return api_fail(c, "UnsupportedOperation",
                            "Resources is for ChargeType PREPAID: a %s instance is sized by "
                            "InstanceType",
                            charge);
        if (api_present(json_object_get(p, "HybridBillingPrepaidReplicas")))
            return api_fail(c, "InvalidParameterValue",
                            "HybridBillingPrepaidReplicas is for ChargeType HYBRID_PAID");
        return 0;
    }
    if (!group_id)
        return api_fail(c, "MissingParameter", "ResourceGroupId is required for ChargeType %s",
                        charge);
    const struct ctl_resgroup *g = ctl_resgroups_find(group_id);
    if (!g)
        return api_fail(
            c, "ResourceNotFound",
            "ResourceGroupId '%s' is not a resource group (DescribeBillingResourceGroups "
            "lists them)",
            group_id);
    struct ctl_demand d = {.count = mixed ? (int)hybrid : replicas};
    if (prepaid) {
        if (!api_present(json_object_get(p, "Resources")))
            return api_fail(c, "MissingParameter",
                            "Resources {Cpu, Memory} is required for ChargeType PREPAID");
        if (api_present(json_object_get(p, "InstanceType")))
            return api_fail(c, "InvalidParameterValue",
                            "InstanceType is for postpaid instances; a PREPAID instance is sized "
                            "by Resources");
        if (api_present(json_object_get(p, "HybridBillingPrepaidReplicas")))
            return api_fail(c, "InvalidParameterValue",
                            "HybridBillingPrepaidReplicas is for ChargeType HYBRID_PAID; PREPAID "
                            "takes Replicas instances from the group");
        const char *mode = json_string_value(json_object_get(spec, "ScaleMode"));
        if (mode && strcmp(mode, "AUTO") == 0)
            return api_fail(c, "UnsupportedOperation",
                            "ScaleMode AUTO with ChargeType PREPAID: a resource group's capacity "
                            "is fixed; use HYBRID_PAID, whose postpaid part scales");
        if (read_resources(c, json_object_get(p, "Resources"), &d.each))
            return -1;
        json_object_set_new(spec, "Cpu", json_integer(d.each.cpu >= 2000 ? d.each.cpu / 1000 : 1));
        json_object_set_new(spec, "Memory", json_integer((json_int_t)d.each.memory));
    } else {
        if (api_present(json_object_get(p, "Resources")))
            return api_fail(c, "InvalidParameterValue",
                            "Resources: a HYBRID_PAID instance, prepaid or not, is sized by its "
                            "InstanceType");
        d.each.cpu = (uint64_t)json_integer_value(json_object_get(spec, "Cpu")) * 1000;
        d.each.memory = (uint64_t)json_integer_value(json_object_get(spec, "Memory"));
    }
    json_object_set_new(spec, "ResourceGroupId", json_string(g->id));
    json_object_set_new(spec, "Resources", res_json(&d.each, NULL));
    if (mixed)
        json_object_set_new(spec, "HybridBillingPrepaidReplicas", json_integer(d.count));
    capacity_take();
    if (fits(c, g, NULL, &d)) {
        api_prepaid_done();
        return -1;
    }
    return 0; /* the lock is held until api_prepaid_done(), after the insert */
}

int api_prepaid_check(struct api_call *c, const struct store_service *s, int replicas)
{
    json_t *spec = json_loads(s->spec_json, 0, NULL);
    struct ctl_demand d;
    const char *group = spec ? ctl_resgroups_demand_of(spec, replicas, &d) : NULL;
    const struct ctl_resgroup *g = ctl_resgroups_find(group);
    int rc = 0;
    if (group && !g)
        rc = api_fail(c, "ResourceNotFound", "%s runs on resource group '%s', which is gone", s->id,
                      group);
    else if (g) {
        capacity_take();
        rc = fits(c, g, s->id, &d);
        if (rc)
            api_prepaid_done();
    }
    json_decref(spec);
    return rc;
}

void api_prepaid_show(const struct store_service *s, json_t *o)
{
    json_t *spec = json_loads(s->spec_json, 0, NULL);
    const char *group = json_string_value(json_object_get(spec, "ResourceGroupId"));
    const struct ctl_resgroup *g = ctl_resgroups_find(group);
    if (group) {
        json_t *info = json_object_get(o, "ServiceInfo");
        json_object_set_new(o, "ResourceGroupId", json_string(group));
        json_object_set_new(o, "ResourceGroupName", json_string(g ? g->name : ""));
        json_object_set(info, "Resources", json_object_get(spec, "Resources"));
        const char *charge = json_string_value(json_object_get(spec, "ChargeType"));
        int n = s->replicas;
        if (charge && strcmp(charge, "HYBRID_PAID") == 0) {
            json_int_t h =
                json_integer_value(json_object_get(spec, "HybridBillingPrepaidReplicas"));
            json_object_set_new(info, "HybridBillingPrepaidReplicas",
                                json_integer(s->stopped ? 0 : h));
            json_object_set_new(info, "OldHybridBillingPrepaidReplicas", json_integer(h));
            n += s->stopped ? 0 : (int)h;
        }
        const json_t *r = json_object_get(spec, "Resources");
        json_object_set_new(info, "ResourceTotal",
                            json_pack("{s:I, s:I, s:I}", "Cpu",
                                      json_integer_value(json_object_get(r, "Cpu")) * n, "Memory",
                                      json_integer_value(json_object_get(r, "Memory")) * n, "Gpu",
                                      json_integer_value(json_object_get(r, "Gpu")) * n));
    }
    json_decref(spec);
}

int api_prepaid_modify(struct api_call *c, const struct store_service *s, const json_t *spec,
                       long long replicas)
{
    const char *charge = json_string_value(json_object_get(spec, "ChargeType"));
    if (!charge || strcmp(charge, "PREPAID") != 0)
        return 0;
    const char *mode = json_string_value(json_object_get(spec, "ScaleMode"));
    if (mode && strcmp(mode, "AUTO") == 0)
        return api_fail(c, "UnsupportedOperation",
                        "ScaleMode AUTO with ChargeType PREPAID: a resource group's capacity is "
                        "fixed; use HYBRID_PAID, whose postpaid part scales");
    if (api_present(json_object_get(c->params, "InstanceType")))
        return api_fail(c, "InvalidParameterValue",
                        "InstanceType is for postpaid instances; %s is PREPAID, sized by Resources",
                        s->id);
    if (replicas <= 0 || s->stopped)
        return 0;
    return api_prepaid_check(c, s, (int)replicas);
}
