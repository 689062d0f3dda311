/* test_nn_ops_gpu.c: the CUDA training backend's element-wise, max-pool,
 * batch-norm and step ops (src/cuda/nn_elem.cu, nn_pool.cu, nn_norm.cu,
 * nn_step.cu) against the CPU backend's, both reached through the ops table
 * on the same random inputs (needs a GPU; `make test-gpu`). Outputs are
 * poisoned first (NaN bytes), gradients start non-zero (every backward
 * accumulates), shapes include odd sizes, channel counts off the 32-wide
 * tiles, C = 1280, and a batch norm over 256*32*32 rows. Errors are
 * ||gpu - cpu|| / ||cpu||; SGD, the batch augmentation, the row-mask draw,
 * max pooling and the loss's hit count must match bit for bit. Not here:
 * convolutions and linear layers (their own tests), timing. Without a GPU
 * it reports the skip and passes. */
#include "twin.h"

#include "sparse24/sparse24_train.h"

/* ---------------------------------------------------------------- element-wise */
static void test_act_add(int64_t n)
{
    static const char *names[3] = {"relu", "silu", "sigmoid"};
    struct pair x = {0}, y = {0}, dy = {0}, dx = {0}, b = {0};
    size_t fb = sizeof(float) * (size_t)n;
    if (!pair_new(&x, fb) || !pair_new(&y, fb) || !pair_new(&dy, fb) || !pair_new(&dx, fb) ||
        !pair_new(&b, fb))
        goto out;
    fill(x.hc, (size_t)n, -6.0f, 6.0f);
    pair_put(&x, x.hc);
    for (int a = 0; a < 3; a++) {
        snprintf(where, sizeof where, "%s n %lld", names[a], (long long)n);
        pair_poison(&y);
        CHECK_OK(C->ops->act_fwd(C, (enum s24_act)a, n, x.c, y.c));
        CHECK_OK(G->ops->act_fwd(G, (enum s24_act)a, n, x.g, y.g));
        /* expf differs from glibc's in the last bits; ReLU is exact */
        expect_close(&y, a == 0 ? 0.0 : 1e-6, "fwd");
        pair_sync_from_cpu(&y);
        fill(dy.hc, (size_t)n, -1.0f, 1.0f);
        pair_put(&dy, dy.hc);
        fill(dx.hc, (size_t)n, -1.0f, 1.0f);
        pair_put(&dx, dx.hc);
        CHECK_OK(C->ops->act_bwd(C, (enum s24_act)a, n, x.c, y.c, dy.c, dx.c, 1));
        CHECK_OK(G->ops->act_bwd(G, (enum s24_act)a, n, x.g, y.g, dy.g, dx.g, 1));
        expect_close(&dx, a == 0 ? 0.0 : 1e-6, "bwd (accumulated)");
        pair_poison(&dx); /* acc 0: overwritten, the NaNs never read */
        CHECK_OK(C->ops->act_bwd(C, (enum s24_act)a, n, x.c, y.c, dy.c, dx.c, 0));
        CHECK_OK(G->ops->act_bwd(G, (enum s24_act)a, n, x.g, y.g, dy.g, dx.g, 0));
        expect_close(&dx, a == 0 ? 0.0 : 1e-6, "bwd (overwritten)");
    }
    snprintf(where, sizeof where, "add, acc n %lld", (long long)n);
    fill(b.hc, (size_t)n, -3.0f, 3.0f);
    pair_put(&b, b.hc);
    pair_poison(&y);
    CHECK_OK(C->ops->add_fwd(C, n, x.c, b.c, S24_ACT_RELU, y.c));
    CHECK_OK(G->ops->add_fwd(G, n, x.g, b.g, S24_ACT_RELU, y.g));
    expect_same(&y, "add + relu");
    pair_poison(&y);
    CHECK_OK(C->ops->add_fwd(C, n, x.c, b.c, S24_ACT_NONE, y.c));
    CHECK_OK(G->ops->add_fwd(G, n, x.g, b.g, S24_ACT_NONE, y.g));
    expect_same(&y, "add");
    pair_sync_from_cpu(&dx); /* the sigmoid's gradient: equal start values */
    CHECK_OK(C->ops->acc(C, n, b.c, dx.c));
    CHECK_OK(G->ops->acc(G, n, b.g, dx.g));
    expect_same(&dx, "acc");
out:
    pair_free(&x), pair_free(&y), pair_free(&dy), pair_free(&dx), pair_free(&b);
}

