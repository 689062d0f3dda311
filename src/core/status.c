/* status.c: error codes, their names, and the per-thread last-error message.
 * The library never prints or exits; callers read s24_last_error(). */
#include "sparse24/sparse24.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[1024];

const char *s24_status_str(int status)
{
    switch (status) {
    case S24_OK: return "ok";
    case S24_ERR_INVALID: return "invalid argument";
    case S24_ERR_NOMEM: return "out of memory";
    case S24_ERR_UNSUPPORTED: return "unsupported";
    case S24_ERR_IO: return "I/O error";
    case S24_ERR_FORMAT: return "malformed file";
    case S24_ERR_CUDA: return "CUDA error";
    case S24_ERR_CUSPARSELT: return "cuSPARSELt error";
    case S24_ERR_CUBLAS: return "cuBLAS error";
    case S24_ERR_CUDNN: return "cuDNN error";
    case S24_ERR_NCCL: return "NCCL error";
    case S24_ERR_NO_DEVICE: return "no GPU available";
    case S24_ERR_NOT_SPARSE: return "not N:M sparse";
    case S24_ERR_INTERRUPTED: return "interrupted";
    case S24_ERR_NOT_FOUND: return "not found";
    case S24_ERR_COMM: return "collective failed";
    default: return "unknown error";
    }
}

const char *s24_last_error(void) { return last_error; }

void s24_clear_error(void) { last_error[0] = 0; }

int s24_error(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}
