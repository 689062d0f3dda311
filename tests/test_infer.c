/* test_infer.c: the inference plan (batch norms folded, 2:4 layers through
 * the 2:4 CPU GEMM) against the model's own evaluation forward, for every
 * registry model pruned 2:4 with non-trivial running statistics, in its
 * three paths: forced 2:4 (every 2:4-masked layer sparse, the others dense
 * with a reason), forced dense, and auto (each 2:4 layer's choice one of the
 * two, the faster of its two measured medians, the report saying so); and
 * refusals; and the ImageNet input size (224x224) through the forced 2:4
 * plan. */
#include "t.h"

#include "sparse24/sparse24_infer.h"
#include "sparse24/sparse24_train.h"

static void check_arch(const char *arch, int n, int hw)
{
    s24_model_t *m = NULL;
    struct s24_sgd o;
    CHECK_OK(s24_model_create(arch, 10, 5, NULL, &m));
    if (!m) return;
    CHECK_OK(s24_sgd_init(&o, m, 0));
    struct s24_rng r;
    s24_rng_seed(&r, 9);
    /* running statistics and affine parameters away from their 0/1 init */
    for (int i = 0; i < s24_model_num_params(m); i++) {
        struct s24_param *p = s24_model_param(m, i);
        if (!p->data) continue;
        for (int64_t j = 0; j < p->numel; j++) {
            if (p->kind == S24_B_RUNNING_VAR) p->data[j] = s24_rng_uniformf(&r, 0.5f, 2.0f);
            else if (p->kind == S24_B_RUNNING_MEAN || p->kind == S24_P_BN_BIAS)
                p->data[j] = s24_rng_uniformf(&r, -0.2f, 0.2f);
            /* negative and zero gammas too (zero_init_residual leaves zeros) */
            else if (p->kind == S24_P_BN_WEIGHT)
                p->data[j] = j % 7 == 3 ? 0.0f : s24_rng_uniformf(&r, -1.5f, 1.5f);
        }
    }
    CHECK_OK(s24_pipeline_masks(m, &o, 2, 4));
    int64_t nx = (int64_t)n * hw * hw * 3;
    float *x = malloc(sizeof(float) * (size_t)nx), *ref = malloc(sizeof(float) * 10 * (size_t)n);
    float *ys = malloc(sizeof(float) * 10 * (size_t)n),
          *yd = malloc(sizeof(float) * 10 * (size_t)n);
    for (int64_t i = 0; i < nx; i++) x[i] = (float)s24_rng_normal(&r);
    CHECK_OK(s24_model_forward(m, x, n, hw, hw, ref, 0));
    s24_infer_t *ps = NULL, *pd = NULL, *pa = NULL;
    CHECK_OK(s24_infer_create(m, S24_INFER_SPARSE, &ps));
    CHECK_OK(s24_infer_create(m, S24_INFER_DENSE, &pd));
    CHECK_OK(s24_infer_create(m, S24_INFER_AUTO, &pa));
    float *ya = malloc(sizeof(float) * 10 * (size_t)n);
    for (int i = 0; i < 10 * n; i++) ys[i] = yd[i] = ya[i] = NAN;
    CHECK_OK(s24_infer_run(ps, x, n, hw, hw, ys));
    CHECK_OK(s24_infer_run(pd, x, n, hw, hw, yd));
    CHECK_OK(s24_infer_run(pa, x, n, hw, hw, ya)); /* measures, then keeps */
    /* folding changes the rounding only; the 2:4 GEMM sums in another order */
    CHECK(t_rel(ys, ref, 10 * n) < 1e-4, "%s: 2:4 plan vs model %g", arch, t_rel(ys, ref, 10 * n));
    CHECK(t_rel(yd, ref, 10 * n) < 1e-4, "%s: dense plan vs model %g", arch,
          t_rel(yd, ref, 10 * n));
    CHECK(t_rel(ya, ref, 10 * n) < 1e-4, "%s: auto plan vs model %g", arch, t_rel(ya, ref, 10 * n));
    CHECK(t_rel(ya, yd, 10 * n) < 1e-4, "%s: auto plan vs dense plan %g", arch,
          t_rel(ya, yd, 10 * n));
    /* forced 2:4: every masked layer sparse, every other dense and saying why */
    int masked = 0, sparse = 0, bad = 0;
    for (int i = 0; i < s24_model_num_params(m); i++) masked += o.mask[i] != NULL;
    for (int i = 0; i < s24_infer_num_layers(ps); i++) {
        const struct s24_infer_layer *L = s24_infer_layer_at(ps, i);
        sparse += L->sparse;
        bad += !*L->why || L->sparse != L->eligible;
    }
    CHECK(sparse == masked && bad == 0, "%s: %d sparse layers for %d masked, %d without a reason",
          arch, sparse, masked, bad);
    for (int i = 0; i < s24_infer_num_layers(pd); i++) {
        const struct s24_infer_layer *L = s24_infer_layer_at(pd, i);
        CHECK(!L->sparse && *L->why, "%s: dense plan layer %s: sparse %d, why '%s'", arch,
              L->name, L->sparse, L->why);
    }
    /* auto: the eligible layers are the masked ones, each measured both ways
     * and on the faster path, the report giving both times; the rest dense */
    int eligible = 0, measured = 0, wrong = 0;
    CHECK(s24_infer_num_layers(pa) == s24_infer_num_layers(ps));
    for (int i = 0; i < s24_infer_num_layers(pa); i++) {
        const struct s24_infer_layer *L = s24_infer_layer_at(pa, i);
        eligible += L->eligible;
        if (!L->eligible) {
            wrong += L->sparse || !*L->why;
            continue;
        }
        measured += L->dense_ms > 0 && L->sparse_ms > 0 && !strncmp(L->why, "measured: dense ", 16);
        wrong += L->sparse != (L->sparse_ms < L->dense_ms);
    }
    CHECK(eligible == masked && measured == masked && wrong == 0,
          "%s: auto: %d eligible, %d measured for %d masked, %d on the wrong path", arch,
          eligible, measured, masked, wrong);
    /* a second run keeps the choice and gives the same logits */
    float *y2 = malloc(sizeof(float) * 10 * (size_t)n);
    int before[256] = {0}, same = 1, nl = s24_infer_num_layers(pa);
    for (int i = 0; i < nl && i < 256; i++) before[i] = s24_infer_layer_at(pa, i)->sparse;
    CHECK_OK(s24_infer_run(pa, x, n, hw, hw, y2));
    for (int i = 0; i < nl && i < 256; i++) same &= before[i] == s24_infer_layer_at(pa, i)->sparse;
    CHECK(same && t_rel(y2, ya, 10 * n) < 1e-6, "%s: auto's second run changed (%g)", arch,
          t_rel(y2, ya, 10 * n));
    free(y2), free(ya);
    /* a second batch size through the same plan */
    if (n > 1) {
        CHECK_OK(s24_model_forward(m, x, n - 1, hw, hw, ref, 0));
        CHECK_OK(s24_infer_run(ps, x, n - 1, hw, hw, ys));
        CHECK(t_rel(ys, ref, 10 * (n - 1)) < 1e-4, "%s: smaller batch %g", arch,
              t_rel(ys, ref, 10 * (n - 1)));
        CHECK_OK(s24_infer_run(pa, x, n - 1, hw, hw, ys));
        CHECK(t_rel(ys, ref, 10 * (n - 1)) < 1e-4, "%s: auto, smaller batch %g", arch,
              t_rel(ys, ref, 10 * (n - 1)));
    }
    CHECK(s24_infer_run(ps, NULL, n, hw, hw, ys) == S24_ERR_INVALID);
    s24_infer_free(ps);
    s24_infer_free(pd);
    s24_infer_free(pa);
    s24_sgd_free(&o);
    s24_model_free(m);
    free(x), free(ref), free(ys), free(yd);
}

