/* nn_norm.cu: batch normalisation on the GPU over NHWC rows (rows = n*h*w,
 * channels contiguous): batch statistics with the running-statistics update,
 * the eval-mode apply, and the backward, with src/cpu/nn_norm.c's results.
 *
 * Statistics take one pass over x: each block sums a tile of rows for a set
 * of channels in fp64, shifted by the channel's first value (so a large
 * mean does not cancel the variance away), and writes its partial sums to
 * the backend's scratch; a second kernel adds the partials in a fixed order
 * (so every run gives the same bits), and a third applies them. The
 * backward has the same three steps. The per-element arithmetic is the
 * CPU's, one rounding at a time (__fmul_rn, __fadd_rn): with equal
 * statistics, y and dx equal the CPU's bit for bit.
 *
 * A ReLU or SiLU after the norm is fused (template A): the apply kernel
 * writes act(bn(x)), and the backward kernels recompute bn(x) from x with
 * the apply kernel's rounding and take the activation's gradient first, so
 * the pre-activation never goes to memory and the results are the separate
 * ops' bit for bit.
 *
 * Not here: fp16 inputs, atomics (they would make the sums depend on the
 * order blocks finish in). */
#include <math.h>
#include <stdint.h>

#include "cuda/nn_cuda.h"

#define S24_BN_TPB 256     /* threads per block of the tile kernels */
#define S24_BN_BLOCKS 2048 /* about this many blocks per launch (H200: 132 SMs) */
#define S24_BN_FIN 32      /* the finishing kernel: 32 channels x 32 lanes over chunks */

/* ---------------------------------------------------------------- geometry */
/* A block of the tile kernels covers `ct` channels (all of them when
 * c <= 128, so a warp reads one contiguous stretch; else 32, a 128-byte
 * segment of each row) with `rt` lanes over one chunk of `rpc` rows. */
struct s24_bn_geom {
    int ct, rt;
    unsigned tiles, chunks;
    int64_t rpc;
};

