/* comm_nccl.cu: the NCCL communicator, one rank per GPU, on the current
 * stream of the rank's CUDA backend (so a collective is ordered after the
 * work that produced its buffer): the main stream, or the side stream the
 * gradient buckets switch to (ops.h side_begin). NCCL runs one
 * communicator's collectives in the order they are issued whatever their
 * streams, and every rank issues them in the same order. Built only with NCCL (comm_nonccl.c stands
 * in otherwise); host code only, C++ because the backend's context
 * (cuda/nn_cuda.h) is.
 *
 * NCCL has no timeout of its own: the communicator is non-blocking, and
 * wherever a rank waits it polls ncclCommGetAsyncError (and the stream)
 * against comm->deadline_s, then calls ncclCommAbort, so a rank whose peer
 * died returns S24_ERR_COMM instead of hanging. NVLink multicast (NVLS) is
 * turned off before the communicator exists, and nothing here calls
 * cuMulticastCreate. Not here: the launcher of processes, the id exchange.
 * NCCL itself is opened at run time (cuda/nccl_dl.cu), when the first id or
 * communicator is made; missing, both return its error and nothing else
 * of sparse24 notices. */
#include "comm/comm.h"
#include "cuda/dl_nccl.h" /* <nccl.h>, its calls through the run-time table */
#include "cuda/nn_cuda.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static_assert(sizeof(ncclUniqueId) == sizeof(struct s24_comm_id), "NCCL id size");

struct nccl_ctx {
    ncclComm_t comm;
    float *one; /* (1) device scratch for the barrier's all-reduce */
    int aborted;
};

