/* nn_cuda.h: what the CUDA training backend's translation units share (C++
 * only, never installed): its context (be->ctx) and the ops each file
 * implements, with the signatures of struct s24_be_ops (src/nn/ops.h).
 *
 *   nn_backend.cu  context, memory hooks, per-node state, the ops table
 *   nn_conv.cu     convolutions through cuDNN (NHWC, algorithms found once
 *                  per shape, kept in the node's state), own depthwise kernels
 *   conv_graph.cu  the same convs through cuDNN's graph API, where its plan is faster
 *   nn_linear.cu   linear layers through cuBLASLt
 *   nn_elem.cu     activations, add, accumulate, average pooling, SE scale, row masks
 *   nn_pool.cu     max pooling
 *   nn_norm.cu     batch norm (statistics, running-stat update, apply, backward)
 *   nn_step.cu     loss, masked SGD, the batch augmentation kernel
 *
 * Every launch is followed by S24_LAUNCH_CHECK (gpu_internal.h). */
#ifndef S24_NN_CUDA_H
#define S24_NN_CUDA_H

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include <initializer_list>
#include <type_traits>

#include "cuda/gpu_internal.h"
#include "nn/ops.h"

struct s24_cuda_nn {
    int device;
    cudaStream_t stream;  /* where ops queue: main, or side between side_begin and side_end */
    /* the side queue (ops.h side_begin): made on first use; ev_fork orders
     * it after the main stream's work, ev_join the main stream after it */
    cudaStream_t main, side;
    cudaEvent_t ev_fork, ev_join;
    void *dnn;            /* cudnnHandle_t (void * so files without cuDNN compile) */
    cublasLtHandle_t lt;
    int tf32;             /* 1: TF32 tensor-core math for fp32 convs and GEMMs (PyTorch's
                           * allow_tf32 mode); 0: strict fp32 (tests). S24_TF32=0 turns it off. */
    int deterministic;    /* 1: only deterministic cuDNN algorithms */
    void *lt_ws;          /* cuBLASLt workspace */
    size_t lt_ws_bytes;
    /* mixed mode: the bf16 copy of the conv weight being used and its bf16
     * filter gradient (nn_conv.cu), one buffer for all convs: the stream
     * orders each conv's use before the next one's cast */
    void *w16;
    size_t w16_cap;
    /* mixed mode: fp32 copies of a conv's x and dy for a filter gradient
     * that is faster in fp32 (nn_conv.cu's wgrad32) */
    void *f32;
    size_t f32_cap;
};

static inline struct s24_cuda_nn *s24_cu(struct s24_backend *be)
{
    return (struct s24_cuda_nn *)be->ctx;
}

/* Launch geometry for a flat loop over n elements. */
static inline unsigned s24_cu_blocks(int64_t n, int threads)
{
    int64_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 1 ? 1 : b > 65535 * 4 ? 65535 * 4 : b);
}

/* ---- activation storage (be->act, src/nn/ops.h): a kernel templated on
 * T = float or __nv_bfloat16 loads through s24_ld (to fp32) and stores
 * through s24_st (rounded to nearest even), so its fp32 instantiation is the
 * plain kernel. s24_cu_by_act(be, f) calls f with a null T pointer of the
 * backend's type; the op casts its `float *` activation pointers to T *. */
typedef __nv_bfloat16 s24_bf16;
static __device__ __forceinline__ float s24_ld(const float *p) { return *p; }
static __device__ __forceinline__ float s24_ld(const s24_bf16 *p) { return __bfloat162float(*p); }
static __device__ __forceinline__ void s24_st(float *p, float v) { *p = v; }
static __device__ __forceinline__ void s24_st(s24_bf16 *p, float v) { *p = __float2bfloat16_rn(v); }

template <class F> static inline void s24_cu_by_act(const struct s24_backend *be, F f)
{
    if (be->act == S24_BF16) f((s24_bf16 *)0);
    else f((float *)0);
}

/* V adjacent activations to and from fp32: V = 1 element by element, V =
 * 16 / sizeof(T) as one 16-byte access (4 fp32 or 8 bf16; the same
 * rounding as s24_st). A flat kernel moving 2-byte elements one at a time
 * keeps too few bytes in flight per SM to reach the memory's rate: on the
 * H200 ResNet18's bf16 residual adds ran at about a quarter of it. */
