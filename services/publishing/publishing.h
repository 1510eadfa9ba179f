#ifndef PUBLISHING_PUBLISHING_H
#define PUBLISHING_PUBLISHING_H

/*
 * statline-publishing's handler and read API (README.md in this directory):
 * a prediction.completed envelope in, JSON documents in publish.dir and
 * publishing.documents rows out, and one publishing.completed event.
 *
 *   1. read the date's predictions (prediction.player_prop_predictions,
 *      raw.prop_lines) and games (raw.games, raw.schedule) with SQL that
 *      returns one JSON value per player / for the games;
 *   2. render the documents canonically (keys sorted, rows ordered in SQL,
 *      compact, one trailing newline): the same input gives the same bytes,
 *      so the ETag (the SHA-256 of the bytes) is stable;
 *   3. write each document whose bytes differ from the file on disk
 *      atomically (temp file in the same directory, fsync, rename, fsync of
 *      the directory);
 *   4. in ONE transaction: claim the idempotency key, upsert the changed
 *      publishing.documents rows, the execution log row and the
 *      publishing.completed envelope into ops.outbox; after COMMIT publish
 *      it and mark the outbox row published.
 *
 * Documents (relative to publish.dir):
 *   <sport>/<date>/predictions.json         every player with predictions
 *   <sport>/<date>/games.json               the date's games
 *   <sport>/<date>/players/<player_id>.json one player
 * With affected players in the event only their player documents are
 * rebuilt; the two date documents are always rebuilt (they list everyone)
 * and rewritten only when their bytes changed.
 *
 * The pure helpers are exported for the unit tests. Threads: pub_handle()
 * runs on the service loop; pub_http_*() run on the HTTP thread and only
 * read files.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sl/bus.h>
#include <sl/phase.h>
#include <sl/sha256.h>
#include <sl/svc.h>

struct cJSON;
struct sl_buf;
struct sl_envelope;
struct sl_http;
struct sl_http_req;
struct sl_pg;

#define PUB_ETAG_SIZE     (SL_SHA256_HEX_LEN + 3) /* "\"<64 hex>\"" and the NUL */
#define PUB_RELPATH_MAX   160                     /* bytes of a document path, NUL included */
#define PUB_DOC_MAX       (8 << 20)               /* largest document (the HTTP response cap) */
#define PUB_ERROR_MAX     1000                    /* bytes of an execution-log error_message */
#define PUB_PLAYER_ID_MAX 19                      /* digits of a player id (bigint) */

/* Configuration: SL_SVC_OPTS plus the keys of main.c's table (README.md). */
struct pub_cfg {
        struct sl_svc_cfg svc;     /* the runtime's shared options */
        struct sl_phase_cfg phase; /* pg.*, publish.timeout_ms (SL_PHASE_PG_OPTS ...) */
        const char *publish_dir;   /* root of the published documents */
};

/* One rendered document. */
struct pub_doc {
        char path[PUB_RELPATH_MAX];            /* relative to publish.dir */
        const char *kind;                      /* "predictions", "games", "player" (static) */
        char player_id[PUB_PLAYER_ID_MAX + 1]; /* "" for date documents */
        char *bytes;                           /* owned, NUL-terminated */
        size_t len;
        char sha256[SL_SHA256_HEX_LEN + 1];
        char etag[PUB_ETAG_SIZE];
        bool written; /* the file on disk was (re)written */
        bool changed; /* the content differs from the recorded publication */
};

/* The service state; zero it, then pub_svc_open(). */
struct pub_svc {
        const struct pub_cfg *cfg; /* borrowed, outlives the service */
        struct sl_phase ph;        /* PostgreSQL (service loop only), bus, readiness */
        char *root;                /* realpath of publish.dir, owned; read by the HTTP thread */
        char sport[32];            /* default sport of the read API (first of "sports") */
        uint64_t published, duplicates, failed; /* since start */
};

/* ---- pure helpers (unit-tested) ------------------------------------------------------ */

/* Sorts the keys of every object in item, recursively (byte order). NULL is a no-op. */
void pub_json_sort(struct cJSON *item);

/*
 * Renders item canonically: keys sorted (pub_json_sort), compact, one
 * trailing newline. Returns a heap string (free()) and its length in *len.
 */
char *pub_json_render(struct cJSON *item, size_t *len);

/* The ETag of bytes: "\"" + lower-case hex SHA-256 + "\"" into etag; sha256 gets the bare hex. */
void pub_etag(const void *bytes, size_t len, char sha256[SL_SHA256_HEX_LEN + 1],
              char etag[PUB_ETAG_SIZE]);

/*
 * True if an If-None-Match header value matches etag: "*", or one of the
 * comma-separated entity tags equals it (a weak "W/" prefix is ignored, as
 * RFC 9110 requires for If-None-Match). NULL header: false.
 */
bool pub_etag_match(const char *if_none_match, const char *etag);

/* True if s is a player id: 1..PUB_PLAYER_ID_MAX digits, no leading zero. */
bool pub_player_id_ok(const char *s);

/*
 * The document path of kind ("predictions", "games", "player") for sport
 * and date (player_id for "player") into out. Returns 0, -EINVAL (bad sport,
 * date, kind or id) or -ENAMETOOLONG.
 */
int pub_doc_path(char *out, size_t out_size, const char *sport, const char *date, const char *kind,
                 const char *player_id);

