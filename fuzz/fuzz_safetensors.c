/* fuzz_safetensors.c: libFuzzer target for the safetensors reader. The bytes
 * are parsed from memory (s24_st_parse) and, when they parse, every lookup a
 * command does is run over the result: names, metadata, shapes against
 * bytes. Also the header-only parser decompress uses, on the same bytes. */
#include "fuzz_util.h"

#include "sparse24/sparse24.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct s24_st st;
    if (s24_st_parse(data, size, "fuzz", &st) == S24_OK) {
        for (int i = 0; i < st.n; i++) {
            const struct s24_st_tensor *t = &st.t[i];
            /* the reader's promise: bytes == numel * element size */
            int64_t numel = s24_numel(t->ndim, t->shape);
            if ((size_t)numel * s24_dtype_size(t->dtype) != t->nbytes) abort();
            if (s24_st_find(&st, t->name) != t) abort();
        }
        for (int i = 0; i < st.nmeta; i++)
            if (!s24_st_meta_get(&st, st.meta[i].key)) abort();
        s24_st_free(&st);
    }
    struct s24_st h;
    if (s24_st_parse_header((const char *)data, size, "fuzz header", &h) == S24_OK) s24_st_free(&h);
    return 0;
}
