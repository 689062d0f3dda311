/* infer_own.cu: the CUDA inference plan's 2:4 path for k x k and strided
 * convolutions on sparse24's own kernel, as an implicit GEMM
 * (s24_own_conv_*, own_spmma.cu): the input is read in place tap by tap,
 * where the cuSPARSELt route first writes and then reads an im2col buffer
 * of K x positions halves, which alone costs about what the whole dense
 * convolution does (docs/results/infer-h200.md). fp16 only (the kernel's
 * type), groups 1, and the kernel's tile rules (input channels % 64,
 * output channels % 128, positions % 128); elsewhere the caller keeps the
 * cuSPARSELt route. S24_INFER_OWN=0 turns it off. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/infer_cuda.h"

struct s24_icu_own {
    s24_own_plan_t *p;
    struct s24_conv_shape key; /* the shape p is for */
    int refused;               /* the kernel's rules refuse key: the caller's route */
};

void s24_icu_own_free(struct s24_icu_own *st)
{
    if (!st) return;
    s24_own_plan_free(st->p);
    free(st);
}

int s24_icu_own_wanted(void)
{
    const char *e = getenv("S24_INFER_OWN");
    return !(e && !strcmp(e, "0"));
}

int s24_icu_own_run(struct s24_icu_own **stp, int device, int cc_major, enum s24_dtype dt,
                    const char *layer, const struct s24_conv_shape *cs, const void *x,
                    const void *w, const float *b32, const void *z, int act, void *y,
                    cudaStream_t s, int *ran)
{
    int rc = S24_OK;
    struct s24_icu_own *st = *stp;
    *ran = 0;
    if (dt != S24_F16 || cs->groups != 1) return S24_OK;
    if (!st) {
        st = (struct s24_icu_own *)calloc(1, sizeof *st);
        if (!st) return s24_error(S24_ERR_NOMEM, "infer: layer %s: out of memory", layer);
        *stp = st;
    }
    if ((!st->p && !st->refused) || memcmp(&st->key, cs, sizeof *cs)) {
        struct s24_own_conv oc = {cs->n,  cs->h,  cs->w,      cs->c,  cs->oc,
                                  cs->kh, cs->kw, cs->stride, cs->pad};
        s24_own_plan_free(st->p);
        st->p = NULL, st->key = *cs, st->refused = 0;
        rc = s24_own_conv_init_at(device, cc_major, (void *)s, &oc, &st->p);
        if (rc == S24_ERR_UNSUPPORTED) {
            /* off the kernel's tiles at this shape: the caller's route */
            s24_clear_error();
            st->refused = 1;
            return S24_OK;
        }
        if (rc == S24_OK) rc = s24_own_plan_set_weight(st->p, w);
        if (rc != S24_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", s24_last_error());
            s24_own_plan_free(st->p);
            st->p = NULL;
            return s24_error(rc, "infer: layer %s: own 2:4 conv: %s", layer, msg);
        }
    }
    if (st->refused) return S24_OK;
    rc = s24_own_conv_run(st->p, x, y, b32, z, act == S24_ACT_RELU, s);
    /* other activations after the kernel's bias and residual */
    if (rc == S24_OK && act != S24_ACT_NONE && act != S24_ACT_RELU)
        rc = s24_icu_bias_act(dt, y, cs->n * cs->oh * cs->ow, cs->oc, NULL, NULL, act, s);
    if (rc == S24_OK) *ran = 1;
    return rc;
}
