/* test_mixed_elem_gpu.c: the CUDA training backend's element-wise, pooling,
 * max-pool, loss and batch ops (src/cuda/nn_elem.cu, nn_pool.cu, nn_step.cu)
 * in the mixed mode (s24_backend_set_precision(G, S24_BF16): activations
 * stored as bf16) against the CPU backend's fp32 ops, both reached through
 * the ops table (needs a GPU; `make test-gpu`). Inputs are drawn in fp32 and
 * rounded to bf16 on the host, so both backends see the same values: the
 * CPU gets the rounded floats, the GPU their bf16 bits. Outputs are
 * poisoned first (NaN bytes), gradients start non-zero (every backward
 * accumulates, in bf16 too), shapes include odd sizes, channel counts off
 * the 32-wide tiles and a few million elements.
 *
 * Both backends compute each output in fp32 from the same inputs, and the
 * GPU rounds it once at its store (an accumulation too: dx is loaded, the
 * sum formed in fp32 and rounded once), so an output is one bf16 rounding
 * (unit roundoff 2^-8 = 3.9e-3 relative) from the CPU's: TOL_BF16 = 8e-3 is
 * that bound with a margin, for sigmoid and SiLU as well (expf's last bits
 * add about 1e-7). Where the fp32 op is bit-identical to the CPU's (ReLU,
 * add, acc, max pooling both ways, the batch) the GPU's value must be
 * exactly the CPU's rounded to bf16 (max pool forward: the CPU's value
 * itself, a maximum of bf16 values); the loss's hit count exactly and its
 * sum to 1e-6 (the loss is fp32/fp64 arithmetic on the same logits, never
 * stored as bf16). Not here: batch norm, convolutions and linear layers.
 * Without a GPU it reports the skip and passes. */
#include "twin.h"

#include "sparse24/sparse24_train.h"

#define TOL_BF16 8e-3 /* one bf16 rounding of an fp32 result (see above) */

/* Every GPU value equal to the CPU's rounded to bf16 (NaN never equal);
 * checks the relative error against the unrounded CPU values too. */
static void expect_rounded(struct act *a, const char *what)
{
    act_expect_close(a, TOL_BF16, what);
    int64_t i = 0;
    while (i < a->n && a->hg[i] == round_act(a->hc[i]))
        i++;
    CHECK(i == a->n, "%s: %s: first value off the rounded CPU's: %lld of %lld (gpu %.9g, cpu %.9g)",
          where, what, (long long)i, (long long)a->n, i < a->n ? (double)a->hg[i] : 0.0,
          i < a->n ? (double)a->hc[i] : 0.0);
}

/* ---------------------------------------------------------------- element-wise */
static void test_act_add(int64_t n)
{
    static const char *names[3] = {"relu", "silu", "sigmoid"};
    struct act x = {0}, y = {0}, dy = {0}, dx = {0}, b = {0};
    if (!act_new(&x, n, 0) || !act_new(&y, n, 0) || !act_new(&dy, n, 0) || !act_new(&dx, n, 0) ||
        !act_new(&b, n, 0))
        goto out;
    act_fill(&x, -6.0f, 6.0f);
    for (int a = 0; a < 3; a++) {
        snprintf(where, sizeof where, "%s n %lld", names[a], (long long)n);
        act_poison(&y);
        CHECK_OK(C->ops->act_fwd(C, (enum s24_act)a, n, x.c, y.c));
        CHECK_OK(G->ops->act_fwd(G, (enum s24_act)a, n, x.g, y.g));
        if (a == 0)
            expect_rounded(&y, "fwd");
        else
            act_expect_close(&y, TOL_BF16, "fwd");
        act_sync_from_cpu(&y);
        act_fill(&dy, -1.0f, 1.0f);
        /* added into random values, then (acc 0) overwriting NaNs never read */
        for (int acc = 1; acc >= 0; acc--) {
            const char *what = acc ? "bwd (accumulated)" : "bwd (overwritten)";
            if (acc) act_fill(&dx, -1.0f, 1.0f);
            else act_poison(&dx);
            CHECK_OK(C->ops->act_bwd(C, (enum s24_act)a, n, x.c, y.c, dy.c, dx.c, acc));
            CHECK_OK(G->ops->act_bwd(G, (enum s24_act)a, n, x.g, y.g, dy.g, dx.g, acc));
            if (a == 0)
                expect_rounded(&dx, what);
            else
                act_expect_close(&dx, TOL_BF16, what);
        }
    }
    snprintf(where, sizeof where, "add, acc n %lld", (long long)n);
    act_fill(&b, -3.0f, 3.0f);
    act_poison(&y);
    CHECK_OK(C->ops->add_fwd(C, n, x.c, b.c, S24_ACT_RELU, y.c));
    CHECK_OK(G->ops->add_fwd(G, n, x.g, b.g, S24_ACT_RELU, y.g));
    expect_rounded(&y, "add + relu");
    act_poison(&y);
    CHECK_OK(C->ops->add_fwd(C, n, x.c, b.c, S24_ACT_NONE, y.c));
    CHECK_OK(G->ops->add_fwd(G, n, x.g, b.g, S24_ACT_NONE, y.g));
    expect_rounded(&y, "add");
    act_sync_from_cpu(&dx); /* the sigmoid's gradient: equal start values */
    CHECK_OK(C->ops->acc(C, n, b.c, dx.c));
    CHECK_OK(G->ops->acc(G, n, b.g, dx.g));
    expect_rounded(&dx, "acc");
out:
    act_free(&x), act_free(&y), act_free(&dy), act_free(&dx), act_free(&b);
}

