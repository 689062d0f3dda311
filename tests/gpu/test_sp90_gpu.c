/* test_sp90_gpu.c: sparse24's own Hopper 2:4 GEMM (s24_sp90_*), every tile
 * configuration built, fp16 and bf16, against an fp64 CPU reference of the
 * pruned weight times X and against cuSPARSELt's result for the same weight
 * (where cuSPARSELt is present); shapes with partial tiles in m and n; the
 * tuned plan (all configurations timed, one kept) against the same
 * reference; refusals of shapes off the rules, of a weight that is not 2:4,
 * of a run without a weight. Weights pruned on the host by s24_mask_compute,
 * some groups thinned to one or no non-zero; outputs poisoned first.
 * Needs a GPU of compute capability 9.0 and a build with CUTLASS's headers;
 * elsewhere it reports the skip and passes. */
#include "t.h"

#include <stdint.h>
#include <string.h>

#include "sparse24/sparse24_cuda.h"

static s24_gpu_t *G;
static int have_sparse;

static float to_f32(enum s24_dtype dt, uint16_t v)
{
    return dt == S24_F16 ? s24_f16_to_f32(v) : s24_bf16_to_f32(v);
}

static uint16_t from_f32(enum s24_dtype dt, float f)
{
    return dt == S24_F16 ? s24_f32_to_f16(f) : s24_f32_to_bf16(f);
}

/* W (m x k, row-major): random, pruned to 2:4 along k by magnitude; every
 * 7th group keeps only its first kept value and every 11th none. */
static int make_weight(enum s24_dtype dt, uint16_t *w, int64_t m, int64_t k, uint64_t seed)
{
    struct s24_rng r;
    struct s24_view v = {m, k, 1};
    uint8_t *mask = malloc((size_t)(m * k));
    int rc;
    if (!mask) return S24_ERR_NOMEM;
    s24_rng_seed(&r, seed);
    for (int64_t i = 0; i < m * k; i++) {
        float x = s24_rng_uniformf(&r, -1.0f, 1.0f);
        if (x > -1.0f / 64 && x < 1.0f / 64) x = x < 0 ? -1.0f / 64 : 1.0f / 64;
        w[i] = from_f32(dt, x);
    }
    rc = s24_mask_compute(dt, w, v, 2, 4, mask);
    if (rc == S24_OK) rc = s24_mask_apply(dt, w, v, mask);
    for (int64_t gi = 0; rc == S24_OK && gi < m * k / 4; gi++) {
        uint16_t *grp = w + gi * 4;
        int seen = 0;
        for (int t = 0; t < 4; t++) {
            if (gi % 11 == 5) grp[t] = 0;
            if (gi % 7 == 3 && (grp[t] & 0x7fff)) {
                if (seen) grp[t] = 0;
                seen = 1;
            }
        }
    }
    free(mask);
    return rc;
}

/* ||a - b|| / ||b||, the largest |a - b| over the largest |b|, and the NaN
 * count of a (unwritten elements stay NaN). */
static double rel_err(enum s24_dtype dt, const uint16_t *a, const double *b, int64_t count,
                      double *maxrel, int64_t *nan)
{
    double num = 0, den = 0, maxd = 0, maxb = 0;
    *nan = 0;
    for (int64_t i = 0; i < count; i++) {
        double x = to_f32(dt, a[i]);
        if (x != x) {
            (*nan)++;
            continue;
        }
        num += (x - b[i]) * (x - b[i]);
        den += b[i] * b[i];
        if (fabs(x - b[i]) > maxd) maxd = fabs(x - b[i]);
        if (fabs(b[i]) > maxb) maxb = fabs(b[i]);
    }
    *maxrel = maxd / (maxb > 0 ? maxb : 1);
    return sqrt(num / (den > 0 ? den : 1));
}

struct prob {
    enum s24_dtype dt;
    int64_t m, n, k;
    void *dw, *dx, *dd;
    uint16_t *w, *x, *got;
    double *ref;
    char name[64];
};

