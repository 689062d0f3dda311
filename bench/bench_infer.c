/* bench_infer.c: `sparse24 bench infer`: the time of one whole-batch
 * inference forward of the engine's models through the inference plan
 * (sparse24_infer.h), on the dense, 2:4 and auto paths, per batch size and
 * dtype, as rows of the CSV that bench/torch_infer.py writes beside it in the
 * same device call (issue 11: model,resolution,batch,dtype,engine,path,ms,
 * img_s); and, with --layers, the per-layer table of one profiled run of
 * each plan.
 *
 * The networks: random weights (the registry's initialisation, a seed),
 * batch norms with random running statistics and affine parameters (so the
 * folding is not the identity), every maskable conv and linear pruned 2:4
 * by the pipeline's magnitude masks. Method: the batch is drawn once on the
 * host (normal, never zeros) and uploaded to the backend, so no host
 * transfer is timed (PyTorch's baseline keeps its batch on the GPU too);
 * `warmup` runs first (cuDNN's search, cuSPARSELt's plans, AUTO's
 * measurement), then `repeats` runs of each path at one batch and dtype,
 * in turn (run_group), each timed alone on the host clock
 * (s24_infer_run_be returns when the logits are written), and the median
 * is reported. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops.h"
#include "sparse24/sparse24_infer.h"
#include "sparse24/sparse24_train.h"

#define CMD "bench infer"
#define MAX_LIST 16

static void usage(FILE *f)
{
    fprintf(f,
"usage: sparse24 bench infer [--models a,b] [--batch LIST] [--dtype LIST] [options]\n"
"\n"
"Times one whole-batch inference forward (batch norms folded, 2:4 layers on the\n"
"2:4 GEMM where the path says so) per model, batch size, dtype and path, on\n"
"random 2:4-pruned weights and a random batch already on the device, and\n"
"prints the median time and images/s.\n"
"\n"
"options:\n"
"  --models LIST     comma-separated registry names (default resnet18,efficientnet_b0)\n"
"  --batch LIST      batch sizes (default 1,8,32,256,1024)\n"
"  --dtype LIST      fp16,bf16,int8 on a GPU (default fp16); fp32 or int8 (simulated)\n"
"                    on the CPU; int8 calibrates on the batch's first 64 images\n"
"  --paths LIST      dense,sparse,auto (default all three)\n"
"  --resolution LIST image sides (default: each architecture's own, 32 or 224),\n"
"                    each run on the family's variant built for it where the\n"
"                    registry has one (resnet18 at 224: resnet18_imagenet);\n"
"                    1000 classes from 224 up, else 10. --size N: one side\n"
"  --warmup N        untimed runs first (default 10)\n"
"  --repeats N       timed runs; the median is reported (default 50)\n"
"  --device D        cpu | cuda | auto (default auto)\n"
"  --gpu N           GPU ordinal (default 0)\n"
"  --seed N          weights and data (default 1)\n"
"  --csv FILE        append rows model,resolution,batch,dtype,engine,path,ms,img_s\n"
"                    (header written when the file is new)\n"
"  --layers FILE     append the per-layer table of one profiled run of each plan\n"
"                    (model,resolution,batch,dtype,path,layer,m,n,k,eligible,sparse,\n"
"                    ms,dense_ms,sparse_ms,share,engine,why)\n"
"  --threads N       " CLI_THREADS_HELP "\n"
"  --progress        " CLI_PROGRESS_HELP "\n"
"  -h, --help        this text\n"
"\n"
"exit codes: 0 success, 1 runtime failure, 2 bad usage\n");
}

struct bench {
    int batch[MAX_LIST], nb;
    int dtype[MAX_LIST], nd;
    int path[3], np;
    int res[MAX_LIST], nr;  /* --resolution (nr 0: each architecture's own size) */
    int warmup, repeats;
    uint64_t seed;
    FILE *csv, *layers;
    s24_backend_t *be;
    struct cli_progress *pr;
    double done, total; /* plans, for the progress line */
};

