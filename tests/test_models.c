/* test_models.c: the registry's architectures: parameter names, shapes and counts
 * as torchvision's state_dict, initialisation statistics, forward shapes,
 * BN train vs eval behaviour and running statistics, deterministic training
 * forwards, checkpoint round trip (bit-exact, OIHW on disk), bad checkpoints
 * refused without touching the model, the memory breakdown of a training
 * step, and (when tests/fixtures/torch_*.bin
 * exist) logits, loss and gradients against PyTorch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "nn/model.h"
#include "sparse24/sparse24_nn.h"
#include "sparse24/sparse24_train.h"
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
    CHECK_OK(s24_model_create("resnet18", 10, 1, NULL, &m));
    if (m) {
        /* torchvision resnet18 (CIFAR stem 3x3): 11,173,962 parameters, 102 state_dict entries */
        CHECK(count_params(m, 1) == 11173962, "resnet18 params %lld",
              (long long)count_params(m, 1));
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
        CHECK(p && p->maskable && p->view.outer == 256 * 9 && p->view.red == 256 &&
                  p->view.inner == 1,
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
        for (int64_t i = 0; i < p->numel; i++)
            s += p->data[i], ss += (double)p->data[i] * p->data[i];
        double sd = sqrt(ss / (double)p->numel - (s / (double)p->numel) * (s / (double)p->numel));
        CHECK(fabs(sd / sqrt(2.0 / (256 * 9)) - 1) < 0.02, "kaiming std %g", sd);
        p = s24_model_find(m, "fc.bias");
        float mx = 0;
        for (int64_t i = 0; i < p->numel; i++) mx = fmaxf(mx, fabsf(p->data[i]));
        CHECK(mx > 0 && mx <= 1 / sqrtf(512.0f), "fc bias bound %g", (double)mx);
        s24_model_free(m);
    }
    m = NULL;
    CHECK_OK(s24_model_create("efficientnet_b0", 10, 1, NULL, &m));
    if (m) {
        /* torchvision efficientnet_b0(num_classes=10): 4,020,358 parameters */
        CHECK(count_params(m, 1) == 4020358, "efficientnet_b0 params %lld",
              (long long)count_params(m, 1));
        CHECK(s24_model_num_params(m) == 360, "efficientnet_b0 entries %d",
              s24_model_num_params(m));
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
    CHECK_OK(s24_model_create("smallcnn", 10, 1, NULL, &m));
    if (m) {
        int maskable = 0;
        for (int i = 0; i < s24_model_num_params(m); i++)
            maskable += s24_model_param(m, i)->maskable;
        CHECK(maskable == 2, "smallcnn maskable %d", maskable);
        CHECK(!strcmp(s24_model_arch(m), "smallcnn") && s24_model_num_classes(m) == 10, "arch");
        s24_model_free(m);
    }
    m = (s24_model_t *)1;
    CHECK(s24_model_create("vgg16", 10, 1, NULL, &m) == S24_ERR_INVALID && m == NULL,
          "unknown arch");
    CHECK(strstr(s24_last_error(), "vgg16") != NULL, "error names the arch");
    CHECK(s24_model_create("resnet18", 0, 1, NULL, &m) == S24_ERR_INVALID, "0 classes");
}

/* torchvision's ImageNet resnet18: the CIFAR one's names, its own stem. */
static void check_resnet18_imagenet(void)
{
    s24_model_t *m = NULL;
    CHECK_OK(s24_model_create("resnet18_imagenet", 1000, 1, NULL, &m));
    if (!m) return;
    /* sum(p.numel() for p in torchvision.models.resnet18().parameters()) */
    CHECK(count_params(m, 1) == 11689512, "resnet18_imagenet params %lld",
          (long long)count_params(m, 1));
    CHECK(s24_model_num_params(m) == 122, "resnet18_imagenet entries %d", s24_model_num_params(m));
    struct s24_param *p = s24_model_find(m, "conv1.weight");
    CHECK(p && p->ndim == 4 && p->shape[0] == 64 && p->shape[1] == 3 && p->shape[2] == 7 &&
              p->shape[3] == 7 && !p->maskable,
          "conv1.weight 64x3x7x7");
    p = s24_model_find(m, "fc.weight");
    CHECK(p && p->shape[0] == 1000 && p->shape[1] == 512, "fc 1000x512");
    /* the same keys as the CIFAR form, in the same order, conv1 aside; and
     * a CIFAR state dict (3x3 conv1) refused, naming the tensor */
    s24_model_t *c = NULL;
    CHECK_OK(s24_model_create("resnet18", 1000, 2, NULL, &c));
    int same = c && s24_model_num_params(c) == s24_model_num_params(m);
    for (int i = 0; same && i < s24_model_num_params(m); i++) {
        struct s24_param *a = s24_model_param(m, i), *b = s24_model_param(c, i);
        same = !strcmp(a->name, b->name) &&
               (!strcmp(a->name, "conv1.weight") || a->numel == b->numel);
    }
    CHECK(same, "resnet18_imagenet: the state_dict keys of resnet18");
    if (c) {
        struct s24_st st;
        s24_st_init(&st);
        CHECK_OK(s24_model_to_st(c, &st));
        CHECK(s24_model_from_st(m, &st, "cifar.safetensors") == S24_ERR_FORMAT &&
                  strstr(s24_last_error(), "conv1.weight"),
              "CIFAR state dict into resnet18_imagenet: %s", s24_last_error());
        s24_st_free(&st);
    }
    s24_model_free(c);
    /* torchvision's zero_init_residual=False: bn2 weights 1; kaiming std for the 7x7 stem */
    p = s24_model_find(m, "layer1.0.bn2.weight");
    CHECK(p && p->data[0] == 1.0f && p->data[63] == 1.0f, "bn2 one init");
    p = s24_model_find(m, "conv1.weight");
    double sum = 0, ss = 0;
    for (int64_t i = 0; i < p->numel; i++) sum += p->data[i], ss += (double)p->data[i] * p->data[i];
    double sd = sqrt(ss / (double)p->numel - (sum / (double)p->numel) * (sum / (double)p->numel));
    CHECK(fabs(sd / sqrt(2.0 / (64 * 49)) - 1) < 0.05, "conv1 kaiming std %g", sd);
    /* the stem: 7x7 stride 2 (224 -> 112), max-pool 3x3 stride 2 padding 1 (112 -> 56) */
    int pools = 0;
    for (int i = 0; i < m->nn; i++)
        if (m->nodes[i].op == S24_N_MAXPOOL) {
            pools++;
            CHECK(m->nodes[i].k == 3 && m->nodes[i].stride == 2 && m->nodes[i].pad == 1 && i == 3,
                  "max pool node %d: k %lld stride %lld pad %lld", i, (long long)m->nodes[i].k,
                  (long long)m->nodes[i].stride, (long long)m->nodes[i].pad);
            CHECK(!strcmp(s24_model_node_kind(m, i), "maxpool"), "node kind %s",
                  s24_model_node_kind(m, i));
        }
    CHECK(pools == 1, "%d max pools", pools);
    /* one 224x224 image, eval: every map as torchvision's, 1000 finite logits */
    float *x = rnd(224 * 224 * 3, -2, 2), *y = rnd(1000, 1e30f, 1e30f);
    CHECK_OK(s24_model_forward(m, x, 1, 224, 224, y, 0));
    int fin = 1;
    for (int i = 0; i < 1000; i++) fin &= isfinite(y[i]) && y[i] != 1e30f;
    CHECK(fin, "224x224 logits");
    int conv1 = -1, pool = -1;
    for (int i = 0; i < m->nn; i++) {
        if (m->nodes[i].op == S24_N_CONV && conv1 < 0) conv1 = m->nodes[i].out;
        if (m->nodes[i].op == S24_N_MAXPOOL) pool = m->nodes[i].out;
    }
    CHECK(conv1 >= 0 && m->slots[conv1].h == 112 && m->slots[conv1].w == 112, "conv1 map 112");
    CHECK(pool >= 0 && m->slots[pool].h == 56 && m->slots[pool].w == 56 && m->slots[pool].c == 64,
          "max-pool map 56x56x64");
    struct s24_slot *gi = &m->slots[m->nodes[m->nn - 2].in]; /* the pool's input: layer4's map */
    CHECK(gi->h == 7 && gi->w == 7 && gi->c == 512, "layer4 map %lldx%lldx%lld", (long long)gi->h,
          (long long)gi->w, (long long)gi->c);
    free(x), free(y);
    s24_model_free(m);
}

