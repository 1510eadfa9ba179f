/*
 * sl_pgtest: drives sl/pg.h against a real PostgreSQL for
 * tests/integration/pg_migrate.sh.
 *
 *   sl_pgtest migrate DSN DIR          apply DIR's migrations; prints applied=N ms=T
 *   sl_pgtest copy DSN                 COPY round trips, all-or-nothing, transactions
 *   sl_pgtest errors DSN               session defaults (JIT off), SQLSTATE -> errno,
 *                                      parameters, transactions, LISTEN/NOTIFY
 *   sl_pgtest bench-copy DSN ROWS      COPY ROWS box score lines, then replay them
 *   sl_pgtest reconnect DSN STATEDIR   server stop/start choreography (see cmd_reconnect)
 *
 * Each command prints "# ..." diagnostics and one result line
 * "<command>: key=value ...", and exits 0 when every check passed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sl/err.h>
#include <sl/log.h>
#include <sl/pg.h>
#include <sl/util.h>

static int checks, failures;

#define CHECK(cond, ...)                                                                           \
        do {                                                                                       \
                checks++;                                                                          \
                if (!(cond)) {                                                                     \
                        failures++;                                                                \
                        printf("# FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                   \
                        printf(__VA_ARGS__);                                                       \
                        printf("\n");                                                              \
                }                                                                                  \
        } while (0)

static struct sl_pg *must_open(const char *dsn)
{
        char err[512];
        struct sl_pg *pg = sl_pg_open(dsn, 10000, err, sizeof(err));

        if (!pg) {
                printf("# open: %s\n", err);
                exit(2);
        }
        return pg;
}

/* Runs sql (no parameters) and exits on failure: setup steps. */
static void must_exec(struct sl_pg *pg, const char *sql)
{
        char err[512];
        int rc = sl_pg_exec(pg, sql, 0, NULL, NULL, err, sizeof(err));

        if (rc < 0) {
                printf("# %s: %s\n", sql, err);
                exit(2);
        }
}

/* First column of the first row of a one-value query, as an integer (-1 on error). */
static int64_t query_i64(struct sl_pg *pg, const char *sql)
{
        PGresult *res = NULL;
        char err[512];
        int64_t v = -1;

        if (sl_pg_exec(pg, sql, 0, NULL, &res, err, sizeof(err)) < 0) {
                printf("# %s: %s\n", sql, err);
                return -1;
        }
        if (PQntuples(res) == 1 &&
            sl_parse_i64(PQgetvalue(res, 0, 0), INT64_MIN, INT64_MAX, &v) < 0)
                v = -1;
        PQclear(res);
        return v;
}

static int cmd_migrate(const char *dsn, const char *dir)
{
        struct sl_pg *pg = must_open(dsn);
        char err[1024];
        int64_t t0 = sl_mono_ms();
        int rc = sl_pg_migrate(pg, dir, err, sizeof(err));

        if (rc < 0)
                printf("migrate: rc=%d retriable=%d error=%s\n", rc, (int)sl_err_retriable(rc),
                       err);
        else
                printf("migrate: applied=%d ms=%" PRId64 "\n", rc, sl_mono_ms() - t0);
        sl_pg_close(pg);
        return rc < 0 ? 1 : 0;
}

/* ---- copy ------------------------------------------------------------------ */

#define COPY_TABLE "pgtest.Copy Rows" /* mixed case and a space: identifiers must be quoted */
#define COPY_GEN   3000               /* generated rows: enough to span several 64 KiB chunks */

static const char *const copy_cols[] = {"id", "order", "val"}; /* "order" is reserved */

/* The tricky values, stored in column val of rows 1..n (row i+1 = tricky[i]). */
static const char *const tricky[] = {
    "plain",
    "",
    NULL,
    "tab\there",
    "new\nline",
    "cr\rlf\r\n",
    "back\\slash",
    "\\N",
    "\\.",
    "\\.\n",
    "\\",
    "mixed \\t\t\\n\n end\\",
    "  spaced  ",
    "Don\xc4\x8d\x69\xc4\x87 \xe2\x80\x94 \xe6\x9d\xb1\xe4\xba\xac",
    "quote ' \" ;",
    "\t\t\t",
    "\n",
    "\r",
    "x'); DROP TABLE pgtest.t; --",
};
#define NTRICKY (sizeof(tricky) / sizeof(tricky[0]))

/* Deterministic value for generated row i: mixes ordinary text with specials. */
static char *gen_value(size_t i)
{
        static const char alphabet[] = "ab\\\t\n\rxyz 0123";
        size_t len = 1 + (i * 7919) % 61;
        char *s = sl_xmalloc(len + 1);

        for (size_t k = 0; k < len; k++)
                s[k] = alphabet[(i * 31 + k * 17) % (sizeof(alphabet) - 1)];
        s[len] = '\0';
        return s;
}

