/* spmm_conv.c: a 2:4 convolution (groups 1, NHWC input, OHWI weight) as the
 * 2:4 SpMM of spmm.c with the column matrix left implicit: the kernel's
 * packer, which copies B into kc x nr micro-panels anyway, reads those panels
 * straight from the activations. Row k of the implicit B is the weight's
 * (kh, kw, c) with k = (kh * KW + kw) * C + c, column q the output position
 * (n, oh, ow) with q = (n * OH + oh) * OW + ow, so B[k][q] is
 * x[n][oh * stride - pad + kh][ow * stride - pad + kw][c], or 0 in the
 * padding.
 *
 * Why: gathering the column matrix (K x positions, K/C times the input) and
 * packing it again cost about as much as the kernel itself on ResNet18
 * (docs/results/cpu-engine.md); here each input vector is read into the
 * panel once per K block and nothing else is written.
 *
 * Not here: the bias and the transpose of C (OC x positions) back to NHWC
 * (the caller's, src/cpu/infer_cpu.c), groups, dilation. */
#include "cpu/cpu_nn.h"
#include "cpu/spmm_internal.h"

#include <stdlib.h>

/* Columns packed together: one 64-byte line of a panel row per tap element,
 * so each destination line is written whole while the 16 input vectors
 * stream. */
#define COLS_AT_ONCE 16

struct conv_src {
    const struct s24_conv_shape *s;
    const float *x;     /* (n, h, w, c) */
    const float *zeros; /* c zeros: the source of padded taps and columns past n */
    int64_t q0;         /* first output position of the product */
    int64_t npos;       /* positions in the product (columns of B) */
    /* the 16-column transpose of the plan's ISA, NULL: the portable loop */
    void (*gather16)(const float *const src[16], int64_t len, float *d, int64_t ldd);
};

static void pack_conv(const void *ctx, int64_t k0, int64_t kc, int64_t j0, int64_t ncols, int nr,
                      float *dst)
{
    const struct conv_src *cs = ctx;
    const struct s24_conv_shape *s = cs->s;
    const int64_t C = s->c, P = s->oh * s->ow;
    for (int64_t jb = 0; jb < ncols; jb += nr) {
        float *panel = dst + (jb / nr) * kc * nr; /* panel: (kc, nr) */
        for (int jg = 0; jg < nr; jg += COLS_AT_ONCE) {
            /* each column's image and top-left input corner, once per group */
            int64_t img[COLS_AT_ONCE], ih0[COLS_AT_ONCE], iw0[COLS_AT_ONCE];
            int live[COLS_AT_ONCE];
            for (int j = 0; j < COLS_AT_ONCE; j++) {
                const int64_t col = jb + jg + j;
                live[j] = col < ncols;
                const int64_t q = cs->q0 + j0 + (live[j] ? col : 0), r = q % P;
                img[j] = q / P;
                ih0[j] = (r / s->ow) * s->stride - s->pad;
                iw0[j] = (r % s->ow) * s->stride - s->pad;
            }
            for (int64_t k = k0; k < k0 + kc;) {
                const int64_t tap = k / C, c0 = k % C;
                const int64_t c1 = C - c0 < k0 + kc - k ? C : c0 + (k0 + kc - k);
                const int64_t kh = tap / s->kw, kw = tap % s->kw;
                const float *src[COLS_AT_ONCE];
                for (int j = 0; j < COLS_AT_ONCE; j++) {
                    const int64_t ih = ih0[j] + kh, iw = iw0[j] + kw;
                    src[j] = live[j] && ih >= 0 && ih < s->h && iw >= 0 && iw < s->w
                                 ? cs->x + ((img[j] * s->h + ih) * s->w + iw) * C
                                 : cs->zeros;
                }
                float *d = panel + (k - k0) * nr + jg;
                if (cs->gather16) {
                    for (int j = 0; j < COLS_AT_ONCE; j++) src[j] += c0;
                    cs->gather16(src, c1 - c0, d, nr);
                } else {
                    for (int64_t c = c0; c < c1; c++, d += nr)
                        for (int j = 0; j < COLS_AT_ONCE; j++) d[j] = src[j][c];
                }
                k += c1 - c0;
            }
        }
    }
}

int s24_spmm_conv_run(s24_spmm_plan_t p, const struct s24_conv_shape *s, const float *x,
                      int64_t q0, int64_t n, float *C)
{
    if (!p || !s) return s24_error(S24_ERR_INVALID, "spmm_conv_run: NULL plan or shape");
    if (p->dtype != S24_F32)
        return s24_error(S24_ERR_UNSUPPORTED, "spmm_conv_run: the weight is %s (want F32)",
                         s24_dtype_name(p->dtype));
    if (s->groups != 1 || s->oh < 1 || s->ow < 1 || s->c < 1)
        return s24_error(S24_ERR_INVALID, "spmm_conv_run: groups %lld or output %lldx%lld",
                         (long long)s->groups, (long long)s->oh, (long long)s->ow);
    if (p->k != s->kh * s->kw * s->c || p->m != s->oc)
        return s24_error(S24_ERR_INVALID,
                         "spmm_conv_run: plan is %lld x %lld, the conv wants %lld x %lld",
                         (long long)p->m, (long long)p->k, (long long)s->oc,
                         (long long)(s->kh * s->kw * s->c));
    if (q0 < 0 || n < 0 || q0 + n > s->n * s->oh * s->ow)
        return s24_error(S24_ERR_INVALID, "spmm_conv_run: positions [%lld, %lld) of %lld",
                         (long long)q0, (long long)(q0 + n), (long long)(s->n * s->oh * s->ow));
    if (p->m == 0 || n == 0) return S24_OK;
    if (!x || !C) return s24_error(S24_ERR_INVALID, "spmm_conv_run: NULL input or output");
    float *zeros = calloc((size_t)s->c, sizeof *zeros);
    if (!zeros) return s24_error(S24_ERR_NOMEM, "spmm_conv_run: %lld floats", (long long)s->c);
    const struct conv_src cs = {s, x, zeros, q0, n,
                                p->isa == S24_SPMM_AVX512 ? s24_spmm_gather16_avx512 : NULL};
    int rc = s24_spmm_plan_run_src(p, pack_conv, &cs, n, C);
    free(zeros);
    return rc;
}