/* One SGD step of resnet18_imagenet on two 64x64 images (maps 32, 16, ...
 * 2x2 before the pool): finite loss, every trainable gradient finite and
 * mostly non-zero (the max pool passes gradient to a quarter of its input
 * at most, but every weight behind it still gets some), the weights moved,
 * and a second step lowering the loss on the same batch. */
static void check_train_step_imagenet(void)
{
    s24_model_t *m = NULL;
    struct s24_sgd o;
    memset(&o, 0, sizeof o);
    CHECK_OK(s24_model_create("resnet18_imagenet", 10, 4, NULL, &m));
    if (!m) return;
    CHECK_OK(s24_sgd_init(&o, m, 5e-4f));
    int n = 2, hw = 64, lab[2] = {3, 8};
    float *x = rnd((int64_t)n * hw * hw * 3, -2, 2), *y = malloc(10 * (size_t)n * sizeof *y);
    float *d = malloc(10 * (size_t)n * sizeof *d);
    struct s24_param *w = s24_model_find(m, "layer1.0.conv1.weight");
    float before = w->data[5];
    float loss[2] = {0, 0};
    for (int step = 0; step < 2; step++) {
        CHECK_OK(s24_model_forward(m, x, n, hw, hw, y, 1));
        loss[step] = s24_softmax_xent(y, lab, n, 10, d, NULL);
        s24_model_zero_grad(m);
        CHECK_OK(s24_model_backward(m, d));
        if (step == 0)
            for (int i = 0; i < s24_model_num_params(m); i++) {
                struct s24_param *p = s24_model_param(m, i);
                if (p->is_buffer) continue;
                int64_t nz = 0, bad = 0;
                for (int64_t j = 0; j < p->numel; j++)
                    nz += p->grad[j] != 0, bad += !isfinite(p->grad[j]);
                CHECK(!bad && nz > p->numel / 2, "%s: %lld of %lld non-zero, %lld non-finite",
                      p->name, (long long)nz, (long long)p->numel, (long long)bad);
            }
        CHECK_OK(s24_sgd_step(&o, m, 0.05f, 0.9f));
    }
    CHECK(isfinite(loss[0]) && loss[1] < loss[0], "resnet18_imagenet step: loss %g then %g",
          (double)loss[0], (double)loss[1]);
    CHECK(w->data[5] != before, "weights moved");
    free(x), free(y), free(d);
    s24_sgd_free(&o);
    s24_model_free(m);
}

/* s24_model_memory after a training step of ResNet18-CIFAR: the activation
 * slots are what the network's shape says they are with the in-place ReLUs
 * and adds (per image at h x w: the input's 3 channels, the stem's conv and
 * BN + ReLU outputs (2 x 64), four per basic block (conv1, BN1 + ReLU,
 * conv2, BN2 = add + ReLU: 8 x 64 in layer1), the downsample's conv and BN
 * in layers 2-4 (10 x 128 at 1/4, 10 x 256 at 1/16, 10 x 512 at 1/64 of the
 * positions), then the pooled 512 and the 10 logits); the gradient pool
 * holds less than the activations; nothing is on a backend apart from the
 * host copies on the CPU. */
/* The precision switch: the CPU backend trains in fp32 only, a mode is set
 * before anything is allocated, and fp32 activations move as they are. */
