/*
 * Unit tests of the raw parsers (services/raw/parsers.h): a small inline
 * payload of every kind, header- and key-order independence, every
 * validation failure (each must give -EBADMSG, a reason and no batch), the
 * caps, COPY text output, and a deterministic random mutation loop over the
 * real payloads in ../shared/data/nba/ that must never crash.
 *
 * Inline payloads use ' for " to stay readable; q() swaps them back.
 */

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include <sl/util.h>

#include "parsers.h"
#include "sl_test.h"

/* ---- inline payloads -------------------------------------------------------------------- */

static const char BOX_V2[] =
    "{'resource':'boxscore','parameters':{'GameID':'0021600001'},'resultSets':["
    "{'name':'PlayerStats','headers':['GAME_ID','TEAM_ID','TEAM_ABBREVIATION','PLAYER_ID',"
    "'PLAYER_NAME','START_POSITION','COMMENT','MIN','FGM','FGA','FG_PCT','FG3M','FG3A','FTM',"
    "'FTA','OREB','DREB','REB','AST','STL','BLK','TO','PF','PTS','PLUS_MINUS'],'rowSet':["
    "['0021600001',1610612737,'AAA',101,'Player One','F','','34:12',8,15,0.533,2,5,4,4,1,5,6,3,"
    "1,0,2,3,22,5],"
    "['0021600001',1610612737,'AAA',102,'Player Two','','','20:00',3,8,0.375,0,1,2,2,0,2,2,1,0,"
    "1,1,2,8,-3],"
    "['0021600001',1610612737,'AAA',103,'Player Three','','DNP - Coach',null,null,null,null,"
    "null,null,null,null,null,null,null,null,null,null,null,null,null,null],"
    "['0021600001',1610612738,'BBB',201,'Player Four','G','','40:30',10,20,0.5,3,8,5,6,2,4,6,7,"
    "2,1,3,4,28,-5],"
    "['0021600001',1610612738,'BBB',202,'Player Five','','','8:05',1,2,0.5,0,0,0,0,0,1,1,0,0,0,"
    "0,1,2,1]]},"
    "{'name':'TeamStats','headers':['GAME_ID','TEAM_ID','TEAM_NAME','TEAM_ABBREVIATION','MIN',"
    "'FGM','FGA','FG3M','FG3A','FTM','FTA','OREB','DREB','REB','AST','STL','BLK','TO','PF','PTS',"
    "'PLUS_MINUS'],'rowSet':["
    "['0021600001',1610612737,'Alphas','AAA','240:00',11,23,2,6,6,6,1,7,8,4,1,1,3,5,30,0],"
    "['0021600001',1610612738,'Betas','BBB','240:00',11,22,3,8,5,6,2,5,7,7,2,1,3,5,30,0]]}]}";

static const char SUMMARY_V2[] =
    "{'resource':'boxscoresummary','resultSets':["
    "{'name':'GameSummary','headers':['GAME_DATE_EST','GAME_SEQUENCE','GAME_ID','GAME_STATUS_ID',"
    "'GAME_STATUS_TEXT','HOME_TEAM_ID','VISITOR_TEAM_ID','SEASON'],'rowSet':["
    "['2016-11-30T00:00:00',4,'0021600001',3,'Final',1610612737,1610612738,'2016']]},"
    "{'name':'LineScore','headers':['GAME_DATE_EST','GAME_ID','TEAM_ID','TEAM_ABBREVIATION',"
    "'PTS_QTR1','PTS_QTR2','PTS_QTR3','PTS_QTR4','PTS_OT1','PTS'],'rowSet':["
    "['2016-11-30T00:00:00','0021600001',1610612737,'AAA',25,25,25,25,5,105],"
    "['2016-11-30T00:00:00','0021600001',1610612738,'BBB',20,20,30,30,0,100]]}]}";

static const char SCOREBOARD_V2[] =
    "{'resource':'scoreboardV2','resultSets':["
    "{'name':'GameHeader','headers':['GAME_DATE_EST','GAME_SEQUENCE','GAME_ID','GAME_STATUS_ID',"
    "'GAME_STATUS_TEXT','HOME_TEAM_ID','VISITOR_TEAM_ID','SEASON'],'rowSet':["
    "['2019-01-05T00:00:00',1,'0021800500',3,'Final',1,2,'2018'],"
    "['2019-01-05T00:00:00',2,'0021800501',1,'7:00 pm ET',3,4,'2018']]},"
    "{'name':'LineScore','headers':['GAME_DATE_EST','GAME_ID','TEAM_ID','TEAM_ABBREVIATION',"
    "'PTS_QTR1','PTS_QTR2','PTS_QTR3','PTS_QTR4','PTS_OT1','PTS'],'rowSet':["
    "['2019-01-05T00:00:00','0021800500',1,'AAA',25,25,25,25,null,100],"
    "['2019-01-05T00:00:00','0021800500',2,'BBB',20,20,20,30,null,90],"
    "['2019-01-05T00:00:00','0021800501',3,'CCC',null,null,null,null,null,null],"
    "['2019-01-05T00:00:00','0021800501',4,'DDD',null,null,null,null,null,null]]}]}";

static const char PBP_V2[] =
    "{'resource':'playbyplay','resultSets':[{'name':'PlayByPlay','headers':['GAME_ID',"
    "'EVENTNUM','EVENTMSGTYPE','EVENTMSGACTIONTYPE','PERIOD','PCTIMESTRING','HOMEDESCRIPTION',"
    "'NEUTRALDESCRIPTION','VISITORDESCRIPTION','SCORE','PERSON1TYPE','PLAYER1_ID','PERSON2TYPE',"
    "'PLAYER2_ID','PERSON3TYPE','PLAYER3_ID'],'rowSet':["
    "['0021600001',0,12,0,1,'12:00',null,null,null,null,0,0,0,0,0,0],"
    "['0021600001',1,1,1,1,'11:40','A Jump Shot',null,null,'0 - 2',4,101,0,0,0,0],"
    "['0021600001',2,4,0,1,'11:20',null,null,'B Rebound',null,5,201,0,0,0,0],"
    "['0021600001',3,5,1,2,'0:04.5','TEAM Turnover',null,'B Steal','3 - 2',2,1610612737,5,201,"
    "0,0]]}]}";

static const char GAME_LOG[] =
    "{'resource':'leaguegamelog','resultSets':[{'name':'LeagueGameLog','headers':['SEASON_ID',"
    "'TEAM_ID','TEAM_ABBREVIATION','TEAM_NAME','GAME_ID','GAME_DATE','MATCHUP','WL','MIN','FGM',"
    "'FGA','FG_PCT','FG3M','FG3A','FG3_PCT','FTM','FTA','FT_PCT','OREB','DREB','REB','AST','STL',"
    "'BLK','TOV','PF','PTS','PLUS_MINUS','VIDEO_AVAILABLE'],'rowSet':["
    "['22018',1,'AAA','A','0021800001','2018-10-16','AAA vs. BBB','W',240,40,80,0.5,10,30,0.33,"
    "20,25,0.8,10,30,40,20,5,5,10,20,110,10,1],"
    "['22018',2,'BBB','B','0021800001','2018-10-16','BBB @ AAA','L',240,38,85,0.45,8,25,0.32,16,"
    "20,0.8,12,28,40,18,6,4,12,22,100,-10,1],"
    "['22018',3,'CCC','C','0021800002','2018-10-17','CCC @ DDD','W',240,39,80,0.49,9,30,0.3,18,"
    "20,0.9,10,30,40,20,5,5,10,20,105,6,1],"
    "['22018',4,'DDD','D','0021800002','2018-10-17','DDD vs. CCC','L',240,36,80,0.45,7,25,0.28,"
    "20,25,0.8,10,30,40,20,5,5,10,20,99,-6,1]]}]}";

