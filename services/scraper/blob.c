#include "blob.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sl/util.h>

int scraper_blob_relpath(const char *sha, char *out, size_t out_size)
{
        int n;

        if (!sha || strlen(sha) != SL_SHA256_HEX_LEN ||
            strspn(sha, "0123456789abcdef") != SL_SHA256_HEX_LEN)
                return -EINVAL;
        n = snprintf(out, out_size, "%.2s/%s.json", sha, sha);
        if (n < 0 || (size_t)n >= out_size)
                return -ENAMETOOLONG;
        return 0;
}

/* mkdir -p path (mode 0755); an existing directory is fine. */
static int mkdirs(const char *path)
{
        char buf[PATH_MAX];
        size_t len = strlen(path);

        if (len == 0 || len >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(buf, path, len + 1);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int scraper_blob_open_dir(const char *dir, char *errstr, size_t errstr_size)
{
        struct stat st;
        int rc = mkdirs(dir);

        if (rc == 0 && stat(dir, &st) < 0)
                rc = -errno;
        if (rc == 0 && !S_ISDIR(st.st_mode))
                rc = -ENOTDIR;
        if (rc == 0 && access(dir, W_OK | X_OK) < 0)
                rc = -errno;
        if (rc < 0)
                snprintf(errstr, errstr_size, "blob.dir %s: %s", dir, strerror(-rc));
        return rc;
}

/* fsync of a directory, so a rename in it survives a crash. */
static int fsync_dir(const char *dir)
{
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int rc = 0;

        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                rc = -errno;
        close(fd);
        return rc;
}

/* Writes all len bytes to fd, retrying short writes and EINTR. */
static int write_all(int fd, const char *p, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

/* temp file, fsync, rename to path, fsync dir. Removes the temp file on failure. */
static int write_atomic(const char *subdir, const char *path, const void *data, size_t len,
                        char *errstr, size_t errstr_size)
{
        char tmp[PATH_MAX];
        uint64_t r;
        const char *step = "open", *what = tmp;
        int fd, rc, n;

        sl_random_bytes(&r, sizeof(r));
        n = snprintf(tmp, sizeof(tmp), "%s/.tmp.%ld.%016llx", subdir, (long)getpid(),
                     (unsigned long long)r);
        if (n < 0 || (size_t)n >= sizeof(tmp))
                return -ENAMETOOLONG;
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
                rc = -errno;
                goto out;
        }
        step = "write";
        rc = write_all(fd, data, len);
        if (rc == 0) {
                step = "fsync";
                if (fsync(fd) < 0)
                        rc = -errno;
        }
        if (close(fd) < 0 && rc == 0) {
                step = "close";
                rc = -errno;
        }
        if (rc == 0) {
                step = "rename";
                what = path;
                if (rename(tmp, path) < 0)
                        rc = -errno;
        }
        if (rc < 0) {
                unlink(tmp);
                goto out;
        }
        step = "fsync dir";
        what = subdir;
        rc = fsync_dir(subdir);
out:
        if (rc < 0)
                snprintf(errstr, errstr_size, "blob %s %s: %s", step, what, strerror(-rc));
        return rc;
}

int scraper_blob_put(const char *dir, const void *data, size_t len, char sha[SL_SHA256_HEX_LEN + 1],
                     bool *written, char *errstr, size_t errstr_size)
{
        char rel[SCRAPER_BLOB_REL_MAX], subdir[PATH_MAX], path[PATH_MAX];
        struct stat st;
        int rc, n;

        *written = false;
        sl_sha256_hex(data, len, sha);
        scraper_blob_relpath(sha, rel, sizeof(rel));
        n = snprintf(subdir, sizeof(subdir), "%s/%.2s", dir, sha);
        if (n < 0 || (size_t)n >= sizeof(subdir) - SCRAPER_BLOB_REL_MAX) {
                snprintf(errstr, errstr_size, "blob dir too long: %s", dir);
                return -ENAMETOOLONG;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == len)
                return 0; /* same digest, same size: the bytes are there */
        rc = mkdirs(subdir);
        if (rc < 0) {
                snprintf(errstr, errstr_size, "blob mkdir %s: %s", subdir, strerror(-rc));
                return rc;
        }
        rc = write_atomic(subdir, path, data, len, errstr, errstr_size);
        if (rc == 0)
                *written = true;
        return rc;
}
