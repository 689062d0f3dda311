/* nn_linear.cu: linear layers of the CUDA backend on cuBLASLt, fp32 math
 * (TF32 tensor cores when the context allows, else strict fp32), and the
 * helpers every bias goes through (convs too): the column sum of a bias
 * gradient, the row bias, and the mixed mode's fp32 <-> bf16 conversion.
 * Row-major tensors are handed to cuBLASLt (column-major) as their
 * transposes: a row-major (r, c) matrix is a column-major (c, r) one, so
 * each product below is written for the transposed outputs.
 * Descriptors and the heuristic's choice are made per call: they cost
 * microseconds against a step, and keep the context free of caches.
 * In the mixed mode a linear layer converts its bf16 activations to fp32
 * scratch, runs the fp32 GEMM and converts back: the layers are the
 * classifiers (a few MFLOP), where two small passes cost less than keeping
 * bf16 copies of their weights.
 * Not here: batched or strided GEMMs, fp16, fused activations. */
#include <stdint.h>
#include <string.h>

#include <type_traits>

#include "cuda/nn_cuda.h"

/* ---------------------------------------------------------------- column sums */
#define CS_TX 32
#define CS_TY 8

/* out (cols) += sum over rows of x (rows, cols). A block sums CS_TX columns
 * over its rows in fp64, reduces over threadIdx.y, then adds: atomically
 * when several blocks share a column (gridDim.y > 1), plainly otherwise. */
template <class T>
__global__ void colsum_kernel(int64_t rows, int64_t cols, const T *__restrict__ x,
                              float *__restrict__ out)
{
    __shared__ double red[CS_TY][CS_TX];
    int64_t col = (int64_t)blockIdx.x * CS_TX + threadIdx.x;
    double s = 0.0;
    if (col < cols)
        for (int64_t r = (int64_t)blockIdx.y * CS_TY + threadIdx.y; r < rows;
             r += (int64_t)gridDim.y * CS_TY)
            s += s24_ld(x + r * cols + col);
    red[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y || col >= cols) return;
    for (int i = 1; i < CS_TY; i++) s += red[i][threadIdx.x];
    if (gridDim.y > 1) atomicAdd(out + col, (float)s);
    else out[col] += (float)s;
}

template <class T>
static int colsum_run(struct s24_cuda_nn *cx, int64_t rows, int64_t cols, const T *x, float *out)
{
    int rc = S24_OK;
    if (rows <= 0 || cols <= 0) return S24_OK;
    int64_t gx = (cols + CS_TX - 1) / CS_TX;
    /* about 32 rows per thread, a few waves of blocks; one block row when
     * deterministic (the sums then never meet in an atomic) */
    int64_t gy = (rows + CS_TY * 32 - 1) / (CS_TY * 32);
    int64_t gy_max = 2048 / gx > 1 ? 2048 / gx : 1;
    if (gy > gy_max) gy = gy_max;
    if (cx->deterministic) gy = 1;
    colsum_kernel<<<dim3((unsigned)gx, (unsigned)gy), dim3(CS_TX, CS_TY), 0, cx->stream>>>(
        rows, cols, x, out);
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_cu_colsum_acc(struct s24_backend *be, int64_t rows, int64_t cols, const float *x,
                      float *out)
{
    int rc = S24_OK;
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        rc = colsum_run(s24_cu(be), rows, cols, (const T *)x, out);
    });
    return rc;
}

/* y (rows, cols) += b (cols) broadcast over rows: the bias when the GEMM's
 * epilogue cannot take it. */
template <class T>
__global__ void rowbias_kernel(int64_t rows, int64_t cols, const float *__restrict__ b,
                               T *__restrict__ y)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < rows * cols;
         i += (int64_t)gridDim.x * blockDim.x)
        s24_st(y + i, s24_ld(y + i) + b[i % cols]);
}

template <class T>
static int rowbias_run(struct s24_cuda_nn *cx, int64_t rows, int64_t cols, const float *b, T *y)
{
    int rc = S24_OK;
    rowbias_kernel<<<s24_cu_blocks(rows * cols, 256), 256, 0, cx->stream>>>(rows, cols, b, y);
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

/* y (rows, cols; activations) += b (cols, fp32) */
int s24_cu_rowbias(struct s24_backend *be, int64_t rows, int64_t cols, const float *b, float *y)
{
    int rc = S24_OK;
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        rc = rowbias_run(s24_cu(be), rows, cols, b, (T *)y);
    });
    return rc;
}

template <class S, class D>
__global__ void cvt_kernel(int64_t n, const S *__restrict__ src, D *__restrict__ dst, int acc)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        s24_st(dst + i, acc ? s24_ld(dst + i) + s24_ld(src + i) : s24_ld(src + i));
}

