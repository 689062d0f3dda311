/* test_dl.c: the run-time loader of the GPU libraries (src/cuda/dl.c,
 * dl_cudnn.c, cusparselt_dl.cu). Needs no GPU: dlopen of cuDNN and
 * cuSPARSELt works without one. Checks that a library that cannot be opened
 * gives an error naming it, where it was looked for and what needed it; that
 * the real files open and their symbols resolve where the build has them;
 * and that `sparse24 info` ($S24_CLI) starts and says which library is
 * missing. It does not run any cuDNN or cuSPARSELt operation. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cuda/dl.h"
#include "t.h"

#define NOWHERE_SPLT "/nonexistent/s24/libcusparseLt.so.0"
#define NOWHERE_DNN "/nonexistent/s24/libcudnn.so.9"

/* Does this test binary run from the build folder (the only place the
 * build's cuSPARSELt copy is tried)? The same rule as dl.c's. */
static int from_build(void)
{
    char exe[PATH_MAX], root[PATH_MAX];
    if (!realpath("/proc/self/exe", exe) || !realpath(s24_build_root(), root)) return 0;
    size_t n = strlen(root);
    return strncmp(exe, root, n) == 0 && exe[n] == '/';
}

static void test_open_missing(void)
{
    struct s24_dl_lib l = {"cuSPARSELt", "libcusparseLt.so.0", "S24_CUSPARSELT_LIB", NULL, "", ""};
    setenv("S24_CUSPARSELT_LIB", NOWHERE_SPLT, 1);
    /* the variable, when set, is the only place tried: no fallback behind it */
    CHECK(s24_dl_open(&l, s24_build_cusparselt()) == S24_ERR_UNSUPPORTED);
    CHECK(l.handle == NULL);
    CHECK(strstr(l.error, "S24_CUSPARSELT_LIB") && strstr(l.error, NOWHERE_SPLT), "%s", l.error);
    CHECK(!strstr(l.error, "the build's copy"), "%s", l.error);
    CHECK(s24_dl_fail(&l, "a test") == S24_ERR_UNSUPPORTED);
    CHECK(strstr(s24_last_error(), "cuSPARSELt (libcusparseLt.so.0) could not be loaded: ") &&
              strstr(s24_last_error(), "; needed for a test"),
          "%s", s24_last_error());
    s24_clear_error();
    unsetenv("S24_CUSPARSELT_LIB");

    /* unset: the soname on the loader path, then (from the build) the fallback */
    struct s24_dl_lib m = {"absent", "libs24-absent.so.0", "S24_TEST_DL_UNSET", NULL, "", ""};
    unsetenv("S24_TEST_DL_UNSET");
    CHECK(s24_dl_open(&m, "/nonexistent/s24/libs24-absent.so.0") == S24_ERR_UNSUPPORTED);
    CHECK(strstr(m.error, "libs24-absent.so.0"), "%s", m.error);
    CHECK(!strstr(m.error, "the build's copy") == !from_build(), "%s", m.error);
}

static void test_open_real(void)
{
#ifdef S24_HAVE_CUSPARSELT
    const char *copy = s24_build_cusparselt();
    struct s24_dl_lib l = {"cuSPARSELt", "libcusparseLt.so.0", "S24_CUSPARSELT_LIB", NULL, "", ""};
    int (*fn)(void) = NULL;
    CHECK(copy && *copy);
    if (copy && *copy && access(copy, R_OK) == 0) {
        setenv("S24_CUSPARSELT_LIB", copy, 1);
        CHECK(s24_dl_open(&l, NULL) == S24_OK, "%s", l.error);
        CHECK(l.handle && !l.error[0]);
        CHECK(s24_dl_sym(&l, "cusparseLtInit", &fn, sizeof fn) == S24_OK && fn, "%s", l.error);
        CHECK(s24_dl_sym(&l, "cusparseLtNoSuchCall", &fn, sizeof fn) == S24_ERR_UNSUPPORTED);
        CHECK(strstr(l.error, "cusparseLtNoSuchCall"), "%s", l.error);
        unsetenv("S24_CUSPARSELT_LIB");
        if (from_build()) { /* the loader path has no cuSPARSELt here: the build's copy */
            struct s24_dl_lib f = {"cuSPARSELt", "libcusparseLt.so.0", "S24_CUSPARSELT_LIB",
                                   NULL, "", ""};
            CHECK(s24_dl_open(&f, copy) == S24_OK, "%s", f.error);
        }
    }
#endif
#ifdef S24_HAVE_CUDNN
    struct s24_dl_lib d = {"cuDNN", "libcudnn.so.9", "S24_CUDNN_LIB", NULL, "", ""};
    size_t (*ver)(void) = NULL;
    unsetenv("S24_CUDNN_LIB");
    CHECK(s24_dl_open(&d, NULL) == S24_OK, "%s", d.error);
    if (d.handle) {
        CHECK(s24_dl_sym(&d, "cudnnGetVersion", &ver, sizeof ver) == S24_OK, "%s", d.error);
        CHECK(ver && ver() >= 90000, "cuDNN %zu", ver ? ver() : 0);
    }
#endif
}

