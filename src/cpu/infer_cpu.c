/* infer_cpu.c: the inference plan of a model on the CPU backend: each conv (or linear)
 * followed by a batch norm that nothing else reads gets the norm folded into
 * its weights and bias (w' = w * gamma / sqrt(var + eps), b' = (b - mean) *
 * that scale + beta); every layer whose folded weight is 2:4 along its input
 * channels runs as C (OC x P) = W (OC x K, compressed) x cols (K x P) through
 * the 2:4 CPU GEMM (s24_spmm_plan), its B packed straight from the NHWC
 * input (s24_spmm_conv_run: the column matrix is never written) per chunk of
 * positions and the product written back to NHWC with the bias; the other
 * layers run dense (oneDNN's conv when the build has it, as
 * the CPU backend does, else nn_conv.c's; the backend's other ops, in
 * evaluation mode). Folding is exact up to rounding, so the logits
 * match the model's evaluation forward (tests/test_infer.c).
 * Which path a 2:4 layer takes is asked for (all 2:4, all dense) or, in
 * AUTO, measured: at the first run each eligible layer runs both ways on its
 * real input (a warm-up each, then at least MEASURE_MIN pairs, dense and
 * 2:4 alternating so a change of load hits both) and keeps the faster median.
 * On the CPU the 2:4 path pays for packing its B from the input (K/C reads
 * of each input vector) and a transpose back, which can cost more than the
 * halved GEMM saves (docs/results/cpu-engine.md), so a plan that is 2:4 wherever it can be is
 * not the fastest one; the measurement makes the plan never much slower than
 * its dense twin.
 * The folding itself is src/nn/infer_fold.c's, shared with the GPU plan
 * (src/cuda/infer_cuda.cu); the public calls (src/nn/infer.c) pick one of
 * the two by the model's backend and forward to it.
 * With dtype S24_I8 it is the int8 simulation, the GPU int8 plan's
 * reference: every layer dense in fp32, but each int8 layer (2:4, oc and k
 * multiples of 32: s24_q8_layer_ok) computes with its folded weight
 * quantised and dequantised per output channel and its input per tensor
 * (infer_q8.c's numbers), the activation scales calibrated here on the fp32
 * network (the largest magnitude of each input over the images given) or
 * taken as given (another plan's, so that both quantise alike).
 * Not here: int8 arithmetic itself, activation fusion beyond the bias. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_nn.h"
#include "nn/infer_internal.h"
#include "nn/model.h"

/* Product budget per chunk of a 2:4 conv (floats): 1M = 4 MiB, the two
 * cores' L2 on the machine measured, so the transpose back to NHWC reads the
 * product from cache. (The column matrix this used to bound is gone:
 * chunks of whole images up to 64 MiB had put ResNet18's 2:4 plan at
 * 0.33-0.50x the dense plan, 1M floats at 0.69-0.77x,
 * docs/results/cpu-engine.md.) */
#define PROD_BUDGET ((int64_t)1 << 20)
/* AUTO: timed pairs per layer after the warm-up pair, at least MEASURE_MIN
 * and more, up to MEASURE_MAX, until both paths have run MEASURE_SECONDS in
 * all: a layer of 0.1 ms timed three times on a loaded machine is mostly
 * noise. The medians decide. */
#define MEASURE_MIN 3
#define MEASURE_MAX 15
#define MEASURE_SECONDS 0.02

enum step_kind { STEP_GEMM = 0, STEP_NODE };

struct step {
    enum step_kind kind;
    int node;            /* the model node (for STEP_GEMM: the conv or linear) */
    int out;             /* slot written (the folded norm's output when folded) */
    int layer;           /* index in the report (STEP_GEMM) */
    float *w, *b;        /* STEP_GEMM: folded weight (OHWI / (out, in)) and bias (OC) */
    s24_spmm_plan_t plan;/* the 2:4 path, NULL when the layer is not eligible or the plan dense */
    int use_sparse;      /* run through plan (else the dense path, which every GEMM step keeps) */
    void *dstate;        /* dense conv: oneDNN's primitives for its shapes */
    int q8;              /* int8 simulation: this layer's weight and input are quantised */
    float a_scale, a_inv;/* its input's scale and 1 / scale (0 while calibrating) */
};

