/* model.h: the inside of s24_model_t, shared by model.c (parameters, graph
 * builders, creation), model_run.c (the backend's tensors, forward and
 * backward), model_ckpt.c (checkpoints) and the architecture files
 * (model_smallcnn.c, model_resnet18.c, model_efficientnet.c), which build
 * their network with the s24_g_* calls below.
 *
 * A model is a list of nodes run in order; each reads one or two activation
 * slots and writes one. Every slot keeps its output for the backward (simple
 * and predictable memory), all of them in one arena (model_arena.c).
 * Slots, node state and the parameters' backend copies live in the
 * backend's memory; the parameters' host copies in host memory.
 * Not here: optimiser state, masks (the trainer's). */
#ifndef S24_NN_MODEL_H
#define S24_NN_MODEL_H

#include "nn/ops.h"
#include "sparse24/sparse24_nn.h"

enum s24_node_op {
    S24_N_CONV = 0, S24_N_BN, S24_N_ACT, S24_N_ADD, S24_N_GAP, S24_N_SCALE, S24_N_LINEAR,
    S24_N_DROPOUT, S24_N_SDEPTH, S24_N_MAXPOOL,
};

/* How a parameter is drawn by (re)initialisation. */
enum s24_init_rule {
    S24_INIT_KAIMING_FAN_OUT = 0, /* N(0, 2 / fan_out), fan_out = O * KH * KW */
    S24_INIT_UNIFORM,             /* U(-bound, bound) */
    S24_INIT_ZERO,
    S24_INIT_ONE,
};

struct s24_node {
    enum s24_node_op op;
    int in, in2, out;               /* slots; in2 for add (second) and scale (the scale) */
    int pw, pb, prm, prv, pnb;      /* parameter indices, -1 if none */
    int64_t oc, k, stride, pad, groups; /* conv; max pool: k, stride, pad */
    enum s24_act act;
    float eps, momentum;
    float p;                        /* dropout probability / stochastic depth fraction */
    float *mean, *invstd;           /* BN: (C) batch statistics of the last training forward
                                     * (backend) */
    float *sums;                    /* BN: (2, C) the per-channel sums sync BN all-reduces
                                     * (backend; one allocation with mean, invstd) */
    float *mask;                    /* dropout (n*c) / stochastic depth (n) (backend) */
    size_t mask_cap;                /* bytes */
    int masked;                     /* the last training forward applied `mask` */
    void *state;                    /* the backend's per-node state (conv algorithms) */
    /* Fusion (planned at placement, model_run.c): on a BN or add, the
     * activation node right after it runs inside it and this node writes
     * that node's output slot; on the activation, it is skipped. */
    int fuse;
    /* Planned at placement (model_run.c): this node's backward is the first
     * to write in's (fresh1) / in2's (fresh2) gradient and overwrites it, so
     * that gradient is never zeroed first. */
    int fresh1, fresh2;
};

struct s24_slot {
    int64_t n, h, w, c;
    float *x, *g;     /* backend memory: (n, h, w, c) output and its gradient */
    size_t cap;       /* bytes of x reserved in the arena (the most ever needed) */
    size_t off;       /* x's offset in the arena (slots that own their storage) */
    int gbuf;         /* the gradient pool buffer g is borrowed from, -1 if none */
    int alias;        /* the slot whose x this one shares (an in-place ReLU), -1 if none */
    int dead_at;      /* storage owners: x is dead in the backward once this node's backward
                       * has run; -1 never (the model's input and output) */
    int garena;       /* g lies in the arena's dead part, at goff, gbytes long */
    size_t goff, gbytes;
    /* Storage owners whose value no backward reads (model_arena.c): live in
     * the forward from node wfirst to node rlast only, they borrow the
     * storage of `host`, an owner first written after rlast (-1: own room). */
    int transient, wfirst, rlast, host;
};

/* Gradient buffers are borrowed for a slot's lifetime in the backward only:
 * from the backward of its last reader to that of its producer. */
struct s24_gbuf {
    float *p;
    size_t cap;       /* bytes */
    int busy;
};

struct s24_model {
    char arch[32];
    int classes;
    struct s24_param *params;
    enum s24_init_rule *rule;
    float *bound;
    int np, pcap;
    struct s24_node *nodes;
    int nn, ncap;
    struct s24_slot *slots;
    int ns, scap;
    int in_slot, out_slot;
    int build_err;        /* first failure while building (s24_status) */
    int can_backward;     /* the last forward was a training one */
    float dropout, sdepth;
    struct s24_rng rng;
    struct s24_backend *be;
    int own_be;           /* created by s24_model_create (be was NULL) */
    int placed;           /* backend tensors allocated (s24_model_place) */
    uint64_t *keys;       /* (nn) dropout keys of the step, backend memory */
    uint64_t *hkeys;      /* (nn) their host copy */
    struct s24_gbuf *gpool;
    int ngpool, gpcap;
    char *arena;      /* every slot's x, one backend allocation (model_arena.c) */
    size_t arena_cap; /* bytes */
    int grad_arena;   /* gradients may be placed in the arena's dead part */
    /* the step graph of the last training epoch (src/nn/tgraph.c), for
     * s24_train_graphed: steps replayed, and why not where none were */
    int64_t tg_replays;
    char tg_why[160];
    /* data parallel (s24_model_bn_sync, s24_model_grad_hook): the ranks
     * batch norm takes its statistics over (NULL: this model's batch), and
     * who hears of each parameter gradient the backward has finished */
    struct s24_comm *bn_comm;
    int (*grad_ready)(void *ctx, int param);
    void *grad_ctx;
};

