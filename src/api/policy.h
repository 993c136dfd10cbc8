/* policy.h - access policies of API keys in the shape of Tencent CAM
 * policies (docs/policy.md): parse and check a policy document, and decide
 * whether it allows an action on a resource that carries tags. Pure: no
 * store, no I/O, any thread.
 *
 *   {"version": "2.0", "statement": [{"effect": "allow",
 *     "action": ["tione:Describe*"], "resource": ["*"],
 *     "condition": {"for_any_value:string_equal": {"qcs:resource_tag": ["team&ads"]}}}]}
 *
 * Explicit deny first: a matching deny statement decides; otherwise a
 * matching allow statement allows; otherwise the answer is no (default
 * deny). */
#ifndef BERTH_API_POLICY_H
#define BERTH_API_POLICY_H

#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"

#define API_POLICY_MAX_BYTES 6144 /* CAM's limit on a policy document */
#define API_POLICY_MAX_STATEMENTS 64
#define API_POLICY_MAX_VALUES 64 /* actions, resources or condition values per list */

struct api_policy;

/* Parse and check the policy 'doc' (an object, or a string holding one).
 * On success *out owns it (api_policy_free) and, when 'compact' is not NULL,
 * *compact is its canonical JSON text (heap). Errors are ERR_INVALID with a
 * message that names the path ("statement[1].action[0]") and the rule. */
int api_policy_parse(const json_t *doc, struct api_policy **out, char **compact, struct err *err);
void api_policy_free(struct api_policy *p);

/* What one call asks for. */
struct api_policy_request {
    const char *action; /* the API action, e.g. "DeleteModelServiceGroup" */
    const char *region;
    /* The resource as "<type>/<id>" (service-group/ms-ab12cd34,
     * service/ms-ab12cd34-1, model/<TrainingModelId>), "<type>/" "*" for one
     * about to be created; a second name that also counts (a version's
     * group), or NULL. */
    const char *resource, *resource2;
    const json_t *tags;         /* the resource's [{TagKey, TagValue}]; NULL: none */
    const json_t *request_tags; /* the tags the request gives a new resource; NULL: none */
};

enum api_policy_effect { API_POLICY_NONE, API_POLICY_ALLOW, API_POLICY_DENY };

/* The decision for 'r' (NONE means default deny) and, in *statement when it
 * is not NULL, the index of the statement that made it (-1 for NONE). */
enum api_policy_effect api_policy_eval(const struct api_policy *p,
                                       const struct api_policy_request *r, int *statement);
/* For a list, which is filtered entry by entry: ALLOW when some allow
 * statement names the action (whatever its resource and condition), DENY
 * when a deny statement names it for every resource without a condition,
 * else NONE. */
enum api_policy_effect api_policy_eval_action(const struct api_policy *p, const char *action,
                                              int *statement);

/* Whether 'pattern' ('*' any run, '?' any one character) matches 's'. */
bool api_policy_glob(const char *pattern, const char *s, bool nocase);

#endif
