/* arch.c: the architecture registry: every network the engine builds, its
 * builder and its defaults, in one table that the model, the pipeline, the
 * permutation code and the CLI read (no architecture name is spelled out
 * anywhere else). Adding a network is one builder file and one row here. */
#include "nn/arch.h"

#include <stdio.h>
#include <string.h>

static const struct s24_arch archs[] = {
    {{"resnet18", "ResNet18, CIFAR variant (3x3 stem, no max-pool), 11.2M parameters", 1, 0.0f,
      0.0f, "resnet18", 32},
     s24_build_resnet18, s24_pnet_resnet18, "conv1", NULL},
    {{"resnet18_imagenet",
      "ResNet18, torchvision's ImageNet form (7x7 stride-2 stem, 3x3 max-pool), 11.7M parameters "
      "at 1000 classes",
      1, 0.0f, 0.0f, "resnet18", 224},
     s24_build_resnet18_imagenet, s24_pnet_resnet18, "conv1", NULL},
    /* torchvision's network at any input size (no layer depends on it):
     * the CIFAR runs feed it 32x32, the ImageNet ones 224x224 */
    {{"efficientnet_b0",
      "EfficientNet-B0 (torchvision, any input size: 32x32 CIFAR, 224x224 ImageNet), dropout "
      "0.2, stochastic depth 0.2",
      1, 0.2f, 0.2f, "efficientnet_b0", 32},
     s24_build_efficientnet_b0, s24_pnet_efficientnet_b0, "features.0.0",
     "depthwise convs (features.*.block.*): groups = channels, not 2:4 targets; permuted with "
     "their channel space"},
    {{"smallcnn", "three convs and a linear layer, 24k parameters (tests, demo)", 0, 0.0f, 0.0f,
      "smallcnn", 32},
     s24_build_smallcnn, NULL, NULL, NULL},
};
#define N_ARCHS ((int)(sizeof archs / sizeof archs[0]))

int s24_arch_count(void) { return N_ARCHS; }

const struct s24_arch_info *s24_arch_at(int i)
{
    return i >= 0 && i < N_ARCHS ? &archs[i].info : NULL;
}

const struct s24_arch *s24_arch_get(const char *name)
{
    for (int i = 0; name && i < N_ARCHS; i++)
        if (!strcmp(name, archs[i].info.name)) return &archs[i];
    s24_error(S24_ERR_INVALID, "unknown architecture '%s' (%s)", name ? name : "(null)",
              s24_arch_list());
    return NULL;
}

const struct s24_arch_info *s24_arch_find(const char *name)
{
    const struct s24_arch *a = s24_arch_get(name);
    return a ? &a->info : NULL;
}

const char *s24_arch_list(void)
{
    static char list[256];
    size_t o = 0;
    list[0] = 0;
    for (int i = 0; i < N_ARCHS && o < sizeof list; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", archs[i].info.name);
    return list;
}
