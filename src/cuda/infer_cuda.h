/* infer_cuda.h: what the CUDA inference plan's files share (C++ only, never
 * installed). All activations are NHWC in one 16-bit type (`dt`: S24_F16
 * or S24_BF16), passed as void *; arithmetic inside every kernel is fp32.
 *
 *   infer_cuda.cu     the plan: steps from the model graph, buffers, the
 *                     2:4 path (cuSPARSELt), AUTO's measurement, the report
 *   infer_dense.cu    dense convs and linears through cuDNN (own direct
 *                     kernel where cuDNN is missing or has no algorithm)
 *   infer_own.cu      the 2:4 path of k x k convs on the own implicit-GEMM kernel
 *   infer_dw.cu       dense depthwise convs on the own kernel
 *   infer_vec.cuh     the kernels' shared loads, stores and activations
 *   infer_kernels.cu  the plan's own kernels (conversion, epilogues, add,
 *                     activations, average and max pooling, SE scale, im2col,
 *                     direct conv)
 *
 * Every launch is followed by S24_LAUNCH_CHECK; every library call's
 * status becomes an error (S24_GPU_CHECK). */
#ifndef S24_INFER_CUDA_H
#define S24_INFER_CUDA_H

#include <cuda_runtime.h>

#include "cuda/gpu_internal.h"
#include "nn/ops.h"

/* ---------------------------------------------------------------- kernels */
/* y (n) = x (n) converted; fp32 <-> dt */
int s24_icu_from_f32(enum s24_dtype dt, const float *x, void *y, int64_t n, cudaStream_t s);
int s24_icu_to_f32(enum s24_dtype dt, const void *x, float *y, int64_t n, cudaStream_t s);
/* y (rows, cp) = x (rows, c) converted, channels c..cp-1 zero (the padded
 * input of a stem conv: cuDNN's tensor-core kernels want channels in
 * multiples of 8) */
int s24_icu_from_f32_pad(enum s24_dtype dt, const float *x, void *y, int64_t rows, int64_t c,
                         int64_t cp, cudaStream_t s);
/* y (rows, c) = act(y + b + z) in place; b (c) fp32 or NULL; z (rows, c) dt
 * or NULL (a residual added before the activation); act an enum s24_act */
int s24_icu_bias_act(enum s24_dtype dt, void *y, int64_t rows, int64_t c, const float *b,
                     const void *z, int act, cudaStream_t s);
/* y (rows, c) = act(x * scale + shift): a batch norm that was not folded */
int s24_icu_affine_act(enum s24_dtype dt, const void *x, void *y, int64_t rows, int64_t c,
                       const float *scale, const float *shift, int act, cudaStream_t s);
/* y (n) = act(a + b) */
int s24_icu_add_act(enum s24_dtype dt, const void *a, const void *b, void *y, int64_t n, int act,
                    cudaStream_t s);
/* y (n) = act(x) */
int s24_icu_act(enum s24_dtype dt, const void *x, void *y, int64_t n, int act, cudaStream_t s);
/* y (n, c) = mean over hw of x (n, hw, c) */
int s24_icu_gap(enum s24_dtype dt, const void *x, void *y, int64_t n, int64_t hw, int64_t c,
                cudaStream_t s);
/* y = max pool of x (ps set by s24_pool_shape_init) */
int s24_icu_maxpool(enum s24_dtype dt, const struct s24_pool_shape *ps, const void *x, void *y,
                    cudaStream_t s);
/* y (n, hw, c) = x * sc (n, c) (squeeze-excitation) */
int s24_icu_scale(enum s24_dtype dt, const void *x, const void *sc, void *y, int64_t n,
                  int64_t hw, int64_t c, cudaStream_t s);
/* cols (rows, KH*KW*C) row-major: row p = output position (n, oh, ow), its
 * entries in (kh, kw, c) order, the order of an OHWI weight's row, so the
 * 2:4 groups along C meet the same inputs; zeros for padding taps and for
 * rows p >= n*oh*ow up to `rows`. groups must be 1. */
int s24_icu_im2col(enum s24_dtype dt, const struct s24_conv_shape *cs, const void *x, void *cols,
                   int64_t rows, cudaStream_t s);
/* int8 (the 2:4 GEMMs of an int8 plan): q = s24_q8_quant(x, inv) on the
 * device, the host's rounding (half to even) and clamp (-127..127).
 * q (rows, k) int8 from the first `valid` rows of x (rows, k) dt, zeros in
 * the rows after: a 1x1 conv's or a linear's input as an int8 GEMM reads it */
int s24_icu_quant8(enum s24_dtype dt, const void *x, signed char *q, int64_t valid, int64_t rows,
                   int64_t k, float inv, cudaStream_t s);
/* s24_icu_im2col's gather, each value quantised on the way (int8 cols) */
int s24_icu_im2col_q8(enum s24_dtype dt, const struct s24_conv_shape *cs, const void *x,
                      signed char *cols, int64_t rows, float inv, cudaStream_t s);
