#include "analytics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <libpq-fe.h>

#include <sl/envelope.h>
#include <sl/err.h>
#include <sl/http.h>
#include <sl/log.h>
#include <sl/metrics.h>
#include <sl/pg.h>
#include <sl/sha256.h>
#include <sl/util.h>

#define ERRSTR_SIZE 1024
#define N_PROC_MAX  8 /* processors in the registry, at most */

/* Processors in sport's registry. */
static size_t nproc(const char *sport)
{
        size_t n = 0;

        while (analytics_sport_processor_at(sport, n))
                n++;
        return n;
}

/* ---- reading raw.completed --------------------------------------------------------------- */

static bool digits(const char *s, size_t min, size_t max)
{
        size_t n = s ? strlen(s) : 0;

        if (n < min || n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

/* Appends id to the "{a,b}" literal of ids (ids are digits only: no quoting needed). */
static void ids_add(struct analytics_ids *ids, const char *id)
{
        char *s =
            sl_xasprintf("%s%s%s}", ids->literal ? ids->literal : "{", ids->literal ? "," : "", id);

        if (ids->literal) /* drop the old closing brace: "{1}" + "2" -> "{1,2}" */
                memmove(s + strlen(ids->literal) - 1, s + strlen(ids->literal),
                        strlen(s + strlen(ids->literal)) + 1);
        free(ids->literal);
        ids->literal = s;
        ids->n++;
}

static int read_entities(const struct sl_envelope *env, struct analytics_event *ev, char *errstr,
                         size_t n)
{
        for (size_t i = 0; i < env->n_entities; i++) {
                const char *kind = env->entities[i].kind, *id = env->entities[i].id;
                struct analytics_ids *ids = NULL;
                bool ok = false;

                if (strcmp(kind, "game") == 0) {
                        ids = &ev->games;
                        ok = digits(id, 10, 10);
                } else if (strcmp(kind, "player") == 0 || strcmp(kind, "team") == 0) {
                        ids = kind[0] == 'p' ? &ev->players : &ev->teams;
                        ok = digits(id, 1, 18);
                } else {
                        continue; /* other kinds do not scope analytics */
                }
                if (!ok)
                        return sl_errf(errstr, n, -EBADMSG, "affected_entities: bad %s id '%.32s'",
                                       kind, id);
                if (ids->n >= ANALYTICS_MAX_ENTITIES)
                        return sl_errf(errstr, n, -EBADMSG, "affected_entities: over %d %s ids",
                                       ANALYTICS_MAX_ENTITIES, kind);
                ids_add(ids, id);
        }
        return 0;
}

static const char *str_item(const cJSON *obj, const char *key)
{
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

        return cJSON_IsString(it) ? it->valuestring : NULL;
}

int analytics_event_parse(const struct sl_envelope *env, struct analytics_event *ev, char *errstr,
                          size_t n)
{
        const cJSON *tables = cJSON_GetObjectItemCaseSensitive(env->payload, "tables");
        const cJSON *t;

        memset(ev, 0, sizeof(*ev));
        if (!cJSON_IsArray(tables))
                return sl_errf(errstr, n, -EBADMSG, "payload.tables: missing or not an array");
        cJSON_ArrayForEach(t, tables)
        {
                const char *name = str_item(t, "name");

                if (!name)
                        name = str_item(t, "table");
                if (!name || !strchr(name, '.') || strlen(name) > 127)
                        return sl_errf(errstr, n, -EBADMSG,
                                       "payload.tables[]: each needs a name \"<schema>.<table>\"");
                if (ev->ntables == ANALYTICS_MAX_TABLES)
                        return sl_errf(errstr, n, -EBADMSG, "payload.tables: more than %d",
                                       ANALYTICS_MAX_TABLES);
                ev->tables[ev->ntables++] = name;
        }
        ev->upstream = str_item(env->payload, "blob_sha256");
        if (!ev->upstream)
                ev->upstream = str_item(env->payload, "source_blob_sha256");
        if (!ev->upstream)
                ev->upstream = env->idempotency_key ? env->idempotency_key : env->event_id;
        snprintf(ev->game_date, sizeof(ev->game_date), "%s", env->game_date);
        return read_entities(env, ev, errstr, n);
}

void analytics_event_fini(struct analytics_event *ev)
{
        free(ev->games.literal);
        free(ev->players.literal);
        free(ev->teams.literal);
        ev->games.literal = ev->players.literal = ev->teams.literal = NULL;
}

/* ---- dependencies --------------------------------------------------------------------- */

/* Appends one element to a text[] literal in buf (the elements need no escaping but spaces). */
static void missing_add(struct analytics_dep_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void missing_add(struct analytics_dep_result *res, const char *fmt, ...)
{
        char item[128];
        size_t len = strlen(res->missing);
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(item, sizeof(item), fmt, ap);
        va_end(ap);
        if (len == 0)
                snprintf(res->missing, sizeof(res->missing), "{\"%s\"}", item);
        else if (len + strlen(item) + 4 < sizeof(res->missing))
                snprintf(res->missing + len - 1, sizeof(res->missing) - len + 1, ",\"%s\"}", item);
        else
                return;
        res->nmissing++;
}

void analytics_deps_eval(const struct analytics_processor *proc,
                         const struct analytics_dep_obs *obs, int64_t warn_s, int64_t fail_s,
                         struct analytics_dep_result *res)
{
        memset(res, 0, sizeof(*res));
        res->met = true;
        for (size_t i = 0; i < ANALYTICS_MAX_DEPS && proc->deps[i].table; i++) {
                const struct analytics_dep *d = &proc->deps[i];
                bool missing = obs[i].rows <= 0;
                bool stale_fail = !missing && obs[i].age_s > (double)fail_s;
                bool stale_warn = !missing && obs[i].age_s > (double)warn_s;
                size_t len = strlen(res->critical_missing);

                if (missing)
                        missing_add(res, "%s", d->table);
                else if (stale_warn)
                        missing_add(res, "%s (stale %.0f s)", d->table, obs[i].age_s);
                if (!d->critical || (!missing && !stale_fail))
                        continue;
                res->met = false;
                res->absent |= missing;
                snprintf(res->critical_missing + len, sizeof(res->critical_missing) - len, "%s%s%s",
                         len ? ", " : "", d->table, missing ? "" : " (stale)");
        }
        if (res->missing[0] == '\0')
                snprintf(res->missing, sizeof(res->missing), "{}");
}

/*
 * The rows of one upstream table for the scope, and the age of the newest ($1 date, $2 games).
 * The box-score tables take their games as one array (the listed ones, else the date's), which
 * the planner turns into an index condition; a CASE between the two scanned the whole table
 * (5-25 ms per check on a season, 0.1 ms now).
 */
static const struct {
        const char *table;
        const char *sql;
} dep_sql[] = {
    {"raw.games", "SELECT count(*), extract(epoch FROM now() - max(updated_at)) FROM raw.games "
                  "WHERE ($1::date IS NULL OR game_date = $1::date) "
                  "AND ($2::text[] IS NULL OR game_id = ANY($2::text[]))"},
    {"raw.player_boxscores",
     "SELECT count(*), extract(epoch FROM now() - max(updated_at)) FROM raw.player_boxscores "
     "WHERE ($1::date IS NULL AND $2::text[] IS NULL) OR game_id = ANY(coalesce($2::text[], "
     "ARRAY(SELECT game_id FROM raw.games WHERE game_date = $1::date)))"},
    {"raw.team_boxscores",
     "SELECT count(*), extract(epoch FROM now() - max(updated_at)) FROM raw.team_boxscores "
     "WHERE ($1::date IS NULL AND $2::text[] IS NULL) OR game_id = ANY(coalesce($2::text[], "
     "ARRAY(SELECT game_id FROM raw.games WHERE game_date = $1::date)))"},
    {"raw.schedule", "SELECT count(*), extract(epoch FROM now() - max(updated_at)) "
                     "FROM raw.schedule WHERE game_date = $1::date "
                     "AND ($2::text[] IS NULL OR game_id = ANY($2::text[]))"},
    {"raw.injuries", "SELECT count(*), extract(epoch FROM now() - max(updated_at)) "
                     "FROM raw.injuries WHERE report_date BETWEEN $1::date - 7 AND $1::date "
                     "AND ($2::text[] IS NULL OR $2::text[] IS NOT NULL)"},
    {"raw.prop_lines", "SELECT count(*), extract(epoch FROM now() - max(updated_at)) "
                       "FROM raw.prop_lines WHERE game_date = $1::date "
                       "AND ($2::text[] IS NULL OR $2::text[] IS NOT NULL)"},
    {"raw.nhl_games", "SELECT count(*), extract(epoch FROM now() - max(updated_at)) "
                      "FROM raw.nhl_games WHERE ($1::date IS NULL OR game_date = $1::date) "
                      "AND ($2::text[] IS NULL OR game_id = ANY($2::text[]))"},
    {"raw.nhl_plays",
     "SELECT count(*), extract(epoch FROM now() - max(updated_at)) FROM raw.nhl_plays "
     "WHERE ($1::date IS NULL AND $2::text[] IS NULL) OR game_id = ANY(coalesce($2::text[], "
     "ARRAY(SELECT game_id FROM raw.nhl_games WHERE game_date = $1::date)))"},
};

static const char *dep_query(const char *table)
{
        for (size_t i = 0; i < sizeof(dep_sql) / sizeof(dep_sql[0]); i++)
                if (strcmp(dep_sql[i].table, table) == 0)
                        return dep_sql[i].sql;
        return NULL;
}

/* ---- idempotency key and the event -------------------------------------------------------- */

int analytics_idem_key(char *out, size_t out_size, const char *sport,
                       const struct analytics_event *ev, const bool *want, size_t nwant)
{
        struct sl_sha256 h;
        char hex[SL_SHA256_HEX_LEN + 1];
        int w;

        sl_sha256_init(&h);
        for (size_t i = 0; i < nwant; i++) {
                const struct analytics_processor *proc = analytics_sport_processor_at(sport, i);
                if (want[i] && proc)
                        sl_sha256_update(&h, proc->name, strlen(proc->name) + 1);
        }
        sl_sha256_update(&h, "|", 1);
        const char *parts[] = {ev->games.literal, ev->players.literal, ev->teams.literal,
                               ev->upstream};
        for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
                const char *p = parts[i] ? parts[i] : "-";
                sl_sha256_update(&h, p, strlen(p) + 1);
        }
        sl_sha256_final_hex(&h, hex);
        w = snprintf(out, out_size, "analytics:%s:%s:%.16s", sport,
                     ev->game_date[0] ? ev->game_date : "-", hex);
        return w < 0 || (size_t)w >= out_size ? -ENAMETOOLONG : 0;
}

/*
 * The fields proto/events/analytics.completed.v1.json requires: "processor"
 * (the one processor, or "analytics" for a fan-out run), "tables" [{table,
 * rows}] and "entities" {games, players, teams: counts of the listed ones}.
 */
static void schema_v1_fields(cJSON *p, const struct analytics_proc_result *res, size_t nres,
                             const char *const *kinds, size_t n)
{
        cJSON *tables = cJSON_CreateArray(), *ents = cJSON_CreateObject();
        static const char *const kind[] = {"game", "player", "team"};
        static const char *const plural[] = {"games", "players", "teams"};

        cJSON_AddStringToObject(p, "processor", nres == 1 ? res[0].proc->name : "analytics");
        for (size_t i = 0; i < nres; i++) {
                cJSON *t = cJSON_CreateObject();
                cJSON_AddStringToObject(t, "table", res[i].proc->target);
                cJSON_AddNumberToObject(t, "rows", (double)(res[i].inserted + res[i].updated));
                cJSON_AddItemToArray(tables, t);
        }
        cJSON_AddItemToObject(p, "tables", tables);
        for (size_t k = 0; k < 3; k++) {
                size_t c = 0;
                for (size_t i = 0; i < n; i++)
                        c += strcmp(kinds[i], kind[k]) == 0;
                cJSON_AddNumberToObject(ents, plural[k], (double)c);
        }
        cJSON_AddItemToObject(p, "entities", ents);
}

struct sl_envelope *analytics_completed_new(const struct sl_envelope *parent, const char *key,
                                            const char *game_date,
                                            const struct analytics_proc_result *res, size_t nres,
                                            const char *const *kinds, const char *const *ids,
                                            size_t n)
{
        struct sl_envelope *env;
        cJSON *p, *procs;
        int64_t total = 0;

        if (!parent || !key)
                return NULL;
        env = sl_envelope_new("analytics.completed", "analytics", parent->sport,
                              game_date && *game_date ? game_date : NULL, parent);
        if (!env)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (sl_envelope_add_entity(env, kinds[i], ids[i]) < 0) {
                        sl_envelope_free(env);
                        return NULL;
                }
        }
        p = cJSON_CreateObject();
        procs = cJSON_AddArrayToObject(p, "processors");
        for (size_t i = 0; i < nres; i++) {
                cJSON *o = cJSON_CreateObject();
                int64_t rows = res[i].inserted + res[i].updated;
                cJSON_AddStringToObject(o, "name", res[i].proc->name);
                cJSON_AddNumberToObject(o, "rows", (double)rows);
                cJSON_AddNumberToObject(o, "inserted", (double)res[i].inserted);
                cJSON_AddNumberToObject(o, "updated", (double)res[i].updated);
                cJSON_AddItemToArray(procs, o);
                total += rows;
        }
        if (game_date && *game_date)
                cJSON_AddStringToObject(p, "game_date", game_date);
        else
                cJSON_AddNullToObject(p, "game_date");
        cJSON_AddNumberToObject(p, "rows", (double)total);
        schema_v1_fields(p, res, nres, kinds, n);
        if (sl_envelope_set_idem_key(env, key) < 0 || sl_envelope_set_payload(env, p) < 0) {
                sl_envelope_free(env);
                return NULL;
        }
        return env;
}

/* ---- one run ------------------------------------------------------------------------------ */

/* A de-duplicated, bounded list of (kind, id) for analytics.completed. */
struct ents {
        char **kinds, **ids; /* owned strings */
        size_t n, cap, max;
        bool overflow;
};

static void ents_add(struct ents *e, const char *kind, const char *id)
{
        if (e->overflow)
                return;
        for (size_t i = 0; i < e->n; i++)
                if (strcmp(e->ids[i], id) == 0 && strcmp(e->kinds[i], kind) == 0)
                        return;
        if (e->n == e->max) {
                e->overflow = true;
                return;
        }
        if (e->n == e->cap) {
                e->cap = e->cap ? 2 * e->cap : 64;
                e->kinds = sl_xrealloc(e->kinds, e->cap * sizeof(*e->kinds));
                e->ids = sl_xrealloc(e->ids, e->cap * sizeof(*e->ids));
        }
        e->kinds[e->n] = sl_xstrdup(kind);
        e->ids[e->n++] = sl_xstrdup(id);
}

static void ents_fini(struct ents *e)
{
        for (size_t i = 0; i < e->n; i++) {
                free(e->kinds[i]);
                free(e->ids[i]);
        }
        free(e->kinds);
        free(e->ids);
        memset(e, 0, sizeof(*e));
}

/* The entity list as the execution log's jsonb. */
static char *ents_json(const struct ents *e)
{
        cJSON *a = cJSON_CreateArray();
        char *s;

        for (size_t i = 0; !e->overflow && i < e->n; i++) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "kind", e->kinds[i]);
                cJSON_AddStringToObject(o, "id", e->ids[i]);
                cJSON_AddItemToArray(a, o);
        }
        s = cJSON_PrintUnformatted(a);
        cJSON_Delete(a);
        return s;
}

