#ifndef ELO_CSV_H
#define ELO_CSV_H

/*
 * A small CSV reader for the 538 files: comma-separated, optional double
 * quotes ("" escapes a quote), LF or CRLF line ends, a header row. The whole
 * file is read into memory (capped) and split in place.
 */

#include <stddef.h>

struct elo_csv {
        char *data;      /* file contents, split in place (owned) */
        char ***rows;    /* rows[i][j]: field j of data row i (header excluded) */
        size_t *nfields; /* fields in each data row */
        size_t nrows;
        char **header; /* header fields */
        size_t nheader;
};

/*
 * Reads path into *csv (max_bytes cap). Every data row must have as many
 * fields as the header. Returns 0, or a negative errno with a reason in
 * errstr (-ENOENT missing, -EFBIG too large, -EBADMSG malformed).
 * Free with elo_csv_free() (also after a failure).
 */
int elo_csv_read(const char *path, size_t max_bytes, struct elo_csv *csv, char *errstr,
                 size_t errstr_size);

/* Index of a header column, or -1. */
int elo_csv_col(const struct elo_csv *csv, const char *name);

/* Frees what elo_csv_read allocated; the struct may be reused. */
void elo_csv_free(struct elo_csv *csv);

#endif
