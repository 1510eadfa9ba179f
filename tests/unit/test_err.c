#include <errno.h>
#include <string.h>

#include <sl/err.h>

#include "sl_test.h"

int main(void)
{
        SL_CHECK(sl_err_retriable(-EAGAIN));
        SL_CHECK(sl_err_retriable(-ETIMEDOUT));
        SL_CHECK(sl_err_retriable(-ECONNREFUSED));
        SL_CHECK(sl_err_retriable(-EBUSY));
        SL_CHECK(!sl_err_retriable(-EBADMSG));
        SL_CHECK(!sl_err_retriable(-EEXIST));
        SL_CHECK(!sl_err_retriable(0));
        SL_CHECK(sl_err_classify(-EBADMSG) == SL_ERR_PERMANENT);
        SL_CHECK(sl_err_classify(-EINVAL) == SL_ERR_PERMANENT);
        SL_CHECK(sl_err_classify(-ETIMEDOUT) == SL_ERR_TRANSIENT);
        SL_CHECK(sl_err_classify(-ENOMEM) == SL_ERR_SYSTEM);
        SL_CHECK(strcmp(sl_err_class_name(SL_ERR_TRANSIENT), "TRANSIENT") == 0);
        SL_CHECK(strcmp(sl_err_class_name(SL_ERR_PERMANENT), "PERMANENT") == 0);
        SL_CHECK(strcmp(sl_err_class_name(SL_ERR_SYSTEM), "SYSTEM") == 0);
        SL_CHECK(strcmp(sl_strerror(-EBADMSG), sl_strerror(EBADMSG)) == 0);
        SL_CHECK(strcmp(sl_strerror(0), "success") == 0);
        return SL_DONE();
}
