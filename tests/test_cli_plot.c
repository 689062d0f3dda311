/* test_cli_plot.c: `sparse24 plot` end to end on small training CSVs: the
 * phase 1 that strategies share drawn once (in one CSV with phase 2, or as
 * its own phase-1 CSV that phase-2-only CSVs follow), the mean over a
 * group's files with its band, legends that fit the picture and name files
 * by what tells them apart, a y axis fitted to the data (losses too), curves
 * clipped rather than flattened at the frame, the zoom panel, colours, and
 * y ranges or zooms that would show nothing refused with exit 2. The SVG is
 * read back as text: what a viewer would draw is asserted on the numbers in
 * it (coordinates, tick labels, widths). Runs the CLI from $S24_CLI. */
#include "t.h"
#include "t_cli.h"

#include <sys/stat.h>
#include <unistd.h>

static const char *head = "phase,epoch,lr,train_loss,train_acc,test_loss,test_acc,seconds\n";
static const char *p1 = "1,1,0.1,2.0,30.0,1.9,35.0,1.0\n1,2,0.05,1.5,45.0,1.4,52.0,1.0\n"
                        "1,3,1e-10,1.2,60.0,1.1,61.0,1.0\n";

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

/* The lowest y tick label (the right-aligned numbers) in s up to `end`
 * (NULL: the whole text). */
static double lowest_tick(const char *s, const char *end)
{
    const char *tick = "text-anchor=\"end\">";
    double lowest = INFINITY;
    for (const char *t = strstr(s, tick); t && (!end || t < end); t = strstr(t + 1, tick))
        lowest = fmin(lowest, strtod(t + strlen(tick), NULL));
    return lowest;
}

/* The smallest y coordinate of all polyline points in s (the highest point drawn). */
static double top_point(const char *s)
{
    double top = INFINITY;
    for (const char *p = strstr(s, "points=\""); p; p = strstr(p + 1, "points=\"")) {
        const char *q = p + strlen("points=\"");
        while (*q && *q != '"') {
            char *e;
            strtod(q, &e);       /* x */
            if (*e != ',') break;
            double y = strtod(e + 1, &e);
            top = fmin(top, y);
            q = e;
            while (*q == ' ') q++;
        }
    }
    return top;
}

/* The CSVs of a strategy run from one CSV (phase 1 and 2); the basics. */
static void test_basics(void)
{
    const char *svg = tmp("fig.svg");
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

    /* the loss axis follows the data (1.0 .. 2.3 here), not 0 .. 5 */
    CHECK(run("plot %s %s --column test_loss -o %s", a, b, svg) == 0);
    s = slurp(svg);
    double lowest = lowest_tick(s, NULL);
    CHECK(lowest >= 0.5 && lowest <= 1.0, "lowest loss tick %g", lowest);
    free(s);

    /* a y range upside down or empty is bad usage, with the reason */
    CHECK(run("plot %s -o %s --ymin 80 --ymax 20", a, svg) == 2 &&
          contains(err_path, "--ymin 80 must be below --ymax 20"));
    CHECK(run("plot %s -o %s --ymin 5 --ymax 5", a, svg) == 2);
    CHECK(run("plot %s -o %s --ymin 20 --ymax 80", a, svg) == 0);
    CHECK(run("plot %s -o %s --ymin 0", a, svg) == 0);
    s = slurp(svg);
    CHECK(strstr(s, ">0</text>") && !strstr(s, ">-0</text>"), "a tick labelled -0");
    free(s);
    /* a range holding none of the curves' points would draw them pressed
     * flat onto the frame: refused, whichever bound puts the data outside */
    CHECK(run("plot %s -o %s --ymin 80", a, svg) == 2 && contains(err_path, "holds no point"));
    CHECK(run("plot %s -o %s --ymax 20", a, svg) == 2 && contains(err_path, "holds no point"));
    CHECK(run("plot %s -o %s --ymin 70 --ymax 90", a, svg) == 2);
    /* a range cutting through the data: the curves leave the frame (clipped
     * there), they are not squashed onto its top edge */
    CHECK(run("plot %s -o %s --ymin 30 --ymax 50", a, svg) == 0);
    s = slurp(svg);
    double frame_top = attr_after(s, "fill=\"none\" stroke=\"black\"", "y");
    CHECK(strstr(s, "clip-path=\"url(#frame0)\"") != NULL, "curves not clipped");
    CHECK(top_point(s) < frame_top - 10, "highest point %g, frame top %g", top_point(s),
          frame_top);
    free(s);

    snprintf(text, sizeof text, "%s3,1,0.1,2.0,30.0,1.9,35.0,1.0\n", head);
    CHECK(run("plot %s -o %s", put("bad.csv", text), svg) == 1 && contains(err_path, "phase"));
    CHECK(no_temp_files());
    const char *made[] = {svg, a, b, tmp("bad.csv")};
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++) remove(made[i]);
}

