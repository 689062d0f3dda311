/* mask.c: N:M masks (which n of every m weights along the reduction dimension
 * to keep), their checks, and the magnitude figures pruning is judged by.
 *
 * Selection works on an integer key per element (the magnitude's bit pattern
 * with the sign cleared, every NaN folded onto one key just above infinity),
 * so it is exact, the same for every dtype, and an fp16 or bf16 weight gets the
 * very mask its fp32 conversion would get. This file does not search channel
 * permutations (permute.c) and does not compress (compress.c).
 */
#include "sparse24/sparse24.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define MAX_M 16

int s24_view_of_shape(int ndim, const int64_t *shape, struct s24_view *out)
{
    if (!shape || !out) return s24_error(S24_ERR_INVALID, "view: NULL argument");
    for (int d = 0; d < ndim; d++)
        if (shape[d] <= 0)
            return s24_error(S24_ERR_INVALID, "view: dimension %d is %lld, must be >= 1", d,
                             (long long)shape[d]);
    switch (ndim) {
    case 2: /* linear [OC, IC] */
        *out = (struct s24_view){shape[0], shape[1], 1};
        return S24_OK;
    case 3: /* conv1d [OC, IC, K] groups along IC like conv2d */
        *out = (struct s24_view){shape[0], shape[1], shape[2]};
        break;
    case 4: /* conv2d OIHW */
        if (shape[2] > INT64_MAX / shape[3])
            return s24_error(S24_ERR_INVALID, "view: kernel size overflows");
        *out = (struct s24_view){shape[0], shape[1], shape[2] * shape[3]};
        break;
    default:
        return s24_error(S24_ERR_INVALID,
                         "view: a %d-D tensor has no N:M grouping (need 2-D [O, I] or 4-D OIHW)",
                         ndim);
    }
    if (out->red > INT64_MAX / out->inner || out->outer > INT64_MAX / (out->red * out->inner))
        return s24_error(S24_ERR_INVALID, "view: element count overflows");
    return S24_OK;
}

/* The view must be non-empty and its element count must fit a size_t of bytes. */
static int view_ok(struct s24_view v, const char *what)
{
    if (v.outer < 1 || v.red < 1 || v.inner < 1)
        return s24_error(S24_ERR_INVALID, "%s: view (%lld, %lld, %lld) has an empty dimension",
                         what, (long long)v.outer, (long long)v.red, (long long)v.inner);
    if (v.red > INT64_MAX / v.inner || v.outer > (INT64_MAX / 8) / (v.red * v.inner))
        return s24_error(S24_ERR_INVALID, "%s: view (%lld, %lld, %lld) is too large", what,
                         (long long)v.outer, (long long)v.red, (long long)v.inner);
    return S24_OK;
}

static int nm_ok(struct s24_view v, int n, int m, const char *what)
{
    if (m < 2 || m > MAX_M || n < 1 || n >= m)
        return s24_error(S24_ERR_INVALID, "%s: pattern %d:%d unsupported (need 1 <= N < M <= %d)",
                         what, n, m, MAX_M);
    if (v.red % m != 0)
        return s24_error(S24_ERR_INVALID,
                         "%s: reduction dimension %lld (input channels) is not a multiple of M=%d",
                         what, (long long)v.red, m);
    return S24_OK;
}

static int float_ok(enum s24_dtype dt, const char *what)
{
    if (!s24_dtype_is_float(dt))
        return s24_error(S24_ERR_UNSUPPORTED, "%s: dtype %s is not F32, F16, BF16 or F64", what,
                         s24_dtype_name(dt));
    return S24_OK;
}

/* Order key of |w[i]|: larger key = larger magnitude; all NaNs share the key
 * just above +inf, so among NaNs the index tie-break decides. */
static inline uint64_t mag_key(enum s24_dtype dt, const void *w, int64_t i)
{
    switch (dt) {
    case S24_F32: {
        uint32_t u;
        memcpy(&u, (const char *)w + 4 * i, 4);
        u &= 0x7fffffffu;
        return u > 0x7f800000u ? 0x7f800001u : u;
    }
    case S24_F16: {
        uint16_t u;
        memcpy(&u, (const char *)w + 2 * i, 2);
        u &= 0x7fff;
        return u > 0x7c00 ? 0x7c01 : u;
    }
    case S24_BF16: {
        uint16_t u;
        memcpy(&u, (const char *)w + 2 * i, 2);
        u &= 0x7fff;
        return u > 0x7f80 ? 0x7f81 : u;
    }
    case S24_F64: {
        uint64_t u;
        memcpy(&u, (const char *)w + 8 * i, 8);
        u &= 0x7fffffffffffffffull;
        return u > 0x7ff0000000000000ull ? 0x7ff0000000000001ull : u;
    }
    default: return 0;
    }
}

/* Which n of the m keys to keep, as a bit set: element j is kept when fewer
 * than n elements beat it (larger key, or equal key at a lower index). */
