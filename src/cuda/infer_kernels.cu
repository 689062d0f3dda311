/* infer_kernels.cu: the CUDA inference plan's own kernels (infer_cuda.h):
 * fp32 <-> 16-bit conversion, the bias + activation epilogue, the unfolded
 * batch norm, add, activations, global average pooling, the SE scale, the
 * im2col gather of the 2:4 path (also quantising to int8 for an int8 plan),
 * the calibration's max-abs reduction, and a direct convolution for layers
 * cuDNN cannot run. Data are fp16 or bf16 NHWC; every kernel computes in fp32
 * and rounds once on the store. Plain grid-stride loops: these are memory
 * bound passes, and the layers that matter run in cuDNN or cuSPARSELt.
 * Not here: anything that trains, any fp32 activation path. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda/infer_cuda.h"
#include "cuda/infer_vec.cuh"

/* element i of p, through infer_vec.cuh's conversions */
template <class T> static __device__ __forceinline__ float ld(const T *p, int64_t i)
{
    return s24_iv_ld1(p + i);
}
template <class T> static __device__ __forceinline__ void st(T *p, int64_t i, float v)
{
    s24_iv_st1(p + i, v);
}

#define GRID_LOOP(i, n)                                                                        \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                  \
         i += (int64_t)gridDim.x * blockDim.x)

/* Runs f.template operator()<T>() with T the CUDA type of dt. */
#define DT_DISPATCH(dt, ...)                                                                   \
    do {                                                                                       \
        if ((dt) == S24_F16) {                                                                 \
            using T = __half;                                                                  \
            __VA_ARGS__;                                                                       \
        } else {                                                                               \
            using T = __nv_bfloat16;                                                           \
            __VA_ARGS__;                                                                       \
        }                                                                                      \
    } while (0)

static const int TPB = 256;
/* element counts below this index in 32 bits: i * 8 and the grid stride's
 * overshoot (s24_cu_blocks' cap, 65535 * 4 blocks) stay under 2^31 */
#define I32_SAFE ((int64_t)INT32_MAX - (int64_t)65535 * 4 * 256 * 8)
/* DT_DISPATCH with I the index type for `count` elements: int32_t below
 * I32_SAFE, else int64_t */
#define IDX_DISPATCH(dt, count, ...)                                                            \
    do {                                                                                       \
        if ((count) < I32_SAFE) {                                                              \
            using I = int32_t;                                                                 \
            DT_DISPATCH(dt, __VA_ARGS__);                                                      \
        } else {                                                                               \
            using I = int64_t;                                                                 \
            DT_DISPATCH(dt, __VA_ARGS__);                                                      \
        }                                                                                      \
    } while (0)

template <class T> __global__ void from_f32_kernel(const float *x, T *y, int64_t n)
{
    GRID_LOOP(i, n) st(y, i, x[i]);
}
template <class T> __global__ void to_f32_kernel(const T *x, float *y, int64_t n)
{
    GRID_LOOP(i, n) y[i] = ld(x, i);
}
/* rows of c channels in, rows of cp >= c out, the extra channels zero */
template <class T>
__global__ void from_f32_pad_kernel(const float *x, T *y, int64_t rows, int64_t c, int64_t cp)
{
    GRID_LOOP(i, rows * cp)
    {
        int64_t r = i / cp, ch = i % cp;
        st(y, i, ch < c ? x[r * c + ch] : 0.0f);
    }
}
/* The 8-wide passes: i counts runs of 8 values along NHWC rows (c % 8 == 0,
 * 16-byte aligned buffers), in 32-bit indices where the tensor allows
 * (I): these passes are where EfficientNet-B0 at 224x224 spends its
 * non-conv time, and 64-bit division per element costs more than the
 * memory traffic. */
#define GRID_LOOP_I(I, i, n)                                                                   \
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (I)gridDim.x * blockDim.x)

