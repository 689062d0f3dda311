/* cmd_decompress.c: `sparse24 decompress`: turn a file written by
 * `sparse24 compress` back into the dense safetensors file it came from, byte
 * for byte: the original header (kept in __metadata__) fixes names, order,
 * dtypes, shapes and offsets; each <name>.values/<name>.meta pair is expanded
 * into its dense weight, every other tensor copied.
 *
 * Everything is cross-checked (format version, per-tensor dtype and shape,
 * values/meta shapes, no tensor left over) before the output is written.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sparse24/sparse24.h"
#include "st_util.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: sparse24 decompress IN.safetensors -o OUT.safetensors\n"
"       sparse24 decompress FILE.safetensors --in-place\n"
"\n"
"Restores the dense file that 'sparse24 compress' compressed, byte for byte\n"
"(format 2:4-v1). Prints the bytes before and after.\n"
"\n"
"options:\n"
"  -o, --output FILE  the dense file (written atomically; required unless\n"
"                     --in-place; never the input without it)\n"
"      --in-place     replace the input with the dense file (atomically)\n"
"  -h, --help         this text\n"
"\n"
"exit codes: 0 success, 1 runtime failure (not a compressed file, damaged), 2 bad usage\n");
}

static int same_layout(const struct s24_st_tensor *a, const struct s24_st_tensor *b)
{
    return a->dtype == b->dtype && a->ndim == b->ndim && a->nbytes == b->nbytes &&
           !memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]);
}

/* Expand <name>.values/<name>.meta of `in` into d (dense, from the header). */
static int expand(const char *cmd, const char *path, struct s24_st *in, char *used,
                  struct s24_st_tensor *d, const char *info)
{
    char key[1100], shape[64], want[96];
    struct s24_view v;
    st_fmt_shape(shape, sizeof shape, d->ndim, d->shape);
    snprintf(want, sizeof want, "%s %s", s24_dtype_name(d->dtype), shape);
    if (strcmp(info, want))
        return cli_fail(cmd, "%s: \"%s\": metadata says %s but the original header says %s", path,
                        d->name, info, want);
    if ((d->ndim != 2 && d->ndim != 4) || s24_view_of_shape(d->ndim, d->shape, &v) != S24_OK ||
        v.red % 4)
        return cli_fail(cmd, "%s: \"%s\" %s cannot hold 2:4 compressed data", path, d->name, want);
    snprintf(key, sizeof key, "%s.values", d->name);
    struct s24_st_tensor *val = s24_st_find(in, key);
    snprintf(key, sizeof key, "%s.meta", d->name);
    struct s24_st_tensor *meta = s24_st_find(in, key);
    if (!val || !meta)
        return cli_fail(cmd, "%s: \"%s\" is marked compressed but \"%s.%s\" is missing", path,
                        d->name, d->name, val ? "meta" : "values");
    int64_t rows = v.outer * v.inner, k = v.red;
    if (val->dtype != d->dtype || val->ndim != 2 || val->shape[0] != rows || val->shape[1] != k / 2)
        return cli_fail(cmd, "%s: \"%s.values\" should be %s [%lld,%lld]", path, d->name,
                        s24_dtype_name(d->dtype), (long long)rows, (long long)(k / 2));
    if (meta->dtype != S24_U8 || meta->ndim != 2 || meta->shape[0] != rows ||
        meta->shape[1] != (int64_t)s24_meta_row_bytes(k))
        return cli_fail(cmd, "%s: \"%s.meta\" should be U8 [%lld,%zu]", path, d->name,
                        (long long)rows, s24_meta_row_bytes(k));
    struct s24_compressed c = {d->dtype, rows, k, val->data, meta->data};
    if (s24_decompress(&c, v, d->data) != S24_OK)
        return cli_fail(cmd, "%s: \"%s\": %s", path, d->name, s24_last_error());
    used[val - in->t] = used[meta - in->t] = 1;
    return S24_EXIT_OK;
}

/* Declared in st_util.h; apart from the command so fuzz/fuzz_decompress.c
 * runs it on bytes in memory. dense: the caller frees it. */
