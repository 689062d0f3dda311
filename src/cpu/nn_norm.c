/* nn_norm.c: batch normalisation on the CPU over NHWC rows (rows = n*h*w,
 * channels contiguous), with an optional activation (ReLU, SiLU) fused into
 * the same passes. Statistics are two-pass (mean, then squared deviations)
 * with fp64 per-thread partial sums, so large batches of activations with a
 * big mean do not lose the variance to cancellation.
 *
 * The channel loops are `omp simd`: the compiler cannot tell on its own that
 * the partial sums do not alias the activations, and without it these passes
 * ran scalar. Vectorising runs along channels, so every operation and its
 * order per element and per channel sum are those of the plain loops, at any
 * vector width. That is why this file is compiled twice: as itself for the
 * baseline ISA (SSE2 on x86-64: two doubles per instruction, which made the
 * fp64 sums compute-bound) and through nn_norm_avx512.c with AVX-512 (eight);
 * the public functions at the end pick one at run time (s24_cpu_nn_isa) and
 * both give the same bits (tests/test_nn_grad.c checks it). gcc keeps FMA
 * contraction off under -std=c11, which that equality relies on.
 *
 * The fused activation is what the separate passes would compute: y =
 * act_fwd(bn(x)); its backward recomputes z = bn(x) with the forward's
 * expression and takes g = 0 + act'(z) dy, which is act_bwd's result on a
 * zeroed gradient, in both passes of the BN backward, so neither z nor g is
 * stored (one read of x and dy per pass instead of four more passes).
 *
 * The same ops in parts (bn_stats .. bn_bwd_apply, at the end) serve sync
 * BN, where the per-channel sums are all-reduced over ranks between them.
 *
 * Not here: the running-statistics update of the fused op (the backend
 * does it, the model owns momentum and num_batches_tracked). */
#include "cpu/cpu_nn.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sparse24/sparse24.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef NN_NORM_VARIANT /* this file on its own: the portable kernels and the dispatch */
#define NN_NORM_VARIANT(f) f##_portable
#define NN_NORM_DISPATCH 1
#endif
#define V NN_NORM_VARIANT

/* Each build's kernels (V = _portable or _avx512); the dispatch below
 * declares the AVX-512 ones it calls as well. */
int V(s24_cpu_bn_fwd_train)(int64_t rows, int64_t c, const float *x, const float *gamma,
                            const float *beta, float eps, enum s24_act act, float *y,
                            float *mean, float *var, float *invstd, struct s24_nn_ws *ws);
void V(s24_cpu_bn_fwd_eval)(int64_t rows, int64_t c, const float *x, const float *gamma,
                            const float *beta, const float *rmean, const float *is,
                            enum s24_act act, float *y);
int V(s24_cpu_bn_bwd)(int64_t rows, int64_t c, const float *x, const float *mean,
                      const float *invstd, const float *gamma, const float *beta,
                      enum s24_act act, const float *dy, float *dx, int acc, float *dgamma,
                      float *dbeta, struct s24_nn_ws *ws);

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* per-thread partials: nt*c doubles each, `k` arrays. */
static double *partials(struct s24_nn_ws *ws, int nt, int64_t c, int k)
{
    float *p = s24_nn_ws_get(ws, (size_t)(2 * k * nt * c));
    if (!p) return NULL;
    double *d = (double *)(void *)p;
    memset(d, 0, (size_t)(k * nt * c) * sizeof *d);
    return d;
}

/* nn_elem.c's sigmoid, written the same way so the fused SiLU has its bits */
static float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

int V(s24_cpu_bn_fwd_train)(int64_t rows, int64_t c, const float *x, const float *gamma,
                            const float *beta, float eps, enum s24_act act, float *y,
                            float *mean, float *var, float *invstd, struct s24_nn_ws *ws)
{
    int nt = s24_threads_get();
    double *ps = partials(ws, nt, c, 1);
    if (!ps) return s24_error(S24_ERR_NOMEM, "batch norm: partial sums");
    if (rows < 1) return s24_error(S24_ERR_INVALID, "batch norm: no rows");
#pragma omp parallel num_threads(nt) if (rows * c > S24_PAR_MIN)
    {
        double *p = ps + (int64_t)thread_id() * c;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * c;
#pragma omp simd
            for (int64_t j = 0; j < c; j++) p[j] += xr[j];
        }
    }
    for (int64_t j = 0; j < c; j++) {
        double s = 0;
        for (int t = 0; t < nt; t++) s += ps[(int64_t)t * c + j];
        mean[j] = (float)(s / (double)rows);
    }
    memset(ps, 0, (size_t)(nt * c) * sizeof *ps);