/* Pooling and SE scale over x (n, hw, c). */
static void test_pool_scale(int64_t n, int64_t hw, int64_t c)
{
    struct pair x = {0}, y = {0}, dy = {0}, dx = {0}, s = {0}, ds = {0}, gy = {0};
    size_t big = sizeof(float) * (size_t)(n * hw * c), sm = sizeof(float) * (size_t)(n * c);
    snprintf(where, sizeof where, "gap, scale n %lld hw %lld c %lld", (long long)n, (long long)hw,
             (long long)c);
    if (!pair_new(&x, big) || !pair_new(&y, sm) || !pair_new(&dy, sm) || !pair_new(&dx, big) ||
        !pair_new(&s, sm) || !pair_new(&ds, sm) || !pair_new(&gy, big))
        goto out;
    fill(x.hc, big / 4, -2.0f, 2.0f);
    pair_put(&x, x.hc);
    pair_poison(&y);
    CHECK_OK(C->ops->gap_fwd(C, n, hw, c, x.c, y.c));
    CHECK_OK(G->ops->gap_fwd(G, n, hw, c, x.g, y.g));
    expect_close(&y, 1e-6, "gap fwd");
    fill(dy.hc, sm / 4, -1.0f, 1.0f);
    pair_put(&dy, dy.hc);
    fill(dx.hc, big / 4, -1.0f, 1.0f);
    pair_put(&dx, dx.hc);
    CHECK_OK(C->ops->gap_bwd(C, n, hw, c, dy.c, dx.c));
    CHECK_OK(G->ops->gap_bwd(G, n, hw, c, dy.g, dx.g));
    expect_close(&dx, 1e-6, "gap bwd (accumulated)");

    /* scale: dx (n, hw, c) = x * s (n, c) first, then gy (n, hw, c) the gradient */
    fill(s.hc, sm / 4, 0.0f, 1.0f);
    pair_put(&s, s.hc);
    pair_poison(&dx); /* dx as the forward's output here */
    CHECK_OK(C->ops->scale_fwd(C, n, hw, c, x.c, s.c, dx.c));
    CHECK_OK(G->ops->scale_fwd(G, n, hw, c, x.g, s.g, dx.g));
    expect_close(&dx, 1e-6, "scale fwd");
    fill(gy.hc, big / 4, -1.0f, 1.0f);
    pair_put(&gy, gy.hc);
    fill(dx.hc, big / 4, -1.0f, 1.0f);
    pair_put(&dx, dx.hc);
    fill(ds.hc, sm / 4, -1.0f, 1.0f);
    pair_put(&ds, ds.hc);
    CHECK_OK(C->ops->scale_bwd(C, n, hw, c, x.c, s.c, gy.c, dx.c, ds.c));
    CHECK_OK(G->ops->scale_bwd(G, n, hw, c, x.g, s.g, gy.g, dx.g, ds.g));
    expect_close(&dx, 1e-6, "scale bwd dx (accumulated)");
    expect_close(&ds, 1e-6, "scale bwd ds (accumulated)");
    pair_sync_from_cpu(&ds);
    CHECK_OK(C->ops->scale_bwd(C, n, hw, c, x.c, s.c, gy.c, NULL, ds.c));
    CHECK_OK(G->ops->scale_bwd(G, n, hw, c, x.g, s.g, gy.g, NULL, ds.g));
    expect_close(&ds, 1e-6, "scale bwd ds without dx");
out:
    pair_free(&x), pair_free(&y), pair_free(&dy), pair_free(&dx), pair_free(&s), pair_free(&ds);
    pair_free(&gy);
}

/* Max pool over x (n, h, w, c): the forward and the backward (from a
 * non-zero dx) bit for bit, on random values and on small integers (ties:
 * the first maximum wins on both, and the sums are exact); a shape not
 * made by s24_pool_shape_init is refused. */
