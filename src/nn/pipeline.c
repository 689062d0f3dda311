/* pipeline.c: the two-phase 2:4 pipeline of the paper: phase 1 trains dense;
 * masks are computed by magnitude (2:4 along input channels) for every
 * ASP-eligible weight, optionally after channel permutations; phase 2 trains
 * again from the masked trained weights (continue), the masked original
 * initialisation (rewind), a masked fresh initialisation drawn with seed + 1000
 * (reinit), or without a mask (dense, the control), with a fresh schedule and
 * fresh momentum. After every epoch the whole state (weights, buffers,
 * momentum, masks, generators, schedule step, CSV rows) is written atomically,
 * so an interrupted run resumes to the same bits as an uninterrupted one; the
 * write runs on a background thread beside the next epoch (bgwrite.c), and
 * the run keeps an account of where its wall time goes (res->times).
 * Right after the masks are applied, the pruned network is evaluated once
 * (CSV row phase 2, epoch 0) and the magnitude 2:4 keeps per layer, before
 * and after the permutation, goes to prune_report.csv: the paper's "right
 * after pruning" figures, before any retraining.
 *
 *
 * Data parallel (cfg.ranks > 1): one thread per rank (s24_comm_threads_run),
 * each with its own backend, model replica (same seed) and communicator
 * (thread ranks on the CPU, NCCL on GPUs), running the same pipeline on its
 * slice of every batch. Rank 0 alone writes files, evaluates and reports
 * progress. Every rank resumes from the same state file; rank 0's weights,
 * buffers, momentum and masks are then broadcast (also after the pruning,
 * which every rank computes from identical weights: the broadcast makes
 * rank 0's result the one even where a time-capped permutation search
 * could stop at a different point on another rank). Batch norm is
 * synchronised over the ranks (s24_model_bn_sync) unless cfg.local_bn; the
 * state records which. One rank goes through
 * the same code with the one-rank communicator: today's results, bit for bit.
 *
 * It does not parse command lines or print: cmd_train.c does that. */
#include "sparse24/sparse24_train.h"

#include "comm/buckets.h"
#include "comm/comm.h"
#include "nn/bgwrite.h"
#include "nn/dp.h"
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define STATE_FORMAT "sparse24-train-state"
#define STATE_VERSION "1"
/* The data generator (shuffle and augmentation) is seeded from the run's
 * seed mixed with this constant, so it differs from the model's stream. */
#define DATA_SEED_MIX 0x5eed0da7aull
/* reinit draws its fresh initialisation from seed + this (documented). */
#define REINIT_SEED_OFFSET 1000
/* How long a rank waits for the others at a collective. Thread ranks hear
 * of a failed rank at once, so theirs only ends a true hang, and must
 * outlast rank 0 evaluating the test set on the CPU while the others wait;
 * NCCL ranks end a peer's failure only by it, and rank 0's evaluations on
 * a GPU take seconds. */
#define RANK_DEADLINE_CPU_S 3600.0
#define RANK_DEADLINE_GPU_S 600.0

/* A copy of s24_last_error(), to format a new message around it: s24_error
 * formats into the very buffer s24_last_error() returns, and a buffer
 * formatted into itself comes out empty. Per thread, like the message. */
static const char *last_error_copy(void)
{
    static _Thread_local char why[1024];
    snprintf(why, sizeof why, "%s", s24_last_error());
    return why;
}

static const char *const strategy_names[] = {"continue", "rewind", "reinit", "dense"};

const char *s24_strategy_name(enum s24_strategy s)
{
    return (unsigned)s < 4 ? strategy_names[s] : "?";
}

int s24_strategy_parse(const char *name, enum s24_strategy *out)
{
    for (int i = 0; i < 4; i++)
        if (name && !strcmp(name, strategy_names[i])) {
            *out = (enum s24_strategy)i;
            return S24_OK;
        }
    return s24_error(S24_ERR_INVALID, "unknown strategy '%s' (continue, rewind, reinit, dense)",
                     name ? name : "(null)");
}

void s24_pipeline_defaults(struct s24_pipeline_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->arch = "smallcnn";
    c->classes = 10;
    c->epochs1 = 30;
    c->epochs2 = 30;
    c->batch = 256;
    c->eval_batch = 500;
    c->max_lr = 0.1;
    c->weight_decay = 5e-4;
    c->seed = 1;
    c->strategy = S24_STRATEGY_CONTINUE;
    c->aug.pad = 4;
    c->aug.flip = 1;
}

/* ---------------------------------------------------------------- masks */

static int masks_compute(s24_model_t *m, struct s24_sgd *o, int n, int mm)
{
    for (int i = 0; i < o->n; i++) {
        struct s24_param *p = s24_model_param(m, i);
        free(o->mask[i]);
        o->mask[i] = NULL;
        if (!p->maskable || p->is_buffer || !p->data) continue;
        o->mask[i] = malloc((size_t)p->numel);
        if (!o->mask[i]) return s24_error(S24_ERR_NOMEM, "%s: out of memory for its mask", p->name);
        int rc = s24_mask_compute(S24_F32, p->data, p->view, n, mm, o->mask[i]);
        if (rc != S24_OK) return s24_error(rc, "%s: %s", p->name, last_error_copy());
    }
    return S24_OK;
}

static void masks_apply(s24_model_t *m, struct s24_sgd *o)
{
    for (int i = 0; i < o->n; i++) {
        if (!o->mask[i]) continue;
        struct s24_param *p = s24_model_param(m, i);
        for (int64_t j = 0; j < p->numel; j++)
            if (!o->mask[i][j]) {
                p->data[j] = 0.0f;
                if (o->buf[i]) o->buf[i][j] = 0.0f;
            }
    }
}

int s24_pipeline_masks(s24_model_t *m, struct s24_sgd *o, int n, int mm)
{
    int rc = s24_model_to_host(m);
    if (rc == S24_OK) rc = s24_sgd_to_host(o);
    if (rc == S24_OK) rc = masks_compute(m, o, n, mm);
    if (rc != S24_OK) return rc;
    masks_apply(m, o);
    rc = s24_model_to_backend(m);
    return rc == S24_OK ? s24_sgd_to_backend(o) : rc;
}

