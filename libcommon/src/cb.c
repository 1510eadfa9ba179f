#include <sl/cb.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sl/err.h>
#include <sl/pg.h>
#include <sl/util.h>

#define OUT_FAIL 0x1u /* window slot flags */
#define OUT_SLOW 0x2u

/* One second of a time-based window. */
struct bucket {
        int64_t sec; /* now_ms / 1000 of these calls; -1 = empty */
        int calls, failures, slow;
};

struct sl_cb {
        char service[SL_CB_NAME_MAX];
        char dependency[SL_CB_NAME_MAX];
        struct sl_cb_opts opts; /* defaults applied; name pointers point at the arrays above */
        enum sl_cb_state state; /* effective state (a forced state included) */
        enum sl_cb_forced forced;
        int64_t entered_ms; /* now_ms when state was entered (OPEN: the open_ms clock) */
        /* count window: ring of OUT_* flags */
        unsigned char *ring; /* window_size slots */
        int ring_head, ring_n;
        /* time window: one bucket per second */
        struct bucket *buckets; /* window_size buckets, indexed by sec % window_size */
        /* HALF_OPEN probes */
        int probes_taken, probes_done, probe_failures, probe_slow;
        /* shared state */
        bool has_store;
        struct sl_cb_store store;
        bool read_once;  /* the row was read at least once */
        int64_t read_ms; /* now_ms of the last load attempt */
        bool dirty;      /* the last write failed or no row exists: write at refresh */
        struct sl_cb_stats stats;
};

const char *sl_cb_state_name(enum sl_cb_state state)
{
        switch (state) {
        case SL_CB_OPEN:
                return "OPEN";
        case SL_CB_HALF_OPEN:
                return "HALF_OPEN";
        case SL_CB_CLOSED:
        default:
                return "CLOSED";
        }
}

int sl_cb_state_parse(const char *name, enum sl_cb_state *out)
{
        static const enum sl_cb_state all[] = {SL_CB_CLOSED, SL_CB_OPEN, SL_CB_HALF_OPEN};

        for (size_t i = 0; name && i < sizeof(all) / sizeof(all[0]); i++) {
                if (strcmp(name, sl_cb_state_name(all[i])) == 0) {
                        *out = all[i];
                        return 0;
                }
        }
        return -EINVAL;
}

const char *sl_cb_forced_name(enum sl_cb_forced forced)
{
        switch (forced) {
        case SL_CB_FORCED_OPEN:
                return "forced_open";
        case SL_CB_FORCED_CLOSED:
                return "forced_closed";
        case SL_CB_FORCED_NONE:
        default:
                return NULL;
        }
}

int sl_cb_forced_parse(const char *name, enum sl_cb_forced *out)
{
        if (!name || !name[0])
                *out = SL_CB_FORCED_NONE;
        else if (strcmp(name, "forced_open") == 0)
                *out = SL_CB_FORCED_OPEN;
        else if (strcmp(name, "forced_closed") == 0)
                *out = SL_CB_FORCED_CLOSED;
        else
                return -EINVAL;
        return 0;
}

/* Fills the defaults and checks the ranges. */
static int check_opts(struct sl_cb_opts *o, char *errstr, size_t n)
{
        if (!o->dependency || !o->dependency[0] || strlen(o->dependency) >= SL_CB_NAME_MAX)
                return sl_errf(errstr, n, -EINVAL, "cb: dependency must be 1..%d bytes",
                               SL_CB_NAME_MAX - 1);
        if (!o->service || !o->service[0])
                o->service = "svc";
        if (strlen(o->service) >= SL_CB_NAME_MAX)
                return sl_errf(errstr, n, -EINVAL, "cb: service name too long");
        if (o->window_type != SL_CB_WINDOW_COUNT && o->window_type != SL_CB_WINDOW_TIME)
                return sl_errf(errstr, n, -EINVAL, "cb: bad window type");
        o->window_size = o->window_size ? o->window_size : 20;
        o->min_calls = o->min_calls ? o->min_calls : 5;
        o->failure_rate_pct = o->failure_rate_pct > 0 ? o->failure_rate_pct : 50;
        o->slow_rate_pct = o->slow_rate_pct > 0 ? o->slow_rate_pct : 100;
        o->slow_call_ms = o->slow_call_ms ? o->slow_call_ms : 60000;
        o->open_ms = o->open_ms ? o->open_ms : 30000;
        o->half_open_calls = o->half_open_calls ? o->half_open_calls : 3;
        o->cache_ttl_ms = o->cache_ttl_ms ? o->cache_ttl_ms : SL_CB_DEFAULT_TTL_MS;
        if (o->window_size < 1 || o->window_size > SL_CB_MAX_WINDOW)
                return sl_errf(errstr, n, -EINVAL, "cb %s: window_size %d not in 1..%d",
                               o->dependency, o->window_size, SL_CB_MAX_WINDOW);
        if (o->min_calls < 1 || o->half_open_calls < 1 || o->slow_call_ms < 1 || o->open_ms < 1 ||
            o->cache_ttl_ms < 1)
                return sl_errf(errstr, n, -EINVAL, "cb %s: counts and durations must be >= 1",
                               o->dependency);
        if (o->failure_rate_pct > 100 || o->slow_rate_pct > 100)
                return sl_errf(errstr, n, -EINVAL, "cb %s: rates are percentages (0..100]",
                               o->dependency);
        return 0;
}

