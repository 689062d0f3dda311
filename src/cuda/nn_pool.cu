/* nn_pool.cu: the CUDA backend's max pool (NHWC, any window, stride and
 * padding), forward and backward, one thread per element with channels
 * fastest, so a warp reads 32 neighbouring channels of one position.
 *
 * The backward is a gather, not a scatter: each thread owns one input
 * element, finds the maximum of every window that can hold it again from x
 * (the rule s24_pool_takes, as the forward and the CPU) and adds the
 * gradients of the windows it won, in output order. No atomics and no
 * indices kept from the forward, and the sums come out as the CPU's
 * (src/cpu/nn_pool.c, which adds in the same order) bit for bit. The cost,
 * up to ceil(k/stride)^2 windows of k*k reads per element, is small next to
 * the convolutions around the one max pool a ResNet has.
 *
 * x, y, dy and dx are stored as be->act elements (fp32, or bf16 in the mixed
 * mode): the kernels are templated on T, compare the loaded values (equal
 * bf16 values are equal, the first still wins), copy the maximum's bits as
 * they are (exact) and add the backward's gradients in fp32, rounding once
 * at dx's store.
 *
 * Not here: a max pool fused into the convolution or activation before it. */
#include <stdint.h>

#include <type_traits>

#include "cuda/nn_cuda.h"

#define S24_POOL_TPB 256

struct s24_pool_geom {
    int64_t n, h, w, c, k, stride, pad, oh, ow;
};

/* The position (ih * w + iw) of window (n, oh, ow)'s maximum in channel c. */
template <class T>
static __device__ __forceinline__ int64_t s24_pool_argmax(const struct s24_pool_geom g,
                                                          const T *__restrict__ x, int64_t n,
                                                          int64_t oh, int64_t ow, int64_t c)
{
    int64_t h0 = oh * g.stride - g.pad, w0 = ow * g.stride - g.pad;
    int64_t h1 = h0 + g.k < g.h ? h0 + g.k : g.h, w1 = w0 + g.k < g.w ? w0 + g.k : g.w;
    h0 = h0 > 0 ? h0 : 0;
    w0 = w0 > 0 ? w0 : 0;
    int64_t best = h0 * g.w + w0;
    float bv = s24_ld(x + ((n * g.h + h0) * g.w + w0) * g.c + c);
    for (int64_t ih = h0; ih < h1; ih++)
        for (int64_t iw = ih == h0 ? w0 + 1 : w0; iw < w1; iw++) {
            float v = s24_ld(x + ((n * g.h + ih) * g.w + iw) * g.c + c);
            if (s24_pool_takes(v, bv)) bv = v, best = ih * g.w + iw;
        }
    return best;
}

/* y (n, oh, ow, c) = x at each window's maximum. */
template <class T>
static __global__ void s24_pool_fwd_k(const struct s24_pool_geom g, const T *__restrict__ x,
                                      T *__restrict__ y)
{
    int64_t total = g.n * g.oh * g.ow * g.c, step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {
        int64_t c = i % g.c, r = i / g.c, ow = r % g.ow, oh = (r / g.ow) % g.oh;
        int64_t n = r / (g.ow * g.oh);
        y[i] = x[(n * g.h * g.w + s24_pool_argmax(g, x, n, oh, ow, c)) * g.c + c];
    }
}

/* dx (n, h, w, c) += dy of the windows whose maximum each element is, in
 * output order (oh, then ow, ascending). */
template <class T>
static __global__ void s24_pool_bwd_k(const struct s24_pool_geom g, const T *__restrict__ x,
                                      const T *__restrict__ dy, T *__restrict__ dx)
{
    int64_t total = g.n * g.h * g.w * g.c, step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {
        int64_t c = i % g.c, r = i / g.c, iw = r % g.w, ih = (r / g.w) % g.h, n = r / (g.w * g.h);
        /* windows holding ih: oh * stride - pad <= ih < oh * stride - pad + k */
        int64_t a = ih + g.pad - g.k + 1, b = iw + g.pad - g.k + 1;
        int64_t oh0 = a > 0 ? (a + g.stride - 1) / g.stride : 0;
        int64_t ow0 = b > 0 ? (b + g.stride - 1) / g.stride : 0;
        int64_t oh1 = (ih + g.pad) / g.stride, ow1 = (iw + g.pad) / g.stride;
        oh1 = oh1 < g.oh - 1 ? oh1 : g.oh - 1;
        ow1 = ow1 < g.ow - 1 ? ow1 : g.ow - 1;
        float acc = s24_ld(dx + i);
        for (int64_t oh = oh0; oh <= oh1; oh++)
            for (int64_t ow = ow0; ow <= ow1; ow++)
                if (s24_pool_argmax(g, x, n, oh, ow, c) == ih * g.w + iw)
                    acc = __fadd_rn(acc, s24_ld(dy + ((n * g.oh + oh) * g.ow + ow) * g.c + c));
        s24_st(dx + i, acc);
    }
}

static int s24_pool_geom_of(const char *op, const struct s24_pool_shape *s,
                            struct s24_pool_geom *g)
{
    if (!s || s->n < 1 || s->h < 1 || s->w < 1 || s->c < 1 || s->k < 1 || s->stride < 1 ||
        s->pad < 0 || 2 * s->pad > s->k || s->oh != (s->h + 2 * s->pad - s->k) / s->stride + 1 ||
        s->ow != (s->w + 2 * s->pad - s->k) / s->stride + 1 || s->oh < 1 || s->ow < 1)
        return s24_error(S24_ERR_INVALID, "%s: bad shape (not from s24_pool_shape_init)", op);
    g->n = s->n, g->h = s->h, g->w = s->w, g->c = s->c;
    g->k = s->k, g->stride = s->stride, g->pad = s->pad, g->oh = s->oh, g->ow = s->ow;
    return S24_OK;
}

int s24_cu_maxpool_fwd(struct s24_backend *be, const struct s24_pool_shape *s, const float *x,
                       float *y)
{
    struct s24_pool_geom g;
    int rc = s24_pool_geom_of("maxpool_fwd", s, &g);
    if (rc != S24_OK) return rc;
    if (!x || !y) return s24_error(S24_ERR_INVALID, "maxpool_fwd: no buffer");
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        s24_pool_fwd_k<T><<<s24_cu_blocks(g.n * g.oh * g.ow * g.c, S24_POOL_TPB), S24_POOL_TPB, 0,
                            s24_cu(be)->stream>>>(g, (const T *)x, (T *)y);
    });
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_cu_maxpool_bwd(struct s24_backend *be, const struct s24_pool_shape *s, const float *x,
                       const float *dy, float *dx)
{
    struct s24_pool_geom g;
    int rc = s24_pool_geom_of("maxpool_bwd", s, &g);
    if (rc != S24_OK) return rc;
    if (!x || !dy || !dx) return s24_error(S24_ERR_INVALID, "maxpool_bwd: no buffer");
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        s24_pool_bwd_k<T><<<s24_cu_blocks(g.n * g.h * g.w * g.c, S24_POOL_TPB), S24_POOL_TPB, 0,
                            s24_cu(be)->stream>>>(g, (const T *)x, (const T *)dy, (T *)dx);
    });
    S24_LAUNCH_CHECK();
fail:
    return rc;
}
