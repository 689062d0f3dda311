/* twin.h: tensors held on two backends at once for the GPU op tests
 * (test_nn_ops_gpu.c, test_mixed_elem_gpu.c, test_mixed_norm_gpu.c): C, the
 * CPU backend (the reference), and G, the CUDA one, each test making both.
 * A pair is an fp32 (or byte) tensor on both; an act an activation tensor,
 * fp32 on C and in G's storage type on G (bf16 in the mixed mode), with host
 * copies as floats, its values rounded to G's type before both get them, so
 * both backends see the same inputs. Outputs compare by relative L2 error
 * (t.h's t_rel) or bit for bit; failures name the op and shape in `where`.
 * Functions are static inline so a test that uses a few of them compiles
 * without warnings. */
#ifndef S24_TESTS_TWIN_H
#define S24_TESTS_TWIN_H

#include "t.h"

#include <stdint.h>

#include "nn/ops.h"

static struct s24_backend *C, *G;
static struct s24_rng R;
static char where[160]; /* the op and shape under test */

/* ---------------------------------------------------------------- pairs */
struct pair {
    void *c, *g;   /* the tensor on C and on G */
    void *hc, *hg; /* host copies (pair_get) */
    size_t bytes;
};

static inline int pair_new(struct pair *p, size_t bytes)
{
    int rc;
    memset(p, 0, sizeof *p);
    p->bytes = bytes;
    rc = s24_be_alloc(C, bytes, &p->c);
    if (rc == S24_OK) rc = s24_be_alloc(G, bytes, &p->g);
    p->hc = malloc(bytes ? bytes : 1);
    p->hg = malloc(bytes ? bytes : 1);
    if (rc == S24_OK && (!p->hc || !p->hg)) rc = s24_error(S24_ERR_NOMEM, "test: host copies");
    if (rc != S24_OK) CHECK_OK(rc);
    return rc == S24_OK;
}

static inline void pair_free(struct pair *p)
{
    s24_be_free(C, p->c, p->bytes);
    s24_be_free(G, p->g, p->bytes);
    free(p->hc);
    free(p->hg);
    memset(p, 0, sizeof *p);
}

/* The same host bytes into both tensors. */
static inline void pair_put(struct pair *p, const void *h)
{
    CHECK_OK(C->ops->upload(C, p->c, h, p->bytes));
    CHECK_OK(G->ops->upload(G, p->g, h, p->bytes));
}

/* All bytes 0xff: NaN floats and doubles, -1 integers. */
static inline void pair_poison(struct pair *p)
{
    memset(p->hc, 0xff, p->bytes);
    pair_put(p, p->hc);
}

static inline void pair_get(struct pair *p)
{
    CHECK_OK(C->ops->download(C, p->hc, p->c, p->bytes));
    CHECK_OK(G->ops->download(G, p->hg, p->g, p->bytes));
}

/* The CPU's values into the GPU's tensor too, so a later op sees equal inputs. */
static inline void pair_sync_from_cpu(struct pair *p)
{
    CHECK_OK(C->ops->download(C, p->hc, p->c, p->bytes));
    CHECK_OK(G->ops->upload(G, p->g, p->hc, p->bytes));
}

static inline void fill(void *h, size_t n, float lo, float hi)
{
    float *f = h;
    for (size_t i = 0; i < n; i++)
        f[i] = s24_rng_uniformf(&R, lo, hi);
}

static inline void expect_close(struct pair *p, double tol, const char *what)
{
    pair_get(p);
    double e = t_rel(p->hg, p->hc, p->bytes / sizeof(float));
    CHECK(e <= tol, "%s: %s: relative error %.3g (tolerance %.1g)", where, what, e, tol);
}

static inline void expect_same(struct pair *p, const char *what)
{
    pair_get(p);
    const unsigned char *a = p->hg, *b = p->hc;
    size_t i = 0;
    while (i < p->bytes && a[i] == b[i])
        i++;
    CHECK(i == p->bytes, "%s: %s: first differing byte %zu of %zu (gpu 0x%02x, cpu 0x%02x)", where,
          what, i, p->bytes, i < p->bytes ? a[i] : 0, i < p->bytes ? b[i] : 0);
}

