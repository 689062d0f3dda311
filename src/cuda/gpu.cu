/* gpu.cu: the GPU context (device, stream, cuBLASLt and cuSPARSELt handles),
 * device memory, the small kernels the engine needs (random fill, 2:4 prune
 * and check for plans without cuSPARSELt, an L2 flush, a delay), the timing
 * method, CUDA graphs, and s24_cuda_info. No GEMM logic lives here
 * (gemm.cu, cusparselt.cu, cublaslt.cu). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_internal.h"
#ifdef S24_HAVE_NCCL
#include "dl_nccl.h" /* for its version in s24_cuda_info */
#endif

/* ---------------------------------------------------------------- errors */
int s24_gpu_status(cudaError_t e, const char *call, const char *file, int line)
{
    if (e == cudaSuccess) return S24_OK;
    int code = e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver ? S24_ERR_NO_DEVICE
               : e == cudaErrorMemoryAllocation                           ? S24_ERR_NOMEM
                                                                          : S24_ERR_CUDA;
    return s24_error(code, "%s:%d: %s: %s (%s)", file, line, call, cudaGetErrorString(e),
                     cudaGetErrorName(e));
}

int s24_gpu_status(cublasStatus_t e, const char *call, const char *file, int line)
{
    if (e == CUBLAS_STATUS_SUCCESS) return S24_OK;
    int code = e == CUBLAS_STATUS_NOT_SUPPORTED ? S24_ERR_UNSUPPORTED
               : e == CUBLAS_STATUS_ALLOC_FAILED ? S24_ERR_NOMEM
                                                 : S24_ERR_CUBLAS;
    /* cuBLASLt's own names for the status, so that libcublas is not needed; a
     * status comes from a loaded cuBLASLt, but a caller's mistake should not
     * turn into a call through an empty table */
    if (!cublasLtGetStatusString || !cublasLtGetStatusName) /* the table entries */
        return s24_error(code, "%s:%d: %s: cuBLAS status %d", file, line, call, (int)e);
    return s24_error(code, "%s:%d: %s: %s (%s)", file, line, call, cublasLtGetStatusString(e),
                     cublasLtGetStatusName(e));
}

#ifdef S24_HAVE_CUDNN
int s24_gpu_status(cudnnStatus_t e, const char *call, const char *file, int line)
{
    if (e == CUDNN_STATUS_SUCCESS) return S24_OK;
    /* cuDNN 9 splits each category into specific codes (3000..3999: not supported) */
    int code = CUDNN_STATUS_CATEGORY(e) == CUDNN_STATUS_NOT_SUPPORTED ? S24_ERR_UNSUPPORTED
               : e == CUDNN_STATUS_ALLOC_FAILED ||
                       e == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED
                   ? S24_ERR_NOMEM
                   : S24_ERR_CUDNN;
    char detail[256] = "";
    cudnnGetLastErrorString(detail, sizeof detail);
    /* the thread's last cuDNN message: usually this failure's detail */
    return s24_error(code, "%s:%d: %s: %s%s%s%s", file, line, call, cudnnGetErrorString(e),
                     detail[0] ? " (last cuDNN message: " : "", detail, detail[0] ? ")" : "");
}
#endif

const char *s24_gpu_none_why(cudaError_t e)
{
    int drv = 0;
    if (cudaDriverGetVersion(&drv) != cudaSuccess || drv == 0)
        return "no NVIDIA driver: libcuda.so.1 was not found";
    return e != cudaSuccess ? cudaGetErrorString(e) : "the driver reports no CUDA device";
}

