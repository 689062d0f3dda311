/* test_mask.c: N:M masks against a brute force over every n-of-m subset
 * (ties and NaN included, many (n, m) pairs, inner > 1), the dtype
 * invariance of masks, OIHW vs OHWI grouping, the checks, magnitude figures
 * on hand-computed cases and against a sort, efficacy, bad arguments, and the
 * speed on a ResNet-sized weight. */
#include "t.h"

#include <stdint.h>

/* Magnitudes drawn from a small set so ties are frequent; codes 8 and 9 are
 * +inf and NaN (brute-force weights 999 and 1000: larger than any value). */
static double code_value(int code, int neg)
{
    double v = code == 8 ? INFINITY : code == 9 ? NAN : 0.5 * code;
    return neg ? -v : v;
}
static double code_weight(int code) { return code == 8 ? 999 : code == 9 ? 1000 : code; }

/* The best subset: largest total weight, then the lexicographically smallest
 * sorted index list (= lower index wins among equal magnitudes). */
static unsigned brute_force(const int *code, int n, int m)
{
    unsigned best = 0;
    double best_w = -1;
    for (unsigned s = 0; s < (1u << m); s++) {
        if (__builtin_popcount(s) != n) continue;
        double wsum = 0;
        for (int j = 0; j < m; j++)
            if (s >> j & 1) wsum += code_weight(code[j]);
        int better = wsum > best_w;
        if (wsum == best_w) { /* compare sorted index lists */
            for (int j = 0; j < m; j++) {
                int a = s >> j & 1, b = best >> j & 1;
                if (a != b) {
                    better = a; /* s holds the lower index first */
                    break;
                }
            }
        }
        if (better) {
            best = s;
            best_w = wsum;
        }
    }
    return best;
}

static void fill_dtype(enum s24_dtype dt, void *w, int64_t i, double x)
{
    switch (dt) {
    case S24_F32: ((float *)w)[i] = (float)x; break;
    case S24_F64: ((double *)w)[i] = x; break;
    case S24_F16: ((uint16_t *)w)[i] = s24_f32_to_f16((float)x); break;
    case S24_BF16: ((uint16_t *)w)[i] = s24_f32_to_bf16((float)x); break;
    default: break;
    }
}

static void test_brute_force(void)
{
    static const int nm[][2] = {{2, 4}, {1, 4}, {3, 4}, {1, 2}, {2, 8}, {4, 8}, {1, 3},
                                {2, 3}, {5, 8}, {7, 8}, {3, 16}, {8, 16}, {15, 16}, {2, 6}};
    static const enum s24_dtype dts[] = {S24_F32, S24_F64, S24_F16, S24_BF16};
    struct s24_rng r;
    s24_rng_seed(&r, 11);
    int wrong = 0, cases = 0, mism = 0;
    for (size_t p = 0; p < sizeof nm / sizeof nm[0]; p++) {
        int n = nm[p][0], m = nm[p][1];
        for (int rep = 0; rep < 6; rep++) {
            struct s24_view v = {1 + (int64_t)s24_rng_below(&r, 4),
                                 m * (1 + (int64_t)s24_rng_below(&r, 4)),
                                 1 + (int64_t)s24_rng_below(&r, 3)};
            int64_t total = v.outer * v.red * v.inner;
            int *code = malloc((size_t)total * sizeof(int));
            void *w = malloc((size_t)total * 8);
            uint8_t *mask = malloc((size_t)total), *mask0 = malloc((size_t)total);
            /* rep 0: every value equal (pure index tie-break) */
            int spread = rep == 0 ? 1 : rep < 3 ? 4 : 10;
            for (int64_t e = 0; e < total; e++)
                code[e] = rep == 0 ? 3 : (int)s24_rng_below(&r, spread);
            for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
                for (int64_t e = 0; e < total; e++)
                    fill_dtype(dts[d], w, e, code_value(code[e], (int)s24_rng_below(&r, 2)));
                memset(mask, 0xAA, (size_t)total); /* poison */
                CHECK_OK(s24_mask_compute(dts[d], w, v, n, m, mask));
                if (d == 0) memcpy(mask0, mask, (size_t)total);
                else if (memcmp(mask, mask0, (size_t)total)) mism++;
                for (int64_t o = 0; o < v.outer; o++)
                    for (int64_t g = 0; g < v.red / m; g++)
                        for (int64_t i = 0; i < v.inner; i++) {
                            int gc[16];
                            unsigned got = 0;
                            for (int j = 0; j < m; j++) {
                                int64_t e = (o * v.red + g * m + j) * v.inner + i;
                                gc[j] = code[e];
                                if (mask[e] == 1) got |= 1u << j;
                                else if (mask[e] != 0) got |= 1u << 20; /* not 0/1 */
                            }
                            cases++;
                            if (got != brute_force(gc, n, m)) wrong++;
                        }
                CHECK_OK(s24_mask_check_mask(mask, v, n, m));
            }
            free(code);
            free(w);
            free(mask);
            free(mask0);
        }
    }
    CHECK(wrong == 0, "%d of %d groups differ from the brute force", wrong, cases);
    CHECK(mism == 0, "%d masks differ between dtypes holding the same values", mism);
    CHECK(cases > 1000, "only %d groups tested", cases);
}

