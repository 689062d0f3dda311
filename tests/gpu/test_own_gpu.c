/* test_own_gpu.c: sparse24's own mma.sp kernel (s24_own_*) against an fp64
 * CPU reference of the pruned weight times X, and against cuSPARSELt's
 * result for the same weight where cuSPARSELt is present (needs a GPU;
 * `make test-gpu`). Random non-zero inputs, weights pruned on the host by
 * s24_mask_compute with some groups thinned further to one or no non-zero
 * (the metadata must still name two distinct positions), output poisoned
 * first, square and non-square shapes; refusals of shapes off the tile, of
 * a weight that is not 2:4, and of a run without a weight. The same kernel
 * as an implicit-GEMM 2:4 convolution: against an fp64 direct convolution
 * (with bias, residual and ReLU) and bit for bit against the GEMM on the
 * im2col matrix.
 * Without a GPU it reports the skip and passes. */
#include "t.h"

#include <stdint.h>
#include <string.h>

#include "sparse24/sparse24_cuda.h"

static s24_gpu_t *G;
static int have_sparse;

/* W (m x k, row-major): random, pruned to 2:4 along k by magnitude; every
 * 7th group keeps only its first kept value and every 11th none. */
static int make_weight(uint16_t *w, int64_t m, int64_t k, uint64_t seed)
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
        w[i] = s24_f32_to_f16(x);
    }
    rc = s24_mask_compute(S24_F16, w, v, 2, 4, mask);
    if (rc == S24_OK) rc = s24_mask_apply(S24_F16, w, v, mask);
    for (int64_t gi = 0; rc == S24_OK && gi < m * k / 4; gi++) {
        uint16_t *grp = w + gi * 4;
        if (gi % 11 == 5) {
            for (int t = 0; t < 4; t++) grp[t] = 0;
        } else if (gi % 7 == 3) {
            int seen = 0;
            for (int t = 0; t < 4; t++)
                if (grp[t] & 0x7fff) {
                    if (seen) grp[t] = 0;
                    seen = 1;
                }
        }
    }
    free(mask);
    return rc;
}

/* ||a - b|| / ||b|| over D's elements, with the largest |a - b| scaled by
 * the largest |b|, and the NaN count of a (unwritten elements stay NaN). */
