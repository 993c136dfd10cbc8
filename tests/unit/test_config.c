/* test_config.c - TF Serving's model config, in the text format and as JSON:
 * version policies, labels, comments, quotes, and errors that name file:line. */
#include "harness.h"

#include <stdint.h>
#include <unistd.h>

#include "serve/config.h"

static struct serve_config cfg;
static struct err err;

static int parse(const char *text)
{
    serve_config_release(&cfg);
    memset(&err, 0, sizeof(err));
    return serve_config_parse("models.config", text, strlen(text), &cfg, &err);
}

/* The text must fail with exactly 'want'; nothing is left in 'cfg'. */
static void check_error(const char *text, const char *want)
{
    int rc = parse(text);
    if (rc == 0)
        harness_fail(__FILE__, __LINE__, "parsed, expected \"%s\"", want);
    CHECK_EQ_INT(rc, ERR_INVALID);
    CHECK_EQ_INT(err.code, ERR_INVALID);
    CHECK_STR_EQ(err.msg, want);
    CHECK_EQ_INT(cfg.nmodels, 0);
    CHECK(cfg.models == NULL);
}

/* ------------------------------------------------------------------------ */
/* Text format                                                              */

TEST(text_single_model_defaults)
{
    CHECK_EQ_INT(parse("model_config_list {\n"
                       "  config {\n"
                       "    name: \"iris\"\n"
                       "    base_path: \"/models/iris\"\n"
                       "    model_platform: \"xgboost\"\n"
                       "  }\n"
                       "}\n"),
                 0);
    CHECK_EQ_INT(cfg.nmodels, 1);
    CHECK_STR_EQ(cfg.models[0].name, "iris");
    CHECK_STR_EQ(cfg.models[0].base_path, "/models/iris");
    CHECK_EQ_INT(cfg.models[0].policy, SERVE_POLICY_LATEST);
    CHECK_EQ_INT(cfg.models[0].latest_n, 1);
    CHECK_EQ_INT(cfg.models[0].nversions, 0);
    CHECK_EQ_INT(cfg.models[0].nlabels, 0);
}

TEST(text_policies)
{
    CHECK_EQ_INT(parse("model_config_list {\n"
                       "  config { name: 'a' base_path: '/m/a'\n"
                       "    model_version_policy { latest { num_versions: 3 } } }\n"
                       "  config { name: 'b' base_path: '/m/b'\n"
                       "    model_version_policy { all {} } }\n"
                       "  config { name: 'c' base_path: '/m/c'\n"
                       "    model_version_policy { specific { versions: 7 versions: 2 } } }\n"
                       "  config { name: 'd' base_path: '/m/d'\n"
                       "    model_version_policy: { latest: {} } }\n"
                       "}\n"),
                 0);
    CHECK_EQ_INT(cfg.nmodels, 4);
    CHECK_EQ_INT(cfg.models[0].policy, SERVE_POLICY_LATEST);
    CHECK_EQ_INT(cfg.models[0].latest_n, 3);
    CHECK_EQ_INT(cfg.models[1].policy, SERVE_POLICY_ALL);
    CHECK_EQ_INT(cfg.models[2].policy, SERVE_POLICY_SPECIFIC);
    CHECK_EQ_INT(cfg.models[2].nversions, 2);
    CHECK_EQ_INT(cfg.models[2].versions[0], 7);
    CHECK_EQ_INT(cfg.models[2].versions[1], 2);
    CHECK_EQ_INT(cfg.models[3].policy, SERVE_POLICY_LATEST);
    CHECK_EQ_INT(cfg.models[3].latest_n, 1);
}

TEST(text_labels)
{
    CHECK_EQ_INT(parse("model_config_list {\n"
                       "  config {\n"
                       "    name: \"m\" base_path: \"/m\"\n"
                       "    model_version_policy { specific { versions: 1 versions: 2 } }\n"
                       "    version_labels { key: \"stable\" value: 1 }\n"
                       "    version_labels { key: 'canary' value: 2 }\n"
                       "  }\n"
                       "}\n"),
                 0);
    CHECK_EQ_INT(cfg.models[0].nlabels, 2);
    CHECK_STR_EQ(cfg.models[0].labels[0].name, "stable");
    CHECK_EQ_INT(cfg.models[0].labels[0].version, 1);
    CHECK_STR_EQ(cfg.models[0].labels[1].name, "canary");
    CHECK_EQ_INT(cfg.models[0].labels[1].version, 2);
}

