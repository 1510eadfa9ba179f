#include <sl/pg.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sl/err.h>
#include <sl/log.h>
#include <sl/util.h>

/*
 * libpq wrapper. One blocking PGconn per struct sl_pg; statements go
 * through PQexecParams (one statement, parameters out of band), migration
 * scripts through PQexec (several statements, no parameters), bulk loads
 * through COPY FROM STDIN. Connection loss is detected after each call
 * (PQstatus) and repaired lazily, before the next call, with PQresetStart /
 * PQresetPoll under our own millisecond deadline and an exponential backoff
 * between attempts.
 */

#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define RESET_BACKOFF_MIN_MS       100
#define RESET_BACKOFF_MAX_MS       5000
#define COPY_FLUSH_BYTES           (64 * 1024)       /* PQputCopyData chunk */
#define COPY_MAX_ROW_BYTES         ((size_t)1 << 30) /* PostgreSQL's own field limit */
#define COPY_MAX_COLS              1600              /* PostgreSQL's column limit */

struct sl_pg {
        PGconn *conn;           /* owned; the same object across PQreset */
        int connect_timeout_ms; /* deadline for a connect or reset */
        int64_t backoff_ms;     /* current wait between reset attempts; 0 = none yet */
        int64_t next_reset_ms;  /* monotonic time before which no reset is tried */
        int reset_failures;     /* consecutive failed resets (logging) */
        bool lost_logged;       /* "pg.conn.lost" logged for the current outage */
        bool tx_lost;           /* connection broke inside a transaction; cleared by rollback */
        int tx_failed_rc;       /* errno of the first failed statement of the open tx */
        int err_pos;            /* statement position (characters, 1-based) of the last error */
        char sqlstate[6];       /* SQLSTATE of the last failure, "" after success */
        char *listen[SL_PG_MAX_LISTEN]; /* owned: LISTEN statements to repeat after a reconnect */
        int nlisten;
        bool relistened; /* reconnected since the last sl_pg_notifications() */
};

/* ---- errors -------------------------------------------------------------- */

/* Specific codes first, then their classes (57P01 before the generic rule, 23505 before 23). */
int sl_pg_sqlstate_errno(const char *sqlstate)
{
        if (!sqlstate || strlen(sqlstate) != 5)
                return -EIO;
        if (strcmp(sqlstate, "23505") == 0)
                return -EEXIST;
        if (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0 ||
            strcmp(sqlstate, "55P03") == 0)
                return -EAGAIN;
        if (strcmp(sqlstate, "57014") == 0)
                return -ETIMEDOUT;
        /* 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now */
        if (strncmp(sqlstate, "57P0", 4) == 0 && sqlstate[4] >= '1' && sqlstate[4] <= '3')
                return -ECONNRESET;
        if (strncmp(sqlstate, "08", 2) == 0)
                return -ECONNRESET;
        if (strncmp(sqlstate, "53", 2) == 0)
                return -EAGAIN;
        if (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0)
                return -EBADMSG;
        if (strncmp(sqlstate, "42", 2) == 0)
                return -EINVAL;
        if (strncmp(sqlstate, "28", 2) == 0)
                return -EACCES;
        return -EIO;
}

/*
 * Copies a libpq message into out as one line: newlines and tabs become
 * single spaces, trailing whitespace goes ("FATAL: ...\n\tThis probably ...").
 */
static void trim_copy(char *out, size_t out_size, const char *s)
{
        size_t o = 0;

        if (out_size == 0)
                return;
        for (; s && *s && o + 1 < out_size; s++) {
                bool space = *s == '\n' || *s == '\r' || *s == '\t' || *s == ' ';
                if (space && (o == 0 || out[o - 1] == ' '))
                        continue;
                out[o++] = space ? ' ' : *s;
        }
        while (o > 0 && out[o - 1] == ' ')
                o--;
        out[o] = '\0';
}

/*
 * Turns a failed result (res may be NULL) into an errno and an errstr of the
 * form "message [SQLSTATE xxxxx]; detail". Records the SQLSTATE and the
 * error position in pg.
 */
static int result_error(struct sl_pg *pg, const PGresult *res, char *errstr, size_t errstr_size)
{
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
        const char *pos = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
        char msg[512];
        int64_t p = 0;

        snprintf(pg->sqlstate, sizeof(pg->sqlstate), "%s", state ? state : "");
        pg->err_pos = 0;
        if (pos && sl_parse_i64(pos, 1, INT32_MAX, &p) == 0)
                pg->err_pos = (int)p;
        trim_copy(msg, sizeof(msg), primary ? primary : PQerrorMessage(pg->conn));
        if (msg[0] == '\0')
                snprintf(msg, sizeof(msg), "%s",
                         res ? PQresStatus(PQresultStatus(res)) : "no result");
        if (state && detail)
                snprintf(errstr, errstr_size, "%s [SQLSTATE %s]; %s", msg, state, detail);
        else if (state)
                snprintf(errstr, errstr_size, "%s [SQLSTATE %s]", msg, state);
        else
                snprintf(errstr, errstr_size, "%s", msg);
        return sl_pg_sqlstate_errno(state);
}

/* Server notices (NOTICE: schema "ops" already exists, skipping) go to our log, not stderr. */
static void on_notice(void *arg, const PGresult *res)
{
        const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

        (void)arg;
        if (sev && strcmp(sev, "WARNING") == 0)
                sl_log_warn("pg.notice", "%s: %s", sev, msg ? msg : "");
        else
                sl_log_debug("pg.notice", "%s: %s", sev ? sev : "NOTICE", msg ? msg : "");
}

/* ---- connecting ------------------------------------------------------------ */

/*
 * Drives PQconnectPoll / PQresetPoll until the connection is up, failed, or
 * timeout_ms passed. Our own deadline: libpq's connect_timeout only applies
 * to its blocking PQconnectdb loop.
 */
