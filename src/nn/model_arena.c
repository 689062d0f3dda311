/* model_arena.c: where a model's activations live, and where the backward
 * puts activation gradients it can fit among activations already dead.
 *
 * Every slot's activation sits in one backend allocation (the arena), laid
 * out in slot creation (forward) order with each offset aligned to 256
 * bytes; in-place slots share their target's storage. A slot keeps the most
 * it has ever needed, so a smaller batch (an epoch's last, an evaluation)
 * moves no pointer, and a larger one lays the arena out again before the
 * forward writes anything.
 *
 * In the backward (nodes from last to first) a slot's activation is dead
 * once every node that may read it in its backward has run: conservatively,
 * every node that has it (or a slot sharing its storage) as an input or an
 * output, i.e. once its producer's backward has run. The model's input and
 * output (logits) slots are never dead: the trainer and the loss read them
 * around the backward. Since slots are laid out in forward order, the dead
 * part is (close to) the arena's tail, and it grows as the backward goes
 * on, so a gradient placed there at its last reader's backward stays valid
 * until its producer's. The next forward overwrites the activations; by
 * then every gradient placed here is dead (nothing reads a slot's gradient
 * after the backward: the parameters' gradients are not activations').
 * The placement depends only on the shapes and the node order, so it is the
 * same every step (a CUDA graph replays fixed pointers, src/nn/tgraph.c).
 *
 * A slot whose value no backward reads (a residual branch's last batch
 * norm, whose only reader is an add: neither op's backward looks at it) is
 * live only between its producer and its last reader in the forward. Such
 * a transient borrows the storage of a later slot, one first written after
 * that last reader and at least as large, so it takes no room of its own:
 * in ResNet18 the three downsample branches' outputs (28 MiB of its bf16
 * step at batch 256). Which op's backward reads what is backward_reads'
 * table; S24_TRANSIENT=0 gives every slot its own room (tests).
 *
 * S24_GRAD_ARENA=0 (read at placement) turns the gradient placement off:
 * every gradient then comes from the pool (model_run.c), for tests and
 * measurements; the results are the same bits either way.
 * Not here: the gradient pool and the liveness of gradients (model_run.c). */
#include "nn/model.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN ((size_t)256) /* GPU kernels want 16; 256 is cudaMalloc's own */

