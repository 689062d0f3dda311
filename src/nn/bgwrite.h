/* bgwrite.h: one file write at a time on a background thread, for the
 * pipeline's per-epoch state. The caller lends a safetensors snapshot
 * (already on the host: the download from the GPU is the caller's, done
 * before), an optional last touch to it (run in the thread before the
 * write: the conv weights' transpose, off the training thread) and a small
 * text file to write after it; the thread writes both
 * through the output-file layer (atomic, fsync'd, in that order) while the
 * caller trains the next epoch. A failed write is kept, message and all, and
 * returned by the next start or join, in the caller's thread.
 *
 * It does not queue: a start waits for the write before it. The snapshot
 * stays the caller's: it is not copied, and must be left alone from the
 * start until the join, so a caller that refills one snapshot every epoch
 * (no allocation, no page faults) alternates between two, or joins first.
 * S24_BGWRITE=0 in the environment writes in the caller's thread instead (same files, same order),
 * for measuring and for debugging. Internal to the library (not in include/). */
#ifndef S24_NN_BGWRITE_H
#define S24_NN_BGWRITE_H

#include <pthread.h>
#include <stddef.h>

#include "sparse24/sparse24.h"

struct s24_bgwrite {
    pthread_t th;
    int busy;         /* a write was started and not yet joined */
    int sync;         /* S24_BGWRITE=0: write in the caller's thread */
    struct s24_st *st;                         /* the snapshot being written (lent while busy) */
    int (*prep)(void *ctx, struct s24_st *st); /* run on it first (NULL: none) */
    void *prep_ctx;
    char *st_path;    /* where it goes */
    char *txt_path;   /* the text file written after it (NULL: none) */
    char *txt;        /* its bytes (txt_len of them) */
    size_t txt_len;
    int rc;         /* the last write's result */
    char err[1024]; /* its message (s24_last_error() is per thread) */
    double total_s; /* wall time of every write joined so far */
    int writes;     /* writes joined so far */
};

void s24_bgwrite_init(struct s24_bgwrite *w);
/* prep(prep_ctx, st) (prep NULL: none; its failure is the write's), then
 * *st written to st_path, then txt (len bytes, copied) to txt_path (NULL: no
 * text file), in the background. *st is lent, not copied: the caller keeps
 * it, and leaves it alone until the join. A write still running is joined
 * first; if it failed, its error is returned and nothing new is started. */
int s24_bgwrite_start(struct s24_bgwrite *w, const char *st_path, struct s24_st *st,
                      int (*prep)(void *ctx, struct s24_st *st), void *prep_ctx,
                      const char *txt_path, const void *txt, size_t len);
/* Is st lent to a write not yet joined? (The caller must not touch it.) */
int s24_bgwrite_holds(const struct s24_bgwrite *w, const struct s24_st *st);
/* Wait for the running write (none: S24_OK at once) and return its result,
 * its message set as this thread's last error. */
int s24_bgwrite_join(struct s24_bgwrite *w);

#endif /* S24_NN_BGWRITE_H */
