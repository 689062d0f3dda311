/* test_syncbn_gpu.c: the CUDA backend's batch norm in parts for sync BN
 * (ops.h: bn_stats, bn_fwd_apply, bn_bwd_reduce, bn_bwd_apply;
 * src/cuda/nn_norm.cu) and its side queue (side_begin, side_end, side_join;
 * src/cuda/nn_backend.cu), needs a GPU (`make test-gpu`).
 *
 *   1. Each part against the CPU backend's on the same inputs (each op fed
 *      the CPU's outputs of the one before, as test_nn_ops_gpu.c does), for
 *      no activation, ReLU and SiLU, without a shift and with the running
 *      mean as the shift (passed as rmean too: it is read before the
 *      update), with and without running statistics, dx accumulated and
 *      overwritten (poisoned first). The sums are those of two equal ranks
 *      (doubled, total 2 rows), so one row is a valid shape.
 *   2. The composition on the GPU alone: bn_stats over two halves of a
 *      batch, the sums added on the host in rank order (the all-reduce),
 *      then the applies, against bn_fwd_train and bn_bwd on the whole
 *      batch, as tests/test_syncbn.c does on the CPU: y, the statistics,
 *      the running statistics, dx, dgamma and dbeta within 1e-5 relative in
 *      fp32, on inputs of mean 40 and spread 0.25 with the running mean as
 *      the shift (without it the variance cancels: the shift is what the
 *      design relies on). ReLU's dx leaves out the few elements whose mask
 *      differs between the two (their statistics differ by an ulp).
 *   3. The side queue: work queued between side_begin and side_end sees
 *      the main queue's earlier work, and the main queue's work after
 *      side_join sees the side's (exact values, large buffers so a missing
 *      wait shows); the misuse errors.
 *
 * Parts 1 and 2 run in fp32 and again in the mixed mode (bf16 activations,
 * the vector paths), part 3 in fp32. Shapes: 1 and 2 rows, odd channel
 * counts, counts off 8 and off the 32-wide tiles, C = 1280, 256*32*32 rows.
 * Without a GPU it reports the skip and passes. */
#include "twin.h"

#include "sparse24/sparse24_nn.h"

static const char *act_names[] = {"none", "relu", "silu"};
static const enum s24_act acts[3] = {S24_ACT_NONE, S24_ACT_RELU, S24_ACT_SILU};

/* Tolerances of the mode: activations (y, dx) against the CPU's fp32 (bf16:
 * one rounding of 2^-8, twice that; see test_mixed_norm_gpu.c), the fp32
 * per-channel outputs, and the GPU's split against its fused ops (bf16: rare
 * one-step flips of the rounded activations). */
static double tol_act, tol_f32, tol_split;

/* Element `off` of an activation tensor on G (a rank's half of the batch). */
static void *gat(struct act *a, int64_t off)
{
    return (char *)a->g + s24_be_act_size(G) * (size_t)off;
}

/* sums (2, c): each half against the CPU's (the first is small next to the
 * second when the shift is near the mean, and would hide in one norm). */
static void expect_sums(struct pair *p, int64_t c, double tol, const char *what)
{
    pair_get(p);
    const float *g = p->hg, *h = p->hc;
    double e1 = t_rel(g, h, c), e2 = t_rel(g + c, h + c, c);
    CHECK(e1 <= tol && e2 <= tol, "%s: %s: relative error %.3g, %.3g (tolerance %.1g)", where,
          what, e1, e2, tol);
}

/* The CPU's sums doubled into both: two ranks of the same rows. */
static void sums_two_ranks(struct pair *s, struct pair *tot, int64_t c)
{
    CHECK_OK(C->ops->download(C, s->hc, s->c, s->bytes));
    float *h = s->hc, *t = tot->hc;
    for (int64_t j = 0; j < 2 * c; j++)
        t[j] = h[j] + h[j];
    pair_put(tot, t);
}

