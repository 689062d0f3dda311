/* test_train_dp.c: data-parallel training through the trainer itself, on
 * the CPU with thread ranks (`cfg.ranks`, `train --ranks N`), smallcnn on
 * the synthetic set. What each part shows:
 *
 *   1. The epoch loop (s24_train_epoch_ranks) on 2 ranks against ONE rank
 *      that builds the same global batches (same shuffle, same augmentation
 *      draws from the same generator) and runs each as two micro-batches of
 *      8, halving the summed gradient: local BN's reference (each half is
 *      normalised by its own statistics in both). Holds: weights after one
 *      epoch (4 steps, momentum, weight decay, OneCycle) equal within 1e-5
 *      relative per tensor (measured: printed), both ranks' weights bitwise
 *      equal, and the epoch's train loss and accuracy the global ones over
 *      all 64 images on both ranks (the reference's, to 1e-12). It shows the
 *      draws stay in step across ranks, each rank builds its own rows, the
 *      gradients are averaged and the sums are global. It cannot tell which
 *      rank took which half (float addition of two gradients commutes), and
 *      it does not show whole-batch BN: the model here has local BN (sync
 *      BN's equivalence to one rank at the same batch is test_syncbn's).
 *      The epoch loop launches the buckets from the backward (overlap).
 *   2. The pipeline (both phases, pruning between them) with ranks 1 and 2
 *      at the same global batch: both finish; the 2-rank folder holds the
 *      files of one writer: every CSV row once, in order, with test figures
 *      (only rank 0 evaluates: a row written by rank 1 would be NaN there,
 *      and it has no phase-2 epoch-0 row), nothing else in the folder; the
 *      2:4 check passes (s24_pipeline_check in the run). Results of ranks 1
 *      and 2 are NOT compared (sync BN, the default, matches them only to
 *      rounding, which the pruning's thresholds may amplify). A 2-rank run
 *      with local BN finishes too.
 *   3. A 2-rank run stopped after one epoch and resumed gives phase2 weights
 *      and a CSV (but the seconds) identical to the uninterrupted 2-rank run;
 *      its state (bn=sync) refuses a resume with 1 rank or with local BN.
 *   4. `train --ranks/--gpus` with bad N exits 2 with a message naming it.
 */
#include "t.h"
#include "t_cli.h"

#include <dirent.h>
#include <unistd.h>

#include "comm/buckets.h"
#include "comm/comm.h"
#include "nn/dp.h"
#include "sparse24/sparse24_nn.h"
#include "sparse24/sparse24_train.h"
#include "t_weights.h"

#define HW 8
#define NTRAIN 64
#define NTEST 32
#define BATCH 16
#define SEED 5
#define LR 0.05
#define WD 5e-4f

static struct s24_dataset train, test;

/* ---------------------------------------------------------------- part 1 */
static const struct s24_augment aug = {1, 1};

static void epoch_cfg(struct s24_epoch_cfg *ec, const struct s24_onecycle *sched)
{
    memset(ec, 0, sizeof *ec);
    ec->train = &train;
    ec->batch = BATCH;
    ec->aug = aug;
    ec->sched = sched;
    ec->phase = ec->epoch = ec->epochs = 1;
}

struct ep_job {
    const struct s24_onecycle *sched;
    struct weights out[2];
    struct s24_epoch_stats st[2];
};

static int ep_rank(struct s24_comm_group *g, int rank, void *arg)
{
    struct ep_job *j = arg;
    s24_backend_t *be = NULL;
    s24_model_t *m = NULL;
    struct s24_comm *c = NULL;
    struct s24_sgd o;
    struct s24_buckets b;
    struct s24_epoch_cfg ec;
    struct s24_rng r;
    int64_t step = 0;
    memset(&o, 0, sizeof o);
    memset(&b, 0, sizeof b);
    epoch_cfg(&ec, j->sched);
    s24_rng_seed(&r, 9);
    int rc = s24_backend_create(S24_DEVICE_CPU, 0, &be);
    if (rc == S24_OK) rc = s24_model_create("smallcnn", 10, SEED, be, &m);
    if (rc == S24_OK) rc = s24_comm_thread_init(g, rank, be, &c);
    if (rc == S24_OK) rc = s24_sgd_init(&o, m, WD);
    if (rc == S24_OK) rc = s24_buckets_init(&b, m, c, 4096); /* several buckets */
    if (rc == S24_OK) rc = s24_train_epoch_ranks(m, &o, &ec, c, &b, &r, &step, &j->st[rank]);
    if (rc == S24_OK) weights_take(&j->out[rank], m);
    s24_buckets_free(&b);
    if (o.n) s24_sgd_free(&o);
    s24_comm_free(c);
    s24_model_free(m);
    s24_backend_free(be);
    return rc;
}