static int connect_poll(PGconn *conn, bool reset, int timeout_ms)
{
        int64_t deadline = sl_mono_ms() + timeout_ms;
        PostgresPollingStatusType st = PGRES_POLLING_WRITING; /* libpq docs: start with writing */

        if (PQstatus(conn) == CONNECTION_BAD)
                return -ECONNREFUSED;
        for (;;) {
                struct pollfd pfd;
                int64_t left;
                int n;

                if (st == PGRES_POLLING_OK)
                        return 0;
                if (st == PGRES_POLLING_FAILED)
                        return -ECONNREFUSED;
                pfd.fd = PQsocket(conn); /* may change between polls (several hosts) */
                pfd.events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
                pfd.revents = 0;
                if (pfd.fd < 0)
                        return -ECONNREFUSED;
                left = deadline - sl_mono_ms();
                if (left <= 0)
                        return -ETIMEDOUT;
                n = poll(&pfd, 1, (int)left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -ETIMEDOUT;
                st = reset ? PQresetPoll(conn) : PQconnectPoll(conn);
        }
}

/* Describes a failed connect/reset into errstr. */
static void connect_error(PGconn *conn, int rc, int timeout_ms, char *errstr, size_t errstr_size)
{
        char msg[512];

        if (rc == -ETIMEDOUT) {
                snprintf(errstr, errstr_size, "no connection within %d ms", timeout_ms);
                return;
        }
        trim_copy(msg, sizeof(msg), conn ? PQerrorMessage(conn) : "out of memory");
        snprintf(errstr, errstr_size, "%s", msg[0] ? msg : sl_strerror(rc));
}

/* Registers the DSN's password (if any) as a log secret. Returns 0 or -EINVAL (bad DSN). */
static int register_password(const char *dsn, char *errstr, size_t errstr_size)
{
        char *err = NULL;
        PQconninfoOption *opts = PQconninfoParse(dsn, &err);

        if (!opts) {
                sl_log_add_secret(dsn); /* unparsable: hide all of it, to be safe */
                snprintf(errstr, errstr_size, "invalid connection string: %s",
                         err ? err : "out of memory");
                PQfreemem(err);
                return -EINVAL;
        }
        for (PQconninfoOption *o = opts; o->keyword; o++) {
                if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0])
                        sl_log_add_secret(o->val);
        }
        PQconninfoFree(opts);
        return 0;
}

struct sl_pg *sl_pg_open(const char *dsn, int connect_timeout_ms, char *errstr, size_t errstr_size)
{
        /*
         * Defaults first: the expanded dsn ("dbname") comes later and overrides them.
         * options: JIT off. Our statements run in milliseconds, and JIT compiling one
         * whose estimated cost passed jit_above_cost took longer than running it
         * (a whole date's upcoming player context: 68 ms with JIT, 34 ms without;
         * docs/performance.md). A dsn with its own options= replaces this.
         */
        static const char *const keys[] = {
            "application_name", "client_encoding", "keepalives",
            "keepalives_idle",  "options",         "keepalives_interval",
            "keepalives_count", "dbname",          NULL};
        const char *vals[] = {"statline", "UTF8", "1", "10", "-c jit=off", "3", "3", dsn, NULL};
        struct sl_pg *pg;
        int rc;

        if (!dsn || !dsn[0]) {
                snprintf(errstr, errstr_size, "no connection string (pg.dsn)");
                return NULL;
        }
        if (register_password(dsn, errstr, errstr_size) < 0)
                return NULL;
        pg = sl_xcalloc(1, sizeof(*pg));
        pg->connect_timeout_ms =
            connect_timeout_ms > 0 ? connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
        pg->conn = PQconnectStartParams(keys, vals, 1);
        if (pg->conn)
                PQsetNoticeReceiver(pg->conn, on_notice, NULL);
        rc = pg->conn ? connect_poll(pg->conn, false, pg->connect_timeout_ms) : -ENOMEM;
        if (rc < 0) {
                connect_error(pg->conn, rc, pg->connect_timeout_ms, errstr, errstr_size);
                sl_pg_close(pg);
                return NULL;
        }
        sl_log_debug("pg.open", "server_version=%d backend_pid=%d", PQserverVersion(pg->conn),
                     PQbackendPID(pg->conn));
        return pg;
}

void sl_pg_close(struct sl_pg *pg)
{
        if (!pg)
                return;
        PQfinish(pg->conn); /* PQfinish(NULL) is a no-op */
        for (int i = 0; i < pg->nlisten; i++)
                free(pg->listen[i]);
        free(pg);
}

/*
 * Issues the LISTEN statements of sl_pg_listen() on a new session. A failure
 * is logged and only costs notifications: sl_pg_notifications() reports the
 * reconnect either way, so the caller looks again.
 */
static void relisten(struct sl_pg *pg)
{
        for (int i = 0; i < pg->nlisten; i++) {
                PGresult *res = PQexec(pg->conn, pg->listen[i]);
                if (PQresultStatus(res) != PGRES_COMMAND_OK)
                        sl_log_warn("pg.listen.error", "%s: %s", pg->listen[i],
                                    PQerrorMessage(pg->conn));
                PQclear(res);
        }
        pg->relistened = pg->nlisten > 0;
}

/*
 * Re-establishes a broken connection, at most once per backoff period.
 * Returns 0 when connected again, -ECONNRESET otherwise.
 */
