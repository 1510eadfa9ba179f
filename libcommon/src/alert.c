#include <sl/alert.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include <sl/err.h>
#include <sl/log.h>
#include <sl/util.h>

#define ALERT_KEYS      64   /* keys remembered for deduplication (oldest evicted) */
#define ALERT_KEY_MAX   128  /* bytes of a key, NUL included (longer keys are cut) */
#define ALERT_MAX_RATE  1000 /* largest max_per_minute */
#define ALERT_TEXT_MAX  1024 /* bytes of title + details in "text" */
#define ALERT_MINUTE_MS 60000

struct seen {
        char key[ALERT_KEY_MAX];
        int64_t sent_ms;     /* clock of the last alert sent for key */
        uint64_t suppressed; /* dropped since then */
        bool used;
};

struct sl_alert {
        char *url; /* NULL: disabled */
        char *service;
        char *instance;
        struct sl_alert_opts opts; /* defaults applied; strings point at the copies */
        struct seen seen[ALERT_KEYS];
        int64_t *sends; /* ring of the clock of the last max_per_minute sends */
        int sends_head, sends_n;
        int64_t limit_logged_ms; /* last "rate limited" log line */
        bool limit_logged;
        struct sl_alert_stats stats;
};

const char *sl_alert_severity_name(enum sl_alert_severity severity)
{
        switch (severity) {
        case SL_ALERT_CRITICAL:
                return "critical";
        case SL_ALERT_WARNING:
                return "warning";
        case SL_ALERT_INFO:
        default:
                return "info";
        }
}

static int64_t default_now(void *opaque)
{
        (void)opaque;
        return sl_mono_ms();
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *opaque)
{
        (void)ptr;
        (void)opaque;
        return size * nmemb;
}

/* The libcurl transport: one short-lived handle per alert (alerts are rare). */
static int curl_post(void *opaque, const char *url, const char *body, size_t len,
                     int64_t timeout_ms)
{
        struct curl_slist *hdrs = NULL;
        char cerr[CURL_ERROR_SIZE] = "";
        long status = 0;
        CURLcode cc;
        CURL *curl;
        int rc = 0;

        (void)opaque;
        curl = curl_easy_init();
        if (!curl)
                return -ENOMEM;
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "statline-alert/1");
        cc = curl_easy_perform(curl);
        if (cc != CURLE_OK) {
                sl_log_warn("alert.post.error", "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
                rc = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
        } else {
                curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
                if (status < 200 || status > 299) {
                        sl_log_warn("alert.post.error", "webhook answered HTTP %ld", status);
                        rc = -EIO;
                }
        }
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(curl);
        return rc;
}

struct sl_alert *sl_alert_new(const struct sl_alert_opts *opts, char *errstr, size_t errstr_size)
{
        struct sl_alert_opts o = *opts;
        struct sl_alert *alert;
        char host[128] = "host";

        o.dedup_window_ms = o.dedup_window_ms ? o.dedup_window_ms : 300000;
        o.max_per_minute = o.max_per_minute ? o.max_per_minute : 10;
        o.timeout_ms = o.timeout_ms ? o.timeout_ms : 2000;
        if (o.dedup_window_ms < 0 || o.max_per_minute < 1 || o.max_per_minute > ALERT_MAX_RATE ||
            o.timeout_ms < 1) {
                sl_errf(errstr, errstr_size, -EINVAL,
                        "alert: dedup window >= 0, 1..%d alerts a minute, timeout >= 1 ms",
                        ALERT_MAX_RATE);
                return NULL;
        }
        if (o.webhook_url && o.webhook_url[0] && strncmp(o.webhook_url, "http://", 7) != 0 &&
            strncmp(o.webhook_url, "https://", 8) != 0) {
                sl_errf(errstr, errstr_size, -EINVAL,
                        "alert.webhook_url: '%s' is not an http:// or https:// URL", o.webhook_url);
                return NULL;
        }
        alert = sl_xcalloc(1, sizeof(*alert));
        alert->url = o.webhook_url && o.webhook_url[0] ? sl_xstrdup(o.webhook_url) : NULL;
        alert->service = sl_xstrdup(o.service && o.service[0] ? o.service : "statline");
        if (o.instance && o.instance[0]) {
                alert->instance = sl_xstrdup(o.instance);
        } else {
                if (gethostname(host, sizeof(host)) < 0)
                        snprintf(host, sizeof(host), "host");
                host[sizeof(host) - 1] = '\0';
                alert->instance = sl_xasprintf("%s-%ld", host, (long)getpid());
        }
        o.webhook_url = alert->url;
        o.service = alert->service;
        o.instance = alert->instance;
        o.post = o.post ? o.post : curl_post;
        o.now_ms = o.now_ms ? o.now_ms : default_now;
        alert->opts = o;
        alert->sends = sl_xcalloc((size_t)o.max_per_minute, sizeof(*alert->sends));
        return alert;
}