struct s24_comm;
/* Sync BN: training forwards and backwards take batch-norm statistics and
 * gradient sums over the ranks of comm (one all-reduce of 2C floats per BN
 * layer each way, through the split ops bn_stats .. bn_bwd_apply); every
 * rank must run the same layers at the same rows. NULL or one rank: each
 * model's own batch, the fused ops (local BN, and the one-rank path). The
 * communicator must outlive its use by m. */
int s24_model_bn_sync(struct s24_model *m, struct s24_comm *comm);
/* fn(ctx, i) is called by every backward once parameter i's gradient is
 * final for that backward (after the node that writes it), in the order
 * the backward finishes them; an error from fn ends the backward with it.
 * fn NULL: nobody is told (the default). */
void s24_model_grad_hook(struct s24_model *m, int (*fn)(void *ctx, int param), void *ctx);

/* The backend's tensors: parameters (aliases of the host copies on the
 * CPU), batch-norm statistics, dropout keys (model_run.c). */
int s24_model_place(struct s24_model *m);
void s24_model_unplace(struct s24_model *m);

/* A training (or evaluation) forward in its two halves, which
 * s24_model_forward_be runs back to back. prepare: host work only (the
 * dropout keys drawn from the model's generator in node order and uploaded,
 * batch norm's num_batches_tracked counted). run_be: the input copied and
 * every node run, backend work only: at the same shape it queues the same
 * work on the same buffers each call (the condition for a replay as a CUDA
 * graph, src/nn/tgraph.c). */
int s24_model_prepare(struct s24_model *m, int training);
int s24_model_run_be(struct s24_model *m, const float *x, int n, int h, int w, int training);

/* The slot node i writes: the fused activation's when it has one. */
static inline int s24_node_out(const struct s24_model *m, int i)
{
    const struct s24_node *nd = &m->nodes[i];
    return nd->fuse && nd->op != S24_N_ACT ? m->nodes[i + 1].out : nd->out;
}

/* The arena (model_arena.c). plan: after the fusion and in-place plans,
 * when each slot's storage dies in the backward, which storage only the
 * forward reads (S24_TRANSIENT=0: none), and whether gradients may use dead
 * storage (S24_GRAD_ARENA). fit: every slot shaped for the coming forward
 * gets room, the arena laid out again (every pointer moved, no content
 * kept) when one needs more than it has. free: the arena given back. */
void s24_arena_plan(struct s24_model *m);
int s24_arena_fit(struct s24_model *m);
void s24_arena_free(struct s24_model *m);
/* Slot s's gradient, `need` bytes, placed in storage dead before node at's
 * backward, clear of the gradients placed there now: 1 if placed (g set,
 * not zeroed), 0 where none fits (the pool's turn). release: its room back. */
int s24_arena_grad_place(struct s24_model *m, int at, int s, size_t need);
void s24_arena_grad_release(struct s24_model *m, int s);

/* Builders: return the output slot; on failure they set m->build_err and
 * return 0 so an architecture file reads as a plain list of layers. */
int s24_g_input(struct s24_model *m, int64_t c);
int s24_g_conv(struct s24_model *m, const char *name, int in, int64_t oc, int64_t k,
               int64_t stride, int64_t pad, int64_t groups, int bias);
int s24_g_bn(struct s24_model *m, const char *name, int in, float eps, float momentum);
int s24_g_act(struct s24_model *m, int in, enum s24_act a);
int s24_g_add(struct s24_model *m, int a, int b);
int s24_g_gap(struct s24_model *m, int in);
/* k x k max pool every `stride` positions, `pad` on each side (nn.MaxPool2d). */
int s24_g_maxpool(struct s24_model *m, int in, int64_t k, int64_t stride, int64_t pad);
int s24_g_scale(struct s24_model *m, int x, int s);
/* torch_default: nn.Linear's own init (U(+-1/sqrt(in)) for weight and bias);
 * else EfficientNet's (weight U(+-1/sqrt(out)), bias 0). */
int s24_g_linear(struct s24_model *m, const char *name, int in, int64_t out, int torch_default);
int s24_g_dropout(struct s24_model *m, int in);
/* frac: this block's share of the model's stochastic-depth rate. */
int s24_g_sdepth(struct s24_model *m, int in, float frac);
/* Override how one parameter is initialised (e.g. zero_init_residual). */
void s24_g_set_init(struct s24_model *m, const char *name, enum s24_init_rule r, float bound);

#endif
