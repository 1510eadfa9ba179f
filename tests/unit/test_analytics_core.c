/*
 * statline-analytics core without I/O: the trigger registry (fan-out and
 * smart skip), the raw.completed reader (tables, entities, poison), the
 * dependency evaluation (critical vs optional, WARN/FAIL staleness), the
 * idempotency key and the analytics.completed envelope. The SQL itself is
 * exercised against PostgreSQL by tests/integration/analytics_service.sh.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include <sl/envelope.h>

#include "analytics.h"
#include "sl_test.h"

#define NP 5

static struct sl_envelope *raw_event(const char *tables_json, const char *date)
{
        struct sl_envelope *env = sl_envelope_new("raw.completed", "raw", "nba", date, NULL);
        cJSON *p = cJSON_Parse(tables_json);

        sl_envelope_set_payload(env, p);
        return env;
}

static void test_registry(void)
{
        bool want[NP];
        const char *box[] = {"raw.player_boxscores", "raw.team_boxscores"};
        const char *inj[] = {"raw.injuries"};
        const char *other[] = {"raw.league_game_log", "raw.play_by_play"};
        const char *mixed[] = {"raw.games", "raw.schedule"};

        SL_CHECK(analytics_processor_at(NP - 1) != NULL && analytics_processor_at(NP) == NULL);
        SL_CHECK(analytics_processor_find("player_game_summary") != NULL);
        SL_CHECK(analytics_processor_find("nope") == NULL);
        /* box scores fan out to the three game summaries, not to the upcoming contexts */
        SL_CHECK(analytics_route(box, 2, want, NP) == 3);
        SL_CHECK(want[0] && want[1] && want[2] && !want[3] && !want[4]);
        /* an injury update triggers only the upcoming contexts */
        SL_CHECK(analytics_route(inj, 1, want, NP) == 2);
        SL_CHECK(!want[0] && !want[1] && !want[2] && want[3] && want[4]);
        /* smart skip: tables no processor reads trigger nothing */
        SL_CHECK(analytics_route(other, 2, want, NP) == 0);
        SL_CHECK(analytics_route(mixed, 2, want, NP) == 5);
        /* every processor lists at least one critical dependency, and every trigger is a raw table
         */
        for (size_t i = 0; i < NP; i++) {
                const struct analytics_processor *p = analytics_processor_at(i);
                bool critical = false;
                for (size_t d = 0; d < ANALYTICS_MAX_DEPS && p->deps[d].table; d++)
                        critical |= p->deps[d].critical;
                SL_CHECKF(critical, "%s", p->name);
                SL_CHECK(strncmp(p->triggers[0], "raw.", 4) == 0);
                SL_CHECK(strstr(p->sql, p->target) != NULL);
                SL_CHECK(strstr(p->sql, "ON CONFLICT") != NULL && strstr(p->sql, "$4") != NULL &&
                         strstr(p->sql, "$3") != NULL);
        }
        /* the brief's example: player_game_summary needs box scores + games, injuries optional */
        const struct analytics_processor *pgs = analytics_processor_find("player_game_summary");
        SL_CHECK(strcmp(pgs->deps[0].table, "raw.player_boxscores") == 0 && pgs->deps[0].critical);
        SL_CHECK(strcmp(pgs->deps[1].table, "raw.games") == 0 && pgs->deps[1].critical);
        SL_CHECK(strcmp(pgs->deps[2].table, "raw.injuries") == 0 && !pgs->deps[2].critical);
}