template <class T, class I>
__global__ void bias_act8_kernel(T *y, I n8, I c, const float *b, const T *z, int a)
{
    GRID_LOOP_I(I, i, n8)
    {
        float v[8], u[8];
        s24_iv_ld8(y + i * 8, v);
        if (z) s24_iv_ld8(z + i * 8, u);
        I ch = i * 8 % c;
#pragma unroll
        for (int e = 0; e < 8; e++)
            v[e] = s24_iv_act(a, v[e] + (b ? b[ch + e] : 0.0f) + (z ? u[e] : 0.0f));
        s24_iv_st8(y + i * 8, v);
    }
}
template <class T, class I>
__global__ void add_act8_kernel(const T *a, const T *b, T *y, I n8, int act)
{
    GRID_LOOP_I(I, i, n8)
    {
        float v[8], u[8];
        s24_iv_ld8(a + i * 8, v);
        s24_iv_ld8(b + i * 8, u);
#pragma unroll
        for (int e = 0; e < 8; e++) v[e] = s24_iv_act(act, v[e] + u[e]);
        s24_iv_st8(y + i * 8, v);
    }
}
template <class T, class I> __global__ void act8_kernel(const T *x, T *y, I n8, int a)
{
    GRID_LOOP_I(I, i, n8)
    {
        float v[8];
        s24_iv_ld8(x + i * 8, v);
#pragma unroll
        for (int e = 0; e < 8; e++) v[e] = s24_iv_act(a, v[e]);
        s24_iv_st8(y + i * 8, v);
    }
}
/* x (n, hw, c) times sc (n, c) */
template <class T, class I>
__global__ void scale8_kernel(const T *x, const T *sc, T *y, I n8, I hwc, I c)
{
    GRID_LOOP_I(I, i, n8)
    {
        float v[8], u[8];
        I o = i * 8, img = o / hwc, ch = o % c;
        s24_iv_ld8(x + o, v);
        s24_iv_ld8(sc + img * c + ch, u);
#pragma unroll
        for (int e = 0; e < 8; e++) v[e] *= u[e];
        s24_iv_st8(y + o, v);
    }
}
/* Global average pooling, one block per (image, 32 channels): 32 lanes
 * along the channels (contiguous reads), GAP_ROWS rows of them over the
 * positions, added in a fixed order through shared memory (so every run
 * gives the same bits). */
#define GAP_ROWS 16
template <class T> __global__ void gap2_kernel(const T *x, T *y, int64_t hw, int64_t c)
{
    __shared__ float part[GAP_ROWS][33];
    int lane = threadIdx.x % 32, row = threadIdx.x / 32;
    int64_t img = blockIdx.y, ch = (int64_t)blockIdx.x * 32 + lane;
    float s = 0.0f;
    if (ch < c) {
        const T *p = x + img * hw * c + ch;
        for (int64_t q = row; q < hw; q += GAP_ROWS) s += ld(p, q * c);
    }
    part[row][lane] = s;
    __syncthreads();
    if (row == 0 && ch < c) {
        float t = 0.0f;
        for (int r = 0; r < GAP_ROWS; r++) t += part[r][lane];
        st(y, img * c + ch, t / (float)hw);
    }
}

template <class T>
__global__ void bias_act_kernel(T *y, int64_t rows, int64_t c, const float *b, const T *z, int a)
{
    GRID_LOOP(i, rows * c)
    st(y, i, s24_iv_act(a, ld(y, i) + (b ? b[i % c] : 0.0f) + (z ? ld(z, i) : 0.0f)));
}
template <class T>
__global__ void affine_act_kernel(const T *x, T *y, int64_t rows, int64_t c, const float *sc,
                                  const float *sh, int a)
{
    GRID_LOOP(i, rows * c)
    {
        int64_t ch = i % c;
        st(y, i, s24_iv_act(a, fmaf(ld(x, i), sc[ch], sh[ch])));
    }
}
template <class T> __global__ void add_act_kernel(const T *a, const T *b, T *y, int64_t n, int act)
{
    GRID_LOOP(i, n) st(y, i, s24_iv_act(act, ld(a, i) + ld(b, i)));
}
template <class T> __global__ void act_kernel(const T *x, T *y, int64_t n, int a)
{
    GRID_LOOP(i, n) st(y, i, s24_iv_act(a, ld(x, i)));
}
/* one thread per (image, channel): channel-fastest threads read NHWC rows
 * contiguously */
