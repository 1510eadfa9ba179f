#include "fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>
#include <curl/curl.h>

#include <sl/log.h>

#include "sources.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_TIMEOUT_MS         30000
#define DEFAULT_MAX_BYTES          (16u * 1024 * 1024)
#define DEFAULT_RETRY_AFTER_MAX_MS 60000
#define SLEEP_SLICE_MS             50 /* how often a wait looks at the stop flag */

/* ---- rate limit ------------------------------------------------------------- */

void scraper_rate_init(struct scraper_rate *r, int64_t interval_ms, int64_t jitter_ms)
{
        memset(r, 0, sizeof(*r));
        r->interval_ms = interval_ms > 0 ? interval_ms : 0;
        r->jitter_ms = jitter_ms > 0 ? jitter_ms : 0;
}

static int rate_find(const struct scraper_rate *r, const char *host)
{
        for (int i = 0; i < r->n_hosts; i++) {
                if (strcmp(r->hosts[i].host, host) == 0)
                        return i;
        }
        return -1;
}

/* The slot of host, created (or recycled: the earliest expiry) when missing. */
static int rate_slot(struct scraper_rate *r, const char *host)
{
        int i = rate_find(r, host);

        if (i >= 0)
                return i;
        if (r->n_hosts < SCRAPER_RATE_MAX_HOSTS) {
                i = r->n_hosts++;
        } else {
                i = 0;
                for (int j = 1; j < r->n_hosts; j++) {
                        if (r->hosts[j].next_ms < r->hosts[i].next_ms)
                                i = j;
                }
        }
        snprintf(r->hosts[i].host, sizeof(r->hosts[i].host), "%s", host);
        r->hosts[i].next_ms = 0;
        return i;
}

int64_t scraper_rate_wait_ms(const struct scraper_rate *r, const char *host, int64_t now_ms)
{
        int i = rate_find(r, host);

        if (i < 0 || r->hosts[i].next_ms <= now_ms)
                return 0;
        return r->hosts[i].next_ms - now_ms;
}

void scraper_rate_done(struct scraper_rate *r, const char *host, int64_t now_ms)
{
        int i = rate_slot(r, host);
        uint64_t (*rnd)(uint64_t) = r->random_below ? r->random_below : sl_random_below;
        int64_t next = now_ms + r->interval_ms;

        if (r->jitter_ms > 0)
                next += (int64_t)rnd((uint64_t)r->jitter_ms + 1);
        if (next > r->hosts[i].next_ms)
                r->hosts[i].next_ms = next;
}

void scraper_rate_defer(struct scraper_rate *r, const char *host, int64_t until_ms)
{
        int i = rate_slot(r, host);

        if (until_ms > r->hosts[i].next_ms)
                r->hosts[i].next_ms = until_ms;
}

/* ---- classification --------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
        int64_t era, yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = y - era * 400;
        doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

/* Parses n digits at s into *out. */
static bool digits(const char *s, int n, int64_t *out)
{
        *out = 0;
        for (int i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                *out = *out * 10 + (s[i] - '0');
        }
        return true;
}

/* IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" into wall-clock ms. */
static int parse_imf_fixdate(const char *s, int64_t *wall_ms)
{
        static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
        int64_t d, y, hh, mm, ss, mon = -1;

        if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
            s[16] != ' ' || s[19] != ':' || s[22] != ':' || strcmp(s + 25, " GMT") != 0)
                return -EINVAL;
        for (int i = 0; i < 12; i++) {
                if (strncmp(s + 8, months + 3 * i, 3) == 0)
                        mon = i + 1;
        }
        if (mon < 0 || !digits(s + 5, 2, &d) || !digits(s + 12, 4, &y) || !digits(s + 17, 2, &hh) ||
            !digits(s + 20, 2, &mm) || !digits(s + 23, 2, &ss))
                return -EINVAL;
        if (d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60)
                return -EINVAL;
        *wall_ms = ((days_from_civil(y, mon, d) * 24 + hh) * 60 + mm) * 60000 + ss * 1000;
        return 0;
}

