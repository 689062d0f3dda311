/* nn_norm_avx512.c: nn_norm.c's batch-norm kernels compiled again with
 * AVX-512 (the build gives *_avx512.c files -mavx512f/bw/vl/dq), as
 * s24_cpu_*_avx512; nn_norm.c's public functions call them when the CPU has
 * AVX-512 (s24_cpu_nn_isa). One source for both, so they cannot drift; no
 * intrinsics, only the compiler's vectorisation of the same loops. */
#define NN_NORM_VARIANT(f) f##_avx512
#include "nn_norm.c"