static void test_maxpool(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t st,
                         int64_t pad)
{
    struct s24_pool_shape ps = {n, h, w, c, k, st, pad, 0, 0};
    struct pair x = {0}, y = {0}, dy = {0}, dx = {0};
    CHECK_OK(s24_pool_shape_init(&ps));
    size_t big = sizeof(float) * (size_t)(n * h * w * c);
    size_t sm = sizeof(float) * (size_t)(n * ps.oh * ps.ow * c);
    if (!pair_new(&x, big) || !pair_new(&y, sm) || !pair_new(&dy, sm) || !pair_new(&dx, big))
        goto out;
    for (int ties = 0; ties < 2; ties++) {
        snprintf(where, sizeof where, "maxpool n %lld %lldx%lld c %lld k %lld s %lld p %lld%s",
                 (long long)n, (long long)h, (long long)w, (long long)c, (long long)k,
                 (long long)st, (long long)pad, ties ? " ties" : "");
        float *xh = x.hc, *gh = dy.hc;
        fill(xh, big / 4, -2.0f, 2.0f);
        fill(gh, sm / 4, -1.0f, 1.0f);
        if (ties) {
            for (size_t i = 0; i < big / 4; i++) xh[i] = (float)s24_rng_below(&R, 3);
            for (size_t i = 0; i < sm / 4; i++) gh[i] = (float)s24_rng_below(&R, 7) - 3.0f;
        }
        pair_put(&x, xh);
        pair_put(&dy, gh);
        pair_poison(&y);
        CHECK_OK(C->ops->maxpool_fwd(C, &ps, x.c, y.c));
        CHECK_OK(G->ops->maxpool_fwd(G, &ps, x.g, y.g));
        expect_same(&y, "fwd");
        fill(dx.hc, big / 4, -1.0f, 1.0f);
        if (ties)
            for (size_t i = 0; i < big / 4; i++) ((float *)dx.hc)[i] = (float)s24_rng_below(&R, 5);
        pair_put(&dx, dx.hc);
        CHECK_OK(C->ops->maxpool_bwd(C, &ps, x.c, dy.c, dx.c));
        CHECK_OK(G->ops->maxpool_bwd(G, &ps, x.g, dy.g, dx.g));
        expect_same(&dx, "bwd (accumulated)");
    }
    struct s24_pool_shape bad = ps;
    bad.oh += 1;
    CHECK(G->ops->maxpool_fwd(G, &bad, x.g, y.g) == S24_ERR_INVALID, "%s: bad shape refused",
          where);
out:
    pair_free(&x), pair_free(&y), pair_free(&dy), pair_free(&dx);
}

/* Dropout (inner 1) and stochastic depth (inner h*w*c) masks: drawn, applied. */
static void test_rowmask(int64_t rows, int64_t inner)
{
    static const float ps[4] = {0.0f, 0.2f, 0.5f, 1.0f};
    struct pair key = {0}, mask = {0}, x = {0}, y = {0}, dx = {0};
    size_t big = sizeof(float) * (size_t)(rows * inner);
    if (!pair_new(&key, sizeof(uint64_t)) || !pair_new(&mask, sizeof(float) * (size_t)rows) ||
        !pair_new(&x, big) || !pair_new(&y, big) || !pair_new(&dx, big))
        goto out;
    for (int i = 0; i < 4; i++) {
        uint64_t k = 0x5eed0000ull + (uint64_t)i * 977;
        snprintf(where, sizeof where, "rowmask_draw rows %lld p %g", (long long)rows,
                 (double)ps[i]);
        pair_put(&key, &k);
        pair_poison(&mask);
        CHECK_OK(C->ops->rowmask_draw(C, rows, ps[i], key.c, mask.c));
        CHECK_OK(G->ops->rowmask_draw(G, rows, ps[i], key.g, mask.g));
        expect_same(&mask, "mask");
    }
    snprintf(where, sizeof where, "rowmask rows %lld inner %lld", (long long)rows,
             (long long)inner);
    CHECK_OK(C->ops->rowmask_draw(C, rows, 0.3f, key.c, mask.c));
    pair_sync_from_cpu(&mask);
    fill(x.hc, big / 4, -2.0f, 2.0f);
    pair_put(&x, x.hc);
    pair_poison(&y);
    CHECK_OK(C->ops->rowmask_fwd(C, rows, inner, x.c, mask.c, y.c));
    CHECK_OK(G->ops->rowmask_fwd(G, rows, inner, x.g, mask.g, y.g));
    expect_close(&y, 1e-6, "fwd");
    fill(dx.hc, big / 4, -1.0f, 1.0f);
    pair_put(&dx, dx.hc);
    CHECK_OK(C->ops->rowmask_bwd(C, rows, inner, mask.c, x.c, dx.c));
    CHECK_OK(G->ops->rowmask_bwd(G, rows, inner, mask.g, x.g, dx.g));
    expect_close(&dx, 1e-6, "bwd (accumulated)");
out:
    pair_free(&key), pair_free(&mask), pair_free(&x), pair_free(&y), pair_free(&dx);
}

