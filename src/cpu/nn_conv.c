/* nn_conv.c: 2-D convolution on the CPU, NHWC activations and OHWI weights.
 * Dense convs (groups 1) go through im2col + sgemm, with the batch cut into
 * chunks so the column buffer stays bounded; 1x1 stride-1 convs use the input
 * as the column matrix directly. Depthwise convs (groups = c = oc) use a
 * direct loop vectorised along channels. Other groupings fall back to the
 * naive reference (src/nn/conv_ref.c): correct, slow, unused by the shipped
 * models. */
#include "cpu/cpu_nn.h"

#include <stdlib.h>
#include <string.h>

#include "sparse24/sparse24.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Column buffer budget per chunk (floats): 16M = 64 MiB. */
#define COL_BUDGET ((int64_t)1 << 24)

/* ---------------------------------------------------------------- im2col */
/* col: (nb*oh*ow, kh*kw*c) row-major, columns in (kh, kw, c) order = OHWI's. */
static void im2col(const struct s24_conv_shape *s, const float *x, int64_t nb, float *col)
{
    int64_t K = s->kh * s->kw * s->c;
    int nt = s24_threads_get();
#pragma omp parallel for collapse(2) num_threads(nt)                                               \
    schedule(static) if (nb * s->oh * s->ow * K > S24_PAR_MIN)
    for (int64_t n = 0; n < nb; n++)
        for (int64_t oh = 0; oh < s->oh; oh++)
            for (int64_t ow = 0; ow < s->ow; ow++) {
                float *dst = col + ((n * s->oh + oh) * s->ow + ow) * K;
                for (int64_t kh = 0; kh < s->kh; kh++) {
                    int64_t ih = oh * s->stride - s->pad + kh;
                    for (int64_t kw = 0; kw < s->kw; kw++, dst += s->c) {
                        int64_t iw = ow * s->stride - s->pad + kw;
                        if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w)
                            memset(dst, 0, (size_t)s->c * sizeof *dst);
                        else
                            memcpy(dst, x + ((n * s->h + ih) * s->w + iw) * s->c,
                                   (size_t)s->c * sizeof *dst);
                    }
                }
            }
}

/* dx += col2im(dcol), as a gather per input pixel so threads never collide. */
static void col2im_acc(const struct s24_conv_shape *s, const float *dcol, int64_t nb, float *dx)
{
    int64_t K = s->kh * s->kw * s->c;
    int nt = s24_threads_get();
#pragma omp parallel for collapse(2) num_threads(nt)                                               \
    schedule(static) if (nb * s->h * s->w * K > S24_PAR_MIN)
    for (int64_t n = 0; n < nb; n++)
        for (int64_t ih = 0; ih < s->h; ih++)
            for (int64_t iw = 0; iw < s->w; iw++) {
                float *d = dx + ((n * s->h + ih) * s->w + iw) * s->c;
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
                        const float *src = dcol + ((n * s->oh + oh) * s->ow + ow) * K +
                                           (kh * s->kw + kw) * s->c;
                        for (int64_t c = 0; c < s->c; c++) d[c] += src[c];
                    }
                }
            }
}

static int is_pointwise(const struct s24_conv_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->stride == 1 && s->pad == 0;
}

static int64_t chunk_images(const struct s24_conv_shape *s)
{
    int64_t per = s->oh * s->ow * s->kh * s->kw * s->c;
    int64_t nb = COL_BUDGET / (per > 0 ? per : 1);
    if (nb < 1) nb = 1;
    if (nb > s->n) nb = s->n;
    return nb;
}

/* db[o] += sum over rows of dy[r, o], fp64 per channel. */
static void colsum_acc(int64_t rows, int64_t c, const float *dy, float *db)
{
    int nt = s24_threads_get();
#pragma omp parallel for num_threads(nt) schedule(static) if (rows * c > S24_PAR_MIN)
    for (int64_t o = 0; o < c; o++) {
        double acc = 0;
        for (int64_t r = 0; r < rows; r++) acc += dy[r * c + o];
        db[o] += (float)acc;
    }
}

