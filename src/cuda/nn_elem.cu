/* nn_elem.cu: the CUDA backend's element-wise and small ops: ReLU, SiLU,
 * sigmoid, residual add, gradient accumulation, global average pooling,
 * squeeze-excitation's channel scale, and the row masks of dropout and
 * stochastic depth (applied, and drawn from the counter hash s24_keep_draw).
 *
 * Activations (x, y, dy, dx, and SE scale's s and ds) are stored as be->act
 * elements: every kernel that touches them is templated on T = float or
 * s24_bf16 and loads through s24_ld, stores through s24_st (nn_cuda.h), the
 * math in fp32 and each bf16 store rounded to nearest even; the fp32
 * instantiation is the plain kernel. Row masks are fp32 in both modes.
 *
 * The arithmetic is src/cpu/nn_elem.c's: where the CPU rounds a product and
 * a sum separately, the kernels say so with __fmul_rn / __fadd_rn, so nvcc
 * cannot fuse them and those results match the CPU bit for bit (only the
 * activations differ, by expf's last bits). Reductions run in fp64, in a
 * fixed order in one block (no atomics), so they repeat bit for bit.
 *
 * Not here: linear layers (nn_linear.cu), vector loads (these ops are a
 * small share of a step), any host synchronisation. */
#include <stdint.h>

#include <type_traits>

#include "cuda/nn_cuda.h"

#define S24_EL_TPB 256      /* threads per block of the flat kernels */
#define S24_EL_TPB_MAX 1024 /* the most a per-(image, channel) block has */

/* ---------------------------------------------------------------- geometry */
/* The per-(image, channel) kernels (pooling, SE scale): a block covers `ct`
 * channels of one image with `rt` lanes over its positions. With c <= 128 a
 * block spans whole rows (one contiguous, coalesced stretch of memory),
 * otherwise 32 channels (one 128-byte segment per row). An image of many
 * positions gets 1024 threads: one block per (image, tile) must still fill
 * the GPU when the batch is the only parallelism. */
struct s24_el_tile {
    int ct, rt, tpb;
    unsigned tiles; /* channel tiles: ceil(c / ct) */
};

static struct s24_el_tile s24_el_tile_for(int64_t hw, int64_t c)
{
    struct s24_el_tile t;
    t.ct = c <= 128 ? (int)c : 32;
    t.tpb = hw * t.ct >= 4096 ? S24_EL_TPB_MAX : S24_EL_TPB;
    t.rt = t.tpb / t.ct;
    t.tiles = (unsigned)((c + t.ct - 1) / t.ct);
    return t;
}

/* red (rt, ct): adds the rt lanes of each channel into lane 0, pairing lanes
 * in a fixed order (so the sum repeats bit for bit). Every thread calls it. */
static __device__ __forceinline__ void s24_el_fold(double *red, int ct, int rt)
{
    int t = threadIdx.x, lane = t / ct, j = t % ct;
    for (int s = 1; s < rt; s *= 2) {
        __syncthreads();
        if (lane < rt && lane % (2 * s) == 0 && lane + s < rt)
            red[lane * ct + j] += red[(lane + s) * ct + j];
    }
    __syncthreads();
}

/* Grids over (image, channel tile): images on x (up to 2^31 - 1), tiles on y. */
static int s24_el_tile_ok(const char *op, int64_t n, int64_t hw, int64_t c)
{
    if (n < 0 || hw < 1 || c < 1 || n > INT32_MAX || (c + 31) / 32 > 65535)
        return s24_error(S24_ERR_INVALID, "%s: bad shape n %lld, hw %lld, c %lld", op, (long long)n,
                         (long long)hw, (long long)c);
    return S24_OK;
}

