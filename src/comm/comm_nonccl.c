/* comm_nonccl.c: stands in for comm_nccl.cu and its loader
 * (cuda/nccl_dl.cu) in builds without NCCL (or without CUDA), so callers
 * link and get a clear error instead. */
#include "comm/comm.h"
#include "cuda/dl.h"

int s24_dl_nccl_load(const char *need)
{
    return s24_error(S24_ERR_UNSUPPORTED,
                     "sparse24 was built without NCCL (USE_NCCL, needs CUDA)%s%s",
                     need ? "; needed for " : "", need ? need : "");
}

const char *s24_dl_nccl_path(void) { return NULL; }

int s24_comm_nccl_id(struct s24_comm_id *id)
{
    return s24_error(S24_ERR_UNSUPPORTED, "NCCL: this build has no NCCL (USE_NCCL, needs CUDA)");
}

int s24_comm_nccl_init(struct s24_backend *be, int rank, int size, const struct s24_comm_id *id,
                       double deadline_s, struct s24_comm **out)
{
    if (out) *out = NULL;
    return s24_error(S24_ERR_UNSUPPORTED,
                     "NCCL: this build has no NCCL (USE_NCCL, needs CUDA): rank %d of %d", rank,
                     size);
}
