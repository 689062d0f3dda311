/* cublaslt.cu: the dense half of the GEMM engine on cuBLASLt, the baseline
 * every sparse number is compared with: same dtypes, layouts and epilogues
 * as the sparse plan, the heuristic's first choice, and optionally the
 * fastest of its top candidates timed on the real buffers (autotune).
 * It does not check shapes (gemm_rules.c does) and knows nothing of 2:4. */
#include <cuda_fp16.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_internal.h"

#define DN_MAX_CAND 16

struct s24_dn {
    s24_gpu_t *g;
    struct s24_gemm_desc d;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    int have_op, have_la, have_lb, have_lc;
    cublasLtMatmulHeuristicResult_t cand[DN_MAX_CAND];
    int ncand, chosen, tuned;
    int transposed;          /* D row-major: solve D^T = X^T W^T */
    float alpha_f, beta_f;   /* the scale type decides which pair is passed */
    int32_t alpha_i, beta_i;
    __half alpha_h, beta_h;
    const void *alpha_p, *beta_p;
    const void *bias;
};

/* A logical r x c matrix of order o as a column-major cuBLASLt operand. */
struct opnd {
    uint64_t rows, cols;
    int64_t ld;
    cublasOperation_t op;
};
static struct opnd describe(int64_t r, int64_t c, enum s24_order o)
{
    struct opnd x;
    if (o == S24_ORDER_COL) {
        x.rows = (uint64_t)r;
        x.cols = (uint64_t)c;
        x.ld = r;
        x.op = CUBLAS_OP_N;
    } else {
        x.rows = (uint64_t)c;
        x.cols = (uint64_t)r;
        x.ld = c;
        x.op = CUBLAS_OP_T;
    }
    return x;
}
static enum s24_order flip(enum s24_order o)
{
    return o == S24_ORDER_ROW ? S24_ORDER_COL : S24_ORDER_ROW;
}

int s24_dn_init(s24_gpu_t *g, const struct s24_gemm_desc *d, struct s24_dn **out)
{
    int rc = S24_OK;
    cublasLtMatmulPreference_t pref = NULL;
    struct s24_dn *p = (struct s24_dn *)calloc(1, sizeof *p);
    *out = NULL;
    if (!p) return s24_error(S24_ERR_NOMEM, "dense plan: out of memory");
    p->g = g;
    p->d = *d;
    p->transposed = d->d_order == S24_ORDER_ROW;
    {
        struct opnd a, b;
        uint64_t cr, cc;
        if (!p->transposed) {
            a = describe(d->m, d->k, d->w_order);
            b = describe(d->k, d->n, d->x_order);
            cr = (uint64_t)d->m;
            cc = (uint64_t)d->n;
        } else {
            a = describe(d->n, d->k, flip(d->x_order));
            b = describe(d->k, d->m, flip(d->w_order));
            cr = (uint64_t)d->n;
            cc = (uint64_t)d->m;
        }
        cublasComputeType_t ct;
        cudaDataType st;
        if (d->in_type == S24_I8) {
            ct = CUBLAS_COMPUTE_32I;
            st = d->out_type == S24_I32 ? CUDA_R_32I : CUDA_R_32F;
        } else if (d->fp16_accum) {
            ct = CUBLAS_COMPUTE_16F;
            st = CUDA_R_16F;
        } else {
            ct = d->in_type == S24_F32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
            st = CUDA_R_32F;
        }
        p->alpha_f = d->alpha;
        p->beta_f = d->beta;
        p->alpha_i = (int32_t)d->alpha;
        p->beta_i = (int32_t)d->beta;
        p->alpha_h = __float2half(d->alpha);
        p->beta_h = __float2half(d->beta);
        p->alpha_p = st == CUDA_R_32I ? (const void *)&p->alpha_i
                     : st == CUDA_R_16F ? (const void *)&p->alpha_h : (const void *)&p->alpha_f;
        p->beta_p = st == CUDA_R_32I ? (const void *)&p->beta_i
                    : st == CUDA_R_16F ? (const void *)&p->beta_h : (const void *)&p->beta_f;
        S24_GPU_CHECK(cublasLtMatmulDescCreate(&p->op, ct, st));
        p->have_op = 1;
        S24_GPU_CHECK(
            cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &a.op, sizeof a.op));
        S24_GPU_CHECK(
            cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &b.op, sizeof b.op));
        cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
        if (d->act == S24_GEMM_ACT_RELU)
            epi = d->bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
        else if (d->act == S24_GEMM_ACT_GELU)
            epi = d->bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
        else if (d->bias) epi = CUBLASLT_EPILOGUE_BIAS;
        if (epi != CUBLASLT_EPILOGUE_DEFAULT) {
            S24_GPU_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi,
                                                         sizeof epi));
            if (d->bias) {
                cudaDataType bt = s24_cuda_dtype(d->out_type);
                S24_GPU_CHECK(cublasLtMatmulDescSetAttribute(
                    p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt));
            }
        }
        S24_GPU_CHECK(
            cublasLtMatrixLayoutCreate(&p->la, s24_cuda_dtype(d->in_type), a.rows, a.cols, a.ld));
        p->have_la = 1;
        S24_GPU_CHECK(
            cublasLtMatrixLayoutCreate(&p->lb, s24_cuda_dtype(d->in_type), b.rows, b.cols, b.ld));
        p->have_lb = 1;
        S24_GPU_CHECK(
            cublasLtMatrixLayoutCreate(&p->lc, s24_cuda_dtype(d->out_type), cr, cc, (int64_t)cr));
        p->have_lc = 1;
    }
    S24_GPU_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    S24_GPU_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                             &g->dense_ws_bytes, sizeof g->dense_ws_bytes));
    S24_GPU_CHECK(cublasLtMatmulAlgoGetHeuristic(g->lt, p->op, p->la, p->lb, p->lc, p->lc, pref,
                                                 DN_MAX_CAND, p->cand, &p->ncand));
    if (p->ncand <= 0) {
        rc = s24_error(S24_ERR_UNSUPPORTED,
                       "dense plan: cuBLASLt has no algorithm for %s->%s at %lldx%lldx%lld",
                       s24_gemm_dtype_name(d->in_type), s24_gemm_dtype_name(d->out_type),
                       (long long)d->m, (long long)d->n, (long long)d->k);
        goto fail;
    }
    p->chosen = 0;
    cublasLtMatmulPreferenceDestroy(pref);
    *out = p;
    return S24_OK;
