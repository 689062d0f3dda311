/* nn_elem.c: the CPU's element-wise and small ops of the engine: ReLU, SiLU,
 * sigmoid, residual add, gradient accumulation, global average pooling,
 * squeeze-excitation's channel scale, linear (through sgemm), and the row
 * masks of dropout and stochastic depth. The masks are drawn by the model
 * (it owns the generator); these kernels only apply them.
 * ReLU is written as a select, and the passes over whole tensors are
 * `parallel for simd`: written as an if on the sign, gcc made ReLU a scalar
 * loop with a branch that mispredicts on half the elements (22 % of a
 * ResNet18 eval forward in perf); the select vectorises and gives the same
 * values, bit for bit. */
#include "cpu/cpu_nn.h"

#include <math.h>
#include <string.h>

#include "sparse24/sparse24.h"

static float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

void s24_cpu_act_fwd(enum s24_act a, int64_t n, const float *x, float *y)
{
    int nt = s24_threads_get();
    switch (a) {
    case S24_ACT_NONE: /* the identity */
        if (y != x) memmove(y, x, (size_t)n * sizeof *y);
        break;
    case S24_ACT_RELU:
#pragma omp parallel for simd num_threads(nt) schedule(static) if (parallel : n > S24_PAR_MIN)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case S24_ACT_SILU:
#pragma omp parallel for num_threads(nt) schedule(static) if (n > S24_PAR_MIN)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * sigmoidf_(x[i]);
        break;
    case S24_ACT_SIGMOID:
#pragma omp parallel for num_threads(nt) schedule(static) if (n > S24_PAR_MIN)
        for (int64_t i = 0; i < n; i++) y[i] = sigmoidf_(x[i]);
        break;
    }
}

void s24_cpu_act_bwd(enum s24_act a, int64_t n, const float *x, const float *y,
                     const float *dy, float *dx)
{
    int nt = s24_threads_get();
    switch (a) {
    case S24_ACT_NONE:
        s24_cpu_acc(n, dy, dx);
        break;
    case S24_ACT_RELU:
#pragma omp parallel for simd num_threads(nt) schedule(static) if (parallel : n > S24_PAR_MIN)
        for (int64_t i = 0; i < n; i++) {
            float g = dy[i], keep = x[i] > 0.0f ? g : -0.0f; /* a + -0 == a, -0 too */
            dx[i] += keep;
        }
        break;
    case S24_ACT_SILU:
#pragma omp parallel for num_threads(nt) schedule(static) if (n > S24_PAR_MIN)
        for (int64_t i = 0; i < n; i++) {
            float s = sigmoidf_(x[i]);
            dx[i] += dy[i] * s * (1.0f + x[i] * (1.0f - s));
        }
        break;
    case S24_ACT_SIGMOID:
#pragma omp parallel for num_threads(nt) schedule(static) if (n > S24_PAR_MIN)
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
        break;
    }
}

void s24_cpu_add_fwd(int64_t n, const float *a, const float *b, float *y)
{
    int nt = s24_threads_get();
#pragma omp parallel for simd num_threads(nt) schedule(static) if (parallel : n > S24_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

/* y = relu(a + b) in one pass: the bits of add_fwd followed by act_fwd */
void s24_cpu_add_relu_fwd(int64_t n, const float *a, const float *b, float *y)
{
    int nt = s24_threads_get();
#pragma omp parallel for simd num_threads(nt) schedule(static) if (parallel : n > S24_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = a[i] + b[i];
        y[i] = v > 0.0f ? v : 0.0f;
    }
}

void s24_cpu_acc(int64_t n, const float *dy, float *dx)
{
    int nt = s24_threads_get();
#pragma omp parallel for simd num_threads(nt) schedule(static) if (parallel : n > S24_PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i];
}

void s24_cpu_gap_fwd(int64_t n, int64_t hw, int64_t c, const float *x, float *y)
{
    int nt = s24_threads_get();
#pragma omp parallel for num_threads(nt) schedule(static) if (n * hw * c > S24_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < c; j++) {
            double acc = 0;
            for (int64_t p = 0; p < hw; p++) acc += x[(i * hw + p) * c + j];
            y[i * c + j] = (float)(acc / (double)hw);
        }
}

void s24_cpu_gap_bwd(int64_t n, int64_t hw, int64_t c, const float *dy, float *dx)
{
    int nt = s24_threads_get();
    float inv = 1.0f / (float)hw;
#pragma omp parallel for num_threads(nt) schedule(static) if (n * hw * c > S24_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = 0; p < hw; p++)
            for (int64_t j = 0; j < c; j++) dx[(i * hw + p) * c + j] += dy[i * c + j] * inv;
}

void s24_cpu_scale_fwd(int64_t n, int64_t hw, int64_t c, const float *x, const float *s,
                       float *y)
{
    int nt = s24_threads_get();
#pragma omp parallel for collapse(2) num_threads(nt) schedule(static) if (n * hw * c > S24_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = 0; p < hw; p++)
            for (int64_t j = 0; j < c; j++)
                y[(i * hw + p) * c + j] = x[(i * hw + p) * c + j] * s[i * c + j];
}

void s24_cpu_scale_bwd(int64_t n, int64_t hw, int64_t c, const float *x, const float *s,
                       const float *dy, float *dx, float *ds)
{
    int nt = s24_threads_get();
#pragma omp parallel for num_threads(nt) schedule(static) if (n * hw * c > S24_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < c; j++) {
            double acc = 0;
            for (int64_t p = 0; p < hw; p++)
                acc += (double)dy[(i * hw + p) * c + j] * x[(i * hw + p) * c + j];
            ds[i * c + j] += (float)acc;
        }
        if (dx)
            for (int64_t p = 0; p < hw; p++)
                for (int64_t j = 0; j < c; j++)
                    dx[(i * hw + p) * c + j] += dy[(i * hw + p) * c + j] * s[i * c + j];
    }
}

int s24_cpu_linear_fwd(int64_t n, int64_t in, int64_t out, const float *x, const float *w,
                       const float *b, float *y)
{
    int rc = s24_nn_sgemm(0, 1, n, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
    if (rc || !b) return rc;
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < out; o++) y[i * out + o] += b[o];
    return S24_OK;
}

int s24_cpu_linear_bwd(int64_t n, int64_t in, int64_t out, const float *x, const float *w,
                       const float *dy, float *dx, float *dw, float *db)
{
    int rc = s24_nn_sgemm(1, 0, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
    if (rc) return rc;
    if (db)
        for (int64_t o = 0; o < out; o++) {
            double acc = 0;
            for (int64_t i = 0; i < n; i++) acc += dy[i * out + o];
            db[o] += (float)acc;
        }
    if (dx) rc = s24_nn_sgemm(0, 0, n, in, out, 1.0f, dy, out, w, in, 1.0f, dx, in);
    return rc;
}

void s24_cpu_rowmask_fwd(int64_t rows, int64_t inner, const float *x, const float *mask,
                         float *y)
{
    int nt = s24_threads_get();
#pragma omp parallel for num_threads(nt) schedule(static) if (rows * inner > S24_PAR_MIN)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < inner; j++) y[r * inner + j] = x[r * inner + j] * mask[r];
}

void s24_cpu_rowmask_bwd(int64_t rows, int64_t inner, const float *mask, const float *dy,
                         float *dx)
{
    int nt = s24_threads_get();
#pragma omp parallel for num_threads(nt) schedule(static) if (rows * inner > S24_PAR_MIN)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < inner; j++) dx[r * inner + j] += dy[r * inner + j] * mask[r];
}
