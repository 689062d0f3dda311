/* gemm.cu: the public GEMM plan: checks the rules, owns the weight (a dense
 * pruned copy, plus cuSPARSELt's compressed form), dispatches a run to the
 * sparse (cusparselt.cu) or dense (cublaslt.cu) half, and in AUTO mode times
 * both once and keeps the faster. Also the measurement entry points (time,
 * host cost, graph replay) so that every caller measures the same way.
 * It does not talk to cuSPARSELt or cuBLASLt directly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu_internal.h"

struct s24_gemm_plan {
    s24_gpu_t *g;
    struct s24_gemm_desc d;
    enum s24_gemm_mode mode, chosen;
    struct s24_sp *sp;   /* NULL in DENSE mode, or in AUTO where sparse cannot run */
    struct s24_dn *dn;   /* NULL in SPARSE mode */
    void *w;             /* W (m x k, w_order), pruned, dense */
    size_t w_bytes;
    int have_weight;
    double auto_sparse_ms, auto_dense_ms;
};

extern "C" int s24_gemm_plan_init(s24_gpu_t *g, const struct s24_gemm_desc *d,
                                  enum s24_gemm_mode mode, s24_gemm_plan_t **out)
{
    int rc;
    s24_gemm_plan_t *p;
    *out = NULL;
    if (!g) return s24_error(S24_ERR_INVALID, "gemm plan: no GPU context");
    if ((rc = s24_gemm_check(d, mode)) != S24_OK) return rc;
    if (mode == S24_GEMM_SPARSE && !g->splt)
        return s24_error(S24_ERR_UNSUPPORTED, "gemm plan: the sparse path needs cuSPARSELt: %s",
                         g->splt_error[0] ? g->splt_error : "not available");
    p = (s24_gemm_plan_t *)calloc(1, sizeof *p);
    if (!p) return s24_error(S24_ERR_NOMEM, "gemm plan: out of memory");
    p->g = g;
    p->d = *d;
    p->mode = mode;
    p->chosen = mode == S24_GEMM_DENSE ? S24_GEMM_DENSE : S24_GEMM_SPARSE;
    p->w_bytes = s24_gemm_bytes(d->in_type, d->m, d->k);
    S24_GPU_CHECK(cudaMalloc(&p->w, p->w_bytes));
    if (mode != S24_GEMM_DENSE) {
        if (mode == S24_GEMM_SPARSE) {
            if ((rc = s24_sp_init(g->splt, d, &p->sp)) != S24_OK) goto fail;
        } else if (g->splt && s24_gemm_check(d, S24_GEMM_SPARSE) == S24_OK) {
            /* AUTO: a sparse path that cannot be made is a reason to use dense, not an error */
            if (s24_sp_init(g->splt, d, &p->sp) != S24_OK) p->sp = NULL;
        }
        s24_clear_error();
    }
    if (mode != S24_GEMM_SPARSE)
        if ((rc = s24_dn_init(g, d, &p->dn)) != S24_OK) goto fail;
    if (mode == S24_GEMM_AUTO && !p->sp) p->chosen = S24_GEMM_DENSE;
    *out = p;
    return S24_OK;
fail:
    s24_gemm_plan_free(p);
    return rc;
}

extern "C" void s24_gemm_plan_free(s24_gemm_plan_t *p)
{
    if (!p) return;
    cudaStreamSynchronize(p->g->stream);
    s24_sp_free(p->sp);
    s24_dn_free(p->dn);
    cudaFree(p->w);
    free(p);
}

