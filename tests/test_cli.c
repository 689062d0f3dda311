/* test_cli.c: the safetensors subcommands end to end on the three PyTorch
 * fixtures (F32, F16, BF16): prune keeps the largest magnitudes exactly as
 * s24_mask_compute chooses and leaves every other byte alone; saved masks
 * re-applied give the same file; compress -> decompress is byte-identical;
 * inspect reports 2:4; bad usage exits 2; missing or malformed input exits 1
 * naming the file and leaves no output behind; infer's three paths on a
 * 2:4-pruned smallcnn (forced 2:4, forced dense, auto with its measured
 * reasons) and its --path refusal. Runs the CLI from $S24_CLI. */
#include "t.h"
#include "t_cli.h"

#include <dirent.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int same_files(const char *a, const char *b)
{
    uint8_t *x, *y;
    size_t nx, ny;
    if (s24_read_file(a, &x, &nx) != S24_OK) return 0;
    if (s24_read_file(b, &y, &ny) != S24_OK) {
        free(x);
        return 0;
    }
    int same = nx == ny && !memcmp(x, y, nx);
    free(x);
    free(y);
    return same;
}

/* The pruned file against the original: only eligible weights changed, each
 * to exactly the mask s24_mask_compute picks; names, dtypes, shapes, order,
 * header and every other tensor byte-identical. */
static void check_pruned(const char *orig_path, const char *pruned_path, const char *masks_path,
                         int n, int m, const char *const *expect, int nexpect)
{
    struct s24_st a, b, mk;
    s24_st_init(&mk);
    CHECK_OK(s24_st_read(orig_path, &a));
    CHECK_OK(s24_st_read(pruned_path, &b));
    if (masks_path) CHECK_OK(s24_st_read(masks_path, &mk));
    CHECK(a.n == b.n);
    CHECK(a.header_len == b.header_len && a.header && b.header &&
              !memcmp(a.header, b.header, a.header_len),
          "header unchanged");
    int npruned = 0;
    for (int i = 0; i < a.n && i < b.n; i++) {
        struct s24_st_tensor *x = &a.t[i], *y = &b.t[i];
        CHECK(!strcmp(x->name, y->name) && x->dtype == y->dtype && x->ndim == y->ndim &&
              !memcmp(x->shape, y->shape, (size_t)x->ndim * 8) && x->nbytes == y->nbytes);
        int should = 0;
        for (int k = 0; k < nexpect; k++) should |= !strcmp(expect[k], x->name);
        if (!should) {
            CHECK(!memcmp(x->data, y->data, x->nbytes), "%s must be byte-identical", x->name);
            CHECK(!masks_path || !s24_st_find(&mk, x->name), "no mask saved for %s", x->name);
            continue;
        }
        npruned++;
        struct s24_view v;
        CHECK_OK(s24_view_of_shape(x->ndim, x->shape, &v));
        int64_t numel = s24_numel(x->ndim, x->shape);
        uint8_t *mask = malloc((size_t)numel);
        void *ref = malloc(x->nbytes);
        memset(mask, 0xAB, (size_t)numel); /* poison */
        memcpy(ref, x->data, x->nbytes);
        CHECK_OK(s24_mask_compute(x->dtype, x->data, v, n, m, mask));
        CHECK_OK(s24_mask_apply(x->dtype, ref, v, mask));
        CHECK(!memcmp(ref, y->data, x->nbytes), "%s pruned to exactly the largest magnitudes",
              x->name);
        CHECK(s24_mask_check(y->dtype, y->data, v, n, m, NULL) == S24_OK, "%s is %d:%d", x->name,
              n, m);
        CHECK(memcmp(x->data, y->data, x->nbytes) != 0, "%s changed", x->name);
        if (masks_path) {
            struct s24_st_tensor *mt = s24_st_find(&mk, x->name);
            CHECK(mt && mt->dtype == S24_U8 && mt->nbytes == (size_t)numel &&
                      !memcmp(mt->data, mask, (size_t)numel),
                  "saved mask of %s", x->name);
        }
        free(mask);
        free(ref);
    }
    CHECK(npruned == nexpect, "%d pruned, expected %d", npruned, nexpect);
    if (masks_path) CHECK(mk.n == nexpect);
    s24_st_free(&a);
    s24_st_free(&b);
    s24_st_free(&mk);
}