static const char PLAYER_LOG[] =
    "{'resource':'leaguegamelog','resultSets':[{'name':'LeagueGameLog','headers':['SEASON_ID',"
    "'PLAYER_ID','PLAYER_NAME','TEAM_ID','TEAM_ABBREVIATION','GAME_ID','GAME_DATE','MATCHUP',"
    "'WL','MIN','FGM','FGA','FG3M','FG3A','FTM','FTA','OREB','DREB','REB','AST','STL','BLK','TOV',"
    "'PF','PTS','PLUS_MINUS'],'rowSet':["
    "['22018',101,'Player One',1,'AAA','0021800001','2018-10-16','AAA vs. BBB','W',35,8,15,2,5,"
    "4,4,1,5,6,3,1,0,2,3,22,5],"
    "['22018',201,'Player Four',2,'BBB','0021800001','2018-10-16','BBB @ AAA','L',30,10,20,3,8,"
    "5,6,2,4,6,7,2,1,3,4,28,-5]]}]}";

static const char SCOREBOARD_V3[] =
    "{'meta':{'version':1},'scoreboard':{'gameDate':'2025-11-05','leagueId':'00','games':["
    "{'gameId':'0022500171','gameStatus':3,'gameStatusText':'Final',"
    "'homeTeam':{'teamId':10,'teamTricode':'HHH','score':100,'periods':[{'period':1,'score':25},"
    "{'period':2,'score':25},{'period':3,'score':25},{'period':4,'score':25}]},"
    "'awayTeam':{'teamId':20,'teamTricode':'AAA','score':90,'periods':[{'period':1,'score':20},"
    "{'period':2,'score':20},{'period':3,'score':20},{'period':4,'score':30}]}},"
    "{'gameId':'0022500172','gameStatus':1,'gameStatusText':'7:00 pm ET',"
    "'homeTeam':{'teamId':30,'teamTricode':'CCC','score':0,'periods':[]},"
    "'awayTeam':{'teamId':40,'teamTricode':'DDD','score':0,'periods':[]}}]}}";

static const char INJURIES[] =
    "{'reportDate':'2025-11-05','players':["
    "{'playerId':101,'teamId':1610612737,'playerName':'Player One','status':'Out',"
    "'reason':'Injury/Illness - Left Ankle; Sprain'},"
    "{'playerId':'202','teamId':1610612738,'playerName':'Player Two','status':'Questionable'}]}";

static const char PROPS[] =
    "{'date':'2025-11-05','props':["
    "{'playerId':101,'playerName':'Player One','market':'points','book':'fanduel','line':22.5,"
    "'overPrice':-110,'underPrice':-110},"
    "{'playerId':101,'playerName':'Player One','market':'rebounds','book':'fanduel','line':6.5,"
    "'overPrice':120,'underPrice':-150},"
    "{'playerId':201,'playerName':'Player Four','market':'assists','book':'draftkings',"
    "'line':7,'overPrice':null}]}";

/* A v3 statistics object; other counts are fixed small values. */
static char *v3_stats(const char *min, int pts, int fgm, int fga, int fg3m, int fg3a, int ftm,
                      int fta)
{
        return sl_xasprintf(
            "{'minutes':'%s','fieldGoalsMade':%d,'fieldGoalsAttempted':%d,"
            "'threePointersMade':%d,'threePointersAttempted':%d,'freeThrowsMade':%d,"
            "'freeThrowsAttempted':%d,'reboundsOffensive':1,'reboundsDefensive':2,"
            "'reboundsTotal':3,'assists':4,'steals':1,'blocks':0,'turnovers':2,"
            "'foulsPersonal':3,'points':%d,'plusMinusPoints':%s}",
            min, fgm, fga, fg3m, fg3a, ftm, fta, pts, *min ? "5.0" : "0.0");
}

/* The inline v3 box score: HHH 22 (one player + a DNP) beat AAA 10 (one player). */
static char *box_v3(void)
{
        char *p1 = v3_stats("PT34M12.00S", 22, 8, 15, 2, 5, 4, 4);
        char *p2 = v3_stats("", 0, 0, 0, 0, 0, 0, 0);
        char *p3 = v3_stats("30:00", 10, 4, 9, 0, 1, 2, 2);
        char *t1 = v3_stats("240:00", 22, 8, 15, 2, 5, 4, 4);
        char *t2 = v3_stats("240:00", 10, 4, 9, 0, 1, 2, 2);
        char *s = sl_xasprintf(
            "{'meta':{},'boxScoreTraditional':{'gameId':'0022500001','homeTeamId':10,"
            "'awayTeamId':20,'homeTeam':{'teamId':10,'teamTricode':'HHH','players':["
            "{'personId':1,'firstName':'Ann','familyName':'One','position':'F','statistics':%s},"
            "{'personId':2,'firstName':'','familyName':'Two','position':'','comment':'DNP',"
            "'statistics':%s}],'statistics':%s},"
            "'awayTeam':{'teamId':20,'teamTricode':'AAA','players':["
            "{'personId':3,'firstName':'Bob','familyName':'Three','position':'G',"
            "'statistics':%s}],'statistics':%s}}}",
            p1, p2, t1, p3, t2);

        free(p1);
        free(p2);
        free(p3);
        free(t1);
        free(t2);
        return s;
}

/* ---- helpers ---------------------------------------------------------------------------- */

/* Heap copy of s with ' turned into ". */
static char *q(const char *s)
{
        char *out = sl_xstrdup(s);

        for (char *p = out; *p; p++) {
                if (*p == '\'')
                        *p = '"';
        }
        return out;
}

/* Parses json (already in real JSON quotes); prints the reason on failure. */
static struct raw_batch *parse_json(const char *source, const char *json)
{
        struct raw_batch *b = NULL;
        char err[512];
        int rc = raw_parse(source, json, strlen(json), NULL, &b, err, sizeof(err));

        if (rc != 0)
                printf("# parse failed: %d %s\n", rc, err);
        return b;
}

static struct raw_batch *parse_q(const char *source, const char *qjson)
{
        char *json = q(qjson);
        struct raw_batch *b = parse_json(source, json);

        free(json);
        return b;
}

static const char *cell(const struct raw_batch *b, const char *table, size_t r, const char *col)
{
        const struct raw_table *t = b ? raw_batch_find(b, table) : NULL;
        int c = t ? raw_table_col_index(t, col) : -1;
        const char *v = c >= 0 ? raw_table_cell(t, r, (size_t)c) : NULL;

        return v ? v : "NULL";
}

static size_t nrows(const struct raw_batch *b, const char *table)
{
        const struct raw_table *t = b ? raw_batch_find(b, table) : NULL;

        return t ? raw_table_nrows(t) : (size_t)-1;
}

/* Expects raw_parse to fail with want_rc and a reason containing want; returns the pass. */
static bool expect_fail_rc(const char *source, const char *json, size_t len,
                           const struct raw_opts *opts, int want_rc, const char *want)
{
        struct raw_batch *b = (struct raw_batch *)&b; /* must be reset to NULL */
        char err[512] = "unset";
        int rc = raw_parse(source, json, len, opts, &b, err, sizeof(err));
        bool ok = rc == want_rc && b == NULL && strstr(err, want) != NULL;

        if (!ok)
                printf("# want %d \"%s\", got %d \"%s\"\n", want_rc, want, rc, err);
        else if (getenv("RAW_TEST_VERBOSE"))
                printf("# reason: %s\n", err);
        if (rc == 0)
                raw_batch_free(b);
        return ok;
}

static bool expect_fail(const char *source, const char *json, const char *want)
{
        return expect_fail_rc(source, json, strlen(json), NULL, -EBADMSG, want);
}

/* True if both batches hold the same tables, rows and cells. */
static bool batches_equal(const struct raw_batch *a, const struct raw_batch *b)
{
        if (!a || !b || raw_batch_ntables(a) != raw_batch_ntables(b))
                return false;
        for (size_t i = 0; i < raw_batch_ntables(a); i++) {
                const struct raw_table *x = raw_batch_table(a, i), *y = raw_batch_table(b, i);
                if (strcmp(raw_table_name(x), raw_table_name(y)) ||
                    raw_table_nrows(x) != raw_table_nrows(y))
                        return false;
                for (size_t r = 0; r < raw_table_nrows(x); r++) {
                        for (size_t c = 0; c < raw_table_ncols(x); c++) {
                                const char *u = raw_table_cell(x, r, c);
                                const char *v = raw_table_cell(y, r, c);
                                if ((u == NULL) != (v == NULL) || (u && strcmp(u, v)))
                                        return false;
                        }
                }
        }
        return true;
}

