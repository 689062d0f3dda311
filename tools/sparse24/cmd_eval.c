/* cmd_eval.c: `sparse24 eval`: test accuracy and loss of a checkpoint (as
 * written by `train`, or torchvision's state_dict saved as safetensors) on
 * CIFAR-10 or the synthetic set, in evaluation mode (running statistics, no
 * augmentation). It does not train or modify the checkpoint. */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sparse24/sparse24_train.h"
#include "train_data.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: sparse24 eval --model M --checkpoint FILE [--data DIR|synthetic] [options]\n"
"\n"
"Reports the test accuracy (percent) and mean cross-entropy loss of a checkpoint\n"
"in evaluation mode, and how many of its 2:4-eligible weights are 2:4 sparse.\n"
"\n"
"options:\n"
"  --model M            %s\n"
"  --checkpoint FILE    safetensors in PyTorch's layout and torchvision's names\n"
"  --data DIR|synthetic CIFAR-10 binary folder or the built-in synthetic set (default)\n"
"  --batch N            evaluation batch (default 500)\n"
"  --limit-test N       only the first N test images\n"
"  --synthetic-size N   synthetic image side (default 32; match the training run)\n"
"  --synthetic-test N   synthetic test images (default 2000)\n"
"  --threads N          " CLI_THREADS_HELP "\n"
"  --device D           cpu | cuda | auto (default auto: cuda when present)\n"
"  --precision P        fp32 (default) or bf16 (the GPU's mixed mode: bf16 activations)\n"
"  --gpu N              GPU ordinal for --device cuda (default 0)\n"
"  --progress           " CLI_PROGRESS_HELP "\n"
"                       (on a terminal it is always drawn)\n"
"  -h, --help           this text\n"
"\n"
"exit codes: 0 success, 1 runtime failure, 2 bad usage\n",
            cli_model_list());
}

/* s24_evaluate, in about 20 slices of whole batches when a progress line is
 * drawn: the same batches, so the same correct count; the loss is the
 * image-weighted mean of the slices' means. */
static int evaluate(s24_model_t *m, const struct s24_dataset *d, int batch, struct cli_progress *pr,
                    double *loss, double *acc)
{
    if (!pr->on) return s24_evaluate(m, d, batch, loss, acc);
    int64_t per = (d->n / 20 + batch - 1) / batch * batch, px = (int64_t)d->h * d->w * 3;
    if (per < batch) per = batch;
    double lsum = 0, correct = 0;
    int rc = S24_OK;
    for (int64_t at = 0; at < d->n && rc == S24_OK; at += per) {
        struct s24_dataset part = *d; /* a view: no copy, never freed */
        part.n = d->n - at < per ? d->n - at : per;
        part.images = d->images + at * px;
        part.labels = d->labels + at;
        cli_progress_step(pr, (double)at, (double)d->n, "%lld/%lld images", (long long)at,
                          (long long)d->n);
        double l, a;
        rc = s24_evaluate(m, &part, batch, &l, &a);
        lsum += l * (double)part.n;
        correct += (double)llround(a / 100.0 * (double)part.n); /* a whole count */
    }
    cli_progress_end(pr);
    if (rc != S24_OK) return rc;
    *loss = lsum / (double)d->n;
    *acc = 100.0 * correct / (double)d->n;
    return S24_OK;
}

