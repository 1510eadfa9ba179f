#include <sl/err.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool sl_err_retriable(int rc)
{
        switch (-rc) {
        case EAGAIN:
        case ETIMEDOUT:
        case ECONNREFUSED:
        case ECONNRESET:
        case ECONNABORTED:
        case ENOTCONN:
        case EPIPE:
        case EHOSTUNREACH:
        case ENETUNREACH:
        case ENETDOWN:
        case EBUSY:
        case EINTR:
        case ENOBUFS:
        case EINPROGRESS:
        case EIO:
                return true;
        default:
                return false;
        }
}

enum sl_err_class sl_err_classify(int rc)
{
        if (sl_err_retriable(rc))
                return SL_ERR_TRANSIENT;
        switch (-rc) {
        case EBADMSG:
        case EINVAL:
        case E2BIG:
        case EMSGSIZE:
        case EPROTO:
        case EILSEQ:
        case ERANGE:
        case ENOENT:
                return SL_ERR_PERMANENT;
        default:
                return SL_ERR_SYSTEM;
        }
}

const char *sl_err_class_name(enum sl_err_class cls)
{
        switch (cls) {
        case SL_ERR_TRANSIENT:
                return "TRANSIENT";
        case SL_ERR_PERMANENT:
                return "PERMANENT";
        case SL_ERR_SYSTEM:
                return "SYSTEM";
        }
        return "SYSTEM";
}

const char *sl_strerror(int rc)
{
        /* strerror() is fine here: glibc returns static strings for known codes. */
        if (rc == 0)
                return "success";
        return strerror(rc < 0 ? -rc : rc);
}

int sl_errf(char *errstr, size_t errstr_size, int rc, const char *fmt, ...)
{
        va_list ap;

        if (errstr && errstr_size > 0) {
                va_start(ap, fmt);
                if (vsnprintf(errstr, errstr_size, fmt, ap) < 0)
                        errstr[0] = '\0';
                va_end(ap);
        }
        return rc;
}
