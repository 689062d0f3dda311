/* nn_norm.cu: batch normalisation on the GPU over NHWC rows (rows = n*h*w,
 * channels contiguous): batch statistics with the running-statistics update,
 * the eval-mode apply, and the backward, with src/cpu/nn_norm.c's results.
 *
 * Activations (x, y, dy, dx) are stored as the backend's be->act: fp32, or
 * bf16 in the mixed mode (src/nn/ops.h); every kernel that touches them is
 * templated on that storage type T and the op picks it (s24_cu_by_act).
 * Loads widen to fp32, the math is fp32 (fp64 sums) either way, and each
 * activation store is rounded to nearest even; gamma, beta, the statistics
 * and dgamma, dbeta stay fp32. The fp32 instantiation is the plain kernel.
 * The bf16 one takes two adjacent channels a thread (V = 2: one 4-byte
 * __nv_bfloat162 access per pair) when c is even and every activation
 * pointer is 4-byte aligned, else one (the memory traffic is what the mixed
 * mode halves: batch norm is most of a training step's element-wise time).
 *
 * Statistics take one pass over x: each block sums a tile of rows for a set
 * of channels in fp64, shifted by the channel's first value (so a large
 * mean does not cancel the variance away), and writes its partial sums to
 * the backend's scratch; a second kernel adds the partials in a fixed order
 * (so every run gives the same bits), and a third applies them. The
 * backward has the same three steps. The per-element arithmetic is the
 * CPU's, one rounding at a time (__fmul_rn, __fadd_rn): with equal
 * statistics, y and dx equal the CPU's bit for bit in fp32, and the CPU's
 * (on the same bf16 inputs) rounded to bf16 in the mixed mode.
 *
 * A ReLU or SiLU after the norm is fused (template A): the apply kernel
 * writes act(bn(x)), and the backward kernels recompute bn(x) from x with
 * the apply kernel's rounding and take the activation's gradient first, so
 * the pre-activation never goes to memory and the results are the separate
 * ops' bit for bit.
 *
 * The ops in parts for sync BN (bn_stats .. bn_bwd_apply, at the end) reuse
 * these kernels with finishing kernels that write or read the per-channel
 * sums the caller all-reduces between them.
 *
 * Not here: fp16 activations, atomics (they would make the sums depend on
 * the order blocks finish in). */
#include <math.h>
#include <stdint.h>

#include <type_traits>

#include "cuda/nn_cuda.h"

#define S24_BN_TPB 256     /* threads per block of the tile kernels */
#define S24_BN_BLOCKS 2048 /* about this many blocks per launch (H200: 132 SMs) */
#define S24_BN_FIN 32      /* the finishing kernel: 32 channels x 32 lanes over chunks */

/* ---------------------------------------------------------------- geometry */
/* A block of the tile kernels covers `ct` channels (all of them when
 * c <= 128, so a warp reads one contiguous stretch; else 32, a 128-byte
 * segment of each fp32 row) with ct / V threads across them (V channels
 * each, template V of the kernels) and `rt` lanes of those over one chunk of
 * `rpc` rows. */
struct s24_bn_geom {
    int ct, rt;
    unsigned tiles, chunks;
    int64_t rpc;
};

static struct s24_bn_geom s24_bn_geom_for(int64_t rows, int64_t c, int v)
{
    struct s24_bn_geom g;
    g.ct = c <= 128 ? (int)c : 32;
    g.rt = S24_BN_TPB / (g.ct / v);
    g.tiles = (unsigned)((c + g.ct - 1) / g.ct);
    /* at least 16 rows a thread, so the partials stay few */
    int64_t want = (rows + (int64_t)g.rt * 16 - 1) / ((int64_t)g.rt * 16);
    int64_t cap = S24_BN_BLOCKS / (int64_t)g.tiles;
    int64_t ch = want < cap ? want : cap;
    if (ch < 1) ch = 1;
    g.rpc = (rows + ch - 1) / ch;
    g.chunks = (unsigned)((rows + g.rpc - 1) / g.rpc);
    return g;
}

static int s24_bn_shape_ok(const char *op, int64_t rows, int64_t c)
{
    if (rows < 1 || c < 1 || (c + 31) / 32 > 65535 || rows > INT64_MAX / c)
        return s24_error(S24_ERR_INVALID, "%s: bad shape rows %lld, c %lld", op, (long long)rows,
                         (long long)c);
    return S24_OK;
}

/* f(std::integral_constant<int, V>()) where T is bf16: V = 8 where c is a
 * multiple of 8 and `addrs` (the activation pointers or'ed) 16-byte aligned,
 * so 8 channels are one aligned 16-byte access at every offset used (on the
 * H200 the 4-byte pairs left ResNet18's bf16 batch norm at 1.9 ms of its
 * 4.9 ms step); else V = 2 where c is even and addrs 4-byte aligned; else 1.
 * fp32: V = 1. */
template <class T, class F> static int s24_bn_by_vec(int64_t c, uintptr_t addrs, F f)
{
    if constexpr (std::is_same<T, s24_bf16>::value) {
        if (c % 8 == 0 && addrs % 16 == 0) return f(std::integral_constant<int, 8>());
        if (c % 2 == 0 && addrs % 4 == 0) return f(std::integral_constant<int, 2>());
    }
    return f(std::integral_constant<int, 1>());
}

