/* build probe: NCCL */
#include <nccl.h>
int main(void) { int v; return (int)ncclGetVersion(&v); }
