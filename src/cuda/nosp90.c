/* nosp90.c: stands in for the own Hopper 2:4 GEMM (src/cuda/sm90/) where it
 * is not built: without CUDA, or without CUTLASS's headers (scripts/setup.sh
 * fetches them only with S24_CUTLASS=1). Every call says so. */
#include "sparse24/sparse24_cuda.h"

static int sp90_absent(void)
{
    return s24_error(S24_ERR_UNSUPPORTED,
                     "own sm90 kernel: not built (needs CUDA and CUTLASS's headers: run "
                     "S24_CUTLASS=1 scripts/setup.sh, then rebuild)");
}

int s24_sp90_available(void) { return 0; }

const char *s24_sp90_config_name(int i) { return ""; }

enum s24_dtype s24_sp90_config_dtype(int i) { return S24_DTYPE_COUNT; }

int s24_sp90_plan_init(s24_gpu_t *g, enum s24_dtype dt, int64_t m, int64_t n, int64_t k, int cfg,
                       s24_sp90_plan_t **out)
{
    if (out) *out = NULL;
    return sp90_absent();
}

int s24_sp90_set_weight(s24_sp90_plan_t *p, const void *d_w) { return sp90_absent(); }

int s24_sp90_tune(s24_sp90_plan_t *p, const void *d_x, void *d_d, int repeats)
{
    return sp90_absent();
}

int s24_sp90_run(s24_sp90_plan_t *p, const void *d_x, void *d_d, void *stream)
{
    return sp90_absent();
}

int s24_sp90_time(s24_sp90_plan_t *p, const void *d_x, void *d_d, int warmup, int repeats,
                  int flush_l2, struct s24_gemm_timing *out)
{
    return sp90_absent();
}

int s24_sp90_time_pair(s24_sp90_plan_t *p, s24_gemm_plan_t *other, const void *d_x, void *d_d,
                       int warmup, int repeats, struct s24_gemm_timing out[2])
{
    return sp90_absent();
}

const char *s24_sp90_config(const s24_sp90_plan_t *p) { return ""; }

void s24_sp90_plan_free(s24_sp90_plan_t *p) {}