struct run {
        struct analytics_svc *svc;
        const struct sl_envelope *env;
        struct analytics_event ev;
        bool want[N_PROC_MAX];
        size_t nwant;
        struct analytics_dep_result deps[N_PROC_MAX];
        struct analytics_proc_result res[N_PROC_MAX];
        size_t nres;
        struct ents ents; /* entities of changed rows */
        char idem_key[SL_ENVELOPE_MAX_IDEM_KEY];
        char topic[256];
        char *event; /* serialized analytics.completed, owned */
        size_t event_len;
        char event_key[160];
        int64_t started_wall_ms, t0_ms;
        const char *batch_id, *batch_version; /* a coalesced batch's run: its row, else NULL */
        const char *batch_members;            /* its member event ids, "{a,b}" */
        char errstr[ERRSTR_SIZE];
};

/* Processor i of the run's sport. */
static const struct analytics_processor *proc_at(const struct run *run, size_t i)
{
        return analytics_sport_processor_at(run->env->sport, i);
}

/* What one execution log row says besides the run's own fields. */
struct log_row {
        const char *processor;
        const char *status;   /* completed | failed | skipped */
        const char *deps_met; /* "t", "f" or NULL (not checked) */
        const char *missing;  /* text[] literal */
        const char *skip_reason, *error;
        int64_t rows, t0_ms, started_wall_ms;
        const struct ents *ents;
        const char *event_id; /* NULL: the run's event */
};

