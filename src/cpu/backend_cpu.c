/* backend_cpu.c: the CPU backend: host memory behind the memory hooks
 * (upload and download are copies, nothing is asynchronous) and the ops
 * table over the kernels of src/cpu/nn_*.c. Its tensors are the host
 * tensors themselves, so the model's host mirrors alias them. */
#include "cpu/cpu_nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparse24/sparse24_train.h"

/* The CPU backend's own state: a second scratch for the batch-norm
 * variances, apart from be->ws, which the kernels use for partial sums, and
 * oneDNN's engine and stream (NULL without oneDNN: every conv then takes
 * nn_conv.c's path). */
struct cpu_ctx {
    float *var;
    size_t var_cap; /* floats */
    struct s24_dnnl *dnnl;
    double marks[S24_MARKS]; /* host clock, seconds */
    int replaying;           /* inside a step graph's launch (graph_launch) */
};

float *s24_nn_ws_get(struct s24_nn_ws *ws, size_t n)
{
    size_t bytes = (n ? n : 1) * sizeof(float);
    if (bytes > ws->cap) {
        void *p = malloc(bytes);
        if (!p) return NULL;
        free(ws->p);
        ws->p = p;
        ws->cap = bytes;
    }
    return ws->p;
}

void s24_nn_ws_free(struct s24_nn_ws *ws)
{
    free(ws->p);
    ws->p = NULL;
    ws->cap = 0;
}

/* ---------------------------------------------------------------- memory */
/* A recorded step queues backend work only (ops.h, graph_capture): on a GPU
 * an allocation inside it cannot be recorded, and an upload would be
 * recorded reading its host buffer as it is at each replay, not this step's
 * values. The CPU replays by calling the step's host code, where neither
 * would show, so it refuses both inside a launch. */
static int replay_refuses(struct s24_backend *be, const char *what)
{
    struct cpu_ctx *c = be->ctx;
    if (!c || !c->replaying) return S24_OK;
    return s24_error(S24_ERR_INVALID, "cpu step graph: %s inside a recorded step (a GPU "
                     "cannot replay it)", what);
}

static int cpu_alloc(struct s24_backend *be, size_t bytes, void **out)
{
    int rc = replay_refuses(be, "an allocation");
    *out = rc == S24_OK ? malloc(bytes) : NULL;
    if (rc != S24_OK) return rc;
    return *out ? S24_OK : s24_error(S24_ERR_NOMEM, "cpu: out of memory (%zu bytes)", bytes);
}
static void cpu_free(struct s24_backend *be, void *p) { (void)be, free(p); }
static int cpu_copy(struct s24_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)be;
    if (bytes && dst != src) memmove(dst, src, bytes);
    return S24_OK;
}
static int cpu_upload(struct s24_backend *be, void *dst, const void *src, size_t bytes)
{
    int rc = replay_refuses(be, "an upload");
    return rc == S24_OK ? cpu_copy(be, dst, src, bytes) : rc;
}
static int cpu_download(struct s24_backend *be, void *dst, const void *src, size_t bytes)
{
    int rc = replay_refuses(be, "a download");
    return rc == S24_OK ? cpu_copy(be, dst, src, bytes) : rc;
}
static int cpu_zero(struct s24_backend *be, void *p, size_t bytes)
{
    (void)be;
    if (bytes) memset(p, 0, bytes);
    return S24_OK;
}
static int cpu_sync(struct s24_backend *be) { (void)be; return S24_OK; }
/* Only convolutions keep state on the CPU: oneDNN's plans (a plain block
 * without oneDNN, which s24_dnnl_conv_free also frees). */
static void cpu_state_free(struct s24_backend *be, void *state)
{
    (void)be;
    s24_dnnl_conv_free(state);
}
static void cpu_destroy(struct s24_backend *be)
{
    struct cpu_ctx *c = be->ctx;
    if (c) {
        free(c->var);
        s24_dnnl_free(c->dnnl);
    }
    free(c);
    be->ctx = NULL;
}

