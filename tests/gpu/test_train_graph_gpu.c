/* test_train_graph_gpu.c: the training step replayed as a CUDA graph
 * (src/nn/tgraph.c, the CUDA backend's graph_capture) against the same step
 * run plainly (needs a GPU; `make test-gpu`):
 *   1. two epochs of resnet18 and efficientnet_b0 (dropout and stochastic
 *      depth on, 2:4 masks, an evaluation between the epochs, a short last
 *      batch) with S24_TRAIN_GRAPH=1 against =0, each on a backend of its
 *      own with S24_DETERMINISTIC=1 (so both pick the same cuDNN algorithms):
 *      weights, momentum buffers, BN running statistics and counters
 *      bit-identical, the epoch losses equal up to the order of the loss
 *      kernel's atomic sums, and the graph really replayed (the count of
 *      replays per epoch printed, and why not where there were none); and
 *      in the default mode (cudnnFind) the graph is used too;
 *   2. a step that cannot be captured (it waits for the stream) falls back
 *      to plain steps with the reason kept and no error left behind, and a
 *      step that can be is replayed with the values its buffers hold at each
 *      launch, on the same backend afterwards.
 * The CPU twin (the host path with the graph forced on the CPU backend) is
 * tests/test_train_graph.c. Without a GPU it reports the skip and passes. */
#include "t.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "nn/ops.h"
#include "nn/tgraph.h"
#include "sparse24/sparse24_train.h"

#define EPOCHS 2
#define BATCH 16
#define NTRAIN (5 * BATCH + BATCH / 2) /* 6 steps an epoch, the last of 8 images */

struct trained {
    s24_backend_t *be;
    s24_model_t *m;
    struct s24_sgd o;
    struct s24_epoch_stats st[EPOCHS];
    int64_t replays[EPOCHS];
    char why[EPOCHS][160];
};

static int train(struct trained *t, const char *arch, const char *graph,
                 const struct s24_dataset *tr, const struct s24_dataset *te)
{
    memset(t, 0, sizeof *t);
    setenv("S24_TRAIN_GRAPH", graph, 1);
    int rc = s24_backend_create(S24_DEVICE_CUDA, 0, &t->be);
    if (rc == S24_OK) rc = s24_model_create(arch, 10, 5, t->be, &t->m);
    if (rc == S24_OK) rc = s24_sgd_init(&t->o, t->m, 5e-4f);
    if (rc == S24_OK) rc = s24_pipeline_masks(t->m, &t->o, 2, 4);
    struct s24_rng r;
    s24_rng_seed(&r, 11);
    struct s24_onecycle sched;
    s24_onecycle_paper(&sched, 0.1, EPOCHS, (NTRAIN + BATCH - 1) / BATCH);
    struct s24_epoch_cfg ec = {tr, te, BATCH, 20, {4, 1}, &sched, 1, 0, EPOCHS,
                               NULL, NULL, NULL, NULL, NULL};
    int64_t step = 0;
    for (int e = 0; e < EPOCHS && rc == S24_OK; e++) {
        ec.epoch = e + 1;
        rc = s24_train_epoch(t->m, &t->o, &ec, &r, &step, &t->st[e]);
        t->replays[e] = s24_train_graphed(t->m, t->why[e], sizeof t->why[e]);
    }
    if (rc == S24_OK) rc = s24_model_to_host(t->m);
    if (rc == S24_OK) rc = s24_sgd_to_host(&t->o);
    unsetenv("S24_TRAIN_GRAPH");
    return rc;
}

static void drop(struct trained *t)
{
    if (t->m) s24_sgd_free(&t->o);
    s24_model_free(t->m);
    s24_backend_free(t->be);
}

static int same_floats(const float *a, const float *b, int64_t n)
{
    return (!a && !b) || (a && b && !memcmp(a, b, sizeof(float) * (size_t)n));
}

/* The synthetic 32x32 train and test sets both checks train on. */
static void make_data(struct s24_dataset *tr, struct s24_dataset *te)
{
    struct s24_synth_cfg sc;
    s24_synth_default(&sc);
    sc.size = 32, sc.n_train = NTRAIN, sc.n_test = 50;
    CHECK_OK(s24_synth_make(&sc, 1, tr));
    CHECK_OK(s24_synth_make(&sc, 0, te));
}

