/* model_run.c: a model's life on its backend: the backend's copies of the
 * parameters (aliases of the host copies on the CPU), the activation slots,
 * the batch-norm statistics and dropout keys, and forward, loss and backward
 * over the node list through the ops table. Between two steps nothing here
 * touches host memory on a GPU except the dropout keys (one small upload per
 * training forward) and the host-API wrappers' inputs and outputs.
 * A training forward is two halves: s24_model_prepare (host: the dropout
 * keys drawn and uploaded, batch norm's batch counters) and
 * s24_model_run_be (backend work only), so a CUDA graph can replay the
 * second half while the first runs before each replay (src/nn/tgraph.c).
 * Not here: building the graph (model.c), the optimiser (train.c). */
#include "nn/model.h"

#include "comm/comm.h"

#include <stdlib.h>
#include <string.h>

static int on_host(const struct s24_model *m) { return m->be->device == S24_DEVICE_CPU; }

/* ---------------------------------------------------------------- placement */
static int readers(const struct s24_model *m, int s)
{
    int r = 0;
    for (int j = 0; j < m->nn; j++) r += (m->nodes[j].in == s) + (m->nodes[j].in2 == s);
    return r;
}

/* Fusion: a batch norm followed by its only reader, a ReLU or SiLU, runs
 * both in one pass (the backward recomputes the pre-activation from the BN
 * input, so it is never stored); a residual add followed by its only reader,
 * a ReLU, too (its backward reads the add's output). The results are those
 * of the separate nodes (tests/test_fuse.c). On by default: these passes
 * are memory-bound on both backends, and both run a fused op in one pass
 * (the CPU's since h16d; before it ran the separate kernels plus a
 * recompute and fusion was off there, docs/engine.md).
 * S24_FUSE=1 / S24_FUSE=0 force it either way (tests, measurements). */
static void plan_fuse(struct s24_model *m)
{
    const char *e = getenv("S24_FUSE");
    int on = e && *e ? strcmp(e, "0") != 0 : 1;
    for (int i = 0; i < m->nn; i++) m->nodes[i].fuse = 0;
    for (int i = 0; on && i + 1 < m->nn; i++) {
        struct s24_node *nd = &m->nodes[i], *a = &m->nodes[i + 1];
        if (nd->fuse || a->op != S24_N_ACT || a->in != nd->out || nd->out == m->out_slot ||
            readers(m, nd->out) != 1)
            continue;
        if ((nd->op == S24_N_BN && (a->act == S24_ACT_RELU || a->act == S24_ACT_SILU)) ||
            (nd->op == S24_N_ADD && a->act == S24_ACT_RELU))
            nd->fuse = a->fuse = 1;
    }
}

/* In-place nodes: a ReLU or a residual add writes over its input when that
 * input has no other reader and its producer does not need its own output
 * in the backward (conv, batch norm, add, linear, dropout, stochastic
 * depth and max pool keep only their inputs or masks; an add with a fused ReLU needs its
 * output, so it is not one of them). ReLU's backward then reads
 * relu(x) > 0, which is x > 0, and an add's backward reads nothing, so
 * nothing changes but the memory (three of seven activations per ResNet
 * block, one per EfficientNet residual). Chains alias through. */
static int inplace_ok(const struct s24_model *m, int s)
{
    if (s == m->in_slot || s == m->out_slot || readers(m, s) != 1) return 0;
    int prod = -1;
    for (int j = 0; j < m->nn; j++)
        if (s24_node_out(m, j) == s && !(m->nodes[j].op == S24_N_ACT && m->nodes[j].fuse)) prod = j;
    if (prod < 0) return 0;
    switch (m->nodes[prod].op) {
    case S24_N_ADD: return !m->nodes[prod].fuse;
    case S24_N_CONV: case S24_N_BN: case S24_N_LINEAR: case S24_N_DROPOUT:
    case S24_N_SDEPTH: case S24_N_MAXPOOL: return 1;
    default: return 0;
    }
}

static void plan_inplace(struct s24_model *m)
{
    for (int i = 0; i < m->nn; i++) {
        struct s24_node *nd = &m->nodes[i];
        int out = s24_node_out(m, i);
        if (nd->op == S24_N_ACT && nd->fuse) continue;
        if (nd->op == S24_N_ACT && nd->act == S24_ACT_RELU && inplace_ok(m, nd->in))
            m->slots[out].alias = nd->in;
        else if (nd->op == S24_N_ADD && inplace_ok(m, nd->in))
            m->slots[out].alias = nd->in;
        else if (nd->op == S24_N_ADD && inplace_ok(m, nd->in2))
            m->slots[out].alias = nd->in2;
    }
}

