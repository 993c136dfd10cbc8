/* test_tc3.c - TC3-HMAC-SHA256 against the published vectors of
 * ../shared/reference/tione-api.md §1.7, and the verifier's refusals. */
#include "harness.h"

#include "api/tc3.h"
#include "base/crypto.h"

#include <pthread.h>

static const char body_b[] =
    "{\"ServiceGroupName\":\"demo-hpa\",\"ChargeType\":\"POSTPAID_BY_HOUR\",\"InstanceType\":"
    "\"TI.S.MEDIUM.POST\",\"ImageInfo\":{\"ImageType\":\"CUSTOM\",\"ImageUrl\":\"registry.local/"
    "ti/tfserving:2.11\"},\"ModelInfo\":{\"ModelVersionId\":\"mv-v1-0001\"},\"ScaleMode\":\"AUTO\","
    "\"ScaleStrategy\":\"HPA\",\"HorizontalPodAutoscaler\":{\"MinReplicas\":1,\"MaxReplicas\":3,"
    "\"HpaMetrics\":[{\"Name\":\"cpu-util\",\"Value\":60}]}}";
#define ID_B "AKIDLOCALTEST0000000000000000000000"
#define KEY_B "LocalTestSecretKey00000000000000"
#define TS_B 1767284100

static void request_b(struct http_request *req, const char *host)
{
    memset(req, 0, sizeof(*req));
    req->method = STR_LIT("POST");
    req->path = STR_LIT("/");
    req->headers[0] = (struct http_header){STR_LIT("Content-Type"), STR_LIT("application/json")};
    req->headers[1] = (struct http_header){STR_LIT("Host"), str_from(host)};
    req->headers[2] = (struct http_header){STR_LIT("X-TC-Action"), STR_LIT("CreateModelService")};
    req->nheaders = 3;
    req->body = (struct str){body_b, sizeof(body_b) - 1};
}

static bool verify_header(const struct http_request *req, const char *authorization, int64_t ts,
                          const char *key)
{
    struct tc3_auth auth;
    struct err err = {0};
    if (tc3_parse_authorization(str_from(authorization), &auth, &err) != 0)
        return false;
    return tc3_verify(req, &auth, ts, key);
}

TEST(body_b_is_the_reference_length)
{
    CHECK_EQ_INT(sizeof(body_b) - 1, 369);
}

TEST(vector_a_tencent_published_signature)
{
    const char body[] = "{\"Limit\": 1, \"Filters\": [{\"Values\": [\"\\u672a\\u547d\\u540d\"], "
                        "\"Name\": \"instance-name\"}]}";
    struct http_request req = {0};
    req.method = STR_LIT("POST");
    req.path = STR_LIT("/");
    req.headers[0] =
        (struct http_header){STR_LIT("Content-Type"), STR_LIT("application/json; charset=utf-8")};
    req.headers[1] = (struct http_header){STR_LIT("Host"), STR_LIT("cvm.tencentcloudapi.com")};
    req.nheaders = 2;
    req.body = (struct str){body, sizeof(body) - 1};
    CHECK_EQ_INT(req.body.len, 86);
    struct buf canon, sts;
    buf_init(&canon, 1 << 16);
    buf_init(&sts, 1 << 16);
    CHECK_EQ_INT(tc3_canonical_request(&req, STR_LIT("content-type;host"), false, &canon, NULL), 0);
    uint8_t h[32];
    char hex[65];
    crypto_sha256(canon.ptr, canon.len, h);
    crypto_hex(h, 32, hex);
    CHECK_STR_EQ(hex, "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031");
    char date[11], sig[65];
    tc3_date(1551113065, date);
    CHECK_STR_EQ(date, "2019-02-25");
    tc3_string_to_sign(1551113065, date, "cvm", (struct str){canon.ptr, canon.len}, &sts);
    tc3_signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", date, "cvm", (struct str){sts.ptr, sts.len},
                  sig);
    CHECK_STR_EQ(sig, "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168");
    buf_release(&canon);
    buf_release(&sts);
}

TEST(vector_b1_sdk_style_sign_and_verify)
{
    struct buf auth;
    buf_init(&auth, 4096);
    tc3_sign(ID_B, KEY_B, "tione", "127.0.0.1:7700", "application/json", NULL,
             (struct str){body_b, sizeof(body_b) - 1}, TS_B, &auth);
    CHECK_STR_EQ(auth.ptr, "TC3-HMAC-SHA256 Credential=" ID_B "/2026-01-01/tione/tc3_request, "
                           "SignedHeaders=content-type;host, Signature="
                           "b46d096e913d497fce0242aca87fc004bb7227f9f129e994c34fe801cb8ff132");
    struct http_request req;
    request_b(&req, "127.0.0.1:7700");
    CHECK(verify_header(&req, auth.ptr, TS_B, KEY_B));
    CHECK(!verify_header(&req, auth.ptr, TS_B, "LocalTestSecretKey00000000000001"));
    CHECK(!verify_header(&req, auth.ptr, TS_B + 1, KEY_B));
    buf_release(&auth);
}

