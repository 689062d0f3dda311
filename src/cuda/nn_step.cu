/* nn_step.cu: the CUDA backend's work around the model in a training step:
 * softmax cross-entropy (loss sums, argmax hits, the logits' gradient),
 * masked SGD with PyTorch's arithmetic, and the batch augmentation (crop
 * with zero padding, flip, ToTensor and Normalize) from host-drawn offsets.
 *
 * Every scalar that changes per step (lr, momentum, the draws) is read from
 * device memory, so a captured graph replays a step with new values. SGD and
 * the batch are bit-identical to the CPU (one rounding per CPU statement:
 * __fmul_rn and friends stop nvcc's contractions); the loss matches it to
 * fp64 rounding, its argmax exactly.
 *
 * The logits, dlogits and the batch's x are activations, stored as be->act
 * elements (fp32, or bf16 in the mixed mode): the loss and the batch kernels
 * are templated on T, the loss's math runs on the loaded logits as in fp32
 * and dlogits and x are rounded at the store. SGD is fp32 only.
 *
 * Not here: the learning-rate schedule and the draws (host code, src/nn),
 * other optimisers, label validation on the host (the data lives on the
 * device: a bad image index gives NaN pixels and label -1, a bad label a NaN
 * loss, as on the CPU, never an out-of-bounds read). */
#include <math.h>
#include <stdint.h>

#include <type_traits>

#include "cuda/nn_cuda.h"
#include "sparse24/sparse24_train.h"

#define S24_ST_TPB 256   /* threads per block of the flat kernels */
#define S24_XENT_WARPS 8 /* rows in flight per block of the loss */
#define S24_XENT_MAX_BLOCKS 1024

/* ---------------------------------------------------------------- loss */
/* Keeps the larger logit, the lower index on a tie (the CPU's first strict
 * maximum); idx == classes marks "none yet". */
static __device__ __forceinline__ void s24_xent_best(float v, int idx, int classes, float *bv,
                                                     int *bi)
{
    if (idx == classes) return;
    if (*bi == classes || v > *bv || (v == *bv && idx < *bi)) *bv = v, *bi = idx;
}

/* logits, dlogits (n, classes), labels (n), acc (2): one warp a row; the
 * block adds its rows' losses and hits in warp order, then one atomic each. */
template <class T>
static __global__ void s24_xent_k(int n, int classes, const T *__restrict__ logits,
                                  const int32_t *__restrict__ labels, T *__restrict__ dlogits,
                                  double *acc)
{
    __shared__ double wl[S24_XENT_WARPS], wh[S24_XENT_WARPS];
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    double loss = 0, hits = 0;
    int64_t step = (int64_t)gridDim.x * S24_XENT_WARPS;
    for (int64_t i = (int64_t)blockIdx.x * S24_XENT_WARPS + w; i < n; i += step) {
        const T *z = logits + i * classes;
        float mx = 0.0f;
        int arg = classes;
        for (int j = lane; j < classes; j += 32)
            s24_xent_best(s24_ld(z + j), j, classes, &mx, &arg);
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, mx, o);
            int oi = __shfl_xor_sync(0xffffffffu, arg, o);
            s24_xent_best(ov, oi, classes, &mx, &arg);
        }
        /* log-sum-exp shifted by the maximum, in fp64 as the CPU; the xor
         * butterfly leaves the same bits in every lane */
        double se = 0;
        for (int j = lane; j < classes; j += 32)
            se += exp((double)s24_ld(z + j) - (double)mx);
        for (int o = 16; o > 0; o >>= 1)
            se += __shfl_xor_sync(0xffffffffu, se, o);
        double lse = log(se) + (double)mx;
        int y = labels[i];
        int ok = y >= 0 && y < classes;
        if (lane == 0) {
            loss += ok ? lse - (double)s24_ld(z + y) : (double)NAN;
            hits += ok && arg == y;
        }
        if (dlogits) {
            T *d = dlogits + i * classes;
            for (int j = lane; j < classes; j += 32) {
                double p = exp((double)s24_ld(z + j) - lse);
                s24_st(d + j, (float)((p - (j == y ? 1.0 : 0.0)) / n));
            }
        }
    }
    if (lane == 0) wl[w] = loss, wh[w] = hits;
    __syncthreads();
    if (threadIdx.x == 0 && acc) {
        double l = 0, h = 0;
        for (int k = 0; k < S24_XENT_WARPS; k++)
            l += wl[k], h += wh[k];
        atomicAdd(acc, l);
        atomicAdd(acc + 1, h);
    }
}

int s24_cu_xent(struct s24_backend *be, int n, int classes, const float *logits,
                const int32_t *labels, float *dlogits, double *acc)
{
    int rc = S24_OK;
    int64_t nb = ((int64_t)n + S24_XENT_WARPS - 1) / S24_XENT_WARPS;
    if (nb > S24_XENT_MAX_BLOCKS) nb = S24_XENT_MAX_BLOCKS;
    /* the CPU's empty batch: nothing written, nothing added */
    if (n <= 0 || classes <= 0) return S24_OK;
    if (!logits || !labels) return s24_error(S24_ERR_INVALID, "xent: no logits or labels");
    if ((int64_t)n * classes > INT64_MAX / 2)
        return s24_error(S24_ERR_INVALID, "xent: %d rows of %d classes", n, classes);
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        s24_xent_k<T><<<(unsigned)nb, 32 * S24_XENT_WARPS, 0, s24_cu(be)->stream>>>(
            n, classes, (const T *)logits, labels, (T *)dlogits, acc);
    });
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

