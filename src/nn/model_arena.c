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

void s24_arena_plan(struct s24_model *m)
{
    const char *e = getenv("S24_GRAD_ARENA");
    m->grad_arena = !(e && !strcmp(e, "0"));
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
    size_t total = 0;
    for (int s = 0; s < m->ns; s++) {
        struct s24_slot *sl = &m->slots[s];
        if (sl->alias >= 0) continue;
        sl->off = total;
        total += align_up(sl->cap);
    }
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
        if (o && (o->alias >= 0 || !o->cap)) continue;
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
