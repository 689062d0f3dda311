/* test_permute.c: channel-permutation search on single matrices: results are
 * bijections, repeat for a seed (and across thread counts), never lose to the
 * natural order, reach the exhaustive optimum on 8 and 12 columns, the exact
 * figures match a brute-force recount, the kernels agree bit for bit, bad
 * input is refused, and the CLI writes a permutation that reproduces the
 * magnitude it reports. */
#include "t.h"

#include "core/permute_internal.h"
#include "sparse24/sparse24_permute.h"

#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

static double *rand_matrix(int64_t rows, int64_t cols, uint64_t seed, int heavy)
{
    struct s24_rng r;
    s24_rng_seed(&r, seed);
    double *m = malloc((size_t)(rows * cols) * sizeof *m);
    for (int64_t i = 0; i < rows * cols; i++) {
        double v = s24_rng_normal(&r);
        /* heavy: a few columns with large weights, like trained convs */
        if (heavy && (i % cols) % 7 == 3) v *= 4.0;
        m[i] = v;
    }
    return m;
}

static int is_bijection(const int64_t *p, int64_t n)
{
    return s24_permute_check(p, n, "test") == S24_OK;
}

/* Kept magnitude by sorting each group of 4: independent of the library's formula. */
static double kept_sorted(const double *w, int64_t rows, int64_t cols, const int64_t *perm)
{
    double k = 0.0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c += 4) {
            double v[4];
            for (int i = 0; i < 4; i++) v[i] = fabs(w[r * cols + (perm ? perm[c + i] : c + i)]);
            for (int i = 0; i < 4; i++) /* insertion sort, descending */
                for (int j = i; j > 0 && v[j] > v[j - 1]; j--) {
                    double t = v[j];
                    v[j] = v[j - 1], v[j - 1] = t;
                }
            k += v[0] + v[1];
        }
    return k;
}

/* Best kept magnitude over every partition of `cols` (8 or 12) columns into
 * stripes of 4, by recursion over which columns join the lowest free one. */
static double bf_best;
static int64_t bf_perm[12];

static void brute(const double *w, int64_t rows, int cols, int64_t *cur, int used, int depth)
{
    if (depth * 4 == cols) {
        double k = kept_sorted(w, rows, cols, cur);
        if (k > bf_best) bf_best = k, memcpy(bf_perm, cur, (size_t)cols * sizeof *cur);
        return;
    }
    int first = 0;
    while (used >> first & 1) first++;
    for (int a = first + 1; a < cols; a++)
        for (int b = a + 1; b < cols; b++)
            for (int c = b + 1; c < cols; c++) {
                if ((used >> a & 1) || (used >> b & 1) || (used >> c & 1)) continue;
                cur[4 * depth] = first, cur[4 * depth + 1] = a;
                cur[4 * depth + 2] = b, cur[4 * depth + 3] = c;
                brute(w, rows, cols, cur, used | 1 << first | 1 << a | 1 << b | 1 << c, depth + 1);
            }
}

static double brute_best(const double *w, int64_t rows, int cols, int64_t *best_perm)
{
    int64_t cur[12];
    bf_best = -1.0;
    brute(w, rows, cols, cur, 0, 0);
    memcpy(best_perm, bf_perm, (size_t)cols * sizeof *bf_perm);
    return bf_best;
}

