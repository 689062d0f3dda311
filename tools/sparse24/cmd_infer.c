/* cmd_infer.c: `sparse24 infer`: a checkpoint run through the inference
 * plan (batch norms folded, 2:4 layers on the 2:4 GEMM, the CPU's or
 * cuSPARSELt on a GPU, where asked for or where measured faster, the rest
 * dense): test accuracy, images/s of the
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
"test accuracy, images/s of the plan against the same plan run all dense\n"
"(alternating batches, medians), and a line per layer with its path, time, share\n"
"and why. On the GPU (--device cuda) the plan runs fp16 or bf16 NHWC: dense\n"
"layers on cuDNN, 2:4 layers on cuSPARSELt.\n"
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
"  --device D           cpu (default), cuda or auto (cuda where a GPU answers)\n"
"  --dtype T            fp16 (the GPU's default) or bf16 on the GPU; fp32 on the CPU\n"
"  --threads N          " CLI_THREADS_HELP "\n"
"  -h, --help           this text\n"
"\n"
"exit codes: 0 success, 1 runtime failure, 2 bad usage\n",
            cli_model_list());
}

static const char *path_name(int path)
{
    return path == S24_INFER_AUTO ? "auto" : path == S24_INFER_SPARSE ? "2:4" : "dense";
}

/* Accuracy of plan p over the test set, in batches of `batch`. */
static int accuracy(s24_infer_t *p, const struct s24_dataset *d, int batch, double *acc)
{
    size_t img = (size_t)d->h * (size_t)d->w * 3;
    float *x = malloc(sizeof(float) * img * (size_t)batch), *y = malloc(sizeof(float) * 10 * (size_t)batch);
    int *lab = malloc(sizeof(int) * (size_t)batch);
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)batch), hits = 0;
    int rc = x && y && lab && idx ? S24_OK : s24_error(S24_ERR_NOMEM, "infer: out of memory");
    for (int64_t at = 0; at < d->n && rc == S24_OK; at += batch) {
        int nb = (int)(d->n - at < batch ? d->n - at : batch), correct = 0;
        for (int b = 0; b < nb; b++) idx[b] = at + b;
        rc = s24_batch_fill(d, idx, nb, NULL, NULL, x, lab);
        if (rc == S24_OK) rc = s24_infer_run(p, x, nb, d->h, d->w, y);
        if (rc == S24_OK) s24_softmax_xent(y, lab, nb, 10, NULL, &correct);
        hits += correct;
    }
    *acc = 100.0 * (double)hits / (double)(d->n > 0 ? d->n : 1);
    free(x), free(y), free(lab), free(idx);
    return rc;
}

