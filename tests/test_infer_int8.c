/* test_infer_int8.c: int8 inference's numbers and its CPU simulation, the
 * GPU int8 plan's reference (no GPU needed): the rounding and clamping of
 * s24_q8_quant, the max-abs activation scale, the per-channel weight
 * quantisation (zeros kept, so 2:4 stays 2:4), which layers may run int8;
 * then the CPU plan with dtype S24_I8 for smallcnn and ResNet18 pruned 2:4
 * with non-trivial norms: calibrated on images, its int8 layers are exactly
 * the 2:4 ones whose oc and k are multiples of 32, each with a scale; a
 * calibration over two sets of images gives each layer the larger of its two
 * scales (max-abs is order-free, also across the plan's chunks of 64); the
 * same scales given back make the same logits bit for bit; all scales 0 is
 * the fp32 plan; the logits stay near the fp32 plan's; bad options are
 * refused. The GPU's own int8 run is tests/gpu/test_infer_int8_gpu.c. */
#include "t.h"

#include "nn/infer_internal.h"
#include "sparse24/sparse24_infer.h"
#include "sparse24/sparse24_train.h"

static void check_numbers(void)
{
    /* round half to even, as the GPU's __float2int_rn */
    CHECK(s24_q8_quant(0.5f, 1.0f) == 0 && s24_q8_quant(1.5f, 1.0f) == 2 &&
          s24_q8_quant(-2.5f, 1.0f) == -2 && s24_q8_quant(2.49f, 1.0f) == 2);
    /* symmetric: the ends are +-127, never -128 */
    CHECK(s24_q8_quant(200.0f, 1.0f) == 127 && s24_q8_quant(-200.0f, 1.0f) == -127);
    CHECK(s24_q8_quant(-127.4f, 1.0f) == -127 && s24_q8_quant(NAN, 1.0f) == 0);
    CHECK(s24_q8_quant(3.0f, 0.5f) == 2 && s24_q8_quant(INFINITY, 1.0f) == 127);
    CHECK(s24_q8_act_scale(127.0f) == 1.0f && s24_q8_act_scale(0.0f) == 1.0f &&
          s24_q8_act_scale(INFINITY) == 1.0f && s24_q8_act_scale(NAN) == 1.0f);
    CHECK_NEAR(s24_q8_act_scale(2.54f), 0.02, 1e-7);
    const float v[4] = {-3.0f, 2.0f, 0.5f, -7.5f};
    CHECK(s24_q8_absmax(v, 4) == 7.5f && s24_q8_absmax(v, 0) == 0.0f);
    CHECK(s24_q8_layer_ok(1, 64, 288) && !s24_q8_layer_ok(1, 32, 144) &&
          !s24_q8_layer_ok(1, 48, 64) && !s24_q8_layer_ok(0, 64, 64));
    /* the weight: a scale per row, its largest magnitude at +-127, zeros kept */
    enum { OC = 3, ROW = 8 };
    const float w[OC * ROW] = {0, 1.0f, 0, -2.0f, 0.25f, 0, -0.5f, 0,
                               0, 0,    0, 0,     0,     0, 0,     0,
                               4.0f, 0, 0, 0.001f, 0,    3.0f, -4.0f, 0};
    signed char q[OC * ROW];
    float sc[OC];
    s24_q8_weight(w, OC, ROW, q, sc);
    CHECK_NEAR(sc[0], 2.0 / 127, 1e-9);
    CHECK(sc[1] == 1.0f, "an all-zero row's scale %g", (double)sc[1]);
    CHECK_NEAR(sc[2], 4.0 / 127, 1e-9);
    CHECK(q[3] == -127 && q[1] == 64 && q[16] == 127 && q[22] == -127 && q[19] == 0);
    int zeros = 1;
    double worst = 0;
    for (int o = 0; o < OC; o++)
        for (int j = 0; j < ROW; j++) {
            float x = w[o * ROW + j];
            if (x == 0.0f) zeros &= q[o * ROW + j] == 0;
            double e = fabs((double)q[o * ROW + j] * sc[o] - x) / sc[o];
            if (e > worst) worst = e;
        }
    CHECK(zeros, "a zero weight quantised to non-zero");
    CHECK(worst <= 0.5 + 1e-6, "dequantised weight off by %g steps", worst);
}

