/*
 * The service runtime end to end on the in-process bus: config errors exit
 * 78, --help-config exits 0, and a service consumes, handles and drains.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#include "bus_int.h"
#include <sl/envelope.h>
#include <sl/log.h>
#include <sl/svc.h>
#include <sl/util.h>

#include "sl_test.h"

struct demo {
        int handled;
        int ticks;
        bool inited, finished;
        char last_type[64];
};

static struct sl_svc_cfg cfg;
static const struct sl_cfg_opt opts[] = {
    SL_SVC_OPTS(&cfg),
    SL_CFG_END,
};

static int64_t slow_ms; /* each handler call takes this long */

static int on_event(const struct sl_envelope *env, const struct sl_bus_msg *msg, void *opaque)
{
        struct demo *d = opaque;

        (void)msg;
        snprintf(d->last_type, sizeof(d->last_type), "%s", env->type);
        if (slow_ms > 0)
                sl_sleep_ms(slow_ms, NULL); /* a handler that runs long (watchdog tests) */
        d->handled++;
        return 0;
}

static int init(struct sl_svc *svc, void *opaque, char *errstr, size_t n)
{
        struct demo *d = opaque;

        (void)errstr;
        (void)n;
        d->inited = sl_svc_bus(svc) != NULL && sl_svc_http(svc) != NULL;
        return 0;
}

/* First tick publishes three scraper events; once all are handled, stop as SIGTERM would. */
static int tick(struct sl_svc *svc, void *opaque)
{
        struct demo *d = opaque;

        if (d->ticks++ == 0) {
                for (int i = 0; i < 3; i++) {
                        struct sl_envelope *env = sl_envelope_new("scraper.completed", "scraper",
                                                                  "nba", "2025-11-05", NULL);
                        sl_bus_publish(sl_svc_bus(svc), "statline.nba.scraper.completed", env);
                        sl_envelope_free(env);
                }
        }
        if (d->handled == 3 || d->ticks > 1000)
                sl_svc_request_stop(svc);
        return 0;
}

static void fini(struct sl_svc *svc, void *opaque)
{
        struct demo *d = opaque;

        d->finished = sl_svc_stopping(svc);
}

static int run(struct demo *d, int argc, char **argv)
{
        struct sl_svc_def def = {.name = "raw",
                                 .consumes = "scraper",
                                 .opts = opts,
                                 .cfg = &cfg,
                                 .ctx = d,
                                 .init = init,
                                 .handler = on_event,
                                 .tick = tick,
                                 .fini = fini,
                                 .usage = "test service"};
        return sl_svc_main(&def, argc, argv);
}

/* Runs with stdout sent to /dev/null: --help-config output is not TAP. */
static int run_quiet(struct demo *d, int argc, char **argv)
{
        int saved, null_fd, rc;

        fflush(stdout);
        saved = dup(1);
        null_fd = open("/dev/null", O_WRONLY);
        dup2(null_fd, 1);
        close(null_fd);
        rc = run(d, argc, argv);
        fflush(stdout);
        dup2(saved, 1);
        close(saved);
        return rc;
}

static void test_split(void)
{
        const char *items[4];
        char buf[64];

        SL_CHECK(sl_svc_split_list("nba", buf, sizeof(buf), items, 4) == 1 &&
                 strcmp(items[0], "nba") == 0);
        SL_CHECK(sl_svc_split_list(" nba , nhl ", buf, sizeof(buf), items, 4) == 2 &&
                 strcmp(items[1], "nhl") == 0);
        SL_CHECK(sl_svc_split_list("nba,,nhl", buf, sizeof(buf), items, 4) == -EINVAL);
        SL_CHECK(sl_svc_split_list("", buf, sizeof(buf), items, 4) == -EINVAL);
        SL_CHECK(sl_svc_split_list("a,b,c,d,e", buf, sizeof(buf), items, 4) == -EINVAL);
}

/*
 * Runs the service in a child with handler.timeout_ms = timeout and handlers
 * taking slow ms; returns the child's exit code and its log in log (n bytes).
 */
