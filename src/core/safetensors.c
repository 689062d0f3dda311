/* safetensors.c: read, validate and write the safetensors format
 * (8-byte little-endian header length, a JSON header, then a data section).
 *
 * Reading checks every field before any tensor is trusted: header length and
 * limit, UTF-8, JSON shape, known dtypes, integral offsets (read as doubles so
 * offsets past 2^31 work), offsets inside the data section, no overlaps and no
 * holes, bytes == numel * element size, unique non-empty names. Tensors come
 * back in data-offset order together with the raw header text, and writing
 * reuses that text when it still describes the tensors, so an unchanged layout
 * reproduces the input byte for byte.
 *
 * What it does not do: memory-map, convert dtypes or interpret tensor values;
 * data are copied byte for byte.
 */
#include "sparse24/sparse24.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The Rust implementation refuses headers above 100 MB; so do we, before
 * allocating anything a hostile length asks for. */
#define ST_MAX_HEADER 100000000ull
/* Doubles hold every integer up to 2^53 exactly; larger offsets cannot be
 * told apart from their neighbours, so they are refused. */
#define ST_MAX_INT 9007199254740992.0

typedef unsigned long long ull;

void s24_st_init(struct s24_st *st) { memset(st, 0, sizeof *st); }

void s24_st_free(struct s24_st *st)
{
    if (!st) return;
    for (int i = 0; i < st->n; i++) {
        free(st->t[i].name);
        free(st->t[i].data);
    }
    free(st->t);
    for (int i = 0; i < st->nmeta; i++) {
        free(st->meta[i].key);
        free(st->meta[i].value);
    }
    free(st->meta);
    free(st->header);
    s24_st_init(st);
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; min = 0x80; }
        else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; min = 0x800; }
        else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += len;
    }
    return 1;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* A JSON number that must be a non-negative integer (offset or dimension). */
static int get_uint(const cJSON *item, ull *out)
{
    if (!cJSON_IsNumber(item)) return 0;
    double d = item->valuedouble;
    if (!(d >= 0.0) || d > ST_MAX_INT || d != floor(d)) return 0;
    *out = (ull)d;
    return 1;
}

/* cJSON turns the escape \u0000 into a string that ends early, which would
 * silently rename a tensor; refuse the escape in the raw text instead. */
static int has_nul_escape(const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '\\') continue;
        if (s[i + 1] == 'u' && i + 5 < n && s[i + 2] == '0' && s[i + 3] == '0' &&
            s[i + 4] == '0' && s[i + 5] == '0')
            return 1;
        i++; /* skip the escaped character, so "\\\\u0000" is not an escape */
    }
    return 0;
}

struct entry {
    struct s24_st_tensor t;
    ull begin, end;
    int order; /* position in the JSON, to keep sorting stable */
};

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->order - y->order;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int meta_parse(const cJSON *m, const char *what, struct s24_st *out)
{
    if (cJSON_IsNull(m)) return S24_OK;
    if (!cJSON_IsObject(m))
        return s24_error(S24_ERR_FORMAT, "%s: \"__metadata__\" is not an object of strings", what);
    int n = cJSON_GetArraySize(m);
    out->meta = calloc(n > 0 ? (size_t)n : 1, sizeof *out->meta);
    if (!out->meta) return s24_error(S24_ERR_NOMEM, "%s: out of memory", what);
    for (const cJSON *kv = m->child; kv; kv = kv->next) {
        if (!cJSON_IsString(kv) || !kv->valuestring)
            return s24_error(S24_ERR_FORMAT, "%s: metadata \"%s\" is not a string", what,
                             kv->string ? kv->string : "?");
        for (int i = 0; i < out->nmeta; i++)
            if (!strcmp(out->meta[i].key, kv->string))
                return s24_error(S24_ERR_FORMAT, "%s: metadata key \"%s\" appears twice", what,
                                 kv->string);
        struct s24_st_kv *e = &out->meta[out->nmeta];
        e->key = dup_str(kv->string);
        e->value = dup_str(kv->valuestring);
        if (!e->key || !e->value) {
            free(e->key);
            free(e->value);
            e->key = e->value = NULL;
            return s24_error(S24_ERR_NOMEM, "%s: out of memory", what);
        }
        out->nmeta++;
    }
    return S24_OK;
}