int scraper_retry_after_parse(const char *value, int64_t now_wall_ms, int64_t *delay_ms)
{
        int64_t secs, at_ms;
        char buf[64];
        size_t len;

        if (!value)
                return -EINVAL;
        while (*value == ' ' || *value == '\t')
                value++;
        len = strlen(value);
        while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t' ||
                           value[len - 1] == '\r' || value[len - 1] == '\n'))
                len--;
        if (len == 0 || len >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, value, len);
        buf[len] = '\0';
        if (buf[0] >= '0' && buf[0] <= '9') {
                /* delta-seconds; huge values are clamped by the caller's cap */
                if (sl_parse_i64(buf, 0, INT64_MAX / 1000, &secs) < 0)
                        return -EINVAL;
                *delay_ms = secs * 1000;
                return 0;
        }
        if (parse_imf_fixdate(buf, &at_ms) < 0)
                return -EINVAL;
        *delay_ms = at_ms > now_wall_ms ? at_ms - now_wall_ms : 0;
        return 0;
}

int scraper_status_rc(long http_status, bool json_ok)
{
        if (http_status >= 200 && http_status <= 299)
                return json_ok ? 0 : -EAGAIN;
        if (http_status == 429 || (http_status >= 500 && http_status <= 599))
                return -EAGAIN;
        if (http_status == 404 || http_status == 410)
                return -ENOENT;
        return -EPROTO;
}

bool scraper_fetch_retriable(int rc)
{
        switch (-rc) {
        case EAGAIN:
        case ETIMEDOUT:
        case ECONNREFUSED:
        case ECONNRESET:
        case EPIPE:
        case EHOSTUNREACH:
        case EIO:
                return true;
        default:
                return false;
        }
}

