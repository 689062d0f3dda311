/* permute.c: the public face of channel-permutation search on one matrix:
 * option defaults, the choice of strategy, input checks, exact figures in
 * double (kept magnitude, 50%-per-row bound, efficacy), ASP's matrix view of
 * a conv weight, and permuting a tensor along one dimension.
 *
 * The search itself is permute_search.c; this file does not know about
 * networks (src/nn/permute_net.c) or files.
 */
#include "permute_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const strategy_names[S24_PERMUTE_STRATEGY_COUNT] = {
    "default", "swap", "stripes8", "stripes12", "identity",
};

const char *s24_permute_strategy_name(enum s24_permute_strategy s)
{
    return (unsigned)s < S24_PERMUTE_STRATEGY_COUNT ? strategy_names[s] : "?";
}

int s24_permute_strategy_parse(const char *name, enum s24_permute_strategy *out)
{
    for (int i = 0; name && i < S24_PERMUTE_STRATEGY_COUNT; i++)
        if (!strcmp(name, strategy_names[i])) {
            *out = (enum s24_permute_strategy)i;
            return S24_OK;
        }
    return s24_error(S24_ERR_INVALID,
                     "unknown permutation strategy '%s' (default, swap, stripes8, stripes12, "
                     "identity)",
                     name ? name : "(null)");
}

const char *s24_permute_stop_name(enum s24_permute_stop s)
{
    switch (s) {
    case S24_PERMUTE_STOP_CONVERGED: return "converged";
    case S24_PERMUTE_STOP_ESCAPES: return "escapes used up";
    case S24_PERMUTE_STOP_ITERS: return "move limit";
    case S24_PERMUTE_STOP_TIME: return "time budget";
    }
    return "?";
}

void s24_permute_opts_default(struct s24_permute_opts *o)
{
    memset(o, 0, sizeof *o);
    o->strategy = S24_PERMUTE_DEFAULT;
    o->seed = 1;
    o->escapes = -1;
}

int s24_permute_check(const int64_t *perm, int64_t n, const char *what)
{
    if (!perm || n < 0) return s24_error(S24_ERR_INVALID, "%s: no permutation", what);
    uint8_t *seen = calloc(n > 0 ? (size_t)n : 1, 1);
    if (!seen) return s24_error(S24_ERR_NOMEM, "%s: out of memory", what);
    int rc = S24_OK;
    for (int64_t j = 0; j < n; j++) {
        if (perm[j] < 0 || perm[j] >= n) {
            rc = s24_error(S24_ERR_INVALID, "%s: entry %lld is %lld, outside 0..%lld", what,
                           (long long)j, (long long)perm[j], (long long)n - 1);
            break;
        }
        if (seen[perm[j]]++) {
            rc = s24_error(S24_ERR_INVALID, "%s: %lld appears twice (not a permutation)", what,
                           (long long)perm[j]);
            break;
        }
    }
    free(seen);
    return rc;
}

static int dtype_ok(enum s24_dtype dt)
{
    return dt == S24_F32 || dt == S24_F64 || dt == S24_F16 || dt == S24_BF16;
}

static int shape_ok(enum s24_dtype dt, const void *w, int64_t rows, int64_t cols)
{
    if (!w) return s24_error(S24_ERR_INVALID, "permute: NULL matrix");
    if (!dtype_ok(dt))
        return s24_error(S24_ERR_INVALID,
                         "permute: dtype %s is not a float dtype (F32, F64, F16, BF16)",
                         s24_dtype_name(dt));
    if (rows < 1 || cols < 1 || rows > INT64_MAX / 16 / cols)
        return s24_error(S24_ERR_INVALID, "permute: bad matrix shape %lld x %lld", (long long)rows,
                         (long long)cols);
    if (cols % 4)
        return s24_error(S24_ERR_INVALID,
                         "permute: %lld columns (input channels) is not a multiple of 4",
                         (long long)cols);
    return S24_OK;
}

/* Sum of the two largest of four. */
static double top2(double a, double b, double c, double d)
{
    double x = (a > b ? a : b) + (c > d ? c : d), y = a + b, z = c + d;
    if (y > x) x = y;
    if (z > x) x = z;
    return x;
}

