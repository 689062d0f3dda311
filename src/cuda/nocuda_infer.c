/* nocuda_infer.c: stands in for the CUDA inference plan (infer_cuda.cu)
 * when sparse24 is built without CUDA, so infer.c links; no model can live
 * on a GPU then, so only the creation is ever reached, and it says why. */
#include "nn/infer_internal.h"

int s24_infer_cu_create(struct s24_model *m, const struct s24_infer_opts *o,
                        struct s24_infer_cu **out)
{
    (void)m, (void)o;
    *out = NULL;
    return s24_error(S24_ERR_NO_DEVICE, "infer: no GPU plan: sparse24 was built without CUDA");
}
int s24_infer_cu_run(struct s24_infer_cu *p, const float *x, int n, int h, int w, float *logits,
                     int on_device)
{
    (void)p, (void)x, (void)n, (void)h, (void)w, (void)logits, (void)on_device;
    return s24_error(S24_ERR_NO_DEVICE, "infer: sparse24 was built without CUDA");
}
int s24_infer_cu_num_layers(const struct s24_infer_cu *p)
{
    (void)p;
    return 0;
}
const struct s24_infer_layer *s24_infer_cu_layer_at(const struct s24_infer_cu *p, int i)
{
    (void)p, (void)i;
    return NULL;
}
void s24_infer_cu_set_profile(struct s24_infer_cu *p, int on) { (void)p, (void)on; }
void s24_infer_cu_free(struct s24_infer_cu *p) { (void)p; }
int s24_infer_cu_layer_diff(struct s24_infer_cu *p, int layer, double *rel)
{
    (void)p, (void)layer, (void)rel;
    return s24_error(S24_ERR_NO_DEVICE, "infer: sparse24 was built without CUDA");
}
int s24_infer_cu_graphed(const struct s24_infer_cu *p, char *why, size_t len)
{
    (void)p;
    if (why && len) why[0] = 0;
    return 0;
}
