/* test_safetensors.c: the safetensors reader and writer: round trips of every
 * dtype (random bytes, 0-d and empty tensors, metadata), byte-for-byte
 * reproduction of a read file, the PyTorch fixtures, and a catalogue of
 * malformed inputs that must each fail with a clear message and no crash,
 * including offsets past 2^31 that a 32-bit reader would saturate. */
#include "t.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static struct s24_rng rng;

static void fill_random(void *p, size_t n)
{
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)s24_rng_u64(&rng);
}

static char *path_in_tmp(const char *name)
{
    static char buf[4][512];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, 512, "%s/%s", t_tmpdir(), name);
    return p;
}

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Every dtype, random contents, several ranks, 0-d, an empty tensor. */
static void test_roundtrip_all_dtypes(void)
{
    struct s24_st st;
    s24_st_init(&st);
    char name[64];
    for (int dt = 0; dt < S24_DTYPE_COUNT; dt++) {
        int64_t shape[3] = {2 + dt % 3, 3, 1 + dt % 2};
        int ndim = 1 + dt % 3;
        size_t nb = (size_t)s24_numel(ndim, shape) * s24_dtype_size((enum s24_dtype)dt);
        uint8_t *buf = malloc(nb);
        fill_random(buf, nb);
        snprintf(name, sizeof name, "layer.%d.%s", dt, s24_dtype_name((enum s24_dtype)dt));
        CHECK_OK(s24_st_add(&st, name, (enum s24_dtype)dt, ndim, shape, buf));
        free(buf);
    }
    int64_t scalar_val = 123456789012345LL;
    CHECK_OK(s24_st_add(&st, "bn.num_batches_tracked", S24_I64, 0, NULL, &scalar_val));
    int64_t empty_shape[2] = {0, 5};
    CHECK_OK(s24_st_add(&st, "empty", S24_F32, 2, empty_shape, NULL));
    CHECK_OK(s24_st_meta_set(&st, "format", "pt"));
    CHECK_OK(
        s24_st_meta_set(&st, "note", "quote \" backslash \\ newline \n tab \t unicode \xc3\xa9"));
    CHECK_OK(s24_st_meta_set(&st, "format", "pt")); /* replace keeps one key */
    CHECK(st.nmeta == 2);
    CHECK(s24_st_add(&st, "empty", S24_F32, 2, empty_shape, NULL) == S24_ERR_INVALID);
    CHECK(s24_st_add(&st, "", S24_F32, 2, empty_shape, NULL) == S24_ERR_INVALID);

    const char *p = path_in_tmp("all.safetensors");
    CHECK_OK(s24_st_write(p, &st));
    uint8_t *file;
    size_t flen;
    CHECK_OK(s24_read_file(p, &file, &flen));
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | file[i];
    CHECK((8 + hlen) % 8 == 0, "header padded to a multiple of 8");
    CHECK(file[8] == '{' && memcmp(file + 9, "\"__metadata__\"", 14) == 0, "metadata first");

    struct s24_st back;
    CHECK_OK(s24_st_read(p, &back));
    CHECK(back.n == st.n, "%d vs %d tensors", back.n, st.n);
    for (int i = 0; i < st.n && i < back.n; i++) {
        const struct s24_st_tensor *a = &st.t[i], *b = &back.t[i];
        CHECK(!strcmp(a->name, b->name), "%s vs %s (array order kept)", a->name, b->name);
        CHECK(a->dtype == b->dtype && a->ndim == b->ndim && a->nbytes == b->nbytes, "%s", a->name);
        CHECK(!memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof(int64_t)), "%s", a->name);
        CHECK(a->nbytes == 0 || !memcmp(a->data, b->data, a->nbytes), "%s data", a->name);
    }
    struct s24_st_tensor *sc = s24_st_find(&back, "bn.num_batches_tracked");
    CHECK(sc && sc->ndim == 0 && sc->nbytes == 8);
    CHECK(sc && !memcmp(sc->data, &scalar_val, 8));
    CHECK(s24_st_find(&back, "nope") == NULL);
    CHECK(back.nmeta == 2);
    CHECK(s24_st_meta_get(&back, "format") && !strcmp(s24_st_meta_get(&back, "format"), "pt"));
    CHECK(s24_st_meta_get(&back, "note") &&
          !strcmp(s24_st_meta_get(&back, "note"), s24_st_meta_get(&st, "note")));
    CHECK(back.header && back.header_len == hlen);

    /* write what was read: same bytes */
    const char *p2 = path_in_tmp("all2.safetensors");
    CHECK_OK(s24_st_write(p2, &back));
    uint8_t *file2;
    size_t flen2;
    CHECK_OK(s24_read_file(p2, &file2, &flen2));
    CHECK(flen2 == flen && !memcmp(file, file2, flen), "rewrite is byte-identical");

    /* parse from memory gives the same thing */
    struct s24_st mem;
    CHECK_OK(s24_st_parse(file, flen, "memory", &mem));
    CHECK(mem.n == back.n);
    for (int i = 0; i < mem.n && i < back.n; i++)
        CHECK(mem.t[i].nbytes == 0 || !memcmp(mem.t[i].data, back.t[i].data, mem.t[i].nbytes));
    s24_st_free(&mem);

    /* header-only parse: same layout, zero data */
    struct s24_st ho;
    CHECK_OK(s24_st_parse_header((const char *)file + 8, hlen, "hdr", &ho));
    CHECK(ho.n == back.n && ho.nmeta == back.nmeta);
    int zero = 1;
    for (int i = 0; i < ho.n; i++)
        for (size_t k = 0; k < ho.t[i].nbytes; k++) zero &= ((uint8_t *)ho.t[i].data)[k] == 0;
    CHECK(zero);
    s24_st_free(&ho);

    free(file);
    free(file2);
    s24_st_free(&back);
    s24_st_free(&st);
    CHECK(st.n == 0 && st.t == NULL);
    remove(p);
    remove(p2);
}

