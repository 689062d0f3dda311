/* compress.c: 2:4 compression into kept values + 2-bit position metadata
 * (docs/format.md), and back.
 *
 * Compression copies bit patterns and never interprets them: "non-zero" means
 * any set bit, so -0.0 is kept like any value and decompress(compress(w))
 * restores every byte, for any dtype of 1, 2, 4 or 8 bytes. It does not prune
 * (mask.c does) and does not produce cuSPARSELt's device layout (the GPU
 * engine converts this portable layout on the device).
 */
#include "sparse24/sparse24.h"

#include <stdlib.h>
#include <string.h>

size_t s24_meta_row_bytes(int64_t k) { return k > 0 ? (size_t)((k + 7) / 8) : 0; }

size_t s24_compressed_bytes(const struct s24_compressed *c)
{
    if (!c || c->rows <= 0 || c->k <= 0) return 0;
    size_t es = s24_dtype_size(c->dtype);
    return (size_t)c->rows * ((size_t)c->k / 2 * es + s24_meta_row_bytes(c->k));
}

void s24_compressed_free(struct s24_compressed *c)
{
    if (!c) return;
    free(c->values);
    free(c->meta);
    memset(c, 0, sizeof *c);
}

static int view_ok(struct s24_view v, size_t es, const char *what)
{
    if (es != 1 && es != 2 && es != 4 && es != 8)
        return s24_error(S24_ERR_INVALID, "%s: dtype has no 1/2/4/8-byte elements", what);
    if (v.outer < 1 || v.red < 1 || v.inner < 1)
        return s24_error(S24_ERR_INVALID, "%s: view (%lld, %lld, %lld) has an empty dimension",
                         what, (long long)v.outer, (long long)v.red, (long long)v.inner);
    if (v.red % 4)
        return s24_error(S24_ERR_INVALID,
                         "%s: reduction dimension %lld is not a multiple of 4 (2:4 groups)", what,
                         (long long)v.red);
    if (v.red > INT64_MAX / v.inner || v.outer > (INT64_MAX / 8) / (v.red * v.inner))
        return s24_error(S24_ERR_INVALID, "%s: view (%lld, %lld, %lld) is too large", what,
                         (long long)v.outer, (long long)v.red, (long long)v.inner);
    return S24_OK;
}

static inline int bits_nonzero(const unsigned char *p, size_t es)
{
    switch (es) {
    case 1: return p[0] != 0;
    case 2: { uint16_t u; memcpy(&u, p, 2); return u != 0; }
    case 4: { uint32_t u; memcpy(&u, p, 4); return u != 0; }
    default: { uint64_t u; memcpy(&u, p, 8); return u != 0; }
    }
}

int s24_compress(enum s24_dtype dt, const void *w, struct s24_view v, struct s24_compressed *out)
{
    int rc;
    if (!out) return s24_error(S24_ERR_INVALID, "compress: NULL output");
    memset(out, 0, sizeof *out);
    if (!w) return s24_error(S24_ERR_INVALID, "compress: NULL input");
    size_t es = s24_dtype_size(dt);
    if ((rc = view_ok(v, es, "compress"))) return rc;
    const int64_t k = v.red, inner = v.inner, rows = v.outer * v.inner;
    const int64_t groups = k / 4;
    const size_t mrow = s24_meta_row_bytes(k), vrow = (size_t)(k / 2) * es;
    unsigned char *vals = malloc((size_t)rows * vrow);
    uint8_t *meta = calloc((size_t)rows, mrow); /* zeroed: an odd last group leaves a 0 nibble */
    if (!vals || !meta) {
        rc = s24_error(S24_ERR_NOMEM, "compress: out of memory (%lld x %lld)", (long long)rows,
                       (long long)k);
        goto fail;
    }
    /* The first offending group in row-major order, so the message is the
     * same whatever the thread count. */
    int64_t bad = INT64_MAX;
    int bad_cnt = 0;
    const unsigned char *src = w;
#pragma omp parallel for num_threads(s24_threads_get()) schedule(static)
    for (int64_t row = 0; row < rows; row++) {
        const int64_t o = row / inner, i = row % inner;
        unsigned char *vr = vals + (size_t)row * vrow;
        uint8_t *mr = meta + (size_t)row * mrow;
        for (int64_t g = 0; g < groups; g++) {
            const unsigned char *e[4];
            unsigned nz = 0;
            int cnt = 0;
            for (int j = 0; j < 4; j++) {
                e[j] = src + (size_t)((o * k + g * 4 + j) * inner + i) * es;
                if (bits_nonzero(e[j], es)) {
                    nz |= 1u << j;
                    cnt++;
                }
            }
            if (cnt > 2) {
#pragma omp critical(s24_compress_bad)
                if (row * groups + g < bad) {
                    bad = row * groups + g;
                    bad_cnt = cnt;
                }
                break;
            }
            /* fill up with the lowest zero positions: they decompress to the
             * same all-zero bytes they came from */
            for (int j = 0; j < 4 && cnt < 2; j++)
                if (!(nz >> j & 1)) {
                    nz |= 1u << j;
                    cnt++;
                }
            int idx0 = -1, idx1 = -1;
            for (int j = 0; j < 4; j++)
                if (nz >> j & 1) {
                    if (idx0 < 0) idx0 = j;
                    else idx1 = j;
                }
            memcpy(vr + (size_t)(2 * g) * es, e[idx0], es);
            memcpy(vr + (size_t)(2 * g + 1) * es, e[idx1], es);
            mr[g / 2] |= (uint8_t)((idx0 | idx1 << 2) << (4 * (g & 1)));
        }
    }
    if (bad != INT64_MAX) {
        int64_t row = bad / groups, g = bad % groups;
        rc = s24_error(S24_ERR_NOT_SPARSE,
                       "compress: not 2:4: row %lld (outer %lld, inner %lld), group %lld "
                       "(columns %lld..%lld) has %d non-zero values%s",
                       (long long)row, (long long)(row / inner), (long long)(row % inner),
                       (long long)g, (long long)(4 * g), (long long)(4 * g + 3), bad_cnt,
                       s24_dtype_is_float(dt)
                           ? " (compression keeps bit patterns, so -0.0 counts; prune with "
                             "s24_mask_apply, which writes +0.0)"
                           : "");
        goto fail;
    }
    out->dtype = dt;
    out->rows = rows;
    out->k = k;
    out->values = vals;
    out->meta = meta;
    return S24_OK;
fail:
    free(vals);
    free(meta);
    return rc;
}

