/* cusparselt_dl.cu: opens cuSPARSELt once, when the first GPU context
 * asks for it, and fills the table of dl_cusparselt.h. Built only with
 * cuSPARSELt (nocusparselt.c says it is missing otherwise); a .cu file only
 * because older cuSPARSELt headers are C++. Besides the loader path, a
 * program run from the build folder tries the copy the build was made with
 * (scripts/setup.sh unpacks it under .deps/, which the loader path does not
 * know); an installed one does not. */
#define S24_DL_CUSPARSELT_TABLE
#include "dl_cusparselt.h"

#include <pthread.h>

#include "sparse24/sparse24.h"

struct s24_cusparselt_fns s24_cusparselt_fns;
static struct s24_dl_lib lib = {"cuSPARSELt", "libcusparseLt.so.0", "S24_CUSPARSELT_LIB", NULL,
                                "", ""};
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded;

static void load_once(void)
{
    if (s24_dl_open(&lib, s24_build_cusparselt()) != S24_OK) return;
#define S24_DL_GET(f)                                                                         \
    if (s24_dl_sym(&lib, #f, &s24_cusparselt_fns.f, sizeof s24_cusparselt_fns.f) != S24_OK)  \
        return;
    S24_CUSPARSELT_FUNCS(S24_DL_GET)
#undef S24_DL_GET
    loaded = 1;
}

extern "C" int s24_dl_cusparselt_load(const char *need)
{
    pthread_once(&once, load_once);
    return loaded ? S24_OK : s24_dl_fail(&lib, need);
}

extern "C" const char *s24_dl_cusparselt_path(void)
{
    pthread_once(&once, load_once);
    return loaded ? lib.path : NULL;
}