#pragma omp parallel num_threads(nt) if (rows * c > S24_PAR_MIN)
    {
        double *p = ps + (int64_t)thread_id() * c;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * c;
#pragma omp simd
            for (int64_t j = 0; j < c; j++) {
                double d = (double)xr[j] - mean[j];
                p[j] += d * d;
            }
        }
    }
    for (int64_t j = 0; j < c; j++) {
        double s = 0;
        for (int t = 0; t < nt; t++) s += ps[(int64_t)t * c + j];
        double v = s / (double)rows;
        var[j] = (float)v;
        invstd[j] = (float)(1.0 / sqrt(v + (double)eps));
    }
#pragma omp parallel for num_threads(nt) schedule(static) if (rows * c > S24_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * c;
        float *yr = y + r * c;
        if (act == S24_ACT_RELU) {
#pragma omp simd
            for (int64_t j = 0; j < c; j++) {
                float z = (xr[j] - mean[j]) * invstd[j] * gamma[j] + beta[j];
                yr[j] = z > 0.0f ? z : 0.0f;
            }
        } else if (act == S24_ACT_SILU) {
            for (int64_t j = 0; j < c; j++) {
                float z = (xr[j] - mean[j]) * invstd[j] * gamma[j] + beta[j];
                yr[j] = z * sigmoidf_(z);
            }
        } else {
#pragma omp simd
            for (int64_t j = 0; j < c; j++)
                yr[j] = (xr[j] - mean[j]) * invstd[j] * gamma[j] + beta[j];
        }
    }
    return S24_OK;
}

/* The inverse deviations once per channel in `is` (c floats), then the
 * training pass's expression. */
void V(s24_cpu_bn_fwd_eval)(int64_t rows, int64_t c, const float *x, const float *gamma,
                            const float *beta, const float *rmean, const float *is,
                            enum s24_act act, float *y)
{
    int nt = s24_threads_get();
#pragma omp parallel for num_threads(nt) schedule(static) if (rows * c > S24_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * c;
        float *yr = y + r * c;
        if (act == S24_ACT_RELU) {
#pragma omp simd
            for (int64_t j = 0; j < c; j++) {
                float z = (xr[j] - rmean[j]) * is[j] * gamma[j] + beta[j];
                yr[j] = z > 0.0f ? z : 0.0f;
            }
        } else if (act == S24_ACT_SILU) {
            for (int64_t j = 0; j < c; j++) {
                float z = (xr[j] - rmean[j]) * is[j] * gamma[j] + beta[j];
                yr[j] = z * sigmoidf_(z);
            }
        } else {
#pragma omp simd
            for (int64_t j = 0; j < c; j++)
                yr[j] = (xr[j] - rmean[j]) * is[j] * gamma[j] + beta[j];
        }
    }
}

/* One row of the gradient that reaches bn's output: dy itself, or act's
 * gradient at the recomputed z = bn(x) (see the file comment), into g. */
static inline void grad_row(int64_t c, enum s24_act act, const float *xr, const float *mean,
                            const float *invstd, const float *gamma, const float *beta,
                            const float *gr, float *g)
{
    if (act == S24_ACT_RELU) {
#pragma omp simd
        for (int64_t j = 0; j < c; j++) {
            float z = (xr[j] - mean[j]) * invstd[j] * gamma[j] + beta[j];
            g[j] = 0.0f + (z > 0.0f ? gr[j] : -0.0f);
        }
    } else {
        for (int64_t j = 0; j < c; j++) {
            float z = (xr[j] - mean[j]) * invstd[j] * gamma[j] + beta[j];
            float s = sigmoidf_(z);
            g[j] = 0.0f + gr[j] * s * (1.0f + z * (1.0f - s));
        }
    }
}

/* The two per-channel sums of the batch-norm backward over these rows, in
 * double: sum g and sum g * xhat, g being dy through the fused activation's
 * gradient. In ws: [0, nt*c) and [nt*c, 2nt*c) hold each thread's partials
 * (doubles), added in thread order into the first row of each (ps[j] and
 * ps[nt c + j]); then one g row of c floats per thread, then 2c floats for
 * the caller (the fused backward's means). NULL when ws cannot grow. Shared
 * by the fused backward and sync BN's reduce, so that their sums are the
 * same bits. */
