/* model_ckpt.c: model checkpoints as safetensors in PyTorch's layout: conv
 * weights converted from the internal OHWI to OIHW, torchvision's names,
 * num_batches_tracked as a 0-d I64, so `load_state_dict(strict=True)` takes
 * the file as is, and torchvision checkpoints load back here.
 * Loading validates every tensor (name, dtype, shape) before touching the
 * model, so a bad file leaves the model unchanged. Not here: optimiser state
 * and masks (the trainer saves those). */
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OHWI (o, kh, kw, i) <-> OIHW (o, i, kh, kw) */
static void ohwi_to_oihw(const struct s24_param *p, const float *src, float *dst)
{
    int64_t O = p->shape[0], I = p->shape[1], H = p->shape[2], W = p->shape[3];
    for (int64_t o = 0; o < O; o++)
        for (int64_t i = 0; i < I; i++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++)
                    dst[((o * I + i) * H + h) * W + w] = src[((o * H + h) * W + w) * I + i];
}

static int is_conv_weight(const struct s24_param *p)
{
    return p->kind == S24_P_WEIGHT && p->ndim == 4;
}

int s24_model_to_st(s24_model_t *m, struct s24_st *st)
{
    float *tmp = NULL;
    int rc = S24_OK;
    if (!m || !st) return s24_error(S24_ERR_INVALID, "model_to_st: bad arguments");
    if ((rc = s24_model_to_host(m)) != S24_OK) return rc;
    for (int i = 0; i < m->np && !rc; i++) {
        struct s24_param *p = &m->params[i];
        if (p->kind == S24_B_NUM_BATCHES) {
            rc = s24_st_add(st, p->name, S24_I64, 0, p->shape, p->count);
        } else if (is_conv_weight(p)) {
            free(tmp);
            tmp = malloc((size_t)p->numel * sizeof *tmp);
            if (!tmp) {
                rc = s24_error(S24_ERR_NOMEM, "model_to_st: %s", p->name);
                break;
            }
            ohwi_to_oihw(p, p->data, tmp);
            rc = s24_st_add(st, p->name, S24_F32, p->ndim, p->shape, tmp);
        } else {
            rc = s24_st_add(st, p->name, S24_F32, p->ndim, p->shape, p->data);
        }
    }
    free(tmp);
    if (!rc) rc = s24_st_meta_set(st, "format", "pt");
    if (!rc) rc = s24_st_meta_set(st, "sparse24.arch", m->arch);
    return rc;
}

int s24_model_to_st_raw(s24_model_t *m, struct s24_st *st, int *k)
{
    int rc = S24_OK;
    if (!m || !st || !k) return s24_error(S24_ERR_INVALID, "model_to_st_raw: bad arguments");
    int host = m->be->device == S24_DEVICE_CPU; /* the host copies are the tensors */
    for (int i = 0; i < m->np && !rc; i++) {
        struct s24_param *p = &m->params[i];
        void *d;
        if (p->kind == S24_B_NUM_BATCHES) {
            if ((rc = s24_st_put(st, *k, p->name, S24_I64, 0, p->shape, &d)) == S24_OK)
                memcpy(d, p->count, sizeof *p->count);
        } else if (p->ndim == 4 && !is_conv_weight(p)) {
            /* s24_st_oihw takes every 4-d tensor for a conv weight */
            rc = s24_error(S24_ERR_UNSUPPORTED, "model_to_st_raw: %s: a 4-d %s", p->name,
                           "parameter that is not a conv weight");
        } else if ((rc = s24_st_put(st, *k, p->name, S24_F32, p->ndim, p->shape, &d)) == S24_OK) {
            /* one copy, straight into the snapshot: the model's host copy
             * (p->data, and the gradients s24_model_to_host also fetches)
             * is neither needed nor refreshed here */
            size_t bytes = sizeof(float) * (size_t)p->numel;
            if (!p->data)
                memset(d, 0, bytes); /* as s24_model_to_st: nothing to save */
            else if (host)
                memcpy(d, p->data, bytes);
            else
                rc = m->be->ops->download(m->be, d, p->bdata, bytes);
        }
        if (rc == S24_OK) ++*k;
    }
    if (!rc) rc = s24_st_meta_set(st, "format", "pt");
    if (!rc) rc = s24_st_meta_set(st, "sparse24.arch", m->arch);
    return rc;
}

int s24_st_oihw(struct s24_st *st, int first, int n, float **scratch, size_t *cap)
{
    for (int j = first; j < first + n && j < st->n; j++) {
        struct s24_st_tensor *t = &st->t[j];
        if (t->ndim != 4 || t->dtype != S24_F32) continue;
        if (t->nbytes > *cap) {
            float *x = realloc(*scratch, t->nbytes);
            if (!x)
                return s24_error(S24_ERR_NOMEM, "%s: out of memory (%zu bytes)", t->name,
                                 t->nbytes);
            *scratch = x;
            *cap = t->nbytes;
        }
        /* the shape is OIHW already; the data is still OHWI */
        struct s24_param p = {.ndim = 4};
        memcpy(p.shape, t->shape, sizeof p.shape[0] * 4);
        ohwi_to_oihw(&p, t->data, *scratch);
        memcpy(t->data, *scratch, t->nbytes);
    }
    return S24_OK;
}

