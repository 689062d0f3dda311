/* npy.c: NumPy .npy files: read versions 1.0, 2.0 and 3.0, write 1.0 (the
 * headers sparse24 writes are short, so 1.0 always fits), for little-endian
 * '<f4', '<f8', '<f2' and '<i8' in C order.
 *
 * The header is a Python dict literal; it is parsed by a small strict parser
 * (exactly the keys descr, fortran_order, shape), and every length is checked
 * against the file size before anything is trusted. Not supported: Fortran
 * order, big-endian data, structured or object dtypes, pickles, .npz archives.
 * Assumes a little-endian host, as every machine sparse24 targets is.
 */
#include "sparse24/sparse24.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

static const struct {
    const char *descr;
    enum s24_dtype dt;
} npy_types[] = {
    {"<f4", S24_F32}, {"<f8", S24_F64}, {"<f2", S24_F16}, {"<i8", S24_I64},
};

static const char *descr_of(enum s24_dtype dt)
{
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dt == dt) return npy_types[i].descr;
    return NULL;
}

/* ------------------------------------------------------------ header parser */
struct hp {
    const char *start, *p, *end;
    const char *path;
};

static void hp_space(struct hp *h)
{
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r'))
        h->p++;
}

static int hp_expect(struct hp *h, char c)
{
    hp_space(h);
    if (h->p >= h->end || *h->p != c)
        return s24_error(S24_ERR_FORMAT, "%s: npy header: expected '%c' at offset %ld", h->path,
                         c, (long)(h->p - h->start));
    h->p++;
    return S24_OK;
}

/* A quoted Python string without escapes into buf. */
static int hp_string(struct hp *h, char *buf, size_t cap)
{
    hp_space(h);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"'))
        return s24_error(S24_ERR_FORMAT, "%s: npy header: expected a quoted string", h->path);
    char q = *h->p++;
    size_t n = 0;
    while (h->p < h->end && *h->p != q) {
        if (*h->p == '\\' || n + 1 >= cap)
            return s24_error(S24_ERR_FORMAT, "%s: npy header: unsupported or overlong string",
                             h->path);
        buf[n++] = *h->p++;
    }
    if (h->p >= h->end)
        return s24_error(S24_ERR_FORMAT, "%s: npy header: unterminated string", h->path);
    h->p++;
    buf[n] = 0;
    return S24_OK;
}

static int hp_word(struct hp *h, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(h->end - h->p) >= n && memcmp(h->p, w, n) == 0) {
        h->p += n;
        return 1;
    }
    return 0;
}

static int hp_shape(struct hp *h, int *ndim, int64_t shape[S24_MAX_DIMS])
{
    int rc;
    if ((rc = hp_expect(h, '('))) return rc;
    *ndim = 0;
    for (;;) {
        hp_space(h);
        if (h->p < h->end && *h->p == ')') {
            h->p++;
            break;
        }
        if (h->p >= h->end || *h->p < '0' || *h->p > '9')
            return s24_error(S24_ERR_FORMAT, "%s: npy header: bad shape (expected a number)",
                             h->path);
        int64_t v = 0;
        while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return s24_error(S24_ERR_FORMAT, "%s: npy header: shape dimension too large",
                                 h->path);
            v = v * 10 + (*h->p++ - '0');
        }
        if (h->p < h->end && *h->p == 'L') h->p++; /* Python 2 long literal */
        if (*ndim == S24_MAX_DIMS)
            return s24_error(S24_ERR_FORMAT, "%s: npy header: more than %d dimensions", h->path,
                             S24_MAX_DIMS);
        shape[(*ndim)++] = v;
        hp_space(h);
        if (h->p < h->end && *h->p == ',') {
            h->p++;
            continue;
        }
        if (h->p < h->end && *h->p == ')') {
            h->p++;
            /* a 1-tuple needs its comma in Python: "(5)" is not a tuple */
            if (*ndim == 1)
                return s24_error(S24_ERR_FORMAT, "%s: npy header: shape (%lld) is not a tuple",
                                 h->path, (long long)v);
            break;
        }
        return s24_error(S24_ERR_FORMAT, "%s: npy header: bad shape tuple", h->path);
    }
    return S24_OK;
}