int s24_pipeline_check(s24_model_t *m, const struct s24_sgd *o, int n, int mm)
{
    /* the host copies are what is checked: fetch them (the momentum too) */
    int rc0 = s24_model_to_host(m);
    if (rc0 == S24_OK) rc0 = s24_sgd_to_host((struct s24_sgd *)o);
    if (rc0 != S24_OK) return rc0;
    for (int i = 0; i < o->n; i++) {
        if (!o->mask[i]) continue;
        struct s24_param *p = s24_model_param(m, i);
        int64_t bad = 0;
        int rc = s24_mask_check(S24_F32, p->data, p->view, n, mm, &bad);
        if (rc != S24_OK)
            return s24_error(S24_ERR_NOT_SPARSE, "%s: %lld groups are not %d:%d sparse", p->name,
                             (long long)bad, n, mm);
        for (int64_t j = 0; j < p->numel; j++)
            if (!o->mask[i][j] && (p->data[j] != 0.0f || (o->buf[i] && o->buf[i][j] != 0.0f)))
                return s24_error(S24_ERR_NOT_SPARSE,
                                 "%s: pruned element %lld is non-zero (weight %g, momentum %g)",
                                 p->name, (long long)j, (double)p->data[j],
                                 o->buf[i] ? (double)o->buf[i][j] : 0.0);
    }
    return S24_OK;
}

/* Internal layout (OHWI for 4-D) to PyTorch's (OIHW); 2-D and 1-D are equal. */
static void to_torch_u8(const struct s24_param *p, const uint8_t *in, uint8_t *out)
{
    if (p->ndim != 4) {
        memcpy(out, in, (size_t)p->numel);
        return;
    }
    int64_t O = p->shape[0], I = p->shape[1], H = p->shape[2], W = p->shape[3];
    for (int64_t o = 0; o < O; o++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++)
                for (int64_t i = 0; i < I; i++)
                    out[((o * I + i) * H + h) * W + w] = in[((o * H + h) * W + w) * I + i];
}

int s24_masks_save(s24_model_t *m, const struct s24_sgd *o, const char *path)
{
    struct s24_st st;
    s24_st_init(&st);
    uint8_t *tmp = NULL;
    int rc = S24_OK;
    for (int i = 0; i < o->n; i++) {
        if (!o->mask[i]) continue;
        struct s24_param *p = s24_model_param(m, i);
        uint8_t *t = realloc(tmp, (size_t)p->numel);
        if (!t) { rc = s24_error(S24_ERR_NOMEM, "%s: out of memory", path); goto fail; }
        tmp = t;
        to_torch_u8(p, o->mask[i], tmp);
        if ((rc = s24_st_add(&st, p->name, S24_U8, p->ndim, p->shape, tmp)) != S24_OK) goto fail;
    }
    if ((rc = s24_st_meta_set(&st, "format", "sparse24-masks")) != S24_OK) goto fail;
    if ((rc = s24_st_meta_set(&st, "pattern", "2:4 along input channels (1 keep, 0 pruned)")) !=
        S24_OK)
        goto fail;
    if ((rc = s24_st_meta_set(&st, "arch", s24_model_arch(m))) != S24_OK) goto fail;
    rc = s24_st_write(path, &st);
fail:
    free(tmp);
    s24_st_free(&st);
    return rc;
}

/* ---------------------------------------------------------------- state */

/* One state snapshot, refilled in place after every epoch (s24_st_put): its
 * buffers stay allocated from one save to the next, so a save makes no
 * allocation and no page fault, and copies each tensor once (on a GPU: one
 * download into it). Those buffers are where a GPU's downloads land:
 * page-locked memory (cudaMallocHost, two to three times faster to
 * download into than pageable) would be allocated there, which needs a
 * host-memory hook in the backend table and an allocator in s24_st (today
 * its tensors are malloc'd). */
struct state_snap {
    struct s24_st st;
    int nmodel;         /* its first nmodel tensors are the model's (conv weights still OHWI) */
    float *scratch;     /* the writer's transpose buffer (s24_st_oihw) */
    size_t scratch_cap; /* its bytes */
};

struct run {
    const struct s24_pipeline_cfg *c;
    s24_backend_t *be;
    struct s24_comm *comm;  /* this rank's (one rank: the one-rank communicator) */
    struct s24_buckets bk;  /* gradient averaging over the ranks */
    int rank;               /* only rank 0 writes files and evaluates */
    struct s24_resident train, test;
    s24_model_t *m;
    struct s24_sgd o;
    struct s24_rng data_rng;
    int phase, done;        /* phase 1 or 2, epochs completed in it (phase 3: finished) */
    int64_t step;           /* schedule step within the phase */
    char *csv;
    size_t csv_len;
    double dense_acc;
    char config[1024];      /* the settings a resumed run must share */
    char dir_path[4096];
    struct s24_bgwrite bw;  /* the state write in flight (rank 0) */
    /* two snapshots: one is filled while the writer may still read the other */
    struct state_snap snap[2];
    struct s24_pipeline_times *tm; /* where the time goes (the caller's result) */
};

/* Time since t0 added to *acc; returns now, for the next part. */
static double tick(double *acc, double t0)
{
    double now = s24_now();
    *acc += now - t0;
    return now;
}

/* The state write in flight finished, before this thread writes a file of
 * its own: the output layer's calls then come in the order of a run
 * without a background write (which S24_FAULT's counts rely on), and a
 * failed state write stops the run here. */
static int writes_settled(struct run *r)
{
    double t0 = s24_now();
    int rc = s24_bgwrite_join(&r->bw);
    tick(&r->tm->state, t0);
    r->tm->state_write_s = r->bw.total_s;
    return rc;
}

static const char *out_path(struct run *r, const char *name)
{
    snprintf(r->dir_path, sizeof r->dir_path, "%s/%s", r->c->out_dir, name);
    return r->dir_path;
}

/* "fp32" or "bf16": the precision this run trains in, recorded in the state. */
static const char *precision_name(const struct run *r)
{
    return r->c->bf16 ? "bf16" : "fp32";
}

/* The writer's last touch to a snapshot, in its thread: the conv weights
 * from the internal OHWI to the file's OIHW, off the training thread. */
