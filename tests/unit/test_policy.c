/* test_policy.c - CAM-shaped key policies: what a document must be (errors
 * name the path and the rule), and the decisions: wildcards in actions,
 * resources in six parts, tag conditions, explicit deny first, default
 * deny. */
#include "harness.h"

#include "api/policy.h"

static struct api_policy *parse_ok(const char *text)
{
    json_t *doc = json_string(text);
    struct api_policy *p = NULL;
    struct err err = {0};
    int rc = api_policy_parse(doc, &p, NULL, &err);
    json_decref(doc);
    if (rc)
        printf("# unexpected error: %s\n", err.msg);
    return rc ? NULL : p;
}

/* The error message of a document that must be refused ("" if accepted). */
static const char *parse_err(const char *text)
{
    static struct err err;
    memset(&err, 0, sizeof(err));
    json_t *doc = json_string(text);
    struct api_policy *p = NULL;
    int rc = api_policy_parse(doc, &p, NULL, &err);
    json_decref(doc);
    api_policy_free(p);
    return rc ? err.msg : "";
}

static json_t *tags(const char *key, const char *value)
{
    if (!key)
        return json_array();
    return json_pack("[{s:s, s:s}]", "TagKey", key, "TagValue", value);
}

static enum api_policy_effect decide(const struct api_policy *p, const char *action,
                                     const char *resource, const json_t *t, int *stmt)
{
    struct api_policy_request r = {
        .action = action, .region = "ap-guangzhou", .resource = resource, .tags = t};
    return api_policy_eval(p, &r, stmt);
}

#define ADS_DESCRIBE                                                                               \
    "{\"version\":\"2.0\",\"statement\":[{\"effect\":\"allow\",\"action\":[\"tione:Describe*\"],"  \
    "\"resource\":[\"*\"],\"condition\":{\"for_any_value:string_equal\":{\"qcs:resource_tag\":["   \
    "\"team&ads\"]}}}]}"

TEST(describe_on_team_ads_allows_only_that_tag)
{
    struct api_policy *p = parse_ok(ADS_DESCRIBE);
    CHECK(p);
    json_t *ads = tags("team", "ads"), *search = tags("team", "search"), *none = tags(NULL, NULL);
    int stmt = 7;
    CHECK_EQ_INT(decide(p, "DescribeModelServiceGroup", "service-group/ms-1", ads, &stmt),
                 API_POLICY_ALLOW);
    CHECK_EQ_INT(stmt, 0);
    CHECK_EQ_INT(decide(p, "describemodelservice", "service/ms-1-1", ads, NULL), API_POLICY_ALLOW);
    CHECK_EQ_INT(decide(p, "DescribeModelServiceGroup", "service-group/ms-2", search, NULL),
                 API_POLICY_NONE);
    CHECK_EQ_INT(decide(p, "DescribeModelServiceGroup", "service-group/ms-3", none, &stmt),
                 API_POLICY_NONE);
    CHECK_EQ_INT(stmt, -1);
    CHECK_EQ_INT(decide(p, "DeleteModelServiceGroup", "service-group/ms-1", ads, NULL),
                 API_POLICY_NONE);
    CHECK_EQ_INT(api_policy_eval_action(p, "DescribeModelServiceGroups", NULL), API_POLICY_ALLOW);
    CHECK_EQ_INT(api_policy_eval_action(p, "DeleteModelServiceGroup", NULL), API_POLICY_NONE);
    json_decref(ads);
    json_decref(search);
    json_decref(none);
    api_policy_free(p);
}

TEST(explicit_deny_wins_over_allow)
{
    struct api_policy *p = parse_ok(
        "{\"version\":\"2.0\",\"statement\":["
        "{\"effect\":\"allow\",\"action\":\"*\",\"resource\":\"*\"},"
        "{\"effect\":\"deny\",\"action\":[\"name/tione:Delete*\"],\"resource\":[\"*\"]}]}");
    CHECK(p);
    json_t *t = tags("team", "ads");
    int stmt = -1;
    CHECK_EQ_INT(decide(p, "DeleteModelServiceGroup", "service-group/ms-1", t, &stmt),
                 API_POLICY_DENY);
    CHECK_EQ_INT(stmt, 1);
    CHECK_EQ_INT(decide(p, "ModifyModelService", "service/ms-1-1", t, NULL), API_POLICY_ALLOW);
    CHECK_EQ_INT(api_policy_eval_action(p, "DeleteTrainingModel", NULL), API_POLICY_DENY);
    json_decref(t);
    api_policy_free(p);
}

