/* bench_gemm.c: `sparse24 bench gemm`: cuSPARSELt 2:4 GEMM against cuBLASLt
 * dense on the GPU, per shape and dtype: dense time (heuristic and, with
 * --search, autotuned; the faster counts), sparse time with the default and
 * the searched algorithm, speedup, TFLOP/s, the auto mode's pick and time,
 * sparse24's host cost per call over the bare library call, CUDA-graph replay
 * of small calls, and the relative error of sampled outputs against an fp64
 * CPU reference. Method (in the library, s24_gemm_time): warm-up, CUDA events
 * around each call, L2 flushed before each, median of --repeats.
 * Shapes that break cuSPARSELt's size rules run padded (the padded GEMM's
 * time is the sparse time). It does not run PyTorch (bench/torch_gemm.py). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sparse24/sparse24.h"
#include "sparse24/sparse24_cuda.h"

#define CMD "bench gemm"
#define MAX_SHAPES 256

struct shape {
    char name[48];
    int64_t m, n, k;
};

/* Real layer shapes as GEMMs (m = output features/channels, n = tokens or
 * batch x output pixels, k = input features x kernel area). Transformer
 * linears from the issue; ResNet18 and EfficientNet-B0 as sparse24 trains
 * them on CIFAR-10 (32x32 input) at batch 256. */
static const struct shape builtin[] = {
    {"llm.qkvo", 4096, 4096, 4096},
    {"llm.up", 11008, 4096, 4096},
    {"bert.ffn_up", 3072, 16384, 768},
    {"bert.ffn_down", 768, 16384, 3072},
    {"r18.conv1", 64, 262144, 27},
    {"r18.l1.conv", 64, 262144, 576},
    {"r18.l2.conv", 128, 65536, 1152},
    {"r18.l2.down", 128, 65536, 64},
    {"r18.l3.conv", 256, 16384, 2304},
    {"r18.l4.conv", 512, 4096, 4608},
    {"r18.fc", 10, 256, 512},
    {"eb0.s1.project", 16, 65536, 32},
    {"eb0.s2.expand", 96, 65536, 16},
    {"eb0.s2.project", 24, 16384, 96},
    {"eb0.s2b.expand", 144, 16384, 24},
    {"eb0.s3.project", 40, 4096, 144},
    {"eb0.s3b.expand", 240, 4096, 40},
    {"eb0.s4.project", 80, 1024, 240},
    {"eb0.s5.project", 112, 1024, 480},
    {"eb0.s6.expand", 1152, 256, 192},
    {"eb0.head", 1280, 256, 320},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sparse24 bench gemm [--dtype fp16,bf16,int8,fp8] [--sizes LIST] "
            "[--shapes FILE|builtin]\n"
            "                           [--out DIR] [--repeats N] [--search] [--variants] "
            "[--device N]\n"
            "                           [--progress]\n"
            "  --dtype LIST     input dtypes (default fp16,bf16); int8 gives int32, fp8 "
            "(e4m3) bf16\n"
            "  --sizes LIST     square sizes m=n=k (default 256,512,1024,2048,4096,8192,16384;\n"
            "                   'none' for no square sizes)\n"
            "  --shapes FILE    more shapes, one 'name m n k' a line ('#' comments); 'builtin'\n"
            "                   for transformer, ResNet18 and EfficientNet-B0 "
            "(CIFAR, batch 256) layers\n"
            "  --out DIR        write DIR/gemm.csv and DIR/gemm.json (and DIR/gemm_variants.csv)\n"
            "  --repeats N      timed calls per measurement, median reported (default 50)\n"
            "  --search         cusparseLtMatmulSearch and cuBLASLt autotune once per shape\n"
            "  --variants       also time layouts, operand order, split-k and fp16 accumulate\n"
            "                   (square 4096..8192)\n"
            "  --device N       GPU index (default 0)\n"
            "  --progress       " CLI_PROGRESS_HELP "\n"
            "                   (on a terminal it is always drawn)\n"
            "Sparse and dense times are medians of CUDA-event-timed calls after warm-up, with\n"
            "L2 flushed before each. Shapes that break cuSPARSELt's size rules are padded and the\n"
            "padded GEMM's time counts. Needs a GPU: exits 1 without one.\n"
            "exit codes: 0 success, 1 runtime failure (no GPU, CUDA error), 2 bad usage\n");
}

static int add_sizes(const char *list, struct shape *sh, int *n)
{
    char buf[1024];
    if (!strcmp(list, "none")) return 0;
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int64_t v;
        if (cli_parse_i64(t, 1, INT32_MAX, &v) || *n >= MAX_SHAPES) return -1;
        snprintf(sh[*n].name, sizeof sh[*n].name, "square%lld", (long long)v);
        sh[*n].m = sh[*n].n = sh[*n].k = v;
        (*n)++;
    }
    return 0;
}