/* V adjacent activations at p into v as fp32, and v back rounded to T. */
template <int V, class T> static __device__ __forceinline__ void s24_bn_ld(const T *p, float *v)
{
    static_assert(V == 1 || std::is_same<T, s24_bf16>::value, "channel pairs are bf16");
    if constexpr (V == 8) {
        s24_ldn<8>(p, v);
    } else if constexpr (V == 2) {
        float2 f = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(p));
        v[0] = f.x;
        v[1] = f.y;
    } else {
        v[0] = s24_ld(p);
    }
}

template <int V, class T> static __device__ __forceinline__ void s24_bn_st(T *p, const float *v)
{
    static_assert(V == 1 || std::is_same<T, s24_bf16>::value, "channel pairs are bf16");
    if constexpr (V == 8)
        s24_stn<8>(p, v);
    else if constexpr (V == 2)
        *reinterpret_cast<__nv_bfloat162 *>(p) = __floats2bfloat162_rn(v[0], v[1]);
    else
        s24_st(p, v[0]);
}

/* ---------------------------------------------------------------- partial sums */
/* part (chunks, 2, c) doubles, one chunk a blockIdx.y. STATS: sum (x - k) and
 * sum (x - k)^2 with k = x[0, j]; else (the backward) sum dy and
 * sum dy (x - mean) invstd, the CPU's product order. */
/* bn(x) as the apply kernel rounds it. */
static __device__ __forceinline__ float s24_bn_z(float x, float m, float is, float g, float b)
{
    return __fadd_rn(__fmul_rn(__fmul_rn(__fsub_rn(x, m), is), g), b);
}

/* The gradient of bn's output: dy itself, or through the fused activation. */
template <int A>
static __device__ __forceinline__ float s24_bn_dz(float x, float m, float is, float g, float b,
                                                  float dy)
{
    if (A == S24_ACT_NONE) return dy;
    return s24_cu_act_grad<A>(s24_bn_z(x, m, is, g, b), 0.0f, dy);
}

/* Thread t takes channels j .. j+V-1 of its tile; r1, r2 hold each lane's
 * sums by (lane, channel of the tile), and thread t < ct adds channel t's. */
template <int STATS, int A, class T, int V>
static __global__ void s24_bn_partial_k(int64_t rows, int64_t c, int ct, int rt, int64_t rpc,
                                        const T *__restrict__ x, const T *__restrict__ dy,
                                        const float *__restrict__ mean,
                                        const float *__restrict__ invstd,
                                        const float *__restrict__ gamma,
                                        const float *__restrict__ beta, double *__restrict__ part)
{
    __shared__ double r1[S24_BN_TPB * V], r2[S24_BN_TPB * V];
    int t = threadIdx.x, cv = ct / V, lane = t / cv, q = V * (t % cv);
    int64_t j = (int64_t)blockIdx.x * ct + q;
    int64_t r0 = (int64_t)blockIdx.y * rpc, r1e = r0 + rpc < rows ? r0 + rpc : rows;
    double s1[V], s2[V];
#pragma unroll
    for (int e = 0; e < V; e++)
        s1[e] = s2[e] = 0;
    if (lane < rt && j < c) {
        if (STATS) {
            float kf[V];
            double k[V];
            s24_bn_ld<V>(x + j, kf);
#pragma unroll
            for (int e = 0; e < V; e++)
                k[e] = kf[e];
#pragma unroll 4
            for (int64_t r = r0 + lane; r < r1e; r += rt) {
                float xv[V];
                s24_bn_ld<V>(x + r * c + j, xv);
#pragma unroll
                for (int e = 0; e < V; e++) {
                    double v = (double)xv[e] - k[e];
                    s1[e] += v;
                    s2[e] += v * v;
                }
            }
        } else {
            float mf[V], isf[V], gm[V], bt[V];
            double m[V], is[V];
#pragma unroll
            for (int e = 0; e < V; e++) {
                mf[e] = mean[j + e], isf[e] = invstd[j + e];
                gm[e] = A == S24_ACT_NONE ? 0.0f : gamma[j + e];
                bt[e] = A == S24_ACT_NONE ? 0.0f : beta[j + e];
                m[e] = mf[e], is[e] = isf[e];
            }
#pragma unroll 4
            for (int64_t r = r0 + lane; r < r1e; r += rt) {
                float xv[V], dv[V];
                s24_bn_ld<V>(x + r * c + j, xv);
                s24_bn_ld<V>(dy + r * c + j, dv);
#pragma unroll
                for (int e = 0; e < V; e++) {
                    double g = s24_bn_dz<A>(xv[e], mf[e], isf[e], gm[e], bt[e], dv[e]);
                    s1[e] += g;
                    s2[e] += g * ((double)xv[e] - m[e]) * is[e];
                }
            }
        }
    }
    if (lane < rt) {
#pragma unroll
        for (int e = 0; e < V; e++) {
            r1[lane * ct + q + e] = s1[e];
            r2[lane * ct + q + e] = s2[e];
        }
    }
    __syncthreads();
    int64_t jt = (int64_t)blockIdx.x * ct + t;
    if (t < ct && jt < c) {
        double a = 0, b = 0;
        for (int l = 0; l < rt; l++) {
            a += r1[l * ct + t];
            b += r2[l * ct + t];
        }
        part[(int64_t)blockIdx.y * 2 * c + jt] = a;
        part[((int64_t)blockIdx.y * 2 + 1) * c + jt] = b;
    }
}

