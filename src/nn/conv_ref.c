/* conv_ref.c: the convolution shape rule and the naive references
 * (any stride, padding, groups; fp64 accumulation; no threads). They sit
 * below every backend and are never deleted: they are the oracle the fast
 * CPU paths and the GPU backend are tested against. */
#include "nn/ops.h"

#include <string.h>

#include "sparse24/sparse24.h"

int s24_conv_shape_init(struct s24_conv_shape *s)
{
    if (s->n < 1 || s->h < 1 || s->w < 1 || s->c < 1 || s->oc < 1 || s->kh < 1 || s->kw < 1 ||
        s->stride < 1 || s->pad < 0 || s->groups < 1)
        return s24_error(S24_ERR_INVALID, "conv2d: bad shape (n %lld h %lld w %lld c %lld oc %lld)",
                         (long long)s->n, (long long)s->h, (long long)s->w, (long long)s->c,
                         (long long)s->oc);
    if (s->c % s->groups || s->oc % s->groups)
        return s24_error(S24_ERR_INVALID, "conv2d: groups %lld do not divide c %lld / oc %lld",
                         (long long)s->groups, (long long)s->c, (long long)s->oc);
    if (s->h + 2 * s->pad < s->kh || s->w + 2 * s->pad < s->kw)
        return s24_error(S24_ERR_INVALID,
                         "conv2d: kernel %lldx%lld larger than padded input %lldx%lld",
                         (long long)s->kh, (long long)s->kw, (long long)(s->h + 2 * s->pad),
                         (long long)(s->w + 2 * s->pad));
    s->oh = (s->h + 2 * s->pad - s->kh) / s->stride + 1;
    s->ow = (s->w + 2 * s->pad - s->kw) / s->stride + 1;
    return S24_OK;
}

/* ---------------------------------------------------------------- reference */
void s24_conv2d_ref_fwd(const struct s24_conv_shape *s, const float *x, const float *w,
                        const float *b, float *y)
{
    int64_t cg = s->c / s->groups, og = s->oc / s->groups;
    for (int64_t n = 0; n < s->n; n++)
        for (int64_t oh = 0; oh < s->oh; oh++)
            for (int64_t ow = 0; ow < s->ow; ow++)
                for (int64_t o = 0; o < s->oc; o++) {
                    int64_t g = o / og;
                    double acc = b ? b[o] : 0.0;
                    for (int64_t kh = 0; kh < s->kh; kh++) {
                        int64_t ih = oh * s->stride - s->pad + kh;
                        if (ih < 0 || ih >= s->h) continue;
                        for (int64_t kw = 0; kw < s->kw; kw++) {
                            int64_t iw = ow * s->stride - s->pad + kw;
                            if (iw < 0 || iw >= s->w) continue;
                            const float *xx = x + ((n * s->h + ih) * s->w + iw) * s->c + g * cg;
                            const float *ww = w + ((o * s->kh + kh) * s->kw + kw) * cg;
                            for (int64_t ci = 0; ci < cg; ci++) acc += (double)xx[ci] * ww[ci];
                        }
                    }
                    y[((n * s->oh + oh) * s->ow + ow) * s->oc + o] = (float)acc;
                }
}

void s24_conv2d_ref_bwd(const struct s24_conv_shape *s, const float *x, const float *w,
                        const float *dy, float *dx, float *dw, float *db)
{
    int64_t cg = s->c / s->groups, og = s->oc / s->groups;
    if (db)
        for (int64_t o = 0; o < s->oc; o++) {
            double acc = 0;
            for (int64_t r = 0; r < s->n * s->oh * s->ow; r++) acc += dy[r * s->oc + o];
            db[o] += (float)acc;
        }
    for (int64_t o = 0; o < s->oc; o++) {
        int64_t g = o / og;
        for (int64_t kh = 0; kh < s->kh; kh++)
            for (int64_t kw = 0; kw < s->kw; kw++)
                for (int64_t ci = 0; ci < cg; ci++) {
                    double acc = 0;
                    for (int64_t n = 0; n < s->n; n++)
                        for (int64_t oh = 0; oh < s->oh; oh++) {
                            int64_t ih = oh * s->stride - s->pad + kh;
                            if (ih < 0 || ih >= s->h) continue;
                            for (int64_t ow = 0; ow < s->ow; ow++) {
                                int64_t iw = ow * s->stride - s->pad + kw;
                                if (iw < 0 || iw >= s->w) continue;
                                acc +=
                                    (double)x[((n * s->h + ih) * s->w + iw) * s->c + g * cg + ci] *
                                    dy[((n * s->oh + oh) * s->ow + ow) * s->oc + o];
                            }
                        }
                    dw[((o * s->kh + kh) * s->kw + kw) * cg + ci] += (float)acc;
                }
    }
    if (!dx) return;
    for (int64_t n = 0; n < s->n; n++)
        for (int64_t ih = 0; ih < s->h; ih++)
            for (int64_t iw = 0; iw < s->w; iw++)
                for (int64_t c = 0; c < s->c; c++) {
                    int64_t g = c / cg, ci = c % cg;
                    double acc = 0;
                    for (int64_t kh = 0; kh < s->kh; kh++) {
                        int64_t t = ih + s->pad - kh;
                        if (t < 0 || t % s->stride) continue;
                        int64_t oh = t / s->stride;
                        if (oh >= s->oh) continue;
                        for (int64_t kw = 0; kw < s->kw; kw++) {
                            int64_t u = iw + s->pad - kw;
                            if (u < 0 || u % s->stride) continue;
                            int64_t ow = u / s->stride;
                            if (ow >= s->ow) continue;
                            const float *d = dy + ((n * s->oh + oh) * s->ow + ow) * s->oc;
                            for (int64_t o = g * og; o < (g + 1) * og; o++)
                                acc += (double)d[o] * w[((o * s->kh + kh) * s->kw + kw) * cg + ci];
                        }
                    }
                    dx[((n * s->h + ih) * s->w + iw) * s->c + c] += (float)acc;
                }
}
