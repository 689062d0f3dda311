/* bench_cpu.c: `sparse24 bench cpu`: times the CPU 2:4 SpMM (s24_spmm plans)
 * against OpenBLAS dense sgemm on the same shapes, threads and process, and
 * prints/writes the table docs/results/cpu-gemm.md is made of.
 *
 * Per shape: a random dense A is pruned 2:4 by magnitude and compressed; the
 * dense baseline multiplies the decompressed A (the same numbers) in fp32.
 * Times are medians over repeats after one warm-up call, caches warm for both
 * sides alike; the plan (one-time conversion of A) is timed on its own. The
 * error column compares the sparse result with the dense one; OpenBLAS itself
 * is checked on a few rows against the fp64 oracle, because some core types
 * compute wrong results on some CPUs.
 *
 * Not here: GPU timings (bench_gemm.c), choosing the OpenBLAS core type
 * (OpenBLAS reads OPENBLAS_CORETYPE when it loads; run the command again with
 * it set, as docs/results/cpu-gemm.md shows). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sparse24/sparse24.h"
#include "cpu/spmm_internal.h"

#ifdef S24_HAVE_OPENBLAS
#include <cblas.h>
char *openblas_get_corename(void);
#endif

#define CMD "bench cpu"
#define MAX_SHAPES 64
#define MAX_REPEATS 1000

struct shape {
    char name[48];
    int64_t m, k, n;
};

struct result {
    double plan_s, sparse_s, dense_s; /* medians; dense_s < 0: no BLAS */
    double sparse_min_s, dense_min_s; /* fastest calls: less sensitive to other processes */
    double max_rel_err;               /* max|Cs - Cd| / max|Cd| */
    double blas_err;                  /* sampled rows of sgemm vs fp64 oracle (same measure) */
    int calls;                        /* timed sparse calls */
};

/* Layer shapes timed by default besides the squares: CIFAR-10 ResNet-18
 * 3x3 convolutions as GEMM (M = out channels, K = in channels x 9,
 * N = batch x H x W at batch 16) and a transformer projection at 128 tokens. */
static const struct shape default_layers[] = {
    {"resnet18.layer1.conv 3x3 b16", 64, 576, 16384},
    {"resnet18.layer2.conv 3x3 b16", 128, 1152, 4096},
    {"resnet18.layer3.conv 3x3 b16", 256, 2304, 1024},
    {"resnet18.layer4.conv 3x3 b16", 512, 4608, 256},
    {"linear 4096x4096 t128", 4096, 4096, 128},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sparse24 bench cpu [--sizes LIST] [--shapes FILE] [--no-layers]\n"
            "                          [--dtype LIST] [--threads N] [--repeats R] [--rounds N]\n"
            "                          [--isa auto|avx512|avx2|scalar] [--out DIR] [--progress]\n"
            "       sparse24 bench cpu --ceilings\n"
            "Times C = A x B with A 2:4-compressed (s24_spmm) against OpenBLAS dense sgemm\n"
            "on the decompressed A, side by side in this process, and prints median time,\n"
            "GFLOP/s (dense-equivalent 2*M*N*K), the dense/sparse time ratio and the\n"
            "max relative error max|Cs-Cd|/max|Cd|.\n"
            "  --sizes LIST    square M=K=N sizes (default 256,512,1024,2048,4096; K%%4==0)\n"
            "  --shapes FILE   more shapes, one per line: NAME M K N ('#' comments)\n"
            "  --no-layers     skip the built-in ResNet-18 / transformer layer shapes\n"
            "  --dtype LIST    f32,f16,bf16 (default f32); F16/BF16 B is converted while\n"
            "                  packing; the dense baseline runs sgemm on fp32 copies\n"
            "  --threads N     " CLI_THREADS_HELP ",\n"
            "                  for both sides\n"
            "  --repeats R     timed calls per side (default 6; small shapes repeat until\n"
            "                  0.2 s per side, up to %d); the median is reported\n"
            "  --rounds N      alternate N blocks of sparse calls and N blocks of dense\n"
            "                  calls, each after an untimed warm-up (default 2)\n"
            "  --isa NAME      force the SpMM SIMD path (default auto)\n"
            "  --out DIR       also write DIR/cpu-gemm.csv\n"
            "  --ceilings      only measure the per-core rates of the kernel's ways of\n"
            "                  selecting B (AVX-512; one thread, data in L1) and exit\n"
            "  --progress      " CLI_PROGRESS_HELP "\n"
            "                  (on a terminal it is always drawn)\n"
            "The OpenBLAS core type is fixed when the library loads: run again with\n"
            "OPENBLAS_CORETYPE=NAME to time another (the stamp shows which ran).\n"
            "exit codes: 0 success, 1 runtime failure, 2 bad usage\n",
            MAX_REPEATS);
}