/* The once-only loaders, with both variables pointing nowhere. */
static void test_loaders_missing(void)
{
    setenv("S24_CUSPARSELT_LIB", NOWHERE_SPLT, 1);
    setenv("S24_CUDNN_LIB", NOWHERE_DNN, 1);
    for (int round = 0; round < 2; round++) { /* the second answer comes from the first load */
        CHECK(s24_dl_cudnn_load("convolutions on the GPU") == S24_ERR_UNSUPPORTED);
#ifdef S24_HAVE_CUDNN
        CHECK(strstr(s24_last_error(), "cuDNN (libcudnn.so.9) could not be loaded: ") &&
                  strstr(s24_last_error(), NOWHERE_DNN) &&
                  strstr(s24_last_error(), "needed for convolutions on the GPU"),
              "%s", s24_last_error());
#else
        CHECK(strstr(s24_last_error(), "without cuDNN"), "%s", s24_last_error());
#endif
        CHECK(s24_dl_cudnn_path() == NULL);
        CHECK(s24_dl_cusparselt_load("sparse GEMMs") != S24_OK);
#ifdef S24_HAVE_CUSPARSELT
        CHECK(strstr(s24_last_error(), "cuSPARSELt (libcusparseLt.so.0) could not be loaded: ") &&
                  strstr(s24_last_error(), NOWHERE_SPLT) &&
                  strstr(s24_last_error(), "needed for sparse GEMMs"),
              "%s", s24_last_error());
#else
        CHECK(strstr(s24_last_error(), "without"), "%s", s24_last_error());
#endif
        CHECK(s24_dl_cusparselt_path() == NULL);
        s24_clear_error();
    }
    unsetenv("S24_CUSPARSELT_LIB");
    unsetenv("S24_CUDNN_LIB");
}

/* `$S24_CLI info` with env settings prefixed; its stdout, or NULL. */
static char *info(const char *env)
{
    static char buf[16384];
    char cmd[1024];
    const char *cli = getenv("S24_CLI");
    if (!cli) cli = "build/sparse24";
    snprintf(cmd, sizeof cmd, "env %s '%s' info 2>&1", env, cli);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = 0;
    int st = pclose(p);
    CHECK(st == 0, "%s exited %d: %s", cmd, st, buf);
    return buf;
}

static void test_cli_info(void)
{
    char *o = info("S24_CUSPARSELT_LIB=" NOWHERE_SPLT " S24_CUDNN_LIB=" NOWHERE_DNN);
    CHECK(o && strstr(o, "sparse24: "), "%s", o ? o : "");
    if (!o) return;
#ifdef S24_HAVE_CUSPARSELT
    CHECK(strstr(o, "cusparselt: not loaded: cuSPARSELt (libcusparseLt.so.0)"), "%s", o);
#endif
#ifdef S24_HAVE_CUDNN
    CHECK(strstr(o, "cudnn: not loaded: cuDNN (libcudnn.so.9)"), "%s", o);
#endif
    /* unset: found on the loader path (cuDNN) or, for this build-tree CLI, the build's copy */
    o = info("-u S24_CUSPARSELT_LIB -u S24_CUDNN_LIB");
    if (!o) return;
#ifdef S24_HAVE_CUSPARSELT
    CHECK(strstr(o, "cusparselt: 0.") && strstr(o, " loaded from "), "%s", o);
#endif
#ifdef S24_HAVE_CUDNN
    CHECK(strstr(o, "cudnn: 9.") && strstr(o, " loaded from "), "%s", o);
#endif
}

int main(void)
{
    test_open_missing();
    test_open_real();
    test_loaders_missing();
    test_cli_info();
    return t_done("test_dl");
}
