/* cmd_infer.c: `sparse24 infer`: a checkpoint run through the inference
 * plan (batch norms folded, 2:4 layers on the 2:4 GEMM, the CPU's or
 * cuSPARSELt on a GPU, where asked for or where measured faster, the rest
 * dense): test accuracy, how often the plan predicts what the model's own
 * fp32 eval forward does, images/s of the
 * plan and of the same plan all dense (timed alternately, medians), and the
 * per-layer report of which path each layer took, why, and how long it ran.
 * It never changes the checkpoint. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparse24/sparse24_infer.h"
#include "sparse24/sparse24_train.h"
#include "train_data.h"

/* The CSVs' headers (written when the file is new): one row per run, and
 * the per-layer rows of the profiled run of the plan. */
#define INFER_CSV_HEAD                                                                             \
    "model,device,dtype,path,images,batch,acc_plan,acc_dense_plan,acc_eval,agree_plan,"           \
    "agree_dense_plan,plan_ms,dense_ms,threads,agree_plan_dense\n"
#define INFER_LAYERS_HEAD                                                                          \
    "model,device,dtype,path,batch,layer,sparse,m,n,k,plan_ms,dense_ms,share,why,engine\n"

static void usage(FILE *f)
{
    fprintf(f,
"usage: sparse24 infer --model M --checkpoint FILE [--data DIR|synthetic] [options]\n"
"\n"
"Runs the checkpoint in evaluation mode through the inference plan: every batch\n"
"norm folded into the conv before it; each conv and linear layer whose weight\n"
"is 2:4 along its input channels through the 2:4 sparse GEMM (--path sparse),\n"
"dense (--path dense), or whichever of the two measured faster on its input at\n"
"the first batch (--path auto); the rest dense. A layer that is not 2:4 runs\n"
"dense on every path, --path sparse included, and its line says why. Prints the\n"
"test accuracy of the plan, of the same plan run all dense and of the model's\n"
"own fp32 eval forward (the masked network as training evaluates it), on how\n"
"many test images each plan predicts the class the eval forward does, images/s\n"
"of the plan against the same plan run all dense (alternating batches,\n"
"medians), and a line per layer with its path, time, share and why. On the GPU "
"(--device cuda) the plan runs fp16 or bf16 NHWC: dense\n"
"layers on cuDNN, 2:4 layers on cuSPARSELt. --dtype int8 runs the 2:4 GEMMs on\n"
"int8 (the rest fp16; on the CPU an fp32 simulation of it), calibrated on the\n"
"first --calib test images; its dense plan is then the float type's.\n"
"\n"
"options:\n"
"  --model M            %s\n"
"  --checkpoint FILE    safetensors in PyTorch's layout and torchvision's names\n"
"  --data DIR|synthetic CIFAR-10 binary folder or the built-in synthetic set (default)\n"
"  --path P             auto (default), sparse (every 2:4 layer) or dense\n"
"  --batch N            images per run (default 64)\n"
"  --limit-test N       only the first N test images\n"
"  --repeats N          timed runs of each plan on the first batch (default 5)\n"
"  --synthetic-size N   synthetic image side (default 32; match the training run)\n"
"  --synthetic-test N   synthetic test images (default 2000)\n"
"  --device D           cpu, cuda or auto (default auto: cuda where a GPU answers,\n"
"                       as train and eval; the CPU for --dtype fp32)\n"
"  --dtype T            fp16 (the GPU's default), bf16 or int8 on the GPU; fp32 or\n"
"                       int8 (simulated in fp32) on the CPU\n"
"  --calib N            int8: activation scales from the first N test images\n"
"                       (default 256)\n"
"  --threads N          " CLI_THREADS_HELP "\n"
"  --csv FILE           append one row: " INFER_CSV_HEAD
"                       (accuracies and agreements in %%, times the medians in ms)\n"
"  --layers FILE        append the per-layer table: " INFER_LAYERS_HEAD
"  --progress           " CLI_PROGRESS_HELP "\n"
"                       (on a terminal it is always drawn)\n"
"  -h, --help           this text\n"
"\n"
"exit codes: 0 success, 1 runtime failure, 2 bad usage\n",
            cli_model_list());
}