fail:
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    s24_dn_free(p);
    return rc;
}

void s24_dn_free(struct s24_dn *p)
{
    if (!p) return;
    if (p->have_la) cublasLtMatrixLayoutDestroy(p->la);
    if (p->have_lb) cublasLtMatrixLayoutDestroy(p->lb);
    if (p->have_lc) cublasLtMatrixLayoutDestroy(p->lc);
    if (p->have_op) cublasLtMatmulDescDestroy(p->op);
    free(p);
}

static cublasStatus_t dn_call(struct s24_dn *p, const void *w, const void *x, const void *c,
                              void *dd, cudaStream_t s)
{
    const void *a = p->transposed ? x : w, *b = p->transposed ? w : x;
    return cublasLtMatmul(p->g->lt, p->op, p->alpha_p, a, p->la, b, p->lb, p->beta_p, c ? c : dd,
                          p->lc, dd, p->lc, &p->cand[p->chosen].algo, p->g->dense_ws,
                          p->g->dense_ws_bytes, s);
}

int s24_dn_run(struct s24_dn *p, const void *w, const void *x, const void *c, void *dd,
               const void *bias, cudaStream_t s)
{
    int rc = S24_OK;
    if (bias != p->bias) {
        S24_GPU_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                     &bias, sizeof bias));
        p->bias = bias;
    }
    S24_GPU_CHECK(dn_call(p, w, x, c, dd, s));
fail:
    return rc;
}

int s24_dn_raw(struct s24_dn *p, const void *w, const void *x, const void *c, void *dd,
               cudaStream_t s)
{
    return s24_gpu_status(dn_call(p, w, x, c, dd, s), "cublasLtMatmul", __FILE__, __LINE__);
}

struct tune_ctx {
    struct s24_dn *p;
    const void *w, *x, *c;
    void *dd;
    int cand;
};
static int tune_call(void *ctx, cudaStream_t s)
{
    struct tune_ctx *t = (struct tune_ctx *)ctx;
    t->p->chosen = t->cand;
    return s24_dn_raw(t->p, t->w, t->x, t->c, t->dd, s);
}

/* Time the heuristic's candidates in one interleaved batch and keep the
 * fastest median: timed one after another, 5-10 us candidates were picked by
 * the clock of their moment, and two plans of one shape tuned apart. */
int s24_dn_tune(struct s24_dn *p, const void *w, const void *x, const void *c, void *dd,
                cudaStream_t s)
{
    struct tune_ctx t[DN_MAX_CAND];
    void *ctx[DN_MAX_CAND];
    s24_call_fn fn[DN_MAX_CAND];
    struct s24_gemm_timing tm[DN_MAX_CAND];
    int n = 0, best = 0;
    for (int i = 0; i < p->ncand; i++) {
        /* a candidate that fails to run is skipped, not fatal */
        struct tune_ctx one = {p, w, x, c, dd, i};
        if (tune_call(&one, s) != S24_OK || cudaStreamSynchronize(s) != cudaSuccess) {
            cudaGetLastError();
            continue;
        }
        t[n] = one;
        ctx[n] = &t[n];
        fn[n++] = tune_call;
    }
    /* on a failure best stays 0, the heuristic's own pick */
    if (n > 1) s24_gpu_time_settled(p->g, n, fn, ctx, 2, 21, 101, tm, &best);
    s24_clear_error();
    p->chosen = n ? t[best].cand : 0;
    p->tuned = 1;
    return S24_OK;
}

void s24_dn_info(const struct s24_dn *p, char *algo, size_t len, size_t *ws)
{
    if (p->tuned)
        snprintf(algo, len, "tuned #%d of %d", p->chosen, p->ncand);
    else
        snprintf(algo, len, "heuristic (of %d)", p->ncand);
    *ws = p->cand[p->chosen].workspaceSize;
}