static int reconnect(struct sl_pg *pg, char *errstr, size_t errstr_size)
{
        int64_t now = sl_mono_ms();
        char why[256];
        int rc;

        if (now < pg->next_reset_ms) {
                snprintf(errstr, errstr_size,
                         "database connection is down; next reconnect attempt in %" PRId64 " ms",
                         pg->next_reset_ms - now);
                return -ECONNRESET;
        }
        rc = PQresetStart(pg->conn) ? connect_poll(pg->conn, true, pg->connect_timeout_ms)
                                    : -ECONNREFUSED;
        if (rc == 0) {
                sl_log_info("pg.reconnect.ok", "failed_attempts=%d backend_pid=%d",
                            pg->reset_failures, PQbackendPID(pg->conn));
                pg->backoff_ms = 0;
                pg->next_reset_ms = 0;
                pg->reset_failures = 0;
                pg->lost_logged = false;
                relisten(pg);
                return 0;
        }
        connect_error(pg->conn, rc, pg->connect_timeout_ms, why, sizeof(why));
        pg->reset_failures++;
        pg->backoff_ms = pg->backoff_ms ? pg->backoff_ms * 2 : RESET_BACKOFF_MIN_MS;
        if (pg->backoff_ms > RESET_BACKOFF_MAX_MS)
                pg->backoff_ms = RESET_BACKOFF_MAX_MS;
        /* +-20% jitter so six services do not reconnect in lockstep */
        pg->next_reset_ms = sl_mono_ms() + pg->backoff_ms * 4 / 5 +
                            (int64_t)sl_random_below((uint64_t)pg->backoff_ms * 2 / 5 + 1);
        sl_log_warn("pg.reconnect.fail", "attempt=%d next_in_ms=%" PRId64 " reason=%s",
                    pg->reset_failures, pg->next_reset_ms - sl_mono_ms(), why);
        snprintf(errstr, errstr_size, "database connection is down: %s", why);
        return -ECONNRESET;
}

/* True while the server holds an open (possibly failed) transaction for us. */
static bool tx_active(const struct sl_pg *pg)
{
        PGTransactionStatusType ts;

        if (PQstatus(pg->conn) != CONNECTION_OK)
                return false;
        ts = PQtransactionStatus(pg->conn);
        return ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR;
}

/* Called before every statement: refuses after a lost transaction, reconnects if needed. */
static int ensure_ready(struct sl_pg *pg, char *errstr, size_t errstr_size)
{
        pg->err_pos = 0;
        if (pg->tx_lost) {
                snprintf(pg->sqlstate, sizeof(pg->sqlstate), "08006");
                snprintf(errstr, errstr_size,
                         "the transaction was lost with the database connection; "
                         "call sl_pg_rollback() and run it again");
                return -ECONNRESET;
        }
        if (PQstatus(pg->conn) == CONNECTION_OK)
                return 0;
        snprintf(pg->sqlstate, sizeof(pg->sqlstate), "08006");
        return reconnect(pg, errstr, errstr_size);
}

/* Ends a COPY the server started when we did not expect one (refused by sl_pg_exec). */
static void abandon_copy(PGconn *conn, ExecStatusType st)
{
        PGresult *res;
        char *row = NULL;

        if (st == PGRES_COPY_IN || st == PGRES_COPY_BOTH)
                PQputCopyEnd(conn, "COPY through sl_pg_exec is not supported");
        if (st == PGRES_COPY_OUT) {
                while (PQgetCopyData(conn, &row, 0) > 0)
                        PQfreemem(row);
        }
        while ((res = PQgetResult(conn)))
                PQclear(res);
}

/*
 * Common tail of every statement: success keeps or frees res; failure maps
 * the error, notices a broken connection (and a transaction lost with it)
 * and remembers the first error of an open transaction. Takes res.
 */
static int finish(struct sl_pg *pg, PGresult *res, bool was_in_tx, PGresult **res_out, char *errstr,
                  size_t errstr_size)
{
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        int rc;

        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
                pg->sqlstate[0] = '\0';
                if (res_out)
                        *res_out = res;
                else
                        PQclear(res);
                return 0;
        }
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
                PQclear(res);
                abandon_copy(pg->conn, st);
                snprintf(errstr, errstr_size, "COPY is not supported here: use sl_pg_copy()");
                rc = -EINVAL;
        } else {
                rc = result_error(pg, res, errstr, errstr_size);
                PQclear(res);
        }
        if (PQstatus(pg->conn) != CONNECTION_OK) {
                rc = -ECONNRESET;
                if (!pg->sqlstate[0])
                        snprintf(pg->sqlstate, sizeof(pg->sqlstate), "08006");
                pg->tx_lost = was_in_tx;
                if (!pg->lost_logged)
                        sl_log_warn("pg.conn.lost", "in_transaction=%d: %s", (int)was_in_tx,
                                    errstr && errstr_size ? errstr : "");
                pg->lost_logged = true;
        } else if (tx_active(pg) && pg->tx_failed_rc == 0) {
                pg->tx_failed_rc = rc;
        }
        return rc;
}

int sl_pg_exec(struct sl_pg *pg, const char *sql, int nparams, const char *const *params,
               PGresult **res_out, char *errstr, size_t errstr_size)
{
        PGresult *res;
        bool was_in_tx;
        int rc;

        if (res_out)
                *res_out = NULL;
        if (!pg || !sql || nparams < 0 || (nparams > 0 && !params)) {
                snprintf(errstr, errstr_size, "sl_pg_exec: invalid arguments");
                return -EINVAL;
        }
        rc = ensure_ready(pg, errstr, errstr_size);
        if (rc < 0)
                return rc;
        was_in_tx = tx_active(pg);
        /*
         * The extended protocol behind PQexecParams accepts exactly one
         * statement and sends values out of band: no injection, no batching.
         * Text format both ways (NULL formats/lengths).
         */
        res =
            PQexecParams(pg->conn, sql, nparams, NULL, (const char *const *)params, NULL, NULL, 0);
        return finish(pg, res, was_in_tx, res_out, errstr, errstr_size);
}