struct s24_infer_cpu {
    struct s24_model *m;
    enum s24_infer_path path;
    int decided;         /* AUTO: the layers' paths have been measured */
    struct step *st;
    int ns;
    struct s24_infer_layer *layers;
    int nl;
    float **x;           /* per model slot: (n, h, w, c) host buffers */
    int64_t *xn, *xh, *xw;
    size_t *cap;         /* floats */
    float *cols, *prod;  /* (K, Pc) gathered columns, (OC, Pc) product */
    size_t cols_cap, prod_cap;
    struct s24_nn_ws ws;
    struct s24_dnnl *dnnl; /* NULL without oneDNN: dense convs through nn_conv.c */
    int q8;              /* the int8 simulation (every layer dense) */
    float *amax;         /* (layers) while calibrating: each int8 layer's largest input magnitude */
    float *qx;           /* (n, h, w, c) an int8 layer's input quantised and dequantised */
    size_t qx_cap;
};

static int grow(float **p, size_t *cap, size_t n)
{
    if (n <= *cap && *p) return S24_OK;
    float *q = realloc(*p, (n ? n : 1) * sizeof *q);
    if (!q) return s24_error(S24_ERR_NOMEM, "infer: out of memory (%zu floats)", n);
    *p = q, *cap = n;
    return S24_OK;
}

static int add_gemm(struct s24_infer_cpu *p, int i, int *skip_next)
{
    struct s24_model *m = p->m;
    struct step *t = &p->st[p->ns];
    struct s24_infer_layer *L = &p->layers[p->nl];
    struct s24_fold f;
    memset(t, 0, sizeof *t);
    memset(L, 0, sizeof *L);
    int rc = s24_fold_layer(m, i, &f);
    if (rc != S24_OK) return rc;
    t->kind = STEP_GEMM, t->node = i, t->out = f.out, t->layer = p->nl;
    t->w = f.w, t->b = f.b; /* the step owns them now, and s24_infer_free frees it */
    p->ns++, p->nl++;
    L->folded_bn = f.bn >= 0;
    *skip_next = f.bn >= 0;
    snprintf(L->name, sizeof L->name, "%s", m->params[m->nodes[i].pw].name);
    L->m = f.oc, L->k = f.row;
    const char *why = f.why;
    L->eligible = f.is24;
    t->q8 = p->q8 && s24_q8_layer_ok(f.is24, f.oc, f.row);
    if (L->eligible && p->q8)
        why = t->q8 ? "int8 simulation, dense in fp32" : "dense in fp32 (int8: oc, k not multiples "
                                                         "of 32)";
    else if (L->eligible)
        why = p->path == S24_INFER_DENSE  ? "dense asked for"
              : p->path == S24_INFER_AUTO ? "2:4 until measured"
                                          : "2:4 asked for";
    snprintf(L->why, sizeof L->why, "%s", why);
    if (L->eligible && p->path != S24_INFER_DENSE) {
        struct s24_view v = {f.oc, f.row, 1};
        struct s24_compressed c;
        rc = s24_compress(S24_F32, t->w, v, &c);
        if (rc == S24_OK) rc = s24_spmm_plan_init(&t->plan, &c);
        s24_compressed_free(&c);
        if (rc != S24_OK) return rc;
        t->use_sparse = L->sparse = 1;
    }
    return S24_OK;
}

static int q8_setup(struct s24_infer_cpu *p, const struct s24_infer_opts *o);

