/* scaling.h - the scaling fields of CreateModelService and ModifyModelService
 * (../shared/reference/tione-api.md §3.1, §4.3): ScaleMode, ScaleStrategy,
 * Replicas as the CRON default, HorizontalPodAutoscaler and CronScaleJobs,
 * checked with TI-ONE's ranges and normalized into what the control plane
 * runs (control/autoscaler.h, control/cron.h) and what the answers show.
 * Errors go through api_fail() and name the field by its full path
 * ("HorizontalPodAutoscaler.HpaMetrics[1].Value ..."). Any thread. */
#ifndef BERTH_API_SCALING_H
#define BERTH_API_SCALING_H

#include <jansson.h>
#include <stdbool.h>

#include "api/api.h"
#include "control/autoscaler.h"
#include "control/cron.h"

#define API_CRON_MAX_JOBS 16
#define API_CRON_TEXT_MAX 128

enum api_scale_strategy {
    API_SCALE_MANUAL, /* ScaleMode MANUAL: Replicas, read by the caller */
    API_SCALE_HPA,    /* ScaleMode AUTO, ScaleStrategy HPA */
    API_SCALE_CRON,   /* ScaleMode AUTO, ScaleStrategy CRON */
};

struct api_scaling_limits {
    int max_replicas; /* the most instances a service may ask for */
    bool have_gpus;   /* gpu-util is refused without */
};

struct api_scaling {
    enum api_scale_strategy strategy;
    /* HPA: the spec (panic_capacity is left 0 for the caller to set from
     * the concurrency-util target or ServiceLimit) and the count to start
     * with: Replicas if given (within Min and Max), else MinReplicas, at
     * least 1. */
    struct ctl_hpa_spec hpa;
    /* CRON: the jobs, their text as given, and Replicas, the count outside
     * every window (required). */
    struct ctl_cron_job jobs[API_CRON_MAX_JOBS];
    char schedule[API_CRON_MAX_JOBS][API_CRON_TEXT_MAX];
    char exclude[API_CRON_MAX_JOBS][CTL_CRON_MAX_EXCLUDES][API_CRON_TEXT_MAX];
    size_t n_jobs;
    long long replicas; /* HPA: the start; CRON: the default; MANUAL: unset (-1) */
};

/* Read and check the scaling fields of 'params' (an action's request, or a
 * stored canonical object, which reads the same). MANUAL leaves Replicas to
 * the caller; the HPA and CRON objects are refused with MANUAL and with the
 * other strategy (null, "" and [] count as absent). Returns 0 or -1 with
 * the API error recorded. */
int api_scaling_read(struct api_call *c, const json_t *params, const struct api_scaling_limits *lim,
                     struct api_scaling *out);
/* api_scaling_read() of a stored spec (what api_scaling_json() wrote, inside
 * the service's spec object), for the control plane, which has no API call:
 * 0, or ERR_INVALID with the reason in 'err' (a spec written by an older
 * Berth, or by hand). Limits as when it was accepted. */
int api_scaling_from_spec(const json_t *spec, const struct api_scaling_limits *lim,
                          struct api_scaling *out, struct err *err);
/* The canonical fields as answers show them and as the spec stores them:
 * {"ScaleMode", "ScaleStrategy", "HorizontalPodAutoscaler" (or null),
 * "CronScaleJobs" ([] unless CRON)}, with every default written out. */
json_t *api_scaling_json(const struct api_scaling *s);

/* ------------------------------------------------------------------------ */
/* For CreateModelService, ModifyModelService and the Describe answers      */

/* api_scaling_read() of a request, with the service actions' limits (no
 * GPUs: gpu-util is refused). */
int api_scaling_request(struct api_call *c, const json_t *params, int max_replicas,
                        struct api_scaling *out);
/* The scaling a Modify asks for, over the stored 'spec': *given false when
 * it carries no scaling field nor Replicas (the scaling stays). With
 * ScaleMode the request's fields replace the scaling whole; without, those
 * given (CronScaleJobs, Replicas) replace the stored ones. */
int api_scaling_modify(struct api_call *c, const json_t *params, const json_t *spec,
                       int max_replicas, struct api_scaling *out, bool *given);
/* Write 's' into a stored spec: api_scaling_json(), and for CRON also
 * "Replicas", the count outside every window (the store's count is the
 * one wanted now). */
void api_scaling_put(json_t *spec, const struct api_scaling *s);
/* The fields as a stored spec has them, into 'info' (ServiceInfo); a spec
 * from before them, or one that does not read back (logged), is MANUAL. */
void api_scaling_show(json_t *info, const json_t *spec, int max_replicas);

#endif
