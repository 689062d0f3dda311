/* test_compress.c: 2:4 compression: the exact layout on a hand example and
 * against an independent encoder, byte-exact round trips for every element
 * size (random 2:4 bit patterns with -0.0, groups with 0 or 1 non-zeros, k
 * not a multiple of 8, inner > 1), refusal of non-2:4 input naming row and
 * group, corrupt metadata, sizes (fp16 = 56.25% of dense). */
#include "t.h"

#include <stdint.h>

static void test_hand_example(void)
{
    /* 2 rows x 12 (three groups, so the last meta byte has a free high nibble) */
    float w[24] = {0, 1, 0, 2,   3, 0, 0, 0,   0, 0, 0, 0,
                   5, 6, 0, 0,   0, 0, 7, 8,   0, -0.0f, 9, 0};
    struct s24_compressed c;
    CHECK_OK(s24_compress(S24_F32, w, (struct s24_view){2, 12, 1}, &c));
    CHECK(c.rows == 2 && c.k == 12 && c.dtype == S24_F32);
    CHECK(s24_meta_row_bytes(12) == 2);
    const float *v = c.values;
    /* row 0: {1,2} at 1,3; {3, 0} at 0,1 (filler 1); {0,0} at 0,1 */
    CHECK(v[0] == 1 && v[1] == 2 && v[2] == 3 && v[3] == 0 && v[4] == 0 && v[5] == 0);
    CHECK(c.meta[0] == (uint8_t)((1 | 3 << 2) | (0 | 1 << 2) << 4), "meta0 %02x", c.meta[0]);
    CHECK(c.meta[1] == (uint8_t)(0 | 1 << 2), "meta1 %02x", c.meta[1]);
    /* row 1: {5,6} at 0,1; {7,8} at 2,3; {-0.0, 9} at 1,2 */
    CHECK(v[6] == 5 && v[7] == 6 && v[8] == 7 && v[9] == 8 && v[11] == 9);
    CHECK(signbit(v[10]) && v[10] == 0, "-0.0 must be kept as a value");
    CHECK(c.meta[2] == (uint8_t)((0 | 1 << 2) | (2 | 3 << 2) << 4));
    CHECK(c.meta[3] == (uint8_t)(1 | 2 << 2));
    CHECK(s24_compressed_bytes(&c) == 2 * (6 * 4 + 2));
    float back[24];
    memset(back, 0x7f, sizeof back);
    CHECK_OK(s24_decompress(&c, (struct s24_view){2, 12, 1}, back));
    CHECK(memcmp(back, w, sizeof w) == 0);
    s24_compressed_free(&c);
    CHECK(c.values == NULL && c.meta == NULL);
    s24_compressed_free(&c); /* twice is harmless */
}

/* Random 2:4 bit patterns: each group gets 0, 1 or 2 non-zero elements at
 * random positions; non-zero patterns are random and include -0.0. */
static void make_24(struct s24_rng *r, size_t es, struct s24_view v, unsigned char *w)
{
    int64_t groups = v.red / 4;
    memset(w, 0, (size_t)(v.outer * v.red * v.inner) * es);
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t g = 0; g < groups; g++)
            for (int64_t i = 0; i < v.inner; i++) {
                int cnt = (int)s24_rng_below(r, 5);
                cnt = cnt > 2 ? 2 : cnt; /* mostly full groups */
                unsigned used = 0;
                while (__builtin_popcount(used) < cnt) used |= 1u << s24_rng_below(r, 4);
                for (int j = 0; j < 4; j++) {
                    if (!(used >> j & 1)) continue;
                    unsigned char *e = w + (size_t)((o * v.red + g * 4 + j) * v.inner + i) * es;
                    uint64_t x = s24_rng_u64(r);
                    if (s24_rng_below(r, 6) == 0) x = 0; /* then -0.0: only the top bit */
                    if (x == 0) x = (uint64_t)1 << (8 * es - 1);
                    memcpy(e, &x, es);
                }
            }
}

/* Independent encoder straight from the header's words. */
static int check_layout(size_t es, struct s24_view v, const unsigned char *w,
                        const struct s24_compressed *c)
{
    int64_t k = v.red, mrow = (k + 7) / 8;
    int bad = 0;
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t row = o * v.inner + i;
            for (int64_t g = 0; g < k / 4; g++) {
                int pos[4], np = 0;
                unsigned nzs = 0;
                const unsigned char *e[4];
                for (int j = 0; j < 4; j++) {
                    e[j] = w + (size_t)((o * k + g * 4 + j) * v.inner + i) * es;
                    int nz = 0;
                    for (size_t b = 0; b < es; b++) nz |= e[j][b];
                    if (nz) nzs |= 1u << j;
                }
                for (int j = 0; j < 4; j++)
                    if (nzs >> j & 1) pos[np++] = j;
                for (int j = 0; j < 4 && np < 2; j++) /* lowest free positions */
                    if (!(nzs >> j & 1)) {
                        nzs |= 1u << j;
                        np = 0;
                        for (int t = 0; t < 4; t++)
                            if (nzs >> t & 1) pos[np++] = t;
                    }
                unsigned nib = (c->meta[row * mrow + g / 2] >> (4 * (g & 1))) & 15;
                if (nib != (unsigned)(pos[0] | pos[1] << 2)) bad++;
                const unsigned char *vals =
                    (const unsigned char *)c->values + (size_t)(row * k / 2 + 2 * g) * es;
                if (memcmp(vals, e[pos[0]], es) || memcmp(vals + es, e[pos[1]], es)) bad++;
            }
            if ((k / 4) & 1 && c->meta[row * mrow + mrow - 1] >> 4) bad++;
        }
    return bad;
}