static int parse_header(const char *path, const char *txt, size_t len, enum s24_dtype *dt,
                        int *ndim, int64_t shape[S24_MAX_DIMS])
{
    struct hp h = {txt, txt, txt + len, path};
    int rc, have_descr = 0, have_fo = 0, have_shape = 0;
    char key[32], descr[32];
    if ((rc = hp_expect(&h, '{'))) return rc;
    for (;;) {
        hp_space(&h);
        if (h.p < h.end && *h.p == '}') {
            h.p++;
            break;
        }
        if ((rc = hp_string(&h, key, sizeof key)) || (rc = hp_expect(&h, ':'))) return rc;
        hp_space(&h);
        if (!strcmp(key, "descr") && !have_descr) {
            if ((rc = hp_string(&h, descr, sizeof descr))) return rc;
            have_descr = 1;
        } else if (!strcmp(key, "fortran_order") && !have_fo) {
            if (hp_word(&h, "True"))
                return s24_error(S24_ERR_UNSUPPORTED,
                                 "%s: npy array is in Fortran order; only C order is supported "
                                 "(save with np.ascontiguousarray)",
                                 path);
            if (!hp_word(&h, "False"))
                return s24_error(S24_ERR_FORMAT, "%s: npy header: fortran_order is not a bool",
                                 path);
            have_fo = 1;
        } else if (!strcmp(key, "shape") && !have_shape) {
            if ((rc = hp_shape(&h, ndim, shape))) return rc;
            have_shape = 1;
        } else {
            return s24_error(S24_ERR_FORMAT, "%s: npy header: unexpected or repeated key '%s'",
                             path, key);
        }
        hp_space(&h);
        if (h.p < h.end && *h.p == ',') {
            h.p++;
            continue;
        }
        if ((rc = hp_expect(&h, '}'))) return rc;
        break;
    }
    hp_space(&h);
    if (h.p != h.end)
        return s24_error(S24_ERR_FORMAT, "%s: npy header: trailing characters after the dict",
                         path);
    if (!have_descr || !have_fo || !have_shape)
        return s24_error(S24_ERR_FORMAT, "%s: npy header lacks '%s'", path,
                         !have_descr ? "descr" : !have_fo ? "fortran_order" : "shape");
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (!strcmp(descr, npy_types[i].descr)) {
            *dt = npy_types[i].dt;
            return S24_OK;
        }
    /* '|' and '=' mean native order for 1-byte or native types; NumPy writes '<' here */
    return s24_error(S24_ERR_UNSUPPORTED,
                     "%s: npy dtype '%s' is not supported (need '<f4', '<f8', '<f2' or '<i8')",
                     path, descr);
}

