/* model.c: the engine's model object: the parameter registry (torchvision's
 * names and shapes, internal OHWI data), the graph builders used by the
 * architecture files, initialisation, and forward / backward over the node
 * list through a backend's op table (the CPU one today).
 * Not here: checkpoints (model_ckpt.c), the architectures themselves
 * (model_<arch>.c), losses (src/cpu/nn_loss.c), optimiser and masks (trainer). */
#include "nn/model.h"

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
    nd->mean = calloc((size_t)(3 * c), sizeof *nd->mean);
    if (!nd->mean) return fail_build(m, S24_ERR_NOMEM);
    nd->var = nd->mean + c, nd->invstd = nd->mean + 2 * c;
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
            case S24_INIT_UNIFORM: p->data[j] = s24_rng_uniformf(&r, -m->bound[i], m->bound[i]); break;
            case S24_INIT_ZERO: p->data[j] = 0.0f; break;
            case S24_INIT_ONE: p->data[j] = 1.0f; break;
            }
        }
        if (p->grad) memset(p->grad, 0, (size_t)p->numel * sizeof *p->grad);
    }
    /* dropout / stochastic-depth stream: a separate stream of the same seed */
    s24_rng_seed(&m->rng, seed ^ 0xd409c0de5eed2024ull);
    m->can_backward = 0;
    return S24_OK;
}

void s24_model_free(s24_model_t *m)
{
    if (!m) return;
    for (int i = 0; i < m->np; i++) {
        free((char *)m->params[i].name);
        free(m->params[i].data);
        free(m->params[i].grad);
        free(m->params[i].count);
    }
    for (int i = 0; i < m->nn; i++) {
        free(m->nodes[i].mean);
        free(m->nodes[i].mask);
    }
    for (int i = 0; i < m->ns; i++) {
        free(m->slots[i].x);
        free(m->slots[i].g);
    }
    free(m->params), free(m->rule), free(m->bound), free(m->nodes), free(m->slots);
    s24_nn_ws_free(&m->ws);
    free(m);
}

int s24_model_create(const char *arch, int num_classes, uint64_t seed, s24_model_t **out)
{
    struct s24_model *m = NULL;
    int rc;
    if (!out) return s24_error(S24_ERR_INVALID, "model_create: no output");
    *out = NULL;
    if (!arch) return s24_error(S24_ERR_INVALID, "model_create: no architecture");
    if (num_classes < 1 || num_classes > 100000)
        return s24_error(S24_ERR_INVALID, "model_create: %d classes", num_classes);
    m = calloc(1, sizeof *m);
    if (!m) return s24_error(S24_ERR_NOMEM, "model_create: %s", arch);
    snprintf(m->arch, sizeof m->arch, "%s", arch);
    m->classes = num_classes;
    m->be = s24_nn_cpu();
    if (!strcmp(arch, "smallcnn"))
        rc = s24_build_smallcnn(m);
    else if (!strcmp(arch, "resnet18"))
        rc = s24_build_resnet18(m);
    else if (!strcmp(arch, "efficientnet_b0"))
        rc = s24_build_efficientnet_b0(m);
    else
        rc = s24_error(S24_ERR_INVALID,
                       "model_create: unknown architecture '%s' (resnet18, efficientnet_b0, smallcnn)",
                       arch);
    if (!rc && m->build_err) rc = m->build_err;
    if (rc == S24_ERR_NOMEM) s24_error(rc, "model_create: %s: out of memory", arch);
    if (rc) goto fail;
    m->out_slot = m->nodes[m->nn - 1].out;
    if (m->slots[m->out_slot].c != num_classes) {
        rc = s24_error(S24_ERR_INVALID, "model_create: %s: output has %lld channels, not %d", arch,
                       (long long)m->slots[m->out_slot].c, num_classes);
        goto fail;
    }
    rc = s24_model_reinit(m, seed);
    if (rc) goto fail;
    *out = m;
    return S24_OK;
fail:
    s24_model_free(m);
    return rc;
}

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