static void test_brute_force(void)
{
    for (int cols = 8; cols <= 12; cols += 4) {
        for (uint64_t seed = 1; seed <= 6; seed++) {
            int64_t rows = 16 + (int64_t)seed * 5;
            double *w = rand_matrix(rows, cols, seed * 31 + (uint64_t)cols, 0);
            int64_t bp[12], perm[12];
            double best = brute_best(w, rows, cols, bp);
            CHECK_NEAR(kept_sorted(w, rows, cols, bp), best, 1e-12 * best);
            struct s24_permute_opts o;
            struct s24_permute_result res;
            s24_permute_opts_default(&o);
            o.strategy = cols == 8 ? S24_PERMUTE_STRIPES8 : S24_PERMUTE_STRIPES12;
            o.escapes = 0;
            memset(perm, 0xff, sizeof perm);
            CHECK_OK(s24_permute_search(S24_F64, w, rows, cols, &o, perm, &res));
            CHECK(is_bijection(perm, cols));
            /* One group holds every column: its exhaustive move is the optimum
             * (float scoring may pick a partition within rounding of it). */
            CHECK(fabs(res.kept_permuted - best) <= 1e-6 * best,
                  "cols %d seed %llu: %.9g vs best %.9g", cols, (unsigned long long)seed,
                  res.kept_permuted, best);
            CHECK_NEAR(res.kept_permuted, kept_sorted(w, rows, cols, perm), 1e-9 * best);
            CHECK(res.efficacy >= 0.0 && res.efficacy <= 100.0 + 1e-9, "efficacy %g", res.efficacy);
            /* swaps and 8-column groups cannot beat the optimum either */
            o.strategy = S24_PERMUTE_SWAP;
            o.escapes = 50;
            CHECK_OK(s24_permute_search(S24_F64, w, rows, cols, &o, perm, &res));
            CHECK(res.kept_permuted <= best * (1 + 1e-12) && res.kept_permuted >= res.kept_default);
            free(w);
        }
    }
}

static void test_exact_figures(void)
{
    int64_t rows = 37, cols = 24;
    double *w = rand_matrix(rows, cols, 5, 1);
    int64_t perm[24];
    struct s24_rng r;
    s24_rng_seed(&r, 9);
    for (int trial = 0; trial < 5; trial++) {
        for (int64_t j = 0; j < cols; j++) perm[j] = j;
        for (int64_t j = cols - 1; j > 0; j--) { /* Fisher-Yates */
            int64_t k = (int64_t)s24_rng_below(&r, (uint64_t)j + 1), t = perm[j];
            perm[j] = perm[k], perm[k] = t;
        }
        double kept, bound;
        CHECK_OK(s24_permute_kept(S24_F64, w, rows, cols, perm, &kept, &bound));
        CHECK(kept == kept_sorted(w, rows, cols, perm), "%.17g vs %.17g", kept,
              kept_sorted(w, rows, cols, perm));
        /* bound: largest half of each row, by sorting */
        double b = 0.0;
        for (int64_t i = 0; i < rows; i++) {
            double v[24];
            for (int64_t j = 0; j < cols; j++) v[j] = fabs(w[i * cols + j]);
            for (int a = 0; a < cols; a++)
                for (int c = a; c > 0 && v[c] > v[c - 1]; c--) {
                    double t = v[c];
                    v[c] = v[c - 1], v[c - 1] = t;
                }
            double s = 0.0;
            for (int j = 0; j < cols / 2; j++) s += v[j];
            b += s;
        }
        CHECK_NEAR(bound, b, 1e-12 * b);
        CHECK(kept <= bound * (1 + 1e-15));
    }
    /* the library's mask module agrees on the natural order */
    struct s24_magnitude mg;
    struct s24_view v = {rows, cols, 1};
    double kd, bd;
    CHECK_OK(s24_permute_kept(S24_F64, w, rows, cols, NULL, &kd, &bd));
    CHECK_OK(s24_magnitude(S24_F64, w, v, 2, 4, &mg));
    CHECK_NEAR(kd, mg.kept, 1e-9 * kd);
    CHECK_NEAR(bd, mg.row_bound, 1e-9 * bd);
    CHECK_NEAR(s24_efficacy(kd, kd + 1.0, kd + 4.0), 25.0, 1e-12);
    free(w);
}

