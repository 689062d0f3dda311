/* cli_device.c: what `train`, `eval` and `bench train` share about where a
 * model runs: --device cpu|cuda|auto, --precision fp32|bf16 and the
 * architecture list for --help,
 * both read from the library (backends, registry), never spelled out here. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "sparse24/sparse24_nn.h"

int cli_device(const char *arg, enum s24_device *dev)
{
    if (!strcmp(arg, "auto")) {
        /* CUDA when this build has it and a GPU answers */
        s24_backend_t *be = NULL;
        *dev = s24_backend_create(S24_DEVICE_CUDA, 0, &be) == S24_OK ? S24_DEVICE_CUDA
                                                                     : S24_DEVICE_CPU;
        s24_backend_free(be);
        return 0;
    }
    return s24_device_parse(arg, dev) == S24_OK ? 0 : -1;
}

int cli_precision(const char *arg, enum s24_dtype *act)
{
    if (!strcmp(arg, "fp32")) *act = S24_F32;
    else if (!strcmp(arg, "bf16")) *act = S24_BF16;
    else return -1;
    return 0;
}

/* The registry's names joined by " | ", all or only the permutable ones. */
static const char *arch_list(char *buf, size_t n, int permutable_only)
{
    buf[0] = 0;
    for (int i = 0; i < s24_arch_count(); i++)
        if (!permutable_only || s24_arch_at(i)->permutable)
            snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", buf[0] ? " | " : "",
                     s24_arch_at(i)->name);
    return buf;
}

const char *cli_model_list(void)
{
    static char buf[256];
    return arch_list(buf, sizeof buf, 0);
}

const char *cli_permutable_list(void)
{
    static char buf[256];
    return arch_list(buf, sizeof buf, 1);
}
