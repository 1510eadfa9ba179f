#ifndef SCRAPER_FETCH_H
#define SCRAPER_FETCH_H

/*
 * HTTP fetching for the scraper (libcurl): timeouts, a capped body, gzip, a
 * per-host rate limit, and retries with backoff on timeouts, connection
 * errors, 5xx, 429 (honouring Retry-After, capped) and truncated bodies
 * (a Content-Length mismatch, or a body that is not one complete JSON
 * document). The rate limiter and the Retry-After parser are pure and take
 * the time as an argument, so tests never sleep.
 *
 * Threads: a fetcher is used by one thread at a time.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sl/retry.h>
#include <sl/util.h>

struct cJSON;

/* ---- per-host rate limit ---------------------------------------------------- */

#define SCRAPER_RATE_MAX_HOSTS 32
#define SCRAPER_RATE_HOST_MAX  128 /* bytes of a host name, NUL included */

/*
 * Spacing of requests to one host: after a request to a host ends, the next
 * one may start interval_ms + a random jitter in [0, jitter_ms] later. A
 * Retry-After may push that further (scraper_rate_defer). Caller-owned;
 * all-zero is "no limit".
 */
struct scraper_rate {
        int64_t interval_ms;                  /* base gap between requests to one host */
        int64_t jitter_ms;                    /* random extra gap, uniform in [0, jitter_ms] */
        uint64_t (*random_below)(uint64_t n); /* NULL = sl_random_below (tests inject) */
        struct {
                char host[SCRAPER_RATE_HOST_MAX];
                int64_t next_ms; /* monotonic ms before which no request may start */
        } hosts[SCRAPER_RATE_MAX_HOSTS];
        int n_hosts;
};

/* Sets up r with the given spacing (0, 0 = no limit). */
void scraper_rate_init(struct scraper_rate *r, int64_t interval_ms, int64_t jitter_ms);

/* Milliseconds to wait before a request to host may start at now_ms (0 = go). */
int64_t scraper_rate_wait_ms(const struct scraper_rate *r, const char *host, int64_t now_ms);

/*
 * Records that a request to host ended at now_ms: the next one may start at
 * now_ms + interval + jitter at the earliest (never earlier than a deferral
 * already recorded). When the table is full the entry of the host whose
 * limit expired first is reused.
 */
void scraper_rate_done(struct scraper_rate *r, const char *host, int64_t now_ms);

/* No request to host before until_ms (Retry-After, or a retry backoff). */
void scraper_rate_defer(struct scraper_rate *r, const char *host, int64_t until_ms);

/* ---- classification --------------------------------------------------------- */

/*
 * Parses a Retry-After header value: delta-seconds ("120") or an HTTP-date
 * ("Wed, 21 Oct 2015 07:28:00 GMT", IMF-fixdate), relative to now_wall_ms.
 * A date in the past gives 0. Returns 0 with *delay_ms set, or -EINVAL.
 */
int scraper_retry_after_parse(const char *value, int64_t now_wall_ms, int64_t *delay_ms);

/*
 * The result of one attempt as an errno: 0 for a 2xx with a complete JSON
 * body; -EAGAIN for 429, 5xx and a 2xx whose body is not one complete JSON
 * document (truncated); -ENOENT for 404 and 410; -EPROTO for other statuses.
 * Transport errors are mapped before (see scraper_fetch()).
 */
int scraper_status_rc(long http_status, bool json_ok);

/*
 * True if an attempt that ended with rc should be retried: -EAGAIN,
 * -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET, -EPIPE (truncated transfer),
 * -EHOSTUNREACH, -EIO. Too large (-E2BIG), not found and other client
 * errors are final.
 */
bool scraper_fetch_retriable(int rc);

/*
 * True if len bytes at buf are exactly one JSON document (whitespace around
 * it allowed). When root is not NULL the parsed document is returned there
 * (cJSON_Delete() it); on false *root is NULL.
 */
bool scraper_json_complete(const char *buf, size_t len, struct cJSON **root);

/* ---- the fetcher ------------------------------------------------------------- */

/* Options for scraper_fetcher_new(). All-zero means defaults. */
struct scraper_fetch_opts {
        int64_t connect_timeout_ms; /* 0 = 5000 */
        int64_t timeout_ms;         /* whole transfer; 0 = 30000 */
        size_t max_bytes;           /* decoded body cap; 0 = 16 MiB */
        const char *user_agent;     /* NULL = "statline-scraper/<version>"; copied */
        const char *username;       /* HTTP basic auth, NULL/"" = none; copied */
        const char *password;       /* copied; never logged */
        struct sl_retry_opts retry; /* attempts and backoff (sl/retry.h defaults) */
        int64_t retry_after_max_ms; /* cap on an honoured Retry-After; 0 = 60000 */
        int64_t rate_interval_ms;   /* per-host gap, see struct scraper_rate */
        int64_t rate_jitter_ms;
        /*
         * Polled at least every 50 ms during waits and about once a second or
         * more during transfers (the service also reports liveness from it);
         * true aborts the fetch (-ECANCELED). May be NULL.
         */
        bool (*stopping)(void *opaque);
        void *stop_opaque;
};

/* What one scraper_fetch() got. Caller-owned: scraper_response_init/fini. */
struct scraper_response {
        long http_status;       /* of the last attempt; 0 if no response */
        struct sl_buf body;     /* the body of the last attempt (decoded) */
        struct cJSON *json;     /* the parsed body when the fetch succeeded, else NULL */
        char content_type[128]; /* "" if none */
        int attempts;           /* requests made, >= 1 unless cancelled before the first */
        int64_t duration_ms;    /* the whole fetch, waits included */
        int64_t waited_ms;      /* of which rate-limit and backoff waits */
        char error[256];        /* the last attempt's failure, "" on success */
};

void scraper_response_init(struct scraper_response *resp);
void scraper_response_fini(struct scraper_response *resp);

struct scraper_fetcher;

/*
 * Creates a fetcher (one reused curl handle, so connections are kept alive,
 * and the rate limiter). opts is copied. Returns NULL with a reason in
 * errstr. Free with scraper_fetcher_free() (NULL is a no-op).
 */
struct scraper_fetcher *scraper_fetcher_new(const struct scraper_fetch_opts *opts, char *errstr,
                                            size_t errstr_size);
void scraper_fetcher_free(struct scraper_fetcher *f);

/*
 * GETs url with the rate limit, retries and checks described above; resp is
 * reset first. Returns 0 (resp->json holds the document), -ECANCELED (stop
 * requested), or the errno of the last attempt once it is final or the
 * attempts are used up (resp->error says what happened). url may hold
 * credentials: they are never logged.
 */
int scraper_fetch(struct scraper_fetcher *f, const char *url, struct scraper_response *resp);

#endif
