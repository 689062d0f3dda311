/* sparse24_infer.h: inference of a trained (and 2:4-pruned) model with its
 * batch norms folded into the convolutions before them, every 2:4 conv and
 * linear layer run through the 2:4 sparse GEMM and the rest dense, and a
 * per-layer report of which path each layer took and how long it ran.
 * The CPU today (the 2:4 CPU kernel); the GPU path (cuSPARSELt) stands on
 * the same plan. It never trains and never changes the model. */
#ifndef SPARSE24_INFER_H
#define SPARSE24_INFER_H

#include "sparse24/sparse24_nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct s24_infer s24_infer_t;

/* One layer of the plan, as the report shows it. */
struct s24_infer_layer {
    char name[96];          /* the conv or linear weight's name */
    int sparse;             /* 1: ran through the 2:4 GEMM */
    int folded_bn;          /* a batch norm was folded into it */
    int64_t m, n, k;        /* its GEMM: m output channels, n positions, k reduction */
    double ms;              /* time of its last run (including the layout work around it) */
    const char *why_dense;  /* why it stayed dense ("" when sparse) */
};

/* A plan for `m` (on the CPU backend). sparse != 0: 2:4 weights (groups 1,
 * every group of four input channels with at most two non-zeros) take the
 * sparse path; 0: every layer dense with the same folding (the baseline). */
int s24_infer_create(s24_model_t *m, int sparse, s24_infer_t **out);
/* x: (n, h, w, 3) NHWC; logits: (n, classes). Evaluation semantics. */
int s24_infer_run(s24_infer_t *p, const float *x, int n, int h, int w, float *logits);
int s24_infer_num_layers(const s24_infer_t *p);
const struct s24_infer_layer *s24_infer_layer_at(const s24_infer_t *p, int i);
void s24_infer_free(s24_infer_t *p);

#ifdef __cplusplus
}
#endif
#endif
