/* train.c: the per-model optimiser state (momentum buffers and 2:4 masks),
 * one training epoch (shuffle, augment, forward, loss, backward, SGD step with
 * the schedule, masks re-applied), evaluation, and the per-epoch CSV row. It
 * knows nothing about phases, strategies or files: pipeline.c drives it. It
 * never prints; progress goes to the caller's callback. With a communicator
 * of N ranks (s24_train_epoch_ranks) each rank trains on its slice of every
 * global batch and the gradients are averaged before the step; with none
 * (or one rank) it is the single-rank loop, unchanged. Each step is a host
 * half (draws, schedule, uploads) and a backend half, which tgraph.c may
 * replay as a CUDA graph (single rank, full batches). */
#include "sparse24/sparse24_train.h"

#include "comm/buckets.h"
#include "nn/dp.h"
#include "nn/model.h"
#include "nn/ops.h"
#include "nn/tgraph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- optimiser */
static int on_host(const struct s24_sgd *o) { return s24_backend_device(o->be) == S24_DEVICE_CPU; }

int s24_sgd_init(struct s24_sgd *o, s24_model_t *m, float weight_decay)
{
    memset(o, 0, sizeof *o);
    int n = s24_model_num_params(m), rc;
    size_t k = (size_t)(n > 0 ? n : 1);
    o->be = s24_model_backend(m);
    o->buf = calloc(k, sizeof *o->buf);
    o->mask = calloc(k, sizeof *o->mask);
    o->bbuf = calloc(k, sizeof *o->bbuf);
    o->bmask = calloc(k, sizeof *o->bmask);
    o->numel = calloc(k, sizeof *o->numel);
    o->n = n;
    o->weight_decay = weight_decay;
    if (!o->buf || !o->mask || !o->bbuf || !o->bmask || !o->numel) goto nomem;
    if ((rc = s24_be_alloc(o->be, 2 * sizeof(float), (void **)&o->hyper)) != S24_OK) goto fail;
    for (int i = 0; i < n; i++) {
        struct s24_param *p = s24_model_param(m, i);
        o->numel[i] = p->numel;
        if (p->is_buffer || !p->data || !p->grad) continue;
        o->buf[i] = calloc((size_t)p->numel, sizeof(float));
        if (!o->buf[i]) goto nomem;
        if (on_host(o)) {
            o->bbuf[i] = o->buf[i];
            continue;
        }
        size_t bytes = sizeof(float) * (size_t)p->numel;
        if ((rc = s24_be_alloc(o->be, bytes, (void **)&o->bbuf[i])) != S24_OK) goto fail;
        if ((rc = o->be->ops->zero(o->be, o->bbuf[i], bytes)) != S24_OK) goto fail;
    }
    return S24_OK;
nomem:
    rc = s24_error(S24_ERR_NOMEM, "optimiser: out of memory for momentum buffers");
fail:
    s24_sgd_free(o);
    return rc;
}

/* The backend's mask of parameter i (not the host copy). */
static void bmask_drop(struct s24_sgd *o, int i)
{
    if (!on_host(o)) s24_be_free(o->be, o->bmask[i], (size_t)o->numel[i]);
    o->bmask[i] = NULL;
}

void s24_sgd_free(struct s24_sgd *o)
{
    for (int i = 0; i < o->n; i++) {
        if (o->bmask) bmask_drop(o, i);
        if (o->bbuf && !on_host(o))
            s24_be_free(o->be, o->bbuf[i], sizeof(float) * (size_t)o->numel[i]);
        if (o->buf) free(o->buf[i]);
        if (o->mask) free(o->mask[i]);
    }
    if (o->be) s24_be_free(o->be, o->hyper, 2 * sizeof(float));
    free(o->buf);
    free(o->mask);
    free(o->bbuf);
    free(o->bmask);
    free(o->numel);
    memset(o, 0, sizeof *o);
}

void s24_sgd_reset(struct s24_sgd *o)
{
    for (int i = 0; i < o->n; i++) {
        if (!o->buf[i]) continue;
        memset(o->buf[i], 0, sizeof(float) * (size_t)o->numel[i]);
        if (!on_host(o)) o->be->ops->zero(o->be, o->bbuf[i], sizeof(float) * (size_t)o->numel[i]);
    }
}

void s24_sgd_clear_masks(struct s24_sgd *o)
{
    for (int i = 0; i < o->n; i++) {
        bmask_drop(o, i);
        free(o->mask[i]);
        o->mask[i] = NULL;
    }
}