static int snap_prep(void *ctx, struct s24_st *st)
{
    struct state_snap *sn = ctx;
    return s24_st_oihw(st, 0, sn->nmodel, &sn->scratch, &sn->scratch_cap);
}

static void snaps_free(struct run *r)
{
    for (int k = 0; k < 2; k++) {
        s24_st_free(&r->snap[k].st);
        free(r->snap[k].scratch);
    }
}

/* A 1-d tensor of n elements of dt put at *k (s24_st_put) and bytes of src
 * copied in; *k moves past it. */
static int put_copy(struct s24_st *st, int *k, const char *name, enum s24_dtype dt, int64_t n,
                    const void *src, size_t bytes)
{
    void *d;
    int rc = s24_st_put(st, *k, name, dt, 1, &n, &d);
    if (rc != S24_OK) return rc;
    if (bytes) memcpy(d, src, bytes);
    ++*k;
    return S24_OK;
}

/* The whole state as a host snapshot (the download from the backend is
 * here, in this thread), written by the background writer while the next
 * epoch trains; train.csv after it. The snapshot is the one the writer does
 * not hold, refilled in place: the tensors, their order and the metadata
 * are those of a snapshot built afresh (the same file, byte for byte). */
static int state_save(struct run *r)
{
    char num[64];
    if (r->rank != 0) return S24_OK;
    double t0 = s24_now();
    r->tm->state_saves++;
    struct state_snap *sn = &r->snap[s24_bgwrite_holds(&r->bw, &r->snap[0].st)];
    struct s24_st *st = &sn->st;
    int k = 0, rc = s24_model_to_st_raw(r->m, st, &k);
    void *d;
    sn->nmodel = k;
    for (int i = 0; i < r->o.n && rc == S24_OK; i++) {
        struct s24_param *p = s24_model_param(r->m, i);
        char name[300];
        int64_t n = p->numel;
        if (r->o.buf[i]) {
            snprintf(name, sizeof name, "__momentum__.%s", p->name);
            rc = s24_st_put(st, k, name, S24_F32, 1, &n, &d);
            if (rc == S24_OK && (rc = s24_sgd_momentum_get(&r->o, i, d)) == S24_OK) k++;
        }
        if (rc == S24_OK && r->o.mask[i]) {
            snprintf(name, sizeof name, "__mask__.%s", p->name);
            rc = put_copy(st, &k, name, S24_U8, n, r->o.mask[i], (size_t)n);
        }
    }
    const struct s24_rng *mr = s24_model_rng(r->m);
    if (rc == S24_OK) rc = put_copy(st, &k, "__rng__.data", S24_U64, 4, r->data_rng.s, 32);
    if (rc == S24_OK) rc = put_copy(st, &k, "__rng__.model", S24_U64, 4, mr->s, 32);
    if (rc == S24_OK)
        rc = put_copy(st, &k, "__csv__", S24_U8, (int64_t)r->csv_len, r->csv, r->csv_len);
    /* the tensors of a layout before this one (phase 1 had no masks) */
    if (rc == S24_OK) s24_st_truncate(st, k);
    if (rc == S24_OK) rc = s24_st_meta_set(st, "sparse24.state", STATE_FORMAT);
    if (rc == S24_OK) rc = s24_st_meta_set(st, "sparse24.state.version", STATE_VERSION);
    if (rc == S24_OK) rc = s24_st_meta_set(st, "sparse24.state.config", r->config);
    if (rc == S24_OK) rc = s24_st_meta_set(st, "sparse24.state.precision", precision_name(r));
    snprintf(num, sizeof num, "%d", r->phase);
    if (rc == S24_OK) rc = s24_st_meta_set(st, "sparse24.state.phase", num);
    snprintf(num, sizeof num, "%d", r->done);
    if (rc == S24_OK) rc = s24_st_meta_set(st, "sparse24.state.epochs_done", num);
    snprintf(num, sizeof num, "%lld", (long long)r->step);
    if (rc == S24_OK) rc = s24_st_meta_set(st, "sparse24.state.step", num);
    snprintf(num, sizeof num, "%.17g", r->dense_acc);
    if (rc == S24_OK) rc = s24_st_meta_set(st, "sparse24.state.dense_acc", num);
    if (rc == S24_OK) {
        char st_path[sizeof r->dir_path];
        snprintf(st_path, sizeof st_path, "%s", out_path(r, "state.safetensors"));
        rc = s24_bgwrite_start(&r->bw, st_path, st, snap_prep, sn, out_path(r, "train.csv"), r->csv,
                               r->csv_len);
    }
    tick(&r->tm->state, t0);
    return rc;
}

static int meta_int(const struct s24_st *st, const char *key, const char *path, long long lo,
                    long long hi, long long *out)
{
    const char *v = s24_st_meta_get(st, key);
    char *end;
    if (!v) return s24_error(S24_ERR_FORMAT, "%s: metadata \"%s\" missing", path, key);
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < lo || x > hi)
        return s24_error(S24_ERR_FORMAT, "%s: metadata \"%s\" = \"%s\" is not in %lld..%lld", path,
                         key, v, lo, hi);
    *out = x;
    return S24_OK;
}