void sl_alert_free(struct sl_alert *alert)
{
        if (!alert)
                return;
        free(alert->url);
        free(alert->service);
        free(alert->instance);
        free(alert->sends);
        free(alert);
}

/* The body of sl_alert_format(); status is "firing" or "resolved" (text says RESOLVED). */
static char *format_body(const char *service, const char *instance, const char *key,
                         enum sl_alert_severity severity, const char *title, const char *details,
                         int64_t ts_wall_ms, uint64_t suppressed, const char *status)
{
        const char *sev = sl_alert_severity_name(severity);
        bool resolved = strcmp(status, "resolved") == 0;
        char text[ALERT_TEXT_MAX + 64], ts[25];
        cJSON *root = cJSON_CreateObject();
        char *out;
        int n;

        n = snprintf(text, sizeof(text), "[statline %s] %s %s%s%s", service,
                     resolved                        ? "RESOLVED"
                     : severity == SL_ALERT_CRITICAL ? "CRITICAL"
                     : severity == SL_ALERT_WARNING  ? "WARNING"
                                                     : "INFO",
                     title, details && details[0] ? ": " : "", details ? details : "");
        if (n < 0 || (size_t)n >= sizeof(text))
                memcpy(text + sizeof(text) - 4, "...", 4); /* cut: still one line of text */
        if (suppressed > 0) {
                size_t len = strlen(text);
                snprintf(text + len, sizeof(text) - len, " (+%llu suppressed)",
                         (unsigned long long)suppressed);
        }
        sl_time_rfc3339(ts_wall_ms, ts);
        if (!root)
                abort();
        cJSON_AddStringToObject(root, "text", text);
        cJSON_AddStringToObject(root, "service", service);
        cJSON_AddStringToObject(root, "instance", instance);
        cJSON_AddStringToObject(root, "key", key);
        cJSON_AddStringToObject(root, "severity", sev);
        cJSON_AddStringToObject(root, "status", status);
        cJSON_AddStringToObject(root, "title", title);
        cJSON_AddStringToObject(root, "details", details ? details : "");
        cJSON_AddStringToObject(root, "ts", ts);
        cJSON_AddNumberToObject(root, "suppressed", (double)suppressed);
        out = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        if (!out)
                abort(); /* out of memory (STYLE B6) */
        return out;
}

char *sl_alert_format(const char *service, const char *instance, const char *key,
                      enum sl_alert_severity severity, const char *title, const char *details,
                      int64_t ts_wall_ms, uint64_t suppressed)
{
        return format_body(service, instance, key, severity, title, details, ts_wall_ms, suppressed,
                           "firing");
}

/*
 * The dedup slot of key: its own, else a free one, else the least recently
 * sent. Slots freed by sl_alert_resolve() leave holes, so the whole table is
 * searched for key before a free slot is taken.
 */
static struct seen *seen_slot(struct sl_alert *alert, const char *key, bool *found)
{
        struct seen *oldest = &alert->seen[0], *free_slot = NULL;

        *found = false;
        for (int i = 0; i < ALERT_KEYS; i++) {
                struct seen *s = &alert->seen[i];
                if (s->used && strncmp(s->key, key, sizeof(s->key) - 1) == 0) {
                        *found = true;
                        return s;
                }
                if (!s->used && !free_slot)
                        free_slot = s;
                if (s->used && s->sent_ms < oldest->sent_ms)
                        oldest = s;
        }
        return free_slot ? free_slot : oldest;
}

/* True when another send now would exceed max_per_minute. */
static bool rate_limited(struct sl_alert *alert, int64_t now)
{
        int max = alert->opts.max_per_minute;

        if (alert->sends_n < max)
                return false;
        /* the oldest of the last max sends: at sends_head (the ring is full) */
        return now - alert->sends[alert->sends_head] < ALERT_MINUTE_MS;
}

