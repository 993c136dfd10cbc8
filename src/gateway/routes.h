/* routes.h - the gateway's route table: groups, their versions with weights
 * and request timeouts, and each version's ready instances. The control plane
 * builds a whole new table and swaps it in; gateway workers read a table
 * without locks for the length of a pick (they hold a reference), never the
 * store.
 *
 * Passive health: an instance a request found dead or frozen is ejected (taken
 * out of rotation) by any worker at once, until the control plane says its
 * readiness probe passed again. The flag lives in a small shared object per
 * host:port that a newly published table inherits from the one it replaces.
 *
 * Call authentication and limits: a group carries its credentials (auth.h)
 * and its total rate cap, a version its per-instance limits, a token its
 * quotas. The limiters' state lives in shared objects too, per group, version
 * and token id, inherited the same way, so a new table (a scale-up, a token
 * change) neither resets a limit nor lets a burst through. */
#ifndef BERTH_GATEWAY_ROUTES_H
#define BERTH_GATEWAY_ROUTES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "gateway/auth.h"
#include "gateway/limits.h"

struct gw_instance {
    char host[16]; /* 127.0.0.1 */
    int port;
};

/* Shared by every table that lists host:port; reference-counted. */
struct gw_health {
    atomic_int refs;
    atomic_bool ejected;
};

struct gw_mset; /* metrics.h */

/* Limiter state and metrics, shared by the tables that list the same id;
 * reference-counted. */
struct gw_vstate {
    atomic_int refs;
    struct gw_rate rate;
    struct gw_inflight inflight;
    struct gw_mset *metrics;
};

struct gw_gstate {
    atomic_int refs;
    struct gw_rate rate;
    struct gw_mset *metrics;
};

struct gw_tstate {
    atomic_int refs;
    struct gw_window minute, day;
};

/* A token's quotas; what its gw_token.ud points at. */
struct gw_quota {
    uint64_t per_minute, per_day; /* 0: none */
    struct gw_tstate *state;
};

struct gw_version {
    char *service_id; /* ms-xxxxxxxx-N */
    unsigned weight;
    uint64_t timeout_ms;           /* per request; 0: the gateway's default */
    struct gw_instance *instances; /* ready ones only */
    struct gw_health **health;     /* one per instance */
    size_t ninstances;
    atomic_uint next;        /* round robin */
    unsigned rps_limit;      /* per ready instance; 0: none */
    unsigned inflight_limit; /* per ready instance; 0: none */
    bool scaled_to_zero;     /* its CronScaleJobs want no instance now */
    bool wakeable;           /* HPA with MinReplicas 0: a request at 0 ready waits (wake.h) */
    struct gw_vstate *state;
};

struct gw_group {
    char *id; /* ms-xxxxxxxx */
    struct gw_version *versions;
    size_t nversions;
    bool auth;               /* call authentication on */
    struct gw_token *tokens; /* sorted by hash once the table is published */
    struct gw_quota *quotas; /* one per token */
    size_t ntokens;
    char *app_key, *app_secret; /* NULL: no signatures */
    double qps_cap;             /* the group's total, once a version has a rate limit; 0: none */
    bool rate_limited;          /* a version has a rate limit */
    struct gw_gstate *state;
    /* The versions in smooth weighted round-robin order, one period of it
     * (empty when the weights make it longer than GW_WRR_MAX: then by lot). */
    uint16_t *wrr;
    size_t nwrr;
    atomic_uint wnext;
};

#define GW_WRR_MAX 4096

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

/* A new empty table to fill with gw_routes_add() and the calls after it; refs = 1. */
struct gw_routes *gw_routes_new(void);
/* Add a version of a group, with its request timeout (0: the gateway's
 * default) and its ready instances. */
void gw_routes_add(struct gw_routes *r, const char *group_id, const char *service_id,
                   unsigned weight, uint64_t timeout_ms, const struct gw_instance *ready,
                   size_t nready);

/* A version's limits per ready instance (InstanceRpsLimit, InstanceReqLimit; 0: none). */
void gw_routes_limit(struct gw_routes *r, const char *service_id, unsigned rps, unsigned inflight);
/* Mark a version scaled to zero by its schedule (for the 503's reason). */
void gw_routes_scaled_to_zero(struct gw_routes *r, const char *service_id);
/* Mark a version that a request wakes from zero (wake.h). */
void gw_routes_wakeable(struct gw_routes *r, const char *service_id);
/* Whether 'v' (or, NULL, any version of 'g') is scaled to zero by its schedule. */
bool gw_routes_at_zero(const struct gw_group *g, const struct gw_version *v);
/* A group's call authentication (app_key and app_secret may be NULL) and its
 * total rate cap (0: none), which holds once one of its versions has a rate
 * limit: the limits together never pass it. For a group gw_routes_add() named. */
void gw_routes_group(struct gw_routes *r, const char *group_id, bool auth, const char *app_key,
                     const char *app_secret, double qps_cap);
/* A token of a group, by the SHA-256 of its value, with its quotas (0: none). */
void gw_routes_token(struct gw_routes *r, const char *group_id, const uint8_t hash[32],
                     const char *id, uint64_t per_minute, uint64_t per_day);

struct gw_pick {
    struct gw_instance inst;
    char service_id[64];
    uint64_t timeout_ms;        /* the version's; 0: the gateway's default */
    struct gw_version *version; /* valid while the caller holds the routes */
};

/* The group a path's first segment names: a group id, or a service id (then
 * *version is that version, else NULL). NULL when there is none. */
struct gw_group *gw_routes_find(struct gw_routes *r, struct str target,
                                struct gw_version **version);
/* An instance of 'v', or by weight among the versions of 'g' when v is NULL. */
int gw_routes_pick_in(struct gw_group *g, struct gw_version *v, struct gw_pick *out);
/* The group's credentials for gw_authenticate(). */
struct gw_credentials gw_group_credentials(const struct gw_group *g);

/* Whether one more request may go to version 'v' of group 'g' now, with
 * 'token' (NULL: none). On success out->held is the version's state with a
 * request counted in flight: pass it to gw_admit_done() when the request
 * ends. On refusal (429) out->retry_s says when to retry and out->reason
 * which limit. */
struct gw_admission {
    int status; /* 0 or 429 */
    unsigned retry_s;
    char reason[160];
    struct gw_vstate *held;
};
void gw_admit(struct gw_group *g, struct gw_version *v, const struct gw_token *token,
              uint64_t now_ns, struct gw_admission *out);
void gw_admit_done(struct gw_vstate *held);

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