static int add_shapes_file(const char *path, struct shape *sh, int *n)
{
    if (!strcmp(path, "builtin")) {
        for (size_t i = 0; i < sizeof builtin / sizeof builtin[0] && *n < MAX_SHAPES; i++)
            sh[(*n)++] = builtin[i];
        return 0;
    }
    FILE *f = fopen(path, "r");
    if (!f) return cli_fail(CMD, "%s: cannot open: %s", path, strerror(errno));
    char line[512];
    int ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        char *h = strchr(line, '#');
        if (h) *h = 0;
        char name[64], ms[32], ns[32], ks[32], extra[8];
        int c = sscanf(line, "%63s %31s %31s %31s %7s", name, ms, ns, ks, extra);
        if (c <= 0) continue;
        struct shape s;
        if (c != 4 || cli_parse_i64(ms, 1, INT32_MAX, &s.m) ||
            cli_parse_i64(ns, 1, INT32_MAX, &s.n) || cli_parse_i64(ks, 1, INT32_MAX, &s.k)) {
            fclose(f);
            return cli_fail(CMD, "%s:%d: expected 'name m n k' with positive integers", path, ln);
        }
        if (*n >= MAX_SHAPES) {
            fclose(f);
            return cli_fail(CMD, "%s: more than %d shapes", path, MAX_SHAPES);
        }
        snprintf(s.name, sizeof s.name, "%.47s", name);
        sh[(*n)++] = s;
    }
    fclose(f);
    return 0;
}

static int64_t round_up(int64_t v, int64_t q) { return (v + q - 1) / q * q; }

/* The result of one (shape, dtype). Times in ms, NAN where not measured. */
struct row {
    struct shape s;
    enum s24_dtype in, out;
    int64_t pm, pn, pk;    /* sparse (padded) shape */
    int64_t dm, dn, dk;    /* dense shape (padded only for 8-bit rules) */
    double dense_heur, dense_tuned, dense;
    double sp_default, sp_search, sparse;
    int alg, alg_max, split_k;
    char auto_choice[8];
    double auto_ms, auto_dense_ms; /* AUTO and the baseline, timed interleaved */
    double pair_dense_ms, pair_sparse_ms; /* the two kept plans, timed interleaved */
    char dense_algo[64], auto_algo[64];   /* cuBLASLt picks of the baseline and of AUTO */
    double self_ratio; /* the baseline paired with itself: the pair method's noise */
    double own_ms;     /* sparse24's own kernel: the sm90 one where built, else mma.sp (fp16) */
    char own_kernel[48];   /* "mma.sp" or the sm90 configuration tuned for the shape */
    double own_rel_err;    /* the sm90 kernel's 64 sampled outputs against fp64 */
    double own_pair_ratio; /* cuSPARSELt's median over the own kernel's, timed interleaved */
    double host_run, host_raw, graph_us, eager_us;
    double rel_err;
    char status[160];
};

static double fmin_nan(double a, double b)
{
    if (a != a) return b;
    if (b != b) return a;
    return a < b ? a : b;
}

/* fp64 reference of 64 sampled outputs of the default (TN) layout:
 * W row i and X column j are contiguous, D (i, j) is at j*m + i; dwp holds
 * the weight that made dd. */
static int sample_rel(s24_gpu_t *g, const struct s24_gemm_desc *d, const void *dwp, const void *dx,
                      const void *dd, double *rel)
{
    int rc;
    size_t es = s24_dtype_size(d->in_type), os = s24_dtype_size(d->out_type);
    uint8_t *wr = malloc((size_t)d->k * es), *xc = malloc((size_t)d->k * es);
    uint8_t outv[8];
    double num = 0, den = 0;
    struct s24_rng r;
    if (!wr || !xc) {
        free(wr), free(xc);
        return s24_error(S24_ERR_NOMEM, "sample: out of memory");
    }
    s24_rng_seed(&r, 99);
    for (int s = 0; s < 64; s++) {
        int64_t i = (int64_t)s24_rng_below(&r, (uint64_t)d->m),
                j = (int64_t)s24_rng_below(&r, (uint64_t)d->n);
        if ((rc = s24_gpu_download(g, wr, (const char *)dwp + (size_t)(i * d->k) * es,
                                   (size_t)d->k * es)) ||
            (rc = s24_gpu_download(g, xc, (const char *)dx + (size_t)(j * d->k) * es,
                                   (size_t)d->k * es)) ||
            (rc = s24_gpu_download(g, outv, (const char *)dd + (size_t)(j * d->m + i) * os, os)))
            goto out;
        double acc = 0;
        for (int64_t q = 0; q < d->k; q++)
            acc += s24_load_number(d->in_type, wr, q) * s24_load_number(d->in_type, xc, q);
        double got = s24_load_number(d->out_type, outv, 0);
        num += (got - acc) * (got - acc);
        den += acc * acc;
    }
    *rel = sqrt(num / (den > 0 ? den : 1));
out:
    free(wr), free(xc);
    return rc;
}

/* The same for an engine plan's output, its pruned weight fetched into dwp. */
static int sample_error(s24_gpu_t *g, s24_gemm_plan_t *p, const struct s24_gemm_desc *d, void *dwp,
                        const void *dx, const void *dd, double *rel)
{
    int rc = s24_gemm_plan_get_weight(p, dwp);
    return rc == S24_OK ? sample_rel(g, d, dwp, dx, dd, rel) : rc;
}

struct bufs {
    void *w, *wp, *x, *d;
};

static int time_plan(s24_gemm_plan_t *p, struct bufs *b, int repeats, double *ms)
{
    struct s24_gemm_timing t;
    int rc = s24_gemm_time(p, b->x, NULL, b->d, 5, repeats, 1, &t);
    if (rc == S24_OK) *ms = t.median_ms;
    return rc;
}