/* 200 KB with specials: one row larger than a 64 KiB COPY chunk. */
static char *big_value(void)
{
        size_t big = 200 * 1024;
        char *v = sl_xmalloc(big + 1);

        for (size_t k = 0; k < big; k++)
                v[k] = "big\\\t\n\r."[k % 8];
        v[big] = '\0';
        return v;
}

struct copy_src {
        char **vals; /* val per row (NULL allowed), owned by the caller */
        char **ids;  /* id text per row */
        size_t n, next;
        size_t abort_at; /* return -ECANCELED at this row (0 = never) */
};

static int copy_next(void *opaque, const char **values, size_t ncols)
{
        struct copy_src *src = opaque;

        (void)ncols;
        if (src->abort_at && src->next == src->abort_at)
                return -ECANCELED;
        if (src->next >= src->n)
                return 0;
        values[0] = src->ids[src->next];
        values[1] = src->next % 2 ? "odd" : NULL;
        values[2] = src->vals[src->next];
        src->next++;
        return 1;
}

/* Reads the table back and compares every value, NULLs included. */
static void verify_rows(struct sl_pg *pg, const struct copy_src *src)
{
        PGresult *res = NULL;
        char err[512];
        size_t bad = 0;
        int rc;

        rc = sl_pg_exec(pg, "SELECT id, \"order\", val FROM pgtest.\"Copy Rows\" ORDER BY id", 0,
                        NULL, &res, err, sizeof(err));
        CHECK(rc == 0, "%s", err);
        if (rc < 0)
                return;
        CHECK((size_t)PQntuples(res) == src->n, "rows=%d want %zu", PQntuples(res), src->n);
        for (int r = 0; r < PQntuples(res) && (size_t)r < src->n; r++) {
                const char *want = src->vals[r];
                bool null = PQgetisnull(res, r, 2);
                bool order_null = PQgetisnull(res, r, 1);
                if (strcmp(PQgetvalue(res, r, 0), src->ids[r]) != 0 ||
                    (want ? null || strcmp(PQgetvalue(res, r, 2), want) != 0 : !null) ||
                    order_null != (r % 2 == 0)) {
                        if (bad++ < 5)
                                printf("# row %d differs: got '%s' (null=%d)\n", r,
                                       PQgetvalue(res, r, 2), (int)null);
                }
        }
        CHECK(bad == 0, "%zu rows differ", bad);
        PQclear(res);
}

static void copy_checks(struct sl_pg *pg, int64_t n_before)
{
        char err[512];
        int rc;

        /* A duplicate key anywhere in the batch: nothing of the batch is loaded. */
        char *dup_ids[] = {"900001", "1"};
        char *dup_vals[] = {"new", "dup"};
        struct copy_src dup = {dup_vals, dup_ids, 2, 0, 0};
        rc = sl_pg_copy(pg, COPY_TABLE, copy_cols, 3, copy_next, &dup, err, sizeof(err));
        CHECK(rc == -EEXIST, "duplicate: rc=%d %s", rc, err);
        CHECK(strcmp(sl_pg_sqlstate(pg), "23505") == 0, "sqlstate=%s", sl_pg_sqlstate(pg));
        CHECK(query_i64(pg, "SELECT count(*) FROM pgtest.\"Copy Rows\"") == n_before,
              "dup kept rows");

        /* The row source aborts: its errno comes back, nothing is loaded. */
        char *ab_ids[] = {"900001", "900002", "900003"};
        char *ab_vals[] = {"a", "b", "c"};
        struct copy_src ab = {ab_vals, ab_ids, 3, 0, 2};
        rc = sl_pg_copy(pg, COPY_TABLE, copy_cols, 3, copy_next, &ab, err, sizeof(err));
        CHECK(rc == -ECANCELED, "abort: rc=%d %s", rc, err);
        CHECK(query_i64(pg, "SELECT count(*) FROM pgtest.\"Copy Rows\"") == n_before,
              "abort kept rows");

        /* Bad data (not an integer) is poison: -EBADMSG. */
        char *bad_ids[] = {"not-a-number"};
        char *bad_vals[] = {"x"};
        struct copy_src bad = {bad_vals, bad_ids, 1, 0, 0};
        rc = sl_pg_copy(pg, COPY_TABLE, copy_cols, 3, copy_next, &bad, err, sizeof(err));
        CHECK(rc == -EBADMSG, "bad data: rc=%d %s", rc, err);

        /* Inside a transaction: invisible until commit, gone on rollback. */
        struct copy_src tx1 = {ab_vals, ab_ids, 3, 0, 0};
        CHECK(sl_pg_begin(pg, err, sizeof(err)) == 0, "%s", err);
        CHECK(sl_pg_copy(pg, COPY_TABLE, copy_cols, 3, copy_next, &tx1, err, sizeof(err)) == 0,
              "%s", err);
        CHECK(sl_pg_in_tx(pg), "in tx");
        CHECK(sl_pg_rollback(pg, err, sizeof(err)) == 0, "%s", err);
        CHECK(query_i64(pg, "SELECT count(*) FROM pgtest.\"Copy Rows\"") == n_before,
              "rolled back");
        struct copy_src tx2 = {ab_vals, ab_ids, 3, 0, 0};
        CHECK(sl_pg_begin(pg, err, sizeof(err)) == 0, "%s", err);
        CHECK(sl_pg_copy(pg, COPY_TABLE, copy_cols, 3, copy_next, &tx2, err, sizeof(err)) == 0,
              "%s", err);
        CHECK(sl_pg_commit(pg, err, sizeof(err)) == 0, "%s", err);
        CHECK(query_i64(pg, "SELECT count(*) FROM pgtest.\"Copy Rows\"") == n_before + 3,
              "committed");

        /* A failed COPY inside a transaction fails the commit too. */
        struct copy_src dup2 = {dup_vals, dup_ids, 2, 0, 0};
        CHECK(sl_pg_begin(pg, err, sizeof(err)) == 0, "%s", err);
        rc = sl_pg_copy(pg, COPY_TABLE, copy_cols, 3, copy_next, &dup2, err, sizeof(err));
        CHECK(rc == -EEXIST, "rc=%d", rc);
        rc = sl_pg_commit(pg, err, sizeof(err));
        CHECK(rc == -EEXIST && strstr(err, "not committed"), "commit after failed copy: %d %s", rc,
              err);
        CHECK(!sl_pg_in_tx(pg), "tx ended");
        CHECK(query_i64(pg, "SELECT 1") == 1, "connection still usable");
}

