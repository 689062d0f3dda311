/* infer_cuda.cu: the inference plan on a GPU (sparse24_infer.h; infer.c
 * forwards here for a model on a CUDA backend). Weights and activations
 * are fp16 or bf16, NHWC, accumulation fp32; input and logits are fp32 host
 * arrays, converted on the device. The graph becomes a list of steps:
 *   - a conv or linear with its batch norm folded (infer_fold.c, the CPU
 *     plan's folding) and the activation after it fused where it is the
 *     only reader: dense through cuDNN (infer_dense.cu) or, for a 1x1 conv
 *     or a linear, a cuBLASLt GEMM where it timed faster (infer_lt.cu,
 *     pick_lt; S24_INFER_LT=0 never, =1 always where it can), a depthwise
 *     conv on the own kernel where it timed faster (infer_dw.cu, pick_lt;
 *     S24_INFER_DW=0 never, =1 always), or, where the folded
 *     weight is 2:4 and cuSPARSELt's size rules hold, as the GEMM
 *     D (OC x P) = W (OC x K, 2:4) X (K x P) through the GEMM engine's
 *     cuSPARSELt half (sparse_engine.h), X the NHWC activation itself for a
 *     1x1 stride-1 conv or a linear, else an im2col buffer; bias and ReLU in
 *     cuSPARSELt's epilogue, SiLU / sigmoid in the plan's own pass after it;
 *   - add (+ReLU), activations, unfolded batch norms, global average
 *     pooling, max pooling and the SE scale on infer_kernels.cu; dropout and stochastic
 *     depth (the identity in evaluation) share their input's buffer.
 * Positions are padded to ROW_PAD rows in every buffer, so the GEMM's n
 * meets cuSPARSELt's multiple for any batch; the padding rows only ever
 * feed padding rows. In AUTO, each eligible layer is timed both ways at the
 * first run (CUDA events, warm-ups, alternating pairs, medians) and the
 * faster kept by infer_choice.c's rule with a 2 % margin; then the whole
 * network is timed with those choices and all dense, and the choices stand
 * only if the network is faster with them (confirm).
 * After the first runs at a shape the steps replay as a CUDA graph
 * (graph_forward; S24_INFER_GRAPH=0 turns it off).
 * int8 (o->dtype S24_I8): the activations stay fp16 and every dense layer
 * is the fp16 plan's; a layer whose 2:4 path runs (forced or chosen) and
 * whose oc and k are multiples of 32 (cuSPARSELt's 8-bit rule) runs it as
 * an int8 GEMM instead: its input quantised per tensor on the way into the
 * GEMM (in im2col, or a pass for a 1x1 conv or linear), its folded weight
 * per output channel (infer_q8.c's numbers), int32 accumulation, and the
 * dequantisation w_scale[c] * a_scale in cuSPARSELt's epilogue as a per-row
 * alpha, the bias and a ReLU after it, fp16 out. The activation scales are
 * calibrated at creation on the fp16 dense network (q8_setup) or given.
 * Not here: int8 dense GEMMs, buffer reuse across slots (every slot keeps
 * its own buffer: simple, and what the per-layer test hook relies on). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/infer_cuda.h"
#include "cuda/nn_cuda.h"
#include "nn/infer_internal.h"

#define ROW_PAD 16         /* positions per buffer rounded up to this (cuSPARSELt: n % 8) */
/* The most positions one cuSPARSELt GEMM takes: 0.8.0 refused
 * cusparseLtMatmulDescriptorInit (NOT_SUPPORTED) at 3,211,264 (ResNet18's
 * layer1 at 224x224, batch 1024; EfficientNet-B0's first 1x1 at batch 256)
 * and ran 1,048,576 (ResNet18-CIFAR's layer1, batch 1024); larger GEMMs run
 * in chunks of this many columns (S24_INFER_SP_CHUNK, a multiple of
 * ROW_PAD, sets fewer: the tests run chunks at small shapes; read once per
 * plan, into sp_chunk). */
#define SP_MAX_N (1 << 20)
static int64_t sp_max_n(void)
{
    const char *e = getenv("S24_INFER_SP_CHUNK");
    long long v = e ? atoll(e) : 0;
    return v >= ROW_PAD && v % ROW_PAD == 0 && v < SP_MAX_N ? (int64_t)v : SP_MAX_N;
}
#define SPARSE_MARGIN 0.02 /* AUTO keeps 2:4 only when at least 2 % faster (the GEMM engine's) */
#define MEASURE_WARM 2     /* warm-up runs of each path (the first searches cuDNN, makes plans) */
#define MEASURE_PAIRS 9    /* timed runs of each path, alternating */

enum cstep_kind { CS_GEMM = 0, CS_AFFINE, CS_ACT, CS_ADD, CS_GAP, CS_SCALE, CS_MAXPOOL };

struct cstep {
    enum cstep_kind kind;
    int node, in, in2, out; /* the model node; buffer slots (after aliasing); CS_GEMM: in2 a
                             * residual added before the activation (the add it absorbed),
                             * -1 none */
    int act;                /* the activation fused into the step, S24_ACT_NONE if none */
    int layer;              /* CS_GEMM: its index in the report */
    /* CS_GEMM */
    int mout;               /* the model slot its output stands for (out is its buffer) */
    int bias_moved;         /* its bias went into the layer that adds its output (zeros here) */
    int linear;
    int64_t oc, k;          /* output channels; row length KH*KW*IC/groups (or in) */
    void *w;                /* (oc, k) dt on the device: OHWI, or (out, in) */
    void *b16;              /* (oc) dt: the folded bias, for the libraries' epilogues */
    float *b32;             /* (oc) fp32 for the own epilogue; CS_AFFINE: scale (c), shift (c) */
    struct s24_icu_dnn *dnn;
    struct s24_sp *sp;      /* the 2:4 plan for sp_n positions (a chunk of sp_chunk at
                             * most); NULL until first used */
    struct s24_sp *sp_tail; /* the plan for the last chunk's sp_tail_n when not a whole one */
    int64_t sp_n, sp_tail_n;
    int sp_act;             /* the 2:4 plan applies the ReLU itself */
    struct s24_icu_own *own; /* k x k convs: the own implicit-GEMM 2:4 kernel (infer_own.cu) */
    int own_ran;            /* the last 2:4 run was the own kernel's */
    int can_sparse;         /* eligible, a cuSPARSELt handle, and a path other than DENSE */
    int use_sparse;
    cudaEvent_t ev[2];      /* profiling: around the step */
    int timed;              /* ev recorded in this run */
    char note[64];          /* what the dense path ran (infer_dense.cu's note) */
    struct s24_icu_lt *lt;  /* the dense path as a cuBLASLt GEMM (1x1 convs, linears) */
    float *wdw;             /* depthwise: the folded weight fp32 (kh, kw, c), for infer_dw.cu */
    int lt_pick;            /* the dense path's engine at lt_np positions: 0 not yet timed,
                             * 1 the alternative (cuBLASLt GEMM; depthwise: the own
                             * kernel), 2 cuDNN */
    int64_t lt_np;
    /* int8 (the plan's q8): this layer's 2:4 path is an int8 GEMM */
    int q8, q8_refused;     /* refused: cuSPARSELt would not plan it, so its 2:4 path is fp16 */
    signed char *w8;        /* (oc, k) device: the folded weight quantised per output channel */
    float *wsc;             /* (oc) host: the weight scales */
    float *alpha;           /* (oc) device: wsc[c] * a_scale, cuSPARSELt's per-row alpha */
    float a_scale, a_inv;   /* the input's scale and 1 / scale */
};

struct s24_infer_cu {
    struct s24_model *m;
    cudaStream_t s;
    int device;
    void *dnn;              /* the backend's cudnnHandle_t (bound to s), NULL without cuDNN */
    enum s24_dtype dt;
    size_t es;              /* bytes per element of dt */
    enum s24_infer_path path;
    int decided, profile;
    int fuse_add;           /* residual adds absorbed into the layer before them */
    int own, cc_major;      /* the own 2:4 conv kernel wanted; the GPU's compute capability */
    int64_t sp_chunk;       /* positions per 2:4 GEMM call (sp_max_n) */
    int lt_force;           /* S24_INFER_LT=1: the GEMM wherever it runs, untimed (tests) */
    int dw_mode;            /* S24_INFER_DW: 0 cuDNN only, 1 the own depthwise kernel
                             * untimed, "scalar" (3) the same on its one-channel
                             * variant (tests), else timed against cuDNN (2) */
    struct s24_gpu ltg;     /* the backend's stream, cuBLASLt handle and workspace as a
                             * GEMM-engine context: the GEMMs of infer_lt.cu and the
                             * plan's timings run on it; ltg.lt NULL: cuDNN only */
    void *splt;             /* cuSPARSELt handle, NULL when none */
    int splt_tried;
    char splt_err[160];
    struct cstep *st;
    int ns;
    struct s24_infer_layer *layers;
    int nl;
    int *phys;              /* (model slots): the slot whose buffer holds this one */
    int64_t *ch;            /* (model slots): channels per position in the buffer: the
                             * slot's own, except the input padded to a multiple of 8 */
    void **buf;             /* (model slots) device buffers, (rows padded, c) dt */
    size_t *cap;            /* bytes */
    int64_t *sn, *sh, *sw;  /* the slots' current shapes */
    struct s24_icu_buf ws, cols, xin, yout; /* cuDNN workspace, im2col, input, logits (fp32) */
    cudaEvent_t mev[4 * MEASURE_PAIRS];
    int have_mev;
    /* CUDA graph of the steps at one shape (graph_forward) */
    int graphs, graph_off;  /* wanted (S24_INFER_GRAPH != 0); refused once, off for good */
    cudaGraphExec_t gexec;  /* for gn x gh x gw, NULL when none */
    int gn, gh, gw;
    int wn, wh, ww;         /* the shape last run plainly (the run a capture needs first) */
    char graph_why[160];    /* why capturing failed */
    int q8;                 /* an int8 plan (dt is then S24_F16) */
    float *amax;            /* (layers) device, while calibrating: each int8 input's max |x| */
};

