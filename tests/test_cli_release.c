/* test_cli_release.c: what a new user of PyTorch and Hugging Face checkpoints
 * hits first, end to end through the CLI ($S24_CLI), on files made here:
 * prune leaves embeddings and output heads dense by default (with the reason
 * in its table) and prunes them with --include-embeddings; compress packs a
 * tensor pruned in PyTorch (w * mask, so -0.0 in pruned places) and says why
 * when it packs nothing; every command's --help ends with the exit codes;
 * every --threads takes the same values with the same message; the progress
 * line (eval, permute --model, bench) stays off stdout and out of files
 * unless --progress. */
#include "t.h"
#include "t_cli.h"

#include <math.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sparse24/sparse24_nn.h"

/* The line of `path` that names `tensor` (as the first word), or "". */
static void line_of(const char *path, const char *tensor, char *buf, size_t len)
{
    char *s = slurp(path), *p = s;
    size_t tl = strlen(tensor);
    buf[0] = 0;
    while (p && *p) {
        char *nl = strchr(p, '\n');
        if (!strncmp(p, tensor, tl) && p[tl] == ' ') {
            size_t l = nl ? (size_t)(nl - p) : strlen(p);
            if (l >= len) l = len - 1;
            memcpy(buf, p, l);
            buf[l] = 0;
            break;
        }
        p = nl ? nl + 1 : NULL;
    }
    free(s);
}

/* slurp, remembered so that a CHECK can use it inline (freed on the next call) */
static const char *slurp_keep(const char *path)
{
    static char *last;
    free(last);
    return last = slurp(path);
}

/* Random F32 values in +-[0.1, 1.1), none zero, half of them negative. */
static void fill(float *w, int64_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        float u = (float)((s >> 40) & 0xFFFF) / 65536.0f;
        w[i] = (s >> 63 ? -1.0f : 1.0f) * (0.1f + u);
    }
}

static void add(struct s24_st *st, const char *name, int64_t r, int64_t c, uint64_t seed)
{
    int64_t shape[2] = {r, c};
    float *w = malloc((size_t)(r * c) * sizeof *w);
    fill(w, r * c, seed);
    CHECK_OK(s24_st_add(st, name, S24_F32, 2, shape, w));
    free(w);
}

/* A Hugging Face-style decoder: vocabulary 64, hidden 32. */
static const struct {
    const char *name;
    int64_t r, c;
    int pruned_by_default;
    const char *why;
} hf[] = {
    {"model.embed_tokens.weight", 64, 32, 0, "embedding (lookup table)"},
    {"model.layers.0.self_attn.q_proj.weight", 32, 32, 1, NULL},
    {"model.layers.0.mlp.up_proj.weight", 64, 32, 1, NULL}, /* vocab-shaped, but named */
    {"lm_head.weight", 64, 32, 0, "lm_head (output head)"},
    {"transformer.wte.weight", 48, 32, 0, "embedding (lookup table)"},
    {"transformer.wpe.weight", 16, 32, 0, "embedding (lookup table)"},
    {"bert.embeddings.word_embeddings.weight", 40, 16, 0, "embedding (lookup table)"},
    {"bert.embeddings.position_embeddings.weight", 16, 16, 0, "embedding (lookup table)"},
    {"encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", 32, 16, 0,
     "embedding (lookup table)"},
    {"output.weight", 64, 32, 0, "output head (vocab shape)"}, /* llama's untied head */
    {"encoder.layer.0.attention.key.weight", 16, 16, 1, NULL}, /* shaped like wpe: pruned */
};
#define NHF ((int)(sizeof hf / sizeof hf[0]))