/* Continuous random data: an fp16 / bf16 weight gets the mask of its fp32
 * conversion (the conversion is exact and order-preserving). */
static void test_dtype_invariance(void)
{
    struct s24_rng r;
    s24_rng_seed(&r, 5);
    struct s24_view v = {64, 128, 9};
    int64_t total = v.outer * v.red * v.inner;
    uint16_t *h = malloc((size_t)total * 2), *b = malloc((size_t)total * 2);
    float *fh = malloc((size_t)total * 4), *fb = malloc((size_t)total * 4);
    uint8_t *m1 = malloc((size_t)total), *m2 = malloc((size_t)total);
    for (int64_t e = 0; e < total; e++) {
        float x = (float)(s24_rng_normal(&r) * 0.05);
        h[e] = s24_f32_to_f16(x);
        b[e] = s24_f32_to_bf16(x);
        fh[e] = s24_f16_to_f32(h[e]);
        fb[e] = s24_bf16_to_f32(b[e]);
    }
    CHECK_OK(s24_mask_compute(S24_F16, h, v, 2, 4, m1));
    CHECK_OK(s24_mask_compute(S24_F32, fh, v, 2, 4, m2));
    CHECK(memcmp(m1, m2, (size_t)total) == 0, "fp16 mask differs from its fp32 conversion's");
    CHECK_OK(s24_mask_compute(S24_BF16, b, v, 2, 4, m1));
    CHECK_OK(s24_mask_compute(S24_F32, fb, v, 2, 4, m2));
    CHECK(memcmp(m1, m2, (size_t)total) == 0, "bf16 mask differs from its fp32 conversion's");
    free(h);
    free(b);
    free(fh);
    free(fb);
    free(m1);
    free(m2);
}