/* One rank, the same batches as two micro-batches each, the gradient sum
 * halved; *loss, *acc: means over the epoch's images. */
static int ep_reference(const struct s24_onecycle *sched, struct weights *out, double *loss,
                        double *acc)
{
    s24_model_t *m = NULL;
    struct s24_sgd o;
    struct s24_rng r;
    int64_t order[NTRAIN];
    float *x = malloc(sizeof(float) * BATCH * HW * HW * 3); /* x: (BATCH, HW, HW, 3) */
    int lab[BATCH];
    int32_t y[BATCH];
    double sums[2] = {0, 0}, lr, mom;
    int rc = x ? s24_model_create("smallcnn", 10, SEED, NULL, &m) : S24_ERR_NOMEM;
    if (rc != S24_OK) {
        free(x);
        return rc;
    }
    memset(&o, 0, sizeof o);
    rc = s24_sgd_init(&o, m, WD);
    s24_rng_seed(&r, 9);
    for (int i = 0; i < NTRAIN; i++)
        order[i] = i;
    s24_shuffle(order, NTRAIN, &r); /* as the epoch loop does */
    for (int bi = 0; bi < NTRAIN / BATCH && rc == S24_OK; bi++) {
        rc = s24_batch_fill(&train, order + bi * BATCH, BATCH, &aug, &r, x, lab);
        for (int k = 0; k < BATCH; k++)
            y[k] = lab[k];
        s24_model_zero_grad(m);
        for (int h = 0; h < 2 && rc == S24_OK; h++) {
            rc = s24_model_forward_be(m, x + (size_t)h * (BATCH / 2) * HW * HW * 3, BATCH / 2, HW,
                                      HW, 1);
            if (rc == S24_OK) rc = s24_model_loss_backward(m, y + h * (BATCH / 2), sums);
        }
        for (int i = 0; rc == S24_OK && i < s24_model_num_params(m); i++) {
            struct s24_param *p = s24_model_param(m, i); /* CPU: the backend's gradient */
            for (int64_t e = 0; p->grad && e < p->numel; e++)
                p->grad[e] *= 0.5f;
        }
        if (rc == S24_OK) rc = s24_onecycle_at(sched, bi, &lr, &mom);
        if (rc == S24_OK) rc = s24_sgd_step(&o, m, (float)lr, (float)mom);
    }
    if (rc == S24_OK) weights_take(out, m);
    *loss = sums[0] / NTRAIN;
    *acc = 100.0 * sums[1] / NTRAIN;
    if (o.n) s24_sgd_free(&o);
    s24_model_free(m);
    free(x);
    return rc;
}

static void test_epoch(void)
{
    struct s24_onecycle sched;
    struct ep_job j;
    struct weights ref;
    double loss = NAN, acc = NAN;
    memset(&j, 0, sizeof j);
    memset(&ref, 0, sizeof ref);
    s24_onecycle_paper(&sched, LR, 1, NTRAIN / BATCH);
    j.sched = &sched;
    CHECK_OK(ep_reference(&sched, &ref, &loss, &acc));
    CHECK_OK(s24_comm_threads_run(2, 30.0, ep_rank, &j, NULL));
    double d = fmax(rel_diff(&j.out[0], &ref), rel_diff(&j.out[1], &ref));
    printf("epoch on 2 ranks vs micro-batched 1 rank: %.3g (max over tensors of ||w2-w1||/||w1||); "
           "train loss %.9f vs %.9f\n",
           d, j.st[0].train_loss, loss);
    CHECK(d < 1e-5, "2 ranks vs the micro-batched reference: %g", d);
    CHECK(same_bits(&j.out[0], &j.out[1]), "the ranks ended with different weights");
    for (int k = 0; k < 2; k++) {
        CHECK(fabs(j.st[k].train_loss - loss) <= 1e-12 * fabs(loss), "rank %d loss %.17g vs %.17g",
              k, j.st[k].train_loss, loss);
        CHECK(fabs(j.st[k].train_acc - acc) <= 1e-9, "rank %d acc %g vs %g", k, j.st[k].train_acc,
              acc);
        CHECK(isnan(j.st[k].test_loss), "no test set, yet a test loss");
    }
    for (int k = 0; k < 2; k++)
        weights_free(&j.out[k]);
    weights_free(&ref);
}

/* ---------------------------------------------------------------- parts 2, 3 */
static void pipe_cfg(struct s24_pipeline_cfg *c, const char *dir, int ranks)
{
    s24_pipeline_defaults(c);
    c->arch = "smallcnn";
    c->train = &train;
    c->test = &test;
    c->epochs1 = 2;
    c->epochs2 = 1;
    c->batch = BATCH;
    c->eval_batch = 16;
    c->max_lr = LR;
    c->seed = SEED;
    c->aug = aug;
    c->out_dir = dir;
    c->ranks = ranks;
}