static int64_t pad_rows(int64_t p) { return (p + ROW_PAD - 1) / ROW_PAD * ROW_PAD; }

/* Turns the error rc of layer `name` into one that names it. */
static int layer_err(int rc, const char *name, const char *what)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", s24_last_error());
    return s24_error(rc, "infer (cuda): layer %s: %s: %s", name, what, msg);
}

/* fp32 host -> dt device (n elements), through the input staging buffer */
static int upload_dt(struct s24_infer_cu *p, const float *h, int64_t n, void **out)
{
    int rc = S24_OK;
    *out = NULL;
    if ((rc = s24_icu_buf_grow(&p->xin, sizeof(float) * (size_t)n, p->s)) != S24_OK) return rc;
    S24_GPU_CHECK(cudaMalloc(out, p->es * (size_t)n));
    S24_GPU_CHECK(
        cudaMemcpyAsync(p->xin.p, h, sizeof(float) * (size_t)n, cudaMemcpyHostToDevice, p->s));
    if ((rc = s24_icu_from_f32(p->dt, (const float *)p->xin.p, *out, n, p->s)) != S24_OK) goto fail;
    S24_GPU_CHECK(cudaStreamSynchronize(p->s));
fail:
    return rc;
}

static int upload_f32(struct s24_infer_cu *p, const float *h, int64_t n, float **out)
{
    int rc = S24_OK;
    *out = NULL;
    S24_GPU_CHECK(cudaMalloc((void **)out, sizeof(float) * (size_t)n));
    S24_GPU_CHECK(
        cudaMemcpyAsync(*out, h, sizeof(float) * (size_t)n, cudaMemcpyHostToDevice, p->s));
    S24_GPU_CHECK(cudaStreamSynchronize(p->s));
fail:
    return rc;
}

/* A depthwise layer's folded weight (c, taps) as the own kernel reads it:
 * (taps, c) fp32, each value rounded to dt first, so it computes with the
 * weights cuDNN gets. */
static int upload_dw(struct s24_infer_cu *p, const float *w, int64_t c, int64_t taps, float **out)
{
    float *h = (float *)malloc(sizeof(float) * (size_t)(c * taps));
    if (!h) return s24_error(S24_ERR_NOMEM, "infer (cuda): out of memory");
    for (int64_t j = 0; j < c; j++)
        for (int64_t q = 0; q < taps; q++) {
            float v = w[j * taps + q];
            h[q * c + j] = p->dt == S24_F16 ? s24_f16_to_f32(s24_f32_to_f16(v))
                                            : s24_bf16_to_f32(s24_f32_to_bf16(v));
        }
    int rc = upload_f32(p, h, c * taps, out);
    free(h);
    return rc;
}

/* The activation node right after `after` that is the only reader of slot s, or -1. */
static int fusable_act(const struct s24_model *m, int s, int after)
{
    int j = s24_fold_sole_reader(m, s);
    return j == after + 1 && m->nodes[j].op == S24_N_ACT ? j : -1;
}

/* ---------------------------------------------------------------- building */
/* The residual `other` that add node j puts into the layer being built,
 * when an earlier conv or linear step computed it with no activation and
 * nothing else reads it (ResNet's conv2 of a block with a downsample: the
 * add goes into the downsample conv, after it): that step's bias is added
 * to `bias` (host, oc) and zeroed on the device, so its dense path runs the
 * convolution alone instead of the convolution and a bias pass over its
 * output (the add is linear, so the sum is the same); the 2:4 paths add
 * its zeros in their epilogues for free. */
static int move_bias(struct s24_infer_cu *p, int other, int j, float *bias, int64_t oc)
{
    struct cstep *c = NULL;
    int rc = S24_OK;
    for (int i = p->ns - 2; i >= 0 && !c; i--)
        if (p->st[i].kind == CS_GEMM && p->st[i].mout == other) c = &p->st[i];
    if (!c || c->act != S24_ACT_NONE || c->in2 >= 0 || c->oc != oc || c->bias_moved ||
        s24_fold_sole_reader(p->m, other) != j)
        return S24_OK;
    float *hb = (float *)malloc(sizeof(float) * (size_t)oc);
    if (!hb) return s24_error(S24_ERR_NOMEM, "infer (cuda): out of memory");
    /* on the plan's stream (non-blocking: the legacy stream would not order with it) */
    S24_GPU_CHECK(cudaMemcpyAsync(hb, c->b32, sizeof(float) * (size_t)oc, cudaMemcpyDeviceToHost,
                                  p->s));
    S24_GPU_CHECK(cudaStreamSynchronize(p->s));
    for (int64_t o = 0; o < oc; o++) bias[o] += hb[o];
    S24_GPU_CHECK(cudaMemsetAsync(c->b32, 0, sizeof(float) * (size_t)oc, p->s));
    S24_GPU_CHECK(cudaMemsetAsync(c->b16, 0, p->es * (size_t)oc, p->s)); /* +0.0 in fp16 and bf16 */
    S24_GPU_CHECK(cudaStreamSynchronize(p->s));
    c->bias_moved = 1;
fail:
    free(hb);
    return rc;
}

/* Step t's int8 weight: w (oc, k) host fp32 quantised per output channel
 * into t->w8 (device) and t->wsc (host) */
static int upload_q8(struct s24_infer_cu *p, struct cstep *t, const float *w)
{
    int rc = S24_OK;
    size_t n = (size_t)(t->oc * t->k);
    signed char *q = (signed char *)malloc(n);
    t->wsc = (float *)malloc(sizeof(float) * (size_t)t->oc);
    if (!q || !t->wsc) {
        free(q);
        return s24_error(S24_ERR_NOMEM, "infer (cuda): out of memory");
    }
    s24_q8_weight(w, t->oc, t->k, q, t->wsc);
    S24_GPU_CHECK(cudaMalloc((void **)&t->w8, n));
    S24_GPU_CHECK(cudaMemcpyAsync(t->w8, q, n, cudaMemcpyHostToDevice, p->s));
    S24_GPU_CHECK(cudaStreamSynchronize(p->s));
fail:
    free(q);
    return rc;
}

static int add_gemm(struct s24_infer_cu *p, int i, int *skip)
{
    struct s24_model *m = p->m;
    const struct s24_node *nd = &m->nodes[i];
    struct cstep *t = &p->st[p->ns];
    struct s24_infer_layer *L = &p->layers[p->nl];
    struct s24_fold f;
    int rc = s24_fold_layer(m, i, &f);
    if (rc != S24_OK) return rc;
    memset(t, 0, sizeof *t);
    memset(L, 0, sizeof *L);
    p->ns++, p->nl++; /* from here s24_infer_cu_free frees the step */
    t->kind = CS_GEMM, t->node = i, t->layer = p->nl - 1, t->act = S24_ACT_NONE;
    t->in = p->phys[nd->in], t->out = f.out, t->in2 = -1;
    t->linear = nd->op == S24_N_LINEAR;
    t->oc = f.oc, t->k = f.row;
    int last = f.bn >= 0 ? f.bn : i, j = s24_fold_sole_reader(m, f.out);
    t->mout = f.out;
    if (j == last + 1 && m->nodes[j].op == S24_N_ADD && p->fuse_add) {
        /* a residual add right after: its other operand is computed already
         * (the graph is in order), so the layer adds it before its activation */
        int other = m->nodes[j].in == f.out ? m->nodes[j].in2 : m->nodes[j].in;
        t->in2 = p->phys[other];
        t->out = m->nodes[j].out, t->mout = m->nodes[j].out, last = j;
        if ((rc = move_bias(p, other, j, f.b, f.oc)) != S24_OK) {
            s24_fold_free(&f);
            return rc;
        }
    }
    int a = fusable_act(m, t->mout, last);
    if (a >= 0) t->act = m->nodes[a].act, t->out = m->nodes[a].out, t->mout = t->out, last = a;
    *skip = last - i;
    snprintf(L->name, sizeof L->name, "%s", m->params[nd->pw].name);
    L->m = f.oc, L->k = f.row, L->folded_bn = f.bn >= 0;
    char why[112];
    snprintf(why, sizeof why, "%s", f.why);
    if (f.is24) {
        struct s24_gemm_desc d;
        s24_gemm_desc_init(&d, f.oc, ROW_PAD, f.row, p->dt);
        d.bias = 1;
        if (s24_gemm_check(&d, S24_GEMM_SPARSE) != S24_OK)
            snprintf(why, sizeof why, "2:4, but OC %lld, K %lld are not multiples of 16 "
                     "(cuSPARSELt)", (long long)f.oc, (long long)f.row);
        s24_clear_error();
    }
    L->eligible = f.is24 && !*why;
    if (L->eligible && p->path != S24_INFER_DENSE && !p->splt_tried) {
        int ver = 0;
        p->splt_tried = 1;
        if (s24_sp_handle_create(&p->splt, &ver) != S24_OK) {
            snprintf(p->splt_err, sizeof p->splt_err, "%s", s24_last_error());
            s24_clear_error();
            p->splt = NULL;
            if (p->path == S24_INFER_SPARSE) {
                rc = s24_error(S24_ERR_UNSUPPORTED, "infer (cuda): the 2:4 path needs "
                               "cuSPARSELt (layer %s is 2:4): %s", L->name, p->splt_err);
                goto done;
            }
        }
    }
    if (L->eligible) {
        if (p->path == S24_INFER_DENSE) snprintf(why, sizeof why, "dense asked for");
        else if (!p->splt) snprintf(why, sizeof why, "2:4, but no cuSPARSELt: dense");
        else snprintf(why, sizeof why, p->path == S24_INFER_AUTO ? "2:4 until measured"
                                                                  : "2:4 asked for");
    }
    snprintf(L->why, sizeof L->why, "%s", why);
    t->can_sparse = L->eligible && p->path != S24_INFER_DENSE && p->splt;
    t->use_sparse = L->sparse = t->can_sparse;
    int64_t cin, cpad;
    cin = m->slots[nd->in].c, cpad = p->ch[t->in];
    if (!t->linear && cpad != cin) {
        /* the padded input's extra channels meet zero weights */
        int64_t taps = f.row / cin;
        float *wp = (float *)calloc((size_t)(f.oc * taps * cpad), sizeof(float));
        if (!wp) {
            rc = s24_error(S24_ERR_NOMEM, "infer (cuda): out of memory");
            goto done;
        }
        for (int64_t r = 0; r < f.oc * taps; r++)
            memcpy(wp + r * cpad, f.w + r * cin, sizeof(float) * (size_t)cin);
        free(f.w);
        f.w = wp, f.row = taps * cpad, t->k = f.row;
    }
    if ((rc = upload_dt(p, f.w, f.oc * f.row, &t->w)) != S24_OK ||
        (rc = upload_dt(p, f.b, f.oc, &t->b16)) != S24_OK ||
        (rc = upload_f32(p, f.b, f.oc, &t->b32)) != S24_OK ||
        (!t->linear && nd->groups > 1 && nd->groups == cin && f.oc == cin && p->dw_mode &&
         (rc = upload_dw(p, f.w, f.oc, f.row, &t->wdw)) != S24_OK))
        rc = layer_err(rc, L->name, "uploading the folded weight");
    t->q8 = p->q8 && t->can_sparse && s24_q8_layer_ok(1, f.oc, t->k);
    if (rc == S24_OK && t->q8 && (rc = upload_q8(p, t, f.w)) != S24_OK)
        rc = layer_err(rc, L->name, "uploading the int8 weight");
    if (rc == S24_OK && (cudaEventCreate(&t->ev[0]) != cudaSuccess ||
                         cudaEventCreate(&t->ev[1]) != cudaSuccess)) {
        cudaGetLastError();
        rc = s24_error(S24_ERR_CUDA, "infer (cuda): layer %s: cudaEventCreate failed", L->name);
    }
done:
    s24_fold_free(&f);
    return rc;
}

