/* logits.h: what the GPU inference tests share for comparing a plan's
 * logits with a reference's: the rms error, the argmax with its margin,
 * the share of images whose argmax agrees (near ties forgiven) and the
 * names of the paths. Header-only, static functions. */
#ifndef S24_TEST_LOGITS_H
#define S24_TEST_LOGITS_H

#include <math.h>
#include <stdint.h>

#include "sparse24/sparse24_infer.h"

static inline double rms_err(const float *a, const float *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return n ? sqrt(s / (double)n) : 0;
}

static inline int argmax(const float *y, int c, float *margin)
{
    int b = 0, s = -1;
    for (int j = 1; j < c; j++)
        if (y[j] > y[b]) b = j;
    for (int j = 0; j < c; j++)
        if (j != b && (s < 0 || y[j] > y[s])) s = j;
    if (margin) *margin = y[b] - y[s];
    return b;
}

/* Share of images whose argmax agrees, forgiving those whose reference
 * margin is below `tie` (a near tie flips on any rounding); *raw (if
 * given) counts every agreeing image. */
static inline double agree(const float *y, const float *ref, int n, int c, double tie, int *raw)
{
    int ok = 0, counted = 0;
    if (raw) *raw = 0;
    for (int i = 0; i < n; i++) {
        float mg;
        int same = argmax(y + i * c, c, NULL) == argmax(ref + i * c, c, &mg);
        if (raw) *raw += same;
        if (mg < tie) continue;
        counted++, ok += same;
    }
    return counted ? (double)ok / counted : 1.0;
}

static inline const char *path_name(int p)
{
    return p == S24_INFER_DENSE ? "dense" : p == S24_INFER_SPARSE ? "2:4" : "auto";
}

#endif
