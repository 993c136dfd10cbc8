/* test_store.c - the SQLite store on :memory: and on disk: migrations, the model
 * repository, services numbered per group, uniqueness per region, cascades. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "store/store.h"

static struct store *open_memory(void)
{
    struct store *st = NULL;
    struct err err = {0};
    if (store_open(":memory:", &st, &err) != 0)
        fprintf(stderr, "# %s\n", err.msg);
    return st;
}

static void add_model(struct store *st, const char *region, const char *id, const char *name,
                      const char *vid, const char *label, int expect)
{
    struct store_model m = {.id = (char *)id,
                            .region = (char *)region,
                            .name = (char *)name,
                            .tags_json = (char *)"[]",
                            .created_at = (char *)"2026-01-01T00:00:00Z"};
    struct store_model_version v = {.id = (char *)vid,
                                    .model_id = (char *)id,
                                    .region = (char *)region,
                                    .version = (char *)label,
                                    .status = STORE_IMPORT_RUNNING,
                                    .source_path = (char *)"/src",
                                    .move_mode = (char *)"COPY",
                                    .path = (char *)"/dst",
                                    .format = (char *)"XGBOOST",
                                    .attrs_json = (char *)"{}",
                                    .created_at = (char *)"2026-01-01T00:00:00Z"};
    struct store_model existing;
    struct err err = {0};
    bool is_new = store_model_get(st, region, id, &existing, &err) != 0;
    if (!is_new)
        store_model_release(&existing);
    CHECK_EQ_INT(store_model_version_create(st, &m, is_new, &v, &err), expect);
}

TEST(migrations_reach_the_latest_schema)
{
    log_set_level("warn"); /* keep "migrated schema" lines out of the TAP output */
    struct store *st = open_memory();
    CHECK(st != NULL);
    CHECK(store_schema_version(st) >= 2);
    store_close(st);
    store_close(NULL);
}

TEST(reopening_a_file_keeps_everything)
{
    char path[] = "/tmp/berth-test-store-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    unlink(path);
    struct store *st = NULL;
    struct err err = {0};
    CHECK_EQ_INT(store_open(path, &st, &err), 0);
    CHECK_EQ_INT(store_credential_add(st, "AKIDx", "secret", &err), 0);
    add_model(st, "r1", "m-1", "alpha", "mv-v1-1", "v1", 0);
    store_close(st);
    CHECK_EQ_INT(store_open(path, &st, &err), 0); /* migrations run once */
    char *key = NULL;
    CHECK_EQ_INT(store_credential_get(st, "AKIDx", &key, &err), 0);
    CHECK_STR_EQ(key, "secret");
    free(key);
    CHECK_EQ_INT(store_credential_get(st, "AKIDnone", &key, &err), ERR_NOTFOUND);
    struct store_model_version v;
    CHECK_EQ_INT(store_model_version_get(st, "r1", "mv-v1-1", &v, &err), 0);
    CHECK_STR_EQ(v.model_name, "alpha");
    CHECK_EQ_INT(v.status, STORE_IMPORT_RUNNING);
    store_model_version_release(&v);
    store_close(st);
    char wal[300];
    unlink(path);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", path);
    unlink(wal);
}

TEST(model_names_are_unique_per_region)
{
    struct store *st = open_memory();
    add_model(st, "r1", "m-1", "alpha", "mv-v1-1", "v1", 0);
    add_model(st, "r1", "m-2", "alpha", "mv-v1-2", "v1", ERR_EXISTS);
    add_model(st, "r2", "m-3", "alpha", "mv-v1-3", "v1", 0);
    add_model(st, "r1", "m-1", "alpha", "mv-v1-4", "v1", ERR_EXISTS); /* same label */
    add_model(st, "r1", "m-1", "alpha", "mv-v2-5", "v2", 0);
    struct store_model *ms;
    size_t n;
    struct err err = {0};
    CHECK_EQ_INT(store_model_list(st, "r1", &ms, &n, &err), 0);
    CHECK_EQ_INT(n, 1);
    for (size_t i = 0; i < n; i++)
        store_model_release(&ms[i]);
    free(ms);
    /* Nothing half-written by the refused inserts. */
    struct store_model_version v;
    CHECK_EQ_INT(store_model_version_get(st, NULL, "mv-v1-2", &v, &err), ERR_NOTFOUND);
    struct store_model m;
    CHECK_EQ_INT(store_model_get(st, "r1", "m-2", &m, &err), ERR_NOTFOUND);
    store_close(st);
}

