/* test_core.c: the shared core pieces: fp16/bf16 conversions (exhaustive
 * round trips, rounding to nearest even), the seeded generator's
 * determinism and ranges, status strings, atomic file writes. */
#include "t.h"

#include <math.h>

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static void test_f16(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = s24_f16_to_f32((uint16_t)h);
        uint16_t back = s24_f32_to_f16(f);
        int is_nan = ((h & 0x7c00) == 0x7c00) && (h & 0x3ff);
        if (is_nan ? ((back & 0x7c00) != 0x7c00 || !(back & 0x3ff)) : back != h) bad++;
    }
    CHECK(bad == 0, "%d fp16 values did not round-trip", bad);
    CHECK(s24_f16_to_f32(0x3c00) == 1.0f);
    CHECK(s24_f16_to_f32(0xc000) == -2.0f);
    CHECK(s24_f16_to_f32(0x0001) == 5.9604644775390625e-08f); /* smallest subnormal */
    CHECK(s24_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(s24_f32_to_f16(65520.0f) == 0x7c00); /* rounds up to inf */
    CHECK(s24_f32_to_f16(1e-9f) == 0x0000);
    /* ties to even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 */
    CHECK(s24_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00);
    CHECK(s24_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02);
    /* every value between two halves rounds to the nearer one */
    struct s24_rng r;
    s24_rng_seed(&r, 7);
    int wrong = 0;
    for (int i = 0; i < 200000; i++) {
        float x = (float)(s24_rng_normal(&r) * 100.0);
        uint16_t h = s24_f32_to_f16(x);
        float y = s24_f16_to_f32(h);
        float lo = s24_f16_to_f32((uint16_t)(h - 1)), hi = s24_f16_to_f32((uint16_t)(h + 1));
        if (fabsf(x - y) > fabsf(x - lo) || fabsf(x - y) > fabsf(x - hi)) wrong++;
    }
    CHECK(wrong == 0, "%d values not rounded to nearest fp16", wrong);
}

static void test_bf16(void)
{
    int bad = 0;
    for (uint32_t b = 0; b < 65536; b++) {
        float f = s24_bf16_to_f32((uint16_t)b);
        if (f != f) continue;
        if (s24_f32_to_bf16(f) != b) bad++;
    }
    CHECK(bad == 0, "%d bf16 values did not round-trip", bad);
    CHECK(s24_f32_to_bf16(from_bits(0x3f808000u)) == 0x3f80); /* tie -> even */
    CHECK(s24_f32_to_bf16(from_bits(0x3f818000u)) == 0x3f82); /* tie -> even (up) */
    CHECK(s24_f32_to_bf16(from_bits(0x3f808001u)) == 0x3f81);
    uint16_t qn = s24_f32_to_bf16(from_bits(0x7f800001u));
    CHECK((qn & 0x7f80) == 0x7f80 && (qn & 0x7f), "NaN must stay NaN: %04x", qn);
    CHECK(bits(s24_bf16_to_f32(0x8000)) == 0x80000000u);
}

static void test_dtype(void)
{
    enum s24_dtype dt;
    CHECK_OK(s24_dtype_parse("BF16", &dt));
    CHECK(dt == S24_BF16);
    CHECK(s24_dtype_parse("F17", &dt) == S24_ERR_FORMAT);
    CHECK(strstr(s24_last_error(), "F17") != NULL);
    for (int i = 0; i < S24_DTYPE_COUNT; i++) {
        enum s24_dtype d2;
        CHECK_OK(s24_dtype_parse(s24_dtype_name((enum s24_dtype)i), &d2));
        CHECK((int)d2 == i);
        CHECK(s24_dtype_size((enum s24_dtype)i) >= 1);
    }
    CHECK(s24_dtype_size(S24_F8_E4M3) == 1 && s24_dtype_size(S24_I64) == 8);
    int64_t shape[3] = {2, 3, 4};
    CHECK(s24_numel(3, shape) == 24 && s24_numel(0, shape) == 1);
    /* s24_load_number: integers, floats and every e4m3 code exactly */
    int8_t i8[2] = {-128, 127};
    uint16_t u16[1] = {65535};
    int64_t i64[1] = {-((int64_t)1 << 40)};
    uint16_t h[1] = {0xc000};
    CHECK(s24_load_number(S24_I8, i8, 0) == -128.0 && s24_load_number(S24_I8, i8, 1) == 127.0);
    CHECK(s24_load_number(S24_U16, u16, 0) == 65535.0);
    CHECK(s24_load_number(S24_I64, i64, 0) == -1099511627776.0);
    CHECK(s24_load_number(S24_F16, h, 0) == -2.0);
    CHECK(isnan(s24_load_number(S24_BOOL, i8, 0)));
    int nan8 = 0;
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        double v = s24_load_number(S24_F8_E4M3, &c, 0);
        int e = (b >> 3) & 15, m = b & 7;
        /* value = (-1)^s * 2^(e-7) * (1 + m/8), subnormals 2^-6 * m/8 */
        double want = e ? (1.0 + m / 8.0) * pow(2.0, e - 7) : m / 8.0 * pow(2.0, -6);
        if (b & 0x80) want = -want;
        if (isnan(v)) nan8++;
        else CHECK(v == want, "e4m3 0x%02x: %g, want %g", b, v, want);
    }
    CHECK(nan8 == 2, "e4m3 has two NaN codes (0x7f, 0xff), got %d", nan8);
    uint8_t mx = 0x7e;
    CHECK(s24_load_number(S24_F8_E4M3, &mx, 0) == 448.0);
}

