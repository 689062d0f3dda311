/* test_infer_choice.c: AUTO's decision rule (src/nn/infer_choice.c), which
 * both inference plans call with their measured times: medians (odd and
 * even counts, unsorted input, one outlier), 2:4 only when faster by more
 * than the margin, a tie dense, and degenerate input dense. */
#include "t.h"

#include "nn/infer_internal.h"

int main(void)
{
    double dm, sm;
    /* medians of unsorted times; one slow outlier does not move them */
    double d1[5] = {1.0, 9.0, 1.1, 0.9, 1.05}, s1[5] = {0.8, 0.7, 0.75, 30.0, 0.72};
    CHECK(s24_infer_choose(d1, 5, s1, 5, 0.02, &dm, &sm) == 1);
    CHECK_NEAR(dm, 1.05, 1e-12);
    CHECK_NEAR(sm, 0.75, 1e-12);
    /* even counts: the mean of the middle two */
    double d2[4] = {4, 1, 3, 2}, s2[4] = {2, 2, 3, 3};
    CHECK(s24_infer_choose(d2, 4, s2, 4, 0.0, &dm, &sm) == 0);
    CHECK_NEAR(dm, 2.5, 1e-12);
    CHECK_NEAR(sm, 2.5, 1e-12); /* a tie stays dense */
    /* within the margin: dense; beyond it: 2:4 */
    double d3[3] = {1.0, 1.0, 1.0}, s3[3] = {0.99, 0.99, 0.99};
    CHECK(s24_infer_choose(d3, 3, s3, 3, 0.02, NULL, NULL) == 0);
    double d4[3] = {1.0, 1.0, 1.0}, s4[3] = {0.97, 0.97, 0.97};
    CHECK(s24_infer_choose(d4, 3, s4, 3, 0.02, NULL, NULL) == 1);
    /* margin 0 (the CPU plan): any strict win */
    double d5[1] = {1.0}, s5[1] = {0.999};
    CHECK(s24_infer_choose(d5, 1, s5, 1, 0.0, &dm, &sm) == 1);
    /* slower 2:4: dense */
    double d6[3] = {1, 1, 1}, s6[3] = {2, 2, 2};
    CHECK(s24_infer_choose(d6, 3, s6, 3, 0.02, NULL, NULL) == 0);
    /* nothing measured, or a negative margin: dense */
    CHECK(s24_infer_choose(d6, 0, s6, 3, 0.02, &dm, NULL) == 0 && dm == 0);
    CHECK(s24_infer_choose(d4, 3, s4, 3, -0.5, NULL, NULL) == 0);
    return t_done("test_infer_choice");
}
