/*
 * sl/pg.h without a server: SQLSTATE mapping, COPY text escaping, migration
 * file names, discovery, ordering and checksums, DSN handling. The parts that
 * need PostgreSQL are in tests/integration/pg_migrate.sh.
 */
#include <sl/pg.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sl/err.h>
#include <sl/log.h>
#include <sl/sha256.h>
#include <sl/util.h>

#include "sl_test.h"

static void test_sqlstate(void)
{
        static const struct {
                const char *state;
                int rc;
        } cases[] = {
            {"23505", -EEXIST},
            {"40001", -EAGAIN},
            {"40P01", -EAGAIN},
            {"55P03", -EAGAIN},
            {"53300", -EAGAIN},
            {"57014", -ETIMEDOUT},
            {"08006", -ECONNRESET},
            {"08001", -ECONNRESET},
            {"57P01", -ECONNRESET},
            {"57P02", -ECONNRESET},
            {"57P03", -ECONNRESET},
            {"57P04", -EIO},
            {"22P02", -EBADMSG},
            {"22001", -EBADMSG},
            {"23502", -EBADMSG},
            {"23503", -EBADMSG},
            {"23514", -EBADMSG},
            {"42601", -EINVAL},
            {"42P01", -EINVAL},
            {"28P01", -EACCES},
            {"XX000", -EIO},
            {"25P02", -EIO},
            {"", -EIO},
            {"2350", -EIO},
            {"235050", -EIO},
        };
        bool all = true;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int rc = sl_pg_sqlstate_errno(cases[i].state);
                if (rc != cases[i].rc) {
                        printf("# %s -> %d, want %d\n", cases[i].state, rc, cases[i].rc);
                        all = false;
                }
        }
        SL_CHECK(all);
        SL_CHECK(sl_pg_sqlstate_errno(NULL) == -EIO);
        /* The retry decisions the services rely on. */
        SL_CHECK(sl_err_retriable(sl_pg_sqlstate_errno("08006")));
        SL_CHECK(sl_err_retriable(sl_pg_sqlstate_errno("40001")));
        SL_CHECK(sl_err_retriable(sl_pg_sqlstate_errno("57014")));
        SL_CHECK(!sl_err_retriable(sl_pg_sqlstate_errno("23505")));
        SL_CHECK(!sl_err_retriable(sl_pg_sqlstate_errno("22P02")));
        SL_CHECK(!sl_err_retriable(sl_pg_sqlstate_errno("42601")));
}

/* Escapes one value and compares with want. */
static bool esc_is(const char *value, const char *want)
{
        struct sl_buf b;
        bool ok;

        sl_buf_init(&b, 0);
        ok = sl_pg_copy_escape(&b, value) == 0 && b.len == strlen(want) &&
             memcmp(b.data, want, b.len) == 0;
        if (!ok)
                printf("# escape(%s) = '%s', want '%s'\n", value ? value : "NULL",
                       b.data ? b.data : "", want);
        sl_buf_fini(&b);
        return ok;
}

/* Reverses the COPY text escaping (the server's side), to prove round trips. */
static char *unescape(const char *s, size_t len, bool *is_null)
{
        char *out = sl_xmalloc(len + 1);
        size_t o = 0;

        *is_null = len == 2 && s[0] == '\\' && s[1] == 'N';
        for (size_t i = 0; i < len; i++) {
                if (s[i] != '\\' || i + 1 == len) {
                        out[o++] = s[i];
                        continue;
                }
                i++;
                out[o++] = s[i] == 't' ? '\t' : s[i] == 'n' ? '\n' : s[i] == 'r' ? '\r' : s[i];
        }
        out[o] = '\0';
        return out;
}

