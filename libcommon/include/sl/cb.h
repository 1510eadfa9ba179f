#ifndef SL_CB_H
#define SL_CB_H

/*
 * Circuit breakers (resilience4j's model): one struct sl_cb per dependency
 * (PostgreSQL, the bus, one external source, one prediction system).
 *
 *   CLOSED     calls go through; each outcome enters a sliding window (the
 *              last N calls, or the calls of the last N seconds). Once the
 *              window holds min_calls outcomes and the failure rate reaches
 *              failure_rate_pct, or the slow-call rate (calls that took at
 *              least slow_call_ms) reaches slow_rate_pct, the breaker OPENs.
 *   OPEN       sl_cb_allow() says no: nothing is attempted (callers return
 *              -EBUSY, the message waits). After open_ms it goes HALF_OPEN.
 *   HALF_OPEN  half_open_calls probe calls are let through (the rest are
 *              refused); once they all reported, the rates over the probes
 *              decide: below the thresholds -> CLOSED (window emptied), else
 *              OPEN again for open_ms.
 *
 * Outcomes (sl_cb_record): 0 and -EEXIST are successes; an error for which
 * sl_err_retriable() is true (connection lost, timeout, -EAGAIN, -EIO) is a
 * failure; -EBUSY (nothing attempted) and the other errors (poison input,
 * bugs: not the dependency's fault) are not recorded.
 *
 * Time is passed in (now_ms, monotonic milliseconds), so tests use a fake
 * clock and never sleep (STYLE B10).
 *
 * Shared state: a breaker attached to a store (sl_cb_attach) is shared by
 * every replica of a service. The store holds one row per (service,
 * dependency): the state, when it was entered, counts and an operator's
 * forced state. sl_cb_allow() re-reads the row when the cached copy is older
 * than cache_ttl_ms (default 30 s, the seeds' figure) and adopts it: OPEN
 * seen elsewhere opens this replica too (for the rest of open_ms counted
 * from the row's opened_at), CLOSED seen elsewhere while this one is OPEN
 * or HALF_OPEN closes it (another replica's probes succeeded). Every local
 * transition is written through at once. A forced state set by the
 * operator (statline-cb) wins over everything: FORCED_OPEN refuses all
 * calls, FORCED_CLOSED allows all calls and records nothing. A store that
 * fails (PostgreSQL down) is retried at the next refresh; meanwhile the
 * breaker works on its own. sl_cb_store_pg() is the PostgreSQL store
 * (table ops.circuit_breakers, db/migrations/0011_reliability.sql).
 *
 * Every transition calls opts.on_transition (the service runtime logs it,
 * sets statline_circuit_state{dependency} and alerts on opening).
 *
 * Threads: a struct sl_cb is used by one thread at a time.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_cb;
struct sl_pg;

enum sl_cb_state {
        SL_CB_CLOSED = 0, /* the metric values: 0 closed, 1 open, 2 half-open */
        SL_CB_OPEN = 1,
        SL_CB_HALF_OPEN = 2,
};

enum sl_cb_forced {
        SL_CB_FORCED_NONE = 0,
        SL_CB_FORCED_OPEN,   /* operator: refuse every call */
        SL_CB_FORCED_CLOSED, /* operator: allow every call, record nothing */
};

enum sl_cb_window {
        SL_CB_WINDOW_COUNT = 0, /* the last window_size calls */
        SL_CB_WINDOW_TIME,      /* the calls of the last window_size seconds */
};

#define SL_CB_NAME_MAX       64   /* bytes of a service or dependency name, NUL included */
#define SL_CB_MAX_WINDOW     1000 /* largest window_size (calls or seconds) */
#define SL_CB_DEFAULT_TTL_MS 30000

/* One breaker's row in the shared store. */
struct sl_cb_shared {
        enum sl_cb_state state;
        enum sl_cb_forced forced;
        int64_t age_ms; /* load: ms since the state was entered (the store's clock) */
        int failures;   /* failures in the window when the state was entered */
        int calls;      /* calls in the window then */
};

/*
 * A store for breaker rows. load returns 0 and fills out, -ENOENT when there
 * is no row, or another -errno; save writes the state, counts and "entered
 * age_ms ago" of a row (never its forced column) and returns 0 or -errno.
 * service and dependency are borrowed for the call.
 */
struct sl_cb_store {
        int (*load)(void *opaque, const char *service, const char *dependency,
                    struct sl_cb_shared *out);
        int (*save)(void *opaque, const char *service, const char *dependency,
                    const struct sl_cb_shared *row);
        void *opaque;
};

/*
 * Called on every transition (from, to) with why ("failure rate 60.0% >= 50%
 * over 10 calls", "open for 30000 ms", "shared", "forced_open"). Borrowed
 * strings, valid during the call.
 */
typedef void sl_cb_transition_fn(struct sl_cb *cb, enum sl_cb_state from, enum sl_cb_state to,
                                 const char *why, void *opaque);