/* The two sums of channel j over all chunks, into lane 0 (ty == 0): 32 lanes
 * stride the chunks, then lane 0 adds the 32 in order. All threads call it. */
static __device__ __forceinline__ void s24_bn_gather(int64_t c, unsigned chunks, const double *part,
                                                     int64_t j, double *o1, double *o2)
{
    __shared__ double a1[S24_BN_FIN][S24_BN_FIN + 1], a2[S24_BN_FIN][S24_BN_FIN + 1];
    int tx = threadIdx.x, ty = threadIdx.y;
    double s1 = 0, s2 = 0;
    if (j < c) {
#pragma unroll 4
        for (unsigned k = ty; k < chunks; k += S24_BN_FIN) {
            s1 += part[(int64_t)k * 2 * c + j];
            s2 += part[((int64_t)k * 2 + 1) * c + j];
        }
    }
    a1[ty][tx] = s1;
    a2[ty][tx] = s2;
    __syncthreads();
    s1 = s2 = 0;
    if (ty == 0)
        for (int l = 0; l < S24_BN_FIN; l++) {
            s1 += a1[l][tx];
            s2 += a2[l][tx];
        }
    *o1 = s1;
    *o2 = s2;
}

/* ---------------------------------------------------------------- forward */
/* mean, invstd (c) from the partials; rmean, rvar (c) updated (both or
 * neither, as the CPU backend) with the CPU's float expression. */
template <class T>
static __global__ void __launch_bounds__(S24_BN_FIN *S24_BN_FIN)
    s24_bn_finish_fwd_k(int64_t rows, int64_t c, unsigned chunks, const double *__restrict__ part,
                        const T *__restrict__ x, float eps, float momentum, float unb,
                        float *mean, float *invstd, float *rmean, float *rvar)
{
    int64_t j = (int64_t)blockIdx.x * S24_BN_FIN + threadIdx.x;
    double s1, s2;
    s24_bn_gather(c, chunks, part, j, &s1, &s2);
    if (threadIdx.y != 0 || j >= c) return;
    double n = (double)rows, d1 = s1 / n, m = (double)s24_ld(x + j) + d1;
    float mf = (float)m;
    double var = s2 / n - d1 * d1, e = m - (double)mf;
    /* the CPU's deviations are taken from the rounded mean: its variance
     * carries the rounding error squared */
    var = (var > 0 ? var : 0) + e * e;
    float vf = (float)var, om = __fsub_rn(1.0f, momentum);
    mean[j] = mf;
    invstd[j] = (float)(1.0 / sqrt(var + (double)eps));
    if (rmean && rvar) {
        rmean[j] = __fadd_rn(__fmul_rn(om, rmean[j]), __fmul_rn(momentum, mf));
        rvar[j] = __fadd_rn(__fmul_rn(om, rvar[j]), __fmul_rn(__fmul_rn(momentum, vf), unb));
    }
}

/* x, y (rows, c), y may be x: y = act((x - mean) invstd gamma + beta); with rvar
 * given, the eval mode: invstd from the running variance, as the CPU has it. */
template <int A, class T, int V>
static __global__ void s24_bn_apply_k(int64_t rows, int64_t c, int ct, int rt, int64_t rpc,
                                      const T *x, const float *__restrict__ mean,
                                      const float *__restrict__ invstd,
                                      const float *__restrict__ rvar, float eps,
                                      const float *__restrict__ gamma,
                                      const float *__restrict__ beta, T *y)
{
    int t = threadIdx.x, cv = ct / V, lane = t / cv;
    int64_t j = (int64_t)blockIdx.x * ct + V * (t % cv);
    int64_t r0 = (int64_t)blockIdx.y * rpc, r1e = r0 + rpc < rows ? r0 + rpc : rows;
    if (lane >= rt || j >= c) return;
    float m[V], g[V], b[V], is[V];
#pragma unroll
    for (int e = 0; e < V; e++) {
        m[e] = mean[j + e], g[e] = gamma[j + e], b[e] = beta[j + e];
        is[e] = rvar ? (float)(1.0 / sqrt((double)rvar[j + e] + (double)eps)) : invstd[j + e];
    }
#pragma unroll 4
    for (int64_t r = r0 + lane; r < r1e; r += rt) {
        int64_t o = r * c + j;
        float v[V];
        s24_bn_ld<V>(x + o, v);
#pragma unroll
        for (int e = 0; e < V; e++) {
            float z = s24_bn_z(v[e], m[e], is[e], g[e], b[e]);
            v[e] = A == S24_ACT_NONE ? z : s24_cu_act<A>(z);
        }
        s24_bn_st<V>(y + o, v);
    }
}

