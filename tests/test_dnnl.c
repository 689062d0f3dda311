/* test_dnnl.c: the oneDNN convolutions of the CPU backend (src/cpu/nn_dnnl.c)
 * against the fp64 reference (s24_conv2d_ref_fwd/bwd) on the shapes the
 * models use: ResNet18's 3-channel stem, 3x3 stride 1 and 2, the 1x1 stride-2
 * downsample, EfficientNet-B0's stride-2 stem, 1x1 expand/project and the
 * squeeze-excitation convs with bias on 1x1 maps, and odd sizes (non-square,
 * 5x5, channel counts that are not multiples of 16). Gradients start from
 * random values, so the accumulate semantics (dx +=, dw +=, db +=) are
 * checked on every case, twice in a row; outputs are poisoned first.
 * Then full-size model layers against the im2col path (itself checked
 * against the reference in test_nn_grad), the per-node shape cache (batch,
 * partial batch, eval batch, eviction, thread counts) and the backend's op
 * table. Budget: 1e-5 relative L2. Without oneDNN in the build it checks
 * that the calls say so and that the backend still convolves. */
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

#ifdef S24_HAVE_DNNL
static float *dup_f(const float *a, int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    memcpy(p, a, (size_t)n * sizeof *p);
    return p;
}

/* ||(a - p) - (b - p)|| / ||b - p||: the error of what was added to p */
static double rel_err_added(const float *a, const float *b, const float *p, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i], g = (double)b[i] - p[i];
        num += d * d;
        den += g * g;
    }
    return sqrt(num) / (sqrt(den) + 1e-30);
}

struct tensors {
    struct s24_conv_shape s;
    int64_t nx, nw, ny;
    float *x, *w, *b, *dy;
};

static int tensors_init(struct tensors *t, int64_t n, int64_t h, int64_t w, int64_t c,
                        int64_t oc, int64_t k, int64_t st, int64_t pad)
{
    struct s24_conv_shape s = {n, h, w, c, oc, k, k, st, pad, 1, 0, 0};
    if (s24_conv_shape_init(&s) != S24_OK) return -1;
    t->s = s;
    t->nx = n * h * w * c, t->nw = oc * k * k * c, t->ny = n * s.oh * s.ow * oc;
    t->x = rnd(t->nx, -1, 1), t->w = rnd(t->nw, -0.5f, 0.5f), t->b = rnd(oc, -1, 1);
    t->dy = rnd(t->ny, -1, 1);
    return 0;
}

static void tensors_free(struct tensors *t) { free(t->x), free(t->w), free(t->b), free(t->dy); }

static const char *name(const struct s24_conv_shape *s)
{
    static char buf[128];
    snprintf(buf, sizeof buf, "n%lld %lldx%lld c%lld->%lld k%lld s%lld p%lld", (long long)s->n,
             (long long)s->h, (long long)s->w, (long long)s->c, (long long)s->oc,
             (long long)s->kh, (long long)s->stride, (long long)s->pad);
    return buf;
}

static struct s24_dnnl *dn;
static int refused;

/* A oneDNN call that must succeed, or refuse (S24_ERR_UNSUPPORTED: oneDNN
 * has only its reference kernel for it on this CPU, so the backend takes the
 * im2col path): a refusal is counted and said, and the case ends at `done`. */