static void test_round_trips(void)
{
    static const enum s24_dtype dts[] = {S24_F32, S24_F16, S24_BF16, S24_F64,
                                         S24_U8,  S24_I16, S24_I64};
    static const struct s24_view views[] = {{3, 4, 1}, {5, 12, 1}, {7, 20, 3}, {16, 64, 9},
                                            {64, 256, 1}, {2, 36, 2}, {33, 8, 5}};
    struct s24_rng r;
    s24_rng_seed(&r, 17);
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++)
        for (size_t vi = 0; vi < sizeof views / sizeof views[0]; vi++) {
            struct s24_view v = views[vi];
            size_t es = s24_dtype_size(dts[d]), n = (size_t)(v.outer * v.red * v.inner);
            unsigned char *w = malloc(n * es), *back = malloc(n * es);
            make_24(&r, es, v, w);
            struct s24_compressed c;
            memset(&c, 0x55, sizeof c);
            int rc = s24_compress(dts[d], w, v, &c);
            CHECK(rc == S24_OK, "%s (%lld,%lld,%lld): %s", s24_dtype_name(dts[d]),
                  (long long)v.outer, (long long)v.red, (long long)v.inner, s24_last_error());
            if (rc == S24_OK) {
                CHECK(c.rows == v.outer * v.inner && c.k == v.red && c.dtype == dts[d]);
                CHECK(check_layout(es, v, w, &c) == 0, "%s: layout differs from the spec",
                      s24_dtype_name(dts[d]));
                memset(back, 0xA5, n * es); /* poison */
                CHECK_OK(s24_decompress(&c, v, back));
                CHECK(memcmp(back, w, n * es) == 0, "%s (%lld,%lld,%lld): round trip not exact",
                      s24_dtype_name(dts[d]), (long long)v.outer, (long long)v.red,
                      (long long)v.inner);
                CHECK(s24_compressed_bytes(&c) ==
                      (size_t)c.rows * ((size_t)c.k / 2 * es + (size_t)(c.k + 7) / 8));
            }
            s24_compressed_free(&c);
            free(w);
            free(back);
        }
    /* fp16 storage: values + meta = 9/16 = 56.25% of dense */
    struct s24_compressed c = {S24_F16, 512, 4608, NULL, NULL};
    CHECK(s24_compressed_bytes(&c) * 10000 == (size_t)512 * 4608 * 2 * 5625);
}

/* A pruned ResNet layer through mask -> apply -> compress -> decompress. */
static void test_pruned_layer(void)
{
    int64_t shape[4] = {128, 64, 3, 3};
    struct s24_view v;
    CHECK_OK(s24_view_of_shape(4, shape, &v));
    size_t n = (size_t)(128 * 64 * 9);
    uint16_t *w = malloc(n * 2), *back = malloc(n * 2);
    uint8_t *mask = malloc(n);
    struct s24_rng r;
    s24_rng_seed(&r, 4);
    for (size_t e = 0; e < n; e++) w[e] = s24_f32_to_f16((float)s24_rng_normal(&r));
    struct s24_compressed c;
    CHECK(s24_compress(S24_F16, w, v, &c) == S24_ERR_NOT_SPARSE); /* dense: refused */
    CHECK(c.values == NULL && c.meta == NULL);
    CHECK_OK(s24_mask_compute(S24_F16, w, v, 2, 4, mask));
    CHECK_OK(s24_mask_apply(S24_F16, w, v, mask));
    CHECK_OK(s24_compress(S24_F16, w, v, &c));
    CHECK(c.rows == 128 * 9 && c.k == 64);
    memset(back, 0xff, n * 2);
    CHECK_OK(s24_decompress(&c, v, back));
    CHECK(memcmp(back, w, n * 2) == 0);
    CHECK(s24_compressed_bytes(&c) * 16 == n * 2 * 9);
    s24_compressed_free(&c);
    free(w);
    free(back);
    free(mask);
}

