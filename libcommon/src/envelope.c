#include <sl/envelope.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include <sl/log.h>
#include <sl/util.h>

/*
 * Envelope parsing happens in three bounded passes:
 *   1. scan_document(): one linear pass over the raw bytes that rejects what
 *      cJSON 1.7.15 would accept or mis-handle: invalid UTF-8, raw control
 *      bytes in strings, "\u0000" escapes (cJSON would silently truncate the
 *      string there), non-RFC 8259 numbers ("01", "1.", "-.5"), a leading
 *      byte-order mark, NUL bytes, nesting deeper than SL_ENVELOPE_MAX_DEPTH
 *      (before cJSON recurses) and more than SL_ENVELOPE_MAX_VALUES values
 *      (before cJSON allocates ~64 bytes per value).
 *   2. cJSON_ParseWithLengthOpts() on a NUL-terminated copy bounded by len;
 *      we then require that only whitespace follows the value (the
 *      require_null_terminated rule, checked by hand for a better message).
 *   3. check_dups() (sort the member names of every object: O(n log n)) and
 *      decode_fields(), which validates and copies every envelope field.
 */

/* Field length caps in bytes (see proto/envelope.schema.json). */
#define VERSION_MAX     16
#define TYPE_MAX        64
#define SPORT_MAX       16
#define KIND_MAX        32
#define PRODUCED_MAX    40
#define TRACEPARENT_LEN 55
#define NUMBER_MAX      63 /* cJSON copies at most 63 number characters */

/*
 * Accepted values of "phase": the six services, then "ops" for operator
 * tools (DLQ replay, manual triggers) and "backfill" for historical re-runs.
 */
static const char *const phases[] = {"scraper",    "raw",        "analytics", "precompute",
                                     "prediction", "publishing", "ops",       "backfill"};

/* Writes a formatted reason into errstr (truncation is harmless) and returns -EBADMSG. */
__attribute__((format(printf, 3, 4))) static int fail(char *errstr, size_t errstr_size,
                                                      const char *fmt, ...)
{
        va_list ap;

        if (errstr && errstr_size > 0) {
                va_start(ap, fmt);
                if (vsnprintf(errstr, errstr_size, fmt, ap) < 0)
                        errstr[0] = '\0';
                va_end(ap);
        }
        return -EBADMSG;
}

/* cJSON reports out of memory as NULL/false: same policy as sl_xmalloc (log, abort). */
static void *must(void *p)
{
        if (!p) {
                sl_log_error("envelope.oom", "cJSON allocation failed");
                abort();
        }
        return p;
}