static const char *path_name(int p)
{
    return p == S24_INFER_DENSE ? "dense" : p == S24_INFER_SPARSE ? "sparse" : "auto";
}

static const char *dtype_name(int dt)
{
    return dt == S24_F16 ? "fp16" : dt == S24_BF16 ? "bf16" : dt == S24_I8 ? "int8" : "fp32";
}

/* Random norms, then the pipeline's 2:4 magnitude masks applied in place. */
static int make_model(const struct bench *b, const char *arch, int classes, s24_model_t **out)
{
    s24_model_t *m = NULL;
    struct s24_sgd o;
    memset(&o, 0, sizeof o);
    int rc = s24_model_create(arch, classes, b->seed, b->be, &m);
    if (rc == S24_OK) rc = s24_sgd_init(&o, m, 0.0f);
    if (rc == S24_OK) {
        struct s24_rng r;
        s24_rng_seed(&r, b->seed + 17);
        for (int i = 0; i < s24_model_num_params(m); i++) {
            struct s24_param *p = s24_model_param(m, i);
            for (int64_t j = 0; p->data && j < p->numel; j++) {
                if (p->kind == S24_B_RUNNING_VAR) p->data[j] = s24_rng_uniformf(&r, 0.5f, 2.0f);
                else if (p->kind == S24_B_RUNNING_MEAN || p->kind == S24_P_BN_BIAS)
                    p->data[j] = s24_rng_uniformf(&r, -0.2f, 0.2f);
                else if (p->kind == S24_P_BN_WEIGHT) p->data[j] = s24_rng_uniformf(&r, 0.5f, 1.5f);
            }
        }
        rc = s24_pipeline_masks(m, &o, 2, 4);
    }
    if (rc == S24_OK) rc = s24_model_to_backend(m);
    s24_sgd_free(&o);
    if (rc != S24_OK) {
        s24_model_free(m);
        return rc;
    }
    *out = m;
    return S24_OK;
}

static void write_layers(const struct bench *b, s24_infer_t *p, const char *arch, int size,
                         int batch, int dt, int path)
{
    int nl = s24_infer_num_layers(p);
    double total = 0;
    for (int i = 0; i < nl; i++) total += s24_infer_layer_at(p, i)->ms;
    for (int i = 0; i < nl; i++) {
        const struct s24_infer_layer *L = s24_infer_layer_at(p, i);
        fprintf(b->layers, "%s,%d,%d,%s,%s,%s,%lld,%lld,%lld,%d,%d,%.4f,%.4f,%.4f,%.4f,", arch,
                size, batch, dtype_name(dt), path_name(path), L->name, (long long)L->m,
                (long long)L->n, (long long)L->k, L->eligible, L->sparse, L->ms, L->dense_ms,
                L->sparse_ms, total > 0 ? L->ms / total : 0.0);
        /* the free text fields may hold commas */
        cli_csv_field(b->layers, L->engine);
        fputc(',', b->layers);
        cli_csv_field(b->layers, L->why);
        fputc('\n', b->layers);
    }
}

/* The rows of one batch and dtype, a plan per path. */
struct group {
    s24_infer_t *p[3];
    double setup[3];
    double *t[3]; /* b->repeats times per plan, ms */
};