static void test_embeddings(void)
{
    struct s24_st st, p;
    s24_st_init(&st);
    for (int i = 0; i < NHF; i++) add(&st, hf[i].name, hf[i].r, hf[i].c, (uint64_t)i + 1);
    const char *in = tmp("hf.safetensors"), *out = tmp("hf_pruned.safetensors");
    CHECK_OK(s24_st_write(in, &st));

    CHECK(run("prune %s -o %s --min-shape any", in, out) == 0);
    CHECK_OK(s24_st_read(out, &p));
    int want = 0;
    for (int i = 0; i < NHF; i++) {
        char line[512];
        const struct s24_st_tensor *a = s24_st_find(&st, hf[i].name),
                                   *b = s24_st_find(&p, hf[i].name);
        CHECK(a && b);
        if (!a || !b) continue;
        int same = !memcmp(a->data, b->data, a->nbytes);
        line_of(out_path, hf[i].name, line, sizeof line);
        want += hf[i].pruned_by_default;
        if (hf[i].pruned_by_default) {
            CHECK(!same && strstr(line, "pruned 2:4"), "%s should be pruned: %s", hf[i].name, line);
        } else {
            CHECK(same, "%s should stay dense", hf[i].name);
            CHECK(strstr(line, "skipped") && strstr(line, hf[i].why), "%s: reason \"%s\" in: %s",
                  hf[i].name, hf[i].why, line);
        }
    }
    char expect[64];
    snprintf(expect, sizeof expect, "pruned %d of %d tensors", want, NHF);
    CHECK(contains(out_path, expect));
    /* embeddings are lookups: not in the conv/linear multiply-add total
     * (q 1024 + up 2048 + lm_head 2048 + output 2048 + key 256) */
    CHECK(contains(out_path, "multiply-adds now 2:4: 3328 of 7424"));
    s24_st_free(&p);

    CHECK(run("prune %s -o %s --min-shape any --include-embeddings", in, out) == 0);
    snprintf(expect, sizeof expect, "pruned %d of %d tensors", NHF, NHF);
    CHECK(contains(out_path, expect));
    CHECK(run("prune --help") == 0 && contains(out_path, "--include-embeddings"));
    s24_st_free(&st);
    remove(in);
    remove(out);
}

/* Prune "PyTorch-style": w * mask, keeping the two largest |w| of each 4,
 * so a pruned negative weight becomes -0.0. Returns how many -0.0. */
static int torch_prune(float *w, int64_t n)
{
    int neg = 0;
    for (int64_t g = 0; g + 4 <= n; g += 4) {
        int a = 0, b = 1;
        for (int j = 0; j < 4; j++) {
            float x = fabsf(w[g + j]);
            if (x > fabsf(w[g + a])) {
                b = a;
                a = j;
            } else if (j != a && (b == a || x > fabsf(w[g + b]))) {
                b = j;
            }
        }
        for (int j = 0; j < 4; j++) {
            float keep = j == a || j == b ? 1.0f : 0.0f;
            w[g + j] *= keep;
            neg += keep == 0.0f && signbit(w[g + j]);
        }
    }
    return neg;
}

static void test_negative_zero(void)
{
    struct s24_st st, back;
    s24_st_init(&st);
    int64_t shape[2] = {16, 32};
    float w[16 * 32], dense[16 * 32];
    fill(w, 16 * 32, 99);
    int neg = torch_prune(w, 16 * 32);
    CHECK(neg > 0, "the fixture has -0.0 (%d)", neg);
    CHECK_OK(s24_st_add(&st, "fc.weight", S24_F32, 2, shape, w));
    fill(dense, 16 * 32, 7);
    CHECK_OK(s24_st_add(&st, "fc2.weight", S24_F32, 2, shape, dense));
    const char *in = tmp("torch24.safetensors"), *c = tmp("torch24.s24"),
               *d = tmp("back.safetensors");
    CHECK_OK(s24_st_write(in, &st));

    CHECK(run("inspect %s", in) == 0 && contains(out_path, "1 of 2 conv/linear weights are 2:4"));
    CHECK(run("compress %s -o %s", in, c) == 0);
    CHECK(contains(out_path, "compressed 1 of 2 tensors"));
    char line[512], expect[64];
    line_of(out_path, "fc.weight", line, sizeof line);
    snprintf(expect, sizeof expect, "(%d -0.0 as +0.0)", neg);
    CHECK(strstr(line, "2:4 values + meta") && strstr(line, expect), "%s in: %s", expect, line);
    /* back to dense: equal as numbers, every zero +0.0; the dense one untouched */
    CHECK(run("decompress %s -o %s", c, d) == 0);
    s24_st_init(&back);
    CHECK_OK(s24_st_read(d, &back));
    const struct s24_st_tensor *t = s24_st_find(&back, "fc.weight"),
                               *t2 = s24_st_find(&back, "fc2.weight");
    CHECK(t && t2);
    if (t && t2) {
        const float *x = t->data;
        int ok = 1;
        for (int i = 0; i < 16 * 32; i++) ok &= x[i] == w[i] && !(x[i] == 0.0f && signbit(x[i]));
        CHECK(ok, "decompressed fc.weight equals the input, zeros +0.0");
        CHECK(!memcmp(t2->data, dense, sizeof dense));
    }
    s24_st_free(&back);

    /* a file with nothing to pack says so */
    s24_st_free(&st);
    s24_st_init(&st);
    CHECK_OK(s24_st_add(&st, "fc2.weight", S24_F32, 2, shape, dense));
    CHECK_OK(s24_st_write(in, &st));
    CHECK(run("compress %s -o %s -q", in, c) == 0);
    CHECK(contains(err_path, "compressed nothing") && contains(err_path, "sparse24 prune"));
    s24_st_free(&st);
    remove(in);
    remove(c);
    remove(d);
}