TEST(text_comments_quotes_and_separators)
{
    CHECK_EQ_INT(
        parse("# the models we serve\n"
              "model_config_list: <   # angle brackets are braces too\n"
              "  config: {\n"
              "    name: 'single-quoted.v2', # a comment after a comma\n"
              "    base_path: \"/path with spaces/and \\\"quotes\\\" and 'apostrophes'\";\n"
              "  }\n"
              "  config { name: \"two\" base_path: '/it\\'s' }\n"
              ">\n"
              "# trailing comment without newline"),
        0);
    CHECK_EQ_INT(cfg.nmodels, 2);
    CHECK_STR_EQ(cfg.models[0].name, "single-quoted.v2");
    CHECK_STR_EQ(cfg.models[0].base_path, "/path with spaces/and \"quotes\" and 'apostrophes'");
    CHECK_STR_EQ(cfg.models[1].name, "two");
    CHECK_STR_EQ(cfg.models[1].base_path, "/it's");
}

TEST(text_one_line_and_crlf)
{
    CHECK_EQ_INT(parse("model_config_list{config{name:\"a\" base_path:\"/a\"}}"), 0);
    CHECK_EQ_INT(cfg.nmodels, 1);
    CHECK_EQ_INT(parse("model_config_list {\r\n config {\r\n name: 'a'\r\n base_path: '/a'\r\n"
                       " }\r\n}\r\n"),
                 0);
    CHECK_STR_EQ(cfg.models[0].base_path, "/a");
}

TEST(text_empty_list_and_empty_file)
{
    CHECK_EQ_INT(parse("model_config_list {}"), 0);
    CHECK_EQ_INT(cfg.nmodels, 0);
    check_error("", "models.config: no model_config_list");
    check_error("  # only a comment\n", "models.config: no model_config_list");
}

/* ------------------------------------------------------------------------ */
/* Text format errors: file:line and the reason                             */

TEST(text_error_unknown_field)
{
    check_error("model_config_list {\n"
                "  config {\n"
                "    name: \"a\"\n"
                "    base_path: \"/a\"\n"
                "    model_type: \"tensorflow\"\n"
                "  }\n"
                "}\n",
                "models.config:5: unknown or unsupported field 'model_type' in config");
    check_error("model_config_list {\n  config { name: 'a' base_path: '/a' }\n  extra: 1\n}\n",
                "models.config:3: unknown field 'extra' in model_config_list");
    check_error("\n\nmodel_server_config { }\n",
                "models.config:3: unknown or unsupported field 'model_server_config' (expected "
                "model_config_list)");
    check_error("model_config_list { config { name: 'a' base_path: '/a'\n"
                "  model_version_policy { latest { num_version: 2 } } } }\n",
                "models.config:2: unknown field 'num_version' in latest");
    check_error("model_config_list { config { name: 'a' base_path: '/a'\n"
                "  version_labels { key: 'x' value: 1 label: 2 } } }\n",
                "models.config:2: unknown field 'label' in version_labels");
}

TEST(text_error_bad_policy)
{
    check_error("model_config_list {\n"
                "  config {\n"
                "    name: 'a' base_path: '/a'\n"
                "    model_version_policy {\n"
                "      newest { }\n"
                "    }\n"
                "  }\n"
                "}\n",
                "models.config:5: unknown version policy 'newest' (expected latest, all or "
                "specific)");
    check_error("model_config_list { config { name: 'a' base_path: '/a'\n"
                "  model_version_policy { latest {} all {} } } }\n",
                "models.config:2: model_version_policy must hold exactly one of latest, all, "
                "specific");
    check_error("model_config_list { config { name: 'a' base_path: '/a'\n"
                "  model_version_policy { specific { } } } }\n",
                "models.config:2: specific must list at least one version");
    check_error("model_config_list { config { name: 'a' base_path: '/a'\n"
                "  model_version_policy { latest { num_versions: 0 } } } }\n",
                "models.config:2: 'num_versions' must be at least 1, got 0");
    check_error("model_config_list { config { name: 'a' base_path: '/a'\n"
                "  model_version_policy { specific { versions: 1x } } } }\n",
                "models.config:2: 'versions' must be an integer, got '1x'");
    check_error("model_config_list { config { name: 'a' base_path: '/a'\n"
                "  model_version_policy { specific { versions: -3 } } } }\n",
                "models.config:2: 'versions' must be at least 1, got -3");
    check_error("model_config_list { config { name: 'a' base_path: '/a'\n"
                "  model_version_policy { specific { versions: 99999999999999999999 } } } }\n",
                "models.config:2: 'versions' must be an integer, got '99999999999999999999'");
    check_error("model_config_list { config { name: 'a' base_path: '/a'\n"
                "  model_version_policy { all { } }\n"
                "  model_version_policy { all { } } } }\n",
                "models.config:3: model_version_policy given twice");
    check_error("model_config_list { config { name: 'a' base_path: '/a'\n"
                "  model_version_policy: 'latest' } }\n",
                "models.config:2: 'model_version_policy' must be a message in braces");
    check_error("model_config_list { config { name: 'a' base_path: '/a'\n"
                "  model_version_policy { all { x: 1 } } } }\n",
                "models.config:2: unknown field 'x' in all");
}