/* Copies untrusted text into out for an error message: printable ASCII only, at most 40 bytes. */
static const char *sanitize(const char *s, char out[48])
{
        size_t i = 0;

        for (; s && *s && i < 40; s++)
                out[i++] = (*s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\') ? *s : '?';
        if (s && *s) {
                memcpy(out + i, "...", 3);
                i += 3;
        }
        out[i] = '\0';
        return out;
}

const char *sl_json_type_name(const cJSON *item)
{
        if (!item)
                return "nothing";
        switch (item->type & 0xff) {
        case cJSON_False:
        case cJSON_True:
                return "boolean";
        case cJSON_NULL:
                return "null";
        case cJSON_Number:
                return "number";
        case cJSON_String:
                return "string";
        case cJSON_Array:
                return "array";
        case cJSON_Object:
                return "object";
        default:
                return "invalid";
        }
}

/* ---- pass 1: raw byte scan ------------------------------------------------------------- */

/* State of pass 1; every error goes through fail() with errstr. */
struct scan {
        const unsigned char *p; /* input, borrowed */
        size_t len;             /* bytes at p */
        size_t i;               /* current offset */
        int depth;              /* open objects/arrays */
        size_t values;          /* upper bound on JSON values seen so far */
        char *errstr;           /* caller's buffer for the reason, may be NULL */
        size_t errstr_size;
};

/* Length of the valid UTF-8 sequence at p, or 0 (RFC 3629: no overlong, surrogate, > U+10FFFF). */
static size_t utf8_seq_len(const unsigned char *p, size_t avail)
{
        unsigned char c = p[0], lo = 0x80, hi = 0xbf;
        size_t n;

        if (c < 0x80)
                return 1;
        if (c < 0xc2 || c > 0xf4)
                return 0;
        if (c < 0xe0) {
                n = 2;
        } else if (c < 0xf0) {
                n = 3;
                lo = c == 0xe0 ? 0xa0 : 0x80; /* overlong */
                hi = c == 0xed ? 0x9f : 0xbf; /* UTF-16 surrogates */
        } else {
                n = 4;
                lo = c == 0xf0 ? 0x90 : 0x80; /* overlong */
                hi = c == 0xf4 ? 0x8f : 0xbf; /* above U+10FFFF */
        }
        if (avail < n || p[1] < lo || p[1] > hi)
                return 0;
        for (size_t k = 2; k < n; k++) {
                if ((p[k] & 0xc0) != 0x80)
                        return 0;
        }
        return n;
}

/* Printable ASCII other than '"' and '\\': the bytes a string scan can step over at once. */
static bool is_plain(unsigned char c)
{
        return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* Scans a string starting at the opening quote; leaves sc->i after the closing quote. */
static int scan_string(struct scan *sc)
{
        size_t start = sc->i++;

        while (sc->i < sc->len) {
                const unsigned char *c = sc->p + sc->i;
                size_t n;

                if (is_plain(*c)) { /* fast path: most of any payload */
                        size_t i = sc->i + 1;
                        while (i < sc->len && is_plain(sc->p[i]))
                                i++;
                        sc->i = i;
                        continue;
                }
                if (*c == '"') {
                        sc->i++;
                        return 0;
                }
                if (*c < 0x20)
                        return fail(sc->errstr, sc->errstr_size,
                                    "JSON: unescaped control byte 0x%02x in string at byte %zu", *c,
                                    sc->i);
                if (*c == '\\') {
                        /* cJSON checks the escape itself; we only refuse U+0000 */
                        if (sc->len - sc->i >= 6 && c[1] == 'u' && !memcmp(c + 2, "0000", 4))
                                return fail(sc->errstr, sc->errstr_size,
                                            "JSON: \\u0000 escape in string at byte %zu", sc->i);
                        sc->i += sc->i + 1 < sc->len ? 2 : 1;
                        continue;
                }
                n = utf8_seq_len(c, sc->len - sc->i);
                if (n == 0)
                        return fail(sc->errstr, sc->errstr_size,
                                    "JSON: invalid UTF-8 in string at byte %zu", sc->i);
                sc->i += n;
        }
        return fail(sc->errstr, sc->errstr_size,
                    "JSON: truncated: string starting at byte %zu is not terminated", start);
}

/* JSON whitespace (RFC 8259); cJSON itself skips every byte <= 0x20. */
static bool is_space(unsigned char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool only_space(const unsigned char *p, size_t len)
{
        for (size_t i = 0; i < len; i++) {
                if (!is_space(p[i]))
                        return false;
        }
        return true;
}

static bool is_digit(unsigned char c)
{
        return c >= '0' && c <= '9';
}

/* Bytes cJSON's number scanner consumes (it hands [0-9+-.eE]* to strtod). */
static bool is_number_char(unsigned char c)
{
        return is_digit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/*
 * Length of an RFC 8259 number at p, or 0:
 *   -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
 * cJSON alone would also take "01", "1." and "-.5" (strtod does).
 */
static size_t number_len(const unsigned char *p, size_t avail)
{
        size_t i = 0, start;

        if (i < avail && p[i] == '-')
                i++;
        if (i >= avail || !is_digit(p[i]))
                return 0;
        if (p[i++] != '0') {
                while (i < avail && is_digit(p[i]))
                        i++;
        }
        if (i < avail && p[i] == '.') {
                start = ++i;
                while (i < avail && is_digit(p[i]))
                        i++;
                if (i == start)
                        return 0;
        }
        if (i < avail && (p[i] == 'e' || p[i] == 'E')) {
                i++;
                if (i < avail && (p[i] == '+' || p[i] == '-'))
                        i++;
                start = i;
                while (i < avail && is_digit(p[i]))
                        i++;
                if (i == start)
                        return 0;
        }
        return i;
}

/* Checks the number at sc->i; a number char right after it ("01", "1.2.3") makes it invalid. */
static int scan_number(struct scan *sc)
{
        size_t n = number_len(sc->p + sc->i, sc->len - sc->i);

        if (n == 0 || (sc->i + n < sc->len && is_number_char(sc->p[sc->i + n])))
                return fail(sc->errstr, sc->errstr_size, "JSON: invalid number at byte %zu", sc->i);
        if (n > NUMBER_MAX)
                return fail(sc->errstr, sc->errstr_size,
                            "JSON: number at byte %zu is longer than %d characters", sc->i,
                            NUMBER_MAX);
        sc->i += n;
        return 0;
}

/*
 * Handles one byte outside strings: brackets, commas, colons, whitespace and
 * the letters of true/false/null (cJSON checks the literals). Values are
 * bounded by 1 + brackets + commas, since every value but the first is
 * either a container or follows a comma.
 */
static int scan_structural(struct scan *sc)
{
        unsigned char c = sc->p[sc->i];

        if (c == '{' || c == '[') {
                if (++sc->depth > SL_ENVELOPE_MAX_DEPTH)
                        return fail(sc->errstr, sc->errstr_size,
                                    "JSON: nesting deeper than %d at byte %zu",
                                    SL_ENVELOPE_MAX_DEPTH, sc->i);
                sc->values++;
        } else if (c == '}' || c == ']') {
                if (sc->depth-- == 0)
                        return fail(sc->errstr, sc->errstr_size,
                                    "JSON: unbalanced '%c' at byte %zu", c, sc->i);
        } else if (c == ',') {
                sc->values++;
        } else if (c >= 0x80) {
                return fail(sc->errstr, sc->errstr_size,
                            "JSON: non-ASCII byte 0x%02x outside a string at byte %zu", c, sc->i);
        } else if (c < 0x20 && !is_space(c)) {
                return fail(sc->errstr, sc->errstr_size,
                            "JSON: control byte 0x%02x outside a string at byte %zu", c, sc->i);
        }
        if (sc->values > SL_ENVELOPE_MAX_VALUES)
                return fail(sc->errstr, sc->errstr_size, "JSON: more than %d values",
                            SL_ENVELOPE_MAX_VALUES);
        sc->i++;
        return 0;
}

/* Pass 1 (see the top of this file). Structure proper is left to cJSON. */
static int scan_document(const unsigned char *p, size_t len, char *errstr, size_t errstr_size)
{
        struct scan sc = {
            .p = p, .len = len, .values = 1, .errstr = errstr, .errstr_size = errstr_size};
        int rc = 0;

        if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
                return fail(errstr, errstr_size, "JSON: input starts with a byte-order mark");
        while (rc == 0 && sc.i < len) {
                unsigned char c = p[sc.i];
                if (c == '"')
                        rc = scan_string(&sc);
                else if (c == '-' || is_digit(c))
                        rc = scan_number(&sc);
                else
                        rc = scan_structural(&sc);
        }
        if (rc == 0 && only_space(p, len))
                rc = fail(errstr, errstr_size, "empty input (only whitespace)");
        if (rc == 0 && sc.depth > 0)
                rc = fail(errstr, errstr_size,
                          "JSON: truncated: %d object(s)/array(s) not closed at end of input",
                          sc.depth);
        return rc;
}

/* ---- pass 3a: duplicate keys ------------------------------------------------------------ */

/* Scratch array for member names, reused by every object (sorted, then discarded). */
struct names {
        const char **v; /* borrowed member names, owned by the cJSON tree */
        size_t cap;
};

/* sl_qsort() comparator over const char * elements. */
static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts the member names of object obj and reports the first repeated one. */
static int check_object_dups(const cJSON *obj, struct names *nm, const char *where, char *errstr,
                             size_t errstr_size)
{
        size_t n = 0;
        char safe[48], safe_where[48];

        for (const cJSON *it = obj->child; it; it = it->next) {
                if (n == nm->cap) {
                        nm->cap = nm->cap ? nm->cap * 2 : 32;
                        nm->v = sl_xrealloc(nm->v, nm->cap * sizeof(*nm->v));
                }
                nm->v[n++] = it->string ? it->string : "";
        }
        if (n < 2)
                return 0;
        sl_qsort(nm->v, n, sizeof(*nm->v), cmp_names);
        for (size_t k = 1; k < n; k++) {
                if (strcmp(nm->v[k - 1], nm->v[k]) != 0)
                        continue;
                if (!where)
                        return fail(errstr, errstr_size, "JSON: duplicate key \"%s\"",
                                    sanitize(nm->v[k], safe));
                return fail(errstr, errstr_size, "%s: duplicate key \"%s\" in a nested object",
                            sanitize(where, safe_where), sanitize(nm->v[k], safe));
        }
        return 0;
}

/*
 * Rejects an object with a repeated member name anywhere in the tree: cJSON
 * keeps both and lookups return the first, which a different parser would not.
 * Recursion depth is bounded by SL_ENVELOPE_MAX_DEPTH (pass 1). where is the
 * top-level member we are under (NULL at the root), for the message.
 */
static int check_dups(const cJSON *item, struct names *nm, const char *where, char *errstr,
                      size_t errstr_size)
{
        int rc = 0;

        if (cJSON_IsObject(item))
                rc = check_object_dups(item, nm, where, errstr, errstr_size);
        for (const cJSON *it = item->child; rc == 0 && it; it = it->next) {
                if (cJSON_IsObject(it) || cJSON_IsArray(it))
                        rc = check_dups(it, nm, where ? where : it->string, errstr, errstr_size);
        }
        return rc;
}

/* ---- field validators (shared by parse and the builders) ------------------------------- */

/* ASCII-only classifiers: the locale must not change what a valid id is. */
static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_lower_hex(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* True if s has no byte below 0x20 and no DEL. */
static bool no_controls(const char *s)
{
        for (; *s; s++) {
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return false;
        }
        return true;
}

/* ^[a-z]+(\.[a-z_]+)+$, at most TYPE_MAX bytes. */
static bool valid_type(const char *s)
{
        size_t len = strlen(s), segs = 0, seglen = 0;

        if (len == 0 || len > TYPE_MAX)
                return false;
        for (const char *c = s; *c; c++) {
                if (*c == '.') {
                        if (seglen == 0)
                                return false;
                        segs++;
                        seglen = 0;
                } else if ((*c >= 'a' && *c <= 'z') || (*c == '_' && segs > 0)) {
                        seglen++;
                } else {
                        return false;
                }
        }
        return segs > 0 && seglen > 0;
}

/* True if s is one of phases[]. */
static bool valid_phase(const char *s)
{
        for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
                if (strcmp(s, phases[i]) == 0)
                        return true;
        }
        return false;
}

/* ^[a-z][a-z0-9_]{min_tail,max_tail}$ (sport: 1..15, entity kind: 0..31). */
static bool valid_ident(const char *s, size_t min_tail, size_t max_tail)
{
        size_t n = 0;

        if (*s < 'a' || *s > 'z')
                return false;
        for (const char *c = s + 1; *c; c++, n++) {
                if (!is_lower_alnum(*c) && *c != '_')
                        return false;
        }
        return n >= min_tail && n <= max_tail;
}

/* Sport keys: "nba", "nhl", "ncaab"; at least two characters. */
static bool valid_sport(const char *s)
{
        return valid_ident(s, 1, SPORT_MAX - 1);
}

/* Entity kinds: "game", "team", "player", ... */
static bool valid_kind(const char *s)
{
        return valid_ident(s, 0, KIND_MAX - 1);
}

/* League ids are opaque strings ("0022500165", "2544"): only length and control bytes checked. */
static bool valid_entity_id(const char *s)
{
        size_t len = strlen(s);
        return len > 0 && len <= SL_ENVELOPE_MAX_ENTITY_ID && no_controls(s);
}

/* Idempotency keys end up in Redis keys and SQL rows: bounded, printable. */
static bool valid_idem_key(const char *s)
{
        size_t len = strlen(s);
        return len > 0 && len <= SL_ENVELOPE_MAX_IDEM_KEY && no_controls(s);
}

/*
 * Canonical lower-case UUID text that is not the nil UUID. Ids are compared
 * and stored as strings (idempotency keys, log fields, SQL), so only one
 * spelling is accepted on the wire; writers use lower case (RFC 9562).
 */
static bool valid_uuid(const char *s)
{
        if (!sl_uuid_valid(s) || strcmp(s, "00000000-0000-0000-0000-000000000000") == 0)
                return false;
        for (; *s; s++) {
                if (*s >= 'A' && *s <= 'F')
                        return false;
        }
        return true;
}

/* Returns NULL if s is a lower-case UUIDv7 with the RFC 9562 variant, else why not. */
static const char *uuid7_problem(const char *s)
{
        if (!valid_uuid(s))
                return sl_uuid_valid(s) ? "not a UUIDv7 (upper-case or nil UUID)" : "not a UUIDv7";
        if (sl_uuid_version(s) != 7)
                return "not a UUIDv7 (version nibble is not 7)";
        if (s[19] != '8' && s[19] != '9' && s[19] != 'a' && s[19] != 'b')
                return "not a UUIDv7 (variant is not RFC 9562)";
        return NULL;
}

/* True if the n hex digits at s are all '0' (W3C forbids all-zero trace and parent ids). */
static bool all_zero(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (s[i] != '0')
                        return false;
        }
        return true;
}

/* NULL if s is "00-<32 hex>-<16 hex>-<2 hex>" (lower-case, ids not all zero), else why not. */
static const char *traceparent_problem(const char *s)
{
        if (strlen(s) != TRACEPARENT_LEN || s[0] != '0' || s[1] != '0' || s[2] != '-' ||
            s[35] != '-' || s[52] != '-')
                return "not W3C 00-<32 hex>-<16 hex>-<2 hex>";
        for (size_t i = 3; i < TRACEPARENT_LEN; i++) {
                if (i != 35 && i != 52 && !is_lower_hex(s[i]))
                        return "not W3C 00-<32 hex>-<16 hex>-<2 hex> (lower-case hex)";
        }
        if (all_zero(s + 3, 32))
                return "all-zero trace id";
        if (all_zero(s + 36, 16))
                return "all-zero parent id";
        return NULL;
}

/*
 * "MAJOR.MINOR", decimal without leading zeros, each at most 9 digits (so a
 * long fits). Sets *major. Leading zeros are refused so that one version has
 * exactly one spelling.
 */
static bool parse_version(const char *s, long *major)
{
        const char *dot = strchr(s, '.');
        long part[2] = {0, 0};

        if (!dot)
                return false;
        for (int k = 0; k < 2; k++) {
                const char *b = k == 0 ? s : dot + 1, *e = k == 0 ? dot : dot + strlen(dot);
                if (e == b || e - b > 9 || (*b == '0' && e - b > 1))
                        return false;
                for (const char *c = b; c < e; c++) {
                        if (!is_digit((unsigned char)*c))
                                return false;
                        part[k] = part[k] * 10 + (*c - '0');
                }
        }
        *major = part[0];
        return true;
}

/* ---- pass 3b: fields -------------------------------------------------------------------- */

/*
 * Fetches root[name] as a string of 1..max_len bytes into *out (borrowed
 * from the tree). With nullable, JSON null gives 0 and *out = NULL.
 */
static int get_str(const cJSON *root, const char *name, size_t max_len, bool nullable,
                   const char **out, char *errstr, size_t errstr_size)
{
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);
        size_t len;

        *out = NULL;
        if (!item)
                return fail(errstr, errstr_size, "%s: missing", name);
        if (nullable && cJSON_IsNull(item))
                return 0;
        if (!cJSON_IsString(item) || !item->valuestring)
                return fail(errstr, errstr_size, "%s: expected string%s, got %s", name,
                            nullable ? " or null" : "", sl_json_type_name(item));
        len = strlen(item->valuestring);
        if (len == 0)
                return fail(errstr, errstr_size, "%s: empty string", name);
        if (len > max_len)
                return fail(errstr, errstr_size, "%s: %zu bytes, longer than %zu", name, len,
                            max_len);
        *out = item->valuestring;
        return 0;
}

/* schema_version is decoded first: a reader must not judge a major it does not know. */
static int decode_version(const cJSON *root, struct sl_envelope *env, char *errstr, size_t n)
{
        const char *s;
        long major;
        char safe[48];
        int rc = get_str(root, "schema_version", VERSION_MAX, false, &s, errstr, n);

        if (rc < 0)
                return rc;
        if (!parse_version(s, &major))
                return fail(errstr, n, "schema_version: \"%s\" is not MAJOR.MINOR",
                            sanitize(s, safe));
        if (major != SL_ENVELOPE_MAJOR)
                return fail(errstr, n, "unsupported schema_version %s (this build reads major %d)",
                            s, SL_ENVELOPE_MAJOR);
        env->schema_version = sl_xstrdup(s);
        return 0;
}

/* Decodes a UUID field into a 37-byte array; v7 demands a UUIDv7, nullable allows null (""). */
static int decode_uuid(const cJSON *root, const char *name, bool v7, bool nullable, char out[37],
                       char *errstr, size_t n)
{
        const char *s, *why;
        int rc = get_str(root, name, SL_UUID_LEN, nullable, &s, errstr, n);

        if (rc < 0)
                return rc;
        if (!s) {
                out[0] = '\0';
                return 0;
        }
        why = v7 ? uuid7_problem(s) : (valid_uuid(s) ? NULL : "not a lower-case, non-nil UUID");
        if (why)
                return fail(errstr, n, "%s: %s", name, why);
        memcpy(out, s, SL_UUID_LEN + 1);
        return 0;
}

/* type, phase and sport: the routing fields (topic is <prefix>.<sport>.<phase>.completed). */
static int decode_names(const cJSON *root, struct sl_envelope *env, char *errstr, size_t n)
{
        const char *s;
        int rc = get_str(root, "type", TYPE_MAX, false, &s, errstr, n);

        if (rc < 0)
                return rc;
        if (!valid_type(s))
                return fail(errstr, n, "type: does not match ^[a-z]+(\\.[a-z_]+)+$");
        env->type = sl_xstrdup(s);
        rc = get_str(root, "phase", KIND_MAX, false, &s, errstr, n);
        if (rc < 0)
                return rc;
        if (!valid_phase(s))
                return fail(errstr, n,
                            "phase: not one of scraper raw analytics precompute "
                            "prediction publishing ops backfill");
        env->phase = sl_xstrdup(s);
        rc = get_str(root, "sport", SPORT_MAX, false, &s, errstr, n);
        if (rc < 0)
                return rc;
        if (!valid_sport(s))
                return fail(errstr, n, "sport: does not match ^[a-z][a-z0-9_]{1,15}$");
        env->sport = sl_xstrdup(s);
        return 0;
}

/* traceparent must be version 00 exactly; W3C's future-version leniency is not needed here. */
static int decode_trace(const cJSON *root, struct sl_envelope *env, char *errstr, size_t n)
{
        const char *s, *why;
        int rc = get_str(root, "traceparent", TRACEPARENT_LEN, false, &s, errstr, n);

        if (rc < 0)
                return rc;
        why = traceparent_problem(s);
        if (why)
                return fail(errstr, n, "traceparent: %s", why);
        memcpy(env->traceparent, s, TRACEPARENT_LEN + 1);
        return 0;
}

/* game_date: a real calendar date (no 2025-02-30) or null, stored as "" when null. */
static int decode_date(const cJSON *root, struct sl_envelope *env, char *errstr, size_t n)
{
        const char *s;
        int rc = get_str(root, "game_date", 10, true, &s, errstr, n);

        if (rc < 0)
                return rc;
        if (s && !sl_date_valid(s))
                return fail(errstr, n, "game_date: not a valid YYYY-MM-DD date");
        if (s)
                memcpy(env->game_date, s, 11);
        return 0;
}

/* Array capacity for n entities: the next power of two >= max(n, 8), so adds amortize. */
static size_t entity_cap(size_t n)
{
        size_t cap = 8;

        while (cap < n)
                cap *= 2;
        return cap;
}

/* One {"kind":..,"id":..} object; other members are ignored (forward compatible). */
static int decode_entity(const cJSON *item, size_t i, struct sl_entity *ent, char *errstr, size_t n)
{
        const char *field[2] = {"kind", "id"};
        const char *val[2];

        if (!cJSON_IsObject(item))
                return fail(errstr, n, "affected_entities[%zu]: expected object, got %s", i,
                            sl_json_type_name(item));
        for (int k = 0; k < 2; k++) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, field[k]);
                if (!v)
                        return fail(errstr, n, "affected_entities[%zu].%s: missing", i, field[k]);
                if (!cJSON_IsString(v) || !v->valuestring)
                        return fail(errstr, n, "affected_entities[%zu].%s: expected string, got %s",
                                    i, field[k], sl_json_type_name(v));
                val[k] = v->valuestring;
        }
        if (!valid_kind(val[0]))
                return fail(errstr, n,
                            "affected_entities[%zu].kind: does not match "
                            "^[a-z][a-z0-9_]{0,31}$",
                            i);
        if (!valid_entity_id(val[1])) {
                size_t len = strlen(val[1]);
                if (len == 0 || len > SL_ENVELOPE_MAX_ENTITY_ID)
                        return fail(errstr, n, "affected_entities[%zu].id: %zu bytes, not 1..%d", i,
                                    len, SL_ENVELOPE_MAX_ENTITY_ID);
                return fail(errstr, n, "affected_entities[%zu].id: has control characters", i);
        }
        ent->kind = sl_xstrdup(val[0]);
        ent->id = sl_xstrdup(val[1]);
        return 0;
}

