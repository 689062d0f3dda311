/* permute_internal.h: what the channel-permutation files share inside the
 * library (not installed): the inner kernel that scores 4-column subsets and
 * the search engine's entry point. The public API is sparse24_permute.h. */
#ifndef S24_PERMUTE_INTERNAL_H
#define S24_PERMUTE_INTERNAL_H

#include "sparse24/sparse24_permute.h"

/* Rows are scored in blocks of this many (a multiple of 16); within a block
 * 16 float lanes accumulate and are then summed in lane order in double, so
 * every kernel variant returns bit-identical sums. */
#define S24_PERMUTE_BLOCK 512

/* sums[k] = sum over r < rpad of the sum of the two largest of
 * p[4k][r], p[4k+1][r], p[4k+2][r], p[4k+3][r] (non-negative, no NaN).
 * rpad % 16 == 0. */
typedef void (*s24_permute_top2_fn)(const float *const *p, int nsub, int64_t rpad,
                                    double *sums);
void s24_permute_top2_c(const float *const *p, int nsub, int64_t rpad, double *sums);
void s24_permute_top2_avx512(const float *const *p, int nsub, int64_t rpad, double *sums);

/* out[k*ldo + c] = sum over r < rpad of max(x[k][r], a[c*rpad + r]) for
 * k < nx <= S24_PERMUTE_MAXSUM_NX, c < ncols: every column is read once for
 * all nx rows. Same lane and block discipline as top2, own block length. */
#define S24_PERMUTE_MAXSUM_BLOCK 512
#define S24_PERMUTE_MAXSUM_NX 8
typedef void (*s24_permute_maxsum_fn)(const float *const *x, int nx, const float *a, int64_t rpad,
                                      int64_t ncols, double *out, int64_t ldo);
void s24_permute_maxsum_c(const float *const *x, int nx, const float *a, int64_t rpad,
                          int64_t ncols, double *out, int64_t ldo);
void s24_permute_maxsum_avx512(const float *const *x, int nx, const float *a, int64_t rpad,
                               int64_t ncols, double *out, int64_t ldo);
s24_permute_top2_fn s24_permute_pick_top2(void);
s24_permute_maxsum_fn s24_permute_pick_maxsum(void);

/* Time-to-target bookkeeping (opts.target_efficacy): the engines call
 * s24_permute_track() whenever their best objective improves. target is in
 * the engines' unit (kept magnitude); <= 0 means none. */
struct s24_permute_track {
    double target, t0;
};
static inline void s24_permute_track(const struct s24_permute_track *tr, double best,
                                     struct s24_permute_result *res)
{
    if (tr->target > 0 && res->seconds_to_target < 0 && best >= tr->target)
        res->seconds_to_target = s24_now() - tr->t0;
}

/* The channel-swap engine (permute_swap.c), same contract as the engine below;
 * it starts from the order in perm. */
int s24_permute_swap_engine(const float *a, int64_t rows, int64_t rpad, int64_t cols,
                            const struct s24_permute_opts *o, const struct s24_permute_track *tr,
                            int64_t *perm, struct s24_permute_result *res);

/* The stripe-group engine (permute_search.c). a: (cols, rpad) column-major
 * magnitudes as float, zero padded. perm: in = start order, out = result. */
int s24_permute_engine(const float *a, int64_t rows, int64_t rpad, int64_t cols,
                       enum s24_permute_strategy strategy, const struct s24_permute_opts *o,
                       const struct s24_permute_track *tr, int64_t *perm,
                       struct s24_permute_result *res);

#endif
