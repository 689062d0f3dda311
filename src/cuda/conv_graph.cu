/* conv_graph.cu: a dense convolution's direction through cuDNN's graph
 * (backend) API: tensors, the operation, its one-node graph, the
 * heuristic's engine configurations made into plans, each timed on scratch
 * buffers, the fastest kept (conv_graph.h). Host code, and the kernel that
 * fills the timing buffers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_bf16.h>

#include "core/memo.h"
#include "cuda/conv_graph.h"
#include "cuda/gpu_internal.h"

#ifdef S24_HAVE_CUDNN
#include "cuda/dl_cudnn.h"

typedef cudnnBackendDescriptor_t bdesc;

/* The handle attributes of the graph and the plan: named deprecated in
 * cuDNN 9.19's headers, still read by 9.14 (the GPU machine's), harmless
 * later. By number, so the headers' deprecation does not break -Werror. */
static const cudnnBackendAttributeName_t ATTR_GRAPH_HANDLE = (cudnnBackendAttributeName_t)800;
static const cudnnBackendAttributeName_t ATTR_PLAN_HANDLE = (cudnnBackendAttributeName_t)400;

enum { UID_X = 'x', UID_W = 'w', UID_Y = 'y' };
/* Engine configurations tried from each heuristic mode (A, then fallback),
 * and timed runs per plan after one untimed: the first ResNet18 bf16 epoch
 * took 31.7 s with 12 + 12 and 5 runs, searching again for every node of
 * the same shape; on the H200 the winner was among mode A's first few. */
#define CG_CFGS 6
static const int cg_take[2] = {6, 2};
#define CG_REPS 3

struct s24_cg {
    bdesc t[3], conv, op, graph, plan; /* t: x, w, y */
    size_t ws;
    int64_t engine;
    char name[48];
    /* the last variant pack, for the next run with the same pointers */
    bdesc pack;
    const void *px, *pw, *py, *pws;
};

#define CG_CHECK(call) S24_GPU_CHECK(call)

static int set(bdesc d, cudnnBackendAttributeName_t a, cudnnBackendAttributeType_t t, int64_t n,
               const void *v)
{
    return s24_gpu_status(cudnnBackendSetAttribute(d, a, t, n, v), "cudnnBackendSetAttribute",
                          __FILE__, __LINE__);
}

/* An NHWC tensor (dims in cuDNN's n, c, h, w order; channels fastest). */
static int tensor(int64_t uid, cudnnDataType_t dt, int64_t n, int64_t c, int64_t h, int64_t w,
                  bdesc *out)
{
    int rc = S24_OK;
    int64_t dim[4] = {n, c, h, w}, str[4] = {h * w * c, 1, w * c, c}, align = 16;
    CG_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_TENSOR_DESCRIPTOR, out));
    if ((rc = set(*out, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt)) ||
        (rc = set(*out, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dim)) ||
        (rc = set(*out, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, str)) ||
        (rc = set(*out, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid)) ||
        (rc = set(*out, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align)))
        return rc;
    CG_CHECK(cudnnBackendFinalize(*out));
fail:
    return rc;
}

static int conv_desc(const struct s24_conv_shape *s, bdesc *out)
{
    int rc = S24_OK;
    cudnnDataType_t ct = CUDNN_DATA_FLOAT;
    cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    int64_t dims = 2, dil[2] = {1, 1}, str[2] = {s->stride, s->stride}, pad[2] = {s->pad, s->pad};
    CG_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, out));
    if ((rc = set(*out, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &ct)) ||
        (rc = set(*out, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode)) ||
        (rc = set(*out, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &dims)) ||
        (rc = set(*out, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dil)) ||
        (rc = set(*out, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, str)) ||
        (rc = set(*out, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pad)) ||
        (rc = set(*out, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, pad)))
        return rc;
    CG_CHECK(cudnnBackendFinalize(*out));
fail:
    return rc;
}