/* ---------------------------------------------------------------- SGD */
/* p, g, buf (n), mask (n) or NULL, hyper (2) = lr, momentum. The CPU's
 * s24_sgd_step order: a pruned gradient is zeroed (in g too), the update
 * d = g + wd p, buf = mu buf + d, p = p - lr buf, then a pruned weight and
 * its momentum are set to zero. */
static __global__ void s24_sgd_k(int64_t n, float *__restrict__ p, float *__restrict__ g,
                                 float *__restrict__ buf, const uint8_t *__restrict__ mask,
                                 const float *__restrict__ hyper, float wd)
{
    float lr = hyper[0], mu = hyper[1];
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        int keep = !mask || mask[i];
        float gi = g[i], pi = p[i];
        if (!keep) g[i] = gi = 0.0f;
        float d = __fadd_rn(gi, __fmul_rn(wd, pi));
        float b = __fadd_rn(__fmul_rn(mu, buf[i]), d);
        pi = __fsub_rn(pi, __fmul_rn(lr, b));
        if (!keep) pi = b = 0.0f;
        buf[i] = b;
        p[i] = pi;
    }
}

int s24_cu_sgd(struct s24_backend *be, int64_t n, float *p, float *g, float *buf,
               const uint8_t *mask, const float *hyper, float wd)
{
    int rc = S24_OK;
    if (n < 0 || (n > 0 && (!p || !g || !buf || !hyper)))
        return s24_error(S24_ERR_INVALID, "sgd: bad size %lld or buffer", (long long)n);
    if (n == 0) return S24_OK;
    s24_sgd_k<<<s24_cu_blocks(n, S24_ST_TPB), S24_ST_TPB, 0, s24_cu(be)->stream>>>(n, p, g, buf,
                                                                                   mask, hyper, wd);
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

/* ---------------------------------------------------------------- batch */
/* The normalisation constants by value (kernel arguments), taken from the
 * host's s24_cifar_mean / s24_cifar_std so there is one copy of them; zero:
 * a padding pixel's value, computed on the host as the CPU computes it. */
struct s24_norm3 {
    float mean[3], std[3], zero[3];
};

/* images (n_images, h, w, 3) bytes, labels (n_images), draws (n, 4) ->
 * x (n, h, w, 3), y (n): one thread an output pixel. */
template <class T>
static __global__ void s24_batch_k(const uint8_t *__restrict__ images,
                                   const uint8_t *__restrict__ labels, int64_t n_images, int h,
                                   int w, int pad, int64_t pixels,
                                   const int32_t *__restrict__ draws, struct s24_norm3 nm,
                                   T *__restrict__ x, int32_t *__restrict__ y)
{
    int64_t hw = (int64_t)h * w, step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < pixels; i += step) {
        int64_t b = i / hw, rem = i - b * hw;
        int yy = (int)(rem / w), xx = (int)(rem % w);
        const int32_t *d = draws + 4 * b;
        int64_t idx = d[0];
        int oy = d[1] - pad, ox = d[2] - pad, fl = d[3];
        T *o = x + i * 3;
        if (idx < 0 || idx >= n_images) {
            for (int c = 0; c < 3; c++)
                s24_st(o + c, NAN);
            if (rem == 0) y[b] = -1;
            continue;
        }
        /* flip after crop: output column xx reads cropped column w-1-xx */
        int sy = yy + oy, sx = (fl ? w - 1 - xx : xx) + ox;
        if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
            for (int c = 0; c < 3; c++)
                s24_st(o + c, nm.zero[c]);
        } else {
            const uint8_t *s = images + ((idx * h + sy) * w + sx) * 3;
            /* as ToTensor then Normalize: (v/255 - mean)/std in float */
            for (int c = 0; c < 3; c++)
                s24_st(o + c, __fdiv_rn(__fsub_rn(__fdiv_rn((float)s[c], 255.0f), nm.mean[c]),
                                        nm.std[c]));
        }
        if (rem == 0) y[b] = labels[idx];
    }
}

int s24_cu_batch(struct s24_backend *be, const struct s24_batch_args *a)
{
    int rc = S24_OK;
    struct s24_norm3 nm;
    int64_t pixels;
    if (!a || a->n <= 0 || a->h <= 0 || a->w <= 0 || a->pad < 0 || a->pad > a->h || a->pad > a->w ||
        a->n_images < 1)
        return s24_error(S24_ERR_INVALID, "batch: bad arguments");
    if (!a->images || !a->labels || !a->draws || !a->x || !a->y)
        return s24_error(S24_ERR_INVALID, "batch: no buffer");
    pixels = (int64_t)a->n * a->h * a->w;
    for (int c = 0; c < 3; c++) {
        nm.mean[c] = s24_cifar_mean[c];
        nm.std[c] = s24_cifar_std[c];
        nm.zero[c] = (0.0f - s24_cifar_mean[c]) / s24_cifar_std[c];
    }
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        s24_batch_k<T><<<s24_cu_blocks(pixels, S24_ST_TPB), S24_ST_TPB, 0, s24_cu(be)->stream>>>(
            a->images, a->labels, a->n_images, a->h, a->w, a->pad, pixels, a->draws, nm, (T *)a->x,
            a->y);
    });
    S24_LAUNCH_CHECK();
fail:
    return rc;
}
