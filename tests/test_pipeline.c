/* test_pipeline.c: the two-phase pipeline end to end on tiny synthetic
 * settings: what each strategy starts phase 2 from (checked exactly with zero
 * phase-2 epochs), masks invariant through phase 2 on weights and momentum,
 * the masks file, checkpoint round trip, resume after a stop (by epoch count
 * and by the interrupt flag) equal to an uninterrupted run bit for bit, a
 * refused resume with other settings, the evaluation right after pruning
 * (the CSV's phase-2 epoch-0 row, written once also across a resume) and
 * prune_report.csv, and the train/eval/plot commands. */
#include "t.h"

#include <sys/stat.h>
#include <unistd.h>

#include "sparse24/sparse24_nn.h"
#include "sparse24/sparse24_train.h"

static struct s24_dataset train, test;

static void base_cfg(struct s24_pipeline_cfg *c, const char *dir)
{
    s24_pipeline_defaults(c);
    c->arch = "smallcnn";
    c->train = &train;
    c->test = &test;
    c->epochs1 = 1;
    c->epochs2 = 1;
    c->batch = 32;
    c->eval_batch = 50;
    c->seed = 3;
    c->aug.pad = 2;
    c->out_dir = dir;
}

static const char *file_in(const char *dir, const char *name)
{
    static char buf[8][700];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, 700, "%s/%s", dir, name);
    return b;
}

/* 1 if two safetensors files hold the same tensors with the same bytes */
static int same_tensors(const char *a, const char *b, const char *skip_prefix)
{
    struct s24_st x, y;
    if (s24_st_read(a, &x) != S24_OK) return 0;
    if (s24_st_read(b, &y) != S24_OK) { s24_st_free(&x); return 0; }
    int same = x.n == y.n;
    for (int i = 0; same && i < x.n; i++) {
        if (skip_prefix && !strncmp(x.t[i].name, skip_prefix, strlen(skip_prefix))) continue;
        struct s24_st_tensor *t = s24_st_find(&y, x.t[i].name);
        same = t && t->nbytes == x.t[i].nbytes && memcmp(t->data, x.t[i].data, t->nbytes) == 0;
        if (!same) fprintf(stderr, "  tensor %s differs between %s and %s\n", x.t[i].name, a, b);
    }
    s24_st_free(&x);
    s24_st_free(&y);
    return same;
}

/* the CSV without its last (wall-clock seconds) column */
static char *csv_no_time(const char *path)
{
    uint8_t *d;
    size_t n;
    if (s24_read_file(path, &d, &n) != S24_OK) return NULL;
    char *out = malloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && d[e] != '\n') e++;
        size_t cut = e;
        while (cut > i && d[cut - 1] != ',') cut--;
        memcpy(out + o, d + i, cut > i ? cut - i : e - i);
        o += cut > i ? cut - i : e - i;
        out[o++] = '\n';
        i = e + 1;
    }
    out[o] = 0;
    free(d);
    return out;
}

/* a model loaded from a checkpoint file (NULL on failure) */
static s24_model_t *load(const char *path)
{
    s24_model_t *m = NULL;
    if (s24_model_create("smallcnn", 10, 99, NULL, &m) != S24_OK) return NULL;
    if (s24_model_load(m, path) != S24_OK) {
        fprintf(stderr, "%s\n", s24_last_error());
        s24_model_free(m);
        return NULL;
    }
    return m;
}

/* The "2,0,..." rows of a train.csv (the pruned network before retraining):
 * their number; *acc gets the first one's test_acc. Such a row must read
 * lr 0 and NaN train figures; a malformed one counts as -100. */
static int epoch0_rows(const char *path, double *acc)
{
    uint8_t *d;
    size_t n;
    int count = 0;
    if (s24_read_file(path, &d, &n) != S24_OK) return -100;
    char *text = realloc(d, n + 1);
    text[n] = 0;
    for (char *line = text; line && *line;) {
        char *next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (!strncmp(line, "2,0,", 4)) {
            double loss = -1, a = -1;
            int k = 0;
            if (sscanf(line, "2,0,0,nan,nan,%lf,%lf,%*f%n", &loss, &a, &k) < 2 || line[k] ||
                !(loss > 0) || !(a >= 0 && a <= 100))
                count -= 100;
            if (count == 0) *acc = a;
            count++;
        }
        line = next;
    }
    free(text);
    return count;
}

/* Maskable weights of a fresh model of arch (what the pipeline masks). */
static int maskable_count(const char *arch)
{
    s24_model_t *m = NULL;
    int k = 0;
    if (s24_model_create(arch, 10, 1, NULL, &m) != S24_OK) return -1;
    for (int i = 0; i < s24_model_num_params(m); i++) k += s24_model_param(m, i)->maskable;
    s24_model_free(m);
    return k;
}

/* Split a line at its commas in place (fields may be empty); the field count. */
static int split_fields(char *line, char **f, int max)
{
    int k = 0;
    for (char *p = line; k < max; p++) {
        if (p == line || p[-1] == 0) f[k++] = p;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = 0;
        p = c;
    }
    return k;
}

/* prune_report.csv: the header, one row per masked weight with 0.5 <= kept
 * <= bound <= 1 (permuted: kept <= kept_permuted <= bound; else empty), and
 * a last row "all" whose numel is the sum. Returns the weight rows, -1 if bad. */