int s24_infer_cpu_create(struct s24_model *m, const struct s24_infer_opts *o,
                         struct s24_infer_cpu **out)
{
    *out = NULL;
    struct s24_infer_cpu *p = calloc(1, sizeof *p);
    if (!p) return s24_error(S24_ERR_NOMEM, "infer: out of memory");
    p->m = m;
    p->q8 = o->dtype == S24_I8;
    /* the simulation is a reference: dense, whatever the path asked */
    p->path = p->q8 ? S24_INFER_DENSE : (enum s24_infer_path)o->path;
    p->st = calloc((size_t)m->nn, sizeof *p->st);
    p->layers = calloc((size_t)m->nn, sizeof *p->layers);
    p->x = calloc((size_t)m->ns, sizeof *p->x);
    p->cap = calloc((size_t)m->ns, sizeof *p->cap);
    p->xn = calloc((size_t)m->ns, sizeof *p->xn);
    p->xh = calloc((size_t)m->ns, sizeof *p->xh);
    p->xw = calloc((size_t)m->ns, sizeof *p->xw);
    int rc = p->st && p->layers && p->x && p->cap && p->xn && p->xh && p->xw
                 ? S24_OK : s24_error(S24_ERR_NOMEM, "infer: out of memory");
#ifdef S24_HAVE_DNNL
    /* a oneDNN that cannot start leaves the dense convs to nn_conv.c */
    if (s24_dnnl_init(&p->dnnl) != S24_OK) p->dnnl = NULL;
#endif
    for (int i = 0; i < m->nn && rc == S24_OK; i++) {
        const struct s24_node *nd = &m->nodes[i];
        int skip = 0;
        if (nd->op == S24_N_CONV || nd->op == S24_N_LINEAR) {
            rc = add_gemm(p, i, &skip);
        } else {
            struct step *t = &p->st[p->ns++];
            memset(t, 0, sizeof *t);
            t->kind = STEP_NODE, t->node = i, t->out = nd->out, t->layer = -1;
        }
        i += skip;
    }
    if (rc == S24_OK && p->q8) rc = q8_setup(p, o);
    if (rc != S24_OK) {
        s24_infer_cpu_free(p);
        return rc;
    }
    *out = p;
    return S24_OK;
}

void s24_infer_cpu_free(struct s24_infer_cpu *p)
{
    if (!p) return;
    for (int i = 0; i < p->ns; i++) {
        free(p->st[i].w), free(p->st[i].b);
        s24_spmm_plan_free(p->st[i].plan);
        s24_dnnl_conv_free(p->st[i].dstate);
    }
    s24_dnnl_free(p->dnnl);
    for (int i = 0; p->x && i < p->m->ns; i++) free(p->x[i]);
    free(p->x), free(p->cap), free(p->xn), free(p->xh), free(p->xw);
    free(p->st), free(p->layers), free(p->cols), free(p->prod);
    free(p->amax), free(p->qx);
    s24_nn_ws_free(&p->ws);
    free(p);
}

int s24_infer_cpu_num_layers(const struct s24_infer_cpu *p) { return p->nl; }

const struct s24_infer_layer *s24_infer_cpu_layer_at(const struct s24_infer_cpu *p, int i)
{
    return i >= 0 && i < p->nl ? &p->layers[i] : NULL;
}

/* ---------------------------------------------------------------- run */
static int slot(struct s24_infer_cpu *p, int s, int64_t n, int64_t h, int64_t w)
{
    p->xn[s] = n, p->xh[s] = h, p->xw[s] = w;
    return grow(&p->x[s], &p->cap[s], (size_t)(n * h * w * p->m->slots[s].c));
}

/* The 2:4 conv: the product (OC, Pc) per chunk of Pc output positions, its
 * B packed straight from the NHWC input (s24_spmm_conv_run: no column
 * matrix), then written back to NHWC with the bias. The chunk keeps the
 * product within PROD_BUDGET so the transpose reads it from cache. */
static int sparse_conv(struct s24_infer_cpu *p, const struct step *t,
                       const struct s24_conv_shape *s, const float *x, float *y)
{
    int64_t oc = s->oc, NP = s->n * s->oh * s->ow;
    /* pb positions (across images: NHWC keeps them contiguous) per chunk, a
     * multiple of 64 so that only the last chunk ends in a part panel */
    int64_t pb = PROD_BUDGET / (oc > 0 ? oc : 1);
    pb = pb / 64 * 64;
    if (pb < 64) pb = 64;
    if (pb > NP) pb = NP;
    int rc = grow(&p->prod, &p->prod_cap, (size_t)(oc * pb));
    if (rc != S24_OK) return rc;
    for (int64_t g0 = 0; g0 < NP; g0 += pb) {
        int64_t Pc = NP - g0 < pb ? NP - g0 : pb;
        float *prod = p->prod;
        if ((rc = s24_spmm_conv_run(t->plan, s, x, g0, Pc, prod)) != S24_OK) return rc;
        float *yy = y + g0 * oc;
#pragma omp parallel for schedule(static) num_threads(s24_threads_get()) if (oc * Pc > S24_PAR_MIN)
        for (int64_t q = 0; q < Pc; q++)
            for (int64_t o = 0; o < oc; o++) yy[q * oc + o] = prod[o * Pc + q] + t->b[o];
    }
    return S24_OK;
}