/* ---- JSON surgery for mutations --------------------------------------------------------- */

static cJSON *find_set(cJSON *root, const char *name)
{
        cJSON *s;

        cJSON_ArrayForEach(s, cJSON_GetObjectItem(root, "resultSets"))
        {
                if (!strcmp(cJSON_GetObjectItem(s, "name")->valuestring, name))
                        return s;
        }
        return NULL;
}

static int header_index(cJSON *set, const char *header)
{
        int i = 0;
        cJSON *h;

        cJSON_ArrayForEach(h, cJSON_GetObjectItem(set, "headers"))
        {
                if (!strcmp(h->valuestring, header))
                        return i;
                i++;
        }
        return -1;
}

/* The item at a dotted path ("a.b.0.c"); *parent gets its container. */
static cJSON *walk(cJSON *root, const char *path, cJSON **parent, char *last, size_t last_size)
{
        char buf[256];
        char *save = NULL, *tok;
        cJSON *cur = root;

        snprintf(buf, sizeof(buf), "%s", path);
        *parent = NULL;
        for (tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save)) {
                *parent = cur;
                snprintf(last, last_size, "%s", tok);
                if (cJSON_IsArray(cur))
                        cur = cJSON_GetArrayItem(cur, (int)strtol(tok, NULL, 10));
                else
                        cur = cJSON_GetObjectItem(cur, tok);
        }
        return cur;
}

enum op_kind { OP_END, OP_CELL, OP_DEL_HEADER, OP_DROP_VALUE, OP_DUP_ROW, OP_PATH };

/*
 * One edit: OP_CELL sets row/header of a result set to value (JSON);
 * OP_DEL_HEADER removes a header and its column; OP_DROP_VALUE removes the
 * last value of a row; OP_DUP_ROW appends a copy of a row; OP_PATH sets
 * the item at a dotted path to value, or deletes it when value is NULL.
 */
struct op {
        enum op_kind kind;
        const char *where; /* result set name, or path */
        const char *header;
        int row;
        const char *value; /* JSON text with ' for " */
};

static cJSON *op_value(const char *value)
{
        char *json = q(value);
        cJSON *v = cJSON_Parse(json);

        free(json);
        return v;
}

static void apply_path(cJSON *root, const struct op *op)
{
        char last[64];
        cJSON *parent, *item = walk(root, op->where, &parent, last, sizeof(last));

        if (!parent)
                return;
        if (!op->value) {
                if (cJSON_IsArray(parent))
                        cJSON_DeleteItemFromArray(parent, (int)strtol(last, NULL, 10));
                else
                        cJSON_DeleteItemFromObject(parent, last);
        } else if (item && cJSON_IsArray(parent)) {
                cJSON_ReplaceItemInArray(parent, (int)strtol(last, NULL, 10), op_value(op->value));
        } else if (cJSON_IsObject(parent)) {
                cJSON_DeleteItemFromObject(parent, last);
                cJSON_AddItemToObject(parent, last, op_value(op->value));
        }
}

static void apply_op(cJSON *root, const struct op *op)
{
        cJSON *set = op->kind == OP_PATH ? NULL : find_set(root, op->where);
        cJSON *rows = set ? cJSON_GetObjectItem(set, "rowSet") : NULL;
        cJSON *row = rows ? cJSON_GetArrayItem(rows, op->row) : NULL;
        int idx = set && op->header ? header_index(set, op->header) : -1;
        cJSON *r;

        if (op->kind == OP_PATH) {
                apply_path(root, op);
        } else if (op->kind == OP_CELL && row && idx >= 0) {
                cJSON_ReplaceItemInArray(row, idx, op_value(op->value));
        } else if (op->kind == OP_DEL_HEADER && idx >= 0) {
                cJSON_DeleteItemFromArray(cJSON_GetObjectItem(set, "headers"), idx);
                cJSON_ArrayForEach(r, rows) cJSON_DeleteItemFromArray(r, idx);
        } else if (op->kind == OP_DROP_VALUE && row) {
                cJSON_DeleteItemFromArray(row, cJSON_GetArraySize(row) - 1);
        } else if (op->kind == OP_DUP_ROW && row) {
                cJSON_AddItemToArray(rows, cJSON_Duplicate(row, true));
        } else {
                printf("# bad test op on %s/%s\n", op->where, op->header ? op->header : "-");
        }
}

/* base (real JSON) with ops applied, as a new heap string. */
static char *mutate(const char *base, const struct op *ops)
{
        cJSON *root = cJSON_Parse(base);
        char *out;

        for (; ops->kind != OP_END; ops++)
                apply_op(root, ops);
        out = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        return out;
}

/* ---- tests: each kind ------------------------------------------------------------------- */

static void test_box_v2(void)
{
        struct raw_batch *b = parse_q(NULL, BOX_V2);
        struct raw_batch *b2 = parse_q("boxscore", BOX_V2);
        const struct raw_table *pb = b ? raw_batch_find(b, "raw.player_boxscores") : NULL;

        SL_CHECK(b && raw_batch_kind(b) == RAW_KIND_BOXSCORE_V2);
        SL_CHECK(batches_equal(b, b2));
        SL_CHECK(b && raw_batch_ntables(b) == 2 && !raw_batch_find(b, "raw.games"));
        SL_CHECK(nrows(b, "raw.player_boxscores") == 5 && nrows(b, "raw.team_boxscores") == 2);
        SL_CHECK(!strcmp(cell(b, "raw.player_boxscores", 0, "minutes"), "34.2"));
        SL_CHECK(!strcmp(cell(b, "raw.player_boxscores", 0, "starter"), "t"));
        SL_CHECK(!strcmp(cell(b, "raw.player_boxscores", 1, "starter"), "f"));
        SL_CHECK(!strcmp(cell(b, "raw.player_boxscores", 0, "tov"), "2"));
        SL_CHECK(!strcmp(cell(b, "raw.player_boxscores", 1, "plus_minus"), "-3"));
        SL_CHECK(!strcmp(cell(b, "raw.player_boxscores", 2, "minutes"), "NULL") &&
                 !strcmp(cell(b, "raw.player_boxscores", 2, "pts"), "NULL"));
        SL_CHECK(!strcmp(cell(b, "raw.player_boxscores", 4, "minutes"), "8.08")); /* 8:05 */
        SL_CHECK(!strcmp(cell(b, "raw.team_boxscores", 1, "team_abbr"), "BBB"));
        SL_CHECK(!strcmp(cell(b, "raw.team_boxscores", 0, "minutes"), "240"));
        SL_CHECK(pb && raw_table_ncols(pb) == 22 && raw_table_col_index(pb, "nope") == -1);
        SL_CHECK(pb && !strcmp(raw_table_col_name(pb, 21), "plus_minus") &&
                 raw_table_col_name(pb, 22) == NULL);
        SL_CHECK(pb && raw_table_cell(pb, 99, 0) == NULL && raw_table_row(pb, 99) == NULL);
        SL_CHECK(pb && raw_table_row(pb, 0)[1] && !strcmp(raw_table_row(pb, 0)[1], "101"));
        SL_CHECK(b && !strcmp(raw_batch_date(b), "")); /* box scores carry no date */
        raw_batch_free(b);
        raw_batch_free(b2);
}