/* A changed layout must not reuse the stale raw header. */
static void test_header_regenerated(void)
{
    struct s24_st st;
    s24_st_init(&st);
    int64_t sh[2] = {4, 8};
    float w[32];
    for (int i = 0; i < 32; i++) w[i] = s24_rng_uniformf(&rng, -1, 1);
    CHECK_OK(s24_st_add(&st, "a", S24_F32, 2, sh, w));
    const char *p = path_in_tmp("regen.safetensors");
    CHECK_OK(s24_st_write(p, &st));
    struct s24_st back;
    CHECK_OK(s24_st_read(p, &back));
    CHECK_OK(s24_st_add(&back, "b", S24_F32, 2, sh, w));
    CHECK_OK(s24_st_write(p, &back));
    struct s24_st again;
    CHECK_OK(s24_st_read(p, &again));
    CHECK(again.n == 2 && s24_st_find(&again, "b"));
    s24_st_free(&again);
    s24_st_free(&back);
    s24_st_free(&st);
    remove(p);
}

/* A hand-written file whose JSON has whitespace, another key order and
 * offsets not in key order: read in offset order, rewritten byte for byte. */
static uint8_t *make_file(const char *json, size_t data_len, size_t *len)
{
    size_t h = strlen(json);
    *len = 8 + h + data_len;
    uint8_t *b = malloc(*len ? *len : 1);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, json, h);
    fill_random(b + 8 + h, data_len);
    return b;
}

static void test_foreign_layout(void)
{
    const char *json =
        "\n { \"b\": {\"shape\": [2], \"data_offsets\": [8, 16], \"dtype\": \"F32\"},\n"
        "  \"a\": {\"dtype\": \"I64\", \"shape\": [], \"data_offsets\": [0, 8]},\n"
        "  \"__metadata__\": {\"k\": \"v\"} }  ";
    size_t len;
    uint8_t *b = make_file(json, 16, &len);
    struct s24_st st;
    CHECK_OK(s24_st_parse(b, len, "foreign", &st));
    CHECK(st.n == 2 && !strcmp(st.t[0].name, "a") && !strcmp(st.t[1].name, "b"), "offset order");
    CHECK(st.n == 2 && !memcmp(st.t[0].data, b + 8 + strlen(json), 8));
    const char *p = path_in_tmp("foreign.safetensors");
    CHECK_OK(s24_st_write(p, &st));
    uint8_t *f2;
    size_t l2;
    CHECK_OK(s24_read_file(p, &f2, &l2));
    CHECK(l2 == len && !memcmp(f2, b, len), "foreign file reproduced byte for byte");
    free(f2);
    s24_st_free(&st);
    free(b);
    remove(p);
}

/* Each malformed header: expected status and a word the message must contain. */
static void expect_bad(const char *json, size_t data_len, int status, const char *word)
{
    size_t len;
    uint8_t *b = make_file(json, data_len, &len);
    struct s24_st st;
    s24_clear_error();
    int rc = s24_st_parse(b, len, "bad.safetensors", &st);
    CHECK(rc == status, "%s -> %d (%s), want %d", json, rc, s24_last_error(), status);
    CHECK(strstr(s24_last_error(), word) != NULL, "message \"%s\" lacks \"%s\"", s24_last_error(),
          word);
    CHECK(strstr(s24_last_error(), "bad.safetensors") != NULL, "message names the source");
    CHECK(st.n == 0 && st.t == NULL);
    free(b);
}

