#ifndef SL_PG_H
#define SL_PG_H

/*
 * PostgreSQL access for the services (libpq): one connection per service
 * loop, parameterised statements only, COPY for bulk loads, transactions,
 * reconnection, and versioned schema migrations.
 *
 *   struct sl_pg *pg = sl_pg_open(dsn, 5000, errstr, sizeof(errstr));
 *   rc = sl_pg_migrate(pg, "db/migrations", errstr, sizeof(errstr));
 *   const char *params[] = {game_id, "2544"};
 *   rc = sl_pg_exec(pg, "DELETE FROM raw.player_boxscores WHERE game_id = $1 "
 *                   "AND player_id = $2::bigint", 2, params, NULL, errstr, sizeof(errstr));
 *
 * Errors (STYLE B5): every call returns 0 or a negative errno chosen from
 * the server's SQLSTATE (see sl_pg_sqlstate_errno()):
 *   -ECONNRESET  the connection is broken (class 08, server shutdown 57P01-03,
 *                or no answer). Retriable: the next call reconnects.
 *   -EAGAIN      serialization failure 40001, deadlock 40P01, lock timeout
 *                55P03, insufficient resources (class 53). Retriable: run the
 *                whole transaction again.
 *   -ETIMEDOUT   statement timeout / cancel (57014). Retriable.
 *   -EEXIST      unique violation 23505: the row (idempotency key) exists.
 *   -EBADMSG     other data errors (classes 22 and 23): the input is poison.
 *   -EINVAL      syntax or access-rule error (class 42): a bug, never retried.
 *   -EACCES      authorization (class 28).
 *   -EIO         anything else (sl_err_retriable() says yes: it may be transient).
 * sl_err_retriable() (sl/err.h) gives the retry decision for all of them.
 *
 * Reconnection: when a call finds the connection broken it is re-established
 * (PQreset) before the statement is sent; reset attempts are spaced by an
 * exponential backoff (100 ms doubling to 5 s, with jitter), and a call made
 * while the backoff runs fails at once with -ECONNRESET. A call whose own
 * statement hits the broken connection fails with -ECONNRESET; it is never
 * re-sent behind the caller's back (it might have been executed). A new
 * session starts without the old one's SET parameters: put session settings
 * in the DSN ("options=-cstatement_timeout=5000") so they survive.
 *
 * Transactions and reconnection: if the connection breaks inside a
 * transaction, the transaction is gone. Every later call then fails with
 * -ECONNRESET ("transaction lost") until the caller calls sl_pg_rollback(),
 * so a COMMIT can never report success for work that was lost. The caller
 * retries the whole unit of work from sl_pg_begin().
 *
 * Threads: a struct sl_pg is used by one thread at a time.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include <sl/sha256.h>

struct sl_buf;
struct sl_pg;

/*
 * Key of the session advisory lock held while migrating: the ASCII bytes of
 * "statline" read as a big-endian int64. Every statline migrator uses it, so
 * migrations are applied by one process at a time.
 */
#define SL_PG_MIGRATE_LOCK_KEY INT64_C(8319395793566789221)
/* Longest wait for that lock before sl_pg_migrate() gives up with -EAGAIN. */
#define SL_PG_MIGRATE_LOCK_WAIT_S 300

/*
 * Maps a five-character SQLSTATE to the negative errno described above.
 * NULL or "" (a client-side failure) gives -EIO. Pure function.
 */
int sl_pg_sqlstate_errno(const char *sqlstate);

/*
 * Connects to dsn (a libpq URI or key=value string) within
 * connect_timeout_ms (<= 0 means 10 s). The password in dsn (if any) is
 * registered with sl_log_add_secret() so it never appears in a log line.
 * Defaults that dsn may override: application_name=statline,
 * client_encoding=UTF8, TCP keepalives (idle 10 s, interval 3 s, count 3,
 * so a vanished host is noticed within about 20 s). A server that hangs
 * while its host stays up is not detected: bound statements with
 * "options=-cstatement_timeout=..." in dsn where that matters.
 * connect_timeout_ms governs connects and reconnects (libpq's own
 * connect_timeout is ignored: it only applies to blocking connects).
 * Returns a connection to be closed with sl_pg_close(), or NULL with the
 * reason (libpq's message) in errstr.
 */
struct sl_pg *sl_pg_open(const char *dsn, int connect_timeout_ms, char *errstr, size_t errstr_size);

/* Closes the connection (an open transaction is rolled back by the server). NULL is a no-op. */
void sl_pg_close(struct sl_pg *pg);

