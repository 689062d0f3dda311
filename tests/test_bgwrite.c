/* test_bgwrite.c: the pipeline's background state writer (src/nn/bgwrite.c):
 * a snapshot and its text file land whole and in place after a join; the
 * caller's snapshot is lent (kept by the caller, untouched, and refilled in
 * place for the next write, which writes the new contents); the last touch
 * runs before the write and its failure is the write's; a failed write (a missing folder, an
 * injected fsync failure) comes back at the join or at the next start, in
 * the caller's thread, with the output layer's message, once, and leaves the
 * old file as it was; S24_BGWRITE=0 writes at once. Then it times one
 * snapshot written in the caller's thread against the same handed to the
 * background (8 MB; S24_BGWRITE_MB=89 for ResNet18-CIFAR's state: weights
 * and momentum of its 11.17 M parameters), and prints both. */
#include "t.h"

#include <sys/stat.h>

#include "nn/bgwrite.h"

static const char *path_in(const char *name)
{
    static char buf[8][600];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 600, "%s/%s", t_tmpdir(), name);
    return p;
}

/* A snapshot of n floats 0, 1, 2, ... named "w" (and metadata "k" = v). */
static void snapshot(struct s24_st *st, int64_t n, float base, const char *v)
{
    float *x = malloc(sizeof(float) * (size_t)(n ? n : 1)); /* x: (n) */
    for (int64_t i = 0; i < n; i++)
        x[i] = base + (float)i;
    s24_st_init(st);
    CHECK_OK(s24_st_add(st, "w", S24_F32, 1, &n, x));
    CHECK_OK(s24_st_meta_set(st, "k", v));
    free(x);
}

/* path holds "w" starting at base and metadata k = v */
static int holds(const char *path, float base, const char *v)
{
    struct s24_st st;
    if (s24_st_read(path, &st) != S24_OK) return 0;
    struct s24_st_tensor *t = s24_st_find(&st, "w");
    const char *k = s24_st_meta_get(&st, "k");
    int ok = t && t->nbytes >= 8 && ((float *)t->data)[1] == base + 1 && k && !strcmp(k, v);
    s24_st_free(&st);
    return ok;
}

static int text_is(const char *path, const char *want)
{
    uint8_t *d;
    size_t n;
    if (s24_read_file(path, &d, &n) != S24_OK) return 0;
    int ok = n == strlen(want) && !memcmp(d, want, n);
    free(d);
    return ok;
}

static void test_writes(void)
{
    struct s24_bgwrite w;
    struct s24_st st;
    s24_bgwrite_init(&w);
    CHECK_OK(s24_bgwrite_join(&w)); /* nothing running */
    snapshot(&st, 1000, 0, "one");
    CHECK_OK(s24_bgwrite_start(&w, path_in("s.safetensors"), &st, NULL, NULL, path_in("t.csv"),
                               "a,b\n", 4));
    CHECK(s24_bgwrite_holds(&w, &st) && st.n == 1, "the snapshot is lent, not taken");
    /* a second start waits for the first: both files are the second's after */
    struct s24_st st2;
    snapshot(&st2, 1000, 5, "two");
    CHECK_OK(s24_bgwrite_start(&w, path_in("s.safetensors"), &st2, NULL, NULL, path_in("t.csv"),
                               "c\n", 2));
    CHECK(!s24_bgwrite_holds(&w, &st) && s24_bgwrite_holds(&w, &st2));
    CHECK_OK(s24_bgwrite_join(&w));
    CHECK(!s24_bgwrite_holds(&w, &st2));
    CHECK(holds(path_in("s.safetensors"), 5, "two"));
    CHECK(text_is(path_in("t.csv"), "c\n"));
    CHECK(w.writes == 2 && w.total_s > 0, "%d writes, %g s", w.writes, w.total_s);
    s24_st_free(&st);
    s24_st_free(&st2);
    /* no text file */
    snapshot(&st, 10, 7, "three");
    CHECK_OK(s24_bgwrite_start(&w, path_in("u.safetensors"), &st, NULL, NULL, NULL, NULL, 0));
    CHECK_OK(s24_bgwrite_join(&w));
    CHECK(holds(path_in("u.safetensors"), 7, "three"));
    s24_st_free(&st);
}

/* The last touch of test_reuse: adds ctx's value to every float of "w". */
static int add_prep(void *ctx, struct s24_st *st)
{
    struct s24_st_tensor *t = s24_st_find(st, "w");
    if (!t) return s24_error(S24_ERR_NOT_FOUND, "add_prep: no w");
    for (size_t i = 0; i < t->nbytes / 4; i++)
        ((float *)t->data)[i] += *(const float *)ctx;
    return S24_OK;
}

