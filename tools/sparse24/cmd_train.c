/* cmd_train.c: `sparse24 train`: the two-phase 2:4 pipeline from the command
 * line (dense training, 2:4 masks, retraining with a strategy), with a
 * progress bar on a terminal, a plain line per epoch otherwise, and a clean
 * stop on Ctrl-C or SIGTERM that `--resume` continues bit for bit.
 *
 * The work is s24_pipeline_run (src/nn/pipeline.c); this file parses options,
 * loads the data, reports progress and installs the signal handlers. It
 * checks the data-parallel options (--gpus, --ranks) against the batch, the
 * data and the GPUs present before any work starts. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sparse24/sparse24_train.h"
#include "train_data.h"
#include "train_times.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: sparse24 train --model M --epochs E --out DIR [--data DIR|synthetic] [--seed S] [options]\n"
"\n"
"Phase 1 trains the model dense for E epochs; then every 2:4-eligible conv and\n"
"linear weight (ASP's rule: output channels %% 8, input channels %% 16) is\n"
"pruned by magnitude, 2 of every 4 input channels kept; phase 2 trains again\n"
"with the masks enforced after every step on the weights and their momentum.\n"
"Both phases use SGD (momentum, weight decay 5e-4 on every parameter) with\n"
"PyTorch's OneCycleLR (div_factor 1e5, pct_start 1/epochs), restarted for phase 2.\n"
"\n"
"options:\n"
"  --model M            %s\n"
"  --data DIR|synthetic CIFAR-10 binary folder (data_batch_1..5.bin, test_batch.bin)\n"
"                       or the built-in synthetic set (default)\n"
"  --epochs E           phase 1 epochs (required unless --from)\n"
"  --phase2-epochs E2   phase 2 epochs (default: E)\n"
"  --strategy S         what phase 2 starts from (default continue):\n"
"                         continue  the masked trained weights\n"
"                         rewind    the masked original initialisation\n"
"                         reinit    a masked fresh initialisation (seed S+1000)\n"
"                         dense     the trained weights, no mask (control)\n"
"  --permute            search channel permutations before masking\n"
"  --permute-budget SEC wall-time cap of the search per channel space (default: none)\n"
"  --from FILE          start from this trained dense checkpoint (skips phase 1)\n"
"  --seed S             seed of initialisation, shuffling and augmentation (default 1)\n"
"  --out DIR            output folder (created if missing)\n"
"  --batch N            batch size (default 256)\n"
"  --lr X               peak learning rate (default 0.1)\n"
"  --wd X               weight decay (default 5e-4)\n"
"  --threads N          " CLI_THREADS_HELP "\n",
            cli_model_list());
    fputs(
"  --device D           cpu | cuda | auto (default auto: cuda when this build has\n"
"                       CUDA and a GPU is present, else cpu)\n"
"  --gpu N              GPU ordinal for --device cuda (default 0)\n"
"  --gpus N             data parallel on N GPUs (gpu .. gpu+N-1, NCCL), one thread\n"
"                       each with 1/N of every batch; gradients averaged every step;\n"
"                       batch norm synchronised over the GPUs (statistics of the\n"
"                       whole batch); the batch and the training images must\n"
"                       divide by N\n"
"  --ranks N            the same on the CPU with N thread ranks (each with its own\n"
"                       CPU backend and threads/N worker threads): for testing the\n"
"                       data-parallel path, not for speed\n"
"  --local-bn           with --gpus / --ranks: batch norm over each rank's share of\n"
"                       the batch only (no all-reduce; results then depend on N)\n"
"  --precision P        fp32 (default) or bf16: on the GPU, bf16 activations and\n"
"                       convolutions on bf16 tensor cores with fp32 master weights,\n"
"                       gradients of weights and optimiser state (the CPU: fp32 only)\n"
"  --deterministic      GPU: only deterministic cuDNN algorithms, so two runs\n"
"                       with the same seed give identical weights\n"
"  --resume             continue an interrupted run in --out (same options)\n"
"  --limit-train N      use only the first N training images\n"
"  --limit-test N       use only the first N test images\n"
"  --no-augment         no random crop and flip\n"
"  --synthetic-size N   synthetic image side (default 32)\n"
"  --synthetic-train N  synthetic training images (default 10000)\n"
"  --synthetic-test N   synthetic test images (default 2000)\n"
"  --stop-after K       stop after K epochs of this run, as an interrupt would\n"
"                       (for testing --resume)\n"
"  -h, --help           this text\n"
"\n"
"files in --out: train.csv (phase, epoch, lr, train_loss, train_acc, test_loss,\n"
"test_acc, seconds; accuracies in percent), init.safetensors, phase1.safetensors,\n"
"phase1_permuted.safetensors (--permute), masks.safetensors (U8, 1 = kept),\n"
"phase2.safetensors, state.safetensors (resumable state, rewritten after every\n"
"epoch), timing.csv (where the wall time went; also the last line on stderr).\n"
"Checkpoints use PyTorch's layout and torchvision's names.\n"
"\n"
"Ctrl-C stops after the running batch (the last completed epoch is kept; a\n"
"second Ctrl-C stops at once, keeping the last state whose write finished);\n"
"rerun with --resume to continue bit for bit.\n"
"On a busy machine, small models train much faster with --threads 1 or with\n"
"OMP_WAIT_POLICY=passive in the environment (docs/training.md).\n"
"\n"
"exit codes: 0 success, 1 runtime failure or interrupted (resumable), 2 bad usage\n",
          f);
}

static volatile sig_atomic_t stop_flag;

/* First signal: stop after the running batch, cleanly and resumably. A
 * second one: the default action (the last state whose write finished is
 * kept: it is written beside the next epoch). */