/* A 2:4-pruned model with norms away from their initial values. */
static s24_model_t *make_model(const char *arch)
{
    s24_model_t *m = NULL;
    struct s24_sgd o;
    CHECK_OK(s24_model_create(arch, 10, 5, NULL, &m));
    if (!m) return NULL;
    CHECK_OK(s24_sgd_init(&o, m, 0));
    struct s24_rng r;
    s24_rng_seed(&r, 9);
    for (int i = 0; i < s24_model_num_params(m); i++) {
        struct s24_param *p = s24_model_param(m, i);
        for (int64_t j = 0; p->data && j < p->numel; j++) {
            if (p->kind == S24_B_RUNNING_VAR) p->data[j] = s24_rng_uniformf(&r, 0.5f, 2.0f);
            else if (p->kind == S24_B_RUNNING_MEAN || p->kind == S24_P_BN_BIAS)
                p->data[j] = s24_rng_uniformf(&r, -0.2f, 0.2f);
            else if (p->kind == S24_P_BN_WEIGHT) p->data[j] = s24_rng_uniformf(&r, 0.5f, 1.5f);
        }
    }
    CHECK_OK(s24_pipeline_masks(m, &o, 2, 4));
    s24_sgd_free(&o);
    return m;
}

static s24_infer_t *plan_calib(s24_model_t *m, const float *x, int n, int hw)
{
    struct s24_infer_opts o;
    s24_infer_opts_init(&o);
    o.dtype = S24_I8;
    o.calib = x, o.calib_n = n, o.calib_h = o.calib_w = hw;
    s24_infer_t *p = NULL;
    CHECK_OK(s24_infer_create2(m, &o, &p));
    return p;
}

static int argmax10(const float *y)
{
    int b = 0;
    for (int j = 1; j < 10; j++)
        if (y[j] > y[b]) b = j;
    return b;
}