/* ---------------------------------------------------------------- batch norm */
/* x (rows, c) uniform in off +- sc: a large off against a small sc is the
 * case where a one-pass variance without care cancels away. */
static void test_bn_act(int64_t rows, int64_t c, float off, float sc, enum s24_act act)
{
    static const char *names[] = {"none", "relu", "silu"};
    enum { X, Y, GM, BT, MEAN, ISTD, RM, RV, DY, DX, DG, DB, NP };
    struct pair t[NP];
    size_t big = sizeof(float) * (size_t)(rows * c), ch = sizeof(float) * (size_t)c;
    const float eps = 1e-5f, mom = 0.1f;
    memset(t, 0, sizeof t);
    snprintf(where, sizeof where, "bn rows %lld c %lld mean %g act %s", (long long)rows,
             (long long)c, (double)off, names[act + 1]);
    for (int i = 0; i < NP; i++)
        if (!pair_new(&t[i], i == X || i == Y || i == DY || i == DX ? big : ch)) goto out;
    fill(t[X].hc, big / 4, off - sc, off + sc);
    fill(t[GM].hc, (size_t)c, 0.5f, 1.5f);
    fill(t[BT].hc, (size_t)c, -0.5f, 0.5f);
    fill(t[RM].hc, (size_t)c, -1.0f, 1.0f);
    fill(t[RV].hc, (size_t)c, 0.5f, 2.0f);
    pair_put(&t[X], t[X].hc), pair_put(&t[GM], t[GM].hc), pair_put(&t[BT], t[BT].hc);
    pair_put(&t[RM], t[RM].hc), pair_put(&t[RV], t[RV].hc);
    pair_poison(&t[Y]), pair_poison(&t[MEAN]), pair_poison(&t[ISTD]);
    CHECK_OK(C->ops->bn_fwd_train(C, rows, c, t[X].c, t[GM].c, t[BT].c, eps, mom, act, t[Y].c,
                                  t[MEAN].c, t[ISTD].c, t[RM].c, t[RV].c));
    CHECK_OK(G->ops->bn_fwd_train(G, rows, c, t[X].g, t[GM].g, t[BT].g, eps, mom, act, t[Y].g,
                                  t[MEAN].g, t[ISTD].g, t[RM].g, t[RV].g));
    expect_close(&t[Y], 1e-5, "train y");
    expect_close(&t[MEAN], 1e-6, "mean");
    expect_close(&t[ISTD], 1e-6, "invstd");
    expect_close(&t[RM], 1e-6, "running mean");
    expect_close(&t[RV], 1e-6, "running var");

    /* without running statistics: the same outputs */
    pair_poison(&t[Y]), pair_poison(&t[MEAN]), pair_poison(&t[ISTD]);
    CHECK_OK(C->ops->bn_fwd_train(C, rows, c, t[X].c, t[GM].c, t[BT].c, eps, mom, act, t[Y].c,
                                  t[MEAN].c, t[ISTD].c, NULL, NULL));
    CHECK_OK(G->ops->bn_fwd_train(G, rows, c, t[X].g, t[GM].g, t[BT].g, eps, mom, act, t[Y].g,
                                  t[MEAN].g, t[ISTD].g, NULL, NULL));
    expect_close(&t[Y], 1e-5, "train y, no running stats");
    expect_close(&t[MEAN], 1e-6, "mean, no running stats");
    expect_close(&t[ISTD], 1e-6, "invstd, no running stats");

    /* eval from the CPU's running statistics */
    pair_sync_from_cpu(&t[RM]), pair_sync_from_cpu(&t[RV]);
    pair_poison(&t[Y]);
    CHECK_OK(C->ops->bn_fwd_eval(C, rows, c, t[X].c, t[GM].c, t[BT].c, t[RM].c, t[RV].c, eps, act,
                                 t[Y].c));
    CHECK_OK(G->ops->bn_fwd_eval(G, rows, c, t[X].g, t[GM].g, t[BT].g, t[RM].g, t[RV].g, eps, act,
                                 t[Y].g));
    expect_close(&t[Y], 1e-6, "eval y");

    /* backward from the CPU's saved statistics into non-zero gradients */
    pair_sync_from_cpu(&t[MEAN]), pair_sync_from_cpu(&t[ISTD]);
    fill(t[DY].hc, big / 4, -1.0f, 1.0f);
    fill(t[DX].hc, big / 4, -1.0f, 1.0f);
    fill(t[DG].hc, (size_t)c, -1.0f, 1.0f);
    fill(t[DB].hc, (size_t)c, -1.0f, 1.0f);
    pair_put(&t[DY], t[DY].hc), pair_put(&t[DX], t[DX].hc);
    pair_put(&t[DG], t[DG].hc), pair_put(&t[DB], t[DB].hc);
    CHECK_OK(C->ops->bn_bwd(C, rows, c, t[X].c, t[MEAN].c, t[ISTD].c, t[GM].c, t[BT].c, act,
                            t[DY].c, t[DX].c, 1, t[DG].c, t[DB].c));
    CHECK_OK(G->ops->bn_bwd(G, rows, c, t[X].g, t[MEAN].g, t[ISTD].g, t[GM].g, t[BT].g, act,
                            t[DY].g, t[DX].g, 1, t[DG].g, t[DB].g));
    expect_close(&t[DX], 1e-5, "bwd dx (accumulated)");
    expect_close(&t[DG], 1e-5, "bwd dgamma (accumulated)");
    expect_close(&t[DB], 1e-5, "bwd dbeta (accumulated)");
    pair_sync_from_cpu(&t[DG]), pair_sync_from_cpu(&t[DB]);
    /* acc 0: dx overwritten, its NaNs never read */
    pair_poison(&t[DX]);
    CHECK_OK(C->ops->bn_bwd(C, rows, c, t[X].c, t[MEAN].c, t[ISTD].c, t[GM].c, t[BT].c, act,
                            t[DY].c, t[DX].c, 0, t[DG].c, t[DB].c));
    CHECK_OK(G->ops->bn_bwd(G, rows, c, t[X].g, t[MEAN].g, t[ISTD].g, t[GM].g, t[BT].g, act,
                            t[DY].g, t[DX].g, 0, t[DG].g, t[DB].g));
    expect_close(&t[DX], 1e-5, "bwd dx (overwritten)");
    pair_sync_from_cpu(&t[DG]), pair_sync_from_cpu(&t[DB]);
    CHECK_OK(C->ops->bn_bwd(C, rows, c, t[X].c, t[MEAN].c, t[ISTD].c, t[GM].c, t[BT].c, act,
                            t[DY].c, NULL, 1, t[DG].c, t[DB].c));
    CHECK_OK(G->ops->bn_bwd(G, rows, c, t[X].g, t[MEAN].g, t[ISTD].g, t[GM].g, t[BT].g, act,
                            t[DY].g, NULL, 1, t[DG].g, t[DB].g));
    expect_close(&t[DG], 1e-5, "bwd dgamma without dx");
    expect_close(&t[DB], 1e-5, "bwd dbeta without dx");
out:
    for (int i = 0; i < NP; i++)
        pair_free(&t[i]);
}

