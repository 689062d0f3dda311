/* model_efficientnet.c: torchvision's efficientnet_b0 (width 1.0, depth 1.0)
 * with `classes` outputs. Stem conv 3x3 s2 32 + BN + SiLU; sixteen MBConv
 * blocks in seven stages (expand 1x1 when the ratio is not 1, depthwise kxk,
 * squeeze-excitation with max(1, block input channels // 4) squeeze channels,
 * SiLU then sigmoid, project 1x1 + BN, residual with stochastic depth "row"
 * when stride 1 and channels equal); head 1x1 320->1280 + BN + SiLU; average
 * pool; dropout 0.2; linear. Stochastic depth of block i (0-based, of 16) is
 * 0.2 * i / 16, as torchvision scales it. BatchNorm: torchvision's b0 passes
 * no norm_layer, so nn.BatchNorm2d's defaults eps 1e-5, momentum 0.1 apply
 * (eps 1e-3 is the EfficientNetV2 variants'); verified against torchvision
 * by scripts/make_torch_fixtures.py, which prints them.
 * Init as torchvision's: convs kaiming normal fan_out, conv biases (SE) 0,
 * BN 1/0, classifier U(+-1/sqrt(classes)) with bias 0. */
#include "nn/model.h"
#include "nn/arch.h"

#include <stdio.h>

#define BN_EPS 1e-5f
#define BN_MOM 0.1f

/* expand ratio, kernel, stride, in, out, layers */
static const int stages[7][6] = {
    {1, 3, 1, 32, 16, 1},  {6, 3, 2, 16, 24, 2},  {6, 5, 2, 24, 40, 2},   {6, 3, 2, 40, 80, 3},
    {6, 5, 1, 80, 112, 3}, {6, 5, 2, 112, 192, 4}, {6, 3, 1, 192, 320, 1},
};

/* conv + BN (+ SiLU when act): torchvision's Conv2dNormActivation at `pre` */
static int cna(struct s24_model *m, const char *pre, int x, int64_t oc, int64_t k, int64_t s,
               int64_t groups, int act)
{
    char a[96], b[96];
    snprintf(a, sizeof a, "%s.0", pre);
    snprintf(b, sizeof b, "%s.1", pre);
    x = s24_g_conv(m, a, x, oc, k, s, (k - 1) / 2, groups, 0);
    x = s24_g_bn(m, b, x, BN_EPS, BN_MOM);
    return act ? s24_g_act(m, x, S24_ACT_SILU) : x;
}

static int mbconv(struct s24_model *m, const char *pre, int x, int expand, int k, int stride,
                  int64_t in, int64_t out, float sd_frac)
{
    char n[96], n2[96];
    int64_t exp_c = in * expand; /* _make_divisible(in * ratio, 8): already a multiple of 8 */
    int i = 0, y = x;
    if (exp_c != in) {
        snprintf(n, sizeof n, "%s.block.%d", pre, i++);
        y = cna(m, n, y, exp_c, 1, 1, 1, 1);
    }
    snprintf(n, sizeof n, "%s.block.%d", pre, i++);
    y = cna(m, n, y, exp_c, k, stride, exp_c, 1);
    /* squeeze-excitation: avgpool, fc1 (1x1 conv, bias), SiLU, fc2, sigmoid, scale */
    int64_t sq = in / 4 > 1 ? in / 4 : 1;
    snprintf(n, sizeof n, "%s.block.%d.fc1", pre, i);
    snprintf(n2, sizeof n2, "%s.block.%d.fc2", pre, i++);
    int s = s24_g_gap(m, y);
    s = s24_g_act(m, s24_g_conv(m, n, s, sq, 1, 1, 0, 1, 1), S24_ACT_SILU);
    s = s24_g_act(m, s24_g_conv(m, n2, s, exp_c, 1, 1, 0, 1, 1), S24_ACT_SIGMOID);
    y = s24_g_scale(m, y, s);
    snprintf(n, sizeof n, "%s.block.%d", pre, i++);
    y = cna(m, n, y, out, 1, 1, 1, 0);
    if (stride == 1 && in == out) {
        y = s24_g_sdepth(m, y, sd_frac);
        y = s24_g_add(m, y, x);
    }
    return y;
}

int s24_build_efficientnet_b0(struct s24_model *m)
{
    char pre[64];
    int total = 0, id = 0;
    for (int s = 0; s < 7; s++) total += stages[s][5];
    int x = s24_g_input(m, 3);
    x = cna(m, "features.0", x, 32, 3, 2, 1, 1);
    for (int s = 0; s < 7; s++)
        for (int l = 0; l < stages[s][5]; l++, id++) {
            int64_t in = l ? stages[s][4] : stages[s][3];
            int stride = l ? 1 : stages[s][2];
            snprintf(pre, sizeof pre, "features.%d.%d", s + 1, l);
            x = mbconv(m, pre, x, stages[s][0], stages[s][1], stride, in, stages[s][4],
                       (float)id / (float)total);
        }
    x = cna(m, "features.8", x, 1280, 1, 1, 1, 1);
    x = s24_g_gap(m, x);
    x = s24_g_dropout(m, x);
    s24_g_linear(m, "classifier.1", x, m->classes, 0);
    return m->build_err;
}