/* The commands `sparse24 --help` lists, plus the bench subcommands. */
static int commands(char names[][32], int cap)
{
    int n = 0;
    static const char *const bench[] = {"bench cpu", "bench gemm", "bench permute", "bench train",
                                        "bench infer"};
    CHECK(run("--help") == 0);
    char *s = slurp(out_path), *p = strstr(s, "commands:\n");
    for (p = p ? strchr(p, '\n') + 1 : NULL; p && p[0] == ' ' && p[1] == ' ' && n < cap;) {
        sscanf(p, "%31s", names[n++]);
        p = strchr(p, '\n');
        if (p) p++;
    }
    free(s);
    CHECK(n >= 12, "sparse24 --help lists %d commands", n);
    for (size_t i = 0; i < sizeof bench / sizeof bench[0] && n < cap; i++)
        snprintf(names[n++], 32, "%s", bench[i]);
    return n;
}

/* Every --help: exit 0, on stdout, and its last line gives the exit codes. */
static void test_help_exit_codes(void)
{
    char names[40][32];
    int n = commands(names, 40);
    for (int i = 0; i < n; i++) {
        CHECK(run("%s --help", names[i]) == 0, "%s --help exits 0", names[i]);
        char *s = slurp(out_path);
        size_t l = strlen(s);
        while (l && (s[l - 1] == '\n' || s[l - 1] == ' ')) s[--l] = 0;
        char *last = strrchr(s, '\n');
        last = last ? last + 1 : s;
        CHECK(!strncmp(last, "exit codes: 0 success, 1 runtime failure", 40) &&
                  strstr(last, "2 bad usage"),
              "%s --help ends with the exit codes, not: %s", names[i], last);
        free(s);
    }
}

/* One parser, one message: every command that takes --threads. */
static void test_threads_option(void)
{
    static const char *const cmds[] = {"prune", "permute", "train", "eval", "infer", "demo",
                                       "info", "bench cpu", "bench permute", "bench train",
                                       "bench infer"};
    static const char *const bad[] = {"999999", "-3", "2x", ""};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        CHECK(run("%s --help", cmds[i]) == 0 && contains(out_path, "--threads N") &&
                  contains(out_path, "0..1024 (0 = all cores, the default)"),
              "%s --help describes --threads the common way", cmds[i]);
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            CHECK(run("%s --threads '%s'", cmds[i], bad[b]) == 2, "%s --threads '%s' exits 2",
                  cmds[i], bad[b]);
            CHECK(contains(err_path, "--threads '") &&
                      contains(err_path, "': expected a whole number from 0 (all cores) to 1024"),
                  "%s: the common message", cmds[i]);
        }
    }
    CHECK(run("info --threads 1") == 0);
}

/* A freshly initialised checkpoint of arch (what train would start from). */
static int fresh_checkpoint(const char *arch, const char *path)
{
    s24_backend_t *be = NULL;
    s24_model_t *m = NULL;
    int rc = s24_backend_create(S24_DEVICE_CPU, 0, &be);
    if (rc == S24_OK) rc = s24_model_create(arch, 10, 3, be, &m);
    if (rc == S24_OK) rc = s24_model_save(m, path);
    s24_model_free(m);
    s24_backend_free(be);
    return rc;
}

/* The progress line: off when stderr is a file, on with --progress, never
 * on stdout, and eval's figures the same either way (it evaluates in slices
 * then); infer's over its test set likewise. */
