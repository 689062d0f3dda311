/* ops.h: the training engine's operators, declared once. Each op has a CPU
 * implementation (src/cpu/nn_*.c) reached through one function table,
 * struct s24_nn_backend, so a GPU backend can slot in with its own table and
 * be tested op by op against the CPU one. The naive references
 * (s24_conv2d_ref_*) are the oracle for the fast convolutions.
 *
 * Layout: activations NHWC float32, conv weights OHWI (OC, KH, KW, IC/groups).
 * Every backward *accumulates* into its gradient outputs (dx, dw, db ...):
 * a tensor read by two ops (residual branches) receives both contributions,
 * and parameter gradients add up across calls until zeroed.
 *
 * Not here: the graph, parameters and their names (src/nn/model*.c), the
 * optimiser (trainer). */
#ifndef S24_NN_OPS_H
#define S24_NN_OPS_H

#include <stddef.h>
#include <stdint.h>

/* Below this many elements of work a CPU kernel runs on one thread: an
 * OpenMP fork/join costs more than it saves, and far more on a loaded machine. */
#define S24_PAR_MIN ((int64_t)1 << 15)

/* Scratch memory an op may grow (im2col columns, per-thread partial sums).
 * Owned by the caller (one per model), freed with s24_nn_ws_free. */
struct s24_nn_ws {
    float *p;
    size_t cap; /* floats */
};
/* Returns a buffer of at least n floats (contents undefined) or NULL. */
float *s24_nn_ws_get(struct s24_nn_ws *ws, size_t n);
void s24_nn_ws_free(struct s24_nn_ws *ws);

/* One 2-D convolution: input (n, h, w, c) NHWC, weight (oc, kh, kw, c/groups),
 * output (n, oh, ow, oc). */
struct s24_conv_shape {
    int64_t n, h, w, c;
    int64_t oc, kh, kw, stride, pad, groups;
    int64_t oh, ow; /* set by s24_conv_shape_init */
};
/* Validates the shape (groups divide c and oc, kernel fits) and sets oh, ow. */
int s24_conv_shape_init(struct s24_conv_shape *s);

enum s24_act { S24_ACT_RELU = 0, S24_ACT_SILU, S24_ACT_SIGMOID };

struct s24_nn_backend {
    const char *name;
    /* y = conv(x, w) + b (b may be NULL). */
    int (*conv2d_fwd)(const struct s24_conv_shape *s, const float *x, const float *w,
                      const float *b, float *y, struct s24_nn_ws *ws);
    /* dx += ..., dw += ..., db += ... (dx, db may be NULL). */
    int (*conv2d_bwd)(const struct s24_conv_shape *s, const float *x, const float *w,
                      const float *dy, float *dx, float *dw, float *db, struct s24_nn_ws *ws);
    /* Batch norm over `rows` rows of `c` channels (rows = n*h*w). Training:
     * batch statistics; mean, var (biased) and invstd (C each) returned for the
     * running-stat update and the backward. */
    int (*bn_fwd_train)(int64_t rows, int64_t c, const float *x, const float *gamma,
                        const float *beta, float eps, float *y, float *mean, float *var,
                        float *invstd, struct s24_nn_ws *ws);
    void (*bn_fwd_eval)(int64_t rows, int64_t c, const float *x, const float *gamma,
                        const float *beta, const float *rmean, const float *rvar, float eps,
                        float *y);
    int (*bn_bwd)(int64_t rows, int64_t c, const float *x, const float *mean,
                  const float *invstd, const float *gamma, const float *dy, float *dx,
                  float *dgamma, float *dbeta, struct s24_nn_ws *ws);
    void (*act_fwd)(enum s24_act a, int64_t n, const float *x, float *y);
    /* Uses x and y (the forward's input and output). */
    void (*act_bwd)(enum s24_act a, int64_t n, const float *x, const float *y, const float *dy,
                    float *dx);
    void (*add_fwd)(int64_t n, const float *a, const float *b, float *y);
    /* dx += dy (the backward of add, for each input). */
    void (*acc)(int64_t n, const float *dy, float *dx);
    /* Global average pool: x (n, hw, c) -> y (n, c). */
    void (*gap_fwd)(int64_t n, int64_t hw, int64_t c, const float *x, float *y);
    void (*gap_bwd)(int64_t n, int64_t hw, int64_t c, const float *dy, float *dx);
    /* Channel scale (squeeze-excitation's product): y[n,p,c] = x[n,p,c] * s[n,c]. */
    void (*scale_fwd)(int64_t n, int64_t hw, int64_t c, const float *x, const float *s,
                      float *y);
    void (*scale_bwd)(int64_t n, int64_t hw, int64_t c, const float *x, const float *s,
                      const float *dy, float *dx, float *ds);
    /* y (n, out) = x (n, in) W^T + b; W (out, in). */
    int (*linear_fwd)(int64_t n, int64_t in, int64_t out, const float *x, const float *w,
                      const float *b, float *y);
    int (*linear_bwd)(int64_t n, int64_t in, int64_t out, const float *x, const float *w,
                      const float *dy, float *dx, float *dw, float *db);
    /* Dropout and stochastic depth: y[r, j] = x[r, j] * mask[r] over rows of
     * `inner` elements (dropout: inner 1; stochastic depth: inner = h*w*c). */
    void (*rowmask_fwd)(int64_t rows, int64_t inner, const float *x, const float *mask,
                        float *y);
    void (*rowmask_bwd)(int64_t rows, int64_t inner, const float *mask, const float *dy,
                        float *dx);
};