/* One tensor entry: dtype, shape, data_offsets, sizes consistent. */
static int entry_parse(const cJSON *e, const char *what, ull data_len, int check_len,
                       struct entry *out)
{
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return s24_error(S24_ERR_FORMAT, "%s: tensor \"%s\": entry is not an object", what, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
        return s24_error(S24_ERR_FORMAT,
                         "%s: tensor \"%s\": needs \"dtype\" (string), \"shape\" (array) and "
                         "\"data_offsets\" (array)", what, name);
    if (s24_dtype_parse(dt->valuestring, &out->t.dtype) != S24_OK)
        return s24_error(S24_ERR_FORMAT, "%s: tensor \"%s\": unknown dtype \"%s\"", what, name,
                         dt->valuestring);
    int nd = cJSON_GetArraySize(shape);
    if (nd > S24_MAX_DIMS)
        return s24_error(S24_ERR_FORMAT, "%s: tensor \"%s\": %d dimensions (at most %d supported)",
                         what, name, nd, S24_MAX_DIMS);
    out->t.ndim = nd;
    /* numel with an overflow guard: anything past 2^62 elements cannot fit a file */
    ull numel = 1;
    int i = 0;
    for (const cJSON *d = shape->child; d; d = d->next, i++) {
        ull v;
        if (!get_uint(d, &v))
            return s24_error(S24_ERR_FORMAT,
                             "%s: tensor \"%s\": shape[%d] is not a non-negative integer", what,
                             name, i);
        out->t.shape[i] = (int64_t)v;
        if (v != 0 && numel > (1ull << 62) / v)
            return s24_error(S24_ERR_FORMAT, "%s: tensor \"%s\": shape too large", what, name);
        numel *= v;
    }
    if (cJSON_GetArraySize(offs) != 2 || !get_uint(offs->child, &out->begin) ||
        !get_uint(offs->child->next, &out->end))
        return s24_error(S24_ERR_FORMAT,
                         "%s: tensor \"%s\": data_offsets must be [begin, end], non-negative "
                         "integers below 2^53", what, name);
    if (out->begin > out->end)
        return s24_error(S24_ERR_FORMAT,
                         "%s: tensor \"%s\": data_offsets [%llu, %llu] end before begin", what,
                         name, out->begin, out->end);
    if (check_len && out->end > data_len)
        return s24_error(S24_ERR_FORMAT,
                         "%s: tensor \"%s\": data_offsets [%llu, %llu] outside the file (data "
                         "section has %llu bytes)", what, name, out->begin, out->end, data_len);
    ull es = s24_dtype_size(out->t.dtype);
    if (numel > (1ull << 62) / es || numel * es != out->end - out->begin)
        return s24_error(S24_ERR_FORMAT,
                         "%s: tensor \"%s\": %s shape of %llu elements needs %llu bytes but "
                         "data_offsets [%llu, %llu] span %llu", what, name, dt->valuestring,
                         numel, numel * es, out->begin, out->end, out->end - out->begin);
    if ((ull)(size_t)(out->end - out->begin) != out->end - out->begin)
        return s24_error(S24_ERR_FORMAT, "%s: tensor \"%s\": too large for this machine", what,
                         name);
    out->t.nbytes = (size_t)(out->end - out->begin);
    return S24_OK;
}

/* Parse and validate a header. data_len: the size of the data section, or
 * (ull)-1 when only the header is at hand (then the offsets define it).
 * Tensors come out sorted by offset, with data == NULL; *begins (optional)
 * gets their offsets. The raw text is kept in out->header. */
static int header_parse(const char *json, size_t len, const char *what, ull data_len,
                        struct s24_st *out, ull **begins)
{
    int rc = S24_OK;
    cJSON *root = NULL;
    struct entry *ents = NULL;
    char **names = NULL;
    int nent = 0;
    int check_len = data_len != (ull)-1;
    s24_st_init(out);
    if (begins) *begins = NULL;

