/* nocuda.c: stands in for the GPU engine when sparse24 is built without CUDA,
 * so every public GPU call exists and reports that no GPU path was built.
 * The host-side rules (gemm_rules.c) are built in every configuration. */
#include "sparse24/sparse24_cuda.h"
#include "dl.h"

#include <stdio.h>

static int nogpu(void)
{
    return s24_error(S24_ERR_NO_DEVICE,
                     "no GPU: sparse24 was built without CUDA (rebuild where nvcc "
                     "and cuBLASLt are found, or with USE_CUDA=1)");
}

/* the GPU libraries' loaders (dl.h): none in this build */
int s24_dl_cusparselt_load(const char *need)
{
    (void)need;
    return nogpu();
}
const char *s24_dl_cusparselt_path(void) { return NULL; }
int s24_dl_cublaslt_load(const char *need)
{
    (void)need;
    return nogpu();
}
const char *s24_dl_cublaslt_path(void) { return NULL; }

void s24_cuda_info(char *buf, size_t len)
{
    snprintf(buf, len, "cuda: not built (no CUDA toolkit found at build time)\n");
}

int s24_gpu_init(int device, s24_gpu_t **out)
{
    (void)device;
    *out = NULL;
    return nogpu();
}
void s24_gpu_free(s24_gpu_t *g) { (void)g; }
int s24_gpu_props(const s24_gpu_t *g, struct s24_gpu_props *out)
{
    (void)g, (void)out;
    return nogpu();
}
void *s24_gpu_stream(const s24_gpu_t *g)
{
    (void)g;
    return NULL;
}
int s24_gpu_sync(s24_gpu_t *g)
{
    (void)g;
    return nogpu();
}
int s24_gpu_alloc(s24_gpu_t *g, size_t bytes, void **out)
{
    (void)g, (void)bytes;
    *out = NULL;
    return nogpu();
}
void s24_gpu_mem_free(s24_gpu_t *g, void *p) { (void)g, (void)p; }
int s24_gpu_upload(s24_gpu_t *g, void *dst, const void *src, size_t bytes)
{
    (void)g, (void)dst, (void)src, (void)bytes;
    return nogpu();
}
int s24_gpu_download(s24_gpu_t *g, void *dst, const void *src, size_t bytes)
{
    (void)g, (void)dst, (void)src, (void)bytes;
    return nogpu();
}
int s24_gpu_fill_random(s24_gpu_t *g, enum s24_dtype dt, void *p, int64_t count, uint64_t seed,
                        float scale)
{
    (void)g, (void)dt, (void)p, (void)count, (void)seed, (void)scale;
    return nogpu();
}
int s24_gpu_fill_bytes(s24_gpu_t *g, void *p, int byte, size_t bytes)
{
    (void)g, (void)p, (void)byte, (void)bytes;
    return nogpu();
}
int s24_gpu_graph_begin(s24_gpu_t *g)
{
    (void)g;
    return nogpu();
}
int s24_gpu_graph_end(s24_gpu_t *g, s24_graph_t **out)
{
    (void)g;
    *out = NULL;
    return nogpu();
}
int s24_graph_launch(s24_graph_t *gr)
{
    (void)gr;
    return nogpu();
}
void s24_graph_free(s24_graph_t *gr) { (void)gr; }
int s24_gemm_plan_init(s24_gpu_t *g, const struct s24_gemm_desc *d, enum s24_gemm_mode mode,
                       s24_gemm_plan_t **out)
{
    (void)g, (void)d, (void)mode;
    *out = NULL;
    return nogpu();
}
void s24_gemm_plan_free(s24_gemm_plan_t *p) { (void)p; }
int s24_gemm_plan_set_weight(s24_gemm_plan_t *p, const void *d_w, int prune)
{
    (void)p, (void)d_w, (void)prune;
    return nogpu();
}
int s24_gemm_plan_set_weight_host(s24_gemm_plan_t *p, const void *h_w, int prune)
{
    (void)p, (void)h_w, (void)prune;
    return nogpu();
}
int s24_gemm_plan_set_weight_compressed(s24_gemm_plan_t *p, const struct s24_compressed *c)
{
    (void)p, (void)c;
    return nogpu();
}
int s24_gemm_plan_get_weight(s24_gemm_plan_t *p, void *d_w)
{
    (void)p, (void)d_w;
    return nogpu();
}
int s24_gemm_plan_tune(s24_gemm_plan_t *p, const void *d_x, const void *d_c, void *d_d)
{
    (void)p, (void)d_x, (void)d_c, (void)d_d;
    return nogpu();
}
int s24_gemm_plan_set_bias(s24_gemm_plan_t *p, const void *d_bias)
{
    (void)p, (void)d_bias;
    return nogpu();
}
int s24_gemm_run(s24_gemm_plan_t *p, const void *d_x, const void *d_c, void *d_d,
                 const void *d_bias, void *stream)
{
    (void)p, (void)d_x, (void)d_c, (void)d_d, (void)d_bias, (void)stream;
    return nogpu();
}
int s24_gemm_plan_info(const s24_gemm_plan_t *p, struct s24_gemm_plan_info *out)
{
    (void)p, (void)out;
    return nogpu();
}
int s24_gemm_time(s24_gemm_plan_t *p, const void *d_x, const void *d_c, void *d_d, int warmup,
                  int repeats, int flush_l2, struct s24_gemm_timing *out)
{
    (void)p, (void)d_x, (void)d_c, (void)d_d, (void)warmup, (void)repeats, (void)flush_l2,
        (void)out;
    return nogpu();
}
int s24_gemm_time_pair(s24_gemm_plan_t *a, s24_gemm_plan_t *b, const void *d_x, const void *d_c,
                       void *d_d, int warmup, int repeats, int flush_l2,
                       struct s24_gemm_timing out[2])
{
    (void)a, (void)b, (void)d_x, (void)d_c, (void)d_d, (void)warmup, (void)repeats, (void)flush_l2,
        (void)out;
    return nogpu();
}
int s24_gemm_host_cost(s24_gemm_plan_t *p, const void *d_x, const void *d_c, void *d_d, int calls,
                       double *run_us, double *raw_us)
{
    (void)p, (void)d_x, (void)d_c, (void)d_d, (void)calls, (void)run_us, (void)raw_us;
    return nogpu();
}
int s24_gemm_graph_time(s24_gemm_plan_t *p, const void *d_x, const void *d_c, void *d_d, int calls,
                        int repeats, double *graph_us, double *eager_us)
{
    (void)p, (void)d_x, (void)d_c, (void)d_d, (void)calls, (void)repeats, (void)graph_us,
        (void)eager_us;
    return nogpu();
}

