/* model.c: the engine's model object: the parameter list (torchvision's
 * names and shapes, internal OHWI data), the graph builders used by the
 * architecture files, initialisation, and creation on a backend from the
 * architecture registry (src/nn/arch.c).
 * Not here: running the graph and the backend's copies of the tensors
 * (model_run.c), checkpoints (model_ckpt.c), the architectures themselves
 * (model_<arch>.c), optimiser and masks (src/nn/train.c). */
#include "nn/model.h"

#include "nn/arch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- registry */
static int fail_build(struct s24_model *m, int rc)
{
    if (!m->build_err) m->build_err = rc;
    return 0;
}

/* Adds a parameter; returns its index or -1 (build_err set). */
static int add_param(struct s24_model *m, const char *name, enum s24_param_kind kind, int ndim,
                     const int64_t *shape, int groups, enum s24_init_rule rule, float bound)
{
    if (m->build_err) return -1;
    if (m->np == m->pcap) {
        int cap = m->pcap ? 2 * m->pcap : 64;
        struct s24_param *p = realloc(m->params, (size_t)cap * sizeof *p);
        if (!p) return fail_build(m, S24_ERR_NOMEM), -1;
        m->params = p;
        enum s24_init_rule *r = realloc(m->rule, (size_t)cap * sizeof *r);
        if (!r) return fail_build(m, S24_ERR_NOMEM), -1;
        m->rule = r;
        float *b = realloc(m->bound, (size_t)cap * sizeof *b);
        if (!b) return fail_build(m, S24_ERR_NOMEM), -1;
        m->bound = b;
        m->pcap = cap;
    }
    struct s24_param *p = &m->params[m->np];
    memset(p, 0, sizeof *p);
    char *nm = strdup(name);
    if (!nm) return fail_build(m, S24_ERR_NOMEM), -1;
    p->name = nm;
    p->kind = kind;
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) p->shape[i] = shape[i], p->numel *= shape[i];
    p->groups = groups;
    p->is_buffer = kind >= S24_B_RUNNING_MEAN;
    p->view.outer = p->numel, p->view.red = 1, p->view.inner = 1;
    if (kind == S24_B_NUM_BATCHES) {
        p->count = calloc(1, sizeof *p->count);
        if (!p->count) return free(nm), fail_build(m, S24_ERR_NOMEM), -1;
    } else {
        p->data = calloc((size_t)p->numel, sizeof *p->data);
        p->grad = p->is_buffer ? NULL : calloc((size_t)p->numel, sizeof *p->grad);
        if (!p->data || (!p->is_buffer && !p->grad)) {
            free(p->data), free(p->grad), free(nm);
            return fail_build(m, S24_ERR_NOMEM), -1;
        }
    }
    if (kind == S24_P_WEIGHT) {
        int64_t oc = shape[0], ic = shape[1];
        int64_t kk = ndim == 4 ? shape[2] * shape[3] : 1;
        /* OHWI: groups of the 2:4 pattern run along the contiguous IC */
        p->view.outer = oc * kk, p->view.red = ic, p->view.inner = 1;
        p->maskable = groups == 1 && oc % 8 == 0 && ic % 16 == 0;
    }
    m->rule[m->np] = rule;
    m->bound[m->np] = bound;
    return m->np++;
}

static int name2(char *buf, size_t n, const char *prefix, const char *leaf)
{
    int k = snprintf(buf, n, "%s%s%s", prefix, prefix[0] ? "." : "", leaf);
    return k < 0 || (size_t)k >= n;
}

/* ---------------------------------------------------------------- graph */
static int add_slot(struct s24_model *m, int64_t c)
{
    if (m->build_err) return 0;
    if (m->ns == m->scap) {
        int cap = m->scap ? 2 * m->scap : 64;
        struct s24_slot *s = realloc(m->slots, (size_t)cap * sizeof *s);
        if (!s) return fail_build(m, S24_ERR_NOMEM);
        m->slots = s;
        m->scap = cap;
    }
    memset(&m->slots[m->ns], 0, sizeof m->slots[m->ns]);
    m->slots[m->ns].c = c;
    return m->ns++;
}