/* The cap is checked on the count before anything is allocated or copied. */
static int decode_entities(const cJSON *root, struct sl_envelope *env, char *errstr, size_t n)
{
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "affected_entities");
        size_t count = 0, i = 0;
        int rc = 0;

        if (!arr)
                return fail(errstr, n, "affected_entities: missing");
        if (!cJSON_IsArray(arr))
                return fail(errstr, n, "affected_entities: expected array, got %s",
                            sl_json_type_name(arr));
        for (const cJSON *it = arr->child; it; it = it->next)
                count++;
        if (count > SL_ENVELOPE_MAX_ENTITIES)
                return fail(errstr, n, "affected_entities: %zu entries, more than the cap of %d",
                            count, SL_ENVELOPE_MAX_ENTITIES);
        if (count == 0)
                return 0;
        env->entities = sl_xcalloc(entity_cap(count), sizeof(*env->entities));
        for (const cJSON *it = arr->child; rc == 0 && it; it = it->next, i++) {
                rc = decode_entity(it, i, &env->entities[i], errstr, n);
                if (rc == 0)
                        env->n_entities++;
        }
        return rc;
}

/* idempotency_key: string of 1..512 bytes without control characters, or null. */
static int decode_idem(const cJSON *root, struct sl_envelope *env, char *errstr, size_t n)
{
        const char *s;
        int rc = get_str(root, "idempotency_key", SL_ENVELOPE_MAX_IDEM_KEY, true, &s, errstr, n);

        if (rc < 0)
                return rc;
        if (s && !no_controls(s))
                return fail(errstr, n, "idempotency_key: has control characters");
        if (s)
                env->idempotency_key = sl_xstrdup(s);
        return 0;
}