int s24_sgd_to_backend(struct s24_sgd *o)
{
    for (int i = 0; i < o->n; i++) {
        if (on_host(o)) { /* the host copies are the tensors */
            o->bmask[i] = o->mask[i];
            continue;
        }
        int rc = S24_OK;
        size_t n = (size_t)o->numel[i];
        if (o->buf[i]) rc = o->be->ops->upload(o->be, o->bbuf[i], o->buf[i], sizeof(float) * n);
        if (rc == S24_OK && !o->mask[i]) bmask_drop(o, i);
        if (rc == S24_OK && o->mask[i] && !o->bmask[i])
            rc = s24_be_alloc(o->be, n, (void **)&o->bmask[i]);
        if (rc == S24_OK && o->mask[i]) rc = o->be->ops->upload(o->be, o->bmask[i], o->mask[i], n);
        if (rc != S24_OK) return rc;
    }
    return S24_OK;
}

int s24_sgd_to_host(struct s24_sgd *o)
{
    if (on_host(o)) return S24_OK;
    for (int i = 0; i < o->n; i++) {
        if (!o->buf[i]) continue;
        int rc =
            o->be->ops->download(o->be, o->buf[i], o->bbuf[i], sizeof(float) * (size_t)o->numel[i]);
        if (rc != S24_OK) return rc;
    }
    return S24_OK;
}

int s24_sgd_momentum_get(const struct s24_sgd *o, int i, float *dst)
{
    if (i < 0 || i >= o->n || !o->buf[i])
        return s24_error(S24_ERR_INVALID, "optimiser: parameter %d has no momentum buffer", i);
    size_t bytes = sizeof(float) * (size_t)o->numel[i];
    if (on_host(o)) {
        memcpy(dst, o->buf[i], bytes);
        return S24_OK;
    }
    return o->be->ops->download(o->be, dst, o->bbuf[i], bytes);
}

int s24_sgd_hyper(struct s24_sgd *o, float lr, float momentum)
{
    const float hyper[2] = {lr, momentum};
    return o->be->ops->upload(o->be, o->hyper, hyper, sizeof hyper);
}

int s24_sgd_apply(struct s24_sgd *o, s24_model_t *m)
{
    if (o->n != s24_model_num_params(m) || o->be != s24_model_backend(m))
        return s24_error(S24_ERR_INVALID,
                         "optimiser: built for another model (%d parameters, model has %d)", o->n,
                         s24_model_num_params(m));
    int rc = S24_OK;
    for (int i = 0; i < o->n && rc == S24_OK; i++) {
        struct s24_param *p = s24_model_param(m, i);
        if (!o->bbuf[i]) continue;
        rc = o->be->ops->sgd(o->be, p->numel, p->bdata, p->bgrad, o->bbuf[i], o->bmask[i], o->hyper,
                             o->weight_decay);
    }
    return rc;
}

int s24_sgd_step(struct s24_sgd *o, s24_model_t *m, float lr, float momentum)
{
    if (o->n != s24_model_num_params(m) || o->be != s24_model_backend(m))
        return s24_error(S24_ERR_INVALID,
                         "optimiser: built for another model (%d parameters, model has %d)", o->n,
                         s24_model_num_params(m));
    int rc = s24_sgd_hyper(o, lr, momentum);
    return rc == S24_OK ? s24_sgd_apply(o, m) : rc;
}

/* ---------------------------------------------------------------- data */
int s24_resident_init(struct s24_resident *r, s24_backend_t *be, const struct s24_dataset *d)
{
    memset(r, 0, sizeof *r);
    r->be = be;
    r->d = d;
    if (s24_backend_device(be) == S24_DEVICE_CPU) {
        r->images = d->images, r->labels = d->labels;
        return S24_OK;
    }
    size_t ib = (size_t)d->n * (size_t)d->h * (size_t)d->w * 3, lb = (size_t)d->n;
    int rc = s24_be_alloc(be, ib, (void **)&r->images);
    if (rc == S24_OK) rc = s24_be_alloc(be, lb, (void **)&r->labels);
    r->owned = 1;
    if (rc == S24_OK) rc = be->ops->upload(be, r->images, d->images, ib);
    if (rc == S24_OK) rc = be->ops->upload(be, r->labels, d->labels, lb);
    if (rc != S24_OK) s24_resident_free(r);
    return rc;
}