static int cmd_copy(const char *dsn)
{
        struct sl_pg *pg = must_open(dsn);
        struct copy_src src = {0};
        char err[512];
        int rc;

        must_exec(pg, "CREATE SCHEMA IF NOT EXISTS pgtest");
        must_exec(pg, "DROP TABLE IF EXISTS pgtest.\"Copy Rows\"");
        must_exec(pg, "CREATE TABLE pgtest.\"Copy Rows\" (id integer PRIMARY KEY, \"order\" text, "
                      "val text)");
        src.n = NTRICKY + 1 + COPY_GEN;
        src.vals = sl_xcalloc(src.n, sizeof(char *));
        src.ids = sl_xcalloc(src.n, sizeof(char *));
        for (size_t i = 0; i < src.n; i++) {
                src.ids[i] = sl_xasprintf("%zu", i + 1);
                if (i < NTRICKY)
                        src.vals[i] = tricky[i] ? sl_xstrdup(tricky[i]) : NULL;
                else if (i == NTRICKY)
                        src.vals[i] = big_value();
                else
                        src.vals[i] = gen_value(i);
        }
        rc = sl_pg_copy(pg, COPY_TABLE, copy_cols, 3, copy_next, &src, err, sizeof(err));
        CHECK(rc == 0, "copy: rc=%d %s", rc, err);
        verify_rows(pg, &src);
        copy_checks(pg, (int64_t)src.n);

        printf("copy: rows=%zu checks=%d failed=%d\n", src.n, checks, failures);
        for (size_t i = 0; i < src.n; i++) {
                free(src.vals[i]);
                free(src.ids[i]);
        }
        free(src.vals);
        free(src.ids);
        sl_pg_close(pg);
        return failures ? 1 : 0;
}

/* ---- errors ---------------------------------------------------------------- */

static int insert_key(struct sl_pg *pg, const char *key, const char *phase, char *err, size_t n)
{
        const char *params[] = {key, phase};

        return sl_pg_exec(pg,
                          "INSERT INTO ops.idempotency_keys (key, phase, processor) "
                          "VALUES ($1, $2, 'sl_pgtest')",
                          2, params, NULL, err, n);
}