bool scraper_json_complete(const char *buf, size_t len, cJSON **root)
{
        const char *end = NULL;
        cJSON *doc;

        if (root)
                *root = NULL;
        if (!buf || len == 0)
                return false;
        doc = cJSON_ParseWithLengthOpts(buf, len, &end, false);
        if (!doc)
                return false;
        while (end && (size_t)(end - buf) < len &&
               (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
                end++;
        if (!end || (size_t)(end - buf) != len) {
                cJSON_Delete(doc); /* trailing bytes: two documents or garbage */
                return false;
        }
        if (root)
                *root = doc;
        else
                cJSON_Delete(doc);
        return true;
}

/* ---- the fetcher ------------------------------------------------------------- */

struct scraper_fetcher {
        CURL *curl;
        struct scraper_fetch_opts opts; /* user_agent points at ua */
        char *ua;                       /* owned */
        char *username, *password;      /* owned, NULL = no basic auth */
        struct scraper_rate rate;
        bool too_big;        /* the current transfer hit max_bytes */
        struct sl_buf *body; /* the current transfer's body */
        char curl_err[CURL_ERROR_SIZE];
};

void scraper_response_init(struct scraper_response *resp)
{
        memset(resp, 0, sizeof(*resp));
        sl_buf_init(&resp->body, 0);
}

void scraper_response_fini(struct scraper_response *resp)
{
        sl_buf_fini(&resp->body);
        cJSON_Delete(resp->json);
        resp->json = NULL;
}

struct scraper_fetcher *scraper_fetcher_new(const struct scraper_fetch_opts *opts, char *errstr,
                                            size_t errstr_size)
{
        struct scraper_fetcher *f = sl_xcalloc(1, sizeof(*f));

        f->opts = *opts;
        if (f->opts.connect_timeout_ms <= 0)
                f->opts.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
        if (f->opts.timeout_ms <= 0)
                f->opts.timeout_ms = DEFAULT_TIMEOUT_MS;
        if (f->opts.max_bytes == 0)
                f->opts.max_bytes = DEFAULT_MAX_BYTES;
        if (f->opts.retry_after_max_ms <= 0)
                f->opts.retry_after_max_ms = DEFAULT_RETRY_AFTER_MAX_MS;
        f->ua = sl_xstrdup(opts->user_agent ? opts->user_agent : "statline-scraper/0.1");
        f->opts.user_agent = f->ua;
        if (opts->username && opts->username[0]) {
                f->username = sl_xstrdup(opts->username);
                f->password = sl_xstrdup(opts->password ? opts->password : "");
        }
        f->opts.username = f->opts.password = NULL;
        scraper_rate_init(&f->rate, opts->rate_interval_ms, opts->rate_jitter_ms);
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                snprintf(errstr, errstr_size, "curl_global_init failed");
                free(f->ua);
                free(f->username);
                free(f->password);
                free(f);
                return NULL;
        }
        f->curl = curl_easy_init();
        if (!f->curl) {
                snprintf(errstr, errstr_size, "curl_easy_init failed");
                scraper_fetcher_free(f);
                return NULL;
        }
        return f;
}

void scraper_fetcher_free(struct scraper_fetcher *f)
{
        if (!f)
                return;
        if (f->curl)
                curl_easy_cleanup(f->curl);
        curl_global_cleanup();
        free(f->ua);
        free(f->username);
        free(f->password);
        free(f);
}

static bool stopping(const struct scraper_fetcher *f)
{
        return f->opts.stopping && f->opts.stopping(f->opts.stop_opaque);
}

/* Sleeps ms in slices, watching the stop flag. 0, or -ECANCELED. */
static int wait_ms(const struct scraper_fetcher *f, int64_t ms)
{
        int64_t end = sl_mono_ms() + ms;

        for (;;) {
                int64_t left = end - sl_mono_ms();
                if (stopping(f))
                        return -ECANCELED;
                if (left <= 0)
                        return 0;
                sl_sleep_ms(left < SLEEP_SLICE_MS ? left : SLEEP_SLICE_MS, NULL);
        }
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *opaque)
{
        struct scraper_fetcher *f = opaque;
        size_t n = size * nmemb;

        if (sl_buf_append(f->body, data, n) < 0) {
                f->too_big = true;
                return 0; /* CURLE_WRITE_ERROR ends the transfer */
        }
        return n;
}

static int on_progress(void *opaque, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
        (void)dltotal;
        (void)dlnow;
        (void)ultotal;
        (void)ulnow;
        return stopping(opaque) ? 1 : 0;
}

/* A curl result as one of our errnos. */
static int curl_rc(const struct scraper_fetcher *f, CURLcode cc)
{
        switch (cc) {
        case CURLE_OK:
                return 0;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_PARTIAL_FILE:         /* fewer bytes than Content-Length */
        case CURLE_BAD_CONTENT_ENCODING: /* truncated gzip stream */
                return -EPIPE;
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
                return -ECONNRESET;
        case CURLE_ABORTED_BY_CALLBACK:
                return -ECANCELED;
        case CURLE_FILESIZE_EXCEEDED:
                return -E2BIG;
        case CURLE_WRITE_ERROR:
                return f->too_big ? -E2BIG : -EIO;
        default:
                return -EIO;
        }
}

/* Sets up the reused handle for one GET of url into resp->body. */
static void setup(struct scraper_fetcher *f, const char *url, struct scraper_response *resp)
{
        CURL *curl = f->curl;

        curl_easy_reset(curl); /* keeps the connection cache */
        f->too_big = false;
        f->body = &resp->body;
        f->curl_err[0] = '\0';
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)f->opts.connect_timeout_ms);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)f->opts.timeout_ms);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, f->opts.user_agent);
        curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "gzip");
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 3L);
        curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->opts.max_bytes);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, f);
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, f);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, f->curl_err);
        if (f->username) {
                curl_easy_setopt(curl, CURLOPT_USERNAME, f->username);
                curl_easy_setopt(curl, CURLOPT_PASSWORD, f->password);
        }
}

/*
 * One request. Returns the attempt's errno (see scraper_status_rc) and sets
 * *retry_after_ms (-1 when the response had none or it did not parse).
 */