static void test_copy_escape(void)
{
        SL_CHECK(esc_is(NULL, "\\N"));
        SL_CHECK(esc_is("", ""));
        SL_CHECK(esc_is("plain text", "plain text"));
        SL_CHECK(esc_is("a\tb", "a\\tb"));
        SL_CHECK(esc_is("a\nb", "a\\nb"));
        SL_CHECK(esc_is("a\rb", "a\\rb"));
        SL_CHECK(esc_is("a\\b", "a\\\\b"));
        SL_CHECK(esc_is("\\N", "\\\\N")); /* a literal backslash-N is not NULL */
        SL_CHECK(esc_is("\\.", "\\\\.")); /* nor the end-of-data marker */
        SL_CHECK(esc_is("\t\n\r\\", "\\t\\n\\r\\\\"));
        SL_CHECK(esc_is("Don\xc4\x8d\x69\xc4\x87 \xe2\x80\x94 ok",
                        "Don\xc4\x8d\x69\xc4\x87 \xe2\x80\x94 ok"));
        SL_CHECK(esc_is("trailing\\", "trailing\\\\"));

        /* The cap is honoured. */
        struct sl_buf small;
        sl_buf_init(&small, 4);
        SL_CHECK(sl_pg_copy_escape(&small, "a\\b\\c") == -E2BIG);
        sl_buf_fini(&small);
}

static void test_copy_row(void)
{
        const char *row[] = {"1", NULL, "", "x\ty", "line1\nline2\r\n", "back\\slash"};
        const size_t ncols = sizeof(row) / sizeof(row[0]);
        struct sl_buf b;
        bool all = true;
        size_t start = 0, col = 0;

        sl_buf_init(&b, 0);
        SL_CHECK(sl_pg_copy_encode_row(&b, row, ncols) == 0);
        SL_CHECK(strcmp(b.data, "1\t\\N\t\tx\\ty\tline1\\nline2\\r\\n\tback\\\\slash\n") == 0);
        /* Exactly one raw newline (the row end) and ncols-1 raw tabs. */
        size_t tabs = 0, nls = 0;
        for (size_t i = 0; i < b.len; i++) {
                tabs += b.data[i] == '\t';
                nls += b.data[i] == '\n';
        }
        SL_CHECK(tabs == ncols - 1 && nls == 1);
        /* Split on raw tabs and unescape: every value comes back exactly. */
        for (size_t i = 0; i <= b.len - 1; i++) {
                if (b.data[i] != '\t' && b.data[i] != '\n')
                        continue;
                bool is_null;
                char *v = unescape(b.data + start, i - start, &is_null);
                if (row[col] ? is_null || strcmp(v, row[col]) != 0 : !is_null) {
                        printf("# column %zu did not round-trip\n", col);
                        all = false;
                }
                free(v);
                col++;
                start = i + 1;
        }
        SL_CHECK(all && col == ncols);
        sl_buf_fini(&b);
}

/* ---- migration files ----------------------------------------------------- */

static void test_parse_name(void)
{
        char name[64];
        int v = -1;

        SL_CHECK(sl_pg_migration_parse_name("0001_schemas.sql", &v, name, sizeof(name)) == 0);
        SL_CHECK(v == 1 && strcmp(name, "schemas") == 0);
        SL_CHECK(sl_pg_migration_parse_name("0042_add-index_2.sql", &v, name, sizeof(name)) == 0);
        SL_CHECK(v == 42 && strcmp(name, "add-index_2") == 0);
        SL_CHECK(sl_pg_migration_parse_name("9999_Last.sql", &v, NULL, 0) == 0 && v == 9999);
        SL_CHECK(sl_pg_migration_parse_name("0001_schemas.sql", &v, name, 4) == -ERANGE);

        static const char *const bad[] = {
            "0000_zero.sql",
            "001_short.sql",
            "00001_long.sql",
            "0001-dash.sql",
            "0001_.sql",
            "0001_a.SQL",
            "0001_a.sql.bak",
            "abcd_x.sql",
            "0001_a b.sql",
            "0001_a.b.sql",
            "0001_a/b.sql",
            ".sql",
            "",
            "0001_ä.sql",
        };
        bool all = true;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                if (sl_pg_migration_parse_name(bad[i], &v, name, sizeof(name)) != -EINVAL) {
                        printf("# accepted bad name '%s'\n", bad[i]);
                        all = false;
                }
        }
        SL_CHECK(all);
        SL_CHECK(sl_pg_migration_parse_name(NULL, &v, NULL, 0) == -EINVAL);
}

static char tmpdir[64];