static int check_report(const char *path, int permuted)
{
    uint8_t *d;
    size_t n;
    int rows = 0, bad = 0, all = 0;
    long long numel_sum = 0;
    static const char head[] =
        "tensor,numel,magnitude,kept_fraction,kept_fraction_permuted,bound_fraction\n";
    if (s24_read_file(path, &d, &n) != S24_OK) return -1;
    char *text = realloc(d, n + 1);
    text[n] = 0;
    if (strncmp(text, head, strlen(head))) bad++;
    for (char *line = text + strlen(head); !bad && *line;) {
        char *next = strchr(line, '\n'), *f[7];
        if (!next) { bad++; break; }
        *next++ = 0;
        if (split_fields(line, f, 7) != 6) { bad++; break; }
        long long numel = strtoll(f[1], NULL, 10);
        double mag = strtod(f[2], NULL), kept = strtod(f[3], NULL), bound = strtod(f[5], NULL);
        if (!(numel > 0 && mag > 0 && kept >= 0.5 && kept <= bound + 1e-9 && bound <= 1)) bad++;
        if (permuted) {
            double kp = strtod(f[4], NULL);
            if (!f[4][0] || kp < kept - 1e-6 || kp > bound + 1e-6) bad++;
        } else if (f[4][0]) {
            bad++;
        }
        if (!strcmp(f[0], "all")) {
            all++;
            if (numel != numel_sum || *next) bad++;
        } else {
            rows++;
            numel_sum += numel;
        }
        if (bad) fprintf(stderr, "  %s: bad row of %s\n", path, f[0]);
        line = next;
    }
    free(text);
    return bad || all != 1 ? -1 : rows;
}

/* expect(phase2 start) = masked(ref) for every tensor; masks from `trained` */
static void check_start(const char *dir, s24_model_t *ref, const char *what)
{
    s24_model_t *p1 = load(file_in(dir, "phase1.safetensors"));
    s24_model_t *p2 = load(file_in(dir, "phase2.safetensors"));
    struct s24_st masks;
    int dense = !strcmp(what, "dense");
    CHECK(p1 && p2, "%s", what);
    if (!p1 || !p2) return;
    int has_masks = s24_st_read(file_in(dir, "masks.safetensors"), &masks) == S24_OK;
    CHECK(has_masks != dense, "%s: masks file %s", what, has_masks ? "present" : "missing");
    int bad = 0, masked = 0;
    for (int i = 0; i < s24_model_num_params(p2); i++) {
        struct s24_param *a = s24_model_param(p2, i), *r = s24_model_param(ref, i);
        struct s24_param *t = s24_model_param(p1, i);
        if (a->kind == S24_B_NUM_BATCHES) continue;
        uint8_t *mk = NULL;
        if (a->maskable && !dense) {
            mk = malloc((size_t)a->numel);
            s24_mask_compute(S24_F32, t->data, t->view, 2, 4, mk); /* from the trained weights */
            masked++;
            /* the file holds PyTorch layout; check it against the weight's zeros there */
            struct s24_st_tensor *mt = has_masks ? s24_st_find(&masks, a->name) : NULL;
            CHECK(mt && mt->dtype == S24_U8 && (int64_t)mt->nbytes == a->numel, "%s: mask of %s",
                  what, a->name);
            int64_t ones = 0;
            for (int64_t j = 0; mt && j < a->numel; j++) ones += ((uint8_t *)mt->data)[j];
            CHECK(ones * 2 == a->numel, "%s: %s mask keeps %lld of %lld", what, a->name,
                  (long long)ones, (long long)a->numel);
        }
        for (int64_t j = 0; j < a->numel; j++) {
            float want = (mk && !mk[j]) ? 0.0f : r->data[j];
            if (memcmp(&a->data[j], &want, sizeof want)) bad++;
        }
        free(mk);
    }
    CHECK(bad == 0, "%s: %d values differ from the expected phase-2 start", what, bad);
    CHECK(dense || masked >= 2, "%s: only %d masked weights", what, masked);
    if (has_masks) s24_st_free(&masks);
    s24_model_free(p1);
    s24_model_free(p2);
}

static void test_strategies(void)
{
    const char *names[] = {"continue", "rewind", "reinit", "dense"};
    for (int s = 0; s < 4; s++) {
        struct s24_pipeline_cfg c;
        struct s24_pipeline_result res;
        char dname[64];
        snprintf(dname, sizeof dname, "start_%s", names[s]);
        const char *dir = t_subdir(dname);
        base_cfg(&c, dir);
        c.epochs2 = 0; /* phase2.safetensors is then exactly the phase-2 start */
        CHECK_OK(s24_strategy_parse(names[s], &c.strategy));
        CHECK_OK(s24_pipeline_run(&c, &res));
        CHECK(res.finished && res.epochs_run == 1 && res.dense_acc >= 0 && res.sparse_acc >= 0);
        /* right after pruning: one epoch-0 row, the network phase2.safetensors
         * holds (no phase-2 epochs), and the kept magnitude of every masked weight */
        double acc0 = -1;
        int rows0 = epoch0_rows(file_in(dir, "train.csv"), &acc0);
        if (s == 3) {
            CHECK(rows0 == 0, "dense: %d epoch-0 rows", rows0);
            CHECK(access(file_in(dir, "prune_report.csv"), F_OK) != 0, "dense: prune_report.csv");
        } else {
            CHECK(rows0 == 1, "%s: %d epoch-0 rows", names[s], rows0);
            CHECK_NEAR(acc0, res.sparse_acc, 5e-5);
            int nrep = check_report(file_in(dir, "prune_report.csv"), 0);
            CHECK(nrep == maskable_count("smallcnn") && nrep >= 2, "%s: %d report rows", names[s],
                  nrep);
        }
        s24_model_t *ref = NULL;
        if (s == 0 || s == 3) ref = load(file_in(dir, "phase1.safetensors"));
        if (s == 1) ref = load(file_in(dir, "init.safetensors"));
        if (s == 2) s24_model_create("smallcnn", 10, c.seed + 1000, NULL, &ref);
        CHECK(ref != NULL);
        if (ref) check_start(dir, ref, names[s]);
        /* the init file is the seed's model */
        if (s == 1) {
            s24_model_t *fresh = NULL;
            CHECK_OK(s24_model_create("smallcnn", 10, c.seed, NULL, &fresh));
            int bad = 0;
            for (int i = 0; fresh && ref && i < s24_model_num_params(fresh); i++) {
                struct s24_param *a = s24_model_param(fresh, i), *b = s24_model_param(ref, i);
                if (a->data && memcmp(a->data, b->data, sizeof(float) * (size_t)a->numel)) bad++;
            }
            CHECK(bad == 0, "init.safetensors differs from a fresh model of the seed in %d tensors",
                  bad);
            s24_model_free(fresh);
        }
        s24_model_free(ref);
    }
}