static void check_precision(void)
{
    s24_backend_t *be = NULL;
    CHECK_OK(s24_backend_create(S24_DEVICE_CPU, 0, &be));
    if (!be) return;
    CHECK(s24_backend_precision(be) == S24_F32);
    CHECK(s24_backend_set_precision(be, S24_BF16) == S24_ERR_UNSUPPORTED);
    CHECK(s24_backend_set_precision(be, S24_F16) == S24_ERR_INVALID);
    CHECK(s24_backend_set_precision(NULL, S24_F32) == S24_ERR_INVALID);
    CHECK_OK(s24_backend_set_precision(be, S24_F32));
    CHECK(s24_backend_precision(be) == S24_F32 && s24_be_act_size(be) == 4);
    float h[5] = {1.5f, -2.0f, 3.25f, 0.0f, 1e-3f}, back[5] = {0};
    void *d = NULL;
    CHECK_OK(s24_be_alloc(be, sizeof h, &d));
    CHECK_OK(s24_be_put_act(be, d, h, 5));
    CHECK_OK(s24_be_get_act(be, back, d, 5));
    CHECK(!memcmp(h, back, sizeof h));
    s24_be_free(be, d, sizeof h);
    s24_clear_error();
    s24_backend_free(be);
}

/* Gradients placed among the activations dead in the backward
 * (src/nn/model_arena.c): per architecture, two steps with the placement on
 * and off (S24_GRAD_ARENA=0) give the same loss and the same bits in every
 * parameter gradient and running statistic, the pool shrinks (ResNet18's to
 * under a fifth: 22.5 MiB to 2.5 at batch 16, 32x32), and the second step
 * allocates nothing (a CUDA graph replays the first one's pointers). */
/* A model made with one environment switch set (read at placement). */
static s24_model_t *make_env(const char *arch, const char *var, const char *on)
{
    s24_model_t *m = NULL;
    setenv(var, on, 1);
    int rc = s24_model_create(arch, 10, 5, NULL, &m);
    unsetenv(var);
    CHECK(rc == S24_OK, "%s: create (%s=%s): %s", arch, var, on, s24_last_error());
    return rc == S24_OK ? m : NULL;
}
static s24_model_t *make_arena(const char *arch, const char *on)
{
    return make_env(arch, "S24_GRAD_ARENA", on);
}

/* Two steps of models a and b on the same batch: equal losses and equal
 * gradient values (== rather than the bits: an add's copy may keep a -0
 * that 0 + -0 makes +0). */
static void steps_match(s24_model_t *a, s24_model_t *b, int n, int hw, const char *what)
{
    float *x = rnd((int64_t)n * hw * hw * 3, -1, 1), *y = malloc(sizeof(float) * 10 * (size_t)n);
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)n);
    if (!y || !lab) goto done;
    for (int i = 0; i < n; i++) lab[i] = (i * 3) % 10;
    for (int step = 0; step < 2; step++) {
        double la[2] = {0, 0}, lb[2] = {0, 0};
        s24_model_t *mm[2] = {a, b};
        double *acc[2] = {la, lb};
        for (int k = 0; k < 2; k++) {
            CHECK_OK(s24_model_forward(mm[k], x, n, hw, hw, y, 1));
            s24_model_zero_grad(mm[k]);
            CHECK_OK(s24_model_loss_backward(mm[k], lab, acc[k]));
        }
        CHECK(la[0] == lb[0] && la[1] == lb[1], "%s step %d: loss %.9g vs %.9g", what, step, la[0],
              lb[0]);
        int bad = 0;
        for (int i = 0; i < s24_model_num_params(a); i++) {
            struct s24_param *pa = s24_model_param(a, i), *pb = s24_model_param(b, i);
            for (int64_t j = 0; pa->grad && j < pa->numel; j++)
                if (!(pa->grad[j] == pb->grad[j])) {
                    bad++;
                    break;
                }
        }
        CHECK(bad == 0, "%s step %d: %d gradients differ", what, step, bad);
    }
done:
    free(x), free(y), free(lab);
}

/* Gradients whose first writer overwrites them (model_run.c's plan_fresh)
 * against zeroed ones added into, and the plan really marks writers
 * (min_fresh of them at least). */
static void check_grad_fresh(const char *arch, int n, int hw, int min_fresh)
{
    s24_model_t *a = make_env(arch, "S24_GRAD_FRESH", "0");
    s24_model_t *b = make_env(arch, "S24_GRAD_FRESH", "1");
    if (!a || !b) goto done;
    int fa = 0, fb = 0;
    for (int i = 0; i < a->nn; i++) fa += a->nodes[i].fresh1 + a->nodes[i].fresh2;
    for (int i = 0; i < b->nn; i++) fb += b->nodes[i].fresh1 + b->nodes[i].fresh2;
    CHECK(fa == 0 && fb >= min_fresh, "%s: %d / %d fresh writers (want 0 / >= %d)", arch, fa, fb,
          min_fresh);
    steps_match(a, b, n, hw, arch);
    printf("  %s: %d gradients written fresh, none zeroed for them\n", arch, fb);
done:
    s24_model_free(a);
    s24_model_free(b);
}

/* Transient slots (model_arena.c) borrowing later slots' storage: the same
 * results, and `saved` bytes (per image, at least) of activations fewer. */
static void check_transient(const char *arch, int n, int hw, size_t saved)
{
    s24_model_t *a = make_env(arch, "S24_TRANSIENT", "0");
    s24_model_t *b = make_env(arch, "S24_TRANSIENT", "1");
    if (!a || !b) goto done;
    steps_match(a, b, n, hw, arch);
    struct s24_model_mem ma, mb;
    CHECK_OK(s24_model_memory(a, &ma));
    CHECK_OK(s24_model_memory(b, &mb));
    int hosted = 0;
    for (int s = 0; s < b->ns; s++) hosted += b->slots[s].host >= 0;
    CHECK(mb.activations + saved * (size_t)n <= ma.activations,
          "%s: activations %zu bytes with transients, %zu without (want %zu fewer)", arch,
          mb.activations, ma.activations, saved * (size_t)n);
    printf("  %s %dx%d batch %d: %d transient slots borrow storage, activations %.2f -> %.2f MiB\n",
           arch, hw, hw, n, hosted, (double)ma.activations / 1048576.0,
           (double)mb.activations / 1048576.0);
done:
    s24_model_free(a);
    s24_model_free(b);
}

