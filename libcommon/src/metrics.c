#include <sl/metrics.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sl/log.h>
#include <sl/util.h>

/* The address is the end marker; the text only helps in a debugger. */
const char sl_metric_end_[] = "<sl_metric_end>";

enum mtype { M_COUNTER, M_GAUGE, M_HISTOGRAM };

static const char *const type_names[] = {"counter", "gauge", "histogram"};

/* One label-value tuple of a family. */
struct series {
        char *lv[SL_METRICS_MAX_LABELS]; /* owned label values, n_labels of them */
        double value;                    /* counter/gauge value; histogram sum */
        uint64_t count;                  /* histogram observations */
        uint64_t *buckets;               /* histogram: n_bounds + 1 per-bucket counts
                                            (not cumulative; last is +Inf); owned */
};

struct sl_metric {
        char *name; /* owned */
        char *help; /* owned */
        enum mtype type;
        int n_labels;
        char *labels[SL_METRICS_MAX_LABELS]; /* owned label names */
        double *bounds;                      /* histogram upper bounds, owned */
        size_t n_bounds;
        struct series *series; /* sorted by label values, owned */
        size_t n_series, cap_series;
        bool warned;            /* a dropped update was logged */
        struct sl_metric *next; /* registry list, sorted by name */
};

/*
 * One mutex guards the whole registry: families, series and values. The
 * service loop updates, the HTTP thread renders; contention is negligible.
 */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sl_metric *reg_head;
static struct sl_std_metrics std_metrics;
static bool std_ready;

static const double default_bounds[] = {SL_METRICS_LATENCY_BUCKETS};

/* One character of a Prometheus name: letters, '_', ':' (metric names only), digits after the
 * first. */
static bool name_char(char c, bool first, bool colon)
{
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':'))
                return true;
        return !first && c >= '0' && c <= '9';
}

/* Metric names allow ':', label names don't (Prometheus data model). */
static bool valid_name(const char *s, bool colon)
{
        size_t len = s ? strlen(s) : 0;

        if (len == 0 || len > SL_METRICS_NAME_MAX)
                return false;
        for (size_t i = 0; i < len; i++) {
                if (!name_char(s[i], i == 0, colon))
                        return false;
        }
        return true;
}

/* Splits "a,b" into out[]; returns the count, or -EINVAL. Names are heap copies. */
static int parse_labels(const char *labels, enum mtype type, char *out[SL_METRICS_MAX_LABELS])
{
        int n = 0;

        for (const char *p = labels; p && *p;) {
                size_t len = strcspn(p, ",");
                char *name = sl_xstrndup(p, len);
                bool bad = n == SL_METRICS_MAX_LABELS || !valid_name(name, false) ||
                           strncmp(name, "__", 2) == 0 ||
                           (type == M_HISTOGRAM && strcmp(name, "le") == 0);
                for (int i = 0; i < n && !bad; i++)
                        bad = strcmp(out[i], name) == 0;
                if (bad) {
                        free(name);
                        while (n > 0)
                                free(out[--n]);
                        return -EINVAL;
                }
                out[n++] = name;
                p += len + (p[len] == ',');
        }
        return n;
}

/* Frees a series' label values and buckets (the series lives in its family's array). */
static void series_free(struct series *s, int n_labels)
{
        for (int i = 0; i < n_labels; i++)
                free(s->lv[i]);
        free(s->buckets);
}

/* Frees a family and all its series. Caller holds reg_lock and has unlinked m. */
static void metric_free(struct sl_metric *m)
{
        for (size_t i = 0; i < m->n_series; i++)
                series_free(&m->series[i], m->n_labels);
        for (int i = 0; i < m->n_labels; i++)
                free(m->labels[i]);
        free(m->series);
        free(m->bounds);
        free(m->name);
        free(m->help);
        free(m);
}

/* Compares a series' label values with lv (lexicographic over the tuple). */
static int cmp_lv(const struct series *s, const char *const *lv, int n_labels)
{
        for (int i = 0; i < n_labels; i++) {
                int c = strcmp(s->lv[i], lv[i]);
                if (c != 0)
                        return c;
        }
        return 0;
}

/*
 * Finds the series for lv, creating it in sorted position if missing.
 * Returns NULL when the family already has SL_METRICS_MAX_SERIES series.
 * Caller holds reg_lock.
 */
