/* nn_conv.cu: 2-D convolutions of the CUDA backend, NHWC activations and
 * OHWI weights (cuDNN's NHWC filter format: K, R, S, C/groups).
 * Dense and grouped convs go through cuDNN's legacy API, with the algorithm
 * of each direction chosen once per shape (timed by cudnnFind*, or ranked by
 * cuDNN's heuristic when deterministic) and kept in the node's state, a few
 * shapes per node; in the mixed mode, where the graph API's fastest plan
 * (conv_graph.cu, timed too) beats that pick, it runs instead
 * (S24_CONV_GRAPH=0 never, 1 always where it has a plan, in TF32 too;
 * S24_CONV_LOG=1 prints each choice).
 * Depthwise convs (groups = c = oc, square 3x3 or 5x5
 * kernels) use the NHWC kernels below: cuDNN is slow on them in NHWC.
 * Backward ops accumulate (beta = 1). Bias gradients go through the shared
 * column sum of nn_linear.cu.
 * Mixed mode (be->act BF16): activations bf16; cuDNN runs bf16 data with
 * fp32 accumulation on a bf16 copy of the fp32 weight cast per call, its
 * bf16 filter gradient added to the fp32 one; the depthwise kernels read
 * and write bf16 activations with fp32 weights and gradients as they are.
 * Not here: fused activations or batch norm, dilation, fp16 data. The
 * first call at a shape searches (cudnnFind allocates and synchronises) and
 * may grow the scratch, so it must not run inside CUDA graph capture. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <type_traits>

#include "core/memo.h"
#include "cuda/conv_graph.h"
#include "cuda/nn_cuda.h"

/* The shape as s24_conv_shape_init makes it, and small enough for cuDNN's
 * int-indexed tensors (the depthwise kernels are held to the same). */
static int conv_check(const struct s24_conv_shape *s)
{
    struct s24_conv_shape t = *s;
    int rc = s24_conv_shape_init(&t);
    if (rc != S24_OK) return rc;
    if (t.oh != s->oh || t.ow != s->ow)
        return s24_error(S24_ERR_INVALID, "conv2d: output %lldx%lld given, %lldx%lld expected",
                         (long long)s->oh, (long long)s->ow, (long long)t.oh, (long long)t.ow);
    if (s->n * s->h * s->w * s->c > INT32_MAX || s->n * s->oh * s->ow * s->oc > INT32_MAX ||
        s->oc * s->kh * s->kw * (s->c / s->groups) > INT32_MAX)
        return s24_error(S24_ERR_UNSUPPORTED, "conv2d: a tensor of 2^31 or more elements "
                         "(n %lld, %lldx%lld, c %lld -> %lld)", (long long)s->n,
                         (long long)s->h, (long long)s->w, (long long)s->c, (long long)s->oc);
    return S24_OK;
}

/* ================================================================ depthwise */
/* A thread owns V adjacent channels of one pixel; a block covers blockDim.x*V
 * channels (a tile) of blockDim.y pixels at a time and keeps its tile's
 * weights in shared memory, tap-major, so the channel-fastest reads of x, y
 * and the weights are all contiguous across the warp. The kernels take the
 * shape g by value. */
extern __shared__ float4 s24_dw_smem[];

/* V adjacent activations to fp32 (V = 4: one 16-byte access in fp32, 8
 * bytes in bf16); RO: through the read-only cache, for tensors the kernel
 * does not write */
template <int V, bool RO = true> static __device__ void dw_load(const float *p, float *v)
{
    if constexpr (V == 4) {
        float4 q = RO ? __ldg((const float4 *)p) : *(const float4 *)p;
        v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
    } else {
        v[0] = RO ? __ldg(p) : *p;
    }
}
template <int V, bool RO = true> static __device__ void dw_load(const s24_bf16 *p, float *v)
{
    if constexpr (V == 4) {
        uint2 q = RO ? __ldg((const uint2 *)p) : *(const uint2 *)p;
        float2 a = __bfloat1622float2(*(const __nv_bfloat162 *)&q.x);
        float2 b = __bfloat1622float2(*(const __nv_bfloat162 *)&q.y);
        v[0] = a.x, v[1] = a.y, v[2] = b.x, v[3] = b.y;
    } else {
        v[0] = s24_ld(p);
    }
}
template <int V> static __device__ void dw_store(float *p, const float *v)
{
    if constexpr (V == 4) *(float4 *)p = make_float4(v[0], v[1], v[2], v[3]);
    else p[0] = v[0];
}
template <int V> static __device__ void dw_store(s24_bf16 *p, const float *v)
{
    if constexpr (V == 4) {
        __nv_bfloat162 a = __floats2bfloat162_rn(v[0], v[1]), b = __floats2bfloat162_rn(v[2], v[3]);
        uint2 q;
        q.x = *(const unsigned *)&a, q.y = *(const unsigned *)&b;
        *(uint2 *)p = q;
    } else {
        s24_st(p, v[0]);
    }
}

/* sw (K*K, tile) <- w (c, K, K) for channels c0 .. c0 + tile - 1 (0 past c) */
template <int K>
static __device__ void dw_load_weights(const float *w, int64_t c, int64_t c0, int tile, float *sw)
{
    int nt = blockDim.x * blockDim.y;
    for (int i = threadIdx.y * blockDim.x + threadIdx.x; i < K * K * tile; i += nt) {
        int t = i / tile, cl = i % tile;
        sw[i] = c0 + cl < c ? w[(c0 + cl) * (K * K) + t] : 0.0f;
    }
    __syncthreads();
}

/* The source row (or column) that tap k of destination index r reads, or -1:
 * forward r*stride - pad + k; backward (the transpose) the r' with
 * r'*stride - pad + k = r. lim: the source extent. */
template <bool BWD> static __device__ int dw_tap(int r, int k, int stride, int pad, int lim)
{
    int i = r * stride - pad + k;
    if (BWD) {
        int a = r + pad - k;
        if (a < 0 || a % stride) return -1;
        i = a / stride;
    }
    return i >= 0 && i < lim ? i : -1;
}

/* The two gathers, one destination pixel per thread step, so no two threads
 * write one element: forward y (n, oh, ow, c) = dwconv(x (n, h, w, c), w) + b
 * (b may be NULL); backward dx (n, h, w, c) += its transpose applied to dy
 * (n, oh, ow, c), or (add == 0) dx = 0 + it, dx not read. w (c, K, K). */