TEST(import_status_and_cascading_delete)
{
    struct store *st = open_memory();
    struct err err = {0};
    add_model(st, "r1", "m-1", "alpha", "mv-v1-1", "v1", 0);
    add_model(st, "r1", "m-1", "alpha", "mv-v2-2", "v2", 0);
    struct store_model_version *vs;
    size_t n;
    CHECK_EQ_INT(store_model_version_list_running(st, &vs, &n, &err), 0);
    CHECK_EQ_INT(n, 2);
    for (size_t i = 0; i < n; i++)
        store_model_version_release(&vs[i]);
    free(vs);
    CHECK_EQ_INT(
        store_model_version_set_status(st, "mv-v1-1", STORE_IMPORT_FAILED, 0, "boom", &err), 0);
    struct store_model_version v;
    CHECK_EQ_INT(store_model_version_get(st, "r1", "mv-v1-1", &v, &err), 0);
    CHECK_STR_EQ(v.error, "boom");
    CHECK_STR_EQ(store_import_status_name(v.status), "STATUS_FAILED");
    store_model_version_release(&v);
    CHECK_EQ_INT(store_model_delete(st, "r2", "m-1", &err), ERR_NOTFOUND); /* other region */
    CHECK_EQ_INT(store_model_delete(st, "r1", "m-1", &err), 0);
    CHECK_EQ_INT(store_model_version_get(st, NULL, "mv-v2-2", &v, &err), ERR_NOTFOUND);
    store_close(st);
}

static int add_service_on(struct store *st, struct store_group *g, bool new_group,
                          const char *model_version_id, int *version)
{
    struct store_service s = {.description = (char *)"",
                              .spec_json = (char *)"{}",
                              .model_version_id = (char *)model_version_id,
                              .replicas = 1,
                              .weight = new_group ? 100 : 0,
                              .created_at = (char *)"2026-01-01T00:00:00Z"};
    struct err err = {0};
    int rc = store_service_create(st, g, new_group, NULL, &s, &err);
    *version = s.version;
    free(s.id);
    return rc;
}

static int add_service(struct store *st, struct store_group *g, bool new_group, int *version)
{
    return add_service_on(st, g, new_group, "mv-v1-1", version);
}

static void add_imported_model(struct store *st, const char *region, const char *id,
                               const char *vid)
{
    struct err err = {0};
    add_model(st, region, id, id, vid, vid, 0);
    CHECK_EQ_INT(store_model_version_set_status(st, vid, STORE_IMPORT_SUCCESS, 100, NULL, &err), 0);
}

TEST(services_are_numbered_per_group)
{
    struct store *st = open_memory();
    add_imported_model(st, "r1", "m-1", "mv-v1-1");
    struct store_group g = {.id = (char *)"ms-aaaaaaaa",
                            .region = (char *)"r1",
                            .name = (char *)"svc",
                            .tags_json = (char *)"[]",
                            .charge_type = (char *)"POSTPAID_BY_HOUR",
                            .created_at = (char *)"2026-01-01T00:00:00Z"};
    int v = 0;
    CHECK_EQ_INT(add_service(st, &g, true, &v), 0);
    CHECK_EQ_INT(v, 1);
    CHECK_EQ_INT(add_service(st, &g, false, &v), 0);
    CHECK_EQ_INT(v, 2);
    struct store_group other = g;
    other.id = (char *)"ms-bbbbbbbb";
    CHECK_EQ_INT(add_service(st, &other, true, &v), ERR_EXISTS); /* same name, same region */
    other.region = (char *)"r2";
    CHECK_EQ_INT(add_service(st, &other, true, &v), ERR_NOTFOUND); /* the version is r1's */
    add_imported_model(st, "r2", "m-2", "mv-v1-2");
    CHECK_EQ_INT(add_service_on(st, &other, true, "mv-v1-2", &v), 0);
    CHECK_EQ_INT(v, 1);
    int users = 0;
    struct err err = {0};
    CHECK_EQ_INT(store_model_version_users(st, "mv-v1-1", &users, &err), 0);
    CHECK_EQ_INT(users, 2);
    CHECK_EQ_INT(store_service_set_replicas(st, "ms-aaaaaaaa-2", 0, 1, true, &err), 0);
    struct store_service s;
    CHECK_EQ_INT(store_service_get(st, "r1", "ms-aaaaaaaa-2", &s, &err), 0);
    CHECK_EQ_INT(s.replicas, 0);
    CHECK_EQ_INT(s.old_replicas, 1);
    CHECK(s.stopped);
    store_service_release(&s);
    CHECK_EQ_INT(store_service_get(st, "r2", "ms-aaaaaaaa-2", &s, &err), ERR_NOTFOUND);
    const char *ids[] = {"ms-aaaaaaaa-1", "ms-aaaaaaaa-2"};
    int weights[] = {30, 70};
    CHECK_EQ_INT(store_service_set_weights(st, "ms-aaaaaaaa", ids, weights, 2, &err), 0);
    CHECK_EQ_INT(store_service_get(st, "r1", "ms-aaaaaaaa-2", &s, &err), 0);
    CHECK_EQ_INT(s.weight, 70);
    store_service_release(&s);
    /* All or nothing: a service of another group fails the whole change. */
    const char *bad[] = {"ms-aaaaaaaa-1", "ms-bbbbbbbb-1"};
    int w2[] = {5, 5};
    CHECK_EQ_INT(store_service_set_weights(st, "ms-aaaaaaaa", bad, w2, 2, &err), ERR_NOTFOUND);
    CHECK_EQ_INT(store_service_get(st, "r1", "ms-aaaaaaaa-1", &s, &err), 0);
    CHECK_EQ_INT(s.weight, 30);
    store_service_release(&s);
    CHECK_EQ_INT(store_group_delete(st, "r1", "ms-aaaaaaaa", &err), 0);
    CHECK_EQ_INT(store_service_get(st, "r1", "ms-aaaaaaaa-1", &s, &err), ERR_NOTFOUND);
    CHECK_EQ_INT(store_model_version_users(st, "mv-v1-1", &users, &err), 0);
    CHECK_EQ_INT(users, 0);
    CHECK_EQ_INT(store_model_version_users(st, "mv-v1-2", &users, &err), 0);
    CHECK_EQ_INT(users, 1);
    store_close(st);
}