/* ---------------------------------------------------------------- info */
extern "C" void s24_cuda_info(char *buf, size_t len)
{
    size_t o = 0;
    int drv = 0, rt = 0, n = 0;
#define PUT(...)                                                              \
    do {                                                                      \
        if (o < len) o += (size_t)snprintf(buf + o, len - o, __VA_ARGS__);   \
    } while (0)
    buf[0] = 0;
    /* the runtime is linked statically and opens the driver (libcuda.so.1) at
     * its first call; without one it answers version 0 */
    if (cudaDriverGetVersion(&drv) != cudaSuccess || drv == 0) {
        PUT("cuda driver: none (libcuda.so.1, the NVIDIA driver's library, was not found)\n");
        cudaGetLastError();
    } else {
        PUT("cuda driver: %d.%d\n", drv / 1000, drv % 1000 / 10);
    }
    cudaRuntimeGetVersion(&rt);
    PUT("cuda runtime: %d.%d (linked statically)\n", rt / 1000, rt % 1000 / 10);
    if (s24_dl_cublaslt_load(NULL) == S24_OK) {
        size_t lt = cublasLtGetVersion();
        PUT("cublaslt: %zu.%zu.%zu loaded from %s\n", lt / 10000, lt % 10000 / 100, lt % 100,
            s24_dl_cublaslt_path());
    } else {
        PUT("cublaslt: not loaded: %s\n", s24_last_error());
        s24_clear_error();
    }
    if (o < len) {
        s24_sp_info(buf + o, len - o);
        o += strlen(buf + o);
    }
#ifdef S24_HAVE_CUDNN
    if (s24_dl_cudnn_load(NULL) == S24_OK) {
        size_t cv = cudnnGetVersion();
        PUT("cudnn: %zu.%zu.%zu loaded from %s\n", cv / 10000, cv % 10000 / 100, cv % 100,
            s24_dl_cudnn_path());
    } else {
        PUT("cudnn: not loaded: %s\n", s24_last_error());
        s24_clear_error();
    }
#else
    PUT("cudnn: not built\n");
#endif
#ifdef S24_HAVE_NCCL
    if (s24_dl_nccl_load(NULL) == S24_OK) {
        int nv = 0;
        ncclGetVersion(&nv);
        PUT("nccl: %d.%d.%d loaded from %s\n", nv / 10000, nv % 10000 / 100, nv % 100,
            s24_dl_nccl_path());
    } else {
        PUT("nccl: not loaded: %s\n", s24_last_error());
        s24_clear_error();
    }
#else
    PUT("nccl: not built\n");
#endif
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        PUT("gpu: none (%s)\n", s24_gpu_none_why(e));
        cudaGetLastError();
    }
    for (int i = 0; i < n; i++) {
        cudaDeviceProp pr;
        if (cudaGetDeviceProperties(&pr, i) != cudaSuccess) continue;
        PUT("gpu %d: %s, sm_%d%d, %d SMs, %.1f GiB, L2 %d MiB\n", i, pr.name, pr.major, pr.minor,
            pr.multiProcessorCount, (double)pr.totalGlobalMem / (1024.0 * 1024 * 1024),
            pr.l2CacheSize >> 20);
    }
#undef PUT
}

