#ifndef SL_METRICS_H
#define SL_METRICS_H

/*
 * A tiny process-wide Prometheus registry: counters, gauges and histograms
 * with up to SL_METRICS_MAX_LABELS labels, rendered in the text exposition
 * format 0.0.4 by sl_metrics_render() (served on /metrics by sl/http.h).
 *
 *   struct sl_metric *m = sl_metrics_counter("sl_events_consumed_total",
 *                                            "Events consumed, by type.", "type");
 *   sl_metric_inc(m, env->type);
 *   sl_metric_observe(lat, 0.0042, env->type);   histogram, seconds
 *   sl_metric_set(state, 1, "redis");            gauge
 *
 * Label values are passed after the value, one per label name, in the order
 * the names were registered; the macros append an end marker so a wrong
 * count is detected (the update is dropped and logged once) instead of
 * reading garbage. A NULL label value is rendered as "". Label values are
 * cut to SL_METRICS_LABEL_MAX bytes and invalid UTF-8 is replaced by U+FFFD,
 * so one bad value cannot break the exposition.
 *
 * A metric is a family: one series per distinct tuple of label values,
 * created on first use, at most SL_METRICS_MAX_SERIES per family (updates
 * for further tuples are dropped and logged once: unbounded label values,
 * like ids, do not belong in labels).
 *
 * Threads: every function is thread-safe (one registry mutex). Updates cost
 * a lock plus a short linear search; fine for per-event use. Update functions
 * accept a NULL metric and do nothing, so code runs without metrics.
 */

#include <stdbool.h>
#include <stddef.h>

struct sl_buf;
struct sl_metric;

#define SL_METRICS_MAX_LABELS  4   /* label names per family */
#define SL_METRICS_MAX_SERIES  500 /* label-value tuples per family */
#define SL_METRICS_MAX_BUCKETS 32  /* histogram buckets, +Inf excluded */
#define SL_METRICS_NAME_MAX    128 /* bytes in a metric or label name */
#define SL_METRICS_LABEL_MAX   128 /* bytes of a label value; longer ones are cut */

/* Default histogram buckets, in seconds (handler latency). */
#define SL_METRICS_LATENCY_BUCKETS                                                                 \
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10

/*
 * Registers (or finds) a family. name must match [a-zA-Z_:][a-zA-Z0-9_:]*;
 * labels is NULL/"" or comma-separated label names ("type" or "topic,reason"),
 * each [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", and not "le" for
 * histograms. help is one line of text. Strings are copied.
 *
 * Registering the same name again returns the existing family if type and
 * labels match (so modules need not share handles); a mismatch or a bad
 * name is a programmer error: it is logged and NULL is returned.
 * The returned family is owned by the registry and valid until
 * sl_metrics_reset().
 */
struct sl_metric *sl_metrics_counter(const char *name, const char *help, const char *labels);
struct sl_metric *sl_metrics_gauge(const char *name, const char *help, const char *labels);
/*
 * Histogram with n_buckets strictly increasing finite upper bounds (the +Inf
 * bucket is implicit). buckets NULL means SL_METRICS_LATENCY_BUCKETS.
 */
struct sl_metric *sl_metrics_histogram(const char *name, const char *help, const char *labels,
                                       const double *buckets, size_t n_buckets);

/* End marker appended to label lists by the macros below. */
extern const char sl_metric_end_[];

/*
 * Adds v (>= 0 for counters; negative adds are dropped) to a counter or
 * gauge. Use through sl_metric_add(m, v, label values...).
 */
void sl_metric_add_(struct sl_metric *m, double v, ...);
/* Adds 1 to a counter or gauge. Use through sl_metric_inc(m, label values...). */
void sl_metric_inc_(struct sl_metric *m, ...);
/* Sets a gauge. Use through sl_metric_set(m, v, label values...). */
void sl_metric_set_(struct sl_metric *m, double v, ...);
/* Records one observation in a histogram. Use through sl_metric_observe(m, v, labels...). */
void sl_metric_observe_(struct sl_metric *m, double v, ...);
/*
 * Returns the current value of a counter or gauge series, or the count of
 * a histogram series; 0 if the series does not exist (tests, benches).
 */
double sl_metric_get_(struct sl_metric *m, ...);

#define sl_metric_add(m, ...)     sl_metric_add_((m), __VA_ARGS__, sl_metric_end_)
#define sl_metric_set(m, ...)     sl_metric_set_((m), __VA_ARGS__, sl_metric_end_)
#define sl_metric_observe(m, ...) sl_metric_observe_((m), __VA_ARGS__, sl_metric_end_)
/* sl_metric_inc(m) or sl_metric_inc(m, "label value", ...): adds 1. */
#define sl_metric_inc(...) sl_metric_inc_(__VA_ARGS__, sl_metric_end_)
#define sl_metric_get(...) sl_metric_get_(__VA_ARGS__, sl_metric_end_)

/*
 * Appends every family, sorted by name, in the Prometheus text format:
 * "# HELP", "# TYPE", then one line per series sorted by label values;
 * histograms as cumulative name_bucket{...,le="..."}, name_sum, name_count.
 * A family without labels always shows a series (0 until updated).
 * Returns 0, or -E2BIG when out's cap is reached (out then holds a prefix).
 */
int sl_metrics_render(struct sl_buf *out);

/* Frees every family; previously returned handles become invalid (tests). */
void sl_metrics_reset(void);

/*
 * The standard statline metrics (STYLE B9), registered on first call. The
 * bus, breakers and idempotency layer update these; services may too.
 * Owned by the registry; valid until sl_metrics_reset().
 */
struct sl_std_metrics {
        struct sl_metric *events_consumed; /* counter sl_events_consumed_total{type} */
        struct sl_metric *events_failed;   /* counter sl_events_failed_total{reason} */
        struct sl_metric *idem_duplicates; /* counter sl_idem_duplicates_total */
        struct sl_metric *cb_state; /* gauge sl_cb_state{dep}: 0 closed, 1 open, 2 half-open */
        struct sl_metric *handler_seconds; /* histogram sl_handler_duration_seconds{type} */
};
const struct sl_std_metrics *sl_metrics_std(void);

#endif
