/* test_infer_gpu.c: the GPU inference plan (src/cuda/infer_cuda.cu) against
 * the CPU model's evaluation forward (needs a GPU; `make test-gpu`), for
 * smallcnn, ResNet18 and EfficientNet-B0 (CIFAR, 32x32), weights masked 2:4
 * by the project's masks (s24_pipeline_masks) and batch norms with random
 * running statistics, gammas (zero and negative among them) and betas. For
 * fp16 and bf16 and the three paths (dense, forced 2:4, auto):
 *   - logits within a 16-bit budget of the fp32 reference (relative L2), and
 *     the argmax the same on >= 99 % of the batch (images whose reference
 *     top-two margin is within the 16-bit error are not held against it);
 *   - forced 2:4: every masked layer that meets cuSPARSELt's size rules runs
 *     2:4, each against its own dense run on the same input (test hook
 *     s24_infer_cu_layer_diff), every other layer says why it is dense;
 *   - auto: every eligible layer measured both ways, on the path the rule
 *     (2 % margin) picks, a second run the same;
 *   - a second, smaller batch through the same plans (cuSPARSELt's n padded);
 *   - a weight that is not 2:4 under --path sparse runs dense, saying so;
 *   - the 2:4 GEMMs cut into chunks of columns (S24_INFER_SP_CHUNK, as
 *     cuSPARSELt's largest shapes need) give the logits of uncut ones;
 *   - the dense path with every 1x1 conv and linear on cuBLASLt
 *     (S24_INFER_LT=1) and with none (=0) against the CPU forward.
 *   - EfficientNet-B0's depthwise convs on the own kernel (both of its
 *     variants) and on cuDNN, fp16 and bf16, against the CPU forward.
 * Without a GPU it reports the skip and passes. */
#include "t.h"
#include "logits.h"

#include <stdint.h>
#include <stdlib.h>

#include "nn/infer_internal.h"
#include "sparse24/sparse24_infer.h"
#include "sparse24/sparse24_train.h"

/* sqrt(mean((a - b)^2)): the logits' error in their own units */
/* A CPU model pruned 2:4 with non-trivial norms, and its GPU twin. */
static int make_pair(const char *arch, s24_backend_t *gpu, s24_model_t **cm, s24_model_t **gm,
                     struct s24_sgd *o, int *masked)
{
    *cm = *gm = NULL;
    CHECK_OK(s24_model_create(arch, 10, 5, NULL, cm));
    CHECK_OK(s24_model_create(arch, 10, 5, gpu, gm));
    if (!*cm || !*gm) return -1;
    CHECK_OK(s24_sgd_init(o, *cm, 0));
    struct s24_rng r;
    s24_rng_seed(&r, 9);
    for (int i = 0; i < s24_model_num_params(*cm); i++) {
        struct s24_param *p = s24_model_param(*cm, i);
        if (!p->data) continue;
        for (int64_t j = 0; j < p->numel; j++) {
            if (p->kind == S24_B_RUNNING_VAR) p->data[j] = s24_rng_uniformf(&r, 0.5f, 2.0f);
            else if (p->kind == S24_B_RUNNING_MEAN || p->kind == S24_P_BN_BIAS)
                p->data[j] = s24_rng_uniformf(&r, -0.2f, 0.2f);
            else if (p->kind == S24_P_BN_WEIGHT)
                p->data[j] = j % 7 == 3 ? 0.0f : s24_rng_uniformf(&r, -1.2f, 1.2f);
        }
    }
    CHECK_OK(s24_pipeline_masks(*cm, o, 2, 4));
    *masked = 0;
    for (int i = 0; i < s24_model_num_params(*cm); i++) {
        struct s24_param *p = s24_model_param(*cm, i), *q = s24_model_param(*gm, i);
        *masked += o->mask[i] != NULL;
        if (p->data) memcpy(q->data, p->data, sizeof(float) * (size_t)p->numel);
    }
    CHECK_OK(s24_model_to_backend(*gm));
    return 0;
}

