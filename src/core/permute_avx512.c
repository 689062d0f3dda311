/* permute_avx512.c: the AVX-512 version of the permutation search's inner
 * kernel (see permute_internal.h). It is the portable kernel of
 * permute_search.c with 16 rows per register; lane sums are reduced in the
 * same fixed order, so both return identical bits. Chosen at run time. */
#include "permute_internal.h"

#include <immintrin.h>

void s24_permute_top2_avx512(const float *const *p, int nsub, int64_t rpad, double *sums)
{
    for (int k = 0; k < nsub; k++) sums[k] = 0.0;
    for (int64_t r0 = 0; r0 < rpad; r0 += S24_PERMUTE_BLOCK) {
        int64_t r1 = r0 + S24_PERMUTE_BLOCK < rpad ? r0 + S24_PERMUTE_BLOCK : rpad;
        for (int k = 0; k < nsub; k++) {
            const float *a = p[4 * k], *b = p[4 * k + 1], *c = p[4 * k + 2], *d = p[4 * k + 3];
            __m512 acc = _mm512_setzero_ps();
            for (int64_t r = r0; r < r1; r += 16) {
                __m512 va = _mm512_load_ps(a + r), vb = _mm512_load_ps(b + r);
                __m512 vc = _mm512_load_ps(c + r), vd = _mm512_load_ps(d + r);
                /* the top two are one from each pair, or both from one pair */
                __m512 cross = _mm512_add_ps(_mm512_max_ps(va, vb), _mm512_max_ps(vc, vd));
                __m512 same = _mm512_max_ps(_mm512_add_ps(va, vb), _mm512_add_ps(vc, vd));
                acc = _mm512_add_ps(acc, _mm512_max_ps(cross, same));
            }
            float lane[16];
            _mm512_storeu_ps(lane, acc);
            double s = 0.0;
            for (int l = 0; l < 16; l++) s += (double)lane[l];
            sums[k] += s;
        }
    }
}

/* Add the 16 lanes of v, in lane order, in double, to *out (the fixed order
 * the portable kernel uses too). */
static void lane_sum(__m512 v, double *out)
{
    float lane[16];
    _mm512_storeu_ps(lane, v);
    double s = 0.0;
    for (int l = 0; l < 16; l++) s += (double)lane[l];
    *out += s;
}

void s24_permute_maxsum_avx512(const float *const *x, int nx, const float *a, int64_t rpad,
                               int64_t ncols, double *out, int64_t ldo)
{
    /* Eight x rows in flight; short batches repeat row 0 and drop the
     * copies, so the loops are always fully unrolled. */
    const float *xs[8];
    for (int k = 0; k < 8; k++) xs[k] = x[k < nx ? k : 0];
    for (int k = 0; k < nx; k++)
        for (int64_t c = 0; c < ncols; c++) out[k * ldo + c] = 0.0;
    for (int64_t r0 = 0; r0 < rpad; r0 += S24_PERMUTE_MAXSUM_BLOCK) {
        int64_t r1 = r0 + S24_PERMUTE_MAXSUM_BLOCK < rpad ? r0 + S24_PERMUTE_MAXSUM_BLOCK : rpad;
        int64_t c = 0;
        /* two channels at a time: each x vector loaded once serves both,
         * 16 accumulators stay in registers */
        for (; c + 1 < ncols; c += 2) {
            const float *a0 = a + c * rpad, *a1 = a0 + rpad;
            __m512 acc[16];
#pragma GCC unroll 16
            for (int k = 0; k < 16; k++) acc[k] = _mm512_setzero_ps();
            for (int64_t r = r0; r < r1; r += 16) {
                __m512 v0 = _mm512_load_ps(a0 + r), v1 = _mm512_load_ps(a1 + r);
#pragma GCC unroll 8
                for (int k = 0; k < 8; k++) {
                    __m512 xv = _mm512_load_ps(xs[k] + r);
                    acc[k] = _mm512_add_ps(acc[k], _mm512_max_ps(xv, v0));
                    acc[8 + k] = _mm512_add_ps(acc[8 + k], _mm512_max_ps(xv, v1));
                }
            }
#pragma GCC unroll 8
            for (int k = 0; k < nx; k++) {
                lane_sum(acc[k], &out[k * ldo + c]);
                lane_sum(acc[8 + k], &out[k * ldo + c + 1]);
            }
        }
        for (; c < ncols; c++) {
            const float *ac = a + c * rpad;
            __m512 acc[8];
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) acc[k] = _mm512_setzero_ps();
            for (int64_t r = r0; r < r1; r += 16) {
                __m512 v = _mm512_load_ps(ac + r);
#pragma GCC unroll 8
                for (int k = 0; k < 8; k++)
                    acc[k] = _mm512_add_ps(acc[k], _mm512_max_ps(_mm512_load_ps(xs[k] + r), v));
            }
#pragma GCC unroll 8
            for (int k = 0; k < nx; k++) lane_sum(acc[k], &out[k * ldo + c]);
        }
    }
}