/*
 * Writes len bytes to root/rel atomically: the parent directories are
 * created, the bytes go to a temp file in the same directory, which is
 * fsynced, renamed over rel, and the directory fsynced. A reader sees the
 * old or the new file, never a mix. Returns 0 or -errno with errstr.
 */
int pub_write_atomic(const char *root, const char *rel, const void *data, size_t len, char *errstr,
                     size_t errstr_size);

/*
 * pub_write_atomic() for n documents at once (rels[i], datas[i], lens[i]):
 * every temp file is written and fsynced first, then all are renamed, then
 * each distinct directory is fsynced once (a date's documents share two
 * directories: n + 2 fsyncs instead of 2n). Each file is atomic on its own
 * (old or new bytes); when 0 is returned every rename is durable. On an
 * error the temp files not renamed yet are removed and -errno returned with
 * errstr; files renamed before the error keep their new bytes.
 */
int pub_write_batch(const char *root, const char *const *rels, const void *const *datas,
                    const size_t *lens, size_t n, char *errstr, size_t errstr_size);

/* True if root/rel exists and holds exactly len bytes equal to data. */
bool pub_file_same(const char *root, const char *rel, const void *data, size_t len);

/*
 * Reads root/rel (at most PUB_DOC_MAX bytes) into *data (heap, NUL-terminated)
 * and *len. Returns 0, -ENOENT, -EFBIG or -errno.
 */
int pub_file_read(const char *root, const char *rel, char **data, size_t *len);

/*
 * Serves the document root/rel as an HTTP response: 404 {"error":...} when
 * it does not exist, else sets etag (PUB_ETAG_SIZE) and returns 304 with an
 * empty body when if_none_match matches it, 200 with the bytes otherwise.
 * Returns the status, or -errno (500) for read errors.
 */
int pub_serve_doc(const char *root, const char *rel, const char *if_none_match, struct sl_buf *out,
                  char etag[PUB_ETAG_SIZE]);

/*
 * Builds publishing.completed for parent (a prediction.completed): child
 * of parent, the parent's game date and entities, idempotency key idem_key,
 * payload {"processor": "documents", "tables": [{"table": "publishing.documents",
 * "rows": <changed>}], "rows", "entities": {"players", "documents"}, "game_date",
 * "documents": [{"path", "etag", "changed"}]}.
 * Returns the envelope (sl_envelope_free()) or NULL on an invalid argument.
 */
struct sl_envelope *pub_completed_new(const struct sl_envelope *parent, const char *idem_key,
                                      const struct pub_doc *docs, size_t ndocs);

/*
 * The idempotency key "publishing:documents:<sport>:<date>:<hex>" where hex
 * is the SHA-256 over the sorted affected entities and every document's path
 * and SHA-256: the same entities and the same content give the same key.
 */
void pub_idem_key(char *out, size_t out_size, const struct sl_envelope *env,
                  const struct pub_doc *docs, size_t ndocs);

/* ---- NHL (nhl.c) --------------------------------------------------------------------- */

/*
 * The NHL games of date as one JSON array text into *json (heap, free()):
 * raw.nhl_games ordered by game id, each {"game_id", "season", "game_type",
 * "status" (game_state), "last_period_type", "home_team_id", "away_team_id",
 * "home_team_abbr", "away_team_abbr", "home_score", "away_score",
 * "start_time", "venue", "win_prob": {"model": "goi:nhl", "p_home", "p_away",
 * "tpi_home", "tpi_away"} | null}. Returns 0 or a negative errno with errstr.
 */
int pub_nhl_games_json(struct sl_pg *pg, const char *date, char **json, char *errstr,
                       size_t errstr_size);

/* ---- HTTP read API (HTTP thread; opaque is the struct pub_svc) ------------------------ */

/* GET /v1/predictions?date=YYYY-MM-DD[&player=ID][&sport=nba] */
int pub_http_predictions(const struct sl_http_req *req, struct sl_buf *out, void *opaque);
/* GET /v1/games?date=YYYY-MM-DD[&sport=nba] */
int pub_http_games(const struct sl_http_req *req, struct sl_buf *out, void *opaque);

/* ---- the service ------------------------------------------------------------------- */

/*
 * Connects to PostgreSQL, applies the migrations, creates and resolves
 * publish.dir, registers the read API on http (may be NULL). Returns 0 or a
 * negative errno with the reason in errstr; call pub_svc_close() anyway.
 */
int pub_svc_open(struct pub_svc *svc, const struct pub_cfg *cfg, struct sl_bus *bus,
                 struct sl_http *http, char *errstr, size_t errstr_size);
/*
 * Closes the PostgreSQL connection (the fini callback: the read API may
 * still be serving files). Safe on a zeroed or failed svc.
 */
void pub_svc_close(struct pub_svc *svc);
/* pub_svc_close() and frees the rest; only once the HTTP server has stopped. */
void pub_svc_free(struct pub_svc *svc);
/* Loop callback: probes PostgreSQL and sets /readyz. Always 0. */
int pub_svc_tick(struct pub_svc *svc);

/*
 * The bus handler for prediction.completed; opaque is the struct pub_svc.
 * Returns 0 (published, or an unpublished event re-published), -EEXIST
 * (these documents were published for this entity set before), -EBADMSG
 * (poison: no or bad game_date, bad payload or entity), or a retriable errno.
 */
int pub_handle(const struct sl_envelope *env, const struct sl_bus_msg *msg, void *opaque);

#endif
