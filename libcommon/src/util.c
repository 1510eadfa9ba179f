#include <sl/util.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <sl/log.h>

/* Out of memory is not recoverable for a service: log one line and abort (redis zmalloc). */
static void oom(size_t size)
{
        char msg[96];
        int n = snprintf(msg, sizeof(msg),
                         "{\"level\":\"error\",\"event\":\"oom\",\"msg\":\"%zu bytes\"}\n", size);
        if (n > 0)
                (void)!write(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
        abort();
}

void *sl_xmalloc(size_t size)
{
        void *p = malloc(size ? size : 1);
        if (!p)
                oom(size);
        return p;
}

void *sl_xcalloc(size_t nmemb, size_t size)
{
        void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
        if (!p)
                oom(nmemb * size);
        return p;
}

void *sl_xrealloc(void *ptr, size_t size)
{
        void *p = realloc(ptr, size ? size : 1);
        if (!p)
                oom(size);
        return p;
}

char *sl_xstrdup(const char *s)
{
        return sl_xstrndup(s, strlen(s));
}

char *sl_xstrndup(const char *s, size_t n)
{
        size_t len = strnlen(s, n);
        char *p = sl_xmalloc(len + 1);
        memcpy(p, s, len);
        p[len] = '\0';
        return p;
}

char *sl_xasprintf(const char *fmt, ...)
{
        va_list ap;
        int n;
        char *p;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0)
                abort(); /* only on an invalid format: a programmer error */
        p = sl_xmalloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(p, (size_t)n + 1, fmt, ap);
        va_end(ap);
        return p;
}

void sl_buf_init(struct sl_buf *b, size_t max_bytes)
{
        b->data = NULL;
        b->len = 0;
        b->cap = 0;
        b->max_bytes = max_bytes ? max_bytes : SIZE_MAX - 1;
}

void sl_buf_fini(struct sl_buf *b)
{
        if (!b)
                return;
        free(b->data);
        b->data = NULL;
        b->len = b->cap = 0;
}

void sl_buf_reset(struct sl_buf *b)
{
        b->len = 0;
        if (b->data)
                b->data[0] = '\0';
}

/* Makes room for extra more bytes plus the NUL; growth doubles, capped by max_bytes. */
static int buf_reserve(struct sl_buf *b, size_t extra)
{
        size_t need, cap;

        if (extra > b->max_bytes - b->len)
                return -E2BIG;
        need = b->len + extra + 1;
        if (need <= b->cap)
                return 0;
        cap = b->cap ? b->cap : 64;
        while (cap < need)
                cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        b->data = sl_xrealloc(b->data, cap);
        b->cap = cap;
        return 0;
}

int sl_buf_append(struct sl_buf *b, const void *data, size_t len)
{
        int rc = buf_reserve(b, len);
        if (rc < 0)
                return rc;
        if (len)
                memcpy(b->data + b->len, data, len);
        b->len += len;
        b->data[b->len] = '\0';
        return 0;
}

int sl_buf_puts(struct sl_buf *b, const char *s)
{
        return sl_buf_append(b, s, strlen(s));
}

int sl_buf_printf(struct sl_buf *b, const char *fmt, ...)
{
        va_list ap;
        int n, rc;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        rc = buf_reserve(b, (size_t)n);
        if (rc < 0)
                return rc;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
        return 0;
}

int sl_buf_json_str(struct sl_buf *b, const char *s)
{
        static const char hex[] = "0123456789abcdef";
        const unsigned char *p = (const unsigned char *)s;
        char esc[7] = {'\\', 'u', '0', '0', 0, 0, 0};
        int rc = sl_buf_append(b, "\"", 1);

        for (; rc == 0 && *p; p++) {
                const unsigned char *run = p;
                while (*p >= 0x20 && *p != '"' && *p != '\\')
                        p++;
                if (p > run)
                        rc = sl_buf_append(b, run, (size_t)(p - run));
                if (rc < 0 || !*p)
                        break;
                if (*p == '"' || *p == '\\') {
                        char two[2] = {'\\', (char)*p};
                        rc = sl_buf_append(b, two, 2);
                } else if (*p == '\n') {
                        rc = sl_buf_append(b, "\\n", 2);
                } else if (*p == '\t') {
                        rc = sl_buf_append(b, "\\t", 2);
                } else if (*p == '\r') {
                        rc = sl_buf_append(b, "\\r", 2);
                } else {
                        esc[4] = hex[*p >> 4];
                        esc[5] = hex[*p & 15];
                        rc = sl_buf_append(b, esc, 6);
                }
        }
        if (rc == 0)
                rc = sl_buf_append(b, "\"", 1);
        return rc;
}

