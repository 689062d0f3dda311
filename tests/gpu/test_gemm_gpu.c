/* test_gemm_gpu.c: the GPU GEMM engine against an fp64 CPU reference (needs a
 * GPU; `make test-gpu`). Random inputs drawn on the device, output poisoned
 * first, every layout and operand-order variant, epilogues, dtypes, the
 * sparse, dense and auto modes, the device prune (exact 2:4, kept values
 * untouched, kept magnitudes >= dropped ones), refusals with clear errors,
 * CUDA-graph replay, and the timing helpers returning sane numbers.
 * Without a GPU it reports the skip and passes (CI runs the host rules in
 * tests/test_gemm_rules.c instead). */
#include "t.h"

#include <stdint.h>

#include "sparse24/sparse24_cuda.h"

static s24_gpu_t *G;
static int have_sparse;

/* element (r, c) of a rows x cols matrix in order o */
static int64_t at(enum s24_order o, int64_t r, int64_t c, int64_t rows, int64_t cols)
{
    return o == S24_ORDER_ROW ? r * cols + c : c * rows + r;
}

struct tcase {
    const char *name;
    int64_t m, n, k;
    enum s24_dtype in, out;
    enum s24_order wo, xo, dor;
    int sparse_as_b, use_op_t, act, bias, fp16_accum, search, split_k;
    float alpha, beta;
    enum s24_gemm_mode mode;
    double tol;
};

