/* cmd_demo.c: `sparse24 demo`: the embedded default, with no GPU, no download
 * and no input file. It builds seeded weights with the shapes of ResNet18 for
 * CIFAR-10, prunes every eligible one to 2:4 (NVIDIA ASP's rule), checks each
 * mask, compresses (fp16) and restores each weight bit for bit, then times the
 * CPU 2:4 GEMM against dense OpenBLAS on one conv-shaped product.
 *
 * The weights are random (Kaiming-normal), not trained: the kept-magnitude
 * share is that of Gaussian weights, and the core part measures no accuracy.
 * demo_core() does the whole pruning/GEMM part and prints as it goes; then
 * demo_train() (demo_train.c) trains, prunes and retrains a small CNN, unless
 * --no-train stops after the core part.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sparse24/sparse24.h"
#include "train_data.h"

#ifdef S24_HAVE_OPENBLAS
#include <cblas.h>
char *openblas_get_corename(void);

/* Debian's OpenBLAS sometimes picks a kernel far older than the CPU (seen:
 * Prescott on an AVX-512 Xeon), which makes the dense side slow and the 2:4
 * ratio look better than it is. The demo names the core, and says so when
 * the core cannot use the vector units this CPU has. */
static void blas_core_note(FILE *out)
{
    const char *core = openblas_get_corename();
    static const char *const wide[] = {"skylakex", "cooperlake", "sapphirerapids", "zen",
                                       "haswell", "icelake", "cascadelake"};
    int vec = 0;
    char low[64];
    size_t k = 0;
    for (; core && core[k] && k < sizeof low - 1; k++)
        low[k] = (char)(core[k] >= 'A' && core[k] <= 'Z' ? core[k] + 32 : core[k]);
    low[k] = 0;
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++) vec |= strstr(low, wide[i]) != NULL;
    int avx2 = __builtin_cpu_supports("avx2"), avx512 = __builtin_cpu_supports("avx512f");
    fprintf(out, "         OpenBLAS core: %s (OPENBLAS_CORETYPE %s)\n", core ? core : "?",
            getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "unset");
    if (!vec && (avx2 || avx512))
        fprintf(out, "         note: this core does not use the CPU's %s units, so the dense time "
                     "and the ratio below are indicative only;\n"
                     "         `sparse24 bench cpu` measures against the fastest correct core "
                     "type (or set OPENBLAS_CORETYPE=%s)\n",
                avx512 ? "AVX-512" : "AVX2", avx512 ? "SkylakeX" : "Haswell");
    else
        fprintf(out, "         (one shape, indicative; `sparse24 bench cpu` compares core types "
                     "and shapes)\n");
}
#endif

static void usage(FILE *f)
{
    fprintf(f,
"usage: sparse24 demo [options]\n"
"\n"
"Runs without a GPU, a download or any input file: builds seeded random\n"
"weights with ResNet18-for-CIFAR shapes (11.2 M parameters), prunes each\n"
"eligible conv/linear weight to 2:4 (NVIDIA ASP's rule: out %% 8 == 0 and\n"
"in %% 16 == 0), checks every mask, compresses each pruned weight as fp16\n"
"(values + 2-bit metadata) and restores it byte for byte, then multiplies a\n"
"2:4 conv-as-GEMM (a 256-channel 3x3 layer on an 8x8 map, batch 16) on the\n"
"CPU and compares it with the dense product (OpenBLAS sgemm). Last, it trains\n"
"smallcnn on the built-in synthetic images, prunes it 2:4, retrains it and\n"
"prints dense vs 2:4 test accuracy (demo_train.c).\n"
"\n"
"options:\n"
"      --seed N      weight and input seed (default 1)\n"
"      --no-train    stop after the GEMM (seconds instead of minutes)\n"
"  -t, --threads N   " CLI_THREADS_HELP "\n"
"  -h, --help        this text\n"
"\n"
"exit codes: 0 success, 1 runtime failure (a check failed), 2 bad usage\n");
}

struct demo_opts {
    uint64_t seed;
    int no_train; /* core part only */
};

