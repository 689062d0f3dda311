/* sp90_plan.cu: sparse24's own Hopper 2:4 GEMM plan (s24_sp90_*,
 * sparse24_cuda.h). A plan holds, for each tile configuration built for its
 * dtype that takes its shape (sp90_cfg.cu, listed below), the weight
 * compressed in that configuration's layout and a bound kernel object;
 * s24_sp90_tune times them side by side on the caller's buffers and keeps
 * the fastest, dropping the others' copies of the weight. Until tuned it
 * runs the first that takes the shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/gpu_internal.h"
#include "sp90.h"

/* The configurations sp90_cfg.cu is built into (its SP90_ENTRY list). */
extern const struct s24_sp90_cfg s24_sp90_cfg_0, s24_sp90_cfg_1, s24_sp90_cfg_2, s24_sp90_cfg_3,
    s24_sp90_cfg_4, s24_sp90_cfg_5, s24_sp90_cfg_6, s24_sp90_cfg_7, s24_sp90_cfg_8,
    s24_sp90_cfg_9, s24_sp90_cfg_10, s24_sp90_cfg_11, s24_sp90_cfg_12, s24_sp90_cfg_13;
const struct s24_sp90_cfg *const s24_sp90_cfgs[] = {
    &s24_sp90_cfg_0,  &s24_sp90_cfg_1,  &s24_sp90_cfg_2,  &s24_sp90_cfg_3,  &s24_sp90_cfg_4,
    &s24_sp90_cfg_5,  &s24_sp90_cfg_6,  &s24_sp90_cfg_7,  &s24_sp90_cfg_8,  &s24_sp90_cfg_9,
    &s24_sp90_cfg_10, &s24_sp90_cfg_11, &s24_sp90_cfg_12, &s24_sp90_cfg_13};
const int s24_sp90_ncfgs = (int)(sizeof s24_sp90_cfgs / sizeof s24_sp90_cfgs[0]);

/* Each configuration runs with these scheduler swizzles: a run-time
 * argument, so they cost no compile time; the candidates of one
 * configuration share its compressed weight. */
static const int sp90_swizzles[] = {1, 2, 4};
#define SP90_NSWZ ((int)(sizeof sp90_swizzles / sizeof sp90_swizzles[0]))
#define SP90_MAX 64

struct sp90_cand {
    const struct s24_sp90_cfg *cfg;
    int swizzle;
    int owner; /* -1: a and e are this candidate's; else the index whose they are */
    void *a, *e, *ws, *state;
    size_t a_bytes, e_bytes, ws_bytes;
    const void *bound_x; /* the buffers state was last bound to */
    void *bound_d;
};

struct s24_sp90_plan {
    s24_gpu_t *g;
    enum s24_dtype dt;
    int m, n, k;
    int ncand, pick, have_weight;
    struct sp90_cand c[SP90_MAX];
};

extern "C" int s24_sp90_available(void) { return s24_sp90_ncfgs; }

extern "C" const char *s24_sp90_config_name(int i)
{
    return i >= 0 && i < s24_sp90_ncfgs ? s24_sp90_cfgs[i]->name : "";
}

extern "C" enum s24_dtype s24_sp90_config_dtype(int i)
{
    return i >= 0 && i < s24_sp90_ncfgs ? (enum s24_dtype)s24_sp90_cfgs[i]->dtype
                                        : S24_DTYPE_COUNT;
}

static void cand_free(struct sp90_cand *c)
{
    if (c->state) c->cfg->destroy(c->state);
    if (c->owner < 0) {
        cudaFree(c->a);
        cudaFree(c->e);
    }
    cudaFree(c->ws);
    memset(c, 0, sizeof *c);
}

static struct s24_sp90_args cand_args(const s24_sp90_plan_t *p, const struct sp90_cand *c,
                                      const void *x, void *d)
{
    struct s24_sp90_args a;
    a.m = p->m, a.n = p->n, a.k = p->k;
    a.a = c->a, a.e = c->e, a.b = x, a.d = d;
    a.device = p->g->device, a.sm_count = p->g->props.sm_count;
    a.swizzle = c->swizzle;
    return a;
}

