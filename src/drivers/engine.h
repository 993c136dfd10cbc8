/* engine.h - a client of the Docker Engine API (v1.41) over its unix socket,
 * with libcurl: what the container driver needs of Docker, or of Podman's
 * compatible service (`podman system service`). Every call blocks (the
 * container driver makes them on its own threads) and may be made from any
 * thread; each opens its own connection. Fallible calls return 0 or a
 * negative ERR_* code and fill 'err' with a one-line reason, the engine's
 * own message when it gave one. */
#ifndef BERTH_DRIVERS_ENGINE_H
#define BERTH_DRIVERS_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define DRV_ENGINE_API "v1.41"

/* Credentials for one registry host ("127.0.0.1:5000", "docker.io"). */
struct drv_registry_auth {
    char *host, *username, *password;
};

/* Read a credentials file: one registry a line, "HOST USERNAME PASSWORD"
 * separated by blanks, '#' starting a comment. *out is a heap array to
 * release with drv_registry_auths_free(). Errors say file:line. */
int drv_registry_auths_load(const char *path, struct drv_registry_auth **out, size_t *n,
                            struct err *err);
void drv_registry_auths_free(struct drv_registry_auth *a, size_t n);

/* The host part of an image reference: what comes before the first '/' when
 * it holds a '.' or a ':' or is "localhost", else "docker.io". */
void drv_image_registry(const char *image, char *out, size_t size);
/* Split "host/repo:tag" or "repo@sha256:..." into what images/create takes:
 * fromImage and tag ("latest" when none; empty with a digest). */
void drv_image_split(const char *image, char *from, size_t from_size, char *tag, size_t tag_size);
/* The X-Registry-Auth header's value: base64url of {"username","password",
 * "serveraddress"}. A heap string. */
char *drv_registry_auth_header(const struct drv_registry_auth *a);

/* Progress of a pull, called for each line the engine streams. */
typedef void (*drv_pull_cb)(void *arg, const char *status, const char *layer, long long current,
                            long long total);

/* GET /version: the engine answers (a liveness check). */
int drv_engine_ping(const char *sock, struct err *err);
/* Pull 'image' (POST /images/create); 'auth' may be NULL. A failure carries
 * the registry's reason as the engine reports it. */
int drv_engine_pull(const char *sock, const char *image, const struct drv_registry_auth *auth,
                    drv_pull_cb cb, void *arg, struct err *err);
/* Create a container named 'name' from the JSON body; its id into id[72]. */
int drv_engine_create(const char *sock, const char *name, json_t *body, char id[72],
                      struct err *err);
int drv_engine_start(const char *sock, const char *id, struct err *err);
/* SIGTERM, then SIGKILL after timeout_s; returns once it stopped. */
int drv_engine_stop(const char *sock, const char *id, int timeout_s, struct err *err);
int drv_engine_kill(const char *sock, const char *id, struct err *err);
/* Remove it with its anonymous volumes, stopping it first if it runs. A
 * container that is not there counts as removed. */
int drv_engine_remove(const char *sock, const char *id, struct err *err);

/* Whether the engine holds image 'ref' (GET /images/REF/json): 0, or the
 * engine's reason. */
int drv_engine_image_check(const char *sock, const char *ref, struct err *err);
struct drv_engine_state {
    bool running;
    int exit_code;
    bool oom_killed;
    int pid; /* its main process on the host, 0 when not running */
    char error[256];
};
int drv_engine_inspect(const char *sock, const char *id, struct drv_engine_state *out,
                       struct err *err);
/* GET /containers/{id}/json as JSON (heap; json_decref). */
int drv_engine_inspect_json(const char *sock, const char *id, json_t **out, struct err *err);
/* Follow the container's output from Unix time 'since' (0: from its start)
 * until it stops, demultiplexing stdout into out_fd and stderr into err_fd. */
int drv_engine_logs(const char *sock, const char *id, long long since, int out_fd, int err_fd,
                    struct err *err);
/* Run argv in the container and wait for it, at most timeout_s; its exit
 * status into *status (-1 when it did not finish). */
int drv_engine_exec(const char *sock, const char *id, char *const *argv, int timeout_s, int *status,
                    struct err *err);
/* The containers, running or not, that carry label 'label' (KEY=VALUE): the
 * engine's JSON array (heap; json_decref). */
int drv_engine_list(const char *sock, const char *label, json_t **out, struct err *err);

#endif
