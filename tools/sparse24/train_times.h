/* train_times.h: how `sparse24 train` says where its wall time went: one
 * line on stderr at the end and timing.csv in --out (train_times.c). Only
 * the CLI uses it. */
#ifndef S24_TRAIN_TIMES_H
#define S24_TRAIN_TIMES_H

#include "sparse24/sparse24_train.h"

/* What the command measured itself around s24_pipeline_run. */
struct train_times {
    double t0;    /* s24_now() when the command started */
    double data;  /* loading (or drawing) the images */
    double probe; /* the GPU probe before the data loads (0 on the CPU) */
};

/* Prints the line and writes out_dir/timing.csv (a failure to write it is
 * reported on stderr, not fatal: the run itself is done). */
void train_times_report(const char *cmd, const char *out_dir, const struct train_times *c,
                        const struct s24_pipeline_result *res);

#endif
