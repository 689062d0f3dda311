/* permute_net.c: channel permutations applied to a whole checkpoint, so that
 * 2:4 pruning keeps more magnitude while the network computes the same
 * function. Works on the safetensors state dict alone (torchvision names,
 * PyTorch layouts), so it needs no model code.
 *
 * A "channel space" is a set of channels that several tensors index the same
 * way: the producers' output channels (conv/linear weight dim 0, conv bias,
 * BatchNorm weight, bias, running mean and variance), channel-wise layers the
 * space passes through (depthwise convs, squeeze-excitation scales), residual
 * additions (every block writing into a stream), and the readers' input
 * channels (weight dim 1). One permutation per space, applied to every
 * member, leaves the function unchanged; it is searched on the row-wise
 * concatenation of the ASP matrices of the readers that 2:4 pruning will
 * touch (ASP's rule: groups 1, out % 8 == 0, in % 16 == 0).
 *
 * Not permuted: the network input (RGB), the logits, and spaces no 2:4
 * reader sees (their order would not change what pruning keeps). This file
 * does not prune and does not know the forward pass.
 */
#include "sparse24/sparse24_permute.h"

#include "nn/arch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MEMBERS 64

struct member {
    char name[96];
    int dim;     /* the dimension that indexes the space */
    int reader;  /* 1: the space is this weight's input channels (dim 1) */
};
struct space {
    char name[64];
    int n;
    struct member m[MAX_MEMBERS];
};
struct s24_pnet {
    int n, cap, err;
    struct space *s;
};

static int sp_new(struct s24_pnet *net, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int sp_new(struct s24_pnet *net, const char *fmt, ...)
{
    if (net->n == net->cap) {
        int cap = net->cap ? 2 * net->cap : 32;
        struct space *s = realloc(net->s, (size_t)cap * sizeof *s);
        if (!s) {
            net->err = 1;
            return 0;
        }
        net->s = s, net->cap = cap;
    }
    struct space *s = &net->s[net->n];
    memset(s, 0, sizeof *s);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->name, sizeof s->name, fmt, ap);
    va_end(ap);
    return net->n++;
}

