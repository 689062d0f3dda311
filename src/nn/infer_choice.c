/* infer_choice.c: AUTO's decision rule, apart from any timing so that CI
 * tests it on the CPU (tests/test_infer_choice.c): medians of the two paths'
 * timings, and 2:4 only where it wins by more than a noise margin. The CPU
 * plan calls it with margin 0 (a tie stays dense), the GPU plan with the
 * GEMM engine's 2 %. It measures nothing itself. */
#include "nn/infer_internal.h"

#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of n sorted values (the mean of the middle two for even n). */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int s24_infer_choose(double *dense_ms, int n0, double *sparse_ms, int n1, double margin,
                     double *dense_med, double *sparse_med)
{
    double d = n0 > 0 ? median(dense_ms, n0) : 0, s = n1 > 0 ? median(sparse_ms, n1) : 0;
    if (dense_med) *dense_med = d;
    if (sparse_med) *sparse_med = s;
    if (n0 < 1 || n1 < 1 || margin < 0) return 0;
    return s < d * (1.0 - margin);
}