/* S24_SMALL set: the compute-sanitizer run (scripts/gpu/run_sanitize_nn.sh):
 * fp16 only, smallcnn and resnet18 at small batches */
static int small;

static void check_plan(s24_model_t *gm, const char *arch, int dt, int path, const float *x,
                       int n, int n2, int hw, const float *ref, const float *ref2)
{
    const char *dn = dt == S24_F16 ? "fp16" : "bf16";
    /* budgets: a few rounding steps of the type per layer, through ~20 layers */
    double tol = dt == S24_F16 ? 2e-2 : 8e-2, ltol = dt == S24_F16 ? 1e-2 : 4e-2;
    struct s24_infer_opts o;
    s24_infer_opts_init(&o);
    o.path = path, o.dtype = dt;
    s24_infer_t *p = NULL;
    CHECK_OK(s24_infer_create2(gm, &o, &p));
    if (!p) return;
    float *y = malloc(sizeof(float) * 10 * (size_t)n), *y2 = malloc(sizeof(float) * 10 * (size_t)n);
    for (int i = 0; i < 10 * n; i++) y[i] = y2[i] = NAN;
    double t0 = s24_now();
    CHECK_OK(s24_infer_run(p, x, n, hw, hw, y));
    double first = s24_now() - t0;
    double e = t_rel(y, ref, 10 * n);
    int raw = 0;
    double ag = agree(y, ref, n, 10, 4.0 * rms_err(y, ref, 10 * n), &raw);
    printf("  %-16s %s %-5s: logits rel %.2e, argmax %d/%d (%.1f%% of decided), first run %.2f s\n",
           arch, dn, path_name(path), e, raw, n, 100 * ag, first);
    CHECK(e < tol, "%s %s %s: logits rel %g (budget %g)", arch, dn, path_name(path), e, tol);
    {
        /* runs 2 and 3 at the same shape: the second is captured as a CUDA
         * graph, the third replays it; the same kernels, so the same logits */
        char why[160] = "";
        CHECK_OK(s24_infer_run(p, x, n, hw, hw, y2));
        CHECK_OK(s24_infer_run(p, x, n, hw, hw, y2));
        int graphed = s24_infer_cu_graphed(s24_infer_cuda_of(p), why, sizeof why);
        CHECK(graphed, "%s %s %s: no CUDA graph after three runs: %s", arch, dn, path_name(path),
              why);
        CHECK(t_rel(y2, y, 10 * n) < 1e-3, "%s %s %s: graph replay differs %g", arch, dn,
              path_name(path), t_rel(y2, y, 10 * n));
        printf("  %-16s %s %-5s: graph replay %s the first run\n", arch, dn, path_name(path),
               memcmp(y2, y, sizeof(float) * 10 * (size_t)n) ? "within 1e-3 of" : "bit for bit");
    }
    CHECK(ag >= 0.99, "%s %s %s: argmax agrees on %.1f%% (%d of %d raw)", arch, dn,
          path_name(path), 100 * ag, raw, n);
    int nl = s24_infer_num_layers(p), sparse = 0, eligible = 0, bad = 0, measured = 0, wrong = 0;
    for (int i = 0; i < nl; i++) {
        const struct s24_infer_layer *L = s24_infer_layer_at(p, i);
        sparse += L->sparse, eligible += L->eligible;
        bad += !*L->why;
        if (path == S24_INFER_DENSE) bad += L->sparse;
        if (path == S24_INFER_SPARSE) bad += L->sparse != L->eligible;
        if (path == S24_INFER_AUTO && L->eligible) {
            measured +=
                L->dense_ms > 0 && L->sparse_ms > 0 && !strncmp(L->why, "measured: dense ", 16);
            /* the whole-network check may send a layer chosen 2:4 back to dense */
            const char *w = strstr(L->why, "whole network");
            /* after "whole network": ": kept" or ": dense" (the prefix has
             * "measured: dense" in it too) */
            if (w && strstr(w, ": dense")) wrong += L->sparse;
            else wrong += L->sparse != (L->sparse_ms < L->dense_ms * (1 - 0.02));
        }
        if (path == S24_INFER_AUTO && !L->eligible) bad += L->sparse;
        if (L->sparse && path == S24_INFER_SPARSE) {
            double d = 1e30;
            CHECK_OK(s24_infer_cu_layer_diff(s24_infer_cuda_of(p), i, &d));
            CHECK(d < ltol, "%s %s: layer %s: 2:4 vs dense %g (budget %g)", arch, dn, L->name, d,
                  ltol);
        }
    }
    CHECK(bad == 0, "%s %s %s: %d layers on the wrong path or without a reason", arch, dn,
          path_name(path), bad);
    if (!strncmp(arch, "resnet18", 8) && path == S24_INFER_DENSE) {
        /* every block's residual add (and its ReLU) went into the conv before it */
        int fused = 0;
        for (int i = 0; i < nl; i++)
            fused += strstr(s24_infer_layer_at(p, i)->engine, "add") != NULL;
        CHECK(fused == 8, "%s %s: %d layers absorbed a residual add (8 blocks)", arch, dn, fused);
        /* the three blocks with a downsample: conv2's bias rides in the downsample conv */
        int moved = 0;
        for (int i = 0; i < nl; i++)
            moved += strstr(s24_infer_layer_at(p, i)->engine, "bias moved") != NULL;
        CHECK(moved == 3, "%s %s: %d layers gave their bias to the residual's layer (3)", arch, dn,
              moved);
    }
    if (path == S24_INFER_SPARSE && dt == S24_F16 && !strcmp(arch, "resnet18")) {
        /* layer2-4's 3x3 convs fit the own implicit-GEMM kernel's tiles */
        int own = 0;
        for (int i = 0; i < nl; i++)
            own += strstr(s24_infer_layer_at(p, i)->engine, "own implicit") != NULL;
        CHECK(own >= 10, "%s %s: %d layers on the own implicit 2:4 conv", arch, dn, own);
        printf("  %-16s %s 2:4  : %d layers on the own implicit 2:4 conv\n", arch, dn, own);
    }
    if (path == S24_INFER_SPARSE) {
        CHECK(sparse > 0, "%s %s: no layer ran 2:4", arch, dn);
        printf("  %-16s %s 2:4  : %d of %d layers 2:4\n", arch, dn, sparse, nl);
    }
    if (path == S24_INFER_AUTO) {
        CHECK(measured == eligible && wrong == 0, "%s %s auto: %d eligible, %d measured, %d on "
              "the wrong path", arch, dn, eligible, measured, wrong);
        printf("  %-16s %s auto : %d of %d eligible layers kept 2:4\n", arch, dn, sparse, eligible);
        /* the decision stands and the logits repeat */
        CHECK_OK(s24_infer_run(p, x, n, hw, hw, y2));
        CHECK(t_rel(y2, y, 10 * n) < 1e-3, "%s %s auto: second run differs %g", arch, dn,
              t_rel(y2, y, 10 * n));
    }
    /* per-layer times when asked for */
    s24_infer_set_profile(p, 1);
    CHECK_OK(s24_infer_run(p, x, n, hw, hw, y2));
    int timed = 0;
    for (int i = 0; i < nl; i++) timed += s24_infer_layer_at(p, i)->ms > 0;
    CHECK(timed == nl, "%s %s %s: %d of %d layers timed", arch, dn, path_name(path), timed, nl);
    /* a smaller batch through the same plan */
    CHECK_OK(s24_infer_run(p, x, n2, hw, hw, y2));
    double e2 = t_rel(y2, ref2, 10 * n2);
    CHECK(e2 < tol, "%s %s %s: batch %d: logits rel %g", arch, dn, path_name(path), n2, e2);
    CHECK(s24_infer_run(p, NULL, n, hw, hw, y) == S24_ERR_INVALID);
    /* input and logits already on the device: the same logits */
    {
        s24_backend_t *be = s24_model_backend(gm);
        size_t xb = sizeof(float) * (size_t)n * hw * hw * 3, yb = sizeof(float) * 10 * (size_t)n;
        float *dx = NULL, *dy = NULL, *y3 = malloc(yb);
        CHECK_OK(s24_be_alloc(be, xb, (void **)&dx));
        CHECK_OK(s24_be_alloc(be, yb, (void **)&dy));
        if (dx && dy && y3) {
            CHECK_OK(s24_infer_run(p, x, n, hw, hw, y));
            CHECK_OK(be->ops->upload(be, dx, x, xb));
            CHECK_OK(s24_infer_run_be(p, dx, n, hw, hw, dy));
            CHECK_OK(be->ops->download(be, y3, dy, yb));
            /* the same kernels (the second of these may replay a graph): equal up
             * to a library's own run-to-run order, if it has one */
            CHECK(t_rel(y3, y, 10 * n) < 1e-5, "%s %s %s: run_be differs from run: %g", arch, dn,
                  path_name(path), t_rel(y3, y, 10 * n));
        }
        if (dx) s24_be_free(be, dx, xb);
        if (dy) s24_be_free(be, dy, yb);
        free(y3);
    }
    s24_infer_free(p);
    free(y), free(y2);
}

