/* spmm.c: the fast CPU product C = A x B with A 2:4-compressed (F32, F16 or
 * BF16) and B dense in A's dtype, accumulating in fp32: plans, run-time ISA
 * choice, cache blocking and OpenMP threading. The register-tile kernels live
 * in spmm_avx512.c and spmm_avx2.c; a portable C kernel here covers the rest.
 *
 * How it works (docs/cpu-gemm.md has the long form): a plan turns A into, per
 * tile of mr rows, a stream of (fp32 value, reference to its B row inside a
 * packed panel). At run time B is packed (and converted to fp32) into
 * kc x nr micro-panels; the kernel keeps an mr x nr tile of C in registers and
 * for each kept value broadcasts it and FMAs the B row it selects: the
 * "gather" of 2:4 is a choice of row address, done by the load ports. Only
 * the kept half of A's products is computed. The SIMD paths cut each K block
 * into L1-sized sub-blocks that every tile of a row block passes over in
 * turn, so those selected rows come from L1 (the SUB form in
 * spmm_internal.h); the PANEL form (whole K block per tile, B rows from L2)
 * stays for the portable kernel and for blocks of a single tile.
 *
 * Not here: transposed operands, strided C, accumulation into an existing C,
 * sparsity patterns other than 2:4 (s24_compressed holds only 2:4). */
#include "cpu/spmm_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---------------------------------------------------------------- ISA choice */

static int isa_forced = -1; /* -1: auto */

static enum s24_spmm_isa_id isa_detect(void)
{
#if defined(__x86_64__) || defined(__i386__)
    /* F16C (used to convert F16 B) is not asked for: clang's builtin does not
     * know the name, and every CPU with AVX2 + FMA has it. */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("fma"))
        return S24_SPMM_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return S24_SPMM_AVX2;
#endif
    return S24_SPMM_SCALAR;
}

static enum s24_spmm_isa_id isa_current(void)
{
    return isa_forced >= 0 ? (enum s24_spmm_isa_id)isa_forced : isa_detect();
}

static const char *isa_name(enum s24_spmm_isa_id id)
{
    return id == S24_SPMM_AVX512 ? "avx512" : id == S24_SPMM_AVX2 ? "avx2" : "scalar";
}

const char *s24_spmm_isa(void) { return isa_name(isa_current()); }

int s24_spmm_set_isa(const char *isa)
{
    if (!isa || !strcmp(isa, "auto")) {
        isa_forced = -1;
        return S24_OK;
    }
    enum s24_spmm_isa_id want;
    if (!strcmp(isa, "avx512")) want = S24_SPMM_AVX512;
    else if (!strcmp(isa, "avx2")) want = S24_SPMM_AVX2;
    else if (!strcmp(isa, "scalar")) want = S24_SPMM_SCALAR;
    else
        return s24_error(S24_ERR_INVALID, "spmm: unknown ISA \"%s\" (avx512, avx2, scalar, auto)",
                         isa);
    if (want > isa_detect())
        return s24_error(S24_ERR_UNSUPPORTED, "spmm: this CPU cannot run the %s path (best: %s)",
                         isa, isa_name(isa_detect()));
    isa_forced = (int)want;
    return S24_OK;
}

/* ---------------------------------------------------------------- portable kernel */

#define SCALAR_MR 4
#define SCALAR_NR 16

static void pack_scalar(enum s24_dtype dt, const void *B, int64_t ldb, int64_t kc, int64_t ncols,
                        int nr, float *dst)
{
    for (int64_t j0 = 0; j0 < ncols; j0 += nr) {
        int64_t w = ncols - j0 < nr ? ncols - j0 : nr;
        for (int64_t p = 0; p < kc; p++) {
            float *d = dst + p * nr;
            for (int64_t j = 0; j < w; j++) d[j] = (float)s24_load_float(dt, B, p * ldb + j0 + j);
            for (int64_t j = w; j < nr; j++) d[j] = 0.0f;
        }
        dst += kc * nr;
    }
}