static void error_mapping(struct sl_pg *pg)
{
        char err[512];
        int rc;

        CHECK(insert_key(pg, "pgtest:1", "raw", err, sizeof(err)) == 0, "%s", err);
        CHECK(sl_pg_sqlstate(pg)[0] == '\0', "sqlstate after success");
        rc = insert_key(pg, "pgtest:1", "raw", err, sizeof(err));
        CHECK(rc == -EEXIST, "unique violation: rc=%d %s", rc, err);
        CHECK(strcmp(sl_pg_sqlstate(pg), "23505") == 0, "sqlstate=%s", sl_pg_sqlstate(pg));
        CHECK(strstr(err, "duplicate key") && strstr(err, "SQLSTATE 23505"), "%s", err);
        printf("# unique violation: rc=%d (%s): %s\n", rc, sl_strerror(rc), err);

        rc = insert_key(pg, "pgtest:2", "nonsense", err, sizeof(err));
        CHECK(rc == -EBADMSG && !sl_err_retriable(rc), "check violation: rc=%d %s", rc, err);
        rc = sl_pg_exec(pg, "SELEC 1", 0, NULL, NULL, err, sizeof(err));
        CHECK(rc == -EINVAL && !sl_err_retriable(rc), "syntax: rc=%d %s", rc, err);
        rc = sl_pg_exec(pg, "SELECT 1; SELECT 2", 0, NULL, NULL, err, sizeof(err));
        CHECK(rc < 0, "two statements in one sl_pg_exec must be refused: rc=%d", rc);
        rc =
            sl_pg_exec(pg, "COPY ops.idempotency_keys FROM STDIN", 0, NULL, NULL, err, sizeof(err));
        CHECK(rc == -EINVAL && strstr(err, "sl_pg_copy"), "copy via exec: rc=%d %s", rc, err);
        CHECK(query_i64(pg, "SELECT 1") == 1, "usable after refused COPY");

        /* Values are parameters, never SQL. */
        const char *evil = "x'); DROP TABLE ops.outbox; --";
        CHECK(insert_key(pg, evil, "raw", err, sizeof(err)) == 0, "%s", err);
        CHECK(query_i64(pg, "SELECT count(*) FROM ops.outbox") == 0, "outbox still there");
        const char *p[] = {evil};
        PGresult *res = NULL;
        rc = sl_pg_exec(pg, "SELECT key FROM ops.idempotency_keys WHERE key = $1", 1, p, &res, err,
                        sizeof(err));
        CHECK(rc == 0 && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), evil) == 0, "%s",
              err);
        PQclear(res);

        /* Statement timeout -> -ETIMEDOUT (retriable). */
        must_exec(pg, "SET statement_timeout = 50");
        rc = sl_pg_exec(pg, "SELECT pg_sleep(2)", 0, NULL, NULL, err, sizeof(err));
        CHECK(rc == -ETIMEDOUT && sl_err_retriable(rc), "timeout: rc=%d %s", rc, err);
        must_exec(pg, "SET statement_timeout = 0");
}

static void tx_semantics(struct sl_pg *pg, const char *dsn)
{
        char err[512];
        int rc;

        /* A failed statement makes COMMIT fail with that statement's errno. */
        CHECK(sl_pg_begin(pg, err, sizeof(err)) == 0, "%s", err);
        CHECK(sl_pg_begin(pg, err, sizeof(err)) == -EINVAL, "nested begin");
        CHECK(insert_key(pg, "pgtest:tx", "raw", err, sizeof(err)) == 0, "%s", err);
        CHECK(insert_key(pg, "pgtest:1", "raw", err, sizeof(err)) == -EEXIST, "dup in tx");
        rc = sl_pg_commit(pg, err, sizeof(err));
        CHECK(rc == -EEXIST, "commit of failed tx: rc=%d %s", rc, err);
        CHECK(query_i64(pg, "SELECT count(*) FROM ops.idempotency_keys WHERE key = 'pgtest:tx'") ==
                  0,
              "nothing of the failed tx committed");
        CHECK(sl_pg_commit(pg, err, sizeof(err)) == -EINVAL, "commit outside tx");
        CHECK(sl_pg_rollback(pg, err, sizeof(err)) == 0, "rollback outside tx is a no-op");

        /* Lock timeout while another session holds the row -> -EAGAIN. */
        struct sl_pg *other = must_open(dsn);
        CHECK(sl_pg_begin(other, err, sizeof(err)) == 0, "%s", err);
        CHECK(sl_pg_exec(other,
                         "UPDATE ops.idempotency_keys SET processor = 'held' WHERE key = "
                         "'pgtest:1'",
                         0, NULL, NULL, err, sizeof(err)) == 0,
              "%s", err);
        CHECK(sl_pg_begin(pg, err, sizeof(err)) == 0, "%s", err);
        must_exec(pg, "SET LOCAL lock_timeout = 100");
        rc = sl_pg_exec(pg,
                        "UPDATE ops.idempotency_keys SET processor = 'waiter' WHERE key = "
                        "'pgtest:1'",
                        0, NULL, NULL, err, sizeof(err));
        CHECK(rc == -EAGAIN && sl_err_retriable(rc), "lock timeout: rc=%d %s", rc, err);
        CHECK(sl_pg_rollback(pg, err, sizeof(err)) == 0, "%s", err);
        CHECK(sl_pg_rollback(other, err, sizeof(err)) == 0, "%s", err);
        sl_pg_close(other);
}