    if (!utf8_valid((const uint8_t *)json, len)) {
        rc = s24_error(S24_ERR_FORMAT, "%s: header is not valid UTF-8", what);
        goto fail;
    }
    /* JSON whitespace may precede the object (the Rust reader accepts it). */
    size_t lead = 0;
    while (lead < len && (json[lead] == ' ' || json[lead] == '\t' || json[lead] == '\n' ||
                          json[lead] == '\r'))
        lead++;
    if (lead == len || json[lead] != '{') {
        rc = s24_error(S24_ERR_FORMAT, "%s: header is not a JSON object (does not start with '{')",
                       what);
        goto fail;
    }
    if (has_nul_escape(json, len)) {
        rc = s24_error(S24_ERR_FORMAT, "%s: header contains a \\u0000 escape", what);
        goto fail;
    }
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = (at && at >= json && at <= json + len) ? (long)(at - json) : -1;
        rc = s24_error(S24_ERR_FORMAT, "%s: header is not valid JSON (near byte %ld)", what, off);
        goto fail;
    }
    for (const char *p = end; p && p < json + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            rc = s24_error(S24_ERR_FORMAT, "%s: header has text after its JSON object (byte %ld)",
                           what, (long)(p - json));
            goto fail;
        }
    }
    if (!cJSON_IsObject(root)) {
        rc = s24_error(S24_ERR_FORMAT, "%s: header is not a JSON object", what);
        goto fail;
    }
    int nkeys = cJSON_GetArraySize(root);
    ents = calloc(nkeys > 0 ? (size_t)nkeys : 1, sizeof *ents);
    names = calloc(nkeys > 0 ? (size_t)nkeys : 1, sizeof *names);
    if (!ents || !names) {
        rc = s24_error(S24_ERR_NOMEM, "%s: out of memory", what);
        goto fail;
    }
    int seen_meta = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!e->string || !e->string[0]) {
            rc = s24_error(S24_ERR_FORMAT, "%s: a tensor has an empty name", what);
            goto fail;
        }
        if (!strcmp(e->string, "__metadata__")) {
            if (seen_meta++) {
                rc = s24_error(S24_ERR_FORMAT, "%s: \"__metadata__\" appears twice", what);
                goto fail;
            }
            if ((rc = meta_parse(e, what, out)) != S24_OK) goto fail;
            continue;
        }
        struct entry *en = &ents[nent];
        if ((rc = entry_parse(e, what, data_len, check_len, en)) != S24_OK) goto fail;
        en->order = nent;
        names[nent++] = e->string;
    }
    if (nent > 1) {
        qsort(names, (size_t)nent, sizeof *names, name_cmp);
        for (int i = 1; i < nent; i++) {
            if (!strcmp(names[i - 1], names[i])) {
                rc = s24_error(S24_ERR_FORMAT, "%s: tensor \"%s\" appears twice", what, names[i]);
                goto fail;
            }
        }
        qsort(ents, (size_t)nent, sizeof *ents, entry_cmp);
    }
    /* The format requires the tensors to tile the data section exactly. */
    ull pos = 0;
    for (int i = 0; i < nent; i++) {
        if (ents[i].begin < pos) {
            rc = s24_error(S24_ERR_FORMAT,
                           "%s: tensors overlap: data_offsets [%llu, %llu] begin before the end "
                           "(%llu) of the tensor before it", what, ents[i].begin, ents[i].end, pos);
            goto fail;
        }
        if (ents[i].begin > pos) {
            rc = s24_error(S24_ERR_FORMAT,
                           "%s: bytes [%llu, %llu) of the data section belong to no tensor (the "
                           "format allows no holes)", what, pos, ents[i].begin);
            goto fail;
        }
        pos = ents[i].end;
    }
    if (check_len && pos != data_len) {
        rc = s24_error(S24_ERR_FORMAT,
                       "%s: the tensors cover %llu bytes but the data section has %llu (the "
                       "format allows no trailing bytes)", what, pos, data_len);
        goto fail;
    }
    out->t = calloc(nent > 0 ? (size_t)nent : 1, sizeof *out->t);
    out->header = malloc(len + 1);
    if (begins) *begins = malloc((nent > 0 ? (size_t)nent : 1) * sizeof **begins);
    if (!out->t || !out->header || (begins && !*begins)) {
        rc = s24_error(S24_ERR_NOMEM, "%s: out of memory", what);
        goto fail;
    }
    memcpy(out->header, json, len);
    out->header[len] = 0;
    out->header_len = len;
    out->cap = nent;
    for (int i = 0; i < nent; i++) {
        out->t[i] = ents[i].t;
        if (begins) (*begins)[i] = ents[i].begin;
    }
    /* Names: entries were sorted, so fetch each by position in the JSON. */
    {
        int k = 0;
        char **by_order = calloc(nent > 0 ? (size_t)nent : 1, sizeof *by_order);
        if (!by_order) {
            rc = s24_error(S24_ERR_NOMEM, "%s: out of memory", what);
            goto fail;
        }
        for (const cJSON *e = root->child; e; e = e->next)
            if (strcmp(e->string, "__metadata__")) by_order[k++] = e->string;
        for (int i = 0; i < nent; i++) {
            out->t[i].name = dup_str(by_order[ents[i].order]);
            if (!out->t[i].name) {
                free(by_order);
                out->n = i;
                rc = s24_error(S24_ERR_NOMEM, "%s: out of memory", what);
                goto fail;
            }
        }
        free(by_order);
        out->n = nent;
    }
    free(ents);
    free(names);
    cJSON_Delete(root);
    return S24_OK;
