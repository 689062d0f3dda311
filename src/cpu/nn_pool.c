/* nn_pool.c: the CPU's max pool (NHWC, any window, stride and padding),
 * forward and backward. Channels run innermost, so each window position is
 * one contiguous, vectorisable pass over c. The backward finds each
 * window's maximum again from x instead of keeping indices from the
 * forward: no per-node state, and the same rule (s24_pool_takes) the
 * forward and the GPU use. It adds each window's gradient in output order,
 * the order the GPU's gather adds them in, so the two agree bit for bit.
 * The oracle is src/nn/pool_ref.c. */
#include "cpu/cpu_nn.h"

#include <string.h>

#include "sparse24/sparse24.h"

/* The valid input rows (or columns) [lo, hi) of the window at output o. */
static void window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t size, int64_t *lo,
                   int64_t *hi)
{
    int64_t a = o * stride - pad, b = a + k;
    *lo = a > 0 ? a : 0;
    *hi = b < size ? b : size;
}

void s24_cpu_maxpool_fwd(const struct s24_pool_shape *s, const float *x, float *y)
{
    const int64_t C = s->c, H = s->h, W = s->w;
    int nt = s24_threads_get();
#pragma omp parallel for collapse(2) num_threads(nt) schedule(static) \
    if (s->n * s->oh * s->ow * C * s->k * s->k > S24_PAR_MIN)
    for (int64_t n = 0; n < s->n; n++)
        for (int64_t oh = 0; oh < s->oh; oh++) {
            int64_t h0, h1;
            window(oh, s->stride, s->pad, s->k, H, &h0, &h1);
            for (int64_t ow = 0; ow < s->ow; ow++) {
                int64_t w0, w1;
                window(ow, s->stride, s->pad, s->k, W, &w0, &w1);
                float *restrict yy = y + ((n * s->oh + oh) * s->ow + ow) * C;
                /* the first valid position starts every channel */
                memcpy(yy, x + ((n * H + h0) * W + w0) * C, (size_t)C * sizeof *yy);
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = ih == h0 ? w0 + 1 : w0; iw < w1; iw++) {
                        const float *restrict xx = x + ((n * H + ih) * W + iw) * C;
#pragma omp simd
                        for (int64_t c = 0; c < C; c++) {
                            float v = xx[c], b = yy[c];
                            yy[c] = s24_pool_takes(v, b) ? v : b;
                        }
                    }
            }
        }
}

/* Channels per pass of the backward: the running maxima and their
 * positions stay on the stack. */
#define POOL_CB 64

void s24_cpu_maxpool_bwd(const struct s24_pool_shape *s, const float *x, const float *dy,
                         float *dx)
{
    const int64_t C = s->c, H = s->h, W = s->w;
    int nt = s24_threads_get();
    /* images apart: their gradients never overlap, so threads need no order */
#pragma omp parallel for num_threads(nt) schedule(static) \
    if (s->n * s->oh * s->ow * C * s->k * s->k > S24_PAR_MIN)
    for (int64_t n = 0; n < s->n; n++) {
        const float *xn = x + n * H * W * C;
        float *dxn = dx + n * H * W * C;
        for (int64_t oh = 0; oh < s->oh; oh++) {
            int64_t h0, h1;
            window(oh, s->stride, s->pad, s->k, H, &h0, &h1);
            for (int64_t ow = 0; ow < s->ow; ow++) {
                int64_t w0, w1;
                window(ow, s->stride, s->pad, s->k, W, &w0, &w1);
                const float *g = dy + ((n * s->oh + oh) * s->ow + ow) * C;
                for (int64_t c0 = 0; c0 < C; c0 += POOL_CB) {
                    int64_t cn = C - c0 < POOL_CB ? C - c0 : POOL_CB;
                    float bv[POOL_CB];
                    int32_t bp[POOL_CB]; /* (ih * W + iw) of the maximum: < 2^31 (checked) */
                    for (int64_t j = 0; j < cn; j++)
                        bv[j] = xn[(h0 * W + w0) * C + c0 + j], bp[j] = (int32_t)(h0 * W + w0);
                    for (int64_t ih = h0; ih < h1; ih++)
                        for (int64_t iw = ih == h0 ? w0 + 1 : w0; iw < w1; iw++) {
                            const float *xx = xn + (ih * W + iw) * C + c0;
                            const int32_t pos = (int32_t)(ih * W + iw);
#pragma omp simd
                            for (int64_t j = 0; j < cn; j++) {
                                float v = xx[j], b = bv[j];
                                int t = s24_pool_takes(v, b);
                                bv[j] = t ? v : b;
                                bp[j] = t ? pos : bp[j];
                            }
                        }
                    for (int64_t j = 0; j < cn; j++) dxn[(int64_t)bp[j] * C + c0 + j] += g[c0 + j];
                }
            }
        }
    }
}