static void test_event_parse(void)
{
        struct analytics_event ev;
        char err[256];
        struct sl_envelope *env;

        env = raw_event("{\"tables\":[{\"table\":\"raw.player_boxscores\",\"rows\":19},"
                        "{\"name\":\"raw.team_boxscores\"}],\"source_blob_sha256\":\"abc\"}",
                        "2016-11-30");
        sl_envelope_add_entity(env, "game", "0021600270");
        sl_envelope_add_entity(env, "player", "201566");
        sl_envelope_add_entity(env, "player", "203500");
        sl_envelope_add_entity(env, "team", "1610612760");
        sl_envelope_add_entity(env, "arena", "x y"); /* other kinds are ignored */
        SL_CHECK(analytics_event_parse(env, &ev, err, sizeof(err)) == 0);
        SL_CHECK(ev.ntables == 2 && strcmp(ev.tables[1], "raw.team_boxscores") == 0);
        SL_CHECK(strcmp(ev.upstream, "abc") == 0);
        SL_CHECK(strcmp(ev.game_date, "2016-11-30") == 0);
        SL_CHECK(ev.games.literal && strcmp(ev.games.literal, "{0021600270}") == 0);
        SL_CHECKF(ev.players.literal && strcmp(ev.players.literal, "{201566,203500}") == 0, "%s",
                  ev.players.literal);
        SL_CHECK(ev.teams.n == 1 && strcmp(ev.teams.literal, "{1610612760}") == 0);
        analytics_event_fini(&ev);
        sl_envelope_free(env);

        /* poison: no tables array, a table without a name, an id that is not an id */
        env = raw_event("{\"kind\":\"boxscore\"}", "2016-11-30");
        SL_CHECK(analytics_event_parse(env, &ev, err, sizeof(err)) == -EBADMSG);
        SL_CHECK(strstr(err, "tables") != NULL);
        analytics_event_fini(&ev);
        sl_envelope_free(env);
        env = raw_event("{\"tables\":[{\"rows\":1}]}", "2016-11-30");
        SL_CHECK(analytics_event_parse(env, &ev, err, sizeof(err)) == -EBADMSG);
        analytics_event_fini(&ev);
        sl_envelope_free(env);
        env = raw_event("{\"tables\":[{\"name\":\"raw.games\"}]}", "2016-11-30");
        sl_envelope_add_entity(env, "player", "1,2}");
        SL_CHECK(analytics_event_parse(env, &ev, err, sizeof(err)) == -EBADMSG);
        SL_CHECK(strstr(err, "player") != NULL);
        analytics_event_fini(&ev);
        sl_envelope_free(env);
        env = raw_event("{\"tables\":[{\"name\":\"raw.games\"}]}", "2016-11-30");
        sl_envelope_add_entity(env, "game", "123");
        SL_CHECK(analytics_event_parse(env, &ev, err, sizeof(err)) == -EBADMSG);
        analytics_event_fini(&ev);
        sl_envelope_free(env);
}

static void test_deps(void)
{
        const struct analytics_processor *pgs = analytics_processor_find("player_game_summary");
        struct analytics_dep_result res;
        struct analytics_dep_obs ok[3] = {{10, 5}, {1, 5}, {3, 5}};
        struct analytics_dep_obs no_inj[3] = {{10, 5}, {1, 5}, {0, 0}};
        struct analytics_dep_obs no_games[3] = {{10, 5}, {0, 0}, {3, 5}};
        struct analytics_dep_obs warn[3] = {{10, 200}, {1, 5}, {3, 5}};
        struct analytics_dep_obs fail_crit[3] = {{10, 2000}, {1, 5}, {3, 5}};
        struct analytics_dep_obs fail_opt[3] = {{10, 5}, {1, 5}, {3, 2000}};

        analytics_deps_eval(pgs, ok, 100, 1000, &res);
        SL_CHECK(res.met && res.nmissing == 0 && strcmp(res.missing, "{}") == 0);
        /* optional missing: still met, but recorded */
        analytics_deps_eval(pgs, no_inj, 100, 1000, &res);
        SL_CHECKF(res.met && strcmp(res.missing, "{\"raw.injuries\"}") == 0, "%s", res.missing);
        /* critical missing: not met */
        analytics_deps_eval(pgs, no_games, 100, 1000, &res);
        SL_CHECK(!res.met && strcmp(res.critical_missing, "raw.games") == 0);
        SL_CHECK(strcmp(res.missing, "{\"raw.games\"}") == 0);
        /* WARN-stale: met, noted */
        analytics_deps_eval(pgs, warn, 100, 1000, &res);
        SL_CHECKF(res.met && strcmp(res.missing, "{\"raw.player_boxscores (stale 200 s)\"}") == 0,
                  "%s", res.missing);
        /* FAIL-stale critical: not met; FAIL-stale optional: met */
        analytics_deps_eval(pgs, fail_crit, 100, 1000, &res);
        SL_CHECK(!res.met && strstr(res.critical_missing, "raw.player_boxscores (stale)"));
        analytics_deps_eval(pgs, fail_opt, 100, 1000, &res);
        SL_CHECK(res.met && res.nmissing == 1);
}