extern "C" int s24_sp90_plan_init(s24_gpu_t *g, enum s24_dtype dt, int64_t m, int64_t n,
                                  int64_t k, int cfg, s24_sp90_plan_t **out)
{
    int rc = S24_OK;
    s24_sp90_plan_t *p = NULL;
    if (out) *out = NULL;
    if (!g || !out) return s24_error(S24_ERR_INVALID, "own sm90 kernel: NULL context or output");
    if (dt != S24_F16 && dt != S24_BF16)
        return s24_error(S24_ERR_UNSUPPORTED, "own sm90 kernel: %s: only F16 and BF16 are built",
                         s24_dtype_name(dt));
    if (cfg < -1 || cfg >= s24_sp90_ncfgs || (cfg >= 0 && s24_sp90_cfgs[cfg]->dtype != (int)dt))
        return s24_error(S24_ERR_INVALID,
                         "own sm90 kernel: configuration %d is not one of the %d built for %s", cfg,
                         s24_sp90_ncfgs, s24_dtype_name(dt));
    if (g->props.cc_major != 9 || g->props.cc_minor != 0)
        return s24_error(S24_ERR_UNSUPPORTED,
                         "own sm90 kernel: built for sm_90a only (%s is sm_%d%d)", g->props.name,
                         g->props.cc_major, g->props.cc_minor);
    /* TMA rows of 16 bytes and whole 2:4 metadata atoms; CUTLASS checks the
     * rest per configuration */
    if (m <= 0 || n <= 0 || k <= 0 || m % 128 || k % 128 || n % 8 || m > 0x7fffffff ||
        n > 0x7fffffff || k > 0x7fffffff)
        return s24_error(S24_ERR_UNSUPPORTED,
                         "own sm90 kernel: m = %lld, n = %lld, k = %lld: needs m and k "
                         "multiples of 128 and n of 8 (pad the problem)",
                         (long long)m, (long long)n, (long long)k);
    p = (s24_sp90_plan_t *)calloc(1, sizeof *p);
    if (!p) return s24_error(S24_ERR_NOMEM, "own sm90 kernel: out of memory");
    p->g = g, p->dt = dt, p->m = (int)m, p->n = (int)n, p->k = (int)k, p->pick = -1;
    S24_GPU_CHECK(cudaSetDevice(g->device));
    for (int i = 0; i < s24_sp90_ncfgs; i++) {
        const struct s24_sp90_cfg *cf = s24_sp90_cfgs[i];
        int first = p->ncand;
        if (cf->dtype != (int)dt || (cfg >= 0 && i != cfg)) continue;
        for (int z = 0; z < SP90_NSWZ && p->ncand < SP90_MAX; z++) {
            struct sp90_cand *c = &p->c[p->ncand];
            c->cfg = cf, c->swizzle = sp90_swizzles[z], c->owner = z ? first : -1;
            struct s24_sp90_args shape = cand_args(p, c, NULL, NULL);
            /* a configuration that refuses the shape is skipped, not an error */
            if ((rc = cf->make(&shape, &c->state, &c->ws_bytes)) != S24_OK) {
                if (cfg >= 0) goto fail; /* the one asked for: its reason */
                rc = S24_OK;
                s24_clear_error();
                memset(c, 0, sizeof *c);
                break;
            }
            if (z == 0) {
                cf->packed_bytes(p->m, p->k, &c->a_bytes, &c->e_bytes);
                S24_GPU_CHECK(cudaMalloc(&c->a, c->a_bytes));
                S24_GPU_CHECK(cudaMalloc(&c->e, c->e_bytes));
            } else {
                c->a = p->c[first].a, c->e = p->c[first].e;
            }
            if (c->ws_bytes) S24_GPU_CHECK(cudaMalloc(&c->ws, c->ws_bytes));
            p->ncand++;
        }
    }
    if (!p->ncand) {
        rc = s24_error(S24_ERR_UNSUPPORTED,
                       "own sm90 kernel: no configuration takes m = %d, n = %d, k = %d (%s)", p->m,
                       p->n, p->k, s24_dtype_name(dt));
        goto fail;
    }
    p->pick = 0;
    *out = p;
    return S24_OK;
fail:
    s24_sp90_plan_free(p);
    return rc;
}