static int run_watched(int64_t slow, int timeout, char *log, size_t n)
{
        char tmpl[] = "/tmp/sl-test-svc-XXXXXX", set[64];
        char *argv[] = {"statline-raw", "--set", "bus.backend=mem", "--set", "poll.timeout_ms=1",
                        "--set",        set};
        int fd = mkstemp(tmpl), status = 0;
        ssize_t got;
        pid_t pid;

        if (fd < 0)
                return -1;
        unlink(tmpl);
        snprintf(set, sizeof(set), "handler.timeout_ms=%d", timeout);
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
                struct demo d = {0};
                slow_ms = slow;
                unsetenv("PGOPTIONS"); /* the run in main() set it in this process */
                sl_log_set_fd(fd);
                int rc = run(&d, 7, argv);
                const char *pgo = getenv("PGOPTIONS");
                char line[160];
                int len = snprintf(line, sizeof(line), "\nPGOPTIONS=[%s] handled=%d\n",
                                   pgo ? pgo : "", d.handled);
                if (write(fd, line, (size_t)len) < 0)
                        _exit(99);
                _exit(rc);
        }
        waitpid(pid, &status, 0);
        got = pread(fd, log, n - 1, 0);
        log[got > 0 ? got : 0] = '\0';
        close(fd);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The handler watchdog: past the timeout logged and 503, past twice it exit 70 without ack. */
static void test_watchdog(void)
{
        static char log[65536];
        int rc;

        /* 300 ms handlers, timeout 200 ms: flagged each time, all three handled, exit 0 */
        rc = run_watched(300, 200, log, sizeof(log));
        SL_CHECKF(rc == 0, "exit %d", rc);
        SL_CHECK(strstr(log, "\"event\":\"svc.handler.timeout\"") != NULL);
        SL_CHECK(strstr(log, "svc.handler.timeout.end") != NULL);
        SL_CHECK(strstr(log, "svc.handler.timeout.exit") == NULL);
        SL_CHECK(strstr(log, "PGOPTIONS=[-c statement_timeout=200] handled=3") != NULL);
        /* 1000 ms handler, timeout 100 ms: the process exits 70 mid-call, nothing handled */
        rc = run_watched(1000, 100, log, sizeof(log));
        SL_CHECKF(rc == 70, "exit %d", rc);
        SL_CHECK(strstr(log, "\"event\":\"svc.handler.timeout\"") != NULL);
        SL_CHECK(strstr(log, "svc.handler.timeout.exit") != NULL);
        SL_CHECK(strstr(log, "statline.nba.scraper.completed") != NULL); /* the topic is named */
        /* timeout 0: no watchdog, no statement_timeout */
        rc = run_watched(50, 0, log, sizeof(log));
        SL_CHECKF(rc == 0, "exit %d", rc);
        SL_CHECK(strstr(log, "svc.handler.timeout") == NULL);
        SL_CHECKF(strstr(log, "PGOPTIONS=[] handled=3") != NULL, "%s",
                  strstr(log, "PGOPTIONS") ? strstr(log, "PGOPTIONS") : "none");
}

int main(void)
{
        struct demo d = {0};
        char *bad_attempts[] = {"statline-raw", "--set", "bus.backend=mem", "--set",
                                "retry.attempts=0"};
        char *bad_sports[] = {"statline-raw", "--set", "bus.backend=mem", "--set",
                              "sports=nba,,nhl"};
        char *bad_delays[] = {"statline-raw", "--set", "bus.backend=mem", "--set",
                              "retry.delays_ms=2s"};
        char *help_config[] = {"statline-raw", "--help-config"};
        char *bad_not_ready[] = {"statline-raw", "--set", "bus.backend=mem", "--set",
                                 "retry.not_ready_delays_ms=5000,,1"};
        char *ok[] = {"statline-raw",      "--set", "bus.backend=mem", "--set",
                      "poll.timeout_ms=1", "--set", "log.level=error"};

        test_split();
        SL_CHECK(run(&d, 5, bad_attempts) == 78);
        SL_CHECK(run(&d, 5, bad_sports) == 78);
        SL_CHECK(run(&d, 5, bad_delays) == 78);
        SL_CHECK(run(&d, 5, bad_not_ready) == 78);
        SL_CHECK(run_quiet(&d, 2, help_config) == 0);
        SL_CHECK(!d.inited); /* none of those got as far as init */
        SL_CHECK(run(&d, 7, ok) == 0);
        SL_CHECK(d.inited && d.finished);
        SL_CHECKF(d.handled == 3, "handled=%d", d.handled);
        SL_CHECK(strcmp(d.last_type, "scraper.completed") == 0);
        sl_bus_mem_reset();
        test_watchdog();
        return SL_DONE();
}