static void check_arch(s24_backend_t *gpu, const char *arch, int n, int n2, int hw)
{
    s24_model_t *cm, *gm;
    struct s24_sgd o;
    int masked = 0;
    if (make_pair(arch, gpu, &cm, &gm, &o, &masked)) return;
    struct s24_rng r;
    s24_rng_seed(&r, 11);
    int64_t nx = (int64_t)n * hw * hw * 3;
    float *x = malloc(sizeof(float) * (size_t)nx), *ref = malloc(sizeof(float) * 10 * (size_t)n);
    float *ref2 = malloc(sizeof(float) * 10 * (size_t)n2);
    for (int64_t i = 0; i < nx; i++) x[i] = (float)s24_rng_normal(&r);
    CHECK_OK(s24_model_forward(cm, x, n, hw, hw, ref, 0));
    CHECK_OK(s24_model_forward(cm, x, n2, hw, hw, ref2, 0));
    printf("%s: %d masked weights\n", arch, masked);
    static const int dts[2] = {S24_F16, S24_BF16};
    static const int paths[3] = {S24_INFER_DENSE, S24_INFER_SPARSE, S24_INFER_AUTO};
    for (int d = 0; d < (small ? 1 : 2); d++)
        for (int k = 0; k < 3; k++) check_plan(gm, arch, dts[d], paths[k], x, n, n2, hw, ref, ref2);
    s24_sgd_free(&o);
    s24_model_free(cm);
    s24_model_free(gm);
    free(x), free(ref), free(ref2);
}