static void test_fixture(const char *dir, const char *stem)
{
    char in[600];
    snprintf(in, sizeof in, "%s/%s.safetensors", dir, stem);
    const char *pruned = tmp("pruned.safetensors"), *masks = tmp("masks.safetensors");
    const char *again = tmp("again.safetensors"), *comp = tmp("comp.safetensors");
    const char *back = tmp("back.safetensors");
    static const char *const asp[] = {"3.weight", "8.weight"};
    static const char *const any[] = {"3.weight", "8.weight", "10.weight"};
    static const char *const only8[] = {"8.weight"};

    CHECK(run("prune %s -o %s --save-masks %s", in, pruned, masks) == 0, "%s", stem);
    CHECK(contains(out_path, "pruned 2:4"));
    CHECK(contains(out_path, "skipped: in 3 % 16 != 0"));
    check_pruned(in, pruned, masks, 2, 4, asp, 2);

    /* the saved masks re-applied reproduce the same file */
    CHECK(run("prune %s -o %s --masks %s -q", in, again, masks) == 0);
    CHECK(same_files(pruned, again), "%s: --masks gives the same file", stem);

    /* pruning again changes nothing (already 2:4, same masks) */
    CHECK(run("prune %s -o %s -q", pruned, again) == 0);
    CHECK(same_files(pruned, again), "%s: prune is idempotent", stem);

    /* inspect sees it */
    CHECK(run("inspect %s", pruned) == 0);
    CHECK(contains(out_path, "2:4"));
    CHECK(contains(out_path, "2 of 3 conv/linear weights are 2:4 sparse"));
    CHECK(contains(out_path, "format = pt"));

    /* compress -> decompress restores every byte */
    CHECK(run("compress %s -o %s", pruned, comp) == 0, "%s", stem);
    CHECK(contains(out_path, "compressed 2 of 16 tensors"));
    struct stat s1, s2;
    CHECK(stat(pruned, &s1) == 0 && stat(comp, &s2) == 0 && s2.st_size < s1.st_size,
          "compressed is smaller");
    CHECK(run("decompress %s -o %s", comp, back) == 0, "%s", stem);
    CHECK(same_files(pruned, back), "%s: decompress(compress(x)) == x byte for byte", stem);
    CHECK(run("inspect %s", comp) == 0 && contains(out_path, "2 stored compressed"));
    /* a dense file compresses to a copy that also round-trips */
    CHECK(run("compress %s -o %s -q", in, comp) == 0);
    CHECK(contains(out_path, "compressed 0 of 16"));
    CHECK(run("decompress %s -o %s", comp, back) == 0 && same_files(in, back));

    /* other rules and filters */
    CHECK(run("prune %s -o %s --min-shape any -q", in, pruned) == 0);
    check_pruned(in, pruned, NULL, 2, 4, any, 3);
    CHECK(run("prune %s -o %s --include '^8\\.' -q", in, pruned) == 0);
    check_pruned(in, pruned, NULL, 2, 4, only8, 1);
    CHECK(run("prune %s -o %s --exclude '^3\\.' -q", in, pruned) == 0);
    check_pruned(in, pruned, NULL, 2, 4, only8, 1);
    CHECK(run("prune %s -o %s --pattern 1:4 -q", in, pruned) == 0);
    check_pruned(in, pruned, NULL, 1, 4, asp, 2);
    CHECK(run("inspect %s", pruned) == 0 && contains(out_path, "1:4 2:4 4:8"));
    /* masks saved at 1:4 carry their pattern: --masks alone reproduces the file */
    CHECK(run("prune %s -o %s --pattern 1:4 --save-masks %s -q", in, pruned, masks) == 0);
    CHECK(run("prune %s -o %s --masks %s -q", in, again, masks) == 0);
    CHECK(same_files(pruned, again), "%s: 1:4 masks re-applied", stem);
    CHECK(run("prune %s -o %s --masks %s --pattern 2:4 -q", in, again, masks) == 1 &&
          contains(err_path, "2:4"));
    CHECK(no_temp_files());
    remove(pruned);
    remove(masks);
    remove(again);
    remove(comp);
    remove(back);
}

