/* ops.h: the training engine's backend contract. A backend (struct
 * s24_backend) is one ops table plus its context: the CPU one (src/cpu) and
 * the CUDA one (src/cuda/nn_*.cu) implement the same table, and the model,
 * the trainer and the data path call nothing else, so a training step never
 * touches host memory on a GPU backend.
 *
 * Every pointer an op takes is *backend memory* (host memory for the CPU,
 * device memory for CUDA), allocated through the backend's memory hooks. Ops
 * are ordered on the backend's stream; only `download` and `sync` wait.
 * Scalars that change per step (learning rate, momentum, dropout keys, batch
 * indices) are read from backend memory, so a captured CUDA graph replays a
 * whole step with new values.
 *
 * Layout: activations NHWC, conv weights OHWI (OC, KH, KW, IC/groups).
 *
 * Precision (be->act): activations and their gradients -- the tensors a
 * layer reads and writes, the batch the augmentation builds, the logits and
 * dlogits -- are stored as be->act elements: S24_F32, or S24_BF16 in the
 * mixed mode (CUDA only: bfloat16 bits in the `float *`, which the op casts;
 * math in fp32, each store rounded to nearest even). Parameters, their
 * gradients, batch-norm statistics, row masks, optimiser state and the
 * loss's accumulators are fp32 in both. The activation pointers: x, y, dy,
 * dx of every layer op; scale's s and ds; xent's logits and dlogits; the
 * batch's x. All others (w, b, dw, db, gamma, beta, dgamma, dbeta, mean,
 * invstd, rmean, rvar, mask, p, g, buf, hyper, acc) are fp32.
 * s24_be_act_size gives the element size.
 * Every backward *accumulates* into its gradient outputs (dx, dw, db ...):
 * a tensor read by two ops (residual branches) receives both contributions,
 * and parameter gradients add up across calls until zeroed.
 *
 * Per-node state: ops that need it (convolutions: cuDNN descriptors and
 * algorithms; later the sparse inference plans) get a `void **state` slot
 * owned by the node; the backend fills it on first use and frees it through
 * `state_free`.
 *
 * Not here: the graph, parameters and their names (src/nn/model*.c), the
 * optimiser state and the epoch loop (src/nn/train.c). */
#ifndef S24_NN_OPS_H
#define S24_NN_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "sparse24/sparse24_nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Below this many elements of work a CPU kernel runs on one thread: an
 * OpenMP fork/join costs more than it saves, and far more on a loaded machine. */
#define S24_PAR_MIN ((int64_t)1 << 15)

/* Scratch memory an op may grow (im2col columns, per-thread partial sums,
 * cuDNN workspace), in backend memory. One per backend. */
struct s24_nn_ws {
    void *p;
    size_t cap; /* bytes */
};

/* One 2-D convolution: input (n, h, w, c) NHWC, weight (oc, kh, kw, c/groups),
 * output (n, oh, ow, oc). */
struct s24_conv_shape {
    int64_t n, h, w, c;
    int64_t oc, kh, kw, stride, pad, groups;
    int64_t oh, ow; /* set by s24_conv_shape_init */
};
/* Validates the shape (groups divide c and oc, kernel fits) and sets oh, ow. */
int s24_conv_shape_init(struct s24_conv_shape *s);

/* One max-pool layer: input (n, h, w, c) NHWC, k x k windows every `stride`
 * positions over the input padded by `pad` on each side, output (n, oh, ow, c)
 * (floor mode, no dilation: nn.MaxPool2d's defaults). Padding never wins:
 * pad <= k / 2 (PyTorch's rule) keeps an input element in every window. */
struct s24_pool_shape {
    int64_t n, h, w, c;
    int64_t k, stride, pad;
    int64_t oh, ow; /* set by s24_pool_shape_init */
};
/* Validates the shape (h * w below 2^31 too) and sets oh, ow. */
int s24_pool_shape_init(struct s24_pool_shape *s);

/* S24_ACT_NONE: no activation (the fused ops below take one or none). */
enum s24_act { S24_ACT_NONE = -1, S24_ACT_RELU = 0, S24_ACT_SILU, S24_ACT_SIGMOID };

