/* cmd_compress.c: `sparse24 compress`: store every 2:4 sparse conv/linear
 * weight of a safetensors file as <name>.values (the kept half, same dtype)
 * plus <name>.meta (U8, 2-bit positions; layout in include/sparse24/sparse24.h),
 * and record in __metadata__ what `sparse24 decompress` needs to restore the
 * dense file byte for byte: the format version, each compressed tensor's
 * dtype and shape, and the original header text.
 *
 * It does not prune: a weight that is not already 2:4 stays dense (run
 * `sparse24 prune` first). A weight that is 2:4 numerically but holds -0.0
 * where it was pruned (PyTorch's w * mask) is packed with those zeros made
 * +0.0, and the table says how many: the byte-exact compressor could not
 * store a third non-zero pattern in a group otherwise. The compressed file is for storage and for
 * the sparse engines; PyTorch cannot load it as a state dict.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "sparse24/sparse24.h"
#include "st_util.h"

#define S24_COMPRESS_FORMAT "2:4-v1"

static void usage(FILE *f)
{
    fprintf(f,
"usage: sparse24 compress IN.safetensors -o OUT.safetensors [options]\n"
"       sparse24 compress FILE.safetensors --in-place [options]\n"
"\n"
"Stores each 2:4 sparse weight (a floating-point 2-D or 4-D tensor named\n"
"*weight whose input channels are a multiple of 4 and that has at most 2\n"
"non-zeros in every group of 4 input channels) as two tensors:\n"
"  <name>.values  [rows, in/2]      the kept values, same dtype\n"
"  <name>.meta    [rows, ceil(in/8)] U8, two 2-bit positions per group\n"
"(rows = out for linear, out*kh*kw for conv). Everything else is copied.\n"
"__metadata__ keeps the input's entries and adds sparse24.format = " S24_COMPRESS_FORMAT ",\n"
"sparse24.tensor.<name> = \"<dtype> [shape]\" per compressed weight and\n"
"sparse24.header = the input's header, so 'sparse24 decompress' restores the\n"
"input byte for byte. Prints the bytes before and after.\n"
"\n"
"A weight pruned by multiplying with a mask (PyTorch's w * mask) holds -0.0\n"
"where a negative value was pruned. Such a weight is 2:4 by value, and is\n"
"compressed with its -0.0 stored as +0.0 (the table counts them; decompress\n"
"then gives +0.0 there, equal as numbers). When nothing is compressed, a note\n"
"on stderr says why.\n"
"\n"
"options:\n"
"  -o, --output FILE  the compressed file (written atomically; required unless\n"
"                     --in-place; never the input without it)\n"
"      --in-place     replace the input with the compressed file (atomically)\n"
"  -q, --quiet        no per-tensor table\n"
"  -h, --help         this text\n"
"\n"
"exit codes: 0 success, 1 runtime failure (bad file), 2 bad usage\n");
}

/* Make every -0.0 of a float tensor +0.0 (the sign bit alone set is -0.0 in
 * every IEEE-style format: F64, F32, F16, BF16, F8); returns how many. */
static int64_t clear_negative_zeros(struct s24_st_tensor *t)
{
    size_t es = s24_dtype_size(t->dtype);
    int64_t n = 0;
    unsigned char *b = t->data;
    for (size_t off = 0; es && off + es <= t->nbytes; off += es) {
        /* little-endian: the sign bit is the top bit of the last byte */
        int neg0 = b[off + es - 1] == 0x80;
        for (size_t j = 0; neg0 && j + 1 < es; j++) neg0 = b[off + j] == 0;
        if (neg0) {
            b[off + es - 1] = 0;
            n++;
        }
    }
    return n;
}

/* Why t stays dense, or NULL if it can be compressed (fills *v). */
static const char *dense_reason(const struct s24_st *in, const struct s24_st_tensor *t,
                                struct s24_view *v, char *why, size_t len)
{
    const char *r = st_eligible(t, ST_RULE_ANY, 2, 4, v, why, len);
    if (r) return r;
    char nm[1024];
    snprintf(nm, sizeof nm, "%s.values", t->name);
    int clash = s24_st_find(in, nm) != NULL;
    snprintf(nm, sizeof nm, "%s.meta", t->name);
    clash |= s24_st_find(in, nm) != NULL;
    if (clash || strlen(t->name) > 900) {
        snprintf(why, len, "name clash with .values/.meta");
        return why;
    }
    int64_t bad = 0;
    if (s24_mask_check(t->dtype, t->data, *v, 2, 4, &bad) != S24_OK) {
        snprintf(why, len, "not 2:4 (%lld groups)", (long long)bad);
        return why;
    }
    return NULL;
}

