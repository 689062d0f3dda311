/* test_spmm.c: the CPU 2:4 SpMM against its oracles. For every SIMD path
 * this CPU has (scalar, avx2, avx512), both kernel forms of the SIMD paths
 * (PANEL; SUB with the sub-block the L1 size gives and with 16 rows, so that
 * small K crosses many sub-blocks and ends on a short one), every dtype (F32,
 * F16, BF16), 1 and 2 threads and a table of shapes chosen to hit every edge
 * of the blocking (M = 1, M and N not multiples of the tile, N below /
 * between / above the vector width, K crossing the K block, N crossing the
 * packed chunk), s24_spmm must match s24_spmm_ref, which must match
 * s24_gemm_ref on the decompressed matrix. Outputs are poisoned with NaN
 * first. Small-integer inputs make every sum exact, so those runs are
 * compared bit for bit. Also: plans, bad metadata, bad shapes, K = 0. A is
 * made dense with a random 2:4 pattern and compressed with s24_compress. */
#include "t.h"

#include "cpu/spmm_internal.h"

#include <stdint.h>
#include <sys/wait.h>

struct mat24 {
    struct s24_compressed c; /* compressed A */
    float *dense;            /* dense: (rows, k), the same values as fp32, zeros pruned */
};

static uint16_t to_dt(enum s24_dtype dt, float v)
{
    return dt == S24_F16 ? s24_f32_to_f16(v) : s24_f32_to_bf16(v);
}

static void put(enum s24_dtype dt, void *p, int64_t i, float v)
{
    if (dt == S24_F32) ((float *)p)[i] = v;
    else ((uint16_t *)p)[i] = to_dt(dt, v);
}

/* A random value never zero: small integers (|v| in 1..3) when `ints`,
 * else uniform in +-[0.05, 1). */
static float rnd(struct s24_rng *r, int ints)
{
    if (ints) {
        float v = (float)(1 + s24_rng_below(r, 3));
        return s24_rng_below(r, 2) ? v : -v;
    }
    float v = s24_rng_uniformf(r, 0.05f, 1.0f);
    return s24_rng_below(r, 2) ? v : -v;
}

/* Random 2:4 matrix: two random positions per group of 4 along k hold
 * non-zero values (rounded through dt), the rest are zero; compressed with
 * s24_compress. `dense` is its fp32 twin for the dense oracle. */
static int mat24_make(struct mat24 *a, enum s24_dtype dt, int64_t rows, int64_t k,
                      struct s24_rng *r, int ints)
{
    static const int pairs[6][2] = {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}};
    void *w = calloc((size_t)(rows * k) + 1, s24_dtype_size(dt)); /* w: (rows, k) in dt */
    int rc = -1;
    memset(a, 0, sizeof *a);
    a->dense = calloc((size_t)(rows * k) + 1, sizeof(float));
    if (!w || !a->dense) goto done;
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t g = 0; g < k / 4; g++) {
            const int *pp = pairs[s24_rng_below(r, 6)];
            for (int s = 0; s < 2; s++) {
                int64_t at = i * k + 4 * g + pp[s];
                put(dt, w, at, rnd(r, ints));
                a->dense[at] = (float)s24_load_float(dt, w, at);
            }
        }
    }
    struct s24_view v = {rows, k, 1};
    if (s24_compress(dt, w, v, &a->c) != S24_OK) {
        fprintf(stderr, "s24_compress: %s\n", s24_last_error());
        goto done;
    }
    rc = 0;
done:
    free(w);
    return rc;
}

static void mat24_free(struct mat24 *a)
{
    s24_compressed_free(&a->c);
    free(a->dense);
}

