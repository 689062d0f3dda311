/* bench_train.c: `sparse24 bench train`: the time of one whole training step
 * (batch already on the backend, forward, loss, backward, masked SGD) of the
 * engine's models on a backend, with images/s and the backend allocator's
 * high-water mark, as rows of the CSV the PyTorch script
 * (bench/torch_train_step.py) writes beside it in the same device call; and a
 * per-op table (where the time goes) from one profiled step.
 *
 * Method: random data drawn once on the host and uploaded (never zeros);
 * `warmup` steps first (cuDNN's algorithm search, allocations); then
 * `repeats` groups of `group` back-to-back steps, each group timed between
 * two backend syncs on the host clock, so the step time is the median over
 * groups of group time / group (the queue between syncs stays full as in
 * training). Each step runs as the epoch loop runs it: its host half, then
 * its backend half plainly or, with S24_TRAIN_GRAPH=1, replayed as a CUDA
 * graph (src/nn/tgraph.h), and the output says which. Not here: data
 * augmentation or evaluation (`train` measures epochs end to end). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "nn/ops.h"
#include "nn/tgraph.h"
#include "sparse24/sparse24_train.h"

#define CMD "bench train"

static void usage(FILE *f)
{
    fprintf(f,
"usage: sparse24 bench train [--models a,b] [--batch N] [--device D] [options]\n"
"\n"
"Times a whole training step (forward, loss, backward, SGD with momentum and\n"
"weight decay) per model on random data already on the backend, and prints\n"
"step time, images/s and the peak memory the backend allocated (parameters,\n"
"gradients, momentum, activations and scratch). Each step runs as training\n"
"runs it: plainly, or with S24_TRAIN_GRAPH=1 replayed as a CUDA graph where it\n"
"can be; the output says whether it was, or why not, and splits the memory into\n"
"activations, their gradients, the parameters and the rest.\n"
"\n"
"options:\n"
"  --models LIST     comma-separated registry names (default resnet18,efficientnet_b0)\n"
"  --batch N         images per step (default 256)\n"
"  --size N          image side (default 32)\n"
"  --warmup N        untimed steps first (default 15)\n"
"  --group N         steps per timed group (default 5)\n"
"  --repeats N       timed groups; the median is reported (default 20)\n"
"  --device D        cpu | cuda | auto (default auto)\n"
"  --precision LIST  fp32,bf16 (default fp32): bf16 is the GPU's mixed mode (bf16\n"
"                    activations and convolutions, fp32 weights and optimiser),\n"
"                    each precision on a backend of its own\n"
"  --gpu N           GPU ordinal (default 0)\n"
"  --csv FILE        append rows model,engine,precision,step_ms,img_s,peak_mb\n"
"                    (header written when the file is new)\n"
"  --ops FILE        the per-op table of one profiled step as CSV\n"
"                    (model,precision,kind,count,fwd_ms,bwd_ms,total_ms,share)\n"
"  --nodes           also print the profiled step node by node\n"
"  --threads N       " CLI_THREADS_HELP "\n"
"  --progress        " CLI_PROGRESS_HELP "\n"
"                    (on a terminal it is always drawn)\n"
"  -h, --help        this text\n"
"\n"
"exit codes: 0 success, 1 runtime failure, 2 bad usage\n");
}

struct bench {
    int batch, size, warmup, group, repeats, nodes;
    FILE *csv, *ops;
    s24_backend_t *be;
    struct cli_progress *pr; /* steps of all models: warm-up + timed */
    int model_i, nmodels;
    const char *prec; /* "fp32" or "bf16": the backend's (s24_backend_precision) */
};

/* One step's backend half (src/nn/tgraph.h): zeroed gradients, forward,
 * loss, backward, the masked SGD update, all on buffers fixed for the run. */
struct step {
    s24_model_t *m;
    struct s24_sgd *o;
    const float *x;
    const int32_t *y;
    double *acc;
    int batch, size;
};

