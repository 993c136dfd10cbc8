/* model.c - berth model import | list | versions. */
#include "cli/cli.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int wait_import(struct cli *c, const char *version_id)
{
    for (int i = 0; i < 3000; i++) {
        json_t *resp = NULL;
        int rc = cli_call(c, "DescribeTrainingModelVersion",
                          json_pack("{s:s}", "TrainingModelVersionId", version_id), &resp);
        if (rc)
            return rc;
        json_t *v = json_object_get(resp, "TrainingModelVersion");
        const char *st = json_string_value(json_object_get(v, "TrainingModelStatus"));
        if (st && strcmp(st, "STATUS_RUNNING") != 0) {
            int ret = strcmp(st, "STATUS_SUCCESS") == 0 ? CLI_OK : CLI_API_ERROR;
            if (ret)
                fprintf(stderr, "berth: import failed: %s\n",
                        json_string_value(json_object_get(v, "TrainingModelErrorMsg")));
            json_decref(resp);
            return ret;
        }
        json_decref(resp);
        usleep(20 * 1000);
    }
    fprintf(stderr, "berth: the import of %s is still running after 60 s\n", version_id);
    return CLI_API_ERROR;
}

static int model_import(struct cli *c, int argc, char **argv)
{
    const char *name = NULL, *path = NULL, *format = "XGBOOST", *label = NULL, *model_id = NULL;
    bool cut = false, wait = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--cut") == 0) {
            cut = true;
            continue;
        }
        if (strcmp(a, "--wait") == 0) {
            wait = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "berth: %s needs a value\n", a);
            return CLI_USAGE;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--name") == 0)
            name = v;
        else if (strcmp(a, "--path") == 0)
            path = v;
        else if (strcmp(a, "--format") == 0)
            format = v;
        else if (strcmp(a, "--version") == 0)
            label = v;
        else if (strcmp(a, "--model-id") == 0)
            model_id = v;
        else {
            fprintf(stderr, "berth: model import: unknown option '%s'\n", a);
            return CLI_USAGE;
        }
    }
    if (!path || (!name && !model_id)) {
        fprintf(stderr, "usage: berth model import --name N --path DIR [--format F] "
                        "[--version LABEL] [--model-id m-ID] [--cut] [--wait]\n");
        return CLI_USAGE;
    }
    char abs[PATH_MAX];
    if (!realpath(path, abs)) {
        fprintf(stderr, "berth: model import: cannot find '%s'\n", path);
        return CLI_USAGE;
    }
    json_t *p = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:[s]}, s:s}", "ImportMethod",
                          model_id ? "VERSION" : "MODEL", "ReasoningEnvironmentSource", "SYSTEM",
                          "ModelFormat", format, "TrainingModelCosPath", "Bucket", "", "Region", "",
                          "Paths", abs, "ModelMoveMode", cut ? "CUT" : "COPY");
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
    const char *vid = json_string_value(json_object_get(resp, "TrainingModelVersionId"));
    if (wait)
        rc = wait_import(c, vid);
    if (c->json)
        cli_print_json(resp);
    else if (rc == CLI_OK)
        printf("model %s version %s %s\n", json_string_value(json_object_get(resp, "Id")), vid,
               wait ? "imported" : "importing");
    json_decref(resp);
    return rc;
}

static int model_list(struct cli *c)
{
    json_t *resp = NULL;
    int rc = cli_call(c, "DescribeTrainingModels",
                      json_pack("{s:b, s:i}", "WithModelVersions", 1, "Limit", 1000), &resp);
    if (rc)
        return rc;
    if (c->json) {
        cli_print_json(resp);
    } else {
        printf("%-22s %-24s %-30s %-8s %s\n", "MODEL", "NAME", "VERSION", "LABEL", "STATUS");
        size_t i, k;
        json_t *m, *v;
        json_array_foreach(json_object_get(resp, "TrainingModels"), i, m)
        {
            json_t *vs = json_object_get(m, "TrainingModelVersions");
            if (!json_array_size(vs))
                printf("%-22s %-24s %-30s %-8s %s\n",
                       json_string_value(json_object_get(m, "TrainingModelId")),
                       json_string_value(json_object_get(m, "TrainingModelName")), "-", "-", "-");
            json_array_foreach(vs, k, v)
                printf("%-22s %-24s %-30s %-8s %s\n",
                       json_string_value(json_object_get(m, "TrainingModelId")),
                       json_string_value(json_object_get(m, "TrainingModelName")),
                       json_string_value(json_object_get(v, "TrainingModelVersionId")),
                       json_string_value(json_object_get(v, "TrainingModelVersion")),
                       json_string_value(json_object_get(v, "TrainingModelStatus")));
        }
    }
    json_decref(resp);
    return CLI_OK;
}

int cli_model(struct cli *c, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "import") == 0)
        return model_import(c, argc - 1, argv + 1);
    if (argc == 1 && strcmp(argv[0], "list") == 0)
        return model_list(c);
    if (argc == 2 && strcmp(argv[0], "versions") == 0) {
        json_t *resp = NULL;
        int rc = cli_call(c, "DescribeTrainingModelVersions",
                          json_pack("{s:s}", "TrainingModelId", argv[1]), &resp);
        if (rc == CLI_OK)
            cli_print_json(c->json ? resp : json_object_get(resp, "TrainingModelVersions"));
        json_decref(resp);
        return rc;
    }
    fprintf(stderr, "usage: berth model import|list|versions ... (see berth --help)\n");
    return CLI_USAGE;
}