static struct series *series_get(struct sl_metric *m, const char *const *lv)
{
        size_t lo = 0, hi = m->n_series;
        struct series *s;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = cmp_lv(&m->series[mid], lv, m->n_labels);
                if (c == 0)
                        return &m->series[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (m->n_series >= SL_METRICS_MAX_SERIES)
                return NULL;
        if (m->n_series == m->cap_series) {
                m->cap_series = m->cap_series ? m->cap_series * 2 : 4;
                m->series = sl_xrealloc(m->series, m->cap_series * sizeof(*m->series));
        }
        memmove(&m->series[lo + 1], &m->series[lo], (m->n_series - lo) * sizeof(*m->series));
        m->n_series++;
        s = &m->series[lo];
        memset(s, 0, sizeof(*s));
        for (int i = 0; i < m->n_labels; i++)
                s->lv[i] = sl_xstrdup(lv[i]);
        if (m->type == M_HISTOGRAM)
                s->buckets = sl_xcalloc(m->n_bounds + 1, sizeof(*s->buckets));
        return s;
}

/* Histogram bounds: 1..SL_METRICS_MAX_BUCKETS finite values, strictly increasing. */
static bool bounds_valid(const double *b, size_t n)
{
        if (n == 0 || n > SL_METRICS_MAX_BUCKETS)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (!isfinite(b[i]) || (i > 0 && b[i] <= b[i - 1]))
                        return false;
        }
        return true;
}

/* True if an existing family m is the same as the one being registered. */
static bool same_shape(const struct sl_metric *m, enum mtype type, char *const *labels, int n,
                       const double *bounds, size_t n_bounds)
{
        if (m->type != type || m->n_labels != n)
                return false;
        for (int i = 0; i < n; i++) {
                if (strcmp(m->labels[i], labels[i]) != 0)
                        return false;
        }
        if (type == M_HISTOGRAM &&
            (m->n_bounds != n_bounds || memcmp(m->bounds, bounds, n_bounds * sizeof(double))))
                return false;
        return true;
}

/* Links a new family into the name-sorted registry list. Caller holds reg_lock. */
static void reg_insert(struct sl_metric *m)
{
        struct sl_metric **pp = &reg_head;

        while (*pp && strcmp((*pp)->name, m->name) < 0)
                pp = &(*pp)->next;
        m->next = *pp;
        *pp = m;
}

/* Looks a family up by name. Caller holds reg_lock. */
static struct sl_metric *reg_find(const char *name)
{
        for (struct sl_metric *m = reg_head; m; m = m->next) {
                if (strcmp(m->name, name) == 0)
                        return m;
        }
        return NULL;
}

/* Registers or finds a family. Caller holds reg_lock. */
static struct sl_metric *reg_locked(enum mtype type, const char *name, const char *help,
                                    const char *labels, const double *bounds, size_t n_bounds)
{
        char *names[SL_METRICS_MAX_LABELS];
        struct sl_metric *m;
        int n;

        n = parse_labels(labels, type, names);
        if (!valid_name(name, true) || n < 0 ||
            (type == M_HISTOGRAM && !bounds_valid(bounds, n_bounds))) {
                sl_log_error("metrics.register.error", "bad metric %s: name, labels or buckets",
                             name ? name : "(null)");
                for (int i = 0; i < n; i++)
                        free(names[i]);
                return NULL;
        }
        m = reg_find(name);
        if (m) {
                bool same = same_shape(m, type, names, n, bounds, n_bounds);
                for (int i = 0; i < n; i++)
                        free(names[i]);
                if (same)
                        return m;
                sl_log_error("metrics.register.error",
                             "metric %s registered again with another type or labels", name);
                return NULL;
        }
        m = sl_xcalloc(1, sizeof(*m));
        m->name = sl_xstrdup(name);
        m->help = sl_xstrdup(help ? help : "");
        m->type = type;
        m->n_labels = n;
        memcpy(m->labels, names, (size_t)n * sizeof(names[0]));
        if (type == M_HISTOGRAM) {
                m->bounds = sl_xmalloc(n_bounds * sizeof(double));
                memcpy(m->bounds, bounds, n_bounds * sizeof(double));
                m->n_bounds = n_bounds;
        }
        if (n == 0)
                series_get(m, NULL); /* an unlabelled family always shows a value */
        reg_insert(m);
        return m;
}

/* Locked wrapper used by the three public registration functions. */
static struct sl_metric *reg_public(enum mtype type, const char *name, const char *help,
                                    const char *labels, const double *bounds, size_t n_bounds)
{
        struct sl_metric *m;

        pthread_mutex_lock(&reg_lock);
        m = reg_locked(type, name, help, labels, bounds, n_bounds);
        pthread_mutex_unlock(&reg_lock);
        return m;
}

struct sl_metric *sl_metrics_counter(const char *name, const char *help, const char *labels)
{
        return reg_public(M_COUNTER, name, help, labels, NULL, 0);
}