int s24_cu_cvt(struct s24_backend *be, int64_t n, const void *src, int src_bf16, void *dst,
               int dst_bf16, int acc)
{
    int rc = S24_OK;
    cudaStream_t st = s24_cu(be)->stream;
    unsigned g = s24_cu_blocks(n, 256);
    if (n <= 0) return S24_OK;
    if (src_bf16 && dst_bf16)
        cvt_kernel<<<g, 256, 0, st>>>(n, (const s24_bf16 *)src, (s24_bf16 *)dst, acc);
    else if (src_bf16)
        cvt_kernel<<<g, 256, 0, st>>>(n, (const s24_bf16 *)src, (float *)dst, acc);
    else if (dst_bf16)
        cvt_kernel<<<g, 256, 0, st>>>(n, (const float *)src, (s24_bf16 *)dst, acc);
    else
        cvt_kernel<<<g, 256, 0, st>>>(n, (const float *)src, (float *)dst, acc);
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

/* ---------------------------------------------------------------- GEMM */
/* The largest power of two (<= 256) dividing p: the heuristic assumes 256
 * unless told, and sub-allocated tensors may be less aligned. */
static uint32_t align_of(const void *p)
{
    uintptr_t v = (uintptr_t)p;
    uint32_t a = 256;
    while (a > 4 && (v & (a - 1))) a >>= 1;
    return a;
}

/* Column-major D (m, n; ld ldd) = op(A) op(B) + beta D, op(A) (m, k),
 * op(B) (k, n); bias (m, or NULL) added to every column by the epilogue.
 * *no_algo is set (and S24_OK returned) when the heuristic has nothing for
 * the bias epilogue, so the caller can add the bias itself. */
static int lt_gemm(struct s24_cuda_nn *cx, cublasOperation_t ta, cublasOperation_t tb,
                   int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float beta, float *d, int64_t ldd,
                   const float *bias, int *no_algo)
{
    int rc = S24_OK, found = 0;
    cublasLtMatmulDesc_t op = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, ld = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t res;
    const float alpha = 1.0f;
    cublasComputeType_t ct = cx->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    uint32_t al_a = align_of(a), al_b = align_of(b), al_d = align_of(d);
    if (no_algo) *no_algo = 0;
    memset(&res, 0, sizeof res);
    S24_GPU_CHECK(cublasLtMatmulDescCreate(&op, ct, CUDA_R_32F));
    S24_GPU_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    S24_GPU_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    if (bias) {
        cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        S24_GPU_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi,
                                                     sizeof epi));
        S24_GPU_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                                     sizeof bias));
    }
    S24_GPU_CHECK(cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, ta == CUBLAS_OP_N ? m : k,
                                             ta == CUBLAS_OP_N ? k : m, lda));
    S24_GPU_CHECK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, tb == CUBLAS_OP_N ? k : n,
                                             tb == CUBLAS_OP_N ? n : k, ldb));
    S24_GPU_CHECK(cublasLtMatrixLayoutCreate(&ld, CUDA_R_32F, m, n, ldd));
    S24_GPU_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    S24_GPU_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &cx->lt_ws_bytes, sizeof cx->lt_ws_bytes));
    S24_GPU_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a));
    S24_GPU_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b));
    S24_GPU_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_d, sizeof al_d));
    S24_GPU_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_d, sizeof al_d));
    {
        cublasStatus_t e = cublasLtMatmulAlgoGetHeuristic(cx->lt, op, la, lb, ld, ld, pref, 1,
                                                          &res, &found);
        if (e != CUBLAS_STATUS_SUCCESS && e != CUBLAS_STATUS_NOT_SUPPORTED)
            S24_GPU_CHECK(e);
    }
    if (found < 1) {
        if (bias && no_algo) {
            *no_algo = 1;
            goto fail; /* rc is S24_OK: the caller retries without the epilogue */
        }
        rc = s24_error(S24_ERR_UNSUPPORTED,
                       "linear: cuBLASLt has no fp32 algorithm (%s) for %lldx%lldx%lld%s",
                       cx->tf32 ? "tf32" : "strict", (long long)m, (long long)n, (long long)k,
                       bias ? " with bias" : "");
        goto fail;
    }
    /* C and D are one buffer: beta = 1 accumulates in place */
    S24_GPU_CHECK(cublasLtMatmul(cx->lt, op, &alpha, a, la, b, lb, &beta, d, ld, d, ld,
                                 &res.algo, cx->lt_ws, cx->lt_ws_bytes, cx->stream));
fail:
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (ld) cublasLtMatrixLayoutDestroy(ld);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (op) cublasLtMatmulDescDestroy(op);
    return rc;
}

static int linear_check(int64_t n, int64_t in, int64_t out)
{
    if (n < 0 || in < 1 || out < 1)
        return s24_error(S24_ERR_INVALID, "linear: bad shape (n %lld, in %lld, out %lld)",
                         (long long)n, (long long)in, (long long)out);
    return S24_OK;
}

