/* cmd_permute.c: `sparse24 permute`: search a channel permutation that lets
 * 2:4 pruning keep more magnitude, on one matrix (.npy, or a tensor of a
 * safetensors file) or on a whole checkpoint (--model), and print per matrix
 * the default and permuted kept magnitude, the 50%-per-row bound, the
 * efficacy and the time. It does not prune: `sparse24 prune` does that. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sparse24/sparse24.h"
#include "sparse24/sparse24_permute.h"

static const char *const CMD = "permute";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sparse24 permute IN.npy -o PERM.npy [options]\n"
            "       sparse24 permute IN.safetensors --tensor NAME -o PERM.npy [options]\n"
            "       sparse24 permute --model ARCH CKPT.safetensors -o OUT.safetensors [options]\n"
            "       sparse24 permute --model ARCH CKPT.safetensors --in-place [options]\n"
            "\n"
            "Search a permutation of the input channels (columns) that lets 2:4 pruning keep\n"
            "more weight magnitude (Pool & Yu, NeurIPS 2021). A matrix is rows = output\n"
            "channels x kernel positions, columns = input channels (NVIDIA ASP's view); a\n"
            "4-D OIHW conv weight is viewed as (KH*KW*OC) x IC. PERM.npy is a 1-D int64\n"
            "array: column j of the permuted matrix is column PERM[j] of the input.\n"
            "With --model the whole checkpoint (torchvision names) is permuted so that\n"
            "the network computes the same function, and written to OUT.safetensors.\n"
            "\n"
            "options:\n"
            "  -o, --output PATH       where to write PERM.npy or OUT.safetensors (written\n"
            "                          atomically; required unless --in-place; never the input)\n"
            "      --in-place          with --model: replace CKPT with the permuted checkpoint\n"
            "      --tensor NAME       the tensor of a .safetensors input to search\n"
            "      --model ARCH        %s: permute a checkpoint\n"
            "  -s, --strategy NAME     default | swap | stripes8 | stripes12 | identity\n"
            "                          (default: channel swaps with escapes, see docs/permute.md)\n"
            "      --seed S            seed of the escapes (default 1); same seed, same result\n"
            "      --escapes N         escapes from local optima (default: 4e8/(rows x cols) in\n"
            "                          [50, 1000] for the default strategy, 100 for swap, 0 for\n"
            "                          stripes8 and stripes12)\n"
            "      --max-moves N       stop after N improving moves (default: no limit)\n"
            "      --time-budget SEC   stop a search after SEC seconds (per matrix with --model)\n"
            "  -t, --threads N         " CLI_THREADS_HELP "\n"
            "      --progress          with --model: " CLI_PROGRESS_HELP "\n"
            "                          (on a terminal it is always drawn)\n"
            "  -h, --help              this text\n"
            "\n"
            "Output: one line per matrix: rows, cols, strategy, kept magnitude by 2:4 in the\n"
            "natural order and after the permutation, the bound of keeping the largest half\n"
            "of every row, efficacy = 100 x (permuted - default) / (bound - default), time,\n"
            "moves, escapes and why the search stopped.\n"
            "exit codes: 0 success, 1 runtime failure, 2 bad usage\n",
            cli_permutable_list());
}

static void print_header(void)
{
    printf("%-32s %6s %5s %-9s %15s %15s %15s %8s %8s %6s %7s %s\n", "matrix", "rows", "cols",
           "strategy", "kept_default", "kept_permuted", "bound_50pct", "effic_%", "time_s", "moves",
           "escapes", "stop");
}

static void print_row(const char *name, const struct s24_permute_result *r)
{
    printf("%-32s %6lld %5lld %-9s %15.6f %15.6f %15.6f %8.2f %8.3f %6lld %7lld %s\n", name,
           (long long)r->rows, (long long)r->cols, s24_permute_strategy_name(r->strategy),
           r->kept_default, r->kept_permuted, r->row_bound, r->efficacy, r->seconds,
           (long long)r->moves, (long long)r->escapes, s24_permute_stop_name(r->stop));
}

/* The library's message without its "permute: " prefix (the line already
 * starts with "sparse24 permute: FILE:"). */
