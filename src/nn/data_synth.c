/* data_synth.c: the built-in synthetic 10-class image set, so that training,
 * tests and the demo run with no download. Each image is one procedurally
 * drawn figure (disc, square, triangle, ring, plus, three stripe directions,
 * checkerboard, diagonal cross) at a random position, size and small rotation,
 * in a random colour over a random background, at a random contrast, with
 * Gaussian pixel noise. Low-contrast, noisy images are genuinely ambiguous, so
 * a small CNN learns the set well but not perfectly: dense and 2:4 training
 * then differ measurably. Image i depends only on (seed, split, i), so any
 * subset is reproducible and generation is threaded. It does not imitate
 * CIFAR-10's statistics beyond being RGB bytes. */
#include "sparse24/sparse24_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const class_names[10] = {"disc",  "square", "triangle", "ring",
                                            "plus",  "hstripes", "vstripes", "dstripes",
                                            "checker", "cross"};

const char *s24_synth_class_name(int label)
{
    return label >= 0 && label < 10 ? class_names[label] : "?";
}

void s24_synth_default(struct s24_synth_cfg *c)
{
    c->size = 32;
    c->n_train = 10000;
    c->n_test = 2000;
    c->seed = 7;
    c->noise = 16.0f;
}

/* 1 where figure `k` covers the point (u, v) of its own frame (unit radius). */
static int figure(int k, double u, double v)
{
    double au = fabs(u), av = fabs(v), r2 = u * u + v * v;
    int in_box = au < 0.9 && av < 0.9;
    switch (k) {
    case 0: return r2 < 0.81;
    case 1: return au < 0.72 && av < 0.72;
    case 2: return v > -0.8 && v < 0.8 && au < 0.45 * (0.8 - v) + 0.02; /* apex at the top */
    case 3: return r2 < 0.9 && r2 > 0.3;
    case 4: return (au < 0.28 && av < 0.9) || (av < 0.28 && au < 0.9);
    case 5: return in_box && ((int)floor((v + 0.9) * 1.7) % 2 == 0);
    case 6: return in_box && ((int)floor((u + 0.9) * 1.7) % 2 == 0);
    case 7: return in_box && ((int)floor((u + v + 1.8) * 1.2) % 2 == 0);
    case 8: return in_box && (((int)floor((u + 0.9) * 1.4) + (int)floor((v + 0.9) * 1.4)) % 2 == 0);
    case 9: return fabs(au - av) < 0.25 && au < 0.9;
    }
    return 0;
}

static void draw_one(const struct s24_synth_cfg *c, int train, int64_t i, uint8_t *img,
                     uint8_t *label)
{
    struct s24_rng r;
    /* one independent stream per image */
    s24_rng_seed(&r, c->seed * 0x9e3779b97f4a7c15ull ^ ((uint64_t)i * 2 + (train ? 0 : 1)));
    int k = (int)(i % 10), s = c->size;
    *label = (uint8_t)k;
    double rad = s * s24_rng_uniformf(&r, 0.30f, 0.45f);
    double cx = s24_rng_uniformf(&r, (float)(rad * 0.8), (float)(s - rad * 0.8));
    double cy = s24_rng_uniformf(&r, (float)(rad * 0.8), (float)(s - rad * 0.8));
    double ang = s24_rng_uniformf(&r, -0.3f, 0.3f), ca = cos(ang), sa = sin(ang);
    /* about one image in seven is faint (often lost in the noise): the set's ceiling */
    double contrast = s24_rng_uniform(&r) < 0.15 ? s24_rng_uniformf(&r, 0.04f, 0.25f)
                                                : s24_rng_uniformf(&r, 0.5f, 1.0f);
    float bg[3], fg[3];
    for (int ch = 0; ch < 3; ch++) bg[ch] = s24_rng_uniformf(&r, 0.0f, 255.0f);
    for (int ch = 0; ch < 3; ch++) fg[ch] = s24_rng_uniformf(&r, 0.0f, 255.0f);
    /* keep figure and ground apart (push fg away from bg in grey level) */
    double dl = (fg[0] + fg[1] + fg[2] - bg[0] - bg[1] - bg[2]) / 3.0;
    double push = (dl >= 0 ? 1 : -1) * (90.0 - fabs(dl));
    if (fabs(dl) < 90.0)
        for (int ch = 0; ch < 3; ch++) fg[ch] += (float)push;
    /* a soft background gradient as a distractor */
    double gx = s24_rng_uniformf(&r, -40.0f, 40.0f) / s,
           gy = s24_rng_uniformf(&r, -40.0f, 40.0f) / s;
    for (int y = 0; y < s; y++)
        for (int x = 0; x < s; x++) {
            double dx = (x + 0.5 - cx) / rad, dy = (y + 0.5 - cy) / rad;
            double u = ca * dx + sa * dy, v = -sa * dx + ca * dy;
            int on = figure(k, u, v);
            for (int ch = 0; ch < 3; ch++) {
                double b = bg[ch] + gx * (x - s / 2.0) + gy * (y - s / 2.0);
                double val = on ? b + contrast * (fg[ch] - b) : b;
                val += c->noise * s24_rng_normal(&r);
                val = val < 0 ? 0 : val > 255 ? 255 : val;
                img[((size_t)y * s + x) * 3 + ch] = (uint8_t)lrint(val);
            }
        }
}

int s24_synth_make(const struct s24_synth_cfg *c, int train, struct s24_dataset *out)
{
    s24_dataset_init(out);
    int64_t n = train ? c->n_train : c->n_test;
    if (c->size < 8 || c->size > 64)
        return s24_error(S24_ERR_INVALID, "synthetic data: image size %d outside 8..64", c->size);
    if (n <= 0 || n > ((int64_t)1 << 26))
        return s24_error(S24_ERR_INVALID, "synthetic data: %lld images requested", (long long)n);
    if (!(c->noise >= 0 && c->noise <= 255))
        return s24_error(S24_ERR_INVALID, "synthetic data: noise %g outside 0..255", c->noise);
    size_t per = (size_t)c->size * (size_t)c->size * 3;
    out->images = malloc(per * (size_t)n);
    out->labels = malloc((size_t)n);
    if (!out->images || !out->labels) {
        s24_dataset_free(out);
        return s24_error(S24_ERR_NOMEM, "synthetic data: out of memory for %lld images",
                         (long long)n);
    }
#pragma omp parallel for schedule(static) num_threads(s24_threads_get())
    for (int64_t i = 0; i < n; i++)
        draw_one(c, train, i, out->images + per * (size_t)i, &out->labels[i]);
    out->n = n;
    out->h = out->w = c->size;
    out->classes = 10;
    return S24_OK;
}