int sl_pg_listen(struct sl_pg *pg, const char *channel, char *errstr, size_t errstr_size)
{
        struct sl_buf sql;
        char *ident;
        int rc;

        if (!pg || !channel || !channel[0]) {
                snprintf(errstr, errstr_size, "sl_pg_listen: invalid arguments");
                return -EINVAL;
        }
        if (pg->nlisten == SL_PG_MAX_LISTEN) {
                snprintf(errstr, errstr_size, "LISTEN %s: more than %d channels", channel,
                         SL_PG_MAX_LISTEN);
                return -ENOSPC;
        }
        if (tx_active(pg)) {
                snprintf(errstr, errstr_size, "LISTEN %s: inside a transaction", channel);
                return -EINVAL;
        }
        rc = ensure_ready(pg, errstr, errstr_size);
        if (rc < 0)
                return rc;
        ident = PQescapeIdentifier(pg->conn, channel, strlen(channel));
        if (!ident) {
                snprintf(errstr, errstr_size, "LISTEN %s: %s", channel, PQerrorMessage(pg->conn));
                return -EINVAL;
        }
        sl_buf_init(&sql, 0);
        sl_buf_printf(&sql, "LISTEN %s", ident);
        PQfreemem(ident);
        rc = sl_pg_exec(pg, sql.data, 0, NULL, NULL, errstr, errstr_size);
        if (rc == 0)
                pg->listen[pg->nlisten++] = sl_buf_steal(&sql);
        sl_buf_fini(&sql);
        return rc;
}

int sl_pg_notifications(struct sl_pg *pg)
{
        PGnotify *note;
        int n = 0;

        if (!pg || PQstatus(pg->conn) != CONNECTION_OK)
                return -ECONNRESET;
        if (!PQconsumeInput(pg->conn))
                return -ECONNRESET; /* the next statement notices it and reconnects */
        while ((note = PQnotifies(pg->conn))) {
                n++;
                PQfreemem(note);
        }
        if (pg->relistened) {
                pg->relistened = false;
                n++;
        }
        return n;
}

/* Runs a multi-statement script (migrations, bootstrap) with the simple query protocol. */
static int exec_script(struct sl_pg *pg, const char *sql, char *errstr, size_t errstr_size)
{
        bool was_in_tx;
        int rc;

        rc = ensure_ready(pg, errstr, errstr_size);
        if (rc < 0)
                return rc;
        was_in_tx = tx_active(pg);
        return finish(pg, PQexec(pg->conn, sql), was_in_tx, NULL, errstr, errstr_size);
}

/* ---- transactions ---------------------------------------------------------- */

bool sl_pg_in_tx(const struct sl_pg *pg)
{
        return pg && (pg->tx_lost || tx_active(pg));
}

const char *sl_pg_sqlstate(const struct sl_pg *pg)
{
        return pg ? pg->sqlstate : "";
}

PGconn *sl_pg_conn(struct sl_pg *pg)
{
        return pg ? pg->conn : NULL;
}

int sl_pg_begin(struct sl_pg *pg, char *errstr, size_t errstr_size)
{
        int rc = ensure_ready(pg, errstr, errstr_size);

        if (rc < 0)
                return rc;
        if (tx_active(pg)) {
                snprintf(errstr, errstr_size, "sl_pg_begin: already in a transaction");
                return -EINVAL;
        }
        pg->tx_failed_rc = 0;
        return sl_pg_exec(pg, "BEGIN", 0, NULL, NULL, errstr, errstr_size);
}

int sl_pg_commit(struct sl_pg *pg, char *errstr, size_t errstr_size)
{
        int rc = ensure_ready(pg, errstr, errstr_size);
        int failed_rc;

        if (rc < 0)
                return rc;
        if (!tx_active(pg)) {
                snprintf(errstr, errstr_size, "sl_pg_commit: no transaction in progress");
                return -EINVAL;
        }
        if (PQtransactionStatus(pg->conn) == PQTRANS_INERROR) {
                /* COMMIT of a failed transaction is a ROLLBACK in disguise: say so. */
                failed_rc = pg->tx_failed_rc ? pg->tx_failed_rc : -EIO;
                sl_pg_rollback(pg, NULL, 0);
                snprintf(errstr, errstr_size,
                         "transaction not committed: an earlier statement failed (%s); "
                         "rolled back",
                         sl_strerror(failed_rc));
                return failed_rc;
        }
        rc = sl_pg_exec(pg, "COMMIT", 0, NULL, NULL, errstr, errstr_size);
        pg->tx_failed_rc = 0;
        return rc;
}

int sl_pg_rollback(struct sl_pg *pg, char *errstr, size_t errstr_size)
{
        int rc;

        if (!pg)
                return 0;
        pg->tx_lost = false;
        pg->tx_failed_rc = 0;
        if (!tx_active(pg))
                return 0; /* nothing open, or the connection (and the tx with it) is gone */
        rc = sl_pg_exec(pg, "ROLLBACK", 0, NULL, NULL, errstr, errstr_size);
        if (rc == -ECONNRESET) {
                pg->tx_lost = false; /* the server discards the transaction with the session */
                return 0;
        }
        return rc;
}

/* ---- COPY ------------------------------------------------------------------ */

int sl_pg_copy_escape(struct sl_buf *out, const char *value)
{
        const char *p = value;
        int rc;

        if (!value)
                return sl_buf_append(out, "\\N", 2);
        for (;;) {
                size_t span = strcspn(p, "\\\t\n\r");
                char esc[2] = {'\\', 0};

                rc = sl_buf_append(out, p, span);
                if (rc < 0)
                        return rc;
                p += span;
                switch (*p) {
                case '\0':
                        return 0;
                case '\\':
                        esc[1] = '\\';
                        break;
                case '\t':
                        esc[1] = 't';
                        break;
                case '\n':
                        esc[1] = 'n';
                        break;
                default: /* '\r' */
                        esc[1] = 'r';
                        break;
                }
                rc = sl_buf_append(out, esc, 2);
                if (rc < 0)
                        return rc;
                p++;
        }
}

int sl_pg_copy_encode_row(struct sl_buf *out, const char *const *values, size_t ncols)
{
        int rc = 0;

        for (size_t c = 0; c < ncols && rc == 0; c++) {
                if (c > 0)
                        rc = sl_buf_append(out, "\t", 1);
                if (rc == 0)
                        rc = sl_pg_copy_escape(out, values[c]);
        }
        if (rc == 0)
                rc = sl_buf_append(out, "\n", 1);
        return rc;
}