/* produced_at is kept as ms: finer fractions are accepted and truncated. */
static int decode_produced(const cJSON *root, struct sl_envelope *env, char *errstr, size_t n)
{
        const char *s;
        size_t len;
        int rc = get_str(root, "produced_at", PRODUCED_MAX, false, &s, errstr, n);

        if (rc < 0)
                return rc;
        len = strlen(s);
        /* UTC only, upper-case 'T' and 'Z': one spelling per instant on the wire */
        if (len < 20 || s[10] != 'T' || s[len - 1] != 'Z' ||
            sl_time_parse_rfc3339(s, &env->produced_at_ms) < 0)
                return fail(errstr, n,
                            "produced_at: not an RFC 3339 UTC timestamp "
                            "(YYYY-MM-DDTHH:MM:SS[.fff]Z)");
        return 0;
}

/* Optional replay_count: a JSON number with an integral value ("2" and "2.0" alike). */
static int decode_replay(const cJSON *root, struct sl_envelope *env, char *errstr, size_t n)
{
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "replay_count");
        double d;

        if (!item)
                return 0; /* optional, default 0 */
        if (!cJSON_IsNumber(item))
                return fail(errstr, n, "replay_count: expected integer, got %s",
                            sl_json_type_name(item));
        d = item->valuedouble;
        if (!(d >= 0 && d <= INT_MAX) || (double)(int)d != d)
                return fail(errstr, n, "replay_count: not an integer in [0, %d]", INT_MAX);
        env->replay_count = (int)d;
        return 0;
}

