/* infer.c: the public inference calls (sparse24_infer.h): the options are
 * checked here, once, and the plan made for the model's backend, the CPU's
 * (src/cpu/infer_cpu.c, fp32, or int8 simulated in fp32) or the GPU's
 * (src/cuda/infer_cuda.cu, fp16, bf16 or int8); every other call forwards
 * to the plan behind the handle. What both plans share (the batch-norm
 * folding, AUTO's rule, int8's numbers) is in src/nn/infer_fold.c,
 * infer_choice.c and infer_q8.c. */
#include "sparse24/sparse24_infer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/infer_internal.h"
#include "nn/model.h"

/* One of the two is set: the plan of the model's backend. */
struct s24_infer {
    struct s24_infer_cpu *cpu;
    struct s24_infer_cu *cu;
};

void s24_infer_opts_init(struct s24_infer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->path = S24_INFER_AUTO;
}

int s24_infer_create(s24_model_t *m, int path, s24_infer_t **out)
{
    struct s24_infer_opts o;
    s24_infer_opts_init(&o);
    o.path = path;
    return s24_infer_create2(m, &o, out);
}

int s24_infer_create2(s24_model_t *m, const struct s24_infer_opts *o, s24_infer_t **out)
{
    if (out) *out = NULL;
    if (!m || !o || !out) return s24_error(S24_ERR_INVALID, "infer_create: bad arguments");
    int path = o->path;
    if (path != S24_INFER_DENSE && path != S24_INFER_SPARSE && path != S24_INFER_AUTO)
        return s24_error(S24_ERR_INVALID, "infer_create: unknown path %d", path);
    int gpu = s24_backend_device(m->be) == S24_DEVICE_CUDA;
    if (gpu && o->dtype && o->dtype != S24_F16 && o->dtype != S24_BF16 && o->dtype != S24_I8)
        return s24_error(S24_ERR_UNSUPPORTED, "infer_create: the GPU plan runs fp16, bf16 or "
                         "int8, not %s", s24_dtype_name((enum s24_dtype)o->dtype));
    if (!gpu && o->dtype && o->dtype != S24_F32 && o->dtype != S24_I8)
        return s24_error(S24_ERR_UNSUPPORTED, "infer_create: the CPU plan runs fp32 (or int8 "
                         "simulated in fp32) only, not %s (fp16 and bf16 need the GPU plan: a "
                         "model on a CUDA backend)", s24_dtype_name((enum s24_dtype)o->dtype));
    if (o->dtype == S24_I8) {
        /* the scales come from somewhere, checked once here for both plans */
        if (o->act_scales) {
            if (o->n_act_scales < 1)
                return s24_error(S24_ERR_INVALID, "infer_create: int8: %d activation scales",
                                 o->n_act_scales);
            for (int i = 0; i < o->n_act_scales; i++)
                if (!(o->act_scales[i] >= 0.0f) || isinf(o->act_scales[i]))
                    return s24_error(S24_ERR_INVALID, "infer_create: int8: activation scale %d "
                                     "is %g (>= 0 and finite: 0 runs that layer unquantised)",
                                     i, (double)o->act_scales[i]);
        } else if (!o->calib || o->calib_n < 1 || o->calib_h < 1 || o->calib_w < 1) {
            return s24_error(S24_ERR_INVALID, "infer_create: int8 needs calibration images "
                             "(calib, calib_n %d of %dx%d) or activation scales (act_scales)",
                             o->calib_n, o->calib_h, o->calib_w);
        }
    }
    struct s24_infer *p = calloc(1, sizeof *p);
    if (!p) return s24_error(S24_ERR_NOMEM, "infer: out of memory");
    int rc;
    if (gpu) {
        struct s24_infer_opts g = *o;
        if (!g.dtype) g.dtype = S24_F16;
        rc = s24_infer_cu_create(m, &g, &p->cu);
    } else {
        rc = s24_infer_cpu_create(m, o, &p->cpu);
    }
    if (rc != S24_OK) {
        free(p);
        return rc;
    }
    *out = p;
    return S24_OK;
}

void s24_infer_free(s24_infer_t *p)
{
    if (!p) return;
    if (p->cu) s24_infer_cu_free(p->cu);
    s24_infer_cpu_free(p->cpu);
    free(p);
}

int s24_infer_num_layers(const s24_infer_t *p)
{
    return !p ? 0 : p->cu ? s24_infer_cu_num_layers(p->cu) : s24_infer_cpu_num_layers(p->cpu);
}

const struct s24_infer_layer *s24_infer_layer_at(const s24_infer_t *p, int i)
{
    if (!p) return NULL;
    return p->cu ? s24_infer_cu_layer_at(p->cu, i) : s24_infer_cpu_layer_at(p->cpu, i);
}

struct s24_infer_cu *s24_infer_cuda_of(s24_infer_t *p) { return p ? p->cu : NULL; }

void s24_infer_set_profile(s24_infer_t *p, int on)
{
    /* the CPU plan reads the clock around every layer anyway */
    if (p && p->cu) s24_infer_cu_set_profile(p->cu, on);
}

int s24_infer_run_be(s24_infer_t *p, const float *x, int n, int h, int w, float *logits)
{
    if (p && p->cu) {
        if (!x || !logits || n < 1 || h < 1 || w < 1)
            return s24_error(S24_ERR_INVALID, "infer_run: bad arguments (n %d, %dx%d)", n, h, w);
        return s24_infer_cu_run(p->cu, x, n, h, w, logits, 1);
    }
    return s24_infer_run(p, x, n, h, w, logits); /* the CPU backend's memory is the host's */
}

int s24_infer_run(s24_infer_t *p, const float *x, int n, int h, int w, float *logits)
{
    if (!p || !x || !logits || n < 1 || h < 1 || w < 1)
        return s24_error(S24_ERR_INVALID, "infer_run: bad arguments (n %d, %dx%d)", n, h, w);
    if (p->cu) return s24_infer_cu_run(p->cu, x, n, h, w, logits, 0);
    return s24_infer_cpu_run(p->cpu, x, n, h, w, logits);
}