/* Appends name quoted as an identifier ("x""y"). */
static int append_ident(PGconn *conn, struct sl_buf *b, const char *name, size_t len)
{
        char *q = PQescapeIdentifier(conn, name, len);
        int rc;

        if (!q)
                return -EINVAL;
        rc = sl_buf_puts(b, q);
        PQfreemem(q);
        return rc;
}

/* Builds COPY "schema"."table" ("c1", ...) FROM STDIN; identifiers can't be parameters. */
static int copy_sql(PGconn *conn, const char *table, const char *const *cols, size_t ncols,
                    struct sl_buf *b)
{
        const char *dot = strchr(table, '.');
        int rc = sl_buf_puts(b, "COPY ");

        if (rc == 0 && dot) {
                rc = append_ident(conn, b, table, (size_t)(dot - table));
                if (rc == 0)
                        rc = sl_buf_puts(b, ".");
                table = dot + 1;
        }
        if (rc == 0)
                rc = append_ident(conn, b, table, strlen(table));
        for (size_t c = 0; c < ncols && rc == 0; c++) {
                rc = sl_buf_puts(b, c == 0 ? " (" : ", ");
                if (rc == 0 && (!cols[c] || !cols[c][0]))
                        rc = -EINVAL;
                if (rc == 0)
                        rc = append_ident(conn, b, cols[c], strlen(cols[c]));
        }
        if (rc == 0)
                rc = sl_buf_puts(b, ") FROM STDIN");
        return rc;
}

/*
 * Streams rows from next_row into an open COPY IN, in COPY_FLUSH_BYTES
 * chunks. Returns 0, the row source's negative errno, or -ECONNRESET when
 * sending failed. *reason is set when the COPY must be aborted.
 */
static int copy_feed(struct sl_pg *pg, size_t ncols, sl_pg_copy_row_fn *next_row, void *opaque,
                     const char **reason)
{
        const char **values = sl_xcalloc(ncols, sizeof(*values));
        struct sl_buf b;
        int rc = 0;

        sl_buf_init(&b, COPY_MAX_ROW_BYTES + COPY_FLUSH_BYTES);
        for (;;) {
                memset(values, 0, ncols * sizeof(*values));
                rc = next_row(opaque, values, ncols);
                if (rc < 0) {
                        *reason = "aborted by the row source";
                        break;
                }
                if (rc == 0)
                        break;
                rc = sl_pg_copy_encode_row(&b, values, ncols);
                if (rc < 0) {
                        *reason = "row too large";
                        break;
                }
                if (b.len < COPY_FLUSH_BYTES)
                        continue;
                if (PQputCopyData(pg->conn, b.data, (int)b.len) != 1) {
                        rc = -ECONNRESET;
                        break;
                }
                sl_buf_reset(&b);
        }
        if (rc == 0 && b.len > 0 && PQputCopyData(pg->conn, b.data, (int)b.len) != 1)
                rc = -ECONNRESET;
        sl_buf_fini(&b);
        free(values);
        return rc;
}

int sl_pg_copy(struct sl_pg *pg, const char *table, const char *const *cols, size_t ncols,
               sl_pg_copy_row_fn *next_row, void *opaque, char *errstr, size_t errstr_size)
{
        const char *reason = NULL;
        struct sl_buf sql;
        PGresult *res;
        bool was_in_tx;
        int rc, feed_rc;

        if (!pg || !table || !table[0] || !cols || ncols == 0 || ncols > COPY_MAX_COLS ||
            !next_row) {
                snprintf(errstr, errstr_size, "sl_pg_copy: invalid arguments");
                return -EINVAL;
        }
        rc = ensure_ready(pg, errstr, errstr_size);
        if (rc < 0)
                return rc;
        sl_buf_init(&sql, 0);
        rc = copy_sql(pg->conn, table, cols, ncols, &sql);
        if (rc < 0) {
                snprintf(errstr, errstr_size, "sl_pg_copy: bad table or column name");
                sl_buf_fini(&sql);
                return -EINVAL;
        }
        /*
         * COPY ... FROM STDIN, then rows in COPY_FLUSH_BYTES chunks, then
         * PQputCopyEnd: with an error message it makes the server abort the
         * COPY (nothing loaded), without one it commits the rows (or fails as
         * a whole, e.g. 23505). Identifiers were quoted by copy_sql().
         */
        was_in_tx = tx_active(pg);
        res = PQexec(pg->conn, sql.data);
        sl_buf_fini(&sql);
        if (PQresultStatus(res) != PGRES_COPY_IN) /* PQresultStatus(NULL) is FATAL_ERROR */
                return finish(pg, res, was_in_tx, NULL, errstr, errstr_size);
        PQclear(res);

        feed_rc = copy_feed(pg, ncols, next_row, opaque, &reason);
        PQputCopyEnd(pg->conn, reason); /* reason != NULL makes the server fail the COPY */
        res = PQgetResult(pg->conn);
        /* Drain to ReadyForQuery first: only then is the transaction status current. */
        for (PGresult *extra; (extra = PQgetResult(pg->conn));)
                PQclear(extra);
        rc = finish(pg, res, was_in_tx, NULL, errstr, errstr_size);
        if (feed_rc < 0 && rc != -ECONNRESET) {
                snprintf(errstr, errstr_size, "COPY %s %s (%s)", table, reason ? reason : "failed",
                         sl_strerror(feed_rc));
                rc = feed_rc;
                if (tx_active(pg))
                        pg->tx_failed_rc = rc;
        } else if (rc == 0 && reason) {
                rc = -E2BIG; /* the server accepted an aborted COPY: cannot happen, be safe */
        }
        return rc;
}

/* Row source over a row-major array (sl_pg_copy_rows). */
struct rows_src {
        const char *const *values;
        size_t nrows, next;
};