/* What the core part measured, for a caller that goes on (e.g. training). */
struct demo_result {
    int tensors, pruned;                 /* weight tensors, of which 2:4 */
    int64_t params, params24;            /* weights, of which in 2:4 tensors */
    double mag_total, mag_kept;          /* sum |w| of the 2:4 tensors, kept part */
    size_t f16_dense, f16_compressed;    /* bytes of the 2:4 tensors as fp16 */
    double t_sparse, t_plan_run, t_dense; /* seconds, medians */
    double rel_err;                       /* max|C_2:4 - C_dense| / max|C_dense| */
};

/* ResNet18 for CIFAR-10 (3x3 stem, no max-pool), PyTorch names and OIHW. */
static const struct demo_layer {
    const char *name;
    int64_t oc, ic, k;
} layers[] = {
    {"conv1.weight", 64, 3, 3},
    {"layer1.0.conv1.weight", 64, 64, 3}, {"layer1.0.conv2.weight", 64, 64, 3},
    {"layer1.1.conv1.weight", 64, 64, 3}, {"layer1.1.conv2.weight", 64, 64, 3},
    {"layer2.0.conv1.weight", 128, 64, 3}, {"layer2.0.conv2.weight", 128, 128, 3},
    {"layer2.0.downsample.0.weight", 128, 64, 1},
    {"layer2.1.conv1.weight", 128, 128, 3}, {"layer2.1.conv2.weight", 128, 128, 3},
    {"layer3.0.conv1.weight", 256, 128, 3}, {"layer3.0.conv2.weight", 256, 256, 3},
    {"layer3.0.downsample.0.weight", 256, 128, 1},
    {"layer3.1.conv1.weight", 256, 256, 3}, {"layer3.1.conv2.weight", 256, 256, 3},
    {"layer4.0.conv1.weight", 512, 256, 3}, {"layer4.0.conv2.weight", 512, 512, 3},
    {"layer4.0.downsample.0.weight", 512, 256, 1},
    {"layer4.1.conv1.weight", 512, 512, 3}, {"layer4.1.conv2.weight", 512, 512, 3},
    {"fc.weight", 10, 512, 0}, /* k == 0: linear [out, in] */
};
#define N_LAYERS ((int)(sizeof layers / sizeof layers[0]))
#define GEMM_LAYER 13 /* layer3.1.conv1: 256 -> 256, 3x3 */
#define GEMM_N 1024   /* batch 16 x 8 x 8 output positions */
#define REPS 7

/* Seeded Kaiming-normal weights, one stream per layer so the values do not
 * depend on the thread count. */
static void fill_layer(float *w, int64_t n, int64_t fan_in, uint64_t seed, int idx)
{
    struct s24_rng r;
    s24_rng_seed(&r, seed * 0x9E3779B97F4A7C15ull + (uint64_t)idx + 1);
    double sd = sqrt(2.0 / (double)fan_in);
    for (int64_t e = 0; e < n; e++) w[e] = (float)(sd * s24_rng_normal(&r));
}

static double median(double *t, int n)
{
    cli_sort_doubles(t, n);
    return t[n / 2];
}

/* The 2:4 GEMM against the dense one on a pruned conv weight (OIHW, fp32).
 * The weight goes to OHWI so the GEMM's K = kh*kw*ic has input channels
 * fastest: the 2:4 groups of the OIHW view are then 4 consecutive K. */