/* ---------------------------------------------------------------- activations */
/* The flat kernels take n as groups of V elements (s24_cu_by_vec). */
/* x, y (n), y may be x. */
template <int A, int V, class T>
static __global__ void s24_el_act_fwd_k(int64_t n, const T *x, T *y)
{
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        float v[V];
        s24_ldn<V>(x + i * V, v);
        for (int k = 0; k < V; k++) v[k] = s24_cu_act<A>(v[k]);
        s24_stn<V>(y + i * V, v);
    }
}

/* x, y, dy, dx: (n). dx += the gradient (ReLU: only where x > 0, so a zero
 * there stays what it was); acc == 0: added to 0 instead of dx's contents,
 * which are not read (the bits of a zeroed dx, as the CPU backend gives). */
template <int A, int V, class T>
static __global__ void s24_el_act_bwd_k(int64_t n, const T *__restrict__ x,
                                        const T *__restrict__ y, const T *__restrict__ dy,
                                        T *__restrict__ dx, int acc)
{
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        float xv[V], g[V], d[V];
        if (A == S24_ACT_SIGMOID) s24_ldn<V>(y + i * V, xv);
        else s24_ldn<V>(x + i * V, xv);
        s24_ldn<V>(dy + i * V, g);
        if (acc)
            s24_ldn<V>(dx + i * V, d);
        else
            for (int k = 0; k < V; k++)
                d[k] = 0.0f;
        for (int k = 0; k < V; k++) {
            if (A == S24_ACT_RELU) {
                if (xv[k] > 0.0f) d[k] = __fadd_rn(d[k], g[k]);
            } else {
                float v = A == S24_ACT_SIGMOID ? 0.0f : xv[k];
                float w = A == S24_ACT_SIGMOID ? xv[k] : 0.0f;
                d[k] = __fadd_rn(d[k], s24_cu_act_grad<A>(v, w, g[k]));
            }
        }
        /* where ReLU adds nothing the stored value is the one read: unchanged */
        s24_stn<V>(dx + i * V, d);
    }
}

/* The launches for activation a (RELU, SILU or SIGMOID, checked by the op). */
template <class T>
static void s24_el_act_fwd_go(enum s24_act a, cudaStream_t st, int64_t n, const T *x, T *y)
{
    s24_cu_by_vec<T>(n, {x, y}, [&](auto vc, int64_t m) {
        constexpr int V = decltype(vc)::value;
        unsigned nb = s24_cu_blocks(m, S24_EL_TPB);
        if (a == S24_ACT_RELU)
            s24_el_act_fwd_k<S24_ACT_RELU, V, T><<<nb, S24_EL_TPB, 0, st>>>(m, x, y);
        else if (a == S24_ACT_SILU)
            s24_el_act_fwd_k<S24_ACT_SILU, V, T><<<nb, S24_EL_TPB, 0, st>>>(m, x, y);
        else
            s24_el_act_fwd_k<S24_ACT_SIGMOID, V, T><<<nb, S24_EL_TPB, 0, st>>>(m, x, y);
    });
}

template <class T>
static void s24_el_act_bwd_go(enum s24_act a, cudaStream_t st, int64_t n, const T *x,
                              const T *y, const T *dy, T *dx, int acc)
{
    s24_cu_by_vec<T>(n, {x, y, dy, dx}, [&](auto vc, int64_t m) {
        constexpr int V = decltype(vc)::value;
        unsigned nb = s24_cu_blocks(m, S24_EL_TPB);
        if (a == S24_ACT_RELU)
            s24_el_act_bwd_k<S24_ACT_RELU, V, T><<<nb, S24_EL_TPB, 0, st>>>(m, x, y, dy, dx, acc);
        else if (a == S24_ACT_SILU)
            s24_el_act_bwd_k<S24_ACT_SILU, V, T><<<nb, S24_EL_TPB, 0, st>>>(m, x, y, dy, dx, acc);
        else
            s24_el_act_bwd_k<S24_ACT_SIGMOID, V, T>
                <<<nb, S24_EL_TPB, 0, st>>>(m, x, y, dy, dx, acc);
    });
}