static void check_grad_arena(const char *arch, int n, int hw, int shrink)
{
    s24_model_t *a = make_arena(arch, "0"), *b = make_arena(arch, "1");
    float *x = rnd((int64_t)n * hw * hw * 3, -1, 1), *y = malloc(sizeof(float) * 10 * (size_t)n);
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)n);
    if (!a || !b || !y || !lab) goto done;
    for (int i = 0; i < n; i++) lab[i] = (i * 7) % 10;
    uint64_t gen = 0;
    for (int step = 0; step < 2; step++) {
        double la[2] = {0, 0}, lb[2] = {0, 0};
        s24_model_t *mm[2] = {a, b};
        double *acc[2] = {la, lb};
        if (step == 1) gen = s24_model_backend(b)->gen;
        for (int k = 0; k < 2; k++) {
            CHECK_OK(s24_model_forward(mm[k], x, n, hw, hw, y, 1));
            s24_model_zero_grad(mm[k]);
            CHECK_OK(s24_model_loss_backward(mm[k], lab, acc[k]));
        }
        CHECK(la[0] == lb[0] && la[1] == lb[1], "%s step %d: loss %.9g vs %.9g", arch, step, la[0],
              lb[0]);
        int bad = 0;
        for (int i = 0; i < s24_model_num_params(a); i++) {
            struct s24_param *pa = s24_model_param(a, i), *pb = s24_model_param(b, i);
            size_t bytes = sizeof(float) * (size_t)pa->numel;
            if (pa->grad && memcmp(pa->grad, pb->grad, bytes)) bad++;
            if (!pa->grad && pa->data && memcmp(pa->data, pb->data, bytes)) bad++;
        }
        CHECK(bad == 0, "%s step %d: %d gradients or buffers differ with the arena", arch, step,
              bad);
    }
    CHECK(s24_model_backend(b)->gen == gen, "%s: the second step allocated or freed", arch);
    struct s24_model_mem ma, mb;
    CHECK_OK(s24_model_memory(a, &ma));
    CHECK_OK(s24_model_memory(b, &mb));
    CHECK(ma.activations == mb.activations, "%s: activations %zu vs %zu", arch, ma.activations,
          mb.activations);
    CHECK(mb.act_grads > 0 && mb.act_grads * (size_t)shrink < ma.act_grads,
          "%s: gradient pool %zu bytes with the arena, %zu without (want under 1/%d)", arch,
          mb.act_grads, ma.act_grads, shrink);
    printf("  %s %dx%d batch %d: gradient pool %.2f -> %.2f MiB\n", arch, hw, hw, n,
           (double)ma.act_grads / 1048576.0, (double)mb.act_grads / 1048576.0);
done:
    free(x), free(y), free(lab);
    s24_model_free(a);
    s24_model_free(b);
}

static void check_memory(void)
{
    s24_model_t *m = NULL;
    CHECK_OK(s24_model_create("resnet18", 10, 3, NULL, &m));
    if (!m) return;
    int n = 2, hw = 16, lab[2] = {1, 7};
    float *x = rnd((int64_t)n * hw * hw * 3, -1, 1), y[20], d[20];
    struct s24_model_mem mm;
    CHECK_OK(s24_model_forward(m, x, n, hw, hw, y, 1));
    (void)s24_softmax_xent(y, lab, n, 10, d, NULL);
    CHECK_OK(s24_model_backward(m, d));
    CHECK_OK(s24_model_memory(m, &mm));
    /* stages 2-4: ten slots each, but the downsample branch's batch norm
     * output borrows a later slot's storage (a transient, model_arena.c) */
    size_t per = (size_t)(hw * hw) * (3 + 2 * 64 + 8 * 64) + (size_t)(hw * hw / 4) * 9 * 128 +
                 (size_t)(hw * hw / 16) * 9 * 256 + (size_t)(hw * hw / 64) * 9 * 512 + 512 + 10;
    /* one arena, each slot at a 256-byte offset: at most 255 bytes of padding per slot */
    size_t want = sizeof(float) * per * (size_t)n, slack = 255 * (size_t)(m->ns);
    CHECK(mm.activations >= want && mm.activations <= want + slack,
          "activations %zu bytes, want %zu (+ at most %zu of alignment)", mm.activations, want,
          slack);
    CHECK(mm.act_grads > 0 && mm.act_grads < mm.activations, "activation gradients %zu bytes",
          mm.act_grads);
    CHECK(mm.params == 0, "parameters on the CPU backend: %zu bytes", mm.params);
    CHECK(s24_model_memory(NULL, &mm) != S24_OK, "no model refused");
    s24_clear_error();
    free(x);
    s24_model_free(m);
}

/* torchvision's efficientnet_b0 is one network at any input size: the
 * 224x224 ImageNet input runs through the same registry entry (maps 112
 * after the stem, 7x7 before the pool). */