static void report_plan(struct bench *b, s24_infer_t *p, const char *arch, int size, int batch,
                        int dt, int path, double setup, double *t)
{
    cli_sort_doubles(t, b->repeats);
    double med = t[b->repeats / 2];
    int sp = 0, nl = s24_infer_num_layers(p), el = 0;
    for (int i = 0; i < nl; i++)
        sp += s24_infer_layer_at(p, i)->sparse, el += s24_infer_layer_at(p, i)->eligible;
    char su[40] = "";
    if (b->warmup > 0) snprintf(su, sizeof su, ", set up in %.2f s", setup);
    printf("%-18s %4d %6d %-5s %-6s %9.4f ms (min %.4f, max %.4f) %10.1f img/s  %d of %d 2:4 "
           "layers sparse%s\n",
           arch, size, batch, dtype_name(dt), path_name(path), med, t[0], t[b->repeats - 1],
           batch / med * 1e3, sp, el, su);
    if (b->csv)
        fprintf(b->csv, "%s,%d,%d,%s,sparse24,%s,%.4f,%.1f\n", arch, size, batch, dtype_name(dt),
                path_name(path), med, batch / med * 1e3);
}

/* The plans of every path at one batch and dtype: created and warmed up
 * (the first run is the setup: cuDNN's search, cuSPARSELt's plans, AUTO's
 * measurement), then timed in turn, one run of each per round with the
 * order rotating, so a change of clock or a neighbour's load falls on all
 * paths alike instead of on whichever ran last, and the warm-up lasts at
 * least MIN_WARM_S (ten runs of a small batch take a few milliseconds).
 * Timed this way on the H200 the dense plan's gap to an auto plan whose
 * layers all ran dense stayed (ResNet18-CIFAR, batch 32: 0.61 against 0.35
 * ms, docs/results/infer-h200.md): it lies in the plans, not the timing. */
#define MIN_WARM_S 0.3
static int run_group(struct bench *b, s24_model_t *m, const char *arch, int size, int batch,
                     int dt, const float *hx, const float *x, float *y, struct group *g)
{
    int rc = S24_OK, np = b->np;
    for (int k = 0; k < np && rc == S24_OK; k++) {
        struct s24_infer_opts o;
        s24_infer_opts_init(&o);
        o.path = b->path[k], o.dtype = dt;
        /* int8: the activation scales from the batch's own first images (host
         * copies), so the random input stays in range; part of the setup */
        o.calib = hx, o.calib_n = batch < 64 ? batch : 64, o.calib_h = o.calib_w = size;
        double s0 = s24_now();
        rc = s24_infer_create2(m, &o, &g->p[k]);
        /* the plan is made lazily, in its first run: setup is create + first run */
        if (rc == S24_OK && b->warmup > 0) rc = s24_infer_run_be(g->p[k], x, batch, size, size, y);
        g->setup[k] = s24_now() - s0;
        cli_progress_step(b->pr, b->done + k, b->total, "%s batch %d %s %s", arch, batch,
                          dtype_name(dt), path_name(b->path[k]));
    }
    double w0 = s24_now();
    for (int i = 1; rc == S24_OK && b->warmup > 0 && (i < b->warmup || s24_now() - w0 < MIN_WARM_S);
         i++)
        for (int k = 0; k < np && rc == S24_OK; k++)
            rc = s24_infer_run_be(g->p[k], x, batch, size, size, y);
    for (int i = 0; i < b->repeats && rc == S24_OK; i++)
        for (int j = 0; j < np && rc == S24_OK; j++) {
            int k = (i + j) % np;
            double t0 = s24_now();
            rc = s24_infer_run_be(g->p[k], x, batch, size, size, y);
            g->t[k][i] = (s24_now() - t0) * 1e3;
        }
    for (int k = 0; k < np && rc == S24_OK; k++) {
        report_plan(b, g->p[k], arch, size, batch, dt, b->path[k], g->setup[k], g->t[k]);
        if (b->layers) {
            /* one more run with per-layer events (they sync the stream per layer) */
            s24_infer_set_profile(g->p[k], 1);
            rc = s24_infer_run_be(g->p[k], x, batch, size, size, y);
            if (rc == S24_OK) write_layers(b, g->p[k], arch, size, batch, dt, b->path[k]);
        }
    }
    for (int k = 0; k < np; k++) {
        s24_infer_free(g->p[k]);
        g->p[k] = NULL;
    }
    b->done += np;
    return rc;
}