/* Batch norm alone and with each activation fused into it (the backward
 * recomputes bn(x) from the CPU's statistics, so ReLU's mask agrees). */
static void test_bn(int64_t rows, int64_t c, float off, float sc)
{
    test_bn_act(rows, c, off, sc, S24_ACT_NONE);
    test_bn_act(rows, c, off, sc, S24_ACT_RELU);
    test_bn_act(rows, c, off, sc, S24_ACT_SILU);
}

/* ---------------------------------------------------------------- loss */
static void xent_both(int n, int classes, struct pair *z, struct pair *lab, struct pair *dz,
                      struct pair *acc)
{
    CHECK_OK(C->ops->xent(C, n, classes, z->c, lab->c, dz ? dz->c : NULL, acc ? acc->c : NULL));
    CHECK_OK(G->ops->xent(G, n, classes, z->g, lab->g, dz ? dz->g : NULL, acc ? acc->g : NULL));
}

/* acc: the loss sum to 1e-6 (the CPU adds its float mean times n), the hits exactly. */
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
    struct pair z = {0}, lab = {0}, dz = {0}, acc = {0};
    size_t zb = sizeof(float) * (size_t)n * (size_t)classes;
    snprintf(where, sizeof where, "xent n %d classes %d", n, classes);
    if (!pair_new(&z, zb) || !pair_new(&lab, sizeof(int32_t) * (size_t)n) || !pair_new(&dz, zb) ||
        !pair_new(&acc, 2 * sizeof(double)))
        goto out;
    float *zh = z.hc;
    int32_t *lh = lab.hc;
    fill(zh, zb / 4, -3.0f, 3.0f);
    for (int i = 0; i < n; i++)
        lh[i] = (int32_t)s24_rng_below(&R, (uint64_t)classes);
    /* tied maxima: the argmax is the lower index (row 0 labelled it: a hit;
     * row 1 labelled the higher one: a miss) */
    if (classes >= 3) {
        zh[1] = zh[classes - 1] = 50.0f, lh[0] = 1;
        if (n > 1) zh[classes + 0] = zh[classes + 2] = 50.0f, lh[1] = 2;
    }
    for (int i = 2; i < n; i += 3) { /* some sure hits */
        int best = 0;
        for (int j = 1; j < classes; j++)
            if (zh[(size_t)i * classes + j] > zh[(size_t)i * classes + best]) best = j;
        lh[i] = best;
    }
    pair_put(&z, zh), pair_put(&lab, lh);
    double a0[2] = {0.25, 3.0};
    pair_put(&acc, a0);
    pair_poison(&dz);
    xent_both(n, classes, &z, &lab, &dz, &acc);
    expect_close(&dz, 1e-6, "dlogits");
    expect_acc(&acc, "sums (accumulated)");
    pair_sync_from_cpu(&acc);
    xent_both(n, classes, &z, &lab, NULL, &acc);
    expect_acc(&acc, "sums without dlogits");
    pair_poison(&dz);
    xent_both(n, classes, &z, &lab, &dz, NULL);
    expect_close(&dz, 1e-6, "dlogits without sums");

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
    expect_close(&dz, 1e-6, "dlogits, a label out of range");
