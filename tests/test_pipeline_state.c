/* test_pipeline_state.c: what the pipeline records about itself, on tiny
 * synthetic runs on the CPU: the precision in the resumable state (fp32
 * written; a state recorded as bf16 refused by an fp32 resume with a message
 * naming the file and both precisions; a state without the key, as written
 * before it existed, still resumed; a malformed one refused), the account of
 * the wall time (s24_pipeline_times: parts that add up, the epochs' part the
 * CSV's seconds, the number of state saves: none twice at the end of a phase
 * without phase-2 epochs), a run whose background state write fails stopping
 * with the write's message, the state written from snapshots refilled in
 * place save after save (the last one's model tensors those of
 * phase2.safetensors, its layout grown by the masks since phase 1; the
 * state after each epoch different, and resumable), and `train`'s closing
 * line and timing.csv. */
#include "t.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sparse24/sparse24_train.h"

static struct s24_dataset train, test;

static void base_cfg(struct s24_pipeline_cfg *c, const char *dir)
{
    s24_pipeline_defaults(c);
    c->arch = "smallcnn";
    c->train = &train;
    c->test = &test;
    c->epochs1 = 2;
    c->epochs2 = 1;
    c->batch = 32;
    c->eval_batch = 50;
    c->seed = 3;
    c->out_dir = dir;
}

static const char *state_of(const char *dir)
{
    static char buf[700];
    snprintf(buf, sizeof buf, "%s/state.safetensors", dir);
    return buf;
}

/* Rewrites the state's precision key: a value, or NULL to remove it. */
static int set_precision(const char *path, const char *value)
{
    struct s24_st st, out;
    if (s24_st_read(path, &st) != S24_OK) return 0;
    s24_st_init(&out);
    int ok = 1;
    for (int i = 0; i < st.n && ok; i++)
        ok = s24_st_add(&out, st.t[i].name, st.t[i].dtype, st.t[i].ndim, st.t[i].shape,
                        st.t[i].data) == S24_OK;
    for (int i = 0; i < st.nmeta && ok; i++)
        if (strcmp(st.meta[i].key, "sparse24.state.precision"))
            ok = s24_st_meta_set(&out, st.meta[i].key, st.meta[i].value) == S24_OK;
    if (ok && value) ok = s24_st_meta_set(&out, "sparse24.state.precision", value) == S24_OK;
    if (ok) ok = s24_st_write(path, &out) == S24_OK;
    s24_st_free(&st);
    s24_st_free(&out);
    return ok;
}

static void test_precision(void)
{
    const char *dir = t_subdir("prec");
    struct s24_pipeline_cfg c;
    struct s24_pipeline_result res;
    base_cfg(&c, dir);
    c.stop_after = 1;
    CHECK(s24_pipeline_run(&c, &res) == S24_ERR_INTERRUPTED);
    struct s24_st st;
    CHECK_OK(s24_st_read(state_of(dir), &st));
    const char *p = s24_st_meta_get(&st, "sparse24.state.precision");
    CHECK(p && !strcmp(p, "fp32"), "recorded: %s", p ? p : "(none)");
    s24_st_free(&st);
    /* recorded as bf16, resumed in fp32: refused, naming the file and both */
    CHECK(set_precision(state_of(dir), "bf16"));
    c.resume = 1;
    c.stop_after = 0;
    int rc = s24_pipeline_run(&c, &res);
    const char *e = s24_last_error();
    CHECK(rc == S24_ERR_INVALID && strstr(e, state_of(dir)) && strstr(e, "bf16") &&
              strstr(e, "fp32") && strstr(e, "--precision bf16"),
          "%d: %s", rc, e);
    CHECK(res.epochs_run == 0);
    /* neither precision: a malformed state */
    CHECK(set_precision(state_of(dir), "fp8"));
    CHECK(s24_pipeline_run(&c, &res) == S24_ERR_FORMAT && strstr(s24_last_error(), "fp8"), "%s",
          s24_last_error());
    /* no key (a state from before it was recorded): resumed */
    CHECK(set_precision(state_of(dir), NULL));
    CHECK_OK(s24_pipeline_run(&c, &res));
    CHECK(res.finished && res.epochs_run == 2, "%d epochs", res.epochs_run);
}

