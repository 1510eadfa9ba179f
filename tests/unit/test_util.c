#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sl/util.h>

#include "sl_test.h"

static void test_buf(void)
{
        struct sl_buf b;

        sl_buf_init(&b, 8);
        SL_CHECK(sl_buf_puts(&b, "abcd") == 0);
        SL_CHECK(sl_buf_printf(&b, "%d", 123) == 0);
        SL_CHECK(b.len == 7 && strcmp(b.data, "abcd123") == 0);
        SL_CHECK(sl_buf_puts(&b, "xy") == -E2BIG); /* cap is 8 */
        SL_CHECK(b.len == 7);                      /* nothing appended on failure */
        SL_CHECK(sl_buf_append(&b, "z", 1) == 0 && b.len == 8);
        sl_buf_reset(&b);
        SL_CHECK(b.len == 0 && b.data[0] == '\0');
        SL_CHECK(sl_buf_json_str(&b, "a\"\n") == 0 && strcmp(b.data, "\"a\\\"\\n\"") == 0);
        sl_buf_fini(&b);

        sl_buf_init(&b, 0);
        SL_CHECK(sl_buf_json_str(&b, "\x01\\\t") == 0);
        SL_CHECK(strcmp(b.data, "\"\\u0001\\\\\\t\"") == 0);
        char *s = sl_buf_steal(&b);
        SL_CHECK(b.data == NULL && s[0] == '"');
        free(s);
        sl_buf_fini(&b);
        sl_buf_fini(NULL);
}

static void test_parse_i64(void)
{
        int64_t v = 0;

        SL_CHECK(sl_parse_i64("42", 0, 100, &v) == 0 && v == 42);
        SL_CHECK(sl_parse_i64("-5", -10, 10, &v) == 0 && v == -5);
        SL_CHECK(sl_parse_i64("101", 0, 100, &v) == -ERANGE);
        SL_CHECK(sl_parse_i64("99999999999999999999", 0, INT64_MAX, &v) == -ERANGE);
        SL_CHECK(sl_parse_i64("", 0, 100, &v) == -EINVAL);
        SL_CHECK(sl_parse_i64("12x", 0, 100, &v) == -EINVAL);
        SL_CHECK(sl_parse_i64(" 12", 0, 100, &v) == -EINVAL);
        SL_CHECK(sl_parse_i64(NULL, 0, 100, &v) == -EINVAL);
}

static void test_time(void)
{
        char ts[25];
        int64_t ms = 0;

        sl_time_rfc3339(0, ts);
        SL_CHECK(strcmp(ts, "1970-01-01T00:00:00.000Z") == 0);
        sl_time_rfc3339(1763918904123LL, ts);
        SL_CHECK(strcmp(ts, "2025-11-23T17:28:24.123Z") == 0);
        SL_CHECK(sl_time_parse_rfc3339(ts, &ms) == 0 && ms == 1763918904123LL);
        SL_CHECK(sl_time_parse_rfc3339("2025-11-23T18:28:24.123+01:00", &ms) == 0 &&
                 ms == 1763918904123LL);
        SL_CHECK(sl_time_parse_rfc3339("2025-11-23T17:28:24Z", &ms) == 0 && ms == 1763918904000LL);
        SL_CHECK(sl_time_parse_rfc3339("2024-02-29T00:00:00Z", &ms) == 0);
        SL_CHECK(sl_time_parse_rfc3339("2025-02-29T00:00:00Z", &ms) == -EINVAL);
        SL_CHECK(sl_time_parse_rfc3339("2025-11-23T25:00:00Z", &ms) == -EINVAL);
        SL_CHECK(sl_time_parse_rfc3339("2025-11-23T17:28:24", &ms) == -EINVAL);
        SL_CHECK(sl_time_parse_rfc3339("2025-11-23T17:28:24.Z", &ms) == -EINVAL);
        SL_CHECK(sl_time_parse_rfc3339("2025-11-23T17:28:24Zjunk", &ms) == -EINVAL);
        SL_CHECK(sl_time_parse_rfc3339(NULL, &ms) == -EINVAL);
        SL_CHECK(sl_date_valid("2016-02-29"));
        SL_CHECK(!sl_date_valid("2017-02-29"));
        SL_CHECK(!sl_date_valid("2017-13-01"));
        SL_CHECK(!sl_date_valid("2017-1-01"));
        SL_CHECK(!sl_date_valid(NULL));
        int64_t a = sl_mono_ms();
        SL_CHECK(sl_sleep_ms(5, NULL) == 0 && sl_mono_ms() - a >= 5);
        int stop = 1;
        SL_CHECK(sl_sleep_ms(60000, &stop) == -EINTR);
}

static void test_uuid(void)
{
        char a[37], b[37];

        sl_uuid7(a);
        sl_uuid7(b);
        SL_CHECK(sl_uuid_valid(a) && sl_uuid_version(a) == 7);
        SL_CHECK(strcmp(a, b) != 0);
        SL_CHECK(strncmp(a, b, 8) <= 0); /* time-ordered prefix */
        SL_CHECK(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b'); /* variant */
        SL_CHECK(!sl_uuid_valid("not-a-uuid"));
        SL_CHECK(!sl_uuid_valid("0190c6a0-7e9b-7c3e-8b1a-5f7e1c2d3e4")); /* short */
        SL_CHECK(sl_uuid_version("550e8400-e29b-41d4-a716-446655440000") == 4);
        SL_CHECK(sl_uuid_version("zzz") == -1);
        int out_of_range = 0;
        for (int i = 0; i < 1000; i++)
                out_of_range += sl_random_below(7) >= 7;
        SL_CHECK(out_of_range == 0);
}

/* A forked child must not hand out the same random bytes as its parent. */
static void test_random_fork(void)
{
        unsigned char mine[16], theirs[16] = {0};
        int fds[2];
        pid_t pid;

        sl_random_bytes(mine, 1); /* fill the pool before forking */
        SL_CHECK(pipe(fds) == 0);
        pid = fork();
        if (pid == 0) {
                sl_random_bytes(theirs, sizeof(theirs));
                _exit(write(fds[1], theirs, sizeof(theirs)) == sizeof(theirs) ? 0 : 1);
        }
        sl_random_bytes(mine, sizeof(mine));
        SL_CHECK(read(fds[0], theirs, sizeof(theirs)) == sizeof(theirs));
        waitpid(pid, NULL, 0);
        SL_CHECK(memcmp(mine, theirs, sizeof(mine)) != 0);
        close(fds[0]);
        close(fds[1]);
}

int main(void)
{
        test_random_fork();
        test_buf();
        test_parse_i64();
        test_time();
        test_uuid();
        char *s = sl_xasprintf("%s-%d", "x", 5);
        SL_CHECK(strcmp(s, "x-5") == 0);
        free(s);
        return SL_DONE();
}