static int fail_prep(void *ctx, struct s24_st *st)
{
    return s24_error(S24_ERR_NOMEM, "prep: out of memory (as asked)");
}

/* One snapshot refilled in place (s24_st_put) for two consecutive writes:
 * the second file has the second contents, its buffer is the same one, and
 * a tensor that changed size (the pipeline's CSV) or went away is right. */
static void test_reuse(void)
{
    struct s24_bgwrite w;
    struct s24_st st, rd;
    float add = 0.5f;
    void *d, *w_buf;
    int64_t n = 1000, two = 2, three = 3;
    s24_bgwrite_init(&w);
    s24_st_init(&st);
    CHECK_OK(s24_st_put(&st, 0, "w", S24_F32, 1, &n, &d));
    w_buf = d;
    for (int64_t i = 0; i < n; i++)
        ((float *)d)[i] = (float)i;
    CHECK_OK(s24_st_put(&st, 1, "csv", S24_U8, 1, &two, &d));
    memcpy(d, "ab", 2);
    CHECK_OK(s24_st_put(&st, 2, "gone", S24_U8, 1, &two, &d));
    memcpy(d, "zz", 2);
    CHECK_OK(s24_st_meta_set(&st, "k", "one"));
    CHECK_OK(s24_bgwrite_start(&w, path_in("r.safetensors"), &st, add_prep, &add, NULL, NULL, 0));
    CHECK_OK(s24_bgwrite_join(&w));
    CHECK(holds(path_in("r.safetensors"), 0.5f, "one"));
    /* refilled: w's buffer kept, csv grown, "gone" dropped */
    CHECK_OK(s24_st_put(&st, 0, "w", S24_F32, 1, &n, &d));
    CHECK(d == w_buf, "the buffer is reused");
    for (int64_t i = 0; i < n; i++)
        ((float *)d)[i] = 10.0f + (float)i;
    CHECK_OK(s24_st_put(&st, 1, "csv", S24_U8, 1, &three, &d));
    memcpy(d, "abc", 3);
    CHECK(s24_st_put(&st, 1, "w", S24_U8, 1, &three, &d) == S24_ERR_INVALID, "a duplicate name");
    s24_st_truncate(&st, 2);
    CHECK_OK(s24_st_meta_set(&st, "k", "two"));
    CHECK_OK(s24_bgwrite_start(&w, path_in("r.safetensors"), &st, add_prep, &add, NULL, NULL, 0));
    CHECK_OK(s24_bgwrite_join(&w));
    CHECK(holds(path_in("r.safetensors"), 10.5f, "two"));
    CHECK_OK(s24_st_read(path_in("r.safetensors"), &rd));
    CHECK(rd.n == 2 && !strcmp(rd.t[1].name, "csv") && rd.t[1].nbytes == 3 &&
              !memcmp(rd.t[1].data, "abc", 3),
          "%d tensors", rd.n);
    CHECK(rd.nmeta == 1, "metadata replaced in place, not added");
    s24_st_free(&rd);
    /* a failed last touch is the write's failure: nothing written */
    CHECK_OK(s24_bgwrite_start(&w, path_in("r.safetensors"), &st, fail_prep, NULL, NULL, NULL, 0));
    int rc = s24_bgwrite_join(&w);
    CHECK(rc == S24_ERR_NOMEM && strstr(s24_last_error(), "as asked"), "%d: %s", rc,
          s24_last_error());
    CHECK(holds(path_in("r.safetensors"), 10.5f, "two"));
    s24_st_free(&st);
}

