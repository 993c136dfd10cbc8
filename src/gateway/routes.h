/* routes.h - the gateway's route table: groups, their versions with weights
 * and request timeouts, and each version's ready instances. The control plane
 * builds a whole new table and swaps it in; gateway workers read a table
 * without locks for the length of a pick (they hold a reference), never the
 * store.
 *
 * Passive health: an instance a request found dead or frozen is ejected (taken
 * out of rotation) by any worker at once, until the control plane says its
 * readiness probe passed again. The flag lives in a small shared object per
 * host:port that a newly published table inherits from the one it replaces. */
#ifndef BERTH_GATEWAY_ROUTES_H
#define BERTH_GATEWAY_ROUTES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

struct gw_instance {
    char host[16]; /* 127.0.0.1 */
    int port;
};

/* Shared by every table that lists host:port; reference-counted. */
struct gw_health {
    atomic_int refs;
    atomic_bool ejected;
};

struct gw_version {
    char *service_id; /* ms-xxxxxxxx-N */
    unsigned weight;
    uint64_t timeout_ms;           /* per request; 0: the gateway's default */
    struct gw_instance *instances; /* ready ones only */
    struct gw_health **health;     /* one per instance */
    size_t ninstances;
    atomic_uint next; /* round robin */
};

struct gw_group {
    char *id; /* ms-xxxxxxxx */
    struct gw_version *versions;
    size_t nversions;
};

struct gw_routes {
    atomic_int refs;
    struct gw_group *groups;
    size_t ngroups;
};

struct gw_table {
    pthread_mutex_t lock; /* held only to swap, take a reference or clear an ejection */
    struct gw_routes *current;
};

void gw_table_init(struct gw_table *t);
void gw_table_release(struct gw_table *t);
/* Swap in 'routes' (the table takes the caller's reference). Instances that
 * the current table lists keep their health (an ejected one stays ejected). */
void gw_table_publish(struct gw_table *t, struct gw_routes *routes);
/* The current routes; takes a reference. */
struct gw_routes *gw_table_acquire(struct gw_table *t);
void gw_routes_release(struct gw_routes *r);
/* The readiness probe of host:port passed: back into rotation. Any thread. */
void gw_table_probe_passed(struct gw_table *t, const char *host, int port);

/* A new empty table to fill with gw_routes_add(); refs = 1. */
struct gw_routes *gw_routes_new(void);
/* Add a version of a group, with its request timeout (0: the gateway's
 * default) and its ready instances. */
void gw_routes_add(struct gw_routes *r, const char *group_id, const char *service_id,
                   unsigned weight, uint64_t timeout_ms, const struct gw_instance *ready,
                   size_t nready);

struct gw_pick {
    struct gw_instance inst;
    char service_id[64];
    uint64_t timeout_ms; /* the version's; 0: the gateway's default */
};

/* Choose an instance for a path's first segment: a group id (a version by
 * weight, evenly when every ready version weighs 0) or a service id (that
 * version). Ejected instances are passed over; only when every ready
 * instance of the candidates is ejected are they used anyway (a guess beats
 * a certain failure). ERR_NOTFOUND: no such group or service;
 * ERR_UNAVAILABLE: no ready instance. */
int gw_routes_pick(struct gw_routes *r, struct str target, struct gw_pick *out);
/* Another instance of version 'service_id' than 'failed', for a request that
 * could not be sent there; ERR_UNAVAILABLE when there is none. */
int gw_routes_pick_other(struct gw_routes *r, const char *service_id,
                         const struct gw_instance *failed, struct gw_pick *out);
/* Take host:port out of rotation in 'r' and every table sharing its health.
 * Returns whether it was listed and not ejected yet. Any thread. */
bool gw_routes_eject(struct gw_routes *r, const struct gw_instance *inst);

#endif
