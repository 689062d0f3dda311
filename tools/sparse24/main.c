/* main.c: the sparse24 command-line tool: dispatches to one cmd_<verb>.c per
 * subcommand. Exit codes: 0 success, 1 runtime failure, 2 bad usage. It also
 * owns what every command shares about output: the SIGINT/SIGTERM/SIGHUP
 * handler that removes a half-written temporary file, the check that standard
 * output was written whole, and the checks of an -o target. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sparse24/sparse24.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} cmds[] = {
    {"prune", cmd_prune, "prune a safetensors checkpoint to N:M (2:4)"},
    {"inspect", cmd_inspect, "list the tensors of a file and which are N:M sparse"},
    {"compress", cmd_compress, "store 2:4 tensors as values + 2-bit metadata"},
    {"decompress", cmd_decompress, "restore the dense file byte for byte"},
    {"permute", cmd_permute, "search channel permutations that keep more magnitude"},
    {"train", cmd_train, "train dense, prune 2:4, retrain (CIFAR-10 or synthetic)"},
    {"eval", cmd_eval, "test accuracy of a checkpoint"},
    {"infer", cmd_infer, "a checkpoint through the 2:4 inference plan: accuracy, speed, per layer"},
    {"plot", cmd_plot, "per-epoch accuracy curves from training CSVs (SVG)"},
    {"bench", cmd_bench, "benchmarks: bench cpu | bench gemm | bench permute"},
    {"demo", cmd_demo, "the embedded default: no GPU, no download"},
    {"info", cmd_info, "CPU, BLAS, GPU and library versions"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: sparse24 [--version] [--help] <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-11s %s\n", cmds[i].name, cmds[i].what);
    fprintf(f, "\n'sparse24 <command> --help' describes each command.\n"
               "exit codes: 0 success, 1 runtime failure, 2 bad usage\n");
}

/* Remove the temporary file of a write in progress, then die of the signal
 * as if there were no handler (the shell sees the same status). */
static void on_fatal_signal(int sig)
{
    s24_outfile_cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_signal_cleanup(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa, old;
        /* a signal ignored by whoever started us (nohup, `cmd &`) stays ignored */
        if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler == SIG_IGN) continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

/* Standard output must have been written whole: `inspect x > /dev/full` is a
 * failure like any other (exit 1), not a silent success. */
static int stdout_done(const char *cmd, int ec)
{
    int flushed = fflush(stdout) == 0, e = errno;
    if (flushed && !ferror(stdout)) return ec;
    fprintf(stderr, "sparse24%s%s: standard output: write failed%s%s\n", cmd ? " " : "",
            cmd ? cmd : "", flushed ? "" : ": ", flushed ? "" : strerror(e));
    return ec == S24_EXIT_OK ? S24_EXIT_FAIL : ec;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return S24_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return stdout_done(NULL, S24_EXIT_OK);
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("sparse24 %s (commit %s)\n", S24_VERSION_STRING, s24_version_commit());
        return stdout_done(NULL, S24_EXIT_OK);
    }
    install_signal_cleanup();
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name))
            return stdout_done(cmds[i].name, cmds[i].fn(argc - 1, argv + 1));
    fprintf(stderr, "sparse24: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return S24_EXIT_USAGE;
}

int cli_output_check(const char *cmd, const char *out, unsigned flags)
{
    int rc = s24_outfile_check(out, flags);
    return rc == S24_OK ? S24_EXIT_OK : cli_lib_fail(cmd, rc);
}

int cli_output_not_input(const char *cmd, const char *out, const char *in, int has_in_place)
{
    if (!s24_outfile_same(out, in)) return S24_EXIT_OK;
    if (!strcmp(out, in))
        return cli_fail(cmd, "%s: the output is the input; %s", out,
                        has_in_place ? "add --in-place to replace it" : "choose another output");
    return cli_fail(cmd, "%s: the output is the input %s (the same file); %s", out, in,
                    has_in_place ? "add --in-place to replace it" : "choose another output");
}

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "sparse24 %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return S24_EXIT_FAIL;
}

int cli_lib_fail(const char *cmd, int status)
{
    const char *msg = s24_last_error();
    return cli_fail(cmd, "%s", msg[0] ? msg : s24_status_str(status));
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "sparse24 %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\ntry 'sparse24 %s --help'\n", cmd);
    return S24_EXIT_USAGE;
}

int cli_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cli_parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno) return -1;
    *out = v;
    return 0;
}

int cli_threads(const char *cmd, const char *arg)
{
    int64_t n;
    if (cli_parse_i64(arg, 0, 1024, &n))
        return cli_usage(cmd, "--threads '%s': expected a whole number from 0 (all cores) to 1024",
                         arg);
    s24_threads_set((int)n);
    return 0;
}
