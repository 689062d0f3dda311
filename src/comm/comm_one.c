/* comm_one.c: the one-rank communicator. The sum over one rank is the
 * rank's own buffer and rank 0 is the only source, so every collective
 * returns at once; abort only records the message (there is nobody to
 * tell). The trainer runs N = 1 through it, with no NCCL in the build. */
#include "comm/comm.h"

#include <stdlib.h>

static int one_noop(struct s24_comm *c, float *buf, int64_t n)
{
    return S24_OK;
}
static int one_sync(struct s24_comm *c)
{
    return S24_OK;
}

static void one_abort(struct s24_comm *c, int status, const char *why)
{
    s24_error(status, "rank 0 of 1 aborted: %s", why);
}

static void one_free(struct s24_comm *c)
{
    free(c);
}

static const struct s24_comm_ops one_ops = {one_noop, one_noop,  one_sync,
                                            one_sync, one_abort, one_free};

int s24_comm_one_init(struct s24_backend *be, struct s24_comm **out)
{
    if (!out || !be) return s24_error(S24_ERR_INVALID, "comm_one_init: no backend or output");
    struct s24_comm *c = calloc(1, sizeof *c);
    if (!c) return s24_error(S24_ERR_NOMEM, "comm_one_init: out of memory");
    c->ops = &one_ops;
    c->kind = "one";
    c->rank = 0;
    c->size = 1;
    c->be = be;
    c->deadline_s = S24_COMM_DEADLINE_S;
    *out = c;
    return S24_OK;
}
