/* fuzz_decompress.c: libFuzzer target for the compressed-format reader:
 * the bytes are parsed as safetensors and, when they parse, handed to
 * decompress's own checks and expansion (st_decompress in
 * tools/sparse24/cmd_decompress.c): metadata, the embedded original header,
 * .values/.meta shapes and the 2:4 metadata bits. Its messages go to
 * /dev/null; sanitizer reports still reach file descriptor 2. */
#include "fuzz_util.h"

#include "sparse24/sparse24.h"
#include "st_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    FILE *null = fopen("/dev/null", "w");
    if (null) stderr = null; /* glibc's stderr is assignable; fd 2 is untouched */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct s24_st st, dense;
    int ncomp = 0;
    if (s24_st_parse(data, size, "fuzz", &st) != S24_OK) return 0;
    s24_st_init(&dense);
    (void)st_decompress("decompress", "fuzz", &st, &dense, &ncomp);
    s24_st_free(&st);
    s24_st_free(&dense);
    return 0;
}