template <int V> static __device__ __forceinline__ void s24_ldn(const float *p, float *v)
{
    if constexpr (V == 1) v[0] = *p;
    else {
        static_assert(V == 4, "fp32: 1 or 4");
        float4 q = *(const float4 *)p;
        v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
    }
}
template <int V> static __device__ __forceinline__ void s24_ldn(const s24_bf16 *p, float *v)
{
    if constexpr (V == 1) v[0] = __bfloat162float(*p);
    else {
        static_assert(V == 8, "bf16: 1 or 8");
        uint4 q = *(const uint4 *)p;
        const __nv_bfloat162 *h = (const __nv_bfloat162 *)&q;
        for (int k = 0; k < 4; k++) {
            float2 f = __bfloat1622float2(h[k]);
            v[2 * k] = f.x, v[2 * k + 1] = f.y;
        }
    }
}
template <int V> static __device__ __forceinline__ void s24_stn(float *p, const float *v)
{
    if constexpr (V == 1) *p = v[0];
    else *(float4 *)p = make_float4(v[0], v[1], v[2], v[3]);
}
template <int V> static __device__ __forceinline__ void s24_stn(s24_bf16 *p, const float *v)
{
    if constexpr (V == 1) *p = __float2bfloat16_rn(v[0]);
    else {
        uint4 q;
        __nv_bfloat162 *h = (__nv_bfloat162 *)&q;
        for (int k = 0; k < 4; k++) h[k] = __floats2bfloat162_rn(v[2 * k], v[2 * k + 1]);
        *(uint4 *)p = q;
    }
}

/* Whether every pointer given is 16-byte aligned (NULL counts as aligned). */
static inline bool s24_cu_al16(std::initializer_list<const void *> ptrs)
{
    uintptr_t a = 0;
    for (const void *p : ptrs) a |= (uintptr_t)p;
    return (a & 15) == 0;
}

/* Calls f(std::integral_constant<int, V>, groups): V = 16 / sizeof(T) where
 * n divides by it and every pointer is 16-byte aligned, else V = 1;
 * groups = n / V. */
template <class T, class F>
static inline void s24_cu_by_vec(int64_t n, std::initializer_list<const void *> ptrs, F f)
{
    constexpr int V = 16 / (int)sizeof(T);
    if (n % V == 0 && s24_cu_al16(ptrs)) f(std::integral_constant<int, V>{}, n / V);
    else f(std::integral_constant<int, 1>{}, n);
}

/* The activations' arithmetic, shared by nn_elem.cu's kernels and the ones
 * that fuse an activation (nn_norm.cu), so a fused result is the separate
 * op's bit for bit. A is an enum s24_act (not NONE). */
static __device__ __forceinline__ float s24_cu_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

template <int A> static __device__ __forceinline__ float s24_cu_act(float v)
{
    if (A == S24_ACT_RELU) return v > 0.0f ? v : 0.0f;
    if (A == S24_ACT_SILU) return __fmul_rn(v, s24_cu_sigmoid(v));
    return s24_cu_sigmoid(v);
}

/* The gradient through act at input x (output y) for output gradient dy;
 * ReLU gives 0 where x <= 0 (the separate op adds nothing there). */
template <int A> static __device__ __forceinline__ float s24_cu_act_grad(float x, float y, float dy)
{
    if (A == S24_ACT_RELU) return x > 0.0f ? dy : 0.0f;
    if (A == S24_ACT_SILU) {
        /* the CPU's dy * s * (1 + x (1 - s)): SiLU's derivative from x alone */
        float s = s24_cu_sigmoid(x);
        float inner = __fadd_rn(1.0f, __fmul_rn(x, __fsub_rn(1.0f, s)));
        return __fmul_rn(__fmul_rn(dy, s), inner);
    }
    return __fmul_rn(__fmul_rn(dy, y), __fsub_rn(1.0f, y));
}

/* nn_conv.cu */
int s24_cu_conv2d_fwd(struct s24_backend *be, void **state, const struct s24_conv_shape *s,
                      const float *x, const float *w, const float *b, float *y);
int s24_cu_conv2d_bwd(struct s24_backend *be, void **state, const struct s24_conv_shape *s,
                      const float *x, const float *w, const float *dy, float *dx, int acc,
                      float *dw, float *db);
void s24_cu_conv_state_free(void *state);

/* nn_linear.cu; also the helpers the mixed mode shares:
 * colsum: out (cols, fp32) += the column sums of x (rows, cols; activations);
 * rowbias: the bias broadcast over rows;
 * cvt: dst = src, or dst += src (acc), over n elements, each of the two in
 * fp32 or bf16 (*_bf16), math in fp32. */
int s24_cu_colsum_acc(struct s24_backend *be, int64_t rows, int64_t cols, const float *x,
                      float *out);