/* One masked weight made not 2:4 (a third non-zero in a group) on both
 * models: under the forced 2:4 path that layer runs dense and says so. */
static void check_not24(s24_backend_t *gpu)
{
    s24_model_t *cm, *gm;
    struct s24_sgd o;
    int masked = 0, n = 16, hw = 32;
    if (make_pair("smallcnn", gpu, &cm, &gm, &o, &masked)) return;
    const char *name = "conv3.weight";
    struct s24_param *p = s24_model_find(cm, name), *q = s24_model_find(gm, name);
    CHECK(p && q);
    if (!p || !q) return;
    for (int j = 0; j < 4; j++)
        if (p->data[j] == 0.0f) {
            p->data[j] = q->data[j] = 0.25f;
            break;
        }
    CHECK_OK(s24_model_to_backend(gm));
    struct s24_rng r;
    s24_rng_seed(&r, 12);
    float *x = malloc(sizeof(float) * (size_t)(n * hw * hw * 3)),
          *ref = malloc(sizeof(float) * 10 * n);
    float *y = malloc(sizeof(float) * 10 * n);
    for (int64_t i = 0; i < (int64_t)n * hw * hw * 3; i++) x[i] = (float)s24_rng_normal(&r);
    CHECK_OK(s24_model_forward(cm, x, n, hw, hw, ref, 0));
    struct s24_infer_opts opt;
    s24_infer_opts_init(&opt);
    opt.path = S24_INFER_SPARSE, opt.dtype = S24_F16;
    s24_infer_t *pl = NULL;
    CHECK_OK(s24_infer_create2(gm, &opt, &pl));
    if (pl) {
        CHECK_OK(s24_infer_run(pl, x, n, hw, hw, y));
        CHECK(t_rel(y, ref, 10 * n) < 2e-2, "not 2:4: logits rel %g", t_rel(y, ref, 10 * n));
        int found = 0;
        for (int i = 0; i < s24_infer_num_layers(pl); i++) {
            const struct s24_infer_layer *L = s24_infer_layer_at(pl, i);
            if (strcmp(L->name, name)) continue;
            found = 1;
            CHECK(!L->sparse && !L->eligible && !strcmp(L->why, "not 2:4"),
                  "%s: sparse %d eligible %d why '%s'", name, L->sparse, L->eligible, L->why);
        }
        CHECK(found, "no layer %s in the report", name);
        s24_infer_free(pl);
    }
    /* int8 without calibration images or scales is refused (the int8 plan
     * itself: test_infer_int8_gpu.c), fp32 on the GPU by name */
    opt.dtype = S24_I8;
    CHECK(s24_infer_create2(gm, &opt, &pl) == S24_ERR_INVALID && !pl);
    opt.dtype = S24_F32;
    CHECK(s24_infer_create2(gm, &opt, &pl) == S24_ERR_UNSUPPORTED && !pl);
    s24_sgd_free(&o);
    s24_model_free(cm);
    s24_model_free(gm);
    free(x), free(ref), free(y);
}