#define DN(call)                                                                    \
    do {                                                                            \
        int dn_rc_ = (call);                                                        \
        if (dn_rc_ == S24_ERR_UNSUPPORTED) {                                        \
            refused++;                                                              \
            printf("  refused by oneDNN, skipped: %s\n", s24_last_error());         \
            goto done;                                                              \
        }                                                                           \
        CHECK(dn_rc_ == S24_OK, "%s: %s", #call, s24_last_error());                 \
    } while (0)

/* One shape against the reference: forward with and without bias, then the
 * backward twice onto random starting gradients, with and without dx/db. */
static void check_ref(int64_t n, int64_t h, int64_t w, int64_t c, int64_t oc, int64_t k,
                      int64_t st, int64_t pad, int bias)
{
    struct tensors t;
    if (tensors_init(&t, n, h, w, c, oc, k, st, pad)) {
        CHECK(0, "bad test shape");
        return;
    }
    const struct s24_conv_shape *s = &t.s;
    const float *b = bias ? t.b : NULL;
    void *state = NULL;
    float *y = rnd(t.ny, 1e30f, 1e30f), *yr = rnd(t.ny, 0, 0);
    s24_conv2d_ref_fwd(s, t.x, t.w, b, yr);
    /* random starting gradients: the op must add to them */
    float *dx0 = rnd(t.nx, -1, 1), *dw0 = rnd(t.nw, -1, 1), *db0 = rnd(oc, -1, 1);
    float *dx = dup_f(dx0, t.nx), *dw = dup_f(dw0, t.nw), *db = dup_f(db0, oc);
    float *dxr = dup_f(dx0, t.nx), *dwr = dup_f(dw0, t.nw), *dbr = dup_f(db0, oc);
    DN(s24_dnnl_conv2d_fwd(dn, &state, s, t.x, t.w, b, y, &ws));
    CHECK(rel_err(y, yr, t.ny) < 1e-5, "fwd %s bias %d: %g", name(s), bias,
          rel_err(y, yr, t.ny));
    for (int rep = 0; rep < 2; rep++) {
        s24_conv2d_ref_bwd(s, t.x, t.w, t.dy, dxr, dwr, bias ? dbr : NULL);
        DN(s24_dnnl_conv2d_bwd(dn, &state, s, t.x, t.w, t.dy, dx, 1, dw, bias ? db : NULL, &ws));
        CHECK(rel_err_added(dx, dxr, dx0, t.nx) < 1e-5, "dx += (call %d) %s: %g", rep + 1,
              name(s), rel_err_added(dx, dxr, dx0, t.nx));
        CHECK(rel_err_added(dw, dwr, dw0, t.nw) < 1e-5, "dw += (call %d) %s: %g", rep + 1,
              name(s), rel_err_added(dw, dwr, dw0, t.nw));
        if (bias)
            CHECK(rel_err_added(db, dbr, db0, oc) < 1e-5, "db += (call %d) %s: %g", rep + 1,
                  name(s), rel_err_added(db, dbr, db0, oc));
        else
            CHECK(!memcmp(db, db0, (size_t)oc * sizeof *db), "db untouched without a bias");
    }
    /* no dx (a conv reading the images): dw only */
    memcpy(dw, dw0, (size_t)t.nw * sizeof *dw), memcpy(dwr, dw0, (size_t)t.nw * sizeof *dw);
    s24_conv2d_ref_bwd(s, t.x, t.w, t.dy, NULL, dwr, NULL);
    DN(s24_dnnl_conv2d_bwd(dn, &state, s, t.x, t.w, t.dy, NULL, 1, dw, NULL, &ws));
    CHECK(rel_err_added(dw, dwr, dw0, t.nw) < 1e-5, "dw without dx %s: %g", name(s),
          rel_err_added(dw, dwr, dw0, t.nw));
    /* acc 0: dx overwritten, its NaNs never read */
    for (int64_t i = 0; i < t.nx; i++) dx[i] = NAN, dxr[i] = 0.0f;
    s24_conv2d_ref_bwd(s, t.x, t.w, t.dy, dxr, dwr, NULL);
    DN(s24_dnnl_conv2d_bwd(dn, &state, s, t.x, t.w, t.dy, dx, 0, dw, NULL, &ws));
    CHECK(rel_err(dx, dxr, t.nx) < 1e-5, "dx = (acc 0) %s: %g", name(s), rel_err(dx, dxr, t.nx));
done:
    s24_dnnl_conv_free(state);
    free(y), free(yr), free(dx0), free(dw0), free(db0);
    free(dx), free(dw), free(db), free(dxr), free(dwr), free(dbr);
    tensors_free(&t);
}

/* A full-size layer against the im2col path, with the time of a first and
 * a cached call (fwd + bwd). */
static void check_im2col(int64_t n, int64_t h, int64_t c, int64_t oc, int64_t k, int64_t st,
                         int64_t pad)
{
    struct tensors t;
    if (tensors_init(&t, n, h, h, c, oc, k, st, pad)) {
        CHECK(0, "bad test shape");
        return;
    }
    const struct s24_conv_shape *s = &t.s;
    void *state = NULL;
    float *y = rnd(t.ny, 1e30f, 1e30f), *yr = rnd(t.ny, 0, 0);
    float *dx = rnd(t.nx, 0, 0), *dw = rnd(t.nw, 0, 0), *dxr = rnd(t.nx, 0, 0);
    float *dwr = rnd(t.nw, 0, 0);
    CHECK_OK(s24_cpu_conv2d_fwd(s, t.x, t.w, NULL, yr, &ws));
    CHECK_OK(s24_cpu_conv2d_bwd(s, t.x, t.w, t.dy, dxr, dwr, NULL, &ws));
    double t0 = s24_now(), t1, t2;
    DN(s24_dnnl_conv2d_fwd(dn, &state, s, t.x, t.w, NULL, y, &ws));
    DN(s24_dnnl_conv2d_bwd(dn, &state, s, t.x, t.w, t.dy, dx, 1, dw, NULL, &ws));
    t1 = s24_now();
    DN(s24_dnnl_conv2d_fwd(dn, &state, s, t.x, t.w, NULL, y, &ws));
    for (int64_t i = 0; i < t.nx; i++) dx[i] = 0;
    for (int64_t i = 0; i < t.nw; i++) dw[i] = 0;
    DN(s24_dnnl_conv2d_bwd(dn, &state, s, t.x, t.w, t.dy, dx, 1, dw, NULL, &ws));
    t2 = s24_now();
    CHECK(rel_err(y, yr, t.ny) < 1e-5, "fwd vs im2col %s: %g", name(s), rel_err(y, yr, t.ny));
    CHECK(rel_err(dx, dxr, t.nx) < 1e-5, "dx vs im2col %s: %g", name(s), rel_err(dx, dxr, t.nx));
    CHECK(rel_err(dw, dwr, t.nw) < 1e-5, "dw vs im2col %s: %g", name(s), rel_err(dw, dwr, t.nw));
    printf("  %-34s first call %7.1f ms, cached %7.1f ms (fwd + bwd)\n", name(s),
           1e3 * (t1 - t0), 1e3 * (t2 - t1));
done:
    s24_dnnl_conv_free(state);
    free(y), free(yr), free(dx), free(dw), free(dxr), free(dwr);
    tensors_free(&t);
}

/* One node's state over the batches it meets (training batch, the last
 * partial batch, an eval batch, then more shapes than it keeps) and two
 * thread counts: every call still right. */
static void check_cache(void)
{
    const int64_t batches[] = {8, 5, 8, 16, 3, 1, 7, 8, 5};
    const int nb = (int)(sizeof batches / sizeof batches[0]);
    struct tensors t;
    if (tensors_init(&t, 16, 9, 9, 16, 24, 3, 2, 1)) return;
    void *state = NULL;
    int bad = 0;
    for (int th = 1; th <= 2; th++) {
        s24_threads_set(th);
        for (int i = 0; i < nb; i++) {
            struct s24_conv_shape s = t.s;
            s.n = batches[i];
            int64_t ny = s.n * s.oh * s.ow * s.oc, nx = s.n * s.h * s.w * s.c;
            float *y = rnd(ny, 1e30f, 1e30f), *yr = rnd(ny, 0, 0);
            float *dx = rnd(nx, 0, 0), *dxr = rnd(nx, 0, 0);
            float *dw = rnd(t.nw, 0, 0), *dwr = rnd(t.nw, 0, 0);
            float *db = rnd(s.oc, 0, 0), *dbr = rnd(s.oc, 0, 0);
            s24_conv2d_ref_fwd(&s, t.x, t.w, t.b, yr);
            s24_conv2d_ref_bwd(&s, t.x, t.w, t.dy, dxr, dwr, dbr);
            int rf = refused;
            DN(s24_dnnl_conv2d_fwd(dn, &state, &s, t.x, t.w, t.b, y, &ws));
            DN(s24_dnnl_conv2d_bwd(dn, &state, &s, t.x, t.w, t.dy, dx, 1, dw, db, &ws));
            double e = rel_err(y, yr, ny) + rel_err(dx, dxr, nx) + rel_err(dw, dwr, t.nw) +
                       rel_err(db, dbr, s.oc);
            if (e > 4e-5) bad++;
            CHECK(e < 4e-5, "cache: batch %lld threads %d: summed error %g", (long long)s.n, th,
                  e);
        done:
            if (refused > rf) bad++;
            free(y), free(yr), free(dx), free(dxr), free(dw), free(dwr), free(db), free(dbr);
        }
    }
    s24_threads_set(0);
    printf("  cache: %d batches x 2 thread counts, %d wrong or refused\n", nb, bad);
    s24_dnnl_conv_free(state);
    tensors_free(&t);
}
#endif

/* The CPU backend's table (oneDNN for dense convs when built with it, the
 * im2col path else; depthwise always the latter) against the reference,
 * the node's state freed through state_free. */
static void check_backend(int64_t c, int64_t oc, int64_t groups)
{
    s24_backend_t *be = NULL;
    CHECK_OK(s24_backend_create(S24_DEVICE_CPU, 0, &be));
    if (!be) return;
    struct s24_conv_shape s = {4, 10, 10, c, oc, 3, 3, 1, 1, groups, 0, 0};
    CHECK_OK(s24_conv_shape_init(&s));
    int64_t nx = s.n * s.h * s.w * c, nw = oc * 9 * (c / groups), ny = s.n * s.oh * s.ow * oc;
    float *x = rnd(nx, -1, 1), *w = rnd(nw, -0.5f, 0.5f), *b = rnd(oc, -1, 1);
    float *dy = rnd(ny, -1, 1), *y = rnd(ny, 1e30f, 1e30f), *yr = rnd(ny, 0, 0);
    float *dx = rnd(nx, 0, 0), *dw = rnd(nw, 0, 0), *db = rnd(oc, 0, 0);
    float *dxr = rnd(nx, 0, 0), *dwr = rnd(nw, 0, 0), *dbr = rnd(oc, 0, 0);
    void *state = NULL;
    s24_conv2d_ref_fwd(&s, x, w, b, yr);
    s24_conv2d_ref_bwd(&s, x, w, dy, dxr, dwr, dbr);
    CHECK_OK(be->ops->conv2d_fwd(be, &state, &s, x, w, b, y));
    CHECK_OK(be->ops->conv2d_bwd(be, &state, &s, x, w, dy, dx, 1, dw, db));
    CHECK(rel_err(y, yr, ny) < 1e-5, "%s: fwd g%lld %g", be->name, (long long)groups,
          rel_err(y, yr, ny));
    CHECK(rel_err(dx, dxr, nx) < 1e-5, "%s: dx g%lld", be->name, (long long)groups);
    CHECK(rel_err(dw, dwr, nw) < 1e-5, "%s: dw g%lld", be->name, (long long)groups);
    CHECK(rel_err(db, dbr, oc) < 1e-5, "%s: db g%lld", be->name, (long long)groups);
#ifdef S24_HAVE_DNNL
    CHECK((state != NULL) == (groups == 1), "%s: a plan for dense convs only", be->name);
#endif
    if (state) be->ops->state_free(be, state);
    s24_backend_free(be);
    free(x), free(w), free(b), free(dy), free(y), free(yr);
    free(dx), free(dw), free(db), free(dxr), free(dwr), free(dbr);
}

int main(void)
{
    s24_rng_seed(&rng, 2406);
    double t0 = s24_now();
#ifdef S24_HAVE_DNNL
    CHECK_OK(s24_dnnl_init(&dn));
    if (!dn) return t_done("test_dnnl");
    printf("test_dnnl: %s\n", s24_dnnl_version());
    /* ResNet18 (CIFAR stem 3x3 s1) */
    check_ref(4, 32, 32, 3, 64, 3, 1, 1, 0);  /* stem */
    check_ref(2, 16, 16, 64, 64, 3, 1, 1, 0); /* basic block */
    check_ref(2, 16, 16, 64, 128, 3, 2, 1, 0); /* stride 2 */
    check_ref(2, 16, 16, 64, 128, 1, 2, 0, 0); /* 1x1 stride-2 downsample, even size */
    check_ref(2, 4, 4, 256, 256, 3, 1, 1, 0);  /* layer4's small map */
    /* EfficientNet-B0 */
    check_ref(2, 32, 32, 3, 32, 3, 2, 1, 0);   /* stem 3x3 s2 */
    check_ref(2, 8, 8, 40, 240, 1, 1, 0, 0);   /* expand 1x1 */
    check_ref(2, 8, 8, 240, 40, 1, 1, 0, 0);   /* project 1x1 */
    check_ref(4, 1, 1, 96, 4, 1, 1, 0, 1);     /* SE reduce, bias */
    check_ref(4, 1, 1, 4, 96, 1, 1, 0, 1);     /* SE expand, bias */
    /* odd sizes */
    check_ref(3, 7, 9, 5, 6, 3, 2, 1, 1);
    check_ref(2, 11, 11, 7, 9, 5, 1, 2, 1);
    check_ref(1, 7, 7, 24, 40, 1, 2, 0, 0); /* 1x1 stride 2, odd size */
    check_ref(3, 5, 5, 17, 33, 3, 1, 0, 1); /* no padding */
    printf("  reference shapes %.1f s\n", s24_now() - t0);
    /* ResNet18's layers at 32x32 (CIFAR), batch 32; one EfficientNet-B0 1x1 */
    check_im2col(32, 32, 3, 64, 3, 1, 1);
    check_im2col(32, 32, 64, 64, 3, 1, 1);
    check_im2col(32, 32, 64, 128, 3, 2, 1);
    check_im2col(32, 32, 64, 128, 1, 2, 0);
    check_im2col(32, 8, 256, 512, 3, 2, 1);
    check_im2col(32, 4, 512, 512, 3, 1, 1);
    check_im2col(32, 16, 96, 24, 1, 1, 0); /* EfficientNet-B0's 1x1 project (a GEMM) */
    check_cache();
    if (refused) printf("  %d cases refused by oneDNN (only its reference kernel here)\n", refused);
#else
    void *state = NULL;
    struct s24_dnnl *none = NULL;
    CHECK(s24_dnnl_init(&none) == S24_ERR_UNSUPPORTED && !none, "built without oneDNN");
    CHECK(s24_dnnl_version() == NULL);
    struct s24_conv_shape s = {1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1};
    float v = 1;
    CHECK(s24_dnnl_conv2d_fwd(NULL, &state, &s, &v, &v, NULL, &v, &ws) == S24_ERR_UNSUPPORTED);
    printf("test_dnnl: built without oneDNN (USE_DNNL); the backend's convs use nn_conv.c\n");
#endif
    check_backend(16, 24, 1);
    check_backend(16, 16, 16);
#ifdef S24_HAVE_DNNL
    s24_dnnl_free(dn);
#endif
    s24_nn_ws_free(&ws);
    printf("  %.1f s\n", s24_now() - t0);
    return t_done("test_dnnl");
}
