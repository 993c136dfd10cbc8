/* storage.h - a service's storage mounts as the control loop handles them:
 * claimed (created with the marker) before an instance starts, cleaned on
 * stop and on update (drivers/mounts.h says what that means), each cleaning
 * or refusal an event of the service. Main thread only. */
#ifndef BERTH_CONTROL_STORAGE_H
#define BERTH_CONTROL_STORAGE_H

#include <stddef.h>

#include "base/err.h"
#include "drivers/mounts.h"
#include "drivers/process.h"
#include "store/store.h"

/* The mounts of an instance of service 'service_id' running 'spec_json',
 * each writable source path claimed for it: berthd's with the instance
 * user's group (0750) for a model service, whose versions berthd writes, the
 * instance user's (0770) for a command. Release 'out' with
 * drv_mounts_release(). */
int ctl_storage_claim(const struct drv_volumes *v, const struct drv_user *user,
                      const char *service_id, const char *spec_json, struct drv_mount *out,
                      size_t *n, struct err *err);

/* Clean the writable source paths of 'spec_json' (what ran) for service
 * 'service_id'; 'why' is "stop", "update" or "delete". An update keeps a
 * hot-updated model's versions (auto-clean looks after those). */
void ctl_storage_clean(struct store *st, const struct drv_volumes *v, const char *region,
                       const char *service_id, const char *spec_json, const char *why);

#endif
