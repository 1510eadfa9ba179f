#ifndef SL_ALERT_H
#define SL_ALERT_H

/*
 * Operational alerts: a JSON document POSTed to a webhook (Slack incoming
 * webhooks, Mattermost, Alertmanager-style receivers, a chat bridge):
 *
 *   {"text": "[statline raw] CRITICAL circuit open: pg — failure rate ...",
 *    "service": "raw", "instance": "host-123", "key": "cb.open:pg",
 *    "severity": "critical", "title": "circuit open: pg",
 *    "details": "failure rate 60.0% >= 50.0% over 10 calls",
 *    "ts": "2026-11-23T21:00:00.000Z", "suppressed": 0, "status": "firing"}
 *
 * "text" is what Slack shows; the other fields are for machines (Slack
 * ignores them). "status" is "firing" for sl_alert_raise() and "resolved"
 * for sl_alert_resolve() (then severity "info", text "... RESOLVED ...").
 * "suppressed" counts the alerts of the same key dropped by
 * deduplication since the last one sent.
 *
 * Deduplication: an alert whose key was sent less than dedup_window_ms ago
 * is dropped (counted). Rate limit: at most max_per_minute alerts are sent
 * in any 60 s; further ones are dropped (counted, and logged once per
 * minute). Sending is synchronous with a bounded timeout (timeout_ms,
 * default 2 s, connect included), so a dead receiver costs a handler at
 * most that long; a failed POST is logged and not retried (the next alert
 * of that key after the window goes out again).
 *
 * Threads: a struct sl_alert is used by one thread at a time.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_alert;

enum sl_alert_severity {
        SL_ALERT_INFO,
        SL_ALERT_WARNING,
        SL_ALERT_CRITICAL,
};

/*
 * Transport: POSTs body (len bytes, application/json) to url within
 * timeout_ms. Returns 0 on a 2xx answer, else -errno. NULL in the options
 * means libcurl (tests inject a fake).
 */
typedef int sl_alert_post_fn(void *opaque, const char *url, const char *body, size_t len,
                             int64_t timeout_ms);

/* Options for sl_alert_new(). All-zero means the defaults in brackets. */
struct sl_alert_opts {
        const char *webhook_url; /* http(s) URL; NULL or "" = alerts disabled (only logged) */
        const char *service;     /* ["statline"] */
        const char *instance;    /* ["<hostname>-<pid>"] */
        int64_t dedup_window_ms; /* [300000] same key again within this: dropped */
        int max_per_minute;      /* [10] alerts sent in any 60 s */
        int64_t timeout_ms;      /* [2000] whole POST, connect included */
        sl_alert_post_fn *post;  /* [libcurl] */
        void *post_opaque;
        int64_t (*now_ms)(void *opaque); /* [sl_mono_ms] clock for the windows */
        void *clock_opaque;
};

/*
 * Creates an alerter. opts and its strings are copied. Returns NULL with a
 * reason in errstr for a webhook URL that is not http:// or https:// or a
 * value out of range. Free with sl_alert_free().
 */
struct sl_alert *sl_alert_new(const struct sl_alert_opts *opts, char *errstr, size_t errstr_size);

/* Frees the alerter. NULL is a no-op. */
void sl_alert_free(struct sl_alert *alert);

/*
 * Raises an alert: key names what it is about ("cb.open:pg", "dlq.growth");
 * title is one line, details (printf-style, may be "") the specifics.
 * Returns 0 (posted), -EALREADY (deduplicated), -EDQUOT (rate-limited),
 * -ENOTCONN (no webhook configured: only logged), or the transport's -errno
 * (logged as "alert.post.error"). alert NULL is a no-op returning -ENOTCONN.
 */
int sl_alert_raise(struct sl_alert *alert, const char *key, enum sl_alert_severity severity,
                   const char *title, const char *details_fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * Builds the JSON body (see the top of this file) into a heap string the
 * caller frees with free(). ts_wall_ms is the wall-clock time. Pure but for
 * the allocation.
 */
char *sl_alert_format(const char *service, const char *instance, const char *key,
                      enum sl_alert_severity severity, const char *title, const char *details,
                      int64_t ts_wall_ms, uint64_t suppressed);

/*
 * Says the condition behind key is over. When key has an alert remembered
 * (raised, and not resolved since), posts a body like sl_alert_raise()'s
 * with "status": "resolved", severity "info" and text "[statline <service>]
 * RESOLVED <title>: <details>", and forgets key: its next sl_alert_raise()
 * is sent at once, not deduplicated. A resolve counts against
 * max_per_minute. Returns 0 (posted), -ENOENT (no alert of key remembered:
 * nothing sent), -EDQUOT (rate-limited: key kept, call again later),
 * -ENOTCONN (no webhook: only logged; key forgotten) or the transport's
 * -errno (key forgotten). alert NULL is a no-op returning -ENOTCONN.
 */
int sl_alert_resolve(struct sl_alert *alert, const char *key, const char *title,
                     const char *details_fmt, ...) __attribute__((format(printf, 4, 5)));

/* Counters since sl_alert_new(). */
struct sl_alert_stats {
        uint64_t sent;         /* posted with a 2xx answer */
        uint64_t deduplicated; /* dropped by the dedup window */
        uint64_t rate_limited; /* dropped by max_per_minute */
        uint64_t failed;       /* the POST failed */
        uint64_t disabled;     /* no webhook: only logged */
        uint64_t resolved;     /* "resolved" bodies posted with a 2xx answer */
};
void sl_alert_get_stats(const struct sl_alert *alert, struct sl_alert_stats *out);

/* "info", "warning", "critical". */
const char *sl_alert_severity_name(enum sl_alert_severity severity);

#endif