TEST(vector_b2_signed_action_header)
{
    struct http_request req;
    request_b(&req, "127.0.0.1:7700");
    CHECK(verify_header(&req,
                        "TC3-HMAC-SHA256 Credential=" ID_B "/2026-01-01/tione/tc3_request, "
                        "SignedHeaders=content-type;host;x-tc-action, Signature="
                        "af86f20b1ad530bdfe074eb784f5eb9d6c610f656f32bee27a67087afd0f8f4d",
                        TS_B, KEY_B));
}

TEST(node_sdk_signs_host_without_port)
{
    struct buf auth;
    buf_init(&auth, 4096);
    tc3_sign(ID_B, KEY_B, "tione", "127.0.0.1", "application/json", NULL,
             (struct str){body_b, sizeof(body_b) - 1}, TS_B, &auth);
    struct http_request req;
    request_b(&req, "127.0.0.1:7700"); /* sent with the port */
    CHECK(verify_header(&req, auth.ptr, TS_B, KEY_B));
    buf_release(&auth);
}

TEST(tampered_body_fails)
{
    struct buf auth;
    buf_init(&auth, 4096);
    tc3_sign(ID_B, KEY_B, "tione", "127.0.0.1:7700", "application/json", NULL,
             (struct str){body_b, sizeof(body_b) - 1}, TS_B, &auth);
    struct http_request req;
    request_b(&req, "127.0.0.1:7700");
    req.body.len--;
    CHECK(!verify_header(&req, auth.ptr, TS_B, KEY_B));
    buf_release(&auth);
}

TEST(authorization_parse_errors)
{
    struct tc3_auth a;
    struct err err = {0};
    CHECK(tc3_parse_authorization(STR_LIT("HMAC-SHA1 Credential=x"), &a, &err) != 0);
    CHECK(strstr(err.msg, "TC3-HMAC-SHA256") != NULL);
    CHECK(tc3_parse_authorization(STR_LIT("TC3-HMAC-SHA256 Credential=a/2026-01-01/tione/"
                                          "tc3_request, SignedHeaders=content-type;host"),
                                  &a, &err) != 0);
    CHECK(tc3_parse_authorization(
              STR_LIT("TC3-HMAC-SHA256 Credential=a/2026-01-01/tione, "
                      "SignedHeaders=content-type;host, Signature="
                      "b46d096e913d497fce0242aca87fc004bb7227f9f129e994c34fe801cb8ff132"),
              &a, &err) != 0);
    CHECK(tc3_parse_authorization(
              STR_LIT("TC3-HMAC-SHA256 Credential=a/2026-01-01/tione/tc3_request,"
                      "SignedHeaders=content-type;host,Signature="
                      "b46d096e913d497fce0242aca87fc004bb7227f9f129e994c34fe801cb8ff132"),
              &a, &err) == 0);
    CHECK(str_eq_cstr(a.secret_id, "a"));
    CHECK(str_eq_cstr(a.service, "tione"));
}

TEST(signed_headers_must_cover_content_type_and_host)
{
    struct http_request req;
    request_b(&req, "127.0.0.1:7700");
    struct buf canon;
    buf_init(&canon, 1 << 16);
    struct err err = {0};
    CHECK(tc3_canonical_request(&req, STR_LIT("host"), false, &canon, &err) != 0);
    CHECK(strstr(err.msg, "content-type") != NULL);
    CHECK(tc3_canonical_request(&req, STR_LIT("content-type;host;x-tc-missing"), false, &canon,
                                &err) != 0);
    CHECK(strstr(err.msg, "x-tc-missing") != NULL);
    buf_release(&canon);
}

TEST(berth_cli_signs_the_action_like_vector_b2)
{
    struct buf auth;
    buf_init(&auth, 4096);
    tc3_sign(ID_B, KEY_B, "tione", "127.0.0.1:7700", "application/json", "CreateModelService",
             (struct str){body_b, sizeof(body_b) - 1}, TS_B, &auth);
    CHECK_STR_EQ(auth.ptr, "TC3-HMAC-SHA256 Credential=" ID_B "/2026-01-01/tione/tc3_request, "
                           "SignedHeaders=content-type;host;x-tc-action, Signature="
                           "af86f20b1ad530bdfe074eb784f5eb9d6c610f656f32bee27a67087afd0f8f4d");
    struct http_request req;
    request_b(&req, "127.0.0.1:7700");
    CHECK(verify_header(&req, auth.ptr, TS_B, KEY_B));
    /* The same signature with another action does not verify. */
    req.headers[2].value = STR_LIT("DeleteModelService");
    CHECK(!verify_header(&req, auth.ptr, TS_B, KEY_B));
    buf_release(&auth);
}

