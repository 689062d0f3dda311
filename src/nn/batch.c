/* batch.c: turns dataset images into a normalised NHWC float batch, with the
 * CIFAR augmentation of the paper's code (torchvision RandomCrop(32,
 * padding=4) with zero padding, then RandomHorizontalFlip(0.5), then
 * ToTensor and Normalize), and the per-epoch shuffle. All random draws are made
 * in a fixed order from one seeded generator (s24_batch_draw) before a
 * backend's kernel builds the batch, so a batch depends only on the generator
 * state, never on the thread count or the backend. */
#include "sparse24/sparse24_train.h"

#include <stdint.h>
#include <stdlib.h>

#include "cpu/cpu_nn.h"

const float s24_cifar_mean[3] = {0.4914f, 0.4822f, 0.4465f};
const float s24_cifar_std[3] = {0.2023f, 0.1994f, 0.2010f};

void s24_shuffle(int64_t *idx, int64_t n, struct s24_rng *r)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)s24_rng_below(r, (uint64_t)i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

int s24_batch_draw(const struct s24_dataset *d, const int64_t *idx, int n,
                   const struct s24_augment *aug, struct s24_rng *r, int32_t *draws)
{
    int pad = aug ? aug->pad : 0, flip = aug ? aug->flip : 0;
    if (n <= 0 || pad < 0 || pad > d->h || pad > d->w)
        return s24_error(S24_ERR_INVALID, "batch: bad size %d or padding %d", n, pad);
    if ((pad || flip) && !r)
        return s24_error(S24_ERR_INVALID, "batch: augmentation needs a generator");
    if (d->n > INT32_MAX)
        return s24_error(S24_ERR_INVALID, "batch: %lld images is too many", (long long)d->n);
    for (int b = 0; b < n; b++)
        if (idx[b] < 0 || idx[b] >= d->n)
            return s24_error(S24_ERR_INVALID, "batch: image index %lld out of range (%lld images)",
                             (long long)idx[b], (long long)d->n);
    /* per image in order: dy, dx, then flip (the CPU path's order since session 1) */
    for (int b = 0; b < n; b++) {
        draws[4 * b] = (int32_t)idx[b];
        draws[4 * b + 1] = pad ? (int32_t)s24_rng_below(r, (uint64_t)(2 * pad + 1)) : pad;
        draws[4 * b + 2] = pad ? (int32_t)s24_rng_below(r, (uint64_t)(2 * pad + 1)) : pad;
        draws[4 * b + 3] = flip ? (s24_rng_uniform(r) < 0.5) : 0;
    }
    return S24_OK;
}

int s24_batch_fill(const struct s24_dataset *d, const int64_t *idx, int n,
                   const struct s24_augment *aug, struct s24_rng *r, float *x, int *labels)
{
    int32_t *draws = malloc(sizeof(int32_t) * 4 * (size_t)(n > 0 ? n : 1)); /* (n, 4) */
    if (!draws) return s24_error(S24_ERR_NOMEM, "batch: out of memory");
    int rc = s24_batch_draw(d, idx, n, aug, r, draws);
    if (rc == S24_OK) {
        struct s24_batch_args a = {d->images, d->labels, d->n, d->h, d->w, aug ? aug->pad : 0,
                                   n, draws, x, (int32_t *)labels};
        s24_cpu_batch(&a);
    }
    free(draws);
    return rc;
}