void s24_resident_free(struct s24_resident *r)
{
    if (r->owned) {
        s24_be_free(r->be, r->images, (size_t)r->d->n * (size_t)r->d->h * (size_t)r->d->w * 3);
        s24_be_free(r->be, r->labels, (size_t)r->d->n);
    }
    memset(r, 0, sizeof *r);
}

/* Per-batch buffers on the backend, and the host staging of the draws:
 * the draws of the whole (global) batch, the images of this rank's rows. */
struct stepbuf {
    struct s24_backend *be;
    int batch, rows;      /* global batch; rows of it built here (= batch with one rank) */
    int32_t *hdraws;      /* (batch, 4) host */
    int32_t *draws;       /* (rows, 4) backend */
    float *x;             /* (rows, h, w, 3) backend */
    int32_t *y;           /* (rows) backend */
    double *acc;          /* (2) backend: loss sum, hits */
    size_t xbytes;
};

static void stepbuf_free(struct stepbuf *b)
{
    if (!b->be) return;
    free(b->hdraws);
    s24_be_free(b->be, b->draws, sizeof(int32_t) * 4 * (size_t)b->rows);
    s24_be_free(b->be, b->x, b->xbytes);
    s24_be_free(b->be, b->y, sizeof(int32_t) * (size_t)b->rows);
    s24_be_free(b->be, b->acc, 2 * sizeof(double));
    memset(b, 0, sizeof *b);
}

static int stepbuf_init(struct stepbuf *b, struct s24_backend *be, int batch, int rows, int h,
                        int w)
{
    memset(b, 0, sizeof *b);
    b->be = be;
    b->batch = batch;
    b->rows = rows;
    b->xbytes = s24_be_act_size(be) * (size_t)rows * (size_t)h * (size_t)w * 3;
    b->hdraws = malloc(sizeof(int32_t) * 4 * (size_t)batch);
    int rc = b->hdraws ? S24_OK : s24_error(S24_ERR_NOMEM, "train: out of memory");
    if (rc == S24_OK) rc = s24_be_alloc(be, sizeof(int32_t) * 4 * (size_t)rows, (void **)&b->draws);
    if (rc == S24_OK) rc = s24_be_alloc(be, b->xbytes, (void **)&b->x);
    if (rc == S24_OK) rc = s24_be_alloc(be, sizeof(int32_t) * (size_t)rows, (void **)&b->y);
    if (rc == S24_OK) rc = s24_be_alloc(be, 2 * sizeof(double), (void **)&b->acc);
    if (rc == S24_OK) rc = be->ops->zero(be, b->acc, 2 * sizeof(double));
    if (rc != S24_OK) stepbuf_free(b);
    return rc;
}

/* Draws of images idx[0..nb) (all of them, so that r advances the same on
 * every rank), rows [lo, hi) of them sent to the backend (host work). */
static int stepbuf_draw(struct stepbuf *b, const struct s24_resident *res, const int64_t *idx,
                        int nb, int lo, int hi, const struct s24_augment *aug, struct s24_rng *r)
{
    int rc = s24_batch_draw(res->d, idx, nb, aug, r, b->hdraws);
    if (rc == S24_OK)
        rc = b->be->ops->upload(b->be, b->draws, b->hdraws + 4 * (size_t)lo,
                                sizeof(int32_t) * 4 * (size_t)(hi - lo));
    return rc;
}

/* The batch of `rows` images built on the backend from the draws there
 * (backend work only: part of a recorded step). */
static int stepbuf_build(const struct stepbuf *b, const struct s24_resident *res, int rows,
                         int pad)
{
    const struct s24_dataset *d = res->d;
    struct s24_batch_args a = {res->images, res->labels, d->n, d->h, d->w, pad,
                               rows, b->draws, b->x, b->y};
    return b->be->ops->batch(b->be, &a);
}