fail:
    free(ents);
    free(names);
    cJSON_Delete(root);
    if (begins) {
        free(*begins);
        *begins = NULL;
    }
    s24_st_free(out);
    return rc;
}

/* What a file that is not safetensors looks like it is, from its first bytes
 * (p, n of them), or NULL. Asked only once the prefix has failed, so a real
 * safetensors file whose length bytes happen to spell a magic is never
 * misnamed. Users hand over whatever their framework saved; naming it beats
 * a header length of 379676406402707. */
static const char *sniff(const uint8_t *p, size_t n)
{
    static const struct { const char *magic; size_t len; const char *what; } known[] = {
        {"\x93NUMPY", 6, "a NumPy .npy file"},
        {"PK\x03\x04", 4, "a ZIP archive (a PyTorch .pt/.pth or NumPy .npz file is one)"},
        {"\x89HDF\r\n\x1a\n", 8, "an HDF5 file (Keras .h5?)"},
        {"GGUF", 4, "a GGUF file"},
        {"\x1f\x8b", 2, "a gzip file"},
        {"\x7f" "ELF", 4, "an ELF executable"},
    };
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
        if (n >= known[k].len && !memcmp(p, known[k].magic, known[k].len)) return known[k].what;
    /* protocol 2 to 5 pickles open with PROTO <n>: torch.save before 1.6 */
    if (n >= 2 && p[0] == 0x80 && p[1] >= 2 && p[1] <= 5)
        return "a Python pickle (a legacy PyTorch .pt/.pth file?)";
    if (n >= 1 && (p[0] == '{' || p[0] == '['))
        return "a JSON or text file (safetensors starts with an 8-byte header length)";
    return NULL;
}

/* The prefix: header length (the first 8 of the n bytes at p), checked
 * against the limit and the file size, and the header's first byte. */
static int prefix_check(const uint8_t *p, size_t n, ull total, const char *what, ull *hlen)
{
    const char *kind = total < 8 ? NULL : sniff(p, n);
    ull len = 0;
    for (int i = 7; i >= 0 && total >= 8; i--) len = (len << 8) | p[i];
    int bad = total < 8 || len > ST_MAX_HEADER || len > total - 8;
    /* JSON may lead with whitespace; anything else before '{' is not a header */
    if (!bad && len > 0 && n > 8)
        bad = !strchr("{ \t\r\n", p[8]) || p[8] == 0;
    if (!bad) {
        *hlen = len;
        return S24_OK;
    }
    if (kind) return s24_error(S24_ERR_FORMAT, "%s is %s, not safetensors", what, kind);
    if (total < 8)
        return s24_error(S24_ERR_FORMAT, "%s: %llu bytes, too short for a safetensors file "
                         "(needs an 8-byte header length)", what, total);
    if (len > ST_MAX_HEADER)
        return s24_error(S24_ERR_FORMAT, "%s: not a safetensors file: its first 8 bytes give a "
                         "header length of %llu, past the %llu-byte limit", what, len,
                         ST_MAX_HEADER);
    if (len > total - 8)
        return s24_error(S24_ERR_FORMAT,
                         "%s: not a safetensors file (or a truncated one): header length %llu "
                         "runs past the end of the file (%llu bytes)", what, len, total);
    return s24_error(S24_ERR_FORMAT, "%s: not a safetensors file: the header does not start "
                     "with '{' (byte 8 is 0x%02x)", what, p[8]);
}

int s24_st_parse(const uint8_t *buf, size_t len, const char *what, struct s24_st *out)
{
    ull hlen;
    ull *begins = NULL;
    int rc;
    s24_st_init(out);
    if (!what) what = "safetensors";
    if (!buf && len) return s24_error(S24_ERR_INVALID, "%s: NULL buffer", what);
    if ((rc = prefix_check(buf, len < 16 ? len : 16, len, what, &hlen)) != S24_OK) return rc;
    const uint8_t *data = buf + 8 + hlen;
    rc = header_parse((const char *)buf + 8, (size_t)hlen, what, (ull)len - 8 - hlen, out, &begins);
    if (rc != S24_OK) return rc;
    for (int i = 0; i < out->n; i++) {
        struct s24_st_tensor *t = &out->t[i];
        t->data = malloc(t->nbytes ? t->nbytes : 1);
        if (!t->data) {
            rc = s24_error(S24_ERR_NOMEM, "%s: out of memory for tensor \"%s\" (%zu bytes)", what,
                           t->name, t->nbytes);
            goto fail;
        }
        if (t->nbytes) memcpy(t->data, data + begins[i], t->nbytes);
    }
    free(begins);
    return S24_OK;
fail:
    free(begins);
    s24_st_free(out);
    return rc;
}

