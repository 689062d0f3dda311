/* bench_permute.c: `sparse24 bench permute`: runs the channel-permutation
 * strategies on the matrices of NVIDIA Apex's own test (uniform random,
 * np.random.seed(1); np.random.rand(R, C), float64) and on trained ResNet18
 * conv weights, and prints kept magnitude, efficacy and time per strategy
 * next to Apex's published results on an H100 (docs/results/permute-cpu.md).
 *
 * The random matrices are generated here with MT19937 and NumPy's 53-bit
 * double recipe, bit for bit what NumPy's legacy seeding gives (checked
 * against random_128x64_seed1.npy when the data folder has it), so no Python
 * is needed. Each search is timed once, as a user runs it: times include the
 * float copy and the exact double figures. Not here: the GPU.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "sparse24/sparse24.h"
#include "sparse24/sparse24_permute.h"

#define CMD "bench permute"
#define DEFAULT_DATA "../shared/data/permute"

/* ---------------------------------------------------------------- MT19937 */
struct mt {
    uint32_t s[624];
    int i;
};

static void mt_seed(struct mt *m, uint32_t seed)
{
    m->s[0] = seed;
    for (int i = 1; i < 624; i++)
        m->s[i] = 1812433253u * (m->s[i - 1] ^ (m->s[i - 1] >> 30)) + (uint32_t)i;
    m->i = 624;
}