static int nccl_fail(ncclResult_t r, const char *call, const char *file, int line)
{
    if (r == ncclSuccess || r == ncclInProgress) return S24_OK;
    return s24_error(S24_ERR_NCCL, "%s failed at %s:%d: %s (%s)", call, file, line,
                     ncclGetErrorString(r), ncclGetLastError(NULL));
}
#define NCCL_CHECK(call)                                                                           \
    do {                                                                                           \
        if ((rc = nccl_fail((call), #call, __FILE__, __LINE__)) != S24_OK) goto fail;              \
    } while (0)

static void pause_ms(void)
{
    struct timespec t = {0, 1000000L};
    nanosleep(&t, NULL);
}

/* Abort the communicator once (which also frees it): the peers notice by
 * their own deadline. */
static void drop(struct nccl_ctx *x)
{
    if (x->aborted || !x->comm) return;
    x->aborted = 1;
    ncclCommAbort(x->comm);
}

static void nccl_abort(struct s24_comm *c, int status, const char *why)
{
    drop((struct nccl_ctx *)c->ctx);
    s24_error(status != S24_OK ? status : S24_ERR_COMM, "rank %d of %d aborted: %s", c->rank,
              c->size, why);
}

/* Polls until the communicator is no longer busy (a non-blocking call in
 * progress) and, if `stream`, the stream is drained; aborts on an
 * asynchronous error or when the deadline passes. */
static int poll_done(struct s24_comm *c, int stream, const char *what)
{
    struct nccl_ctx *x = (struct nccl_ctx *)c->ctx;
    double until = s24_now() + c->deadline_s;
    if (x->aborted)
        return s24_error(S24_ERR_COMM, "rank %d, %s: communicator aborted", c->rank, what);
    for (;;) {
        ncclResult_t a = ncclSuccess;
        ncclResult_t r = ncclCommGetAsyncError(x->comm, &a);
        if (r != ncclSuccess || (a != ncclSuccess && a != ncclInProgress)) {
            int rc = nccl_fail(r != ncclSuccess ? r : a, what, __FILE__, __LINE__);
            drop(x);
            return rc;
        }
        if (a == ncclSuccess) {
            cudaError_t q = stream ? cudaStreamQuery(s24_cu(c->be)->stream) : cudaSuccess;
            if (q == cudaSuccess) return S24_OK;
            if (q != cudaErrorNotReady) {
                int rc = s24_gpu_status(q, "cudaStreamQuery", __FILE__, __LINE__);
                drop(x);
                return rc;
            }
        }
        if (s24_now() > until) {
            drop(x);
            return s24_error(S24_ERR_COMM,
                             "rank %d of %d, %s: not done within %.3g s (a rank "
                             "failed or stopped); communicator aborted",
                             c->rank, c->size, what, c->deadline_s);
        }
        pause_ms();
    }
}

static int nccl_allreduce(struct s24_comm *c, float *buf, int64_t n)
{
    struct nccl_ctx *x = (struct nccl_ctx *)c->ctx;
    int rc = S24_OK;
    if (x->aborted) return s24_error(S24_ERR_COMM, "rank %d: communicator aborted", c->rank);
    if (n == 0) return S24_OK;
    /* the backend's current stream: the side stream inside a bucket's launch */
    NCCL_CHECK(ncclAllReduce(buf, buf, (size_t)n, ncclFloat, ncclSum, x->comm,
                             s24_cu(c->be)->stream));
    return poll_done(c, 0, "ncclAllReduce"); /* queued, not finished: see nccl_wait */
fail:
    drop(x);
    return rc;
}

static int nccl_broadcast(struct s24_comm *c, float *buf, int64_t n)
{
    struct nccl_ctx *x = (struct nccl_ctx *)c->ctx;
    int rc = S24_OK;
    if (x->aborted) return s24_error(S24_ERR_COMM, "rank %d: communicator aborted", c->rank);
    if (n == 0) return S24_OK;
    NCCL_CHECK(ncclBroadcast(buf, buf, (size_t)n, ncclFloat, 0, x->comm, s24_cu(c->be)->stream));
    return poll_done(c, 0, "ncclBroadcast");
fail:
    drop(x);
    return rc;
}

static int nccl_wait(struct s24_comm *c)
{
    return poll_done(c, 1, "wait");
}

static int nccl_barrier(struct s24_comm *c)
{
    struct nccl_ctx *x = (struct nccl_ctx *)c->ctx;
    int rc = nccl_allreduce(c, x->one, 1);
    return rc != S24_OK ? rc : nccl_wait(c);
}

static void nccl_free(struct s24_comm *c)
{
    struct nccl_ctx *x = (struct nccl_ctx *)c->ctx;
    if (x) {
        if (x->comm && !x->aborted) {
            /* finalize flushes what is queued; with a peer gone it times out
             * and poll_done aborts (which frees the communicator) */
            ncclResult_t r = ncclCommFinalize(x->comm);
            if (r != ncclSuccess && r != ncclInProgress)
                ncclCommAbort(x->comm);
            else if (poll_done(c, 0, "ncclCommFinalize") == S24_OK)
                ncclCommDestroy(x->comm);
        }
        s24_be_free(c->be, x->one, sizeof(float));
        free(x);
    }
    free(c);
}

static const struct s24_comm_ops nccl_ops = {nccl_allreduce, nccl_broadcast, nccl_barrier,
                                             nccl_wait,      nccl_abort,     nccl_free};

int s24_comm_nccl_id(struct s24_comm_id *id)
{
    int rc = S24_OK;
    ncclUniqueId u;
    if (!id) return s24_error(S24_ERR_INVALID, "comm_nccl_id: no output");
    if ((rc = s24_dl_nccl_load("a multi-GPU communicator (its id)")) != S24_OK) return rc;
    NCCL_CHECK(ncclGetUniqueId(&u));
    memcpy(id->bytes, u.internal, sizeof id->bytes);
fail:
    return rc;
}

int s24_comm_nccl_init(struct s24_backend *be, int rank, int size, const struct s24_comm_id *id,
                       double deadline_s, struct s24_comm **out)
{
    if (!be || !id || !out || size < 1 || rank < 0 || rank >= size || !(deadline_s > 0))
        return s24_error(S24_ERR_INVALID, "comm_nccl_init: rank %d of %d, deadline %g s", rank,
                         size, deadline_s);
    *out = NULL;
    if (be->device != S24_DEVICE_CUDA)
        return s24_error(S24_ERR_UNSUPPORTED, "comm_nccl_init: %s is not a CUDA backend", be->name);
    int rc = s24_dl_nccl_load("a multi-GPU communicator");
    if (rc != S24_OK) return rc;
    /* NVLink multicast stays off whatever the environment says (issue 12). */
    setenv("NCCL_NVLS_ENABLE", "0", 1);
    struct s24_comm *c = (struct s24_comm *)calloc(1, sizeof *c);
    struct nccl_ctx *x = (struct nccl_ctx *)calloc(1, sizeof *x);
    ncclUniqueId u;
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    if (!c || !x) {
        free(c);
        free(x);
        return s24_error(S24_ERR_NOMEM, "comm_nccl_init: out of memory");
    }
    c->ops = &nccl_ops;
    c->kind = "nccl";
    c->rank = rank;
    c->size = size;
    c->be = be;
    c->deadline_s = deadline_s;
    c->ctx = x;
    if ((rc = s24_be_alloc(be, sizeof(float), (void **)&x->one)) != S24_OK) goto fail;
    if ((rc = be->ops->zero(be, x->one, sizeof(float))) != S24_OK) goto fail;
    S24_GPU_CHECK(cudaSetDevice(be->index));
    memcpy(u.internal, id->bytes, sizeof u.internal);
    cfg.blocking = 0; /* so that a missing peer cannot block the init past the deadline */
    NCCL_CHECK(ncclCommInitRankConfig(&x->comm, size, u, rank, &cfg));
    if ((rc = poll_done(c, 0, "ncclCommInitRankConfig")) != S24_OK) goto fail;
    *out = c;
    return S24_OK;
fail:
    drop(x);
    nccl_free(c);
    return rc;
}
