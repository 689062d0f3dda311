/* sp90.h: the seam between sparse24's own Hopper 2:4 GEMM plan (sp90_plan.cu)
 * and its kernels (sp90_cfg.cu, built once per tile configuration). Each
 * configuration is one instantiation of CUTLASS's sm90 sparse collectives
 * (wgmma.mma_async.sp fed by TMA, warp-specialised producer and consumer
 * warpgroups, a persistent tile scheduler); the plan only sees this table,
 * so the slow-to-compile templates stay in their own objects and the plan
 * builds in seconds. C++ only, never installed. */
#ifndef S24_SP90_H
#define S24_SP90_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

/* One problem in the engine's default layout: D (m x n, column-major) =
 * W (m x k, row-major, 2:4 along k) X (k x n, column-major). */
struct s24_sp90_args {
    int m, n, k;
    const void *a;  /* W compressed by this configuration's compressor */
    const void *e;  /* its metadata */
    const void *b;  /* X */
    void *d;        /* D */
    int device, sm_count;
    int swizzle; /* the persistent scheduler's tile swizzle: 1, 2, 4 or 8 */
};

/* What a configuration can do. Every call returns 0 or a sparse24 status
 * with the message set (s24_error). */
struct s24_sp90_cfg {
    const char *name;
    int dtype; /* enum s24_dtype of W, X and D (fp32 accumulation) */
    /* Bytes of the compressed W and of its metadata for m x k. */
    void (*packed_bytes)(int m, int k, size_t *a_bytes, size_t *e_bytes);
    /* W (m x k row-major, dense, already 2:4) into a / e on stream s. */
    int (*compress)(const void *w, int m, int k, void *a, void *e, int device, int sm_count,
                    cudaStream_t s);
    /* A kernel object for one problem: made (checked, workspace sized),
     * bound to its buffers, launched, freed. bind may be called again with
     * other buffers of the same shape. */
    int (*make)(const struct s24_sp90_args *p, void **state, size_t *ws_bytes);
    int (*bind)(void *state, const struct s24_sp90_args *p, void *ws, cudaStream_t s);
    int (*launch)(void *state, cudaStream_t s);
    void (*destroy)(void *state);
};

/* The configurations built (sp90_plan.cu lists them). */
extern const struct s24_sp90_cfg *const s24_sp90_cfgs[];
extern const int s24_sp90_ncfgs;

#endif