/* The ImageNet input size, one image, the forced 2:4 plan only (the paths'
 * logic is check_arch's): folding, the 7x7 stem, the max pool and every
 * map size at 224x224 against the model's own evaluation forward. */
static void check_224(const char *arch)
{
    s24_model_t *m = NULL;
    struct s24_sgd o;
    CHECK_OK(s24_model_create(arch, 1000, 6, NULL, &m));
    if (!m) return;
    CHECK_OK(s24_sgd_init(&o, m, 0));
    CHECK_OK(s24_pipeline_masks(m, &o, 2, 4));
    struct s24_rng r;
    s24_rng_seed(&r, 10);
    int64_t nx = 224 * 224 * 3;
    float *x = malloc(sizeof(float) * (size_t)nx), *ref = malloc(sizeof(float) * 1000);
    float *y = malloc(sizeof(float) * 1000);
    for (int64_t i = 0; i < nx; i++) x[i] = (float)s24_rng_normal(&r);
    for (int i = 0; i < 1000; i++) y[i] = NAN;
    CHECK_OK(s24_model_forward(m, x, 1, 224, 224, ref, 0));
    s24_infer_t *p = NULL;
    CHECK_OK(s24_infer_create(m, S24_INFER_SPARSE, &p));
    CHECK_OK(s24_infer_run(p, x, 1, 224, 224, y));
    CHECK(t_rel(y, ref, 1000) < 1e-4, "%s 224x224: 2:4 plan vs model %g", arch,
          t_rel(y, ref, 1000));
    int sparse = 0;
    for (int i = 0; i < s24_infer_num_layers(p); i++) sparse += s24_infer_layer_at(p, i)->sparse;
    CHECK(sparse > 10, "%s 224x224: %d sparse layers", arch, sparse);
    s24_infer_free(p);
    s24_sgd_free(&o);
    s24_model_free(m);
    free(x), free(ref), free(y);
}

