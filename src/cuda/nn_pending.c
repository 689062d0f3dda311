/* nn_pending.c: the CUDA training backend's constructor until its
 * implementation (src/cuda/nn_backend.cu) lands: a CUDA build says plainly
 * that the backend is not there. Removed with that commit. */
#include "nn/ops.h"

#ifdef S24_HAVE_CUDA
int s24_cuda_backend_init(struct s24_backend *be, int device)
{
    (void)be, (void)device;
    return s24_error(S24_ERR_UNSUPPORTED, "the CUDA training backend is not in this build yet");
}
#endif