static void check_efficientnet_224(void)
{
    s24_model_t *m = NULL;
    CHECK_OK(s24_model_create("efficientnet_b0", 1000, 1, NULL, &m));
    if (!m) return;
    /* sum(p.numel() for p in torchvision.models.efficientnet_b0().parameters()) */
    CHECK(count_params(m, 1) == 5288548, "efficientnet_b0 (1000 classes) params %lld",
          (long long)count_params(m, 1));
    float *x = rnd(224 * 224 * 3, -2, 2), *y = rnd(1000, 1e30f, 1e30f);
    CHECK_OK(s24_model_forward(m, x, 1, 224, 224, y, 0));
    int fin = 1;
    for (int i = 0; i < 1000; i++) fin &= isfinite(y[i]) && y[i] != 1e30f;
    CHECK(fin, "efficientnet_b0 224x224 logits");
    struct s24_slot *stem = &m->slots[m->nodes[0].out];
    struct s24_slot *head = &m->slots[m->nodes[m->nn - 3].in]; /* the pool's input */
    CHECK(stem->h == 112 && head->h == 7 && head->w == 7 && head->c == 1280,
          "efficientnet_b0 maps: stem %lld, head %lldx%lldx%lld", (long long)stem->h,
          (long long)head->h, (long long)head->w, (long long)head->c);
    free(x), free(y);
    s24_model_free(m);
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
    CHECK_OK(s24_model_create("smallcnn", 10, 5, NULL, &m));
    CHECK_OK(s24_model_create("smallcnn", 10, 5, NULL, &m2));
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
                        acc += (double)x[((b * 16 + ih) * 16 + iw) * 3 + c] *
                               w->data[(kh * 3 + kw) * 3 + c];
                }
            s += acc, ss += acc * acc;
        }
        double mean = s / (double)rows,
               var = (ss / (double)rows - mean * mean) * rows / (rows - 1.0);
        CHECK(fabs(rm->data[0] - 0.1 * mean) < 1e-5, "running_mean %g vs %g", rm->data[0],
              0.1 * mean);
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
    CHECK_OK(s24_model_create("efficientnet_b0", 10, 3, NULL, &e));
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
    CHECK_OK(s24_model_create(arch, 10, 11, NULL, &a));
    CHECK_OK(s24_model_create(arch, 10, 12, NULL, &b));
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
            ok = t->dtype == S24_F32 && ((float *)t->data)[((o * I + c) * H + h) * W + w] ==
                                            p->data[((o * H + h) * W + w) * I + c];
        } else {
            ok = t->dtype == S24_F32 && !memcmp(t->data, p->data, t->nbytes);
        }
        CHECK(ok, "%s on disk", p->name);
    }
    /* a checkpoint with a wrong shape or a missing tensor is refused, model untouched */
    s24_model_t *c = NULL;
    CHECK_OK(s24_model_create(arch, 10, 13, NULL, &c));
    s24_model_t *c0 = NULL;
    CHECK_OK(s24_model_create(arch, 10, 13, NULL, &c0));
    struct s24_st_tensor *t = &st.t[st.n - 2];
    t->shape[0] += 1;
    CHECK(s24_model_from_st(c, &st, "bad.safetensors") == S24_ERR_FORMAT, "wrong shape refused");
    CHECK(strstr(s24_last_error(), t->name) != NULL, "error names %s: %s", t->name,
          s24_last_error());
    t->shape[0] -= 1;
    char *nm = st.t[0].name;
    st.t[0].name = (char *)"nope.weight";
    CHECK(s24_model_from_st(c, &st, "bad.safetensors") == S24_ERR_NOT_FOUND, "missing refused");
    st.t[0].name = nm;
    CHECK(same_params(c, c0), "failed loads leave the model");
    /* num_batches_tracked in another dtype, as PyTorch's load_state_dict takes it */
    for (int i = 0; i < st.n; i++) {
        struct s24_st_tensor *nb = &st.t[i];
        if (!strstr(nb->name, "num_batches_tracked")) continue;
        void *keep = nb->data;
        enum s24_dtype kd = nb->dtype;
        size_t kb = nb->nbytes;
        float seven = 7.0f, half = 2.5f;
        nb->dtype = S24_F32, nb->data = &seven, nb->nbytes = sizeof seven;
        CHECK_OK(s24_model_from_st(c, &st, "f32-count.safetensors"));
        struct s24_param *pc = s24_model_find(c, nb->name);
        CHECK(pc && *pc->count == 7, "F32 num_batches_tracked read as %lld",
              pc ? (long long)*pc->count : -1LL);
        nb->data = &half;
        CHECK(s24_model_from_st(c, &st, "half-count.safetensors") == S24_ERR_FORMAT &&
                  strstr(s24_last_error(), "not a count"),
              "a fractional count refused: %s", s24_last_error());
        nb->dtype = kd, nb->data = keep, nb->nbytes = kb;
        break;
    }
    s24_model_t *other = NULL;
    CHECK_OK(
        s24_model_create(strcmp(arch, "smallcnn") ? "smallcnn" : "resnet18", 10, 1, NULL, &other));
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

/* ---------------------------------------------------------------- PyTorch fixtures */
/* The fixture format of scripts/make_torch_fixtures.py (validated fully). */
struct fx_entry {
    char name[160];
    int ndim;
    int64_t shape[8], numel;
    float *data;
};
struct fixture {
    int n;
    struct fx_entry e[64];
};

static uint32_t rd_u32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static int fixture_read(const char *path, struct fixture *f)
{
    uint8_t *buf = NULL;
    size_t len = 0, off = 12;
    memset(f, 0, sizeof *f);
    if (s24_read_file(path, &buf, &len)) return -1;
    int ok = len >= 12 && !memcmp(buf, "S24F", 4) && rd_u32(buf + 4) == 1 && rd_u32(buf + 8) <= 64;
    uint32_t cnt = ok ? rd_u32(buf + 8) : 0;
    for (uint32_t i = 0; ok && i < cnt; i++) {
        struct fx_entry *e = &f->e[i];
        ok = off + 4 <= len;
        uint32_t nl = ok ? rd_u32(buf + off) : 0;
        ok = ok && nl < sizeof e->name && off + 4 + nl + 4 <= len;
        if (!ok) break;
        memcpy(e->name, buf + off + 4, nl);
        off += 4 + nl;
        e->ndim = (int)rd_u32(buf + off);
        off += 4;
        ok = e->ndim >= 0 && e->ndim <= 8 && off + 8 * (size_t)e->ndim <= len;
        e->numel = 1;
        for (int d = 0; ok && d < e->ndim; d++) {
            memcpy(&e->shape[d], buf + off + 8 * d, 8);
            ok = e->shape[d] >= 0 && e->shape[d] < (1 << 24);
            e->numel *= e->shape[d];
        }
        off += 8 * (size_t)e->ndim;
        ok = ok && e->numel < (1 << 24) && off + 4 * (size_t)e->numel <= len;
        if (!ok) break;
        e->data = malloc((size_t)(e->numel ? e->numel : 1) * sizeof(float));
        memcpy(e->data, buf + off, 4 * (size_t)e->numel);
        off += 4 * (size_t)e->numel;
        f->n++;
    }
    ok = ok && off == len;
    free(buf);
    return ok ? 0 : -2;
}

