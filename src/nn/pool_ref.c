/* pool_ref.c: the max-pool shape rule and the naive references (any
 * window, stride and padding; one element at a time; no threads). Like
 * conv_ref.c they sit below every backend and are never deleted: the CPU
 * kernels (src/cpu/nn_pool.c) and, through them, the GPU ones are tested
 * against them. The backward sums each input's contributions in fp64, so it
 * is the oracle for the fast kernels' fp32 sums, not their bit pattern. */
#include "nn/ops.h"

#include "sparse24/sparse24.h"

int s24_pool_shape_init(struct s24_pool_shape *s)
{
    if (s->n < 1 || s->h < 1 || s->w < 1 || s->c < 1 || s->k < 1 || s->stride < 1 || s->pad < 0)
        return s24_error(S24_ERR_INVALID,
                         "maxpool: bad shape (n %lld h %lld w %lld c %lld k %lld stride %lld "
                         "pad %lld)",
                         (long long)s->n, (long long)s->h, (long long)s->w, (long long)s->c,
                         (long long)s->k, (long long)s->stride, (long long)s->pad);
    /* the kernels keep positions within an image as 32-bit integers */
    if (s->h > INT32_MAX / s->w)
        return s24_error(S24_ERR_INVALID, "maxpool: a %lldx%lld map is too large", (long long)s->h,
                         (long long)s->w);
    /* a window of padding alone would have no maximum */
    if (2 * s->pad > s->k)
        return s24_error(S24_ERR_INVALID, "maxpool: padding %lld is more than half the window %lld",
                         (long long)s->pad, (long long)s->k);
    if (s->h + 2 * s->pad < s->k || s->w + 2 * s->pad < s->k)
        return s24_error(S24_ERR_INVALID, "maxpool: window %lld larger than padded input %lldx%lld",
                         (long long)s->k, (long long)(s->h + 2 * s->pad),
                         (long long)(s->w + 2 * s->pad));
    s->oh = (s->h + 2 * s->pad - s->k) / s->stride + 1;
    s->ow = (s->w + 2 * s->pad - s->k) / s->stride + 1;
    return S24_OK;
}

/* The input position (ih * w + iw) holding window (oh, ow)'s maximum of
 * channel c of image n: the first taker by s24_pool_takes. */
static int64_t ref_argmax(const struct s24_pool_shape *s, const float *x, int64_t n, int64_t oh,
                          int64_t ow, int64_t c)
{
    int64_t best = -1;
    float bv = 0.0f;
    for (int64_t kh = 0; kh < s->k; kh++) {
        int64_t ih = oh * s->stride - s->pad + kh;
        if (ih < 0 || ih >= s->h) continue;
        for (int64_t kw = 0; kw < s->k; kw++) {
            int64_t iw = ow * s->stride - s->pad + kw;
            if (iw < 0 || iw >= s->w) continue;
            float v = x[((n * s->h + ih) * s->w + iw) * s->c + c];
            if (best < 0 || s24_pool_takes(v, bv)) best = ih * s->w + iw, bv = v;
        }
    }
    return best;
}

void s24_maxpool_ref_fwd(const struct s24_pool_shape *s, const float *x, float *y)
{
    for (int64_t n = 0; n < s->n; n++)
        for (int64_t oh = 0; oh < s->oh; oh++)
            for (int64_t ow = 0; ow < s->ow; ow++)
                for (int64_t c = 0; c < s->c; c++) {
                    int64_t p = ref_argmax(s, x, n, oh, ow, c);
                    y[((n * s->oh + oh) * s->ow + ow) * s->c + c] =
                        x[(n * s->h * s->w + p) * s->c + c];
                }
}

void s24_maxpool_ref_bwd(const struct s24_pool_shape *s, const float *x, const float *dy,
                         float *dx)
{
    int64_t hw = s->h * s->w;
    for (int64_t n = 0; n < s->n; n++)
        for (int64_t c = 0; c < s->c; c++)
            for (int64_t p = 0; p < hw; p++) {
                double acc = 0;
                int hit = 0;
                /* every window, the ones that cannot hold p included: plain, not fast */
                for (int64_t oh = 0; oh < s->oh; oh++)
                    for (int64_t ow = 0; ow < s->ow; ow++)
                        if (ref_argmax(s, x, n, oh, ow, c) == p) {
                            acc += dy[((n * s->oh + oh) * s->ow + ow) * s->c + c];
                            hit = 1;
                        }
                if (hit) dx[(n * hw + p) * s->c + c] += (float)acc;
            }
}
