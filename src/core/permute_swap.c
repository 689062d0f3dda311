/* permute_swap.c: the channel-swap search: greedy single swaps of two
 * columns between stripes, with escapes from local optima.
 *
 * Why it is fast: removing column i from a stripe leaves three values whose
 * largest x1 and second largest x2 decide everything, since the two largest
 * of {x1, x2, x3, v} sum to x1 + max(x2, v) for any incoming v. So the gain of
 * swapping position i of stripe s with position j of stripe t is
 *   M[s,i][col(t,j)] + M[t,j][col(s,i)] + K[s,i] + K[t,j]
 * with M[s,i][c] = sum over rows of max(x2_{s,i}, |w_c|) and
 * K[s,i] = sum over rows of (x1_{s,i} - kept_s). M has one row per stripe
 * position and one column per input channel; a swap changes the rows of two
 * stripes only, and an undone escape restores saved rows instead of
 * recomputing them. Column values never change, so no other entry moves.
 *
 * Deterministic for a seed: sums use the fixed lane order of the kernels in
 * permute_internal.h and the random stream stays on the calling thread.
 * It does not re-partition whole stripe groups (permute_search.c does).
 */
#include "permute_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct sw {
    const float *a;         /* (cols, rpad) column-major magnitudes */
    int64_t rpad, cols, S;
    int64_t *perm, *best;   /* (cols) */
    float *x2, *bx2;        /* (cols, rpad): position 4s+i: second largest of stripe s without i */
    double *K, *bK;         /* (cols) */
    double *M, *bM;         /* (cols, cols) rows by stripe position, columns by channel */
    double *F, *bF;         /* (S) kept magnitude of each stripe (the objective's terms) */
    double *pgain;          /* (S*(S-1)/2) best swap gain of each stripe pair, colex order */
    uint8_t *pbest;         /* same: 4*i + j of that swap */
    uint8_t *blocked;       /* same: its promised gain failed the exact check; cleared when a
                             * side changes */
    uint8_t *touched;       /* (S) */
    int64_t *tlist, ntouched;
    s24_permute_top2_fn top2;
    s24_permute_maxsum_fn maxsum;
    int threads;
};

static int64_t pair_index(int64_t s, int64_t t) /* s < t */
{
    return t * (t - 1) / 2 + s;
}

static inline float fmaxf_(float a, float b) { return a > b ? a : b; }
static inline float fminf_(float a, float b) { return a < b ? a : b; }

/* x2 rows, K and F of stripe s from its current columns. Branch-free so the
 * row loop vectorises: of three values the largest is max3 and the second
 * largest the median, max(min(a, b), min(max(a, b), c)). */
static void stripe_stats(struct sw *e, int64_t s)
{
    const float *c[4];
    for (int i = 0; i < 4; i++) c[i] = e->a + e->perm[4 * s + i] * e->rpad;
    float *x2[4];
    for (int i = 0; i < 4; i++) x2[i] = e->x2 + (4 * s + i) * e->rpad;
    double k[4] = {0, 0, 0, 0};
    for (int64_t r0 = 0; r0 < e->rpad; r0 += 16) {
        /* 16 rows in float, then into the double sums in row order */
        float d[4][16];
        for (int l = 0; l < 16; l++) {
            int64_t r = r0 + l;
            float v0 = c[0][r], v1 = c[1][r], v2 = c[2][r], v3 = c[3][r];
            float cur = fmaxf_(fmaxf_(v0, v1) + fmaxf_(v2, v3), fmaxf_(v0 + v1, v2 + v3));
            float o[4][3] = {{v1, v2, v3}, {v0, v2, v3}, {v0, v1, v3}, {v0, v1, v2}};
            for (int i = 0; i < 4; i++) {
                float a = o[i][0], b = o[i][1], cc = o[i][2];
                float hi = fmaxf_(a, b);
                x2[i][r] = fmaxf_(fminf_(a, b), fminf_(hi, cc));
                d[i][l] = fmaxf_(hi, cc) - cur;
            }
        }
        for (int i = 0; i < 4; i++)
            for (int l = 0; l < 16; l++) k[i] += (double)d[i][l];
    }
    for (int i = 0; i < 4; i++) e->K[4 * s + i] = k[i];
    e->top2(c, 1, e->rpad, &e->F[s]);
}