static void put_file(const char *name, const void *data, size_t len)
{
        char path[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        f = fopen(path, "wb");
        if (!f)
                abort();
        fwrite(data, 1, len, f);
        fclose(f);
}

static void rm_file(const char *name)
{
        char path[256];

        snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        unlink(path);
}

static void test_load(void)
{
        struct sl_pg_migrations m = {0};
        char err[512], want[SL_SHA256_HEX_LEN + 1];
        const char *s3 = "CREATE TABLE c (x int);\n";

        snprintf(tmpdir, sizeof(tmpdir), "/tmp/sl-test-pg.XXXXXX");
        SL_CHECK(mkdtemp(tmpdir) != NULL);

        /* An empty directory is fine: nothing to apply. */
        SL_CHECK(sl_pg_migrations_load(tmpdir, &m, err, sizeof(err)) == 0 && m.count == 0);
        sl_pg_migrations_fini(&m);

        /* Written out of order, with files that are not migrations. */
        put_file("0003_c.sql", s3, strlen(s3));
        put_file("0001_a.sql", "CREATE SCHEMA a;\n", 17);
        put_file("0010_j.sql", "SELECT 1;\n", 10);
        put_file("README.md", "not sql", 7);
        put_file(".0002_hidden.sql", "junk", 4);
        put_file("0002_b.sql~", "backup", 6);
        SL_CHECKF(sl_pg_migrations_load(tmpdir, &m, err, sizeof(err)) == 0, "%s", err);
        SL_CHECK(m.count == 3);
        if (m.count == 3) {
                SL_CHECK(m.items[0].version == 1 && m.items[1].version == 3 &&
                         m.items[2].version == 10);
                SL_CHECK(strcmp(m.items[1].name, "c") == 0 &&
                         strcmp(m.items[1].file, "0003_c.sql") == 0);
                SL_CHECK(m.items[1].sql_len == strlen(s3) && strcmp(m.items[1].sql, s3) == 0);
                sl_sha256_hex(s3, strlen(s3), want);
                SL_CHECK(strcmp(m.items[1].sha256, want) == 0);
                /* sha256 of "SELECT 1;\n", as sha256sum prints it */
                SL_CHECK(strcmp(m.items[2].sha256, "b4e0497804e46e0a0b0b8c31975b062152d551ba"
                                                   "c49c3c2e80932567b4085dcd") == 0);
        }
        sl_pg_migrations_fini(&m);
        SL_CHECK(m.items == NULL && m.count == 0);

        /* A one-byte change changes the checksum. */
        char before[SL_SHA256_HEX_LEN + 1];
        SL_CHECK(sl_pg_migrations_load(tmpdir, &m, err, sizeof(err)) == 0);
        snprintf(before, sizeof(before), "%s", m.count ? m.items[0].sha256 : "");
        sl_pg_migrations_fini(&m);
        put_file("0001_a.sql", "CREATE SCHEMA b;\n", 17);
        SL_CHECK(sl_pg_migrations_load(tmpdir, &m, err, sizeof(err)) == 0);
        SL_CHECK(m.count > 0 && strcmp(before, m.items[0].sha256) != 0);
        sl_pg_migrations_fini(&m);

        /* Two files with one version. */
        put_file("0003_other.sql", "SELECT 3;\n", 10);
        SL_CHECK(sl_pg_migrations_load(tmpdir, &m, err, sizeof(err)) == -EINVAL);
        SL_CHECKF(strstr(err, "0003_c.sql") && strstr(err, "0003_other.sql"), "%s", err);
        sl_pg_migrations_fini(&m);
        rm_file("0003_other.sql");

        /* A badly named .sql file is an error, not silently skipped. */
        put_file("4_forgot_padding.sql", "SELECT 4;\n", 10);
        SL_CHECK(sl_pg_migrations_load(tmpdir, &m, err, sizeof(err)) == -EINVAL);
        SL_CHECKF(strstr(err, "4_forgot_padding.sql") != NULL, "%s", err);
        sl_pg_migrations_fini(&m);
        rm_file("4_forgot_padding.sql");

        /* Empty file, NUL byte. */
        put_file("0004_empty.sql", "", 0);
        SL_CHECK(sl_pg_migrations_load(tmpdir, &m, err, sizeof(err)) == -EINVAL);
        SL_CHECKF(strstr(err, "empty") != NULL, "%s", err);
        sl_pg_migrations_fini(&m);
        put_file("0004_empty.sql", "SELECT\0 1;", 10);
        SL_CHECK(sl_pg_migrations_load(tmpdir, &m, err, sizeof(err)) == -EINVAL);
        SL_CHECKF(strstr(err, "NUL") != NULL, "%s", err);
        sl_pg_migrations_fini(&m);
        rm_file("0004_empty.sql");

        /* Missing directory. */
        SL_CHECK(sl_pg_migrations_load("/nonexistent/statline", &m, err, sizeof(err)) == -ENOENT);
        sl_pg_migrations_fini(&m);

        rm_file("0001_a.sql");
        rm_file("0003_c.sql");
        rm_file("0010_j.sql");
        rm_file("README.md");
        rm_file(".0002_hidden.sql");
        rm_file("0002_b.sql~");
        SL_CHECK(rmdir(tmpdir) == 0);
}

/* The repository's own migrations: well-formed, numbered 1..N without gaps. */
static void test_repo_migrations(void)
{
        struct sl_pg_migrations m = {0};
        const char *src = getenv("STATLINE_SRC");
        char dir[512], err[512];
        bool contiguous = true;

        snprintf(dir, sizeof(dir), "%s/db/migrations", src ? src : ".");
        SL_CHECKF(sl_pg_migrations_load(dir, &m, err, sizeof(err)) == 0, "%s", err);
        SL_CHECK(m.count >= 7);
        for (size_t i = 0; i < m.count; i++)
                contiguous = contiguous && m.items[i].version == (int)i + 1;
        SL_CHECK(contiguous);
        SL_CHECK(m.count > 0 && strcmp(m.items[0].file, "0001_schemas.sql") == 0);
        sl_pg_migrations_fini(&m);
}

/* ---- connections without a server ----------------------------------------- */

static void test_open_errors(void)
{
        char err[512], logbuf[2048];
        struct sl_pg *pg;
        char path[] = "/tmp/sl-test-pg-log.XXXXXX";
        int fd = mkstemp(path), old;
        ssize_t n;

        sl_pg_close(NULL); /* no-op */
        SL_CHECK(sl_pg_open(NULL, 100, err, sizeof(err)) == NULL);
        SL_CHECK(sl_pg_open("", 100, err, sizeof(err)) == NULL);
        SL_CHECK(sl_pg_open("host=127.0.0.1 port='unterminated", 100, err, sizeof(err)) == NULL);
        SL_CHECKF(strstr(err, "invalid connection string") != NULL, "%s", err);
        SL_CHECK(sl_pg_exec(NULL, "SELECT 1", 0, NULL, NULL, err, sizeof(err)) == -EINVAL);
        SL_CHECK(!sl_pg_in_tx(NULL));
        SL_CHECK(sl_pg_rollback(NULL, err, sizeof(err)) == 0);

        /*
         * Port 1 on loopback refuses at once. The password in the DSN must be
         * registered as a log secret even though the connection fails.
         */
        sl_log_clear_secrets();
        pg = sl_pg_open("postgresql://u:s3cr3t-pw@127.0.0.1:1/db", 2000, err, sizeof(err));
        SL_CHECK(pg == NULL);
        SL_CHECKF(err[0] != '\0' && strstr(err, "s3cr3t-pw") == NULL, "%s", err);
        SL_CHECK(fd >= 0);
        old = sl_log_set_fd(fd);
        sl_log_error("test.secret", "dsn password is s3cr3t-pw");
        sl_log_set_fd(old);
        n = pread(fd, logbuf, sizeof(logbuf) - 1, 0);
        logbuf[n > 0 ? n : 0] = '\0';
        SL_CHECKF(strstr(logbuf, "s3cr3t-pw") == NULL && strstr(logbuf, "***") != NULL, "%s",
                  logbuf);
        close(fd);
        unlink(path);
        sl_log_clear_secrets();
}

int main(void)
{
        sl_log_init("test_pg", SL_LOG_ERROR);
        test_sqlstate();
        test_copy_escape();
        test_copy_row();
        test_parse_name();
        test_load();
        test_repo_migrations();
        test_open_errors();
        return SL_DONE();
}
