/* sparse24_train.h: the training side of sparse24: datasets (CIFAR-10 binary
 * files and a built-in synthetic set), batches with augmentation, SGD with
 * PyTorch's semantics, PyTorch's OneCycleLR schedule, an epoch trainer with a
 * per-epoch CSV and resumable state, and the two-phase 2:4 pipeline (dense,
 * prune, retrain with a strategy).
 *
 * It does not define models or layers (sparse24_nn.h does) and it never
 * prints: progress goes to a caller-supplied callback, errors to
 * s24_last_error(). Images are held as bytes (n, h, w, 3) and become NHWC
 * float32 only when a batch is built. */
#ifndef SPARSE24_TRAIN_H
#define SPARSE24_TRAIN_H

#include <signal.h>

#include "sparse24/sparse24_api.h"
#include "sparse24/sparse24.h"
#include "sparse24/sparse24_nn.h"
#include "sparse24/sparse24_permute.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- datasets */
struct s24_dataset {
    int64_t n;         /* images */
    int h, w;          /* image size; channels are always 3 (RGB) */
    int classes;       /* labels are in [0, classes) */
    uint8_t *images;   /* images: (n, h, w, 3) HWC bytes */
    uint8_t *labels;   /* labels: (n) */
};
S24_API void s24_dataset_init(struct s24_dataset *d);
S24_API void s24_dataset_free(struct s24_dataset *d);
/* Keep only the first n images (n >= d->n leaves it unchanged). */
S24_API void s24_dataset_truncate(struct s24_dataset *d, int64_t n);

/* One file of the official CIFAR-10 binary format (records of 1 label byte and
 * 3072 bytes of R, G, B planes), appended to `out` (which may be empty). */
S24_API int s24_cifar10_read_file(const char *path, struct s24_dataset *out);
/* dir/data_batch_1..5.bin (train != 0) or dir/test_batch.bin. */
S24_API int s24_cifar10_load(const char *dir, int train, struct s24_dataset *out);

/* The built-in synthetic 10-class set: procedurally drawn shapes and textures
 * at a random place, scale, colour and contrast with pixel noise. Image i
 * depends only on (seed, train/test, i). */
struct s24_synth_cfg {
    int size;          /* image height = width (8 .. 64) */
    int64_t n_train, n_test;
    uint64_t seed;
    float noise;       /* pixel noise standard deviation, in 0..255 units */
};
S24_API void s24_synth_default(struct s24_synth_cfg *c); /* 32x32, 10000/2000, seed 7 */
S24_API int s24_synth_make(const struct s24_synth_cfg *c, int train, struct s24_dataset *out);
/* Name of a synthetic class (for messages and docs). */
S24_API const char *s24_synth_class_name(int label);

/* ---------------------------------------------------------------- batches */
/* CIFAR-10 channel mean and std (applied to pixel/255). */
S24_API extern const float s24_cifar_mean[3], s24_cifar_std[3];

struct s24_augment {
    int pad;   /* random crop to the image size after zero padding by `pad` (0: none) */
    int flip;  /* horizontal flip with probability 0.5 */
};
/* x: (n, h, w, 3) NHWC float, normalised; labels: (n). idx: the n images.
 * Random draws (crop offsets, then flip, per image in order) come from r;
 * r may be NULL when aug is NULL or all-zero. */
S24_API int s24_batch_fill(const struct s24_dataset *d, const int64_t *idx, int n,
                           const struct s24_augment *aug, struct s24_rng *r, float *x, int *labels);
/* The random draws of s24_batch_fill without building the batch:
 * draws (n, 4) = image index, crop row offset, crop column offset (each in
 * 0..2*pad), flip; per image in order, so any backend builds the same batch. */
S24_API int s24_batch_draw(const struct s24_dataset *d, const int64_t *idx, int n,
                           const struct s24_augment *aug, struct s24_rng *r, int32_t *draws);
/* Fisher-Yates shuffle of idx[0..n) with r. */
S24_API void s24_shuffle(int64_t *idx, int64_t n, struct s24_rng *r);

/* ---------------------------------------------------------------- optimiser */
/* PyTorch SGD (dampening 0, no Nesterov) on one tensor:
 *   g += wd * p;  buf = mu * buf + g;  p -= lr * buf
 * (buf starts at zero, which equals PyTorch's "buf = g" on the first step). */