template <int K, int V, bool BWD, class T>
__global__ void dw_gather_kernel(struct s24_conv_shape g, const T *__restrict__ src,
                                 const float *__restrict__ w, const float *__restrict__ b,
                                 T *__restrict__ dst, int add)
{
    float *sw = (float *)s24_dw_smem;
    int tile = blockDim.x * V, cl = threadIdx.x * V;
    int64_t c0 = (int64_t)blockIdx.x * tile, cc = c0 + cl;
    /* int index math: conv_check keeps every tensor under 2^31 elements */
    int sh = (int)(BWD ? g.oh : g.h), sx = (int)(BWD ? g.ow : g.w); /* source plane */
    int dh = (int)(BWD ? g.h : g.oh), dq = (int)(BWD ? g.w : g.ow); /* destination plane */
    int st = (int)g.stride, pd = (int)g.pad;
    dw_load_weights<K>(w, g.c, c0, tile, sw);
    if (cc >= g.c) return;
    for (int64_t p = (int64_t)blockIdx.y * blockDim.y + threadIdx.y; p < g.n * dh * dq;
         p += (int64_t)gridDim.y * blockDim.y) {
        int q = (int)p % dq, t = (int)p / dq, r = t % dh, n = t / dh;
        float acc[V], v[V];
        for (int j = 0; j < V; j++) acc[j] = !BWD && b ? b[cc + j] : 0.0f;
#pragma unroll
        for (int kh = 0; kh < K; kh++) {
            int i = dw_tap<BWD>(r, kh, st, pd, sh);
            if (i < 0) continue;
#pragma unroll
            for (int kw = 0; kw < K; kw++) {
                int u = dw_tap<BWD>(q, kw, st, pd, sx);
                if (u < 0) continue;
                dw_load<V>(src + (((int64_t)n * sh + i) * sx + u) * g.c + cc, v);
                const float *wt = sw + (kh * K + kw) * tile + cl;
#pragma unroll
                for (int j = 0; j < V; j++) acc[j] = fmaf(v[j], wt[j], acc[j]);
            }
        }
        if (BWD) {
            if (add) dw_load<V, false>(dst + p * g.c + cc, v);
            else
                for (int j = 0; j < V; j++) v[j] = 0.0f;
            for (int j = 0; j < V; j++) acc[j] += v[j];
        }
        dw_store<V>(dst + p * g.c + cc, acc);
    }
}

/* dw (c, K, K) += sum over n, oh, ow of x * dy: each thread sums its pixels in
 * registers, the block reduces over blockDim.y in shared memory, then either
 * adds into dw (atomics: block order varies) or, with part (gridDim.y, K*K, c)
 * given, writes its partial for dw_finish_kernel (a fixed order). */
template <int K, int V, class T>
__global__ void dw_bwd_filter_kernel(struct s24_conv_shape g, const T *__restrict__ x,
                                     const T *__restrict__ dy, float *__restrict__ dw,
                                     float *__restrict__ part)
{
    float *red = (float *)s24_dw_smem; /* (blockDim.y, tile) */
    int tile = blockDim.x * V, cl = threadIdx.x * V;
    int64_t cc = (int64_t)blockIdx.x * tile + cl;
    bool on = cc < g.c; /* off-tile threads still take part in the barriers */
    int H = (int)g.h, W = (int)g.w, OH = (int)g.oh, OW = (int)g.ow;
    int st = (int)g.stride, pd = (int)g.pad;
    float acc[K * K][V];
#pragma unroll
    for (int t = 0; t < K * K; t++)
        for (int j = 0; j < V; j++) acc[t][j] = 0.0f;
    int64_t np = g.n * g.oh * g.ow;
    for (int64_t p = (int64_t)blockIdx.y * blockDim.y + threadIdx.y; on && p < np;
         p += (int64_t)gridDim.y * blockDim.y) {
        int ow = (int)p % OW, t = (int)p / OW, oh = t % OH, n = t / OH;
        float dv[V], xv[V];
        dw_load<V>(dy + p * g.c + cc, dv);
#pragma unroll
        for (int kh = 0; kh < K; kh++) {
            int ih = dw_tap<false>(oh, kh, st, pd, H);
            if (ih < 0) continue;
#pragma unroll
            for (int kw = 0; kw < K; kw++) {
                int iw = dw_tap<false>(ow, kw, st, pd, W);
                if (iw < 0) continue;
                dw_load<V>(x + (((int64_t)n * H + ih) * W + iw) * g.c + cc, xv);
#pragma unroll
                for (int j = 0; j < V; j++)
                    acc[kh * K + kw][j] = fmaf(xv[j], dv[j], acc[kh * K + kw][j]);
            }
        }
    }
#pragma unroll
    for (int t = 0; t < K * K; t++) {
        for (int j = 0; j < V; j++) red[threadIdx.y * tile + cl + j] = acc[t][j];
        __syncthreads();
        if (threadIdx.y == 0 && on)
            for (int j = 0; j < V; j++) {
                float s = 0.0f;
                for (unsigned r = 0; r < blockDim.y; r++) s += red[r * tile + cl + j];
                if (part) part[((int64_t)blockIdx.y * (K * K) + t) * g.c + cc + j] = s;
                else atomicAdd(dw + (cc + j) * (K * K) + t, s);
            }
        __syncthreads();
    }
}

/* dw (c, kk) += the sum over the nb partials of part (nb, kk, c), in order */
__global__ void dw_finish_kernel(int64_t c, int kk, int nb, const float *__restrict__ part,
                                 float *__restrict__ dw)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < c * kk;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t ch = i / kk;
        int t = (int)(i % kk);
        float s = 0.0f;
        for (int b = 0; b < nb; b++) s += part[((int64_t)b * kk + t) * c + ch];
        dw[i] += s;
    }
}

static int dw_eligible(const struct s24_conv_shape *s)
{
    return s->groups == s->c && s->oc == s->c && s->kh == s->kw && (s->kh == 3 || s->kh == 5);
}

/* The launch shape: tile width bx (channel vectors), by pixels per step, about
 * `blocks` blocks: a few waves for the gathers; fewer for the filter pass, whose
 * per-block partials (atomics or the deterministic buffer) grow with them. */
struct dw_launch {
    dim3 grid, block;
    int v;
    size_t smem_w, smem_red; /* bytes: the weight tile, the reduction buffer */
};

