/* test_cli_input.c: inputs the CLI must refuse by their content. Weights
 * holding NaN or infinity: prune refuses them naming the file and tensor,
 * exits 1 and writes nothing (as permute does), and --allow-nonfinite prunes
 * anyway. Files that are not safetensors (a .npy, a ZIP, a pickle, JSON,
 * random bytes), whatever their name: prune, inspect and compress say what
 * the file is, or why it is not safetensors, and write nothing. Runs the CLI
 * from $S24_CLI. */
#include "t.h"
#include "t_cli.h"

#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A checkpoint with an eligible F32 conv weight, an eligible BF16 linear
 * weight and an F32 bias; poison puts NaN in the conv weight (1), +inf in
 * the linear weight (2) or NaN in the bias, which prune leaves alone (3). */
static void write_ckpt(const char *path, int poison)
{
    struct s24_st st;
    s24_st_init(&st);
    float conv[16 * 16 * 3 * 3], bias[16];
    uint16_t lin[8 * 32];
    struct s24_rng r;
    s24_rng_seed(&r, 7);
    for (size_t i = 0; i < sizeof conv / sizeof conv[0]; i++) conv[i] = s24_rng_uniformf(&r, -1, 1);
    for (size_t i = 0; i < sizeof lin / sizeof lin[0]; i++)
        lin[i] = s24_f32_to_bf16(s24_rng_uniformf(&r, -1, 1));
    for (int i = 0; i < 16; i++) bias[i] = 0.1f * (float)i;
    if (poison == 1) conv[100] = NAN;
    if (poison == 2) lin[37] = s24_f32_to_bf16(INFINITY);
    if (poison == 3) bias[3] = NAN;
    int64_t sc[4] = {16, 16, 3, 3}, sl[2] = {8, 32}, sb[1] = {16};
    CHECK_OK(s24_st_add(&st, "conv.weight", S24_F32, 4, sc, conv));
    CHECK_OK(s24_st_add(&st, "conv.bias", S24_F32, 1, sb, bias));
    CHECK_OK(s24_st_add(&st, "fc.weight", S24_BF16, 2, sl, lin));
    CHECK_OK(s24_st_write(path, &st));
    s24_st_free(&st);
}

static void test_nonfinite(void)
{
    const char *in = tmp("w.safetensors"), *o = tmp("out.safetensors"), *mk = tmp("m.safetensors");
    CHECK(run("prune --help") == 0 && contains(out_path, "--allow-nonfinite"));

    write_ckpt(in, 1);
    CHECK(run("prune %s -o %s --save-masks %s", in, o, mk) == 1, "NaN weight refused");
    CHECK(contains(err_path, in) && contains(err_path, "\"conv.weight\"") &&
          contains(err_path, "element 100 ") && contains(err_path, "NaN") &&
          contains(err_path, "--allow-nonfinite"));
    CHECK(!exists(o) && !exists(mk), "nothing written");
    CHECK(run("prune %s -o %s -q --allow-nonfinite", in, o) == 0, "kept with --allow-nonfinite");
    CHECK(exists(o));
    remove(o);

    write_ckpt(in, 2);
    CHECK(run("prune %s -o %s", in, o) == 1 && contains(err_path, "\"fc.weight\"") &&
          contains(err_path, "infinite") && !exists(o), "BF16 +inf refused");
    /* permute refuses the same weight: one check serves both */
    const char *perm = tmp("perm.npy");
    CHECK(run("permute %s --tensor fc.weight -o %s", in, perm) == 1 &&
              contains(err_path, "infinite") && !exists(perm),
          "permute agrees");

    write_ckpt(in, 3); /* a bias is not pruned, so its NaN is not prune's business */
    CHECK(run("prune %s -o %s -q", in, o) == 0 && exists(o), "NaN in an unpruned bias");
    remove(o);
    remove(in);
}

/* The file's name says safetensors; its content decides. */
static void test_not_safetensors(void)
{
    const char *f = tmp("looks.safetensors"), *o = tmp("out.safetensors");
    float a[6] = {1, 2, 3, 4, 5, 6};
    int64_t shape[2] = {2, 3};
    static const char *const cmds[] = {"prune %s -o %s", "compress %s -o %s", "inspect %s"};

    CHECK_OK(s24_npy_write(f, S24_F32, 2, shape, a));
    for (int i = 0; i < 3; i++) {
        CHECK(run(cmds[i], f, o) == 1 && contains(err_path, f) &&
              contains(err_path, "is a NumPy .npy file, not safetensors") && !exists(o),
              "%s of a .npy", cmds[i]);
    }
    static const struct { const char *bytes; size_t n; const char *word; } kinds[] = {
        {"PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00", 16, "ZIP archive"},
        {"\x80\x02}q\x00(X\x06\x00\x00\x00conv.wq\x01", 18, "pickle"},
        {"{\"conv.weight\": [1, 2, 3]}\n", 27, "JSON"},
        {"\x89HDF\r\n\x1a\n\x00\x00\x00\x00\x00\x08\x08\x00", 16, "HDF5"},
        {"abc", 3, "too short"},
        /* a small header length, then no '{' */
        {"\x04\x00\x00\x00\x00\x00\x00\x00xxxx", 12, "does not start with '{'"},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        CHECK_OK(s24_write_file_atomic(f, kinds[k].bytes, kinds[k].n));
        CHECK(run("prune %s -o %s", f, o) == 1 && contains(err_path, f) &&
              contains(err_path, kinds[k].word) && !exists(o), "%s", kinds[k].word);
    }
    /* random bytes: said not to be safetensors, with the reason */
    uint8_t rnd[4096];
    struct s24_rng r;
    s24_rng_seed(&r, 13);
    for (int seed = 0; seed < 4; seed++) {
        for (size_t i = 0; i < sizeof rnd; i++) rnd[i] = (uint8_t)s24_rng_u64(&r);
        CHECK_OK(s24_write_file_atomic(f, rnd, sizeof rnd));
        CHECK(run("inspect %s", f) == 1 && contains(err_path, "not a safetensors file") &&
              contains(err_path, "header length"), "random bytes %d", seed);
    }
    /* the same from memory, as the fuzz target sees it */
    struct s24_st st;
    CHECK(s24_st_parse((const uint8_t *)"\x93NUMPY\x01\x00v\x00{'descr'", 18, "buf", &st) ==
          S24_ERR_FORMAT);
    CHECK(strstr(s24_last_error(), "buf is a NumPy .npy file"), "%s", s24_last_error());
    remove(f);
}

int main(void)
{
    t_cli_init();
    if (access(cli, X_OK) != 0) {
        CHECK(0, "CLI %s not found (set S24_CLI)", cli);
        return t_done("test_cli_input");
    }
    test_nonfinite();
    test_not_safetensors();
    remove(out_path);
    remove(err_path);
    rmdir(t_tmpdir());
    return t_done("test_cli_input");
}