static void test_progress(void)
{
    const char *ck = tmp("smallcnn.safetensors"), *rn = tmp("resnet18.safetensors"),
               *po = tmp("resnet18_perm.safetensors");
    CHECK_OK(fresh_checkpoint("smallcnn", ck));
    const char *ev = "eval --model smallcnn --checkpoint %s --data synthetic --synthetic-size 12 "
                     "--synthetic-test 200 --batch 8 --threads 1%s";
    CHECK(run(ev, ck, "") == 0);
    char *plain = slurp(out_path), *plain_err = slurp(err_path);
    CHECK(strstr(plain, "test accuracy") && !strstr(plain_err, "ETA"), "no progress line: %s",
          plain_err);
    CHECK(run(ev, ck, " --progress") == 0);
    char *prog = slurp(out_path);
    CHECK(!strcmp(plain, prog), "eval prints the same with --progress:\n%s---\n%s", plain, prog);
    CHECK(contains(err_path, "sparse24 eval: ") && contains(err_path, "images, ") &&
          contains(err_path, "ETA "));
    free(plain), free(plain_err), free(prog);
    /* infer: the same line over its test set (its timings differ run to run) */
    const char *inf = "infer --model smallcnn --checkpoint %s --data synthetic --synthetic-size 12 "
                      "--synthetic-test 200 --batch 8 --repeats 1 --threads 1%s";
    CHECK(run(inf, ck, "") == 0);
    CHECK(contains(out_path, "test accuracy") && !strstr(slurp_keep(err_path), "ETA"));
    CHECK(run(inf, ck, " --progress") == 0);
    CHECK(contains(out_path, "test accuracy") && contains(err_path, "sparse24 infer: ") &&
          contains(err_path, "/200 images") && contains(err_path, "ETA "));

    CHECK_OK(fresh_checkpoint("resnet18", rn));
    CHECK(run("permute --model resnet18 %s -o %s --strategy identity", rn, po) == 0);
    CHECK(contains(out_path, "total: ") && !strstr(slurp_keep(err_path), "ETA"));
    CHECK(run("permute --model resnet18 %s -o %s --strategy identity --progress", rn, po) == 0);
    CHECK(contains(err_path, "sparse24 permute: ") && contains(err_path, "channel space 1/") &&
          contains(err_path, "ETA "));
    CHECK(run("bench cpu --sizes 64 --no-layers --repeats 1 --rounds 1 --progress") == 0);
    CHECK(contains(err_path, "sparse24 bench cpu: ") && contains(err_path, "ETA "));
    CHECK(run("bench train --models smallcnn --device cpu --batch 2 --size 8 --warmup 1 --group 1 "
              "--repeats 1 --progress") == 0);
    CHECK(contains(err_path, "sparse24 bench train: ") && contains(err_path, "ETA "));
    CHECK(run("bench infer --models smallcnn --device cpu --batch 2 --size 8 --warmup 0 "
              "--repeats 1 --paths dense --progress") == 0);
    CHECK(contains(err_path, "sparse24 bench infer: ") && contains(err_path, "ETA "));
    remove(ck), remove(rn), remove(po);
}

/* bench infer: the CSV issue 11 names, one row per batch and path, and the
 * per-layer table; a dtype the CPU plan lacks and an unknown path are usage
 * errors. */
