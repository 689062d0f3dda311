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
S24_DL_LOADER(lib, s24_cublaslt_fns, S24_CUBLASLT_FUNCS, NULL, s24_dl_cublaslt_load,
              s24_dl_cublaslt_path)
