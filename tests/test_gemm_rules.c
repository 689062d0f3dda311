/* test_gemm_rules.c: the GPU GEMM engine's host-side rules, which CI can run
 * without a GPU: defaults, accepted and refused dtype/layout/epilogue
 * combinations, cuSPARSELt's size multiples (with the padded size named in
 * the message), names and parsing, and that a build without a GPU answers
 * every GPU call with an error instead of crashing. */
#include "t.h"

#include "sparse24/sparse24_cuda.h"

#include <sys/wait.h>
#include <unistd.h>

static int msg_has(const char *needle) { return strstr(s24_last_error(), needle) != NULL; }

int main(void)
{
    struct s24_gemm_desc d;

    /* defaults: the linear-layer layout and full-precision outputs */
    s24_gemm_desc_init(&d, 4096, 4096, 4096, S24_F16);
    CHECK(d.w_order == S24_ORDER_ROW && d.x_order == S24_ORDER_COL && d.d_order == S24_ORDER_COL);
    CHECK(d.out_type == S24_F16 && d.alpha == 1.0f && d.beta == 0.0f && d.alg_id == -1);
    CHECK_OK(s24_gemm_check(&d, S24_GEMM_SPARSE));
    CHECK_OK(s24_gemm_check(&d, S24_GEMM_DENSE));
    CHECK_OK(s24_gemm_check(&d, S24_GEMM_AUTO));
    CHECK(s24_gemm_flops(&d) == 2.0 * 4096.0 * 4096.0 * 4096.0);
    s24_gemm_desc_init(&d, 64, 64, 64, S24_I8);
    CHECK(d.out_type == S24_I32);
    s24_gemm_desc_init(&d, 64, 64, 64, S24_F8_E4M3);
    CHECK(d.out_type == S24_BF16);

    /* size multiples: 16 for 16-bit W, 32 for 8-bit W, n by the output's bytes */
    int64_t mult[3];
    s24_gemm_sparse_multiples(S24_F16, S24_F16, mult);
    CHECK(mult[0] == 16 && mult[1] == 8 && mult[2] == 16);
    s24_gemm_sparse_multiples(S24_I8, S24_I32, mult);
    CHECK(mult[0] == 32 && mult[1] == 16 && mult[2] == 32);
    s24_gemm_sparse_multiples(S24_F8_E4M3, S24_F32, mult);
    CHECK(mult[0] == 32 && mult[1] == 16 && mult[2] == 32);

    /* an EfficientNet-B0 layer with 24 output channels: sparse refused with
     * the padded size named, dense and auto accepted */
    s24_gemm_desc_init(&d, 24, 256 * 56 * 56, 144, S24_F16);
    CHECK(s24_gemm_check(&d, S24_GEMM_SPARSE) == S24_ERR_UNSUPPORTED);
    CHECK(msg_has("m = 24") && msg_has("pad to 32"), "%s", s24_last_error());
    CHECK_OK(s24_gemm_check(&d, S24_GEMM_DENSE));
    CHECK_OK(s24_gemm_check(&d, S24_GEMM_AUTO));
    /* k of the first ResNet conv (3 channels x 3 x 3 = 27) */
    s24_gemm_desc_init(&d, 64, 1024, 27, S24_BF16);
    CHECK(s24_gemm_check(&d, S24_GEMM_SPARSE) == S24_ERR_UNSUPPORTED);
    CHECK(msg_has("k = 27") && msg_has("pad to 32"), "%s", s24_last_error());
    s24_gemm_desc_init(&d, 64, 1004, 64, S24_F16);
    CHECK(s24_gemm_check(&d, S24_GEMM_SPARSE) == S24_ERR_UNSUPPORTED && msg_has("n = 1004"));
    s24_gemm_desc_init(&d, 64, 1008, 64, S24_F16);
    CHECK_OK(s24_gemm_check(&d, S24_GEMM_SPARSE));
    s24_gemm_desc_init(&d, 96, 64, 96, S24_I8);
    CHECK_OK(s24_gemm_check(&d, S24_GEMM_SPARSE));
    d.m = 48;
    CHECK(s24_gemm_check(&d, S24_GEMM_SPARSE) == S24_ERR_UNSUPPORTED && msg_has("multiple of 32"));

    /* random valid shapes pass, random off-by-some shapes fail (property) */
    struct s24_rng r;
    s24_rng_seed(&r, 7);
    for (int i = 0; i < 200; i++) {
        enum s24_dtype dts[4] = {S24_F16, S24_BF16, S24_I8, S24_F8_E4M3};
        enum s24_dtype dt = dts[s24_rng_below(&r, 4)];
        s24_gemm_desc_init(&d, 0, 0, 0, dt);
        s24_gemm_sparse_multiples(dt, d.out_type, mult);
        d.m = mult[0] * (int64_t)(1 + s24_rng_below(&r, 64));
        d.n = mult[1] * (int64_t)(1 + s24_rng_below(&r, 64));
        d.k = mult[2] * (int64_t)(1 + s24_rng_below(&r, 64));
        int ok = s24_gemm_check(&d, S24_GEMM_SPARSE) == S24_OK;
        CHECK(ok, "%lldx%lldx%lld %s: %s", (long long)d.m, (long long)d.n, (long long)d.k,
              s24_gemm_dtype_name(dt), s24_last_error());
        int which = (int)s24_rng_below(&r, 3);
        int64_t *dim = which == 0 ? &d.m : which == 1 ? &d.n : &d.k;
        *dim += 1 + (int64_t)s24_rng_below(&r, (uint64_t)mult[which] - 1);
        CHECK(s24_gemm_check(&d, S24_GEMM_SPARSE) == S24_ERR_UNSUPPORTED);
        CHECK(s24_gemm_check(&d, S24_GEMM_AUTO) == S24_OK || dt == S24_F8_E4M3 || dt == S24_I8);
    }

    /* dtype pairs */
    s24_gemm_desc_init(&d, 64, 64, 64, S24_F16);
    d.out_type = S24_BF16;
    CHECK(s24_gemm_check(&d, S24_GEMM_SPARSE) == S24_ERR_UNSUPPORTED &&
          msg_has("does not go with"));
    s24_gemm_desc_init(&d, 64, 64, 64, S24_I8);
    d.out_type = S24_I8;
    CHECK_OK(s24_gemm_check(&d, S24_GEMM_SPARSE));
    d.out_type = S24_F32;
    CHECK(s24_gemm_check(&d, S24_GEMM_SPARSE) == S24_ERR_UNSUPPORTED);
    s24_gemm_desc_init(&d, 64, 64, 64, S24_F32);
    CHECK(s24_gemm_check(&d, S24_GEMM_SPARSE) == S24_ERR_UNSUPPORTED && msg_has("1:2"), "%s",
          s24_last_error());
    CHECK_OK(s24_gemm_check(&d, S24_GEMM_DENSE));
    CHECK_OK(s24_gemm_check(&d, S24_GEMM_AUTO));
    s24_gemm_desc_init(&d, 64, 64, 64, S24_I32);
    CHECK(s24_gemm_check(&d, S24_GEMM_DENSE) == S24_ERR_UNSUPPORTED);

    /* 8-bit inputs need the TN layout */
    s24_gemm_desc_init(&d, 64, 64, 64, S24_F8_E4M3);
    d.x_order = S24_ORDER_ROW;
    CHECK(s24_gemm_check(&d, S24_GEMM_DENSE) == S24_ERR_UNSUPPORTED && msg_has("TN"));
    s24_gemm_desc_init(&d, 64, 64, 64, S24_F16);
    d.x_order = S24_ORDER_ROW;
    d.d_order = S24_ORDER_ROW;
    d.w_order = S24_ORDER_COL;
    CHECK_OK(s24_gemm_check(&d, S24_GEMM_SPARSE));

    /* epilogues */
    s24_gemm_desc_init(&d, 64, 64, 64, S24_I8);
    d.act = S24_GEMM_ACT_RELU;
    CHECK(s24_gemm_check(&d, S24_GEMM_SPARSE) == S24_ERR_UNSUPPORTED && msg_has("floating output"));
    d.out_type = S24_F16;
    CHECK_OK(s24_gemm_check(&d, S24_GEMM_SPARSE));
    s24_gemm_desc_init(&d, 64, 64, 64, S24_F16);
    d.bias = 1;
    d.sparse_as_b = 1;
    CHECK(s24_gemm_check(&d, S24_GEMM_SPARSE) == S24_ERR_UNSUPPORTED && msg_has("sparse_as_b"));
    d.sparse_as_b = 0;
    d.d_order = S24_ORDER_ROW;
    CHECK(s24_gemm_check(&d, S24_GEMM_DENSE) == S24_ERR_UNSUPPORTED);
    CHECK_OK(s24_gemm_check(&d, S24_GEMM_SPARSE));
    s24_gemm_desc_init(&d, 64, 64, 64, S24_I8);
    d.alpha = 0.5f;
    CHECK(s24_gemm_check(&d, S24_GEMM_DENSE) == S24_ERR_INVALID && msg_has("integers"));
    s24_gemm_desc_init(&d, 64, 64, 64, S24_BF16);
    d.fp16_accum = 1;
    CHECK(s24_gemm_check(&d, S24_GEMM_SPARSE) == S24_ERR_UNSUPPORTED);
    s24_gemm_desc_init(&d, 64, 64, 64, S24_F16);
    d.fp16_accum = 1;
    CHECK_OK(s24_gemm_check(&d, S24_GEMM_SPARSE));

    /* nonsense */
    s24_gemm_desc_init(&d, 0, 64, 64, S24_F16);
    CHECK(s24_gemm_check(&d, S24_GEMM_DENSE) == S24_ERR_INVALID);
    s24_gemm_desc_init(&d, 64, 64, 64, S24_F16);
    CHECK(s24_gemm_check(&d, (enum s24_gemm_mode)7) == S24_ERR_INVALID);
    d.alpha = NAN;
    CHECK(s24_gemm_check(&d, S24_GEMM_DENSE) == S24_ERR_INVALID);
    CHECK(s24_gemm_check(NULL, S24_GEMM_DENSE) == S24_ERR_INVALID);
    d.alpha = 1.0f;
    d.split_k = -1;
    CHECK(s24_gemm_check(&d, S24_GEMM_DENSE) == S24_ERR_INVALID);

    /* names */
    enum s24_dtype dt;
    CHECK_OK(s24_gemm_dtype_parse("fp16", &dt));
    CHECK(dt == S24_F16);
    CHECK_OK(s24_gemm_dtype_parse("fp8", &dt));
    CHECK(dt == S24_F8_E4M3);
    CHECK_OK(s24_gemm_dtype_parse("BF16", &dt));
    CHECK(dt == S24_BF16);
    CHECK(s24_gemm_dtype_parse("fp7", &dt) == S24_ERR_INVALID);
    CHECK(!strcmp(s24_gemm_dtype_name(S24_I8), "int8") &&
          !strcmp(s24_gemm_mode_name(S24_GEMM_AUTO), "auto"));
    CHECK(s24_gemm_bytes(S24_BF16, 3, 5) == 30);

    /* every GPU call fails cleanly where there is no GPU (CI) */
    s24_gpu_t *g = NULL;
    int rc = s24_gpu_init(0, &g);
    if (rc != S24_OK) {
        CHECK(g == NULL);
        CHECK(rc == S24_ERR_NO_DEVICE || rc == S24_ERR_CUDA, "%d %s", rc, s24_last_error());
        CHECK(s24_last_error()[0] != 0);
    } else {
        s24_gpu_free(g);
    }
    char info[2048];
    s24_cuda_info(info, sizeof info);
    CHECK(strlen(info) > 0 && strlen(info) < sizeof info);
    /* the CLI: --help, bad usage, a bad shapes file, and no GPU here (CI) */
    const char *cli = getenv("S24_CLI");
    if (cli) {
        char cmd[1024], shapes[512];
        snprintf(cmd, sizeof cmd, "%s bench gemm --help > /dev/null", cli);
        CHECK(system(cmd) == 0);
        snprintf(cmd, sizeof cmd, "%s bench gemm --dtype fp9 2> /dev/null", cli);
        int st = system(cmd);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d", st);
        snprintf(cmd, sizeof cmd, "%s bench gemm --sizes 12,x 2> /dev/null", cli);
        st = system(cmd);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d", st);
        snprintf(shapes, sizeof shapes, "%s/shapes.txt", t_tmpdir());
        FILE *f = fopen(shapes, "w");
        if (f) {
            fputs("# name m n k\nok 64 64 64\nbad 64 x 64\n", f);
            fclose(f);
        }
        snprintf(cmd, sizeof cmd, "%s bench gemm --shapes %s 2>&1", cli, shapes);
        FILE *pp = popen(cmd, "r");
        char line[512] = "";
        size_t got = pp ? fread(line, 1, sizeof line - 1, pp) : 0;
        line[got] = 0;
        st = pp ? pclose(pp) : -1;
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(line, "shapes.txt:3") != NULL,
              "%d %s", st, line);
        if (rc != S24_OK) {
            snprintf(cmd, sizeof cmd, "%s bench gemm --sizes 256 2>&1", cli);
            pp = popen(cmd, "r");
            got = pp ? fread(line, 1, sizeof line - 1, pp) : 0;
            line[got] = 0;
            st = pp ? pclose(pp) : -1;
            CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(line, "no GPU") != NULL, "%d %s",
                  st, line);
        }
        remove(shapes);
        rmdir(t_tmpdir());
    }
    return t_done("test_gemm_rules");
}
