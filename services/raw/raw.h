#ifndef RAW_RAW_H
#define RAW_RAW_H

/*
 * statline-raw's handler: a scraper.completed envelope in, rows in raw.*
 * and one raw.completed event out (README.md in this directory).
 *
 *   1. read the blob the event names, confined to blob.dir, size-capped,
 *      its SHA-256 checked against the event;
 *   2. parse it with the parser registry (parsers.h) into a batch;
 *   3. in ONE transaction: claim the idempotency key, upsert every table of
 *      the batch by its natural key (COPY into a temp table, then INSERT ...
 *      ON CONFLICT DO UPDATE ... WHERE the row changed), write the execution
 *      log row and the raw.completed envelope into ops.outbox;
 *   4. after COMMIT publish that envelope, wait for the broker's
 *      confirmation, mark the outbox row published.
 *
 * The pure parts (path checks, payload checks, the SQL builders, the
 * envelope builder, the entity set) are exported for the unit tests; only
 * raw_blob_load() (files), raw_svc_open()/raw_handle() (PostgreSQL, bus) do I/O.
 *
 * Threads: one struct raw_svc per service loop (single-threaded).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sl/bus.h>
#include <sl/phase.h>
#include <sl/sha256.h>
#include <sl/svc.h>

struct sl_buf;
struct sl_envelope;
struct sl_http;
struct sl_pg;

#define RAW_BLOB_PATH_MAX    512  /* bytes of a blob_path in an event */
#define RAW_SOURCE_MAX       128  /* bytes of a source name "<provider>.<endpoint>" */
#define RAW_KIND_MAX         64   /* bytes of a kind name */
#define RAW_IDENT_MAX        63   /* bytes of one SQL identifier (PostgreSQL's NAMEDATALEN - 1) */
#define RAW_MAX_KEYS         4    /* natural-key columns of a raw table */
#define RAW_DEFAULT_ENTITIES 1000 /* affected entities before the list means "whole date" */
#define RAW_ERROR_MAX        1000 /* bytes of an error_message written to the execution log */

/* Configuration: SL_SVC_OPTS plus the keys of main.c's table (README.md). */
struct raw_cfg {
        struct sl_svc_cfg svc;     /* the runtime's shared options */
        struct sl_phase_cfg phase; /* pg.*, publish.timeout_ms (SL_PHASE_PG_OPTS ...) */
        const char *blob_dir;      /* root of the content-addressed blob store */
        int64_t blob_max_bytes;    /* largest blob read */
        int max_entities;          /* affected entities listed before "whole date" (empty) */
};

/* What a raw table needs besides the parser's columns: fixed identifiers only. */
struct raw_load_spec {
        const char *table;              /* "raw.player_boxscores" */
        const char *keys[RAW_MAX_KEYS]; /* natural key = the table's primary key */
        size_t nkeys;
        const char *sha_col; /* column for the blob's sha256 */
};

/* Counts of one table's upsert. rows = inserted + updated + unchanged. */
struct raw_table_result {
        const char *table; /* borrowed from the spec (static) */
        int64_t rows, inserted, updated;
};

/*
 * A bounded, de-duplicated list of affected entities ("game", "0021600270").
 * Once more than max distinct entities are added it overflows: the list is
 * dropped and counts as "whole date" (an empty affected_entities).
 */
struct raw_entities {
        char **kinds; /* owned strings, n of them */
        char **ids;   /* owned strings */
        size_t n, cap;
        size_t max; /* 0 = RAW_DEFAULT_ENTITIES */
        bool overflow;
};

/* The fields of a scraper.completed payload raw needs; strings borrowed from the envelope. */
struct raw_scrape {
        const char *source;      /* "<provider>.<endpoint>" */
        const char *kind;        /* parser kind or family; NULL: detect from the payload */
        const char *blob_sha256; /* 64 lower-case hex */
        const char *blob_path;   /* relative to blob.dir; derived from the sha when absent */
        int64_t bytes;           /* declared size, -1 when absent */
        const char *game_id;     /* may be NULL */
        char game_date[11];      /* payload game_date, else the envelope's, else "" */
        char default_path[3 + SL_SHA256_HEX_LEN + 6]; /* "<sha[0:2]>/<sha>.json" */
};

/* The service state; zero it, then raw_svc_open(). */
struct raw_svc {
        const struct raw_cfg *cfg; /* borrowed, outlives the service */
        struct sl_phase ph;        /* PostgreSQL, bus, readiness (sl/phase.h) */
        char *blob_root;           /* realpath of cfg->blob_dir, owned */
        /* counters since start (also exported on /metrics) */
        uint64_t loaded, duplicates, republished, failed;
};

/* ---- pure helpers (unit-tested) ------------------------------------------------------ */

/*
 * True if s is a lower-case SQL identifier: [a-z_][a-z0-9_]*, at most
 * RAW_IDENT_MAX bytes; with dotted, exactly "<schema>.<table>" of two such.
 * Every identifier the loader puts into SQL passes this check first.
 */
bool raw_ident_ok(const char *s, bool dotted);

/* The load spec of table ("raw.games"), or NULL for a table raw does not load. */
const struct raw_load_spec *raw_load_spec_find(const char *table);
/* The i-th spec (for tests), NULL past the end. */
const struct raw_load_spec *raw_load_spec_at(size_t i);

/*
 * Checks a blob path from an event before it touches the file system:
 * non-empty, at most RAW_BLOB_PATH_MAX bytes, relative, no "." or ".."
 * component, no empty component, only [A-Za-z0-9._-] and '/'.
 * Returns 0 or -EBADMSG with the reason in errstr.
 */