static int exec_log(struct run *run, const struct log_row *row, char *errstr, size_t n)
{
        int64_t dur = sl_mono_ms() - row->t0_ms;
        char *ents = ents_json(row->ents ? row->ents : &run->ents);
        struct sl_phase_exec x = {
            .correlation_id = run->env->correlation_id,
            .event_id = row->event_id ? row->event_id : run->env->event_id,
            .processor = row->processor,
            .status = row->status,
            .started_wall_ms = row->started_wall_ms,
            .elapsed_ms = dur,
            .duration_ms = dur,
            .deps_met = row->deps_met,
            .missing = row->missing,
            .skip_reason = row->skip_reason,
            .error = row->error,
            .rows = row->rows,
            .entities = ents,
            .game_date = run->ev.game_date,
            .sport = run->env->sport,
        };
        int rc = sl_phase_exec_log(&run->svc->ph, &x, errstr, n);

        free(ents);
        return rc;
}

/* The distinct upstream tables of the wanted processors, and what each showed. */
struct dep_tables {
        const char *table[N_PROC_MAX * ANALYTICS_MAX_DEPS];
        struct analytics_dep_obs obs[N_PROC_MAX * ANALYTICS_MAX_DEPS];
        size_t n;
};

/*
 * Rows and age of the newest row for the scope of every table the wanted
 * processors depend on, each table once, all in one statement (a box
 * score's three processors asked raw.games three times, one round trip
 * each: six statements per event before).
 */
static int dep_observe_all(struct run *run, struct dep_tables *t)
{
        const char *params[2] = {run->ev.game_date[0] ? run->ev.game_date : NULL,
                                 run->ev.games.literal};
        PGresult *res = NULL;
        struct sl_buf sql;
        int rc;

        t->n = 0;
        for (size_t i = 0; i < run->nwant; i++) {
                const struct analytics_processor *proc = proc_at(run, i);
                for (size_t d = 0; run->want[i] && d < ANALYTICS_MAX_DEPS && proc->deps[d].table;
                     d++) {
                        size_t k = 0;
                        while (k < t->n && strcmp(t->table[k], proc->deps[d].table) != 0)
                                k++;
                        if (k == t->n)
                                t->table[t->n++] = proc->deps[d].table;
                }
        }
        if (t->n == 0)
                return 0;
        sl_buf_init(&sql, 0);
        for (size_t k = 0; k < t->n; k++) {
                const char *q = dep_query(t->table[k]);
                if (!q) {
                        sl_buf_fini(&sql);
                        return sl_errf(run->errstr, sizeof(run->errstr), -EINVAL,
                                       "no dependency query for %s", t->table[k]);
                }
                sl_buf_printf(&sql, "%sSELECT %zu, d.* FROM (%s) d", k ? " UNION ALL " : "", k, q);
        }
        rc = sl_pg_exec(run->svc->ph.pg, sql.data, 2, params, &res, run->errstr,
                        sizeof(run->errstr));
        sl_buf_fini(&sql);
        if (rc < 0)
                return rc;
        for (int r = 0; r < PQntuples(res); r++) {
                size_t k = (size_t)strtoul(PQgetvalue(res, r, 0), NULL, 10);
                if (k >= t->n)
                        continue; /* cannot happen */
                t->obs[k].rows = strtoll(PQgetvalue(res, r, 1), NULL, 10);
                t->obs[k].age_s = PQgetisnull(res, r, 2) ? 0 : strtod(PQgetvalue(res, r, 2), NULL);
        }
        PQclear(res);
        return 0;
}

/* What dep_observe_all() saw of table. */
static struct analytics_dep_obs dep_obs(const struct dep_tables *t, const char *table)
{
        for (size_t k = 0; k < t->n; k++)
                if (strcmp(t->table[k], table) == 0)
                        return t->obs[k];
        return (struct analytics_dep_obs){0, 0};
}

/*
 * Checks every triggered processor's dependencies. Returns 0 when all can
 * run; SL_BUS_NOT_READY (after logging a 'waiting' row per blocked
 * processor) when a critical one has no row yet: the runtime parks the event
 * and hands it back later (late data, docs/reliability.md); -EAGAIN (after
 * logging 'failed' rows) when the critical ones exist but are FAIL-stale:
 * the ordinary retries, then the DLQ; or a PostgreSQL error.
 */
static int check_deps(struct run *run)
{
        const struct analytics_cfg *cfg = run->svc->cfg;
        bool blocked = false, absent = false;
        char blocked_txt[512] = "";
        struct dep_tables seen;
        int rc;

        rc = dep_observe_all(run, &seen);
        if (rc < 0)
                return rc;
        for (size_t i = 0; i < run->nwant; i++) {
                const struct analytics_processor *proc = proc_at(run, i);
                struct analytics_dep_obs obs[ANALYTICS_MAX_DEPS] = {{0, 0}};
                if (!run->want[i])
                        continue;
                for (size_t d = 0; d < ANALYTICS_MAX_DEPS && proc->deps[d].table; d++)
                        obs[d] = dep_obs(&seen, proc->deps[d].table);
                analytics_deps_eval(proc, obs, cfg->stale_warn_s, cfg->stale_fail_s, &run->deps[i]);
                if (run->deps[i].met)
                        continue;
                blocked = true;
                absent |= run->deps[i].absent;
                size_t len = strlen(blocked_txt);
                snprintf(blocked_txt + len, sizeof(blocked_txt) - len, "%s%s: %s", len ? "; " : "",
                         proc->name, run->deps[i].critical_missing);
        }
        if (!blocked)
                return 0;
        for (size_t i = 0; i < run->nwant; i++) {
                char err[256], msg[600];
                if (!run->want[i] || run->deps[i].met)
                        continue;
                snprintf(msg, sizeof(msg), "critical dependency missing: %s (%s)",
                         run->deps[i].critical_missing, absent ? "waiting for it" : "retry later");
                struct log_row row = {.processor = proc_at(run, i)->name,
                                      .status = absent ? "waiting" : "failed",
                                      .deps_met = "f",
                                      .missing = run->deps[i].missing,
                                      .error = msg,
                                      .t0_ms = run->t0_ms,
                                      .started_wall_ms = run->started_wall_ms};
                if (exec_log(run, &row, err, sizeof(err)) < 0)
                        sl_log_debug("analytics.exec_log.error", "%s", err);
        }
        if (absent) {
                sl_bus_set_error("critical dependency missing: %s", blocked_txt);
                return sl_errf(run->errstr, sizeof(run->errstr), SL_BUS_NOT_READY, "%s",
                               blocked_txt);
        }
        return sl_errf(run->errstr, sizeof(run->errstr), -EAGAIN, "%s", blocked_txt);
}

static int claim(struct run *run)
{
        return sl_phase_claim(&run->svc->ph, run->idem_key, "analytics", run->env->correlation_id,
                              run->errstr, sizeof(run->errstr));
}

/* One processor's statement, its counts and entities, its log row (inside the transaction). */
static int run_processor(struct run *run, size_t i)
{
        const struct analytics_processor *proc = proc_at(run, i);
        const char *params[4] = {run->ev.game_date[0] ? run->ev.game_date : NULL,
                                 run->ev.games.literal, run->ev.players.literal,
                                 run->ev.teams.literal};
        struct analytics_proc_result *r = &run->res[run->nres++];
        struct ents mine = {.max = run->ents.max};
        int64_t t0 = sl_mono_ms(), wall0 = sl_wall_ms();
        PGresult *res = NULL;
        int rc;

        r->proc = proc;
        if (proc->run)
                rc = proc->run(run->svc->ph.pg, params, &res, run->errstr, sizeof(run->errstr));
        else
                rc = sl_pg_exec(run->svc->ph.pg, proc->sql, 4, params, &res, run->errstr,
                                sizeof(run->errstr));
        if (rc < 0) {
                if (strcmp(sl_pg_sqlstate(run->svc->ph.pg), "21000") == 0)
                        rc = -EBADMSG; /* one target row twice: upstream data contradicts itself */
                size_t len = strlen(run->errstr);
                snprintf(run->errstr + len, sizeof(run->errstr) - len, " (processor %s)",
                         proc->name);
                return rc;
        }
        for (int k = 0; k < PQntuples(res); k++) {
                static const char *const kinds[] = {"game", "player", "team"};
                if (strcmp(PQgetvalue(res, k, 0), "t") == 0)
                        r->inserted++;
                else
                        r->updated++;
                for (int c = 1; c <= 3; c++) {
                        if (PQgetisnull(res, k, c))
                                continue;
                        ents_add(&run->ents, kinds[c - 1], PQgetvalue(res, k, c));
                        ents_add(&mine, kinds[c - 1], PQgetvalue(res, k, c));
                }
        }
        PQclear(res);
        struct log_row row = {.processor = proc->name,
                              .status = "completed",
                              .deps_met = "t",
                              .missing = run->deps[i].missing,
                              .rows = r->inserted + r->updated,
                              .t0_ms = t0,
                              .started_wall_ms = wall0,
                              .ents = &mine};
        rc = exec_log(run, &row, run->errstr, sizeof(run->errstr));
        ents_fini(&mine);
        return rc;
}

