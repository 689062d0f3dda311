/* t.h: the tiny test harness every tests/test_*.c uses. Each CHECK counts;
 * a test binary prints one line per failure (file:line and message) and, at
 * the end, "test_x: N passed, N failed". tests/run.sh sums the binaries. */
#ifndef S24_T_H
#define S24_T_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sparse24/sparse24.h"

static int t_pass, t_fail;

/* CHECK(cond) or CHECK(cond, "printf format", args...): counts a pass or
 * prints the failing condition, its place and the optional message. */
#define CHECK(...) T_CHECK_(__VA_ARGS__, "")
#define T_CHECK_(cond, ...)                                                   \
    do {                                                                      \
        if (cond) {                                                           \
            t_pass++;                                                         \
        } else {                                                              \
            t_fail++;                                                         \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
            t_msg_(__VA_ARGS__);                                              \
        }                                                                     \
    } while (0)

static inline void t_msg_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* A library call that must succeed; prints s24_last_error() when it does not. */
#define CHECK_OK(call)                                                        \
    do {                                                                      \
        int t_rc_ = (call);                                                   \
        CHECK(t_rc_ == S24_OK, "%s -> %s: %s", #call, s24_status_str(t_rc_),  \
              s24_last_error());                                              \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                 \
    CHECK(fabs((double)(a) - (double)(b)) <= (tol), "%g vs %g (tol %g)",      \
          (double)(a), (double)(b), (double)(tol))

/* ||a - b|| / ||b|| over n floats (fp64 sums); a NaN in a never passes. */
static inline double t_rel(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        if (a[i] != a[i]) return 1e30;
        double d = (double)a[i] - b[i];
        num += d * d, den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static inline int t_done(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, t_pass, t_fail);
    return t_fail ? 1 : 0;
}

/* A scratch folder per test binary (removed by the caller or left in /tmp). */
static inline const char *t_tmpdir(void)
{
    static char dir[256];
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/s24test.XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(dir)) { perror("mkdtemp"); exit(2); }
    }
    return dir;
}

/* Re-runs the test with OMP_WAIT_POLICY=passive unless it is set: OpenMP
 * threads that spin while waiting starve the other processes of the shared
 * 2-core machine, and libgomp reads the variable only when it loads. */
static inline void t_passive_omp(int argc, char **argv)
{
    if (argc > 0 && !getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        execv("/proc/self/exe", argv);
    }
}

/* A folder `name` in t_tmpdir, made if need be (the last 8 names stay valid). */
static inline const char *t_subdir(const char *name)
{
    static char buf[8][512];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", t_tmpdir(), name);
    mkdir(b, 0755);
    return b;
}

#endif
