/* comm_threads.c: threads of one process as ranks, each with its own CPU
 * backend, sharing a group (one mutex, one condition variable). It makes the
 * data-parallel logic testable in CI without GPUs or NCCL.
 *
 * A collective is two meetings: at the first every rank posts its buffer;
 * then rank r reduces elements [n r/N, n (r+1)/N) of all buffers, adding the
 * ranks' values in rank order 0..N-1 in float and writing the sum back to
 * every buffer (so each element has exactly one writer and every rank gets
 * the same bits); the second meeting keeps buffers alive until all slices
 * are written. A meeting gives up at the deadline and fails the group, and
 * a failed group answers every later call with S24_ERR_COMM at once.
 *
 * Not here: GPU buffers (the reduction reads host memory), speed (no
 * tree, no pipelining: the point is being exact and deterministic). */
#include "comm/comm.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct s24_comm_group {
    int size;
    double deadline_s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived;   /* ranks at the current meeting */
    unsigned gen;  /* meetings completed */
    int failed;    /* the first failure's status (S24_OK while none) */
    char why[320]; /* and what it was */
    int *attached; /* (size) rank r has a comm */
    float **ptr;   /* (size) the buffer each rank posted for the collective under way */
    int64_t *n;    /* (size) its length in floats */
};

/* The group fails once; the first cause is kept. Called with mu held. */
static void fail_locked(struct s24_comm_group *g, int status, const char *fmt, ...)
{
    if (g->failed) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->why, sizeof g->why, fmt, ap);
    va_end(ap);
    g->failed = status != S24_OK ? status : S24_ERR_COMM;
    pthread_cond_broadcast(&g->cv);
}

static struct timespec deadline_at(double s)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    double whole = (double)(int64_t)s;
    t.tv_sec += (time_t)whole;
    t.tv_nsec += (long)((s - whole) * 1e9);
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Every rank at the same point, this one posting (buf, n) if `post`.
 * S24_ERR_COMM when the group has failed or the deadline passes first. */
static int meet(struct s24_comm *c, const char *what, int post, float *buf, int64_t n)
{
    struct s24_comm_group *g = c->ctx;
    int rc = S24_OK;
    pthread_mutex_lock(&g->mu);
    if (g->failed) goto failed;
    if (post) {
        g->ptr[c->rank] = buf;
        g->n[c->rank] = n;
    }
    unsigned gen = g->gen;
    if (++g->arrived == g->size) {
        g->arrived = 0;
        g->gen++;
        pthread_cond_broadcast(&g->cv);
        goto out;
    }
    struct timespec until = deadline_at(c->deadline_s);
    while (g->gen == gen && !g->failed)
        if (pthread_cond_timedwait(&g->cv, &g->mu, &until) == ETIMEDOUT && g->gen == gen)
            fail_locked(g, S24_ERR_COMM, "rank %d waited %.3g s in %s: a rank did not arrive",
                        c->rank, c->deadline_s, what);
    if (g->gen != gen) goto out; /* all arrived before any failure */
failed:
    rc = s24_error(S24_ERR_COMM, "rank %d of %d, %s: %s", c->rank, g->size, what, g->why);
out:
    pthread_mutex_unlock(&g->mu);
    return rc;
}

/* Every rank posted the same length (else the group fails: a programming
 * error on some rank, reported on all). */
static int same_length(struct s24_comm *c, int64_t n, const char *what)
{
    struct s24_comm_group *g = c->ctx;
    for (int r = 0; r < g->size; r++) {
        if (g->n[r] == n) continue;
        pthread_mutex_lock(&g->mu);
        fail_locked(g, S24_ERR_INVALID, "%s: rank %d posted %lld floats, rank %d %lld", what, r,
                    (long long)g->n[r], c->rank, (long long)n);
        pthread_mutex_unlock(&g->mu);
        return s24_error(S24_ERR_INVALID, "%s", g->why);
    }
    return S24_OK;
}

static int thr_allreduce(struct s24_comm *c, float *buf, int64_t n)
{
    struct s24_comm_group *g = c->ctx;
    int rc = meet(c, "all-reduce", 1, buf, n);
    if (rc == S24_OK) rc = same_length(c, n, "all-reduce");
    if (rc != S24_OK) return rc;
    int64_t lo = n * c->rank / g->size, hi = n * (c->rank + 1) / g->size;
    for (int64_t i = lo; i < hi; i++) {
        float s = g->ptr[0][i];
        for (int r = 1; r < g->size; r++)
            s += g->ptr[r][i];
        for (int r = 0; r < g->size; r++)
            g->ptr[r][i] = s;
    }
    return meet(c, "all-reduce", 0, NULL, 0);
}

static int thr_broadcast(struct s24_comm *c, float *buf, int64_t n)
{
    struct s24_comm_group *g = c->ctx;
    int rc = meet(c, "broadcast", 1, buf, n);
    if (rc == S24_OK) rc = same_length(c, n, "broadcast");
    if (rc != S24_OK) return rc;
    if (c->rank != 0 && n > 0) memcpy(buf, g->ptr[0], sizeof(float) * (size_t)n);
    return meet(c, "broadcast", 0, NULL, 0);
}

static int thr_barrier(struct s24_comm *c)
{
    return meet(c, "barrier", 0, NULL, 0);
}

/* Collectives here finish before they return. */
static int thr_wait(struct s24_comm *c)
{
    return S24_OK;
}

static void thr_abort(struct s24_comm *c, int status, const char *why)
{
    struct s24_comm_group *g = c->ctx;
    pthread_mutex_lock(&g->mu);
    fail_locked(g, status, "rank %d aborted: %s", c->rank, why);
    pthread_mutex_unlock(&g->mu);
}