/* ---------------------------------------------------------------- evaluation */
int s24_evaluate_resident(s24_model_t *m, const struct s24_resident *res, int batch, double *loss,
                          double *acc)
{
    const struct s24_dataset *d = res->d;
    int classes = s24_model_num_classes(m);
    if (batch <= 0 || d->n <= 0)
        return s24_error(S24_ERR_INVALID, "evaluate: batch %d, %lld images", batch,
                         (long long)d->n);
    if (d->classes > classes)
        return s24_error(S24_ERR_INVALID, "evaluate: data has %d classes, model %d", d->classes,
                         classes);
    if (res->be != s24_model_backend(m))
        return s24_error(S24_ERR_INVALID, "evaluate: the data set is resident on another backend");
    struct stepbuf b;
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)batch);
    int rc = idx ? stepbuf_init(&b, s24_model_backend(m), batch, batch, d->h, d->w)
                 : s24_error(S24_ERR_NOMEM, "evaluate: out of memory");
    if (rc != S24_OK) {
        free(idx);
        return rc;
    }
    for (int64_t at = 0; at < d->n && rc == S24_OK; at += batch) {
        int nb = (int)(d->n - at < batch ? d->n - at : batch);
        for (int k = 0; k < nb; k++) idx[k] = at + k;
        rc = stepbuf_draw(&b, res, idx, nb, 0, nb, NULL, NULL);
        if (rc == S24_OK) rc = stepbuf_build(&b, res, nb, 0);
        if (rc == S24_OK) rc = s24_model_forward_be(m, b.x, nb, d->h, d->w, 0);
        if (rc == S24_OK)
            rc = b.be->ops->xent(b.be, nb, classes, s24_model_logits(m), b.y, NULL, b.acc);
    }
    double sums[2];
    if (rc == S24_OK) rc = b.be->ops->download(b.be, sums, b.acc, sizeof sums);
    if (rc == S24_OK) {
        *loss = sums[0] / (double)d->n;
        *acc = 100.0 * sums[1] / (double)d->n;
    }
    stepbuf_free(&b);
    free(idx);
    return rc;
}

int s24_evaluate(s24_model_t *m, const struct s24_dataset *d, int batch, double *loss, double *acc)
{
    struct s24_resident res;
    int rc = s24_resident_init(&res, s24_model_backend(m), d);
    if (rc != S24_OK) return rc;
    rc = s24_evaluate_resident(m, &res, batch, loss, acc);
    s24_resident_free(&res);
    return rc;
}

/* ---------------------------------------------------------------- epoch */
/* How often the running loss comes back from a GPU (each read waits for
 * the queue to drain); the CPU reads it every step. */
#define READ_EVERY_GPU 25

int s24_train_epoch(s24_model_t *m, struct s24_sgd *o, const struct s24_epoch_cfg *c,
                    struct s24_rng *r, int64_t *step, struct s24_epoch_stats *st)
{
    return s24_train_epoch_ranks(m, o, c, NULL, NULL, r, step, st);
}

/* A training step's backend half (tgraph.h): what it reads is fixed for
 * the epoch, and every per-step value (the batch draws, dropout keys,
 * learning rate and momentum) was uploaded by the host half before it. */
struct step_ctx {
    s24_model_t *m;
    struct s24_sgd *o;
    const struct stepbuf *b;
    const struct s24_resident *tr;
    struct s24_buckets *buckets; /* NULL with one rank */
    int overlap;                 /* buckets launched from the backward (else after it) */
    int rows, h, w, pad;
};

static int bucket_ready(void *b, int i) { return s24_buckets_ready(b, i); }

/* S24_DP_OVERLAP=0: the buckets are reduced after the backward instead of
 * as it finishes them (the same bits: a measurement's baseline). */
static int dp_overlap(void)
{
    const char *e = getenv("S24_DP_OVERLAP");
    return !(e && !strcmp(e, "0"));
}

static int step_body(void *arg)
{
    const struct step_ctx *s = arg;
    int rc = stepbuf_build(s->b, s->tr, s->rows, s->pad);
    if (rc != S24_OK) return rc;
    s24_model_zero_grad(s->m);
    if ((rc = s24_model_run_be(s->m, s->b->x, s->rows, s->h, s->w, 1)) != S24_OK) return rc;
    /* each rank's gradient is of its mean loss over its rows: their
     * average is the gradient of the global batch's mean loss. With
     * overlap each bucket is reduced as soon as the backward has finished
     * its last gradient, while the backward goes on (the same collectives
     * in the same order on every rank, so the same sums) */
    if (s->buckets && s->overlap) {
        if ((rc = s24_buckets_begin(s->buckets)) != S24_OK) return rc;
        s24_model_grad_hook(s->m, bucket_ready, s->buckets);
    }
    rc = s24_model_loss_backward(s->m, s->b->y, s->b->acc);
    if (s->buckets && s->overlap) {
        s24_model_grad_hook(s->m, NULL, NULL);
        if (rc == S24_OK) rc = s24_buckets_finish(s->buckets);
    } else if (s->buckets && rc == S24_OK) {
        rc = s24_buckets_average(s->buckets);
    }
    return rc == S24_OK ? s24_sgd_apply(s->o, s->m) : rc;
}

