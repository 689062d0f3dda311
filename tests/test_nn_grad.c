/* test_nn_grad.c: every layer of the training engine against central finite
 * differences (fp64 loss, small shapes, relative error budgets), and the fast
 * CPU convolutions against the fp64 reference. The loss of an op is
 * sum(out * R) with a fixed random R, so the analytic gradient is the op's
 * backward with dy = R. Inputs are random and non-zero; gradient outputs are
 * poisoned where the op must overwrite and zeroed where it accumulates. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_nn.h"
#include "sparse24/sparse24_nn.h"
#include "t.h"

static struct s24_rng rng;
static struct s24_nn_ws ws;

static float *rnd(int64_t n, float lo, float hi)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = s24_rng_uniformf(&rng, lo, hi);
    return p;
}

/* values away from 0 (ReLU's kink) */
static float *rnd_nz(int64_t n)
{
    float *p = rnd(n, 0.1f, 1.0f);
    for (int64_t i = 0; i < n; i++)
        if (s24_rng_u64(&rng) & 1) p[i] = -p[i];
    return p;
}

static float *zeros(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

static double dot(const float *a, const float *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static double rel_err(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return sqrt(num) / (sqrt(den) + 1e-30);
}

typedef double (*loss_fn)(void *ctx);

/* ||fd - g|| / ||g|| over the elements of x (at most `maxn`, strided). */
static double fd_check(loss_fn f, void *ctx, float *x, int64_t n, const float *g, float h)
{
    double num = 0, den = 0;
    int64_t step = n > 400 ? n / 400 : 1;
    for (int64_t i = 0; i < n; i += step) {
        float s = x[i], xp = s + h, xm = s - h;
        x[i] = xp;
        double lp = f(ctx);
        x[i] = xm;
        double lm = f(ctx);
        x[i] = s;
        double fd = (lp - lm) / ((double)xp - (double)xm);
        num += (fd - g[i]) * (fd - g[i]);
        den += (double)g[i] * g[i];
    }
    return sqrt(num) / (sqrt(den) + 1e-30);
}

/* ---------------------------------------------------------------- conv */
struct conv_ctx {
    struct s24_conv_shape s;
    float *x, *w, *b, *y, *r;
};

static double conv_loss(void *p)
{
    struct conv_ctx *c = p;
    s24_conv2d_ref_fwd(&c->s, c->x, c->w, c->b, c->y);
    return dot(c->y, c->r, c->s.n * c->s.oh * c->s.ow * c->s.oc);
}

static void check_conv(int64_t n, int64_t h, int64_t c, int64_t oc, int64_t k, int64_t st,
                       int64_t pad, int64_t groups, int bias)
{
    struct conv_ctx cx = {{n, h, h, c, oc, k, k, st, pad, groups, 0, 0}, 0, 0, 0, 0, 0};
    CHECK_OK(s24_conv_shape_init(&cx.s));
    int64_t nx = n * h * h * c, nw = oc * k * k * (c / groups), ny = n * cx.s.oh * cx.s.ow * oc;
    cx.x = rnd_nz(nx), cx.w = rnd(nw, -0.5f, 0.5f), cx.b = bias ? rnd(oc, -0.5f, 0.5f) : NULL;
    cx.y = rnd(ny, 1e30f, 1e30f), cx.r = rnd(ny, -1.0f, 1.0f);
    float *yf = rnd(ny, 1e30f, 1e30f); /* poisoned */
    float *dx = zeros(nx), *dw = zeros(nw), *db = zeros(oc);
    float *dx2 = zeros(nx), *dw2 = zeros(nw), *db2 = zeros(oc);
    /* fast vs reference */
    s24_conv2d_ref_fwd(&cx.s, cx.x, cx.w, cx.b, cx.y);
    CHECK_OK(s24_cpu_conv2d_fwd(&cx.s, cx.x, cx.w, cx.b, yf, &ws));
    double e = rel_err(yf, cx.y, ny);
    CHECK(e < 1e-5, "conv fwd fast vs ref (n%lld c%lld oc%lld k%lld s%lld g%lld): %g", (long long)n,
          (long long)c, (long long)oc, (long long)k, (long long)st, (long long)groups, e);
    s24_conv2d_ref_bwd(&cx.s, cx.x, cx.w, cx.r, dx, dw, bias ? db : NULL);
    CHECK_OK(s24_cpu_conv2d_bwd(&cx.s, cx.x, cx.w, cx.r, dx2, dw2, bias ? db2 : NULL, &ws));
    CHECK(rel_err(dx2, dx, nx) < 1e-5, "conv dx fast vs ref: %g", rel_err(dx2, dx, nx));
    CHECK(rel_err(dw2, dw, nw) < 1e-5, "conv dw fast vs ref: %g", rel_err(dw2, dw, nw));
    if (bias) CHECK(rel_err(db2, db, oc) < 1e-5, "conv db fast vs ref");
    /* accumulation: a second backward doubles the gradients */
    CHECK_OK(s24_cpu_conv2d_bwd(&cx.s, cx.x, cx.w, cx.r, dx2, dw2, bias ? db2 : NULL, &ws));
    for (int64_t i = 0; i < nw; i++) dw[i] *= 2;
    CHECK(rel_err(dw2, dw, nw) < 1e-5, "conv dw accumulates");
    for (int64_t i = 0; i < nw; i++) dw[i] *= 0.5f;
    /* reference vs finite differences */
    e = fd_check(conv_loss, &cx, cx.x, nx, dx, 1e-2f);
    CHECK(e < 2e-3, "conv dx vs fd (k%lld s%lld g%lld): %g", (long long)k, (long long)st,
          (long long)groups, e);
    e = fd_check(conv_loss, &cx, cx.w, nw, dw, 1e-2f);
    CHECK(e < 2e-3, "conv dw vs fd: %g", e);
    if (bias) {
        e = fd_check(conv_loss, &cx, cx.b, oc, db, 1e-2f);
        CHECK(e < 2e-3, "conv db vs fd: %g", e);
    }
    free(cx.x), free(cx.w), free(cx.b), free(cx.y), free(cx.r), free(yf);
    free(dx), free(dw), free(db), free(dx2), free(dw2), free(db2);
}

/* fast vs reference only, on shapes that take the threaded paths, through
 * each backend's op table */
static void check_conv_fast(int64_t n, int64_t h, int64_t c, int64_t oc, int64_t k, int64_t st,
                            int64_t pad, int64_t groups)
{
    struct s24_conv_shape s = {n, h, h, c, oc, k, k, st, pad, groups, 0, 0};
    CHECK_OK(s24_conv_shape_init(&s));
    int64_t nx = n * h * h * c, nw = oc * k * k * (c / groups), ny = n * s.oh * s.ow * oc;
    float *x = rnd_nz(nx), *w = rnd(nw, -0.5f, 0.5f), *b = rnd(oc, -1, 1), *r = rnd(ny, -1, 1);
    float *y = rnd(ny, 1e30f, 1e30f), *yr = zeros(ny);
    float *dx = zeros(nx), *dw = zeros(nw), *db = zeros(oc);
    float *dxr = zeros(nx), *dwr = zeros(nw), *dbr = zeros(oc);
    s24_conv2d_ref_fwd(&s, x, w, b, yr);
    s24_conv2d_ref_bwd(&s, x, w, r, dxr, dwr, dbr);
    /* the CPU backend's table against the reference (the GPU backend is
     * checked against the CPU one in tests/gpu/test_nn_conv_gpu.c) */
    s24_backend_t *cpu = NULL;
    CHECK_OK(s24_backend_create(S24_DEVICE_CPU, 0, &cpu));
    struct s24_backend *backends[] = {cpu};
    for (size_t i = 0; cpu && i < sizeof backends / sizeof backends[0]; i++) {
        struct s24_backend *be = backends[i];
        void *state = NULL;
        for (int64_t j = 0; j < ny; j++) y[j] = 1e30f;
        memset(dx, 0, (size_t)nx * sizeof *dx), memset(dw, 0, (size_t)nw * sizeof *dw);
        memset(db, 0, (size_t)oc * sizeof *db);
        CHECK_OK(be->ops->conv2d_fwd(be, &state, &s, x, w, b, y));
        CHECK(rel_err(y, yr, ny) < 1e-5, "%s conv fwd (c%lld oc%lld k%lld g%lld): %g", be->name,
              (long long)c, (long long)oc, (long long)k, (long long)groups, rel_err(y, yr, ny));
        CHECK_OK(be->ops->conv2d_bwd(be, &state, &s, x, w, r, dx, 1, dw, db));
        if (state) be->ops->state_free(be, state);
        CHECK(rel_err(dx, dxr, nx) < 1e-5, "%s conv dx: %g", be->name, rel_err(dx, dxr, nx));
        CHECK(rel_err(dw, dwr, nw) < 1e-5, "%s conv dw: %g", be->name, rel_err(dw, dwr, nw));
        CHECK(rel_err(db, dbr, oc) < 1e-5, "%s conv db: %g", be->name, rel_err(db, dbr, oc));
    }
    s24_backend_free(cpu);
    free(x), free(w), free(b), free(r), free(y), free(yr);
    free(dx), free(dw), free(db), free(dxr), free(dwr), free(dbr);
}

/* ---------------------------------------------------------------- batch norm */
struct bn_ctx {
    int64_t rows, c;
    float *x, *g, *b, *y, *r, *mean, *var, *invstd;
};

static double bn_loss(void *p)
{
    struct bn_ctx *c = p;
    s24_cpu_bn_fwd_train(c->rows, c->c, c->x, c->g, c->b, 1e-5f, c->y, c->mean, c->var,
                         c->invstd, &ws);
    return dot(c->y, c->r, c->rows * c->c);
}

static void check_bn(void)
{
    struct bn_ctx b = {24, 5, 0, 0, 0, 0, 0, 0, 0, 0};
    int64_t n = b.rows * b.c;
    b.x = rnd(n, -2.0f, 3.0f), b.g = rnd(b.c, 0.5f, 1.5f), b.b = rnd(b.c, -0.5f, 0.5f);
    b.y = zeros(n), b.r = rnd(n, -1, 1), b.mean = zeros(b.c), b.var = zeros(b.c),
    b.invstd = zeros(b.c);
    float *dx = zeros(n), *dg = zeros(b.c), *db = zeros(b.c);
    bn_loss(&b);
    /* statistics against a direct fp64 computation */
    for (int64_t j = 0; j < b.c; j++) {
        double s = 0, ss = 0;
        for (int64_t r = 0; r < b.rows; r++) s += b.x[r * b.c + j];
        s /= (double)b.rows;
        for (int64_t r = 0; r < b.rows; r++) ss += (b.x[r * b.c + j] - s) * (b.x[r * b.c + j] - s);
        CHECK_NEAR(b.mean[j], s, 1e-5);
        CHECK_NEAR(b.var[j], ss / (double)b.rows, 1e-5);
    }
    CHECK_OK(s24_cpu_bn_bwd(b.rows, b.c, b.x, b.mean, b.invstd, b.g, b.r, dx, dg, db, &ws));
    double e = fd_check(bn_loss, &b, b.x, n, dx, 1e-2f);
    CHECK(e < 5e-3, "bn dx vs fd: %g", e);
    e = fd_check(bn_loss, &b, b.g, b.c, dg, 1e-2f);
    CHECK(e < 2e-3, "bn dgamma vs fd: %g", e);
    e = fd_check(bn_loss, &b, b.b, b.c, db, 1e-2f);
    CHECK(e < 2e-3, "bn dbeta vs fd: %g", e);
    /* eval mode with running stats = batch stats (biased) equals training output */
    bn_loss(&b);
    float *ye = rnd(n, 1e30f, 1e30f);
    s24_cpu_bn_fwd_eval(b.rows, b.c, b.x, b.g, b.b, b.mean, b.var, 1e-5f, ye);
    CHECK(rel_err(ye, b.y, n) < 1e-5, "bn eval with batch stats == train");
    free(b.x), free(b.g), free(b.b), free(b.y), free(b.r), free(b.mean), free(b.var),
        free(b.invstd);
    free(dx), free(dg), free(db), free(ye);
}

/* The threaded path (per-thread fp64 partial sums) against a direct fp64
 * computation of the statistics, the output and the backward. */
static void check_bn_large(void)
{
    const int64_t rows = 4096, c = 48, n = rows * c;
    float *x = rnd(n, -1.0f, 3.0f), *g = rnd(c, 0.5f, 1.5f), *b = rnd(c, -0.5f, 0.5f);
    float *y = rnd(n, 1e30f, 1e30f), *dy = rnd(n, -1, 1), *dx = zeros(n);
    float *mean = zeros(c), *var = zeros(c), *is = zeros(c), *dg = zeros(c), *db = zeros(c);
    CHECK_OK(s24_cpu_bn_fwd_train(rows, c, x, g, b, 1e-5f, y, mean, var, is, &ws));
    CHECK_OK(s24_cpu_bn_bwd(rows, c, x, mean, is, g, dy, dx, dg, db, &ws));
    double worst_y = 0, worst_dx = 0;
    for (int64_t j = 0; j < c; j++) {
        double m = 0, v = 0, sdy = 0, sdyx = 0;
        for (int64_t r = 0; r < rows; r++) m += x[r * c + j];
        m /= (double)rows;
        for (int64_t r = 0; r < rows; r++) v += (x[r * c + j] - m) * (x[r * c + j] - m);
        v /= (double)rows;
        double inv = 1.0 / sqrt(v + 1e-5);
        for (int64_t r = 0; r < rows; r++) {
            double xh = (x[r * c + j] - m) * inv;
            sdy += dy[r * c + j], sdyx += dy[r * c + j] * xh;
            worst_y = fmax(worst_y, fabs(y[r * c + j] - (xh * g[j] + b[j])));
        }
        CHECK(fabs(mean[j] - m) < 1e-6 && fabs(var[j] - v) < 1e-5 * v, "bn large stats ch %lld",
              (long long)j);
        CHECK(fabs(db[j] - sdy) < 1e-3 && fabs(dg[j] - sdyx) < 1e-3,
              "bn large dgamma/dbeta ch %lld", (long long)j);
        for (int64_t r = 0; r < rows; r++) {
            double xh = (x[r * c + j] - m) * inv;
            double want = g[j] * inv * (dy[r * c + j] - sdy / rows - xh * sdyx / rows);
            worst_dx = fmax(worst_dx, fabs(dx[r * c + j] - want));
        }
    }
    CHECK(worst_y < 1e-5, "bn large output max err %g", worst_y);
    CHECK(worst_dx < 1e-5, "bn large dx max err %g", worst_dx);
    free(x), free(g), free(b), free(y), free(dy), free(dx), free(mean), free(var), free(is);
    free(dg), free(db);
}

/* The fused activation against the separate passes (act_fwd on bn's
 * output; act_bwd on a zeroed gradient, then bn_bwd), and the AVX-512 build
 * of the kernels against the portable one: bit for bit, on a threaded size
 * with a channel count that leaves a vector remainder. The fused run writes
 * dx fresh (acc 0) over NaNs, the separate one adds into zeros. */
static void bn_fused_run(int64_t rows, int64_t c, enum s24_act act, int fused, const float *x,
                         const float *g, const float *b, const float *dy, float *y, float *dx,
                         float *dg, float *db, float *ye)
{
    int64_t n = rows * c;
    float *mean = zeros(c), *var = zeros(c), *is = zeros(c), *z = zeros(n), *gz = zeros(n);
    memset(dx, 0, (size_t)n * sizeof *dx), memset(dg, 0, (size_t)c * sizeof *dg);
    memset(db, 0, (size_t)c * sizeof *db);
    if (fused) {
        for (int64_t i = 0; i < n; i++) dx[i] = NAN;
        CHECK_OK(s24_cpu_bn_fwd_train_act(rows, c, x, g, b, 1e-5f, act, y, mean, var, is, &ws));
        CHECK_OK(s24_cpu_bn_bwd_act(rows, c, x, mean, is, g, b, act, dy, dx, 0, dg, db, &ws));
        s24_cpu_bn_fwd_eval_act(rows, c, x, g, b, mean, var, 1e-5f, act, ye);
    } else {
        CHECK_OK(s24_cpu_bn_fwd_train(rows, c, x, g, b, 1e-5f, z, mean, var, is, &ws));
        s24_cpu_act_fwd(act, n, z, y);
        s24_cpu_act_bwd(act, n, z, y, dy, gz);
        CHECK_OK(s24_cpu_bn_bwd(rows, c, x, mean, is, g, gz, dx, dg, db, &ws));
        s24_cpu_bn_fwd_eval(rows, c, x, g, b, mean, var, 1e-5f, z);
        s24_cpu_act_fwd(act, n, z, ye);
    }
    free(mean), free(var), free(is), free(z), free(gz);
}

static void check_bn_fused(void)
{
    const int64_t rows = 2048, c = 37, n = rows * c;
    float *x = rnd(n, -1.0f, 2.0f), *g = rnd(c, 0.5f, 1.5f), *b = rnd(c, -0.5f, 0.5f);
    float *dy = rnd(n, -1, 1);
    float *o[2][5]; /* [variant][y, dx, dg, db, ye] */
    const enum s24_act acts[2] = {S24_ACT_RELU, S24_ACT_SILU};
    const enum s24_cpu_nn_isa isa0 = s24_cpu_nn_isa();
    for (int k = 0; k < 2; k++) {
        for (int isa = 0; isa < 2; isa++) {
            s24_cpu_nn_isa_set(isa ? S24_CPU_NN_AVX512 : S24_CPU_NN_PORTABLE);
            for (int v = 0; v < 2; v++) {
                for (int i = 0; i < 5; i++) o[v][i] = rnd(i == 2 || i == 3 ? c : n, 1e30f, 1e30f);
                bn_fused_run(rows, c, acts[k], v, x, g, b, dy, o[v][0], o[v][1], o[v][2],
                             o[v][3], o[v][4]);
            }
            static float *ref[5];
            for (int i = 0; i < 5; i++) {
                size_t bytes = (size_t)(i == 2 || i == 3 ? c : n) * sizeof(float);
                CHECK(!memcmp(o[0][i], o[1][i], bytes), "bn %s fused == separate (output %d, %s)",
                      k ? "silu" : "relu", i, isa ? "avx512" : "portable");
                if (!isa) {
                    ref[i] = o[0][i];
                } else {
                    CHECK(!memcmp(ref[i], o[0][i], bytes), "bn %s avx512 == portable (output %d)",
                          k ? "silu" : "relu", i);
                    free(ref[i]), free(o[0][i]);
                }
                free(o[1][i]);
            }
        }
    }
    s24_cpu_nn_isa_set(isa0);
    printf("bn kernels: %s\n", isa0 == S24_CPU_NN_AVX512 ? "avx512" : "portable");
    free(x), free(g), free(b), free(dy);
}

/* ---------------------------------------------------------------- activations */
struct act_ctx {
    enum s24_act a;
    int64_t n;
    float *x, *y, *r;
};

static double act_loss(void *p)
{
    struct act_ctx *c = p;
    s24_cpu_act_fwd(c->a, c->n, c->x, c->y);
    return dot(c->y, c->r, c->n);
}

static void check_act(enum s24_act a, const char *name)
{
    struct act_ctx c = {a, 200, rnd_nz(200), zeros(200), rnd(200, -1, 1)};
    float *dx = zeros(c.n);
    act_loss(&c);
    s24_cpu_act_bwd(a, c.n, c.x, c.y, c.r, dx);
    double e = fd_check(act_loss, &c, c.x, c.n, dx, 1e-3f);
    CHECK(e < 2e-3, "%s dx vs fd: %g", name, e);
    act_loss(&c);
    for (int64_t i = 0; i < c.n; i++) {
        double x = c.x[i], s = 1.0 / (1.0 + exp(-x));
        double want = a == S24_ACT_RELU ? (x > 0 ? x : 0) : a == S24_ACT_SILU ? x * s : s;
        CHECK(fabs(c.y[i] - want) < 1e-6, "%s(%g) = %g, want %g", name, x, c.y[i], want);
    }
    free(c.x), free(c.y), free(c.r), free(dx);
}

/* ---------------------------------------------------------------- small ops */
struct small_ctx {
    int op; /* 0 gap, 1 scale, 2 linear, 3 rowmask, 4 add */
    int64_t n, hw, c, o;
    float *x, *s, *w, *b, *y, *r;
};

static double small_loss(void *p)
{
    struct small_ctx *c = p;
    int64_t ny = 0;
    switch (c->op) {
    case 0: s24_cpu_gap_fwd(c->n, c->hw, c->c, c->x, c->y), ny = c->n * c->c; break;
    case 1: s24_cpu_scale_fwd(c->n, c->hw, c->c, c->x, c->s, c->y), ny = c->n * c->hw * c->c; break;
    case 2: s24_cpu_linear_fwd(c->n, c->c, c->o, c->x, c->w, c->b, c->y), ny = c->n * c->o; break;
    case 3:
        s24_cpu_rowmask_fwd(c->n, c->hw * c->c, c->x, c->s, c->y), ny = c->n * c->hw * c->c;
        break;
    case 4: s24_cpu_add_fwd(c->n * c->hw * c->c, c->x, c->s, c->y), ny = c->n * c->hw * c->c; break;
    }
    return dot(c->y, c->r, ny);
}

static void check_small(void)
{
    struct small_ctx c = {0, 3, 5, 7, 4, 0, 0, 0, 0, 0, 0};
    int64_t nx = c.n * c.hw * c.c;
    c.x = rnd_nz(nx), c.s = rnd(nx, -1.5f, 1.5f), c.w = rnd(c.o * c.c, -1, 1);
    c.b = rnd(c.o, -1, 1), c.y = zeros(nx), c.r = rnd(nx, -1, 1);
    float *dx = zeros(nx), *ds = zeros(nx), *dw = zeros(c.o * c.c), *db = zeros(c.o);
    double e;
    /* gap */
    c.op = 0;
    s24_cpu_gap_bwd(c.n, c.hw, c.c, c.r, dx);
    e = fd_check(small_loss, &c, c.x, nx, dx, 1e-2f);
    CHECK(e < 1e-3, "gap dx vs fd: %g", e);
    /* scale (SE product): x (n, hw, c), s (n, c) */
    c.op = 1;
    memset(dx, 0, (size_t)nx * sizeof *dx);
    s24_cpu_scale_bwd(c.n, c.hw, c.c, c.x, c.s, c.r, dx, ds);
    e = fd_check(small_loss, &c, c.x, nx, dx, 1e-2f);
    CHECK(e < 1e-3, "scale dx vs fd: %g", e);
    e = fd_check(small_loss, &c, c.s, c.n * c.c, ds, 1e-2f);
    CHECK(e < 1e-3, "scale ds vs fd: %g", e);
    /* linear: x (n, c) -> (n, o) */
    c.op = 2;
    memset(dx, 0, (size_t)nx * sizeof *dx);
    CHECK_OK(s24_cpu_linear_bwd(c.n, c.c, c.o, c.x, c.w, c.r, dx, dw, db));
    e = fd_check(small_loss, &c, c.x, c.n * c.c, dx, 1e-2f);
    CHECK(e < 1e-3, "linear dx vs fd: %g", e);
    e = fd_check(small_loss, &c, c.w, c.o * c.c, dw, 1e-2f);
    CHECK(e < 1e-3, "linear dw vs fd: %g", e);
    e = fd_check(small_loss, &c, c.b, c.o, db, 1e-2f);
    CHECK(e < 1e-3, "linear db vs fd: %g", e);
    /* row mask (dropout / stochastic depth): mask per row of hw*c */
    c.op = 3;
    for (int64_t i = 0; i < c.n; i++) c.s[i] = i == 1 ? 0.0f : 1.25f;
    memset(dx, 0, (size_t)nx * sizeof *dx);
    s24_cpu_rowmask_bwd(c.n, c.hw * c.c, c.s, c.r, dx);
    e = fd_check(small_loss, &c, c.x, nx, dx, 1e-2f);
    CHECK(e < 1e-3, "rowmask dx vs fd: %g", e);
    /* residual add: both inputs get dy */
    c.op = 4;
    memset(dx, 0, (size_t)nx * sizeof *dx);
    memset(ds, 0, (size_t)nx * sizeof *ds);
    s24_cpu_acc(nx, c.r, dx);
    s24_cpu_acc(nx, c.r, ds);
    e = fd_check(small_loss, &c, c.x, nx, dx, 1e-2f);
    CHECK(e < 1e-3, "add da vs fd: %g", e);
    e = fd_check(small_loss, &c, c.s, nx, ds, 1e-2f);
    CHECK(e < 1e-3, "add db vs fd: %g", e);
    free(c.x), free(c.s), free(c.w), free(c.b), free(c.y), free(c.r);
    free(dx), free(ds), free(dw), free(db);
}

/* ---------------------------------------------------------------- max pool */
struct pool_ctx {
    struct s24_pool_shape s;
    float *x, *y, *r;
};

static double pool_loss(void *p)
{
    struct pool_ctx *c = p;
    s24_cpu_maxpool_fwd(&c->s, c->x, c->y);
    return dot(c->y, c->r, c->s.n * c->s.oh * c->s.ow * c->s.c);
}

/* x: distinct values 0.05 apart in random order and sign, so a finite
 * difference of 1e-2 never changes which element wins a window */
static float *rnd_distinct(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = 0.05f * (float)(i + 1) - 0.025f * (float)n;
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)s24_rng_below(&rng, (uint64_t)(i + 1));
        float t = p[i];
        p[i] = p[j], p[j] = t;
    }
    return p;
}

