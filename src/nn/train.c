/* train.c: the per-model optimiser state (momentum buffers and 2:4 masks),
 * one training epoch (shuffle, augment, forward, loss, backward, SGD step with
 * the schedule, masks re-applied), evaluation, and the per-epoch CSV row. It
 * knows nothing about phases, strategies or files: pipeline.c drives it. It
 * never prints; progress goes to the caller's callback. */
#include "sparse24/sparse24_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int s24_sgd_init(struct s24_sgd *o, s24_model_t *m, float weight_decay)
{
    memset(o, 0, sizeof *o);
    int n = s24_model_num_params(m);
    o->buf = calloc((size_t)(n > 0 ? n : 1), sizeof *o->buf);
    o->mask = calloc((size_t)(n > 0 ? n : 1), sizeof *o->mask);
    o->numel = calloc((size_t)(n > 0 ? n : 1), sizeof *o->numel);
    o->n = n;
    o->weight_decay = weight_decay;
    if (!o->buf || !o->mask || !o->numel) goto nomem;
    for (int i = 0; i < n; i++) {
        struct s24_param *p = s24_model_param(m, i);
        o->numel[i] = p->numel;
        if (p->is_buffer || !p->data || !p->grad) continue;
        o->buf[i] = calloc((size_t)p->numel, sizeof(float));
        if (!o->buf[i]) goto nomem;
    }
    return S24_OK;
nomem:
    s24_sgd_free(o);
    return s24_error(S24_ERR_NOMEM, "optimiser: out of memory for momentum buffers");
}

void s24_sgd_free(struct s24_sgd *o)
{
    for (int i = 0; i < o->n; i++) {
        if (o->buf) free(o->buf[i]);
        if (o->mask) free(o->mask[i]);
    }
    free(o->buf);
    free(o->mask);
    free(o->numel);
    memset(o, 0, sizeof *o);
}

void s24_sgd_reset(struct s24_sgd *o)
{
    for (int i = 0; i < o->n; i++)
        if (o->buf[i]) memset(o->buf[i], 0, sizeof(float) * (size_t)o->numel[i]);
}

void s24_sgd_clear_masks(struct s24_sgd *o)
{
    for (int i = 0; i < o->n; i++) {
        free(o->mask[i]);
        o->mask[i] = NULL;
    }
}

int s24_sgd_step(struct s24_sgd *o, s24_model_t *m, float lr, float momentum)
{
    if (o->n != s24_model_num_params(m))
        return s24_error(S24_ERR_INVALID, "optimiser: built for %d parameters, model has %d", o->n,
                         s24_model_num_params(m));
    const float wd = o->weight_decay;
#pragma omp parallel for schedule(dynamic, 1) num_threads(s24_threads_get())
    for (int i = 0; i < o->n; i++) {
        struct s24_param *p = s24_model_param(m, i);
        if (!o->buf[i]) continue;
        const uint8_t *mk = o->mask[i];
        if (mk) /* as ASP: pruned gradients never reach the update */
            for (int64_t j = 0; j < p->numel; j++)
                if (!mk[j]) p->grad[j] = 0.0f;
        s24_sgd_update(p->data, p->grad, o->buf[i], p->numel, lr, momentum, wd);
        if (mk)
            for (int64_t j = 0; j < p->numel; j++)
                if (!mk[j]) p->data[j] = o->buf[i][j] = 0.0f;
    }
    return S24_OK;
}

int s24_evaluate(s24_model_t *m, const struct s24_dataset *d, int batch, double *loss, double *acc)
{
    int rc = S24_OK, classes = s24_model_num_classes(m);
    if (batch <= 0 || d->n <= 0) return s24_error(S24_ERR_INVALID, "evaluate: batch %d, %lld images", batch, (long long)d->n);
    if (d->classes > classes)
        return s24_error(S24_ERR_INVALID, "evaluate: data has %d classes, model %d", d->classes, classes);
    size_t img = (size_t)d->h * (size_t)d->w * 3;
    float *x = malloc(sizeof(float) * img * (size_t)batch);        /* x: (batch, h, w, 3) */
    float *logits = malloc(sizeof(float) * (size_t)classes * (size_t)batch); /* (batch, classes) */
    int *labels = malloc(sizeof(int) * (size_t)batch);
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)batch);
    double sum = 0;
    int64_t hits = 0;
    if (!x || !logits || !labels || !idx) { rc = s24_error(S24_ERR_NOMEM, "evaluate: out of memory"); goto fail; }
    for (int64_t at = 0; at < d->n; at += batch) {
        int nb = (int)(d->n - at < batch ? d->n - at : batch), correct = 0;
        for (int b = 0; b < nb; b++) idx[b] = at + b;
        if ((rc = s24_batch_fill(d, idx, nb, NULL, NULL, x, labels)) != S24_OK) goto fail;
        if ((rc = s24_model_forward(m, x, nb, d->h, d->w, logits, 0)) != S24_OK) goto fail;
        float l = s24_softmax_xent(logits, labels, nb, classes, NULL, &correct);
        sum += (double)l * nb;
        hits += correct;
    }
    *loss = sum / (double)d->n;
    *acc = 100.0 * (double)hits / (double)d->n;