/* y (rows, cols; activations) += b (cols, fp32) */
int s24_cu_rowbias(struct s24_backend *be, int64_t rows, int64_t cols, const float *b, float *y);
int s24_cu_cvt(struct s24_backend *be, int64_t n, const void *src, int src_bf16, void *dst,
               int dst_bf16, int acc);
int s24_cu_linear_fwd(struct s24_backend *be, int64_t n, int64_t in, int64_t out, const float *x,
                      const float *w, const float *b, float *y);
int s24_cu_linear_bwd(struct s24_backend *be, int64_t n, int64_t in, int64_t out, const float *x,
                      const float *w, const float *dy, float *dx, float *dw, float *db);

/* nn_norm.cu */
int s24_cu_bn_fwd_train(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                        const float *gamma, const float *beta, float eps, float momentum,
                        enum s24_act act, float *y, float *mean, float *invstd, float *rmean,
                        float *rvar);
int s24_cu_bn_fwd_eval(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                       const float *gamma, const float *beta, const float *rmean,
                       const float *rvar, float eps, enum s24_act act, float *y);
int s24_cu_bn_bwd(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                  const float *mean, const float *invstd, const float *gamma, const float *beta,
                  enum s24_act act, const float *dy, float *dx, int acc, float *dgamma,
                  float *dbeta);

/* Batch norm in parts, for sync BN (ops.h: bn_stats .. bn_bwd_apply). */
int s24_cu_bn_stats(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                    const float *shift, float *sums);
int s24_cu_bn_fwd_apply(struct s24_backend *be, int64_t rows, int64_t c, int64_t total,
                        const float *x, const float *gamma, const float *beta, const float *sums,
                        const float *shift, float eps, float momentum, enum s24_act act, float *y,
                        float *mean, float *invstd, float *rmean, float *rvar);
int s24_cu_bn_bwd_reduce(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                         const float *mean, const float *invstd, const float *gamma,
                         const float *beta, enum s24_act act, const float *dy, float *sums,
                         float *dgamma, float *dbeta);
int s24_cu_bn_bwd_apply(struct s24_backend *be, int64_t rows, int64_t c, int64_t total,
                        const float *x, const float *mean, const float *invstd,
                        const float *gamma, const float *beta, enum s24_act act, const float *dy,
                        const float *sums, float *dx, int acc);

/* nn_elem.cu */
int s24_cu_act_fwd(struct s24_backend *be, enum s24_act a, int64_t n, const float *x, float *y);
int s24_cu_act_bwd(struct s24_backend *be, enum s24_act a, int64_t n, const float *x,
                   const float *y, const float *dy, float *dx, int acc);
int s24_cu_add_fwd(struct s24_backend *be, int64_t n, const float *a, const float *b,
                   enum s24_act act, float *y);
int s24_cu_acc(struct s24_backend *be, int64_t n, const float *dy, float *dx);
int s24_cu_gap_fwd(struct s24_backend *be, int64_t n, int64_t hw, int64_t c, const float *x,
                   float *y);
int s24_cu_gap_bwd(struct s24_backend *be, int64_t n, int64_t hw, int64_t c, const float *dy,
                   float *dx);
int s24_cu_scale_fwd(struct s24_backend *be, int64_t n, int64_t hw, int64_t c, const float *x,
                     const float *s, float *y);
int s24_cu_scale_bwd(struct s24_backend *be, int64_t n, int64_t hw, int64_t c, const float *x,
                     const float *s, const float *dy, float *dx, float *ds);
int s24_cu_rowmask_fwd(struct s24_backend *be, int64_t rows, int64_t inner, const float *x,
                       const float *mask, float *y);
int s24_cu_rowmask_bwd(struct s24_backend *be, int64_t rows, int64_t inner, const float *mask,
                       const float *dy, float *dx);
int s24_cu_rowmask_draw(struct s24_backend *be, int64_t rows, float p, const uint64_t *key,
                        float *mask);

/* nn_pool.cu */
int s24_cu_maxpool_fwd(struct s24_backend *be, const struct s24_pool_shape *s, const float *x,
                       float *y);
int s24_cu_maxpool_bwd(struct s24_backend *be, const struct s24_pool_shape *s, const float *x,
                       const float *dy, float *dx);

/* nn_step.cu */
int s24_cu_xent(struct s24_backend *be, int n, int classes, const float *logits,
                const int32_t *labels, float *dlogits, double *acc);
int s24_cu_sgd(struct s24_backend *be, int64_t n, float *p, float *g, float *buf,
               const uint8_t *mask, const float *hyper, float wd);
int s24_cu_batch(struct s24_backend *be, const struct s24_batch_args *a);

#endif
