/* sparse_engine.h: the cuSPARSELt half of the GEMM engine as seen by the rest
 * of src/cuda (internal, plain C, no CUDA types). cusparselt.cu implements it
 * where cuSPARSELt was found; nocusparselt.c stands in (everything reports
 * that cuSPARSELt is missing) where CUDA was found without it. Streams are
 * cudaStream_t passed as void *. */
#ifndef S24_SPARSE_ENGINE_H
#define S24_SPARSE_ENGINE_H

#include <stddef.h>

#include "sparse24/sparse24_cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

struct s24_sp;

/* Library handle (one per context). *version: cusparseLtGetVersion. */
int s24_sp_handle_create(void **h, int *version);
void s24_sp_handle_destroy(void *h);
/* "cuSPARSELt: 0.8.0 (header 0.8.0)" or why there is none. */
void s24_sp_info(char *buf, size_t len);

int s24_sp_init(void *h, const struct s24_gemm_desc *d, struct s24_sp **out);
/* The same with the bias pointer (device, m elements of out_type) fixed
 * from the start, as s24_sp_set_bias would, without making the plan twice. */
int s24_sp_init_bias(void *h, const struct s24_gemm_desc *d, const void *bias, struct s24_sp **out);
/* The same with alpha a vector, one float per row of D in device memory
 * (cuSPARSELt's ALPHA_VECTOR_SCALING; read at every run, so it must outlive
 * the plan): D[i, :] = act(alpha[i] * (W X)[i, :] + bias[i]), which an int8
 * GEMM with a scale per weight row dequantises by. alpha NULL: as
 * s24_sp_init_bias. A library that refuses it: S24_ERR_UNSUPPORTED. */
int s24_sp_init_alpha(void *h, const struct s24_gemm_desc *d, const void *bias,
                      const float *alpha, struct s24_sp **out);
void s24_sp_free(struct s24_sp *p);
/* Prune d_in (dense W, the descriptor's layout) into d_out on the device. */
int s24_sp_prune(struct s24_sp *p, const void *d_in, void *d_out, void *stream);
/* S24_OK if d_w is 2:4 as cuSPARSELt reads it, S24_ERR_NOT_SPARSE if not (syncs). */
int s24_sp_check(struct s24_sp *p, const void *d_w, void *stream);
/* Compress d_w into the plan's own buffer (syncs). */
int s24_sp_compress(struct s24_sp *p, const void *d_w, void *stream);
/* Search once (cusparseLtMatmulSearch), compress d_w (the dense pruned W)
 * again for the chosen configuration, and keep it only if its output agrees
 * with the default configuration's (else the default stays). */
int s24_sp_search(struct s24_sp *p, const void *d_w, const void *x, const void *c, void *dd,
                  void *stream);
int s24_sp_search_rejected(const struct s24_sp *p);
/* Set the bias pointer (rebuilds the plan; syncs). */
int s24_sp_set_bias(struct s24_sp *p, const void *bias, void *stream);
int s24_sp_run(struct s24_sp *p, const void *x, const void *c, void *dd, const void *bias,
               void *stream);
/* The bare cusparseLtMatmul with the plan's arguments (to measure our overhead). */
int s24_sp_raw(struct s24_sp *p, const void *x, const void *c, void *dd, void *stream);
void s24_sp_get_info(const struct s24_sp *p, int *alg, int *alg_max, int *split_k,
                     size_t *ws, size_t *compressed);

#ifdef __cplusplus
}
#endif
#endif