/* Adds each id of a "{1,2}" literal of digits (NULL: none). */
static void ents_add_literal(struct ents *e, const char *kind, const char *literal)
{
        char id[32];
        size_t len = 0;

        for (const char *p = literal ? literal + 1 : ""; *p; p++) {
                if (*p == ',' || *p == '}') {
                        id[len] = '\0';
                        if (len)
                                ents_add(e, kind, id);
                        len = 0;
                } else if (len + 1 < sizeof(id)) {
                        id[len++] = *p;
                }
        }
}

/* With no changed row, the event names the incoming entities (never "whole date" by accident). */
static void incoming_entities(struct run *run)
{
        if (run->batch_id) { /* a batch: the union of its members' entities */
                ents_add_literal(&run->ents, "game", run->ev.games.literal);
                ents_add_literal(&run->ents, "player", run->ev.players.literal);
                ents_add_literal(&run->ents, "team", run->ev.teams.literal);
                return;
        }
        for (size_t i = 0; i < run->env->n_entities; i++) {
                const char *k = run->env->entities[i].kind;
                if (strcmp(k, "game") == 0 || strcmp(k, "player") == 0 || strcmp(k, "team") == 0)
                        ents_add(&run->ents, k, run->env->entities[i].id);
        }
}

static int outbox_write(struct run *run)
{
        struct sl_envelope *ev;
        size_t n = run->ents.overflow ? 0 : run->ents.n;

        ev = analytics_completed_new(run->env, run->idem_key, run->ev.game_date, run->res,
                                     run->nres, (const char *const *)run->ents.kinds,
                                     (const char *const *)run->ents.ids, n);
        if (!ev)
                return sl_errf(run->errstr, sizeof(run->errstr), -EINVAL,
                               "could not build analytics.completed");
        snprintf(run->event_key, sizeof(run->event_key), "%s:%s", ev->sport,
                 ev->game_date[0] ? ev->game_date : "-");
        run->event = sl_envelope_serialize(ev, &run->event_len);
        sl_envelope_free(ev);
        return sl_phase_outbox_insert(&run->svc->ph, run->topic, run->event_key, run->idem_key,
                                      run->event, run->errstr, sizeof(run->errstr));
}

/*
 * Deletes the run's batch row if it still holds what was claimed (version):
 * inside the run's transaction, so the row goes with the effect. -ESTALE
 * when a member was merged in meanwhile (the caller rolls back and runs the
 * grown batch again), 0, or a PostgreSQL error.
 */
static int batch_delete(struct run *run)
{
        const char *params[2] = {run->batch_id, run->batch_version};
        PGresult *res = NULL;
        int rc = sl_pg_exec(run->svc->ph.pg,
                            "DELETE FROM ops.analytics_batches WHERE batch_id = $1::bigint "
                            "AND version = $2::int",
                            2, params, &res, run->errstr, sizeof(run->errstr));

        if (rc < 0)
                return rc;
        rc = strcmp(PQcmdTuples(res), "1") == 0 ? 0 : -ESTALE;
        PQclear(res);
        if (rc < 0)
                sl_errf(run->errstr, sizeof(run->errstr), rc, "batch %s grew while it ran",
                        run->batch_id);
        return rc;
}

/*
 * One 'skipped' log row (processor "coalesce") per member of the batch but
 * the first (whose event id the processor rows carry), in the run's
 * transaction: every raw.completed has a row once its batch ran.
 */
static int batch_member_rows(struct run *run)
{
        const char *p = run->batch_members ? run->batch_members + 1 : "";
        char id[64], reason[160];
        int rc = 0;

        snprintf(reason, sizeof(reason), "coalesced: ran in batch %s with event %s", run->batch_id,
                 run->env->event_id);
        while (rc == 0 && *p && *p != '}') {
                size_t len = strcspn(p, ",}");
                if (len < sizeof(id)) {
                        memcpy(id, p, len);
                        id[len] = '\0';
                        struct log_row row = {.processor = "coalesce",
                                              .status = "skipped",
                                              .skip_reason = reason,
                                              .t0_ms = run->t0_ms,
                                              .started_wall_ms = run->started_wall_ms,
                                              .event_id = id};
                        if (strcmp(id, run->env->event_id) != 0)
                                rc = exec_log(run, &row, run->errstr, sizeof(run->errstr));
                }
                p += len + (p[len] == ',');
        }
        return rc;
}

/* BEGIN, claim, every processor, outbox, COMMIT. 0, -EEXIST (claimed before) or the error. */
static int process_tx(struct run *run)
{
        struct sl_pg *pg = run->svc->ph.pg;
        int rc;

        rc = sl_pg_begin(pg, run->errstr, sizeof(run->errstr));
        if (rc == 0)
                rc = claim(run);
        for (size_t i = 0; rc == 0 && i < run->nwant; i++)
                if (run->want[i])
                        rc = run_processor(run, i);
        if (rc == 0 && run->ents.n == 0 && !run->ents.overflow)
                incoming_entities(run);
        if (rc == 0)
                rc = outbox_write(run);
        if (rc == 0 && run->batch_id)
                rc = batch_delete(run);
        if (rc == 0 && run->batch_id)
                rc = batch_member_rows(run);
        if (rc == 0)
                rc = sl_pg_commit(pg, run->errstr, sizeof(run->errstr));
        return sl_phase_tx_end(&run->svc->ph, rc);
}

static void metric_run(const char *status)
{
        sl_metric_inc(sl_metrics_counter("statline_analytics_runs_total",
                                         "Analytics runs (one per raw.completed) by outcome.",
                                         "status"),
                      status);
}

/* One processor's 'skipped' row for the run's event (run->errstr on failure). */
static int log_skip(struct run *run, const char *processor, const char *reason)
{
        struct log_row row = {.processor = processor,
                              .status = "skipped",
                              .skip_reason = reason,
                              .t0_ms = run->t0_ms,
                              .started_wall_ms = run->started_wall_ms};

        return exec_log(run, &row, run->errstr, sizeof(run->errstr));
}

/*
 * One 'skipped' log row per triggered processor (or the registry's row).
 * Returns 0 or the PostgreSQL error (run->errstr): a skip whose rows are not
 * written is not handled, its event is retried.
 */
static int log_skips(struct run *run, const char *reason)
{
        bool any = false;
        int rc = 0;

        for (size_t i = 0; i < run->nwant && rc == 0; i++) {
                if (!run->want[i])
                        continue;
                any = true;
                rc = log_skip(run, proc_at(run, i)->name, reason);
        }
        return any || rc < 0 ? rc : log_skip(run, "trigger_registry", reason);
}

static int duplicate(struct run *run)
{
        int lrc, rc = sl_phase_replay(&run->svc->ph, run->topic, run->idem_key, &run->event,
                                      &run->event_len, run->errstr, sizeof(run->errstr));

        if (rc < 0 && rc != -EEXIST)
                return rc;
        if (rc == 0)
                sl_log_info("analytics.republish", "key=%s: event was unpublished: published now",
                            run->idem_key);
        else
                run->svc->duplicates++;
        metric_run(rc == 0 ? "republished" : "duplicate");
        lrc = log_skips(run, rc == 0 ? "duplicate: analytics.completed re-published"
                                     : "duplicate: already processed and published");
        return lrc < 0 ? lrc : rc; /* unrecorded: the redelivery records it */
}

