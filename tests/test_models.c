/* test_models.c: the three architectures: parameter names, shapes and counts
 * as torchvision's state_dict, initialisation statistics, forward shapes,
 * BN train vs eval behaviour and running statistics, deterministic training
 * forwards, checkpoint round trip (bit-exact, OIHW on disk), bad checkpoints
 * refused without touching the model, and (when tests/fixtures/torch_*.bin
 * exist) logits, loss and gradients against PyTorch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparse24/sparse24_nn.h"
#include "t.h"

static struct s24_rng rng;

static float *rnd(int64_t n, float lo, float hi)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = s24_rng_uniformf(&rng, lo, hi);
    return p;
}

static int64_t count_params(s24_model_t *m, int trainable)
{
    int64_t s = 0;
    for (int i = 0; i < s24_model_num_params(m); i++) {
        struct s24_param *p = s24_model_param(m, i);
        if (trainable ? !p->is_buffer : 1) s += p->kind == S24_B_NUM_BATCHES ? 1 : p->numel;
    }
    return s;
}

static void check_names(void)
{
    s24_model_t *m = NULL;
    CHECK_OK(s24_model_create("resnet18", 10, 1, &m));
    if (m) {
        /* torchvision resnet18 (CIFAR stem 3x3): 11,173,962 parameters, 102 state_dict entries */
        CHECK(count_params(m, 1) == 11173962, "resnet18 params %lld", (long long)count_params(m, 1));
        CHECK(s24_model_num_params(m) == 122, "resnet18 entries %d", s24_model_num_params(m));
        struct s24_param *p = s24_model_find(m, "conv1.weight");
        CHECK(p && p->ndim == 4 && p->shape[0] == 64 && p->shape[1] == 3 && p->shape[2] == 3 &&
              p->shape[3] == 3 && !p->maskable, "conv1.weight");
        p = s24_model_find(m, "layer2.0.downsample.0.weight");
        CHECK(p && p->shape[0] == 128 && p->shape[1] == 64 && p->shape[2] == 1 && p->maskable,
              "downsample");
        p = s24_model_find(m, "layer4.1.bn2.num_batches_tracked");
        CHECK(p && p->ndim == 0 && p->count && !p->data && p->is_buffer, "num_batches_tracked");
        p = s24_model_find(m, "fc.weight");
        CHECK(p && p->ndim == 2 && p->shape[0] == 10 && p->shape[1] == 512 && !p->maskable, "fc");
        p = s24_model_find(m, "layer3.1.conv2.weight");
        CHECK(p && p->maskable && p->view.outer == 256 * 9 && p->view.red == 256 && p->view.inner == 1,
              "OHWI grouping view");
        CHECK(s24_model_find(m, "maxpool.weight") == NULL, "no such parameter");
        /* zero_init_residual: every block's bn2 weight is 0, bn1's 1 */
        p = s24_model_find(m, "layer1.0.bn2.weight");
        CHECK(p && p->data[0] == 0.0f && p->data[63] == 0.0f, "bn2 zero init");
        p = s24_model_find(m, "layer1.0.bn1.weight");
        CHECK(p && p->data[0] == 1.0f, "bn1 one init");
        /* kaiming normal fan_out: std sqrt(2 / (256 * 9)) */
        p = s24_model_find(m, "layer3.0.conv2.weight");
        double s = 0, ss = 0;
        for (int64_t i = 0; i < p->numel; i++) s += p->data[i], ss += (double)p->data[i] * p->data[i];
        double sd = sqrt(ss / (double)p->numel - (s / (double)p->numel) * (s / (double)p->numel));
        CHECK(fabs(sd / sqrt(2.0 / (256 * 9)) - 1) < 0.02, "kaiming std %g", sd);
        p = s24_model_find(m, "fc.bias");
        float mx = 0;
        for (int64_t i = 0; i < p->numel; i++) mx = fmaxf(mx, fabsf(p->data[i]));
        CHECK(mx > 0 && mx <= 1 / sqrtf(512.0f), "fc bias bound %g", (double)mx);
        s24_model_free(m);
    }
    m = NULL;
    CHECK_OK(s24_model_create("efficientnet_b0", 10, 1, &m));
    if (m) {
        /* torchvision efficientnet_b0(num_classes=10): 4,020,358 parameters */
        CHECK(count_params(m, 1) == 4020358, "efficientnet_b0 params %lld", (long long)count_params(m, 1));
        CHECK(s24_model_num_params(m) == 360, "efficientnet_b0 entries %d", s24_model_num_params(m));
        const char *names[] = {"features.0.0.weight", "features.0.1.running_var",
                               "features.1.0.block.0.0.weight", "features.1.0.block.1.fc1.weight",
                               "features.1.0.block.2.0.weight", "features.2.0.block.0.0.weight",
                               "features.2.0.block.2.fc2.bias", "features.6.3.block.3.1.weight",
                               "features.8.0.weight", "classifier.1.weight", "classifier.1.bias"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            CHECK(s24_model_find(m, names[i]) != NULL, "efficientnet_b0 has %s", names[i]);
        struct s24_param *p = s24_model_find(m, "features.2.0.block.1.0.weight");
        CHECK(p && p->shape[0] == 96 && p->shape[1] == 1 && p->shape[2] == 3 && p->groups == 96 &&
              !p->maskable, "depthwise weight");
        p = s24_model_find(m, "features.2.0.block.2.fc1.weight");
        CHECK(p && p->shape[0] == 4 && p->shape[1] == 96, "SE squeeze = in // 4");
        p = s24_model_find(m, "features.3.0.block.1.0.weight");
        CHECK(p && p->shape[2] == 5, "5x5 depthwise");
        p = s24_model_find(m, "classifier.1.bias");
        CHECK(p && p->data[0] == 0.0f, "classifier bias 0");
        s24_model_free(m);
    }
    m = NULL;
    CHECK_OK(s24_model_create("smallcnn", 10, 1, &m));
    if (m) {
        int maskable = 0;
        for (int i = 0; i < s24_model_num_params(m); i++) maskable += s24_model_param(m, i)->maskable;
        CHECK(maskable == 2, "smallcnn maskable %d", maskable);
        CHECK(!strcmp(s24_model_arch(m), "smallcnn") && s24_model_num_classes(m) == 10, "arch");
        s24_model_free(m);
    }
    m = (s24_model_t *)1;
    CHECK(s24_model_create("vgg16", 10, 1, &m) == S24_ERR_INVALID && m == NULL, "unknown arch");
    CHECK(strstr(s24_last_error(), "vgg16") != NULL, "error names the arch");
    CHECK(s24_model_create("resnet18", 0, 1, &m) == S24_ERR_INVALID, "0 classes");
}