static void test_summary_scoreboard_v2(void)
{
        struct raw_batch *s = parse_q("summary", SUMMARY_V2);
        struct raw_batch *b = parse_q("schedule", SCOREBOARD_V2);

        SL_CHECK(s && raw_batch_kind(s) == RAW_KIND_SUMMARY_V2 && nrows(s, "raw.games") == 1);
        SL_CHECK(!strcmp(cell(s, "raw.games", 0, "home_pts"), "105") &&
                 !strcmp(cell(s, "raw.games", 0, "away_abbr") /* no such column */, "NULL"));
        SL_CHECK(!strcmp(cell(s, "raw.games", 0, "away_team_abbr"), "BBB"));
        SL_CHECK(!strcmp(cell(s, "raw.games", 0, "season"), "2016-17"));
        SL_CHECK(s && !raw_batch_find(s, "raw.schedule"));
        SL_CHECK(b && raw_batch_kind(b) == RAW_KIND_SCOREBOARD_V2);
        SL_CHECK(nrows(b, "raw.games") == 2 && nrows(b, "raw.schedule") == 2);
        SL_CHECK(b && !strcmp(raw_table_name(raw_batch_table(b, 0)), "raw.games"));
        SL_CHECK(!strcmp(cell(b, "raw.games", 0, "status"), "final") &&
                 !strcmp(cell(b, "raw.games", 0, "away_pts"), "90"));
        SL_CHECK(!strcmp(cell(b, "raw.games", 1, "status"), "scheduled") &&
                 !strcmp(cell(b, "raw.games", 1, "home_pts"), "NULL") &&
                 !strcmp(cell(b, "raw.games", 1, "home_team_abbr"), "CCC"));
        SL_CHECK(!strcmp(cell(b, "raw.schedule", 1, "away_team_id"), "4"));
        SL_CHECK(!strcmp(cell(b, "raw.games", 0, "league"), "00"));
        SL_CHECK(b && !strcmp(raw_batch_date(b), "2019-01-05"));
        raw_batch_free(s);
        raw_batch_free(b);
}

static void test_pbp(void)
{
        struct raw_batch *b = parse_q("pbp", PBP_V2);

        SL_CHECK(b && raw_batch_kind(b) == RAW_KIND_PBP_V2 && nrows(b, "raw.play_by_play") == 4);
        SL_CHECK(!strcmp(cell(b, "raw.play_by_play", 0, "score_home"), "NULL"));
        SL_CHECK(!strcmp(cell(b, "raw.play_by_play", 1, "score_home"), "2") &&
                 !strcmp(cell(b, "raw.play_by_play", 1, "score_away"), "0"));
        SL_CHECK(!strcmp(cell(b, "raw.play_by_play", 1, "player1_id"), "101") &&
                 !strcmp(cell(b, "raw.play_by_play", 1, "player2_id"), "NULL"));
        SL_CHECK(!strcmp(cell(b, "raw.play_by_play", 3, "player1_id"), "NULL")); /* team */
        SL_CHECK(!strcmp(cell(b, "raw.play_by_play", 3, "player2_id"), "201"));
        SL_CHECK(!strcmp(cell(b, "raw.play_by_play", 3, "description"), "TEAM Turnover | B Steal"));
        SL_CHECK(!strcmp(cell(b, "raw.play_by_play", 3, "clock"), "0:04.5"));
        SL_CHECK(!strcmp(cell(b, "raw.play_by_play", 3, "period"), "2"));
        raw_batch_free(b);
}

static void test_game_logs(void)
{
        struct raw_batch *b = parse_q("gamelog", GAME_LOG);
        struct raw_batch *p = parse_q(NULL, PLAYER_LOG);

        SL_CHECK(b && raw_batch_kind(b) == RAW_KIND_GAME_LOG);
        SL_CHECK(nrows(b, "raw.league_game_log") == 4 && nrows(b, "raw.games") == 2);
        SL_CHECK(!strcmp(cell(b, "raw.games", 0, "home_team_id"), "1") &&
                 !strcmp(cell(b, "raw.games", 0, "away_team_abbr"), "BBB") &&
                 !strcmp(cell(b, "raw.games", 0, "home_pts"), "110"));
        SL_CHECK(!strcmp(cell(b, "raw.games", 1, "home_team_abbr"), "DDD") &&
                 !strcmp(cell(b, "raw.games", 1, "away_pts"), "105"));
        SL_CHECK(!strcmp(cell(b, "raw.league_game_log", 2, "season"), "2018-19"));
        SL_CHECK(!strcmp(cell(b, "raw.league_game_log", 1, "plus_minus"), "-10"));
        SL_CHECK(b && !strcmp(raw_batch_date(b), "")); /* two dates */
        SL_CHECK(p && raw_batch_kind(p) == RAW_KIND_GAME_LOG && !raw_batch_find(p, "raw.games"));
        SL_CHECK(nrows(p, "raw.player_boxscores") == 2);
        SL_CHECK(!strcmp(cell(p, "raw.player_boxscores", 0, "minutes"), "35") &&
                 !strcmp(cell(p, "raw.player_boxscores", 0, "starter"), "NULL") &&
                 !strcmp(cell(p, "raw.player_boxscores", 1, "tov"), "3"));
        raw_batch_free(b);
        raw_batch_free(p);
}

static void test_v3(void)
{
        char *box = box_v3(), *json = q(box);
        struct raw_batch *b = parse_json("boxscore", json);
        struct raw_batch *s = parse_q("scoreboard", SCOREBOARD_V3);

        SL_CHECK(b && raw_batch_kind(b) == RAW_KIND_BOXSCORE_V3);
        SL_CHECK(nrows(b, "raw.player_boxscores") == 3 && nrows(b, "raw.team_boxscores") == 2);
        SL_CHECK(!strcmp(cell(b, "raw.player_boxscores", 0, "minutes"), "34.2")); /* PT34M12 */
        SL_CHECK(!strcmp(cell(b, "raw.player_boxscores", 0, "player_name"), "Ann One"));
        SL_CHECK(!strcmp(cell(b, "raw.player_boxscores", 1, "player_name"), "Two"));
        SL_CHECK(!strcmp(cell(b, "raw.player_boxscores", 1, "pts"), "NULL") &&
                 !strcmp(cell(b, "raw.player_boxscores", 1, "starter"), "f"));
        SL_CHECK(!strcmp(cell(b, "raw.player_boxscores", 2, "team_id"), "20") &&
                 !strcmp(cell(b, "raw.player_boxscores", 2, "plus_minus"), "5"));
        SL_CHECK(!strcmp(cell(b, "raw.team_boxscores", 0, "team_abbr"), "HHH"));
        SL_CHECK(s && raw_batch_kind(s) == RAW_KIND_SCOREBOARD_V3);
        SL_CHECK(nrows(s, "raw.games") == 2 && nrows(s, "raw.schedule") == 2);
        SL_CHECK(!strcmp(cell(s, "raw.games", 0, "home_pts"), "100") &&
                 !strcmp(cell(s, "raw.games", 1, "home_pts"), "NULL") &&
                 !strcmp(cell(s, "raw.games", 1, "status"), "scheduled"));
        SL_CHECK(s && !strcmp(raw_batch_date(s), "2025-11-05"));
        raw_batch_free(b);
        raw_batch_free(s);
        free(json);
        free(box);
}

static void test_feeds(void)
{
        struct raw_batch *i = parse_q("injuries", INJURIES);
        struct raw_batch *p = parse_q("props", PROPS);

        SL_CHECK(i && raw_batch_kind(i) == RAW_KIND_INJURIES && nrows(i, "raw.injuries") == 2);
        SL_CHECK(!strcmp(cell(i, "raw.injuries", 1, "player_id"), "202") &&
                 !strcmp(cell(i, "raw.injuries", 1, "reason"), "NULL") &&
                 !strcmp(cell(i, "raw.injuries", 0, "report_date"), "2025-11-05"));
        SL_CHECK(i && !strcmp(raw_batch_date(i), "2025-11-05"));
        SL_CHECK(p && raw_batch_kind(p) == RAW_KIND_PROPS && nrows(p, "raw.prop_lines") == 3);
        SL_CHECK(!strcmp(cell(p, "raw.prop_lines", 0, "line"), "22.5") &&
                 !strcmp(cell(p, "raw.prop_lines", 0, "over_price"), "-110") &&
                 !strcmp(cell(p, "raw.prop_lines", 1, "over_price"), "120"));
        SL_CHECK(!strcmp(cell(p, "raw.prop_lines", 2, "line"), "7") &&
                 !strcmp(cell(p, "raw.prop_lines", 2, "over_price"), "NULL") &&
                 !strcmp(cell(p, "raw.prop_lines", 2, "under_price"), "NULL"));
        raw_batch_free(i);
        raw_batch_free(p);
}