#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif
static ALWAYS_INLINE unsigned select_any(const uint64_t *key, int n, int m)
{
    unsigned keep = 0;
    for (int j = 0; j < m; j++) {
        int beaten = 0;
        for (int k = 0; k < m; k++)
            beaten += key[k] > key[j] || (key[k] == key[j] && k < j);
        if (beaten < n) keep |= 1u << j;
    }
    return keep;
}

/* The same, with 2:4's M = 4 as a constant so the compiler unrolls it. */
static inline unsigned select_group(const uint64_t *key, int n, int m)
{
    return m == 4 ? select_any(key, n, 4) : select_any(key, n, m);
}

int s24_mask_compute(enum s24_dtype dt, const void *w, struct s24_view v, int n, int m,
                     uint8_t *mask)
{
    int rc;
    if (!w || !mask) return s24_error(S24_ERR_INVALID, "mask: NULL argument");
    if ((rc = view_ok(v, "mask")) || (rc = nm_ok(v, n, m, "mask")) || (rc = float_ok(dt, "mask")))
        return rc;
    const int64_t groups = v.red / m, inner = v.inner, red = v.red;
#pragma omp parallel for num_threads(s24_threads_get()) schedule(static)
    for (int64_t o = 0; o < v.outer; o++) {
        uint64_t key[MAX_M];
        for (int64_t g = 0; g < groups; g++) {
            for (int64_t i = 0; i < inner; i++) {
                int64_t base = (o * red + g * m) * inner + i; /* element (o, g*m, i) */
                for (int j = 0; j < m; j++) key[j] = mag_key(dt, w, base + j * inner);
                unsigned keep = select_group(key, n, m);
                for (int j = 0; j < m; j++) mask[base + j * inner] = (uint8_t)((keep >> j) & 1);
            }
        }
    }
    return S24_OK;
}

int s24_mask_apply(enum s24_dtype dt, void *w, struct s24_view v, const uint8_t *mask)
{
    int rc;
    if (!w || !mask) return s24_error(S24_ERR_INVALID, "mask apply: NULL argument");
    if ((rc = view_ok(v, "mask apply"))) return rc;
    size_t es = s24_dtype_size(dt);
    if (es == 0) return s24_error(S24_ERR_INVALID, "mask apply: bad dtype %d", (int)dt);
    const int64_t total = v.outer * v.red * v.inner;
    /* all-zero bytes are +0.0 in every float dtype (and 0 in every integer one) */
#pragma omp parallel for num_threads(s24_threads_get()) schedule(static)
    for (int64_t e = 0; e < total; e++)
        if (!mask[e]) memset((char *)w + (size_t)e * es, 0, es);
    return S24_OK;
}

/* Non-zero for checks: a numeric test for floats (so -0.0, which PyTorch's
 * w * mask leaves behind, counts as pruned; NaN counts as kept), any set bit
 * for other dtypes. */
static inline int is_nonzero(enum s24_dtype dt, const void *w, int64_t i, size_t es)
{
    if (s24_dtype_is_float(dt)) return mag_key(dt, w, i) != 0;
    const unsigned char *p = (const unsigned char *)w + (size_t)i * es;
    for (size_t b = 0; b < es; b++)
        if (p[b]) return 1;
    return 0;
}

int s24_mask_check(enum s24_dtype dt, const void *w, struct s24_view v, int n, int m,
                   int64_t *bad)
{
    int rc;
    if (bad) *bad = 0;
    if (!w) return s24_error(S24_ERR_INVALID, "mask check: NULL argument");
    if ((rc = view_ok(v, "mask check")) || (rc = nm_ok(v, n, m, "mask check"))) return rc;
    size_t es = s24_dtype_size(dt);
    if (es == 0) return s24_error(S24_ERR_INVALID, "mask check: bad dtype %d", (int)dt);
    const int64_t groups = v.red / m, inner = v.inner, red = v.red;
    int64_t nbad = 0;
    int64_t first = INT64_MAX; /* lowest offending group's first element, for the message */
#pragma omp parallel for num_threads(s24_threads_get()) schedule(static) reduction(+ : nbad) \
    reduction(min : first)
    for (int64_t o = 0; o < v.outer; o++) {
        for (int64_t g = 0; g < groups; g++) {
            for (int64_t i = 0; i < inner; i++) {
                int64_t base = (o * red + g * m) * inner + i;
                int cnt = 0;
                for (int j = 0; j < m; j++) cnt += is_nonzero(dt, w, base + j * inner, es);
                if (cnt > n) {
                    nbad++;
                    if (base < first) first = base;
                }
            }
        }
    }
    if (bad) *bad = nbad;
    if (nbad) {
        int64_t o = first / (red * inner), r = (first / inner) % red, i = first % inner;
        return s24_error(S24_ERR_NOT_SPARSE,
                         "%lld of %lld groups have more than %d non-zeros in %d "
                         "(first: outer %lld, reduction %lld..%lld, inner %lld)",
                         (long long)nbad, (long long)(v.outer * groups * inner), n, m,
                         (long long)o, (long long)r, (long long)(r + m - 1), (long long)i);
    }
    return S24_OK;
}

