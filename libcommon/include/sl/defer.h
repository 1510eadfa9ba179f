#ifndef SL_DEFER_H
#define SL_DEFER_H

/*
 * Parked "not ready yet" messages (SL_BUS_NOT_READY, sl/bus.h) in
 * PostgreSQL, table ops.deferred_events (db/migrations/0016_deferred.sql):
 * one row per (consumer group, topic, event id) with the original message
 * bytes, when it is due again, how often it waited, when it was first parked
 * and why. The service runtime (sl/svc.h) parks a message here in one
 * statement and then acks it on the bus; its loop claims due rows
 * (sl_defer_claim), runs them through the handler again (sl_bus_dispatch)
 * and deletes a row once its message is done (sl_defer_forget). A crash at
 * any point loses nothing: an unacked message is redelivered and parked again
 * (same row), a claimed row becomes due again when its lease ends, and a row
 * handled but not yet deleted is handled again as a duplicate. Times are the
 * caller's wall clock (ms since the epoch) except the claim, which compares
 * due_at with the server's now().
 */

#include <stddef.h>
#include <stdint.h>

#include <sl/retry.h>

struct sl_pg;
struct sl_bus_msg;

/*
 * Parks msg (event event_id, found not ready because of reason) for
 * consumer group group of service service at now_ms: a new row, or the
 * existing one with waits + 1 and first_seen kept. Returns 0, -ETIME when
 * the message has waited opts->max_ms already (nothing written; "dependency
 * not ready after N s: <reason>" in why, why_size bytes), -EINVAL for bytes
 * that cannot be stored (a NUL inside), or a PostgreSQL error (errstr).
 */
int sl_defer_park(struct sl_pg *pg, const char *group, const char *service,
                  const struct sl_not_ready_opts *opts, const struct sl_bus_msg *msg,
                  const char *event_id, const char *reason, int64_t now_ms, char *why,
                  size_t why_size, char *errstr, size_t errstr_size);

/* A claimed row. Strings owned by the row until sl_defer_row_fini(). */
struct sl_defer_row {
        char *topic, *event_id, *key; /* key may be NULL */
        char *data;                   /* the message bytes, NUL-terminated */
        size_t len;
        int waits;
        int64_t first_ms;
        char *reason;
};

/*
 * Claims the due row of group with the oldest due_at (FOR UPDATE SKIP LOCKED,
 * so replicas never claim the same row) and moves its due_at lease_ms ahead:
 * if this process dies before it forgets or re-parks it, the row is due again
 * then. Returns 1 (row filled), 0 (nothing due) or a PostgreSQL error.
 */
int sl_defer_claim(struct sl_pg *pg, const char *group, int64_t lease_ms, struct sl_defer_row *row,
                   char *errstr, size_t errstr_size);

/* Frees the row's strings (a zeroed row is fine). */
void sl_defer_row_fini(struct sl_defer_row *row);

/* Deletes the row of (group, topic, event_id), if any. Returns 0 or a PostgreSQL error. */
int sl_defer_forget(struct sl_pg *pg, const char *group, const char *topic, const char *event_id,
                    char *errstr, size_t errstr_size);

/* Makes the row due again in delay_ms (a claimed row that had to wait). 0 or an error. */
int sl_defer_release(struct sl_pg *pg, const char *group, const char *topic, const char *event_id,
                     int64_t delay_ms, char *errstr, size_t errstr_size);

/* Rows parked for group (for metrics and tests). >= 0, or a PostgreSQL error. */
int64_t sl_defer_count(struct sl_pg *pg, const char *group, char *errstr, size_t errstr_size);

#endif