/* Make a plan for desc, give it the weight, tune it if asked, time it. */
static int plan_time(s24_gpu_t *g, const struct s24_gemm_desc *d, enum s24_gemm_mode mode,
                     struct bufs *b, int prune, int repeats, double *ms, s24_gemm_plan_t **keep)
{
    s24_gemm_plan_t *p = NULL;
    int rc;
    if ((rc = s24_gemm_plan_init(g, d, mode, &p)) != S24_OK) return rc;
    if ((rc = s24_gemm_plan_set_weight(p, b->w, prune)) != S24_OK) goto out;
    if ((d->search || d->dense_tune || mode == S24_GEMM_AUTO) &&
        (rc = s24_gemm_plan_tune(p, b->x, NULL, b->d)) != S24_OK)
        goto out;
    rc = time_plan(p, b, repeats, ms);
out:
    if (rc == S24_OK && keep) *keep = p;
    else s24_gemm_plan_free(p);
    return rc;
}

/* Calls per plan in a paired timing: at least 51, and 201 where the dense
 * kernel takes under 50 us, since there a median of 51 moves by +-3-5%
 * (one plan paired with itself read 0.967-1.054) and the calls are cheap. */
static int pair_repeats(const struct row *r, int repeats)
{
    int want = r->dense == r->dense && r->dense < 0.05 ? 201 : 51;
    return repeats > want ? repeats : want;
}

static void note(struct row *r, const char *what)
{
    if (r->status[0]) return;
    const char *e = s24_last_error();
    snprintf(r->status, sizeof r->status, "%s: %.120s", what, e[0] ? e : "failed");
    for (char *c = r->status; *c; c++)
        if (*c == ',' || *c == '\n' || *c == '"') *c = ';';
}

/* sparse24's own Hopper kernel (s24_sp90_*, where built and on sm_90):
 * every configuration of the dtype tuned on these buffers, the fastest
 * timed alone and then interleaved with cuSPARSELt's plan (sp). Returns 0
 * where it does not run here, so the caller falls back to mma.sp. */
static int sp90_time(s24_gpu_t *g, struct row *r, struct bufs *b, s24_gemm_plan_t *sp,
                     int repeats)
{
    s24_sp90_plan_t *p = NULL;
    struct s24_gemm_timing t, pt[2];
    if (!s24_sp90_available() || (r->in != S24_F16 && r->in != S24_BF16) || r->out != r->in)
        return 0;
    if (s24_sp90_plan_init(g, r->in, r->s.m, r->s.n, r->s.k, -1, &p) != S24_OK) {
        note(r, "own sm90 plan"); /* a shape off its rules, or no memory: said */
        return 0;
    }
    if (s24_sp90_set_weight(p, b->wp) == S24_OK && s24_sp90_tune(p, b->x, b->d, 11) == S24_OK &&
        s24_sp90_time(p, b->x, b->d, 5, repeats, 1, &t) == S24_OK) {
        r->own_ms = t.median_ms;
        snprintf(r->own_kernel, sizeof r->own_kernel, "%s", s24_sp90_config(p));
        if (s24_sp90_time_pair(p, sp, b->x, b->d, 5, pair_repeats(r, repeats), pt) == S24_OK)
            r->own_pair_ratio = pt[1].median_ms / pt[0].median_ms;
        else
            note(r, "own vs cuSPARSELt pair");
        /* the pair's last call was cuSPARSELt's: run the own kernel alone */
        struct s24_gemm_desc d;
        s24_gemm_desc_init(&d, r->s.m, r->s.n, r->s.k, r->in);
        if (s24_sp90_run(p, b->x, b->d, NULL) != S24_OK || s24_gpu_sync(g) != S24_OK ||
            sample_rel(g, &d, b->wp, b->x, b->d, &r->own_rel_err) != S24_OK)
            note(r, "own sm90 check");
    } else {
        note(r, "own sm90 kernel");
    }
    s24_sp90_plan_free(p);
    return 1;
}

/* sparse24's own mma.sp kernel on the (pruned) weight, where its tile rules
 * allow the unpadded shape; other shapes keep own_ms NaN (not padded: it is
 * a study kernel, not a path the engine picks). */
static void own_time(s24_gpu_t *g, struct row *r, struct bufs *b, int repeats)
{
    s24_own_plan_t *op = NULL;
    struct s24_gemm_timing t;
    if (s24_own_plan_init(g, r->s.m, r->s.n, r->s.k, &op) != S24_OK) {
        s24_clear_error();
        return;
    }
    if (s24_own_plan_set_weight(op, b->wp) == S24_OK &&
        s24_own_time(op, b->x, b->d, 5, repeats, 1, &t) == S24_OK) {
        r->own_ms = t.median_ms;
        snprintf(r->own_kernel, sizeof r->own_kernel, "mma.sp");
    } else {
        note(r, "own kernel");
    }
    s24_own_plan_free(op);
}