TEST(text_error_duplicate_model)
{
    check_error("model_config_list {\n"
                "  config { name: 'a' base_path: '/a' }\n"
                "  config { name: 'b' base_path: '/b' }\n"
                "  config {\n"
                "    name: 'a' base_path: '/other'\n"
                "  }\n"
                "}\n",
                "models.config:4: model 'a' is configured twice");
    check_error("model_config_list { config { name: 'a' base_path: '/a' } }\n"
                "model_config_list { }\n",
                "models.config:2: model_config_list given twice");
}

TEST(text_error_bad_platform)
{
    check_error("model_config_list {\n"
                "  config {\n"
                "    name: 'a'\n"
                "    base_path: '/a'\n"
                "    model_platform: \"tensorflow\"\n"
                "  }\n"
                "}\n",
                "models.config:5: model_platform 'tensorflow' is not supported (expected "
                "'xgboost', 'pytorch' or 'pytorch_torchscript')");
    check_error("model_config_list { config { name: 'a' base_path: '/a'\n"
                "  model_platform: xgboost } }\n",
                "models.config:2: 'model_platform' must be a quoted string");
}

TEST(text_error_unterminated_string)
{
    check_error("model_config_list {\n"
                "  config {\n"
                "    name: \"abc\n"
                "    base_path: \"/a\"\n"
                "  }\n"
                "}\n",
                "models.config:3: unterminated string for 'name'");
    check_error("model_config_list { config { name: 'a", "models.config:1: unterminated string "
                                                         "for 'name'");
    check_error("model_config_list { config { name: \"a' } }\n",
                "models.config:1: unterminated string for 'name'");
}

TEST(text_error_structure)
{
    check_error("model_config_list {\n  config {\n    name: 'a'\n",
                "models.config:4: unexpected end of file");
    check_error("model_config_list { config { name: 'a' base_path: '/a' } }\n}\n",
                "models.config:2: unexpected '}'");
    check_error("model_config_list { config { name: 'a' base_path: '/a' >>",
                "models.config:1: 'config' is not closed with '}'");
    check_error("model_config_list { }\n\n>", "models.config:3: unexpected '>'");
    check_error("model_config_list { config { name: 'a' base_path: '/a' ) }",
                "models.config:1: expected a field name, found ')'");
    check_error("model_config_list {\n config {\n name 'a'\n } }",
                "models.config:3: expected ':' or '{' after 'name'");
    check_error("model_config_list {\n config {\n name:\n", "models.config:3: 'name' has no value");
    check_error("model_config_list {\n config {\n name: }\n",
                "models.config:3: 'name' has no value");
    check_error("model_config_list { config { name: 'a' base_path: '/a' }",
                "models.config:1: unexpected end of file");
    check_error("model_config_list < config { name: 'a' base_path: '/a' } }",
                "models.config:1: 'model_config_list' is not closed with '>'");
}