struct sl_cb *sl_cb_new(const struct sl_cb_opts *opts, char *errstr, size_t errstr_size)
{
        struct sl_cb_opts o = *opts;
        struct sl_cb *cb;

        if (check_opts(&o, errstr, errstr_size) < 0)
                return NULL;
        cb = sl_xcalloc(1, sizeof(*cb));
        snprintf(cb->service, sizeof(cb->service), "%s", o.service);
        snprintf(cb->dependency, sizeof(cb->dependency), "%s", o.dependency);
        o.service = cb->service;
        o.dependency = cb->dependency;
        cb->opts = o;
        if (o.window_type == SL_CB_WINDOW_COUNT) {
                cb->ring = sl_xcalloc((size_t)o.window_size, 1);
        } else {
                cb->buckets = sl_xcalloc((size_t)o.window_size, sizeof(*cb->buckets));
                for (int i = 0; i < o.window_size; i++)
                        cb->buckets[i].sec = -1;
        }
        return cb;
}

void sl_cb_free(struct sl_cb *cb)
{
        if (!cb)
                return;
        free(cb->ring);
        free(cb->buckets);
        free(cb);
}

void sl_cb_attach(struct sl_cb *cb, const struct sl_cb_store *store)
{
        cb->has_store = store != NULL;
        if (store)
                cb->store = *store;
        cb->read_once = false;
        cb->dirty = false;
}

static void window_clear(struct sl_cb *cb)
{
        cb->ring_head = 0;
        cb->ring_n = 0;
        for (int i = 0; cb->buckets && i < cb->opts.window_size; i++)
                cb->buckets[i].sec = -1;
}

/* Sums the window as of now_ms into calls/failures/slow. */
static void window_sum(const struct sl_cb *cb, int64_t now_ms, int *calls, int *failures, int *slow)
{
        *calls = *failures = *slow = 0;
        if (cb->ring) {
                for (int i = 0; i < cb->ring_n; i++) {
                        unsigned char f = cb->ring[i];
                        *failures += (f & OUT_FAIL) != 0;
                        *slow += (f & OUT_SLOW) != 0;
                }
                *calls = cb->ring_n;
                return;
        }
        int64_t sec = now_ms / 1000;
        for (int i = 0; i < cb->opts.window_size; i++) {
                const struct bucket *b = &cb->buckets[i];
                if (b->sec < 0 || b->sec <= sec - cb->opts.window_size || b->sec > sec)
                        continue;
                *calls += b->calls;
                *failures += b->failures;
                *slow += b->slow;
        }
}

static void window_add(struct sl_cb *cb, unsigned flags, int64_t now_ms)
{
        if (cb->ring) {
                int size = cb->opts.window_size;
                cb->ring[cb->ring_head] = (unsigned char)flags;
                cb->ring_head = (cb->ring_head + 1) % size;
                if (cb->ring_n < size)
                        cb->ring_n++;
                return;
        }
        int64_t sec = now_ms / 1000;
        struct bucket *b = &cb->buckets[sec % cb->opts.window_size];
        if (b->sec != sec) {
                memset(b, 0, sizeof(*b));
                b->sec = sec;
        }
        b->calls++;
        b->failures += (flags & OUT_FAIL) != 0;
        b->slow += (flags & OUT_SLOW) != 0;
}

