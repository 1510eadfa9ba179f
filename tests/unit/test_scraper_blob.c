/*
 * The scraper's blob store (services/scraper/blob.h) in a temp dir: paths,
 * the content address, atomic writes that leave no temp files, an existing
 * blob is not rewritten, a damaged one is replaced, and errors are reported.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sl/sha256.h>

#include "blob.h"
#include "sl_test.h"

/* Files in dir whose name starts with prefix (temp files are ".tmp."). */
static int count_prefixed(const char *dir, const char *prefix)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        int n = 0;

        if (!d)
                return -1;
        while ((e = readdir(d)) != NULL)
                n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
        closedir(d);
        return n;
}

static char *slurp(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        long n;

        if (!f)
                return NULL;
        if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
                buf = malloc((size_t)n + 1);
                *len = fread(buf, 1, (size_t)n, f);
        }
        fclose(f);
        return buf;
}

static void test_relpath(void)
{
        const char *sha = "e9b8b43f00741889b21679fa64ef7d47db7f96c436bc4980c946da912c421a8d";
        char out[SCRAPER_BLOB_REL_MAX];

        SL_CHECK(scraper_blob_relpath(sha, out, sizeof(out)) == 0);
        SL_CHECK(strcmp(out, "e9/e9b8b43f00741889b21679fa64ef7d47db7f96c436bc4980c946da912c421a8d"
                             ".json") == 0);
        SL_CHECK(strlen(out) + 1 == SCRAPER_BLOB_REL_MAX);
        SL_CHECK(scraper_blob_relpath(sha, out, sizeof(out) - 1) == -ENAMETOOLONG);
        SL_CHECK(scraper_blob_relpath("E9B8", out, sizeof(out)) == -EINVAL);
        SL_CHECK(scraper_blob_relpath("../../etc/passwd", out, sizeof(out)) == -EINVAL);
        SL_CHECK(
            scraper_blob_relpath("E9b8b43f00741889b21679fa64ef7d47db7f96c436bc4980c946da912c421a8d",
                                 out, sizeof(out)) == -EINVAL);
        SL_CHECK(scraper_blob_relpath(NULL, out, sizeof(out)) == -EINVAL);
}

static void test_put(const char *tmp)
{
        const char *doc = "{\"resource\":\"boxscore\"}";
        char dir[PATH_MAX], path[PATH_MAX], sub[PATH_MAX], sha[65], sha2[65], want[65], err[256];
        char rel[SCRAPER_BLOB_REL_MAX];
        bool written = false;
        struct stat st;
        size_t len = 0;
        char *back;
        FILE *f;

        /* the store is created on demand, nested */
        SL_CHECK(snprintf(dir, sizeof(dir), "%s/a/b/blobs", tmp) < (int)sizeof(dir));
        SL_CHECK(scraper_blob_open_dir(dir, err, sizeof(err)) == 0);
        SL_CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
        SL_CHECK(scraper_blob_put(dir, doc, strlen(doc), sha, &written, err, sizeof(err)) == 0);
        sl_sha256_hex(doc, strlen(doc), want);
        SL_CHECK(strcmp(sha, want) == 0 && written);
        scraper_blob_relpath(sha, rel, sizeof(rel));
        SL_CHECK(snprintf(path, sizeof(path), "%s/%s", dir, rel) < (int)sizeof(path));
        back = slurp(path, &len);
        SL_CHECK(back && len == strlen(doc) && memcmp(back, doc, len) == 0);
        free(back);
        SL_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
        SL_CHECK(snprintf(sub, sizeof(sub), "%s/%.2s", dir, sha) < (int)sizeof(sub));
        SL_CHECK(count_prefixed(sub, ".tmp.") == 0);
        /* the same bytes again: nothing written (mtime kept) */
        {
                struct stat st2;
                SL_CHECK(
                    scraper_blob_put(dir, doc, strlen(doc), sha2, &written, err, sizeof(err)) == 0);
                SL_CHECK(!written && strcmp(sha, sha2) == 0);
                SL_CHECK(stat(path, &st2) == 0 && st2.st_ino == st.st_ino &&
                         st2.st_mtim.tv_nsec == st.st_mtim.tv_nsec);
        }
        /* a damaged blob (wrong size: a crash of some older writer) is replaced */
        f = fopen(path, "w");
        fputs("{\"res", f);
        fclose(f);
        SL_CHECK(scraper_blob_put(dir, doc, strlen(doc), sha2, &written, err, sizeof(err)) == 0);
        SL_CHECK(written);
        back = slurp(path, &len);
        SL_CHECK(back && len == strlen(doc) && memcmp(back, doc, len) == 0);
        free(back);
        SL_CHECK(count_prefixed(sub, ".tmp.") == 0);
        /* an empty payload is a valid blob too */
        SL_CHECK(scraper_blob_put(dir, "", 0, sha2, &written, err, sizeof(err)) == 0 && written);
        SL_CHECK(strcmp(sha2, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") ==
                 0);
}

static void test_errors(const char *tmp)
{
        char dir[PATH_MAX], sha[65], err[256] = "";
        bool written = true;
        FILE *f;

        /* the store path is a file: mkdir fails, reported with the path */
        snprintf(dir, sizeof(dir), "%s/plainfile", tmp);
        f = fopen(dir, "w");
        fclose(f);
        SL_CHECK(scraper_blob_open_dir(dir, err, sizeof(err)) == -ENOTDIR);
        SL_CHECK(scraper_blob_put(dir, "{}", 2, sha, &written, err, sizeof(err)) < 0);
        SL_CHECKF(strstr(err, "plainfile") != NULL, "%s", err);
        SL_CHECK(!written);
        if (geteuid() != 0) { /* root ignores permissions */
                snprintf(dir, sizeof(dir), "%s/ro", tmp);
                mkdir(dir, 0555);
                SL_CHECK(scraper_blob_open_dir(dir, err, sizeof(err)) == -EACCES);
                SL_CHECK(scraper_blob_put(dir, "{}", 2, sha, &written, err, sizeof(err)) ==
                         -EACCES);
        }
}

static void rm_rf(const char *path)
{
        DIR *d = opendir(path);
        struct dirent *e;

        if (!d) {
                unlink(path);
                return;
        }
        while ((e = readdir(d)) != NULL) {
                char sub[PATH_MAX];
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                        continue;
                snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
                rm_rf(sub);
        }
        closedir(d);
        rmdir(path);
}

int main(void)
{
        char tmp[] = "/tmp/sl-test-blob.XXXXXX";

        if (!mkdtemp(tmp)) {
                perror("mkdtemp");
                return 1;
        }
        test_relpath();
        test_put(tmp);
        test_errors(tmp);
        rm_rf(tmp);
        return SL_DONE();
}
