/* resgroups.c - the resource-group table and first-fit placement. Usage is
 * derived from the services in the store every time it is asked for
 * (resgroups.h says why); a few dozen services cost microseconds. */
#include "control/resgroups.h"
#include "base/alloc.h"
#include "control/billing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct ctl_resgroup *groups[CTL_RESGROUPS_MAX];
static size_t ngroups;

size_t ctl_resgroups_count(void)
{
    return ngroups;
}

const struct ctl_resgroup *ctl_resgroups_at(size_t i)
{
    return i < ngroups ? groups[i] : NULL;
}

const struct ctl_resgroup *ctl_resgroups_find(const char *id)
{
    for (size_t i = 0; id && i < ngroups; i++)
        if (strcmp(groups[i]->id, id) == 0)
            return groups[i];
    return NULL;
}

void ctl_resgroups_reset(void)
{
    for (size_t i = 0; i < ngroups; i++)
        free(groups[i]);
    ngroups = 0;
}

/* "2.5" (cores or cards) into 1/'scale' units; false when not a number. */
static bool fixed_point(const char *v, uint64_t scale, uint64_t max, uint64_t *out)
{
    uint64_t whole = 0, frac = 0, div = 1;
    const char *p = v;
    if (!*p)
        return false;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((whole = whole * 10 + (uint64_t)(*p - '0')) > max)
            return false;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++)
            if (div < scale)
                frac = frac * 10 + (uint64_t)(*p - '0'), div *= 10;
    }
    if (*p || p == v)
        return false;
    *out = whole * scale + frac * (scale / div);
    return true;
}

static bool valid_id(const char *s)
{
    return ctl_billing_name_ok(s, 63);
}

int ctl_resgroups_define(const char *line, struct err *err)
{
    char *copy = xstrdup(line), *save = NULL;
    char *id = strtok_r(copy, " \t", &save);
    char name[64] = "", gpu_type[16] = "";
    uint64_t nodes = 0, cpu = 0, memory = 0, gpu = 0;
    int rc = 0;
    if (!id || !valid_id(id))
        rc = err_set(err, ERR_INVALID,
                     "the resource group needs an id of letters, digits, '-' "
                     "and '_' first, e.g. 'rsg-pool1 nodes=2 cpu=8 memory=16384'");
    for (char *kv; rc == 0 && (kv = strtok_r(NULL, " \t", &save));) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            rc = err_set(err, ERR_INVALID, "'%s' is not key=value", kv);
            break;
        }
        *eq = '\0';
        const char *k = kv, *v = eq + 1;
        if (strcmp(k, "name") == 0 && valid_id(v))
            snprintf(name, sizeof(name), "%s", v);
        else if (strcmp(k, "gpu-type") == 0 && valid_id(v) && strlen(v) < sizeof(gpu_type))
            snprintf(gpu_type, sizeof(gpu_type), "%s", v);
        else if (strcmp(k, "nodes") == 0 && fixed_point(v, 1, CTL_RESGROUP_NODES_MAX, &nodes) &&
                 nodes >= 1)
            ;
        else if (strcmp(k, "cpu") == 0 && fixed_point(v, 1000, 100000, &cpu) && cpu > 0)
            ;
        else if (strcmp(k, "memory") == 0 && fixed_point(v, 1, 1ULL << 32, &memory) && memory > 0)
            ;
        else if (strcmp(k, "gpu") == 0 && fixed_point(v, 100, 1024, &gpu))
            ;
        else
            rc = err_set(err, ERR_INVALID,
                         "%s=%s: name and gpu-type are names, nodes a count of 1 to %d, cpu cores "
                         "(to 1/1000), memory MiB, gpu cards (to 1/100)",
                         k, v, CTL_RESGROUP_NODES_MAX);
    }
    if (rc == 0 && (!nodes || !cpu || !memory))
        rc = err_set(err, ERR_INVALID, "resource group '%s' needs nodes=, cpu= and memory=", id);
    struct ctl_resgroup *g = rc == 0 ? (struct ctl_resgroup *)ctl_resgroups_find(id) : NULL;
    if (rc == 0 && !g) {
        if (ngroups == CTL_RESGROUPS_MAX) {
            rc = err_set(err, ERR_INVALID, "at most %d resource groups", CTL_RESGROUPS_MAX);
        } else {
            g = groups[ngroups++] = xcalloc(1, sizeof(*g));
            snprintf(g->id, sizeof(g->id), "%s", id);
            snprintf(g->name, sizeof(g->name), "%s", id);
        }
    }
    if (rc == 0 && g->nnodes + nodes > CTL_RESGROUP_NODES_MAX)
        rc = err_set(err, ERR_INVALID, "resource group '%s': at most %d nodes", id,
                     CTL_RESGROUP_NODES_MAX);
    if (rc == 0) {
        if (name[0])
            snprintf(g->name, sizeof(g->name), "%s", name);
        if (gpu_type[0])
            snprintf(g->gpu_type, sizeof(g->gpu_type), "%s", gpu_type);
        for (uint64_t i = 0; i < nodes; i++)
            g->node[g->nnodes++] = (struct ctl_res){cpu, memory, gpu};
    }
    free(copy);
    return rc;
}

