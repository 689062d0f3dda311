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

/* int8 (infer_q8.c), shared by the GPU plan and the CPU's simulation of it,
 * so both quantise with the same numbers: symmetric, values -127..127, a
 * weight scale per output channel and one activation scale per layer input. */
#define S24_Q8_MAX 127
/* cuSPARSELt's 8-bit rule for the structured operand: oc and k multiples of 32 */
#define S24_Q8_MULT 32
/* 1 when a 2:4 layer of oc outputs and reduction k can run its GEMM on int8 */
int s24_q8_layer_ok(int is24, int64_t oc, int64_t k);
/* clamp(rint(x * inv), -127, 127): round half to even, as __float2int_rn */
int s24_q8_quant(float x, float inv);
/* The activation scale of an input whose largest magnitude over the
 * calibration images is amax: amax / 127 (1 where amax is 0, NaN or inf:
 * any scale is exact for zeros, and a broken input should not divide by 0). */
float s24_q8_act_scale(float amax);
/* 1 / scale, rounded once in fp32: what both plans multiply by */
float s24_q8_inv(float scale);
/* max |x[i]| over n values (a NaN counts as +inf) */
float s24_q8_absmax(const float *x, int64_t n);
/* w (oc, row) quantised per output channel: scale[o] = max_j |w[o, j]| /
 * 127 (1 for an all-zero row), q[o, j] = s24_q8_quant(w, 1 / scale[o]);
 * zeros stay zero, so a 2:4 row stays 2:4. q may be NULL. */
void s24_q8_weight(const float *w, int64_t oc, int64_t row, signed char *q, float *scale);

/* The CPU plan (src/cpu/infer_cpu.c): fp32, the model's host weights; o->dtype
 * S24_I8 makes it the int8 simulation (every layer dense, fp32 arithmetic on
 * quantised-dequantised weights and inputs). Options checked by infer.c. */
struct s24_infer_cpu;
int s24_infer_cpu_create(struct s24_model *m, const struct s24_infer_opts *o,
                         struct s24_infer_cpu **out);
/* x and logits host memory; arguments checked by the caller (infer.c) */
int s24_infer_cpu_run(struct s24_infer_cpu *p, const float *x, int n, int h, int w, float *logits);
int s24_infer_cpu_num_layers(const struct s24_infer_cpu *p);
const struct s24_infer_layer *s24_infer_cpu_layer_at(const struct s24_infer_cpu *p, int i);
void s24_infer_cpu_free(struct s24_infer_cpu *p);

/* The CUDA plan (infer_cuda.cu); o->dtype is S24_F16, S24_BF16 or S24_I8
 * there (int8: the activations fp16, the 2:4 GEMMs int8). */
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