/* The augmentation of one batch from a resident data set: crop offsets and
 * flips are drawn on the host in a fixed order (s24_batch_draw), so both
 * backends build bit-identical batches from the same generator. */
struct s24_batch_args {
    const uint8_t *images;  /* (n_images, h, w, 3) HWC bytes, backend memory */
    const uint8_t *labels;  /* (n_images) */
    int64_t n_images;
    int h, w, pad;
    int n;                  /* images in the batch */
    const int32_t *draws;   /* (n, 4): image index, dy, dx, flip (dy, dx in 0..2*pad) */
    float *x;               /* out: (n, h, w, 3) NHWC, normalised */
    int32_t *y;             /* out: (n) labels */
};

struct s24_backend;

struct s24_be_ops {
    /* ---- memory: backend memory, sizes in bytes */
    int (*alloc)(struct s24_backend *be, size_t bytes, void **out);
    void (*free)(struct s24_backend *be, void *p);
    /* host -> backend; the host buffer may be reused as soon as it returns */
    int (*upload)(struct s24_backend *be, void *dst, const void *src, size_t bytes);
    /* backend -> host; waits for the work queued before it */
    int (*download)(struct s24_backend *be, void *dst, const void *src, size_t bytes);
    int (*zero)(struct s24_backend *be, void *p, size_t bytes);
    int (*copy)(struct s24_backend *be, void *dst, const void *src, size_t bytes);
    int (*sync)(struct s24_backend *be);
    void (*state_free)(struct s24_backend *be, void *state);
    void (*destroy)(struct s24_backend *be); /* the context (not `be` itself) */