/* The fast kernels against the reference (forward bit for bit, backward to
 * fp32 rounding, accumulating into a non-zero dx), against finite
 * differences, and through the CPU backend's table; then ties (small
 * integers: many equal maxima, whose winner the rule fixes, and integer
 * sums, so the backward must match bit for bit too). */
static void check_maxpool(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t st,
                          int64_t pad)
{
    struct pool_ctx cx = {{n, h, w, c, k, st, pad, 0, 0}, 0, 0, 0};
    CHECK_OK(s24_pool_shape_init(&cx.s));
    int64_t nx = n * h * w * c, ny = n * cx.s.oh * cx.s.ow * c;
    cx.x = rnd_distinct(nx), cx.y = rnd(ny, 1e30f, 1e30f), cx.r = rnd(ny, -1.0f, 1.0f);
    float *yr = rnd(ny, 1e30f, 1e30f), *d0 = rnd(nx, -1.0f, 1.0f);
    float *dx = malloc((size_t)nx * sizeof *dx), *dxr = malloc((size_t)nx * sizeof *dxr);
    memcpy(dx, d0, (size_t)nx * sizeof *dx), memcpy(dxr, d0, (size_t)nx * sizeof *dxr);
    s24_maxpool_ref_fwd(&cx.s, cx.x, yr);
    s24_cpu_maxpool_fwd(&cx.s, cx.x, cx.y);
    CHECK(!memcmp(yr, cx.y, (size_t)ny * sizeof *yr),
          "maxpool fwd (n%lld %lldx%lld c%lld k%lld s%lld p%lld)", (long long)n, (long long)h,
          (long long)w, (long long)c, (long long)k, (long long)st, (long long)pad);
    s24_maxpool_ref_bwd(&cx.s, cx.x, cx.r, dxr);
    s24_cpu_maxpool_bwd(&cx.s, cx.x, cx.r, dx);
    CHECK(rel_err(dx, dxr, nx) < 1e-6, "maxpool bwd vs ref (k%lld s%lld p%lld): %g", (long long)k,
          (long long)st, (long long)pad, rel_err(dx, dxr, nx));
    /* the gradient alone, against finite differences */
    memset(dx, 0, (size_t)nx * sizeof *dx);
    s24_cpu_maxpool_bwd(&cx.s, cx.x, cx.r, dx);
    double e = fd_check(pool_loss, &cx, cx.x, nx, dx, 1e-2f);
    CHECK(e < 1e-4, "maxpool dx vs fd (k%lld s%lld p%lld): %g", (long long)k, (long long)st,
          (long long)pad, e);
    /* through the backend's table */
    s24_backend_t *be = NULL;
    CHECK_OK(s24_backend_create(S24_DEVICE_CPU, 0, &be));
    if (be) {
        float *yb = rnd(ny, 1e30f, 1e30f), *db = malloc((size_t)nx * sizeof *db);
        memcpy(db, d0, (size_t)nx * sizeof *db);
        memcpy(dxr, d0, (size_t)nx * sizeof *dxr);
        s24_cpu_maxpool_bwd(&cx.s, cx.x, cx.r, dxr);
        CHECK_OK(be->ops->maxpool_fwd(be, &cx.s, cx.x, yb));
        CHECK_OK(be->ops->maxpool_bwd(be, &cx.s, cx.x, cx.r, db));
        CHECK(!memcmp(yb, yr, (size_t)ny * sizeof *yb), "%s maxpool fwd", be->name);
        CHECK(!memcmp(db, dxr, (size_t)nx * sizeof *db), "%s maxpool bwd", be->name);
        free(yb), free(db);
        s24_backend_free(be);
    }
    /* ties */
    for (int64_t i = 0; i < nx; i++) cx.x[i] = (float)s24_rng_below(&rng, 3), d0[i] = 0.0f;
    for (int64_t i = 0; i < ny; i++) cx.r[i] = (float)s24_rng_below(&rng, 7) - 3.0f;
    memset(dx, 0, (size_t)nx * sizeof *dx), memset(dxr, 0, (size_t)nx * sizeof *dxr);
    s24_maxpool_ref_fwd(&cx.s, cx.x, yr);
    s24_cpu_maxpool_fwd(&cx.s, cx.x, cx.y);
    s24_maxpool_ref_bwd(&cx.s, cx.x, cx.r, dxr);
    s24_cpu_maxpool_bwd(&cx.s, cx.x, cx.r, dx);
    CHECK(!memcmp(yr, cx.y, (size_t)ny * sizeof *yr), "maxpool fwd with ties");
    CHECK(!memcmp(dxr, dx, (size_t)nx * sizeof *dx),
          "maxpool bwd with ties: the first maximum wins");
    free(cx.x), free(cx.y), free(cx.r), free(yr), free(d0), free(dx), free(dxr);
}

