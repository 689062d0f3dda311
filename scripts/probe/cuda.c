/* build probe: the CUDA runtime (linked statically) and cuBLASLt's header
 * (the library itself is opened at run time: src/cuda/cublaslt_dl.cu) */
#include <cublasLt.h>
#include <cuda_runtime.h>
int main(void) { int n; cublasLtHandle_t h = 0; (void)h; return cudaGetDeviceCount(&n); }