static int same_params(s24_model_t *a, s24_model_t *b)
{
    for (int i = 0; i < s24_model_num_params(a); i++) {
        struct s24_param *p = s24_model_param(a, i), *q = s24_model_param(b, i);
        if (strcmp(p->name, q->name)) return 0;
        if (p->count ? *p->count != *q->count
                     : memcmp(p->data, q->data, (size_t)p->numel * sizeof(float)))
            return 0;
    }
    return 1;
}

static void check_train_eval(void)
{
    s24_model_t *m = NULL, *m2 = NULL;
    CHECK_OK(s24_model_create("smallcnn", 10, 5, &m));
    CHECK_OK(s24_model_create("smallcnn", 10, 5, &m2));
    if (!m || !m2) return;
    CHECK(same_params(m, m2), "same seed, same init");
    CHECK_OK(s24_model_reinit(m2, 6));
    CHECK(!same_params(m, m2), "another seed, another init");
    CHECK_OK(s24_model_reinit(m2, 5));
    CHECK(same_params(m, m2), "reinit == create");
    int n = 6;
    float *x = rnd(n * 16 * 16 * 3, -1, 1), *y1 = rnd(n * 10, 1e30f, 1e30f);
    float *y2 = rnd(n * 10, 1e30f, 1e30f), *y3 = rnd(n * 10, 1e30f, 1e30f);
    float *d = malloc(n * 10 * sizeof *d);
    int lab[6] = {0, 1, 2, 3, 4, 5};
    /* eval is deterministic and does not touch running stats */
    CHECK_OK(s24_model_forward(m, x, n, 16, 16, y1, 0));
    CHECK_OK(s24_model_forward(m, x, n, 16, 16, y2, 0));
    CHECK(!memcmp(y1, y2, n * 10 * sizeof *y1), "eval repeatable");
    CHECK(same_params(m, m2), "eval leaves buffers");
    CHECK(s24_model_backward(m, y1) == S24_ERR_INVALID, "no backward after eval");
    /* train: batch statistics (differs from eval at init running stats), running stats move */
    CHECK_OK(s24_model_forward(m, x, n, 16, 16, y3, 1));
    int differ = memcmp(y1, y3, n * 10 * sizeof *y1) != 0;
    CHECK(differ, "train-mode BN uses batch statistics");
    struct s24_param *rm = s24_model_find(m, "bn1.running_mean");
    struct s24_param *rv = s24_model_find(m, "bn1.running_var");
    struct s24_param *nb = s24_model_find(m, "bn1.num_batches_tracked");
    struct s24_param *w = s24_model_find(m, "conv1.weight");
    CHECK(*nb->count == 1, "num_batches_tracked %lld", (long long)*nb->count);
    /* running_mean = 0.9*0 + 0.1*mean(conv1 out); check channel 0 directly */
    {
        double s = 0, ss = 0;
        int64_t rows = (int64_t)n * 16 * 16;
        for (int64_t r = 0; r < rows; r++) {
            int64_t b = r / 256, hh = (r / 16) % 16, ww = r % 16;
            double acc = 0;
            for (int kh = 0; kh < 3; kh++)
                for (int kw = 0; kw < 3; kw++) {
                    int64_t ih = hh + kh - 1, iw = ww + kw - 1;
                    if (ih < 0 || ih >= 16 || iw < 0 || iw >= 16) continue;
                    for (int c = 0; c < 3; c++)
                        acc += (double)x[((b * 16 + ih) * 16 + iw) * 3 + c] * w->data[(kh * 3 + kw) * 3 + c];
                }
            s += acc, ss += acc * acc;
        }
        double mean = s / (double)rows, var = (ss / (double)rows - mean * mean) * rows / (rows - 1.0);
        CHECK(fabs(rm->data[0] - 0.1 * mean) < 1e-5, "running_mean %g vs %g", rm->data[0], 0.1 * mean);
        CHECK(fabs(rv->data[0] - (0.9 + 0.1 * var)) < 1e-4 * (1 + var),
              "running_var (unbiased) %g vs %g", rv->data[0], 0.9 + 0.1 * var);
    }
    /* backward fills every trainable gradient with finite, mostly non-zero values */
    s24_softmax_xent(y3, lab, n, 10, d, NULL);
    s24_model_zero_grad(m);
    CHECK_OK(s24_model_backward(m, d));
    for (int i = 0; i < s24_model_num_params(m); i++) {
        struct s24_param *p = s24_model_param(m, i);
        if (p->is_buffer) continue;
        int64_t nz = 0, bad = 0;
        for (int64_t j = 0; j < p->numel; j++) nz += p->grad[j] != 0, bad += !isfinite(p->grad[j]);
        CHECK(!bad && nz > p->numel / 2, "%s: %lld non-zero, %lld non-finite", p->name,
              (long long)nz, (long long)bad);
    }
    /* efficientnet: dropout/stochastic depth draw from the model rng; same rng -> same output */
    s24_model_t *e = NULL;
    CHECK_OK(s24_model_create("efficientnet_b0", 10, 3, &e));
    if (e) {
        struct s24_rng save = *s24_model_rng(e);
        float *z1 = rnd(n * 10, 0, 1), *z2 = rnd(n * 10, 0, 1), *z3 = rnd(n * 10, 0, 1);
        CHECK_OK(s24_model_forward(e, x, n, 16, 16, z1, 1));
        *s24_model_rng(e) = save;
        CHECK_OK(s24_model_forward(e, x, n, 16, 16, z2, 1));
        CHECK(!memcmp(z1, z2, n * 10 * sizeof *z1), "same rng state, same training forward");
        CHECK_OK(s24_model_forward(e, x, n, 16, 16, z3, 1));
        CHECK(memcmp(z1, z3, n * 10 * sizeof *z1) != 0, "fresh draws differ");
        CHECK(s24_model_set_drop(e, 1.5f, 0) == S24_ERR_INVALID, "bad dropout refused");
        free(z1), free(z2), free(z3);
        s24_model_free(e);
    }
    free(x), free(y1), free(y2), free(y3), free(d);
    s24_model_free(m);
    s24_model_free(m2);
}

