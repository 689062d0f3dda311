/* nocuda_nn.c: stands in for the CUDA training backend when sparse24 is
 * built without CUDA, so s24_backend_create(S24_DEVICE_CUDA, ...) exists and
 * reports why there is no GPU. No ops table: nothing can be created. */
#include "nn/ops.h"

int s24_cuda_backend_init(struct s24_backend *be, int device)
{
    (void)be;
    return s24_error(S24_ERR_NO_DEVICE, "cuda:%d: no GPU backend: sparse24 was built without "
                     "CUDA (rebuild where nvcc and cuBLASLt are found, or with USE_CUDA=1)",
                     device);
}