static int rows_next(void *opaque, const char **values, size_t ncols)
{
        struct rows_src *src = opaque;

        if (src->next >= src->nrows)
                return 0;
        memcpy(values, src->values + src->next * ncols, ncols * sizeof(*values));
        src->next++;
        return 1;
}

int sl_pg_copy_rows(struct sl_pg *pg, const char *table, const char *const *cols, size_t ncols,
                    const char *const *values, size_t nrows, char *errstr, size_t errstr_size)
{
        struct rows_src src = {values, nrows, 0};

        if (nrows > 0 && !values) {
                snprintf(errstr, errstr_size, "sl_pg_copy_rows: invalid arguments");
                return -EINVAL;
        }
        return sl_pg_copy(pg, table, cols, ncols, rows_next, &src, errstr, errstr_size);
}

/* ---- migration files ------------------------------------------------------- */

int sl_pg_migration_parse_name(const char *file, int *version, char *name, size_t name_size)
{
        size_t len, name_len;
        int v = 0;

        if (!file)
                return -EINVAL;
        len = strlen(file);
        if (len < 4 + 1 + 1 + 4 || strcmp(file + len - 4, ".sql") != 0 || file[4] != '_')
                return -EINVAL;
        for (int i = 0; i < 4; i++) {
                if (file[i] < '0' || file[i] > '9')
                        return -EINVAL;
                v = v * 10 + (file[i] - '0');
        }
        if (v == 0)
                return -EINVAL;
        name_len = len - 5 - 4;
        for (size_t i = 5; i < len - 4; i++) {
                char c = file[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-'))
                        return -EINVAL;
        }
        if (name) {
                if (name_len + 1 > name_size)
                        return -ERANGE;
                memcpy(name, file + 5, name_len);
                name[name_len] = '\0';
        }
        *version = v;
        return 0;
}

/* Reads a whole migration file (capped) into a NUL-terminated heap buffer. */
static int read_migration(const char *path, char **out, size_t *out_len, char *errstr,
                          size_t errstr_size)
{
        struct stat st;
        char *buf = NULL;
        size_t got = 0;
        int fd, rc = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                rc = -errno;
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                goto out;
        }
        if (!S_ISREG(st.st_mode) || st.st_size <= 0 ||
            (uint64_t)st.st_size > SL_PG_MIGRATION_MAX_BYTES) {
                rc = -EINVAL;
                snprintf(errstr, errstr_size, "%s: %s", path,
                         !S_ISREG(st.st_mode) ? "not a regular file"
                         : st.st_size <= 0    ? "empty migration"
                                              : "larger than 16 MiB");
                goto out;
        }
        buf = sl_xmalloc((size_t)st.st_size + 1);
        while (got < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        rc = n < 0 ? -errno : -EIO;
                        snprintf(errstr, errstr_size, "%s: short read", path);
                        goto out;
                }
                got += (size_t)n;
        }
        buf[got] = '\0';
        if (memchr(buf, '\0', got)) {
                rc = -EINVAL;
                snprintf(errstr, errstr_size, "%s: contains a NUL byte", path);
                goto out;
        }
        *out = buf;
        *out_len = got;
        buf = NULL;
out:
        free(buf);
        if (fd >= 0)
                close(fd);
        return rc;
}

static int cmp_migration(const void *a, const void *b)
{
        const struct sl_pg_migration *x = a, *y = b;

        return (x->version > y->version) - (x->version < y->version);
}

/* Loads one directory entry that looks like a migration into m (grown by one). */
static int add_migration(struct sl_pg_migrations *m, const char *dir, const char *file,
                         char *errstr, size_t errstr_size)
{
        struct sl_pg_migration mig = {0};
        char name[256];
        char *path;
        int rc;

        rc = sl_pg_migration_parse_name(file, &mig.version, name, sizeof(name));
        if (rc < 0) {
                snprintf(errstr, errstr_size,
                         "%s/%s: not a migration file name (want NNNN_name.sql, NNNN = 0001..9999, "
                         "name of letters, digits, '_' and '-')",
                         dir, file);
                return -EINVAL;
        }
        path = sl_xasprintf("%s/%s", dir, file);
        rc = read_migration(path, &mig.sql, &mig.sql_len, errstr, errstr_size);
        free(path);
        if (rc < 0)
                return rc;
        mig.name = sl_xstrdup(name);
        mig.file = sl_xstrdup(file);
        sl_sha256_hex(mig.sql, mig.sql_len, mig.sha256);
        m->items = sl_xrealloc(m->items, (m->count + 1) * sizeof(*m->items));
        m->items[m->count++] = mig;
        return 0;
}

int sl_pg_migrations_load(const char *dir, struct sl_pg_migrations *out, char *errstr,
                          size_t errstr_size)
{
        struct dirent *de;
        DIR *d;
        int rc = 0;

        out->items = NULL;
        out->count = 0;
        d = opendir(dir);
        if (!d) {
                rc = -errno;
                snprintf(errstr, errstr_size, "migrations directory %s: %s", dir, strerror(errno));
                return rc;
        }
        while (rc == 0 && (de = readdir(d)) != NULL) {
                size_t len = strlen(de->d_name);
                /* hidden files and anything not *.sql (README.md, editor backups) are skipped */
                if (de->d_name[0] == '.' || len < 4 || strcmp(de->d_name + len - 4, ".sql") != 0)
                        continue;
                rc = add_migration(out, dir, de->d_name, errstr, errstr_size);
        }
        closedir(d);
        if (rc < 0)
                return rc;
        if (out->count > 1)
                sl_qsort(out->items, out->count, sizeof(*out->items), cmp_migration);
        for (size_t i = 1; i < out->count; i++) {
                if (out->items[i].version == out->items[i - 1].version) {
                        snprintf(errstr, errstr_size, "%s: %s and %s have the same version %04d",
                                 dir, out->items[i - 1].file, out->items[i].file,
                                 out->items[i].version);
                        return -EINVAL;
                }
        }
        return 0;
}