static void bench_one(s24_gpu_t *g, struct row *r, int repeats, int search)
{
    struct s24_gemm_desc d;
    struct bufs b = {0};
    int64_t mult[3];
    s24_gemm_plan_t *sp = NULL, *dp = NULL;
    int64_t q;
    s24_gemm_desc_init(&d, r->s.m, r->s.n, r->s.k, r->in);
    r->out = d.out_type;
    s24_gemm_sparse_multiples(r->in, r->out, mult);
    r->pm = round_up(r->s.m, mult[0]);
    r->pn = round_up(r->s.n, mult[1]);
    r->pk = round_up(r->s.k, mult[2]);
    q = r->in == S24_F8_E4M3 ? 16 : r->in == S24_I8 ? 4 : 1;
    r->dm = round_up(r->s.m, q);
    r->dn = round_up(r->s.n, q);
    r->dk = round_up(r->s.k, q);
    size_t wb = s24_gemm_bytes(r->in, r->pm, r->pk), xb = s24_gemm_bytes(r->in, r->pk, r->pn);
    size_t db = s24_gemm_bytes(r->out, r->pm, r->pn);
    if (s24_gpu_alloc(g, wb, &b.w) || s24_gpu_alloc(g, wb, &b.wp) || s24_gpu_alloc(g, xb, &b.x) ||
        s24_gpu_alloc(g, db, &b.d)) {
        note(r, "alloc");
        goto out;
    }
    float scale = r->in == S24_I8 ? 8.0f : 1.0f;
    if (s24_gpu_fill_random(g, r->in, b.w, r->pm * r->pk, 1 + (uint64_t)r->s.m, scale) ||
        s24_gpu_fill_random(g, r->in, b.x, r->pk * r->pn, 2 + (uint64_t)r->s.n, scale)) {
        note(r, "fill");
        goto out;
    }

    /* dense baseline on the full (unpruned) random weight, unpadded where cuBLASLt allows;
     * the faster plan is kept to time AUTO against */
    struct s24_gemm_desc dd = d;
    dd.m = r->dm, dd.n = r->dn, dd.k = r->dk;
    if (plan_time(g, &dd, S24_GEMM_DENSE, &b, 0, repeats, &r->dense_heur, &dp)) note(r, "dense");
    if (search) {
        s24_gemm_plan_t *d2 = NULL;
        dd.dense_tune = 1;
        if (plan_time(g, &dd, S24_GEMM_DENSE, &b, 0, repeats, &r->dense_tuned, &d2)) {
            note(r, "dense tune");
        } else if (!dp || r->dense_tuned < r->dense_heur) {
            s24_gemm_plan_free(dp);
            dp = d2;
        } else {
            s24_gemm_plan_free(d2);
        }
    }
    r->dense = fmin_nan(r->dense_heur, r->dense_tuned);
    if (dp) {
        struct s24_gemm_plan_info info;
        s24_gemm_plan_info(dp, &info);
        snprintf(r->dense_algo, sizeof r->dense_algo, "%s", info.dense_algo);
    }

    /* sparse: default algorithm, then searched, on the (padded) shape */
    struct s24_gemm_desc sd = d;
    sd.m = r->pm, sd.n = r->pn, sd.k = r->pk;
    if (plan_time(g, &sd, S24_GEMM_SPARSE, &b, 1, repeats, &r->sp_default, &sp)) note(r, "sparse");
    if (search) {
        s24_gemm_plan_t *s2 = NULL;
        sd.search = 1;
        if (plan_time(g, &sd, S24_GEMM_SPARSE, &b, 1, repeats, &r->sp_search, &s2)) {
            note(r, "sparse search");
        } else {
            s24_gemm_plan_free(sp);
            sp = s2;
        }
    }
    r->sparse = fmin_nan(r->sp_default, r->sp_search);
    if (sp) {
        struct s24_gemm_plan_info info;
        s24_gemm_plan_info(sp, &info);
        r->alg = info.alg_id;
        r->alg_max = info.alg_max;
        r->split_k = info.split_k;
        /* correctness of what was timed: sampled outputs against fp64 */
        if (s24_gemm_run(sp, b.x, NULL, b.d, NULL, NULL) || s24_gpu_sync(g) ||
            sample_error(g, sp, &sd, b.wp, b.x, b.d, &r->rel_err))
            note(r, "check");
        /* the same two plans again in one interleaved batch: the separate
         * batches above see the clocks of their own moment (the dense 8192^3
         * time moved 1.45-1.67 ms between runs), this pair sees the same */
        if (dp) {
            struct s24_gemm_timing pt[2];
            if (s24_gemm_time_pair(dp, sp, b.x, NULL, b.d, 5, pair_repeats(r, repeats), 1, pt) ==
                S24_OK) {
                r->pair_dense_ms = pt[0].median_ms;
                r->pair_sparse_ms = pt[1].median_ms;
            } else {
                note(r, "pair");
            }
        }
        /* host cost and graphs where the GPU time is small enough to bother */
        if ((double)r->pm * r->pn * r->pk <= 4096.0 * 4096 * 4096) {
            if (s24_gemm_host_cost(sp, b.x, NULL, b.d, 50, &r->host_run, &r->host_raw))
                note(r, "host cost");
            if ((double)r->pm * r->pn * r->pk <= 2048.0 * 2048 * 2048 &&
                s24_gemm_graph_time(sp, b.x, NULL, b.d, 64, 7, &r->graph_us, &r->eager_us))
                note(r, "graph");
        }
    }

    /* auto: on the real (unpadded) shape; it measures once and keeps the faster */
    struct s24_gemm_desc ad = d;
    /* a 2:4 weight needs k in whole groups of four even on the dense path */
    ad.m = r->dm, ad.n = r->dn, ad.k = round_up(r->dk, 4);
    ad.search = search;
    ad.dense_tune = search; /* as the dense baseline it is compared with */
    {
        s24_gemm_plan_t *ap = NULL;
        struct s24_gemm_timing pt[2];
        if (plan_time(g, &ad, S24_GEMM_AUTO, &b, 1, repeats, &r->auto_ms, &ap)) {
            note(r, "auto");
        } else {
            struct s24_gemm_plan_info info;
            s24_gemm_plan_info(ap, &info);
            snprintf(r->auto_choice, sizeof r->auto_choice, "%s", s24_gemm_mode_name(info.chosen));
            snprintf(r->auto_algo, sizeof r->auto_algo, "%s", info.dense_algo);
            /* AUTO's speedup: against the baseline in one interleaved batch,
             * so both see the same clocks (separate batches drift by 5% here) */
            if (dp && s24_gemm_time_pair(dp, ap, b.x, NULL, b.d, 5, pair_repeats(r, repeats), 1,
                                         pt) == S24_OK) {
                r->auto_dense_ms = pt[0].median_ms;
                r->auto_ms = pt[1].median_ms;
            } else {
                note(r, "auto pair");
            }
        }
        s24_gemm_plan_free(ap);
    }
    /* the baseline against itself, timed as AUTO was: how far from 1.00 a
     * ratio of two identical kernels reads at this shape */
    if (dp) {
        struct s24_gemm_timing pt[2];
        if (s24_gemm_time_pair(dp, dp, b.x, NULL, b.d, 5, pair_repeats(r, repeats), 1, pt) ==
            S24_OK)
            r->self_ratio = pt[0].median_ms / pt[1].median_ms;
        else
            note(r, "self pair");
    }
    /* b.wp holds the pruned weight the sparse plan used, unpadded where m and k were whole */
    if (sp && r->pm == r->s.m && r->pk == r->s.k && !sp90_time(g, r, &b, sp, repeats) &&
        r->in == S24_F16)
        own_time(g, r, &b, repeats);
out:
    s24_gemm_plan_free(sp);
    s24_gemm_plan_free(dp);
    s24_gpu_mem_free(g, b.w), s24_gpu_mem_free(g, b.wp), s24_gpu_mem_free(g, b.x),
        s24_gpu_mem_free(g, b.d);
    s24_clear_error();
}