out:
    pair_free(&z), pair_free(&lab), pair_free(&dz), pair_free(&acc);
}

/* ---------------------------------------------------------------- SGD */
static void test_sgd(int64_t n, int masked)
{
    struct pair p = {0}, g = {0}, buf = {0}, mk = {0}, hy = {0};
    size_t fb = sizeof(float) * (size_t)n;
    snprintf(where, sizeof where, "sgd n %lld%s", (long long)n, masked ? " masked" : "");
    if (!pair_new(&p, fb) || !pair_new(&g, fb) || !pair_new(&buf, fb) ||
        !pair_new(&mk, (size_t)n) || !pair_new(&hy, 2 * sizeof(float)))
        goto out;
    fill(p.hc, (size_t)n, -1.0f, 1.0f);
    fill(buf.hc, (size_t)n, -0.1f, 0.1f);
    uint8_t *m = mk.hc;
    for (int64_t i = 0; i < n; i++)
        m[i] = (uint8_t)(s24_rng_u64(&R) & 1);
    pair_put(&p, p.hc), pair_put(&buf, buf.hc), pair_put(&mk, m);
    /* new gradients and hyper-parameters each step, as the trainer's */
    for (int step = 0; step < 3; step++) {
        float h[2] = {0.05f / (float)(step + 1), 0.9f - 0.02f * (float)step};
        pair_put(&hy, h);
        fill(g.hc, (size_t)n, -1.0f, 1.0f);
        pair_put(&g, g.hc);
        CHECK_OK(C->ops->sgd(C, n, p.c, g.c, buf.c, masked ? mk.c : NULL, hy.c, 5e-4f));
        CHECK_OK(G->ops->sgd(G, n, p.g, g.g, buf.g, masked ? mk.g : NULL, hy.g, 5e-4f));
    }
    expect_same(&p, "weights");
    expect_same(&g, "gradients");
    expect_same(&buf, "momentum");
out:
    pair_free(&p), pair_free(&g), pair_free(&buf), pair_free(&mk), pair_free(&hy);
}

