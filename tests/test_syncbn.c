/* test_syncbn.c: synchronised batch norm and the overlap of the gradient
 * all-reduce with the backward, on the CPU backend with thread ranks (the
 * GPU path has the same structure and is not run here).
 *
 *   1. The split BN ops (ops.h: bn_stats, bn_fwd_apply, bn_bwd_reduce,
 *      bn_bwd_apply) over two halves of a batch, their sums added as the
 *      all-reduce adds them, against the fused ops on the whole batch: y,
 *      the statistics, the running statistics, dx and dgamma, dbeta within
 *      1e-5 relative, for each fused activation and both accumulate modes,
 *      on inputs with a large mean (the shift keeps the variance).
 *   2. The criterion: smallcnn, N = 2 thread ranks of 8 images
 *      with sync BN against one rank of 16, 50 SGD steps (momentum, weight
 *      decay, no dropout), fp32: max over tensors of ||w_2 - w_1|| / ||w_1||
 *      <= 1e-3; both ranks' weights and running statistics bitwise equal,
 *      and the running statistics within 1e-3 of the one-rank run's.
 *   3. Overlap: the buckets launched from the backward (s24_model_grad_hook
 *      -> s24_buckets_ready; every bucket is checked to be launched before
 *      the backward returns) give bitwise the weights of the buckets
 *      reduced after the backward, with sync BN and with local BN.
 *   4. Local BN (no s24_model_bn_sync) still equals one rank running the
 *      two halves as micro-batches with the gradient halved (bitwise), and
 *      still differs from the whole-batch run (the gap sync BN closes). */
#include "t.h"

#include <unistd.h>

#include "comm/buckets.h"
#include "comm/comm.h"
#include "nn/model.h"
#include "nn/ops.h"
#include "sparse24/sparse24_nn.h"
#include "sparse24/sparse24_train.h"
#include "t_weights.h"

#define STEPS 50
#define HALF 8 /* images per rank per step */
#define HW 8   /* 8x8 images: smallcnn ends at 2x2 before pooling */
#define IMG (HW * HW * 3)
#define SEED 7
#define LR 0.02f
#define MOM 0.9f
#define WD 5e-4f

/* ---------------------------------------------------------------- ops */
static double rel(const float *a, const float *ref, int64_t n)
{
    double d = 0, r = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = (double)a[i] - ref[i];
        d += e * e;
        r += (double)ref[i] * ref[i];
    }
    return sqrt(d) / (sqrt(r) + 1e-30);
}

#define OR 96 /* rows per half */
#define OC 6  /* channels */