static void test_idem_and_event(void)
{
        struct analytics_event ev;
        char err[256], k1[128], k2[128], k3[128];
        bool want[NP] = {true, true, true, false, false};
        struct sl_envelope *env, *out;

        env = raw_event("{\"tables\":[{\"name\":\"raw.team_boxscores\"}],\"blob_sha256\":\"s1\"}",
                        "2016-11-30");
        sl_envelope_add_entity(env, "game", "0021600270");
        SL_CHECK(analytics_event_parse(env, &ev, err, sizeof(err)) == 0);
        SL_CHECK(analytics_idem_key(k1, sizeof(k1), "nba", &ev, want, NP) == 0);
        SL_CHECK(analytics_idem_key(k2, sizeof(k2), "nba", &ev, want, NP) == 0);
        SL_CHECK(strcmp(k1, k2) == 0 && strncmp(k1, "analytics:nba:2016-11-30:", 25) == 0);
        SL_CHECK(strlen(k1) == 25 + 16);
        ev.upstream = "s2"; /* another data version: another key */
        SL_CHECK(analytics_idem_key(k3, sizeof(k3), "nba", &ev, want, NP) == 0 &&
                 strcmp(k1, k3) != 0);
        ev.upstream = "s1";
        want[2] = false; /* another processor set: another key */
        SL_CHECK(analytics_idem_key(k3, sizeof(k3), "nba", &ev, want, NP) == 0 &&
                 strcmp(k1, k3) != 0);
        SL_CHECK(analytics_idem_key(k3, 10, "nba", &ev, want, NP) == -ENAMETOOLONG);

        struct analytics_proc_result res[2] = {
            {analytics_processor_find("team_offense_game_summary"), 2, 0},
            {analytics_processor_find("team_defense_game_summary"), 1, 1}};
        const char *kinds[] = {"game", "team"}, *ids[] = {"0021600270", "1610612760"};
        out = analytics_completed_new(env, k1, "2016-11-30", res, 2, kinds, ids, 2);
        SL_CHECK(out != NULL);
        if (out) {
                char *s = cJSON_PrintUnformatted(out->payload);
                SL_CHECKF(strcmp(s, "{\"processors\":[{\"name\":\"team_offense_game_summary\","
                                    "\"rows\":2,\"inserted\":2,\"updated\":0},{\"name\":"
                                    "\"team_defense_game_summary\",\"rows\":2,\"inserted\":1,"
                                    "\"updated\":1}],\"game_date\":\"2016-11-30\",\"rows\":4,"
                                    "\"processor\":\"analytics\",\"tables\":[{\"table\":"
                                    "\"analytics.team_offense_game_summary\",\"rows\":2},{"
                                    "\"table\":\"analytics.team_defense_game_summary\","
                                    "\"rows\":2}],\"entities\":{\"games\":1,\"players\":0,"
                                    "\"teams\":1}}") == 0,
                          "%s", s);
                free(s);
                SL_CHECK(strcmp(out->type, "analytics.completed") == 0);
                SL_CHECK(strcmp(out->correlation_id, env->correlation_id) == 0);
                SL_CHECK(strcmp(out->causation_id, env->event_id) == 0);
                SL_CHECK(strncmp(out->traceparent + 3, env->traceparent + 3, 32) == 0);
                SL_CHECK(out->n_entities == 2 && strcmp(out->idempotency_key, k1) == 0);
                sl_envelope_free(out);
        }
        SL_CHECK(analytics_completed_new(env, NULL, "", res, 0, NULL, NULL, 0) == NULL);
        analytics_event_fini(&ev);
        sl_envelope_free(env);
}

/* Coalescing: which events may be batched, and a batch row's processor list read back. */
static void test_coalesce(void)
{
        struct analytics_cfg cfg;
        struct sl_envelope *dated, *undated;
        bool want[NP];
        char lit[256];

        memset(&cfg, 0, sizeof(cfg));
        dated = raw_event("{\"tables\":[]}", "2024-01-10");
        undated = raw_event("{\"tables\":[]}", NULL);
        SL_CHECK(!analytics_coalesce_eligible(&cfg, dated)); /* window 0: off */
        cfg.coalesce_window_ms = 300;
        SL_CHECK(analytics_coalesce_eligible(&cfg, dated));
        SL_CHECK(!analytics_coalesce_eligible(&cfg, undated)); /* no date: the normal way */
        dated->correlation_id[0] = '\0';
        SL_CHECK(!analytics_coalesce_eligible(&cfg, dated)); /* no correlation id */
        sl_envelope_free(dated);
        sl_envelope_free(undated);

        /* names in any order, a repeat counted once; want[] in registry order */
        snprintf(lit, sizeof(lit), "{%s,%s,%s}", analytics_processor_at(3)->name,
                 analytics_processor_at(0)->name, analytics_processor_at(3)->name);
        SL_CHECK(analytics_want_from_names("nba", lit, want, NP) == 2);
        SL_CHECK(want[0] && !want[1] && !want[2] && want[3] && !want[4]);
        SL_CHECK(analytics_want_from_names("nba", "{}", want, NP) == 0 && !want[0] && !want[3]);
        SL_CHECK(analytics_want_from_names("nba", "{player_game_summary,nope}", want, NP) ==
                 -EINVAL);
        SL_CHECK(analytics_want_from_names("nba", "player_game_summary", want, NP) == -EINVAL);
        SL_CHECK(analytics_want_from_names("nba", "{player_game_summ}", want, NP) == -EINVAL);
        SL_CHECK(analytics_want_from_names("nba", NULL, want, NP) == -EINVAL);
        /* an NHL name is not in the NBA registry */
        SL_CHECK(analytics_want_from_names("nba", "{nhl_team_game_stats}", want, NP) == -EINVAL);
        SL_CHECK(analytics_want_from_names("nhl", "{nhl_team_game_stats}", want, 2) == 1 &&
                 want[0]);
}

int main(void)
{
        test_registry();
        test_event_parse();
        test_deps();
        test_idem_and_event();
        test_coalesce();
        return SL_DONE();
}
