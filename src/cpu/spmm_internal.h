/* spmm_internal.h: what the 2:4 SpMM dispatcher (spmm.c) shares with its
 * SIMD micro-kernels (spmm_avx2.c, spmm_avx512.c) and with its test: the
 * plan layout, the two kernel forms and their entry points. Not a public
 * header; nothing here is stable. */
#ifndef S24_SPMM_INTERNAL_H
#define S24_SPMM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sparse24/sparse24.h"

enum s24_spmm_isa_id { S24_SPMM_SCALAR = 0, S24_SPMM_AVX2 = 1, S24_SPMM_AVX512 = 2 };

/* Two kernel forms share the plan format and differ in loop order:
 *
 * PANEL: one call per tile walks a whole K block of a packed micro-panel
 * (kc x nr floats, from L2) with the C tile in registers. Every FMA loads
 * its B row from L2. Used by the portable kernel, and by the SIMD paths when
 * a block has too few tiles to share a sub-panel.
 *
 * SUB: the K block is cut into sub-blocks of ks rows (ks x nr floats fit in
 * L1); all tiles of a row block pass over one sub-panel before the next, so
 * the B rows every FMA selects come from L1. The C tile goes through memory
 * between sub-blocks (a small contiguous per-thread buffer, not C itself,
 * whose row stride maps a tile onto a few L1 sets). */
enum s24_spmm_form { S24_SPMM_FORM_AUTO = 0, S24_SPMM_FORM_PANEL = 1, S24_SPMM_FORM_SUB = 2 };

/* The plan stores A as a stream of steps, one per kept-value slot kk of a
 * tile of mr rows: mr fp32 values, then mr uint16 B-row references, padded
 * to 4 bytes. PANEL: the reference is k mod kc, the row of the K block's
 * micro-panel (the kernel shifts it by log2(nr * 4)). SUB: it is the byte
 * offset (k mod ks) * nr * 4 inside the sub-panel, so the kernel adds it to
 * the panel pointer: one add per row, no shift.
 * 6 bytes per kept value keep the A stream small, which matters when N is
 * small and the product is memory-bound. */
static inline size_t s24_spmm_step_bytes(int mr)
{
    return (size_t)mr * 4 + ((size_t)mr * 2 + 3) / 4 * 4;
}

/* Kernel geometry per ISA: mr rows x nr columns of C live in registers. */
struct s24_spmm_geom {
    int mr, nr;
    int64_t kc; /* K block: packed at once, kc x nc floats stay in L2 */
    int64_t nc; /* N chunk packed at once (multiple of nr) */
    int64_t mc; /* rows of A per block (multiple of mr) */
    int64_t ks; /* SUB: K sub-block (divides kc, multiple of 4); ks x nr floats stay in L1 */
};

struct s24_spmm_plan {
    int64_t m, k;
    enum s24_dtype dtype; /* dtype B must have (A's) */
    enum s24_spmm_isa_id isa;
    enum s24_spmm_form form; /* PANEL or SUB, fixed at plan time */
    struct s24_spmm_geom g;
    int64_t tiles; /* ceil(m / mr) */
    size_t step;   /* s24_spmm_step_bytes(mr) */
    /* steps: PANEL: (tiles, k/2) steps, tile-major. SUB: per K sub-block of
     * ks rows, (tiles, ks/2) steps, so a pass over consecutive tiles reads
     * one sequential stream. Rows past m: value 0, reference 0. */
    uint8_t *steps;
    float *ws; /* ws: per thread, kc * nc packed B, then mc * nr of C (SUB), 64-byte aligned */
    size_t ws_per;
    int ws_threads;
};

/* Pack rows [0, kc) x columns [0, ncols) of B (ldb elements per row, dtype
 * dt, already offset to the block's first element) into ceil(ncols/nr)
 * micro-panels of kc x nr fp32, zero-padding the last one. */
typedef void (*s24_spmm_pack_fn)(enum s24_dtype dt, const void *B, int64_t ldb, int64_t kc,
                                 int64_t ncols, int nr, float *dst);
/* PANEL kernel: C tile (rows <= mr, cols <= nr; ldc floats per row) =
 * (add ? C : 0) + sum over nkk steps (kept values per row) of value x panel
 * row. */
typedef void (*s24_spmm_ukr_fn)(int64_t nkk, const uint8_t *steps, const float *panel, float *C,
                                int64_t ldc, int rows, int cols, int add);