int main(void)
{
    s24_threads_set(2);
    check_arch("smallcnn", 4, 16);
    /* 5 images of 32x32: layer1's columns (K 576, 5120 positions) take three
     * chunks of the 2:4 path, the last one partial, the first two ending
     * inside an image */
    check_arch("resnet18", 5, 32);
    check_arch("efficientnet_b0", 2, 32);
    /* 32x32 (maps 16 after the stem, 8 after the max pool): the paths'
     * logic cheaply; check_224 takes the real size */
    check_arch("resnet18_imagenet", 2, 32);
    check_224("resnet18_imagenet");
    check_224("efficientnet_b0");
    CHECK(s24_infer_create(NULL, 1, NULL) == S24_ERR_INVALID);
    {
        s24_model_t *m = NULL;
        s24_infer_t *p = NULL;
        CHECK_OK(s24_model_create("smallcnn", 10, 5, NULL, &m));
        CHECK(s24_infer_create(m, 3, &p) == S24_ERR_INVALID && !p);
        /* the CPU plan is fp32; fp16/bf16 are the GPU plan's; int8 (simulated)
         * needs its calibration images or scales (tests/test_infer_int8.c) */
        struct s24_infer_opts o;
        s24_infer_opts_init(&o);
        CHECK(o.path == S24_INFER_AUTO && o.dtype == 0);
        o.dtype = S24_F16;
        CHECK(s24_infer_create2(m, &o, &p) == S24_ERR_UNSUPPORTED && !p);
        o.dtype = S24_I8;
        CHECK(s24_infer_create2(m, &o, &p) == S24_ERR_INVALID && !p);
        o.dtype = S24_F32;
        CHECK_OK(s24_infer_create2(m, &o, &p));
        s24_infer_set_profile(p, 1); /* a no-op on the CPU */
        s24_infer_free(p);
        p = NULL;
        s24_model_free(m);
    }
    return t_done("test_infer");
}