TEST(text_error_model_fields)
{
    check_error("model_config_list {\n config { base_path: '/a' }\n}",
                "models.config:2: config has no name");
    check_error("model_config_list {\n config { name: 'a' }\n}",
                "models.config:2: config 'a' has no base_path");
    check_error("model_config_list {\n config { name: 'a/b' base_path: '/a' }\n}",
                "models.config:2: model name 'a/b' must be non-empty and use only letters, "
                "digits, '_', '-' and '.'");
    check_error("model_config_list {\n config { name: '' base_path: '/a' }\n}",
                "models.config:2: model name '' must be non-empty and use only letters, "
                "digits, '_', '-' and '.'");
    check_error("model_config_list {\n config { name: 'a' base_path: '' }\n}",
                "models.config:2: base_path must not be empty");
    check_error("model_config_list {\n config { name: 12 base_path: '/a' }\n}",
                "models.config:2: 'name' must be a quoted string");
    check_error("model_config_list {\n config { name { } base_path: '/a' }\n}",
                "models.config:2: 'name' must be a quoted string");
    check_error("model_config_list: 'x'", "models.config:1: 'model_config_list' must be a "
                                          "message in braces");
    check_error("model_config_list { config: 'x' }",
                "models.config:1: 'config' must be a message in braces");
}

TEST(text_error_labels)
{
    check_error("model_config_list { config { name: 'a' base_path: '/a'\n"
                "  version_labels { key: 's' value: 1 }\n"
                "  version_labels { key: 's' value: 2 } } }\n",
                "models.config:3: version label 's' given twice");
    check_error("model_config_list { config { name: 'a' base_path: '/a'\n"
                "  version_labels { value: 1 } } }\n",
                "models.config:2: version_labels needs a non-empty key");
    check_error("model_config_list { config { name: 'a' base_path: '/a'\n"
                "  version_labels { key: 's' } } }\n",
                "models.config:2: version_labels 's' needs a value (a version number)");
    check_error("model_config_list { config { name: 'a' base_path: '/a'\n"
                "  version_labels { key: 's' value: 'one' } } }\n",
                "models.config:2: 'value' must be an integer, got 'one'");
}

TEST(text_error_deep_nesting)
{
    char text[4096] = "";
    for (int i = 0; i < 100; i++)
        strcat(text, "a {");
    CHECK(parse(text) == ERR_INVALID);
    CHECK_STR_EQ(err.msg, "models.config:1: nesting too deep");
}

/* ------------------------------------------------------------------------ */
/* JSON form                                                                */

TEST(json_policies_and_labels)
{
    CHECK_EQ_INT(parse("{\n"
                       "  \"model_config_list\": {\n"
                       "    \"config\": [\n"
                       "      {\"name\": \"a\", \"base_path\": \"/m/a\", \"model_platform\": "
                       "\"xgboost\"},\n"
                       "      {\"name\": \"b\", \"base_path\": \"/m/b\",\n"
                       "       \"model_version_policy\": {\"latest\": {\"num_versions\": 2}}},\n"
                       "      {\"name\": \"c\", \"base_path\": \"/m/c\",\n"
                       "       \"model_version_policy\": {\"all\": {}}},\n"
                       "      {\"name\": \"d\", \"base_path\": \"/m/d\",\n"
                       "       \"model_version_policy\": {\"specific\": {\"versions\": [3, 1]}},\n"
                       "       \"version_labels\": {\"stable\": 1, \"canary\": 3}},\n"
                       "      {\"name\": \"e\", \"base_path\": \"/m/e\",\n"
                       "       \"version_labels\": [{\"key\": \"x\", \"value\": 4}]}\n"
                       "    ]\n"
                       "  }\n"
                       "}\n"),
                 0);
    CHECK_EQ_INT(cfg.nmodels, 5);
    CHECK_STR_EQ(cfg.models[0].name, "a");
    CHECK_EQ_INT(cfg.models[0].policy, SERVE_POLICY_LATEST);
    CHECK_EQ_INT(cfg.models[0].latest_n, 1);
    CHECK_EQ_INT(cfg.models[1].latest_n, 2);
    CHECK_EQ_INT(cfg.models[2].policy, SERVE_POLICY_ALL);
    CHECK_EQ_INT(cfg.models[3].policy, SERVE_POLICY_SPECIFIC);
    CHECK_EQ_INT(cfg.models[3].nversions, 2);
    CHECK_EQ_INT(cfg.models[3].versions[0], 3);
    CHECK_EQ_INT(cfg.models[3].versions[1], 1);
    CHECK_EQ_INT(cfg.models[3].nlabels, 2);
    CHECK_STR_EQ(cfg.models[3].labels[0].name, "stable");
    CHECK_EQ_INT(cfg.models[3].labels[0].version, 1);
    CHECK_STR_EQ(cfg.models[3].labels[1].name, "canary");
    CHECK_EQ_INT(cfg.models[3].labels[1].version, 3);
    CHECK_EQ_INT(cfg.models[4].nlabels, 1);
    CHECK_STR_EQ(cfg.models[4].labels[0].name, "x");
    CHECK_EQ_INT(cfg.models[4].labels[0].version, 4);
}