static double *V(bwd_sums)(int64_t rows, int64_t c, const float *x, const float *mean,
                           const float *invstd, const float *gamma, const float *beta,
                           enum s24_act act, const float *dy, int nt, struct s24_nn_ws *ws)
{
    float *wsp = s24_nn_ws_get(ws, (size_t)(5 * nt * c + 2 * c));
    if (!wsp) return NULL;
    double *ps = (double *)(void *)wsp;
    float *gbuf = wsp + 4 * nt * c;
    memset(ps, 0, (size_t)(2 * nt * c) * sizeof *ps);
#pragma omp parallel num_threads(nt) if (rows * c > S24_PAR_MIN)
    {
        int tid = thread_id();
        double *p1 = ps + (int64_t)tid * c, *p2 = p1 + (int64_t)nt * c;
        float *gb = gbuf + (int64_t)tid * c;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * c, *gr = dy + r * c;
            if (act != S24_ACT_NONE) {
                grad_row(c, act, xr, mean, invstd, gamma, beta, gr, gb);
                gr = gb;
            }
#pragma omp simd
            for (int64_t j = 0; j < c; j++) {
                double g = gr[j];
                p1[j] += g;
                p2[j] += g * ((double)xr[j] - mean[j]) * invstd[j];
            }
        }
    }
    for (int64_t j = 0; j < c; j++) {
        double s1 = 0, s2 = 0;
        for (int t = 0; t < nt; t++) {
            s1 += ps[(int64_t)t * c + j];
            s2 += ps[(int64_t)(nt + t) * c + j];
        }
        ps[j] = s1, ps[(int64_t)nt * c + j] = s2;
    }
    return ps;
}

/* The batch-norm backward's dx pass from the two per-channel means m1
 * (of g) and m2 (of g * xhat): dx = gamma invstd (g - m1 - xhat m2), added
 * to dx (acc) or written as 0 + the value without reading dx. gbuf: nt rows
 * of c floats for g through the fused activation. The fused backward's and
 * sync BN's apply. */
static void V(bwd_dx)(int64_t rows, int64_t c, const float *x, const float *mean,
                      const float *invstd, const float *gamma, const float *beta,
                      enum s24_act act, const float *dy, const float *m1, const float *m2,
                      float *dx, int acc, float *gbuf, int nt)
{
#pragma omp parallel num_threads(nt) if (rows * c > S24_PAR_MIN)
    {
        float *gb = gbuf + (int64_t)thread_id() * c;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * c, *gr = dy + r * c;
            float *dxr = dx + r * c;
            if (act != S24_ACT_NONE) {
                grad_row(c, act, xr, mean, invstd, gamma, beta, gr, gb);
                gr = gb;
            }
            /* acc == 0: 0 + the value (a zeroed dx's bits), dx not read */
            if (acc) {
#pragma omp simd
                for (int64_t j = 0; j < c; j++) {
                    float xh = (xr[j] - mean[j]) * invstd[j];
                    dxr[j] += gamma[j] * invstd[j] * (gr[j] - m1[j] - xh * m2[j]);
                }
            } else {
#pragma omp simd
                for (int64_t j = 0; j < c; j++) {
                    float xh = (xr[j] - mean[j]) * invstd[j];
                    dxr[j] = 0.0f + gamma[j] * invstd[j] * (gr[j] - m1[j] - xh * m2[j]);
                }
            }
        }
    }
}

int V(s24_cpu_bn_bwd)(int64_t rows, int64_t c, const float *x, const float *mean,
                      const float *invstd, const float *gamma, const float *beta,
                      enum s24_act act, const float *dy, float *dx, int acc, float *dgamma,
                      float *dbeta, struct s24_nn_ws *ws)
{
    int nt = s24_threads_get();
    double *ps = V(bwd_sums)(rows, c, x, mean, invstd, gamma, beta, act, dy, nt, ws);
    if (!ps) return s24_error(S24_ERR_NOMEM, "batch norm: partial sums");
    float *gbuf = (float *)(void *)ps + 4 * nt * c, *m1 = gbuf + (int64_t)nt * c, *m2 = m1 + c;
    /* the totals, and the means as the dx pass uses them */
    for (int64_t j = 0; j < c; j++) {
        double s1 = ps[j], s2 = ps[(int64_t)nt * c + j];
        dbeta[j] += (float)s1;
        dgamma[j] += (float)s2;
        m1[j] = (float)(s1 / (double)rows);
        m2[j] = (float)(s2 / (double)rows);
    }
    if (dx) V(bwd_dx)(rows, c, x, mean, invstd, gamma, beta, act, dy, m1, m2, dx, acc, gbuf, nt);
    return S24_OK;
}

