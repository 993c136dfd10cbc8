/* test_mounts.c - storage mounts' pure parts: the --file-system table, a
 * spec's mounts resolved to binds, claiming a source path with its marker,
 * and cleaning only what the platform owns, never through a link. */
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "drivers/mounts.h"

static char *temp_dir(void)
{
    char tmpl[] = "/tmp/berth-test-mounts-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static void touch(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0)
        close(fd);
}

static bool exists(const char *dir, const char *name)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return lstat(p, &st) == 0;
}

TEST(volumes_parse)
{
    char *d = temp_dir();
    char good[300], ro[300], twice[300], flag[300], rel[] = "cfs-a relative/dir",
                                                    root[] = "cfs-r /";
    snprintf(good, sizeof(good), "cfs-a %s", d);
    snprintf(ro, sizeof(ro), "cfs-b %s read-only", d);
    snprintf(twice, sizeof(twice), "cfs-a %s", d);
    snprintf(flag, sizeof(flag), "cfs-c %s rw", d);
    const char *ok[] = {good, ro};
    struct drv_volumes *v = NULL;
    struct err err = {0};
    CHECK_EQ_INT(drv_volumes_new(ok, 2, &v, &err), 0);
    bool r = true;
    CHECK(drv_volumes_find(v, "cfs-a", &r) != NULL);
    CHECK(!r);
    CHECK(drv_volumes_find(v, "cfs-b", &r) != NULL);
    CHECK(r);
    CHECK(drv_volumes_find(v, "cfs-x", NULL) == NULL);
    CHECK(drv_volumes_find(NULL, "cfs-a", NULL) == NULL);
    char list[64];
    drv_volumes_list(v, list, sizeof(list));
    CHECK_STR_EQ(list, "cfs-a, cfs-b");
    drv_volumes_free(v);
    const char *bad[][2] = {{good, twice}, {flag, NULL}, {rel, NULL}, {root, NULL}, {"x", NULL}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = NULL;
        CHECK_EQ_INT(drv_volumes_new(bad[i], bad[i][1] ? 2 : 1, &v, &err), ERR_INVALID);
        CHECK(v == NULL);
        CHECK(strstr(err.msg, "file-system") != NULL);
    }
    rmdir(d);
    free(d);
}

TEST(mounts_of_spec)
{
    char *d = temp_dir();
    char fs[300], ro[300];
    snprintf(fs, sizeof(fs), "cfs-a %s", d);
    snprintf(ro, sizeof(ro), "cfs-b %s read-only", d);
    const char *specs[] = {fs, ro};
    struct drv_volumes *v;
    struct err err = {0};
    CHECK_EQ_INT(drv_volumes_new(specs, 2, &v, &err), 0);
    const char *spec = "{\"Mounts\": [{\"Id\": \"cfs-a\", \"Path\": \"/\", \"MountPath\": \"/m1\", "
                       "\"ReadOnly\": false}, {\"Id\": \"cfs-a\", \"Path\": \"/sub/dir\", "
                       "\"MountPath\": \"/m2\", \"ReadOnly\": true}, {\"Id\": \"cfs-b\", \"Path\": "
                       "\"/x\", \"MountPath\": \"/m3\", \"ReadOnly\": false}]}";
    struct drv_mount m[DRV_MOUNTS_MAX];
    size_t n = 0;
    CHECK_EQ_INT(drv_mounts_of_spec(v, spec, m, &n, &err), 0);
    CHECK_EQ_INT((int)n, 3);
    char want[400];
    CHECK_STR_EQ(m[0].source, d);
    CHECK_STR_EQ(m[0].target, "/m1");
    CHECK(!m[0].read_only);
    snprintf(want, sizeof(want), "%s/sub/dir", d);
    CHECK_STR_EQ(m[1].source, want);
    CHECK(m[1].read_only);
    CHECK(m[2].read_only); /* the file system is read-only */
    drv_mounts_release(m, n);
    CHECK_EQ_INT(drv_mounts_of_spec(v,
                                    "{\"Mounts\": [{\"Id\": \"cfs-gone\", \"Path\": \"/\", "
                                    "\"MountPath\": \"/m\"}]}",
                                    m, &n, &err),
                 ERR_NOTFOUND);
    CHECK_EQ_INT((int)n, 0);
    CHECK_EQ_INT(drv_mounts_of_spec(v, "{\"Kind\": \"command\"}", m, &n, &err), 0);
    CHECK_EQ_INT((int)n, 0);
    drv_volumes_free(v);
    rmdir(d);
    free(d);
}