int s24_cu_act_fwd(struct s24_backend *be, enum s24_act a, int64_t n, const float *x, float *y)
{
    int rc = S24_OK;
    cudaStream_t st = s24_cu(be)->stream;
    if (n < 0 || (n > 0 && (!x || !y)))
        return s24_error(S24_ERR_INVALID, "act_fwd: bad size %lld or buffer", (long long)n);
    if (n == 0) return S24_OK;
    if (a != S24_ACT_RELU && a != S24_ACT_SILU && a != S24_ACT_SIGMOID)
        return s24_error(S24_ERR_INVALID, "act_fwd: unknown activation %d", (int)a);
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        s24_el_act_fwd_go<T>(a, st, n, (const T *)x, (T *)y);
    });
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_cu_act_bwd(struct s24_backend *be, enum s24_act a, int64_t n, const float *x,
                   const float *y, const float *dy, float *dx, int acc)
{
    int rc = S24_OK;
    cudaStream_t st = s24_cu(be)->stream;
    if (n < 0 || (n > 0 && (!dy || !dx || (a == S24_ACT_SIGMOID ? !y : !x))))
        return s24_error(S24_ERR_INVALID, "act_bwd: bad size %lld or buffer", (long long)n);
    if (n == 0) return S24_OK;
    if (a != S24_ACT_RELU && a != S24_ACT_SILU && a != S24_ACT_SIGMOID)
        return s24_error(S24_ERR_INVALID, "act_bwd: unknown activation %d", (int)a);
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        s24_el_act_bwd_go<T>(a, st, n, (const T *)x, (const T *)y, (const T *)dy, (T *)dx, acc);
    });
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

/* ---------------------------------------------------------------- add, accumulate */
/* y = act(a + b), or (a == y) y += b: the one kernel serves add_fwd and acc. */
template <int A, int V, class T>
static __global__ void s24_el_add_k(int64_t n, const T *a, const T *b, T *y)
{
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        float u[V], v[V];
        s24_ldn<V>(a + i * V, u);
        s24_ldn<V>(b + i * V, v);
        for (int k = 0; k < V; k++) {
            float r = __fadd_rn(u[k], v[k]);
            u[k] = A == S24_ACT_NONE ? r : s24_cu_act<A>(r);
        }
        s24_stn<V>(y + i * V, u);
    }
}

template <class T>
static void s24_el_add_go(bool relu, cudaStream_t st, int64_t n, const T *a, const T *b, T *y)
{
    s24_cu_by_vec<T>(n, {a, b, y}, [&](auto vc, int64_t m) {
        constexpr int V = decltype(vc)::value;
        unsigned nb = s24_cu_blocks(m, S24_EL_TPB);
        if (relu) s24_el_add_k<S24_ACT_RELU, V, T><<<nb, S24_EL_TPB, 0, st>>>(m, a, b, y);
        else s24_el_add_k<S24_ACT_NONE, V, T><<<nb, S24_EL_TPB, 0, st>>>(m, a, b, y);
    });
}

int s24_cu_add_fwd(struct s24_backend *be, int64_t n, const float *a, const float *b,
                   enum s24_act act, float *y)
{
    int rc = S24_OK;
    cudaStream_t st = s24_cu(be)->stream;
    if (n < 0 || (n > 0 && (!a || !b || !y)))
        return s24_error(S24_ERR_INVALID, "add_fwd: bad size %lld or buffer", (long long)n);
    if (act != S24_ACT_NONE && act != S24_ACT_RELU)
        return s24_error(S24_ERR_INVALID, "add_fwd: activation %d cannot be fused", (int)act);
    if (n == 0) return S24_OK;
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        s24_el_add_go<T>(act == S24_ACT_RELU, st, n, (const T *)a, (const T *)b, (T *)y);
    });
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_cu_acc(struct s24_backend *be, int64_t n, const float *dy, float *dx)
{
    int rc = S24_OK;
    if (n < 0 || (n > 0 && (!dy || !dx)))
        return s24_error(S24_ERR_INVALID, "acc: bad size %lld or buffer", (long long)n);
    if (n == 0) return S24_OK;
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        s24_el_add_go<T>(false, s24_cu(be)->stream, n, (const T *)dx, (const T *)dy, (T *)dx);
    });
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