static struct dw_launch dw_plan(const struct s24_conv_shape *s, int64_t np, int vec_ok,
                                int64_t blocks)
{
    struct dw_launch L;
    L.v = vec_ok && s->c % 4 == 0 ? 4 : 1;
    int64_t cv = s->c / L.v;
    int bx = (int)(cv < 32 ? cv : 32), by = 256 / bx;
    int64_t gx = (cv + bx - 1) / bx, gy = (np + by - 1) / by;
    int64_t gy_max = blocks / gx > 1 ? blocks / gx : 1; /* the loop strides the rest */
    L.block = dim3((unsigned)bx, (unsigned)by);
    L.grid = dim3((unsigned)gx, (unsigned)(gy < gy_max ? gy : gy_max));
    L.smem_w = (size_t)(s->kh * s->kw) * (size_t)bx * L.v * sizeof(float);
    L.smem_red = (size_t)by * bx * L.v * sizeof(float);
    return L;
}

static int aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

/* f(K, V) with K in {3, 5}, V in {1, 4} as compile-time constants: the
 * instantiations a launch picks from. */
template <int N> using dw_int = std::integral_constant<int, N>;
template <class F> static void dw_dispatch(int64_t k, int v, F f)
{
    if (k == 3 && v == 4) f(dw_int<3>(), dw_int<4>());
    else if (k == 3) f(dw_int<3>(), dw_int<1>());
    else if (v == 4) f(dw_int<5>(), dw_int<4>());
    else f(dw_int<5>(), dw_int<1>());
}
/* ... and the activations' storage type: f(K, V, T *) */
template <class F>
static void dw_dispatch_t(const struct s24_backend *be, int64_t k, int v, F f)
{
    s24_cu_by_act(be, [&](auto tag) { dw_dispatch(k, v, [&](auto K, auto V) { f(K, V, tag); }); });
}