static int prob_init(struct prob *p, enum s24_dtype dt, int64_t m, int64_t n, int64_t k,
                     uint64_t seed)
{
    size_t wb = (size_t)(m * k) * 2, xb = (size_t)(k * n) * 2, ob = (size_t)(m * n) * 2;
    double *xd;
    memset(p, 0, sizeof *p);
    p->dt = dt, p->m = m, p->n = n, p->k = k;
    snprintf(p->name, sizeof p->name, "%s %lldx%lldx%lld", dt == S24_F16 ? "f16" : "bf16",
             (long long)m, (long long)n, (long long)k);
    p->w = malloc(wb), p->x = malloc(xb), p->got = malloc(ob);
    p->ref = calloc((size_t)(m * n), sizeof *p->ref);
    xd = malloc((size_t)(k * n) * sizeof *xd);
    if (!p->w || !p->x || !p->got || !p->ref || !xd) {
        free(xd);
        return S24_ERR_NOMEM;
    }
    int rc = make_weight(dt, p->w, m, k, seed);
    if (rc == S24_OK) rc = s24_gpu_alloc(G, wb, &p->dw);
    if (rc == S24_OK) rc = s24_gpu_alloc(G, xb, &p->dx);
    if (rc == S24_OK) rc = s24_gpu_alloc(G, ob, &p->dd);
    if (rc == S24_OK) rc = s24_gpu_upload(G, p->dw, p->w, wb);
    if (rc == S24_OK) rc = s24_gpu_fill_random(G, dt, p->dx, k * n, seed + 1, 1.0f);
    if (rc == S24_OK) rc = s24_gpu_download(G, p->x, p->dx, xb);
    if (rc != S24_OK) {
        free(xd);
        return rc;
    }
    /* fp64 reference over W's non-zeros; X (col-major) is contiguous along k */
    for (int64_t i = 0; i < k * n; i++) xd[i] = to_f32(dt, p->x[i]);
    for (int64_t i = 0; i < m; i++)
        for (int64_t q = 0; q < k; q++) {
            double wv = to_f32(dt, p->w[i * k + q]);
            if (wv == 0) continue;
            for (int64_t j = 0; j < n; j++) p->ref[j * m + i] += wv * xd[j * k + q];
        }
    free(xd);
    return S24_OK;
}

static void prob_free(struct prob *p)
{
    s24_gpu_mem_free(G, p->dw);
    s24_gpu_mem_free(G, p->dx);
    s24_gpu_mem_free(G, p->dd);
    free(p->w), free(p->x), free(p->got), free(p->ref);
}

/* Poison D, run, fetch. */
static int run_plan(struct prob *p, s24_sp90_plan_t *pl)
{
    int rc = s24_gpu_fill_bytes(G, p->dd, 0xff, (size_t)(p->m * p->n) * 2);
    if (rc == S24_OK) rc = s24_sp90_run(pl, p->dx, p->dd, NULL);
    if (rc == S24_OK) rc = s24_gpu_sync(G);
    if (rc == S24_OK) rc = s24_gpu_download(G, p->got, p->dd, (size_t)(p->m * p->n) * 2);
    return rc;
}

/* fp16 keeps 11 bits, bf16 8: the output's rounding sets the bound */
static double tol(enum s24_dtype dt) { return dt == S24_F16 ? 2e-3 : 1.2e-2; }

static void check_against_ref(struct prob *p, const char *what)
{
    double maxrel, rel;
    int64_t nan;
    rel = rel_err(p->dt, p->got, p->ref, p->m * p->n, &maxrel, &nan);
    CHECK(nan == 0 && rel <= tol(p->dt) && maxrel <= tol(p->dt),
          "%s %s: rel err %.3g, max err / max |ref| %.3g, %lld NaN/unwritten", p->name, what, rel,
          maxrel, (long long)nan);
    printf("  %-22s %-28s rel err %.2e  max %.2e  NaN %lld\n", p->name, what, rel, maxrel,
           (long long)nan);
}

/* cuSPARSELt on the same weight and X: the two outputs agree closely (both
 * accumulate in fp32; they may add in another order). */