/* Pooling and SE scale over x (n, hw, c); s and ds are activations too. */
static void test_pool_scale(int64_t n, int64_t hw, int64_t c)
{
    struct act x = {0}, y = {0}, dy = {0}, dx = {0}, s = {0}, ds = {0}, gy = {0};
    int64_t big = n * hw * c, sm = n * c;
    snprintf(where, sizeof where, "gap, scale n %lld hw %lld c %lld", (long long)n, (long long)hw,
             (long long)c);
    if (!act_new(&x, big, 0) || !act_new(&y, sm, 0) || !act_new(&dy, sm, 0) ||
        !act_new(&dx, big, 0) || !act_new(&s, sm, 0) || !act_new(&ds, sm, 0) ||
        !act_new(&gy, big, 0))
        goto out;
    act_fill(&x, -2.0f, 2.0f);
    act_poison(&y);
    CHECK_OK(C->ops->gap_fwd(C, n, hw, c, x.c, y.c));
    CHECK_OK(G->ops->gap_fwd(G, n, hw, c, x.g, y.g));
    act_expect_close(&y, TOL_BF16, "gap fwd");
    act_fill(&dy, -1.0f, 1.0f);
    act_fill(&dx, -1.0f, 1.0f);
    CHECK_OK(C->ops->gap_bwd(C, n, hw, c, dy.c, dx.c));
    CHECK_OK(G->ops->gap_bwd(G, n, hw, c, dy.g, dx.g));
    act_expect_close(&dx, TOL_BF16, "gap bwd (accumulated)");

    /* scale: dx (n, hw, c) = x * s (n, c) first, then gy (n, hw, c) the gradient */
    act_fill(&s, 0.0f, 1.0f);
    act_poison(&dx); /* dx as the forward's output here */
    CHECK_OK(C->ops->scale_fwd(C, n, hw, c, x.c, s.c, dx.c));
    CHECK_OK(G->ops->scale_fwd(G, n, hw, c, x.g, s.g, dx.g));
    act_expect_close(&dx, TOL_BF16, "scale fwd");
    act_fill(&gy, -1.0f, 1.0f);
    act_fill(&dx, -1.0f, 1.0f);
    act_fill(&ds, -1.0f, 1.0f);
    CHECK_OK(C->ops->scale_bwd(C, n, hw, c, x.c, s.c, gy.c, dx.c, ds.c));
    CHECK_OK(G->ops->scale_bwd(G, n, hw, c, x.g, s.g, gy.g, dx.g, ds.g));
    act_expect_close(&dx, TOL_BF16, "scale bwd dx (accumulated)");
    act_expect_close(&ds, TOL_BF16, "scale bwd ds (accumulated)");
    act_sync_from_cpu(&ds);
    CHECK_OK(C->ops->scale_bwd(C, n, hw, c, x.c, s.c, gy.c, NULL, ds.c));
    CHECK_OK(G->ops->scale_bwd(G, n, hw, c, x.g, s.g, gy.g, NULL, ds.g));
    act_expect_close(&ds, TOL_BF16, "scale bwd ds without dx");
out:
    act_free(&x), act_free(&y), act_free(&dy), act_free(&dx), act_free(&s), act_free(&ds);
    act_free(&gy);
}

/* Max pool over x (n, h, w, c), on random values and on small integers
 * (ties: the first maximum wins on both, and the sums are exact in bf16). */
