/* driver.c - the switch behind driver.h: each call goes to the driver that
 * runs the instance. */
#include "drivers/driver.h"
#include "drivers/container.h"
#include "drivers/process.h"

#include <signal.h>
#include <string.h>

enum drv_kind drv_kind_of(const char *kind)
{
    return kind && strcmp(kind, "image") == 0 ? DRV_CONTAINER : DRV_PROCESS;
}

void drv_signal(const struct drv_handle *h, int sig)
{
    if (h->kind == DRV_PROCESS)
        drv_process_signal(h->pgid, sig);
    else if (h->ct)
        drv_container_stop(h->ct, sig == SIGKILL);
}

int drv_usage(const struct drv_handle *h, struct drv_usage *out)
{
    if (h->kind == DRV_PROCESS && h->pid > 0)
        return drv_usage_instance(h->pid, h->pgid, out);
    return -1;
}