/* The operation node of direction dir over g's tensors and conv. */
static int operation(struct s24_cg *g, int dir, float beta)
{
    static const cudnnBackendDescriptorType_t type[3] = {
        CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
        CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR,
        CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR};
    /* per direction: alpha, beta, conv, then the x, w and y tensors' names */
    static const cudnnBackendAttributeName_t attr[3][6] = {
        {CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
         CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA,
         CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
         CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
         CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y},
        {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY},
        {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY}};
    int rc = S24_OK;
    const float alpha = 1.0f;
    const cudnnBackendAttributeName_t *a = attr[dir];
    CG_CHECK(cudnnBackendCreateDescriptor(type[dir], &g->op));
    if ((rc = set(g->op, a[0], CUDNN_TYPE_FLOAT, 1, &alpha)) ||
        (rc = set(g->op, a[1], CUDNN_TYPE_FLOAT, 1, &beta)) ||
        (rc = set(g->op, a[2], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g->conv)))
        return rc;
    for (int i = 0; i < 3; i++)
        if ((rc = set(g->op, a[3 + i], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g->t[i])) != S24_OK)
            return rc;
    CG_CHECK(cudnnBackendFinalize(g->op));
fail:
    return rc;
}

static void destroy(bdesc *d)
{
    if (*d) cudnnBackendDestroyDescriptor(*d);
    *d = NULL;
}

void s24_cg_free(struct s24_cg *g)
{
    if (!g) return;
    destroy(&g->pack);
    destroy(&g->plan);
    destroy(&g->graph);
    destroy(&g->op);
    destroy(&g->conv);
    for (int i = 0; i < 3; i++)
        destroy(&g->t[i]);
    free(g);
}

/* Everything up to the graph, no plan yet. */
static int cg_graph(cudnnHandle_t h, const struct s24_conv_shape *s, int dir, int bf16, float beta,
                    struct s24_cg **out)
{
    int rc;
    const cudnnDataType_t dt = bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    struct s24_cg *g = (struct s24_cg *)calloc(1, sizeof *g);
    if (!g) return s24_error(S24_ERR_NOMEM, "conv2d: out of memory for a cuDNN graph");
    if ((rc = tensor(UID_X, dt, s->n, s->c, s->h, s->w, &g->t[0])) ||
        (rc = tensor(UID_W, dt, s->oc, s->c / s->groups, s->kh, s->kw, &g->t[1])) ||
        (rc = tensor(UID_Y, dt, s->n, s->oc, s->oh, s->ow, &g->t[2])) ||
        (rc = conv_desc(s, &g->conv)) || (rc = operation(g, dir, beta)))
        goto fail;
    CG_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, &g->graph));
    if ((rc = set(g->graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                  &g->op)) ||
        (rc = set(g->graph, ATTR_GRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h)))
        goto fail;
    CG_CHECK(cudnnBackendFinalize(g->graph));
    *out = g;
    return S24_OK;
fail:
    s24_cg_free(g);
    return rc;
}

/* Up to CG_CFGS engine configurations of heuristic mode m into cfg[], their
 * count in *n (0 where the mode has none for this graph). */
static void heuristic(bdesc graph, cudnnBackendHeurMode_t m, bdesc *cfg, int64_t *n)
{
    bdesc heur = NULL;
    *n = 0;
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur) ||
        cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH,
                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph) ||
        cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &m) ||
        cudnnBackendFinalize(heur))
        goto done;
    for (int i = 0; i < CG_CFGS; i++)
        if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfg[i])) goto done;
    if (cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                 CG_CFGS, n, cfg))
        *n = 0;
done:
    destroy(&heur);
}

/* cfg's engine: its global index, and whether it is left out: engines
 * that compile at run time (unless rtc), that reduce in less than fp32, or,
 * on fp32 data, that convert the inputs down to a 16-bit type (the legacy
 * API's TF32 math keeps 10 mantissa bits and fp32 ranges; a test of
 * EfficientNet-B0's whole step saw such an engine's error). */