/* Writes the breaker's state to the store; marks it dirty on failure. */
static void store_save(struct sl_cb *cb, int64_t now_ms)
{
        struct sl_cb_shared row = {.state = cb->state, .age_ms = now_ms - cb->entered_ms};

        if (!cb->has_store)
                return;
        window_sum(cb, now_ms, &row.calls, &row.failures, &(int){0});
        if (row.age_ms < 0)
                row.age_ms = 0;
        if (cb->store.save(cb->store.opaque, cb->service, cb->dependency, &row) < 0) {
                cb->stats.store_errors++;
                cb->dirty = true;
                return;
        }
        cb->dirty = false;
}

/*
 * Moves to state `to` entered at entered_ms; write: write through to the
 * store (local decisions), not for states read from the store or forced.
 */
static void set_state(struct sl_cb *cb, enum sl_cb_state to, int64_t entered_ms, int64_t now_ms,
                      const char *why, bool write)
{
        enum sl_cb_state from = cb->state;

        cb->entered_ms = entered_ms;
        cb->probes_taken = cb->probes_done = cb->probe_failures = cb->probe_slow = 0;
        if (to == SL_CB_CLOSED)
                window_clear(cb);
        if (to == from)
                return;
        cb->state = to;
        cb->stats.transitions++;
        if (write)
                store_save(cb, now_ms);
        if (cb->opts.on_transition)
                cb->opts.on_transition(cb, from, to, why, cb->opts.opaque);
}

/* Applies a forced state (from the store or sl_cb_force). */
static void apply_forced(struct sl_cb *cb, enum sl_cb_forced forced, int64_t now_ms)
{
        if (forced == cb->forced)
                return;
        cb->forced = forced;
        if (forced == SL_CB_FORCED_OPEN)
                set_state(cb, SL_CB_OPEN, now_ms, now_ms, "forced_open", false);
        else if (forced == SL_CB_FORCED_CLOSED)
                set_state(cb, SL_CB_CLOSED, now_ms, now_ms, "forced_closed", false);
        else
                set_state(cb, SL_CB_CLOSED, now_ms, now_ms, "forced state cleared", false);
}

/* Adopts a row read from the store (see the top of cb.h). */
static void adopt(struct sl_cb *cb, const struct sl_cb_shared *row, int64_t now_ms)
{
        bool was_forced = cb->forced != SL_CB_FORCED_NONE;

        apply_forced(cb, row->forced, now_ms);
        if (cb->forced != SL_CB_FORCED_NONE)
                return;
        if (row->state == SL_CB_OPEN && cb->state == SL_CB_CLOSED) {
                set_state(cb, SL_CB_OPEN, now_ms - row->age_ms, now_ms, "shared", false);
        } else if (row->state == SL_CB_OPEN && cb->state == SL_CB_HALF_OPEN &&
                   row->age_ms < cb->opts.open_ms && !was_forced) {
                /* another replica's probes failed: open again for what is left */
                set_state(cb, SL_CB_OPEN, now_ms - row->age_ms, now_ms, "shared", false);
        } else if (row->state == SL_CB_CLOSED && cb->state != SL_CB_CLOSED && !cb->dirty) {
                set_state(cb, SL_CB_CLOSED, now_ms, now_ms, "shared", false);
        }
}

int sl_cb_refresh(struct sl_cb *cb, int64_t now_ms)
{
        struct sl_cb_shared row;
        int rc;

        if (!cb->has_store)
                return 0;
        cb->read_once = true;
        cb->read_ms = now_ms;
        cb->stats.store_reads++;
        memset(&row, 0, sizeof(row));
        rc = cb->store.load(cb->store.opaque, cb->service, cb->dependency, &row);
        if (rc == -ENOENT) {
                apply_forced(cb, SL_CB_FORCED_NONE, now_ms);
                cb->dirty = true; /* create the row */
        } else if (rc < 0) {
                cb->stats.store_errors++;
                return rc;
        } else {
                adopt(cb, &row, now_ms);
        }
        if (cb->dirty && cb->forced == SL_CB_FORCED_NONE) {
                store_save(cb, now_ms);
                if (cb->dirty)
                        return -EIO;
        }
        return 0;
}

void sl_cb_force(struct sl_cb *cb, enum sl_cb_forced forced, int64_t now_ms)
{
        apply_forced(cb, forced, now_ms);
}

int sl_cb_sync(struct sl_cb *cb, int64_t now_ms)
{
        if (cb->has_store && (!cb->read_once || now_ms - cb->read_ms >= cb->opts.cache_ttl_ms))
                return sl_cb_refresh(cb, now_ms);
        return 0;
}