/* A signature as the verifier hands it over: 64 lower-case hex digits. */
static struct str test_signature(int i, char out[65])
{
    uint8_t h[32];
    crypto_sha256(&i, sizeof(i), h);
    crypto_hex(h, 32, out);
    return (struct str){out, 64};
}

/* Bindings of the replay tests: an action, a region and a version. */
#define DESCRIBE STR_LIT("DescribeModelService\nap-guangzhou\n2021-11-11")
#define REMOVE STR_LIT("DeleteModelService\nap-guangzhou\n2021-11-11")
#define OTHER_REGION STR_LIT("DescribeModelService\nap-shanghai\n2021-11-11")

/* Whether a use from the usual client address is admitted. */
static bool admitted(struct tc3_replay *r, struct str sig, struct str binding, int64_t expires_ms,
                     int64_t now_ms)
{
    return tc3_replay_check(r, sig, binding, "127.0.0.1", expires_ms, now_ms) == TC3_REPLAY_OK;
}

TEST(replay_binds_a_signature_to_its_first_use)
{
    struct tc3_replay *r = tc3_replay_new(16, 2000);
    char s1[65], s2[65];
    struct str a = test_signature(1, s1), b = test_signature(2, s2);
    struct str other_version = STR_LIT("DescribeModelService\nap-guangzhou\n2017-03-12");
    int64_t t = 1000000, exp = t + 300000;
    CHECK(admitted(r, a, DESCRIBE, exp, t));
    CHECK(admitted(r, a, DESCRIBE, exp, t + 2500)); /* the same request again: a retry */
    CHECK(!admitted(r, a, REMOVE, exp, t + 2001));
    CHECK(!admitted(r, a, OTHER_REGION, exp, t + 60000));
    CHECK(!admitted(r, a, other_version, exp, t + 299000));
    CHECK(admitted(r, a, DESCRIBE, exp, t + 299000));
    CHECK(admitted(r, b, REMOVE, exp, t + 3000)); /* another signature is free */
    CHECK_EQ_INT(tc3_replay_count(r), 2);
    CHECK(!admitted(r, STR_LIT("not hex"), DESCRIBE, exp, t));
    tc3_replay_free(r);
    tc3_replay_free(NULL);
}

/* Two calls signed in the same second with the same body share a signature:
 * the second may bind it too, within the grace period, and both stay valid. */
TEST(replay_grace_lets_a_client_make_its_next_call)
{
    struct tc3_replay *r = tc3_replay_new(16, 2000);
    char s1[65];
    struct str a = test_signature(1, s1);
    struct str bind[6] = {STR_LIT("A\nr\nv"), STR_LIT("B\nr\nv"), STR_LIT("C\nr\nv"),
                          STR_LIT("D\nr\nv"), STR_LIT("E\nr\nv"), STR_LIT("F\nr\nv")};
    int64_t t = 1000000, exp = t + 300000;
    CHECK(admitted(r, a, bind[0], exp, t));
    CHECK(admitted(r, a, bind[1], exp, t + 900));
    CHECK(admitted(r, a, bind[2], exp, t + 1500));
    CHECK(admitted(r, a, bind[3], exp, t + 2000));
    CHECK(!admitted(r, a, bind[4], exp, t + 2000)); /* at most TC3_REPLAY_BINDINGS */
    for (int i = 0; i < 4; i++)                     /* retries of each still pass */
        CHECK(admitted(r, a, bind[i], exp, t + 10000));
    CHECK(!admitted(r, a, bind[5], exp, t + 2001));
    CHECK_EQ_INT(tc3_replay_count(r), 1);
    tc3_replay_free(r);
}

/* A captured request replayed as another action within the grace period,
 * from an address other than the client's: refused; the client's own next
 * call from its address still binds. */
