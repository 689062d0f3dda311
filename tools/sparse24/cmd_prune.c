/* cmd_prune.c: `sparse24 prune`: prune the conv and linear weights of a
 * safetensors checkpoint to N:M (2:4) in place, keeping names, dtypes, dense
 * layout and every other byte, so PyTorch loads the result unchanged.
 *
 * It does not compress (see `compress`), search channel permutations (see
 * `permute`) or retrain; masks come from magnitude (s24_mask_compute) or from
 * a masks file written by an earlier --save-masks.
 */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparse24/sparse24.h"
#include "st_util.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: sparse24 prune IN.safetensors -o OUT.safetensors [options]\n"
"       sparse24 prune FILE.safetensors --in-place [options]\n"
"\n"
"Prunes every eligible weight to N:M along input channels, keeping the N\n"
"largest |w| of each group of M (ties: the lower index wins). Pruned weights\n"
"keep their name, dtype (F32, F16, BF16 pruned in their own dtype) and dense\n"
"layout; every other tensor and the header stay byte-identical, so PyTorch's\n"
"load_state_dict takes the result unchanged.\n"
"\n"
"options:\n"
"  -o, --output FILE     the pruned checkpoint (written atomically; required\n"
"                        unless --in-place; never the input without it)\n"
"      --in-place        replace the input with the pruned file (atomically)\n"
"      --allow-nonfinite prune weights holding NaN or infinity anyway (NaN ranks\n"
"                        above every number, so it is kept); without it such a\n"
"                        weight is an error and nothing is written\n"
"  -p, --pattern N:M     sparsity pattern (default 2:4; M <= 16)\n"
"      --min-shape RULE  which weights are eligible (default asp):\n"
"                          asp: 2-D linear [out, in] or 4-D conv [out, in, kh, kw]\n"
"                               named *weight, out %% 8 == 0, in %% 16 == 0 and\n"
"                               in %% M == 0 (what Sparse Tensor Cores and\n"
"                               NVIDIA ASP accept)\n"
"                          any: the same without the out/in %% 8/16 rules\n"
"      --include-embeddings\n"
"                        prune lookup tables too: embeddings and the output\n"
"                        head (lm_head, or a weight shaped like the vocabulary\n"
"                        table), which are skipped by default\n"
"      --include REGEX   prune only names matching this POSIX extended regex\n"
"                        (repeatable: any may match)\n"
"      --exclude REGEX   never prune names matching this regex (repeatable)\n"
"      --save-masks FILE write the masks as a safetensors file: one U8 tensor\n"
"                        (1 keep, 0 pruned) per pruned weight, same name and shape\n"
"      --masks FILE      apply these masks (as written by --save-masks, U8 or\n"
"                        BOOL) instead of computing them; each is checked to\n"
"                        match its weight's shape and to be exactly N:M (N:M\n"
"                        from the file's sparse24.pattern unless --pattern)\n"
"  -t, --threads N       " CLI_THREADS_HELP "\n"
"  -q, --quiet           no per-tensor table\n"
"  -h, --help            this text\n"
"\n"
"Lookup tables are left dense by default (an embedding is indexed, not\n"
"multiplied, so 2:4 gains nothing there): names with a dotted component that\n"
"contains \"embed\" (embed_tokens, word_embeddings, position_embeddings ...),\n"
"or is wte, wpe, emb, *_emb or relative_attention_bias, or shared.weight;\n"
"output heads: a component lm_head, or a 2-D weight outside the numbered\n"
"blocks (no all-digit component, as in layers.3) with the same shape as the\n"
"largest embedding, when that has more rows than columns.\n"
"\n"
"The table lists each tensor: shape, dtype, pruned or skipped and why, and\n"
"the share of its magnitude sum(|w|) that pruning kept. The totals give the\n"
"share of floating-point parameters now N:M, and the share of conv/linear\n"
"multiply-adds now N:M. A file holds no spatial sizes, so multiply-adds are\n"
"counted per output position: a weight of shape [out, in, kh, kw] costs\n"
"out*in*kh*kw per position (a linear layer is one position); convs on larger\n"
"feature maps weigh more in a real forward than this share shows.\n"
"\n"
"exit codes: 0 success, 1 runtime failure (bad file, bad masks), 2 bad usage\n");
}

struct opts {
    const char *in, *out, *save_masks, *masks;
    int n, m, quiet, pattern_given, in_place, include_tables, allow_nonfinite;
    enum st_rule rule;
    struct st_filter filter;
};