/* PyTorch's rules: a NaN wins its windows; windows of padding alone, or
 * larger than the input, are refused. */
static void check_maxpool_edges(void)
{
    struct s24_pool_shape s = {1, 4, 4, 2, 3, 2, 1, 0, 0};
    CHECK_OK(s24_pool_shape_init(&s));
    CHECK(s.oh == 2 && s.ow == 2, "maxpool 4x4 k3 s2 p1 -> %lldx%lld", (long long)s.oh,
          (long long)s.ow);
    float x[32], y[8], dy[8], dx[32];
    for (int i = 0; i < 32; i++) x[i] = (float)i, dx[i] = 0.0f;
    for (int i = 0; i < 8; i++) dy[i] = 1.0f;
    x[(1 * 4 + 0) * 2 + 1] = NAN; /* (1, 0), channel 1: in windows (0, 0) and (1, 0) */
    s24_cpu_maxpool_fwd(&s, x, y);
    s24_cpu_maxpool_bwd(&s, x, dy, dx);
    CHECK(isnan(y[1]) && isnan(y[5]) && !isnan(y[3]) && !isnan(y[7]) && !isnan(y[0]),
          "maxpool: a NaN wins (and only) its windows");
    CHECK(dx[(1 * 4 + 0) * 2 + 1] == 2.0f, "maxpool: the NaN takes both windows' gradient (%g)",
          (double)dx[(1 * 4 + 0) * 2 + 1]);
    struct s24_pool_shape bad = {1, 4, 4, 2, 3, 2, 2, 0, 0};
    CHECK(s24_pool_shape_init(&bad) == S24_ERR_INVALID, "maxpool: pad 2 of a 3-window refused");
    struct s24_pool_shape big = {1, 2, 2, 2, 5, 1, 1, 0, 0};
    CHECK(s24_pool_shape_init(&big) == S24_ERR_INVALID, "maxpool: window over the input refused");
    struct s24_pool_shape zero = {1, 4, 4, 2, 3, 0, 1, 0, 0};
    CHECK(s24_pool_shape_init(&zero) == S24_ERR_INVALID, "maxpool: stride 0 refused");
}