TEST(json_single_config_object)
{
    CHECK_EQ_INT(parse("  {\"model_config_list\": {\"config\": {\"name\": \"solo\", "
                       "\"base_path\": \"/s\"}}}"),
                 0);
    CHECK_EQ_INT(cfg.nmodels, 1);
    CHECK_STR_EQ(cfg.models[0].name, "solo");
}

TEST(json_errors)
{
    check_error("{\"model_config_list\": {\"config\": [{\"name\": \"a\", \"base_path\": \"/a\", "
                "\"foo\": 1}]}}",
                "models.config:1: unknown or unsupported field 'foo' in config");
    check_error("{\"model_config_list\": {\"config\": [{\"name\": \"a\", \"base_path\": \"/a\", "
                "\"model_version_policy\": {\"oldest\": {}}}]}}",
                "models.config:1: unknown version policy 'oldest' (expected latest, all or "
                "specific)");
    check_error("{\"model_config_list\": {\"config\": [{\"name\": \"a\", \"base_path\": \"/a\"},"
                " {\"name\": \"a\", \"base_path\": \"/b\"}]}}",
                "models.config:1: model 'a' is configured twice");
    check_error("{\"model_config_list\": {\"config\": [{\"name\": \"a\", \"base_path\": \"/a\", "
                "\"model_platform\": \"onnx\"}]}}",
                "models.config:1: model_platform 'onnx' is not supported (expected 'xgboost', "
                "'pytorch' or 'pytorch_torchscript')");
    check_error("{\"model_config_list\": {\"config\": [{\"name\": \"a\", \"base_path\": \"/a\", "
                "\"model_version_policy\": {\"latest\": {\"num_versions\": 1.5}}}]}}",
                "models.config:1: 'num_versions' must be an integer");
    check_error("{\"model_config_list\": {\"config\": [{\"name\": \"a\", \"base_path\": null}]}}",
                "models.config:1: 'base_path' has an unexpected value (null)");
    check_error("{\"model_config_list\": {\"config\": [{\"name\": 5, \"base_path\": \"/a\"}]}}",
                "models.config:1: 'name' must be a quoted string");
    check_error("{\"model_config_list\": {\"config\": [{\"name\": \"a\", \"base_path\": \"/a\", "
                "\"version_labels\": {\"s\": \"one\"}}]}}",
                "models.config:1: 'value' must be an integer, got 'one'");
    check_error("{\"models\": {}}", "models.config:1: unknown or unsupported field 'models' "
                                    "(expected model_config_list)");
    /* An empty JSON list is no field at all (proto3 JSON). */
    check_error("{\"models\": []}", "models.config: no model_config_list");
    check_error("[]", "models.config:1: expected a field name, found '['");
    check_error("{}", "models.config: no model_config_list");
}

TEST(json_schema_errors_name_the_line)
{
    check_error("{\n"
                "  \"model_config_list\": {\n"
                "    \"config\": [\n"
                "      {\"name\": \"a\", \"base_path\": \"/a\"},\n"
                "      {\"name\": \"b\",\n"
                "       \"base_path\": \"/b\",\n"
                "       \"model_version_policy\": {\"newest\": {}}}\n"
                "    ]\n"
                "  }\n"
                "}\n",
                "models.config:7: unknown version policy 'newest' (expected latest, all or "
                "specific)");
    check_error("{\"model_config_list\": {\"config\": [\n"
                "  {\"name\": \"a\", \"base_path\": \"/a\",\n"
                "   \"version_labels\": {\n"
                "     \"ok\": 1,\n"
                "     \"bad\": 0}}]}}\n",
                "models.config:5: 'value' must be at least 1, got 0");
}

TEST(json_syntax_error_names_line)
{
    check_error("{\n"
                "  \"model_config_list\": {\n"
                "    \"config\": [\n"
                "      {\"name\": \"a\" \"base_path\": \"/a\"}\n"
                "    ]\n"
                "  }\n"
                "}\n",
                "models.config:4: invalid JSON at byte 62: expected ',' or '}'");
    check_error("{\"model_config_list\": {\"config\": [{\"name\": \"a\n\"}]}}",
                "models.config:1: invalid JSON at byte 44: control character in string");
    check_error("{\n\n\"model_config_list\": ", "models.config:3: invalid JSON at byte 24: "
                                                "unexpected end of input");
}