/* n images (more than one chunk of the plan's 64 when n > 64), hw square */
static void check_plan(const char *arch, int n, int hw, int want_q8)
{
    s24_model_t *m = make_model(arch);
    if (!m) return;
    int64_t img = (int64_t)hw * hw * 3;
    float *x = malloc(sizeof(float) * (size_t)(img * n));
    float *y = malloc(sizeof(float) * 10 * (size_t)n), *yf = malloc(sizeof(float) * 10 * (size_t)n);
    float *y2 = malloc(sizeof(float) * 10 * (size_t)n);
    struct s24_rng r;
    s24_rng_seed(&r, 21);
    for (int64_t i = 0; i < img * n; i++) x[i] = (float)s24_rng_normal(&r);
    /* the second half of the images brighter, so the two halves' scales differ */
    for (int64_t i = img * (n / 2); i < img * n; i++) x[i] *= 1.5f;
    s24_infer_t *pf = NULL, *pq = plan_calib(m, x, n, hw);
    s24_infer_t *pa = plan_calib(m, x, n / 2, hw), *pb = plan_calib(m, x + img * (n / 2),
                                                                    n - n / 2, hw);
    CHECK_OK(s24_infer_create(m, S24_INFER_DENSE, &pf));
    if (!pf || !pq || !pa || !pb) goto done;
    int nl = s24_infer_num_layers(pq), q8 = 0, bad = 0, maxed = 0;
    float *sc = calloc((size_t)nl, sizeof(float));
    for (int i = 0; i < nl; i++) {
        const struct s24_infer_layer *L = s24_infer_layer_at(pq, i);
        int ok = s24_q8_layer_ok(L->eligible, L->m, L->k);
        q8 += L->act_scale > 0;
        bad += ok != (L->act_scale > 0) || L->sparse || !*L->why;
        float a = s24_infer_layer_at(pa, i)->act_scale, b = s24_infer_layer_at(pb, i)->act_scale;
        maxed += L->act_scale == (a > b ? a : b);
        sc[i] = L->act_scale;
    }
    printf("  %-10s %d images: %d of %d layers int8\n", arch, n, q8, nl);
    CHECK(q8 == want_q8 && bad == 0, "%s: %d int8 layers (want %d), %d wrong", arch, q8, want_q8,
          bad);
    CHECK(maxed == nl, "%s: %d of %d scales the larger of the two halves'", arch, maxed, nl);
    CHECK_OK(s24_infer_run(pq, x, n, hw, hw, y));
    CHECK_OK(s24_infer_run(pf, x, n, hw, hw, yf));
    double e = t_rel(y, yf, 10 * n);
    int same = 0;
    for (int i = 0; i < n; i++) same += argmax10(y + 10 * i) == argmax10(yf + 10 * i);
    printf("  %-10s int8 simulation vs fp32: logits rel %.2e, argmax %d of %d\n", arch, e, same,
           n);
    /* quantised (it changes the logits), but not far: 8 bits through a few layers */
    CHECK(e > 1e-6 && e < 0.1, "%s: int8 simulation vs fp32: rel %g", arch, e);
    CHECK(same >= n * 8 / 10, "%s: argmax agrees on %d of %d", arch, same, n);
    {
        /* the scales given back: the same plan bit for bit; all 0: fp32 */
        struct s24_infer_opts o;
        s24_infer_opts_init(&o);
        o.dtype = S24_I8, o.act_scales = sc, o.n_act_scales = nl;
        s24_infer_t *pg = NULL;
        CHECK_OK(s24_infer_create2(m, &o, &pg));
        if (pg) {
            CHECK_OK(s24_infer_run(pg, x, n, hw, hw, y2));
            CHECK(!memcmp(y2, y, sizeof(float) * 10 * (size_t)n), "%s: given scales differ %g",
                  arch, t_rel(y2, y, 10 * n));
            for (int i = 0; i < nl; i++)
                CHECK(s24_infer_layer_at(pg, i)->act_scale == sc[i]);
            s24_infer_free(pg);
        }
        memset(sc, 0, sizeof(float) * (size_t)nl);
        CHECK_OK(s24_infer_create2(m, &o, &pg));
        if (pg) {
            CHECK_OK(s24_infer_run(pg, x, n, hw, hw, y2));
            CHECK(t_rel(y2, yf, 10 * n) < 1e-6, "%s: scales 0 vs fp32 %g", arch,
                  t_rel(y2, yf, 10 * n));
            s24_infer_free(pg);
        }
        /* one scale too few, a negative one, neither scales nor images */
        o.n_act_scales = nl - 1;
        CHECK(s24_infer_create2(m, &o, &pg) == S24_ERR_INVALID && !pg);
        o.n_act_scales = nl, sc[0] = -1.0f;
        CHECK(s24_infer_create2(m, &o, &pg) == S24_ERR_INVALID && !pg);
        o.act_scales = NULL;
        CHECK(s24_infer_create2(m, &o, &pg) == S24_ERR_INVALID && !pg);
    }
    free(sc);
done:
    s24_infer_free(pq), s24_infer_free(pa), s24_infer_free(pb), s24_infer_free(pf);
    s24_model_free(m);
    free(x), free(y), free(yf), free(y2);
}

int main(void)
{
    s24_threads_set(2);
    check_numbers();
    /* smallcnn: conv3 (64 x 288) only; conv2's K is 144 */
    check_plan("smallcnn", 70, 32, 1);
    /* ResNet18: the 16 3x3 convs of the four stages (the stem is not 2:4, the
     * three 1x1 downsamples are masked too: 19) */
    check_plan("resnet18", 6, 32, 19);
    return t_done("test_infer_int8");
}
