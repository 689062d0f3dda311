/* demo_train.c: the training part of `sparse24 demo`, run after the core
 * part (cmd_demo.c): smallcnn on the built-in synthetic set, dense training,
 * 2:4 pruning by magnitude, retraining with the masks held, and the dense vs
 * 2:4 test accuracies. Small settings so that the whole demo stays under two
 * minutes on two cores; it writes no files. The full pipeline with its
 * checkpoints and resumable state is `sparse24 train`. */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "sparse24/sparse24_train.h"
#include "train_data.h"

#define DEMO_SIZE 16
#define DEMO_TRAIN 2000
#define DEMO_TEST 1000
#define DEMO_BATCH 32
#define DEMO_EPOCHS1 12
#define DEMO_EPOCHS2 4

static void demo_progress(void *ctx, const struct s24_progress *p)
{
    (void)ctx;
    if (p->epoch_done)
        fprintf(stderr, "\r  phase %d epoch %2d/%d: test accuracy %.2f%%          ", p->phase,
                p->epoch, p->epochs, p->test_acc);
}

static int train_phase(s24_model_t *m, struct s24_sgd *o, struct s24_epoch_cfg *ec,
                       struct s24_rng *r, int epochs, struct s24_epoch_stats *st)
{
    struct s24_onecycle sched;
    int64_t step = 0;
    s24_onecycle_paper(&sched, 0.1, epochs, (ec->train->n + ec->batch - 1) / ec->batch);
    ec->sched = &sched;
    ec->epochs = epochs;
    for (int e = 1; e <= epochs; e++) {
        ec->epoch = e;
        int rc = s24_train_epoch(m, o, ec, r, &step, st);
        if (rc != S24_OK) return rc;
    }
    return S24_OK;
}

int demo_train(const char *cmd, uint64_t seed, FILE *out)
{
    struct s24_synth_cfg sc;
    struct s24_dataset tr, te;
    s24_model_t *m = NULL;
    struct s24_sgd o = {0};
    struct s24_rng r;
    struct s24_epoch_stats st;
    double t0 = s24_now(), dense, pruned, loss;
    int rc, ec = S24_EXIT_FAIL, tty = isatty(fileno(stderr)), threads = s24_threads_get();
    s24_synth_default(&sc);
    sc.size = DEMO_SIZE;
    sc.n_train = DEMO_TRAIN;
    sc.n_test = DEMO_TEST;
    s24_dataset_init(&tr);
    s24_dataset_init(&te);
    if ((rc = s24_synth_make(&sc, 1, &tr)) != S24_OK ||
        (rc = s24_synth_make(&sc, 0, &te)) != S24_OK ||
        (rc = s24_model_create("smallcnn", 10, seed, NULL, &m)) != S24_OK ||
        (rc = s24_sgd_init(&o, m, 5e-4f)) != S24_OK) {
        ec = cli_lib_fail(cmd, rc);
        goto done;
    }
    /* One thread: smallcnn's layers at 16x16 are too small to gain from a
     * second one, while on a busy machine OpenMP's spinning waits made the
     * 2-thread run 20x slower (148 vs 2,971 images/s measured at load 5). */
    s24_threads_set(1);
    s24_rng_seed(&r, seed ^ 0xdeadull);
    fprintf(
        out,
        "train    smallcnn on the synthetic set (%dx%d, %d train / %d test images, 10 classes), "
        "SGD + OneCycle, batch %d: %d epochs dense, prune 2:4, %d epochs retraining\n",
        DEMO_SIZE, DEMO_SIZE, DEMO_TRAIN, DEMO_TEST, DEMO_BATCH, DEMO_EPOCHS1, DEMO_EPOCHS2);
    fflush(out);
    struct s24_epoch_cfg c = {&tr, &te, DEMO_BATCH, 500, {0, 0}, NULL, 1, 0, 0,
                              tty ? demo_progress : NULL, NULL, NULL, NULL, NULL};
    if ((rc = train_phase(m, &o, &c, &r, DEMO_EPOCHS1, &st)) != S24_OK) goto lib_fail;
    dense = st.test_acc;
    /* phase 2 as `train --strategy continue`: masked trained weights, fresh schedule and
     * momentum */
    if ((rc = s24_pipeline_masks(m, &o, 2, 4)) != S24_OK) goto lib_fail;
    s24_sgd_reset(&o);
    if ((rc = s24_evaluate(m, &te, 500, &loss, &pruned)) != S24_OK) goto lib_fail;
    c.phase = 2;
    if ((rc = train_phase(m, &o, &c, &r, DEMO_EPOCHS2, &st)) != S24_OK) goto lib_fail;
    if ((rc = s24_pipeline_check(m, &o, 2, 4)) != S24_OK) goto lib_fail;
    if (tty) fprintf(stderr, "\r%70s\r", "");
    fprintf(out, "         test accuracy: dense %.2f%%, 2:4 right after pruning %.2f%%, 2:4 after "
                 "retraining %.2f%% (%+.2f points vs dense; chance 10%%)\n",
            dense, pruned, st.test_acc, st.test_acc - dense);
    fprintf(out, "         every pruned weight checked 2:4 after retraining (%.1f s)\n",
            s24_now() - t0);
    ec = S24_EXIT_OK;
    goto done;
lib_fail:
    if (tty) fputc('\n', stderr);
    ec = cli_lib_fail(cmd, rc);
done:
    s24_threads_set(threads);
    s24_sgd_free(&o);
    s24_model_free(m);
    s24_dataset_free(&tr);
    s24_dataset_free(&te);
    return ec;
}