/* The layout of the grid's results (docs/results/pruning-cifar10): per seed
 * a phase-1 CSV and phase-2-only CSVs of each strategy, one group per
 * strategy over the seeds. */
static void test_seeds(void)
{
    const char *svg = tmp("seeds.svg");
    char text[2048], dir[700], path[800];
    /* seed s: phase 1 ends at 61 + s; continue ends at 60 + s, rewind at 50 + s */
    for (int seed = 1; seed <= 2; seed++) {
        const char *runs[] = {"dense_phase1", "continue", "rewind"};
        for (int r = 0; r < 3; r++) {
            snprintf(dir, sizeof dir, "%s/g_s%d", t_tmpdir(), seed);
            mkdir(dir, 0755);
            snprintf(dir, sizeof dir, "%s/g_s%d/%s", t_tmpdir(), seed, runs[r]);
            mkdir(dir, 0755);
            if (r == 0)
                snprintf(text, sizeof text, "%s1,1,0.1,2,30,1.9,35,1\n1,2,0.1,1.5,45,1.4,%d,1\n",
                         head, 61 + seed);
            else
                snprintf(text, sizeof text,
                         "%s2,0,0,nan,nan,1.8,%d,0.1\n2,1,0.1,1.3,55,1.2,55,1\n"
                         "2,2,0.1,1,65,1,%d,1\n",
                         head, r == 1 ? 40 : 10, (r == 1 ? 60 : 50) + seed);
            snprintf(path, sizeof path, "%s/train.csv", dir);
            CHECK_OK(s24_write_file_atomic(path, text, strlen(text)));
        }
    }
    snprintf(dir, sizeof dir, "%s/g_s", t_tmpdir());
    CHECK(run("plot %s1/*/train.csv %s2/*/train.csv -o %s --label 'dense_phase1=*/dense_phase1/*' "
              "--label 'continue=*/continue/*' --label 'rewind=*/rewind/*'", dir, dir, svg) == 0);
    char *s = slurp(svg);
    /* phase 1 once (its own group: the phase-2 CSVs hold no phase 1), each
     * strategy once, each with the band of its two seeds */
    CHECK(count_of(s, "<polyline") == 3, "%d curves", count_of(s, "<polyline"));
    CHECK(count_of(s, "fill-opacity=\"0.18\"") == 3, "%d bands", count_of(s, "fill-opacity"));
    CHECK(strstr(s, "shared by") == NULL);
    /* phase 1's end carried across phase 2, dotted, once */
    CHECK(count_of(s, "stroke-dasharray=\"2,3\"") == 1);
    CHECK(strstr(s, ">dense_phase1 (n=2, last 62.50 = dotted line)<") != NULL);
    CHECK(strstr(s, ">continue (n=2, last 61.50)<") != NULL);
    CHECK(contains(out_path, "2 files, 0 + 2 epochs, last test_acc 51.50, after pruning 10.00"));
    free(s);
    /* --band none: no band, the same curves */
    CHECK(run("plot %s1/*/train.csv %s2/*/train.csv -o %s --band none --label 'p=*/dense_phase1/*' "
              "--label 'c=*/continue/*' --label 'r=*/rewind/*'", dir, dir, svg) == 0);
    s = slurp(svg);
    CHECK(count_of(s, "fill-opacity") == 0 && count_of(s, "<polyline") == 3);
    free(s);

    /* the zoom: the same curves again in a second panel over x 3..4, its y
     * range fitted to what is there (50..63, phase 1's dotted end included),
     * not to the main panel's 10..65 */
    CHECK(run("plot %s1/*/train.csv %s2/*/train.csv -o %s --zoom 3", dir, dir, svg) == 0);
    s = slurp(svg);
    const char *zoom = strstr(s, "<g id=\"zoom\">");
    CHECK(zoom != NULL, "no zoom panel");
    if (zoom) {
        double main_low = lowest_tick(s, zoom), zoom_low = lowest_tick(zoom, NULL);
        CHECK(main_low <= 10, "main panel's lowest tick %g", main_low);
        CHECK(zoom_low >= 40 && zoom_low <= 50, "zoom's lowest tick %g", zoom_low);
        CHECK(count_of(zoom, "<polyline") == count_of(s, "<polyline") / 2);
        CHECK(strstr(zoom, "clip-path=\"url(#frame1)\"") != NULL);
        /* the zoom panel and the legend inside the picture, the legend right of the zoom */
        double width = attr_after(s, NULL, "width");
        double zx = attr_after(zoom, "fill=\"none\" stroke=\"black\"", "x");
        double zw = attr_after(zoom, "fill=\"none\" stroke=\"black\"", "width");
        double lx = attr_after(s, "stroke-width=\"3\"", "x1");
        CHECK(zx + zw < lx && lx < width, "zoom %g+%g, legend at %g, width %g", zx, zw, lx, width);
    }
    free(s);
    CHECK(run("plot %s1/*/train.csv -o %s --zoom 4", dir, svg) == 2 &&
          contains(err_path, "--zoom 4"));
    CHECK(run("plot %s1/*/train.csv -o %s --zoom 0.5", dir, svg) == 2);
    CHECK(run("plot %s1/*/train.csv -o %s --zoom soon", dir, svg) == 2);

    /* colours: as asked, for a group that exists, in a form SVG reads */
    CHECK(run("plot %s1/*/train.csv -o %s --label 'c=*/continue/*' --color 'c=#123abc'", dir,
              svg) == 0);
    s = slurp(svg);
    CHECK(count_of(s, "stroke=\"#123abc\"") >= 3, "curve, marker and legend in #123abc");
    free(s);
    CHECK(run("plot %s1/*/train.csv -o %s --label 'c=*/continue/*' --color 'd=#123abc'", dir,
              svg) == 2 && contains(err_path, "no group named d"));
    CHECK(run("plot %s1/*/train.csv -o %s --color 'c=red'", dir, svg) == 2);
    CHECK(no_temp_files());
    for (int seed = 1; seed <= 2; seed++) {
        const char *runs[] = {"dense_phase1", "continue", "rewind"};
        for (int r = 0; r < 3; r++) {
            snprintf(path, sizeof path, "%s/g_s%d/%s/train.csv", t_tmpdir(), seed, runs[r]);
            remove(path);
            snprintf(path, sizeof path, "%s/g_s%d/%s", t_tmpdir(), seed, runs[r]);
            rmdir(path);
        }
        snprintf(path, sizeof path, "%s/g_s%d", t_tmpdir(), seed);
        rmdir(path);
    }
    remove(svg);
}

