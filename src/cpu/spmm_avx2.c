/* spmm_avx2.c: the AVX2+FMA register-tile kernels and B packer of the 2:4
 * SpMM (compiled with -mavx2 -mfma -mf16c; spmm.c calls them only when the
 * CPU has them). A tile of 3 rows x 32 columns of C lives in 12 ymm registers
 * (16 exist); each kept value of A is broadcast once and multiplies the four
 * ymm of the B row its offset points at. PANEL and SUB forms as in
 * spmm_avx512.c (spmm_internal.h says what they are).
 *
 * Not here: blocking, threads, plan building (spmm.c). */
#include "cpu/spmm_internal.h"

#include <immintrin.h>
#include <string.h>

#define MR S24_SPMM_AVX2_MR
#define NR S24_SPMM_AVX2_NR

#if MR != 3 || NR != 32
#error "the unrolled kernel below is written for a 3 x 32 tile (index << 7 = 128-byte rows)"
#endif

/* Row by row over the whole chunk with the rows ahead prefetched (see
 * spmm_avx512.c for why). */
void s24_spmm_pack_avx2(enum s24_dtype dt, const void *B, int64_t ldb, int64_t kc, int64_t ncols,
                        int nr, float *dst)
{
    const size_t es = dt == S24_F32 ? 4 : 2;
    for (int64_t p = 0; p < kc; p++) {
        const char *row = (const char *)B + (size_t)(p * ldb) * es;
        if (p + 4 < kc)
            for (int64_t j = 0; j < ncols; j += (int64_t)(64 / es))
                _mm_prefetch(row + (size_t)(4 * ldb + j) * es, _MM_HINT_T0);
        for (int64_t j0 = 0; j0 < ncols; j0 += nr) {
            const int64_t w = ncols - j0 < nr ? ncols - j0 : nr;
            float *d = dst + (j0 / nr) * kc * nr + p * nr;
            int64_t j = 0;
            if (dt == S24_F32) {
                const float *s = (const float *)row + j0;
                for (; j + 8 <= w; j += 8) _mm256_store_ps(d + j, _mm256_loadu_ps(s + j));
                for (; j < w; j++) d[j] = s[j];
            } else if (dt == S24_F16) {
                const uint16_t *s = (const uint16_t *)row + j0;
                for (; j + 8 <= w; j += 8)
                    _mm256_store_ps(d + j,
                                    _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + j))));
                for (; j < w; j++) d[j] = s24_f16_to_f32(s[j]);
            } else {
                const uint16_t *s = (const uint16_t *)row + j0;
                for (; j + 8 <= w; j += 8) {
                    __m256i x = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(s + j)));
                    _mm256_store_ps(d + j, _mm256_castsi256_ps(_mm256_slli_epi32(x, 16)));
                }
                for (; j < w; j++) d[j] = s24_bf16_to_f32(s[j]);
            }
            for (; j < nr; j++) d[j] = 0.0f;
        }
    }
}

static inline void store_row(float *c, int cols, int add, __m256 v0, __m256 v1, __m256 v2,
                             __m256 v3)
{
    if (cols == NR) {
        if (add) {
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(c));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(c + 8));
            v2 = _mm256_add_ps(v2, _mm256_loadu_ps(c + 16));
            v3 = _mm256_add_ps(v3, _mm256_loadu_ps(c + 24));
        }
        _mm256_storeu_ps(c, v0);
        _mm256_storeu_ps(c + 8, v1);
        _mm256_storeu_ps(c + 16, v2);
        _mm256_storeu_ps(c + 24, v3);
        return;
    }
    /* Partial tile: go through memory rather than four masked variants. */
    float t[NR];
    _mm256_storeu_ps(t, v0);
    _mm256_storeu_ps(t + 8, v1);
    _mm256_storeu_ps(t + 16, v2);
    _mm256_storeu_ps(t + 24, v3);
    for (int j = 0; j < cols; j++) c[j] = add ? c[j] + t[j] : t[j];
}

#define ZERO_ROW(r)                                                                                \
    __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = _mm256_setzero_ps(),                         \
           c##r##2 = _mm256_setzero_ps(), c##r##3 = _mm256_setzero_ps()

#define FMA_ROW(r)                                                                                 \
    do {                                                                                           \
        const float *b_ = (const float *)((const char *)panel + ((size_t)ix[r] << 7));            \
        const __m256 a_ = _mm256_broadcast_ss(&v[r]);                                              \
        c##r##0 = _mm256_fmadd_ps(a_, _mm256_load_ps(b_), c##r##0);                                \
        c##r##1 = _mm256_fmadd_ps(a_, _mm256_load_ps(b_ + 8), c##r##1);                            \
        c##r##2 = _mm256_fmadd_ps(a_, _mm256_load_ps(b_ + 16), c##r##2);                           \
        c##r##3 = _mm256_fmadd_ps(a_, _mm256_load_ps(b_ + 24), c##r##3);                           \
    } while (0)