static const char *lib_msg(void)
{
    const char *m = s24_last_error();
    return strncmp(m, "permute: ", 9) ? m : m + 9;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* Search one weight (2-D matrix or 4-D OIHW) and write the permutation. */
static int search_weight(const char *name, enum s24_dtype dt, const void *data, int ndim,
                         const int64_t *shape, const struct s24_permute_opts *o, const char *out)
{
    double *m = NULL;
    int64_t rows, cols, *perm = NULL;
    struct s24_permute_result res;
    int rc = s24_permute_matrix(dt, data, ndim, shape, &m, &rows, &cols);
    if (rc) return cli_fail(CMD, "%s: %s", name, lib_msg());
    perm = malloc((size_t)cols * sizeof *perm);
    if (!perm) {
        free(m);
        return cli_fail(CMD, "%s: out of memory", name);
    }
    rc = s24_permute_search(S24_F64, m, rows, cols, o, perm, &res);
    if (rc) {
        int ec = cli_fail(CMD, "%s: %s", name, lib_msg());
        free(m), free(perm);
        return ec;
    }
    print_header();
    print_row(name, &res);
    int64_t pshape[1] = {cols};
    rc = s24_npy_write(out, S24_I64, 1, pshape, perm);
    free(m), free(perm);
    if (rc) return cli_lib_fail(CMD, rc);
    return S24_EXIT_OK;
}

static int run_npy(const char *in, const struct s24_permute_opts *o, const char *out)
{
    enum s24_dtype dt;
    int ndim;
    int64_t shape[S24_MAX_DIMS];
    void *data = NULL;
    int rc = s24_npy_read(in, &dt, &ndim, shape, &data);
    if (rc) return cli_lib_fail(CMD, rc);
    if (ndim != 2 && ndim != 4) {
        free(data);
        return cli_fail(
            CMD, "%s: a %d-D array; need a 2-D matrix (rows x input channels) or a 4-D OIHW weight",
            in, ndim);
    }
    const char *base = strrchr(in, '/');
    rc = search_weight(base ? base + 1 : in, dt, data, ndim, shape, o, out);
    free(data);
    return rc;
}

static int run_tensor(const char *in, const char *tensor, const struct s24_permute_opts *o,
                      const char *out)
{
    struct s24_st st;
    s24_st_init(&st);
    int rc = s24_st_read(in, &st);
    if (rc) return cli_lib_fail(CMD, rc);
    struct s24_st_tensor *t = s24_st_find(&st, tensor);
    int ec;
    if (!t) {
        ec = cli_fail(CMD, "%s: no tensor named '%s'", in, tensor);
    } else if (t->ndim != 2 && t->ndim != 4) {
        ec = cli_fail(CMD, "%s: tensor '%s' is %d-D; need a 2-D linear or 4-D OIHW conv weight", in,
                      tensor, t->ndim);
    } else {
        ec = search_weight(tensor, t->dtype, t->data, t->ndim, t->shape, o, out);
    }
    s24_st_free(&st);
    return ec;
}

/* Called as the search of channel space i of n starts. */
static void show_progress(void *ctx, int i, int n, const char *space)
{
    cli_progress_step(ctx, i, n, "channel space %d/%d %.40s", i + 1, n, space);
}

static int run_model(const char *arch, const char *in, const struct s24_permute_opts *oin,
                     const char *out, int force_progress)
{
    struct s24_permute_opts opts = *oin, *o = &opts;
    struct cli_progress pr;
    cli_progress_begin(&pr, CMD, force_progress);
    if (pr.on) {
        opts.progress = show_progress;
        opts.progress_ctx = &pr;
    }
    struct s24_st st;
    struct s24_permute_report rep;
    memset(&rep, 0, sizeof rep);
    s24_st_init(&st);
    int rc = s24_st_read(in, &st);
    if (rc) return cli_lib_fail(CMD, rc);
    rc = s24_permute_checkpoint(&st, arch, o, &rep);
    cli_progress_end(&pr);
    if (rc) {
        int ec = cli_fail(CMD, "%s: %s", in, s24_last_error());
        s24_st_free(&st);
        s24_permute_report_free(&rep);
        return ec;
    }
    print_header();
    double kd = 0, kp = 0, b = 0, secs = 0;
    for (int i = 0; i < rep.n; i++) {
        print_row(rep.spaces[i].name, &rep.spaces[i].res);
        kd += rep.spaces[i].res.kept_default;
        kp += rep.spaces[i].res.kept_permuted;
        b += rep.spaces[i].res.row_bound;
        secs += rep.spaces[i].res.seconds;
    }
    printf("total: %d channel spaces, kept %.6f -> %.6f of bound %.6f, efficacy %.2f%%, %.3f s\n",
           rep.n, kd, kp, b, b > kd ? 100.0 * (kp - kd) / (b - kd) : 0.0, secs);
    for (int i = 0; i < rep.n_skipped && i < 16; i++) printf("not permuted: %s\n", rep.skipped[i]);
    if (rep.n_skipped > 16) printf("not permuted: ... and %d more\n", rep.n_skipped - 16);
    rc = s24_st_write(out, &st);
    s24_st_free(&st);
    s24_permute_report_free(&rep);
    if (rc) return cli_lib_fail(CMD, rc);
    return S24_EXIT_OK;
}

int cmd_permute(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'},     {"tensor", required_argument, 0, 'T'},
        {"model", required_argument, 0, 'M'},      {"strategy", required_argument, 0, 's'},
        {"seed", required_argument, 0, 'S'},       {"escapes", required_argument, 0, 'e'},
        {"max-moves", required_argument, 0, 'm'},  {"time-budget", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'},    {"help", no_argument, 0, 'h'},
        {"in-place", no_argument, 0, 'P'},         {"progress", no_argument, 0, 'G'},
        {0, 0, 0, 0},
    };
    const char *out = NULL, *tensor = NULL, *model = NULL;
    struct s24_permute_opts o;
    s24_permute_opts_default(&o);
    optind = 1;
    int c, in_place = 0, force_progress = 0;
    while ((c = getopt_long(argc, argv, "o:s:t:h", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'o': out = optarg; break;
        case 'P': in_place = 1; break;
        case 'G': force_progress = 1; break;
        case 'T': tensor = optarg; break;
        case 'M': model = optarg; break;
        case 's':
            if (s24_permute_strategy_parse(optarg, &o.strategy))
                return cli_usage(
                    CMD, "unknown --strategy '%s' (default, swap, stripes8, stripes12, identity)",
                    optarg);
            break;
        case 'S': {
            unsigned long long v = strtoull(optarg, &end, 10);
            if (!*optarg || *end || optarg[0] == '-')
                return cli_usage(CMD, "bad --seed '%s'", optarg);
            o.seed = v;
            break;
        }
        case 'e':
            if (cli_parse_i64(optarg, 0, INT64_MAX, &o.escapes))
                return cli_usage(CMD, "bad --escapes '%s'", optarg);
            break;
        case 'm':
            if (cli_parse_i64(optarg, 0, INT64_MAX, &o.max_moves))
                return cli_usage(CMD, "bad --max-moves '%s'", optarg);
            break;
        case 'b':
            o.time_budget = strtod(optarg, &end);
            if (!*optarg || *end || !(o.time_budget > 0) || o.time_budget > 1e7)
                return cli_usage(CMD, "bad --time-budget '%s' (seconds > 0)", optarg);
            break;
        case 't':
            if (cli_threads(CMD, optarg)) return S24_EXIT_USAGE;
            break;
        case 'h': usage(stdout); return S24_EXIT_OK;
        default: return cli_usage(CMD, "unknown option");
        }
    }
    if (optind != argc - 1)
        return cli_usage(CMD, optind >= argc ? "missing input file" : "one input file expected");
    const char *in = argv[optind];
    if (in_place && !model)
        return cli_usage(CMD, "--in-place needs --model (a permutation never replaces its matrix)");
    if (!out && in_place) out = in;
    if (!out) return cli_usage(CMD, "missing -o OUTPUT");
    int ec;
    if ((ec = cli_output_check(CMD, out, 0)) != S24_EXIT_OK ||
        (!in_place && (ec = cli_output_not_input(CMD, out, in, model != NULL)) != S24_EXIT_OK))
        return ec;
    if (model) {
        if (tensor) return cli_usage(CMD, "--tensor and --model exclude each other");
        const struct s24_arch_info *ai = s24_arch_find(model);
        if (!ai || !ai->permutable)
            return cli_usage(CMD,
                             "--model '%s': no channel-permutation description (the registry's "
                             "permutable architectures: %s)",
                             model, cli_permutable_list());
        return run_model(model, in, &o, out, force_progress);
    }
    if (ends_with(in, ".safetensors")) {
        if (!tensor)
            return cli_usage(CMD, "%s: a safetensors input needs --tensor NAME (or --model)", in);
        return run_tensor(in, tensor, &o, out);
    }
    if (tensor) return cli_usage(CMD, "--tensor needs a .safetensors input");
    return run_npy(in, &o, out);
}