extern "C" int s24_gemm_plan_set_weight(s24_gemm_plan_t *p, const void *d_w, int prune)
{
    int rc = S24_OK;
    cudaStream_t s = p->g->stream;
    p->have_weight = 0;
    if (p->sp && prune) {
        if ((rc = s24_sp_prune(p->sp, d_w, p->w, s)) != S24_OK) goto fail;
    } else {
        S24_GPU_CHECK(cudaMemcpyAsync(p->w, d_w, p->w_bytes, cudaMemcpyDeviceToDevice, s));
        if (prune && (rc = s24_gpu_prune24(p->g, p->d.in_type, p->w, p->d.m, p->d.k, p->d.w_order,
                                           s)) != S24_OK)
            goto fail;
    }
    if (p->sp) {
        if ((rc = s24_sp_check(p->sp, p->w, s)) != S24_OK) goto fail;
        if ((rc = s24_sp_compress(p->sp, p->w, s)) != S24_OK) goto fail;
    } else if (p->mode == S24_GEMM_DENSE && !prune) {
        /* a dense plan multiplies whatever it is given (the baseline's full weight) */
    } else {
        long long bad = 0;
        if ((rc = s24_gpu_check24(p->g, p->d.in_type, p->w, p->d.m, p->d.k, p->d.w_order, s,
                                  &bad)) != S24_OK)
            goto fail;
        if (bad) {
            rc = s24_error(S24_ERR_NOT_SPARSE,
                           "gemm plan: the weight (%lld x %lld) has %lld groups of four along k "
                           "with more than two non-zeros; prune it first",
                           (long long)p->d.m, (long long)p->d.k, bad);
            goto fail;
        }
    }
    S24_GPU_CHECK(cudaStreamSynchronize(s));
    p->have_weight = 1;
fail:
    return rc;
}

extern "C" int s24_gemm_plan_set_weight_host(s24_gemm_plan_t *p, const void *h_w, int prune)
{
    int rc = S24_OK;
    void *tmp = NULL;
    S24_GPU_CHECK(cudaMalloc(&tmp, p->w_bytes));
    S24_GPU_CHECK(cudaMemcpyAsync(tmp, h_w, p->w_bytes, cudaMemcpyHostToDevice, p->g->stream));
    rc = s24_gemm_plan_set_weight(p, tmp, prune);
fail:
    if (tmp) {
        cudaStreamSynchronize(p->g->stream);
        cudaFree(tmp);
    }
    return rc;
}

extern "C" int s24_gemm_plan_set_weight_compressed(s24_gemm_plan_t *p,
                                                   const struct s24_compressed *c)
{
    int rc;
    uint8_t *w = NULL, *t = NULL;
    size_t es = s24_dtype_size(p->d.in_type);
    struct s24_view v = {p->d.m, p->d.k, 1};
    if (!c || c->dtype != p->d.in_type || c->rows != p->d.m || c->k != p->d.k)
        return s24_error(
            S24_ERR_INVALID,
            "gemm plan: compressed weight %s %lld x %lld does not match the plan's %s %lld x %lld",
            c ? s24_gemm_dtype_name(c->dtype) : "(none)", c ? (long long)c->rows : 0LL,
            c ? (long long)c->k : 0LL, s24_gemm_dtype_name(p->d.in_type), (long long)p->d.m,
            (long long)p->d.k);
    w = (uint8_t *)malloc(p->w_bytes);
    if (!w) return s24_error(S24_ERR_NOMEM, "gemm plan: out of memory");
    if ((rc = s24_decompress(c, v, w)) != S24_OK) goto fail;
    if (p->d.w_order == S24_ORDER_COL) {
        /* the portable format is row-major along k; the plan wants W column-major */
        t = (uint8_t *)malloc(p->w_bytes);
        if (!t) {
            rc = s24_error(S24_ERR_NOMEM, "gemm plan: out of memory");
            goto fail;
        }
        for (int64_t i = 0; i < p->d.m; i++)
            for (int64_t j = 0; j < p->d.k; j++)
                memcpy(t + (size_t)(j * p->d.m + i) * es, w + (size_t)(i * p->d.k + j) * es, es);
        free(w);
        w = t;
        t = NULL;
    }
    rc = s24_gemm_plan_set_weight_host(p, w, 0);
fail:
    free(w);
    free(t);
    return rc;
}

extern "C" int s24_gemm_plan_get_weight(s24_gemm_plan_t *p, void *d_w)
{
    int rc = S24_OK;
    if (!p->have_weight) return s24_error(S24_ERR_INVALID, "gemm plan: no weight set");
    S24_GPU_CHECK(cudaMemcpyAsync(d_w, p->w, p->w_bytes, cudaMemcpyDeviceToDevice, p->g->stream));
    S24_GPU_CHECK(cudaStreamSynchronize(p->g->stream));
fail:
    return rc;
}

