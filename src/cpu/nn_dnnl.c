/* nn_dnnl.c: the CPU backend's dense convolutions (groups 1) through oneDNN's
 * C API, version 2 (Debian 12's libdnnl-dev 2.6), fp32, on the engine's own
 * layouts: NHWC activations and OHWI weights. Forward, backward-data and
 * backward-weights primitives are made once per shape and kept in the node's
 * state (a few shapes per node: the training batch, the last partial batch,
 * the eval batch); the engine, the stream and the attributes once per backend.
 * 1x1 stride-1 convs are plain GEMMs through oneDNN's sgemm instead.
 *
 * Activations stay NHWC, the engine's layout (a blocked one would mean a
 * reorder of every activation into and out of each conv). Weights are small,
 * so each primitive gets them in the layout it prefers ("any"): reordered
 * from OHWI per call (they change every step), and the weight gradient
 * reordered back with a sum post-op, which is the contract's dw +=. oneDNN
 * 2.6 refuses a sum post-op on both backward convolutions (unimplemented),
 * so dx goes through scratch and is added; db likewise. Direct algorithm
 * only: Winograd trades accuracy for speed, and the engine holds its
 * convolutions to 1e-5 of the reference.
 *
 * Not here: grouped and depthwise convolutions, other dtypes (nn_conv.c has
 * them), oneDNN 3's API (the build probe refuses it; nn_conv.c's im2col path
 * then does every convolution). Without S24_HAVE_DNNL the calls below are
 * stubs that say so. */
#include "cpu/cpu_nn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparse24/sparse24.h"

#ifdef S24_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define DNNL_SLOTS 4 /* shapes kept per node */
/* Weight reorders of fewer elements run on one thread: they take microseconds,
 * and a fork/join costs more than that, a time slice on a loaded machine
 * (measured alone on the 2-core machine at load ~4: a 64x3x3x3 reorder right
 * after a parallel region, 8-16 ms on 2 threads, 20 us on one).
 * Convolutions follow the engine's S24_PAR_MIN rule on their multiply-adds. */
#define DNNL_REORDER_PAR_MIN ((int64_t)1 << 18)

enum { DIR_FWD, DIR_BWD_DATA, DIR_BWD_W, DIR_N };

struct s24_dnnl {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    dnnl_primitive_attr_t attr;     /* scratchpad owned by the caller */
    dnnl_primitive_attr_t attr_sum; /* the same plus a sum post-op: dst += src */
};

/* One shape: the user layouts, the forward descriptor (also the hint every
 * backward descriptor needs) and, per direction once used, the primitive and
 * the weight reorder that goes with it. */
struct dnnl_plan {
    int used;
    struct s24_conv_shape key;
    int bias;    /* forward: with a bias; backward: with a bias gradient */
    int nt;      /* threads it was made for: oneDNN splits its work at creation */
    int rnt;     /* threads of its weight reorders */
    int refused; /* a bit per direction oneDNN could not make: the fallback's */
    uint64_t stamp;
    dnnl_memory_desc_t x_md, y_md, w_md, b_md; /* nhwc (n,c,h,w), nhwc, ohwi, (oc) */
    dnnl_primitive_desc_t fwd_pd;
    dnnl_primitive_t prim[DIR_N];
    /* DIR_FWD, DIR_BWD_DATA: w (OHWI) -> wk_md, NULL when the layouts agree;
     * DIR_BWD_W: the gradient in wk_md -> dw (OHWI), adding */
    dnnl_primitive_t re[DIR_N];
    dnnl_memory_desc_t wk_md[DIR_N]; /* the primitive's weight (gradient) layout */
    size_t wk_bytes[DIR_N];          /* its size; 0 for forward / backward-data when no reorder */
    size_t scratch[DIR_N];           /* bytes of scratchpad the primitive and reorder need */
};

