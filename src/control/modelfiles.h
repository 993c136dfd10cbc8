/* modelfiles.h - berthd serves a service version's model files to its own
 * instances (pods of the Kubernetes driver) over the API listener, so that
 * they need no shared disk (docs/model-files.md):
 *
 *   GET /model-files/v1/{ServiceId}/        the manifest (JSON)
 *   GET /model-files/v1/{ServiceId}/{Path}  one file's bytes
 *
 * with "Authorization: Bearer <ctl_model_token(...)>". */
#ifndef BERTH_CONTROL_MODELFILES_H
#define BERTH_CONTROL_MODELFILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct http_request;
struct http_response;

/* The credential of a version's instances: hex HMAC-SHA256(seal_key, "berth-model-files:" + id). */
void ctl_model_token(const uint8_t *seal_key, size_t key_len, const char *service_id, char out[65]);

/* Answer 'req' when its path is under /model-files/v1/ and return true;
 * false for any other request. Runs on an API worker thread (thread-safe).
 * 'seal_key' holds CRYPTO_SEAL_KEY_BYTES; 'data_dir' is berthd's resolved
 * data directory: only files under its models/ are served. The service is
 * found by its id alone (ids are unique across regions). A file is
 * streamed: the request is deferred (http_request_defer) and the file goes
 * out from the worker's loop in pieces, at most 64 KiB held per answer.
 * The {Path} is percent-decoded before it is checked. */
bool ctl_modelfiles_serve(struct store *st, const char *data_dir, const uint8_t *seal_key,
                          struct http_request *req, struct http_response *res);

#endif