/* ---------------------------------------------------------------- loss */
struct xent_ctx {
    float *z;
    int *lab;
    int n, k;
};

static double xent_loss(void *p)
{
    struct xent_ctx *c = p;
    return s24_softmax_xent(c->z, c->lab, c->n, c->k, NULL, NULL);
}

static void check_xent(void)
{
    int lab[6] = {0, 3, 9, 2, 2, 5};
    struct xent_ctx c = {rnd(60, -3, 3), lab, 6, 10};
    float *d = rnd(60, 1e30f, 1e30f);
    int correct = -1;
    float l = s24_softmax_xent(c.z, lab, 6, 10, d, &correct);
    double want = 0;
    int hits = 0;
    for (int i = 0; i < 6; i++) {
        double se = 0;
        int arg = 0;
        for (int j = 0; j < 10; j++) {
            se += exp((double)c.z[i * 10 + j]);
            if (c.z[i * 10 + j] > c.z[i * 10 + arg]) arg = j;
        }
        want += log(se) - c.z[i * 10 + lab[i]];
        hits += arg == lab[i];
    }
    CHECK_NEAR(l, want / 6, 1e-5);
    CHECK(correct == hits, "correct %d, want %d", correct, hits);
    double e = fd_check(xent_loss, &c, c.z, 60, d, 1e-2f);
    CHECK(e < 2e-3, "xent dlogits vs fd: %g", e);
    /* rows of the gradient sum to 0 */
    for (int i = 0; i < 6; i++) {
        double s = 0;
        for (int j = 0; j < 10; j++) s += d[i * 10 + j];
        CHECK_NEAR(s, 0.0, 1e-6);
    }
    /* large logits do not overflow */
    for (int j = 0; j < 10; j++) c.z[j] = 1000.0f + (float)j;
    l = s24_softmax_xent(c.z, lab, 1, 10, d, NULL);
    CHECK(isfinite(l) && fabs(l - 9.4586993) < 1e-3, "shifted log-sum-exp: %g", (double)l);
    free(c.z), free(d);
}

