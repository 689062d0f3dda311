/* permute_search.c: the channel-permutation search engine: stripe-group
 * optimisation with escapes from local optima.
 *
 * Columns sit in stripes of 4 (one 2:4 group per row). A "group" is 2 or 3
 * stripes; a move re-partitions the group's 8 or 12 columns into stripes of 4
 * (all 35 or 5775 ways, or only the 16 single-column swaps for the swap
 * strategy). The objective is a sum over stripes of F(stripe) = sum over rows
 * of the two largest magnitudes, so a move changes only its own stripes and
 * the best move of every group can be cached: after a move only the groups
 * sharing a changed stripe are re-scored. Greedy: apply the best move of all
 * groups until none improves. Then escapes (iterated local search): swap two
 * random columns of two random stripes, descend again, keep the result if it
 * beats the best so far, else undo. Deterministic for a seed: group scoring
 * runs in parallel but every score is computed by one thread in a fixed
 * order, and the random stream is used by the master thread only.
 *
 * It does not read files, compute exact double figures (permute.c does) or
 * know about networks (src/nn/permute_net.c).
 */
#include "permute_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---------------------------------------------------------------- kernel */

void s24_permute_top2_c(const float *const *p, int nsub, int64_t rpad, double *sums)
{
    for (int k = 0; k < nsub; k++) sums[k] = 0.0;
    for (int64_t r0 = 0; r0 < rpad; r0 += S24_PERMUTE_BLOCK) {
        int64_t r1 = r0 + S24_PERMUTE_BLOCK < rpad ? r0 + S24_PERMUTE_BLOCK : rpad;
        for (int k = 0; k < nsub; k++) {
            const float *a = p[4 * k], *b = p[4 * k + 1], *c = p[4 * k + 2], *d = p[4 * k + 3];
            float lane[16] = {0};
            for (int64_t r = r0; r < r1; r += 16)
                for (int l = 0; l < 16; l++) {
                    float va = a[r + l], vb = b[r + l], vc = c[r + l], vd = d[r + l];
                    float mab = va > vb ? va : vb, mcd = vc > vd ? vc : vd;
                    float cross = mab + mcd, sab = va + vb, scd = vc + vd;
                    float same = sab > scd ? sab : scd;
                    lane[l] += cross > same ? cross : same;
                }
            double s = 0.0;
            for (int l = 0; l < 16; l++) s += (double)lane[l];
            sums[k] += s;
        }
    }
}

void s24_permute_maxsum_c(const float *const *x, int nx, const float *a, int64_t rpad,
                          int64_t ncols, double *out, int64_t ldo)
{
    for (int k = 0; k < nx; k++)
        for (int64_t c = 0; c < ncols; c++) out[k * ldo + c] = 0.0;
    for (int64_t r0 = 0; r0 < rpad; r0 += S24_PERMUTE_MAXSUM_BLOCK) {
        int64_t r1 = r0 + S24_PERMUTE_MAXSUM_BLOCK < rpad ? r0 + S24_PERMUTE_MAXSUM_BLOCK : rpad;
        for (int64_t c = 0; c < ncols; c++) {
            const float *ac = a + c * rpad;
            for (int k = 0; k < nx; k++) {
                float lane[16] = {0};
                for (int64_t r = r0; r < r1; r += 16)
                    for (int l = 0; l < 16; l++) {
                        float u = x[k][r + l], v = ac[r + l];
                        lane[l] += u > v ? u : v;
                    }
                double s = 0.0;
                for (int l = 0; l < 16; l++) s += (double)lane[l];
                out[k * ldo + c] += s;
            }
        }
    }
}

static int have_avx512(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
#else
    return 0;
#endif
}

s24_permute_top2_fn s24_permute_pick_top2(void)
{
    return have_avx512() ? s24_permute_top2_avx512 : s24_permute_top2_c;
}

