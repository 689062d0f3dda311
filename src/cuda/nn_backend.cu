/* nn_backend.cu: the CUDA training backend's context (device, one
 * non-blocking stream, the cuDNN and cuBLASLt handles bound to it, a cuBLASLt
 * workspace), its memory hooks, step graphs (stream capture), the profiling
 * marks (CUDA events) and the ops table that points at the kernels of
 * nn_conv.cu, nn_linear.cu, nn_elem.cu, nn_pool.cu, nn_norm.cu and nn_step.cu.
 * It does no accounting and keeps no scratch (s24_be_alloc / s24_be_ws in
 * src/nn/backend.c do, through these hooks), and it computes nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/nn_cuda.h"

/* cuBLASLt's recommended workspace on Hopper */
#define S24_CU_LT_WS_BYTES ((size_t)32 << 20)

/* The context with what only this file uses after it; be->ctx points at
 * `nn` (the first member), which is what s24_cu() reads. */
struct cu_ctx {
    struct s24_cuda_nn nn;
    cudaEvent_t *marks;   /* (S24_MARKS), each created on first use; NULL until a mark */
    unsigned char *shown; /* (S24_MARKS): recorded at least once */
};

static struct cu_ctx *cu_ctx_of(struct s24_backend *be) { return (struct cu_ctx *)be->ctx; }

/* ---------------------------------------------------------------- memory */
static int cu_alloc(struct s24_backend *be, size_t bytes, void **out)
{
    struct s24_cuda_nn *cx = s24_cu(be);
    int rc = S24_OK;
    *out = NULL;
    /* cudaMalloc serves the calling thread's current device, which another
     * backend may have changed */
    S24_GPU_CHECK(cudaSetDevice(cx->device));
    {
        cudaError_t e = cudaMalloc(out, bytes);
        if (e != cudaSuccess) {
            size_t fr = 0, tot = 0;
            cudaGetLastError();
            *out = NULL;
            cudaMemGetInfo(&fr, &tot);
            return s24_error(e == cudaErrorMemoryAllocation ? S24_ERR_NOMEM : S24_ERR_CUDA,
                             "%s: cudaMalloc of %zu bytes: %s (%zu of %zu MiB free)", be->name,
                             bytes, cudaGetErrorString(e), fr >> 20, tot >> 20);
        }
    }
fail:
    return rc;
}

static void cu_free(struct s24_backend *be, void *p)
{
    (void)be;
    /* cudaFree waits for the device, so queued work reading p finishes first */
    if (p) cudaFree(p);
}

/* Pageable host memory: cudaMemcpyAsync returns once the bytes are staged,
 * so the caller may reuse src at once. Page-locked (or managed) memory is
 * read by the DMA engine later, so there we wait for the copy. */
static int cu_upload(struct s24_backend *be, void *dst, const void *src, size_t bytes)
{
    struct s24_cuda_nn *cx = s24_cu(be);
    int rc = S24_OK;
    cudaPointerAttributes at;
    if (!bytes) return S24_OK;
    S24_GPU_CHECK(cudaPointerGetAttributes(&at, src));
    S24_GPU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cx->stream));
    if (at.type != cudaMemoryTypeUnregistered) S24_GPU_CHECK(cudaStreamSynchronize(cx->stream));
fail:
    return rc;
}

static int cu_download(struct s24_backend *be, void *dst, const void *src, size_t bytes)
{
    struct s24_cuda_nn *cx = s24_cu(be);
    int rc = S24_OK;
    if (!bytes) return S24_OK;
    S24_GPU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cx->stream));
    S24_GPU_CHECK(cudaStreamSynchronize(cx->stream));
fail:
    return rc;
}

static int cu_zero(struct s24_backend *be, void *p, size_t bytes)
{
    int rc = S24_OK;
    if (!bytes) return S24_OK;
    S24_GPU_CHECK(cudaMemsetAsync(p, 0, bytes, s24_cu(be)->stream));
fail:
    return rc;
}

static int cu_copy(struct s24_backend *be, void *dst, const void *src, size_t bytes)
{
    int rc = S24_OK;
    if (!bytes || dst == src) return S24_OK;
    S24_GPU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s24_cu(be)->stream));
fail:
    return rc;
}

static int cu_sync(struct s24_backend *be)
{
    int rc = S24_OK;
    S24_GPU_CHECK(cudaStreamSynchronize(s24_cu(be)->stream));
fail:
    return rc;
}

