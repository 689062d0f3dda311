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

void s24_permute_maxsum_avx512(const float *const *x, int nx, const float *a, int64_t rpad,
                               int64_t ncols, double *out, int64_t ldo)
{
    /* Eight accumulators in registers; short batches repeat row 0 and drop
     * the copies, so the loop is always fully unrolled. */
    const float *xs[8];
    for (int k = 0; k < 8; k++) xs[k] = x[k < nx ? k : 0];
    for (int k = 0; k < nx; k++)
        for (int64_t c = 0; c < ncols; c++) out[k * ldo + c] = 0.0;
    for (int64_t r0 = 0; r0 < rpad; r0 += S24_PERMUTE_MAXSUM_BLOCK) {
        int64_t r1 = r0 + S24_PERMUTE_MAXSUM_BLOCK < rpad ? r0 + S24_PERMUTE_MAXSUM_BLOCK : rpad;
        for (int64_t c = 0; c < ncols; c++) {
            const float *ac = a + c * rpad;
            __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0,
                   c7 = c0;
            for (int64_t r = r0; r < r1; r += 16) {
                __m512 v = _mm512_load_ps(ac + r);
                c0 = _mm512_add_ps(c0, _mm512_max_ps(_mm512_load_ps(xs[0] + r), v));
                c1 = _mm512_add_ps(c1, _mm512_max_ps(_mm512_load_ps(xs[1] + r), v));
                c2 = _mm512_add_ps(c2, _mm512_max_ps(_mm512_load_ps(xs[2] + r), v));
                c3 = _mm512_add_ps(c3, _mm512_max_ps(_mm512_load_ps(xs[3] + r), v));
                c4 = _mm512_add_ps(c4, _mm512_max_ps(_mm512_load_ps(xs[4] + r), v));
                c5 = _mm512_add_ps(c5, _mm512_max_ps(_mm512_load_ps(xs[5] + r), v));
                c6 = _mm512_add_ps(c6, _mm512_max_ps(_mm512_load_ps(xs[6] + r), v));
                c7 = _mm512_add_ps(c7, _mm512_max_ps(_mm512_load_ps(xs[7] + r), v));
            }
            float lane[8][16];
            _mm512_storeu_ps(lane[0], c0), _mm512_storeu_ps(lane[1], c1);
            _mm512_storeu_ps(lane[2], c2), _mm512_storeu_ps(lane[3], c3);
            _mm512_storeu_ps(lane[4], c4), _mm512_storeu_ps(lane[5], c5);
            _mm512_storeu_ps(lane[6], c6), _mm512_storeu_ps(lane[7], c7);
            for (int k = 0; k < nx; k++) {
                double s = 0.0;
                for (int l = 0; l < 16; l++) s += (double)lane[k][l];
                out[k * ldo + c] += s;
            }
        }
    }
}