static int step_body(void *arg)
{
    const struct step *s = arg;
    int rc;
    s24_model_zero_grad(s->m);
    if ((rc = s24_model_run_be(s->m, s->x, s->batch, s->size, s->size, 1)) != S24_OK) return rc;
    if ((rc = s24_model_loss_backward(s->m, s->y, s->acc)) != S24_OK) return rc;
    return s24_sgd_apply(s->o, s->m);
}

/* The host half (dropout keys, learning rate and momentum uploaded), then
 * the backend half plainly or as a graph replay, as the epoch loop runs it. */
static int one_step(struct s24_tgraph *tg, const struct step *s)
{
    int rc;
    if ((rc = s24_model_prepare(s->m, 1)) != S24_OK) return rc;
    /* a fixed point of the paper's schedule: its values do not change the cost */
    if ((rc = s24_sgd_hyper(s->o, 0.05f, 0.9f)) != S24_OK) return rc;
    return s24_tgraph_run(tg, s->batch, step_body, s, sizeof *s);
}

/* Per-op table: times summed by node kind. */
static int profile(const struct bench *b, s24_model_t *m, const char *arch, const float *x,
                   const int32_t *y)
{
    int nn = s24_model_num_nodes(m), rc;
    double *ms = calloc((size_t)(2 * nn), sizeof *ms);
    if (!ms) return s24_error(S24_ERR_NOMEM, "out of memory");
    if ((rc = s24_model_profile(m, x, y, b->batch, b->size, b->size, ms)) != S24_OK) {
        free(ms);
        return rc;
    }
    static const char *const kinds[] = {"conv", "bn", "act", "add", "gap", "scale", "linear",
                                        "dropout", "sdepth", "maxpool"};
    double total = 0;
    for (int i = 0; i < 2 * nn; i++) total += ms[i];
    if (b->nodes)
        for (int i = 0; i < nn; i++)
            printf("  node %3d %-8s fwd %8.4f ms bwd %8.4f ms\n", i, s24_model_node_kind(m, i),
                   ms[2 * i], ms[2 * i + 1]);
    printf("%s: profiled step, %d nodes, %.3f ms in nodes (loss counted with the last backward)\n",
           arch, nn, total);
    printf("  %-8s %5s %10s %10s %10s %6s\n", "kind", "count", "fwd_ms", "bwd_ms", "total_ms",
           "share");
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        double f = 0, bw = 0;
        int count = 0;
        for (int i = 0; i < nn; i++)
            if (!strcmp(s24_model_node_kind(m, i), kinds[k]))
                f += ms[2 * i], bw += ms[2 * i + 1], count++;
        if (!count) continue;
        printf("  %-8s %5d %10.3f %10.3f %10.3f %5.1f%%\n", kinds[k], count, f, bw, f + bw,
               100 * (f + bw) / (total > 0 ? total : 1));
        if (b->ops)
            fprintf(b->ops, "%s,%s,%s,%d,%.4f,%.4f,%.4f,%.4f\n", arch, b->prec, kinds[k], count, f,
                    bw, f + bw, (f + bw) / (total > 0 ? total : 1));
    }
    free(ms);
    return S24_OK;
}