s24_permute_maxsum_fn s24_permute_pick_maxsum(void)
{
    return have_avx512() ? s24_permute_maxsum_avx512 : s24_permute_maxsum_c;
}

/* ---------------------------------------------------------------- move tables */

/* Moves of a group of g stripes as masks over its 4g columns (bit i = column
 * i of the group, stripe s holds bits 4s..4s+3 before the move). part[k*3+j]
 * = the mask of new stripe j; identity first. sub lists the 4-subsets any
 * move needs; subidx maps a mask to its place in sub. */
#define MAX_PARTS 5775
#define MAX_SUBS 495
struct moves {
    int g, nparts, nsubs;
    uint16_t part[MAX_PARTS * 3];
    uint16_t sub[MAX_SUBS];
    int16_t subidx[4096];
};

static int popcount12(unsigned x)
{
    int n = 0;
    for (; x; x &= x - 1) n++;
    return n;
}

static void moves_add_sub(struct moves *mv, unsigned m)
{
    if (mv->subidx[m] < 0) {
        mv->subidx[m] = (int16_t)mv->nsubs;
        mv->sub[mv->nsubs++] = (uint16_t)m;
    }
}

static void moves_add(struct moves *mv, unsigned a, unsigned b, unsigned c)
{
    uint16_t *p = mv->part + 3 * mv->nparts++;
    p[0] = (uint16_t)a, p[1] = (uint16_t)b, p[2] = (uint16_t)c;
    moves_add_sub(mv, a);
    moves_add_sub(mv, b);
    if (c) moves_add_sub(mv, c);
}

static void moves_build(struct moves *mv, enum s24_permute_strategy st)
{
    memset(mv->subidx, 0xff, sizeof mv->subidx);
    mv->nparts = mv->nsubs = 0;
    mv->g = st == S24_PERMUTE_STRIPES12 ? 3 : 2;
    if (mv->g == 2) {
        moves_add(mv, 0x0f, 0xf0, 0);
        /* every 4-subset holding column 0 names one unordered partition */
        for (unsigned a = 1; a < 256; a++) {
            if (!(a & 1) || popcount12(a) != 4 || a == 0x0f) continue;
            moves_add(mv, a, 0xff & ~a, 0);
        }
        return;
    }
    moves_add(mv, 0x00f, 0x0f0, 0xf00);
    for (unsigned a = 1; a < 4096; a++) {
        if (!(a & 1) || popcount12(a) != 4) continue;
        unsigned rest = 0xfff & ~a, low = rest & -rest;
        for (unsigned b = low; b <= rest; b++) {
            if ((b & ~rest) || !(b & low) || popcount12(b) != 4) continue;
            unsigned c = rest & ~b;
            if (a == 0x00f && b == 0x0f0) continue; /* identity, already first */
            moves_add(mv, a, b, c);
        }
    }
}

/* ---------------------------------------------------------------- engine */

struct eng {
    const float *a;         /* (cols, rpad) column-major magnitudes */
    int64_t rpad, cols, S;  /* S stripes */
    int g;
    int64_t ngroups;
    int32_t *grp;           /* (ngroups, g) stripe indices, ascending */
    double *gain;           /* (ngroups) best move's gain (0 = none) */
    int32_t *gpart;         /* (ngroups) best move */
    double *gval;           /* (ngroups, 3) F of the best move's new stripes */
    uint8_t *dirty;         /* (ngroups) */
    int64_t *dlist;         /* (ngroups) */
    int64_t *perm, *best;   /* (cols) current and best-so-far order */
    double *sval, *best_sval; /* (S) F of each stripe */
    uint8_t *touched;       /* (S) changed since the best was recorded */
    uint8_t *used;          /* (S) changed in the current round */
    int64_t *chg;           /* (S) the stripes changed in the current round */
    int64_t *tlist;         /* (S) */
    int64_t ntouched;
    const struct moves *mv;
    s24_permute_top2_fn top2;
    int threads;
};

