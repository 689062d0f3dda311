/* train_times.c: `sparse24 train`'s account of its wall time (train_times.h):
 * from the command's start to the report, split into the parts the
 * pipeline measures (struct s24_pipeline_times) and the command's own data
 * load and GPU probe; "rest" is what none of them covers. The state writes
 * run beside the epochs (a background thread), so they are shown apart,
 * not as a part of the wall time: "state saves" is what the run waited for.
 *
 * timing.csv holds one row per part (part,seconds) and no counts, so two
 * runs of the same command give the same rows but for the seconds. */
#include "train_times.h"

#include <stdio.h>

#include "cli.h"

void train_times_report(const char *cmd, const char *out_dir, const struct train_times *c,
                        const struct s24_pipeline_result *res)
{
    const struct s24_pipeline_times *t = &res->times;
    double total = s24_now() - c->t0;
    double setup = c->data + c->probe + t->setup;
    double rest =
        total - setup - t->epochs - t->state - t->checkpoints - t->evals - t->prune - t->teardown;
    fprintf(stderr,
            "sparse24 train: %.2f s wall: set-up %.2f (data %.2f, GPU probe %.2f), epochs %.2f "
            "(%d, the first %.2f), state saves %.2f waited for (%d; %.2f s of writing beside "
            "the epochs), checkpoints %.2f, evaluations %.2f, pruning %.2f, teardown %.2f, "
            "rest %.2f\n",
            total, setup, c->data, c->probe, t->epochs, res->epochs_run, t->epoch_first, t->state,
            t->state_saves, t->state_write_s, t->checkpoints, t->evals, t->prune, t->teardown,
            rest);
    const struct {
        const char *part;
        double s;
    } rows[] = {
        {"total", total},
        {"setup", setup},
        {"setup_data", c->data},
        {"setup_gpu_probe", c->probe},
        {"setup_run", t->setup},
        {"epochs", t->epochs},
        {"epoch_first", t->epoch_first},
        {"state_saves", t->state},
        {"state_writes_background", t->state_write_s},
        {"checkpoints", t->checkpoints},
        {"evaluations", t->evals},
        {"pruning", t->prune},
        {"teardown", t->teardown},
        {"rest", rest},
    };
    char buf[1024], path[4096];
    size_t n = (size_t)snprintf(buf, sizeof buf, "part,seconds\n");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0] && n < sizeof buf; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s,%.3f\n", rows[i].part, rows[i].s);
    snprintf(path, sizeof path, "%s/timing.csv", out_dir);
    if (n >= sizeof buf || s24_write_file_atomic(path, buf, n) != S24_OK)
        cli_fail(cmd, "%s", n >= sizeof buf ? "timing.csv: too long" : s24_last_error());
}