/* the sum of train.csv's seconds over the rows of epochs >= 1 */
static double csv_epoch_seconds(const char *dir)
{
    char path[700];
    uint8_t *d;
    size_t n;
    snprintf(path, sizeof path, "%s/train.csv", dir);
    if (s24_read_file(path, &d, &n) != S24_OK) return -1;
    char *text = realloc(d, n + 1);
    text[n] = 0;
    double sum = 0;
    char *line = strchr(text, '\n');
    while (line && *++line) {
        int phase = 0, epoch = 0;
        char *last = NULL;
        for (char *q = line; *q && *q != '\n'; q++)
            if (*q == ',') last = q;
        if (sscanf(line, "%d,%d", &phase, &epoch) == 2 && epoch >= 1 && last) sum += atof(last + 1);
        line = strchr(line, '\n');
    }
    free(text);
    return sum;
}

static void test_times(void)
{
    struct s24_pipeline_cfg c;
    struct s24_pipeline_result res;
    const char *dir = t_subdir("times");
    base_cfg(&c, dir);
    CHECK_OK(s24_pipeline_run(&c, &res));
    const struct s24_pipeline_times *t = &res.times;
    double parts =
        t->setup + t->epochs + t->state + t->checkpoints + t->evals + t->prune + t->teardown;
    CHECK(t->total > 0 && parts <= t->total * 1.0001 && parts >= 0.5 * t->total, "parts %g of %g s",
          parts, t->total);
    /* the CSV rounds each row's seconds to 1 ms */
    CHECK_NEAR(t->epochs, csv_epoch_seconds(dir), 0.002 * 3);
    CHECK(t->epoch_first > 0 && t->epoch_first <= t->epochs);
    CHECK(t->setup > 0 && t->checkpoints > 0 && t->evals > 0 && t->state > 0);
    CHECK(t->state_write_s > 0);
    /* start, 2 epochs, after pruning, 1 epoch, the end */
    CHECK(t->state_saves == 6, "%d state saves", t->state_saves);
    /* without phase-2 epochs, no save right before the last one */
    base_cfg(&c, t_subdir("times0"));
    c.epochs2 = 0;
    c.strategy = S24_STRATEGY_DENSE;
    CHECK_OK(s24_pipeline_run(&c, &res));
    CHECK(res.times.state_saves == 4, "%d state saves", res.times.state_saves);
    /* a stop between that pruning and the end resumes to the same model */
    base_cfg(&c, t_subdir("times0cut"));
    c.epochs2 = 0;
    c.strategy = S24_STRATEGY_DENSE;
    c.stop_after = 2; /* the last epoch of phase 1 does not stop (then pruning is redone) */
    CHECK(s24_pipeline_run(&c, &res) == S24_ERR_INTERRUPTED);
    c.stop_after = 0;
    c.resume = 1;
    CHECK_OK(s24_pipeline_run(&c, &res));
    CHECK(res.finished && res.epochs_run == 0, "%d epochs", res.epochs_run);
}

/* A failed background write of the state stops the run with its message,
 * at the next save (the 4th fsync: init, state, train.csv, then the state
 * after epoch 1, reported after epoch 2). */
static void test_write_failure(void)
{
    struct s24_pipeline_cfg c;
    struct s24_pipeline_result res;
    const char *dir = t_subdir("fail");
    base_cfg(&c, dir);
    CHECK_OK(s24_outfile_fault_set("fsync:4:ENOSPC"));
    int rc = s24_pipeline_run(&c, &res);
    CHECK_OK(s24_outfile_fault_set(NULL));
    CHECK(rc == S24_ERR_IO && strstr(s24_last_error(), "state.safetensors") &&
              strstr(s24_last_error(), "No space left on device"),
          "%d: %s", rc, s24_last_error());
    CHECK(res.epochs_run == 1 && !res.finished, "%d epochs", res.epochs_run);
    c.resume = 1;
    CHECK_OK(s24_pipeline_run(&c, &res));
    CHECK(res.finished);
}

/* Tensor by tensor (name, dtype, shape, bytes): is every tensor of a in b?
 * (The CSV aside: its rows hold the seconds.) */
static int tensors_in(const struct s24_st *a, const struct s24_st *b)
{
    for (int i = 0; i < a->n; i++) {
        const struct s24_st_tensor *x = &a->t[i], *y = s24_st_find(b, x->name);
        if (!strcmp(x->name, "__csv__")) continue;
        if (!y || x->dtype != y->dtype || x->ndim != y->ndim || x->nbytes != y->nbytes ||
            memcmp(x->shape, y->shape, sizeof x->shape[0] * (size_t)x->ndim) ||
            memcmp(x->data, y->data, x->nbytes)) {
            fprintf(stderr, "tensor %s differs\n", x->name);
            return 0;
        }
    }
    return 1;
}

