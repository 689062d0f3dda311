/* bgwrite.h: one file write at a time on a background thread, for the
 * pipeline's per-epoch state. The caller hands over a safetensors snapshot
 * (already on the host: the download from the GPU is the caller's, done
 * before) and a small text file to write after it; the thread writes both
 * through the output-file layer (atomic, fsync'd, in that order) while the
 * caller trains the next epoch. A failed write is kept, message and all, and
 * returned by the next start or join, in the caller's thread.
 *
 * It does not queue: a start waits for the write before it, so at most one
 * snapshot is held besides the model. S24_BGWRITE=0 in the environment writes
 * in the caller's thread instead (same files, same order), for measuring and
 * for debugging. Internal to the library (not in include/). */
#ifndef S24_NN_BGWRITE_H
#define S24_NN_BGWRITE_H

#include <pthread.h>
#include <stddef.h>

#include "sparse24/sparse24.h"

struct s24_bgwrite {
    pthread_t th;
    int busy;         /* a write was started and not yet joined */
    int sync;         /* S24_BGWRITE=0: write in the caller's thread */
    struct s24_st st; /* the snapshot being written (owned while busy) */
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
/* Write *st to st_path, then txt (len bytes, copied) to txt_path (NULL: no
 * text file), in the background. *st is taken over (left empty, to be freed
 * or reused by the caller as an empty one). A write still running is joined
 * first; if it failed, its error is returned and nothing new is started. */
int s24_bgwrite_start(struct s24_bgwrite *w, const char *st_path, struct s24_st *st,
                      const char *txt_path, const void *txt, size_t len);
/* Wait for the running write (none: S24_OK at once) and return its result,
 * its message set as this thread's last error. */
int s24_bgwrite_join(struct s24_bgwrite *w);

#endif /* S24_NN_BGWRITE_H */