/* ---------------------------------------------------------------- context */
extern "C" int s24_gpu_init(int device, s24_gpu_t **out)
{
    int rc = S24_OK, n = 0;
    s24_gpu_t *g;
    *out = NULL;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError();
        return s24_error(S24_ERR_NO_DEVICE, "no GPU: %s", s24_gpu_none_why(e));
    }
    if (device < 0 || device >= n)
        return s24_error(S24_ERR_INVALID, "GPU %d does not exist (%d found)", device, n);
    g = (s24_gpu_t *)calloc(1, sizeof *g);
    if (!g) return s24_error(S24_ERR_NOMEM, "GPU context: out of memory");
    g->device = device;
    S24_GPU_CHECK(cudaSetDevice(device));
    S24_GPU_CHECK(cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking));
    /* every plan has a dense side: the context needs cuBLASLt, cuSPARSELt not */
    if ((rc = s24_dl_cublaslt_load("the GPU context's dense GEMMs (cuBLASLt handle)")) != S24_OK)
        goto fail;
    S24_GPU_CHECK(cublasLtCreate(&g->lt));
    {
        cudaDeviceProp pr;
        S24_GPU_CHECK(cudaGetDeviceProperties(&pr, device));
        snprintf(g->props.name, sizeof g->props.name, "%.127s", pr.name);
        g->props.device = device;
        g->props.cc_major = pr.major;
        g->props.cc_minor = pr.minor;
        g->props.sm_count = pr.multiProcessorCount;
        g->props.l2_bytes = (size_t)pr.l2CacheSize;
        g->props.mem_bytes = pr.totalGlobalMem;
        cudaDriverGetVersion(&g->props.driver);
        cudaRuntimeGetVersion(&g->props.runtime);
        g->props.cublaslt = (int)cublasLtGetVersion();
    }
    /* cuBLASLt's recommended workspace on Hopper is 32 MiB */
    g->dense_ws_bytes = (size_t)32 << 20;
    S24_GPU_CHECK(cudaMalloc(&g->dense_ws, g->dense_ws_bytes));
    g->flush_bytes = 2 * (g->props.l2_bytes ? g->props.l2_bytes : ((size_t)64 << 20));
    S24_GPU_CHECK(cudaMalloc(&g->flush, g->flush_bytes));
    S24_GPU_CHECK(cudaMemset(g->flush, 1, g->flush_bytes));
    S24_GPU_CHECK(cudaMalloc((void **)&g->flush_sink, sizeof(int)));
    /* cuSPARSELt is optional: without it the context still runs dense plans */
    g->splt_status = s24_sp_handle_create(&g->splt, &g->props.cusparselt);
    if (g->splt_status != S24_OK) {
        snprintf(g->splt_error, sizeof g->splt_error, "%s", s24_last_error());
        g->splt = NULL;
        s24_clear_error();
    }
    *out = g;
    return S24_OK;
fail:
    s24_gpu_free(g);
    return rc;
}

extern "C" void s24_gpu_free(s24_gpu_t *g)
{
    if (!g) return;
    if (g->stream) cudaStreamSynchronize(g->stream);
    s24_sp_handle_destroy(g->splt);
    if (g->lt) cublasLtDestroy(g->lt);
    cudaFree(g->dense_ws);
    cudaFree(g->flush);
    cudaFree(g->flush_sink);
    if (g->stream) cudaStreamDestroy(g->stream);
    free(g);
}

extern "C" int s24_gpu_props(const s24_gpu_t *g, struct s24_gpu_props *out)
{
    *out = g->props;
    return S24_OK;
}

extern "C" void *s24_gpu_stream(const s24_gpu_t *g) { return (void *)g->stream; }

extern "C" int s24_gpu_sync(s24_gpu_t *g)
{
    int rc = S24_OK;
    S24_GPU_CHECK(cudaStreamSynchronize(g->stream));
fail:
    return rc;
}

extern "C" int s24_gpu_alloc(s24_gpu_t *g, size_t bytes, void **out)
{
    int rc = S24_OK;
    *out = NULL;
    S24_GPU_CHECK(cudaMalloc(out, bytes ? bytes : 1));
fail:
    return rc;
}

extern "C" void s24_gpu_mem_free(s24_gpu_t *g, void *p)
{
    (void)g;
    if (p) cudaFree(p);
}

extern "C" int s24_gpu_upload(s24_gpu_t *g, void *dst, const void *src, size_t bytes)
{
    int rc = S24_OK;
    S24_GPU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, g->stream));
    S24_GPU_CHECK(cudaStreamSynchronize(g->stream));
fail:
    return rc;
}

extern "C" int s24_gpu_download(s24_gpu_t *g, void *dst, const void *src, size_t bytes)
{
    int rc = S24_OK;
    S24_GPU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, g->stream));
    S24_GPU_CHECK(cudaStreamSynchronize(g->stream));
fail:
    return rc;
}

extern "C" int s24_gpu_fill_bytes(s24_gpu_t *g, void *p, int byte, size_t bytes)
{
    int rc = S24_OK;
    S24_GPU_CHECK(cudaMemsetAsync(p, byte, bytes, g->stream));
    S24_GPU_CHECK(cudaStreamSynchronize(g->stream));
fail:
    return rc;
}

