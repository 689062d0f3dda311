/* tgraph.h: replaying a training step as a backend graph (a CUDA graph on
 * the GPU), for the epoch loop (train.c) and `sparse24 bench train`.
 *
 * A caller splits its step in two: the host half (batch draws, dropout
 * keys, learning rate and momentum drawn on the host in their fixed order
 * and uploaded, BN counters) runs before every step, plainly; the backend
 * half is a function fn(arg) that queues kernels only, reading every
 * per-step value from backend memory. s24_tgraph_run runs that half:
 *
 *   - plainly, until a plain step at batch n allocated nothing (the first
 *     step at a shape makes buffers, finds cuDNN algorithms, grows scratch);
 *   - then the next step at batch n is recorded (graph_capture) and
 *     launched, and later steps at batch n are launched again;
 *   - a step at another batch (an epoch's short last batch) runs plainly
 *     beside the graph;
 *   - backend memory allocated or freed since the recording (be->gen moved:
 *     the graph's pointers may be stale) drops the graph, and the recording
 *     starts over (at most TG_REARMS times, then plain for good);
 *   - a failure to record (an op refusing capture, an allocation inside it,
 *     the backend's error) turns graphs off for good, the reason kept, and
 *     that step runs plainly. A failed launch is an error, not a fallback:
 *     part of the step may have run.
 * The context at arg must not change between steps (the CPU replays a copy
 * of it, as a GPU replays the arguments it recorded).
 *
 * S24_TRAIN_GRAPH=0 turns it off, =1 on (also on the CPU, where it checks
 * the restructured path); unset: on for CUDA, off for the CPU. */
#ifndef S24_NN_TGRAPH_H
#define S24_NN_TGRAPH_H

#include "nn/ops.h"

struct s24_tgraph {
    struct s24_backend *be;
    int want;            /* graphs asked for (S24_TRAIN_GRAPH, the backend, one rank) */
    int off;             /* refused once: plain for good */
    int rearms;          /* graphs dropped because backend memory moved */
    void *g;             /* the recorded step, or NULL */
    int gn;              /* its batch */
    int ready_n;         /* the batch of the last plain step that allocated nothing, 0 if none */
    uint64_t gen;        /* be->gen after that step, or after the recording */
    int64_t replays;     /* steps run by a graph (recordings' first launch included) */
    int64_t plain;       /* steps run plainly */
    char why[160];       /* why graphs are off, or "" */
};

/* allowed: 0 where the caller cannot graph its steps (data parallel: the
 * gradient averaging between backward and SGD), with why_not saying so. */
int s24_tgraph_init(struct s24_tgraph *t, struct s24_backend *be, int allowed,
                    const char *why_not);
/* One step's backend half at batch n, plainly or by a graph; arg_bytes: the
 * size of the context at arg. */
int s24_tgraph_run(struct s24_tgraph *t, int n, int (*fn)(void *arg), const void *arg,
                   size_t arg_bytes);
/* The graph dropped (before the context at arg goes away). */
void s24_tgraph_free(struct s24_tgraph *t);
/* "" when steps were replayed, else why none were ("S24_TRAIN_GRAPH=0", a
 * capture's error, ...). */
const char *s24_tgraph_why(const struct s24_tgraph *t);

#endif
