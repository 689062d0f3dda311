/* buckets.c: packing gradients into buckets, reducing and averaging them
 * over the ranks (buckets.h says how and in which order). Every data move
 * is a backend op on the model's backend, so the same code runs on the CPU
 * (thread ranks) and on a GPU (NCCL on the backend's side stream, beside
 * the backward's kernels on the main one). */
#include "comm/buckets.h"

#include <stdlib.h>
#include <string.h>

/* The scale op multiplies row r by its own factor: 1/N is spread over this
 * many rows so that a GPU runs one block per row instead of one in all. */
#define S24_BUCKET_ROWS 256

static int has_grad(const struct s24_param *p)
{
    return !p->is_buffer && p->bgrad && p->numel > 0;
}

static void plan(struct s24_buckets *b)
{
    int cur = -1;
    size_t bytes = 0;
    for (int i = b->np - 1; i >= 0; i--) {
        struct s24_param *p = s24_model_param(b->m, i);
        b->of[i] = -1;
        if (!has_grad(p)) continue;
        size_t pb = sizeof(float) * (size_t)p->numel;
        if (cur < 0 || bytes + pb > b->cap) {
            struct s24_bucket *k = &b->b[++cur];
            memset(k, 0, sizeof *k);
            k->hi = i;
            k->offset = b->total;
            bytes = 0;
        }
        struct s24_bucket *k = &b->b[cur];
        k->lo = i;
        k->numel += p->numel;
        k->count++;
        bytes += pb;
        b->of[i] = cur;
        b->at[i] = b->total;
        b->total += p->numel;
    }
    b->nb = cur + 1;
}

int s24_buckets_init(struct s24_buckets *b, s24_model_t *m, struct s24_comm *comm,
                     size_t bucket_bytes)
{
    memset(b, 0, sizeof *b);
    if (!m || !comm) return s24_error(S24_ERR_INVALID, "buckets: no model or communicator");
    if (comm->be != s24_model_backend(m))
        return s24_error(S24_ERR_INVALID,
                         "buckets: the communicator is on another backend (%s) "
                         "than the model (%s)",
                         comm->be ? comm->be->name : "none",
                         s24_backend_name(s24_model_backend(m)));
    b->m = m;
    b->comm = comm;
    b->be = comm->be;
    b->cap = bucket_bytes ? bucket_bytes : S24_BUCKET_BYTES;
    b->np = s24_model_num_params(m);
    size_t k = (size_t)(b->np > 0 ? b->np : 1);
    b->b = calloc(k, sizeof *b->b);
    b->of = calloc(k, sizeof *b->of);
    b->at = calloc(k, sizeof *b->at);
    b->ready = calloc(k, 1);
    int rc = S24_OK;
    if (!b->b || !b->of || !b->at || !b->ready) {
        rc = s24_error(S24_ERR_NOMEM, "buckets: out of memory");
        goto fail;
    }
    plan(b);
    if (comm->size > 1) {
        float inv[S24_BUCKET_ROWS];
        for (int r = 0; r < S24_BUCKET_ROWS; r++)
            inv[r] = 1.0f / (float)comm->size;
        rc = s24_be_alloc(b->be, sizeof(float) * (size_t)b->total, (void **)&b->flat);
        if (rc == S24_OK) rc = s24_be_alloc(b->be, sizeof inv, (void **)&b->inv);
        if (rc == S24_OK) rc = b->be->ops->upload(b->be, b->inv, inv, sizeof inv);
        if (rc != S24_OK) goto fail;
    }
    return s24_buckets_begin(b);
fail:
    s24_buckets_free(b);
    return rc;
}

void s24_buckets_free(struct s24_buckets *b)
{
    if (b->be) {
        s24_be_free(b->be, b->flat, sizeof(float) * (size_t)b->total);
        s24_be_free(b->be, b->inv, sizeof(float) * S24_BUCKET_ROWS);
    }
    free(b->b);
    free(b->of);
    free(b->at);
    free(b->ready);
    memset(b, 0, sizeof *b);
}

int s24_buckets_begin(struct s24_buckets *b)
{
    for (int k = 0; k < b->nb; k++) {
        b->b[k].left = b->b[k].count;
        b->b[k].launched = 0;
    }
    if (b->ready) memset(b->ready, 0, (size_t)b->np);
    return S24_OK;
}

