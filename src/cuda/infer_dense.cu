/* infer_dense.cu: the CUDA inference plan's dense convolutions (and linear
 * layers, as 1x1 convs over (n, 1, 1, in)) through cuDNN's legacy API in
 * NHWC fp16 or bf16 with fp32 accumulation: one state per layer holding the
 * descriptors and the algorithm cudnnFind timed fastest for the layer's
 * last shape (searched again when the batch changes). A ReLU after the
 * layer goes into cudnnConvolutionBiasActivationForward with the bias, and
 * so does a residual added right before that ReLU (its z input, alpha2 1);
 * cuDNN takes other activations there only with IMPLICIT_PRECOMP_GEMM, so
 * those (SiLU, sigmoid, none) run cudnnConvolutionForward with the
 * fastest algorithm and then the plan's own bias + activation pass. The
 * fused call's algorithm is the fastest of cudnnFind's first few timed in
 * that call (pick_fused), and the layer's note names it. Where
 * cuDNN refuses the fused call, the layer keeps the separate pass; where it
 * is missing or has no algorithm for the shape, the plan's direct kernel
 * runs the layer (slowly) and the layer's note says so.
 * Not here: the 2:4 path (infer_cuda.cu), training convolutions (nn_conv.cu). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/infer_cuda.h"

/* cudnnFind skips algorithms needing more workspace than this */
#define DNN_WS_MAX ((size_t)256 << 20)
/* cudnnFind's fastest this many are timed again in the fused call */
#define DNN_CANDS 4

int s24_icu_buf_grow(struct s24_icu_buf *b, size_t bytes, cudaStream_t s)
{
    int rc = S24_OK;
    if (bytes <= b->bytes && b->p) return S24_OK;
    if (b->p) {
        S24_GPU_CHECK(cudaStreamSynchronize(s));
        S24_GPU_CHECK(cudaFree(b->p));
        b->p = NULL, b->bytes = 0;
    }
    S24_GPU_CHECK(cudaMalloc(&b->p, bytes ? bytes : 1));
    b->bytes = bytes;
fail:
    return rc;
}

void s24_icu_buf_free(struct s24_icu_buf *b)
{
    if (b->p) cudaFree(b->p);
    b->p = NULL, b->bytes = 0;
}

/* The direct kernel, with a residual added in a second pass (the kernel
 * itself knows bias and activation only). */
static int direct(enum s24_dtype dt, const struct s24_conv_shape *cs, const void *x, const void *w,
                  const float *b32, const void *z, int act, void *y, cudaStream_t s)
{
    if (!z) return s24_icu_conv_direct(dt, cs, x, w, b32, act, y, s);
    int rc = s24_icu_conv_direct(dt, cs, x, w, b32, S24_ACT_NONE, y, s);
    return rc != S24_OK ? rc
                        : s24_icu_bias_act(dt, y, cs->n * cs->oh * cs->ow, cs->oc, NULL, z, act, s);
}

#ifdef S24_HAVE_CUDNN

struct s24_icu_dnn {
    struct s24_conv_shape key; /* the shape the descriptors are for */
    int made;
    int direct;    /* 1: cuDNN has no algorithm for this shape: the direct kernel */
    int fused_off; /* 1: cuDNN refused the fused bias + ReLU: separate pass */
    cudnnTensorDescriptor_t xd, yd, bd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    cudnnActivationDescriptor_t ad;
    cudnnConvolutionFwdAlgo_t algo;
    size_t ws;
    /* cudnnFind's usable algorithms, fastest first: the fused call is
     * timed over them once (pick_fused) */
    cudnnConvolutionFwdAlgo_t cand[DNN_CANDS];
    cudnnMathType_t cmath[DNN_CANDS];
    size_t cws[DNN_CANDS];
    int ncand, picked;
    enum s24_dtype dt; /* the shape's type, for the per-process memo */
    char why[96];      /* why the direct kernel */
};

static void dnn_clear(struct s24_icu_dnn *d)
{
    if (d->xd) cudnnDestroyTensorDescriptor(d->xd);
    if (d->yd) cudnnDestroyTensorDescriptor(d->yd);
    if (d->bd) cudnnDestroyTensorDescriptor(d->bd);
    if (d->wd) cudnnDestroyFilterDescriptor(d->wd);
    if (d->cd) cudnnDestroyConvolutionDescriptor(d->cd);
    if (d->ad) cudnnDestroyActivationDescriptor(d->ad);
    int off = d->fused_off;
    memset(d, 0, sizeof *d);
    d->fused_off = off; /* a refusal holds for every shape */
}