/* ---------------------------------------------------------------- pooling */
/* x (n, hw, c) -> y (n, c): fp64 sums as the CPU. */
template <class T>
static __global__ void __launch_bounds__(S24_EL_TPB_MAX)
    s24_el_gap_fwd_k(int64_t hw, int64_t c, int ct, int rt, const T *__restrict__ x,
                     T *__restrict__ y)
{
    __shared__ double red[S24_EL_TPB_MAX];
    int t = threadIdx.x, lane = t / ct;
    int64_t i = blockIdx.x, j = (int64_t)blockIdx.y * ct + t % ct;
    double acc = 0;
    if (lane < rt && j < c)
        for (int64_t p = lane; p < hw; p += rt)
            acc += s24_ld(x + (i * hw + p) * c + j);
    red[t] = acc;
    s24_el_fold(red, ct, rt);
    if (t < ct && j < c) s24_st(y + i * c + j, (float)(red[t] / (double)hw));
}

/* dy (n, c) -> dx (n, hw, c) += dy / hw, the CPU's dy * (1/hw) rounding. */
template <class T>
static __global__ void __launch_bounds__(S24_EL_TPB_MAX)
    s24_el_gap_bwd_k(int64_t hw, int64_t c, int ct, int rt, float inv, const T *__restrict__ dy,
                     T *__restrict__ dx)
{
    int t = threadIdx.x, lane = t / ct;
    int64_t i = blockIdx.x, j = (int64_t)blockIdx.y * ct + t % ct;
    if (lane >= rt || j >= c) return;
    float g = __fmul_rn(s24_ld(dy + i * c + j), inv);
    for (int64_t p = lane; p < hw; p += rt) {
        int64_t o = (i * hw + p) * c + j;
        s24_st(dx + o, __fadd_rn(s24_ld(dx + o), g));
    }
}

int s24_cu_gap_fwd(struct s24_backend *be, int64_t n, int64_t hw, int64_t c, const float *x,
                   float *y)
{
    int rc = s24_el_tile_ok("gap_fwd", n, hw, c);
    struct s24_el_tile t = s24_el_tile_for(hw, c);
    if (rc != S24_OK) return rc;
    if (n > 0 && (!x || !y)) return s24_error(S24_ERR_INVALID, "gap_fwd: no buffer");
    if (n == 0) return S24_OK;
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        s24_el_gap_fwd_k<T><<<dim3((unsigned)n, t.tiles), t.tpb, 0, s24_cu(be)->stream>>>(
            hw, c, t.ct, t.rt, (const T *)x, (T *)y);
    });
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_cu_gap_bwd(struct s24_backend *be, int64_t n, int64_t hw, int64_t c, const float *dy,
                   float *dx)
{
    int rc = s24_el_tile_ok("gap_bwd", n, hw, c);
    struct s24_el_tile t = s24_el_tile_for(hw, c);
    float inv = 1.0f / (float)hw;
    if (rc != S24_OK) return rc;
    if (n > 0 && (!dy || !dx)) return s24_error(S24_ERR_INVALID, "gap_bwd: no buffer");
    if (n == 0) return S24_OK;
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        s24_el_gap_bwd_k<T><<<dim3((unsigned)n, t.tiles), t.tpb, 0, s24_cu(be)->stream>>>(
            hw, c, t.ct, t.rt, inv, (const T *)dy, (T *)dx);
    });
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