/* Options for sl_cb_new(). All-zero means the defaults in brackets. */
struct sl_cb_opts {
        const char *service;    /* ["svc"] owner of the breaker, store key part 1 */
        const char *dependency; /* required: "pg", "bus", "source:nba_boxscore", ... */
        enum sl_cb_window window_type;
        int window_size;         /* [20] calls (COUNT) or seconds (TIME), <= SL_CB_MAX_WINDOW */
        int min_calls;           /* [5] outcomes in the window before rates count */
        double failure_rate_pct; /* [50] open at this failure rate (0 < x <= 100) */
        double slow_rate_pct;    /* [100] open at this slow-call rate (0 < x <= 100) */
        int64_t slow_call_ms;    /* [60000] a call this long is slow */
        int64_t open_ms;         /* [30000] OPEN lasts this long before HALF_OPEN */
        int half_open_calls;     /* [3] probe calls let through in HALF_OPEN */
        int64_t cache_ttl_ms;    /* [SL_CB_DEFAULT_TTL_MS] shared-state cache lifetime */
        sl_cb_transition_fn *on_transition; /* may be NULL */
        void *opaque;                       /* passed to on_transition */
};

/*
 * Creates a CLOSED breaker. opts and its strings are copied. Returns a
 * breaker to free with sl_cb_free(), or NULL with the reason in errstr
 * (missing dependency, a value out of range).
 */
struct sl_cb *sl_cb_new(const struct sl_cb_opts *opts, char *errstr, size_t errstr_size);

/* Frees the breaker (not its store). NULL is a no-op. */
void sl_cb_free(struct sl_cb *cb);

/*
 * Shares the breaker through store (copied; store->opaque is borrowed and
 * must outlive the breaker). The row is read at the next sl_cb_allow() or
 * sl_cb_refresh(). NULL detaches.
 */
void sl_cb_attach(struct sl_cb *cb, const struct sl_cb_store *store);

/*
 * May a call be made now? Refreshes the shared state if the cache expired,
 * moves OPEN to HALF_OPEN once open_ms passed, and in HALF_OPEN takes one of
 * the probe permits (the caller must then sl_cb_record() the outcome).
 * false means: attempt nothing (return -EBUSY).
 */
bool sl_cb_allow(struct sl_cb *cb, int64_t now_ms);

/*
 * Records the outcome rc of a call allowed by sl_cb_allow() that took
 * duration_ms, and makes the transitions it causes (written through to the
 * store). See the top of this file for which rc count as failures.
 */
void sl_cb_record(struct sl_cb *cb, int rc, int64_t duration_ms, int64_t now_ms);

/*
 * Reads the shared row now (whatever the cache age) and adopts it; writes
 * this breaker's state when there is no row yet or an earlier write failed.
 * Returns 0, or the store's -errno (the breaker keeps its local state).
 * Without a store: 0.
 */
int sl_cb_refresh(struct sl_cb *cb, int64_t now_ms);

/* sl_cb_refresh() if the cached row is older than cache_ttl_ms (or was never read); else 0. */
int sl_cb_sync(struct sl_cb *cb, int64_t now_ms);

/*
 * Sets or clears (SL_CB_FORCED_NONE) a forced state locally, as if read from
 * the store (tests, tools without a store). The transition callback runs.
 */
void sl_cb_force(struct sl_cb *cb, enum sl_cb_forced forced, int64_t now_ms);

/* The current state (FORCED_OPEN reads OPEN, FORCED_CLOSED reads CLOSED). */
enum sl_cb_state sl_cb_state(const struct sl_cb *cb);
/* The forced state in effect. */
enum sl_cb_forced sl_cb_forced(const struct sl_cb *cb);
/* The dependency / service name. Owned by cb. */
const char *sl_cb_dependency(const struct sl_cb *cb);
const char *sl_cb_service(const struct sl_cb *cb);

/* Window counts for /metrics and the heartbeat: calls, failures, slow calls now in the window. */
struct sl_cb_stats {
        int calls;
        int failures;
        int slow;
        uint64_t transitions; /* since sl_cb_new */
        uint64_t refused;     /* sl_cb_allow() returned false */
        uint64_t store_reads; /* store loads attempted */
        uint64_t store_errors;
};
void sl_cb_get_stats(const struct sl_cb *cb, int64_t now_ms, struct sl_cb_stats *out);

/* "CLOSED", "OPEN", "HALF_OPEN" (the store's spelling). */
const char *sl_cb_state_name(enum sl_cb_state state);
/* "CLOSED" etc. to the enum: 0 or -EINVAL. Case-sensitive. */
int sl_cb_state_parse(const char *name, enum sl_cb_state *out);
/* NULL (none), "forced_open", "forced_closed" (the store's spelling). */
const char *sl_cb_forced_name(enum sl_cb_forced forced);
/* NULL or "" -> NONE, "forced_open", "forced_closed": 0 or -EINVAL. */
int sl_cb_forced_parse(const char *name, enum sl_cb_forced *out);

/*
 * The PostgreSQL store: rows of ops.circuit_breakers through pg (borrowed:
 * it must outlive every breaker attached to the returned store; only use it
 * from the breakers' thread). Fills *store.
 */
void sl_cb_store_pg(struct sl_cb_store *store, struct sl_pg *pg);

/*
 * Operator actions on ops.circuit_breakers (statline-cb): sets forced to
 * forced (NONE clears it) for (service, dependency), creating a CLOSED row
 * if there is none. reset additionally puts the row back to CLOSED with
 * zero counts. Returns 0 or -errno with errstr.
 */
int sl_cb_pg_force(struct sl_pg *pg, const char *service, const char *dependency,
                   enum sl_cb_forced forced, bool reset, char *errstr, size_t errstr_size);

#endif