static void ukr_scalar(int64_t nkk, const uint8_t *steps, const float *panel, float *C,
                       int64_t ldc, int rows, int cols, int add)
{
    float acc[SCALAR_MR][SCALAR_NR];
    memset(acc, 0, sizeof acc);
    const size_t step = s24_spmm_step_bytes(SCALAR_MR);
    for (int64_t kk = 0; kk < nkk; kk++, steps += step) {
        const float *v = (const float *)steps;
        const uint16_t *ix = (const uint16_t *)(steps + SCALAR_MR * 4);
        for (int r = 0; r < SCALAR_MR; r++) {
            const float *b = panel + (size_t)ix[r] * SCALAR_NR;
            float a = v[r];
            for (int c = 0; c < SCALAR_NR; c++) acc[r][c] += a * b[c];
        }
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) C[r * ldc + c] = (add ? C[r * ldc + c] : 0.0f) + acc[r][c];
}

/* ---------------------------------------------------------------- plans */

static enum s24_spmm_form form_forced = S24_SPMM_FORM_AUTO;
static int64_t ks_forced;

void s24_spmm_force_form(enum s24_spmm_form form, int64_t ks)
{
    form_forced = form;
    ks_forced = ks;
}

/* L1 data cache of this CPU in bytes (32 KiB when the C library cannot say). */
static long l1d_bytes(void)
{
    long b = 0;
#ifdef _SC_LEVEL1_DCACHE_SIZE
    b = sysconf(_SC_LEVEL1_DCACHE_SIZE);
#endif
    return b >= 8192 ? b : 32768;
}

static struct s24_spmm_geom geom_of(enum s24_spmm_isa_id isa)
{
    struct s24_spmm_geom g;
    switch (isa) {
    case S24_SPMM_AVX512:
        g.mr = S24_SPMM_AVX512_MR;
        g.nr = S24_SPMM_AVX512_NR;
        break;
    case S24_SPMM_AVX2:
        g.mr = S24_SPMM_AVX2_MR;
        g.nr = S24_SPMM_AVX2_NR;
        break;
    default:
        g.mr = SCALAR_MR;
        g.nr = SCALAR_NR;
        break;
    }
    /* kc x nc fp32 of packed B (1 MiB at 512 x 512) stay in L2; mc rows of
     * plan entries are reused across the chunk's panels. A long K block
     * keeps C traffic to memory low: C is read and written once per K
     * block. (Measured on Zen 4, docs/cpu-gemm.md: with the PANEL form, K
     * blocks short enough for an L1-resident panel lost, kc = 64 ran at
     * half the speed of kc = 512, because they make exactly that traffic.) */
    g.kc = g.nr >= 32 ? 512 : 256;
    g.nc = g.nr >= 32 ? 512 : 256;
    g.mc = (int64_t)g.mr * (120 / g.mr);
    /* SUB: the largest power-of-two sub-block whose sub-panel fills at most
     * two thirds of L1, leaving room for the plan stream and the C tiles
     * passing through (measured on a 48 KiB L1, AVX-512, one thread:
     * 128 rows = 32 KiB beat 64, 96 and 160 rows by 2-5 %: shorter ones
     * load and store the C tile more often, longer ones spill the
     * sub-panel). Byte offsets are uint16: at most 64 KiB. */
    const long l1 = l1d_bytes();
    g.ks = 4;
    while (g.ks * 2 <= g.kc && (g.ks * 2) * g.nr * 4 <= l1 * 2 / 3 &&
           (g.ks * 2) * g.nr * 4 <= 65536)
        g.ks *= 2;
    if (ks_forced > 0 && ks_forced % 4 == 0 && g.kc % ks_forced == 0 &&
        ks_forced * g.nr * 4 <= 65536)
        g.ks = ks_forced;
    return g;
}

