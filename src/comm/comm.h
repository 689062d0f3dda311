/* comm.h: the communication layer of data-parallel training: one struct
 * s24_comm per rank, with its rank, the number of ranks and an ops table of
 * the few collectives the trainer needs (sum all-reduce, broadcast from rank
 * 0, barrier, wait, abort). The trainer calls only these, so it has one code
 * path for any number of ranks and the CPU build needs no NCCL.
 *
 * Implementations:
 *   comm_one.c      one rank: every collective is a no-op (N = 1, no NCCL)
 *   comm_threads.c  N threads of one process as ranks, each with its own CPU
 *                   backend: deterministic (a fixed rank order), for CI
 *   comm_nccl.cu    NCCL, one GPU per rank, on the backend's stream
 *                   (comm_nonccl.c stands in when NCCL is not built)
 *
 * Buffers are backend memory of the rank's backend (comm->be). A collective
 * is ordered after the work queued before it on that backend; on NCCL it is
 * queued and returns, and `wait` is where a rank blocks. Every blocking call
 * gives up after comm->deadline_s seconds: a rank that fails or stops
 * answering makes the others return S24_ERR_COMM, never hang.
 *
 * Not here: gradient buckets (buckets.h), the launcher of processes, sync BN. */
#ifndef S24_COMM_H
#define S24_COMM_H

#include <stdint.h>

#include "nn/ops.h"

#ifdef __cplusplus
extern "C" { /* comm_nccl.cu is C++: keep the C names */
#endif

struct s24_comm;

struct s24_comm_ops {
    /* buf (n floats) = the sum over ranks of every rank's buf, element-wise. */
    int (*allreduce)(struct s24_comm *c, float *buf, int64_t n);
    /* buf (n floats) = rank 0's buf on every rank. */
    int (*broadcast)(struct s24_comm *c, float *buf, int64_t n);
    /* Returns when every rank has called it (and their queued collectives are done). */
    int (*barrier)(struct s24_comm *c);
    /* Returns when this rank's queued collectives are done. */
    int (*wait)(struct s24_comm *c);
    /* This rank gives up (status, message): the others' collectives fail
     * with S24_ERR_COMM instead of waiting for it (thread ranks at once,
     * NCCL ranks at their deadline: NCCL does not tell peers). Idempotent. */
    void (*abort)(struct s24_comm *c, int status, const char *why);
    void (*free)(struct s24_comm *c); /* the implementation's part and c itself */
};

struct s24_comm {
    const struct s24_comm_ops *ops;
    const char *kind; /* "one", "threads", "nccl" */
    int rank, size;
    struct s24_backend *be;
    double deadline_s; /* the longest one call waits for the other ranks */
    void *ctx;         /* the implementation's */
};

/* What a collective may wait by default (seconds); a GPU step of ResNet18 at
 * batch 256 is well under one second, a first NCCL init a few seconds. */
#define S24_COMM_DEADLINE_S 60.0

/* The calls the trainer makes: argument checks, then the ops table. */
int s24_comm_allreduce(struct s24_comm *c, float *buf, int64_t n);
int s24_comm_broadcast(struct s24_comm *c, float *buf, int64_t n);
int s24_comm_barrier(struct s24_comm *c);
int s24_comm_wait(struct s24_comm *c);
void s24_comm_abort(struct s24_comm *c, int status, const char *why);
void s24_comm_free(struct s24_comm *c);

/* ---- one rank */
int s24_comm_one_init(struct s24_backend *be, struct s24_comm **out);

/* ---- threads as ranks: a group shared by `size` threads of one process,
 * each of which makes its comm with s24_comm_thread_init from its own
 * thread. Only CPU backends (the reduction reads every rank's host buffer).
 * The reduction adds the ranks' values in rank order 0, 1, ..., N-1 in
 * float, so every rank gets the same bits, run after run. */
struct s24_comm_group;
int s24_comm_group_create(int size, double deadline_s, struct s24_comm_group **out);
/* After every rank's comm is freed. */
void s24_comm_group_free(struct s24_comm_group *g);
int s24_comm_thread_init(struct s24_comm_group *g, int rank, struct s24_backend *be,
                         struct s24_comm **out);

/* A launcher for thread ranks: runs rank_main(g, rank, arg) on `size`
 * threads and joins them. A rank whose rank_main returns an error has the
 * group failed for it, so the others' collectives return S24_ERR_COMM by
 * their deadline. status[r] / msg[r] (may be NULL): each rank's result and
 * its s24_last_error(). Returns the first failing rank's status, else S24_OK. */
struct s24_rank_result {
    int status;
    char msg[256];
};
typedef int (*s24_rank_main)(struct s24_comm_group *g, int rank, void *arg);
int s24_comm_threads_run(int size, double deadline_s, s24_rank_main rank_main, void *arg,
                         struct s24_rank_result *res);

/* ---- NCCL: one rank per GPU (its CUDA backend), processes or threads.
 * Rank 0 makes the id and hands it to the others (a pipe, a file, memory). */
struct s24_comm_id {
    char bytes[128]; /* NCCL_UNIQUE_ID_BYTES */
};
/* S24_ERR_UNSUPPORTED when built without NCCL. */
int s24_comm_nccl_id(struct s24_comm_id *id);
/* Sets NCCL_NVLS_ENABLE=0 (no NVLink multicast) before creating the
 * communicator, which is non-blocking and waited on against deadline_s. */
int s24_comm_nccl_init(struct s24_backend *be, int rank, int size, const struct s24_comm_id *id,
                       double deadline_s, struct s24_comm **out);

#ifdef __cplusplus
}
#endif
#endif