extern "C" int s24_gemm_run(s24_gemm_plan_t *p, const void *d_x, const void *d_c, void *d_d,
                            const void *d_bias, void *stream)
{
    cudaStream_t s = stream ? (cudaStream_t)stream : p->g->stream;
    if (!p->have_weight)
        return s24_error(S24_ERR_INVALID, "gemm run: no weight set (s24_gemm_plan_set_weight)");
    if (p->d.bias && !d_bias)
        return s24_error(S24_ERR_INVALID, "gemm run: the plan adds a bias but none was given");
    if (p->d.beta != 0.0f && !d_c) return s24_error(S24_ERR_INVALID, "gemm run: beta != 0 needs C");
    if (p->chosen == S24_GEMM_SPARSE) return s24_sp_run(p->sp, d_x, d_c, d_d, d_bias, s);
    return s24_dn_run(p->dn, p->w, d_x, d_c, d_d, d_bias, s);
}

extern "C" int s24_gemm_plan_set_bias(s24_gemm_plan_t *p, const void *d_bias)
{
    if (!p->d.bias)
        return s24_error(S24_ERR_INVALID, "gemm plan: made without bias (desc.bias = 0)");
    if (p->sp) return s24_sp_set_bias(p->sp, d_bias, p->g->stream);
    return S24_OK;
}

/* AUTO keeps sparse only when it measured at least this much faster than
 * dense: below that the two are a tie within the timing's noise on the 5-10
 * us shapes, and a tie goes to dense, whose time the caller already knows. */
#define S24_AUTO_MARGIN 0.02

struct run_ctx {
    s24_gemm_plan_t *p;
    const void *x, *c;
    void *dd;
    int raw;   /* the bare library call, for the host-cost comparison */
    int force; /* 0: the plan's choice; 1 + S24_GEMM_SPARSE / DENSE: that half */
};
static int run_call(void *ctx, cudaStream_t s)
{
    struct run_ctx *r = (struct run_ctx *)ctx;
    enum s24_gemm_mode m = r->force ? (enum s24_gemm_mode)(r->force - 1) : r->p->chosen;
    if (r->raw) {
        if (m == S24_GEMM_SPARSE) return s24_sp_raw(r->p->sp, r->x, r->c, r->dd, s);
        return s24_dn_raw(r->p->dn, r->p->w, r->x, r->c, r->dd, s);
    }
    if (r->force) {
        if (m == S24_GEMM_SPARSE) return s24_sp_run(r->p->sp, r->x, r->c, r->dd, NULL, s);
        return s24_dn_run(r->p->dn, r->p->w, r->x, r->c, r->dd, NULL, s);
    }
    return s24_gemm_run(r->p, r->x, r->c, r->dd, NULL, s);
}

extern "C" int s24_gemm_plan_tune(s24_gemm_plan_t *p, const void *d_x, const void *d_c, void *d_d)
{
    int rc = S24_OK;
    cudaStream_t s = p->g->stream;
    if (!p->have_weight) return s24_error(S24_ERR_INVALID, "gemm tune: no weight set");
    if (p->d.bias) return s24_error(S24_ERR_UNSUPPORTED, "gemm tune: tune a plan without bias");
    if (p->sp && p->d.search && (rc = s24_sp_search(p->sp, p->w, d_x, d_c, d_d, s)) != S24_OK)
        goto fail;
    if (p->dn && p->d.dense_tune && (rc = s24_dn_tune(p->dn, p->w, d_x, d_c, d_d, s)) != S24_OK)
        goto fail;
    if (p->mode == S24_GEMM_AUTO) {
        struct s24_gemm_timing t[2];
        struct run_ctx rd = {p, d_x, d_c, d_d, 0, 1 + S24_GEMM_DENSE};
        struct run_ctx rs = {p, d_x, d_c, d_d, 0, 1 + S24_GEMM_SPARSE};
        s24_call_fn fn[2] = {run_call, run_call};
        void *ctx[2] = {&rd, &rs};
        p->chosen = S24_GEMM_DENSE;
        /* both halves in one interleaved batch, so drift cannot pick the winner */
        if ((rc = s24_gpu_time_settled(p->g, p->sp ? 2 : 1, fn, ctx, 3, 31, 201, t, NULL)) !=
            S24_OK)
            goto fail;
        p->auto_dense_ms = t[0].median_ms;
        if (p->sp) {
            p->auto_sparse_ms = t[1].median_ms;
            if (t[1].median_ms < t[0].median_ms * (1.0 - S24_AUTO_MARGIN))
                p->chosen = S24_GEMM_SPARSE;
        }
    }
fail:
    return rc;
}

