/* memo.c: the process-wide result tables of memo.h, searched in order
 * (a few hundred entries at most, looked up once per node and shape). */
#include "core/memo.h"

#include <string.h>

int s24_memo_get(struct s24_memo *m, void *entry)
{
    int hit = 0;
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < m->n && !hit; i++) {
        const char *e = (const char *)m->entries + (size_t)i * m->entry_bytes;
        if (!memcmp(e, entry, m->key_bytes)) memcpy(entry, e, m->entry_bytes), hit = 1;
    }
    pthread_mutex_unlock(&m->lock);
    return hit;
}

void s24_memo_put(struct s24_memo *m, const void *entry)
{
    pthread_mutex_lock(&m->lock);
    if (m->n < m->cap)
        memcpy((char *)m->entries + (size_t)m->n++ * m->entry_bytes, entry, m->entry_bytes);
    pthread_mutex_unlock(&m->lock);
}