/* A batch norm nothing folded: y = act(x * scale + shift), per channel. */
static int add_affine(struct s24_infer_cu *p, int i, int *skip)
{
    struct s24_model *m = p->m;
    const struct s24_node *nd = &m->nodes[i];
    int64_t c = m->slots[nd->in].c;
    float *h = (float *)malloc(sizeof(float) * 2 * (size_t)c);
    if (!h) return s24_error(S24_ERR_NOMEM, "infer (cuda): out of memory");
    const float *g = m->params[nd->pw].data, *be = m->params[nd->pb].data;
    const float *mu = m->params[nd->prm].data, *var = m->params[nd->prv].data;
    for (int64_t o = 0; o < c; o++) {
        double sc = (double)g[o] / sqrt((double)var[o] + (double)nd->eps);
        h[o] = (float)sc, h[c + o] = (float)(be[o] - mu[o] * sc);
    }
    struct cstep *t = &p->st[p->ns++];
    t->kind = CS_AFFINE, t->node = i, t->in = p->phys[nd->in], t->out = nd->out, t->layer = -1;
    t->act = S24_ACT_NONE;
    int a = fusable_act(m, nd->out, i);
    if (a >= 0) t->act = m->nodes[a].act, t->out = m->nodes[a].out, *skip = 1;
    int rc = upload_f32(p, h, 2 * c, &t->b32);
    free(h);
    return rc;
}

void s24_infer_cu_free(struct s24_infer_cu *p)
{
    if (!p) return;
    cudaSetDevice(p->device);
    cudaStreamSynchronize(p->s);
    for (int i = 0; p->st && i < p->ns; i++) {
        struct cstep *t = &p->st[i];
        if (t->w) cudaFree(t->w);
        if (t->b16) cudaFree(t->b16);
        if (t->b32) cudaFree(t->b32);
        if (t->wdw) cudaFree(t->wdw);
        if (t->w8) cudaFree(t->w8);
        if (t->alpha) cudaFree(t->alpha);
        free(t->wsc);
        s24_icu_dnn_free(t->dnn);
        s24_sp_free(t->sp);
        s24_sp_free(t->sp_tail);
        s24_icu_lt_free(t->lt);
        s24_icu_own_free(t->own);
        if (t->ev[0]) cudaEventDestroy(t->ev[0]);
        if (t->ev[1]) cudaEventDestroy(t->ev[1]);
    }
    for (int i = 0; p->have_mev && i < 4 * MEASURE_PAIRS; i++) cudaEventDestroy(p->mev[i]);
    if (p->gexec) cudaGraphExecDestroy(p->gexec);
    for (int i = 0; p->buf && i < p->m->ns; i++)
        if (p->buf[i]) cudaFree(p->buf[i]);
    s24_icu_buf_free(&p->ws), s24_icu_buf_free(&p->cols);
    s24_icu_buf_free(&p->xin), s24_icu_buf_free(&p->yout);
    if (p->amax) cudaFree(p->amax);
    s24_sp_handle_destroy(p->splt);
    free(p->st), free(p->layers), free(p->phys), free(p->ch), free(p->buf), free(p->cap);
    free(p->sn), free(p->sh), free(p->sw);
    free(p);
}

static int q8_setup(struct s24_infer_cu *p, const struct s24_infer_opts *o);

