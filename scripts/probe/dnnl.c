/* build probe: oneDNN's C API, version 2 (Debian 12's libdnnl-dev 2.6): the
 * convolution descriptor calls src/cpu/nn_dnnl.c uses. oneDNN 3 replaced
 * them, so it fails here and the build keeps the im2col path. */
#include <oneapi/dnnl/dnnl.h>
int main(void)
{
    dnnl_convolution_desc_t d;
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {1, 1, 1, 1}, st = {1, 1}, pad = {0, 0};
    if (dnnl_memory_desc_init_by_tag(&md, 4, dims, dnnl_f32, dnnl_nhwc) != dnnl_success) return 1;
    return dnnl_convolution_forward_desc_init(&d, dnnl_forward_training, dnnl_convolution_direct,
                                              &md, &md, NULL, &md, st, pad, pad) != dnnl_success;
}