/* Where step kk (a kept-value slot, 0 <= kk < k/2) of tile t lives. */
static size_t step_index(const struct s24_spmm_plan *p, int64_t t, int64_t kk)
{
    const int64_t kh = p->k / 2;
    if (p->form != S24_SPMM_FORM_SUB) return (size_t)t * (size_t)kh + (size_t)kk;
    const int64_t ks2 = p->g.ks / 2, kb = kk / ks2;
    const int64_t width = kh - kb * ks2 < ks2 ? kh - kb * ks2 : ks2; /* the last may be short */
    return (size_t)(kb * ks2) * (size_t)p->tiles + (size_t)t * (size_t)width +
           (size_t)(kk - kb * ks2);
}

static int check_a(const struct s24_compressed *A, const char *who)
{
    if (!A) return s24_error(S24_ERR_INVALID, "%s: NULL matrix", who);
    if (A->dtype != S24_F32 && A->dtype != S24_F16 && A->dtype != S24_BF16)
        return s24_error(S24_ERR_UNSUPPORTED, "%s: dtype %s (want F32, F16 or BF16)", who,
                         s24_dtype_name(A->dtype));
    if (A->rows < 0 || A->k < 0 || A->k % 4 != 0)
        return s24_error(S24_ERR_INVALID,
                         "%s: bad shape %lld x %lld (k must be a non-negative multiple of 4)", who,
                         (long long)A->rows, (long long)A->k);
    /* Offsets are 32-bit and entry counts must fit size_t arithmetic. */
    if (A->k > ((int64_t)1 << 40) || A->rows > ((int64_t)1 << 40))
        return s24_error(S24_ERR_INVALID, "%s: shape %lld x %lld too large", who,
                         (long long)A->rows, (long long)A->k);
    if (A->rows > 0 && A->k > 0 && (!A->values || !A->meta))
        return s24_error(S24_ERR_INVALID, "%s: matrix has no values or metadata", who);
    return S24_OK;
}