static const char *path_name(int path)
{
    return path == S24_INFER_AUTO ? "auto" : path == S24_INFER_SPARSE ? "2:4" : "dense";
}

static int argmax10(const float *v)
{
    int b = 0;
    for (int j = 1; j < 10; j++)
        if (v[j] > v[b]) b = j;
    return b;
}

/* What the two plans and the model's own eval forward (the masked network
 * in fp32 on its backend: what training measured) make of the test set. */
struct infer_eval {
    int64_t hits[3];  /* correct: plan, dense plan, eval forward */
    int64_t agree[3]; /* the same class: plan and eval forward, dense plan and eval
                       * forward, plan and dense plan (the 2:4 GEMMs' own share) */
};

/* Over the test set in batches of `batch`: each plan's and the model's
 * accuracy, and how often each plan predicts what the model does. */
static int evaluate(s24_infer_t *ps, s24_infer_t *pd, s24_model_t *m, const struct s24_dataset *d,
                    int batch, struct cli_progress *pr, struct infer_eval *ev)
{
    size_t img = (size_t)d->h * (size_t)d->w * 3, yb = sizeof(float) * 10 * (size_t)batch;
    float *x = malloc(sizeof(float) * img * (size_t)batch),
          *y[3] = {malloc(yb), malloc(yb), malloc(yb)};
    int *lab = malloc(sizeof(int) * (size_t)batch);
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)batch);
    int rc = x && y[0] && y[1] && y[2] && lab && idx
                 ? S24_OK
                 : s24_error(S24_ERR_NOMEM, "infer: out of memory");
    memset(ev, 0, sizeof *ev);
    for (int64_t at = 0; at < d->n && rc == S24_OK; at += batch) {
        int nb = (int)(d->n - at < batch ? d->n - at : batch);
        for (int b = 0; b < nb; b++) idx[b] = at + b;
        rc = s24_batch_fill(d, idx, nb, NULL, NULL, x, lab);
        if (rc == S24_OK) rc = s24_infer_run(ps, x, nb, d->h, d->w, y[0]);
        if (rc == S24_OK) rc = s24_infer_run(pd, x, nb, d->h, d->w, y[1]);
        if (rc == S24_OK) rc = s24_model_forward(m, x, nb, d->h, d->w, y[2], 0);
        cli_progress_step(pr, (double)(at + nb), (double)d->n, "%lld/%lld images",
                          (long long)(at + nb), (long long)d->n);
        for (int b = 0; b < nb && rc == S24_OK; b++) {
            int c[3];
            for (int k = 0; k < 3; k++) {
                c[k] = argmax10(y[k] + 10 * b);
                ev->hits[k] += c[k] == lab[b];
            }
            ev->agree[0] += c[0] == c[2], ev->agree[1] += c[1] == c[2],
                ev->agree[2] += c[0] == c[1];
        }
    }
    cli_progress_end(pr);
    free(x), free(y[0]), free(y[1]), free(y[2]), free(lab), free(idx);
    return rc;
}