/* Session defaults of sl_pg_open(): JIT off (pg.c), unless the dsn sets its own options. */
static void session_defaults(struct sl_pg *pg, const char *dsn)
{
        PGresult *res = NULL;
        char err[256], *own;
        struct sl_pg *pg2;
        int rc;

        rc = sl_pg_exec(pg, "SELECT current_setting('jit'), current_setting('application_name')", 0,
                        NULL, &res, err, sizeof(err));
        CHECK(rc == 0 && strcmp(PQgetvalue(res, 0, 0), "off") == 0 &&
                  strcmp(PQgetvalue(res, 0, 1), "statline") == 0,
              "jit=%s application_name=%s", rc == 0 ? PQgetvalue(res, 0, 0) : err,
              rc == 0 ? PQgetvalue(res, 0, 1) : "");
        PQclear(res);
        res = NULL;
        /* the same server with options of its own, in the dsn's form (URI or key=value) */
        if (strncmp(dsn, "postgres", 8) == 0)
                own =
                    sl_xasprintf("%s%coptions=-c%%20jit%%3Don", dsn, strchr(dsn, '?') ? '&' : '?');
        else
                own = sl_xasprintf("%s options='-c jit=on'", dsn);
        pg2 = sl_pg_open(own, 5000, err, sizeof(err));
        rc = pg2 ? sl_pg_exec(pg2, "SELECT current_setting('jit')", 0, NULL, &res, err, sizeof(err))
                 : -1;
        CHECK(rc == 0 && strcmp(PQgetvalue(res, 0, 0), "on") == 0,
              "a dsn's own options replace the default: jit=%s",
              rc == 0 ? PQgetvalue(res, 0, 0) : err);
        PQclear(res);
        sl_pg_close(pg2);
        free(own);
}

/* Up to 5 s of sl_pg_notifications() until it returns non-zero; the last value. */
static int wait_notifications(struct sl_pg *pg)
{
        int n = 0;

        for (int i = 0; i < 100 && n == 0; i++) {
                n = sl_pg_notifications(pg);
                if (n == 0)
                        sl_sleep_ms(50, NULL);
        }
        return n;
}

/*
 * sl_pg_listen() / sl_pg_notifications(): a NOTIFY from another session
 * arrives, is counted once, and the LISTEN survives a reconnect (the first
 * call after it reports the reconnect, then new notifications arrive).
 */
static void notifications(struct sl_pg *pg, const char *dsn)
{
        struct sl_pg *other = must_open(dsn);
        char err[512], sql[128];
        int rc, n;

        CHECK(sl_pg_notifications(pg) == 0, "nothing before LISTEN");
        must_exec(pg, "BEGIN");
        rc = sl_pg_listen(pg, "pgtest chan", err, sizeof(err));
        CHECK(rc == -EINVAL, "LISTEN inside a transaction refused: rc=%d", rc);
        must_exec(pg, "ROLLBACK");
        rc = sl_pg_listen(pg, "pgtest chan", err, sizeof(err)); /* quoted: a space in the name */
        CHECK(rc == 0, "LISTEN: rc=%d %s", rc, err);
        must_exec(other, "NOTIFY \"pgtest chan\", 'one'");
        must_exec(other, "NOTIFY \"pgtest chan\", 'two'");
        must_exec(other, "NOTIFY \"pgtest other\""); /* not listened to */
        n = wait_notifications(pg);
        if (n == 1) /* the second may come in a later read */
                n += wait_notifications(pg);
        CHECK(n == 2, "two notifications: %d", n);
        CHECK(sl_pg_notifications(pg) == 0, "each counted once");
        must_exec(other, "NOTIFY \"pgtest chan\"");
        must_exec(pg, "SELECT 1"); /* a statement in between collects it */
        CHECK(sl_pg_notifications(pg) == 1, "collected by a statement");

        snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", PQbackendPID(sl_pg_conn(pg)));
        must_exec(other, sql);
        for (int i = 0; i < 100 && (rc = sl_pg_notifications(pg)) >= 0; i++)
                sl_sleep_ms(50, NULL);
        CHECK(rc == -ECONNRESET, "connection gone: rc=%d", rc);
        for (int i = 0; i < 20 && sl_pg_exec(pg, "SELECT 1", 0, NULL, NULL, err, sizeof(err)) < 0;
             i++)
                sl_sleep_ms(100, NULL);
        CHECK(sl_pg_notifications(pg) == 1, "the reconnect is reported once");
        CHECK(sl_pg_notifications(pg) == 0, "then nothing");
        must_exec(other, "NOTIFY \"pgtest chan\"");
        CHECK(wait_notifications(pg) == 1, "LISTEN again after the reconnect");
        sl_pg_close(other);
}

static int cmd_errors(const char *dsn)
{
        struct sl_pg *pg = must_open(dsn);

        session_defaults(pg, dsn);
        error_mapping(pg);
        tx_semantics(pg, dsn);
        notifications(pg, dsn);
        must_exec(pg, "DELETE FROM ops.idempotency_keys WHERE processor IN ('sl_pgtest', 'held')");
        printf("errors: checks=%d failed=%d\n", checks, failures);
        sl_pg_close(pg);
        return failures ? 1 : 0;
}

/* ---- bench ------------------------------------------------------------------ */

static const char *const box_cols[] = {
    "game_id", "player_id", "team_id", "player_name", "starter", "minutes",
    "pts",     "reb",       "oreb",    "dreb",        "ast",     "stl",
    "blk",     "tov",       "pf",      "fgm",         "fga",     "fg3m",
    "fg3a",    "ftm",       "fta",     "plus_minus",  "source",  "payload_sha256",
};
#define BOX_NCOLS (sizeof(box_cols) / sizeof(box_cols[0]))

