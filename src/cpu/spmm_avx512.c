/* spmm_avx512.c: the AVX-512 register-tile kernels and B packer of the 2:4
 * SpMM (compiled with -mavx512f/bw/vl/dq -mfma -mf16c; spmm.c calls them only
 * when the CPU has them). A tile of 6 rows x 64 columns of C lives in 24 zmm
 * registers; each kept value of A is broadcast once and multiplies the four
 * zmm of the B row its offset points at (loads folded into the FMAs). Two
 * forms (spmm_internal.h): the PANEL kernel walks a K block of an L2-resident
 * micro-panel, the SUB kernel a K sub-block of an L1-resident one.
 *
 * Not here: blocking, threads, plan building (spmm.c), any sparsity logic:
 * the kernels only follow the offsets the plan baked in. */
#include "cpu/spmm_internal.h"

#include <immintrin.h>
#include <string.h>

#define MR S24_SPMM_AVX512_MR
#define NR S24_SPMM_AVX512_NR

#if MR != 6 || NR != 64
#error "the unrolled kernel below is written for a 6 x 64 tile (index << 8 = 256-byte rows)"
#endif

/* Row by row over the whole chunk, so each B row is read as one contiguous
 * run (the hardware prefetcher follows it) and the rows a few ahead are
 * prefetched; panel by panel would touch kc rows a page apart per panel
 * (measured: it made packing cost as much as the multiply at M = 64). */
void s24_spmm_pack_avx512(enum s24_dtype dt, const void *B, int64_t ldb, int64_t kc,
                          int64_t ncols, int nr, float *dst)
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
                for (; j + 16 <= w; j += 16) _mm512_store_ps(d + j, _mm512_loadu_ps(s + j));
                if (j < w) {
                    __mmask16 mk = (__mmask16)((1u << (w - j)) - 1);
                    _mm512_store_ps(d + j, _mm512_maskz_loadu_ps(mk, s + j));
                    j += 16;
                }
            } else {
                const uint16_t *s = (const uint16_t *)row + j0;
                const int bf = dt == S24_BF16;
                for (; j < w; j += 16) {
                    __mmask16 mk =
                        w - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (w - j)) - 1);
                    __m256i h = _mm256_maskz_loadu_epi16(mk, s + j);
                    __m512 v =
                        bf ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
                           : _mm512_cvtph_ps(h);
                    _mm512_store_ps(d + j, v);
                }
            }
            for (; j < nr; j += 16) _mm512_store_ps(d + j, _mm512_setzero_ps());
        }
    }
}

/* Write (or add) one row of the tile; cols < NR goes through a mask per vector. */
static inline void store_row(float *c, int cols, int add, __m512 v0, __m512 v1, __m512 v2,
                             __m512 v3)
{
    __m512 v[4] = {v0, v1, v2, v3};
    for (int q = 0; q < 4; q++) {
        int w = cols - 16 * q;
        if (w <= 0) break;
        __mmask16 mk = w >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << w) - 1);
        __m512 x = v[q];
        if (add) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mk, c + 16 * q));
        _mm512_mask_storeu_ps(c + 16 * q, mk, x);
    }
}

#define ZERO_ROW(r)                                                                                \
    __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps(),                         \
           c##r##2 = _mm512_setzero_ps(), c##r##3 = _mm512_setzero_ps()

#define FMA_ROW(r)                                                                                 \
    do {                                                                                           \
        const float *b_ = (const float *)((const char *)panel + ((size_t)ix[r] << 8));            \
        const __m512 a_ = _mm512_set1_ps(v[r]);                                                    \
        c##r##0 = _mm512_fmadd_ps(a_, _mm512_load_ps(b_), c##r##0);                                \
        c##r##1 = _mm512_fmadd_ps(a_, _mm512_load_ps(b_ + 16), c##r##1);                           \
        c##r##2 = _mm512_fmadd_ps(a_, _mm512_load_ps(b_ + 32), c##r##2);                           \
        c##r##3 = _mm512_fmadd_ps(a_, _mm512_load_ps(b_ + 48), c##r##3);                           \
    } while (0)