int s24_train_epoch_ranks(s24_model_t *m, struct s24_sgd *o, const struct s24_epoch_cfg *c,
                          struct s24_comm *comm, struct s24_buckets *buckets, struct s24_rng *r,
                          int64_t *step, struct s24_epoch_stats *st)
{
    const struct s24_dataset *d = c->train;
    int rc = S24_OK, classes = s24_model_num_classes(m), batch = c->batch;
    if (batch <= 0 || d->n <= 0)
        return s24_error(S24_ERR_INVALID, "train: batch %d, %lld images", batch, (long long)d->n);
    if (d->classes > classes)
        return s24_error(S24_ERR_INVALID, "train: data has %d classes, model %d", d->classes,
                         classes);
    struct s24_backend *be = s24_model_backend(m);
    /* data parallel: N ranks, this one builds rows [lo, hi) of each batch */
    int ranks = comm ? comm->size : 1, rank = comm ? comm->rank : 0;
    if (ranks > 1 && (!buckets || batch % ranks || d->n % ranks))
        return s24_error(S24_ERR_INVALID,
                         "train: %d ranks need gradient buckets, and the batch (%d) and the "
                         "training images (%lld) divisible by the ranks",
                         ranks, batch, (long long)d->n);
    struct s24_resident own_train, own_test;
    const struct s24_resident *tr = c->train_res, *te = c->test_res;
    int made_train = 0, made_test = 0;
    struct stepbuf b;
    memset(&b, 0, sizeof b);
    struct s24_tgraph tg;
    memset(&tg, 0, sizeof tg);
    struct step_ctx sc = {m,    o,    &b,   NULL, ranks > 1 ? buckets : NULL, dp_overlap(),
                          0,    d->h, d->w, c->aug.pad};
    int64_t n = d->n, batches = (n + batch - 1) / batch;
    int64_t *order = malloc(sizeof(int64_t) * (size_t)n); /* order: (n) */
    double t0 = s24_now(), lr = 0, mom = 0, sums[2] = {0, 0};
    int64_t seen = 0;
    int every = be->device == S24_DEVICE_CPU ? 1 : READ_EVERY_GPU;
    if (!order) return s24_error(S24_ERR_NOMEM, "train: out of memory");
    if (!tr) {
        if ((rc = s24_resident_init(&own_train, be, d)) != S24_OK) goto fail;
        tr = &own_train, made_train = 1;
    }
    if (rank != 0) te = NULL; /* rank 0 alone evaluates (its BN statistics are the ones saved) */
    if (c->test && !te && rank == 0) {
        if ((rc = s24_resident_init(&own_test, be, c->test)) != S24_OK) goto fail;
        te = &own_test, made_test = 1;
    }
    if ((rc = stepbuf_init(&b, be, batch, batch / ranks, d->h, d->w)) != S24_OK) goto fail;
    /* data parallel averages the gradients (NCCL) between the backward and
     * the update: those steps run plainly */
    if ((rc = s24_tgraph_init(&tg, be, ranks == 1, "data parallel (the gradient averaging)")))
        goto fail;
    sc.tr = tr;
    for (int64_t i = 0; i < n; i++) order[i] = i;
    /* a fresh permutation each epoch, as PyTorch's shuffling DataLoader */
    s24_shuffle(order, n, r);
    for (int64_t bi = 0; bi < batches; bi++) {
        /* with ranks the flag is agreed on where the sums are read (below):
         * each thread may see a signal's flag at a different batch */
        if (ranks == 1 && c->stop && *c->stop) {
            rc = s24_error(S24_ERR_INTERRUPTED,
                           "interrupted in phase %d epoch %d at batch %lld of %lld", c->phase,
                           c->epoch, (long long)bi, (long long)batches);
            goto fail;
        }
        int nb = (int)(n - bi * batch < batch ? n - bi * batch : batch);
        int lo = nb / ranks * rank, hi = lo + nb / ranks;
        /* the host half: every draw in the order of a plain step (the batch
         * from r, the dropout keys from the model's generator), the
         * schedule's values, all uploaded before the backend half runs */
        if ((rc = stepbuf_draw(&b, tr, order + bi * batch, nb, lo, hi, &c->aug, r)) != S24_OK)
            goto fail;
        if ((rc = s24_model_prepare(m, 1)) != S24_OK) goto fail;
        if ((rc = s24_onecycle_at(c->sched, *step, &lr, &mom)) != S24_OK) goto fail;
        if ((rc = s24_sgd_hyper(o, (float)lr, (float)mom)) != S24_OK) goto fail;
        /* the backend half: plainly, or a replay of the step recorded at
         * this batch size (the short last batch runs plainly) */
        sc.rows = hi - lo;
        if ((rc = s24_tgraph_run(&tg, hi - lo, step_body, &sc, sizeof sc)) != S24_OK) goto fail;
        ++*step;
        seen += nb;
        if ((bi + 1) % every && bi + 1 != batches) continue;
        if ((rc = be->ops->download(be, sums, b.acc, sizeof sums)) != S24_OK) goto fail;
        if (ranks > 1) { /* the global sums, and whether any rank was asked to stop */
            double v[3] = {sums[0], sums[1], c->stop && *c->stop ? 1.0 : 0.0};
            if ((rc = s24_dp_sum(comm, v, 3)) != S24_OK) goto fail;
            sums[0] = v[0];
            sums[1] = v[1];
            if (v[2] > 0 && bi + 1 < batches) {
                rc = s24_error(S24_ERR_INTERRUPTED,
                               "interrupted in phase %d epoch %d at batch %lld of %lld",
                               c->phase, c->epoch, (long long)bi + 1, (long long)batches);
                goto fail;
            }
        }
        if (!isfinite(sums[0])) {
            rc = s24_error(S24_ERR_INVALID,
                           "training diverged: loss %g in phase %d epoch %d by batch %lld", sums[0],
                           c->phase, c->epoch, (long long)bi);
            goto fail;
        }
        if (c->progress) {
            struct s24_progress p = {c->phase, c->epoch, c->epochs, bi + 1, batches,
                                     sums[0] / (double)seen, 100.0 * sums[1] / (double)seen,
                                     (double)seen / (s24_now() - t0 + 1e-9), 0, 0, 0};
            c->progress(c->progress_ctx, &p);
        }
    }
    double train_s = s24_now() - t0;
    /* the graph reads this call's buffers: dropped before the evaluation */
    s24_tgraph_free(&tg);
    st->lr = lr;
    st->train_loss = sums[0] / (double)n;
    st->train_acc = 100.0 * sums[1] / (double)n;
    if (te) {
        rc = s24_evaluate_resident(m, te, c->eval_batch > 0 ? c->eval_batch : 500, &st->test_loss,
                                   &st->test_acc);
        if (rc != S24_OK) goto fail;
    } else {
        st->test_loss = st->test_acc = NAN;
    }
    st->seconds = s24_now() - t0;
    if (c->progress) {
        struct s24_progress p = {c->phase, c->epoch, c->epochs, batches, batches, st->train_loss,
                                 st->train_acc, (double)n / (train_s + 1e-9), 1, st->test_loss,
                                 st->test_acc};
        c->progress(c->progress_ctx, &p);
    }
fail:
    s24_tgraph_free(&tg);
    m->tg_replays = tg.replays;
    snprintf(m->tg_why, sizeof m->tg_why, "%s", s24_tgraph_why(&tg));
    stepbuf_free(&b);
    if (made_train) s24_resident_free(&own_train);
    if (made_test) s24_resident_free(&own_test);
    free(order);
    return rc;
}

const char s24_csv_header[] =
    "phase,epoch,lr,train_loss,train_acc,test_loss,test_acc,seconds\n";

int s24_csv_append(char **buf, size_t *len, int phase, int epoch, const struct s24_epoch_stats *st)
{
    char row[256];
    int k = snprintf(row, sizeof row, "%d,%d,%.9g,%.6f,%.4f,%.6f,%.4f,%.3f\n", phase, epoch, st->lr,
                     st->train_loss, st->train_acc, st->test_loss, st->test_acc, st->seconds);
    if (k < 0 || (size_t)k >= sizeof row) return s24_error(S24_ERR_INVALID, "csv: row too long");
    char *nb = realloc(*buf, *len + (size_t)k + 1);
    if (!nb) return s24_error(S24_ERR_NOMEM, "csv: out of memory");
    memcpy(nb + *len, row, (size_t)k + 1);
    *buf = nb;
    *len += (size_t)k;
    return S24_OK;
}