int s24_spmm_plan_init(s24_spmm_plan_t *out, const struct s24_compressed *A)
{
    struct s24_spmm_plan *p = NULL;
    int rc;
    if (!out) return s24_error(S24_ERR_INVALID, "spmm_plan_init: NULL plan");
    *out = NULL;
    if ((rc = check_a(A, "spmm_plan_init")) != S24_OK) return rc;

    p = calloc(1, sizeof *p);
    if (!p) return s24_error(S24_ERR_NOMEM, "spmm_plan_init: plan");
    p->m = A->rows;
    p->k = A->k;
    p->dtype = A->dtype;
    p->isa = isa_current();
    p->g = geom_of(p->isa);
    /* SUB pays off when tiles share a sub-panel; a single tile of rows reads
     * each B row once either way and SUB would only add C traffic. */
    p->form = p->isa != S24_SPMM_SCALAR && p->m > p->g.mr ? S24_SPMM_FORM_SUB
                                                           : S24_SPMM_FORM_PANEL;
    if (form_forced != S24_SPMM_FORM_AUTO && p->isa != S24_SPMM_SCALAR) p->form = form_forced;
    const int mr = p->g.mr;
    const int64_t kh = p->k / 2, kc = p->g.kc;
    p->tiles = (p->m + mr - 1) / mr;
    p->step = s24_spmm_step_bytes(mr);
    const size_t nsteps = (size_t)p->tiles * (size_t)kh;
    if (nsteps > 0) {
        p->steps = malloc(nsteps * p->step);
        if (!p->steps) {
            rc = s24_error(S24_ERR_NOMEM, "spmm_plan_init: %zu bytes for a %lld x %lld matrix",
                           nsteps * p->step, (long long)p->m, (long long)p->k);
            goto fail;
        }
    }
    const size_t mb = (size_t)((p->k + 7) / 8); /* ceil(k/8), as s24_meta_row_bytes */
    const size_t step = p->step;
    int64_t bad_row = -1; /* the first row with a malformed nibble, if any */
#pragma omp parallel for schedule(static) num_threads(s24_threads_get()) if (nsteps > 16384)
    for (int64_t t = 0; t < p->tiles; t++) {
        /* gk = 4g mod kc (PANEL) or mod ks (SUB) walks the blocks without a
         * division per value; both slots of a group share a (sub-)block. */
        const int sub = p->form == S24_SPMM_FORM_SUB;
        const int64_t wrap = sub ? p->g.ks : kc;
        const int rows = (int)(p->m - t * mr < mr ? p->m - t * mr : mr);
        int64_t gk = 0;
        for (int64_t g = 0; g < p->k / 4; g++) {
            uint8_t *e = p->steps + step_index(p, t, 2 * g) * step;
            for (int r = 0; r < rows; r++) {
                const int64_t i = t * mr + r;
                unsigned nib = (A->meta[(size_t)i * mb + (size_t)(g / 2)] >> (4 * (g % 2))) & 0xf;
                int pos[2] = {(int)(nib & 3), (int)(nib >> 2)};
                if (pos[0] >= pos[1]) {
#pragma omp critical(s24_spmm_bad)
                    if (bad_row < 0 || i < bad_row) bad_row = i;
                    pos[0] = 0; /* keep going with harmless offsets; init fails below */
                    pos[1] = 1;
                }
                for (int s = 0; s < 2; s++) {
                    const int64_t at = i * kh + 2 * g + s;
                    float *v = (float *)(e + (size_t)s * step);
                    uint16_t *ix = (uint16_t *)(e + (size_t)s * step + (size_t)mr * 4);
                    v[r] = A->dtype == S24_F32 ? ((const float *)A->values)[at]
                                               : (float)s24_load_float(A->dtype, A->values, at);
                    ix[r] = (uint16_t)(sub ? (gk + pos[s]) * p->g.nr * 4 : gk + pos[s]);
                }
            }
            for (int s = 0; s < 2; s++) {
                /* padding rows contribute nothing and are never stored; the
                 * pad bytes after the indices are zeroed so the plan holds no
                 * uninitialised memory */
                memset(e + (size_t)s * step + (size_t)rows * 4, 0, (size_t)(mr - rows) * 4);
                memset(e + (size_t)s * step + (size_t)mr * 4 + (size_t)rows * 2, 0,
                       step - (size_t)mr * 4 - (size_t)rows * 2);
            }
            gk = gk + 4 == wrap ? 0 : gk + 4;
        }
    }
    if (bad_row >= 0) {
        rc = s24_error(S24_ERR_FORMAT, "spmm_plan_init: row %lld: bad 2:4 metadata",
                       (long long)bad_row);
        const uint8_t *meta = A->meta + (size_t)bad_row * mb;
        for (int64_t g = 0; g < p->k / 4; g++) {
            unsigned nib = (meta[g / 2] >> (4 * (g % 2))) & 0xf;
            if ((nib & 3) >= (nib >> 2)) {
                rc = s24_error(S24_ERR_FORMAT,
                               "spmm_plan_init: row %lld group %lld: bad 2:4 metadata nibble 0x%x "
                               "(positions must be increasing)",
                               (long long)bad_row, (long long)g, nib);
                break;
            }
        }
        goto fail;
    }
    *out = p;
    return S24_OK;
fail:
    s24_spmm_plan_free(p);
    return rc;
}

void s24_spmm_plan_free(s24_spmm_plan_t p)
{
    if (!p) return;
    free(p->steps);
    free(p->ws);
    free(p);
}

/* Packing buffers for `threads` threads, kept in the plan across runs so
 * that repeated runs do not fault in fresh pages. */
static int ensure_ws(struct s24_spmm_plan *p, int threads)
{
    if (p->ws && p->ws_threads >= threads) return S24_OK;
    /* packed B, then (SUB) the C tiles of one row block between sub-blocks */
    size_t per = ((size_t)p->g.kc * (size_t)p->g.nc + (size_t)p->g.mc * (size_t)p->g.nr) *
                 sizeof(float);
    per = (per + 63) / 64 * 64;
    size_t bytes = per * (size_t)threads;
    float *ws = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!ws) return s24_error(S24_ERR_NOMEM, "spmm: %zu bytes of packing buffers", bytes);
    free(p->ws);
    p->ws = ws;
    p->ws_per = per / sizeof(float);
    p->ws_threads = threads;
    return S24_OK;
}

