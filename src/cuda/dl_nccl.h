/* dl_nccl.h: the NCCL functions sparse24 calls, as a table filled at run
 * time (nccl_dl.cu), in the manner of dl_cudnn.h: included instead of
 * <nccl.h> by every file that calls NCCL (src/comm/comm_nccl.cu, and gpu.cu
 * for the version), it maps each name to its entry, so the call sites read
 * as plain NCCL. A call with no #define here is a link error (nothing links
 * libnccl) and a #define with no table entry a compile error. Call
 * s24_dl_nccl_load (dl.h) first: the communicator and its id do. */
#ifndef S24_DL_NCCL_H
#define S24_DL_NCCL_H

#include <nccl.h>

#include "dl.h"

#define S24_NCCL_FUNCS(X)                                                                         \
    X(ncclGetVersion) X(ncclGetErrorString) X(ncclGetLastError) X(ncclGetUniqueId)                \
    X(ncclCommInitRankConfig) X(ncclCommGetAsyncError) X(ncclCommFinalize) X(ncclCommDestroy)     \
    X(ncclCommAbort) X(ncclAllReduce) X(ncclBroadcast)

extern "C" {
#define S24_DL_MEMBER(f) S24_DL_PTR(f) f;
struct s24_nccl_fns {
    S24_NCCL_FUNCS(S24_DL_MEMBER)
};
#undef S24_DL_MEMBER
extern struct s24_nccl_fns s24_nccl_fns;
}

#ifndef S24_DL_NCCL_TABLE /* nccl_dl.cu fills the table under the real names */
#define ncclGetVersion s24_nccl_fns.ncclGetVersion
#define ncclGetErrorString s24_nccl_fns.ncclGetErrorString
#define ncclGetLastError s24_nccl_fns.ncclGetLastError
#define ncclGetUniqueId s24_nccl_fns.ncclGetUniqueId
#define ncclCommInitRankConfig s24_nccl_fns.ncclCommInitRankConfig
#define ncclCommGetAsyncError s24_nccl_fns.ncclCommGetAsyncError
#define ncclCommFinalize s24_nccl_fns.ncclCommFinalize
#define ncclCommDestroy s24_nccl_fns.ncclCommDestroy
#define ncclCommAbort s24_nccl_fns.ncclCommAbort
#define ncclAllReduce s24_nccl_fns.ncclAllReduce
#define ncclBroadcast s24_nccl_fns.ncclBroadcast
#endif

#endif
