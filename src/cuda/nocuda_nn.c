/* nocuda_nn.c: the CUDA training backend's constructor in a build without
 * CUDA: `--device cuda` then fails with a message that says why. */
#include "nn/ops.h"

int s24_cuda_backend_init(struct s24_backend *be, int device)
{
    (void)be, (void)device;
    return s24_error(S24_ERR_NO_DEVICE,
                     "this sparse24 was built without CUDA: no GPU training (rebuild with the CUDA "
                     "toolkit and cuDNN present, USE_CUDA=1)");
}