TEST(qcs_resources_match_by_region_and_path)
{
    struct api_policy *p =
        parse_ok("{\"version\":\"2.0\",\"statement\":[{\"effect\":\"allow\",\"action\":\"*\","
                 "\"resource\":[\"qcs::tione:ap-guangzhou:uin/1:service-group/ms-a*\","
                 "\"qcs::tione::*:model/m-1\"]}]}");
    CHECK(p);
    CHECK_EQ_INT(decide(p, "DescribeModelServiceGroup", "service-group/ms-abc", NULL, NULL),
                 API_POLICY_ALLOW);
    CHECK_EQ_INT(decide(p, "DescribeModelServiceGroup", "service-group/ms-bcd", NULL, NULL),
                 API_POLICY_NONE);
    CHECK_EQ_INT(decide(p, "DeleteTrainingModel", "model/m-1", NULL, NULL), API_POLICY_ALLOW);
    /* a version counts as its group too */
    struct api_policy_request r = {.action = "DescribeModelService",
                                   .region = "ap-guangzhou",
                                   .resource = "service/ms-abc-1",
                                   .resource2 = "service-group/ms-abc"};
    CHECK_EQ_INT(api_policy_eval(p, &r, NULL), API_POLICY_ALLOW);
    r.region = "ap-shanghai";
    CHECK_EQ_INT(api_policy_eval(p, &r, NULL), API_POLICY_NONE);
    api_policy_free(p);
}

TEST(conditions_like_not_equal_and_for_all)
{
    struct api_policy *p = parse_ok(
        "{\"version\":\"2.0\",\"statement\":["
        "{\"effect\":\"allow\",\"action\":\"tione:*\",\"resource\":\"*\","
        "\"condition\":{\"for_all_value:string_like\":{\"qcs:resource_tag\":[\"team&a*\"]}}},"
        "{\"effect\":\"deny\",\"action\":\"tione:*\",\"resource\":\"*\","
        "\"condition\":{\"string_equal\":{\"qcs:resource_tag\":[\"frozen&yes\"]}}}]}");
    CHECK(p);
    json_t *both = json_pack("[{s:s,s:s},{s:s,s:s}]", "TagKey", "team", "TagValue", "ads", "TagKey",
                             "team", "TagValue", "search");
    json_t *ads = tags("team", "apps");
    json_t *frozen = json_pack("[{s:s,s:s},{s:s,s:s}]", "TagKey", "team", "TagValue", "ads",
                               "TagKey", "frozen", "TagValue", "yes");
    CHECK_EQ_INT(decide(p, "DescribeModelService", "service/x", ads, NULL), API_POLICY_ALLOW);
    CHECK_EQ_INT(decide(p, "DescribeModelService", "service/x", both, NULL), API_POLICY_NONE);
    CHECK_EQ_INT(decide(p, "DescribeModelService", "service/x", frozen, NULL), API_POLICY_DENY);
    json_decref(both);
    json_decref(ads);
    json_decref(frozen);
    api_policy_free(p);
}

TEST(request_tags_decide_a_create)
{
    struct api_policy *p = parse_ok(
        "{\"version\":\"2.0\",\"statement\":[{\"effect\":\"allow\",\"action\":\"tione:Create*\","
        "\"resource\":\"*\",\"condition\":{\"string_equal\":{\"qcs:request_tag\":[\"team&ads\"]}}}"
        "]}");
    CHECK(p);
    json_t *ads = tags("team", "ads"), *other = tags("team", "x");
    struct api_policy_request r = {.action = "CreateModelService",
                                   .region = "r",
                                   .resource = "service-group/*",
                                   .tags = ads,
                                   .request_tags = ads};
    CHECK_EQ_INT(api_policy_eval(p, &r, NULL), API_POLICY_ALLOW);
    r.tags = r.request_tags = other;
    CHECK_EQ_INT(api_policy_eval(p, &r, NULL), API_POLICY_NONE);
    r.tags = r.request_tags = NULL;
    CHECK_EQ_INT(api_policy_eval(p, &r, NULL), API_POLICY_NONE);
    json_decref(ads);
    json_decref(other);
    api_policy_free(p);
}