static size_t align_up(size_t b) { return (b + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN; }

/* The slot whose storage s uses (in-place chains followed to their end). */
static int owner(const struct s24_model *m, int s)
{
    while (m->slots[s].alias >= 0) s = m->slots[s].alias;
    return s;
}

/* Marks the storage node j's backward reads (model_run.c's back_node):
 * conv, batch norm, max pool, scale and linear read their inputs (scale
 * both), an unfused activation its input and output, an add with a fused
 * ReLU its output; an add, the average pool, dropout and stochastic depth
 * read none (the pool needs only shapes, the masks are their own). */
static void backward_reads(struct s24_model *m, int j)
{
    const struct s24_node *nd = &m->nodes[j];
    int out = s24_node_out(m, j);
    switch (nd->op) {
    case S24_N_CONV: case S24_N_BN: case S24_N_MAXPOOL: case S24_N_LINEAR:
        m->slots[owner(m, nd->in)].transient = 0;
        break;
    case S24_N_SCALE:
        m->slots[owner(m, nd->in)].transient = 0;
        m->slots[owner(m, nd->in2)].transient = 0;
        break;
    case S24_N_ACT:
        m->slots[owner(m, nd->in)].transient = 0;
        m->slots[owner(m, out)].transient = 0;
        break;
    case S24_N_ADD:
        if (nd->fuse) m->slots[owner(m, out)].transient = 0;
        break;
    default:
        break;
    }
}

/* Which owners are transient, and the span of the forward they live in. */
static void plan_transients(struct s24_model *m)
{
    const char *e = getenv("S24_TRANSIENT");
    int on = !(e && !strcmp(e, "0"));
    for (int s = 0; s < m->ns; s++) {
        struct s24_slot *sl = &m->slots[s];
        sl->transient = on, sl->wfirst = INT_MAX, sl->rlast = -1, sl->host = -1;
    }
    for (int j = 0; j < m->nn; j++) {
        const struct s24_node *nd = &m->nodes[j];
        if (nd->op == S24_N_ACT && nd->fuse) continue; /* runs inside the node before */
        struct s24_slot *w = &m->slots[owner(m, s24_node_out(m, j))];
        if (j < w->wfirst) w->wfirst = j;
        int ins[2] = {nd->in, nd->in2};
        for (int r = 0; r < 2; r++) {
            if (ins[r] < 0) continue;
            struct s24_slot *o = &m->slots[owner(m, ins[r])];
            if (j > o->rlast) o->rlast = j;
        }
        backward_reads(m, j);
    }
    /* the trainer writes the input before the forward, the loss reads the logits after it */
    m->slots[owner(m, m->in_slot)].transient = 0;
    m->slots[owner(m, m->out_slot)].transient = 0;
    for (int s = 0; s < m->ns; s++) {
        struct s24_slot *sl = &m->slots[s];
        if (sl->alias >= 0 || sl->wfirst == INT_MAX || sl->rlast < 0) sl->transient = 0;
    }
}

void s24_arena_plan(struct s24_model *m)
{
    const char *e = getenv("S24_GRAD_ARENA");
    m->grad_arena = !(e && !strcmp(e, "0"));
    plan_transients(m);
    for (int s = 0; s < m->ns; s++) m->slots[s].dead_at = INT_MAX;
    for (int j = 0; j < m->nn; j++) {
        const struct s24_node *nd = &m->nodes[j];
        int refs[4] = {nd->in, nd->in2, nd->out, s24_node_out(m, j)};
        for (int r = 0; r < 4; r++) {
            if (refs[r] < 0) continue;
            struct s24_slot *o = &m->slots[owner(m, refs[r])];
            if (j < o->dead_at) o->dead_at = j;
        }
    }
    m->slots[owner(m, m->in_slot)].dead_at = -1;
    m->slots[owner(m, m->out_slot)].dead_at = -1;
}

/* Arena-placed gradients are forgotten (the arena moved, or the backward
 * starts over). */
static void drop_grads(struct s24_model *m)
{
    for (int s = 0; s < m->ns; s++)
        if (m->slots[s].garena) s24_arena_grad_release(m, s);
}

/* Transient t's host: the first owner written only after t's last reader,
 * with room for it, whose other guests' spans do not meet t's; -1 if none.
 * Hosts are never transient, so no chain of borrowing forms. */
static int find_host(const struct s24_model *m, int t)
{
    const struct s24_slot *ts = &m->slots[t];
    for (int o = 0; o < m->ns; o++) {
        const struct s24_slot *h = &m->slots[o];
        if (h->alias >= 0 || h->transient || h->cap < ts->cap || h->wfirst <= ts->rlast ||
            o == owner(m, m->in_slot) || o == owner(m, m->out_slot))
            continue;
        int clash = 0;
        for (int g = 0; g < m->ns && !clash; g++) {
            const struct s24_slot *gs = &m->slots[g];
            clash = gs->host == o && gs->wfirst <= ts->rlast && ts->wfirst <= gs->rlast;
        }
        if (!clash) return o;
    }
    return -1;
}

int s24_arena_fit(struct s24_model *m)
{
    size_t act = s24_be_act_size(m->be);
    int grow = !m->arena;
    for (int s = 0; s < m->ns; s++) {
        struct s24_slot *sl = &m->slots[s];
        size_t need = act * (size_t)(sl->n * sl->h * sl->w * sl->c);
        if (sl->alias < 0 && need > sl->cap) sl->cap = need, grow = 1;
    }
    if (!grow) return S24_OK;
    for (int s = 0; s < m->ns; s++) m->slots[s].host = -1;
    for (int s = 0; s < m->ns; s++)
        if (m->slots[s].transient && m->slots[s].cap) m->slots[s].host = find_host(m, s);
    size_t total = 0;
    for (int s = 0; s < m->ns; s++) {
        struct s24_slot *sl = &m->slots[s];
        if (sl->alias >= 0 || sl->host >= 0) continue;
        sl->off = total;
        total += align_up(sl->cap);
    }
    for (int s = 0; s < m->ns; s++)
        if (m->slots[s].host >= 0) m->slots[s].off = m->slots[m->slots[s].host].off;
    drop_grads(m);
    s24_be_free(m->be, m->arena, m->arena_cap);
    m->arena = NULL, m->arena_cap = 0;
    /* no pointer into the old arena survives a failed allocation */
    for (int s = 0; s < m->ns; s++) m->slots[s].x = NULL;
    int rc = s24_be_alloc(m->be, total ? total : ARENA_ALIGN, (void **)&m->arena);
    if (rc == S24_ERR_NOMEM)
        return s24_error(rc, "model %s: out of memory for activations (%zu bytes)", m->arch, total);
    if (rc) return rc;
    m->arena_cap = total ? total : ARENA_ALIGN;
    for (int s = 0; s < m->ns; s++) {
        struct s24_slot *sl = &m->slots[s], *o = &m->slots[owner(m, s)];
        sl->x = o->cap ? (float *)(void *)(m->arena + o->off) : NULL;
    }
    return S24_OK;
}

void s24_arena_free(struct s24_model *m)
{
    drop_grads(m);
    s24_be_free(m->be, m->arena, m->arena_cap);
    m->arena = NULL, m->arena_cap = 0;
    for (int s = 0; s < m->ns; s++) m->slots[s].x = NULL, m->slots[s].cap = 0;
}

/* First fit of `need` bytes in [lo, hi) past the gradients placed now. */
static int fit_between(const struct s24_model *m, size_t lo, size_t hi, size_t need, size_t *at)
{
    size_t p = lo;
    for (int moved = 1; moved;) {
        moved = 0;
        for (int t = 0; t < m->ns; t++) {
            const struct s24_slot *g = &m->slots[t];
            if (!g->garena) continue;
            size_t end = g->goff + align_up(g->gbytes);
            if (p < end && g->goff < p + need) p = end, moved = 1;
        }
        if (p + need > hi) return 0;
    }
    *at = p;
    return 1;
}

int s24_arena_grad_place(struct s24_model *m, int at, int s, size_t need)
{
    if (!m->grad_arena || !m->arena || !need) return 0;
    size_t lo = 0, hi = 0, off = 0;
    int run = 0;
    /* owners are laid out in slot order, each run of consecutive dead ones
     * one free extent; the node `at`'s backward is next, so its own slots
     * (dead_at == at) are still live */
    for (int k = 0; k <= m->ns; k++) {
        const struct s24_slot *o = k < m->ns ? &m->slots[k] : NULL;
        if (o && (o->alias >= 0 || !o->cap || o->host >= 0)) continue; /* no room of its own */
        if (o && o->dead_at > at) {
            if (!run) lo = o->off, run = 1;
            hi = o->off + align_up(o->cap);
            continue;
        }
        if (run && fit_between(m, lo, hi, need, &off)) {
            struct s24_slot *sl = &m->slots[s];
            sl->g = (float *)(void *)(m->arena + off);
            sl->goff = off, sl->gbytes = need, sl->garena = 1;
            return 1;
        }
        run = 0;
    }
    return 0;
}

void s24_arena_grad_release(struct s24_model *m, int s)
{
    struct s24_slot *sl = &m->slots[s];
    if (!sl->garena) return;
    sl->g = NULL;
    sl->goff = sl->gbytes = 0;
    sl->garena = 0;
}