static int parse_sizes(const char *arg, struct shape *sh, int *nsh)
{
    char buf[512];
    if (strlen(arg) >= sizeof buf) return -1;
    memcpy(buf, arg, strlen(arg) + 1); /* length checked above */
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int64_t v;
        if (cli_parse_i64(t, 0, INT64_MAX, &v) < 0 || v < 4 || v > 65536 || v % 4 ||
            *nsh >= MAX_SHAPES)
            return -1;
        struct shape *s = &sh[(*nsh)++];
        snprintf(s->name, sizeof s->name, "square %lld", (long long)v);
        s->m = s->k = s->n = v;
    }
    return 0;
}

/* NAME M K N per line; the name may not contain spaces. */
static int read_shapes(const char *path, struct shape *sh, int *nsh)
{
    FILE *f = fopen(path, "r");
    if (!f) return cli_fail(CMD, "%s: %s", path, strerror(errno));
    char line[512];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *h = strchr(line, '#');
        if (h) *h = 0;
        char name[48], ms[32], ks[32], ns[32], extra[8];
        int got = sscanf(line, "%47s %31s %31s %31s %7s", name, ms, ks, ns, extra);
        if (got <= 0) continue;
        int64_t m, k, n;
        if (got != 4 || cli_parse_i64(ms, 0, INT64_MAX, &m) ||
            cli_parse_i64(ks, 0, INT64_MAX, &k) || cli_parse_i64(ns, 0, INT64_MAX, &n) || m < 1 ||
            k < 4 || n < 1 || k % 4 || m > 1 << 20 || k > 1 << 20 || n > 1 << 24 ||
            (double)m * (double)k > 4e8 || (double)k * (double)n > 4e8 ||
            (double)m * (double)n > 4e8) {
            rc = cli_fail(CMD, "%s:%d: want 'NAME M K N' with K a multiple of 4 and each "
                               "operand under 4e8 elements", path, lineno);
            break;
        }
        if (*nsh >= MAX_SHAPES) {
            rc = cli_fail(CMD, "%s: more than %d shapes", path, MAX_SHAPES);
            break;
        }
        struct shape *s = &sh[(*nsh)++];
        snprintf(s->name, sizeof s->name, "%s", name);
        s->m = m;
        s->k = k;
        s->n = n;
    }
    if (!rc && ferror(f)) rc = cli_fail(CMD, "%s: read error", path);
    fclose(f);
    return rc;
}

static int parse_dtypes(const char *arg, enum s24_dtype *dts, int *ndt)
{
    char buf[64];
    if (strlen(arg) >= sizeof buf) return -1;
    memcpy(buf, arg, strlen(arg) + 1); /* length checked above */
    *ndt = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*ndt >= 3) return -1;
        if (!strcmp(t, "f32")) dts[(*ndt)++] = S24_F32;
        else if (!strcmp(t, "f16")) dts[(*ndt)++] = S24_F16;
        else if (!strcmp(t, "bf16")) dts[(*ndt)++] = S24_BF16;
        else return -1;
    }
    return *ndt ? 0 : -1;
}

/* Sorts t. */
static double median(double *t, int n)
{
    cli_sort_doubles(t, n);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* Let the other side's worker threads stop spinning before timing this one:
 * OpenBLAS and OpenMP workers busy-wait for a while after a call, and on a
 * two-core machine that would steal a core from the next measurement. */
static void settle(void)
{
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static double max_abs_diff_rel(const float *x, const float *ref, size_t n)
{
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - (double)ref[i]);
        if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
        if (fabs((double)ref[i]) > mr) mr = fabs((double)ref[i]);
    }
    return mr > 0 ? md / mr : md;
}

/* Other processes on a 2-core machine skew every timing: the table says how
 * busy the machine was when it started and when it ended. */
static void print_loadavg(const char *when)
{
    char buf[128] = "unknown";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f)) snprintf(buf, sizeof buf, "unknown");
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = 0;
    printf("# load average %s: %s\n", when, buf);
}

