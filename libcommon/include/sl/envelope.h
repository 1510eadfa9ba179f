#ifndef SL_ENVELOPE_H
#define SL_ENVELOPE_H

/*
 * The event envelope: one JSON object per bus message, described by
 * proto/envelope.schema.json and docs/events.md. Parsing is strict and
 * bounded: input longer than the cap, malformed JSON (including invalid
 * UTF-8, duplicate keys, nesting deeper than SL_ENVELOPE_MAX_DEPTH), a missing
 * or wrong-typed field, a bad id or an unknown major schema version all give
 * -EBADMSG with a precise reason. Unknown top-level fields are ignored (a
 * minor version may add fields) and are not kept.
 *
 * Thread rules: an envelope has no internal locking; distinct envelopes may
 * be used from distinct threads.
 */

#include <stddef.h>
#include <stdint.h>

struct cJSON;

#define SL_ENVELOPE_MAJOR         1
#define SL_ENVELOPE_VERSION       "1.0"
#define SL_ENVELOPE_MAX_BYTES     (1024 * 1024) /* default input cap: 1 MiB */
#define SL_ENVELOPE_MAX_ENTITIES  10000
#define SL_ENVELOPE_MAX_DEPTH     64     /* nesting of objects/arrays, whole document */
#define SL_ENVELOPE_MAX_VALUES    100000 /* JSON values per document (bounds cJSON memory) */
#define SL_ENVELOPE_MAX_IDEM_KEY  512    /* bytes */
#define SL_ENVELOPE_MAX_ENTITY_ID 128    /* bytes */

/* One affected entity: "player:2544", "team:1610612747", "game:0021600270". */
struct sl_entity {
        char *kind; /* owned: "player", "team", "game", ... */
        char *id;   /* owned */
};

/*
 * A parsed or built envelope. All strings are owned by the envelope and freed
 * by sl_envelope_free(). Optional fields are NULL when absent.
 */
struct sl_envelope {
        char *schema_version;       /* "1.0": major.minor */
        char event_id[37];          /* UUIDv7 */
        char *type;                 /* "raw.completed" */
        char *phase;                /* "raw": scraper raw analytics precompute prediction
                                       publishing, or "ops"/"backfill" for tools */
        char correlation_id[37];    /* UUID, one per pipeline run */
        char causation_id[37];      /* event_id of the cause, "" for a root event */
        char traceparent[56];       /* W3C "00-<32 hex>-<16 hex>-<2 hex>" */
        char *sport;                /* "nba" */
        char game_date[11];         /* "YYYY-MM-DD", "" when not date-bound */
        struct sl_entity *entities; /* owned array; grow only via sl_envelope_add_entity() */
        size_t n_entities;
        char *idempotency_key;  /* may be NULL */
        int64_t produced_at_ms; /* wall clock ms since the epoch (UTC) */
        struct cJSON *payload;  /* owned object; never NULL after parse/new */
        int replay_count;       /* times replayed from the DLQ (optional field, default 0) */
};

/*
 * Parses len bytes at buf (need not be NUL-terminated, is only read) into a
 * new envelope. Input over max_bytes (0 means SL_ENVELOPE_MAX_BYTES) is
 * rejected without being parsed. Returns 0 and sets *out (free with
 * sl_envelope_free()), or -EBADMSG with a reason naming the field in errstr
 * (NUL-terminated, truncated to errstr_size) and *out = NULL. -EINVAL only
 * when out is NULL. Safe on any input. Thread rules: cJSON stores the
 * position of its last parse error in a process-global (unused here), so
 * concurrent failing parses race on that word; use from one thread at a time
 * or accept that benign race.
 */
int sl_envelope_parse(const char *buf, size_t len, size_t max_bytes, struct sl_envelope **out,
                      char *errstr, size_t errstr_size);

/*
 * Builds a new envelope for an event caused by parent (which may be NULL for
 * a root event): fresh event_id, parent's correlation_id (or a fresh one),
 * causation_id = parent's event_id, traceparent continuing parent's trace
 * (same trace id and flags, new random span id; a root event or a parent
 * without a valid traceparent starts a new trace with flags "01"),
 * produced_at now. type, phase and sport are copied; game_date may be NULL.
 * The payload starts as an empty object. parent is only read.
 * Returns NULL if type, phase, sport or game_date would not pass
 * sl_envelope_parse() (a programmer error); free with sl_envelope_free().
 */
struct sl_envelope *sl_envelope_new(const char *type, const char *phase, const char *sport,
                                    const char *game_date, const struct sl_envelope *parent);
/* Frees env and everything it owns; NULL is a no-op. */
void sl_envelope_free(struct sl_envelope *env);
/* Deep copy (free with sl_envelope_free()); NULL gives NULL. */
struct sl_envelope *sl_envelope_dup(const struct sl_envelope *env);

/*
 * Appends an affected entity (strings are copied). Returns 0, -EINVAL if kind
 * is not [a-z][a-z0-9_]{0,31} or id is empty, longer than
 * SL_ENVELOPE_MAX_ENTITY_ID or holds control characters, or -E2BIG when env
 * already has SL_ENVELOPE_MAX_ENTITIES entities. Nothing changes on failure.
 */
int sl_envelope_add_entity(struct sl_envelope *env, const char *kind, const char *id);
/*
 * Replaces the idempotency key (copied; NULL clears). Returns 0, or -EINVAL
 * (key unchanged) if key is empty, longer than SL_ENVELOPE_MAX_IDEM_KEY or
 * holds control characters.
 */
int sl_envelope_set_idem_key(struct sl_envelope *env, const char *key);
/*
 * Replaces the payload; takes ownership of payload (a cJSON object), even on
 * failure: the caller must not touch it afterwards. Returns 0, or -EINVAL if
 * payload is NULL or not an object (it is deleted, the old payload is kept).
 */
int sl_envelope_set_payload(struct sl_envelope *env, struct cJSON *payload);

/*
 * Serializes env as compact JSON in a fixed field order (the schema's order;
 * replay_count only when > 0; null for an empty causation_id/game_date and a
 * NULL idempotency_key). Output of this function parses back and serializes
 * to identical bytes. Returns a heap string (free()) and its length in *len
 * (may be NULL). Never returns NULL (out of memory aborts).
 */
char *sl_envelope_serialize(const struct sl_envelope *env, size_t *len);

/*
 * The 32-hex trace id inside env->traceparent, copied to out (33 bytes);
 * out is "" if env->traceparent is not a traceparent.
 */
void sl_envelope_trace_id(const struct sl_envelope *env, char out[33]);

/*
 * The JSON type of item as named in error messages ("payload: expected
 * object, got array"): "object", "array", "string", "number", "boolean",
 * "null", "invalid"; "nothing" for NULL (a missing member). Static strings.
 */
const char *sl_json_type_name(const struct cJSON *item);

#endif
