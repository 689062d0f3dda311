/* test_dl.c: the run-time loader of the GPU libraries (src/cuda/dl.c,
 * dl_cudnn.c, cusparselt_dl.cu, cublaslt_dl.cu, nccl_dl.cu). Needs no GPU:
 * dlopen of these libraries works without one, and the CUDA runtime is
 * linked statically and needs no driver to start. Checks that a library
 * that cannot be opened gives an error naming it, its variable, where it
 * was looked for and what needed it, and that the operations which need
 * cuBLASLt or NCCL return that error (or, first, that there is no GPU);
 * that the real files open and their symbols resolve where the build has
 * them (NCCL: where this machine has it); and that `sparse24 info`
 * ($S24_CLI) starts and says which library is missing. It runs no GPU
 * operation (on a GPU the two inits get as far as a stream, then fail). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm/comm.h"
#include "cuda/dl.h"
#include "nn/ops.h"
#include "sparse24/sparse24_cuda.h"
#include "t.h"

#define NOWHERE_SPLT "/nonexistent/s24/libcusparseLt.so.0"
#define NOWHERE_DNN "/nonexistent/s24/libcudnn.so.9"
#define NOWHERE_LT "/nonexistent/s24/libcublasLt.so"
#define NOWHERE_NCCL "/nonexistent/s24/libnccl.so.2"

/* The sonames the loaders look for, as their messages give them ("cuBLASLt
 * (libcublasLt.so.13) could not ..."): they follow the build's headers,
 * which this C test does not include. Set by test_loaders_missing. */
#ifdef S24_HAVE_CUDA
static char lt_soname[64];
#ifdef S24_HAVE_NCCL
static char nccl_soname[64];
#endif

static void soname_of(const char *msg, const char *name, char *out, size_t len)
{
    char key[64];
    snprintf(key, sizeof key, "%s (", name);
    const char *p = strstr(msg, key), *e;
    out[0] = 0;
    if (!p) return;
    p += strlen(key);
    e = strchr(p, ')');
    if (e && (size_t)(e - p) < len) snprintf(out, len, "%.*s", (int)(e - p), p);
}
#endif

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
    setenv("S24_CUBLASLT_LIB", NOWHERE_LT, 1);
    setenv("S24_NCCL_LIB", NOWHERE_NCCL, 1);
    for (int round = 0; round < 2; round++) { /* the second answer comes from the first load */
        CHECK(s24_dl_cublaslt_load("dense GEMMs") != S24_OK);
#ifdef S24_HAVE_CUDA
        CHECK(strstr(s24_last_error(), "cuBLASLt (libcublasLt.so.") &&
                  strstr(s24_last_error(), ") could not be loaded: S24_CUBLASLT_LIB: ") &&
                  strstr(s24_last_error(), NOWHERE_LT) &&
                  strstr(s24_last_error(), "needed for dense GEMMs") &&
                  strstr(s24_last_error(), "(set S24_CUBLASLT_LIB to the library's file"),
              "%s", s24_last_error());
        soname_of(s24_last_error(), "cuBLASLt", lt_soname, sizeof lt_soname);
#else
        CHECK(strstr(s24_last_error(), "without CUDA"), "%s", s24_last_error());
#endif
        CHECK(s24_dl_cublaslt_path() == NULL);
        s24_clear_error();
        CHECK(s24_dl_nccl_load("a communicator") == S24_ERR_UNSUPPORTED);
#ifdef S24_HAVE_NCCL
        CHECK(strstr(s24_last_error(), "NCCL (libnccl.so.") &&
                  strstr(s24_last_error(), ") could not be loaded: S24_NCCL_LIB: ") &&
                  strstr(s24_last_error(), NOWHERE_NCCL) &&
                  strstr(s24_last_error(), "needed for a communicator"),
              "%s", s24_last_error());
        soname_of(s24_last_error(), "NCCL", nccl_soname, sizeof nccl_soname);
#else
        CHECK(strstr(s24_last_error(), "without NCCL"), "%s", s24_last_error());
#endif
        CHECK(s24_dl_nccl_path() == NULL);
        s24_clear_error();
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

    /* the operations that need them: with no GPU (here, and in CI) they stop
     * at that first; on a GPU they return the library's error */
    s24_gpu_t *g = NULL;
    int rc = s24_gpu_init(0, &g);
    CHECK(rc == S24_ERR_NO_DEVICE ||
              (rc == S24_ERR_UNSUPPORTED && strstr(s24_last_error(), "cuBLASLt (libcublasLt.so.") &&
               strstr(s24_last_error(), "needed for the GPU context")),
          "s24_gpu_init: %d %s", rc, s24_last_error());
    CHECK(g == NULL);
    if (g) s24_gpu_free(g);
    s24_clear_error();
    struct s24_backend be;
    memset(&be, 0, sizeof be);
    rc = s24_cuda_backend_init(&be, 0);
    CHECK(rc == S24_ERR_NO_DEVICE ||
              (rc == S24_ERR_UNSUPPORTED && strstr(s24_last_error(), "cuBLASLt (libcublasLt.so.") &&
               strstr(s24_last_error(), "needed for the cuda backend")),
          "s24_cuda_backend_init: %d %s", rc, s24_last_error());
    s24_clear_error();
    /* the communicator's id needs NCCL and no GPU: its error whatever the machine */
    struct s24_comm_id id;
    CHECK(s24_comm_nccl_id(&id) == S24_ERR_UNSUPPORTED);
#ifdef S24_HAVE_NCCL
    CHECK(strstr(s24_last_error(), "NCCL (libnccl.so.") && strstr(s24_last_error(), NOWHERE_NCCL),
          "%s", s24_last_error());
#else
    CHECK(strstr(s24_last_error(), "no NCCL"), "%s", s24_last_error());
#endif
    s24_clear_error();
    unsetenv("S24_CUSPARSELT_LIB");
    unsetenv("S24_CUDNN_LIB");
    unsetenv("S24_CUBLASLT_LIB");
    unsetenv("S24_NCCL_LIB");
}