/* ---------------------------------------------------------------- batch */
static void test_batch(int64_t n_images, int h, int w, int pad, int n)
{
    struct pair img = {0}, lab = {0}, dr = {0}, x = {0}, y = {0};
    size_t ib = (size_t)n_images * (size_t)h * (size_t)w * 3;
    snprintf(where, sizeof where, "batch %d of %lld images %dx%d pad %d", n, (long long)n_images, h,
             w, pad);
    if (!pair_new(&img, ib) || !pair_new(&lab, (size_t)n_images) ||
        !pair_new(&dr, 4 * sizeof(int32_t) * (size_t)n) ||
        !pair_new(&x, sizeof(float) * (size_t)n * (size_t)h * (size_t)w * 3) ||
        !pair_new(&y, sizeof(int32_t) * (size_t)n))
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
    /* the extreme offsets, flipped and not */
    d[1] = d[2] = 0, d[3] = 1;
    if (n > 1) d[5] = d[6] = 2 * pad, d[7] = 0;
    if (n > 2) d[9] = 2 * pad, d[10] = 0, d[11] = 1;
    pair_put(&img, ih), pair_put(&lab, lh), pair_put(&dr, d);
    pair_poison(&x), pair_poison(&y);
    struct s24_batch_args ac = {img.c, lab.c, n_images, h, w, pad, n, dr.c, x.c, y.c};
    struct s24_batch_args ag = {img.g, lab.g, n_images, h, w, pad, n, dr.g, x.g, y.g};
    CHECK_OK(C->ops->batch(C, &ac));
    CHECK_OK(G->ops->batch(G, &ag));
    expect_same(&x, "images");
    expect_same(&y, "labels");
out:
    pair_free(&img), pair_free(&lab), pair_free(&dr), pair_free(&x), pair_free(&y);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = s24_backend_create(S24_DEVICE_CUDA, 0, &G);
    if (rc != S24_OK) {
        printf("test_nn_ops_gpu: skipped: %s\n", s24_last_error());
        CHECK(rc == S24_ERR_NO_DEVICE, "%s", s24_status_str(rc));
        return t_done("test_nn_ops_gpu");
    }
    rc = s24_backend_create(S24_DEVICE_CPU, 0, &C);
    CHECK_OK(rc);
    if (rc != S24_OK) {
        s24_backend_free(G);
        return t_done("test_nn_ops_gpu");
    }
    printf("  %s against %s\n", s24_backend_name(G), s24_backend_name(C));
    s24_rng_seed(&R, 24);

    printf("  activations, add, acc ...\n");
    test_act_add(24 * 1000);
    test_act_add(1280 * 256 * 4 * 4 + 3);
    test_act_add(1);
    printf("  pooling, SE scale ...\n");
    test_pool_scale(8, 125, 24);
    test_pool_scale(256, 16, 1280);
    test_pool_scale(5, 7, 3);
    test_pool_scale(2, 1024, 16);
    test_pool_scale(3, 9, 144);
    printf("  max pool ...\n");
    test_maxpool(8, 112, 112, 64, 3, 2, 1); /* ImageNet ResNet's, batch 8 */
    test_maxpool(256, 16, 16, 64, 3, 2, 1); /* its CIFAR-sized 32x32 input, batch 256 */
    test_maxpool(3, 9, 7, 5, 3, 2, 1);
    test_maxpool(2, 8, 8, 3, 3, 3, 0);      /* a row and a column no window reaches */
    test_maxpool(2, 6, 5, 33, 3, 1, 1);
    test_maxpool(1, 6, 6, 70, 2, 2, 0);
    test_maxpool(1, 5, 5, 2, 5, 2, 2);
    test_maxpool(1, 1, 1, 1, 1, 1, 0);
    printf("  row masks ...\n");
    test_rowmask(256 * 1280, 1);
    test_rowmask(256, 4 * 4 * 24);
    test_rowmask(3, 5);
    printf("  batch norm ...\n");
    test_bn(1000, 24, 0.0f, 1.0f);
    test_bn(1000, 24, 100.0f, 0.01f);
    test_bn(517, 144, 0.5f, 2.0f);
    test_bn(256 * 4 * 4, 1280, 0.5f, 2.0f);
    test_bn(256 * 32 * 32, 64, 0.0f, 1.0f);
    test_bn(7, 3, 0.0f, 1.0f);
    test_bn(2, 200, 0.0f, 1.0f);
    printf("  loss ...\n");
    test_xent(256, 10);
    test_xent(37, 1000);
    test_xent(5, 100);
    test_xent(1, 1);
    printf("  sgd ...\n");
    test_sgd(10007, 1);
    test_sgd(10007, 0);
    test_sgd(((int64_t)1 << 20) + 3, 1);
    printf("  batch ...\n");
    test_batch(50, 32, 32, 4, 64);
    test_batch(7, 9, 5, 2, 13);
    test_batch(5, 8, 8, 0, 4);

    s24_backend_free(C);
    s24_backend_free(G);
    return t_done("test_nn_ops_gpu");
}