static struct s24_node *add_node(struct s24_model *m, enum s24_node_op op, int in, int64_t out_c)
{
    if (m->build_err) return NULL;
    if (m->nn == m->ncap) {
        int cap = m->ncap ? 2 * m->ncap : 64;
        struct s24_node *p = realloc(m->nodes, (size_t)cap * sizeof *p);
        if (!p) return fail_build(m, S24_ERR_NOMEM), NULL;
        m->nodes = p;
        m->ncap = cap;
    }
    int out = add_slot(m, out_c);
    if (m->build_err) return NULL;
    struct s24_node *nd = &m->nodes[m->nn++];
    memset(nd, 0, sizeof *nd);
    nd->op = op;
    nd->in = in, nd->in2 = -1, nd->out = out;
    nd->pw = nd->pb = nd->prm = nd->prv = nd->pnb = -1;
    nd->groups = 1;
    return nd;
}

int s24_g_input(struct s24_model *m, int64_t c)
{
    m->in_slot = add_slot(m, c);
    return m->in_slot;
}

int s24_g_conv(struct s24_model *m, const char *name, int in, int64_t oc, int64_t k,
               int64_t stride, int64_t pad, int64_t groups, int bias)
{
    char buf[128];
    if (m->build_err) return 0;
    int64_t ic = m->slots[in].c;
    if (groups < 1 || ic % groups || oc % groups || name2(buf, sizeof buf, name, "weight"))
        return fail_build(m, s24_error(S24_ERR_INVALID, "model: bad conv %s", name));
    struct s24_node *nd = add_node(m, S24_N_CONV, in, oc);
    if (!nd) return 0;
    nd->oc = oc, nd->k = k, nd->stride = stride, nd->pad = pad, nd->groups = groups;
    int64_t shape[4] = {oc, ic / groups, k, k};
    int out = nd->out;
    int pw = add_param(m, buf, S24_P_WEIGHT, 4, shape, (int)groups, S24_INIT_KAIMING_FAN_OUT, 0);
    int pb = -1;
    if (bias) {
        name2(buf, sizeof buf, name, "bias");
        pb = add_param(m, buf, S24_P_BIAS, 1, shape, 1, S24_INIT_ZERO, 0);
    }
    if (m->build_err) return 0;
    nd = &m->nodes[m->nn - 1];
    nd->pw = pw, nd->pb = pb;
    return out;
}

int s24_g_bn(struct s24_model *m, const char *name, int in, float eps, float momentum)
{
    static const char *leaf[5] = {"weight", "bias", "running_mean", "running_var",
                                  "num_batches_tracked"};
    static const enum s24_param_kind kind[5] = {S24_P_BN_WEIGHT, S24_P_BN_BIAS,
                                                S24_B_RUNNING_MEAN, S24_B_RUNNING_VAR,
                                                S24_B_NUM_BATCHES};
    static const enum s24_init_rule rule[5] = {S24_INIT_ONE, S24_INIT_ZERO, S24_INIT_ZERO,
                                               S24_INIT_ONE, S24_INIT_ZERO};
    char buf[128];
    if (m->build_err) return 0;
    int64_t c = m->slots[in].c;
    struct s24_node *nd = add_node(m, S24_N_BN, in, c);
    if (!nd) return 0;
    int out = nd->out, idx[5];
    nd->eps = eps, nd->momentum = momentum;
    for (int i = 0; i < 5; i++) {
        if (name2(buf, sizeof buf, name, leaf[i]))
            return fail_build(m, s24_error(S24_ERR_INVALID, "model: name %s too long", name));
        idx[i] = add_param(m, buf, kind[i], i == 4 ? 0 : 1, &c, 1, rule[i], 0);
    }
    if (m->build_err) return 0;
    nd = &m->nodes[m->nn - 1];
    nd->pw = idx[0], nd->pb = idx[1], nd->prm = idx[2], nd->prv = idx[3], nd->pnb = idx[4];
    return out;
}

int s24_g_act(struct s24_model *m, int in, enum s24_act a)
{
    if (m->build_err) return 0;
    struct s24_node *nd = add_node(m, S24_N_ACT, in, m->slots[in].c);
    if (!nd) return 0;
    nd->act = a;
    return nd->out;
}

int s24_g_add(struct s24_model *m, int a, int b)
{
    if (m->build_err) return 0;
    if (m->slots[a].c != m->slots[b].c)
        return fail_build(m, s24_error(S24_ERR_INVALID, "model: add of %lld and %lld channels",
                                       (long long)m->slots[a].c, (long long)m->slots[b].c));
    struct s24_node *nd = add_node(m, S24_N_ADD, a, m->slots[a].c);
    if (!nd) return 0;
    nd->in2 = b;
    return nd->out;
}

