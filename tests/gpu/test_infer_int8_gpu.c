/* test_infer_int8_gpu.c: the GPU int8 plan (src/cuda/infer_cuda.cu with
 * dtype S24_I8; needs a GPU, else it reports the skip and passes) for
 * smallcnn, ResNet18 and EfficientNet-B0 at 32x32, masked 2:4 with random
 * norms, calibrated on the batch itself, on the three paths:
 *   - against the CPU's int8 simulation (src/cpu/infer_cpu.c, dtype S24_I8)
 *     given the GPU plan's own scales, so both quantise with the same
 *     numbers: the logits within an fp16 budget (the GPU's activations are
 *     fp16, so a value on a rounding edge may land one int8 step away);
 *   - against the fp32 evaluation forward: the argmax the same on >= 90 %
 *     of the images that are not near ties, the logits within 0.15;
 *   - every int8 layer's engine says int8 (cuSPARSELt int8), none on the
 *     dense path (its 2:4 layers run their fp16 dense counterparts), every
 *     layer the int8 rule allows on the forced 2:4 path, each against its
 *     own fp16 dense run on the same input;
 *   - the graph replay and a second batch of 7 (the sim at 7 too), and a
 *     second plan given the first one's scales gives its logits. */
#include "t.h"
#include "logits.h"

#include <stdint.h>
#include <stdlib.h>

#include "nn/infer_internal.h"
#include "sparse24/sparse24_infer.h"
#include "sparse24/sparse24_train.h"

/* A CPU model pruned 2:4 with non-trivial norms, and its GPU twin. */
static int make_pair(const char *arch, s24_backend_t *gpu, s24_model_t **cm, s24_model_t **gm)
{
    struct s24_sgd o;
    *cm = *gm = NULL;
    CHECK_OK(s24_model_create(arch, 10, 5, NULL, cm));
    CHECK_OK(s24_model_create(arch, 10, 5, gpu, gm));
    if (!*cm || !*gm) return -1;
    CHECK_OK(s24_sgd_init(&o, *cm, 0));
    struct s24_rng r;
    s24_rng_seed(&r, 9);
    for (int i = 0; i < s24_model_num_params(*cm); i++) {
        struct s24_param *p = s24_model_param(*cm, i);
        for (int64_t j = 0; p->data && j < p->numel; j++) {
            if (p->kind == S24_B_RUNNING_VAR) p->data[j] = s24_rng_uniformf(&r, 0.5f, 2.0f);
            else if (p->kind == S24_B_RUNNING_MEAN || p->kind == S24_P_BN_BIAS)
                p->data[j] = s24_rng_uniformf(&r, -0.2f, 0.2f);
            else if (p->kind == S24_P_BN_WEIGHT) p->data[j] = s24_rng_uniformf(&r, 0.5f, 1.5f);
        }
    }
    CHECK_OK(s24_pipeline_masks(*cm, &o, 2, 4));
    for (int i = 0; i < s24_model_num_params(*cm); i++) {
        struct s24_param *p = s24_model_param(*cm, i), *q = s24_model_param(*gm, i);
        if (p->data) memcpy(q->data, p->data, sizeof(float) * (size_t)p->numel);
    }
    CHECK_OK(s24_model_to_backend(*gm));
    s24_sgd_free(&o);
    return 0;
}

/* The CPU simulation given scales sc (nl) on x (n images): logits into y. */
static void simulate(s24_model_t *cm, const float *sc, int nl, const float *x, int n, int hw,
                     float *y)
{
    struct s24_infer_opts o;
    s24_infer_opts_init(&o);
    o.dtype = S24_I8, o.act_scales = sc, o.n_act_scales = nl;
    s24_infer_t *p = NULL;
    CHECK_OK(s24_infer_create2(cm, &o, &p));
    if (p) CHECK_OK(s24_infer_run(p, x, n, hw, hw, y));
    s24_infer_free(p);
}