int s24_infer_cu_create(struct s24_model *m, const struct s24_infer_opts *o,
                        struct s24_infer_cu **out)
{
    int rc = S24_OK;
    struct s24_backend *be = s24_model_backend(m);
    struct s24_cuda_nn *cx = s24_cu(be);
    struct s24_infer_cu *p = (struct s24_infer_cu *)calloc(1, sizeof *p);
    *out = NULL;
    if (!p) return s24_error(S24_ERR_NOMEM, "infer (cuda): out of memory");
    p->m = m, p->s = cx->stream, p->device = cx->device, p->dnn = cx->dnn;
    {
        /* the cuBLASLt route for dense 1x1 convs and linears; S24_INFER_LT=0
         * keeps every dense layer on cuDNN */
        const char *e = getenv("S24_INFER_LT");
        memset(&p->ltg, 0, sizeof p->ltg);
        p->ltg.device = cx->device, p->ltg.stream = cx->stream;
        p->ltg.lt = e && !strcmp(e, "0") ? NULL : cx->lt;
        p->lt_force = e && !strcmp(e, "1");
        const char *d = getenv("S24_INFER_DW");
        p->dw_mode = !d ? 2 : !strcmp(d, "0") ? 0 : !strcmp(d, "1") ? 1
                                 : !strcmp(d, "scalar") ? 3 : 2;
        p->sp_chunk = sp_max_n();
        p->ltg.dense_ws = cx->lt_ws, p->ltg.dense_ws_bytes = cx->lt_ws_bytes;
    }
    /* int8: the activations and every dense layer fp16, the 2:4 GEMMs int8 */
    p->q8 = o->dtype == S24_I8;
    p->dt = p->q8 ? S24_F16 : (enum s24_dtype)o->dtype, p->es = s24_dtype_size(p->dt);
    p->path = (enum s24_infer_path)o->path;
    p->st = (struct cstep *)calloc((size_t)m->nn, sizeof *p->st);
    p->layers = (struct s24_infer_layer *)calloc((size_t)m->nn, sizeof *p->layers);
    p->phys = (int *)calloc((size_t)m->ns, sizeof *p->phys);
    p->ch = (int64_t *)calloc((size_t)m->ns, sizeof *p->ch);
    p->buf = (void **)calloc((size_t)m->ns, sizeof *p->buf);
    p->cap = (size_t *)calloc((size_t)m->ns, sizeof *p->cap);
    p->sn = (int64_t *)calloc((size_t)m->ns, sizeof *p->sn);
    p->sh = (int64_t *)calloc((size_t)m->ns, sizeof *p->sh);
    p->sw = (int64_t *)calloc((size_t)m->ns, sizeof *p->sw);
    if (!p->st || !p->layers || !p->phys || !p->ch || !p->buf || !p->cap || !p->sn || !p->sh ||
        !p->sw) {
        s24_infer_cu_free(p);
        return s24_error(S24_ERR_NOMEM, "infer (cuda): out of memory");
    }
    for (int s = 0; s < m->ns; s++) p->phys[s] = s, p->ch[s] = m->slots[s].c;
    {
        /* S24_INFER_FUSE_ADD=0 keeps residual adds as steps of their own (to compare) */
        const char *e = getenv("S24_INFER_FUSE_ADD");
        p->fuse_add = !(e && !strcmp(e, "0"));
        int cc = 0;
        S24_GPU_CHECK(cudaDeviceGetAttribute(&cc, cudaDevAttrComputeCapabilityMajor, p->device));
        p->cc_major = cc, p->own = s24_icu_own_wanted() && cc >= 8;
        e = getenv("S24_INFER_GRAPH");
        p->graphs = !(e && !strcmp(e, "0"));
    }
    {
        /* The input's channels (3) padded to 8 when only ungrouped convs read
         * it: cuDNN runs a 3-channel fp16 stem on slow kernels (3.1 of the
         * 8.0 ms of ImageNet ResNet18 at batch 256, docs/results/infer-h200.md) */
        int64_t c = m->slots[m->in_slot].c;
        int ok = c % 8 != 0;
        for (int i = 0; i < m->nn && ok; i++) {
            const struct s24_node *nd = &m->nodes[i];
            int reads = nd->in == m->in_slot || nd->in2 == m->in_slot;
            if (reads && !(nd->op == S24_N_CONV && nd->groups == 1 && nd->in2 != m->in_slot))
                ok = 0;
        }
        if (ok) p->ch[m->in_slot] = (c + 7) / 8 * 8;
    }
    S24_GPU_CHECK(cudaSetDevice(p->device));
    for (int i = 0; i < m->nn && rc == S24_OK; i++) {
        const struct s24_node *nd = &m->nodes[i];
        int skip = 0;
        struct cstep *t = &p->st[p->ns];
        switch (nd->op) {
        case S24_N_CONV:
        case S24_N_LINEAR: rc = add_gemm(p, i, &skip); break;
        case S24_N_BN: rc = add_affine(p, i, &skip); break;
        case S24_N_DROPOUT:
        case S24_N_SDEPTH: p->phys[nd->out] = p->phys[nd->in]; break; /* the identity */
        case S24_N_ACT:
        case S24_N_ADD:
        case S24_N_GAP:
        case S24_N_SCALE:
        case S24_N_MAXPOOL:
            memset(t, 0, sizeof *t);
            p->ns++;
            t->kind = nd->op == S24_N_ACT ? CS_ACT : nd->op == S24_N_ADD ? CS_ADD
                      : nd->op == S24_N_GAP ? CS_GAP : nd->op == S24_N_MAXPOOL ? CS_MAXPOOL
                      : CS_SCALE;
            t->node = i, t->in = p->phys[nd->in], t->out = nd->out, t->layer = -1;
            t->in2 = nd->in2 >= 0 ? p->phys[nd->in2] : -1;
            t->act = nd->op == S24_N_ACT ? nd->act : S24_ACT_NONE;
            if (nd->op == S24_N_ADD) {
                int a = fusable_act(m, nd->out, i);
                if (a >= 0) t->act = m->nodes[a].act, t->out = m->nodes[a].out, skip = 1;
            }
            break;
        default:
            /* a kind added to the graph (a max-pool, ...) needs its kernel here first */
            rc = s24_error(S24_ERR_UNSUPPORTED, "infer (cuda): node %d (%s) has no GPU inference "
                           "kernel yet", i, s24_model_node_kind(m, i));
        }
        i += skip;
    }
    if (rc == S24_OK) {
        for (int i = 0; i < 4 * MEASURE_PAIRS && rc == S24_OK; i++) {
            S24_GPU_CHECK(cudaEventCreate(&p->mev[i]));
            p->have_mev = i + 1 == 4 * MEASURE_PAIRS;
        }
    }
    if (rc == S24_OK && p->q8) rc = q8_setup(p, o);
fail:
    if (rc != S24_OK) {
        /* events made so far: have_mev counts only a complete set */
        s24_infer_cu_free(p);
        return rc;
    }
    *out = p;
    return S24_OK;
}

int s24_infer_cu_num_layers(const struct s24_infer_cu *p) { return p ? p->nl : 0; }

const struct s24_infer_layer *s24_infer_cu_layer_at(const struct s24_infer_cu *p, int i)
{
    return p && i >= 0 && i < p->nl ? &p->layers[i] : NULL;
}

void s24_infer_cu_set_profile(struct s24_infer_cu *p, int on)
{
    if (p) p->profile = on != 0;
}

/* ---------------------------------------------------------------- running */
/* Slot s's buffer for (n, h, w) positions of its channels, padded rows. */
static int slot(struct s24_infer_cu *p, int s, int64_t n, int64_t h, int64_t w)
{
    int rc = S24_OK;
    size_t need = (size_t)pad_rows(n * h * w) * (size_t)p->ch[s] * p->es;
    p->sn[s] = n, p->sh[s] = h, p->sw[s] = w;
    if (need <= p->cap[s] && p->buf[s]) return S24_OK;
    if (p->buf[s]) {
        /* queued work may still read the old buffer */
        S24_GPU_CHECK(cudaStreamSynchronize(p->s));
        S24_GPU_CHECK(cudaFree(p->buf[s]));
        p->buf[s] = NULL, p->cap[s] = 0;
    }
    S24_GPU_CHECK(cudaMalloc(&p->buf[s], need));
    p->cap[s] = need;
fail:
    return rc;
}

/* A 2:4 plan of step t for n positions into *sp: made with its bias,
 * checked against the weight as cuSPARSELt reads it, compressed. A ReLU
 * goes into cuSPARSELt's epilogue (*act) unless this version refuses it
 * there or *act is already 0. */
static int make_sp1(struct s24_infer_cu *p, struct cstep *t, int64_t n, const char *name,
                    struct s24_sp **sp, int *act)
{
    int rc;
    struct s24_gemm_desc d;
    /* int8: int8 W and X, int32 accumulation, fp16 D scaled per row by alpha */
    s24_gemm_desc_init(&d, t->oc, n, t->k, t->q8 ? S24_I8 : p->dt);
    d.out_type = p->dt;
    d.bias = 1;
    d.act = *act ? S24_GEMM_ACT_RELU : S24_GEMM_ACT_NONE;
    if ((rc = s24_gemm_check(&d, S24_GEMM_SPARSE)) != S24_OK)
        return layer_err(rc, name, "the 2:4 GEMM's shape");
    const float *alpha = t->q8 ? t->alpha : NULL;
    const void *w = t->q8 ? (const void *)t->w8 : t->w;
    rc = s24_sp_init_alpha(p->splt, &d, t->b16, alpha, sp);
    if (rc != S24_OK && d.act != S24_GEMM_ACT_NONE) {
        s24_clear_error();
        d.act = S24_GEMM_ACT_NONE; /* the own pass applies it */
        rc = s24_sp_init_alpha(p->splt, &d, t->b16, alpha, sp);
    }
    if (rc != S24_OK) return layer_err(rc, name, "cuSPARSELt plan");
    *act = d.act != S24_GEMM_ACT_NONE;
    /* s24_sp_init zeroes its buffers with cudaMemset on the legacy stream,
     * which does not order with the plan's non-blocking stream */
    if ((rc = s24_gpu_status(cudaDeviceSynchronize(), "cudaDeviceSynchronize", __FILE__,
                             __LINE__)) != S24_OK)
        return layer_err(rc, name, "cuSPARSELt plan");
    if ((rc = s24_sp_check(*sp, w, p->s)) != S24_OK)
        return layer_err(rc, name, t->q8 ? "the int8 weight as cuSPARSELt reads it"
                                         : "the folded 16-bit weight as cuSPARSELt reads it");
    /* the bias pointer went in with the plan (s24_sp_init_bias): the plan is
     * not made a second time here. EfficientNet-B0's fp16 2:4 plan took 17.8
     * s to create when it was (docs/results/infer-h200.md) */
    if ((rc = s24_sp_compress(*sp, w, p->s)) != S24_OK)
        return layer_err(rc, name, "compressing the weight");
    return S24_OK;
}

/* Step t's 2:4 plans for np (padded) positions: one for chunks of sp_chunk
 * at most and, when np is not a whole number of them, one for the rest. */
static int make_sp(struct s24_infer_cu *p, struct cstep *t, int64_t np, const char *name)
{
    int rc, act = t->act == S24_ACT_RELU && t->in2 < 0; /* not before a residual add */
    const int64_t ch = p->sp_chunk;
    int64_t n1 = np < ch ? np : ch, rest = np > ch ? np % ch : 0;
    s24_sp_free(t->sp), s24_sp_free(t->sp_tail);
    t->sp = t->sp_tail = NULL, t->sp_n = t->sp_tail_n = 0;
    if ((rc = make_sp1(p, t, n1, name, &t->sp, &act)) != S24_OK) return rc;
    /* where the tail refuses the ReLU the own pass applies it after all
     * chunks (a second ReLU on the others changes nothing) */
    if (rest && (rc = make_sp1(p, t, rest, name, &t->sp_tail, &act)) != S24_OK) return rc;
    t->sp_act = act;
    t->sp_n = np, t->sp_tail_n = rest;
    return S24_OK;
}

/* The 2:4 path of step t at shape cs: D (oc x P') = W X, X the NHWC input
 * itself where a position's K inputs are one contiguous row (1x1, stride
 * 1, no padding; a linear), else gathered by im2col. */
