/* test_mixed_norm_gpu.c: the CUDA training backend's batch norm in the mixed
 * mode (s24_backend_set_precision(S24_BF16): x, y, dy, dx bf16; gamma, beta,
 * the statistics and dgamma, dbeta fp32; src/cuda/nn_norm.cu) against the
 * CPU backend's fp32 ops on the same inputs, rounded to bf16 on the host
 * first, both reached through the ops table (needs a GPU; `make test-gpu`).
 * bn_fwd_train (no activation, ReLU, SiLU; with and without running
 * statistics), bn_fwd_eval (also in place) and bn_bwd (dx NULL and non-NULL,
 * dx starting non-zero) over shapes from one row to 256*32*32 rows, odd
 * channel counts (the one-channel path), even ones (channel pairs), counts
 * off the 32-wide tiles, C = 1280, and outputs at an odd bf16 offset (not
 * 4-byte aligned: the one-channel path for even c). Outputs are poisoned
 * first (NaN). Errors are ||gpu - cpu|| / ||cpu||. Not here: the fp32 mode
 * (test_nn_ops_gpu.c), timing. Without a GPU it reports the skip and passes. */
#include "twin.h"

/* y and dx against the CPU's fp32 values: the GPU rounds its fp32 result
 * once to bf16 (nearest even), so each element is within the unit roundoff
 * 2^-8 = 3.9e-3 of the CPU's (equal inputs, the same arithmetic order; the
 * statistics agree to an ulp of fp32); 8e-3 is twice that. dx needs no more:
 * its accumulation dx + contribution is done in fp32 and rounded once too,
 * from the same bf16 start value on both. */
#define TOL_ACT 8e-3
/* ... and against the CPU's values rounded to bf16 on the host: equal but
 * for rare one-step flips where the statistics differ by an fp32 ulp (or
 * SiLU's expf by a few); rounding by truncation instead would give ~4e-3. */
#define TOL_RNE 1e-3
/* mean, invstd, rmean, rvar, dgamma, dbeta: fp32 from the same rounded
 * inputs, fp64 sums in another order on each side, SiLU's expf (the fp32
 * test holds 1e-6 and 1e-5 for these). */
#define TOL_F32 1e-5

/* G's bf16 tensor against C's fp32 one (TOL_ACT) and against C's rounded
 * to bf16 (TOL_RNE). */
static void expect_act(struct act *a, const char *what)
{
    act_get(a);
    double e = t_rel(a->hg, a->hc, (size_t)a->n);
    CHECK(e <= TOL_ACT, "%s: %s: relative error %.3g (tolerance %.1g)", where, what, e, TOL_ACT);
    for (int64_t i = 0; i < a->n; i++)
        a->hc[i] = round_act(a->hc[i]);
    e = t_rel(a->hg, a->hc, (size_t)a->n);
    CHECK(e <= TOL_RNE, "%s: %s: relative error %.3g to the CPU's rounded to bf16 (tolerance %.1g)",
          where, what, e, TOL_RNE);
}

/* ---------------------------------------------------------------- batch norm */
/* x (rows, c) uniform in off +- sc; y and dx on G at bf16 element offset
 * `mis` (1: not 4-byte aligned, so even c takes the one-channel path). */
