/* cmd_plot.c: `sparse24 plot`: per-epoch curves from the CSVs that `train`
 * writes, the mean over the runs of each group (seeds) with a min-max or
 * standard-deviation band, like the paper's Figures 3 and 4, as an SVG file
 * written by plain C.
 *
 * Rows are placed by their (phase, epoch) columns, not their order: phase 1 at
 * its epochs, phase 2 after the longest phase 1 among all the files, so the
 * phase-2-only CSVs of `train --from` runs line up after the phase-1 CSV they
 * started from. Phase 2's epoch 0 (the pruned network before retraining)
 * shares the x of phase 1's last epoch, so the drop shows as a vertical step.
 * Groups whose phase-1 points are identical (strategies sharing one phase 1)
 * get that part drawn once, in grey, instead of one colour hiding the others.
 * Curves are clipped at the frame rather than pressed onto its edge, so a
 * y range narrower than the data cuts them instead of drawing flat lines.
 * --zoom adds a second panel over the last epochs with a y range of its own:
 * the strategies end within a point or two of each other, which an axis that
 * must also hold the ~10 % right after pruning cannot show.
 *
 * Reading the CSVs, grouping them and fitting the ranges is plot_data.c's;
 * this file lays out and writes the SVG. It does not draw PNG (scripts/exp.sh
 * converts the SVG), several columns at once, or error bars. */
#include "cli.h"

#include <fnmatch.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot_data.h"
#include "sparse24/sparse24.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: sparse24 plot A.csv [B.csv ...] -o FIG.svg [--label NAME=GLOB ...] [options]\n"
"\n"
"Draws one curve per group of training CSVs (as written by 'sparse24 train'):\n"
"the mean test accuracy at each epoch over the group's files (e.g. seeds), with\n"
"a band from the smallest to the largest run. Epochs of phase 2 follow the\n"
"longest phase 1 among the files on the x axis (a dashed line marks the\n"
"boundary), so phase-2 CSVs of 'train --from' runs follow the phase-1 CSV;\n"
"phase 2's epoch 0 (the pruned network, before retraining) is drawn on the\n"
"boundary, with a circle. Groups with identical phase-1 points draw them once,\n"
"in grey. Empty or nan values are left out. Curves are clipped at the frame.\n"
"\n"
"options:\n"
"  -o, --output FILE    the SVG to write (atomically; required); '-' or\n"
"                       /dev/stdout writes it to standard output\n"
"  --label NAME=GLOB    files whose path matches the shell pattern GLOB form the\n"
"                       group NAME (repeatable, in legend order); a file matching\n"
"                       no --label is a group of its own, named by its path\n"
"                       (the legend shows the part in which those paths differ)\n"
"  --color NAME=#RRGGBB the colour of group NAME (repeatable; default: a palette\n"
"                       in group order), e.g. to keep a strategy's colour the\n"
"                       same across figures\n"
"  --band minmax|std|none  band drawn around each mean (default minmax)\n"
"  --column NAME        the CSV column to draw (default test_acc)\n"
"  --title TEXT         title above the plot\n"
"  --ymin Y, --ymax Y   y range (default: from the data, rounded to a tick;\n"
"                       --ymin must be below --ymax, and the range must hold\n"
"                       some point of the curves)\n"
"  --zoom X             a second panel from x = X (an epoch of the x axis, where\n"
"                       phase 2's epoch e is at the longest phase 1 + e) to the\n"
"                       last epoch, its y range fitted to the curves there\n"
"  -h, --help           this text\n"
"\n"
"exit codes: 0 success, 1 runtime failure (unreadable or malformed CSV), 2 bad usage\n");
}

/* ---------------------------------------------------------------- text buffer */
struct sb {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_printf(struct sb *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void sb_printf(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (k < 0) { b->oom = 1; return; }
        if ((size_t)k < room) { b->len += (size_t)k; return; }
        size_t cap = (b->cap + (size_t)k + 1) * 2;
        char *np = realloc(b->p, cap);
        if (!np) { b->oom = 1; return; }
        b->p = np;
        b->cap = cap;
    }
}

/* XML-escaped text */
static void sb_text(struct sb *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': sb_printf(b, "&amp;"); break;
        case '<': sb_printf(b, "&lt;"); break;
        case '>': sb_printf(b, "&gt;"); break;
        case '"': sb_printf(b, "&quot;"); break;
        default: sb_printf(b, "%c", *s);
        }
    }
}