static int sparse_gemm(struct s24_infer_cu *p, struct cstep *t, const struct s24_conv_shape *cs,
                       const void *z, const char *name)
{
    int rc = S24_OK;
    int64_t P = cs->n * cs->oh * cs->ow, np = pad_rows(P);
    const void *x = p->buf[t->in];
    int direct = cs->kh == 1 && cs->kw == 1 && cs->stride == 1 && cs->pad == 0;
    size_t xes = t->q8 ? 1 : p->es; /* bytes per element of X */
    t->own_ran = 0;
    if (t->q8 && (!t->sp || t->sp_n != np)) {
        /* int8 is an option, not a need: where this cuSPARSELt will not plan
         * it, the layer's 2:4 path is the fp16 one from then on */
        if ((rc = make_sp(p, t, np, name)) != S24_OK) {
            s24_clear_error();
            s24_sp_free(t->sp), s24_sp_free(t->sp_tail);
            t->sp = t->sp_tail = NULL, t->sp_n = 0;
            t->q8 = 0, t->q8_refused = 1, xes = p->es;
            p->layers[t->layer].act_scale = 0.0f;
        }
    }
    if (t->q8) {
        /* the input quantised on its way into the GEMM (the im2col gather, or
         * a pass over the NHWC rows of a 1x1 conv or a linear) */
        if ((rc = s24_icu_buf_grow(&p->cols, (size_t)np * (size_t)t->k, p->s)) != S24_OK)
            return layer_err(rc, name, "the int8 input");
        signed char *q = (signed char *)p->cols.p;
        rc = direct ? s24_icu_quant8(p->dt, x, q, P, np, t->k, t->a_inv, p->s)
                    : s24_icu_im2col_q8(p->dt, cs, x, q, np, t->a_inv, p->s);
        if (rc != S24_OK) return layer_err(rc, name, "quantising the input to int8");
        x = p->cols.p;
    }
    if (!direct && !t->linear && p->own && !t->q8) {
        /* k x k or strided: the own implicit GEMM where it takes the shape */
        int ran = 0;
        if ((rc = s24_icu_own_run(&t->own, p->device, p->cc_major, p->dt, name, cs, x, t->w, t->b32,
                                  z, t->act, p->buf[t->out], p->s, &ran)) != S24_OK)
            return rc;
        if (ran) {
            t->own_ran = 1;
            return S24_OK;
        }
    }
    if (!direct && !t->q8) {
        if ((rc = s24_icu_buf_grow(&p->cols, (size_t)np * (size_t)t->k * p->es, p->s)) != S24_OK ||
            (rc = s24_icu_im2col(p->dt, cs, x, p->cols.p, np, p->s)) != S24_OK)
            return layer_err(rc, name, "im2col");
        x = p->cols.p;
    }
    if (!t->sp || t->sp_n != np) {
        if ((rc = make_sp(p, t, np, name)) != S24_OK) return rc;
    }
    /* chunk j: rows j*sp_chunk.. of X (K values each) into the same rows of
     * D (oc values each), both NHWC */
    const int64_t ch = p->sp_chunk;
    for (int64_t j0 = 0; j0 < np; j0 += ch) {
        struct s24_sp *sp = np - j0 < ch && t->sp_tail ? t->sp_tail : t->sp;
        const char *xj = (const char *)x + (size_t)j0 * (size_t)t->k * xes;
        char *dj = (char *)p->buf[t->out] + (size_t)j0 * (size_t)t->oc * p->es;
        if ((rc = s24_sp_run(sp, xj, NULL, dj, t->b16, p->s)) != S24_OK)
            return layer_err(rc, name, "cusparseLtMatmul");
    }
    if ((z || (!t->sp_act && t->act != S24_ACT_NONE)) &&
        (rc = s24_icu_bias_act(p->dt, p->buf[t->out], P, t->oc, NULL, z, t->act, p->s)) != S24_OK)
        return layer_err(rc, name, "residual and activation after the 2:4 GEMM");
    return S24_OK;
}

/* Step t's dense layer at shape cs through cuDNN (infer_dense.cu). */
static int dnn_layer(struct s24_infer_cu *p, struct cstep *t, const struct s24_conv_shape *cs,
                     const void *z)
{
    return s24_icu_dnn_run(&t->dnn, p->dnn, p->dt, p->layers[t->layer].name, cs, p->buf[t->in],
                           t->w, t->b16, t->bias_moved ? NULL : t->b32, z, t->act,
                           p->buf[t->out], &p->ws, &p->ltg, t->note, sizeof t->note);
}

/* Step t's dense 1x1 conv or linear as a cuBLASLt GEMM (infer_lt.cu), the
 * ReLU in its epilogue unless a residual is added first; the residual and
 * any other activation in the plan's own pass, as after the 2:4 GEMM. */
static int lt_layer(struct s24_infer_cu *p, struct cstep *t, const struct s24_conv_shape *cs,
                    const void *z)
{
    struct s24_infer_layer *L = &p->layers[t->layer];
    int64_t P = cs->n * cs->oh * cs->ow;
    int relu = t->act == S24_ACT_RELU && !z, rc;
    if ((rc = s24_icu_lt_run(&t->lt, &p->ltg, p->dt, L->name, t->oc, pad_rows(P), t->k,
                             p->buf[t->in], t->w, t->b16, relu, p->buf[t->out], p->s)) != S24_OK)
        return layer_err(rc, L->name, "cuBLASLt GEMM");
    if ((z || (!relu && t->act != S24_ACT_NONE)) &&
        (rc = s24_icu_bias_act(p->dt, p->buf[t->out], P, t->oc, NULL, z, t->act, p->s)) != S24_OK)
        return layer_err(rc, L->name, "residual and activation after the GEMM");
    snprintf(L->engine, sizeof L->engine, "cuBLASLt, bias%s fused%s", relu ? "+ReLU" : "",
             z ? ", add+act own pass" : t->act != S24_ACT_NONE && !relu ? ", act own pass" : "");
    return S24_OK;
}

/* Which runs step t's dense 1x1 conv or linear (dw: depthwise conv) at this
 * shape: cuDNN and the cuBLASLt GEMM (dw: the own depthwise kernel) each
 * timed on the layer's real buffers (the GEMM engine's interleaved timing:
 * one warm-up, 5 rounds, medians), the faster kept
 * (t->lt_pick). Both rewrite the whole output from the same input, so the
 * run that follows leaves the chosen one's. Only in a plain run: the first
 * run at a shape is never captured (graph_forward). A GEMM cuBLASLt refuses
 * leaves the layer on cuDNN; a shape another plan timed takes its pick. */
/* The picks, kept for the process per device, dtype, shape and epilogue, as
 * infer_dense.cu keeps cuDNN's: every plan of a shape then runs the same
 * kernel, so a dense plan and an auto plan differ only where auto chose 2:4. */
#define LT_MEMO 256
struct lt_memo {
    int device, dt, act, z, pick;
    int64_t oc, np, k, kh, stride; /* kh 0: a 1x1 GEMM; else a depthwise layer's */
};
static struct lt_memo lt_memo[LT_MEMO];
static int lt_memo_n;
static pthread_mutex_t lt_memo_mu = PTHREAD_MUTEX_INITIALIZER;

/* The kept pick of this layer's shape (0: none), or keep `pick` when not 0. */
static int lt_memo_pick(const struct s24_infer_cu *p, const struct cstep *t, const void *z,
                        int pick)
{
    struct lt_memo k = {p->device, (int)p->dt, t->act, z != NULL, 0, t->oc, t->lt_np, t->k,
                        t->wdw ? p->m->nodes[t->node].k : 0,
                        t->wdw ? p->m->nodes[t->node].stride : 0};
    int got = 0;
    pthread_mutex_lock(&lt_memo_mu);
    for (int i = 0; i < lt_memo_n && !got; i++) {
        struct lt_memo *m = &lt_memo[i];
        if (m->device == k.device && m->dt == k.dt && m->act == k.act && m->z == k.z &&
            m->oc == k.oc && m->np == k.np && m->k == k.k && m->kh == k.kh &&
            m->stride == k.stride)
            got = m->pick;
    }
    if (!got && pick && lt_memo_n < LT_MEMO) {
        k.pick = pick;
        lt_memo[lt_memo_n++] = k;
    }
    pthread_mutex_unlock(&lt_memo_mu);
    return got;
}

/* Step t's dense depthwise conv on the own kernel (infer_dw.cu), bias,
 * residual and activation in the same pass. */
static int dw_layer(struct s24_infer_cu *p, struct cstep *t, const struct s24_conv_shape *cs,
                    const void *z)
{
    struct s24_infer_layer *L = &p->layers[t->layer];
    int rc = s24_icu_dw(p->dt, cs, p->buf[t->in], t->wdw, t->bias_moved ? NULL : t->b32, z,
                        t->act, p->buf[t->out], p->dw_mode == 3, p->s);
    if (rc != S24_OK) return layer_err(rc, L->name, "depthwise conv");
    snprintf(L->engine, sizeof L->engine, "own depthwise, bias%s%s fused", z ? "+add" : "",
             t->act != S24_ACT_NONE ? "+act" : "");
    return S24_OK;
}

/* One run of step t's layer through the alternative (lt: the cuBLASLt GEMM
 * or the own depthwise kernel) or cuDNN, for timing. */
struct lt_try {
    struct s24_infer_cu *p;
    struct cstep *t;
    const struct s24_conv_shape *cs;
    const void *z;
    int lt, dw;
};

static int lt_try_run(void *ctx, cudaStream_t s)
{
    const struct lt_try *q = (const struct lt_try *)ctx;
    (void)s; /* both run on the plan's stream */
    if (!q->lt) return dnn_layer(q->p, q->t, q->cs, q->z);
    return q->dw ? dw_layer(q->p, q->t, q->cs, q->z) : lt_layer(q->p, q->t, q->cs, q->z);
}