static void on_signal(int sig)
{
    if (stop_flag) {
        s24_outfile_cleanup(); /* a checkpoint being written: no temporary file left */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_flag = 1;
}

struct bar {
    int tty;
    double last;
    double t0;          /* start of this run */
    int e1, e2;         /* epochs of the two phases */
    int done0;          /* epochs already done when this run started (-1: not known yet) */
};

/* "1h02m" / "3m05s" / "12s" */
static void fmt_eta(double s, char *buf, size_t n)
{
    long t = s > 0 && s < 1e8 ? (long)(s + 0.5) : 0;
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t % 3600 / 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%lds", t);
}

static void progress(void *ctx, const struct s24_progress *p)
{
    struct bar *b = ctx;
    /* epochs of the whole run: phase 1's, then phase 2's */
    int before = p->phase == 1 ? p->epoch - 1 : b->e1 + p->epoch - 1, total = b->e1 + b->e2;
    if (b->done0 < 0) b->done0 = before;
    double frac = (double)p->batch / (double)(p->batches ? p->batches : 1);
    double run_epochs = before - b->done0 + (p->epoch_done ? 1.0 : frac);
    double eta = run_epochs > 0 ? (s24_now() - b->t0) / run_epochs *
                                      (total - before - (p->epoch_done ? 1.0 : frac))
                                : 0;
    char etas[32];
    fmt_eta(eta, etas, sizeof etas);
    if (p->epoch_done) {
        if (b->tty) fprintf(stderr, "\r\033[K");
        fprintf(stderr,
                "phase %d epoch %d/%d: train loss %.4f acc %.2f%%, test loss %.4f acc %.2f%%, "
                "%.1f img/s, ETA %s\n",
                p->phase, p->epoch, p->epochs, p->loss, p->acc, p->test_loss, p->test_acc,
                p->images_per_s, etas);
        return;
    }
    if (!b->tty) return;
    double now = s24_now();
    if (now - b->last < 0.2 && p->batch != p->batches) return;
    b->last = now;
    char bar[31];
    int fill = (int)(30 * p->batch / (p->batches ? p->batches : 1));
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr,
            "\r\033[Kphase %d epoch %d/%d [%s] %lld/%lld loss %.4f acc %.1f%% %.0f img/s ETA %s",
            p->phase, p->epoch, p->epochs, bar, (long long)p->batch, (long long)p->batches, p->loss,
            p->acc, p->images_per_s, etas);
    fflush(stderr);
}