/* ---------------------------------------------------------------- dense */
static int dense_fwd(const struct s24_conv_shape *s, const float *x, const float *w,
                     const float *b, float *y, struct s24_nn_ws *ws)
{
    int64_t K = s->kh * s->kw * s->c, P = s->oh * s->ow;
    int rc;
    if (is_pointwise(s)) {
        rc = s24_nn_sgemm(0, 1, s->n * P, s->oc, K, 1.0f, x, K, w, K, 0.0f, y, s->oc);
        if (rc) return rc;
    } else {
        int64_t nb = chunk_images(s);
        float *col = s24_nn_ws_get(ws, (size_t)(nb * P * K));
        if (!col) return s24_error(S24_ERR_NOMEM, "conv2d: column buffer");
        for (int64_t n0 = 0; n0 < s->n; n0 += nb) {
            int64_t cnt = s->n - n0 < nb ? s->n - n0 : nb;
            im2col(s, x + n0 * s->h * s->w * s->c, cnt, col);
            rc = s24_nn_sgemm(0, 1, cnt * P, s->oc, K, 1.0f, col, K, w, K, 0.0f,
                              y + n0 * P * s->oc, s->oc);
            if (rc) return rc;
        }
    }
    if (b) {
        int64_t rows = s->n * P;
        int nt = s24_threads_get();
#pragma omp parallel for num_threads(nt) schedule(static) if (rows * s->oc > S24_PAR_MIN)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t o = 0; o < s->oc; o++) y[r * s->oc + o] += b[o];
    }
    return S24_OK;
}

static int dense_bwd(const struct s24_conv_shape *s, const float *x, const float *w,
                     const float *dy, float *dx, float *dw, float *db, struct s24_nn_ws *ws)
{
    int64_t K = s->kh * s->kw * s->c, P = s->oh * s->ow;
    int rc;
    if (db) colsum_acc(s->n * P, s->oc, dy, db);
    if (is_pointwise(s)) {
        rc = s24_nn_sgemm(1, 0, s->oc, K, s->n * P, 1.0f, dy, s->oc, x, K, 1.0f, dw, K);
        if (rc || !dx) return rc;
        return s24_nn_sgemm(0, 0, s->n * P, K, s->oc, 1.0f, dy, s->oc, w, K, 1.0f, dx, K);
    }
    int64_t nb = chunk_images(s);
    size_t csz = (size_t)(nb * P * K);
    float *col = s24_nn_ws_get(ws, dx ? 2 * csz : csz);
    if (!col) return s24_error(S24_ERR_NOMEM, "conv2d: column buffers");
    float *dcol = col + csz;
    for (int64_t n0 = 0; n0 < s->n; n0 += nb) {
        int64_t cnt = s->n - n0 < nb ? s->n - n0 : nb;
        const float *dyc = dy + n0 * P * s->oc;
        im2col(s, x + n0 * s->h * s->w * s->c, cnt, col);
        rc = s24_nn_sgemm(1, 0, s->oc, K, cnt * P, 1.0f, dyc, s->oc, col, K, 1.0f, dw, K);
        if (rc) return rc;
        if (dx) {
            rc = s24_nn_sgemm(0, 0, cnt * P, K, s->oc, 1.0f, dyc, s->oc, w, K, 0.0f, dcol, K);
            if (rc) return rc;
            col2im_acc(s, dcol, cnt, dx + n0 * s->h * s->w * s->c);
        }
    }
    return S24_OK;
}

/* ---------------------------------------------------------------- depthwise */
static int is_depthwise(const struct s24_conv_shape *s)
{
    return s->groups == s->c && s->oc == s->c && s->groups > 1;
}

/* wt: (kh*kw, c), the weight transposed so the channel loop is contiguous. */
static void dw_transpose(const struct s24_conv_shape *s, const float *w, float *wt)
{
    int64_t KK = s->kh * s->kw;
    for (int64_t c = 0; c < s->c; c++)
        for (int64_t k = 0; k < KK; k++) wt[k * s->c + c] = w[c * KK + k];
}

static int depthwise_fwd(const struct s24_conv_shape *s, const float *x, const float *w,
                         const float *b, float *y, struct s24_nn_ws *ws)
{
    int64_t C = s->c;
    float *wt = s24_nn_ws_get(ws, (size_t)(s->kh * s->kw * C));
    if (!wt) return s24_error(S24_ERR_NOMEM, "depthwise conv: weight buffer");
    dw_transpose(s, w, wt);
    int nt = s24_threads_get();
#pragma omp parallel for collapse(2) num_threads(nt)                                               \
    schedule(static) if (s->n * s->oh * s->ow * C * s->kh * s->kw > S24_PAR_MIN)
    for (int64_t n = 0; n < s->n; n++)
        for (int64_t oh = 0; oh < s->oh; oh++)
            for (int64_t ow = 0; ow < s->ow; ow++) {
                float *yy = y + ((n * s->oh + oh) * s->ow + ow) * C;
                for (int64_t c = 0; c < C; c++) yy[c] = b ? b[c] : 0.0f;
                for (int64_t kh = 0; kh < s->kh; kh++) {
                    int64_t ih = oh * s->stride - s->pad + kh;
                    if (ih < 0 || ih >= s->h) continue;
                    for (int64_t kw = 0; kw < s->kw; kw++) {
                        int64_t iw = ow * s->stride - s->pad + kw;
                        if (iw < 0 || iw >= s->w) continue;
                        const float *xx = x + ((n * s->h + ih) * s->w + iw) * C;
                        const float *wk = wt + (kh * s->kw + kw) * C;
                        for (int64_t c = 0; c < C; c++) yy[c] += xx[c] * wk[c];
                    }
                }
            }
    return S24_OK;
}