static int run_shape(const struct shape *s, enum s24_dtype dt, int repeats, int rounds,
                     struct cli_progress *pr, double at, double total, struct result *res)
{
    const int64_t m = s->m, k = s->k, n = s->n;
    const size_t es = s24_dtype_size(dt);
    void *w = NULL, *B = NULL;          /* w: (m, k) dense A in dt; B: (k, n) in dt */
    float *A32 = NULL, *B32 = NULL;     /* fp32 copies for sgemm */
    float *Cs = NULL, *Cd = NULL;       /* (m, n) sparse and dense results */
    uint8_t *mask = NULL;               /* (m, k) */
    struct s24_compressed c = {0};
    s24_spmm_plan_t plan = NULL;
    double *ts = NULL, *td = NULL;     /* call times, sparse and dense */
    int rc = S24_EXIT_FAIL, st;
    struct s24_rng rng;

    memset(res, 0, sizeof *res);
    res->dense_s = res->dense_min_s = -1;
    res->blas_err = -1;
    w = malloc((size_t)(m * k) * es);
    B = malloc((size_t)(k * n) * es);
    A32 = malloc((size_t)(m * k) * sizeof(float));
    B32 = malloc((size_t)(k * n) * sizeof(float));
    Cs = malloc((size_t)(m * n) * sizeof(float));
    Cd = malloc((size_t)(m * n) * sizeof(float));
    mask = malloc((size_t)(m * k));
    ts = malloc(MAX_REPEATS * sizeof *ts);
    td = malloc(MAX_REPEATS * sizeof *td);
    if (!w || !B || !A32 || !B32 || !Cs || !Cd || !mask || !ts || !td) {
        cli_fail(CMD, "%s: out of memory for %lld x %lld x %lld", s->name, (long long)m,
                 (long long)k, (long long)n);
        goto fail;
    }
    /* Uniform +-[0.05, 1): random, never zero, so a skipped or doubled
     * product shows in the error column. */
    s24_rng_seed(&rng, 0x5eed24 + (uint64_t)(m * 131 + k * 17 + n));
    for (int64_t i = 0; i < m * k + k * n; i++) {
        float v = s24_rng_uniformf(&rng, 0.05f, 1.0f);
        if (s24_rng_below(&rng, 2)) v = -v;
        void *dst = i < m * k ? w : B;
        int64_t j = i < m * k ? i : i - m * k;
        if (dt == S24_F32) ((float *)dst)[j] = v;
        else ((uint16_t *)dst)[j] = dt == S24_F16 ? s24_f32_to_f16(v) : s24_f32_to_bf16(v);
    }
    struct s24_view v = {m, k, 1};
    if ((st = s24_mask_compute(dt, w, v, 2, 4, mask)) != S24_OK ||
        (st = s24_mask_apply(dt, w, v, mask)) != S24_OK ||
        (st = s24_compress(dt, w, v, &c)) != S24_OK ||
        (st = s24_decompress(&c, v, w)) != S24_OK) { /* the dense side gets exactly c */
        cli_lib_fail(CMD, st);
        goto fail;
    }
    for (int64_t i = 0; i < m * k; i++) A32[i] = (float)s24_load_float(dt, w, i);
    for (int64_t i = 0; i < k * n; i++) B32[i] = (float)s24_load_float(dt, B, i);

