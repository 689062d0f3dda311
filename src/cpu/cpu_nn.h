/* cpu_nn.h: the CPU backend's kernels (host memory, OpenMP threads,
 * OpenBLAS sgemm and oneDNN convolutions when built with them), reached
 * through the ops table that backend_cpu.c builds, and exposed here for the
 * tests and benchmarks that call them directly. */
#ifndef S24_CPU_NN_H
#define S24_CPU_NN_H

#include "nn/ops.h"

/* The 2:4 conv without a column matrix (spmm_conv.c): C (OC, n), row-major,
 * = W x columns [q0, q0 + n) of the implicit im2col matrix of x (NHWC), whose
 * rows run (kh, kw, c) as the OHWI weight's and whose columns are the output
 * positions (n, oh, ow) in order. The plan holds the weight (OC x KH*KW*C,
 * F32); s is initialised (oh, ow set), groups 1. No bias. */
int s24_spmm_conv_run(s24_spmm_plan_t plan, const struct s24_conv_shape *s, const float *x,
                      int64_t q0, int64_t n, float *C);

/* Host scratch: a buffer of at least n floats (contents undefined) or NULL. */
float *s24_nn_ws_get(struct s24_nn_ws *ws, size_t n);
void s24_nn_ws_free(struct s24_nn_ws *ws);

int s24_cpu_conv2d_fwd(const struct s24_conv_shape *s, const float *x, const float *w,
                       const float *b, float *y, struct s24_nn_ws *ws);
int s24_cpu_conv2d_bwd(const struct s24_conv_shape *s, const float *x, const float *w,
                       const float *dy, float *dx, float *dw, float *db, struct s24_nn_ws *ws);
/* Dense convolutions (groups 1) through oneDNN (nn_dnnl.c): one context per
 * backend (engine, stream), the primitives of each shape in the node's
 * `state` (freed by s24_dnnl_conv_free). Same contract as the ops: y is
 * written, dx, dw, db accumulate. S24_ERR_UNSUPPORTED (built without oneDNN,
 * groups > 1, a shape oneDNN refuses) comes before anything is written, so
 * the caller may run s24_cpu_conv2d_* instead; other errors are failures. */
struct s24_dnnl;
int s24_dnnl_init(struct s24_dnnl **out);
void s24_dnnl_free(struct s24_dnnl *d);
/* "oneDNN 2.6.3", or NULL when built without it. */
const char *s24_dnnl_version(void);
void s24_dnnl_conv_free(void *state);
int s24_dnnl_conv2d_fwd(struct s24_dnnl *d, void **state, const struct s24_conv_shape *s,
                        const float *x, const float *w, const float *b, float *y,
                        struct s24_nn_ws *ws);
/* dx += ... (acc) or dx = ... (its old contents unread); dw, db += ... */
int s24_dnnl_conv2d_bwd(struct s24_dnnl *d, void **state, const struct s24_conv_shape *s,
                        const float *x, const float *w, const float *dy, float *dx, int acc,
                        float *dw, float *db, struct s24_nn_ws *ws);
/* Which build of the streaming kernels (batch norm) runs: the portable one
 * or the AVX-512 one, the same source compiled twice (nn_norm_avx512.c),
 * giving the same bits. Picked once from the CPU; S24_CPU_ISA=portable or
 * =avx512 in the environment forces one (measurements). */
enum s24_cpu_nn_isa { S24_CPU_NN_PORTABLE = 0, S24_CPU_NN_AVX512 = 1 };
enum s24_cpu_nn_isa s24_cpu_nn_isa(void);
/* Tests: force one (AVX-512 only where the CPU has it); not thread-safe. */
void s24_cpu_nn_isa_set(enum s24_cpu_nn_isa isa);
/* Batch norm with an activation in the same passes (S24_ACT_NONE, RELU or
 * SILU): y = act(bn(x)), bit for bit act_fwd on bn's output; the backward
 * takes dy as the gradient of act(bn(x)), recomputes bn(x) (it needs beta
 * then) and gives what act_bwd on a zeroed gradient followed by bn_bwd
 * gives. */