static int depthwise_bwd(const struct s24_conv_shape *s, const float *x, const float *w,
                         const float *dy, float *dx, float *dw, float *db, struct s24_nn_ws *ws)
{
    int64_t C = s->c, KK = s->kh * s->kw;
    int nt = s24_threads_get();
    /* ws: wt (KK, C), then one (KK, C) partial dW per thread */
    float *wt = s24_nn_ws_get(ws, (size_t)(KK * C * (1 + nt)));
    if (!wt) return s24_error(S24_ERR_NOMEM, "depthwise conv: buffers");
    float *part = wt + KK * C;
    dw_transpose(s, w, wt);
    memset(part, 0, (size_t)(KK * C * nt) * sizeof *part);
    if (db) colsum_acc(s->n * s->oh * s->ow, C, dy, db);
#pragma omp parallel num_threads(nt) if (s->n * s->oh * s->ow * C * KK > S24_PAR_MIN)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *pw = part + (int64_t)tid * KK * C;
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < s->n; n++)
            for (int64_t oh = 0; oh < s->oh; oh++)
                for (int64_t ow = 0; ow < s->ow; ow++) {
                    const float *d = dy + ((n * s->oh + oh) * s->ow + ow) * C;
                    for (int64_t kh = 0; kh < s->kh; kh++) {
                        int64_t ih = oh * s->stride - s->pad + kh;
                        if (ih < 0 || ih >= s->h) continue;
                        for (int64_t kw = 0; kw < s->kw; kw++) {
                            int64_t iw = ow * s->stride - s->pad + kw;
                            if (iw < 0 || iw >= s->w) continue;
                            const float *xx = x + ((n * s->h + ih) * s->w + iw) * C;
                            float *p = pw + (kh * s->kw + kw) * C;
                            for (int64_t c = 0; c < C; c++) p[c] += xx[c] * d[c];
                        }
                    }
                }
        if (dx) {
#pragma omp for collapse(2) schedule(static)
            for (int64_t n = 0; n < s->n; n++)
                for (int64_t ih = 0; ih < s->h; ih++)
                    for (int64_t iw = 0; iw < s->w; iw++) {
                        float *dd = dx + ((n * s->h + ih) * s->w + iw) * C;
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
                                const float *d = dy + ((n * s->oh + oh) * s->ow + ow) * C;
                                const float *wk = wt + (kh * s->kw + kw) * C;
                                for (int64_t c = 0; c < C; c++) dd[c] += d[c] * wk[c];
                            }
                        }
                    }
        }
    }
    for (int64_t c = 0; c < C; c++)
        for (int64_t k = 0; k < KK; k++) {
            float acc = 0;
            for (int t = 0; t < nt; t++) acc += part[((int64_t)t * KK + k) * C + c];
            dw[c * KK + k] += acc;
        }
    return S24_OK;
}

/* ---------------------------------------------------------------- entry */
int s24_cpu_conv2d_fwd(const struct s24_conv_shape *s, const float *x, const float *w,
                       const float *b, float *y, struct s24_nn_ws *ws)
{
    if (s->groups == 1) return dense_fwd(s, x, w, b, y, ws);
    if (is_depthwise(s)) return depthwise_fwd(s, x, w, b, y, ws);
    s24_conv2d_ref_fwd(s, x, w, b, y);
    return S24_OK;
}

int s24_cpu_conv2d_bwd(const struct s24_conv_shape *s, const float *x, const float *w,
                       const float *dy, float *dx, float *dw, float *db, struct s24_nn_ws *ws)
{
    if (s->groups == 1) return dense_bwd(s, x, w, dy, dx, dw, db, ws);
    if (is_depthwise(s)) return depthwise_bwd(s, x, w, dy, dx, dw, db, ws);
    s24_conv2d_ref_bwd(s, x, w, dy, dx, dw, db);
    return S24_OK;
}