/* *amax = max(*amax, max |x[i]|) over n values (a NaN as +inf): the
 * calibration's reduction; *amax device memory, >= 0 */
int s24_icu_absmax(enum s24_dtype dt, const void *x, int64_t n, float *amax, cudaStream_t s);
/* y (n, oh, ow, oc) = act(conv(x, w) + b): a plain direct convolution, one
 * thread per output, any groups; w OHWI (oc, kh, kw, c/groups); b fp32 or
 * NULL. The fallback where cuDNN cannot run a layer. */
int s24_icu_conv_direct(enum s24_dtype dt, const struct s24_conv_shape *cs, const void *x,
                        const void *w, const float *b, int act, void *y, cudaStream_t s);

/* ---------------------------------------------------------------- depthwise */
/* 1 when cs is depthwise (groups = c = oc > 1), the shapes s24_icu_dw takes */
int s24_icu_dw_takes(const struct s24_conv_shape *cs);
/* y = act(dwconv(x, w) + b + z) on the own depthwise kernel (infer_dw.cu),
 * fp16 or bf16; w fp32 in (kh, kw, c) order; b fp32 or NULL; z a residual of
 * y's shape or NULL. `scalar`: the one-channel variant even where the
 * 8-channel one could run (the tests'). */
int s24_icu_dw(enum s24_dtype dt, const struct s24_conv_shape *cs, const void *x, const float *w,
               const float *b, const void *z, int act, void *y, int scalar, cudaStream_t s);

/* ---------------------------------------------------------------- dense */
/* A device buffer the plan's layers share (cuDNN workspace): grown, never
 * shrunk; growing waits for the stream (the old one may be in use). */
struct s24_icu_buf {
    void *p;
    size_t bytes;
};
int s24_icu_buf_grow(struct s24_icu_buf *b, size_t bytes, cudaStream_t s);
void s24_icu_buf_free(struct s24_icu_buf *b);

struct s24_icu_dnn; /* one layer's cuDNN state: descriptors and algorithm for its last shape */
/* y = act(conv(x, w) + bias + z) for shape cs (a linear layer is a 1x1 conv
 * over (n, 1, 1, in)); z: a residual of y's shape in dt, or NULL. b16:
 * bias in dt (for cuDNN's fused bias (+ z) + ReLU), b32 the same in fp32
 * (for the own epilogue). g: the plan's GPU context, whose stream everything
 * runs on (and times on: the fused call's algorithm is picked by timing);
 * handle: cudnnHandle_t bound to that stream, or NULL (no cuDNN: the direct
 * kernel). The first call at a shape
 * searches cuDNN's algorithms (it allocates and synchronises); `note`
 * (len bytes) gets what ran ("cuDNN fused bias+ReLU", "own direct conv: ...").
 * On error the message names `layer`. */
int s24_icu_dnn_run(struct s24_icu_dnn **st, void *handle, enum s24_dtype dt, const char *layer,
                    const struct s24_conv_shape *cs, const void *x, const void *w,
                    const void *b16, const float *b32, const void *z, int act, void *y,
                    struct s24_icu_buf *ws, s24_gpu_t *g, char *note, size_t len);
void s24_icu_dnn_free(struct s24_icu_dnn *st);

struct s24_icu_lt; /* one layer's cuBLASLt GEMM plan (infer_lt.cu) */
/* y (oc x np, NHWC rows) = W (oc x k) x + bias, with ReLU when `relu`:
 * a 1x1 conv or linear on its np (padded) positions. g: a GEMM-engine
 * context with a cuBLASLt handle and workspace. The plan is made at the
 * first call and again when np or relu change; a shape cuBLASLt or the
 * engine's rules refuse is an error (S24_ERR_UNSUPPORTED, ...) naming it. */
int s24_icu_lt_run(struct s24_icu_lt **st, s24_gpu_t *g, enum s24_dtype dt, const char *layer,
                   int64_t oc, int64_t np, int64_t k, const void *x, const void *w,
                   const void *b16, int relu, void *y, cudaStream_t s);
void s24_icu_lt_free(struct s24_icu_lt *st);

/* ---------------------------------------------------------------- own 2:4 conv */
struct s24_icu_own; /* one layer's own implicit-GEMM 2:4 conv plan (infer_own.cu) */
/* 0 when S24_INFER_OWN=0 */
int s24_icu_own_wanted(void);
/* y = act(conv(x, w) + bias + z) on the own kernel when it takes the layer
 * (fp16, groups 1, its tile rules at this shape): *ran = 1; else *ran = 0
 * and nothing ran (the caller's route). The first call at a shape makes the
 * plan and compresses w (it synchronises s). */
int s24_icu_own_run(struct s24_icu_own **st, int device, int cc_major, enum s24_dtype dt,
                    const char *layer, const struct s24_conv_shape *cs, const void *x,
                    const void *w, const float *b32, const void *z, int act, void *y,
                    cudaStream_t s, int *ran);
void s24_icu_own_free(struct s24_icu_own *st);

#endif