S24_API void s24_sgd_update(float *p, const float *g, float *buf, int64_t n, float lr, float mu,
                            float wd);

/* torch.optim.lr_scheduler.OneCycleLR with three_phase False: phase 1 rises
 * from max_lr/div_factor to max_lr over pct_start*total_steps - 1 steps, phase
 * 2 falls to max_lr/(div_factor*final_div_factor) at total_steps - 1; cosine or
 * linear interpolation; momentum cycles the other way. */
struct s24_onecycle {
    double max_lr, div_factor, final_div_factor, pct_start;
    double base_momentum, max_momentum;
    int64_t total_steps;
    int cycle_momentum;
    int anneal_linear;  /* 0: 'cos' (PyTorch's default), 1: 'linear' */
};
/* The paper's settings: div_factor 1e5, pct_start 1/epochs, the rest PyTorch's defaults. */
S24_API void s24_onecycle_paper(struct s24_onecycle *s, double max_lr, int epochs,
                                int64_t steps_per_epoch);
/* lr and momentum used by optimiser step `step` (0-based; the first step uses
 * step 0, as PyTorch after construction). S24_ERR_INVALID past total_steps. */
S24_API int s24_onecycle_at(const struct s24_onecycle *s, int64_t step, double *lr,
                            double *momentum);

/* ---------------------------------------------------------------- trainer */
/* Momentum buffers and 2:4 masks for every trainable parameter of a model,
 * on the model's backend. buf and mask are the host copies (what the
 * pipeline edits and saves); bbuf and bmask the backend's (aliases on the
 * CPU). After editing the host copies call s24_sgd_to_backend; before
 * reading them after training, s24_sgd_to_host. */
struct s24_sgd {
    int n;               /* = s24_model_num_params */
    float **buf;         /* buf[i]: numel of param i (NULL for buffers) */
    uint8_t **mask;      /* mask[i]: numel, internal layout; NULL = unmasked */
    int64_t *numel;      /* numel[i] of param i */
    float weight_decay;
    s24_backend_t *be;   /* the model's */
    float **bbuf;        /* the backend's momentum buffers */
    uint8_t **bmask;     /* the backend's masks */
    float *hyper;        /* {lr, momentum} of the step, backend memory */
};
S24_API int s24_sgd_init(struct s24_sgd *o, s24_model_t *m, float weight_decay);
S24_API void s24_sgd_free(struct s24_sgd *o);
S24_API void s24_sgd_reset(struct s24_sgd *o); /* zero every momentum buffer (host and backend) */
S24_API void s24_sgd_clear_masks(struct s24_sgd *o); /* host and backend */
S24_API int s24_sgd_to_backend(struct s24_sgd *o);
S24_API int s24_sgd_to_host(struct s24_sgd *o);
/* Parameter i's momentum (numel[i] floats) copied into dst straight from
 * the backend (one download on a GPU; buf[i] is not refreshed). */
S24_API int s24_sgd_momentum_get(const struct s24_sgd *o, int i, float *dst);
/* One step on every parameter: mask the gradient, update, then mask the
 * weight and its momentum buffer (so pruned entries stay exactly zero). */
S24_API int s24_sgd_step(struct s24_sgd *o, s24_model_t *m, float lr, float momentum);
/* s24_sgd_step in its two halves: the learning rate and momentum sent to
 * the backend (host), then the update (backend work only, reading them
 * there, so a replayed step graph takes each step's values). */
S24_API int s24_sgd_hyper(struct s24_sgd *o, float lr, float momentum);
S24_API int s24_sgd_apply(struct s24_sgd *o, s24_model_t *m);

/* A data set resident in a backend's memory, uploaded once (on the CPU the
 * host arrays themselves). */
struct s24_resident {
    s24_backend_t *be;
    const struct s24_dataset *d;
    uint8_t *images;     /* (n, h, w, 3) */
    uint8_t *labels;     /* (n) */
    int owned;           /* allocated on the backend (not the host arrays) */
};
S24_API int s24_resident_init(struct s24_resident *r, s24_backend_t *be,
                              const struct s24_dataset *d);
S24_API void s24_resident_free(struct s24_resident *r);

