/* build probe: cuDNN's header (compiled only: the library is opened at run
 * time, src/cuda/dl_cudnn.c) */
#include <cudnn.h>
int main(void) { return CUDNN_MAJOR < 9; }