static int run_model(const struct bench *b, const char *arch)
{
    s24_model_t *m = NULL;
    struct s24_sgd o;
    memset(&o, 0, sizeof o);
    float *hx = NULL, *x = NULL;
    int32_t *hy = NULL, *y = NULL;
    double *acc = NULL, *t = NULL;
    struct s24_backend *be = b->be;
    int64_t nx = (int64_t)b->batch * b->size * b->size * 3;
    size_t xb = s24_be_act_size(be) * (size_t)nx;
    size_t yb = sizeof(int32_t) * (size_t)b->batch;
    struct s24_tgraph tg;
    memset(&tg, 0, sizeof tg);
    s24_backend_reset_peak(be);
    int rc = s24_model_create(arch, 10, 1, be, &m);
    if (rc == S24_OK) rc = s24_sgd_init(&o, m, 5e-4f);
    hx = malloc(sizeof(float) * (size_t)nx), hy = malloc(yb);
    t = malloc(sizeof(double) * (size_t)b->repeats);
    if (rc == S24_OK && (!hx || !hy || !t)) rc = s24_error(S24_ERR_NOMEM, "out of memory");
    if (rc == S24_OK) rc = s24_be_alloc(be, xb, (void **)&x);
    if (rc == S24_OK) rc = s24_be_alloc(be, yb, (void **)&y);
    if (rc == S24_OK) rc = s24_be_alloc(be, 2 * sizeof(double), (void **)&acc);
    if (rc != S24_OK) goto done;
    struct s24_rng r;
    s24_rng_seed(&r, 7);
    for (int64_t i = 0; i < nx; i++) hx[i] = (float)s24_rng_normal(&r);
    for (int i = 0; i < b->batch; i++) hy[i] = (int32_t)s24_rng_below(&r, 10);
    if ((rc = s24_be_put_act(be, x, hx, nx)) || (rc = be->ops->upload(be, y, hy, yb)) ||
        (rc = be->ops->zero(be, acc, 2 * sizeof(double))))
        goto done;
    struct step st = {m, &o, x, y, acc, b->batch, b->size};
    if ((rc = s24_tgraph_init(&tg, be, 1, NULL)) != S24_OK) goto done;
    const double per = b->warmup + (double)b->repeats * b->group, at = b->model_i * per;
    for (int i = 0; i < b->warmup && rc == S24_OK; i++) {
        cli_progress_step(b->pr, at + i, b->nmodels * per, "%s warm-up %d/%d", arch, i + 1,
                          b->warmup);
        rc = one_step(&tg, &st);
    }
    if (rc == S24_OK) rc = s24_backend_sync(be);
    for (int k = 0; k < b->repeats && rc == S24_OK; k++) {
        /* drawn between groups, outside the timed region */
        cli_progress_step(b->pr, at + b->warmup + (double)k * b->group, b->nmodels * per,
                          "%s group %d/%d", arch, k + 1, b->repeats);
        double t0 = s24_now();
        for (int i = 0; i < b->group && rc == S24_OK; i++) rc = one_step(&tg, &st);
        if (rc == S24_OK) rc = s24_backend_sync(be);
        t[k] = (s24_now() - t0) / b->group;
    }
    cli_progress_end(b->pr);
    if (rc != S24_OK) goto done;
    double sums[2];
    if ((rc = be->ops->download(be, sums, acc, sizeof sums)) != S24_OK) goto done;
    if (sums[0] != sums[0]) {
        rc = s24_error(S24_ERR_INVALID, "%s: the loss went NaN while timing", arch);
        goto done;
    }
    cli_sort_doubles(t, b->repeats);
    double med = t[b->repeats / 2] * 1e3, lo = t[0] * 1e3, hi = t[b->repeats - 1] * 1e3;
    size_t peak = 0;
    s24_backend_bytes(be, &peak);
    /* fp32: on the GPU TF32 tensor-core math unless S24_TF32=0, as PyTorch's
     * fp32 mode with allow_tf32 (the baseline's setting); bf16: the mixed mode */
    const char *prec = b->prec;
    printf(
        "%s %s: step %.3f ms (min %.3f, max %.3f over %d groups of %d), %.0f img/s, peak %.1f "
        "MiB\n", arch, prec, med, lo, hi, b->repeats, b->group, b->batch / med * 1e3,
        (double)peak / 1048576.0);
    struct s24_model_mem mm;
    if (s24_model_memory(m, &mm) == S24_OK) {
        size_t own = mm.activations + mm.act_grads + mm.params;
        printf("%s: memory: activations %.1f MiB, activation gradients %.1f, parameters and "
               "their gradients %.1f, the rest (optimiser state, data, scratch) %.1f\n",
               arch, (double)mm.activations / 1048576.0, (double)mm.act_grads / 1048576.0,
               (double)mm.params / 1048576.0,
               (double)(peak > own ? peak - own : 0) / 1048576.0);
    }
    /* the timed steps are graph replays only where every one of them was */
    int graphed = tg.replays >= (int64_t)b->repeats * b->group;
    if (graphed)
        printf("%s: graphed: %lld of %lld steps replayed as a graph\n", arch, (long long)tg.replays,
               (long long)(tg.replays + tg.plain));
    else
        printf("%s: not graphed (%lld of %lld steps replayed): %s\n", arch, (long long)tg.replays,
               (long long)(tg.replays + tg.plain),
               tg.replays ? "the first two steps run plainly (--warmup 2 or more)"
                          : s24_tgraph_why(&tg));
    /* engine `sparse24` whatever the steps ran as (issue 9's named values);
     * a graphed run goes to a CSV of its own (run_train_bench.sh GRAPH=1) */
    if (b->csv)
        fprintf(b->csv, "%s,sparse24,%s,%.4f,%.1f,%.1f\n", arch, prec, med, b->batch / med * 1e3,
                (double)peak / 1048576.0);
    s24_tgraph_free(&tg); /* the profile runs plainly, node by node */
    rc = profile(b, m, arch, x, y);
done:
    s24_tgraph_free(&tg);
    if (x) s24_be_free(be, x, xb);
    if (y) s24_be_free(be, y, yb);
    if (acc) s24_be_free(be, acc, 2 * sizeof(double));
    if (m) s24_sgd_free(&o);
    s24_model_free(m);
    free(hx), free(hy), free(t);
    return rc;
}

