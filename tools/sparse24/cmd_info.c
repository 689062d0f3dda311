/* cmd_info.c: `sparse24 info`: the machine and library block (CPU instruction
 * sets, threads, BLAS and its core type, GPU driver and library versions) that
 * also stamps every benchmark table. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sparse24/sparse24.h"
#include "sparse24/sparse24_cuda.h"

#ifdef S24_HAVE_OPENBLAS
char *openblas_get_corename(void);
char *openblas_get_config(void);
int openblas_get_num_threads(void);
#endif

static void cpu_model(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            char *p = strchr(line, ':');
            if (p) {
                p += 1 + (p[1] == ' ');
                p[strcspn(p, "\n")] = 0;
                snprintf(buf, len, "%s", p);
            }
            break;
        }
    }
    fclose(f);
}

static void cpu_isa(char *buf, size_t len)
{
    buf[0] = 0;
#if defined(__x86_64__) || defined(__i386__)
    static const char *isas[] = {"sse4.2", "avx", "avx2", "fma", "f16c", "avx512f",
                                 "avx512bw", "avx512vl", "avx512bf16", "avx512fp16"};
    __builtin_cpu_init();
    size_t o = 0;
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        int has = 0;
        /* __builtin_cpu_supports needs literal names */
        switch (i) {
        case 0: has = __builtin_cpu_supports("sse4.2"); break;
        case 1: has = __builtin_cpu_supports("avx"); break;
        case 2: has = __builtin_cpu_supports("avx2"); break;
        case 3: has = __builtin_cpu_supports("fma"); break;
#ifndef __clang__
        case 4: has = __builtin_cpu_supports("f16c"); break;
#endif
        case 5: has = __builtin_cpu_supports("avx512f"); break;
        case 6: has = __builtin_cpu_supports("avx512bw"); break;
        case 7: has = __builtin_cpu_supports("avx512vl"); break;
#ifndef __clang__ /* clang 14 (the fuzz build's compiler) has no names for these */
        case 8: has = __builtin_cpu_supports("avx512bf16"); break;
        case 9: has = __builtin_cpu_supports("avx512fp16"); break;
#endif
        }
        if (has && o + 16 < len)
            o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? " " : "", isas[i]);
    }
#else
    snprintf(buf, len, "(non-x86)");
#endif
}

void cli_stamp(FILE *f, const char *p)
{
    char buf[4096];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(f, "%ssparse24: %s (commit %s)\n", p, S24_VERSION_STRING, s24_version_commit());
    fprintf(f, "%sdate: %s\n", p, buf);
    cpu_model(buf, sizeof buf);
    fprintf(f, "%scpu: %s, %ld online cores\n", p, buf, sysconf(_SC_NPROCESSORS_ONLN));
    cpu_isa(buf, sizeof buf);
    fprintf(f, "%scpu isa: %s\n", p, buf);
    fprintf(f, "%sthreads: %d\n", p, s24_threads_get());
    fprintf(f, "%sspmm path: %s\n", p, s24_spmm_isa());
#ifdef S24_HAVE_OPENBLAS
    fprintf(f, "%sblas: OpenBLAS, core %s, %d threads (%s)\n", p, openblas_get_corename(),
            openblas_get_num_threads(), openblas_get_config());
    const char *ct = getenv("OPENBLAS_CORETYPE");
    fprintf(f, "%sOPENBLAS_CORETYPE: %s\n", p, ct ? ct : "(unset)");
#else
    fprintf(f, "%sblas: none (built without OpenBLAS)\n", p);
#endif
    s24_cuda_info(buf, sizeof buf);
    for (char *line = buf, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) {
            fprintf(f, "%s%s\n", p, line);
            break;
        }
        fprintf(f, "%s%.*s\n", p, (int)(nl - line), line);
    }
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {
        {"threads", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (cli_threads("info", optarg)) return S24_EXIT_USAGE;
            break;
        case 'h':
            printf("usage: sparse24 info [--threads N]\n"
                   "Prints the CPU (model, instruction sets), thread count, BLAS and its core\n"
                   "type, and where present the GPU driver, CUDA, cuBLASLt, cuSPARSELt, cuDNN\n"
                   "and NCCL versions and the GPUs. Benchmarks stamp their tables with it.\n"
                   "\n"
                   "options:\n"
                   "  -t, --threads N  " CLI_THREADS_HELP "\n"
                   "  -h, --help       this text\n"
                   "\n"
                   "exit codes: 0 success, 1 runtime failure, 2 bad usage\n");
            return S24_EXIT_OK;
        default: return cli_usage("info", "unknown option");
        }
    }
    if (optind < argc) return cli_usage("info", "unexpected argument '%s'", argv[optind]);
    cli_stamp(stdout, "");
    return S24_EXIT_OK;
}