static int engine_skip(bdesc cfg, int bf16, int rtc, int64_t *index)
{
    bdesc e = NULL;
    int64_t n = 0, cnt = 0;
    cudnnBackendBehaviorNote_t bn[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
    cudnnBackendNumericalNote_t nn[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    int skip = 1;
    *index = -1;
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &e) ||
        cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                 &cnt, &e))
        goto done;
    cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &cnt, index);
    if (cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                                 CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &n, bn))
        goto done;
    for (int64_t i = 0; i < n; i++)
        if (bn[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION && !rtc) goto done;
    if (cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                 CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &n, nn))
        goto done;
    for (int64_t i = 0; i < n; i++)
        if (nn[i] == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION ||
            (nn[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS && !bf16))
            goto done;
    skip = 0;
done:
    destroy(&e);
    return skip;
}

/* cfg as a finalized plan with its workspace, or NULL. */
static bdesc make_plan(cudnnHandle_t h, bdesc cfg, size_t *ws)
{
    bdesc p = NULL;
    int64_t bytes = 0, cnt = 0;
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &p) ||
        cudnnBackendSetAttribute(p, ATTR_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &h) ||
        cudnnBackendSetAttribute(p, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg) ||
        cudnnBackendFinalize(p) ||
        cudnnBackendGetAttribute(p, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1,
                                 &cnt, &bytes) ||
        bytes < 0) {
        destroy(&p);
        return NULL;
    }
    *ws = (size_t)bytes;
    return p;
}

static cudnnStatus_t execute(cudnnHandle_t h, bdesc plan, bdesc *pack, const void *x, const void *w,
                             const void *y, void *ws)
{
    int64_t uid[3] = {UID_X, UID_W, UID_Y};
    void *ptr[3] = {(void *)x, (void *)w, (void *)y};
    cudnnStatus_t e;
    if (!*pack) {
        if ((e = cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, pack)) ||
            (e = cudnnBackendSetAttribute(*pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS,
                                          CUDNN_TYPE_INT64, 3, uid)) ||
            (e = cudnnBackendSetAttribute(*pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS,
                                          CUDNN_TYPE_VOID_PTR, 3, ptr)) ||
            (e = cudnnBackendSetAttribute(*pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE,
                                          CUDNN_TYPE_VOID_PTR, 1, &ws)) ||
            (e = cudnnBackendFinalize(*pack))) {
            destroy(pack);
            return e;
        }
    }
    return cudnnBackendExecute(h, plan, *pack);
}

/* Timing data: values in [-1, 1) from a hash of the index (zeros would
 * time the tensor cores at the low power of all-zero operands). */
__global__ void cg_fill(void *p, int64_t n, int bf16)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        uint32_t h = (uint32_t)i * 2654435761u;
        h ^= h >> 15, h *= 2246822519u, h ^= h >> 13;
        float v = (float)(h >> 8) * (2.0f / 16777216.0f) - 1.0f;
        if (bf16)
            ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v);
        else
            ((float *)p)[i] = v;
    }
}

/* ---- what a search found, per shape and direction, for the process: nodes
 * of one shape (ResNet18 has up to four per stage) and later models search
 * once. The winner is kept as its place in the heuristic's list, which is
 * the same for the same graph. */
struct cg_key {
    struct s24_conv_shape s;
    int dir, bf16, beta1, rtc, device;
};
struct cg_memo {
    struct cg_key k;
    int mode, index; /* mode -1: no plan */
    int64_t engine;  /* the winner's global engine index */
    float ms;
};
static struct cg_memo memo_store[512];
static struct s24_memo memo = S24_MEMO_INIT(memo_store, sizeof(struct cg_key));

