/* build probe: CUDA runtime and cuBLASLt */
#include <cublasLt.h>
#include <cuda_runtime.h>
int main(void) { int n; cublasLtHandle_t h; cublasLtCreate(&h); return cudaGetDeviceCount(&n); }