/* Validates every field of root and copies it into env; the payload is detached from root. */
static int decode_fields(cJSON *root, struct sl_envelope *env, char *errstr, size_t n)
{
        cJSON *payload;
        int rc;

        rc = decode_version(root, env, errstr, n);
        if (rc == 0)
                rc = decode_uuid(root, "event_id", true, false, env->event_id, errstr, n);
        if (rc == 0)
                rc = decode_names(root, env, errstr, n);
        if (rc == 0)
                rc = decode_uuid(root, "correlation_id", false, false, env->correlation_id, errstr,
                                 n);
        if (rc == 0)
                rc = decode_uuid(root, "causation_id", false, true, env->causation_id, errstr, n);
        if (rc == 0)
                rc = decode_trace(root, env, errstr, n);
        if (rc == 0)
                rc = decode_date(root, env, errstr, n);
        if (rc == 0)
                rc = decode_entities(root, env, errstr, n);
        if (rc == 0)
                rc = decode_idem(root, env, errstr, n);
        if (rc == 0)
                rc = decode_produced(root, env, errstr, n);
        if (rc == 0)
                rc = decode_replay(root, env, errstr, n);
        if (rc < 0)
                return rc;
        payload = cJSON_GetObjectItemCaseSensitive(root, "payload");
        if (!payload)
                return fail(errstr, n, "payload: missing");
        if (!cJSON_IsObject(payload))
                return fail(errstr, n, "payload: expected object, got %s",
                            sl_json_type_name(payload));
        env->payload = cJSON_DetachItemViaPointer(root, payload);
        return 0;
}