static int state_load(struct run *r)
{
    const char *path = out_path(r, "state.safetensors");
    struct s24_st st, view;
    s24_st_init(&view);
    int rc = s24_st_read(path, &st);
    if (rc != S24_OK) return rc;
    const char *f = s24_st_meta_get(&st, "sparse24.state"),
               *v = s24_st_meta_get(&st, "sparse24.state.version");
    const char *cfg = s24_st_meta_get(&st, "sparse24.state.config");
    if (!f || strcmp(f, STATE_FORMAT) || !v || strcmp(v, STATE_VERSION)) {
        rc = s24_error(S24_ERR_FORMAT, "%s: not a sparse24 training state (version %s)", path,
                       STATE_VERSION);
        goto fail;
    }
    /* a state without the key predates it (either precision: not refused) */
    const char *prec = s24_st_meta_get(&st, "sparse24.state.precision");
    if (prec && strcmp(prec, "fp32") && strcmp(prec, "bf16")) {
        rc = s24_error(S24_ERR_FORMAT, "%s: metadata \"sparse24.state.precision\" = \"%s\" is "
                       "neither fp32 nor bf16", path, prec);
        goto fail;
    }
    if (prec && strcmp(prec, precision_name(r))) {
        rc = s24_error(S24_ERR_INVALID,
                       "%s: written by a run in %s; this run is %s. --resume continues in the "
                       "precision it started in: add --precision %s (or start anew in another "
                       "--out)",
                       path, prec, precision_name(r), prec);
        goto fail;
    }
    if (!cfg || strcmp(cfg, r->config)) {
        rc = s24_error(S24_ERR_INVALID,
                       "%s: written by a run with other settings; --resume needs the same ones.\n"
                       "  saved: %s\n  now:   %s",
                       path, cfg ? cfg : "(none)", r->config);
        goto fail;
    }
    long long phase, done, step;
    if ((rc = meta_int(&st, "sparse24.state.phase", path, 1, 3, &phase)) != S24_OK) goto fail;
    if ((rc = meta_int(&st, "sparse24.state.epochs_done", path, 0, 1000000, &done)) != S24_OK)
        goto fail;
    if ((rc = meta_int(&st, "sparse24.state.step", path, 0, (long long)1 << 50, &step)) != S24_OK)
        goto fail;
    const char *da = s24_st_meta_get(&st, "sparse24.state.dense_acc");
    r->dense_acc = da ? strtod(da, NULL) : -1;
    /* the model's own tensors, without ours (a shallow view, not freed) */
    view.t = malloc(sizeof *view.t * (size_t)(st.n ? st.n : 1));
    if (!view.t) { rc = s24_error(S24_ERR_NOMEM, "%s: out of memory", path); goto fail; }
    for (int i = 0; i < st.n; i++)
        if (strncmp(st.t[i].name, "__", 2)) view.t[view.n++] = st.t[i];
    view.cap = view.n;
    if ((rc = s24_model_from_st(r->m, &view, path)) != S24_OK) goto fail;
    for (int i = 0; i < r->o.n; i++) {
        struct s24_param *p = s24_model_param(r->m, i);
        char name[300];
        free(r->o.mask[i]);
        r->o.mask[i] = NULL;
        if (r->o.buf[i]) {
            snprintf(name, sizeof name, "__momentum__.%s", p->name);
            struct s24_st_tensor *t = s24_st_find(&st, name);
            if (!t || t->dtype != S24_F32 || t->nbytes != sizeof(float) * (size_t)p->numel) {
                rc = s24_error(S24_ERR_FORMAT, "%s: momentum of %s missing or of the wrong size",
                               path, p->name);
                goto fail;
            }
            memcpy(r->o.buf[i], t->data, t->nbytes);
        }
        snprintf(name, sizeof name, "__mask__.%s", p->name);
        struct s24_st_tensor *t = s24_st_find(&st, name);
        if (t) {
            if (t->dtype != S24_U8 || t->nbytes != (size_t)p->numel || !p->maskable) {
                rc = s24_error(S24_ERR_FORMAT,
                               "%s: mask of %s has the wrong size or is not allowed", path,
                               p->name);
                goto fail;
            }
            if ((rc = s24_mask_check_mask(t->data, p->view, 2, 4)) != S24_OK) {
                rc = s24_error(S24_ERR_FORMAT, "%s: mask of %s is not 2:4", path, p->name);
                goto fail;
            }
            r->o.mask[i] = malloc((size_t)p->numel);
            if (!r->o.mask[i]) {
                rc = s24_error(S24_ERR_NOMEM, "%s: out of memory", path);
                goto fail;
            }
            memcpy(r->o.mask[i], t->data, (size_t)p->numel);
        }
    }
    struct s24_st_tensor *rd = s24_st_find(&st, "__rng__.data"),
                         *rm = s24_st_find(&st, "__rng__.model");
    struct s24_st_tensor *csv = s24_st_find(&st, "__csv__");
    if (!rd || !rm || !csv || rd->nbytes != 32 || rm->nbytes != 32 || csv->dtype != S24_U8 ||
        csv->nbytes < strlen(s24_csv_header) ||
        memcmp(csv->data, s24_csv_header, strlen(s24_csv_header))) {
        rc = s24_error(S24_ERR_FORMAT, "%s: generator states or CSV rows missing or malformed",
                       path);
        goto fail;
    }
    memcpy(r->data_rng.s, rd->data, 32);
    memcpy(s24_model_rng(r->m)->s, rm->data, 32);
    char *c = malloc(csv->nbytes + 1);
    if (!c) { rc = s24_error(S24_ERR_NOMEM, "%s: out of memory", path); goto fail; }
    memcpy(c, csv->data, csv->nbytes);
    c[csv->nbytes] = 0;
    free(r->csv);
    r->csv = c;
    r->csv_len = csv->nbytes;
    r->phase = (int)phase;
    r->done = (int)done;
    r->step = step;
    rc = s24_sgd_to_backend(&r->o);
fail:
    free(view.t);
    s24_st_free(&st);
    return rc;
}

/* ---------------------------------------------------------------- permutations */

/* Permute the trained model's channels; rep (may be NULL) gets the
 * permutation vectors, for moving the initialisation the same way. */
static int permute_model(struct run *r, struct s24_permute_report *rep)
{
    struct s24_st st;
    struct s24_permute_opts po;
    s24_st_init(&st);
    int rc = s24_model_to_st(r->m, &st);
    if (rc != S24_OK) goto fail;
    if (r->c->permute_opts) {
        po = *r->c->permute_opts;
    } else {
        s24_permute_opts_default(&po);
        po.seed = r->c->seed;
    }
    rc = s24_permute_checkpoint(&st, r->c->arch, &po, rep);
    if (rc == S24_OK) rc = s24_model_from_st(r->m, &st, "permuted checkpoint");
    if (rc == S24_OK && r->rank == 0) {
        double t0 = s24_now();
        rc = s24_model_save(r->m, out_path(r, "phase1_permuted.safetensors"));
        tick(&r->tm->checkpoints, t0);
    }
fail:
    s24_st_free(&st);
    return rc;
}

/* ---------------------------------------------------------------- right after pruning */

/* What 2:4 keeps of each maskable weight: in the natural channel order and
 * after the permutation (NaN without one). */