static void test_properties(void)
{
    static const int64_t shapes[][2] = {{64, 32}, {200, 64}, {33, 128}, {1, 16}, {9, 8}, {50, 4}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int64_t rows = shapes[si][0], cols = shapes[si][1];
        double *w = rand_matrix(rows, cols, 100 + si, (int)(si & 1));
        float *wf = malloc((size_t)(rows * cols) * sizeof *wf);
        for (int64_t i = 0; i < rows * cols; i++) wf[i] = (float)w[i];
        int64_t *p1 = malloc((size_t)cols * sizeof *p1), *p2 = malloc((size_t)cols * sizeof *p2);
        for (int st = S24_PERMUTE_DEFAULT; st < S24_PERMUTE_STRATEGY_COUNT; st++) {
            if (st == S24_PERMUTE_STRIPES12 && cols > 64) continue; /* slow, covered above */
            struct s24_permute_opts o;
            struct s24_permute_result r1, r2;
            s24_permute_opts_default(&o);
            o.strategy = (enum s24_permute_strategy)st;
            o.seed = 7;
            o.escapes = st == S24_PERMUTE_STRIPES12 ? 5 : 40;
            for (int64_t j = 0; j < cols; j++) p1[j] = p2[j] = -5; /* poison */
            s24_threads_set(1);
            CHECK_OK(s24_permute_search(S24_F64, w, rows, cols, &o, p1, &r1));
            s24_threads_set(2);
            CHECK_OK(s24_permute_search(S24_F64, w, rows, cols, &o, p2, &r2));
            CHECK(is_bijection(p1, cols), "%s %lldx%lld", s24_permute_strategy_name(o.strategy),
                  (long long)rows, (long long)cols);
            CHECK(!memcmp(p1, p2, (size_t)cols * sizeof *p1), "%s not deterministic across threads",
                  s24_permute_strategy_name(o.strategy));
            CHECK(r1.kept_permuted >= r1.kept_default, "%s worse than identity",
                  s24_permute_strategy_name(o.strategy));
            CHECK(r1.kept_permuted <= r1.row_bound * (1 + 1e-12));
            CHECK_NEAR(r1.kept_permuted, kept_sorted(w, rows, cols, p1), 1e-9 * r1.kept_permuted);
            CHECK(r1.strategy != S24_PERMUTE_DEFAULT);
            if (st == S24_PERMUTE_IDENTITY)
                for (int64_t j = 0; j < cols; j++) CHECK(p1[j] == j);
            /* the same search on F32 input is a valid permutation too */
            CHECK_OK(s24_permute_search(S24_F32, wf, rows, cols, &o, p2, &r2));
            CHECK(is_bijection(p2, cols));
            CHECK(r2.kept_permuted >= r2.kept_default);
        }
        /* a different seed may give another order, still valid */
        struct s24_permute_opts o;
        s24_permute_opts_default(&o);
        o.seed = 8;
        CHECK_OK(s24_permute_search(S24_F64, w, rows, cols, &o, p1, NULL));
        CHECK(is_bijection(p1, cols));
        free(p1), free(p2), free(w), free(wf);
    }
    s24_threads_set(0);
}

/* Big enough that both engines split their scoring over threads: the
 * result must not depend on the thread count. */
static void test_threads_large(void)
{
    int64_t rows = 512, cols = 256;
    double *w = rand_matrix(rows, cols, 99, 1);
    int64_t *p1 = malloc((size_t)cols * sizeof *p1), *p2 = malloc((size_t)cols * sizeof *p2);
    for (int st = S24_PERMUTE_SWAP; st <= S24_PERMUTE_STRIPES8; st++) {
        struct s24_permute_opts o;
        struct s24_permute_result r1, r2;
        s24_permute_opts_default(&o);
        o.strategy = (enum s24_permute_strategy)st;
        o.escapes = 3;
        s24_threads_set(1);
        CHECK_OK(s24_permute_search(S24_F64, w, rows, cols, &o, p1, &r1));
        s24_threads_set(2);
        CHECK_OK(s24_permute_search(S24_F64, w, rows, cols, &o, p2, &r2));
        CHECK(!memcmp(p1, p2, (size_t)cols * sizeof *p1), "%s: threads change the result",
              s24_permute_strategy_name(o.strategy));
        CHECK(r1.kept_permuted == r2.kept_permuted && r1.moves == r2.moves);
        CHECK(is_bijection(p1, cols) && r1.kept_permuted > r1.kept_default);
    }
    s24_threads_set(0);
    free(p1), free(p2), free(w);
}