int raw_blob_path_check(const char *rel, char *errstr, size_t errstr_size);

/*
 * Reads blob rel under root (an absolute path without symlinks, as from
 * realpath()) into *data (heap, NUL-terminated, free()) and *len:
 * path checked with raw_blob_path_check(), resolved with realpath() and
 * required to stay under root (a symlink out of it is refused), a regular
 * file of at most max_bytes, whose SHA-256 must equal sha_hex.
 * Returns 0; -EAGAIN when the file does not exist (the bus retries, then
 * dead-letters); -EBADMSG (bad path, escape, not a regular file, too large,
 * digest mismatch: poison); -EIO for other read errors. Reason in errstr.
 */
int raw_blob_load(const char *root, const char *rel, const char *sha_hex, size_t max_bytes,
                  char **data, size_t *len, char *errstr, size_t errstr_size);

/*
 * Extracts and checks the scraper.completed payload of env into out (strings
 * borrowed from env). Returns 0 or -EBADMSG with the field named in errstr.
 */
int raw_scrape_parse(const struct sl_envelope *env, struct raw_scrape *out, char *errstr,
                     size_t errstr_size);

/*
 * Appends "CREATE TEMP TABLE <tmp> ON COMMIT DROP AS SELECT <cols> FROM
 * <table> WITH NO DATA" to out: a staging table with the target's column
 * types (domains included) and no constraints. Returns 0, -EINVAL if an
 * identifier fails raw_ident_ok(), -E2BIG at out's cap.
 */
int raw_sql_temp(struct sl_buf *out, const char *table, const char *tmp, const char *const *cols,
                 size_t ncols);

/*
 * Appends the upsert from staging table tmp into spec->table to out:
 *   INSERT INTO <table> AS t (<cols>) SELECT <cols> FROM <tmp>
 *   ON CONFLICT (<keys>) DO UPDATE SET <c> = EXCLUDED.<c>, ...
 *   WHERE (t.<c>, ...) IS DISTINCT FROM (EXCLUDED.<c>, ...)
 *   RETURNING (xmax = 0), <game_id>::text, <player_id>::text
 * Every non-key column is updated; the WHERE compares the non-key columns
 * except source and spec->sha_col, so a row whose facts are unchanged is
 * left alone (not returned) even when it comes from another blob. The
 * RETURNING columns are "inserted?", the game id and the player id (NULL when
 * the table has no such column). Every key must be among cols.
 * Returns 0, -EINVAL (bad identifier, key missing), -E2BIG at out's cap.
 */
int raw_sql_upsert(struct sl_buf *out, const struct raw_load_spec *spec, const char *tmp,
                   const char *const *cols, size_t ncols);

/* Empties the set (keeps max). */
void raw_entities_init(struct raw_entities *ents, size_t max);
void raw_entities_fini(struct raw_entities *ents);
/* Adds (kind, id) unless present; may overflow (see the struct). Returns 0 or -EINVAL. */
int raw_entities_add(struct raw_entities *ents, const char *kind, const char *id);

/*
 * Builds raw.completed for parent (a scraper.completed): child of parent
 * (same correlation id, causation = parent's event id, trace continued),
 * game_date as given ("" = none), entities from ents (none on overflow),
 * idempotency key "raw:<processor>:<sha>", payload
 *   {"processor", "source", "source_blob_sha256", "rows",
 *    "tables": [{"table", "rows", "parsed", "inserted", "updated"}]}
 * where rows are rows written (inserted + updated). Returns the envelope
 * (sl_envelope_free()) or NULL if an argument would make it invalid.
 */
struct sl_envelope *raw_completed_new(const struct sl_envelope *parent, const char *processor,
                                      const char *source, const char *sha_hex,
                                      const char *game_date, const struct raw_table_result *res,
                                      size_t nres, const struct raw_entities *ents);

/* The idempotency key "raw:<processor>:<sha>" into out. 0 or -ENAMETOOLONG. */
int raw_idem_key(char *out, size_t out_size, const char *processor, const char *sha_hex);

/* ---- the service ------------------------------------------------------------------- */

/*
 * Connects to PostgreSQL, applies the migrations (under the advisory lock),
 * resolves blob.dir. bus and http are borrowed from the runtime (http may be
 * NULL). Returns 0 or a negative errno with the reason in errstr; on failure
 * call raw_svc_close() anyway.
 */
int raw_svc_open(struct raw_svc *svc, const struct raw_cfg *cfg, struct sl_bus *bus,
                 struct sl_http *http, char *errstr, size_t errstr_size);
/* Closes the connection and frees what svc owns. Safe on a zeroed or failed svc. */
void raw_svc_close(struct raw_svc *svc);

/*
 * Loop callback: probes PostgreSQL ("SELECT 1") every 5 s, every second
 * while it is marked down, and sets /readyz accordingly (503 "pg: connection
 * lost" while down). Always returns 0: an outage is not fatal.
 */
int raw_svc_tick(struct raw_svc *svc);

/*
 * The bus handler (sl_bus_handler_fn) for scraper.completed; opaque is the
 * struct raw_svc. Returns 0 (loaded and published, or an unpublished event
 * re-published), -EEXIST (this blob was loaded and its event published
 * before), -EBADMSG (poison: bad payload, blob or rows; nothing kept), or a
 * retriable errno (blob missing, PostgreSQL or broker trouble; nothing kept).
 */
int raw_handle(const struct sl_envelope *env, const struct sl_bus_msg *msg, void *opaque);

#endif