int cmd_infer(int argc, char **argv)
{
    enum { O_MODEL = 256, O_CKPT, O_DATA, O_BATCH, O_LTEST, O_REPEATS, O_DEVICE, O_THREADS,
           O_SSIZE, O_STEST, O_PATH, O_DTYPE };
    static const struct option lo[] = {
        {"model", required_argument, 0, O_MODEL}, {"checkpoint", required_argument, 0, O_CKPT},
        {"data", required_argument, 0, O_DATA},   {"batch", required_argument, 0, O_BATCH},
        {"limit-test", required_argument, 0, O_LTEST}, {"repeats", required_argument, 0, O_REPEATS},
        {"device", required_argument, 0, O_DEVICE}, {"threads", required_argument, 0, O_THREADS},
        {"synthetic-size", required_argument, 0, O_SSIZE},
        {"synthetic-test", required_argument, 0, O_STEST},
        {"path", required_argument, 0, O_PATH}, {"dtype", required_argument, 0, O_DTYPE},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = argv[0], *arch = NULL, *ckpt = NULL;
    struct train_data_opts d;
    int batch = 64, repeats = 5, ec = S24_EXIT_OK, path = S24_INFER_AUTO, dtype = 0;
    enum s24_device dev = S24_DEVICE_CPU;
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
            if (cli_parse_i64(optarg, 1, 65536, &v)) return cli_usage(cmd, "--batch %s: expected 1..65536", optarg);
            batch = (int)v;
            break;
        case O_LTEST:
            if (cli_parse_i64(optarg, 1, INT64_MAX, &d.limit_test)) return cli_usage(cmd, "--limit-test %s: expected a positive count", optarg);
            break;
        case O_REPEATS:
            if (cli_parse_i64(optarg, 1, 10000, &v)) return cli_usage(cmd, "--repeats %s: expected 1..10000", optarg);
            repeats = (int)v;
            break;
        case O_PATH:
            if (!strcmp(optarg, "auto")) path = S24_INFER_AUTO;
            else if (!strcmp(optarg, "sparse")) path = S24_INFER_SPARSE;
            else if (!strcmp(optarg, "dense")) path = S24_INFER_DENSE;
            else return cli_usage(cmd, "--path %s: expected auto, sparse or dense", optarg);
            break;
        case O_DEVICE:
            if (cli_device(optarg, &dev)) return cli_usage(cmd, "--device %s: expected cpu, cuda or auto", optarg);
            break;
        case O_DTYPE:
            if (!strcmp(optarg, "fp16")) dtype = S24_F16;
            else if (!strcmp(optarg, "bf16")) dtype = S24_BF16;
            else if (!strcmp(optarg, "fp32")) dtype = S24_F32;
            else if (!strcmp(optarg, "int8")) return cli_usage(cmd, "--dtype int8: not implemented yet (fp16 or bf16)");
            else return cli_usage(cmd, "--dtype %s: expected fp16 or bf16 (GPU), fp32 (CPU)", optarg);
            break;
        case O_THREADS:
            if (cli_threads(cmd, optarg)) return S24_EXIT_USAGE;
            break;
        case O_SSIZE:
            if (cli_parse_i64(optarg, 8, 64, &v)) return cli_usage(cmd, "--synthetic-size %s: expected 8..64", optarg);
            d.synth.size = (int)v;
            break;
        case O_STEST:
            if (cli_parse_i64(optarg, 1, 1 << 24, &v)) return cli_usage(cmd, "--synthetic-test %s: expected 1..16777216", optarg);
            d.synth.n_test = v;
            break;
        default: return cli_usage(cmd, "unknown option");
        }
    }
    if (optind < argc) return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!arch) return cli_usage(cmd, "--model is required");
    if (!ckpt) return cli_usage(cmd, "--checkpoint is required");
    if (!s24_arch_find(arch)) return cli_usage(cmd, "--model %s: expected %s", arch, cli_model_list());
    if (dev == S24_DEVICE_CUDA && dtype == S24_F32)
        return cli_usage(cmd, "--dtype fp32: the GPU plan runs fp16 or bf16");
    if (dev == S24_DEVICE_CPU && (dtype == S24_F16 || dtype == S24_BF16))
        return cli_usage(cmd, "--dtype %s: the CPU plan runs fp32 only (use --device cuda)",
                         dtype == S24_F16 ? "fp16" : "bf16");

    s24_model_t *m = NULL;
    s24_backend_t *be = NULL;
    s24_infer_t *ps = NULL, *pd = NULL;
    struct s24_dataset test;
    s24_dataset_init(&test);
    float *x = NULL, *y = NULL;
    double *ts = NULL, *td = NULL;
    struct s24_infer_opts po;
    s24_infer_opts_init(&po);
    po.path = path, po.dtype = dtype;
    int rc = dev == S24_DEVICE_CUDA ? s24_backend_create(S24_DEVICE_CUDA, 0, &be) : S24_OK;
    if (rc == S24_OK) rc = s24_model_create(arch, 10, 1, be, &m);
    if (rc == S24_OK) rc = s24_model_load(m, ckpt);
    if (rc == S24_OK) rc = s24_infer_create2(m, &po, &ps);
    po.path = S24_INFER_DENSE;
    if (rc == S24_OK) rc = s24_infer_create2(m, &po, &pd);
    if (rc != S24_OK) {
        ec = cli_lib_fail(cmd, rc);
        goto done;
    }
    if ((ec = train_data_load(cmd, &d, NULL, &test)) != S24_EXIT_OK) goto done;
    double acc_s, acc_d;
    if ((rc = accuracy(ps, &test, batch, &acc_s)) || (rc = accuracy(pd, &test, batch, &acc_d))) {
        ec = cli_lib_fail(cmd, rc);
        goto done;
    }
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
    printf("checkpoint: %s (%s), %lld test images of %dx%d\n", ckpt, arch, (long long)test.n, test.h, test.w);
    printf("device: %s, %s\n", be ? s24_backend_name(be) : "cpu",
           dev == S24_DEVICE_CUDA ? (dtype == S24_BF16 ? "bf16" : "fp16") : "fp32");
    printf("test accuracy: %s plan %.2f%%, dense plan %.2f%%\n", pn, acc_s, acc_d);
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
done:
    free(x), free(y), free(ts), free(td);
    s24_infer_free(ps);
    s24_infer_free(pd);
    s24_model_free(m);
    s24_backend_free(be);
    s24_dataset_free(&test);
    return ec;
}