void s24_model_zero_grad(s24_model_t *m)
{
    if (!m) return;
    for (int i = 0; i < m->np; i++)
        if (m->params[i].grad)
            memset(m->params[i].grad, 0, (size_t)m->params[i].numel * sizeof(float));
}

/* ---------------------------------------------------------------- forward */
static int slot_shape(struct s24_model *m, int s, int64_t n, int64_t h, int64_t w)
{
    struct s24_slot *sl = &m->slots[s];
    size_t need = (size_t)(n * h * w * sl->c);
    sl->n = n, sl->h = h, sl->w = w;
    if (need > sl->cap) {
        float *p = malloc(need * sizeof *p);
        if (!p) return s24_error(S24_ERR_NOMEM, "model %s: activations (%zu floats)", m->arch, need);
        free(sl->x);
        sl->x = p;
        sl->cap = need;
    }
    return S24_OK;
}

static int64_t slot_numel(const struct s24_slot *s) { return s->n * s->h * s->w * s->c; }

static int conv_shape(const struct s24_model *m, const struct s24_node *nd,
                      struct s24_conv_shape *cs)
{
    const struct s24_slot *in = &m->slots[nd->in];
    memset(cs, 0, sizeof *cs);
    cs->n = in->n, cs->h = in->h, cs->w = in->w, cs->c = in->c;
    cs->oc = nd->oc, cs->kh = cs->kw = nd->k, cs->stride = nd->stride, cs->pad = nd->pad;
    cs->groups = nd->groups;
    return s24_conv_shape_init(cs);
}

static int draw_mask(struct s24_model *m, struct s24_node *nd, int64_t rows, float p)
{
    if ((size_t)rows > nd->mask_cap) {
        float *q = realloc(nd->mask, (size_t)rows * sizeof *q);
        if (!q) return s24_error(S24_ERR_NOMEM, "model %s: dropout mask", m->arch);
        nd->mask = q;
        nd->mask_cap = (size_t)rows;
    }
    /* keep with probability 1-p, scaled by 1/(1-p) (PyTorch: survival 0 -> all 0) */
    float keep = 1.0f - p, scale = keep > 0.0f ? 1.0f / keep : 0.0f;
    for (int64_t r = 0; r < rows; r++)
        nd->mask[r] = s24_rng_uniform(&m->rng) < (double)keep ? scale : 0.0f;
    return S24_OK;
}