static void sp_add(struct s24_pnet *net, int sp, int dim, int reader, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static void sp_add(struct s24_pnet *net, int sp, int dim, int reader, const char *fmt, ...)
{
    if (net->err) return;
    struct space *s = &net->s[sp];
    if (s->n == MAX_MEMBERS) {
        net->err = 1;
        return;
    }
    struct member *m = &s->m[s->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->name, sizeof m->name, fmt, ap);
    va_end(ap);
    m->dim = dim, m->reader = reader;
}

/* BatchNorm's four per-channel vectors (num_batches_tracked is a scalar). */
static void sp_add_bn(struct s24_pnet *net, int sp, const char *pre)
{
    static const char *const f[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) sp_add(net, sp, 0, 0, "%s.%s", pre, f[i]);
}

/* A conv or linear producing into sp: weight dim 0 and, when present, bias. */
static void sp_add_out(struct s24_pnet *net, int sp, const struct s24_st *st, const char *pre)
{
    char b[128];
    sp_add(net, sp, 0, 0, "%s.weight", pre);
    snprintf(b, sizeof b, "%s.bias", pre);
    if (s24_st_find(st, b)) sp_add(net, sp, 0, 0, "%s", b);
}

static int has(const struct s24_st *st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int has(const struct s24_st *st, const char *fmt, ...)
{
    char n[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n, sizeof n, fmt, ap);
    va_end(ap);
    return s24_st_find(st, n) != NULL;
}

/* torchvision ResNet18, either stem (CIFAR: conv1 3x3, no max-pool;
 * ImageNet: conv1 7x7 and a max-pool, which is channel-wise and has no
 * tensors, so conv1's space runs through it unchanged); names unchanged. */
void s24_pnet_resnet18(struct s24_pnet *net, const struct s24_st *st)
{
    int cur = sp_new(net, "conv1+layer1.out");
    sp_add_out(net, cur, st, "conv1");
    sp_add_bn(net, cur, "bn1");
    for (int l = 1; l <= 4; l++)
        for (int b = 0; b < 2; b++) {
            char p[32];
            snprintf(p, sizeof p, "layer%d.%d", l, b);
            int in = cur, out = cur;
            char c[48];
            int inner = sp_new(net, "%s.conv1.out", p);
            sp_add(net, in, 1, 1, "%s.conv1.weight", p);
            snprintf(c, sizeof c, "%s.conv1", p);
            sp_add_out(net, inner, st, c);
            snprintf(c, sizeof c, "%s.bn1", p);
            sp_add_bn(net, inner, c);
            sp_add(net, inner, 1, 1, "%s.conv2.weight", p);
            if (has(st, "%s.downsample.0.weight", p)) {
                out = sp_new(net, "layer%d.out", l);
                sp_add(net, in, 1, 1, "%s.downsample.0.weight", p);
                snprintf(c, sizeof c, "%s.downsample.0", p);
                sp_add_out(net, out, st, c);
                snprintf(c, sizeof c, "%s.downsample.1", p);
                sp_add_bn(net, out, c);
            }
            snprintf(c, sizeof c, "%s.conv2", p);
            sp_add_out(net, out, st, c);
            snprintf(c, sizeof c, "%s.bn2", p);
            sp_add_bn(net, out, c);
            cur = out;
        }
    sp_add(net, cur, 1, 1, "fc.weight");
}

/* torchvision efficientnet_b0: features.0 stem, features.1-7 MBConv stages,
 * features.8 head, classifier.1 linear. Blocks are discovered by name; a
 * block keeps its input space as output (residual) when in == out channels. */
void s24_pnet_efficientnet_b0(struct s24_pnet *net, const struct s24_st *st)
{
    int cur = sp_new(net, "features.0.out");
    sp_add_out(net, cur, st, "features.0.0");
    sp_add_bn(net, cur, "features.0.1");
    for (int s = 1; s <= 7; s++)
        for (int b = 0; has(st, "features.%d.%d.block.0.0.weight", s, b); b++) {
            char p[48], c[80];
            snprintf(p, sizeof p, "features.%d.%d.block", s, b);
            int expand = has(st, "%s.3.0.weight", p);
            int in = cur, e = cur, k = 0;
            if (expand) {
                e = sp_new(net, "features.%d.%d.expand", s, b);
                sp_add(net, in, 1, 1, "%s.0.0.weight", p);
                snprintf(c, sizeof c, "%s.0.0", p);
                sp_add_out(net, e, st, c);
                snprintf(c, sizeof c, "%s.0.1", p);
                sp_add_bn(net, e, c);
                k = 1;
            }
            /* depthwise: channel c in, channel c out, so the space passes through */
            snprintf(c, sizeof c, "%s.%d.0", p, k);
            sp_add_out(net, e, st, c);
            snprintf(c, sizeof c, "%s.%d.1", p, k);
            sp_add_bn(net, e, c);
            /* squeeze-excitation: fc1 reads the space, fc2 writes one scale per channel */
            int q = sp_new(net, "features.%d.%d.se", s, b);
            sp_add(net, e, 1, 1, "%s.%d.fc1.weight", p, k + 1);
            snprintf(c, sizeof c, "%s.%d.fc1", p, k + 1);
            sp_add_out(net, q, st, c);
            sp_add(net, q, 1, 1, "%s.%d.fc2.weight", p, k + 1);
            snprintf(c, sizeof c, "%s.%d.fc2", p, k + 1);
            sp_add_out(net, e, st, c);
            /* project */
            sp_add(net, e, 1, 1, "%s.%d.0.weight", p, k + 2);
            snprintf(c, sizeof c, "%s.%d.0.weight", p, k + 2);
            const struct s24_st_tensor *pw = s24_st_find(st, c);
            snprintf(c, sizeof c, "%s.%d.0.weight", p, 0);
            const struct s24_st_tensor *iw = s24_st_find(st, c);
            /* residual when the block's output has its input's channel count */
            int64_t cin = iw && iw->ndim == 4 ? (expand ? iw->shape[1] : iw->shape[0]) : -1;
            int residual = pw && pw->ndim == 4 && pw->shape[0] == cin;
            int out = residual ? in : sp_new(net, "features.%d.%d.out", s, b);
            snprintf(c, sizeof c, "%s.%d.0", p, k + 2);
            sp_add_out(net, out, st, c);
            snprintf(c, sizeof c, "%s.%d.1", p, k + 2);
            sp_add_bn(net, out, c);
            cur = out;
        }
    sp_add(net, cur, 1, 1, "features.8.0.weight");
    int h = sp_new(net, "features.8.out");
    sp_add_out(net, h, st, "features.8.0");
    sp_add_bn(net, h, "features.8.1");
    sp_add(net, h, 1, 1, "classifier.1.weight");
}

/* ASP's rule for what 2:4 pruning touches (as sparse24_nn.h's `maskable`). */
static int eligible(const struct s24_st_tensor *t, int64_t channels)
{
    if (!s24_dtype_is_float(t->dtype) || (t->ndim != 2 && t->ndim != 4)) return 0;
    return t->shape[1] == channels && t->shape[0] % 8 == 0 && t->shape[1] % 16 == 0;
}

static void skip(struct s24_permute_report *rep, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void skip(struct s24_permute_report *rep, const char *fmt, ...)
{
    if (rep->n_skipped < 16) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rep->skipped[rep->n_skipped], sizeof rep->skipped[0], fmt, ap);
        va_end(ap);
    }
    rep->n_skipped++;
}

void s24_permute_report_free(struct s24_permute_report *r)
{
    if (!r) return;
    for (int i = 0; i < r->n; i++) {
        free(r->spaces[i].perm);
        free(r->spaces[i].members);
    }
    free(r->spaces);
    r->spaces = NULL;
    r->n = 0;
}

/* Check, search and apply one space. */
static int do_space(struct s24_st *st, const char *arch, const struct space *sp,
                    const struct s24_permute_opts *o, struct s24_permute_report *rep)
{
    struct s24_st_tensor *t0 = s24_st_find(st, sp->m[0].name);
    if (!t0)
        return s24_error(S24_ERR_NOT_FOUND, "tensor '%s' is missing (not a %s checkpoint?)",
                         sp->m[0].name, arch);
    if (t0->ndim < 1) return s24_error(S24_ERR_FORMAT, "tensor '%s' is 0-D", sp->m[0].name);
    int64_t ch = t0->shape[sp->m[0].dim];
    int64_t rows = 0;
    int nread = 0, nelig = 0;
    char readers[160] = "";
    for (int i = 0; i < sp->n; i++) {
        const struct member *m = &sp->m[i];
        struct s24_st_tensor *t = s24_st_find(st, m->name);
        if (!t)
            return s24_error(S24_ERR_NOT_FOUND, "tensor '%s' is missing (not a %s checkpoint?)",
                             m->name, arch);
        if (t->ndim <= m->dim || t->shape[m->dim] != ch)
            return s24_error(S24_ERR_FORMAT,
                             "%s: tensor '%s' should have %lld channels in dimension %d (space %s)",
                             arch, m->name, (long long)ch, m->dim, sp->name);
        if (!m->reader) continue;
        nread++;
        size_t used = strlen(readers);
        if (used + strlen(m->name) + 3 < sizeof readers)
            snprintf(readers + used, sizeof readers - used, "%s%s", used ? ", " : "", m->name);
        if (eligible(t, ch)) {
            nelig++;
            rows += t->shape[0] * (t->ndim == 4 ? t->shape[2] * t->shape[3] : 1);
        }
    }
    if (ch % 4 || ch < 8) {
        skip(rep, "%s (%lld channels): %s", sp->name, (long long)ch,
             ch % 4 ? "not a multiple of 4 (no 2:4 groups)"
                    : "one stripe of 4, nothing to re-partition");
        return S24_OK;
    }
    if (!nelig) {
        skip(rep, "%s (%lld channels): no 2:4-eligible reader (%s; ASP needs out %% 8, in %% 16)",
             sp->name, (long long)ch, nread ? readers : "none");
        return S24_OK;
    }
    int rc = S24_OK;
    double *mat = malloc((size_t)rows * (size_t)ch * sizeof *mat);
    int64_t *perm = malloc((size_t)ch * sizeof *perm);
    if (!mat || !perm) {
        rc = s24_error(S24_ERR_NOMEM, "%s: out of memory for a %lld x %lld matrix", sp->name,
                       (long long)rows, (long long)ch);
        goto out;
    }
    int64_t r0 = 0;
    for (int i = 0; i < sp->n; i++) {
        const struct member *m = &sp->m[i];
        struct s24_st_tensor *t = s24_st_find(st, m->name);
        if (!m->reader || !eligible(t, ch)) continue;
        double *part;
        int64_t pr, pc;
        if ((rc = s24_permute_matrix(t->dtype, t->data, t->ndim, t->shape, &part, &pr, &pc)))
            goto out;
        memcpy(mat + r0 * ch, part, (size_t)(pr * pc) * sizeof *part);
        free(part);
        r0 += pr;
    }
    struct s24_permute_space rec;
    memset(&rec, 0, sizeof rec);
    snprintf(rec.name, sizeof rec.name, "%s", sp->name);
    rec.channels = ch;
    rec.n_readers = nelig;
    rc = s24_permute_search(S24_F64, mat, rows, ch, o, perm, &rec.res);
    if (rc) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", s24_last_error());
        rc = s24_error(rc, "%s: %s", sp->name, msg);
        goto out;
    }
    rec.identity = 1;
    for (int64_t j = 0; j < ch; j++) rec.identity &= perm[j] == j;
    if (!rec.identity)
        for (int i = 0; i < sp->n && rc == S24_OK; i++) {
            struct s24_st_tensor *t = s24_st_find(st, sp->m[i].name);
            rc = s24_permute_tensor_dim(t->data, t->dtype, t->ndim, t->shape, sp->m[i].dim, perm);
        }
    if (rc) goto out;
    if (rep) {
        /* the vectors and where they went, so another checkpoint of the same
         * network (its initialisation, for rewind) can be moved the same way */
        rec.members = malloc(sizeof *rec.members * (size_t)sp->n);
        struct s24_permute_space *ns = realloc(rep->spaces, (size_t)(rep->n + 1) * sizeof *ns);
        if (ns) rep->spaces = ns;
        if (!ns || !rec.members) {
            free(rec.members);
            rc = s24_error(S24_ERR_NOMEM, "out of memory");
            goto out;
        }
        rec.n_members = sp->n;
        for (int i = 0; i < sp->n; i++) {
            snprintf(rec.members[i].name, sizeof rec.members[i].name, "%s", sp->m[i].name);
            rec.members[i].dim = sp->m[i].dim;
        }
        rec.perm = perm;
        perm = NULL;
        rep->spaces[rep->n++] = rec;
    }
out:
    free(mat);
    free(perm);
    return rc;
}