/* Sum of the k largest of x[0..n) (reorders x): quickselect, O(n) on average. */
static double sum_largest(double *x, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pv = x[lo + (hi - lo) / 2];
        int64_t i = lo, j = hi;
        while (i <= j) { /* larger values to the left */
            while (x[i] > pv) i++;
            while (x[j] < pv) j--;
            if (i <= j) {
                double t = x[i];
                x[i] = x[j], x[j] = t;
                i++, j--;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
    double s = 0.0;
    for (int64_t c = 0; c < k; c++) s += x[c];
    return s;
}

int s24_permute_kept(enum s24_dtype dt, const void *w, int64_t rows, int64_t cols,
                     const int64_t *perm, double *kept, double *row_bound)
{
    int rc = shape_ok(dt, w, rows, cols);
    if (rc) return rc;
    if (perm && (rc = s24_permute_check(perm, cols, "permute: permutation"))) return rc;
    double *row = malloc((size_t)cols * sizeof *row);
    if (!row) return s24_error(S24_ERR_NOMEM, "permute: out of memory");
    double k = 0.0, b = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++)
            row[c] = fabs(s24_load_float(dt, w, r * cols + (perm ? perm[c] : c)));
        for (int64_t c = 0; c < cols; c += 4) k += top2(row[c], row[c + 1], row[c + 2], row[c + 3]);
        if (row_bound) b += sum_largest(row, cols, cols / 2);
    }
    free(row);
    if (kept) *kept = k;
    if (row_bound) *row_bound = b;
    return S24_OK;
}

static double efficacy(double kd, double kp, double bound)
{
    double gap = bound - kd;
    return gap > 0 ? 100.0 * (kp - kd) / gap : 0.0;
}

/* The default: channel swaps with 3-cycle escapes. One escape costs about
 * as much as a few swaps, each O(rows x cols), so the count shrinks as the
 * matrix grows: 4e8 / (rows x cols), within [50, 1000]: 0.1-3 s for
 * conv-sized matrices on a 2-core machine. Measured against the other
 * strategies in docs/permute.md. */
static void resolve_default(int64_t rows, int64_t cols, enum s24_permute_strategy *st,
                            int64_t *escapes)
{
    int dflt = *st == S24_PERMUTE_DEFAULT;
    if (dflt) *st = S24_PERMUTE_SWAP;
    if (*escapes >= 0) return;
    if (!dflt) {
        *escapes = *st == S24_PERMUTE_SWAP ? 100 : 0;
        return;
    }
    double work = (double)rows * (double)cols, e = 4e8 / (work > 1 ? work : 1);
    *escapes = e > 1000 ? 1000 : e < 50 ? 50 : (int64_t)e;
}

int s24_permute_search(enum s24_dtype dt, const void *w, int64_t rows, int64_t cols,
                       const struct s24_permute_opts *o, int64_t *perm,
                       struct s24_permute_result *res)
{
    struct s24_permute_opts def;
    struct s24_permute_result tmp;
    if (!o) s24_permute_opts_default(&def), o = &def;
    if (!res) res = &tmp;
    memset(res, 0, sizeof *res);
    int rc = shape_ok(dt, w, rows, cols);
    if (rc) return rc;
    if (!perm) return s24_error(S24_ERR_INVALID, "permute: NULL output permutation");
    if ((unsigned)o->strategy >= S24_PERMUTE_STRATEGY_COUNT)
        return s24_error(S24_ERR_INVALID, "permute: bad strategy %d", (int)o->strategy);
    double t0 = s24_now();
    struct s24_permute_opts run = *o;
    resolve_default(rows, cols, &run.strategy, &run.escapes);
    res->strategy = run.strategy;
    res->rows = rows, res->cols = cols;
    for (int64_t j = 0; j < cols; j++) perm[j] = j;
    int64_t bad = s24_find_nonfinite(dt, w, rows * cols);
    if (bad >= 0)
        return s24_error(S24_ERR_INVALID,
                         "permute: element (%lld, %lld) is %s; the search needs finite weights",
                         (long long)(bad / cols), (long long)(bad % cols),
                         isnan(s24_load_float(dt, w, bad)) ? "NaN" : "infinite");