static int pick_lt(struct s24_infer_cu *p, struct cstep *t, const struct s24_conv_shape *cs,
                   const void *z, int dw)
{
    int rc;
    if ((rc = dw ? dw_layer(p, t, cs, z) : lt_layer(p, t, cs, z)) != S24_OK) {
        s24_clear_error();
        t->lt_pick = 2;
        return S24_OK;
    }
    if (dw ? p->dw_mode == 1 || p->dw_mode == 3 : p->lt_force) {
        t->lt_pick = 1;
        return S24_OK;
    }
    if ((t->lt_pick = lt_memo_pick(p, t, z, 0)) != 0) return S24_OK;
    struct lt_try q[2] = {{p, t, cs, z, 1, dw}, {p, t, cs, z, 0, dw}};
    void *ctx[2] = {&q[0], &q[1]};
    const s24_call_fn fn[2] = {lt_try_run, lt_try_run};
    struct s24_gemm_timing tm[2];
    /* the warm-up's cuDNN run makes its plan (Find allocates and synchronises) */
    if ((rc = s24_gpu_time_interleaved(&p->ltg, 2, fn, ctx, 1, 5, 0, tm)) != S24_OK) return rc;
    t->lt_pick = tm[0].median_ms < tm[1].median_ms ? 1 : 2;
    lt_memo_pick(p, t, z, t->lt_pick);
    return S24_OK;
}

/* Step t's layer on its input now in place, 2:4 when `sparse`, else dense. */
static int run_gemm(struct s24_infer_cu *p, struct cstep *t, int sparse)
{
    struct s24_model *m = p->m;
    const struct s24_node *nd = &m->nodes[t->node];
    struct s24_infer_layer *L = &p->layers[t->layer];
    int in = t->in, rc;
    struct s24_conv_shape cs;
    if (t->linear) {
        if (p->sh[in] * p->sw[in] != 1)
            return s24_error(S24_ERR_INVALID, "infer (cuda): layer %s: a linear layer on a "
                             "%lldx%lld map", L->name, (long long)p->sh[in], (long long)p->sw[in]);
        struct s24_conv_shape c1 = {p->sn[in], 1, 1, p->ch[in], t->oc, 1, 1, 1, 0, 1, 0, 0};
        cs = c1;
    } else {
        struct s24_conv_shape c2 = {p->sn[in], p->sh[in], p->sw[in], p->ch[in], t->oc,
                                    nd->k, nd->k, nd->stride, nd->pad, nd->groups, 0, 0};
        cs = c2;
    }
    if ((rc = s24_conv_shape_init(&cs)) != S24_OK) return layer_err(rc, L->name, "shape");
    if ((rc = slot(p, t->out, cs.n, cs.oh, cs.ow)) != S24_OK)
        return layer_err(rc, L->name, "output");
    L->n = cs.n * cs.oh * cs.ow;
    const void *z = NULL;
    if (t->in2 >= 0) {
        if (p->sn[t->in2] != cs.n || p->sh[t->in2] != cs.oh || p->sw[t->in2] != cs.ow ||
            p->ch[t->in2] != cs.oc)
            return s24_error(S24_ERR_INVALID, "infer (cuda): layer %s: the residual it adds is "
                             "not of its output's shape", L->name);
        z = p->buf[t->in2];
    }
    if (sparse) {
        rc = sparse_gemm(p, t, &cs, z, L->name);
        if (t->own_ran)
            snprintf(L->engine, sizeof L->engine, "own implicit 2:4 conv, bias%s%s fused",
                     z ? "+add" : "", t->act == S24_ACT_RELU ? "+ReLU" : "");
        else
            snprintf(L->engine, sizeof L->engine, "cuSPARSELt%.15s, bias%s fused%s",
                     !p->q8 ? "" : t->q8 ? " int8" : t->q8_refused ? " fp16 (no int8)" : " fp16",
                     t->sp_act ? "+ReLU" : "", z ? ", add+act own pass" : t->act != S24_ACT_NONE &&
                     !t->sp_act ? ", act own pass" : "");
        return rc;
    }
    int gemm = p->ltg.lt && cs.kh == 1 && cs.kw == 1 && cs.stride == 1 && cs.pad == 0 &&
               cs.groups == 1 && p->ch[in] == t->k;
    int dw = !gemm && t->wdw && s24_icu_dw_takes(&cs) && p->ch[in] == cs.c;
    if (gemm || dw) {
        int64_t np = pad_rows(L->n);
        if (t->lt_np != np) t->lt_pick = 0, t->lt_np = np;
        if (!t->lt_pick && (rc = pick_lt(p, t, &cs, z, dw)) != S24_OK) return rc;
        if (t->lt_pick == 1) return dw ? dw_layer(p, t, &cs, z) : lt_layer(p, t, &cs, z);
    }
    rc = dnn_layer(p, t, &cs, z);
    snprintf(L->engine, sizeof L->engine, "%.48s%s", t->note,
             t->bias_moved ? " (bias moved)" : "");
    return rc;
}

/* Any other step. */
static int run_node(struct s24_infer_cu *p, const struct cstep *t)
{
    struct s24_model *m = p->m;
    int in = t->in, rc;
    int64_t n = p->sn[in], h = p->sh[in], w = p->sw[in], c = p->ch[in], e = n * h * w * c;
    const void *x = p->buf[in];
    switch (t->kind) {
    case CS_AFFINE:
        if ((rc = slot(p, t->out, n, h, w)) != S24_OK) return rc;
        return s24_icu_affine_act(p->dt, x, p->buf[t->out], n * h * w, c, t->b32, t->b32 + c,
                                  t->act, p->s);
    case CS_ACT:
        if ((rc = slot(p, t->out, n, h, w)) != S24_OK) return rc;
        return s24_icu_act(p->dt, x, p->buf[t->out], e, t->act, p->s);
    case CS_ADD:
        if (p->sn[t->in2] != n || p->sh[t->in2] != h || p->sw[t->in2] != w ||
            p->ch[t->in2] != c)
            return s24_error(S24_ERR_INVALID, "infer (cuda): node %d: add of mismatched shapes",
                             t->node);
        if ((rc = slot(p, t->out, n, h, w)) != S24_OK) return rc;
        return s24_icu_add_act(p->dt, x, p->buf[t->in2], p->buf[t->out], e, t->act, p->s);
    case CS_GAP:
        if ((rc = slot(p, t->out, n, 1, 1)) != S24_OK) return rc;
        return s24_icu_gap(p->dt, x, p->buf[t->out], n, h * w, c, p->s);
    case CS_MAXPOOL: {
        const struct s24_node *nd = &m->nodes[t->node];
        struct s24_pool_shape ps = {n, h, w, c, nd->k, nd->stride, nd->pad, 0, 0};
        if ((rc = s24_pool_shape_init(&ps)) != S24_OK ||
            (rc = slot(p, t->out, n, ps.oh, ps.ow)) != S24_OK)
            return rc;
        return s24_icu_maxpool(p->dt, &ps, x, p->buf[t->out], p->s);
    }
    case CS_SCALE:
        if (p->sn[t->in2] != n || p->sh[t->in2] * p->sw[t->in2] != 1 || p->ch[t->in2] != c)
            return s24_error(S24_ERR_INVALID, "infer (cuda): node %d: SE scale of mismatched "
                             "shapes", t->node);
        if ((rc = slot(p, t->out, n, h, w)) != S24_OK) return rc;
        return s24_icu_scale(p->dt, x, p->buf[t->in2], p->buf[t->out], n, h * w, c, p->s);
    default:
        return s24_error(S24_ERR_INVALID, "infer (cuda): step kind %d", (int)t->kind);
    }
}

/* AUTO: step t's layer timed both ways on its input now in place, the
 * faster kept; the output left behind is the chosen path's. Each run reads
 * only its input slot and rewrites its whole output, so repeats are
 * harmless. */
static int measure(struct s24_infer_cu *p, struct cstep *t)
{
    struct s24_infer_layer *L = &p->layers[t->layer];
    double tp[2][MEASURE_PAIRS]; /* [0] dense, [1] 2:4 */
    int rc = S24_OK;
    for (int r = 0; r < MEASURE_WARM && rc == S24_OK; r++) {
        if ((rc = run_gemm(p, t, 0)) != S24_OK) return rc;
        if ((rc = run_gemm(p, t, 1)) != S24_OK) {
            /* a 2:4 path cuSPARSELt cannot run here is a reason for dense in
             * AUTO, not a failure of the plan (the forced 2:4 path fails) */
            snprintf(L->why, sizeof L->why, "2:4 failed, dense: %.90s", s24_last_error());
            s24_clear_error();
            t->can_sparse = t->use_sparse = L->sparse = 0;
            return run_gemm(p, t, 0);
        }
    }
    for (int r = 0; r < MEASURE_PAIRS && rc == S24_OK; r++)
        for (int h = 0; h < 2 && rc == S24_OK; h++) {
            int sp = h ^ (r & 1); /* which goes first alternates */
            cudaEvent_t *e = &p->mev[4 * r + 2 * sp];
            S24_GPU_CHECK(cudaEventRecord(e[0], p->s));
            rc = run_gemm(p, t, sp);
            S24_GPU_CHECK(cudaEventRecord(e[1], p->s));
        }
    if (rc != S24_OK) return rc;
    S24_GPU_CHECK(cudaStreamSynchronize(p->s));
    for (int r = 0; r < MEASURE_PAIRS; r++)
        for (int sp = 0; sp < 2; sp++) {
            float ms = 0.0f;
            S24_GPU_CHECK(
                cudaEventElapsedTime(&ms, p->mev[4 * r + 2 * sp], p->mev[4 * r + 2 * sp + 1]));
            tp[sp][r] = ms;
        }
    {
        double dm, sm;
        t->use_sparse = L->sparse = s24_infer_choose(tp[0], MEASURE_PAIRS, tp[1], MEASURE_PAIRS,
                                                     SPARSE_MARGIN, &dm, &sm);
        L->dense_ms = dm, L->sparse_ms = sm;
        snprintf(L->why, sizeof L->why, "measured: dense %.4f, 2:4 %.4f ms (median of %d)",
                 dm, sm, MEASURE_PAIRS);
        L->ms = L->sparse ? sm : dm;
    }
    return run_gemm(p, t, L->sparse);
fail:
    return rc;
}