    /* ---- layers. y = conv(x, w) + b (b may be NULL). */
    int (*conv2d_fwd)(struct s24_backend *be, void **state, const struct s24_conv_shape *s,
                      const float *x, const float *w, const float *b, float *y);
    /* dx += ... (acc != 0) or dx = ... (acc == 0: dx's old contents are
     * never read, so the caller need not zero it), dw += ..., db += ...
     * (dx, db may be NULL). The same `acc` in bn_bwd and act_bwd: a
     * gradient's first writer in the backward overwrites, and only the
     * later ones add (src/nn/model_run.c), which saves a zeroing pass and
     * a read of every such gradient. */
    int (*conv2d_bwd)(struct s24_backend *be, void **state, const struct s24_conv_shape *s,
                      const float *x, const float *w, const float *dy, float *dx, int acc,
                      float *dw, float *db);
    /* Batch norm over `rows` rows of `c` channels (rows = n*h*w), batch
     * statistics: mean and invstd (C each) kept for the backward, and the
     * running statistics updated as PyTorch does (rmean, rvar may be NULL):
     * r = (1 - momentum) r + momentum batch, the variance unbiased (rows/(rows-1)).
     * `act` (S24_ACT_NONE, RELU or SILU) is applied to the output in the same
     * pass: y = act(bn(x)), bit for bit act_fwd on bn's output. The backward
     * then recomputes bn(x) from x (so the pre-activation is never stored)
     * and takes act's gradient first; it needs beta only for that. */
    int (*bn_fwd_train)(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                        const float *gamma, const float *beta, float eps, float momentum,
                        enum s24_act act, float *y, float *mean, float *invstd, float *rmean,
                        float *rvar);
    int (*bn_fwd_eval)(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                       const float *gamma, const float *beta, const float *rmean,
                       const float *rvar, float eps, enum s24_act act, float *y);
    /* dy: the gradient of act(bn(x)); dx (may be NULL) += ... (acc) or = ...,
     * dgamma, dbeta += ... */
    int (*bn_bwd)(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                  const float *mean, const float *invstd, const float *gamma, const float *beta,
                  enum s24_act act, const float *dy, float *dx, int acc, float *dgamma,
                  float *dbeta);
    /* Batch norm in parts, for statistics over several ranks (sync BN,
     * src/nn/model_run.c): each reduction over this backend's rows, then
     * the caller's all-reduce of it, then the rest. One rank runs the fused
     * ops above instead (the fast path, and today's bits).
     * bn_stats: sums (2, c) fp32 = per channel sum (x - k) and sum (x - k)^2
     * over the rows, k = shift (c; NULL: 0), summed in fp64 and rounded
     * once. A shift the same on every rank (the running mean, identical
     * under sync BN) keeps the variance from cancelling when the mean is
     * large, without a second pass or a second all-reduce. */
    int (*bn_stats)(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                    const float *shift, float *sums);
    /* From sums over `total` rows (all ranks, bn_stats with the same shift):
     * mean, invstd, the running statistics (as bn_fwd_train, unbiased by
     * total/(total-1); rmean, rvar may be NULL) and y = act(bn(x)) over this
     * backend's rows. shift may be rmean: it is read before the update. */
    int (*bn_fwd_apply)(struct s24_backend *be, int64_t rows, int64_t c, int64_t total,
                        const float *x, const float *gamma, const float *beta, const float *sums,
                        const float *shift, float eps, float momentum, enum s24_act act, float *y,
                        float *mean, float *invstd, float *rmean, float *rvar);
    /* sums (2, c) = per channel sum dz and sum dz xhat over this backend's
     * rows (dz: dy through the fused act, as bn_bwd); dbeta, dgamma += those
     * same local sums (the bucket averaging makes them the global gradient). */
    int (*bn_bwd_reduce)(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                         const float *mean, const float *invstd, const float *gamma,
                         const float *beta, enum s24_act act, const float *dy, float *sums,
                         float *dgamma, float *dbeta);
    /* dx += ... (acc) or = ...: bn_bwd's dx with the means of dz and dz xhat
     * taken from sums over `total` rows (all ranks). */
    int (*bn_bwd_apply)(struct s24_backend *be, int64_t rows, int64_t c, int64_t total,
                        const float *x, const float *mean, const float *invstd,
                        const float *gamma, const float *beta, enum s24_act act, const float *dy,
                        const float *sums, float *dx, int acc);
    int (*act_fwd)(struct s24_backend *be, enum s24_act a, int64_t n, const float *x, float *y);
    /* Uses x and y (the forward's input and output); dx += ... (acc) or = ... */
    int (*act_bwd)(struct s24_backend *be, enum s24_act a, int64_t n, const float *x,
                   const float *y, const float *dy, float *dx, int acc);
    /* y = act(a + b), act S24_ACT_NONE or RELU; y may be a or b. The backward
     * of a fused ReLU is act_bwd(RELU) with the output as x (y > 0 iff a + b > 0). */
    int (*add_fwd)(struct s24_backend *be, int64_t n, const float *a, const float *b,
                   enum s24_act act, float *y);
    /* dx += dy (the backward of add, for each input). */
    int (*acc)(struct s24_backend *be, int64_t n, const float *dy, float *dx);
    /* Global average pool: x (n, hw, c) -> y (n, c). */
    int (*gap_fwd)(struct s24_backend *be, int64_t n, int64_t hw, int64_t c, const float *x,
                   float *y);
    int (*gap_bwd)(struct s24_backend *be, int64_t n, int64_t hw, int64_t c, const float *dy,
                   float *dx);
    /* Max pool (struct s24_pool_shape): y (n, oh, ow, c) = each window's
     * maximum; a NaN in a window is its maximum (s24_pool_takes). */
    int (*maxpool_fwd)(struct s24_backend *be, const struct s24_pool_shape *s, const float *x,
                       float *y);
    /* dx (n, h, w, c) += dy (n, oh, ow, c) at each window's maximum, found
     * again from x (no indices are kept; the first of equal maxima in the
     * window's row-major order takes it), each element's contributions
     * added in output order, so every backend gives the same bits. */
    int (*maxpool_bwd)(struct s24_backend *be, const struct s24_pool_shape *s, const float *x,
                       const float *dy, float *dx);
    /* Channel scale (squeeze-excitation's product): y[n,p,c] = x[n,p,c] * s[n,c]. */
    int (*scale_fwd)(struct s24_backend *be, int64_t n, int64_t hw, int64_t c, const float *x,
                     const float *s, float *y);
    /* dx may be NULL. */
    int (*scale_bwd)(struct s24_backend *be, int64_t n, int64_t hw, int64_t c, const float *x,
                     const float *s, const float *dy, float *dx, float *ds);
    /* y (n, out) = x (n, in) W^T + b; W (out, in). */
    int (*linear_fwd)(struct s24_backend *be, int64_t n, int64_t in, int64_t out, const float *x,
                      const float *w, const float *b, float *y);
    /* dx may be NULL. */
    int (*linear_bwd)(struct s24_backend *be, int64_t n, int64_t in, int64_t out, const float *x,
                      const float *w, const float *dy, float *dx, float *dw, float *db);
    /* Dropout and stochastic depth: y[r, j] = x[r, j] * mask[r] over rows of
     * `inner` elements (dropout: inner 1; stochastic depth: inner = h*w*c). */
    int (*rowmask_fwd)(struct s24_backend *be, int64_t rows, int64_t inner, const float *x,
                       const float *mask, float *y);
    int (*rowmask_bwd)(struct s24_backend *be, int64_t rows, int64_t inner, const float *mask,
                       const float *dy, float *dx);
    /* mask[r] = 1/(1-p) if s24_keep_draw(*key, r) < 1-p, else 0 (p = 1: all 0).
     * *key is backend memory (one u64 the model writes per step). */
    int (*rowmask_draw)(struct s24_backend *be, int64_t rows, float p, const uint64_t *key,
                        float *mask);