char *sl_buf_steal(struct sl_buf *b)
{
        char *p = b->data ? b->data : sl_xstrdup("");
        b->data = NULL;
        b->len = b->cap = 0;
        return p;
}

static int64_t clock_ms(clockid_t id)
{
        struct timespec ts;
        clock_gettime(id, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sl_mono_ms(void)
{
        return clock_ms(CLOCK_MONOTONIC);
}

int64_t sl_wall_ms(void)
{
        return clock_ms(CLOCK_REALTIME);
}

int64_t sl_mono_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int sl_sleep_ms(int64_t ms, volatile const int *stop)
{
        int64_t end = sl_mono_ms() + ms;

        /* Sleep in short slices so a drain request is seen within 50 ms. */
        for (;;) {
                int64_t left = end - sl_mono_ms();
                struct timespec ts;
                if (stop && *stop)
                        return -EINTR;
                if (left <= 0)
                        return 0;
                if (left > 50)
                        left = 50;
                ts.tv_sec = 0;
                ts.tv_nsec = (long)left * 1000000L;
                nanosleep(&ts, NULL);
        }
}

void sl_time_rfc3339(int64_t wall_ms, char out[25])
{
        time_t secs = (time_t)(wall_ms / 1000);
        int ms = (int)(wall_ms % 1000);
        struct tm tm;

        if (ms < 0) {
                ms += 1000;
                secs--;
        }
        gmtime_r(&secs, &tm);
        /* Field ranges are known, so the casts tell the compiler the text fits in 25 bytes. */
        snprintf(out, 25, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
                 (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
                 (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
                 (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u, (unsigned)ms % 1000u);
}

static bool is_leap(int y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
        static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Reads exactly n digits at s into *out. */
static bool digits(const char *s, int n, int *out)
{
        int v = 0;
        for (int i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        *out = v;
        return true;
}

bool sl_date_valid(const char *s)
{
        int y, m, d;

        if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
                return false;
        if (!digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d))
                return false;
        return y >= 1800 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
        int64_t era, yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = y - era * 400;
        doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

/* Parses fractional seconds ".ddd…" into ms; advances *p. */
static bool parse_frac(const char **p, int *ms)
{
        const char *s = *p;
        int v = 0, n = 0;

        *ms = 0;
        if (*s != '.')
                return true;
        s++;
        while (*s >= '0' && *s <= '9') {
                if (n < 3)
                        v = v * 10 + (*s - '0');
                n++;
                s++;
        }
        if (n == 0 || n > 9)
                return false;
        while (n++ < 3)
                v *= 10;
        *ms = v;
        *p = s;
        return true;
}

/* Parses "Z" or "+hh:mm"/"-hh:mm" at *p into seconds east of UTC. */
static bool parse_offset(const char *s, int *off_s)
{
        int hh, mm;

        if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0') {
                *off_s = 0;
                return true;
        }
        if ((s[0] != '+' && s[0] != '-') || strlen(s) != 6 || s[3] != ':')
                return false;
        if (!digits(s + 1, 2, &hh) || !digits(s + 4, 2, &mm) || hh > 23 || mm > 59)
                return false;
        *off_s = (hh * 3600 + mm * 60) * (s[0] == '-' ? -1 : 1);
        return true;
}

int sl_time_parse_rfc3339(const char *s, int64_t *wall_ms)
{
        char date[11];
        int hh, mi, ss, ms, off_s, y = 0, m = 0, d = 0;
        const char *p;

        if (!s || strlen(s) < 20)
                return -EINVAL;
        memcpy(date, s, 10);
        date[10] = '\0';
        if (!sl_date_valid(date) || (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
                return -EINVAL;
        if (!digits(s + 11, 2, &hh) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
            !digits(s + 17, 2, &ss) || hh > 23 || mi > 59 || ss > 60)
                return -EINVAL;
        p = s + 19;
        if (!parse_frac(&p, &ms) || !parse_offset(p, &off_s))
                return -EINVAL;
        digits(date, 4, &y);
        digits(date + 5, 2, &m);
        digits(date + 8, 2, &d);
        *wall_ms =
            ((days_from_civil(y, m, d) * 86400 + hh * 3600 + mi * 60 + ss) - off_s) * 1000 + ms;
        return 0;
}

int sl_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
        char *end;
        long long v;

        if (!s || !*s || (*s != '-' && *s != '+' && (*s < '0' || *s > '9')))
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (*end != '\0')
                return -EINVAL;
        if (errno == ERANGE || v < min || v > max)
                return -ERANGE;
        *out = (int64_t)v;
        return 0;
}

/* Fills buf straight from the kernel. */
static void getrandom_all(unsigned char *p, size_t len)
{
        while (len > 0) {
                ssize_t n = getrandom(p, len, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        abort(); /* no entropy source at all: nothing sensible to do */
                }
                p += n;
                len -= (size_t)n;
        }
}

/*
 * Random bytes come from getrandom(2) in 256-byte refills of a per-thread
 * pool: every id still gets kernel-quality randomness, without a system call
 * per event (three per envelope otherwise: event id, trace id, span id).
 * A forked child must not replay its parent's pool: an atfork handler
 * empties it in the child (the only thread there is the one that forked).
 */
static _Thread_local unsigned char pool[256];
static _Thread_local size_t avail;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_child(void)
{
        avail = 0;
}

static void pool_init(void)
{
        pthread_atfork(NULL, NULL, pool_child);
}

void sl_random_bytes(void *buf, size_t len)
{
        unsigned char *p = buf;

        if (len > sizeof(pool)) {
                getrandom_all(p, len);
                return;
        }
        pthread_once(&pool_once, pool_init);
        while (len > 0) {
                size_t n;
                if (avail == 0) {
                        getrandom_all(pool, sizeof(pool));
                        avail = sizeof(pool);
                }
                n = len < avail ? len : avail;
                memcpy(p, pool + sizeof(pool) - avail, n);
                memset(pool + sizeof(pool) - avail, 0, n); /* never hand out the same bytes twice */
                avail -= n;
                p += n;
                len -= n;
        }
}

uint64_t sl_random_below(uint64_t n)
{
        uint64_t v, limit = UINT64_MAX - UINT64_MAX % n;

        do
                sl_random_bytes(&v, sizeof(v));
        while (v >= limit);
        return v % n;
}

void sl_uuid7(char out[37])
{
        static const char hex[] = "0123456789abcdef";
        unsigned char b[16];
        uint64_t ms = (uint64_t)sl_wall_ms();
        int j = 0;

        sl_random_bytes(b + 6, 10);
        for (int i = 0; i < 6; i++)
                b[i] = (unsigned char)(ms >> (40 - 8 * i));
        b[6] = (unsigned char)(0x70 | (b[6] & 0x0f)); /* version 7 */
        b[8] = (unsigned char)(0x80 | (b[8] & 0x3f)); /* RFC 9562 variant */
        for (int i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        out[j++] = '-';
                out[j++] = hex[b[i] >> 4];
                out[j++] = hex[b[i] & 15];
        }
        out[j] = '\0';
}

static bool is_hex(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool sl_uuid_valid(const char *s)
{
        if (!s || strlen(s) != SL_UUID_LEN)
                return false;
        for (int i = 0; i < SL_UUID_LEN; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;
                if (dash ? s[i] != '-' : !is_hex(s[i]))
                        return false;
        }
        return true;
}

int sl_uuid_version(const char *s)
{
        char c;

        if (!sl_uuid_valid(s))
                return -1;
        c = s[14];
        return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

void sl_qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
        if (n > 1 && base)
                qsort(base, n, size, cmp);
}

void *sl_bsearch(const void *key, const void *base, size_t n, size_t size,
                 int (*cmp)(const void *, const void *))
{
        return n > 0 && base ? bsearch(key, base, n, size, cmp) : NULL;
}