static int s24_bn_act_ok(const char *op, enum s24_act act)
{
    if (act == S24_ACT_NONE || act == S24_ACT_RELU || act == S24_ACT_SILU) return S24_OK;
    return s24_error(S24_ERR_INVALID, "%s: activation %d cannot be fused", op, (int)act);
}

template <class T, int V>
static void s24_bn_apply(cudaStream_t st, const struct s24_bn_geom *g, enum s24_act act,
                         int64_t rows, int64_t c, const T *x, const float *mean,
                         const float *invstd, const float *rvar, float eps, const float *gamma,
                         const float *beta, T *y)
{
    dim3 grid(g->tiles, g->chunks);
    if (act == S24_ACT_RELU)
        s24_bn_apply_k<S24_ACT_RELU, T, V><<<grid, S24_BN_TPB, 0, st>>>(
            rows, c, g->ct, g->rt, g->rpc, x, mean, invstd, rvar, eps, gamma, beta, y);
    else if (act == S24_ACT_SILU)
        s24_bn_apply_k<S24_ACT_SILU, T, V><<<grid, S24_BN_TPB, 0, st>>>(
            rows, c, g->ct, g->rt, g->rpc, x, mean, invstd, rvar, eps, gamma, beta, y);
    else
        s24_bn_apply_k<S24_ACT_NONE, T, V><<<grid, S24_BN_TPB, 0, st>>>(
            rows, c, g->ct, g->rt, g->rpc, x, mean, invstd, rvar, eps, gamma, beta, y);
}

template <class T, int V>
static int s24_bn_fwd_train_t(struct s24_backend *be, int64_t rows, int64_t c, const T *x,
                              const float *gamma, const float *beta, float eps, float momentum,
                              enum s24_act act, T *y, float *mean, float *invstd, float *rmean,
                              float *rvar)
{
    int rc = S24_OK;
    cudaStream_t st = s24_cu(be)->stream;
    struct s24_bn_geom g = s24_bn_geom_for(rows, c, V);
    /* as the CPU backend: one row gives a factor of 1 */
    float unb = (float)((double)rows / (double)(rows > 1 ? rows - 1 : 1));
    double *part = (double *)s24_be_ws(be, sizeof(double) * 2 * (size_t)c * g.chunks);
    if (!part) return s24_error(S24_ERR_NOMEM, "bn_fwd_train: scratch for partial sums");
    s24_bn_partial_k<1, S24_ACT_NONE, T, V><<<dim3(g.tiles, g.chunks), S24_BN_TPB, 0, st>>>(
        rows, c, g.ct, g.rt, g.rpc, x, NULL, NULL, NULL, NULL, NULL, part);
    S24_LAUNCH_CHECK();
    s24_bn_finish_fwd_k<T><<<(unsigned)((c + S24_BN_FIN - 1) / S24_BN_FIN),
                             dim3(S24_BN_FIN, S24_BN_FIN), 0, st>>>(
        rows, c, g.chunks, part, x, eps, momentum, unb, mean, invstd, rmean, rvar);
    S24_LAUNCH_CHECK();
    s24_bn_apply<T, V>(st, &g, act, rows, c, x, mean, invstd, NULL, eps, gamma, beta, y);
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_cu_bn_fwd_train(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                        const float *gamma, const float *beta, float eps, float momentum,
                        enum s24_act act, float *y, float *mean, float *invstd, float *rmean,
                        float *rvar)
{
    int rc = s24_bn_shape_ok("bn_fwd_train", rows, c);
    if (rc != S24_OK || (rc = s24_bn_act_ok("bn_fwd_train", act)) != S24_OK) return rc;
    if (!x || !gamma || !beta || !y || !mean || !invstd)
        return s24_error(S24_ERR_INVALID, "bn_fwd_train: no buffer");
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        rc = s24_bn_by_vec<T>(c, (uintptr_t)x | (uintptr_t)y, [&](auto vt) {
            return s24_bn_fwd_train_t<T, decltype(vt)::value>(be, rows, c, (const T *)x, gamma,
                                                              beta, eps, momentum, act, (T *)y,
                                                              mean, invstd, rmean, rvar);
        });
    });
    return rc;
}

template <class T, int V>
static int s24_bn_fwd_eval_t(struct s24_backend *be, int64_t rows, int64_t c, const T *x,
                             const float *gamma, const float *beta, const float *rmean,
                             const float *rvar, float eps, enum s24_act act, T *y)
{
    int rc = S24_OK;
    struct s24_bn_geom g = s24_bn_geom_for(rows, c, V);
    s24_bn_apply<T, V>(s24_cu(be)->stream, &g, act, rows, c, x, rmean, NULL, rvar, eps, gamma,
                       beta, y);
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_cu_bn_fwd_eval(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                       const float *gamma, const float *beta, const float *rmean, const float *rvar,
                       float eps, enum s24_act act, float *y)
{
    int rc = s24_bn_shape_ok("bn_fwd_eval", rows, c);
    if (rc != S24_OK || (rc = s24_bn_act_ok("bn_fwd_eval", act)) != S24_OK) return rc;
    if (!x || !gamma || !beta || !rmean || !rvar || !y)
        return s24_error(S24_ERR_INVALID, "bn_fwd_eval: no buffer");
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        rc = s24_bn_by_vec<T>(c, (uintptr_t)x | (uintptr_t)y, [&](auto vt) {
            return s24_bn_fwd_eval_t<T, decltype(vt)::value>(be, rows, c, (const T *)x, gamma,
                                                             beta, rmean, rvar, eps, act, (T *)y);
        });
    });
    return rc;
}

