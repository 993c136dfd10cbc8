/* test_gw_auth.c - the gateway's call authentication: tokens in both forms,
 * and the legacy gateway's signatures with the reference's test vectors
 * (tione-api.md §2.3, §2.4). */
#include "harness.h"

#include "base/crypto.h"
#include "gateway/auth.h"

#include <time.h>

static struct http_request request(const char *method, const char *path, const char *query)
{
    struct http_request r;
    memset(&r, 0, sizeof(r));
    r.method = str_from(method);
    r.path = str_from(path);
    r.query = query ? str_from(query) : STR_LIT("");
    return r;
}

static void header(struct http_request *r, const char *name, const char *value)
{
    r->headers[r->nheaders].name = str_from(name);
    r->headers[r->nheaders++].value = str_from(value);
}

static struct gw_token tokens[3];
static struct gw_credentials creds(void)
{
    const char *values[] = {"tok-alpha-0000000000000000000000", "tok-beta-11111111111111111111111",
                            "tok-gamma-2222222222222222222222"};
    for (int i = 0; i < 3; i++) {
        crypto_sha256(values[i], strlen(values[i]), tokens[i].hash);
        snprintf(tokens[i].id, sizeof(tokens[i].id), "id%d", i);
    }
    gw_tokens_sort(tokens, 3);
    return (struct gw_credentials){tokens, 3, "APIDLOCALTEST000000000000000000000000000",
                                   "LocalAppSecret00000000000000000000000000"};
}

static time_t at(const char *date)
{
    struct tm tm = {0};
    strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return timegm(&tm);
}

TEST(no_credential_is_401)
{
    struct gw_credentials c = creds();
    struct http_request r = request("POST", "/ms-a/v1/models/m:predict", NULL);
    struct gw_auth_result res;
    gw_authenticate(&c, &r, time(NULL), &res);
    CHECK_EQ_INT(res.status, 401);
    CHECK(strstr(res.reason, "Bearer") != NULL);
    header(&r, "Authorization", "   ");
    gw_authenticate(&c, &r, time(NULL), &res);
    CHECK_EQ_INT(res.status, 401);
}

TEST(token_bare_and_bearer)
{
    struct gw_credentials c = creds();
    const char *forms[] = {"tok-beta-11111111111111111111111",
                           "Bearer tok-beta-11111111111111111111111",
                           "bearer  tok-beta-11111111111111111111111 "};
    for (int i = 0; i < 3; i++) {
        struct http_request r = request("POST", "/ms-a/x", NULL);
        header(&r, "Authorization", forms[i]);
        struct gw_auth_result res;
        gw_authenticate(&c, &r, time(NULL), &res);
        CHECK_EQ_INT(res.status, 0);
        CHECK(res.token != NULL);
        uint8_t h[32];
        crypto_sha256("tok-beta-11111111111111111111111", 32, h);
        CHECK(memcmp(res.token->hash, h, 32) == 0);
    }
}

TEST(wrong_token_is_403_and_malformed_401)
{
    struct gw_credentials c = creds();
    struct gw_auth_result res;
    struct http_request r = request("GET", "/ms-a/x", NULL);
    header(&r, "Authorization", "Bearer tok-beta-11111111111111111111112");
    gw_authenticate(&c, &r, time(NULL), &res);
    CHECK_EQ_INT(res.status, 403);
    CHECK(strstr(res.reason, "tok-") == NULL); /* never echoes the credential */
    r = request("GET", "/ms-a/x", NULL);
    header(&r, "Authorization", "Basic dXNlcjpwYXNz");
    gw_authenticate(&c, &r, time(NULL), &res);
    CHECK_EQ_INT(res.status, 401);
    r = request("GET", "/ms-a/x", NULL);
    header(&r, "Authorization", "Bearer tok-beta-11111111111111111111111");
    header(&r, "authorization", "Bearer tok-beta-11111111111111111111111");
    gw_authenticate(&c, &r, time(NULL), &res);
    CHECK_EQ_INT(res.status, 401);
    struct gw_credentials none = {NULL, 0, NULL, NULL};
    r = request("GET", "/ms-a/x", NULL);
    header(&r, "Authorization", "tok-beta-11111111111111111111111");
    gw_authenticate(&none, &r, time(NULL), &res);
    CHECK_EQ_INT(res.status, 403);
}

