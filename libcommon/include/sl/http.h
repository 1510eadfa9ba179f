#ifndef SL_HTTP_H
#define SL_HTTP_H

/*
 * The per-service operations endpoint (libmicrohttpd):
 *
 *   GET /healthz  200 {"status":"ok",...} if the service loop called
 *                 sl_http_tick() within the stale threshold (default 5 s),
 *                 else 503 {"status":"stale",...}. The start counts as a
 *                 tick, so a starting service is healthy for one threshold.
 *   GET /readyz   200 {"status":"ready"} when set ready and not draining,
 *                 else 503 {"status":"not_ready","reason":"..."}.
 *   GET /metrics  the sl/metrics.h registry, text/plain; version=0.0.4.
 *   GET <path>    handlers added with sl_http_handle() (JSON read APIs).
 *
 * Other methods get 405 (Allow: GET, HEAD), unknown paths 404. Requests are
 * capped: headers and URL must fit SL_HTTP_REQUEST_MAX_BYTES, request bodies
 * are never read, responses are capped at SL_HTTP_RESPONSE_MAX_BYTES.
 *
 * Threads: requests are served by ONE internal libmicrohttpd thread
 * (MHD_USE_INTERNAL_POLLING_THREAD), so the service loop stays
 * single-threaded and never has to call into the server; it only calls
 * sl_http_tick() once per iteration. Every sl_http_* function below is
 * thread-safe; handler callbacks run on the HTTP thread (see sl_http_handle).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_buf;
struct sl_http;

#define SL_HTTP_REQUEST_MAX_BYTES  16384     /* per-connection memory: request line + headers */
#define SL_HTTP_RESPONSE_MAX_BYTES (8 << 20) /* body built by a handler or /metrics */
#define SL_HTTP_MAX_HANDLERS       16        /* extra paths per server */
#define SL_HTTP_REASON_MAX         128       /* bytes of a not-ready reason, NUL included */

/* Options for sl_http_start_opts(). All-zero means defaults. */
struct sl_http_opts {
        const char *addr; /* "host:port", "[v6]:port" or ":port" (127.0.0.1);
                             NULL = "127.0.0.1:0". Port 0 picks a free port. */
        int64_t stale_ms; /* /healthz fails after this long without a tick; 0 = 5000 */
        int64_t (*now_ms)(void *opaque); /* monotonic clock in ms for the stale check;
                                            NULL = sl_mono_ms (tests inject a fake one) */
        void *clock_opaque;              /* passed to now_ms */
        unsigned max_connections;        /* concurrent connections; 0 = 64 */
        unsigned timeout_s;              /* idle connection timeout; 0 = 10 */
};

/*
 * Starts the server on opts->addr in its own thread. The address is
 * resolved numerically or through getaddrinfo ("localhost"); bind to
 * "0.0.0.0:PORT" only when another host (Prometheus) must reach it.
 * Returns a server to stop with sl_http_stop(), or NULL with a reason in
 * errstr (bad address, port in use, ...). opts is copied; NULL = defaults.
 */
struct sl_http *sl_http_start_opts(const struct sl_http_opts *opts, char *errstr,
                                   size_t errstr_size);

/* sl_http_start_opts() with only the address set (NULL = "127.0.0.1:0"). */
struct sl_http *sl_http_start(const char *addr, char *errstr, size_t errstr_size);

/* The bound TCP port (useful after asking for port 0). */
int sl_http_port(const struct sl_http *http);

/*
 * Records that the service loop is alive; call once per loop iteration.
 * Cheap (one clock read and an atomic store). NULL is a no-op.
 */
void sl_http_tick(struct sl_http *http);

/* Marks the service ready (true) or not ready with reason "not ready" (false). NULL: no-op. */
void sl_http_set_ready(struct sl_http *http, bool ready);

/*
 * Marks the service not ready with a reason shown by /readyz, e.g.
 * "circuit open: redis" (copied, truncated to SL_HTTP_REASON_MAX - 1).
 * sl_http_set_ready(http, true) clears it. NULL http is a no-op.
 */
void sl_http_set_unready(struct sl_http *http, const char *reason);

/*
 * Marks the service as draining: /readyz answers 503 "draining" from now on,
 * whatever sl_http_set_ready() says. Call first when a stop signal arrives.
 */
void sl_http_set_draining(struct sl_http *http);

/* A GET request as seen by a handler. Borrowed for the call. */
struct sl_http_req {
        const char *path;   /* URL path without the query, e.g. "/v1/games/42" */
        const char *method; /* "GET" or "HEAD" */
        void *conn_;        /* private */
        void *headers_;     /* private: response headers set by the handler */
};

#define SL_HTTP_MAX_RESP_HEADERS 4   /* headers one handler may add to its response */
#define SL_HTTP_HEADER_MAX       256 /* bytes of one added header's name or value, NUL included */

/*
 * Returns the value of request header name (case-insensitive, e.g.
 * "If-None-Match"), or NULL. Owned by the server, valid during the call.
 */
const char *sl_http_header(const struct sl_http_req *req, const char *name);

/*
 * Adds header name: value to the handler's response (e.g. "ETag"), whatever
 * status the handler returns (a 304 keeps it too; an error reply drops it).
 * name and value are copied; they must be printable ASCII without CR/LF.
 * Returns 0, -EINVAL (bad characters, empty name), -ENAMETOOLONG (longer
 * than SL_HTTP_HEADER_MAX - 1) or -ENOSPC (more than SL_HTTP_MAX_RESP_HEADERS).
 */
int sl_http_set_header(const struct sl_http_req *req, const char *name, const char *value);

/*
 * Returns the value of query parameter name (URL-decoded), or NULL. Owned
 * by the server, valid during the handler call.
 */
const char *sl_http_query(const struct sl_http_req *req, const char *name);

/*
 * Handler for an extra GET path: appends the response body to out (capped
 * at SL_HTTP_RESPONSE_MAX_BYTES) and returns an HTTP status (200..599), or
 * a negative errno for a 500. Runs on the HTTP thread, concurrently with the
 * service loop: it must only touch data that is safe to share (its own
 * database connection, atomics, data under a lock). req is borrowed.
 */
typedef int sl_http_handler_fn(const struct sl_http_req *req, struct sl_buf *out, void *opaque);

/*
 * Serves GET path with fn. A path ending in '/' matches every path below it
 * ("/v1/players/" serves "/v1/players/42"); otherwise the match is exact.
 * The built-in paths cannot be replaced. content_type NULL means
 * "application/json". path and content_type are copied; opaque is borrowed
 * until sl_http_stop(). Returns 0, -EEXIST (path taken), -ENOSPC (more
 * than SL_HTTP_MAX_HANDLERS) or -EINVAL (path not starting with '/').
 */
int sl_http_handle(struct sl_http *http, const char *path, const char *content_type,
                   sl_http_handler_fn *fn, void *opaque);

/*
 * Stops the server: waits for the HTTP thread to finish the requests in
 * progress, closes the socket and frees http. NULL is a no-op.
 */
void sl_http_stop(struct sl_http *http);

#endif
