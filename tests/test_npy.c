/* test_npy.c: .npy round trips for every supported dtype and 0..8 dims, the
 * header exactly as NumPy writes it (compared with a real NumPy file in
 * tests/fixtures), reading v2.0/v3.0 headers, and malformed files (truncated
 * at every length, bad magic, header past the end, Fortran order, unknown
 * dtypes, shape/size mismatch, broken dicts) each refused without a crash. */
#include "t.h"

#include <stdint.h>
#include <unistd.h>

static char path_buf[512];
static const char *tmp_path(const char *name)
{
    snprintf(path_buf, sizeof path_buf, "%s/%s", t_tmpdir(), name);
    return path_buf;
}

static void write_raw(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    if (n) fwrite(p, 1, n, f);
    fclose(f);
}

/* A file with the given version and header text (padded by the caller or
 * not), followed by `ndata` bytes of data. */
static size_t build(unsigned char *buf, int major, const char *hdr, size_t ndata)
{
    size_t hl = strlen(hdr), pre = major == 1 ? 10 : 12;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    buf[8] = (unsigned char)(hl & 0xff);
    buf[9] = (unsigned char)(hl >> 8);
    if (major != 1) {
        buf[10] = 0;
        buf[11] = 0;
    }
    memcpy(buf + pre, hdr, hl);
    for (size_t i = 0; i < ndata; i++) buf[pre + hl + i] = (unsigned char)(i * 7 + 1);
    return pre + hl + ndata;
}

static void test_round_trips(void)
{
    static const enum s24_dtype dts[] = {S24_F32, S24_F64, S24_F16, S24_I64};
    static const struct { int nd; int64_t s[8]; } shapes[] = {
        {0, {0}}, {1, {7}}, {2, {3, 5}}, {3, {2, 3, 4}}, {4, {8, 3, 3, 3}},
        {8, {2, 1, 2, 1, 3, 1, 2, 2}}, {2, {0, 5}}, {1, {100000}},
    };
    struct s24_rng r;
    s24_rng_seed(&r, 2);
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int nd = shapes[s].nd;
            int64_t n = s24_numel(nd, shapes[s].s);
            size_t es = s24_dtype_size(dts[d]), nb = (size_t)n * es;
            unsigned char *data = malloc(nb + 1);
            for (size_t i = 0; i < nb; i++) data[i] = (unsigned char)s24_rng_u64(&r);
            const char *p = tmp_path("rt.npy");
            CHECK_OK(s24_npy_write(p, dts[d], nd, shapes[s].s, data));
            enum s24_dtype dt = S24_BOOL;
            int nd2 = -1;
            int64_t shape2[S24_MAX_DIMS];
            void *back = NULL;
            CHECK_OK(s24_npy_read(p, &dt, &nd2, shape2, &back));
            int same_shape = nd2 == nd;
            for (int k = 0; same_shape && k < nd; k++) same_shape = shape2[k] == shapes[s].s[k];
            CHECK(dt == dts[d] && same_shape, "%s, %d dims", s24_dtype_name(dts[d]), nd);
            CHECK(back && (nb == 0 || memcmp(back, data, nb) == 0));
            /* data starts 64-byte aligned, as NumPy >= 1.14 writes it */
            uint8_t *file;
            size_t flen;
            CHECK_OK(s24_read_file(p, &file, &flen));
            CHECK((flen - nb) % 64 == 0 && file[flen - nb - 1] == '\n', "header size %zu",
                  flen - nb);
            free(file);
            free(back);
            free(data);
        }
    /* unsupported on write */
    float x = 1;
    int64_t one = 1, neg = -1;
    CHECK(s24_npy_write(tmp_path("bad.npy"), S24_BF16, 1, &one, &x) == S24_ERR_UNSUPPORTED);
    CHECK(s24_npy_write(tmp_path("bad.npy"), S24_F32, 1, &neg, &x) == S24_ERR_INVALID);
    CHECK(s24_npy_write(tmp_path("bad.npy"), S24_F32, 9, NULL, &x) == S24_ERR_INVALID);
    CHECK(access(tmp_path("bad.npy"), F_OK) != 0, "a refused write must leave no file");
}

