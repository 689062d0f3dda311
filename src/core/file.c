/* file.c: whole-file reads, and whole-file writes through the output-file
 * layer (outfile.c: temporary file, fsync, rename), so an error or a kill
 * never leaves a half-written output behind. */
#define _POSIX_C_SOURCE 200809L
#include "sparse24/sparse24.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int s24_write_file_atomic(const char *path, const void *data, size_t len)
{
    s24_outfile_t f;
    int rc = s24_outfile_open(&f, path, 0);
    if (rc != S24_OK) return rc;
    if ((rc = s24_outfile_write(f, data, len)) != S24_OK) {
        s24_outfile_abort(f);
        return rc;
    }
    return s24_outfile_commit(f);
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