/* ---------------------------------------------------------------- kernels */
__device__ static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

template <typename T> __device__ static T from_float(float v);
template <> __device__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __nv_bfloat16 from_float<__nv_bfloat16>(float v)
{
    return __float2bfloat16_rn(v);
}
template <> __device__ float from_float<float>(float v) { return v; }
template <> __device__ __nv_fp8_e4m3 from_float<__nv_fp8_e4m3>(float v) { return __nv_fp8_e4m3(v); }
template <> __device__ int8_t from_float<int8_t>(float v) { return (int8_t)v; }

template <typename T> __device__ static float to_float(T v) { return (float)v; }
template <> __device__ float to_float<__half>(__half v) { return __half2float(v); }
template <> __device__ float to_float<__nv_bfloat16>(__nv_bfloat16 v)
{
    return __bfloat162float(v);
}
template <> __device__ float to_float<__nv_fp8_e4m3>(__nv_fp8_e4m3 v) { return (float)v; }

template <typename T>
__global__ static void fill_kernel(T *p, int64_t n, uint64_t seed, float scale, int integer)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        uint64_t r = mix64(seed ^ mix64((uint64_t)i));
        float u = (float)(r >> 40) * (1.0f / 16777216.0f); /* [0, 1) */
        float v;
        if (integer) {
            int span = (int)scale;
            v = (float)((int)(u * (float)(2 * span)) - span);
            if (v >= 0) v += 1; /* -span..-1, 1..span: never zero */
        } else {
            v = (2.0f * u - 1.0f) * scale;
            /* never zero, also after rounding to the storage type */
            if (fabsf(v) < scale * (1.0f / 64))
                v = v < 0 ? -scale * (1.0f / 64) : scale * (1.0f / 64);
        }
        p[i] = from_float<T>(v);
    }
}

static int grid_for(int64_t n)
{
    int64_t b = (n + 255) / 256;
    return (int)(b < 8192 ? (b > 0 ? b : 1) : 8192);
}

extern "C" int s24_gpu_fill_random(s24_gpu_t *g, enum s24_dtype dt, void *p, int64_t count,
                                   uint64_t seed, float scale)
{
    int rc = S24_OK;
    int grid = grid_for(count);
    if (count <= 0) return S24_OK;
    switch (dt) {
    case S24_F16:
        fill_kernel<<<grid, 256, 0, g->stream>>>((__half *)p, count, seed, scale, 0);
        break;
    case S24_BF16:
        fill_kernel<<<grid, 256, 0, g->stream>>>((__nv_bfloat16 *)p, count, seed, scale, 0);
        break;
    case S24_F32:
        fill_kernel<<<grid, 256, 0, g->stream>>>((float *)p, count, seed, scale, 0);
        break;
    case S24_F8_E4M3:
        fill_kernel<<<grid, 256, 0, g->stream>>>((__nv_fp8_e4m3 *)p, count, seed, scale, 0);
        break;
    case S24_I8:
        if (scale < 1 || scale > 127)
            return s24_error(S24_ERR_INVALID, "fill_random: int8 scale %g", (double)scale);
        fill_kernel<<<grid, 256, 0, g->stream>>>((int8_t *)p, count, seed, scale, 1);
        break;
    default:
        return s24_error(S24_ERR_UNSUPPORTED, "fill_random: dtype %s", s24_gemm_dtype_name(dt));
    }
    S24_LAUNCH_CHECK();
    S24_GPU_CHECK(cudaStreamSynchronize(g->stream));
fail:
    return rc;
}

/* One thread per group of four along k of a logical m x k matrix. Keeps the
 * two largest magnitudes (ties: lower index), zeroes the rest; or counts
 * groups with more than two non-zero bit patterns. */