static struct store_group group_named(const char *id, const char *name)
{
    return (struct store_group){.id = (char *)id,
                                .region = (char *)"r1",
                                .name = (char *)name,
                                .tags_json = (char *)"[]",
                                .charge_type = (char *)"POSTPAID_BY_HOUR",
                                .created_at = (char *)"2026-01-01T00:00:00Z"};
}

static bool group_exists(struct store *st, const char *id)
{
    struct store_group g;
    if (store_group_get(st, "r1", id, &g, NULL) != 0)
        return false;
    store_group_release(&g);
    return true;
}

/* A service on a model version and the delete of that version, in either
 * order: the second is refused, so no service runs a deleted version. */
TEST(service_create_and_version_delete_exclude_each_other)
{
    struct store *st = open_memory();
    struct err err = {0};
    struct store_model_version v;
    int n = 0, users = -1;

    /* Service first: the version cannot be deleted, nor its model. */
    add_imported_model(st, "r1", "m-1", "mv-1");
    struct store_group g = group_named("ms-aaaaaaaa", "first");
    CHECK_EQ_INT(add_service_on(st, &g, true, "mv-1", &n), 0);
    CHECK_EQ_INT(store_model_version_delete(st, "r1", "mv-1", &err), ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "used by 1 service") != NULL);
    CHECK_EQ_INT(store_model_delete(st, "r1", "m-1", &err), ERR_UNSUPPORTED);
    CHECK_EQ_INT(store_model_version_get(st, "r1", "mv-1", &v, &err), 0);
    store_model_version_release(&v);
    /* Once the service is gone, the version can go. */
    CHECK_EQ_INT(store_service_delete(st, "r1", "ms-aaaaaaaa-1", &err), 0);
    CHECK_EQ_INT(store_model_version_delete(st, "r1", "mv-1", &err), 0);

    /* Delete first: the service is refused, and its new group not left behind. */
    add_imported_model(st, "r1", "m-2", "mv-2");
    CHECK_EQ_INT(store_model_version_delete(st, "r1", "mv-2", &err), 0);
    struct store_group g2 = group_named("ms-bbbbbbbb", "second");
    CHECK_EQ_INT(add_service_on(st, &g2, true, "mv-2", &n), ERR_NOTFOUND);
    CHECK(!group_exists(st, "ms-bbbbbbbb"));
    CHECK_EQ_INT(add_service_on(st, &g, false, "mv-2", &n), ERR_NOTFOUND); /* new version too */
    CHECK_EQ_INT(store_model_version_users(st, "mv-2", &users, &err), 0);
    CHECK_EQ_INT(users, 0);

    /* A version still importing, or failed, is not usable either. */
    add_model(st, "r1", "m-3", "third", "mv-3", "v1", 0);
    CHECK_EQ_INT(add_service_on(st, &g, false, "mv-3", &n), ERR_UNAVAILABLE);
    CHECK_EQ_INT(store_model_version_set_status(st, "mv-3", STORE_IMPORT_FAILED, 0, "x", &err), 0);
    CHECK_EQ_INT(add_service_on(st, &g, false, "mv-3", &n), ERR_UNAVAILABLE);

    /* Switching a service to a deleted version is refused the same way. */
    add_imported_model(st, "r1", "m-4", "mv-4");
    CHECK_EQ_INT(add_service_on(st, &g, false, "mv-4", &n), 0);
    char *sid = NULL;
    struct store_service *list;
    size_t count;
    CHECK_EQ_INT(store_service_list(st, "ms-aaaaaaaa", &list, &count, &err), 0);
    CHECK_EQ_INT(count, 1);
    sid = strdup(list[0].id);
    store_service_release(&list[0]);
    free(list);
    CHECK_EQ_INT(store_service_update(st, sid, NULL, "mv-2", NULL, -1, &err), ERR_NOTFOUND);
    CHECK_EQ_INT(store_service_update(st, sid, NULL, "", NULL, -1, &err), 0); /* a command */
    free(sid);
    store_close(st);
}