static int dw_fwd(struct s24_backend *be, const struct s24_conv_shape *s, const float *x,
                  const float *w, const float *b, float *y)
{
    int rc = S24_OK;
    cudaStream_t st = s24_cu(be)->stream;
    struct dw_launch L = dw_plan(s, s->n * s->oh * s->ow, aligned16(x) && aligned16(y), 4096);
    dw_dispatch_t(be, s->kh, L.v, [&](auto K, auto V, auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        dw_gather_kernel<K, V, false>
            <<<L.grid, L.block, L.smem_w, st>>>(*s, (const T *)x, w, b, (T *)y, 0);
    });
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

static int dw_bwd(struct s24_backend *be, const struct s24_conv_shape *s, const float *x,
                  const float *w, const float *dy, float *dx, int acc, float *dw)
{
    int rc = S24_OK;
    struct s24_cuda_nn *cx = s24_cu(be);
    cudaStream_t st = cx->stream;
    int kk = (int)(s->kh * s->kw);
    struct dw_launch L = dw_plan(s, s->n * s->oh * s->ow, aligned16(x) && aligned16(dy), 1024);
    float *part = NULL; /* (L.grid.y, kk, c): deterministic mode only */
    if (cx->deterministic) {
        part = (float *)s24_be_ws(be, (size_t)L.grid.y * kk * s->c * sizeof(float));
        if (!part)
            return s24_error(S24_ERR_NOMEM, "depthwise conv: no scratch for %u x %d x %lld "
                             "partial sums", L.grid.y, kk, (long long)s->c);
    }
    dw_dispatch_t(be, s->kh, L.v, [&](auto K, auto V, auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        dw_bwd_filter_kernel<K, V>
            <<<L.grid, L.block, L.smem_red, st>>>(*s, (const T *)x, (const T *)dy, dw, part);
    });
    S24_LAUNCH_CHECK();
    if (part) {
        dw_finish_kernel<<<s24_cu_blocks(s->c * kk, 256), 256, 0, st>>>(s->c, kk, (int)L.grid.y,
                                                                         part, dw);
        S24_LAUNCH_CHECK();
    }
    if (dx) {
        struct dw_launch D = dw_plan(s, s->n * s->h * s->w, aligned16(dy) && aligned16(dx),
                                     4096);
        dw_dispatch_t(be, s->kh, D.v, [&](auto K, auto V, auto tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            dw_gather_kernel<K, V, true>
                <<<D.grid, D.block, D.smem_w, st>>>(*s, (const T *)dy, w, NULL, (T *)dx, acc);
        });
        S24_LAUNCH_CHECK();
    }
fail:
    return rc;
}

/* ================================================================ cuDNN */
#ifdef S24_HAVE_CUDNN

/* cudnnFind* skips algorithms needing more workspace than this */
#define CONV_WS_MAX ((size_t)256 << 20)
/* Shapes one node meets: the training batch, its partial last batch, the
 * evaluation batch and its tail; in the mixed mode each also with the fp32
 * plan its filter gradient may take (wgrad32). */
#define CONV_SLOTS 8
#define CONV_CAND 8

enum { DIR_FWD = 0, DIR_BWD_DATA, DIR_BWD_FILTER, DIR_N };
static const char *const dir_name[DIR_N] = {"forward", "backward data", "backward filter"};
static const char *const dir_call[DIR_N] = {
    "cudnnConvolutionForward", "cudnnConvolutionBackwardData", "cudnnConvolutionBackwardFilter"};

/* One direction's usable algorithms, fastest first (cuDNN's timing order). */
struct conv_algos {
    int n, pick; /* n == 0: not searched yet */
    int algo[CONV_CAND];
    size_t ws[CONV_CAND]; /* bytes */
    float ms[CONV_CAND];  /* cudnnFind's time (negative: not timed, the heuristic's list) */
    cudnnMathType_t math[CONV_CAND];
    struct s24_cg *g; /* the graph API's fastest plan, or NULL */
    float gms;        /* its time */
    int use_g;        /* 1: g runs, the legacy pick is the fallback */
    int gacc;         /* backward data: g adds into dx (beta 1) or writes it (beta 0) */
};

struct conv_plan {
    int used;                  /* descriptors exist */
    struct s24_conv_shape key; /* with n */
    int tf32, det, bf16;       /* bf16: the mixed mode's descriptors (x, w, y bf16) */
    int wgrad32;               /* mixed mode: -1 undecided, 1: the filter gradient from fp32
                                * copies of x and dy on the fp32 plan (faster there), 0: bf16 */
    int dx_acc;                /* the backward data call in progress adds into dx (graph_find) */
    int partial;               /* a smaller batch than one this node already has a plan for */
    uint64_t stamp;            /* last use, for eviction */
    double search_s;           /* seconds the legacy searches of this plan took (logs) */
    cudnnTensorDescriptor_t xd, yd, bd; /* (n, c, h, w), (n, oc, oh, ow) NHWC; (1, oc, 1, 1) */
    cudnnFilterDescriptor_t wd;         /* (oc, c/groups, kh, kw) NHWC = OHWI */
    cudnnConvolutionDescriptor_t cd[DIR_N]; /* per direction: its algorithm's math type */
    struct conv_algos a[DIR_N];
};

/* The node's state: a few shapes, the least recently used evicted. */
struct s24_cu_conv_state {
    uint64_t clock;
    struct conv_plan slot[CONV_SLOTS];
};

#define DNN_CHECK(call) S24_GPU_CHECK(call)

/* The backend made no cuDNN handle where cuDNN could not be opened (it is
 * loaded at run time, dl_cudnn.c): say so for this conv, naming the library. */
static int dnn_missing(const struct s24_conv_shape *s)
{
    char need[200];
    snprintf(need, sizeof need, "conv2d %lld -> %lld k %lldx%lld groups %lld on the GPU (only "
             "depthwise 3x3 / 5x5 convs run without it)", (long long)s->c, (long long)s->oc,
             (long long)s->kh, (long long)s->kw, (long long)s->groups);
    int rc = s24_dl_cudnn_load(need);
    return rc != S24_OK ? rc : s24_error(S24_ERR_CUDNN, "cuda backend: no cuDNN handle");
}

static void conv_plan_clear(struct conv_plan *p)
{
    for (int d = 0; d < DIR_N; d++) s24_cg_free(p->a[d].g);
    if (p->xd) cudnnDestroyTensorDescriptor(p->xd);
    if (p->yd) cudnnDestroyTensorDescriptor(p->yd);
    if (p->bd) cudnnDestroyTensorDescriptor(p->bd);
    if (p->wd) cudnnDestroyFilterDescriptor(p->wd);
    for (int d = 0; d < DIR_N; d++)
        if (p->cd[d]) cudnnDestroyConvolutionDescriptor(p->cd[d]);
    memset(p, 0, sizeof *p);
}

static int conv_plan_init(struct conv_plan *p, const struct s24_conv_shape *s, int tf32, int det,
                          int bf16)
{
    int rc = S24_OK;
    const cudnnTensorFormat_t f = CUDNN_TENSOR_NHWC;
    /* bf16 data with fp32 accumulation (cuDNN's pseudo-bf16 configuration) */
    const cudnnDataType_t t = bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    const cudnnDataType_t ct = CUDNN_DATA_FLOAT;
    p->used = 1, p->key = *s, p->tf32 = tf32, p->det = det, p->bf16 = bf16, p->wgrad32 = -1;
    DNN_CHECK(cudnnCreateTensorDescriptor(&p->xd));
    DNN_CHECK(cudnnCreateTensorDescriptor(&p->yd));
    DNN_CHECK(cudnnCreateTensorDescriptor(&p->bd));
    DNN_CHECK(cudnnCreateFilterDescriptor(&p->wd));
    DNN_CHECK(cudnnSetTensor4dDescriptor(p->xd, f, t, (int)s->n, (int)s->c, (int)s->h, (int)s->w));
    DNN_CHECK(cudnnSetTensor4dDescriptor(p->yd, f, t, (int)s->n, (int)s->oc, (int)s->oh,
                                         (int)s->ow));
    DNN_CHECK(cudnnSetTensor4dDescriptor(p->bd, f, t, 1, (int)s->oc, 1, 1));
    DNN_CHECK(cudnnSetFilter4dDescriptor(p->wd, t, f, (int)s->oc, (int)(s->c / s->groups),
                                         (int)s->kh, (int)s->kw));
    for (int d = 0; d < DIR_N; d++) {
        DNN_CHECK(cudnnCreateConvolutionDescriptor(&p->cd[d]));
        DNN_CHECK(cudnnSetConvolution2dDescriptor(p->cd[d], (int)s->pad, (int)s->pad,
                                                  (int)s->stride, (int)s->stride, 1, 1,
                                                  CUDNN_CROSS_CORRELATION, ct));
        DNN_CHECK(cudnnSetConvolutionGroupCount(p->cd[d], (int)s->groups));
        /* DEFAULT lets fp32 use TF32 tensor cores (PyTorch's allow_tf32); FMA
         * keeps every product in fp32; bf16 data is for the tensor cores */
        DNN_CHECK(cudnnSetConvolutionMathType(p->cd[d], bf16 ? CUDNN_TENSOR_OP_MATH
                                                        : tf32 ? CUDNN_DEFAULT_MATH
                                                               : CUDNN_FMA_MATH));
    }
fail:
    return rc;
}

/* The plan for this shape in the node's state, made on first sight. */
static int conv_plan_get(struct s24_backend *be, void **state, const struct s24_conv_shape *s,
                         int bf16, struct conv_plan **out)
{
    struct s24_cuda_nn *cx = s24_cu(be);
    struct s24_cu_conv_state *st = (struct s24_cu_conv_state *)*state;
    struct conv_plan *p = NULL;
    int rc;
    if (!st) {
        st = (struct s24_cu_conv_state *)calloc(1, sizeof *st);
        if (!st) return s24_error(S24_ERR_NOMEM, "conv2d: out of memory for the node's state");
        *state = st;
    }
    for (int i = 0; i < CONV_SLOTS; i++) {
        struct conv_plan *q = &st->slot[i];
        /* all int64 fields, no padding; oh, ow follow from the rest (conv_check) */
        if (q->used && !memcmp(&q->key, s, sizeof *s) && q->tf32 == cx->tf32 &&
            q->det == cx->deterministic && q->bf16 == bf16) {
            q->stamp = ++st->clock;
            *out = q;
            return S24_OK;
        }
        if (!p || !q->used || (p->used && q->stamp < p->stamp)) p = q; /* free, else oldest */
    }
    /* an epoch's partial last batch runs once an epoch: searching plans for
     * it cost ResNet18's bf16 run 0.79 of its first epoch's 2.57 s of graph
     * searches on the H200, so it takes the heuristic's picks, untimed */
    int partial = 0;
    for (int i = 0; i < CONV_SLOTS; i++) {
        const struct conv_plan *q = &st->slot[i];
        struct s24_conv_shape k = q->key;
        k.n = s->n;
        partial |= q != p && q->used && q->bf16 == bf16 && q->key.n > s->n &&
                   !memcmp(&k, s, sizeof *s);
    }
    conv_plan_clear(p);
    if ((rc = conv_plan_init(p, s, cx->tf32, cx->deterministic, bf16)) != S24_OK) {
        conv_plan_clear(p);
        return rc;
    }
    p->partial = partial;
    p->stamp = ++st->clock;
    *out = p;
    return S24_OK;
}

/* Keeps the results cuDNN could run that fit the workspace limit, honour
 * the deterministic switch and, in strict mode, use FMA math only. */
template <class R>
static void conv_keep(struct conv_algos *a, const struct conv_plan *p, const R *r, int ret)
{
    for (int i = 0; i < ret && a->n < CONV_CAND; i++) {
        if (r[i].status != CUDNN_STATUS_SUCCESS || r[i].memory > CONV_WS_MAX) continue;
        if (p->det && r[i].determinism != CUDNN_DETERMINISTIC) continue;
        if (!p->bf16 && !p->tf32 && r[i].mathType != CUDNN_FMA_MATH) continue;
        a->algo[a->n] = (int)r[i].algo;
        a->ws[a->n] = r[i].memory;
        a->ms[a->n] = r[i].time;
        a->math[a->n++] = r[i].mathType;
    }
}

/* Sets the picked algorithm's math type, and its workspace to what cuDNN
 * asks for with it (at least what the search reported). */
static int conv_pick(struct s24_backend *be, struct conv_plan *p, int d, int pick)
{
    int rc = S24_OK;
    cudnnHandle_t h = (cudnnHandle_t)s24_cu(be)->dnn;
    struct conv_algos *a = &p->a[d];
    size_t q = 0;
    a->pick = pick;
    DNN_CHECK(cudnnSetConvolutionMathType(p->cd[d], a->math[pick]));
    if (d == DIR_FWD)
        DNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(
            h, p->xd, p->wd, p->cd[d], p->yd, (cudnnConvolutionFwdAlgo_t)a->algo[pick], &q));
    else if (d == DIR_BWD_DATA)
        DNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
            h, p->wd, p->yd, p->cd[d], p->xd, (cudnnConvolutionBwdDataAlgo_t)a->algo[pick], &q));
    else
        DNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
            h, p->xd, p->yd, p->cd[d], p->wd, (cudnnConvolutionBwdFilterAlgo_t)a->algo[pick],
            &q));
    if (q > a->ws[pick]) a->ws[pick] = q;