struct s24_dnnl_conv {
    uint64_t clock;
    struct dnnl_plan slot[DNNL_SLOTS];
};

/* Creation failures mean "oneDNN cannot do this here" (the caller falls back
 * before anything was written); failures while running are errors. */
static int dnnl_status(dnnl_status_t st, int creating, const char *call, int line)
{
    if (st == dnnl_success) return S24_OK;
    int code = creating ? S24_ERR_UNSUPPORTED : S24_ERR_INVALID;
    if (st == dnnl_out_of_memory) code = S24_ERR_NOMEM;
    return s24_error(code, "oneDNN: %s failed (status %d) at %s:%d", call, (int)st, __FILE__,
                     line);
}
#define DN_MAKE(call)                                                                  \
    do {                                                                               \
        if ((rc = dnnl_status((call), 1, #call, __LINE__)) != S24_OK) goto fail;       \
    } while (0)
#define DN_RUN(call)                                                                   \
    do {                                                                               \
        if ((rc = dnnl_status((call), 0, #call, __LINE__)) != S24_OK) goto fail;       \
    } while (0)

/* Debian's oneDNN runs on OpenMP (libgomp, the engine's own pool, so no
 * second pool competes for the cores) and sizes its work by
 * omp_get_max_threads(): set to the count wanted around each creation and
 * run, and the caller's setting put back. */
static int threads_enter(int nt)
{
    int prev = nt;
#ifdef _OPENMP
    prev = omp_get_max_threads();
    if (prev != nt) omp_set_num_threads(nt);
#endif
    return prev;
}
static void threads_leave(int prev, int nt)
{
#ifdef _OPENMP
    if (prev != nt) omp_set_num_threads(prev);
#else
    (void)prev, (void)nt;
#endif
}

int s24_dnnl_init(struct s24_dnnl **out)
{
    int rc = S24_OK;
    dnnl_post_ops_t po = NULL;
    struct s24_dnnl *d = calloc(1, sizeof *d);
    *out = NULL;
    if (!d) return s24_error(S24_ERR_NOMEM, "oneDNN: out of memory for the context");
    DN_MAKE(dnnl_engine_create(&d->eng, dnnl_cpu, 0));
    DN_MAKE(dnnl_stream_create(&d->stream, d->eng, dnnl_stream_default_flags));
    DN_MAKE(dnnl_primitive_attr_create(&d->attr));
    DN_MAKE(dnnl_primitive_attr_set_scratchpad_mode(d->attr, dnnl_scratchpad_mode_user));
    DN_MAKE(dnnl_primitive_attr_create(&d->attr_sum));
    DN_MAKE(dnnl_primitive_attr_set_scratchpad_mode(d->attr_sum, dnnl_scratchpad_mode_user));
    DN_MAKE(dnnl_post_ops_create(&po));
    DN_MAKE(dnnl_post_ops_append_sum(po, 1.0f));
    DN_MAKE(dnnl_primitive_attr_set_post_ops(d->attr_sum, po));
    dnnl_post_ops_destroy(po);
    *out = d;
    return S24_OK;
fail:
    if (po) dnnl_post_ops_destroy(po);
    s24_dnnl_free(d);
    return rc;
}

void s24_dnnl_free(struct s24_dnnl *d)
{
    if (!d) return;
    if (d->attr_sum) dnnl_primitive_attr_destroy(d->attr_sum);
    if (d->attr) dnnl_primitive_attr_destroy(d->attr);
    if (d->stream) dnnl_stream_destroy(d->stream);
    if (d->eng) dnnl_engine_destroy(d->eng);
    free(d);
}

/* Written once (pthread_once): CPU backends may be created from several
 * threads at once (thread ranks, src/comm), and all read this text. */
static char dnnl_version_buf[64];
static void dnnl_version_init(void)
{
    const dnnl_version_t *v = dnnl_version();
    snprintf(dnnl_version_buf, sizeof dnnl_version_buf, "oneDNN %d.%d.%d", v->major, v->minor,
             v->patch);
}

const char *s24_dnnl_version(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, dnnl_version_init);
    return dnnl_version_buf;
}

/* Threads for a conv: one under S24_PAR_MIN multiply-adds, as the engine's
 * small ops. */
static int conv_threads(const struct s24_conv_shape *s)
{
    int64_t macs = s->n * s->oh * s->ow * s->oc * s->kh * s->kw * s->c;
    return macs < S24_PAR_MIN ? 1 : s24_threads_get();
}

/* ---------------------------------------------------------------- plans */
static void plan_clear(struct dnnl_plan *p)
{
    for (int d = 0; d < DIR_N; d++) {
        if (p->prim[d]) dnnl_primitive_destroy(p->prim[d]);
        if (p->re[d]) dnnl_primitive_destroy(p->re[d]);
    }
    if (p->fwd_pd) dnnl_primitive_desc_destroy(p->fwd_pd);
    memset(p, 0, sizeof *p);
}

void s24_dnnl_conv_free(void *state)
{
    struct s24_dnnl_conv *st = state;
    if (!st) return;
    for (int i = 0; i < DNNL_SLOTS; i++) plan_clear(&st->slot[i]);
    free(st);
}

/* dims of (n, c, h, w) in oneDNN's logical order, strides and the padding:
 * the right/bottom padding is what makes oneDNN's output size ours (it may
 * be negative, as for a 1x1 stride-2 conv of an even size). */
static void conv_geom(const struct s24_conv_shape *s, dnnl_dims_t st, dnnl_dims_t pl,
                      dnnl_dims_t pr)
{
    st[0] = st[1] = s->stride;
    pl[0] = pl[1] = s->pad;
    pr[0] = (s->oh - 1) * s->stride + s->kh - s->h - s->pad;
    pr[1] = (s->ow - 1) * s->stride + s->kw - s->w - s->pad;
}

static int conv_desc(const struct dnnl_plan *p, int dir, dnnl_convolution_desc_t *cd)
{
    const struct s24_conv_shape *s = &p->key;
    dnnl_dims_t st, pl, pr, wd = {s->oc, s->c, s->kh, s->kw};
    dnnl_memory_desc_t any;
    int rc = S24_OK;
    conv_geom(s, st, pl, pr);
    DN_MAKE(dnnl_memory_desc_init_by_tag(&any, 4, wd, dnnl_f32, dnnl_format_tag_any));
    const dnnl_memory_desc_t *b = p->bias ? &p->b_md : NULL;
    const dnnl_alg_kind_t alg = dnnl_convolution_direct;
    if (dir == DIR_FWD)
        DN_MAKE(dnnl_convolution_forward_desc_init(cd, dnnl_forward_training, alg, &p->x_md, &any,
                                                   b, &p->y_md, st, pl, pr));
    else if (dir == DIR_BWD_DATA)
        DN_MAKE(dnnl_convolution_backward_data_desc_init(cd, alg, &p->x_md, &any, &p->y_md, st,
                                                         pl, pr));
    else
        DN_MAKE(dnnl_convolution_backward_weights_desc_init(cd, alg, &p->x_md, &any, b, &p->y_md,
                                                            st, pl, pr));
fail:
    return rc;
}

static size_t scratch_bytes(const_dnnl_primitive_desc_t pd)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    return md ? dnnl_memory_desc_get_size(md) : 0;
}

static int plan_init(struct s24_dnnl *d, struct dnnl_plan *p, const struct s24_conv_shape *s,
                     int bias, int nt)
{
    const struct s24_conv_shape *k = s;
    dnnl_dims_t xd = {k->n, k->c, k->h, k->w}, yd = {k->n, k->oc, k->oh, k->ow};
    dnnl_dims_t wd = {k->oc, k->c, k->kh, k->kw}, bd = {k->oc};
    dnnl_convolution_desc_t cd;
    int rc = S24_OK;
    p->used = 1, p->key = *s, p->bias = bias, p->nt = nt;
    p->rnt = k->oc * k->kh * k->kw * k->c < DNNL_REORDER_PAR_MIN ? 1 : nt;
    DN_MAKE(dnnl_memory_desc_init_by_tag(&p->x_md, 4, xd, dnnl_f32, dnnl_nhwc));
    DN_MAKE(dnnl_memory_desc_init_by_tag(&p->y_md, 4, yd, dnnl_f32, dnnl_nhwc));
    DN_MAKE(dnnl_memory_desc_init_by_tag(&p->w_md, 4, wd, dnnl_f32, dnnl_ohwi));
    DN_MAKE(dnnl_memory_desc_init_by_tag(&p->b_md, 1, bd, dnnl_f32, dnnl_a));
    if ((rc = conv_desc(p, DIR_FWD, &cd)) != S24_OK) goto fail;
    DN_MAKE(dnnl_primitive_desc_create(&p->fwd_pd, &cd, d->attr, d->eng, NULL));
fail:
    return rc;
}

/* The direction's primitive and weight reorder, made on its first use. */
static int plan_dir(struct s24_dnnl *d, struct dnnl_plan *p, int dir)
{
    dnnl_primitive_desc_t pd = NULL, rpd = NULL;
    dnnl_convolution_desc_t cd;
    int rc = S24_OK;
    if (p->prim[dir]) return S24_OK;
    if (dir == DIR_FWD) {
        pd = p->fwd_pd;
    } else {
        if ((rc = conv_desc(p, dir, &cd)) != S24_OK) goto fail;
        DN_MAKE(dnnl_primitive_desc_create(&pd, &cd, d->attr, d->eng, p->fwd_pd));
    }
    /* oneDNN's reference convolution (what it offers where it has no kernel
     * for the CPU or shape) is far slower than the im2col path: refuse it.
     * Plain OHWI weights get only that one here (2.6, AVX-512 machine),
     * hence "any" and the reorders. */
    const char *impl = NULL;
    DN_MAKE(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
    if (!impl || !strncmp(impl, "ref", 3)) {
        rc = s24_error(S24_ERR_UNSUPPORTED, "oneDNN: only its reference convolution (%s) for "
                       "direction %d", impl ? impl : "?", dir);
        goto fail;
    }
    const dnnl_memory_desc_t *wk = dnnl_primitive_desc_query_md(
        pd, dir == DIR_BWD_W ? dnnl_query_diff_weights_md : dnnl_query_weights_md, 0);
    if (!wk) {
        rc = s24_error(S24_ERR_UNSUPPORTED, "oneDNN: no weight layout for direction %d", dir);
        goto fail;
    }
    p->wk_md[dir] = *wk;
    p->scratch[dir] = scratch_bytes(pd);
    if (dir == DIR_BWD_W) {
        DN_MAKE(dnnl_reorder_primitive_desc_create(&rpd, wk, d->eng, &p->w_md, d->eng,
                                                   d->attr_sum));
    } else if (!dnnl_memory_desc_equal(wk, &p->w_md)) {
        DN_MAKE(dnnl_reorder_primitive_desc_create(&rpd, &p->w_md, d->eng, wk, d->eng, d->attr));
    }
    if (rpd) {
        size_t rs = scratch_bytes(rpd);
        int prev = threads_enter(p->rnt);
        if (rs > p->scratch[dir]) p->scratch[dir] = rs;
        p->wk_bytes[dir] = dnnl_memory_desc_get_size(wk);
        rc = dnnl_status(dnnl_primitive_create(&p->re[dir], rpd), 1, "dnnl_primitive_create",
                         __LINE__);
        threads_leave(prev, p->rnt);
        if (rc != S24_OK) goto fail;
    }
    DN_MAKE(dnnl_primitive_create(&p->prim[dir], pd));
fail:
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (pd && pd != p->fwd_pd) dnnl_primitive_desc_destroy(pd);
    if (rc != S24_OK && p->re[dir]) {
        dnnl_primitive_destroy(p->re[dir]);
        p->re[dir] = NULL;
    }
    return rc;
}

/* The plan of this shape in the node's state (made on first sight, the
 * least recently used evicted), with the primitives of the directions in
 * `dirs` (a bit per direction) ready. A direction oneDNN refuses is
 * remembered, so the fallback costs no second attempt. */
static int plan_get(struct s24_dnnl *d, void **state, const struct s24_conv_shape *s, int bias,
                    int dirs, struct dnnl_plan **out)
{
    struct s24_dnnl_conv *st = *state;
    struct dnnl_plan *p = NULL;
    int nt = conv_threads(s), rc = S24_OK, found = 0;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st) return s24_error(S24_ERR_NOMEM, "oneDNN conv: out of memory for the node's state");
        *state = st;
    }
    for (int i = 0; i < DNNL_SLOTS && !found; i++) {
        struct dnnl_plan *q = &st->slot[i];
        /* all int64 fields, no padding bytes */
        found = q->used && !memcmp(&q->key, s, sizeof *s) && q->bias == bias && q->nt == nt;
        if (found || !p || !q->used || (p->used && q->stamp < p->stamp)) p = q; /* else oldest */
    }
    if (found && (p->refused & dirs)) return S24_ERR_UNSUPPORTED;
    int prev = threads_enter(nt);
    if (!found) {
        plan_clear(p);
        if ((rc = plan_init(d, p, s, bias, nt)) != S24_OK) dirs = (1 << DIR_N) - 1;
    }
    p->stamp = ++st->clock;
    for (int dir = 0; dir < DIR_N && rc == S24_OK; dir++)
        if (dirs & (1 << dir) && (rc = plan_dir(d, p, dir)) != S24_OK) dirs = 1 << dir;
    threads_leave(prev, nt);
    if (rc == S24_ERR_UNSUPPORTED) {
        p->refused |= dirs;
    } else if (rc != S24_OK) {
        plan_clear(p);
        return rc;
    }
    *out = p;
    return rc;
}

/* ---------------------------------------------------------------- running */
/* One primitive's arguments over caller buffers, for one call. */
struct args {
    int n;
    dnnl_memory_t m[8];
    dnnl_exec_arg_t a[8];
};

static int arg_add(struct s24_dnnl *d, struct args *as, int arg, const dnnl_memory_desc_t *md,
                   const void *ptr)
{
    int rc = S24_OK;
    dnnl_memory_t m = NULL;
    /* oneDNN takes every handle as writable; it writes only the outputs */
    DN_RUN(dnnl_memory_create(&m, md, d->eng, (void *)ptr));
    as->m[as->n] = m;
    as->a[as->n].arg = arg;
    as->a[as->n].memory = m;
    as->n++;
fail:
    return rc;
}

static void args_clear(struct args *as)
{
    for (int i = 0; i < as->n; i++) dnnl_memory_destroy(as->m[i]);
    as->n = 0;
}

/* Runs prim on `nt` threads on the arguments in as plus its scratchpad at sp
 * (if it needs one), waits, and drops the arguments. */
static int run(struct s24_dnnl *d, dnnl_primitive_t prim, struct args *as, void *sp, int nt)
{
    int rc = S24_OK, prev = threads_enter(nt);
    const_dnnl_primitive_desc_t pd = NULL;
    DN_RUN(dnnl_primitive_get_primitive_desc(prim, &pd));
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd && dnnl_memory_desc_get_size(smd) &&
        (rc = arg_add(d, as, DNNL_ARG_SCRATCHPAD, smd, sp)) != S24_OK)
        goto fail;
    DN_RUN(dnnl_primitive_execute(prim, d->stream, as->n, as->a));
    DN_RUN(dnnl_stream_wait(d->stream));
fail:
    threads_leave(prev, nt);
    args_clear(as);
    return rc;
}

/* w (OHWI) into the direction's layout at wk; a no-op when they agree. */
static int weights_in(struct s24_dnnl *d, struct dnnl_plan *p, int dir, const float *w, void *wk,
                      void *sp)
{
    struct args as = {0};
    int rc;
    if (!p->re[dir]) return S24_OK;
    if ((rc = arg_add(d, &as, DNNL_ARG_FROM, &p->w_md, w)) != S24_OK ||
        (rc = arg_add(d, &as, DNNL_ARG_TO, &p->wk_md[dir], wk)) != S24_OK) {
        args_clear(&as);
        return rc;
    }
    return run(d, p->re[dir], &as, sp, p->rnt);
}

static size_t up64(size_t b) { return (b + 63) & ~(size_t)63; }

/* The backend's scratch as one block of `bytes`, 64-byte aligned. */
static char *ws_block(struct s24_nn_ws *ws, size_t bytes)
{
    char *p = (char *)s24_nn_ws_get(ws, (up64(bytes) + 64) / sizeof(float));
    return p ? p + ((64 - ((uintptr_t)p & 63)) & 63) : NULL;
}

/* ---------------------------------------------------------------- 1x1 */
/* A 1x1 stride-1 unpadded conv is one GEMM each way on the NHWC data, and
 * oneDNN's sgemm accumulates in place (beta 1: no scratch, no reorder). On
 * EfficientNet-B0's 1x1 shapes it beat the primitive path below (its
 * reorders and scratch included; batch 64, 2 threads, the AVX-512 machine):
 * forward 1.0-4.2x, backward-data plus backward-weights 1.05-4.8x faster,
 * the primitives' 1x1 backward-weights being the slow part. No plan needed. */
static int is_pointwise(const struct s24_conv_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->stride == 1 && s->pad == 0;
}

static int sgemm(int nt, char ta, char tb, int64_t m, int64_t n, int64_t k, const float *a,
                 int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    int rc = S24_OK, prev = threads_enter(nt);
    DN_RUN(dnnl_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc));
fail:
    threads_leave(prev, nt);
    return rc;
}

/* y = x W^T + b: x (P, c), W (oc, c), y (P, oc), P = n*h*w */
static int pointwise_fwd(const struct s24_conv_shape *s, const float *x, const float *w,
                         const float *b, float *y)
{
    int64_t P = s->n * s->h * s->w, oc = s->oc;
    int nt = conv_threads(s);
    int rc = sgemm(nt, 'N', 'T', P, oc, s->c, x, s->c, w, s->c, 0.0f, y, oc);
    if (rc != S24_OK || !b) return rc;
#pragma omp parallel for num_threads(nt) schedule(static) if (P * oc > S24_PAR_MIN)
    for (int64_t r = 0; r < P; r++)
        for (int64_t o = 0; o < oc; o++) y[r * oc + o] += b[o];
    return S24_OK;
}

/* dW += dy^T x, dx += dy W, db[o] += sum over rows of dy (fp64 per channel) */
static int pointwise_bwd(const struct s24_conv_shape *s, const float *x, const float *w,
                         const float *dy, float *dx, int acc, float *dw, float *db)
{
    int64_t P = s->n * s->h * s->w, oc = s->oc, c = s->c;
    int nt = conv_threads(s);
    int rc = sgemm(nt, 'T', 'N', oc, c, P, dy, oc, x, c, 1.0f, dw, c);
    if (rc == S24_OK && dx)
        rc = sgemm(nt, 'N', 'N', P, c, oc, dy, oc, w, c, acc ? 1.0f : 0.0f, dx, c);
    if (rc != S24_OK || !db) return rc;
#pragma omp parallel for num_threads(nt) schedule(static) if (P * oc > S24_PAR_MIN)
    for (int64_t o = 0; o < oc; o++) {
        double sum = 0;
        for (int64_t r = 0; r < P; r++) sum += dy[r * oc + o];
        db[o] += (float)sum;
    }
    return S24_OK;
}

/* ---------------------------------------------------------------- entry */
int s24_dnnl_conv2d_fwd(struct s24_dnnl *d, void **state, const struct s24_conv_shape *s,
                        const float *x, const float *w, const float *b, float *y,
                        struct s24_nn_ws *ws)
{
    struct dnnl_plan *p = NULL;
    struct args as = {0};
    int rc;
    if (s->groups != 1)
        return s24_error(S24_ERR_UNSUPPORTED, "oneDNN conv: groups %lld", (long long)s->groups);
    if (is_pointwise(s)) return pointwise_fwd(s, x, w, b, y);
    if ((rc = plan_get(d, state, s, b != NULL, 1 << DIR_FWD, &p)) != S24_OK) return rc;
    /* scratch: the reordered weights, then the scratchpad */
    size_t wkb = up64(p->wk_bytes[DIR_FWD]);
    char *base = ws_block(ws, wkb + p->scratch[DIR_FWD]);
    if (!base) return s24_error(S24_ERR_NOMEM, "oneDNN conv: scratch");
    char *sp = base + wkb;
    const void *wk = p->re[DIR_FWD] ? (const void *)base : (const void *)w;
    if ((rc = weights_in(d, p, DIR_FWD, w, base, sp)) != S24_OK) goto fail;
    if ((rc = arg_add(d, &as, DNNL_ARG_SRC, &p->x_md, x)) != S24_OK ||
        (rc = arg_add(d, &as, DNNL_ARG_WEIGHTS, &p->wk_md[DIR_FWD], wk)) != S24_OK ||
        (rc = arg_add(d, &as, DNNL_ARG_DST, &p->y_md, y)) != S24_OK ||
        (b && (rc = arg_add(d, &as, DNNL_ARG_BIAS, &p->b_md, b)) != S24_OK))
        goto fail;
    rc = run(d, p->prim[DIR_FWD], &as, sp, p->nt);
fail:
    args_clear(&as);
    return rc;
}

int s24_dnnl_conv2d_bwd(struct s24_dnnl *d, void **state, const struct s24_conv_shape *s,
                        const float *x, const float *w, const float *dy, float *dx, int acc,
                        float *dw, float *db, struct s24_nn_ws *ws)
{
    struct dnnl_plan *p = NULL;
    struct args as = {0};
    int rc;
    if (s->groups != 1)
        return s24_error(S24_ERR_UNSUPPORTED, "oneDNN conv: groups %lld", (long long)s->groups);
    if (is_pointwise(s)) return pointwise_bwd(s, x, w, dy, dx, acc, dw, db);
    int dirs = (1 << DIR_BWD_W) | (dx ? 1 << DIR_BWD_DATA : 0);
    /* every primitive is made before anything is written, so a shape oneDNN
     * refuses can still go to the fallback */
    if ((rc = plan_get(d, state, s, db != NULL, dirs, &p)) != S24_OK) return rc;
    /* scratch: dx's (only where it is added to dx: acc) and db's results, the
     * weights of each direction, the largest scratchpad */
    size_t nx = (size_t)(s->n * s->h * s->w * s->c), oc = (size_t)s->oc;
    size_t dxb = dx && acc ? up64(nx * sizeof(float)) : 0;
    size_t dbb = db ? up64(oc * sizeof(float)) : 0;
    size_t wdb = dx ? up64(p->wk_bytes[DIR_BWD_DATA]) : 0, wgb = up64(p->wk_bytes[DIR_BWD_W]);
    size_t spb = p->scratch[DIR_BWD_W];
    if (dx && p->scratch[DIR_BWD_DATA] > spb) spb = p->scratch[DIR_BWD_DATA];
    char *base = ws_block(ws, dxb + dbb + wdb + wgb + spb);
    if (!base) return s24_error(S24_ERR_NOMEM, "oneDNN conv: scratch");
    float *dxt = (float *)base, *dbt = (float *)(base + dxb);
    char *wkd = base + dxb + dbb, *dwk = wkd + wdb, *sp = dwk + wgb;
    /* weights: dwk = the gradient in oneDNN's layout, then dw += it (the sum post-op) */
    if ((rc = arg_add(d, &as, DNNL_ARG_SRC, &p->x_md, x)) != S24_OK ||
        (rc = arg_add(d, &as, DNNL_ARG_DIFF_DST, &p->y_md, dy)) != S24_OK ||
        (rc = arg_add(d, &as, DNNL_ARG_DIFF_WEIGHTS, &p->wk_md[DIR_BWD_W], dwk)) != S24_OK ||
        (db && (rc = arg_add(d, &as, DNNL_ARG_DIFF_BIAS, &p->b_md, dbt)) != S24_OK) ||
        (rc = run(d, p->prim[DIR_BWD_W], &as, sp, p->nt)) != S24_OK)
        goto fail;
    if ((rc = arg_add(d, &as, DNNL_ARG_FROM, &p->wk_md[DIR_BWD_W], dwk)) != S24_OK ||
        (rc = arg_add(d, &as, DNNL_ARG_TO, &p->w_md, dw)) != S24_OK ||
        (rc = run(d, p->re[DIR_BWD_W], &as, sp, p->rnt)) != S24_OK)
        goto fail;
    if (db)
        for (size_t o = 0; o < oc; o++) db[o] += dbt[o];
    if (dx) {
        const void *wk = p->re[DIR_BWD_DATA] ? (const void *)wkd : (const void *)w;
        if ((rc = weights_in(d, p, DIR_BWD_DATA, w, wkd, sp)) != S24_OK ||
            (rc = arg_add(d, &as, DNNL_ARG_DIFF_DST, &p->y_md, dy)) != S24_OK ||
            (rc = arg_add(d, &as, DNNL_ARG_WEIGHTS, &p->wk_md[DIR_BWD_DATA], wk)) != S24_OK ||
            (rc = arg_add(d, &as, DNNL_ARG_DIFF_SRC, &p->x_md, acc ? dxt : dx)) != S24_OK ||
            (rc = run(d, p->prim[DIR_BWD_DATA], &as, sp, p->nt)) != S24_OK)
            goto fail;
        if (acc) s24_cpu_acc((int64_t)nx, dxt, dx);
    }
fail:
    args_clear(&as);
    return rc;
}

#else /* !S24_HAVE_DNNL */

int s24_dnnl_init(struct s24_dnnl **out)
{
    *out = NULL;
    return s24_error(S24_ERR_UNSUPPORTED, "built without oneDNN (USE_DNNL)");
}
void s24_dnnl_free(struct s24_dnnl *d) { (void)d; }
const char *s24_dnnl_version(void) { return NULL; }
void s24_dnnl_conv_free(void *state) { free(state); }
int s24_dnnl_conv2d_fwd(struct s24_dnnl *d, void **state, const struct s24_conv_shape *s,
                        const float *x, const float *w, const float *b, float *y,
                        struct s24_nn_ws *ws)
{
    return s24_error(S24_ERR_UNSUPPORTED, "built without oneDNN (USE_DNNL)");
}
int s24_dnnl_conv2d_bwd(struct s24_dnnl *d, void **state, const struct s24_conv_shape *s,
                        const float *x, const float *w, const float *dy, float *dx, int acc,
                        float *dw, float *db, struct s24_nn_ws *ws)
{
    return s24_error(S24_ERR_UNSUPPORTED, "built without oneDNN (USE_DNNL)");
}
#endif