/*
 * Runs ONE statement with PQexecParams: sql uses $1..$n placeholders, and
 * params[i] is the text form of parameter i+1 (NULL means SQL NULL; cast in
 * the SQL when the type matters: "$1::bigint"). Never build SQL from values.
 * params may be NULL when nparams is 0.
 *
 * On success returns 0 and, when res_out is not NULL, stores the result
 * there: the caller owns it and must PQclear() it. On failure returns a
 * negative errno (see the top of this file), sets *res_out to NULL, and
 * writes "message [SQLSTATE xxxxx]" (plus the server's detail) into errstr.
 * A statement that starts COPY is refused (-EINVAL): use sl_pg_copy().
 */
int sl_pg_exec(struct sl_pg *pg, const char *sql, int nparams, const char *const *params,
               PGresult **res_out, char *errstr, size_t errstr_size);

/*
 * BEGIN / COMMIT / ROLLBACK.
 * sl_pg_begin() fails with -EINVAL inside a transaction.
 * sl_pg_commit() returns 0 only if the transaction committed. If a statement
 * of the transaction failed, COMMIT would silently roll back: instead the
 * transaction is rolled back and the errno of the first failed statement is
 * returned (-EEXIST after a duplicate key), with "transaction not committed"
 * in errstr. -EINVAL outside a transaction. A -ECONNRESET from COMMIT itself
 * means the outcome is unknown (the server may have committed before the
 * connection broke): with natural keys and the replay guard (docs/schema.md),
 * running the unit of work again is harmless.
 * sl_pg_rollback() always ends the transaction state: it returns 0 also when
 * the connection is broken (the server discards the transaction) and clears
 * the "transaction lost" condition. Outside a transaction it is a no-op.
 */
int sl_pg_begin(struct sl_pg *pg, char *errstr, size_t errstr_size);
int sl_pg_commit(struct sl_pg *pg, char *errstr, size_t errstr_size);
int sl_pg_rollback(struct sl_pg *pg, char *errstr, size_t errstr_size);

/* True between sl_pg_begin() and the matching commit or rollback. */
bool sl_pg_in_tx(const struct sl_pg *pg);

/* SQLSTATE of the last failed call ("23505"), or "" after a success. Owned by pg. */
const char *sl_pg_sqlstate(const struct sl_pg *pg);

/*
 * LISTEN on channel (an identifier, quoted here) for this connection's life,
 * reconnects included: the LISTEN is issued again after each reconnect. At
 * most SL_PG_MAX_LISTEN channels. 0, or -errno with errstr set (the LISTEN
 * failed, or -ENOSPC: too many channels). Not inside a transaction
 * (-EINVAL): a rolled-back transaction would undo the LISTEN.
 */
#define SL_PG_MAX_LISTEN 4
int sl_pg_listen(struct sl_pg *pg, const char *channel, char *errstr, size_t errstr_size);

/*
 * Reads what the server sent since the last call without blocking and
 * returns how many notifications arrived for the channels of
 * sl_pg_listen() (statements run in between collect them too), plus one
 * when the connection was re-established since the last call (a
 * notification may have been missed while it was down: look again). 0
 * when nothing arrived; -ECONNRESET when the connection is down (the next
 * statement reconnects). Never call it while a statement is running.
 */
int sl_pg_notifications(struct sl_pg *pg);

/*
 * The underlying libpq connection, for what this module does not wrap
 * (server version, PQescapeIdentifier). Owned by pg, valid until
 * sl_pg_close(); the pointer stays the same across reconnects. Do not run
 * statements on it directly, or the transaction bookkeeping goes wrong.
 */
PGconn *sl_pg_conn(struct sl_pg *pg);

/* ---- COPY ----------------------------------------------------------------- */

/*
 * Row source for sl_pg_copy(). Fills values[0..ncols-1] with the text form of
 * the next row's columns (NULL = SQL NULL) and returns 1; returns 0 when there
 * are no more rows, or a negative errno to abort the COPY (sl_pg_copy() then
 * returns that errno and nothing is loaded). The strings only need to live
 * until the next call: they are encoded at once.
 */
typedef int sl_pg_copy_row_fn(void *opaque, const char **values, size_t ncols);

/*
 * Loads rows with COPY table (cols...) FROM STDIN in text format, escaping
 * backslash, tab, newline and carriage return and sending NULL as \N, so
 * any value round-trips exactly. table is "table" or "schema.table"; table
 * and column names are quoted as identifiers (exact case, no injection).
 * Values must be valid UTF-8 (else -EBADMSG from the server).
 *
 * COPY is all-or-nothing: on any error no row is loaded. Inside a
 * transaction the rows become visible at commit, and a failed COPY aborts
 * the transaction (roll it back). A duplicate key gives -EEXIST.
 * Returns 0 or a negative errno with the reason in errstr.
 */