/* ---------------------------------------------------------------- parts against the CPU */
static void test_parts_act(int64_t rows, int64_t c, float off, float sc, enum s24_act act,
                           int shifted)
{
    enum { GM, BT, SH, MEAN, ISTD, RM, RV, SUMS, TOT, DG, DB, NP };
    enum { X, Y, DY, DX, NA };
    struct pair t[NP];
    struct act a[NA];
    int64_t n = rows * c, total = 2 * rows;
    size_t ch = sizeof(float) * (size_t)c;
    const float eps = 1e-5f, mom = 0.1f;
    memset(t, 0, sizeof t);
    memset(a, 0, sizeof a);
    snprintf(where, sizeof where, "%s parts rows %lld c %lld mean %g act %s%s",
             G->act == S24_BF16 ? "bf16" : "fp32", (long long)rows, (long long)c, (double)off,
             act_names[act + 1], shifted ? " shifted" : "");
    for (int i = 0; i < NP; i++)
        if (!pair_new(&t[i], i == SUMS || i == TOT ? 2 * ch : ch)) goto out;
    for (int i = 0; i < NA; i++)
        if (!act_new(&a[i], n, 0)) goto out;
    act_fill(&a[X], off - sc, off + sc);
    fill(t[GM].hc, (size_t)c, 0.5f, 1.5f);
    fill(t[BT].hc, (size_t)c, -0.5f, 0.5f);
    fill(t[RM].hc, (size_t)c, off - 0.05f, off + 0.05f); /* a running mean near the data's */
    fill(t[RV].hc, (size_t)c, 0.5f, 2.0f);
    pair_put(&t[GM], t[GM].hc), pair_put(&t[BT], t[BT].hc);
    pair_put(&t[RM], t[RM].hc), pair_put(&t[RV], t[RV].hc);
    pair_put(&t[SH], t[RM].hc); /* the shift apart from rmean, for the call without it */
    const float *shc = shifted ? t[RM].c : NULL, *shg = shifted ? t[RM].g : NULL;

    pair_poison(&t[SUMS]);
    CHECK_OK(C->ops->bn_stats(C, rows, c, a[X].c, shc, t[SUMS].c));
    CHECK_OK(G->ops->bn_stats(G, rows, c, a[X].g, shg, t[SUMS].g));
    expect_sums(&t[SUMS], c, 1e-6, "bn_stats sums");

    /* the apply from the CPU's sums; shift == rmean, updated in the call */
    sums_two_ranks(&t[SUMS], &t[TOT], c);
    act_poison(&a[Y]), pair_poison(&t[MEAN]), pair_poison(&t[ISTD]);
    CHECK_OK(C->ops->bn_fwd_apply(C, rows, c, total, a[X].c, t[GM].c, t[BT].c, t[TOT].c, shc, eps,
                                  mom, act, a[Y].c, t[MEAN].c, t[ISTD].c, t[RM].c, t[RV].c));
    CHECK_OK(G->ops->bn_fwd_apply(G, rows, c, total, a[X].g, t[GM].g, t[BT].g, t[TOT].g, shg, eps,
                                  mom, act, a[Y].g, t[MEAN].g, t[ISTD].g, t[RM].g, t[RV].g));
    act_expect_close(&a[Y], tol_act, "fwd_apply y");
    expect_close(&t[MEAN], 1e-6, "fwd_apply mean");
    expect_close(&t[ISTD], 1e-6, "fwd_apply invstd");
    expect_close(&t[RM], 1e-6, "fwd_apply running mean");
    expect_close(&t[RV], 1e-6, "fwd_apply running var");

    /* without running statistics (the shift from its own copy) */
    shc = shifted ? t[SH].c : NULL, shg = shifted ? t[SH].g : NULL;
    act_poison(&a[Y]), pair_poison(&t[MEAN]), pair_poison(&t[ISTD]);
    CHECK_OK(C->ops->bn_fwd_apply(C, rows, c, total, a[X].c, t[GM].c, t[BT].c, t[TOT].c, shc, eps,
                                  mom, act, a[Y].c, t[MEAN].c, t[ISTD].c, NULL, NULL));
    CHECK_OK(G->ops->bn_fwd_apply(G, rows, c, total, a[X].g, t[GM].g, t[BT].g, t[TOT].g, shg, eps,
                                  mom, act, a[Y].g, t[MEAN].g, t[ISTD].g, NULL, NULL));
    act_expect_close(&a[Y], tol_act, "fwd_apply y, no running stats");
    expect_close(&t[MEAN], 1e-6, "fwd_apply mean, no running stats");
    expect_close(&t[ISTD], 1e-6, "fwd_apply invstd, no running stats");

    /* the backward's reduction from the CPU's statistics into non-zero dgamma, dbeta */
    pair_sync_from_cpu(&t[MEAN]), pair_sync_from_cpu(&t[ISTD]);
    act_fill(&a[DY], -1.0f, 1.0f);
    fill(t[DG].hc, (size_t)c, -1.0f, 1.0f);
    fill(t[DB].hc, (size_t)c, -1.0f, 1.0f);
    pair_put(&t[DG], t[DG].hc), pair_put(&t[DB], t[DB].hc);
    pair_poison(&t[SUMS]);
    CHECK_OK(C->ops->bn_bwd_reduce(C, rows, c, a[X].c, t[MEAN].c, t[ISTD].c, t[GM].c, t[BT].c,
                                   act, a[DY].c, t[SUMS].c, t[DG].c, t[DB].c));
    CHECK_OK(G->ops->bn_bwd_reduce(G, rows, c, a[X].g, t[MEAN].g, t[ISTD].g, t[GM].g, t[BT].g,
                                   act, a[DY].g, t[SUMS].g, t[DG].g, t[DB].g));
    expect_sums(&t[SUMS], c, tol_f32, "bwd_reduce sums");
    expect_close(&t[DG], tol_f32, "bwd_reduce dgamma (accumulated)");
    expect_close(&t[DB], tol_f32, "bwd_reduce dbeta (accumulated)");

    /* dx from the CPU's sums: accumulated into non-zero dx, then overwritten */
    sums_two_ranks(&t[SUMS], &t[TOT], c);
    act_fill(&a[DX], -1.0f, 1.0f);
    CHECK_OK(C->ops->bn_bwd_apply(C, rows, c, total, a[X].c, t[MEAN].c, t[ISTD].c, t[GM].c,
                                  t[BT].c, act, a[DY].c, t[TOT].c, a[DX].c, 1));
    CHECK_OK(G->ops->bn_bwd_apply(G, rows, c, total, a[X].g, t[MEAN].g, t[ISTD].g, t[GM].g,
                                  t[BT].g, act, a[DY].g, t[TOT].g, a[DX].g, 1));
    act_expect_close(&a[DX], tol_act, "bwd_apply dx (accumulated)");
    act_poison(&a[DX]);
    CHECK_OK(C->ops->bn_bwd_apply(C, rows, c, total, a[X].c, t[MEAN].c, t[ISTD].c, t[GM].c,
                                  t[BT].c, act, a[DY].c, t[TOT].c, a[DX].c, 0));
    CHECK_OK(G->ops->bn_bwd_apply(G, rows, c, total, a[X].g, t[MEAN].g, t[ISTD].g, t[GM].g,
                                  t[BT].g, act, a[DY].g, t[TOT].g, a[DX].g, 0));
    act_expect_close(&a[DX], tol_act, "bwd_apply dx (overwritten)");
out:
    for (int i = 0; i < NP; i++)
        pair_free(&t[i]);
    for (int i = 0; i < NA; i++)
        act_free(&a[i]);
}