/* Check a user-given mask against its weight: U8/BOOL 0/1, same shape, N:M. */
static int mask_from_file(const char *cmd, const char *file, const struct s24_st_tensor *mt,
                          const struct s24_st_tensor *w, struct s24_view v, int n, int m)
{
    char s1[128], s2[128];
    if (mt->dtype != S24_U8 && mt->dtype != S24_BOOL)
        return cli_fail(cmd, "%s: mask \"%s\" is %s, expected U8 or BOOL", file, mt->name,
                        s24_dtype_name(mt->dtype));
    if (mt->ndim != w->ndim || memcmp(mt->shape, w->shape, (size_t)w->ndim * sizeof w->shape[0])) {
        st_fmt_shape(s1, sizeof s1, mt->ndim, mt->shape);
        st_fmt_shape(s2, sizeof s2, w->ndim, w->shape);
        return cli_fail(cmd, "%s: mask \"%s\" has shape %s but the weight has %s", file, mt->name,
                        s1, s2);
    }
    const uint8_t *b = mt->data;
    for (size_t i = 0; i < mt->nbytes; i++)
        if (b[i] > 1)
            return cli_fail(cmd, "%s: mask \"%s\" holds %u at element %zu (only 0 and 1 allowed)",
                            file, mt->name, b[i], i);
    if (v.red % m)
        return cli_fail(cmd, "%s: mask \"%s\": input channels %lld not a multiple of %d", file,
                        mt->name, (long long)v.red, m);
    if (s24_mask_check_mask(b, v, n, m) != S24_OK)
        return cli_fail(cmd, "%s: mask \"%s\" is not exactly %d:%d along input channels: %s", file,
                        mt->name, n, m, s24_last_error());
    return S24_EXIT_OK;
}