static int failed(struct run *run, int rc)
{
        char err[256];

        bool waits = rc == -EAGAIN || rc == SL_BUS_NOT_READY;

        run->svc->failed += !waits;
        run->svc->deferred += waits;
        metric_run(waits ? "deferred" : "failed");
        if (waits) {
                sl_log_warn("analytics.deps.missing", "%s (%s)", run->errstr,
                            rc == -EAGAIN ? "stale: retry" : "not ready: parked for later");
                return rc;
        }
        if (run->errstr[0])
                sl_bus_set_error("%s", run->errstr); /* into a dead letter's dlq.error */
        if (rc == -EBADMSG || sl_err_classify(rc) == SL_ERR_PERMANENT)
                sl_log_warn("analytics.poison", "%s (dead-lettered)", run->errstr);
        else
                sl_log_warn("analytics.retry", "%s (%s)", run->errstr, sl_strerror(rc));
        struct log_row row = {.processor = "trigger_registry",
                              .status = "failed",
                              .error = run->errstr[0] ? run->errstr : sl_strerror(rc),
                              .t0_ms = run->t0_ms,
                              .started_wall_ms = run->started_wall_ms};
        if (!run->svc->ph.pg_down && exec_log(run, &row, err, sizeof(err)) < 0)
                sl_log_debug("analytics.exec_log.error", "%s", err);
        return rc;
}

static void log_done(struct run *run)
{
        char buf[512] = "";
        size_t len = 0;

        for (size_t i = 0; i < run->nres; i++) {
                int w = snprintf(buf + len, sizeof(buf) - len, "%s%s=%lld", i ? "," : "",
                                 run->res[i].proc->name,
                                 (long long)(run->res[i].inserted + run->res[i].updated));
                if (w < 0 || (size_t)w >= sizeof(buf) - len)
                        break;
                len += (size_t)w;
        }
        sl_log_info("analytics.run.ok", "date=%s rows %s entities=%zu%s duration_ms=%lld",
                    run->ev.game_date[0] ? run->ev.game_date : "-", buf, run->ents.n,
                    run->ents.overflow ? " (overflow: whole date)" : "",
                    (long long)(sl_mono_ms() - run->t0_ms));
}

/* Which processors run: the registry's fan-out minus those the event cannot scope. */
static const char *select_processors(struct run *run)
{
        bool scoped =
            run->ev.game_date[0] || run->ev.games.n || run->ev.players.n || run->ev.teams.n;
        size_t n;

        run->nwant = nproc(run->env->sport);
        n = analytics_route_sport(run->env->sport, run->ev.tables, run->ev.ntables, run->want,
                                  run->nwant);
        if (n == 0)
                return "smart skip: no analytics processor is triggered by the event's tables";
        for (size_t i = 0; i < run->nwant; i++)
                if (run->want[i] &&
                    (!scoped || (proc_at(run, i)->needs_date && !run->ev.game_date[0]))) {
                        run->want[i] = false;
                        n--;
                }
        return n == 0 ? "no game_date (and no entities): nothing to scope the processors by" : NULL;
}

/* True when the event names a box-score table (results of played games). */
static bool event_has_boxscores(const struct run *run)
{
        for (size_t t = 0; t < run->ev.ntables; t++) {
                if (strcmp(run->ev.tables[t], "raw.player_boxscores") == 0 ||
                    strcmp(run->ev.tables[t], "raw.team_boxscores") == 0)
                        return true;
        }
        return false;
}

/*
 * Early exit (seed 003): a scoreboard triggers the game summaries through
 * raw.games, but there is nothing to summarise until box scores of that
 * date are loaded (games not played yet, or box scores still on their way:
 * the scoreboard is scraped first). Those processors are dropped with a
 * 'skipped' row instead of failing their dependency check and blocking the
 * consumer for a retry; the box-score events trigger them. A box score that
 * arrived before its raw.games row still gets summarised when that row
 * comes. Returns the number of processors left, or a PostgreSQL error.
 */
static int early_exit(struct run *run)
{
        const char *params[1] = {run->ev.game_date};
        PGresult *res = NULL;
        char reason[96];
        int left = 0, rc;
        long long loaded;

        for (size_t i = 0; i < run->nwant; i++)
                left += run->want[i];
        if (!run->ev.game_date[0] || event_has_boxscores(run) ||
            strcmp(run->env->sport, "nba") != 0) /* the NBA box-score tables only */
                return left;
        rc = sl_pg_exec(
            run->svc->ph.pg,
            "SELECT count(*) FROM raw.player_boxscores p JOIN raw.games g USING (game_id) "
            "WHERE g.game_date = $1::date",
            1, params, &res, run->errstr, sizeof(run->errstr));
        if (rc < 0)
                return rc;
        loaded = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        if (loaded > 0)
                return left;
        snprintf(reason, sizeof(reason), "early exit: no box scores loaded for %s",
                 run->ev.game_date);
        for (size_t i = 0; i < run->nwant; i++) {
                const struct analytics_processor *proc = proc_at(run, i);
                bool summary = false;
                for (size_t t = 0; proc->triggers[t]; t++)
                        summary |= strcmp(proc->triggers[t], "raw.player_boxscores") == 0;
                if (!run->want[i] || !summary)
                        continue;
                run->want[i] = false;
                left--;
                rc = log_skip(run, proc->name, reason);
                if (rc < 0)
                        return rc; /* retried: a skip must be on record */
        }
        return left;
}

/*
 * Early exit (seed 003: "no games that date"): a date with no game on it (a
 * holiday, the All-Star break) still gets its injury report and maybe props,
 * which trigger the upcoming-game processors; their critical raw.schedule
 * has no row for the date and never will. Late data looks the same (the
 * scoreboard not loaded yet: the event must wait, docs/reliability.md "Not
 * ready yet"), so the date counts as gameless only once raw has loaded a
 * scoreboard of it and neither raw.schedule nor raw.games has a game on it.
 * Every processor left is then skipped with the reason. Returns the number
 * of processors left (0 = all skipped) or a PostgreSQL error.
 */
static int no_games_exit(struct run *run, int left)
{
        const char *params[1] = {run->ev.game_date};
        PGresult *res = NULL;
        char reason[128];
        bool gameless;
        int rc;

        if (left == 0 || !run->ev.game_date[0] || event_has_boxscores(run) ||
            strcmp(run->env->sport, "nba") != 0)
                return left;
        rc = sl_pg_exec(run->svc->ph.pg,
                        "SELECT NOT EXISTS (SELECT 1 FROM raw.schedule WHERE game_date = $1::date) "
                        "AND NOT EXISTS (SELECT 1 FROM raw.games WHERE game_date = $1::date) "
                        "AND EXISTS (SELECT 1 FROM ops.pipeline_execution_log WHERE phase = 'raw' "
                        "AND processor IN ('scoreboard_v2', 'scoreboard_v3') "
                        "AND game_date = $1::date AND status = 'completed')",
                        1, params, &res, run->errstr, sizeof(run->errstr));
        if (rc < 0)
                return rc;
        gameless = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (!gameless)
                return left;
        snprintf(reason, sizeof(reason),
                 "early exit: no games on %s (its scoreboard was loaded with none)",
                 run->ev.game_date);
        for (size_t i = 0; i < run->nwant; i++) {
                if (!run->want[i])
                        continue;
                run->want[i] = false;
                rc = log_skip(run, proc_at(run, i)->name, reason);
                if (rc < 0)
                        return rc; /* retried: a skip must be on record */
        }
        sl_log_info("analytics.skip", "event=%s: %s", run->env->event_id, reason);
        return 0;
}

/* ---- coalescing (README.md "Coalescing") ------------------------------------------------- */

bool analytics_coalesce_eligible(const struct analytics_cfg *cfg, const struct sl_envelope *env)
{
        return cfg->coalesce_window_ms > 0 && env->correlation_id[0] && env->sport &&
               env->sport[0] && env->game_date[0];
}

int analytics_want_from_names(const char *sport, const char *names, bool *want, size_t nwant)
{
        size_t len = names ? strlen(names) : 0;
        const char *p;
        int n = 0;

        memset(want, 0, nwant * sizeof(*want));
        if (len < 2 || names[0] != '{' || names[len - 1] != '}')
                return -EINVAL;
        for (p = names + 1; p < names + len - 1;) {
                const char *end = p + strcspn(p, ",}");
                size_t i;
                for (i = 0; i < nwant; i++) {
                        const struct analytics_processor *proc =
                            analytics_sport_processor_at(sport, i);
                        if (proc && strlen(proc->name) == (size_t)(end - p) &&
                            strncmp(proc->name, p, (size_t)(end - p)) == 0)
                                break;
                }
                if (i == nwant)
                        return -EINVAL;
                n += !want[i];
                want[i] = true;
                p = *end == ',' ? end + 1 : end;
        }
        return n;
}