static struct cg_key memo_key(const struct s24_conv_shape *s, int dir, int bf16, float beta,
                              int rtc)
{
    struct cg_key k;
    memset(&k, 0, sizeof k); /* compared with memcmp: no stray padding bytes */
    k.s = *s, k.dir = dir, k.bf16 = bf16, k.beta1 = beta != 0.0f, k.rtc = rtc;
    cudaGetDevice(&k.device);
    return k;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* The median of CG_REPS timed runs of plan (after one untimed), or a
 * negative time where it does not run. */
static float time_plan(cudnnHandle_t h, cudaStream_t st, bdesc plan, void *const buf[3], void *ws,
                       cudaEvent_t ev[2])
{
    bdesc pack = NULL;
    float t[CG_REPS];
    if (execute(h, plan, &pack, buf[0], buf[1], buf[2], ws) != CUDNN_STATUS_SUCCESS ||
        cudaStreamSynchronize(st) != cudaSuccess) {
        destroy(&pack);
        cudaGetLastError();
        return -1.0f;
    }
    for (int r = 0; r < CG_REPS; r++) {
        cudaEventRecord(ev[0], st);
        cudnnStatus_t e = execute(h, plan, &pack, buf[0], buf[1], buf[2], ws);
        cudaEventRecord(ev[1], st);
        if (e != CUDNN_STATUS_SUCCESS || cudaEventSynchronize(ev[1]) != cudaSuccess ||
            cudaEventElapsedTime(&t[r], ev[0], ev[1]) != cudaSuccess) {
            destroy(&pack);
            cudaGetLastError();
            return -1.0f;
        }
    }
    destroy(&pack);
    qsort(t, CG_REPS, sizeof *t, cmp_float);
    return t[CG_REPS / 2];
}

/* g's plan from entry `mode`, `index` of the heuristic's list, as a search
 * found it (for `engine` >= 0: only where that entry is that engine); 1 if
 * made. */
static int memo_plan(cudnnHandle_t h, struct s24_cg *g, int mode, int index, int64_t engine)
{
    static const cudnnBackendHeurMode_t modes[2] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK};
    bdesc cfg[CG_CFGS] = {NULL};
    int64_t ncfg = 0, got = -1;
    size_t need = 0;
    heuristic(g->graph, modes[mode], cfg, &ncfg);
    bdesc plan = NULL;
    if (index < ncfg && engine >= 0) engine_skip(cfg[index], 1, 1, &got); /* for its index */
    if (index < ncfg && (engine < 0 || got == engine)) plan = make_plan(h, cfg[index], &need);
    for (int i = 0; i < CG_CFGS; i++)
        destroy(&cfg[i]);
    if (!plan) return 0;
    g->plan = plan, g->ws = need, g->engine = engine;
    return 1;
}