/* Legends: as wide as their text in a wide font, and files named by what
 * tells their paths apart. */
static void test_legend(void)
{
    const char *svg = tmp("legend.svg");
    char text[1024], dir[700], longpath[800];
    snprintf(text, sizeof text, "%s%s", head, p1);

    /* one file named by a long path: the whole path, inside the picture */
    snprintf(dir, sizeof dir, "%s/results-of-a-rather-long-experiment-name/%s", t_tmpdir(),
             "resnet18_s98_continue_perm");
    mkdir(tmp("results-of-a-rather-long-experiment-name"), 0755);
    mkdir(dir, 0755);
    snprintf(longpath, sizeof longpath, "%s/train.csv", dir);
    CHECK_OK(s24_write_file_atomic(longpath, text, strlen(text)));
    CHECK(run("plot %s -o %s", longpath, svg) == 0);
    char *s = slurp(svg);
    double width = attr_after(s, NULL, "width");
    double lx = attr_after(s, "resnet18_s98_continue_perm", "x");
    CHECK(width >= lx + 6.0 * (double)(strlen(longpath) + 20),
          "legend at %g, %zu characters, width %g", lx, strlen(longpath), width);
    free(s);

    /* a name of wide letters: DejaVu Sans, what rsvg-convert falls back to,
     * draws W and m 11.7-11.9 px wide at font-size 12, and " (n=1, last
     * 61.00)" 109 px; 7 px a character (what plot used to reserve) cut this
     * legend by a fifth */
    const char *wide = "WWWWWWWWWWmmmmmmmmmmWWWWWWWWWWmmmmmmmmmm";
    CHECK(run("plot %s -o %s --label '%s=*'", longpath, svg, wide) == 0);
    s = slurp(svg);
    width = attr_after(s, NULL, "width");
    lx = attr_after(s, wide, "x");
    double need = lx + 11.9 * (double)strlen(wide) + 109;
    CHECK(width >= need, "legend text at %g needs %g, width %g", lx, need, width);
    free(s);

    /* two files named by path: the legend shows the folders that differ,
     * the summary on stdout the whole paths */
    char a[800], b[800];
    const char *base = tmp("runs-of-seed-1");
    mkdir(base, 0755);
    snprintf(a, sizeof a, "%s/continue", base);
    snprintf(b, sizeof b, "%s/rewind", base);
    mkdir(a, 0755);
    mkdir(b, 0755);
    snprintf(a, sizeof a, "%s/continue/train.csv", base);
    snprintf(b, sizeof b, "%s/rewind/train.csv", base);
    CHECK_OK(s24_write_file_atomic(a, text, strlen(text)));
    CHECK_OK(s24_write_file_atomic(b, text, strlen(text)));
    CHECK(run("plot %s %s -o %s", a, b, svg) == 0);
    s = slurp(svg);
    CHECK(strstr(s, ">continue (n=1") && strstr(s, ">rewind (n=1"), "short names");
    CHECK(strstr(s, "runs-of-seed-1") == NULL, "the common folder in the legend");
    free(s);
    CHECK(contains(out_path, a) && contains(out_path, b));
    CHECK(no_temp_files());
    remove(a);
    remove(b);
    snprintf(a, sizeof a, "%s/continue", base);
    snprintf(b, sizeof b, "%s/rewind", base);
    rmdir(a);
    rmdir(b);
    rmdir(base);
    remove(longpath);
    rmdir(dir);
    rmdir(tmp("results-of-a-rather-long-experiment-name"));
    remove(svg);
}