/* Passes 1 and 2: returns the parsed root object, or NULL with the reason in errstr. */
static cJSON *parse_json(const char *buf, size_t len, char *errstr, size_t n)
{
        const char *end = NULL;
        char *copy = NULL;
        cJSON *root = NULL;
        size_t at;

        if (scan_document((const unsigned char *)buf, len, errstr, n) < 0)
                return NULL;
        /*
         * NUL-terminated copy: cJSON is given length len and never reads past
         * it, and since pass 1 ruled out NUL bytes the terminator is the only
         * one. Trailing bytes are checked below rather than with
         * require_null_terminated, to report where the garbage starts.
         */
        copy = sl_xmalloc(len + 1);
        memcpy(copy, buf, len);
        copy[len] = '\0';
        root = cJSON_ParseWithLengthOpts(copy, len, &end, 0);
        at = end ? (size_t)(end - copy) : 0;
        if (!root) {
                fail(errstr, n, "JSON: malformed near byte %zu", at);
                goto out;
        }
        while (at < len && is_space((unsigned char)copy[at]))
                at++;
        if (at != len) {
                fail(errstr, n, "JSON: trailing data after the value at byte %zu", at);
                cJSON_Delete(root);
                root = NULL;
        }
out:
        free(copy);
        return root;
}