extern "C" int s24_gemm_plan_info(const s24_gemm_plan_t *p, struct s24_gemm_plan_info *out)
{
    memset(out, 0, sizeof *out);
    out->mode = p->mode;
    out->chosen = p->chosen;
    out->alg_id = out->alg_max = out->split_k = -1;
    out->auto_sparse_ms = p->auto_sparse_ms;
    out->auto_dense_ms = p->auto_dense_ms;
    size_t dws = 0, sws = 0, comp = 0;
    if (p->sp) {
        s24_sp_get_info(p->sp, &out->alg_id, &out->alg_max, &out->split_k, &sws, &comp);
        out->search_rejected = s24_sp_search_rejected(p->sp);
    }
    if (p->dn) s24_dn_info(p->dn, out->dense_algo, sizeof out->dense_algo, &dws);
    out->workspace_bytes = p->chosen == S24_GEMM_SPARSE ? sws : dws;
    out->weight_bytes = p->chosen == S24_GEMM_SPARSE ? comp : p->w_bytes;
    return S24_OK;
}

/* ---------------------------------------------------------------- measuring */
extern "C" int s24_gemm_time(s24_gemm_plan_t *p, const void *d_x, const void *d_c, void *d_d,
                             int warmup, int repeats, int flush_l2, struct s24_gemm_timing *out)
{
    struct run_ctx r = {p, d_x, d_c, d_d, 0, 0};
    if (!p->have_weight) return s24_error(S24_ERR_INVALID, "gemm time: no weight set");
    if (p->d.bias) return s24_error(S24_ERR_UNSUPPORTED, "gemm time: time a plan without bias");
    return s24_gpu_time_calls(p->g, run_call, &r, warmup, repeats, flush_l2, out);
}

extern "C" int s24_gemm_time_pair(s24_gemm_plan_t *a, s24_gemm_plan_t *b, const void *d_x,
                                  const void *d_c, void *d_d, int warmup, int repeats, int flush_l2,
                                  struct s24_gemm_timing out[2])
{
    if (a->g != b->g)
        return s24_error(S24_ERR_INVALID,
                         "gemm time pair: the plans belong to different GPU contexts");
    if (!a->have_weight || !b->have_weight)
        return s24_error(S24_ERR_INVALID, "gemm time pair: no weight set");
    if (a->d.bias || b->d.bias)
        return s24_error(S24_ERR_UNSUPPORTED, "gemm time pair: time plans without bias");
    struct run_ctx ra = {a, d_x, d_c, d_d, 0, 0}, rb = {b, d_x, d_c, d_d, 0, 0};
    s24_call_fn fn[2] = {run_call, run_call};
    void *ctx[2] = {&ra, &rb};
    return s24_gpu_time_interleaved(a->g, 2, fn, ctx, warmup, repeats, flush_l2, out);
}

static double wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

extern "C" int s24_gemm_host_cost(s24_gemm_plan_t *p, const void *d_x, const void *d_c, void *d_d,
                                  int calls, double *run_us, double *raw_us)
{
    enum { BATCHES = 7 };
    int rc = S24_OK;
    double t_run[BATCHES], t_raw[BATCHES];
    cudaStream_t s = p->g->stream;
    if (!p->have_weight) return s24_error(S24_ERR_INVALID, "gemm host cost: no weight set");
    if (p->d.bias) return s24_error(S24_ERR_UNSUPPORTED, "gemm host cost: use a plan without bias");
    if (calls < 1 || calls > 200)
        return s24_error(S24_ERR_INVALID, "gemm host cost: calls must be 1..200");
    /* warm both paths (first calls load kernels) */
    for (int i = 0; i < 3; i++) {
        if ((rc = s24_gemm_run(p, d_x, d_c, d_d, NULL, s)) != S24_OK) goto fail;
        struct run_ctx r = {p, d_x, d_c, d_d, 1, 0};
        if ((rc = run_call(&r, s)) != S24_OK) goto fail;
    }
    S24_GPU_CHECK(cudaStreamSynchronize(s));
    for (int b = 0; b < BATCHES; b++) {
        for (int raw = 0; raw < 2; raw++) {
            struct run_ctx r = {p, d_x, d_c, d_d, raw, 0};
            /* the GPU sleeps while the host enqueues, so the queue never
             * drains into the measurement and never fills up */
            if ((rc = s24_gpu_delay(p->g, 100.0 * calls + 500.0, s)) != S24_OK) goto fail;
            double t0 = wall_us();
            for (int i = 0; i < calls; i++)
                if ((rc = raw ? run_call(&r, s) : s24_gemm_run(p, d_x, d_c, d_d, NULL, s)) !=
                    S24_OK)
                    goto fail;
            double t1 = wall_us();
            (raw ? t_raw : t_run)[b] = (t1 - t0) / calls;
            S24_GPU_CHECK(cudaStreamSynchronize(s));
        }
    }
    qsort(t_run, BATCHES, sizeof(double), cmp_d);
    qsort(t_raw, BATCHES, sizeof(double), cmp_d);
    *run_us = t_run[BATCHES / 2];
    *raw_us = t_raw[BATCHES / 2];
fail:
    cudaStreamSynchronize(s);
    return rc;
}

