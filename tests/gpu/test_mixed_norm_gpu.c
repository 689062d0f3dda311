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
#include "t.h"

#include <stdint.h>

#include "nn/ops.h"

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

static struct s24_backend *C, *G; /* the CPU (reference) and the CUDA backend (bf16) */
static struct s24_rng R;
static char where[160]; /* the op and shape under test, for failure messages */

/* ---------------------------------------------------------------- fp32 tensors on both */
struct pair {
    void *c, *g;   /* the tensor on C and on G */
    void *hc, *hg; /* host copies (pair_get) */
    size_t bytes;
};

static int pair_new(struct pair *p, size_t bytes)
{
    int rc;
    memset(p, 0, sizeof *p);
    p->bytes = bytes;
    rc = s24_be_alloc(C, bytes, &p->c);
    if (rc == S24_OK) rc = s24_be_alloc(G, bytes, &p->g);
    p->hc = malloc(bytes ? bytes : 1);
    p->hg = malloc(bytes ? bytes : 1);
    if (rc == S24_OK && (!p->hc || !p->hg)) rc = s24_error(S24_ERR_NOMEM, "test: host copies");
    if (rc != S24_OK) CHECK_OK(rc);
    return rc == S24_OK;
}

static void pair_free(struct pair *p)
{
    s24_be_free(C, p->c, p->bytes);
    s24_be_free(G, p->g, p->bytes);
    free(p->hc);
    free(p->hg);
    memset(p, 0, sizeof *p);
}

static void pair_put(struct pair *p, const void *h)
{
    CHECK_OK(C->ops->upload(C, p->c, h, p->bytes));
    CHECK_OK(G->ops->upload(G, p->g, h, p->bytes));
}

/* All bytes 0xff: NaN floats. */
static void pair_poison(struct pair *p)
{
    memset(p->hc, 0xff, p->bytes);
    pair_put(p, p->hc);
}

static void pair_get(struct pair *p)
{
    CHECK_OK(C->ops->download(C, p->hc, p->c, p->bytes));
    CHECK_OK(G->ops->download(G, p->hg, p->g, p->bytes));
}

/* The CPU's values into the GPU's tensor too, so a later op sees equal inputs. */
static void pair_sync_from_cpu(struct pair *p)
{
    CHECK_OK(C->ops->download(C, p->hc, p->c, p->bytes));
    CHECK_OK(G->ops->upload(G, p->g, p->hc, p->bytes));
}

/* ---------------------------------------------------------------- activations */
/* n floats on C, n bf16 on G at element offset `off` of their allocation
 * (off 1: 2-byte aligned only). */
struct act {
    float *c;
    void *gbase, *g;
    float *hc, *hg; /* host copies (act_get), as floats */
    int64_t n;
    size_t gbytes;
};

static int act_new(struct act *a, int64_t n, int off)
{
    int rc;
    memset(a, 0, sizeof *a);
    a->n = n;
    a->gbytes = s24_be_act_size(G) * (size_t)(n + off);
    rc = s24_be_alloc(C, sizeof(float) * (size_t)n, (void **)&a->c);
    if (rc == S24_OK) rc = s24_be_alloc(G, a->gbytes, &a->gbase);
    a->g = a->gbase ? (char *)a->gbase + s24_be_act_size(G) * (size_t)off : NULL;
    a->hc = malloc(sizeof(float) * (size_t)n);
    a->hg = malloc(sizeof(float) * (size_t)n);
    if (rc == S24_OK && (!a->hc || !a->hg)) rc = s24_error(S24_ERR_NOMEM, "test: host copies");
    if (rc != S24_OK) CHECK_OK(rc);
    return rc == S24_OK;
}

static void act_free(struct act *a)
{
    s24_be_free(C, a->c, sizeof(float) * (size_t)a->n);
    s24_be_free(G, a->gbase, a->gbytes);
    free(a->hc);
    free(a->hg);
    memset(a, 0, sizeof *a);
}

static float round_bf16(float v) { return s24_bf16_to_f32(s24_f32_to_bf16(v)); }

/* h (n floats) rounded to bf16 in place, then into both: C gets the rounded
 * floats, G their bf16 bits (s24_be_put_act's rounding is then exact). */
static void act_put(struct act *a, float *h)
{
    for (int64_t i = 0; i < a->n; i++)
        h[i] = round_bf16(h[i]);
    CHECK_OK(C->ops->upload(C, a->c, h, sizeof(float) * (size_t)a->n));
    CHECK_OK(s24_be_put_act(G, a->g, h, a->n));
}

/* NaN on both: 0xff bytes (0xffff is a bf16 NaN too). */
static void act_poison(struct act *a)
{
    memset(a->hc, 0xff, sizeof(float) * (size_t)a->n);
    CHECK_OK(C->ops->upload(C, a->c, a->hc, sizeof(float) * (size_t)a->n));
    CHECK_OK(G->ops->upload(G, a->g, a->hc, s24_be_act_size(G) * (size_t)a->n));
}

static void act_get(struct act *a)
{
    CHECK_OK(C->ops->download(C, a->hc, a->c, sizeof(float) * (size_t)a->n));
    CHECK_OK(s24_be_get_act(G, a->hg, a->g, a->n));
}

static void fill(float *f, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        f[i] = s24_rng_uniformf(&R, lo, hi);
}

/* ||g - c|| / ||c|| (the norm itself where c is zero); NaN in g gives NaN. */
static double rel_l2(const float *g, const float *c, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)g[i] - (double)c[i];
        num += d * d;
        den += (double)c[i] * c[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void expect_close(struct pair *p, double tol, const char *what)
{
    pair_get(p);
    double e = rel_l2(p->hg, p->hc, p->bytes / sizeof(float));
    CHECK(e <= tol, "%s: %s: relative error %.3g (tolerance %.1g)", where, what, e, tol);
}

/* G's bf16 tensor against C's fp32 one (TOL_ACT) and against C's rounded
 * to bf16 (TOL_RNE). */
static void expect_act(struct act *a, const char *what)
{
    act_get(a);
    double e = rel_l2(a->hg, a->hc, (size_t)a->n);
    CHECK(e <= TOL_ACT, "%s: %s: relative error %.3g (tolerance %.1g)", where, what, e, TOL_ACT);
    for (int64_t i = 0; i < a->n; i++)
        a->hc[i] = round_bf16(a->hc[i]);
    e = rel_l2(a->hg, a->hc, (size_t)a->n);
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
                            a[DY].c, a[DX].c, t[DG].c, t[DB].c));
    CHECK_OK(G->ops->bn_bwd(G, rows, c, a[X].g, t[MEAN].g, t[ISTD].g, t[GM].g, t[BT].g, act,
                            a[DY].g, a[DX].g, t[DG].g, t[DB].g));
    expect_act(&a[DX], "bwd dx (accumulated)");
    expect_close(&t[DG], TOL_F32, "bwd dgamma (accumulated)");
    expect_close(&t[DB], TOL_F32, "bwd dbeta (accumulated)");
    pair_sync_from_cpu(&t[DG]), pair_sync_from_cpu(&t[DB]);
    CHECK_OK(C->ops->bn_bwd(C, rows, c, a[X].c, t[MEAN].c, t[ISTD].c, t[GM].c, t[BT].c, act,
                            a[DY].c, NULL, t[DG].c, t[DB].c));
    CHECK_OK(G->ops->bn_bwd(G, rows, c, a[X].g, t[MEAN].g, t[ISTD].g, t[GM].g, t[BT].g, act,
                            a[DY].g, NULL, t[DG].g, t[DB].g));
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