TEST(json_and_text_agree)
{
    static const char *text = "model_config_list {\n"
                              "  config { name: 'm' base_path: '/m'\n"
                              "    model_version_policy { specific { versions: 4 } }\n"
                              "    version_labels { key: 'prod' value: 4 } }\n"
                              "}\n";
    static const char *json = "{\"model_config_list\": {\"config\": [{\"name\": \"m\", "
                              "\"base_path\": \"/m\", \"model_version_policy\": {\"specific\": "
                              "{\"versions\": [4]}}, \"version_labels\": {\"prod\": 4}}]}}";
    struct serve_config t;
    CHECK_EQ_INT(serve_config_parse("t", text, strlen(text), &t, &err), 0);
    CHECK_EQ_INT(parse(json), 0);
    CHECK_EQ_INT(t.nmodels, cfg.nmodels);
    CHECK_STR_EQ(t.models[0].name, cfg.models[0].name);
    CHECK_STR_EQ(t.models[0].base_path, cfg.models[0].base_path);
    CHECK_EQ_INT(t.models[0].policy, cfg.models[0].policy);
    CHECK_EQ_INT(t.models[0].nversions, cfg.models[0].nversions);
    CHECK_EQ_INT(t.models[0].versions[0], cfg.models[0].versions[0]);
    CHECK_EQ_INT(t.models[0].nlabels, cfg.models[0].nlabels);
    CHECK_STR_EQ(t.models[0].labels[0].name, cfg.models[0].labels[0].name);
    CHECK_EQ_INT(t.models[0].labels[0].version, cfg.models[0].labels[0].version);
    serve_config_release(&t);
}

TEST(platforms)
{
    CHECK_EQ_INT(parse("model_config_list { config { name: 'a' base_path: '/a' } config { name: "
                       "'b' base_path: '/b' model_platform: 'pytorch' } config { name: 'c' "
                       "base_path: '/c' model_platform: 'pytorch_torchscript' } config { name: "
                       "'d' base_path: '/d' model_platform: 'xgboost' } }"),
                 0);
    CHECK_EQ_INT(cfg.nmodels, 4);
    CHECK(cfg.models[0].platform == NULL);
    CHECK_STR_EQ(cfg.models[1].platform, "pytorch");
    CHECK_STR_EQ(cfg.models[2].platform, "pytorch");
    CHECK_STR_EQ(cfg.models[3].platform, "xgboost");
}

/* ------------------------------------------------------------------------ */
/* Load, add, release                                                       */

TEST(load_from_file)
{
    char path[] = "/tmp/berth-test-config-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    static const char text[] = "model_config_list {\n config { name: 'f' base_path: '/f' }\n"
                               " config { name: 'g' base_path: '/g' model_platform: 'caffe2' }\n"
                               "}\n";
    CHECK_EQ_INT(write(fd, text, sizeof(text) - 1), sizeof(text) - 1);
    close(fd);
    serve_config_release(&cfg);
    CHECK_EQ_INT(serve_config_load(path, &cfg, &err), ERR_INVALID);
    char want[256];
    snprintf(want, sizeof(want),
             "%s:3: model_platform 'caffe2' is not supported (expected 'xgboost', "
             "'pytorch' or 'pytorch_torchscript')",
             path);
    CHECK_STR_EQ(err.msg, want);
    unlink(path);

    CHECK_EQ_INT(serve_config_load("/nonexistent/berth.config", &cfg, &err), ERR_SYS(ENOENT));
    CHECK_STR_EQ(err.msg, "cannot open model config '/nonexistent/berth.config': No such file "
                          "or directory");
}

TEST(add_and_release)
{
    struct serve_config c = {0};
    serve_config_add(&c, "one", "/one");
    serve_config_add(&c, "two", "/two");
    CHECK_EQ_INT(c.nmodels, 2);
    CHECK_STR_EQ(c.models[1].name, "two");
    CHECK_STR_EQ(c.models[1].base_path, "/two");
    CHECK_EQ_INT(c.models[1].policy, SERVE_POLICY_LATEST);
    CHECK_EQ_INT(c.models[1].latest_n, 1);
    serve_config_release(&c);
    CHECK_EQ_INT(c.nmodels, 0);
    CHECK(c.models == NULL);
    serve_config_release(&c); /* twice is harmless */
    serve_config_release(&cfg);
}