/* ---------------------------------------------------------------- layout */
#define MAX_GROUPS 32
/* Legend names longer than this keep their start and end around "...". */
#define MAX_LEGEND_NAME 120

/* Legend name: the shown part of the group's name, shortened around "..."
 * past MAX_LEGEND_NAME. */
static void legend_name(const struct plot_group *g, char *out, size_t n)
{
    const char *name = g->name + g->show_off;
    size_t len = g->show_len, keep = MAX_LEGEND_NAME / 2 - 2;
    if (len <= MAX_LEGEND_NAME || n < MAX_LEGEND_NAME + 1)
        snprintf(out, n, "%.*s", (int)len, name);
    else
        snprintf(out, n, "%.*s...%.*s", (int)keep, name, (int)keep, name + len - keep);
}

/* One panel: its place in the picture and the ranges it shows. */
struct plot {
    const struct plot_axis *ax;
    enum plot_band band;
    double L, T, pw, ph, x0, x1, ymin, ymax;
};

static double px(const struct plot *p, double x)
{
    return p->L + (x - p->x0) / (p->x1 - p->x0) * p->pw;
}

/* Values far outside the range are held a few spans away: the frame's clip
 * hides them either way, and the SVG keeps short numbers. */
static double py(const struct plot *p, double y)
{
    double span = p->ymax - p->ymin;
    double c = fmin(fmax(y, p->ymin - 10 * span), p->ymax + 10 * span);
    return p->T + (1 - (c - p->ymin) / span) * p->ph;
}

/* The mean curve and its band over the slots [from, to] of g. */
static void draw_curve(struct sb *b, const struct plot *p, const struct plot_group *g, int from,
                       int to, const char *col, const char *dash)
{
    int n = 0;
    for (int s = from; s <= to; s++) n += g->count[s] > 0;
    if (!n) return;
    if (p->band != PLOT_BAND_NONE && g->files > 1) {
        int first = 1;
        sb_printf(b, "<path fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" d=\"", col);
        for (int s = from; s <= to; s++) {
            double lo, hi;
            if (!g->count[s]) continue;
            plot_band_at(g, s, p->band, &lo, &hi);
            sb_printf(b, "%s%.2f,%.2f", first ? "M" : " L", px(p, plot_x_of(p->ax, s)), py(p, hi));
            first = 0;
        }
        for (int s = to; s >= from; s--) {
            double lo, hi;
            if (!g->count[s]) continue;
            plot_band_at(g, s, p->band, &lo, &hi);
            sb_printf(b, " L%.2f,%.2f", px(p, plot_x_of(p->ax, s)), py(p, lo));
        }
        sb_printf(b, " Z\"/>\n");
    }
    sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"%s%s%s points=\"", col,
              dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
    int first = 1;
    for (int s = from; s <= to; s++) {
        if (!g->count[s]) continue;
        sb_printf(b, "%s%.2f,%.2f", first ? "" : " ", px(p, plot_x_of(p->ax, s)),
                  py(p, g->sum[s] / g->count[s]));
        first = 0;
    }
    sb_printf(b, "\"/>\n");
}

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
static const char *const greys[] = {"#444444", "#888888", "#aaaaaa"};

static const char *group_color(const struct plot_group *gs, int k)
{
    return gs[k].color ? gs[k].color : palette[k % 10];
}

/* A shared phase 1's grey, dashed past the third so that each stays apart. */
static const char *grey_of(const struct plot_group *g, const char **dash)
{
    *dash = g->grey >= 3 ? "6,3" : NULL;
    return greys[g->grey % 3];
}

/* Every group's curves in panel p (the caller clips them to the frame). */
static void draw_groups(struct sb *b, const struct plot *p, const struct plot_group *gs, int ng,
                        int any2)
{
    const struct plot_axis *ax = p->ax;
    for (int k = 0; k < ng; k++) {
        const struct plot_group *g = &gs[k];
        const char *col = group_color(gs, k), *dash;
        int from = 0;
        double end = plot_phase1_end(g, ax, any2);
        if (!isnan(end))
            sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
                         "stroke-width=\"1.2\" stroke-dasharray=\"2,3\"/>\n",
                      px(p, ax->p1), py(p, end), px(p, p->x1), py(p, end), col);
        if (gs[g->leader].shared > 1) {
            /* phase 1 drawn once by the leader; each member from phase 1's last epoch on */
            if (g->leader == k) {
                const char *grey = grey_of(g, &dash);
                draw_curve(b, p, g, 0, ax->p1, grey, dash);
            }
            from = ax->p1;
        }
        draw_curve(b, p, g, from, ax->nslots - 1, col, NULL);
        int s0 = ax->p1 + 1; /* phase 2's epoch 0: right after pruning */
        if (s0 < ax->nslots && g->count[s0])
            sb_printf(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" fill=\"white\" stroke=\"%s\" "
                         "stroke-width=\"1.8\"/>\n",
                      px(p, plot_x_of(ax, s0)), py(p, g->sum[s0] / g->count[s0]), col);
    }
}