struct sl_metric *sl_metrics_gauge(const char *name, const char *help, const char *labels)
{
        return reg_public(M_GAUGE, name, help, labels, NULL, 0);
}

struct sl_metric *sl_metrics_histogram(const char *name, const char *help, const char *labels,
                                       const double *buckets, size_t n_buckets)
{
        if (!buckets) {
                buckets = default_bounds;
                n_buckets = sizeof(default_bounds) / sizeof(default_bounds[0]);
        }
        return reg_public(M_HISTOGRAM, name, help, labels, buckets, n_buckets);
}

/* Logs the first dropped update of a family (later ones stay quiet). Caller holds reg_lock. */
static void warn_once(struct sl_metric *m, const char *why)
{
        if (m->warned)
                return;
        m->warned = true;
        sl_log_warn("metrics.update.dropped", "metric %s: %s (further drops not logged)", m->name,
                    why);
}

/* Length of the valid UTF-8 sequence at p (overlongs, surrogates rejected), or 0. */
static size_t utf8_len(const unsigned char *p)
{
        uint32_t cp;
        size_t n;

        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xC2 && p[0] <= 0xDF) {
                n = 2;
                cp = p[0] & 0x1Fu;
        } else if ((p[0] & 0xF0) == 0xE0) {
                n = 3;
                cp = p[0] & 0x0Fu;
        } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
                n = 4;
                cp = p[0] & 0x07u;
        } else {
                return 0;
        }
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xC0) != 0x80) /* also stops at the NUL */
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3Fu);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        return n;
}

static bool label_ok(const char *s)
{
        size_t len = 0, n;

        for (const unsigned char *p = (const unsigned char *)s; *p; p += n, len += n) {
                n = utf8_len(p);
                if (n == 0 || len + n > SL_METRICS_LABEL_MAX)
                        return false;
        }
        return true;
}

/*
 * Returns a copy of s cut to SL_METRICS_LABEL_MAX bytes with invalid UTF-8
 * replaced by U+FFFD: one bad label value (a poison event's type) must not
 * make the whole exposition unparseable. free() the result.
 */
static char *label_fix(const char *s)
{
        char *cut = sl_xstrndup(s, SL_METRICS_LABEL_MAX);
        struct sl_buf b;
        size_t n;

        sl_buf_init(&b, 0);
        for (const unsigned char *p = (const unsigned char *)cut; *p; p += n ? n : 1) {
                n = utf8_len(p);
                if (n)
                        sl_buf_append(&b, p, n);
                else
                        sl_buf_puts(&b, "\xEF\xBF\xBD");
        }
        free(cut);
        return sl_buf_steal(&b);
}

/* Replaces bad label values in lv by fixed copies (kept in fixed[] to be freed). */
static void fix_labels(int n_labels, const char *lv[], char *fixed[])
{
        for (int i = 0; i < n_labels; i++) {
                fixed[i] = NULL;
                if (!label_ok(lv[i])) {
                        fixed[i] = label_fix(lv[i]);
                        lv[i] = fixed[i];
                }
        }
}

static void free_fixed(int n_labels, char *fixed[])
{
        for (int i = 0; i < n_labels; i++)
                free(fixed[i]);
}

/*
 * Reads exactly m->n_labels label values from ap, which must then hold the
 * end marker. Returns false on a count mismatch. NULL values become "".
 */
static bool read_labels(const struct sl_metric *m, va_list ap, const char *lv[])
{
        for (int i = 0; i <= m->n_labels; i++) {
                const char *v = va_arg(ap, const char *);
                if (v == sl_metric_end_)
                        return i == m->n_labels;
                if (i == m->n_labels)
                        return false;
                lv[i] = v ? v : "";
        }
        return false; /* not reached */
}

/* What an update does: add to a counter/gauge, set a gauge, observe into a histogram. */
enum op { OP_ADD, OP_SET, OP_OBSERVE };

