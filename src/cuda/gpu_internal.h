/* gpu_internal.h: what the CUDA translation units of the GEMM engine share
 * (C++ only, never installed): the context, the one check macro, and the
 * cuBLASLt dense plan. The cuSPARSELt side is behind sparse_engine.h, which
 * is plain C so that nocusparselt.c can stand in for it. */
#ifndef S24_GPU_INTERNAL_H
#define S24_GPU_INTERNAL_H

#include <cuda_runtime.h>

#include "dl_cublaslt.h" /* <cublasLt.h>, its calls through the run-time table */
#ifdef S24_HAVE_CUDNN
#include "dl_cudnn.h" /* <cudnn.h>, its calls through the run-time table */
#endif

#include "sparse24/sparse24_cuda.h"
#include "sparse_engine.h"

struct s24_gpu {
    int device;
    cudaStream_t stream;
    cublasLtHandle_t lt;
    void *splt;              /* cuSPARSELt handle (sparse_engine.h), NULL if none */
    int splt_status;         /* why splt is NULL (S24_OK when present) */
    char splt_error[1024];
    void *flush;             /* 2x L2 bytes, read to evict L2 before a timed call */
    size_t flush_bytes;
    int *flush_sink;         /* never written in practice: keeps the read alive */
    void *dense_ws;          /* cuBLASLt workspace shared by the dense plans */
    size_t dense_ws_bytes;
    struct s24_gpu_props props;
};

/* A sparse24 dtype as the CUDA libraries' descriptors name it (cuBLASLt's
 * and cuSPARSELt's); the GEMM engine has refused every other type before a
 * descriptor is made, so the 8-bit floats fall to E4M3. */
static inline cudaDataType s24_cuda_dtype(enum s24_dtype dt)
{
    switch (dt) {
    case S24_F16: return CUDA_R_16F;
    case S24_BF16: return CUDA_R_16BF;
    case S24_F32: return CUDA_R_32F;
    case S24_I8: return CUDA_R_8I;
    case S24_I32: return CUDA_R_32I;
    default: return CUDA_R_8F_E4M3;
    }
}

struct s24_graph {
    cudaGraphExec_t exec;
    cudaStream_t stream;
};

/* fn(arg)'s work on stream s recorded and instantiated into *ge, none of it
 * run (graph_capture.cu). On failure *ge is NULL, why (len bytes) says why,
 * the recorded and CUDA errors are cleared, and an error code returns. */
int s24_cu_capture(cudaStream_t s, int (*fn)(void *), void *arg, cudaGraphExec_t *ge, char *why,
                   size_t len);

/* One status translator per library, overloaded, and one macro that records
 * the failed call with its file and line, sets rc and jumps to `fail`. */
int s24_gpu_status(cudaError_t e, const char *call, const char *file, int line);
int s24_gpu_status(cublasStatus_t e, const char *call, const char *file, int line);
#ifdef S24_HAVE_CUDNN
int s24_gpu_status(cudnnStatus_t e, const char *call, const char *file, int line);
#endif
#define S24_GPU_CHECK(call)                                                        \
    do {                                                                           \
        if ((rc = s24_gpu_status((call), #call, __FILE__, __LINE__)) != S24_OK)    \
            goto fail;                                                             \
    } while (0)
/* Why cudaGetDeviceCount's e found no GPU, for messages: with no driver at
 * all the runtime (linked statically) says "driver version is insufficient",
 * which would send the reader to upgrade a driver that is not there. */
const char *s24_gpu_none_why(cudaError_t e);
/* After every kernel launch. */
#define S24_LAUNCH_CHECK() S24_GPU_CHECK(cudaGetLastError())

/* Kernels and helpers (gpu.cu). */
int s24_gpu_prune24(s24_gpu_t *g, enum s24_dtype dt, void *w, int64_t m, int64_t k,
                    enum s24_order order, cudaStream_t s);
/* Number of groups with more than two non-zeros, into *bad (syncs the stream). */
int s24_gpu_check24(s24_gpu_t *g, enum s24_dtype dt, const void *w, int64_t m, int64_t k,
                    enum s24_order order, cudaStream_t s, long long *bad);
int s24_gpu_flush_l2(s24_gpu_t *g, cudaStream_t s);
/* Keep the GPU busy for about `us` microseconds (so that the host can queue
 * work ahead of it). */
int s24_gpu_delay(s24_gpu_t *g, double us, cudaStream_t s);

/* Time `repeats` calls of fn (after `warmup`) by the engine's method (see
 * s24_gemm_time in sparse24_cuda.h). */
typedef int (*s24_call_fn)(void *ctx, cudaStream_t s);
int s24_gpu_time_calls(s24_gpu_t *g, s24_call_fn fn, void *ctx, int warmup, int repeats,
                       int flush_l2, struct s24_gemm_timing *out);
/* The same for n callables, their calls alternating in one held batch
 * (fn[0], fn[1], ..., then fn[1], fn[2], ..., fn[0]: each takes every
 * position in turn): out[j] is fn[j]'s timing. For comparing
 * two ways of doing the same work under the same conditions. */
int s24_gpu_time_interleaved(s24_gpu_t *g, int n, const s24_call_fn *fn, void *const *ctx,
                             int warmup, int repeats, int flush_l2, struct s24_gemm_timing *out);
/* Interleaved with L2 flushes, `repeats` calls each; where the fastest
 * median is under 50 us, timed again with `long_repeats` calls each.
 * *fastest (if given): the index of the fastest median. For choosing. */
int s24_gpu_time_settled(s24_gpu_t *g, int n, const s24_call_fn *fn, void *const *ctx, int warmup,
                         int repeats, int long_repeats, struct s24_gemm_timing *out, int *fastest);

/* cuBLASLt dense plan (cublaslt.cu). */
struct s24_dn;
int s24_dn_init(s24_gpu_t *g, const struct s24_gemm_desc *d, struct s24_dn **out);
void s24_dn_free(struct s24_dn *p);
int s24_dn_run(struct s24_dn *p, const void *w, const void *x, const void *c, void *dd,
               const void *bias, cudaStream_t s);
int s24_dn_raw(struct s24_dn *p, const void *w, const void *x, const void *c, void *dd,
               cudaStream_t s);
int s24_dn_tune(struct s24_dn *p, const void *w, const void *x, const void *c, void *dd,
                cudaStream_t s);
void s24_dn_info(const struct s24_dn *p, char *algo, size_t len, size_t *ws);

#endif
