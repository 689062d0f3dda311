/* dl_cublaslt.h: the cuBLASLt functions sparse24 calls, as a table filled
 * at run time (cublaslt_dl.cu), in the manner of dl_cudnn.h: included by
 * gpu_internal.h, so by every file that calls cuBLASLt, it maps each name
 * to its entry and the call sites read as plain cuBLASLt. A call with no
 * #define here is a link error (nothing links libcublasLt) and a #define
 * with no table entry a compile error. Call s24_dl_cublaslt_load (dl.h)
 * first: the two places that create a cuBLASLt handle (s24_gpu_init, the
 * CUDA training backend) do, and every other call takes a handle. */
#ifndef S24_DL_CUBLASLT_H
#define S24_DL_CUBLASLT_H

#include <cublasLt.h>

#include "dl.h"

#define S24_CUBLASLT_FUNCS(X)                                                                     \
    X(cublasLtCreate) X(cublasLtDestroy) X(cublasLtGetVersion) X(cublasLtGetStatusName)           \
    X(cublasLtGetStatusString) X(cublasLtMatmul) X(cublasLtMatmulAlgoGetHeuristic)                \
    X(cublasLtMatmulDescCreate) X(cublasLtMatmulDescDestroy) X(cublasLtMatmulDescSetAttribute)    \
    X(cublasLtMatmulPreferenceCreate) X(cublasLtMatmulPreferenceDestroy)                          \
    X(cublasLtMatmulPreferenceSetAttribute) X(cublasLtMatrixLayoutCreate)                         \
    X(cublasLtMatrixLayoutDestroy)

extern "C" {
#define S24_DL_MEMBER(f) S24_DL_PTR(f) f;
struct s24_cublaslt_fns {
    S24_CUBLASLT_FUNCS(S24_DL_MEMBER)
};
#undef S24_DL_MEMBER
extern struct s24_cublaslt_fns s24_cublaslt_fns;
}

#ifndef S24_DL_CUBLASLT_TABLE /* cublaslt_dl.cu fills the table under the real names */
#define cublasLtCreate s24_cublaslt_fns.cublasLtCreate
#define cublasLtDestroy s24_cublaslt_fns.cublasLtDestroy
#define cublasLtGetVersion s24_cublaslt_fns.cublasLtGetVersion
#define cublasLtGetStatusName s24_cublaslt_fns.cublasLtGetStatusName
#define cublasLtGetStatusString s24_cublaslt_fns.cublasLtGetStatusString
#define cublasLtMatmul s24_cublaslt_fns.cublasLtMatmul
#define cublasLtMatmulAlgoGetHeuristic s24_cublaslt_fns.cublasLtMatmulAlgoGetHeuristic
#define cublasLtMatmulDescCreate s24_cublaslt_fns.cublasLtMatmulDescCreate
#define cublasLtMatmulDescDestroy s24_cublaslt_fns.cublasLtMatmulDescDestroy
#define cublasLtMatmulDescSetAttribute s24_cublaslt_fns.cublasLtMatmulDescSetAttribute
#define cublasLtMatmulPreferenceCreate s24_cublaslt_fns.cublasLtMatmulPreferenceCreate
#define cublasLtMatmulPreferenceDestroy s24_cublaslt_fns.cublasLtMatmulPreferenceDestroy
#define cublasLtMatmulPreferenceSetAttribute s24_cublaslt_fns.cublasLtMatmulPreferenceSetAttribute
#define cublasLtMatrixLayoutCreate s24_cublaslt_fns.cublasLtMatrixLayoutCreate
#define cublasLtMatrixLayoutDestroy s24_cublaslt_fns.cublasLtMatrixLayoutDestroy
#endif

#endif
