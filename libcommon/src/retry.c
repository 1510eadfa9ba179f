#include <sl/retry.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sl/util.h>

#define RETRY_DEFAULT_ATTEMPTS 3
#define RETRY_DEFAULT_MAX_MS   60000
#define RETRY_DEFAULT_JITTER   20

void sl_retry_defaults(struct sl_retry_opts *opts)
{
        memset(opts, 0, sizeof(*opts));
        opts->max_attempts = RETRY_DEFAULT_ATTEMPTS;
        opts->delays_ms[0] = 2000;
        opts->delays_ms[1] = 5000;
        opts->delays_ms[2] = 10000;
        opts->n_delays = 3;
        opts->jitter_pct = RETRY_DEFAULT_JITTER;
}

/* Parses "a,b,c" (ms, each in [0, max]) into delays; returns the count or -EINVAL. */
static int parse_list(const char *list, int64_t max, int64_t *delays)
{
        int n = 0;
        const char *p = list;

        while (p && *p) {
                char item[24];
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);
                if (n == SL_RETRY_MAX_DELAYS || len == 0 || len >= sizeof(item))
                        return -EINVAL;
                memcpy(item, p, len);
                item[len] = '\0';
                if (sl_parse_i64(item, 0, max, &delays[n]) < 0)
                        return -EINVAL;
                n++;
                p = comma ? comma + 1 : NULL;
        }
        return n == 0 ? -EINVAL : n;
}

int sl_retry_parse_delays(struct sl_retry_opts *opts, const char *list)
{
        int64_t delays[SL_RETRY_MAX_DELAYS];
        int n = parse_list(list, 3600 * 1000, delays);

        if (n < 0)
                return n;
        memcpy(opts->delays_ms, delays, sizeof(delays[0]) * (size_t)n);
        opts->n_delays = n;
        return 0;
}

int sl_retry_max_attempts(const struct sl_retry_opts *opts)
{
        return opts->max_attempts > 0 ? opts->max_attempts : RETRY_DEFAULT_ATTEMPTS;
}

/* The delay before jitter: the explicit list, else base * 2^(retry-1), else the seeds' 2/5/10 s. */
static int64_t base_delay(const struct sl_retry_opts *opts, int retry)
{
        static const int64_t seed_delays[] = {2000, 5000, 10000};
        int64_t cap = opts->max_delay_ms > 0 ? opts->max_delay_ms : RETRY_DEFAULT_MAX_MS;
        int64_t d;

        if (retry < 1)
                retry = 1;
        if (opts->n_delays > 0)
                return opts->delays_ms[(retry <= opts->n_delays ? retry : opts->n_delays) - 1];
        if (opts->base_ms <= 0)
                return seed_delays[retry <= 3 ? retry - 1 : 2];
        d = opts->base_ms;
        for (int i = 1; i < retry && d < cap; i++)
                d *= 2;
        return d < cap ? d : cap;
}

int64_t sl_retry_delay_ms(const struct sl_retry_opts *opts, int retry)
{
        int64_t d = base_delay(opts, retry);
        int pct = opts->jitter_pct == 0 ? RETRY_DEFAULT_JITTER : opts->jitter_pct;
        int64_t span;

        if (pct < 0 || d <= 0)
                return d > 0 ? d : 0;
        /* Uniform in [d - d*pct%, d + d*pct%] so replicas don't retry in lockstep. */
        span = d * pct / 100;
        if (span <= 0)
                return d;
        return d - span + (int64_t)sl_random_below((uint64_t)(2 * span + 1));
}

#define NOT_READY_DEFAULT_MAX_MS (6 * 3600 * INT64_C(1000))

int sl_not_ready_parse_delays(struct sl_not_ready_opts *opts, const char *list)
{
        int64_t delays[SL_RETRY_MAX_DELAYS];
        int n = parse_list(list, 86400 * INT64_C(1000), delays);

        if (n < 0)
                return n;
        memcpy(opts->delays_ms, delays, sizeof(delays[0]) * (size_t)n);
        opts->n_delays = n;
        return 0;
}

int64_t sl_not_ready_delay_ms(const struct sl_not_ready_opts *opts, int wait)
{
        static const int64_t seed_delays[] = {5000, 10000, 30000, 60000, 300000};
        const int64_t *d = opts->n_delays > 0 ? opts->delays_ms : seed_delays;
        int n = opts->n_delays > 0 ? opts->n_delays
                                   : (int)(sizeof(seed_delays) / sizeof(seed_delays[0]));

        if (wait < 1)
                wait = 1;
        return d[(wait <= n ? wait : n) - 1];
}

int sl_not_ready_next(const struct sl_not_ready_opts *opts, int64_t first_ms, int64_t now_ms,
                      int waits, int64_t *due_ms)
{
        int64_t max = opts->max_ms > 0 ? opts->max_ms : NOT_READY_DEFAULT_MAX_MS;
        int64_t due;

        if (now_ms - first_ms >= max)
                return -ETIME;
        due = now_ms + sl_not_ready_delay_ms(opts, waits + 1);
        *due_ms = due < first_ms + max ? due : first_ms + max;
        return 0;
}