/* PyTorch OIHW and the engine's OHWI give the same groups. */
static void test_oihw_ohwi(void)
{
    const int64_t O = 16, I = 32, KH = 3, KW = 3;
    int64_t shape[4] = {O, I, KH, KW};
    struct s24_view vo, vh = {O * KH * KW, I, 1};
    CHECK_OK(s24_view_of_shape(4, shape, &vo));
    CHECK(vo.outer == O && vo.red == I && vo.inner == KH * KW);
    int64_t total = O * I * KH * KW;
    float *oihw = malloc((size_t)total * 4), *ohwi = malloc((size_t)total * 4);
    uint8_t *m1 = malloc((size_t)total), *m2 = malloc((size_t)total);
    struct s24_rng r;
    s24_rng_seed(&r, 9);
    for (int64_t e = 0; e < total; e++) oihw[e] = s24_rng_uniformf(&r, -1, 1);
    for (int64_t o = 0; o < O; o++)
        for (int64_t i = 0; i < I; i++)
            for (int64_t k = 0; k < KH * KW; k++)
                ohwi[(o * KH * KW + k) * I + i] = oihw[(o * I + i) * KH * KW + k];
    CHECK_OK(s24_mask_compute(S24_F32, oihw, vo, 2, 4, m1));
    CHECK_OK(s24_mask_compute(S24_F32, ohwi, vh, 2, 4, m2));
    int diff = 0;
    for (int64_t o = 0; o < O; o++)
        for (int64_t i = 0; i < I; i++)
            for (int64_t k = 0; k < KH * KW; k++)
                diff += m2[(o * KH * KW + k) * I + i] != m1[(o * I + i) * KH * KW + k];
    CHECK(diff == 0, "%d mask entries differ between OIHW and OHWI", diff);
    int64_t s2[2] = {10, 512};
    struct s24_view vl;
    CHECK_OK(s24_view_of_shape(2, s2, &vl));
    CHECK(vl.outer == 10 && vl.red == 512 && vl.inner == 1);
    int64_t s1[1] = {8}, s5[5] = {1, 2, 3, 4, 5}, s0[2] = {0, 4};
    CHECK(s24_view_of_shape(1, s1, &vl) == S24_ERR_INVALID);
    CHECK(s24_view_of_shape(5, s5, &vl) == S24_ERR_INVALID);
    CHECK(s24_view_of_shape(2, s0, &vl) == S24_ERR_INVALID);
    free(oihw);
    free(ohwi);
    free(m1);
    free(m2);
}

static void test_checks(void)
{
    struct s24_rng r;
    s24_rng_seed(&r, 3);
    struct s24_view v = {8, 32, 3};
    int64_t total = v.outer * v.red * v.inner;
    float *w = malloc((size_t)total * 4);
    uint8_t *mask = malloc((size_t)total);
    int64_t bad = -1;
    for (int64_t e = 0; e < total; e++) w[e] = s24_rng_uniformf(&r, 0.1f, 1) * (e & 1 ? -1 : 1);
    CHECK(s24_mask_check(S24_F32, w, v, 2, 4, &bad) == S24_ERR_NOT_SPARSE);
    CHECK(bad == v.outer * v.inner * v.red / 4, "bad = %lld", (long long)bad);
    CHECK(strstr(s24_last_error(), "groups") != NULL, "%s", s24_last_error());
    CHECK_OK(s24_mask_compute(S24_F32, w, v, 2, 4, mask));
    CHECK_OK(s24_mask_apply(S24_F32, w, v, mask));
    int kept_ok = 1;
    for (int64_t e = 0; e < total; e++) {
        uint32_t u;
        memcpy(&u, &w[e], 4);
        if (mask[e] ? w[e] == 0 : u != 0) kept_ok = 0; /* pruned must be +0.0 exactly */
    }
    CHECK(kept_ok, "mask_apply did not zero exactly the pruned elements with +0.0");
    CHECK_OK(s24_mask_check(S24_F32, w, v, 2, 4, &bad));
    CHECK(bad == 0);
    CHECK_OK(s24_mask_check(S24_F32, w, v, 3, 4, NULL));
    CHECK(s24_mask_check(S24_F32, w, v, 1, 4, &bad) == S24_ERR_NOT_SPARSE);
    /* -0.0 is numerically zero: a PyTorch w * mask leaves it behind */
    int64_t pruned = -1;
    for (int64_t e = 0; e < total && pruned < 0; e++)
        if (!mask[e]) pruned = e;
    w[pruned] = -0.0f;
    CHECK_OK(s24_mask_check(S24_F32, w, v, 2, 4, &bad));
    w[pruned] = 1e-30f;
    CHECK(s24_mask_check(S24_F32, w, v, 2, 4, &bad) == S24_ERR_NOT_SPARSE);
    CHECK(bad == 1, "bad = %lld", (long long)bad);
    w[pruned] = NAN; /* NaN is not zero */
    CHECK(s24_mask_check(S24_F32, w, v, 2, 4, &bad) == S24_ERR_NOT_SPARSE && bad == 1);
    /* mask checks */
    CHECK_OK(s24_mask_check_mask(mask, v, 2, 4));
    CHECK(s24_mask_check_mask(mask, v, 1, 4) != S24_OK);
    mask[pruned] = 1;
    CHECK(s24_mask_check_mask(mask, v, 2, 4) != S24_OK);
    mask[pruned] = 2;
    CHECK(s24_mask_check_mask(mask, v, 2, 4) != S24_OK);
    /* bad arguments give codes and messages, never crashes */
    struct s24_view odd = {8, 30, 3};
    s24_clear_error();
    CHECK(s24_mask_compute(S24_F32, w, odd, 2, 4, mask) == S24_ERR_INVALID);
    CHECK(strstr(s24_last_error(), "multiple of M=4") != NULL, "%s", s24_last_error());
    CHECK(s24_mask_compute(S24_F32, w, v, 4, 4, mask) == S24_ERR_INVALID);
    CHECK(s24_mask_compute(S24_F32, w, v, 0, 4, mask) == S24_ERR_INVALID);
    CHECK(s24_mask_compute(S24_F32, w, (struct s24_view){8, 32 * 17, 3}, 2, 17, mask) ==
          S24_ERR_INVALID);
    CHECK(s24_mask_compute(S24_I32, w, v, 2, 4, mask) == S24_ERR_UNSUPPORTED);
    CHECK(s24_mask_compute(S24_F32, w, (struct s24_view){0, 32, 3}, 2, 4, mask) == S24_ERR_INVALID);
    CHECK(s24_mask_compute(S24_F32, NULL, v, 2, 4, mask) == S24_ERR_INVALID);
    CHECK(s24_mask_check(S24_F32, w, odd, 2, 4, &bad) == S24_ERR_INVALID);
    struct s24_magnitude mg;
    CHECK(s24_magnitude(S24_F32, w, odd, 2, 4, &mg) == S24_ERR_INVALID);
    free(w);
    free(mask);
}

