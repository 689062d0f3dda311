/* conv_graph.h: one direction of a dense convolution through cuDNN's graph
 * (backend) API, for nn_conv.cu. The legacy API's algorithm list reaches
 * only some of cuDNN 9's engines; on the H200 its picks ran ResNet18's bf16
 * convs at about the TF32 rate. Here the heuristic's engine configurations
 * are each made into an execution plan and timed on scratch buffers, and the
 * fastest is kept; nn_conv.cu takes it where it beats the legacy pick.
 * NHWC activations, KRSC (OHWI) filters, fp32 accumulation, data fp32 or
 * bf16 (all three tensors alike). C++ (nn_conv.cu's types), only where
 * cuDNN is. */
#ifndef S24_CONV_GRAPH_H
#define S24_CONV_GRAPH_H

#include <cuda_runtime.h>
#include <stddef.h>

#include "nn/ops.h"

/* The directions, in nn_conv.cu's order. Tensors are named as in the
 * forward: x (n, c, h, w), w (oc, c/groups, kh, kw), y (n, oc, oh, ow); the
 * backward data writes x (= dx) from w and y (= dy), the backward filter
 * writes w (= dw) from x and y. */
enum { S24_CG_FWD = 0, S24_CG_BWD_DATA, S24_CG_BWD_FILTER };

struct s24_cg; /* an execution plan and the descriptors it stands on */

/* Times the engine configurations cuDNN's heuristics offer for direction
 * dir (output = alpha * op + beta * output, alpha 1) that need at most
 * ws_max bytes of workspace, and keeps the fastest in *out with its median
 * time in *ms. *out is NULL when none could be made or run (S24_OK all the
 * same: the legacy path stays). Allocates, synchronises and times on
 * stream st, so never inside graph capture. rtc: engines that compile
 * their kernels at run time are tried too (seconds each). */
int s24_cg_find(void *dnn, cudaStream_t st, const struct s24_conv_shape *s, int dir, int bf16,
                float beta, size_t ws_max, int rtc, struct s24_cg **out, float *ms);
/* The kept plan's workspace in bytes. */
size_t s24_cg_ws(const struct s24_cg *g);
/* Runs the plan on the handle's stream: x, w, y as above (the output one
 * written), ws of s24_cg_ws bytes. Pointers must be 16-byte aligned (the
 * tensors say so to cuDNN); cuDNN's failure is returned as its status. */
int s24_cg_run(void *dnn, struct s24_cg *g, const void *x, const void *w, const void *y, void *ws);
/* A line naming the engine (its global index) for logs. */
const char *s24_cg_name(const struct s24_cg *g);
void s24_cg_free(struct s24_cg *g);

#endif
