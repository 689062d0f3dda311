/* infer_internal.h: what the inference plans share (internal, plain C):
 * the batch-norm folding of a conv or linear layer and its 2:4 eligibility
 * (infer_fold.c), the rule that turns two sets of timings into a path
 * (infer_choice.c), and the two plans' entry points, which the public calls
 * of infer.c forward to: the CPU plan (src/cpu/infer_cpu.c) and the CUDA
 * plan (src/cuda/infer_cuda.cu, or src/cuda/nocuda_infer.c in a build
 * without CUDA) for a model on a GPU. */
#ifndef S24_NN_INFER_INTERNAL_H
#define S24_NN_INFER_INTERNAL_H

#include "nn/model.h"
#include "sparse24/sparse24_infer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One conv or linear node with the batch norm after it folded in. */
struct s24_fold {
    int node;        /* the conv or linear node */
    int out;         /* the slot its result stands for: the folded norm's output, else its own */
    int bn;          /* the folded norm's node, -1 when none */
    int64_t oc, row; /* output channels; weights per output channel (KH*KW*IC/groups, or in) */
    float *w;        /* (oc, row): OHWI for a conv, (out, in) for a linear; host, owned */
    float *b;        /* (oc): the folded bias (zeros where the layer had none); host, owned */
    int is24;        /* w is 2:4 along its input channels (groups 1, row % 4 == 0) */
    const char *why; /* why not, when !is24: "grouped or depthwise", "not 2:4", ... */
};

/* The only node reading slot s, or -1 when none or several. */
int s24_fold_sole_reader(const struct s24_model *m, int s);
/* Folds node i (a conv or linear of m) and the batch norm right after it
 * when that norm is the conv's only reader: w' = w * g / sqrt(var + eps),
 * b' = (b - mean) * that scale + beta, zero products written +0.0 (so a
 * zero or negative gamma cannot turn pruned zeros into -0.0, which
 * compression counts as values). Reads the host copies (p->data). */
int s24_fold_layer(const struct s24_model *m, int i, struct s24_fold *f);
void s24_fold_free(struct s24_fold *f);

/* AUTO's rule: the medians of the two paths' timings (ms; the arrays are
 * sorted in place) and the choice: 1 (2:4) only when its median is below
 * the dense one by more than `margin` (a fraction: 0.02 = 2 %), since a
 * layer timed against itself differs by noise and a tie should stay dense
 * (the 2:4 path holds more memory for no gain). n0, n1 >= 1. */
int s24_infer_choose(double *dense_ms, int n0, double *sparse_ms, int n1, double margin,
                     double *dense_med, double *sparse_med);

/* The CPU plan (src/cpu/infer_cpu.c): fp32, the model's host weights. */
struct s24_infer_cpu;
int s24_infer_cpu_create(struct s24_model *m, enum s24_infer_path path, struct s24_infer_cpu **out);
/* x and logits host memory; arguments checked by the caller (infer.c) */
int s24_infer_cpu_run(struct s24_infer_cpu *p, const float *x, int n, int h, int w, float *logits);
int s24_infer_cpu_num_layers(const struct s24_infer_cpu *p);
const struct s24_infer_layer *s24_infer_cpu_layer_at(const struct s24_infer_cpu *p, int i);
void s24_infer_cpu_free(struct s24_infer_cpu *p);

/* The CUDA plan (infer_cuda.cu); o->dtype is S24_F16 or S24_BF16 there. */
struct s24_infer_cu;
int s24_infer_cu_create(struct s24_model *m, const struct s24_infer_opts *o,
                        struct s24_infer_cu **out);
/* on_device: x and logits are device memory (else host) */
int s24_infer_cu_run(struct s24_infer_cu *p, const float *x, int n, int h, int w, float *logits,
                     int on_device);
int s24_infer_cu_num_layers(const struct s24_infer_cu *p);
const struct s24_infer_layer *s24_infer_cu_layer_at(const struct s24_infer_cu *p, int i);
void s24_infer_cu_set_profile(struct s24_infer_cu *p, int on);
void s24_infer_cu_free(struct s24_infer_cu *p);
/* Test hook: after a run, layer `layer` (an eligible one) run again dense
 * and 2:4 on its input from that run; *rel = ||2:4 - dense|| / ||dense||
 * over its output. The plan's own output is restored. */
int s24_infer_cu_layer_diff(struct s24_infer_cu *p, int layer, double *rel);
/* Test hook: 1 when the plan replays its steps as a CUDA graph now; why
 * (len bytes) gets the reason it does not, when it tried and failed. */
int s24_infer_cu_graphed(const struct s24_infer_cu *p, char *why, size_t len);
/* The GPU plan behind a public plan, or NULL for a CPU one (infer.c). */
struct s24_infer_cu *s24_infer_cuda_of(s24_infer_t *p);

#ifdef __cplusplus
}
#endif
#endif
