/* fuzz_util.h: what the libFuzzer targets share: the entry point's
 * prototype, and a file holding the current input for readers that take a
 * path (an in-memory memfd, so no disk is touched between executions). */
#ifndef S24_FUZZ_UTIL_H
#define S24_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "/proc/self/fd/N" naming a file that holds exactly data[0..size). One
 * memfd per process, rewritten each call; NULL if the kernel refuses. */
static inline const char *fz_memfile(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("s24fuzz", 0);
        if (fd < 0) return NULL;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0) return NULL;
    for (size_t off = 0; off < size;) {
        ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);
        if (w <= 0) return NULL;
        off += (size_t)w;
    }
    return path;
}

/* data as a NUL-terminated string (the caller frees it); an embedded NUL
 * ends it early, as it would on a command line. */
static inline char *fz_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return NULL;
    if (size) memcpy(s, data, size);
    s[size] = 0;
    return s;
}

#endif
