/* loss.c: the reference mean softmax cross-entropy over a batch of logits, its gradient
 * and the count of correct argmax predictions. Log-sum-exp is shifted by the
 * row maximum and summed in fp64. A label out of range makes the loss NaN
 * (the caller validated labels; NaN makes a slip visible, never a crash). */
#include <math.h>

#include "sparse24/sparse24_nn.h"

float s24_softmax_xent(const float *logits, const int *labels, int n, int classes,
                       float *dlogits, int *correct)
{
    double total = 0;
    int hits = 0;
    if (n <= 0 || classes <= 0) {
        if (correct) *correct = 0;
        return 0.0f;
    }
    for (int i = 0; i < n; i++) {
        const float *z = logits + (int64_t)i * classes;
        int y = labels[i], arg = 0;
        float mx = z[0];
        for (int j = 1; j < classes; j++)
            if (z[j] > mx) mx = z[j], arg = j;
        double se = 0;
        for (int j = 0; j < classes; j++) se += exp((double)z[j] - mx);
        double lse = log(se) + mx;
        if (y < 0 || y >= classes) {
            total = NAN;
        } else {
            total += lse - z[y];
            if (arg == y) hits++;
        }
        if (dlogits) {
            float *d = dlogits + (int64_t)i * classes;
            for (int j = 0; j < classes; j++) {
                double p = exp((double)z[j] - lse);
                d[j] = (float)((p - (j == y ? 1.0 : 0.0)) / n);
            }
        }
    }
    if (correct) *correct = hits;
    return (float)(total / n);
}