int sl_pg_copy(struct sl_pg *pg, const char *table, const char *const *cols, size_t ncols,
               sl_pg_copy_row_fn *next_row, void *opaque, char *errstr, size_t errstr_size);

/*
 * sl_pg_copy() for rows already in memory: values holds nrows * ncols
 * strings, row-major (row r, column c is values[r * ncols + c]).
 */
int sl_pg_copy_rows(struct sl_pg *pg, const char *table, const char *const *cols, size_t ncols,
                    const char *const *values, size_t nrows, char *errstr, size_t errstr_size);

/*
 * Appends one value in COPY text format to out: \N for NULL, otherwise the
 * value with \\ \t \n \r escaped. Returns 0 or -E2BIG (out's cap). Pure.
 */
int sl_pg_copy_escape(struct sl_buf *out, const char *value);

/*
 * Appends one row in COPY text format to out: the escaped values joined by
 * tabs, ending in a newline. On -E2BIG out may hold part of the row.
 */
int sl_pg_copy_encode_row(struct sl_buf *out, const char *const *values, size_t ncols);

/* ---- migrations ------------------------------------------------------------ */

/* One migration file, NNNN_name.sql. */
struct sl_pg_migration {
        int version;                        /* NNNN, 1..9999 */
        char *name;                         /* "schemas" for 0001_schemas.sql; owned */
        char *file;                         /* "0001_schemas.sql" (no directory); owned */
        char *sql;                          /* file contents, NUL-terminated; owned */
        size_t sql_len;                     /* bytes in sql */
        char sha256[SL_SHA256_HEX_LEN + 1]; /* lower-case hex digest of the file bytes */
};

/* The migrations of a directory, sorted by version. Caller-owned struct. */
struct sl_pg_migrations {
        struct sl_pg_migration *items; /* owned array */
        size_t count;
};

/* Largest migration file accepted, in bytes. */
#define SL_PG_MIGRATION_MAX_BYTES (16u * 1024 * 1024)

/*
 * Parses a migration file name: "NNNN_name.sql" with four digits (0001..9999)
 * and a name of [A-Za-z0-9_-]+. On success returns 0 and sets *version and
 * (when name is not NULL) copies the name part into name[name_size].
 * Returns -EINVAL for anything else, -ERANGE if name_size is too small. Pure.
 */
int sl_pg_migration_parse_name(const char *file, int *version, char *name, size_t name_size);

/*
 * Reads every migration in dir into out (sorted by version, checksums
 * computed). Files ending in ".sql" must be well-named; other files (README,
 * editor backups) and hidden files are ignored. Fails with -EINVAL (reason in
 * errstr) on a badly named .sql file, two files with one version, an empty or
 * oversized file, or a file containing a NUL byte; -ENOENT if dir is missing.
 * Free the result with sl_pg_migrations_fini() (also after a failure).
 */
int sl_pg_migrations_load(const char *dir, struct sl_pg_migrations *out, char *errstr,
                          size_t errstr_size);
/* Frees what sl_pg_migrations_load() filled in and empties m. NULL is a no-op. */
void sl_pg_migrations_fini(struct sl_pg_migrations *m);

/*
 * Brings the database schema up to date with the migrations in dir. Safe
 * when several processes start at once: everything runs under the session
 * advisory lock SL_PG_MIGRATE_LOCK_KEY (waiting at most
 * SL_PG_MIGRATE_LOCK_WAIT_S, then -EAGAIN), so each migration is applied
 * exactly once.
 *
 * Creates ops.schema_migrations(version, name, checksum, applied_at,
 * duration_ms) if needed, then checks the applied migrations against the
 * files and refuses (-EINVAL, nothing applied) when an applied migration's
 * file changed (checksum), was renamed or deleted, or when a new file sorts
 * before an already applied version. Applied versions newer than every file
 * (an older binary after a newer one migrated) are accepted with a warning.
 * Each pending migration then runs in its own transaction together with its
 * schema_migrations row, so it is applied completely or not at all. A file
 * must not contain BEGIN/COMMIT or statements that cannot run in a
 * transaction (CREATE INDEX CONCURRENTLY).
 *
 * Must not be called inside a transaction. Returns the number of migrations
 * applied (0 when up to date) or a negative errno with the reason in errstr
 * ("0002_raw.sql line 14: syntax error at or near ...").
 */
int sl_pg_migrate(struct sl_pg *pg, const char *dir, char *errstr, size_t errstr_size);

#endif
