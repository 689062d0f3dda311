/* test_train_graph.c: the training step as a replayed graph (src/nn/tgraph.c)
 * on the CPU backend, where a "graph" is the step's backend half called on
 * a copy of its context frozen when recorded (so the host path the GPU
 * takes runs here too):
 *   1. two epochs (with an evaluation between, and a short last batch) of
 *      smallcnn (2:4 masks) and efficientnet_b0 (dropout, stochastic depth)
 *      with S24_TRAIN_GRAPH=1 against =0: weights, momentum buffers, BN
 *      running statistics and counters, the epoch's losses and the data
 *      generator bit-identical, and the graph really replayed (2 of the 5
 *      steps of the first epoch, whose first step allocates, 3 of the
 *      second; the short last batch runs plainly);
 *   2. the runner's rules on a toy step: recorded after a plain step that
 *      allocated nothing, a short batch plainly beside the graph, dropped
 *      when backend memory moves and off after TG_REARMS drops, off for good
 *      with the reason when recording fails, an upload inside a replayed
 *      step refused (the CPU's stand-in for what a GPU cannot replay), the
 *      default off on the CPU and a bad S24_TRAIN_GRAPH refused.
 * The same comparison on the CUDA backend, where the graph is a CUDA graph,
 * is tests/gpu/test_train_graph_gpu.c. */
#include "t.h"

#include <unistd.h>

#include "nn/ops.h"
#include "nn/tgraph.h"
#include "sparse24/sparse24_nn.h"
#include "sparse24/sparse24_train.h"

#define EPOCHS 2
#define BATCH 4
#define NTRAIN 18 /* 5 steps: 4 of 4 images, 1 of 2 */

struct trained {
    s24_model_t *m;
    struct s24_sgd o;
    struct s24_rng r;
    int64_t step;
    struct s24_epoch_stats st[EPOCHS];
    int64_t replays[EPOCHS];
    char why[160];
};

static int train(struct trained *t, const char *arch, const char *graph,
                 const struct s24_dataset *tr, const struct s24_dataset *te)
{
    memset(t, 0, sizeof *t);
    setenv("S24_TRAIN_GRAPH", graph, 1);
    int rc = s24_model_create(arch, 10, 5, NULL, &t->m);
    if (rc == S24_OK) rc = s24_sgd_init(&t->o, t->m, 5e-4f);
    /* masked SGD on the eligible weights (efficientnet_b0's too) */
    if (rc == S24_OK) rc = s24_pipeline_masks(t->m, &t->o, 2, 4);
    if (rc == S24_OK) {
        char why[64];
        CHECK(s24_train_graphed(t->m, why, sizeof why) == 0 &&
                  !strcmp(why, "no training epoch yet"),
              "before any epoch: '%s'", why);
    }
    s24_rng_seed(&t->r, 11);
    struct s24_onecycle sched;
    s24_onecycle_paper(&sched, 0.1, EPOCHS, (NTRAIN + BATCH - 1) / BATCH);
    struct s24_epoch_cfg ec = {tr, te, BATCH, 5, {2, 1}, &sched, 1, 0, EPOCHS,
                               NULL, NULL, NULL, NULL, NULL};
    for (int e = 0; e < EPOCHS && rc == S24_OK; e++) {
        ec.epoch = e + 1;
        rc = s24_train_epoch(t->m, &t->o, &ec, &t->r, &t->step, &t->st[e]);
        t->replays[e] = s24_train_graphed(t->m, t->why, sizeof t->why);
    }
    unsetenv("S24_TRAIN_GRAPH");
    return rc;
}

static void drop(struct trained *t)
{
    if (t->m) s24_sgd_free(&t->o);
    s24_model_free(t->m);
}

static int same_floats(const float *a, const float *b, int64_t n)
{
    return (!a && !b) || (a && b && !memcmp(a, b, sizeof(float) * (size_t)n));
}