bool sl_cb_allow(struct sl_cb *cb, int64_t now_ms)
{
        (void)sl_cb_sync(cb, now_ms); /* on failure: the local state */
        if (cb->forced == SL_CB_FORCED_OPEN)
                goto refuse;
        if (cb->forced == SL_CB_FORCED_CLOSED)
                return true;
        if (cb->state == SL_CB_OPEN) {
                if (now_ms - cb->entered_ms < cb->opts.open_ms)
                        goto refuse;
                char why[64];
                snprintf(why, sizeof(why), "open for %" PRId64 " ms", now_ms - cb->entered_ms);
                set_state(cb, SL_CB_HALF_OPEN, now_ms, now_ms, why, true);
        }
        if (cb->state == SL_CB_HALF_OPEN) {
                if (cb->probes_taken >= cb->opts.half_open_calls)
                        goto refuse;
                cb->probes_taken++;
        }
        return true;
refuse:
        cb->stats.refused++;
        return false;
}

/* True when failures or slow calls out of calls reach their thresholds; why gets the reason. */
static bool over(const struct sl_cb *cb, int calls, int failures, int slow, char *why, size_t n)
{
        double fr = calls ? 100.0 * failures / calls : 0, sr = calls ? 100.0 * slow / calls : 0;

        if (calls > 0 && fr >= cb->opts.failure_rate_pct) {
                snprintf(why, n, "failure rate %.1f%% >= %.1f%% over %d calls", fr,
                         cb->opts.failure_rate_pct, calls);
                return true;
        }
        if (calls > 0 && sr >= cb->opts.slow_rate_pct) {
                snprintf(why, n,
                         "slow-call rate %.1f%% >= %.1f%% over %d calls (>= %" PRId64 " ms)", sr,
                         cb->opts.slow_rate_pct, calls, cb->opts.slow_call_ms);
                return true;
        }
        snprintf(why, n, "failure rate %.1f%%, slow-call rate %.1f%% over %d calls", fr, sr, calls);
        return false;
}

void sl_cb_record(struct sl_cb *cb, int rc, int64_t duration_ms, int64_t now_ms)
{
        bool ignored = rc == -EBUSY || (rc < 0 && rc != -EEXIST && !sl_err_retriable(rc));
        unsigned flags = 0;
        char why[160];
        int calls, failures, slow;

        if (cb->forced != SL_CB_FORCED_NONE || cb->state == SL_CB_OPEN)
                return;
        if (ignored) {
                if (cb->state == SL_CB_HALF_OPEN && cb->probes_taken > cb->probes_done)
                        cb->probes_taken--; /* give the permit back */
                return;
        }
        if (rc < 0 && rc != -EEXIST)
                flags |= OUT_FAIL;
        if (duration_ms >= cb->opts.slow_call_ms)
                flags |= OUT_SLOW;
        if (cb->state == SL_CB_HALF_OPEN) {
                cb->probes_done++;
                cb->probe_failures += (flags & OUT_FAIL) != 0;
                cb->probe_slow += (flags & OUT_SLOW) != 0;
                if (cb->probes_done < cb->opts.half_open_calls)
                        return;
                if (over(cb, cb->probes_done, cb->probe_failures, cb->probe_slow, why, sizeof(why)))
                        set_state(cb, SL_CB_OPEN, now_ms, now_ms, why, true);
                else
                        set_state(cb, SL_CB_CLOSED, now_ms, now_ms, why, true);
                return;
        }
        window_add(cb, flags, now_ms);
        window_sum(cb, now_ms, &calls, &failures, &slow);
        if (calls >= cb->opts.min_calls && over(cb, calls, failures, slow, why, sizeof(why)))
                set_state(cb, SL_CB_OPEN, now_ms, now_ms, why, true);
}

enum sl_cb_state sl_cb_state(const struct sl_cb *cb)
{
        return cb->state;
}

enum sl_cb_forced sl_cb_forced(const struct sl_cb *cb)
{
        return cb->forced;
}

const char *sl_cb_dependency(const struct sl_cb *cb)
{
        return cb->dependency;
}

const char *sl_cb_service(const struct sl_cb *cb)
{
        return cb->service;
}

void sl_cb_get_stats(const struct sl_cb *cb, int64_t now_ms, struct sl_cb_stats *out)
{
        *out = cb->stats;
        window_sum(cb, now_ms, &out->calls, &out->failures, &out->slow);
}

/* ---- the PostgreSQL store ------------------------------------------------- */