static void test_magnitude(void)
{
    /* one row [1, -2, 3, .5 | 4, 4, -4, 1]: 2:4 keeps {3, -2} and {4, 4}
     * (the tie among the three 4s goes to the lower indices) */
    float a[8] = {1, -2, 3, 0.5f, 4, 4, -4, 1};
    struct s24_magnitude mg;
    CHECK_OK(s24_magnitude(S24_F32, a, (struct s24_view){1, 8, 1}, 2, 4, &mg));
    CHECK(mg.total == 19.5 && mg.kept == 13 && mg.row_bound == 15, "%g %g %g", mg.total,
          mg.kept, mg.row_bound);
    /* inner = 2: two lines (0, 0) = [1, 3, 5, 7] and (0, 1) = [-8, 6, -4, 2] */
    float b[8] = {1, -8, 3, 6, 5, -4, 7, 2};
    CHECK_OK(s24_magnitude(S24_F32, b, (struct s24_view){1, 4, 2}, 2, 4, &mg));
    CHECK(mg.total == 36 && mg.kept == 12 + 14 && mg.row_bound == 26, "%g %g %g", mg.total,
          mg.kept, mg.row_bound);
    /* 1:2 over a row of 8: kept per pair vs best 4 of the row */
    double c[8] = {9, 8, 7, 6, 1, 2, 3, 4};
    CHECK_OK(s24_magnitude(S24_F64, c, (struct s24_view){1, 8, 1}, 1, 2, &mg));
    CHECK(mg.total == 40 && mg.kept == 9 + 7 + 2 + 4 && mg.row_bound == 30);
    CHECK_NEAR(s24_efficacy(22, 26, 30), 50.0, 1e-12);
    CHECK(s24_efficacy(30, 30, 30) == 0.0);
    CHECK_NEAR(s24_efficacy(10, 10, 20), 0.0, 0);
    CHECK_NEAR(s24_efficacy(10, 20, 20), 100.0, 1e-12);

    /* all-equal rows (quickselect's worst case for a naive partition) and zeros */
    {
        struct s24_view ve = {3, 1024, 2};
        float *e = malloc(3 * 1024 * 2 * sizeof(float));
        for (int x = 0; x < 3 * 1024 * 2; x++) e[x] = x < 2048 ? 0.25f : 0.0f;
        CHECK_OK(s24_magnitude(S24_F32, e, ve, 2, 4, &mg));
        CHECK(mg.total == 512 && mg.kept == 256 && mg.row_bound == 256, "%g %g %g", mg.total,
              mg.kept, mg.row_bound);
        e[5] = NAN; /* NaN counts as the largest magnitude: the sums become +inf */
        CHECK_OK(s24_magnitude(S24_F32, e, ve, 2, 4, &mg));
        CHECK(isinf(mg.total) && isinf(mg.kept) && isinf(mg.row_bound));
        free(e);
    }

    /* random: row_bound against a sort, kept against mask_compute */
    struct s24_rng r;
    s24_rng_seed(&r, 21);
    struct s24_view v = {6, 48, 5};
    int64_t total = v.outer * v.red * v.inner;
    float *w = malloc((size_t)total * 4);
    uint8_t *mask = malloc((size_t)total);
    for (int64_t e = 0; e < total; e++) w[e] = (float)s24_rng_normal(&r);
    CHECK_OK(s24_magnitude(S24_F32, w, v, 2, 4, &mg));
    CHECK_OK(s24_mask_compute(S24_F32, w, v, 2, 4, mask));
    double tot = 0, kept = 0, bound = 0;
    for (int64_t e = 0; e < total; e++) {
        tot += fabs(w[e]);
        if (mask[e]) kept += fabs(w[e]);
    }
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            double row[48];
            for (int64_t k = 0; k < v.red; k++) row[k] = fabs(w[(o * v.red + k) * v.inner + i]);
            for (int x = 1; x < 48; x++) /* insertion sort, descending */
                for (int y = x; y > 0 && row[y] > row[y - 1]; y--) {
                    double t = row[y];
                    row[y] = row[y - 1];
                    row[y - 1] = t;
                }
            for (int k = 0; k < 24; k++) bound += row[k];
        }
    CHECK_NEAR(mg.total, tot, 1e-9 * tot);
    CHECK_NEAR(mg.kept, kept, 1e-9 * tot);
    CHECK_NEAR(mg.row_bound, bound, 1e-9 * tot);
    CHECK(mg.kept <= mg.row_bound && mg.row_bound <= mg.total);
    free(w);
    free(mask);
}

