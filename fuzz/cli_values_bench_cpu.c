/* cli_values_bench_cpu.c: bench/bench_cpu.c compiled into the cli_values
 * fuzz target, so its file-local parsers (--sizes, --shapes, --dtype) can be
 * called; this copy's bench_cpu_main stands in for the CLI's, which the
 * linker then leaves in its archive. */
#include "../bench/bench_cpu.c"

int fz_cpu_sizes(const char *s);
int fz_cpu_shapes(const char *path);
int fz_cpu_dtypes(const char *s);

int fz_cpu_sizes(const char *s)
{
    struct shape sh[MAX_SHAPES];
    int n = 0;
    return parse_sizes(s, sh, &n);
}

int fz_cpu_shapes(const char *path)
{
    struct shape sh[MAX_SHAPES];
    int n = 0;
    return read_shapes(path, sh, &n);
}

int fz_cpu_dtypes(const char *s)
{
    enum s24_dtype dts[3];
    int n = 0;
    return parse_dtypes(s, dts, &n);
}
