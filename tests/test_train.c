/* test_train.c: the trainer: an SGD step with masks against a hand
 * computation on real model parameters (pruned weights and momentum stay
 * exactly zero), the CSV row, a stop flag abandoning an epoch, and smallcnn
 * learning the synthetic set to at least 80% test accuracy but not 100%,
 * then pruned 2:4 and retrained with the masks holding. */
#include "t.h"

#include <unistd.h>

#include "sparse24/sparse24_nn.h"
#include "sparse24/sparse24_train.h"

static void test_sgd_masks(void)
{
    s24_model_t *m = NULL;
    struct s24_sgd o;
    struct s24_rng r;
    CHECK_OK(s24_model_create("smallcnn", 10, 4, NULL, &m));
    if (!m) return;
    CHECK_OK(s24_sgd_init(&o, m, 5e-4f));
    s24_rng_seed(&r, 8);
    /* random gradients and momentum; masks on every maskable weight */
    for (int i = 0; i < o.n; i++) {
        struct s24_param *p = s24_model_param(m, i);
        if (!o.buf[i]) continue;
        for (int64_t j = 0; j < p->numel; j++) {
            p->grad[j] = (float)s24_rng_normal(&r);
            o.buf[i][j] = (float)s24_rng_normal(&r) * 0.1f;
        }
    }
    CHECK_OK(s24_pipeline_masks(m, &o, 2, 4));
    /* copies to compute the expected update by hand (double) */
    int n = o.n, masked = 0;
    double **p0 = calloc((size_t)n, sizeof *p0), **b0 = calloc((size_t)n, sizeof *b0);
    for (int i = 0; i < n; i++) {
        struct s24_param *p = s24_model_param(m, i);
        if (!o.buf[i]) continue;
        p0[i] = malloc(sizeof(double) * (size_t)p->numel);
        b0[i] = malloc(sizeof(double) * (size_t)p->numel);
        for (int64_t j = 0; j < p->numel; j++) {
            p0[i][j] = p->data[j];
            b0[i][j] = o.buf[i][j];
        }
        masked += o.mask[i] != NULL;
    }
    CHECK(masked == 2, "%d masked weights (smallcnn has conv2, conv3)", masked);
    const float lr = 0.05f, mu = 0.9f, wd = 5e-4f;
    CHECK_OK(s24_sgd_step(&o, m, lr, mu));
    double worst = 0;
    int64_t bad = 0, pruned = 0;
    for (int i = 0; i < n; i++) {
        struct s24_param *p = s24_model_param(m, i);
        if (!o.buf[i]) continue;
        for (int64_t j = 0; j < p->numel; j++) {
            if (o.mask[i] && !o.mask[i][j]) {
                pruned++;
                if (p->data[j] != 0.0f || o.buf[i][j] != 0.0f) bad++;
                continue;
            }
            double g = p->grad[j] + (double)wd * p0[i][j];
            double b = (double)mu * b0[i][j] + g;
            double want = p0[i][j] - (double)lr * b;
            worst = fmax(worst, fabs(want - p->data[j]) / (1 + fabs(want)));
            worst = fmax(worst, fabs(b - o.buf[i][j]) / (1 + fabs(b)));
        }
        free(p0[i]);
        free(b0[i]);
    }
    CHECK(worst < 1e-6, "update differs from the hand computation by %g", worst);
    CHECK(pruned > 1000 && bad == 0, "%lld pruned, %lld non-zero after the step", (long long)pruned,
          (long long)bad);
    CHECK_OK(s24_pipeline_check(m, &o, 2, 4));
    /* a weight brought back to life is caught */
    for (int i = 0; i < n; i++)
        if (o.mask[i]) {
            struct s24_param *p = s24_model_param(m, i);
            for (int64_t j = 0; j < p->numel; j++)
                if (!o.mask[i][j]) { p->data[j] = 1e-3f; break; }
            break;
        }
    CHECK(s24_pipeline_check(m, &o, 2, 4) == S24_ERR_NOT_SPARSE);
    /* reset zeroes every momentum buffer */
    s24_sgd_reset(&o);
    int nz = 0;
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; o.buf[i] && j < o.numel[i]; j++) nz += o.buf[i][j] != 0.0f;
    CHECK(nz == 0);
    free(p0);
    free(b0);
    s24_sgd_free(&o);
    s24_model_free(m);
}

static void test_csv(void)
{
    char *buf = NULL;
    size_t len = 0;
    struct s24_epoch_stats st = {0.05, 1.25, 55.5, 1.5, 50.25, 3.25};
    CHECK_OK(s24_csv_append(&buf, &len, 2, 7, &st));
    CHECK(buf && !strcmp(buf, "2,7,0.05,1.250000,55.5000,1.500000,50.2500,3.250\n"), "%s",
          buf ? buf : "");
    CHECK(len == strlen(buf));
    CHECK(!strncmp(s24_csv_header,
                   "phase,epoch,lr,train_loss,train_acc,test_loss,test_acc,seconds\n", 64));
    free(buf);
}

