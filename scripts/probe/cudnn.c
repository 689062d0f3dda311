/* build probe: cuDNN */
#include <cudnn.h>
int main(void) { return cudnnGetVersion() == 0; }