/* A gradient's first writer in the backward (its slot's last reader in the
 * forward, as the backward runs the nodes from last to first) overwrites it
 * where its op can (conv, batch norm and activation backwards take acc = 0;
 * an add's copies dy), instead of adding into a zeroed buffer: one pass
 * that writes and one that reads each such gradient saved (outside the
 * convolutions the backward is memory-bound on a GPU). Every other writer
 * adds. Each op's fresh result is 0 + its value, as on a zeroed buffer, so
 * the CPU backend gives the same bits either way (on a GPU, cuDNN's
 * backward-data plan for beta 0 may be another one than for beta 1).
 * S24_GRAD_FRESH=0 zeroes and adds everywhere (tests, measurements). */
static int can_overwrite(const struct s24_node *nd)
{
    switch (nd->op) {
    case S24_N_CONV:
    case S24_N_BN:
    case S24_N_ADD:
        return 1;
    case S24_N_ACT:
        return !nd->fuse;
    default:
        return 0;
    }
}

static void plan_fresh(struct s24_model *m)
{
    const char *e = getenv("S24_GRAD_FRESH");
    int on = !(e && !strcmp(e, "0"));
    for (int i = 0; i < m->nn; i++)
        m->nodes[i].fresh1 = m->nodes[i].fresh2 = 0;
    if (!on) return;
    for (int s = 0; s < m->ns; s++) {
        if (s == m->in_slot) continue;
        int last = -1;
        for (int j = 0; j < m->nn; j++)
            if (m->nodes[j].in == s || m->nodes[j].in2 == s) last = j;
        if (last < 0) continue;
        struct s24_node *nd = &m->nodes[last];
        /* x + x would write one gradient twice in one backward */
        if (!can_overwrite(nd) || nd->in == nd->in2) continue;
        if (nd->in == s)
            nd->fresh1 = 1;
        else
            nd->fresh2 = 1;
    }
}

int s24_model_place(struct s24_model *m)
{
    struct s24_backend *be = m->be;
    int rc;
    m->hkeys = calloc((size_t)m->nn, sizeof *m->hkeys);
    if (!m->hkeys) return s24_error(S24_ERR_NOMEM, "model %s: keys", m->arch);
    if ((rc = s24_be_alloc(be, sizeof(uint64_t) * (size_t)m->nn, (void **)&m->keys))) return rc;
    m->placed = 1;
    for (int i = 0; i < m->ns; i++) m->slots[i].gbuf = -1, m->slots[i].alias = -1;
    plan_fuse(m);
    plan_fresh(m);
    plan_inplace(m);
    s24_arena_plan(m);
    for (int i = 0; i < m->np; i++) {
        struct s24_param *p = &m->params[i];
        if (!p->data) continue;
        if (on_host(m)) {
            p->bdata = p->data, p->bgrad = p->grad;
            continue;
        }
        size_t bytes = sizeof(float) * (size_t)p->numel;
        if ((rc = s24_be_alloc(be, bytes, (void **)&p->bdata))) return rc;
        if (p->grad && (rc = s24_be_alloc(be, bytes, (void **)&p->bgrad))) return rc;
        if (p->bgrad && (rc = be->ops->zero(be, p->bgrad, bytes))) return rc;
    }
    for (int i = 0; i < m->nn; i++) {
        struct s24_node *nd = &m->nodes[i];
        if (nd->op != S24_N_BN) continue;
        size_t bytes = sizeof(float) * (size_t)m->slots[nd->in].c;
        if ((rc = s24_be_alloc(be, 4 * bytes, (void **)&nd->mean))) return rc;
        nd->invstd = nd->mean + m->slots[nd->in].c;
        nd->sums = nd->invstd + m->slots[nd->in].c;
    }
    return S24_OK;
}

void s24_model_unplace(struct s24_model *m)
{
    struct s24_backend *be = m->be;
    if (!be || !m->placed) return;
    for (int i = 0; i < m->np; i++) {
        struct s24_param *p = &m->params[i];
        size_t bytes = sizeof(float) * (size_t)p->numel;
        if (!on_host(m)) {
            s24_be_free(be, p->bdata, bytes);
            s24_be_free(be, p->bgrad, bytes);
        }
        p->bdata = p->bgrad = NULL;
    }
    for (int i = 0; i < m->nn; i++) {
        struct s24_node *nd = &m->nodes[i];
        if (nd->mean) s24_be_free(be, nd->mean, 4 * sizeof(float) * (size_t)m->slots[nd->in].c);
        s24_be_free(be, nd->mask, nd->mask_cap);
        if (nd->state) be->ops->state_free(be, nd->state);
        nd->mean = nd->invstd = nd->sums = nd->mask = NULL;
        nd->state = NULL;
    }
    s24_arena_free(m);
    for (int i = 0; i < m->ns; i++) {
        m->slots[i].g = NULL;
        m->slots[i].gbuf = -1;
    }
    for (int i = 0; i < m->ngpool; i++) s24_be_free(be, m->gpool[i].p, m->gpool[i].cap);
    free(m->gpool);
    m->gpool = NULL;
    m->ngpool = m->gpcap = 0;
    s24_be_free(be, m->keys, sizeof(uint64_t) * (size_t)m->nn);
    m->keys = NULL;
    m->placed = 0;
}