/* Layout, operand-order and split-k variants of the sparse plan at one shape. */
static void bench_variants(s24_gpu_t *g, const struct row *r, int repeats, FILE *vf)
{
    struct bufs b = {0};
    size_t wb = s24_gemm_bytes(r->in, r->pm, r->pk), xb = s24_gemm_bytes(r->in, r->pk, r->pn);
    if (s24_gpu_alloc(g, wb, &b.w) || s24_gpu_alloc(g, xb, &b.x) ||
        s24_gpu_alloc(g, s24_gemm_bytes(r->out, r->pm, r->pn), &b.d) ||
        s24_gpu_fill_random(g, r->in, b.w, r->pm * r->pk, 5, 1.0f) ||
        s24_gpu_fill_random(g, r->in, b.x, r->pk * r->pn, 6, 1.0f))
        goto out;
    for (int v = 0; v < 13; v++) {
        struct s24_gemm_desc d;
        char what[96];
        double base = r->dense;
        s24_gemm_desc_init(&d, r->pm, r->pn, r->pk, r->in);
        d.out_type = r->out;
        if (v < 8) {
            /* 8 layouts: sparse as A or B, op-T or orders, D column- or row-major, searched */
            d.sparse_as_b = v & 1;
            d.use_op_t = (v >> 1) & 1;
            d.d_order = (v >> 2) & 1 ? S24_ORDER_ROW : S24_ORDER_COL;
            d.search = 1;
            if (s24_dtype_size(r->in) == 1 && d.d_order == S24_ORDER_ROW) continue;
            snprintf(what, sizeof what, "W as %s / %s / D %s / search", d.sparse_as_b ? "B" : "A",
                     d.use_op_t ? "op-T" : "orders", d.d_order == S24_ORDER_ROW ? "row" : "col");
        } else if (v < 12) {
            static const int ks[4] = {1, 2, 4, 8};
            d.split_k = ks[v - 8];
            snprintf(what, sizeof what, "split-k %d (default alg)", d.split_k);
        } else {
            /* fp16 accumulate, held against cuBLASLt with fp16 accumulate too */
            struct s24_gemm_desc dd;
            if (r->in != S24_F16) continue;
            d.fp16_accum = 1;
            d.search = 1;
            dd = d;
            dd.search = 0;
            dd.dense_tune = 1;
            base = NAN;
            plan_time(g, &dd, S24_GEMM_DENSE, &b, 0, repeats, &base, NULL);
            snprintf(what, sizeof what, "fp16 accumulate / search (dense fp16-acc %.4f ms)", base);
        }
        double ms = NAN;
        int rc = plan_time(g, &d, S24_GEMM_SPARSE, &b, 1, repeats, &ms, NULL);
        fprintf(vf, "%s,%lld,%lld,%lld,%s,%s,%.5f,%.3f,%s\n", r->s.name, (long long)r->pm,
                (long long)r->pn, (long long)r->pk, s24_gemm_dtype_name(r->in), what, ms, base / ms,
                rc == S24_OK ? "ok" : s24_status_str(rc));
        printf("#   variant %-36s %9.4f ms  %.3fx%s\n", what, ms, base / ms,
               rc == S24_OK ? "" : "  (failed)");
        fflush(vf);
        fflush(stdout);
        s24_clear_error();
    }
out:
    s24_gpu_mem_free(g, b.w), s24_gpu_mem_free(g, b.x), s24_gpu_mem_free(g, b.d);
}