TEST(an_empty_statement_list_denies_everything)
{
    struct api_policy *p = parse_ok("{\"version\":\"2.0\",\"statement\":[]}");
    CHECK(p);
    CHECK_EQ_INT(decide(p, "DescribeModelService", "service/x", NULL, NULL), API_POLICY_NONE);
    CHECK_EQ_INT(api_policy_eval_action(p, "DescribeModelServiceGroups", NULL), API_POLICY_NONE);
    api_policy_free(p);
}

TEST(bad_documents_name_the_path_and_rule)
{
    CHECK(strstr(parse_err("{\"statement\":[]}"), "version must be \"2.0\""));
    CHECK(strstr(parse_err("[1]"), "must be an object"));
    CHECK(strstr(parse_err("{\"version\":\"2.0\",\"statement\":["), "not valid JSON"));
    CHECK(strstr(parse_err("{\"version\":\"2.0\",\"statement\":[],\"x\":1}"),
                 "x is not a policy element"));
    CHECK(strstr(parse_err("{\"version\":\"2.0\",\"statement\":[{\"effect\":\"maybe\","
                           "\"action\":\"*\",\"resource\":\"*\"}]}"),
                 "statement[0].effect must be"));
    CHECK(strstr(parse_err("{\"version\":\"2.0\",\"statement\":[{\"effect\":\"allow\","
                           "\"action\":[\"tione:Describe*\",\"cvm:RunInstances\"],"
                           "\"resource\":\"*\"}]}"),
                 "statement[0].action[1] 'cvm:RunInstances' must be"));
    CHECK(strstr(parse_err("{\"version\":\"2.0\",\"statement\":[{\"effect\":\"allow\","
                           "\"action\":\"*\"}]}"),
                 "statement[0].resource is required"));
    CHECK(strstr(parse_err("{\"version\":\"2.0\",\"statement\":[{\"effect\":\"allow\","
                           "\"action\":\"*\",\"resource\":\"qcs::cvm:r:a:instance/i\"}]}"),
                 "the service must be tione"));
    CHECK(strstr(parse_err("{\"version\":\"2.0\",\"statement\":[{\"effect\":\"allow\","
                           "\"action\":\"*\",\"resource\":\"ms-1\"}]}"),
                 "statement[0].resource[0] 'ms-1' must be"));
    CHECK(strstr(parse_err("{\"version\":\"2.0\",\"statement\":[{\"effect\":\"allow\","
                           "\"action\":\"*\",\"resource\":\"*\",\"condition\":{"
                           "\"ip_equal\":{\"qcs:ip\":[\"1\"]}}}]}"),
                 "statement[0].condition.ip_equal: the operator must be"));
    CHECK(strstr(parse_err("{\"version\":\"2.0\",\"statement\":[{\"effect\":\"allow\","
                           "\"action\":\"*\",\"resource\":\"*\",\"condition\":{"
                           "\"string_equal\":{\"qcs:resource_tag\":[\"team\"]}}}]}"),
                 "qcs:resource_tag[0] 'team' must be \"<TagKey>&<TagValue>\""));
    CHECK(strstr(parse_err("{\"version\":\"2.0\",\"statement\":[{\"effect\":\"allow\","
                           "\"action\":\"*\",\"resource\":\"*\",\"principal\":{}}]}"),
                 "principal is not supported"));
    CHECK_STR_EQ(parse_err(ADS_DESCRIBE), "");
}

TEST(glob)
{
    CHECK(api_policy_glob("Describe*", "DescribeModelService", false));
    CHECK(api_policy_glob("describe*", "DescribeModelService", true));
    CHECK(!api_policy_glob("describe*", "DescribeModelService", false));
    CHECK(api_policy_glob("*Service", "DeleteModelService", false));
    CHECK(api_policy_glob("D?lete*Group", "DeleteModelServiceGroup", false));
    CHECK(!api_policy_glob("Delete*Group", "DeleteModelService", false));
    CHECK(api_policy_glob("*", "", false));
    CHECK(!api_policy_glob("a", "", false));
}