/* cuBLASLt and NCCL by the sonames their loaders reported, from the loader
 * path (the toolkit's lib64 is on it through the build's RUNPATH). cuBLASLt
 * must be there in a CUDA build (the build's probe linked it); NCCL's
 * headers may come without its library, so a missing NCCL only has to say
 * so. Each answers a call that needs no GPU: its version. */
static void test_open_real_lt_nccl(void)
{
#ifdef S24_HAVE_CUDA
    struct s24_dl_lib l = {"cuBLASLt", lt_soname, "S24_CUBLASLT_LIB", NULL, "", ""};
    size_t (*ltver)(void) = NULL;
    CHECK(!strncmp(lt_soname, "libcublasLt.so.", 15), "soname '%s'", lt_soname);
    unsetenv("S24_CUBLASLT_LIB");
    CHECK(s24_dl_open(&l, NULL) == S24_OK, "%s", l.error);
    if (l.handle) {
        CHECK(strstr(l.path, "libcublasLt.so"), "%s", l.path);
        CHECK(s24_dl_sym(&l, "cublasLtGetVersion", &ltver, sizeof ltver) == S24_OK, "%s", l.error);
        CHECK(ltver && ltver() >= 110000, "cuBLASLt %zu", ltver ? ltver() : 0);
        CHECK(s24_dl_sym(&l, "cublasLtMatmul", &ltver, sizeof ltver) == S24_OK, "%s", l.error);
    }
#endif
#ifdef S24_HAVE_NCCL
    struct s24_dl_lib n = {"NCCL", nccl_soname, "S24_NCCL_LIB", NULL, "", ""};
    int (*ncver)(int *) = NULL;
    int v = 0;
    CHECK(!strcmp(nccl_soname, "libnccl.so.2"), "soname '%s'", nccl_soname);
    unsetenv("S24_NCCL_LIB");
    if (s24_dl_open(&n, NULL) == S24_OK) {
        CHECK(s24_dl_sym(&n, "ncclGetVersion", &ncver, sizeof ncver) == S24_OK, "%s", n.error);
        CHECK(ncver && ncver(&v) == 0 && v >= 20000, "NCCL version %d", v);
        CHECK(s24_dl_sym(&n, "ncclCommInitRankConfig", &ncver, sizeof ncver) == S24_OK, "%s",
              n.error);
    } else { /* headers without the library: the reason names the soname */
        CHECK(n.handle == NULL && strstr(n.error, nccl_soname), "%s", n.error);
        printf("test_dl: NCCL not on the loader path here: %s\n", n.error);
    }
#endif
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
    char *o = info("S24_CUSPARSELT_LIB=" NOWHERE_SPLT " S24_CUDNN_LIB=" NOWHERE_DNN
                   " S24_CUBLASLT_LIB=" NOWHERE_LT " S24_NCCL_LIB=" NOWHERE_NCCL);
    CHECK(o && strstr(o, "sparse24: "), "%s", o ? o : "");
    if (!o) return;
#ifdef S24_HAVE_CUDA
    CHECK(strstr(o, "cublaslt: not loaded: cuBLASLt (libcublasLt.so."), "%s", o);
    CHECK(strstr(o, "cuda runtime: ") && strstr(o, "(linked statically)"), "%s", o);
    /* the driver: its version, or which library is missing */
    CHECK(strstr(o, "cuda driver: none (libcuda.so.1") || strstr(o, "cuda driver: 1"), "%s", o);
    CHECK(!strstr(o, "cuda driver: none") || strstr(o, "gpu: none (no NVIDIA driver"), "%s", o);
#endif
#ifdef S24_HAVE_NCCL
    CHECK(strstr(o, "nccl: not loaded: NCCL (libnccl.so.2)"), "%s", o);
#endif
#ifdef S24_HAVE_CUSPARSELT
    CHECK(strstr(o, "cusparselt: not loaded: cuSPARSELt (libcusparseLt.so.0)"), "%s", o);
#endif
#ifdef S24_HAVE_CUDNN
    CHECK(strstr(o, "cudnn: not loaded: cuDNN (libcudnn.so.9)"), "%s", o);
#endif
    /* unset: found on the loader path (cuDNN) or, for this build-tree CLI, the build's copy */
    o = info("-u S24_CUSPARSELT_LIB -u S24_CUDNN_LIB -u S24_CUBLASLT_LIB -u S24_NCCL_LIB");
    if (!o) return;
#ifdef S24_HAVE_CUDA
    CHECK(strstr(o, "cublaslt: 1") && strstr(o, "libcublasLt.so"), "%s", o);
#endif
#ifdef S24_HAVE_NCCL /* where this machine has NCCL: loaded; else why not */
    CHECK(strstr(o, "nccl: 2.") || strstr(o, "nccl: not loaded: NCCL (libnccl.so.2)"), "%s", o);
#endif
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
    test_open_real_lt_nccl();
    test_cli_info();
    return t_done("test_dl");
}