/* The state snapshots are refilled in place, two in turn (the writer may
 * still hold the last): each save writes its own contents. The state after
 * the end holds phase2.safetensors (written fresh, not from a snapshot),
 * with the masks phase 2 added; a run stopped after each epoch and resumed
 * ends on the same bits. */
static void test_snapshot_reuse(void)
{
    struct s24_pipeline_cfg c;
    struct s24_pipeline_result res;
    struct s24_st a, b, m;
    char path[700];
    const char *dir = t_subdir("snap");
    base_cfg(&c, dir);
    c.stop_after = 1;
    CHECK(s24_pipeline_run(&c, &res) == S24_ERR_INTERRUPTED);
    CHECK_OK(s24_st_read(state_of(dir), &a));
    c.resume = 1;
    CHECK(s24_pipeline_run(&c, &res) == S24_ERR_INTERRUPTED);
    CHECK_OK(s24_st_read(state_of(dir), &b));
    const char *e1 = s24_st_meta_get(&a, "sparse24.state.epochs_done"),
               *e2 = s24_st_meta_get(&b, "sparse24.state.epochs_done");
    CHECK(e1 && e2 && !strcmp(e1, "1") && !strcmp(e2, "2"), "epochs done %s, %s", e1, e2);
    const struct s24_st_tensor *w1 = s24_st_find(&a, "conv1.weight"),
                               *w2 = s24_st_find(&b, "conv1.weight");
    CHECK(w1 && w2 && w1->nbytes == w2->nbytes && memcmp(w1->data, w2->data, w1->nbytes),
          "the second save has the second epoch's weights");
    s24_st_free(&a);
    s24_st_free(&b);
    c.stop_after = 0;
    CHECK_OK(s24_pipeline_run(&c, &res));
    CHECK(res.finished);
    CHECK_OK(s24_st_read(state_of(dir), &a));
    snprintf(path, sizeof path, "%s/phase2.safetensors", dir);
    CHECK_OK(s24_st_read(path, &m));
    CHECK(tensors_in(&m, &a), "the last state holds phase2.safetensors");
    int masks = 0;
    for (int i = 0; i < a.n; i++)
        masks += !strncmp(a.t[i].name, "__mask__.", 9);
    CHECK(masks > 0, "masks in the state");
    const char *ph = s24_st_meta_get(&a, "sparse24.state.phase");
    CHECK(ph && !strcmp(ph, "3"), "phase %s", ph ? ph : "(none)");
    /* the metadata in the order a fresh build gives */
    CHECK(a.nmeta >= 2 && !strcmp(a.meta[0].key, "format") &&
          !strcmp(a.meta[1].key, "sparse24.arch"));
    /* the same run without stops, written in the caller's thread: the same state */
    setenv("S24_BGWRITE", "0", 1);
    const char *dir2 = t_subdir("snap_sync");
    base_cfg(&c, dir2);
    CHECK_OK(s24_pipeline_run(&c, &res));
    unsetenv("S24_BGWRITE");
    CHECK_OK(s24_st_read(state_of(dir2), &b));
    CHECK(a.n == b.n && tensors_in(&a, &b), "%d vs %d tensors", a.n, b.n);
    s24_st_free(&a);
    s24_st_free(&b);
    s24_st_free(&m);
}

static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static void test_cli(void)
{
    const char *cli = getenv("S24_CLI");
    if (!cli) {
        printf("test_pipeline_state: S24_CLI not set, CLI checks skipped\n");
        return;
    }
    const char *dir = t_subdir("cli"), *tmp = t_tmpdir();
    CHECK(sh("%s train --model smallcnn --data synthetic --synthetic-size 12 --synthetic-train 96 "
             "--synthetic-test 40 --batch 32 --epochs 1 --phase2-epochs 1 --out %s 2>%s/err.txt "
             ">/dev/null",
             cli, dir, tmp) == 0);
    CHECK(sh("grep -q 's wall: set-up .* epochs .* state saves .* rest ' %s/err.txt", tmp) == 0);
    CHECK(sh("head -1 %s/timing.csv | grep -qx part,seconds && grep -q '^epochs,[0-9.]*$' "
             "%s/timing.csv && grep -q '^rest,' %s/timing.csv && test $(wc -l < %s/timing.csv) "
             "= 15",
             dir, dir, dir, dir) == 0);
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
    test_precision();
    test_times();
    test_write_failure();
    test_snapshot_reuse();
    test_cli();
    s24_dataset_free(&train);
    s24_dataset_free(&test);
    return t_done("test_pipeline_state");
}