struct box_src {
        size_t n, next;
        char buf[BOX_NCOLS][48]; /* text of the current row */
};

/* A plausible, constraint-satisfying box score line for row i (26 players a game). */
static int box_next(void *opaque, const char **values, size_t ncols)
{
        struct box_src *s = opaque;
        size_t i = s->next;
        int fgm, fga, fg3m, fg3a, ftm, fta, oreb, dreb;

        if (i >= s->n)
                return 0;
        fg3a = (int)(i % 9), fg3m = fg3a / 3;
        fga = fg3a + (int)(i % 13), fgm = fg3m + (fga - fg3a) / 2;
        fta = (int)(i % 7), ftm = fta * 3 / 4;
        oreb = (int)(i % 4), dreb = (int)(i % 8);
        snprintf(s->buf[0], 48, "00225%05zu", i / 26);
        snprintf(s->buf[1], 48, "%zu", 1000000 + i % 26 + (i / 26) * 100);
        snprintf(s->buf[2], 48, "%d", 1610612737 + (int)(i % 2));
        snprintf(s->buf[3], 48, "Player %zu", i % 26);
        snprintf(s->buf[4], 48, "%s", i % 26 < 10 ? "t" : "f");
        snprintf(s->buf[5], 48, "%d.%02d", (int)(i % 40), (int)(i % 60));
        snprintf(s->buf[6], 48, "%d", 2 * fgm + fg3m + ftm);
        snprintf(s->buf[7], 48, "%d", oreb + dreb);
        snprintf(s->buf[8], 48, "%d", oreb);
        snprintf(s->buf[9], 48, "%d", dreb);
        for (int c = 10; c < 15; c++)
                snprintf(s->buf[c], 48, "%d", (int)((i + (size_t)c) % 6));
        snprintf(s->buf[15], 48, "%d", fgm);
        snprintf(s->buf[16], 48, "%d", fga);
        snprintf(s->buf[17], 48, "%d", fg3m);
        snprintf(s->buf[18], 48, "%d", fg3a);
        snprintf(s->buf[19], 48, "%d", ftm);
        snprintf(s->buf[20], 48, "%d", fta);
        snprintf(s->buf[21], 48, "%d.%d", (int)(i % 31) - 15, (int)(i % 10));
        snprintf(s->buf[22], 48, "bench.synthetic");
        for (size_t c = 0; c + 1 < ncols; c++)
                values[c] = s->buf[c];
        values[ncols - 1] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        s->next++;
        return 1;
}

/* Client-side cost alone: generate and encode the rows without sending them (ms). */
static int64_t encode_only(struct box_src *src)
{
        const char *values[BOX_NCOLS];
        struct sl_buf b;
        int64_t t0 = sl_mono_us();

        sl_buf_init(&b, 0);
        src->next = 0;
        while (box_next(src, values, BOX_NCOLS) == 1) {
                sl_pg_copy_encode_row(&b, values, BOX_NCOLS);
                if (b.len >= 64 * 1024)
                        sl_buf_reset(&b);
        }
        sl_buf_fini(&b);
        src->next = 0;
        return (sl_mono_us() - t0) / 1000;
}

/* Reloads the same rows through a temp table + INSERT ON CONFLICT DO UPDATE (the upsert path). */
static int replay_upsert(struct sl_pg *pg, size_t rows, int64_t *changed, char *err, size_t n)
{
        struct box_src *src = sl_xcalloc(1, sizeof(*src));
        PGresult *res = NULL;
        int rc;

        src->n = rows;
        rc = sl_pg_begin(pg, err, n);
        if (rc == 0)
                rc = sl_pg_exec(
                    pg,
                    "CREATE TEMP TABLE box_in (LIKE raw.player_boxscores INCLUDING DEFAULTS) "
                    "ON COMMIT DROP",
                    0, NULL, NULL, err, n);
        if (rc == 0)
                rc = sl_pg_copy(pg, "box_in", box_cols, BOX_NCOLS, box_next, src, err, n);
        if (rc == 0)
                rc = sl_pg_exec(
                    pg,
                    "INSERT INTO raw.player_boxscores SELECT * FROM box_in "
                    "ON CONFLICT (game_id, player_id) DO UPDATE SET "
                    "pts = excluded.pts, reb = excluded.reb, ast = excluded.ast, "
                    "minutes = excluded.minutes, payload_sha256 = excluded.payload_sha256",
                    0, NULL, &res, err, n);
        if (rc == 0) {
                sl_parse_i64(PQcmdTuples(res), 0, INT64_MAX, changed);
                rc = sl_pg_commit(pg, err, n);
        } else {
                sl_pg_rollback(pg, NULL, 0);
        }
        PQclear(res);
        free(src);
        return rc;
}