int s24_model_to_backend(s24_model_t *m)
{
    if (!m) return s24_error(S24_ERR_INVALID, "model_to_backend: no model");
    if (on_host(m)) return S24_OK;
    for (int i = 0; i < m->np; i++) {
        struct s24_param *p = &m->params[i];
        if (!p->data) continue;
        int rc = m->be->ops->upload(m->be, p->bdata, p->data, sizeof(float) * (size_t)p->numel);
        if (rc != S24_OK) return rc;
    }
    return S24_OK;
}

int s24_model_to_host(s24_model_t *m)
{
    if (!m) return s24_error(S24_ERR_INVALID, "model_to_host: no model");
    if (on_host(m)) return S24_OK;
    for (int i = 0; i < m->np; i++) {
        struct s24_param *p = &m->params[i];
        size_t bytes = sizeof(float) * (size_t)p->numel;
        int rc = S24_OK;
        if (p->data) rc = m->be->ops->download(m->be, p->data, p->bdata, bytes);
        if (rc == S24_OK && p->grad) rc = m->be->ops->download(m->be, p->grad, p->bgrad, bytes);
        if (rc != S24_OK) return rc;
    }
    return S24_OK;
}

int s24_model_memory(const s24_model_t *m, struct s24_model_mem *out)
{
    if (!m || !out) return s24_error(S24_ERR_INVALID, "model_memory: no model or output");
    memset(out, 0, sizeof *out);
    out->activations = m->arena_cap;
    for (int i = 0; i < m->ngpool; i++) out->act_grads += m->gpool[i].cap;
    if (m->placed && !on_host(m))
        for (int i = 0; i < m->np; i++) {
            const struct s24_param *p = &m->params[i];
            if (p->bdata) out->params += sizeof(float) * (size_t)p->numel;
            if (p->bgrad) out->params += sizeof(float) * (size_t)p->numel;
        }
    return S24_OK;
}

void s24_model_zero_grad(s24_model_t *m)
{
    if (!m) return;
    for (int i = 0; i < m->np; i++)
        if (m->params[i].bgrad)
            m->be->ops->zero(m->be, m->params[i].bgrad, (size_t)m->params[i].numel * sizeof(float));
}

/* ---------------------------------------------------------------- forward */
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

static int pool_shape(const struct s24_model *m, const struct s24_node *nd,
                      struct s24_pool_shape *ps)
{
    const struct s24_slot *in = &m->slots[nd->in];
    memset(ps, 0, sizeof *ps);
    ps->n = in->n, ps->h = in->h, ps->w = in->w, ps->c = in->c;
    ps->k = nd->k, ps->stride = nd->stride, ps->pad = nd->pad;
    return s24_pool_shape_init(ps);
}

static float drop_p(const struct s24_model *m, const struct s24_node *nd)
{
    return nd->op == S24_N_DROPOUT ? m->dropout : m->sdepth * nd->p;
}

/* Every slot's shape for an input of n x h x w, node by node, then room
 * for them all in the arena: a forward never allocates activations midway,
 * and the arena's layout is known before anything is written to it. The
 * checks that need the data's meaning (an add of mismatched shapes, a
 * linear layer on a map) are run_node's. */
static int shapes_fit(struct s24_model *m, int64_t n, int64_t h, int64_t w)
{
    struct s24_slot *in = &m->slots[m->in_slot];
    in->n = n, in->h = h, in->w = w;
    for (int i = 0; i < m->nn; i++) {
        struct s24_node *nd = &m->nodes[i];
        if (nd->op == S24_N_ACT && nd->fuse) continue; /* its slot is the node before's */
        const struct s24_slot *x = &m->slots[nd->in];
        struct s24_slot *y = &m->slots[s24_node_out(m, i)];
        y->n = x->n, y->h = x->h, y->w = x->w;
        if (nd->op == S24_N_CONV) {
            struct s24_conv_shape cs;
            int rc = conv_shape(m, nd, &cs);
            if (rc) return rc;
            y->h = cs.oh, y->w = cs.ow;
        } else if (nd->op == S24_N_MAXPOOL) {
            struct s24_pool_shape ps;
            int rc = pool_shape(m, nd, &ps);
            if (rc) return rc;
            y->h = ps.oh, y->w = ps.ow;
        } else if (nd->op == S24_N_GAP || nd->op == S24_N_LINEAR) {
            y->h = y->w = 1;
        }
    }
    return s24_arena_fit(m);
}

/* ---- sync BN: the sums over this rank's rows, all-reduced (the thread
 * comm adds the ranks in rank order, so every rank gets the same bits, and
 * with them the same statistics and running statistics), then the rest
 * over rows x ranks. The shift of the sums is the running mean, the same
 * on every rank under sync BN. A failure of this rank's own op aborts the
 * communicator, so the others do not wait for it at the all-reduce. */
static int bn_sync_fail(struct s24_model *m, int rc)
{
    s24_comm_abort(m->bn_comm, rc, s24_last_error());
    return rc;
}

