#include <errno.h>

#include <sl/retry.h>

#include "sl_test.h"

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
        return SL_DONE();
}
