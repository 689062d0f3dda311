/* dl_cudnn.c: opens cuDNN 9 once, at the first operation that needs it, and
 * fills the table of dl_cudnn.h. Without cuDNN at build time it only says
 * so. Nothing here runs at start-up: a sparse24 whose cuDNN is missing
 * starts, and only its cuDNN convolutions fail, naming the library. */
#define S24_DL_CUDNN_TABLE
#include "dl.h"

#include "sparse24/sparse24.h"

#ifdef S24_HAVE_CUDNN
#include <pthread.h>

#include "dl_cudnn.h"

struct s24_cudnn_fns s24_cudnn_fns;
static struct s24_dl_lib lib = {"cuDNN", "libcudnn.so.9", "S24_CUDNN_LIB", NULL, "", ""};
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded;

static void load_once(void)
{
    /* cuDNN comes with the toolkit or a system package: no build-tree copy */
    if (s24_dl_open(&lib, NULL) != S24_OK) return;
#define S24_DL_GET(f)                                                                         \
    if (s24_dl_sym(&lib, #f, &s24_cudnn_fns.f, sizeof s24_cudnn_fns.f) != S24_OK) return;
    S24_CUDNN_FUNCS(S24_DL_GET)
#undef S24_DL_GET
    loaded = 1;
}

int s24_dl_cudnn_load(const char *need)
{
    pthread_once(&once, load_once);
    return loaded ? S24_OK : s24_dl_fail(&lib, need);
}

const char *s24_dl_cudnn_path(void)
{
    pthread_once(&once, load_once);
    return loaded ? lib.path : NULL;
}

#else

int s24_dl_cudnn_load(const char *need)
{
    return s24_error(S24_ERR_UNSUPPORTED, "sparse24 was built without cuDNN%s%s",
                     need ? "; needed for " : "", need ? need : "");
}

const char *s24_dl_cudnn_path(void) { return NULL; }

#endif