static void thr_free(struct s24_comm *c)
{
    struct s24_comm_group *g = c->ctx;
    pthread_mutex_lock(&g->mu);
    g->attached[c->rank] = 0;
    pthread_mutex_unlock(&g->mu);
    free(c);
}

static const struct s24_comm_ops thr_ops = {thr_allreduce, thr_broadcast, thr_barrier,
                                            thr_wait,      thr_abort,     thr_free};

int s24_comm_group_create(int size, double deadline_s, struct s24_comm_group **out)
{
    if (!out || size < 1 || size > 1024 || !(deadline_s > 0))
        return s24_error(S24_ERR_INVALID, "comm group: %d ranks, deadline %g s (1..1024, > 0)",
                         size, deadline_s);
    struct s24_comm_group *g = calloc(1, sizeof *g);
    pthread_condattr_t ca;
    if (!g) return s24_error(S24_ERR_NOMEM, "comm group: out of memory");
    g->size = size;
    g->deadline_s = deadline_s;
    g->attached = calloc((size_t)size, sizeof *g->attached);
    g->ptr = calloc((size_t)size, sizeof *g->ptr);
    g->n = calloc((size_t)size, sizeof *g->n);
    /* the deadline runs on the monotonic clock: a wall-clock jump must not fire it */
    int ok = g->attached && g->ptr && g->n && !pthread_condattr_init(&ca);
    if (ok) {
        ok = !pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) && !pthread_cond_init(&g->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    if (ok && pthread_mutex_init(&g->mu, NULL)) {
        pthread_cond_destroy(&g->cv);
        ok = 0;
    }
    if (!ok) {
        free(g->attached);
        free(g->ptr);
        free(g->n);
        free(g);
        return s24_error(S24_ERR_NOMEM, "comm group: out of memory or no monotonic clock");
    }
    *out = g;
    return S24_OK;
}

void s24_comm_group_free(struct s24_comm_group *g)
{
    if (!g) return;
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g->attached);
    free(g->ptr);
    free(g->n);
    free(g);
}

int s24_comm_thread_init(struct s24_comm_group *g, int rank, struct s24_backend *be,
                         struct s24_comm **out)
{
    if (!g || !be || !out || rank < 0 || rank >= g->size)
        return s24_error(S24_ERR_INVALID, "comm_thread_init: rank %d of %d", rank, g ? g->size : 0);
    if (be->device != S24_DEVICE_CPU)
        return s24_error(S24_ERR_UNSUPPORTED,
                         "comm_thread_init: thread ranks reduce host memory: %s is not a CPU "
                         "backend (GPUs use NCCL)",
                         be->name);
    struct s24_comm *c = calloc(1, sizeof *c);
    if (!c) return s24_error(S24_ERR_NOMEM, "comm_thread_init: out of memory");
    pthread_mutex_lock(&g->mu);
    int taken = g->attached[rank];
    g->attached[rank] = 1;
    pthread_mutex_unlock(&g->mu);
    if (taken) {
        free(c);
        return s24_error(S24_ERR_INVALID, "comm_thread_init: rank %d already has a comm", rank);
    }
    c->ops = &thr_ops;
    c->kind = "threads";
    c->rank = rank;
    c->size = g->size;
    c->be = be;
    c->deadline_s = g->deadline_s;
    c->ctx = g;
    *out = c;
    return S24_OK;
}

/* ---------------------------------------------------------------- launcher */
struct rank_thread {
    struct s24_comm_group *g;
    int rank;
    s24_rank_main fn;
    void *arg;
    struct s24_rank_result res;
};

static void *rank_thread_main(void *p)
{
    struct rank_thread *t = p;
    s24_clear_error();
    int rc = t->fn(t->g, t->rank, t->arg);
    t->res.status = rc;
    snprintf(t->res.msg, sizeof t->res.msg, "%s", rc != S24_OK ? s24_last_error() : "");
    if (rc != S24_OK) {
        /* the launcher's part: a rank that ended in error stops the rest */
        pthread_mutex_lock(&t->g->mu);
        fail_locked(t->g, rc, "rank %d failed: %s", t->rank, t->res.msg);
        pthread_mutex_unlock(&t->g->mu);
    }
    return NULL;
}

int s24_comm_threads_run(int size, double deadline_s, s24_rank_main rank_main, void *arg,
                         struct s24_rank_result *res)
{
    struct s24_comm_group *g = NULL;
    if (!rank_main) return s24_error(S24_ERR_INVALID, "comm_threads_run: no rank function");
    int rc = s24_comm_group_create(size, deadline_s, &g);
    if (rc != S24_OK) return rc;
    struct rank_thread *t = calloc((size_t)size, sizeof *t);
    pthread_t *tid = calloc((size_t)size, sizeof *tid);
    int started = 0;
    if (!t || !tid) {
        rc = s24_error(S24_ERR_NOMEM, "comm_threads_run: out of memory");
        goto done;
    }
    for (; started < size; started++) {
        t[started] = (struct rank_thread){g, started, rank_main, arg, {S24_OK, ""}};
        if (pthread_create(&tid[started], NULL, rank_thread_main, &t[started])) break;
    }
    if (started < size) {
        pthread_mutex_lock(&g->mu);
        fail_locked(g, S24_ERR_NOMEM, "could not start the thread of rank %d", started);
        pthread_mutex_unlock(&g->mu);
    }
    for (int r = 0; r < started; r++)
        pthread_join(tid[r], NULL);
    for (int r = 0; res && r < size; r++)
        res[r] = r < started ? t[r].res : (struct s24_rank_result){S24_ERR_NOMEM, "not started"};
    if (g->failed) rc = s24_error(g->failed, "%s", g->why);
done:
    free(t);
    free(tid);
    s24_comm_group_free(g);
    return rc;
}
