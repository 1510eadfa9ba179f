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

int sl_retry_parse_delays(struct sl_retry_opts *opts, const char *list)
{
        int64_t delays[SL_RETRY_MAX_DELAYS];
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
                if (sl_parse_i64(item, 0, 3600 * 1000, &delays[n]) < 0)
                        return -EINVAL;
                n++;
                p = comma ? comma + 1 : NULL;
        }
        if (n == 0)
                return -EINVAL;
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
