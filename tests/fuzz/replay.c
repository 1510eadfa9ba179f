/*
 * The replay driver of the fuzz targets (tests/fuzz/README.md): a TAP
 * program that feeds every regular file of every directory given on the
 * command line to LLVMFuzzerTestOneInput(), the same entry function
 * libFuzzer calls, in a normal build without libFuzzer. One "ok" line per
 * file (a crash fails the test by killing it), after one empty input; a
 * directory that is missing or empty is one "ok" line saying so. Used by the fuzz_replay_<target>
 * unit tests on tests/fuzz/regressions/<target>/ (every crash ever found) and a few seeds.
 */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#include <sl/util.h>

#define FILE_MAX_BYTES (16u << 20)

static int n_test;

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_file(const char *path, unsigned char **out, size_t *len)
{
        FILE *f = fopen(path, "rb");
        unsigned char *buf;
        size_t n;

        if (!f)
                return -1;
        buf = malloc(FILE_MAX_BYTES);
        if (!buf)
                abort();
        n = fread(buf, 1, FILE_MAX_BYTES, f);
        fclose(f);
        *out = buf;
        *len = n;
        return 0;
}

static void replay_file(const char *path)
{
        unsigned char *data = NULL;
        size_t len = 0;

        if (read_file(path, &data, &len) < 0) {
                printf("not ok %d - cannot read %s\n", ++n_test, path);
                return;
        }
        printf("# %s (%zu bytes)\n", path, len);
        fflush(stdout);
        LLVMFuzzerTestOneInput(data, len);
        free(data);
        printf("ok %d - %s\n", ++n_test, path);
        fflush(stdout);
}

static void replay_dir(const char *dir)
{
        char **names = NULL;
        char path[4096];
        size_t n = 0, cap = 0;
        DIR *d = opendir(dir);
        struct dirent *e;

        while (d && (e = readdir(d)) != NULL) {
                struct stat st;

                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                if (e->d_name[0] == '.' || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 16;
                        names = realloc(names, cap * sizeof(*names));
                        if (!names)
                                abort();
                }
                names[n] = strdup(e->d_name);
                if (!names[n++])
                        abort();
        }
        if (d)
                closedir(d);
        if (n > 1)
                sl_qsort(names, n, sizeof(*names), cmp_names);
        if (n == 0) /* not a SKIP: CI counts skips as failures, and an empty dir is fine */
                printf("ok %d - %s: no files\n", ++n_test, dir);
        for (size_t i = 0; i < n; i++) {
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                replay_file(path);
                free(names[i]);
        }
        free(names);
}

int main(int argc, char **argv)
{
        LLVMFuzzerInitialize(&argc, &argv);
        LLVMFuzzerTestOneInput((const uint8_t *)"", 0); /* libFuzzer's first input too */
        printf("ok %d - empty input\n", ++n_test);
        for (int i = 1; i < argc; i++)
                replay_dir(argv[i]);
        printf("1..%d\n", n_test);
        return 0;
}
