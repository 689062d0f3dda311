/* test_spmm_conv.c: the 2:4 convolution without a column matrix
 * (s24_spmm_conv_run) against s24_conv2d_ref_fwd on the decompressed weight
 * and against the explicit path it replaces (im2col, then s24_spmm_plan_run
 * on the same plan), for every SIMD path this CPU has, both kernel forms, 1
 * and 2 threads, whole and split position ranges, and shapes that hit the
 * packer's edges: 3x3 stride 1 and 2 with padding, 1x1 stride 1 and 2, odd
 * sizes, batches 1..3, channel counts not multiples of the 16-column group,
 * K crossing a tap boundary inside a K block and crossing the K block,
 * positions crossing the packed chunk. Small-integer inputs make every sum
 * exact, so the comparisons are bit for bit; random reals are held to fp32
 * rounding against the reference. */
#include "t.h"

#include "cpu/cpu_nn.h"
#include "cpu/spmm_internal.h"

#include <math.h>
#include <stdint.h>

static const struct { int64_t n, h, w, c, oc, k, stride, pad; } shapes[] = {
    {1, 8, 8, 16, 24, 3, 1, 1},   {2, 7, 9, 12, 10, 3, 2, 1}, {3, 5, 5, 4, 7, 1, 1, 0},
    {1, 9, 7, 20, 13, 1, 2, 0},   {2, 6, 6, 64, 64, 3, 1, 1}, /* K = 576: two K blocks */
    {1, 6, 5, 132, 70, 3, 1, 1},  /* taps straddle the K block */
    {2, 20, 20, 8, 6, 3, 1, 1},   /* 800 positions: two packed chunks */
    {1, 3, 3, 36, 1, 3, 2, 1},    /* one output channel, 2x2 output */
    {3, 4, 4, 256, 19, 3, 2, 1},  /* K = 2304 */
};

static const struct {
    enum s24_spmm_form form;
    int64_t ks;
} forms[] = {{S24_SPMM_FORM_PANEL, 0}, {S24_SPMM_FORM_SUB, 0}, {S24_SPMM_FORM_SUB, 16}};

/* Small integers (|v| in 1..3) or reals in +-[0.05, 1), never zero. */
static float rnd(struct s24_rng *r, int ints)
{
    if (ints) {
        float v = (float)(1 + s24_rng_below(r, 3));
        return s24_rng_below(r, 2) ? v : -v;
    }
    float v = 0.05f + 0.95f * s24_rng_uniform(r);
    return s24_rng_below(r, 2) ? v : -v;
}

/* The explicit column matrix: cols (K, NP), rows (kh, kw, c). */
static void im2col(const struct s24_conv_shape *s, const float *x, float *cols)
{
    const int64_t K = s->kh * s->kw * s->c, P = s->oh * s->ow, NP = s->n * P;
    for (int64_t q = 0; q < NP; q++) {
        const int64_t n = q / P, oh = q % P / s->ow, ow = q % s->ow;
        for (int64_t kh = 0; kh < s->kh; kh++)
            for (int64_t kw = 0; kw < s->kw; kw++) {
                const int64_t ih = oh * s->stride - s->pad + kh, iw = ow * s->stride - s->pad + kw;
                const int in = ih >= 0 && ih < s->h && iw >= 0 && iw < s->w;
                for (int64_t c = 0; c < s->c; c++)
                    cols[((kh * s->kw + kw) * s->c + c) * NP + q] =
                        in ? x[((n * s->h + ih) * s->w + iw) * s->c + c] : 0.0f;
            }
    }
    (void)K;
}