    /* sparse: plan once, timed alone */
    double t0 = s24_now();
    if ((st = s24_spmm_plan_init(&plan, &c)) != S24_OK) {
        cli_lib_fail(CMD, st);
        goto fail;
    }
    res->plan_s = s24_now() - t0;
    for (int64_t i = 0; i < m * n; i++) Cs[i] = NAN;
    if ((st = s24_spmm_plan_run(plan, B, n, Cs)) != S24_OK) { /* also checks B, n, C */
        cli_lib_fail(CMD, st);
        goto fail;
    }
#ifdef S24_HAVE_OPENBLAS
    for (int64_t i = 0; i < m * n; i++) Cd[i] = NAN;
#endif
    /* Rounds alternate a block of sparse calls and a block of dense calls, so
     * that load from other processes falls on both sides alike; each block
     * starts with an untimed warm-up call. */
    int ns = 0, nd = 0, per = (repeats + rounds - 1) / rounds;
    for (int round = 0; round < rounds; round++) {
        double spent = 0;
        int goal = ns + per;
        settle();
        s24_spmm_plan_run(plan, B, n, Cs); /* same plan and shape: cannot fail now */
        while (ns < MAX_REPEATS && (ns < goal || spent < 0.2 / rounds)) {
            t0 = s24_now();
            s24_spmm_plan_run(plan, B, n, Cs);
            ts[ns] = s24_now() - t0;
            spent += ts[ns++];
        }
        cli_progress_step(pr, at + (round + 0.5) / rounds, total, "%s %s round %d/%d sparse",
                          s->name, s24_dtype_name(dt), round + 1, rounds);
#ifdef S24_HAVE_OPENBLAS
        spent = 0;
        goal = nd + per;
        settle();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, A32,
                    (int)k, B32, (int)n, 0.0f, Cd, (int)n);
        while (nd < MAX_REPEATS && (nd < goal || spent < 0.2 / rounds)) {
            t0 = s24_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f,
                        A32, (int)k, B32, (int)n, 0.0f, Cd, (int)n);
            td[nd] = s24_now() - t0;
            spent += td[nd++];
        }
        cli_progress_step(pr, at + (round + 1.0) / rounds, total, "%s %s round %d/%d dense",
                          s->name, s24_dtype_name(dt), round + 1, rounds);
#endif
    }
    res->sparse_s = median(ts, ns);
    res->sparse_min_s = ts[0];
    res->calls = ns;

#ifdef S24_HAVE_OPENBLAS
    res->dense_s = median(td, nd);
    res->dense_min_s = td[0];
    settle();
    res->max_rel_err = max_abs_diff_rel(Cs, Cd, (size_t)(m * n));
    /* OpenBLAS itself against the fp64 oracle on up to 4 rows spread over M */
    {
        float ref[4096], *row = n <= 4096 ? ref : NULL;
        double worst = 0;
        int rows = m < 4 ? (int)m : 4;
        if (!row) row = malloc((size_t)n * sizeof *row);
        if (!row) {
            cli_fail(CMD, "out of memory");
            goto fail;
        }
        for (int r = 0; r < rows; r++) {
            int64_t i = (m - 1) * r / (rows > 1 ? rows - 1 : 1);
            s24_gemm_ref(1, n, k, A32 + i * k, B32, row);
            double e = max_abs_diff_rel(Cd + i * n, row, (size_t)n);
            if (e > worst || isnan(e)) worst = isnan(e) ? INFINITY : e;
        }
        if (row != ref) free(row);
        res->blas_err = worst;
    }
#else
    /* No BLAS: compare with the fp64 oracle instead (slow, so small shapes only). */
    if ((double)m * n * k <= 1.1e9) {
        s24_gemm_ref(m, n, k, A32, B32, Cd);
        res->max_rel_err = max_abs_diff_rel(Cs, Cd, (size_t)(m * n));
    } else {
        res->max_rel_err = NAN;
    }
#endif
    rc = S24_EXIT_OK;
fail:
    s24_spmm_plan_free(plan);
    s24_compressed_free(&c);
    free(w);
    free(B);
    free(A32);
    free(B32);
    free(Cs);
    free(Cd);
    free(mask);
    free(ts);
    free(td);
    return rc;
}

static const char *blas_core(void)
{
#ifdef S24_HAVE_OPENBLAS
    return openblas_get_corename();
#else
    return "none";
#endif
}

/* --ceilings: the per-core rates of the kernel's B-selection formulations
 * (spmm_ceiling_avx512.c), one thread, synthetic data in L1. */