/* Grid, tick labels, frame and phase boundary of panel p, then the curves
 * clipped to the frame (a few pixels beyond it, so a curve running along the
 * top keeps its full stroke). id names the panel's clip path. */
static void draw_panel(struct sb *b, const struct plot *p, const struct plot_group *gs, int ng,
                       int any2, int id)
{
    const struct plot_axis *ax = p->ax;
    /* grid and ticks, at integer multiples of the step (no drift in the labels) */
    double ys = plot_nice_step(p->ymax - p->ymin, 6);
    for (double i = ceil(p->ymin / ys - 1e-9); i * ys <= p->ymax + 1e-9 * ys; i++) {
        double y = i * ys + 0.0; /* + 0.0: no "-0" label */
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                  p->L, py(p, y), p->L + p->pw, py(p, y));
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", p->L - 6,
                  py(p, y) + 4, y);
    }
    double xs = plot_nice_step(p->x1 - p->x0, p->pw < 400 ? 5 : 8);
    if (xs < 1) xs = 1;
    for (double i = ceil(p->x0 / xs - 1e-9); i * xs <= p->x1 + 1e-9; i++) {
        double x = i * xs + 0.0;
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n",
                  px(p, x), p->T, px(p, x), p->T + p->ph);
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", px(p, x),
                  p->T + p->ph + 18, x);
    }
    sb_printf(b, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" "
                 "stroke=\"black\"/>\n", p->L, p->T, p->pw, p->ph);
    if (ax->p1 >= 1 && any2 && ax->p1 > p->x0 && ax->p1 < p->x1) {
        double x = px(p, ax->p1);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#555\" "
                     "stroke-dasharray=\"5,4\"/>\n"
                     "<text x=\"%.1f\" y=\"%g\" fill=\"#555\">phase 2</text>\n",
                  x, p->T, x, p->T + p->ph, x + 4, p->T + 14);
    }
    const double pad = 3;
    sb_printf(b, "<clipPath id=\"frame%d\"><rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\"/>"
                 "</clipPath>\n<g clip-path=\"url(#frame%d)\">\n",
              id, p->L - pad, p->T - pad, p->pw + 2 * pad, p->ph + 2 * pad, id);
    draw_groups(b, p, gs, ng, any2);
    sb_printf(b, "</g>\n");
}