static void test_ops(void)
{
    s24_backend_t *be = NULL;
    CHECK_OK(s24_backend_create(S24_DEVICE_CPU, 0, &be));
    if (!be) return;
    const struct s24_be_ops *op = be->ops;
    static float x[2 * OR * OC], dy[2 * OR * OC], y[2 * OR * OC], ys[2 * OR * OC];
    static float dx[2 * OR * OC], dxs[2 * OR * OC], dx0[2 * OR * OC];
    float gamma[OC], beta[OC], mean[OC], inv[OC], meanh[2][OC], invh[2][OC];
    float rm[OC], rv[OC], rmh[2][OC], rvh[2][OC], rm0[OC], rv0[OC];
    float dg[OC], db[OC], dgh[2][OC], dbh[2][OC], sums[2][2 * OC], tot[2 * OC];
    struct s24_rng r;
    s24_rng_seed(&r, 5);
    for (int j = 0; j < OC; j++) {
        gamma[j] = 0.5f + (float)s24_rng_uniform(&r);
        beta[j] = (float)s24_rng_normal(&r) * 0.3f;
        rm0[j] = 40.0f + (float)j; /* near the data's mean: the shift */
        rv0[j] = 1.5f;
    }
    /* a large mean (about 40) and a small spread: cancellation bait */
    for (int i = 0; i < 2 * OR * OC; i++) {
        x[i] = 40.0f + (float)(i % OC) + 0.25f * (float)s24_rng_normal(&r);
        dy[i] = (float)s24_rng_normal(&r);
        dx0[i] = (float)s24_rng_normal(&r);
    }
    const enum s24_act acts[3] = {S24_ACT_NONE, S24_ACT_RELU, S24_ACT_SILU};
    double worst = 0;
    for (int a = 0; a < 3; a++)
        for (int acc = 0; acc < 2; acc++) {
            enum s24_act act = acts[a];
            memcpy(rm, rm0, sizeof rm);
            memcpy(rv, rv0, sizeof rv);
            memcpy(dx, dx0, sizeof dx);
            memset(dg, 0, sizeof dg);
            memset(db, 0, sizeof db);
            CHECK_OK(op->bn_fwd_train(be, 2 * OR, OC, x, gamma, beta, 1e-5f, 0.1f, act, y, mean,
                                      inv, rm, rv));
            CHECK_OK(op->bn_bwd(be, 2 * OR, OC, x, mean, inv, gamma, beta, act, dy, dx, acc, dg,
                                db));
            /* two "ranks": halves h = 0, 1, sums added in rank order */
            memcpy(dxs, dx0, sizeof dxs);
            for (int h = 0; h < 2; h++) {
                memcpy(rmh[h], rm0, sizeof rm0);
                memcpy(rvh[h], rv0, sizeof rv0);
                memset(dgh[h], 0, sizeof dgh[h]);
                memset(dbh[h], 0, sizeof dbh[h]);
                CHECK_OK(op->bn_stats(be, OR, OC, x + h * OR * OC, rmh[h], sums[h]));
            }
            for (int j = 0; j < 2 * OC; j++) tot[j] = sums[0][j] + sums[1][j];
            for (int h = 0; h < 2; h++)
                CHECK_OK(op->bn_fwd_apply(be, OR, OC, 2 * OR, x + h * OR * OC, gamma, beta, tot,
                                          rmh[h], 1e-5f, 0.1f, act, ys + h * OR * OC, meanh[h],
                                          invh[h], rmh[h], rvh[h]));
            for (int h = 0; h < 2; h++)
                CHECK_OK(op->bn_bwd_reduce(be, OR, OC, x + h * OR * OC, meanh[h], invh[h], gamma,
                                           beta, act, dy + h * OR * OC, sums[h], dgh[h], dbh[h]));
            for (int j = 0; j < 2 * OC; j++) tot[j] = sums[0][j] + sums[1][j];
            for (int h = 0; h < 2; h++)
                CHECK_OK(op->bn_bwd_apply(be, OR, OC, 2 * OR, x + h * OR * OC, meanh[h], invh[h],
                                          gamma, beta, act, dy + h * OR * OC, tot,
                                          dxs + h * OR * OC, acc));
            for (int j = 0; j < OC; j++) {
                dgh[0][j] += dgh[1][j]; /* the buckets' sum (then / N, which both sides skip) */
                dbh[0][j] += dbh[1][j];
            }
            CHECK(!memcmp(meanh[0], meanh[1], sizeof meanh[0]) &&
                      !memcmp(invh[0], invh[1], sizeof invh[0]) &&
                      !memcmp(rmh[0], rmh[1], sizeof rmh[0]) &&
                      !memcmp(rvh[0], rvh[1], sizeof rvh[0]),
                  "act %d: the halves' statistics differ", (int)act);
            /* y, mean, invstd, running mean, running variance, dx, dgamma, dbeta */
            double e[8] = {rel(ys, y, 2 * OR * OC),  rel(meanh[0], mean, OC),
                           rel(invh[0], inv, OC),    rel(rmh[0], rm, OC),
                           rel(rvh[0], rv, OC),      rel(dxs, dx, 2 * OR * OC),
                           rel(dgh[0], dg, OC),      rel(dbh[0], db, OC)};
            for (int k = 0; k < 8; k++) {
                CHECK(e[k] < 1e-5, "act %d acc %d: quantity %d off by %g", (int)act, acc, k, e[k]);
                worst = fmax(worst, e[k]);
            }
        }
    printf("split BN over two halves vs fused on the whole: worst relative difference %.3g\n",
           worst);
    s24_backend_free(be);
}

/* ---------------------------------------------------------------- training */
struct data {
    float x[STEPS][2 * HALF * IMG]; /* (steps, 2*HALF, HW, HW, 3) NHWC */
    int32_t y[STEPS][2 * HALF];
};

/* The running statistics of a model (its float buffers), one copy. */
static void buffers_take(struct weights *out, s24_model_t *m)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < s24_model_num_params(m) && out->n < T_WEIGHTS_MAX; i++) {
        struct s24_param *p = s24_model_param(m, i);
        if (!p->is_buffer || !p->data) continue;
        out->len[out->n] = p->numel;
        out->w[out->n] = malloc(sizeof(float) * (size_t)p->numel);
        memcpy(out->w[out->n], p->data, sizeof(float) * (size_t)p->numel);
        out->n++;
    }
}

/* One rank, no communicator: the whole batch at once, or (micro) as two
 * micro-batches with the gradient sum halved (local BN's reference). */
