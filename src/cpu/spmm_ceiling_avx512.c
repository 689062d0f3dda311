/* spmm_ceiling_avx512.c: per-core throughput ceilings of the ways a 2:4
 * kernel can pick the B values a kept A value needs, measured on the calling
 * thread (`sparse24 bench cpu --ceilings`). docs/cpu-gemm.md reasons about
 * them; this file makes the numbers reproducible instead of quoting a private
 * micro-benchmark. Nothing here computes a product anyone uses: inputs are
 * synthetic, in L1, and the results only keep the loops alive.
 *
 * Measured (each in G zmm FMA/s; every FMA of a 2:4 loop does 16 useful
 * multiply-adds, i.e. 64 dense-equivalent flops):
 *   peak: 12 independent FMA chains, registers only.
 *   addr: the shipped SUB kernel (s24_spmm_sub_avx512) over 20 tiles of
 *         random 2:4 steps on one L1-resident 128 x 64 sub-panel: one B load
 *         per FMA, selection by address.
 *   perm: selection in registers: B packed as 4 K rows x 4 columns per zmm,
 *         two rows x two kept slots x four columns in the lanes, one vpermps
 *         per FMA (port 5, which is also an FMA port on server cores).
 *   mixed: 12 address-selected FMAs and 6 permute-selected ones per
 *         iteration, to see whether the two use different ports well enough
 *         to add up.
 * Compiled with the AVX-512 flags; call only when the CPU has AVX-512. */
#include "cpu/spmm_internal.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

/* Best of five timed rounds of fn(n), as seconds for n iterations. */
static double best_of(void (*fn)(long, void *), long n, void *ctx)
{
    double best = -1;
    fn(n / 8, ctx); /* warm-up: caches, frequency */
    for (int r = 0; r < 5; r++) {
        const double t0 = s24_now();
        fn(n, ctx);
        const double t = s24_now() - t0;
        if (best < 0 || t < best) best = t;
    }
    return best;
}

struct ctx {
    float *sink;         /* 16 floats: results go here so no loop is dead */
    const float *bz;     /* perm/mixed: 128 groups x 5 zmm of packed B */
    const float *plan;   /* perm/mixed: 64 x 128 floats of index / value vectors */
    const float *panel;  /* addr/mixed: 128 x 64 floats */
    const uint16_t *off; /* mixed: 1024 byte offsets into panel */
    const uint8_t *steps;
    float *cbuf;
};

static void run_peak(long n, void *vc)
{
    struct ctx *c = vc;
    const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(0.001f);
    __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2);
    __m512 a3 = _mm512_set1_ps(3), a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5);
    __m512 a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7), a8 = _mm512_set1_ps(8);
    __m512 a9 = _mm512_set1_ps(9), a10 = _mm512_set1_ps(10), a11 = _mm512_set1_ps(11);
    for (long i = 0; i < n; i++) {
        /* 12 chains x 4 cycles of latency: enough to fill two FMA ports */
        a0 = _mm512_fmadd_ps(a0, x, y);
        a1 = _mm512_fmadd_ps(a1, x, y);
        a2 = _mm512_fmadd_ps(a2, x, y);
        a3 = _mm512_fmadd_ps(a3, x, y);
        a4 = _mm512_fmadd_ps(a4, x, y);
        a5 = _mm512_fmadd_ps(a5, x, y);
        a6 = _mm512_fmadd_ps(a6, x, y);
        a7 = _mm512_fmadd_ps(a7, x, y);
        a8 = _mm512_fmadd_ps(a8, x, y);
        a9 = _mm512_fmadd_ps(a9, x, y);
        a10 = _mm512_fmadd_ps(a10, x, y);
        a11 = _mm512_fmadd_ps(a11, x, y);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    _mm512_storeu_ps(c->sink, s);
}

#define ADDR_KS 128
#define ADDR_TILES 20

static void run_addr(long n, void *vc)
{
    struct ctx *c = vc;
    const size_t step = s24_spmm_step_bytes(S24_SPMM_AVX512_MR);
    for (long i = 0; i < n; i++)
        for (int t = 0; t < ADDR_TILES; t++)
            s24_spmm_sub_avx512(ADDR_KS / 2, c->steps + (size_t)t * (ADDR_KS / 2) * step,
                                c->panel, c->cbuf + t * 384, 64, c->cbuf + t * 384, 64,
                                S24_SPMM_AVX512_MR, S24_SPMM_AVX512_NR);
}