/* " x 4 ranks (sync BN)" for the start line ("" for one). */
static const char *rank_note(int ranks, int local_bn)
{
    static char buf[48];
    if (ranks <= 1) return "";
    snprintf(buf, sizeof buf, " x %d ranks (%s BN)", ranks, local_bn ? "local" : "sync");
    return buf;
}

/* The output folder and any missing parents (as `mkdir -p`). */
static int make_dir(const char *cmd, const char *dir)
{
    char path[4096];
    struct stat sb;
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return cli_fail(cmd, "%s: path too long", dir);
    for (char *p = path + 1;; p++) {
        int end = *p == 0;
        if (*p != '/' && !end) continue;
        *p = 0;
        if (stat(path, &sb) == 0) {
            if (!S_ISDIR(sb.st_mode)) return cli_fail(cmd, "%s: exists and is not a folder", path);
        } else if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            return cli_fail(cmd, "%s: cannot create: %s", path, strerror(errno));
        }
        if (end) break;
        *p = '/';
    }
    return S24_EXIT_OK;
}

enum {
    O_MODEL = 256, O_DATA, O_EPOCHS, O_EPOCHS2, O_STRATEGY, O_PERMUTE, O_FROM, O_SEED, O_OUT,
    O_BATCH, O_LR, O_WD, O_THREADS, O_RESUME, O_LTRAIN, O_LTEST, O_NOAUG, O_SSIZE, O_STRAIN,
    O_STEST, O_STOP, O_PBUDGET, O_DEVICE, O_GPU, O_DETERMINISTIC, O_GPUS, O_RANKS, O_PRECISION,
    O_LOCAL_BN,
};

/* --gpus N / --ranks N against the device, the batch and the GPUs present,
 * before the data is loaded. gpus and ranks: the option given (0: not). */
static int ranks_check(const char *cmd, struct s24_pipeline_cfg *c, int gpus, int ranks,
                       int dev_auto)
{
    if (gpus && ranks) return cli_usage(cmd, "--gpus and --ranks: give one of them");
    if (!gpus && !ranks) return S24_EXIT_OK;
    const char *opt = gpus ? "--gpus" : "--ranks";
    int n = gpus ? gpus : ranks;
    enum s24_device want = gpus ? S24_DEVICE_CUDA : S24_DEVICE_CPU;
    if (!dev_auto && c->device != want)
        return cli_usage(cmd, "%s runs on %s: drop --device %s (%s)", opt,
                         gpus ? "GPUs" : "the CPU", s24_device_name(c->device),
                         gpus ? "--ranks N is the CPU's" : "--gpus N is the GPUs'");
    if (c->batch % n)
        return cli_usage(cmd, "--batch %d is not divisible by %s %d: every rank takes an equal "
                              "share of each batch",
                         c->batch, opt, n);
    c->device = want;
    c->ranks = n;
    if (!gpus) return S24_EXIT_OK;
    /* the highest ordinal asked for answers, or the message says how many there are */
    s24_backend_t *probe = NULL;
    int prc = s24_backend_create(S24_DEVICE_CUDA, c->gpu + n - 1, &probe);
    s24_backend_free(probe);
    if (prc != S24_OK)
        return cli_usage(cmd, "--gpus %d needs GPUs %d..%d: %s (--ranks N runs thread ranks on "
                              "the CPU)",
                         n, c->gpu, c->gpu + n - 1, s24_last_error());
    return S24_EXIT_OK;
}