/* A real NumPy file: np.random.seed(1); np.random.rand(128, 64), float64. */
static void test_fixture(void)
{
    const char *dir = getenv("S24_FIXTURES");
    char p[512];
    snprintf(p, sizeof p, "%s/random_128x64_seed1.npy", dir ? dir : "tests/fixtures");
    enum s24_dtype dt;
    int nd;
    int64_t shape[S24_MAX_DIMS];
    void *data = NULL;
    CHECK_OK(s24_npy_read(p, &dt, &nd, shape, &data));
    if (!data) return;
    CHECK(dt == S24_F64 && nd == 2 && shape[0] == 128 && shape[1] == 64);
    const double *a = data;
    CHECK(a[0] == 0.417022004702574 && a[1] == 0.7203244934421581, "%.17g %.17g", a[0], a[1]);
    int in_range = 1;
    double sum = 0;
    for (int i = 0; i < 128 * 64; i++) {
        in_range &= a[i] >= 0 && a[i] < 1;
        sum += a[i];
    }
    CHECK(in_range && fabs(sum / (128 * 64) - 0.5) < 0.02, "mean %g", sum / (128 * 64));
    /* our writer reproduces NumPy's file byte for byte */
    const char *q = tmp_path("again.npy");
    CHECK_OK(s24_npy_write(q, dt, nd, shape, data));
    uint8_t *f1, *f2;
    size_t l1, l2;
    CHECK_OK(s24_read_file(p, &f1, &l1));
    CHECK_OK(s24_read_file(q, &f2, &l2));
    CHECK(l1 == l2 && memcmp(f1, f2, l1) == 0, "written file differs from NumPy's");
    free(f1);
    free(f2);
    free(data);
}

static int read_fails(const char *name, const void *buf, size_t n, int want, const char *needle)
{
    const char *p = tmp_path(name);
    write_raw(p, buf, n);
    enum s24_dtype dt;
    int nd;
    int64_t shape[S24_MAX_DIMS];
    void *data = (void *)1;
    s24_clear_error();
    int rc = s24_npy_read(p, &dt, &nd, shape, &data);
    int ok = rc != S24_OK && data == NULL && s24_last_error()[0] != 0 &&
             (want == 0 || rc == want) && (!needle || strstr(s24_last_error(), needle));
    if (!ok)
        fprintf(stderr, "  %s: rc %d (%s) message \"%s\"\n", name, rc, s24_status_str(rc),
                s24_last_error());
    if (rc == S24_OK) free(data);
    return ok;
}