int ctl_resgroups_place(const struct ctl_resgroup *g, const struct ctl_demand *d, size_t nd,
                        struct ctl_res *used)
{
    int left = 0;
    for (size_t i = 0; i < nd; i++) {
        const struct ctl_res *e = &d[i].each;
        for (int k = 0; k < d[i].count; k++) {
            size_t j = 0;
            for (; j < g->nnodes; j++)
                if (used[j].cpu + e->cpu <= g->node[j].cpu &&
                    used[j].memory + e->memory <= g->node[j].memory &&
                    used[j].gpu + e->gpu <= g->node[j].gpu)
                    break;
            if (j == g->nnodes) {
                left++;
                continue;
            }
            used[j].cpu += e->cpu;
            used[j].memory += e->memory;
            used[j].gpu += e->gpu;
        }
    }
    return left;
}

const char *ctl_resgroups_demand_of(const json_t *spec, int replicas, struct ctl_demand *d)
{
    const char *group = json_string_value(json_object_get(spec, "ResourceGroupId"));
    if (!group || !*group)
        return NULL;
    const json_t *r = json_object_get(spec, "Resources");
    d->each.cpu = (uint64_t)json_integer_value(json_object_get(r, "Cpu"));
    d->each.memory = (uint64_t)json_integer_value(json_object_get(r, "Memory"));
    d->each.gpu = (uint64_t)json_integer_value(json_object_get(r, "Gpu"));
    const char *charge = json_string_value(json_object_get(spec, "ChargeType"));
    d->count = charge && strcmp(charge, "HYBRID_PAID") == 0
                   ? (int)json_integer_value(json_object_get(spec, "HybridBillingPrepaidReplicas"))
                   : replicas;
    return group;
}

int ctl_resgroups_hybrid_prepaid(const char *spec_json)
{
    if (!spec_json || !strstr(spec_json, "HYBRID_PAID")) /* most specs: no parse */
        return 0;
    json_t *spec = json_loads(spec_json, 0, NULL);
    const char *charge = json_string_value(json_object_get(spec, "ChargeType"));
    int n = charge && strcmp(charge, "HYBRID_PAID") == 0
                ? (int)json_integer_value(json_object_get(spec, "HybridBillingPrepaidReplicas"))
                : 0;
    json_decref(spec);
    return n;
}

int ctl_resgroups_usage(struct store *st, const struct ctl_resgroup *g, const char *except_id,
                        const struct ctl_demand *extra, struct ctl_res *used, struct err *err)
{
    struct store_service *list;
    size_t n;
    int rc = store_service_list(st, NULL, &list, &n, err);
    if (rc)
        return rc;
    struct ctl_demand *d = xcalloc(n + 1, sizeof(*d));
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *spec = json_loads(list[i].spec_json, 0, NULL);
        const char *group = spec ? ctl_resgroups_demand_of(spec, list[i].replicas, &d[nd]) : NULL;
        if (group && strcmp(group, g->id) == 0 && !list[i].stopped &&
            !(except_id && strcmp(except_id, list[i].id) == 0))
            nd++;
        json_decref(spec);
        store_service_release(&list[i]);
    }
    free(list);
    memset(used, 0, g->nnodes * sizeof(*used));
    ctl_resgroups_place(g, d, nd, used);
    rc = extra && ctl_resgroups_place(g, extra, 1, used) > 0 ? 1 : 0;
    free(d);
    return rc;
}
