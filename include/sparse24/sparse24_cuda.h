/* sparse24_cuda.h: the GPU side of sparse24 behind a plain C API; no CUDA
 * type leaks out, so C programs include it without the CUDA headers. Every
 * call exists in every build: without CUDA (or cuSPARSELt) they return
 * S24_ERR_NO_DEVICE (or S24_ERR_UNSUPPORTED) with a message that says so.
 *
 * The GEMM engine multiplies a 2:4-sparse weight W by a dense activation X:
 *     D (m x n) = act(alpha * W (m x k) * X (k x n) + beta * C (m x n) + bias (m))
 * W's groups of four run along k (the reduction dimension), as everywhere in
 * sparse24. A plan is made once per problem (shape, dtypes, layouts,
 * epilogue): it owns the library handles' descriptors, the compressed weight,
 * the workspace and the chosen algorithm, so s24_gemm_run allocates nothing,
 * builds no descriptor and can be captured in a CUDA graph.
 * Streams are passed as `void *` (a cudaStream_t); NULL means the context's.
 */
#ifndef SPARSE24_CUDA_H
#define SPARSE24_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "sparse24/sparse24_api.h"
#include "sparse24/sparse24.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Lines describing the driver, CUDA runtime, cuBLASLt, cuSPARSELt, cuDNN, NCCL
 * versions and the GPUs ("key: value\n" each), or why there are none.
 * Always succeeds; writes at most len bytes (NUL-terminated). */
S24_API void s24_cuda_info(char *buf, size_t len);

/* ---------------------------------------------------------------- context */
/* One GPU, its stream and the library handles (cuBLASLt, cuSPARSELt). */
typedef struct s24_gpu s24_gpu_t;

struct s24_gpu_props {
    char name[128];
    int device, cc_major, cc_minor, sm_count;
    size_t l2_bytes, mem_bytes;
    int driver, runtime;   /* cudaDriverGetVersion / cudaRuntimeGetVersion */
    int cublaslt;          /* cublasLtGetVersion */
    int cusparselt;        /* cusparseLtGetVersion as loaded; 0 without it */
};

S24_API int s24_gpu_init(int device, s24_gpu_t **out);
S24_API void s24_gpu_free(s24_gpu_t *g);
S24_API int s24_gpu_props(const s24_gpu_t *g, struct s24_gpu_props *out);
S24_API void *s24_gpu_stream(const s24_gpu_t *g);
S24_API int s24_gpu_sync(s24_gpu_t *g);

/* Device memory (cudaMalloc: 256-byte aligned) and copies on the context's stream
 * (synchronous for the caller: they return when the copy is done). */
S24_API int s24_gpu_alloc(s24_gpu_t *g, size_t bytes, void **out);
S24_API void s24_gpu_mem_free(s24_gpu_t *g, void *p);
S24_API int s24_gpu_upload(s24_gpu_t *g, void *dst, const void *src, size_t bytes);
S24_API int s24_gpu_download(s24_gpu_t *g, void *dst, const void *src, size_t bytes);
/* Fill count elements of dt (F16, BF16, F32, I8, F8_E4M3) with uniform random
 * values in [-scale, scale] (integers for I8), never zero, from a seed. */
S24_API int s24_gpu_fill_random(s24_gpu_t *g, enum s24_dtype dt, void *p, int64_t count,
                                uint64_t seed, float scale);
/* Fill with a repeated byte (to poison outputs before a check). */
S24_API int s24_gpu_fill_bytes(s24_gpu_t *g, void *p, int byte, size_t bytes);

/* CUDA graphs: everything enqueued on the context's stream between begin and
 * end is captured (nothing runs) and replayed by s24_graph_launch. */
typedef struct s24_graph s24_graph_t;
S24_API int s24_gpu_graph_begin(s24_gpu_t *g);
S24_API int s24_gpu_graph_end(s24_gpu_t *g, s24_graph_t **out);
S24_API int s24_graph_launch(s24_graph_t *gr);
S24_API void s24_graph_free(s24_graph_t *gr);

/* ---------------------------------------------------------------- GEMM */
enum s24_order { S24_ORDER_ROW = 0, S24_ORDER_COL = 1 };
enum s24_gemm_act { S24_GEMM_ACT_NONE = 0, S24_GEMM_ACT_RELU = 1, S24_GEMM_ACT_GELU = 2 };
/* SPARSE: cuSPARSELt; DENSE: cuBLASLt on the same (pruned) weight; AUTO:
 * both, timed once at tune in one interleaved batch; sparse is kept only
 * where it was at least 2% faster, dense otherwise (a tie is noise on small
 * shapes) and where the shape breaks cuSPARSELt's size rules. */
enum s24_gemm_mode { S24_GEMM_SPARSE = 0, S24_GEMM_DENSE = 1, S24_GEMM_AUTO = 2 };