int s24_st_parse_header(const char *json, size_t len, const char *what, struct s24_st *out)
{
    int rc;
    if (!what) what = "safetensors header";
    if ((rc = header_parse(json, len, what, (ull)-1, out, NULL)) != S24_OK) return rc;
    for (int i = 0; i < out->n; i++) {
        out->t[i].data = calloc(out->t[i].nbytes ? out->t[i].nbytes : 1, 1);
        if (!out->t[i].data) {
            s24_st_free(out);
            return s24_error(S24_ERR_NOMEM, "%s: out of memory", what);
        }
    }
    return S24_OK;
}

/* Reads the header first and each tensor straight into its own buffer, so a
 * file is held in memory once, and a hostile header length allocates nothing. */
int s24_st_read(const char *path, struct s24_st *out)
{
    int rc = S24_OK;
    char *hdr = NULL;
    ull *begins = NULL;
    s24_st_init(out);
    FILE *f = fopen(path, "rb");
    if (!f) return s24_error(S24_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        rc = s24_error(S24_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        rc = s24_error(S24_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    ull total = (ull)sb.st_size;
    uint8_t head[16] = {0};
    size_t nhead = total < sizeof head ? (size_t)total : sizeof head;
    ull hlen;
    if (fread(head, 1, nhead, f) != nhead || fseek(f, 8, SEEK_SET) != 0) {
        rc = s24_error(S24_ERR_IO, "%s: read failed", path);
        goto fail;
    }
    if ((rc = prefix_check(head, nhead, total, path, &hlen)) != S24_OK) goto fail;
    hdr = malloc(hlen + 1);
    if (!hdr) {
        rc = s24_error(S24_ERR_NOMEM, "%s: out of memory for a %llu-byte header", path, hlen);
        goto fail;
    }
    if (fread(hdr, 1, hlen, f) != hlen) {
        rc = s24_error(S24_ERR_IO, "%s: read failed in the header", path);
        goto fail;
    }
    if ((rc = header_parse(hdr, hlen, path, total - 8 - hlen, out, &begins)) != S24_OK) goto fail;
    ull pos = 0;
    for (int i = 0; i < out->n; i++) {
        struct s24_st_tensor *t = &out->t[i];
        t->data = malloc(t->nbytes ? t->nbytes : 1);
        if (!t->data) {
            rc = s24_error(S24_ERR_NOMEM, "%s: out of memory for tensor \"%s\" (%zu bytes)", path,
                           t->name, t->nbytes);
            goto fail;
        }
        /* offsets tile the data section, so reading in order is sequential */
        if (begins[i] != pos || (t->nbytes && fread(t->data, 1, t->nbytes, f) != t->nbytes)) {
            rc = s24_error(S24_ERR_IO,
                           "%s: read failed in tensor \"%s\" (file changed while read?)", path,
                           t->name);
            goto fail;
        }
        pos += t->nbytes;
    }
    free(begins);
    free(hdr);
    fclose(f);
    return S24_OK;
fail:
    free(begins);
    free(hdr);
    fclose(f);
    s24_st_free(out);
    return rc;
}

/* ---------------------------------------------------------------- building */

struct s24_st_tensor *s24_st_find(const struct s24_st *st, const char *name)
{
    for (int i = 0; i < st->n; i++)
        if (!strcmp(st->t[i].name, name)) return &st->t[i];
    return NULL;
}

/* The checks of a new tensor (name, dtype, rank, shape) and its byte size
 * into *nbytes; the duplicate check is the caller's. */
static int tensor_check(const char *name, enum s24_dtype dt, int ndim, const int64_t *shape,
                        size_t *nbytes)
{
    if (!name || !name[0] || !utf8_valid((const uint8_t *)name, strlen(name)))
        return s24_error(S24_ERR_INVALID, "tensor name \"%s\" is empty or not UTF-8",
                         name ? name : "(null)");
    if (!strcmp(name, "__metadata__"))
        return s24_error(S24_ERR_INVALID, "\"__metadata__\" cannot name a tensor");
    if ((unsigned)dt >= S24_DTYPE_COUNT)
        return s24_error(S24_ERR_INVALID, "tensor \"%s\": bad dtype %d", name, (int)dt);
    if (ndim < 0 || ndim > S24_MAX_DIMS || (ndim && !shape))
        return s24_error(S24_ERR_INVALID, "tensor \"%s\": %d dimensions (0..%d)", name, ndim,
                         S24_MAX_DIMS);
    ull numel = 1, es = s24_dtype_size(dt);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return s24_error(S24_ERR_INVALID, "tensor \"%s\": negative dimension", name);
        if (shape[i] && numel > (1ull << 62) / (ull)shape[i])
            return s24_error(S24_ERR_INVALID, "tensor \"%s\": shape too large", name);
        numel *= (ull)shape[i];
    }
    if (numel > (1ull << 62) / es || (ull)(size_t)(numel * es) != numel * es)
        return s24_error(S24_ERR_INVALID, "tensor \"%s\": shape too large", name);
    *nbytes = (size_t)(numel * es);
    return S24_OK;
}

int s24_st_add(struct s24_st *st, const char *name, enum s24_dtype dt, int ndim,
               const int64_t *shape, const void *data)
{
    size_t nbytes;
    int rc = tensor_check(name, dt, ndim, shape, &nbytes);
    if (rc != S24_OK) return rc;
    if (s24_st_find(st, name))
        return s24_error(S24_ERR_INVALID, "tensor \"%s\" already exists", name);
    if (st->n == st->cap) {
        int cap = st->cap ? st->cap * 2 : 16;
        struct s24_st_tensor *t = realloc(st->t, (size_t)cap * sizeof *t);
        if (!t) return s24_error(S24_ERR_NOMEM, "out of memory adding tensor \"%s\"", name);
        st->t = t;
        st->cap = cap;
    }
    struct s24_st_tensor *t = &st->t[st->n];
    memset(t, 0, sizeof *t);
    t->nbytes = nbytes;
    t->name = dup_str(name);
    t->data = data ? malloc(t->nbytes ? t->nbytes : 1) : calloc(t->nbytes ? t->nbytes : 1, 1);
    if (!t->name || !t->data) {
        free(t->name);
        free(t->data);
        return s24_error(S24_ERR_NOMEM, "out of memory adding tensor \"%s\" (%zu bytes)", name,
                         t->nbytes);
    }
    if (data && t->nbytes) memcpy(t->data, data, t->nbytes);
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    st->n++;
    return S24_OK;
}

int s24_st_put(struct s24_st *st, int i, const char *name, enum s24_dtype dt, int ndim,
               const int64_t *shape, void **data)
{
    size_t nbytes;
    if (i < 0 || i > st->n)
        return s24_error(S24_ERR_INVALID, "tensor \"%s\": index %d outside 0..%d",
                         name ? name : "(null)", i, st->n);
    int rc = tensor_check(name, dt, ndim, shape, &nbytes);
    if (rc != S24_OK) return rc;
    /* only the tensors put before it count: the ones after are the last
     * fill's, about to be put again or truncated */
    for (int j = 0; j < i; j++)
        if (!strcmp(st->t[j].name, name))
            return s24_error(S24_ERR_INVALID, "tensor \"%s\" already exists", name);
    if (i == st->n) {
        if ((rc = s24_st_add(st, name, dt, ndim, shape, NULL)) != S24_OK) return rc;
        *data = st->t[i].data;
        return S24_OK;
    }
    struct s24_st_tensor *t = &st->t[i];
    if (strcmp(t->name, name)) {
        char *nm = dup_str(name);
        if (!nm) return s24_error(S24_ERR_NOMEM, "out of memory adding tensor \"%s\"", name);
        free(t->name);
        t->name = nm;
    }
    if (nbytes != t->nbytes) {
        /* free first: the old contents are not kept, and the peak stays one buffer */
        free(t->data);
        t->data = calloc(nbytes ? nbytes : 1, 1);
        t->nbytes = 0;
        if (!t->data)
            return s24_error(S24_ERR_NOMEM, "out of memory adding tensor \"%s\" (%zu bytes)", name,
                             nbytes);
        t->nbytes = nbytes;
    }
    t->dtype = dt;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        t->shape[d] = shape[d];
    *data = t->data;
    return S24_OK;
}

void s24_st_truncate(struct s24_st *st, int n)
{
    if (n < 0) n = 0;
    for (int i = n; i < st->n; i++) {
        free(st->t[i].name);
        free(st->t[i].data);
    }
    if (n < st->n) st->n = n;
}

int s24_st_meta_set(struct s24_st *st, const char *key, const char *value)
{
    if (!key || !value || !utf8_valid((const uint8_t *)key, strlen(key)) ||
        !utf8_valid((const uint8_t *)value, strlen(value)))
        return s24_error(S24_ERR_INVALID, "metadata key and value must be UTF-8 strings");
    char *v = dup_str(value);
    if (!v) return s24_error(S24_ERR_NOMEM, "out of memory setting metadata \"%s\"", key);
    for (int i = 0; i < st->nmeta; i++) {
        if (!strcmp(st->meta[i].key, key)) {
            free(st->meta[i].value);
            st->meta[i].value = v;
            return S24_OK;
        }
    }
    struct s24_st_kv *m = realloc(st->meta, (size_t)(st->nmeta + 1) * sizeof *m);
    char *k = dup_str(key);
    if (m) st->meta = m;
    if (!m || !k) {
        free(v);
        free(k);
        return s24_error(S24_ERR_NOMEM, "out of memory setting metadata \"%s\"", key);
    }
    st->meta[st->nmeta].key = k;
    st->meta[st->nmeta].value = v;
    st->nmeta++;
    return S24_OK;
}

const char *s24_st_meta_get(const struct s24_st *st, const char *key)
{
    for (int i = 0; i < st->nmeta; i++)
        if (!strcmp(st->meta[i].key, key)) return st->meta[i].value;
    return NULL;
}

/* ---------------------------------------------------------------- writing */

struct sbuf { char *p; size_t n, cap; int oom; };

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(struct sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_fmt_ull(struct sbuf *b, ull v)
{
    char tmp[32];
    int k = snprintf(tmp, sizeof tmp, "%llu", v);
    sb_put(b, tmp, (size_t)k);
}

/* A JSON string the way serde_json (the Rust writer) escapes it: quote,
 * backslash and control characters; UTF-8 passes through. */
static void sb_json(struct sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        switch (c) {
        case '"': sb_put(b, "\\\"", 2); break;
        case '\\': sb_put(b, "\\\\", 2); break;
        case '\n': sb_put(b, "\\n", 2); break;
        case '\r': sb_put(b, "\\r", 2); break;
        case '\t': sb_put(b, "\\t", 2); break;
        case '\b': sb_put(b, "\\b", 2); break;
        case '\f': sb_put(b, "\\f", 2); break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                sb_put(b, esc, 6);
            } else {
                sb_put(b, (const char *)s, 1);
            }
        }
    }
    sb_put(b, "\"", 1);
}

/* Compact JSON, metadata first, tensors in array order, spaces up to a
 * multiple of 8 bytes: the layout the reference writers produce. */
static int header_build(const struct s24_st *st, struct sbuf *b)
{
    sb_put(b, "{", 1);
    int first = 1;
    if (st->nmeta > 0) {
        sb_str(b, "\"__metadata__\":{");
        for (int i = 0; i < st->nmeta; i++) {
            if (i) sb_put(b, ",", 1);
            sb_json(b, st->meta[i].key);
            sb_put(b, ":", 1);
            sb_json(b, st->meta[i].value);
        }
        sb_put(b, "}", 1);
        first = 0;
    }
    ull off = 0;
    for (int i = 0; i < st->n; i++) {
        const struct s24_st_tensor *t = &st->t[i];
        if (!first) sb_put(b, ",", 1);
        first = 0;
        sb_json(b, t->name);
        sb_str(b, ":{\"dtype\":");
        sb_json(b, s24_dtype_name(t->dtype));
        sb_str(b, ",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) sb_put(b, ",", 1);
            sb_fmt_ull(b, (ull)t->shape[d]);
        }
        sb_str(b, "],\"data_offsets\":[");
        sb_fmt_ull(b, off);
        sb_put(b, ",", 1);
        off += t->nbytes;
        sb_fmt_ull(b, off);
        sb_str(b, "]}");
    }
    sb_put(b, "}", 1);
    while (!b->oom && b->n % 8) sb_put(b, " ", 1);
    return b->oom ? S24_ERR_NOMEM : S24_OK;
}

/* Does the raw header still describe st exactly (same tensors in the same
 * order with the same dtypes and shapes, same metadata)? Then writing it
 * back reproduces the file byte for byte. */
static int header_matches(const struct s24_st *st)
{
    struct s24_st h;
    if (!st->header) return 0;
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", s24_last_error());
    int rc = header_parse(st->header, st->header_len, "header", (ull)-1, &h, NULL);
    s24_error(S24_OK, "%s", saved); /* a stale header is not an error to report */
    if (rc != S24_OK) return 0;
    int same = h.n == st->n && h.nmeta == st->nmeta;
    for (int i = 0; same && i < st->n; i++) {
        const struct s24_st_tensor *a = &h.t[i], *b = &st->t[i];
        same = !strcmp(a->name, b->name) && a->dtype == b->dtype && a->ndim == b->ndim &&
               a->nbytes == b->nbytes &&
               !memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]);
    }
    for (int i = 0; same && i < st->nmeta; i++)
        same = !strcmp(h.meta[i].key, st->meta[i].key) &&
               !strcmp(h.meta[i].value, st->meta[i].value);
    s24_st_free(&h);
    return same;
}