static int pg_load(void *opaque, const char *service, const char *dependency,
                   struct sl_cb_shared *out)
{
        static const char sql[] =
            "SELECT state, forced, GREATEST(0, (EXTRACT(EPOCH FROM now() - CASE WHEN state = "
            "'OPEN' THEN COALESCE(opened_at, updated_at) ELSE updated_at END) * 1000))::bigint, "
            "failures, calls FROM ops.circuit_breakers WHERE service = $1 AND dependency = $2";
        const char *params[] = {service, dependency};
        PGresult *res = NULL;
        char errstr[256];
        int64_t v;
        int rc;

        rc = sl_pg_exec(opaque, sql, 2, params, &res, errstr, sizeof(errstr));
        if (rc < 0)
                return rc;
        if (PQntuples(res) != 1) {
                rc = -ENOENT;
                goto out;
        }
        if (sl_cb_state_parse(PQgetvalue(res, 0, 0), &out->state) < 0 ||
            sl_cb_forced_parse(PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1),
                               &out->forced) < 0 ||
            sl_parse_i64(PQgetvalue(res, 0, 2), 0, INT64_MAX, &out->age_ms) < 0) {
                rc = -EBADMSG;
                goto out;
        }
        if (sl_parse_i64(PQgetvalue(res, 0, 3), 0, INT32_MAX, &v) == 0)
                out->failures = (int)v;
        if (sl_parse_i64(PQgetvalue(res, 0, 4), 0, INT32_MAX, &v) == 0)
                out->calls = (int)v;
out:
        PQclear(res);
        return rc;
}

static int pg_save(void *opaque, const char *service, const char *dependency,
                   const struct sl_cb_shared *row)
{
        static const char sql[] =
            "INSERT INTO ops.circuit_breakers (service, dependency, state, opened_at, updated_at, "
            "failures, calls) VALUES ($1, $2, $3::text, CASE WHEN $3::text = 'OPEN' THEN now() - "
            "$4::bigint * interval '1 millisecond' END, now() - $4::bigint * interval '1 "
            "millisecond', $5::int, $6::int) ON CONFLICT (service, dependency) DO UPDATE SET "
            "state = EXCLUDED.state, opened_at = COALESCE(EXCLUDED.opened_at, "
            "ops.circuit_breakers.opened_at), updated_at = EXCLUDED.updated_at, failures = "
            "EXCLUDED.failures, calls = EXCLUDED.calls";
        char age[24], failures[16], calls[16];
        const char *params[] = {service, dependency, sl_cb_state_name(row->state),
                                age,     failures,   calls};
        char errstr[256];

        snprintf(age, sizeof(age), "%" PRId64, row->age_ms);
        snprintf(failures, sizeof(failures), "%d", row->failures);
        snprintf(calls, sizeof(calls), "%d", row->calls);
        return sl_pg_exec(opaque, sql, 6, params, NULL, errstr, sizeof(errstr));
}

void sl_cb_store_pg(struct sl_cb_store *store, struct sl_pg *pg)
{
        store->load = pg_load;
        store->save = pg_save;
        store->opaque = pg;
}

int sl_cb_pg_force(struct sl_pg *pg, const char *service, const char *dependency,
                   enum sl_cb_forced forced, bool reset, char *errstr, size_t errstr_size)
{
        static const char sql_force[] =
            "INSERT INTO ops.circuit_breakers (service, dependency, state, updated_at, failures, "
            "calls, forced) VALUES ($1, $2, 'CLOSED', now(), 0, 0, $3) ON CONFLICT (service, "
            "dependency) DO UPDATE SET forced = EXCLUDED.forced";
        static const char sql_reset[] =
            "INSERT INTO ops.circuit_breakers (service, dependency, state, updated_at, failures, "
            "calls, forced) VALUES ($1, $2, 'CLOSED', now(), 0, 0, $3) ON CONFLICT (service, "
            "dependency) DO UPDATE SET forced = EXCLUDED.forced, state = 'CLOSED', opened_at = "
            "NULL, updated_at = now(), failures = 0, calls = 0";
        const char *params[] = {service, dependency, sl_cb_forced_name(forced)};

        if (!service[0] || !dependency[0] || strlen(service) >= SL_CB_NAME_MAX ||
            strlen(dependency) >= SL_CB_NAME_MAX)
                return sl_errf(errstr, errstr_size, -EINVAL,
                               "service and dependency must be 1..%d bytes", SL_CB_NAME_MAX - 1);
        return sl_pg_exec(pg, reset ? sql_reset : sql_force, 3, params, NULL, errstr, errstr_size);
}