static int run(const char *cmd, struct opts *o)
{
    int ec = S24_EXIT_FAIL, rc;
    struct s24_st st, masks_in, masks_out;
    uint8_t *mask = NULL;
    int wrote_masks = 0;
    s24_st_init(&st);
    s24_st_init(&masks_in);
    s24_st_init(&masks_out);

    if ((rc = s24_st_read(o->in, &st)) != S24_OK) {
        ec = cli_lib_fail(cmd, rc);
        goto done;
    }
    if (s24_st_meta_get(&st, "sparse24.format")) {
        ec = cli_fail(cmd, "%s: is a sparse24 compressed file; run 'sparse24 decompress' first",
                      o->in);
        goto done;
    }
    if (o->masks) {
        if ((rc = s24_st_read(o->masks, &masks_in)) != S24_OK) {
            ec = cli_lib_fail(cmd, rc);
            goto done;
        }
        /* the pattern the masks were saved with, unless --pattern overrides it */
        const char *mp = s24_st_meta_get(&masks_in, "sparse24.pattern");
        if (mp && !o->pattern_given && st_parse_pattern(mp, &o->n, &o->m)) {
            ec = cli_fail(cmd, "%s: sparse24.pattern \"%s\" is not N:M", o->masks, mp);
            goto done;
        }
        for (int i = 0; i < masks_in.n; i++) {
            if (!s24_st_find(&st, masks_in.t[i].name)) {
                ec = cli_fail(cmd, "%s: mask \"%s\" names no tensor of %s", o->masks,
                              masks_in.t[i].name, o->in);
                goto done;
            }
        }
    }
    char pat[16];
    snprintf(pat, sizeof pat, "%d:%d", o->n, o->m);
    if (o->save_masks) s24_st_meta_set(&masks_out, "sparse24.pattern", pat);

    int namew = 6;
    for (int i = 0; i < st.n; i++) {
        int l = (int)strlen(st.t[i].name);
        if (l > namew) namew = l < 48 ? l : 48;
    }
    if (!o->quiet)
        printf("%-*s  %-16s %-5s %-36s %s\n", namew, "tensor", "shape", "dtype", "action",
               "kept |w|");

    double par_all = 0, par_nm = 0, mac_all = 0, mac_nm = 0, mag_all = 0, mag_kept = 0;
    int npruned = 0;
    const struct s24_st_tensor *vocab = st_vocab_table(&st);
    int progress = st_progress_on() && !o->quiet;
    for (int i = 0; i < st.n; i++) {
        struct s24_st_tensor *t = &st.t[i];
        int64_t numel = s24_numel(t->ndim, t->shape);
        char why[96], shape[64], action[128];
        const char *skip;
        struct s24_view v;
        /* an embedding is a lookup: no multiply-adds, pruned or not */
        enum st_table table = st_table_of(t, vocab);
        int macs = s24_dtype_is_float(t->dtype) && st_is_weight_name(t->name) &&
                   (t->ndim == 2 || t->ndim == 4) && table != ST_TABLE_EMBEDDING;
        st_fmt_shape(shape, sizeof shape, t->ndim, t->shape);
        if (s24_dtype_is_float(t->dtype)) par_all += (double)numel;
        if (macs) mac_all += (double)numel;
        if (progress) fprintf(stderr, "\r[%d/%d] %-60.60s", i + 1, st.n, t->name);

        const struct s24_st_tensor *mt = o->masks ? s24_st_find(&masks_in, t->name) : NULL;
        if (o->masks) {
            /* a given mask decides, whatever the shape rule says */
            skip =
                mt ? st_eligible(t, ST_RULE_ANY, o->n, o->m, &v, why, sizeof why) : "no mask given";
            if (mt && skip) {
                ec = cli_fail(cmd, "%s: mask \"%s\" given for a tensor that cannot be pruned (%s)",
                              o->masks, t->name, skip);
                goto done;
            }
        } else {
            skip = st_eligible(t, o->rule, o->n, o->m, &v, why, sizeof why);
            if (!skip && !o->include_tables) skip = st_table_why(table);
        }
        if (!skip) skip = st_filter_why(&o->filter, t->name);
        if (skip) {
            if (!o->quiet)
                printf("%-*s  %-16s %-5s skipped: %-27s %8s\n", namew, t->name, shape,
                       s24_dtype_name(t->dtype), skip, "-");
            continue;
        }
        /* magnitude ranking of NaN/Inf is arbitrary; refuse as permute does */
        int64_t bad = o->allow_nonfinite ? -1 : s24_find_nonfinite(t->dtype, t->data, numel);
        if (bad >= 0) {
            if (progress) fprintf(stderr, "\r%-72s\r", "");
            ec = cli_fail(cmd,
                          "%s: tensor \"%s\": element %lld of %lld is %s; pruning by |w| needs "
                          "finite weights (--allow-nonfinite prunes anyway); nothing written",
                          o->in, t->name, (long long)bad, (long long)numel,
                          isnan(s24_load_float(t->dtype, t->data, bad)) ? "NaN" : "infinite");
            goto done;
        }
        free(mask);
        mask = malloc((size_t)numel);
        if (!mask) {
            ec = cli_fail(cmd, "%s: out of memory for the mask of \"%s\"", o->in, t->name);
            goto done;
        }
        if (mt) {
            if ((ec = mask_from_file(cmd, o->masks, mt, t, v, o->n, o->m)) != S24_EXIT_OK)
                goto done;
            ec = S24_EXIT_FAIL;
            memcpy(mask, mt->data, (size_t)numel);
        } else if ((rc = s24_mask_compute(t->dtype, t->data, v, o->n, o->m, mask)) != S24_OK) {
            ec = cli_fail(cmd, "%s: tensor \"%s\": %s", o->in, t->name, s24_last_error());
            goto done;
        }
        double before, after;
        st_mag_sums(t->dtype, t->data, mask, numel, &before, &after);
        if ((rc = s24_mask_apply(t->dtype, t->data, v, mask)) != S24_OK) {
            ec = cli_fail(cmd, "%s: tensor \"%s\": %s", o->in, t->name, s24_last_error());
            goto done;
        }
        if (o->save_masks &&
            (rc = s24_st_add(&masks_out, t->name, S24_U8, t->ndim, t->shape, mask)) != S24_OK) {
            ec = cli_lib_fail(cmd, rc);
            goto done;
        }
        npruned++;
        par_nm += (double)numel;
        if (macs) mac_nm += (double)numel;
        mag_all += before;
        mag_kept += after;
        if (!o->quiet) {
            snprintf(action, sizeof action, "pruned %s%s", pat, mt ? " (given mask)" : "");
            if (before > 0)
                printf("%-*s  %-16s %-5s %-36s %7.2f%%\n", namew, t->name, shape,
                       s24_dtype_name(t->dtype), action, 100.0 * after / before);
            else
                printf("%-*s  %-16s %-5s %-36s %8s\n", namew, t->name, shape,
                       s24_dtype_name(t->dtype), action, "-");
        }
    }
    if (progress) fprintf(stderr, "\r%-72s\r", "");

    if (o->save_masks) {
        if ((rc = s24_st_write(o->save_masks, &masks_out)) != S24_OK) {
            ec = cli_lib_fail(cmd, rc);
            goto done;
        }
        wrote_masks = 1;
    }
    if ((rc = s24_st_write(o->out, &st)) != S24_OK) {
        ec = cli_lib_fail(cmd, rc);
        /* the masks belong to an output that does not exist */
        if (wrote_masks) remove(o->save_masks);
        goto done;
    }
    printf("pruned %d of %d tensors to %s\n", npruned, st.n, pat);
    printf("parameters now %s: %.0f of %.0f floating-point elements (%.1f%%)\n", pat, par_nm,
           par_all, par_all > 0 ? 100.0 * par_nm / par_all : 0.0);
    printf("conv/linear multiply-adds now %s: %.0f of %.0f per output position (%.1f%%)\n", pat,
           mac_nm, mac_all, mac_all > 0 ? 100.0 * mac_nm / mac_all : 0.0);
    if (npruned)
        printf("magnitude kept in pruned tensors: %.2f%%\n",
               mag_all > 0 ? 100.0 * mag_kept / mag_all : 100.0);
    printf("wrote %s%s%s\n", o->out, o->save_masks ? " and masks " : "",
           o->save_masks ? o->save_masks : "");
    ec = S24_EXIT_OK;
done:
    free(mask);
    s24_st_free(&st);
    s24_st_free(&masks_in);
    s24_st_free(&masks_out);
    return ec;
}