/* smallcnn on the forced 2:4 path with its GEMMs cut into chunks of 240
 * positions (a tail that is not a whole chunk at both batches) against the
 * same plan uncut: the chunks are the same GEMM column by column. */
static void check_chunks(s24_backend_t *gpu)
{
    s24_model_t *cm, *gm;
    struct s24_sgd o;
    int masked = 0, hw = 32, ns[2] = {64, 7};
    if (make_pair("smallcnn", gpu, &cm, &gm, &o, &masked)) return;
    struct s24_rng r;
    s24_rng_seed(&r, 13);
    size_t nx = (size_t)ns[0] * hw * hw * 3;
    float *x = malloc(sizeof(float) * nx), *y[2], *yc[2];
    for (size_t i = 0; i < nx; i++) x[i] = (float)s24_rng_normal(&r);
    struct s24_infer_opts opt;
    s24_infer_opts_init(&opt);
    opt.path = S24_INFER_SPARSE, opt.dtype = S24_F16;
    for (int k = 0; k < 2; k++) {
        y[k] = malloc(sizeof(float) * 10 * (size_t)ns[k]);
        yc[k] = malloc(sizeof(float) * 10 * (size_t)ns[k]);
    }
    for (int cut = 0; cut < 2; cut++) {
        if (cut) setenv("S24_INFER_SP_CHUNK", "240", 1);
        s24_infer_t *pl = NULL;
        CHECK_OK(s24_infer_create2(gm, &opt, &pl));
        for (int k = 0; pl && k < 2; k++)
            CHECK_OK(s24_infer_run(pl, x, ns[k], hw, hw, cut ? yc[k] : y[k]));
        int sp = 0;
        for (int i = 0; pl && i < s24_infer_num_layers(pl); i++)
            sp += s24_infer_layer_at(pl, i)->sparse;
        CHECK(sp == 2, "chunks: %d layers 2:4 (2)", sp);
        s24_infer_free(pl);
        unsetenv("S24_INFER_SP_CHUNK");
    }
    for (int k = 0; k < 2; k++) {
        double e = t_rel(yc[k], y[k], 10 * ns[k]);
        CHECK(e < 1e-3, "chunks of 240, batch %d: logits rel %g to the uncut plan", ns[k], e);
        printf(
            "  smallcnn fp16 2:4 in chunks of 240 positions, batch %d: logits rel %.2e to uncut\n",
            ns[k], e);
        free(y[k]), free(yc[k]);
    }
    s24_sgd_free(&o);
    s24_model_free(cm);
    s24_model_free(gm);
    free(x);
}