static double rel_err(const uint16_t *a, const double *b, int64_t count, double *maxrel,
                      int64_t *nan)
{
    double num = 0, den = 0, maxd = 0, maxb = 0;
    *nan = 0;
    for (int64_t i = 0; i < count; i++) {
        double x = s24_f16_to_f32(a[i]);
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

static void run_shape(int64_t m, int64_t n, int64_t k, uint64_t seed)
{
    s24_own_plan_t *p = NULL;
    s24_gemm_plan_t *sp = NULL;
    void *dw = NULL, *dx = NULL, *dd = NULL, *dl = NULL;
    size_t wb = (size_t)(m * k) * 2, xb = (size_t)(k * n) * 2, ob = (size_t)(m * n) * 2;
    uint16_t *w = malloc(wb), *x = malloc(xb), *got = malloc(ob), *lt = malloc(ob);
    double *ref = calloc((size_t)(m * n), sizeof *ref);
    double *xd = malloc((size_t)(k * n) * sizeof *xd);
    double rel, maxrel;
    int64_t nan;
    int rc;
    char name[64];
    snprintf(name, sizeof name, "%lldx%lldx%lld", (long long)m, (long long)n, (long long)k);
    if (!w || !x || !got || !lt || !ref || !xd) {
        CHECK(0, "%s: out of host memory", name);
        goto out;
    }
    CHECK_OK(make_weight(w, m, k, seed));
    CHECK_OK(s24_gpu_alloc(G, wb, &dw));
    CHECK_OK(s24_gpu_alloc(G, xb, &dx));
    CHECK_OK(s24_gpu_alloc(G, ob, &dd));
    CHECK_OK(s24_gpu_alloc(G, ob, &dl));
    if (!dw || !dx || !dd || !dl) goto out;
    CHECK_OK(s24_gpu_upload(G, dw, w, wb));
    CHECK_OK(s24_gpu_fill_random(G, S24_F16, dx, k * n, seed + 1, 1.0f));
    CHECK_OK(s24_gpu_download(G, x, dx, xb));

    rc = s24_own_plan_init(G, m, n, k, &p);
    CHECK(rc == S24_OK, "%s: plan: %s", name, s24_last_error());
    if (rc != S24_OK) goto out;
    rc = s24_own_plan_set_weight(p, dw);
    CHECK(rc == S24_OK, "%s: set_weight: %s", name, s24_last_error());
    if (rc != S24_OK) goto out;
    CHECK_OK(s24_gpu_fill_bytes(G, dd, 0xff, ob));
    CHECK_OK(s24_own_run(p, dx, dd, NULL));
    CHECK_OK(s24_gpu_sync(G));
    CHECK_OK(s24_gpu_download(G, got, dd, ob));

    /* fp64 reference over W's non-zeros; X (col-major) is contiguous along k */
    for (int64_t i = 0; i < k * n; i++) xd[i] = s24_f16_to_f32(x[i]);
    for (int64_t i = 0; i < m; i++)
        for (int64_t q = 0; q < k; q++) {
            double wv = s24_f16_to_f32(w[i * k + q]);
            if (wv == 0) continue;
            for (int64_t j = 0; j < n; j++) ref[j * m + i] += wv * xd[j * k + q];
        }
    rel = rel_err(got, ref, m * n, &maxrel, &nan);
    CHECK(nan == 0 && rel <= 2e-3 && maxrel <= 2e-3,
          "%s: rel err %.3g, max err / max |ref| %.3g, %lld NaN/unwritten", name, rel, maxrel,
          (long long)nan);
    printf("  own %-18s rel err %.2e  max err/max|ref| %.2e  NaN %lld\n", name, rel, maxrel,
           (long long)nan);

    /* cuSPARSELt on the same pruned weight: the two fp16 outputs agree */
    if (have_sparse) {
        struct s24_gemm_desc d;
        s24_gemm_desc_init(&d, m, n, k, S24_F16);
        rc = s24_gemm_plan_init(G, &d, S24_GEMM_SPARSE, &sp);
        if (rc == S24_ERR_UNSUPPORTED) {
            printf("  own %-18s vs cuSPARSELt: shape refused: %s\n", name, s24_last_error());
            goto out;
        }
        CHECK(rc == S24_OK, "%s: cuSPARSELt plan: %s", name, s24_last_error());
        if (rc != S24_OK) goto out;
        CHECK_OK(s24_gemm_plan_set_weight(sp, dw, 0));
        CHECK_OK(s24_gpu_fill_bytes(G, dl, 0xff, ob));
        CHECK_OK(s24_gemm_run(sp, dx, NULL, dl, NULL, NULL));
        CHECK_OK(s24_gpu_sync(G));
        CHECK_OK(s24_gpu_download(G, lt, dl, ob));
        for (int64_t i = 0; i < m * n; i++) ref[i] = s24_f16_to_f32(lt[i]);
        rel = rel_err(got, ref, m * n, &maxrel, &nan);
        CHECK(nan == 0 && rel <= 2e-3 && maxrel <= 2e-3,
              "%s: own vs cuSPARSELt: rel %.3g, max %.3g, %lld NaN", name, rel, maxrel,
              (long long)nan);
        printf("  own %-18s vs cuSPARSELt: rel %.2e  max %.2e\n", name, rel, maxrel);
    } else {
        printf("  own %-18s vs cuSPARSELt: skipped (no cuSPARSELt)\n", name);
    }
out:
    s24_gemm_plan_free(sp);
    s24_own_plan_free(p);
    s24_gpu_mem_free(G, dw), s24_gpu_mem_free(G, dx), s24_gpu_mem_free(G, dd),
        s24_gpu_mem_free(G, dl);
    free(w), free(x), free(got), free(lt), free(ref), free(xd);
}

static void test_refusals(void)
{
    static const int64_t bad[][3] = {{100, 128, 64}, {128, 96, 64}, {128, 128, 48}, {0, 128, 64}};
    s24_own_plan_t *p = NULL;
    void *dw = NULL, *dx = NULL, *dd = NULL;
    int64_t m = 128, n = 128, k = 128;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = s24_own_plan_init(G, bad[i][0], bad[i][1], bad[i][2], &p);
        int want = bad[i][0] > 0 ? S24_ERR_UNSUPPORTED : S24_ERR_INVALID;
        CHECK(rc == want && p == NULL && strlen(s24_last_error()) > 0, "%lldx%lldx%lld: %s (%s)",
              (long long)bad[i][0], (long long)bad[i][1], (long long)bad[i][2], s24_status_str(rc),
              s24_last_error());
        if (i == 0) printf("  refused as it should: %s\n", s24_last_error());
        s24_own_plan_free(p);
        p = NULL;
    }
    CHECK_OK(s24_own_plan_init(G, m, n, k, &p));
    if (!p) return;
    CHECK_OK(s24_gpu_alloc(G, (size_t)(m * k) * 2, &dw));
    CHECK_OK(s24_gpu_alloc(G, (size_t)(k * n) * 2, &dx));
    CHECK_OK(s24_gpu_alloc(G, (size_t)(m * n) * 2, &dd));
    /* no weight yet */
    CHECK(s24_own_run(p, dx, dd, NULL) == S24_ERR_INVALID, "run without a weight: %s",
          s24_last_error());
    /* dense random: every group has four non-zeros */
    CHECK_OK(s24_gpu_fill_random(G, S24_F16, dw, m * k, 77, 1.0f));
    int rc = s24_own_plan_set_weight(p, dw);
    CHECK(rc == S24_ERR_NOT_SPARSE, "dense weight: %s (%s)", s24_status_str(rc), s24_last_error());
    printf("  refused as it should: %s\n", s24_last_error());
    CHECK(s24_own_run(p, dx, dd, NULL) == S24_ERR_INVALID, "run after a refused weight");
    /* misaligned X */
    {
        uint16_t *h = calloc((size_t)(m * k), 2);
        if (h) {
            CHECK_OK(s24_gpu_upload(G, dw, h, (size_t)(m * k) * 2)); /* all zero: 2:4 */
            CHECK_OK(s24_own_plan_set_weight(p, dw));
            CHECK(s24_own_run(p, (char *)dx + 2, dd, NULL) == S24_ERR_INVALID,
                  "misaligned X accepted");
            free(h);
        }
    }
    s24_own_plan_free(p);
    s24_gpu_mem_free(G, dw), s24_gpu_mem_free(G, dx), s24_gpu_mem_free(G, dd);
}

static void test_timing(void)
{
    s24_own_plan_t *p = NULL;
    void *dw = NULL, *dx = NULL, *dd = NULL;
    int64_t m = 1024, n = 1024, k = 1024;
    uint16_t *w = malloc((size_t)(m * k) * 2);
    struct s24_gemm_timing tm;
    if (!w) return;
    CHECK_OK(make_weight(w, m, k, 5));
    CHECK_OK(s24_own_plan_init(G, m, n, k, &p));
    CHECK_OK(s24_gpu_alloc(G, (size_t)(m * k) * 2, &dw));
    CHECK_OK(s24_gpu_alloc(G, (size_t)(k * n) * 2, &dx));
    CHECK_OK(s24_gpu_alloc(G, (size_t)(m * n) * 2, &dd));
    if (p && dw && dx && dd) {
        CHECK_OK(s24_gpu_upload(G, dw, w, (size_t)(m * k) * 2));
        CHECK_OK(s24_gpu_fill_random(G, S24_F16, dx, k * n, 6, 1.0f));
        CHECK_OK(s24_own_plan_set_weight(p, dw));
        CHECK_OK(s24_own_time(p, dx, dd, 3, 21, 1, &tm));
        CHECK(tm.repeats == 21 && tm.median_ms > 0 && tm.min_ms <= tm.median_ms &&
              tm.median_ms <= tm.max_ms);
        printf("  own 1024^3 fp16: %.4f ms median, %.1f TFLOP/s\n", tm.median_ms,
               2.0 * m * n * k / (tm.median_ms * 1e-3) / 1e12);
    }
    s24_own_plan_free(p);
    s24_gpu_mem_free(G, dw), s24_gpu_mem_free(G, dx), s24_gpu_mem_free(G, dd);
    free(w);
}

/* The implicit-GEMM convolution (s24_own_conv_*): against an fp64 direct
 * convolution with bias, residual and ReLU, and, without the epilogue, bit
 * for bit against the GEMM kernel on the host-built im2col matrix (the
 * loader must put exactly those values into shared memory). */
static void run_conv(int64_t nb, int64_t h, int64_t w, int64_t c, int64_t oc, int64_t kk,
                     int64_t stride, int64_t pad, int epi, uint64_t seed)
{
    struct s24_own_conv cs = {nb, h, w, c, oc, kk, kk, stride, pad};
    int64_t oh = (h + 2 * pad - kk) / stride + 1, ow = (w + 2 * pad - kk) / stride + 1;
    int64_t m = oc, n = nb * oh * ow, k = kk * kk * c, nx = nb * h * w * c;
    s24_own_plan_t *p = NULL, *g = NULL;
    void *dw = NULL, *dx = NULL, *dy = NULL, *dz = NULL, *dcol = NULL, *dg = NULL;
    float *db = NULL;
    size_t yb = (size_t)(m * n) * 2;
    uint16_t *wt = malloc((size_t)(m * k) * 2), *x = malloc((size_t)nx * 2), *y = malloc(yb),
             *z = malloc(yb);
    uint16_t *col = malloc((size_t)(k * n) * 2), *gy = malloc(yb);
    float *bias = malloc(sizeof(float) * (size_t)m);
    double *ref = malloc(sizeof(double) * (size_t)(m * n));
    char name[96];
    snprintf(name, sizeof name, "conv n%lld %lldx%lld c%lld->%lld %lldx%lld/s%lld%s", (long long)nb,
             (long long)h, (long long)w, (long long)c, (long long)oc, (long long)kk, (long long)kk,
             (long long)stride, epi ? " +bias+z+relu" : "");
    if (!wt || !x || !y || !z || !col || !gy || !bias || !ref) {
        CHECK(0, "%s: out of host memory", name);
        goto out;
    }
    CHECK_OK(make_weight(wt, m, k, seed));
    struct s24_rng r;
    s24_rng_seed(&r, seed + 3);
    for (int64_t i = 0; i < m; i++) bias[i] = s24_rng_uniformf(&r, -0.5f, 0.5f);
    CHECK_OK(s24_gpu_alloc(G, (size_t)(m * k) * 2, &dw));
    CHECK_OK(s24_gpu_alloc(G, (size_t)nx * 2, &dx));
    CHECK_OK(s24_gpu_alloc(G, yb, &dy));
    CHECK_OK(s24_gpu_alloc(G, yb, &dz));
    CHECK_OK(s24_gpu_alloc(G, sizeof(float) * (size_t)m, (void **)&db));
    CHECK_OK(s24_gpu_alloc(G, (size_t)(k * n) * 2, &dcol));
    CHECK_OK(s24_gpu_alloc(G, yb, &dg));
    if (!dw || !dx || !dy || !dz || !db || !dcol || !dg) goto out;
    CHECK_OK(s24_gpu_upload(G, dw, wt, (size_t)(m * k) * 2));
    CHECK_OK(s24_gpu_upload(G, db, bias, sizeof(float) * (size_t)m));
    CHECK_OK(s24_gpu_fill_random(G, S24_F16, dx, nx, seed + 1, 1.0f));
    CHECK_OK(s24_gpu_fill_random(G, S24_F16, dz, m * n, seed + 2, 1.0f));
    CHECK_OK(s24_gpu_download(G, x, dx, (size_t)nx * 2));
    CHECK_OK(s24_gpu_download(G, z, dz, yb));
    int rc = s24_own_conv_init(G, &cs, &p);
    CHECK(rc == S24_OK, "%s: init: %s", name, s24_last_error());
    if (rc != S24_OK) goto out;
    CHECK_OK(s24_own_plan_set_weight(p, dw));
    CHECK_OK(s24_gpu_fill_bytes(G, dy, 0xff, yb));
    CHECK_OK(s24_own_conv_run(p, dx, dy, epi ? db : NULL, epi ? dz : NULL, epi, NULL));
    CHECK_OK(s24_gpu_sync(G));
    CHECK_OK(s24_gpu_download(G, y, dy, yb));
    /* im2col on the host: column j (an output position) holds its k inputs
     * in (kh, kw, c) order, zero for taps in the padding */
    for (int64_t j = 0; j < n; j++) {
        int64_t img = j / (oh * ow), oy = j / ow % oh, ox = j % ow;
        for (int64_t ky = 0; ky < kk; ky++)
            for (int64_t kx = 0; kx < kk; kx++) {
                int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                int in = iy >= 0 && iy < h && ix >= 0 && ix < w;
                for (int64_t ci = 0; ci < c; ci++)
                    col[j * k + (ky * kk + kx) * c + ci] =
                        in ? x[((img * h + iy) * w + ix) * c + ci] : 0;
            }
    }
    for (int64_t j = 0; j < n; j++)
        for (int64_t o = 0; o < m; o++) {
            double acc = 0;
            for (int64_t q = 0; q < k; q++) {
                uint16_t wv = wt[o * k + q];
                if (wv & 0x7fff) acc += (double)s24_f16_to_f32(wv) * s24_f16_to_f32(col[j * k + q]);
            }
            if (epi) {
                acc += bias[o] + s24_f16_to_f32(z[j * m + o]);
                if (acc < 0) acc = 0;
            }
            ref[j * m + o] = acc;
        }
    double maxrel;
    int64_t nan;
    double rel = rel_err(y, ref, m * n, &maxrel, &nan);
    CHECK(nan == 0 && rel <= 2e-3 && maxrel <= 4e-3,
          "%s: rel err %.3g, max %.3g, %lld NaN/unwritten", name, rel, maxrel, (long long)nan);
    printf("  own %-44s rel err %.2e  max %.2e  NaN %lld\n", name, rel, maxrel, (long long)nan);
    if (!epi) {
        CHECK_OK(s24_gpu_upload(G, dcol, col, (size_t)(k * n) * 2));
        CHECK_OK(s24_own_plan_init(G, m, n, k, &g));
        if (g) {
            CHECK_OK(s24_own_plan_set_weight(g, dw));
            CHECK_OK(s24_own_run(g, dcol, dg, NULL));
            CHECK_OK(s24_gpu_sync(G));
            CHECK_OK(s24_gpu_download(G, gy, dg, yb));
            CHECK(!memcmp(gy, y, yb), "%s: the implicit GEMM differs from the GEMM on im2col",
                  name);
        }
    }
out:
    s24_own_plan_free(p);
    s24_own_plan_free(g);
    s24_gpu_mem_free(G, dw), s24_gpu_mem_free(G, dx), s24_gpu_mem_free(G, dy),
        s24_gpu_mem_free(G, dz);
    s24_gpu_mem_free(G, db), s24_gpu_mem_free(G, dcol), s24_gpu_mem_free(G, dg);
    free(wt), free(x), free(y), free(z), free(col), free(gy), free(bias), free(ref);
}

static void test_conv_refusals(void)
{
    s24_own_plan_t *p = NULL;
    /* channels off the k tile, output channels off the block, positions off the block */
    static const struct s24_own_conv bad[] = {{2, 16, 16, 32, 128, 3, 3, 1, 1},
                                              {2, 16, 16, 64, 64, 3, 3, 1, 1},
                                              {1, 10, 10, 64, 128, 3, 3, 1, 1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(s24_own_conv_init(G, &bad[i], &p) == S24_ERR_UNSUPPORTED && !p,
              "conv shape %zu accepted", i);
        s24_own_plan_free(p);
        p = NULL;
    }
    struct s24_own_conv neg = {2, 16, 16, 64, 128, 3, 3, 0, 1};
    CHECK(s24_own_conv_init(G, &neg, &p) == S24_ERR_INVALID && !p, "stride 0 accepted");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = s24_gpu_init(0, &G);
    if (rc != S24_OK) {
        printf("test_own_gpu: skipped: %s\n", s24_last_error());
        CHECK(rc == S24_ERR_NO_DEVICE || rc == S24_ERR_CUDA);
        return t_done("test_own_gpu");
    }
    struct s24_gpu_props pr;
    CHECK_OK(s24_gpu_props(G, &pr));
    have_sparse = pr.cusparselt > 0;
    printf("  %s sm_%d%d, cuSPARSELt %d\n", pr.name, pr.cc_major, pr.cc_minor, pr.cusparselt);
    printf("  refusals ...\n");
    test_refusals();
    /* the last two span several groups of block rows, the last one partial */
    static const int64_t shapes[][3] = {{128, 128, 64},    {256, 384, 128},  {384, 128, 192},
                                        {1024, 512, 2048}, {512, 1024, 320}, {1280, 256, 128},
                                        {2304, 384, 64}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        run_shape(shapes[i][0], shapes[i][1], shapes[i][2], 100 + 7 * i);
    printf("  convolution ...\n");
    test_conv_refusals();
    run_conv(2, 16, 16, 64, 128, 3, 1, 1, 0, 300);  /* 3x3, padding at every border */
    run_conv(2, 16, 16, 64, 128, 3, 1, 1, 1, 301);  /* the same with bias, residual, ReLU */
    run_conv(8, 16, 16, 128, 256, 3, 2, 1, 0, 302); /* stride 2 */
    run_conv(2, 16, 16, 64, 256, 1, 1, 0, 1, 303);  /* 1x1 */
    run_conv(4, 16, 16, 64, 128, 7, 1, 3, 1, 304);  /* a 7x7 tap grid, most taps in the padding
                                                     * at the border */
    printf("  timing ...\n");
    test_timing();
    s24_gpu_free(G);
    return t_done("test_own_gpu");
}