static void fixture_free(struct fixture *f)
{
    for (int i = 0; i < f->n; i++) free(f->e[i].data);
    f->n = 0;
}

static struct fx_entry *fx(struct fixture *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->e[i].name, name)) return &f->e[i];
    return NULL;
}

/* The closed-form generators of scripts/make_torch_fixtures.py: t in [-1, 1)
 * for element i (PyTorch's layout) of tensor k (state_dict order). */
static double gen_t(int use_hash, int64_t i, int64_t k)
{
    if (!use_hash) return sin(0.37 * (double)i + (double)k);
    uint64_t z = (uint64_t)i * 0x9E3779B97F4A7C15ull + (uint64_t)(k + 1) * 0xD1B54A32D192ED03ull;
    z ^= z >> 32;
    z *= 0xBF58476D1CE4E5B9ull;
    z ^= z >> 29;
    return 2.0 * (double)(z >> 11) * (1.0 / 9007199254740992.0) - 1.0;
}

static void fill_generator(s24_model_t *m, int use_hash)
{
    for (int k = 0; k < s24_model_num_params(m); k++) {
        struct s24_param *p = s24_model_param(m, k);
        if (p->count) {
            *p->count = k;
            continue;
        }
        double s = p->kind == S24_P_WEIGHT ? 2.0 / sqrt((double)(p->numel / p->shape[0])) : 0;
        for (int64_t i = 0; i < p->numel; i++) {
            double t = gen_t(use_hash, i, k), v = 0;
            switch (p->kind) {
            case S24_P_WEIGHT: v = s * t; break;
            case S24_P_BIAS: v = 0.1 * t; break;
            case S24_P_BN_WEIGHT: v = 1.0 + 0.25 * t; break;
            case S24_P_BN_BIAS:
            case S24_B_RUNNING_MEAN: v = 0.1 * t; break;
            case S24_B_RUNNING_VAR: v = 1.0 + 0.5 * t; break;
            case S24_B_NUM_BATCHES: break;
            }
            int64_t j = i;
            if (p->ndim == 4) { /* OIHW index -> OHWI */
                int64_t I = p->shape[1], H = p->shape[2], W = p->shape[3];
                int64_t w = i % W, h = (i / W) % H, c = (i / (W * H)) % I, o = i / (W * H * I);
                j = ((o * H + h) * W + w) * I + c;
            }
            p->data[j] = (float)v;
        }
    }
}

/* NCHW -> NHWC */
static float *to_nhwc(const struct fx_entry *e)
{
    int64_t N = e->shape[0], C = e->shape[1], H = e->shape[2], W = e->shape[3];
    float *x = malloc((size_t)e->numel * sizeof *x);
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++)
                    x[((n * H + h) * W + w) * C + c] = e->data[((n * C + c) * H + h) * W + w];
    return x;
}

static double rel_l2(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d, den += (double)b[i] * b[i];
    }
    return sqrt(num) / (sqrt(den) + 1e-30);
}