/* A phase-2-only CSV after a phase-1-only CSV: the dashed boundary at phase
 * 1's last epoch, the epoch-0 point on it. */
static void test_boundary(void)
{
    const char *svg = tmp("bound.svg");
    char text[1024];
    snprintf(text, sizeof text, "%s%s", head, p1);
    const char *only1 = put("p1.csv", text);
    snprintf(text, sizeof text, "%s2,0,0,nan,nan,1.8,40.0,0.1\n2,1,0.1,1.3,55.0,1.2,58.0,1.0\n",
             head);
    const char *only2 = put("p2.csv", text);
    CHECK(run("plot %s %s -o %s", only1, only2, svg) == 0);
    char *s = slurp(svg);
    CHECK(strstr(s, ">phase 2</text>") != NULL, "no phase boundary");
    double dash = attr_after(s, "stroke-dasharray=\"5,4\"", "x1");
    double dot = attr_after(s, "<circle", "cx");
    CHECK(fabs(dash - dot) < 0.1, "boundary at %g, epoch 0 at %g", dash, dot);
    free(s);
    remove(only1);
    remove(only2);
    remove(svg);
}

int main(void)
{
    t_cli_init();
    if (access(cli, X_OK) != 0) {
        CHECK(0, "CLI %s not found (set S24_CLI)", cli);
        return t_done("test_cli_plot");
    }
    test_basics();
    test_seeds();
    test_legend();
    test_boundary();
    remove(out_path);
    remove(err_path);
    rmdir(t_tmpdir());
    return t_done("test_cli_plot");
}