/* §2.4, POST: the reference's vector. */
TEST(app_auth_vector_post)
{
    struct gw_credentials c = creds();
    const char *date = "Thu, 01 Jan 2026 16:15:00 GMT";
    struct http_request r = request("POST", "/tione/v1/models/m:predict", NULL);
    header(&r, "Accept", "application/json");
    header(&r, "Content-Type", "application/json");
    header(&r, "Content-MD5", "NDY4YzE5ZWNiMzMzYmZmOGQwM2ZmY2E5Y2JiODJhZWM=");
    header(&r, "X-Date", date);
    header(&r, "Authorization",
           "hmac id=\"APIDLOCALTEST000000000000000000000000000\", algorithm=\"hmac-sha1\", "
           "headers=\"x-date\", signature=\"JXO02lYLOlVsmVIIeCWwjCoiAhQ=\"");
    r.body = STR_LIT("{\"instances\":[[1.0,2.0,5.0]]}");
    struct gw_auth_result res;
    gw_authenticate(&c, &r, at(date) + 60, &res);
    CHECK_EQ_INT(res.status, 0);
    CHECK(res.token == NULL);
    /* the body changed under its Content-MD5 */
    r.body = STR_LIT("{\"instances\":[[1.0,2.0,6.0]]}");
    gw_authenticate(&c, &r, at(date) + 60, &res);
    CHECK_EQ_INT(res.status, 403);
    r.body = STR_LIT("{\"instances\":[[1.0,2.0,5.0]]}");
    /* 15 minutes either way, not more */
    gw_authenticate(&c, &r, at(date) - 15 * 60, &res);
    CHECK_EQ_INT(res.status, 0);
    gw_authenticate(&c, &r, at(date) + 15 * 60 + 1, &res);
    CHECK_EQ_INT(res.status, 401);
    CHECK(strstr(res.reason, "15 minutes") != NULL);
    /* another path, another method: the signature no longer matches */
    r.path = STR_LIT("/tione/v1/models/n:predict");
    gw_authenticate(&c, &r, at(date), &res);
    CHECK_EQ_INT(res.status, 403);
}

/* §2.4, GET with no body and no Content-Type. */
TEST(app_auth_vector_get)
{
    struct gw_credentials c = creds();
    const char *date = "Thu, 01 Jan 2026 16:15:00 GMT";
    struct http_request r = request("GET", "/tione/v1/models/m/metadata", NULL);
    header(&r, "Accept", "application/json");
    header(&r, "X-Date", date);
    header(&r, "Authorization",
           "hmac id=\"APIDLOCALTEST000000000000000000000000000\", algorithm=\"hmac-sha1\", "
           "headers=\"x-date\", signature=\"UFsYOIwhjJ93cEjF8hqaNfZnzlk=\"");
    struct gw_auth_result res;
    gw_authenticate(&c, &r, at(date), &res);
    CHECK_EQ_INT(res.status, 0);
    /* the wrong key id */
    r.headers[2].value = str_from("hmac id=\"APIDLOCALTEST000000000000000000000000001\", "
                                  "algorithm=\"hmac-sha1\", headers=\"x-date\", "
                                  "signature=\"UFsYOIwhjJ93cEjF8hqaNfZnzlk=\"");
    gw_authenticate(&c, &r, at(date), &res);
    CHECK_EQ_INT(res.status, 403);
}

/* §2.3: the key-pair form signs only the listed headers. */
TEST(key_pair_vector)
{
    struct gw_credentials c = {NULL, 0, "AKIDexample0000000000", "exampleSecretKey0000000000"};
    const char *date = "Mon, 19 Mar 2018 12:08:40 GMT";
    struct http_request r = request("POST", "/ms-a/v1/models/m:predict", NULL);
    header(&r, "X-Date", date);
    header(&r, "Source", "my-client");
    header(&r, "Authorization",
           "hmac id=\"AKIDexample0000000000\", algorithm=\"hmac-sha1\", headers=\"x-date source\", "
           "signature=\"SYXjdnsNG+28PF9TfniMuV+dNTo=\"");
    struct gw_auth_result res;
    gw_authenticate(&c, &r, at(date), &res);
    CHECK_EQ_INT(res.status, 0);
    /* a signed header changed */
    r.headers[1].value = STR_LIT("other-client");
    gw_authenticate(&c, &r, at(date), &res);
    CHECK_EQ_INT(res.status, 403);
}