static void cu_state_free(struct s24_backend *be, void *state)
{
    (void)be;
    s24_cu_conv_state_free(state);
}

/* ---------------------------------------------------------------- step graphs */
/* fn recorded on the backend's stream (graph_capture.cu). arg needs no copy:
 * the graph keeps the kernel arguments fn's host code computed while it was
 * recorded, which is what makes a replay a replay. */
static int cu_graph_capture(struct s24_backend *be, int (*fn)(void *), const void *arg,
                            size_t arg_bytes, void **g)
{
    cudaGraphExec_t ge = NULL;
    char why[200];
    (void)arg_bytes;
    *g = NULL;
    if (s24_cu_capture(s24_cu(be)->stream, fn, (void *)arg, &ge, why, sizeof why) != S24_OK)
        return s24_error(S24_ERR_CUDA, "%s", why);
    *g = (void *)ge;
    return S24_OK;
}

static int cu_graph_launch(struct s24_backend *be, void *g)
{
    int rc = S24_OK;
    S24_GPU_CHECK(cudaGraphLaunch((cudaGraphExec_t)g, s24_cu(be)->stream));
fail:
    return rc;
}

static void cu_graph_free(struct s24_backend *be, void *g)
{
    (void)be;
    /* a launch still in flight is not cut short: CUDA frees it when done */
    if (g) cudaGraphExecDestroy((cudaGraphExec_t)g);
}

/* ---------------------------------------------------------------- marks */
static int cu_mark(struct s24_backend *be, int k)
{
    struct cu_ctx *c = cu_ctx_of(be);
    int rc = S24_OK;
    if (k < 0 || k >= S24_MARKS) return s24_error(S24_ERR_INVALID, "mark %d out of range", k);
    if (!c->marks) {
        c->marks = (cudaEvent_t *)calloc(S24_MARKS, sizeof *c->marks);
        c->shown = (unsigned char *)calloc(S24_MARKS, 1);
        if (!c->marks || !c->shown) return s24_error(S24_ERR_NOMEM, "marks: out of memory");
    }
    if (!c->marks[k]) S24_GPU_CHECK(cudaEventCreate(&c->marks[k]));
    S24_GPU_CHECK(cudaEventRecord(c->marks[k], c->nn.stream));
    c->shown[k] = 1;
fail:
    return rc;
}

static int cu_mark_ms(struct s24_backend *be, int a, int b, double *ms)
{
    struct cu_ctx *c = cu_ctx_of(be);
    int rc = S24_OK;
    float t = 0.0f;
    if (a < 0 || b < 0 || a >= S24_MARKS || b >= S24_MARKS)
        return s24_error(S24_ERR_INVALID, "marks %d, %d out of range", a, b);
    if (!c->marks || !c->shown[a] || !c->shown[b])
        return s24_error(S24_ERR_INVALID, "marks %d, %d: not both recorded", a, b);
    S24_GPU_CHECK(cudaEventSynchronize(c->marks[b]));
    S24_GPU_CHECK(cudaEventElapsedTime(&t, c->marks[a], c->marks[b]));
    *ms = t;
fail:
    return rc;
}

/* ---------------------------------------------------------------- side queue */
/* The side stream (ops.h side_begin): the gradient buckets' collectives go
 * there (src/comm/buckets.c), after an event from the main stream, so the
 * backward's kernels queued after them run beside them; side_join makes the
 * main stream wait (an event) before the optimiser reads the gradients. The
 * ops queue on s24_cu(be)->stream, which is switched to the side stream in
 * between: only ops without library handles run there (copy, scale_fwd; the
 * cuDNN and cuBLASLt handles stay bound to the main stream). Not captured
 * in step graphs (data parallel steps run plainly, src/nn/train.c). */
static int cu_side_begin(struct s24_backend *be)
{
    struct s24_cuda_nn *cx = s24_cu(be);
    int rc = S24_OK;
    if (cx->main) return s24_error(S24_ERR_INVALID, "side_begin: already on the side stream");
    if (!cx->side) {
        /* streams and events belong to the current device, which another
         * backend on this thread may have changed since ours was created */
        S24_GPU_CHECK(cudaSetDevice(cx->device));
        S24_GPU_CHECK(cudaStreamCreateWithFlags(&cx->side, cudaStreamNonBlocking));
        S24_GPU_CHECK(cudaEventCreateWithFlags(&cx->ev_fork, cudaEventDisableTiming));
        S24_GPU_CHECK(cudaEventCreateWithFlags(&cx->ev_join, cudaEventDisableTiming));
    }
    S24_GPU_CHECK(cudaEventRecord(cx->ev_fork, cx->stream));
    S24_GPU_CHECK(cudaStreamWaitEvent(cx->side, cx->ev_fork, 0));
    cx->main = cx->stream;
    cx->stream = cx->side;
fail:
    return rc;
}