/* ---- tests: order independence ---------------------------------------------------------- */

/* Rotates the headers of every result set by k, and every row with them. */
static void rotate_columns(cJSON *root, int k)
{
        cJSON *set;

        cJSON_ArrayForEach(set, cJSON_GetObjectItem(root, "resultSets"))
        {
                cJSON *hdr = cJSON_GetObjectItem(set, "headers"), *row;
                int n = cJSON_GetArraySize(hdr);
                for (int i = 0; n > 0 && i < k % n; i++) {
                        cJSON_AddItemToArray(hdr, cJSON_DetachItemFromArray(hdr, 0));
                        cJSON_ArrayForEach(row, cJSON_GetObjectItem(set, "rowSet"))
                        {
                                cJSON_AddItemToArray(row, cJSON_DetachItemFromArray(row, 0));
                        }
                }
        }
}

/* Reverses the member order of every object (arrays keep their order). */
static void reverse_objects(cJSON *item)
{
        cJSON *c, *next, *rev = NULL;

        for (c = item->child; c; c = c->next)
                reverse_objects(c);
        if (!cJSON_IsObject(item) || !item->child)
                return;
        for (c = item->child; c; c = next) { /* rebuild the doubly linked list reversed */
                next = c->next;
                c->next = rev;
                if (rev)
                        rev->prev = c;
                rev = c;
        }
        item->child = rev;
        for (c = rev; c->next; c = c->next)
                ;
        rev->prev = c; /* cJSON keeps the tail in child->prev */
}

/* Parses json, then json with columns rotated and objects reversed: the batches must match. */
static bool order_independent(const char *json)
{
        struct raw_batch *a = parse_json(NULL, json), *b;
        cJSON *root = cJSON_Parse(json);
        char *moved;
        bool eq;

        rotate_columns(root, 7);
        reverse_objects(root);
        moved = cJSON_PrintUnformatted(root);
        b = parse_json(NULL, moved);
        eq = a && batches_equal(a, b);
        raw_batch_free(a);
        raw_batch_free(b);
        free(moved);
        cJSON_Delete(root);
        return eq;
}

static void test_order_independence(void)
{
        const char *inline_payloads[] = {BOX_V2,     SUMMARY_V2,    SCOREBOARD_V2, PBP_V2, GAME_LOG,
                                         PLAYER_LOG, SCOREBOARD_V3, INJURIES,      PROPS};
        char *box = box_v3(), *json;

        for (size_t i = 0; i < sizeof(inline_payloads) / sizeof(*inline_payloads); i++) {
                json = q(inline_payloads[i]);
                SL_CHECKF(order_independent(json), "inline payload %zu", i);
                free(json);
        }
        json = q(box);
        SL_CHECK(order_independent(json));
        free(json);
        free(box);
}

/* ---- tests: validation failures --------------------------------------------------------- */

struct fail_case {
        const char *base; /* inline payload (' quotes) */
        struct op ops[4]; /* OP_END-terminated (zero) */
        const char *want; /* substring of the reason */
};

#define PS "PlayerStats"
#define TS "TeamStats"

