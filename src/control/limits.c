/* limits.c - instance limits between the reconciler and the cgroup driver. */
#include "control/limits.h"
#include "base/alloc.h"
#include "base/log.h"

#include <jansson.h>
#include <string.h>

#define PENDING_MAX 256

struct ctl_limits {
    const struct drv_cgroup_host *host;
    struct drv_cgroup_instance pending[PENDING_MAX];
    size_t npending;
};

struct ctl_limits *ctl_limits_new(const struct drv_cgroup_host *host)
{
    struct ctl_limits *l = xcalloc(1, sizeof(*l));
    l->host = host;
    return l;
}

void ctl_limits_free(struct ctl_limits *l)
{
    if (!l)
        return;
    ctl_limits_retry(l);
    for (size_t i = 0; i < l->npending; i++)
        log_warn("limits", "cannot remove the control group %s", l->pending[i].cpu);
    free(l);
}

int ctl_limits_of_spec(const char *spec_json, struct spec_request *out)
{
    memset(out, 0, sizeof(*out));
    json_t *spec = json_loads(spec_json ? spec_json : "", 0, NULL);
    json_int_t cpu = json_integer_value(json_object_get(spec, "LimitCpuMilli"));
    json_int_t mem = json_integer_value(json_object_get(spec, "LimitMemoryMiB"));
    const struct spec *sp = specs_find(json_string_value(json_object_get(spec, "InstanceType")));
    int rc = 0;
    if (cpu > 0 && mem > 0 && cpu <= UINT32_MAX && mem <= UINT32_MAX) {
        out->cpu_millicores = (uint32_t)cpu;
        out->memory_mib = (uint32_t)mem;
        out->gpu = (uint32_t)json_integer_value(json_object_get(spec, "LimitGpu"));
    } else if (sp) {
        specs_request_of(sp, out);
    } else {
        rc = ERR_NOTFOUND;
    }
    json_decref(spec);
    return rc;
}

int ctl_limits_adopt(struct ctl_limits *l, const char *spec_json, const char *name,
                     struct drv_cgroup_instance *cg)
{
    memset(cg, 0, sizeof(*cg));
    cg->fds[0] = cg->fds[1] = -1;
    struct spec_request req;
    if (!l->host || ctl_limits_of_spec(spec_json, &req) != 0)
        return ERR_NOTFOUND;
    return drv_cgroup_attach(l->host, name, req.memory_mib, cg);
}

void ctl_limits_sweep(struct ctl_limits *l, const char *const *keep, size_t nkeep)
{
    if (l->host)
        drv_cgroup_sweep(l->host, keep, nkeep);
}

/* Why a spec gives no limits: its InstanceType has left the catalogue, or it names none. */
static int no_limits(const char *spec_json, struct err *err)
{
    json_t *spec = json_loads(spec_json ? spec_json : "", 0, NULL);
    const char *itype = json_string_value(json_object_get(spec, "InstanceType"));
    int rc;
    if (itype)
        rc = err_set(err, ERR_NOTFOUND,
                     "its InstanceType '%.64s' is no longer in the catalogue (a --spec removed?), "
                     "so nothing says how much CPU and memory it may use",
                     itype);
    else
        rc = err_set(err, ERR_INVALID,
                     "the service has neither an InstanceType nor Resources, so nothing says "
                     "how much CPU and memory it may use");
    json_decref(spec);
    return rc;
}

int ctl_limits_prepare(struct ctl_limits *l, const char *spec_json, const char *name,
                       struct drv_cgroup_instance *cg, struct err *err)
{
    memset(cg, 0, sizeof(*cg));
    cg->fds[0] = cg->fds[1] = -1;
    struct spec_request req;
    if (ctl_limits_of_spec(spec_json, &req) != 0)
        return no_limits(spec_json, err);
    if (req.gpu)
        return err_set(err, ERR_UNSUPPORTED,
                       "it asks for GPU (%u/100 card) and the process driver has none to give",
                       req.gpu);
    if (!l->host)
        return err_set(err, ERR_UNSUPPORTED, "cannot enforce its CPU and memory: no cgroups");
    int rc = drv_cgroup_create(l->host, name, req.cpu_millicores, req.memory_mib, cg, err);
    if (rc)
        return rc;
    /* An earlier group of this name still waiting for removal is this one now. */
    size_t kept = 0;
    for (size_t i = 0; i < l->npending; i++)
        if (strcmp(l->pending[i].cpu, cg->cpu) != 0)
            l->pending[kept++] = l->pending[i];
    l->npending = kept;
    return 0;
}

bool ctl_limits_finish(struct ctl_limits *l, struct drv_cgroup_instance *cg)
{
    drv_cgroup_close_fds(cg);
    if (!cg->cpu[0] && !cg->mem[0])
        return false;
    bool oom = drv_cgroup_oom_kills(cg) > 0;
    if (drv_cgroup_remove(cg) != 0) {
        if (l->npending < PENDING_MAX)
            l->pending[l->npending++] = *cg;
        else
            log_warn("limits", "cannot remove the control group %s", cg->cpu);
    }
    memset(cg, 0, sizeof(*cg));
    cg->fds[0] = cg->fds[1] = -1;
    return oom;
}

uint64_t ctl_limits_oom_news(struct drv_cgroup_instance *cg)
{
    if (!cg->cpu[0])
        return 0;
    uint64_t n = drv_cgroup_oom_kills(cg);
    uint64_t news = n > cg->oom_seen ? n - cg->oom_seen : 0;
    cg->oom_seen = n > cg->oom_seen ? n : cg->oom_seen;
    return news;
}

void ctl_limits_retry(struct ctl_limits *l)
{
    size_t kept = 0;
    for (size_t i = 0; i < l->npending; i++)
        if (drv_cgroup_remove(&l->pending[i]) != 0)
            l->pending[kept++] = l->pending[i];
    l->npending = kept;
}
