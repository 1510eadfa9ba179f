#include <sl/log.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sl/envelope.h>
#include <sl/util.h>

#define LOG_LINE_MAX    4096 /* one write(2); longer messages are truncated with "…" */
#define LOG_SECRETS_MAX 32

static char log_service[32] = "statline";
static enum sl_log_level log_min = SL_LOG_INFO;
static int log_fd = 2;

/* Secrets to redact. Guarded by a mutex: librdkafka threads log too. */
static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[LOG_SECRETS_MAX];
static int n_secrets;

/* Per-thread event context: only the consuming thread has one. */
static _Thread_local char ctx_correlation[37];
static _Thread_local char ctx_event[37];
static _Thread_local char ctx_trace[33];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void sl_log_init(const char *service, enum sl_log_level min_level)
{
        snprintf(log_service, sizeof(log_service), "%s", service ? service : "statline");
        log_min = min_level;
}

int sl_log_set_fd(int fd)
{
        int old = log_fd;
        log_fd = fd;
        return old;
}

enum sl_log_level sl_log_get_level(void)
{
        return log_min;
}

int sl_log_level_parse(const char *s, enum sl_log_level *out)
{
        for (int i = 0; i < 4; i++) {
                if (s && strcmp(s, level_names[i]) == 0) {
                        *out = (enum sl_log_level)i;
                        return 0;
                }
        }
        return -EINVAL;
}

void sl_log_add_secret(const char *secret)
{
        if (!secret || strlen(secret) < 4)
                return;
        pthread_mutex_lock(&secrets_lock);
        for (int i = 0; i < n_secrets; i++) {
                if (strcmp(secrets[i], secret) == 0)
                        goto out;
        }
        if (n_secrets < LOG_SECRETS_MAX)
                secrets[n_secrets++] = sl_xstrdup(secret);
out:
        pthread_mutex_unlock(&secrets_lock);
}

void sl_log_clear_secrets(void)
{
        pthread_mutex_lock(&secrets_lock);
        for (int i = 0; i < n_secrets; i++)
                free(secrets[i]);
        n_secrets = 0;
        pthread_mutex_unlock(&secrets_lock);
}

void sl_log_redact(char *msg)
{
        pthread_mutex_lock(&secrets_lock);
        for (int i = 0; i < n_secrets; i++) {
                size_t slen = strlen(secrets[i]);
                char *hit;
                while ((hit = strstr(msg, secrets[i])) != NULL) {
                        memcpy(hit, "***", 3);
                        memmove(hit + 3, hit + slen, strlen(hit + slen) + 1);
                }
        }
        pthread_mutex_unlock(&secrets_lock);
}

/*
 * JSON-escapes src into dst (capacity cap, always NUL-terminated). Returns
 * bytes written. Stops early rather than split an escape sequence.
 */
static size_t json_escape(char *dst, size_t cap, const char *src)
{
        static const char hex[] = "0123456789abcdef";
        size_t n = 0;

        for (const unsigned char *p = (const unsigned char *)src; *p && n + 7 < cap; p++) {
                unsigned char c = *p;
                if (c == '"' || c == '\\') {
                        dst[n++] = '\\';
                        dst[n++] = (char)c;
                } else if (c == '\n') {
                        dst[n++] = '\\';
                        dst[n++] = 'n';
                } else if (c < 0x20) {
                        memcpy(dst + n, "\\u00", 4);
                        dst[n + 4] = hex[c >> 4];
                        dst[n + 5] = hex[c & 15];
                        n += 6;
                } else {
                        dst[n++] = (char)c;
                }
        }
        dst[n] = '\0';
        return n;
}

/* Appends a "key":"escaped value" pair to line at *pos. */
static void put_field(char *line, size_t *pos, const char *key, const char *value)
{
        int n;

        if (*pos + 8 >= LOG_LINE_MAX)
                return;
        n = snprintf(line + *pos, LOG_LINE_MAX - *pos, ",\"%s\":\"", key);
        if (n < 0 || (size_t)n >= LOG_LINE_MAX - *pos)
                return;
        *pos += (size_t)n;
        *pos += json_escape(line + *pos, LOG_LINE_MAX - *pos - 3, value);
        line[(*pos)++] = '"';
        line[*pos] = '\0';
}

void sl_log_vemit(enum sl_log_level lvl, const char *file, int line_no, const char *event,
                  const char *fmt, va_list ap)
{
        char line[LOG_LINE_MAX + 2], msg[LOG_LINE_MAX], src[128], ts[25];
        size_t pos;
        int n;

        if (lvl < log_min)
                return;
        n = vsnprintf(msg, sizeof(msg), fmt, ap);
        if (n >= (int)sizeof(msg))
                memcpy(msg + sizeof(msg) - 4, "...", 4);
        sl_log_redact(msg);
        sl_time_rfc3339(sl_wall_ms(), ts);
        snprintf(src, sizeof(src), "%s:%d", file ? file : "?", line_no);
        pos = (size_t)snprintf(line, LOG_LINE_MAX, "{\"ts\":\"%s\",\"level\":\"%s\"", ts,
                               level_names[lvl]);
        put_field(line, &pos, "svc", log_service);
        put_field(line, &pos, "event", event ? event : "log");
        put_field(line, &pos, "src", src);
        if (ctx_correlation[0])
                put_field(line, &pos, "correlation_id", ctx_correlation);
        if (ctx_event[0])
                put_field(line, &pos, "event_id", ctx_event);
        if (ctx_trace[0])
                put_field(line, &pos, "trace_id", ctx_trace);
        put_field(line, &pos, "msg", msg);
        line[pos++] = '}';
        line[pos++] = '\n';
        (void)!write(log_fd, line, pos); /* one write(2): lines never interleave */
}

void sl_log_emit(enum sl_log_level lvl, const char *file, int line, const char *event,
                 const char *fmt, ...)
{
        va_list ap;

        if (lvl < log_min)
                return;
        va_start(ap, fmt);
        sl_log_vemit(lvl, file, line, event, fmt, ap);
        va_end(ap);
}

void sl_log_set_event(const struct sl_envelope *env)
{
        if (!env) {
                ctx_correlation[0] = ctx_event[0] = ctx_trace[0] = '\0';
                return;
        }
        snprintf(ctx_correlation, sizeof(ctx_correlation), "%s", env->correlation_id);
        snprintf(ctx_event, sizeof(ctx_event), "%s", env->event_id);
        sl_envelope_trace_id(env, ctx_trace);
}

/* Copies src into dst at *pos, bounded; async-signal-safe. */
static void put_raw(char *dst, size_t cap, size_t *pos, const char *src)
{
        while (*src && *pos + 4 < cap)
                dst[(*pos)++] = *src++;
}

void sl_log_from_handler(const char *event, const char *msg)
{
        /* Only memory copies and one write(2): no locks, no stdio, no allocation. */
        char line[512];
        size_t pos = 0;

        put_raw(line, sizeof(line), &pos, "{\"level\":\"info\",\"svc\":\"");
        put_raw(line, sizeof(line), &pos, log_service);
        put_raw(line, sizeof(line), &pos, "\",\"event\":\"");
        put_raw(line, sizeof(line), &pos, event);
        put_raw(line, sizeof(line), &pos, "\",\"msg\":\"");
        put_raw(line, sizeof(line), &pos, msg);
        line[pos++] = '"';
        line[pos++] = '}';
        line[pos++] = '\n';
        (void)!write(log_fd, line, pos);
}