int s24_own_plan_init(s24_gpu_t *g, int64_t m, int64_t n, int64_t k, s24_own_plan_t **out)
{
    (void)g, (void)m, (void)n, (void)k;
    if (out) *out = NULL;
    return nogpu();
}
int s24_own_plan_set_weight(s24_own_plan_t *p, const void *d_w)
{
    (void)p, (void)d_w;
    return nogpu();
}
int s24_own_run(s24_own_plan_t *p, const void *d_x, void *d_d, void *stream)
{
    (void)p, (void)d_x, (void)d_d, (void)stream;
    return nogpu();
}
int s24_own_time(s24_own_plan_t *p, const void *d_x, void *d_d, int warmup, int repeats,
                 int flush_l2, struct s24_gemm_timing *out)
{
    (void)p, (void)d_x, (void)d_d, (void)warmup, (void)repeats, (void)flush_l2, (void)out;
    return nogpu();
}
void s24_own_plan_free(s24_own_plan_t *p)
{
    (void)p;
}
int s24_own_conv_init(s24_gpu_t *g, const struct s24_own_conv *cs, s24_own_plan_t **out)
{
    (void)g, (void)cs;
    if (out) *out = NULL;
    return nogpu();
}
int s24_own_conv_init_at(int device, int cc_major, void *stream, const struct s24_own_conv *cs,
                         s24_own_plan_t **out)
{
    (void)device, (void)cc_major, (void)stream, (void)cs;
    if (out) *out = NULL;
    return nogpu();
}
int s24_own_conv_run(s24_own_plan_t *p, const void *d_x, void *d_y, const float *d_bias,
                     const void *d_z, int relu, void *stream)
{
    (void)p, (void)d_x, (void)d_y, (void)d_bias, (void)d_z, (void)relu, (void)stream;
    return nogpu();
}