static int demo_gemm(const char *cmd, const struct demo_layer *L, const float *w_oihw,
                     uint64_t seed, struct demo_result *res, FILE *out)
{
    const int64_t M = L->oc, KK = L->k * L->k, K = L->ic * KK, N = GEMM_N;
    int rc = S24_EXIT_FAIL, st;
    struct s24_compressed c = {0};
    float *A = malloc((size_t)(M * K) * sizeof(float));  /* A: (OC, KH*KW*IC), OHWI */
    float *B = malloc((size_t)(K * N) * sizeof(float));  /* B: (K, N) im2col columns */
    float *Cs = malloc((size_t)(M * N) * sizeof(float)); /* 2:4 product */
    float *Cd = malloc((size_t)(M * N) * sizeof(float)); /* dense product */
    s24_spmm_plan_t plan = NULL;
    double ts[REPS], tp[REPS], td[REPS];
    if (!A || !B || !Cs || !Cd) {
        cli_fail(cmd, "out of memory for the %lldx%lldx%lld GEMM", (long long)M, (long long)N,
                 (long long)K);
        goto fail;
    }
    for (int64_t o = 0; o < M; o++)
        for (int64_t i = 0; i < L->ic; i++)
            for (int64_t p = 0; p < KK; p++)
                A[(o * KK + p) * L->ic + i] = w_oihw[(o * L->ic + i) * KK + p];
    struct s24_rng r;
    s24_rng_seed(&r, seed ^ 0xB5297A4D3F1C0E27ull);
    for (int64_t e = 0; e < K * N; e++) B[e] = s24_rng_uniformf(&r, -1, 1);
    struct s24_view v = {M, K, 1};
    if ((st = s24_compress(S24_F32, A, v, &c))) {
        rc = cli_lib_fail(cmd, st);
        goto fail;
    }
    /* Each product timed in its own loop after a warm-up: OpenMP's and
     * OpenBLAS's thread pools both spin for a while after a call, and
     * interleaving them would make each pay for the other's idle spinning. */
    for (int rep = -1; rep < REPS; rep++) {
        for (int64_t e = 0; e < M * N; e++) Cs[e] = NAN; /* poison */
        double t0 = s24_now();
        if ((st = s24_spmm(&c, B, N, Cs))) {
            rc = cli_lib_fail(cmd, st);
            goto fail;
        }
        if (rep >= 0) ts[rep] = s24_now() - t0;
    }
    /* the same with the plan (A in the kernel's form) built once, as a
     * layer that runs many batches would */
    if ((st = s24_spmm_plan_init(&plan, &c))) {
        rc = cli_lib_fail(cmd, st);
        goto fail;
    }
    for (int rep = -1; rep < REPS; rep++) {
        double t0 = s24_now();
        if ((st = s24_spmm_plan_run(plan, B, N, Cs))) {
            rc = cli_lib_fail(cmd, st);
            goto fail;
        }
        if (rep >= 0) tp[rep] = s24_now() - t0;
    }
    for (int rep = -1; rep < REPS; rep++) {
        for (int64_t e = 0; e < M * N; e++) Cd[e] = NAN;
        double t0 = s24_now();
#ifdef S24_HAVE_OPENBLAS
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, A,
                    (int)K, B, (int)N, 0.0f, Cd, (int)N);
#else
        s24_gemm_ref(M, N, K, A, B, Cd);
#endif
        if (rep >= 0) td[rep] = s24_now() - t0;
    }
    double maxd = 0, maxerr = 0;
    for (int64_t e = 0; e < M * N; e++) {
        double d = fabs((double)Cd[e]), err = fabs((double)Cs[e] - (double)Cd[e]);
        if (d > maxd) maxd = d;
        if (!(err <= maxerr)) maxerr = err; /* NaN (an unwritten element) wins */
    }
    res->t_sparse = median(ts, REPS);
    res->t_dense = median(td, REPS);
    res->t_plan_run = median(tp, REPS);
    res->rel_err = maxd > 0 ? maxerr / maxd : maxerr;
    double flop = 2.0 * (double)M * (double)N * (double)K; /* dense-equivalent */
    fprintf(out, "gemm     %s as GEMM: M=%lld N=%lld K=%lld fp32, %d threads, median of %d\n",
            L->name, (long long)M, (long long)N, (long long)K, s24_threads_get(), REPS);
    char label[64];
    snprintf(label, sizeof label, "2:4 s24_spmm (%s, plan included):", s24_spmm_isa());
    fprintf(out, "         %-36s %8.3f ms  %6.1f dense-equivalent GFLOP/s\n", label,
            1e3 * res->t_sparse, flop / res->t_sparse * 1e-9);
    fprintf(out, "         %-36s %8.3f ms  %6.1f dense-equivalent GFLOP/s\n",
            "2:4 plan built once, run only:", 1e3 * res->t_plan_run,
            flop / res->t_plan_run * 1e-9);
#ifdef S24_HAVE_OPENBLAS
    fprintf(out, "         %-36s %8.3f ms  %6.1f GFLOP/s\n", "dense OpenBLAS sgemm:",
            1e3 * res->t_dense, flop / res->t_dense * 1e-9);
    blas_core_note(out);