/* The dense plan with its 1x1 convs and linears forced onto the cuBLASLt
 * GEMM, and with cuDNN only, against the CPU forward; the layers' engines
 * say which ran: at least `want` layers on cuBLASLt when forced. ResNet18
 * (its fc; the 1x1 downsamples have stride 2) and EfficientNet-B0 (1x1
 * convs with SiLU and with none, the SE layers, the classifier). */
static void check_lt(s24_backend_t *gpu, const char *arch, int want)
{
    s24_model_t *cm, *gm;
    struct s24_sgd o;
    int masked = 0, n = 16, hw = 32;
    if (make_pair(arch, gpu, &cm, &gm, &o, &masked)) return;
    struct s24_rng r;
    s24_rng_seed(&r, 14);
    size_t nx = (size_t)n * hw * hw * 3;
    float *x = malloc(sizeof(float) * nx), *ref = malloc(sizeof(float) * 10 * n);
    float *y = malloc(sizeof(float) * 10 * n);
    for (size_t i = 0; i < nx; i++) x[i] = (float)s24_rng_normal(&r);
    CHECK_OK(s24_model_forward(cm, x, n, hw, hw, ref, 0));
    struct s24_infer_opts opt;
    s24_infer_opts_init(&opt);
    opt.path = S24_INFER_DENSE, opt.dtype = S24_F16;
    for (int force = 1; force >= 0; force--) {
        setenv("S24_INFER_LT", force ? "1" : "0", 1);
        s24_infer_t *pl = NULL;
        CHECK_OK(s24_infer_create2(gm, &opt, &pl));
        if (pl) {
            CHECK_OK(s24_infer_run(pl, x, n, hw, hw, y));
            double e = t_rel(y, ref, 10 * n);
            int lt = 0;
            for (int i = 0; i < s24_infer_num_layers(pl); i++)
                lt += !strncmp(s24_infer_layer_at(pl, i)->engine, "cuBLASLt", 8);
            printf("  %-16s fp16 dense, S24_INFER_LT=%d: %d layers on cuBLASLt, logits rel %.2e\n",
                   arch, force, lt, e);
            CHECK(e < 2e-2, "%s S24_INFER_LT=%d: logits rel %g", arch, force, e);
            CHECK(force ? lt >= want : lt == 0, "%s S24_INFER_LT=%d: %d layers on cuBLASLt", arch,
                  force, lt);
            s24_infer_free(pl);
        }
    }
    unsetenv("S24_INFER_LT");
    s24_sgd_free(&o);
    s24_model_free(cm);
    s24_model_free(gm);
    free(x), free(ref), free(y);
}

/* EfficientNet-B0's dense plan with its depthwise convs on the own kernel
 * (S24_INFER_DW=1, the 8-channel variant; =scalar, the one-channel one) and
 * on cuDNN (=0), fp16 and bf16, against the CPU forward and each other; the
 * layers' engines say which ran: all 16 depthwise layers on the own kernel,
 * or none. */