/* SUB kernel: out tile (rows x cols, ldo floats per row) = (in ? in tile
 * (ldi) : 0) + sum over nkk steps of value x sub-panel row at the step's byte
 * offset. The products are summed in registers and `in` added once at the
 * end, so a long K is summed in blocks of ks/2 terms. in may equal out. */
typedef void (*s24_spmm_sub_fn)(int64_t nkk, const uint8_t *steps, const float *panel,
                                const float *in, int64_t ldi, float *out, int64_t ldo, int rows,
                                int cols);

void s24_spmm_pack_avx2(enum s24_dtype dt, const void *B, int64_t ldb, int64_t kc, int64_t ncols,
                        int nr, float *dst);
void s24_spmm_ukr_avx2(int64_t nkk, const uint8_t *steps, const float *panel, float *C,
                       int64_t ldc, int rows, int cols, int add);
void s24_spmm_sub_avx2(int64_t nkk, const uint8_t *steps, const float *panel, const float *in,
                       int64_t ldi, float *out, int64_t ldo, int rows, int cols);
void s24_spmm_pack_avx512(enum s24_dtype dt, const void *B, int64_t ldb, int64_t kc,
                          int64_t ncols, int nr, float *dst);
void s24_spmm_ukr_avx512(int64_t nkk, const uint8_t *steps, const float *panel, float *C,
                         int64_t ldc, int rows, int cols, int add);
void s24_spmm_sub_avx512(int64_t nkk, const uint8_t *steps, const float *panel, const float *in,
                         int64_t ldi, float *out, int64_t ldo, int rows, int cols);

/* The conv packer's 16-column transpose: d[c * ldd + j] = src[j][c] for
 * c < len, j < 16 (spmm_conv.c). */
void s24_spmm_gather16_avx512(const float *const src[16], int64_t len, float *d, int64_t ldd);

/* Register tiles of the SIMD kernels (the dispatcher sizes the plan by them). */
#define S24_SPMM_AVX512_MR 6
#define S24_SPMM_AVX512_NR 64 /* row of a micro-panel: 256 bytes = 1 << 8 */
#define S24_SPMM_AVX2_MR 3
#define S24_SPMM_AVX2_NR 32   /* 128 bytes = 1 << 7 */

/* A source of B for s24_spmm_plan_run_src: pack rows [k0, k0 + kc) x
 * columns [j0, j0 + ncols) of a B (k x n) that need not exist as a matrix
 * into ceil(ncols/nr) micro-panels of kc x nr fp32 at dst, zero-padding the
 * last one. Called from several threads at once, each with its own dst. */
typedef void (*s24_spmm_src_fn)(const void *ctx, int64_t k0, int64_t kc, int64_t j0,
                                int64_t ncols, int nr, float *dst);
/* C (m x n) = A x B with B given by its packer: the blocking, threading and
 * kernels of s24_spmm_plan_run, which is this with the dense packer. The
 * caller has checked n > 0, m > 0, k > 0 and C. */
int s24_spmm_plan_run_src(struct s24_spmm_plan *p, s24_spmm_src_fn pack, const void *ctx,
                          int64_t n, float *C);
/* The packer of the plan's ISA (dense rows of B). */
s24_spmm_pack_fn s24_spmm_isa_pack(const struct s24_spmm_plan *p);

/* Per-core ceilings of the B-selection formulations, in G zmm FMA/s on the
 * calling thread (spmm_ceiling_avx512.c; `sparse24 bench cpu --ceilings`).
 * AVX-512 CPUs only. */
struct s24_spmm_ceilings {
    double fma_peak; /* 12 independent FMA chains */
    double addr;     /* the SUB kernel, L1-resident sub-panel: select by address */
    double perm;     /* select in registers, one vpermps per FMA */
    double mixed;    /* 2/3 by address, 1/3 by vpermps in one loop */
};
int s24_spmm_ceilings_avx512(struct s24_spmm_ceilings *out);

/* Tests only: plans made after the call use this form (AUTO: the rule in
 * spmm.c) and, for SUB, ks rows per sub-block (0: from the L1 size; else a
 * multiple of 4 that divides kc). Process-wide, like s24_spmm_set_isa. */
void s24_spmm_force_form(enum s24_spmm_form form, int64_t ks);

#endif