static void test_bn_act(int64_t rows, int64_t c, float off, float sc, enum s24_act act, int mis)
{
    static const char *names[] = {"none", "relu", "silu"};
    enum { GM, BT, MEAN, ISTD, RM, RV, DG, DB, NP };
    enum { X, Y, DY, DX, Z, NA };
    struct pair t[NP];
    struct act a[NA];
    int64_t n = rows * c;
    size_t ch = sizeof(float) * (size_t)c;
    const float eps = 1e-5f, mom = 0.1f;
    memset(t, 0, sizeof t);
    memset(a, 0, sizeof a);
    snprintf(where, sizeof where, "bf16 bn rows %lld c %lld mean %g act %s%s", (long long)rows,
             (long long)c, (double)off, names[act + 1], mis ? " (y, dx misaligned)" : "");
    for (int i = 0; i < NP; i++)
        if (!pair_new(&t[i], ch)) goto out;
    for (int i = 0; i < NA; i++)
        if (!act_new(&a[i], n, (i == Y || i == DX) ? mis : 0)) goto out;
    fill(a[X].hc, (size_t)n, off - sc, off + sc);
    act_put(&a[X], a[X].hc);
    fill(t[GM].hc, (size_t)c, 0.5f, 1.5f);
    fill(t[BT].hc, (size_t)c, -0.5f, 0.5f);
    fill(t[RM].hc, (size_t)c, -1.0f, 1.0f);
    fill(t[RV].hc, (size_t)c, 0.5f, 2.0f);
    pair_put(&t[GM], t[GM].hc), pair_put(&t[BT], t[BT].hc);
    pair_put(&t[RM], t[RM].hc), pair_put(&t[RV], t[RV].hc);

    act_poison(&a[Y]), pair_poison(&t[MEAN]), pair_poison(&t[ISTD]);
    CHECK_OK(C->ops->bn_fwd_train(C, rows, c, a[X].c, t[GM].c, t[BT].c, eps, mom, act, a[Y].c,
                                  t[MEAN].c, t[ISTD].c, t[RM].c, t[RV].c));
    CHECK_OK(G->ops->bn_fwd_train(G, rows, c, a[X].g, t[GM].g, t[BT].g, eps, mom, act, a[Y].g,
                                  t[MEAN].g, t[ISTD].g, t[RM].g, t[RV].g));
    expect_act(&a[Y], "train y");
    expect_close(&t[MEAN], TOL_F32, "mean");
    expect_close(&t[ISTD], TOL_F32, "invstd");
    expect_close(&t[RM], TOL_F32, "running mean");
    expect_close(&t[RV], TOL_F32, "running var");

    /* without running statistics: the same outputs */
    act_poison(&a[Y]), pair_poison(&t[MEAN]), pair_poison(&t[ISTD]);
    CHECK_OK(C->ops->bn_fwd_train(C, rows, c, a[X].c, t[GM].c, t[BT].c, eps, mom, act, a[Y].c,
                                  t[MEAN].c, t[ISTD].c, NULL, NULL));
    CHECK_OK(G->ops->bn_fwd_train(G, rows, c, a[X].g, t[GM].g, t[BT].g, eps, mom, act, a[Y].g,
                                  t[MEAN].g, t[ISTD].g, NULL, NULL));
    expect_act(&a[Y], "train y, no running stats");
    expect_close(&t[MEAN], TOL_F32, "mean, no running stats");
    expect_close(&t[ISTD], TOL_F32, "invstd, no running stats");

    /* eval from the CPU's running statistics */
    pair_sync_from_cpu(&t[RM]), pair_sync_from_cpu(&t[RV]);
    act_poison(&a[Y]);
    CHECK_OK(C->ops->bn_fwd_eval(C, rows, c, a[X].c, t[GM].c, t[BT].c, t[RM].c, t[RV].c, eps, act,
                                 a[Y].c));
    CHECK_OK(G->ops->bn_fwd_eval(G, rows, c, a[X].g, t[GM].g, t[BT].g, t[RM].g, t[RV].g, eps, act,
                                 a[Y].g));
    expect_act(&a[Y], "eval y");
    /* in place (y = x) on G: the same bits as out of place (a[Y].hg) */
    CHECK_OK(G->ops->copy(G, a[Z].g, a[X].g, s24_be_act_size(G) * (size_t)n));
    CHECK_OK(G->ops->bn_fwd_eval(G, rows, c, a[Z].g, t[GM].g, t[BT].g, t[RM].g, t[RV].g, eps, act,
                                 a[Z].g));
    CHECK_OK(s24_be_get_act(G, a[Z].hg, a[Z].g, n));
    CHECK(memcmp(a[Z].hg, a[Y].hg, sizeof(float) * (size_t)n) == 0,
          "%s: eval in place differs from out of place", where);

    /* backward from the CPU's saved statistics into non-zero gradients */
    pair_sync_from_cpu(&t[MEAN]), pair_sync_from_cpu(&t[ISTD]);
    fill(a[DY].hc, (size_t)n, -1.0f, 1.0f);
    fill(a[DX].hc, (size_t)n, -1.0f, 1.0f);
    fill(t[DG].hc, (size_t)c, -1.0f, 1.0f);
    fill(t[DB].hc, (size_t)c, -1.0f, 1.0f);
    act_put(&a[DY], a[DY].hc), act_put(&a[DX], a[DX].hc);
    pair_put(&t[DG], t[DG].hc), pair_put(&t[DB], t[DB].hc);
    CHECK_OK(C->ops->bn_bwd(C, rows, c, a[X].c, t[MEAN].c, t[ISTD].c, t[GM].c, t[BT].c, act,
                            a[DY].c, a[DX].c, 1, t[DG].c, t[DB].c));
    CHECK_OK(G->ops->bn_bwd(G, rows, c, a[X].g, t[MEAN].g, t[ISTD].g, t[GM].g, t[BT].g, act,
                            a[DY].g, a[DX].g, 1, t[DG].g, t[DB].g));
    expect_act(&a[DX], "bwd dx (accumulated)");
    expect_close(&t[DG], TOL_F32, "bwd dgamma (accumulated)");
    expect_close(&t[DB], TOL_F32, "bwd dbeta (accumulated)");
    pair_sync_from_cpu(&t[DG]), pair_sync_from_cpu(&t[DB]);
    /* acc 0: dx overwritten, its NaNs never read */
    act_poison(&a[DX]);
    CHECK_OK(C->ops->bn_bwd(C, rows, c, a[X].c, t[MEAN].c, t[ISTD].c, t[GM].c, t[BT].c, act,
                            a[DY].c, a[DX].c, 0, t[DG].c, t[DB].c));
    CHECK_OK(G->ops->bn_bwd(G, rows, c, a[X].g, t[MEAN].g, t[ISTD].g, t[GM].g, t[BT].g, act,
                            a[DY].g, a[DX].g, 0, t[DG].g, t[DB].g));
    expect_act(&a[DX], "bwd dx (overwritten)");
    pair_sync_from_cpu(&t[DG]), pair_sync_from_cpu(&t[DB]);
    CHECK_OK(C->ops->bn_bwd(C, rows, c, a[X].c, t[MEAN].c, t[ISTD].c, t[GM].c, t[BT].c, act,
                            a[DY].c, NULL, 1, t[DG].c, t[DB].c));
    CHECK_OK(G->ops->bn_bwd(G, rows, c, a[X].g, t[MEAN].g, t[ISTD].g, t[GM].g, t[BT].g, act,
                            a[DY].g, NULL, 1, t[DG].g, t[DB].g));
    expect_close(&t[DG], TOL_F32, "bwd dgamma without dx");
    expect_close(&t[DB], TOL_F32, "bwd dbeta without dx");
out:
    for (int i = 0; i < NP; i++)
        pair_free(&t[i]);
    for (int i = 0; i < NA; i++)
        act_free(&a[i]);
}

