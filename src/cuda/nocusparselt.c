/* nocusparselt.c: stands in for cusparselt.cu where CUDA was found but
 * cuSPARSELt was not: the context, dense plans and AUTO mode still work, and
 * every sparse request says that cuSPARSELt is missing. */
#include "sparse_engine.h"
#include "dl.h"

#include <stdio.h>

static int missing(void)
{
    return s24_error(S24_ERR_UNSUPPORTED,
                     "sparse24 was built without cuSPARSELt (install the nvidia-cusparselt wheel "
                     "or set CUSPARSELT_DIR and rebuild)");
}

int s24_sp_handle_create(void **h, int *version)
{
    *h = NULL;
    *version = 0;
    return missing();
}
void s24_sp_handle_destroy(void *h) { (void)h; }
/* the loader's entry points (dl.h), for the tests and for symmetry with cuDNN */
int s24_dl_cusparselt_load(const char *need)
{
    (void)need;
    return missing();
}
const char *s24_dl_cusparselt_path(void) { return NULL; }
void s24_sp_info(char *buf, size_t len) { snprintf(buf, len, "cusparselt: not built\n"); }
int s24_sp_init(void *h, const struct s24_gemm_desc *d, struct s24_sp **out)
{
    (void)h;
    (void)d;
    *out = NULL;
    return missing();
}
int s24_sp_init_bias(void *h, const struct s24_gemm_desc *d, const void *bias, struct s24_sp **out)
{
    (void)bias;
    return s24_sp_init(h, d, out);
}
int s24_sp_init_alpha(void *h, const struct s24_gemm_desc *d, const void *bias,
                      const float *alpha, struct s24_sp **out)
{
    (void)bias, (void)alpha;
    return s24_sp_init(h, d, out);
}
void s24_sp_free(struct s24_sp *p) { (void)p; }
int s24_sp_prune(struct s24_sp *p, const void *d_in, void *d_out, void *stream)
{
    (void)p, (void)d_in, (void)d_out, (void)stream;
    return missing();
}
int s24_sp_check(struct s24_sp *p, const void *d_w, void *stream)
{
    (void)p, (void)d_w, (void)stream;
    return missing();
}
int s24_sp_compress(struct s24_sp *p, const void *d_w, void *stream)
{
    (void)p, (void)d_w, (void)stream;
    return missing();
}
int s24_sp_search(struct s24_sp *p, const void *d_w, const void *x, const void *c, void *dd,
                  void *stream)
{
    (void)p, (void)d_w, (void)x, (void)c, (void)dd, (void)stream;
    return missing();
}
int s24_sp_search_rejected(const struct s24_sp *p)
{
    (void)p;
    return 0;
}
int s24_sp_run(struct s24_sp *p, const void *x, const void *c, void *dd, const void *bias,
               void *stream)
{
    (void)p, (void)x, (void)c, (void)dd, (void)bias, (void)stream;
    return missing();
}
int s24_sp_set_bias(struct s24_sp *p, const void *bias, void *stream)
{
    (void)p, (void)bias, (void)stream;
    return missing();
}
int s24_sp_raw(struct s24_sp *p, const void *x, const void *c, void *dd, void *stream)
{
    (void)p, (void)x, (void)c, (void)dd, (void)stream;
    return missing();
}
void s24_sp_get_info(const struct s24_sp *p, int *alg, int *alg_max, int *split_k, size_t *ws,
                     size_t *compressed)
{
    (void)p;
    *alg = *alg_max = *split_k = -1;
    *ws = *compressed = 0;
}