struct s24_gemm_desc {
    int64_t m, n, k;
    enum s24_dtype in_type;   /* W and X: F16, BF16, I8, F8_E4M3 (F32 dense only) */
    enum s24_dtype out_type;  /* C and D: F16/BF16 for F16/BF16 in; I8, I32, F16,
                               * BF16 for I8; F16, BF16, F32 for F8_E4M3 */
    enum s24_order w_order, x_order, d_order; /* default ROW, COL, COL: a linear
                               * layer (W [out,in], X^T and D^T [batch, features]) */
    enum s24_gemm_act act;
    int bias;                 /* 1: add bias[m] (of out_type) to every column */
    int fp16_accum;           /* F16 in: accumulate in fp16 instead of fp32 */
    float alpha, beta;        /* beta != 0 reads C */
    /* sparse engine variants (the result is the same; the speed may not be) */
    int sparse_as_b;          /* give cuSPARSELt the transposed problem
                               * D^T = X^T W^T with W^T as its structured B */
    int use_op_t;             /* describe layouts as the opposite order + op T */
    int search;               /* tune runs cusparseLtMatmulSearch (alg, split-k) */
    int alg_id;               /* -1: library default, else this config id */
    int split_k;              /* 0: library default, 1: none, > 1: this split */
    int dense_tune;           /* tune times cuBLASLt's top heuristic choices */
};

/* Defaults: ROW/COL/COL, out_type = in_type (I32 for I8, BF16 for F8),
 * alpha 1, beta 0, no epilogue, alg_id -1, no search. */
S24_API void s24_gemm_desc_init(struct s24_gemm_desc *d, int64_t m, int64_t n, int64_t k,
                                enum s24_dtype in_type);
/* The shape, dtype, layout and epilogue rules of a mode, checked on the host
 * with a message that says what to change (no library error reaches you). */
S24_API int s24_gemm_check(const struct s24_gemm_desc *d, enum s24_gemm_mode mode);
/* The multiple m, n and k must be rounded up to for the sparse path (so a
 * caller can pad): fills mult[3] = {m, n, k}. */
S24_API void s24_gemm_sparse_multiples(enum s24_dtype in_type, enum s24_dtype out_type,
                                       int64_t mult[3]);
/* Dense-equivalent operations: 2*m*n*k. */
S24_API double s24_gemm_flops(const struct s24_gemm_desc *d);
/* Bytes of element type dt in a rows x cols matrix. */
S24_API size_t s24_gemm_bytes(enum s24_dtype dt, int64_t rows, int64_t cols);
S24_API const char *s24_gemm_mode_name(enum s24_gemm_mode mode); /* "sparse", ... */
/* "fp16", "bf16", "int8", "fp8", "fp32" (and the s24_dtype names) -> dtype. */
S24_API int s24_gemm_dtype_parse(const char *s, enum s24_dtype *out);
S24_API const char *s24_gemm_dtype_name(enum s24_dtype dt); /* "fp16", ... */

typedef struct s24_gemm_plan s24_gemm_plan_t;

S24_API int s24_gemm_plan_init(s24_gpu_t *g, const struct s24_gemm_desc *d, enum s24_gemm_mode mode,
                               s24_gemm_plan_t **out);
S24_API void s24_gemm_plan_free(s24_gemm_plan_t *p);
/* Give the plan its weight: W (m x k, w_order, in_type) in device memory.
 * prune = 1 prunes it to 2:4 on the device first (largest two magnitudes of
 * each group); prune = 0 requires it to be 2:4 already (checked on the
 * device: S24_ERR_NOT_SPARSE otherwise). The plan keeps its own copy
 * (compressed for cuSPARSELt, dense for cuBLASLt); d_w may be freed after.
 * A DENSE plan given prune = 0 takes any weight, unchecked (a dense baseline). */
S24_API int s24_gemm_plan_set_weight(s24_gemm_plan_t *p, const void *d_w, int prune);
/* The same from host memory. */
S24_API int s24_gemm_plan_set_weight_host(s24_gemm_plan_t *p, const void *h_w, int prune);
/* The same from sparse24's portable compressed format (s24_compress of the
 * (m, k, 1) view: values + 2-bit metadata), expanded on the host; dtype and
 * shape must match the plan (F16, BF16). */
S24_API int s24_gemm_plan_set_weight_compressed(s24_gemm_plan_t *p, const struct s24_compressed *c);
/* Write the weight as the plan multiplies with it (dense, pruned, w_order)
 * to device memory d_w (m x k elements). */
S24_API int s24_gemm_plan_get_weight(s24_gemm_plan_t *p, void *d_w);
/* One-time tuning on real buffers (D is overwritten): the cuSPARSELt search
 * (when desc.search), the cuBLASLt autotune (when desc.dense_tune), and in
 * AUTO mode the timing that picks sparse or dense. */
