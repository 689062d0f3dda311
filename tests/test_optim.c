/* test_optim.c: SGD against hand-computed steps, and OneCycleLR against the
 * schedule recomputed here from PyTorch's formulas (plus values worked out by
 * hand at the phase boundaries). */
#include "t.h"

#include "sparse24/sparse24_train.h"

static void test_sgd(void)
{
    /* p=1, g=0.5, buf=0.2, lr=0.1, mu=0.9, wd=0.01:
     * d = 0.5 + 0.01 = 0.51; buf = 0.18 + 0.51 = 0.69; p = 1 - 0.069 = 0.931 */
    float p[3] = {1.0f, -2.0f, 0.25f}, g[3] = {0.5f, 0.125f, -1.0f}, buf[3] = {0.2f, 0.0f, -0.5f};
    s24_sgd_update(p, g, buf, 3, 0.1f, 0.9f, 0.01f);
    CHECK_NEAR(buf[0], 0.69, 1e-6);
    CHECK_NEAR(p[0], 0.931, 1e-6);
    /* d = 0.125 - 0.02 = 0.105; buf = 0.105; p = -2 - 0.0105 */
    CHECK_NEAR(buf[1], 0.105, 1e-7);
    CHECK_NEAR(p[1], -2.0105, 1e-6);
    /* d = -1 + 0.0025 = -0.9975; buf = -0.45 - 0.9975 = -1.4475; p = 0.25 + 0.14475 */
    CHECK_NEAR(buf[2], -1.4475, 1e-6);
    CHECK_NEAR(p[2], 0.39475, 1e-6);
    /* a second step from there with another lr/momentum, against double math */
    double dp[3] = {p[0], p[1], p[2]}, db[3] = {buf[0], buf[1], buf[2]};
    float g2[3] = {-0.3f, 0.7f, 0.05f};
    s24_sgd_update(p, g2, buf, 3, 0.05f, 0.85f, 5e-4f);
    for (int i = 0; i < 3; i++) {
        double d = g2[i] + 5e-4 * dp[i];
        db[i] = 0.85 * db[i] + d;
        dp[i] -= 0.05 * db[i];
        CHECK_NEAR(buf[i], db[i], 1e-6);
        CHECK_NEAR(p[i], dp[i], 1e-6);
    }
    /* zero lr leaves p, momentum still accumulates */
    float q = 3.0f, gq = 1.0f, bq = 0.0f;
    s24_sgd_update(&q, &gq, &bq, 1, 0.0f, 0.9f, 0.0f);
    CHECK(q == 3.0f && bq == 1.0f);
}

/* PyTorch's OneCycleLR (two phases), written out independently of optim.c */
static void ref_onecycle(double max_lr, int epochs, int spe, int64_t step, double *lr, double *mom)
{
    double total = (double)epochs * spe, init = max_lr / 1e5, minlr = init / 1e4;
    double e0 = (1.0 / epochs) * total - 1, e1 = total - 1;
    double a, b, ma, mb, pct;
    if ((double)step <= e0) {
        pct = step / e0; a = init; b = max_lr; ma = 0.95; mb = 0.85;
    } else {
        pct = (step - e0) / (e1 - e0); a = max_lr; b = minlr; ma = 0.85; mb = 0.95;
    }
    *lr = b + (a - b) / 2 * (cos(M_PI * pct) + 1);
    *mom = mb + (ma - mb) / 2 * (cos(M_PI * pct) + 1);
}

static void test_onecycle(void)
{
    struct s24_onecycle s;
    double lr, mom, rl, rm;
    s24_onecycle_paper(&s, 0.1, 30, 196);
    CHECK(s.total_steps == 5880);
    CHECK_OK(s24_onecycle_at(&s, 0, &lr, &mom));
    CHECK_NEAR(lr, 1e-6, 1e-16);
    CHECK_NEAR(mom, 0.95, 1e-15);
    CHECK_OK(s24_onecycle_at(&s, 195, &lr, &mom)); /* end of warm-up: the peak */
    CHECK_NEAR(lr, 0.1, 1e-15);
    CHECK_NEAR(mom, 0.85, 1e-15);
    CHECK_OK(s24_onecycle_at(&s, 5879, &lr, &mom)); /* last step: max_lr / 1e9 */
    CHECK_NEAR(lr, 1e-10, 1e-22);
    CHECK_NEAR(mom, 0.95, 1e-15);
    /* mid warm-up: pct = 97.5/195 = 0.5 -> halfway, cosine */
    CHECK_OK(s24_onecycle_at(&s, 97, &lr, &mom));
    double pct = 97.0 / 195.0, want = 0.1 + (1e-6 - 0.1) / 2 * (cos(M_PI * pct) + 1);
    CHECK_NEAR(lr, want, 1e-15);
    /* mid annealing: step 196 + (5879-195)/2 = 3037 -> pct 0.5 */
    CHECK_OK(s24_onecycle_at(&s, 3037, &lr, &mom));
    CHECK_NEAR(lr, (0.1 + 1e-10) / 2, 1e-15);
    CHECK_NEAR(mom, 0.9, 1e-15);
    /* every step against the independent formulas, several settings */
    int cfgs[][2] = {{30, 196}, {5, 196}, {3, 7}, {2, 40}};
    for (int c = 0; c < 4; c++) {
        s24_onecycle_paper(&s, 0.1, cfgs[c][0], cfgs[c][1]);
        double worst = 0, worstm = 0;
        for (int64_t k = 0; k < s.total_steps; k++) {
            CHECK_OK(s24_onecycle_at(&s, k, &lr, &mom));
            ref_onecycle(0.1, cfgs[c][0], cfgs[c][1], k, &rl, &rm);
            worst = fmax(worst, fabs(lr - rl));
            worstm = fmax(worstm, fabs(mom - rm));
        }
        CHECK(worst <= 1e-15 && worstm <= 1e-15, "E=%d S=%d: lr err %g, momentum err %g",
              cfgs[c][0], cfgs[c][1], worst, worstm);
    }
    /* warm-up rises, annealing falls */
    s24_onecycle_paper(&s, 0.1, 4, 10);
    double prev = 0;
    int mono = 1;
    for (int k = 0; k < 10; k++) {
        s24_onecycle_at(&s, k, &lr, NULL);
        mono &= lr > prev;
        prev = lr;
    }
    for (int k = 10; k < 40; k++) {
        s24_onecycle_at(&s, k, &lr, NULL);
        mono &= lr < prev;
        prev = lr;
    }
    CHECK(mono);
    CHECK(s24_onecycle_at(&s, 41, &lr, &mom) == S24_ERR_INVALID);
    CHECK(s24_onecycle_at(&s, -1, &lr, &mom) == S24_ERR_INVALID);
    /* one step per epoch: a warm-up of zero steps (PyTorch divides by zero) */
    struct s24_onecycle z;
    s24_onecycle_paper(&z, 0.1, 5, 1);
    CHECK(s24_onecycle_at(&z, 0, &lr, &mom) == S24_ERR_INVALID);
    /* linear annealing and no momentum cycling */
    s.anneal_linear = 1;
    s.cycle_momentum = 0;
    s24_onecycle_at(&s, 5, &lr, &mom);
    CHECK_NEAR(lr, 1e-6 + (0.1 - 1e-6) * 5.0 / 9.0, 1e-15);
    CHECK(mom == 0.95);
}

int main(void)
{
    test_sgd();
    test_onecycle();
    return t_done("test_optim");
}