static void test_maxpool(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t st,
                         int64_t pad)
{
    struct s24_pool_shape ps = {n, h, w, c, k, st, pad, 0, 0};
    struct act x = {0}, y = {0}, dy = {0}, dx = {0};
    CHECK_OK(s24_pool_shape_init(&ps));
    int64_t big = n * h * w * c, sm = n * ps.oh * ps.ow * c;
    if (!act_new(&x, big, 0) || !act_new(&y, sm, 0) || !act_new(&dy, sm, 0) ||
        !act_new(&dx, big, 0))
        goto out;
    for (int ties = 0; ties < 2; ties++) {
        snprintf(where, sizeof where, "maxpool n %lld %lldx%lld c %lld k %lld s %lld p %lld%s",
                 (long long)n, (long long)h, (long long)w, (long long)c, (long long)k,
                 (long long)st, (long long)pad, ties ? " ties" : "");
        act_fill(&x, -2.0f, 2.0f);
        act_fill(&dy, -1.0f, 1.0f);
        act_fill(&dx, -1.0f, 1.0f);
        if (ties) {
            for (int64_t i = 0; i < big; i++)
                x.hc[i] = (float)s24_rng_below(&R, 3);
            for (int64_t i = 0; i < sm; i++)
                dy.hc[i] = (float)s24_rng_below(&R, 7) - 3.0f;
            act_put(&x, x.hc), act_put(&dy, dy.hc);
            for (int64_t i = 0; i < big; i++)
                dx.hc[i] = (float)s24_rng_below(&R, 5);
            act_put(&dx, dx.hc);
        }
        act_poison(&y);
        CHECK_OK(C->ops->maxpool_fwd(C, &ps, x.c, y.c));
        CHECK_OK(G->ops->maxpool_fwd(G, &ps, x.g, y.g));
        expect_rounded(&y, "fwd");
        CHECK_OK(C->ops->maxpool_bwd(C, &ps, x.c, dy.c, dx.c));
        CHECK_OK(G->ops->maxpool_bwd(G, &ps, x.g, dy.g, dx.g));
        expect_rounded(&dx, "bwd (accumulated)");
    }
out:
    act_free(&x), act_free(&y), act_free(&dy), act_free(&dx);
}

/* Dropout (inner 1) and stochastic depth (inner h*w*c): the mask fp32. */
static void test_rowmask(int64_t rows, int64_t inner)
{
    struct pair key = {0}, mask = {0};
    struct act x = {0}, y = {0}, dx = {0};
    uint64_t k = 0x5eed0042ull;
    snprintf(where, sizeof where, "rowmask rows %lld inner %lld", (long long)rows,
             (long long)inner);
    if (!pair_new(&key, sizeof(uint64_t)) || !pair_new(&mask, sizeof(float) * (size_t)rows) ||
        !act_new(&x, rows * inner, 0) || !act_new(&y, rows * inner, 0) ||
        !act_new(&dx, rows * inner, 0))
        goto out;
    pair_put(&key, &k);
    CHECK_OK(C->ops->rowmask_draw(C, rows, 0.3f, key.c, mask.c));
    pair_sync_from_cpu(&mask);
    act_fill(&x, -2.0f, 2.0f);
    act_poison(&y);
    CHECK_OK(C->ops->rowmask_fwd(C, rows, inner, x.c, mask.c, y.c));
    CHECK_OK(G->ops->rowmask_fwd(G, rows, inner, x.g, mask.g, y.g));
    act_expect_close(&y, TOL_BF16, "fwd");
    act_fill(&dx, -1.0f, 1.0f);
    CHECK_OK(C->ops->rowmask_bwd(C, rows, inner, mask.c, x.c, dx.c));
    CHECK_OK(G->ops->rowmask_bwd(G, rows, inner, mask.g, x.g, dx.g));
    act_expect_close(&dx, TOL_BF16, "bwd (accumulated)");
out:
    pair_free(&key), pair_free(&mask), act_free(&x), act_free(&y), act_free(&dx);
}

/* ---------------------------------------------------------------- loss */
static void xent_both(int n, int classes, struct act *z, struct pair *lab, struct act *dz,
                      struct pair *acc)
{
    CHECK_OK(C->ops->xent(C, n, classes, z->c, lab->c, dz ? dz->c : NULL, acc ? acc->c : NULL));
    CHECK_OK(G->ops->xent(G, n, classes, z->g, lab->g, dz ? dz->g : NULL, acc ? acc->g : NULL));
}

/* acc: the loss sum to 1e-6 (the same logits on both; the CPU adds its float
 * mean times n), the hits exactly. */