#ifdef NN_NORM_DISPATCH
/* ---------------------------------------------------------------- dispatch */
static enum s24_cpu_nn_isa nn_isa = S24_CPU_NN_PORTABLE;
static int nn_has_avx512;
static pthread_once_t nn_isa_once = PTHREAD_ONCE_INIT;

static void nn_isa_init(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    nn_has_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                    __builtin_cpu_supports("fma");
#endif
    const char *e = getenv("S24_CPU_ISA");
    nn_isa = nn_has_avx512 && !(e && !strcmp(e, "portable")) ? S24_CPU_NN_AVX512
                                                              : S24_CPU_NN_PORTABLE;
}

enum s24_cpu_nn_isa s24_cpu_nn_isa(void)
{
    pthread_once(&nn_isa_once, nn_isa_init);
    return nn_isa;
}

void s24_cpu_nn_isa_set(enum s24_cpu_nn_isa isa)
{
    pthread_once(&nn_isa_once, nn_isa_init);
    nn_isa = isa == S24_CPU_NN_AVX512 && nn_has_avx512 ? S24_CPU_NN_AVX512 : S24_CPU_NN_PORTABLE;
}

/* The AVX-512 build of the kernels above (nn_norm_avx512.c). */
int s24_cpu_bn_fwd_train_avx512(int64_t rows, int64_t c, const float *x, const float *gamma,
                                const float *beta, float eps, enum s24_act act, float *y,
                                float *mean, float *var, float *invstd, struct s24_nn_ws *ws);
void s24_cpu_bn_fwd_eval_avx512(int64_t rows, int64_t c, const float *x, const float *gamma,
                                const float *beta, const float *rmean, const float *is,
                                enum s24_act act, float *y);
int s24_cpu_bn_bwd_avx512(int64_t rows, int64_t c, const float *x, const float *mean,
                          const float *invstd, const float *gamma, const float *beta,
                          enum s24_act act, const float *dy, float *dx, int acc, float *dgamma,
                          float *dbeta, struct s24_nn_ws *ws);

int s24_cpu_bn_fwd_train_act(int64_t rows, int64_t c, const float *x, const float *gamma,
                             const float *beta, float eps, enum s24_act act, float *y,
                             float *mean, float *var, float *invstd, struct s24_nn_ws *ws)
{
    if (act != S24_ACT_NONE && act != S24_ACT_RELU && act != S24_ACT_SILU)
        return s24_error(S24_ERR_INVALID, "batch norm: fused activation %d", (int)act);
    if (s24_cpu_nn_isa() == S24_CPU_NN_AVX512)
        return s24_cpu_bn_fwd_train_avx512(rows, c, x, gamma, beta, eps, act, y, mean, var,
                                           invstd, ws);
    return s24_cpu_bn_fwd_train_portable(rows, c, x, gamma, beta, eps, act, y, mean, var, invstd,
                                         ws);
}

int s24_cpu_bn_fwd_train(int64_t rows, int64_t c, const float *x, const float *gamma,
                         const float *beta, float eps, float *y, float *mean, float *var,
                         float *invstd, struct s24_nn_ws *ws)
{
    return s24_cpu_bn_fwd_train_act(rows, c, x, gamma, beta, eps, S24_ACT_NONE, y, mean, var,
                                    invstd, ws);
}

