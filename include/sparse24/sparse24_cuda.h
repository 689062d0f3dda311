/* sparse24_cuda.h: the GPU side of sparse24 behind a plain C API; no CUDA
 * type leaks out, so C programs include it without the CUDA headers. Every
 * call exists in every build: without CUDA (or cuSPARSELt) they return
 * S24_ERR_NO_DEVICE (or S24_ERR_UNSUPPORTED) with a message that says so. */
#ifndef SPARSE24_CUDA_H
#define SPARSE24_CUDA_H

#include <stddef.h>

#include "sparse24/sparse24.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Lines describing the driver, CUDA runtime, cuBLASLt, cuSPARSELt, cuDNN, NCCL
 * versions and the GPUs ("key: value\n" each), or why there are none.
 * Always succeeds; writes at most len bytes (NUL-terminated). */
void s24_cuda_info(char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