struct s24_progress {
    int phase;           /* 1 or 2 */
    int epoch, epochs;   /* 1-based epoch of this phase, and the phase's total */
    int64_t batch, batches;
    double loss, acc;    /* running means over the epoch so far */
    double images_per_s;
    int epoch_done;      /* 1 once per epoch, after evaluation */
    double test_loss, test_acc; /* valid when epoch_done */
};
typedef void (*s24_progress_fn)(void *ctx, const struct s24_progress *p);

struct s24_epoch_stats {
    double lr;                       /* lr of the epoch's last step */
    double train_loss, train_acc;    /* means over the epoch's images */
    double test_loss, test_acc;
    double seconds;                  /* wall time of training + evaluation */
};

/* Evaluation mode (running statistics), no augmentation, batches of `batch`. */
S24_API int s24_evaluate(s24_model_t *m, const struct s24_dataset *d, int batch, double *loss,
                         double *acc);
/* The same on a resident data set (on the model's backend). */
S24_API int s24_evaluate_resident(s24_model_t *m, const struct s24_resident *r, int batch,
                                  double *loss, double *acc);

/* One epoch over `train`: shuffle with r, augment with r, SGD with the
 * schedule from *step on (advanced by the steps taken). stop (may be NULL) is
 * polled between batches: when set the epoch is abandoned with
 * S24_ERR_INTERRUPTED (the model is then mid-epoch and should be discarded). */
struct s24_epoch_cfg {
    const struct s24_dataset *train, *test;
    int batch, eval_batch;
    struct s24_augment aug;
    const struct s24_onecycle *sched;
    int phase, epoch, epochs;       /* only for progress reports */
    s24_progress_fn progress;
    void *progress_ctx;
    volatile sig_atomic_t *stop;
    /* the data sets resident on the model's backend (NULL: uploaded for
     * this call; keep them across epochs to upload once) */
    const struct s24_resident *train_res, *test_res;
};
S24_API int s24_train_epoch(s24_model_t *m, struct s24_sgd *o, const struct s24_epoch_cfg *c,
                            struct s24_rng *r, int64_t *step, struct s24_epoch_stats *st);
/* How many steps of m's last training epoch ran as a replayed graph (a CUDA
 * graph; on by default on the GPU, S24_TRAIN_GRAPH=0 turns it off, =1 on
 * the CPU too), and where none did, why (len bytes; "" when some did). The
 * first full step of an epoch and its short last batch run plainly. */
S24_API int64_t s24_train_graphed(const s24_model_t *m, char *why, size_t len);

/* The CSV written per epoch (header line, then one row per epoch). */
S24_API extern const char s24_csv_header[]; /* "phase,epoch,lr,train_loss,..." + "\n" */
/* Append one row to a growing text buffer (*buf realloc'd, *len updated). */
S24_API int s24_csv_append(char **buf, size_t *len, int phase, int epoch,
                           const struct s24_epoch_stats *st);

/* ---------------------------------------------------------------- pipeline */
enum s24_strategy {
    S24_STRATEGY_CONTINUE = 0, /* masked trained weights (ASP, Mishra et al.) */
    S24_STRATEGY_REWIND,       /* masked original initialisation */
    S24_STRATEGY_REINIT,       /* masked fresh initialisation, seed + 1000 */
    S24_STRATEGY_DENSE,        /* phase 2 without a mask (the control) */
};
S24_API const char *s24_strategy_name(enum s24_strategy s);
S24_API int s24_strategy_parse(const char *name, enum s24_strategy *out);