/* 23 checks a call */
static void test_parts(int64_t rows, int64_t c, float off, float sc)
{
    for (int a = 0; a < 3; a++)
        for (int shifted = 0; shifted < 2; shifted++)
            test_parts_act(rows, c, off, sc, acts[a], shifted);
}

/* ---------------------------------------------------------------- split against fused */
static void get(void *h, const void *d, size_t bytes)
{
    CHECK_OK(G->ops->download(G, h, d, bytes));
}

/* ||a - ref|| / ||ref|| over n floats; with a mask (ReLU), the elements
 * whose masks ma, mr (y > 0) differ are left out and counted in *skip. */
static double rel_masked(const float *a, const float *ref, int64_t n, const float *ma,
                         const float *mr, int64_t *skip)
{
    double d = 0, r = 0;
    *skip = 0;
    for (int64_t i = 0; i < n; i++) {
        if (a[i] != a[i]) return 1e30;
        if (ma && (ma[i] > 0) != (mr[i] > 0)) {
            ++*skip;
            continue;
        }
        double e = (double)a[i] - ref[i];
        d += e * e, r += (double)ref[i] * ref[i];
    }
    return sqrt(d) / (sqrt(r) + 1e-30);
}

/* x (n0 + n1, c) as two ranks' halves; 12 checks a call (acc 0 and 1: 6 each). */
static void test_split_act(int64_t n0, int64_t n1, int64_t c, float off, float sc,
                           enum s24_act act, int shifted)
{
    /* per channel: the fused run's, then each half's */
    enum { GM, BT, RM, RV, MEAN, ISTD, DG, DB, NP };
    enum { X, Y, DY, DX, YS, DXS, NA };
    struct pair t[NP], h[2][NP], sums[2], tot;
    struct act a[NA];
    int64_t rows = n0 + n1, n = rows * c, r0[2] = {0, n0}, nr[2] = {n0, n1};
    size_t ch = sizeof(float) * (size_t)c;
    const float eps = 1e-5f, mom = 0.1f;
    float *hy = malloc(sizeof(float) * (size_t)n), *hys = malloc(sizeof(float) * (size_t)n);
    float *hs[2] = {malloc(2 * ch), malloc(2 * ch)}, *rm0 = malloc(ch), *rv0 = malloc(ch);
    memset(t, 0, sizeof t), memset(h, 0, sizeof h), memset(a, 0, sizeof a);
    memset(sums, 0, sizeof sums), memset(&tot, 0, sizeof tot);
    snprintf(where, sizeof where, "%s split %lld + %lld rows c %lld mean %g act %s%s",
             G->act == S24_BF16 ? "bf16" : "fp32", (long long)n0, (long long)n1, (long long)c,
             (double)off, act_names[act + 1], shifted ? " shifted" : "");
    if (!hy || !hys || !hs[0] || !hs[1] || !rm0 || !rv0) {
        CHECK(0, "%s: host memory", where);
        goto out;
    }
    for (int i = 0; i < NP; i++)
        if (!pair_new(&t[i], ch) || !pair_new(&h[0][i], ch) || !pair_new(&h[1][i], ch)) goto out;
    if (!pair_new(&sums[0], 2 * ch) || !pair_new(&sums[1], 2 * ch) || !pair_new(&tot, 2 * ch))
        goto out;
    for (int i = 0; i < NA; i++)
        if (!act_new(&a[i], n, 0)) goto out;
    act_fill(&a[X], off - sc, off + sc);
    act_fill(&a[DY], -1.0f, 1.0f);
    fill(t[GM].hc, (size_t)c, 0.5f, 1.5f);
    fill(t[BT].hc, (size_t)c, -0.5f, 0.5f);
    fill(rm0, (size_t)c, off - 0.05f, off + 0.05f);
    fill(rv0, (size_t)c, 0.5f, 2.0f);
    pair_put(&t[GM], t[GM].hc), pair_put(&t[BT], t[BT].hc);
    for (int acc = 0; acc < 2; acc++) {
        int fails = t_fail;
        size_t ab = s24_be_act_size(G) * (size_t)n;
        pair_put(&t[RM], rm0), pair_put(&t[RV], rv0);
        for (int k = 0; k < 2; k++) {
            pair_put(&h[k][RM], rm0), pair_put(&h[k][RV], rv0);
            CHECK_OK(G->ops->zero(G, h[k][DG].g, ch));
            CHECK_OK(G->ops->zero(G, h[k][DB].g, ch));
        }
        CHECK_OK(G->ops->zero(G, t[DG].g, ch));
        CHECK_OK(G->ops->zero(G, t[DB].g, ch));
        if (acc) { /* both dx start from the same values */
            act_fill(&a[DX], -1.0f, 1.0f);
            CHECK_OK(G->ops->copy(G, a[DXS].g, a[DX].g, ab));
        } else {
            act_poison(&a[DX]);
            act_poison(&a[DXS]);
        }
        /* fused, on the whole batch */
        CHECK_OK(G->ops->bn_fwd_train(G, rows, c, a[X].g, t[GM].g, t[BT].g, eps, mom, act,
                                      a[Y].g, t[MEAN].g, t[ISTD].g, t[RM].g, t[RV].g));
        CHECK_OK(G->ops->bn_bwd(G, rows, c, a[X].g, t[MEAN].g, t[ISTD].g, t[GM].g, t[BT].g, act,
                                a[DY].g, a[DX].g, acc, t[DG].g, t[DB].g));
        /* in parts: each half's sums, added in rank order, applied to each half */
        for (int k = 0; k < 2; k++)
            CHECK_OK(G->ops->bn_stats(G, nr[k], c, gat(&a[X], r0[k] * c),
                                      shifted ? h[k][RM].g : NULL, sums[k].g));
        for (int k = 0; k < 2; k++) get(hs[k], sums[k].g, 2 * ch);
        for (int64_t j = 0; j < 2 * c; j++) ((float *)tot.hc)[j] = hs[0][j] + hs[1][j];
        CHECK_OK(G->ops->upload(G, tot.g, tot.hc, 2 * ch));
        for (int k = 0; k < 2; k++)
            CHECK_OK(G->ops->bn_fwd_apply(G, nr[k], c, rows, gat(&a[X], r0[k] * c), t[GM].g,
                                          t[BT].g, tot.g, shifted ? h[k][RM].g : NULL, eps, mom,
                                          act, gat(&a[YS], r0[k] * c), h[k][MEAN].g,
                                          h[k][ISTD].g, h[k][RM].g, h[k][RV].g));
        for (int k = 0; k < 2; k++)
            CHECK_OK(G->ops->bn_bwd_reduce(G, nr[k], c, gat(&a[X], r0[k] * c), h[k][MEAN].g,
                                           h[k][ISTD].g, t[GM].g, t[BT].g, act,
                                           gat(&a[DY], r0[k] * c), sums[k].g, h[k][DG].g,
                                           h[k][DB].g));
        for (int k = 0; k < 2; k++) get(hs[k], sums[k].g, 2 * ch);
        for (int64_t j = 0; j < 2 * c; j++) ((float *)tot.hc)[j] = hs[0][j] + hs[1][j];
        CHECK_OK(G->ops->upload(G, tot.g, tot.hc, 2 * ch));
        for (int k = 0; k < 2; k++)
            CHECK_OK(G->ops->bn_bwd_apply(G, nr[k], c, rows, gat(&a[X], r0[k] * c), h[k][MEAN].g,
                                          h[k][ISTD].g, t[GM].g, t[BT].g, act,
                                          gat(&a[DY], r0[k] * c), tot.g, gat(&a[DXS], r0[k] * c),
                                          acc));
        if (t_fail > fails) goto out; /* an op refused: nothing to compare */

        /* the halves' statistics are one computation's: the same bits */
        int same = 1;
        for (int i = MEAN; i <= ISTD; i++) {
            get(h[0][i].hg, h[0][i].g, ch), get(h[1][i].hg, h[1][i].g, ch);
            same &= !memcmp(h[0][i].hg, h[1][i].hg, ch);
        }
        for (int i = RM; i <= RV; i++) {
            get(h[0][i].hg, h[0][i].g, ch), get(h[1][i].hg, h[1][i].g, ch);
            same &= !memcmp(h[0][i].hg, h[1][i].hg, ch);
        }
        CHECK(same, "%s acc %d: the halves' statistics differ", where, acc);
        /* y, the statistics, the running statistics */
        CHECK_OK(s24_be_get_act(G, hy, a[Y].g, n));
        CHECK_OK(s24_be_get_act(G, hys, a[YS].g, n));
        double e[7];
        int64_t skip = 0;
        e[0] = t_rel(hys, hy, n);
        for (int i = RM; i <= ISTD; i++) {
            get(t[i].hg, t[i].g, ch);
            e[1 + i - RM] = t_rel(h[0][i].hg, t[i].hg, c);
        }
        /* dgamma, dbeta: the buckets' sum of the halves' */
        for (int i = DG; i <= DB; i++) {
            get(t[i].hg, t[i].g, ch), get(h[0][i].hg, h[0][i].g, ch);
            get(h[1][i].hg, h[1][i].g, ch);
            float *s0 = h[0][i].hg, *s1 = h[1][i].hg;
            for (int64_t j = 0; j < c; j++) s0[j] += s1[j];
            e[5 + i - DG] = t_rel(s0, t[i].hg, c);
        }
        CHECK(e[0] <= tol_split, "%s acc %d: y off by %.3g", where, acc, e[0]);
        double es = fmax(fmax(e[1], e[2]), fmax(e[3], e[4])), eg = fmax(e[5], e[6]);
        CHECK(es <= 1e-5, "%s acc %d: running mean, var, mean, invstd off by %.3g %.3g %.3g %.3g",
              where, acc, e[1], e[2], e[3], e[4]);
        CHECK(eg <= 1e-5, "%s acc %d: dgamma, dbeta off by %.3g %.3g", where, acc, e[5], e[6]);
        /* dx; ReLU's masks are y > 0 (the fused y in hy, the split one in hys) */
        float *dx = a[DX].hg, *dxs = a[DXS].hg;
        CHECK_OK(s24_be_get_act(G, dx, a[DX].g, n));
        CHECK_OK(s24_be_get_act(G, dxs, a[DXS].g, n));
        int relu = act == S24_ACT_RELU;
        double ed = rel_masked(dxs, dx, n, relu ? hys : NULL, hy, &skip);
        CHECK(ed <= tol_split, "%s acc %d: dx off by %.3g (%lld masks differ)", where, acc, ed,
              (long long)skip);
        CHECK(skip <= 2 + n / 100000, "%s acc %d: %lld of %lld ReLU masks differ", where, acc,
              (long long)skip, (long long)n);
    }
out:
    for (int i = 0; i < NP; i++)
        pair_free(&t[i]), pair_free(&h[0][i]), pair_free(&h[1][i]);
    pair_free(&sums[0]), pair_free(&sums[1]), pair_free(&tot);
    for (int i = 0; i < NA; i++)
        act_free(&a[i]);
    free(hy), free(hys), free(hs[0]), free(hs[1]), free(rm0), free(rv0);
}