static void run_perm(long n, void *vc)
{
    struct ctx *c = vc;
    const __m512 z = _mm512_setzero_ps();
    __m512 a00 = z, a01 = z, a02 = z, a03 = z, a04 = z, a10 = z, a11 = z, a12 = z, a13 = z,
           a14 = z;
    __m512 a20 = z, a21 = z, a22 = z, a23 = z, a24 = z, a30 = z, a31 = z, a32 = z, a33 = z,
           a34 = z;
    for (long g = 0; g < n; g++) {
        /* per group of 4 K rows: 4 row pairs (index + value vectors from
         * the plan) x 5 column quads (one zmm of B each) */
        const float *pl = c->plan + (g & 63) * 128;
        const float *b = c->bz + (g & 127) * 80;
        const __m512i i0 = _mm512_loadu_si512(pl), i1 = _mm512_loadu_si512(pl + 16);
        const __m512i i2 = _mm512_loadu_si512(pl + 32), i3 = _mm512_loadu_si512(pl + 48);
        const __m512 v0 = _mm512_loadu_ps(pl + 64), v1 = _mm512_loadu_ps(pl + 80);
        const __m512 v2 = _mm512_loadu_ps(pl + 96), v3 = _mm512_loadu_ps(pl + 112);
#define PQ(q)                                                                                      \
    do {                                                                                           \
        const __m512 zq = _mm512_loadu_ps(b + 16 * (q));                                          \
        a0##q = _mm512_fmadd_ps(v0, _mm512_permutexvar_ps(i0, zq), a0##q);                        \
        a1##q = _mm512_fmadd_ps(v1, _mm512_permutexvar_ps(i1, zq), a1##q);                        \
        a2##q = _mm512_fmadd_ps(v2, _mm512_permutexvar_ps(i2, zq), a2##q);                        \
        a3##q = _mm512_fmadd_ps(v3, _mm512_permutexvar_ps(i3, zq), a3##q);                        \
    } while (0)
        PQ(0);
        PQ(1);
        PQ(2);
        PQ(3);
        PQ(4);
#undef PQ
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(a00, a01), _mm512_add_ps(a02, a03));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a04, a10), _mm512_add_ps(a11, a12)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a13, a14), _mm512_add_ps(a20, a21)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a22, a23), _mm512_add_ps(a24, a30)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a31, a32), _mm512_add_ps(a33, a34)));
    _mm512_storeu_ps(c->sink, s);
}

static void run_mixed(long n, void *vc)
{
    struct ctx *c = vc;
    const __m512 z = _mm512_setzero_ps();
    __m512 c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z;
    __m512 c20 = z, c21 = z, c22 = z, c23 = z, a00 = z, a01 = z, a02 = z, a10 = z, a11 = z,
           a12 = z;
    for (long g = 0; g < n; g++) {
        const float *pl = c->plan + (g & 63) * 128; /* indices, then values at +64 */
        const float *b = c->bz + (g & 127) * 48;
        const uint16_t *of = c->off + (g & 255) * 4;
        const __m512i i0 = _mm512_loadu_si512(pl), i1 = _mm512_loadu_si512(pl + 16);
        const __m512 v0 = _mm512_loadu_ps(pl + 64), v1 = _mm512_loadu_ps(pl + 80);
#define MQ(q)                                                                                      \
    do {                                                                                           \
        const __m512 zq = _mm512_loadu_ps(b + 16 * (q));                                          \
        a0##q = _mm512_fmadd_ps(v0, _mm512_permutexvar_ps(i0, zq), a0##q);                        \
        a1##q = _mm512_fmadd_ps(v1, _mm512_permutexvar_ps(i1, zq), a1##q);                        \
    } while (0)
#define MA(r)                                                                                      \
    do {                                                                                           \
        const float *b_ = (const float *)((const char *)c->panel + of[r]);                         \
        __asm__("" : "+r"(b_));                                                                    \
        const __m512 a_ = _mm512_set1_ps(pl[64 + (r)]);                                            \
        c##r##0 = _mm512_fmadd_ps(a_, _mm512_load_ps(b_), c##r##0);                                \
        c##r##1 = _mm512_fmadd_ps(a_, _mm512_load_ps(b_ + 16), c##r##1);                           \
        c##r##2 = _mm512_fmadd_ps(a_, _mm512_load_ps(b_ + 32), c##r##2);                           \
        c##r##3 = _mm512_fmadd_ps(a_, _mm512_load_ps(b_ + 48), c##r##3);                           \
    } while (0)
        MA(0);
        MQ(0);
        MA(1);
        MQ(1);
        MA(2);
        MQ(2);
#undef MQ
#undef MA
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(c00, c01), _mm512_add_ps(c02, c03));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(c10, c11), _mm512_add_ps(c12, c13)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(c20, c21), _mm512_add_ps(c22, c23)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a00, a01), _mm512_add_ps(a02, a10)));
    s = _mm512_add_ps(s, _mm512_add_ps(a11, a12));
    _mm512_storeu_ps(c->sink, s);
}

