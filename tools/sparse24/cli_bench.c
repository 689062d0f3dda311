/* cli_bench.c: what the commands that time things share: sorting their
 * timings for medians, and opening the CSV they append rows to (the header
 * written only when the file is new, so a sweep split over device calls
 * builds one file). */
#include "cli.h"

#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void cli_sort_doubles(double *v, int n)
{
    if (v && n > 1) qsort(v, (size_t)n, sizeof *v, cmp_double);
}

void cli_csv_field(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

FILE *cli_open_csv(const char *path, const char *header)
{
    FILE *f = fopen(path, "a+");
    if (!f) return NULL;
    /* line-buffered: each row reaches the file when it is printed, whole,
     * so a sweep stopped by a time limit keeps the rows it measured
     * instead of losing them or ending in half a row (a device call's
     * timeout left a 100 KiB buffer's worth ending mid-row) */
    setvbuf(f, NULL, _IOLBF, BUFSIZ);
    fseek(f, 0, SEEK_END);
    if (ftell(f) == 0) fputs(header, f);
    return f;
}