static void test_gains_are_real(void)
{
    /* a matrix built to gain: the natural order groups the big columns together */
    int64_t rows = 96, cols = 32;
    double *w = rand_matrix(rows, cols, 77, 0);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < 8; c++) w[r * cols + c] *= 10.0;
    int64_t perm[32];
    for (int st = S24_PERMUTE_SWAP; st <= S24_PERMUTE_STRIPES12; st++) {
        struct s24_permute_opts o;
        struct s24_permute_result res;
        s24_permute_opts_default(&o);
        o.strategy = (enum s24_permute_strategy)st;
        o.escapes = 0;
        CHECK_OK(s24_permute_search(S24_F64, w, rows, cols, &o, perm, &res));
        CHECK(res.kept_permuted > res.kept_default * 1.2, "%s: %g vs %g",
              s24_permute_strategy_name(o.strategy), res.kept_permuted, res.kept_default);
        CHECK(res.efficacy > 50.0, "efficacy %g", res.efficacy);
        CHECK(res.moves > 0 && res.stop == S24_PERMUTE_STOP_CONVERGED);
    }
    free(w);
}

static void test_limits(void)
{
    int64_t rows = 300, cols = 256;
    double *w = rand_matrix(rows, cols, 3, 1);
    int64_t *perm = malloc((size_t)cols * sizeof *perm);
    struct s24_permute_opts o;
    struct s24_permute_result res;
    s24_permute_opts_default(&o);
    o.strategy = S24_PERMUTE_SWAP;
    o.escapes = 1000000;
    o.time_budget = 0.05;
    CHECK_OK(s24_permute_search(S24_F64, w, rows, cols, &o, perm, &res));
    CHECK(res.stop == S24_PERMUTE_STOP_TIME, "stop %s", s24_permute_stop_name(res.stop));
    CHECK(is_bijection(perm, cols) && res.kept_permuted >= res.kept_default);
    CHECK(res.seconds < 2.0, "%g s", res.seconds);
    o.time_budget = 0;
    o.escapes = 0;
    o.max_moves = 3;
    o.strategy = S24_PERMUTE_STRIPES8;
    CHECK_OK(s24_permute_search(S24_F64, w, rows, cols, &o, perm, &res));
    CHECK(res.stop == S24_PERMUTE_STOP_ITERS && res.moves == 3, "%s %lld",
          s24_permute_stop_name(res.stop), (long long)res.moves);
    CHECK(is_bijection(perm, cols) && res.kept_permuted > res.kept_default);
    o.max_moves = 0;
    o.escapes = 4;
    CHECK_OK(s24_permute_search(S24_F64, w, rows, cols, &o, perm, &res));
    CHECK(res.stop == S24_PERMUTE_STOP_ESCAPES && res.escapes == 4);
    free(perm), free(w);
}

/* opts.target_efficacy only times the run: same permutation with or without
 * it; reached (with a time inside the run) when the final efficacy is at
 * least the target, -1 when the target is above what the run found. */
static void test_target(void)
{
    int64_t rows = 128, cols = 64;
    double *w = rand_matrix(rows, cols, 5, 1);
    int64_t *p1 = malloc((size_t)cols * sizeof *p1), *p2 = malloc((size_t)cols * sizeof *p2);
    for (int st = S24_PERMUTE_SWAP; st <= S24_PERMUTE_STRIPES8; st++) {
        struct s24_permute_opts o;
        struct s24_permute_result r1, r2, r3;
        s24_permute_opts_default(&o);
        o.strategy = (enum s24_permute_strategy)st;
        o.escapes = 50;
        CHECK_OK(s24_permute_search(S24_F64, w, rows, cols, &o, p1, &r1));
        CHECK(r1.seconds_to_target == -1.0, "no target set: %g", r1.seconds_to_target);
        o.target_efficacy = r1.efficacy * 0.5;
        CHECK_OK(s24_permute_search(S24_F64, w, rows, cols, &o, p2, &r2));
        CHECK(memcmp(p1, p2, (size_t)cols * sizeof *p1) == 0,
              "a target must not change the search");
        CHECK(r2.seconds_to_target >= 0 && r2.seconds_to_target <= r2.seconds + 1e-9,
              "reached at %g of %g s", r2.seconds_to_target, r2.seconds);
        o.target_efficacy = r1.efficacy + 1.0;
        CHECK_OK(s24_permute_search(S24_F64, w, rows, cols, &o, p2, &r3));
        CHECK(r3.seconds_to_target == -1.0, "target above the result: %g", r3.seconds_to_target);
    }
    free(p1), free(p2), free(w);
}

