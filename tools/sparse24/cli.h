/* cli.h: what the sparse24 subcommands share: their entry points, exit codes
 * and small helpers for messages. Only the CLI prints and exits; the library
 * returns codes. */
#ifndef S24_CLI_H
#define S24_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "sparse24/sparse24_nn.h"

/* Exit codes (documented in README.md and every --help). */
#define S24_EXIT_OK 0
#define S24_EXIT_FAIL 1  /* runtime failure: bad file, I/O, GPU error ... */
#define S24_EXIT_USAGE 2 /* bad command line */

/* Subcommands: each parses its own options (getopt_long) with argv[0] the
 * subcommand's name, and returns an exit code. */
int cmd_info(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_compress(int argc, char **argv);
int cmd_decompress(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_bench(int argc, char **argv);     /* dispatches bench cpu|gemm|permute */
int cmd_permute(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_infer(int argc, char **argv);
int cmd_plot(int argc, char **argv);

/* bench subcommands (the files in bench/) */
int bench_cpu_main(int argc, char **argv);
int bench_gemm_main(int argc, char **argv);
int bench_permute_main(int argc, char **argv);
int bench_train_main(int argc, char **argv);
int bench_infer_main(int argc, char **argv);

/* Print "sparse24 <cmd>: <message>" on stderr; returns S24_EXIT_FAIL. */
int cli_fail(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* The same for a failed library call: prints s24_last_error() (or the status name). */
int cli_lib_fail(const char *cmd, int status);
/* Bad usage: message plus "try 'sparse24 <cmd> --help'"; returns S24_EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Check an -o target before the work starts (s24_outfile_check with these
 * flags): S24_EXIT_OK, or the message printed and S24_EXIT_FAIL. */
int cli_output_check(const char *cmd, const char *out, unsigned flags);
/* Refuse an output that is the input file (same inode, links followed):
 * S24_EXIT_OK if they differ, else the message (with "add --in-place" when the
 * command has that option) and S24_EXIT_FAIL. */
int cli_output_not_input(const char *cmd, const char *out, const char *in, int has_in_place);
/* Parse a whole decimal integer in [lo, hi] (no trailing characters, no
 * overflow); 0 on success, -1 otherwise. Every option parser uses it. */
int cli_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
/* Parse a whole floating-point number; 0 on success, -1 otherwise. */
int cli_parse_double(const char *s, double *out);
/* --threads N for every command: N in 0..1024 (0 = all cores, the default),
 * applied with s24_threads_set. 0 on success; on bad input prints the one
 * message all commands share and returns S24_EXIT_USAGE. */
int cli_threads(const char *cmd, const char *arg);
/* The --threads line of every --help, after the option column. */
#define CLI_THREADS_HELP "worker threads, 0..1024 (0 = all cores, the default)"
/* The progress line of the longer commands (cli_progress.c): on a terminal,
 * or when forced by the command's --progress; stderr only. */
struct cli_progress {
    const char *cmd;
    int on, tty, drawn;
    double t0, last;
};
void cli_progress_begin(struct cli_progress *p, const char *cmd, int forced);
/* "sparse24 <cmd>: 42% <what>, 1m02s elapsed, ETA 1m25s"; done/total in any
 * unit; rate-limited, so it can be called for every item. */
void cli_progress_step(struct cli_progress *p, double done, double total, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* Erase the line (on a terminal); call before printing results. */
void cli_progress_end(struct cli_progress *p);
/* "1h02m" / "3m05s" / "12s" */
void cli_fmt_eta(double s, char *buf, size_t n);
/* The --progress line of every --help that has it. */
#define CLI_PROGRESS_HELP "a progress line with an ETA on stderr even when it is not a terminal"
/* --device: "cpu", "cuda" or "auto" (CUDA if built in and a GPU answers);
 * -1 if none of these. */
int cli_device(const char *arg, enum s24_device *dev);
/* --precision: "fp32" -> S24_F32, "bf16" -> S24_BF16 (the GPU's mixed mode);
 * 0, or -1 for anything else. */
int cli_precision(const char *arg, enum s24_dtype *act);
/* The registry's architectures as "a | b | c" (for --help and messages). */
const char *cli_model_list(void);
/* Those with a channel-permutation description (s24_arch_info.permutable). */
const char *cli_permutable_list(void);
/* The machine/library block every benchmark table is stamped with
 * (the body of `sparse24 info`), each line prefixed with `prefix`. */
void cli_stamp(FILE *f, const char *prefix);
/* Ascending, in place (for medians of timings; cli_bench.c). */
void cli_sort_doubles(double *v, int n);
/* path opened for appending, `header` written when the file is empty; NULL
 * when it cannot be opened. */
FILE *cli_open_csv(const char *path, const char *header);
/* s as one CSV field: quoted, its quotes doubled (reasons hold commas) */
void cli_csv_field(FILE *f, const char *s);

#endif