/* ---------------------------------------------------------------- backward */
/* dbeta, dgamma (c) += the sums; m12 (2, c) = their means, rounded to float
 * as the CPU's dx expression uses them. */
static __global__ void __launch_bounds__(S24_BN_FIN *S24_BN_FIN)
    s24_bn_finish_bwd_k(int64_t rows, int64_t c, unsigned chunks, const double *__restrict__ part,
                        float *dgamma, float *dbeta, float *__restrict__ m12)
{
    int64_t j = (int64_t)blockIdx.x * S24_BN_FIN + threadIdx.x;
    double s1, s2;
    s24_bn_gather(c, chunks, part, j, &s1, &s2);
    if (threadIdx.y != 0 || j >= c) return;
    dbeta[j] = __fadd_rn(dbeta[j], (float)s1);
    dgamma[j] = __fadd_rn(dgamma[j], (float)s2);
    m12[j] = (float)(s1 / (double)rows);
    m12[c + j] = (float)(s2 / (double)rows);
}

/* dx (rows, c) += gamma invstd (dz - m1 - xhat m2), the CPU's rounding order
 * (dz: s24_bn_dz); dx loaded, the sum in fp32, stored rounded. acc == 0:
 * added to 0 instead, dx not read (a zeroed dx's bits, one read saved). */
template <int A, class T, int V>
static __global__ void s24_bn_dx_k(int64_t rows, int64_t c, int ct, int rt, int64_t rpc,
                                   const T *__restrict__ x, const float *__restrict__ mean,
                                   const float *__restrict__ invstd,
                                   const float *__restrict__ gamma, const float *__restrict__ beta,
                                   const T *__restrict__ dy, const float *__restrict__ m12,
                                   T *__restrict__ dx, int acc)
{
    int t = threadIdx.x, cv = ct / V, lane = t / cv;
    int64_t j = (int64_t)blockIdx.x * ct + V * (t % cv);
    int64_t r0 = (int64_t)blockIdx.y * rpc, r1e = r0 + rpc < rows ? r0 + rpc : rows;
    if (lane >= rt || j >= c) return;
    float m[V], is[V], gi[V], m1[V], m2[V], gm[V], bt[V];
#pragma unroll
    for (int e = 0; e < V; e++) {
        m[e] = mean[j + e], is[e] = invstd[j + e], gi[e] = __fmul_rn(gamma[j + e], is[e]);
        m1[e] = m12[j + e], m2[e] = m12[c + j + e];
        gm[e] = gamma[j + e], bt[e] = A == S24_ACT_NONE ? 0.0f : beta[j + e];
    }
#pragma unroll 4
    for (int64_t r = r0 + lane; r < r1e; r += rt) {
        int64_t o = r * c + j;
        float xv[V], dv[V], u[V], d[V];
        s24_bn_ld<V>(x + o, xv);
        s24_bn_ld<V>(dy + o, dv);
#pragma unroll
        for (int e = 0; e < V; e++) {
            float xh = __fmul_rn(__fsub_rn(xv[e], m[e]), is[e]);
            u[e] = __fsub_rn(__fsub_rn(s24_bn_dz<A>(xv[e], m[e], is[e], gm[e], bt[e], dv[e]),
                                       m1[e]),
                             __fmul_rn(xh, m2[e]));
        }
        if (acc)
            s24_bn_ld<V>(dx + o, d);
        else
#pragma unroll
            for (int e = 0; e < V; e++)
                d[e] = 0.0f;
#pragma unroll
        for (int e = 0; e < V; e++)
            d[e] = __fadd_rn(d[e], __fmul_rn(gi[e], u[e]));
        s24_bn_st<V>(dx + o, d);
    }
}

/* The backward's two tile kernels for one activation. */
template <int A, class T, int V>
static void s24_bn_bwd_launch(cudaStream_t st, const struct s24_bn_geom *g, int dx_pass,
                              int64_t rows, int64_t c, const T *x, const float *mean,
                              const float *invstd, const float *gamma, const float *beta,
                              const T *dy, const float *m12, T *dx, int acc, double *part)
{
    dim3 grid(g->tiles, g->chunks);
    if (!dx_pass)
        s24_bn_partial_k<0, A, T, V><<<grid, S24_BN_TPB, 0, st>>>(
            rows, c, g->ct, g->rt, g->rpc, x, dy, mean, invstd, gamma, beta, part);
    else
        s24_bn_dx_k<A, T, V><<<grid, S24_BN_TPB, 0, st>>>(rows, c, g->ct, g->rt, g->rpc, x, mean,
                                                          invstd, gamma, beta, dy, m12, dx, acc);
}