/* 3 activations x 2 accumulate modes */
static void test_split(int64_t n0, int64_t n1, int64_t c, float off, float sc, int shifted)
{
    for (int a = 0; a < 3; a++)
        test_split_act(n0, n1, c, off, sc, acts[a], shifted);
}

/* ---------------------------------------------------------------- side queue */
#define SIDE_N ((int64_t)32 << 20) /* 128 MiB of floats: a missing wait shows */
#define SIDE_C 16
#define SIDE_ADDS 20

/* x small integers, a = (1 + adds) x on the main queue by in-place adds (each
 * exact); then on the side queue b = a (a copy) and d = b s (scale_fwd, s
 * powers of two); after side_join, e = 0 + d on the main queue (acc). b and
 * e must hold the exact values. Twice, so the events are reused. */
static void test_side(void)
{
    const struct s24_be_ops *o = G->ops;
    size_t nb = sizeof(float) * (size_t)SIDE_N;
    float *x = NULL, *a = NULL, *b = NULL, *d = NULL, *e = NULL, *s = NULL, *hx, *hb, *he;
    float hs[SIDE_C];
    snprintf(where, sizeof where, "side queue, %lld floats", (long long)SIDE_N);
    CHECK(!C->ops->side_begin && !C->ops->side_end && !C->ops->side_join,
          "the CPU backend has no side queue (ops.h)");
    if (!o->side_begin || !o->side_end || !o->side_join) {
        CHECK(0, "%s: the CUDA backend has no side queue ops", where);
        return;
    }
    hx = malloc(nb), hb = malloc(nb), he = malloc(nb);
    int rc = hx && hb && he ? S24_OK : s24_error(S24_ERR_NOMEM, "test: host buffers");
    if (rc == S24_OK) rc = s24_be_alloc(G, nb, (void **)&x);
    if (rc == S24_OK) rc = s24_be_alloc(G, nb, (void **)&a);
    if (rc == S24_OK) rc = s24_be_alloc(G, nb, (void **)&b);
    if (rc == S24_OK) rc = s24_be_alloc(G, nb, (void **)&d);
    if (rc == S24_OK) rc = s24_be_alloc(G, nb, (void **)&e);
    if (rc == S24_OK) rc = s24_be_alloc(G, sizeof hs, (void **)&s);
    CHECK_OK(rc);
    if (rc != S24_OK) goto out;
    for (int64_t i = 0; i < SIDE_N; i++)
        hx[i] = (float)((i * 7919) % 9) - 4.0f;
    for (int j = 0; j < SIDE_C; j++)
        hs[j] = ldexpf(1.0f, j % 5 - 2);
    CHECK_OK(o->upload(G, x, hx, nb));
    CHECK_OK(o->upload(G, s, hs, sizeof hs));
    for (int round = 0; round < 2; round++) {
        int adds = SIDE_ADDS + 7 * round;
        /* main: b, d, e poisoned (NaN), then a = (1 + adds) x */
        CHECK_OK(o->sync(G));
        memset(hb, 0xff, nb);
        CHECK_OK(o->upload(G, b, hb, nb));
        CHECK_OK(o->upload(G, d, hb, nb));
        CHECK_OK(o->zero(G, e, nb));
        CHECK_OK(o->copy(G, a, x, nb));
        for (int k = 0; k < adds; k++)
            CHECK_OK(o->add_fwd(G, SIDE_N, a, x, S24_ACT_NONE, a));
        CHECK_OK(o->side_begin(G));
        CHECK_OK(o->copy(G, b, a, nb));
        CHECK_OK(o->scale_fwd(G, 1, SIDE_N / SIDE_C, SIDE_C, b, s, d));
        CHECK_OK(o->side_end(G));
        CHECK_OK(o->side_join(G));
        CHECK_OK(o->acc(G, SIDE_N, d, e));
        CHECK_OK(o->download(G, he, e, nb));
        CHECK_OK(o->download(G, hb, b, nb));
        int64_t bad_b = 0, bad_e = 0;
        for (int64_t i = 0; i < SIDE_N; i++) {
            float want = (float)(1 + adds) * hx[i];
            bad_b += hb[i] != want;
            bad_e += he[i] != want * hs[i % SIDE_C];
        }
        CHECK(bad_b == 0, "%s round %d: %lld values of the side copy miss the main queue's adds",
              where, round, (long long)bad_b);
        CHECK(bad_e == 0, "%s round %d: %lld values after side_join miss the side's work", where,
              round, (long long)bad_e);
    }
    /* misuse: refused, the state unchanged */
    CHECK(o->side_end(G) == S24_ERR_INVALID, "%s: side_end off the side queue accepted", where);
    CHECK_OK(o->side_begin(G));
    CHECK(o->side_begin(G) == S24_ERR_INVALID, "%s: side_begin twice accepted", where);
    CHECK(o->side_join(G) == S24_ERR_INVALID, "%s: side_join on the side queue accepted", where);
    CHECK_OK(o->side_end(G));
    CHECK_OK(o->side_join(G));
    CHECK_OK(o->sync(G));
out:
    s24_be_free(G, x, nb), s24_be_free(G, a, nb), s24_be_free(G, b, nb);
    s24_be_free(G, d, nb), s24_be_free(G, e, nb), s24_be_free(G, s, sizeof hs);
    free(hx), free(hb), free(he);
}