int s24_mask_check_mask(const uint8_t *mask, struct s24_view v, int n, int m)
{
    int rc;
    if (!mask) return s24_error(S24_ERR_INVALID, "mask check: NULL mask");
    if ((rc = view_ok(v, "mask check")) || (rc = nm_ok(v, n, m, "mask check"))) return rc;
    const int64_t groups = v.red / m, inner = v.inner, red = v.red;
    int64_t first = INT64_MAX;
#pragma omp parallel for num_threads(s24_threads_get()) schedule(static) reduction(min : first)
    for (int64_t o = 0; o < v.outer; o++) {
        for (int64_t g = 0; g < groups; g++) {
            for (int64_t i = 0; i < inner; i++) {
                int64_t base = (o * red + g * m) * inner + i;
                int ones = 0, other = 0;
                for (int j = 0; j < m; j++) {
                    uint8_t x = mask[base + j * inner];
                    ones += x == 1;
                    other += x > 1;
                }
                if ((ones != n || other) && base < first) first = base;
            }
        }
    }
    if (first != INT64_MAX) {
        int64_t o = first / (red * inner), r = (first / inner) % red, i = first % inner;
        return s24_error(S24_ERR_NOT_SPARSE,
                         "mask is not %d:%d: group at outer %lld, reduction %lld..%lld, inner %lld "
                         "does not hold exactly %d ones (and zeros elsewhere)",
                         n, m, (long long)o, (long long)r, (long long)(r + m - 1), (long long)i, n);
    }
    return S24_OK;
}

/* |w| as a double from its key (no second load); NaN's key becomes +inf, so
 * it sorts and sums as the largest value. */
static inline double key_mag(enum s24_dtype dt, uint64_t key)
{
    switch (dt) {
    case S24_F32: {
        if (key > 0x7f800000u) return INFINITY;
        uint32_t u = (uint32_t)key;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case S24_F16: return key > 0x7c00 ? INFINITY : s24_f16_to_f32((uint16_t)key);
    case S24_BF16: return key > 0x7f80 ? INFINITY : s24_bf16_to_f32((uint16_t)key);
    case S24_F64: {
        if (key > 0x7ff0000000000000ull) return INFINITY;
        double d;
        memcpy(&d, &key, 8);
        return d;
    }
    default: return 0.0;
    }
}

/* Sum of the k largest of a[0..len) (a is reordered): quickselect, then sum
 * the front. Linear on average, which keeps ResNet-sized rows cheap. */
static double sum_top_k(double *a, int64_t len, int64_t k)
{
    int64_t lo = 0, hi = len - 1, want = k - 1; /* a[0..k) end up the largest */
    while (lo < hi) {
        double piv = a[lo + (hi - lo) / 2];
        int64_t i = lo, j = hi;
        while (i <= j) { /* descending partition */
            while (a[i] > piv) i++;
            while (a[j] < piv) j--;
            if (i <= j) {
                double t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        if (want <= j) hi = j;
        else if (want >= i) lo = i;
        else break;
    }
    double s = 0;
    for (int64_t t = 0; t < k; t++) s += a[t];
    return s;
}

int s24_magnitude(enum s24_dtype dt, const void *w, struct s24_view v, int n, int m,
                  struct s24_magnitude *out)
{
    int rc;
    if (!w || !out) return s24_error(S24_ERR_INVALID, "magnitude: NULL argument");
    memset(out, 0, sizeof *out);
    if ((rc = view_ok(v, "magnitude")) || (rc = nm_ok(v, n, m, "magnitude")) ||
        (rc = float_ok(dt, "magnitude")))
        return rc;
    const int64_t groups = v.red / m, inner = v.inner, red = v.red;
    const int64_t topk = red / m * n;
    int nt = s24_threads_get();
    double *scratch = malloc((size_t)nt * (size_t)red * sizeof(double));
    if (!scratch) return s24_error(S24_ERR_NOMEM, "magnitude: out of memory (%lld rows)",
                                   (long long)red);
    double total = 0, kept = 0, bound = 0;
#pragma omp parallel num_threads(nt) reduction(+ : total, kept, bound)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        double *row = scratch + (size_t)tid * (size_t)red;
#pragma omp for schedule(static)
        for (int64_t o = 0; o < v.outer; o++) {
            for (int64_t i = 0; i < inner; i++) {
                uint64_t key[MAX_M];
                for (int64_t g = 0; g < groups; g++) {
                    int64_t base = (o * red + g * m) * inner + i;
                    for (int j = 0; j < m; j++) key[j] = mag_key(dt, w, base + j * inner);
                    unsigned keep = select_group(key, n, m);
                    for (int j = 0; j < m; j++) {
                        double a = key_mag(dt, key[j]);
                        row[g * m + j] = a;
                        total += a;
                        kept += (keep >> j & 1) ? a : 0.0; /* random: keep it branch-free */
                    }
                }
                bound += sum_top_k(row, red, topk);
            }
        }
    }
    free(scratch);
    out->total = total;
    out->kept = kept;
    out->row_bound = bound;
    return S24_OK;
}

double s24_efficacy(double kept_default, double kept_permuted, double bound)
{
    double gap = bound - kept_default;
    if (!(gap > 0)) return 0.0;
    return 100.0 * (kept_permuted - kept_default) / gap;
}