/* The steps, from the converted input to the output slot; measuring: AUTO's
 * first run, which times each eligible layer both ways (measure). */
static int forward(struct s24_infer_cu *p, int measuring)
{
    struct s24_model *m = p->m;
    int rc = S24_OK;
    for (int i = 0; i < p->ns; i++) {
        struct cstep *t = &p->st[i];
        if (t->kind != CS_GEMM) {
            if ((rc = run_node(p, t)) != S24_OK) {
                char msg[512];
                snprintf(msg, sizeof msg, "%s", s24_last_error());
                return s24_error(rc, "infer (cuda): node %d (%s): %s", t->node,
                                 s24_model_node_kind(m, t->node), msg);
            }
            continue;
        }
        t->timed = 0;
        if (measuring && t->can_sparse) {
            if ((rc = measure(p, t)) != S24_OK) return rc;
            continue;
        }
        if (p->amax && t->q8) {
            /* calibrating: this int8 layer's input in the fp16 network */
            int in = t->in;
            int64_t e = p->sn[in] * p->sh[in] * p->sw[in] * p->ch[in];
            if ((rc = s24_icu_absmax(p->dt, p->buf[in], e, p->amax + t->layer, p->s)) != S24_OK)
                return layer_err(rc, p->layers[t->layer].name, "calibration");
        }
        if (p->profile) S24_GPU_CHECK(cudaEventRecord(t->ev[0], p->s));
        if ((rc = run_gemm(p, t, t->use_sparse)) != S24_OK) return rc;
        if (p->profile) S24_GPU_CHECK(cudaEventRecord(t->ev[1], p->s));
        t->timed = p->profile;
    }
fail:
    return rc;
}

static int forward_plain(void *p) { return forward((struct s24_infer_cu *)p, 0); }

#define CALIB_CHUNK 64 /* calibration images per forward, as the CPU simulation's */

/* The int8 layers' activation scales and alphas, once, at creation: given
 * (o->act_scales; a layer given 0 runs its 2:4 path in fp16), or calibrated
 * on o->calib through the fp16 network with every layer dense (the float
 * model the int8 one approximates), each int8 layer's input reduced to its
 * largest magnitude (s24_icu_absmax) and that turned into a scale by
 * infer_q8.c's rule, as the CPU simulation does. The calibration runs
 * plainly (no graph) and leaves the choices, AUTO's included, untouched. */
static int q8_setup(struct s24_infer_cu *p, const struct s24_infer_opts *o)
{
    int rc = S24_OK, any = 0;
    float *amax = NULL, *al = NULL;
    unsigned char *keep = NULL;
    for (int i = 0; i < p->ns; i++) any += p->st[i].kind == CS_GEMM && p->st[i].q8;
    if (!any) return S24_OK;
    if (o->act_scales) {
        if (o->n_act_scales != p->nl)
            return s24_error(S24_ERR_INVALID, "infer (cuda): int8: %d activation scales for %d "
                             "layers", o->n_act_scales, p->nl);
        for (int i = 0; i < p->ns; i++) {
            struct cstep *t = &p->st[i];
            if (t->kind != CS_GEMM || !t->q8) continue;
            t->a_scale = o->act_scales[t->layer];
            t->q8 = t->a_scale > 0.0f;
        }
    } else {
        struct s24_model *m = p->m;
        int in = p->phys[m->in_slot];
        size_t img = (size_t)o->calib_h * (size_t)o->calib_w * 3;
        amax = (float *)calloc((size_t)p->nl, sizeof(float));
        keep = (unsigned char *)calloc((size_t)p->ns, 1);
        if (!amax || !keep) {
            rc = s24_error(S24_ERR_NOMEM, "infer (cuda): out of memory");
            goto fail;
        }
        S24_GPU_CHECK(cudaMalloc((void **)&p->amax, sizeof(float) * (size_t)p->nl));
        S24_GPU_CHECK(cudaMemsetAsync(p->amax, 0, sizeof(float) * (size_t)p->nl, p->s));
        for (int i = 0; i < p->ns; i++) keep[i] = (unsigned char)p->st[i].use_sparse;
        for (int i = 0; i < p->ns; i++) p->st[i].use_sparse = 0;
        for (int at = 0; at < o->calib_n && rc == S24_OK; at += CALIB_CHUNK) {
            int nb = o->calib_n - at < CALIB_CHUNK ? o->calib_n - at : CALIB_CHUNK;
            int64_t rows = (int64_t)nb * o->calib_h * o->calib_w;
            if ((rc = slot(p, in, nb, o->calib_h, o->calib_w)) != S24_OK ||
                (rc = s24_icu_buf_grow(&p->xin, sizeof(float) * img * (size_t)nb, p->s)) != S24_OK)
                break;
            S24_GPU_CHECK(cudaMemcpyAsync(p->xin.p, o->calib + (size_t)at * img,
                                          sizeof(float) * img * (size_t)nb,
                                          cudaMemcpyHostToDevice, p->s));
            if ((rc = s24_icu_from_f32_pad(p->dt, (const float *)p->xin.p, p->buf[in], rows,
                                           m->slots[m->in_slot].c, p->ch[in], p->s)) != S24_OK)
                break;
            rc = forward(p, 0);
        }
        for (int i = 0; i < p->ns; i++) p->st[i].use_sparse = keep[i];
        if (rc != S24_OK) goto fail;
        S24_GPU_CHECK(cudaMemcpyAsync(amax, p->amax, sizeof(float) * (size_t)p->nl,
                                      cudaMemcpyDeviceToHost, p->s));
        S24_GPU_CHECK(cudaStreamSynchronize(p->s));
        for (int i = 0; i < p->ns; i++)
            if (p->st[i].kind == CS_GEMM && p->st[i].q8)
                p->st[i].a_scale = s24_q8_act_scale(amax[p->st[i].layer]);
    }
    for (int i = 0; i < p->ns && rc == S24_OK; i++) {
        struct cstep *t = &p->st[i];
        if (t->kind != CS_GEMM || !t->q8) continue;
        free(al);
        if (!(al = (float *)malloc(sizeof(float) * (size_t)t->oc))) {
            rc = s24_error(S24_ERR_NOMEM, "infer (cuda): out of memory");
            break;
        }
        /* D = (w_scale[c] * a_scale) * (W8 X8) + bias: the int32 sum dequantised */
        for (int64_t c = 0; c < t->oc; c++) al[c] = t->wsc[c] * t->a_scale;
        t->a_inv = s24_q8_inv(t->a_scale);
        if ((rc = upload_f32(p, al, t->oc, &t->alpha)) != S24_OK) break;
        p->layers[t->layer].act_scale = t->a_scale;
    }
fail:
    if (p->amax) cudaFree(p->amax);
    p->amax = NULL;
    free(amax), free(keep), free(al);
    return rc;
}

/* forward(p, 0) with the current choices captured into one executable
 * graph, run nothing. *ge is NULL where the stream cannot be captured (a
 * call that cannot be), the reason in p->graph_why; errors inside are left
 * for the plain run that follows to report. */
static void capture(struct s24_infer_cu *p, cudaGraphExec_t *ge)
{
    s24_cu_capture(p->s, forward_plain, p, ge, p->graph_why, sizeof p->graph_why);
}

/* AUTO's check of its own result: the layers chosen one by one, each timed
 * alone, need not make the network faster (a layer timed in a loop on its
 * own input is not the layer inside the network: the first measurement put
 * ResNet18-CIFAR's auto plan at 2.25 ms against 1.35 ms dense,
 * docs/results/infer-h200.md). So the whole network runs with the choices
 * and all dense, alternating, and the choices stand only when the network
 * is faster with them by the same margin; else every layer goes dense.
 * Both run as they will afterwards: as graph replays where the plan uses
 * graphs. Timed plainly, the launches' host time decides instead of the
 * kernels: at batch 1 the plain runs put ResNet18-CIFAR's choices at 0.44
 * ms against 0.96 ms all dense, while the graphs then replayed at 0.38 ms
 * with the choices and 0.32 ms dense (docs/results/infer-h200.md).
 * Leaves the output of the kept configuration in place. */
