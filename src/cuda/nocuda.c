/* nocuda.c: stands in for the GPU engine when sparse24 is built without CUDA,
 * so every public GPU call exists and reports that no GPU path was built. */
#include "sparse24/sparse24_cuda.h"

#include <stdio.h>

void s24_cuda_info(char *buf, size_t len)
{
    snprintf(buf, len, "cuda: not built (no CUDA toolkit found at build time)\n");
}