static int bn_fwd_sync(struct s24_model *m, struct s24_node *nd, int64_t rows, int64_t c,
                       const float *x, enum s24_act act, float *y)
{
    struct s24_backend *be = m->be;
    struct s24_param *g = &m->params[nd->pw], *b = &m->params[nd->pb];
    float *rmean = m->params[nd->prm].bdata, *rvar = m->params[nd->prv].bdata;
    int rc = be->ops->bn_stats(be, rows, c, x, rmean, nd->sums);
    if (rc != S24_OK) return bn_sync_fail(m, rc);
    if ((rc = s24_comm_allreduce(m->bn_comm, nd->sums, 2 * c)) != S24_OK) return rc;
    rc = be->ops->bn_fwd_apply(be, rows, c, rows * m->bn_comm->size, x, g->bdata, b->bdata,
                               nd->sums, rmean, nd->eps, nd->momentum, act, y, nd->mean,
                               nd->invstd, rmean, rvar);
    return rc != S24_OK ? bn_sync_fail(m, rc) : S24_OK;
}

/* dgamma, dbeta take this rank's own sums (the buckets average them like
 * every gradient); dx takes the all-reduced ones. */
static int bn_bwd_sync(struct s24_model *m, int i, enum s24_act act, float *dx)
{
    struct s24_backend *be = m->be;
    struct s24_node *nd = &m->nodes[i];
    struct s24_slot *in = &m->slots[nd->in], *out = &m->slots[s24_node_out(m, i)];
    struct s24_param *g = &m->params[nd->pw], *b = &m->params[nd->pb];
    int64_t rows = in->n * in->h * in->w, c = in->c;
    int rc = be->ops->bn_bwd_reduce(be, rows, c, in->x, nd->mean, nd->invstd, g->bdata, b->bdata,
                                    act, out->g, nd->sums, g->bgrad, b->bgrad);
    if (rc != S24_OK) return bn_sync_fail(m, rc);
    if ((rc = s24_comm_allreduce(m->bn_comm, nd->sums, 2 * c)) != S24_OK) return rc;
    if (!dx) return S24_OK;
    rc = be->ops->bn_bwd_apply(be, rows, c, rows * m->bn_comm->size, in->x, nd->mean, nd->invstd,
                               g->bdata, b->bdata, act, out->g, nd->sums, dx, !nd->fresh1);
    return rc != S24_OK ? bn_sync_fail(m, rc) : S24_OK;
}

int s24_model_bn_sync(struct s24_model *m, struct s24_comm *comm)
{
    if (!m) return s24_error(S24_ERR_INVALID, "model_bn_sync: no model");
    if (comm && comm->be != m->be)
        return s24_error(S24_ERR_INVALID, "model_bn_sync: the communicator is on another backend");
    if (comm && comm->size > 1 &&
        (!m->be->ops->bn_stats || !m->be->ops->bn_fwd_apply || !m->be->ops->bn_bwd_reduce ||
         !m->be->ops->bn_bwd_apply))
        return s24_error(S24_ERR_UNSUPPORTED,
                         "model_bn_sync: the %s backend has no split batch norm", m->be->name);
    m->bn_comm = comm && comm->size > 1 ? comm : NULL;
    return S24_OK;
}

void s24_model_grad_hook(struct s24_model *m, int (*fn)(void *ctx, int param), void *ctx)
{
    if (!m) return;
    m->grad_ready = fn;
    m->grad_ctx = fn ? ctx : NULL;
}

