#ifndef NHL_PBP_H
#define NHL_PBP_H

/*
 * Loader of an api-web.nhle.com v1/gamecenter/{id}/play-by-play document
 * into the plays libmodels' NHL metrics take (sl/nhl.h), and of xG model
 * coefficient files written by `statline-nhl train-xg`. Used by
 * statline-nhl and its tests; the raw service has its own validating
 * parser (services/raw/parse_nhl.c).
 */

#include <stddef.h>
#include <stdint.h>

#include <sl/nhl.h>

struct nhl_pbp_game {
        int64_t id;
        char date[11]; /* gameDate */
        char state[8]; /* gameState: "OFF", "FINAL", "FUT", ... */
        int64_t home_id, away_id;
        char home_abbr[8], away_abbr[8];
        int home_score, away_score; /* -1 when absent */
        size_t nplays_all;          /* plays[] entries of every type */
        size_t nplays;              /* entries in plays (every entry, typed) */
        struct sl_nhl_play *plays;  /* owned */
};

/*
 * Parses len bytes of JSON at buf into g (zeroed first; free with
 * nhl_pbp_fini()). Returns 0, or -EBADMSG with a reason in errstr for a
 * document that is not a gamecenter play-by-play (missing id, teams,
 * plays; a play without typeDescKey or periodDescriptor).
 */
int nhl_pbp_load(const char *buf, size_t len, struct nhl_pbp_game *g, char *errstr,
                 size_t errstr_size);

void nhl_pbp_fini(struct nhl_pbp_game *g);

/* Reads a whole file into a NUL-terminated malloc'd buffer. 0 or -errno. */
int nhl_read_file(const char *path, char **data, size_t *len);

/*
 * Loads xG coefficients from a train-xg JSON file ({"coef": [14 numbers]}).
 * Returns 0, -errno on I/O, -EBADMSG for a bad file (reason in errstr).
 */
int nhl_model_load(const char *path, struct sl_nhl_xg_model *m, char *errstr, size_t errstr_size);

#endif