static void test_rng(void)
{
    struct s24_rng a, b;
    s24_rng_seed(&a, 42);
    s24_rng_seed(&b, 42);
    int same = 1;
    for (int i = 0; i < 1000; i++) same &= s24_rng_u64(&a) == s24_rng_u64(&b);
    CHECK(same);
    s24_rng_seed(&b, 43);
    CHECK(s24_rng_u64(&a) != s24_rng_u64(&b));
    double sum = 0, sq = 0;
    int out_of_range = 0, n = 100000;
    int hist[10] = {0};
    for (int i = 0; i < n; i++) {
        double u = s24_rng_uniform(&a);
        out_of_range += (u < 0 || u >= 1);
        double z = s24_rng_normal(&a);
        sum += z;
        sq += z * z;
        hist[s24_rng_below(&a, 10)]++;
    }
    CHECK(out_of_range == 0);
    CHECK_NEAR(sum / n, 0.0, 0.02);
    CHECK_NEAR(sq / n, 1.0, 0.03);
    for (int i = 0; i < 10; i++)
        CHECK(hist[i] > n / 10 - 600 && hist[i] < n / 10 + 600, "bucket %d: %d", i, hist[i]);
}

static void test_status_and_files(void)
{
    CHECK(strcmp(s24_status_str(S24_OK), "ok") == 0);
    CHECK(strcmp(s24_status_str(S24_ERR_FORMAT), "malformed file") == 0);
    CHECK(strcmp(s24_status_str(-999), "unknown error") == 0);
    CHECK(s24_error(S24_ERR_IO, "x.bin: %s", "gone") == S24_ERR_IO);
    CHECK(strcmp(s24_last_error(), "x.bin: gone") == 0);

    char path[512];
    snprintf(path, sizeof path, "%s/a.bin", t_tmpdir());
    const char msg[] = "hello sparse24";
    CHECK_OK(s24_write_file_atomic(path, msg, sizeof msg));
    uint8_t *data;
    size_t len;
    CHECK_OK(s24_read_file(path, &data, &len));
    CHECK(len == sizeof msg && memcmp(data, msg, len) == 0);
    free(data);
    remove(path);
    /* a folder that does not exist: error naming the file, no temp file left */
    snprintf(path, sizeof path, "%s/missing/a.bin", t_tmpdir());
    CHECK(s24_write_file_atomic(path, msg, sizeof msg) == S24_ERR_IO);
    CHECK(strstr(s24_last_error(), "missing/a.bin") != NULL);
    CHECK(s24_read_file(path, &data, &len) == S24_ERR_IO);
    CHECK(strstr(s24_last_error(), "missing/a.bin") != NULL);
    rmdir(t_tmpdir());
}

static void test_threads(void)
{
    s24_threads_set(1);
    CHECK(s24_threads_get() == 1);
    s24_threads_set(0);
    CHECK(s24_threads_get() >= 1);
    double t0 = s24_now(), t1 = s24_now();
    CHECK(t1 >= t0);
}

int main(void)
{
    test_f16();
    test_bf16();
    test_dtype();
    test_rng();
    test_status_and_files();
    test_threads();
    return t_done("test_core");
}
