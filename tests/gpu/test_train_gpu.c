/* test_train_gpu.c: whole training steps of the registry's CIFAR models on
 * the CUDA backend against the same steps on the CPU backend (needs a GPU;
 * `make test-gpu`): the same seed and data, dropout and stochastic depth on
 * (their masks come from the same keys on both), one forward + loss +
 * backward + masked SGD step with 2:4 masks on the eligible weights, then an
 * evaluation forward. Compared: training logits, loss and hits, every
 * parameter gradient, the weights, momentum and running statistics after the
 * step, and the evaluation logits; in strict fp32 (S24_TF32=0, tight
 * budgets), with TF32 (looser ones) and in the bf16 mixed mode (bf16
 * activations and convolutions against the CPU's fp32: the loosest, each
 * printed). Then --deterministic: two GPU runs of
 * three steps give bit-identical weights. resnet18_imagenet, and
 * efficientnet_b0 at 224x224, get an evaluation forward compared
 * (check_eval_224 says why not a step). Without a GPU it reports the skip
 * and passes. */
#include "t.h"

#include <stdint.h>
#include <stdlib.h>

#include "nn/ops.h"
#include "sparse24/sparse24_train.h"

struct run {
    s24_backend_t *be;
    s24_model_t *m;
    struct s24_sgd o;
    float *x;          /* backend (n, hw, hw, 3) */
    int32_t *y;        /* backend (n) */
    double *acc;       /* backend (2) */
    float *logits;     /* host (n, 10): training forward */
    float *eval;       /* host (n, 10): evaluation forward after the step */
    double sums[2];
    size_t xb, yb;     /* bytes of x and y */
    float **grads;     /* host copies of every gradient before the first SGD step
                        * (the step masks the gradients in place) */
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One step of `arch` on backend `be` with the same inputs everywhere. */
static int run_steps(struct run *r, s24_backend_t *be, const char *arch, int n, int hw,
                     const float *hx, const int32_t *hy, int steps)
{
    memset(r, 0, sizeof *r);
    r->be = be;
    size_t xb = s24_be_act_size(be) * (size_t)n * hw * hw * 3;
    r->xb = xb, r->yb = sizeof(int32_t) * (size_t)n;
    int rc = s24_model_create(arch, 10, 3, be, &r->m);
    if (rc == S24_OK) rc = s24_sgd_init(&r->o, r->m, 5e-4f);
    /* 2:4 masks on every eligible weight, as phase 2 trains */
    if (rc == S24_OK) rc = s24_pipeline_masks(r->m, &r->o, 2, 4);
    if (rc == S24_OK) rc = s24_be_alloc(be, xb, (void **)&r->x);
    if (rc == S24_OK) rc = s24_be_alloc(be, sizeof(int32_t) * (size_t)n, (void **)&r->y);
    if (rc == S24_OK) rc = s24_be_alloc(be, 2 * sizeof(double), (void **)&r->acc);
    if (rc != S24_OK) return rc;
    r->logits = malloc(sizeof(float) * 10 * (size_t)n);
    r->eval = malloc(sizeof(float) * 10 * (size_t)n);
    if ((rc = s24_be_put_act(be, r->x, hx, (int64_t)n * hw * hw * 3)) ||
        (rc = be->ops->upload(be, r->y, hy, sizeof(int32_t) * (size_t)n)) ||
        (rc = be->ops->zero(be, r->acc, 2 * sizeof(double))))
        return rc;
    for (int s = 0; s < steps && rc == S24_OK; s++) {
        s24_model_zero_grad(r->m);
        rc = s24_model_forward_be(r->m, r->x, n, hw, hw, 1);
        if (rc == S24_OK && s == 0)
            rc = s24_be_get_act(be, r->logits, s24_model_logits(r->m), 10 * (int64_t)n);
        if (rc == S24_OK) rc = s24_model_loss_backward(r->m, r->y, r->acc);
        if (rc == S24_OK && s == 0) rc = s24_model_to_host(r->m); /* the gradients of step 1 */
        if (rc == S24_OK && s == 0) {
            int np = s24_model_num_params(r->m);
            r->grads = calloc((size_t)np, sizeof *r->grads);
            for (int i = 0; r->grads && i < np; i++) {
                struct s24_param *p = s24_model_param(r->m, i);
                if (!p->grad) continue;
                r->grads[i] = malloc(sizeof(float) * (size_t)p->numel);
                if (r->grads[i]) memcpy(r->grads[i], p->grad, sizeof(float) * (size_t)p->numel);
            }
        }
        if (rc == S24_OK) rc = s24_sgd_step(&r->o, r->m, 0.1f, 0.9f);
    }
    if (rc == S24_OK) rc = be->ops->download(be, r->sums, r->acc, sizeof r->sums);
    if (rc == S24_OK) rc = s24_model_forward_be(r->m, r->x, n, hw, hw, 0);
    if (rc == S24_OK)
        rc = s24_be_get_act(be, r->eval, s24_model_logits(r->m), 10 * (int64_t)n);
    return rc;
}

static void run_free(struct run *r)
{
    if (!r->be) return;
    s24_be_free(r->be, r->acc, 2 * sizeof(double));
    s24_be_free(r->be, r->y, r->yb);
    s24_be_free(r->be, r->x, r->xb);
    if (r->m && r->grads)
        for (int i = 0; i < s24_model_num_params(r->m); i++) free(r->grads[i]);
    free(r->grads);
    if (r->m) s24_sgd_free(&r->o);
    s24_model_free(r->m);
    free(r->logits), free(r->eval);
    memset(r, 0, sizeof *r);
}

/* Gradients are compared before the step; weights, momentum and running
 * stats after it. */
static void compare(const char *arch, const char *mode, struct run *c, struct run *g, int n,
                    double tl, double tg, double tw, double ffloor)
{
    double e = t_rel(g->logits, c->logits, 10 * (int64_t)n);
    CHECK(e < tl, "%s %s: training logits %g", arch, mode, e);
    CHECK(fabs(g->sums[0] - c->sums[0]) <= tl * fabs(c->sums[0]) + 1e-6, "%s %s: loss %g vs %g",
          arch, mode, g->sums[0], c->sums[0]);
    double worst_g = 0, worst_w = 0;
    const char *wg = "", *ww = "";
    /* Some gradients are zero in exact arithmetic (a bias before a conv that
     * feeds a training-mode batch norm: the norm removes any constant), so
     * each tensor's error is taken against its own norm or a floor (1e-2
     * of the median tensor's norm in fp32, 1e-1 with TF32's noise),
     * whichever is larger. */
    int np = s24_model_num_params(c->m), k = 0;
    double *norms = calloc((size_t)np, sizeof *norms);
    for (int i = 0; i < np; i++) {
        struct s24_param *pc = s24_model_param(c->m, i);
        if (!pc->grad) continue;
        double q = 0;
        for (int64_t j = 0; j < pc->numel; j++) q += (double)c->grads[i][j] * c->grads[i][j];
        norms[k++] = sqrt(q);
    }
    qsort(norms, (size_t)k, sizeof *norms, cmp_double);
    double floor = k ? ffloor * norms[k / 2] : 0;
    free(norms);
    for (int i = 0; i < np; i++) {
        struct s24_param *pc = s24_model_param(c->m, i);
        if (!pc->grad) continue;
        double num = 0, den = 0;
        for (int64_t j = 0; j < pc->numel; j++) {
            double d = (double)g->grads[i][j] - c->grads[i][j];
            num += d * d, den += (double)c->grads[i][j] * c->grads[i][j];
        }
        double eg = sqrt(num) / fmax(sqrt(den), floor > 0 ? floor : 1e-30);
        if (!(eg <= worst_g)) worst_g = eg, wg = pc->name;
    }
    CHECK(worst_g < tg, "%s %s: worst gradient %s %g", arch, mode, wg, worst_g);
    CHECK_OK(s24_model_to_host(c->m));
    CHECK_OK(s24_model_to_host(g->m));
    CHECK_OK(s24_sgd_to_host(&c->o));
    CHECK_OK(s24_sgd_to_host(&g->o));
    /* weights: zero-initialised biases are tiny after one step: the same kind of floor */
    double *wn = calloc((size_t)np, sizeof *wn), wfloor = 0;
    k = 0;
    for (int i = 0; wn && i < np; i++) {
        struct s24_param *pc = s24_model_param(c->m, i);
        if (!pc->data || pc->is_buffer) continue;
        double q = 0;
        for (int64_t j = 0; j < pc->numel; j++) q += (double)pc->data[j] * pc->data[j];
        wn[k++] = sqrt(q);
    }
    if (wn && k) {
        qsort(wn, (size_t)k, sizeof *wn, cmp_double);
        wfloor = 1e-2 * wn[k / 2];
    }
    free(wn);
    for (int i = 0; i < s24_model_num_params(c->m); i++) {
        struct s24_param *pc = s24_model_param(c->m, i), *pg = s24_model_param(g->m, i);
        if (!pc->data) continue;
        double num = 0, den = 0;
        for (int64_t j = 0; j < pc->numel; j++) {
            double d = (double)pg->data[j] - pc->data[j];
            num += d * d, den += (double)pc->data[j] * pc->data[j];
        }
        double ew = sqrt(num) / fmax(sqrt(den), wfloor > 0 ? wfloor : 1e-30);
        if (ew > worst_w) worst_w = ew, ww = pc->name;
        if (c->o.buf[i]) { /* buf = g + wd p after one step: the gradient's budget, floored */
            double bn = 0, bd = 0;
            for (int64_t j = 0; j < pc->numel; j++) {
                double d = (double)g->o.buf[i][j] - c->o.buf[i][j];
                bn += d * d, bd += (double)c->o.buf[i][j] * c->o.buf[i][j];
            }
            double eb = sqrt(bn) / fmax(sqrt(bd), floor > 0 ? floor : 1e-30);
            CHECK(eb < tg, "%s %s: momentum of %s %g", arch, mode, pc->name, eb);
        }
        if (c->o.mask[i]) { /* pruned weights exactly zero on the GPU too */
            int64_t bad = 0;
            for (int64_t j = 0; j < pc->numel; j++)
                bad += !c->o.mask[i][j] && (pg->data[j] != 0.0f || g->o.buf[i][j] != 0.0f);
            CHECK(bad == 0, "%s %s: %s has %lld pruned entries non-zero", arch, mode, pc->name,
                  (long long)bad);
        }
    }
    CHECK(worst_w < tw, "%s %s: worst weight / buffer after the step %s %g", arch, mode, ww,
          worst_w);
    printf("  %-16s %s: logits %.2e, worst gradient %.2e (%s), worst weight %.2e (%s)\n", arch,
           mode, t_rel(g->logits, c->logits, 10 * (int64_t)n), worst_g, wg, worst_w, ww);
    /* after one step the running statistics are still mostly their
     * initial 0 / 1, so evaluation mode is badly conditioned: checked in
     * strict fp32 only */
    e = t_rel(g->eval, c->eval, 10 * (int64_t)n);
    if (tl < 1e-3) CHECK(e < 100 * tl, "%s %s: evaluation logits after the step %g", arch, mode, e);
}

/* How far one bf16 rounding of the input alone moves the CPU's own step:
 * the conditioning that every stored bf16 activation meets again, printed
 * beside the mixed mode's errors. */
static void sensitivity(s24_backend_t *cpu, const char *arch, int n, int hw, const float *hx,
                        const int32_t *hy, struct run *c, double *sl, double *sg)
{
    *sl = *sg = 0;
    int64_t nx = (int64_t)n * hw * hw * 3;
    float *rx = malloc(sizeof(float) * (size_t)nx);
    struct run r;
    if (!rx) return;
    for (int64_t i = 0; i < nx; i++) rx[i] = s24_bf16_to_f32(s24_f32_to_bf16(hx[i]));
    CHECK_OK(run_steps(&r, cpu, arch, n, hw, rx, hy, 1));
    double worst = 0;
    const char *wn = "";
    for (int i = 0; r.grads && c->grads && i < s24_model_num_params(c->m); i++) {
        struct s24_param *p = s24_model_param(c->m, i);
        if (!p->grad || !c->grads[i] || !r.grads[i]) continue;
        double e = t_rel(r.grads[i], c->grads[i], p->numel);
        if (e > worst) worst = e, wn = p->name;
    }
    *sl = t_rel(r.logits, c->logits, 10 * (int64_t)n), *sg = worst;
    printf("  %-16s cpu on the bf16-rounded input: logits %.2e, worst gradient %.2e (%s)\n",
           arch, *sl, worst, wn);
    run_free(&r);
    free(rx);
}

static void check_arch(s24_backend_t *cpu, const char *arch, int n, int hw)
{
    struct s24_rng r;
    s24_rng_seed(&r, 11);
    int64_t nx = (int64_t)n * hw * hw * 3;
    float *hx = malloc(sizeof(float) * (size_t)nx);
    int32_t *hy = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < nx; i++) hx[i] = (float)s24_rng_normal(&r);
    for (int i = 0; i < n; i++) hy[i] = (int32_t)s24_rng_below(&r, 10);
    struct run c, g;
    CHECK_OK(run_steps(&c, cpu, arch, n, hw, hx, hy, 1));
    static const char *const modes[3] = {"fp32", "tf32", "bf16"};
    for (int k = 0; k < 3; k++) {
        setenv("S24_TF32", k ? "1" : "0", 1);
        s24_backend_t *gpu = NULL;
        CHECK_OK(s24_backend_create(S24_DEVICE_CUDA, 0, &gpu));
        if (!gpu) break;
        double sl = 0, sg = 0;
        if (k == 2) {
            CHECK_OK(s24_backend_set_precision(gpu, S24_BF16));
            sensitivity(cpu, arch, n, hw, hx, hy, &c, &sl, &sg);
        }
        int rc = run_steps(&g, gpu, arch, n, hw, hx, hy, 1);
        CHECK_OK(rc);
        /* strict fp32 differs from the CPU by summation order only; TF32 by
         * 10-bit mantissas in every conv and GEMM; bf16 by 8-bit mantissas in
         * every stored activation and gradient: each rounding is one like the
         * input's, so the budget is fixed or, where the model is worse
         * conditioned (efficientnet_b0 at its init: one rounding of the input
         * moves the CPU's gradients by 150%), 10x the CPU's own shift in the
         * logits and 2x in the gradients, weights and momentum */
        if (rc == S24_OK) {
            if (k == 0) compare(arch, modes[k], &c, &g, n, 1e-4, 2e-3, 1e-4, 1e-2);
            else if (k == 1) compare(arch, modes[k], &c, &g, n, 3e-2, 1e-1, 3e-2, 1e-1);
            else
                compare(arch, modes[k], &c, &g, n, fmax(6e-2, 10 * sl), fmax(2.5e-1, 2 * sg),
                        fmax(6e-2, 2 * sg), 1e-1);
        }
        run_free(&g);
        s24_backend_free(gpu);
    }
    run_free(&c);
    free(hx), free(hy);
}