/* y (n, out) = x (n, in) W^T + b, W (out, in). Column-major:
 * y^T (out, n) = W (W^T stored: (in, out), op T) x^T ((in, n), op N). */
static int linear_fwd32(struct s24_backend *be, int64_t n, int64_t in, int64_t out,
                        const float *x, const float *w, const float *b, float *y)
{
    struct s24_cuda_nn *cx = s24_cu(be);
    int rc = linear_check(n, in, out), no_algo = 0;
    if (rc != S24_OK || n == 0) return rc;
    /* the epilogue reads the bias in vectors: only an aligned one goes there */
    const float *eb = b && ((uintptr_t)b & 15) == 0 ? b : NULL;
    rc = lt_gemm(cx, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, w, in, x, in, 0.0f, y, out, eb,
                 &no_algo);
    if (rc == S24_OK && no_algo) {
        eb = NULL;
        rc = lt_gemm(cx, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, w, in, x, in, 0.0f, y, out, NULL,
                     NULL);
    }
    if (rc != S24_OK || !b || eb) return rc;
    return rowbias_run(cx, n, out, b, y);
}

/* dW (out, in) += dy^T x: column-major dW^T (in, out) = x^T ((in, n), op N)
 *   times dy ((out, n) stored, op T);
 * dx (n, in) += dy W: column-major dx^T (in, n) = W^T ((in, out), op N)
 *   times dy^T ((out, n), op N);
 * db (out) += the column sums of dy. */
static int linear_bwd32(struct s24_backend *be, int64_t n, int64_t in, int64_t out,
                        const float *x, const float *w, const float *dy, float *dx, float *dw,
                        float *db)
{
    struct s24_cuda_nn *cx = s24_cu(be);
    int rc = linear_check(n, in, out);
    if (rc != S24_OK || n == 0) return rc;
    rc = lt_gemm(cx, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, x, in, dy, out, 1.0f, dw, in, NULL,
                 NULL);
    if (rc == S24_OK && db) rc = colsum_run(cx, n, out, dy, db);
    if (rc == S24_OK && dx)
        rc = lt_gemm(cx, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, w, in, dy, out, 1.0f, dx, in,
                     NULL, NULL);
    return rc;
}

/* ---------------------------------------------------------------- the ops */
int s24_cu_linear_fwd(struct s24_backend *be, int64_t n, int64_t in, int64_t out, const float *x,
                      const float *w, const float *b, float *y)
{
    int rc = linear_check(n, in, out);
    if (rc != S24_OK || n == 0) return rc;
    if (be->act != S24_BF16) return linear_fwd32(be, n, in, out, x, w, b, y);
    float *xf = (float *)s24_be_ws(be, sizeof(float) * (size_t)(n * (in + out)));
    if (!xf) return s24_error(S24_ERR_NOMEM, "linear: no scratch for %lld x %lld fp32 values",
                              (long long)n, (long long)(in + out));
    float *yf = xf + n * in;
    if ((rc = s24_cu_cvt(be, n * in, x, 1, xf, 0, 0)) != S24_OK) return rc;
    if ((rc = linear_fwd32(be, n, in, out, xf, w, b, yf)) != S24_OK) return rc;
    return s24_cu_cvt(be, n * out, yf, 0, y, 1, 0);
}

/* The mixed mode: x, dy to fp32, dw and db straight into their fp32
 * gradients, dx through fp32 scratch added to the bf16 one. */
int s24_cu_linear_bwd(struct s24_backend *be, int64_t n, int64_t in, int64_t out, const float *x,
                      const float *w, const float *dy, float *dx, float *dw, float *db)
{
    int rc = linear_check(n, in, out);
    if (rc != S24_OK || n == 0) return rc;
    if (be->act != S24_BF16) return linear_bwd32(be, n, in, out, x, w, dy, dx, dw, db);
    float *xf = (float *)s24_be_ws(be, sizeof(float) * (size_t)(n * (2 * in + out)));
    if (!xf) return s24_error(S24_ERR_NOMEM, "linear: no scratch for %lld x %lld fp32 values",
                              (long long)n, (long long)(2 * in + out));
    float *dyf = xf + n * in, *dxf = dyf + n * out;
    if ((rc = s24_cu_cvt(be, n * in, x, 1, xf, 0, 0)) != S24_OK) return rc;
    if ((rc = s24_cu_cvt(be, n * out, dy, 1, dyf, 0, 0)) != S24_OK) return rc;
    if (dx && (rc = be->ops->zero(be, dxf, sizeof(float) * (size_t)(n * in))) != S24_OK) return rc;
    if ((rc = linear_bwd32(be, n, in, out, xf, w, dyf, dx ? dxf : NULL, dw, db)) != S24_OK)
        return rc;
    return dx ? s24_cu_cvt(be, n * in, dxf, 0, dx, 1, 1) : S24_OK;
}