static int ceilings(void)
{
    struct s24_spmm_ceilings c;
    int st;
    if (strcmp(s24_spmm_isa(), "avx512") != 0)
        return cli_fail(CMD, "--ceilings needs an AVX-512 CPU (this one: %s)", s24_spmm_isa());
    cli_stamp(stdout, "# ");
    print_loadavg("at start");
    if ((st = s24_spmm_ceilings_avx512(&c)) != S24_OK) return cli_lib_fail(CMD, st);
    printf("# one thread, best of 5 rounds, synthetic data in L1; G zmm FMA/s;\n"
           "# dense_eq = G_FMA/s x 64 (16 lanes x 2 flops, x 2 for the half 2:4 skips)\n");
    printf("%-44s %8s %8s %9s\n", "loop", "G_FMA/s", "of_peak", "dense_eq");
    printf("%-44s %8.3f %7.0f%% %9s\n", "peak: 12 FMA chains in registers", c.fma_peak, 100.0,
           "-");
    const struct { const char *name; double v; } rows[] = {
        {"addr: SUB kernel, B row by address (L1)", c.addr},
        {"perm: B in registers, one vpermps per FMA", c.perm},
        {"mixed: 2/3 by address, 1/3 by vpermps", c.mixed}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        printf("%-44s %8.3f %7.0f%% %9.1f\n", rows[i].name, rows[i].v,
               100.0 * rows[i].v / c.fma_peak, rows[i].v * 64.0);
    print_loadavg("at end");
    return S24_EXIT_OK;
}

int bench_cpu_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"sizes", required_argument, 0, 's'},   {"shapes", required_argument, 0, 'S'},
        {"no-layers", no_argument, 0, 'L'},     {"dtype", required_argument, 0, 'd'},
        {"threads", required_argument, 0, 't'}, {"repeats", required_argument, 0, 'r'},
        {"rounds", required_argument, 0, 'R'},  {"isa", required_argument, 0, 'i'},
        {"out", required_argument, 0, 'o'},     {"help", no_argument, 0, 'h'},
        {"progress", no_argument, 0, 'G'},      {"ceilings", no_argument, 0, 'C'},
        {0, 0, 0, 0}};
    struct shape shapes[MAX_SHAPES];
    int nsh = 0, layers = 1, sizes_given = 0, c, st, force_progress = 0;
    const char *shapes_file = NULL, *out_dir = NULL;
    enum s24_dtype dts[3] = {S24_F32};
    int ndt = 1;
    int64_t repeats = 6, rounds = 2;
    char *csv = NULL;
    size_t csv_len = 0;
    FILE *mf = NULL;
    int rc = S24_EXIT_FAIL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "s:S:Ld:t:r:R:i:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            sizes_given = 1;
            if (parse_sizes(optarg, shapes, &nsh) < 0)
                return cli_usage(CMD, "bad --sizes '%s' (comma list, each 4..65536, multiple of 4)",
                                 optarg);
            break;
        case 'S': shapes_file = optarg; break;
        case 'L': layers = 0; break;
        case 'd':
            if (parse_dtypes(optarg, dts, &ndt) < 0)
                return cli_usage(CMD, "bad --dtype '%s' (comma list of f32, f16, bf16)", optarg);
            break;
        case 't':
            if (cli_threads(CMD, optarg)) return S24_EXIT_USAGE;
            break;
        case 'r':
            if (cli_parse_i64(optarg, 0, INT64_MAX, &repeats) < 0 || repeats < 1 ||
                repeats > MAX_REPEATS)
                return cli_usage(CMD, "bad --repeats '%s' (1..%d)", optarg, MAX_REPEATS);
            break;
        case 'R':
            if (cli_parse_i64(optarg, 0, INT64_MAX, &rounds) < 0 || rounds < 1 || rounds > 100)
                return cli_usage(CMD, "bad --rounds '%s' (1..100)", optarg);
            break;
        case 'i':
            if ((st = s24_spmm_set_isa(optarg)) != S24_OK) {
                if (st == S24_ERR_INVALID) return cli_usage(CMD, "%s", s24_last_error());
                return cli_lib_fail(CMD, st);
            }
            break;
        case 'o': out_dir = optarg; break;
        case 'G': force_progress = 1; break;
        case 'C': return ceilings();
        case 'h': usage(stdout); return S24_EXIT_OK;
        default: return cli_usage(CMD, "unknown option");
        }
    }
    if (optind < argc) return cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!sizes_given) parse_sizes("256,512,1024,2048,4096", shapes, &nsh);
    if (layers)
        for (size_t i = 0; i < sizeof default_layers / sizeof default_layers[0] && nsh < MAX_SHAPES;
             i++)
            shapes[nsh++] = default_layers[i];
    if (shapes_file && (st = read_shapes(shapes_file, shapes, &nsh)) != 0) return st;
    if (nsh == 0) return cli_usage(CMD, "no shapes to run");
    /* Fail before minutes of timing, not after. */
    if (out_dir && access(out_dir, W_OK) != 0)
        return cli_fail(CMD, "--out %s: %s", out_dir, strerror(errno));

    struct cli_progress pr;
    cli_progress_begin(&pr, CMD, force_progress);
    cli_stamp(stdout, "# ");
    print_loadavg("at start");
    printf("# timing: median of >= %lld calls per side (>= 0.2 s), in %lld rounds alternating a\n"
           "# sparse and a dense block, each after an untimed warm-up; warm caches\n",
           (long long)repeats, (long long)rounds);
    printf("# GFLOP/s counts 2*M*N*K for both sides; ratio = dense time / sparse time (medians);\n"
           "# r_min = the same for the fastest call of each side\n");
    printf("%-30s %-4s %6s %6s %6s %9s %9s %8s %8s %6s %6s %8s %9s %9s\n", "shape", "dt", "M",
           "K", "N", "sparse_ms", "dense_ms", "sp_GF/s", "de_GF/s", "ratio", "r_min", "plan_ms",
           "max_rel", "blas_err");
    mf = open_memstream(&csv, &csv_len);
    if (!mf) return cli_fail(CMD, "open_memstream: %s", strerror(errno));
    fprintf(mf, "shape,dtype,M,K,N,sparse_ms,dense_ms,sparse_gflops,dense_gflops,ratio,plan_ms,"
                "max_rel_err,blas_err,isa,threads,blas_core,sparse_min_ms,dense_min_ms,calls\n");
    int blas_bad = 0;
    for (int di = 0; di < ndt; di++) {
        for (int si = 0; si < nsh; si++) {
            const struct shape *s = &shapes[si];
            struct result r;
            cli_progress_step(&pr, di * nsh + si, ndt * nsh, "%s %s", s->name,
                              s24_dtype_name(dts[di]));
            if (run_shape(s, dts[di], (int)repeats, (int)rounds, &pr, di * nsh + si, ndt * nsh,
                          &r) != S24_EXIT_OK) {
                cli_progress_end(&pr);
                goto fail;
            }
            cli_progress_end(&pr);
            double fl = 2.0 * (double)s->m * (double)s->n * (double)s->k;
            double sg = fl / r.sparse_s * 1e-9;
            double dg = r.dense_s > 0 ? fl / r.dense_s * 1e-9 : NAN;
            double ratio = r.dense_s > 0 ? r.dense_s / r.sparse_s : NAN;
            if (r.blas_err > 1e-4) blas_bad = 1;
            double rmin = r.dense_min_s > 0 ? r.dense_min_s / r.sparse_min_s : NAN;
            printf("%-30s %-4s %6lld %6lld %6lld %9.3f %9.3f %8.1f %8.1f %6.2f %6.2f %8.2f %9.2e "
                   "%9.2e\n",
                   s->name, s24_dtype_name(dts[di]), (long long)s->m, (long long)s->k,
                   (long long)s->n, r.sparse_s * 1e3, r.dense_s * 1e3, sg, dg, ratio, rmin,
                   r.plan_s * 1e3, r.max_rel_err, r.blas_err);
            fflush(stdout);
            fprintf(mf,
                    "%s,%s,%lld,%lld,%lld,%.4f,%.4f,%.2f,%.2f,%.3f,%.3f,%.3e,%.3e,%s,%d,%s,%.4f,"
                    "%.4f,%d\n",
                    s->name, s24_dtype_name(dts[di]), (long long)s->m, (long long)s->k,
                    (long long)s->n, r.sparse_s * 1e3, r.dense_s * 1e3, sg, dg, ratio,
                    r.plan_s * 1e3, r.max_rel_err, r.blas_err, s24_spmm_isa(), s24_threads_get(),
                    blas_core(), r.sparse_min_s * 1e3, r.dense_min_s * 1e3, r.calls);
        }
    }
    print_loadavg("at end");
    if (blas_bad)
        printf("# WARNING: OpenBLAS (core %s) disagrees with the fp64 oracle (blas_err > 1e-4):\n"
               "# its timings are not a valid baseline\n", blas_core());
    if (fclose(mf) != 0) {
        mf = NULL;
        rc = cli_fail(CMD, "CSV buffer: %s", strerror(errno));
        goto fail;
    }
    mf = NULL;
    if (out_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/cpu-gemm.csv", out_dir);
        if ((st = s24_write_file_atomic(path, csv, csv_len)) != S24_OK) {
            rc = cli_lib_fail(CMD, st);
            goto fail;
        }
        printf("# wrote %s\n", path);
    }
    rc = S24_EXIT_OK;
fail:
    if (mf) fclose(mf);
    free(csv);
    return rc;
}