static int run_node(struct s24_model *m, int i, int training)
{
    struct s24_node *nd = &m->nodes[i];
    struct s24_backend *be = m->be;
    const struct s24_be_ops *op = be->ops;
    int oslot = s24_node_out(m, i);
    struct s24_slot *in = &m->slots[nd->in], *out = &m->slots[oslot];
    /* the activation fused into this node, or none */
    enum s24_act act = nd->fuse && nd->op != S24_N_ACT ? m->nodes[i + 1].act : S24_ACT_NONE;
    int rc = S24_OK;
    switch (nd->op) {
    case S24_N_CONV: {
        struct s24_conv_shape cs;
        if ((rc = conv_shape(m, nd, &cs))) return rc;
        return op->conv2d_fwd(be, &nd->state, &cs, in->x, m->params[nd->pw].bdata,
                              nd->pb >= 0 ? m->params[nd->pb].bdata : NULL, out->x);
    }
    case S24_N_BN: {
        int64_t rows = in->n * in->h * in->w, c = in->c;
        struct s24_param *g = &m->params[nd->pw], *b = &m->params[nd->pb];
        struct s24_param *rm = &m->params[nd->prm], *rv = &m->params[nd->prv];
        if (!training)
            return op->bn_fwd_eval(be, rows, c, in->x, g->bdata, b->bdata, rm->bdata, rv->bdata,
                                   nd->eps, act, out->x);
        if (rows < 2)
            return s24_error(S24_ERR_INVALID,
                             "model %s: %s: batch norm in training needs more than one value per "
                             "channel",
                             m->arch, g->name);
        /* num_batches_tracked is counted on the host by s24_model_prepare */
        if (m->bn_comm) return bn_fwd_sync(m, nd, rows, c, in->x, act, out->x);
        return op->bn_fwd_train(be, rows, c, in->x, g->bdata, b->bdata, nd->eps, nd->momentum,
                                act, out->x, nd->mean, nd->invstd, rm->bdata, rv->bdata);
    }
    case S24_N_ACT:
        if (nd->fuse) return S24_OK; /* ran inside the node before */
        return op->act_fwd(be, nd->act, slot_numel(in), in->x, out->x);
    case S24_N_ADD: {
        struct s24_slot *b = &m->slots[nd->in2];
        if (b->n != in->n || b->h != in->h || b->w != in->w)
            return s24_error(S24_ERR_INVALID, "model %s: residual add of mismatched shapes",
                             m->arch);
        return op->add_fwd(be, slot_numel(in), in->x, b->x, act, out->x);
    }
    case S24_N_GAP:
        return op->gap_fwd(be, in->n, in->h * in->w, in->c, in->x, out->x);
    case S24_N_MAXPOOL: {
        struct s24_pool_shape ps;
        if ((rc = pool_shape(m, nd, &ps))) return rc;
        return op->maxpool_fwd(be, &ps, in->x, out->x);
    }
    case S24_N_SCALE: {
        struct s24_slot *s = &m->slots[nd->in2];
        return op->scale_fwd(be, in->n, in->h * in->w, in->c, in->x, s->x, out->x);
    }
    case S24_N_LINEAR:
        if (in->h * in->w != 1)
            return s24_error(S24_ERR_INVALID, "model %s: linear layer on a %lldx%lld map", m->arch,
                             (long long)in->h, (long long)in->w);
        return op->linear_fwd(be, in->n, in->c, nd->oc, in->x, m->params[nd->pw].bdata,
                              m->params[nd->pb].bdata, out->x);
    case S24_N_DROPOUT:
    case S24_N_SDEPTH: {
        float p = drop_p(m, nd);
        int64_t rows = nd->op == S24_N_DROPOUT ? slot_numel(in) : in->n;
        if (!nd->masked)
            return op->copy(be, out->x, in->x, (size_t)slot_numel(in) * s24_be_act_size(be));
        if ((rc = s24_be_grow(be, (void **)&nd->mask, &nd->mask_cap, sizeof(float) * (size_t)rows)))
            return rc;
        if ((rc = op->rowmask_draw(be, rows, p, m->keys + i, nd->mask))) return rc;
        return op->rowmask_fwd(be, rows, slot_numel(in) / rows, in->x, nd->mask, out->x);
    }
    }
    return s24_error(S24_ERR_INVALID, "model: unknown node");
}

static int forward_args(const s24_model_t *m, const float *x, int n, int h, int w)
{
    if (!m || !x || n < 1 || h < 1 || w < 1)
        return s24_error(S24_ERR_INVALID, "model_forward: bad arguments (n %d, %dx%d)", n, h, w);
    /* keeps every activation size (at most 1280 channels per pixel) far from int64 overflow */
    if ((int64_t)n * h * w > ((int64_t)1 << 36))
        return s24_error(S24_ERR_INVALID, "model_forward: %d images of %dx%d is too large", n, h,
                         w);
    return S24_OK;
}

/* Batch norm's num_batches_tracked: host counters, one per training forward. */
static void bn_count(struct s24_model *m)
{
    for (int i = 0; i < m->nn; i++)
        if (m->nodes[i].op == S24_N_BN) (*m->params[m->nodes[i].pnb].count)++;
}

int s24_model_prepare(struct s24_model *m, int training)
{
    /* this step's dropout keys, drawn in node order from the model's
     * generator and sent in one upload (kernels read them from the backend) */
    int any = 0, rc;
    for (int i = 0; i < m->nn; i++) {
        struct s24_node *nd = &m->nodes[i];
        nd->masked = 0;
        if (nd->op != S24_N_DROPOUT && nd->op != S24_N_SDEPTH) continue;
        nd->masked = training && drop_p(m, nd) > 0.0f;
        if (nd->masked) m->hkeys[i] = s24_rng_u64(&m->rng), any = 1;
    }
    if (any &&
        (rc = m->be->ops->upload(m->be, m->keys, m->hkeys, sizeof(uint64_t) * (size_t)m->nn)))
        return rc;
    if (training) bn_count(m);
    return S24_OK;
}

int s24_model_run_be(struct s24_model *m, const float *x, int n, int h, int w, int training)
{
    int rc;
    if ((rc = forward_args(m, x, n, h, w))) return rc;
    m->can_backward = 0;
    struct s24_slot *in = &m->slots[m->in_slot];
    if ((rc = shapes_fit(m, n, h, w))) return rc;
    if (x != in->x && (rc = m->be->ops->copy(m->be, in->x, x,
                                              (size_t)slot_numel(in) * s24_be_act_size(m->be))))
        return rc;
    for (int i = 0; i < m->nn; i++)
        if ((rc = run_node(m, i, training))) return rc;
    m->can_backward = training != 0;
    return S24_OK;
}