static void test_bad_input(void)
{
    double w[4 * 6];
    for (int i = 0; i < 24; i++) w[i] = 1.0 + i;
    int64_t perm[8];
    CHECK(s24_permute_search(S24_F64, w, 4, 6, NULL, perm, NULL) == S24_ERR_INVALID);
    CHECK(strstr(s24_last_error(), "multiple of 4"), "%s", s24_last_error());
    w[5] = NAN;
    CHECK(s24_permute_search(S24_F64, w, 3, 8, NULL, perm, NULL) == S24_ERR_INVALID);
    CHECK(strstr(s24_last_error(), "NaN"), "%s", s24_last_error());
    w[5] = 1.0;
    CHECK(s24_permute_search(S24_I64, w, 3, 8, NULL, perm, NULL) == S24_ERR_INVALID);
    CHECK(s24_permute_search(S24_F64, w, 0, 8, NULL, perm, NULL) == S24_ERR_INVALID);
    CHECK(s24_permute_search(S24_F64, w, 3, 8, NULL, NULL, NULL) == S24_ERR_INVALID);
    int64_t bad[4] = {0, 1, 1, 3}, out[4] = {0, 1, 2, 4};
    CHECK(s24_permute_check(bad, 4, "x") == S24_ERR_INVALID);
    CHECK(s24_permute_check(out, 4, "x") == S24_ERR_INVALID);
    enum s24_permute_strategy st;
    CHECK(s24_permute_strategy_parse("bogus", &st) == S24_ERR_INVALID);
    CHECK_OK(s24_permute_strategy_parse("stripes12", &st));
    CHECK(st == S24_PERMUTE_STRIPES12);
    /* 4 columns: a single stripe, nothing to search */
    CHECK_OK(s24_permute_search(S24_F64, w, 6, 4, NULL, perm, NULL));
    for (int j = 0; j < 4; j++) CHECK(perm[j] == j);
}

static void test_tensor_helpers(void)
{
    /* OIHW (3, 8, 2, 2) -> ASP matrix (2*2*3, 8), row (h*KW+w)*OC + o */
    int64_t shape[4] = {3, 8, 2, 2};
    float wt[96];
    for (int i = 0; i < 96; i++) wt[i] = (float)(i * 7 % 23) - 11.0f;
    double *m = NULL;
    int64_t rows, cols;
    CHECK_OK(s24_permute_matrix(S24_F32, wt, 4, shape, &m, &rows, &cols));
    CHECK(rows == 12 && cols == 8);
    int ok = 1;
    for (int o = 0; o < 3; o++)
        for (int i = 0; i < 8; i++)
            for (int k = 0; k < 4; k++)
                ok &= m[(k * 3 + o) * 8 + i] == (double)wt[(o * 8 + i) * 4 + k];
    CHECK(ok, "ASP view layout");
    free(m);
    /* permute dim 1 of OIHW: element (o, j, k) becomes old (o, perm[j], k) */
    int64_t perm[8] = {3, 0, 7, 1, 6, 2, 5, 4};
    float orig[96];
    memcpy(orig, wt, sizeof orig);
    CHECK_OK(s24_permute_tensor_dim(wt, S24_F32, 4, shape, 1, perm));
    ok = 1;
    for (int o = 0; o < 3; o++)
        for (int j = 0; j < 8; j++)
            for (int k = 0; k < 4; k++)
                ok &= wt[(o * 8 + j) * 4 + k] == orig[(o * 8 + perm[j]) * 4 + k];
    CHECK(ok, "dim-1 permutation");
    int64_t p0[3] = {2, 0, 1};
    memcpy(wt, orig, sizeof orig);
    CHECK_OK(s24_permute_tensor_dim(wt, S24_F32, 4, shape, 0, p0));
    CHECK(!memcmp(wt, orig + 2 * 32, 32 * sizeof *wt) && !memcmp(wt + 32, orig, 32 * sizeof *wt));
    CHECK(s24_permute_tensor_dim(wt, S24_F32, 4, shape, 4, perm) == S24_ERR_INVALID);
    /* 3 != 8 entries... */
    CHECK(s24_permute_tensor_dim(wt, S24_F32, 4, shape, 0, perm) == S24_ERR_INVALID);
}