static void expect_acc(struct pair *acc, const char *what)
{
    pair_get(acc);
    const double *g = acc->hg, *c = acc->hc;
    CHECK(fabs(g[0] - c[0]) <= 1e-6 * fabs(c[0]), "%s: %s: loss sum gpu %.10g cpu %.10g", where,
          what, g[0], c[0]);
    CHECK(g[1] == c[1], "%s: %s: hits gpu %g cpu %g", where, what, g[1], c[1]);
}

static void test_xent(int n, int classes)
{
    struct act z = {0}, dz = {0};
    struct pair lab = {0}, acc = {0};
    int64_t nz = (int64_t)n * classes;
    snprintf(where, sizeof where, "xent n %d classes %d", n, classes);
    if (!act_new(&z, nz, 0) || !pair_new(&lab, sizeof(int32_t) * (size_t)n) ||
        !act_new(&dz, nz, 0) || !pair_new(&acc, 2 * sizeof(double)))
        goto out;
    float *zh = z.hc;
    int32_t *lh = lab.hc;
    for (int64_t i = 0; i < nz; i++)
        zh[i] = round_act(s24_rng_uniformf(&R, -3.0f, 3.0f));
    for (int i = 0; i < n; i++)
        lh[i] = (int32_t)s24_rng_below(&R, (uint64_t)classes);
    /* tied maxima: the argmax is the lower index (row 0 labelled it: a hit;
     * row 1 labelled the higher one: a miss) */
    if (classes >= 3) {
        zh[1] = zh[classes - 1] = 50.0f, lh[0] = 1;
        if (n > 1) zh[classes + 0] = zh[classes + 2] = 50.0f, lh[1] = 2;
    }
    for (int i = 2; i < n; i += 3) { /* some sure hits (on the rounded logits) */
        int best = 0;
        for (int j = 1; j < classes; j++)
            if (zh[(size_t)i * classes + j] > zh[(size_t)i * classes + best]) best = j;
        lh[i] = best;
    }
    act_put(&z, zh), pair_put(&lab, lh);
    double a0[2] = {0.25, 3.0};
    pair_put(&acc, a0);
    act_poison(&dz);
    xent_both(n, classes, &z, &lab, &dz, &acc);
    act_expect_close(&dz, TOL_BF16, "dlogits");
    expect_acc(&acc, "sums (accumulated)");
    pair_sync_from_cpu(&acc);
    xent_both(n, classes, &z, &lab, NULL, &acc);
    expect_acc(&acc, "sums without dlogits");
    act_poison(&dz);
    xent_both(n, classes, &z, &lab, &dz, NULL);
    act_expect_close(&dz, TOL_BF16, "dlogits without sums");

    /* a label out of range: NaN loss on both, its row no hit */
    lh[n - 1] = classes;
    pair_put(&lab, lh);
    pair_put(&acc, a0);
    xent_both(n, classes, &z, &lab, &dz, &acc);
    pair_get(&acc);
    const double *ag = acc.hg, *ac = acc.hc;
    CHECK(isnan(ag[0]) && isnan(ac[0]), "%s: label out of range: loss gpu %g cpu %g", where, ag[0],
          ac[0]);
    CHECK(ag[1] == ac[1], "%s: label out of range: hits gpu %g cpu %g", where, ag[1], ac[1]);
    act_expect_close(&dz, TOL_BF16, "dlogits, a label out of range");
out:
    act_free(&z), pair_free(&lab), act_free(&dz), pair_free(&acc);
}