/* ---------------------------------------------------------------- layers */
/* Dense convs through oneDNN when the build has it; grouped ones, and any
 * shape oneDNN refuses (it says so before writing), through nn_conv.c. */
static int conv_fwd(struct s24_backend *be, void **state, const struct s24_conv_shape *s,
                    const float *x, const float *w, const float *b, float *y)
{
    struct cpu_ctx *c = be->ctx;
    if (c->dnnl && s->groups == 1) {
        int rc = s24_dnnl_conv2d_fwd(c->dnnl, state, s, x, w, b, y, &be->ws);
        if (rc != S24_ERR_UNSUPPORTED) return rc;
    }
    return s24_cpu_conv2d_fwd(s, x, w, b, y, &be->ws);
}
/* acc == 0 for a kernel that always adds into dx: dx zeroed first (the
 * bits of a gradient zeroed by the caller). oneDNN's convs and batch norm
 * take acc themselves and neither zero nor read dx. */
static void dx_fresh(float *dx, int acc, int64_t n)
{
    if (dx && !acc) memset(dx, 0, sizeof(float) * (size_t)n);
}
static int conv_bwd(struct s24_backend *be, void **state, const struct s24_conv_shape *s,
                    const float *x, const float *w, const float *dy, float *dx, int acc, float *dw,
                    float *db)
{
    struct cpu_ctx *c = be->ctx;
    if (c->dnnl && s->groups == 1) {
        /* a shape oneDNN refuses is refused before anything is written */
        int rc = s24_dnnl_conv2d_bwd(c->dnnl, state, s, x, w, dy, dx, acc, dw, db, &be->ws);
        if (rc != S24_ERR_UNSUPPORTED) return rc;
    }
    dx_fresh(dx, acc, s->n * s->h * s->w * s->c);
    return s24_cpu_conv2d_bwd(s, x, w, dy, dx, dw, db, &be->ws);
}
static int bn_train(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                    const float *gamma, const float *beta, float eps, float momentum,
                    enum s24_act act, float *y, float *mean, float *invstd, float *rmean,
                    float *rvar)
{
    struct cpu_ctx *cc = be->ctx;
    if ((size_t)c > cc->var_cap) {
        float *v = realloc(cc->var, (size_t)c * sizeof *v);
        if (!v) return s24_error(S24_ERR_NOMEM, "batch norm: variances");
        cc->var = v;
        cc->var_cap = (size_t)c;
    }
    int rc = s24_cpu_bn_fwd_train_act(rows, c, x, gamma, beta, eps, act, y, mean, cc->var, invstd,
                                      &be->ws);
    if (rc != S24_OK) return rc;
    if (!rmean || !rvar) return S24_OK;
    /* PyTorch's update: the running variance takes the unbiased estimate */
    float unb = (float)((double)rows / (double)(rows > 1 ? rows - 1 : 1));
    for (int64_t j = 0; j < c; j++) {
        rmean[j] = (1.0f - momentum) * rmean[j] + momentum * mean[j];
        rvar[j] = (1.0f - momentum) * rvar[j] + momentum * cc->var[j] * unb;
    }
    return S24_OK;
}
static int bn_eval(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                   const float *gamma, const float *beta, const float *rmean, const float *rvar,
                   float eps, enum s24_act act, float *y)
{
    (void)be;
    if (act != S24_ACT_NONE && act != S24_ACT_RELU && act != S24_ACT_SILU)
        return s24_error(S24_ERR_INVALID, "bn_eval: fused activation %d", (int)act);
    s24_cpu_bn_fwd_eval_act(rows, c, x, gamma, beta, rmean, rvar, eps, act, y);
    return S24_OK;
}
static int bn_bwd(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                  const float *mean, const float *invstd, const float *gamma, const float *beta,
                  enum s24_act act, const float *dy, float *dx, int acc, float *dgamma,
                  float *dbeta)
{
    return s24_cpu_bn_bwd_act(rows, c, x, mean, invstd, gamma, beta, act, dy, dx, acc, dgamma,
                              dbeta, &be->ws);
}
static int bn_stats(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                    const float *shift, float *sums)
{
    return s24_cpu_bn_stats(rows, c, x, shift, sums, &be->ws);
}
static int bn_fwd_apply(struct s24_backend *be, int64_t rows, int64_t c, int64_t total,
                        const float *x, const float *gamma, const float *beta, const float *sums,
                        const float *shift, float eps, float momentum, enum s24_act act, float *y,
                        float *mean, float *invstd, float *rmean, float *rvar)
{
    (void)be;
    return s24_cpu_bn_fwd_apply(rows, c, total, x, gamma, beta, sums, shift, eps, momentum, act,
                                y, mean, invstd, rmean, rvar);
}
static int bn_bwd_reduce(struct s24_backend *be, int64_t rows, int64_t c, const float *x,
                         const float *mean, const float *invstd, const float *gamma,
                         const float *beta, enum s24_act act, const float *dy, float *sums,
                         float *dgamma, float *dbeta)
{
    return s24_cpu_bn_bwd_reduce(rows, c, x, mean, invstd, gamma, beta, act, dy, sums, dgamma,
                                 dbeta, &be->ws);
}
static int bn_bwd_apply(struct s24_backend *be, int64_t rows, int64_t c, int64_t total,
                        const float *x, const float *mean, const float *invstd,
                        const float *gamma, const float *beta, enum s24_act act, const float *dy,
                        const float *sums, float *dx, int acc)
{
    return s24_cpu_bn_bwd_apply(rows, c, total, x, mean, invstd, gamma, beta, act, dy, sums, dx,
                                acc, &be->ws);
}
static int act_fwd(struct s24_backend *be, enum s24_act a, int64_t n, const float *x, float *y)
{
    (void)be;
    s24_cpu_act_fwd(a, n, x, y);
    return S24_OK;
}
static int act_bwd(struct s24_backend *be, enum s24_act a, int64_t n, const float *x,
                   const float *y, const float *dy, float *dx, int acc)
{
    (void)be;
    dx_fresh(dx, acc, n);
    s24_cpu_act_bwd(a, n, x, y, dy, dx);
    return S24_OK;
}
static int add_fwd(struct s24_backend *be, int64_t n, const float *a, const float *b,
                   enum s24_act act, float *y)
{
    (void)be;
    if (act == S24_ACT_RELU) {
        s24_cpu_add_relu_fwd(n, a, b, y);
    } else {
        s24_cpu_add_fwd(n, a, b, y);
        if (act != S24_ACT_NONE) s24_cpu_act_fwd(act, n, y, y);
    }
    return S24_OK;
}
static int acc(struct s24_backend *be, int64_t n, const float *dy, float *dx)
{
    (void)be;
    s24_cpu_acc(n, dy, dx);
    return S24_OK;
}
static int gap_fwd(struct s24_backend *be, int64_t n, int64_t hw, int64_t c, const float *x,
                   float *y)
{
    (void)be;
    s24_cpu_gap_fwd(n, hw, c, x, y);
    return S24_OK;
}
static int gap_bwd(struct s24_backend *be, int64_t n, int64_t hw, int64_t c, const float *dy,
                   float *dx)
{
    (void)be;
    s24_cpu_gap_bwd(n, hw, c, dy, dx);
    return S24_OK;
}
static int maxpool_fwd(struct s24_backend *be, const struct s24_pool_shape *s, const float *x,
                       float *y)
{
    (void)be;
    s24_cpu_maxpool_fwd(s, x, y);
    return S24_OK;
}
static int maxpool_bwd(struct s24_backend *be, const struct s24_pool_shape *s, const float *x,
                       const float *dy, float *dx)
{
    (void)be;
    s24_cpu_maxpool_bwd(s, x, dy, dx);
    return S24_OK;
}
static int scale_fwd(struct s24_backend *be, int64_t n, int64_t hw, int64_t c, const float *x,
                     const float *s, float *y)
{
    (void)be;
    s24_cpu_scale_fwd(n, hw, c, x, s, y);
    return S24_OK;
}
static int scale_bwd(struct s24_backend *be, int64_t n, int64_t hw, int64_t c, const float *x,
                     const float *s, const float *dy, float *dx, float *ds)
{
    (void)be;
    s24_cpu_scale_bwd(n, hw, c, x, s, dy, dx, ds);
    return S24_OK;
}
static int linear_fwd(struct s24_backend *be, int64_t n, int64_t in, int64_t out, const float *x,
                      const float *w, const float *b, float *y)
{
    (void)be;
    return s24_cpu_linear_fwd(n, in, out, x, w, b, y);
}
static int linear_bwd(struct s24_backend *be, int64_t n, int64_t in, int64_t out, const float *x,
                      const float *w, const float *dy, float *dx, float *dw, float *db)
{
    (void)be;
    return s24_cpu_linear_bwd(n, in, out, x, w, dy, dx, dw, db);
}
static int rowmask_fwd(struct s24_backend *be, int64_t rows, int64_t inner, const float *x,
                       const float *mask, float *y)
{
    (void)be;
    s24_cpu_rowmask_fwd(rows, inner, x, mask, y);
    return S24_OK;
}
static int rowmask_bwd(struct s24_backend *be, int64_t rows, int64_t inner, const float *mask,
                       const float *dy, float *dx)
{
    (void)be;
    s24_cpu_rowmask_bwd(rows, inner, mask, dy, dx);
    return S24_OK;
}
static int rowmask_draw(struct s24_backend *be, int64_t rows, float p, const uint64_t *key,
                        float *mask)
{
    (void)be;
    /* keep with probability 1-p, scaled by 1/(1-p) (PyTorch: survival 0 -> all 0) */
    float keep = 1.0f - p, scale = keep > 0.0f ? 1.0f / keep : 0.0f;
    for (int64_t r = 0; r < rows; r++)
        mask[r] = s24_keep_draw(*key, (uint64_t)r) < keep ? scale : 0.0f;
    return S24_OK;
}

