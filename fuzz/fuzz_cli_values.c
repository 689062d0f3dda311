/* fuzz_cli_values.c: libFuzzer target for the parsers of command-line values:
 * N:M patterns, integers and floats (every option goes through these),
 * --device, the bench size lists and dtype lists, and shapes files. The
 * first byte picks the parser; the rest is its argument (a string, or the
 * file's content). Messages go to /dev/null; sanitizer reports do not. */
#include "fuzz_util.h"

#include "cli.h"
#include "sparse24/sparse24.h"
#include "st_util.h"

int fz_cpu_sizes(const char *s);
int fz_cpu_shapes(const char *path);
int fz_cpu_dtypes(const char *s);
int fz_gemm_sizes(const char *s);
int fz_gemm_shapes(const char *path);

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    FILE *null = fopen("/dev/null", "w");
    if (null) stderr = null; /* glibc's stderr is assignable; fd 2 is untouched */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned which = data[0] % 9;
    char *s = fz_string(data + 1, size - 1);
    if (!s) return 0;
    int64_t i64;
    double d;
    int n, m;
    enum s24_device dev;
    const char *path;
    switch (which) {
    case 0:
        if (st_parse_pattern(s, &n, &m) == 0 && !(n >= 1 && n < m && m <= 16)) abort();
        break;
    case 1:
        if (cli_parse_i64(s, -1000, 1000, &i64) == 0 && (i64 < -1000 || i64 > 1000)) abort();
        (void)cli_parse_i64(s, INT64_MIN, INT64_MAX, &i64);
        break;
    case 2: (void)cli_parse_double(s, &d); break;
    case 3: (void)cli_device(s, &dev); break;
    case 4: (void)fz_cpu_sizes(s); break;
    case 5: (void)fz_cpu_dtypes(s); break;
    case 6: (void)fz_gemm_sizes(s); break;
    case 7:
    case 8:
        if ((path = fz_memfile(data + 1, size - 1)) != NULL)
            (void)(which == 7 ? fz_cpu_shapes(path) : fz_gemm_shapes(path));
        break;
    }
    free(s);
    return 0;
}