/* Applies one update. Caller holds reg_lock. */
static void update_locked(struct sl_metric *m, enum op op, double v, va_list ap)
{
        const char *lv[SL_METRICS_MAX_LABELS];
        char *fixed[SL_METRICS_MAX_LABELS] = {NULL};
        const char *why = NULL;
        struct series *s;
        size_t b;

        if (!read_labels(m, ap, lv))
                why = "wrong number of label values";
        else if ((op == OP_OBSERVE) != (m->type == M_HISTOGRAM) ||
                 (op == OP_SET && m->type != M_GAUGE))
                why = "operation does not fit the metric type";
        else if (isnan(v) || (m->type == M_COUNTER && v < 0))
                why = "NaN, or a negative counter increment";
        if (!why)
                fix_labels(m->n_labels, lv, fixed);
        s = why ? NULL : series_get(m, lv);
        free_fixed(m->n_labels, fixed); /* series_get() copied what it keeps */
        if (!s) {
                warn_once(m, why ? why : "too many label-value combinations");
                return;
        }
        if (op == OP_SET) {
                s->value = v;
        } else if (op == OP_ADD) {
                s->value += v;
        } else {
                /* First bucket whose upper bound is >= v ("le" is inclusive); else +Inf. */
                for (b = 0; b < m->n_bounds && v > m->bounds[b]; b++)
                        ;
                s->buckets[b]++;
                s->count++;
                s->value += v;
        }
}

/* Common path of the update functions; a NULL family is a no-op. */
static void update(struct sl_metric *m, enum op op, double v, va_list ap)
{
        if (!m)
                return;
        pthread_mutex_lock(&reg_lock);
        update_locked(m, op, v, ap);
        pthread_mutex_unlock(&reg_lock);
}

void sl_metric_add_(struct sl_metric *m, double v, ...)
{
        va_list ap;

        va_start(ap, v);
        update(m, OP_ADD, v, ap);
        va_end(ap);
}

void sl_metric_inc_(struct sl_metric *m, ...)
{
        va_list ap;

        va_start(ap, m);
        update(m, OP_ADD, 1.0, ap);
        va_end(ap);
}

void sl_metric_set_(struct sl_metric *m, double v, ...)
{
        va_list ap;

        va_start(ap, v);
        update(m, OP_SET, v, ap);
        va_end(ap);
}

void sl_metric_observe_(struct sl_metric *m, double v, ...)
{
        va_list ap;

        va_start(ap, v);
        update(m, OP_OBSERVE, v, ap);
        va_end(ap);
}

double sl_metric_get_(struct sl_metric *m, ...)
{
        const char *lv[SL_METRICS_MAX_LABELS];
        char *fixed[SL_METRICS_MAX_LABELS] = {NULL};
        double v = 0;
        va_list ap;

        if (!m)
                return 0;
        va_start(ap, m);
        pthread_mutex_lock(&reg_lock);
        if (read_labels(m, ap, lv)) {
                fix_labels(m->n_labels, lv, fixed);
                for (size_t i = 0; i < m->n_series; i++) {
                        const struct series *s = &m->series[i];
                        if (cmp_lv(s, lv, m->n_labels) == 0)
                                v = m->type == M_HISTOGRAM ? (double)s->count : s->value;
                }
                free_fixed(m->n_labels, fixed);
        }
        pthread_mutex_unlock(&reg_lock);
        va_end(ap);
        return v;
}

/*
 * Formats a sample value like Prometheus clients: shortest text that reads
 * back exactly, "+Inf", "-Inf", "NaN".
 */
static void fmt_double(double v, char out[32])
{
        if (isnan(v)) {
                snprintf(out, 32, "NaN");
        } else if (isinf(v)) {
                snprintf(out, 32, "%s", v > 0 ? "+Inf" : "-Inf");
        } else {
                /* %.15g is exact for most values people write (0.1, 2.5); else 17 digits. */
                snprintf(out, 32, "%.15g", v);
                if (strtod(out, NULL) != v)
                        snprintf(out, 32, "%.17g", v);
        }
}

/* Appends s escaped for a label value (\\, \", \n) or, if help, for HELP text (\\, \n). */
static int put_escaped(struct sl_buf *out, const char *s, bool help)
{
        int rc = 0;

        for (; rc == 0 && *s; s++) {
                if (*s == '\\')
                        rc = sl_buf_puts(out, "\\\\");
                else if (*s == '\n')
                        rc = sl_buf_puts(out, "\\n");
                else if (*s == '"' && !help)
                        rc = sl_buf_puts(out, "\\\"");
                else
                        rc = sl_buf_append(out, s, 1);
        }
        return rc;
}

/*
 * Appends "{a="x",b="y"}" for a series, plus le="..." when le is non-NULL;
 * nothing when there are no labels at all.
 */
static int put_labels(struct sl_buf *out, const struct sl_metric *m, const struct series *s,
                      const char *le)
{
        int rc = 0;

        if (m->n_labels == 0 && !le)
                return 0;
        rc = sl_buf_puts(out, "{");
        for (int i = 0; rc == 0 && i < m->n_labels; i++) {
                rc = sl_buf_printf(out, "%s%s=\"", i ? "," : "", m->labels[i]);
                if (rc == 0)
                        rc = put_escaped(out, s->lv[i], false);
                if (rc == 0)
                        rc = sl_buf_puts(out, "\"");
        }
        if (rc == 0 && le)
                rc = sl_buf_printf(out, "%sle=\"%s\"", m->n_labels ? "," : "", le);
        if (rc == 0)
                rc = sl_buf_puts(out, "}");
        return rc;
}