static int64_t choose2(int64_t n) { return n * (n - 1) / 2; }
static int64_t choose3(int64_t n) { return n * (n - 1) * (n - 2) / 6; }

/* Colex rank of a sorted group. */
static int64_t group_index(int g, const int64_t *s)
{
    return g == 2 ? choose2(s[1]) + s[0] : choose3(s[2]) + choose2(s[1]) + s[0];
}

static void eval_group(struct eng *e, int64_t gi)
{
    const struct moves *mv = e->mv;
    const int32_t *s = e->grp + gi * e->g;
    const float *col[12];
    for (int j = 0; j < e->g; j++)
        for (int i = 0; i < 4; i++) col[4 * j + i] = e->a + e->perm[4 * s[j] + i] * e->rpad;
    const float *p[MAX_SUBS * 4];
    double f[MAX_SUBS];
    for (int k = 0; k < mv->nsubs; k++) {
        unsigned m = mv->sub[k];
        int n = 0;
        for (int i = 0; i < 4 * e->g; i++)
            if (m >> i & 1) p[4 * k + n++] = col[i];
    }
    e->top2(p, mv->nsubs, e->rpad, f);
    const uint16_t *pt = mv->part;
    double id = 0.0, best = -1.0;
    int bk = 0;
    for (int k = 0; k < mv->nparts; k++, pt += 3) {
        double v = f[mv->subidx[pt[0]]] + f[mv->subidx[pt[1]]];
        if (e->g == 3) v += f[mv->subidx[pt[2]]];
        if (k == 0) id = v;
        if (v > best) best = v, bk = k;
    }
    double gain = best - id;
    /* A gain at rounding level is no gain: it would only churn. */
    if (!(gain > 1e-9 * id)) gain = 0.0, bk = 0;
    e->gain[gi] = gain;
    e->gpart[gi] = bk;
    pt = mv->part + 3 * bk;
    for (int j = 0; j < e->g; j++) e->gval[gi * 3 + j] = f[mv->subidx[pt[j]]];
}

/* Mark every group holding stripe x as dirty. */
static int64_t mark_stripe(struct eng *e, int64_t x, int64_t nd)
{
    int64_t s[3];
    for (int64_t y = 0; y < e->S; y++) {
        if (y == x) continue;
        if (e->g == 2) {
            s[0] = x < y ? x : y, s[1] = x < y ? y : x;
            int64_t gi = group_index(2, s);
            if (!e->dirty[gi]) e->dirty[gi] = 1, e->dlist[nd++] = gi;
            continue;
        }
        for (int64_t z = y + 1; z < e->S; z++) {
            if (z == x) continue;
            int64_t t[3] = {x, y, z};
            /* sort three */
            if (t[0] > t[1]) { int64_t u = t[0]; t[0] = t[1]; t[1] = u; }
            if (t[1] > t[2]) { int64_t u = t[1]; t[1] = t[2]; t[2] = u; }
            if (t[0] > t[1]) { int64_t u = t[0]; t[0] = t[1]; t[1] = u; }
            int64_t gi = group_index(3, t);
            if (!e->dirty[gi]) e->dirty[gi] = 1, e->dlist[nd++] = gi;
        }
    }
    return nd;
}

static void eval_dirty(struct eng *e, int64_t nd)
{
    /* Small jobs are not worth waking the team for. */
    int64_t work = nd * e->rpad * e->mv->nsubs;
    int nt = work > 4000000 ? e->threads : 1;
#pragma omp parallel for schedule(dynamic, 4) num_threads(nt) if (nt > 1)
    for (int64_t i = 0; i < nd; i++) eval_group(e, e->dlist[i]);
    for (int64_t i = 0; i < nd; i++) e->dirty[e->dlist[i]] = 0;
}

static void touch(struct eng *e, int64_t s)
{
    if (!e->touched[s]) e->touched[s] = 1, e->tlist[e->ntouched++] = s;
}