static int run_single(const struct data *d, int micro, struct weights *w, struct weights *bufs)
{
    s24_model_t *m = NULL;
    struct s24_sgd o;
    int rc = s24_model_create("smallcnn", 10, SEED, NULL, &m);
    if (rc != S24_OK) return rc;
    if ((rc = s24_sgd_init(&o, m, WD)) != S24_OK) goto done;
    for (int s = 0; s < STEPS && rc == S24_OK; s++) {
        s24_model_zero_grad(m);
        int parts = micro ? 2 : 1, nb = 2 * HALF / parts;
        for (int k = 0; k < parts && rc == S24_OK; k++) {
            rc = s24_model_forward_be(m, d->x[s] + (size_t)k * nb * IMG, nb, HW, HW, 1);
            if (rc == S24_OK) rc = s24_model_loss_backward(m, d->y[s] + k * nb, NULL);
        }
        for (int i = 0; micro && i < s24_model_num_params(m); i++) {
            struct s24_param *p = s24_model_param(m, i); /* CPU: grad is the backend's */
            for (int64_t e = 0; p->grad && e < p->numel; e++)
                p->grad[e] *= 0.5f;
        }
        if (rc == S24_OK) rc = s24_sgd_step(&o, m, LR, MOM);
    }
    if (rc == S24_OK) weights_take(w, m);
    if (rc == S24_OK && bufs) buffers_take(bufs, m);
    s24_sgd_free(&o);
done:
    s24_model_free(m);
    return rc;
}

struct dp_job {
    const struct data *d;
    int sync_bn, overlap;
    struct weights out[2], bufs[2];
    int reports[2];    /* gradients the backward reported (last step) */
    int early[2];      /* steps whose buckets had all launched before the backward returned */
};

struct hook_ctx {
    struct s24_buckets *b;
    int n;
};

static int on_ready(void *arg, int i)
{
    struct hook_ctx *h = arg;
    h->n++;
    return s24_buckets_ready(h->b, i);
}

static int dp_rank(struct s24_comm_group *g, int rank, void *arg)
{
    struct dp_job *j = arg;
    s24_backend_t *be = NULL;
    s24_model_t *m = NULL;
    struct s24_comm *c = NULL;
    struct s24_sgd o;
    struct s24_buckets b;
    memset(&o, 0, sizeof o);
    memset(&b, 0, sizeof b);
    int rc = s24_backend_create(S24_DEVICE_CPU, 0, &be);
    if (rc == S24_OK) rc = s24_model_create("smallcnn", 10, SEED, be, &m);
    if (rc == S24_OK) rc = s24_comm_thread_init(g, rank, be, &c);
    for (int i = 0; rc == S24_OK && i < s24_model_num_params(m); i++) {
        struct s24_param *p = s24_model_param(m, i);
        if (p->bdata) rc = s24_comm_broadcast(c, p->bdata, p->numel);
    }
    if (rc == S24_OK && j->sync_bn) rc = s24_model_bn_sync(m, c);
    if (rc == S24_OK) rc = s24_sgd_init(&o, m, WD);
    /* small buckets, so the gradients travel in several */
    if (rc == S24_OK) rc = s24_buckets_init(&b, m, c, 4096);
    if (rc == S24_OK && b.nb < 3) rc = s24_error(S24_ERR_INVALID, "only %d buckets", b.nb);
    struct hook_ctx h = {&b, 0};
    for (int s = 0; s < STEPS && rc == S24_OK; s++) {
        s24_model_zero_grad(m);
        rc = s24_model_forward_be(m, j->d->x[s] + (size_t)rank * HALF * IMG, HALF, HW, HW, 1);
        if (rc == S24_OK && j->overlap) {
            h.n = 0;
            rc = s24_buckets_begin(&b);
            s24_model_grad_hook(m, on_ready, &h);
            if (rc == S24_OK) rc = s24_model_loss_backward(m, j->d->y[s] + rank * HALF, NULL);
            s24_model_grad_hook(m, NULL, NULL);
            int all = 1;
            for (int k = 0; k < b.nb; k++) all &= b.b[k].launched;
            j->early[rank] += all;
            j->reports[rank] = h.n;
            if (rc == S24_OK) rc = s24_buckets_finish(&b);
        } else if (rc == S24_OK) {
            rc = s24_model_loss_backward(m, j->d->y[s] + rank * HALF, NULL);
            if (rc == S24_OK) rc = s24_buckets_average(&b);
        }
        if (rc == S24_OK) rc = s24_sgd_step(&o, m, LR, MOM);
    }
    if (rc == S24_OK) {
        weights_take(&j->out[rank], m);
        buffers_take(&j->bufs[rank], m);
    }
    s24_buckets_free(&b);
    if (o.n) s24_sgd_free(&o);
    s24_model_bn_sync(m, NULL);
    s24_comm_free(c);
    s24_model_free(m);
    s24_backend_free(be);
    return rc;
}