/* ||x - y|| / ||y|| */
static double rel_err(const float *x, const float *y, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - (double)y[i];
        num += d * d;
        den += (double)y[i] * (double)y[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static size_t count_nan(const float *x, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += isnan(x[i]) != 0;
    return c;
}

static void poison(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = NAN;
}

/* fp32 accumulation over k/2 products of values below 1 against an fp64
 * oracle: the norm-wise error grows like sqrt(k) * 2^-24; F16 and BF16
 * inputs are exact in fp32 and their products too, so the budget is the same
 * accumulation budget for every dtype (kept per dtype to say so). */
static double budget(enum s24_dtype dt)
{
    switch (dt) {
    case S24_F32: return 2e-6;
    case S24_F16: return 2e-6;
    default: return 2e-6;
    }
}

static const struct { int64_t m, k, n; } shapes[] = {
    {1, 4, 1},     {1, 8, 17},     {3, 4, 64},     {7, 12, 5},     {6, 64, 64},
    {5, 128, 33},  {13, 132, 65},  {12, 68, 200},  {64, 256, 128}, {1, 300, 96},
    {121, 132, 9}, {37, 260, 530}, {130, 516, 70}, {2, 36, 1100}, {19, 36, 77},
    {125, 388, 129},
};

/* Kernel forms of the SIMD paths: auto (what a plan picks), each form with
 * the sub-block from the L1 size, and SUB with 16-row sub-blocks. */
static const struct {
    const char *name;
    enum s24_spmm_form form;
    int64_t ks;
} forms[] = {
    {"auto", S24_SPMM_FORM_AUTO, 0},
    {"panel", S24_SPMM_FORM_PANEL, 0},
    {"sub", S24_SPMM_FORM_SUB, 0},
    {"sub16", S24_SPMM_FORM_SUB, 16},
};

static void check_paths(struct s24_rng *rng)
{
    static const char *isas[] = {"scalar", "avx2", "avx512"};
    static const enum s24_dtype dts[] = {S24_F32, S24_F16, S24_BF16};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t m = shapes[si].m, k = shapes[si].k, n = shapes[si].n;
        for (size_t di = 0; di < 3; di++) {
            const enum s24_dtype dt = dts[di];
            for (int ints = 0; ints < 2; ints++) {
                struct mat24 a;
                size_t mn = (size_t)(m * n), kn = (size_t)(k * n);
                void *B = malloc(kn * s24_dtype_size(dt));
                float *B32 = malloc(kn * sizeof(float));
                float *Cd = malloc(mn * sizeof(float)), *Cr = malloc(mn * sizeof(float));
                float *Cs = malloc(mn * sizeof(float));
                int ok = mat24_make(&a, dt, m, k, rng, ints) == 0 && B && B32 && Cd && Cr && Cs;
                CHECK(ok, "allocation");
                if (!ok) goto next;
                for (size_t i = 0; i < kn; i++) {
                    put(dt, B, (int64_t)i, rnd(rng, ints));
                    B32[i] = (float)s24_load_float(dt, B, (int64_t)i);
                }
                /* the two oracles agree (both accumulate in fp64) */
                poison(Cd, mn);
                poison(Cr, mn);
                s24_gemm_ref(m, n, k, a.dense, B32, Cd);
                CHECK_OK(s24_spmm_ref(&a.c, B, n, Cr));
                CHECK(count_nan(Cr, mn) == 0, "%lldx%lldx%lld: ref left NaN", (long long)m,
                      (long long)k, (long long)n);
                CHECK(rel_err(Cr, Cd, mn) <= 1e-7, "ref vs dense ref %g", rel_err(Cr, Cd, mn));
                for (size_t ii = 0; ii < 3; ii++) {
                    if (s24_spmm_set_isa(isas[ii]) != S24_OK) continue; /* CPU lacks it */
                    /* the scalar path has the PANEL form only */
                    const size_t nforms = ii == 0 ? 1 : sizeof forms / sizeof forms[0];
                    for (size_t fi = 0; fi < nforms; fi++) {
                        s24_spmm_force_form(forms[fi].form, forms[fi].ks);
                        for (int th = 1; th <= 2; th++) {
                            s24_threads_set(th);
                            poison(Cs, mn);
                            CHECK_OK(s24_spmm(&a.c, B, n, Cs));
                            size_t nans = count_nan(Cs, mn);
                            double e = rel_err(Cs, Cr, mn);
                            CHECK(nans == 0, "%s/%s %s %lldx%lldx%lld th %d: %zu NaN", isas[ii],
                                  forms[fi].name, s24_dtype_name(dt), (long long)m, (long long)k,
                                  (long long)n, th, nans);
                            if (ints) {
                                CHECK(memcmp(Cs, Cr, mn * sizeof(float)) == 0,
                                      "%s/%s %s %lldx%lldx%lld th %d: integer inputs not exact "
                                      "(err %g)",
                                      isas[ii], forms[fi].name, s24_dtype_name(dt), (long long)m,
                                      (long long)k, (long long)n, th, e);
                            } else {
                                CHECK(e <= budget(dt),
                                      "%s/%s %s %lldx%lldx%lld th %d: rel err %g > %g", isas[ii],
                                      forms[fi].name, s24_dtype_name(dt), (long long)m,
                                      (long long)k, (long long)n, th, e, budget(dt));
                            }
                        }
                    }
                    s24_spmm_force_form(S24_SPMM_FORM_AUTO, 0);
                }
                CHECK_OK(s24_spmm_set_isa(NULL));
            next:
                mat24_free(&a);
                free(B);
                free(B32);
                free(Cd);
                free(Cr);
                free(Cs);
            }
        }
    }
}

/* A plan keeps no pointer into A and gives the same answer run after run. */
static void check_plan(struct s24_rng *rng)
{
    const int64_t m = 50, k = 200, n = 77;
    struct mat24 a;
    float *B = malloc((size_t)(k * n) * sizeof(float));
    float *C1 = malloc((size_t)(m * n) * sizeof(float));
    float *C2 = malloc((size_t)(m * n) * sizeof(float));
    s24_spmm_plan_t plan = NULL;
    int ok = mat24_make(&a, S24_F32, m, k, rng, 0) == 0 && B && C1 && C2;
    CHECK(ok, "allocation");
    if (!ok) goto done;
    for (int64_t i = 0; i < k * n; i++) B[i] = rnd(rng, 0);
    CHECK_OK(s24_spmm_ref(&a.c, B, n, C1));
    CHECK_OK(s24_spmm_plan_init(&plan, &a.c));
    memset(a.c.values, 0xff, (size_t)(m * k / 2) * sizeof(float)); /* NaN: plan must not look */
    memset(a.c.meta, 0xff, (size_t)m * (size_t)((k + 7) / 8));
    for (int rep = 0; rep < 3; rep++) {
        s24_threads_set(1 + rep % 2);
        poison(C2, (size_t)(m * n));
        CHECK_OK(s24_spmm_plan_run(plan, B, n, C2));
        CHECK(rel_err(C2, C1, (size_t)(m * n)) <= 2e-6, "plan run %d", rep);
    }
    /* n may change from run to run */
    poison(C2, (size_t)(m * n));
    CHECK_OK(s24_spmm_plan_run(plan, B, 1, C2));
    CHECK(count_nan(C2, (size_t)m) == 0 && isnan(C2[m]), "n = 1 run wrote exactly m values");
done:
    s24_spmm_plan_free(plan);
    mat24_free(&a);
    free(B);
    free(C1);
    free(C2);
}

static void check_errors(struct s24_rng *rng)
{
    struct mat24 a;
    float B[16 * 4], C[8 * 4];
    for (int i = 0; i < 64; i++) B[i] = rnd(rng, 0);
    if (mat24_make(&a, S24_F32, 8, 16, rng, 0) != 0) {
        CHECK(0, "allocation");
        return;
    }
    /* bad nibble: idx0 == idx1 */
    uint8_t keep = a.c.meta[5];
    a.c.meta[5] = (uint8_t)((keep & 0xf0) | 0x5);
    CHECK(s24_spmm(&a.c, B, 4, C) == S24_ERR_FORMAT);
    CHECK(strstr(s24_last_error(), "metadata") != NULL, "message: %s", s24_last_error());
    CHECK(s24_spmm_ref(&a.c, B, 4, C) == S24_ERR_FORMAT);
    a.c.meta[5] = keep;
    /* k not a multiple of 4 */
    a.c.k = 14;
    CHECK(s24_spmm(&a.c, B, 4, C) == S24_ERR_INVALID);
    CHECK(s24_spmm_ref(&a.c, B, 4, C) == S24_ERR_INVALID);
    a.c.k = 16;
    /* dtype */
    a.c.dtype = S24_F64;
    CHECK(s24_spmm(&a.c, B, 4, C) == S24_ERR_UNSUPPORTED);
    CHECK(s24_spmm_ref(&a.c, B, 4, C) == S24_ERR_UNSUPPORTED);
    a.c.dtype = S24_F32;
    CHECK(s24_spmm(&a.c, B, -1, C) == S24_ERR_INVALID);
    CHECK(s24_spmm(NULL, B, 4, C) == S24_ERR_INVALID);
    CHECK(s24_spmm(&a.c, B, 4, NULL) == S24_ERR_INVALID);
    CHECK(s24_spmm_set_isa("sse9") == S24_ERR_INVALID);
    CHECK(s24_spmm_set_isa("auto") == S24_OK);
    /* K = 0: C is all zeros */
    a.c.k = 0;
    poison(C, 32);
    CHECK_OK(s24_spmm(&a.c, B, 4, C));
    int zeros = 1;
    for (int i = 0; i < 32; i++) zeros &= C[i] == 0.0f;
    CHECK(zeros, "K = 0 gives zeros");
    mat24_free(&a);
    CHECK(strcmp(s24_spmm_isa(), "scalar") == 0 || strcmp(s24_spmm_isa(), "avx2") == 0 ||
          strcmp(s24_spmm_isa(), "avx512") == 0);
}

/* `sparse24 bench cpu` end to end on a tiny shape (when the CLI is built). */
static void check_cli(void)
{
    const char *cli = getenv("S24_CLI");
    if (!cli) return;
    char cmd[2048], path[512];
    const char *dir = t_tmpdir();
    snprintf(cmd, sizeof cmd, "%s bench cpu --help > /dev/null", cli);
    CHECK(system(cmd) == 0, "bench cpu --help exits 0");
    snprintf(cmd, sizeof cmd, "%s bench cpu --sizes 30 2> /dev/null", cli);
    CHECK(WEXITSTATUS(system(cmd)) == 2, "K %% 4 != 0 is bad usage");
    snprintf(cmd, sizeof cmd,
             "%s bench cpu --sizes 64 --no-layers --dtype f32,bf16 --repeats 1 --rounds 1 "
             "--threads 2 --out %s > %s/out.txt",
             cli, dir, dir);
    CHECK(system(cmd) == 0, "%s", cmd);
    snprintf(path, sizeof path, "%s/cpu-gemm.csv", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "%s written", path);
    if (!f) return;
    char line[1024];
    int lines = 0, header = 0, errs_ok = 1;
    while (fgets(line, sizeof line, f)) {
        if (lines++ == 0) {
            header = strncmp(line, "shape,dtype,M,K,N,sparse_ms", 27) == 0;
            continue;
        }
        /* column 12 is max_rel_err: sparse vs dense, must be tiny */
        char *p = line;
        for (int c = 0; c < 11 && p; c++) p = strchr(p + 1, ',');
        errs_ok &= p != NULL && strtod(p + 1, NULL) < 1e-5;
    }
    fclose(f);
    CHECK(header, "CSV header");
    CHECK(lines == 3, "one row per dtype (%d lines)", lines);
    CHECK(errs_ok, "max_rel_err column below 1e-5");
    remove(path);
    /* --ceilings: runs and prints its four rows on AVX-512, refuses elsewhere */
    snprintf(cmd, sizeof cmd, "%s bench cpu --ceilings > %s/out.txt 2> /dev/null", cli, dir);
    const int avx512 = strcmp(s24_spmm_isa(), "avx512") == 0;
    const int st = WEXITSTATUS(system(cmd));
    CHECK(avx512 ? st == 0 : st == 1, "bench cpu --ceilings exits %d (avx512: %d)", st, avx512);
    snprintf(path, sizeof path, "%s/out.txt", dir);
    if (avx512 && (f = fopen(path, "r")) != NULL) {
        int rows = 0;
        while (fgets(line, sizeof line, f))
            rows += !strncmp(line, "peak:", 5) || !strncmp(line, "addr:", 5) ||
                    !strncmp(line, "perm:", 5) || !strncmp(line, "mixed:", 6);
        fclose(f);
        CHECK(rows == 4, "--ceilings prints 4 rows (%d)", rows);
    }
    remove(path);
    remove(dir);
}

int main(void)
{
    struct s24_rng rng;
    s24_rng_seed(&rng, 24);
    check_paths(&rng);
    check_plan(&rng);
    check_errors(&rng);
    s24_threads_set(0);
    check_cli();
    return t_done("test_spmm");
}
