/* train_data.h: what `train`, `eval` and `demo` share to get their images:
 * --data DIR|synthetic with the synthetic set's size options and the
 * --limit-train/--limit-test truncations. Only the CLI uses it. */
#ifndef S24_TRAIN_DATA_H
#define S24_TRAIN_DATA_H

#include <stdio.h>

#include "sparse24/sparse24_train.h"

struct train_data_opts {
    const char *data;           /* folder of CIFAR-10 binaries, or "synthetic" */
    struct s24_synth_cfg synth; /* used for "synthetic" */
    int64_t limit_train, limit_test; /* 0 = all */
};
void train_data_defaults(struct train_data_opts *o);
/* Loads train (may be NULL to skip) and test; prints the error and returns
 * an exit code on failure. */
int train_data_load(const char *cmd, const struct train_data_opts *o, struct s24_dataset *train,
                    struct s24_dataset *test);

/* The training part of `sparse24 demo` (demo_train.c), run after its core
 * part: smallcnn dense, 2:4, retrained; prints on `out`, returns an exit code. */
int demo_train(const char *cmd, uint64_t seed, FILE *out);

#endif