void s24_cpu_bn_fwd_eval_act(int64_t rows, int64_t c, const float *x, const float *gamma,
                             const float *beta, const float *rmean, const float *rvar, float eps,
                             enum s24_act act, float *y)
{
    float *is = malloc((size_t)(c > 0 ? c : 1) * sizeof *is); /* (c) */
    if (!is) { /* without memory for c floats: one channel's worth at a time */
        for (int64_t j = 0; j < c; j++) {
            float isj = (float)(1.0 / sqrt((double)rvar[j] + (double)eps));
            for (int64_t r = 0; r < rows; r++) {
                float z = (x[r * c + j] - rmean[j]) * isj * gamma[j] + beta[j];
                y[r * c + j] = act == S24_ACT_RELU   ? (z > 0.0f ? z : 0.0f)
                               : act == S24_ACT_SILU ? z * sigmoidf_(z)
                                                     : z;
            }
        }
        return;
    }
    for (int64_t j = 0; j < c; j++) is[j] = (float)(1.0 / sqrt((double)rvar[j] + (double)eps));
    if (s24_cpu_nn_isa() == S24_CPU_NN_AVX512)
        s24_cpu_bn_fwd_eval_avx512(rows, c, x, gamma, beta, rmean, is, act, y);
    else
        s24_cpu_bn_fwd_eval_portable(rows, c, x, gamma, beta, rmean, is, act, y);
    free(is);
}

void s24_cpu_bn_fwd_eval(int64_t rows, int64_t c, const float *x, const float *gamma,
                         const float *beta, const float *rmean, const float *rvar, float eps,
                         float *y)
{
    s24_cpu_bn_fwd_eval_act(rows, c, x, gamma, beta, rmean, rvar, eps, S24_ACT_NONE, y);
}

int s24_cpu_bn_bwd_act(int64_t rows, int64_t c, const float *x, const float *mean,
                       const float *invstd, const float *gamma, const float *beta,
                       enum s24_act act, const float *dy, float *dx, int acc, float *dgamma,
                       float *dbeta, struct s24_nn_ws *ws)
{
    if (act != S24_ACT_NONE && act != S24_ACT_RELU && act != S24_ACT_SILU)
        return s24_error(S24_ERR_INVALID, "batch norm: fused activation %d", (int)act);
    if (act != S24_ACT_NONE && !beta)
        return s24_error(S24_ERR_INVALID, "batch norm: a fused activation needs beta");
    if (s24_cpu_nn_isa() == S24_CPU_NN_AVX512)
        return s24_cpu_bn_bwd_avx512(rows, c, x, mean, invstd, gamma, beta, act, dy, dx, acc,
                                     dgamma, dbeta, ws);
    return s24_cpu_bn_bwd_portable(rows, c, x, mean, invstd, gamma, beta, act, dy, dx, acc,
                                   dgamma, dbeta, ws);
}

/* ---------------------------------------------------------------- in parts (sync BN) */
/* The split of the ops above for statistics over several ranks (ops.h:
 * bn_stats .. bn_bwd_apply). Only the reductions are new code; the apply
 * pass is the eval kernel's (the same expression as the training pass, fed
 * the batch's mean and invstd), so it runs in either ISA build. One rank
 * never comes here (the fused ops are its path). */
static int fused_act_ok(enum s24_act act, const float *beta)
{
    if (act != S24_ACT_NONE && act != S24_ACT_RELU && act != S24_ACT_SILU)
        return s24_error(S24_ERR_INVALID, "batch norm: fused activation %d", (int)act);
    if (act != S24_ACT_NONE && !beta)
        return s24_error(S24_ERR_INVALID, "batch norm: a fused activation needs beta");
    return S24_OK;
}

int s24_cpu_bn_stats(int64_t rows, int64_t c, const float *x, const float *shift, float *sums,
                     struct s24_nn_ws *ws)
{
    int nt = s24_threads_get();
    double *ps = partials(ws, nt, c, 2); /* (nt, c) sums of x - k, then (nt, c) of squares */
    if (!ps) return s24_error(S24_ERR_NOMEM, "batch norm: partial sums");
#pragma omp parallel num_threads(nt) if (rows * c > S24_PAR_MIN)
    {
        double *p1 = ps + (int64_t)thread_id() * c, *p2 = p1 + (int64_t)nt * c;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * c;
#pragma omp simd
            for (int64_t j = 0; j < c; j++) {
                double d = (double)xr[j] - (shift ? (double)shift[j] : 0.0);
                p1[j] += d;
                p2[j] += d * d;
            }
        }
    }
    for (int64_t j = 0; j < c; j++) {
        double s1 = 0, s2 = 0;
        for (int t = 0; t < nt; t++) {
            s1 += ps[(int64_t)t * c + j];
            s2 += ps[(int64_t)(nt + t) * c + j];
        }
        sums[j] = (float)s1;
        sums[c + j] = (float)s2;
    }
    return S24_OK;
}