int cmd_compress(int argc, char **argv)
{
    static const struct option lo[] = {{"output", required_argument, 0, 'o'},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"in-place", no_argument, 0, 'P'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    const char *cmd = argv[0], *out = NULL;
    int c, quiet = 0, in_place = 0, rc, ec = S24_EXIT_FAIL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'q': quiet = 1; break;
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

    struct s24_st st, cs;
    struct s24_compressed comp = {0};
    s24_st_init(&cs);
    if ((rc = s24_st_read(in, &st)) != S24_OK) return cli_lib_fail(cmd, rc);
    for (int i = 0; i < st.nmeta; i++) {
        if (!strncmp(st.meta[i].key, "sparse24.", 9)) {
            ec = cli_fail(cmd, "%s: already has sparse24 metadata (\"%s\"): compressed already?",
                          in, st.meta[i].key);
            goto done;
        }
        if ((rc = s24_st_meta_set(&cs, st.meta[i].key, st.meta[i].value)) != S24_OK) goto lib_fail;
    }
    if ((rc = s24_st_meta_set(&cs, "sparse24.format", S24_COMPRESS_FORMAT)) != S24_OK)
        goto lib_fail;

    int namew = 6, ncomp = 0, nstuck = 0; /* nstuck: could be packed, stayed dense */
    int64_t negzeros = 0;
    char first_dense[256] = "";
    for (int i = 0; i < st.n; i++) {
        int l = (int)strlen(st.t[i].name);
        if (l > namew) namew = l < 48 ? l : 48;
    }
    if (!quiet)
        printf("%-*s  %-5s %-16s %10s %10s  %s\n", namew, "tensor", "dtype", "shape", "bytes",
               "stored", "how");
    int progress = st_progress_on() && !quiet;
    for (int i = 0; i < st.n; i++) {
        struct s24_st_tensor *t = &st.t[i];
        char why[96], shape[64], key[1100], how[64] = "";
        int64_t nz = 0;
        if (progress) fprintf(stderr, "\r[%d/%d] %-60.60s", i + 1, st.n, t->name);
        struct s24_view v;
        st_fmt_shape(shape, sizeof shape, t->ndim, t->shape);
        const char *r = dense_reason(&st, t, &v, why, sizeof why);
        int candidate = !r || !strncmp(r, "name clash", 10);
        if (!r && s24_compress(t->dtype, t->data, v, &comp) != S24_OK &&
            (!s24_dtype_is_float(t->dtype) || (nz = clear_negative_zeros(t)) == 0 ||
             s24_compress(t->dtype, t->data, v, &comp) != S24_OK)) {
            /* e.g. a -0.0 beside two kept values: three non-zero bit patterns */
            snprintf(why, sizeof why, "not compressible: %.60s", s24_last_error());
            r = why;
        }
        if (r) {
            if (candidate && !nstuck++)
                snprintf(first_dense, sizeof first_dense, "%.150s: %.90s", t->name, r);
            if ((rc = s24_st_add(&cs, t->name, t->dtype, t->ndim, t->shape, t->data)) != S24_OK)
                goto lib_fail;
            if (!quiet)
                printf("%-*s  %-5s %-16s %10zu %10zu  dense: %s\n", namew, t->name,
                       s24_dtype_name(t->dtype), shape, t->nbytes, t->nbytes, r);
            continue;
        }
        int64_t vs[2] = {comp.rows, comp.k / 2},
                ms[2] = {comp.rows, (int64_t)s24_meta_row_bytes(comp.k)};
        snprintf(key, sizeof key, "%s.values", t->name);
        if ((rc = s24_st_add(&cs, key, t->dtype, 2, vs, comp.values)) != S24_OK) goto lib_fail;
        snprintf(key, sizeof key, "%s.meta", t->name);
        if ((rc = s24_st_add(&cs, key, S24_U8, 2, ms, comp.meta)) != S24_OK) goto lib_fail;
        char info[96];
        snprintf(info, sizeof info, "%s %s", s24_dtype_name(t->dtype), shape);
        snprintf(key, sizeof key, "sparse24.tensor.%s", t->name);
        if ((rc = s24_st_meta_set(&cs, key, info)) != S24_OK) goto lib_fail;
        if (nz) snprintf(how, sizeof how, " (%lld -0.0 as +0.0)", (long long)nz);
        negzeros += nz;
        if (!quiet)
            printf("%-*s  %-5s %-16s %10zu %10zu  2:4 values + meta%s\n", namew, t->name,
                   s24_dtype_name(t->dtype), shape, t->nbytes, s24_compressed_bytes(&comp), how);
        s24_compressed_free(&comp);
        ncomp++;
    }
    if (progress) fprintf(stderr, "\r%-72s\r", "");
    /* last, so the tensor entries stay readable at the top of the header */
    if ((rc = s24_st_meta_set(&cs, "sparse24.header", st.header ? st.header : "")) != S24_OK)
        goto lib_fail;
    long long a = st_file_size(in); /* before: with --in-place the write replaces it */
    if ((rc = s24_st_write(out, &cs)) != S24_OK) goto lib_fail;
    long long b = st_file_size(out);
    printf("compressed %d of %d tensors: %s %lld bytes -> %s %lld bytes (%.1f%%)\n", ncomp, st.n,
           in, a, out, b, a > 0 ? 100.0 * (double)b / (double)a : 0.0);
    if (negzeros)
        printf("stored %lld -0.0 of pruned places as +0.0 (decompress gives +0.0 there)\n",
               (long long)negzeros);
    /* never a silent no-op: say why nothing was packed */
    if (!ncomp && first_dense[0])
        fprintf(stderr, "sparse24 %s: note: compressed nothing of %s; %d weights could be "
                "but stay dense, the first: %s\n", cmd, in, nstuck, first_dense);
    else if (!ncomp)
        fprintf(stderr, "sparse24 %s: note: compressed nothing: no conv/linear weight of %s is "
                "2:4 (run 'sparse24 prune' first)\n", cmd, in);
    ec = S24_EXIT_OK;
    goto done;
lib_fail:
    ec = cli_lib_fail(cmd, rc);
done:
    s24_compressed_free(&comp);
    s24_st_free(&st);
    s24_st_free(&cs);
    return ec;
}