void sl_pg_migrations_fini(struct sl_pg_migrations *m)
{
        if (!m)
                return;
        for (size_t i = 0; i < m->count; i++) {
                free(m->items[i].name);
                free(m->items[i].file);
                free(m->items[i].sql);
        }
        free(m->items);
        m->items = NULL;
        m->count = 0;
}

/* ---- migrating ------------------------------------------------------------- */

/* The history table; created by the migrator itself, so migration 0001 can be recorded. */
static const char bootstrap_sql[] =
    "CREATE SCHEMA IF NOT EXISTS ops;\n"
    "CREATE TABLE IF NOT EXISTS ops.schema_migrations (\n"
    "        version integer PRIMARY KEY CHECK (version BETWEEN 1 AND 9999),\n"
    "        name text NOT NULL,\n"
    "        checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),\n"
    "        applied_at timestamptz NOT NULL DEFAULT now(),\n"
    "        duration_ms integer NOT NULL DEFAULT 0\n"
    ");\n";

/* One row of ops.schema_migrations. */
struct applied {
        int version;
        char *name;
        char *checksum;
};

static void applied_free(struct applied *ap, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(ap[i].name);
                free(ap[i].checksum);
        }
        free(ap);
}

static int load_applied(struct sl_pg *pg, struct applied **out, size_t *nout, char *errstr,
                        size_t errstr_size)
{
        PGresult *res = NULL;
        struct applied *ap;
        int rc, n;

        rc = sl_pg_exec(pg,
                        "SELECT version, name, checksum FROM ops.schema_migrations "
                        "ORDER BY version",
                        0, NULL, &res, errstr, errstr_size);
        if (rc < 0)
                return rc;
        n = PQntuples(res);
        ap = sl_xcalloc((size_t)n + 1, sizeof(*ap));
        for (int i = 0; i < n; i++) {
                int64_t v = 0;
                sl_parse_i64(PQgetvalue(res, i, 0), 1, 9999, &v); /* CHECK constraint holds */
                ap[i].version = (int)v;
                ap[i].name = sl_xstrdup(PQgetvalue(res, i, 1));
                ap[i].checksum = sl_xstrdup(PQgetvalue(res, i, 2));
        }
        PQclear(res);
        *out = ap;
        *nout = (size_t)n;
        return 0;
}

static const struct sl_pg_migration *find_migration(const struct sl_pg_migrations *m, int version)
{
        for (size_t i = 0; i < m->count; i++) {
                if (m->items[i].version == version)
                        return &m->items[i];
        }
        return NULL;
}

/*
 * Compares the history with the files; any disagreement refuses the whole
 * run, because applying on top of a history we cannot vouch for could
 * silently diverge schemas between environments.
 */
static int check_history(const struct sl_pg_migrations *m, const struct applied *ap, size_t nap,
                         const char *dir, char *errstr, size_t errstr_size)
{
        int max_local = m->count ? m->items[m->count - 1].version : 0;
        int max_applied = nap ? ap[nap - 1].version : 0;

        for (size_t i = 0; i < nap; i++) {
                const struct sl_pg_migration *mig = find_migration(m, ap[i].version);
                if (!mig && ap[i].version > max_local) {
                        sl_log_warn("pg.migrate.newer",
                                    "database has migration %04d_%s, newer than every file in %s",
                                    ap[i].version, ap[i].name, dir);
                        continue;
                }
                if (!mig) {
                        snprintf(errstr, errstr_size,
                                 "refusing to migrate: migration %04d_%s.sql was applied but is "
                                 "missing from %s",
                                 ap[i].version, ap[i].name, dir);
                        return -EINVAL;
                }
                if (strcmp(mig->name, ap[i].name) != 0) {
                        snprintf(errstr, errstr_size,
                                 "refusing to migrate: migration %04d was applied as "
                                 "%04d_%s.sql but the file is now %s",
                                 ap[i].version, ap[i].version, ap[i].name, mig->file);
                        return -EINVAL;
                }
                if (strcmp(mig->sha256, ap[i].checksum) != 0) {
                        snprintf(errstr, errstr_size,
                                 "refusing to migrate: %s was changed after it was applied "
                                 "(checksum %.12s... in ops.schema_migrations, %.12s... on disk); "
                                 "restore the applied file and put the change in a new migration",
                                 mig->file, ap[i].checksum, mig->sha256);
                        return -EINVAL;
                }
        }
        for (size_t i = 0; i < m->count; i++) {
                const struct sl_pg_migration *mig = &m->items[i];
                bool done = false;
                for (size_t j = 0; j < nap && !done; j++)
                        done = ap[j].version == mig->version;
                if (!done && mig->version < max_applied) {
                        snprintf(errstr, errstr_size,
                                 "refusing to migrate: %s is not applied but a later version "
                                 "(%04d) is; give it a version above %04d",
                                 mig->file, max_applied, max_applied);
                        return -EINVAL;
                }
        }
        return 0;
}

/* 1-based line of the 1-based character position pos in sql (UTF-8). */
static int line_of(const char *sql, size_t len, int pos)
{
        int line = 1, seen = 0;

        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)sql[i];
                if ((c & 0xC0) == 0x80)
                        continue; /* UTF-8 continuation byte: same character */
                if (++seen >= pos)
                        break;
                if (c == '\n')
                        line++;
        }
        return line;
}