static void test_bench_infer(void)
{
    const char *csv = tmp("bi.csv"), *lay = tmp("bl.csv");
    remove(csv), remove(lay);
    CHECK(run("bench infer --models smallcnn --device cpu --batch 2,3 --size 8 --warmup 1 "
              "--repeats 2 --csv %s --layers %s", csv, lay) == 0);
    char *s = slurp(csv);
    CHECK(s && !strncmp(s, "model,resolution,batch,dtype,engine,path,ms,img_s\n", 49),
          "bench infer CSV header");
    int rows = 0;
    for (char *p = s ? strchr(s, '\n') : NULL; p && p[1]; p = strchr(p + 1, '\n')) {
        char model[32], dt[8], eng[16], path[16];
        int res = 0, batch = 0;
        double ms = 0, ips = 0;
        CHECK(sscanf(p + 1, "%31[^,],%d,%d,%7[^,],%15[^,],%15[^,],%lf,%lf", model, &res, &batch, dt,
                     eng, path, &ms, &ips) == 8, "bench infer row %d parses", rows);
        /* img_s from the unrounded time: within what ms's 4 decimals allow */
        CHECK(!strcmp(model, "smallcnn") && res == 8 && (batch == 2 || batch == 3) &&
              !strcmp(dt, "fp32") && !strcmp(eng, "sparse24") && ms > 1e-4 &&
              ips > batch / (ms + 6e-5) * 1e3 - 0.1 && ips < batch / (ms - 6e-5) * 1e3 + 0.1,
              "bench infer row %d values (%g ms, %g img/s)", rows, ms, ips);
        rows++;
    }
    CHECK(rows == 6, "bench infer: %d rows (2 batches x 3 paths)", rows);
    free(s);
    /* smallcnn has 4 layers: one table per plan */
    s = slurp(lay);
    int lines = 0;
    for (char *p = s; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) lines++;
    CHECK(lines == 1 + 6 * 4, "bench infer --layers: %d lines", lines);
    CHECK(s && strstr(s, "conv2.weight") && strstr(s, "\"not 2:4\""),
          "layer table names the layers and why");
    free(s);
    /* --resolution: one run per side, and a family's variant where the registry has one */
    remove(csv);
    CHECK(run("bench infer --models smallcnn --device cpu --resolution 8,16 --batch 2 --warmup 0 "
              "--repeats 1 --paths dense --csv %s", csv) == 0);
    s = slurp(csv);
    CHECK(s && strstr(s, "\nsmallcnn,8,2,fp32,sparse24,dense,") &&
              strstr(s, "\nsmallcnn,16,2,fp32,sparse24,dense,"),
          "bench infer --resolution 8,16: %s", s ? s : "(no file)");
    free(s);
    CHECK(run("bench infer --models resnet18 --device cpu --resolution 224 --batch 1 --warmup 0 "
              "--repeats 1 --paths dense --csv %s", csv) == 0);
    CHECK(contains(out_path, "# resnet18_imagenet at 224x224, 1000 classes"),
          "resnet18 at 224 is resnet18_imagenet");
    s = slurp(csv);
    CHECK(s && strstr(s, "\nresnet18,224,1,fp32,sparse24,dense,"), "its row names the family");
    free(s);
    CHECK(run("bench infer --models smallcnn --device cpu --resolution 4") == 2);
    CHECK(run("bench infer --models smallcnn --device cpu --dtype fp16 --repeats 1") == 2);
    CHECK(contains(err_path, "--dtype fp16"));
    CHECK(run("bench infer --models smallcnn --device cpu --paths dense,fast") == 2);
    CHECK(contains(err_path, "'fast'"));
    remove(csv), remove(lay);
}

/* --precision: bad values are usage errors; bf16 needs a GPU (usage error
 * for train and eval with --device cpu, a runtime failure naming it for
 * bench train, whose fp32 rows come first); bench train's CSVs carry it. */
static void test_precision_option(void)
{
    const char *csv = tmp("bt.csv"), *ops = tmp("bo.csv"), *dir = tmp("prec");
    remove(csv), remove(ops);
    CHECK(run("train --model smallcnn --epochs 1 --out %s --precision fp16", dir) == 2);
    CHECK(contains(err_path, "--precision fp16"));
    CHECK(run("train --model smallcnn --epochs 1 --out %s --device cpu --precision bf16", dir) ==
          2);
    CHECK(contains(err_path, "bf16") && contains(err_path, "GPU"));
    CHECK(run("eval --model smallcnn --checkpoint %s --precision x", csv) == 2);
    CHECK(run("eval --model smallcnn --checkpoint %s --device cpu --precision bf16", csv) == 2);
    CHECK(contains(err_path, "bf16"));
    CHECK(run("bench train --models smallcnn --device cpu --precision fp64") == 2);
    CHECK(contains(err_path, "'fp64'"));
    CHECK(run("bench train --models smallcnn --device cpu --batch 2 --size 8 --warmup 1 --group 1 "
              "--repeats 1 --precision fp32,bf16 --csv %s --ops %s", csv, ops) == 1);
    CHECK(contains(err_path, "bf16"));
    char *s = slurp(csv);
    CHECK(s && strstr(s, "\nsmallcnn,sparse24,fp32,") && !strstr(s, ",bf16,"),
          "bench train CSV: the fp32 row only (%s)", s ? s : "(no file)");
    free(s);
    s = slurp(ops);
    CHECK(s && !strncmp(s, "model,precision,kind,", 21) && strstr(s, "\nsmallcnn,fp32,conv,"),
          "bench train --ops: the precision column");
    free(s);
    remove(csv), remove(ops);
}

int main(void)
{
    t_cli_init();
    if (access(cli, X_OK) != 0) {
        CHECK(0, "CLI %s not found (set S24_CLI)", cli);
        return t_done("test_cli_release");
    }
    test_embeddings();
    test_negative_zero();
    test_help_exit_codes();
    test_threads_option();
    test_progress();
    test_bench_infer();
    test_precision_option();
    remove(out_path);
    remove(err_path);
    rmdir(t_tmpdir());
    return t_done("test_cli_release");
}