static int confirm(struct s24_infer_cu *p)
{
    int rc = S24_OK, nsp = 0, graphed = p->graphs && !p->graph_off;
    for (int i = 0; i < p->ns; i++) nsp += p->st[i].kind == CS_GEMM && p->st[i].use_sparse;
    if (!nsp) return S24_OK;
    double tp[2][MEASURE_PAIRS]; /* [0] all dense, [1] the choices */
    cudaGraphExec_t ge[2] = {NULL, NULL};
    unsigned char *keep = (unsigned char *)calloc((size_t)p->ns, 1);
    if (!keep) return s24_error(S24_ERR_NOMEM, "infer (cuda): out of memory");
    for (int i = 0; i < p->ns; i++) keep[i] = (unsigned char)p->st[i].use_sparse;
    for (int cfg = 0; cfg < 2 && graphed; cfg++) {
        for (int i = 0; i < p->ns; i++) p->st[i].use_sparse = cfg && keep[i];
        capture(p, &ge[cfg]);
        graphed = ge[cfg] != NULL;
    }
    for (int r = 0; r < MEASURE_WARM && graphed; r++)
        for (int cfg = 0; cfg < 2; cfg++) S24_GPU_CHECK(cudaGraphLaunch(ge[cfg], p->s));
    for (int r = 0; r < MEASURE_PAIRS && rc == S24_OK; r++)
        for (int h = 0; h < 2 && rc == S24_OK; h++) {
            int cfg = h ^ (r & 1);
            for (int i = 0; i < p->ns; i++) p->st[i].use_sparse = cfg && keep[i];
            cudaEvent_t *e = &p->mev[4 * r + 2 * cfg];
            S24_GPU_CHECK(cudaEventRecord(e[0], p->s));
            if (graphed) S24_GPU_CHECK(cudaGraphLaunch(ge[cfg], p->s));
            else rc = forward(p, 0);
            S24_GPU_CHECK(cudaEventRecord(e[1], p->s));
        }
    if (rc != S24_OK) goto fail;
    S24_GPU_CHECK(cudaStreamSynchronize(p->s));
    for (int r = 0; r < MEASURE_PAIRS; r++)
        for (int cfg = 0; cfg < 2; cfg++) {
            float ms = 0.0f;
            S24_GPU_CHECK(
                cudaEventElapsedTime(&ms, p->mev[4 * r + 2 * cfg], p->mev[4 * r + 2 * cfg + 1]));
            tp[cfg][r] = ms;
        }
    {
        double dm, cm;
        int stand =
            s24_infer_choose(tp[0], MEASURE_PAIRS, tp[1], MEASURE_PAIRS, SPARSE_MARGIN, &dm, &cm);
        for (int i = 0; i < p->ns; i++) {
            struct cstep *t = &p->st[i];
            if (!keep[i]) continue;
            struct s24_infer_layer *L = &p->layers[t->layer];
            char why[sizeof L->why], tail[80];
            /* the verdict always fits; the layer's own measurement is cut to make room */
            int nt = snprintf(tail, sizeof tail, "; whole network%s %.3f ms, all dense %.3f: %s",
                              graphed ? " (graph)" : "", cm, dm, stand ? "kept" : "dense");
            int room = (int)sizeof why - 1 - (nt > 0 ? nt : 0);
            memcpy(why, L->why, sizeof why);
            why[room > 0 ? room : 0] = '\0';
            snprintf(L->why, sizeof L->why, "%s%s", why, tail);
            t->use_sparse = L->sparse = stand;
            if (!stand) L->ms = L->dense_ms;
        }
    }
    rc = forward(p, 0); /* the output of what was kept */
fail:
    for (int cfg = 0; cfg < 2; cfg++)
        if (ge[cfg]) cudaGraphExecDestroy(ge[cfg]);
    free(keep);
    return rc;
}

/* The steps as one CUDA graph: a launch per layer costs microseconds of
 * host time each, which a small batch's forward cannot hide behind its
 * kernels. ResNet18-CIFAR at batch 1, fp16, all dense: 0.96 ms run plainly
 * (AUTO's whole-network check) and 0.32 ms as a graph replay (`bench
 * infer`), docs/results/infer-h200.md. The first run at a
 * shape runs plainly, so every buffer, cuDNN search, cuSPARSELt plan and
 * own-kernel plan exists; the next is captured and replayed from then on.
 * Where capturing fails (a call that cannot be captured), the plan says why
 * (s24_infer_cu_graphed) and runs plainly from then on. */
static int graph_forward(struct s24_infer_cu *p, int n, int h, int w)
{
    int rc = S24_OK;
    if (p->gexec && p->gn == n && p->gh == h && p->gw == w) {
        S24_GPU_CHECK(cudaGraphLaunch(p->gexec, p->s));
        return S24_OK;
    }
    if (p->gexec) {
        cudaGraphExecDestroy(p->gexec);
        p->gexec = NULL;
    }
    if (p->wn != n || p->wh != h || p->ww != w) {
        p->wn = n, p->wh = h, p->ww = w;
        return forward(p, 0);
    }
    capture(p, &p->gexec);
    if (!p->gexec) {
        p->graph_off = 1;
        return forward(p, 0);
    }
    p->gn = n, p->gh = h, p->gw = w;
    S24_GPU_CHECK(cudaGraphLaunch(p->gexec, p->s));
fail:
    return rc;
}

int s24_infer_cu_graphed(const struct s24_infer_cu *p, char *why, size_t len)
{
    if (why && len)
        snprintf(why, len, "%s",
                 p->graph_off ? p->graph_why
                 : p->graphs  ? ""
                              : "S24_INFER_GRAPH=0");
    return p->gexec != NULL;
}

int s24_infer_cu_run(struct s24_infer_cu *p, const float *x, int n, int h, int w, float *logits,
                     int on_device)
{
    struct s24_model *m = p->m;
    int rc = S24_OK, in = p->phys[m->in_slot], out = p->phys[m->out_slot];
    int64_t nx = (int64_t)n * h * w * m->slots[m->in_slot].c, ny = (int64_t)n * m->classes;
    int measuring = p->path == S24_INFER_AUTO && !p->decided;
    S24_GPU_CHECK(cudaSetDevice(p->device));
    if ((rc = slot(p, in, n, h, w)) != S24_OK) goto fail;
    if (!on_device) {
        /* staged through the plan's buffer: the conversion reads device memory */
        if ((rc = s24_icu_buf_grow(&p->xin, sizeof(float) * (size_t)nx, p->s)) != S24_OK) goto fail;
        S24_GPU_CHECK(cudaMemcpyAsync(p->xin.p, x, sizeof(float) * (size_t)nx,
                                      cudaMemcpyHostToDevice, p->s));
        x = (const float *)p->xin.p;
    }
    if ((rc = s24_icu_from_f32_pad(p->dt, x, p->buf[in], (int64_t)n * h * w,
                                   m->slots[m->in_slot].c, p->ch[in], p->s)) != S24_OK)
        goto fail;
    if (!measuring && !p->profile && p->graphs && !p->graph_off) rc = graph_forward(p, n, h, w);
    else rc = forward(p, measuring);
    if (rc != S24_OK) goto fail;
    if (measuring && (rc = confirm(p)) != S24_OK) goto fail;
    if (p->sn[out] != n || p->sh[out] * p->sw[out] != 1 || m->slots[out].c != m->classes) {
        rc = s24_error(S24_ERR_INVALID, "infer (cuda): the output slot is not (n, classes)");
        goto fail;
    }
    if (on_device) {
        if ((rc = s24_icu_to_f32(p->dt, p->buf[out], logits, ny, p->s)) != S24_OK) goto fail;
    } else {
        if ((rc = s24_icu_buf_grow(&p->yout, sizeof(float) * (size_t)ny, p->s)) != S24_OK ||
            (rc = s24_icu_to_f32(p->dt, p->buf[out], (float *)p->yout.p, ny, p->s)) != S24_OK)
            goto fail;
        S24_GPU_CHECK(cudaMemcpyAsync(logits, p->yout.p, sizeof(float) * (size_t)ny,
                                      cudaMemcpyDeviceToHost, p->s));
    }
    S24_GPU_CHECK(cudaStreamSynchronize(p->s));
    if (p->profile)
        for (int i = 0; i < p->ns; i++) {
            struct cstep *t = &p->st[i];
            float ms = 0.0f;
            if (t->kind != CS_GEMM || !t->timed) continue;
            S24_GPU_CHECK(cudaEventElapsedTime(&ms, t->ev[0], t->ev[1]));
            p->layers[t->layer].ms = ms;
        }
    if (measuring) p->decided = 1;
fail:
    return rc;
}

/* ---------------------------------------------------------------- test hook */
static double rel_diff(enum s24_dtype dt, const void *a, const void *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = s24_load_float(dt, a, i), y = s24_load_float(dt, b, i);
        if (x != x || y != y) return 1e30;
        num += (x - y) * (x - y), den += y * y;
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

int s24_infer_cu_layer_diff(struct s24_infer_cu *p, int layer, double *rel)
{
    int rc = S24_OK;
    struct cstep *t = NULL;
    void *a = NULL, *b = NULL;
    for (int i = 0; i < p->ns; i++)
        if (p->st[i].kind == CS_GEMM && p->st[i].layer == layer) t = &p->st[i];
    if (!t || !t->can_sparse)
        return s24_error(S24_ERR_INVALID, "infer (cuda): layer %d has no 2:4 path", layer);
    int64_t cnt = p->layers[layer].n * t->oc;
    size_t bytes = (size_t)cnt * p->es;
    a = malloc(bytes), b = malloc(bytes);
    if (!a || !b) {
        rc = s24_error(S24_ERR_NOMEM, "infer (cuda): out of memory");
        goto fail;
    }
    if ((rc = run_gemm(p, t, 0)) != S24_OK) goto fail;
    S24_GPU_CHECK(cudaMemcpyAsync(a, p->buf[t->out], bytes, cudaMemcpyDeviceToHost, p->s));
    if ((rc = run_gemm(p, t, 1)) != S24_OK) goto fail;
    S24_GPU_CHECK(cudaMemcpyAsync(b, p->buf[t->out], bytes, cudaMemcpyDeviceToHost, p->s));
    S24_GPU_CHECK(cudaStreamSynchronize(p->s));
    *rel = rel_diff(p->dt, b, a, cnt);
    rc = run_gemm(p, t, t->use_sparse); /* leave the plan's own output */
fail:
    free(a), free(b);
    return rc;
}