TEST(replay_grace_is_for_the_first_use_address_only)
{
    struct tc3_replay *r = tc3_replay_new(16, 2000);
    char s1[65], s2[65];
    struct str a = test_signature(1, s1), b = test_signature(2, s2);
    int64_t t = 1000000, exp = t + 300000;
    CHECK_EQ_INT(tc3_replay_check(r, a, DESCRIBE, "127.0.0.1", exp, t), TC3_REPLAY_OK);
    CHECK_EQ_INT(tc3_replay_check(r, a, REMOVE, "127.0.0.2", exp, t + 10), TC3_REPLAY_OTHER_PEER);
    CHECK_EQ_INT(tc3_replay_check(r, a, OTHER_REGION, "::1", exp, t + 10), TC3_REPLAY_OTHER_PEER);
    CHECK_EQ_INT(tc3_replay_check(r, a, REMOVE, NULL, exp, t + 10), TC3_REPLAY_OTHER_PEER);
    /* A refused attempt binds nothing: the client's own next call still may. */
    CHECK_EQ_INT(tc3_replay_check(r, a, REMOVE, "127.0.0.1", exp, t + 20), TC3_REPLAY_OK);
    /* The same request again passes from anywhere (a retry adds no binding). */
    CHECK_EQ_INT(tc3_replay_check(r, a, DESCRIBE, "127.0.0.2", exp, t + 30), TC3_REPLAY_OK);
    CHECK_EQ_INT(tc3_replay_check(r, a, REMOVE, "127.0.0.2", exp, t + 30), TC3_REPLAY_OK);
    /* Past the grace period the reason is the binding, whatever the address. */
    CHECK_EQ_INT(tc3_replay_check(r, a, OTHER_REGION, "127.0.0.1", exp, t + 2001),
                 TC3_REPLAY_BOUND);
    CHECK_EQ_INT(tc3_replay_check(r, a, OTHER_REGION, "127.0.0.2", exp, t + 2001),
                 TC3_REPLAY_BOUND);
    /* The first use's address is what counts, not the latest one's. */
    CHECK_EQ_INT(tc3_replay_check(r, b, DESCRIBE, "10.0.0.7", exp, t), TC3_REPLAY_OK);
    CHECK_EQ_INT(tc3_replay_check(r, b, DESCRIBE, "127.0.0.1", exp, t + 1), TC3_REPLAY_OK);
    CHECK_EQ_INT(tc3_replay_check(r, b, REMOVE, "127.0.0.1", exp, t + 2), TC3_REPLAY_OTHER_PEER);
    CHECK_EQ_INT(tc3_replay_check(r, b, REMOVE, "10.0.0.7", exp, t + 3), TC3_REPLAY_OK);
    CHECK_EQ_INT(tc3_replay_check(r, STR_LIT("not hex"), DESCRIBE, "127.0.0.1", exp, t),
                 TC3_REPLAY_MALFORMED);
    tc3_replay_free(r);
}

TEST(replay_record_is_bounded_and_forgets_the_oldest_first)
{
    struct tc3_replay *r = tc3_replay_new(4, 0);
    struct str one = STR_LIT("A\nr\nv"), two = STR_LIT("B\nr\nv");
    char sig[8][65];
    for (int i = 0; i < 6; i++)
        CHECK(admitted(r, test_signature(i, sig[i]), one, 2000, 1000));
    CHECK_EQ_INT(tc3_replay_count(r), 4);
    /* 0 and 1 were dropped to make room; 2 to 5 are still bound. */
    for (int i = 2; i < 6; i++)
        CHECK(!admitted(r, test_signature(i, sig[i]), two, 2000, 1001));
    CHECK(admitted(r, test_signature(0, sig[0]), two, 2000, 1001)); /* forgotten */
    CHECK_EQ_INT(tc3_replay_count(r), 4);
    CHECK(!admitted(r, test_signature(0, sig[0]), one, 2000, 1002)); /* now bound to B */
    /* Expired entries go first, whatever the count. */
    CHECK(admitted(r, test_signature(7, sig[7]), one, 3000, 2000));
    CHECK_EQ_INT(tc3_replay_count(r), 1);
    CHECK(admitted(r, test_signature(3, sig[3]), two, 3000, 2000)); /* expired: free */
    tc3_replay_free(r);
}

struct replay_worker {
    struct tc3_replay *r;
    int first, refused;
};

static void *replay_hammer(void *arg)
{
    struct replay_worker *w = arg;
    char sig[65];
    for (int i = 0; i < 20000; i++) {
        struct str s = test_signature(w->first + i % 3000, sig);
        if (!admitted(w->r, s, STR_LIT("same"), 10000, 1000))
            w->refused++;
    }
    return NULL;
}

TEST(replay_record_is_shared_by_threads)
{
    struct tc3_replay *r = tc3_replay_new(1000, 0);
    struct replay_worker w[2] = {{r, 0, 0}, {r, 1500, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK_EQ_INT(pthread_create(&t[i], NULL, replay_hammer, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ_INT(tc3_replay_count(r), 1000);
    CHECK_EQ_INT(w[0].refused + w[1].refused, 0); /* one binding: never refused */
    tc3_replay_free(r);
}