fail:
    return rc;
}

/* ---- the legacy searches' lists per shape, direction and mode, for the
 * process: each node has its own state, and ResNet18 has up to four convs
 * of one shape per stage, each met at the training batch, its tail and the
 * evaluation's; cudnnFind times every algorithm (its own allocations
 * included) at each of them. */
struct legacy_key {
    struct s24_conv_shape s;
    int d, tf32, det, bf16, heur, device; /* heur: the heuristic's list, untimed */
};
struct legacy_memo {
    struct legacy_key k;
    struct conv_algos a; /* the list as found: pick 0, no graph plan */
};
static struct legacy_memo lmemo_store[512];
static struct s24_memo lmemo = S24_MEMO_INIT(lmemo_store, sizeof(struct legacy_key));

static struct legacy_key legacy_key_of(const struct conv_plan *p, int d, int heur)
{
    struct legacy_key k;
    memset(&k, 0, sizeof k); /* compared with memcmp */
    k.s = p->key, k.d = d, k.tf32 = p->tf32, k.det = p->det, k.bf16 = p->bf16, k.heur = heur;
    cudaGetDevice(&k.device);
    return k;
}

/* 1 and the list into *a where this search was made before */
static int legacy_get(const struct legacy_key *k, struct conv_algos *a)
{
    struct legacy_memo e;
    e.k = *k;
    if (!s24_memo_get(&lmemo, &e)) return 0;
    *a = e.a;
    return 1;
}

static void legacy_put(const struct legacy_key *k, const struct conv_algos *a)
{
    struct legacy_memo e;
    e.k = *k, e.a = *a;
    e.a.pick = 0, e.a.g = NULL, e.a.use_g = 0; /* the list as found, no graph plan */
    s24_memo_put(&lmemo, &e);
}

/* The time direction d takes on its chosen path (negative: not timed). */
static float conv_ms(const struct conv_algos *a) { return a->use_g ? a->gms : a->ms[a->pick]; }

/* After the legacy search: the graph API's fastest plan for direction d,
 * kept where it is faster than the legacy pick (or always, with
 * S24_CONV_GRAPH=1). By default in the mixed mode only: on the H200 its
 * bf16 plans ran 2-5x faster than the legacy picks, while its TF32 plans
 * gained 5% of a ResNet18 step and moved EfficientNet-B0's TF32 step
 * further from the CPU's (test_train_gpu: worst weight 3.1e-2 to 5.6e-2
 * against its 3e-2, legacy 2.4e-2); S24_CONV_GRAPH=1 takes them in TF32
 * too. Never in deterministic mode (the timing could change the pick and
 * the bits from run to run) or strict fp32 (its engines may use TF32). */
static int graph_wanted(const struct conv_plan *p)
{
    const char *env = getenv("S24_CONV_GRAPH");
    int force = env && !strcmp(env, "1");
    return !(env && !strcmp(env, "0")) && !p->det && !p->partial &&
           (p->bf16 || (p->tf32 && force));
}