int s24_decompress(const struct s24_compressed *c, struct s24_view v, void *w)
{
    int rc;
    if (!c || !w || !c->values || !c->meta)
        return s24_error(S24_ERR_INVALID, "decompress: NULL argument");
    size_t es = s24_dtype_size(c->dtype);
    if ((rc = view_ok(v, es, "decompress"))) return rc;
    if (c->k != v.red || c->rows != v.outer * v.inner)
        return s24_error(S24_ERR_INVALID,
                         "decompress: compressed %lld x %lld does not match view "
                         "(%lld, %lld, %lld)",
                         (long long)c->rows, (long long)c->k, (long long)v.outer,
                         (long long)v.red, (long long)v.inner);
    const int64_t k = v.red, inner = v.inner, rows = c->rows, groups = k / 4;
    const size_t mrow = s24_meta_row_bytes(k), vrow = (size_t)(k / 2) * es;
    /* Validate every nibble first so a corrupt file leaves w untouched. */
    int64_t bad = INT64_MAX;
#pragma omp parallel for num_threads(s24_threads_get()) schedule(static) reduction(min : bad)
    for (int64_t row = 0; row < rows; row++) {
        const uint8_t *mr = c->meta + (size_t)row * mrow;
        for (int64_t g = 0; g < groups; g++) {
            unsigned nib = (mr[g / 2] >> (4 * (g & 1))) & 15;
            if ((nib & 3) >= (nib >> 2) && row * groups + g < bad) bad = row * groups + g;
        }
        if ((groups & 1) && (mr[mrow - 1] >> 4) && row * groups + groups - 1 < bad)
            bad = row * groups + groups - 1; /* the unused high nibble must be zero */
    }
    if (bad != INT64_MAX)
        return s24_error(S24_ERR_FORMAT,
                         "decompress: corrupt metadata at row %lld, group %lld (need idx0 < idx1, "
                         "unused nibbles zero)",
                         (long long)(bad / groups), (long long)(bad % groups));
    unsigned char *dst = w;
#pragma omp parallel for num_threads(s24_threads_get()) schedule(static)
    for (int64_t row = 0; row < rows; row++) {
        const int64_t o = row / inner, i = row % inner;
        const unsigned char *vr = (const unsigned char *)c->values + (size_t)row * vrow;
        const uint8_t *mr = c->meta + (size_t)row * mrow;
        for (int64_t g = 0; g < groups; g++) {
            unsigned nib = (mr[g / 2] >> (4 * (g & 1))) & 15;
            unsigned idx0 = nib & 3, idx1 = nib >> 2;
            for (unsigned j = 0; j < 4; j++) {
                unsigned char *e = dst + (size_t)((o * k + g * 4 + (int64_t)j) * inner + i) * es;
                if (j == idx0) memcpy(e, vr + (size_t)(2 * g) * es, es);
                else if (j == idx1) memcpy(e, vr + (size_t)(2 * g + 1) * es, es);
                else memset(e, 0, es);
            }
        }
    }
    return S24_OK;
}