/* Apply group gi's best move; the caller re-scores the groups it touched. */
static void apply_move(struct eng *e, int64_t gi)
{
    const int32_t *s = e->grp + gi * e->g;
    const uint16_t *pt = e->mv->part + 3 * e->gpart[gi];
    int64_t cols[12];
    for (int j = 0; j < e->g; j++)
        for (int i = 0; i < 4; i++) cols[4 * j + i] = e->perm[4 * s[j] + i];
    for (int j = 0; j < e->g; j++) {
        int n = 0;
        for (int i = 0; i < 4 * e->g; i++)
            if (pt[j] >> i & 1) e->perm[4 * s[j] + n++] = cols[i];
        e->sval[s[j]] = e->gval[gi * 3 + j];
        touch(e, s[j]);
    }
}

static double stripe_value(struct eng *e, int64_t s)
{
    const float *p[4];
    double f;
    for (int i = 0; i < 4; i++) p[i] = e->a + e->perm[4 * s + i] * e->rpad;
    e->top2(p, 1, e->rpad, &f);
    return f;
}

static double objective(const struct eng *e)
{
    double t = 0.0;
    for (int64_t s = 0; s < e->S; s++) t += e->sval[s];
    return t;
}

struct limits {
    double t_end;      /* 0 = none */
    int64_t max_moves; /* 0 = none */
    int64_t moves;
    enum s24_permute_stop stop;
    int stopped;
};

static int out_of_budget(struct limits *L)
{
    if (L->max_moves && L->moves >= L->max_moves) {
        L->stop = S24_PERMUTE_STOP_ITERS, L->stopped = 1;
    } else if (L->t_end > 0 && s24_now() >= L->t_end) {
        L->stop = S24_PERMUTE_STOP_TIME, L->stopped = 1;
    }
    return L->stopped;
}