static int cmd_bench_copy(const char *dsn, const char *rows_s)
{
        struct sl_pg *pg = must_open(dsn);
        struct box_src *src = sl_xcalloc(1, sizeof(*src));
        char err[512];
        int64_t rows = 0, t0, copy_ms, encode_ms, replay_ms, changed = -1, xmin_before, xmin_after;
        int rc, replay_rc;

        if (sl_parse_i64(rows_s, 1, 100000000, &rows) < 0)
                return 2;
        must_exec(pg, "TRUNCATE raw.player_boxscores");
        src->n = (size_t)rows;
        encode_ms = encode_only(src);
        t0 = sl_mono_us();
        rc = sl_pg_copy(pg, "raw.player_boxscores", box_cols, BOX_NCOLS, box_next, src, err,
                        sizeof(err));
        copy_ms = (sl_mono_us() - t0) / 1000;
        CHECK(rc == 0, "copy: rc=%d %s", rc, err);
        CHECK(query_i64(pg, "SELECT count(*) FROM raw.player_boxscores") == rows, "row count");

        /* Replaying the same COPY: the natural key refuses it as a whole. */
        src->next = 0;
        replay_rc = sl_pg_copy(pg, "raw.player_boxscores", box_cols, BOX_NCOLS, box_next, src, err,
                               sizeof(err));
        CHECK(replay_rc == -EEXIST, "replay copy: rc=%d %s", replay_rc, err);
        CHECK(query_i64(pg, "SELECT count(*) FROM raw.player_boxscores") == rows,
              "no double count");

        /* Replaying through the upsert path changes no row (replay guard). */
        xmin_before = query_i64(pg, "SELECT sum(xmin::text::bigint) FROM raw.player_boxscores");
        t0 = sl_mono_us();
        rc = replay_upsert(pg, (size_t)rows, &changed, err, sizeof(err));
        replay_ms = (sl_mono_us() - t0) / 1000;
        CHECK(rc == 0, "upsert replay: rc=%d %s", rc, err);
        CHECK(changed == 0, "upsert replay changed %" PRId64 " rows", changed);
        xmin_after = query_i64(pg, "SELECT sum(xmin::text::bigint) FROM raw.player_boxscores");
        CHECK(xmin_before == xmin_after, "row versions changed");

        printf("bench-copy: rows=%" PRId64 " copy_ms=%" PRId64 " rows_per_s=%" PRId64
               " client_encode_ms=%" PRId64 " replay_copy_rc=%d upsert_replay_ms=%" PRId64
               " upsert_changed=%" PRId64 " failed=%d\n",
               rows, copy_ms, copy_ms > 0 ? rows * 1000 / copy_ms : rows * 1000, encode_ms,
               replay_rc, replay_ms, changed, failures);
        must_exec(pg, "TRUNCATE raw.player_boxscores");
        free(src);
        sl_pg_close(pg);
        return failures ? 1 : 0;
}

/* ---- reconnect ---------------------------------------------------------------- */

static void touch(const char *dir, const char *name)
{
        char path[1024];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "w");
        if (f)
                fclose(f);
}

/* Waits up to 120 s for the test script to create dir/name. */
static bool wait_file(const char *dir, const char *name)
{
        char path[1024];
        struct stat st;
        int64_t deadline = sl_mono_ms() + 120000;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        while (stat(path, &st) < 0) {
                if (sl_mono_ms() > deadline)
                        return false;
                sl_sleep_ms(20, NULL);
        }
        return true;
}

/*
 * 1. connect, open a transaction and insert a row, create STATEDIR/ready;
 * 2. the script stops the server and creates STATEDIR/stopped;
 * 3. the next statement must fail retriably, and so must calls while down;
 *    create STATEDIR/failed;
 * 4. the script starts the server and creates STATEDIR/started;
 * 5. COMMIT must still be refused (the transaction is lost), rollback clears
 *    it, and then statements work again after a reconnect; the row is absent.
 */