static void legend_entry(struct sb *b, double lx, double ly, const char *col, const char *dash,
                         const char *text)
{
    sb_printf(b, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"%s\" "
                 "stroke-width=\"3\"%s%s%s/>\n", lx, ly, lx + 22, ly, col,
              dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
    sb_printf(b, "<text x=\"%g\" y=\"%.1f\">", lx + 28, ly + 4);
    sb_text(b, text);
    sb_printf(b, "</text>\n");
}

/* The legend's text of group g (or of the shared phase 1 it leads). */
static void legend_text(const struct plot_group *g, const struct plot_axis *ax, int any2,
                        int shared_phase1, char *out, size_t n)
{
    char name[MAX_LEGEND_NAME + 8];
    if (shared_phase1) {
        snprintf(out, n, "phase 1, shared by %d groups", g->shared);
        return;
    }
    int s = plot_last_slot(g, ax);
    legend_name(g, name, sizeof name);
    snprintf(out, n, "%s (n=%d, last %.2f%s)", name, g->files,
             s >= 0 ? g->sum[s] / g->count[s] : 0.0,
             isnan(plot_phase1_end(g, ax, any2)) ? "" : " = dotted line");
}

/* Width of text at font-size 12, on the generous side: per-character advances
 * at or above DejaVu Sans' (the widest of the usual sans-serif fonts, the one
 * rsvg-convert and most Linux viewers fall back to), so that the legend,
 * which sets the picture's width, fits whatever font draws it. */
static double text_width(const char *s)
{
    double w = 0;
    for (; *s; s++) {
        int c = (unsigned char)*s;
        if (strchr("ijl.,:;'|!", c)) w += 4.0;
        else if (strchr("frt/()[]- ", c)) w += 5.2;
        else if (strchr("mwMW%@", c)) w += 12.0;
        else if (strchr("=+<>~#&", c)) w += 10.2;
        else if (c >= 'A' && c <= 'Z') w += 9.5;
        else if (c >= 0x80) w += 6.0; /* a byte of a UTF-8 character: two or more per glyph */
        else w += 7.7;                /* digits, other letters, '_' */
    }
    return w;
}

/* What the picture shows, decided before it is drawn (ranges from the data
 * or the options). */
struct view {
    enum plot_band band;
    const char *title, *column;
    double x0, x1, ymin, ymax;  /* the main panel */
    double zoom, zmin, zmax;    /* the zoom panel from x = zoom (NaN: none) */
    int any2;                   /* some point in phase 2 */
};

static int render(struct sb *b, struct plot_group *gs, int ng, const struct plot_axis *ax,
                  const struct view *v)
{
    char text[MAX_LEGEND_NAME + 64];
    int zoom = !isnan(v->zoom);
    struct plot p = {.ax = ax,
                     .band = v->band,
                     .L = 70,
                     .T = zoom ? 62 : 50,
                     .pw = zoom ? 540 : 580,
                     .ph = 410,
                     .x0 = v->x0,
                     .x1 = v->x1,
                     .ymin = v->ymin,
                     .ymax = v->ymax};
    struct plot z = p;
    const double B = 60;
    int entries = 0;
    double legend_w = 190;
    for (int k = 0; k < ng; k++)
        for (int shared = 0; shared < 2; shared++) {
            if (shared && !(gs[k].leader == k && gs[k].shared > 1)) continue;
            legend_text(&gs[k], ax, v->any2, shared, text, sizeof text);
            legend_w = fmax(legend_w, 28 + text_width(text) + 12);
            entries++;
        }
    double right = p.L + p.pw;
    if (zoom) {
        z.L = right + 64;
        z.pw = 300;
        z.x0 = v->zoom;
        z.ymin = v->zmin;
        z.ymax = v->zmax;
        right = z.L + z.pw;
    }
    double lx = right + 12;
    double W = lx + legend_w;
    double H = fmax(p.T + p.ph + B, p.T + 20 * entries + 30);
    p.ph = z.ph = H - p.T - B;
    sb_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
                 "viewBox=\"0 0 %g %g\" font-family=\"sans-serif\" font-size=\"12\">\n"
                 "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H, W, H);
    if (v->title) {
        sb_printf(b, "<text x=\"%g\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">",
                  (p.L + right) / 2);
        sb_text(b, v->title);
        sb_printf(b, "</text>\n");
    }
    sb_printf(b, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">epoch</text>\n",
              (p.L + right) / 2, H - 18);
    sb_printf(b, "<text transform=\"translate(20,%g) rotate(-90)\" text-anchor=\"middle\">",
              p.T + p.ph / 2);
    sb_text(b, !strcmp(v->column, "test_acc") ? "test accuracy (%)" : v->column);
    sb_printf(b, "</text>\n");
    sb_printf(b, "<g id=\"main\">\n");
    draw_panel(b, &p, gs, ng, v->any2, 0);
    sb_printf(b, "</g>\n");
    if (zoom) {
        /* the zoomed window marked in the main panel, and drawn beside it */
        double x = px(&p, z.x0), y = py(&p, z.ymax);
        sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                     "stroke=\"#555\" stroke-dasharray=\"3,3\"/>\n",
                  x, y, px(&p, z.x1) - x, py(&p, z.ymin) - y);
        sb_printf(b, "<g id=\"zoom\">\n<text x=\"%g\" y=\"%g\" text-anchor=\"middle\" "
                     "fill=\"#555\">epochs %g-%g, y zoomed</text>\n",
                  z.L + z.pw / 2, z.T - 8, z.x0, z.x1);
        draw_panel(b, &z, gs, ng, v->any2, 1);
        sb_printf(b, "</g>\n");
    }
    int entry = 0;
    for (int k = 0; k < ng; k++) {
        const struct plot_group *g = &gs[k];
        const char *dash;
        if (g->leader == k && g->shared > 1) {
            const char *grey = grey_of(g, &dash);
            legend_text(g, ax, v->any2, 1, text, sizeof text);
            legend_entry(b, lx, p.T + 10 + 20 * entry++, grey, dash, text);
        }
        legend_text(g, ax, v->any2, 0, text, sizeof text);
        legend_entry(b, lx, p.T + 10 + 20 * entry++, group_color(gs, k), NULL, text);
    }
    sb_printf(b, "</svg>\n");
    return b->oom ? -1 : 0;
}

