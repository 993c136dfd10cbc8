/* routes.h - the gateway's route table: groups, their versions with weights,
 * and each version's ready instances. The control plane builds a whole new
 * table and swaps it in; gateway workers read a table without locks for the
 * length of a request (they hold a reference), never the store. */
#ifndef BERTH_GATEWAY_ROUTES_H
#define BERTH_GATEWAY_ROUTES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

struct gw_instance {
    char host[16]; /* 127.0.0.1 */
    int port;
};

struct gw_version {
    char *service_id; /* ms-xxxxxxxx-N */
    unsigned weight;
    struct gw_instance *instances; /* ready ones only */
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
    pthread_mutex_t lock; /* held only to swap or take a reference */
    struct gw_routes *current;
};

void gw_table_init(struct gw_table *t);
void gw_table_release(struct gw_table *t);
/* Swap in 'routes' (the table takes the caller's reference). */
void gw_table_publish(struct gw_table *t, struct gw_routes *routes);
/* The current routes; takes a reference. */
struct gw_routes *gw_table_acquire(struct gw_table *t);
void gw_routes_release(struct gw_routes *r);

/* A new empty table to fill with gw_routes_add(); refs = 1. */
struct gw_routes *gw_routes_new(void);
/* Add a version of a group, with its ready instances ("host:port" strings). */
void gw_routes_add(struct gw_routes *r, const char *group_id, const char *service_id,
                   unsigned weight, const struct gw_instance *ready, size_t nready);

/* Choose an instance for a path's first segment: a group id (a version by
 * weight, evenly when every ready version weighs 0) or a service id (that
 * version). ERR_NOTFOUND: no such group or service; ERR_UNAVAILABLE: no ready
 * instance. *service_id points into 'r'. */
int gw_routes_pick(struct gw_routes *r, struct str target, struct gw_instance *out,
                   const char **service_id);

#endif
