/* resgroups.h - prepaid resource groups (TI-ONE's ResourceGroup, §3.19,
 * §3.20): capacity pools of nodes, each with CPU, memory and GPU, that the
 * operator defines with berthd's --resource-group option (docs/billing.md).
 * A PREPAID version takes Resources x Replicas from its group, a HYBRID_PAID
 * one its InstanceType's size x HybridBillingPrepaidReplicas; a stopped
 * version takes nothing. What a group has in use is not kept anywhere: it
 * is worked out from the store's services each time, placing instances on
 * nodes first-fit in the services' order, so it can never disagree with
 * what the store says runs. The table is filled once at start-up
 * (ctl_resgroups_define() from the main thread before any other thread
 * runs) and read-only afterwards. */
#ifndef BERTH_CTL_RESGROUPS_H
#define BERTH_CTL_RESGROUPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/store.h"

#define CTL_RESGROUPS_MAX 32
#define CTL_RESGROUP_NODES_MAX 256

/* ResourceInfo units: Cpu 1/1000 core, Memory MB, Gpu 1/100 card. */
struct ctl_res {
    uint64_t cpu, memory, gpu;
};

struct ctl_resgroup {
    char id[64];
    char name[64];
    char gpu_type[16];
    size_t nnodes;
    struct ctl_res node[CTL_RESGROUP_NODES_MAX]; /* what each node has */
};

/* Add nodes to a group (made on first use) from one option value:
 *   ID [name=NAME] nodes=N cpu=CORES memory=MIB [gpu=CARDS] [gpu-type=T4]
 * e.g. "rsg-pool1 name=pool1 nodes=2 cpu=8 memory=16384". Returns 0, or
 * ERR_INVALID naming the key and the rule. */
int ctl_resgroups_define(const char *line, struct err *err);
size_t ctl_resgroups_count(void);
const struct ctl_resgroup *ctl_resgroups_at(size_t i);
const struct ctl_resgroup *ctl_resgroups_find(const char *id);
void ctl_resgroups_reset(void); /* tests */

/* What one prepaid version asks of a group: 'count' instances of 'each'. */
struct ctl_demand {
    struct ctl_res each;
    int count;
};

/* Place demands on the nodes of 'g' first-fit, in order, adding to 'used'
 * (g->nnodes entries, zeroed by the caller). Returns how many instances did
 * not fit (0: all did). Pure. */
int ctl_resgroups_place(const struct ctl_resgroup *g, const struct ctl_demand *d, size_t nd,
                        struct ctl_res *used);

/* A stored spec's prepaid demand: its ResourceGroupId (NULL when it has
 * none), per-instance Resources and prepaid count when running with
 * 'replicas' (PREPAID: replicas; HYBRID_PAID: HybridBillingPrepaidReplicas). */
const char *ctl_resgroups_demand_of(const json_t *spec, int replicas, struct ctl_demand *d);
/* The prepaid instances a HYBRID_PAID spec runs beside its Replicas (0 for
 * any other), for the reconciler. */
int ctl_resgroups_hybrid_prepaid(const char *spec_json);

/* What runs on 'g' now, per node ('used', g->nnodes entries), from the
 * store's services that are not stopped, leaving out 'except_id' (NULL:
 * none); then, when 'extra' is not NULL, whether it fits too: returns 0
 * when it does, 1 when it does not, negative on a store error. */
int ctl_resgroups_usage(struct store *st, const struct ctl_resgroup *g, const char *except_id,
                        const struct ctl_demand *extra, struct ctl_res *used, struct err *err);

#endif