static double gelu(double x)
{
    return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

static void run_case(const struct tcase *tc, uint64_t seed)
{
    struct s24_gemm_desc d;
    s24_gemm_plan_t *p = NULL;
    void *dw = NULL, *dwp = NULL, *dx = NULL, *dc = NULL, *dd = NULL, *db = NULL;
    size_t wb = s24_gemm_bytes(tc->in, tc->m, tc->k), xb = s24_gemm_bytes(tc->in, tc->k, tc->n);
    size_t ob = s24_gemm_bytes(tc->out, tc->m, tc->n);
    uint8_t *hw = malloc(wb), *hwp = malloc(wb), *hx = malloc(xb), *hc = malloc(ob),
            *hd = malloc(ob);
    uint8_t *hb = malloc(s24_dtype_size(tc->out) * (size_t)tc->m);
    int rc;
    printf("  %-34s ...\n", tc->name);
    if (tc->mode == S24_GEMM_SPARSE && !have_sparse) {
        printf("  skip %s: no cuSPARSELt\n", tc->name);
        goto out;
    }
    s24_gemm_desc_init(&d, tc->m, tc->n, tc->k, tc->in);
    d.out_type = tc->out;
    d.w_order = tc->wo;
    d.x_order = tc->xo;
    d.d_order = tc->dor;
    d.sparse_as_b = tc->sparse_as_b;
    d.use_op_t = tc->use_op_t;
    d.act = (enum s24_gemm_act)tc->act;
    d.bias = tc->bias;
    d.fp16_accum = tc->fp16_accum;
    d.search = tc->search;
    d.split_k = tc->split_k;
    d.dense_tune = tc->search;
    d.alpha = tc->alpha;
    d.beta = tc->beta;
    rc = s24_gemm_plan_init(G, &d, tc->mode, &p);
    if (rc == S24_ERR_UNSUPPORTED && (tc->act == S24_GEMM_ACT_GELU || tc->split_k)) {
        /* a documented refusal by the library version, with a clear message */
        printf("  %-34s refused: %s\n", tc->name, s24_last_error());
        goto out;
    }
    CHECK(rc == S24_OK, "%s: plan: %s", tc->name, s24_last_error());
    if (rc != S24_OK) goto out;
    float scale = tc->in == S24_I8 ? 8.0f : 1.0f;
    CHECK_OK(s24_gpu_alloc(G, wb, &dw));
    CHECK_OK(s24_gpu_alloc(G, wb, &dwp));
    CHECK_OK(s24_gpu_alloc(G, xb, &dx));
    CHECK_OK(s24_gpu_alloc(G, ob, &dc));
    CHECK_OK(s24_gpu_alloc(G, ob, &dd));
    CHECK_OK(s24_gpu_alloc(G, s24_dtype_size(tc->out) * (size_t)tc->m, &db));
    CHECK_OK(s24_gpu_fill_random(G, tc->in, dw, tc->m * tc->k, seed, scale));
    CHECK_OK(s24_gpu_fill_random(G, tc->in, dx, tc->k * tc->n, seed + 1, scale));
    if (tc->out == S24_F16 || tc->out == S24_BF16) {
        CHECK_OK(s24_gpu_fill_random(G, tc->out, dc, tc->m * tc->n, seed + 2, 1.0f));
        CHECK_OK(s24_gpu_fill_random(G, tc->out, db, tc->m, seed + 3, 1.0f));
    }
    CHECK_OK(s24_gpu_download(G, hw, dw, wb));
    CHECK_OK(s24_gpu_download(G, hx, dx, xb));
    CHECK_OK(s24_gpu_download(G, hc, dc, ob));
    CHECK_OK(s24_gpu_download(G, hb, db, s24_dtype_size(tc->out) * (size_t)tc->m));

    /* prune on the device, then read back what the plan multiplies with */
    rc = s24_gemm_plan_set_weight(p, dw, 1);
    CHECK(rc == S24_OK, "%s: set_weight: %s", tc->name, s24_last_error());
    if (rc != S24_OK) goto out;
    CHECK_OK(s24_gemm_plan_get_weight(p, dwp));
    CHECK_OK(s24_gpu_download(G, hwp, dwp, wb));
    int64_t bad_groups = 0, changed = 0, order_bad = 0;
    for (int64_t i = 0; i < tc->m; i++)
        for (int64_t g = 0; g < tc->k; g += 4) {
            int nz = 0;
            double kept_min = INFINITY, drop_max = 0;
            for (int t = 0; t < 4; t++) {
                int64_t e = at(tc->wo, i, g + t, tc->m, tc->k);
                double a = s24_load_number(tc->in, hw, e), b = s24_load_number(tc->in, hwp, e);
                if (b != 0) {
                    nz++;
                    if (b != a) changed++;
                    if (fabs(a) < kept_min) kept_min = fabs(a);
                } else if (fabs(a) > drop_max) {
                    drop_max = fabs(a);
                }
            }
            if (nz != 2) bad_groups++;
            if (drop_max > kept_min) order_bad++;
        }
    CHECK(bad_groups == 0 && changed == 0 && order_bad == 0,
          "%s: prune: %lld groups without exactly two kept, %lld kept values changed, "
          "%lld groups kept a smaller one",
          tc->name, (long long)bad_groups, (long long)changed, (long long)order_bad);

    if (tc->search) {
        rc = s24_gemm_plan_tune(p, dx, dc, dd);
        CHECK(rc == S24_OK, "%s: tune: %s", tc->name, s24_last_error());
    }
    if (tc->bias) {
        rc = s24_gemm_plan_set_bias(p, db);
        CHECK(rc == S24_OK, "%s: set_bias: %s", tc->name, s24_last_error());
        if (rc != S24_OK) goto out;
    }
    /* poison: NaN for floats, a huge value for integers */
    CHECK_OK(s24_gpu_fill_bytes(G, dd, tc->out == S24_I32 ? 0x7f : 0xff, ob));
    rc = s24_gemm_run(p, dx, tc->beta != 0 ? dc : NULL, dd, tc->bias ? db : NULL, NULL);
    CHECK(rc == S24_OK, "%s: run: %s", tc->name, s24_last_error());
    CHECK_OK(s24_gpu_sync(G));
    CHECK_OK(s24_gpu_download(G, hd, dd, ob));

    double num = 0, den = 0, maxerr = 0;
    int64_t nan = 0;
    for (int64_t i = 0; i < tc->m; i++)
        for (int64_t j = 0; j < tc->n; j++) {
            double acc = 0;
            for (int64_t q = 0; q < tc->k; q++)
                acc += s24_load_number(tc->in, hwp, at(tc->wo, i, q, tc->m, tc->k)) *
                       s24_load_number(tc->in, hx, at(tc->xo, q, j, tc->k, tc->n));
            double ref = tc->alpha * acc;
            int64_t e = at(tc->dor, i, j, tc->m, tc->n);
            if (tc->beta != 0) ref += tc->beta * s24_load_number(tc->out, hc, e);
            if (tc->bias) ref += s24_load_number(tc->out, hb, i);
            if (tc->act == S24_GEMM_ACT_RELU) ref = ref > 0 ? ref : 0;
            if (tc->act == S24_GEMM_ACT_GELU) ref = gelu(ref);
            double got = s24_load_number(tc->out, hd, e);
            if (got != got) nan++;
            num += (got - ref) * (got - ref);
            den += ref * ref;
            if (fabs(got - ref) > maxerr) maxerr = fabs(got - ref);
        }
    double rel = sqrt(num / (den > 0 ? den : 1));
    CHECK(nan == 0 && rel <= tc->tol,
          "%s: rel err %.3g (tol %.3g), max abs %.3g, %lld NaN/unwritten", tc->name, rel, tc->tol,
          maxerr, (long long)nan);
    struct s24_gemm_plan_info info;
    CHECK_OK(s24_gemm_plan_info(p, &info));
    printf("  %-34s rel %.2e  path %s alg %d/%d%s split-k %d dense %s\n", tc->name, rel,
           s24_gemm_mode_name(info.chosen), info.alg_id, info.alg_max,
           info.search_rejected ? " (search rejected)" : "", info.split_k, info.dense_algo);
out:
    s24_gemm_plan_free(p);
    s24_gpu_mem_free(G, dw);
    s24_gpu_mem_free(G, dwp);
    s24_gpu_mem_free(G, dx);
    s24_gpu_mem_free(G, dc);
    s24_gpu_mem_free(G, dd);
    s24_gpu_mem_free(G, db);
    free(hw), free(hwp), free(hx), free(hc), free(hd), free(hb);
}

#define R S24_ORDER_ROW
#define C S24_ORDER_COL
static const struct tcase cases[] = {
    /* clang-format off */
    /* name                         m    n    k     in           out       W  X  D
     *  asB opT act bias f16a srch sk alpha beta   mode             tol */
    {"fp16 TN",                     256, 192, 512,  S24_F16,     S24_F16,  R, C, C,
        0,  0,  0,  0,   0,   0,   0, 1,    0,     S24_GEMM_SPARSE, 2e-3},
    {"fp16 W row X row D row",      128, 64,  256,  S24_F16,     S24_F16,  R, R, R,
        0,  0,  0,  0,   0,   0,   0, 1,    0,     S24_GEMM_SPARSE, 2e-3},
    {"fp16 W col X col D row",      128, 64,  256,  S24_F16,     S24_F16,  C, C, R,
        0,  0,  0,  0,   0,   0,   0, 1,    0,     S24_GEMM_SPARSE, 2e-3},
    {"fp16 W col X row D col",      128, 64,  256,  S24_F16,     S24_F16,  C, R, C,
        0,  0,  0,  0,   0,   0,   0, 1,    0,     S24_GEMM_SPARSE, 2e-3},
    {"fp16 op-T",                   128, 64,  256,  S24_F16,     S24_F16,  R, C, C,
        0,  1,  0,  0,   0,   0,   0, 1,    0,     S24_GEMM_SPARSE, 2e-3},
    {"fp16 sparse as B",            128, 64,  256,  S24_F16,     S24_F16,  R, C, C,
        1,  0,  0,  0,   0,   0,   0, 1,    0,     S24_GEMM_SPARSE, 2e-3},
    {"fp16 sparse as B, D row",     128, 64,  256,  S24_F16,     S24_F16,  R, C, R,
        1,  0,  0,  0,   0,   0,   0, 1,    0,     S24_GEMM_SPARSE, 2e-3},
    {"fp16 sparse as B, op-T",      128, 64,  256,  S24_F16,     S24_F16,  R, C, C,
        1,  1,  0,  0,   0,   0,   0, 1,    0,     S24_GEMM_SPARSE, 2e-3},
    {"fp16 gelu",                   128, 64,  256,  S24_F16,     S24_F16,  R, C, C,
        0,  0,  2,  0,   0,   0,   0, 1,    0,     S24_GEMM_SPARSE, 5e-3},
    {"fp16 alpha/beta",             128, 64,  256,  S24_F16,     S24_F16,  R, C, C,
        0,  0,  0,  0,   0,   0,   0, 0.5f, 0.25f, S24_GEMM_SPARSE, 2e-3},
    {"fp16 fp16-accumulate",        128, 64,  256,  S24_F16,     S24_F16,  R, C, C,
        0,  0,  0,  0,   1,   0,   0, 1,    0,     S24_GEMM_SPARSE, 1e-2},
    {"fp16 search",                 512, 256, 1024, S24_F16,     S24_F16,  R, C, C,
        0,  0,  0,  0,   0,   1,   0, 1,    0,     S24_GEMM_SPARSE, 2e-3},
    {"fp16 split-k 4",              256, 128, 2048, S24_F16,     S24_F16,  R, C, C,
        0,  0,  0,  0,   0,   0,   4, 1,    0,     S24_GEMM_SPARSE, 2e-3},
    {"bf16 TN",                     256, 192, 512,  S24_BF16,    S24_BF16, R, C, C,
        0,  0,  0,  0,   0,   0,   0, 1,    0,     S24_GEMM_SPARSE, 1e-2},
    {"int8 -> int32",               256, 128, 512,  S24_I8,      S24_I32,  R, C, C,
        0,  0,  0,  0,   0,   0,   0, 1,    0,     S24_GEMM_SPARSE, 0},
    {"int8 -> bf16",                256, 128, 512,  S24_I8,      S24_BF16, R, C, C,
        0,  0,  0,  0,   0,   0,   0, 1,    0,     S24_GEMM_SPARSE, 1e-2},
    {"int8 -> int32 search",        256, 128, 512,  S24_I8,      S24_I32,  R, C, C,
        0,  0,  0,  0,   0,   1,   0, 1,    0,     S24_GEMM_SPARSE, 0},
    {"fp8 -> bf16",                 256, 128, 512,  S24_F8_E4M3, S24_BF16, R, C, C,
        0,  0,  0,  0,   0,   0,   0, 1,    0,     S24_GEMM_SPARSE, 1e-2},
    {"fp8 -> fp16",                 256, 128, 512,  S24_F8_E4M3, S24_F16,  R, C, C,
        0,  0,  0,  0,   0,   0,   0, 1,    0,     S24_GEMM_SPARSE, 5e-3},
    {"dense fp16",                  256, 192, 512,  S24_F16,     S24_F16,  R, C, C,
        0,  0,  0,  0,   0,   0,   0, 1,    0,     S24_GEMM_DENSE,  2e-3},
    {"dense fp16 D row + tune",     128, 64,  256,  S24_F16,     S24_F16,  C, R, R,
        0,  0,  0,  0,   0,   1,   0, 1,    0,     S24_GEMM_DENSE,  2e-3},
    {"dense int8 -> int32",         256, 128, 512,  S24_I8,      S24_I32,  R, C, C,
        0,  0,  0,  0,   0,   0,   0, 1,    0,     S24_GEMM_DENSE,  0},
    {"dense fp8 -> bf16",           256, 128, 512,  S24_F8_E4M3, S24_BF16, R, C, C,
        0,  0,  0,  0,   0,   0,   0, 1,    0,     S24_GEMM_DENSE,  1e-2},
    {"auto fp16",                   512, 256, 512,  S24_F16,     S24_F16,  R, C, C,
        0,  0,  0,  0,   0,   1,   0, 1,    0,     S24_GEMM_AUTO,   2e-3},
    {"auto fp16 unaligned (dense)", 24,  100, 36,   S24_F16,     S24_F16,  R, C, C,
        0,  0,  0,  0,   0,   1,   0, 1,    0,     S24_GEMM_AUTO,   2e-3},
    {"fp16 relu",                   128, 64,  256,  S24_F16,     S24_F16,  R, C, C,
        0,  0,  1,  0,   0,   0,   0, 1,    0,     S24_GEMM_SPARSE, 2e-3},
    {"fp16 bias",                   128, 64,  256,  S24_F16,     S24_F16,  R, C, C,
        0,  0,  0,  1,   0,   0,   0, 1,    0,     S24_GEMM_SPARSE, 2e-3},
    {"fp16 bias+relu",              128, 64,  256,  S24_F16,     S24_F16,  R, C, C,
        0,  0,  1,  1,   0,   0,   0, 1,    0,     S24_GEMM_SPARSE, 2e-3},
    {"bf16 bias+gelu",              128, 64,  256,  S24_BF16,    S24_BF16, R, C, C,
        0,  0,  2,  1,   0,   0,   0, 1,    0,     S24_GEMM_SPARSE, 1e-2},
    {"dense bf16 bias+relu",        128, 64,  256,  S24_BF16,    S24_BF16, R, C, C,
        0,  0,  1,  1,   0,   0,   0, 1,    0,     S24_GEMM_DENSE,  1e-2},
    /* clang-format on */
};

static void test_refusals(void)
{
    struct s24_gemm_desc d;
    s24_gemm_plan_t *p = NULL;
    void *dw = NULL;
    /* a shape that breaks the size rule is refused up front with a message */
    s24_gemm_desc_init(&d, 24, 64, 64, S24_F16);
    CHECK(s24_gemm_plan_init(G, &d, S24_GEMM_SPARSE, &p) == S24_ERR_UNSUPPORTED && p == NULL);
    CHECK(strstr(s24_last_error(), "pad to 32") != NULL, "%s", s24_last_error());
    if (!have_sparse) return;
    /* a dense weight given as "already 2:4" is refused */
    s24_gemm_desc_init(&d, 64, 64, 64, S24_F16);
    CHECK_OK(s24_gemm_plan_init(G, &d, S24_GEMM_SPARSE, &p));
    CHECK_OK(s24_gpu_alloc(G, s24_gemm_bytes(S24_F16, 64, 64), &dw));
    CHECK_OK(s24_gpu_fill_random(G, S24_F16, dw, 64 * 64, 11, 1.0f));
    CHECK(s24_gemm_plan_set_weight(p, dw, 0) == S24_ERR_NOT_SPARSE, "%s", s24_last_error());
    CHECK(s24_gemm_run(p, dw, NULL, dw, NULL, NULL) == S24_ERR_INVALID); /* no weight yet */
    /* the host path with a pruned weight is accepted */
    CHECK_OK(s24_gemm_plan_set_weight(p, dw, 1));
    uint16_t *h = malloc(64 * 64 * 2);
    CHECK_OK(s24_gemm_plan_get_weight(p, dw));
    CHECK_OK(s24_gpu_download(G, h, dw, 64 * 64 * 2));
    CHECK_OK(s24_gemm_plan_set_weight_host(p, h, 0));
    free(h);
    s24_gemm_plan_free(p);
    s24_gpu_mem_free(G, dw);
}

/* A weight in sparse24's portable compressed format reaches the plan intact
 * (W column-major here, so the host transposes), and multiplies correctly. */
static void test_compressed(void)
{
    int64_t m = 128, n = 64, k = 256;
    struct s24_gemm_desc d;
    s24_gemm_plan_t *p = NULL;
    struct s24_compressed c = {0};
    struct s24_view v = {m, k, 1};
    struct s24_rng r;
    uint16_t *w = malloc((size_t)(m * k) * 2), *got = malloc((size_t)(m * k) * 2),
             *x = malloc((size_t)(k * n) * 2);
    uint16_t *dh = malloc((size_t)(m * n) * 2);
    uint8_t *mask = malloc((size_t)(m * k));
    void *dw = NULL, *dx = NULL, *dd = NULL;
    if (!have_sparse) goto out;
    s24_rng_seed(&r, 5);
    for (int64_t i = 0; i < m * k; i++)
        w[i] = s24_f32_to_f16(s24_rng_uniformf(&r, 0.05f, 1.0f) * (i % 3 ? 1 : -1));
    for (int64_t i = 0; i < k * n; i++) x[i] = s24_f32_to_f16(s24_rng_uniformf(&r, -1.0f, 1.0f));
    CHECK_OK(s24_mask_compute(S24_F16, w, v, 2, 4, mask));
    CHECK_OK(s24_mask_apply(S24_F16, w, v, mask));
    CHECK_OK(s24_compress(S24_F16, w, v, &c));
    s24_gemm_desc_init(&d, m, n, k, S24_F16);
    d.w_order = S24_ORDER_COL;
    CHECK_OK(s24_gemm_plan_init(G, &d, S24_GEMM_SPARSE, &p));
    if (!p) goto out;
    CHECK_OK(s24_gemm_plan_set_weight_compressed(p, &c));
    CHECK_OK(s24_gpu_alloc(G, (size_t)(m * k) * 2, &dw));
    CHECK_OK(s24_gemm_plan_get_weight(p, dw));
    CHECK_OK(s24_gpu_download(G, got, dw, (size_t)(m * k) * 2));
    int64_t diff = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < k; j++) diff += got[j * m + i] != w[i * k + j];
    CHECK(diff == 0, "compressed weight: %lld elements differ", (long long)diff);
    CHECK_OK(s24_gpu_alloc(G, (size_t)(k * n) * 2, &dx));
    CHECK_OK(s24_gpu_alloc(G, (size_t)(m * n) * 2, &dd));
    CHECK_OK(s24_gpu_upload(G, dx, x, (size_t)(k * n) * 2));
    CHECK_OK(s24_gpu_fill_bytes(G, dd, 0xff, (size_t)(m * n) * 2));
    CHECK_OK(s24_gemm_run(p, dx, NULL, dd, NULL, NULL));
    CHECK_OK(s24_gpu_download(G, dh, dd, (size_t)(m * n) * 2));
    double num = 0, den = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t q = 0; q < k; q++)
                acc += (double)s24_f16_to_f32(w[i * k + q]) * s24_f16_to_f32(x[j * k + q]);
            double g = s24_f16_to_f32(dh[j * m + i]);
            num += (g - acc) * (g - acc);
            den += acc * acc;
        }
    CHECK(sqrt(num / den) < 2e-3, "compressed: rel err %g", sqrt(num / den));
    /* a mismatched compressed weight is refused */
    c.k = k / 2;
    CHECK(s24_gemm_plan_set_weight_compressed(p, &c) == S24_ERR_INVALID);
    c.k = k;
