#ifndef SL_ERR_H
#define SL_ERR_H

/*
 * Error conventions (STYLE B5): functions return 0 or a negative errno.
 * Fixed meanings across statline:
 *   -EEXIST   idempotency key already done: ack and skip
 *   -EBUSY    circuit open: nothing was attempted, try later
 *   -EBADMSG  poison input: dead-letter it, never retry
 *   -EAGAIN   transient: retry later with backoff
 */

#include <stdbool.h>
#include <stddef.h>

/* Error classes as written into dead-letter context. */
enum sl_err_class {
        SL_ERR_TRANSIENT, /* may succeed if retried (timeouts, connection loss, -EAGAIN) */
        SL_ERR_PERMANENT, /* will never succeed for this input (-EBADMSG, -EINVAL on data) */
        SL_ERR_SYSTEM,    /* our side is broken (OOM, bug, config); retrying won't help */
};

/*
 * The one place that decides retry-with-backoff: true for errors that may go
 * away by themselves (-EAGAIN, -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET, -EBUSY, ...).
 */
bool sl_err_retriable(int rc);
/* Classifies a negative errno into an error class. */
enum sl_err_class sl_err_classify(int rc);
/* "TRANSIENT", "PERMANENT" or "SYSTEM". */
const char *sl_err_class_name(enum sl_err_class cls);
/*
 * Writes a printf-style reason into errstr (errstr_size bytes; truncation is
 * harmless, 0 writes nothing) and returns rc: `return sl_errf(errstr, n,
 * -EBADMSG, "payload.kind: %s", why);`.
 */
int sl_errf(char *errstr, size_t errstr_size, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Text for a negative (or positive) errno; a static string, never NULL. */
const char *sl_strerror(int rc);

#endif