static int graph_find(struct s24_backend *be, struct conv_plan *p, int d)
{
    struct conv_algos *a = &p->a[d];
    const char *env = getenv("S24_CONV_GRAPH"), *log = getenv("S24_CONV_LOG");
    int force = env && !strcmp(env, "1");
    const struct s24_conv_shape *s = &p->key;
    if (!graph_wanted(p) || a->g) return S24_OK;
    /* the filter gradient accumulates (beta 1) except in bf16, where it is
     * added to the fp32 one afterwards; dx as the caller asks (p->dx_acc) */
    float beta = d == DIR_FWD || (d == DIR_BWD_FILTER && p->bf16) ? 0.0f : 1.0f;
    if (d == DIR_BWD_DATA) beta = p->dx_acc ? 1.0f : 0.0f, a->gacc = p->dx_acc;
    const char *rtc = getenv("S24_CONV_GRAPH_RTC");
    double t0 = s24_now();
    int rc = s24_cg_find(s24_cu(be)->dnn, s24_cu(be)->stream, s, d, p->bf16, beta, CONV_WS_MAX,
                         rtc && !strcmp(rtc, "1"), &a->g, &a->gms);
    double gs = s24_now() - t0;
    if (rc != S24_OK || !a->g) return rc;
    a->use_g = force || a->ms[a->pick] < 0 || a->gms < a->ms[a->pick];
    if (log && !strcmp(log, "1"))
        fprintf(stderr, "conv2d n %lld %lldx%lld c %lld -> %lld k %lld s %lld g %lld %s %s: legacy "
                "algo %d %.4f ms, %s %.4f ms: %s (searches so far %.1f ms legacy, this %.1f ms "
                "graph)\n", (long long)s->n, (long long)s->h, (long long)s->w, (long long)s->c,
                (long long)s->oc, (long long)s->kh, (long long)s->stride, (long long)s->groups,
                p->bf16 ? "bf16" : "fp32", dir_name[d], a->algo[a->pick], a->ms[a->pick],
                s24_cg_name(a->g), a->gms, a->use_g ? "graph" : "legacy", p->search_s * 1e3,
                gs * 1e3);
    if (!a->use_g) {
        s24_cg_free(a->g);
        a->g = NULL;
    }
    return S24_OK;
}

/* Lists direction d's algorithms once. Timed by cudnnFind* (on buffers cuDNN
 * allocates itself, so no gradient being accumulated is overwritten); in
 * deterministic mode ranked by cuDNN's heuristic instead, since timing noise
 * could pick another algorithm in the next run and change the bits. Where
 * the graph API is searched too (the mixed mode), the legacy list is only
 * the fallback, so it is the heuristic's too: on the H200 the graph plans
 * won every comparison with cudnnFind's picks (591 of 591), and timing both
 * made the searches most of a training run's first epoch. So is a partial
 * batch's (conv_plan_get). S24_CONV_FIND=1 times the legacy list where the
 * graph API is searched as well. */
static int conv_find(struct s24_backend *be, struct conv_plan *p, int d)
{
    int rc = S24_OK, ret = 0;
    cudnnHandle_t h = (cudnnHandle_t)s24_cu(be)->dnn;
    struct conv_algos *a = &p->a[d];
    const struct s24_conv_shape *s = &p->key;
    const char *fenv = getenv("S24_CONV_FIND");
    int heur = p->det || p->partial || (graph_wanted(p) && !(fenv && !strcmp(fenv, "1")));
    struct legacy_key key = legacy_key_of(p, d, heur);
    double t0 = s24_now();
    if (legacy_get(&key, a)) goto found;
/* the heuristic's list or the timed one, both in the same result type */
#define CONV_LIST(perf_t, req, get, find, ...)                                              \
    do {                                                                                    \
        perf_t r[req];                                                                      \
        DNN_CHECK(heur ? get(h, __VA_ARGS__, req, &ret, r)                                  \
                       : find(h, __VA_ARGS__, req, &ret, r));                               \
        conv_keep(a, p, r, ret);                                                            \
    } while (0)
    if (d == DIR_FWD)
        CONV_LIST(cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                  cudnnGetConvolutionForwardAlgorithm_v7, cudnnFindConvolutionForwardAlgorithm,
                  p->xd, p->wd, p->cd[d], p->yd);
    else if (d == DIR_BWD_DATA)
        CONV_LIST(cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                  cudnnGetConvolutionBackwardDataAlgorithm_v7,
                  cudnnFindConvolutionBackwardDataAlgorithm, p->wd, p->yd, p->cd[d], p->xd);
    else
        CONV_LIST(cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                  cudnnGetConvolutionBackwardFilterAlgorithm_v7,
                  cudnnFindConvolutionBackwardFilterAlgorithm, p->xd, p->yd, p->cd[d], p->wd);
#undef CONV_LIST
    cudaGetLastError(); /* trial allocations cuDNN could not make leave their error behind */
    if (a->n > 0) legacy_put(&key, a);
found:
    p->search_s += s24_now() - t0;
    if (a->n == 0)
        return s24_error(S24_ERR_UNSUPPORTED, "conv2d %s: no cuDNN algorithm (%s%s, workspace "
                         "<= %zu MiB) for n %lld %lldx%lld c %lld -> %lld k %lld s %lld g %lld",
                         dir_name[d], p->tf32 ? "tf32" : "strict fp32",
                         p->det ? ", deterministic" : "", CONV_WS_MAX >> 20, (long long)s->n,
                         (long long)s->h, (long long)s->w, (long long)s->c, (long long)s->oc,
                         (long long)s->kh, (long long)s->stride, (long long)s->groups);
    if ((rc = conv_pick(be, p, d, 0)) != S24_OK) a->n = 0; /* search again next time */
    else rc = graph_find(be, p, d);
fail:
    return rc;
}

/* Direction d's algorithm and a workspace for it. When the scratch cannot
 * grow that far, the next listed algorithm needing less is taken for good
 * (cuDNN always has one needing little or none). */
static int conv_prepare(struct s24_backend *be, struct conv_plan *p, int d, void **ws,
                        size_t *ws_bytes)
{
    int rc;
    struct conv_algos *a = &p->a[d];
    if (a->n == 0 && (rc = conv_find(be, p, d)) != S24_OK) return rc;
    for (;;) {
        size_t need = a->ws[a->pick];
        *ws = need ? s24_be_ws(be, need) : NULL;
        *ws_bytes = need;
        if (*ws || !need) return S24_OK;
        int next = a->pick + 1;
        while (next < a->n && a->ws[next] >= need) next++;
        if (next >= a->n)
            return s24_error(S24_ERR_NOMEM, "conv2d %s: no %zu bytes of scratch for cuDNN",
                             dir_name[d], need);
        if ((rc = conv_pick(be, p, d, next)) != S24_OK) return rc;
    }
}

