/* test_crypto.c - sealing secrets at rest, and the HMAC-SHA1 vectors of the
 * data-plane signatures (reference tione-api.md §2.3, §2.4). */
#include "harness.h"

#include "base/crypto.h"
#include "base/err.h"

static const uint8_t key1[CRYPTO_SEAL_KEY_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const uint8_t key2[CRYPTO_SEAL_KEY_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 10};

TEST(seal_round_trip)
{
    const char *secret = "8PyrHoGd6uZ52hQ-some-token-value";
    char sealed[256], plain[256];
    CHECK(crypto_sealed_size(strlen(secret)) <= sizeof(sealed));
    crypto_seal(key1, "tok-1", secret, strlen(secret), sealed);
    CHECK_EQ_INT(strlen(sealed) + 1, crypto_sealed_size(strlen(secret)));
    CHECK(strncmp(sealed, "v1:", 3) == 0);
    CHECK(strstr(sealed, secret) == NULL);
    size_t n = 0;
    CHECK_EQ_INT(crypto_open(key1, "tok-1", sealed, plain, &n), 0);
    CHECK_EQ_INT(n, strlen(secret));
    CHECK_STR_EQ(plain, secret);
}

TEST(seal_uses_a_fresh_nonce)
{
    char a[128], b[128];
    crypto_seal(key1, "x", "same", 4, a);
    crypto_seal(key1, "x", "same", 4, b);
    CHECK(strcmp(a, b) != 0);
}

TEST(seal_empty_value)
{
    char sealed[64], plain[64];
    size_t n = 7;
    crypto_seal(key1, "e", "", 0, sealed);
    CHECK_EQ_INT(crypto_open(key1, "e", sealed, plain, &n), 0);
    CHECK_EQ_INT(n, 0);
    CHECK_STR_EQ(plain, "");
}

TEST(open_refuses_other_key_other_row_and_tampering)
{
    char sealed[128], plain[128];
    size_t n;
    crypto_seal(key1, "ms-abc", "AppSecret0000", 13, sealed);
    CHECK_EQ_INT(crypto_open(key2, "ms-abc", sealed, plain, &n), ERR_INVALID);
    CHECK_EQ_INT(crypto_open(key1, "ms-abd", sealed, plain, &n), ERR_INVALID);
    char t[128];
    for (size_t i = 3; i < strlen(sealed); i++) {
        strcpy(t, sealed);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        if (crypto_open(key1, "ms-abc", t, plain, &n) == 0 && strcmp(plain, "AppSecret0000") != 0)
            CHECK(!"a changed sealed text opened to something else");
    }
    strcpy(t, sealed);
    t[strlen(t) - 4] = t[strlen(t) - 4] == 'A' ? 'B' : 'A'; /* inside the tag */
    CHECK_EQ_INT(crypto_open(key1, "ms-abc", t, plain, &n), ERR_INVALID);
    CHECK_EQ_INT(crypto_open(key1, "ms-abc", "AppSecret0000", plain, &n), ERR_INVALID);
    CHECK_EQ_INT(crypto_open(key1, "ms-abc", "v1:", plain, &n), ERR_INVALID);
    CHECK_EQ_INT(crypto_open(key1, "ms-abc", "v1:AAAA", plain, &n), ERR_INVALID);
    CHECK_EQ_INT(crypto_open(key1, "ms-abc", "v1:not base64!", plain, &n), ERR_INVALID);
}

/* §2.3: key-pair signature. */
TEST(hmac_sha1_key_pair_vector)
{
    const char *secret = "exampleSecretKey0000000000";
    const char *msg = "x-date: Mon, 19 Mar 2018 12:08:40 GMT\nsource: my-client";
    uint8_t mac[20];
    char b64[32];
    crypto_hmac_sha1(secret, strlen(secret), msg, strlen(msg), mac);
    crypto_base64(mac, sizeof(mac), b64);
    CHECK_STR_EQ(b64, "SYXjdnsNG+28PF9TfniMuV+dNTo=");
}

/* §2.4: application signature, POST and GET. */
TEST(hmac_sha1_app_auth_vectors)
{
    const char *secret = "LocalAppSecret00000000000000000000000000";
    const char *post =
        "x-date: Thu, 01 Jan 2026 16:15:00 GMT\nPOST\napplication/json\napplication/"
        "json\nNDY4YzE5ZWNiMzMzYmZmOGQwM2ZmY2E5Y2JiODJhZWM=\n/tione/v1/models/m:predict";
    const char *get = "x-date: Thu, 01 Jan 2026 16:15:00 "
                      "GMT\nGET\napplication/json\n\n\n/tione/v1/models/m/metadata";
    uint8_t mac[20];
    char b64[32];
    crypto_hmac_sha1(secret, strlen(secret), post, strlen(post), mac);
    crypto_base64(mac, sizeof(mac), b64);
    CHECK_STR_EQ(b64, "JXO02lYLOlVsmVIIeCWwjCoiAhQ=");
    crypto_hmac_sha1(secret, strlen(secret), get, strlen(get), mac);
    crypto_base64(mac, sizeof(mac), b64);
    CHECK_STR_EQ(b64, "UFsYOIwhjJ93cEjF8hqaNfZnzlk=");
}

TEST(unhex_exact_lengths_and_digits)
{
    uint8_t out[3];
    CHECK_EQ_INT(crypto_unhex("00aFf1", 6, out, 3), 0);
    CHECK(out[0] == 0x00 && out[1] == 0xaf && out[2] == 0xf1);
    CHECK_EQ_INT(crypto_unhex("00aFf", 5, out, 3), ERR_INVALID);
    CHECK_EQ_INT(crypto_unhex("00aFf1ff", 8, out, 3), ERR_INVALID);
    CHECK_EQ_INT(crypto_unhex("00aFg1", 6, out, 3), ERR_INVALID);
    CHECK_EQ_INT(crypto_unhex("00 a f1", 6, out, 3), ERR_INVALID);
}
