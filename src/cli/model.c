/* model.c - berth model import | list | versions | delete. */
#include "cli/cli.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Poll the import until it succeeds or fails, showing its progress. */
static int wait_import(struct cli *c, const char *version_id, double timeout_s)
{
    double t0 = cli_now_s();
    long poll_ms = 500;
    char shown[64] = "";
    for (;;) {
        json_t *resp = NULL;
        int rc = cli_call(c, "DescribeTrainingModelVersion",
                          json_pack("{s:s}", "TrainingModelVersionId", version_id), &resp);
        if (rc)
            return rc;
        json_t *v = json_object_get(resp, "TrainingModelVersion");
        const char *st = cli_jstr(v, "TrainingModelStatus");
        char line[64];
        snprintf(line, sizeof(line), "%s %lld%%", st,
                 (long long)json_integer_value(json_object_get(v, "TrainingModelProgress")));
        double elapsed = cli_now_s() - t0;
        if (strcmp(line, shown) != 0) {
            fprintf(stderr, "%s: %s (%.1fs)\n", version_id, line, elapsed);
            snprintf(shown, sizeof(shown), "%s", line);
        }
        if (*st && strcmp(st, "STATUS_RUNNING") != 0) {
            int ret = strcmp(st, "STATUS_SUCCESS") == 0 ? CLI_OK : CLI_FAILED;
            if (ret)
                fprintf(stderr, "berth: the import of %s failed: %s\n", version_id,
                        cli_jstr(v, "TrainingModelErrorMsg"));
            json_decref(resp);
            return ret;
        }
        json_decref(resp);
        if (elapsed >= timeout_s) {
            fprintf(stderr, "berth: the import of %s is still running after %.0fs\n", version_id,
                    elapsed);
            return CLI_TIMEOUT;
        }
        cli_poll_sleep(&poll_ms);
    }
}

static int model_import(struct cli *c, const struct cli_args *a)
{
    const char *name = cli_arg(a, "name"), *path = cli_arg(a, "path");
    const char *format = cli_arg(a, "format") ? cli_arg(a, "format") : "XGBOOST";
    const char *label = cli_arg(a, "version"), *model_id = cli_arg(a, "model-id");
    double timeout_s;
    int wait = cli_wait_wanted(a, &timeout_s);
    if (wait < 0)
        return CLI_USAGE;
    if (!path || (!name && !model_id))
        return cli_usage_error(a, "give --path, and --name or --model-id");
    char abs[PATH_MAX];
    if (!realpath(path, abs)) {
        fprintf(stderr, "berth: model import: cannot find '%s'\n", path);
        return CLI_USAGE;
    }
    json_t *p = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:[s]}, s:s}", "ImportMethod",
                          model_id ? "VERSION" : "MODEL", "ReasoningEnvironmentSource", "SYSTEM",
                          "ModelFormat", format, "TrainingModelCosPath", "Bucket", "", "Region", "",
                          "Paths", abs, "ModelMoveMode", cli_flag(a, "cut") ? "CUT" : "COPY");
    if (name)
        json_object_set_new(p, "TrainingModelName", json_string(name));
    if (model_id)
        json_object_set_new(p, "TrainingModelId", json_string(model_id));
    if (label)
        json_object_set_new(p, "TrainingModelVersion", json_string(label));
    json_t *resp = NULL;
    int rc = cli_call(c, "CreateTrainingModel", p, &resp);
    if (rc)
        return rc;
    const char *vid = cli_jstr(resp, "TrainingModelVersionId");
    if (wait)
        rc = wait_import(c, vid, timeout_s);
    if (c->json)
        cli_print_json(resp);
    else if (rc == CLI_OK)
        printf("model %s version %s %s\n", cli_jstr(resp, "Id"), vid,
               wait ? "imported" : "importing");
    json_decref(resp);
    return rc;
}

static const struct cli_opt import_opts[] = {
    {"name", 'n', "NAME", "the name of a new model"},
    {"model-id", 'm', "m-ID", "or add a version to this model"},
    {"path", 'p', "DIR", "the model files (a directory under berthd's import roots)"},
    {"format", 'f', "FORMAT", "XGBOOST (default), PYTORCH, TORCH_SCRIPT, ..."},
    {"version", 'v', "LABEL", "the version's label (default: the next number)"},
    {"cut", 0, NULL, "move the files instead of copying them"},
    {"wait", 'w', NULL, "wait until the import succeeds or fails, showing its progress"},
    {"timeout", 0, "DURATION", "with --wait: give up after DURATION (default 10m); implies --wait"},
    {NULL, 0, NULL, NULL}};