static void test_usage(void)
{
    const char *cmds[4] = {"prune", "inspect", "compress", "decompress"};
    for (int i = 0; i < 4; i++) {
        CHECK(run("%s --help", cmds[i]) == 0 && contains(out_path, "usage: sparse24"), "%s",
              cmds[i]);
        CHECK(run("%s", cmds[i]) == 2, "%s without arguments", cmds[i]);
        CHECK(run("%s --no-such-option x", cmds[i]) == 2, "%s bad option", cmds[i]);
        CHECK(contains(err_path, "--help"));
    }
    const char *o = tmp("never.safetensors");
    CHECK(run("prune in.safetensors") == 2 && contains(err_path, "-o"));
    CHECK(run("prune in.safetensors -o %s --pattern 4:4", o) == 2 && contains(err_path, "4:4"));
    CHECK(run("prune in.safetensors -o %s --pattern x", o) == 2);
    CHECK(run("prune in.safetensors -o %s --min-shape odd", o) == 2);
    CHECK(run("prune in.safetensors -o %s --include '('", o) == 2);
    CHECK(run("prune in.safetensors -o %s --threads -3", o) == 2);
    CHECK(run("prune a b -o %s", o) == 2);
    CHECK(run("compress in.safetensors") == 2);
    CHECK(run("decompress in.safetensors") == 2);
    CHECK(!exists(o));
}

static void test_failures(const char *dir)
{
    const char *o = tmp("out.safetensors");
    const char *missing = tmp("missing.safetensors");
    const char *cmds[3] = {"prune", "compress", "decompress"};
    for (int i = 0; i < 3; i++) {
        CHECK(run("%s %s -o %s", cmds[i], missing, o) == 1, "%s of a missing file", cmds[i]);
        CHECK(contains(err_path, missing));
        CHECK(!exists(o));
    }
    CHECK(run("inspect %s", missing) == 1 && contains(err_path, missing));

    /* a damaged fixture: truncated, then header length past the end */
    char in[600];
    snprintf(in, sizeof in, "%s/torch_small_f16.safetensors", dir);
    uint8_t *d;
    size_t n;
    CHECK_OK(s24_read_file(in, &d, &n));
    const char *bad = tmp("bad.safetensors");
    CHECK_OK(s24_write_file_atomic(bad, d, n - 100));
    for (int i = 0; i < 3; i++) {
        CHECK(run("%s %s -o %s", cmds[i], bad, o) == 1, "%s of a truncated file", cmds[i]);
        CHECK(contains(err_path, bad));
        CHECK(!exists(o));
    }
    CHECK(run("inspect %s", bad) == 1 && contains(err_path, bad));
    d[7] = 0x01; /* header length 2^56 */
    CHECK_OK(s24_write_file_atomic(bad, d, n));
    CHECK(run("prune %s -o %s", bad, o) == 1 && contains(err_path, "limit") && !exists(o));
    d[7] = 0;
    d[8] = '[';
    CHECK_OK(s24_write_file_atomic(bad, d, n));
    CHECK(run("prune %s -o %s", bad, o) == 1 && contains(err_path, bad) && !exists(o));
    free(d);

    /* header damage of the same length: unknown dtype, duplicate name,
     * non-UTF-8 name, shape/bytes mismatch, overlapping offsets */
    static const struct { const char *from, *to, *word; } damage[] = {
        {"\"dtype\":\"F16\"", "\"dtype\":\"F17\"", "F17"},
        {"\"8.bias\"", "\"4.bias\"", "twice"},
        {"\"8.bias\"", "\"\xff.bias\"", "UTF-8"},
        {"\"shape\":[32],\"data_offsets\":[1744", "\"shape\":[33],\"data_offsets\":[1744", "bytes"},
        {"[1744,1808]", "[1740,1804]", "overlap"},
    };
    for (size_t k = 0; k < sizeof damage / sizeof damage[0]; k++) {
        CHECK_OK(s24_read_file(in, &d, &n));
        char *h = (char *)d + 8;
        size_t hl = 0;
        for (int i = 7; i >= 0; i--) hl = (hl << 8) | d[i];
        char *at = NULL;
        for (size_t i = 0; i + strlen(damage[k].from) <= hl && !at; i++)
            if (!memcmp(h + i, damage[k].from, strlen(damage[k].from))) at = h + i;
        CHECK(at != NULL, "fixture header holds %s", damage[k].from);
        if (at) memcpy(at, damage[k].to, strlen(damage[k].to));
        CHECK_OK(s24_write_file_atomic(bad, d, n));
        free(d);
        for (int i = 0; i < 3; i++) {
            CHECK(run("%s %s -o %s", cmds[i], bad, o) == 1, "%s: %s", cmds[i], damage[k].to);
            CHECK(contains(err_path, bad) && contains(err_path, damage[k].word));
            CHECK(!exists(o));
        }
        CHECK(run("inspect %s", bad) == 1 && contains(err_path, damage[k].word));
    }
    /* an output folder that does not exist */
    char nodir[700];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/out.safetensors", t_tmpdir());
    CHECK(run("prune %s -o %s", in, nodir) == 1 && contains(err_path, nodir));

    /* decompress of a dense file, compress of a compressed file */
    CHECK(run("decompress %s -o %s", in, o) == 1 &&
          contains(err_path, "not a sparse24 compressed"));
    CHECK(!exists(o));
    const char *comp = tmp("c.safetensors");
    CHECK(run("compress %s -o %s", in, comp) == 0);
    CHECK(run("compress %s -o %s", comp, o) == 1 && !exists(o));
    CHECK(run("prune %s -o %s", comp, o) == 1 && !exists(o));

    /* masks that do not fit: wrong shape, not N:M, naming an unknown tensor */
    const char *mk = tmp("m.safetensors");
    struct s24_st st;
    s24_st_init(&st);
    int64_t wrong[2] = {32, 32};
    CHECK_OK(s24_st_add(&st, "8.weight", S24_U8, 2, wrong, NULL));
    CHECK_OK(s24_st_write(mk, &st));
    CHECK(run("prune %s -o %s --masks %s", in, o, mk) == 1 && contains(err_path, "shape") &&
          !exists(o));
    s24_st_free(&st);
    int64_t right[2] = {32, 64};
    uint8_t ones[32 * 64];
    memset(ones, 1, sizeof ones);
    CHECK_OK(s24_st_add(&st, "8.weight", S24_U8, 2, right, ones));
    CHECK_OK(s24_st_write(mk, &st));
    CHECK(run("prune %s -o %s --masks %s", in, o, mk) == 1 && contains(err_path, "2:4") &&
          !exists(o));
    s24_st_free(&st);
    CHECK_OK(s24_st_add(&st, "nope.weight", S24_U8, 2, right, ones));
    CHECK_OK(s24_st_write(mk, &st));
    CHECK(run("prune %s -o %s --masks %s", in, o, mk) == 1 && contains(err_path, "nope.weight") &&
          !exists(o));
    s24_st_free(&st);

    /* a damaged compressed file: meta of the wrong shape */
    const char *pr = tmp("p.safetensors");
    CHECK(run("prune %s -o %s -q", in, pr) == 0 && run("compress %s -o %s -q", pr, comp) == 0);
    CHECK_OK(s24_st_read(comp, &st));
    struct s24_st_tensor *m8 = s24_st_find(&st, "8.weight.meta");
    CHECK(m8 != NULL);
    if (m8) {
        m8->shape[1] = 4;
        m8->nbytes /= 2;
    }
    CHECK_OK(s24_st_write(comp, &st));
    s24_st_free(&st);
    CHECK(run("decompress %s -o %s", comp, o) == 1 && contains(err_path, "8.weight.meta") &&
          !exists(o));
    CHECK(no_temp_files());
    remove(bad);
    remove(comp);
    remove(mk);
    remove(pr);
}