template <class T, int V>
static void s24_bn_bwd_pass(cudaStream_t st, const struct s24_bn_geom *g, enum s24_act act,
                            int dx_pass, int64_t rows, int64_t c, const T *x, const float *mean,
                            const float *invstd, const float *gamma, const float *beta,
                            const T *dy, const float *m12, T *dx, int acc, double *part)
{
    if (act == S24_ACT_RELU)
        s24_bn_bwd_launch<S24_ACT_RELU, T, V>(st, g, dx_pass, rows, c, x, mean, invstd, gamma,
                                              beta, dy, m12, dx, acc, part);
    else if (act == S24_ACT_SILU)
        s24_bn_bwd_launch<S24_ACT_SILU, T, V>(st, g, dx_pass, rows, c, x, mean, invstd, gamma,
                                              beta, dy, m12, dx, acc, part);
    else
        s24_bn_bwd_launch<S24_ACT_NONE, T, V>(st, g, dx_pass, rows, c, x, mean, invstd, gamma,
                                              beta, dy, m12, dx, acc, part);
}

template <class T, int V>
static int s24_bn_bwd_t(struct s24_backend *be, int64_t rows, int64_t c, const T *x,
                        const float *mean, const float *invstd, const float *gamma,
                        const float *beta, enum s24_act act, const T *dy, T *dx, int acc,
                        float *dgamma, float *dbeta)
{
    int rc = S24_OK;
    cudaStream_t st = s24_cu(be)->stream;
    struct s24_bn_geom g = s24_bn_geom_for(rows, c, V);
    size_t pbytes = sizeof(double) * 2 * (size_t)c * g.chunks;
    char *ws = (char *)s24_be_ws(be, pbytes + sizeof(float) * 2 * (size_t)c);
    double *part = NULL; /* (chunks, 2, c) */
    float *m12 = NULL;   /* (2, c): mean dy, mean dy xhat */
    if (!ws) return s24_error(S24_ERR_NOMEM, "bn_bwd: scratch for partial sums");
    part = (double *)(void *)ws;
    m12 = (float *)(void *)(ws + pbytes);
    s24_bn_bwd_pass<T, V>(st, &g, act, 0, rows, c, x, mean, invstd, gamma, beta, dy, NULL, NULL, 1,
                          part);
    S24_LAUNCH_CHECK();
    s24_bn_finish_bwd_k<<<(unsigned)((c + S24_BN_FIN - 1) / S24_BN_FIN),
                          dim3(S24_BN_FIN, S24_BN_FIN), 0, st>>>(rows, c, g.chunks, part, dgamma,
                                                                 dbeta, m12);
    S24_LAUNCH_CHECK();
    if (dx) {
        s24_bn_bwd_pass<T, V>(st, &g, act, 1, rows, c, x, mean, invstd, gamma, beta, dy, m12, dx,
                              acc, NULL);
        S24_LAUNCH_CHECK();
    }
fail:
    return rc;
}

int s24_cu_bn_bwd(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                  const float *mean, const float *invstd, const float *gamma, const float *beta,
                  enum s24_act act, const float *dy, float *dx, int acc, float *dgamma,
                  float *dbeta)
{
    int rc = s24_bn_shape_ok("bn_bwd", rows, c);
    if (rc != S24_OK || (rc = s24_bn_act_ok("bn_bwd", act)) != S24_OK) return rc;
    if (!x || !mean || !invstd || !gamma || !dy || !dgamma || !dbeta ||
        (act != S24_ACT_NONE && !beta))
        return s24_error(S24_ERR_INVALID, "bn_bwd: no buffer");
    /* the partial sums and dx take the same V: one geometry, one scratch size */
    uintptr_t addrs = (uintptr_t)x | (uintptr_t)dy | (uintptr_t)dx;
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        rc = s24_bn_by_vec<T>(c, addrs, [&](auto vt) {
            return s24_bn_bwd_t<T, decltype(vt)::value>(be, rows, c, (const T *)x, mean, invstd,
                                                        gamma, beta, act, (const T *)dy, (T *)dx,
                                                        acc, dgamma, dbeta);
        });
    });
    return rc;
}

/* ---------------------------------------------------------------- in parts (sync BN) */
/* The split of the ops above for statistics over several ranks (ops.h:
 * bn_stats .. bn_bwd_apply): the same tile kernels, with finishing kernels
 * that write the per-channel sums for the caller's all-reduce (bn_stats,
 * bn_bwd_reduce) or read them back (bn_fwd_apply, bn_bwd_apply). With one
 * rank the fused ops run instead. */

/* sums (2, c) = sum (x - k) and sum (x - k)^2, k = shift[j] (0 without),
 * from the partials, which are shifted by x[0, j]: moved to k in fp64. */
template <class T>
static __global__ void __launch_bounds__(S24_BN_FIN *S24_BN_FIN)
    s24_bn_finish_stats_k(int64_t rows, int64_t c, unsigned chunks, const double *__restrict__ part,
                          const T *__restrict__ x, const float *__restrict__ shift,
                          float *__restrict__ sums)
{
    int64_t j = (int64_t)blockIdx.x * S24_BN_FIN + threadIdx.x;
    double s1, s2;
    s24_bn_gather(c, chunks, part, j, &s1, &s2);
    if (threadIdx.y != 0 || j >= c) return;
    double n = (double)rows, d = (double)s24_ld(x + j) - (shift ? (double)shift[j] : 0.0);
    sums[j] = (float)(s1 + n * d);
    sums[c + j] = (float)(s2 + 2.0 * d * s1 + n * d * d);
}