static void job_free(struct dp_job *j)
{
    for (int r = 0; r < 2; r++) {
        weights_free(&j->out[r]);
        weights_free(&j->bufs[r]);
    }
}

static int trainable(s24_model_t *m)
{
    int n = 0;
    for (int i = 0; i < s24_model_num_params(m); i++)
        n += !s24_model_param(m, i)->is_buffer;
    return n;
}

static void test_train(const struct data *d)
{
    struct weights whole, whole_b, micro;
    struct dp_job sync_ov, sync_plain, local_ov, local_plain;
    memset(&sync_ov, 0, sizeof sync_ov);
    memset(&sync_plain, 0, sizeof sync_plain);
    memset(&local_ov, 0, sizeof local_ov);
    memset(&local_plain, 0, sizeof local_plain);
    sync_ov.d = sync_plain.d = local_ov.d = local_plain.d = d;
    sync_ov.sync_bn = sync_plain.sync_bn = 1;
    sync_ov.overlap = local_ov.overlap = 1;
    CHECK_OK(run_single(d, 0, &whole, &whole_b));
    CHECK_OK(run_single(d, 1, &micro, NULL));
    CHECK_OK(s24_comm_threads_run(2, 60.0, dp_rank, &sync_ov, NULL));
    CHECK_OK(s24_comm_threads_run(2, 60.0, dp_rank, &sync_plain, NULL));
    CHECK_OK(s24_comm_threads_run(2, 60.0, dp_rank, &local_ov, NULL));
    CHECK_OK(s24_comm_threads_run(2, 60.0, dp_rank, &local_plain, NULL));
    if (t_fail) goto out;
    s24_model_t *m0 = NULL;
    CHECK_OK(s24_model_create("smallcnn", 10, SEED, NULL, &m0));
    int ntrain = m0 ? trainable(m0) : -1;
    s24_model_free(m0);

    double ds = rel_diff(&sync_ov.out[0], &whole);
    double dsb = rel_diff(&sync_ov.bufs[0], &whole_b);
    double dl = rel_diff(&local_ov.out[0], &whole);
    double dlm = rel_diff(&local_ov.out[0], &micro);
    printf("%d steps, N=2 x %d vs N=1 x %d (max over tensors of ||w2-w1||/||w1||): sync BN "
           "%.3g (running statistics %.3g), local BN %.3g; local BN vs micro-batched N=1: %.3g\n",
           STEPS, HALF, 2 * HALF, ds, dsb, dl, dlm);
    CHECK(ds <= 1e-3, "sync BN: N=2 vs N=1 at the same global batch: %g (budget 1e-3)", ds);
    CHECK(dsb <= 1e-3, "sync BN: running statistics vs N=1: %g", dsb);
    CHECK(dl > 1e-2, "local BN should differ from whole-batch BN (%g)", dl);
    CHECK(dlm == 0, "local BN: N=2 vs micro-batched N=1: %g", dlm);
    for (int r = 0; r < 2; r++) {
        CHECK(same_bits(&sync_ov.out[r], &sync_plain.out[r]),
              "sync BN, rank %d: the overlapped buckets changed the weights", r);
        CHECK(same_bits(&local_ov.out[r], &local_plain.out[r]),
              "local BN, rank %d: the overlapped buckets changed the weights", r);
        CHECK(sync_ov.early[r] == STEPS && local_ov.early[r] == STEPS,
              "rank %d: buckets launched inside the backward in %d / %d steps", r,
              sync_ov.early[r], STEPS);
        CHECK(sync_ov.reports[r] == ntrain, "rank %d: %d gradients reported, %d trained", r,
              sync_ov.reports[r], ntrain);
    }
    CHECK(same_bits(&sync_ov.out[0], &sync_ov.out[1]) &&
              same_bits(&local_ov.out[0], &local_ov.out[1]),
          "ranks ended with different weights");
    CHECK(same_bits(&sync_ov.bufs[0], &sync_ov.bufs[1]),
          "sync BN: ranks ended with different running statistics");
out:
    job_free(&sync_ov);
    job_free(&sync_plain);
    job_free(&local_ov);
    job_free(&local_plain);
    weights_free(&whole);
    weights_free(&whole_b);
    weights_free(&micro);
}

int main(void)
{
    alarm(300); /* a hang is a failure */
    s24_threads_set(1);
    test_ops();
    struct data *d = malloc(sizeof *d);
    struct s24_rng r;
    s24_rng_seed(&r, 11);
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < 2 * HALF * IMG; i++)
            d->x[s][i] = (float)s24_rng_normal(&r);
        for (int i = 0; i < 2 * HALF; i++)
            d->y[s][i] = (int32_t)s24_rng_below(&r, 10);
    }
    test_train(d);
    free(d);
    return t_done("test_syncbn");
}