int s24_model_forward_be(s24_model_t *m, const float *x, int n, int h, int w, int training)
{
    int rc;
    if ((rc = forward_args(m, x, n, h, w))) return rc;
    if ((rc = s24_model_prepare(m, training))) return rc;
    return s24_model_run_be(m, x, n, h, w, training);
}

const float *s24_model_logits(const s24_model_t *m) { return m ? m->slots[m->out_slot].x : NULL; }

int s24_model_forward(s24_model_t *m, const float *x, int n, int h, int w, float *logits,
                      int training)
{
    int rc;
    if (!m || !x || !logits || n < 1 || h < 1 || w < 1)
        return s24_error(S24_ERR_INVALID, "model_forward: bad arguments (n %d, %dx%d)", n, h, w);
    if ((int64_t)n * h * w > ((int64_t)1 << 36))
        return s24_error(S24_ERR_INVALID, "model_forward: %d images of %dx%d is too large", n, h,
                         w);
    struct s24_slot *in = &m->slots[m->in_slot];
    /* room first: the input is written into the arena before the forward */
    if ((rc = shapes_fit(m, n, h, w))) return rc;
    if ((rc = s24_be_put_act(m->be, in->x, x, slot_numel(in)))) return rc;
    if ((rc = s24_model_forward_be(m, in->x, n, h, w, training))) return rc;
    return s24_be_get_act(m->be, logits, m->slots[m->out_slot].x, (int64_t)n * m->classes);
}

/* ---------------------------------------------------------------- backward */
/* dx += dy, or dx = dy where dx is fresh (the bits of 0 + dy but for a -0,
 * which no caller tells from +0: gradients are only ever added to). */
static int add_grad(struct s24_backend *be, int64_t n, const float *dy, float *dx, int fresh)
{
    if (fresh) return be->ops->copy(be, dx, dy, (size_t)n * s24_be_act_size(be));
    return be->ops->acc(be, n, dy, dx);
}

static int back_node(struct s24_model *m, int i)
{
    struct s24_node *nd = &m->nodes[i];
    struct s24_backend *be = m->be;
    const struct s24_be_ops *op = be->ops;
    struct s24_slot *in = &m->slots[nd->in], *out = &m->slots[s24_node_out(m, i)];
    enum s24_act act = nd->fuse && nd->op != S24_N_ACT ? m->nodes[i + 1].act : S24_ACT_NONE;
    float *dx = nd->in == m->in_slot ? NULL : in->g; /* no gradient for the images */
    int64_t ne = slot_numel(in);
    int rc = S24_OK;
    switch (nd->op) {
    case S24_N_CONV: {
        struct s24_conv_shape cs;
        if ((rc = conv_shape(m, nd, &cs))) return rc;
        struct s24_param *w = &m->params[nd->pw];
        return op->conv2d_bwd(be, &nd->state, &cs, in->x, w->bdata, out->g, dx, !nd->fresh1,
                              w->bgrad, nd->pb >= 0 ? m->params[nd->pb].bgrad : NULL);
    }
    case S24_N_BN: {
        struct s24_param *g = &m->params[nd->pw], *b = &m->params[nd->pb];
        if (m->bn_comm) return bn_bwd_sync(m, i, act, dx);
        return op->bn_bwd(be, in->n * in->h * in->w, in->c, in->x, nd->mean, nd->invstd, g->bdata,
                          b->bdata, act, out->g, dx, !nd->fresh1, g->bgrad, b->bgrad);
    }
    case S24_N_ACT:
        if (nd->fuse) return S24_OK; /* the node before takes its gradient */
        return dx ? op->act_bwd(be, nd->act, ne, in->x, out->x, out->g, dx, !nd->fresh1) : S24_OK;
    case S24_N_ADD: {
        float *d2 = nd->in2 != m->in_slot ? m->slots[nd->in2].g : NULL;
        if (act == S24_ACT_RELU) { /* the ReLU's gradient to each input, from the output */
            if (dx && (rc = op->act_bwd(be, act, ne, out->x, out->x, out->g, dx, !nd->fresh1)))
                return rc;
            return d2 ? op->act_bwd(be, act, ne, out->x, out->x, out->g, d2, !nd->fresh2) : S24_OK;
        }
        if (dx && (rc = add_grad(be, ne, out->g, dx, nd->fresh1))) return rc;
        return d2 ? add_grad(be, ne, out->g, d2, nd->fresh2) : S24_OK;
    }
    case S24_N_GAP:
        return dx ? op->gap_bwd(be, in->n, in->h * in->w, in->c, out->g, dx) : S24_OK;
    case S24_N_MAXPOOL: {
        struct s24_pool_shape ps;
        if (!dx) return S24_OK;
        if ((rc = pool_shape(m, nd, &ps))) return rc;
        return op->maxpool_bwd(be, &ps, in->x, out->g, dx);
    }
    case S24_N_SCALE: {
        struct s24_slot *s = &m->slots[nd->in2];
        return op->scale_bwd(be, in->n, in->h * in->w, in->c, in->x, s->x, out->g, dx, s->g);
    }
    case S24_N_LINEAR: {
        struct s24_param *w = &m->params[nd->pw], *b = &m->params[nd->pb];
        return op->linear_bwd(be, in->n, in->c, nd->oc, in->x, w->bdata, out->g, dx, w->bgrad,
                              b->bgrad);
    }
    case S24_N_DROPOUT:
    case S24_N_SDEPTH:
        if (!dx) return S24_OK;
        if (!nd->masked) return op->acc(be, ne, out->g, dx);
        int64_t rows = nd->op == S24_N_DROPOUT ? ne : in->n;
        return op->rowmask_bwd(be, rows, ne / rows, nd->mask, out->g, dx);
    }
    return s24_error(S24_ERR_INVALID, "model: unknown node");
}

