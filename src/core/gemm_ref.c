/* gemm_ref.c: the naive oracles the fast GEMM kernels are tested against:
 * dense C = A x B and 2:4-compressed C = A x B, both accumulating in fp64.
 *
 * Deliberately slow and obvious: no SIMD intrinsics, no threads, no blocking
 * beyond what keeps the dense oracle usable at 1024^3. Never delete these; the
 * tests and `sparse24 bench cpu` compare the fast paths against them. */
#include "sparse24/sparse24.h"

#include <stdlib.h>

/* Columns of C accumulated at once in a stack buffer, so the dense oracle
 * walks B row by row (cache friendly) without needing malloc (it returns
 * void and so cannot report an allocation failure). */
#define REF_COLS 256

void s24_gemm_ref(int64_t m, int64_t n, int64_t k, const float *A, const float *B, float *C)
{
    double acc[REF_COLS];
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j0 = 0; j0 < n; j0 += REF_COLS) {
            int64_t nj = n - j0 < REF_COLS ? n - j0 : REF_COLS;
            for (int64_t j = 0; j < nj; j++) acc[j] = 0.0;
            for (int64_t p = 0; p < k; p++) {
                double a = A[i * k + p];
                const float *b = B + p * n + j0;
                for (int64_t j = 0; j < nj; j++) acc[j] += a * (double)b[j];
            }
            for (int64_t j = 0; j < nj; j++) C[i * n + j0 + j] = (float)acc[j];
        }
    }
}

/* The in-group positions of a 2:4 nibble; -1 when the nibble is not a valid
 * pair idx0 < idx1 (the compressed format promises it, but A may come from a
 * file). */
static int nibble_pair(unsigned nib, int *i0, int *i1)
{
    *i0 = (int)(nib & 3);
    *i1 = (int)((nib >> 2) & 3);
    return *i0 < *i1 ? 0 : -1;
}

int s24_spmm_ref(const struct s24_compressed *A, const void *B, int64_t n, float *C)
{
    double *acc = NULL; /* acc: (n), one row of C */
    int rc = S24_OK;
    if (!A || !C || (!B && n > 0 && A->k > 0))
        return s24_error(S24_ERR_INVALID, "spmm_ref: NULL argument");
    if (A->dtype != S24_F32 && A->dtype != S24_F16 && A->dtype != S24_BF16)
        return s24_error(S24_ERR_UNSUPPORTED, "spmm_ref: dtype %s (want F32, F16 or BF16)",
                         s24_dtype_name(A->dtype));
    if (A->rows < 0 || A->k < 0 || A->k % 4 != 0 || n < 0)
        return s24_error(S24_ERR_INVALID,
                         "spmm_ref: bad shape A %lld x %lld (k must be a multiple of 4), n %lld",
                         (long long)A->rows, (long long)A->k, (long long)n);
    if (A->rows > 0 && A->k > 0 && (!A->values || !A->meta))
        return s24_error(S24_ERR_INVALID, "spmm_ref: A has no values or metadata");
    if (A->rows == 0 || n == 0) return S24_OK;

    acc = malloc((size_t)n * sizeof *acc);
    if (!acc) return s24_error(S24_ERR_NOMEM, "spmm_ref: %lld doubles", (long long)n);
    const int64_t kh = A->k / 2;
    const size_t mb = (size_t)((A->k + 7) / 8); /* ceil(k/8), as s24_meta_row_bytes */
    for (int64_t i = 0; i < A->rows; i++) {
        for (int64_t j = 0; j < n; j++) acc[j] = 0.0;
        const uint8_t *meta = A->meta + (size_t)i * mb;
        for (int64_t g = 0; g < A->k / 4; g++) {
            unsigned nib = (meta[g / 2] >> (4 * (g % 2))) & 0xf;
            int pos[2];
            if (nibble_pair(nib, &pos[0], &pos[1]) < 0) {
                rc = s24_error(S24_ERR_FORMAT,
                               "spmm_ref: A row %lld group %lld: bad 2:4 metadata nibble 0x%x",
                               (long long)i, (long long)g, nib);
                goto fail;
            }
            for (int s = 0; s < 2; s++) {
                double a = s24_load_float(A->dtype, A->values, i * kh + 2 * g + s);
                int64_t row = 4 * g + pos[s];
                for (int64_t j = 0; j < n; j++)
                    acc[j] += a * s24_load_float(A->dtype, B, row * n + j);
            }
        }
        for (int64_t j = 0; j < n; j++) C[i * n + j] = (float)acc[j];
    }
fail:
    free(acc);
    return rc;
}