static const char *csv_head =
    "name,m,n,k,dtype,out,pad_m,pad_n,pad_k,dense_heur_ms,dense_tuned_ms,dense_ms,"
    "sparse_default_ms,sparse_search_ms,sparse_ms,alg_id,alg_max,split_k,speedup,dense_tflops,"
    "sparse_tflops,auto_choice,auto_ms,auto_speedup,auto_dense_ms,pair_dense_ms,pair_sparse_ms,"
    "pair_speedup,self_pair_ratio,own_ms,own_speedup,own_kernel,own_pair_ratio,own_rel_err,"
    "dense_algo,"
    "auto_dense_algo,host_run_us,host_raw_us,host_overhead_us,graph_us_per_call,"
    "eager_us_per_call,rel_err,status\n";

static void csv_row(FILE *f, const struct row *r)
{
    double fl = 2.0 * (double)r->s.m * (double)r->s.n * (double)r->s.k;
    fprintf(
        f,
        "%s,%lld,%lld,%lld,%s,%s,%lld,%lld,%lld,%.5f,%.5f,%.5f,%.5f,%.5f,%.5f,%d,%d,%d,%.4f,%.2f,"
        "%.2f,%s,%.5f,"
        "%.4f,%.5f,%.5f,%.5f,%.4f,%.4f,%.5f,%.4f,%s,%.4f,%.3g,%s,%s,%.3f,%.3f,%.3f,%.3f,%.3f,%.3g,"
        "%s\n",
        r->s.name, (long long)r->s.m, (long long)r->s.n, (long long)r->s.k,
        s24_gemm_dtype_name(r->in), s24_gemm_dtype_name(r->out), (long long)r->pm, (long long)r->pn,
        (long long)r->pk, r->dense_heur, r->dense_tuned, r->dense, r->sp_default, r->sp_search,
        r->sparse, r->alg, r->alg_max, r->split_k, r->dense / r->sparse, fl / (r->dense * 1e9),
        fl / (r->sparse * 1e9), r->auto_choice, r->auto_ms, r->auto_dense_ms / r->auto_ms,
        r->auto_dense_ms, r->pair_dense_ms, r->pair_sparse_ms, r->pair_dense_ms / r->pair_sparse_ms,
        r->self_ratio, r->own_ms, r->dense / r->own_ms, r->own_kernel[0] ? r->own_kernel : "-",
        r->own_pair_ratio, r->own_rel_err, r->dense_algo[0] ? r->dense_algo : "-",
        r->auto_algo[0] ? r->auto_algo : "-", r->host_run, r->host_raw, r->host_run - r->host_raw,
        r->graph_us, r->eager_us, r->rel_err, r->status[0] ? r->status : "ok");
}

static void json_row(FILE *f, const struct row *r, int first)
{
#define JN(x) ((x) == (x) ? (x) : -1.0)
    fprintf(f,
            "%s  {\"name\": \"%s\", \"m\": %lld, \"n\": %lld, \"k\": %lld, \"dtype\": \"%s\", "
            "\"out\": \"%s\", \"pad\": [%lld, %lld, %lld], \"dense_ms\": %.5f, "
            "\"dense_heur_ms\": %.5f, \"dense_tuned_ms\": %.5f, \"sparse_ms\": %.5f, "
            "\"sparse_default_ms\": %.5f, \"sparse_search_ms\": %.5f, \"alg_id\": %d, "
            "\"split_k\": %d, \"speedup\": %.4f, \"auto_choice\": \"%s\", \"auto_ms\": %.5f, "
            "\"auto_dense_ms\": %.5f, \"pair_dense_ms\": %.5f, \"pair_sparse_ms\": %.5f, "
            "\"self_pair_ratio\": %.4f, \"own_ms\": %.5f, \"host_run_us\": %.3f, "
            "\"host_raw_us\": %.3f, \"graph_us_per_call\": %.3f, \"eager_us_per_call\": %.3f, "
            "\"rel_err\": %.3g, \"status\": \"%s\"}",
            first ? "" : ",\n", r->s.name, (long long)r->s.m, (long long)r->s.n, (long long)r->s.k,
            s24_gemm_dtype_name(r->in), s24_gemm_dtype_name(r->out), (long long)r->pm,
            (long long)r->pn, (long long)r->pk, JN(r->dense), JN(r->dense_heur), JN(r->dense_tuned),
            JN(r->sparse), JN(r->sp_default), JN(r->sp_search), r->alg, r->split_k,
            JN(r->dense / r->sparse), r->auto_choice, JN(r->auto_ms), JN(r->auto_dense_ms),
            JN(r->pair_dense_ms), JN(r->pair_sparse_ms), JN(r->self_ratio), JN(r->own_ms),
            JN(r->host_run), JN(r->host_raw), JN(r->graph_us), JN(r->eager_us), JN(r->rel_err),
            r->status[0] ? r->status : "ok");
#undef JN
}

