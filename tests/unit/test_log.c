#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sl/envelope.h>
#include <sl/log.h>

#include "sl_test.h"

#define THREADS          4
#define LINES_PER_THREAD 500

static FILE *capture;

/* Sends log lines to a fresh temporary file. */
static void capture_start(void)
{
        capture = tmpfile();
        sl_log_set_fd(fileno(capture));
}

/* Reads back what was logged: returns a heap copy of the file. */
static char *capture_read(void)
{
        long n;
        char *s;

        fflush(capture);
        n = ftell(capture);
        s = malloc((size_t)n + 1);
        rewind(capture);
        n = (long)fread(s, 1, (size_t)n, capture);
        s[n] = '\0';
        fclose(capture);
        sl_log_set_fd(2);
        return s;
}

static void *log_thread(void *arg)
{
        for (int i = 0; i < LINES_PER_THREAD; i++)
                sl_log_info("test.thread", "thread=%ld line=%d %s", (long)(intptr_t)arg, i,
                            "padding padding padding padding padding padding padding padding");
        return NULL;
}

static void test_fields(void)
{
        char *out, *nl;
        cJSON *j;

        capture_start();
        sl_log_init("raw", SL_LOG_INFO);
        sl_log_debug("test.hidden", "not shown");
        sl_log_warn("test.shown", "quote \" backslash \\ newline \n tab \t ctl \x01 done");
        out = capture_read();
        nl = strchr(out, '\n');
        SL_CHECK(nl && nl[1] == '\0'); /* exactly one line: debug was filtered */
        j = cJSON_Parse(out);
        SL_CHECK(j != NULL);
        SL_CHECK(strcmp(cJSON_GetObjectItem(j, "level")->valuestring, "warn") == 0);
        SL_CHECK(strcmp(cJSON_GetObjectItem(j, "svc")->valuestring, "raw") == 0);
        SL_CHECK(strcmp(cJSON_GetObjectItem(j, "event")->valuestring, "test.shown") == 0);
        SL_CHECK(strstr(cJSON_GetObjectItem(j, "src")->valuestring, "test_log.c:") != NULL);
        /* relative to the source root, whatever directory the build runs in */
        SL_CHECK(
            strncmp(cJSON_GetObjectItem(j, "src")->valuestring, "tests/unit/test_log.c:", 22) == 0);
        SL_CHECK(strcmp(cJSON_GetObjectItem(j, "msg")->valuestring,
                        "quote \" backslash \\ newline \n tab \t ctl \x01 done") == 0);
        SL_CHECK(strlen(cJSON_GetObjectItem(j, "ts")->valuestring) == 24);
        SL_CHECK(cJSON_GetObjectItem(j, "correlation_id") == NULL);
        cJSON_Delete(j);
        free(out);
}

static void test_secrets(void)
{
        char *out;

        capture_start();
        sl_log_add_secret("hunter2hunter2");
        sl_log_add_secret("abc"); /* too short: ignored */
        sl_log_info("test.secret", "dsn=postgres://u:hunter2hunter2@h/db again=hunter2hunter2 abc");
        out = capture_read();
        SL_CHECK(strstr(out, "hunter2") == NULL);
        SL_CHECK(strstr(out, "u:***@h/db again=*** abc") != NULL);
        free(out);
        sl_log_clear_secrets();
}

static void test_event_context(void)
{
        struct sl_envelope *env =
            sl_envelope_new("raw.completed", "raw", "nba", "2025-11-05", NULL);
        char *out;
        cJSON *j;

        capture_start();
        sl_log_set_event(env);
        sl_log_info("test.ctx", "with ids");
        sl_log_set_event(NULL);
        sl_log_info("test.ctx", "without ids");
        out = capture_read();
        j = cJSON_Parse(out);
        SL_CHECK(j && strcmp(cJSON_GetObjectItem(j, "correlation_id")->valuestring,
                             env->correlation_id) == 0);
        SL_CHECK(j && strcmp(cJSON_GetObjectItem(j, "event_id")->valuestring, env->event_id) == 0);
        SL_CHECK(j && strlen(cJSON_GetObjectItem(j, "trace_id")->valuestring) == 32);
        SL_CHECK(strstr(strchr(out, '\n') + 1, "correlation_id") == NULL);
        cJSON_Delete(j);
        free(out);
        sl_envelope_free(env);
}

static void test_threads(void)
{
        pthread_t t[THREADS];
        char *out, *line, *save = NULL;
        int lines = 0, bad = 0;

        capture_start();
        for (long i = 0; i < THREADS; i++)
                pthread_create(&t[i], NULL, log_thread, (void *)(intptr_t)i);
        for (int i = 0; i < THREADS; i++)
                pthread_join(t[i], NULL);
        out = capture_read();
        for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                cJSON *j = cJSON_Parse(line);
                bad += j == NULL;
                cJSON_Delete(j);
                lines++;
        }
        SL_CHECKF(lines == THREADS * LINES_PER_THREAD, "lines=%d", lines);
        SL_CHECKF(bad == 0, "unparseable lines=%d", bad);
        free(out);
}

static void test_long_and_levels(void)
{
        char big[10000];
        enum sl_log_level lvl;
        char *out;
        cJSON *j;

        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        capture_start();
        sl_log_error("test.long", "%s", big);
        sl_log_from_handler("svc.signal", "second signal");
        out = capture_read();
        j = cJSON_Parse(out);
        SL_CHECK(j != NULL); /* truncated, still one valid JSON line */
        cJSON_Delete(j);
        j = cJSON_Parse(strchr(out, '\n') + 1);
        SL_CHECK(j && strcmp(cJSON_GetObjectItem(j, "event")->valuestring, "svc.signal") == 0);
        cJSON_Delete(j);
        free(out);
        SL_CHECK(sl_log_level_parse("warn", &lvl) == 0 && lvl == SL_LOG_WARN);
        SL_CHECK(sl_log_level_parse("verbose", &lvl) < 0);
}

int main(void)
{
        test_fields();
        test_secrets();
        test_event_context();
        test_threads();
        test_long_and_levels();
        return SL_DONE();
}