static void check_against_lt(struct prob *p)
{
    s24_gemm_plan_t *sp = NULL;
    struct s24_gemm_desc d;
    size_t ob = (size_t)(p->m * p->n) * 2;
    uint16_t *lt = malloc(ob);
    double *ltd = malloc((size_t)(p->m * p->n) * sizeof *ltd), rel, maxrel;
    void *dl = NULL;
    int64_t nan;
    int rc;
    if (!lt || !ltd) goto out;
    s24_gemm_desc_init(&d, p->m, p->n, p->k, p->dt);
    rc = s24_gemm_plan_init(G, &d, S24_GEMM_SPARSE, &sp);
    if (rc != S24_OK) {
        printf("  %-22s vs cuSPARSELt: refused: %s\n", p->name, s24_last_error());
        CHECK(rc == S24_ERR_UNSUPPORTED, "%s: cuSPARSELt plan: %s", p->name, s24_last_error());
        goto out;
    }
    CHECK_OK(s24_gpu_alloc(G, ob, &dl));
    CHECK_OK(s24_gemm_plan_set_weight(sp, p->dw, 0));
    CHECK_OK(s24_gpu_fill_bytes(G, dl, 0xff, ob));
    CHECK_OK(s24_gemm_run(sp, p->dx, NULL, dl, NULL, NULL));
    CHECK_OK(s24_gpu_sync(G));
    CHECK_OK(s24_gpu_download(G, lt, dl, ob));
    for (int64_t i = 0; i < p->m * p->n; i++) ltd[i] = to_f32(p->dt, lt[i]);
    rel = rel_err(p->dt, p->got, ltd, p->m * p->n, &maxrel, &nan);
    CHECK(nan == 0 && rel <= tol(p->dt) && maxrel <= tol(p->dt),
          "%s vs cuSPARSELt: rel diff %.3g, max %.3g", p->name, rel, maxrel);
    printf("  %-22s %-28s rel diff %.2e  max %.2e\n", p->name, "vs cuSPARSELt", rel, maxrel);
out:
    s24_gemm_plan_free(sp);
    s24_gpu_mem_free(G, dl);
    free(lt), free(ltd);
}

/* Every configuration of dt on one shape, then the tuned plan. */
static void run_shape(enum s24_dtype dt, int64_t m, int64_t n, int64_t k, uint64_t seed)
{
    struct prob p;
    s24_sp90_plan_t *pl = NULL;
    int rc = prob_init(&p, dt, m, n, k, seed);
    CHECK(rc == S24_OK, "%lldx%lldx%lld: set-up: %s", (long long)m, (long long)n, (long long)k,
          s24_last_error());
    if (rc != S24_OK) goto out;
    for (int i = 0; i < s24_sp90_available(); i++) {
        if (s24_sp90_config_dtype(i) != dt) continue;
        rc = s24_sp90_plan_init(G, dt, m, n, k, i, &pl);
        if (rc == S24_ERR_UNSUPPORTED) { /* a tile this shape cannot take: said, not failed */
            printf("  %-22s %-28s refused: %s\n", p.name, s24_sp90_config_name(i),
                   s24_last_error());
            continue;
        }
        CHECK(rc == S24_OK, "%s %s: plan: %s", p.name, s24_sp90_config_name(i), s24_last_error());
        if (rc != S24_OK) continue;
        /* the name, then the scheduler swizzle: "_swz1" until tuned */
        CHECK(strncmp(s24_sp90_config(pl), s24_sp90_config_name(i),
                      strlen(s24_sp90_config_name(i))) == 0 &&
                  strstr(s24_sp90_config(pl), "_swz1"),
              "%s: runs %s", p.name, s24_sp90_config(pl));
        rc = s24_sp90_set_weight(pl, p.dw);
        CHECK(rc == S24_OK, "%s %s: set_weight: %s", p.name, s24_sp90_config_name(i),
              s24_last_error());
        if (rc == S24_OK) rc = run_plan(&p, pl);
        CHECK(rc == S24_OK, "%s %s: run: %s", p.name, s24_sp90_config_name(i), s24_last_error());
        if (rc == S24_OK) check_against_ref(&p, s24_sp90_config_name(i));
        /* its swizzles timed, one kept: that one too */
        if (rc == S24_OK) rc = s24_sp90_tune(pl, p.dx, p.dd, 3);
        if (rc == S24_OK) rc = run_plan(&p, pl);
        CHECK(rc == S24_OK, "%s %s: tuned run: %s", p.name, s24_sp90_config_name(i),
              s24_last_error());
        if (rc == S24_OK) check_against_ref(&p, s24_sp90_config(pl));
        s24_sp90_plan_free(pl);
        pl = NULL;
    }
    /* all configurations, tuned on these buffers */
    rc = s24_sp90_plan_init(G, dt, m, n, k, -1, &pl);
    CHECK(rc == S24_OK, "%s tuned: plan: %s", p.name, s24_last_error());
    if (rc != S24_OK) goto out;
    CHECK_OK(s24_sp90_set_weight(pl, p.dw));
    CHECK_OK(s24_sp90_tune(pl, p.dx, p.dd, 5));
    CHECK_OK(run_plan(&p, pl));
    check_against_ref(&p, "tuned");
    printf("  %-22s tuned pick: %s\n", p.name, s24_sp90_config(pl));
    if (have_sparse) check_against_lt(&p);
out:
    s24_sp90_plan_free(pl);
    prob_free(&p);
}

