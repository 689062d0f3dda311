/* infer_q8.c: the numbers of int8 inference, written once for the GPU plan
 * (src/cuda/infer_cuda.cu, which runs them) and the CPU plan's simulation
 * of it (src/cpu/infer_cpu.c, the GPU's reference in the tests): symmetric
 * quantisation to -127..127 (no -128, so a value and its negation quantise
 * alike), a scale per output channel of the folded weight (its largest
 * magnitude / 127: the weights of one channel share a range, channels do
 * not) and one per layer input (the largest magnitude over the calibration
 * images / 127). Max-abs rather than a percentile: it clips nothing, takes
 * one pass and no histogram (cheap on the device), is the same whatever
 * the order the images come in, and a per-channel weight scale already
 * absorbs the folded norms' spread; a percentile is the next step where a
 * network's accuracy does not hold. No kernels here, no rounding modes
 * other than round half to even. */
#include "nn/infer_internal.h"

#include <math.h>

int s24_q8_layer_ok(int is24, int64_t oc, int64_t k)
{
    return is24 && oc > 0 && k > 0 && oc % S24_Q8_MULT == 0 && k % S24_Q8_MULT == 0;
}

int s24_q8_quant(float x, float inv)
{
    float v = rintf(x * inv);
    if (!(v >= -S24_Q8_MAX)) return v != v ? 0 : -S24_Q8_MAX; /* NaN: 0, as the GPU's cvt */
    return v > S24_Q8_MAX ? S24_Q8_MAX : (int)v;
}

float s24_q8_act_scale(float amax)
{
    if (!(amax > 0.0f) || isinf(amax)) return 1.0f;
    return amax / (float)S24_Q8_MAX;
}

float s24_q8_inv(float scale) { return 1.0f / scale; }

float s24_q8_absmax(const float *x, int64_t n)
{
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a != a) return INFINITY;
        if (a > m) m = a;
    }
    return m;
}

void s24_q8_weight(const float *w, int64_t oc, int64_t row, signed char *q, float *scale)
{
    for (int64_t o = 0; o < oc; o++) {
        const float *r = w + o * row;
        float a = s24_q8_absmax(r, row);
        scale[o] = a > 0.0f && !isinf(a) ? a / (float)S24_Q8_MAX : 1.0f;
        float inv = s24_q8_inv(scale[o]);
        for (int64_t j = 0; q && j < row; j++)
            q[o * row + j] = (signed char)s24_q8_quant(r[j], inv);
    }
}