/* Refresh everything that depends on the contents of the listed stripes. */
static void refresh_stripes(struct sw *e, const int64_t *list, int64_t n)
{
    for (int64_t k = 0; k < n; k++) stripe_stats(e, list[k]);
    /* M rows: one task per (up to 8 stripe positions, chunk of 64 channels),
     * so each channel is read once per 8 rows */
    int64_t npos = 4 * n, nb = (npos + S24_PERMUTE_MAXSUM_NX - 1) / S24_PERMUTE_MAXSUM_NX;
    int64_t chunks = (e->cols + 63) / 64, tasks = nb * chunks;
    /* below a few ms of work a parallel region costs more than it saves,
     * and much more on a machine shared with other jobs */
    int nt = npos * e->cols * e->rpad > 30000000 ? e->threads : 1;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t b = t / chunks, c0 = t % chunks * 64, p0 = b * S24_PERMUTE_MAXSUM_NX;
        int64_t nc = e->cols - c0 < 64 ? e->cols - c0 : 64;
        int nx = (int)(npos - p0 < S24_PERMUTE_MAXSUM_NX ? npos - p0 : S24_PERMUTE_MAXSUM_NX);
        const float *x[S24_PERMUTE_MAXSUM_NX];
        int64_t pos[S24_PERMUTE_MAXSUM_NX];
        for (int k = 0; k < nx; k++) {
            pos[k] = 4 * list[(p0 + k) / 4] + (p0 + k) % 4;
            x[k] = e->x2 + pos[k] * e->rpad;
        }
        double out[S24_PERMUTE_MAXSUM_NX * 64];
        e->maxsum(x, nx, e->a + c0 * e->rpad, e->rpad, nc, out, 64);
        for (int k = 0; k < nx; k++)
            memcpy(e->M + pos[k] * e->cols + c0, out + k * 64, (size_t)nc * sizeof *out);
    }
}

static void pair_eval(struct sw *e, int64_t s, int64_t t)
{
    double best = 0.0;
    int bk = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            int64_t ps = 4 * s + i, pt = 4 * t + j;
            double g = e->M[ps * e->cols + e->perm[pt]] + e->M[pt * e->cols + e->perm[ps]] +
                       e->K[ps] + e->K[pt];
            if (g > best) best = g, bk = 4 * i + j;
        }
    /* Gains at the level of float rounding are no gains: they would only churn. */
    if (!(best > 1e-9 * (e->F[s] + e->F[t])) || e->blocked[pair_index(s, t)]) best = 0.0, bk = 0;
    e->pgain[pair_index(s, t)] = best;
    e->pbest[pair_index(s, t)] = (uint8_t)bk;
}

/* Re-score every pair holding a listed stripe (whose contents changed). */
static void pairs_of(struct sw *e, const int64_t *list, int64_t n)
{
    for (int64_t k = 0; k < n; k++)
        for (int64_t t = 0; t < e->S; t++) {
            int64_t s = list[k];
            if (t != s) e->blocked[pair_index(s < t ? s : t, s < t ? t : s)] = 0;
        }
    /* a pair of two listed stripes is scored twice: harmless and identical */
    for (int64_t k = 0; k < n; k++)
        for (int64_t t = 0; t < e->S; t++) {
            int64_t s = list[k];
            if (t != s) pair_eval(e, s < t ? s : t, s < t ? t : s);
        }
}

static void touch(struct sw *e, int64_t s)
{
    if (!e->touched[s]) e->touched[s] = 1, e->tlist[e->ntouched++] = s;
}

/* Swap and refresh the two stripes; pair scores are the caller's business. */
static void do_swap(struct sw *e, int64_t s, int i, int64_t t, int j)
{
    int64_t u = e->perm[4 * s + i];
    e->perm[4 * s + i] = e->perm[4 * t + j], e->perm[4 * t + j] = u;
    int64_t list[2] = {s, t};
    touch(e, s), touch(e, t);
    refresh_stripes(e, list, 2);
}

struct swlim {
    double t_end;
    int64_t max_moves, moves;
    enum s24_permute_stop stop;
    int stopped;
};

static int over(struct swlim *L)
{
    if (L->max_moves && L->moves >= L->max_moves) L->stop = S24_PERMUTE_STOP_ITERS, L->stopped = 1;
    else if (L->t_end > 0 && s24_now() >= L->t_end) L->stop = S24_PERMUTE_STOP_TIME, L->stopped = 1;
    return L->stopped;
}

