/* test_permute_net.c: permuting a whole checkpoint keeps the network's
 * function. For ResNet18 (CIFAR) and EfficientNet-B0, with random weights
 * and random BatchNorm statistics (so a BN vector left unpermuted shows), the
 * permuted checkpoint's logits equal the original's on random inputs within
 * float tolerance; every 2:4-eligible ResNet18 conv gets a searched
 * non-identity permutation of its input channels; and the bookkeeping is
 * checked exactly on a hand-written two-conv network. */
#include "t.h"

#include "sparse24/sparse24_nn.h"
#include "sparse24/sparse24_permute.h"

#include <stdint.h>

/* Draw fresh values for every float tensor: weights around their init scale,
 * BN weight/bias/mean random, running_var in [0.5, 1.5]. */
static void randomize(struct s24_st *st, uint64_t seed)
{
    struct s24_rng r;
    s24_rng_seed(&r, seed);
    for (int i = 0; i < st->n; i++) {
        struct s24_st_tensor *t = &st->t[i];
        if (t->dtype != S24_F32) continue;
        float *d = t->data;
        int64_t n = s24_numel(t->ndim, t->shape);
        int is_var = strstr(t->name, "running_var") != NULL;
        int is_bn = strstr(t->name, "bn") || strstr(t->name, "downsample.1") ||
                    (t->ndim == 1 && !strstr(t->name, "fc"));
        double fan = t->ndim >= 2 ? (double)(n / t->shape[0]) : 1.0;
        for (int64_t j = 0; j < n; j++) {
            if (is_var) d[j] = (float)(0.5 + s24_rng_uniform(&r));
            else if (is_bn && t->ndim == 1)
                d[j] = (float)(0.3 * s24_rng_normal(&r) + (strstr(t->name, ".weight") ? 1.0 : 0.0));
            else d[j] = (float)(s24_rng_normal(&r) * sqrt(2.0 / fan));
        }
    }
}