static int cu_side_end(struct s24_backend *be)
{
    struct s24_cuda_nn *cx = s24_cu(be);
    if (!cx->main) return s24_error(S24_ERR_INVALID, "side_end: not on the side stream");
    cx->stream = cx->main;
    cx->main = NULL;
    return S24_OK;
}

static int cu_side_join(struct s24_backend *be)
{
    struct s24_cuda_nn *cx = s24_cu(be);
    int rc = S24_OK;
    if (cx->main) return s24_error(S24_ERR_INVALID, "side_join: still on the side stream");
    if (!cx->side) return S24_OK; /* nothing was ever queued there */
    S24_GPU_CHECK(cudaEventRecord(cx->ev_join, cx->side));
    S24_GPU_CHECK(cudaStreamWaitEvent(cx->stream, cx->ev_join, 0));
fail:
    return rc;
}

/* Frees the context; be->ws was already handed back through cu_free. */
static void cu_ctx_free(struct cu_ctx *c)
{
    if (!c) return;
    struct s24_cuda_nn *cx = &c->nn;
    cudaSetDevice(cx->device);
    if (cx->stream) cudaStreamSynchronize(cx->stream);
    for (int k = 0; c->marks && k < S24_MARKS; k++)
        if (c->marks[k]) cudaEventDestroy(c->marks[k]);
    free(c->marks);
    free(c->shown);
#ifdef S24_HAVE_CUDNN
    if (cx->dnn) cudnnDestroy((cudnnHandle_t)cx->dnn);
#endif
    if (cx->lt) cublasLtDestroy(cx->lt);
    if (cx->lt_ws) cudaFree(cx->lt_ws);
    if (cx->side) cudaStreamSynchronize(cx->side);
    if (cx->ev_fork) cudaEventDestroy(cx->ev_fork);
    if (cx->ev_join) cudaEventDestroy(cx->ev_join);
    if (cx->side) cudaStreamDestroy(cx->side);
    if (cx->stream) cudaStreamDestroy(cx->stream);
    free(c);
}

static void cu_destroy(struct s24_backend *be)
{
    struct s24_cuda_nn *cx = s24_cu(be);
    if (cx) s24_be_free(be, cx->w16, cx->w16_cap);
    if (cx) s24_be_free(be, cx->f32, cx->f32_cap);
    cu_ctx_free(cu_ctx_of(be));
    be->ctx = NULL;
}

/* ---------------------------------------------------------------- the table */
/* Filled by name (nvcc's C++17 has no designated initialisers); the size
 * check catches a member added to struct s24_be_ops but not set here. */
static struct s24_be_ops cu_ops_make(void)
{
    struct s24_be_ops o;
    memset(&o, 0, sizeof o);
    o.alloc = cu_alloc;
    o.free = cu_free;
    o.upload = cu_upload;
    o.download = cu_download;
    o.zero = cu_zero;
    o.copy = cu_copy;
    o.sync = cu_sync;
    o.state_free = cu_state_free;
    o.destroy = cu_destroy;
    o.conv2d_fwd = s24_cu_conv2d_fwd;
    o.conv2d_bwd = s24_cu_conv2d_bwd;
    o.bn_fwd_train = s24_cu_bn_fwd_train;
    o.bn_fwd_eval = s24_cu_bn_fwd_eval;
    o.bn_bwd = s24_cu_bn_bwd;
    o.bn_stats = s24_cu_bn_stats;
    o.bn_fwd_apply = s24_cu_bn_fwd_apply;
    o.bn_bwd_reduce = s24_cu_bn_bwd_reduce;
    o.bn_bwd_apply = s24_cu_bn_bwd_apply;
    o.act_fwd = s24_cu_act_fwd;
    o.act_bwd = s24_cu_act_bwd;
    o.add_fwd = s24_cu_add_fwd;
    o.acc = s24_cu_acc;
    o.gap_fwd = s24_cu_gap_fwd;
    o.gap_bwd = s24_cu_gap_bwd;
    o.maxpool_fwd = s24_cu_maxpool_fwd;
    o.maxpool_bwd = s24_cu_maxpool_bwd;
    o.scale_fwd = s24_cu_scale_fwd;
    o.scale_bwd = s24_cu_scale_bwd;
    o.linear_fwd = s24_cu_linear_fwd;
    o.linear_bwd = s24_cu_linear_bwd;
    o.rowmask_fwd = s24_cu_rowmask_fwd;
    o.rowmask_bwd = s24_cu_rowmask_bwd;
    o.rowmask_draw = s24_cu_rowmask_draw;
    o.xent = s24_cu_xent;
    o.sgd = s24_cu_sgd;
    o.batch = s24_cu_batch;
    o.graph_capture = cu_graph_capture;
    o.graph_launch = cu_graph_launch;
    o.graph_free = cu_graph_free;
    o.side_begin = cu_side_begin;
    o.side_end = cu_side_end;
    o.side_join = cu_side_join;
    o.mark = cu_mark;
    o.mark_ms = cu_mark_ms;
    return o;
}
static_assert(sizeof(struct s24_be_ops) == 44 * sizeof(void (*)(void)),
              "struct s24_be_ops changed: set every member in cu_ops_make");