template <class T> __global__ void gap_kernel(const T *x, T *y, int64_t n, int64_t hw, int64_t c)
{
    GRID_LOOP(i, n * c)
    {
        int64_t img = i / c, ch = i % c;
        const T *p = x + img * hw * c + ch;
        float s = 0.0f;
        for (int64_t q = 0; q < hw; q++) s += ld(p, q * c);
        st(y, i, s / (float)hw);
    }
}
/* one thread per output element, channel fastest; the first maximum of the
 * window wins and a NaN wins its window (the training ops' rule) */
template <class T> __global__ void maxpool_kernel(const T *x, T *y, struct s24_pool_shape ps)
{
    GRID_LOOP(i, ps.n * ps.oh * ps.ow * ps.c)
    {
        int64_t ch = i % ps.c, q = i / ps.c, ox = q % ps.ow, oy = q / ps.ow % ps.oh,
                img = q / (ps.ow * ps.oh);
        float best = 0.0f;
        int have = 0;
        for (int64_t ky = 0; ky < ps.k; ky++) {
            int64_t iy = oy * ps.stride - ps.pad + ky;
            if (iy < 0 || iy >= ps.h) continue;
            for (int64_t kx = 0; kx < ps.k; kx++) {
                int64_t ix = ox * ps.stride - ps.pad + kx;
                if (ix < 0 || ix >= ps.w) continue;
                float v = ld(x, ((img * ps.h + iy) * ps.w + ix) * ps.c + ch);
                if (!have || v > best || (v != v && best == best)) best = v, have = 1;
            }
        }
        st(y, i, best);
    }
}

template <class T>
__global__ void scale_kernel(const T *x, const T *sc, T *y, int64_t n, int64_t hw, int64_t c)
{
    GRID_LOOP(i, n * hw * c)
    {
        int64_t ch = i % c, img = i / (hw * c);
        st(y, i, ld(x, i) * ld(sc, img * c + ch));
    }
}
/* one thread per column-matrix element, c fastest: reads and writes run
 * along NHWC rows */
template <class T>
__global__ void im2col_kernel(struct s24_conv_shape g, const T *x, T *cols, int64_t rows)
{
    int64_t K = g.kh * g.kw * g.c, P = g.n * g.oh * g.ow;
    GRID_LOOP(i, rows * K)
    {
        int64_t p = i / K, k = i % K;
        float v = 0.0f;
        if (p < P) {
            int64_t ch = k % g.c, t = k / g.c, kw = t % g.kw, kh = t / g.kw;
            int64_t ow = p % g.ow, r = p / g.ow, oh = r % g.oh, img = r / g.oh;
            int64_t ih = oh * g.stride - g.pad + kh, iw = ow * g.stride - g.pad + kw;
            if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w)
                v = ld(x, ((img * g.h + ih) * g.w + iw) * g.c + ch);
        }
        st(cols, i, v);
    }
}
/* The same gather where c % 8 == 0 (every layer the 2:4 path sends here
 * but a 3-channel stem, which is padded to 8): one thread moves 8 channels
 * of one tap, 16 bytes as raw bits (fp16 and bf16 alike), so the index
 * arithmetic runs once per 8 elements and the loads and stores are full
 * 16-byte transactions. Rows and taps start at multiples of 8 elements, so
 * every uint4 is aligned (cudaMalloc's buffers are). */
__global__ void im2col8_kernel(struct s24_conv_shape g, const uint4 *x, uint4 *cols, int64_t rows)
{
    int64_t c8 = g.c / 8, K8 = g.kh * g.kw * c8, P = g.n * g.oh * g.ow;
    GRID_LOOP(i, rows * K8)
    {
        int64_t p = i / K8, k = i % K8;
        uint4 v = make_uint4(0u, 0u, 0u, 0u);
        if (p < P) {
            int64_t ch = k % c8, t = k / c8, kw = t % g.kw, kh = t / g.kw;
            int64_t ow = p % g.ow, r = p / g.ow, oh = r % g.oh, img = r / g.oh;
            int64_t ih = oh * g.stride - g.pad + kh, iw = ow * g.stride - g.pad + kw;
            if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w)
                v = x[((img * g.h + ih) * g.w + iw) * c8 + ch];
        }
        cols[i] = v;
    }
}
/* s24_q8_quant (src/nn/infer_q8.c) on the device: the same product, the
 * same rounding, the same clamp and NaN rule, so the GPU's int8 values are
 * the CPU simulation's for the same input */