int s24_g_gap(struct s24_model *m, int in)
{
    if (m->build_err) return 0;
    struct s24_node *nd = add_node(m, S24_N_GAP, in, m->slots[in].c);
    return nd ? nd->out : 0;
}

int s24_g_maxpool(struct s24_model *m, int in, int64_t k, int64_t stride, int64_t pad)
{
    if (m->build_err) return 0;
    /* the rest of the shape rule (the window fits the input) waits for the input size */
    if (k < 1 || stride < 1 || pad < 0 || 2 * pad > k)
        return fail_build(m, s24_error(S24_ERR_INVALID,
                                       "model: bad max pool k %lld stride %lld pad %lld",
                                       (long long)k, (long long)stride, (long long)pad));
    struct s24_node *nd = add_node(m, S24_N_MAXPOOL, in, m->slots[in].c);
    if (!nd) return 0;
    nd->k = k, nd->stride = stride, nd->pad = pad;
    return nd->out;
}

int s24_g_scale(struct s24_model *m, int x, int s)
{
    if (m->build_err) return 0;
    struct s24_node *nd = add_node(m, S24_N_SCALE, x, m->slots[x].c);
    if (!nd) return 0;
    nd->in2 = s;
    return nd->out;
}

int s24_g_linear(struct s24_model *m, const char *name, int in, int64_t out, int torch_default)
{
    char buf[128];
    if (m->build_err) return 0;
    int64_t ic = m->slots[in].c;
    struct s24_node *nd = add_node(m, S24_N_LINEAR, in, out);
    if (!nd) return 0;
    int o = nd->out;
    nd->oc = out;
    int64_t shape[2] = {out, ic};
    float bw = torch_default ? 1.0f / sqrtf((float)ic) : 1.0f / sqrtf((float)out);
    name2(buf, sizeof buf, name, "weight");
    int pw = add_param(m, buf, S24_P_WEIGHT, 2, shape, 1, S24_INIT_UNIFORM, bw);
    name2(buf, sizeof buf, name, "bias");
    int pb = add_param(m, buf, S24_P_BIAS, 1, shape, 1,
                       torch_default ? S24_INIT_UNIFORM : S24_INIT_ZERO, bw);
    if (m->build_err) return 0;
    nd = &m->nodes[m->nn - 1];
    nd->pw = pw, nd->pb = pb;
    return o;
}

int s24_g_dropout(struct s24_model *m, int in)
{
    if (m->build_err) return 0;
    struct s24_node *nd = add_node(m, S24_N_DROPOUT, in, m->slots[in].c);
    return nd ? nd->out : 0;
}

int s24_g_sdepth(struct s24_model *m, int in, float frac)
{
    if (m->build_err) return 0;
    struct s24_node *nd = add_node(m, S24_N_SDEPTH, in, m->slots[in].c);
    if (!nd) return 0;
    nd->p = frac;
    return nd->out;
}

void s24_g_set_init(struct s24_model *m, const char *name, enum s24_init_rule r, float bound)
{
    if (m->build_err) return;
    for (int i = 0; i < m->np; i++)
        if (!strcmp(m->params[i].name, name)) {
            m->rule[i] = r, m->bound[i] = bound;
            return;
        }
    fail_build(m, s24_error(S24_ERR_NOT_FOUND, "model: no parameter %s", name));
}

/* ---------------------------------------------------------------- public */
int s24_model_reinit(s24_model_t *m, uint64_t seed)
{
    struct s24_rng r;
    if (!m) return s24_error(S24_ERR_INVALID, "model_reinit: no model");
    s24_rng_seed(&r, seed);
    for (int i = 0; i < m->np; i++) {
        struct s24_param *p = &m->params[i];
        if (p->kind == S24_B_NUM_BATCHES) {
            *p->count = 0;
            continue;
        }
        double sd = 0;
        if (m->rule[i] == S24_INIT_KAIMING_FAN_OUT) {
            int64_t fan_out = p->shape[0];
            for (int d = 2; d < p->ndim; d++) fan_out *= p->shape[d];
            sd = sqrt(2.0 / (double)fan_out);
        }
        for (int64_t j = 0; j < p->numel; j++) {
            switch (m->rule[i]) {
            case S24_INIT_KAIMING_FAN_OUT: p->data[j] = (float)(sd * s24_rng_normal(&r)); break;
            case S24_INIT_UNIFORM:
                p->data[j] = s24_rng_uniformf(&r, -m->bound[i], m->bound[i]);
                break;
            case S24_INIT_ZERO: p->data[j] = 0.0f; break;
            case S24_INIT_ONE: p->data[j] = 1.0f; break;
            }
        }
        if (p->grad) memset(p->grad, 0, (size_t)p->numel * sizeof *p->grad);
    }
    /* dropout / stochastic-depth stream: a separate stream of the same seed */
    s24_rng_seed(&m->rng, seed ^ 0xd409c0de5eed2024ull);
    m->can_backward = 0;
    return s24_model_to_backend(m);
}