static void check_arch(const char *arch)
{
    struct s24_dataset tr, te;
    make_data(&tr, &te);
    struct trained p, g;
    int rp = train(&p, arch, "0", &tr, &te);
    int rg = train(&g, arch, "1", &tr, &te);
    CHECK(rp == S24_OK && rg == S24_OK, "%s: training: %s", arch, s24_last_error());
    if (rp != S24_OK || rg != S24_OK) goto done;
    for (int e = 0; e < EPOCHS; e++) {
        printf("%s epoch %d: %lld of 6 steps replayed%s%s\n", arch, e + 1,
               (long long)g.replays[e], g.why[e][0] ? ": " : "", g.why[e]);
        CHECK(p.replays[e] == 0 && !strcmp(p.why[e], "S24_TRAIN_GRAPH=0"),
              "%s epoch %d: %lld replays with S24_TRAIN_GRAPH=0 (%s)", arch, e + 1,
              (long long)p.replays[e], p.why[e]);
        /* at least the middle steps: the first (or two, where the first
         * step at a shape allocates) and the short last run plainly */
        CHECK(g.replays[e] >= (e ? 4 : 3), "%s epoch %d: %lld replays of 6 steps (%s)", arch, e + 1,
              (long long)g.replays[e], g.why[e]);
        double dl = fabs(p.st[e].train_loss - g.st[e].train_loss);
        CHECK(dl <= 1e-12 * fabs(p.st[e].train_loss) && p.st[e].train_acc == g.st[e].train_acc &&
                  fabs(p.st[e].test_loss - g.st[e].test_loss) <= 1e-12 * fabs(p.st[e].test_loss) &&
                  p.st[e].test_acc == g.st[e].test_acc,
              "%s epoch %d: train %.12g %.4f test %.12g %.4f plain, "
              "%.12g %.4f / %.12g %.4f graphed",
              arch, e + 1, p.st[e].train_loss, p.st[e].train_acc, p.st[e].test_loss,
              p.st[e].test_acc, g.st[e].train_loss, g.st[e].train_acc, g.st[e].test_loss,
              g.st[e].test_acc);
    }
    int bad = 0, np = s24_model_num_params(p.m);
    for (int i = 0; i < np; i++) {
        const struct s24_param *a = s24_model_param(p.m, i), *b = s24_model_param(g.m, i);
        int same = same_floats(a->data, b->data, a->numel) &&
                   same_floats(p.o.buf[i], g.o.buf[i], a->numel) &&
                   (!a->count || *a->count == *b->count);
        if (!same && bad++ < 5) printf("  %s: %s differs\n", arch, a->name);
    }
    CHECK(bad == 0, "%s: %d of %d tensors (weights, momentum, BN buffers) differ", arch, bad, np);
done:
    drop(&p);
    drop(&g);
    s24_dataset_free(&tr);
    s24_dataset_free(&te);
}

/* In the default mode (cuDNN's algorithms timed by cudnnFind on the first
 * step at each shape, which allocates and waits) the graph is used as
 * well; the bits are not compared (timing may pick other algorithms). */
static void check_default_mode(const char *arch)
{
    struct s24_dataset tr, te;
    make_data(&tr, &te);
    struct trained g;
    CHECK_OK(train(&g, arch, "1", &tr, &te));
    for (int e = 0; e < EPOCHS && g.m; e++) {
        printf("%s (cudnnFind) epoch %d: %lld of 6 steps replayed%s%s\n", arch, e + 1,
               (long long)g.replays[e], g.why[e][0] ? ": " : "", g.why[e]);
        /* at least 3: a search in epoch 2's first step may grow the scratch */
        CHECK(g.replays[e] >= 3 && isfinite(g.st[e].train_loss),
              "%s (cudnnFind) epoch %d: %lld replays, loss %g (%s)", arch, e + 1,
              (long long)g.replays[e], g.st[e].train_loss, g.why[e]);
    }
    drop(&g);
    s24_dataset_free(&tr);
    s24_dataset_free(&te);
}

/* ---- capture on the CUDA backend: dx += dy, optionally waiting after */
struct toy {
    s24_backend_t *be;
    const float *dy;
    float *dx;
    int n, wait;
};