/* ---------------------------------------------------------------- activations */
/* n floats on C, n of G's activation type on G at element offset `off` of
 * their allocation (off 1: 2-byte aligned only, in bf16). */
struct act {
    float *c;
    void *gbase, *g;
    float *hc, *hg; /* host copies (act_get), as floats */
    int64_t n;
    size_t gbytes;
};

static inline float round_act(float v)
{
    return G->act == S24_BF16 ? s24_bf16_to_f32(s24_f32_to_bf16(v)) : v;
}

static inline int act_new(struct act *a, int64_t n, int off)
{
    int rc;
    memset(a, 0, sizeof *a);
    a->n = n;
    a->gbytes = s24_be_act_size(G) * (size_t)(n + off);
    rc = s24_be_alloc(C, sizeof(float) * (size_t)n, (void **)&a->c);
    if (rc == S24_OK) rc = s24_be_alloc(G, a->gbytes, &a->gbase);
    a->g = a->gbase ? (char *)a->gbase + s24_be_act_size(G) * (size_t)off : NULL;
    a->hc = malloc(sizeof(float) * (size_t)(n ? n : 1));
    a->hg = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (rc == S24_OK && (!a->hc || !a->hg)) rc = s24_error(S24_ERR_NOMEM, "test: host copies");
    if (rc != S24_OK) CHECK_OK(rc);
    return rc == S24_OK;
}

static inline void act_free(struct act *a)
{
    s24_be_free(C, a->c, sizeof(float) * (size_t)a->n);
    s24_be_free(G, a->gbase, a->gbytes);
    free(a->hc);
    free(a->hg);
    memset(a, 0, sizeof *a);
}

/* h (n floats; may be a->hc) rounded to G's type into a->hc, then into
 * both: C gets the rounded floats, G their bits (s24_be_put_act's rounding
 * then exact). */
static inline void act_put(struct act *a, const float *h)
{
    for (int64_t i = 0; i < a->n; i++)
        a->hc[i] = round_act(h[i]);
    CHECK_OK(C->ops->upload(C, a->c, a->hc, sizeof(float) * (size_t)a->n));
    CHECK_OK(s24_be_put_act(G, a->g, a->hc, a->n));
}

/* Uniform in [lo, hi), rounded, into both. */
static inline void act_fill(struct act *a, float lo, float hi)
{
    fill(a->hc, (size_t)a->n, lo, hi);
    act_put(a, a->hc);
}

/* NaN on both: 0xff bytes (0xffff is a bf16 NaN too). */
static inline void act_poison(struct act *a)
{
    memset(a->hc, 0xff, sizeof(float) * (size_t)a->n);
    CHECK_OK(C->ops->upload(C, a->c, a->hc, sizeof(float) * (size_t)a->n));
    CHECK_OK(G->ops->upload(G, a->g, a->hc, s24_be_act_size(G) * (size_t)a->n));
}

static inline void act_get(struct act *a)
{
    CHECK_OK(C->ops->download(C, a->hc, a->c, sizeof(float) * (size_t)a->n));
    CHECK_OK(s24_be_get_act(G, a->hg, a->g, a->n));
}

/* The CPU's values, rounded, into both (so a later op sees equal inputs). */
static inline void act_sync_from_cpu(struct act *a)
{
    CHECK_OK(C->ops->download(C, a->hc, a->c, sizeof(float) * (size_t)a->n));
    act_put(a, a->hc);
}

static inline void act_expect_close(struct act *a, double tol, const char *what)
{
    act_get(a);
    double e = t_rel(a->hg, a->hc, (size_t)a->n);
    CHECK(e <= tol, "%s: %s: relative error %.3g (tolerance %.1g)", where, what, e, tol);
}

#endif