/* mean, invstd (c) from sums over n rows shifted by `shift`, and the running
 * statistics, with the CPU's expressions (src/cpu/nn_norm.c,
 * s24_cpu_bn_fwd_apply). shift may be rmean: thread j reads it first. */
static __global__ void s24_bn_finish_sync_k(int64_t c, double n, const float *sums,
                                            const float *shift, float eps, float momentum,
                                            float unb, float *mean, float *invstd, float *rmean,
                                            float *rvar)
{
    int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= c) return;
    double d1 = (double)sums[j] / n, k = shift ? (double)shift[j] : 0.0;
    double v = (double)sums[c + j] / n - d1 * d1;
    v = v > 0 ? v : 0;
    float mf = (float)(k + d1), vf = (float)v, om = __fsub_rn(1.0f, momentum);
    mean[j] = mf;
    invstd[j] = (float)(1.0 / sqrt(v + (double)eps));
    if (rmean && rvar) {
        rmean[j] = __fadd_rn(__fmul_rn(om, rmean[j]), __fmul_rn(momentum, mf));
        rvar[j] = __fadd_rn(__fmul_rn(om, rvar[j]), __fmul_rn(__fmul_rn(momentum, vf), unb));
    }
}

/* m12 (2, c) = sums / n rounded to float, as the dx kernel reads them. */
static __global__ void s24_bn_means_k(int64_t c, double n, const float *__restrict__ sums,
                                      float *__restrict__ m12)
{
    int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j < 2 * c) m12[j] = (float)((double)sums[j] / n);
}

template <class T, int V>
static int s24_bn_stats_t(struct s24_backend *be, int64_t rows, int64_t c, const T *x,
                          const float *shift, float *sums)
{
    int rc = S24_OK;
    cudaStream_t st = s24_cu(be)->stream;
    struct s24_bn_geom g = s24_bn_geom_for(rows, c, V);
    double *part = (double *)s24_be_ws(be, sizeof(double) * 2 * (size_t)c * g.chunks);
    if (!part) return s24_error(S24_ERR_NOMEM, "bn_stats: scratch for partial sums");
    s24_bn_partial_k<1, S24_ACT_NONE, T, V><<<dim3(g.tiles, g.chunks), S24_BN_TPB, 0, st>>>(
        rows, c, g.ct, g.rt, g.rpc, x, NULL, NULL, NULL, NULL, NULL, part);
    S24_LAUNCH_CHECK();
    s24_bn_finish_stats_k<T><<<(unsigned)((c + S24_BN_FIN - 1) / S24_BN_FIN),
                               dim3(S24_BN_FIN, S24_BN_FIN), 0, st>>>(rows, c, g.chunks, part, x,
                                                                      shift, sums);
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_cu_bn_stats(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                    const float *shift, float *sums)
{
    int rc = s24_bn_shape_ok("bn_stats", rows, c);
    if (rc != S24_OK) return rc;
    if (!x || !sums) return s24_error(S24_ERR_INVALID, "bn_stats: no buffer");
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        rc = s24_bn_by_vec<T>(c, (uintptr_t)x, [&](auto vt) {
            return s24_bn_stats_t<T, decltype(vt)::value>(be, rows, c, (const T *)x, shift, sums);
        });
    });
    return rc;
}

template <class T, int V>
static int s24_bn_fwd_apply_t(struct s24_backend *be, int64_t rows, int64_t c, int64_t total,
                              const T *x, const float *gamma, const float *beta,
                              const float *sums, const float *shift, float eps, float momentum,
                              enum s24_act act, T *y, float *mean, float *invstd, float *rmean,
                              float *rvar)
{
    int rc = S24_OK;
    cudaStream_t st = s24_cu(be)->stream;
    struct s24_bn_geom g = s24_bn_geom_for(rows, c, V);
    double n = (double)total;
    float unb = (float)(n / (n - 1.0));
    s24_bn_finish_sync_k<<<(unsigned)((c + 255) / 256), 256, 0, st>>>(
        c, n, sums, shift, eps, momentum, unb, mean, invstd, rmean, rvar);
    S24_LAUNCH_CHECK();
    s24_bn_apply<T, V>(st, &g, act, rows, c, x, mean, invstd, NULL, eps, gamma, beta, y);
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_cu_bn_fwd_apply(struct s24_backend *be, int64_t rows, int64_t c, int64_t total,
                        const float *x, const float *gamma, const float *beta, const float *sums,
                        const float *shift, float eps, float momentum, enum s24_act act, float *y,
                        float *mean, float *invstd, float *rmean, float *rvar)
{
    int rc = s24_bn_shape_ok("bn_fwd_apply", rows, c);
    if (rc != S24_OK || (rc = s24_bn_act_ok("bn_fwd_apply", act)) != S24_OK) return rc;
    if (!x || !gamma || !beta || !sums || !y || !mean || !invstd)
        return s24_error(S24_ERR_INVALID, "bn_fwd_apply: no buffer");
    if (total < 2)
        return s24_error(S24_ERR_INVALID, "bn_fwd_apply: %lld rows", (long long)total);
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        rc = s24_bn_by_vec<T>(c, (uintptr_t)x | (uintptr_t)y, [&](auto vt) {
            return s24_bn_fwd_apply_t<T, decltype(vt)::value>(
                be, rows, c, total, (const T *)x, gamma, beta, sums, shift, eps, momentum, act,
                (T *)y, mean, invstd, rmean, rvar);
        });
    });
    return rc;
}