int sl_envelope_parse(const char *buf, size_t len, size_t max_bytes, struct sl_envelope **out,
                      char *errstr, size_t errstr_size)
{
        struct sl_envelope *env = NULL;
        struct names nm = {0};
        cJSON *root = NULL;
        size_t cap = max_bytes ? max_bytes : SL_ENVELOPE_MAX_BYTES;
        int rc;

        if (!out)
                return -EINVAL;
        *out = NULL;
        /* the cap comes first: nothing of an oversized input is read */
        if (errstr && errstr_size > 0)
                errstr[0] = '\0';
        if (len > cap || len >= SIZE_MAX - 1)
                return fail(errstr, errstr_size, "input is %zu bytes, over the %zu-byte cap", len,
                            cap);
        if (!buf || len == 0)
                return fail(errstr, errstr_size, "empty input");
        root = parse_json(buf, len, errstr, errstr_size);
        if (!root)
                return -EBADMSG;
        if (!cJSON_IsObject(root)) {
                rc = fail(errstr, errstr_size, "envelope: expected object, got %s",
                          sl_json_type_name(root));
                goto out;
        }
        rc = check_dups(root, &nm, NULL, errstr, errstr_size);
        if (rc < 0)
                goto out;
        env = sl_xcalloc(1, sizeof(*env));
        rc = decode_fields(root, env, errstr, errstr_size);
        if (rc < 0)
                goto out;
        *out = env;
        env = NULL;
out:
        sl_envelope_free(env);
        free(nm.v);
        cJSON_Delete(root);
        return rc;
}

/* ---- building --------------------------------------------------------------------------- */

/* Writes 2*n lower-case hex digits (no NUL). */
static void hex_encode(const unsigned char *in, size_t n, char *out)
{
        static const char hex[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = hex[in[i] >> 4];
                out[2 * i + 1] = hex[in[i] & 15];
        }
}

/* Writes 2*n (n <= 16) random lower-case hex digits at out, never all zero (W3C forbids it). */
static void random_hex_id(char *out, size_t n)
{
        unsigned char b[16];
        bool zero;

        do {
                sl_random_bytes(b, n);
                zero = true;
                for (size_t i = 0; i < n; i++)
                        zero = zero && b[i] == 0;
        } while (zero);
        hex_encode(b, n, out);
}

/* Sets env->traceparent: parent's trace id and flags when parent has a valid one, else fresh. */
static void start_span(struct sl_envelope *env, const struct sl_envelope *parent)
{
        char *tp = env->traceparent;

        memcpy(tp, "00-", 3);
        if (parent && !traceparent_problem(parent->traceparent)) {
                memcpy(tp + 3, parent->traceparent + 3, 32);
                memcpy(tp + 53, parent->traceparent + 53, 2);
        } else {
                random_hex_id(tp + 3, 16);
                memcpy(tp + 53, "01", 2); /* sampled: our logs record every event */
        }
        tp[35] = '-';
        random_hex_id(tp + 36, 8);
        tp[52] = '-';
        tp[TRACEPARENT_LEN] = '\0';
}

struct sl_envelope *sl_envelope_new(const char *type, const char *phase, const char *sport,
                                    const char *game_date, const struct sl_envelope *parent)
{
        struct sl_envelope *env;

        if (!type || !phase || !sport || !valid_type(type) || !valid_phase(phase) ||
            !valid_sport(sport) || (game_date && !sl_date_valid(game_date)))
                return NULL;
        env = sl_xcalloc(1, sizeof(*env));
        env->schema_version = sl_xstrdup(SL_ENVELOPE_VERSION);
        sl_uuid7(env->event_id);
        env->type = sl_xstrdup(type);
        env->phase = sl_xstrdup(phase);
        env->sport = sl_xstrdup(sport);
        /* one correlation id per pipeline run: inherited, or a new v7 for a root event */
        if (parent && valid_uuid(parent->correlation_id))
                memcpy(env->correlation_id, parent->correlation_id, sizeof(env->correlation_id));
        else
                sl_uuid7(env->correlation_id);
        if (parent && valid_uuid(parent->event_id))
                memcpy(env->causation_id, parent->event_id, sizeof(env->causation_id));
        start_span(env, parent);
        if (game_date)
                memcpy(env->game_date, game_date, sizeof(env->game_date));
        env->produced_at_ms = sl_wall_ms();
        env->payload = must(cJSON_CreateObject());
        return env;
}

/* Frees the owned strings, entities and payload (safe on a half-decoded env). */
void sl_envelope_free(struct sl_envelope *env)
{
        if (!env)
                return;
        for (size_t i = 0; i < env->n_entities; i++) {
                free(env->entities[i].kind);
                free(env->entities[i].id);
        }
        free(env->entities);
        free(env->schema_version);
        free(env->type);
        free(env->phase);
        free(env->sport);
        free(env->idempotency_key);
        cJSON_Delete(env->payload);
        free(env);
}

