/* nccl_dl.cu: opens NCCL once, when the first communicator (or its id) is
 * made or `sparse24 info` asks, and fills the table of dl_nccl.h. Built
 * only with NCCL (src/comm/comm_nonccl.c says it is missing otherwise); a
 * .cu file because <nccl.h> is not strict-prototype C. The soname is that
 * of the headers the build used (libnccl.so.2), on the loader path, which
 * includes the toolkit's lib64 through the RUNPATH of the link. */
#define S24_DL_NCCL_TABLE
#include "dl_nccl.h"

#include <pthread.h>

#include "sparse24/sparse24.h"

#define S24_STR_(x) #x
#define S24_STR(x) S24_STR_(x)

struct s24_nccl_fns s24_nccl_fns;
static struct s24_dl_lib lib = {"NCCL", "libnccl.so." S24_STR(NCCL_MAJOR), "S24_NCCL_LIB", NULL,
                                "", ""};
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded;

static void load_once(void)
{
    if (s24_dl_open(&lib, NULL) != S24_OK) return;
#define S24_DL_GET(f)                                                                         \
    if (s24_dl_sym(&lib, #f, &s24_nccl_fns.f, sizeof s24_nccl_fns.f) != S24_OK) return;
    S24_NCCL_FUNCS(S24_DL_GET)
#undef S24_DL_GET
    loaded = 1;
}

extern "C" int s24_dl_nccl_load(const char *need)
{
    pthread_once(&once, load_once);
    return loaded ? S24_OK : s24_dl_fail(&lib, need);
}

extern "C" const char *s24_dl_nccl_path(void)
{
    pthread_once(&once, load_once);
    return loaded ? lib.path : NULL;
}
