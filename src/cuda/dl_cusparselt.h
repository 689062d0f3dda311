/* dl_cusparselt.h: the cuSPARSELt functions sparse24 calls, as a table
 * filled at run time (cusparselt_dl.cu), in the manner of dl_cudnn.h:
 * included after <cusparseLt.h>, it maps each name to its entry, so
 * cusparselt.cu reads as plain cuSPARSELt. A call with no #define here is a
 * link error (nothing links libcusparseLt) and a #define with no table entry
 * a compile error. Call s24_dl_cusparselt_load (dl.h) first. C++ only, as
 * the headers of cuSPARSELt before 0.8.1 are. */
#ifndef S24_DL_CUSPARSELT_H
#define S24_DL_CUSPARSELT_H

#include <cusparseLt.h>

#include "dl.h"

#define S24_CUSPARSELT_FUNCS(X)                                                                   \
    X(cusparseLtInit) X(cusparseLtDestroy) X(cusparseLtGetVersion) X(cusparseLtGetProperty)       \
    X(cusparseLtGetErrorName) X(cusparseLtGetErrorString) X(cusparseLtDenseDescriptorInit)        \
    X(cusparseLtStructuredDescriptorInit) X(cusparseLtMatDescriptorDestroy)                       \
    X(cusparseLtMatmulDescriptorInit) X(cusparseLtMatmulDescSetAttribute)                         \
    X(cusparseLtMatmulAlgSelectionInit) X(cusparseLtMatmulAlgSetAttribute)                        \
    X(cusparseLtMatmulAlgGetAttribute) X(cusparseLtMatmulAlgSelectionDestroy)                     \
    X(cusparseLtMatmulPlanInit) X(cusparseLtMatmulPlanDestroy) X(cusparseLtMatmulGetWorkspace)    \
    X(cusparseLtMatmul) X(cusparseLtMatmulSearch) X(cusparseLtSpMMAPrune)                         \
    X(cusparseLtSpMMAPruneCheck) X(cusparseLtSpMMACompressedSize) X(cusparseLtSpMMACompress)

extern "C" {
#define S24_DL_MEMBER(f) S24_DL_PTR(f) f;
struct s24_cusparselt_fns {
    S24_CUSPARSELT_FUNCS(S24_DL_MEMBER)
};
#undef S24_DL_MEMBER
extern struct s24_cusparselt_fns s24_cusparselt_fns;
}

#ifndef S24_DL_CUSPARSELT_TABLE /* cusparselt_dl.cu fills the table under the real names */
#define cusparseLtInit s24_cusparselt_fns.cusparseLtInit
#define cusparseLtDestroy s24_cusparselt_fns.cusparseLtDestroy
#define cusparseLtGetVersion s24_cusparselt_fns.cusparseLtGetVersion
#define cusparseLtGetProperty s24_cusparselt_fns.cusparseLtGetProperty
#define cusparseLtGetErrorName s24_cusparselt_fns.cusparseLtGetErrorName
#define cusparseLtGetErrorString s24_cusparselt_fns.cusparseLtGetErrorString
#define cusparseLtDenseDescriptorInit s24_cusparselt_fns.cusparseLtDenseDescriptorInit
#define cusparseLtStructuredDescriptorInit s24_cusparselt_fns.cusparseLtStructuredDescriptorInit
#define cusparseLtMatDescriptorDestroy s24_cusparselt_fns.cusparseLtMatDescriptorDestroy
#define cusparseLtMatmulDescriptorInit s24_cusparselt_fns.cusparseLtMatmulDescriptorInit
#define cusparseLtMatmulDescSetAttribute s24_cusparselt_fns.cusparseLtMatmulDescSetAttribute
#define cusparseLtMatmulAlgSelectionInit s24_cusparselt_fns.cusparseLtMatmulAlgSelectionInit
#define cusparseLtMatmulAlgSetAttribute s24_cusparselt_fns.cusparseLtMatmulAlgSetAttribute
#define cusparseLtMatmulAlgGetAttribute s24_cusparselt_fns.cusparseLtMatmulAlgGetAttribute
#define cusparseLtMatmulAlgSelectionDestroy s24_cusparselt_fns.cusparseLtMatmulAlgSelectionDestroy
#define cusparseLtMatmulPlanInit s24_cusparselt_fns.cusparseLtMatmulPlanInit
#define cusparseLtMatmulPlanDestroy s24_cusparselt_fns.cusparseLtMatmulPlanDestroy
#define cusparseLtMatmulGetWorkspace s24_cusparselt_fns.cusparseLtMatmulGetWorkspace
#define cusparseLtMatmul s24_cusparselt_fns.cusparseLtMatmul
#define cusparseLtMatmulSearch s24_cusparselt_fns.cusparseLtMatmulSearch
#define cusparseLtSpMMAPrune s24_cusparselt_fns.cusparseLtSpMMAPrune
#define cusparseLtSpMMAPruneCheck s24_cusparselt_fns.cusparseLtSpMMAPruneCheck
#define cusparseLtSpMMACompressedSize s24_cusparselt_fns.cusparseLtSpMMACompressedSize
#define cusparseLtSpMMACompress s24_cusparselt_fns.cusparseLtSpMMACompress
#endif

#endif