static void test_malformed(void)
{
    const int F = S24_ERR_FORMAT;
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, F, "JSON");
    expect_bad("[1,2]", 0, F, "'{'");
    expect_bad("{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, F, "F33");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, F,
               "needs 12");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, F,
               "outside");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, F,
               "shape[0]");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, F,
               "shape[0]");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, F,
               "shape");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.5,8]}}", 8, F,
               "data_offsets");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, F,
               "data_offsets");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, F, "before");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, F, "data_offsets");
    expect_bad("{\"a\":[1]}", 0, F, "not an object");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
               4, F, "dimensions");
    /* overlap: b starts inside a */
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               12, F, "overlap");
    /* hole between a and b */
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, F, "holes");
    /* trailing bytes after the last tensor */
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12, F,
               "trailing");
    /* duplicate names */
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, F, "twice");
    expect_bad("{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, F,
               "empty name");
    expect_bad("{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, F,
               "UTF-8");
    expect_bad("{\"a\xc0\xaf\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, F,
               "UTF-8");
    expect_bad("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, F,
               "u0000");
    expect_bad("{\"__metadata__\":{\"k\":1}}", 0, F, "not a string");
    expect_bad("{\"__metadata__\":[]}", 0, F, "__metadata__");
    expect_bad("{} x", 0, F, "after");
    /* offsets past 2^31 and 2^32: must be read exactly (not saturated to
     * INT_MAX) and reported as outside this small file */
    expect_bad(
        "{\"big\":{\"dtype\":\"U8\",\"shape\":[3000000000],\"data_offsets\":[0,3000000000]}}", 16,
        F, "3000000000");
    expect_bad(
        "{\"big\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[5000000000,5000000004]}}", 4,
        F, "[5000000000, 5000000004] outside");
    expect_bad("{\"big\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1e300]}}", 1, F,
               "data_offsets");
    /* a huge shape whose byte count overflows 64 bits */
    expect_bad(
        "{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
        F, "too large");

    /* the header-only parser accepts a >2^31 layout without allocating it
     * for validation: offsets are exact 64-bit numbers */
    struct s24_st st;
    const char *big = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                      "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2147483649,"
                      "2147483650]}}";
    CHECK(s24_st_parse_header(big, strlen(big), "big", &st) == F, "hole after 2^31 found");
    CHECK(strstr(s24_last_error(), "[1, 2147483649)") != NULL, "%s", s24_last_error());

    /* prefix problems */
    uint8_t small[5] = {1, 2, 3, 4, 5};
    CHECK(s24_st_parse(small, 5, "tiny", &st) == F && strstr(s24_last_error(), "too short"));
    uint8_t past[16] = {200};
    CHECK(s24_st_parse(past, 16, "past", &st) == F && strstr(s24_last_error(), "past the end"));
    uint8_t giant[16] = {0, 0, 0, 0x10};
    CHECK(s24_st_parse(giant, 16, "giant", &st) == F && strstr(s24_last_error(), "limit"),
          "%s", s24_last_error());
    uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK(s24_st_parse(huge, 16, "huge", &st) == F && strstr(s24_last_error(), "limit"));
}

/* Truncate a valid file at every length: always a clean error. */
static void test_truncation(void)
{
    const char *json = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"a\":{\"dtype\":\"F16\",\"shape\":[4,2],\"data_offsets\":[0,16]},"
                       "\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[16,24]}}";
    size_t len;
    uint8_t *b = make_file(json, 24, &len);
    struct s24_st st;
    CHECK_OK(s24_st_parse(b, len, "full", &st));
    s24_st_free(&st);
    int bad = 0;
    for (size_t l = 0; l < len; l++) {
        uint8_t *cut = malloc(l ? l : 1); /* own allocation so ASan sees overreads */
        memcpy(cut, b, l);
        if (s24_st_parse(cut, l, "cut", &st) != S24_ERR_FORMAT) bad++;
        free(cut);
    }
    CHECK(bad == 0, "%d truncations not refused", bad);
    /* the same through the file reader */
    const char *p = path_in_tmp("trunc.safetensors");
    CHECK_OK(s24_write_file_atomic(p, b, len - 3));
    CHECK(s24_st_read(p, &st) == S24_ERR_FORMAT && strstr(s24_last_error(), p));
    CHECK_OK(s24_write_file_atomic(p, b, 3));
    CHECK(s24_st_read(p, &st) == S24_ERR_FORMAT && strstr(s24_last_error(), "too short"));
    remove(p);
    CHECK(s24_st_read(p, &st) == S24_ERR_IO && strstr(s24_last_error(), p));
    free(b);
}