static void check_fixture(const char *arch)
{
    char path[512];
    const char *dir = getenv("S24_FIXTURES");
    struct fixture f;
    snprintf(path, sizeof path, "%s/torch_%s.bin", dir ? dir : "tests/fixtures", arch);
    int rc = fixture_read(path, &f);
    if (rc == -1) {
        printf("%s: no fixture %s, PyTorch comparison skipped\n", arch, path);
        return;
    }
    CHECK(rc == 0, "%s: malformed fixture", path);
    s24_model_t *m = NULL;
    CHECK_OK(s24_model_create(arch, 10, 1, NULL, &m));
    if (!m || rc) goto done;
    CHECK_OK(s24_model_set_drop(m, 0, 0));
    struct fx_entry *ge = fx(&f, "meta.generator");
    int use_hash = ge && ge->data[0] == 1.0f;
    fill_generator(m, use_hash);
    /* Version-1 fixtures were made with the sin generator, whose rank-2 conv
     * filters leave ResNet18's training-mode batch norms nearly degenerate:
     * there 1e-7 input noise moves the logits by 1% in fp32 (measured), so
     * its training step can only be checked coarsely (layouts, signs,
     * scales); eval mode and the other models are checked tightly. */
    int coarse = !use_hash && !strcmp(arch, "resnet18");
    /* efficientnet_b0's training step moves 3e-5 under 1e-7 input noise (measured),
     * so its summation order (OpenBLAS or the fallback GEMM) shows at ~2e-4 */
    double tol_logits = coarse ? 2e-2 : 5e-4, tol_loss = coarse ? 5e-3 : 1e-4;
    double tol_grad = coarse ? 0.4 : 2e-3;
    /* resnet18_imagenet's training step at 64x64 moves its gradients by up
     * to 7e-3 under 1e-7 input noise on our side alone (measured with this
     * generator; 4e-6 under 1e-8): near-ties in the max pool and ReLU masks
     * flip, so float32 against float64 gets a looser gradient budget */
    if (!strcmp(arch, "resnet18_imagenet")) tol_grad = 3e-2;
    struct fx_entry *e = fx(&f, "meta.num_entries");
    CHECK(e && e->data[0] == s24_model_num_params(m), "%s: state_dict entries %g vs %d", arch,
          e ? e->data[0] : -1.0, s24_model_num_params(m));
    /* batch-norm hyper-parameters as torchvision's (eps 1e-5, momentum 0.1 for all three) */
    struct fx_entry *eps = fx(&f, "meta.bn_eps"), *mom = fx(&f, "meta.bn_momentum");
    for (int i = 0; i < m->nn && eps && mom; i++)
        if (m->nodes[i].op == S24_N_BN) {
            CHECK(fabsf(m->nodes[i].eps - eps->data[0]) < 1e-12f &&
                      fabsf(m->nodes[i].momentum - mom->data[0]) < 1e-9f,
                  "%s: BN eps %g momentum %g, PyTorch %g %g", arch, (double)m->nodes[i].eps,
                  (double)m->nodes[i].momentum, (double)eps->data[0], (double)mom->data[0]);
            break;
        }
    struct fx_entry *xe = fx(&f, "input_eval"), *le = fx(&f, "logits_eval");
    struct fx_entry *xt = fx(&f, "input_train"), *lt = fx(&f, "logits_train");
    struct fx_entry *lab = fx(&f, "labels_train"), *loss = fx(&f, "loss");
    CHECK(xe && le && xt && lt && lab && loss, "%s: fixture entries", arch);
    if (!xe || !le || !xt || !lt || !lab || !loss) goto done;
    /* eval forward: running statistics */
    int n = (int)xe->shape[0];
    float *x = to_nhwc(xe), *y = malloc((size_t)le->numel * sizeof *y);
    for (int64_t i = 0; i < le->numel; i++) y[i] = NAN;
    CHECK_OK(s24_model_forward(m, x, n, (int)xe->shape[2], (int)xe->shape[3], y, 0));
    double err = rel_l2(y, le->data, le->numel);
    printf("%s vs PyTorch: eval logits rel err %.2e\n", arch, err);
    CHECK(err < 1e-4, "%s: eval logits rel err %g", arch, err);
    free(x), free(y);
    /* training forward / backward */
    n = (int)xt->shape[0];
    x = to_nhwc(xt);
    y = malloc((size_t)lt->numel * sizeof *y);
    float *d = malloc((size_t)lt->numel * sizeof *d);
    int labels[64];
    for (int i = 0; i < n && i < 64; i++) labels[i] = (int)lab->data[i];
    CHECK_OK(s24_model_forward(m, x, n, (int)xt->shape[2], (int)xt->shape[3], y, 1));
    err = rel_l2(y, lt->data, lt->numel);
    printf("%s vs PyTorch: train logits rel err %.2e\n", arch, err);
    CHECK(err < tol_logits, "%s: train logits rel err %g", arch, err);
    float l = s24_softmax_xent(y, labels, n, 10, d, NULL);
    printf("%s vs PyTorch: loss %.7f vs %.7f\n", arch, (double)l, (double)loss->data[0]);
    CHECK(fabs(l - loss->data[0]) < tol_loss * fabs(loss->data[0]), "%s: loss %g vs %g", arch,
          (double)l, (double)loss->data[0]);
    s24_model_zero_grad(m);
    CHECK_OK(s24_model_backward(m, d));
    int grads = 0;
    for (int i = 0; i < f.n; i++) {
        const char *nm = f.e[i].name;
        if (!strncmp(nm, "grad.", 5)) {
            struct s24_param *p = s24_model_find(m, nm + 5);
            CHECK(p && p->numel == f.e[i].numel, "%s: %s", arch, nm);
            if (!p || p->numel != f.e[i].numel) continue;
            float *g = malloc((size_t)p->numel * sizeof *g);
            if (p->ndim == 4) { /* ours OHWI -> OIHW */
                int64_t O = p->shape[0], I = p->shape[1], H = p->shape[2], W = p->shape[3];
                for (int64_t o = 0; o < O; o++)
                    for (int64_t c = 0; c < I; c++)
                        for (int64_t h = 0; h < H; h++)
                            for (int64_t w = 0; w < W; w++)
                                g[((o * I + c) * H + h) * W + w] =
                                    p->grad[((o * H + h) * W + w) * I + c];
            } else {
                memcpy(g, p->grad, (size_t)p->numel * sizeof *g);
            }
            err = rel_l2(g, f.e[i].data, p->numel);
            printf("%s vs PyTorch: %s rel err %.2e\n", arch, nm, err);
            CHECK(err < tol_grad, "%s: %s rel err %g", arch, nm, err);
            grads++;
            free(g);
        } else if (!strncmp(nm, "after.", 6)) {
            struct s24_param *p = s24_model_find(m, nm + 6);
            CHECK(p && p->numel == f.e[i].numel, "%s: %s", arch, nm);
            if (!p || p->numel != f.e[i].numel) continue;
            err = rel_l2(p->data, f.e[i].data, p->numel);
            printf("%s vs PyTorch: %s rel err %.2e\n", arch, nm, err);
            CHECK(err < 1e-5, "%s: %s rel err %g", arch, nm, err);
        }
    }
    CHECK(grads >= 3, "%s: %d gradients compared", arch, grads);
    free(x), free(y), free(d);
done:
    s24_model_free(m);
    fixture_free(&f);
}

/* S24_EXPORT_DIR=DIR: write <arch>.safetensors, <arch>_input.npy (NCHW) and
 * <arch>_logits.npy (eval mode) for scripts/check_torch_logits.py. */
static void export_for_torch(const char *dir)
{
    for (int a = 0; a < s24_arch_count(); a++) {
        const char *arch = s24_arch_at(a)->name;
        char path[512];
        s24_model_t *m = NULL;
        CHECK_OK(s24_model_create(arch, 10, 21, NULL, &m));
        if (!m) continue;
        for (int i = 0; i < s24_model_num_params(m); i++) { /* non-trivial BN state */
            struct s24_param *p = s24_model_param(m, i);
            if (p->count) *p->count = 5 + i;
            else if (p->kind >= S24_P_BN_WEIGHT)
                for (int64_t j = 0; j < p->numel; j++)
                    p->data[j] =
                        (p->kind == S24_B_RUNNING_VAR || p->kind == S24_P_BN_WEIGHT ? 1.0f : 0.0f) +
                        s24_rng_uniformf(&rng, -0.3f, 0.3f);
        }
        int n = 3;
        float *x = rnd(n * 32 * 32 * 3, -2, 2), *xc = malloc(n * 32 * 32 * 3 * sizeof *xc);
        float *y = malloc(n * 10 * sizeof *y);
        for (int b = 0; b < n; b++)
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < 32 * 32; p++)
                    xc[(b * 3 + c) * 1024 + p] = x[(b * 1024 + p) * 3 + c];
        CHECK_OK(s24_model_forward(m, x, n, 32, 32, y, 0));
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, arch);
        CHECK_OK(s24_model_save(m, path));
        int64_t xs[4] = {n, 3, 32, 32}, ys[2] = {n, 10};
        snprintf(path, sizeof path, "%s/%s_input.npy", dir, arch);
        CHECK_OK(s24_npy_write(path, S24_F32, 4, xs, xc));
        snprintf(path, sizeof path, "%s/%s_logits.npy", dir, arch);
        CHECK_OK(s24_npy_write(path, S24_F32, 2, ys, y));
        free(x), free(xc), free(y);
        s24_model_free(m);
    }
}

