/* threads.c: one knob for every threaded part: OpenMP kernels and OpenBLAS.
 * --threads N in the CLI lands here. */
#define _POSIX_C_SOURCE 200809L
#include "sparse24/sparse24.h"

#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef S24_HAVE_OPENBLAS
void openblas_set_num_threads(int num_threads);
#endif

static int n_threads;

void s24_threads_set(int n)
{
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    n_threads = n;
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
#ifdef S24_HAVE_OPENBLAS
    openblas_set_num_threads(n);
#endif
}

int s24_threads_get(void)
{
    if (n_threads <= 0) s24_threads_set(0);
    return n_threads;
}

double s24_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
