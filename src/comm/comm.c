/* comm.c: the calls the trainer makes on a struct s24_comm (comm.h): the
 * argument checks every implementation would repeat, then its ops table.
 * The implementations live in comm_one.c, comm_threads.c, comm_nccl.cu. */
#include "comm/comm.h"

#include <stddef.h>

static int bad(const struct s24_comm *c, const float *buf, int64_t n, const char *what)
{
    if (!c || !c->ops) return s24_error(S24_ERR_INVALID, "%s: no communicator", what);
    if (n < 0 || (n > 0 && !buf))
        return s24_error(S24_ERR_INVALID, "%s: %lld floats at %p", what, (long long)n,
                         (const void *)buf);
    return S24_OK;
}

int s24_comm_allreduce(struct s24_comm *c, float *buf, int64_t n)
{
    int rc = bad(c, buf, n, "all-reduce");
    return rc != S24_OK ? rc : c->ops->allreduce(c, buf, n);
}

int s24_comm_broadcast(struct s24_comm *c, float *buf, int64_t n)
{
    int rc = bad(c, buf, n, "broadcast");
    return rc != S24_OK ? rc : c->ops->broadcast(c, buf, n);
}

int s24_comm_barrier(struct s24_comm *c)
{
    int rc = bad(c, NULL, 0, "barrier");
    return rc != S24_OK ? rc : c->ops->barrier(c);
}

int s24_comm_wait(struct s24_comm *c)
{
    int rc = bad(c, NULL, 0, "wait");
    return rc != S24_OK ? rc : c->ops->wait(c);
}

void s24_comm_abort(struct s24_comm *c, int status, const char *why)
{
    if (c && c->ops) c->ops->abort(c, status, why ? why : "");
}

void s24_comm_free(struct s24_comm *c)
{
    if (c && c->ops) c->ops->free(c);
}