static void descend(struct sw *e, struct swlim *L)
{
    int64_t np = e->S * (e->S - 1) / 2;
    for (;;) {
        if (over(L)) return;
        int64_t bi = -1;
        double bg = 0.0;
        for (int64_t p = 0; p < np; p++)
            if (e->pgain[p] > bg) bg = e->pgain[p], bi = p;
        if (bi < 0) return;
        /* decode the colex pair index */
        int64_t t = (int64_t)((1.0 + sqrt(1.0 + 8.0 * (double)bi)) / 2.0);
        while (t * (t - 1) / 2 > bi) t--;
        while ((t + 1) * t / 2 <= bi) t++;
        int64_t s = bi - t * (t - 1) / 2;
        int k = e->pbest[bi];
        double before = e->F[s] + e->F[t];
        do_swap(e, s, k / 4, t, k % 4);
        L->moves++;
        if (e->F[s] + e->F[t] > before) {
            int64_t list[2] = {s, t};
            pairs_of(e, list, 2);
        } else {
            /* The estimate promised a gain the stripe sums do not show (float
             * rounding): undo, and leave this pair alone until a side changes.
             * Every applied move raises the sum of F, so descents end. */
            do_swap(e, s, k / 4, t, k % 4);
            e->blocked[bi] = 1;
            e->pgain[bi] = 0.0;
        }
    }
}

static double objective(const struct sw *e)
{
    double t = 0.0;
    for (int64_t s = 0; s < e->S; s++) t += e->F[s];
    return t;
}

/* Save (to_best) or restore the per-stripe state of the touched stripes. */
static void sync_touched(struct sw *e, int to_best)
{
    for (int64_t k = 0; k < e->ntouched; k++) {
        int64_t s = e->tlist[k];
        size_t pb = 4 * sizeof *e->perm, xb = 4 * (size_t)e->rpad * sizeof *e->x2;
        size_t mb = 4 * (size_t)e->cols * sizeof *e->M;
        if (to_best) {
            memcpy(e->best + 4 * s, e->perm + 4 * s, pb);
            memcpy(e->bx2 + 4 * s * e->rpad, e->x2 + 4 * s * e->rpad, xb);
            memcpy(e->bK + 4 * s, e->K + 4 * s, 4 * sizeof *e->K);
            memcpy(e->bM + 4 * s * e->cols, e->M + 4 * s * e->cols, mb);
            e->bF[s] = e->F[s];
        } else {
            memcpy(e->perm + 4 * s, e->best + 4 * s, pb);
            memcpy(e->x2 + 4 * s * e->rpad, e->bx2 + 4 * s * e->rpad, xb);
            memcpy(e->K + 4 * s, e->bK + 4 * s, 4 * sizeof *e->K);
            memcpy(e->M + 4 * s * e->cols, e->bM + 4 * s * e->cols, mb);
            e->F[s] = e->bF[s];
        }
    }
    if (!to_best) pairs_of(e, e->tlist, e->ntouched);
    for (int64_t k = 0; k < e->ntouched; k++) e->touched[e->tlist[k]] = 0;
    e->ntouched = 0;
}

/* Escape: a random 3-cycle of columns over three stripes (a 2-cycle when
 * there are only two). A single swap would be the descent's first choice
 * to undo; a 3-cycle needs two swaps to undo, so the descent explores. */
static void kick(struct sw *e, struct s24_rng *rng)
{
    int64_t st[3];
    int n = e->S >= 3 ? 3 : 2;
    st[0] = (int64_t)s24_rng_below(rng, (uint64_t)e->S);
    do st[1] = (int64_t)s24_rng_below(rng, (uint64_t)e->S); while (st[1] == st[0]);
    if (n == 3)
        do
            st[2] = (int64_t)s24_rng_below(rng, (uint64_t)e->S);
        while (st[2] == st[0] || st[2] == st[1]);
    int64_t pos[3];
    for (int k = 0; k < n; k++) pos[k] = 4 * st[k] + (int64_t)s24_rng_below(rng, 4);
    int64_t first = e->perm[pos[0]];
    for (int k = 0; k + 1 < n; k++) e->perm[pos[k]] = e->perm[pos[k + 1]];
    e->perm[pos[n - 1]] = first;
    for (int k = 0; k < n; k++) touch(e, st[k]);
    refresh_stripes(e, st, n);
    pairs_of(e, st, n);
}