int cmd_eval(int argc, char **argv)
{
    enum { O_MODEL = 256, O_CKPT, O_DATA, O_BATCH, O_LTEST, O_SSIZE, O_STEST, O_THREADS, O_DEVICE,
           O_GPU, O_PROGRESS, O_PRECISION };
    static const struct option lo[] = {
        {"model", required_argument, 0, O_MODEL}, {"checkpoint", required_argument, 0, O_CKPT},
        {"data", required_argument, 0, O_DATA},   {"batch", required_argument, 0, O_BATCH},
        {"limit-test", required_argument, 0, O_LTEST},
        {"synthetic-size", required_argument, 0, O_SSIZE},
        {"synthetic-test", required_argument, 0, O_STEST},
        {"threads", required_argument, 0, O_THREADS},
        {"device", required_argument, 0, O_DEVICE}, {"gpu", required_argument, 0, O_GPU},
        {"progress", no_argument, 0, O_PROGRESS}, {"precision", required_argument, 0, O_PRECISION},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = argv[0], *arch = NULL, *ckpt = NULL;
    struct train_data_opts d;
    int batch = 500, ec, gpu = 0, force_progress = 0;
    enum s24_dtype act = S24_F32;
    const char *device = "auto";
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
        case O_THREADS:
            if (cli_threads(cmd, optarg)) return S24_EXIT_USAGE;
            break;
        case O_DEVICE: device = optarg; break;
        case O_PRECISION:
            if (cli_precision(optarg, &act))
                return cli_usage(cmd, "--precision %s: expected fp32 or bf16", optarg);
            break;
        case O_PROGRESS: force_progress = 1; break;
        case O_GPU:
            if (cli_parse_i64(optarg, 0, 1023, &v))
                return cli_usage(cmd, "--gpu %s: expected 0..1023", optarg);
            gpu = (int)v;
            break;
        default: return cli_usage(cmd, "unknown option");
        }
    }
    if (optind < argc) return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!arch) return cli_usage(cmd, "--model is required");
    if (!ckpt) return cli_usage(cmd, "--checkpoint is required");
    if (!s24_arch_find(arch))
        return cli_usage(cmd, "--model %s: expected %s", arch, cli_model_list());
    enum s24_device dev;
    if (cli_device(device, &dev))
        return cli_usage(cmd, "--device %s: expected cpu, cuda or auto", device);

    s24_model_t *m = NULL;
    s24_backend_t *be = NULL;
    struct s24_dataset test;
    s24_dataset_init(&test);
    if (act == S24_BF16 && dev != S24_DEVICE_CUDA)
        return cli_usage(cmd, "--precision bf16 runs on a GPU (--device cuda)");
    int rc = s24_backend_create(dev, gpu, &be);
    if (rc == S24_OK) rc = s24_backend_set_precision(be, act);
    if (rc == S24_OK) rc = s24_model_create(arch, 10, 1, be, &m);
    if (rc != S24_OK) {
        s24_backend_free(be);
        return cli_lib_fail(cmd, rc);
    }
    if ((rc = s24_model_load(m, ckpt)) != S24_OK) {
        ec = cli_lib_fail(cmd, rc);
        goto done;
    }
    if ((ec = train_data_load(cmd, &d, NULL, &test)) != S24_EXIT_OK) goto done;
    double loss, acc, t0 = s24_now();
    struct cli_progress pr;
    cli_progress_begin(&pr, cmd, force_progress);
    if ((rc = evaluate(m, &test, batch, &pr, &loss, &acc)) != S24_OK) {
        ec = cli_lib_fail(cmd, rc);
        goto done;
    }
    double secs = s24_now() - t0;
    int eligible = 0, sparse = 0;
    for (int i = 0; i < s24_model_num_params(m); i++) {
        struct s24_param *p = s24_model_param(m, i);
        if (!p->maskable) continue;
        eligible++;
        sparse += s24_mask_check(S24_F32, p->data, p->view, 2, 4, NULL) == S24_OK;
    }
    printf("checkpoint: %s (%s)\n", ckpt, arch);
    printf("data: %s, %lld test images of %dx%d\n", d.data, (long long)test.n, test.h, test.w);
    printf("test accuracy: %.2f%%\n", acc);
    printf("test loss: %.4f\n", loss);
    printf("2:4 sparse weights: %d of %d eligible\n", sparse, eligible);
    fprintf(stderr, "sparse24 eval: %.1f s, %.0f images/s\n", secs, (double)test.n / (secs + 1e-9));
    ec = S24_EXIT_OK;
done:
    s24_dataset_free(&test);
    s24_model_free(m);
    s24_backend_free(be);
    return ec;
}
