/* test_demo.c: the core part of `sparse24 demo` (--no-train: the training
 * part takes minutes and has its own tests) through the built CLI ($S24_CLI):
 * it succeeds, reports every eligible tensor pruned and restored, the fp16
 * storage at 56.25% of dense and a small GEMM error; --help and bad usage
 * give exit codes 0 and 2; the same seed prints the same figures. */
#define _POSIX_C_SOURCE 200809L
#include "t.h"

#include <sys/wait.h>

static const char *cli(void)
{
    const char *c = getenv("S24_CLI");
    return c && *c ? c : "build/sparse24";
}

/* Run a command, capture stdout (up to cap bytes), return its exit code. */
static int run(const char *args, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s 2>/dev/null", cli(), args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The figure after `key` in text, or NAN. */
static double after(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    if (!p) return NAN;
    char *end;
    double v = strtod(p + strlen(key), &end);
    return end == p + strlen(key) ? NAN : v;
}

int main(void)
{
    static char out[16384], out2[16384];
    int rc = run("demo --no-train --seed 3 --threads 2", out, sizeof out);
    CHECK(rc == 0, "demo exited %d:\n%s", rc, out);
    CHECK(strstr(out, "2:4 on 19 of 21 tensors") != NULL, "%s", out);
    CHECK(strstr(out, "every mask checked") != NULL);
    CHECK(strstr(out, "(56.25%), every tensor restored byte for byte") != NULL, "%s", out);
    CHECK(strstr(out, "11157504 of 11164352 parameters") != NULL, "%s", out);
    /* Gaussian weights keep about 74.5% of |w| under 2:4 (2 largest |w| of 4) */
    double kept = after(out, "they keep ");
    CHECK(kept > 73 && kept < 76, "kept %g%%", kept);
    double err = after(out, "max |C_2:4 - C_dense| / max |C_dense| = ");
    CHECK(err >= 0 && err < 1e-5, "relative error %g", err);
    CHECK(after(out, "dense OpenBLAS sgemm:") > 0 ||
          after(out, "dense naive reference (no BLAS):") > 0);
    /* the BLAS core is named, so a mis-detected one cannot pass unseen */
    CHECK(after(out, "dense naive reference (no BLAS):") > 0 ||
              strstr(out, "OpenBLAS core: ") != NULL,
          "no BLAS core named:\n%s", out);

    /* deterministic in the seed, whatever the thread count */
    rc = run("demo --no-train --seed 3 --threads 1", out2, sizeof out2);
    CHECK(rc == 0);
    const char *k1 = strstr(out, "magnitude sum|w| ("), *k2 = strstr(out2, "magnitude sum|w| (");
    CHECK(k1 && k2 && strncmp(k1, k2, 50) == 0, "kept magnitude differs with the thread count");
    CHECK(strstr(out2, "12552192 bytes values + metadata") != NULL);

    rc = run("demo --help", out, sizeof out);
    CHECK(rc == 0 && strstr(out, "usage: sparse24 demo") != NULL, "rc %d", rc);
    CHECK(run("demo --no-such-option", out, sizeof out) == 2);
    CHECK(run("demo --seed x", out, sizeof out) == 2);
    CHECK(run("demo --threads -3", out, sizeof out) == 2);
    CHECK(run("demo stray", out, sizeof out) == 2);
    return t_done("test_demo");
}
