/* t_weights.h: copies of a model's trained parameters and their comparison,
 * shared by the data-parallel tests (test_comm_dp.c, test_train_dp.c).
 * Include after t.h and sparse24_nn.h. */
#ifndef S24_T_WEIGHTS_H
#define S24_T_WEIGHTS_H

#define T_WEIGHTS_MAX 64

/* Trained parameters of a model (buffers left out), one copy per tensor. */
struct weights {
    int n; /* tensors */
    int64_t len[T_WEIGHTS_MAX];
    float *w[T_WEIGHTS_MAX];
};

static inline void weights_take(struct weights *out, s24_model_t *m)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < s24_model_num_params(m) && out->n < T_WEIGHTS_MAX; i++) {
        struct s24_param *p = s24_model_param(m, i);
        if (p->is_buffer) continue;
        out->len[out->n] = p->numel;
        out->w[out->n] = malloc(sizeof(float) * (size_t)p->numel);
        memcpy(out->w[out->n], p->data, sizeof(float) * (size_t)p->numel);
        out->n++;
    }
}

static inline void weights_free(struct weights *w)
{
    for (int i = 0; i < w->n; i++)
        free(w->w[i]);
    memset(w, 0, sizeof *w);
}

/* Over tensors t of ||a_t - ref_t|| / ||ref_t||: the largest (INFINITY when
 * the tensor lists differ or are empty), and the smallest in *least (may be
 * NULL). */
static inline double rel_diff2(const struct weights *a, const struct weights *ref, double *least)
{
    double worst = 0, best = INFINITY;
    for (int t = 0; t < ref->n && t < a->n; t++) {
        double d = 0, r = 0;
        for (int64_t i = 0; i < ref->len[t]; i++) {
            double e = (double)a->w[t][i] - ref->w[t][i];
            d += e * e;
            r += (double)ref->w[t][i] * ref->w[t][i];
        }
        double q = sqrt(d) / (sqrt(r) + 1e-30);
        worst = fmax(worst, q);
        best = fmin(best, q);
    }
    if (least) *least = best;
    return a->n == ref->n && a->n > 0 ? worst : INFINITY;
}

static inline double rel_diff(const struct weights *a, const struct weights *ref)
{
    return rel_diff2(a, ref, NULL);
}

static inline int same_bits(const struct weights *a, const struct weights *b)
{
    if (a->n != b->n) return 0;
    for (int t = 0; t < a->n; t++)
        if (memcmp(a->w[t], b->w[t], sizeof(float) * (size_t)a->len[t])) return 0;
    return 1;
}

#endif