int s24_cg_find(void *dnn, cudaStream_t st, const struct s24_conv_shape *s, int dir, int bf16,
                float beta, size_t ws_max, int rtc, struct s24_cg **out, float *ms)
{
    cudnnHandle_t h = (cudnnHandle_t)dnn;
    struct s24_cg *g = NULL;
    bdesc cfg[2][CG_CFGS] = {{NULL}};
    int64_t ncfg[2] = {0, 0};
    size_t es = bf16 ? 2 : 4, bytes[3], ws_cap = 0;
    void *buf[3] = {NULL, NULL, NULL}, *ws = NULL;
    cudaEvent_t ev[2] = {NULL, NULL};
    float best = -1.0f;
    static const cudnnBackendHeurMode_t modes[2] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK};
    struct cg_key key = memo_key(s, dir, bf16, beta, rtc);
    struct cg_memo seen;
    int win_m = -1, win_i = -1, searched = 0;
    *out = NULL, *ms = -1.0f;
    seen.k = key;
    int hit = s24_memo_get(&memo, &seen);
    if (hit && seen.mode < 0) return S24_OK;
    if (cg_graph(h, s, dir, bf16, beta, &g) != S24_OK) {
        s24_clear_error(); /* a graph this cuDNN cannot describe: the legacy path stays */
        return S24_OK;
    }
    if (hit && memo_plan(h, g, seen.mode, seen.index, -1)) { /* searched before: that plan */
        snprintf(g->name, sizeof g->name, "graph plan %c%d (memo)", "AF"[seen.mode], seen.index);
        *out = g, *ms = seen.ms;
        return S24_OK;
    }
    /* the same conv with the other beta (a gradient added into or written
     * fresh, model_run.c) has the same heuristic list but for beta: its
     * winner, where this list has that engine at that place, without timing */
    struct cg_memo other;
    other.k = key, other.k.beta1 = !key.beta1;
    if (!hit && s24_memo_get(&memo, &other) && other.mode >= 0 &&
        memo_plan(h, g, other.mode, other.index, other.engine)) {
        snprintf(g->name, sizeof g->name, "graph engine %lld (%c%d, memo of beta %d)",
                 (long long)other.engine, "AF"[other.mode], other.index, other.k.beta1);
        struct cg_memo e = {key, other.mode, other.index, other.engine, other.ms};
        s24_memo_put(&memo, &e);
        *out = g, *ms = other.ms;
        return S24_OK;
    }
    bytes[0] = es * (size_t)(s->n * s->h * s->w * s->c);
    bytes[1] = es * (size_t)(s->oc * s->kh * s->kw * (s->c / s->groups));
    bytes[2] = es * (size_t)(s->n * s->oh * s->ow * s->oc);
    for (int i = 0; i < 3; i++) {
        if (cudaMalloc(&buf[i], bytes[i]) != cudaSuccess) goto done;
        cg_fill<<<1024, 256, 0, st>>>(buf[i], (int64_t)(bytes[i] / es), bf16);
        if (cudaGetLastError() != cudaSuccess) goto done;
    }
    if (cudaEventCreate(&ev[0]) != cudaSuccess || cudaEventCreate(&ev[1]) != cudaSuccess) goto done;
    for (int m = 0; m < 2; m++)
        heuristic(g->graph, modes[m], cfg[m], &ncfg[m]);
    searched = 1; /* buffers made: what follows is this shape's answer */
    for (int m = 0; m < 2; m++)
        for (int64_t i = 0; i < ncfg[m] && i < cg_take[m]; i++) {
            int64_t index;
            size_t need = 0;
            if (engine_skip(cfg[m][i], bf16, rtc, &index)) continue;
            bdesc plan = make_plan(h, cfg[m][i], &need);
            if (!plan) continue;
            if (need > ws_max) {
                destroy(&plan);
                continue;
            }
            if (need > ws_cap) {
                cudaFree(ws);
                ws = NULL, ws_cap = 0;
                if (cudaMalloc(&ws, need) != cudaSuccess) {
                    cudaGetLastError();
                    destroy(&plan);
                    continue;
                }
                ws_cap = need;
            }
            float t = time_plan(h, st, plan, buf, ws, ev);
            if (t >= 0 && (best < 0 || t < best)) {
                destroy(&g->plan);
                g->plan = plan, g->ws = need, g->engine = index, best = t;
                win_m = m, win_i = (int)i;
            } else {
                destroy(&plan);
            }
        }
done:
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < CG_CFGS; i++)
            destroy(&cfg[m][i]);
    for (int i = 0; i < 2; i++)
        if (ev[i]) cudaEventDestroy(ev[i]);
    cudaStreamSynchronize(st);
    for (int i = 0; i < 3; i++)
        cudaFree(buf[i]);
    cudaFree(ws);
    cudaGetLastError(); /* an allocation that failed only leaves this path out */
    if (searched) {
        struct cg_memo e = {key, win_m, win_i, g->plan ? g->engine : -1, best};
        s24_memo_put(&memo, &e);
    }
    if (!g->plan) {
        s24_cg_free(g);
        return S24_OK;
    }
    snprintf(g->name, sizeof g->name, "graph engine %lld (%c%d)", (long long)g->engine, "AF"[win_m],
             win_i);
    *out = g, *ms = best;
    return S24_OK;
}

size_t s24_cg_ws(const struct s24_cg *g)
{
    return g->ws;
}
const char *s24_cg_name(const struct s24_cg *g)
{
    return g->name;
}

int s24_cg_run(void *dnn, struct s24_cg *g, const void *x, const void *w, const void *y, void *ws)
{
    /* a replayed CUDA graph reuses the launch, so the pack only has to be
     * right when the step is captured or run eagerly */
    if (g->pack && (g->px != x || g->pw != w || g->py != y || g->pws != ws)) destroy(&g->pack);
    g->px = x, g->pw = w, g->py = y, g->pws = ws;
    return s24_gpu_status(execute((cudnnHandle_t)dnn, g->plan, &g->pack, x, w, y, ws),
                          "cudnnBackendExecute", __FILE__, __LINE__);
}

#endif /* S24_HAVE_CUDNN */