struct prune_mag {
    double total, kept, bound, kept_perm;
};

/* Magnitudes of the host weights into mg[i].total/kept/bound (perm == 0) or
 * mg[i].kept_perm (perm == 1), for every maskable parameter. */
static int prune_magnitudes(s24_model_t *m, struct prune_mag *mg, int perm)
{
    for (int i = 0; i < s24_model_num_params(m); i++) {
        struct s24_param *p = s24_model_param(m, i);
        struct s24_magnitude x;
        if (!p->maskable || p->is_buffer || !p->data) continue;
        int rc = s24_magnitude(S24_F32, p->data, p->view, 2, 4, &x);
        if (rc != S24_OK) return s24_error(rc, "%s: %s", p->name, last_error_copy());
        if (perm) {
            mg[i].kept_perm = x.kept;
        } else {
            mg[i].total = x.total;
            mg[i].kept = x.kept;
            mg[i].bound = x.row_bound;
            mg[i].kept_perm = NAN;
        }
    }
    return S24_OK;
}

/* A growing CSV text; oom set once an allocation failed. */
struct sb_csv {
    char *p;
    size_t len;
    int oom;
};

static void csv_put(struct sb_csv *b, const char *s)
{
    size_t k = strlen(s);
    char *np = b->oom ? NULL : realloc(b->p, b->len + k + 1);
    if (!np) {
        b->oom = 1;
        return;
    }
    memcpy(np + b->len, s, k + 1);
    b->p = np;
    b->len += k;
}

/* ",0.123456" or "," when part is NaN (not measured) */
static void fraction(struct sb_csv *b, double part, double whole)
{
    char num[64];
    if (isnan(part)) snprintf(num, sizeof num, ",");
    else snprintf(num, sizeof num, ",%.6f", whole > 0 ? part / whole : 0.0);
    csv_put(b, num);
}

/* One row: name,numel,magnitude,kept,kept_permuted,bound (fractions of the magnitude). */
static void report_row(struct sb_csv *b, const char *name, int64_t numel, const struct prune_mag *x)
{
    char line[400];
    snprintf(line, sizeof line, "%s,%lld,%.9g", name, (long long)numel, x->total);
    csv_put(b, line);
    fraction(b, x->kept, x->total);
    fraction(b, x->kept_perm, x->total);
    fraction(b, x->bound, x->total);
    csv_put(b, "\n");
}

/* out_dir/prune_report.csv: one row per masked weight (in the model's
 * order), then "all", the sums over them. Magnitudes are of the trained
 * weights the masks are chosen from, whatever phase 2 starts from. */
static int prune_report_write(struct run *r, const struct prune_mag *mg)
{
    struct sb_csv b = {NULL, 0, 0};
    struct prune_mag all = {0, 0, 0, r->c->permute ? 0.0 : NAN};
    int64_t numel = 0;
    csv_put(&b, "tensor,numel,magnitude,kept_fraction,kept_fraction_permuted,bound_fraction\n");
    for (int i = 0; i < r->o.n; i++) {
        if (!r->o.mask[i]) continue;
        report_row(&b, s24_model_param(r->m, i)->name, r->o.numel[i], &mg[i]);
        all.total += mg[i].total;
        all.kept += mg[i].kept;
        all.bound += mg[i].bound;
        all.kept_perm += mg[i].kept_perm;
        numel += r->o.numel[i];
    }
    report_row(&b, "all", numel, &all);
    double t0 = s24_now();
    int rc = b.oom ? s24_error(S24_ERR_NOMEM, "prune_report.csv: out of memory")
                   : s24_write_file_atomic(out_path(r, "prune_report.csv"), b.p, b.len);
    tick(&r->tm->checkpoints, t0);
    free(b.p);
    return rc;
}

/* The pruned network phase 2 starts from, evaluated before any step: row
 * (2, 0) of the CSV, lr 0 and no train figures (NaN). phase2_begin runs once
 * per run (its result is in the state saved right after it), so the row is
 * written once, also across --resume. */
static int prune_evaluate(struct run *r)
{
    struct s24_epoch_stats es = {.lr = 0, .train_loss = NAN, .train_acc = NAN};
    double t0 = s24_now();
    if (r->rank != 0) return S24_OK;
    int rc = s24_evaluate_resident(r->m, &r->test, r->c->eval_batch > 0 ? r->c->eval_batch : 500,
                                   &es.test_loss, &es.test_acc);
    if (rc != S24_OK) return rc;
    es.seconds = s24_now() - t0;
    r->tm->evals += es.seconds;
    return s24_csv_append(&r->csv, &r->csv_len, 2, 0, &es);
}