/* ---------------------------------------------------------------- whole model */
struct model_ctx {
    s24_model_t *m;
    float *x, *logits;
    int *lab, n, hw;
};

static double model_loss(void *p)
{
    struct model_ctx *c = p;
    /* training mode (batch statistics) is what backward differentiates;
     * running stats change but never feed a training forward */
    if (s24_model_forward(c->m, c->x, c->n, c->hw, c->hw, c->logits, 1)) return NAN;
    return s24_softmax_xent(c->logits, c->lab, c->n, s24_model_num_classes(c->m), NULL, NULL);
}

/* Directional check per tensor: along v = g/|g| + r/|r| (r random), the
 * central difference of the loss must equal g.v. One direction through all
 * elements has a signal far above fp32 rounding noise, which single elements
 * of a deep network's gradient do not. */
static void check_model(const char *arch, int n, int hw, double budget)
{
    s24_model_t *m = NULL;
    CHECK_OK(s24_model_create(arch, 10, 7, NULL, &m));
    if (!m) return;
    CHECK_OK(s24_model_set_drop(m, 0, 0));
    /* non-degenerate BN weights (resnet's zero_init_residual gives zero bn2) */
    for (int i = 0; i < s24_model_num_params(m); i++) {
        struct s24_param *p = s24_model_param(m, i);
        if (p->kind == S24_P_BN_WEIGHT || p->kind == S24_P_BN_BIAS || p->kind == S24_P_BIAS)
            for (int64_t j = 0; j < p->numel; j++)
                p->data[j] = (p->kind == S24_P_BN_WEIGHT ? 1.0f : 0.0f) +
                             s24_rng_uniformf(&rng, -0.3f, 0.3f);
    }
    int lab[8] = {1, 4, 7, 2, 9, 0, 3, 5};
    struct model_ctx c = {m, rnd((int64_t)n * hw * hw * 3, -1, 1), zeros(n * 10), lab, n, hw};
    float *d = zeros(n * 10);
    CHECK_OK(s24_model_forward(m, c.x, n, hw, hw, c.logits, 1));
    s24_softmax_xent(c.logits, lab, n, 10, d, NULL);
    s24_model_zero_grad(m);
    CHECK_OK(s24_model_backward(m, d));
    int checked = 0, np = s24_model_num_params(m);
    for (int i = 0; i < np; i++) {
        struct s24_param *p = s24_model_param(m, i);
        if (p->is_buffer) continue;
        /* every trainable tensor of smallcnn; a spread of them for the big ones */
        if (np > 40 && i % 17 && i != np - 2) continue;
        int64_t ne = p->numel;
        float *v = rnd(ne, -1, 1), *save = malloc((size_t)ne * sizeof *save);
        double gn = 0, rn = 0, gv = 0;
        for (int64_t j = 0; j < ne; j++)
            gn += (double)p->grad[j] * p->grad[j], rn += (double)v[j] * v[j];
        gn = sqrt(gn) + 1e-30, rn = sqrt(rn);
        for (int64_t j = 0; j < ne; j++) {
            v[j] = (float)(p->grad[j] / gn + v[j] / rn);
            gv += (double)p->grad[j] * v[j];
        }
        memcpy(save, p->data, (size_t)ne * sizeof *save);
        /* step so the loss moves by about 1e-2 (curvature stays small) */
        double h = fabs(gv) > 10 ? 1e-2 / fabs(gv) : 1e-3;
        for (int64_t j = 0; j < ne; j++) p->data[j] = (float)(save[j] + h * v[j]);
        double lp = model_loss(&c);
        for (int64_t j = 0; j < ne; j++) p->data[j] = (float)(save[j] - h * v[j]);
        double lm = model_loss(&c);
        memcpy(p->data, save, (size_t)ne * sizeof *save);
        /* floor: fp32 rounding of the loss (measured up to ~25 ulps between the two
         * evaluations; 64 allowed) over the step; a bias that a batch norm
         * cancels has a true gradient of 0 and shows only this noise */
        double l0 = model_loss(&c), floor = 64 * 1.2e-7 * fabs(l0) / h;
        double fd = (lp - lm) / (2 * h), e = fabs(fd - gv) / (fabs(gv) + 1e-30);
        CHECK(fabs(fd - gv) <= budget * fabs(gv) + floor,
              "%s: d loss / d %s along v: fd %g, analytic %g (rel %g, floor %g)", arch, p->name,
              fd, gv, e, floor);
        checked++;
        free(v), free(save);
    }
    CHECK(checked >= 3, "%s: %d parameters checked", arch, checked);
    free(c.x), free(c.logits), free(d);
    s24_model_free(m);
}