int s24_permute_swap_engine(const float *a, int64_t rows, int64_t rpad, int64_t cols,
                            const struct s24_permute_opts *o, const struct s24_permute_track *tr,
                            int64_t *perm, struct s24_permute_result *res)
{
    (void)rows;
    int rc = S24_OK;
    struct sw e;
    memset(&e, 0, sizeof e);
    struct swlim L = {0};
    if (o->time_budget > 0) L.t_end = s24_now() + o->time_budget;
    L.max_moves = o->max_moves > 0 ? o->max_moves : 0;
    L.stop = S24_PERMUTE_STOP_CONVERGED;
    int64_t S = cols / 4;
    res->stop = S24_PERMUTE_STOP_CONVERGED;
    if (S < 2) return S24_OK;
    if (cols > 8192)
        return s24_error(S24_ERR_UNSUPPORTED,
                         "permute: the swap search keeps a %lld x %lld table; use stripes8 for "
                         "more than 8192 columns",
                         (long long)cols, (long long)cols);
    e.a = a, e.rpad = rpad, e.cols = cols, e.S = S, e.perm = perm;
    e.top2 = s24_permute_pick_top2();
    e.maxsum = s24_permute_pick_maxsum();
    e.threads = s24_threads_get();
    size_t xn = (size_t)cols * (size_t)rpad, mn = (size_t)cols * (size_t)cols;
    size_t np = (size_t)(S * (S - 1) / 2);
    e.best = malloc((size_t)cols * sizeof *e.best);
    e.x2 = aligned_alloc(64, xn * sizeof *e.x2);
    e.bx2 = aligned_alloc(64, xn * sizeof *e.bx2);
    e.K = malloc((size_t)cols * sizeof *e.K);
    e.bK = malloc((size_t)cols * sizeof *e.bK);
    e.M = malloc(mn * sizeof *e.M);
    e.bM = malloc(mn * sizeof *e.bM);
    e.F = malloc((size_t)S * sizeof *e.F);
    e.bF = malloc((size_t)S * sizeof *e.bF);
    e.pgain = malloc(np * sizeof *e.pgain);
    e.pbest = malloc(np);
    e.blocked = calloc(np, 1);
    e.touched = calloc((size_t)S, 1);
    e.tlist = malloc((size_t)S * sizeof *e.tlist);
    if (!e.best || !e.x2 || !e.bx2 || !e.K || !e.bK || !e.M || !e.bM || !e.F || !e.bF || !e.pgain ||
        !e.pbest || !e.blocked || !e.touched || !e.tlist) {
        rc = s24_error(S24_ERR_NOMEM, "permute: out of memory for the swap search on %lld columns",
                       (long long)cols);
        goto out;
    }
    for (int64_t s = 0; s < S; s++) touch(&e, s);
    refresh_stripes(&e, e.tlist, S);
    for (int64_t t = 1; t < S; t++)
        for (int64_t s = 0; s < t; s++) pair_eval(&e, s, t);
    descend(&e, &L);
    double best_obj = objective(&e);
    s24_permute_track(tr, best_obj, res);
    for (int64_t s = 0; s < S; s++) touch(&e, s); /* save everything once */
    sync_touched(&e, 1);

    struct s24_rng rng;
    s24_rng_seed(&rng, o->seed);
    int64_t esc = o->escapes < 0 ? 0 : o->escapes, tried = 0;
    while (!L.stopped && tried < esc && !over(&L)) {
        kick(&e, &rng);
        tried++;
        descend(&e, &L);
        double obj = objective(&e);
        /* Strict: an equal result is the same worth in a different order. */
        sync_touched(&e, obj > best_obj + 1e-12 * fabs(best_obj));
        if (obj > best_obj + 1e-12 * fabs(best_obj)) {
            best_obj = obj;
            s24_permute_track(tr, best_obj, res);
        }
    }
    if (!L.stopped && esc > 0) L.stop = S24_PERMUTE_STOP_ESCAPES;
    memcpy(perm, e.best, (size_t)cols * sizeof *perm);
    res->stop = L.stop;
    res->moves += L.moves;
    res->escapes += tried;
out:
    free(e.best), free(e.x2), free(e.bx2), free(e.K), free(e.bK), free(e.M), free(e.bM);
    free(e.F), free(e.bF), free(e.pgain), free(e.pbest), free(e.blocked), free(e.touched),
        free(e.tlist);
    return rc;
}