int bench_train_main(int argc, char **argv)
{
    enum { O_MODELS = 256, O_BATCH, O_SIZE, O_WARMUP, O_GROUP, O_REPEATS, O_DEVICE, O_GPU, O_CSV,
           O_OPS, O_THREADS, O_NODES, O_PROGRESS, O_PRECISION };
    static const struct option lo[] = {
        {"models", required_argument, 0, O_MODELS}, {"batch", required_argument, 0, O_BATCH},
        {"size", required_argument, 0, O_SIZE},     {"warmup", required_argument, 0, O_WARMUP},
        {"group", required_argument, 0, O_GROUP},   {"repeats", required_argument, 0, O_REPEATS},
        {"device", required_argument, 0, O_DEVICE}, {"gpu", required_argument, 0, O_GPU},
        {"csv", required_argument, 0, O_CSV},       {"ops", required_argument, 0, O_OPS},
        {"threads", required_argument, 0, O_THREADS}, {"nodes", no_argument, 0, O_NODES},
        {"progress", no_argument, 0, O_PROGRESS},
        {"precision", required_argument, 0, O_PRECISION},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    struct bench b = {256, 32, 15, 5, 20, 0, NULL, NULL, NULL, NULL, 0, 0, "fp32"};
    const char *models = "resnet18,efficientnet_b0", *device = "auto", *csv = NULL, *ops = NULL;
    const char *precs = "fp32";
    int gpu = 0, ec = S24_EXIT_OK, force_progress = 0;
    int64_t v;
    optind = 1;
    for (;;) {
        int opt = getopt_long(argc, argv, "h", lo, NULL);
        if (opt == -1) break;
        switch (opt) {
        case 'h': usage(stdout); return S24_EXIT_OK;
        case O_MODELS: models = optarg; break;
        case O_BATCH:
            if (cli_parse_i64(optarg, 2, 65536, &v))
                return cli_usage(CMD, "--batch %s: expected 2..65536", optarg);
            b.batch = (int)v;
            break;
        case O_SIZE:
            if (cli_parse_i64(optarg, 8, 512, &v))
                return cli_usage(CMD, "--size %s: expected 8..512", optarg);
            b.size = (int)v;
            break;
        case O_WARMUP:
            if (cli_parse_i64(optarg, 0, 100000, &v))
                return cli_usage(CMD, "--warmup %s: expected 0..100000", optarg);
            b.warmup = (int)v;
            break;
        case O_GROUP:
            if (cli_parse_i64(optarg, 1, 10000, &v))
                return cli_usage(CMD, "--group %s: expected 1..10000", optarg);
            b.group = (int)v;
            break;
        case O_REPEATS:
            if (cli_parse_i64(optarg, 1, 100000, &v))
                return cli_usage(CMD, "--repeats %s: expected 1..100000", optarg);
            b.repeats = (int)v;
            break;
        case O_DEVICE: device = optarg; break;
        case O_PRECISION: precs = optarg; break;
        case O_GPU:
            if (cli_parse_i64(optarg, 0, 1023, &v))
                return cli_usage(CMD, "--gpu %s: expected 0..1023", optarg);
            gpu = (int)v;
            break;
        case O_CSV: csv = optarg; break;
        case O_OPS: ops = optarg; break;
        case O_NODES: b.nodes = 1; break;
        case O_PROGRESS: force_progress = 1; break;
        case O_THREADS:
            if (cli_threads(CMD, optarg)) return S24_EXIT_USAGE;
            break;
        default: return cli_usage(CMD, "unknown option");
        }
    }
    if (optind < argc) return cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    enum s24_device dev;
    if (cli_device(device, &dev))
        return cli_usage(CMD, "--device %s: expected cpu, cuda or auto", device);
    char list[1024];
    snprintf(list, sizeof list, "%s", models);
    for (char *s = NULL, *tok = strtok_r(list, ",", &s); tok; tok = strtok_r(NULL, ",", &s)) {
        if (!s24_arch_find(tok))
            return cli_usage(CMD, "--models: '%s': expected %s", tok, cli_model_list());
        b.nmodels++;
    }
    char plist[64];
    int nprec = 0;
    snprintf(plist, sizeof plist, "%s", precs);
    for (char *s = NULL, *tok = strtok_r(plist, ",", &s); tok; tok = strtok_r(NULL, ",", &s)) {
        enum s24_dtype act;
        if (cli_precision(tok, &act))
            return cli_usage(CMD, "--precision: '%s': expected fp32 or bf16", tok);
        nprec++;
    }
    if (!nprec) return cli_usage(CMD, "--precision: empty list");
    struct cli_progress pr;
    cli_progress_begin(&pr, CMD, force_progress);
    b.pr = &pr;
    b.nmodels *= nprec;
    int rc = S24_OK;
    if (csv && !(b.csv = cli_open_csv(csv, "model,engine,precision,step_ms,img_s,peak_mb\n"))) {
        ec = cli_fail(CMD, "%s: cannot open for appending", csv);
        goto done;
    }
    if (ops && !(b.ops = cli_open_csv(ops, "model,precision,kind,count,fwd_ms,bwd_ms,total_ms,"
                                           "share\n"))) {
        ec = cli_fail(CMD, "%s: cannot open for appending", ops);
        goto done;
    }
    cli_stamp(stdout, "# ");
    snprintf(plist, sizeof plist, "%s", precs);
    for (char *sp = NULL, *pt = strtok_r(plist, ",", &sp); pt && ec == S24_EXIT_OK;
         pt = strtok_r(NULL, ",", &sp)) {
        /* a backend per precision: the mode is set before anything is allocated */
        enum s24_dtype act = S24_F32;
        b.prec = pt;
        cli_precision(pt, &act); /* checked above */
        if ((rc = s24_backend_create(dev, gpu, &b.be)) != S24_OK ||
            (rc = s24_backend_set_precision(b.be, act))) {
            ec = cli_lib_fail(CMD, rc);
            break;
        }
        printf("# backend: %s, %s; batch %d, %dx%d, warm-up %d, median of %d groups of %d steps\n",
               s24_backend_name(b.be), pt, b.batch, b.size, b.size, b.warmup, b.repeats, b.group);
        snprintf(list, sizeof list, "%s", models);
        for (char *s = NULL, *tok = strtok_r(list, ",", &s); tok; tok = strtok_r(NULL, ",", &s)) {
            if ((rc = run_model(&b, tok)) != S24_OK) {
                ec = cli_lib_fail(CMD, rc);
                break;
            }
            b.model_i++;
            fflush(stdout);
        }
        s24_backend_free(b.be);
        b.be = NULL;
    }
done:
    if (b.csv && fclose(b.csv) && ec == S24_EXIT_OK) ec = cli_fail(CMD, "%s: write failed", csv);
    if (b.ops && fclose(b.ops) && ec == S24_EXIT_OK) ec = cli_fail(CMD, "%s: write failed", ops);
    s24_backend_free(b.be);
    return ec;
}
