/* spmm_internal.h: what the 2:4 SpMM dispatcher (spmm.c) shares with its
 * SIMD micro-kernels (spmm_avx2.c, spmm_avx512.c): the plan layout and the
 * kernel entry points. Not a public header; nothing here is stable. */
#ifndef S24_SPMM_INTERNAL_H
#define S24_SPMM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sparse24/sparse24.h"

enum s24_spmm_isa_id { S24_SPMM_SCALAR = 0, S24_SPMM_AVX2 = 1, S24_SPMM_AVX512 = 2 };

/* The plan stores A as a stream of steps, one per kept-value slot kk of a
 * tile of mr rows: mr fp32 values, then mr uint16 indices (k mod kc: the row
 * of the packed B micro-panel of k's K block the value multiplies), padded to
 * 4 bytes. The kernel turns an index into a byte offset with one shift
 * (micro-panel rows are nr * 4 bytes, a power of two), so the inner loop is
 * one load, one broadcast and nr/16 FMAs per kept value; 6 bytes per kept
 * value (instead of 8 for value + 32-bit offset) keeps the A stream small,
 * which matters when N is small and the product is memory-bound. */
static inline size_t s24_spmm_step_bytes(int mr)
{
    return (size_t)mr * 4 + ((size_t)mr * 2 + 3) / 4 * 4;
}

/* Kernel geometry per ISA: mr rows x nr columns of C live in registers. */
struct s24_spmm_geom {
    int mr, nr;
    int64_t kc; /* K block: kc x nr floats of packed B stay in L1 */
    int64_t nc; /* N chunk packed at once (multiple of nr): kc x nc floats in L2 */
    int64_t mc; /* rows of A per L2 block (multiple of mr) */
};

struct s24_spmm_plan {
    int64_t m, k;
    enum s24_dtype dtype; /* dtype B must have (A's) */
    enum s24_spmm_isa_id isa;
    struct s24_spmm_geom g;
    int64_t tiles;              /* ceil(m / mr) */
    size_t step;                /* s24_spmm_step_bytes(mr) */
    uint8_t *steps;             /* steps: (tiles, k/2) steps; rows past m: value 0, index 0 */
    float *ws;                  /* ws: (ws_threads, kc * nc) packed B, 64-byte aligned */
    int ws_threads;
};

/* Pack rows [0, kc) x columns [0, ncols) of B (ldb elements per row, dtype
 * dt, already offset to the block's first element) into ceil(ncols/nr)
 * micro-panels of kc x nr fp32, zero-padding the last one. */
typedef void (*s24_spmm_pack_fn)(enum s24_dtype dt, const void *B, int64_t ldb, int64_t kc,
                                 int64_t ncols, int nr, float *dst);
/* C tile (rows <= mr, cols <= nr; ldc floats per row) = (add ? C : 0) +
 * sum over nkk steps (kept values per row) of value x panel row. */
typedef void (*s24_spmm_ukr_fn)(int64_t nkk, const uint8_t *steps, const float *panel, float *C,
                                int64_t ldc, int rows, int cols, int add);

void s24_spmm_pack_avx2(enum s24_dtype dt, const void *B, int64_t ldb, int64_t kc, int64_t ncols,
                        int nr, float *dst);
void s24_spmm_ukr_avx2(int64_t nkk, const uint8_t *steps, const float *panel, float *C,
                       int64_t ldc, int rows, int cols, int add);
void s24_spmm_pack_avx512(enum s24_dtype dt, const void *B, int64_t ldb, int64_t kc,
                          int64_t ncols, int nr, float *dst);
void s24_spmm_ukr_avx512(int64_t nkk, const uint8_t *steps, const float *panel, float *C,
                         int64_t ldc, int rows, int cols, int add);

/* Register tiles of the SIMD kernels (the dispatcher sizes the plan by them). */
#define S24_SPMM_AVX512_MR 6
#define S24_SPMM_AVX512_NR 64 /* row of a micro-panel: 256 bytes = 1 << 8 */
#define S24_SPMM_AVX2_MR 3
#define S24_SPMM_AVX2_NR 32   /* 128 bytes = 1 << 7 */

#endif