/* phase 2 for two epochs: pruned weights and momentum stay exactly zero */
static void test_masks_invariant(void)
{
    const char *dir = t_subdir("invariant");
    struct s24_pipeline_cfg c;
    struct s24_pipeline_result res;
    base_cfg(&c, dir);
    c.epochs2 = 2;
    c.strategy = S24_STRATEGY_REWIND;
    CHECK_OK(s24_pipeline_run(&c, &res));
    struct s24_st st, masks;
    CHECK_OK(s24_st_read(file_in(dir, "state.safetensors"), &st));
    CHECK_OK(s24_st_read(file_in(dir, "masks.safetensors"), &masks));
    s24_model_t *p2 = load(file_in(dir, "phase2.safetensors"));
    CHECK(p2 != NULL);
    int nmasked = 0, bad = 0, moved = 0;
    for (int i = 0; p2 && i < s24_model_num_params(p2); i++) {
        struct s24_param *p = s24_model_param(p2, i);
        char name[300];
        snprintf(name, sizeof name, "__mask__.%s", p->name);
        struct s24_st_tensor *mk = s24_st_find(&st, name);
        snprintf(name, sizeof name, "__momentum__.%s", p->name);
        struct s24_st_tensor *mo = s24_st_find(&st, name);
        CHECK(!!mk == !!p->maskable, "%s: mask in state %s", p->name, mk ? "present" : "missing");
        CHECK(!!mo == !p->is_buffer, "%s: momentum", p->name);
        if (!mk || !mo) continue;
        nmasked++;
        const uint8_t *m = mk->data;
        const float *b = mo->data;
        CHECK_OK(s24_mask_check_mask(m, p->view, 2, 4));
        CHECK_OK(s24_mask_check(S24_F32, p->data, p->view, 2, 4, NULL));
        for (int64_t j = 0; j < p->numel; j++) {
            if (!m[j] && (p->data[j] != 0.0f || b[j] != 0.0f)) bad++;
            if (m[j] && b[j] != 0.0f) moved++;
        }
        /* the public masks file: PyTorch layout, the same masks */
        struct s24_st_tensor *pub = s24_st_find(&masks, p->name);
        CHECK(pub && pub->ndim == p->ndim &&
              !memcmp(pub->shape, p->shape, sizeof(int64_t) * (size_t)p->ndim));
        if (pub && p->ndim == 4) {
            int64_t O = p->shape[0], I = p->shape[1], H = p->shape[2], W = p->shape[3], diff = 0;
            for (int64_t o = 0; o < O; o++)
                for (int64_t ii = 0; ii < I; ii++)
                    for (int64_t h = 0; h < H; h++)
                        for (int64_t w = 0; w < W; w++)
                            diff += ((uint8_t *)pub->data)[((o * I + ii) * H + h) * W + w] !=
                                    m[((o * H + h) * W + w) * I + ii];
            CHECK(diff == 0, "%s: masks file and state disagree in %lld places", p->name,
                  (long long)diff);
        }
    }
    CHECK(nmasked >= 2 && bad == 0 && moved > 0, "masked %d, non-zero pruned %d, live momentum %d",
          nmasked, bad, moved);
    /* phase 1 weights were dense */
    s24_model_t *p1 = load(file_in(dir, "phase1.safetensors"));
    int dense_ok = 0;
    for (int i = 0; p1 && i < s24_model_num_params(p1); i++) {
        struct s24_param *p = s24_model_param(p1, i);
        if (p->maskable &&
            s24_mask_check(S24_F32, p->data, p->view, 2, 4, NULL) == S24_ERR_NOT_SPARSE)
            dense_ok++;
    }
    CHECK(dense_ok >= 2, "phase 1 weights are not dense");
    s24_model_free(p1);
    s24_model_free(p2);
    s24_st_free(&st);
    s24_st_free(&masks);
}

static void test_roundtrip(void)
{
    s24_model_t *a = NULL, *b = NULL;
    CHECK_OK(s24_model_create("smallcnn", 10, 17, NULL, &a));
    CHECK_OK(s24_model_create("smallcnn", 10, 18, NULL, &b));
    const char *path = file_in(t_tmpdir(), "roundtrip.safetensors");
    CHECK_OK(s24_model_save(a, path));
    CHECK_OK(s24_model_load(b, path));
    int bad = 0;
    for (int i = 0; i < s24_model_num_params(a); i++) {
        struct s24_param *p = s24_model_param(a, i), *q = s24_model_param(b, i);
        if (p->data && memcmp(p->data, q->data, sizeof(float) * (size_t)p->numel)) bad++;
        if (p->count && *p->count != *q->count) bad++;
    }
    CHECK(bad == 0, "%d tensors differ after save/load", bad);
    s24_model_free(a);
    s24_model_free(b);
}

static volatile sig_atomic_t flag;
static int stop_epoch, stop_batch;

