/* SHA-256 against FIPS 180-4 / NIST vectors, padding boundaries and split updates. */
#include <sl/sha256.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sl_test.h"

static bool hex_is(const void *data, size_t len, const char *want)
{
        char hex[SL_SHA256_HEX_LEN + 1];

        sl_sha256_hex(data, len, hex);
        if (strcmp(hex, want) != 0) {
                printf("# got  %s\n# want %s\n", hex, want);
                return false;
        }
        return true;
}

/* Repeated 'a' of length n: exercises the 55/56/63/64 padding boundaries. */
static bool a_is(size_t n, const char *want)
{
        char *buf = malloc(n + 1);
        bool ok;

        memset(buf, 'a', n);
        ok = hex_is(buf, n, want);
        free(buf);
        return ok;
}

static void test_nist(void)
{
        SL_CHECK(hex_is("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
        SL_CHECK(
            hex_is(NULL, 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
        SL_CHECK(
            hex_is("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        SL_CHECK(hex_is(m448, strlen(m448),
                        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
        const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                           "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
        SL_CHECK(hex_is(m896, strlen(m896),
                        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"));
        SL_CHECK(a_is(1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
}

static void test_boundaries(void)
{
        SL_CHECK(a_is(1, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"));
        SL_CHECK(a_is(55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"));
        SL_CHECK(a_is(56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"));
        SL_CHECK(a_is(57, "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6"));
        SL_CHECK(a_is(63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"));
        SL_CHECK(a_is(64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"));
        SL_CHECK(a_is(65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"));
        SL_CHECK(a_is(127, "c57e9278af78fa3cab38667bef4ce29d783787a2f731d4e12200270f0c32320a"));
        SL_CHECK(a_is(128, "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e"));
}

/* Feeding the same bytes in pieces of every size 1..130 gives the one-shot digest. */
static void test_split_updates(void)
{
        static const char want[] =
            "e96760a87768717bcebcfd25ddc7d46b4dbc95a4b0014def080c08539f7d90d0";
        size_t n = 256 * 40;
        unsigned char *buf = malloc(n);
        bool all_ok = true;

        for (size_t i = 0; i < n; i++)
                buf[i] = (unsigned char)(i % 256);
        SL_CHECK(hex_is(buf, n, want));
        for (size_t step = 1; step <= 130; step++) {
                struct sl_sha256 h;
                char hex[SL_SHA256_HEX_LEN + 1];

                sl_sha256_init(&h);
                for (size_t off = 0; off < n; off += step)
                        sl_sha256_update(&h, buf + off, off + step <= n ? step : n - off);
                sl_sha256_update(&h, NULL, 0);
                sl_sha256_final_hex(&h, hex);
                if (strcmp(hex, want) != 0) {
                        printf("# step %zu: %s\n", step, hex);
                        all_ok = false;
                }
        }
        SL_CHECK(all_ok);
        free(buf);
}

static void test_binary_and_reuse(void)
{
        uint8_t d1[SL_SHA256_LEN], d2[SL_SHA256_LEN];
        char hex[SL_SHA256_HEX_LEN + 1];
        struct sl_sha256 h;

        sl_sha256("abc", 3, d1);
        sl_sha256_to_hex(d1, hex);
        SL_CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") ==
                 0);
        SL_CHECK(strlen(hex) == SL_SHA256_HEX_LEN);
        /* A context is reusable after init. */
        sl_sha256_init(&h);
        sl_sha256_update(&h, "junk", 4);
        sl_sha256_final(&h, d2);
        sl_sha256_init(&h);
        sl_sha256_update(&h, "ab", 2);
        sl_sha256_update(&h, "c", 1);
        sl_sha256_final(&h, d2);
        SL_CHECK(memcmp(d1, d2, sizeof(d1)) == 0);
}

int main(void)
{
        test_nist();
        test_boundaries();
        test_split_updates();
        test_binary_and_reuse();
        return SL_DONE();
}