/* ---------------------------------------------------------------- step */
static int xent(struct s24_backend *be, int n, int classes, const float *logits,
                const int32_t *labels, float *dlogits, double *accum)
{
    (void)be;
    int hits = 0;
    float l = s24_softmax_xent(logits, (const int *)labels, n, classes, dlogits, &hits);
    if (accum) {
        accum[0] += (double)l * n;
        accum[1] += hits;
    }
    return S24_OK;
}
static int sgd(struct s24_backend *be, int64_t n, float *p, float *g, float *buf,
               const uint8_t *mask, const float *hyper, float wd)
{
    (void)be;
    const float lr = hyper[0], mu = hyper[1];
    const int64_t chunk = 1 << 16;
    /* chunks of one tensor in parallel: element-wise, so the bits do not
     * depend on the thread count */
#pragma omp parallel for schedule(static) num_threads(s24_threads_get()) if (n > 4 * chunk)
    for (int64_t lo = 0; lo < n; lo += chunk) {
        int64_t len = n - lo < chunk ? n - lo : chunk;
        if (mask) /* as ASP: pruned gradients never reach the update */
            for (int64_t j = lo; j < lo + len; j++)
                if (!mask[j]) g[j] = 0.0f;
        s24_sgd_update(p + lo, g + lo, buf + lo, len, lr, mu, wd);
        if (mask)
            for (int64_t j = lo; j < lo + len; j++)
                if (!mask[j]) p[j] = buf[j] = 0.0f;
    }
    return S24_OK;
}
static int batch(struct s24_backend *be, const struct s24_batch_args *a)
{
    (void)be;
    s24_cpu_batch(a);
    return S24_OK;
}