/* "#rgb" or "#rrggbb" */
static int is_color(const char *c)
{
    size_t n = strlen(c);
    if (c[0] != '#' || (n != 4 && n != 7)) return 0;
    return strspn(c + 1, "0123456789abcdefABCDEF") == n - 1;
}

int cmd_plot(int argc, char **argv)
{
    enum { O_LABEL = 256, O_BAND, O_COLUMN, O_TITLE, O_YMIN, O_YMAX, O_COLOR, O_ZOOM };
    static const struct option lo[] = {
        {"output", required_argument, 0, 'o'}, {"label", required_argument, 0, O_LABEL},
        {"band", required_argument, 0, O_BAND}, {"column", required_argument, 0, O_COLUMN},
        {"title", required_argument, 0, O_TITLE}, {"ymin", required_argument, 0, O_YMIN},
        {"ymax", required_argument, 0, O_YMAX}, {"color", required_argument, 0, O_COLOR},
        {"zoom", required_argument, 0, O_ZOOM}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = argv[0], *out = NULL, *title = NULL, *column = "test_acc";
    struct plot_group gs[MAX_GROUPS];
    char *labels[MAX_GROUPS];
    const char *colors[MAX_GROUPS]; /* --color's NAME=COLOR, as given */
    struct plot_csv *csvs = NULL;
    int *group_of = NULL;
    int ng = 0, nlabels = 0, ncolors = 0, ncsv = 0, ec = S24_EXIT_FAIL;
    enum plot_band band = PLOT_BAND_MINMAX;
    double ymin = NAN, ymax = NAN, zoom = NAN;
    struct plot_axis ax = {0, 0};
    memset(gs, 0, sizeof gs);
    optind = 1;
    for (;;) {
        int opt = getopt_long(argc, argv, "ho:", lo, NULL);
        if (opt == -1) break;
        char *end;
        switch (opt) {
        case 'h': usage(stdout); ec = S24_EXIT_OK; goto done;
        case 'o': out = optarg; break;
        case O_LABEL: {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || !eq[1]) {
                ec = cli_usage(cmd, "--label %s: expected NAME=GLOB", optarg);
                goto done;
            }
            if (ng == MAX_GROUPS) {
                ec = cli_usage(cmd, "at most %d groups", MAX_GROUPS);
                goto done;
            }
            labels[nlabels] = malloc(strlen(optarg) + 1);
            if (!labels[nlabels]) { ec = cli_fail(cmd, "out of memory"); goto done; }
            memcpy(labels[nlabels], optarg, strlen(optarg) + 1);
            labels[nlabels][eq - optarg] = 0;
            gs[ng].name = labels[nlabels];
            gs[ng].glob = labels[nlabels] + (eq - optarg) + 1;
            nlabels++;
            ng++;
            break;
        }
        case O_BAND:
            if (!strcmp(optarg, "minmax")) band = PLOT_BAND_MINMAX;
            else if (!strcmp(optarg, "std")) band = PLOT_BAND_STD;
            else if (!strcmp(optarg, "none")) band = PLOT_BAND_NONE;
            else {
                ec = cli_usage(cmd, "--band %s: expected minmax, std or none", optarg);
                goto done;
            }
            break;
        case O_COLOR: {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || !is_color(eq + 1)) {
                ec = cli_usage(cmd, "--color %s: expected NAME=#RRGGBB or NAME=#RGB", optarg);
                goto done;
            }
            if (ncolors == MAX_GROUPS) {
                ec = cli_usage(cmd, "at most %d --color", MAX_GROUPS);
                goto done;
            }
            colors[ncolors++] = optarg;
            break;
        }
        case O_ZOOM:
            if (cli_parse_double(optarg, &zoom) != 0 || !isfinite(zoom)) {
                ec = cli_usage(cmd, "--zoom %s: expected an epoch (a number)", optarg);
                goto done;
            }
            break;
        case O_COLUMN: column = optarg; break;
        case O_TITLE: title = optarg; break;
        case O_YMIN:
        case O_YMAX: {
            double v = strtod(optarg, &end);
            if (!*optarg || *end || !isfinite(v)) {
                ec = cli_usage(cmd, "%s: expected a number", optarg);
                goto done;
            }
            if (opt == O_YMIN) ymin = v; else ymax = v;
            break;
        }
        default: ec = cli_usage(cmd, "unknown option"); goto done;
        }
    }
    if (!out) { ec = cli_usage(cmd, "-o FIG.svg is required"); goto done; }
    if (optind >= argc) { ec = cli_usage(cmd, "no CSV files given"); goto done; }
    if (!isnan(ymin) && !isnan(ymax) && !(ymin < ymax)) {
        ec = cli_usage(cmd, "--ymin %g must be below --ymax %g", ymin, ymax);
        goto done;
    }
    if ((ec = cli_output_check(cmd, out, S24_OUTFILE_STREAM)) != S24_EXIT_OK) goto done;
    for (int a = optind; a < argc; a++)
        if ((ec = cli_output_not_input(cmd, out, argv[a], 0)) != S24_EXIT_OK) goto done;
    ec = S24_EXIT_FAIL;
    /* read every file first: where phase 2 starts depends on all of them */
    csvs = calloc((size_t)(argc - optind), sizeof *csvs);
    group_of = calloc((size_t)(argc - optind), sizeof *group_of);
    if (!csvs || !group_of) { ec = cli_fail(cmd, "out of memory"); goto done; }
    for (int a = optind; a < argc; a++, ncsv++) {
        struct plot_csv *c = &csvs[ncsv];
        if ((ec = plot_csv_read(cmd, argv[a], column, c)) != S24_EXIT_OK) goto done;
        ec = S24_EXIT_FAIL;
        int k = 0;
        while (k < nlabels && fnmatch(gs[k].glob, argv[a], 0) != 0) k++;
        if (k == nlabels) {
            for (k = nlabels; k < ng && strcmp(gs[k].name, argv[a]); k++) {}
            if (k == ng) {
                if (ng == MAX_GROUPS) {
                    ec = cli_fail(cmd, "more than %d groups", MAX_GROUPS);
                    goto done;
                }
                gs[ng++].name = argv[a];
            }
        }
        group_of[ncsv] = k;
        for (int i = 0; i < c->n; i++)
            if (c->r[i].phase == 1 && c->r[i].epoch > ax.p1) ax.p1 = c->r[i].epoch;
    }
    for (int i = 0; i < ncsv; i++)
        for (int j = 0; j < csvs[i].n; j++) {
            int s = plot_slot_of(&ax, &csvs[i].r[j]);
            if (s + 1 > ax.nslots) ax.nslots = s + 1;
        }
    for (int k = 0; k < ng; k++)
        if (plot_group_alloc(&gs[k], ax.nslots) != 0) {
            ec = cli_fail(cmd, "out of memory");
            goto done;
        }
    for (int i = 0; i < ncsv; i++) plot_group_add(&gs[group_of[i]], &ax, &csvs[i]);
    for (int k = 0; k < nlabels; k++)
        if (gs[k].files == 0) {
            ec = cli_fail(cmd, "--label %s=%s matched no file", gs[k].name, gs[k].glob);
            goto done;
        }
    for (int c = 0; c < ncolors; c++) {
        size_t len = (size_t)(strchr(colors[c], '=') - colors[c]);
        int k = 0;
        while (k < ng && !(strlen(gs[k].name) == len && !strncmp(gs[k].name, colors[c], len))) k++;
        if (k == ng) {
            ec = cli_usage(cmd, "--color %s: no group named %.*s", colors[c], (int)len, colors[c]);
            goto done;
        }
        gs[k].color = colors[c] + len + 1;
    }
    plot_short_names(gs, ng);
    /* groups with the same phase 1 (e.g. strategies after one dense run) */
    int nshared = 0;
    for (int k = 0; k < ng; k++) {
        gs[k].leader = k;
        gs[k].shared = 1;
        for (int j = 0; j < k; j++)
            if (gs[j].leader == j && plot_same_phase1(&gs[j], &gs[k], &ax, band)) {
                gs[k].leader = j;
                if (gs[j].shared++ == 1) gs[j].grey = nshared++;
                break;
            }
    }
    /* the ranges; a y range or zoom that would show nothing is refused */
    struct view v = {.band = band, .title = title, .column = column, .zoom = zoom};
    double dlo, dhi, xlo, xhi;
    if (!plot_data_range(gs, ng, &ax, band, -INFINITY, &dlo, &dhi, &xlo, &xhi)) {
        dlo = dhi = 0; /* no values at all: an empty frame */
        xlo = 1;
        xhi = 2;
    }
    plot_fit_y(dlo, dhi, ymin, ymax, &v.ymin, &v.ymax);
    v.x0 = fmin(xlo, 1);
    v.x1 = xhi > v.x0 ? xhi : v.x0 + 1;
    for (int s = ax.p1 + 1; s < ax.nslots; s++)
        for (int k = 0; k < ng; k++) v.any2 |= gs[k].count[s] > 0;
    double mlo, mhi;
    if ((!isnan(ymin) || !isnan(ymax)) &&
        plot_points_within(gs, ng, &ax, v.ymin, v.ymax, &mlo, &mhi) == 0 && isfinite(mlo)) {
        ec = cli_usage(cmd, "--ymin/--ymax: the y range %g..%g holds no point of the curves "
                       "(%s from %.4g to %.4g): the plot would show nothing",
                       v.ymin, v.ymax, column, mlo, mhi);
        goto done;
    }
    if (!isnan(zoom)) {
        double zx0, zx1;
        if (!(zoom > v.x0 && zoom < v.x1) ||
            !plot_data_range(gs, ng, &ax, band, zoom, &dlo, &dhi, &zx0, &zx1)) {
            ec = cli_usage(cmd, "--zoom %g: expected an epoch inside the x axis (%g to %g)", zoom,
                           v.x0, v.x1);
            goto done;
        }
        for (int k = 0; k < ng; k++) { /* the dotted ends of phase 1 cross the zoom too */
            double end = plot_phase1_end(&gs[k], &ax, v.any2);
            if (!isnan(end)) {
                dlo = fmin(dlo, end);
                dhi = fmax(dhi, end);
            }
        }
        plot_fit_y(dlo, dhi, NAN, NAN, &v.zmin, &v.zmax);
    }
    struct sb b = {0};
    if (render(&b, gs, ng, &ax, &v) != 0) {
        free(b.p);
        ec = cli_fail(cmd, "out of memory");
        goto done;
    }
    s24_outfile_t of;
    int rc = s24_outfile_open(&of, out, S24_OUTFILE_STREAM);
    if (rc == S24_OK && (rc = s24_outfile_write(of, b.p, b.len)) != S24_OK) s24_outfile_abort(of);
    else if (rc == S24_OK) rc = s24_outfile_commit(of);
    free(b.p);
    if (rc != S24_OK) { ec = cli_lib_fail(cmd, rc); goto done; }
    /* the SVG may be on standard output: then the summary goes to stderr */
    FILE *info = s24_outfile_is_stdout(out) ? stderr : stdout;
    for (int k = 0; k < ng; k++) {
        const struct plot_group *g = &gs[k];
        int s = plot_last_slot(g, &ax), n1 = 0, n2 = 0, s0 = ax.p1 + 1;
        for (int t = 0; t < ax.nslots; t++)
            if (g->count[t] && t != s0) {
                if (t <= ax.p1) n1++;
                else n2++;
            }
        fprintf(info, "%-24s %d file%s, %d + %d epochs, last %s %.2f", g->name, g->files,
                g->files == 1 ? "" : "s", n1, n2, column, s >= 0 ? g->sum[s] / g->count[s] : 0.0);
        if (s0 < ax.nslots && g->count[s0])
            fprintf(info, ", after pruning %.2f", g->sum[s0] / g->count[s0]);
        fprintf(info, "%s\n", gs[g->leader].shared > 1 ? " (phase 1 shared)" : "");
    }
    fprintf(info, "wrote %s\n", s24_outfile_is_stdout(out) ? "the SVG to standard output" : out);
    ec = S24_EXIT_OK;
done:
    for (int k = 0; k < ng; k++) {
        free(gs[k].sum);
        free(gs[k].sumsq);
        free(gs[k].lo);
        free(gs[k].hi);
        free(gs[k].count);
    }
    for (int i = 0; csvs && i < argc - optind; i++) free(csvs[i].r);
    free(csvs);
    free(group_of);
    for (int k = 0; k < nlabels; k++) free(labels[k]);
    return ec;
}