void s24_icu_dnn_free(struct s24_icu_dnn *st)
{
    if (!st) return;
    dnn_clear(st);
    free(st);
}

/* ---------------------------------------------------------------- per process */
/* What cudnnFind listed and what pick_fused chose, per device, dtype and
 * shape, kept for the process, so every plan of a shape runs the same
 * algorithms. Searched apart, two plans picked differently at small shapes,
 * each within its own timing noise: the dense plan of ResNet18-CIFAR at
 * batch 32 took 0.61 ms where an auto plan that kept every layer dense took
 * 0.35 (docs/results/infer-h200.md, third measurement). A full table
 * simply stops remembering. */
#define DNN_MEMO 256
struct dnn_memo {
    int used, device;
    enum s24_dtype dt;
    struct s24_conv_shape key;
    int ncand;
    cudnnConvolutionFwdAlgo_t cand[DNN_CANDS];
    cudnnMathType_t cmath[DNN_CANDS];
    size_t cmem[DNN_CANDS];
    int fused[2]; /* pick_fused's choice without and with a residual; -1 none yet */
};
static struct dnn_memo dnn_memo[DNN_MEMO];
static pthread_mutex_t dnn_memo_mu = PTHREAD_MUTEX_INITIALIZER;

/* The entry of (device, dt, cs), or a new one when `add` (NULL: none, table
 * full). Call with dnn_memo_mu held. */
static struct dnn_memo *memo_at(int device, enum s24_dtype dt, const struct s24_conv_shape *cs,
                                int add)
{
    for (int i = 0; i < DNN_MEMO; i++) {
        struct dnn_memo *m = &dnn_memo[i];
        if (!m->used) {
            if (!add) return NULL;
            memset(m, 0, sizeof *m);
            m->used = 1, m->device = device, m->dt = dt, m->key = *cs;
            m->fused[0] = m->fused[1] = -1;
            return m;
        }
        if (m->device == device && m->dt == dt && !memcmp(&m->key, cs, sizeof *cs)) return m;
    }
    return NULL;
}

static int current_device(void)
{
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) cudaGetLastError();
    return dev;
}

/* Descriptors for shape cs and the fastest algorithm cudnnFind reports
 * (timed on buffers it allocates itself); none usable: the direct kernel. */