/* Removes dir and the plain files in it. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1200];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            remove(p);
        }
    closedir(d);
    rmdir(dir);
}

static void test_infer(void)
{
    const char *ck = tmp("infer-ck");
    /* a few steps, then pruned 2:4 with no phase 2: phase2.safetensors is 2:4 */
    CHECK(run("train --model smallcnn --epochs 2 --phase2-epochs 0 --limit-train 64 --batch 32 "
              "--limit-test 8 --out %s", ck) == 0);
    char pruned[700];
    snprintf(pruned, sizeof pruned, "%s/phase2.safetensors", ck);
    const char *common = "--model smallcnn --limit-test 8 --batch 4 --repeats 1 --threads 2";
    CHECK(run("infer %s --checkpoint %s --path sparse", common, pruned) == 0 &&
          contains(out_path, "2 of 4 through the 2:4 GEMM (2 are 2:4)") &&
          contains(out_path, "2:4 asked for"));
    /* the CPU plan in fp32 against the model's eval forward: the same class
     * (one near-tie of a barely trained net may flip under the folded BN) */
    {
        char *o = slurp(out_path);
        const char *at = o ? strstr(o, "predictions as the model's eval forward: 2:4 plan ") : NULL;
        long a = -1, n = -1, b = -1;
        if (at)
            sscanf(at,
                   "predictions as the model's eval forward: 2:4 plan %ld of %ld (%*[^)]), dense "
                   "plan %ld",
                   &a, &n, &b);
        CHECK(contains(out_path, "model eval forward (fp32)") && n == 8 && a >= 7 && b >= 7,
              "infer: the plans agree with the eval forward on %ld and %ld of %ld", a, b, n);
        long d = -1, n2 = -1;
        at = o ? strstr(o, "predictions as the dense plan: 2:4 plan ") : NULL;
        if (at) sscanf(at, "predictions as the dense plan: 2:4 plan %ld of %ld", &d, &n2);
        /* no fewer than either agrees with the eval forward, less the other's misses */
        CHECK(n2 == 8 && d >= a + b - n && d <= n,
              "infer: the 2:4 plan agrees with the dense plan on %ld of %ld", d, n2);
        free(o);
    }
    /* --csv: one row per run; --layers: a row per layer, reasons quoted */
    {
        const char *cf = tmp("infer.csv"), *lf = tmp("infer-layers.csv");
        remove(cf), remove(lf);
        CHECK(run("infer %s --checkpoint %s --path sparse --csv %s --layers %s", common, pruned, cf,
                  lf) == 0);
        CHECK(run("infer %s --checkpoint %s --path dense --csv %s", common, pruned, cf) == 0);
        char *c = slurp(cf), *l = slurp(lf);
        int rows = 0, lines = 0;
        for (const char *q = c; q && *q; q++) rows += *q == '\n';
        for (const char *q = l; q && *q; q++) lines += *q == '\n';
        CHECK(c && !strncmp(c, "model,device,dtype,path,images,batch,acc_plan,", 46) && rows == 3 &&
                  strstr(c, ",threads,agree_plan_dense\n") &&
                  strstr(c, "\nsmallcnn,cpu,fp32,sparse,8,4,") &&
                  strstr(c, "\nsmallcnn,cpu,fp32,dense,8,4,"),
              "infer --csv: %s", c ? c : "(no file)");
        CHECK(l && lines == 1 + 4 && strstr(l, "\"2:4 asked for\"") &&
                  strstr(l, ",\"conv2.weight\",1,"),
              "infer --layers: %s", l ? l : "(no file)");
        free(c), free(l);
        CHECK(run("infer %s --checkpoint %s --csv /nonexistent-dir/x.csv", common, pruned) == 1 &&
              contains(err_path, "/nonexistent-dir/x.csv: cannot open"));
    }
    CHECK(run("infer %s --checkpoint %s --path dense", common, pruned) == 0 &&
          contains(out_path, "0 of 4 through the 2:4 GEMM (2 are 2:4)") &&
          contains(out_path, "dense asked for"));
    /* auto's choice depends on the machine; its report must give the times */
    CHECK(run("infer %s --checkpoint %s", common, pruned) == 0 &&
          contains(out_path, "auto plan") && contains(out_path, "measured: dense ") &&
          contains(out_path, "(2 are 2:4)"));
    CHECK(run("infer %s --checkpoint %s --path bogus", common, pruned) == 2 &&
          contains(err_path, "--path bogus"));
    /* 16-bit types are the GPU plan's; int8 on the CPU is its fp32 simulation:
     * conv3 (64 x 288) quantised, conv2 (K 144) not a multiple of 32 */
    CHECK(run("infer %s --checkpoint %s --dtype fp16", common, pruned) == 2 &&
          contains(err_path, "CPU plan runs fp32 only"));
    CHECK(run("infer %s --checkpoint %s --device cpu --dtype int8 --calib 4", common, pruned) ==
                  0 &&
              contains(out_path, "cpu, int8 (simulated in fp32)") &&
              contains(out_path, "int8 simulation, dense in fp32") &&
              contains(out_path, "dense in fp32 (int8: oc, k not multiples of 32)"),
          "infer --dtype int8 on the CPU");
    CHECK(run("infer %s --checkpoint %s --dtype int8 --calib 0", common, pruned) == 2 &&
          contains(err_path, "--calib 0"));
    remove_dir(ck);
}

int main(void)
{
    t_cli_init();
    const char *dir = getenv("S24_FIXTURES");
    if (!dir) dir = "tests/fixtures";
    if (access(cli, X_OK) != 0) {
        CHECK(0, "CLI %s not found (set S24_CLI)", cli);
        return t_done("test_cli");
    }
    test_fixture(dir, "torch_small_f32");
    test_fixture(dir, "torch_small_f16");
    test_fixture(dir, "torch_small_bf16");
    test_usage();
    test_failures(dir);
    test_infer();
    remove(out_path);
    remove(err_path);
    rmdir(t_tmpdir());
    return t_done("test_cli");
}
