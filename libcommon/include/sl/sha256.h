#ifndef SL_SHA256_H
#define SL_SHA256_H

/*
 * SHA-256 (FIPS 180-4), self-contained so libcommon needs no crypto library.
 * Used for migration checksums (sl/pg.h) and content-addressed blobs (the
 * scraper stores raw payloads under their digest). Not constant-time and not
 * meant for secrets: it hashes public data.
 *
 *   struct sl_sha256 h;
 *   sl_sha256_init(&h);
 *   sl_sha256_update(&h, buf, len);      any number of times
 *   sl_sha256_final(&h, digest);         or sl_sha256_final_hex(&h, hex)
 *
 * or in one call: sl_sha256_hex(buf, len, hex).
 * All functions are thread-safe on distinct contexts.
 */

#include <stddef.h>
#include <stdint.h>

#define SL_SHA256_LEN     32 /* bytes in a digest */
#define SL_SHA256_HEX_LEN 64 /* characters in its lower-case hex form, NUL excluded */

/* Caller-owned hashing state; no resources, so there is no fini. */
struct sl_sha256 {
        uint32_t h[8];        /* chaining state */
        uint64_t total_bytes; /* bytes hashed so far */
        uint8_t block[64];    /* pending partial block */
        size_t block_used;    /* bytes used in block, 0..63 */
};

/* Starts a new digest in h (also resets a used context). */
void sl_sha256_init(struct sl_sha256 *h);
/* Hashes len bytes of data (data may be NULL when len is 0). */
void sl_sha256_update(struct sl_sha256 *h, const void *data, size_t len);
/*
 * Finishes the digest into out (32 bytes). h must be initialised again
 * before it is reused.
 */
void sl_sha256_final(struct sl_sha256 *h, uint8_t out[SL_SHA256_LEN]);
/* Like sl_sha256_final(), as 64 lower-case hex characters plus a NUL. */
void sl_sha256_final_hex(struct sl_sha256 *h, char out[SL_SHA256_HEX_LEN + 1]);

/* One-shot digest of a buffer. */
void sl_sha256(const void *data, size_t len, uint8_t out[SL_SHA256_LEN]);
/* One-shot digest of a buffer as lower-case hex plus a NUL. */
void sl_sha256_hex(const void *data, size_t len, char out[SL_SHA256_HEX_LEN + 1]);

/* Writes the 64-character lower-case hex form of a digest plus a NUL. */
void sl_sha256_to_hex(const uint8_t digest[SL_SHA256_LEN], char out[SL_SHA256_HEX_LEN + 1]);

#endif