static int dnn_make(struct s24_icu_dnn *d, cudnnHandle_t h, enum s24_dtype dt,
                    const struct s24_conv_shape *cs)
{
    int rc = S24_OK, ret = 0, dev;
    size_t mem[DNN_CANDS];
    struct dnn_memo *m;
    const cudnnTensorFormat_t f = CUDNN_TENSOR_NHWC;
    const cudnnDataType_t t = dt == S24_F16 ? CUDNN_DATA_HALF : CUDNN_DATA_BFLOAT16;
    cudnnConvolutionFwdAlgoPerf_t r[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    dnn_clear(d);
    d->key = *cs, d->made = 1, d->dt = dt;
    S24_GPU_CHECK(cudnnCreateTensorDescriptor(&d->xd));
    S24_GPU_CHECK(cudnnCreateTensorDescriptor(&d->yd));
    S24_GPU_CHECK(cudnnCreateTensorDescriptor(&d->bd));
    S24_GPU_CHECK(cudnnCreateFilterDescriptor(&d->wd));
    S24_GPU_CHECK(cudnnCreateConvolutionDescriptor(&d->cd));
    S24_GPU_CHECK(cudnnCreateActivationDescriptor(&d->ad));
    S24_GPU_CHECK(cudnnSetTensor4dDescriptor(d->xd, f, t, (int)cs->n, (int)cs->c, (int)cs->h,
                                             (int)cs->w));
    S24_GPU_CHECK(cudnnSetTensor4dDescriptor(d->yd, f, t, (int)cs->n, (int)cs->oc, (int)cs->oh,
                                             (int)cs->ow));
    S24_GPU_CHECK(cudnnSetTensor4dDescriptor(d->bd, f, t, 1, (int)cs->oc, 1, 1));
    S24_GPU_CHECK(cudnnSetFilter4dDescriptor(d->wd, t, f, (int)cs->oc, (int)(cs->c / cs->groups),
                                             (int)cs->kh, (int)cs->kw));
    /* compute type FLOAT: fp32 accumulation (cuDNN's "pseudo half" configs) */
    S24_GPU_CHECK(cudnnSetConvolution2dDescriptor(d->cd, (int)cs->pad, (int)cs->pad,
                                                  (int)cs->stride, (int)cs->stride, 1, 1,
                                                  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    S24_GPU_CHECK(cudnnSetConvolutionGroupCount(d->cd, (int)cs->groups));
    S24_GPU_CHECK(cudnnSetConvolutionMathType(d->cd, CUDNN_TENSOR_OP_MATH));
    S24_GPU_CHECK(cudnnSetActivationDescriptor(d->ad, CUDNN_ACTIVATION_RELU,
                                               CUDNN_NOT_PROPAGATE_NAN, 0.0));
    dev = current_device();
    pthread_mutex_lock(&dnn_memo_mu);
    m = memo_at(dev, dt, cs, 0);
    if (m && m->ncand) {
        d->ncand = m->ncand;
        memcpy(d->cand, m->cand, sizeof d->cand);
        memcpy(d->cmath, m->cmath, sizeof d->cmath);
        memcpy(mem, m->cmem, sizeof mem);
    }
    pthread_mutex_unlock(&dnn_memo_mu);
    if (!d->ncand) {
        cudnnStatus_t e = cudnnFindConvolutionForwardAlgorithm(
            h, d->xd, d->wd, d->cd, d->yd, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &ret, r);
        cudaGetLastError(); /* trial allocations cuDNN could not make leave their error behind */
        if (e != CUDNN_STATUS_SUCCESS) {
            /* a shape or type cuDNN does not do at all: the direct kernel does it */
            d->direct = 1;
            snprintf(d->why, sizeof d->why, "cudnnFind: %s", cudnnGetErrorString(e));
            return S24_OK;
        }
        for (int i = 0; i < ret && d->ncand < DNN_CANDS; i++) {
            if (r[i].status != CUDNN_STATUS_SUCCESS || r[i].memory > DNN_WS_MAX) continue;
            d->cand[d->ncand] = r[i].algo, d->cmath[d->ncand] = r[i].mathType;
            mem[d->ncand++] = r[i].memory;
        }
        pthread_mutex_lock(&dnn_memo_mu);
        m = d->ncand ? memo_at(dev, dt, cs, 1) : NULL;
        if (m && !m->ncand) {
            m->ncand = d->ncand;
            memcpy(m->cand, d->cand, sizeof m->cand);
            memcpy(m->cmath, d->cmath, sizeof m->cmath);
            memcpy(m->cmem, mem, sizeof m->cmem);
        }
        pthread_mutex_unlock(&dnn_memo_mu);
    }
    for (int i = 0; i < d->ncand; i++) {
        size_t q = 0;
        S24_GPU_CHECK(cudnnSetConvolutionMathType(d->cd, d->cmath[i]));
        S24_GPU_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, d->xd, d->wd, d->cd, d->yd,
                                                              d->cand[i], &q));
        d->cws[i] = q > mem[i] ? q : mem[i];
    }
    if (d->ncand) {
        S24_GPU_CHECK(cudnnSetConvolutionMathType(d->cd, d->cmath[0]));
        d->algo = d->cand[0], d->ws = d->cws[0];
        for (int i = 1; i < d->ncand; i++) d->ws = d->cws[i] > d->ws ? d->cws[i] : d->ws;
        return S24_OK;
    }
    d->direct = 1;
    snprintf(d->why, sizeof d->why, "cuDNN has no %s algorithm for this shape",
             dt == S24_F16 ? "fp16" : "bf16");
fail:
    return rc;
}

/* One fused conv + bias (+ residual) + ReLU call with candidate c of d. */
struct fused_try {
    struct s24_icu_dnn *d;
    cudnnHandle_t h;
    const void *x, *w, *b16, *z;
    void *y;
    struct s24_icu_buf *ws;
    int c;
};

static cudnnStatus_t fused_call(const struct fused_try *f)
{
    const struct s24_icu_dnn *d = f->d;
    const float one = 1.0f, zero = 0.0f;
    cudnnStatus_t e = cudnnSetConvolutionMathType(d->cd, d->cmath[f->c]);
    if (e != CUDNN_STATUS_SUCCESS) return e;
    return cudnnConvolutionBiasActivationForward(
        f->h, &one, d->xd, f->x, d->wd, f->w, d->cd, d->cand[f->c], f->ws->p, d->cws[f->c],
        f->z ? &one : &zero, d->yd, f->z ? f->z : f->y, d->bd, f->b16, d->ad, d->yd, f->y);
}

static int fused_try_run(void *ctx, cudaStream_t s)
{
    (void)s; /* the handle is bound to the plan's stream */
    cudnnStatus_t e = fused_call((const struct fused_try *)ctx);
    return e == CUDNN_STATUS_SUCCESS ? S24_OK
                                     : s24_error(S24_ERR_CUDNN, "cudnnConvolutionBiasActivation"
                                                 "Forward: %s", cudnnGetErrorString(e));
}

/* cudnnFind times the convolution alone; the plan runs the fused conv +
 * bias (+ residual) + ReLU, which cuDNN does in one kernel for some
 * algorithms and in several for others, and at small shapes Find's order
 * is within its own noise. So the fused call itself is timed over Find's
 * candidates on the layer's real buffers (the GEMM engine's interleaved
 * timing, s24_gpu_time_interleaved: one warm-up, 5 rounds, medians), once
 * per shape, and the fastest kept; a candidate the fused call refuses is
 * none. y is rewritten by the run that follows. Not under stream capture:
 * the first run at a shape runs plainly (infer_cuda.cu's graph_forward). */
static int pick_fused(struct s24_icu_dnn *d, cudnnHandle_t h, const void *x, const void *w,
                      const void *b16, const void *z, void *y, struct s24_icu_buf *ws,
                      s24_gpu_t *g)
{
    int rc = S24_OK, best = -1, n = 0;
    const int dev = current_device(), zi = z != NULL;
    struct fused_try f[DNN_CANDS];
    void *ctx[DNN_CANDS];
    s24_call_fn fn[DNN_CANDS];
    struct s24_gemm_timing tm[DNN_CANDS];
    d->picked = 1;
    if (d->ncand < 2) return S24_OK;
    /* another plan of this shape chose already, from the same candidates */
    pthread_mutex_lock(&dnn_memo_mu);
    const struct dnn_memo *mm = memo_at(dev, d->dt, &d->key, 0);
    int same = mm && mm->ncand == d->ncand && !memcmp(mm->cand, d->cand, sizeof d->cand);
    best = same ? mm->fused[zi] : -1;
    pthread_mutex_unlock(&dnn_memo_mu);
    if (best < 0) {
        for (int c = 0; c < d->ncand; c++) {
            struct fused_try one = {d, h, x, w, b16, z, y, ws, c};
            if (fused_call(&one) != CUDNN_STATUS_SUCCESS) continue;
            f[n] = one, ctx[n] = &f[n], fn[n++] = fused_try_run;
        }
        if (n > 1 && (rc = s24_gpu_time_interleaved(g, n, fn, ctx, 1, 5, 0, tm)) != S24_OK)
            return rc;
        int k = n ? 0 : -1;
        for (int i = 1; i < n; i++)
            if (tm[i].median_ms < tm[k].median_ms) k = i;
        best = k >= 0 ? f[k].c : -1;
        pthread_mutex_lock(&dnn_memo_mu);
        struct dnn_memo *m = best >= 0 ? memo_at(dev, d->dt, &d->key, 0) : NULL;
        if (m && m->ncand == d->ncand && !memcmp(m->cand, d->cand, sizeof d->cand))
            m->fused[zi] = best;
        pthread_mutex_unlock(&dnn_memo_mu);
    }
    if (best >= 0) d->algo = d->cand[best];
    S24_GPU_CHECK(cudnnSetConvolutionMathType(d->cd, d->cmath[best >= 0 ? best : 0]));
fail:
    return rc;
}

int s24_icu_dnn_run(struct s24_icu_dnn **stp, void *handle, enum s24_dtype dt, const char *layer,
                    const struct s24_conv_shape *cs, const void *x, const void *w,
                    const void *b16, const float *b32, const void *z, int act, void *y,
                    struct s24_icu_buf *ws, s24_gpu_t *g, char *note, size_t len)
{
    int rc = S24_OK;
    cudaStream_t s = g->stream;
    cudnnHandle_t h = (cudnnHandle_t)handle;
    struct s24_icu_dnn *d = *stp;
    const float one = 1.0f, zero = 0.0f;
    if (!h) {
        snprintf(note, len, "own direct conv (cuDNN not loaded)");
        return direct(dt, cs, x, w, b32, z, act, y, s);
    }
    if (!d) {
        d = (struct s24_icu_dnn *)calloc(1, sizeof *d);
        if (!d) return s24_error(S24_ERR_NOMEM, "infer: layer %s: out of memory", layer);
        *stp = d;
    }
    if (!d->made || memcmp(&d->key, cs, sizeof *cs)) {
        if ((rc = dnn_make(d, h, dt, cs)) != S24_OK) goto fail;
        if (!d->direct && (rc = s24_icu_buf_grow(ws, d->ws, s)) != S24_OK) goto fail;
    }
    if (d->direct) {
        snprintf(note, len, "own direct conv (%s)", d->why);
        return direct(dt, cs, x, w, b32, z, act, y, s);
    }
    if (act == S24_ACT_RELU && b16 && !d->fused_off && !d->picked &&
        (rc = pick_fused(d, h, x, w, b16, z, y, ws, g)) != S24_OK)
        goto fail;
    if (act == S24_ACT_RELU && b16 && !d->fused_off) {
        /* y = relu(1 * conv(x) + alpha2 * z + bias): alpha2 = 1 adds the
         * residual; without one z = y and alpha2 = 0 reads nothing that matters */
        cudnnStatus_t e = cudnnConvolutionBiasActivationForward(
            h, &one, d->xd, x, d->wd, w, d->cd, d->algo, ws->p, d->ws, z ? &one : &zero, d->yd,
            z ? z : y, d->bd, b16, d->ad, d->yd, y);
        if (e == CUDNN_STATUS_SUCCESS) {
            snprintf(note, len, "cuDNN fused bias+%sReLU, algo %d", z ? "add+" : "", (int)d->algo);
            return S24_OK;
        }
        /* refused before any launch: the separate pass from now on */
        d->fused_off = 1;
    }
    {
        cudnnStatus_t e = cudnnConvolutionForward(h, &one, d->xd, x, d->wd, w, d->cd, d->algo,
                                                  ws->p, d->ws, &zero, d->yd, y);
        if (CUDNN_STATUS_CATEGORY(e) == CUDNN_STATUS_NOT_SUPPORTED ||
            CUDNN_STATUS_CATEGORY(e) == CUDNN_STATUS_BAD_PARAM) {
            /* listed by cudnnFind, then refused before any launch: the direct kernel */
            d->direct = 1;
            snprintf(d->why, sizeof d->why, "cudnnConvolutionForward: %s", cudnnGetErrorString(e));
            snprintf(note, len, "own direct conv (%s)", d->why);
            return direct(dt, cs, x, w, b32, z, act, y, s);
        }
        S24_GPU_CHECK(e);
    }
    rc = s24_icu_bias_act(dt, y, cs->n * cs->oh * cs->ow, cs->oc, b32, z, act, s);
    if (!b32 && !z && act == S24_ACT_NONE)
        snprintf(note, len, "cuDNN%s alone", d->fused_off ? " (fused refused)" : "");
    else
        snprintf(note, len, "cuDNN%s + own %s%s%s", d->fused_off ? " (fused refused)" : "",
                 b32 ? "bias" : "", z ? "/add" : "", act == S24_ACT_NONE ? "" : "/act");
fail:
    if (rc != S24_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", s24_last_error());
        return s24_error(rc,
                         "infer: layer %s (dense, n %lld %lldx%lld c %lld -> %lld k %lld s %lld "
                         "g %lld): %s",
                         layer, (long long)cs->n, (long long)cs->h, (long long)cs->w,
                         (long long)cs->c, (long long)cs->oc, (long long)cs->kh,
                         (long long)cs->stride, (long long)cs->groups, msg);
    }
    return rc;
}

#else /* no cuDNN at build time: every dense layer on the direct kernel */

struct s24_icu_dnn {
    int unused;
};
void s24_icu_dnn_free(struct s24_icu_dnn *st) { free(st); }
int s24_icu_dnn_run(struct s24_icu_dnn **stp, void *handle, enum s24_dtype dt, const char *layer,
                    const struct s24_conv_shape *cs, const void *x, const void *w,
                    const void *b16, const float *b32, const void *z, int act, void *y,
                    struct s24_icu_buf *ws, s24_gpu_t *g, char *note, size_t len)
{
    (void)stp, (void)handle, (void)layer, (void)b16, (void)ws;
    snprintf(note, len, "own direct conv (built without cuDNN)");
    return direct(dt, cs, x, w, b32, z, act, y, g->stream);
}

#endif