int s24_permute_checkpoint(struct s24_st *st, const char *arch, const struct s24_permute_opts *o,
                           struct s24_permute_report *rep)
{
    struct s24_permute_report local;
    memset(&local, 0, sizeof local);
    if (rep) memset(rep, 0, sizeof *rep);
    else rep = &local;
    if (!st || !arch) return s24_error(S24_ERR_INVALID, "permute: NULL checkpoint or architecture");
    struct s24_pnet net = {0};
    const struct s24_arch *a = s24_arch_get(arch);
    if (!a || !a->permute_describe)
        return s24_error(S24_ERR_UNSUPPORTED, "permute: no channel-space description for '%s'",
                         arch);
    a->permute_describe(&net, st);
    const char *input_conv = a->permute_input;
    int rc = S24_OK;
    if (net.err) {
        rc = s24_error(S24_ERR_NOMEM, "permute: out of memory describing %s", arch);
        goto out;
    }
    skip(rep, "%s input: the image (RGB) channels are fixed by the data", input_conv);
    for (int i = 0; i < net.n && rc == S24_OK; i++) {
        if (o && o->progress) o->progress(o->progress_ctx, i, net.n, net.s[i].name);
        rc = do_space(st, arch, &net.s[i], o, rep);
    }
    if (a->permute_note) skip(rep, "%s", a->permute_note);
out:
    free(net.s);
    if (rc) s24_permute_report_free(rep);
    s24_permute_report_free(&local);
    return rc;
}