static double rel_err(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

/* with_cli: run the CLI's --model path on the same checkpoint too */
static void check_model(const char *arch, int size, int with_cli)
{
    s24_model_t *m = NULL;
    CHECK_OK(s24_model_create(arch, 10, 3, NULL, &m));
    if (!m) return;
    struct s24_st st, orig;
    s24_st_init(&st);
    s24_st_init(&orig);
    CHECK_OK(s24_model_to_st(m, &st));
    randomize(&st, 42);
    CHECK_OK(s24_model_from_st(m, &st, "randomized"));
    CHECK_OK(s24_model_to_st(m, &orig));

    int n = 2;
    float *x = malloc((size_t)n * size * size * 3 * sizeof *x);
    float *y0 = malloc((size_t)n * 10 * sizeof *y0), *y1 = malloc((size_t)n * 10 * sizeof *y1);
    struct s24_rng r;
    s24_rng_seed(&r, 5);
    for (int64_t i = 0; i < (int64_t)n * size * size * 3; i++) x[i] = (float)s24_rng_normal(&r);
    for (int i = 0; i < n * 10; i++) y0[i] = y1[i] = NAN;
    CHECK_OK(s24_model_forward(m, x, n, size, size, y0, 0));

    struct s24_permute_opts o;
    struct s24_permute_report rep;
    s24_permute_opts_default(&o);
    o.escapes = 0; /* keep the test quick: a few searched moves per space will do */
    o.max_moves = 25;
    CHECK_OK(s24_permute_checkpoint(&st, arch, &o, &rep));
    CHECK(rep.n > 0, "%s: no channel space searched", arch);
    CHECK_OK(s24_model_from_st(m, &st, "permuted"));
    CHECK_OK(s24_model_forward(m, x, n, size, size, y1, 0));
    double e = rel_err(y1, y0, n * 10);
    CHECK(e < 1e-4, "%s: permuted logits differ: rel err %g", arch, e);
    int finite = 1;
    for (int i = 0; i < n * 10; i++) finite &= isfinite(y0[i]) && isfinite(y1[i]);
    CHECK(finite, "%s: logits not finite", arch);

    /* every searched space gained and moved; every eligible conv's input
     * channels (dim 1) were permuted, i.e. its tensor changed */
    double kd = 0, kp = 0;
    for (int i = 0; i < rep.n; i++) {
        CHECK(!rep.spaces[i].identity, "%s: space %s kept the natural order", arch,
              rep.spaces[i].name);
        CHECK(rep.spaces[i].res.kept_permuted >= rep.spaces[i].res.kept_default);
        kd += rep.spaces[i].res.kept_default, kp += rep.spaces[i].res.kept_permuted;
    }
    CHECK(kp > kd, "%s: no gain at all", arch);
    if (!strncmp(arch, "resnet18", 8)) {
        int eligible = 0, moved = 0;
        for (int i = 0; i < orig.n; i++) {
            struct s24_st_tensor *a = &orig.t[i], *b = s24_st_find(&st, a->name);
            if (a->ndim != 4 || a->shape[0] % 8 || a->shape[1] % 16) continue;
            eligible++;
            /* the input-channel sets of each (o, k) line are equal, the order not */
            moved += b && memcmp(a->data, b->data, a->nbytes) != 0;
        }
        CHECK(eligible == 19, "resnet18 has %d eligible convs, expected 19", eligible);
        CHECK(moved == eligible, "only %d of %d eligible convs permuted", moved, eligible);
        CHECK(rep.n == 12, "resnet18: %d spaces (4 streams + 8 inner expected)", rep.n);
    }
    s24_permute_report_free(&rep);

    /* the CLI's --model path writes the same kind of checkpoint */
    const char *cli = with_cli ? getenv("S24_CLI") : NULL;
    if (cli) {
        char in[512], out[512], cmd[1400];
        snprintf(in, sizeof in, "%s/%s.safetensors", t_tmpdir(), arch);
        snprintf(out, sizeof out, "%s/%s_perm.safetensors", t_tmpdir(), arch);
        CHECK_OK(s24_st_write(in, &orig));
        snprintf(cmd, sizeof cmd,
                 "%s permute --model %s %s -o %s --escapes 0 --max-moves 10 >/dev/null", cli, arch,
                 in, out);
        CHECK(system(cmd) == 0, "%s", cmd);
        struct s24_st back;
        s24_st_init(&back);
        CHECK_OK(s24_st_read(out, &back));
        CHECK_OK(s24_model_from_st(m, &back, out));
        for (int i = 0; i < n * 10; i++) y1[i] = NAN;
        CHECK_OK(s24_model_forward(m, x, n, size, size, y1, 0));
        CHECK(rel_err(y1, y0, n * 10) < 1e-4, "%s: CLI-permuted logits differ", arch);
        s24_st_free(&back);
        remove(in), remove(out);
    }
    free(x), free(y0), free(y1);
    s24_st_free(&st), s24_st_free(&orig);
    s24_model_free(m);
}

/* conv a (16 -> 32, 3x3, bias) -> BN -> ReLU -> conv b (32 -> 16, 1x1):
 * only "a"'s output / "b"'s input space exists. Run by hand on one pixel. */
static void test_bookkeeping(void)
{
    struct s24_st st;
    s24_st_init(&st);
    /* reuse resnet18's layer names for one inner space: layer1.0.conv1 -> bn1 -> conv2 */
    struct s24_rng r;
    s24_rng_seed(&r, 1);
    float wa[32 * 16 * 9], ba[32], g[32], be[32], mu[32], var[32], wb[64 * 32];
    for (int i = 0; i < 32 * 16 * 9; i++) wa[i] = (float)s24_rng_normal(&r);
    for (int i = 0; i < 64 * 32; i++)
        wb[i] = (float)s24_rng_normal(&r) * (i % 5 == 0 ? 4.0f : 1.0f);
    for (int i = 0; i < 32; i++) {
        ba[i] = (float)s24_rng_normal(&r), g[i] = (float)(1 + 0.3 * s24_rng_normal(&r));
        be[i] = (float)s24_rng_normal(&r), mu[i] = (float)s24_rng_normal(&r);
        var[i] = (float)(0.5 + s24_rng_uniform(&r));
    }
    int64_t sa[4] = {32, 16, 3, 3}, sb[4] = {64, 32, 1, 1}, sv[1] = {32};
    CHECK_OK(s24_st_add(&st, "a.weight", S24_F32, 4, sa, wa));
    CHECK_OK(s24_st_add(&st, "a.bias", S24_F32, 1, sv, ba));
    const char *bn[4] = {"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"};
    float *bv[4] = {g, be, mu, var};
    for (int i = 0; i < 4; i++) CHECK_OK(s24_st_add(&st, bn[i], S24_F32, 1, sv, bv[i]));
    CHECK_OK(s24_st_add(&st, "b.weight", S24_F32, 4, sb, wb));
    /* the same searched order applied by hand through the library helpers */
    double *mat;
    int64_t rows, cols, perm[32];
    CHECK_OK(s24_permute_matrix(S24_F32, wb, 4, sb, &mat, &rows, &cols));
    CHECK(rows == 64 && cols == 32);
    struct s24_permute_result res;
    CHECK_OK(s24_permute_search(S24_F64, mat, rows, cols, NULL, perm, &res));
    free(mat);
    int ident = 1;
    for (int j = 0; j < 32; j++) ident &= perm[j] == j;
    CHECK(!ident && res.kept_permuted > res.kept_default);
    /* forward on one 3x3 patch: y = b . relu(bn(a . x + bias)) */
    float xin[16 * 9];
    for (int i = 0; i < 144; i++) xin[i] = (float)s24_rng_normal(&r);
    double y0[64], y1[64];
    for (int pass = 0; pass < 2; pass++) {
        const float *A = s24_st_find(&st, "a.weight")->data,
                    *B = s24_st_find(&st, "b.weight")->data;
        const float *bias = s24_st_find(&st, "a.bias")->data;
        const float *G = s24_st_find(&st, "bn.weight")->data,
                    *Be = s24_st_find(&st, "bn.bias")->data;
        const float *Mu = s24_st_find(&st, "bn.running_mean")->data,
                    *V = s24_st_find(&st, "bn.running_var")->data;
        double h[32], *y = pass ? y1 : y0;
        for (int c = 0; c < 32; c++) {
            double s = bias[c];
            for (int k = 0; k < 144; k++) s += (double)A[c * 144 + k] * xin[k];
            s = (s - Mu[c]) / sqrt(V[c] + 1e-5) * G[c] + Be[c];
            h[c] = s > 0 ? s : 0;
        }
        for (int o = 0; o < 64; o++) {
            double s = 0;
            for (int c = 0; c < 32; c++) s += (double)B[o * 32 + c] * h[c];
            y[o] = s;
        }
        if (pass) break;
        struct s24_st_tensor *t;
        t = s24_st_find(&st, "a.weight");
        CHECK_OK(s24_permute_tensor_dim(t->data, t->dtype, t->ndim, t->shape, 0, perm));
        t = s24_st_find(&st, "a.bias");
        CHECK_OK(s24_permute_tensor_dim(t->data, t->dtype, t->ndim, t->shape, 0, perm));
        for (int i = 0; i < 4; i++) {
            t = s24_st_find(&st, bn[i]);
            CHECK_OK(s24_permute_tensor_dim(t->data, t->dtype, t->ndim, t->shape, 0, perm));
        }
        t = s24_st_find(&st, "b.weight");
        CHECK_OK(s24_permute_tensor_dim(t->data, t->dtype, t->ndim, t->shape, 1, perm));
    }
    double md = 0;
    for (int o = 0; o < 64; o++) md = fmax(md, fabs(y0[o] - y1[o]) / (1 + fabs(y0[o])));
    CHECK(md < 1e-12, "hand network changed by %g", md);
    /* and the permuted b keeps what the search reported */
    double kept;
    const float *B = s24_st_find(&st, "b.weight")->data;
    CHECK_OK(s24_permute_kept(S24_F32, B, 64, 32, NULL, &kept, NULL));
    CHECK_NEAR(kept, res.kept_permuted, 1e-4 * kept);
    s24_st_free(&st);
}

static void test_errors(void)
{
    struct s24_st st;
    s24_st_init(&st);
    int64_t s4[4] = {64, 3, 3, 3};
    CHECK_OK(s24_st_add(&st, "conv1.weight", S24_F32, 4, s4, NULL));
    int rc = s24_permute_checkpoint(&st, "resnet18", NULL, NULL);
    CHECK(rc == S24_ERR_NOT_FOUND, "%s", s24_status_str(rc));
    CHECK(strstr(s24_last_error(), "missing"), "%s", s24_last_error());
    CHECK(s24_permute_checkpoint(&st, "vgg", NULL, NULL) == S24_ERR_UNSUPPORTED);
    s24_st_free(&st);
}

int main(void)
{
    test_bookkeeping();
    test_errors();
    check_model("resnet18", 16, 1);
    check_model("efficientnet_b0", 32, 1);
    /* resnet18's spaces, conv1's running through the max pool (channel-wise);
     * the CLI path is resnet18's, so it is not run again */
    check_model("resnet18_imagenet", 64, 0);
    return t_done("test_permute_net");
}