/* Appends "<name><suffix>{labels} <value>\n". */
static int put_sample(struct sl_buf *out, const struct sl_metric *m, const char *suffix,
                      const struct series *s, const char *le, double v)
{
        char num[32];
        int rc;

        fmt_double(v, num);
        rc = sl_buf_printf(out, "%s%s", m->name, suffix);
        if (rc == 0)
                rc = put_labels(out, m, s, le);
        if (rc == 0)
                rc = sl_buf_printf(out, " %s\n", num);
        return rc;
}

/* Appends the cumulative buckets, _sum and _count of one histogram series. */
static int put_histogram(struct sl_buf *out, const struct sl_metric *m, const struct series *s)
{
        uint64_t cum = 0;
        char le[32];
        int rc = 0;

        for (size_t b = 0; rc == 0 && b <= m->n_bounds; b++) {
                cum += s->buckets[b];
                if (b < m->n_bounds)
                        fmt_double(m->bounds[b], le);
                else
                        snprintf(le, sizeof(le), "+Inf");
                rc = put_sample(out, m, "_bucket", s, le, (double)cum);
        }
        if (rc == 0)
                rc = put_sample(out, m, "_sum", s, NULL, s->value);
        if (rc == 0)
                rc = put_sample(out, m, "_count", s, NULL, (double)s->count);
        return rc;
}

/* Appends one family: HELP and TYPE lines, then its series in label order. */
static int put_family(struct sl_buf *out, const struct sl_metric *m)
{
        int rc = sl_buf_printf(out, "# HELP %s%s", m->name, *m->help ? " " : "");

        if (rc == 0)
                rc = put_escaped(out, m->help, true);
        if (rc == 0)
                rc = sl_buf_printf(out, "\n# TYPE %s %s\n", m->name, type_names[m->type]);
        for (size_t i = 0; rc == 0 && i < m->n_series; i++) {
                if (m->type == M_HISTOGRAM)
                        rc = put_histogram(out, m, &m->series[i]);
                else
                        rc = put_sample(out, m, "", &m->series[i], NULL, m->series[i].value);
        }
        return rc;
}

int sl_metrics_render(struct sl_buf *out)
{
        int rc = 0;

        pthread_mutex_lock(&reg_lock);
        for (const struct sl_metric *m = reg_head; rc == 0 && m; m = m->next)
                rc = put_family(out, m);
        pthread_mutex_unlock(&reg_lock);
        return rc;
}

void sl_metrics_reset(void)
{
        pthread_mutex_lock(&reg_lock);
        while (reg_head) {
                struct sl_metric *m = reg_head;
                reg_head = m->next;
                metric_free(m);
        }
        memset(&std_metrics, 0, sizeof(std_metrics));
        std_ready = false;
        pthread_mutex_unlock(&reg_lock);
}

const struct sl_std_metrics *sl_metrics_std(void)
{
        const size_t nb = sizeof(default_bounds) / sizeof(default_bounds[0]);
        struct sl_std_metrics *sm = &std_metrics;

        /* Registered under one lock hold so two threads' first calls see one complete set. */
        pthread_mutex_lock(&reg_lock);
        if (!std_ready) {
                sm->events_consumed =
                    reg_locked(M_COUNTER, "sl_events_consumed_total",
                               "Events consumed from the bus, by event type.", "type", NULL, 0);
                sm->events_failed =
                    reg_locked(M_COUNTER, "sl_events_failed_total",
                               "Events whose handling failed, by reason.", "reason", NULL, 0);
                sm->idem_duplicates = reg_locked(
                    M_COUNTER, "sl_idem_duplicates_total",
                    "Events skipped because their idempotency key was done.", NULL, NULL, 0);
                sm->cb_state = reg_locked(M_GAUGE, "sl_cb_state",
                                          "Circuit breaker state per dependency "
                                          "(0 closed, 1 open, 2 half-open).",
                                          "dep", NULL, 0);
                sm->handler_seconds = reg_locked(M_HISTOGRAM, "sl_handler_duration_seconds",
                                                 "Event handler latency in seconds, by event type.",
                                                 "type", default_bounds, nb);
                std_ready = true;
        }
        pthread_mutex_unlock(&reg_lock);
        return sm;
}
