/* nn_gemm.c: the engine's single-precision GEMM entry (OpenBLAS when the
 * build found it, else a plain threaded fallback so the engine still runs on
 * a machine without it). Not a tuned GEMM: the fallback exists for correctness. */
#include "cpu/cpu_nn.h"

#include <stdlib.h>
#include <string.h>

#include "sparse24/sparse24.h"

#ifdef S24_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef S24_HAVE_OPENBLAS
/* C (m x n) = alpha op(A) op(B) + beta C with op(B) packed row-major (k x n)
 * first, so the inner loop runs along contiguous rows of B and C. */
static int gemm_fallback(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                         const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                         float *c, int64_t ldc)
{
    float *bp = NULL; /* op(B): (k, n) row-major */
    const float *B = b;
    int64_t ldB = ldb;
    if (tb) {
        bp = malloc((size_t)(k * n > 0 ? k * n : 1) * sizeof *bp);
        if (!bp) return s24_error(S24_ERR_NOMEM, "sgemm: %lld x %lld packing buffer",
                                  (long long)k, (long long)n);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < k; j++) bp[j * n + i] = b[i * ldb + j];
        B = bp;
        ldB = n;
    }
    int nt = s24_threads_get();
#pragma omp parallel for num_threads(nt) schedule(static) if (m * n * k > S24_PAR_MIN)
    for (int64_t i = 0; i < m; i++) {
        float *crow = c + i * ldc;
        if (beta == 0.0f)
            for (int64_t j = 0; j < n; j++) crow[j] = 0.0f;
        else if (beta != 1.0f)
            for (int64_t j = 0; j < n; j++) crow[j] *= beta;
        for (int64_t p = 0; p < k; p++) {
            float av = alpha * (ta ? a[p * lda + i] : a[i * lda + p]);
            const float *brow = B + p * ldB;
            for (int64_t j = 0; j < n; j++) crow[j] += av * brow[j];
        }
    }
    free(bp);
    return S24_OK;
}
#endif

int s24_nn_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                 int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    if (m <= 0 || n <= 0) return S24_OK;
    if (k <= 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return S24_OK;
    }
#ifdef S24_HAVE_OPENBLAS
    if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX || lda > INT32_MAX || ldb > INT32_MAX ||
        ldc > INT32_MAX)
        return s24_error(S24_ERR_UNSUPPORTED, "sgemm: %lld x %lld x %lld exceeds BLAS int",
                         (long long)m, (long long)n, (long long)k);
    /* One thread pool, not two: OpenBLAS runs single-threaded inside the
     * engine's OpenMP threads, each on a block of C's rows (or columns when
     * C is short and wide). Mixing OpenBLAS's own threads with OpenMP's
     * spinning workers made small convolutions 10x slower on 2 busy cores. */
    int nt = s24_threads_get();
    openblas_set_num_threads(1);
    int rc = S24_OK;
    int64_t work = m * n * k;
    if (nt > 1 && work > ((int64_t)1 << 21)) {
        /* a few blocks per thread, taken dynamically: on a shared machine a
         * descheduled thread then delays one block, not half the GEMM */
        int split_m = m >= n;
        int64_t len = split_m ? m : n, nb = len >= 64 * nt ? 4 * nt : nt;
        int64_t blk = (len + nb - 1) / nb;
        if (split_m) blk = (blk + 7) / 8 * 8;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (int64_t t = 0; t < nb; t++) {
            int64_t lo = t * blk, hi = lo + blk < len ? lo + blk : len;
            if (lo >= hi) continue;
            if (split_m)
                cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                            tb ? CblasTrans : CblasNoTrans, (int)(hi - lo), (int)n, (int)k, alpha,
                            ta ? a + lo : a + lo * lda, (int)lda, b, (int)ldb, beta, c + lo * ldc,
                            (int)ldc);
            else
                cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                            tb ? CblasTrans : CblasNoTrans, (int)m, (int)(hi - lo), (int)k, alpha,
                            a, (int)lda, tb ? b + lo * ldb : b + lo, (int)ldb, beta, c + lo,
                            (int)ldc);
        }
    } else {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
    }
    /* leave OpenBLAS as s24_threads_set() configured it for everyone else
     * (the demo's dense baseline, benchmarks) */
    openblas_set_num_threads(nt);
    return rc;
#else
    return gemm_fallback(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}