static void check_arch(const char *arch, int size)
{
    struct s24_synth_cfg sc;
    struct s24_dataset tr, te;
    s24_synth_default(&sc);
    sc.size = size, sc.n_train = NTRAIN, sc.n_test = 6;
    CHECK_OK(s24_synth_make(&sc, 1, &tr));
    CHECK_OK(s24_synth_make(&sc, 0, &te));
    struct trained p, g;
    int rp = train(&p, arch, "0", &tr, &te), rg = train(&g, arch, "1", &tr, &te);
    CHECK(rp == S24_OK && rg == S24_OK, "%s: training: %s", arch, s24_last_error());
    if (rp != S24_OK || rg != S24_OK) goto done;
    for (int e = 0; e < EPOCHS; e++) {
        CHECK(p.replays[e] == 0, "%s epoch %d: %lld replays with S24_TRAIN_GRAPH=0", arch, e + 1,
              (long long)p.replays[e]);
        /* epoch 1's first step makes the buffers, so its second runs
         * plainly too; later epochs' first steps find them made */
        CHECK(g.replays[e] == (e ? 3 : 2), "%s epoch %d: %lld replays of 5 steps, expected %d (%s)",
              arch, e + 1, (long long)g.replays[e], e ? 3 : 2, g.why);
        CHECK(!memcmp(&p.st[e].train_loss, &g.st[e].train_loss, sizeof(double)) &&
                  !memcmp(&p.st[e].test_loss, &g.st[e].test_loss, sizeof(double)),
              "%s epoch %d: losses %.9g / %.9g vs %.9g / %.9g", arch, e + 1, p.st[e].train_loss,
              p.st[e].test_loss, g.st[e].train_loss, g.st[e].test_loss);
    }
    CHECK(!strcmp(p.why, "S24_TRAIN_GRAPH=0") && !g.why[0], "%s: why '%s', '%s'", arch, p.why,
          g.why);
    CHECK(p.step == g.step && p.step == EPOCHS * 5, "%s: %lld and %lld steps", arch,
          (long long)p.step, (long long)g.step);
    CHECK(s24_rng_u64(&p.r) == s24_rng_u64(&g.r), "%s: the data generators parted", arch);
    int bad = 0, np = s24_model_num_params(p.m), counts = 0;
    for (int i = 0; i < np; i++) {
        const struct s24_param *a = s24_model_param(p.m, i), *b = s24_model_param(g.m, i);
        int same = same_floats(a->data, b->data, a->numel) &&
                   same_floats(p.o.buf[i], g.o.buf[i], a->numel);
        if (a->count) {
            same = same && *a->count == *b->count;
            counts += *a->count == EPOCHS * 5;
        }
        if (!same && bad++ < 5) printf("  %s: %s differs\n", arch, a->name);
    }
    CHECK(bad == 0, "%s: %d of %d tensors (weights, momentum, BN buffers) differ", arch, bad, np);
    CHECK(counts > 0, "%s: no BN counter at %d batches", arch, EPOCHS * 5);
done:
    drop(&p);
    drop(&g);
    s24_dataset_free(&tr);
    s24_dataset_free(&te);
}

/* ---- the runner's rules on a toy step: fn adds its context's `add` to a
 * backend counter and allocates on the calls asked to */
struct toy {
    struct s24_backend *be;
    int *calls;        /* host: calls of fn (plain or replayed) */
    int alloc_on;      /* the call (1-based) that allocates, 0 none */
    int add;
    float *acc;        /* backend (CPU) memory */
    int upload;        /* uploads add instead (host work a replay must not hold) */
};

static void *leak[8];
static int nleak;

static int toy_fn(void *arg)
{
    const struct toy *t = arg;
    if (++*t->calls == t->alloc_on && nleak < 8) s24_be_alloc(t->be, 64, &leak[nleak++]);
    if (t->upload) {
        float v = *t->acc + (float)t->add;
        return t->be->ops->upload(t->be, t->acc, &v, sizeof v);
    }
    *t->acc += (float)t->add;
    return S24_OK;
}

static int refuse(struct s24_backend *be, int (*fn)(void *), const void *arg, size_t bytes,
                  void **g)
{
    (void)be, (void)fn, (void)arg, (void)bytes;
    *g = NULL;
    return s24_error(S24_ERR_CUDA, "operation not permitted when stream is capturing");
}