static void test_malformed(void)
{
    unsigned char buf[4096];
    const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }          \n";
    size_t n = build(buf, 1, good, 24);
    /* the baseline is valid */
    const char *p = tmp_path("good.npy");
    write_raw(p, buf, n);
    enum s24_dtype dt;
    int nd;
    int64_t shape[S24_MAX_DIMS];
    void *data;
    CHECK_OK(s24_npy_read(p, &dt, &nd, shape, &data));
    CHECK(dt == S24_F32 && nd == 2 && shape[0] == 2 && shape[1] == 3);
    free(data);

    /* truncated at every length */
    int trunc_bad = 0;
    for (size_t len = 0; len < n; len++)
        if (!read_fails("trunc.npy", buf, len, 0, NULL)) trunc_bad++;
    CHECK(trunc_bad == 0, "%d truncations were accepted", trunc_bad);
    CHECK(read_fails("trunc2.npy", buf, n - 1, S24_ERR_FORMAT, "truncated"));
    n = build(buf, 1, good, 28);
    CHECK(read_fails("extra.npy", buf, n, S24_ERR_FORMAT, "trailing"));

    n = build(buf, 1, good, 24);
    buf[1] = 'M';
    CHECK(read_fails("magic.npy", buf, n, S24_ERR_FORMAT, "magic"));
    n = build(buf, 1, good, 24);
    buf[8] = 0xff;
    buf[9] = 0x7f; /* header length far past the end */
    CHECK(read_fails("hlen.npy", buf, n, S24_ERR_FORMAT, "past the end"));
    n = build(buf, 1, good, 24);
    buf[6] = 4;
    CHECK(read_fails("v4.npy", buf, n, S24_ERR_UNSUPPORTED, "version"));

    static const struct {
        const char *hdr;
        size_t ndata;
        int want;
        const char *needle;
    } bad[] = {
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", 24, S24_ERR_UNSUPPORTED,
         "Fortran"},
        {"{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }\n", 24, S24_ERR_UNSUPPORTED,
         "<i4"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }\n", 24, S24_ERR_UNSUPPORTED,
         ">f4"},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (2, 3), }\n", 24, S24_ERR_UNSUPPORTED,
         NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }\n", 24, S24_ERR_FORMAT,
         "truncated"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 20, S24_ERR_FORMAT,
         "need 24"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6), }\n", 24, S24_ERR_FORMAT, "tuple"},
        {"{'descr': '<f4', 'fortran_order': False, }\n", 24, S24_ERR_FORMAT, "shape"},
        {"{'descr': '<f4', 'shape': (2, 3), }\n", 24, S24_ERR_FORMAT, "fortran_order"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}\n", 24, S24_ERR_FORMAT,
         "'x'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}\n", 24,
         S24_ERR_FORMAT, NULL},
        {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3), }\n", 24, S24_ERR_FORMAT, NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }\n", 24, S24_ERR_FORMAT,
         NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, "
         "99999999999), }\n",
         24, S24_ERR_FORMAT, NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n", 24,
         S24_ERR_FORMAT, NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }\n", 4,
         S24_ERR_FORMAT, "dimensions"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), \n", 24, S24_ERR_FORMAT, NULL},
        {"{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3), }\n", 24, S24_ERR_FORMAT, NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } junk\n", 24, S24_ERR_FORMAT,
         "trailing"},
        {"['descr', '<f4']\n", 24, S24_ERR_FORMAT, NULL},
        {"", 24, S24_ERR_FORMAT, NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = build(buf, 1, bad[i].hdr, bad[i].ndata);
        CHECK(read_fails("bad.npy", buf, n, bad[i].want, bad[i].needle), "case %zu: %s", i,
              bad[i].hdr);
    }
    CHECK(read_fails("missing.npy", NULL, 0, S24_ERR_FORMAT, NULL)); /* empty file */
    unlink(tmp_path("missing.npy"));
    {
        enum s24_dtype t;
        int d;
        int64_t s[S24_MAX_DIMS];
        void *x = (void *)1;
        CHECK(s24_npy_read(tmp_path("missing.npy"), &t, &d, s, &x) == S24_ERR_IO && x == NULL);
    }

    /* v2.0 and v3.0 headers, double-quoted keys, no trailing comma, 0-d */
    {
        const char *h = "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (3,)}\n";
        uint32_t hl = (uint32_t)strlen(h);
        n = build(buf, 2, h, 24);
        buf[8] = (unsigned char)hl;
        buf[9] = buf[10] = buf[11] = 0;
        write_raw(tmp_path("v2.npy"), buf, n);
        CHECK_OK(s24_npy_read(tmp_path("v2.npy"), &dt, &nd, shape, &data));
        CHECK(dt == S24_F64 && nd == 1 && shape[0] == 3);
        free(data);
        buf[6] = 3;
        write_raw(tmp_path("v3.npy"), buf, n);
        CHECK_OK(s24_npy_read(tmp_path("v3.npy"), &dt, &nd, shape, &data));
        free(data);
        buf[11] = 0x80; /* 2 GiB header in a tiny file */
        CHECK(read_fails("v3big.npy", buf, n, S24_ERR_FORMAT, "past the end"));
    }
    n = build(buf, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (), }\n", 8);
    write_raw(tmp_path("scalar.npy"), buf, n);
    CHECK_OK(s24_npy_read(tmp_path("scalar.npy"), &dt, &nd, shape, &data));
    CHECK(dt == S24_I64 && nd == 0);
    free(data);

    /* random byte damage to a valid file: never a crash, and any accepted
     * file is self-consistent (checked by the sanitizer builds) */
    struct s24_rng r;
    s24_rng_seed(&r, 77);
    int64_t sh[2] = {4, 5};
    float vals[20];
    for (int i = 0; i < 20; i++) vals[i] = (float)i;
    CHECK_OK(s24_npy_write(tmp_path("src.npy"), S24_F32, 2, sh, vals));
    uint8_t *orig;
    size_t olen;
    CHECK_OK(s24_read_file(tmp_path("src.npy"), &orig, &olen));
    int accepted_bad = 0;
    for (int it = 0; it < 400; it++) {
        memcpy(buf, orig, olen);
        int flips = 1 + (int)s24_rng_below(&r, 3);
        for (int f = 0; f < flips; f++)
            buf[s24_rng_below(&r, 128)] = (unsigned char)s24_rng_u64(&r);
        write_raw(tmp_path("fuzz.npy"), buf, olen);
        void *x = NULL;
        if (s24_npy_read(tmp_path("fuzz.npy"), &dt, &nd, shape, &x) == S24_OK) {
            size_t need = s24_dtype_size(dt) * (size_t)s24_numel(nd, shape);
            if (need > olen) accepted_bad++;
            free(x);
        } else if (x != NULL) {
            accepted_bad++;
        }
    }
    CHECK(accepted_bad == 0);
    free(orig);
}

static void cleanup(void)
{
    static const char *names[] = {"rt.npy", "bad.npy", "again.npy", "good.npy", "trunc.npy",
                                  "trunc2.npy", "extra.npy", "magic.npy", "hlen.npy", "v4.npy",
                                  "missing.npy", "v2.npy", "v3.npy", "v3big.npy", "scalar.npy",
                                  "src.npy", "fuzz.npy"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) unlink(tmp_path(names[i]));
    rmdir(t_tmpdir());
}

int main(void)
{
    test_round_trips();
    test_fixture();
    test_malformed();
    cleanup();
    return t_done("test_npy");
}
