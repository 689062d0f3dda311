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
/* cuDNN comes with the toolkit or a system package: no build-tree copy */
S24_DL_LOADER(lib, s24_cudnn_fns, S24_CUDNN_FUNCS, NULL, s24_dl_cudnn_load, s24_dl_cudnn_path)

#else

int s24_dl_cudnn_load(const char *need)
{
    return s24_error(S24_ERR_UNSUPPORTED, "sparse24 was built without cuDNN%s%s",
                     need ? "; needed for " : "", need ? need : "");
}

const char *s24_dl_cudnn_path(void) { return NULL; }

#endif
