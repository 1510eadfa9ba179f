/* The loopback HTTP client of the HTTP fuzz targets (fuzz.h). */

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sl/util.h>

#include "fuzz.h"

#define MAX_HEADER_LINES 32
#define REQUEST_MAX      (64u << 10)

/* Appends bytes [p, p+n) without CR, LF or NUL. */
static void put_clean(struct sl_buf *b, const uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (p[i] != '\r' && p[i] != '\n' && p[i] != '\0')
                        sl_buf_append(b, &p[i], 1);
}

static void build_request(struct sl_buf *req, const uint8_t *data, size_t size)
{
        const uint8_t *end = data + size, *p = data, *nl;
        int lines = 0;

        nl = memchr(p, '\n', size);
        sl_buf_puts(req, "GET ");
        put_clean(req, p, (size_t)((nl ? nl : end) - p));
        sl_buf_puts(req, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        p = nl ? nl + 1 : end;
        while (p < end && lines < MAX_HEADER_LINES) {
                size_t before = req->len;

                nl = memchr(p, '\n', (size_t)(end - p));
                put_clean(req, p, (size_t)((nl ? nl : end) - p));
                if (req->len == before)
                        break; /* an empty line ends the headers */
                sl_buf_puts(req, "\r\n");
                lines++;
                p = nl ? nl + 1 : end;
        }
        sl_buf_puts(req, "\r\n");
}

static int send_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -errno;
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

/* Reads until EOF or the deadline; keeps the first resp_size - 1 bytes. */
static int read_all(int fd, int timeout_ms, char *resp, size_t resp_size, size_t *got)
{
        int64_t deadline = sl_mono_ms() + timeout_ms;
        char buf[16384];

        *got = 0;
        for (;;) {
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                int64_t left = deadline - sl_mono_ms();
                ssize_t r;

                if (left <= 0)
                        return -ETIMEDOUT;
                if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
                        return -errno;
                r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (r == 0)
                        return 0;
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                if (r < 0)
                        return errno == ECONNRESET ? 0 : -errno;
                if (resp && *got + 1 < resp_size) {
                        size_t n =
                            (size_t)r < resp_size - 1 - *got ? (size_t)r : resp_size - 1 - *got;
                        memcpy(resp + *got, buf, n);
                        *got += n;
                        resp[*got] = '\0';
                }
        }
}

/* After an interrupted connect(): waits until the socket is writable, returns SO_ERROR. */
static int wait_connected(int fd, int timeout_ms)
{
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        socklen_t len = sizeof(int);
        int err = 0, n;

        do
                n = poll(&pfd, 1, timeout_ms);
        while (n < 0 && errno == EINTR);
        if (n == 0)
                return -ETIMEDOUT;
        if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                return -errno;
        return -err;
}

int fuzz_http_get(int port, const uint8_t *data, size_t size, int timeout_ms, char *resp,
                  size_t resp_size)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        struct sl_buf req;
        size_t got = 0;
        int fd, rc, status = 0;

        if (resp && resp_size)
                resp[0] = '\0';
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl_buf_init(&req, REQUEST_MAX);
        build_request(&req, data, size);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                rc = -errno;
                goto out;
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                /* libFuzzer's SIGALRM (-timeout) can interrupt it: finish the connect. */
                rc = errno == EINTR ? wait_connected(fd, timeout_ms) : -errno;
                if (rc < 0)
                        goto out;
        }
        rc = send_all(fd, req.data, req.len);
        if (rc == 0)
                shutdown(fd, SHUT_WR);
        rc = read_all(fd, timeout_ms, resp, resp_size, &got);
        if (rc == 0 && resp && got >= 12 && memcmp(resp, "HTTP/1.", 7) == 0)
                status = (resp[9] - '0') * 100 + (resp[10] - '0') * 10 + (resp[11] - '0');
out:
        if (fd >= 0)
                close(fd);
        sl_buf_fini(&req);
        return rc < 0 ? rc : status;
}

bool fuzz_http_body_is(const char *resp, const char *text)
{
        const char *body = strstr(resp, "\r\n\r\n");

        return body && strcmp(body + 4, text) == 0;
}

static char remove_dir[256];

/* rm -r path (best effort; no symlinks are followed). */
static void remove_path(const char *path)
{
        struct stat st;
        struct dirent *e;
        char child[512];
        DIR *d;

        if (lstat(path, &st) < 0)
                return;
        if (S_ISDIR(st.st_mode)) {
                d = opendir(path);
                while (d && (e = readdir(d)) != NULL) {
                        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                                continue;
                        snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
                        remove_path(child);
                }
                if (d)
                        closedir(d);
        }
        remove(path);
}

static void remove_tree(void)
{
        if (remove_dir[0])
                remove_path(remove_dir);
}

void fuzz_remove_at_exit(const char *dir)
{
        snprintf(remove_dir, sizeof(remove_dir), "%s", dir);
        atexit(remove_tree);
}