S24_API int s24_gemm_plan_tune(s24_gemm_plan_t *p, const void *d_x, const void *d_c, void *d_d);
/* Fix the bias pointer (device, m elements of out_type) before timing or
 * capturing: cuSPARSELt reads it when its plan is made, so s24_gemm_run given
 * a different pointer rebuilds the plan once (a sync, not capturable). */
S24_API int s24_gemm_plan_set_bias(s24_gemm_plan_t *p, const void *d_bias);
/* D = ... on `stream` (NULL: the context's). No allocation, no sync. */
S24_API int s24_gemm_run(s24_gemm_plan_t *p, const void *d_x, const void *d_c, void *d_d,
                         const void *d_bias, void *stream);

struct s24_gemm_plan_info {
    enum s24_gemm_mode mode;   /* as asked */
    enum s24_gemm_mode chosen; /* SPARSE or DENSE (AUTO: after tune) */
    int alg_id, alg_max, split_k; /* cuSPARSELt's configuration (-1 if none) */
    int search_rejected;          /* 1: the searched configuration's output disagreed
                                   * with the default's, so the default was kept */
    size_t workspace_bytes;    /* of the path in use */
    size_t weight_bytes;       /* compressed (sparse) or dense copy */
    double auto_sparse_ms, auto_dense_ms; /* AUTO's measurements (0 if none) */
    char dense_algo[64];       /* cuBLASLt choice: "heuristic" or "tuned #i" */
};
S24_API int s24_gemm_plan_info(const s24_gemm_plan_t *p, struct s24_gemm_plan_info *out);

/* ---------------------------------------------------------------- timing
 * The benchmark method lives here so that every caller measures the same way:
 * the GPU is held by a delay kernel while all calls are enqueued (so host
 * overhead cannot leak into device time), CUDA events around each call, an
 * L2 flush (a read of 2x the L2 size) before each when flush_l2, warm-up
 * calls first, the median of `repeats`. */
struct s24_gemm_timing {
    double median_ms, min_ms, max_ms;
    int repeats;
};
S24_API int s24_gemm_time(s24_gemm_plan_t *p, const void *d_x, const void *d_c, void *d_d,
                          int warmup, int repeats, int flush_l2, struct s24_gemm_timing *out);
/* Two plans of one GPU context on the same inputs (and output buffer, so
 * their shapes must agree), their calls alternating in one held batch so
 * that clock drift hits both alike: out[0] for a, out[1] for b. This is how
 * the benchmark compares AUTO with the dense baseline. */
S24_API int s24_gemm_time_pair(s24_gemm_plan_t *a, s24_gemm_plan_t *b, const void *d_x,
                               const void *d_c, void *d_d, int warmup, int repeats, int flush_l2,
                               struct s24_gemm_timing out[2]);
/* Host time per call (microseconds, median of batches of `calls`): of
 * s24_gemm_run, and of the bare library call it wraps with the same plan. */
S24_API int s24_gemm_host_cost(s24_gemm_plan_t *p, const void *d_x, const void *d_c, void *d_d,
                               int calls, double *run_us, double *raw_us);
/* Capture `calls` consecutive runs in a CUDA graph, replay it `repeats` times
 * and report the device time per call (us), and the same calls launched
 * one by one from the host without a graph (us per call, wall clock). */
S24_API int s24_gemm_graph_time(s24_gemm_plan_t *p, const void *d_x, const void *d_c, void *d_d,
                                int calls, int repeats, double *graph_us, double *eager_us);

/* ---------------------------------------------------------------- own kernel
 * sparse24's own 2:4 GEMM on the sparse tensor cores' warp-level instruction
 * (mma.sp, sm_80 and later): fp16 in, fp32 accumulate, fp16 out, in the
 * engine's default layout (W m x k row-major, 2:4 along k; X k x n and D
 * m x n column-major). It is a second, independent implementation to study
 * and to check the library against, not the fast path: cuSPARSELt is faster.
 * Shape rules are checked at init (S24_ERR_UNSUPPORTED names the rule). */
typedef struct s24_own_plan s24_own_plan_t;
S24_API int s24_own_plan_init(s24_gpu_t *g, int64_t m, int64_t n, int64_t k, s24_own_plan_t **out);
/* W on the device, already 2:4 along k (checked: S24_ERR_NOT_SPARSE);
 * compressed into the kernel's value + metadata layout, kept in the plan. */
S24_API int s24_own_plan_set_weight(s24_own_plan_t *p, const void *d_w);
S24_API int s24_own_run(s24_own_plan_t *p, const void *d_x, void *d_d, void *stream);
/* The engine's timing method (see s24_gemm_time) applied to s24_own_run. */
S24_API int s24_own_time(s24_own_plan_t *p, const void *d_x, void *d_d, int warmup, int repeats,
                         int flush_l2, struct s24_gemm_timing *out);
