/* data_cifar.c: the CIFAR-10 reader for the official binary format
 * (data_batch_1..5.bin, test_batch.bin: records of 1 label byte followed by
 * 1024 red, 1024 green and 1024 blue bytes of a 32x32 image) and the small
 * dataset container. Images are converted to HWC bytes once at load time so
 * that batches are plain copies; normalisation and augmentation are in batch.c.
 * It does not read the Python pickle version or download anything. */
#include "sparse24/sparse24_train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CIFAR_SIDE 32
#define CIFAR_PIXELS (CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_RECORD (1 + 3 * CIFAR_PIXELS)

void s24_dataset_init(struct s24_dataset *d)
{
    memset(d, 0, sizeof *d);
}

void s24_dataset_free(struct s24_dataset *d)
{
    free(d->images);
    free(d->labels);
    s24_dataset_init(d);
}

void s24_dataset_truncate(struct s24_dataset *d, int64_t n)
{
    if (n >= 0 && n < d->n) d->n = n;
}

int s24_cifar10_read_file(const char *path, struct s24_dataset *out)
{
    uint8_t *buf = NULL, *img = NULL, *lab = NULL;
    size_t len = 0;
    int rc = s24_read_file(path, &buf, &len);
    if (rc != S24_OK) return rc;
    if (len == 0 || len % CIFAR_RECORD != 0) {
        rc = s24_error(S24_ERR_FORMAT,
                       "%s: not a CIFAR-10 binary file: size %zu is not a positive multiple "
                       "of the %d-byte record (1 label + 3x32x32 pixels)",
                       path, len, CIFAR_RECORD);
        goto fail;
    }
    if (out->n > 0 && (out->h != CIFAR_SIDE || out->w != CIFAR_SIDE || out->classes != 10)) {
        rc = s24_error(S24_ERR_INVALID, "%s: cannot append CIFAR-10 images to a %dx%d dataset",
                       path, out->h, out->w);
        goto fail;
    }
    int64_t add = (int64_t)(len / CIFAR_RECORD), old = out->n;
    for (int64_t i = 0; i < add; i++) {
        uint8_t l = buf[(size_t)i * CIFAR_RECORD];
        if (l > 9) {
            rc = s24_error(S24_ERR_FORMAT, "%s: record %lld has label %u (must be 0..9)", path,
                           (long long)i, l);
            goto fail;
        }
    }
    img = realloc(out->images, (size_t)(old + add) * CIFAR_PIXELS * 3);
    if (!img) {
        rc = s24_error(S24_ERR_NOMEM, "%s: out of memory for %lld images", path,
                       (long long)(old + add));
        goto fail;
    }
    out->images = img;
    lab = realloc(out->labels, (size_t)(old + add));
    if (!lab) { rc = s24_error(S24_ERR_NOMEM, "%s: out of memory", path); goto fail; }
    out->labels = lab;
    for (int64_t i = 0; i < add; i++) {
        const uint8_t *rec = buf + (size_t)i * CIFAR_RECORD;
        uint8_t *dst = out->images + (size_t)(old + i) * CIFAR_PIXELS * 3; /* (32, 32, 3) */
        out->labels[old + i] = rec[0];
        for (int p = 0; p < CIFAR_PIXELS; p++)
            for (int ch = 0; ch < 3; ch++) dst[p * 3 + ch] = rec[1 + ch * CIFAR_PIXELS + p];
    }
    out->n = old + add;
    out->h = out->w = CIFAR_SIDE;
    out->classes = 10;
    rc = S24_OK;
fail:
    free(buf);
    return rc;
}

int s24_cifar10_load(const char *dir, int train, struct s24_dataset *out)
{
    static const char *train_files[] = {"data_batch_1.bin", "data_batch_2.bin",
                                        "data_batch_3.bin", "data_batch_4.bin",
                                        "data_batch_5.bin"};
    static const char *test_files[] = {"test_batch.bin"};
    const char **files = train ? train_files : test_files;
    int nf = train ? 5 : 1;
    char path[4096];
    int rc = S24_OK;
    s24_dataset_init(out);
    for (int i = 0; i < nf; i++) {
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, files[i]) >= sizeof path) {
            rc = s24_error(S24_ERR_INVALID, "%s: path too long", dir);
            goto fail;
        }
        FILE *f = fopen(path, "rb");
        if (!f) {
            rc = s24_error(S24_ERR_NOT_FOUND,
                           "%s: missing CIFAR-10 file %s (expected the binary version: "
                           "data_batch_1..5.bin and test_batch.bin)",
                           dir, files[i]);
            goto fail;
        }
        fclose(f);
        rc = s24_cifar10_read_file(path, out);
        if (rc != S24_OK) goto fail;
    }
    return S24_OK;
fail:
    s24_dataset_free(out);
    return rc;
}