static void note_send(struct sl_alert *alert, int64_t now)
{
        int max = alert->opts.max_per_minute;

        alert->sends[alert->sends_head] = now;
        alert->sends_head = (alert->sends_head + 1) % max;
        if (alert->sends_n < max)
                alert->sends_n++;
}

int sl_alert_raise(struct sl_alert *alert, const char *key, enum sl_alert_severity severity,
                   const char *title, const char *details_fmt, ...)
{
        char details[ALERT_TEXT_MAX];
        struct seen *s;
        bool found;
        va_list ap;
        char *body;
        int64_t now;
        int rc;

        if (!alert)
                return -ENOTCONN;
        va_start(ap, details_fmt);
        vsnprintf(details, sizeof(details), details_fmt, ap);
        va_end(ap);
        now = alert->opts.now_ms(alert->opts.clock_opaque);
        s = seen_slot(alert, key, &found);
        if (found && now - s->sent_ms < alert->opts.dedup_window_ms) {
                s->suppressed++;
                alert->stats.deduplicated++;
                return -EALREADY;
        }
        if (rate_limited(alert, now)) {
                alert->stats.rate_limited++;
                if (!alert->limit_logged || now - alert->limit_logged_ms >= ALERT_MINUTE_MS) {
                        sl_log_warn("alert.rate_limited", "key=%s: more than %d alerts a minute",
                                    key, alert->opts.max_per_minute);
                        alert->limit_logged = true;
                        alert->limit_logged_ms = now;
                }
                return -EDQUOT;
        }
        uint64_t suppressed = found ? s->suppressed : 0;
        if (!found) {
                memset(s, 0, sizeof(*s));
                snprintf(s->key, sizeof(s->key), "%s", key);
                s->used = true;
        }
        s->sent_ms = now;
        s->suppressed = 0;
        note_send(alert, now);
        sl_log_warn("alert.raise", "key=%s severity=%s title=%s details=%s", key,
                    sl_alert_severity_name(severity), title, details);
        if (!alert->url) {
                alert->stats.disabled++;
                return -ENOTCONN;
        }
        body = sl_alert_format(alert->service, alert->instance, key, severity, title, details,
                               sl_wall_ms(), suppressed);
        rc = alert->opts.post(alert->opts.post_opaque, alert->url, body, strlen(body),
                              alert->opts.timeout_ms);
        free(body);
        if (rc < 0) {
                alert->stats.failed++;
                sl_log_warn("alert.post.error", "key=%s: %s", key, sl_strerror(rc));
                return rc;
        }
        alert->stats.sent++;
        return 0;
}

void sl_alert_get_stats(const struct sl_alert *alert, struct sl_alert_stats *out)
{
        *out = alert->stats;
}

int sl_alert_resolve(struct sl_alert *alert, const char *key, const char *title,
                     const char *details_fmt, ...)
{
        char details[ALERT_TEXT_MAX];
        struct seen *s;
        bool found;
        va_list ap;
        char *body;
        int64_t now;
        int rc;

        if (!alert)
                return -ENOTCONN;
        s = seen_slot(alert, key, &found);
        if (!found)
                return -ENOENT;
        now = alert->opts.now_ms(alert->opts.clock_opaque);
        if (rate_limited(alert, now)) {
                alert->stats.rate_limited++;
                return -EDQUOT;
        }
        va_start(ap, details_fmt);
        vsnprintf(details, sizeof(details), details_fmt, ap);
        va_end(ap);
        memset(s, 0, sizeof(*s)); /* forgotten: the next raise of key is sent at once */
        note_send(alert, now);
        sl_log_info("alert.resolve", "key=%s title=%s details=%s", key, title, details);
        if (!alert->url) {
                alert->stats.disabled++;
                return -ENOTCONN;
        }
        body = format_body(alert->service, alert->instance, key, SL_ALERT_INFO, title, details,
                           sl_wall_ms(), 0, "resolved");
        rc = alert->opts.post(alert->opts.post_opaque, alert->url, body, strlen(body),
                              alert->opts.timeout_ms);
        free(body);
        if (rc < 0) {
                alert->stats.failed++;
                sl_log_warn("alert.post.error", "key=%s (resolve): %s", key, sl_strerror(rc));
                return rc;
        }
        alert->stats.resolved++;
        return 0;
}