S24_API void s24_own_plan_free(s24_own_plan_t *p);

/* The same kernel as a 2:4 convolution, an implicit GEMM: y (n, oh, ow, oc)
 * NHWC fp16 = act(conv(x (n, h, w, c) NHWC fp16, W) + bias + z), W OHWI
 * (oc x kh*kw*c row-major, 2:4 along c, set by s24_own_plan_set_weight),
 * floor-mode output size, no groups or dilation. The input is read in
 * place, tap by tap (no im2col buffer). Needs c % 64 == 0, oc % 128 == 0
 * and n*oh*ow % 128 == 0 (S24_ERR_UNSUPPORTED names the rule). bias:
 * oc floats on the device or NULL; z: a residual of y's shape or NULL;
 * relu: 1 applies max(0, .) after the residual. */
struct s24_own_conv {
    int64_t n, h, w, c, oc, kh, kw, stride, pad;
};
S24_API int s24_own_conv_init(s24_gpu_t *g, const struct s24_own_conv *cs, s24_own_plan_t **out);
/* Without an engine context: on `device` (compute capability major
 * cc_major), its weight compressed on `stream` (a cudaStream_t). */
S24_API int s24_own_conv_init_at(int device, int cc_major, void *stream,
                                 const struct s24_own_conv *cs, s24_own_plan_t **out);
S24_API int s24_own_conv_run(s24_own_plan_t *p, const void *d_x, void *d_y, const float *d_bias,
                             const void *d_z, int relu, void *stream);

/* ---------------------------------------------------------------- own Hopper kernel
 * sparse24's own Hopper 2:4 GEMM (src/cuda/sm90/): CUTLASS's sm90 sparse
 * collectives (wgmma.mma_async.sp, TMA loads into a multi-stage pipeline,
 * warp-specialised producer and consumer warpgroups, a persistent tile
 * scheduler) instantiated for a few tile shapes; fp16 or bf16 in and out,
 * fp32 accumulation, the engine's default layout (W m x k row-major, 2:4
 * along k; X k x n and D m x n column-major). Built only where CUTLASS's
 * headers were found (scripts/setup.sh with S24_CUTLASS=1) and only for
 * sm_90a; elsewhere s24_sp90_available is 0 and init returns
 * S24_ERR_UNSUPPORTED. m and k multiples of 128, n of 8. */
typedef struct s24_sp90_plan s24_sp90_plan_t;
/* The number of tile configurations built (0: none); configuration i's
 * name (tile, cluster, schedule) and dtype. */
S24_API int s24_sp90_available(void);
S24_API const char *s24_sp90_config_name(int i);
S24_API enum s24_dtype s24_sp90_config_dtype(int i);
/* cfg -1: every configuration of dt that takes the shape (s24_sp90_tune
 * then picks one); i >= 0: configuration i alone (tests, studies). */
S24_API int s24_sp90_plan_init(s24_gpu_t *g, enum s24_dtype dt, int64_t m, int64_t n, int64_t k,
                               int cfg, s24_sp90_plan_t **out);
/* W on the device, dense and already 2:4 along k (checked:
 * S24_ERR_NOT_SPARSE); compressed once per configuration, kept in the plan. */
S24_API int s24_sp90_set_weight(s24_sp90_plan_t *p, const void *d_w);
/* Time every configuration that takes the shape on these buffers (repeats
 * calls each, interleaved, L2 flushed) and keep only the fastest. */
S24_API int s24_sp90_tune(s24_sp90_plan_t *p, const void *d_x, void *d_d, int repeats);
S24_API int s24_sp90_run(s24_sp90_plan_t *p, const void *d_x, void *d_d, void *stream);
/* The engine's timing method (see s24_gemm_time) applied to s24_sp90_run. */
S24_API int s24_sp90_time(s24_sp90_plan_t *p, const void *d_x, void *d_d, int warmup,
                          int repeats, int flush_l2, struct s24_gemm_timing *out);
/* This plan and another engine plan of the same shape (cuSPARSELt, say) on
 * the same X and D, their calls alternating in one held batch, L2 flushed
 * (as s24_gemm_time_pair): out[0] for this plan, out[1] for the other. */
S24_API int s24_sp90_time_pair(s24_sp90_plan_t *p, s24_gemm_plan_t *other, const void *d_x,
                               void *d_d, int warmup, int repeats, struct s24_gemm_timing out[2]);
/* The configuration s24_sp90_run launches (tile, cluster, schedule). */
S24_API const char *s24_sp90_config(const s24_sp90_plan_t *p);
S24_API void s24_sp90_plan_free(s24_sp90_plan_t *p);

#ifdef __cplusplus
}
#endif
#endif