template <typename T>
__global__ static void prune24_kernel(T *w, int64_t m, int64_t k, int row_major, int check,
                                      unsigned long long *bad)
{
    int64_t groups = m * (k / 4);
    for (int64_t gi = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; gi < groups;
         gi += (int64_t)gridDim.x * blockDim.x) {
        int64_t i = gi / (k / 4), j0 = gi % (k / 4) * 4;
        int64_t off[4];
        for (int t = 0; t < 4; t++) off[t] = row_major ? i * k + j0 + t : (j0 + t) * m + i;
        if (check) {
            int nz = 0;
            for (int t = 0; t < 4; t++) {
                T v = w[off[t]];
                unsigned char bytes[sizeof(T)];
                memcpy(bytes, &v, sizeof(T));
                int any = 0;
                for (size_t b = 0; b < sizeof(T); b++) any |= bytes[b];
                nz += any != 0;
            }
            if (nz > 2) atomicAdd(bad, 1ull);
            continue;
        }
        float a[4];
        for (int t = 0; t < 4; t++) a[t] = fabsf(to_float<T>(w[off[t]]));
        int k0 = 0;
        for (int t = 1; t < 4; t++)
            if (a[t] > a[k0]) k0 = t;
        int k1 = k0 == 0 ? 1 : 0;
        for (int t = 0; t < 4; t++)
            if (t != k0 && a[t] > a[k1]) k1 = t;
        T zero;
        memset(&zero, 0, sizeof zero);
        for (int t = 0; t < 4; t++)
            if (t != k0 && t != k1) w[off[t]] = zero;
    }
}

static int prune_or_check(s24_gpu_t *g, enum s24_dtype dt, void *w, int64_t m, int64_t k,
                          enum s24_order order, cudaStream_t s, int check, long long *bad)
{
    int rc = S24_OK;
    unsigned long long *d_bad = NULL, h_bad = 0;
    int grid = grid_for(m * (k / 4)), rm = order == S24_ORDER_ROW;
    if (k % 4)
        return s24_error(S24_ERR_INVALID, "2:4: k = %lld is not a multiple of 4", (long long)k);
    if (check) {
        S24_GPU_CHECK(cudaMallocAsync((void **)&d_bad, sizeof *d_bad, s));
        S24_GPU_CHECK(cudaMemsetAsync(d_bad, 0, sizeof *d_bad, s));
    }
    switch (s24_dtype_size(dt)) {
    case 1: prune24_kernel<<<grid, 256, 0, s>>>((int8_t *)w, m, k, rm, check, d_bad); break;
    case 2:
        if (dt == S24_BF16)
            prune24_kernel<<<grid, 256, 0, s>>>((__nv_bfloat16 *)w, m, k, rm, check, d_bad);
        else prune24_kernel<<<grid, 256, 0, s>>>((__half *)w, m, k, rm, check, d_bad);
        break;
    case 4: prune24_kernel<<<grid, 256, 0, s>>>((float *)w, m, k, rm, check, d_bad); break;
    default:
        rc = s24_error(S24_ERR_UNSUPPORTED, "2:4: dtype %s", s24_gemm_dtype_name(dt));
        goto fail;
    }
    S24_LAUNCH_CHECK();
    if (check) {
        S24_GPU_CHECK(cudaMemcpyAsync(&h_bad, d_bad, sizeof h_bad, cudaMemcpyDeviceToHost, s));
        S24_GPU_CHECK(cudaStreamSynchronize(s));
        *bad = (long long)h_bad;
    }
fail:
    if (d_bad) cudaFreeAsync(d_bad, s);
    return rc;
}

int s24_gpu_prune24(s24_gpu_t *g, enum s24_dtype dt, void *w, int64_t m, int64_t k,
                    enum s24_order order, cudaStream_t s)
{
    /* fp8 magnitudes need the fp8 conversion; int8 is compared as int8 */
    if (dt == S24_F8_E4M3) {
        int rc = S24_OK;
        int grid = grid_for(m * (k / 4));
        if (k % 4)
            return s24_error(S24_ERR_INVALID, "2:4: k = %lld is not a multiple of 4", (long long)k);
        prune24_kernel<<<grid, 256, 0, s>>>((__nv_fp8_e4m3 *)w, m, k, order == S24_ORDER_ROW, 0,
                                            NULL);
        S24_LAUNCH_CHECK();
    fail:
        return rc;
    }
    return prune_or_check(g, dt, w, m, k, order, s, 0, NULL);
}