static void stopper(void *ctx, const struct s24_progress *p)
{
    (void)ctx;
    if (!p->epoch_done && p->phase == 2 && p->epoch == stop_epoch && p->batch == stop_batch)
        flag = 1;
}

static void test_resume(void)
{
    const char *full = t_subdir("full"), *cut = t_subdir("cut"), *sig = t_subdir("sig");
    struct s24_pipeline_cfg c;
    struct s24_pipeline_result res;
    base_cfg(&c, full);
    c.epochs1 = 2;
    c.epochs2 = 2;
    c.strategy = S24_STRATEGY_REINIT;
    CHECK_OK(s24_pipeline_run(&c, &res));
    /* stopped after 1, then 2 more (crossing into phase 2), then the rest */
    c.out_dir = cut;
    c.stop_after = 1;
    CHECK(s24_pipeline_run(&c, &res) == S24_ERR_INTERRUPTED);
    CHECK(res.epochs_run == 1 && !res.finished);
    c.resume = 1;
    c.stop_after = 2;
    CHECK(s24_pipeline_run(&c, &res) == S24_ERR_INTERRUPTED);
    CHECK(strstr(s24_last_error(), "phase 2") != NULL, "%s", s24_last_error());
    c.stop_after = 0;
    CHECK_OK(s24_pipeline_run(&c, &res));
    CHECK(res.finished && res.epochs_run == 1);
    CHECK(same_tensors(file_in(full, "phase2.safetensors"), file_in(cut, "phase2.safetensors"),
                       NULL));
    CHECK(same_tensors(file_in(full, "state.safetensors"), file_in(cut, "state.safetensors"),
                       "__csv__"));
    char *a = csv_no_time(file_in(full, "train.csv")), *b = csv_no_time(file_in(cut, "train.csv"));
    CHECK(a && b && !strcmp(a, b), "CSV differs:\n%s\nvs\n%s", a ? a : "", b ? b : "");
    double acc0;
    CHECK(epoch0_rows(file_in(full, "train.csv"), &acc0) == 1);
    CHECK(epoch0_rows(file_in(cut, "train.csv"), &acc0) == 1);
    /* a stop in the middle of phase 2's second epoch (the signal path) */
    base_cfg(&c, sig);
    c.epochs1 = 2;
    c.epochs2 = 2;
    c.strategy = S24_STRATEGY_REINIT;
    stop_epoch = 2;
    stop_batch = 2;
    c.stop = &flag;
    c.progress = stopper;
    CHECK(s24_pipeline_run(&c, &res) == S24_ERR_INTERRUPTED);
    CHECK(res.epochs_run == 3, "%d epochs before the interrupt", res.epochs_run);
    CHECK(strstr(s24_last_error(), "state.safetensors") != NULL, "%s", s24_last_error());
    /* the reason is kept in front of the message (not formatted into itself) */
    CHECK(strstr(s24_last_error(), "interrupted in phase 2 epoch 2") != NULL, "%s",
          s24_last_error());
    flag = 0;
    c.progress = NULL;
    c.resume = 1;
    CHECK_OK(s24_pipeline_run(&c, &res));
    CHECK(same_tensors(file_in(full, "phase2.safetensors"), file_in(sig, "phase2.safetensors"),
                       NULL));
    char *d = csv_no_time(file_in(sig, "train.csv"));
    CHECK(a && d && !strcmp(a, d));
    CHECK(epoch0_rows(file_in(sig, "train.csv"), &acc0) == 1);
    free(a);
    free(b);
    free(d);
    /* resume with other settings is refused and names the difference */
    c.epochs2 = 3;
    CHECK(s24_pipeline_run(&c, &res) == S24_ERR_INVALID);
    CHECK(strstr(s24_last_error(), "epochs2=3") != NULL, "%s", s24_last_error());
    /* resume where there is no state */
    base_cfg(&c, t_subdir("empty"));
    c.resume = 1;
    CHECK(s24_pipeline_run(&c, &res) == S24_ERR_IO);
    /* bad settings */
    base_cfg(&c, t_subdir("bad"));
    c.batch = 0;
    CHECK(s24_pipeline_run(&c, &res) == S24_ERR_INVALID);
    base_cfg(&c, t_subdir("bad"));
    c.permute = 1; /* smallcnn: refused before any training */
    CHECK(s24_pipeline_run(&c, &res) == S24_ERR_UNSUPPORTED && res.epochs_run == 0);
    base_cfg(&c, t_subdir("bad"));
    c.arch = "lenet";
    CHECK(s24_pipeline_run(&c, &res) != S24_OK);
}

/* A stop right at the phase boundary (after phase 1's last epoch, before
 * the masks): the resumed run prunes, evaluates and writes the epoch-0 row
 * then, once, and ends with the uninterrupted run's bits. */