static void check_shape(struct s24_rng *rng, size_t si, int ints)
{
    static const char *isas[] = {"scalar", "avx2", "avx512"};
    struct s24_conv_shape s = {shapes[si].n, shapes[si].h, shapes[si].w, shapes[si].c,
                               shapes[si].oc, shapes[si].k, shapes[si].k, shapes[si].stride,
                               shapes[si].pad, 1, 0, 0};
    CHECK_OK(s24_conv_shape_init(&s));
    const int64_t K = s.kh * s.kw * s.c, NP = s.n * s.oh * s.ow, oc = s.oc;
    const size_t xe = (size_t)(s.n * s.h * s.w * s.c), ce = (size_t)(oc * NP);
    float *x = malloc(xe * sizeof(float));            /* x: (n, h, w, c) */
    float *w = calloc((size_t)(oc * K), sizeof(float)); /* w: (oc, kh, kw, c), 2:4 along K */
    float *y = malloc(ce * sizeof(float));            /* y: (n, oh, ow, oc), the reference */
    float *cols = malloc((size_t)(K * NP) * sizeof(float)); /* cols: (K, NP) */
    float *ce_ = malloc(ce * sizeof(float));          /* explicit product (oc, NP) */
    float *ci = malloc(ce * sizeof(float));           /* implicit product (oc, NP) */
    struct s24_compressed c;
    memset(&c, 0, sizeof c);
    int ok = x && w && y && cols && ce_ && ci;
    CHECK(ok, "allocation");
    if (!ok) goto done;
    static const int pairs[6][2] = {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}};
    for (size_t i = 0; i < xe; i++) x[i] = rnd(rng, ints);
    for (int64_t o = 0; o < oc; o++)
        for (int64_t g = 0; g < K / 4; g++) {
            const int *pp = pairs[s24_rng_below(rng, 6)];
            for (int t = 0; t < 2; t++) w[o * K + 4 * g + pp[t]] = rnd(rng, ints);
        }
    struct s24_view v = {oc, K, 1};
    CHECK_OK(s24_compress(S24_F32, w, v, &c));
    s24_conv2d_ref_fwd(&s, x, w, NULL, y);
    im2col(&s, x, cols);
    for (size_t ii = 0; ii < 3; ii++) {
        if (s24_spmm_set_isa(isas[ii]) != S24_OK) continue; /* CPU lacks it */
        const size_t nforms = ii == 0 ? 1 : sizeof forms / sizeof forms[0];
        for (size_t fi = 0; fi < nforms; fi++) {
            s24_spmm_force_form(forms[fi].form, forms[fi].ks);
            s24_spmm_plan_t plan = NULL;
            CHECK_OK(s24_spmm_plan_init(&plan, &c));
            if (!plan) continue;
            for (int th = 1; th <= 2; th++) {
                s24_threads_set(th);
                for (size_t e = 0; e < ce; e++) ce_[e] = ci[e] = NAN;
                CHECK_OK(s24_spmm_plan_run(plan, cols, NP, ce_));
                /* whole, then in two pieces split off the tile grid; the
                 * pieces write into a product of their own width */
                CHECK_OK(s24_spmm_conv_run(plan, &s, x, 0, NP, ci));
                int same = !memcmp(ci, ce_, ce * sizeof(float)), exact = 1;
                double worst = 0;
                for (int64_t o = 0; o < oc; o++)
                    for (int64_t q = 0; q < NP; q++) {
                        const float r = y[q * oc + o], got = ci[o * NP + q];
                        if (got != r) exact = 0;
                        double d = fabs((double)got - r) / (fabs((double)r) + 1.0);
                        if (!(d <= worst)) worst = d; /* NaN counts as worst */
                    }
                const int64_t q1 = NP * 2 / 5 + 1 < NP ? NP * 2 / 5 + 1 : NP;
                float *part = malloc(ce * sizeof(float)); /* (oc, NP - q1) then (oc, q1) */
                int split_ok = part != NULL;
                if (part) {
                    CHECK_OK(s24_spmm_conv_run(plan, &s, x, q1, NP - q1, part));
                    for (int64_t o = 0; o < oc && split_ok; o++)
                        for (int64_t q = q1; q < NP; q++)
                            if (part[o * (NP - q1) + q - q1] != ci[o * NP + q]) split_ok = 0;
                    CHECK_OK(s24_spmm_conv_run(plan, &s, x, 0, q1, part));
                    for (int64_t o = 0; o < oc && split_ok; o++)
                        for (int64_t q = 0; q < q1; q++)
                            if (part[o * q1 + q] != ci[o * NP + q]) split_ok = 0;
                    free(part);
                }
                CHECK(same, "%s form %zu th %d shape %zu: implicit != explicit im2col", isas[ii],
                      fi, th, si);
                CHECK(split_ok, "%s form %zu th %d shape %zu: split ranges differ", isas[ii], fi,
                      th, si);
                if (ints)
                    CHECK(exact, "%s form %zu th %d shape %zu: integers not exact (err %g)",
                          isas[ii], fi, th, si, worst);
                else
                    CHECK(worst <= 1e-5, "%s form %zu th %d shape %zu: err %g vs reference",
                          isas[ii], fi, th, si, worst);
            }
            s24_spmm_plan_free(plan);
        }
        s24_spmm_force_form(S24_SPMM_FORM_AUTO, 0);
    }
    CHECK_OK(s24_spmm_set_isa(NULL));
done:
    s24_compressed_free(&c);
    free(x), free(w), free(y), free(cols), free(ce_), free(ci);
}

static void check_errors(void)
{
    struct s24_conv_shape s = {1, 4, 4, 8, 4, 3, 3, 1, 1, 1, 0, 0};
    CHECK_OK(s24_conv_shape_init(&s));
    float w[4 * 72] = {0}, x[128] = {0}, y[64];
    for (int o = 0; o < 4; o++)
        for (int g = 0; g < 18; g++) w[o * 72 + 4 * g] = 1.0f;
    struct s24_compressed c;
    struct s24_view v = {4, 72, 1};
    CHECK_OK(s24_compress(S24_F32, w, v, &c));
    s24_spmm_plan_t plan = NULL;
    CHECK_OK(s24_spmm_plan_init(&plan, &c));
    CHECK(s24_spmm_conv_run(plan, &s, x, 10, 10, y) == S24_ERR_INVALID, "range past the end");
    CHECK(s24_spmm_conv_run(NULL, &s, x, 0, 16, y) == S24_ERR_INVALID, "NULL plan");
    struct s24_conv_shape s2 = s;
    s2.c = 4;
    CHECK(s24_spmm_conv_run(plan, &s2, x, 0, 16, y) == S24_ERR_INVALID, "K mismatch");
    CHECK_OK(s24_spmm_conv_run(plan, &s, x, 0, 0, y));
    s24_spmm_plan_free(plan);
    s24_compressed_free(&c);
}

int main(void)
{
    struct s24_rng rng;
    s24_rng_seed(&rng, 16);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int ints = 0; ints < 2; ints++) check_shape(&rng, si, ints);
    check_errors();
    s24_threads_set(0);
    return t_done("test_spmm_conv");
}