    /* ---- the training step's other work */
    /* Softmax cross-entropy over n rows: dlogits (may be NULL) = the gradient
     * of the *mean* loss; acc[0] += the loss summed over rows, acc[1] += argmax
     * hits (acc: two doubles, backend memory, may be NULL). */
    int (*xent)(struct s24_backend *be, int n, int classes, const float *logits,
                const int32_t *labels, float *dlogits, double *acc);
    /* Masked SGD on one tensor, PyTorch's arithmetic (s24_sgd_update), with
     * hyper = {lr, momentum} read from backend memory; mask (may be NULL):
     * pruned gradients are dropped, and weight and momentum set to zero after
     * the update. */
    int (*sgd)(struct s24_backend *be, int64_t n, float *p, float *g, float *buf,
               const uint8_t *mask, const float *hyper, float wd);
    /* One batch: crop, flip, normalise (s24_batch_args). */
    int (*batch)(struct s24_backend *be, const struct s24_batch_args *a);

    /* ---- step graphs (src/nn/tgraph.c decides when). fn(arg) queues one
     * training step's backend work and nothing else: no allocation, upload,
     * download or wait. graph_capture records it into *g *without* running
     * the work; graph_launch runs a recorded step again, with whatever the
     * backend memory it reads then holds; graph_free drops it. CUDA: stream
     * capture of fn on the backend's stream, instantiated; a failure to
     * capture returns an error (the reason in s24_last_error) and leaves
     * nothing queued. CPU: a copy of the arg_bytes at arg is kept and fn
     * called on that copy at each launch, so the host path of a replayed
     * step runs, with its context frozen at capture as a GPU's is, and
     * uploads, downloads and allocations inside a launch are refused. */
    int (*graph_capture)(struct s24_backend *be, int (*fn)(void *arg), const void *arg,
                         size_t arg_bytes, void **g);
    int (*graph_launch)(struct s24_backend *be, void *g);
    void (*graph_free)(struct s24_backend *be, void *g);

    /* ---- a side queue (data parallel: the gradient buckets' packing,
     * all-reduce and unpacking beside the rest of the backward). side_begin:
     * the work queued so far becomes a dependency of the work queued from
     * now until side_end, which goes on the side queue; side_join: the main
     * queue waits for everything queued on the side so far. NULL on the CPU,
     * whose ops finish before they return (one queue is all there is). */
    int (*side_begin)(struct s24_backend *be);
    int (*side_end)(struct s24_backend *be);
    int (*side_join)(struct s24_backend *be);

    /* ---- profiling: a timestamp `k` (0 <= k < S24_MARKS) recorded in
     * stream order, and the milliseconds between two of them (waits). */
    int (*mark)(struct s24_backend *be, int k);
    int (*mark_ms)(struct s24_backend *be, int a, int b, double *ms);
};

#define S24_MARKS 4096