static void test_rules(void)
{
    s24_backend_t *be = NULL;
    CHECK_OK(s24_backend_create(S24_DEVICE_CPU, 0, &be));
    if (!be) return;
    float acc = 0;
    int calls = 0;
    struct toy ctx = {be, &calls, 1, 1, &acc, 0};
    struct s24_tgraph t;
    setenv("S24_TRAIN_GRAPH", "1", 1);
    CHECK_OK(s24_tgraph_init(&t, be, 1, NULL));
    /* 1: allocates (plain), 2: plain, made nothing, 3: recorded + launched */
    for (int i = 0; i < 3; i++) CHECK_OK(s24_tgraph_run(&t, 4, toy_fn, &ctx, sizeof ctx));
    CHECK(t.plain == 2 && t.replays == 1 && t.g, "plain %lld, replays %lld", (long long)t.plain,
          (long long)t.replays);
    /* the recorded context is frozen: a later change is not replayed */
    ctx.add = 100;
    CHECK_OK(s24_tgraph_run(&t, 4, toy_fn, &ctx, sizeof ctx));
    CHECK(acc == 4.0f, "acc %g: the replay saw the changed context", acc);
    /* a short batch runs plainly (the live context), the graph stays */
    CHECK_OK(s24_tgraph_run(&t, 2, toy_fn, &ctx, sizeof ctx));
    CHECK(acc == 104.0f && t.plain == 3 && t.g, "acc %g, plain %lld", acc, (long long)t.plain);
    ctx.add = 1;
    /* memory moved between steps: dropped, plain, recorded again */
    for (int k = 1; k <= 4; k++) {
        void *p = NULL;
        CHECK_OK(s24_be_alloc(be, 32, &p));
        s24_be_free(be, p, 32);
        int64_t r0 = t.replays;
        CHECK_OK(s24_tgraph_run(&t, 4, toy_fn, &ctx, sizeof ctx)); /* plain */
        CHECK_OK(s24_tgraph_run(&t, 4, toy_fn, &ctx, sizeof ctx)); /* recorded, or plain */
        CHECK(k <= 3 ? t.replays == r0 + 1 && !t.off : t.off && t.replays == r0,
              "move %d: replays %lld (from %lld), off %d", k, (long long)t.replays,
              (long long)r0, t.off);
    }
    CHECK(t.off && strstr(t.why, "between steps"), "why '%s'", t.why);
    s24_tgraph_free(&t);

    /* a refused recording: plain for good, that step included, reason kept */
    struct s24_be_ops ops = *be->ops;
    const struct s24_be_ops *real = be->ops;
    ops.graph_capture = refuse;
    be->ops = &ops;
    calls = 0, ctx.alloc_on = 0;
    CHECK_OK(s24_tgraph_init(&t, be, 1, NULL));
    for (int i = 0; i < 4; i++) CHECK_OK(s24_tgraph_run(&t, 4, toy_fn, &ctx, sizeof ctx));
    CHECK(calls == 4 && t.plain == 4 && t.replays == 0 && t.off, "calls %d, plain %lld", calls,
          (long long)t.plain);
    CHECK(strstr(s24_tgraph_why(&t), "recording the step: operation not permitted"), "why '%s'",
          s24_tgraph_why(&t));
    s24_tgraph_free(&t);
    be->ops = real;

    /* an upload inside the step: fine plainly, refused in a replay (on a
     * GPU it would be recorded reading the host buffer as it is then) */
    ctx.upload = 1;
    CHECK_OK(s24_tgraph_init(&t, be, 1, NULL));
    CHECK_OK(s24_tgraph_run(&t, 4, toy_fn, &ctx, sizeof ctx));
    CHECK(s24_tgraph_run(&t, 4, toy_fn, &ctx, sizeof ctx) == S24_ERR_INVALID &&
              strstr(s24_last_error(), "an upload inside a recorded step"),
          "an upload in a replay: %s", s24_last_error());
    s24_tgraph_free(&t);
    ctx.upload = 0;

    /* not allowed (data parallel), off, default, refused values */
    CHECK_OK(s24_tgraph_init(&t, be, 0, "data parallel"));
    CHECK(!t.want && !strcmp(s24_tgraph_why(&t), "data parallel"), "why '%s'", t.why);
    unsetenv("S24_TRAIN_GRAPH");
    CHECK_OK(s24_tgraph_init(&t, be, 1, NULL));
    CHECK(!t.want && strstr(t.why, "off by default"), "default on the CPU: want %d, why '%s'",
          t.want, t.why);
    setenv("S24_TRAIN_GRAPH", "yes", 1);
    CHECK(s24_tgraph_init(&t, be, 1, NULL) == S24_ERR_INVALID);
    unsetenv("S24_TRAIN_GRAPH");
    for (int i = 0; i < nleak; i++) s24_be_free(be, leak[i], 64);
    s24_backend_free(be);
}

int main(int argc, char **argv)
{
    t_passive_omp(argc, argv); /* see t.h */
    s24_threads_set(2);
    test_rules();
    check_arch("smallcnn", 16);
    check_arch("efficientnet_b0", 32);
    return t_done("test_train_graph");
}