/* Applies one migration and records it, in one transaction. */
static int apply_one(struct sl_pg *pg, const struct sl_pg_migration *mig, char *errstr,
                     size_t errstr_size)
{
        int64_t t0 = sl_mono_ms();
        char version[16], duration[24], why[512];
        const char *params[4];
        int rc;

        rc = sl_pg_begin(pg, errstr, errstr_size);
        if (rc < 0)
                return rc;
        /* The file may hold many statements: simple query protocol, inside our BEGIN. */
        rc = exec_script(pg, mig->sql, why, sizeof(why));
        if (rc < 0) {
                if (pg->err_pos > 0)
                        snprintf(errstr, errstr_size, "%s line %d: %s", mig->file,
                                 line_of(mig->sql, mig->sql_len, pg->err_pos), why);
                else
                        snprintf(errstr, errstr_size, "%s: %s", mig->file, why);
                sl_pg_rollback(pg, NULL, 0);
                return rc;
        }
        snprintf(version, sizeof(version), "%d", mig->version);
        snprintf(duration, sizeof(duration), "%" PRId64, sl_mono_ms() - t0);
        params[0] = version;
        params[1] = mig->name;
        params[2] = mig->sha256;
        params[3] = duration;
        /* The history row commits with the migration itself: both or neither. */
        rc = sl_pg_exec(pg,
                        "INSERT INTO ops.schema_migrations (version, name, checksum, duration_ms) "
                        "VALUES ($1::integer, $2, $3, $4::integer)",
                        4, params, NULL, errstr, errstr_size);
        if (rc == 0)
                rc = sl_pg_commit(pg, errstr, errstr_size);
        if (rc < 0) {
                sl_pg_rollback(pg, NULL, 0);
                return rc;
        }
        sl_log_info("pg.migrate.apply", "file=%s sha256=%.12s duration_ms=%" PRId64, mig->file,
                    mig->sha256, sl_mono_ms() - t0);
        return 0;
}

/*
 * Takes the session advisory lock, waiting at most SL_PG_MIGRATE_LOCK_WAIT_S.
 * The wait is bounded with a transaction-local lock_timeout; a session lock
 * outlives the transaction it was taken in.
 */
static int migrate_lock(struct sl_pg *pg, char *errstr, size_t errstr_size)
{
        char key[24], wait[24];
        const char *p_key[] = {key};
        const char *p_wait[] = {wait};
        int rc;

        snprintf(key, sizeof(key), "%" PRId64, SL_PG_MIGRATE_LOCK_KEY);
        snprintf(wait, sizeof(wait), "%ds", SL_PG_MIGRATE_LOCK_WAIT_S);
        rc = sl_pg_begin(pg, errstr, errstr_size);
        if (rc == 0)
                rc = sl_pg_exec(pg, "SELECT set_config('lock_timeout', $1, true)", 1, p_wait, NULL,
                                errstr, errstr_size);
        if (rc == 0)
                rc = sl_pg_exec(pg, "SELECT pg_advisory_lock($1::bigint)", 1, p_key, NULL, errstr,
                                errstr_size);
        if (rc == 0)
                rc = sl_pg_commit(pg, errstr, errstr_size);
        if (rc < 0) {
                sl_pg_rollback(pg, NULL, 0);
                if (rc == -EAGAIN)
                        snprintf(errstr, errstr_size,
                                 "gave up after %d s waiting for the migration lock (another "
                                 "process is migrating)",
                                 SL_PG_MIGRATE_LOCK_WAIT_S);
        }
        return rc;
}

static void migrate_unlock(struct sl_pg *pg)
{
        char key[24], why[256];
        const char *params[] = {key};

        if (PQstatus(pg->conn) != CONNECTION_OK)
                return; /* the server dropped the lock with the session */
        snprintf(key, sizeof(key), "%" PRId64, SL_PG_MIGRATE_LOCK_KEY);
        if (sl_pg_exec(pg, "SELECT pg_advisory_unlock($1::bigint)", 1, params, NULL, why,
                       sizeof(why)) < 0)
                sl_log_warn("pg.migrate.unlock", "%s", why);
}

int sl_pg_migrate(struct sl_pg *pg, const char *dir, char *errstr, size_t errstr_size)
{
        struct sl_pg_migrations m = {0};
        struct applied *ap = NULL;
        size_t nap = 0;
        bool locked = false;
        int64_t t0 = sl_mono_ms(), lock_ms = 0;
        int rc, applied = 0;

        if (!pg || !dir) {
                snprintf(errstr, errstr_size, "sl_pg_migrate: invalid arguments");
                return -EINVAL;
        }
        rc = sl_pg_migrations_load(dir, &m, errstr, errstr_size);
        if (rc < 0)
                goto out;
        if (sl_pg_in_tx(pg)) {
                snprintf(errstr, errstr_size, "sl_pg_migrate: called inside a transaction");
                rc = -EINVAL;
                goto out;
        }
        /* 1. Serialise with every other migrator; the lock dies with our session. */
        rc = migrate_lock(pg, errstr, errstr_size);
        if (rc < 0)
                goto out;
        locked = true;
        /* 2. History table, then read it only now: earlier readers may be stale. */
        lock_ms = sl_mono_ms() - t0;
        rc = exec_script(pg, bootstrap_sql, errstr, errstr_size);
        if (rc == 0)
                rc = load_applied(pg, &ap, &nap, errstr, errstr_size);
        /* 3. Refuse before changing anything if history and files disagree. */
        if (rc == 0)
                rc = check_history(&m, ap, nap, dir, errstr, errstr_size);
        /* 4. Apply what is newer than the history, each in its own transaction. */
        for (size_t i = 0; i < m.count && rc == 0; i++) {
                int max_applied = nap ? ap[nap - 1].version : 0;
                if (m.items[i].version <= max_applied)
                        continue; /* applied: check_history vouched for it */
                rc = apply_one(pg, &m.items[i], errstr, errstr_size);
                if (rc == 0)
                        applied++;
        }
        if (rc < 0)
                goto out;
        sl_log_info("pg.migrate.done",
                    "dir=%s files=%zu applied=%d lock_wait_ms=%" PRId64 " duration_ms=%" PRId64,
                    dir, m.count, applied, lock_ms, sl_mono_ms() - t0);
        rc = applied;
out:
        if (locked)
                migrate_unlock(pg);
        applied_free(ap, nap);
        sl_pg_migrations_fini(&m);
        return rc;
}