static struct s24_bn_geom s24_bn_geom_for(int64_t rows, int64_t c)
{
    struct s24_bn_geom g;
    g.ct = c <= 128 ? (int)c : 32;
    g.rt = S24_BN_TPB / g.ct;
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

template <int STATS, int A>
static __global__ void s24_bn_partial_k(int64_t rows, int64_t c, int ct, int rt, int64_t rpc,
                                        const float *__restrict__ x, const float *__restrict__ dy,
                                        const float *__restrict__ mean,
                                        const float *__restrict__ invstd,
                                        const float *__restrict__ gamma,
                                        const float *__restrict__ beta, double *__restrict__ part)
{
    __shared__ double r1[S24_BN_TPB], r2[S24_BN_TPB];
    int t = threadIdx.x, lane = t / ct;
    int64_t j = (int64_t)blockIdx.x * ct + t % ct;
    int64_t r0 = (int64_t)blockIdx.y * rpc, r1e = r0 + rpc < rows ? r0 + rpc : rows;
    double s1 = 0, s2 = 0;
    if (lane < rt && j < c) {
        if (STATS) {
            double k = x[j];
#pragma unroll 4
            for (int64_t r = r0 + lane; r < r1e; r += rt) {
                double v = (double)x[r * c + j] - k;
                s1 += v;
                s2 += v * v;
            }
        } else {
            float mf = mean[j], isf = invstd[j];
            float gm = A == S24_ACT_NONE ? 0.0f : gamma[j], bt = A == S24_ACT_NONE ? 0.0f : beta[j];
            double m = mf, is = isf;
#pragma unroll 4
            for (int64_t r = r0 + lane; r < r1e; r += rt) {
                float xv = x[r * c + j];
                double g = s24_bn_dz<A>(xv, mf, isf, gm, bt, dy[r * c + j]);
                s1 += g;
                s2 += g * ((double)xv - m) * is;
            }
        }
    }
    r1[t] = s1;
    r2[t] = s2;
    __syncthreads();
    if (t < ct && j < c) {
        double a = 0, b = 0;
        for (int l = 0; l < rt; l++) {
            a += r1[l * ct + t];
            b += r2[l * ct + t];
        }
        part[(int64_t)blockIdx.y * 2 * c + j] = a;
        part[((int64_t)blockIdx.y * 2 + 1) * c + j] = b;
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
static __global__ void __launch_bounds__(S24_BN_FIN *S24_BN_FIN)
    s24_bn_finish_fwd_k(int64_t rows, int64_t c, unsigned chunks, const double *__restrict__ part,
                        const float *__restrict__ x, float eps, float momentum, float unb,
                        float *mean, float *invstd, float *rmean, float *rvar)
{
    int64_t j = (int64_t)blockIdx.x * S24_BN_FIN + threadIdx.x;
    double s1, s2;
    s24_bn_gather(c, chunks, part, j, &s1, &s2);
    if (threadIdx.y != 0 || j >= c) return;
    double n = (double)rows, d1 = s1 / n, m = (double)x[j] + d1;
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
template <int A>
static __global__ void s24_bn_apply_k(int64_t rows, int64_t c, int ct, int rt, int64_t rpc,
                                      const float *x, const float *__restrict__ mean,
                                      const float *__restrict__ invstd,
                                      const float *__restrict__ rvar, float eps,
                                      const float *__restrict__ gamma,
                                      const float *__restrict__ beta, float *y)
{
    int t = threadIdx.x, lane = t / ct;
    int64_t j = (int64_t)blockIdx.x * ct + t % ct;
    int64_t r0 = (int64_t)blockIdx.y * rpc, r1e = r0 + rpc < rows ? r0 + rpc : rows;
    if (lane >= rt || j >= c) return;
    float m = mean[j], g = gamma[j], b = beta[j];
    float is = rvar ? (float)(1.0 / sqrt((double)rvar[j] + (double)eps)) : invstd[j];
#pragma unroll 4
    for (int64_t r = r0 + lane; r < r1e; r += rt) {
        int64_t o = r * c + j;
        float z = s24_bn_z(x[o], m, is, g, b);
        y[o] = A == S24_ACT_NONE ? z : s24_cu_act<A>(z);
    }
}

static int s24_bn_act_ok(const char *op, enum s24_act act)
{
    if (act == S24_ACT_NONE || act == S24_ACT_RELU || act == S24_ACT_SILU) return S24_OK;
    return s24_error(S24_ERR_INVALID, "%s: activation %d cannot be fused", op, (int)act);
}

static void s24_bn_apply(cudaStream_t st, const struct s24_bn_geom *g, enum s24_act act,
                         int64_t rows, int64_t c, const float *x, const float *mean,
                         const float *invstd, const float *rvar, float eps, const float *gamma,
                         const float *beta, float *y)
{
    dim3 grid(g->tiles, g->chunks);
    if (act == S24_ACT_RELU)
        s24_bn_apply_k<S24_ACT_RELU><<<grid, S24_BN_TPB, 0, st>>>(
            rows, c, g->ct, g->rt, g->rpc, x, mean, invstd, rvar, eps, gamma, beta, y);
    else if (act == S24_ACT_SILU)
        s24_bn_apply_k<S24_ACT_SILU><<<grid, S24_BN_TPB, 0, st>>>(
            rows, c, g->ct, g->rt, g->rpc, x, mean, invstd, rvar, eps, gamma, beta, y);
    else
        s24_bn_apply_k<S24_ACT_NONE><<<grid, S24_BN_TPB, 0, st>>>(
            rows, c, g->ct, g->rt, g->rpc, x, mean, invstd, rvar, eps, gamma, beta, y);
}

int s24_cu_bn_fwd_train(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                        const float *gamma, const float *beta, float eps, float momentum,
                        enum s24_act act, float *y, float *mean, float *invstd, float *rmean,
                        float *rvar)
{
    int rc = s24_bn_shape_ok("bn_fwd_train", rows, c);
    cudaStream_t st = s24_cu(be)->stream;
    struct s24_bn_geom g = s24_bn_geom_for(rows, c);
    /* as the CPU backend: one row gives a factor of 1 */
    float unb = (float)((double)rows / (double)(rows > 1 ? rows - 1 : 1));
    double *part = NULL; /* (chunks, 2, c) */
    if (rc != S24_OK || (rc = s24_bn_act_ok("bn_fwd_train", act)) != S24_OK) return rc;
    if (!x || !gamma || !beta || !y || !mean || !invstd)
        return s24_error(S24_ERR_INVALID, "bn_fwd_train: no buffer");
    part = (double *)s24_be_ws(be, sizeof(double) * 2 * (size_t)c * g.chunks);
    if (!part) return s24_error(S24_ERR_NOMEM, "bn_fwd_train: scratch for partial sums");
    s24_bn_partial_k<1, S24_ACT_NONE><<<dim3(g.tiles, g.chunks), S24_BN_TPB, 0, st>>>(
        rows, c, g.ct, g.rt, g.rpc, x, NULL, NULL, NULL, NULL, NULL, part);
    S24_LAUNCH_CHECK();
    s24_bn_finish_fwd_k<<<(unsigned)((c + S24_BN_FIN - 1) / S24_BN_FIN),
                          dim3(S24_BN_FIN, S24_BN_FIN), 0, st>>>(
        rows, c, g.chunks, part, x, eps, momentum, unb, mean, invstd, rmean, rvar);
    S24_LAUNCH_CHECK();
    s24_bn_apply(st, &g, act, rows, c, x, mean, invstd, NULL, eps, gamma, beta, y);
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_cu_bn_fwd_eval(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                       const float *gamma, const float *beta, const float *rmean, const float *rvar,
                       float eps, enum s24_act act, float *y)
{
    int rc = s24_bn_shape_ok("bn_fwd_eval", rows, c);
    struct s24_bn_geom g = s24_bn_geom_for(rows, c);
    if (rc != S24_OK || (rc = s24_bn_act_ok("bn_fwd_eval", act)) != S24_OK) return rc;
    if (!x || !gamma || !beta || !rmean || !rvar || !y)
        return s24_error(S24_ERR_INVALID, "bn_fwd_eval: no buffer");
    s24_bn_apply(s24_cu(be)->stream, &g, act, rows, c, x, rmean, NULL, rvar, eps, gamma, beta, y);
    S24_LAUNCH_CHECK();
fail:
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
 * (dz: s24_bn_dz). */
template <int A>
static __global__ void s24_bn_dx_k(int64_t rows, int64_t c, int ct, int rt, int64_t rpc,
                                   const float *__restrict__ x, const float *__restrict__ mean,
                                   const float *__restrict__ invstd,
                                   const float *__restrict__ gamma, const float *__restrict__ beta,
                                   const float *__restrict__ dy, const float *__restrict__ m12,
                                   float *__restrict__ dx)
{
    int t = threadIdx.x, lane = t / ct;
    int64_t j = (int64_t)blockIdx.x * ct + t % ct;
    int64_t r0 = (int64_t)blockIdx.y * rpc, r1e = r0 + rpc < rows ? r0 + rpc : rows;
    if (lane >= rt || j >= c) return;
    float m = mean[j], is = invstd[j], gi = __fmul_rn(gamma[j], is), m1 = m12[j], m2 = m12[c + j];
    float gm = gamma[j], bt = A == S24_ACT_NONE ? 0.0f : beta[j];
#pragma unroll 4
    for (int64_t r = r0 + lane; r < r1e; r += rt) {
        int64_t o = r * c + j;
        float xv = x[o];
        float xh = __fmul_rn(__fsub_rn(xv, m), is);
        float u =
            __fsub_rn(__fsub_rn(s24_bn_dz<A>(xv, m, is, gm, bt, dy[o]), m1), __fmul_rn(xh, m2));
        dx[o] = __fadd_rn(dx[o], __fmul_rn(gi, u));
    }
}

/* The backward's two tile kernels for one activation. */
template <int A>
static void s24_bn_bwd_launch(cudaStream_t st, const struct s24_bn_geom *g, int dx_pass,
                              int64_t rows, int64_t c, const float *x, const float *mean,
                              const float *invstd, const float *gamma, const float *beta,
                              const float *dy, const float *m12, float *dx, double *part)
{
    dim3 grid(g->tiles, g->chunks);
    if (!dx_pass)
        s24_bn_partial_k<0, A><<<grid, S24_BN_TPB, 0, st>>>(rows, c, g->ct, g->rt, g->rpc, x, dy,
                                                            mean, invstd, gamma, beta, part);
    else
        s24_bn_dx_k<A><<<grid, S24_BN_TPB, 0, st>>>(rows, c, g->ct, g->rt, g->rpc, x, mean,
                                                    invstd, gamma, beta, dy, m12, dx);
}

static void s24_bn_bwd_pass(cudaStream_t st, const struct s24_bn_geom *g, enum s24_act act,
                            int dx_pass, int64_t rows, int64_t c, const float *x,
                            const float *mean, const float *invstd, const float *gamma,
                            const float *beta, const float *dy, const float *m12, float *dx,
                            double *part)
{
    if (act == S24_ACT_RELU)
        s24_bn_bwd_launch<S24_ACT_RELU>(st, g, dx_pass, rows, c, x, mean, invstd, gamma, beta, dy,
                                        m12, dx, part);
    else if (act == S24_ACT_SILU)
        s24_bn_bwd_launch<S24_ACT_SILU>(st, g, dx_pass, rows, c, x, mean, invstd, gamma, beta, dy,
                                        m12, dx, part);
    else
        s24_bn_bwd_launch<S24_ACT_NONE>(st, g, dx_pass, rows, c, x, mean, invstd, gamma, beta, dy,
                                        m12, dx, part);
}

int s24_cu_bn_bwd(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                  const float *mean, const float *invstd, const float *gamma, const float *beta,
                  enum s24_act act, const float *dy, float *dx, float *dgamma, float *dbeta)
{
    int rc = s24_bn_shape_ok("bn_bwd", rows, c);
    cudaStream_t st = s24_cu(be)->stream;
    struct s24_bn_geom g = s24_bn_geom_for(rows, c);
    size_t pbytes = sizeof(double) * 2 * (size_t)c * g.chunks;
    char *ws = NULL;
    double *part = NULL; /* (chunks, 2, c) */
    float *m12 = NULL;   /* (2, c): mean dy, mean dy xhat */
    if (rc != S24_OK || (rc = s24_bn_act_ok("bn_bwd", act)) != S24_OK) return rc;
    if (!x || !mean || !invstd || !gamma || !dy || !dgamma || !dbeta ||
        (act != S24_ACT_NONE && !beta))
        return s24_error(S24_ERR_INVALID, "bn_bwd: no buffer");
    ws = (char *)s24_be_ws(be, pbytes + sizeof(float) * 2 * (size_t)c);
    if (!ws) return s24_error(S24_ERR_NOMEM, "bn_bwd: scratch for partial sums");
    part = (double *)(void *)ws;
    m12 = (float *)(void *)(ws + pbytes);
    s24_bn_bwd_pass(st, &g, act, 0, rows, c, x, mean, invstd, gamma, beta, dy, NULL, NULL, part);
    S24_LAUNCH_CHECK();
    s24_bn_finish_bwd_k<<<(unsigned)((c + S24_BN_FIN - 1) / S24_BN_FIN),
                          dim3(S24_BN_FIN, S24_BN_FIN), 0, st>>>(rows, c, g.chunks, part, dgamma,
                                                                 dbeta, m12);
    S24_LAUNCH_CHECK();
    if (dx) {
        s24_bn_bwd_pass(st, &g, act, 1, rows, c, x, mean, invstd, gamma, beta, dy, m12, dx, NULL);
        S24_LAUNCH_CHECK();
    }
fail:
    return rc;
}