/* Two GPU runs with S24_DETERMINISTIC=1 give the same bits. */
static void check_deterministic(const char *arch, int n, int hw)
{
    setenv("S24_DETERMINISTIC", "1", 1);
    setenv("S24_TF32", "1", 1);
    struct s24_rng r;
    s24_rng_seed(&r, 5);
    int64_t nx = (int64_t)n * hw * hw * 3;
    float *hx = malloc(sizeof(float) * (size_t)nx);
    int32_t *hy = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < nx; i++) hx[i] = (float)s24_rng_normal(&r);
    for (int i = 0; i < n; i++) hy[i] = (int32_t)s24_rng_below(&r, 10);
    struct run a, b;
    s24_backend_t *g1 = NULL, *g2 = NULL;
    CHECK_OK(s24_backend_create(S24_DEVICE_CUDA, 0, &g1));
    CHECK_OK(s24_backend_create(S24_DEVICE_CUDA, 0, &g2));
    if (g1 && g2) {
        CHECK_OK(run_steps(&a, g1, arch, n, hw, hx, hy, 3));
        CHECK_OK(run_steps(&b, g2, arch, n, hw, hx, hy, 3));
        CHECK_OK(s24_model_to_host(a.m));
        CHECK_OK(s24_model_to_host(b.m));
        int64_t diff = 0;
        for (int i = 0; i < s24_model_num_params(a.m); i++) {
            struct s24_param *pa = s24_model_param(a.m, i), *pb = s24_model_param(b.m, i);
            if (pa->data)
                diff += memcmp(pa->data, pb->data, sizeof(float) * (size_t)pa->numel) != 0;
        }
        CHECK(diff == 0, "%s: %lld tensors differ between two deterministic runs", arch,
              (long long)diff);
        run_free(&a);
        run_free(&b);
    }
    s24_backend_free(g1);
    s24_backend_free(g2);
    unsetenv("S24_DETERMINISTIC");
    free(hx), free(hy);
}