static int attempt(struct scraper_fetcher *f, const char *url, struct scraper_response *resp,
                   int64_t *retry_after_ms)
{
        struct curl_header *h = NULL;
        const char *ctype = NULL;
        bool ok_status, json_ok;
        CURLcode cc;
        int rc;

        *retry_after_ms = -1;
        cJSON_Delete(resp->json); /* a previous attempt's document */
        resp->json = NULL;
        sl_buf_fini(&resp->body);
        sl_buf_init(&resp->body, f->opts.max_bytes);
        resp->http_status = 0;
        resp->content_type[0] = '\0';
        setup(f, url, resp);
        cc = curl_easy_perform(f->curl);
        curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &resp->http_status);
        if (curl_easy_getinfo(f->curl, CURLINFO_CONTENT_TYPE, &ctype) == CURLE_OK && ctype)
                snprintf(resp->content_type, sizeof(resp->content_type), "%s", ctype);
        if (curl_easy_header(f->curl, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK &&
            scraper_retry_after_parse(h->value, sl_wall_ms(), retry_after_ms) < 0)
                *retry_after_ms = -1;
        rc = curl_rc(f, cc);
        if (rc < 0) {
                const char *what =
                    rc == -E2BIG ? "body over fetch.max_bytes" : curl_easy_strerror(cc);
                if (snprintf(resp->error, sizeof(resp->error), "%s%s%s", what,
                             f->curl_err[0] ? ": " : "", f->curl_err) >= (int)sizeof(resp->error))
                        sl_log_debug("scraper.fetch.error", "curl error text cut");
                return rc;
        }
        ok_status = resp->http_status >= 200 && resp->http_status <= 299;
        json_ok = ok_status && scraper_json_complete(resp->body.data, resp->body.len, &resp->json);
        rc = scraper_status_rc(resp->http_status, json_ok);
        if (rc < 0 && ok_status)
                snprintf(resp->error, sizeof(resp->error),
                         "HTTP %ld: body is not one complete JSON document (%zu bytes)",
                         resp->http_status, resp->body.len);
        else if (rc < 0)
                snprintf(resp->error, sizeof(resp->error), "HTTP %ld%s%.120s", resp->http_status,
                         resp->body.len ? ": " : "", resp->body.len ? resp->body.data : "");
        return rc;
}

/* The wait before retry number k (1-based) after an attempt that failed with rc. */
static int64_t backoff_ms(const struct scraper_fetcher *f, int k, int64_t retry_after_ms)
{
        int64_t delay = sl_retry_delay_ms(&f->opts.retry, k);

        if (retry_after_ms >= 0) {
                if (retry_after_ms > f->opts.retry_after_max_ms)
                        retry_after_ms = f->opts.retry_after_max_ms;
                if (retry_after_ms > delay)
                        delay = retry_after_ms;
        }
        return delay;
}

int scraper_fetch(struct scraper_fetcher *f, const char *url, struct scraper_response *resp)
{
        int max = sl_retry_max_attempts(&f->opts.retry);
        int64_t t0 = sl_mono_ms(), retry_after_ms = -1;
        char host[SCRAPER_RATE_HOST_MAX], safe[2048];
        int rc = -EIO;

        cJSON_Delete(resp->json);
        resp->json = NULL;
        resp->attempts = 0;
        resp->waited_ms = 0;
        resp->error[0] = '\0';
        if (scraper_url_host(url, host, sizeof(host)) < 0) {
                snprintf(resp->error, sizeof(resp->error), "not an absolute URL");
                return -EINVAL;
        }
        scraper_url_redact(url, safe, sizeof(safe));
        for (int k = 1; k <= max; k++) {
                int64_t wait = scraper_rate_wait_ms(&f->rate, host, sl_mono_ms());
                if (wait > 0) {
                        resp->waited_ms += wait;
                        rc = wait_ms(f, wait);
                        if (rc < 0)
                                break;
                }
                if (stopping(f)) {
                        rc = -ECANCELED;
                        break;
                }
                resp->attempts = k;
                resp->error[0] = '\0';
                rc = attempt(f, url, resp, &retry_after_ms);
                scraper_rate_done(&f->rate, host, sl_mono_ms());
                if (rc == 0 || !scraper_fetch_retriable(rc) || k == max)
                        break;
                wait = backoff_ms(f, k, retry_after_ms);
                sl_log_warn("scraper.fetch.retry",
                            "url=%s attempt=%d/%d status=%ld error=\"%s\" retry_in_ms=%lld", safe,
                            k, max, resp->http_status, resp->error, (long long)wait);
                scraper_rate_defer(&f->rate, host, sl_mono_ms() + wait);
        }
        if (rc == -ECANCELED)
                snprintf(resp->error, sizeof(resp->error), "cancelled (stopping)");
        resp->duration_ms = sl_mono_ms() - t0;
        return rc;
}
