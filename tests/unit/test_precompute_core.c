/*
 * The pure parts of statline-precompute (services/precompute/precompute.c):
 * date checks, the analytics.completed request (date, player filter,
 * upstream identity), the idempotency key, the feature list and its SQL,
 * the cache of what committed runs computed from (pc_seen_*).
 * No database: the SQL itself runs in tests/integration/precompute_service.sh.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include <sl/envelope.h>

#include "precompute.h"
#include "sl_test.h"

/* An analytics.completed envelope for date (may be NULL) with a payload date (may be NULL). */
static struct sl_envelope *event(const char *env_date, const char *payload_date)
{
        struct sl_envelope *env =
            sl_envelope_new("analytics.completed", "analytics", "nba", env_date, NULL);
        cJSON *p = cJSON_CreateObject();

        if (payload_date)
                cJSON_AddStringToObject(p, "game_date", payload_date);
        cJSON_AddItemToObject(p, "processors", cJSON_CreateArray());
        sl_envelope_set_payload(env, p);
        return env;
}

static void test_dates(void)
{
        SL_CHECK(pc_date_ok("2024-12-01"));
        SL_CHECK(pc_date_ok("2024-02-29"));
        SL_CHECK(!pc_date_ok("2023-02-29"));
        SL_CHECK(!pc_date_ok("2024-13-01"));
        SL_CHECK(!pc_date_ok("2024-1-01"));
        SL_CHECK(!pc_date_ok("2024-01-01x"));
        SL_CHECK(!pc_date_ok(""));
        SL_CHECK(!pc_date_ok(NULL));
}

static void test_features(void)
{
        size_t n;
        const char *const *names = pc_feature_names(&n);
        char *lit = pc_feature_names_literal();
        const char *sql = pc_feature_sql();
        bool unique = true, in_sql = true, ident = true;

        SL_CHECKF(n == 31, "%zu features", n);
        for (size_t i = 0; i < n; i++) {
                char quoted[80];
                for (size_t j = 0; j < i; j++)
                        if (strcmp(names[i], names[j]) == 0)
                                unique = false;
                snprintf(quoted, sizeof(quoted), "'%s'", names[i]);
                if (!strstr(sql, quoted)) { /* the SQL must produce a value of that name */
                        in_sql = false;
                        printf("# feature %s: not in the feature SQL\n", names[i]);
                }
                for (const char *c = names[i]; *c; c++)
                        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
                                ident = false;
        }
        SL_CHECK(unique);
        SL_CHECK(in_sql);
        SL_CHECK(ident);
        SL_CHECK(strncmp(lit, "{pts_avg_last_5,pts_avg_last_10,", 32) == 0);
        SL_CHECK(lit[strlen(lit) - 1] == '}');
        SL_CHECK(strcmp(PC_FEATURE_VERSION, "v1") == 0);
        free(lit);
        SL_CHECK(strcmp(pc_processor_name(0), "player_daily_cache") == 0);
        SL_CHECK(strcmp(pc_processor_name(PC_NPROCESSORS - 1), "ml_feature_store") == 0);
        SL_CHECK(pc_processor_name(PC_NPROCESSORS) == NULL);
}

/* Every history read in the feature SQL is bounded by the as-of date (a cheap leakage guard). */
static void test_no_future_reads(void)
{
        const char *sql = pc_feature_sql();

        SL_CHECK(strstr(sql, "game_date >= ") == NULL);
        SL_CHECK(strstr(sql, "game_date > ") == NULL);
        SL_CHECK(strstr(sql, "analytics.") == NULL); /* features read only precompute rows of D */
}