int cmd_infer(int argc, char **argv)
{
    enum { O_MODEL = 256, O_CKPT, O_DATA, O_BATCH, O_LTEST, O_REPEATS, O_DEVICE, O_THREADS,
           O_SSIZE, O_STEST, O_PATH, O_DTYPE, O_CSV, O_LAYERS, O_PROGRESS, O_CALIB };
    static const struct option lo[] = {
        {"model", required_argument, 0, O_MODEL}, {"checkpoint", required_argument, 0, O_CKPT},
        {"data", required_argument, 0, O_DATA},   {"batch", required_argument, 0, O_BATCH},
        {"limit-test", required_argument, 0, O_LTEST}, {"repeats", required_argument, 0, O_REPEATS},
        {"device", required_argument, 0, O_DEVICE}, {"threads", required_argument, 0, O_THREADS},
        {"synthetic-size", required_argument, 0, O_SSIZE},
        {"synthetic-test", required_argument, 0, O_STEST},
        {"path", required_argument, 0, O_PATH}, {"dtype", required_argument, 0, O_DTYPE},
        {"csv", required_argument, 0, O_CSV},   {"layers", required_argument, 0, O_LAYERS},
        {"progress", no_argument, 0, O_PROGRESS}, {"calib", required_argument, 0, O_CALIB},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = argv[0], *arch = NULL, *ckpt = NULL, *csv = NULL, *layers = NULL;
    struct train_data_opts d;
    int batch = 64, repeats = 5, ec = S24_EXIT_OK, path = S24_INFER_AUTO, dtype = 0, calib = 256;
    enum s24_device dev = S24_DEVICE_CPU;
    int dev_set = 0, force_progress = 0;
    int64_t v;
    train_data_defaults(&d);
    optind = 1;
    for (;;) {
        int opt = getopt_long(argc, argv, "h", lo, NULL);
        if (opt == -1) break;
        switch (opt) {
        case 'h': usage(stdout); return S24_EXIT_OK;
        case O_MODEL: arch = optarg; break;
        case O_CKPT: ckpt = optarg; break;
        case O_DATA: d.data = optarg; break;
        case O_BATCH:
            if (cli_parse_i64(optarg, 1, 65536, &v))
                return cli_usage(cmd, "--batch %s: expected 1..65536", optarg);
            batch = (int)v;
            break;
        case O_LTEST:
            if (cli_parse_i64(optarg, 1, INT64_MAX, &d.limit_test))
                return cli_usage(cmd, "--limit-test %s: expected a positive count", optarg);
            break;
        case O_REPEATS:
            if (cli_parse_i64(optarg, 1, 10000, &v))
                return cli_usage(cmd, "--repeats %s: expected 1..10000", optarg);
            repeats = (int)v;
            break;
        case O_PATH:
            if (!strcmp(optarg, "auto")) path = S24_INFER_AUTO;
            else if (!strcmp(optarg, "sparse")) path = S24_INFER_SPARSE;
            else if (!strcmp(optarg, "dense")) path = S24_INFER_DENSE;
            else return cli_usage(cmd, "--path %s: expected auto, sparse or dense", optarg);
            break;
        case O_DEVICE:
            if (cli_device(optarg, &dev))
                return cli_usage(cmd, "--device %s: expected cpu, cuda or auto", optarg);
            dev_set = 1;
            break;
        case O_DTYPE:
            if (!strcmp(optarg, "fp16")) dtype = S24_F16;
            else if (!strcmp(optarg, "bf16")) dtype = S24_BF16;
            else if (!strcmp(optarg, "fp32")) dtype = S24_F32;
            else if (!strcmp(optarg, "int8")) dtype = S24_I8;
            else
                return cli_usage(cmd, "--dtype %s: expected fp16, bf16 or int8 (GPU), fp32 or "
                                 "int8 (CPU)", optarg);
            break;
        case O_CALIB:
            if (cli_parse_i64(optarg, 1, 1 << 20, &v))
                return cli_usage(cmd, "--calib %s: expected 1..1048576 images", optarg);
            calib = (int)v;
            break;
        case O_THREADS:
            if (cli_threads(cmd, optarg)) return S24_EXIT_USAGE;
            break;
        case O_CSV: csv = optarg; break;
        case O_LAYERS: layers = optarg; break;
        case O_PROGRESS: force_progress = 1; break;
        case O_SSIZE:
            if (cli_parse_i64(optarg, 8, 64, &v))
                return cli_usage(cmd, "--synthetic-size %s: expected 8..64", optarg);
            d.synth.size = (int)v;
            break;
        case O_STEST:
            if (cli_parse_i64(optarg, 1, 1 << 24, &v))
                return cli_usage(cmd, "--synthetic-test %s: expected 1..16777216", optarg);
            d.synth.n_test = v;
            break;
        default: return cli_usage(cmd, "unknown option");
        }
    }
    if (optind < argc) return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!arch) return cli_usage(cmd, "--model is required");
    if (!ckpt) return cli_usage(cmd, "--checkpoint is required");
    if (!s24_arch_find(arch))
        return cli_usage(cmd, "--model %s: expected %s", arch, cli_model_list());
    /* unset: as train and eval, the GPU where one answers, unless fp32 asks
     * for the CPU plan */
    if (!dev_set) {
        if (dtype == S24_F32) dev = S24_DEVICE_CPU;
        else cli_device("auto", &dev);
    }
    if (dev == S24_DEVICE_CUDA && dtype == S24_F32)
        return cli_usage(cmd, "--dtype fp32: the GPU plan runs fp16 or bf16");
    if (dev == S24_DEVICE_CPU && (dtype == S24_F16 || dtype == S24_BF16))
        return cli_usage(cmd, "--dtype %s: the CPU plan runs fp32 only (use --device cuda)",
                         dtype == S24_F16 ? "fp16" : "bf16");

    /* opened first: a path that cannot be written fails before the long work */
    FILE *fcsv = NULL, *flay = NULL;
    if (csv && !(fcsv = cli_open_csv(csv, INFER_CSV_HEAD)))
        return cli_fail(cmd, "%s: cannot open for appending", csv);
    if (layers && !(flay = cli_open_csv(layers, INFER_LAYERS_HEAD))) {
        if (fcsv) fclose(fcsv);
        return cli_fail(cmd, "%s: cannot open for appending", layers);
    }
    s24_model_t *m = NULL;
    s24_backend_t *be = NULL;
    s24_infer_t *ps = NULL, *pd = NULL;
    struct s24_dataset test;
    s24_dataset_init(&test);
    float *x = NULL, *y = NULL;
    double *ts = NULL, *td = NULL;
    float *cx = NULL; /* int8: the calibration images */
    struct s24_infer_opts po;
    s24_infer_opts_init(&po);
    po.path = path, po.dtype = dtype;
    int rc = S24_OK;
    /* the test set first: int8 calibrates on its first images */
    if ((ec = train_data_load(cmd, &d, NULL, &test)) != S24_EXIT_OK) goto done;
    rc = dev == S24_DEVICE_CUDA ? s24_backend_create(S24_DEVICE_CUDA, 0, &be) : S24_OK;
    if (rc == S24_OK) rc = s24_model_create(arch, 10, 1, be, &m);
    if (rc == S24_OK) rc = s24_model_load(m, ckpt);
    if (rc == S24_OK && dtype == S24_I8) {
        /* the test images the scales come from: the max-abs rule reads each
         * layer's largest input, which a few hundred images settle */
        int nc = (int)(test.n < calib ? test.n : calib);
        size_t nz = (size_t)(nc > 0 ? nc : 1);
        int64_t *ci = malloc(sizeof(int64_t) * nz);
        int *cl = malloc(sizeof(int) * nz);
        cx = malloc(sizeof(float) * (size_t)test.h * (size_t)test.w * 3 * nz);
        rc = ci && cl && cx ? S24_OK : s24_error(S24_ERR_NOMEM, "infer: out of memory");
        for (int b = 0; b < nc && rc == S24_OK; b++) ci[b] = b;
        if (rc == S24_OK) rc = s24_batch_fill(&test, ci, nc, NULL, NULL, cx, cl);
        free(ci), free(cl);
        po.calib = cx, po.calib_n = nc, po.calib_h = test.h, po.calib_w = test.w;
    }
    if (rc == S24_OK) rc = s24_infer_create2(m, &po, &ps);
    /* int8's dense plan is the float type's: int8 runs only on the 2:4 path */
    po.path = S24_INFER_DENSE;
    if (dtype == S24_I8) po.dtype = dev == S24_DEVICE_CUDA ? S24_F16 : S24_F32;
    if (rc == S24_OK) rc = s24_infer_create2(m, &po, &pd);
    if (rc != S24_OK) {
        ec = cli_lib_fail(cmd, rc);
        goto done;
    }
    struct infer_eval ev;
    struct cli_progress pr;
    cli_progress_begin(&pr, cmd, force_progress);
    if ((rc = evaluate(ps, pd, m, &test, batch, &pr, &ev)) != S24_OK) {
        ec = cli_lib_fail(cmd, rc);
        goto done;
    }
    double pct = 100.0 / (double)(test.n > 0 ? test.n : 1);
    /* timing: the first batch, the two plans alternating so load changes hit both */
    int nb = (int)(test.n < batch ? test.n : batch);
    size_t img = (size_t)test.h * (size_t)test.w * 3;
    x = malloc(sizeof(float) * img * (size_t)nb), y = malloc(sizeof(float) * 10 * (size_t)nb);
    ts = malloc(sizeof(double) * (size_t)repeats), td = malloc(sizeof(double) * (size_t)repeats);
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)nb);
    int *lab = malloc(sizeof(int) * (size_t)nb);
    rc = x && y && ts && td && idx && lab ? S24_OK : s24_error(S24_ERR_NOMEM, "out of memory");
    for (int b = 0; b < nb && rc == S24_OK; b++) idx[b] = b;
    if (rc == S24_OK) rc = s24_batch_fill(&test, idx, nb, NULL, NULL, x, lab);
    free(idx), free(lab);
    if (rc == S24_OK) rc = s24_infer_run(ps, x, nb, test.h, test.w, y); /* warm-up */
    if (rc == S24_OK) rc = s24_infer_run(pd, x, nb, test.h, test.w, y);
    for (int k = 0; k < repeats && rc == S24_OK; k++) {
        double t0 = s24_now();
        rc = s24_infer_run(ps, x, nb, test.h, test.w, y);
        double t1 = s24_now();
        if (rc == S24_OK) rc = s24_infer_run(pd, x, nb, test.h, test.w, y);
        ts[k] = t1 - t0, td[k] = s24_now() - t1;
    }
    /* per-layer times: one more run of each plan with the GPU's events on
     * (the CPU plan times its layers on every run anyway) */
    s24_infer_set_profile(ps, 1);
    s24_infer_set_profile(pd, 1);
    if (rc == S24_OK) rc = s24_infer_run(ps, x, nb, test.h, test.w, y);
    if (rc == S24_OK) rc = s24_infer_run(pd, x, nb, test.h, test.w, y);
    if (rc != S24_OK) {
        ec = cli_lib_fail(cmd, rc);
        goto done;
    }
    cli_sort_doubles(ts, repeats);
    cli_sort_doubles(td, repeats);
    double ms = ts[repeats / 2] * 1e3, md = td[repeats / 2] * 1e3;
    int sparse = 0, eligible = 0, n = s24_infer_num_layers(ps);
    double total = 0;
    for (int i = 0; i < n; i++) {
        sparse += s24_infer_layer_at(ps, i)->sparse;
        eligible += s24_infer_layer_at(ps, i)->eligible;
        total += s24_infer_layer_at(ps, i)->ms;
    }
    const char *pn = path_name(path);
    printf("checkpoint: %s (%s), %lld test images of %dx%d\n", ckpt, arch, (long long)test.n,
           test.h, test.w);
    const char *tn = dtype == S24_I8 ? "int8"
                     : dev == S24_DEVICE_CUDA ? (dtype == S24_BF16 ? "bf16" : "fp16") : "fp32";
    printf("device: %s, %s%s\n", be ? s24_backend_name(be) : "cpu", tn,
           dtype == S24_I8 ? (dev == S24_DEVICE_CUDA ? " (2:4 GEMMs int8, the rest fp16)"
                                                     : " (simulated in fp32)") : "");
    printf("test accuracy: %s plan %.2f%%, dense plan %.2f%%, model eval forward (fp32) %.2f%%\n",
           pn, pct * (double)ev.hits[0], pct * (double)ev.hits[1], pct * (double)ev.hits[2]);
    /* issue 11's bar: the 2:4 plan's predictions are the masked model's on >= 99.9 % */
    printf(
        "predictions as the model's eval forward: %s plan %lld of %lld (%.2f%%), dense plan %lld "
        "(%.2f%%)\n",
        pn, (long long)ev.agree[0], (long long)test.n, pct * (double)ev.agree[0],
        (long long)ev.agree[1], pct * (double)ev.agree[1]);
    /* the same dtype, the same folded weights: what the 2:4 GEMMs alone change */
    printf("predictions as the dense plan: %s plan %lld of %lld (%.2f%%)\n", pn,
           (long long)ev.agree[2], (long long)test.n, pct * (double)ev.agree[2]);
    printf("layers: %d of %d through the 2:4 GEMM (%d are 2:4)\n", sparse, n, eligible);
    printf("batch %d, %d threads, median of %d: %s plan %.2f ms (%.1f img/s), dense plan %.2f ms "
           "(%.1f img/s), speedup %.2fx\n",
           nb, s24_threads_get(), repeats, pn, ms, nb / ms * 1e3, md, nb / md * 1e3, md / ms);
    /* the profiled runs' per-layer times; "why" carries auto's measurements */
    printf("%-40s %-6s %6s %9s %6s %9s %9s %6s  %s\n", "layer", "path", "M", "N", "K", "plan ms",
           "dense ms", "share", "why");
    for (int i = 0; i < n; i++) {
        const struct s24_infer_layer *L = s24_infer_layer_at(ps, i), *D = s24_infer_layer_at(pd, i);
        printf("%-40s %-6s %6lld %9lld %6lld %9.3f %9.3f %5.1f%%  %s%s%s%s\n", L->name,
               L->sparse ? "2:4" : "dense", (long long)L->m, (long long)L->n, (long long)L->k,
               L->ms, D->ms, total > 0 ? 100 * L->ms / total : 0.0, L->why,
               L->folded_bn ? "; bn folded" : "", *L->engine ? "; " : "", L->engine);
    }
    const char *dn = dev == S24_DEVICE_CUDA ? "cuda" : "cpu";
    const char *pw = path == S24_INFER_AUTO     ? "auto"
                     : path == S24_INFER_SPARSE ? "sparse"
                                                : "dense";
    if (fcsv)
        fprintf(fcsv, "%s,%s,%s,%s,%lld,%d,%.2f,%.2f,%.2f,%.2f,%.2f,%.4f,%.4f,%d,%.2f\n", arch, dn,
                tn, pw, (long long)test.n, nb, pct * (double)ev.hits[0], pct * (double)ev.hits[1],
                pct * (double)ev.hits[2], pct * (double)ev.agree[0], pct * (double)ev.agree[1], ms,
                md, s24_threads_get(), pct * (double)ev.agree[2]);
    for (int i = 0; flay && i < n; i++) {
        const struct s24_infer_layer *L = s24_infer_layer_at(ps, i), *D = s24_infer_layer_at(pd, i);
        fprintf(flay, "%s,%s,%s,%s,%d,", arch, dn, tn, pw, nb);
        cli_csv_field(flay, L->name);
        fprintf(flay, ",%d,%lld,%lld,%lld,%.4f,%.4f,%.4f,", L->sparse, (long long)L->m,
                (long long)L->n, (long long)L->k, L->ms, D->ms, total > 0 ? L->ms / total : 0.0);
        cli_csv_field(flay, L->why);
        fputc(',', flay);
        cli_csv_field(flay, L->engine);
        fputc('\n', flay);
    }
done:
    if (fcsv && fclose(fcsv) && ec == S24_EXIT_OK) ec = cli_fail(cmd, "%s: write failed", csv);
    if (flay && fclose(flay) && ec == S24_EXIT_OK) ec = cli_fail(cmd, "%s: write failed", layers);
    free(x), free(y), free(ts), free(td), free(cx);
    s24_infer_free(ps);
    s24_infer_free(pd);
    s24_model_free(m);
    s24_backend_free(be);
    s24_dataset_free(&test);
    return ec;
}
