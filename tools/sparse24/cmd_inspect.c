/* cmd_inspect.c: `sparse24 inspect`: list the tensors of a safetensors file
 * (name, dtype, shape, bytes), say which conv/linear weights are N:M sparse
 * (2:4, and 1:4 / 4:8 where those hold too), and print the metadata.
 *
 * It only reads; it does not judge whether a dense weight would prune well
 * (that is `prune`'s kept-magnitude column).
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "sparse24/sparse24.h"
#include "st_util.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: sparse24 inspect FILE.safetensors [options]\n"
"\n"
"Lists every tensor (name, dtype, shape, bytes) in file order and, for each\n"
"floating-point conv/linear weight (2-D or 4-D, named *weight) whose input\n"
"channels divide into groups, which N:M patterns it satisfies along input\n"
"channels: 2:4, and also 1:4 and 4:8 where they hold (at most N non-zeros in\n"
"every group of M). Then the metadata, and for a file written by\n"
"'sparse24 compress', which tensors are stored compressed.\n"
"\n"
"options:\n"
"  -q, --quiet   only the totals and metadata\n"
"  -h, --help    this text\n"
"\n"
"exit codes: 0 success, 1 runtime failure (missing or malformed file), 2 bad usage\n");
}

/* The N:M patterns that hold for t, as "1:4 2:4 4:8", or "dense". */
static int patterns(const struct s24_st_tensor *t, struct s24_view v, char *buf, size_t len)
{
    static const int pats[3][2] = {{1, 4}, {2, 4}, {4, 8}};
    int any = 0, has24 = 0;
    size_t o = 0;
    buf[0] = 0;
    for (int p = 0; p < 3; p++) {
        int n = pats[p][0], m = pats[p][1];
        if (v.red % m) continue;
        if (s24_mask_check(t->dtype, t->data, v, n, m, NULL) == S24_OK) {
            o += (size_t)snprintf(buf + o, len - o, "%s%d:%d", any ? " " : "", n, m);
            any = 1;
            if (n == 2 && m == 4) has24 = 1;
        }
        if (o >= len) break;
    }
    if (!any) snprintf(buf, len, "dense");
    return has24;
}

static double zero_share(const struct s24_st_tensor *t)
{
    int64_t n = s24_numel(t->ndim, t->shape), z = 0;
    for (int64_t i = 0; i < n; i++) z += s24_load_float(t->dtype, t->data, i) == 0.0;
    return n ? 100.0 * (double)z / (double)n : 0.0;
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option lo[] = {
        {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = argv[0];
    int c, quiet = 0, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
        switch (c) {
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return S24_EXIT_OK;
        default: return cli_usage(cmd, "bad option");
        }
    }
    if (optind != argc - 1)
        return cli_usage(cmd, optind >= argc ? "missing FILE.safetensors" : "one file expected");
    const char *path = argv[optind];
    struct s24_st st;
    if ((rc = s24_st_read(path, &st)) != S24_OK) return cli_lib_fail(cmd, rc);

    const char *fmt = s24_st_meta_get(&st, "sparse24.format");
    size_t data_bytes = 0;
    for (int i = 0; i < st.n; i++) data_bytes += st.t[i].nbytes;
    char hb[32], db[32];
    st_fmt_bytes(hb, sizeof hb, (double)st.header_len);
    st_fmt_bytes(db, sizeof db, (double)data_bytes);
    printf("%s: %d tensors, header %s, data %s%s%s\n", path, st.n, hb, db,
           fmt ? ", sparse24 compressed " : "", fmt ? fmt : "");

    int namew = 6;
    for (int i = 0; i < st.n; i++) {
        int l = (int)strlen(st.t[i].name);
        if (l > namew) namew = l < 48 ? l : 48;
    }
    if (!quiet)
        printf("%-*s  %-7s %-16s %10s  %s\n", namew, "tensor", "dtype", "shape", "bytes", "N:M");
    int nweights = 0, n24 = 0, ncompressed = 0;
    int progress = st_progress_on() && quiet; /* the table itself shows progress */
    for (int i = 0; i < st.n; i++) {
        const struct s24_st_tensor *t = &st.t[i];
        if (progress) fprintf(stderr, "\r[%d/%d] %-60.60s", i + 1, st.n, t->name);
        char shape[64], why[96], sp[64];
        struct s24_view v;
        st_fmt_shape(shape, sizeof shape, t->ndim, t->shape);
        sp[0] = 0;
        size_t nl = strlen(t->name);
        if (fmt && nl > 7 && !strcmp(t->name + nl - 7, ".values")) {
            snprintf(sp, sizeof sp, "2:4 compressed values");
            ncompressed++;
        } else if (fmt && nl > 5 && !strcmp(t->name + nl - 5, ".meta") && t->dtype == S24_U8) {
            snprintf(sp, sizeof sp, "2:4 compressed metadata");
        } else if (!st_eligible(t, ST_RULE_ANY, 2, 4, &v, why, sizeof why)) {
            nweights++;
            n24 += patterns(t, v, sp, sizeof sp);
            size_t o = strlen(sp);
            snprintf(sp + o, sizeof sp - o, " (zeros %.1f%%)", zero_share(t));
        } else {
            snprintf(sp, sizeof sp, "-");
        }
        if (!quiet)
            printf("%-*s  %-7s %-16s %10zu  %s\n", namew, t->name, s24_dtype_name(t->dtype), shape,
                   t->nbytes, sp);
    }
    if (progress) fprintf(stderr, "\r%-72s\r", "");
    printf("%d of %d conv/linear weights are 2:4 sparse", n24, nweights);
    if (fmt) printf("; %d stored compressed", ncompressed);
    printf("\n");
    if (st.nmeta) {
        printf("metadata:\n");
        for (int i = 0; i < st.nmeta; i++) {
            const char *val = st.meta[i].value;
            size_t vl = strlen(val);
            if (vl > 72)
                printf("  %s = %.60s... (%zu bytes)\n", st.meta[i].key, val, vl);
            else
                printf("  %s = %s\n", st.meta[i].key, val);
        }
    }
    s24_st_free(&st);
    return S24_EXIT_OK;
}
