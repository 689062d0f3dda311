/* infer_fold.c: the batch-norm folding both inference plans (the CPU's in
 * infer.c, the GPU's in src/cuda/infer_cuda.cu) build their layers from,
 * written once so the two cannot fold differently: a conv whose only reader
 * is the batch norm right after it gets that norm's affine map folded into
 * its weights and bias, and the folded weight is checked for 2:4 along its
 * input channels. It reads the model's host copies and changes nothing. */
#include "nn/infer_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int s24_fold_sole_reader(const struct s24_model *m, int s)
{
    int r = -1, n = 0;
    for (int j = 0; j < m->nn; j++)
        if (m->nodes[j].in == s || m->nodes[j].in2 == s) r = j, n++;
    return n == 1 ? r : -1;
}

static void fold_bn(const struct s24_model *m, const struct s24_node *bn, struct s24_fold *f)
{
    const float *g = m->params[bn->pw].data, *be = m->params[bn->pb].data;
    const float *mu = m->params[bn->prm].data, *var = m->params[bn->prv].data;
    for (int64_t o = 0; o < f->oc; o++) {
        double sc = (double)g[o] / sqrt((double)var[o] + (double)bn->eps);
        /* +0.0 for zero products: see s24_fold_layer */
        for (int64_t k = 0; k < f->row; k++) {
            float v = (float)(f->w[o * f->row + k] * sc);
            f->w[o * f->row + k] = v == 0.0f ? 0.0f : v;
        }
        f->b[o] = (float)(((double)f->b[o] - mu[o]) * sc + be[o]);
    }
}

int s24_fold_layer(const struct s24_model *m, int i, struct s24_fold *f)
{
    const struct s24_node *nd = &m->nodes[i];
    memset(f, 0, sizeof *f);
    f->node = i, f->out = nd->out, f->bn = -1, f->why = "";
    if (nd->op != S24_N_CONV && nd->op != S24_N_LINEAR)
        return s24_error(S24_ERR_INVALID, "infer: node %d is not a conv or linear layer", i);
    const struct s24_param *w = &m->params[nd->pw];
    f->oc = nd->oc, f->row = w->numel / nd->oc;
    f->w = malloc(sizeof(float) * (size_t)w->numel);
    f->b = calloc((size_t)f->oc, sizeof(float));
    if (!f->w || !f->b) {
        s24_fold_free(f);
        return s24_error(S24_ERR_NOMEM, "infer: out of memory folding %s", w->name);
    }
    memcpy(f->w, w->data, sizeof(float) * (size_t)w->numel);
    if (nd->pb >= 0) memcpy(f->b, m->params[nd->pb].data, sizeof(float) * (size_t)f->oc);
    int j = s24_fold_sole_reader(m, nd->out);
    if (nd->op == S24_N_CONV && j == i + 1 && m->nodes[j].op == S24_N_BN) {
        fold_bn(m, &m->nodes[j], f);
        f->out = m->nodes[j].out;
        f->bn = j;
    }
    struct s24_view v = {f->oc, f->row, 1};
    if (nd->groups != 1) f->why = "grouped or depthwise";
    else if (f->row % 4) f->why = "input channels not a multiple of 4";
    else if (s24_mask_check(S24_F32, f->w, v, 2, 4, NULL) != S24_OK) f->why = "not 2:4";
    s24_clear_error(); /* a weight that is not 2:4 is a finding here, not a failure */
    f->is24 = !*f->why;
    return S24_OK;
}

void s24_fold_free(struct s24_fold *f)
{
    if (!f) return;
    free(f->w), free(f->b);
    f->w = f->b = NULL;
}