template <class T, int V>
static int s24_bn_bwd_reduce_t(struct s24_backend *be, int64_t rows, int64_t c, const T *x,
                               const float *mean, const float *invstd, const float *gamma,
                               const float *beta, enum s24_act act, const T *dy, float *sums,
                               float *dgamma, float *dbeta)
{
    int rc = S24_OK;
    cudaStream_t st = s24_cu(be)->stream;
    struct s24_bn_geom g = s24_bn_geom_for(rows, c, V);
    double *part = (double *)s24_be_ws(be, sizeof(double) * 2 * (size_t)c * g.chunks);
    if (!part) return s24_error(S24_ERR_NOMEM, "bn_bwd_reduce: scratch for partial sums");
    s24_bn_bwd_pass<T, V>(st, &g, act, 0, rows, c, x, mean, invstd, gamma, beta, dy, NULL, NULL, 1,
                          part);
    S24_LAUNCH_CHECK();
    /* over "one row": the means it writes are the sums themselves */
    s24_bn_finish_bwd_k<<<(unsigned)((c + S24_BN_FIN - 1) / S24_BN_FIN),
                          dim3(S24_BN_FIN, S24_BN_FIN), 0, st>>>(1, c, g.chunks, part, dgamma,
                                                                 dbeta, sums);
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_cu_bn_bwd_reduce(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                         const float *mean, const float *invstd, const float *gamma,
                         const float *beta, enum s24_act act, const float *dy, float *sums,
                         float *dgamma, float *dbeta)
{
    int rc = s24_bn_shape_ok("bn_bwd_reduce", rows, c);
    if (rc != S24_OK || (rc = s24_bn_act_ok("bn_bwd_reduce", act)) != S24_OK) return rc;
    if (!x || !mean || !invstd || !gamma || !dy || !sums || !dgamma || !dbeta ||
        (act != S24_ACT_NONE && !beta))
        return s24_error(S24_ERR_INVALID, "bn_bwd_reduce: no buffer");
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        rc = s24_bn_by_vec<T>(c, (uintptr_t)x | (uintptr_t)dy, [&](auto vt) {
            return s24_bn_bwd_reduce_t<T, decltype(vt)::value>(be, rows, c, (const T *)x, mean,
                                                               invstd, gamma, beta, act,
                                                               (const T *)dy, sums, dgamma, dbeta);
        });
    });
    return rc;
}

template <class T, int V>
static int s24_bn_bwd_apply_t(struct s24_backend *be, int64_t rows, int64_t c, int64_t total,
                              const T *x, const float *mean, const float *invstd,
                              const float *gamma, const float *beta, enum s24_act act,
                              const T *dy, const float *sums, T *dx, int acc)
{
    int rc = S24_OK;
    cudaStream_t st = s24_cu(be)->stream;
    struct s24_bn_geom g = s24_bn_geom_for(rows, c, V);
    float *m12 = (float *)s24_be_ws(be, sizeof(float) * 2 * (size_t)c); /* (2, c) */
    if (!m12) return s24_error(S24_ERR_NOMEM, "bn_bwd_apply: scratch");
    s24_bn_means_k<<<(unsigned)((2 * c + 255) / 256), 256, 0, st>>>(c, (double)total, sums, m12);
    S24_LAUNCH_CHECK();
    s24_bn_bwd_pass<T, V>(st, &g, act, 1, rows, c, x, mean, invstd, gamma, beta, dy, m12, dx, acc,
                          NULL);
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_cu_bn_bwd_apply(struct s24_backend *be, int64_t rows, int64_t c, int64_t total,
                        const float *x, const float *mean, const float *invstd,
                        const float *gamma, const float *beta, enum s24_act act, const float *dy,
                        const float *sums, float *dx, int acc)
{
    int rc = s24_bn_shape_ok("bn_bwd_apply", rows, c);
    if (rc != S24_OK || (rc = s24_bn_act_ok("bn_bwd_apply", act)) != S24_OK) return rc;
    if (!x || !mean || !invstd || !gamma || !dy || !sums || !dx || (act != S24_ACT_NONE && !beta))
        return s24_error(S24_ERR_INVALID, "bn_bwd_apply: no buffer");
    if (total < 1)
        return s24_error(S24_ERR_INVALID, "bn_bwd_apply: %lld rows", (long long)total);
    uintptr_t addrs = (uintptr_t)x | (uintptr_t)dy | (uintptr_t)dx;
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        rc = s24_bn_by_vec<T>(c, addrs, [&](auto vt) {
            return s24_bn_bwd_apply_t<T, decltype(vt)::value>(be, rows, c, total, (const T *)x,
                                                              mean, invstd, gamma, beta, act,
                                                              (const T *)dy, sums, (T *)dx, acc);
        });
    });
    return rc;
}