    /* (cols, rpad) column-major float magnitudes, zero padded to a multiple of 16 rows */
    int64_t rpad = (rows + 15) / 16 * 16;
    float *a = NULL;
    double total = 0.0;
    a = aligned_alloc(64, (size_t)cols * (size_t)rpad * sizeof *a);
    if (!a) return s24_error(S24_ERR_NOMEM, "permute: out of memory for a %lld x %lld matrix",
                             (long long)rows, (long long)cols);
    for (int64_t c = 0; c < cols; c++)
        memset(a + c * rpad + rows, 0, (size_t)(rpad - rows) * sizeof *a);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            double v = s24_load_float(dt, w, r * cols + c);
            total += fabs(v);
            a[c * rpad + r] = (float)fabs(v);
        }
    res->total = total;
    double kd, kp, bound;
    if ((rc = s24_permute_kept(dt, w, rows, cols, NULL, &kd, &bound))) {
        free(a);
        return rc;
    }
    struct s24_permute_track tr = {0.0, t0};
    res->seconds_to_target = -1.0;
    if (o->target_efficacy > 0) {
        tr.target = kd + o->target_efficacy / 100.0 * (bound - kd);
        s24_permute_track(&tr, kd, res); /* a target of 0 gap is met at once */
    }
    if (run.strategy == S24_PERMUTE_SWAP) {
        rc = s24_permute_swap_engine(a, rows, rpad, cols, &run, &tr, perm, res);
    } else if (run.strategy != S24_PERMUTE_IDENTITY) {
        rc = s24_permute_engine(a, rows, rpad, cols, run.strategy, &run, &tr, perm, res);
    } else {
        res->stop = S24_PERMUTE_STOP_CONVERGED;
    }
    free(a);
    if (rc) return rc;
    if ((rc = s24_permute_kept(dt, w, rows, cols, perm, &kp, NULL))) return rc;
    /* The search scores in float; should rounding ever make its answer worse
     * than the natural order in exact arithmetic, keep the natural order. */
    if (kp < kd) {
        for (int64_t j = 0; j < cols; j++) perm[j] = j;
        kp = kd;
    }
    res->kept_default = kd;
    res->kept_permuted = kp;
    res->row_bound = bound;
    res->efficacy = efficacy(kd, kp, bound);
    res->seconds = s24_now() - t0;
    return S24_OK;
}

int s24_permute_matrix(enum s24_dtype dt, const void *w, int ndim, const int64_t *shape,
                       double **mat, int64_t *rows, int64_t *cols)
{
    *mat = NULL;
    if (!w || !shape || !dtype_ok(dt))
        return s24_error(S24_ERR_INVALID, "permute: need a float weight (F32, F64, F16, BF16)");
    if (ndim != 2 && ndim != 4)
        return s24_error(S24_ERR_INVALID,
                         "permute: a %d-D tensor has no input-channel view (need 2-D or 4-D OIHW)",
                         ndim);
    for (int d = 0; d < ndim; d++)
        if (shape[d] < 1 || shape[d] > ((int64_t)1 << 31))
            return s24_error(S24_ERR_INVALID, "permute: dimension %d is %lld", d,
                             (long long)shape[d]);
    int64_t oc = shape[0], ic = shape[1], kk = ndim == 4 ? shape[2] * shape[3] : 1;
    if (oc * kk > INT64_MAX / 8 / ic)
        return s24_error(S24_ERR_INVALID, "permute: weight too large");
    double *m = malloc((size_t)(oc * kk * ic) * sizeof *m);
    if (!m) return s24_error(S24_ERR_NOMEM, "permute: out of memory");
    /* OIHW element (o, i, k) goes to row k*OC + o, column i */
    for (int64_t o = 0; o < oc; o++)
        for (int64_t i = 0; i < ic; i++)
            for (int64_t k = 0; k < kk; k++)
                m[(k * oc + o) * ic + i] = s24_load_float(dt, w, (o * ic + i) * kk + k);
    *mat = m;
    *rows = oc * kk;
    *cols = ic;
    return S24_OK;
}

int s24_permute_tensor_dim(void *data, enum s24_dtype dt, int ndim, const int64_t *shape,
                           int dim, const int64_t *perm)
{
    if (!data || !shape || ndim < 1 || ndim > S24_MAX_DIMS || dim < 0 || dim >= ndim ||
        (unsigned)dt >= S24_DTYPE_COUNT)
        return s24_error(S24_ERR_INVALID, "permute: bad tensor or dimension %d", dim);
    int rc = s24_permute_check(perm, shape[dim], "permute: permutation");
    if (rc) return rc;
    int64_t outer = 1, inner = 1, n = shape[dim];
    for (int d = 0; d < dim; d++) outer *= shape[d];
    for (int d = dim + 1; d < ndim; d++) inner *= shape[d];
    size_t es = s24_dtype_size(dt), line = (size_t)inner * es;
    uint8_t *tmp = malloc((size_t)n * line);
    if (!tmp) return s24_error(S24_ERR_NOMEM, "permute: out of memory");
    uint8_t *p = data;
    for (int64_t o = 0; o < outer; o++) {
        uint8_t *blk = p + (size_t)o * (size_t)n * line;
        memcpy(tmp, blk, (size_t)n * line);
        for (int64_t j = 0; j < n; j++)
            memcpy(blk + (size_t)j * line, tmp + (size_t)perm[j] * line, line);
    }
    free(tmp);
    return S24_OK;
}