static void test_kernels_agree(void)
{
    int64_t rpad = 1104; /* not a multiple of the block */
    float *a = aligned_alloc(64, 12 * (size_t)rpad * sizeof *a);
    struct s24_rng r;
    s24_rng_seed(&r, 4);
    for (int64_t i = 0; i < 12 * rpad; i++) a[i] = (float)s24_rng_uniform(&r);
    const float *p[4 * 6];
    for (int k = 0; k < 24; k++) p[k] = a + (k * 5 % 12) * rpad;
    double s1[6], s2[6], m1[8 * 12], m2[8 * 12];
    s24_permute_top2_c(p, 6, rpad, s1);
    s24_permute_pick_top2()(p, 6, rpad, s2);
    CHECK(!memcmp(s1, s2, sizeof s1), "top2 kernels differ");
    /* against a plain double sum */
    double ref = 0.0;
    for (int64_t i = 0; i < rpad; i++) {
        double v[4] = {p[0][i], p[1][i], p[2][i], p[3][i]};
        double x = fmax(v[0], v[1]) + fmax(v[2], v[3]);
        x = fmax(x, fmax(v[0] + v[1], v[2] + v[3]));
        ref += x;
    }
    CHECK_NEAR(s1[0], ref, 1e-5 * ref);
    const float *x[8];
    for (int k = 0; k < 8; k++) x[k] = a + (11 - k) * rpad;
    s24_permute_maxsum_c(x, 7, a, rpad, 12, m1, 12);
    s24_permute_pick_maxsum()(x, 7, a, rpad, 12, m2, 12);
    CHECK(!memcmp(m1, m2, 7 * 12 * sizeof *m1), "maxsum kernels differ");
    free(a);
}