static const struct fail_case fail_cases[] = {
    /* box score: sums, shooting, formula */
    {BOX_V2, {{OP_CELL, PS, "PTS", 0, "23"}}, "players' points sum to"},
    {BOX_V2, {{OP_CELL, TS, "FGM", 0, "30"}}, "fgm 30 > fga 23"},
    {BOX_V2, {{OP_CELL, TS, "FG3M", 0, "7"}}, "fg3m 7 > fg3a 6"},
    {BOX_V2, {{OP_CELL, TS, "FTM", 0, "9"}}, "ftm 9 > fta 6"},
    {BOX_V2, {{OP_CELL, TS, "FG3A", 0, "30"}}, "more threes than field goals"},
    {BOX_V2, {{OP_CELL, TS, "PTS", 0, "31"}}, "pts 31 != 2*(fgm-fg3m) + 3*fg3m + ftm = 30"},
    {BOX_V2, {{OP_CELL, TS, "PTS", 0, "null"}}, "PTS: must not be null"},
    {BOX_V2, {{OP_DUP_ROW, TS, NULL, 0, NULL}}, "3 team rows, expected 2"},
    {BOX_V2, {{OP_CELL, TS, "TEAM_ID", 1, "1610612737"}}, "both team rows are for team"},
    {BOX_V2, {{OP_CELL, TS, "GAME_ID", 1, "'0021600002'"}}, "different games"},
    {BOX_V2, {{OP_CELL, PS, "TEAM_ID", 4, "1610612799"}}, "team 1610612799 is not in this game"},
    {BOX_V2, {{OP_CELL, PS, "GAME_ID", 4, "'0021600002'"}}, "player row 4 is for another game"},
    {BOX_V2, {{OP_DUP_ROW, PS, NULL, 2, NULL}}, "have the same key (0021600001, 103)"},
    /* box score: types and ids */
    {BOX_V2, {{OP_CELL, PS, "GAME_ID", 0, "'00216000a1'"}}, "GAME_ID: expected a game id"},
    {BOX_V2, {{OP_CELL, PS, "GAME_ID", 0, "21600001"}}, "GAME_ID: expected a game id"},
    {BOX_V2, {{OP_CELL, PS, "PLAYER_ID", 0, "'abc'"}}, "PLAYER_ID: expected a numeric id"},
    {BOX_V2, {{OP_CELL, PS, "PLAYER_ID", 0, "-5"}}, "PLAYER_ID: expected a numeric id"},
    {BOX_V2, {{OP_CELL, PS, "PLAYER_ID", 0, "0"}}, "PLAYER_ID: id 0 is not valid"},
    {BOX_V2, {{OP_CELL, PS, "PLAYER_ID", 0, "1e300"}}, "PLAYER_ID: expected a numeric id"},
    {BOX_V2, {{OP_CELL, PS, "PLAYER_ID", 0, "null"}}, "PLAYER_ID: must not be null"},
    {BOX_V2, {{OP_CELL, PS, "PTS", 0, "'22'"}}, "PTS: expected an integer, got string"},
    {BOX_V2, {{OP_CELL, PS, "PTS", 0, "21.5"}}, "PTS: 21.5 is not an integer"},
    {BOX_V2, {{OP_CELL, PS, "PTS", 0, "-1"}}, "PTS: -1 is not an integer in [0,"},
    {BOX_V2, {{OP_CELL, PS, "PLAYER_NAME", 0, "7"}}, "PLAYER_NAME: expected a string"},
    {BOX_V2, {{OP_CELL, PS, "PLAYER_NAME", 0, "'  '"}}, "PLAYER_NAME: must not be empty"},
    {BOX_V2, {{OP_CELL, PS, "PLAYER_NAME", 0, "'a\\u0001b'"}}, "control character"},
    {BOX_V2, {{OP_CELL, PS, "MIN", 0, "'3x:12'"}}, "MIN: bad minutes"},
    {BOX_V2, {{OP_CELL, PS, "MIN", 0, "'34:60'"}}, "MIN: bad minutes"},
    {BOX_V2, {{OP_CELL, PS, "MIN", 0, "'PT34M'"}}, "MIN: bad minutes"},
    {BOX_V2, {{OP_CELL, PS, "MIN", 0, "-3"}}, "MIN: minutes out of range"},
    {BOX_V2, {{OP_CELL, PS, "MIN", 0, "true"}}, "MIN: expected minutes, got boolean"},
    {BOX_V2, {{OP_CELL, PS, "PLUS_MINUS", 0, "'5'"}}, "PLUS_MINUS: expected a number"},
    {BOX_V2, {{OP_CELL, PS, "START_POSITION", 0, "1"}}, "START_POSITION: expected a string"},
    /* box score: structure */
    {BOX_V2, {{OP_DEL_HEADER, PS, "PTS", 0, NULL}}, "PlayerStats: missing header PTS"},
    {BOX_V2, {{OP_DEL_HEADER, TS, "TEAM_ABBREVIATION", 0, NULL}}, "missing header TEAM_ABBR"},
    {BOX_V2, {{OP_DROP_VALUE, PS, NULL, 2, NULL}}, "PlayerStats[2]: row has 24 values"},
    {BOX_V2, {{OP_PATH, "resultSets.1", NULL, 0, NULL}}, "TeamStats: result set missing"},
    {BOX_V2, {{OP_PATH, "resultSets.0.rowSet.0", NULL, 0, "{}"}}, "row: expected an array"},
    {BOX_V2, {{OP_PATH, "resultSets.0.rowSet", NULL, 0, "{}"}}, "rowSet: expected an array"},
    {BOX_V2, {{OP_PATH, "resultSets.0.headers", NULL, 0, "7"}}, "headers: expected an array"},
    {BOX_V2, {{OP_PATH, "resultSets.0.headers.3", NULL, 0, "'GAME_ID'"}}, "appears twice"},
    {BOX_V2, {{OP_PATH, "resultSets.0.headers.3", NULL, 0, "5"}}, "not a short non-empty"},
    /* summary and scoreboard */
    {SUMMARY_V2, {{OP_CELL, "LineScore", "PTS_QTR1", 0, "26"}}, "period points add up to 106"},
    {SUMMARY_V2,
     {{OP_DUP_ROW, "GameSummary", NULL, 0, NULL},
      {OP_CELL, "GameSummary", "GAME_ID", 1, "'0021600002'"},
      {OP_CELL, "GameSummary", "GAME_STATUS_ID", 1, "1"}},
     "GameSummary: 2 rows, expected 1"},
    {SUMMARY_V2, {{OP_CELL, "LineScore", "TEAM_ID", 1, "99"}}, "team 99 does not play"},
    {SUMMARY_V2, {{OP_DUP_ROW, "LineScore", NULL, 1, NULL}}, "second line for team"},
    {SUMMARY_V2, {{OP_CELL, "LineScore", "GAME_ID", 1, "'0021600009'"}}, "not in the game head"},
    {SUMMARY_V2, {{OP_CELL, "LineScore", "PTS", 1, "null"}}, "final game 0021600001 has no sc"},
    {SUMMARY_V2, {{OP_CELL, "GameSummary", "GAME_STATUS_ID", 0, "7"}}, "game status 1, 2 or 3"},
    {SUMMARY_V2, {{OP_CELL, "GameSummary", "GAME_DATE_EST", 0, "'2016-02-30'"}}, "not a valid da"},
    {SUMMARY_V2, {{OP_CELL, "GameSummary", "GAME_DATE_EST", 0, "'30/11/16'"}}, "YYYY-MM-DD"},
    {SUMMARY_V2, {{OP_CELL, "GameSummary", "VISITOR_TEAM_ID", 0, "1610612737"}}, "same team"},
    {SUMMARY_V2, {{OP_DEL_HEADER, "LineScore", "PTS_QTR3", 0, NULL}}, "missing header PTS_QTR3"},
    {SCOREBOARD_V2, {{OP_DUP_ROW, "GameHeader", NULL, 1, NULL}}, "same key (0021800501)"},
    {SCOREBOARD_V2, {{OP_CELL, "LineScore", "PTS_QTR4", 1, "31"}}, "period points add up to 91"},
    /* play-by-play */
    {PBP_V2, {{OP_CELL, "PlayByPlay", "SCORE", 1, "'0-2'"}}, "SCORE: expected \"visitor - home\""},
    {PBP_V2, {{OP_CELL, "PlayByPlay", "SCORE", 1, "'a - 2'"}}, "SCORE: expected"},
    {PBP_V2, {{OP_CELL, "PlayByPlay", "PERIOD", 1, "0"}}, "PERIOD 0 is not in 1..14"},
    {PBP_V2, {{OP_CELL, "PlayByPlay", "EVENTNUM", 2, "1"}}, "same key (0021600001, 1)"},
    {PBP_V2, {{OP_CELL, "PlayByPlay", "GAME_ID", 2, "'0021600002'"}}, "differs from the first"},
    {PBP_V2, {{OP_CELL, "PlayByPlay", "PCTIMESTRING", 2, "'99:99'"}}, "bad game clock"},
    {PBP_V2, {{OP_CELL, "PlayByPlay", "PLAYER1_ID", 2, "-1"}}, "PLAYER1_ID: expected a numeric"},
    /* league game log */
    {GAME_LOG,
     {{OP_DUP_ROW, "LeagueGameLog", NULL, 0, NULL}, {OP_CELL, "LeagueGameLog", "TEAM_ID", 4, "9"}},
     "0021800001 has 3 rows, expect"},
    {GAME_LOG, {{OP_CELL, "LeagueGameLog", "GAME_ID", 3, "'0021800003'"}}, "has 1 rows, expec"},
    {GAME_LOG, {{OP_CELL, "LeagueGameLog", "MATCHUP", 1, "'BBB @ ZZZ'"}}, "matchups do not nam"},
    {GAME_LOG, {{OP_CELL, "LeagueGameLog", "MATCHUP", 1, "'BBB vs. AAA'"}}, "one home and one"},
    {GAME_LOG, {{OP_CELL, "LeagueGameLog", "WL", 1, "'W'"}}, "W/L does not match the score"},
    {GAME_LOG, {{OP_CELL, "LeagueGameLog", "WL", 1, "'X'"}}, "WL: expected W or L"},
    {GAME_LOG, {{OP_CELL, "LeagueGameLog", "GAME_DATE", 1, "'2018-10-17'"}}, "two dates"},
    {GAME_LOG, {{OP_CELL, "LeagueGameLog", "PTS", 0, "111"}}, "pts 111 != 2*(fgm-fg3m)"},
    {GAME_LOG, {{OP_CELL, "LeagueGameLog", "TEAM_ID", 1, "1"}}, "same team twice"},
    {GAME_LOG, {{OP_DEL_HEADER, "LeagueGameLog", "TEAM_ABBREVIATION", 0, NULL}}, "TEAM_ABBREV"},
    {PLAYER_LOG, {{OP_DUP_ROW, "LeagueGameLog", NULL, 0, NULL}}, "same key (0021800001, 101)"},
    /* v3 scoreboard */
    {SCOREBOARD_V3, {{OP_PATH, "scoreboard.games.0.homeTeam.score", NULL, 0, "101"}}, "add up"},
    {SCOREBOARD_V3, {{OP_PATH, "scoreboard.games.0.gameStatus", NULL, 0, "9"}}, "game status"},
    {SCOREBOARD_V3, {{OP_PATH, "scoreboard.gameDate", NULL, 0, NULL}}, "gameDate: must not be n"},
    {SCOREBOARD_V3, {{OP_PATH, "scoreboard.games.0.awayTeam", NULL, 0, NULL}}, "\"awayTeam\": "},
    {SCOREBOARD_V3, {{OP_PATH, "scoreboard.games.1.gameId", NULL, 0, "'0022500171'"}}, "same key"},
    {SCOREBOARD_V3, {{OP_PATH, "scoreboard.games.0.homeTeam.periods", NULL, 0, "3"}}, "periods"},
    {SCOREBOARD_V3, {{OP_PATH, "scoreboard.games", NULL, 0, "{}"}}, "\"games\": expected an arr"},
    /* injuries and props */
    {INJURIES, {{OP_PATH, "players.0.status", NULL, 0, "'Injured'"}}, "is not Out, Questionab"},
    {INJURIES, {{OP_PATH, "players.0.playerId", NULL, 0, NULL}}, "missing field \"playerId\""},
    {INJURIES, {{OP_PATH, "reportDate", NULL, 0, "'2025-13-01'"}}, "not a valid date"},
    {INJURIES, {{OP_PATH, "players.1.playerId", NULL, 0, "101"}}, "same key (2025-11-05, 101)"},
    {INJURIES, {{OP_PATH, "players.0", NULL, 0, "[]"}}, "players[0]: expected an object"},
    {PROPS, {{OP_PATH, "props.0.market", NULL, 0, "'steals'"}}, "not points, rebounds or assi"},
    {PROPS, {{OP_PATH, "props.0.overPrice", NULL, 0, "50"}}, "is not American odds"},
    {PROPS, {{OP_PATH, "props.0.overPrice", NULL, 0, "-110.5"}}, "is not an integer"},
    {PROPS, {{OP_PATH, "props.0.line", NULL, 0, "-1"}}, "line: -1 is not in [0, 200]"},
    {PROPS, {{OP_PATH, "props.0.line", NULL, 0, "'22.5'"}}, "line: expected a number"},
    {PROPS, {{OP_PATH, "props.1.market", NULL, 0, "'points'"}}, "same key"},
    {PROPS, {{OP_PATH, "props", NULL, 0, "{}"}}, "\"props\": expected an array"},
};