static int run_node(struct s24_model *m, struct s24_node *nd, int training)
{
    const struct s24_nn_backend *be = m->be;
    struct s24_slot *in = &m->slots[nd->in], *out = &m->slots[nd->out];
    int rc = S24_OK;
    switch (nd->op) {
    case S24_N_CONV: {
        struct s24_conv_shape cs;
        if ((rc = conv_shape(m, nd, &cs))) return rc;
        if ((rc = slot_shape(m, nd->out, cs.n, cs.oh, cs.ow))) return rc;
        return be->conv2d_fwd(&cs, in->x, m->params[nd->pw].data,
                              nd->pb >= 0 ? m->params[nd->pb].data : NULL, out->x, &m->ws);
    }
    case S24_N_BN: {
        int64_t rows = in->n * in->h * in->w, c = in->c;
        struct s24_param *g = &m->params[nd->pw], *b = &m->params[nd->pb];
        struct s24_param *rm = &m->params[nd->prm], *rv = &m->params[nd->prv];
        if ((rc = slot_shape(m, nd->out, in->n, in->h, in->w))) return rc;
        if (!training) {
            be->bn_fwd_eval(rows, c, in->x, g->data, b->data, rm->data, rv->data, nd->eps, out->x);
            return S24_OK;
        }
        if (rows < 2)
            return s24_error(S24_ERR_INVALID,
                             "model %s: %s: batch norm in training needs more than one value per channel",
                             m->arch, g->name);
        rc = be->bn_fwd_train(rows, c, in->x, g->data, b->data, nd->eps, out->x, nd->mean,
                              nd->var, nd->invstd, &m->ws);
        if (rc) return rc;
        /* PyTorch's update: the running variance takes the unbiased estimate */
        float mom = nd->momentum, unb = (float)((double)rows / (double)(rows - 1));
        for (int64_t j = 0; j < c; j++) {
            rm->data[j] = (1.0f - mom) * rm->data[j] + mom * nd->mean[j];
            rv->data[j] = (1.0f - mom) * rv->data[j] + mom * nd->var[j] * unb;
        }
        (*m->params[nd->pnb].count)++;
        return S24_OK;
    }
    case S24_N_ACT:
        if ((rc = slot_shape(m, nd->out, in->n, in->h, in->w))) return rc;
        be->act_fwd(nd->act, slot_numel(in), in->x, out->x);
        return S24_OK;
    case S24_N_ADD: {
        struct s24_slot *b = &m->slots[nd->in2];
        if (b->n != in->n || b->h != in->h || b->w != in->w)
            return s24_error(S24_ERR_INVALID, "model %s: residual add of mismatched shapes", m->arch);
        if ((rc = slot_shape(m, nd->out, in->n, in->h, in->w))) return rc;
        be->add_fwd(slot_numel(in), in->x, b->x, out->x);
        return S24_OK;
    }
    case S24_N_GAP:
        if ((rc = slot_shape(m, nd->out, in->n, 1, 1))) return rc;
        be->gap_fwd(in->n, in->h * in->w, in->c, in->x, out->x);
        return S24_OK;
    case S24_N_SCALE: {
        struct s24_slot *s = &m->slots[nd->in2];
        if ((rc = slot_shape(m, nd->out, in->n, in->h, in->w))) return rc;
        be->scale_fwd(in->n, in->h * in->w, in->c, in->x, s->x, out->x);
        return S24_OK;
    }
    case S24_N_LINEAR:
        if (in->h * in->w != 1)
            return s24_error(S24_ERR_INVALID, "model %s: linear layer on a %lldx%lld map", m->arch,
                             (long long)in->h, (long long)in->w);
        if ((rc = slot_shape(m, nd->out, in->n, 1, 1))) return rc;
        return be->linear_fwd(in->n, in->c, nd->oc, in->x, m->params[nd->pw].data,
                              m->params[nd->pb].data, out->x);
    case S24_N_DROPOUT:
    case S24_N_SDEPTH: {
        float p = nd->op == S24_N_DROPOUT ? m->dropout : m->sdepth * nd->p;
        int64_t rows = nd->op == S24_N_DROPOUT ? slot_numel(in) : in->n;
        if ((rc = slot_shape(m, nd->out, in->n, in->h, in->w))) return rc;
        nd->masked = training && p > 0.0f;
        if (!nd->masked) {
            memcpy(out->x, in->x, (size_t)slot_numel(in) * sizeof *out->x);
            return S24_OK;
        }
        if ((rc = draw_mask(m, nd, rows, p))) return rc;
        be->rowmask_fwd(rows, slot_numel(in) / rows, in->x, nd->mask, out->x);
        return S24_OK;
    }
    }
    return s24_error(S24_ERR_INVALID, "model: unknown node");
}

int s24_model_forward(s24_model_t *m, const float *x, int n, int h, int w, float *logits,
                      int training)
{
    int rc;
    if (!m || !x || !logits || n < 1 || h < 1 || w < 1)
        return s24_error(S24_ERR_INVALID, "model_forward: bad arguments (n %d, %dx%d)", n, h, w);
    /* keeps every activation size (at most 1280 channels per pixel) far from int64 overflow */
    if ((int64_t)n * h * w > ((int64_t)1 << 36))
        return s24_error(S24_ERR_INVALID, "model_forward: %d images of %dx%d is too large", n, h, w);
    m->can_backward = 0;
    struct s24_slot *in = &m->slots[m->in_slot];
    if ((rc = slot_shape(m, m->in_slot, n, h, w))) return rc;
    memcpy(in->x, x, (size_t)slot_numel(in) * sizeof *in->x);
    for (int i = 0; i < m->nn; i++)
        if ((rc = run_node(m, &m->nodes[i], training))) return rc;
    struct s24_slot *o = &m->slots[m->out_slot];
    memcpy(logits, o->x, (size_t)n * (size_t)m->classes * sizeof *logits);
    m->can_backward = training != 0;
    return S24_OK;
}