struct s24_pipeline_cfg {
    const char *arch;            /* a registry name (s24_arch_find) */
    enum s24_device device;      /* where to train (S24_DEVICE_CPU by default) */
    int gpu;                     /* GPU ordinal for S24_DEVICE_CUDA (rank 0's with ranks) */
    int bf16;                    /* 1: the GPU's bf16 mixed mode (s24_backend_set_precision) */
    int ranks;                   /* data-parallel ranks, one thread each (0 or 1: one rank,
                                  * the single-device run). CUDA: rank r on GPU gpu + r, NCCL;
                                  * CPU: thread ranks with their own CPU backends and
                                  * threads/ranks kernel threads each (for testing the
                                  * data-parallel path). The batch and the training images
                                  * must divide by it; rank 0 alone writes files, evaluates
                                  * and reports progress. */
    int local_bn;                /* with ranks > 1: batch norm over each rank's share of the
                                  * batch only (local BN); 0 (the default): its statistics
                                  * and gradient sums all-reduced over the ranks (sync BN),
                                  * which matches one device at the same global batch */
    int classes;
    const struct s24_dataset *train, *test;
    int epochs1, epochs2;        /* phase 1 and phase 2 epochs (phase 1 ignored with `from`) */
    int batch, eval_batch;       /* 256 and 500 by default */
    double max_lr, weight_decay; /* 0.1 and 5e-4 */
    uint64_t seed;
    enum s24_strategy strategy;
    int permute;                 /* channel permutations before masking */
    const struct s24_permute_opts *permute_opts; /* NULL: defaults, seeded with `seed` */
    const char *from;            /* trained dense checkpoint: skip phase 1 (or NULL) */
    struct s24_augment aug;
    const char *out_dir;         /* must exist */
    int resume;                  /* continue from out_dir/state.safetensors */
    int stop_after;              /* testing aid: stop after this many epochs in this run (0: no) */
    s24_progress_fn progress;
    void *progress_ctx;
    volatile sig_atomic_t *stop; /* set by a signal handler: stop cleanly */
};
S24_API void s24_pipeline_defaults(struct s24_pipeline_cfg *c);

/* Where one s24_pipeline_run call's wall time went, in seconds (rank 0's
 * with ranks). The parts do not overlap; what they leave of `total` is
 * time between them (the CSV and progress, s24_train_epoch's own set-up
 * before its clock starts). state_write_s ran on a background thread, beside
 * the next epoch: it is not a part of `total` but what the saves would have
 * cost had the run waited for them. */
struct s24_pipeline_times {
    double total;         /* the whole call, backend created to backend freed */
    double setup;         /* backend, model, optimiser, data upload, --resume's state read */
    double epochs;        /* the epochs trained: the sum of their train.csv `seconds` */
    double epoch_first;   /* the first of them (cuDNN's searches, warm-up), part of `epochs` */
    double state;         /* state saves as waited for: host snapshot (GPU download) + the
                           * wait for the previous write */
    double state_write_s; /* the writes of state.safetensors and train.csv themselves */
    int state_saves;      /* how many */
    double checkpoints;   /* init, phase1(_permuted), masks, phase2 safetensors, prune_report */
    double evals;         /* evaluations outside the epochs (end of phase 1, right after
                           * pruning, end of phase 2) */
    double prune;         /* permutation search, masks, rewind / reinit, the 2:4 check */
    double teardown;      /* freeing the model, data and backend */
};

struct s24_pipeline_result {
    double dense_acc, sparse_acc;  /* test accuracy at the end of phase 1 / phase 2 (-1 if not
                                    * run) */
    int epochs_run;                /* epochs trained by this call */
    int finished;                  /* 1 when both phases are complete */
    struct s24_pipeline_times times; /* where the call's wall time went */
};
/* Runs (or resumes) the whole pipeline. Files in out_dir: train.csv,
 * init.safetensors, phase1.safetensors, masks.safetensors (U8, PyTorch layout),
 * phase2.safetensors, state.safetensors (resumable state, rewritten atomically
 * after each epoch). With masks, train.csv has a row (phase 2, epoch 0, lr 0,
 * NaN train figures) for the pruned network before any retraining, and
 * prune_report.csv the magnitude 2:4 keeps per layer (before and after the
 * permutation). S24_ERR_INTERRUPTED when stopped by `stop` or `stop_after`. */
S24_API int s24_pipeline_run(const struct s24_pipeline_cfg *c, struct s24_pipeline_result *res);

/* Masks of every maskable parameter by magnitude (n:m along input channels),
 * in o->mask, and applied to the weights and momentum buffers. */
S24_API int s24_pipeline_masks(s24_model_t *m, struct s24_sgd *o, int n, int mm);
/* Every masked weight checked n:m (s24_mask_check); S24_ERR_NOT_SPARSE names the first bad one. */
S24_API int s24_pipeline_check(s24_model_t *m, const struct s24_sgd *o, int n, int mm);
/* Masks as a safetensors file: U8, PyTorch layout, the weight's name. */
S24_API int s24_masks_save(s24_model_t *m, const struct s24_sgd *o, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* SPARSE24_TRAIN_H */