/* Render a whole file in memory and write it atomically. */
static int write_rows(const char *path, const struct row *rows, int n, int json)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return cli_fail(CMD, "%s: out of memory", path);
    if (json) {
        fprintf(f, "{\"tool\": \"sparse24 bench gemm\", \"commit\": \"%s\", \"rows\": [\n",
                s24_version_commit());
        for (int i = 0; i < n; i++) json_row(f, &rows[i], i == 0);
        fprintf(f, "\n]}\n");
    } else {
        fputs(csv_head, f);
        for (int i = 0; i < n; i++) csv_row(f, &rows[i]);
    }
    fclose(f);
    int rc = s24_write_file_atomic(path, buf, len);
    free(buf);
    return rc == S24_OK ? 0 : cli_lib_fail(CMD, rc);
}

int bench_gemm_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dtype", required_argument, 0, 'd'}, {"sizes", required_argument, 0, 's'},
        {"shapes", required_argument, 0, 'S'}, {"out", required_argument, 0, 'o'},
        {"repeats", required_argument, 0, 'r'}, {"search", no_argument, 0, 'x'},
        {"variants", no_argument, 0, 'v'}, {"device", required_argument, 0, 'D'},
        {"progress", no_argument, 0, 'G'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *dtypes = "fp16,bf16", *sizes = "256,512,1024,2048,4096,8192,16384", *shapes = NULL,
               *out = NULL;
    int repeats = 50, search = 0, variants = 0, device = 0, c, ret = S24_EXIT_OK,
        force_progress = 0;
    static struct shape sh[MAX_SHAPES];
    int nsh = 0;
    enum s24_dtype dts[8];
    int ndt = 0;
    struct row *rows = NULL;
    int nrows = 0;
    s24_gpu_t *g = NULL;
    FILE *vf = NULL;
    char path[4096];

    optind = 1;
    while ((c = getopt_long(argc, argv, "d:s:S:o:r:xvD:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dtypes = optarg; break;
        case 's': sizes = optarg; break;
        case 'S': shapes = optarg; break;
        case 'o': out = optarg; break;
        case 'r': {
            int64_t v;
            if (cli_parse_i64(optarg, 1, INT32_MAX, &v) || v > 100000)
                return cli_usage(CMD, "bad --repeats '%s'", optarg);
            repeats = (int)v;
            break;
        }
        case 'x': search = 1; break;
        case 'G': force_progress = 1; break;
        case 'v': variants = 1; break;
        case 'D': {
            int64_t v;
            if (!strcmp(optarg, "0")) v = 0;
            else if (cli_parse_i64(optarg, 1, INT32_MAX, &v) || v > 64)
                return cli_usage(CMD, "bad --device '%s'", optarg);
            device = (int)v;
            break;
        }
        case 'h': usage(stdout); return S24_EXIT_OK;
        default: return cli_usage(CMD, "unknown option");
        }
    }
    if (optind < argc) return cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    {
        char buf[256];
        char *save = NULL;
        snprintf(buf, sizeof buf, "%s", dtypes);
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (ndt >= 8 || s24_gemm_dtype_parse(t, &dts[ndt]) != S24_OK ||
                (dts[ndt] != S24_F16 && dts[ndt] != S24_BF16 && dts[ndt] != S24_I8 &&
                 dts[ndt] != S24_F8_E4M3))
                return cli_usage(CMD, "bad --dtype '%s' (fp16, bf16, int8, fp8)", t);
            ndt++;
        }
        if (!ndt) return cli_usage(CMD, "--dtype names no dtype");
    }
    if (add_sizes(sizes, sh, &nsh))
        return cli_usage(CMD, "bad --sizes '%s' (comma-separated positive integers)", sizes);
    if (shapes && add_shapes_file(shapes, sh, &nsh)) return S24_EXIT_FAIL;
    if (!nsh) return cli_usage(CMD, "no shapes to run (--sizes none and no --shapes)");
    if (out && mkdir(out, 0777) && errno != EEXIST)
        return cli_fail(CMD, "%s: cannot create: %s", out, strerror(errno));

    int rc = s24_gpu_init(device, &g);
    if (rc != S24_OK)
        return cli_fail(CMD, "no GPU to benchmark on (or sparse24 built without CUDA): %s",
                        s24_last_error());
    struct s24_gpu_props pr;
    s24_gpu_props(g, &pr);
    cli_stamp(stdout, "# ");
    printf("# device: %s (sm_%d%d, %d SMs, L2 %zu MiB)\n", pr.name, pr.cc_major, pr.cc_minor,
           pr.sm_count, pr.l2_bytes >> 20);
    printf("# cusparseLtGetVersion: %d, cublasLtGetVersion: %d, driver %d, runtime %d\n",
           pr.cusparselt, pr.cublaslt, pr.driver, pr.runtime);
    printf("# method: CUDA events per call, %d repeats (median), warm-up 5, L2 flushed before each "
           "call%s\n",
           repeats, search ? ", cusparseLtMatmulSearch + cuBLASLt autotune" : "");
    printf("# command:");
    for (int i = 0; i < argc; i++) printf(" %s", argv[i]);
    printf("\n%-16s %6s %6s %6s %-5s %10s %10s %7s %7s %7s %7s %-6s %7s %8s %8s %9s\n", "# shape",
           "m", "n", "k", "dtype", "dense_ms", "sparse_ms", "speedup", "pair_x", "dTF/s", "sTF/s",
           "auto", "auto_x", "host_us", "ovh_us", "rel_err");
    fflush(stdout);
    rows = calloc((size_t)nsh * (size_t)ndt, sizeof *rows);
    if (!rows) {
        ret = cli_fail(CMD, "out of memory");
        goto done;
    }
    if (variants && out) {
        snprintf(path, sizeof path, "%s/gemm_variants.csv.partial", out);
        vf = fopen(path, "w");
        if (!vf) {
            ret = cli_fail(CMD, "%s: cannot write: %s", path, strerror(errno));
            goto done;
        }
        fprintf(vf, "name,m,n,k,dtype,variant,sparse_ms,speedup_vs_dense,status\n");
    }
    struct cli_progress prog;
    cli_progress_begin(&prog, CMD, force_progress);
    for (int di = 0; di < ndt; di++)
        for (int si = 0; si < nsh; si++) {
            struct row *r = &rows[nrows++];
            memset(r, 0, sizeof *r);
            r->s = sh[si];
            r->in = dts[di];
            r->dense_heur = r->dense_tuned = r->sp_default = r->sp_search = r->auto_ms =
                r->auto_dense_ms = NAN;
            r->pair_dense_ms = r->pair_sparse_ms = r->self_ratio = r->own_ms = NAN;
            r->own_pair_ratio = r->own_rel_err = NAN;
            r->host_run = r->host_raw = r->graph_us = r->eager_us = r->rel_err = NAN;
            r->alg = r->alg_max = r->split_k = -1;
            snprintf(r->auto_choice, sizeof r->auto_choice, "-");
            cli_progress_step(&prog, nrows - 1, nsh * ndt, "[%d/%d] %s %s", nrows, nsh * ndt,
                              r->s.name, s24_gemm_dtype_name(r->in));
            bench_one(g, r, repeats, search);
            cli_progress_end(&prog);
            printf("%-16s %6lld %6lld %6lld %-5s %10.4f %10.4f %7.3f %7.3f %7.1f %7.1f %-6s %7.3f "
                   "%8.2f %8.2f %9.2g%s%s\n",
                   r->s.name, (long long)r->s.m, (long long)r->s.n, (long long)r->s.k,
                   s24_gemm_dtype_name(r->in), r->dense, r->sparse, r->dense / r->sparse,
                   r->pair_dense_ms / r->pair_sparse_ms,
                   2.0 * (double)r->s.m * r->s.n * r->s.k / (r->dense * 1e9),
                   2.0 * (double)r->s.m * r->s.n * r->s.k / (r->sparse * 1e9), r->auto_choice,
                   r->auto_dense_ms / r->auto_ms, r->host_run, r->host_run - r->host_raw,
                   r->rel_err, r->status[0] ? "  " : "", r->status);
            fflush(stdout);
            if (vf && r->s.m == r->s.n && r->s.n == r->s.k && r->s.m >= 4096 && r->s.m <= 8192 &&
                r->sparse == r->sparse)
                bench_variants(g, r, repeats, vf);
            /* rewrite the results after every row, so a run cut short keeps what it measured */
            if (out) {
                snprintf(path, sizeof path, "%s/gemm.csv", out);
                if (write_rows(path, rows, nrows, 0)) ret = S24_EXIT_FAIL;
            }
        }
    if (out) {
        snprintf(path, sizeof path, "%s/gemm.csv", out);
        if (write_rows(path, rows, nrows, 0)) ret = S24_EXIT_FAIL;
        snprintf(path, sizeof path, "%s/gemm.json", out);
        if (write_rows(path, rows, nrows, 1)) ret = S24_EXIT_FAIL;
        if (vf) {
            /* the .partial file is the progress log a run cut short keeps; the
             * finished table goes through the atomic writer like every output */
            char fin[4096];
            uint8_t *buf = NULL;
            size_t len = 0;
            int bad = fclose(vf) != 0;
            vf = NULL;
            snprintf(path, sizeof path, "%s/gemm_variants.csv.partial", out);
            snprintf(fin, sizeof fin, "%s/gemm_variants.csv", out);
            if (bad) rc = s24_error(S24_ERR_IO, "%s: write failed", path);
            else if ((rc = s24_read_file(path, &buf, &len)) == S24_OK)
                rc = s24_write_file_atomic(fin, buf, len);
            free(buf);
            if (rc != S24_OK) ret = cli_lib_fail(CMD, rc);
            else remove(path);
        }
        if (ret == S24_EXIT_OK) fprintf(stderr, "wrote %s/gemm.csv and %s/gemm.json\n", out, out);
    }
done:
    if (vf) fclose(vf);
    free(rows);
    s24_gpu_free(g);
    return ret;
}
