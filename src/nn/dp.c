/* dp.c: exact sums over ranks and rank 0's state on every rank (dp.h says
 * why each is needed). Everything goes through the backend's ops and the
 * communicator, so the same code serves thread ranks on the CPU and NCCL
 * ranks on GPUs. */
#include "nn/dp.h"

#include <stdlib.h>
#include <string.h>

/* Three floats whose sum in double is x exactly: 3 x 24 significand bits
 * cover a double's 53 (finite x in float range; NaN and Inf stay NaN/Inf). */
static void split3(double x, float out[3])
{
    out[0] = (float)x;
    double rest = x - (double)out[0];
    out[1] = (float)rest;
    out[2] = (float)(rest - (double)out[1]);
}

int s24_dp_sum(struct s24_comm *c, double *v, int k)
{
    if (!c || c->size == 1 || k == 0) return S24_OK;
    if (k < 0 || k > S24_DP_SUM_MAX)
        return s24_error(S24_ERR_INVALID, "dp sum: %d values (at most %d)", k, S24_DP_SUM_MAX);
    struct s24_backend *be = c->be;
    int n = 3 * k * c->size, rc;
    size_t bytes = sizeof(float) * (size_t)n;
    float *host = calloc((size_t)n, sizeof *host); /* host: (size, k, 3) */
    float *dev = NULL;                             /* dev: the same, backend memory */
    if (!host) return s24_error(S24_ERR_NOMEM, "dp sum: out of memory");
    for (int i = 0; i < k; i++)
        split3(v[i], host + 3 * (k * c->rank + i));
    rc = s24_be_alloc(be, bytes, (void **)&dev);
    if (rc == S24_OK) rc = be->ops->upload(be, dev, host, bytes);
    if (rc != S24_OK) {
        s24_comm_abort(c, rc, s24_last_error());
        goto done;
    }
    if ((rc = s24_comm_allreduce(c, dev, n)) != S24_OK) goto done;
    if ((rc = s24_comm_wait(c)) != S24_OK) goto done;
    if ((rc = be->ops->download(be, host, dev, bytes)) != S24_OK) goto done;
    for (int i = 0; i < k; i++) {
        double s = 0;
        for (int r = 0; r < c->size; r++) {
            const float *p = host + 3 * (k * r + i);
            s += (double)p[0] + (double)p[1] + (double)p[2];
        }
        v[i] = s;
    }
done:
    s24_be_free(be, dev, bytes);
    free(host);
    return rc;
}

/* o->mask[i] (host bytes) of rank 0 on every rank, as floats 0/1 through
 * a broadcast. */
static int mask_broadcast(struct s24_comm *c, struct s24_sgd *o, int i)
{
    struct s24_backend *be = c->be;
    int64_t n = o->numel[i];
    size_t bytes = sizeof(float) * (size_t)n;
    float *host = malloc(bytes ? bytes : 1), *dev = NULL; /* (numel) */
    int rc = host ? S24_OK : s24_error(S24_ERR_NOMEM, "dp sync: out of memory for a mask");
    for (int64_t j = 0; rc == S24_OK && j < n; j++)
        host[j] = o->mask[i][j] ? 1.0f : 0.0f;
    if (rc == S24_OK) rc = s24_be_alloc(be, bytes, (void **)&dev);
    if (rc == S24_OK) rc = be->ops->upload(be, dev, host, bytes);
    if (rc == S24_OK) rc = s24_comm_broadcast(c, dev, n);
    if (rc == S24_OK) rc = s24_comm_wait(c);
    if (rc == S24_OK) rc = be->ops->download(be, host, dev, bytes);
    for (int64_t j = 0; rc == S24_OK && j < n; j++)
        o->mask[i][j] = host[j] != 0.0f;
    s24_be_free(be, dev, bytes);
    free(host);
    return rc;
}

int s24_dp_sync(struct s24_comm *c, s24_model_t *m, struct s24_sgd *o)
{
    if (!c || c->size == 1) return S24_OK;
    if (c->be != s24_model_backend(m) || o->n != s24_model_num_params(m))
        return s24_error(S24_ERR_INVALID, "dp sync: the communicator, model and optimiser differ");
    int rc = S24_OK;
    for (int i = 0; i < o->n && rc == S24_OK; i++) {
        struct s24_param *p = s24_model_param(m, i);
        if (p->bdata && p->numel > 0) rc = s24_comm_broadcast(c, p->bdata, p->numel);
        if (rc == S24_OK && o->bbuf[i]) rc = s24_comm_broadcast(c, o->bbuf[i], o->numel[i]);
    }
    if (rc == S24_OK) rc = s24_comm_wait(c);
    /* the host copies follow the backend's (on the CPU they are the same memory) */
    if (rc == S24_OK) rc = s24_model_to_host(m);
    if (rc == S24_OK) rc = s24_sgd_to_host(o);
    for (int i = 0; i < o->n && rc == S24_OK; i++)
        if (o->mask[i]) rc = mask_broadcast(c, o, i);
    return rc == S24_OK ? s24_sgd_to_backend(o) : rc;
}