/* Runs direction d: on the graph plan where it was chosen (gx, gw, gy: the
 * x, w and y tensors in the forward's naming, conv_graph.h), where the
 * pointers are aligned for it and its workspace can be had; else
 * call(algo, workspace, bytes) on the legacy pick. An algorithm cuDNN
 * listed but then refuses (NOT_SUPPORTED: before any launch, so nothing was
 * added yet) is dropped for the next one. */
template <class F>
static int conv_run(struct s24_backend *be, struct conv_plan *p, int d, const void *gx,
                    const void *gw, const void *gy, F call)
{
    struct conv_algos *a = &p->a[d];
    int rc0;
    if (a->n == 0 && (rc0 = conv_find(be, p, d)) != S24_OK) return rc0;
    if (a->use_g && s24_cu_al16({gx, gw, gy})) {
        size_t need = s24_cg_ws(a->g);
        void *ws = need ? s24_be_ws(be, need) : NULL;
        if (ws || !need) return s24_cg_run(s24_cu(be)->dnn, a->g, gx, gw, gy, ws);
    }
    for (;;) {
        void *ws;
        size_t wsb;
        int rc = conv_prepare(be, p, d, &ws, &wsb);
        if (rc != S24_OK) return rc;
        cudnnStatus_t e = call(a->algo[a->pick], ws, wsb);
        if (CUDNN_STATUS_CATEGORY(e) != CUDNN_STATUS_NOT_SUPPORTED || a->pick + 1 >= a->n)
            return s24_gpu_status(e, dir_call[d], __FILE__, __LINE__);
        if ((rc = conv_pick(be, p, d, a->pick + 1)) != S24_OK) return rc;
    }
}

/* The mixed mode's bf16 weight copy (and, for the backward, room for the
 * bf16 filter gradient after it) in the context's one buffer, cast from the
 * fp32 master weight w. The first call at a shape runs outside graph
 * capture (cudnnFind), so the buffer has its size before any capture. */
static int w16_cast(struct s24_backend *be, const struct s24_conv_shape *s, const float *w,
                    s24_bf16 **w16)
{
    struct s24_cuda_nn *cx = s24_cu(be);
    int64_t nw = s->oc * s->kh * s->kw * (s->c / s->groups);
    int rc = s24_be_grow(be, &cx->w16, &cx->w16_cap, sizeof(s24_bf16) * (size_t)nw * 2);
    if (rc != S24_OK) return rc;
    *w16 = (s24_bf16 *)cx->w16;
    return s24_cu_cvt(be, nw, w, 0, cx->w16, 1, 0);
}

static int dnn_fwd(struct s24_backend *be, void **state, const struct s24_conv_shape *s,
                   const float *x, const float *w, const float *b, float *y)
{
    int rc;
    cudnnHandle_t h = (cudnnHandle_t)s24_cu(be)->dnn;
    struct conv_plan *p;
    const float one = 1.0f, zero = 0.0f;
    const void *wd = w;
    if (!h) return dnn_missing(s);
    if ((rc = conv_plan_get(be, state, s, be->act == S24_BF16, &p)) != S24_OK) return rc;
    if (p->bf16) {
        s24_bf16 *w16;
        if ((rc = w16_cast(be, s, w, &w16)) != S24_OK) return rc;
        wd = w16;
    }
    rc = conv_run(be, p, DIR_FWD, x, wd, y, [&](int algo, void *ws, size_t wsb) {
        return cudnnConvolutionForward(h, &one, p->xd, x, p->wd, wd, p->cd[DIR_FWD],
                                       (cudnnConvolutionFwdAlgo_t)algo, ws, wsb, &zero, p->yd, y);
    });
    if (rc != S24_OK || !b) return rc;
    if (p->bf16) return s24_cu_rowbias(be, s->n * s->oh * s->ow, s->oc, b, y);
    DNN_CHECK(cudnnAddTensor(h, &one, p->bd, b, &one, p->yd, y));
fail:
    return rc;
}

/* Mixed mode: decides once per plan whether the filter gradient is faster
 * on fp32 copies of x and dy through the fp32 plan (TF32 math where the
 * context allows) than in bf16, by cudnnFind's times of the two picks plus
 * the two conversions (at 3 TB/s). cuDNN's bf16 filter gradients are slow
 * on some shapes (small channel counts: the 3-channel stems, 1x1 convs of
 * 16 to 40 channels at 16x16 take 1-2 ms against 0.05-0.2 in fp32). With
 * no timings (deterministic mode: the heuristic's list) bf16 stays. */
static int wgrad_choose(struct s24_backend *be, void **state, const struct s24_conv_shape *s,
                        struct conv_plan *p, struct conv_plan **f32)
{
    int rc;
    *f32 = NULL;
    if (p->wgrad32 == 0) return S24_OK;
    if ((rc = conv_plan_get(be, state, s, 0, f32)) != S24_OK) return rc;
    if (p->wgrad32 == 1) return S24_OK;
    struct conv_algos *a = &p->a[DIR_BWD_FILTER], *b = &(*f32)->a[DIR_BWD_FILTER];
    if (a->n == 0 && (rc = conv_find(be, p, DIR_BWD_FILTER)) != S24_OK) return rc;
    if (b->n == 0 && (rc = conv_find(be, *f32, DIR_BWD_FILTER)) != S24_OK) return rc;
    double bytes = 6.0 * (double)(s->n * s->h * s->w * s->c + s->n * s->oh * s->ow * s->oc);
    double cvt_ms = bytes / 3e12 * 1e3;
    int timed = conv_ms(a) >= 0 && conv_ms(b) >= 0;
    p->wgrad32 = timed && conv_ms(b) + cvt_ms < conv_ms(a);
    if (!p->wgrad32) *f32 = NULL;
    return S24_OK;
}