/* The processors the run wants, as a text[] literal "{a,b}" (names need no quoting). */
static void want_literal(const struct run *run, char *out, size_t size)
{
        size_t len = 0;

        snprintf(out, size, "{");
        for (size_t i = 0; i < run->nwant; i++) {
                if (!run->want[i])
                        continue;
                len = strlen(out);
                snprintf(out + len, size - len, "%s%s", len > 1 ? "," : "", proc_at(run, i)->name);
        }
        len = strlen(out);
        snprintf(out + len, size - len, "}");
}

/*
 * Whether an event that names no game (an injury or prop update of a few
 * players) may join: only a batch already open for its correlation id,
 * sport and date. Alone it runs at once instead of waiting out the window
 * for a burst that is not coming. 1 open, 0 none, -EEXIST the event was
 * merged before (redelivered), or the error.
 */
static int coalesce_open_batch(struct run *run)
{
        const char *params[5] = {run->svc->cfg->svc.bus_prefix, run->env->correlation_id,
                                 run->env->sport, run->ev.game_date, run->env->event_id};
        PGresult *res = NULL;
        int rc = sl_pg_exec(run->svc->ph.pg,
                            "SELECT EXISTS (SELECT 1 FROM ops.analytics_batches WHERE prefix = $1 "
                            "AND correlation_id = $2 AND sport = $3 AND game_date = $4::date), "
                            "EXISTS (SELECT 1 FROM ops.analytics_batch_members WHERE "
                            "event_id = $5)",
                            5, params, &res, run->errstr, sizeof(run->errstr));

        if (rc < 0)
                return rc;
        rc = strcmp(PQgetvalue(res, 0, 1), "t") == 0 ? -EEXIST
                                                     : strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        return rc;
}

/*
 * Merges the ready event into its batch (one statement: the member row and
 * the batch upsert commit together; nothing is acked before). 0 merged,
 * 1 not merged (no game named and no batch open: run it now), -EEXIST the
 * event was a member before (redelivered), or the error.
 */
static int coalesce_add(struct run *run, const struct sl_bus_msg *msg)
{
        char procs[512], window[32], prefix[160];
        PGresult *res = NULL;
        int rc;

        if (!run->ev.games.literal || run->ev.games.n == 0) {
                rc = coalesce_open_batch(run);
                if (rc <= 0)
                        return rc < 0 ? rc : 1; /* -EEXIST: a duplicate */
        }

        want_literal(run, procs, sizeof(procs));
        snprintf(window, sizeof(window), "%lld", (long long)run->svc->cfg->coalesce_window_ms);
        snprintf(prefix, sizeof(prefix), "%s", run->svc->cfg->svc.bus_prefix);
        const char *params[15] = {run->env->event_id,
                                  run->env->correlation_id,
                                  run->env->sport,
                                  run->ev.game_date,
                                  procs,
                                  run->ev.games.literal,
                                  run->ev.players.literal,
                                  run->ev.teams.literal,
                                  run->ev.upstream,
                                  NULL,
                                  window,
                                  prefix,
                                  msg->topic,
                                  msg->key,
                                  msg->data};
        size_t len = 0;
        char *parent = sl_envelope_serialize(run->env, &len);

        params[9] = parent;
        rc = sl_pg_exec(
            run->svc->ph.pg,
            "WITH m AS (INSERT INTO ops.analytics_batch_members (event_id, correlation_id, sport, "
            "game_date, topic, msg_key, message) VALUES ($1, $2, $3, $4::date, $13, $14, $15) "
            "ON CONFLICT DO NOTHING RETURNING event_id) "
            "INSERT INTO ops.analytics_batches AS b (prefix, correlation_id, sport, game_date, "
            "processors, games, players, teams, upstreams, members, parent, due_at) "
            "SELECT $12, $2, $3, $4::date, $5::text[], $6::text[], $7::text[], $8::text[], "
            "ARRAY[$9::text], ARRAY[$1::text], $10, "
            "clock_timestamp() + make_interval(secs => $11::bigint / 1000.0) FROM m "
            "ON CONFLICT (prefix, correlation_id, sport, game_date) DO UPDATE SET "
            "processors = ARRAY(SELECT DISTINCT x FROM unnest(b.processors || "
            "EXCLUDED.processors) x ORDER BY x), "
            "games = CASE WHEN b.games IS NULL OR EXCLUDED.games IS NULL THEN NULL ELSE "
            "ARRAY(SELECT DISTINCT x FROM unnest(b.games || EXCLUDED.games) x ORDER BY x) END, "
            "players = CASE WHEN b.players IS NULL OR EXCLUDED.players IS NULL THEN NULL ELSE "
            "ARRAY(SELECT DISTINCT x FROM unnest(b.players || EXCLUDED.players) x ORDER BY x) "
            "END, "
            "teams = CASE WHEN b.teams IS NULL OR EXCLUDED.teams IS NULL THEN NULL ELSE "
            "ARRAY(SELECT DISTINCT x FROM unnest(b.teams || EXCLUDED.teams) x ORDER BY x) END, "
            "upstreams = ARRAY(SELECT DISTINCT x FROM unnest(b.upstreams || EXCLUDED.upstreams) "
            "x ORDER BY x), "
            "members = b.members || EXCLUDED.members, version = b.version + 1, "
            "updated_at = now() "
            "RETURNING batch_id, cardinality(members)",
            15, params, &res, run->errstr, sizeof(run->errstr));
        free(parent);
        if (rc < 0)
                return rc;
        if (PQntuples(res) == 0) {
                PQclear(res);
                return -EEXIST;
        }
        sl_log_info("analytics.coalesce.add", "event=%s date=%s batch=%s members=%s",
                    run->env->event_id, run->ev.game_date, PQgetvalue(res, 0, 0),
                    PQgetvalue(res, 0, 1));
        PQclear(res);
        run->svc->coalesced++;
        metric_run("coalesced");
        return 0;
}

/* A redelivered member: acked and skipped (its batch ran, or will). */
static int coalesce_duplicate(struct run *run)
{
        int rc = log_skips(run, "duplicate: already merged into a coalesced batch");

        if (rc < 0)
                return rc; /* retried: a skip must be on record */
        run->svc->duplicates++;
        metric_run("duplicate");
        sl_log_info("analytics.duplicate", "event=%s: already merged into a coalesced batch",
                    run->env->event_id);
        return -EEXIST;
}

int analytics_handle(const struct sl_envelope *env, const struct sl_bus_msg *msg, void *opaque)
{
        struct analytics_svc *svc = opaque;
        struct run run;
        const char *skip;
        int rc;

        memset(&run, 0, sizeof(run));
        run.svc = svc;
        run.env = env;
        run.ents.max = (size_t)svc->cfg->max_entities;
        run.started_wall_ms = sl_wall_ms();
        run.t0_ms = sl_mono_ms();
        rc = analytics_event_parse(env, &run.ev, run.errstr, sizeof(run.errstr));
        if (rc == 0 && sl_bus_topic(run.topic, sizeof(run.topic), svc->cfg->svc.bus_prefix,
                                    env->sport, "analytics") < 0)
                rc = sl_errf(run.errstr, sizeof(run.errstr), -EBADMSG, "topic too long");
        if (rc < 0)
                goto done;
        skip = select_processors(&run);
        if (skip) {
                memset(run.want, 0, sizeof(run.want));
                rc = log_skips(&run, skip);
                if (rc < 0)
                        goto done;
                metric_run("skipped");
                sl_log_info("analytics.skip", "event=%s: %s", env->event_id, skip);
                goto done;
        }
        rc = early_exit(&run);
        if (rc == 0) {
                metric_run("skipped");
                sl_log_info("analytics.skip", "event=%s: early exit: no box scores loaded for %s",
                            env->event_id, run.ev.game_date);
                goto done;
        }
        if (rc > 0) {
                rc = no_games_exit(&run, rc);
                if (rc == 0) {
                        metric_run("skipped");
                        goto done;
                }
        }
        if (rc < 0)
                goto done;
        rc = analytics_idem_key(run.idem_key, sizeof(run.idem_key), env->sport, &run.ev, run.want,
                                run.nwant);
        if (rc == 0)
                rc = check_deps(&run);
        /* a member keeps its message to be dead-lettered from (a NUL inside: run it alone) */
        if (rc == 0 && analytics_coalesce_eligible(svc->cfg, env) && msg && msg->topic &&
            msg->data && strlen(msg->data) == msg->len) {
                rc = coalesce_add(&run, msg);
                if (rc == -EEXIST)
                        rc = coalesce_duplicate(&run);
                if (rc <= 0)
                        goto done;
                rc = 0; /* alone: run it now */
        }
        if (rc == 0)
                rc = process_tx(&run);
        if (rc == 0)
                rc = sl_phase_publish(&svc->ph, run.topic, run.event_key, run.idem_key, run.event,
                                      run.event_len, run.errstr, sizeof(run.errstr));
        if (rc == -EEXIST)
                rc = duplicate(&run);
        else if (rc == 0) {
                svc->runs++;
                metric_run("completed");
                log_done(&run);
        }
done:
        if (rc < 0 && rc != -EEXIST)
                rc = failed(&run, rc);
        if (rc == 0 || rc == -EEXIST || rc == -EAGAIN || rc == SL_BUS_NOT_READY)
                sl_phase_note_pg_up(&svc->ph);
        analytics_event_fini(&run.ev);
        ents_fini(&run.ents);
        free(run.event);
        return rc;
}