/* The CLI writes PERM.npy; applying it reproduces the magnitude it prints. */
static void test_cli(void)
{
    const char *cli = getenv("S24_CLI");
    if (!cli) {
        printf("test_permute: S24_CLI not set, CLI checks skipped\n");
        return;
    }
    int64_t rows = 72, cols = 48;
    double *w = rand_matrix(rows, cols, 11, 1);
    char in[512], out[512], cmd[2048];
    snprintf(in, sizeof in, "%s/w.npy", t_tmpdir());
    snprintf(out, sizeof out, "%s/perm.npy", t_tmpdir());
    int64_t shape[2] = {rows, cols};
    CHECK_OK(s24_npy_write(in, S24_F64, 2, shape, w));
    snprintf(cmd, sizeof cmd, "%s permute %s -o %s --seed 5 --threads 2 2>&1", cli, in, out);
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    char line[1024];
    double kd = -1, kp = -1, bound = -1, eff = -1;
    while (f && fgets(line, sizeof line, f)) {
        double a, b, c, d;
        if (sscanf(line, "%*s %*d %*d %*s %lf %lf %lf %lf", &a, &b, &c, &d) == 4)
            kd = a, kp = b, bound = c, eff = d;
    }
    CHECK(f && pclose(f) == 0);
    enum s24_dtype dt;
    int nd;
    int64_t sh[S24_MAX_DIMS];
    void *data = NULL;
    CHECK_OK(s24_npy_read(out, &dt, &nd, sh, &data));
    if (data) {
        CHECK(dt == S24_I64 && nd == 1 && sh[0] == cols);
        CHECK(is_bijection(data, cols));
        double k = kept_sorted(w, rows, cols, data);
        CHECK(fabs(k - kp) <= 1e-6 * k + 1e-6, "applied %.6f vs reported %.6f", k, kp);
        CHECK(fabs(kept_sorted(w, rows, cols, NULL) - kd) <= 1e-6 * kd);
        CHECK(kp >= kd && bound >= kp && eff > 0, "%g %g %g %g", kd, kp, bound, eff);
        free(data);
    }
    /* a conv weight of a safetensors file, viewed as ASP's (KH*KW*OC) x IC */
    {
        int64_t shape4[4] = {16, 32, 3, 3};
        float *cw = malloc(16 * 32 * 9 * sizeof *cw);
        struct s24_rng g;
        s24_rng_seed(&g, 21);
        for (int i = 0; i < 16 * 32 * 9; i++)
            cw[i] = (float)s24_rng_normal(&g) * (i % 11 == 0 ? 3.0f : 1.0f);
        struct s24_st st;
        s24_st_init(&st);
        CHECK_OK(s24_st_add(&st, "features.conv.weight", S24_F32, 4, shape4, cw));
        char stp[512];
        snprintf(stp, sizeof stp, "%s/w.safetensors", t_tmpdir());
        CHECK_OK(s24_st_write(stp, &st));
        s24_st_free(&st);
        snprintf(cmd, sizeof cmd,
                 "%s permute %s --tensor features.conv.weight -o %s --escapes 20 2>&1", cli, stp,
                 out);
        f = popen(cmd, "r");
        kp = -1;
        while (f && fgets(line, sizeof line, f)) {
            double a, b, cc, d;
            if (sscanf(line, "%*s %*d %*d %*s %lf %lf %lf %lf", &a, &b, &cc, &d) == 4) kp = b;
        }
        CHECK(f && pclose(f) == 0);
        double *mat = NULL;
        int64_t mr, mc;
        CHECK_OK(s24_permute_matrix(S24_F32, cw, 4, shape4, &mat, &mr, &mc));
        void *pd = NULL;
        CHECK_OK(s24_npy_read(out, &dt, &nd, sh, &pd));
        if (pd && mat) {
            CHECK(nd == 1 && sh[0] == 32 && is_bijection(pd, 32));
            double k = kept_sorted(mat, mr, mc, pd);
            CHECK(fabs(k - kp) <= 1e-6 * k + 1e-6, "conv: applied %.6f vs reported %.6f", k, kp);
        }
        free(pd), free(mat), free(cw);
        remove(stp);
    }
    /* usage and runtime errors get their exit codes */
    snprintf(cmd, sizeof cmd, "%s permute --help >/dev/null 2>&1", cli);
    CHECK(WEXITSTATUS(system(cmd)) == 0);
    snprintf(cmd, sizeof cmd, "%s permute %s 2>/dev/null", cli, in);
    CHECK(WEXITSTATUS(system(cmd)) == 2, "missing -o must be a usage error");
    snprintf(cmd, sizeof cmd, "%s permute %s -o %s --strategy nope 2>/dev/null", cli, in, out);
    CHECK(WEXITSTATUS(system(cmd)) == 2);
    snprintf(cmd, sizeof cmd, "%s permute %s/missing.npy -o %s 2>/dev/null", cli, t_tmpdir(), out);
    CHECK(WEXITSTATUS(system(cmd)) == 1);
    remove(in), remove(out), rmdir(t_tmpdir());
    free(w);
}

int main(void)
{
    test_brute_force();
    test_exact_figures();
    test_properties();
    test_gains_are_real();
    test_threads_large();
    test_limits();
    test_target();
    test_bad_input();
    test_tensor_helpers();
    test_kernels_agree();
    test_cli();
    return t_done("test_permute");
}