void s24_model_free(s24_model_t *m)
{
    if (!m) return;
    s24_model_unplace(m);
    for (int i = 0; i < m->np; i++) {
        free((char *)m->params[i].name);
        free(m->params[i].data);
        free(m->params[i].grad);
        free(m->params[i].count);
    }
    free(m->params), free(m->rule), free(m->bound), free(m->nodes), free(m->slots);
    free(m->hkeys);
    if (m->own_be) s24_backend_free(m->be);
    free(m);
}

int s24_model_create(const char *arch, int num_classes, uint64_t seed, s24_backend_t *be,
                     s24_model_t **out)
{
    struct s24_model *m = NULL;
    int rc;
    if (!out) return s24_error(S24_ERR_INVALID, "model_create: no output");
    *out = NULL;
    if (!arch) return s24_error(S24_ERR_INVALID, "model_create: no architecture");
    const struct s24_arch *a = s24_arch_get(arch);
    if (!a) return s24_error(S24_ERR_INVALID, "model_create: %s", s24_last_error());
    if (num_classes < 1 || num_classes > 100000)
        return s24_error(S24_ERR_INVALID, "model_create: %d classes", num_classes);
    m = calloc(1, sizeof *m);
    if (!m) return s24_error(S24_ERR_NOMEM, "model_create: %s", arch);
    snprintf(m->arch, sizeof m->arch, "%s", arch);
    m->classes = num_classes;
    m->dropout = a->info.dropout;
    m->sdepth = a->info.sdepth;
    if (!be) {
        if ((rc = s24_backend_create(S24_DEVICE_CPU, 0, &be)) != S24_OK) goto fail;
        m->own_be = 1;
    }
    m->be = be;
    rc = a->build(m);
    if (!rc && m->build_err) rc = m->build_err;
    if (rc == S24_ERR_NOMEM) s24_error(rc, "model_create: %s: out of memory", arch);
    if (rc) goto fail;
    m->out_slot = m->nodes[m->nn - 1].out;
    if (m->slots[m->out_slot].c != num_classes) {
        rc = s24_error(S24_ERR_INVALID, "model_create: %s: output has %lld channels, not %d", arch,
                       (long long)m->slots[m->out_slot].c, num_classes);
        goto fail;
    }
    if ((rc = s24_model_place(m)) != S24_OK) goto fail;
    rc = s24_model_reinit(m, seed);
    if (rc) goto fail;
    *out = m;
    return S24_OK;
fail:
    s24_model_free(m);
    return rc;
}

s24_backend_t *s24_model_backend(const s24_model_t *m) { return m ? m->be : NULL; }

const char *s24_model_arch(const s24_model_t *m) { return m ? m->arch : ""; }
int s24_model_num_classes(const s24_model_t *m) { return m ? m->classes : 0; }
int s24_model_num_params(const s24_model_t *m) { return m ? m->np : 0; }

struct s24_param *s24_model_param(s24_model_t *m, int i)
{
    return m && i >= 0 && i < m->np ? &m->params[i] : NULL;
}

struct s24_param *s24_model_find(s24_model_t *m, const char *name)
{
    if (!m || !name) return NULL;
    for (int i = 0; i < m->np; i++)
        if (!strcmp(m->params[i].name, name)) return &m->params[i];
    return NULL;
}

struct s24_rng *s24_model_rng(s24_model_t *m) { return m ? &m->rng : NULL; }

int s24_model_set_drop(s24_model_t *m, float dropout, float stochastic_depth)
{
    if (!m || !(dropout >= 0.0f && dropout < 1.0f) ||
        !(stochastic_depth >= 0.0f && stochastic_depth <= 1.0f))
        return s24_error(S24_ERR_INVALID, "model_set_drop: dropout %g, stochastic depth %g",
                         (double)dropout, (double)stochastic_depth);
    m->dropout = dropout;
    m->sdepth = stochastic_depth;
    return S24_OK;
}