static char *file_of(const char *dir, const char *name)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return slurp(p);
}

/* Rows "phase,epoch" 1,1 1,2 2,0 2,1 after the header, each once, each with
 * 8 fields and finite test figures (rank 0's evaluation). */
static void check_csv(const char *dir)
{
    static const int want[4][2] = {{1, 1}, {1, 2}, {2, 0}, {2, 1}};
    char *s = file_of(dir, "train.csv"), *save = NULL;
    int rows = 0, bad = 0;
    char *line = strtok_r(s, "\n", &save);
    CHECK(line && !strncmp(line, "phase,epoch,", 12), "%s/train.csv: no header", dir);
    while ((line = strtok_r(NULL, "\n", &save))) {
        int ph, ep, fields = 1;
        double lr, trl, tra, tel, tea, sec;
        for (const char *q = line; *q; q++)
            fields += *q == ',';
        int k = sscanf(line, "%d,%d,%lf,%lf,%lf,%lf,%lf,%lf", &ph, &ep, &lr, &trl, &tra, &tel,
                       &tea, &sec);
        if (rows >= 4 || k != 8 || fields != 8 || ph != want[rows][0] || ep != want[rows][1] ||
            !isfinite(tel) || !isfinite(tea))
            bad++;
        rows++;
    }
    CHECK(rows == 4 && !bad, "%s/train.csv: %d rows, %d unexpected", dir, rows, bad);
    free(s);
}

/* The folder holds exactly the files of one finished run, no temporaries. */
static void check_files(const char *dir)
{
    static const char *const names[] = {"init.safetensors", "phase1.safetensors",
                                        "masks.safetensors", "phase2.safetensors",
                                        "state.safetensors", "train.csv", "prune_report.csv"};
    DIR *d = opendir(dir);
    int found = 0, other = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        int known = 0;
        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
            known |= !strcmp(e->d_name, names[i]);
        found += known;
        if (!known) {
            other++;
            fprintf(stderr, "unexpected file %s/%s\n", dir, e->d_name);
        }
    }
    if (d) closedir(d);
    CHECK(found == 7 && other == 0, "%s: %d of the 7 files, %d others", dir, found, other);
}

/* The CSV without its last column (seconds). */
static char *csv_no_seconds(const char *dir)
{
    char *s = file_of(dir, "train.csv");
    /* each row cut at its last comma */
    char *out = malloc(strlen(s) + 1), *o = out;
    for (char *line = s; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char *last = NULL;
        for (size_t i = 0; i < len; i++)
            if (line[i] == ',') last = line + i;
        size_t keep = last ? (size_t)(last - line) : len;
        memcpy(o, line, keep);
        o += keep;
        *o++ = '\n';
        line += len + (nl ? 1 : 0);
    }
    *o = 0;
    free(s);
    return out;
}

static int same_file(const char *a, const char *b, const char *name)
{
    char pa[700], pb[700];
    uint8_t *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    snprintf(pa, sizeof pa, "%s/%s", a, name);
    snprintf(pb, sizeof pb, "%s/%s", b, name);
    int ok = s24_read_file(pa, &x, &nx) == S24_OK && s24_read_file(pb, &y, &ny) == S24_OK &&
             nx == ny && !memcmp(x, y, nx);
    free(x);
    free(y);
    return ok;
}