static uint32_t mt_next(struct mt *m)
{
    if (m->i >= 624) {
        for (int k = 0; k < 624; k++) {
            uint32_t y = (m->s[k] & 0x80000000u) | (m->s[(k + 1) % 624] & 0x7fffffffu);
            m->s[k] = m->s[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1) ? 0x9908b0dfu : 0u);
        }
        m->i = 0;
    }
    uint32_t y = m->s[m->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

/* np.random.seed(seed); np.random.rand(rows, cols) */
static double *numpy_rand(uint32_t seed, int64_t rows, int64_t cols)
{
    double *m = malloc((size_t)(rows * cols) * sizeof *m);
    if (!m) return NULL;
    struct mt g;
    mt_seed(&g, seed);
    for (int64_t i = 0; i < rows * cols; i++) {
        uint32_t a = mt_next(&g) >> 5, b = mt_next(&g) >> 6;
        m[i] = (a * 67108864.0 + b) / 9007199254740992.0;
    }
    return m;
}

/* ---------------------------------------------------------------- anchors */
/* Apex with CUDA kernels on an H100 (../shared/data/README.md): efficacy %
 * and seconds per matrix for CS,0 CS,100 OSG8,0 OSG8,100 OSG12,0 (-1: none). */
static const struct {
    const char *matrix;
    double eff[5], sec[5];
} apex[] = {
    {"random_128x64_seed1", {32.1, 32.5, 35.5, 35.5, 37.5}, {0.10, 0.59, 0.005, 0.08, 0.60}},
    {"resnet18_layer1.1.conv2", {16.5, 19.4, 18.2, 18.2, -1}, {0.03, 0.43, 0.007, 0.16, -1}},
    {"resnet18_layer2.1.conv1", {14.7, 15.1, 14.4, 14.8, -1}, {0.22, 1.81, 0.03, 0.44, -1}},
    {"resnet18_layer3.0.conv2", {10.8, 10.9, 11.1, 11.1, -1}, {1.36, 7.45, 0.20, 1.52, -1}},
    {"resnet18_layer4.0.conv1", {9.9, 10.0, 9.8, 9.8, -1}, {1.51, 8.11, 0.42, 2.83, -1}},
};
static const char *const apex_cfg[5] = {"CS,0", "CS,100", "OSG8,0", "OSG8,100", "OSG12,0"};

/* Apex's best efficacy on a matrix and the time it took (0 if unknown). */
static int apex_best(const char *matrix, double *eff, double *sec, const char **cfg)
{
    for (size_t i = 0; i < sizeof apex / sizeof apex[0]; i++) {
        if (strcmp(apex[i].matrix, matrix)) continue;
        int b = 0;
        for (int k = 1; k < 5; k++)
            if (apex[i].eff[k] > apex[i].eff[b] ||
                (apex[i].eff[k] == apex[i].eff[b] && apex[i].sec[k] >= 0 &&
                 apex[i].sec[k] < apex[i].sec[b]))
                b = k;
        *eff = apex[i].eff[b], *sec = apex[i].sec[b], *cfg = apex_cfg[b];
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- runs */
struct cfg {
    enum s24_permute_strategy st;
    int64_t escapes; /* -1: default */
    int64_t max_cols; /* skip wider matrices (cost) */
};

static const struct cfg full_cfgs[] = {
    {S24_PERMUTE_DEFAULT, -1, 1 << 20}, {S24_PERMUTE_SWAP, 0, 1 << 20},
    {S24_PERMUTE_SWAP, 100, 512},       {S24_PERMUTE_SWAP, 1000, 512},
    {S24_PERMUTE_STRIPES8, 0, 1 << 20}, {S24_PERMUTE_STRIPES8, 100, 512},
    {S24_PERMUTE_STRIPES12, 0, 64},     {S24_PERMUTE_STRIPES12, 100, 64},
};
static const struct cfg quick_cfgs[] = {
    {S24_PERMUTE_DEFAULT, -1, 1 << 20},
    {S24_PERMUTE_SWAP, 0, 1 << 20},
    {S24_PERMUTE_STRIPES8, 0, 256},
};

struct mat {
    char name[64];
    int64_t rows, cols;
    double *w;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sparse24 bench permute [--out DIR] [--quick] [--data DIR] [--threads N]\n"
            "                              [--seed S] [--time-budget SEC] [--progress]\n"
            "Channel-permutation search per strategy on uniform random matrices (128x64,\n"
            "256x256, 512x512, 2048x2048; NumPy seed 1) and the trained ResNet18 matrices\n"
            "of DIR (default ../shared/data/permute when it exists; skipped otherwise),\n"
            "next to NVIDIA Apex's H100 results.\n"
            "  --out DIR          also write DIR/permute-cpu.csv and DIR/permute-cpu.md\n"
            "  --quick            fewer matrices and strategies (well under two minutes on\n"
            "                     two cores; needs no data)\n"
            "  --data DIR         folder of resnet18_*.npy and random_128x64_seed1.npy\n"
            "  --threads N        " CLI_THREADS_HELP "\n"
            "  --seed S           search seed (default 1)\n"
            "  --time-budget SEC  cap per search (default 120); a capped run says so\n"
            "  --progress         " CLI_PROGRESS_HELP "\n"
            "                     (on a terminal it is always drawn)\n"
            "exit codes: 0 success, 1 runtime failure, 2 bad usage\n");
}

static int load_data(const char *dir, struct mat *m, int *n, int quick)
{
    static const char *const files[] = {"resnet18_layer1.1.conv2", "resnet18_layer2.1.conv1",
                                        "resnet18_layer3.0.conv2", "resnet18_layer4.0.conv1"};
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cli_fail(CMD, "%s: no such folder (the trained ResNet18 matrices); pass --data DIR",
                        dir);
    int nf = quick ? 1 : 4;
    for (int i = 0; i < nf; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.npy", dir, files[i]);
        enum s24_dtype dt;
        int nd;
        int64_t sh[S24_MAX_DIMS];
        void *d = NULL;
        if (s24_npy_read(path, &dt, &nd, sh, &d)) return cli_lib_fail(CMD, S24_ERR_IO);
        if (nd != 2 || (dt != S24_F32 && dt != S24_F64)) {
            free(d);
            return cli_fail(CMD, "%s: expected a 2-D float matrix", path);
        }
        double *w = malloc((size_t)(sh[0] * sh[1]) * sizeof *w);
        if (!w) {
            free(d);
            return cli_fail(CMD, "out of memory");
        }
        for (int64_t k = 0; k < sh[0] * sh[1]; k++) w[k] = s24_load_float(dt, d, k);
        free(d);
        struct mat *x = &m[(*n)++];
        snprintf(x->name, sizeof x->name, "%s", files[i]);
        x->rows = sh[0], x->cols = sh[1], x->w = w;
    }
    /* the generator must reproduce NumPy's matrix exactly */
    char path[1024];
    snprintf(path, sizeof path, "%s/random_128x64_seed1.npy", dir);
    enum s24_dtype dt;
    int nd;
    int64_t sh[S24_MAX_DIMS];
    void *d = NULL;
    if (s24_npy_read(path, &dt, &nd, sh, &d) == S24_OK) {
        double *g = numpy_rand(1, 128, 64);
        int same = g && dt == S24_F64 && nd == 2 && sh[0] == 128 && sh[1] == 64 &&
                   !memcmp(g, d, 128 * 64 * sizeof *g);
        free(g), free(d);
        if (!same)
            return cli_fail(CMD, "%s: the built-in NumPy generator does not reproduce it", path);
        printf("# random matrices: MT19937 as np.random.seed(1); np.random.rand(R, C) "
               "(identical to %s)\n", path);
    }
    return 0;
}

int bench_permute_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, 0, 'o'},     {"quick", no_argument, 0, 'q'},
        {"data", required_argument, 0, 'd'},    {"threads", required_argument, 0, 't'},
        {"seed", required_argument, 0, 's'},    {"time-budget", required_argument, 0, 'b'},
        {"help", no_argument, 0, 'h'},          {"progress", no_argument, 0, 'G'},
        {0, 0, 0, 0},
    };
    const char *out = NULL, *data = NULL; /* NULL: the default folder, if it is there */
    int quick = 0, force_progress = 0;
    uint64_t seed = 1;
    double budget = 120.0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:qd:t:s:b:h", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'o': out = optarg; break;
        case 'q': quick = 1; break;
        case 'G': force_progress = 1; break;
        case 'd': data = optarg; break;
        case 't':
            if (cli_threads(CMD, optarg)) return S24_EXIT_USAGE;
            break;
        case 's':
            seed = strtoull(optarg, &end, 10);
            if (!*optarg || *end) return cli_usage(CMD, "bad --seed '%s'", optarg);
            break;
        case 'b':
            budget = strtod(optarg, &end);
            if (!*optarg || *end || !(budget > 0))
                return cli_usage(CMD, "bad --time-budget '%s'", optarg);
            break;
        case 'h': usage(stdout); return S24_EXIT_OK;
        default: return cli_usage(CMD, "unknown option");
        }
    }
    if (optind != argc) return cli_usage(CMD, "unexpected argument '%s'", argv[optind]);

    struct mat m[8];
    int n = 0, ec = S24_EXIT_OK;
    /* the result files are built in memory and written whole at the end
     * (s24_write_file_atomic): a run that fails or is stopped leaves none */
    FILE *csv = NULL, *md = NULL;
    char *csv_buf = NULL, *md_buf = NULL;
    size_t csv_len = 0, md_len = 0;
    static const int64_t rnd[][2] = {{128, 64}, {256, 256}, {512, 512}, {2048, 2048}};
    printf("# sparse24 bench permute%s, seed %llu, %d threads, per-search cap %.0f s\n",
           quick ? " --quick" : "", (unsigned long long)seed, s24_threads_get(), budget);
    cli_stamp(stdout, "# ");
    int nr = quick ? 2 : 4;
    for (int i = 0; i < nr; i++) {
        struct mat *x = &m[n++];
        if (rnd[i][0] == 128)
            snprintf(x->name, sizeof x->name, "random_128x64_seed1");
        else
            snprintf(x->name, sizeof x->name, "random_%lldx%lld", (long long)rnd[i][0],
                     (long long)rnd[i][1]);
        x->rows = rnd[i][0], x->cols = rnd[i][1];
        x->w = numpy_rand(1, x->rows, x->cols);
        if (!x->w) {
            ec = cli_fail(CMD, "out of memory");
            goto done;
        }
    }
    /* the trained ResNet18 anchors are optional: asked for with --data, or
     * read from the default folder when it exists (a source checkout next
     * to shared/); the random matrices are generated here */
    struct stat dsb;
    if (data) {
        if ((ec = load_data(data, m, &n, quick))) goto done;
    } else if (stat(DEFAULT_DATA, &dsb) == 0 && S_ISDIR(dsb.st_mode)) {
        if ((ec = load_data(DEFAULT_DATA, m, &n, quick))) goto done;
    } else {
        printf("# trained ResNet18 matrices: not found at %s, skipped (pass --data DIR)\n",
               DEFAULT_DATA);
    }
    if (out) {
        char p[1024];
        mkdir(out, 0777);
        snprintf(p, sizeof p, "%s/permute-cpu.csv", out);
        if ((ec = cli_output_check(CMD, p, 0)) != S24_EXIT_OK) goto done;
        snprintf(p, sizeof p, "%s/permute-cpu.md", out);
        if ((ec = cli_output_check(CMD, p, 0)) != S24_EXIT_OK) goto done;
        csv = open_memstream(&csv_buf, &csv_len);
        md = open_memstream(&md_buf, &md_len);
        if (!csv || !md) {
            ec = cli_fail(CMD, "out of memory");
            goto done;
        }
        fprintf(csv, "matrix,rows,cols,strategy,escapes,seed,threads,kept_default,kept_permuted,"
                     "bound,efficacy_pct,seconds,moves,escapes_tried,stop\n");
        time_t now = time(NULL);
        char date[64];
        strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
        fprintf(md, "# Channel-permutation search on the CPU: results\n\n");
        fprintf(md,
                "Measured %s with `sparse24 bench permute%s --out %s` (commit %s), seed %llu, "
                "%d threads.\n\n```\n",
                date, quick ? " --quick" : "", out, s24_version_commit(), (unsigned long long)seed,
                s24_threads_get());
        cli_stamp(md, "");
        fprintf(md, "```\n\n| matrix | strategy | escapes | efficacy %% | time s | moves | stop |\n"
                    "|---|---|---|---|---|---|---|\n");
    }
    printf("%-26s %6s %5s %-9s %7s %15s %15s %15s %8s %9s %6s %s\n", "matrix", "rows", "cols",
           "strategy", "escapes", "kept_default", "kept_permuted", "bound_50pct", "effic_%",
           "time_s", "moves", "stop");
    struct cli_progress pr;
    cli_progress_begin(&pr, CMD, force_progress);
    const struct cfg *cfgs = quick ? quick_cfgs : full_cfgs;
    int ncfg = quick ? (int)(sizeof quick_cfgs / sizeof *quick_cfgs)
                     : (int)(sizeof full_cfgs / sizeof *full_cfgs);
    for (int i = 0; i < n; i++) {
        int64_t *perm = malloc((size_t)m[i].cols * sizeof *perm);
        if (!perm) {
            ec = cli_fail(CMD, "out of memory");
            goto done;
        }
        double def_eff = -1, def_sec = 0, def_reach = -1;
        double ae = 0, as = 0;
        const char *acfg = "";
        int has_apex = apex_best(m[i].name, &ae, &as, &acfg);
        for (int k = 0; k < ncfg; k++) {
            if (m[i].cols > cfgs[k].max_cols) continue;
            /* the 2048-column matrix: the goal is stripes8 and the default */
            if (m[i].cols > 512 && cfgs[k].escapes > 0) continue;
            struct s24_permute_opts o;
            struct s24_permute_result r;
            s24_permute_opts_default(&o);
            o.strategy = cfgs[k].st;
            o.escapes = cfgs[k].escapes;
            o.seed = seed;
            o.time_budget = budget;
            /* time when this very run first got as good as Apex's best */
            if (has_apex) o.target_efficacy = ae;
            cli_progress_step(&pr, i * ncfg + k, n * ncfg, "%s %s", m[i].name,
                              s24_permute_strategy_name(o.strategy));
            int rc = s24_permute_search(S24_F64, m[i].w, m[i].rows, m[i].cols, &o, perm, &r);
            cli_progress_end(&pr);
            if (rc) {
                ec = cli_fail(CMD, "%s: %s", m[i].name, s24_last_error());
                free(perm);
                goto done;
            }
            if (s24_permute_check(perm, m[i].cols, m[i].name)) {
                ec = cli_fail(CMD, "%s: the search returned no permutation", m[i].name);
                free(perm);
                goto done;
            }
            char esc[24];
            if (cfgs[k].escapes < 0) snprintf(esc, sizeof esc, "%lld*", (long long)r.escapes);
            else snprintf(esc, sizeof esc, "%lld", (long long)cfgs[k].escapes);
            const char *sname = cfgs[k].st == S24_PERMUTE_DEFAULT
                                    ? "default"
                                    : s24_permute_strategy_name(r.strategy);
            printf("%-26s %6lld %5lld %-9s %7s %15.6f %15.6f %15.6f %8.2f %9.4f %6lld %s\n",
                   m[i].name, (long long)m[i].rows, (long long)m[i].cols, sname, esc,
                   r.kept_default, r.kept_permuted, r.row_bound, r.efficacy, r.seconds,
                   (long long)r.moves, s24_permute_stop_name(r.stop));
            fflush(stdout);
            if (cfgs[k].st == S24_PERMUTE_DEFAULT)
                def_eff = r.efficacy, def_sec = r.seconds, def_reach = r.seconds_to_target;
            if (csv)
                fprintf(csv, "%s,%lld,%lld,%s,%s,%llu,%d,%.6f,%.6f,%.6f,%.4f,%.6f,%lld,%lld,%s\n",
                        m[i].name, (long long)m[i].rows, (long long)m[i].cols, sname, esc,
                        (unsigned long long)seed, s24_threads_get(), r.kept_default,
                        r.kept_permuted, r.row_bound, r.efficacy, r.seconds, (long long)r.moves,
                        (long long)r.escapes, s24_permute_stop_name(r.stop));
            if (md)
                fprintf(md, "| %s (%lldx%lld) | %s | %s | %.2f | %.4f | %lld | %s |\n", m[i].name,
                        (long long)m[i].rows, (long long)m[i].cols, sname, esc, r.efficacy,
                        r.seconds, (long long)r.moves, s24_permute_stop_name(r.stop));
        }
        if (!quick && has_apex) {
            /* time to Apex's best: the fewest swap escapes from a ladder */
            static const int64_t ladder[] = {0, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000};
            for (size_t k = 0; k < sizeof ladder / sizeof *ladder; k++) {
                struct s24_permute_opts o;
                struct s24_permute_result r;
                s24_permute_opts_default(&o);
                o.strategy = S24_PERMUTE_SWAP;
                o.escapes = ladder[k];
                o.seed = seed;
                o.time_budget = budget;
                if (s24_permute_search(S24_F64, m[i].w, m[i].rows, m[i].cols, &o, perm, &r)) break;
                if (r.efficacy < ae && k + 1 < sizeof ladder / sizeof *ladder) continue;
                printf(
                    "#   swap reaches Apex's best (%.1f%%) with %lld escapes: %.2f%% in %.4f s\n",
                    ae, (long long)ladder[k], r.efficacy, r.seconds);
                if (md)
                    fprintf(md,
                            "| %s | swap, fewest escapes reaching Apex's best | %lld | %.2f | %.4f "
                            "| %lld | %s |\n",
                            m[i].name, (long long)ladder[k], r.efficacy, r.seconds,
                            (long long)r.moves,
                            r.efficacy >= ae
                                ? (r.seconds <= as ? "faster than Apex" : "slower than Apex")
                                : "not reached");
                if (csv)
                    fprintf(csv,
                            "%s,%lld,%lld,swap-ladder,%lld,%llu,%d,%.6f,%.6f,%.6f,%.4f,%.6f,%lld,"
                            "%lld,%s\n",
                            m[i].name, (long long)m[i].rows, (long long)m[i].cols,
                            (long long)ladder[k], (unsigned long long)seed, s24_threads_get(),
                            r.kept_default, r.kept_permuted, r.row_bound, r.efficacy, r.seconds,
                            (long long)r.moves, (long long)r.escapes,
                            s24_permute_stop_name(r.stop));
                break;
            }
        }
        if (def_eff >= 0 && has_apex) {
            /* The goal: the default run gets at least as good as Apex's best
             * in no more time than Apex took. def_reach is when that run
             * first got there (it then goes on improving until def_sec). */
            int ok = def_eff >= ae && def_reach >= 0 && def_reach <= as;
            char reach[48];
            if (def_reach >= 0) snprintf(reach, sizeof reach, "%.4f s", def_reach);
            else snprintf(reach, sizeof reach, "never");
            printf("#   vs Apex best on H100 (%s): %.1f%% in %.3f s; default here reached it after "
                   "%s, "
                   "finished at %.2f%% in %.3f s -> %s\n",
                   acfg, ae, as, reach, def_eff, def_sec, ok ? "goal met" : "goal NOT met");
            if (md)
                fprintf(md,
                        "| %s | **Apex H100 best (%s)** | | %.1f | %.3f | | default reached it "
                        "after %s "
                        "(finished at %.2f%% in %.3f s): %s |\n",
                        m[i].name, acfg, ae, as, reach, def_eff, def_sec,
                        ok ? "meets it" : "does NOT meet it");
        }
        free(perm);
    }
    if (csv && md) {
        char p[1024];
        int rc = fclose(csv);
        rc |= fclose(md);
        csv = md = NULL;
        if (rc) {
            ec = cli_fail(CMD, "out of memory");
            goto done;
        }
        snprintf(p, sizeof p, "%s/permute-cpu.csv", out);
        if ((rc = s24_write_file_atomic(p, csv_buf, csv_len)) == S24_OK) {
            snprintf(p, sizeof p, "%s/permute-cpu.md", out);
            rc = s24_write_file_atomic(p, md_buf, md_len);
        }
        if (rc != S24_OK) ec = cli_lib_fail(CMD, rc);
    }
done:
    if (csv) fclose(csv);
    if (md) fclose(md);
    free(csv_buf);
    free(md_buf);
    for (int i = 0; i < n; i++) free(m[i].w);
    return ec;
}