int main(void)
{
    s24_rng_seed(&rng, 2024);
    s24_threads_set(2);
    /* dense (im2col + sgemm), pointwise, strided, padded, with bias */
    double t0 = s24_now();
    check_conv(2, 6, 4, 8, 3, 1, 1, 1, 0);
    check_conv(2, 7, 5, 6, 3, 2, 1, 1, 1);
    check_conv(2, 5, 8, 4, 1, 1, 0, 1, 1);
    check_conv(1, 6, 3, 5, 1, 2, 0, 1, 0);
    /* depthwise (direct loop) 3x3 and 5x5, stride 1 and 2 */
    check_conv(2, 6, 6, 6, 3, 1, 1, 6, 0);
    check_conv(2, 7, 4, 4, 5, 2, 2, 4, 1);
    /* general groups (reference path) */
    check_conv(1, 5, 4, 6, 3, 1, 1, 2, 1);
    /* big enough for the threaded paths */
    check_conv_fast(4, 16, 16, 32, 3, 1, 1, 1);
    check_conv_fast(3, 17, 24, 16, 3, 2, 1, 1);
    check_conv_fast(4, 16, 32, 32, 5, 1, 2, 32);
    check_conv_fast(4, 16, 48, 48, 3, 2, 1, 48);
    check_conv_fast(8, 8, 64, 64, 1, 1, 0, 1);
    printf("conv checks %.1f s\n", s24_now() - t0);
    check_bn();
    check_bn_large();
    check_bn_fused();
    check_act(S24_ACT_RELU, "relu");
    check_act(S24_ACT_SILU, "silu");
    check_act(S24_ACT_SIGMOID, "sigmoid");
    check_small();
    /* ImageNet ResNet's (k3 s2 p1) on odd and even sizes, a window with
     * rows no window reaches (k3 s3 p0 on 8), overlapping stride-1 windows,
     * k2 s2, channels across the backward's 64-channel passes */
    check_maxpool(2, 9, 7, 5, 3, 2, 1);
    check_maxpool(2, 8, 8, 3, 3, 2, 1);
    check_maxpool(1, 8, 8, 4, 3, 3, 0);
    check_maxpool(2, 6, 5, 3, 3, 1, 1);
    check_maxpool(1, 6, 6, 70, 2, 2, 0);
    check_maxpool(1, 5, 5, 2, 5, 2, 2);
    check_maxpool_edges();
    check_xent();
    t0 = s24_now();
    check_model("smallcnn", 4, 8, 1e-2);
    double t1 = s24_now();
    /* 64x64 so the last stages' batch norms see 2x2 maps: at 1x1 with two
     * images the loss is too curved for finite differences */
    check_model("efficientnet_b0", 2, 64, 1e-2);
    check_model("resnet18", 2, 16, 1e-2);
    double t2 = s24_now();
    /* 64x64: the stem and max-pool leave 16x16, as resnet18's 16x16 input */
    check_model("resnet18_imagenet", 2, 64, 1e-2);
    printf("model checks: smallcnn %.1f s, efficientnet_b0 + resnet18 %.1f s, "
           "resnet18_imagenet %.1f s\n",
           t1 - t0, t2 - t1, s24_now() - t2);
    s24_nn_ws_free(&ws);
    return t_done("test_nn_grad");
}