static int toy_fn(void *arg)
{
    const struct toy *t = arg;
    int rc = t->be->ops->acc(t->be, t->n, t->dy, t->dx);
    if (rc == S24_OK && t->wait) rc = t->be->ops->sync(t->be); /* refused while capturing */
    return rc;
}

static void check_capture(void)
{
    s24_backend_t *be = NULL;
    float *dy = NULL, *dx = NULL, h[64], out[64];
    setenv("S24_TRAIN_GRAPH", "1", 1);
    CHECK_OK(s24_backend_create(S24_DEVICE_CUDA, 0, &be));
    if (!be) goto done;
    CHECK_OK(s24_be_alloc(be, sizeof h, (void **)&dy));
    CHECK_OK(s24_be_alloc(be, sizeof h, (void **)&dx));
    for (int i = 0; i < 64; i++) h[i] = (float)i;
    CHECK_OK(be->ops->upload(be, dy, h, sizeof h));
    CHECK_OK(be->ops->zero(be, dx, sizeof h));
    struct toy t = {be, dy, dx, 64, 1};
    struct s24_tgraph tg;
    /* waiting inside the step: the recording fails, every step runs plainly */
    CHECK_OK(s24_tgraph_init(&tg, be, 1, NULL));
    for (int i = 0; i < 4; i++) CHECK_OK(s24_tgraph_run(&tg, 8, toy_fn, &t, sizeof t));
    printf("a step that waits: %s\n", s24_tgraph_why(&tg));
    CHECK(tg.off && tg.replays == 0 && tg.plain == 4 && strstr(tg.why, "recording the step"),
          "off %d, replays %lld, plain %lld, why '%s'", tg.off, (long long)tg.replays,
          (long long)tg.plain, tg.why);
    s24_tgraph_free(&tg);
    /* a step that does not wait (and allocates nothing): 1 plain, then 4
     * launches (the recording's included), each adding dy once, with dy
     * changed before the last: a replay reads what the buffers hold */
    t.wait = 0;
    CHECK_OK(s24_tgraph_init(&tg, be, 1, NULL));
    for (int i = 0; i < 4; i++) CHECK_OK(s24_tgraph_run(&tg, 8, toy_fn, &t, sizeof t));
    for (int i = 0; i < 64; i++) h[i] = 2.0f * (float)i;
    CHECK_OK(be->ops->upload(be, dy, h, sizeof h));
    CHECK_OK(s24_tgraph_run(&tg, 8, toy_fn, &t, sizeof t));
    CHECK(tg.replays == 4 && tg.plain == 1, "replays %lld, plain %lld (%s)",
          (long long)tg.replays, (long long)tg.plain, s24_tgraph_why(&tg));
    CHECK_OK(be->ops->download(be, out, dx, sizeof out));
    int bad = 0; /* 4 plain adds of i, 1 plain and 3 replayed of i, then 2i: 10 i */
    for (int i = 0; i < 64; i++) bad += out[i] != 10.0f * (float)i;
    CHECK(bad == 0, "%d of 64 sums wrong (dx[1] = %g, expected 10)", bad, out[1]);
    s24_tgraph_free(&tg);
done:
    if (be) s24_be_free(be, dy, sizeof h), s24_be_free(be, dx, sizeof h);
    s24_backend_free(be);
    unsetenv("S24_TRAIN_GRAPH");
}

int main(void)
{
    s24_backend_t *probe = NULL;
    int rc = s24_backend_create(S24_DEVICE_CUDA, 0, &probe);
    if (rc != S24_OK) {
        printf("test_train_graph_gpu: skipped (%s)\n", s24_last_error());
        return t_done("test_train_graph_gpu");
    }
    printf("test_train_graph_gpu: %s\n", s24_backend_name(probe));
    s24_backend_free(probe);
    check_capture();
    check_default_mode("efficientnet_b0");
    /* the same algorithms on both backends, so the bits can be compared */
    setenv("S24_DETERMINISTIC", "1", 1);
    check_arch("resnet18");
    check_arch("efficientnet_b0");
    unsetenv("S24_DETERMINISTIC");
    return t_done("test_train_graph_gpu");
}
