/* model_smallcnn.c: a small CNN for CPU demos and tests (about 24k
 * parameters): three 3x3 conv-BN-ReLU stages (3->16, 16->32 stride 2,
 * 32->64 stride 2), global average pooling and a 64->classes linear layer.
 * conv2 and conv3 satisfy ASP's 2:4 eligibility (OC % 8 == 0, IC % 16 == 0),
 * so pruning them is meaningful; conv1 (IC 3) and fc stay dense.
 * The PyTorch twin (same state_dict keys) is in scripts/make_torch_fixtures.py.
 * Initialisation as torchvision's ResNet: kaiming normal (fan_out) convs,
 * BN 1/0, nn.Linear's default. */
#include "nn/model.h"
#include "nn/arch.h"

int s24_build_smallcnn(struct s24_model *m)
{
    int x = s24_g_input(m, 3);
    x = s24_g_conv(m, "conv1", x, 16, 3, 1, 1, 1, 0);
    x = s24_g_act(m, s24_g_bn(m, "bn1", x, 1e-5f, 0.1f), S24_ACT_RELU);
    x = s24_g_conv(m, "conv2", x, 32, 3, 2, 1, 1, 0);
    x = s24_g_act(m, s24_g_bn(m, "bn2", x, 1e-5f, 0.1f), S24_ACT_RELU);
    x = s24_g_conv(m, "conv3", x, 64, 3, 2, 1, 1, 0);
    x = s24_g_act(m, s24_g_bn(m, "bn3", x, 1e-5f, 0.1f), S24_ACT_RELU);
    x = s24_g_gap(m, x);
    s24_g_linear(m, "fc", x, m->classes, 1);
    return m->build_err;
}