out:
    s24_compressed_free(&c);
    s24_gemm_plan_free(p);
    s24_gpu_mem_free(G, dw), s24_gpu_mem_free(G, dx), s24_gpu_mem_free(G, dd);
    free(w), free(got), free(x), free(dh), free(mask);
}

/* Many small calls captured in one graph give the same result as eager calls,
 * and the timing helpers return positive, ordered numbers. */
static void test_graph_and_timing(void)
{
    struct s24_gemm_desc d;
    s24_gemm_plan_t *p = NULL;
    void *dw = NULL, *dx = NULL, *dd = NULL;
    int64_t m = 512, n = 256, k = 512;
    if (!have_sparse) return;
    s24_gemm_desc_init(&d, m, n, k, S24_F16);
    CHECK_OK(s24_gemm_plan_init(G, &d, S24_GEMM_SPARSE, &p));
    CHECK_OK(s24_gpu_alloc(G, s24_gemm_bytes(S24_F16, m, k), &dw));
    CHECK_OK(s24_gpu_alloc(G, s24_gemm_bytes(S24_F16, k, n), &dx));
    CHECK_OK(s24_gpu_alloc(G, s24_gemm_bytes(S24_F16, m, n), &dd));
    CHECK_OK(s24_gpu_fill_random(G, S24_F16, dw, m * k, 21, 1.0f));
    CHECK_OK(s24_gpu_fill_random(G, S24_F16, dx, k * n, 22, 1.0f));
    CHECK_OK(s24_gemm_plan_set_weight(p, dw, 1));
    size_t ob = s24_gemm_bytes(S24_F16, m, n);
    uint16_t *a = malloc(ob), *b = malloc(ob);
    CHECK_OK(s24_gemm_run(p, dx, NULL, dd, NULL, NULL));
    CHECK_OK(s24_gpu_download(G, a, dd, ob));
    CHECK_OK(s24_gpu_fill_bytes(G, dd, 0xff, ob));
    s24_graph_t *gr = NULL;
    CHECK_OK(s24_gpu_graph_begin(G));
    for (int i = 0; i < 16; i++) CHECK_OK(s24_gemm_run(p, dx, NULL, dd, NULL, NULL));
    CHECK_OK(s24_gpu_graph_end(G, &gr));
    if (gr) {
        CHECK_OK(s24_gpu_download(G, b, dd, ob));
        CHECK(b[0] == 0xffff, "capture must not run the calls");
        CHECK_OK(s24_graph_launch(gr));
        CHECK_OK(s24_gpu_sync(G));
        CHECK_OK(s24_gpu_download(G, b, dd, ob));
        CHECK(memcmp(a, b, ob) == 0, "graph replay differs from an eager call");
        s24_graph_free(gr);
    }
    struct s24_gemm_timing tm;
    CHECK_OK(s24_gemm_time(p, dx, NULL, dd, 3, 21, 1, &tm));
    CHECK(tm.median_ms > 0 && tm.min_ms <= tm.median_ms && tm.median_ms <= tm.max_ms &&
          tm.repeats == 21);
    /* interleaved pair: a dense plan of the same weight against the sparse one */
    {
        s24_gemm_plan_t *q = NULL;
        struct s24_gemm_timing pt[2];
        CHECK_OK(s24_gemm_plan_init(G, &d, S24_GEMM_DENSE, &q));
        CHECK_OK(s24_gemm_plan_set_weight(q, dw, 1));
        CHECK_OK(s24_gemm_time_pair(q, p, dx, NULL, dd, 2, 15, 1, pt));
        CHECK(pt[0].repeats == 15 && pt[1].repeats == 15 && pt[0].median_ms > 0 &&
              pt[1].median_ms > 0);
        CHECK(pt[0].min_ms <= pt[0].median_ms && pt[1].median_ms <= pt[1].max_ms);
        printf("  pair 512x256x512 fp16: dense %.4f ms, sparse %.4f ms\n", pt[0].median_ms,
               pt[1].median_ms);
        /* one plan twice: what the interleaving itself does to the second slot */
        CHECK_OK(s24_gemm_time_pair(q, q, dx, NULL, dd, 2, 51, 1, pt));
        CHECK(pt[0].median_ms > 0 && pt[1].median_ms > 0);
        printf("  pair of one dense plan: slot 0 %.4f ms, slot 1 %.4f ms\n", pt[0].median_ms,
               pt[1].median_ms);
        s24_gemm_plan_free(q);
    }
    double run_us = 0, raw_us = 0, gus = 0, eus = 0;
    CHECK_OK(s24_gemm_host_cost(p, dx, NULL, dd, 50, &run_us, &raw_us));
    CHECK(run_us > 0 && raw_us > 0);
    CHECK_OK(s24_gemm_graph_time(p, dx, NULL, dd, 32, 5, &gus, &eus));
    CHECK(gus > 0 && eus > 0);
    printf("  timing 512x256x512 fp16: %.4f ms median, host %.2f us/call (raw %.2f), graph %.2f "
           "us/call, eager %.2f\n",
           tm.median_ms, run_us, raw_us, gus, eus);
    free(a), free(b);
    s24_gemm_plan_free(p);
    s24_gpu_mem_free(G, dw), s24_gpu_mem_free(G, dx), s24_gpu_mem_free(G, dd);
}