TEST(malformed_signatures_are_401)
{
    struct gw_credentials c = creds();
    const char *date = "Thu, 01 Jan 2026 16:15:00 GMT";
    const char *bad[] = {
        "hmac id=\"APIDLOCALTEST000000000000000000000000000\", algorithm=\"hmac-sha256\", "
        "headers=\"x-date\", signature=\"UFsYOIwhjJ93cEjF8hqaNfZnzlk=\"",
        "hmac id=\"APIDLOCALTEST000000000000000000000000000\", headers=\"x-date\", "
        "signature=\"UFsYOIwhjJ93cEjF8hqaNfZnzlk=\"",
        "hmac id=\"APIDLOCALTEST000000000000000000000000000\", algorithm=\"hmac-sha1\", "
        "headers=\"source\", signature=\"UFsYOIwhjJ93cEjF8hqaNfZnzlk=\"",
        "hmac id=\"APIDLOCALTEST000000000000000000000000000\", algorithm=\"hmac-sha1\", "
        "headers=\"x-date\", signature=\"not base64\"",
        "hmac id=APIDLOCALTEST000000000000000000000000000, algorithm=\"hmac-sha1\", "
        "headers=\"x-date\", signature=\"UFsYOIwhjJ93cEjF8hqaNfZnzlk=\"",
        "hmac id=\"a\", id=\"b\", algorithm=\"hmac-sha1\", headers=\"x-date\", "
        "signature=\"UFsYOIwhjJ93cEjF8hqaNfZnzlk=\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct http_request r = request("GET", "/tione/v1/models/m/metadata", NULL);
        header(&r, "Accept", "application/json");
        header(&r, "X-Date", date);
        header(&r, "Source", "x");
        header(&r, "Authorization", bad[i]);
        struct gw_auth_result res;
        gw_authenticate(&c, &r, at(date), &res);
        if (res.status != 401)
            printf("# case %zu: %d %s\n", i, res.status, res.reason);
        CHECK_EQ_INT(res.status, 401);
    }
    struct http_request r = request("GET", "/tione/v1/models/m/metadata", NULL);
    header(&r, "X-Date", "yesterday");
    header(&r, "Authorization",
           "hmac id=\"APIDLOCALTEST000000000000000000000000000\", "
           "algorithm=\"hmac-sha1\", headers=\"x-date\", "
           "signature=\"UFsYOIwhjJ93cEjF8hqaNfZnzlk=\"");
    struct gw_auth_result res;
    gw_authenticate(&c, &r, at(date), &res);
    CHECK_EQ_INT(res.status, 401);
    CHECK(strstr(res.reason, "date like") != NULL);
}

/* Query parameters are signed sorted by name. */
TEST(app_auth_sorts_the_query)
{
    struct gw_credentials c = creds();
    const char *date = "Thu, 01 Jan 2026 16:15:00 GMT";
    const char *sts = "x-date: Thu, 01 Jan 2026 16:15:00 GMT\nGET\n\n\n\n/ms-a/v1/x?a=2&b=1&c";
    uint8_t mac[20];
    char b64[32], auth[256];
    crypto_hmac_sha1(c.app_secret, strlen(c.app_secret), sts, strlen(sts), mac);
    crypto_base64(mac, 20, b64);
    snprintf(auth, sizeof(auth),
             "hmac id=\"%s\", algorithm=\"hmac-sha1\", headers=\"x-date\", signature=\"%s\"",
             c.app_key, b64);
    struct http_request r = request("GET", "/ms-a/v1/x", "c&b=1&a=2");
    header(&r, "X-Date", date);
    header(&r, "Authorization", auth);
    struct gw_auth_result res;
    gw_authenticate(&c, &r, at(date), &res);
    CHECK_EQ_INT(res.status, 0);
}