static __device__ __forceinline__ signed char q8(float v, float inv)
{
    float r = rintf(v * inv);
    if (!(r >= -127.0f)) r = r != r ? 0.0f : -127.0f;
    if (r > 127.0f) r = 127.0f;
    return (signed char)(int)r;
}
template <class T>
__global__ void quant8_kernel(const T *x, signed char *q, int64_t valid, int64_t n, float inv)
{
    GRID_LOOP(i, n) q[i] = i < valid ? q8(ld(x, i), inv) : (signed char)0;
}
/* im2col_kernel's gather, quantised */
template <class T>
__global__ void im2col_q8_kernel(struct s24_conv_shape g, const T *x, signed char *cols,
                                 int64_t rows, float inv)
{
    int64_t K = g.kh * g.kw * g.c, P = g.n * g.oh * g.ow;
    GRID_LOOP(i, rows * K)
    {
        int64_t p = i / K, k = i % K;
        signed char v = 0;
        if (p < P) {
            int64_t ch = k % g.c, t = k / g.c, kw = t % g.kw, kh = t / g.kw;
            int64_t ow = p % g.ow, r = p / g.ow, oh = r % g.oh, img = r / g.oh;
            int64_t ih = oh * g.stride - g.pad + kh, iw = ow * g.stride - g.pad + kw;
            if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w)
                v = q8(ld(x, ((img * g.h + ih) * g.w + iw) * g.c + ch), inv);
        }
        cols[i] = v;
    }
}
/* a warp's max, then one atomic per warp on the bits: non-negative floats
 * order as their bit patterns do, +inf included */
template <class T> __global__ void absmax_kernel(const T *x, int64_t n, float *amax)
{
    float m = 0.0f;
    GRID_LOOP(i, n)
    {
        float a = fabsf(ld(x, i));
        m = fmaxf(m, a != a ? INFINITY : a);
    }
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_down_sync(0xffffffffu, m, o));
    if ((threadIdx.x & 31) == 0) atomicMax((int *)amax, __float_as_int(m));
}
template <class T>
__global__ void conv_direct_kernel(struct s24_conv_shape g, const T *x, const T *w, const float *b,
                                   int a, T *y)
{
    int64_t icg = g.c / g.groups, ocg = g.oc / g.groups;
    GRID_LOOP(i, g.n * g.oh * g.ow * g.oc)
    {
        int64_t o = i % g.oc, p = i / g.oc;
        int64_t ow = p % g.ow, r = p / g.ow, oh = r % g.oh, img = r / g.oh;
        int64_t c0 = o / ocg * icg;
        float s = b ? b[o] : 0.0f;
        for (int64_t kh = 0; kh < g.kh; kh++) {
            int64_t ih = oh * g.stride - g.pad + kh;
            if (ih < 0 || ih >= g.h) continue;
            for (int64_t kw = 0; kw < g.kw; kw++) {
                int64_t iw = ow * g.stride - g.pad + kw;
                if (iw < 0 || iw >= g.w) continue;
                const T *xp = x + ((img * g.h + ih) * g.w + iw) * g.c + c0;
                const T *wp = w + ((o * g.kh + kh) * g.kw + kw) * icg;
                for (int64_t ci = 0; ci < icg; ci++) s = fmaf(ld(xp, ci), ld(wp, ci), s);
            }
        }
        st(y, i, s24_iv_act(a, s));
    }
}