/* Split `threads` into a tm x tn grid over row tiles x column panels that
 * minimises the busiest thread's cost, in units of one tile x one panel of
 * multiply-adds: its tiles x panels, plus streaming its part of A once per
 * nc-column chunk it owns (~0.5 per tile and chunk), plus packing its panels
 * of B (~2 per panel when B comes from DRAM). The A term is what makes small
 * N split rows: with N = 128 a column split gives each thread one short chunk
 * and the whole A to stream. */
static void thread_grid(int threads, int64_t tiles, int64_t panels, int64_t ncp, int *tm, int *tn)
{
    double best = -1;
    *tm = 1;
    *tn = 1;
    for (int cn = 1; cn <= threads; cn++) {
        int cm = threads / cn;
        if (cn > panels) break;
        if (cm > tiles) cm = (int)tiles;
        const double t = (double)((tiles + cm - 1) / cm), pp = (double)((panels + cn - 1) / cn);
        const double chunks = (double)(((panels + cn - 1) / cn + ncp - 1) / ncp);
        const double cost = t * pp + 0.5 * t * chunks + 2.0 * pp;
        if (best < 0 || cost < best) {
            best = cost;
            *tm = cm;
            *tn = cn;
        }
    }
}

/* The dense source: B (k x n, row-major, the plan's dtype) through the
 * ISA's packer. */
struct dense_src {
    s24_spmm_pack_fn pack;
    enum s24_dtype dt;
    const char *B;
    int64_t n;
    size_t esize;
};

static void pack_dense(const void *ctx, int64_t k0, int64_t kc, int64_t j0, int64_t ncols, int nr,
                       float *dst)
{
    const struct dense_src *d = ctx;
    d->pack(d->dt, d->B + ((size_t)k0 * (size_t)d->n + (size_t)j0) * d->esize, d->n, kc, ncols,
            nr, dst);
}

s24_spmm_pack_fn s24_spmm_isa_pack(const struct s24_spmm_plan *p)
{
    return p->isa == S24_SPMM_AVX512 ? s24_spmm_pack_avx512
           : p->isa == S24_SPMM_AVX2 ? s24_spmm_pack_avx2
                                     : pack_scalar;
}

int s24_spmm_plan_run(s24_spmm_plan_t p, const void *B, int64_t n, float *C)
{
    if (!p) return s24_error(S24_ERR_INVALID, "spmm_plan_run: NULL plan");
    if (n < 0) return s24_error(S24_ERR_INVALID, "spmm_plan_run: n = %lld", (long long)n);
    if (p->m == 0 || n == 0) return S24_OK;
    if (!C) return s24_error(S24_ERR_INVALID, "spmm_plan_run: NULL C");
    if (p->k == 0) {
        memset(C, 0, (size_t)p->m * (size_t)n * sizeof *C);
        return S24_OK;
    }
    if (!B) return s24_error(S24_ERR_INVALID, "spmm_plan_run: NULL B");
    const struct dense_src d = {s24_spmm_isa_pack(p), p->dtype, B, n, s24_dtype_size(p->dtype)};
    return s24_spmm_plan_run_src(p, pack_dense, &d, n, C);
}