static int check_tensor(const struct s24_param *p, const struct s24_st_tensor *t, const char *what)
{
    if (p->kind == S24_B_NUM_BATCHES) {
        /* PyTorch's load_state_dict takes any numeric dtype here (it copies
         * into the int64 buffer), so any integer or float dtype is taken
         * when the value is a non-negative integer */
        if (s24_numel(t->ndim, t->shape) != 1)
            return s24_error(S24_ERR_FORMAT, "%s: tensor %s: expected one value", what, p->name);
        if (t->dtype == S24_I64) return S24_OK;
        double v = s24_load_number(t->dtype, t->data, 0);
        if (!(v >= 0 && v < 9007199254740992.0) || v != floor(v))
            return s24_error(S24_ERR_FORMAT,
                             "%s: tensor %s: dtype %s value %g is not a count "
                             "(a non-negative integer)",
                             what, p->name, s24_dtype_name(t->dtype), v);
        return S24_OK;
    }
    if (!s24_dtype_is_float(t->dtype))
        return s24_error(S24_ERR_FORMAT, "%s: tensor %s: dtype %s is not a float type", what,
                         p->name, s24_dtype_name(t->dtype));
    int same = t->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == p->shape[d];
    if (!same) {
        char a[96] = "", b[96] = "";
        for (int d = 0; d < p->ndim; d++)
            snprintf(a + strlen(a), sizeof a - strlen(a), "%s%lld", d ? "," : "",
                     (long long)p->shape[d]);
        for (int d = 0; d < t->ndim && d < S24_MAX_DIMS; d++)
            snprintf(b + strlen(b), sizeof b - strlen(b), "%s%lld", d ? "," : "",
                     (long long)t->shape[d]);
        return s24_error(S24_ERR_FORMAT, "%s: tensor %s: shape [%s], the model expects [%s]", what,
                         p->name, b, a);
    }
    return S24_OK;
}

int s24_model_from_st(s24_model_t *m, const struct s24_st *st, const char *what)
{
    int rc;
    if (!m || !st) return s24_error(S24_ERR_INVALID, "model_from_st: bad arguments");
    if (!what) what = "checkpoint";
    /* validate everything first: a failed load changes nothing */
    for (int i = 0; i < m->np; i++) {
        const struct s24_st_tensor *t = s24_st_find(st, m->params[i].name);
        if (!t)
            return s24_error(S24_ERR_NOT_FOUND, "%s: missing tensor %s (a %s checkpoint?)", what,
                             m->params[i].name, m->arch);
        if ((rc = check_tensor(&m->params[i], t, what))) return rc;
    }
    for (int j = 0; j < st->n; j++)
        if (!s24_model_find(m, st->t[j].name))
            return s24_error(S24_ERR_FORMAT, "%s: unexpected tensor %s (not a %s parameter)", what,
                             st->t[j].name, m->arch);
    for (int i = 0; i < m->np; i++) {
        struct s24_param *p = &m->params[i];
        const struct s24_st_tensor *t = s24_st_find(st, p->name);
        if (p->kind == S24_B_NUM_BATCHES) {
            if (t->dtype == S24_I64) memcpy(p->count, t->data, sizeof *p->count);
            else *p->count = (int64_t)s24_load_number(t->dtype, t->data, 0);
            continue;
        }
        if (is_conv_weight(p)) {
            int64_t O = p->shape[0], I = p->shape[1], H = p->shape[2], W = p->shape[3];
            for (int64_t o = 0; o < O; o++)
                for (int64_t c = 0; c < I; c++)
                    for (int64_t h = 0; h < H; h++)
                        for (int64_t w = 0; w < W; w++)
                            p->data[((o * H + h) * W + w) * I + c] = (float)s24_load_float(
                                t->dtype, t->data, ((o * I + c) * H + h) * W + w);
        } else if (t->dtype == S24_F32) {
            memcpy(p->data, t->data, (size_t)p->numel * sizeof *p->data);
        } else {
            for (int64_t k = 0; k < p->numel; k++)
                p->data[k] = (float)s24_load_float(t->dtype, t->data, k);
        }
    }
    m->can_backward = 0;
    return s24_model_to_backend(m);
}

int s24_model_save(s24_model_t *m, const char *path)
{
    struct s24_st st;
    if (!m || !path) return s24_error(S24_ERR_INVALID, "model_save: bad arguments");
    s24_st_init(&st);
    int rc = s24_model_to_st(m, &st);
    if (!rc) rc = s24_st_write(path, &st);
    s24_st_free(&st);
    return rc;
}

int s24_model_load(s24_model_t *m, const char *path)
{
    struct s24_st st;
    if (!m || !path) return s24_error(S24_ERR_INVALID, "model_load: bad arguments");
    s24_st_init(&st);
    int rc = s24_st_read(path, &st);
    if (!rc) rc = s24_model_from_st(m, &st, path);
    s24_st_free(&st);
    return rc;
}