void s24_spmm_ukr_avx512(int64_t nkk, const uint8_t *steps, const float *panel, float *C,
                         int64_t ldc, int rows, int cols, int add)
{
    /* The C tile is read back only after the loop; ask for it now so the
     * tail does not stall on L2/L3 latency (measured: matters at long K). */
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < 4; q++) _mm_prefetch((const char *)(C + r * ldc + 16 * q), _MM_HINT_T0);
    ZERO_ROW(0);
    ZERO_ROW(1);
    ZERO_ROW(2);
    ZERO_ROW(3);
    ZERO_ROW(4);
    ZERO_ROW(5);
    const size_t step = s24_spmm_step_bytes(MR);
    for (int64_t kk = 0; kk < nkk; kk++, steps += step) {
        const float *v = (const float *)steps;
        const uint16_t *ix = (const uint16_t *)(steps + MR * 4);
        FMA_ROW(0);
        FMA_ROW(1);
        FMA_ROW(2);
        FMA_ROW(3);
        FMA_ROW(4);
        FMA_ROW(5);
    }
    /* Rows past `rows` are the plan's padding; they are computed, not stored. */
    store_row(C, cols, add, c00, c01, c02, c03);
    if (rows > 1) store_row(C + ldc, cols, add, c10, c11, c12, c13);
    if (rows > 2) store_row(C + 2 * ldc, cols, add, c20, c21, c22, c23);
    if (rows > 3) store_row(C + 3 * ldc, cols, add, c30, c31, c32, c33);
    if (rows > 4) store_row(C + 4 * ldc, cols, add, c40, c41, c42, c43);
    if (rows > 5) store_row(C + 5 * ldc, cols, add, c50, c51, c52, c53);
}

/* ---------------------------------------------------------------- SUB kernel */

/* The reference is a byte offset; the empty asm keeps the sum in a register,
 * so the four FMAs use base + displacement operands rather than an indexed
 * one each. That is the form measured; the indexed form was 23 % slower in
 * one micro-benchmark on the Xeon and equal in another, so this is a guard
 * against a compiler choice, not a measured win. */
#define FMA_ROW_B(r, off)                                                                          \
    do {                                                                                           \
        const float *b_ = (const float *)((const char *)panel + (off));                           \
        __asm__("" : "+r"(b_));                                                                    \
        const __m512 a_ = _mm512_set1_ps(v[r]);                                                    \
        c##r##0 = _mm512_fmadd_ps(a_, _mm512_load_ps(b_), c##r##0);                                \
        c##r##1 = _mm512_fmadd_ps(a_, _mm512_load_ps(b_ + 16), c##r##1);                           \
        c##r##2 = _mm512_fmadd_ps(a_, _mm512_load_ps(b_ + 32), c##r##2);                           \
        c##r##3 = _mm512_fmadd_ps(a_, _mm512_load_ps(b_ + 48), c##r##3);                           \
    } while (0)

/* out row = (in ? in row : 0) + sums; a full tile takes no masks. */
static inline void out_row(const float *in, float *out, int full, const __mmask16 *mk, __m512 v0,
                           __m512 v1, __m512 v2, __m512 v3)
{
    if (full) {
        if (in) {
            v0 = _mm512_add_ps(v0, _mm512_loadu_ps(in));
            v1 = _mm512_add_ps(v1, _mm512_loadu_ps(in + 16));
            v2 = _mm512_add_ps(v2, _mm512_loadu_ps(in + 32));
            v3 = _mm512_add_ps(v3, _mm512_loadu_ps(in + 48));
        }
        _mm512_storeu_ps(out, v0);
        _mm512_storeu_ps(out + 16, v1);
        _mm512_storeu_ps(out + 32, v2);
        _mm512_storeu_ps(out + 48, v3);
        return;
    }
    if (in) {
        v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(mk[0], in));
        v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(mk[1], in + 16));
        v2 = _mm512_add_ps(v2, _mm512_maskz_loadu_ps(mk[2], in + 32));
        v3 = _mm512_add_ps(v3, _mm512_maskz_loadu_ps(mk[3], in + 48));
    }
    _mm512_mask_storeu_ps(out, mk[0], v0);
    _mm512_mask_storeu_ps(out + 16, mk[1], v1);
    _mm512_mask_storeu_ps(out + 32, mk[2], v2);
    _mm512_mask_storeu_ps(out + 48, mk[3], v3);
}