static const struct cli_cmd import_cmd = {"import",
                                          "(--name NAME | --model-id m-ID) --path DIR",
                                          "import a model version from local files",
                                          NULL,
                                          0,
                                          0,
                                          import_opts,
                                          model_import,
                                          NULL};

#define MODEL_ROW "%-22s %-24s %-30s %-8s %s\n"

static int model_list(struct cli *c, const struct cli_args *a)
{
    (void)a;
    json_t *resp = NULL;
    int rc = cli_call(c, "DescribeTrainingModels",
                      json_pack("{s:b, s:i}", "WithModelVersions", 1, "Limit", 1000), &resp);
    if (rc)
        return rc;
    if (c->json) {
        cli_print_json(resp);
    } else {
        printf(MODEL_ROW, "MODEL", "NAME", "VERSION", "LABEL", "STATUS");
        size_t i, k;
        json_t *m, *v;
        json_array_foreach(json_object_get(resp, "TrainingModels"), i, m)
        {
            json_t *vs = json_object_get(m, "TrainingModelVersions");
            if (!json_array_size(vs))
                printf(MODEL_ROW, cli_jstr(m, "TrainingModelId"), cli_jstr(m, "TrainingModelName"),
                       "-", "-", "-");
            json_array_foreach(vs, k, v)
                printf(MODEL_ROW, cli_jstr(m, "TrainingModelId"), cli_jstr(m, "TrainingModelName"),
                       cli_jstr(v, "TrainingModelVersionId"), cli_jstr(v, "TrainingModelVersion"),
                       cli_jstr(v, "TrainingModelStatus"));
        }
    }
    json_decref(resp);
    return CLI_OK;
}

static const struct cli_cmd list_cmd = {
    "list", NULL, "list the models and their versions", NULL, 0, 0, NULL, model_list, NULL};

#define VERSION_ROW "%-30s %-8s %-14s %-15s %-20s %s\n"

static int model_versions(struct cli *c, const struct cli_args *a)
{
    json_t *resp = NULL;
    int rc = cli_call(c, "DescribeTrainingModelVersions",
                      json_pack("{s:s}", "TrainingModelId", a->argv[0]), &resp);
    if (rc == CLI_OK && c->json) {
        cli_print_json(resp);
    } else if (rc == CLI_OK) {
        printf(VERSION_ROW, "VERSION", "LABEL", "FORMAT", "STATUS", "CREATED", "ERROR");
        size_t i;
        const json_t *v;
        json_array_foreach(json_object_get(resp, "TrainingModelVersions"), i, v) printf(
            VERSION_ROW, cli_jstr(v, "TrainingModelVersionId"), cli_jstr(v, "TrainingModelVersion"),
            cli_jstr(v, "TrainingModelFormat"), cli_jstr(v, "TrainingModelStatus"),
            cli_jstr(v, "CreateTime"),
            *cli_jstr(v, "TrainingModelErrorMsg") ? cli_jstr(v, "TrainingModelErrorMsg") : "-");
    }
    json_decref(resp);
    return rc;
}

static const struct cli_cmd versions_cmd = {
    "versions", "m-ID", "list a model's versions", NULL, 1, 1, NULL, model_versions, NULL};

/* "mv-..." is a version, anything else a model. */
static int model_delete(struct cli *c, const struct cli_args *a)
{
    const char *id = a->argv[0];
    bool version = strncmp(id, "mv-", 3) == 0;
    json_t *resp = NULL;
    int rc = cli_call(
        c, version ? "DeleteTrainingModelVersion" : "DeleteTrainingModel",
        json_pack("{s:s}", version ? "TrainingModelVersionId" : "TrainingModelId", id), &resp);
    if (rc == CLI_OK && c->json)
        cli_print_json(resp);
    else if (rc == CLI_OK)
        printf("deleted %s\n", id);
    json_decref(resp);
    return rc;
}

static const struct cli_cmd delete_cmd = {
    "delete",
    "m-ID | mv-ID",
    "delete a model with its versions, or one version, and their files",
    "A version a service runs is refused (UnsupportedOperation): delete the service first.",
    1,
    1,
    NULL,
    model_delete,
    NULL};

static const struct cli_cmd *const model_subs[] = {&import_cmd, &list_cmd, &versions_cmd,
                                                   &delete_cmd, NULL};

const struct cli_cmd cli_model_cmd = {
    "model", NULL,      "the model repository: models and their versions", NULL, 0, 0, NULL,
    NULL,    model_subs};