int cmd_train(int argc, char **argv)
{
    static const struct option lo[] = {
        {"model", required_argument, 0, O_MODEL},   {"data", required_argument, 0, O_DATA},
        {"epochs", required_argument, 0, O_EPOCHS},
        {"phase2-epochs", required_argument, 0, O_EPOCHS2},
        {"strategy", required_argument, 0, O_STRATEGY}, {"permute", no_argument, 0, O_PERMUTE},
        {"from", required_argument, 0, O_FROM},     {"seed", required_argument, 0, O_SEED},
        {"out", required_argument, 0, O_OUT},       {"batch", required_argument, 0, O_BATCH},
        {"lr", required_argument, 0, O_LR},         {"wd", required_argument, 0, O_WD},
        {"threads", required_argument, 0, O_THREADS}, {"resume", no_argument, 0, O_RESUME},
        {"limit-train", required_argument, 0, O_LTRAIN},
        {"limit-test", required_argument, 0, O_LTEST},
        {"no-augment", no_argument, 0, O_NOAUG},
        {"synthetic-size", required_argument, 0, O_SSIZE},
        {"synthetic-train", required_argument, 0, O_STRAIN},
        {"synthetic-test", required_argument, 0, O_STEST},
        {"stop-after", required_argument, 0, O_STOP}, {"help", no_argument, 0, 'h'},
        {"permute-budget", required_argument, 0, O_PBUDGET},
        {"device", required_argument, 0, O_DEVICE}, {"gpu", required_argument, 0, O_GPU},
        {"deterministic", no_argument, 0, O_DETERMINISTIC},
        {"gpus", required_argument, 0, O_GPUS},     {"ranks", required_argument, 0, O_RANKS},
        {"precision", required_argument, 0, O_PRECISION},
        {"local-bn", no_argument, 0, O_LOCAL_BN},
        {0, 0, 0, 0}};
    const char *cmd = argv[0];
    struct train_times tt = {s24_now(), 0, 0};
    struct s24_pipeline_cfg c;
    struct s24_permute_opts popts;
    struct train_data_opts d;
    int64_t v;
    int epochs = -1, epochs2 = -1, ec, dev_auto = 1, gpus = 0, ranks = 0;
    s24_pipeline_defaults(&c);
    train_data_defaults(&d);
    c.arch = NULL;
    optind = 1;
    for (;;) {
        int opt = getopt_long(argc, argv, "h", lo, NULL);
        if (opt == -1) break;
        switch (opt) {
        case 'h': usage(stdout); return S24_EXIT_OK;
        case O_MODEL:
            if (!s24_arch_find(optarg))
                return cli_usage(cmd, "--model %s: expected %s", optarg, cli_model_list());
            c.arch = optarg;
            break;
        case O_DEVICE:
            if (cli_device(optarg, &c.device))
                return cli_usage(cmd, "--device %s: expected cpu, cuda or auto", optarg);
            dev_auto = 0;
            break;
        case O_GPU:
            if (cli_parse_i64(optarg, 0, 1023, &v))
                return cli_usage(cmd, "--gpu %s: expected 0..1023", optarg);
            c.gpu = (int)v;
            break;
        case O_DETERMINISTIC: setenv("S24_DETERMINISTIC", "1", 1); break;
        case O_PRECISION: {
            enum s24_dtype act;
            if (cli_precision(optarg, &act))
                return cli_usage(cmd, "--precision %s: expected fp32 or bf16", optarg);
            c.bf16 = act == S24_BF16;
            break;
        }
        case O_LOCAL_BN: c.local_bn = 1; break;
        case O_GPUS:
        case O_RANKS:
            if (cli_parse_i64(optarg, 1, 1024, &v))
                return cli_usage(cmd, "%s %s: expected a number of ranks, 1..1024",
                                 opt == O_GPUS ? "--gpus" : "--ranks", optarg);
            *(opt == O_GPUS ? &gpus : &ranks) = (int)v;
            break;
        case O_DATA: d.data = optarg; break;
        case O_EPOCHS:
            if (cli_parse_i64(optarg, 0, 100000, &v))
                return cli_usage(cmd, "--epochs %s: expected 0..100000", optarg);
            epochs = (int)v;
            break;
        case O_EPOCHS2:
            if (cli_parse_i64(optarg, 0, 100000, &v))
                return cli_usage(cmd, "--phase2-epochs %s: expected 0..100000", optarg);
            epochs2 = (int)v;
            break;
        case O_STRATEGY:
            if (s24_strategy_parse(optarg, &c.strategy) != S24_OK)
                return cli_usage(cmd, "--strategy %s: expected continue, rewind, reinit or dense",
                                 optarg);
            break;
        case O_PERMUTE: c.permute = 1; break;
        case O_PBUDGET:
            /* options of the search, seeded like the default the pipeline uses */
            s24_permute_opts_default(&popts);
            if (cli_parse_double(optarg, &popts.time_budget) ||
                !(popts.time_budget > 0 && popts.time_budget < 1e6))
                return cli_usage(cmd, "--permute-budget %s: expected seconds > 0", optarg);
            c.permute_opts = &popts;
            break;
        case O_FROM: c.from = optarg; break;
        case O_SEED:
            if (cli_parse_i64(optarg, 0, INT64_MAX, &v))
                return cli_usage(cmd, "--seed %s: expected a non-negative integer", optarg);
            c.seed = (uint64_t)v;
            break;
        case O_OUT: c.out_dir = optarg; break;
        case O_BATCH:
            if (cli_parse_i64(optarg, 1, 65536, &v))
                return cli_usage(cmd, "--batch %s: expected 1..65536", optarg);
            c.batch = (int)v;
            break;
        case O_LR:
            if (cli_parse_double(optarg, &c.max_lr) || !(c.max_lr > 0 && c.max_lr < 100))
                return cli_usage(cmd, "--lr %s: expected a number in (0, 100)", optarg);
            break;
        case O_WD:
            if (cli_parse_double(optarg, &c.weight_decay) ||
                !(c.weight_decay >= 0 && c.weight_decay < 1))
                return cli_usage(cmd, "--wd %s: expected a number in [0, 1)", optarg);
            break;
        case O_THREADS:
            if (cli_threads(cmd, optarg)) return S24_EXIT_USAGE;
            break;
        case O_RESUME: c.resume = 1; break;
        case O_LTRAIN:
            if (cli_parse_i64(optarg, 1, INT64_MAX, &d.limit_train))
                return cli_usage(cmd, "--limit-train %s: expected a positive count", optarg);
            break;
        case O_LTEST:
            if (cli_parse_i64(optarg, 1, INT64_MAX, &d.limit_test))
                return cli_usage(cmd, "--limit-test %s: expected a positive count", optarg);
            break;
        case O_NOAUG: c.aug.pad = 0; c.aug.flip = 0; break;
        case O_SSIZE:
            if (cli_parse_i64(optarg, 8, 64, &v))
                return cli_usage(cmd, "--synthetic-size %s: expected 8..64", optarg);
            d.synth.size = (int)v;
            break;
        case O_STRAIN:
            if (cli_parse_i64(optarg, 1, 1 << 24, &v))
                return cli_usage(cmd, "--synthetic-train %s: expected 1..16777216", optarg);
            d.synth.n_train = v;
            break;
        case O_STEST:
            if (cli_parse_i64(optarg, 1, 1 << 24, &v))
                return cli_usage(cmd, "--synthetic-test %s: expected 1..16777216", optarg);
            d.synth.n_test = v;
            break;
        case O_STOP:
            if (cli_parse_i64(optarg, 1, 100000, &v))
                return cli_usage(cmd, "--stop-after %s: expected a positive count", optarg);
            c.stop_after = (int)v;
            break;
        default: return cli_usage(cmd, "unknown option");
        }
    }
    if (optind < argc) return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!c.arch) return cli_usage(cmd, "--model is required");
    if (!c.out_dir) return cli_usage(cmd, "--out is required");
    if (c.permute_opts && !c.permute) return cli_usage(cmd, "--permute-budget needs --permute");
    if (c.permute_opts) popts.seed = c.seed;
    if (epochs < 0 && !c.from)
        return cli_usage(cmd, "--epochs is required (or --from a trained checkpoint)");
    if (epochs == 0 && !c.from)
        return cli_usage(cmd, "--epochs 0 needs --from a trained checkpoint");
    c.epochs1 = epochs < 0 ? 0 : epochs;
    c.epochs2 = epochs2 >= 0 ? epochs2 : (epochs > 0 ? epochs : 0);
    if (c.from && epochs2 < 0 && epochs < 0)
        return cli_usage(cmd, "--from needs --phase2-epochs (or --epochs)");
    if (c.from && epochs > 0 && epochs2 < 0) c.epochs2 = epochs;

    if ((ec = ranks_check(cmd, &c, gpus, ranks, dev_auto)) != S24_EXIT_OK) return ec;
    if ((ec = make_dir(cmd, c.out_dir)) != S24_EXIT_OK) return ec;
    char state[4096];
    snprintf(state, sizeof state, "%s/state.safetensors", c.out_dir);
    if (!c.resume && access(state, F_OK) == 0)
        return cli_fail(
            cmd,
            "%s: a run already lives here; add --resume to continue it or choose another --out",
            state);
    if (c.resume && access(state, F_OK) != 0)
        return cli_fail(cmd, "%s: nothing to resume (no state file)", state);

    struct s24_dataset train, test;
    double t0 = s24_now();
    if ((ec = train_data_load(cmd, &d, &train, &test)) != S24_EXIT_OK) return ec;
    tt.data = s24_now() - t0;
    c.train = &train;
    c.test = &test;
    if (c.ranks > 1 && train.n % c.ranks) {
        ec = cli_usage(cmd, "%s %d: the %lld training images are not divisible by %d (every "
                            "batch, the last one too, is split evenly; see --limit-train)",
                       gpus ? "--gpus" : "--ranks", c.ranks, (long long)train.n, c.ranks);
        s24_dataset_free(&train);
        s24_dataset_free(&test);
        return ec;
    }

    if (dev_auto && !c.ranks) cli_device("auto", &c.device);
    if (c.bf16 && c.device != S24_DEVICE_CUDA) {
        s24_dataset_free(&train);
        s24_dataset_free(&test);
        return cli_usage(cmd, "--precision bf16 runs on a GPU (--device cuda); the CPU trains "
                              "in fp32");
    }
    if (c.device == S24_DEVICE_CUDA && !gpus) { /* say so now, not after loading the data */
        s24_backend_t *probe = NULL;
        t0 = s24_now();
        int prc = s24_backend_create(S24_DEVICE_CUDA, c.gpu, &probe);
        s24_backend_free(probe);
        tt.probe = s24_now() - t0;
        if (prc != S24_OK) return cli_lib_fail(cmd, prc);
    }
    struct bar b = {isatty(2), 0, s24_now(), c.from ? 0 : c.epochs1, c.epochs2, -1};
    c.progress = progress;
    c.progress_ctx = &b;
    c.stop = &stop_flag;
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    fprintf(stderr,
            "sparse24 train: %s on %s (%lld train, %lld test images of %dx%d), seed %llu, "
            "strategy %s%s, %d + %d epochs, batch %d, %s%s -> %s\n",
            c.arch, d.data, (long long)train.n, (long long)test.n, train.h, train.w,
            (unsigned long long)c.seed, s24_strategy_name(c.strategy),
            c.permute ? " + permute" : "", c.from ? 0 : c.epochs1, c.epochs2, c.batch,
            c.device == S24_DEVICE_CUDA ? "GPU" : "CPU", rank_note(c.ranks, c.local_bn), c.out_dir);
    struct s24_pipeline_result res;
    int rc = s24_pipeline_run(&c, &res);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (b.tty) fprintf(stderr, "\r\033[K");
    if (rc == S24_OK || rc == S24_ERR_INTERRUPTED) train_times_report(cmd, c.out_dir, &tt, &res);
    if (rc == S24_ERR_INTERRUPTED) {
        cli_fail(cmd, "%s", s24_last_error());
        fprintf(stderr, "sparse24 train: to continue, run the same command with --resume\n");
        ec = S24_EXIT_FAIL;
    } else if (rc != S24_OK) {
        ec = cli_lib_fail(cmd, rc);
    } else {
        if (res.dense_acc >= 0) printf("dense test accuracy: %.2f%%\n", res.dense_acc);
        printf("%s test accuracy (%s): %.2f%%\n",
               c.strategy == S24_STRATEGY_DENSE ? "dense retrained" : "2:4",
               s24_strategy_name(c.strategy), res.sparse_acc);
        printf("outputs: %s/{train.csv,phase1.safetensors,%sphase2.safetensors}\n", c.out_dir,
               c.strategy == S24_STRATEGY_DENSE ? "" : "masks.safetensors,");
        ec = S24_EXIT_OK;
    }
    s24_dataset_free(&train);
    s24_dataset_free(&test);
    return ec;
}
