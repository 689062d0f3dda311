/* buckets.h: gradient averaging for data-parallel training. A model's
 * parameter gradients (s24_param.bgrad, backend memory) are grouped into
 * buckets of about B bytes in *reverse* parameter order, the order the
 * backward finishes them; each bucket is packed into one flat backend
 * buffer, summed over the ranks with one all-reduce, divided by N and
 * unpacked, all through the backend's ops (copy hook, the SE scale op as a
 * multiply by 1/N) and queued on its stream.
 *
 * Use, per step:
 *     s24_buckets_begin(b);
 *     ... backward; as gradient i is final: s24_buckets_ready(b, i) ...
 *     s24_buckets_finish(b);   // launches what is left, waits for all
 * A bucket launches inside the s24_buckets_ready call that completes it,
 * so with the backward reporting gradients as it goes (the trainer hooks
 * s24_buckets_ready to s24_model_grad_hook), the all-reduce of the last
 * layers overlaps the backward of the first ones: on a GPU the bucket's
 * work goes on the backend's side queue (ops.h side_begin) after an event
 * from the main one, and s24_buckets_finish joins them. Thread ranks on the
 * CPU reduce inside the call (the ranks meet there). s24_buckets_average
 * marks every gradient after a backward that did not report them, in
 * reverse order: the same sums in the same order, so the same bits (tested
 * in tests/test_syncbn.c), without the overlap. Every rank must
 * report the same gradients in the same order, so that all ranks issue the
 * same collectives in the same sequence (NCCL matches them by order).
 *
 * Bucket rule: walking parameters from last to first, a gradient joins the
 * open bucket if the bucket is empty or stays within B bytes; else it opens
 * the next one. So every bucket is at most B bytes or holds one gradient,
 * and no two neighbours would fit in one. With one rank nothing is packed
 * or reduced (the average over one rank is its gradient).
 *
 * Not here: the communicator (comm.h), optimiser steps, BN statistics. */
#ifndef S24_COMM_BUCKETS_H
#define S24_COMM_BUCKETS_H

#include "comm/comm.h"
#include "sparse24/sparse24_nn.h"

#ifdef __cplusplus
extern "C" { /* C names, also for C++ (CUDA) files */
#endif

/* PyTorch DDP's default bucket_cap_mb is 25. */
#define S24_BUCKET_BYTES ((size_t)25 << 20)

struct s24_bucket {
    int hi, lo;     /* it holds the gradients of parameters hi, hi-1, ..., lo (those with one) */
    int64_t offset; /* its first element in the flat buffer */
    int64_t numel;  /* its elements (floats) */
    int count;      /* gradients in it */
    int left;       /* of those, not yet ready this step */
    int launched;   /* reduced (queued) this step */
};

struct s24_buckets {
    s24_model_t *m;
    struct s24_comm *comm;
    struct s24_backend *be;
    size_t cap; /* B, bytes */
    int np;     /* the model's parameters (buffers included) */
    int nb;
    struct s24_bucket *b; /* (nb) in launch order: b[0] holds the last parameters */
    int *of;              /* (np) the bucket of parameter i, -1 if it has no gradient */
    int64_t *at;          /* (np) its first element in the flat buffer */
    unsigned char *ready; /* (np) reported ready this step */
    int64_t total;        /* gradient elements over all buckets */
    float *flat;          /* (total) backend memory: every bucket side by side, so several
                           * can be in flight at once */
    float *inv;           /* (S24_BUCKET_ROWS) 1/N, backend memory: the scale op's factors */
};

/* bucket_bytes 0: S24_BUCKET_BYTES. The model and comm must outlive b and
 * share the backend. */
int s24_buckets_init(struct s24_buckets *b, s24_model_t *m, struct s24_comm *comm,
                     size_t bucket_bytes);
void s24_buckets_free(struct s24_buckets *b);
/* A new step: no gradient ready, no bucket launched. */
int s24_buckets_begin(struct s24_buckets *b);
/* Gradient of parameter i is final: when it is the last of its bucket, the
 * bucket is reduced and averaged (queued on the backend). A parameter
 * without a gradient is accepted and ignored; one reported twice is an error. */
int s24_buckets_ready(struct s24_buckets *b, int i);
/* Launches the buckets not launched yet (in order), then waits for the
 * communicator: afterwards every gradient holds the average over ranks. */
int s24_buckets_finish(struct s24_buckets *b);
/* begin, every gradient ready from last to first, finish: the step of a
 * backward that does not report its gradients. */
int s24_buckets_average(struct s24_buckets *b);

#ifdef __cplusplus
}
#endif
#endif