extern "C" int s24_sp90_set_weight(s24_sp90_plan_t *p, const void *d_w)
{
    int rc = S24_OK;
    long long bad = 0;
    if (!p || !d_w) return s24_error(S24_ERR_INVALID, "own sm90 kernel: NULL plan or weight");
    p->have_weight = 0;
    rc = s24_gpu_check24(p->g, p->dt, d_w, p->m, p->k, S24_ORDER_ROW, p->g->stream, &bad);
    if (rc != S24_OK) return rc;
    if (bad)
        return s24_error(S24_ERR_NOT_SPARSE,
                         "own sm90 kernel: weight (%d x %d) is not 2:4 along k: %lld groups of "
                         "four have more than two non-zeros",
                         p->m, p->k, bad);
    for (int i = 0; i < p->ncand; i++) {
        struct sp90_cand *c = &p->c[i];
        if (!c->cfg || c->owner >= 0) continue;
        rc = c->cfg->compress(d_w, p->m, p->k, c->a, c->e, p->g->device, p->g->props.sm_count,
                              p->g->stream);
        if (rc != S24_OK) return rc;
    }
    S24_GPU_CHECK(cudaStreamSynchronize(p->g->stream));
    p->have_weight = 1;
fail:
    return rc;
}

/* Candidate i on x -> d, bound first when the buffers changed. */
static int cand_launch(s24_sp90_plan_t *p, int i, const void *x, void *d, cudaStream_t s)
{
    struct sp90_cand *c = &p->c[i];
    if (c->bound_x != x || c->bound_d != d) {
        struct s24_sp90_args a = cand_args(p, c, x, d);
        int rc = c->cfg->bind(c->state, &a, c->ws, s);
        if (rc != S24_OK) return rc;
        c->bound_x = x, c->bound_d = d;
    }
    return c->cfg->launch(c->state, s);
}

static int sp90_check_run(const s24_sp90_plan_t *p, const void *x, void *d)
{
    if (!p || !x || !d) return s24_error(S24_ERR_INVALID, "own sm90 kernel: NULL plan, X or D");
    if (!p->have_weight)
        return s24_error(S24_ERR_INVALID,
                         "own sm90 kernel: no weight (call s24_sp90_set_weight)");
    if (((uintptr_t)x | (uintptr_t)d) & 15)
        return s24_error(S24_ERR_INVALID, "own sm90 kernel: X and D must be 16-byte aligned");
    return S24_OK;
}

extern "C" int s24_sp90_run(s24_sp90_plan_t *p, const void *d_x, void *d_d, void *stream)
{
    int rc = sp90_check_run(p, d_x, d_d);
    if (rc != S24_OK) return rc;
    return cand_launch(p, p->pick, d_x, d_d, stream ? (cudaStream_t)stream : p->g->stream);
}

struct sp90_call {
    s24_sp90_plan_t *p;
    int i;
    const void *x;
    void *d;
};

static int sp90_call_fn(void *ctx, cudaStream_t s)
{
    struct sp90_call *c = (struct sp90_call *)ctx;
    return cand_launch(c->p, c->i, c->x, c->d, s);
}

