/* bgwrite.c: the pipeline's background state write (bgwrite.h). The write
 * itself is s24_st_write and s24_write_file_atomic, so it stays atomic and
 * keeps their messages ("x: write failed: No space left on device; the
 * existing file is unchanged"); this file only moves it to a thread and
 * brings its result back. It keeps one thread per write (created at start,
 * joined at join): one a minute or so, so a pool would buy nothing. */
#include "nn/bgwrite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void s24_bgwrite_init(struct s24_bgwrite *w)
{
    memset(w, 0, sizeof *w);
    const char *e = getenv("S24_BGWRITE");
    w->sync = e && !strcmp(e, "0");
}

/* The write, in whichever thread runs it; the result and message into w. */
static void write_all(struct s24_bgwrite *w)
{
    double t0 = s24_now();
    int rc = w->prep ? w->prep(w->prep_ctx, w->st) : S24_OK;
    if (rc == S24_OK) rc = s24_st_write(w->st_path, w->st);
    if (rc == S24_OK && w->txt_path) rc = s24_write_file_atomic(w->txt_path, w->txt, w->txt_len);
    w->rc = rc;
    snprintf(w->err, sizeof w->err, "%s", rc == S24_OK ? "" : s24_last_error());
    w->total_s += s24_now() - t0;
    w->writes++;
}

static void *thread_main(void *arg)
{
    write_all(arg);
    return NULL;
}

/* What a write held, freed (after it ran or when it could not start); the
 * snapshot goes back to the caller. */
static void release(struct s24_bgwrite *w)
{
    w->st = NULL;
    w->prep = NULL;
    w->prep_ctx = NULL;
    free(w->st_path);
    free(w->txt_path);
    free(w->txt);
    w->st_path = w->txt_path = w->txt = NULL;
    w->txt_len = 0;
}

int s24_bgwrite_join(struct s24_bgwrite *w)
{
    if (w->busy) {
        pthread_join(w->th, NULL);
        w->busy = 0;
        release(w);
    }
    int rc = w->rc;
    w->rc = S24_OK; /* reported once */
    return rc == S24_OK ? S24_OK : s24_error(rc, "%s", w->err);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

int s24_bgwrite_holds(const struct s24_bgwrite *w, const struct s24_st *st)
{
    return w->busy && w->st == st;
}

int s24_bgwrite_start(struct s24_bgwrite *w, const char *st_path, struct s24_st *st,
                      int (*prep)(void *ctx, struct s24_st *st), void *prep_ctx,
                      const char *txt_path, const void *txt, size_t len)
{
    int rc = s24_bgwrite_join(w);
    if (rc != S24_OK) return rc;
    w->st = st; /* lent until the join */
    w->prep = prep;
    w->prep_ctx = prep_ctx;
    w->st_path = dup_str(st_path);
    w->txt_path = txt_path ? dup_str(txt_path) : NULL;
    w->txt = malloc(len ? len : 1);
    if (!w->st_path || (txt_path && !w->txt_path) || !w->txt) {
        release(w);
        return s24_error(S24_ERR_NOMEM, "%s: out of memory for the background write", st_path);
    }
    if (len) memcpy(w->txt, txt, len);
    w->txt_len = len;
    if (!w->sync && pthread_create(&w->th, NULL, thread_main, w) == 0) {
        w->busy = 1;
        return S24_OK;
    }
    /* asked for, or no thread to be had: the write is done here and now */
    write_all(w);
    release(w);
    return s24_bgwrite_join(w);
}