int st_decompress(const char *cmd, const char *in, struct s24_st *st, struct s24_st *dense,
                  int *ncomp)
{
    int rc, ec = S24_EXIT_FAIL;
    char *used = NULL;
    *ncomp = 0;
    const char *fmt = s24_st_meta_get(st, "sparse24.format");
    const char *hdr = s24_st_meta_get(st, "sparse24.header");
    if (!fmt) {
        ec = cli_fail(cmd, "%s: not a sparse24 compressed file (no sparse24.format metadata)", in);
        goto done;
    }
    if (strcmp(fmt, "2:4-v1")) {
        ec = cli_fail(cmd, "%s: sparse24.format \"%s\" is not supported (this build reads 2:4-v1)",
                      in, fmt);
        goto done;
    }
    if (!hdr) {
        ec = cli_fail(cmd, "%s: sparse24.header metadata missing", in);
        goto done;
    }
    char what[600];
    snprintf(what, sizeof what, "%s: sparse24.header", in);
    if ((rc = s24_st_parse_header(hdr, strlen(hdr), what, dense)) != S24_OK) {
        ec = cli_lib_fail(cmd, rc);
        goto done;
    }
    used = calloc((size_t)st->n + 1, 1);
    if (!used) {
        ec = cli_fail(cmd, "%s: out of memory", in);
        goto done;
    }
    for (int i = 0; i < dense->n; i++) {
        struct s24_st_tensor *d = &dense->t[i];
        char key[1100];
        snprintf(key, sizeof key, "sparse24.tensor.%s", d->name);
        const char *info = s24_st_meta_get(st, key);
        if (info) {
            if ((ec = expand(cmd, in, st, used, d, info)) != S24_EXIT_OK) goto done;
            ec = S24_EXIT_FAIL;
            (*ncomp)++;
            continue;
        }
        struct s24_st_tensor *t = s24_st_find(st, d->name);
        if (!t) {
            ec = cli_fail(cmd, "%s: tensor \"%s\" of the original header is missing", in, d->name);
            goto done;
        }
        if (!same_layout(t, d)) {
            ec = cli_fail(cmd,
                          "%s: tensor \"%s\" differs in dtype or shape from the original header",
                          in, d->name);
            goto done;
        }
        if (t->nbytes) memcpy(d->data, t->data, t->nbytes);
        used[t - st->t] = 1;
    }
    for (int i = 0; i < st->n; i++) {
        if (!used[i]) {
            ec = cli_fail(cmd, "%s: tensor \"%s\" belongs to no tensor of the original header", in,
                          st->t[i].name);
            goto done;
        }
    }
    for (int i = 0; i < st->nmeta; i++) {
        const char *k = st->meta[i].key;
        if (!strncmp(k, "sparse24.tensor.", 16) && !s24_st_find(dense, k + 16)) {
            ec = cli_fail(cmd, "%s: metadata \"%s\" names no tensor of the original header", in, k);
            goto done;
        }
    }
    ec = S24_EXIT_OK;
done:
    free(used);
    return ec;
}

int cmd_decompress(int argc, char **argv)
{
    static const struct option lo[] = {{"output", required_argument, 0, 'o'},
                                       {"in-place", no_argument, 0, 'P'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    const char *cmd = argv[0], *out = NULL;
    int c, rc, in_place = 0, ec = S24_EXIT_FAIL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'P': in_place = 1; break;
        case 'h': usage(stdout); return S24_EXIT_OK;
        default: return cli_usage(cmd, "bad option");
        }
    }
    if (optind != argc - 1)
        return cli_usage(cmd,
                         optind >= argc ? "missing IN.safetensors" : "one input file expected");
    const char *in = argv[optind];
    if (!out && in_place) out = in;
    if (!out) return cli_usage(cmd, "missing -o OUT.safetensors (or --in-place)");
    if ((ec = cli_output_check(cmd, out, 0)) != S24_EXIT_OK ||
        (!in_place && (ec = cli_output_not_input(cmd, out, in, 1)) != S24_EXIT_OK))
        return ec;
    ec = S24_EXIT_FAIL;

    struct s24_st st, dense;
    s24_st_init(&dense);
    if ((rc = s24_st_read(in, &st)) != S24_OK) return cli_lib_fail(cmd, rc);
    int ncomp = 0;
    if ((ec = st_decompress(cmd, in, &st, &dense, &ncomp)) != S24_EXIT_OK) goto done;
    ec = S24_EXIT_FAIL;
    long long a = st_file_size(in); /* before: with --in-place the write replaces it */
    if ((rc = s24_st_write(out, &dense)) != S24_OK) {
        ec = cli_lib_fail(cmd, rc);
        goto done;
    }
    long long b = st_file_size(out);
    printf("decompressed %d tensors: %s %lld bytes -> %s %lld bytes\n", ncomp, in, a, out, b);
    ec = S24_EXIT_OK;
done:
    s24_st_free(&st);
    s24_st_free(&dense);
    return ec;
}
