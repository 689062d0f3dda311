/* batch.c: turns dataset images into a normalised NHWC float batch, with the
 * CIFAR augmentation of the paper's code (torchvision RandomCrop(32,
 * padding=4) with zero padding, then RandomHorizontalFlip(0.5), then
 * ToTensor and Normalize), and the per-epoch shuffle. All random draws are made
 * in a fixed order from one seeded generator before the (threaded) copy, so a
 * batch depends only on the generator state, never on the thread count. */
#include "sparse24/sparse24_train.h"

#include <stdlib.h>

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

int s24_batch_fill(const struct s24_dataset *d, const int64_t *idx, int n,
                   const struct s24_augment *aug, struct s24_rng *r, float *x, int *labels)
{
    int pad = aug ? aug->pad : 0, flip = aug ? aug->flip : 0;
    if (n <= 0 || pad < 0 || pad > d->h || pad > d->w)
        return s24_error(S24_ERR_INVALID, "batch: bad size %d or padding %d", n, pad);
    if ((pad || flip) && !r) return s24_error(S24_ERR_INVALID, "batch: augmentation needs a generator");
    for (int b = 0; b < n; b++)
        if (idx[b] < 0 || idx[b] >= d->n)
            return s24_error(S24_ERR_INVALID, "batch: image index %lld out of range (%lld images)",
                             (long long)idx[b], (long long)d->n);
    /* draws: (n, 3) = dy, dx, flip; taken in order so threads cannot change them */
    int *draw = malloc(sizeof(int) * 3 * (size_t)n);
    if (!draw) return s24_error(S24_ERR_NOMEM, "batch: out of memory");
    for (int b = 0; b < n; b++) {
        draw[3 * b] = pad ? (int)s24_rng_below(r, (uint64_t)(2 * pad + 1)) : pad;
        draw[3 * b + 1] = pad ? (int)s24_rng_below(r, (uint64_t)(2 * pad + 1)) : pad;
        draw[3 * b + 2] = flip ? (s24_rng_uniform(r) < 0.5) : 0;
    }
    const int h = d->h, w = d->w;
    /* the value of a zero (padding) pixel after normalisation */
    float zero[3];
    for (int c = 0; c < 3; c++) zero[c] = (0.0f - s24_cifar_mean[c]) / s24_cifar_std[c];
#pragma omp parallel for schedule(static) num_threads(s24_threads_get())
    for (int b = 0; b < n; b++) {
        const uint8_t *src = d->images + (size_t)idx[b] * (size_t)h * (size_t)w * 3;
        float *dst = x + (size_t)b * (size_t)h * (size_t)w * 3; /* (h, w, 3) */
        int oy = draw[3 * b] - pad, ox = draw[3 * b + 1] - pad, fl = draw[3 * b + 2];
        for (int y = 0; y < h; y++) {
            int sy = y + oy;
            for (int xx = 0; xx < w; xx++) {
                /* flip after crop: output column xx reads cropped column w-1-xx */
                int sx = (fl ? w - 1 - xx : xx) + ox;
                float *o = dst + ((size_t)y * w + xx) * 3;
                if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
                    for (int c = 0; c < 3; c++) o[c] = zero[c];
                } else {
                    const uint8_t *s = src + ((size_t)sy * w + sx) * 3;
                    /* as ToTensor then Normalize: (v/255 - mean)/std in float */
                    for (int c = 0; c < 3; c++)
                        o[c] = ((float)s[c] / 255.0f - s24_cifar_mean[c]) / s24_cifar_std[c];
                }
            }
        }
        labels[b] = d->labels[idx[b]];
    }
    free(draw);
    return S24_OK;
}
