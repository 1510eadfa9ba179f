#ifndef SCRAPER_BLOB_H
#define SCRAPER_BLOB_H

/*
 * The content-addressed blob store: a payload is stored, unchanged, as
 * <dir>/<sha256[0:2]>/<sha256>.json, so a blob's name is its digest and the
 * same bytes are stored once. Writes are atomic (temp file in the same
 * directory, fsync, rename, fsync of the directory): a reader sees either no
 * blob or the whole blob, also after a crash.
 */

#include <stdbool.h>
#include <stddef.h>

#include <sl/sha256.h>

/* Bytes of a relative blob path: "ab/" + 64 hex + ".json" + NUL. */
#define SCRAPER_BLOB_REL_MAX (3 + SL_SHA256_HEX_LEN + 5 + 1)

/*
 * Writes the path of the blob with digest sha (64 lower-case hex characters)
 * relative to the store ("ab/ab12....json") into out. Returns 0, -EINVAL
 * (sha is not 64 lower-case hex characters) or -ENAMETOOLONG.
 */
int scraper_blob_relpath(const char *sha, char *out, size_t out_size);

/*
 * Creates the store directory dir if missing (like mkdir -p) and checks that
 * it is a writable directory. Returns 0 or a negative errno with the reason
 * in errstr.
 */
int scraper_blob_open_dir(const char *dir, char *errstr, size_t errstr_size);

/*
 * Stores len bytes of data under their SHA-256 in the store at dir (created
 * if missing, like mkdir -p). The digest is written to sha (lower-case hex).
 * When a blob of that digest and size already exists nothing is written and
 * *written is false; otherwise the blob is written atomically and *written
 * is true (an existing file of the wrong size, a damaged blob, is replaced).
 * Returns 0 or a negative errno with the failing step and path in errstr.
 * Thread rules: safe from several processes at once (unique temp names,
 * rename is atomic, the bytes of one digest are the same).
 */
int scraper_blob_put(const char *dir, const void *data, size_t len, char sha[SL_SHA256_HEX_LEN + 1],
                     bool *written, char *errstr, size_t errstr_size);

#endif