/* Every tensor consistent before anything is written. */
static int st_validate(const char *path, const struct s24_st *st)
{
    for (int i = 0; i < st->n; i++) {
        const struct s24_st_tensor *t = &st->t[i];
        if (!t->name || !t->name[0] || !utf8_valid((const uint8_t *)t->name, strlen(t->name)))
            return s24_error(S24_ERR_INVALID, "%s: tensor %d has an empty or non-UTF-8 name",
                             path, i);
        if ((unsigned)t->dtype >= S24_DTYPE_COUNT || t->ndim < 0 || t->ndim > S24_MAX_DIMS)
            return s24_error(S24_ERR_INVALID, "%s: tensor \"%s\": bad dtype or rank", path,
                             t->name);
        ull numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0)
                return s24_error(S24_ERR_INVALID, "%s: tensor \"%s\": negative dimension", path,
                                 t->name);
            if (t->shape[d] && numel > (1ull << 62) / (ull)t->shape[d])
                return s24_error(S24_ERR_INVALID, "%s: tensor \"%s\": shape too large", path,
                                 t->name);
            numel *= (ull)t->shape[d];
        }
        if (numel * s24_dtype_size(t->dtype) != t->nbytes || (t->nbytes && !t->data))
            return s24_error(S24_ERR_INVALID,
                             "%s: tensor \"%s\": %zu bytes do not match shape and dtype %s", path,
                             t->name, t->nbytes, s24_dtype_name(t->dtype));
        for (int j = 0; j < i; j++)
            if (!strcmp(st->t[j].name, t->name))
                return s24_error(S24_ERR_INVALID, "%s: tensor \"%s\" appears twice", path, t->name);
    }
    return S24_OK;
}

