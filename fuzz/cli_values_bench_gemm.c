/* cli_values_bench_gemm.c: bench/bench_gemm.c compiled into the cli_values
 * fuzz target, so its file-local --sizes and --shapes parsers can be called
 * (see cli_values_bench_cpu.c for why this copy replaces the CLI's). */
#include "../bench/bench_gemm.c"

int fz_gemm_sizes(const char *s);
int fz_gemm_shapes(const char *path);

int fz_gemm_sizes(const char *s)
{
    struct shape sh[MAX_SHAPES];
    int n = 0;
    return add_sizes(s, sh, &n);
}

int fz_gemm_shapes(const char *path)
{
    struct shape sh[MAX_SHAPES];
    int n = 0;
    if (!strcmp(path, "builtin")) return 0; /* a name, not a file */
    return add_shapes_file(path, sh, &n);
}