/* Greedy: the best move of all groups (lowest index on ties) until none gains. */
static int cmp_gain(const void *pa, const void *pb, void *ctx)
{
    const double *gain = ctx;
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    if (gain[a] != gain[b]) return gain[a] > gain[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Greedy in rounds: the improving moves of all groups, best first, each
 * applied if it shares no stripe with one applied before in the round (the
 * gains of disjoint groups do not interact, so each is exact); then one
 * re-scoring of every group that holds a changed stripe. With one improving
 * group this is plain best-first; with many it saves most of the re-scoring. */
static void descend(struct eng *e, struct limits *L)
{
    for (;;) {
        if (out_of_budget(L)) return;
        int64_t nc = 0;
        for (int64_t gi = 0; gi < e->ngroups; gi++)
            if (e->gain[gi] > 0) e->dlist[nc++] = gi;
        if (!nc) return;
        qsort_r(e->dlist, (size_t)nc, sizeof *e->dlist, cmp_gain, e->gain);
        int64_t nch = 0;
        for (int64_t k = 0; k < nc; k++) {
            const int32_t *s = e->grp + e->dlist[k] * e->g;
            int clash = 0;
            for (int j = 0; j < e->g; j++) clash |= e->used[s[j]];
            if (clash) continue;
            apply_move(e, e->dlist[k]);
            for (int j = 0; j < e->g; j++) e->used[s[j]] = 1, e->chg[nch++] = s[j];
            L->moves++;
            if (L->max_moves && L->moves >= L->max_moves) break;
        }
        int64_t nd = 0;
        for (int64_t k = 0; k < nch; k++) {
            nd = mark_stripe(e, e->chg[k], nd);
            e->used[e->chg[k]] = 0;
        }
        eval_dirty(e, nd);
    }
}

static void record_best(struct eng *e)
{
    for (int64_t k = 0; k < e->ntouched; k++) {
        int64_t s = e->tlist[k];
        memcpy(e->best + 4 * s, e->perm + 4 * s, 4 * sizeof *e->perm);
        e->best_sval[s] = e->sval[s];
        e->touched[s] = 0;
    }
    e->ntouched = 0;
}

/* Undo everything since the best: columns moved only among touched stripes,
 * so restoring those stripes restores the best order. */
static void revert_to_best(struct eng *e)
{
    int64_t nd = 0;
    for (int64_t k = 0; k < e->ntouched; k++) {
        int64_t s = e->tlist[k];
        memcpy(e->perm + 4 * s, e->best + 4 * s, 4 * sizeof *e->perm);
        e->sval[s] = e->best_sval[s];
        e->touched[s] = 0;
        nd = mark_stripe(e, s, nd);
    }
    e->ntouched = 0;
    eval_dirty(e, nd);
}

/* Escape: a random cycle of columns over g + 1 random stripes (fewer when
 * there are fewer): no single group move can undo it, so the descent that
 * follows explores instead of returning at once. */
static void kick(struct eng *e, struct s24_rng *rng)
{
    int64_t st[4] = {0, 0, 0, 0}, pos[4] = {0, 0, 0, 0};
    int n = e->S > e->g ? e->g + 1 : (int)e->S;
    for (int k = 0; k < n; k++) {
        int again;
        do {
            st[k] = (int64_t)s24_rng_below(rng, (uint64_t)e->S);
            again = 0;
            for (int j = 0; j < k; j++) again |= st[j] == st[k];
        } while (again);
    }
    for (int k = 0; k < n; k++) pos[k] = 4 * st[k] + (int64_t)s24_rng_below(rng, 4);
    int64_t first = e->perm[pos[0]];
    for (int k = 0; k + 1 < n; k++) e->perm[pos[k]] = e->perm[pos[k + 1]];
    e->perm[pos[n - 1]] = first;
    int64_t nd = 0;
    for (int k = 0; k < n; k++) {
        e->sval[st[k]] = stripe_value(e, st[k]);
        touch(e, st[k]);
        nd = mark_stripe(e, st[k], nd);
    }
    eval_dirty(e, nd);
}

int s24_permute_engine(const float *a, int64_t rows, int64_t rpad, int64_t cols,
                       enum s24_permute_strategy strategy, const struct s24_permute_opts *o,
                       const struct s24_permute_track *tr, int64_t *perm,
                       struct s24_permute_result *res)
{
    int rc = S24_OK;
    struct eng e;
    memset(&e, 0, sizeof e);
    struct moves *mv = NULL;
    struct limits L = {0};
    double t0 = s24_now();
    if (o->time_budget > 0) L.t_end = t0 + o->time_budget;
    L.max_moves = o->max_moves > 0 ? o->max_moves : 0;
    L.stop = S24_PERMUTE_STOP_CONVERGED;
    int64_t S = cols / 4;
    int g = strategy == S24_PERMUTE_STRIPES12 ? 3 : 2;
    if (S < g) { /* nothing to re-partition */
        res->stop = S24_PERMUTE_STOP_CONVERGED;
        return S24_OK;
    }
    int64_t ng = g == 2 ? choose2(S) : choose3(S);
    if (ng > (int64_t)1 << 22)
        return s24_error(S24_ERR_UNSUPPORTED,
                         "permute: %lld columns make %lld groups of %d stripes, too many; "
                         "use a smaller group (stripes8 or swap)",
                         (long long)cols, (long long)ng, g);
    mv = malloc(sizeof *mv);
    if (!mv) goto nomem;
    moves_build(mv, strategy);
    e.a = a, e.rpad = rpad, e.cols = cols, e.S = S, e.g = g, e.ngroups = ng, e.mv = mv;
    e.top2 = s24_permute_pick_top2();
    e.threads = s24_threads_get();
    e.grp = malloc((size_t)ng * g * sizeof *e.grp);
    e.gain = malloc((size_t)ng * sizeof *e.gain);
    e.gpart = malloc((size_t)ng * sizeof *e.gpart);
    e.gval = malloc((size_t)ng * 3 * sizeof *e.gval);
    e.dirty = calloc((size_t)ng, 1);
    e.dlist = malloc((size_t)ng * sizeof *e.dlist);
    e.best = malloc((size_t)cols * sizeof *e.best);
    e.sval = malloc((size_t)S * sizeof *e.sval);
    e.best_sval = malloc((size_t)S * sizeof *e.best_sval);
    e.touched = calloc((size_t)S, 1);
    e.used = calloc((size_t)S, 1);
    e.chg = malloc((size_t)S * sizeof *e.chg);
    e.tlist = malloc((size_t)S * sizeof *e.tlist);
    if (!e.grp || !e.gain || !e.gpart || !e.gval || !e.dirty || !e.dlist || !e.best || !e.sval ||
        !e.best_sval || !e.touched || !e.used || !e.chg || !e.tlist)
        goto nomem;
    e.perm = perm;
    /* groups in colex order, so group_index() finds them */
    {
        int64_t k = 0;
        if (g == 2) {
            for (int64_t y = 1; y < S; y++)
                for (int64_t x = 0; x < y; x++)
                    e.grp[2 * k] = (int32_t)x, e.grp[2 * k + 1] = (int32_t)y, k++;
        } else {
            for (int64_t z = 2; z < S; z++)
                for (int64_t y = 1; y < z; y++)
                    for (int64_t x = 0; x < y; x++) {
                        e.grp[3 * k] = (int32_t)x, e.grp[3 * k + 1] = (int32_t)y;
                        e.grp[3 * k + 2] = (int32_t)z, k++;
                    }
        }
    }
    for (int64_t s = 0; s < S; s++) e.sval[s] = stripe_value(&e, s);
    memcpy(e.best, perm, (size_t)cols * sizeof *perm);
    memcpy(e.best_sval, e.sval, (size_t)S * sizeof *e.sval);
    for (int64_t gi = 0; gi < ng; gi++) e.dlist[gi] = gi;
    eval_dirty(&e, ng);

    descend(&e, &L);
    double best_obj = objective(&e);
    record_best(&e);
    s24_permute_track(tr, best_obj, res);
    struct s24_rng rng;
    s24_rng_seed(&rng, o->seed);
    int64_t esc = o->escapes < 0 ? 0 : o->escapes, tried = 0;
    while (!L.stopped && tried < esc) {
        if (out_of_budget(&L)) break;
        kick(&e, &rng);
        tried++;
        descend(&e, &L);
        double obj = objective(&e);
        /* Strict: an equal result is a different order of the same worth. */
        if (obj > best_obj + 1e-12 * fabs(best_obj)) {
            best_obj = obj;
            record_best(&e);
            s24_permute_track(tr, best_obj, res);
        } else {
            revert_to_best(&e);
        }
    }
    if (!L.stopped && esc > 0) L.stop = S24_PERMUTE_STOP_ESCAPES;
    /* A stop inside a descent after an escape may leave a worse state than
     * the best: keep the current one only if it is better. */
    if (e.ntouched) {
        double obj = objective(&e);
        if (obj > best_obj) record_best(&e);
    }
    memcpy(perm, e.best, (size_t)cols * sizeof *perm);
    res->stop = L.stop;
    res->moves = L.moves;
    res->escapes = tried;
    (void)rows;
    goto out;
nomem:
    rc = s24_error(S24_ERR_NOMEM, "permute: out of memory for %lld columns", (long long)cols);
out:
    free(mv);
    free(e.grp), free(e.gain), free(e.gpart), free(e.gval), free(e.dirty), free(e.dlist);
    free(e.best), free(e.sval), free(e.best_sval), free(e.touched), free(e.used), free(e.chg),
        free(e.tlist);
    return rc;
}
