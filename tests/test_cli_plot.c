/* test_cli_plot.c: `sparse24 plot` end to end on small training CSVs (moved
 * from test_cli.c): the phase 1 that strategies share drawn once, phase-2-only
 * CSVs placed after the phase-1 CSV, legends as wide as their names, a y axis
 * fitted to losses, and --ymin >= --ymax refused. Runs the CLI from $S24_CLI. */
#include "t.h"
#include "t_cli.h"

#include <sys/stat.h>
#include <unistd.h>

/* Write text to a file of the scratch folder; its path. */
static const char *put(const char *name, const char *text)
{
    const char *p = tmp(name);
    CHECK_OK(s24_write_file_atomic(p, text, strlen(text)));
    return p;
}

/* The number after `key="` at the first `key="` after `from` in s (NaN if none). */
static double attr_after(const char *s, const char *from, const char *key)
{
    const char *at = from ? strstr(s, from) : s;
    char k[64];
    snprintf(k, sizeof k, "%s=\"", key);
    if (!at) return NAN;
    /* the attribute belongs to the element that holds `from`: look back to its '<' */
    while (from && at > s && *at != '<') at--;
    const char *v = strstr(at, k);
    return v ? strtod(v + strlen(k), NULL) : NAN;
}

static int count_of(const char *s, const char *word)
{
    int n = 0;
    for (const char *p = strstr(s, word); p; p = strstr(p + 1, word)) n++;
    return n;
}

/* sparse24 plot: CSVs with phase-2 epoch-0 rows (nan train figures), the
 * phase 1 that strategies share drawn once, phase-2-only CSVs placed after
 * the phase-1 CSV, legends as wide as their names, a y axis fitted to
 * losses, and --ymin >= --ymax refused. */
