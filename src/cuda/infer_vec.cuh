/* infer_vec.cuh: device helpers the inference plan's kernels share
 * (infer_kernels.cu, infer_dw.cu): the activation by its run-time value with
 * nn_cuda.h's arithmetic (the training backend's, so the two agree up to
 * the 16-bit rounding), and fp16 / bf16 loads and stores of one value or of
 * a 16-byte run of 8, converted to fp32 (the memory-bound passes move 16
 * bytes a thread). */
#ifndef S24_INFER_VEC_CUH
#define S24_INFER_VEC_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "cuda/nn_cuda.h"

static __device__ __forceinline__ float s24_iv_act(int a, float v)
{
    switch (a) {
    case S24_ACT_RELU: return s24_cu_act<S24_ACT_RELU>(v);
    case S24_ACT_SILU: return s24_cu_act<S24_ACT_SILU>(v);
    case S24_ACT_SIGMOID: return s24_cu_act<S24_ACT_SIGMOID>(v);
    default: return v;
    }
}

/* 8 values of a 16-byte-aligned run to fp32 and back */
static __device__ __forceinline__ void s24_iv_ld8(const __half *p, float *v)
{
    uint4 u = *(const uint4 *)p;
    const __half2 *h = (const __half2 *)&u;
#pragma unroll
    for (int e = 0; e < 4; e++) {
        float2 f = __half22float2(h[e]);
        v[2 * e] = f.x, v[2 * e + 1] = f.y;
    }
}
static __device__ __forceinline__ void s24_iv_ld8(const __nv_bfloat16 *p, float *v)
{
    s24_ldn<8>(p, v);
}
static __device__ __forceinline__ void s24_iv_st8(__half *p, const float *v)
{
    uint4 u;
    __half2 *h = (__half2 *)&u;
#pragma unroll
    for (int e = 0; e < 4; e++) h[e] = __floats2half2_rn(v[2 * e], v[2 * e + 1]);
    *(uint4 *)p = u;
}
static __device__ __forceinline__ void s24_iv_st8(__nv_bfloat16 *p, const float *v)
{
    s24_stn<8>(p, v);
}
static __device__ __forceinline__ float s24_iv_ld1(const __half *p) { return __half2float(*p); }
static __device__ __forceinline__ float s24_iv_ld1(const __nv_bfloat16 *p)
{
    return __bfloat162float(*p);
}
static __device__ __forceinline__ void s24_iv_st1(__half *p, float v) { *p = __float2half_rn(v); }
static __device__ __forceinline__ void s24_iv_st1(__nv_bfloat16 *p, float v)
{
    *p = __float2bfloat16_rn(v);
}


/* 16-byte alignment of every non-NULL pointer given */
static inline int s24_iv_al16(const void *a, const void *b, const void *c, const void *d)
{
    return s24_cu_al16({a, b, c, d});
}

#endif
