/*
 * Fuzz target: sl_envelope_parse() (libcommon/src/envelope.c) on any bytes.
 * An accepted envelope must also survive the round trip the header promises:
 * sl_envelope_dup(), then sl_envelope_serialize() output parses back and
 * serializes to identical bytes (what one service writes, the next reads).
 */

#include <stdlib.h>
#include <string.h>

#include <sl/envelope.h>

#include "fuzz.h"

#define REPARSE_MAX_BYTES (8u << 20) /* serializing may grow the input (1e5 -> 100000) */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct sl_envelope *env = NULL, *dup = NULL, *again = NULL;
        char *s1 = NULL, *s2 = NULL;
        size_t n1 = 0, n2 = 0;
        char errstr[256];

        if (sl_envelope_parse((const char *)data, size, 0, &env, errstr, sizeof(errstr)) < 0)
                return 0;
        dup = sl_envelope_dup(env);
        if (!dup)
                abort();
        s1 = sl_envelope_serialize(dup, &n1);
        if (sl_envelope_parse(s1, n1, REPARSE_MAX_BYTES, &again, errstr, sizeof(errstr)) < 0)
                abort(); /* we wrote something we cannot read */
        s2 = sl_envelope_serialize(again, &n2);
        if (n1 != n2 || memcmp(s1, s2, n1) != 0)
                abort(); /* not a fixed point */
        free(s2);
        free(s1);
        sl_envelope_free(again);
        sl_envelope_free(dup);
        sl_envelope_free(env);
        return 0;
}