/* ---------------------------------------------------------------- SE scale */
/* x, y (n, hw, c), y may be x; s (n, c): y = x * s. */
template <class T>
static __global__ void __launch_bounds__(S24_EL_TPB_MAX)
    s24_el_scale_fwd_k(int64_t hw, int64_t c, int ct, int rt, const T *x, const T *__restrict__ s,
                       T *y)
{
    int t = threadIdx.x, lane = t / ct;
    int64_t i = blockIdx.x, j = (int64_t)blockIdx.y * ct + t % ct;
    if (lane >= rt || j >= c) return;
    float k = s24_ld(s + i * c + j);
    for (int64_t p = lane; p < hw; p += rt) {
        int64_t o = (i * hw + p) * c + j;
        s24_st(y + o, __fmul_rn(s24_ld(x + o), k));
    }
}

/* ds (n, c) += sum_p dy x (fp64); dx (n, hw, c) += dy s when given, in the
 * same pass over dy. */
template <class T>
static __global__ void __launch_bounds__(S24_EL_TPB_MAX)
    s24_el_scale_bwd_k(int64_t hw, int64_t c, int ct, int rt, const T *__restrict__ x,
                       const T *__restrict__ s, const T *__restrict__ dy, T *__restrict__ dx,
                       T *__restrict__ ds)
{
    __shared__ double red[S24_EL_TPB_MAX];
    int t = threadIdx.x, lane = t / ct;
    int64_t i = blockIdx.x, j = (int64_t)blockIdx.y * ct + t % ct;
    double acc = 0;
    if (lane < rt && j < c) {
        float k = s24_ld(s + i * c + j);
        for (int64_t p = lane; p < hw; p += rt) {
            int64_t o = (i * hw + p) * c + j;
            float g = s24_ld(dy + o);
            acc += (double)g * s24_ld(x + o);
            if (dx) s24_st(dx + o, __fadd_rn(s24_ld(dx + o), __fmul_rn(g, k)));
        }
    }
    red[t] = acc;
    s24_el_fold(red, ct, rt);
    if (t < ct && j < c) s24_st(ds + i * c + j, __fadd_rn(s24_ld(ds + i * c + j), (float)red[t]));
}

int s24_cu_scale_fwd(struct s24_backend *be, int64_t n, int64_t hw, int64_t c, const float *x,
                     const float *s, float *y)
{
    int rc = s24_el_tile_ok("scale_fwd", n, hw, c);
    struct s24_el_tile t = s24_el_tile_for(hw, c);
    if (rc != S24_OK) return rc;
    if (n > 0 && (!x || !s || !y)) return s24_error(S24_ERR_INVALID, "scale_fwd: no buffer");
    if (n == 0) return S24_OK;
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        s24_el_scale_fwd_k<T><<<dim3((unsigned)n, t.tiles), t.tpb, 0, s24_cu(be)->stream>>>(
            hw, c, t.ct, t.rt, (const T *)x, (const T *)s, (T *)y);
    });
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_cu_scale_bwd(struct s24_backend *be, int64_t n, int64_t hw, int64_t c, const float *x,
                     const float *s, const float *dy, float *dx, float *ds)
{
    int rc = s24_el_tile_ok("scale_bwd", n, hw, c);
    struct s24_el_tile t = s24_el_tile_for(hw, c);
    if (rc != S24_OK) return rc;
    if (n > 0 && (!x || !s || !dy || !ds))
        return s24_error(S24_ERR_INVALID, "scale_bwd: no buffer");
    if (n == 0) return S24_OK;
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        s24_el_scale_bwd_k<T><<<dim3((unsigned)n, t.tiles), t.tpb, 0, s24_cu(be)->stream>>>(
            hw, c, t.ct, t.rt, (const T *)x, (const T *)s, (const T *)dy, (T *)dx, (T *)ds);
    });
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

/* ---------------------------------------------------------------- row masks */
/* x, y (rows, inner), y may be x; mask (rows): y = x * mask[row]; with ACC
 * y += x * mask[row] (the backward, x being dy). */
