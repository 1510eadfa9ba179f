#ifndef SL_FUZZ_H
#define SL_FUZZ_H

/*
 * The libFuzzer entry points every harness in tests/fuzz/ defines. The same
 * harness source is linked either with libFuzzer (-Dfuzz=true, clang: the
 * fuzz_<target> binaries scripts/fuzz.sh runs) or with replay.c (any
 * compiler: the fuzz_replay_<target> unit tests that feed every file under
 * tests/fuzz/regressions/<target>/ to the same function).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Feeds one input; must never crash, leak or hang on any bytes. Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* One-time setup (servers, temp files); optional, may be called with NULL args. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_HTTP_RESPONSE_MAX (1u << 20) /* bytes of a response kept by fuzz_http_get */
/* An answer later than this is a hang. Generous: a whole-season game log is 8 MB and takes
   ~6 s under ASan + coverage on a loaded machine (0.4 s in a normal build). */
#define FUZZ_HTTP_TIMEOUT_MS 30000

/*
 * fuzz_net.c: sends one GET built from data to 127.0.0.1:port and reads
 * the answer until the server closes or timeout_ms passes. data's first line
 * is the request target ("/path?query"), each further line one header line
 * ("Name: value"); CR, NUL and the line structure are sanitised so exactly
 * one request is sent (then the write side is shut down). The first
 * FUZZ_HTTP_RESPONSE_MAX bytes of the answer go to resp (NUL-terminated, may
 * be NULL). Returns the HTTP status, 0 if the server closed without a status
 * line, or -errno (-ETIMEDOUT when it did not answer in time).
 */
int fuzz_http_get(int port, const uint8_t *data, size_t size, int timeout_ms, char *resp,
                  size_t resp_size);

/* Deletes the directory tree dir (a copy is kept) when the process exits. */
void fuzz_remove_at_exit(const char *dir);

/*
 * True if the response text resp (as fuzz_http_get stored it) has a body
 * exactly equal to text. The targets compare whole bodies, not substrings:
 * libFuzzer learns the needles of strstr() and would echo a marker back
 * through /_stats.
 */
bool fuzz_http_body_is(const char *resp, const char *text);

#endif
