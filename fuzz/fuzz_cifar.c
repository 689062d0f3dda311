/* fuzz_cifar.c: libFuzzer target for the CIFAR-10 binary reader
 * (s24_cifar10_read_file, through an in-memory file). The input is read
 * twice into one dataset, as train/test batches are appended. */
#include "fuzz_util.h"

#include "sparse24/sparse24.h"
#include "sparse24/sparse24_train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_memfile(data, size);
    if (!path) return 0;
    struct s24_dataset ds;
    s24_dataset_init(&ds);
    if (s24_cifar10_read_file(path, &ds) == S24_OK &&
        s24_cifar10_read_file(path, &ds) == S24_OK) {
        for (int64_t i = 0; i < ds.n; i++)
            if (ds.labels[i] > 9) abort();
    }
    s24_dataset_free(&ds);
    return 0;
}