template <int ACC, class T>
static __global__ void s24_el_rowmask_k(int64_t total, int64_t inner, const T *x,
                                        const float *__restrict__ mask, T *y)
{
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {
        float v = __fmul_rn(s24_ld(x + i), mask[inner == 1 ? i : i / inner]);
        s24_st(y + i, ACC ? __fadd_rn(s24_ld(y + i), v) : v);
    }
}

/* mask (rows): one thread a row; keep and scale come from the host's float
 * arithmetic, the same expression as the CPU's, so the masks agree bit for bit. */
static __global__ void s24_el_rowmask_draw_k(int64_t rows, float keep, float scale,
                                             const uint64_t *__restrict__ key,
                                             float *__restrict__ mask)
{
    uint64_t k = *key;
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += step)
        mask[r] = s24_keep_draw(k, (uint64_t)r) < keep ? scale : 0.0f;
}

static int s24_el_rowmask_ok(const char *op, int64_t rows, int64_t inner)
{
    if (rows < 0 || inner < 1 || (rows > 0 && inner > INT64_MAX / rows))
        return s24_error(S24_ERR_INVALID, "%s: bad shape rows %lld, inner %lld", op,
                         (long long)rows, (long long)inner);
    return S24_OK;
}

int s24_cu_rowmask_fwd(struct s24_backend *be, int64_t rows, int64_t inner, const float *x,
                       const float *mask, float *y)
{
    int rc = s24_el_rowmask_ok("rowmask_fwd", rows, inner);
    int64_t total = rows * inner;
    if (rc != S24_OK) return rc;
    if (total > 0 && (!x || !mask || !y))
        return s24_error(S24_ERR_INVALID, "rowmask_fwd: no buffer");
    if (total == 0) return S24_OK;
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        s24_el_rowmask_k<0, T>
            <<<s24_cu_blocks(total, S24_EL_TPB), S24_EL_TPB, 0, s24_cu(be)->stream>>>(
                total, inner, (const T *)x, mask, (T *)y);
    });
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_cu_rowmask_bwd(struct s24_backend *be, int64_t rows, int64_t inner, const float *mask,
                       const float *dy, float *dx)
{
    int rc = s24_el_rowmask_ok("rowmask_bwd", rows, inner);
    int64_t total = rows * inner;
    if (rc != S24_OK) return rc;
    if (total > 0 && (!dy || !mask || !dx))
        return s24_error(S24_ERR_INVALID, "rowmask_bwd: no buffer");
    if (total == 0) return S24_OK;
    s24_cu_by_act(be, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        s24_el_rowmask_k<1, T>
            <<<s24_cu_blocks(total, S24_EL_TPB), S24_EL_TPB, 0, s24_cu(be)->stream>>>(
                total, inner, (const T *)dy, mask, (T *)dx);
    });
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

int s24_cu_rowmask_draw(struct s24_backend *be, int64_t rows, float p, const uint64_t *key,
                        float *mask)
{
    int rc = S24_OK;
    /* keep with probability 1-p, scaled by 1/(1-p); PyTorch's survival 0 gives all 0 */
    float keep = 1.0f - p, scale = keep > 0.0f ? 1.0f / keep : 0.0f;
    if (rows < 0 || !(p >= 0.0f && p <= 1.0f))
        return s24_error(S24_ERR_INVALID, "rowmask_draw: rows %lld, p %g", (long long)rows,
                         (double)p);
    if (rows > 0 && (!key || !mask)) return s24_error(S24_ERR_INVALID, "rowmask_draw: no buffer");
    if (rows == 0) return S24_OK;
    s24_el_rowmask_draw_k<<<s24_cu_blocks(rows, S24_EL_TPB), S24_EL_TPB, 0, s24_cu(be)->stream>>>(
        rows, keep, scale, key, mask);
    S24_LAUNCH_CHECK();
fail:
    return rc;
}