/* Step t's layer, through the 2:4 plan when `sparse` (t->plan set), else dense. */
static int run_gemm(struct s24_infer_cpu *p, struct step *t, int sparse)
{
    struct s24_model *m = p->m;
    const struct s24_node *nd = &m->nodes[t->node];
    int in = nd->in, rc;
    struct s24_infer_layer *L = &p->layers[t->layer];
    const float *xi = p->x[in];
    if (t->q8) {
        int64_t e = p->xn[in] * p->xh[in] * p->xw[in] * m->slots[in].c;
        if (p->amax) {
            /* calibrating: the fp32 network's own input to this layer */
            float a = s24_q8_absmax(xi, e);
            if (a > p->amax[t->layer]) p->amax[t->layer] = a;
        } else if (t->a_scale > 0.0f) {
            if ((rc = grow(&p->qx, &p->qx_cap, (size_t)e))) return rc;
            for (int64_t j = 0; j < e; j++)
                p->qx[j] = (float)s24_q8_quant(xi[j], t->a_inv) * t->a_scale;
            xi = p->qx;
        }
    }
    if (nd->op == S24_N_LINEAR) {
        int64_t n = p->xn[in], ic = m->slots[in].c, oc = nd->oc;
        if (p->xh[in] * p->xw[in] != 1)
            return s24_error(S24_ERR_INVALID, "infer: linear layer on a spatial map");
        if ((rc = slot(p, t->out, n, 1, 1))) return rc;
        L->n = n;
        if (!sparse) return s24_cpu_linear_fwd(n, ic, oc, xi, t->w, t->b, p->x[t->out]);
        /* (ic, n) columns, (oc, n) product */
        if ((rc = grow(&p->cols, &p->cols_cap, (size_t)(ic * n))) ||
            (rc = grow(&p->prod, &p->prod_cap, (size_t)(oc * n))))
            return rc;
        for (int64_t k = 0; k < ic; k++)
            for (int64_t q = 0; q < n; q++) p->cols[k * n + q] = xi[q * ic + k];
        if ((rc = s24_spmm_plan_run(t->plan, p->cols, n, p->prod))) return rc;
        for (int64_t q = 0; q < n; q++)
            for (int64_t o = 0; o < oc; o++)
                p->x[t->out][q * oc + o] = p->prod[o * n + q] + t->b[o];
        return S24_OK;
    }
    struct s24_conv_shape cs = {p->xn[in], p->xh[in], p->xw[in], m->slots[in].c, nd->oc, nd->k,
                                nd->k, nd->stride, nd->pad, nd->groups, 0, 0};
    if ((rc = s24_conv_shape_init(&cs)) || (rc = slot(p, t->out, cs.n, cs.oh, cs.ow))) return rc;
    L->n = cs.n * cs.oh * cs.ow;
    if (sparse) return sparse_conv(p, t, &cs, xi, p->x[t->out]);
    if (p->dnnl && cs.groups == 1) {
        rc = s24_dnnl_conv2d_fwd(p->dnnl, &t->dstate, &cs, xi, t->w, t->b, p->x[t->out], &p->ws);
        if (rc != S24_ERR_UNSUPPORTED) return rc;
    }
    return s24_cpu_conv2d_fwd(&cs, xi, t->w, t->b, p->x[t->out], &p->ws);
}

/* AUTO: time step t's layer both ways on its input now in place and keep
 * the faster; the output left behind is the chosen path's. Each run reads
 * only the input slot and rewrites the whole output slot, so repeats are
 * harmless. */