/* ---------------------------------------------------------------- backward */
static int back_node(struct s24_model *m, struct s24_node *nd)
{
    const struct s24_nn_backend *be = m->be;
    struct s24_slot *in = &m->slots[nd->in], *out = &m->slots[nd->out];
    float *dx = nd->in == m->in_slot ? NULL : in->g; /* no gradient for the images */
    int64_t ne = slot_numel(in);
    switch (nd->op) {
    case S24_N_CONV: {
        struct s24_conv_shape cs;
        int rc = conv_shape(m, nd, &cs);
        if (rc) return rc;
        struct s24_param *w = &m->params[nd->pw];
        return be->conv2d_bwd(&cs, in->x, w->data, out->g, dx, w->grad,
                              nd->pb >= 0 ? m->params[nd->pb].grad : NULL, &m->ws);
    }
    case S24_N_BN: {
        struct s24_param *g = &m->params[nd->pw], *b = &m->params[nd->pb];
        return be->bn_bwd(in->n * in->h * in->w, in->c, in->x, nd->mean, nd->invstd, g->data,
                          out->g, dx, g->grad, b->grad, &m->ws);
    }
    case S24_N_ACT:
        if (dx) be->act_bwd(nd->act, ne, in->x, out->x, out->g, dx);
        return S24_OK;
    case S24_N_ADD:
        if (dx) be->acc(ne, out->g, dx);
        if (nd->in2 != m->in_slot) be->acc(ne, out->g, m->slots[nd->in2].g);
        return S24_OK;
    case S24_N_GAP:
        if (dx) be->gap_bwd(in->n, in->h * in->w, in->c, out->g, dx);
        return S24_OK;
    case S24_N_SCALE: {
        struct s24_slot *s = &m->slots[nd->in2];
        be->scale_bwd(in->n, in->h * in->w, in->c, in->x, s->x, out->g, dx ? dx : NULL, s->g);
        return S24_OK;
    }
    case S24_N_LINEAR: {
        struct s24_param *w = &m->params[nd->pw], *b = &m->params[nd->pb];
        return be->linear_bwd(in->n, in->c, nd->oc, in->x, w->data, out->g, dx, w->grad, b->grad);
    }
    case S24_N_DROPOUT:
    case S24_N_SDEPTH:
        if (!dx) return S24_OK;
        if (!nd->masked) {
            be->acc(ne, out->g, dx);
        } else {
            int64_t rows = nd->op == S24_N_DROPOUT ? ne : in->n;
            be->rowmask_bwd(rows, ne / rows, nd->mask, out->g, dx);
        }
        return S24_OK;
    }
    return s24_error(S24_ERR_INVALID, "model: unknown node");
}

int s24_model_backward(s24_model_t *m, const float *dlogits)
{
    int rc;
    if (!m || !dlogits) return s24_error(S24_ERR_INVALID, "model_backward: bad arguments");
    if (!m->can_backward)
        return s24_error(S24_ERR_INVALID, "model_backward: %s: no training forward to go back through",
                         m->arch);
    for (int i = 0; i < m->ns; i++) {
        struct s24_slot *s = &m->slots[i];
        if (i == m->in_slot) continue;
        if (s->gcap < s->cap) {
            float *g = malloc(s->cap * sizeof *g);
            if (!g) return s24_error(S24_ERR_NOMEM, "model %s: gradients (%zu floats)", m->arch, s->cap);
            free(s->g);
            s->g = g;
            s->gcap = s->cap;
        }
        memset(s->g, 0, (size_t)slot_numel(s) * sizeof *s->g);
    }
    struct s24_slot *o = &m->slots[m->out_slot];
    memcpy(o->g, dlogits, (size_t)slot_numel(o) * sizeof *o->g);
    for (int i = m->nn - 1; i >= 0; i--)
        if ((rc = back_node(m, &m->nodes[i]))) return rc;
    return S24_OK;
}
