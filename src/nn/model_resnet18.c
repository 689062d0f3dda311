/* model_resnet18.c: torchvision's resnet18 in two forms, one body.
 *
 * resnet18 (CIFAR), as the paper trains it: conv1 is 3x3 stride 1 padding 1
 * (not 7x7 stride 2), no max-pool. resnet18_imagenet: torchvision's own
 * stem, conv1 7x7 stride 2 padding 3, BN, ReLU, max-pool 3x3 stride 2
 * padding 1. Then both: four stages of two BasicBlocks (64, 128, 256, 512
 * channels; stages 2-4 start with stride 2 and a 1x1 conv + BN downsample),
 * global average pool, fc 512->classes. State-dict keys and shapes are
 * torchvision's (the max-pool has no parameters, so the two forms differ
 * only in conv1.weight's kernel and in what a checkpoint of one holds).
 *
 * Initialisation as torchvision's: convs kaiming normal (fan_out, relu), BN
 * weight 1 bias 0, fc nn.Linear's default U(+-1/sqrt(512)). The CIFAR form
 * adds zero_init_residual=True (each block's bn2 weight 0), as the paper's
 * training does; the ImageNet form keeps torchvision's default (False), so a
 * fresh random model has live residual branches (what inference checks of
 * pruned layers need). The CIFAR conv1 gets the kaiming init too (a conv1
 * replaced after construction in user code would keep nn.Conv2d's default
 * init instead; documented in docs/engine.md). */
#include "nn/model.h"
#include "nn/arch.h"

#include <stdio.h>

static int basic_block(struct s24_model *m, const char *pre, int x, int64_t planes, int stride,
                       int zero_init_residual)
{
    char n1[96], n2[96];
    int64_t inpl = m->slots[x].c;
    snprintf(n1, sizeof n1, "%s.conv1", pre);
    snprintf(n2, sizeof n2, "%s.bn1", pre);
    int y = s24_g_conv(m, n1, x, planes, 3, stride, 1, 1, 0);
    y = s24_g_act(m, s24_g_bn(m, n2, y, 1e-5f, 0.1f), S24_ACT_RELU);
    snprintf(n1, sizeof n1, "%s.conv2", pre);
    snprintf(n2, sizeof n2, "%s.bn2", pre);
    y = s24_g_conv(m, n1, y, planes, 3, 1, 1, 1, 0);
    y = s24_g_bn(m, n2, y, 1e-5f, 0.1f);
    snprintf(n1, sizeof n1, "%s.bn2.weight", pre);
    if (zero_init_residual) s24_g_set_init(m, n1, S24_INIT_ZERO, 0);
    int id = x;
    if (stride != 1 || inpl != planes) {
        snprintf(n1, sizeof n1, "%s.downsample.0", pre);
        snprintf(n2, sizeof n2, "%s.downsample.1", pre);
        id = s24_g_conv(m, n1, x, planes, 1, stride, 0, 1, 0);
        id = s24_g_bn(m, n2, id, 1e-5f, 0.1f);
    }
    return s24_g_act(m, s24_g_add(m, y, id), S24_ACT_RELU);
}

/* The stages, pool and classifier after the stem (slot x). */
static int body(struct s24_model *m, int x, int zero_init_residual)
{
    static const int64_t planes[4] = {64, 128, 256, 512};
    char pre[64];
    for (int l = 0; l < 4; l++)
        for (int b = 0; b < 2; b++) {
            snprintf(pre, sizeof pre, "layer%d.%d", l + 1, b);
            x = basic_block(m, pre, x, planes[l], l > 0 && b == 0 ? 2 : 1, zero_init_residual);
        }
    x = s24_g_gap(m, x);
    s24_g_linear(m, "fc", x, m->classes, 1);
    return m->build_err;
}

int s24_build_resnet18(struct s24_model *m)
{
    int x = s24_g_input(m, 3);
    x = s24_g_conv(m, "conv1", x, 64, 3, 1, 1, 1, 0);
    x = s24_g_act(m, s24_g_bn(m, "bn1", x, 1e-5f, 0.1f), S24_ACT_RELU);
    return body(m, x, 1);
}

int s24_build_resnet18_imagenet(struct s24_model *m)
{
    int x = s24_g_input(m, 3);
    x = s24_g_conv(m, "conv1", x, 64, 7, 2, 3, 1, 0);
    x = s24_g_act(m, s24_g_bn(m, "bn1", x, 1e-5f, 0.1f), S24_ACT_RELU);
    x = s24_g_maxpool(m, x, 3, 2, 1);
    return body(m, x, 0);
}
