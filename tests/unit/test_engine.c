/* test_engine.c - the container engine client's pure parts: image
 * references, the registry a reference names, the X-Registry-Auth header
 * and the credentials file. */
#include "drivers/engine.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TEST(image_split)
{
    char from[256], tag[64];
    drv_image_split("127.0.0.1:5000/team/srv:v2", from, sizeof(from), tag, sizeof(tag));
    CHECK_STR_EQ(from, "127.0.0.1:5000/team/srv");
    CHECK_STR_EQ(tag, "v2");
    /* A port is not a tag. */
    drv_image_split("127.0.0.1:5000/team/srv", from, sizeof(from), tag, sizeof(tag));
    CHECK_STR_EQ(from, "127.0.0.1:5000/team/srv");
    CHECK_STR_EQ(tag, "latest");
    drv_image_split("busybox", from, sizeof(from), tag, sizeof(tag));
    CHECK_STR_EQ(from, "busybox");
    CHECK_STR_EQ(tag, "latest");
    drv_image_split("r.io/a@sha256:0123", from, sizeof(from), tag, sizeof(tag));
    CHECK_STR_EQ(from, "r.io/a@sha256:0123");
    CHECK_STR_EQ(tag, "");
}

TEST(image_registry)
{
    char host[128];
    drv_image_registry("127.0.0.1:5000/team/srv:v2", host, sizeof(host));
    CHECK_STR_EQ(host, "127.0.0.1:5000");
    drv_image_registry("ccr.ccs.tencentyun.com/ti/hello:1", host, sizeof(host));
    CHECK_STR_EQ(host, "ccr.ccs.tencentyun.com");
    drv_image_registry("localhost/x", host, sizeof(host));
    CHECK_STR_EQ(host, "localhost");
    drv_image_registry("library/busybox:1", host, sizeof(host));
    CHECK_STR_EQ(host, "docker.io");
    drv_image_registry("busybox", host, sizeof(host));
    CHECK_STR_EQ(host, "docker.io");
}

TEST(auth_header)
{
    struct drv_registry_auth a = {(char *)"127.0.0.1:5000", (char *)"ann", (char *)"p?>~/+"};
    char *h = drv_registry_auth_header(&a);
    /* base64url: no '+' or '/'; back to standard base64 to decode it. */
    CHECK(!strchr(h, '+') && !strchr(h, '/'));
    size_t n = strlen(h);
    char *std = xstrdup(h);
    for (size_t i = 0; i < n; i++)
        std[i] = std[i] == '-' ? '+' : std[i] == '_' ? '/' : std[i];
    uint8_t out[256];
    size_t len = 0;
    CHECK_EQ_INT(crypto_base64_decode(std, n, out, &len), 0);
    out[len] = '\0';
    CHECK_STR_EQ(
        (char *)out,
        "{\"username\":\"ann\",\"password\":\"p?>~/+\",\"serveraddress\":\"127.0.0.1:5000\"}");
    free(std);
    free(h);
}

TEST(auths_file)
{
    char path[] = "/tmp/test_engine_auths_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# registries\n\n127.0.0.1:5000 ann secret  # the local one\n r.io  bob  pw2\n", f);
    fclose(f);
    struct drv_registry_auth *a;
    size_t n;
    struct err err = {0};
    CHECK_EQ_INT(drv_registry_auths_load(path, &a, &n, &err), 0);
    CHECK_EQ_INT((int)n, 2);
    CHECK_STR_EQ(a[0].host, "127.0.0.1:5000");
    CHECK_STR_EQ(a[0].username, "ann");
    CHECK_STR_EQ(a[0].password, "secret");
    CHECK_STR_EQ(a[1].host, "r.io");
    CHECK_STR_EQ(a[1].password, "pw2");
    drv_registry_auths_free(a, n);
    f = fopen(path, "w");
    fputs("ok.io u p\nbroken.io onlyuser\n", f);
    fclose(f);
    CHECK(drv_registry_auths_load(path, &a, &n, &err) == ERR_INVALID);
    CHECK(strstr(err.msg, ":2: want 'HOST USERNAME PASSWORD'") != NULL);
    CHECK(a == NULL && n == 0);
    unlink(path);
    CHECK(drv_registry_auths_load(path, &a, &n, &err) != 0);
}
