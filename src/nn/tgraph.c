/* tgraph.c: when a training step's backend half runs plainly and when it is
 * recorded and replayed as a graph (the rules are in tgraph.h), and the
 * query of the last epoch's outcome (s24_train_graphed). The recording and
 * launching are the backend's (graph_capture / graph_launch in ops.h). */
#include "nn/tgraph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "sparse24/sparse24_train.h"

/* Graphs dropped because backend memory moved between steps before they
 * stay off: something allocating every few steps would otherwise make a
 * recording (milliseconds of host time) every few steps. */
#define TG_REARMS 3

int s24_tgraph_init(struct s24_tgraph *t, struct s24_backend *be, int allowed,
                    const char *why_not)
{
    memset(t, 0, sizeof *t);
    t->be = be;
    const char *e = getenv("S24_TRAIN_GRAPH");
    /* on by default for the CUDA backend: tests/gpu/test_train_graph_gpu
     * showed on the H200 (at 4969b8a) that replayed steps give the plain
     * steps' bits, and the step took 9.27 against 9.83 ms for ResNet18 and
     * 8.17 against 10.97 ms for EfficientNet-B0 (docs/results/train-step-h200.md).
     * Off on the CPU, where a "graph" is a recorded call (a check, no gain) */
    int on = be->device == S24_DEVICE_CUDA;
    if (e && *e) {
        if (strcmp(e, "0") && strcmp(e, "1"))
            return s24_error(S24_ERR_INVALID, "S24_TRAIN_GRAPH=%s: expected 0 or 1", e);
        on = !strcmp(e, "1");
    }
    if (!on)
        snprintf(t->why, sizeof t->why, "%s",
                 e && *e ? "S24_TRAIN_GRAPH=0"
                         : "off by default on this backend (S24_TRAIN_GRAPH=1 turns it on)");
    else if (!allowed)
        snprintf(t->why, sizeof t->why, "%s", why_not ? why_not : "not for this loop");
    else if (!be->ops->graph_capture || !be->ops->graph_launch || !be->ops->graph_free)
        snprintf(t->why, sizeof t->why, "the %s backend has no step graphs", be->name);
    else
        t->want = 1;
    return S24_OK;
}

void s24_tgraph_free(struct s24_tgraph *t)
{
    if (t->g) t->be->ops->graph_free(t->be, t->g);
    t->g = NULL;
}

const char *s24_tgraph_why(const struct s24_tgraph *t)
{
    if (t->replays) return "";
    if (t->why[0]) return t->why;
    return "no two full steps in a row allocated nothing";
}

/* Off for good, the reason kept (the backend's error cleared: the step
 * then runs plainly and reports its own). */
static void give_up(struct s24_tgraph *t, const char *what)
{
    snprintf(t->why, sizeof t->why, "%s: %s", what, s24_last_error());
    s24_clear_error();
    t->off = 1;
}

int s24_tgraph_run(struct s24_tgraph *t, int n, int (*fn)(void *arg), const void *arg,
                   size_t arg_bytes)
{
    struct s24_backend *be = t->be;
    int rc;
    if (t->g && be->gen != t->gen) { /* its pointers may be stale */
        s24_tgraph_free(t);
        t->ready_n = 0;
        if (++t->rearms > TG_REARMS) {
            snprintf(t->why, sizeof t->why,
                     "backend memory was allocated or freed between steps %d times", t->rearms);
            t->off = 1;
        }
    }
    if (t->g && n == t->gn) {
        if ((rc = be->ops->graph_launch(be, t->g)) == S24_OK) t->replays++;
        return rc;
    }
    if (t->want && !t->off && !t->g && n == t->ready_n && be->gen == t->gen) {
        void *g = NULL;
        rc = be->ops->graph_capture(be, fn, arg, arg_bytes, &g);
        if (rc == S24_OK && be->gen != t->gen) { /* cannot be on a GPU: caught all the same */
            be->ops->graph_free(be, g);
            rc = s24_error(S24_ERR_INVALID, "backend memory allocated inside the step");
        }
        if (rc == S24_OK) {
            t->g = g, t->gn = n;
            if ((rc = be->ops->graph_launch(be, g)) == S24_OK) t->replays++;
            return rc;
        }
        give_up(t, "recording the step");
    }
    uint64_t gen0 = be->gen;
    rc = fn((void *)arg);
    t->plain++;
    /* the next step at this batch may be recorded when this one made nothing */
    if (rc == S24_OK && !t->g) {
        t->ready_n = be->gen == gen0 ? n : 0;
        t->gen = be->gen;
    }
    return rc;
}

int64_t s24_train_graphed(const s24_model_t *m, char *why, size_t len)
{
    if (!m) return 0;
    if (why && len)
        snprintf(why, len, "%s",
                 m->tg_replays  ? ""
                 : m->tg_why[0] ? m->tg_why
                                : "no training epoch yet");
    return m->tg_replays;
}