/* ---- service lifecycle ------------------------------------------------------------------- */

int analytics_svc_open(struct analytics_svc *svc, const struct analytics_cfg *cfg,
                       struct sl_bus *bus, struct sl_http *http, char *errstr, size_t n)
{
        int rc;

        svc->cfg = cfg;
        svc->ph.bus = bus; /* set up front: sl_phase_open() below may not be reached */
        svc->ph.http = http;
        if (cfg->stale_warn_s > cfg->stale_fail_s)
                return sl_errf(errstr, n, -EINVAL,
                               "deps.stale_warn_s (%lld) > deps.stale_fail_s (%lld)",
                               (long long)cfg->stale_warn_s, (long long)cfg->stale_fail_s);
        rc = sl_phase_open(&svc->ph, "analytics", &cfg->phase, bus, http, errstr, n);
        if (rc < 0)
                return rc;
        sl_log_info("analytics.init", "migrations applied=%d processors nba=%zu nhl=%zu", rc,
                    nproc("nba"), nproc("nhl"));
        return 0;
}

void analytics_svc_close(struct analytics_svc *svc)
{
        sl_phase_close(&svc->ph);
}

/*
 * Makes the batch due again in delay_ms with the error noted (it failed or
 * grew while running). The claim counted an attempt; counted false takes it
 * back (the batch grew, waits for a dependency or for PostgreSQL: not a
 * failure of its own).
 */
static void batch_release(struct analytics_svc *svc, const char *id, int64_t delay_ms,
                          const char *why, bool counted)
{
        char delay[32], err[256];
        const char *params[4] = {id, delay, why, counted ? "0" : "1"};

        snprintf(delay, sizeof(delay), "%lld", (long long)delay_ms);
        if (sl_pg_exec(svc->ph.pg,
                       "UPDATE ops.analytics_batches SET due_at = clock_timestamp() + "
                       "make_interval(secs => $2::bigint / 1000.0), last_error = $3, "
                       "attempts = greatest(attempts - $4::int, 0), "
                       "updated_at = now() WHERE batch_id = $1::bigint",
                       4, params, NULL, err, sizeof(err)) < 0)
                sl_log_warn("analytics.batch.release.error", "batch=%s: %s", id, err);
}

/*
 * The batch failed for good: every member goes to the DLQ of the topic it
 * came in on, with the batch's error (sl_bus_dead_letter), its member row
 * deleted once the broker confirmed (a replay then merges it anew), and
 * the runtime's 'failed' log row (processor "dlq", svc.c) each; then the batch row goes (or,
 * if it grew meanwhile, loses those members and runs again at once).
 * Returns 0, or an error when a member could not be dead-lettered (no
 * stored message: merged before migration 0019; or the publish failed): the
 * caller then keeps the batch and retries it.
 */
static int batch_dead_letter(struct analytics_svc *svc, struct run *run, int rc, int attempts,
                             int64_t age_ms)
{
        const char *params[3] = {run->batch_id, run->batch_version, run->batch_members};
        char reason[512], err[256];
        PGresult *res = NULL;
        int n, dead = 0, ret = 0;

        if (rc == SL_BUS_NOT_READY)
                snprintf(reason, sizeof(reason),
                         "analytics batch %s: dependency not ready after %lld s: %.400s",
                         run->batch_id, (long long)(age_ms / 1000), run->errstr);
        else
                snprintf(reason, sizeof(reason), "analytics batch %s failed: %.400s", run->batch_id,
                         run->errstr[0] ? run->errstr : sl_strerror(rc));
        if (sl_pg_exec(svc->ph.pg,
                       "SELECT u.id, m.topic, m.msg_key, m.message FROM unnest($1::text[]) "
                       "WITH ORDINALITY AS u(id, n) JOIN ops.analytics_batch_members m "
                       "ON m.event_id = u.id ORDER BY u.n",
                       1, params + 2, &res, err, sizeof(err)) < 0) {
                sl_log_warn("analytics.batch.dlq.error", "batch=%s: %s", run->batch_id, err);
                return -EIO;
        }
        n = PQntuples(res);
        for (int i = 0; i < n; i++) {
                const char *id = PQgetvalue(res, i, 0);
                struct sl_bus_msg m = {.partition = -1, .offset = -1};
                const char *del[1] = {id};

                if (PQgetisnull(res, i, 3) || PQgetisnull(res, i, 1)) {
                        sl_log_error("analytics.batch.dlq.error",
                                     "batch=%s member=%s has no stored message (merged before "
                                     "migration 0019): the batch is retried",
                                     run->batch_id, id);
                        ret = -ENOENT;
                        continue;
                }
                m.topic = PQgetvalue(res, i, 1);
                m.key = PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2);
                m.data = PQgetvalue(res, i, 3);
                m.len = (size_t)PQgetlength(res, i, 3);
                snprintf(m.id, sizeof(m.id), "batch:%s", run->batch_id);
                ret = sl_bus_dead_letter(svc->ph.bus, &m, rc, attempts, sl_wall_ms() - age_ms,
                                         reason);
                if (ret < 0)
                        break;
                dead++;
                if (sl_pg_exec(svc->ph.pg,
                               "DELETE FROM ops.analytics_batch_members WHERE event_id = $1", 1,
                               del, NULL, err, sizeof(err)) < 0)
                        sl_log_warn("analytics.batch.dlq.error", "batch=%s member=%s: %s",
                                    run->batch_id, id, err);
        }
        PQclear(res);
        sl_log_warn("analytics.batch.dead_lettered", "batch=%s members=%d of %d: %s", run->batch_id,
                    dead, n, reason);
        if (ret < 0)
                return ret;
        if (sl_pg_exec(svc->ph.pg,
                       "WITH d AS (DELETE FROM ops.analytics_batches WHERE batch_id = $1::bigint "
                       "AND version = $2::int RETURNING 1) "
                       "UPDATE ops.analytics_batches SET members = ARRAY(SELECT x FROM "
                       "unnest(members) x WHERE x <> ALL($3::text[])), attempts = 0, "
                       "due_at = clock_timestamp(), last_error = NULL, updated_at = now() "
                       "WHERE batch_id = $1::bigint AND NOT EXISTS (SELECT 1 FROM d)",
                       3, params, NULL, err, sizeof(err)) < 0) {
                /* the members are in the DLQ and forgotten: a rerun of the rest is harmless */
                sl_log_warn("analytics.batch.dlq.error", "batch=%s: %s", run->batch_id, err);
        }
        return 0;
}

/*
 * A batch run failed with rc (failed() has logged it); attempts counts the
 * claims that were not taken back, this one included. Connection trouble
 * and an open breaker are not the batch's fault: taken back, again in 1 s
 * (PostgreSQL down: the 30 s lease does it). Not ready: taken back, again in
 * 5 s, dead-lettered once the batch is retry.not_ready_max_ms old. Anything
 * else counts: dead-lettered at once if permanent (sl_err_classify), after
 * retry.attempts counted failures otherwise, waiting retry.delays_ms
 * between them, as the bus does for a single event.
 */