int s24_spmm_plan_run_src(struct s24_spmm_plan *p, s24_spmm_src_fn pack, const void *ctx,
                          int64_t n, float *C)
{
    int rc;
    s24_spmm_ukr_fn ukr = ukr_scalar;
    s24_spmm_sub_fn sub = NULL; /* the scalar path has only the PANEL form */
    if (p->isa == S24_SPMM_AVX512) {
        ukr = s24_spmm_ukr_avx512;
        sub = s24_spmm_sub_avx512;
    } else if (p->isa == S24_SPMM_AVX2) {
        ukr = s24_spmm_ukr_avx2;
        sub = s24_spmm_sub_avx2;
    }
    if (p->form != S24_SPMM_FORM_SUB) sub = NULL;

    const struct s24_spmm_geom g = p->g;
    const int64_t m = p->m, k = p->k, tiles = p->tiles;
    const int64_t panels = (n + g.nr - 1) / g.nr;
    const int64_t ncp = g.nc / g.nr, mct = g.mc / g.mr;

    int threads = s24_threads_get();
    /* Below ~1 MFLOP a second thread costs more in wake-up than it saves. */
    if ((double)m * (double)n * (double)k < 1e6) threads = 1;
    int tm, tn;
    thread_grid(threads, tiles, panels, ncp, &tm, &tn);
    threads = tm * tn;
    if ((rc = ensure_ws(p, threads)) != S24_OK) return rc;

#pragma omp parallel num_threads(threads)
    {
#ifdef _OPENMP
        int tid = omp_get_thread_num();
#else
        int tid = 0;
#endif
        int ti = tid / tn, tj = tid % tn;
        const int64_t ta = tiles * ti / tm, tb = tiles * (ti + 1) / tm;
        const int64_t pa = panels * tj / tn, pb = panels * (tj + 1) / tn;
        float *ws = p->ws + (size_t)tid * p->ws_per;
        float *cbuf = ws + (size_t)g.kc * (size_t)g.nc; /* cbuf: (mc / mr) tiles of mr x nr */

        for (int64_t p0 = pa; p0 < pb; p0 += ncp) {
            const int64_t pe = p0 + ncp < pb ? p0 + ncp : pb;
            const int64_t j0 = p0 * g.nr;
            const int64_t ncols = (pe * g.nr < n ? pe * g.nr : n) - j0;
            for (int64_t k0 = 0; k0 < k; k0 += g.kc) {
                const int64_t kcb = k - k0 < g.kc ? k - k0 : g.kc;
                pack(ctx, k0, kcb, j0, ncols, g.nr, ws);
                for (int64_t t0 = ta; t0 < tb; t0 += mct) {
                    const int64_t te = t0 + mct < tb ? t0 + mct : tb;
                    for (int64_t q = p0; q < pe; q++) {
                        const float *panel = ws + (q - p0) * kcb * g.nr;
                        const int cols = (int)(n - q * g.nr < g.nr ? n - q * g.nr : g.nr);
                        if (!sub) {
                            for (int64_t t = t0; t < te; t++) {
                                const int rows = (int)(m - t * g.mr < g.mr ? m - t * g.mr : g.mr);
                                const uint8_t *e = p->steps + step_index(p, t, k0 / 2) * p->step;
                                ukr(kcb / 2, e, panel, C + t * g.mr * n + q * g.nr, n, rows, cols,
                                    k0 > 0);
                            }
                            continue;
                        }
                        /* SUB: every tile of the block passes over one
                         * sub-panel before the next; between sub-blocks the
                         * tile waits in cbuf (contiguous, so unlike C's rows
                         * it does not pile onto a few L1 sets). */
                        for (int64_t s0 = 0; s0 < kcb; s0 += g.ks) {
                            const int64_t ksb = kcb - s0 < g.ks ? kcb - s0 : g.ks;
                            const int first = s0 == 0, last = s0 + ksb == kcb;
                            for (int64_t t = t0; t < te; t++) {
                                const int rows = (int)(m - t * g.mr < g.mr ? m - t * g.mr : g.mr);
                                const uint8_t *e =
                                    p->steps + step_index(p, t, (k0 + s0) / 2) * p->step;
                                float *ct = C + t * g.mr * n + q * g.nr;
                                float *bt = cbuf + (t - t0) * g.mr * g.nr;
                                const float *in = first ? (k0 > 0 ? ct : NULL) : bt;
                                sub(ksb / 2, e, panel + s0 * g.nr, in, first ? n : g.nr,
                                    last ? ct : bt, last ? n : g.nr, rows, cols);
                            }
                        }
                    }
                }
            }
        }
    }
    return S24_OK;
}

int s24_spmm(const struct s24_compressed *A, const void *B, int64_t n, float *C)
{
    s24_spmm_plan_t plan = NULL;
    int rc = s24_spmm_plan_init(&plan, A);
    if (rc == S24_OK) rc = s24_spmm_plan_run(plan, B, n, C);
    s24_spmm_plan_free(plan);
    return rc;
}
