/* backend.c: creating and freeing backends, and the memory helpers every
 * caller of the ops table uses (allocation with a high-water mark, grow-only
 * buffers, the backend's scratch). The ops themselves live with each backend
 * (src/cpu/backend_cpu.c, src/cuda/nn_backend.cu). */
#include "nn/ops.h"

#include <stdlib.h>
#include <string.h>

int s24_device_parse(const char *name, enum s24_device *out)
{
    if (name && !strcmp(name, "cpu")) *out = S24_DEVICE_CPU;
    else if (name && !strcmp(name, "cuda")) *out = S24_DEVICE_CUDA;
    else
        return s24_error(S24_ERR_INVALID, "unknown device '%s' (cpu, cuda)",
                         name ? name : "(null)");
    return S24_OK;
}

const char *s24_device_name(enum s24_device dev)
{
    return dev == S24_DEVICE_CUDA ? "cuda" : "cpu";
}

int s24_backend_create(enum s24_device dev, int index, s24_backend_t **out)
{
    if (!out) return s24_error(S24_ERR_INVALID, "backend_create: no output");
    *out = NULL;
    struct s24_backend *be = calloc(1, sizeof *be);
    if (!be) return s24_error(S24_ERR_NOMEM, "backend_create: out of memory");
    be->device = dev;
    be->index = index;
    be->act = S24_F32;
    int rc;
    if (dev == S24_DEVICE_CPU) rc = s24_cpu_backend_init(be);
    else if (dev == S24_DEVICE_CUDA) rc = s24_cuda_backend_init(be, index);
    else rc = s24_error(S24_ERR_INVALID, "backend_create: unknown device %d", (int)dev);
    if (rc != S24_OK) {
        free(be);
        return rc;
    }
    *out = be;
    return S24_OK;
}

void s24_backend_free(s24_backend_t *be)
{
    if (!be) return;
    if (be->ws.p) be->ops->free(be, be->ws.p);
    if (be->ops && be->ops->destroy) be->ops->destroy(be);
    free(be);
}

const char *s24_backend_name(const s24_backend_t *be) { return be ? be->name : ""; }
enum s24_device s24_backend_device(const s24_backend_t *be)
{
    return be ? be->device : S24_DEVICE_CPU;
}

size_t s24_backend_bytes(const s24_backend_t *be, size_t *peak)
{
    if (peak) *peak = be ? be->peak : 0;
    return be ? be->live : 0;
}

void s24_backend_reset_peak(s24_backend_t *be)
{
    if (be) be->peak = be->live;
}

int s24_backend_set_precision(s24_backend_t *be, enum s24_dtype act)
{
    if (!be) return s24_error(S24_ERR_INVALID, "backend_set_precision: no backend");
    if (act != S24_F32 && act != S24_BF16)
        return s24_error(S24_ERR_INVALID, "backend_set_precision: %s: activations are stored "
                         "as F32 or BF16", s24_dtype_name(act));
    if (act == S24_BF16 && be->device != S24_DEVICE_CUDA)
        return s24_error(S24_ERR_UNSUPPORTED, "%s: the bf16 mixed mode runs on a GPU backend "
                         "only (the CPU backend trains in fp32)", be->name);
    /* a model's slots, its batches and gradients were sized for the old mode */
    if (be->live && act != be->act)
        return s24_error(S24_ERR_INVALID, "%s: precision set after %zu bytes were allocated "
                         "on the backend (set it before creating a model)", be->name, be->live);
    be->act = act;
    return S24_OK;
}

enum s24_dtype s24_backend_precision(const s24_backend_t *be) { return be ? be->act : S24_F32; }

int s24_backend_sync(s24_backend_t *be)
{
    return be ? be->ops->sync(be) : S24_OK;
}

int s24_be_alloc(struct s24_backend *be, size_t bytes, void **out)
{
    *out = NULL;
    if (bytes == 0) return S24_OK;
    int rc = be->ops->alloc(be, bytes, out);
    if (rc != S24_OK) return rc;
    be->gen++;
    be->live += bytes;
    if (be->live > be->peak) be->peak = be->live;
    return S24_OK;
}

void s24_be_free(struct s24_backend *be, void *p, size_t bytes)
{
    if (!p) return;
    be->ops->free(be, p);
    be->gen++;
    be->live -= bytes <= be->live ? bytes : be->live;
}

int s24_be_grow(struct s24_backend *be, void **p, size_t *cap, size_t bytes)
{
    if (bytes <= *cap && *p) return S24_OK;
    void *q;
    int rc = s24_be_alloc(be, bytes, &q);
    if (rc != S24_OK) return rc;
    s24_be_free(be, *p, *cap);
    *p = q;
    *cap = bytes;
    return S24_OK;
}

void *s24_be_ws(struct s24_backend *be, size_t bytes)
{
    if (bytes == 0) bytes = 16;
    if (bytes > be->ws.cap) {
        /* the old scratch may still be read by queued work: wait before freeing it */
        if (be->ws.p && be->ops->sync(be) != S24_OK) return NULL;
        if (s24_be_grow(be, &be->ws.p, &be->ws.cap, bytes) != S24_OK) return NULL;
    }
    return be->ws.p;
}

/* The mixed mode converts on the host, in pieces, so a large batch needs no
 * second full-size copy; an fp32 backend moves the bytes as they are. */
#define ACT_STAGE 16384

int s24_be_put_act(struct s24_backend *be, void *dst, const float *src, int64_t n)
{
    if (be->act != S24_BF16) return be->ops->upload(be, dst, src, sizeof(float) * (size_t)n);
    uint16_t h[ACT_STAGE];
    for (int64_t i = 0; i < n; i += ACT_STAGE) {
        int64_t k = n - i < ACT_STAGE ? n - i : ACT_STAGE;
        for (int64_t j = 0; j < k; j++) h[j] = s24_f32_to_bf16(src[i + j]);
        int rc = be->ops->upload(be, (uint16_t *)dst + i, h, sizeof(uint16_t) * (size_t)k);
        if (rc != S24_OK) return rc;
    }
    return S24_OK;
}

int s24_be_get_act(struct s24_backend *be, float *dst, const void *src, int64_t n)
{
    if (be->act != S24_BF16) return be->ops->download(be, dst, src, sizeof(float) * (size_t)n);
    uint16_t h[ACT_STAGE];
    for (int64_t i = 0; i < n; i += ACT_STAGE) {
        int64_t k = n - i < ACT_STAGE ? n - i : ACT_STAGE;
        int rc = be->ops->download(be, h, (const uint16_t *)src + i, sizeof(uint16_t) * (size_t)k);
        if (rc != S24_OK) return rc;
        for (int64_t j = 0; j < k; j++) dst[i + j] = s24_bf16_to_f32(h[j]);
    }
    return S24_OK;
}