/* ---- gradient buffers: borrowed by liveness, so the backward holds only
 * the gradients between a slot's last reader and its producer (a few
 * activations' worth) rather than one per slot. Each is placed first in
 * the activations' arena where they are dead by then (model_arena.c), else
 * in a pool buffer of its own. The same order every step gives every slot
 * the same place every step. */

/* Slot s's gradient from the pool: the smallest free buffer that fits, or a new one. */
static int pool_borrow(struct s24_model *m, int s, size_t need)
{
    struct s24_slot *sl = &m->slots[s];
    int best = -1;
    for (int i = 0; i < m->ngpool; i++)
        if (!m->gpool[i].busy && m->gpool[i].cap >= need &&
            (best < 0 || m->gpool[i].cap < m->gpool[best].cap))
            best = i;
    if (best < 0) {
        if (m->ngpool == m->gpcap) {
            int cap = m->gpcap ? 2 * m->gpcap : 16;
            struct s24_gbuf *q = realloc(m->gpool, (size_t)cap * sizeof *q);
            if (!q) return s24_error(S24_ERR_NOMEM, "model %s: gradient pool", m->arch);
            m->gpool = q, m->gpcap = cap;
        }
        struct s24_gbuf *b = &m->gpool[m->ngpool];
        memset(b, 0, sizeof *b);
        int rc = s24_be_alloc(m->be, need, (void **)&b->p);
        if (rc == S24_ERR_NOMEM)
            return s24_error(rc, "model %s: out of memory for gradients (%zu bytes)", m->arch,
                             need);
        if (rc) return rc;
        b->cap = need;
        best = m->ngpool++;
    }
    m->gpool[best].busy = 1;
    sl->g = m->gpool[best].p;
    sl->gbuf = best;
    return S24_OK;
}

/* Slot s gets a gradient before node at's backward runs (at == nn: before
 * the first): zeroed (the backward accumulates into it) unless `fresh`,
 * when node at overwrites it (plan_fresh). */
static int grad_acquire(struct s24_model *m, int at, int s, int fresh)
{
    struct s24_slot *sl = &m->slots[s];
    if (s == m->in_slot || sl->g) return S24_OK;
    size_t need = s24_be_act_size(m->be) * (size_t)slot_numel(sl);
    int rc = s24_arena_grad_place(m, at, s, need) ? S24_OK : pool_borrow(m, s, need);
    if (rc != S24_OK || fresh) return rc;
    return m->be->ops->zero(m->be, sl->g, need);
}

static void grad_release(struct s24_model *m, int s)
{
    struct s24_slot *sl = &m->slots[s];
    if (sl->gbuf >= 0) m->gpool[sl->gbuf].busy = 0;
    s24_arena_grad_release(m, s);
    sl->g = NULL;
    sl->gbuf = -1;
}

/* Before a backward: every gradient returned, the output's taken. */
static int grads_ready(struct s24_model *m)
{
    for (int i = 0; i < m->ns; i++) grad_release(m, i);
    return grad_acquire(m, m->nn, m->out_slot, 0);
}

/* Node nd's parameter gradients are final once its backward has run (each
 * parameter has one node): told to the hook, bias first (the reverse of
 * the parameters' order, as the backward goes). */
static int grads_final(struct s24_model *m, const struct s24_node *nd)
{
    int rc = S24_OK;
    if (!m->grad_ready) return S24_OK;
    if (nd->op != S24_N_CONV && nd->op != S24_N_BN && nd->op != S24_N_LINEAR) return S24_OK;
    if (nd->pb >= 0) rc = m->grad_ready(m->grad_ctx, nd->pb);
    if (rc == S24_OK && nd->pw >= 0) rc = m->grad_ready(m->grad_ctx, nd->pw);
    return rc;
}

/* Node nd's backward with its inputs' gradients borrowed first and its
 * output's returned after (nd is that slot's only producer). */