/* The fp32 copies of x and dy (wgrad32) in the context's buffer. */
static int wgrad32_run(struct s24_backend *be, struct conv_plan *q, const struct s24_conv_shape *s,
                       const float *x, const float *dy, float *dw)
{
    struct s24_cuda_nn *cx = s24_cu(be);
    cudnnHandle_t h = (cudnnHandle_t)cx->dnn;
    int64_t nx = s->n * s->h * s->w * s->c, ny = s->n * s->oh * s->ow * s->oc;
    const float one = 1.0f;
    int rc = s24_be_grow(be, &cx->f32, &cx->f32_cap, sizeof(float) * (size_t)(nx + ny));
    if (rc != S24_OK) return rc;
    float *x32 = (float *)cx->f32, *dy32 = x32 + nx;
    if ((rc = s24_cu_cvt(be, nx, x, 1, x32, 0, 0)) != S24_OK) return rc;
    if ((rc = s24_cu_cvt(be, ny, dy, 1, dy32, 0, 0)) != S24_OK) return rc;
    return conv_run(be, q, DIR_BWD_FILTER, x32, dw, dy32, [&](int algo, void *ws, size_t wsb) {
        return cudnnConvolutionBackwardFilter(h, &one, q->xd, x32, q->yd, dy32,
                                              q->cd[DIR_BWD_FILTER],
                                              (cudnnConvolutionBwdFilterAlgo_t)algo, ws, wsb,
                                              &one, q->wd, dw);
    });
}

/* dw += ..., dx += ... (dx may be NULL): beta = 1 makes cuDNN accumulate. The
 * scratch may grow between the two: s24_be_ws waits for the filter pass.
 * Mixed mode: the filter gradient comes out in bf16 (cuDNN's filter type is
 * the data's), into the buffer after the weight copy, and is added to the
 * fp32 one, unless wgrad_choose found the fp32 plan faster; dx accumulates
 * in bf16. */
static int dnn_bwd(struct s24_backend *be, void **state, const struct s24_conv_shape *s,
                   const float *x, const float *w, const float *dy, float *dx, int acc, float *dw)
{
    int rc;
    cudnnHandle_t h = (cudnnHandle_t)s24_cu(be)->dnn;
    struct conv_plan *p, *q = NULL;
    const float one = 1.0f, zero = 0.0f;
    const void *wd = w;
    void *dwd = dw;
    int64_t nw = s->oc * s->kh * s->kw * (s->c / s->groups);
    if (!h) return dnn_missing(s);
    if ((rc = conv_plan_get(be, state, s, be->act == S24_BF16, &p)) != S24_OK) return rc;
    if (p->bf16) {
        s24_bf16 *w16;
        /* p has the newest stamp, so making the fp32 plan never evicts it */
        if ((rc = wgrad_choose(be, state, s, p, &q)) != S24_OK) return rc;
        if ((rc = w16_cast(be, s, w, &w16)) != S24_OK) return rc;
        wd = w16, dwd = w16 + nw;
    }
    if (q) rc = wgrad32_run(be, q, s, x, dy, dw);
    else
        rc = conv_run(be, p, DIR_BWD_FILTER, x, dwd, dy, [&](int algo, void *ws, size_t wsb) {
            return cudnnConvolutionBackwardFilter(h, &one, p->xd, x, p->yd, dy,
                                                  p->cd[DIR_BWD_FILTER],
                                                  (cudnnConvolutionBwdFilterAlgo_t)algo, ws, wsb,
                                                  p->bf16 ? &zero : &one, p->wd, dwd);
        });
    if (rc == S24_OK && p->bf16 && !q) rc = s24_cu_cvt(be, nw, dwd, 1, dw, 0, 1);
    if (rc != S24_OK || !dx) return rc;
    struct conv_algos *a = &p->a[DIR_BWD_DATA];
    /* a graph plan has its beta built in: one found for the other beta is
     * dropped and searched again (memoised, so a node called both ways, as
     * only tests do, times nothing twice) */
    if (a->g && a->gacc != (acc != 0)) {
        s24_cg_free(a->g);
        a->g = NULL, a->use_g = 0;
        p->dx_acc = acc != 0;
        if (a->n > 0 && (rc = graph_find(be, p, DIR_BWD_DATA)) != S24_OK) return rc;
    }
    p->dx_acc = acc != 0;
    return conv_run(be, p, DIR_BWD_DATA, dx, wd, dy, [&](int algo, void *ws, size_t wsb) {
        return cudnnConvolutionBackwardData(h, &one, p->wd, wd, p->yd, dy, p->cd[DIR_BWD_DATA],
                                            (cudnnConvolutionBwdDataAlgo_t)algo, ws, wsb,
                                            acc ? &one : &zero, p->xd, dx);
    });
}

void s24_cu_conv_state_free(void *state)
{
    struct s24_cu_conv_state *st = (struct s24_cu_conv_state *)state;
    if (!st) return;
    for (int i = 0; i < CONV_SLOTS; i++) conv_plan_clear(&st->slot[i]);
    free(st);
}

#else /* no cuDNN: only the depthwise kernels, and no state is ever made */

static int no_dnn(const struct s24_conv_shape *s)
{
    return s24_error(S24_ERR_UNSUPPORTED, "conv2d %lld -> %lld k %lldx%lld groups %lld: "
                     "sparse24 was built without cuDNN (this GPU backend runs only depthwise "
                     "3x3 / 5x5 convs then)", (long long)s->c, (long long)s->oc,
                     (long long)s->kh, (long long)s->kw, (long long)s->groups);
}
static int dnn_fwd(struct s24_backend *, void **, const struct s24_conv_shape *s, const float *,
                   const float *, const float *, float *)
{
    return no_dnn(s);
}
static int dnn_bwd(struct s24_backend *, void **, const struct s24_conv_shape *s, const float *,
                   const float *, const float *, float *, int, float *)
{
    return no_dnn(s);
}
void s24_cu_conv_state_free(void *state) { free(state); }

#endif /* S24_HAVE_CUDNN */

/* ================================================================ the ops */
int s24_cu_conv2d_fwd(struct s24_backend *be, void **state, const struct s24_conv_shape *s,
                      const float *x, const float *w, const float *b, float *y)
{
    int rc = conv_check(s);
    if (rc != S24_OK) return rc;
    return dw_eligible(s) ? dw_fwd(be, s, x, w, b, y) : dnn_fwd(be, state, s, x, w, b, y);
}

int s24_cu_conv2d_bwd(struct s24_backend *be, void **state, const struct s24_conv_shape *s,
                      const float *x, const float *w, const float *dy, float *dx, int acc,
                      float *dw, float *db)
{
    int rc = conv_check(s);
    if (rc != S24_OK) return rc;
    rc = dw_eligible(s) ? dw_bwd(be, s, x, w, dy, dx, acc, dw)
                        : dnn_bwd(be, state, s, x, w, dy, dx, acc, dw);
    if (rc == S24_OK && db) rc = s24_cu_colsum_acc(be, s->n * s->oh * s->ow, s->oc, dy, db);
    return rc;
}
