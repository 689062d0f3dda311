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
S24_DL_LOADER(lib, s24_nccl_fns, S24_NCCL_FUNCS, NULL, s24_dl_nccl_load, s24_dl_nccl_path)
