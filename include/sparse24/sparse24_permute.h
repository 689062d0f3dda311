/* sparse24_permute.h: channel permutations for 2:4 sparsity (Pool & Yu,
 * "Channel Permutations for N:M Sparsity", NeurIPS 2021).
 *
 * Pruning to 2:4 keeps the two largest of every four consecutive input
 * channels. Reordering the input channels first (and the producing layer's
 * output channels with them, so the network's function is unchanged) lets
 * more large weights survive. This header offers the search on one matrix
 * (rows = output channels x kernel positions, columns = input channels, the
 * view NVIDIA ASP uses) and its application to a whole checkpoint.
 *
 * The search is deterministic for a given seed and limits; only a time budget
 * can make two runs differ, and the result records where the search stopped.
 * Nothing here prints; errors come back as enum s24_status with
 * s24_last_error().
 */
#ifndef SPARSE24_PERMUTE_H
#define SPARSE24_PERMUTE_H

#include "sparse24/sparse24_api.h"
#include "sparse24/sparse24.h"

#ifdef __cplusplus
extern "C" {
#endif

enum s24_permute_strategy {
    S24_PERMUTE_DEFAULT = 0,  /* chosen by size: see docs/permute.md */
    S24_PERMUTE_SWAP,         /* greedy single channel swaps between stripes */
    S24_PERMUTE_STRIPES8,     /* exhaustive re-partition of 2 stripes (8 columns, 35 ways) */
    S24_PERMUTE_STRIPES12,    /* exhaustive re-partition of 3 stripes (12 columns, 5775 ways) */
    S24_PERMUTE_IDENTITY,     /* no search: the natural order (a baseline) */
    S24_PERMUTE_STRATEGY_COUNT
};
/* "default", "swap", "stripes8", "stripes12", "identity". */
S24_API const char *s24_permute_strategy_name(enum s24_permute_strategy s);
/* Parse one of the names above; S24_ERR_INVALID if unknown. */
S24_API int s24_permute_strategy_parse(const char *name, enum s24_permute_strategy *out);

/* Why a search ended. */
enum s24_permute_stop {
    S24_PERMUTE_STOP_CONVERGED = 0, /* local optimum and no escapes allowed (or no moves at all) */
    S24_PERMUTE_STOP_ESCAPES,       /* the bounded number of escapes was used up */
    S24_PERMUTE_STOP_ITERS,         /* the move limit was reached */
    S24_PERMUTE_STOP_TIME,          /* the time budget ran out */
};
S24_API const char *s24_permute_stop_name(enum s24_permute_stop s);

struct s24_permute_opts {
    enum s24_permute_strategy strategy;
    uint64_t seed;          /* drives the escapes (random perturbations) */
    /* Escapes from local optima (Apex's "bounded regressions"): each escape
     * perturbs one stripe group at random, descends again, and is kept only
     * if the result is better than the best so far. -1 = strategy default. */
    int64_t escapes;
    int64_t max_moves;      /* limit on improving moves applied; 0 = none */
    double time_budget;     /* seconds; 0 = none. Stops early, result still valid */
    /* s24_permute_checkpoint calls this (when set) before searching each
     * channel space: index i of n, and the space's name. */
    void (*progress)(void *ctx, int i, int n, const char *space);
    void *progress_ctx;
    /* Efficacy in percent to time (0 = none): the search records when its
     * best order first reaches it in res->seconds_to_target. It changes
     * nothing in the search; it answers "how long did this run need to get
     * as good as X" (e.g. another tool's result) without a second run. */
    double target_efficacy;
};
/* Defaults: strategy DEFAULT, seed 1, escapes -1, no move or time limit. */
S24_API void s24_permute_opts_default(struct s24_permute_opts *o);

struct s24_permute_result {
    enum s24_permute_strategy strategy;  /* the one actually run (DEFAULT resolved) */
    enum s24_permute_stop stop;
    int64_t rows, cols;
    double total;           /* sum |w| */
    double kept_default;    /* kept by 2:4 in the natural column order */
    double kept_permuted;   /* kept by 2:4 after the permutation (>= kept_default) */
    double row_bound;       /* the largest half of each row: no permutation keeps more */
    double efficacy;        /* percent, Pool & Yu's definition */
    double seconds;         /* wall time of the search */
    int64_t moves;          /* improving moves applied (including those later undone) */
    int64_t escapes;        /* escapes tried */
    /* seconds from the start until the best order first reached
     * opts.target_efficacy (approximate to float rounding); -1 if it never
     * did or no target was set */
    double seconds_to_target;
};

/* Search a column permutation of the rows x cols matrix w (row-major; dtype
 * F32, F64, F16 or BF16; cols % 4 == 0; no NaN or infinity) that maximises
 * the magnitude kept by 2:4 pruning along rows. perm (cols entries) receives
 * the permutation: column j of the permuted matrix is column perm[j] of w.
 * The result is never worse than the natural order. res may be NULL. */
S24_API int s24_permute_search(enum s24_dtype dt, const void *w, int64_t rows, int64_t cols,
                               const struct s24_permute_opts *o, int64_t *perm,
                               struct s24_permute_result *res);

/* Magnitude figures of w with its columns permuted by perm (NULL = natural
 * order), computed exactly in double: kept by 2:4 and the 50%-per-row bound
 * (either pointer may be NULL). cols % 4 == 0. */
S24_API int s24_permute_kept(enum s24_dtype dt, const void *w, int64_t rows, int64_t cols,
                             const int64_t *perm, double *kept, double *row_bound);

/* S24_OK if perm is a bijection of 0..n-1, else S24_ERR_INVALID naming `what`. */
S24_API int s24_permute_check(const int64_t *perm, int64_t n, const char *what);

/* ASP's matrix view of a weight, as doubles: a 2-D (OC, IC) weight is
 * itself; a 4-D OIHW conv weight becomes (KH*KW*OC) x IC, row
 * (h*KW + w)*OC + o. *mat is malloc'd (caller frees). */
S24_API int s24_permute_matrix(enum s24_dtype dt, const void *w, int ndim, const int64_t *shape,
                               double **mat, int64_t *rows, int64_t *cols);

/* Permute dimension `dim` of a tensor in place: index j of the result is
 * index perm[j] of the input (perm has shape[dim] entries). Any dtype. */
S24_API int s24_permute_tensor_dim(void *data, enum s24_dtype dt, int ndim, const int64_t *shape,
                                   int dim, const int64_t *perm);

/* ---------------------------------------------------------------- networks */
/* A tensor a channel space indexes, and along which dimension. */
struct s24_permute_member {
    char name[96];
    int dim;
};
/* One searched channel space of a network. */
struct s24_permute_space {
    char name[96];          /* e.g. "layer1 stream", "layer2.0.conv1 -> conv2" */
    int64_t channels;
    int n_readers;          /* layers whose input channels it is (rows concatenated) */
    struct s24_permute_result res;
    int identity;           /* 1 if the search kept the natural order */
    int64_t *perm;          /* (channels): index j of the result is channel perm[j] */
    int n_members;
    struct s24_permute_member *members; /* every tensor the permutation moved */
};
struct s24_permute_report {
    int n;                  /* spaces searched */
    struct s24_permute_space *spaces;  /* malloc'd; s24_permute_report_free */
    int n_skipped;
    char skipped[16][160];  /* layers not permuted, with the reason (first 16) */
};
S24_API void s24_permute_report_free(struct s24_permute_report *r);

/* Permute the channels of a checkpoint in place (torchvision state_dict
 * names, PyTorch layouts) so that 2:4 pruning keeps more magnitude while the
 * network computes the same function. arch: a registry name whose
 * s24_arch_info.permutable is set (say "resnet18"). Every channel space
 * whose readers are all 2:4-eligible convs or linears is searched on the
 * row-wise concatenation of their ASP matrices and applied to producers
 * (weights, bias, BatchNorm) and every consumer. rep may be NULL. */
S24_API int s24_permute_checkpoint(struct s24_st *st, const char *arch,
                                   const struct s24_permute_opts *o,
                                   struct s24_permute_report *rep);
/* Move another checkpoint of the same network (say its initialisation) by
 * the permutations a report holds: every member of every non-identity space.
 * Checked first; a refused call changes nothing. */
S24_API int s24_permute_apply(struct s24_st *st, const struct s24_permute_report *rep);

#ifdef __cplusplus
}
#endif
#endif /* SPARSE24_PERMUTE_H */
