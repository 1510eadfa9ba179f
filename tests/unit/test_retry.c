#include <errno.h>

#include <sl/retry.h>

#include "sl_test.h"

/* The "not ready" schedule and the max-wait cutoff, against hand-computed numbers. */
static void test_not_ready(void)
{
        struct sl_not_ready_opts o = {0};
        int64_t due = 0, t, first = 1000000;
        int waits;

        /* defaults: 5 s, 10 s, 30 s, 60 s, 300 s, then 300 s; 6 h in all */
        SL_CHECK(sl_not_ready_delay_ms(&o, 1) == 5000 && sl_not_ready_delay_ms(&o, 2) == 10000 &&
                 sl_not_ready_delay_ms(&o, 3) == 30000 && sl_not_ready_delay_ms(&o, 4) == 60000 &&
                 sl_not_ready_delay_ms(&o, 5) == 300000 && sl_not_ready_delay_ms(&o, 40) == 300000);
        SL_CHECK(sl_not_ready_delay_ms(&o, 0) == 5000);
        SL_CHECK(sl_not_ready_next(&o, first, first, 0, &due) == 0 && due == first + 5000);
        SL_CHECK(sl_not_ready_next(&o, first, first + 5000, 1, &due) == 0 && due == first + 15000);
        /* Walk the default schedule: 5+10+30+60 = 105 s, then every 300 s up to 21 600 s. */
        for (t = first, waits = 0; sl_not_ready_next(&o, first, t, waits, &due) == 0; waits++)
                t = due;
        /* 105 s + 71 x 300 s = 21 405 s < 21 600; the 72nd wait is cut to the deadline */
        SL_CHECKF(waits == 4 + 72 && t == first + 21600000, "waits=%d t=%lld", waits,
                  (long long)(t - first));
        SL_CHECK(sl_not_ready_next(&o, first, first + 21599999, 9, &due) == 0 &&
                 due == first + 21600000);
        SL_CHECK(sl_not_ready_next(&o, first, first + 21600000, 9, &due) == -ETIME);

        /* configured: "500,1000", max 2500 ms: parked at 0, tries at 500, 1500, 2500 -> DLQ */
        SL_CHECK(sl_not_ready_parse_delays(&o, "500,1000") == 0 && o.n_delays == 2);
        o.max_ms = 2500;
        SL_CHECK(sl_not_ready_next(&o, 0, 0, 0, &due) == 0 && due == 500);
        SL_CHECK(sl_not_ready_next(&o, 0, 500, 1, &due) == 0 && due == 1500);
        SL_CHECK(sl_not_ready_next(&o, 0, 1500, 2, &due) == 0 && due == 2500);
        SL_CHECK(sl_not_ready_next(&o, 0, 2500, 3, &due) == -ETIME);
        /* late re-dispatch (a busy loop): still cut at the deadline */
        SL_CHECK(sl_not_ready_next(&o, 0, 2400, 1, &due) == 0 && due == 2500);
        SL_CHECK(sl_not_ready_parse_delays(&o, "") == -EINVAL);
        SL_CHECK(sl_not_ready_parse_delays(&o, "5,x") == -EINVAL && o.n_delays == 2);
        SL_CHECK(sl_not_ready_parse_delays(&o, "86400001") == -EINVAL);
        SL_CHECK(sl_not_ready_parse_delays(&o, "86400000") == 0 && o.delays_ms[0] == 86400000);
}

int main(void)
{
        struct sl_retry_opts o;

        sl_retry_defaults(&o);
        SL_CHECK(sl_retry_max_attempts(&o) == 3);
        /* Seeds: 2 s, 5 s, 10 s with +-20% jitter; the last delay repeats. */
        for (int i = 0; i < 200; i++) {
                int64_t d1 = sl_retry_delay_ms(&o, 1), d2 = sl_retry_delay_ms(&o, 2);
                int64_t d3 = sl_retry_delay_ms(&o, 3), d9 = sl_retry_delay_ms(&o, 9);
                if (!(d1 >= 1600 && d1 <= 2400 && d2 >= 4000 && d2 <= 6000 && d3 >= 8000 &&
                      d3 <= 12000 && d9 >= 8000 && d9 <= 12000)) {
                        SL_CHECKF(0, "delays %lld %lld %lld %lld", (long long)d1, (long long)d2,
                                  (long long)d3, (long long)d9);
                        break;
                }
        }
        /* Jitter really varies. */
        int64_t first = sl_retry_delay_ms(&o, 1);
        int varied = 0;
        for (int i = 0; i < 50; i++)
                varied |= sl_retry_delay_ms(&o, 1) != first;
        SL_CHECK(varied);

        o.jitter_pct = -1;
        SL_CHECK(sl_retry_delay_ms(&o, 1) == 2000 && sl_retry_delay_ms(&o, 2) == 5000);

        SL_CHECK(sl_retry_parse_delays(&o, "1,2,30") == 0 && o.n_delays == 3);
        SL_CHECK(sl_retry_delay_ms(&o, 3) == 30 && sl_retry_delay_ms(&o, 4) == 30);
        SL_CHECK(sl_retry_parse_delays(&o, "") == -EINVAL);
        SL_CHECK(sl_retry_parse_delays(&o, "1,,2") == -EINVAL);
        SL_CHECK(sl_retry_parse_delays(&o, "1,x") == -EINVAL);
        SL_CHECK(sl_retry_parse_delays(&o, "-1") == -EINVAL);
        SL_CHECK(o.n_delays == 3); /* failed parses leave opts alone */

        /* Exponential formula with cap. */
        struct sl_retry_opts e = {.base_ms = 100, .max_delay_ms = 1000, .jitter_pct = -1};
        SL_CHECK(sl_retry_delay_ms(&e, 1) == 100 && sl_retry_delay_ms(&e, 2) == 200);
        SL_CHECK(sl_retry_delay_ms(&e, 4) == 800 && sl_retry_delay_ms(&e, 5) == 1000);
        SL_CHECK(sl_retry_delay_ms(&e, 60) == 1000);
        struct sl_retry_opts z = {0};
        SL_CHECK(sl_retry_max_attempts(&z) == 3);
        z.jitter_pct = -1;
        SL_CHECK(sl_retry_delay_ms(&z, 1) == 2000 && sl_retry_delay_ms(&z, 3) == 10000);
        test_not_ready();
        return SL_DONE();
}