/* Every change to a version moves its group's UpdateTime. */
TEST(group_update_time_follows_its_versions)
{
    static const char old[] = "2026-01-01T00:00:00Z";
    struct store *st = open_memory();
    struct err err = {0};
    add_imported_model(st, "r1", "m-1", "mv-v1-1");
    for (int step = 0; step < 4; step++) {
        /* A group of two versions, last changed long ago, then one change. */
        char id[32], name[32], sid[40];
        snprintf(id, sizeof(id), "ms-step%04d", step);
        snprintf(name, sizeof(name), "grp%d", step);
        snprintf(sid, sizeof(sid), "%s-1", id);
        struct store_group g = group_named(id, name), back;
        int n;
        CHECK_EQ_INT(add_service(st, &g, true, &n), 0);
        CHECK_EQ_INT(add_service(st, &g, false, &n), 0);
        CHECK_EQ_INT(store_group_get(st, "r1", id, &back, &err), 0);
        CHECK_STR_EQ(back.updated_at, old);
        store_group_release(&back);
        const char *ids[] = {sid};
        int weights[] = {10};
        int rc = step == 0   ? store_service_set_replicas(st, sid, 0, 1, true, &err)
                 : step == 1 ? store_service_update(st, sid, "{}", NULL, NULL, 2, &err)
                 : step == 2 ? store_service_set_weights(st, id, ids, weights, 1, &err)
                             : store_service_delete(st, "r1", sid, &err);
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(store_group_get(st, "r1", id, &back, &err), 0);
        if (strcmp(back.updated_at, old) <= 0)
            fprintf(stderr, "# step %d left UpdateTime at %s\n", step, back.updated_at);
        CHECK(strcmp(back.updated_at, old) > 0);
        store_group_release(&back);
    }
    store_close(st);
}

TEST(instances_are_recorded_and_forgotten)
{
    struct store *st = open_memory();
    struct err err = {0};
    struct store_instance in = {.id = (char *)"ms-a-1-0",
                                .service_id = (char *)"ms-a-1",
                                .pgid = 1234,
                                .start_ticks = 99,
                                .port = 8000};
    CHECK_EQ_INT(store_instance_put(st, &in, &err), 0);
    in.port = 8001; /* replaced, not duplicated */
    CHECK_EQ_INT(store_instance_put(st, &in, &err), 0);
    struct store_instance *list;
    size_t n;
    CHECK_EQ_INT(store_instance_list(st, &list, &n, &err), 0);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(list[0].port, 8001);
    CHECK_EQ_INT(list[0].start_ticks, 99);
    CHECK_EQ_INT(list[0].keeper_pid, 0); /* none given: not adoptable */
    CHECK_STR_EQ(list[0].spec, "");
    store_instance_release(&list[0]);
    free(list);
    /* What adoption needs comes back as it went in. */
    in.keeper_pid = 1233;
    in.keeper_ticks = 98;
    in.spec = (char *)"{\"Kind\":\"model\"}";
    in.started_at = (char *)"2026-01-02T03:04:05Z";
    in.restarts = 4;
    CHECK_EQ_INT(store_instance_put(st, &in, &err), 0);
    CHECK_EQ_INT(store_instance_list(st, &list, &n, &err), 0);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(list[0].keeper_pid, 1233);
    CHECK_EQ_INT(list[0].keeper_ticks, 98);
    CHECK_STR_EQ(list[0].spec, "{\"Kind\":\"model\"}");
    CHECK_STR_EQ(list[0].started_at, "2026-01-02T03:04:05Z");
    CHECK_EQ_INT(list[0].restarts, 4);
    store_instance_release(&list[0]);
    free(list);
    CHECK_EQ_INT(store_instance_delete(st, "ms-a-1-0", &err), 0);
    CHECK_EQ_INT(store_instance_list(st, &list, &n, &err), 0);
    CHECK_EQ_INT(n, 0);
    free(list);
    store_close(st);
}
