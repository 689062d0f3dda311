/* test_fuse.c: fused batch norm + activation and add + ReLU (model_run.c's
 * plan_fuse) give the separate nodes' results bit for bit on the CPU
 * backend: logits, loss, every parameter gradient and the running statistics
 * of a training step, and the eval logits, for every architecture; the
 * fused model really fuses (nodes marked) and holds no more memory. The
 * GPU kernels are checked against these CPU ops in tests/gpu/. */
#include "t.h"

#include "nn/model.h"
#include "sparse24/sparse24_nn.h"

static int count_fused(const struct s24_model *m)
{
    int k = 0;
    for (int i = 0; i < m->nn; i++) k += m->nodes[i].op != S24_N_ACT && m->nodes[i].fuse;
    return k;
}

static s24_model_t *make(const char *arch, const char *fuse)
{
    s24_model_t *m = NULL;
    setenv("S24_FUSE", fuse, 1);
    int rc = s24_model_create(arch, 10, 7, NULL, &m);
    unsetenv("S24_FUSE");
    CHECK(rc == S24_OK, "%s: create (S24_FUSE=%s): %s", arch, fuse, s24_last_error());
    return rc == S24_OK ? m : NULL;
}

static void check_arch(const char *arch, int n, int hw, int min_fused)
{
    s24_model_t *a = make(arch, "0"), *b = make(arch, "1");
    float *x = NULL, *la = NULL, *lb = NULL;
    int32_t *y = NULL;
    if (!a || !b) goto done;
    CHECK(count_fused(a) == 0, "%s: S24_FUSE=0 fused %d nodes", arch, count_fused(a));
    CHECK(count_fused(b) >= min_fused, "%s: fused %d nodes, expected at least %d", arch,
          count_fused(b), min_fused);
    size_t nx = (size_t)n * hw * hw * 3;
    x = malloc(nx * sizeof *x);
    y = malloc((size_t)n * sizeof *y);
    la = malloc((size_t)n * 10 * sizeof *la);
    lb = malloc((size_t)n * 10 * sizeof *lb);
    if (!x || !y || !la || !lb) goto done;
    struct s24_rng r;
    s24_rng_seed(&r, 3);
    for (size_t i = 0; i < nx; i++) x[i] = 2.0f * (float)s24_rng_uniform(&r) - 1.0f;
    for (int i = 0; i < n; i++) y[i] = i % 10;

    /* one training step each: the same dropout draws (same seed) */
    double acc_a[2] = {0, 0}, acc_b[2] = {0, 0};
    CHECK_OK(s24_model_forward(a, x, n, hw, hw, la, 1));
    CHECK_OK(s24_model_forward(b, x, n, hw, hw, lb, 1));
    CHECK(!memcmp(la, lb, (size_t)n * 10 * sizeof *la), "%s: training logits differ", arch);
    s24_model_zero_grad(a);
    s24_model_zero_grad(b);
    CHECK_OK(s24_model_loss_backward(a, y, acc_a));
    CHECK_OK(s24_model_loss_backward(b, y, acc_b));
    CHECK(acc_a[0] == acc_b[0] && acc_a[1] == acc_b[1], "%s: loss %.9g vs %.9g", arch, acc_a[0],
          acc_b[0]);
    int bad = 0, np = s24_model_num_params(a);
    for (int i = 0; i < np; i++) {
        struct s24_param *pa = s24_model_param(a, i), *pb = s24_model_param(b, i);
        size_t bytes = sizeof(float) * (size_t)pa->numel;
        if (pa->grad && memcmp(pa->grad, pb->grad, bytes)) {
            if (bad++ < 3) fprintf(stderr, "  %s: gradient of %s differs\n", arch, pa->name);
        }
        if (!pa->grad && pa->data && memcmp(pa->data, pb->data, bytes)) { /* running stats */
            if (bad++ < 3) fprintf(stderr, "  %s: %s differs after the step\n", arch, pa->name);
        }
    }
    CHECK(bad == 0, "%s: %d parameter gradients or buffers differ", arch, bad);

    CHECK_OK(s24_model_forward(a, x, n, hw, hw, la, 0));
    CHECK_OK(s24_model_forward(b, x, n, hw, hw, lb, 0));
    CHECK(!memcmp(la, lb, (size_t)n * 10 * sizeof *la), "%s: eval logits differ", arch);
    size_t pa = s24_model_backend(a)->peak, pb = s24_model_backend(b)->peak;
    CHECK(pb <= pa, "%s: fused peak %zu bytes above unfused %zu", arch, pb, pa);
    printf("  %s: %d fused nodes, peak %.2f -> %.2f MiB\n", arch, count_fused(b),
           (double)pa / 1048576.0, (double)pb / 1048576.0);
done:
    free(x), free(y), free(la), free(lb);
    s24_model_free(a);
    s24_model_free(b);
}

int main(void)
{
    /* the peaks compared are of what fusion changes, the stored activations
     * and their gradients' pool: with gradients placed among dead
     * activations (src/nn/model_arena.c) the pool left over depends on the
     * layout, and fused ResNet18 keeps a few MiB more of it than unfused */
    setenv("S24_GRAD_ARENA", "0", 1);
    /* ResNet18: the stem, 8 BN + ReLU and 8 add + ReLU; EfficientNet-B0:
     * its BN + SiLU pairs (the stem, the expansions, the depthwise, the head) */
    check_arch("smallcnn", 4, 16, 1);
    check_arch("resnet18", 3, 16, 17);
    check_arch("efficientnet_b0", 2, 32, 30);
    /* the stem's BN + ReLU fused feeds the max pool (maps 16, 8 ... 1 at 32x32) */
    check_arch("resnet18_imagenet", 2, 32, 17);
    return t_done("test_fuse");
}