struct s24_backend {
    const struct s24_be_ops *ops;
    enum s24_device device;
    enum s24_dtype act;     /* activations' storage: S24_F32, or S24_BF16 (mixed mode) */
    int index;              /* GPU ordinal (0 for the CPU) */
    char name[128];         /* "cpu", "cuda:0 (NVIDIA H200)" */
    void *ctx;              /* the backend's own context (stream, library handles) */
    struct s24_nn_ws ws;
    size_t live, peak;      /* bytes allocated through s24_be_alloc, and their high-water mark */
    uint64_t gen;           /* allocations and frees through s24_be_alloc / s24_be_free so
                             * far: a recorded step graph holds pointers, and stands only
                             * while this has not moved (src/nn/tgraph.c) */
};

/* Bytes per activation element (4, or 2 in the mixed mode). */
static inline size_t s24_be_act_size(const struct s24_backend *be)
{
    return be->act == S24_BF16 ? 2 : 4;
}
/* n floats from the host into activation storage (rounded to bf16 in the
 * mixed mode: through a host staging copy), and back. */
int s24_be_put_act(struct s24_backend *be, void *dst, const float *src, int64_t n);
int s24_be_get_act(struct s24_backend *be, float *dst, const void *src, int64_t n);

/* Memory through the hooks, with the high-water mark kept (s24_be_free
 * needs the size the buffer was allocated with). NULL p / 0 bytes are fine. */
int s24_be_alloc(struct s24_backend *be, size_t bytes, void **out);
void s24_be_free(struct s24_backend *be, void *p, size_t bytes);
/* Grow-only buffer: *p (of *cap bytes) made at least `bytes` (contents lost). */
int s24_be_grow(struct s24_backend *be, void **p, size_t *cap, size_t bytes);
/* The backend's scratch, at least `bytes` (contents undefined), or NULL. */
void *s24_be_ws(struct s24_backend *be, size_t bytes);

#ifdef __CUDACC__
#define S24_HD __host__ __device__
#else
#define S24_HD
#endif

/* The keep test of dropout and stochastic depth, the same on every backend
 * (and callable from CUDA kernels): a uniform draw in [0, 1) from (key, row)
 * by a counter-based hash, so no generator state lives on the device. */
static inline S24_HD float s24_keep_draw(uint64_t key, uint64_t row)
{
    uint64_t z = key + (row + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f); /* 24 bits: exact in float */
}

/* The max-pool rule, the same on every backend (and callable from CUDA
 * kernels): value v, met after `best` in a window's row-major order, takes
 * over when it is larger, or when it is the window's first NaN (so a NaN
 * propagates, as in PyTorch). Equal values keep the earlier one. */
static inline S24_HD int s24_pool_takes(float v, float best)
{
    /* bitwise, not short-circuit: a select the CPU loops vectorise */
    return (v > best) | ((v != v) & (best == best));
}

/* Backend constructors (s24_backend_create calls them): fill be->ops, ctx,
 * name. The CUDA one fails with S24_ERR_NO_DEVICE when built without CUDA
 * or when there is no GPU. */
int s24_cpu_backend_init(struct s24_backend *be);
int s24_cuda_backend_init(struct s24_backend *be, int device);

/* Row-major C = alpha op(A) op(B) + beta C, op(X) = X or X^T (ta/tb != 0):
 * OpenBLAS when present, else a blocked, threaded fallback. Host memory. */
int s24_nn_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                 int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* ---- naive references (host memory, fp64 accumulation, no threads): the
 * oracle for the fast convolutions and the CPU kernels. Same accumulate
 * semantics as the backend ops. */
void s24_conv2d_ref_fwd(const struct s24_conv_shape *s, const float *x, const float *w,
                        const float *b, float *y);
void s24_conv2d_ref_bwd(const struct s24_conv_shape *s, const float *x, const float *w,
                        const float *dy, float *dx, float *dw, float *db);
/* Max pool (src/nn/pool_ref.c): y written; dx += (each input's
 * contributions summed in fp64). */
void s24_maxpool_ref_fwd(const struct s24_pool_shape *s, const float *x, float *y);
void s24_maxpool_ref_bwd(const struct s24_pool_shape *s, const float *x, const float *dy,
                         float *dx);

#ifdef __cplusplus
}
#endif
#endif
