/* infer_dw.cu: the CUDA inference plan's own depthwise convolution
 * (groups = channels = output channels: EfficientNet-B0's 3x3 and 5x5
 * layers), fp16 or bf16 NHWC, with the folded bias, a residual and the
 * activation in the same pass.
 *
 * Why its own: cuDNN runs these layers in NHWC 16-bit at a fraction of the
 * memory bandwidth (0.74 ms for 32 channels at 112x112, batch 256, on the
 * H200, where reading and writing the tensors takes under 0.1 ms), and
 * needs the plan's separate bias + SiLU pass after it. A depthwise layer
 * does a few FMAs per byte, so the kernel only has to stream: one thread
 * per output position and 8 channels (16-byte loads along the NHWC row;
 * neighbouring threads read neighbouring channels and positions, so the
 * taps' overlap hits L1/L2), weights fp32 in (kh*kw, c) order so a tap's 8
 * weights are two float4 loads. Rows of c % 8 != 0 (or unaligned buffers)
 * take the one-channel variant. Arithmetic fp32, taps in (kh, kw) order,
 * one rounding on the store.
 * Not here: grouped convs with more than one channel per group (the direct
 * kernel in infer_kernels.cu), training (nn_conv.cu has its fp32 kernels). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "cuda/infer_cuda.h"
#include "cuda/infer_vec.cuh"

static const int DW_TPB = 256;

/* The shape in the index type I (32-bit where the tensors allow: the
 * divisions that place a thread are most of its integer work). */
template <class I> struct dw_geo {
    I n, h, w, c, oh, ow, kh, kw, stride, pad;
};

template <class T, class I, int V>
__global__ void __launch_bounds__(DW_TPB)
    dw_kernel(dw_geo<I> g, const T *__restrict__ x, const float *__restrict__ w,
              const float *__restrict__ b, const T *__restrict__ z, int act, T *__restrict__ y)
{
    const I cv = g.c / V, total = g.n * g.oh * g.ow * cv;
    for (I i = (I)blockIdx.x * DW_TPB + threadIdx.x; i < total; i += (I)gridDim.x * DW_TPB) {
        I ch = i % cv * V, q = i / cv;
        I ox = q % g.ow, r = q / g.ow, oy = r % g.oh, img = r / g.oh;
        float s[V];
#pragma unroll
        for (int e = 0; e < V; e++) s[e] = b ? b[ch + e] : 0.0f;
        I iy0 = oy * g.stride - g.pad, ix0 = ox * g.stride - g.pad;
        for (I ky = 0; ky < g.kh; ky++) {
            I iy = iy0 + ky;
            if (iy < 0 || iy >= g.h) continue;
            const T *xr = x + ((img * g.h + iy) * g.w) * g.c + ch;
            const float *wr = w + (ky * g.kw) * g.c + ch;
            for (I kx = 0; kx < g.kw; kx++) {
                I ix = ix0 + kx;
                if (ix < 0 || ix >= g.w) continue;
                const T *xp = xr + ix * g.c;
                const float *wp = wr + kx * g.c;
                if constexpr (V == 8) {
                    float v[8];
                    s24_iv_ld8(xp, v);
                    float4 w0 = *(const float4 *)wp, w1 = *(const float4 *)(wp + 4);
                    s[0] = fmaf(v[0], w0.x, s[0]), s[1] = fmaf(v[1], w0.y, s[1]);
                    s[2] = fmaf(v[2], w0.z, s[2]), s[3] = fmaf(v[3], w0.w, s[3]);
                    s[4] = fmaf(v[4], w1.x, s[4]), s[5] = fmaf(v[5], w1.y, s[5]);
                    s[6] = fmaf(v[6], w1.z, s[6]), s[7] = fmaf(v[7], w1.w, s[7]);
                } else {
#pragma unroll
                    for (int e = 0; e < V; e++) s[e] = fmaf(s24_iv_ld1(xp + e), wp[e], s[e]);
                }
            }
        }
        I o = q * g.c + ch;
        if constexpr (V == 8) {
            if (z) {
                float v[8];
                s24_iv_ld8(z + o, v);
#pragma unroll
                for (int e = 0; e < 8; e++) s[e] += v[e];
            }
#pragma unroll
            for (int e = 0; e < 8; e++) s[e] = s24_iv_act(act, s[e]);
            s24_iv_st8(y + o, s);
        } else {
#pragma unroll
            for (int e = 0; e < V; e++) {
                float r = s[e] + (z ? s24_iv_ld1(z + o + e) : 0.0f);
                s24_iv_st1(y + o + e, s24_iv_act(act, r));
            }
        }
    }
}

template <class T, class I>
static int dw_launch(const struct s24_conv_shape *cs, const void *x, const float *w,
                     const float *b, const void *z, int act, void *y, cudaStream_t s, int v8)
{
    int rc = S24_OK;
    dw_geo<I> g = {(I)cs->n, (I)cs->h, (I)cs->w, (I)cs->c, (I)cs->oh, (I)cs->ow,
                   (I)cs->kh, (I)cs->kw, (I)cs->stride, (I)cs->pad};
    int64_t total = cs->n * cs->oh * cs->ow * (v8 ? cs->c / 8 : cs->c);
    unsigned blocks = s24_cu_blocks(total, DW_TPB);
    if (v8)
        dw_kernel<T, I, 8><<<blocks, DW_TPB, 0, s>>>(g, (const T *)x, w, b, (const T *)z, act,
                                                     (T *)y);
    else
        dw_kernel<T, I, 1><<<blocks, DW_TPB, 0, s>>>(g, (const T *)x, w, b, (const T *)z, act,
                                                     (T *)y);
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_icu_dw_takes(const struct s24_conv_shape *cs)
{
    return cs->groups == cs->c && cs->oc == cs->c && cs->groups > 1;
}

int s24_icu_dw(enum s24_dtype dt, const struct s24_conv_shape *cs, const void *x, const float *w,
               const float *b, const void *z, int act, void *y, int scalar, cudaStream_t s)
{
    if (!s24_icu_dw_takes(cs) || (dt != S24_F16 && dt != S24_BF16))
        return s24_error(S24_ERR_INVALID, "infer (cuda): the depthwise kernel got groups %lld, "
                         "c %lld, oc %lld (%s)", (long long)cs->groups, (long long)cs->c,
                         (long long)cs->oc, s24_dtype_name(dt));
    int v8 = !scalar && cs->c % 8 == 0 && s24_iv_al16(x, y, z, w);
    int64_t big = cs->n * (cs->h > cs->oh ? cs->h : cs->oh) * (cs->w > cs->ow ? cs->w : cs->ow) *
                  cs->c;
    int i32 = big < INT32_MAX - DW_TPB * 65536LL * 4;
    if (dt == S24_F16)
        return i32 ? dw_launch<__half, int32_t>(cs, x, w, b, z, act, y, s, v8)
                   : dw_launch<__half, int64_t>(cs, x, w, b, z, act, y, s, v8);
    return i32 ? dw_launch<__nv_bfloat16, int32_t>(cs, x, w, b, z, act, y, s, v8)
               : dw_launch<__nv_bfloat16, int64_t>(cs, x, w, b, z, act, y, s, v8);
}
