/* storage.c - claiming and cleaning a service's source paths, with events. */
#include "control/storage.h"
#include "base/log.h"
#include "control/events.h"
#include "control/hotupdate.h"

#include <jansson.h>
#include <string.h>

int ctl_storage_claim(const struct drv_volumes *v, const struct drv_user *user,
                      const char *service_id, const char *spec_json, struct drv_mount *out,
                      size_t *n, struct err *err)
{
    int rc = drv_mounts_of_spec(v, spec_json, out, n, err);
    /* A model service's path holds what berthd writes (its versions), which
     * the instance reads; a command's instance writes in its own. */
    json_t *spec = json_loads(spec_json, 0, NULL);
    const char *kind = json_string_value(json_object_get(spec, "Kind"));
    bool model = kind && strcmp(kind, "model") == 0;
    json_decref(spec);
    uid_t uid = user->set && !model ? user->uid : (uid_t)-1;
    gid_t gid = user->set ? user->gid : (gid_t)-1;
    for (size_t i = 0; !rc && i < *n; i++)
        if (!out[i].read_only)
            rc = drv_mount_claim(out[i].source, service_id, uid, gid, model ? 0750 : 0770, err);
    if (rc) {
        drv_mounts_release(out, *n);
        *n = 0;
    }
    return rc;
}

void ctl_storage_clean(struct store *st, const struct drv_volumes *v, const char *region,
                       const char *service_id, const char *spec_json, const char *why)
{
    struct drv_mount m[DRV_MOUNTS_MAX];
    size_t n = 0;
    struct err err = {0};
    if (drv_mounts_of_spec(v, spec_json, m, &n, &err) != 0) {
        log_warn("storage", "service %s: cannot clean its mounts: %s", service_id, err.msg);
        return;
    }
    json_t *spec = json_loads(spec_json, 0, NULL);
    bool keep = strcmp(why, "update") == 0 && ctl_hotupdate_on(spec);
    json_decref(spec);
    for (size_t i = 0; i < n; i++) {
        int removed = 0;
        if (m[i].read_only)
            continue;
        if (drv_mount_clean(m[i].source, service_id, keep, &removed, &err) != 0)
            ctl_event_version(st, region, service_id, CTL_EVENT_WARNING, "MountNotCleaned",
                              "On %s: %s", why, err.msg);
        else if (removed)
            ctl_event_version(st, region, service_id, CTL_EVENT_NORMAL, "MountCleaned",
                              "On %s: cleaned %s (%d entr%s)", why, m[i].source, removed,
                              removed == 1 ? "y" : "ies");
    }
    drv_mounts_release(m, n);
}