static int cmd_reconnect(const char *dsn, const char *dir)
{
        struct sl_pg *pg = must_open(dsn);
        char err[512];
        int64_t t0, down_call_ms, reconnect_ms = -1;
        int rc, down_rc, down_again_rc, attempts = 0;

        must_exec(pg, "DROP TABLE IF EXISTS pgtest_reconnect");
        must_exec(pg, "CREATE TABLE pgtest_reconnect (x integer)");
        CHECK(sl_pg_begin(pg, err, sizeof(err)) == 0, "%s", err);
        must_exec(pg, "INSERT INTO pgtest_reconnect VALUES (1)");
        touch(dir, "ready");
        if (!wait_file(dir, "stopped"))
                return 2;

        down_rc = sl_pg_exec(pg, "INSERT INTO pgtest_reconnect VALUES (2)", 0, NULL, NULL, err,
                             sizeof(err));
        printf("# while down: rc=%d (%s): %s\n", down_rc, sl_strerror(down_rc), err);
        CHECK(down_rc == -ECONNRESET && sl_err_retriable(down_rc), "rc=%d", down_rc);
        CHECK(sl_pg_in_tx(pg), "the lost transaction still counts as open");
        CHECK(sl_pg_rollback(pg, err, sizeof(err)) == 0, "rollback while down");
        t0 = sl_mono_ms();
        down_again_rc = sl_pg_exec(pg, "SELECT 1", 0, NULL, NULL, err, sizeof(err));
        down_call_ms = sl_mono_ms() - t0;
        printf("# reconnect attempt while down: rc=%d in %" PRId64 " ms: %s\n", down_again_rc,
               down_call_ms, err);
        CHECK(down_again_rc == -ECONNRESET, "rc=%d", down_again_rc);
        touch(dir, "failed");
        if (!wait_file(dir, "started"))
                return 2;

        t0 = sl_mono_ms();
        for (;;) {
                attempts++;
                rc = sl_pg_exec(pg, "SELECT 1", 0, NULL, NULL, err, sizeof(err));
                if (rc == 0 || sl_mono_ms() - t0 > 30000)
                        break;
                CHECK(sl_err_retriable(rc), "rc=%d while reconnecting", rc);
                sl_sleep_ms(50, NULL);
        }
        reconnect_ms = sl_mono_ms() - t0;
        CHECK(rc == 0, "no reconnect within 30 s: %s", err);
        CHECK(query_i64(pg, "SELECT count(*) FROM pgtest_reconnect") == 0,
              "the uncommitted row must be gone");
        printf("reconnect: down_rc=%d down_again_rc=%d down_call_ms=%" PRId64
               " reconnect_ms=%" PRId64 " attempts=%d checks=%d failed=%d\n",
               down_rc, down_again_rc, down_call_ms, reconnect_ms, attempts, checks, failures);
        sl_pg_close(pg);
        return failures ? 1 : 0;
}

/*
 * Lost transaction across a restart: begin + insert, the script restarts the
 * server (stop + start) and creates STATEDIR/restarted; then COMMIT must fail
 * (-ECONNRESET, "transaction was lost"), keep failing until rollback, and the
 * connection must work afterwards.
 */
static int cmd_lost_tx(const char *dsn, const char *dir)
{
        struct sl_pg *pg = must_open(dsn);
        char err[512];
        int rc, rc2;

        must_exec(pg, "DROP TABLE IF EXISTS pgtest_lost");
        must_exec(pg, "CREATE TABLE pgtest_lost (x integer)");
        CHECK(sl_pg_begin(pg, err, sizeof(err)) == 0, "%s", err);
        must_exec(pg, "INSERT INTO pgtest_lost VALUES (1)");
        touch(dir, "ready");
        if (!wait_file(dir, "restarted"))
                return 2;
        /* The first statement finds the dead session: the transaction is lost. */
        rc = sl_pg_exec(pg, "INSERT INTO pgtest_lost VALUES (2)", 0, NULL, NULL, err, sizeof(err));
        CHECK(rc == -ECONNRESET, "rc=%d %s", rc, err);
        /* The server is back, but COMMIT must not pretend anything was saved. */
        rc = sl_pg_commit(pg, err, sizeof(err));
        CHECK(rc == -ECONNRESET && strstr(err, "transaction was lost"), "commit: rc=%d %s", rc,
              err);
        printf("# commit after restart: rc=%d: %s\n", rc, err);
        rc2 = sl_pg_exec(pg, "SELECT 1", 0, NULL, NULL, err, sizeof(err));
        CHECK(rc2 == -ECONNRESET, "still refused until rollback: rc=%d", rc2);
        CHECK(sl_pg_rollback(pg, err, sizeof(err)) == 0, "%s", err);
        CHECK(query_i64(pg, "SELECT count(*) FROM pgtest_lost") == 0, "nothing committed");
        printf("lost-tx: commit_rc=%d checks=%d failed=%d\n", rc, checks, failures);
        sl_pg_close(pg);
        return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
        setvbuf(stdout, NULL, _IOLBF, 0);
        sl_log_init("pgtest", SL_LOG_INFO);
        if (argc == 4 && strcmp(argv[1], "migrate") == 0)
                return cmd_migrate(argv[2], argv[3]);
        if (argc == 3 && strcmp(argv[1], "copy") == 0)
                return cmd_copy(argv[2]);
        if (argc == 3 && strcmp(argv[1], "errors") == 0)
                return cmd_errors(argv[2]);
        if (argc == 4 && strcmp(argv[1], "bench-copy") == 0)
                return cmd_bench_copy(argv[2], argv[3]);
        if (argc == 4 && strcmp(argv[1], "reconnect") == 0)
                return cmd_reconnect(argv[2], argv[3]);
        if (argc == 4 && strcmp(argv[1], "lost-tx") == 0)
                return cmd_lost_tx(argv[2], argv[3]);
        fprintf(stderr, "usage: sl_pgtest migrate DSN DIR | copy DSN | errors DSN | "
                        "bench-copy DSN ROWS | reconnect DSN STATEDIR | lost-tx DSN STATEDIR\n");
        return 2;
}