int s24_st_write(const char *path, const struct s24_st *st)
{
    int rc = S24_OK;
    struct sbuf b = {0};
    s24_outfile_t f = NULL;
    if ((rc = st_validate(path, st)) != S24_OK) return rc;
    const char *hdr;
    size_t hlen;
    if (header_matches(st)) {
        hdr = st->header;
        hlen = st->header_len;
    } else {
        if (header_build(st, &b) != S24_OK) {
            rc = s24_error(S24_ERR_NOMEM, "%s: out of memory building the header", path);
            goto fail;
        }
        hdr = b.p;
        hlen = b.n;
    }
    if (hlen > ST_MAX_HEADER) {
        rc = s24_error(S24_ERR_INVALID, "%s: header of %zu bytes exceeds the %llu-byte limit", path,
                       hlen, ST_MAX_HEADER);
        goto fail;
    }
    if ((rc = s24_outfile_open(&f, path, 0)) != S24_OK) goto fail;
    uint8_t p8[8];
    for (int i = 0; i < 8; i++) p8[i] = (uint8_t)((ull)hlen >> (8 * i));
    if ((rc = s24_outfile_write(f, p8, 8)) != S24_OK) goto fail;
    if ((rc = s24_outfile_write(f, hdr, hlen)) != S24_OK) goto fail;
    for (int i = 0; i < st->n; i++) {
        const struct s24_st_tensor *t = &st->t[i];
        if (t->nbytes && (rc = s24_outfile_write(f, t->data, t->nbytes)) != S24_OK) goto fail;
    }
    rc = s24_outfile_commit(f);
    f = NULL;
fail:
    s24_outfile_abort(f);
    free(b.p);
    return rc;
}