/* Phase 1 is complete (or replaced by `from`): prune and set up phase 2. */
static int phase2_begin(struct run *r)
{
    const struct s24_pipeline_cfg *c = r->c;
    int rc, masked = c->strategy != S24_STRATEGY_DENSE;
    double loss, t0 = s24_now();
    if (r->rank == 0) {
        if ((rc = writes_settled(r)) != S24_OK) return rc;
        t0 = s24_now();
        if ((rc = s24_model_save(r->m, out_path(r, "phase1.safetensors"))) != S24_OK) return rc;
        t0 = tick(&r->tm->checkpoints, t0);
        rc = s24_evaluate_resident(r->m, &r->test, c->eval_batch > 0 ? c->eval_batch : 500, &loss,
                                   &r->dense_acc);
        if (rc != S24_OK) return rc;
        t0 = tick(&r->tm->evals, t0);
    }
    /* the rest is pruning, less the files and the evaluation inside it */
    double inner0 = r->tm->checkpoints + r->tm->evals;
    int rewind_perm = c->permute && c->strategy == S24_STRATEGY_REWIND;
    struct s24_st init;
    struct s24_permute_report rep;
    struct prune_mag *mg = calloc((size_t)r->o.n + 1, sizeof *mg);
    memset(&rep, 0, sizeof rep);
    s24_st_init(&init);
    if (!mg) return s24_error(S24_ERR_NOMEM, "pipeline: out of memory");
    /* the host copy is the trained model here (phase1.safetensors was just written from it) */
    if (masked && (rc = prune_magnitudes(r->m, mg, 0)) != S24_OK) goto fail;
    if (c->permute && (rc = permute_model(r, &rep)) != S24_OK) goto fail;
    if (masked && c->permute && (rc = prune_magnitudes(r->m, mg, 1)) != S24_OK) goto fail;
    /* masks come from the trained weights, whatever phase 2 starts from */
    s24_sgd_clear_masks(&r->o);
    if (masked && (rc = masks_compute(r->m, &r->o, 2, 4)) != S24_OK) goto fail;
    if (c->strategy == S24_STRATEGY_REWIND) {
        /* every parameter and buffer back to the seed's initialisation,
         * moved by the same channel permutation as the trained weights */
        if ((rc = s24_model_reinit(r->m, c->seed)) != S24_OK) goto fail;
        if (rewind_perm) {
            if ((rc = s24_model_to_st(r->m, &init)) != S24_OK) goto fail;
            if ((rc = s24_permute_apply(&init, &rep)) != S24_OK) goto fail;
            if ((rc = s24_model_from_st(r->m, &init, "permuted initialisation")) != S24_OK)
                goto fail;
        }
    } else if (c->strategy == S24_STRATEGY_REINIT) {
        if ((rc = s24_model_reinit(r->m, c->seed + REINIT_SEED_OFFSET)) != S24_OK) goto fail;
    }
    s24_sgd_reset(&r->o);
    masks_apply(r->m, &r->o);
    if ((rc = s24_model_to_backend(r->m)) != S24_OK || (rc = s24_sgd_to_backend(&r->o)) != S24_OK)
        goto fail;
    /* rank 0's pruned model and masks on every rank, before anything is written */
    if ((rc = s24_dp_sync(r->comm, r->m, &r->o)) != S24_OK) goto fail;
    double tm0 = s24_now();
    if (masked && r->rank == 0 &&
        (rc = s24_masks_save(r->m, &r->o, out_path(r, "masks.safetensors"))) != S24_OK)
        goto fail;
    tick(&r->tm->checkpoints, tm0);
    if (masked && (rc = prune_evaluate(r)) != S24_OK) goto fail;
    if (masked && r->rank == 0 && (rc = prune_report_write(r, mg)) != S24_OK) goto fail;
    r->phase = 2;
    r->done = 0;
    r->step = 0;
fail:
    r->tm->prune += s24_now() - t0 - (r->tm->checkpoints + r->tm->evals - inner0);
    free(mg);
    s24_permute_report_free(&rep);
    s24_st_free(&init);
    return rc;
}

static int finish(struct run *r, struct s24_pipeline_result *res)
{
    double loss, t0 = s24_now();
    int rc = s24_pipeline_check(r->m, &r->o, 2, 4);
    if (rc != S24_OK) return rc;
    tick(&r->tm->prune, t0);
    if (r->rank == 0) {
        if ((rc = writes_settled(r)) != S24_OK) return rc;
        t0 = s24_now();
        if ((rc = s24_model_save(r->m, out_path(r, "phase2.safetensors"))) != S24_OK) return rc;
        t0 = tick(&r->tm->checkpoints, t0);
        rc = s24_evaluate_resident(r->m, &r->test, r->c->eval_batch > 0 ? r->c->eval_batch : 500,
                                   &loss, &res->sparse_acc);
        if (rc != S24_OK) return rc;
        tick(&r->tm->evals, t0);
    }
    r->phase = 3;
    res->finished = 1;
    return state_save(r);
}

/* The stop flag, agreed on by every rank (a signal's flag may be seen by
 * one thread and not yet by another). */
static int stop_agreed(struct run *r, int *stop)
{
    double v = r->c->stop && *r->c->stop ? 1.0 : 0.0;
    int rc = s24_dp_sum(r->comm, &v, 1);
    *stop = v > 0;
    return rc;
}

static int run_epochs(struct run *r, int epochs, int *run_count, struct s24_pipeline_result *res)
{
    const struct s24_pipeline_cfg *c = r->c;
    struct s24_onecycle sched;
    int64_t spe = (c->train->n + c->batch - 1) / c->batch;
    s24_onecycle_paper(&sched, c->max_lr, epochs, spe);
    while (r->done < epochs) {
        struct s24_epoch_cfg ec = {c->train, c->test, c->batch, c->eval_batch, c->aug, &sched,
                                   r->phase, r->done + 1, epochs, c->progress, c->progress_ctx,
                                   c->stop, &r->train, &r->test};
        struct s24_epoch_stats es;
        int rc = s24_train_epoch_ranks(r->m, &r->o, &ec, r->comm, &r->bk, &r->data_rng, &r->step,
                                       &es);
        if (rc == S24_ERR_INTERRUPTED)
            return s24_error(rc, "%s; the last completed epoch is saved in %s/state.safetensors",
                             last_error_copy(), c->out_dir);
        if (rc != S24_OK) return rc;
        if (*run_count == 0) r->tm->epoch_first = es.seconds;
        r->tm->epochs += es.seconds;
        if ((rc = s24_csv_append(&r->csv, &r->csv_len, r->phase, r->done + 1, &es)) != S24_OK)
            return rc;
        r->done++;
        if ((rc = state_save(r)) != S24_OK) return rc;
        res->epochs_run = ++*run_count;
        if (c->stop_after > 0 && *run_count >= c->stop_after &&
            !(r->phase == 2 && r->done == epochs))
            return s24_error(S24_ERR_INTERRUPTED,
                             "stopped after %d epochs as asked (phase %d epoch %d)", *run_count,
                             r->phase, r->done);
        int stop = 0;
        if ((rc = stop_agreed(r, &stop)) != S24_OK) return rc;
        if (stop)
            return s24_error(
                S24_ERR_INTERRUPTED,
                "interrupted after phase %d epoch %d; it is saved in %s/state.safetensors",
                r->phase, r->done, c->out_dir);
    }
    return S24_OK;
}