static void test_plot(void)
{
    const char *svg = tmp("fig.svg");
    const char *head = "phase,epoch,lr,train_loss,train_acc,test_loss,test_acc,seconds\n";
    const char *p1 = "1,1,0.1,2.0,30.0,1.9,35.0,1.0\n1,2,0.05,1.5,45.0,1.4,52.0,1.0\n"
                     "1,3,1e-10,1.2,60.0,1.1,61.0,1.0\n";
    char text[2048];
    snprintf(text, sizeof text, "%s%s2,0,0,nan,nan,1.8,40.0,0.1\n2,1,0.1,1.3,55.0,1.2,58.0,1.0\n"
             "2,2,1e-10,1.0,65.0,1.0,64.0,1.0\n", head, p1);
    const char *a = put("cont.csv", text);
    snprintf(text, sizeof text, "%s%s2,0,0,nan,nan,2.3,10.0,0.1\n2,1,0.1,1.6,40.0,1.5,45.0,1.0\n"
             "2,2,1e-10,1.1,61.0,1.1,60.0,1.0\n", head, p1);
    const char *b = put("rew.csv", text);

    /* the shared phase 1: one grey curve and one curve per strategy */
    CHECK(run("plot %s %s -o %s --label continue=*cont* --label rewind=*rew*", a, b, svg) == 0);
    char *s = slurp(svg);
    CHECK(strstr(s, "phase 1, shared by 2 groups") != NULL, "no shared phase-1 entry");
    CHECK(count_of(s, "<polyline") == 3, "%d curves", count_of(s, "<polyline"));
    CHECK(count_of(s, "<circle") == 2, "epoch-0 markers: %d", count_of(s, "<circle"));
    CHECK(contains(out_path, "after pruning 40.00") && contains(out_path, "3 + 2 epochs"));
    free(s);

    /* a nan value in the plotted column is left out, not an error */
    CHECK(run("plot %s --column train_acc -o %s", a, svg) == 0);
    CHECK(contains(out_path, "last train_acc 65.00"));

    /* phase-2-only CSV (train --from) after a phase-1-only CSV: the dashed
     * boundary at phase 1's last epoch, the epoch-0 point on it */
    snprintf(text, sizeof text, "%s%s", head, p1);
    const char *only1 = put("p1.csv", text);
    snprintf(text, sizeof text, "%s2,0,0,nan,nan,1.8,40.0,0.1\n2,1,0.1,1.3,55.0,1.2,58.0,1.0\n",
             head);
    const char *only2 = put("p2.csv", text);
    CHECK(run("plot %s %s -o %s", only1, only2, svg) == 0);
    s = slurp(svg);
    CHECK(strstr(s, ">phase 2</text>") != NULL, "no phase boundary");
    double dash = attr_after(s, "stroke-dasharray=\"5,4\"", "x1");
    double dot = attr_after(s, "<circle", "cx");
    CHECK(fabs(dash - dot) < 0.1, "boundary at %g, epoch 0 at %g", dash, dot);
    free(s);

    /* a legend named by a long path fits in the picture */
    char dir[700], longpath[800];
    snprintf(dir, sizeof dir, "%s/results-of-a-rather-long-experiment-name/%s", t_tmpdir(),
             "resnet18_s98_continue_perm");
    mkdir(tmp("results-of-a-rather-long-experiment-name"), 0755);
    mkdir(dir, 0755);
    snprintf(longpath, sizeof longpath, "%s/train.csv", dir);
    CHECK_OK(s24_write_file_atomic(longpath, text, strlen(text)));
    CHECK(run("plot %s -o %s", longpath, svg) == 0);
    s = slurp(svg);
    double width = attr_after(s, NULL, "width");
    double lx = attr_after(s, "resnet18_s98_continue_perm", "x");
    CHECK(width >= lx + 6.0 * (double)(strlen(longpath) + 20),
          "legend at %g, %zu characters, width %g", lx, strlen(longpath), width);
    free(s);

    /* the loss axis follows the data (1.0 .. 2.3 here), not 0 .. 5 */
    CHECK(run("plot %s %s --column test_loss -o %s", a, b, svg) == 0);
    s = slurp(svg);
    const char *tick = "text-anchor=\"end\">";
    double lowest = INFINITY;
    for (const char *t = strstr(s, tick); t; t = strstr(t + 1, tick))
        lowest = fmin(lowest, strtod(t + strlen(tick), NULL));
    CHECK(lowest >= 0.5 && lowest <= 1.0, "lowest loss tick %g", lowest);
    free(s);

    /* a y range upside down or empty is bad usage; a bad phase is bad input */
    CHECK(run("plot %s -o %s --ymin 80 --ymax 20", a, svg) == 2 && contains(err_path, "--ymin"));
    CHECK(run("plot %s -o %s --ymin 5 --ymax 5", a, svg) == 2);
    CHECK(run("plot %s -o %s --ymin 20 --ymax 80", a, svg) == 0);
    CHECK(run("plot %s -o %s --ymin 0", a, svg) == 0);
    s = slurp(svg);
    CHECK(strstr(s, ">0</text>") && !strstr(s, ">-0</text>"), "a tick labelled -0");
    free(s);
    snprintf(text, sizeof text, "%s3,1,0.1,2.0,30.0,1.9,35.0,1.0\n", head);
    CHECK(run("plot %s -o %s", put("bad.csv", text), svg) == 1 && contains(err_path, "phase"));
    CHECK(no_temp_files());
    const char *made[] = {svg, a, b, only1, only2, longpath, tmp("bad.csv")};
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++) remove(made[i]);
    rmdir(dir);
    rmdir(tmp("results-of-a-rather-long-experiment-name"));
}

int main(void)
{
    t_cli_init();
    if (access(cli, X_OK) != 0) {
        CHECK(0, "CLI %s not found (set S24_CLI)", cli);
        return t_done("test_cli_plot");
    }
    test_plot();
    remove(out_path);
    remove(err_path);
    rmdir(t_tmpdir());
    return t_done("test_cli_plot");
}
