/* build probe: NCCL's header (compiled only: the library is opened at run
 * time, src/cuda/nccl_dl.cu) */
#include <nccl.h>
int main(void) { ncclUniqueId id; (void)id; return NCCL_MAJOR < 2; }