static void test_refusals(void)
{
    s24_sp90_plan_t *pl = NULL;
    struct prob p;
    CHECK(s24_sp90_plan_init(G, S24_F16, 100, 64, 128, -1, &pl) == S24_ERR_UNSUPPORTED && !pl);
    CHECK(strstr(s24_last_error(), "multiples of 128"), "%s", s24_last_error());
    CHECK(s24_sp90_plan_init(G, S24_F16, 128, 64, 96, -1, &pl) == S24_ERR_UNSUPPORTED && !pl);
    CHECK(s24_sp90_plan_init(G, S24_F16, 128, 63, 128, -1, &pl) == S24_ERR_UNSUPPORTED && !pl);
    CHECK(s24_sp90_plan_init(G, S24_F32, 128, 64, 128, -1, &pl) == S24_ERR_UNSUPPORTED && !pl);
    CHECK(s24_sp90_plan_init(G, S24_F16, 128, 64, 128, 999, &pl) == S24_ERR_INVALID && !pl);
    if (prob_init(&p, S24_F16, 128, 64, 128, 7) != S24_OK) {
        CHECK(0, "refusals: set-up: %s", s24_last_error());
        prob_free(&p);
        return;
    }
    CHECK_OK(s24_sp90_plan_init(G, S24_F16, 128, 64, 128, -1, &pl));
    if (pl) {
        CHECK(s24_sp90_run(pl, p.dx, p.dd, NULL) == S24_ERR_INVALID, "run without a weight");
        p.w[1] = p.w[2] = p.w[3] = p.w[0] = from_f32(S24_F16, 0.5f); /* 4 of 4 in group 0 */
        CHECK_OK(s24_gpu_upload(G, p.dw, p.w, (size_t)(128 * 128) * 2));
        CHECK(s24_sp90_set_weight(pl, p.dw) == S24_ERR_NOT_SPARSE, "%s", s24_last_error());
        CHECK(s24_sp90_run(pl, p.dx, p.dd, NULL) == S24_ERR_INVALID, "run after a bad weight");
    }
    s24_sp90_plan_free(pl);
    prob_free(&p);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = s24_gpu_init(0, &G);
    if (rc != S24_OK) {
        printf("test_sp90_gpu: skipped: %s\n", s24_last_error());
        CHECK(rc == S24_ERR_NO_DEVICE || rc == S24_ERR_CUDA);
        return t_done("test_sp90_gpu");
    }
    struct s24_gpu_props pr;
    CHECK_OK(s24_gpu_props(G, &pr));
    have_sparse = pr.cusparselt > 0;
    printf("  %s sm_%d%d, cuSPARSELt %d, %d own sm90 configurations\n", pr.name, pr.cc_major,
           pr.cc_minor, pr.cusparselt, s24_sp90_available());
    if (!s24_sp90_available() || pr.cc_major != 9 || pr.cc_minor != 0) {
        s24_sp90_plan_t *pl = NULL;
        CHECK(s24_sp90_plan_init(G, S24_F16, 128, 128, 128, -1, &pl) == S24_ERR_UNSUPPORTED &&
              !pl);
        printf("test_sp90_gpu: skipped (not built, or not sm_90): %s\n", s24_last_error());
        s24_gpu_free(G);
        return t_done("test_sp90_gpu");
    }
    test_refusals();
    /* partial tiles in m (384 over 256) and n (200, 136 over 128 and 256) */
    static const int64_t shapes[][3] = {
        {128, 8, 128}, {384, 200, 384}, {256, 136, 1024}, {1024, 512, 512}};
    for (int d = 0; d < 2; d++)
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            run_shape(d ? S24_BF16 : S24_F16, shapes[i][0], shapes[i][1], shapes[i][2],
                      500 + 13 * i + d);
    s24_gpu_free(G);
    return t_done("test_sp90_gpu");
}