int s24_cpu_bn_fwd_apply(int64_t rows, int64_t c, int64_t total, const float *x,
                         const float *gamma, const float *beta, const float *sums,
                         const float *shift, float eps, float momentum, enum s24_act act, float *y,
                         float *mean, float *invstd, float *rmean, float *rvar)
{
    int rc = fused_act_ok(act, beta);
    if (rc != S24_OK) return rc;
    if (total < 2) return s24_error(S24_ERR_INVALID, "batch norm: %lld rows", (long long)total);
    double n = (double)total;
    float unb = (float)(n / (n - 1.0)), om = 1.0f - momentum;
    for (int64_t j = 0; j < c; j++) {
        /* channel j's shift is read before rmean[j] (it may be) is updated */
        double d1 = (double)sums[j] / n, k = shift ? (double)shift[j] : 0.0;
        double v = (double)sums[c + j] / n - d1 * d1;
        v = v > 0 ? v : 0;
        mean[j] = (float)(k + d1);
        invstd[j] = (float)(1.0 / sqrt(v + (double)eps));
        if (rmean && rvar) {
            rmean[j] = om * rmean[j] + momentum * mean[j];
            rvar[j] = om * rvar[j] + momentum * (float)v * unb;
        }
    }
    if (s24_cpu_nn_isa() == S24_CPU_NN_AVX512)
        s24_cpu_bn_fwd_eval_avx512(rows, c, x, gamma, beta, mean, invstd, act, y);
    else
        s24_cpu_bn_fwd_eval_portable(rows, c, x, gamma, beta, mean, invstd, act, y);
    return S24_OK;
}

int s24_cpu_bn_bwd_reduce(int64_t rows, int64_t c, const float *x, const float *mean,
                          const float *invstd, const float *gamma, const float *beta,
                          enum s24_act act, const float *dy, float *sums, float *dgamma,
                          float *dbeta, struct s24_nn_ws *ws)
{
    int nt = s24_threads_get(), rc = fused_act_ok(act, beta);
    if (rc != S24_OK) return rc;
    double *ps = V(bwd_sums)(rows, c, x, mean, invstd, gamma, beta, act, dy, nt, ws);
    if (!ps) return s24_error(S24_ERR_NOMEM, "batch norm: partial sums");
    for (int64_t j = 0; j < c; j++) {
        double s1 = ps[j], s2 = ps[(int64_t)nt * c + j];
        sums[j] = (float)s1;
        sums[c + j] = (float)s2;
        dbeta[j] += sums[j];
        dgamma[j] += sums[c + j];
    }
    return S24_OK;
}

int s24_cpu_bn_bwd_apply(int64_t rows, int64_t c, int64_t total, const float *x,
                         const float *mean, const float *invstd, const float *gamma,
                         const float *beta, enum s24_act act, const float *dy, const float *sums,
                         float *dx, int acc, struct s24_nn_ws *ws)
{
    int nt = s24_threads_get(), rc = fused_act_ok(act, beta);
    if (rc != S24_OK) return rc;
    if (total < 1) return s24_error(S24_ERR_INVALID, "batch norm: %lld rows", (long long)total);
    /* (2, c) the means as floats (as s24_cpu_bn_bwd's), then nt g rows */
    float *m1 = s24_nn_ws_get(ws, (size_t)(2 * c + (int64_t)nt * c));
    if (!m1) return s24_error(S24_ERR_NOMEM, "batch norm: scratch");
    float *m2 = m1 + c, *gbuf = m1 + 2 * c;
    for (int64_t j = 0; j < c; j++) {
        m1[j] = (float)((double)sums[j] / (double)total);
        m2[j] = (float)((double)sums[c + j] / (double)total);
    }
    V(bwd_dx)(rows, c, x, mean, invstd, gamma, beta, act, dy, m1, m2, dx, acc, gbuf, nt);
    return S24_OK;
}

int s24_cpu_bn_bwd(int64_t rows, int64_t c, const float *x, const float *mean,
                   const float *invstd, const float *gamma, const float *dy, float *dx,
                   float *dgamma, float *dbeta, struct s24_nn_ws *ws)
{
    return s24_cpu_bn_bwd_act(rows, c, x, mean, invstd, gamma, NULL, S24_ACT_NONE, dy, dx, 1,
                              dgamma, dbeta, ws);
}
#endif