static void test_errors(void)
{
    struct s24_bgwrite w;
    struct s24_st st;
    s24_bgwrite_init(&w);
    /* a folder that does not exist: reported at the join, naming the file */
    char bad[600]; /* kept: path_in's buffers are reused */
    snprintf(bad, sizeof bad, "%s", path_in("nofolder/s.safetensors"));
    snapshot(&st, 100, 0, "x");
    int rc = s24_bgwrite_start(&w, bad, &st, NULL, NULL, NULL, NULL, 0);
    if (rc == S24_OK) rc = s24_bgwrite_join(&w);
    CHECK(rc == S24_ERR_IO && strstr(s24_last_error(), bad), "%d: %s", rc, s24_last_error());
    CHECK_OK(s24_bgwrite_join(&w)); /* reported once */
    /* a failure reported by the next start, which then writes nothing */
    CHECK_OK(s24_bgwrite_start(&w, bad, &st, NULL, NULL, NULL, NULL, 0));
    struct s24_st st2;
    snapshot(&st2, 100, 0, "x");
    remove(path_in("v.safetensors"));
    rc = s24_bgwrite_start(&w, path_in("v.safetensors"), &st2, NULL, NULL, NULL, NULL, 0);
    CHECK(rc == S24_ERR_IO && strstr(s24_last_error(), bad), "%d: %s", rc, s24_last_error());
    CHECK(st2.n == 1 && !s24_bgwrite_holds(&w, &st2), "the refused snapshot stays the caller's");
    CHECK_OK(s24_bgwrite_join(&w));
    s24_st_free(&st2);
    struct stat sb;
    CHECK(stat(path_in("v.safetensors"), &sb) != 0, "nothing written after a failure");
    /* an injected fsync failure: the old file stays, the message says so */
    s24_st_free(&st);
    snapshot(&st, 100, 1, "old");
    CHECK_OK(s24_bgwrite_start(&w, path_in("f.safetensors"), &st, NULL, NULL, NULL, NULL, 0));
    CHECK_OK(s24_bgwrite_join(&w));
    CHECK_OK(s24_outfile_fault_set("fsync:1:ENOSPC"));
    s24_st_free(&st);
    snapshot(&st, 100, 2, "new");
    CHECK_OK(
        s24_bgwrite_start(&w, path_in("f.safetensors"), &st, NULL, NULL, path_in("f.csv"), "x", 1));
    rc = s24_bgwrite_join(&w);
    CHECK(rc == S24_ERR_IO && strstr(s24_last_error(), "No space left on device") &&
              strstr(s24_last_error(), "is unchanged"),
          "%d: %s", rc, s24_last_error());
    CHECK_OK(s24_outfile_fault_set(NULL));
    CHECK(holds(path_in("f.safetensors"), 1, "old"));
    CHECK(stat(path_in("f.csv"), &sb) != 0, "the text file is not written after a failure");
    s24_st_free(&st);
    /* S24_BGWRITE=0: the error at once, from start */
    setenv("S24_BGWRITE", "0", 1);
    s24_bgwrite_init(&w);
    CHECK(w.sync == 1);
    snapshot(&st, 100, 0, "x");
    rc = s24_bgwrite_start(&w, bad, &st, NULL, NULL, NULL, NULL, 0);
    CHECK(rc == S24_ERR_IO && strstr(s24_last_error(), bad), "%d: %s", rc, s24_last_error());
    CHECK(!s24_bgwrite_holds(&w, &st), "written at once: nothing held");
    CHECK_OK(s24_bgwrite_join(&w));
    unsetenv("S24_BGWRITE");
    s24_st_free(&st);
}

/* The caller's wait for one snapshot: written here vs handed over. */
static void test_timing(void)
{
    const char *mb_env = getenv("S24_BGWRITE_MB");
    double mb = mb_env ? atof(mb_env) : 8;
    if (!(mb > 0 && mb < 4096)) mb = 8;
    int64_t n = (int64_t)(mb * 1e6 / 8); /* weights and momentum: two tensors of n floats */
    float *x = calloc((size_t)n, sizeof *x);
    CHECK(x != NULL);
    if (!x) return;
    for (int rep = 0; rep < 3; rep++) {
        struct s24_st st;
        struct s24_bgwrite w;
        double t0 = s24_now();
        s24_st_init(&st);
        CHECK_OK(s24_st_add(&st, "w", S24_F32, 1, &n, x));
        CHECK_OK(s24_st_add(&st, "__momentum__.w", S24_F32, 1, &n, x));
        double t_snap = s24_now() - t0;
        t0 = s24_now();
        CHECK_OK(s24_st_write(path_in("big.safetensors"), &st));
        double t_sync = s24_now() - t0;
        s24_bgwrite_init(&w);
        t0 = s24_now();
        CHECK_OK(s24_bgwrite_start(&w, path_in("big.safetensors"), &st, NULL, NULL, NULL, NULL, 0));
        double t_start = s24_now() - t0;
        t0 = s24_now();
        CHECK_OK(s24_bgwrite_join(&w));
        double t_join = s24_now() - t0;
        s24_st_free(&st);
        printf("test_bgwrite: %.1f MB state: snapshot %.3f s; written in the caller %.3f s, "
               "handed over %.4f s (the write then took %.3f s beside)\n",
               8.0 * (double)n / 1e6, t_snap, t_sync, t_start, t_join + t_start);
    }
    free(x);
    remove(path_in("big.safetensors"));
}

int main(void)
{
    test_writes();
    test_reuse();
    test_errors();
    test_timing();
    return t_done("test_bgwrite");
}