void s24_spmm_ukr_avx2(int64_t nkk, const uint8_t *steps, const float *panel, float *C,
                       int64_t ldc, int rows, int cols, int add)
{
    /* The C tile is read back only after the loop; ask for it now so the
     * tail does not stall on L2/L3 latency (measured: matters at long K). */
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < 2; q++) _mm_prefetch((const char *)(C + r * ldc + 16 * q), _MM_HINT_T0);
    ZERO_ROW(0);
    ZERO_ROW(1);
    ZERO_ROW(2);
    const size_t step = s24_spmm_step_bytes(MR);
    for (int64_t kk = 0; kk < nkk; kk++, steps += step) {
        const float *v = (const float *)steps;
        const uint16_t *ix = (const uint16_t *)(steps + MR * 4);
        FMA_ROW(0);
        FMA_ROW(1);
        FMA_ROW(2);
    }
    store_row(C, cols, add, c00, c01, c02, c03);
    if (rows > 1) store_row(C + ldc, cols, add, c10, c11, c12, c13);
    if (rows > 2) store_row(C + 2 * ldc, cols, add, c20, c21, c22, c23);
}

/* ---------------------------------------------------------------- SUB kernel */

/* Byte-offset reference, kept in a register (see spmm_avx512.c). */
#define FMA_ROW_B(r, off)                                                                          \
    do {                                                                                           \
        const float *b_ = (const float *)((const char *)panel + (off));                           \
        __asm__("" : "+r"(b_));                                                                    \
        const __m256 a_ = _mm256_broadcast_ss(&v[r]);                                              \
        c##r##0 = _mm256_fmadd_ps(a_, _mm256_load_ps(b_), c##r##0);                                \
        c##r##1 = _mm256_fmadd_ps(a_, _mm256_load_ps(b_ + 8), c##r##1);                            \
        c##r##2 = _mm256_fmadd_ps(a_, _mm256_load_ps(b_ + 16), c##r##2);                           \
        c##r##3 = _mm256_fmadd_ps(a_, _mm256_load_ps(b_ + 24), c##r##3);                           \
    } while (0)

/* out row = (in ? in row : 0) + sums (cols of them). */
static inline void out_row(const float *in, float *out, int cols, __m256 v0, __m256 v1, __m256 v2,
                           __m256 v3)
{
    if (cols == NR) {
        if (in) {
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(in));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(in + 8));
            v2 = _mm256_add_ps(v2, _mm256_loadu_ps(in + 16));
            v3 = _mm256_add_ps(v3, _mm256_loadu_ps(in + 24));
        }
        _mm256_storeu_ps(out, v0);
        _mm256_storeu_ps(out + 8, v1);
        _mm256_storeu_ps(out + 16, v2);
        _mm256_storeu_ps(out + 24, v3);
        return;
    }
    float t[NR];
    _mm256_storeu_ps(t, v0);
    _mm256_storeu_ps(t + 8, v1);
    _mm256_storeu_ps(t + 16, v2);
    _mm256_storeu_ps(t + 24, v3);
    for (int j = 0; j < cols; j++) out[j] = in ? in[j] + t[j] : t[j];
}

void s24_spmm_sub_avx2(int64_t nkk, const uint8_t *steps, const float *panel, const float *in,
                       int64_t ldi, float *out, int64_t ldo, int rows, int cols)
{
    if (in)
        for (int r = 0; r < rows; r++)
            for (int q = 0; q < 2; q++)
                _mm_prefetch((const char *)(in + r * ldi + 16 * q), _MM_HINT_T0);
    ZERO_ROW(0);
    ZERO_ROW(1);
    ZERO_ROW(2);
    const size_t step = s24_spmm_step_bytes(MR);
    for (int64_t kk = 0; kk < nkk; kk++, steps += step) {
        /* the three offsets in one load (see spmm_avx512.c) */
        const float *v = (const float *)steps;
        uint64_t o;
        memcpy(&o, steps + MR * 4, sizeof o);
        FMA_ROW_B(0, (uint16_t)o);
        FMA_ROW_B(1, (uint16_t)(o >> 16));
        FMA_ROW_B(2, (uint16_t)(o >> 32));
    }
    out_row(in, out, cols, c00, c01, c02, c03);
    if (rows > 1) out_row(in ? in + ldi : NULL, out + ldo, cols, c10, c11, c12, c13);
    if (rows > 2) out_row(in ? in + 2 * ldi : NULL, out + 2 * ldo, cols, c20, c21, c22, c23);
}
