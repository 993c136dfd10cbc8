/* authz.h - authorization of API calls by the caller's key policy
 * (api/policy.h, docs/policy.md). berthd's administrator key, and a key
 * without a policy, may call every action; a key with a policy may call
 * only what it allows, on the resources it allows, which are named by the
 * call's parameters and decided by their tags. Lists are filtered, not
 * refused. Refusals are UnauthorizedOperation and name the action. */
#ifndef BERTH_API_AUTHZ_H
#define BERTH_API_AUTHZ_H

#include <stdbool.h>

#include "api/api.h"

/* After authentication and parsing: load c->secret_id's policy into the
 * call and decide the action on the resource its parameters name (-1 with
 * the call's error when refused). */
int api_authorize(struct api_call *c);
/* Free what api_authorize() loaded. */
void api_authz_release(struct api_call *c);

/* For a list: whether the caller may see this entry ('kind' is
 * "service-group" or "model"; 'tags_json' its [{TagKey, TagValue}]). */
bool api_authz_visible(const struct api_call *c, const char *kind, const char *id,
                       const char *tags_json);

/* The administrator's key actions (Berth extensions, docs/policy.md). */
int api_create_access_key(struct api_call *c);
int api_modify_access_key_policy(struct api_call *c);

#endif
