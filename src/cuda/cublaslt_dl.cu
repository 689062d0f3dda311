/* cublaslt_dl.cu: opens cuBLASLt once, when the first cuBLASLt handle is
 * about to be created (a GPU context, a CUDA training backend) or `sparse24
 * info` asks, and fills the table of dl_cublaslt.h. Built with CUDA only
 * (nocuda.c stands in otherwise); a .cu file because <cublasLt.h> is not
 * strict-prototype C. The soname is that of the headers the build used
 * (libcublasLt.so.13 for CUDA 13), found on the loader path, which includes
 * the toolkit's lib64 through the RUNPATH the link gives every binary. */
#define S24_DL_CUBLASLT_TABLE
#include "dl_cublaslt.h"

#include <pthread.h>

#include "sparse24/sparse24.h"

#define S24_STR_(x) #x
#define S24_STR(x) S24_STR_(x)

struct s24_cublaslt_fns s24_cublaslt_fns;
static struct s24_dl_lib lib = {"cuBLASLt", "libcublasLt.so." S24_STR(CUBLAS_VER_MAJOR),
                                "S24_CUBLASLT_LIB", NULL, "", ""};
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded;

static void load_once(void)
{
    if (s24_dl_open(&lib, NULL) != S24_OK) return;
#define S24_DL_GET(f)                                                                         \
    if (s24_dl_sym(&lib, #f, &s24_cublaslt_fns.f, sizeof s24_cublaslt_fns.f) != S24_OK)      \
        return;
    S24_CUBLASLT_FUNCS(S24_DL_GET)
#undef S24_DL_GET
    loaded = 1;
}

extern "C" int s24_dl_cublaslt_load(const char *need)
{
    pthread_once(&once, load_once);
    return loaded ? S24_OK : s24_dl_fail(&lib, need);
}

extern "C" const char *s24_dl_cublaslt_path(void)
{
    pthread_once(&once, load_once);
    return loaded ? lib.path : NULL;
}