void s24_spmm_sub_avx512(int64_t nkk, const uint8_t *steps, const float *panel, const float *in,
                         int64_t ldi, float *out, int64_t ldo, int rows, int cols)
{
    /* `in` is read only after the loop; ask for it now so the tail does not
     * wait on L2 latency. */
    if (in)
        for (int r = 0; r < rows; r++)
            for (int q = 0; q < 4; q++)
                _mm_prefetch((const char *)(in + r * ldi + 16 * q), _MM_HINT_T0);
    ZERO_ROW(0);
    ZERO_ROW(1);
    ZERO_ROW(2);
    ZERO_ROW(3);
    ZERO_ROW(4);
    ZERO_ROW(5);
    const size_t step = s24_spmm_step_bytes(MR);
    for (int64_t kk = 0; kk < nkk; kk++, steps += step) {
        /* The six offsets come in with two loads and are split with shifts:
         * loads, not ALU ports, are what this loop runs out of (one B vector
         * per FMA, plus a broadcast per row); measured 2-8 % faster than a
         * 16-bit load per row. */
        const float *v = (const float *)steps;
        uint64_t o4;
        uint32_t o2;
        memcpy(&o4, steps + MR * 4, sizeof o4);
        memcpy(&o2, steps + MR * 4 + 8, sizeof o2);
        FMA_ROW_B(0, (uint16_t)o4);
        FMA_ROW_B(1, (uint16_t)(o4 >> 16));
        FMA_ROW_B(2, (uint16_t)(o4 >> 32));
        FMA_ROW_B(3, (uint16_t)(o4 >> 48));
        FMA_ROW_B(4, (uint16_t)o2);
        FMA_ROW_B(5, (uint16_t)(o2 >> 16));
    }
    __mmask16 mk[4];
    for (int q = 0; q < 4; q++) {
        const int w = cols - 16 * q;
        mk[q] = w >= 16 ? (__mmask16)0xffff : w <= 0 ? (__mmask16)0 : (__mmask16)((1u << w) - 1);
    }
    const int full = rows == MR && cols == NR;
    /* Rows past `rows` are the plan's padding; they are computed, not stored. */
#define OUT_ROW(r)                                                                                 \
    if (rows > (r))                                                                                \
    out_row(in ? in + (r) * ldi : NULL, out + (r) * ldo, full, mk, c##r##0, c##r##1, c##r##2,      \
            c##r##3)
    OUT_ROW(0);
    OUT_ROW(1);
    OUT_ROW(2);
    OUT_ROW(3);
    OUT_ROW(4);
    OUT_ROW(5);
#undef OUT_ROW
}

/* The conv packer's transpose (spmm_conv.c): d[c * ldd + j] = src[j][c] for
 * c < len, j < 16: 16 input vectors of one tap become len rows of 16
 * columns of a micro-panel. By 16 x 16 blocks in registers (unpack 32 and
 * 64 bits, then two 128-bit lane shuffles), the last block's loads masked;
 * a scalar copy did one store per element, an eighth of the packer's time
 * was store-port bound. */
void s24_spmm_gather16_avx512(const float *const src[16], int64_t len, float *d, int64_t ldd)
{
    for (int64_t c = 0; c < len; c += 16) {
        const int64_t w = len - c < 16 ? len - c : 16;
        const __mmask16 mk = w == 16 ? (__mmask16)0xffff : (__mmask16)((1u << w) - 1);
        __m512 r[16], t[16], u[16];
        for (int j = 0; j < 16; j++) r[j] = _mm512_maskz_loadu_ps(mk, src[j] + c);
        for (int j = 0; j < 16; j += 2) {
            t[j] = _mm512_unpacklo_ps(r[j], r[j + 1]);     /* per lane: a0 b0 a1 b1 */
            t[j + 1] = _mm512_unpackhi_ps(r[j], r[j + 1]); /* a2 b2 a3 b3 */
        }
        for (int q = 0; q < 16; q += 4) {
            /* u[q + e], lane l: rows q..q+3 at channel 4l + e */
            const __m512d t0 = _mm512_castps_pd(t[q]), t1 = _mm512_castps_pd(t[q + 1]);
            const __m512d t2 = _mm512_castps_pd(t[q + 2]), t3 = _mm512_castps_pd(t[q + 3]);
            u[q] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
            u[q + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
            u[q + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
            u[q + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
        }
        for (int e = 0; e < 4; e++) {
            /* channels e, 4 + e, 8 + e, 12 + e: lane l of u[e], u[4+e], u[8+e], u[12+e] */
            const __m512 v0 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0x88);
            const __m512 v1 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0x88);
            const __m512 w0 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0xdd);
            const __m512 w1 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0xdd);
            const __m512 o[4] = {_mm512_shuffle_f32x4(v0, v1, 0x88),
                                 _mm512_shuffle_f32x4(w0, w1, 0x88),
                                 _mm512_shuffle_f32x4(v0, v1, 0xdd),
                                 _mm512_shuffle_f32x4(w0, w1, 0xdd)};
            for (int h = 0; h < 4; h++)
                if (4 * h + e < w) _mm512_storeu_ps(d + (c + 4 * h + e) * ldd, o[h]);
        }
    }
}
