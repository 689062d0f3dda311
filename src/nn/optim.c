/* optim.c: the SGD update as torch.optim.SGD computes it, and torch's
 * OneCycleLR schedule reproduced step by step (the paper's code steps it once
 * per batch). Pure arithmetic, no model: the per-model optimiser state and the
 * 2:4 masks around each step are in train.c. It does not implement other
 * optimisers or schedules. */
#include "sparse24/sparse24_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void s24_sgd_update(float *p, const float *g, float *buf, int64_t n, float lr, float mu, float wd)
{
    /* PyTorch: d_p = g + wd*p; buf = mu*buf + d_p; p = p - lr*buf, each in fp32.
     * Written as separate statements so no FMA contraction changes rounding. */
    for (int64_t i = 0; i < n; i++) {
        float wp = wd * p[i];
        float d = g[i] + wp;
        float mb = mu * buf[i];
        buf[i] = mb + d;
        float step = lr * buf[i];
        p[i] = p[i] - step;
    }
}

void s24_onecycle_paper(struct s24_onecycle *s, double max_lr, int epochs, int64_t steps_per_epoch)
{
    s->max_lr = max_lr;
    s->div_factor = 1e5;
    s->final_div_factor = 1e4;
    s->pct_start = epochs > 0 ? 1.0 / epochs : 0.3;
    s->base_momentum = 0.85;
    s->max_momentum = 0.95;
    s->total_steps = (int64_t)epochs * steps_per_epoch;
    s->cycle_momentum = 1;
    s->anneal_linear = 0;
}

static double anneal(int linear, double start, double end, double pct)
{
    if (linear) return (end - start) * pct + start;
    return end + (start - end) / 2.0 * (cos(M_PI * pct) + 1.0);
}

int s24_onecycle_at(const struct s24_onecycle *s, int64_t step, double *lr, double *momentum)
{
    if (s->total_steps <= 0 || step < 0 || step > s->total_steps)
        return s24_error(S24_ERR_INVALID, "OneCycle: step %lld outside 0..%lld", (long long)step,
                         (long long)s->total_steps);
    double initial = s->max_lr / s->div_factor, min_lr = initial / s->final_div_factor;
    /* phase ends as PyTorch computes them: float(pct_start * total_steps) - 1, total - 1 */
    double end0 = s->pct_start * (double)s->total_steps - 1.0;
    double end1 = (double)s->total_steps - 1.0;
    double sn = (double)step, pct, l, mom;
    if (!(end0 > 0))
        return s24_error(S24_ERR_INVALID,
                         "OneCycle: the warm-up has no length (pct_start %g of %lld steps); "
                         "PyTorch divides by zero here too: use more steps per epoch "
                         "(a smaller batch)",
                         s->pct_start, (long long)s->total_steps);
    if (sn <= end0) {
        pct = sn / end0; /* start_step 0, as PyTorch */
        l = anneal(s->anneal_linear, initial, s->max_lr, pct);
        mom = anneal(s->anneal_linear, s->max_momentum, s->base_momentum, pct);
    } else {
        pct = (sn - end0) / (end1 - end0);
        l = anneal(s->anneal_linear, s->max_lr, min_lr, pct);
        mom = anneal(s->anneal_linear, s->base_momentum, s->max_momentum, pct);
    }
    *lr = l;
    if (momentum) *momentum = s->cycle_momentum ? mom : s->max_momentum;
    return S24_OK;
}