/* The registry's variant of arch's family built for `size` (resnet18 at
 * 224 is resnet18_imagenet), else arch itself, run at that size. */
static const char *variant(const char *arch, int size)
{
    const struct s24_arch_info *ai = s24_arch_find(arch);
    for (int i = 0; ai && i < s24_arch_count(); i++) {
        const struct s24_arch_info *v = s24_arch_at(i);
        if (!strcmp(v->family, ai->family) && v->size == size) return v->name;
    }
    return arch;
}

static int run_model(struct bench *b, const char *arch, int size)
{
    /* 10 classes at CIFAR sizes, ImageNet's 1000 from 224 (as
     * bench/torch_infer.py builds its baselines); rows name the model by
     * family and size, as issue 11's CSV does */
    const struct s24_arch_info *ai = s24_arch_find(arch);
    int classes = size >= 224 ? 1000 : 10, maxb = 0, rc;
    const char *fam = ai->family;
    printf("# %s at %dx%d, %d classes\n", arch, size, size, classes);
    for (int i = 0; i < b->nb; i++) maxb = b->batch[i] > maxb ? b->batch[i] : maxb;
    s24_model_t *m = NULL;
    if ((rc = make_model(b, arch, classes, &m)) != S24_OK) return rc;
    struct s24_backend *be = b->be;
    size_t xb = sizeof(float) * (size_t)maxb * (size_t)size * (size_t)size * 3;
    size_t yb = sizeof(float) * (size_t)maxb * (size_t)classes;
    float *hx = malloc(xb), *x = NULL, *y = NULL;
    struct group g;
    memset(&g, 0, sizeof g);
    double *t = malloc(sizeof(double) * (size_t)b->repeats * 3);
    for (int k = 0; k < 3 && t; k++) g.t[k] = t + (size_t)k * (size_t)b->repeats;
    if (!hx || !t) rc = s24_error(S24_ERR_NOMEM, "out of memory");
    if (rc == S24_OK) rc = s24_be_alloc(be, xb, (void **)&x);
    if (rc == S24_OK) rc = s24_be_alloc(be, yb, (void **)&y);
    if (rc == S24_OK) {
        struct s24_rng r;
        s24_rng_seed(&r, b->seed + 29);
        for (size_t i = 0; i < xb / sizeof(float); i++) hx[i] = (float)s24_rng_normal(&r);
        rc = be->ops->upload(be, x, hx, xb);
    }
    for (int i = 0; i < b->nb && rc == S24_OK; i++)
        for (int d = 0; d < b->nd && rc == S24_OK; d++)
            rc = run_group(b, m, fam, size, b->batch[i], b->dtype[d], hx, x, y, &g);
    cli_progress_end(b->pr);
    if (x) s24_be_free(be, x, xb);
    if (y) s24_be_free(be, y, yb);
    s24_model_free(m);
    free(hx), free(t);
    return rc;
}

/* "a,b,c" into up to MAX_LIST tokens, each checked by `one`; 0 on success. */
static int parse_list(const char *opt, const char *arg, int *out, int *n, int max,
                      int (*one)(const char *, int *))
{
    char buf[256];
    if (strlen(arg) >= sizeof buf) return cli_usage(CMD, "%s: list too long", opt);
    snprintf(buf, sizeof buf, "%s", arg);
    *n = 0;
    for (char *s = NULL, *tok = strtok_r(buf, ",", &s); tok; tok = strtok_r(NULL, ",", &s)) {
        if (*n == max) return cli_usage(CMD, "%s: at most %d entries", opt, max);
        if (one(tok, &out[*n])) return cli_usage(CMD, "%s: '%s' is not valid here", opt, tok);
        (*n)++;
    }
    if (!*n) return cli_usage(CMD, "%s: empty list", opt);
    return 0;
}