static void check_checkpoint(const char *arch)
{
    char path[512];
    s24_model_t *a = NULL, *b = NULL;
    snprintf(path, sizeof path, "%s/%s.safetensors", t_tmpdir(), arch);
    CHECK_OK(s24_model_create(arch, 10, 11, &a));
    CHECK_OK(s24_model_create(arch, 10, 12, &b));
    if (!a || !b) return;
    /* make buffers non-trivial */
    for (int i = 0; i < s24_model_num_params(a); i++) {
        struct s24_param *p = s24_model_param(a, i);
        if (p->count) *p->count = 1000 + i;
        else if (p->is_buffer)
            for (int64_t j = 0; j < p->numel; j++) p->data[j] = s24_rng_uniformf(&rng, 0.5f, 2.0f);
    }
    CHECK_OK(s24_model_save(a, path));
    CHECK(!same_params(a, b), "different before load");
    CHECK_OK(s24_model_load(b, path));
    CHECK(same_params(a, b), "%s: bit-exact round trip", arch);
    /* on disk: PyTorch layout */
    struct s24_st st;
    s24_st_init(&st);
    CHECK_OK(s24_st_read(path, &st));
    CHECK(st.n == s24_model_num_params(a), "tensor count %d", st.n);
    int ok = 1;
    for (int i = 0; i < s24_model_num_params(a) && ok; i++) {
        struct s24_param *p = s24_model_param(a, i);
        struct s24_st_tensor *t = s24_st_find(&st, p->name);
        ok = t && t->ndim == p->ndim;
        for (int d = 0; ok && d < p->ndim; d++) ok = t->shape[d] == p->shape[d];
        if (!ok) break;
        if (p->count) {
            ok = t->dtype == S24_I64 && ((int64_t *)t->data)[0] == *p->count;
        } else if (p->ndim == 4) {
            /* OIHW element (o, i, h, w) == OHWI element (o, h, w, i) */
            int64_t O = p->shape[0], I = p->shape[1], H = p->shape[2], W = p->shape[3];
            int64_t o = O - 1, c = I > 1 ? 1 : 0, h = H - 1, w = 0;
            ok = t->dtype == S24_F32 &&
                 ((float *)t->data)[((o * I + c) * H + h) * W + w] == p->data[((o * H + h) * W + w) * I + c];
        } else {
            ok = t->dtype == S24_F32 && !memcmp(t->data, p->data, t->nbytes);
        }
        CHECK(ok, "%s on disk", p->name);
    }
    /* a checkpoint with a wrong shape or a missing tensor is refused, model untouched */
    s24_model_t *c = NULL;
    CHECK_OK(s24_model_create(arch, 10, 13, &c));
    s24_model_t *c0 = NULL;
    CHECK_OK(s24_model_create(arch, 10, 13, &c0));
    struct s24_st_tensor *t = &st.t[st.n - 2];
    t->shape[0] += 1;
    CHECK(s24_model_from_st(c, &st, "bad.safetensors") == S24_ERR_FORMAT, "wrong shape refused");
    CHECK(strstr(s24_last_error(), t->name) != NULL, "error names %s: %s", t->name, s24_last_error());
    t->shape[0] -= 1;
    char *nm = st.t[0].name;
    st.t[0].name = (char *)"nope.weight";
    CHECK(s24_model_from_st(c, &st, "bad.safetensors") == S24_ERR_NOT_FOUND, "missing refused");
    st.t[0].name = nm;
    CHECK(same_params(c, c0), "failed loads leave the model");
    s24_model_t *other = NULL;
    CHECK_OK(s24_model_create(strcmp(arch, "smallcnn") ? "smallcnn" : "resnet18", 10, 1, &other));
    CHECK(s24_model_load(other, path) != S24_OK, "other architecture refused");
    CHECK(s24_model_load(b, "/nonexistent/x.safetensors") != S24_OK, "missing file");
    s24_model_free(other);
    s24_model_free(c);
    s24_model_free(c0);
    s24_st_free(&st);
    remove(path);
    s24_model_free(a);
    s24_model_free(b);
}

int main(void)
{
    s24_rng_seed(&rng, 99);
    s24_threads_set(2);
    check_names();
    check_train_eval();
    check_checkpoint("smallcnn");
    check_checkpoint("resnet18");
    check_checkpoint("efficientnet_b0");
    return t_done("test_models");
}