/* A step "graph" on the CPU: fn and a copy of its context as it was when
 * recorded, called at each launch, with uploads, downloads and allocations
 * refused meanwhile (replay_refuses). Nothing is sped up; the point is that
 * the epoch loop's graph path (src/nn/tgraph.c) runs here too, on a context
 * frozen as a GPU's recorded kernel arguments are. */
struct cpu_graph {
    int (*fn)(void *);
    void *arg;
};

static int graph_capture(struct s24_backend *be, int (*fn)(void *), const void *arg,
                         size_t arg_bytes, void **g)
{
    (void)be;
    struct cpu_graph *c = malloc(sizeof *c);
    void *copy = malloc(arg_bytes ? arg_bytes : 1);
    *g = NULL;
    if (!c || !copy) {
        free(c);
        free(copy);
        return s24_error(S24_ERR_NOMEM, "cpu step graph: out of memory");
    }
    memcpy(copy, arg, arg_bytes);
    c->fn = fn, c->arg = copy;
    *g = c;
    return S24_OK;
}
static int graph_launch(struct s24_backend *be, void *g)
{
    struct cpu_graph *c = g;
    struct cpu_ctx *cx = be->ctx;
    cx->replaying = 1;
    int rc = c->fn(c->arg);
    cx->replaying = 0;
    return rc;
}
static void graph_free(struct s24_backend *be, void *g)
{
    (void)be;
    struct cpu_graph *c = g;
    if (c) free(c->arg);
    free(c);
}