static void test_bn(int64_t rows, int64_t c, float off, float sc, int mis)
{
    test_bn_act(rows, c, off, sc, S24_ACT_NONE, mis);
    test_bn_act(rows, c, off, sc, S24_ACT_RELU, mis);
    test_bn_act(rows, c, off, sc, S24_ACT_SILU, mis);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = s24_backend_create(S24_DEVICE_CUDA, 0, &G);
    if (rc != S24_OK) {
        printf("test_mixed_norm_gpu: skipped: %s\n", s24_last_error());
        CHECK(rc == S24_ERR_NO_DEVICE, "%s", s24_status_str(rc));
        return t_done("test_mixed_norm_gpu");
    }
    rc = s24_backend_set_precision(G, S24_BF16);
    CHECK_OK(rc);
    if (rc == S24_OK) {
        CHECK(s24_backend_precision(G) == S24_BF16 && s24_be_act_size(G) == 2,
              "mixed mode: precision %d, %zu-byte activations", (int)s24_backend_precision(G),
              s24_be_act_size(G));
        rc = s24_backend_create(S24_DEVICE_CPU, 0, &C);
        CHECK_OK(rc);
    }
    if (rc != S24_OK) {
        s24_backend_free(G);
        return t_done("test_mixed_norm_gpu");
    }
    printf("  %s (bf16 activations) against %s\n", s24_backend_name(G), s24_backend_name(C));
    s24_rng_seed(&R, 2424);
    /* S24_SMALL: the compute-sanitizer run (scripts/gpu/run_sanitize_nn.sh)
     * leaves out the two largest shapes */
    int big = getenv("S24_SMALL") == NULL;

    printf("  batch norm, channel pairs ...\n");
    test_bn(1000, 24, 0.0f, 1.0f, 0);
    test_bn(1000, 24, 4.0f, 0.5f, 0); /* a mean far from 0 against the spread */
    test_bn(517, 144, 0.5f, 2.0f, 0); /* tiles of 32, the last one half full */
    test_bn(999, 130, 0.0f, 1.0f, 0); /* the last tile two channels */
    test_bn(513, 128, 0.0f, 1.0f, 0); /* the widest one-tile case */
    test_bn(333, 2, 0.0f, 1.0f, 0);   /* one pair a row */
    if (big) test_bn(256 * 4 * 4, 1280, 0.5f, 2.0f, 0);
    if (big) test_bn(256 * 32 * 32, 64, 0.0f, 1.0f, 0);
    test_bn(2, 200, 0.0f, 1.0f, 0);
    test_bn(1, 64, 0.0f, 1.0f, 0);
    printf("  batch norm, one channel a thread (odd c, misaligned) ...\n");
    test_bn(7, 3, 0.0f, 1.0f, 0);
    test_bn(1, 37, 0.0f, 1.0f, 0);
    test_bn(300, 37, 0.0f, 1.0f, 0);
    test_bn(4099, 1, 0.0f, 1.0f, 0);
    test_bn(1000, 24, 0.0f, 1.0f, 1);
    test_bn(517, 144, 0.5f, 2.0f, 1);
    test_bn(64 * 8 * 8, 1280, 0.0f, 1.0f, 1);

    s24_backend_free(C);
    s24_backend_free(G);
    return t_done("test_mixed_norm_gpu");
}