static void batch_failed(struct analytics_svc *svc, struct run *run, int rc, int attempts,
                         int64_t age_ms)
{
        const struct sl_svc_cfg *c = &svc->cfg->svc;
        struct sl_retry_opts r;
        bool counted = true, dead;
        int64_t delay;

        if (svc->ph.pg_down)
                return;
        sl_retry_defaults(&r);
        if (c->retry_delays_ms && sl_retry_parse_delays(&r, c->retry_delays_ms) < 0)
                sl_retry_defaults(&r);
        r.max_attempts = c->retry_attempts;
        if (rc == SL_BUS_NOT_READY) {
                counted = false;
                dead = age_ms >= c->not_ready_max_ms;
                delay = 5000;
        } else if (rc == -EBUSY || rc == -ECONNRESET || rc == -ECONNREFUSED || rc == -ENOTCONN ||
                   rc == -EPIPE) {
                counted = false;
                dead = false;
                delay = 1000;
        } else {
                dead = sl_err_classify(rc) == SL_ERR_PERMANENT ||
                       attempts >= sl_retry_max_attempts(&r);
                delay = sl_retry_delay_ms(&r, attempts);
        }
        if (dead && batch_dead_letter(svc, run, rc, attempts, age_ms) == 0)
                return;
        sl_log_warn("analytics.batch.retry", "batch=%s attempt %d%s, again in %lld ms: %s",
                    run->batch_id, attempts, counted ? "" : " (not counted)", (long long)delay,
                    run->errstr);
        batch_release(svc, run->batch_id, delay, run->errstr, counted);
}

/* Deletes a batch whose content was processed before (-EEXIST), if it did not grow. */
static void batch_forget(struct run *run)
{
        char err[256];
        const char *params[2] = {run->batch_id, run->batch_version};

        if (sl_pg_exec(run->svc->ph.pg,
                       "DELETE FROM ops.analytics_batches WHERE batch_id = $1::bigint "
                       "AND version = $2::int",
                       2, params, NULL, err, sizeof(err)) < 0)
                sl_log_warn("analytics.batch.forget.error", "batch=%s: %s", run->batch_id, err);
}

/* Fills an analytics_ids from a column of the claimed row (NULL = no filter). */
static void ids_from(struct analytics_ids *ids, PGresult *res, int col)
{
        const char *v = PQgetvalue(res, 0, col);

        if (PQgetisnull(res, 0, col))
                return;
        ids->literal = sl_xstrdup(v);
        ids->n = strlen(v) > 2;
        for (const char *p = v; *p; p++)
                ids->n += *p == ',';
}

/*
 * Runs one claimed batch (row 0 of res: batch_id, version, game_date,
 * processors, games, players, teams, upstreams, parent, members, attempts)
 * through the normal path: dependency check, one transaction (claim,
 * processors, log rows, outbox, the batch row deleted), publish.
 */
static void batch_run(struct analytics_svc *svc, PGresult *res)
{
        struct sl_envelope *parent = NULL;
        struct run run;
        char *upstream = NULL;
        int rc, attempts = (int)strtol(PQgetvalue(res, 0, 10), NULL, 10);
        int64_t age_ms = strtoll(PQgetvalue(res, 0, 12), NULL, 10);

        memset(&run, 0, sizeof(run));
        run.svc = svc;
        run.batch_id = PQgetvalue(res, 0, 0);
        run.batch_version = PQgetvalue(res, 0, 1);
        run.batch_members = PQgetvalue(res, 0, 11);
        run.ents.max = (size_t)svc->cfg->max_entities;
        run.started_wall_ms = sl_wall_ms();
        run.t0_ms = sl_mono_ms();
        rc = sl_envelope_parse(PQgetvalue(res, 0, 8), (size_t)PQgetlength(res, 0, 8), 0, &parent,
                               run.errstr, sizeof(run.errstr));
        if (rc < 0) { /* cannot happen: a parsed envelope was stored */
                sl_log_error("analytics.batch.bad", "batch=%s: %s", run.batch_id, run.errstr);
                batch_release(svc, run.batch_id, 60000, run.errstr, true);
                return;
        }
        run.env = parent;
        snprintf(run.ev.game_date, sizeof(run.ev.game_date), "%s", PQgetvalue(res, 0, 2));
        ids_from(&run.ev.games, res, 4);
        ids_from(&run.ev.players, res, 5);
        ids_from(&run.ev.teams, res, 6);
        upstream = sl_xasprintf("coalesced:%s", PQgetvalue(res, 0, 7));
        run.ev.upstream = upstream;
        run.nwant = nproc(parent->sport);
        rc = analytics_want_from_names(parent->sport, PQgetvalue(res, 0, 3), run.want, run.nwant);
        if (rc < 0)
                rc =
                    sl_errf(run.errstr, sizeof(run.errstr), -EBADMSG,
                            "batch %s: unknown processors %s", run.batch_id, PQgetvalue(res, 0, 3));
        else if (sl_bus_topic(run.topic, sizeof(run.topic), svc->cfg->svc.bus_prefix, parent->sport,
                              "analytics") < 0)
                rc = sl_errf(run.errstr, sizeof(run.errstr), -EBADMSG, "topic too long");
        if (rc >= 0)
                rc = analytics_idem_key(run.idem_key, sizeof(run.idem_key), parent->sport, &run.ev,
                                        run.want, run.nwant);
        if (rc == 0)
                rc = check_deps(&run);
        if (rc == 0)
                rc = process_tx(&run);
        if (rc == 0)
                rc = sl_phase_publish(&svc->ph, run.topic, run.event_key, run.idem_key, run.event,
                                      run.event_len, run.errstr, sizeof(run.errstr));
        if (rc == -EEXIST) {
                rc = duplicate(&run);
                if (rc == 0 || rc == -EEXIST) {
                        if (batch_member_rows(&run) < 0)
                                sl_log_warn("analytics.exec_log.error", "%s", run.errstr);
                        batch_forget(&run);
                }
        } else if (rc == 0) {
                svc->runs++;
                metric_run("completed");
                sl_log_info("analytics.batch.ok", "batch=%s members=%s key=%s", run.batch_id,
                            PQgetvalue(res, 0, 9), run.idem_key);
                log_done(&run);
        }
        if (rc == -ESTALE) { /* grew while it ran: run the grown batch now */
                batch_release(svc, run.batch_id, 0, run.errstr, false);
        } else if (rc < 0 && rc != -EEXIST) {
                rc = failed(&run, rc);
                batch_failed(svc, &run, rc, attempts, age_ms);
        }
        analytics_event_fini(&run.ev);
        ents_fini(&run.ents);
        free(run.event);
        free(upstream);
        sl_envelope_free(parent);
}

/*
 * Claims the oldest due batch of this service's prefix (FOR UPDATE SKIP
 * LOCKED: replicas never take the same one) and moves its due_at 30 s ahead
 * (a lease: if this process dies before the batch's transaction commits,
 * the row is due again then). 1 claimed (*res), 0 none, or an error.
 */
static int batch_claim(struct analytics_svc *svc, PGresult **res, char *err, size_t n)
{
        const char *params[1] = {svc->cfg->svc.bus_prefix};
        int rc = sl_pg_exec(
            svc->ph.pg,
            "UPDATE ops.analytics_batches SET due_at = clock_timestamp() + interval '30 seconds', "
            "attempts = attempts + 1, updated_at = now() WHERE batch_id = (SELECT batch_id FROM "
            "ops.analytics_batches WHERE prefix = $1 AND due_at <= clock_timestamp() "
            "ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED) "
            "RETURNING batch_id, version, game_date, processors, games, players, teams, "
            "upstreams, parent, cardinality(members), attempts, members, "
            "(extract(epoch FROM clock_timestamp() - created_at) * 1000)::bigint",
            1, params, res, err, n);

        if (rc < 0)
                return rc;
        if (PQntuples(*res) == 1)
                return 1;
        PQclear(*res);
        *res = NULL;
        return 0;
}

int analytics_svc_tick(struct analytics_svc *svc)
{
        int64_t now = sl_mono_ms(), window = svc->cfg ? svc->cfg->coalesce_window_ms : 0;
        char err[256];

        sl_phase_tick(&svc->ph);
        if (!svc->ph.pg || svc->ph.pg_down || now < svc->next_batch_ms)
                return 0;
        svc->next_batch_ms = now + (window <= 0 ? 5000 : window < 250 ? window : 250);
        for (int i = 0; i < 4; i++) {
                PGresult *res = NULL;
                int rc = batch_claim(svc, &res, err, sizeof(err));
                if (rc < 0) {
                        sl_phase_note_pg(&svc->ph, rc);
                        sl_log_warn("analytics.batch.claim.error", "%s", err);
                        break;
                }
                if (rc == 0)
                        break;
                batch_run(svc, res);
                PQclear(res);
        }
        if (now >= svc->next_prune_ms) {
                svc->next_prune_ms = now + 3600 * 1000;
                if (sl_pg_exec(svc->ph.pg,
                               "DELETE FROM ops.analytics_batch_members "
                               "WHERE created_at < now() - interval '14 days'",
                               0, NULL, NULL, err, sizeof(err)) < 0)
                        sl_log_warn("analytics.batch.prune.error", "%s", err);
        }
        return 0;
}