#else
    fprintf(out, "         %-36s %8.3f ms  %6.1f GFLOP/s\n", "dense naive reference (no BLAS):",
            1e3 * res->t_dense, flop / res->t_dense * 1e-9);
#endif
    fprintf(out,
            "         dense/2:4 time %.2fx (s24_spmm), %.2fx (plan run); max |C_2:4 - C_dense| / "
            "max |C_dense| = %.2e\n",
            res->t_dense / res->t_sparse, res->t_dense / res->t_plan_run, res->rel_err);
    /* fp32 sums of up to K/2 products in another order: a few ulps of the largest value */
    if (!(res->rel_err < 1e-5)) {
        cli_fail(cmd, "the 2:4 GEMM differs from the dense one (relative error %.3g)",
                 res->rel_err);
        goto fail;
    }
    rc = S24_EXIT_OK;
fail:
    s24_spmm_plan_free(plan);
    s24_compressed_free(&c);
    free(A);
    free(B);
    free(Cs);
    free(Cd);
    return rc;
}

/* Build, prune, check, compress/restore every weight, then the GEMM. Prints
 * as it goes on `out`; returns an exit code. */
static int demo_core(const char *cmd, const struct demo_opts *o, struct demo_result *res,
                     FILE *out)
{
    int rc = S24_EXIT_FAIL, st;
    float *w[N_LAYERS] = {0};
    uint16_t *h = NULL, *hback = NULL; /* fp16 copy and its restored twin, largest layer */
    uint8_t *mask = NULL;
    struct s24_compressed c = {0};
    int tty = isatty(fileno(stderr));
    char skipped[512] = "";
    double t0 = s24_now();
    int64_t maxn = 0;
    memset(res, 0, sizeof *res);

    for (int l = 0; l < N_LAYERS; l++) {
        const struct demo_layer *L = &layers[l];
        int64_t n = L->oc * L->ic * (L->k ? L->k * L->k : 1);
        w[l] = malloc((size_t)n * sizeof(float)); /* w[l]: OIHW (or [out, in]) */
        if (!w[l]) {
            cli_fail(cmd, "out of memory for %s", L->name);
            goto fail;
        }
        res->params += n;
        if (n > maxn) maxn = n;
    }
#pragma omp parallel for num_threads(s24_threads_get()) schedule(dynamic, 1)
    for (int l = 0; l < N_LAYERS; l++) {
        const struct demo_layer *L = &layers[l];
        int64_t kk = L->k ? L->k * L->k : 1;
        fill_layer(w[l], L->oc * L->ic * kk, L->ic * kk, o->seed, l);
    }
    res->tensors = N_LAYERS;
    fprintf(out, "weights  ResNet18 (CIFAR-10 shapes), %d tensors, %lld parameters, seed %llu, "
                 "Kaiming-normal fp32 (%.2f s)\n",
            N_LAYERS, (long long)res->params, (unsigned long long)o->seed, s24_now() - t0);

    h = malloc((size_t)maxn * 2);
    hback = malloc((size_t)maxn * 2);
    mask = malloc((size_t)maxn);
    if (!h || !hback || !mask) {
        cli_fail(cmd, "out of memory");
        goto fail;
    }
    double t1 = s24_now();
    for (int l = 0; l < N_LAYERS; l++) {
        const struct demo_layer *L = &layers[l];
        int64_t shape[4] = {L->oc, L->ic, L->k, L->k};
        int ndim = L->k ? 4 : 2;
        int64_t n = s24_numel(ndim, shape);
        if (tty) fprintf(stderr, "\r  pruning %2d/%d %-30s", l + 1, N_LAYERS, L->name);
        if (L->oc % 8 || L->ic % 16) { /* ASP: what Sparse Tensor Cores accept */
            size_t used = strlen(skipped);
            snprintf(skipped + used, sizeof skipped - used, "%s%s (out %lld, in %lld)",
                     used ? ", " : "", L->name, (long long)L->oc, (long long)L->ic);
            continue;
        }
        struct s24_view v;
        struct s24_magnitude mg;
        int64_t bad = 0;
        if ((st = s24_view_of_shape(ndim, shape, &v)) ||
            (st = s24_magnitude(S24_F32, w[l], v, 2, 4, &mg)) ||
            (st = s24_mask_compute(S24_F32, w[l], v, 2, 4, mask)) ||
            (st = s24_mask_check_mask(mask, v, 2, 4)) ||
            (st = s24_mask_apply(S24_F32, w[l], v, mask)) ||
            (st = s24_mask_check(S24_F32, w[l], v, 2, 4, &bad))) {
            if (tty) fputc('\n', stderr);
            cli_fail(cmd, "%s: %s", L->name, s24_last_error());
            goto fail;
        }
        res->pruned++;
        res->params24 += n;
        res->mag_total += mg.total;
        res->mag_kept += mg.kept;
        /* fp16 storage: compress, restore, and demand every byte back */
        const float *wl = w[l];
#pragma omp parallel for num_threads(s24_threads_get()) schedule(static)
        for (int64_t e = 0; e < n; e++) h[e] = s24_f32_to_f16(wl[e]);
        memset(hback, 0xff, (size_t)n * 2);
        if ((st = s24_compress(S24_F16, h, v, &c)) || (st = s24_decompress(&c, v, hback))) {
            if (tty) fputc('\n', stderr);
            cli_fail(cmd, "%s: %s", L->name, s24_last_error());
            goto fail;
        }
        if (memcmp(h, hback, (size_t)n * 2) != 0) {
            if (tty) fputc('\n', stderr);
            cli_fail(cmd, "%s: decompressed fp16 weight differs from the original", L->name);
            goto fail;
        }
        res->f16_dense += (size_t)n * 2;
        res->f16_compressed += s24_compressed_bytes(&c);
        s24_compressed_free(&c);
    }
    if (tty) fprintf(stderr, "\r%60s\r", "");
    fprintf(out, "prune    2:4 on %d of %d tensors, every mask checked (%.2f s)\n", res->pruned,
            res->tensors, s24_now() - t1);
    if (skipped[0])
        fprintf(out, "         kept dense by ASP's rule (out %% 8 == 0, in %% 16 == 0): %s\n",
                skipped);
    fprintf(out, "         %lld of %lld parameters (%.2f%%) are now 2:4; they keep %.2f%% of "
                 "their magnitude sum|w| (%.6f of %.6f)\n",
            (long long)res->params24, (long long)res->params,
            100.0 * (double)res->params24 / (double)res->params,
            100.0 * res->mag_kept / res->mag_total, res->mag_kept, res->mag_total);
    fprintf(out, "compress fp16: %zu bytes dense -> %zu bytes values + metadata (%.2f%%), every "
                 "tensor restored byte for byte\n",
            res->f16_dense, res->f16_compressed,
            100.0 * (double)res->f16_compressed / (double)res->f16_dense);

    rc = demo_gemm(cmd, &layers[GEMM_LAYER], w[GEMM_LAYER], o->seed, res, out);
    if (rc == S24_EXIT_OK) fprintf(out, "done     in %.2f s\n", s24_now() - t0);
fail:
    s24_compressed_free(&c);
    for (int l = 0; l < N_LAYERS; l++) free(w[l]);
    free(h);
    free(hback);
    free(mask);
    return rc;
}

int cmd_demo(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"seed", required_argument, NULL, 's'},
        {"no-train", no_argument, NULL, 'T'},
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "demo";
    struct demo_opts o = {1, 0};
    struct demo_result res;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:h", lopts, NULL)) != -1) {
        switch (c) {
        case 's': {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(optarg, &end, 10);
            if (!*optarg || *end || errno || optarg[0] == '-')
                return cli_usage(cmd, "--seed wants a non-negative integer, got '%s'", optarg);
            o.seed = s;
            break;
        }
        case 'T': o.no_train = 1; break;
        case 't':
            if (cli_threads(cmd, optarg)) return S24_EXIT_USAGE;
            break;
        case 'h': usage(stdout); return S24_EXIT_OK;
        default: return cli_usage(cmd, "unknown option");
        }
    }
    if (optind < argc) return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    int rc = demo_core(cmd, &o, &res, stdout);
    if (rc != S24_EXIT_OK || o.no_train) return rc;
    return demo_train(cmd, o.seed, stdout);
}