fail:
    free(x);
    free(logits);
    free(labels);
    free(idx);
    return rc;
}

int s24_train_epoch(s24_model_t *m, struct s24_sgd *o, const struct s24_epoch_cfg *c,
                    struct s24_rng *r, int64_t *step, struct s24_epoch_stats *st)
{
    const struct s24_dataset *d = c->train;
    int rc = S24_OK, classes = s24_model_num_classes(m), batch = c->batch;
    if (batch <= 0 || d->n <= 0)
        return s24_error(S24_ERR_INVALID, "train: batch %d, %lld images", batch, (long long)d->n);
    if (d->classes > classes)
        return s24_error(S24_ERR_INVALID, "train: data has %d classes, model %d", d->classes, classes);
    size_t img = (size_t)d->h * (size_t)d->w * 3;
    int64_t n = d->n, batches = (n + batch - 1) / batch;
    int64_t *order = malloc(sizeof(int64_t) * (size_t)n);          /* order: (n) */
    float *x = malloc(sizeof(float) * img * (size_t)batch);        /* x: (batch, h, w, 3) */
    float *logits = malloc(sizeof(float) * (size_t)classes * (size_t)batch); /* (batch, classes) */
    float *dlogits = malloc(sizeof(float) * (size_t)classes * (size_t)batch);
    int *labels = malloc(sizeof(int) * (size_t)batch);
    double t0 = s24_now(), sum = 0, lr = 0, mom = 0;
    int64_t hits = 0, seen = 0;
    if (!order || !x || !logits || !dlogits || !labels) { rc = s24_error(S24_ERR_NOMEM, "train: out of memory"); goto fail; }
    for (int64_t i = 0; i < n; i++) order[i] = i;
    /* a fresh permutation each epoch, as PyTorch's shuffling DataLoader */
    s24_shuffle(order, n, r);
    for (int64_t bi = 0; bi < batches; bi++) {
        if (c->stop && *c->stop) {
            rc = s24_error(S24_ERR_INTERRUPTED, "interrupted in phase %d epoch %d at batch %lld of %lld",
                           c->phase, c->epoch, (long long)bi, (long long)batches);
            goto fail;
        }
        int nb = (int)(n - bi * batch < batch ? n - bi * batch : batch), correct = 0;
        if ((rc = s24_batch_fill(d, order + bi * batch, nb, &c->aug, r, x, labels)) != S24_OK) goto fail;
        s24_model_zero_grad(m);
        if ((rc = s24_model_forward(m, x, nb, d->h, d->w, logits, 1)) != S24_OK) goto fail;
        float l = s24_softmax_xent(logits, labels, nb, classes, dlogits, &correct);
        if (!isfinite(l)) {
            rc = s24_error(S24_ERR_INVALID, "training diverged: loss %g in phase %d epoch %d batch %lld",
                           (double)l, c->phase, c->epoch, (long long)bi);
            goto fail;
        }
        if ((rc = s24_model_backward(m, dlogits)) != S24_OK) goto fail;
        if ((rc = s24_onecycle_at(c->sched, *step, &lr, &mom)) != S24_OK) goto fail;
        if ((rc = s24_sgd_step(o, m, (float)lr, (float)mom)) != S24_OK) goto fail;
        ++*step;
        sum += (double)l * nb;
        hits += correct;
        seen += nb;
        if (c->progress) {
            struct s24_progress p = {c->phase, c->epoch, c->epochs, bi + 1, batches,
                                     sum / (double)seen, 100.0 * (double)hits / (double)seen,
                                     (double)seen / (s24_now() - t0 + 1e-9), 0, 0, 0};
            c->progress(c->progress_ctx, &p);
        }
    }
    double train_s = s24_now() - t0;
    st->lr = lr;
    st->train_loss = sum / (double)n;
    st->train_acc = 100.0 * (double)hits / (double)n;
    if (c->test) {
        rc = s24_evaluate(m, c->test, c->eval_batch > 0 ? c->eval_batch : 500, &st->test_loss, &st->test_acc);
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
    free(order);
    free(x);
    free(logits);
    free(dlogits);
    free(labels);
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