/* The CPU backend (OpenBLAS sgemm when built with it, OpenMP threads). */
const struct s24_nn_backend *s24_nn_cpu(void);

/* Row-major C = alpha op(A) op(B) + beta C, op(X) = X or X^T (ta/tb != 0):
 * OpenBLAS when present, else a blocked, threaded fallback. */
int s24_nn_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                 int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* Naive references (any groups, fp64 accumulation, no threads): the oracle
 * for the fast convolutions. Same accumulate semantics as the backend. */
void s24_conv2d_ref_fwd(const struct s24_conv_shape *s, const float *x, const float *w,
                        const float *b, float *y);
void s24_conv2d_ref_bwd(const struct s24_conv_shape *s, const float *x, const float *w,
                        const float *dy, float *dx, float *dw, float *db);

/* CPU kernels behind s24_nn_cpu() (exposed for tests and benchmarks). */
int s24_cpu_conv2d_fwd(const struct s24_conv_shape *s, const float *x, const float *w,
                       const float *b, float *y, struct s24_nn_ws *ws);
int s24_cpu_conv2d_bwd(const struct s24_conv_shape *s, const float *x, const float *w,
                       const float *dy, float *dx, float *dw, float *db, struct s24_nn_ws *ws);
int s24_cpu_bn_fwd_train(int64_t rows, int64_t c, const float *x, const float *gamma,
                         const float *beta, float eps, float *y, float *mean, float *var,
                         float *invstd, struct s24_nn_ws *ws);
void s24_cpu_bn_fwd_eval(int64_t rows, int64_t c, const float *x, const float *gamma,
                         const float *beta, const float *rmean, const float *rvar, float eps,
                         float *y);
int s24_cpu_bn_bwd(int64_t rows, int64_t c, const float *x, const float *mean,
                   const float *invstd, const float *gamma, const float *dy, float *dx,
                   float *dgamma, float *dbeta, struct s24_nn_ws *ws);
void s24_cpu_act_fwd(enum s24_act a, int64_t n, const float *x, float *y);
void s24_cpu_act_bwd(enum s24_act a, int64_t n, const float *x, const float *y,
                     const float *dy, float *dx);
void s24_cpu_add_fwd(int64_t n, const float *a, const float *b, float *y);
void s24_cpu_acc(int64_t n, const float *dy, float *dx);
void s24_cpu_gap_fwd(int64_t n, int64_t hw, int64_t c, const float *x, float *y);
void s24_cpu_gap_bwd(int64_t n, int64_t hw, int64_t c, const float *dy, float *dx);
void s24_cpu_scale_fwd(int64_t n, int64_t hw, int64_t c, const float *x, const float *s,
                       float *y);
void s24_cpu_scale_bwd(int64_t n, int64_t hw, int64_t c, const float *x, const float *s,
                       const float *dy, float *dx, float *ds);
int s24_cpu_linear_fwd(int64_t n, int64_t in, int64_t out, const float *x, const float *w,
                       const float *b, float *y);
int s24_cpu_linear_bwd(int64_t n, int64_t in, int64_t out, const float *x, const float *w,
                       const float *dy, float *dx, float *dw, float *db);
void s24_cpu_rowmask_fwd(int64_t rows, int64_t inner, const float *x, const float *mask,
                         float *y);
void s24_cpu_rowmask_bwd(int64_t rows, int64_t inner, const float *mask, const float *dy,
                         float *dx);

#endif
