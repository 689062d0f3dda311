/* memo.h: a small table of results kept for the process, thread-safe, for
 * searches worth doing once per shape (the CUDA backend's cuDNN algorithm
 * lists and graph plans). The caller owns the storage: a static array of
 * entries whose first member is the key, compared as bytes (the caller
 * zeroes any padding in it). A full table keeps nothing more: the caller
 * searches again. Internal to the library (not in include/). */
#ifndef S24_CORE_MEMO_H
#define S24_CORE_MEMO_H

#include <pthread.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct s24_memo {
    pthread_mutex_t lock;
    void *entries;
    size_t entry_bytes, key_bytes;
    int cap, n;
};

/* A memo over `store`, a static array of entries, keyed by their first
 * key_bytes bytes. */
#define S24_MEMO_INIT(store, key_bytes)                                                            \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, (store), sizeof((store)[0]), (key_bytes),                       \
            (int)(sizeof(store) / sizeof((store)[0])), 0                                           \
    }

/* entry's key set by the caller: 1 and the whole kept entry copied into
 * *entry where one has that key, else 0 (entry unchanged). */
int s24_memo_get(struct s24_memo *m, void *entry);
/* Keeps a copy of *entry (a later get of its key finds the first one kept). */
void s24_memo_put(struct s24_memo *m, const void *entry);

#ifdef __cplusplus
}
#endif

#endif