/* S24_ENGINE_BENCH=ITERS [S24_ENGINE_THREADS=N] [S24_ENGINE_CASES=arch:batch:size,...]:
 * images/s of a training step's forward + backward (loss included, no
 * optimiser), after one warm-up step; by default smallcnn and resnet18 at
 * batch 64, 128 and 256 on 32x32. Prints the load average before and after,
 * and the peak RSS. */
static void engine_bench(int iters)
{
    const char *cases = getenv("S24_ENGINE_CASES");
    char buf[1024];
    snprintf(buf, sizeof buf, "%s",
             cases ? cases
                   : "smallcnn:64:32,smallcnn:128:32,smallcnn:256:32,resnet18:64:32,"
                     "resnet18:128:32,resnet18:256:32");
    double la[3];
    if (getloadavg(la, 3) == 3) printf("load average before: %.2f\n", la[0]);
    printf("arch,batch,size,threads,fwd_s,bwd_s,images_per_s\n");
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char arch[64];
        int n = 0, hw = 0;
        if (sscanf(tok, "%63[^:]:%d:%d", arch, &n, &hw) != 3 || n < 1 || hw < 1) {
            printf("bad case '%s' (arch:batch:size)\n", tok);
            continue;
        }
        s24_model_t *m = NULL;
        if (s24_model_create(arch, 10, 1, NULL, &m)) {
            printf("%s: %s\n", arch, s24_last_error());
            continue;
        }
        float *x = rnd((int64_t)n * hw * hw * 3, -1, 1), *y = malloc((size_t)n * 10 * sizeof *y);
        float *d = malloc((size_t)n * 10 * sizeof *d);
        int *lab = malloc((size_t)n * sizeof *lab);
        for (int i = 0; i < n; i++) lab[i] = i % 10;
        double tf = 0, tb = 0;
        for (int it = 0; it <= iters; it++) {
            double t0 = s24_now();
            CHECK_OK(s24_model_forward(m, x, n, hw, hw, y, 1));
            double t1 = s24_now();
            s24_softmax_xent(y, lab, n, 10, d, NULL);
            s24_model_zero_grad(m);
            CHECK_OK(s24_model_backward(m, d));
            double t2 = s24_now();
            if (it) tf += t1 - t0, tb += t2 - t1;
        }
        printf("%s,%d,%d,%d,%.4f,%.4f,%.1f\n", arch, n, hw, s24_threads_get(), tf / iters,
               tb / iters, n * iters / (tf + tb));
        fflush(stdout);
        free(x), free(y), free(d), free(lab);
        s24_model_free(m);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %.2f GiB\n", (double)ru.ru_maxrss / (1024.0 * 1024.0));
    if (getloadavg(la, 3) == 3) printf("load average after: %.2f\n", la[0]);
}

int main(void)
{
    /* the hash generator bit for bit as scripts/make_torch_fixtures.py computes it */
    CHECK(gen_t(1, 0, 0) == -0.28104868614003653, "hash(0, 0)");
    CHECK(gen_t(1, 1, 0) == 0.008700259034927438, "hash(1, 0)");
    CHECK(gen_t(1, 12345, 7) == 0.13713363107308774, "hash(12345, 7)");
    CHECK(gen_t(1, 2359295, 121) == -0.4340323923939653, "hash(2359295, 121)");
    CHECK(gen_t(1, 5, 1000) == 0.9867497750990086, "hash(5, 1000)");
    s24_rng_seed(&rng, 99);
    s24_threads_set(2);
    if (getenv("S24_ENGINE_BENCH")) {
        if (getenv("S24_ENGINE_THREADS")) s24_threads_set(atoi(getenv("S24_ENGINE_THREADS")));
        engine_bench(atoi(getenv("S24_ENGINE_BENCH")) > 0 ? atoi(getenv("S24_ENGINE_BENCH")) : 3);
        return t_done("test_models");
    }
    check_names();
    check_resnet18_imagenet();
    check_train_step_imagenet();
    check_memory();
    check_grad_arena("resnet18", 4, 16, 5);
    check_grad_arena("efficientnet_b0", 4, 32, 5);
    check_grad_arena("smallcnn", 4, 16, 1);
    check_grad_fresh("resnet18", 4, 16, 20);
    check_grad_fresh("efficientnet_b0", 4, 32, 40);
    /* ResNet18: the three downsample outputs, (8x8x128 + 4x4x256 + 2x2x512) floats an image */
    check_transient("resnet18", 4, 16, sizeof(float) * (64 * 128 + 16 * 256 + 4 * 512));
    check_transient("efficientnet_b0", 4, 32, 1);
    check_precision();
    check_efficientnet_224();
    check_train_eval();
    check_checkpoint("smallcnn");
    check_checkpoint("resnet18");
    check_checkpoint("efficientnet_b0");
    for (int a = 0; a < s24_arch_count(); a++) check_fixture(s24_arch_at(a)->name);
    if (getenv("S24_EXPORT_DIR")) export_for_torch(getenv("S24_EXPORT_DIR"));
    return t_done("test_models");
}