/* Random byte flips in a valid file: never a crash (ASan/UBSan runs). */
static void test_fuzz(void)
{
    const char *json = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"w\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
                       "\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]}}";
    size_t len;
    uint8_t *b = make_file(json, 16, &len);
    int ok = 0, refused = 0;
    for (int it = 0; it < 3000; it++) {
        uint8_t *c = malloc(len);
        memcpy(c, b, len);
        int flips = 1 + (int)s24_rng_below(&rng, 3);
        for (int k = 0; k < flips; k++)
            c[s24_rng_below(&rng, len)] = (uint8_t)s24_rng_u64(&rng);
        struct s24_st st;
        int rc = s24_st_parse(c, len, "fuzz", &st);
        if (rc == S24_OK) {
            ok++;
            s24_st_free(&st);
        } else if (rc == S24_ERR_FORMAT) {
            refused++;
        }
        free(c);
    }
    CHECK(ok + refused == 3000, "every fuzzed file parsed or refused as FORMAT");
    free(b);
}

/* The PyTorch fixtures: read, expected layout, byte-identical rewrite. */
static void test_fixtures(void)
{
    const char *dir = getenv("S24_FIXTURES");
    if (!dir) dir = "tests/fixtures";
    const char *names[3] = {"torch_small_f32", "torch_small_f16", "torch_small_bf16"};
    const enum s24_dtype dts[3] = {S24_F32, S24_F16, S24_BF16};
    for (int k = 0; k < 3; k++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s.safetensors", dir, names[k]);
        struct s24_st st;
        int rc = s24_st_read(p, &st);
        CHECK(rc == S24_OK, "%s: %s", p, s24_last_error());
        if (rc) continue;
        CHECK(st.n == 16, "%d tensors", st.n);
        struct s24_st_tensor *w = s24_st_find(&st, "3.weight");
        CHECK(w && w->dtype == dts[k] && w->ndim == 4 && w->shape[0] == 64 && w->shape[1] == 32 &&
              w->shape[2] == 3 && w->shape[3] == 3);
        struct s24_st_tensor *nb = s24_st_find(&st, "1.num_batches_tracked");
        CHECK(nb && nb->dtype == S24_I64 && nb->ndim == 0);
        CHECK(s24_st_meta_get(&st, "format") && !strcmp(s24_st_meta_get(&st, "format"), "pt"));
        const char *out = path_in_tmp("fixture_copy.safetensors");
        CHECK_OK(s24_st_write(out, &st));
        uint8_t *a, *b;
        size_t la, lb;
        CHECK_OK(s24_read_file(p, &a, &la));
        CHECK_OK(s24_read_file(out, &b, &lb));
        CHECK(la == lb && !memcmp(a, b, la), "%s rewritten byte for byte", names[k]);
        /* a rebuilt header (no raw text) matches the reference writer too */
        free(st.header);
        st.header = NULL;
        st.header_len = 0;
        free(b);
        CHECK_OK(s24_st_write(out, &st));
        CHECK_OK(s24_read_file(out, &b, &lb));
        CHECK(la == lb && !memcmp(a, b, la), "%s: generated header equals PyTorch's", names[k]);
        free(a);
        free(b);
        remove(out);
        s24_st_free(&st);
    }
}

/* Writing refuses an inconsistent struct and leaves no file behind. */
static void test_write_errors(void)
{
    struct s24_st st;
    s24_st_init(&st);
    int64_t sh[1] = {4};
    CHECK_OK(s24_st_add(&st, "a", S24_F32, 1, sh, NULL));
    st.t[0].nbytes = 12; /* lie */
    const char *p = path_in_tmp("never.safetensors");
    CHECK(s24_st_write(p, &st) == S24_ERR_INVALID);
    CHECK(!file_exists(p));
    st.t[0].nbytes = 16;
    char bad_dir[600];
    snprintf(bad_dir, sizeof bad_dir, "%s/no/such/dir/x.safetensors", t_tmpdir());
    CHECK(s24_st_write(bad_dir, &st) == S24_ERR_IO && strstr(s24_last_error(), bad_dir));
    s24_st_free(&st);
}

int main(void)
{
    s24_rng_seed(&rng, 2024);
    test_roundtrip_all_dtypes();
    test_header_regenerated();
    test_foreign_layout();
    test_malformed();
    test_truncation();
    test_fuzz();
    test_fixtures();
    test_write_errors();
    rmdir(t_tmpdir());
    return t_done("test_safetensors");
}
