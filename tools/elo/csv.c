/*
 * CSV reader for statline-elo (csv.h).
 */
#include "csv.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sl/util.h>

static int read_file(const char *path, size_t max_bytes, char **out, size_t *len, char *errstr,
                     size_t errstr_size)
{
        FILE *f = fopen(path, "rb");
        struct sl_buf b;
        char chunk[65536];
        size_t n;
        int rc = 0;

        if (!f) {
                rc = -errno;
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                return rc;
        }
        sl_buf_init(&b, max_bytes);
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
                if (sl_buf_append(&b, chunk, n) < 0) {
                        snprintf(errstr, errstr_size, "%s: larger than %zu bytes", path, max_bytes);
                        rc = -EFBIG;
                        goto out;
                }
        }
        if (ferror(f)) {
                rc = -EIO;
                snprintf(errstr, errstr_size, "%s: read error", path);
                goto out;
        }
        *len = b.len;
        *out = sl_buf_steal(&b);
out:
        sl_buf_fini(&b);
        fclose(f);
        return rc;
}

/* Splits one record starting at *p into fields (in place); advances *p past the line end. */
static int split_record(char **p, char ***fields, size_t *nfields)
{
        char *s = *p, *w;
        size_t n = 0, cap = 16;
        char **f = sl_xmalloc(cap * sizeof(*f));

        for (;;) {
                bool quoted = *s == '"';

                if (n == cap) {
                        cap *= 2;
                        f = sl_xrealloc(f, cap * sizeof(*f));
                }
                if (quoted)
                        s++;
                f[n++] = w = s;
                for (;;) {
                        if (quoted && *s == '"' && s[1] == '"') {
                                *w++ = '"';
                                s += 2;
                        } else if (quoted && *s == '"') {
                                quoted = false;
                                s++;
                        } else if (*s == '\0' || (!quoted && (*s == ',' || *s == '\n' ||
                                                              (*s == '\r' && s[1] == '\n')))) {
                                break;
                        } else {
                                *w++ = *s++;
                        }
                }
                if (quoted) {
                        free(f);
                        return -EBADMSG;
                }
                if (*s == ',') {
                        *w = '\0';
                        s++;
                        continue;
                }
                if (*s == '\r')
                        *s++ = '\0';
                if (*s == '\n')
                        *s++ = '\0';
                *w = '\0';
                break;
        }
        *p = s;
        *fields = f;
        *nfields = n;
        return 0;
}

int elo_csv_read(const char *path, size_t max_bytes, struct elo_csv *csv, char *errstr,
                 size_t errstr_size)
{
        size_t len = 0, cap = 0, line = 1;
        char *p;
        int rc;

        memset(csv, 0, sizeof(*csv));
        rc = read_file(path, max_bytes, &csv->data, &len, errstr, errstr_size);
        if (rc < 0)
                return rc;
        p = csv->data;
        if (len == 0 || split_record(&p, &csv->header, &csv->nheader) < 0) {
                snprintf(errstr, errstr_size, "%s: no header row", path);
                return -EBADMSG;
        }
        while (*p) {
                char **fields;
                size_t n;

                line++;
                if (split_record(&p, &fields, &n) < 0) {
                        snprintf(errstr, errstr_size, "%s:%zu: unterminated quote", path, line);
                        return -EBADMSG;
                }
                if (n != csv->nheader) {
                        free(fields);
                        snprintf(errstr, errstr_size, "%s:%zu: %zu fields, header has %zu", path,
                                 line, n, csv->nheader);
                        return -EBADMSG;
                }
                if (csv->nrows == cap) {
                        cap = cap ? 2 * cap : 1024;
                        csv->rows = sl_xrealloc(csv->rows, cap * sizeof(*csv->rows));
                        csv->nfields = sl_xrealloc(csv->nfields, cap * sizeof(*csv->nfields));
                }
                csv->rows[csv->nrows] = fields;
                csv->nfields[csv->nrows++] = n;
        }
        return 0;
}

int elo_csv_col(const struct elo_csv *csv, const char *name)
{
        for (size_t i = 0; i < csv->nheader; i++) {
                if (strcmp(csv->header[i], name) == 0)
                        return (int)i;
        }
        return -1;
}

void elo_csv_free(struct elo_csv *csv)
{
        for (size_t i = 0; i < csv->nrows; i++)
                free(csv->rows[i]);
        free(csv->rows);
        free(csv->nfields);
        free(csv->header);
        free(csv->data);
        memset(csv, 0, sizeof(*csv));
}