static int one_batch(const char *s, int *v)
{
    int64_t x;
    if (cli_parse_i64(s, 1, 65536, &x)) return -1;
    *v = (int)x;
    return 0;
}

static int one_res(const char *s, int *v)
{
    int64_t x;
    if (cli_parse_i64(s, 8, 1024, &x)) return -1;
    *v = (int)x;
    return 0;
}

static int one_dtype(const char *s, int *v)
{
    if (!strcmp(s, "fp16")) *v = S24_F16;
    else if (!strcmp(s, "bf16")) *v = S24_BF16;
    else if (!strcmp(s, "fp32")) *v = S24_F32;
    else if (!strcmp(s, "int8")) *v = S24_I8;
    else return -1;
    return 0;
}

static int one_path(const char *s, int *v)
{
    if (!strcmp(s, "dense")) *v = S24_INFER_DENSE;
    else if (!strcmp(s, "sparse")) *v = S24_INFER_SPARSE;
    else if (!strcmp(s, "auto")) *v = S24_INFER_AUTO;
    else return -1;
    return 0;
}

int bench_infer_main(int argc, char **argv)
{
    enum { O_MODELS = 256, O_BATCH, O_DTYPE, O_PATHS, O_SIZE, O_RES, O_WARMUP, O_REPEATS, O_DEVICE,
           O_GPU, O_SEED, O_CSV, O_LAYERS, O_THREADS, O_PROGRESS };
    static const struct option lo[] = {
        {"models", required_argument, 0, O_MODELS}, {"batch", required_argument, 0, O_BATCH},
        {"dtype", required_argument, 0, O_DTYPE},   {"paths", required_argument, 0, O_PATHS},
        {"size", required_argument, 0, O_SIZE},     {"resolution", required_argument, 0, O_RES},
        {"warmup", required_argument, 0, O_WARMUP},
        {"repeats", required_argument, 0, O_REPEATS}, {"device", required_argument, 0, O_DEVICE},
        {"gpu", required_argument, 0, O_GPU},       {"seed", required_argument, 0, O_SEED},
        {"csv", required_argument, 0, O_CSV},       {"layers", required_argument, 0, O_LAYERS},
        {"threads", required_argument, 0, O_THREADS}, {"progress", no_argument, 0, O_PROGRESS},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    struct bench b;
    memset(&b, 0, sizeof b);
    static const int def_batch[] = {1, 8, 32, 256, 1024};
    memcpy(b.batch, def_batch, sizeof def_batch);
    b.nb = 5, b.nd = 0, b.np = 3;
    b.path[0] = S24_INFER_DENSE, b.path[1] = S24_INFER_SPARSE, b.path[2] = S24_INFER_AUTO;
    b.warmup = 10, b.repeats = 50, b.seed = 1;
    const char *models = "resnet18,efficientnet_b0", *device = "auto", *csv = NULL, *layers = NULL;
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
            if (parse_list("--batch", optarg, b.batch, &b.nb, MAX_LIST, one_batch))
                return S24_EXIT_USAGE;
            break;
        case O_DTYPE:
            if (parse_list("--dtype", optarg, b.dtype, &b.nd, MAX_LIST, one_dtype))
                return S24_EXIT_USAGE;
            break;
        case O_PATHS:
            if (parse_list("--paths", optarg, b.path, &b.np, 3, one_path)) return S24_EXIT_USAGE;
            break;
        case O_SIZE:
        case O_RES:
            if (parse_list(opt == O_SIZE ? "--size" : "--resolution", optarg, b.res, &b.nr,
                           MAX_LIST, one_res))
                return S24_EXIT_USAGE;
            break;
        case O_WARMUP:
            if (cli_parse_i64(optarg, 0, 100000, &v))
                return cli_usage(CMD, "--warmup %s: expected 0..100000", optarg);
            b.warmup = (int)v;
            break;
        case O_REPEATS:
            if (cli_parse_i64(optarg, 1, 100000, &v))
                return cli_usage(CMD, "--repeats %s: expected 1..100000", optarg);
            b.repeats = (int)v;
            break;
        case O_DEVICE: device = optarg; break;
        case O_GPU:
            if (cli_parse_i64(optarg, 0, 1023, &v))
                return cli_usage(CMD, "--gpu %s: expected 0..1023", optarg);
            gpu = (int)v;
            break;
        case O_SEED:
            if (cli_parse_i64(optarg, 0, INT64_MAX, &v))
                return cli_usage(CMD, "--seed %s: expected a non-negative integer", optarg);
            b.seed = (uint64_t)v;
            break;
        case O_CSV: csv = optarg; break;
        case O_LAYERS: layers = optarg; break;
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
    int nmodels = 0;
    snprintf(list, sizeof list, "%s", models);
    for (char *s = NULL, *tok = strtok_r(list, ",", &s); tok; tok = strtok_r(NULL, ",", &s)) {
        if (!s24_arch_find(tok))
            return cli_usage(CMD, "--models: '%s': expected %s", tok, cli_model_list());
        nmodels++;
    }
    int rc = s24_backend_create(dev, gpu, &b.be);
    if (rc != S24_OK) return cli_lib_fail(CMD, rc);
    int on_cpu = s24_backend_device(b.be) == S24_DEVICE_CPU;
    if (!b.nd) b.dtype[0] = on_cpu ? S24_F32 : S24_F16, b.nd = 1;
    for (int d = 0; d < b.nd; d++)
        if (b.dtype[d] != S24_I8 && (b.dtype[d] == S24_F32) != on_cpu) {
            ec = cli_usage(CMD, "--dtype %s: the %s plan runs %s", dtype_name(b.dtype[d]),
                           s24_backend_name(b.be), on_cpu ? "fp32 or int8" : "fp16, bf16 or int8");
            goto done;
        }
    struct cli_progress pr;
    cli_progress_begin(&pr, CMD, force_progress);
    b.pr = &pr;
    b.total = (double)nmodels * (b.nr ? b.nr : 1) * b.nb * b.nd * b.np;
    if (csv &&
        !(b.csv = cli_open_csv(csv, "model,resolution,batch,dtype,engine,path,ms,img_s\n"))) {
        ec = cli_fail(CMD, "%s: cannot open for appending", csv);
        goto done;
    }
    if (layers && !(b.layers = cli_open_csv(layers, "model,resolution,batch,dtype,path,layer,m,n,k,"
                                                "eligible,sparse,ms,dense_ms,sparse_ms,share,"
                                                "engine,why\n"))) {
        ec = cli_fail(CMD, "%s: cannot open for appending", layers);
        goto done;
    }
    cli_stamp(stdout, "# ");
    printf("# backend: %s; warm-up %d, median of %d runs; random 2:4-pruned weights, batch on the "
           "device\n",
           s24_backend_name(b.be), b.warmup, b.repeats);
    snprintf(list, sizeof list, "%s", models);
    for (char *s = NULL, *tok = strtok_r(list, ",", &s); tok && ec == S24_EXIT_OK;
         tok = strtok_r(NULL, ",", &s))
        for (int r = 0; r < (b.nr ? b.nr : 1); r++) {
            int size = b.nr ? b.res[r] : s24_arch_find(tok)->size;
            if ((rc = run_model(&b, variant(tok, size), size)) != S24_OK) {
                ec = cli_lib_fail(CMD, rc);
                break;
            }
            fflush(stdout);
        }
done:
    if (b.csv && fclose(b.csv) && ec == S24_EXIT_OK) ec = cli_fail(CMD, "%s: write failed", csv);
    if (b.layers && fclose(b.layers) && ec == S24_EXIT_OK)
        ec = cli_fail(CMD, "%s: write failed", layers);
    s24_backend_free(b.be);
    return ec;
}