int s24_gpu_check24(s24_gpu_t *g, enum s24_dtype dt, const void *w, int64_t m, int64_t k,
                    enum s24_order order, cudaStream_t s, long long *bad)
{
    return prune_or_check(g, dt, (void *)w, m, k, order, s, 1, bad);
}

/* Reads the whole buffer (so L2 holds only clean lines of it afterwards); the
 * store never happens for the values the buffer holds. */
__global__ static void flush_kernel(const int4 *p, int64_t n, int *sink)
{
    int acc = 0;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        int4 v = __ldcg(p + i);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x7fffffff) *sink = acc;
}

int s24_gpu_flush_l2(s24_gpu_t *g, cudaStream_t s)
{
    int rc = S24_OK;
    flush_kernel<<<g->props.sm_count * 4, 512, 0, s>>>(
        (const int4 *)g->flush, (int64_t)(g->flush_bytes / 16), g->flush_sink);
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

__global__ static void delay_kernel(uint64_t ns)
{
    uint64_t t0, t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
    do {
        __nanosleep(1000);
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    } while (t - t0 < ns);
}

int s24_gpu_delay(s24_gpu_t *g, double us, cudaStream_t s)
{
    int rc = S24_OK;
    (void)g;
    delay_kernel<<<1, 1, 0, s>>>((uint64_t)(us * 1000.0));
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

/* ---------------------------------------------------------------- timing */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int s24_gpu_time_interleaved(s24_gpu_t *g, int n, const s24_call_fn *fn, void *const *ctx,
                             int warmup, int repeats, int flush_l2, struct s24_gemm_timing *out)
{
    int rc = S24_OK, made = 0, total = n * repeats;
    cudaStream_t s = g->stream;
    cudaEvent_t *ev = NULL;
    double *ms = NULL;
    if (repeats < 1 || n < 1)
        return s24_error(S24_ERR_INVALID, "timing: repeats and calls must be >= 1");
    ev = (cudaEvent_t *)calloc((size_t)total * 2, sizeof *ev);
    ms = (double *)calloc((size_t)total, sizeof *ms);
    if (!ev || !ms) {
        rc = s24_error(S24_ERR_NOMEM, "timing: out of memory");
        goto fail;
    }
    for (; made < 2 * total; made++) S24_GPU_CHECK(cudaEventCreate(&ev[made]));
    for (int i = 0; i < warmup; i++)
        for (int j = 0; j < n; j++) {
            if (flush_l2 && (rc = s24_gpu_flush_l2(g, s)) != S24_OK) goto fail;
            if ((rc = fn[j](ctx[j], s)) != S24_OK) goto fail;
        }
    S24_GPU_CHECK(cudaStreamSynchronize(s));
    /* hold the GPU while the host queues every call, so each event pair
     * brackets device work only; ~40 us of host time per call is ample */
    {
        double hold = 200.0 + 40.0 * total;
        if ((rc = s24_gpu_delay(g, hold < 50000 ? hold : 50000, s)) != S24_OK) goto fail;
    }
    /* round robin, so clock and thermal drift hit all n alike, and the
     * starting slot rotates each repeat: measured on the H100, one plan
     * paired with itself read 9% slower in the second slot when the order
     * was fixed (0.0071 vs 0.0065 ms at 512x256x512) */
    for (int i = 0; i < repeats; i++)
        for (int jj = 0; jj < n; jj++) {
            int j = (jj + i) % n;
            cudaEvent_t *e = &ev[2 * ((size_t)j * repeats + i)];
            if (flush_l2 && (rc = s24_gpu_flush_l2(g, s)) != S24_OK) goto fail;
            S24_GPU_CHECK(cudaEventRecord(e[0], s));
            if ((rc = fn[j](ctx[j], s)) != S24_OK) goto fail;
            S24_GPU_CHECK(cudaEventRecord(e[1], s));
        }
    S24_GPU_CHECK(cudaStreamSynchronize(s));
    for (int i = 0; i < total; i++) {
        float t = 0;
        S24_GPU_CHECK(cudaEventElapsedTime(&t, ev[2 * i], ev[2 * i + 1]));
        ms[i] = t;
    }
    for (int j = 0; j < n; j++) {
        double *m = ms + (size_t)j * repeats;
        qsort(m, (size_t)repeats, sizeof *m, cmp_double);
        out[j].repeats = repeats;
        out[j].min_ms = m[0];
        out[j].max_ms = m[repeats - 1];
        out[j].median_ms =
            repeats % 2 ? m[repeats / 2] : 0.5 * (m[repeats / 2 - 1] + m[repeats / 2]);
    }
fail:
    if (rc != S24_OK) cudaStreamSynchronize(s);
    for (int i = 0; i < made; i++) cudaEventDestroy(ev[i]);
    free(ev);
    free(ms);
    return rc;
}

int s24_gpu_time_settled(s24_gpu_t *g, int n, const s24_call_fn *fn, void *const *ctx, int warmup,
                         int repeats, int long_repeats, struct s24_gemm_timing *out, int *fastest)
{
    int rc, best = 0;
    if ((rc = s24_gpu_time_interleaved(g, n, fn, ctx, warmup, repeats, 1, out)) != S24_OK)
        return rc;
    for (int j = 1; j < n; j++)
        if (out[j].median_ms < out[best].median_ms) best = j;
    /* under 50 us a short median moves by a few per cent, as much as the
     * candidates differ; time them again, longer (a few ms at that size) */
    if (out[best].median_ms < 0.05) {
        if ((rc = s24_gpu_time_interleaved(g, n, fn, ctx, warmup, long_repeats, 1, out)) != S24_OK)
            return rc;
        best = 0;
        for (int j = 1; j < n; j++)
            if (out[j].median_ms < out[best].median_ms) best = j;
    }
    if (fastest) *fastest = best;
    return S24_OK;
}

int s24_gpu_time_calls(s24_gpu_t *g, s24_call_fn fn, void *ctx, int warmup, int repeats,
                       int flush_l2, struct s24_gemm_timing *out)
{
    return s24_gpu_time_interleaved(g, 1, &fn, &ctx, warmup, repeats, flush_l2, out);
}

/* ---------------------------------------------------------------- graphs */
extern "C" int s24_gpu_graph_begin(s24_gpu_t *g)
{
    int rc = S24_OK;
    S24_GPU_CHECK(cudaStreamBeginCapture(g->stream, cudaStreamCaptureModeThreadLocal));
fail:
    return rc;
}

extern "C" int s24_gpu_graph_end(s24_gpu_t *g, s24_graph_t **out)
{
    int rc = S24_OK;
    cudaGraph_t graph = NULL;
    s24_graph_t *gr = NULL;
    *out = NULL;
    S24_GPU_CHECK(cudaStreamEndCapture(g->stream, &graph));
    gr = (s24_graph_t *)calloc(1, sizeof *gr);
    if (!gr) {
        rc = s24_error(S24_ERR_NOMEM, "graph: out of memory");
        goto fail;
    }
    gr->stream = g->stream;
    S24_GPU_CHECK(cudaGraphInstantiate(&gr->exec, graph, 0));
    cudaGraphDestroy(graph);
    *out = gr;
    return S24_OK;
fail:
    if (graph) cudaGraphDestroy(graph);
    free(gr);
    return rc;
}

extern "C" int s24_graph_launch(s24_graph_t *gr)
{
    int rc = S24_OK;
    S24_GPU_CHECK(cudaGraphLaunch(gr->exec, gr->stream));
fail:
    return rc;
}

extern "C" void s24_graph_free(s24_graph_t *gr)
{
    if (!gr) return;
    if (gr->exec) cudaGraphExecDestroy(gr->exec);
    free(gr);
}
