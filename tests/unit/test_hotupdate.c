/* test_hotupdate.c - the numbered version directories of hot update: the
 * pinned version as 1, newer imports of the same model and format as the
 * next numbers, failed and other-format ones skipped, nothing twice, only
 * the pinned one without hot update, and auto-clean held back until the
 * instances serve a newer version. */
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "control/hotupdate.h"
#include "drivers/mounts.h"
#include "store/store.h"

static char *root;

static void add_version(struct store *st, const char *id, const char *label, const char *format,
                        enum store_import_status status, const char *attrs)
{
    char path[400], file[450];
    snprintf(path, sizeof(path), "%s/repo/%s", root, id);
    mkdir(path, 0755);
    snprintf(file, sizeof(file), "%s/model.json", path);
    int fd = open(file, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) {
        CHECK(write(fd, label, strlen(label)) > 0);
        close(fd);
    }
    struct store_model m = {.id = (char *)"m-1",
                            .region = (char *)"r",
                            .name = (char *)"hot",
                            .tags_json = (char *)"[]",
                            .created_at = (char *)"2026-01-01T00:00:00Z"};
    struct store_model_version v = {.id = (char *)id,
                                    .model_id = (char *)"m-1",
                                    .region = (char *)"r",
                                    .version = (char *)label,
                                    .status = STORE_IMPORT_RUNNING,
                                    .source_path = (char *)"/src",
                                    .move_mode = (char *)"COPY",
                                    .path = path,
                                    .format = (char *)format,
                                    .attrs_json = (char *)attrs,
                                    .created_at = (char *)"2026-01-01T00:00:00Z"};
    struct err err = {0};
    CHECK_EQ_INT(store_model_version_create(st, &m, strcmp(label, "v1") == 0, &v, &err), 0);
    CHECK_EQ_INT(store_model_version_set_status(st, id, status, 100, "", &err), 0);
}

static bool has(const char *dir, const char *name)
{
    char p[500];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

TEST(numbered_versions_and_auto_clean)
{
    char tmpl[] = "/tmp/berth-test-hot-XXXXXX";
    root = mkdtemp(tmpl);
    char repo[300], dir[300];
    snprintf(repo, sizeof(repo), "%s/repo", root);
    snprintf(dir, sizeof(dir), "%s/model", root);
    mkdir(repo, 0755);
    struct store *st;
    struct err err = {0};
    CHECK_EQ_INT(store_open(":memory:", &st, &err), 0);
    const char *clean2 = "{\"AutoClean\": \"true\", \"MaxReservedModels\": 2}";
    add_version(st, "mv-v1-1", "v1", "XGBOOST", STORE_IMPORT_SUCCESS, clean2);
    json_t *spec =
        json_pack("{s:s, s:s, s:s, s:s, s:b}", "Kind", "model", "ModelVersionId", "mv-v1-1",
                  "ModelId", "m-1", "ModelFormat", "XGBOOST", "ModelHotUpdateEnable", 1);
    CHECK(ctl_hotupdate_on(spec));
    struct ctl_hot_result hr;
    CHECK_EQ_INT(ctl_hotupdate_sync(st, "r", spec, dir, (gid_t)-1, 0, &hr, &err), 0);
    CHECK_EQ_INT(hr.added, 1);
    CHECK_EQ_INT((int)hr.newest, 1);
    CHECK(has(dir, "1/model.json"));
    /* A failed import and another format are skipped; the next good one is 2. */
    add_version(st, "mv-v2-2", "v2", "XGBOOST", STORE_IMPORT_FAILED, clean2);
    add_version(st, "mv-v3-3", "v3", "TORCH_SCRIPT", STORE_IMPORT_SUCCESS, clean2);
    add_version(st, "mv-v4-4", "v4", "XGBOOST", STORE_IMPORT_SUCCESS, clean2);
    add_version(st, "mv-v5-5", "v5", "XGBOOST", STORE_IMPORT_SUCCESS, clean2);
    CHECK_EQ_INT(ctl_hotupdate_sync(st, "r", spec, dir, (gid_t)-1, 0, &hr, &err), 0);
    CHECK_EQ_INT(hr.added, 2);
    CHECK_EQ_INT((int)hr.newest, 3);
    CHECK_STR_EQ(hr.added_version, "mv-v5-5");
    CHECK_EQ_INT((int)hr.keep, 2);
    /* Nothing is served yet past 1: auto-clean waits. */
    CHECK_EQ_INT(hr.removed, 0);
    CHECK(has(dir, "1") && has(dir, "2") && has(dir, "3"));
    CHECK_EQ_INT(ctl_hotupdate_sync(st, "r", spec, dir, (gid_t)-1, 2, &hr, &err), 0);
    CHECK_EQ_INT(hr.added, 0);
    CHECK_EQ_INT(hr.removed, 1);
    CHECK(!has(dir, "1") && has(dir, "2") && has(dir, "3"));
    /* Every instance on 3: still the newest two; nothing comes back. */
    CHECK_EQ_INT(ctl_hotupdate_sync(st, "r", spec, dir, (gid_t)-1, 3, &hr, &err), 0);
    CHECK_EQ_INT(hr.added + hr.removed, 0);
    CHECK(has(dir, "2/model.json") && has(dir, "3/model.json"));
    /* The copy outlives the repository's files (a hard link or a copy). */
    char gone[400];
    snprintf(gone, sizeof(gone), "%s/mv-v5-5", repo);
    CHECK_EQ_INT(drv_remove_tree(gone, &err), 0);
    CHECK(has(dir, "3/model.json"));
    /* Without hot update only the pinned version is placed. */
    char plain[300];
    snprintf(plain, sizeof(plain), "%s/plain", root);
    json_object_del(spec, "ModelHotUpdateEnable");
    CHECK(!ctl_hotupdate_on(spec));
    CHECK_EQ_INT(ctl_hotupdate_sync(st, "r", spec, plain, (gid_t)-1, 0, &hr, &err), 0);
    CHECK_EQ_INT(hr.added, 1);
    CHECK(has(plain, "1") && !has(plain, "2"));
    json_decref(spec);
    store_close(st);
    CHECK_EQ_INT(drv_remove_tree(root, &err), 0);
}