static void test_resume_boundary(void)
{
    const char *full = t_subdir("bnd_full"), *cut = t_subdir("bnd_cut");
    struct s24_pipeline_cfg c;
    struct s24_pipeline_result res;
    double acc_full = -1, acc_cut = -2;
    base_cfg(&c, full);
    c.epochs1 = 2;
    c.epochs2 = 1;
    CHECK_OK(s24_pipeline_run(&c, &res));
    c.out_dir = cut;
    c.stop_after = 2;
    CHECK(s24_pipeline_run(&c, &res) == S24_ERR_INTERRUPTED);
    CHECK(epoch0_rows(file_in(cut, "train.csv"), &acc_cut) == 0, "no epoch-0 row before the masks");
    CHECK(access(file_in(cut, "prune_report.csv"), F_OK) != 0);
    c.stop_after = 0;
    c.resume = 1;
    CHECK_OK(s24_pipeline_run(&c, &res));
    CHECK(epoch0_rows(file_in(full, "train.csv"), &acc_full) == 1);
    CHECK(epoch0_rows(file_in(cut, "train.csv"), &acc_cut) == 1);
    CHECK(acc_full == acc_cut, "%g vs %g", acc_full, acc_cut);
    CHECK(same_tensors(file_in(full, "state.safetensors"), file_in(cut, "state.safetensors"),
                       "__csv__"));
    char *a = csv_no_time(file_in(full, "train.csv")), *b = csv_no_time(file_in(cut, "train.csv"));
    CHECK(a && b && !strcmp(a, b), "CSV differs:\n%s\nvs\n%s", a ? a : "", b ? b : "");
    free(a);
    free(b);
    char *r1 = csv_no_time(file_in(full, "prune_report.csv"));
    char *r2 = csv_no_time(file_in(cut, "prune_report.csv"));
    CHECK(r1 && r2 && !strcmp(r1, r2), "prune reports differ");
    free(r1);
    free(r2);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* rewind + --permute on ResNet18 (the permutation search knows its channel
 * spaces): the phase-2 start is the initialisation with the trained
 * network's channel permutation applied, then masked. Each unmasked tensor
 * must hold exactly the initial values (a permutation of them), each masked
 * one a subset, and the permutation must have moved something. */
static void test_rewind_permute(void)
{
    struct s24_synth_cfg sc;
    struct s24_dataset tr, te;
    s24_synth_default(&sc);
    sc.size = 8;
    sc.n_train = 16;
    sc.n_test = 8;
    CHECK_OK(s24_synth_make(&sc, 1, &tr));
    CHECK_OK(s24_synth_make(&sc, 0, &te));
    const char *dir = t_subdir("rewind_permute");
    struct s24_pipeline_cfg c;
    struct s24_pipeline_result res;
    struct s24_permute_opts po;
    s24_pipeline_defaults(&c);
    c.arch = "resnet18";
    c.train = &tr;
    c.test = &te;
    c.epochs1 = 1;
    c.epochs2 = 0;
    c.batch = 8;
    c.seed = 2;
    c.strategy = S24_STRATEGY_REWIND;
    c.permute = 1;
    s24_permute_opts_default(&po);
    po.escapes = 0;     /* a short, deterministic search is enough here */
    po.max_moves = 20;
    c.permute_opts = &po;
    c.out_dir = dir;
    CHECK_OK(s24_pipeline_run(&c, &res));
    struct s24_st init, p2, masks;
    CHECK_OK(s24_st_read(file_in(dir, "init.safetensors"), &init));
    CHECK_OK(s24_st_read(file_in(dir, "phase2.safetensors"), &p2));
    CHECK_OK(s24_st_read(file_in(dir, "masks.safetensors"), &masks));
    CHECK(access(file_in(dir, "phase1_permuted.safetensors"), F_OK) == 0);
    double acc0;
    CHECK(epoch0_rows(file_in(dir, "train.csv"), &acc0) == 1);
    int nrep = check_report(file_in(dir, "prune_report.csv"), 1);
    CHECK(nrep == maskable_count("resnet18"), "%d report rows", nrep);
    int moved = 0, bad = 0, nmask = 0;
    for (int i = 0; i < p2.n; i++) {
        struct s24_st_tensor *a = &p2.t[i], *b = s24_st_find(&init, a->name);
        if (!b || b->nbytes != a->nbytes) { bad++; continue; }
        if (a->dtype != S24_F32) continue;
        size_t n = a->nbytes / 4;
        float *x = malloc(a->nbytes), *y = malloc(a->nbytes);
        memcpy(x, a->data, a->nbytes);
        memcpy(y, b->data, a->nbytes);
        moved += memcmp(x, y, a->nbytes) != 0;
        qsort(x, n, 4, cmp_float);
        qsort(y, n, 4, cmp_float);
        if (s24_st_find(&masks, a->name)) {
            /* kept values: a sub-multiset of the initial ones */
            nmask++;
            size_t j = 0;
            for (size_t k = 0; k < n; k++) {
                if (x[k] == 0.0f) continue;
                while (j < n && y[j] < x[k]) j++;
                if (j == n || y[j] != x[k]) { bad++; break; }
                j++;
            }
        } else if (memcmp(x, y, a->nbytes)) {
            bad++;
            fprintf(stderr, "  %s: not a permutation of its initial values\n", a->name);
        }
        free(x);
        free(y);
    }
    CHECK(bad == 0 && nmask > 10 && moved > nmask, "bad %d, masked %d, moved %d", bad, nmask,
          moved);
    s24_st_free(&init);
    s24_st_free(&p2);
    s24_st_free(&masks);
    s24_dataset_free(&tr);
    s24_dataset_free(&te);
}

/* EfficientNet-B0 draws dropout and stochastic depth from the model's
 * generator: its state must survive a resume too. */
static void test_resume_dropout(void)
{
    struct s24_synth_cfg sc;
    struct s24_dataset tr, te;
    s24_synth_default(&sc);
    sc.size = 8;
    sc.n_train = 16;
    sc.n_test = 8;
    CHECK_OK(s24_synth_make(&sc, 1, &tr));
    CHECK_OK(s24_synth_make(&sc, 0, &te));
    const char *full = t_subdir("effnet_full"), *cut = t_subdir("effnet_cut");
    struct s24_pipeline_cfg c;
    struct s24_pipeline_result res;
    s24_pipeline_defaults(&c);
    c.arch = "efficientnet_b0";
    c.train = &tr;
    c.test = &te;
    c.epochs1 = 2;
    c.epochs2 = 1;
    c.batch = 8;
    c.seed = 4;
    c.strategy = S24_STRATEGY_CONTINUE;
    c.out_dir = full;
    CHECK_OK(s24_pipeline_run(&c, &res));
    c.out_dir = cut;
    c.stop_after = 1;
    CHECK(s24_pipeline_run(&c, &res) == S24_ERR_INTERRUPTED);
    c.stop_after = 0;
    c.resume = 1;
    CHECK_OK(s24_pipeline_run(&c, &res));
    CHECK(same_tensors(file_in(full, "phase2.safetensors"), file_in(cut, "phase2.safetensors"),
                       NULL));
    /* and the masks hold on a model with depthwise and SE convs */
    s24_model_t *m = NULL;
    CHECK_OK(s24_model_create("efficientnet_b0", 10, 1, NULL, &m));
    int masked = 0, bad = 0;
    if (m && s24_model_load(m, file_in(cut, "phase2.safetensors")) == S24_OK)
        for (int i = 0; i < s24_model_num_params(m); i++) {
            struct s24_param *p = s24_model_param(m, i);
            if (!p->maskable) continue;
            masked++;
            bad += s24_mask_check(S24_F32, p->data, p->view, 2, 4, NULL) != S24_OK;
        }
    CHECK(masked > 10 && bad == 0, "%d masked weights, %d not 2:4", masked, bad);
    s24_model_free(m);
    s24_dataset_free(&tr);
    s24_dataset_free(&te);
}

static int sh(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_cli(void)
{
    const char *cli = getenv("S24_CLI");
    if (!cli) {
        printf("test_pipeline: S24_CLI not set, CLI checks skipped\n");
        return;
    }
    const char *dir = t_subdir("cli"), *tmp = t_tmpdir();
    const char *small =
        "--model smallcnn --data synthetic --synthetic-size 12 --synthetic-train 96 "
        "--synthetic-test 40 --batch 32 --seed 5";
    CHECK(sh("%s train --help > /dev/null", cli) == 0);
    CHECK(sh("%s eval --help > /dev/null", cli) == 0);
    CHECK(sh("%s plot --help > /dev/null", cli) == 0);
    CHECK(sh("%s train --model nope --epochs 1 --out %s 2>/dev/null", cli, dir) == 2);
    CHECK(sh("%s train --model smallcnn --epochs 1 2>/dev/null", cli) == 2);
    CHECK(sh("%s train --model smallcnn --epochs 1 --out %s --strategy sideways 2>/dev/null", cli,
             dir) == 2);
    CHECK(sh("%s train --model smallcnn --epochs 1 --out %s --permute-budget 1 2>/dev/null", cli,
             dir) == 2);
    CHECK(
        sh("%s train --model smallcnn --epochs 1 --out %s --permute --permute-budget x 2>/dev/null",
           cli, dir) == 2);
    CHECK(sh("%s train --model smallcnn --epochs 1 --out %s --data %s/nothere 2>%s/err.txt", cli,
             dir, tmp, tmp) == 1);
    CHECK(sh("grep -q data_batch_1.bin %s/err.txt", tmp) == 0);
    CHECK(sh("%s train %s --epochs 1 --phase2-epochs 1 --stop-after 1 --out %s 2>%s/err.txt", cli,
             small, dir, tmp) == 1);
    CHECK(sh("grep -q resume %s/err.txt", tmp) == 0);
    CHECK(sh("%s train %s --epochs 1 --phase2-epochs 1 --out %s 2>/dev/null", cli, small,
             dir) == 1); /* exists */
    CHECK(sh("%s train %s --epochs 1 --phase2-epochs 1 --out %s --resume > %s/out.txt 2>/dev/null",
             cli, small, dir, tmp) == 0);
    CHECK(sh("grep -q '2:4 test accuracy' %s/out.txt", tmp) == 0);
    CHECK(sh("%s eval --model smallcnn --checkpoint %s/phase2.safetensors --data synthetic "
             "--synthetic-size 12 --synthetic-test 40 > %s/eval.txt 2>/dev/null",
             cli, dir, tmp) == 0);
    CHECK(sh("grep -q 'test accuracy' %s/eval.txt && grep -q '2:4 sparse weights: 2 of 2' "
             "%s/eval.txt",
             tmp, tmp) == 0);
    CHECK(sh("%s eval --model smallcnn --checkpoint %s/nothere.safetensors 2>/dev/null", cli,
             dir) == 1);
    /* --from: phase 1 skipped, the CSV holds phase-2 rows only */
    const char *from = t_subdir("cli_from");
    CHECK(
        sh("%s train %s --from %s/phase1.safetensors --phase2-epochs 1 --strategy rewind --out %s "
           ">/dev/null 2>&1",
           cli, small, dir, from) == 0);
    CHECK(sh("test $(grep -c '^2,[1-9]' %s/train.csv) = 1 && "
             "test $(grep -c '^1,' %s/train.csv) = 0", from, from) == 0);
    CHECK(sh("test $(grep -c '^2,0,0,nan,nan,' %s/train.csv) = 1 && test -f %s/prune_report.csv",
             from, from) == 0);
    CHECK(sh("%s train %s --from %s/nothere.safetensors --phase2-epochs 1 --out %s/x 2>/dev/null",
             cli, small, dir, from) == 1);
    CHECK(sh("%s plot %s/train.csv %s/train.csv -o %s/fig.svg --label a=*cli* > /dev/null", cli,
             dir, dir, tmp) == 0);
    CHECK(sh("grep -q '<svg' %s/fig.svg && grep -q 'polyline' %s/fig.svg && grep -q '(n=2' "
             "%s/fig.svg",
             tmp, tmp, tmp) == 0);
    CHECK(sh("printf 'phase,epoch,test_acc\\n1,1,x\\n' > %s/bad.csv && %s plot %s/bad.csv -o "
             "%s/bad.svg 2>/dev/null",
             tmp, cli, tmp, tmp) == 1);
    CHECK(access(file_in(tmp, "bad.svg"), F_OK) != 0);
    CHECK(sh("%s plot %s/train.csv 2>/dev/null", cli, dir) == 2);

    /* a real SIGINT: clean exit 1 with a resume hint, then --resume gives the
     * uninterrupted run's bits (if the run beat the signal, it is simply done) */
    const char *run =
        "--model smallcnn --data synthetic --synthetic-size 16 --synthetic-train 3000 "
        "--synthetic-test 100 --batch 32 --seed 9 --epochs 2 --phase2-epochs 1 "
        "--threads 1";
    const char *full = t_subdir("cli_full"), *intr = t_subdir("cli_int");
    CHECK(sh("%s train %s --out %s 2>/dev/null >/dev/null", cli, run, full) == 0);
    int rc =
        sh("%s train %s --out %s 2>%s/int.txt >/dev/null & p=$!; sleep 1; kill -INT $p; wait $p",
           cli, run, intr, tmp);
    CHECK(rc == 0 || (rc == 1 && sh("grep -q -- --resume %s/int.txt", tmp) == 0),
          "exit %d after SIGINT", rc);
    printf("test_pipeline: SIGINT run exited %d (%s)\n", rc,
           rc == 1 ? "interrupted, resumed" : "finished first");
    if (rc == 1)
        CHECK(sh("%s train %s --out %s --resume 2>/dev/null >/dev/null", cli, run, intr) == 0);
    CHECK(same_tensors(file_in(full, "phase2.safetensors"), file_in(intr, "phase2.safetensors"),
                       NULL));
    char *a = csv_no_time(file_in(full, "train.csv")), *b = csv_no_time(file_in(intr, "train.csv"));
    CHECK(a && b && !strcmp(a, b));
    free(a);
    free(b);
    /* a state that is not one */
    CHECK(sh("cp %s/phase2.safetensors %s/state.safetensors && %s train %s --out %s --resume "
             "2>%s/bad.txt",
             full, intr, cli, run, intr, tmp) == 1);
    CHECK(sh("grep -q 'not a sparse24 training state' %s/bad.txt", tmp) == 0);
}

/* The grid's scripts (docs/experiments.md) on the CPU with smallcnn and tiny
 * sizes: scripts/gpu/exp_group.sh runs phase 1 and four phase-2 runs from its
 * checkpoint and packs them; a second call reuses phase 1 and the finished
 * runs; scripts/exp.sh records them in runs.csv and summary.csv and plans the
 * rest. Needs bash, tar and python3 (skipped without them). */
static void test_exp_scripts(const char *cli)
{
    if (access("scripts/gpu/exp_group.sh", X_OK) != 0 ||
        sh("command -v python3 tar bash >/dev/null") != 0) {
        printf("test_pipeline: exp_group.sh, python3, tar or bash missing: grid scripts skipped\n");
        return;
    }
    const char *d = t_subdir("exp");
    char env[2048];
    snprintf(env, sizeof env,
             "env EXP_DEVICE=cpu EXP_DATA=synthetic EXP_EPOCHS1=2 EXP_EPOCHS2=1 EXP_EPOCHS_SHORT=1 "
             "EXP_MODEL_ARGS='--synthetic-size 12 --synthetic-train 96 --synthetic-test 40 "
             "--batch 32' EXP_THREADS=1 S24=%s EXP_DIR=%s/runs RESULTS=%s/res MODELS=smallcnn "
             "SEEDS=7 GIT_COMMIT=t1",
             cli, d, d);
    const char *grp = "scripts/gpu/exp_group.sh smallcnn 7";
    CHECK(sh("%s scripts/gpu/exp_group.sh nomodel 1 2>/dev/null", env) == 2);
    CHECK(sh("%s EXP_PART=3/2 %s 2>/dev/null", env, grp) == 2);
    CHECK(sh("%s EXP_RUNS=sideways %s 2>/dev/null", env, grp) == 2);
    CHECK(sh("%s scripts/exp.sh init > /dev/null", env) == 0);
    CHECK(sh("test $(grep -c '^smallcnn,7,' %s/res/runs.csv) = 8 && "
             "test $(grep -c ',pending,' %s/res/runs.csv) = 8", d, d) == 0);
    /* EXP_PART 1/2 of four runs: continue and reinit */
    CHECK(sh("%s OUT=%s/out1 EXP_RUNS='continue rewind reinit dense_control' EXP_PART=1/2 %s "
             "> %s/call1.txt 2>&1", env, d, grp, d) == 0);
    CHECK(sh("grep -q 'phase 1: done 2 (fresh)' %s/call1.txt && "
             "ls %s/out1/exp_smallcnn_s7_*.tar.gz %s/out1/summary_smallcnn_s7_*.txt > /dev/null",
             d, d, d) == 0);
    CHECK(sh("t=$(ls %s/out1/exp_smallcnn_s7_*.tar.gz) && "
             "tar tzf $t | grep -q 'smallcnn_s7/continue/prune_report.csv' && "
             "! tar tzf $t | grep -q -e safetensors -e rewind", d) == 0);
    /* the second call reuses phase 1 and the done run, trains the others */
    CHECK(sh("%s OUT=%s/out2 EXP_RUNS='continue rewind dense_control continue_10' %s "
             "> %s/call2.txt 2>&1", env, d, grp, d) == 0);
    CHECK(sh("grep -q 'phase 1: done 2 (reused)' %s/call2.txt", d) == 0);
    CHECK(sh("grep -q '^smallcnn,7,continue,1,done,1,,reused,' %s/runs/smallcnn_s7/manifest.csv",
             d) == 0);
    CHECK(sh("%s scripts/exp.sh ingest %s/out1 %s/out2 > %s/ingest.txt 2>&1", env, d, d, d) == 0);
    CHECK(sh("grep -q 'kept the earlier done run' %s/ingest.txt", d) == 0);
    /* runs.csv: six done with the command that ran, two pending */
    CHECK(sh("test $(grep -c ',done,t1,' %s/res/runs.csv) = 6 && "
             "test $(grep -c ',pending,' %s/res/runs.csv) = 2", d, d) == 0);
    CHECK(sh("grep '^smallcnn,7,rewind,' %s/res/runs.csv | "
             "grep -q -- '--strategy rewind --out %s/runs/smallcnn_s7/rewind'", d, d) == 0);
    /* summary.csv: the epoch-0 accuracy where a mask was applied, empty where not */
    CHECK(sh("head -n 1 %s/res/summary.csv | "
             "grep -qx 'model,strategy,seed,epochs,acc_after_prune,final_acc,best_acc' && "
             "test $(grep -c '^smallcnn,' %s/res/summary.csv) = 6", d, d) == 0);
    CHECK(sh("grep -q '^smallcnn,dense_phase1,7,2,,' %s/res/summary.csv && "
             "grep -q '^smallcnn,dense_control,7,1,,' %s/res/summary.csv && "
             "grep -Eq '^smallcnn,continue,7,1,[0-9.]+,[0-9.]+,[0-9.]+$' %s/res/summary.csv",
             d, d, d) == 0);
    CHECK(sh("test -f %s/res/smallcnn_s7/continue/train.csv && "
             "test -f %s/res/smallcnn_s7/continue/prune_report.csv", d, d) == 0);
    /* the plan names what is left */
    CHECK(sh("%s scripts/exp.sh plan 2>/dev/null | "
             "grep -q \"EXP_RUNS='continue_perm rewind_perm' %s\"", env, grp) == 0);
    /* the figures and the doc's tables: SVGs drawn by the CLI (no PNG: CI
     * has no converter), the tables written between the doc's markers only,
     * n in each cell, summary.csv left as it was (one row per run) */
    CHECK(sh("printf '# grid\\nprose before\\n<!-- BEGIN generated: summary -->\\nold\\n"
             "<!-- END generated: summary -->\\nprose between\\n"
             "<!-- BEGIN generated: after-pruning -->\\n<!-- END generated: after-pruning -->\\n"
             "prose after\\n' > %s/doc.md && cp %s/res/summary.csv %s/summary.before",
             d, d, d) == 0);
    CHECK(sh("%s DOC=%s/doc.md PNG=0 scripts/exp.sh plots > %s/plots.txt 2>&1", env, d, d) == 0);
    CHECK(sh("test -s %s/res/smallcnn.svg && test -s %s/res/smallcnn_fig3.svg && "
             "test -s %s/res/smallcnn_fig4.svg && ! ls %s/res/*.png 2>/dev/null", d, d, d, d) == 0);
    CHECK(sh("grep -q '^| continue | 1 | [0-9.]* (n=1) | [0-9.]* (n=1) | [0-9.]* (n=1) |$' "
             "%s/doc.md && grep -q '^| dense_phase1 | 2 | - | ' %s/doc.md && "
             "grep -qx 'prose between' %s/doc.md && grep -qx 'prose after' %s/doc.md && "
             "! grep -qx old %s/doc.md && cmp -s %s/res/summary.csv %s/summary.before",
             d, d, d, d, d, d, d) == 0);
    /* the phase-1 curve once per figure, and a second run gives the same doc */
    CHECK(sh("grep -c '>dense_phase1 (n=1' %s/res/smallcnn_fig3.svg | grep -qx 1 && "
             "cp %s/doc.md %s/doc.first && %s DOC=%s/doc.md PNG=0 scripts/exp.sh plots "
             "> /dev/null 2>&1 && cmp -s %s/doc.md %s/doc.first", d, d, d, env, d, d, d) == 0);
    /* a doc without the markers is refused, not appended to */
    CHECK(sh("echo '# no markers' > %s/bare.md && ! %s DOC=%s/bare.md PNG=0 scripts/exp.sh plots "
             "> %s/bare.txt 2>&1 && grep -q 'BEGIN generated: summary' %s/bare.txt && "
             "test \"$(cat %s/bare.md)\" = '# no markers'", d, env, d, d, d, d) == 0);
    CHECK(sh("%s DOC=%s/doc.md PNG=maybe scripts/exp.sh plots > /dev/null 2>&1", env, d) != 0);
    /* a call without the time to train stops cleanly and says so */
    CHECK(sh("%s OUT=%s/out3 DEADLINE=10 EXP_DIR=%s/runs3 %s > /dev/null 2>&1", env, d, d, grp) ==
          1);
    CHECK(sh("grep -q ',dense_phase1,2,pending,' %s/runs3/smallcnn_s7/manifest.csv", d) == 0);
}

int main(int argc, char **argv)
{
    t_passive_omp(argc, argv); /* see t.h */
    struct s24_synth_cfg sc;
    s24_synth_default(&sc);
    sc.size = 12;
    sc.n_train = 96;
    sc.n_test = 40;
    s24_threads_set(2);
    if (s24_synth_make(&sc, 1, &train) != S24_OK || s24_synth_make(&sc, 0, &test) != S24_OK) {
        fprintf(stderr, "%s\n", s24_last_error());
        return 1;
    }
    test_roundtrip();
    test_strategies();
    test_masks_invariant();
    test_resume();
    test_resume_boundary();
    test_rewind_permute();
    test_resume_dropout();
    test_cli();
    if (getenv("S24_CLI")) test_exp_scripts(getenv("S24_CLI"));
    s24_dataset_free(&train);
    s24_dataset_free(&test);
    return t_done("test_pipeline");
}