static int mark(struct s24_backend *be, int k)
{
    struct cpu_ctx *c = be->ctx;
    if (k < 0 || k >= S24_MARKS) return s24_error(S24_ERR_INVALID, "mark %d out of range", k);
    c->marks[k] = s24_now();
    return S24_OK;
}
static int mark_ms(struct s24_backend *be, int a, int b, double *ms)
{
    struct cpu_ctx *c = be->ctx;
    if (a < 0 || b < 0 || a >= S24_MARKS || b >= S24_MARKS)
        return s24_error(S24_ERR_INVALID, "marks %d, %d out of range", a, b);
    *ms = 1e3 * (c->marks[b] - c->marks[a]);
    return S24_OK;
}

static const struct s24_be_ops cpu_ops = {
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .zero = cpu_zero,
    .copy = cpu_copy,
    .sync = cpu_sync,
    .state_free = cpu_state_free,
    .destroy = cpu_destroy,
    .conv2d_fwd = conv_fwd,
    .conv2d_bwd = conv_bwd,
    .bn_fwd_train = bn_train,
    .bn_fwd_eval = bn_eval,
    .bn_bwd = bn_bwd,
    .bn_stats = bn_stats,
    .bn_fwd_apply = bn_fwd_apply,
    .bn_bwd_reduce = bn_bwd_reduce,
    .bn_bwd_apply = bn_bwd_apply,
    .act_fwd = act_fwd,
    .act_bwd = act_bwd,
    .add_fwd = add_fwd,
    .acc = acc,
    .gap_fwd = gap_fwd,
    .gap_bwd = gap_bwd,
    .maxpool_fwd = maxpool_fwd,
    .maxpool_bwd = maxpool_bwd,
    .scale_fwd = scale_fwd,
    .scale_bwd = scale_bwd,
    .linear_fwd = linear_fwd,
    .linear_bwd = linear_bwd,
    .rowmask_fwd = rowmask_fwd,
    .rowmask_bwd = rowmask_bwd,
    .rowmask_draw = rowmask_draw,
    .xent = xent,
    .sgd = sgd,
    .batch = batch,
    .graph_capture = graph_capture,
    .graph_launch = graph_launch,
    .graph_free = graph_free,
    .mark = mark,
    .mark_ms = mark_ms,
};

int s24_cpu_backend_init(struct s24_backend *be)
{
    struct cpu_ctx *c = calloc(1, sizeof *c);
    if (!c) return s24_error(S24_ERR_NOMEM, "cpu backend: out of memory");
    be->ctx = c;
    be->ops = &cpu_ops;
    be->device = S24_DEVICE_CPU;
#ifdef S24_HAVE_DNNL
    /* a oneDNN that cannot start leaves the convs to nn_conv.c */
    if (s24_dnnl_init(&c->dnnl) != S24_OK) c->dnnl = NULL;
#endif
    if (c->dnnl)
        snprintf(be->name, sizeof be->name, "cpu (%d threads, %s convs)", s24_threads_get(),
                 s24_dnnl_version());
    else
        snprintf(be->name, sizeof be->name, "cpu (%d threads)", s24_threads_get());
    return S24_OK;
}
