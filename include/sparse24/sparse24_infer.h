/* sparse24_infer.h: inference of a trained (and 2:4-pruned) model with its
 * batch norms folded into the convolutions before them, every 2:4 conv and
 * linear layer run through the 2:4 sparse GEMM and the rest dense, and a
 * per-layer report of which path each layer took, why, and how long it ran.
 * The path of each 2:4 layer is forced (all 2:4, all dense) or chosen by
 * timing both on the layer's real input at the first run. The CPU today (the 2:4 CPU kernel); the GPU path (cuSPARSELt) stands on
 * the same plan. It never trains and never changes the model. */
#ifndef SPARSE24_INFER_H
#define SPARSE24_INFER_H

#include "sparse24/sparse24_nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct s24_infer s24_infer_t;

/* Which path the 2:4-eligible layers take (values stable: 0 and 1 were the
 * old `sparse` flag). */
enum s24_infer_path {
    S24_INFER_DENSE = 0,  /* every layer dense, same folding: the baseline */
    S24_INFER_SPARSE = 1, /* every eligible layer through the 2:4 GEMM */
    S24_INFER_AUTO = 2    /* each eligible layer timed both ways at the first run, the faster kept */
};

/* One layer of the plan, as the report shows it. */
struct s24_infer_layer {
    char name[96];          /* the conv or linear weight's name */
    int sparse;             /* 1: runs through the 2:4 GEMM */
    int eligible;           /* 1: its folded weight is 2:4 (the 2:4 path exists) */
    int folded_bn;          /* a batch norm was folded into it */
    int64_t m, n, k;        /* its GEMM: m output channels, n positions, k reduction */
    double ms;              /* time of its last run (including the layout work around it) */
    double dense_ms, sparse_ms; /* AUTO: the medians it was chosen by (0 when not measured) */
    char why[112];          /* why it took its path, e.g. "not 2:4", "2:4 asked for",
                             * "measured: dense 1.23 ms, 2:4 1.80 ms" */
};

/* A plan for `m` (on the CPU backend); path: enum s24_infer_path. A layer is
 * eligible for the 2:4 path when its folded weight is 2:4 (groups 1, input
 * channels a multiple of 4, every group of four with at most two non-zeros).
 * AUTO decides at the first s24_infer_run, at that run's shape, and keeps
 * the decision for later runs (that first run takes several times longer). */
int s24_infer_create(s24_model_t *m, int path, s24_infer_t **out);
/* x: (n, h, w, 3) NHWC; logits: (n, classes). Evaluation semantics. */
int s24_infer_run(s24_infer_t *p, const float *x, int n, int h, int w, float *logits);
int s24_infer_num_layers(const s24_infer_t *p);
const struct s24_infer_layer *s24_infer_layer_at(const s24_infer_t *p, int i);
void s24_infer_free(s24_infer_t *p);

#ifdef __cplusplus
}
#endif
#endif