static int measure(struct s24_infer_cpu *p, struct step *t)
{
    struct s24_infer_layer *L = &p->layers[t->layer];
    double tp[2][MEASURE_MAX], total = 0; /* [0] dense, [1] 2:4 */
    /* the warm-up pair: oneDNN's primitives for this shape, buffers grown */
    int rc = run_gemm(p, t, 0), r = 0;
    if (rc == S24_OK) rc = run_gemm(p, t, 1);
    for (; rc == S24_OK && r < MEASURE_MAX && (r < MEASURE_MIN || total < MEASURE_SECONDS); r++)
        for (int h = 0; h < 2 && rc == S24_OK; h++) {
            int sp = h ^ (r & 1); /* which goes first alternates too */
            double t0 = s24_now();
            rc = run_gemm(p, t, sp);
            tp[sp][r] = s24_now() - t0;
            total += tp[sp][r];
        }
    if (rc != S24_OK) return rc;
    double dm, sm;
    /* margin 0: a tie stays dense (the 2:4 path holds more memory for no gain) */
    t->use_sparse = L->sparse = s24_infer_choose(tp[0], r, tp[1], r, 0.0, &dm, &sm);
    L->dense_ms = 1e3 * dm, L->sparse_ms = 1e3 * sm;
    snprintf(L->why, sizeof L->why, "measured: dense %.3f, 2:4 %.3f ms (median of %d)",
             L->dense_ms, L->sparse_ms, r);
    L->ms = L->sparse ? L->sparse_ms : L->dense_ms;
    /* leave the chosen path's output (the last pair ended with the other one
     * half of the time) */
    return run_gemm(p, t, L->sparse);
}

/* Any other node, in evaluation mode, on the CPU kernels. */
static int run_node(struct s24_infer_cpu *p, const struct step *t)
{
    struct s24_model *m = p->m;
    const struct s24_node *nd = &m->nodes[t->node];
    int in = nd->in, rc;
    int64_t n = p->xn[in], h = p->xh[in], w = p->xw[in], c = m->slots[in].c, e = n * h * w * c;
    const float *x = p->x[in];
    switch (nd->op) {
    case S24_N_BN:
        if ((rc = slot(p, t->out, n, h, w))) return rc;
        s24_cpu_bn_fwd_eval(n * h * w, c, x, m->params[nd->pw].data, m->params[nd->pb].data,
                            m->params[nd->prm].data, m->params[nd->prv].data, nd->eps,
                            p->x[t->out]);
        return S24_OK;
    case S24_N_ACT:
        if ((rc = slot(p, t->out, n, h, w))) return rc;
        s24_cpu_act_fwd(nd->act, e, x, p->x[t->out]);
        return S24_OK;
    case S24_N_ADD:
        if (p->xn[nd->in2] != n || p->xh[nd->in2] != h || p->xw[nd->in2] != w)
            return s24_error(S24_ERR_INVALID, "infer: residual add of mismatched shapes");
        if ((rc = slot(p, t->out, n, h, w))) return rc;
        s24_cpu_add_fwd(e, x, p->x[nd->in2], p->x[t->out]);
        return S24_OK;
    case S24_N_GAP:
        if ((rc = slot(p, t->out, n, 1, 1))) return rc;
        s24_cpu_gap_fwd(n, h * w, c, x, p->x[t->out]);
        return S24_OK;
    case S24_N_MAXPOOL: {
        struct s24_pool_shape ps = {n, h, w, c, nd->k, nd->stride, nd->pad, 0, 0};
        if ((rc = s24_pool_shape_init(&ps)) || (rc = slot(p, t->out, n, ps.oh, ps.ow))) return rc;
        s24_cpu_maxpool_fwd(&ps, x, p->x[t->out]);
        return S24_OK;
    }
    case S24_N_SCALE:
        if ((rc = slot(p, t->out, n, h, w))) return rc;
        s24_cpu_scale_fwd(n, h * w, c, x, p->x[nd->in2], p->x[t->out]);
        return S24_OK;
    case S24_N_DROPOUT:
    case S24_N_SDEPTH: /* evaluation: the identity */
        if ((rc = slot(p, t->out, n, h, w))) return rc;
        memcpy(p->x[t->out], x, sizeof(float) * (size_t)e);
        return S24_OK;
    default:
        return s24_error(S24_ERR_INVALID, "infer: unexpected node %d", (int)nd->op);
    }
}