static void test_request(void)
{
        struct sl_envelope *env;
        struct pc_request req;
        char err[256], k1[SL_ENVELOPE_MAX_IDEM_KEY], k2[SL_ENVELOPE_MAX_IDEM_KEY];
        int rc;

        env = event("2024-12-01", NULL); /* the envelope's date */
        rc = pc_request_parse(env, &req, err, sizeof(err));
        SL_CHECKF(rc == 0, "%s", err);
        SL_CHECK(strcmp(req.game_date, "2024-12-01") == 0);
        SL_CHECK(req.player_filter == NULL);
        SL_CHECK(pc_idem_key(k1, sizeof(k1), "nba", &req) == 0);
        SL_CHECK(strncmp(k1, "precompute:nba:2024-12-01:", 26) == 0);
        pc_request_fini(&req);
        /* the same event again: the same key; another event (same date): another key */
        rc = pc_request_parse(env, &req, err, sizeof(err));
        SL_CHECK(rc == 0 && pc_idem_key(k2, sizeof(k2), "nba", &req) == 0 && strcmp(k1, k2) == 0);
        pc_request_fini(&req);
        sl_envelope_free(env);
        env = event("2024-12-01", NULL);
        rc = pc_request_parse(env, &req, err, sizeof(err));
        SL_CHECK(rc == 0 && pc_idem_key(k2, sizeof(k2), "nba", &req) == 0 && strcmp(k1, k2) != 0);
        pc_request_fini(&req);
        /* with an upstream idempotency key, that key is the upstream identity */
        sl_envelope_set_idem_key(env, "analytics:nba:2024-12-01:abc");
        rc = pc_request_parse(env, &req, err, sizeof(err));
        SL_CHECK(rc == 0 && pc_idem_key(k1, sizeof(k1), "nba", &req) == 0);
        pc_request_fini(&req);
        sl_envelope_free(env);
        env = event("2024-12-01", NULL);
        sl_envelope_set_idem_key(env, "analytics:nba:2024-12-01:abc");
        rc = pc_request_parse(env, &req, err, sizeof(err));
        SL_CHECK(rc == 0 && pc_idem_key(k2, sizeof(k2), "nba", &req) == 0 && strcmp(k1, k2) == 0);
        pc_request_fini(&req);

        /* players: sorted, de-duplicated; changes the key */
        sl_envelope_add_entity(env, "player", "203999");
        sl_envelope_add_entity(env, "player", "2544");
        sl_envelope_add_entity(env, "player", "203999");
        rc = pc_request_parse(env, &req, err, sizeof(err));
        SL_CHECKF(rc == 0, "%s", err);
        SL_CHECK(req.player_filter && strcmp(req.player_filter, "{2544,203999}") == 0);
        SL_CHECK(req.nplayers == 2);
        SL_CHECK(pc_idem_key(k2, sizeof(k2), "nba", &req) == 0 && strcmp(k1, k2) != 0);
        pc_request_fini(&req);
        /* a box score's game and team next to its players: still those players */
        sl_envelope_add_entity(env, "game", "0022400001");
        sl_envelope_add_entity(env, "team", "1610612747");
        rc = pc_request_parse(env, &req, err, sizeof(err));
        SL_CHECK(rc == 0 && req.player_filter && strcmp(req.player_filter, "{2544,203999}") == 0 &&
                 req.nplayers == 2);
        pc_request_fini(&req);
        sl_envelope_free(env);

        /* games and teams only (no player named): the whole date */
        env = event("2024-12-01", NULL);
        sl_envelope_add_entity(env, "game", "0022400001");
        sl_envelope_add_entity(env, "team", "1610612747");
        rc = pc_request_parse(env, &req, err, sizeof(err));
        SL_CHECK(rc == 0 && req.player_filter == NULL && req.nplayers == 0);
        pc_request_fini(&req);
        sl_envelope_free(env);

        /* a bad player id is poison */
        env = event("2024-12-01", NULL);
        sl_envelope_add_entity(env, "player", "12x");
        rc = pc_request_parse(env, &req, err, sizeof(err));
        SL_CHECKF(rc == -EBADMSG && strstr(err, "player id"), "%d %s", rc, err);
        pc_request_fini(&req);
        sl_envelope_free(env);

        /* the payload's date; it must agree with the envelope's */
        env = event(NULL, "2024-11-30");
        rc = pc_request_parse(env, &req, err, sizeof(err));
        SL_CHECK(rc == 0 && strcmp(req.game_date, "2024-11-30") == 0);
        pc_request_fini(&req);
        sl_envelope_free(env);
        env = event("2024-12-01", "2024-11-30");
        rc = pc_request_parse(env, &req, err, sizeof(err));
        SL_CHECKF(rc == -EBADMSG && strstr(err, "differs"), "%s", err);
        pc_request_fini(&req);
        sl_envelope_free(env);
        env = event(NULL, NULL);
        rc = pc_request_parse(env, &req, err, sizeof(err));
        SL_CHECKF(rc == -EBADMSG && strstr(err, "no game_date"), "%s", err);
        pc_request_fini(&req);
        sl_envelope_free(env);
        env = event(NULL, "2024-02-30");
        rc = pc_request_parse(env, &req, err, sizeof(err));
        SL_CHECKF(rc == -EBADMSG && strstr(err, "not a date"), "%s", err);
        pc_request_fini(&req);
        sl_envelope_free(env);
}

