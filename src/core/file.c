/* file.c: whole-file reads and atomic writes. Every file the library writes
 * goes through s24_write_file_atomic (or the same temp-then-rename scheme), so
 * an error or a kill never leaves a half-written output behind. */
#define _POSIX_C_SOURCE 200809L
#include "sparse24/sparse24.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int s24_write_file_atomic(const char *path, const void *data, size_t len)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) return s24_error(S24_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = errno;
        free(tmp);
        return s24_error(S24_ERR_IO, "%s: cannot create: %s", path, strerror(e));
    }
    int ok = (len == 0 || fwrite(data, 1, len, f) == len);
    ok = (fflush(f) == 0) && ok;
    ok = (fsync(fileno(f)) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        free(tmp);
        return s24_error(S24_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    free(tmp);
    return S24_OK;
}

int s24_read_file(const char *path, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return s24_error(S24_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) goto io;
    long sz = ftell(f);
    if (sz < 0 || fseek(f, 0, SEEK_SET) != 0) goto io;
    uint8_t *buf = malloc(sz > 0 ? (size_t)sz : 1);
    if (!buf) {
        fclose(f);
        return s24_error(S24_ERR_NOMEM, "%s: out of memory reading %ld bytes", path, sz);
    }
    if (sz > 0 && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
        free(buf);
        goto io;
    }
    fclose(f);
    *data = buf;
    *len = (size_t)sz;
    return S24_OK;
io:
    fclose(f);
    return s24_error(S24_ERR_IO, "%s: read failed: %s", path, strerror(errno));
}