static volatile sig_atomic_t stop_now;

static void stop_at_second(void *ctx, const struct s24_progress *p)
{
    (void)ctx;
    if (p->batch == 2) stop_now = 1;
}

/* smallcnn on the synthetic set: >= 80% (chance 10%) but < 100% */
static void test_learns(void)
{
    struct s24_synth_cfg sc;
    struct s24_dataset tr, te;
    s24_synth_default(&sc);
    sc.size = 16;
    sc.n_train = 2000;
    sc.n_test = 1000;
    CHECK_OK(s24_synth_make(&sc, 1, &tr));
    CHECK_OK(s24_synth_make(&sc, 0, &te));
    s24_model_t *m = NULL;
    struct s24_sgd o;
    CHECK_OK(s24_model_create("smallcnn", 10, 1, NULL, &m));
    if (!m) return;
    CHECK_OK(s24_sgd_init(&o, m, 5e-4f));
    struct s24_rng r;
    s24_rng_seed(&r, 1);
    const int E = 12, B = 32;
    struct s24_onecycle sched;
    s24_onecycle_paper(&sched, 0.1, E, (tr.n + B - 1) / B);
    struct s24_epoch_cfg ec = {&tr, &te, B,    500,  {0, 0}, &sched, 1,
                               0,   E,   NULL, NULL, NULL,   NULL,   NULL};
    struct s24_epoch_stats st = {0};
    int64_t step = 0;
    double t0 = s24_now();
    /* an interrupt abandons the epoch cleanly */
    ec.stop = &stop_now;
    ec.progress = stop_at_second;
    {
        s24_model_t *m2 = NULL;
        struct s24_sgd o2;
        struct s24_rng r2 = r;
        int64_t step2 = 0;
        CHECK_OK(s24_model_create("smallcnn", 10, 1, NULL, &m2));
        CHECK_OK(s24_sgd_init(&o2, m2, 5e-4f));
        CHECK(s24_train_epoch(m2, &o2, &ec, &r2, &step2, &st) == S24_ERR_INTERRUPTED);
        CHECK(step2 == 2, "%lld steps before the stop", (long long)step2);
        s24_sgd_free(&o2);
        s24_model_free(m2);
    }
    ec.stop = NULL;
    ec.progress = NULL;
    for (int e = 1; e <= E; e++) {
        ec.epoch = e;
        CHECK_OK(s24_train_epoch(m, &o, &ec, &r, &step, &st));
    }
    CHECK(step == (int64_t)E * 63, "%lld steps", (long long)step);
    double dense = st.test_acc;
    printf("smallcnn dense: train %.2f%%, test %.2f%% after %d epochs (%.1f s)\n", st.train_acc,
           dense, E, s24_now() - t0);
    CHECK(dense >= 80.0 && dense < 100.0, "dense test accuracy %.2f%%", dense);
    CHECK(st.lr < 1e-6, "the schedule ends near zero (lr %g)", st.lr);
    /* prune 2:4 (continue) and retrain 3 epochs with a fresh schedule */
    CHECK_OK(s24_pipeline_masks(m, &o, 2, 4));
    s24_sgd_reset(&o);
    double loss, pruned_acc;
    CHECK_OK(s24_evaluate(m, &te, 500, &loss, &pruned_acc));
    const int E2 = 3;
    s24_onecycle_paper(&sched, 0.1, E2, (tr.n + B - 1) / B);
    step = 0;
    ec.phase = 2;
    ec.epochs = E2;
    for (int e = 1; e <= E2; e++) {
        ec.epoch = e;
        CHECK_OK(s24_train_epoch(m, &o, &ec, &r, &step, &st));
    }
    printf("smallcnn 2:4: %.2f%% right after pruning, %.2f%% after %d epochs of retraining\n",
           pruned_acc, st.test_acc, E2);
    CHECK_OK(s24_pipeline_check(m, &o, 2, 4));
    CHECK(st.test_acc > pruned_acc && st.test_acc >= 70.0 && st.test_acc < 100.0, "2:4 %.2f%%",
          st.test_acc);
    s24_sgd_free(&o);
    s24_model_free(m);
    s24_dataset_free(&tr);
    s24_dataset_free(&te);
}

int main(int argc, char **argv)
{
    t_passive_omp(argc, argv); /* see t.h */
    s24_threads_set(2);
    test_csv();
    test_sgd_masks();
    test_learns();
    return t_done("test_train");
}