/* pc_seen_*: what committed runs computed from, per date, player and history. */
static void test_seen(void)
{
        struct pc_seen_cache c = {0};
        struct pc_seen_player whole[] = {{1, 11}, {2, 22}, {3, 33}};
        struct pc_seen_player one[] = {{2, 22}};
        struct pc_seen_player moved[] = {{2, 99}};
        struct pc_seen_player other[] = {{4, 44}};
        char date[11];

        SL_CHECK(!pc_seen_covered(&c, "2025-01-10", "3:9", whole, 3)); /* nothing yet */
        pc_seen_record(&c, "2025-01-10", "3:9", whole, 3);
        SL_CHECK(pc_seen_covered(&c, "2025-01-10", "3:9", whole, 3));  /* the whole date again */
        SL_CHECK(pc_seen_covered(&c, "2025-01-10", "3:9", one, 1));    /* one of its players */
        SL_CHECK(!pc_seen_covered(&c, "2025-01-10", "3:9", moved, 1)); /* his slate row moved */
        SL_CHECK(!pc_seen_covered(&c, "2025-01-10", "4:12", one, 1));  /* the history moved */
        SL_CHECK(!pc_seen_covered(&c, "2025-01-11", "3:9", one, 1));   /* another date */
        SL_CHECK(!pc_seen_covered(&c, "2025-01-10", "3:9", other, 1)); /* not computed */
        SL_CHECK(!pc_seen_covered(&c, "2025-01-10", "3:9", whole, 0)); /* no player: runs */

        /* same history: merged; a changed row replaces the old one */
        pc_seen_record(&c, "2025-01-10", "3:9", other, 1);
        pc_seen_record(&c, "2025-01-10", "3:9", moved, 1);
        SL_CHECK(pc_seen_covered(&c, "2025-01-10", "3:9", other, 1));
        SL_CHECK(pc_seen_covered(&c, "2025-01-10", "3:9", moved, 1));
        SL_CHECK(!pc_seen_covered(&c, "2025-01-10", "3:9", whole, 3)); /* 2 is 99 now */

        /* other history: the players computed from the old one no longer count */
        pc_seen_record(&c, "2025-01-10", "4:12", one, 1);
        SL_CHECK(pc_seen_covered(&c, "2025-01-10", "4:12", one, 1));
        SL_CHECK(!pc_seen_covered(&c, "2025-01-10", "4:12", other, 1));

        /* PC_SEEN_DATES dates kept, the least recently used goes */
        for (int d = 0; d < PC_SEEN_DATES; d++) {
                snprintf(date, sizeof(date), "2025-02-%02d", d + 1);
                pc_seen_record(&c, date, "1:1", whole, 3);
        }
        SL_CHECK(!pc_seen_covered(&c, "2025-01-10", "4:12", one, 1)); /* evicted */
        SL_CHECK(pc_seen_covered(&c, "2025-02-01", "1:1", whole, 3));
        pc_seen_record(&c, "2025-03-01", "1:1", whole, 3); /* evicts 02-02, not 02-01 (used) */
        SL_CHECK(pc_seen_covered(&c, "2025-02-01", "1:1", whole, 3));
        SL_CHECK(!pc_seen_covered(&c, "2025-02-02", "1:1", whole, 3));
        SL_CHECK(pc_seen_covered(&c, "2025-03-01", "1:1", one, 1));
        pc_seen_fini(&c);
        SL_CHECK(!pc_seen_covered(&c, "2025-03-01", "1:1", one, 1));
}

int main(void)
{
        test_dates();
        test_features();
        test_no_future_reads();
        test_request();
        test_seen();
        return SL_DONE();
}