/* ResNet18's largest conv (512 x 512 x 3 x 3, 2.4 M weights). */
static void test_speed(void)
{
    struct s24_view v = {512, 512, 9};
    int64_t total = v.outer * v.red * v.inner;
    float *w = malloc((size_t)total * 4);
    uint8_t *mask = malloc((size_t)total);
    struct s24_rng r;
    s24_rng_seed(&r, 1);
    for (int64_t e = 0; e < total; e++) w[e] = s24_rng_uniformf(&r, -1, 1);
    double t0 = s24_now();
    CHECK_OK(s24_mask_compute(S24_F32, w, v, 2, 4, mask));
    double t1 = s24_now();
    struct s24_magnitude mg;
    CHECK_OK(s24_magnitude(S24_F32, w, v, 2, 4, &mg));
    double t2 = s24_now();
    CHECK_OK(s24_mask_check_mask(mask, v, 2, 4));
    printf("512x512x3x3 fp32: mask %.1f ms, magnitude %.1f ms (%d threads)\n", 1e3 * (t1 - t0),
           1e3 * (t2 - t1), s24_threads_get());
    /* generous: sanitizer builds are several times slower */
    CHECK(t1 - t0 < 2.0 && t2 - t1 < 4.0);
    free(w);
    free(mask);
}

int main(void)
{
    test_brute_force();
    test_dtype_invariance();
    test_oihw_ohwi();
    test_checks();
    test_magnitude();
    test_speed();
    return t_done("test_mask");
}