int s24_permute_apply(struct s24_st *st, const struct s24_permute_report *rep)
{
    if (!st || !rep) return s24_error(S24_ERR_INVALID, "permute_apply: bad arguments");
    /* check every member first: a refused call changes nothing */
    for (int i = 0; i < rep->n; i++) {
        const struct s24_permute_space *sp = &rep->spaces[i];
        for (int j = 0; sp->perm && !sp->identity && j < sp->n_members; j++) {
            const struct s24_st_tensor *t = s24_st_find(st, sp->members[j].name);
            int d = sp->members[j].dim;
            if (!t || d >= t->ndim || t->shape[d] != sp->channels)
                return s24_error(S24_ERR_INVALID,
                                 "permute_apply: %s: missing or not %lld channels in dim %d",
                                 sp->members[j].name, (long long)sp->channels, d);
        }
    }
    for (int i = 0; i < rep->n; i++) {
        const struct s24_permute_space *sp = &rep->spaces[i];
        for (int j = 0; sp->perm && !sp->identity && j < sp->n_members; j++) {
            struct s24_st_tensor *t = s24_st_find(st, sp->members[j].name);
            int rc = s24_permute_tensor_dim(t->data, t->dtype, t->ndim, t->shape,
                                            sp->members[j].dim, sp->perm);
            if (rc != S24_OK) return rc;
        }
    }
    return S24_OK;
}