static int config_check(const struct s24_pipeline_cfg *c)
{
    if (!c->arch || !c->train || !c->test || !c->out_dir)
        return s24_error(S24_ERR_INVALID, "pipeline: arch, data and output folder are required");
    if (c->epochs1 < 0 || c->epochs2 < 0 || (c->epochs1 == 0 && !c->from) || c->epochs1 > 100000 ||
        c->epochs2 > 100000)
        return s24_error(S24_ERR_INVALID,
                         "pipeline: epochs %d + %d (phase 1 needs at least one without a "
                         "checkpoint to start from)",
                         c->epochs1, c->epochs2);
    if (c->batch <= 0 || c->batch > 65536 || c->eval_batch < 0)
        return s24_error(S24_ERR_INVALID, "pipeline: batch %d", c->batch);
    if (!(c->max_lr > 0) || !(c->weight_decay >= 0))
        return s24_error(S24_ERR_INVALID, "pipeline: learning rate %g, weight decay %g", c->max_lr,
                         c->weight_decay);
    if ((unsigned)c->strategy > S24_STRATEGY_DENSE)
        return s24_error(S24_ERR_INVALID, "pipeline: unknown strategy %d", (int)c->strategy);
    /* fail before phase 1, not after it: the permutation search knows the
     * channel spaces of these two (s24_permute_checkpoint) */
    const struct s24_arch_info *ai = s24_arch_find(c->arch);
    if (!ai) return s24_error(S24_ERR_INVALID, "pipeline: %s", last_error_copy());
    if (c->permute && !ai->permutable) {
        char list[256] = "";
        for (int i = 0; i < s24_arch_count(); i++)
            if (s24_arch_at(i)->permutable)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                         list[0] ? ", " : "", s24_arch_at(i)->name);
        return s24_error(S24_ERR_UNSUPPORTED,
                         "--permute: channel permutations are available for %s, not %s", list,
                         c->arch);
    }
    if (c->train->h != c->test->h || c->train->w != c->test->w)
        return s24_error(S24_ERR_INVALID, "pipeline: train images %dx%d, test images %dx%d",
                         c->train->h, c->train->w, c->test->h, c->test->w);
    if (c->ranks < 0 || c->ranks > 1024)
        return s24_error(S24_ERR_INVALID, "pipeline: %d ranks (1..1024)", c->ranks);
    /* every batch, the last one included, splits into equal slices: each
     * rank's mean loss then weighs its images as the global mean does */
    if (c->ranks > 1 && (c->batch % c->ranks || c->train->n % c->ranks))
        return s24_error(S24_ERR_INVALID,
                         "pipeline: %d ranks need the batch (%d) and the training images (%lld) "
                         "divisible by %d",
                         c->ranks, c->batch, (long long)c->train->n, c->ranks);
    return S24_OK;
}

/* The state write in flight finished before the run returns (whatever
 * ended it); its failure is the run's error when the run itself did not
 * fail, or stopped (then the state of the last epoch is not what the
 * interrupt message says), and is added to the run's own message else. */
static int settle_at_exit(struct run *r, int rc)
{
    char why[1024];
    snprintf(why, sizeof why, "%s", rc == S24_OK ? "" : s24_last_error());
    int wrc = writes_settled(r);
    if (wrc == S24_OK || rc == S24_OK || rc == S24_ERR_INTERRUPTED) return wrc != S24_OK ? wrc : rc;
    return s24_error(rc, "%s (and the state write before: %s)", why, last_error_copy());
}

/* The whole pipeline on one rank, on its backend with its communicator. */
static int run_rank(const struct s24_pipeline_cfg *c, s24_backend_t *be, struct s24_comm *comm,
                    struct s24_pipeline_result *res)
{
    struct run r;
    int rc, run_count = 0;
    double t0 = s24_now();
    memset(&r, 0, sizeof r);
    res->dense_acc = res->sparse_acc = -1;
    res->epochs_run = 0;
    res->finished = 0;
    r.tm = &res->times;
    s24_bgwrite_init(&r.bw);
    r.c = c;
    r.be = be;
    r.comm = comm;
    r.rank = comm->rank;
    r.dense_acc = -1;
    int e1 = c->from ? 0 : c->epochs1;
    int k = snprintf(r.config, sizeof r.config,
             "arch=%s classes=%d epochs1=%d epochs2=%d batch=%d lr=%.17g wd=%.17g seed=%llu "
             "strategy=%s permute=%d from=%s aug=%d,%d train=%lldx%dx%d test=%lld",
             c->arch, c->classes, e1, c->epochs2, c->batch, c->max_lr, c->weight_decay,
             (unsigned long long)c->seed, s24_strategy_name(c->strategy), c->permute,
             c->from ? c->from : "-", c->aug.pad, c->aug.flip, (long long)c->train->n,
             c->train->h, c->train->w, (long long)c->test->n);
    /* a resume continues with the same ranks and the same batch norm
     * (local BN depends on the ranks; sync and local BN differ). One rank
     * writes what it always wrote, and local BN what it wrote before sync
     * BN existed, so older states still resume */
    int sync_bn = comm->size > 1 && !c->local_bn;
    if (comm->size > 1 && k > 0 && (size_t)k < sizeof r.config)
        snprintf(r.config + k, sizeof r.config - (size_t)k, " ranks=%d%s", comm->size,
                 sync_bn ? " bn=sync" : "");
    if ((rc = s24_model_create(c->arch, c->classes, c->seed, r.be, &r.m)) != S24_OK) goto fail;
    if (sync_bn && (rc = s24_model_bn_sync(r.m, comm)) != S24_OK) goto fail;
    if ((rc = s24_sgd_init(&r.o, r.m, (float)c->weight_decay)) != S24_OK) goto fail;
    if ((rc = s24_buckets_init(&r.bk, r.m, comm, 0)) != S24_OK) goto fail;
    if ((rc = s24_resident_init(&r.train, r.be, c->train)) != S24_OK) goto fail;
    if ((rc = s24_resident_init(&r.test, r.be, c->test)) != S24_OK) goto fail;
    s24_rng_seed(&r.data_rng, c->seed ^ DATA_SEED_MIX);
    r.phase = 1;
    r.csv_len = strlen(s24_csv_header);
    r.csv = malloc(r.csv_len + 1);
    if (!r.csv) { rc = s24_error(S24_ERR_NOMEM, "pipeline: out of memory"); goto fail; }
    memcpy(r.csv, s24_csv_header, r.csv_len + 1);
    if (c->resume) {
        if ((rc = state_load(&r)) != S24_OK) goto fail;
    } else {
        if (r.rank == 0) {
            t0 = tick(&r.tm->setup, t0);
            if ((rc = s24_model_save(r.m, out_path(&r, "init.safetensors"))) != S24_OK) goto fail;
            t0 = tick(&r.tm->checkpoints, t0);
        }
        if (c->from && (rc = s24_model_load(r.m, c->from)) != S24_OK) goto fail;
    }
    /* every rank starts from rank 0's state (built or loaded the same way anyway) */
    if ((rc = s24_dp_sync(comm, r.m, &r.o)) != S24_OK) goto fail;
    tick(&r.tm->setup, t0);
    if (!c->resume && (rc = state_save(&r)) != S24_OK) goto fail;
    if (r.phase == 1) {
        if ((rc = run_epochs(&r, e1, &run_count, res)) != S24_OK) goto fail;
        if ((rc = phase2_begin(&r)) != S24_OK) goto fail;
        /* without phase-2 epochs finish() saves the state next, at once: a
         * run stopped before that resumes from phase 1's last epoch and
         * prunes again, to the same bits */
        if (c->epochs2 > 0 && (rc = state_save(&r)) != S24_OK) goto fail;
    }
    res->dense_acc = r.dense_acc;
    if (r.phase == 2 && (rc = run_epochs(&r, c->epochs2, &run_count, res)) != S24_OK) goto fail;
    rc = finish(&r, res);
fail:
    rc = settle_at_exit(&r, rc);
    t0 = s24_now();
    snaps_free(&r);
    free(r.csv);
    s24_buckets_free(&r.bk);
    if (r.m) s24_sgd_free(&r.o);
    s24_resident_free(&r.train);
    s24_resident_free(&r.test);
    s24_model_free(r.m);
    tick(&r.tm->teardown, t0);
    return rc;
}