/* The ImageNet input size: an evaluation forward of two 224x224 images on
 * both backends from the same initialisation, in strict fp32 (the GPU's
 * fused stem and its max pool among them). Evaluation only: a training step
 * of resnet18_imagenet at its random init (live residual branches, no
 * zero_init_residual) is ill-conditioned, 1e-8 relative noise on the input
 * moving some batch-norm gradients by 1% on the CPU alone, which no
 * CPU-vs-GPU budget would separate from a bug; the max pool's backward is
 * checked bit for bit in test_nn_ops_gpu.c. */
static void check_eval_224(s24_backend_t *cpu, const char *arch)
{
    const int n = 2, hw = 224;
    setenv("S24_TF32", "0", 1);
    s24_backend_t *gpu = NULL;
    s24_model_t *mc = NULL, *mg = NULL;
    float *x = malloc(sizeof(float) * (size_t)n * hw * hw * 3);
    float *yc = malloc(sizeof(float) * 1000 * (size_t)n);
    float *yg = malloc(sizeof(float) * 1000 * (size_t)n);
    struct s24_rng r;
    s24_rng_seed(&r, 13);
    for (int64_t i = 0; i < (int64_t)n * hw * hw * 3; i++) x[i] = (float)s24_rng_normal(&r);
    for (int i = 0; i < 1000 * n; i++) yc[i] = yg[i] = NAN;
    CHECK_OK(s24_backend_create(S24_DEVICE_CUDA, 0, &gpu));
    CHECK_OK(s24_model_create(arch, 1000, 9, cpu, &mc));
    if (gpu) CHECK_OK(s24_model_create(arch, 1000, 9, gpu, &mg));
    if (mc && mg) {
        CHECK_OK(s24_model_forward(mc, x, n, hw, hw, yc, 0));
        CHECK_OK(s24_model_forward(mg, x, n, hw, hw, yg, 0));
        double e = t_rel(yg, yc, 1000 * (int64_t)n);
        CHECK(e < 1e-4, "%s: 224x224 evaluation logits, gpu vs cpu %g", arch, e);
    }
    s24_model_free(mg);
    s24_model_free(mc);
    s24_backend_free(gpu);
    free(x), free(yc), free(yg);
}

int main(void)
{
    s24_backend_t *probe = NULL, *cpu = NULL;
    int rc = s24_backend_create(S24_DEVICE_CUDA, 0, &probe);
    if (rc != S24_OK) {
        printf("test_train_gpu: skipped (%s)\n", s24_last_error());
        return t_done("test_train_gpu");
    }
    printf("test_train_gpu: %s\n", s24_backend_name(probe));
    s24_backend_free(probe);
    CHECK_OK(s24_backend_create(S24_DEVICE_CPU, 0, &cpu));
    check_arch(cpu, "smallcnn", 16, 32);
    check_arch(cpu, "resnet18", 8, 32);
    check_arch(cpu, "efficientnet_b0", 8, 32);
    check_eval_224(cpu, "resnet18_imagenet");
    check_eval_224(cpu, "efficientnet_b0");
    check_deterministic("resnet18", 16, 32);
    check_deterministic("efficientnet_b0", 16, 32);
    s24_backend_free(cpu);
    return t_done("test_train_gpu");
}
