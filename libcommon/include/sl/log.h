#ifndef SL_LOG_H
#define SL_LOG_H

/*
 * Structured logging: one JSON object per line on stderr (or a chosen fd),
 * written with a single write(2) from a stack buffer, so lines from several
 * threads (librdkafka's own threads call in through log_cb) never interleave.
 *
 *   {"ts":"2026-11-23T17:28:24.123Z","level":"info","svc":"raw","event":"bus.consume.ok",
 *    "src":"libcommon/src/bus.c:88","correlation_id":"…","event_id":"…","msg":"…"}
 *
 * correlation_id and event_id come from the envelope set with
 * sl_log_set_event() on the calling thread and are omitted when unset.
 * Any string registered with sl_log_add_secret() is replaced by "***" in msg.
 */

#include <stdarg.h>

struct sl_envelope;

enum sl_log_level { SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR };

/*
 * Sets the service name and the minimum level. May be called again (tests).
 * Not thread-safe against concurrent emit: call before starting threads.
 */
void sl_log_init(const char *service, enum sl_log_level min_level);
/* Sends log lines to fd instead of stderr (2). Returns the previous fd. */
int sl_log_set_fd(int fd);
enum sl_log_level sl_log_get_level(void);
/* Parses "debug", "info", "warn" or "error". Returns 0 or -EINVAL. */
int sl_log_level_parse(const char *s, enum sl_log_level *out);

/*
 * Registers a secret (password, DSN, token) that must never appear in a log
 * line; the string is copied. Secrets shorter than 4 bytes are ignored (too
 * short to redact without mangling ordinary text). Thread-safe.
 */
void sl_log_add_secret(const char *secret);
/* Forgets all registered secrets (tests). */
void sl_log_clear_secrets(void);
/*
 * Replaces every registered secret in s (in place, NUL-terminated) by "***",
 * as log lines are; for text that leaves the process another way (a dead
 * letter's error header). Thread-safe.
 */
void sl_log_redact(char *s);

void sl_log_emit(enum sl_log_level lvl, const char *file, int line, const char *event,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void sl_log_vemit(enum sl_log_level lvl, const char *file, int line, const char *event,
                  const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

/*
 * Attaches the envelope's correlation_id, event_id and trace id to every line
 * logged by the calling thread until cleared with NULL. The ids are copied.
 */
void sl_log_set_event(const struct sl_envelope *env);

/* Async-signal-safe: writes a fixed message as a JSON line (redis serverLogFromHandler). */
void sl_log_from_handler(const char *event, const char *msg);

#define sl_log_debug(event, ...) sl_log_emit(SL_LOG_DEBUG, __FILE__, __LINE__, (event), __VA_ARGS__)
#define sl_log_info(event, ...)  sl_log_emit(SL_LOG_INFO, __FILE__, __LINE__, (event), __VA_ARGS__)
#define sl_log_warn(event, ...)  sl_log_emit(SL_LOG_WARN, __FILE__, __LINE__, (event), __VA_ARGS__)
#define sl_log_error(event, ...) sl_log_emit(SL_LOG_ERROR, __FILE__, __LINE__, (event), __VA_ARGS__)

#endif