static void check_dw(s24_backend_t *gpu)
{
    s24_model_t *cm, *gm;
    struct s24_sgd o;
    int masked = 0, n = 8, hw = 32;
    if (make_pair("efficientnet_b0", gpu, &cm, &gm, &o, &masked)) return;
    struct s24_rng r;
    s24_rng_seed(&r, 15);
    size_t nx = (size_t)n * hw * hw * 3;
    float *x = malloc(sizeof(float) * nx), *ref = malloc(sizeof(float) * 10 * n);
    float *y = malloc(sizeof(float) * 10 * n), *y0 = malloc(sizeof(float) * 10 * n);
    for (size_t i = 0; i < nx; i++) x[i] = (float)s24_rng_normal(&r);
    CHECK_OK(s24_model_forward(cm, x, n, hw, hw, ref, 0));
    static const char *const modes[3] = {"0", "1", "scalar"};
    for (int dt = 0; dt < 2; dt++)
        for (int mi = 0; mi < 3; mi++) {
            struct s24_infer_opts opt;
            s24_infer_opts_init(&opt);
            opt.path = S24_INFER_DENSE, opt.dtype = dt ? S24_BF16 : S24_F16;
            setenv("S24_INFER_DW", modes[mi], 1);
            s24_infer_t *pl = NULL;
            CHECK_OK(s24_infer_create2(gm, &opt, &pl));
            if (!pl) continue;
            CHECK_OK(s24_infer_run(pl, x, n, hw, hw, mi ? y : y0));
            int own = 0;
            for (int i = 0; i < s24_infer_num_layers(pl); i++)
                own += !strncmp(s24_infer_layer_at(pl, i)->engine, "own depthwise", 13);
            double e = t_rel(mi ? y : y0, ref, 10 * n), e0 = mi ? t_rel(y, y0, 10 * n) : 0;
            printf("  efficientnet_b0  %s dense, S24_INFER_DW=%-6s: %d depthwise layers own, "
                   "logits rel %.2e (cuDNN's %.2e)\n", dt ? "bf16" : "fp16", modes[mi], own, e,
                   e0);
            CHECK(e < (dt ? 5e-2 : 2e-2), "S24_INFER_DW=%s: logits rel %g", modes[mi], e);
            CHECK(e0 < (dt ? 5e-2 : 1e-2), "S24_INFER_DW=%s: against cuDNN rel %g", modes[mi],
                  e0);
            CHECK(mi ? own == 16 : own == 0, "S24_INFER_DW=%s: %d depthwise layers own",
                  modes[mi], own);
            s24_infer_free(pl);
        }
    unsetenv("S24_INFER_DW");
    s24_sgd_free(&o);
    s24_model_free(cm);
    s24_model_free(gm);
    free(x), free(ref), free(y), free(y0);
}

int main(void)
{
    s24_backend_t *gpu = NULL;
    int rc = s24_backend_create(S24_DEVICE_CUDA, 0, &gpu);
    if (rc != S24_OK) {
        printf("test_infer_gpu: skipped (%s)\n", s24_last_error());
        return t_done("test_infer_gpu");
    }
    printf("test_infer_gpu: %s\n", s24_backend_name(gpu));
    s24_threads_set(8);
    small = getenv("S24_SMALL") != NULL;
    check_arch(gpu, "smallcnn", small ? 16 : 64, 7, 32);
    /* 16 images: layer4's 16 x 4 x 4 positions still fill the own kernel's 128 */
    check_arch(gpu, "resnet18", small ? 16 : 64, 7, 32);
    if (!small) {
        check_arch(gpu, "efficientnet_b0", 64, 7, 32);
        /* the ImageNet stem and its max-pool, at 64x64 to keep the CPU reference quick */
        check_arch(gpu, "resnet18_imagenet", 16, 3, 64);
    }
    check_not24(gpu);
    check_chunks(gpu);
    check_lt(gpu, "resnet18", 1);
    if (!small) check_lt(gpu, "efficientnet_b0", 20);
    check_dw(gpu);
    s24_backend_free(gpu);
    return t_done("test_infer_gpu");
}