/* ---------------------------------------------------------------- main */
static void run_mode(int big)
{
    int bf16 = G->act == S24_BF16;
    /* bf16 stores 40 +- 0.25 in steps of 0.25: its large mean is 4 */
    float off = bf16 ? 4.0f : 40.0f, sc = bf16 ? 0.5f : 0.25f;
    tol_act = bf16 ? 8e-3 : 1e-5;
    tol_f32 = 1e-5;
    tol_split = bf16 ? 1e-3 : 1e-5;
    printf("  %s: the parts against the CPU ...\n", bf16 ? "bf16" : "fp32");
    test_parts(1, 7, 0.0f, 1.0f);
    test_parts(2, 200, 0.0f, 1.0f);
    test_parts(7, 3, off, sc);
    test_parts(1000, 24, off, sc);
    test_parts(517, 13, 0.5f, 2.0f); /* c off 8 */
    test_parts(517, 144, off, sc);   /* tiles of 32, the last half full */
    test_parts(999, 130, 0.0f, 1.0f);
    if (big) test_parts(256 * 4 * 4, 1280, 0.5f, 2.0f);
    if (big) test_parts(256 * 32 * 32, 64, off, sc);
    printf("  %s: split over two halves against fused ...\n", bf16 ? "bf16" : "fp32");
    /* ranks of one and two rows, beside bigger ones: the variance of a
     * handful of rows can be small enough by chance that the fp32 sums
     * miss 1e-5 (the CPU's too), so the totals are not a handful */
    test_split(1, 30, 5, 0.0f, 1.0f, 0);
    test_split(45, 2, 200, off, sc, 1);
    test_split(96, 96, 6, off, sc, 1); /* test_syncbn's shape */
    test_split(500, 517, 13, off, sc, 1);
    test_split(300, 217, 144, 0.0f, 1.0f, 0);
    test_split(999, 1000, 130, off, sc, 1);
    if (big) test_split(128 * 16, 128 * 16, 1280, off, sc, 1);
    if (big) test_split(128 * 32 * 32, 128 * 32 * 32, 64, off, sc, 1);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = s24_backend_create(S24_DEVICE_CUDA, 0, &G);
    if (rc != S24_OK) {
        printf("test_syncbn_gpu: skipped: %s\n", s24_last_error());
        CHECK(rc == S24_ERR_NO_DEVICE, "%s", s24_status_str(rc));
        return t_done("test_syncbn_gpu");
    }
    rc = s24_backend_create(S24_DEVICE_CPU, 0, &C);
    CHECK_OK(rc);
    if (rc != S24_OK) {
        s24_backend_free(G);
        return t_done("test_syncbn_gpu");
    }
    printf("  %s against %s\n", s24_backend_name(G), s24_backend_name(C));
    s24_rng_seed(&R, 2425);
    /* S24_SMALL: a compute-sanitizer run leaves out the largest shapes */
    int big = getenv("S24_SMALL") == NULL;
    run_mode(big);
    printf("  side queue ...\n");
    test_side();

    /* the mixed mode: a fresh backend, so the fp32 one's scratch goes too */
    s24_backend_free(G);
    G = NULL;
    rc = s24_backend_create(S24_DEVICE_CUDA, 0, &G);
    CHECK_OK(rc);
    if (rc == S24_OK) rc = s24_backend_set_precision(G, S24_BF16);
    if (G) CHECK_OK(rc);
    if (rc == S24_OK) run_mode(big);

    s24_backend_free(C);
    s24_backend_free(G);
    return t_done("test_syncbn_gpu");
}
