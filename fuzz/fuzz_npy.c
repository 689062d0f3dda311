/* fuzz_npy.c: libFuzzer target for the .npy reader (s24_npy_read, which
 * takes a path: the bytes go through an in-memory file). On success the
 * returned shape must account for exactly the bytes after the header. */
#include "fuzz_util.h"

#include "sparse24/sparse24.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_memfile(data, size);
    if (!path) return 0;
    enum s24_dtype dt;
    int ndim;
    int64_t shape[S24_MAX_DIMS];
    void *arr = NULL;
    if (s24_npy_read(path, &dt, &ndim, shape, &arr) == S24_OK) {
        size_t bytes = (size_t)s24_numel(ndim, shape) * s24_dtype_size(dt);
        if (bytes > size) abort();
        /* touch every element, so a short allocation shows under ASan */
        volatile uint8_t sum = 0;
        for (size_t i = 0; i < bytes; i++) sum ^= ((const uint8_t *)arr)[i];
        (void)sum;
    }
    free(arr);
    return 0;
}