int s24_npy_read(const char *path, enum s24_dtype *dt, int *ndim, int64_t shape[S24_MAX_DIMS],
                 void **data)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;
    if (!path || !dt || !ndim || !shape || !data)
        return s24_error(S24_ERR_INVALID, "npy read: NULL argument");
    *data = NULL;
    *ndim = 0;
    if ((rc = s24_read_file(path, &buf, &len))) return rc;
    if (len < 10 || memcmp(buf, npy_magic, 6) != 0) {
        rc = s24_error(S24_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
        goto fail;
    }
    unsigned major = buf[6], minor = buf[7];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) {
            rc = s24_error(S24_ERR_FORMAT, "%s: npy file truncated in its preamble", path);
            goto fail;
        }
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 |
               (size_t)buf[11] << 24;
        hstart = 12;
    } else {
        rc = s24_error(S24_ERR_UNSUPPORTED, "%s: npy format version %u.%u is not supported", path,
                       major, minor);
        goto fail;
    }
    if (hlen > len - hstart) {
        rc = s24_error(S24_ERR_FORMAT, "%s: npy header of %zu bytes runs past the end of the file "
                       "(%zu bytes)", path, hlen, len);
        goto fail;
    }
    for (size_t i = 0; i < hlen; i++)
        if (buf[hstart + i] == 0 || buf[hstart + i] > 0x7e) {
            /* v3.0 allows UTF-8, but a valid descr/shape dict never needs it */
            rc = s24_error(S24_ERR_FORMAT, "%s: npy header holds a non-ASCII byte", path);
            goto fail;
        }
    int64_t shp[S24_MAX_DIMS];
    int nd = 0;
    enum s24_dtype t = S24_F32;
    if ((rc = parse_header(path, (const char *)buf + hstart, hlen, &t, &nd, shp))) goto fail;
    size_t es = s24_dtype_size(t), nbytes = es;
    for (int d = 0; d < nd; d++) {
        if (shp[d] != 0 && nbytes > SIZE_MAX / (uint64_t)shp[d]) {
            rc = s24_error(S24_ERR_FORMAT, "%s: npy shape is too large", path);
            goto fail;
        }
        nbytes *= (size_t)shp[d];
    }
    size_t avail = len - hstart - hlen;
    if (avail != nbytes) {
        rc = s24_error(S24_ERR_FORMAT,
                       "%s: npy data is %zu bytes but shape and dtype %s need %zu (%s)", path,
                       avail, s24_dtype_name(t), nbytes,
                       avail < nbytes ? "truncated file" : "trailing bytes");
        goto fail;
    }
    /* Slide the data to the front of the file buffer instead of copying it
     * out, so a large array needs its size in memory once, not twice. */
    if (nbytes) memmove(buf, buf + hstart + hlen, nbytes);
    void *out = realloc(buf, nbytes ? nbytes : 1);
    if (!out) out = buf; /* shrinking failed: keep the larger block */
    *dt = t;
    *ndim = nd;
    for (int d = 0; d < nd; d++) shape[d] = shp[d];
    *data = out;
    return S24_OK;
fail:
    free(buf);
    return rc;
}

int s24_npy_write(const char *path, enum s24_dtype dt, int ndim, const int64_t *shape,
                  const void *data)
{
    const char *descr = descr_of(dt);
    if (!path) return s24_error(S24_ERR_INVALID, "npy write: NULL path");
    if (!descr)
        return s24_error(S24_ERR_UNSUPPORTED, "%s: npy write: dtype %s not supported (F32, F64, "
                         "F16, I64)", path, s24_dtype_name(dt));
    if (ndim < 0 || ndim > S24_MAX_DIMS || (ndim > 0 && !shape))
        return s24_error(S24_ERR_INVALID, "%s: npy write: %d dimensions (0..%d)", path, ndim,
                         S24_MAX_DIMS);
    size_t nbytes = s24_dtype_size(dt);
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (shape[d] != 0 && nbytes > SIZE_MAX / 2 / (uint64_t)shape[d]))
            return s24_error(S24_ERR_INVALID, "%s: npy write: bad dimension %d (%lld)", path, d,
                             (long long)shape[d]);
        nbytes *= (size_t)shape[d];
    }
    if (nbytes && !data) return s24_error(S24_ERR_INVALID, "%s: npy write: NULL data", path);

    /* The dict as NumPy writes it: "(5,)" for one dimension, "()" for none. */
    char dict[64 + 24 * S24_MAX_DIMS];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     descr);
    for (int d = 0; d < ndim; d++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%s%lld", d ? ", " : "",
                      (long long)shape[d]);
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }", ndim == 1 ? "," : "");
    /* Pad with spaces and a final newline so the data starts 64-byte aligned. */
    size_t pre = 10, total_hdr = pre + (size_t)n + 1;
    total_hdr = (total_hdr + 63) / 64 * 64;
    size_t hlen = total_hdr - pre;
    size_t flen = total_hdr + nbytes;
    unsigned char *buf = malloc(flen);
    if (!buf) return s24_error(S24_ERR_NOMEM, "%s: out of memory", path);
    memcpy(buf, npy_magic, 6);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + pre, dict, (size_t)n);
    memset(buf + pre + n, ' ', hlen - (size_t)n - 1);
    buf[total_hdr - 1] = '\n';
    if (nbytes) memcpy(buf + total_hdr, data, nbytes);
    int rc = s24_write_file_atomic(path, buf, flen);
    free(buf);
    return rc;
}