static void test_pipeline_ranks(void)
{
    struct s24_pipeline_cfg c;
    struct s24_pipeline_result res;
    const char *d1 = t_subdir("ranks1"), *d2 = t_subdir("ranks2"), *dr = t_subdir("ranks2_resumed");
    double t0 = s24_now();
    pipe_cfg(&c, d1, 1);
    CHECK_OK(s24_pipeline_run(&c, &res));
    CHECK(res.finished, "ranks 1 did not finish");
    pipe_cfg(&c, d2, 2);
    CHECK_OK(s24_pipeline_run(&c, &res));
    CHECK(res.finished && res.epochs_run == 3 && res.dense_acc >= 0 && res.sparse_acc >= 0,
          "ranks 2: finished %d, %d epochs, accuracies %g %g", res.finished, res.epochs_run,
          res.dense_acc, res.sparse_acc);
    check_csv(d1);
    check_csv(d2);
    check_files(d2);

    /* part 3: stopped after one epoch, then resumed with the same settings */
    pipe_cfg(&c, dr, 2);
    c.stop_after = 1;
    int rc = s24_pipeline_run(&c, &res);
    CHECK(rc == S24_ERR_INTERRUPTED && strstr(s24_last_error(), "stopped after 1"),
          "stop_after: %s: %s", s24_status_str(rc), s24_last_error());
    c.stop_after = 0;
    c.resume = 1;
    CHECK_OK(s24_pipeline_run(&c, &res));
    CHECK(res.finished && res.epochs_run == 2, "resume: finished %d after %d epochs", res.finished,
          res.epochs_run);
    CHECK(same_file(d2, dr, "phase2.safetensors"), "resumed phase2 weights differ");
    CHECK(same_file(d2, dr, "masks.safetensors"), "resumed masks differ");
    char *a = csv_no_seconds(d2), *b = csv_no_seconds(dr);
    CHECK(!strcmp(a, b), "CSV of the resumed run differs:\n%s---\n%s", a, b);
    free(a);
    free(b);
    /* a state of 2 ranks does not resume with 1 (local BN depends on the ranks) */
    pipe_cfg(&c, dr, 1);
    c.resume = 1;
    rc = s24_pipeline_run(&c, &res);
    CHECK(rc == S24_ERR_INVALID && strstr(s24_last_error(), "ranks=2"), "resume with 1 rank: %s",
          s24_last_error());
    /* nor with local BN (the state says bn=sync) */
    pipe_cfg(&c, dr, 2);
    c.resume = 1;
    c.local_bn = 1;
    rc = s24_pipeline_run(&c, &res);
    CHECK(rc == S24_ERR_INVALID && strstr(s24_last_error(), "other settings"),
          "resume with local BN: %s", s24_last_error());
    /* local BN, the option, still runs the pipeline through */
    const char *dl = t_subdir("ranks2_local");
    pipe_cfg(&c, dl, 2);
    c.local_bn = 1;
    CHECK_OK(s24_pipeline_run(&c, &res));
    CHECK(res.finished && res.epochs_run == 3, "local BN: finished %d, %d epochs", res.finished,
          res.epochs_run);
    check_csv(dl);
    /* the library's own checks */
    pipe_cfg(&c, d1, 3);
    CHECK(s24_pipeline_run(&c, &res) == S24_ERR_INVALID, "batch 16 on 3 ranks accepted");
    printf("pipeline runs: %.1f s\n", s24_now() - t0);
}

/* ---------------------------------------------------------------- part 4 */
static void test_cli(void)
{
    const char *base = "train --model smallcnn --epochs 1 --synthetic-size 8 --synthetic-test 16 "
                       "--batch 16 --threads 2";
    const char *dir = t_subdir("cli");
    struct {
        const char *args, *says;
    } bad[] = {
        {"--synthetic-train 64 --ranks 0", "--ranks 0: expected a number of ranks, 1..1024"},
        {"--synthetic-train 64 --gpus 0", "--gpus 0: expected a number of ranks"},
        {"--synthetic-train 64 --ranks 3", "--batch 16 is not divisible by --ranks 3"},
        /* more GPUs than any host here has (and a batch they divide) */
        {"--synthetic-train 64 --gpus 16", "--gpus 16 needs GPUs 0..15"},
        {"--synthetic-train 66 --ranks 4", "66 training images are not divisible by 4"},
        {"--synthetic-train 64 --ranks 2 --gpus 2", "give one of them"},
        {"--synthetic-train 64 --ranks 2 --device cuda", "--ranks runs on the CPU"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char sub_dir[600];
        snprintf(sub_dir, sizeof sub_dir, "%s/bad%zu", dir, i);
        int rc = run("%s %s --out %s", base, bad[i].args, sub_dir);
        CHECK(rc == 2, "%s: exit %d, want 2", bad[i].args, rc);
        CHECK(contains(err_path, bad[i].says), "%s: message", bad[i].args);
    }
    /* and 66 images on 2 ranks, which divide */
    CHECK(run("%s --synthetic-train 66 --ranks 2 --batch 8 --out %s/good", base, dir) == 0,
          "--ranks 2: %s", slurp(err_path));
    CHECK(contains(err_path, "x 2 ranks (sync BN)"), "no ranks in the start line");
    CHECK(run("%s --synthetic-train 64 --ranks 2 --local-bn --out %s/local", base, dir) == 0 &&
              contains(err_path, "x 2 ranks (local BN)"),
          "--local-bn: %s", slurp(err_path));
    CHECK(run("train --help") == 0 && contains(out_path, "--gpus N") &&
          contains(out_path, "--ranks N") && contains(out_path, "--local-bn"),
          "--help lacks --gpus/--ranks");
}

int main(void)
{
    alarm(120); /* a hang is a failure */
    s24_threads_set(2);
    t_cli_init();
    struct s24_synth_cfg sc;
    s24_synth_default(&sc);
    sc.size = HW;
    sc.n_train = NTRAIN;
    sc.n_test = NTEST;
    CHECK_OK(s24_synth_make(&sc, 1, &train));
    CHECK_OK(s24_synth_make(&sc, 0, &test));
    if (!t_fail) {
        test_epoch();
        test_pipeline_ranks();
        test_cli();
    }
    s24_dataset_free(&train);
    s24_dataset_free(&test);
    return t_done("test_train_dp");
}