/* sl_xstrdup() that passes NULL through. */
static char *dup_or_null(const char *s)
{
        return s ? sl_xstrdup(s) : NULL;
}

/* Entity capacity follows entity_cap(), so add_entity() works on the copy too. */
struct sl_envelope *sl_envelope_dup(const struct sl_envelope *env)
{
        struct sl_envelope *copy;

        if (!env)
                return NULL;
        copy = sl_xmalloc(sizeof(*copy));
        *copy = *env; /* fixed arrays and scalars; owned pointers replaced below */
        copy->schema_version = dup_or_null(env->schema_version);
        copy->type = dup_or_null(env->type);
        copy->phase = dup_or_null(env->phase);
        copy->sport = dup_or_null(env->sport);
        copy->idempotency_key = dup_or_null(env->idempotency_key);
        copy->entities = NULL;
        if (env->n_entities > 0) {
                copy->entities = sl_xcalloc(entity_cap(env->n_entities), sizeof(*copy->entities));
                for (size_t i = 0; i < env->n_entities; i++) {
                        copy->entities[i].kind = sl_xstrdup(env->entities[i].kind);
                        copy->entities[i].id = sl_xstrdup(env->entities[i].id);
                }
        }
        copy->payload = env->payload ? must(cJSON_Duplicate(env->payload, 1)) : NULL;
        return copy;
}

int sl_envelope_add_entity(struct sl_envelope *env, const char *kind, const char *id)
{
        size_t n = env->n_entities;

        if (!kind || !id || !valid_kind(kind) || !valid_entity_id(id))
                return -EINVAL;
        if (n >= SL_ENVELOPE_MAX_ENTITIES)
                return -E2BIG;
        /* capacity is entity_cap(n) for n > 0: grow when the next slot crosses it */
        if (n == 0 || n + 1 > entity_cap(n))
                env->entities =
                    sl_xrealloc(env->entities, entity_cap(n + 1) * sizeof(*env->entities));
        env->entities[n].kind = sl_xstrdup(kind);
        env->entities[n].id = sl_xstrdup(id);
        env->n_entities = n + 1;
        return 0;
}

int sl_envelope_set_idem_key(struct sl_envelope *env, const char *key)
{
        if (key && !valid_idem_key(key))
                return -EINVAL;
        free(env->idempotency_key);
        env->idempotency_key = dup_or_null(key);
        return 0;
}

int sl_envelope_set_payload(struct sl_envelope *env, struct cJSON *payload)
{
        if (!cJSON_IsObject(payload)) {
                cJSON_Delete(payload);
                return -EINVAL;
        }
        cJSON_Delete(env->payload);
        env->payload = payload;
        return 0;
}

/* ---- serializing ------------------------------------------------------------------------ */

/* Adds name: s, or name: null when s is NULL. */
static void add_str(cJSON *obj, const char *name, const char *s)
{
        must(s ? cJSON_AddStringToObject(obj, name, s) : cJSON_AddNullToObject(obj, name));
}

/* Adds "affected_entities" (always present, [] when empty: empty means the whole date). */
static void add_entities(cJSON *root, const struct sl_envelope *env)
{
        cJSON *arr = must(cJSON_AddArrayToObject(root, "affected_entities"));

        for (size_t i = 0; i < env->n_entities; i++) {
                cJSON *ent = must(cJSON_CreateObject());
                add_str(ent, "kind", env->entities[i].kind);
                add_str(ent, "id", env->entities[i].id);
                cJSON_AddItemToArray(arr, ent); /* moves ownership of ent into arr */
        }
}

char *sl_envelope_serialize(const struct sl_envelope *env, size_t *len)
{
        char ts[25];
        cJSON *root = must(cJSON_CreateObject());
        char *out;

        /* field order is part of the contract: docs/events.md, proto/envelope.schema.json */
        add_str(root, "schema_version",
                env->schema_version ? env->schema_version : SL_ENVELOPE_VERSION);
        add_str(root, "event_id", env->event_id);
        add_str(root, "type", env->type ? env->type : "");
        add_str(root, "phase", env->phase ? env->phase : "");
        add_str(root, "correlation_id", env->correlation_id);
        add_str(root, "causation_id", env->causation_id[0] ? env->causation_id : NULL);
        add_str(root, "traceparent", env->traceparent);
        add_str(root, "sport", env->sport ? env->sport : "");
        add_str(root, "game_date", env->game_date[0] ? env->game_date : NULL);
        add_entities(root, env);
        add_str(root, "idempotency_key", env->idempotency_key);
        sl_time_rfc3339(env->produced_at_ms, ts);
        add_str(root, "produced_at", ts);
        if (env->replay_count > 0)
                must(cJSON_AddNumberToObject(root, "replay_count", env->replay_count));
        if (env->payload) { /* a reference: printed in place, not copied, not freed with root */
                if (!cJSON_AddItemReferenceToObject(root, "payload", env->payload))
                        must(NULL);
        } else {
                must(cJSON_AddObjectToObject(root, "payload"));
        }
        out = must(cJSON_PrintUnformatted(root));
        cJSON_Delete(root);
        if (len)
                *len = strlen(out);
        return out;
}

void sl_envelope_trace_id(const struct sl_envelope *env, char out[33])
{
        if (traceparent_problem(env->traceparent)) {
                out[0] = '\0';
                return;
        }
        memcpy(out, env->traceparent + 3, 32);
        out[32] = '\0';
}
