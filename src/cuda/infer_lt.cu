/* infer_lt.cu: the CUDA inference plan's dense 1x1 convolutions (stride 1,
 * no padding, one group) and linear layers as cuBLASLt GEMMs on the NHWC
 * activation itself: D (oc x P) = W X, X the P positions' K values each,
 * the 16-bit bias (and a ReLU where no residual comes first) in cuBLASLt's
 * epilogue. The GEMM engine's dense plan (cublaslt.cu) does the GEMM, with
 * the descriptor the 2:4 path gives cuSPARSELt, so both paths read and
 * write the same layout. Whether a layer runs here or on cuDNN is the
 * plan's choice, by timing both (infer_cuda.cu, pick_lt): EfficientNet-B0's
 * dense plan spent 0.12 to 0.19 ms in each cuDNN 1x1 conv at 32x32 and
 * batch 256 where the 2:4 GEMM of the same shape took 0.02 ms
 * (docs/results/infer-h200.md, third measurement).
 * Not here: the choice, the residual and other activations (the plan's own
 * pass), k x k convolutions (infer_dense.cu). */
#include <stdlib.h>

#include "cuda/infer_cuda.h"

struct s24_icu_lt {
    struct s24_dn *dn;
    int64_t n; /* padded positions the plan is for */
    int relu;  /* ReLU in the epilogue */
};

void s24_icu_lt_free(struct s24_icu_lt *st)
{
    if (!st) return;
    s24_dn_free(st->dn);
    free(st);
}

int s24_icu_lt_run(struct s24_icu_lt **stp, s24_gpu_t *g, enum s24_dtype dt, const char *layer,
                   int64_t oc, int64_t np, int64_t k, const void *x, const void *w,
                   const void *b16, int relu, void *y, cudaStream_t s)
{
    int rc;
    struct s24_icu_lt *st = *stp;
    if (!st) {
        st = (struct s24_icu_lt *)calloc(1, sizeof *st);
        if (!st) return s24_error(S24_ERR_NOMEM, "infer: layer %s: out of memory", layer);
        *stp = st;
    }
    if (!st->dn || st->n != np || st->relu != relu) {
        struct s24_gemm_desc d;
        s24_dn_free(st->dn);
        st->dn = NULL;
        s24_gemm_desc_init(&d, oc, np, k, dt);
        d.bias = 1;
        d.act = relu ? S24_GEMM_ACT_RELU : S24_GEMM_ACT_NONE;
        if ((rc = s24_gemm_check(&d, S24_GEMM_DENSE)) != S24_OK) return rc;
        if ((rc = s24_dn_init(g, &d, &st->dn)) != S24_OK) return rc;
        st->n = np, st->relu = relu;
    }
    return s24_dn_run(st->dn, w, x, NULL, y, b16, s);
}
