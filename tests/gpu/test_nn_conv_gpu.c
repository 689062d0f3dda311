/* test_nn_conv_gpu.c: the CUDA backend's convolutions and linear layers
 * against the CPU backend (needs a GPU; `make test-gpu`). Four CUDA
 * backends: strict fp32 (S24_TF32=0, relative L2 error 1e-5), TF32 (5e-3),
 * strict + deterministic (1e-5, and a repeated call must give the same
 * bits), and the bf16 mixed mode (1.5e-2: its activations, dy and the
 * starting dx rounded to bf16 on upload, the weight cast to bf16, each
 * output rounded once more; several 2^-9 roundings against the CPU's fp32
 * on the unrounded inputs; its filter gradients in bf16 or, where cuDNN
 * times that faster, on fp32 copies). Shapes: dense 3x3 s1/s2, ResNet's 1x1 s1/s2, the 3->64 stem
 * without dx, EfficientNet-B0's depthwise 3x3 / 5x5 s1 / s2 from 32 to 1152
 * channels (and channel counts off the vector width), a grouped conv that
 * is not depthwise, biases; each conv called at three batch sizes with one
 * node state (the second size new, the third back to the first). Inputs
 * random, outputs poisoned with NaN, gradients starting non-zero and about
 * as large as the increment, so an overwrite instead of an accumulate fails.
 * Without a GPU it reports the skip and passes; without cuDNN only the
 * depthwise convs run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops.h"
#include "sparse24/sparse24_nn.h"
#include "t.h"

#define NGPU 4

struct gpu {
    s24_backend_t *be;
    const char *tag;
    double tol;
    int det;
};

static s24_backend_t *CPU;
static struct gpu G[NGPU];
static struct s24_rng rng;

static float *rnd(int64_t n, float scale)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = s24_rng_uniformf(&rng, -scale, scale);
    return p;
}

static float *nans(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

/* ||a - b|| / ||b|| (NaN in a stays NaN, so it fails every bound) */
static double rel_l2(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

/* ---------------------------------------------------------------- buffers */
struct dbuf {
    void *p;
    size_t bytes;
};

/* A backend buffer of `count` floats, filled from host (if given). */
static int dput(s24_backend_t *be, struct dbuf *d, const float *host, int64_t count)
{
    d->bytes = (size_t)count * sizeof(float);
    int rc = s24_be_alloc(be, d->bytes, &d->p);
    if (rc == S24_OK && host) rc = be->ops->upload(be, d->p, host, d->bytes);
    return rc;
}

static int dget(s24_backend_t *be, float *host, const struct dbuf *d)
{
    return be->ops->download(be, host, d->p, d->bytes);
}

/* The same for an activation tensor: stored as the backend's act type. */
static int aput(s24_backend_t *be, struct dbuf *d, const float *host, int64_t count)
{
    d->bytes = (size_t)count * s24_be_act_size(be);
    int rc = s24_be_alloc(be, d->bytes, &d->p);
    if (rc == S24_OK && host) rc = s24_be_put_act(be, d->p, host, count);
    return rc;
}

static int aget(s24_backend_t *be, float *host, const struct dbuf *d)
{
    return s24_be_get_act(be, host, d->p, (int64_t)(d->bytes / s24_be_act_size(be)));
}

/* ---------------------------------------------------------------- convs */
struct conv_case {
    const char *name;
    int64_t h, w, c, oc, k, stride, pad, groups;
    int bias, want_dx;
    int64_t n[3]; /* the batch sizes of the calls sharing one state */
};

/* A conv's inputs and starting gradients (host), and what came out. */
struct conv_data {
    float *x, *w, *b, *dy, *dx0, *dw0, *db0; /* b, db0: NULL without bias */
    float *y, *dx, *dw, *db;                 /* outputs of one backend */
};

static void conv_sizes(const struct s24_conv_shape *s, int64_t *nx, int64_t *nw, int64_t *ny)
{
    *nx = s->n * s->h * s->w * s->c;
    *nw = s->oc * s->kh * s->kw * (s->c / s->groups);
    *ny = s->n * s->oh * s->ow * s->oc;
}

/* Forward then backward on `be` with its node state; outputs into d->y ...
 * acc == 0: dx is overwritten, so it starts as NaNs that must not show. */
static int conv_on(s24_backend_t *be, void **state, const struct s24_conv_shape *s, int want_dx,
                   int acc, struct conv_data *d)
{
    int64_t nx, nw, ny;
    conv_sizes(s, &nx, &nw, &ny);
    struct dbuf X = {0}, W = {0}, B = {0}, DY = {0}, Y = {0}, DX = {0}, DW = {0}, DB = {0};
    float *poison = nans(ny > nx ? ny : nx);
    int rc = aput(be, &X, d->x, nx);
    if (rc == S24_OK) rc = dput(be, &W, d->w, nw);
    if (rc == S24_OK && d->b) rc = dput(be, &B, d->b, s->oc);
    if (rc == S24_OK) rc = aput(be, &DY, d->dy, ny);
    if (rc == S24_OK) rc = aput(be, &Y, poison, ny);
    if (rc == S24_OK && want_dx) rc = aput(be, &DX, acc ? d->dx0 : poison, nx);
    if (rc == S24_OK) rc = dput(be, &DW, d->dw0, nw);
    if (rc == S24_OK && d->b) rc = dput(be, &DB, d->db0, s->oc);
    if (rc == S24_OK)
        rc = be->ops->conv2d_fwd(be, state, s, X.p, W.p, d->b ? B.p : NULL, Y.p);
    if (rc == S24_OK)
        rc = be->ops->conv2d_bwd(be, state, s, X.p, W.p, DY.p, want_dx ? DX.p : NULL, acc, DW.p,
                                 d->b ? DB.p : NULL);
    if (rc == S24_OK) rc = aget(be, d->y, &Y);
    if (rc == S24_OK && want_dx) rc = aget(be, d->dx, &DX);
    if (rc == S24_OK) rc = dget(be, d->dw, &DW);
    if (rc == S24_OK && d->b) rc = dget(be, d->db, &DB);
    struct dbuf *all[] = {&X, &W, &B, &DY, &Y, &DX, &DW, &DB};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        s24_be_free(be, all[i]->p, all[i]->bytes);
    free(poison);
    return rc;
}

#ifndef S24_HAVE_CUDNN
/* the convs the backend runs without cuDNN */
static int is_depthwise(const struct conv_case *cc)
{
    return cc->groups == cc->c && cc->oc == cc->c && (cc->k == 3 || cc->k == 5);
}
#endif

static void run_conv(const struct conv_case *cc)
{
    void *cstate = NULL, *gstate[NGPU] = {NULL};
    double worst[NGPU] = {0};
    int ok[NGPU] = {1, 1, 1, 1};
#ifndef S24_HAVE_CUDNN
    if (!is_depthwise(cc)) {
        printf("  %-34s skipped (built without cuDNN)\n", cc->name);
        return;
    }
#endif
    for (int call = 0; call < 3; call++) {
        /* the middle call overwrites dx (acc 0), the others add: a node's
         * plan switches both ways */
        int acc = call != 1;
        struct s24_conv_shape s = {cc->n[call], cc->h, cc->w, cc->c, cc->oc, cc->k, cc->k,
                                   cc->stride, cc->pad, cc->groups, 0, 0};
        CHECK_OK(s24_conv_shape_init(&s));
        int64_t nx, nw, ny, np = s.n * s.oh * s.ow;
        conv_sizes(&s, &nx, &nw, &ny);
        struct conv_data d = {0}, ref;
        d.x = rnd(nx, 1.0f);
        d.w = rnd(nw, 1.0f / sqrtf((float)(cc->k * cc->k * cc->c / cc->groups)));
        d.dy = rnd(ny, 1.0f);
        d.dx0 = rnd(nx, 1.0f);
        d.dw0 = rnd(nw, sqrtf((float)np) / 3);
        if (cc->bias) {
            d.b = rnd(s.oc, 0.5f);
            d.db0 = rnd(s.oc, sqrtf((float)np) / 2);
        }
        ref = d;
        ref.y = malloc((size_t)ny * sizeof(float));
        ref.dx = malloc((size_t)nx * sizeof(float));
        ref.dw = malloc((size_t)nw * sizeof(float));
        ref.db = malloc((size_t)s.oc * sizeof(float));
        CHECK_OK(conv_on(CPU, &cstate, &s, cc->want_dx, acc, &ref));
        for (int g = 0; g < NGPU; g++) {
            struct conv_data o = d, o2 = d;
            o.y = nans(ny), o.dx = nans(nx), o.dw = nans(nw), o.db = nans(s.oc);
            int rc = conv_on(G[g].be, &gstate[g], &s, cc->want_dx, acc, &o);
            CHECK(rc == S24_OK, "%s %s n %lld: %s", cc->name, G[g].tag, (long long)s.n,
                  s24_last_error());
            double e[4] = {rel_l2(o.y, ref.y, ny), cc->want_dx ? rel_l2(o.dx, ref.dx, nx) : 0,
                           rel_l2(o.dw, ref.dw, nw), cc->bias ? rel_l2(o.db, ref.db, s.oc) : 0};
            static const char *const what[4] = {"y", "dx", "dw", "db"};
            for (int j = 0; j < 4; j++) {
                if (!(e[j] <= G[g].tol)) ok[g] = 0;
                CHECK(e[j] <= G[g].tol, "%s %s n %lld: %s rel err %.3g > %.0e", cc->name,
                      G[g].tag, (long long)s.n, what[j], e[j], G[g].tol);
                if (e[j] > worst[g] || e[j] != e[j]) worst[g] = e[j];
            }
            if (G[g].det && rc == S24_OK) {
                /* the same call again from the same starting gradients */
                o2.y = nans(ny), o2.dx = nans(nx), o2.dw = nans(nw), o2.db = nans(s.oc);
                CHECK_OK(conv_on(G[g].be, &gstate[g], &s, cc->want_dx, acc, &o2));
                int same = !memcmp(o.y, o2.y, (size_t)ny * sizeof(float)) &&
                           (!cc->want_dx || !memcmp(o.dx, o2.dx, (size_t)nx * sizeof(float))) &&
                           !memcmp(o.dw, o2.dw, (size_t)nw * sizeof(float)) &&
                           (!cc->bias || !memcmp(o.db, o2.db, (size_t)s.oc * sizeof(float)));
                CHECK(same, "%s %s n %lld: a repeated call differs", cc->name, G[g].tag,
                      (long long)s.n);
                free(o2.y), free(o2.dx), free(o2.dw), free(o2.db);
            }
            free(o.y), free(o.dx), free(o.dw), free(o.db);
        }
        free(ref.y), free(ref.dx), free(ref.dw), free(ref.db);
        free(d.x), free(d.w), free(d.b), free(d.dy), free(d.dx0), free(d.dw0), free(d.db0);
    }
    printf("  %-34s n %lld,%lld,%lld:", cc->name, (long long)cc->n[0], (long long)cc->n[1],
           (long long)cc->n[2]);
    for (int g = 0; g < NGPU; g++) printf(" %s %.2e%s", G[g].tag, worst[g], ok[g] ? "" : " FAIL");
    printf("\n");
    CPU->ops->state_free(CPU, cstate);
    for (int g = 0; g < NGPU; g++) G[g].be->ops->state_free(G[g].be, gstate[g]);
}

/* ---------------------------------------------------------------- linear */
static void run_linear(int64_t in, int64_t out, int bias, int want_dx, const int64_t *ns, int nn)
{
    for (int call = 0; call < nn; call++) {
        int64_t n = ns[call];
        float *x = rnd(n * in, 1.0f), *w = rnd(out * in, 1.0f / sqrtf((float)in));
        float *b = bias ? rnd(out, 0.5f) : NULL, *dy = rnd(n * out, 1.0f);
        float *dx0 = rnd(n * in, 1.0f), *dw0 = rnd(out * in, sqrtf((float)n) / 3);
        float *db0 = rnd(out, sqrtf((float)n) / 2);
        float *res[1 + NGPU][4];
        s24_backend_t *bes[1 + NGPU] = {CPU, G[0].be, G[1].be, G[2].be, G[3].be};
        for (int k = 0; k <= NGPU; k++) {
            s24_backend_t *be = bes[k];
            struct dbuf X = {0}, W = {0}, B = {0}, DY = {0}, Y = {0}, DX = {0}, DW = {0}, DB = {0};
            float *poison = nans(n * out);
            res[k][0] = nans(n * out), res[k][1] = nans(n * in), res[k][2] = nans(out * in);
            res[k][3] = nans(out);
            int rc = aput(be, &X, x, n * in);
            if (rc == S24_OK) rc = dput(be, &W, w, out * in);
            if (rc == S24_OK && b) rc = dput(be, &B, b, out);
            if (rc == S24_OK) rc = aput(be, &DY, dy, n * out);
            if (rc == S24_OK) rc = aput(be, &Y, poison, n * out);
            if (rc == S24_OK && want_dx) rc = aput(be, &DX, dx0, n * in);
            if (rc == S24_OK) rc = dput(be, &DW, dw0, out * in);
            if (rc == S24_OK && b) rc = dput(be, &DB, db0, out);
            if (rc == S24_OK) rc = be->ops->linear_fwd(be, n, in, out, X.p, W.p, B.p, Y.p);
            if (rc == S24_OK)
                rc = be->ops->linear_bwd(be, n, in, out, X.p, W.p, DY.p, want_dx ? DX.p : NULL,
                                         DW.p, b ? DB.p : NULL);
            if (rc == S24_OK) rc = aget(be, res[k][0], &Y);
            if (rc == S24_OK && want_dx) rc = aget(be, res[k][1], &DX);
            if (rc == S24_OK) rc = dget(be, res[k][2], &DW);
            if (rc == S24_OK && b) rc = dget(be, res[k][3], &DB);
            CHECK(rc == S24_OK, "linear %lld->%lld n %lld on %s: %s", (long long)in,
                  (long long)out, (long long)n, s24_backend_name(be), s24_last_error());
            struct dbuf *all[] = {&X, &W, &B, &DY, &Y, &DX, &DW, &DB};
            for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
                s24_be_free(be, all[i]->p, all[i]->bytes);
            free(poison);
        }
        printf("  linear %4lld -> %-4lld n %-3lld%s%s:", (long long)in, (long long)out,
               (long long)n, bias ? " +bias" : "", want_dx ? "" : " (no dx)");
        for (int g = 0; g < NGPU; g++) {
            double e[4] = {rel_l2(res[1 + g][0], res[0][0], n * out),
                           want_dx ? rel_l2(res[1 + g][1], res[0][1], n * in) : 0,
                           rel_l2(res[1 + g][2], res[0][2], out * in),
                           bias ? rel_l2(res[1 + g][3], res[0][3], out) : 0};
            double worst = 0;
            for (int j = 0; j < 4; j++) {
                CHECK(e[j] <= G[g].tol, "linear %lld->%lld n %lld %s: output %d rel err %.3g",
                      (long long)in, (long long)out, (long long)n, G[g].tag, j, e[j]);
                if (e[j] > worst || e[j] != e[j]) worst = e[j];
            }
            printf(" %s %.2e", G[g].tag, worst);
        }
        printf("\n");
        for (int k = 0; k <= NGPU; k++)
            for (int j = 0; j < 4; j++) free(res[k][j]);
        free(x), free(w), free(b), free(dy), free(dx0), free(dw0), free(db0);
    }
}

/* ---------------------------------------------------------------- refusals */
static void test_refusals(s24_backend_t *be)
{
    struct s24_conv_shape s = {2, 8, 8, 16, 16, 3, 3, 1, 1, 1, 0, 0};
    void *state = NULL;
    CHECK_OK(s24_conv_shape_init(&s));
    s.oh += 1; /* an output size the shape does not give */
    CHECK(be->ops->conv2d_fwd(be, &state, &s, NULL, NULL, NULL, NULL) == S24_ERR_INVALID);
    CHECK(state == NULL);
    CHECK(be->ops->linear_fwd(be, 4, 0, 8, NULL, NULL, NULL, NULL) == S24_ERR_INVALID);
    s24_clear_error();
}

static const struct conv_case conv_cases[] = {
    {"dense 3x3 s1 32->64", 16, 16, 32, 64, 3, 1, 1, 1, 0, 1, {4, 3, 4}},
    {"dense 3x3 s2 64->128", 16, 16, 64, 128, 3, 2, 1, 1, 0, 1, {4, 2, 4}},
    {"1x1 s1 64->128", 8, 8, 64, 128, 1, 1, 0, 1, 0, 1, {4, 3, 4}},
    {"1x1 s2 64->128 (downsample)", 16, 16, 64, 128, 1, 2, 0, 1, 0, 1, {4, 3, 4}},
    {"stem 3x3 3->64 (no dx)", 32, 32, 3, 64, 3, 1, 1, 1, 0, 0, {4, 3, 4}},
    {"dense 3x3 s1 16->32 +bias", 12, 12, 16, 32, 3, 1, 1, 1, 1, 1, {3, 2, 3}},
    {"grouped 3x3 g4 32->64 +bias", 10, 10, 32, 64, 3, 1, 1, 4, 1, 1, {3, 2, 3}},
    {"dw 3x3 s1 c32", 16, 16, 32, 32, 3, 1, 1, 32, 0, 1, {4, 3, 4}},
    {"dw 3x3 s2 c96", 16, 16, 96, 96, 3, 2, 1, 96, 0, 1, {3, 2, 3}},
    {"dw 3x3 s1 c144 +bias", 8, 8, 144, 144, 3, 1, 1, 144, 1, 1, {3, 2, 3}},
    {"dw 5x5 s2 c144", 16, 16, 144, 144, 5, 2, 2, 144, 0, 1, {3, 2, 3}},
    {"dw 5x5 s1 c240", 8, 8, 240, 240, 5, 1, 2, 240, 0, 1, {3, 2, 3}},
    {"dw 3x3 s2 c240", 8, 8, 240, 240, 3, 2, 1, 240, 0, 1, {3, 2, 3}},
    {"dw 3x3 s1 c480", 4, 4, 480, 480, 3, 1, 1, 480, 0, 1, {2, 1, 2}},
    {"dw 5x5 s1 c672", 7, 7, 672, 672, 5, 1, 2, 672, 0, 1, {2, 1, 2}},
    {"dw 5x5 s2 c672 (7x7 -> 4x4)", 7, 7, 672, 672, 5, 2, 2, 672, 0, 1, {2, 1, 2}},
    {"dw 5x5 s1 c1152", 4, 4, 1152, 1152, 5, 1, 2, 1152, 0, 1, {2, 1, 2}},
    {"dw 3x3 s1 c1152 +bias", 4, 4, 1152, 1152, 3, 1, 1, 1152, 1, 1, {2, 1, 2}},
    {"dw 3x3 s1 c30 (scalar) +bias", 9, 9, 30, 30, 3, 1, 1, 30, 1, 1, {3, 2, 3}},
    {"dw 5x5 s2 c18 (scalar, 11x11)", 11, 11, 18, 18, 5, 2, 2, 18, 0, 1, {3, 2, 3}},
    {"dw 3x3 s1 c32 (no dx)", 8, 8, 32, 32, 3, 1, 1, 32, 0, 0, {2, 3, 2}},
};

/* A CUDA backend with these switches (the constructor reads them). */
static int make_gpu(struct gpu *g, const char *tag, const char *tf32, const char *det, double tol)
{
    setenv("S24_TF32", tf32, 1);
    setenv("S24_DETERMINISTIC", det, 1);
    g->tag = tag;
    g->tol = tol;
    g->det = det[0] == '1';
    return s24_backend_create(S24_DEVICE_CUDA, 0, &g->be);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    s24_rng_seed(&rng, 2024);
    CHECK_OK(s24_backend_create(S24_DEVICE_CPU, 0, &CPU));
    if (!CPU) return t_done("test_nn_conv_gpu");
    int rc = make_gpu(&G[0], "strict", "0", "0", 1e-5);
    if (rc != S24_OK) {
        printf("test_nn_conv_gpu: skipped: %s\n", s24_last_error());
        CHECK(rc == S24_ERR_NO_DEVICE || rc == S24_ERR_CUDA);
        s24_backend_free(CPU);
        return t_done("test_nn_conv_gpu");
    }
    CHECK_OK(make_gpu(&G[1], "tf32", "1", "0", 5e-3));
    CHECK_OK(make_gpu(&G[2], "det", "0", "1", 1e-5));
    CHECK_OK(make_gpu(&G[3], "bf16", "1", "0", 1.5e-2));
    if (G[3].be) CHECK_OK(s24_backend_set_precision(G[3].be, S24_BF16));
    unsetenv("S24_TF32");
    unsetenv("S24_DETERMINISTIC");
    if (!G[1].be || !G[2].be || !G[3].be) {
        for (int g = 0; g < NGPU; g++) s24_backend_free(G[g].be);
        s24_backend_free(CPU);
        return t_done("test_nn_conv_gpu");
    }
    printf("  %s vs %s (worst relative L2 error per backend)\n", s24_backend_name(G[0].be),
           s24_backend_name(CPU));
    test_refusals(G[0].be);
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) run_conv(&conv_cases[i]);
    {
        static const int64_t n1[] = {8, 5}, n2[] = {32, 7}, n3[] = {3, 4};
        run_linear(64, 10, 1, 1, n1, 2);
        run_linear(512, 100, 1, 1, n2, 2);
        run_linear(1280, 10, 1, 0, n3, 2);
        run_linear(96, 48, 0, 1, n1, 2);
    }
    /* the mixed mode also keeps its bf16 weight copy and filter gradient
     * (the largest conv weight twice, 2 bytes each) */
    size_t w16 = 0, f32 = 0;
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) {
        const struct conv_case *cc = &conv_cases[i];
        size_t nw = (size_t)(cc->oc * cc->k * cc->k * (cc->c / cc->groups));
        if (4 * nw > w16) w16 = 4 * nw;
        /* and fp32 copies of x and dy where the filter gradient runs in fp32 */
        for (int j = 0; j < 3; j++) {
            size_t nx = (size_t)(cc->n[j] * cc->h * cc->w * cc->c);
            size_t ny = (size_t)(cc->n[j] * cc->h * cc->w * cc->oc); /* >= oh * ow */
            if (4 * (nx + ny) > f32) f32 = 4 * (nx + ny);
        }
    }
    w16 += f32;
    for (int g = 0; g < NGPU; g++) {
        /* everything freed but the scratch */
        s24_backend_t *be = G[g].be;
        size_t keep = be->ws.cap + (be->act == S24_BF16 ? w16 : 0);
        CHECK(be->live <= keep && be->live >= be->ws.cap, "%s: %zu bytes live, %zu of them "
              "scratch", G[g].tag, be->live, be->ws.cap);
        s24_backend_free(be);
    }
    s24_backend_free(CPU);
    return t_done("test_nn_conv_gpu");
}