static void check_path(s24_model_t *cm, s24_model_t *gm, const char *arch, int path,
                       const float *x, int n, int n2, int hw, const float *ref)
{
    const char *pn = path_name(path);
    struct s24_infer_opts o;
    s24_infer_opts_init(&o);
    o.path = path, o.dtype = S24_I8;
    o.calib = x, o.calib_n = n, o.calib_h = o.calib_w = hw;
    s24_infer_t *p = NULL;
    CHECK_OK(s24_infer_create2(gm, &o, &p));
    if (!p) return;
    size_t yb = sizeof(float) * 10 * (size_t)n;
    float *y = malloc(yb), *ys = malloc(yb), *y2 = malloc(yb), *y3 = malloc(yb);
    for (int i = 0; i < 10 * n; i++) y[i] = NAN;
    CHECK_OK(s24_infer_run(p, x, n, hw, hw, y));
    int nl = s24_infer_num_layers(p), q8 = 0, allowed = 0, bad = 0;
    float *sc = calloc((size_t)nl, sizeof(float)), *given = calloc((size_t)nl, sizeof(float));
    for (int i = 0; i < nl; i++) {
        const struct s24_infer_layer *L = s24_infer_layer_at(p, i);
        int int8 = L->sparse && L->act_scale > 0;
        sc[i] = int8 ? L->act_scale : 0.0f;
        given[i] = L->act_scale;
        q8 += int8;
        allowed += s24_q8_layer_ok(L->eligible, L->m, L->k);
        /* the engine column says what ran */
        bad += int8 != (strstr(L->engine, "cuSPARSELt int8") != NULL);
        if (int8 || (L->sparse && strstr(L->engine, "fp16")))
            printf("    %-32s %-4s %5lld x %5lld  scale %.3g  %s\n", L->name,
                   int8 ? "int8" : "fp16", (long long)L->m, (long long)L->k,
                   (double)L->act_scale, L->engine);
        if (int8 && path == S24_INFER_SPARSE) {
            double d = 1e30;
            CHECK_OK(s24_infer_cu_layer_diff(s24_infer_cuda_of(p), i, &d));
            CHECK(d < 5e-2, "%s int8 2:4: layer %s: int8 vs its fp16 dense run %g", arch,
                  L->name, d);
        }
    }
    CHECK(bad == 0, "%s int8 %s: %d layers whose engine does not say what ran", arch, pn, bad);
    if (path == S24_INFER_DENSE) CHECK(q8 == 0, "%s int8 dense: %d int8 layers", arch, q8);
    if (path == S24_INFER_SPARSE)
        CHECK(q8 == allowed && q8 > 0, "%s int8 2:4: %d int8 layers, the rule allows %d", arch,
              q8, allowed);
    simulate(cm, sc, nl, x, n, hw, ys);
    double es = t_rel(y, ys, 10 * n), ef = t_rel(y, ref, 10 * n);
    double ag = agree(y, ref, n, 10, 4.0 * rms_err(ys, ref, 10 * n), NULL);
    printf("  %-16s int8 %-5s: %d of %d layers int8 (%d allowed); logits rel %.2e to the CPU "
           "simulation, %.2e to fp32, argmax %.1f%% of decided\n",
           arch, pn, q8, nl, allowed, es, ef, 100 * ag);
    CHECK(es < 3e-2, "%s int8 %s: vs the CPU simulation rel %g", arch, pn, es);
    CHECK(ef < 0.15, "%s int8 %s: vs fp32 rel %g", arch, pn, ef);
    CHECK(ag >= 0.9, "%s int8 %s: argmax agrees on %.1f%%", arch, pn, 100 * ag);
    /* the graph (second run captured, third replayed) and a second batch */
    CHECK_OK(s24_infer_run(p, x, n, hw, hw, y2));
    CHECK_OK(s24_infer_run(p, x, n, hw, hw, y2));
    CHECK(t_rel(y2, y, 10 * n) < 1e-3, "%s int8 %s: replay differs %g", arch, pn,
          t_rel(y2, y, 10 * n));
    CHECK_OK(s24_infer_run(p, x, n2, hw, hw, y2));
    simulate(cm, sc, nl, x, n2, hw, ys);
    CHECK(t_rel(y2, ys, 10 * n2) < 3e-2, "%s int8 %s: batch %d vs the simulation %g", arch, pn,
          n2, t_rel(y2, ys, 10 * n2));
    if (path == S24_INFER_SPARSE) {
        /* the scales given to another plan: the same quantisation */
        struct s24_infer_opts g = o;
        g.calib = NULL, g.act_scales = given, g.n_act_scales = nl;
        s24_infer_t *pg = NULL;
        CHECK_OK(s24_infer_create2(gm, &g, &pg));
        if (pg) {
            CHECK_OK(s24_infer_run(pg, x, n, hw, hw, y3));
            CHECK(t_rel(y3, y, 10 * n) < 1e-5, "%s int8: given scales %g", arch,
                  t_rel(y3, y, 10 * n));
        }
        s24_infer_free(pg);
    }
    s24_infer_free(p);
    free(y), free(ys), free(y2), free(y3), free(sc), free(given);
}

static void check_arch(s24_backend_t *gpu, const char *arch, int n, int n2, int hw)
{
    s24_model_t *cm, *gm;
    if (make_pair(arch, gpu, &cm, &gm)) return;
    struct s24_rng r;
    s24_rng_seed(&r, 11);
    int64_t nx = (int64_t)n * hw * hw * 3;
    float *x = malloc(sizeof(float) * (size_t)nx), *ref = malloc(sizeof(float) * 10 * (size_t)n);
    for (int64_t i = 0; i < nx; i++) x[i] = (float)s24_rng_normal(&r);
    CHECK_OK(s24_model_forward(cm, x, n, hw, hw, ref, 0));
    printf("%s\n", arch);
    static const int paths[3] = {S24_INFER_DENSE, S24_INFER_SPARSE, S24_INFER_AUTO};
    for (int k = 0; k < 3; k++) check_path(cm, gm, arch, paths[k], x, n, n2, hw, ref);
    s24_model_free(cm);
    s24_model_free(gm);
    free(x), free(ref);
}

int main(void)
{
    s24_backend_t *gpu = NULL;
    int rc = s24_backend_create(S24_DEVICE_CUDA, 0, &gpu);
    if (rc != S24_OK) {
        printf("test_infer_int8_gpu: skipped (%s)\n", s24_last_error());
        return t_done("test_infer_int8_gpu");
    }
    printf("test_infer_int8_gpu: %s\n", s24_backend_name(gpu));
    s24_threads_set(8);
    check_arch(gpu, "smallcnn", 64, 7, 32);
    check_arch(gpu, "resnet18", 64, 7, 32);
    check_arch(gpu, "efficientnet_b0", 64, 7, 32);
    s24_backend_free(gpu);
    return t_done("test_infer_int8_gpu");
}