int s24_cpu_bn_fwd_train_act(int64_t rows, int64_t c, const float *x, const float *gamma,
                             const float *beta, float eps, enum s24_act act, float *y,
                             float *mean, float *var, float *invstd, struct s24_nn_ws *ws);
void s24_cpu_bn_fwd_eval_act(int64_t rows, int64_t c, const float *x, const float *gamma,
                             const float *beta, const float *rmean, const float *rvar, float eps,
                             enum s24_act act, float *y);
/* dx += ... (acc) or dx = 0 + ... (acc == 0, dx not read) */
int s24_cpu_bn_bwd_act(int64_t rows, int64_t c, const float *x, const float *mean,
                       const float *invstd, const float *gamma, const float *beta,
                       enum s24_act act, const float *dy, float *dx, int acc, float *dgamma,
                       float *dbeta, struct s24_nn_ws *ws);
/* mean, var (biased) and invstd (C each) of the batch. */
int s24_cpu_bn_fwd_train(int64_t rows, int64_t c, const float *x, const float *gamma,
                         const float *beta, float eps, float *y, float *mean, float *var,
                         float *invstd, struct s24_nn_ws *ws);
void s24_cpu_bn_fwd_eval(int64_t rows, int64_t c, const float *x, const float *gamma,
                         const float *beta, const float *rmean, const float *rvar, float eps,
                         float *y);
int s24_cpu_bn_bwd(int64_t rows, int64_t c, const float *x, const float *mean,
                   const float *invstd, const float *gamma, const float *dy, float *dx,
                   float *dgamma, float *dbeta, struct s24_nn_ws *ws);
/* Batch norm in parts for statistics over several ranks (ops.h's bn_stats,
 * bn_fwd_apply, bn_bwd_reduce, bn_bwd_apply; sums (2, c)). */
int s24_cpu_bn_stats(int64_t rows, int64_t c, const float *x, const float *shift, float *sums,
                     struct s24_nn_ws *ws);
int s24_cpu_bn_fwd_apply(int64_t rows, int64_t c, int64_t total, const float *x,
                         const float *gamma, const float *beta, const float *sums,
                         const float *shift, float eps, float momentum, enum s24_act act, float *y,
                         float *mean, float *invstd, float *rmean, float *rvar);
int s24_cpu_bn_bwd_reduce(int64_t rows, int64_t c, const float *x, const float *mean,
                          const float *invstd, const float *gamma, const float *beta,
                          enum s24_act act, const float *dy, float *sums, float *dgamma,
                          float *dbeta, struct s24_nn_ws *ws);
int s24_cpu_bn_bwd_apply(int64_t rows, int64_t c, int64_t total, const float *x,
                         const float *mean, const float *invstd, const float *gamma,
                         const float *beta, enum s24_act act, const float *dy, const float *sums,
                         float *dx, int acc, struct s24_nn_ws *ws);
void s24_cpu_act_fwd(enum s24_act a, int64_t n, const float *x, float *y);
void s24_cpu_act_bwd(enum s24_act a, int64_t n, const float *x, const float *y,
                     const float *dy, float *dx);
void s24_cpu_add_fwd(int64_t n, const float *a, const float *b, float *y);
void s24_cpu_add_relu_fwd(int64_t n, const float *a, const float *b, float *y);
void s24_cpu_acc(int64_t n, const float *dy, float *dx);
void s24_cpu_gap_fwd(int64_t n, int64_t hw, int64_t c, const float *x, float *y);
void s24_cpu_gap_bwd(int64_t n, int64_t hw, int64_t c, const float *dy, float *dx);
/* Max pool (nn_pool.c): y written, dx += (s24_be_ops' maxpool_*). */
void s24_cpu_maxpool_fwd(const struct s24_pool_shape *s, const float *x, float *y);
void s24_cpu_maxpool_bwd(const struct s24_pool_shape *s, const float *x, const float *dy,
                         float *dx);
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
/* The augmentation of s24_batch_args on host memory. */
void s24_cpu_batch(const struct s24_batch_args *a);

#endif
