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
S24_DL_LOADER(lib, s24_cusparselt_fns, S24_CUSPARSELT_FUNCS, s24_build_cusparselt(),
              s24_dl_cusparselt_load, s24_dl_cusparselt_path)