/* ||a - b|| / ||b|| of two fp16 outputs */
static double f16_rel(const uint16_t *a, const uint16_t *b, int64_t count)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < count; i++) {
        double x = s24_f16_to_f32(a[i]), y = s24_f16_to_f32(b[i]);
        num += (x - y) * (x - y);
        den += y * y;
    }
    return sqrt(num / den);
}

/* Every cuSPARSELt configuration of one fp16 shape against the default
 * configuration's output: a configuration that runs but disagrees is what
 * the search's check (s24_sp_search) exists to catch, so it is listed. Then
 * a searched plan, which must agree whatever the search picked. */
static void test_every_config(void)
{
    const int64_t m = 512, n = 256, k = 1024;
    struct s24_gemm_desc d;
    s24_gemm_plan_t *p = NULL;
    void *dw = NULL, *dx = NULL, *dd = NULL;
    struct s24_gemm_plan_info info;
    size_t ob = s24_gemm_bytes(S24_F16, m, n);
    uint16_t *ref = malloc(ob), *got = malloc(ob);
    int wrong = 0, refused = 0, ran = 0;
    if (!have_sparse || !ref || !got) goto out;
    CHECK_OK(s24_gpu_alloc(G, s24_gemm_bytes(S24_F16, m, k), &dw));
    CHECK_OK(s24_gpu_alloc(G, s24_gemm_bytes(S24_F16, k, n), &dx));
    CHECK_OK(s24_gpu_alloc(G, ob, &dd));
    CHECK_OK(s24_gpu_fill_random(G, S24_F16, dw, m * k, 31, 1.0f));
    CHECK_OK(s24_gpu_fill_random(G, S24_F16, dx, k * n, 32, 1.0f));
    s24_gemm_desc_init(&d, m, n, k, S24_F16);
    CHECK_OK(s24_gemm_plan_init(G, &d, S24_GEMM_SPARSE, &p));
    if (!p) goto out;
    CHECK_OK(s24_gemm_plan_set_weight(p, dw, 1));
    CHECK_OK(s24_gemm_run(p, dx, NULL, dd, NULL, NULL));
    CHECK_OK(s24_gpu_sync(G));
    CHECK_OK(s24_gpu_download(G, ref, dd, ob));
    CHECK_OK(s24_gemm_plan_info(p, &info));
    s24_gemm_plan_free(p);
    p = NULL;
    printf("  every configuration of fp16 %lldx%lldx%lld (0..%d):", (long long)m, (long long)n,
           (long long)k, info.alg_max);
    for (int id = 0; id <= info.alg_max; id++) {
        d.alg_id = id;
        if (s24_gemm_plan_init(G, &d, S24_GEMM_SPARSE, &p) != S24_OK ||
            s24_gemm_plan_set_weight(p, dw, 1) != S24_OK ||
            s24_gpu_fill_bytes(G, dd, 0xff, ob) != S24_OK ||
            s24_gemm_run(p, dx, NULL, dd, NULL, NULL) != S24_OK || s24_gpu_sync(G) != S24_OK) {
            refused++;
            s24_clear_error();
        } else {
            CHECK_OK(s24_gpu_download(G, got, dd, ob));
            double rel = f16_rel(got, ref, m * n);
            ran++;
            if (!(rel <= 1e-2)) {
                wrong++;
                printf(" #%d wrong (rel %.2g)", id, rel);
            }
        }
        s24_gemm_plan_free(p);
        p = NULL;
    }
    printf("\n  %d ran, %d refused, %d disagree with the default\n", ran, refused, wrong);
    CHECK(ran > 0);
    /* the searched plan agrees with the default whatever it picked */
    d.alg_id = -1;
    d.search = 1;
    CHECK_OK(s24_gemm_plan_init(G, &d, S24_GEMM_SPARSE, &p));
    if (p) {
        CHECK_OK(s24_gemm_plan_set_weight(p, dw, 1));
        CHECK_OK(s24_gemm_plan_tune(p, dx, NULL, dd));
        CHECK_OK(s24_gpu_fill_bytes(G, dd, 0xff, ob));
        CHECK_OK(s24_gemm_run(p, dx, NULL, dd, NULL, NULL));
        CHECK_OK(s24_gpu_sync(G));
        CHECK_OK(s24_gpu_download(G, got, dd, ob));
        double rel = f16_rel(got, ref, m * n);
        CHECK_OK(s24_gemm_plan_info(p, &info));
        CHECK(rel <= 1e-2, "searched plan (alg %d%s) disagrees with the default: rel %.3g",
              info.alg_id, info.search_rejected ? ", search rejected" : "", rel);
        printf("  searched: alg %d%s\n", info.alg_id,
               info.search_rejected ? " (search rejected, default kept)" : "");
    }
out:
    s24_gemm_plan_free(p);
    free(ref), free(got);
    s24_gpu_mem_free(G, dw), s24_gpu_mem_free(G, dx), s24_gpu_mem_free(G, dd);
}

int main(void)
{
    /* line-buffered, so a run cut short by a timeout still shows where it was */
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = s24_gpu_init(0, &G);
    if (rc != S24_OK) {
        printf("test_gemm_gpu: skipped: %s\n", s24_last_error());
        CHECK(rc == S24_ERR_NO_DEVICE || rc == S24_ERR_CUDA);
        return t_done("test_gemm_gpu");
    }
    struct s24_gpu_props pr;
    CHECK_OK(s24_gpu_props(G, &pr));
    have_sparse = pr.cusparselt > 0;
    printf("  %s sm_%d%d, cuSPARSELt %d, cuBLASLt %d\n", pr.name, pr.cc_major, pr.cc_minor,
           pr.cusparselt, pr.cublaslt);
    printf("  refusals ...\n");
    test_refusals();
    printf("  compressed weight ...\n");
    test_compressed();
    printf("  every configuration ...\n");
    test_every_config();
    printf("  graph and timing ...\n");
    test_graph_and_timing();
    /* the bias cases come last in the table: one hung a run with cuSPARSELt 0.8.0 */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], 1000 + 17 * i);
    s24_gpu_free(G);
    return t_done("test_gemm_gpu");
}
