/* sparse24_infer.h: inference of a trained (and 2:4-pruned) model with its
 * batch norms folded into the convolutions before them, every 2:4 conv and
 * linear layer run through the 2:4 sparse GEMM and the rest dense, and a
 * per-layer report of which path each layer took, why, and how long it ran.
 * The path of each 2:4 layer is forced (all 2:4, all dense) or chosen by
 * timing both on the layer's real input at the first run. Two plans stand
 * behind the one API, picked by the model's backend: the CPU's (fp32, the
 * 2:4 CPU kernel, src/cpu/infer_cpu.c) and the GPU's (fp16 or bf16 NHWC, cuDNN
 * for dense layers, cuSPARSELt for 2:4 ones, src/cuda/infer_cuda.cu); both
 * fold the norms with the same code. int8 (S24_I8) on the GPU runs the 2:4
 * layers' GEMMs on int8 (per-channel weight scales, calibrated per-tensor
 * activation scales) and the rest in fp16; on the CPU it is the fp32
 * simulation of that quantisation, the GPU's reference. It never trains and
 * never changes the model. */
#ifndef SPARSE24_INFER_H
#define SPARSE24_INFER_H

#include "sparse24/sparse24_api.h"
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
    S24_INFER_AUTO = 2    /* each eligible layer timed both ways at the first run, the faster
                           * kept */
};

/* One layer of the plan, as the report shows it. */
struct s24_infer_layer {
    char name[96];          /* the conv or linear weight's name */
    int sparse;             /* 1: runs through the 2:4 GEMM */
    int eligible;           /* 1: its folded weight is 2:4 (the 2:4 path exists) */
    int folded_bn;          /* a batch norm was folded into it */
    int64_t m, n, k;        /* its GEMM: m output channels, n positions, k reduction */
    double ms;              /* time of its last run (including the layout work around it;
                             * on the GPU only while profiling, s24_infer_set_profile) */
    double dense_ms, sparse_ms; /* AUTO: the medians it was chosen by (0 when not measured) */
    char why[112];          /* why it took its path, e.g. "not 2:4", "2:4 asked for",
                             * "measured: dense 1.23 ms, 2:4 1.80 ms" */
    char engine[64];        /* GPU: what its last run ran on ("cuSPARSELt, bias+ReLU fused",
                             * "cuDNN fused bias+ReLU", "own direct conv (...)"); "" on the CPU */
    float act_scale;        /* int8 plans: the scale of its input's int8 values (calibrated or
                             * given) where its 2:4 path runs int8, else 0; on the GPU the
                             * layer runs int8 when this is > 0 and `sparse` is 1 */
};

/* How a plan is made (s24_infer_opts_init: AUTO, the device's dtype). */
struct s24_infer_opts {
    int path;  /* enum s24_infer_path */
    int dtype; /* enum s24_dtype of weights and activations: S24_F32 on the CPU (its
                * only one); S24_F16 or S24_BF16 on a GPU (fp32 accumulation either
                * way); 0 (as zeroed): the device's default, F32 on the CPU, F16 on
                * a GPU. S24_I8: int8 (see above), which needs one of the two
                * below. */
    /* int8: the images the activation scales are calibrated on, (calib_n,
     * calib_h, calib_w, 3) NHWC fp32 host memory, read during creation only
     * (each int8 layer's input scale: its largest magnitude over them / 127) */
    const float *calib;
    int calib_n, calib_h, calib_w;
    /* int8: the scales given instead (n_act_scales = the plan's layer count,
     * in report order; a layer given 0 runs in the float type), e.g. another
     * plan's act_scale, so two plans quantise alike; used before calib */
    const float *act_scales;
    int n_act_scales;
};
S24_API void s24_infer_opts_init(struct s24_infer_opts *o);

/* A plan for `m` on the model's backend (CPU or CUDA). A layer is eligible
 * for the 2:4 path when its folded weight is 2:4 (groups 1, input channels
 * a multiple of 4, every group of four with at most two non-zeros) and, on
 * the GPU, its shape meets cuSPARSELt's size rules (output channels and
 * reduction multiples of 16). A layer that is not eligible runs dense on
 * every path, S24_INFER_SPARSE included, and its `why` says what it lacks
 * ("not 2:4", ...): a forced 2:4 plan never fails over a dense layer.
 * AUTO decides at the first s24_infer_run, at that run's shape, and keeps
 * the decision for later runs (that first run takes several times longer);
 * on the GPU it then times the whole network with its choices and all
 * dense, and goes all dense unless the choices make the network faster.
 * The plan reads the model's host copies of the parameters (p->data): for
 * a model trained on the GPU, s24_model_to_host first. The model must
 * outlive the plan. */
S24_API int s24_infer_create2(s24_model_t *m, const struct s24_infer_opts *o, s24_infer_t **out);
/* The same with the device's default dtype. */
S24_API int s24_infer_create(s24_model_t *m, int path, s24_infer_t **out);
/* Per-layer times (s24_infer_layer.ms) of later runs: the CPU plan always
 * takes them (a clock read per layer); the GPU plan only when this is on,
 * since it records CUDA events around every layer and reads them at the
 * end of each run. Off by default on the GPU. */
S24_API void s24_infer_set_profile(s24_infer_t *p, int on);
/* x: (n, h, w, 3) NHWC; logits: (n, classes); both fp32 host memory, on
 * either device (the GPU plan converts on the device). Evaluation semantics. */
S24_API int s24_infer_run(s24_infer_t *p, const float *x, int n, int h, int w, float *logits);
/* The same with x and logits in the memory of the model's backend (device
 * memory for a model on a GPU, host memory on the CPU), so a caller whose batch is already
 * there (a benchmark, a pipeline) pays no host transfer. Returns when the
 * logits are written. */
S24_API int s24_infer_run_be(s24_infer_t *p, const float *x, int n, int h, int w, float *logits);
S24_API int s24_infer_num_layers(const s24_infer_t *p);
S24_API const struct s24_infer_layer *s24_infer_layer_at(const s24_infer_t *p, int i);
S24_API void s24_infer_free(s24_infer_t *p);

#ifdef __cplusplus
}
#endif
#endif