static void test_refusals(void)
{
    float w[2 * 16];
    for (int e = 0; e < 32; e++) w[e] = (float)(e + 1);
    for (int g = 0; g < 8; g++) w[4 * g] = w[4 * g + 1] = 0; /* 2:4 everywhere */
    struct s24_view v = {2, 16, 1};
    struct s24_compressed c;
    CHECK_OK(s24_compress(S24_F32, w, v, &c));
    s24_compressed_free(&c);
    w[16 + 2 * 4 + 1] = 0.25f; /* row 1, group 2 now has three */
    s24_clear_error();
    CHECK(s24_compress(S24_F32, w, v, &c) == S24_ERR_NOT_SPARSE);
    CHECK(strstr(s24_last_error(), "row 1") && strstr(s24_last_error(), "group 2"), "%s",
          s24_last_error());
    CHECK(c.values == NULL && c.meta == NULL && c.rows == 0);
    w[16 + 2 * 4 + 1] = -0.0f; /* -0.0 is a bit pattern like any other */
    CHECK(s24_compress(S24_F32, w, v, &c) == S24_ERR_NOT_SPARSE);
    CHECK(strstr(s24_last_error(), "-0.0") != NULL, "%s", s24_last_error());
    w[16 + 2 * 4 + 1] = 0;
    CHECK(s24_compress(S24_F32, w, (struct s24_view){2, 14, 1}, &c) == S24_ERR_INVALID);
    CHECK(s24_compress(S24_F32, w, (struct s24_view){0, 16, 1}, &c) == S24_ERR_INVALID);
    CHECK(s24_compress(S24_F32, NULL, v, &c) == S24_ERR_INVALID);
    CHECK(s24_compress((enum s24_dtype)99, w, v, &c) == S24_ERR_INVALID);

    /* decompress: wrong view, corrupt nibbles (idx0 >= idx1, stray high nibble) */
    CHECK_OK(s24_compress(S24_F32, w, v, &c));
    float back[32];
    for (int e = 0; e < 32; e++) back[e] = 42;
    CHECK(s24_decompress(&c, (struct s24_view){1, 16, 1}, back) == S24_ERR_INVALID);
    CHECK(s24_decompress(&c, (struct s24_view){2, 16, 2}, back) == S24_ERR_INVALID);
    uint8_t keep = c.meta[3];
    c.meta[3] = (uint8_t)((keep & 0xf0) | (2 | 2 << 2)); /* idx0 == idx1 */
    CHECK(s24_decompress(&c, v, back) == S24_ERR_FORMAT);
    c.meta[3] = (uint8_t)((keep & 0xf0) | (3 | 1 << 2)); /* idx0 > idx1 */
    CHECK(s24_decompress(&c, v, back) == S24_ERR_FORMAT);
    CHECK(strstr(s24_last_error(), "row 1") != NULL, "%s", s24_last_error());
    int untouched = 1;
    for (int e = 0; e < 32; e++) untouched &= back[e] == 42;
    CHECK(untouched, "a refused decompress must not write the output");
    c.meta[3] = keep;
    CHECK_OK(s24_decompress(&c, v, back));
    CHECK(memcmp(back, w, sizeof back) == 0);
    s24_compressed_free(&c);

    float w12[12] = {0, 0, 1, 2, 0, 3, 0, 0, 4, 0, 0, 5};
    CHECK_OK(s24_compress(S24_F32, w12, (struct s24_view){1, 12, 1}, &c));
    c.meta[1] |= 0x40; /* the unused high nibble of an odd group count */
    CHECK(s24_decompress(&c, (struct s24_view){1, 12, 1}, back) == S24_ERR_FORMAT);
    s24_compressed_free(&c);
}

/* Million-element speed (not asserted tightly: sanitizers are slow). */
static void test_speed(void)
{
    struct s24_view v = {512 * 9, 512, 1};
    size_t n = (size_t)(v.outer * v.red);
    float *w = malloc(n * 4), *back = malloc(n * 4);
    struct s24_rng r;
    s24_rng_seed(&r, 8);
    for (size_t e = 0; e < n; e++) w[e] = (e & 2) ? s24_rng_uniformf(&r, -1, 1) : 0.0f;
    struct s24_compressed c;
    double t0 = s24_now();
    CHECK_OK(s24_compress(S24_F32, w, v, &c));
    double t1 = s24_now();
    CHECK_OK(s24_decompress(&c, v, back));
    double t2 = s24_now();
    CHECK(memcmp(back, w, n * 4) == 0);
    printf("2.4M fp32 weights: compress %.1f ms, decompress %.1f ms\n", 1e3 * (t1 - t0),
           1e3 * (t2 - t1));
    CHECK(t1 - t0 < 3.0 && t2 - t1 < 3.0);
    s24_compressed_free(&c);
    free(w);
    free(back);
}

int main(void)
{
    test_hand_example();
    test_round_trips();
    test_pruned_layer();
    test_refusals();
    test_speed();
    return t_done("test_compress");
}
