/* nn_data.c: the CPU kernel of the batch augmentation (struct
 * s24_batch_args): random crop with zero padding, horizontal flip,
 * ToTensor and Normalize, from draws made beforehand on the host, so the
 * threads (and the GPU kernel) cannot change what a batch holds. */
#include "cpu/cpu_nn.h"

#include "sparse24/sparse24_train.h"

void s24_cpu_batch(const struct s24_batch_args *a)
{
    const int h = a->h, w = a->w, pad = a->pad;
    /* the value of a zero (padding) pixel after normalisation */
    float zero[3];
    for (int c = 0; c < 3; c++) zero[c] = (0.0f - s24_cifar_mean[c]) / s24_cifar_std[c];
#pragma omp parallel for schedule(static) num_threads(s24_threads_get())
    for (int b = 0; b < a->n; b++) {
        const int32_t *d = a->draws + 4 * b;
        const uint8_t *src = a->images + (size_t)d[0] * (size_t)h * (size_t)w * 3;
        float *dst = a->x + (size_t)b * (size_t)h * (size_t)w * 3; /* (h, w, 3) */
        int oy = d[1] - pad, ox = d[2] - pad, fl = d[3];
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
        a->y[b] = a->labels[d[0]];
    }
}