static void test_fail_cases(void)
{
        for (size_t i = 0; i < sizeof(fail_cases) / sizeof(*fail_cases); i++) {
                const struct fail_case *fc = &fail_cases[i];
                char *base = q(fc->base);
                char *json = mutate(base, fc->ops);
                SL_CHECKF(expect_fail(NULL, json, fc->want), "case %zu", i);
                free(json);
                free(base);
        }
}

/* v3 box-score failures, on the generated payload. */
static void test_fail_v3_box(void)
{
        static const struct {
                struct op op;
                const char *want;
        } cases[] = {
            {{OP_PATH, "boxScoreTraditional.homeTeam.players.0.statistics.points", NULL, 0, "23"},
             "players' points sum to 23"},
            {{OP_PATH, "boxScoreTraditional.awayTeam", NULL, 0, NULL}, "\"awayTeam\": expected"},
            {{OP_PATH, "boxScoreTraditional.homeTeam.players.0.personId", NULL, 0, "'x'"},
             "homeTeam[0]: personId: expected a numeric id"},
            {{OP_PATH, "boxScoreTraditional.homeTeamId", NULL, 0, "99"}, "does not match"},
            {{OP_PATH, "boxScoreTraditional.gameId", NULL, 0, "22500001"}, "gameId: expected"},
            {{OP_PATH, "boxScoreTraditional.awayTeam.statistics.fieldGoalsMade", NULL, 0, "10"},
             "fgm 10 > fga 9"},
            {{OP_PATH, "boxScoreTraditional.awayTeam.statistics.points", NULL, 0, NULL},
             "missing field \"points\""},
            {{OP_PATH, "boxScoreTraditional.homeTeam.players.0.statistics.minutes", NULL, 0,
              "'PT3'"},
             "minutes: bad minutes"},
            {{OP_PATH, "boxScoreTraditional.homeTeam.players.1.familyName", NULL, 0, NULL},
             "neither firstName nor familyName"},
            {{OP_PATH, "boxScoreTraditional.homeTeam.players", NULL, 0, "{}"}, "\"players\""},
            {{OP_PATH, "boxScoreTraditional.homeTeam.players.0.statistics", NULL, 0, NULL},
             "\"statistics\": expected an object"},
        };
        char *box = box_v3(), *base = q(box);

        for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
                struct op ops[2] = {cases[i].op, {OP_END, NULL, NULL, 0, NULL}};
                char *json = mutate(base, ops);
                SL_CHECKF(expect_fail(NULL, json, cases[i].want), "v3 case %zu", i);
                free(json);
        }
        free(base);
        free(box);
}

/* Accepted minute and id forms, through the first player row of the inline box score. */
static void test_value_forms(void)
{
        static const struct {
                const char *header, *value, *col, *want;
        } cases[] = {
            {"MIN", "'34:12'", "minutes", "34.2"},
            {"MIN", "'PT34M12.00S'", "minutes", "34.2"},
            {"MIN", "'34:12.5'", "minutes", "34.21"},
            {"MIN", "34", "minutes", "34"},
            {"MIN", "34.5", "minutes", "34.5"},
            {"MIN", "'0:00'", "minutes", "0"},
            {"MIN", "' 48:00 '", "minutes", "48"},
            {"MIN", "'PT05M00.00S'", "minutes", "5"},
            {"PLAYER_ID", "'101'", "player_id", "101"},
            {"PLAYER_ID", "'00101'", "player_id", "101"},
            {"PLAYER_ID", "101.0", "player_id", "101"},
            {"PLAYER_NAME", "'  Player One '", "player_name", "Player One"},
            {"PLAYER_NAME", "'Nikola Joki\\u0107'", "player_name", "Nikola Joki\xc4\x87"},
            {"PLUS_MINUS", "-4.0", "plus_minus", "-4"},
            {"PLUS_MINUS", "1.4", "plus_minus", "1.4"},
            {"PLUS_MINUS", "-0.0", "plus_minus", "0"},
            {"START_POSITION", "null", "starter", "f"},
        };
        char *base = q(BOX_V2);

        for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
                struct op ops[2] = {{OP_CELL, PS, cases[i].header, 0, cases[i].value},
                                    {OP_END, NULL, NULL, 0, NULL}};
                char *json = mutate(base, ops);
                struct raw_batch *b = parse_json(NULL, json);
                const char *got = cell(b, "raw.player_boxscores", 0, cases[i].col);
                SL_CHECKF(b && !strcmp(got, cases[i].want), "%s=%s: got %s", cases[i].header,
                          cases[i].value, got);
                raw_batch_free(b);
                free(json);
        }
        free(base);
}

/* ---- tests: input handling and caps ----------------------------------------------------- */

static void test_input_errors(void)
{
        char *box = q(BOX_V2), *deep, *trail;
        struct raw_opts opts = {0};
        struct raw_batch *b = NULL;
        size_t n = strlen(box);

        SL_CHECK(expect_fail(NULL, "", "empty payload"));
        SL_CHECK(expect_fail(NULL, "{\"resultSets\":[", "JSON: syntax error"));
        SL_CHECK(expect_fail(NULL, "{\"a\":\"b", "JSON: truncated inside a string"));
        SL_CHECK(expect_fail(NULL, "[1,2]", "unrecognised payload"));
        SL_CHECK(expect_fail(NULL, "{}", "unrecognised payload"));
        SL_CHECK(expect_fail(NULL, "{\"resultSets\":[]}", "unrecognised payload"));
        SL_CHECK(expect_fail(NULL, "{\"date\":\"a\\u0000b\",\"props\":[]}", "\\u0000"));
        SL_CHECK(expect_fail(NULL, "{\"date\":\"a\xff\",\"props\":[]}", "invalid UTF-8"));
        SL_CHECK(expect_fail(NULL, "{\"date\":\"\xed\xa0\x80\",\"props\":[]}", "invalid UTF-8"));
        SL_CHECK(expect_fail(NULL, "{\"date\":\"a\tb\",\"props\":[]}", "control byte"));
        SL_CHECK(expect_fail(NULL, "{\"date\":\"2025-11-05\",\"props\":[{\"line\":1,\"line\":2}]}",
                             "JSON: duplicate key \"line\""));
        SL_CHECK(expect_fail_rc(NULL, "{} \0 ", 5, NULL, -EBADMSG, "byte 0x00 outside"));
        trail = sl_xasprintf("%s x", box);
        SL_CHECK(expect_fail(NULL, trail, "JSON: trailing data"));
        free(trail);
        deep = sl_xcalloc(1, 2 * 100 + 1);
        for (int i = 0; i < 100; i++) {
                deep[i] = '[';
                deep[100 + i] = ']';
        }
        SL_CHECK(expect_fail(NULL, deep, "nesting deeper than 64"));
        free(deep);
        SL_CHECK(expect_fail("scoreboard", box, "payload is boxscore_v2, not a scoreboard"));
        SL_CHECK(expect_fail("boxscore_v3", box, "not a boxscore_v3 payload"));
        SL_CHECK(expect_fail_rc("bogus", box, n, NULL, -EINVAL, "unknown payload source"));
        SL_CHECK(raw_parse(NULL, NULL, 0, NULL, &b, NULL, 0) == -EINVAL && b == NULL);
        SL_CHECK(raw_parse(NULL, box, n, NULL, NULL, NULL, 0) == -EINVAL);
        SL_CHECK(raw_parse("auto", box, n, NULL, &b, NULL, 0) == 0); /* errstr may be NULL */
        raw_batch_free(b);
        opts.max_bytes = 100;
        SL_CHECK(expect_fail_rc(NULL, box, n, &opts, -EBADMSG, "is over the cap of 100"));
        opts = (struct raw_opts){.max_values = 50};
        SL_CHECK(expect_fail_rc(NULL, box, n, &opts, -EBADMSG, "more than 50 values"));
        opts = (struct raw_opts){.max_rows = 2};
        SL_CHECK(expect_fail_rc(NULL, box, n, &opts, -EBADMSG, "rowSet: more than 2 entries"));
        opts = (struct raw_opts){.max_str = 5};
        SL_CHECK(expect_fail_rc(NULL, box, n, &opts, -EBADMSG, "over the cap of 5"));
        free(box);
}