extern "C" int s24_sp90_tune(s24_sp90_plan_t *p, const void *d_x, void *d_d, int repeats)
{
    int rc = sp90_check_run(p, d_x, d_d), best = 0;
    struct sp90_call calls[SP90_MAX];
    s24_call_fn fns[SP90_MAX];
    void *ctx[SP90_MAX];
    struct s24_gemm_timing t[SP90_MAX];
    if (rc != S24_OK) return rc;
    if (p->ncand > 1) {
        for (int i = 0; i < p->ncand; i++) {
            calls[i].p = p, calls[i].i = i, calls[i].x = d_x, calls[i].d = d_d;
            fns[i] = sp90_call_fn, ctx[i] = &calls[i];
        }
        rc = s24_gpu_time_interleaved(p->g, p->ncand, fns, ctx, 3, repeats > 0 ? repeats : 21,
                                      1, t);
        if (rc != S24_OK) return rc;
        for (int i = 1; i < p->ncand; i++)
            if (t[i].median_ms < t[best].median_ms) best = i;
    }
    /* keep the winner alone (the others' weight copies are large), taking
     * over the compressed weight it shares */
    struct sp90_cand *w = &p->c[best];
    if (w->owner >= 0) {
        p->c[w->owner].a = p->c[w->owner].e = NULL;
        w->owner = -1;
    }
    struct sp90_cand keep = *w;
    memset(w, 0, sizeof *w);
    w->owner = -1;
    for (int i = 0; i < p->ncand; i++) cand_free(&p->c[i]);
    p->c[0] = keep;
    p->ncand = 1, p->pick = 0;
    return S24_OK;
}

extern "C" int s24_sp90_time(s24_sp90_plan_t *p, const void *d_x, void *d_d, int warmup,
                             int repeats, int flush_l2, struct s24_gemm_timing *out)
{
    struct sp90_call c;
    int rc = s24_sp90_run(p, d_x, d_d, NULL); /* the checks, and one warm call */
    if (rc != S24_OK) return rc;
    c.p = p, c.i = p->pick, c.x = d_x, c.d = d_d;
    return s24_gpu_time_calls(p->g, sp90_call_fn, &c, warmup, repeats, flush_l2, out);
}

struct sp90_other {
    s24_gemm_plan_t *pl;
    const void *x;
    void *d;
};

static int sp90_other_fn(void *ctx, cudaStream_t s)
{
    struct sp90_other *o = (struct sp90_other *)ctx;
    return s24_gemm_run(o->pl, o->x, NULL, o->d, NULL, (void *)s);
}

extern "C" int s24_sp90_time_pair(s24_sp90_plan_t *p, s24_gemm_plan_t *other, const void *d_x,
                                  void *d_d, int warmup, int repeats,
                                  struct s24_gemm_timing out[2])
{
    struct sp90_call c;
    struct sp90_other o = {other, d_x, d_d};
    s24_call_fn fns[2] = {sp90_call_fn, sp90_other_fn};
    void *ctx[2] = {&c, &o};
    int rc = s24_sp90_run(p, d_x, d_d, NULL);
    if (rc != S24_OK) return rc;
    if (!other || !out) return s24_error(S24_ERR_INVALID, "own sm90 kernel: NULL plan or output");
    c.p = p, c.i = p->pick, c.x = d_x, c.d = d_d;
    return s24_gpu_time_interleaved(p->g, 2, fns, ctx, warmup, repeats, 1, out);
}

extern "C" const char *s24_sp90_config(const s24_sp90_plan_t *p)
{
    static thread_local char name[96];
    if (!p || p->pick < 0) return "";
    snprintf(name, sizeof name, "%s_swz%d", p->c[p->pick].cfg->name, p->c[p->pick].swizzle);
    return name;
}

extern "C" void s24_sp90_plan_free(s24_sp90_plan_t *p)
{
    if (!p) return;
    cudaStreamSynchronize(p->g->stream);
    for (int i = 0; i < p->ncand; i++) cand_free(&p->c[i]);
    /* a candidate being made when init failed */
    if (p->ncand < SP90_MAX && p->c[p->ncand].cfg) cand_free(&p->c[p->ncand]);
    free(p);
}
