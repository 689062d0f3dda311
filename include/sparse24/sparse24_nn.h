/* sparse24_nn.h: models for the training engine: backends (the CPU, a CUDA
 * GPU), the architecture registry, parameters with torchvision's names,
 * forward, backward, loss, and checkpoints in PyTorch's layout.
 *
 * Layout: activations are NHWC float32 (the natural layout for cuDNN's tensor
 * core convolutions and for conv-as-GEMM with 2:4 groups along input
 * channels). Conv weights are held internally as OHWI, so the grouping view of
 * a conv weight is (OC*KH*KW, IC, 1), the same groups as NVIDIA ASP's
 * (KH*KW*OC) x IC matrix; checkpoints convert to and from PyTorch's OIHW.
 *
 * This header is the contract between the model code (src/nn/model*.c,
 * ops) and the trainer (sparse24_train.h); keep it small and stable. */
#ifndef SPARSE24_NN_H
#define SPARSE24_NN_H

#include "sparse24/sparse24_api.h"
#include "sparse24/sparse24.h"

#ifdef __cplusplus
extern "C" {
#endif

enum s24_param_kind {
    S24_P_WEIGHT = 0,      /* conv / linear weight */
    S24_P_BIAS,            /* conv / linear bias */
    S24_P_BN_WEIGHT,
    S24_P_BN_BIAS,
    S24_B_RUNNING_MEAN,    /* buffers: saved, not trained */
    S24_B_RUNNING_VAR,
    S24_B_NUM_BATCHES,     /* 0-d I64 in checkpoints; held here as one float-free counter */
};

struct s24_param {
    const char *name;      /* torchvision state_dict key, e.g. "layer1.0.conv1.weight" */
    enum s24_param_kind kind;
    int ndim;              /* PyTorch's ndim (4 conv, 2 linear, 1 vectors, 0 num_batches_tracked) */
    int64_t shape[4];      /* PyTorch's shape (OIHW for conv weights) */
    int64_t numel;
    /* Host copies, internal layout (OHWI for conv weights). On the CPU
     * backend they are the tensors themselves; on a GPU they are mirrors:
     * s24_model_to_host refreshes them, s24_model_to_backend sends edits. */
    float *data;           /* NULL for S24_B_NUM_BATCHES */
    float *grad;           /* same layout; NULL for buffers */
    float *bdata, *bgrad;  /* the backend's tensors (== data, grad on the CPU) */
    int64_t *count;        /* S24_B_NUM_BATCHES only */
    int is_buffer;
    int groups;            /* conv groups (1 = dense conv, IC = depthwise); 1 otherwise */
    /* ASP's eligibility: conv/linear weight, groups == 1, OC % 8 == 0, IC % 16 == 0 */
    int maskable;
    struct s24_view view;  /* grouping view of `data` along input channels */
};

typedef struct s24_model s24_model_t;

/* ---------------------------------------------------------------- backends */
/* Where a model's tensors live and its ops run. A backend owns a context
 * (for CUDA: the device, a stream, cuDNN / cuBLASLt handles) and the memory
 * allocated through it; several models may share one (not from several
 * threads at once). */
enum s24_device { S24_DEVICE_CPU = 0, S24_DEVICE_CUDA = 1 };
typedef struct s24_backend s24_backend_t;
/* index: the GPU ordinal (ignored for the CPU). S24_ERR_NO_DEVICE when
 * CUDA was not built in or no GPU is present. */
S24_API int s24_backend_create(enum s24_device dev, int index, s24_backend_t **out);
S24_API void s24_backend_free(s24_backend_t *be);
S24_API const char *s24_backend_name(const s24_backend_t *be);
S24_API enum s24_device s24_backend_device(const s24_backend_t *be);
/* Bytes allocated through the backend now, and their high-water mark. */
S24_API size_t s24_backend_bytes(const s24_backend_t *be, size_t *peak);
S24_API void s24_backend_reset_peak(s24_backend_t *be);
/* How the backend stores activations and their gradients: S24_F32 (the
 * default), or S24_BF16, the mixed mode of a GPU backend (bf16 activations
 * and convolutions on bf16 tensor cores; fp32 master weights, gradients of
 * weights, optimiser state and statistics). Set it before creating a model
 * on the backend. The CPU backend refuses BF16 (S24_ERR_UNSUPPORTED). */
S24_API int s24_backend_set_precision(s24_backend_t *be, enum s24_dtype act);
S24_API enum s24_dtype s24_backend_precision(const s24_backend_t *be);
/* Waits for the work queued on the backend. */
S24_API int s24_backend_sync(s24_backend_t *be);
/* "cpu" / "cuda" (case-sensitive) into *out; S24_ERR_INVALID otherwise. */
S24_API int s24_device_parse(const char *name, enum s24_device *out);
S24_API const char *s24_device_name(enum s24_device dev);

/* ---------------------------------------------------------------- registry */
/* The architectures the engine builds, one table that the model, the
 * pipeline, the permutation code and the CLI all read. */
struct s24_arch_info {
    const char *name;        /* "resnet18" */
    const char *summary;     /* one line for --help */
    int permutable;          /* s24_permute_checkpoint knows its channel spaces */
    float dropout, sdepth;   /* defaults of s24_model_set_drop */
    const char *family;      /* the network it is a variant of ("resnet18" for both stems):
                              * results tables name the model by family and input size */
    int size;                /* the input side it is built for (32 CIFAR, 224 ImageNet) */
};
S24_API int s24_arch_count(void);
S24_API const struct s24_arch_info *s24_arch_at(int i);
/* NULL when unknown (s24_last_error then names the known ones). */
S24_API const struct s24_arch_info *s24_arch_find(const char *name);
/* The registry's names, comma-separated ("resnet18, ...", for messages). */
S24_API const char *s24_arch_list(void);

/* ---------------------------------------------------------------- models */
/* arch: a registry name (s24_arch_at, s24_arch_list: "resnet18" is the CIFAR
 * stem, "resnet18_imagenet" torchvision's own). Initialisation follows
 * torchvision's, drawn from `seed`.
 * be: the backend the model lives on, not owned (NULL: a CPU backend owned
 * by the model). */
S24_API int s24_model_create(const char *arch, int num_classes, uint64_t seed, s24_backend_t *be,
                             s24_model_t **out);
S24_API s24_backend_t *s24_model_backend(const s24_model_t *m);
S24_API void s24_model_free(s24_model_t *m);
S24_API const char *s24_model_arch(const s24_model_t *m);
S24_API int s24_model_num_classes(const s24_model_t *m);
/* Re-draw every parameter and buffer as a fresh model with this seed would have. */
S24_API int s24_model_reinit(s24_model_t *m, uint64_t seed);

S24_API int s24_model_num_params(const s24_model_t *m);
S24_API struct s24_param *s24_model_param(s24_model_t *m, int i);
S24_API struct s24_param *s24_model_find(s24_model_t *m, const char *name);

/* Host mirrors and backend tensors: after code edits p->data (loading,
 * masking, permuting), s24_model_to_backend sends it; before code reads
 * p->data or p->grad after training, s24_model_to_host fetches them. Both
 * are no-ops on the CPU. The model's own calls (create, reinit, load,
 * from_st, to_st, save) do this themselves. */
S24_API int s24_model_to_backend(s24_model_t *m);
S24_API int s24_model_to_host(s24_model_t *m);

/* x: (n, h, w, 3) NHWC; logits: (n, classes), host memory. training != 0: batch statistics
 * (running stats updated, momentum 0.1), dropout and stochastic depth drawn
 * from s24_model_rng(m), activations kept for backward. */
S24_API int s24_model_forward(s24_model_t *m, const float *x, int n, int h, int w, float *logits,
                              int training);
/* After a training forward: accumulates d(loss)/d(param) into every grad
 * (host dlogits; on a GPU the gradients stay there until s24_model_to_host). */
S24_API int s24_model_backward(s24_model_t *m, const float *dlogits);
/* The same on backend memory, for the trainer: x (n, h, w, 3) and the
 * logits stay on the backend (s24_model_logits). */
S24_API int s24_model_forward_be(s24_model_t *m, const float *x, int n, int h, int w, int training);
S24_API const float *s24_model_logits(const s24_model_t *m);
/* After a training forward: softmax cross-entropy against labels (n int32,
 * backend memory), acc[0] += loss sum, acc[1] += hits (backend memory, may
 * be NULL), then the backward from its gradient. */
S24_API int s24_model_loss_backward(s24_model_t *m, const int32_t *labels, double *acc);

/* Where a training step's time goes: one forward + loss + backward on
 * backend memory (x, labels as for s24_model_forward_be), with a backend
 * timestamp around every node; ms[2*i] is node i's forward, ms[2*i+1] its
 * backward (the loss counts with the last node's backward). ms: 2 *
 * s24_model_num_nodes doubles. The timestamps serialise nothing, but each
 * read waits, so profile a step apart from timed ones. */
S24_API int s24_model_num_nodes(const s24_model_t *m);
/* "conv", "bn", "act", "add", "gap", "scale", "linear", "dropout", "sdepth",
 * "maxpool" */
S24_API const char *s24_model_node_kind(const s24_model_t *m, int i);
S24_API int s24_model_profile(s24_model_t *m, const float *x, const int32_t *labels, int n, int h,
                              int w, double *ms);
S24_API void s24_model_zero_grad(s24_model_t *m);
/* Where a model's backend memory is, in bytes, as allocated now: the
 * activation slots (one arena, in-place slots counted once, 256-byte
 * alignment included), the pool of activation gradients the backward
 * borrows from (by liveness) for those it cannot place among activations
 * already dead (S24_GRAD_ARENA=0: all of them), and the parameters
 * with their gradients on the backend (0 on the CPU, where they are the
 * host copies). The optimiser's state, the data and the backend's scratch
 * are not the model's: s24_backend_bytes' peak minus these is their share. */
struct s24_model_mem {
    size_t activations, act_grads, params;
};
S24_API int s24_model_memory(const s24_model_t *m, struct s24_model_mem *out);
/* The generator for dropout / stochastic depth (saved with resumable state). */
S24_API struct s24_rng *s24_model_rng(s24_model_t *m);
/* Dropout probability before the classifier and the stochastic-depth rate
 * (scaled per block as torchvision does); efficientnet_b0 defaults to 0.2 and
 * 0.2, the others have neither. Setting 0, 0 makes a training forward
 * deterministic (PyTorch checks, gradient checks). */
S24_API int s24_model_set_drop(s24_model_t *m, float dropout, float stochastic_depth);

/* Mean softmax cross-entropy over n rows; dlogits (may be NULL) gets its
 * gradient; *correct (may be NULL) the count of argmax hits. */
S24_API float s24_softmax_xent(const float *logits, const int *labels, int n, int classes,
                               float *dlogits, int *correct);

/* Checkpoints: F32 tensors in PyTorch's layout and names, num_batches_tracked
 * as 0-d I64, so torchvision's model loads them (load_state_dict). */
S24_API int s24_model_to_st(s24_model_t *m, struct s24_st *st);
S24_API int s24_model_from_st(s24_model_t *m, const struct s24_st *st, const char *what);
/* The tensors and metadata of s24_model_to_st, put into st (s24_st_put: the
 * buffers of its last fill reused) from index *k on, *k moved past them:
 * copied once, straight from the backend into st (the model's host copies
 * are not refreshed), with the conv weights' bytes still in the internal
 * OHWI order under their OIHW shape, for s24_st_oihw to turn, which may run
 * later on another thread (it does not touch the model). For a snapshot
 * taken every epoch without the allocations, page faults and copies of
 * s24_model_to_st. */
S24_API int s24_model_to_st_raw(s24_model_t *m, struct s24_st *st, int *k);
/* Every 4-d F32 tensor among st's tensors first .. first+n-1 turned from the
 * OHWI bytes of s24_model_to_st_raw to OIHW, in place, through *scratch (*cap
 * bytes, grown with realloc; the caller frees it). */
S24_API int s24_st_oihw(struct s24_st *st, int first, int n, float **scratch, size_t *cap);
S24_API int s24_model_save(s24_model_t *m, const char *path);
S24_API int s24_model_load(s24_model_t *m, const char *path);

#ifdef __cplusplus
}
#endif
#endif
