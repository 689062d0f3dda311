// build probe: cuSPARSELt (compiled as C++: the 0.8.0 header is C++-only)
#include <cusparseLt.h>
int main() { cusparseLtHandle_t h; return (int)cusparseLtInit(&h); }