/* A 0/1 switch from the environment; anything else is refused rather than
 * guessed, since these flags change results. */
static int env_flag(const char *name, int dflt, int *out)
{
    const char *v = getenv(name);
    *out = dflt;
    if (!v || !*v) return S24_OK;
    if (!strcmp(v, "0")) *out = 0;
    else if (!strcmp(v, "1")) *out = 1;
    else return s24_error(S24_ERR_INVALID, "%s=%s: expected 0 or 1", name, v);
    return S24_OK;
}

extern "C" int s24_cuda_backend_init(struct s24_backend *be, int device)
{
    /* C++11 initialises a function-local static once, even with threads */
    static const struct s24_be_ops cu_ops = cu_ops_make();
    int rc = S24_OK, n = 0;
    struct cu_ctx *c = NULL;
    struct s24_cuda_nn *cx;
    cudaDeviceProp pr;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError();
        return s24_error(S24_ERR_NO_DEVICE, "no GPU for the cuda backend: %s", s24_gpu_none_why(e));
    }
    if (device < 0 || device >= n)
        return s24_error(S24_ERR_NO_DEVICE, "cuda:%d: no such GPU (%d found)", device, n);
    c = (struct cu_ctx *)calloc(1, sizeof *c);
    if (!c) return s24_error(S24_ERR_NOMEM, "cuda backend: out of memory");
    cx = &c->nn;
    cx->device = device;
    if ((rc = env_flag("S24_TF32", 1, &cx->tf32)) != S24_OK) goto fail;
    if ((rc = env_flag("S24_DETERMINISTIC", 0, &cx->deterministic)) != S24_OK) goto fail;
    S24_GPU_CHECK(cudaSetDevice(device));
    S24_GPU_CHECK(cudaGetDeviceProperties(&pr, device));
    S24_GPU_CHECK(cudaStreamCreateWithFlags(&cx->stream, cudaStreamNonBlocking));
#ifdef S24_HAVE_CUDNN
    /* cuDNN is opened at run time (dl_cudnn.c): without it the backend still
     * runs everything but cuDNN's convolutions, which then say it is missing */
    if (s24_dl_cudnn_path()) {
        cudnnHandle_t h = NULL;
        S24_GPU_CHECK(cudnnCreate(&h));
        cx->dnn = h;
        S24_GPU_CHECK(cudnnSetStream(h, cx->stream));
    }
#endif
    /* cuBLASLt (opened at run time, cublaslt_dl.cu) does every linear layer,
     * which every model has: without it the backend is not made */
    if ((rc = s24_dl_cublaslt_load("the cuda backend's linear layers (cuBLASLt handle)")) != S24_OK)
        goto fail;
    S24_GPU_CHECK(cublasLtCreate(&cx->lt));
    cx->lt_ws_bytes = S24_CU_LT_WS_BYTES;
    S24_GPU_CHECK(cudaMalloc(&cx->lt_ws, cx->lt_ws_bytes));
    snprintf(be->name, sizeof be->name, "cuda:%d (%.100s)", device, pr.name);
    be->ctx = c; /* == cx: s24_cu() reads it as struct s24_cuda_nn */
    be->ops = &cu_ops;
    be->device = S24_DEVICE_CUDA;
    be->index = device;
    return S24_OK;
fail:
    cu_ctx_free(c);
    return rc;
}