int cmd_prune(int argc, char **argv)
{
    static const struct option lo[] = {
        {"output", required_argument, 0, 'o'}, {"pattern", required_argument, 0, 'p'},
        {"include", required_argument, 0, 'I'}, {"exclude", required_argument, 0, 'E'},
        {"min-shape", required_argument, 0, 'S'}, {"save-masks", required_argument, 0, 'W'},
        {"masks", required_argument, 0, 'M'}, {"threads", required_argument, 0, 't'},
        {"quiet", no_argument, 0, 'q'}, {"in-place", no_argument, 0, 'P'},
        {"include-embeddings", no_argument, 0, 'B'}, {"allow-nonfinite", no_argument, 0, 'F'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = argv[0];
    struct opts o = {.n = 2, .m = 4, .rule = ST_RULE_ASP};
    int c, ec;
    st_filter_init(&o.filter);
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:p:t:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'o': o.out = optarg; break;
        case 'p':
            o.pattern_given = 1;
            if (st_parse_pattern(optarg, &o.n, &o.m)) {
                ec = cli_usage(cmd, "--pattern '%s': expected N:M with 1 <= N < M <= 16", optarg);
                goto out;
            }
            break;
        case 'I':
        case 'E':
            if (st_filter_add(&o.filter, cmd, optarg, c == 'E')) {
                ec = S24_EXIT_USAGE;
                goto out;
            }
            break;
        case 'S':
            if (!strcmp(optarg, "asp")) o.rule = ST_RULE_ASP;
            else if (!strcmp(optarg, "any")) o.rule = ST_RULE_ANY;
            else {
                ec = cli_usage(cmd, "--min-shape '%s': expected asp or any", optarg);
                goto out;
            }
            break;
        case 'W': o.save_masks = optarg; break;
        case 'M': o.masks = optarg; break;
        case 't':
            if ((ec = cli_threads(cmd, optarg)) != S24_EXIT_OK) goto out;
            break;
        case 'q': o.quiet = 1; break;
        case 'P': o.in_place = 1; break;
        case 'B': o.include_tables = 1; break;
        case 'F': o.allow_nonfinite = 1; break;
        case 'h':
            usage(stdout);
            ec = S24_EXIT_OK;
            goto out;
        default: ec = cli_usage(cmd, "bad option"); goto out;
        }
    }
    if (optind != argc - 1) {
        ec = cli_usage(cmd, optind >= argc ? "missing IN.safetensors" : "one input file expected");
        goto out;
    }
    o.in = argv[optind];
    if (!o.out && o.in_place) o.out = o.in;
    if (!o.out) {
        ec = cli_usage(cmd, "missing -o OUT.safetensors (or --in-place)");
        goto out;
    }
    if (o.save_masks && (!strcmp(o.save_masks, o.out) || !strcmp(o.save_masks, o.in) ||
                         s24_outfile_same(o.save_masks, o.out) ||
                         s24_outfile_same(o.save_masks, o.in))) {
        ec = cli_usage(cmd, "--save-masks must name a file other than the input and output");
        goto out;
    }
    /* before the work: a target that cannot be written, or the input lost */
    if ((ec = cli_output_check(cmd, o.out, 0)) != S24_EXIT_OK ||
        (o.save_masks && (ec = cli_output_check(cmd, o.save_masks, 0)) != S24_EXIT_OK) ||
        (!o.in_place && (ec = cli_output_not_input(cmd, o.out, o.in, 1)) != S24_EXIT_OK) ||
        (o.masks && (ec = cli_output_not_input(cmd, o.out, o.masks, 0)) != S24_EXIT_OK))
        goto out;
    ec = run(cmd, &o);
out:
    st_filter_free(&o.filter);
    return ec;
}