/* x (n floats, backend memory) *= 1/N in place, through the scale op. */
static int scale(struct s24_buckets *b, float *x, int64_t n)
{
    const struct s24_be_ops *o = b->be->ops;
    int64_t per = n / S24_BUCKET_ROWS, body = per * S24_BUCKET_ROWS;
    int rc = S24_OK;
    if (per > 0) rc = o->scale_fwd(b->be, S24_BUCKET_ROWS, per, 1, x, b->inv, x);
    if (rc == S24_OK && n > body)
        rc = o->scale_fwd(b->be, 1, n - body, 1, x + body, b->inv, x + body);
    return rc;
}

/* Pack, all-reduce, average, unpack bucket k (queued on the backend's
 * current queue); *local: a failure was this rank's own (not the comm's). */
static int reduce(struct s24_buckets *b, int k, int *local)
{
    struct s24_bucket *bk = &b->b[k];
    const struct s24_be_ops *o = b->be->ops;
    float *seg = b->flat + bk->offset;
    int rc = S24_OK;
    for (int i = bk->hi; i >= bk->lo && rc == S24_OK; i--) {
        struct s24_param *p = s24_model_param(b->m, i);
        if (b->of[i] == k)
            rc = o->copy(b->be, b->flat + b->at[i], p->bgrad, sizeof(float) * (size_t)p->numel);
    }
    if (rc != S24_OK) return rc;
    *local = 0;
    if ((rc = s24_comm_allreduce(b->comm, seg, bk->numel)) != S24_OK) return rc;
    *local = 1;
    if ((rc = scale(b, seg, bk->numel)) != S24_OK) return rc;
    for (int i = bk->hi; i >= bk->lo && rc == S24_OK; i--) {
        struct s24_param *p = s24_model_param(b->m, i);
        if (b->of[i] == k)
            rc = o->copy(b->be, p->bgrad, b->flat + b->at[i], sizeof(float) * (size_t)p->numel);
    }
    return rc;
}

/* Bucket k reduced. On a backend with a side queue (a GPU) its work goes
 * there, after the backward's work so far, so the rest of the backward runs
 * beside it; s24_buckets_finish joins the queues. A local failure aborts
 * the communicator so the other ranks stop waiting. */
static int launch(struct s24_buckets *b, int k)
{
    const struct s24_be_ops *o = b->be->ops;
    int rc = S24_OK, local = 1, side = o->side_begin && o->side_end && o->side_join;
    b->b[k].launched = 1;
    if (b->comm->size == 1) return S24_OK;
    if (side && (rc = o->side_begin(b->be)) != S24_OK) goto fail;
    rc = reduce(b, k, &local);
    if (side) {
        int e = o->side_end(b->be);
        if (rc == S24_OK && e != S24_OK) {
            rc = e;
            local = 1;
        }
    }
    if (rc == S24_OK) return S24_OK;
fail:
    if (local) s24_comm_abort(b->comm, rc, s24_last_error());
    return rc;
}

int s24_buckets_ready(struct s24_buckets *b, int i)
{
    if (i < 0 || i >= b->np)
        return s24_error(S24_ERR_INVALID, "buckets: parameter %d of %d", i, b->np);
    int k = b->of[i];
    if (k < 0) return S24_OK;
    if (b->ready[i])
        return s24_error(S24_ERR_INVALID, "buckets: gradient of '%s' reported twice in one step",
                         s24_model_param(b->m, i)->name);
    b->ready[i] = 1;
    return --b->b[k].left == 0 ? launch(b, k) : S24_OK;
}

int s24_buckets_finish(struct s24_buckets *b)
{
    int rc = S24_OK;
    const struct s24_be_ops *o = b->be->ops;
    for (int k = 0; k < b->nb && rc == S24_OK; k++)
        if (!b->b[k].launched) rc = launch(b, k);
    /* the main queue after the side one: the optimiser reads the averages */
    if (rc == S24_OK && b->comm->size > 1 && o->side_begin && o->side_end && o->side_join &&
        (rc = o->side_join(b->be)) != S24_OK)
        s24_comm_abort(b->comm, rc, s24_last_error());
    return rc != S24_OK ? rc : s24_comm_wait(b->comm);
}

int s24_buckets_average(struct s24_buckets *b)
{
    int rc = s24_buckets_begin(b);
    for (int i = b->np - 1; i >= 0 && rc == S24_OK; i--)
        rc = s24_buckets_ready(b, i);
    return rc != S24_OK ? rc : s24_buckets_finish(b);
}
