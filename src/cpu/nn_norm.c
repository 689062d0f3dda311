/* nn_norm.c: batch normalisation on the CPU over NHWC rows (rows = n*h*w,
 * channels contiguous). Statistics are two-pass (mean, then squared
 * deviations) with fp64 per-thread partial sums, so large batches of
 * activations with a big mean do not lose the variance to cancellation.
 * The channel loops are `omp simd`: the compiler cannot tell on its own that
 * the partial sums do not alias the activations, and without it these passes
 * ran scalar (14 % of a ResNet18 eval forward was the eval pass alone, which
 * also took a square root per element). Vectorising keeps every operation
 * and its order per element, so the results are those of the plain loops.
 * Not here: the running-statistics update (the model does it, since it owns
 * momentum and num_batches_tracked). */
#include "cpu/cpu_nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparse24/sparse24.h"

#ifdef _OPENMP
#include <omp.h>
#endif

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

int s24_cpu_bn_fwd_train(int64_t rows, int64_t c, const float *x, const float *gamma,
                         const float *beta, float eps, float *y, float *mean, float *var,
                         float *invstd, struct s24_nn_ws *ws)
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
#pragma omp simd
        for (int64_t j = 0; j < c; j++) yr[j] = (xr[j] - mean[j]) * invstd[j] * gamma[j] + beta[j];
    }
    return S24_OK;
}

/* The inverse deviations once per channel (they were once per element), then
 * the same expression as the training pass. Without memory for them
 * (c floats), the per-element form. */
void s24_cpu_bn_fwd_eval(int64_t rows, int64_t c, const float *x, const float *gamma,
                         const float *beta, const float *rmean, const float *rvar, float eps,
                         float *y)
{
    int nt = s24_threads_get();
    float *is = malloc((size_t)(c > 0 ? c : 1) * sizeof *is); /* (c) */
    if (!is) {
#pragma omp parallel for num_threads(nt) schedule(static) if (rows * c > S24_PAR_MIN)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < c; j++) {
                float isj = (float)(1.0 / sqrt((double)rvar[j] + (double)eps));
                y[r * c + j] = (x[r * c + j] - rmean[j]) * isj * gamma[j] + beta[j];
            }
        return;
    }
    for (int64_t j = 0; j < c; j++) is[j] = (float)(1.0 / sqrt((double)rvar[j] + (double)eps));
#pragma omp parallel for num_threads(nt) schedule(static) if (rows * c > S24_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * c;
        float *yr = y + r * c;
#pragma omp simd
        for (int64_t j = 0; j < c; j++) yr[j] = (xr[j] - rmean[j]) * is[j] * gamma[j] + beta[j];
    }
    free(is);
}

int s24_cpu_bn_bwd(int64_t rows, int64_t c, const float *x, const float *mean,
                   const float *invstd, const float *gamma, const float *dy, float *dx,
                   float *dgamma, float *dbeta, struct s24_nn_ws *ws)
{
    int nt = s24_threads_get();
    double *ps = partials(ws, nt, c, 2); /* [0, nt*c): sum dy; [nt*c, 2nt*c): sum dy*xhat */
    if (!ps) return s24_error(S24_ERR_NOMEM, "batch norm: partial sums");
#pragma omp parallel num_threads(nt) if (rows * c > S24_PAR_MIN)
    {
        double *p1 = ps + (int64_t)thread_id() * c, *p2 = p1 + (int64_t)nt * c;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * c, *gr = dy + r * c;
#pragma omp simd
            for (int64_t j = 0; j < c; j++) {
                double g = gr[j];
                p1[j] += g;
                p2[j] += g * ((double)xr[j] - mean[j]) * invstd[j];
            }
        }
    }
    /* reuse the first thread's slots for the totals */
    for (int64_t j = 0; j < c; j++) {
        double s1 = 0, s2 = 0;
        for (int t = 0; t < nt; t++) {
            s1 += ps[(int64_t)t * c + j];
            s2 += ps[(int64_t)(nt + t) * c + j];
        }
        dbeta[j] += (float)s1;
        dgamma[j] += (float)s2;
        ps[j] = s1 / (double)rows;
        ps[(int64_t)nt * c + j] = s2 / (double)rows;
    }
    if (!dx) return S24_OK;
    const double *m1 = ps, *m2 = ps + (int64_t)nt * c;
#pragma omp parallel for num_threads(nt) schedule(static) if (rows * c > S24_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * c, *gr = dy + r * c;
        float *dxr = dx + r * c;
#pragma omp simd
        for (int64_t j = 0; j < c; j++) {
            float xh = (xr[j] - mean[j]) * invstd[j];
            dxr[j] += gamma[j] * invstd[j] * (gr[j] - (float)m1[j] - xh * (float)m2[j]);
        }
    }
    return S24_OK;
}