/* ---------------------------------------------------------------- batch */
/* The batch (bytes -> normalised floats) rounded once: the CPU's rounded, exactly. */
static void test_batch(int64_t n_images, int h, int w, int pad, int n)
{
    struct pair img = {0}, lab = {0}, dr = {0}, y = {0};
    struct act x = {0};
    size_t ib = (size_t)n_images * (size_t)h * (size_t)w * 3;
    snprintf(where, sizeof where, "batch %d of %lld images %dx%d pad %d", n, (long long)n_images, h,
             w, pad);
    if (!pair_new(&img, ib) || !pair_new(&lab, (size_t)n_images) ||
        !pair_new(&dr, 4 * sizeof(int32_t) * (size_t)n) ||
        !act_new(&x, (int64_t)n * h * w * 3, 0) || !pair_new(&y, sizeof(int32_t) * (size_t)n))
        goto out;
    uint8_t *ih = img.hc, *lh = lab.hc;
    int32_t *d = dr.hc;
    for (size_t i = 0; i < ib; i++)
        ih[i] = (uint8_t)s24_rng_u64(&R);
    for (int64_t i = 0; i < n_images; i++)
        lh[i] = (uint8_t)s24_rng_below(&R, 10);
    for (int b = 0; b < n; b++) {
        d[4 * b] = (int32_t)s24_rng_below(&R, (uint64_t)n_images);
        d[4 * b + 1] = (int32_t)s24_rng_below(&R, (uint64_t)(2 * pad + 1));
        d[4 * b + 2] = (int32_t)s24_rng_below(&R, (uint64_t)(2 * pad + 1));
        d[4 * b + 3] = (int32_t)(s24_rng_u64(&R) & 1);
    }
    d[1] = d[2] = 0, d[3] = 1; /* the extreme offsets, flipped and not */
    if (n > 1) d[5] = d[6] = 2 * pad, d[7] = 0;
    pair_put(&img, ih), pair_put(&lab, lh), pair_put(&dr, d);
    act_poison(&x);
    memset(y.hc, 0xff, y.bytes);
    pair_put(&y, y.hc);
    struct s24_batch_args ac = {img.c, lab.c, n_images, h, w, pad, n, dr.c, x.c, y.c};
    struct s24_batch_args ag = {img.g, lab.g, n_images, h, w, pad, n, dr.g, x.g, y.g};
    CHECK_OK(C->ops->batch(C, &ac));
    CHECK_OK(G->ops->batch(G, &ag));
    expect_rounded(&x, "images");
    pair_get(&y);
    CHECK(memcmp(y.hg, y.hc, y.bytes) == 0, "%s: labels differ", where);
out:
    pair_free(&img), pair_free(&lab), pair_free(&dr), act_free(&x), pair_free(&y);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = s24_backend_create(S24_DEVICE_CUDA, 0, &G);
    if (rc != S24_OK) {
        printf("test_mixed_elem_gpu: skipped: %s\n", s24_last_error());
        CHECK(rc == S24_ERR_NO_DEVICE, "%s", s24_status_str(rc));
        return t_done("test_mixed_elem_gpu");
    }
    rc = s24_backend_set_precision(G, S24_BF16); /* before anything is allocated on G */
    CHECK_OK(rc);
    if (rc == S24_OK) {
        rc = s24_backend_create(S24_DEVICE_CPU, 0, &C);
        CHECK_OK(rc);
    }
    if (rc != S24_OK) {
        s24_backend_free(G);
        return t_done("test_mixed_elem_gpu");
    }
    CHECK(s24_backend_precision(G) == S24_BF16 && s24_be_act_size(G) == 2,
          "the GPU backend stores bf16 activations");
    printf("  %s (bf16 activations) against %s\n", s24_backend_name(G), s24_backend_name(C));
    s24_rng_seed(&R, 2416);
    /* S24_SMALL: the compute-sanitizer run (scripts/gpu/run_sanitize_nn.sh)
     * leaves out the shapes of a million elements or more */
    int big = getenv("S24_SMALL") == NULL;

    printf("  activations, add, acc ...\n");
    test_act_add(24 * 1000);
    if (big) test_act_add(1280 * 256 * 4 * 4 + 3);
    test_act_add(1001);
    test_act_add(1);
    printf("  pooling, SE scale ...\n");
    test_pool_scale(8, 125, 24);
    if (big) test_pool_scale(256, 16, 1280);
    test_pool_scale(5, 7, 3);
    test_pool_scale(2, 1024, 16);
    test_pool_scale(3, 9, 144);
    printf("  max pool ...\n");
    if (big) test_maxpool(8, 112, 112, 64, 3, 2, 1);
    if (big) test_maxpool(256, 16, 16, 64, 3, 2, 1);
    test_maxpool(3, 9, 7, 5, 3, 2, 1);
    test_maxpool(2, 8, 8, 3, 3, 3, 0);
    test_maxpool(2, 6, 5, 33, 3, 1, 1);
    test_maxpool(1, 5, 5, 2, 5, 2, 2);
    printf("  row masks ...\n");
    if (big) test_rowmask(256 * 1280, 1);
    test_rowmask(256, 4 * 4 * 24);
    test_rowmask(3, 5);
    printf("  loss ...\n");
    test_xent(256, 10);
    test_xent(37, 1000);
    test_xent(5, 100);
    test_xent(1, 1);
    printf("  batch ...\n");
    test_batch(50, 32, 32, 4, 64);
    test_batch(7, 9, 5, 2, 13);
    test_batch(5, 8, 8, 0, 4);

    s24_backend_free(C);
    s24_backend_free(G);
    return t_done("test_mixed_elem_gpu");
}