static void test_copy_and_misc(void)
{
        const char *json = "{\"reportDate\":\"2025-11-05\",\"players\":[{\"playerId\":1,"
                           "\"teamId\":2,\"playerName\":\"A\\\\B\",\"status\":\"Out\"}]}";
        struct raw_batch *b = parse_json(NULL, json);
        const struct raw_table *t = b ? raw_batch_find(b, "raw.injuries") : NULL;
        struct sl_buf buf;

        sl_buf_init(&buf, 0);
        SL_CHECK(t && raw_table_copy_row(t, 0, &buf) == 0);
        SL_CHECKF(buf.data && !strcmp(buf.data, "2025-11-05\t1\t2\tA\\\\B\tOut\t\\N\n"), "%s",
                  buf.data ? buf.data : "");
        SL_CHECK(t && raw_table_copy_row(t, 1, &buf) == -EINVAL);
        sl_buf_fini(&buf);
        sl_buf_init(&buf, 8);
        SL_CHECK(t && raw_table_copy_row(t, 0, &buf) == -E2BIG);
        sl_buf_fini(&buf);
        SL_CHECK(b && raw_batch_table(b, 5) == NULL && raw_batch_find(b, "raw.games") == NULL);
        SL_CHECK(!strcmp(raw_kind_name(RAW_KIND_PROPS), "props"));
        SL_CHECK(!strcmp(raw_kind_name((enum raw_kind)99), "unknown"));
        SL_CHECK(!strcmp(raw_kind_name(RAW_KIND_UNKNOWN), "unknown"));
        raw_batch_free(b);
        raw_batch_free(NULL);
}

/* ---- random mutation loop over the real payloads ---------------------------------------- */

static uint64_t rng_state = 0x5eed1234abcdULL; /* fixed seed: failures reproduce */

static uint64_t rng(void)
{
        rng_state ^= rng_state << 13; /* xorshift64 */
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

/* One random edit of buf[*len] (capacity cap): flip, digit change, delete, insert, truncate. */
static void mutate_bytes(char *buf, size_t *len, size_t cap)
{
        static const char inserts[] = "{}[],:\"0-9.e \\nulltrue";
        size_t at = *len ? rng() % *len : 0, span;

        switch (rng() % 6) {
        case 0:
                buf[at] = (char)(rng() & 0xff);
                break;
        case 1: /* keeps the JSON valid most of the time: reaches the semantic checks */
        case 2:
                if (buf[at] >= '0' && buf[at] <= '9')
                        buf[at] = (char)('0' + rng() % 10);
                else
                        buf[at] = inserts[rng() % (sizeof(inserts) - 1)];
                break;
        case 3:
                span = 1 + rng() % 16;
                span = span > *len - at ? *len - at : span;
                memmove(buf + at, buf + at + span, *len - at - span);
                *len -= span;
                break;
        case 4:
                if (*len < cap) {
                        memmove(buf + at + 1, buf + at, *len - at);
                        buf[at] = inserts[rng() % (sizeof(inserts) - 1)];
                        (*len)++;
                }
                break;
        default:
                *len = at;
                break;
        }
}

static char *read_all(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        long n;

        if (!f)
                return NULL;
        if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
                buf = sl_xmalloc((size_t)n);
                *len = fread(buf, 1, (size_t)n, f);
        }
        fclose(f);
        return buf;
}

/* Mutates one real payload many times; every parse must return 0 or -EBADMSG. */
static void fuzz_file(const char *path, long budget_bytes, int *ok_count, int *bad_count)
{
        size_t len = 0, cap, mlen;
        char *orig = read_all(path, &len), *buf, err[512];
        long iters;
        int weird = 0;

        SL_CHECKF(orig != NULL, "read %s", path);
        if (!orig)
                return;
        iters = budget_bytes / (long)len;
        iters = iters < 10 ? 10 : iters > 400 ? 400 : iters;
        cap = len + 64;
        buf = sl_xmalloc(cap);
        for (long i = 0; i < iters; i++) {
                struct raw_batch *b = NULL;
                int edits = 1 + (int)(rng() % 4), rc;
                memcpy(buf, orig, len);
                mlen = len;
                for (int e = 0; e < edits; e++)
                        mutate_bytes(buf, &mlen, cap);
                rc = raw_parse(NULL, buf, mlen, NULL, &b, err, sizeof(err));
                weird += !(rc == 0 || rc == -EBADMSG) || (rc == 0) != (b != NULL) ||
                         (rc != 0 && !err[0]);
                *ok_count += rc == 0;
                *bad_count += rc == -EBADMSG;
                raw_batch_free(b);
        }
        SL_CHECKF(weird == 0, "%s: %d odd results", path, weird);
        free(buf);
        free(orig);
}

/* Real v2 files: rotated columns and reversed objects must give the same batch. */
static void order_file(const char *path)
{
        size_t len = 0;
        char *buf = read_all(path, &len), *json;

        if (!buf)
                return;
        json = sl_xstrndup(buf, len);
        SL_CHECKF(order_independent(json), "order independence of %s", path);
        free(json);
        free(buf);
}

static void test_real_files(void)
{
        const char *shared = getenv("STATLINE_SHARED"), *src = getenv("STATLINE_SRC");
        long budget = getenv("SL_UNDER_VALGRIND") ? 1000000 : 20000000; /* bytes per file */
        char dir[900], path[1200];
        int files = 0, ok = 0, bad = 0;
        struct dirent *e;
        DIR *d;

        if (shared && *shared)
                snprintf(dir, sizeof(dir), "%s/data/nba", shared);
        else
                snprintf(dir, sizeof(dir), "%s/../shared/data/nba", src ? src : ".");
        d = opendir(dir);
        SL_CHECKF(d != NULL, "data directory %s is missing", dir);
        while (d && (e = readdir(d))) {
                size_t n = strlen(e->d_name);
                if (n < 6 || strcmp(e->d_name + n - 5, ".json"))
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                order_file(path);
                fuzz_file(path, budget, &ok, &bad);
                files++;
        }
        if (d)
                closedir(d);
        printf("# mutation loop: %d files, %d parses accepted, %d rejected\n", files, ok, bad);
        SL_CHECK(files >= 8 && bad > 0);
}

int main(void)
{
        test_box_v2();
        test_summary_scoreboard_v2();
        test_pbp();
        test_game_logs();
        test_v3();
        test_feeds();
        test_order_independence();
        test_fail_cases();
        test_fail_v3_box();
        test_value_forms();
        test_input_errors();
        test_copy_and_misc();
        test_real_files();
        return SL_DONE();
}