int s24_spmm_ceilings_avx512(struct s24_spmm_ceilings *out)
{
    const size_t step = s24_spmm_step_bytes(S24_SPMM_AVX512_MR);
    const size_t nsteps = (size_t)ADDR_TILES * (ADDR_KS / 2);
    float *panel = aligned_alloc(64, ADDR_KS * 64 * sizeof(float));
    float *bz = aligned_alloc(64, 128 * 80 * sizeof(float));
    float *plan = aligned_alloc(64, 64 * 128 * sizeof(float));
    float *cbuf = aligned_alloc(64, ADDR_TILES * 384 * sizeof(float));
    uint16_t *off = malloc(1024 * sizeof *off);
    uint8_t *steps = malloc(nsteps * step);
    float sink[16];
    if (!panel || !bz || !plan || !cbuf || !off || !steps) {
        free(panel), free(bz), free(plan), free(cbuf), free(off), free(steps);
        return s24_error(S24_ERR_NOMEM, "spmm ceilings: buffers");
    }
    /* Small values: sums stay far from overflow and no operand is denormal
     * (denormals take microcode assists and would measure those instead). */
    for (int i = 0; i < ADDR_KS * 64; i++) panel[i] = 1e-3f * (float)(1 + i % 7);
    for (int i = 0; i < 128 * 80; i++) bz[i] = 1e-3f;
    for (int i = 0; i < 64 * 128; i++) plan[i] = 0.5f;
    memset(cbuf, 0, ADDR_TILES * 384 * sizeof(float));
    /* Random but valid selections: a kept pair of each group of 4 rows,
     * the pattern drawn from the 6 possible ones (xorshift, fixed seed). */
    static const int pair[6][2] = {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}};
    uint32_t x = 0x2545f491u;
#define NEXT() (x ^= x << 13, x ^= x >> 17, x ^= x << 5, x)
    for (size_t e = 0; e < nsteps; e += 2) {
        const int g = (int)((e % (ADDR_KS / 2)) / 2);
        for (int s = 0; s < 2; s++) {
            float *v = (float *)(steps + (e + (size_t)s) * step);
            memset(v, 0, step);
            for (int r = 0; r < S24_SPMM_AVX512_MR; r++) v[r] = 0.5f;
        }
        for (int r = 0; r < S24_SPMM_AVX512_MR; r++) {
            const int pt = (int)(NEXT() % 6);
            for (int s = 0; s < 2; s++) {
                uint16_t *ix = (uint16_t *)(steps + (e + (size_t)s) * step +
                                            S24_SPMM_AVX512_MR * sizeof(float));
                ix[r] = (uint16_t)((4 * g + pair[pt][s]) * S24_SPMM_AVX512_NR * 4);
            }
        }
    }
    for (int i = 0; i < 1024; i++) off[i] = (uint16_t)((NEXT() % ADDR_KS) * 256);
    /* index vectors of the permute loops: lanes pick any of the 16 entries */
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 64; j++) {
            const uint32_t ix = NEXT() % 16;
            memcpy(&plan[i * 128 + j], &ix, sizeof ix);
        }
#undef NEXT
    struct ctx c = {sink, bz, plan, panel, off, steps, cbuf};
    const long np = 20000000, na = 4000, nq = 4000000;
    out->fma_peak = 12.0 * (double)np / best_of(run_peak, np, &c) / 1e9;
    out->addr = (double)na * (double)nsteps * 24.0 / best_of(run_addr, na, &c) / 1e9;
    out->perm = 20.0 * (double)nq / best_of(run_perm, nq, &c) / 1e9;
    out->mixed = 18.0 * (double)nq / best_of(run_mixed, nq, &c) / 1e9;
    free(panel), free(bz), free(plan), free(cbuf), free(off), free(steps);
    return S24_OK;
}