extern "C" int s24_gemm_graph_time(s24_gemm_plan_t *p, const void *d_x, const void *d_c, void *d_d,
                                   int calls, int repeats, double *graph_us, double *eager_us)
{
    int rc = S24_OK, capturing = 0;
    s24_graph_t *gr = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    cudaStream_t s = p->g->stream;
    double *tg = NULL, *te = NULL;
    if (!p->have_weight) return s24_error(S24_ERR_INVALID, "gemm graph: no weight set");
    if (p->d.bias) return s24_error(S24_ERR_UNSUPPORTED, "gemm graph: use a plan without bias");
    if (calls < 1 || repeats < 1)
        return s24_error(S24_ERR_INVALID, "gemm graph: calls and repeats must be >= 1");
    tg = (double *)calloc((size_t)repeats, sizeof *tg);
    te = (double *)calloc((size_t)repeats, sizeof *te);
    if (!tg || !te) {
        rc = s24_error(S24_ERR_NOMEM, "gemm graph: out of memory");
        goto fail;
    }
    S24_GPU_CHECK(cudaEventCreate(&e0));
    S24_GPU_CHECK(cudaEventCreate(&e1));
    /* one eager call first: it must not be the capture that loads modules */
    if ((rc = s24_gemm_run(p, d_x, d_c, d_d, NULL, s)) != S24_OK) goto fail;
    S24_GPU_CHECK(cudaStreamSynchronize(s));
    if ((rc = s24_gpu_graph_begin(p->g)) != S24_OK) goto fail;
    capturing = 1;
    for (int i = 0; i < calls; i++)
        if ((rc = s24_gemm_run(p, d_x, d_c, d_d, NULL, s)) != S24_OK) goto fail;
    capturing = 0;
    if ((rc = s24_gpu_graph_end(p->g, &gr)) != S24_OK) goto fail;
    for (int i = 0; i < 2; i++)
        if ((rc = s24_graph_launch(gr)) != S24_OK) goto fail;
    for (int r = 0; r < repeats; r++) {
        float ms;
        S24_GPU_CHECK(cudaStreamSynchronize(s));
        S24_GPU_CHECK(cudaEventRecord(e0, s));
        if ((rc = s24_graph_launch(gr)) != S24_OK) goto fail;
        S24_GPU_CHECK(cudaEventRecord(e1, s));
        S24_GPU_CHECK(cudaEventSynchronize(e1));
        S24_GPU_CHECK(cudaEventElapsedTime(&ms, e0, e1));
        tg[r] = 1000.0 * ms / calls;
        /* the same calls launched one by one, starting from an idle GPU */
        S24_GPU_CHECK(cudaEventRecord(e0, s));
        for (int i = 0; i < calls; i++)
            if ((rc = s24_gemm_run(p, d_x, d_c, d_d, NULL, s)) != S24_OK) goto fail;
        S24_GPU_CHECK(cudaEventRecord(e1, s));
        S24_GPU_CHECK(cudaEventSynchronize(e1));
        S24_GPU_CHECK(cudaEventElapsedTime(&ms, e0, e1));
        te[r] = 1000.0 * ms / calls;
    }
    qsort(tg, (size_t)repeats, sizeof *tg, cmp_d);
    qsort(te, (size_t)repeats, sizeof *te, cmp_d);
    *graph_us = tg[repeats / 2];
    *eager_us = te[repeats / 2];
fail:
    if (capturing) {
        cudaGraph_t junk = NULL;
        cudaStreamEndCapture(s, &junk);
        if (junk) cudaGraphDestroy(junk);
        cudaGetLastError();
    }
    cudaStreamSynchronize(s);
    s24_graph_free(gr);
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    free(tg);
    free(te);
    return rc;
}
