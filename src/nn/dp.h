/* dp.h: what the trainer adds on top of the communicator (comm/comm.h) for
 * data-parallel training: exact sums of a few doubles over the ranks (the
 * loss and hit counts the CSV reports, the stop flag every rank must agree
 * on), and rank 0's model and optimiser state copied to every rank.
 *
 * Not here: gradient averaging (comm/buckets.h), the launcher of ranks
 * (pipeline.c), sync BN. Internal to the library. */
#ifndef S24_NN_DP_H
#define S24_NN_DP_H

#include "comm/comm.h"
#include "sparse24/sparse24_train.h"

/* The most doubles one s24_dp_sum adds. */
#define S24_DP_SUM_MAX 4

/* v[0..k) becomes the sum over ranks, the same bits on every rank: each
 * double travels as three floats (exactly) in its rank's own slots of one
 * all-reduce (every other rank adds zeros there, which is exact), and the
 * ranks' values are then added in double in rank order 0..N-1. One rank:
 * v is left as it is, nothing is called. */
int s24_dp_sum(struct s24_comm *c, double *v, int k);

/* Every parameter, buffer (BN running statistics), momentum buffer and
 * mask of rank 0, broadcast to the other ranks (host and backend copies
 * updated). Every rank must have the same model and the same parameters
 * masked. One rank: nothing is called. */
int s24_dp_sync(struct s24_comm *c, s24_model_t *m, struct s24_sgd *o);

struct s24_buckets;
/* s24_train_epoch on one of N ranks (comm NULL or of one rank: exactly
 * s24_train_epoch). Every rank draws the same global batch (the shuffle
 * and every image's augmentation, from the same r), builds only its rows
 * [rank B/N, (rank+1) B/N), and after the backward the gradients are
 * averaged through `buckets`; the loss and hit sums are summed over the
 * ranks (exactly) where they are read, so st and the progress are global,
 * and c->stop is agreed on there; rank 0 alone evaluates the test set
 * (the others report NaN). Needs every batch, the last one included,
 * divisible by N. */
int s24_train_epoch_ranks(s24_model_t *m, struct s24_sgd *o, const struct s24_epoch_cfg *c,
                          struct s24_comm *comm, struct s24_buckets *buckets, struct s24_rng *r,
                          int64_t *step, struct s24_epoch_stats *st);

#endif
