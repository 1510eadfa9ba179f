#ifndef BACKFILL_TRACK_H
#define BACKFILL_TRACK_H

/*
 * Following one pipeline run by its correlation id, shared by
 * statline-backfill and statline-scheduler (tools/backfill/README.md):
 * publishing a scrape.requested trigger, reading how far the run got from
 * ops.scrape_runs, ops.scraper_execution_log, ops.outbox and
 * ops.pipeline_execution_log, and deciding whether it is still going, done
 * or failed. The decision (track_verdict) is pure so unit tests need no
 * database.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_bus;
struct sl_pg;

/* What the database says about a run. */
struct track_status {
        char scrape[16]; /* ops.scrape_runs status of our trigger; "" = not started yet */
        char scrape_error[256];
        int games, games_final; /* from the scoreboard (scrape_runs) */
        int stored;             /* new documents = scraper.completed events */
        int64_t pending;        /* events published but not handled by the next phase */
        char reached[16];       /* last phase with a completed/skipped row, "" = none */
        bool published;         /* a publishing row completed/skipped */
        int unresolved;         /* failed execution-log rows never retried to completion */
        char failures[256];     /* "phase/processor: error" of the first unresolved ones */
        char skips[256];        /* skip reasons at the phase reached */
};

enum track_state {
        TRACK_RUNNING, /* scrape not finished, or events still in flight */
        TRACK_DONE,    /* settled; note says how far it went */
        TRACK_FAILED,  /* settled with a failure; note says why */
        TRACK_ABORTED, /* the scraper stopped mid-run: trigger again */
};

/*
 * Reads the state of the run correlation_id whose scrape was started by
 * trigger_event_id (both UUID text) into st. Returns 0 or the sl_pg errno
 * with the reason in errstr.
 */
int track_query(struct sl_pg *pg, const char *correlation_id, const char *trigger_event_id,
                struct track_status *st, char *errstr, size_t errstr_size);

/*
 * Decides from st: RUNNING while the scrape has not finished or events are
 * pending; FAILED when the scrape failed or an execution-log failure was
 * never retried to completion; ABORTED when the scraper stopped mid-run;
 * DONE otherwise. Writes a one-line explanation into note. Pure.
 */
enum track_state track_verdict(const struct track_status *st, char *note, size_t note_size);

/* Options of a trigger. */
struct track_trigger {
        const char *topic;          /* <prefix>.<sport>.scrape.requested */
        const char *sport;          /* "nba" */
        const char *date;           /* YYYY-MM-DD */
        const char *sources;        /* families, NULL or "" = the scraper's default */
        const char *requested_by;   /* "statline-backfill" ... */
        const char *phase;          /* envelope phase: "backfill" or "ops" */
        const char *correlation_id; /* NULL or "": a new one */
        int64_t timeout_ms;         /* broker confirmation */
};

/*
 * Publishes one scrape.requested event and waits for the broker to confirm
 * it. Writes the event id and the correlation id used (37 bytes each).
 * Returns 0 or a negative errno with the reason in errstr.
 */
int track_publish_trigger(struct sl_bus *bus, const struct track_trigger *t, char event_id[37],
                          char correlation_id[37], char *errstr, size_t errstr_size);

/* "<prefix>.<sport>.scrape.requested" into out; 0 or -ENAMETOOLONG. */
int track_trigger_topic(char *out, size_t out_size, const char *prefix, const char *sport);

#endif