int s24_infer_cpu_run(struct s24_infer_cpu *p, const float *x, int n, int h, int w, float *logits)
{
    struct s24_model *m = p->m;
    int rc = slot(p, m->in_slot, n, h, w);
    if (rc) return rc;
    memcpy(p->x[m->in_slot], x, sizeof(float) * (size_t)n * (size_t)h * (size_t)w * 3);
    int measuring = p->path == S24_INFER_AUTO && !p->decided;
    for (int i = 0; i < p->ns; i++) {
        struct step *t = &p->st[i];
        if (t->kind == STEP_GEMM && measuring && t->plan) {
            if ((rc = measure(p, t))) return rc;
            continue;
        }
        double t0 = s24_now();
        rc = t->kind == STEP_GEMM ? run_gemm(p, t, t->use_sparse) : run_node(p, t);
        if (rc) return rc;
        if (t->kind == STEP_GEMM) p->layers[t->layer].ms = 1e3 * (s24_now() - t0);
    }
    if (measuring) p->decided = 1;
    memcpy(logits, p->x[m->out_slot], sizeof(float) * (size_t)n * (size_t)m->classes);
    return S24_OK;
}

/* ---------------------------------------------------------------- int8 simulation */
#define CALIB_CHUNK 64 /* calibration images per forward */

/* The int8 layers' activation scales, calibrated on the fp32 network (the
 * weights still unquantised) or taken from o, then each int8 layer's weight
 * quantised and dequantised in place. A layer given scale 0 stays fp32. */
static int q8_setup(struct s24_infer_cpu *p, const struct s24_infer_opts *o)
{
    int rc = S24_OK;
    float *y = NULL;
    if (o->act_scales) {
        if (o->n_act_scales != p->nl)
            return s24_error(S24_ERR_INVALID, "infer: int8: %d activation scales for %d layers",
                             o->n_act_scales, p->nl);
        for (int i = 0; i < p->ns; i++) {
            struct step *t = &p->st[i];
            if (t->kind != STEP_GEMM) continue;
            t->a_scale = o->act_scales[t->layer];
            t->q8 = t->a_scale > 0.0f;
        }
    } else {
        p->amax = calloc((size_t)p->nl, sizeof *p->amax);
        y = malloc(sizeof(float) * (size_t)CALIB_CHUNK * (size_t)p->m->classes);
        if (!p->amax || !y) {
            free(y);
            return s24_error(S24_ERR_NOMEM, "infer: out of memory");
        }
        size_t img = (size_t)o->calib_h * (size_t)o->calib_w * 3;
        for (int at = 0; at < o->calib_n && rc == S24_OK; at += CALIB_CHUNK) {
            int nb = o->calib_n - at < CALIB_CHUNK ? o->calib_n - at : CALIB_CHUNK;
            rc = s24_infer_cpu_run(p, o->calib + (size_t)at * img, nb, o->calib_h, o->calib_w, y);
        }
        for (int i = 0; i < p->ns && rc == S24_OK; i++)
            if (p->st[i].kind == STEP_GEMM && p->st[i].q8)
                p->st[i].a_scale = s24_q8_act_scale(p->amax[p->st[i].layer]);
        free(p->amax), free(y);
        p->amax = NULL;
        if (rc != S24_OK) return rc;
    }
    for (int i = 0; i < p->ns; i++) {
        struct step *t = &p->st[i];
        if (t->kind != STEP_GEMM || !t->q8) continue;
        struct s24_infer_layer *L = &p->layers[t->layer];
        int64_t oc = L->m, row = L->k;
        signed char *q = malloc((size_t)(oc * row));
        float *sc = malloc(sizeof(float) * (size_t)oc);
        if (!q || !sc) {
            free(q), free(sc);
            return s24_error(S24_ERR_NOMEM, "infer: out of memory");
        }
        s24_q8_weight(t->w, oc, row, q, sc);
        for (int64_t o2 = 0; o2 < oc; o2++)
            for (int64_t j = 0; j < row; j++) t->w[o2 * row + j] = (float)q[o2 * row + j] * sc[o2];
        free(q), free(sc);
        t->a_inv = s24_q8_inv(t->a_scale);
        L->act_scale = t->a_scale;
    }
    return S24_OK;
}