TEST(claim_and_clean)
{
    char *d = temp_dir();
    char path[300], other[300], outside[300], link[450];
    snprintf(path, sizeof(path), "%s/svc/path", d);
    snprintf(other, sizeof(other), "%s/foreign", d);
    snprintf(outside, sizeof(outside), "%s/outside", d);
    struct err err = {0};
    int removed = -1;
    /* Missing is clean. */
    CHECK_EQ_INT(drv_mount_clean(path, "ms-a-1", false, &removed, &err), 0);
    CHECK_EQ_INT(removed, 0);
    CHECK_EQ_INT(drv_mount_claim(path, "ms-a-1", (uid_t)-1, (gid_t)-1, 0750, &err), 0);
    CHECK(exists(path, DRV_MOUNT_MARKER));
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0750);
    /* What was written in it goes, the marker stays; never through a link. */
    mkdir(outside, 0755);
    touch(outside, "keep-me");
    touch(path, "a.txt");
    char sub[450];
    snprintf(sub, sizeof(sub), "%s/dir", path);
    mkdir(sub, 0755);
    touch(sub, "b.txt");
    snprintf(link, sizeof(link), "%s/escape", path);
    CHECK(symlink(outside, link) == 0);
    mkdir(sub, 0755);
    char version[450];
    snprintf(version, sizeof(version), "%s/3", path);
    mkdir(version, 0755);
    touch(path, ".berth-versions");
    /* Another service's cleaning is refused. */
    CHECK_EQ_INT(drv_mount_clean(path, "ms-b-1", false, &removed, &err), ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "belongs to ms-a-1") != NULL);
    CHECK(exists(path, "a.txt"));
    /* An update keeps a hot-updated model's versions. */
    CHECK_EQ_INT(drv_mount_clean(path, "ms-a-1", true, &removed, &err), 0);
    CHECK_EQ_INT(removed, 3);
    CHECK(!exists(path, "a.txt") && !exists(path, "dir") && !exists(path, "escape"));
    CHECK(exists(path, "3") && exists(path, ".berth-versions"));
    CHECK(exists(outside, "keep-me"));
    CHECK_EQ_INT(drv_mount_clean(path, "ms-a-1", false, &removed, &err), 0);
    CHECK_EQ_INT(removed, 2);
    CHECK(!exists(path, "3") && exists(path, DRV_MOUNT_MARKER));
    /* A path the platform did not create is not cleaned, nor claimed. */
    mkdir(other, 0755);
    touch(other, "user.txt");
    CHECK_EQ_INT(drv_mount_claim(other, "ms-a-1", (uid_t)-1, (gid_t)-1, 0770, &err), 0);
    CHECK(!exists(other, DRV_MOUNT_MARKER));
    CHECK_EQ_INT(drv_mount_clean(other, "ms-a-1", false, &removed, &err), ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "did not create it") != NULL);
    CHECK(exists(other, "user.txt"));
    /* A link on the way is refused for both. */
    char via[450];
    snprintf(via, sizeof(via), "%s/escape-dir/x", d);
    snprintf(link, sizeof(link), "%s/escape-dir", d);
    CHECK(symlink(outside, link) == 0);
    CHECK_EQ_INT(drv_mount_claim(via, "ms-a-1", (uid_t)-1, (gid_t)-1, 0770, &err), ERR_INVALID);
    CHECK(!exists(outside, "x"));
    snprintf(via, sizeof(via), "%s/escape-dir", d);
    CHECK_EQ_INT(drv_mount_clean(via, "ms-a-1", false, &removed, &err), ERR_UNSUPPORTED);
    CHECK(exists(outside, "keep-me"));
    CHECK_EQ_INT(drv_remove_tree(d, &err), 0);
    CHECK(access(d, F_OK) != 0);
    free(d);
}