static int back_node_live(struct s24_model *m, int i)
{
    struct s24_node *nd = &m->nodes[i];
    if (nd->op == S24_N_ACT && nd->fuse) return S24_OK; /* its slots are the node before's */
    int rc = grad_acquire(m, i, nd->in, nd->fresh1);
    if (rc == S24_OK && nd->in2 >= 0) rc = grad_acquire(m, i, nd->in2, nd->fresh2);
    if (rc == S24_OK) rc = back_node(m, i);
    if (rc == S24_OK) grad_release(m, s24_node_out(m, i));
    if (rc == S24_OK) rc = grads_final(m, nd);
    return rc;
}

static int run_backward(struct s24_model *m)
{
    for (int i = m->nn - 1; i >= 0; i--) {
        int rc = back_node_live(m, i);
        if (rc) return rc;
    }
    return S24_OK;
}

static int check_backward(const struct s24_model *m)
{
    if (!m->can_backward)
        return s24_error(S24_ERR_INVALID,
                         "model_backward: %s: no training forward to go back through", m->arch);
    return S24_OK;
}

int s24_model_backward(s24_model_t *m, const float *dlogits)
{
    int rc;
    if (!m || !dlogits) return s24_error(S24_ERR_INVALID, "model_backward: bad arguments");
    if ((rc = check_backward(m)) || (rc = grads_ready(m))) return rc;
    struct s24_slot *o = &m->slots[m->out_slot];
    if ((rc = s24_be_put_act(m->be, o->g, dlogits, slot_numel(o)))) return rc;
    return run_backward(m);
}

int s24_model_loss_backward(s24_model_t *m, const int32_t *labels, double *acc)
{
    int rc;
    if (!m || !labels) return s24_error(S24_ERR_INVALID, "model_loss_backward: bad arguments");
    if ((rc = check_backward(m)) || (rc = grads_ready(m))) return rc;
    struct s24_slot *o = &m->slots[m->out_slot];
    if ((rc = m->be->ops->xent(m->be, (int)o->n, m->classes, o->x, labels, o->g, acc))) return rc;
    return run_backward(m);
}

/* ---------------------------------------------------------------- profile */
int s24_model_num_nodes(const s24_model_t *m) { return m ? m->nn : 0; }

const char *s24_model_node_kind(const s24_model_t *m, int i)
{
    static const char *const kinds[] = {"conv", "bn", "act", "add", "gap", "scale", "linear",
                                        "dropout", "sdepth", "maxpool"};
    if (!m || i < 0 || i >= m->nn) return "?";
    return (unsigned)m->nodes[i].op < sizeof kinds / sizeof kinds[0] ? kinds[m->nodes[i].op] : "?";
}

int s24_model_profile(s24_model_t *m, const float *x, const int32_t *labels, int n, int h, int w,
                      double *ms)
{
    if (!m || !x || !labels || !ms)
        return s24_error(S24_ERR_INVALID, "model_profile: bad arguments");
    if (2 * m->nn + 2 > S24_MARKS)
        return s24_error(S24_ERR_UNSUPPORTED, "model_profile: %d nodes is too many", m->nn);
    const struct s24_be_ops *op = m->be->ops;
    struct s24_slot *in = &m->slots[m->in_slot];
    int rc = shapes_fit(m, n, h, w);
    if (rc == S24_OK)
        rc = op->copy(m->be, in->x, x, (size_t)slot_numel(in) * s24_be_act_size(m->be));
    for (int i = 0; i < m->nn; i++) m->nodes[i].masked = 0; /* no dropout draws here */
    bn_count(m); /* a training forward, as s24_model_prepare counts it */
    /* marks: 0..nn forward boundaries, nn+1.. backward boundaries */
    for (int i = 0; i < m->nn && rc == S24_OK; i++) {
        rc = op->mark(m->be, i);
        if (rc == S24_OK) rc = run_node(m, i, 1);
    }
    if (rc == S24_OK) rc = op->mark(m->be, m->nn);
    m->can_backward = rc == S24_OK;
    struct s24_slot *o = &m->slots[m->out_slot];
    if (rc == S24_OK) rc = grads_ready(m);
    if (rc == S24_OK) rc = op->mark(m->be, m->nn + 1);
    if (rc == S24_OK) rc = op->xent(m->be, (int)o->n, m->classes, o->x, labels, o->g, NULL);
    /* backward of node i between marks nn+1+(nn-i) and nn+2+(nn-i) */
    for (int i = m->nn - 1; i >= 0 && rc == S24_OK; i--) {
        rc = back_node_live(m, i);
        if (rc == S24_OK) rc = op->mark(m->be, m->nn + 2 + (m->nn - 1 - i));
    }
    for (int i = 0; i < m->nn && rc == S24_OK; i++) {
        rc = op->mark_ms(m->be, i, i + 1, &ms[2 * i]);
        int a = m->nn + 1 + (m->nn - 1 - i);
        if (rc == S24_OK) rc = op->mark_ms(m->be, a, a + 1, &ms[2 * i + 1]);
    }
    return rc;
}