/* ---------------------------------------------------------------- launches */
int s24_icu_from_f32(enum s24_dtype dt, const float *x, void *y, int64_t n, cudaStream_t s)
{
    int rc = S24_OK;
    DT_DISPATCH(dt, from_f32_kernel<T><<<s24_cu_blocks(n, TPB), TPB, 0, s>>>(x, (T *)y, n));
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_icu_to_f32(enum s24_dtype dt, const void *x, float *y, int64_t n, cudaStream_t s)
{
    int rc = S24_OK;
    DT_DISPATCH(dt, to_f32_kernel<T><<<s24_cu_blocks(n, TPB), TPB, 0, s>>>((const T *)x, y, n));
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_icu_from_f32_pad(enum s24_dtype dt, const float *x, void *y, int64_t rows, int64_t c,
                         int64_t cp, cudaStream_t s)
{
    int rc = S24_OK;
    if (cp == c) return s24_icu_from_f32(dt, x, y, rows * c, s);
    DT_DISPATCH(dt, from_f32_pad_kernel<T><<<s24_cu_blocks(rows * cp, TPB), TPB, 0, s>>>(
                        x, (T *)y, rows, c, cp));
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_icu_bias_act(enum s24_dtype dt, void *y, int64_t rows, int64_t c, const float *b,
                     const void *z, int act, cudaStream_t s)
{
    int rc = S24_OK;
    if (!b && !z && act == S24_ACT_NONE) return S24_OK;
    if (c % 8 == 0 && s24_iv_al16(y, z, b, NULL)) {
        int64_t n8 = rows * c / 8;
        IDX_DISPATCH(dt, rows * c, bias_act8_kernel<T, I><<<s24_cu_blocks(n8, TPB), TPB, 0, s>>>(
                                       (T *)y, (I)n8, (I)c, b, (const T *)z, act));
        S24_LAUNCH_CHECK();
        return S24_OK;
    }
    DT_DISPATCH(dt, bias_act_kernel<T><<<s24_cu_blocks(rows * c, TPB), TPB, 0, s>>>(
                        (T *)y, rows, c, b, (const T *)z, act));
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_icu_affine_act(enum s24_dtype dt, const void *x, void *y, int64_t rows, int64_t c,
                       const float *scale, const float *shift, int act, cudaStream_t s)
{
    int rc = S24_OK;
    DT_DISPATCH(dt, affine_act_kernel<T><<<s24_cu_blocks(rows * c, TPB), TPB, 0, s>>>(
                        (const T *)x, (T *)y, rows, c, scale, shift, act));
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_icu_add_act(enum s24_dtype dt, const void *a, const void *b, void *y, int64_t n, int act,
                    cudaStream_t s)
{
    int rc = S24_OK;
    if (n % 8 == 0 && s24_iv_al16(a, b, y, NULL)) {
        IDX_DISPATCH(dt, n, add_act8_kernel<T, I><<<s24_cu_blocks(n / 8, TPB), TPB, 0, s>>>(
                                (const T *)a, (const T *)b, (T *)y, (I)(n / 8), act));
        S24_LAUNCH_CHECK();
        return S24_OK;
    }
    DT_DISPATCH(dt, add_act_kernel<T><<<s24_cu_blocks(n, TPB), TPB, 0, s>>>(
                        (const T *)a, (const T *)b, (T *)y, n, act));
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_icu_act(enum s24_dtype dt, const void *x, void *y, int64_t n, int act, cudaStream_t s)
{
    int rc = S24_OK;
    if (n % 8 == 0 && s24_iv_al16(x, y, NULL, NULL)) {
        IDX_DISPATCH(dt, n, act8_kernel<T, I><<<s24_cu_blocks(n / 8, TPB), TPB, 0, s>>>(
                                (const T *)x, (T *)y, (I)(n / 8), act));
        S24_LAUNCH_CHECK();
        return S24_OK;
    }
    DT_DISPATCH(dt, act_kernel<T><<<s24_cu_blocks(n, TPB), TPB, 0, s>>>((const T *)x, (T *)y, n,
                                                                          act));
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_icu_gap(enum s24_dtype dt, const void *x, void *y, int64_t n, int64_t hw, int64_t c,
                cudaStream_t s)
{
    int rc = S24_OK;
    if (n <= 65535) {
        dim3 grid((unsigned)((c + 31) / 32), (unsigned)n);
        DT_DISPATCH(dt, gap2_kernel<T><<<grid, 32 * GAP_ROWS, 0, s>>>((const T *)x, (T *)y, hw, c));
        S24_LAUNCH_CHECK();
        return S24_OK;
    }
    DT_DISPATCH(dt, gap_kernel<T><<<s24_cu_blocks(n * c, TPB), TPB, 0, s>>>((const T *)x, (T *)y,
                                                                              n, hw, c));
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_icu_maxpool(enum s24_dtype dt, const struct s24_pool_shape *ps, const void *x, void *y,
                    cudaStream_t s)
{
    int rc = S24_OK;
    DT_DISPATCH(dt, maxpool_kernel<T><<<s24_cu_blocks(ps->n * ps->oh * ps->ow * ps->c, TPB), TPB, 0,
                                        s>>>((const T *)x, (T *)y, *ps));
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_icu_scale(enum s24_dtype dt, const void *x, const void *sc, void *y, int64_t n,
                  int64_t hw, int64_t c, cudaStream_t s)
{
    int rc = S24_OK;
    if (c % 8 == 0 && s24_iv_al16(x, sc, y, NULL)) {
        int64_t e = n * hw * c;
        IDX_DISPATCH(dt, e, scale8_kernel<T, I><<<s24_cu_blocks(e / 8, TPB), TPB, 0, s>>>(
                                (const T *)x, (const T *)sc, (T *)y, (I)(e / 8), (I)(hw * c),
                                (I)c));
        S24_LAUNCH_CHECK();
        return S24_OK;
    }
    DT_DISPATCH(dt, scale_kernel<T><<<s24_cu_blocks(n * hw * c, TPB), TPB, 0, s>>>(
                        (const T *)x, (const T *)sc, (T *)y, n, hw, c));
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_icu_im2col(enum s24_dtype dt, const struct s24_conv_shape *cs, const void *x, void *cols,
                   int64_t rows, cudaStream_t s)
{
    int rc = S24_OK;
    int64_t n = rows * cs->kh * cs->kw * cs->c;
    if (cs->c % 8 == 0 && s24_dtype_size(dt) == 2 && cs->groups == 1 &&
        !(((uintptr_t)x | (uintptr_t)cols) & 15)) {
        im2col8_kernel<<<s24_cu_blocks(n / 8, TPB), TPB, 0, s>>>(*cs, (const uint4 *)x,
                                                                 (uint4 *)cols, rows);
        S24_LAUNCH_CHECK();
        return S24_OK;
    }
    DT_DISPATCH(dt, im2col_kernel<T><<<s24_cu_blocks(n, TPB), TPB, 0, s>>>(*cs, (const T *)x,
                                                                             (T *)cols, rows));
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_icu_quant8(enum s24_dtype dt, const void *x, signed char *q, int64_t valid, int64_t rows,
                   int64_t k, float inv, cudaStream_t s)
{
    int rc = S24_OK;
    int64_t n = rows * k;
    DT_DISPATCH(dt, quant8_kernel<T><<<s24_cu_blocks(n, TPB), TPB, 0, s>>>((const T *)x, q,
                                                                             valid * k, n, inv));
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_icu_im2col_q8(enum s24_dtype dt, const struct s24_conv_shape *cs, const void *x,
                      signed char *cols, int64_t rows, float inv, cudaStream_t s)
{
    int rc = S24_OK;
    int64_t n = rows * cs->kh * cs->kw * cs->c;
    DT_DISPATCH(dt, im2col_q8_kernel<T><<<s24_cu_blocks(n, TPB), TPB, 0, s>>>(
                        *cs, (const T *)x, cols, rows, inv));
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_icu_absmax(enum s24_dtype dt, const void *x, int64_t n, float *amax, cudaStream_t s)
{
    int rc = S24_OK;
    if (n <= 0) return S24_OK;
    DT_DISPATCH(dt, absmax_kernel<T><<<s24_cu_blocks(n, TPB), TPB, 0, s>>>((const T *)x, n,
                                                                             amax));
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_icu_conv_direct(enum s24_dtype dt, const struct s24_conv_shape *cs, const void *x,
                        const void *w, const float *b, int act, void *y, cudaStream_t s)
{
    int rc = S24_OK;
    int64_t n = cs->n * cs->oh * cs->ow * cs->oc;
    DT_DISPATCH(dt, conv_direct_kernel<T><<<s24_cu_blocks(n, TPB), TPB, 0, s>>>(
                        *cs, (const T *)x, (const T *)w, b, act, (T *)y));
    S24_LAUNCH_CHECK();
fail:
    return rc;
}