/* What the rank threads share: the configuration, the NCCL id rank 0's
 * side made before they started, and rank 0's result. */
struct ranks_job {
    const struct s24_pipeline_cfg *c;
    struct s24_comm_id id;
    double deadline_s;
    struct s24_pipeline_result res;
};

static int rank_main(struct s24_comm_group *g, int rank, void *arg)
{
    struct ranks_job *j = arg;
    struct s24_pipeline_cfg c = *j->c;
    struct s24_pipeline_result mine;
    s24_backend_t *be = NULL;
    struct s24_comm *comm = NULL;
    struct s24_pipeline_result *res = rank == 0 ? &j->res : &mine;
    if (rank != 0) c.progress = NULL; /* one report per step, rank 0's */
    memset(&mine, 0, sizeof mine);
    int cuda = c.device == S24_DEVICE_CUDA;
    double t0 = s24_now();
    int rc = s24_backend_create(c.device, cuda ? c.gpu + rank : 0, &be);
    if (rc == S24_OK && c.bf16) rc = s24_backend_set_precision(be, S24_BF16);
    if (rc == S24_OK)
        rc = cuda ? s24_comm_nccl_init(be, rank, j->c->ranks, &j->id, j->deadline_s, &comm)
                  : s24_comm_thread_init(g, rank, be, &comm);
    tick(&res->times.setup, t0);
    if (rc == S24_OK) rc = run_rank(&c, be, comm, res);
    if (rc != S24_OK && rc != S24_ERR_INTERRUPTED && comm)
        s24_comm_abort(comm, rc, s24_last_error());
    t0 = s24_now();
    s24_comm_free(comm);
    s24_backend_free(be);
    tick(&res->times.teardown, t0);
    return rc;
}

static int run_ranks(const struct s24_pipeline_cfg *c, struct s24_pipeline_result *res)
{
    struct ranks_job j;
    int cuda = c->device == S24_DEVICE_CUDA, threads = s24_threads_get(), rc = S24_OK;
    memset(&j, 0, sizeof j);
    j.c = c;
    j.deadline_s = cuda ? RANK_DEADLINE_GPU_S : RANK_DEADLINE_CPU_S;
    j.res.dense_acc = j.res.sparse_acc = -1;
    /* the id of rank 0's communicator, made here for it: the ranks are
     * threads of this process, so it reaches them in memory */
    if (cuda && (rc = s24_comm_nccl_id(&j.id)) != S24_OK)
        return s24_error(rc, "--gpus %d: %s", c->ranks, last_error_copy());
    struct s24_rank_result *rr = calloc((size_t)c->ranks, sizeof *rr);
    if (!rr) return s24_error(S24_ERR_NOMEM, "pipeline: out of memory");
    /* CPU ranks share the cores: threads/ranks kernel threads each (the
     * knob is global; it is restored after) */
    if (!cuda) s24_threads_set(threads / c->ranks > 0 ? threads / c->ranks : 1);
    double t0 = s24_now();
    rc = s24_comm_threads_run(c->ranks, j.deadline_s, rank_main, &j, rr);
    j.res.times.total = s24_now() - t0;
    if (!cuda) s24_threads_set(threads);
    /* rank 0's own words when it is the cause (a stop, a write that
     * failed), else the launcher's, which names the rank that failed first */
    if (rc != S24_OK && rr[0].status == rc) rc = s24_error(rc, "%s", rr[0].msg);
    *res = j.res;
    free(rr);
    return rc;
}

int s24_pipeline_run(const struct s24_pipeline_cfg *c, struct s24_pipeline_result *res)
{
    s24_backend_t *be = NULL;
    struct s24_comm *comm = NULL;
    double t_start = s24_now(), t0 = t_start;
    memset(res, 0, sizeof *res);
    res->dense_acc = res->sparse_acc = -1;
    int rc = config_check(c);
    if (rc != S24_OK) return rc;
    if (c->ranks > 1) return run_ranks(c, res);
    if ((rc = s24_backend_create(c->device, c->gpu, &be)) == S24_OK && c->bf16)
        rc = s24_backend_set_precision(be, S24_BF16);
    if (rc == S24_OK) rc = s24_comm_one_init(be, &comm);
    tick(&res->times.setup, t0);
    if (rc == S24_OK) rc = run_rank(c, be, comm, res);
    t0 = s24_now();
    s24_comm_free(comm);
    s24_backend_free(be);
    tick(&res->times.teardown, t0);
    res->times.total = s24_now() - t_start;
    return rc;
}
