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
 *
 * It does not draw PNG, several columns at once, or error bars. */
#include "cli.h"

#include <fnmatch.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
"in grey. Empty or nan values are left out.\n"
"\n"
"options:\n"
"  -o, --output FILE    the SVG to write (atomically; required); '-' or\n"
"                       /dev/stdout writes it to standard output\n"
"  --label NAME=GLOB    files whose path matches the shell pattern GLOB form the\n"
"                       group NAME (repeatable, in legend order); a file matching\n"
"                       no --label is a group of its own, named by its path\n"
"  --band minmax|std|none  band drawn around each mean (default minmax)\n"
"  --column NAME        the CSV column to draw (default test_acc)\n"
"  --title TEXT         title above the plot\n"
"  --ymin Y, --ymax Y   y range (default: from the data, rounded to a tick;\n"
"                       --ymin must be below --ymax)\n"
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

/* ---------------------------------------------------------------- data */
#define MAX_GROUPS 32
#define MAX_POINTS 100000
/* Legend names longer than this keep their start and end around "...". */
#define MAX_LEGEND_NAME 120

struct row {
    int phase, epoch;   /* phase 1 or 2; epoch 0 is phase 2's pruned start */
    double y;           /* NaN: no value in this row */
};

struct csv {
    int n;
    struct row *r;
};

/* One field as a value: *y is NaN for an empty field or "nan"; -1 if it is
 * something else than a finite number. */
static int field_value(const char *f, double *y)
{
    char *e;
    const char *end = f + strcspn(f, ",\r");
    if (end == f) { *y = NAN; return 0; }
    double x = strtod(f, &e);
    if (e != end) return -1;
    if (isnan(x)) { *y = NAN; return 0; }
    if (!isfinite(x)) return -1;
    *y = x;
    return 0;
}

static int csv_read(const char *cmd, const char *path, const char *column, struct csv *out)
{
    uint8_t *buf = NULL;
    size_t len;
    out->n = 0;
    out->r = NULL;
    int rc = s24_read_file(path, &buf, &len);
    if (rc != S24_OK) return cli_lib_fail(cmd, rc);
    char *text = realloc(buf, len + 1);
    if (!text) { free(buf); return cli_fail(cmd, "%s: out of memory", path); }
    text[len] = 0;
    int ec = S24_EXIT_FAIL, col = -1, pcol = -1, ecol = -1, ncols = 0, line = 1;
    int per_phase[3] = {0, 0, 0}; /* rows so far, for a CSV without an epoch column */
    char *nl = strchr(text, '\n');
    if (!nl) { cli_fail(cmd, "%s: no header line", path); goto done; }
    *nl = 0;
    /* header: find the columns by name */
    for (char *f = text;; ncols++) {
        char *comma = strchr(f, ',');
        size_t fl = comma ? (size_t)(comma - f) : strlen(f);
        if (fl && f[fl - 1] == '\r') fl--;
        if (fl == strlen(column) && !strncmp(f, column, fl)) col = ncols;
        if (fl == 5 && !strncmp(f, "phase", 5)) pcol = ncols;
        if (fl == 5 && !strncmp(f, "epoch", 5)) ecol = ncols;
        if (!comma) { ncols++; break; }
        f = comma + 1;
    }
    if (col < 0) { cli_fail(cmd, "%s: no column \"%s\" in the header", path, column); goto done; }
    size_t cap = 64;
    out->r = malloc(cap * sizeof *out->r);
    if (!out->r) { cli_fail(cmd, "%s: out of memory", path); goto done; }
    for (char *row = nl + 1; *row; line++) {
        char *end = strchr(row, '\n');
        if (end) *end = 0;
        if (*row && *row != '\r') {
            if ((size_t)out->n == cap) {
                cap *= 2;
                struct row *nr = realloc(out->r, cap * sizeof *nr);
                if (!nr) { cli_fail(cmd, "%s: out of memory", path); goto done; }
                out->r = nr;
            }
            if (out->n >= MAX_POINTS) { cli_fail(cmd, "%s: more than %d rows", path, MAX_POINTS); goto done; }
            struct row r = {1, -1, NAN};
            double x;
            int k = 0;
            for (char *f = row;; k++) {
                if (k == col || k == pcol || k == ecol) {
                    if (field_value(f, &x) != 0 || (k != col && isnan(x))) {
                        cli_fail(cmd, "%s:%d: field %d is not a number", path, line + 1, k + 1);
                        goto done;
                    }
                    if (k == col) r.y = x;
                    if (k == pcol) {
                        if (x != 1 && x != 2) {
                            cli_fail(cmd, "%s:%d: phase %g: expected 1 or 2", path, line + 1, x);
                            goto done;
                        }
                        r.phase = (int)x;
                    }
                    if (k == ecol) {
                        if (x != floor(x) || x < 0 || x >= MAX_POINTS) {
                            cli_fail(cmd, "%s:%d: epoch %g: expected 0..%d", path, line + 1, x,
                                     MAX_POINTS - 1);
                            goto done;
                        }
                        r.epoch = (int)x;
                    }
                }
                char *comma = strchr(f, ',');
                if (!comma) break;
                f = comma + 1;
            }
            if (k + 1 != ncols) {
                cli_fail(cmd, "%s:%d: %d fields, the header has %d", path, line + 1, k + 1, ncols);
                goto done;
            }
            per_phase[r.phase]++;
            if (ecol < 0) r.epoch = per_phase[r.phase];
            out->r[out->n++] = r;
        }
        if (!end) break;
        row = end + 1;
    }
    if (out->n == 0) { cli_fail(cmd, "%s: no rows", path); goto done; }
    ec = S24_EXIT_OK;
done:
    if (ec != S24_EXIT_OK) {
        free(out->r);
        out->r = NULL;
        out->n = 0;
    }
    free(text);
    return ec;
}

/* The x axis is made of slots: phase 1's epoch e is slot e, phase 2's epoch
 * e is slot p1 + 1 + e (p1: the longest phase 1), so phase 2's epoch 0 has a
 * slot of its own but the x of phase 1's last epoch. */
struct axis {
    int p1;      /* the longest phase 1 among the files (0: none) */
    int nslots;
};

static int slot_of(const struct axis *ax, const struct row *r)
{
    return r->phase == 1 ? r->epoch : ax->p1 + 1 + r->epoch;
}

static double x_of(const struct axis *ax, int slot)
{
    return slot <= ax->p1 ? slot : slot - 1;
}

struct group {
    const char *name;
    const char *glob;   /* NULL for a file's own group */
    int files;
    double *sum, *sumsq, *lo, *hi;  /* per slot */
    int *count;                     /* per slot; 0: no point */
    int leader;         /* the first group with the same phase-1 points (itself if none) */
    int shared;         /* groups drawing their phase 1 through this leader (1: not shared) */
};

static int group_alloc(struct group *g, int nslots)
{
    size_t n = (size_t)nslots;
    g->sum = calloc(n, sizeof *g->sum);
    g->sumsq = calloc(n, sizeof *g->sumsq);
    g->lo = malloc(n * sizeof *g->lo);
    g->hi = malloc(n * sizeof *g->hi);
    g->count = calloc(n, sizeof *g->count);
    if (!g->sum || !g->sumsq || !g->lo || !g->hi || !g->count) return -1;
    for (size_t i = 0; i < n; i++) {
        g->lo[i] = INFINITY;
        g->hi[i] = -INFINITY;
    }
    return 0;
}

static void group_add(struct group *g, const struct axis *ax, const struct csv *c)
{
    for (int i = 0; i < c->n; i++) {
        double y = c->r[i].y;
        int s = slot_of(ax, &c->r[i]);
        if (isnan(y)) continue;
        g->sum[s] += y;
        g->sumsq[s] += y * y;
        g->lo[s] = fmin(g->lo[s], y);
        g->hi[s] = fmax(g->hi[s], y);
        g->count[s]++;
    }
    g->files++;
}

/* The last slot with a point, or -1. */
static int last_slot(const struct group *g, const struct axis *ax)
{
    for (int s = ax->nslots - 1; s >= 0; s--)
        if (g->count[s]) return s;
    return -1;
}

/* a round tick step giving about `want` ticks over span */
static double nice_step(double span, int want)
{
    double raw = span / want, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

enum band { BAND_MINMAX, BAND_STD, BAND_NONE };

static void band_at(const struct group *g, int i, enum band band, double *lo, double *hi)
{
    double mean = g->sum[i] / g->count[i];
    if (band == BAND_MINMAX) {
        *lo = g->lo[i];
        *hi = g->hi[i];
    } else if (band == BAND_STD) {
        double var = g->sumsq[i] / g->count[i] - mean * mean;
        double sd = var > 0 ? sqrt(var) : 0;
        *lo = mean - sd;
        *hi = mean + sd;
    } else {
        *lo = *hi = mean;
    }
}

static int close_to(double a, double b)
{
    return fabs(a - b) <= 1e-9 * (1 + fabs(a) + fabs(b));
}

/* 1 if a and b have points at the same phase-1 slots with the same mean and band. */
static int same_phase1(const struct group *a, const struct group *b, const struct axis *ax,
                       enum band band)
{
    int any = 0;
    for (int s = 0; s <= ax->p1; s++) {
        if (!a->count[s] != !b->count[s]) return 0;
        if (!a->count[s]) continue;
        double la, ha, lb, hb;
        band_at(a, s, band, &la, &ha);
        band_at(b, s, band, &lb, &hb);
        if (!close_to(a->sum[s] / a->count[s], b->sum[s] / b->count[s]) || !close_to(la, lb) ||
            !close_to(ha, hb))
            return 0;
        any = 1;
    }
    return any;
}

/* Legend name: the group's, shortened around "..." past MAX_LEGEND_NAME. */
static void legend_name(const char *name, char *out, size_t n)
{
    size_t len = strlen(name), keep = MAX_LEGEND_NAME / 2 - 2;
    if (len <= MAX_LEGEND_NAME || n < MAX_LEGEND_NAME + 1)
        snprintf(out, n, "%s", name);
    else
        snprintf(out, n, "%.*s...%s", (int)keep, name, name + len - keep);
}

struct plot {
    const struct axis *ax;
    enum band band;
    double W, H, L, T, pw, ph, x0, x1, ymin, ymax;
};

static double px(const struct plot *p, double x)
{
    return p->L + (x - p->x0) / (p->x1 - p->x0) * p->pw;
}

static double py(const struct plot *p, double y)
{
    double c = fmin(fmax(y, p->ymin), p->ymax);
    return p->T + (1 - (c - p->ymin) / (p->ymax - p->ymin)) * p->ph;
}

/* The mean curve and its band over the slots [from, to] of g. */
static void draw_curve(struct sb *b, const struct plot *p, const struct group *g, int from, int to,
                       const char *col, const char *dash)
{
    int n = 0;
    for (int s = from; s <= to; s++) n += g->count[s] > 0;
    if (!n) return;
    if (p->band != BAND_NONE && g->files > 1) {
        int first = 1;
        sb_printf(b, "<path fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" d=\"", col);
        for (int s = from; s <= to; s++) {
            double lo, hi;
            if (!g->count[s]) continue;
            band_at(g, s, p->band, &lo, &hi);
            sb_printf(b, "%s%.2f,%.2f", first ? "M" : " L", px(p, x_of(p->ax, s)), py(p, hi));
            first = 0;
        }
        for (int s = to; s >= from; s--) {
            double lo, hi;
            if (!g->count[s]) continue;
            band_at(g, s, p->band, &lo, &hi);
            sb_printf(b, " L%.2f,%.2f", px(p, x_of(p->ax, s)), py(p, lo));
        }
        sb_printf(b, " Z\"/>\n");
    }
    sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"%s%s%s points=\"", col,
              dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
    int first = 1;
    for (int s = from; s <= to; s++) {
        if (!g->count[s]) continue;
        sb_printf(b, "%s%.2f,%.2f", first ? "" : " ", px(p, x_of(p->ax, s)),
                  py(p, g->sum[s] / g->count[s]));
        first = 0;
    }
    sb_printf(b, "\"/>\n");
}

static void legend_entry(struct sb *b, const struct plot *p, int k, const char *col,
                         const char *text)
{
    double ly = p->T + 10 + 20 * k, lx = p->L + p->pw + 12;
    sb_printf(b, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"%s\" "
                 "stroke-width=\"3\"/>\n", lx, ly, lx + 22, ly, col);
    sb_printf(b, "<text x=\"%g\" y=\"%.1f\">", lx + 28, ly + 4);
    sb_text(b, text);
    sb_printf(b, "</text>\n");
}

/* The legend's text of group g (or of the shared phase 1 it leads). */
static void legend_text(const struct group *g, const struct axis *ax, int shared_phase1, char *out,
                        size_t n)
{
    char name[MAX_LEGEND_NAME + 8];
    if (shared_phase1) {
        snprintf(out, n, "phase 1, shared by %d groups", g->shared);
        return;
    }
    int s = last_slot(g, ax);
    legend_name(g->name, name, sizeof name);
    snprintf(out, n, "%s (n=%d, last %.2f)", name, g->files,
             s >= 0 ? g->sum[s] / g->count[s] : 0.0);
}

/* Approximate width of text at font-size 12 (sans-serif averages ~6.5 px a character). */
static double text_width(const char *s)
{
    return 7.0 * (double)strlen(s);
}

static int render(struct sb *b, struct group *gs, int ng, const struct axis *ax, enum band band,
                  const char *title, const char *column, double ymin, double ymax)
{
    static const char *colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    static const char *greys[] = {"#444444", "#888888", "#aaaaaa"};
    char text[MAX_LEGEND_NAME + 64];
    struct plot p = {.ax = ax, .band = band, .L = 70, .T = 50, .pw = 580, .ph = 410,
                     .ymin = ymin, .ymax = ymax};
    const double B = 60;
    int entries = 0, any2 = 0;
    double legend_w = 190, dlo = INFINITY, dhi = -INFINITY, xlo = INFINITY, xhi = -INFINITY;
    for (int k = 0; k < ng; k++) {
        for (int s = 0; s < ax->nslots; s++) {
            double lo, hi;
            if (!gs[k].count[s]) continue;
            band_at(&gs[k], s, band, &lo, &hi);
            dlo = fmin(dlo, lo);
            dhi = fmax(dhi, hi);
            xlo = fmin(xlo, x_of(ax, s));
            xhi = fmax(xhi, x_of(ax, s));
            any2 |= s > ax->p1;
        }
        for (int shared = 0; shared < 2; shared++) {
            if (shared && !(gs[k].leader == k && gs[k].shared > 1)) continue;
            legend_text(&gs[k], ax, shared, text, sizeof text);
            legend_w = fmax(legend_w, 40 + text_width(text));
            entries++;
        }
    }
    if (!isfinite(dlo)) dlo = dhi = 0; /* no values at all: an empty frame */
    if (!isfinite(xlo)) xlo = 1, xhi = 2;
    /* y range: what was asked, else the data rounded out to a tick step */
    double span = dhi - dlo;
    if (!(span > 0)) span = dhi != 0 ? fabs(dhi) * 0.1 : 1;
    double step = nice_step(span, 6);
    if (isnan(p.ymin)) p.ymin = floor(dlo / step + 1e-9) * step;
    if (isnan(p.ymax)) p.ymax = ceil(dhi / step - 1e-9) * step;
    if (p.ymax <= p.ymin) { /* one bound given beyond the data, or all values equal */
        if (isnan(ymax)) p.ymax = p.ymin + step;
        else p.ymin = p.ymax - step;
    }
    p.x0 = fmin(xlo, 1);
    p.x1 = xhi > p.x0 ? xhi : p.x0 + 1;
    p.W = p.L + p.pw + 20 + legend_w;
    p.H = fmax(p.T + p.ph + B, p.T + 20 * entries + 30);
    p.ph = p.H - p.T - B;
    sb_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
                 "viewBox=\"0 0 %g %g\" font-family=\"sans-serif\" font-size=\"12\">\n"
                 "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", p.W, p.H, p.W, p.H);
    if (title) {
        sb_printf(b, "<text x=\"%g\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">",
                  p.L + p.pw / 2);
        sb_text(b, title);
        sb_printf(b, "</text>\n");
    }
    /* grid and ticks, at integer multiples of the step (no drift in the labels) */
    double ys = nice_step(p.ymax - p.ymin, 6);
    for (double i = ceil(p.ymin / ys - 1e-9); i * ys <= p.ymax + 1e-9 * ys; i++) {
        double y = i * ys + 0.0; /* + 0.0: no "-0" label */
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                  p.L, py(&p, y), p.L + p.pw, py(&p, y));
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", p.L - 6,
                  py(&p, y) + 4, y);
    }
    double xs = nice_step(p.x1 - p.x0, 8);
    if (xs < 1) xs = 1;
    for (double i = ceil(p.x0 / xs); i * xs <= p.x1 + 1e-9; i++) {
        double x = i * xs + 0.0;
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n",
                  px(&p, x), p.T, px(&p, x), p.T + p.ph);
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", px(&p, x),
                  p.T + p.ph + 18, x);
    }
    sb_printf(b, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" "
                 "stroke=\"black\"/>\n", p.L, p.T, p.pw, p.ph);
    sb_printf(b, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">epoch</text>\n", p.L + p.pw / 2,
              p.H - 18);
    sb_printf(b, "<text transform=\"translate(20,%g) rotate(-90)\" text-anchor=\"middle\">",
              p.T + p.ph / 2);
    sb_text(b, !strcmp(column, "test_acc") ? "test accuracy (%)" : column);
    sb_printf(b, "</text>\n");
    if (ax->p1 >= 1 && any2) {
        double x = px(&p, ax->p1);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#555\" "
                     "stroke-dasharray=\"5,4\"/>\n"
                     "<text x=\"%.1f\" y=\"%g\" fill=\"#555\">phase 2</text>\n",
                  x, p.T, x, p.T + p.ph, x + 4, p.T + 14);
    }
    int entry = 0, nshared = 0;
    for (int k = 0; k < ng; k++) {
        const struct group *g = &gs[k];
        const char *col = colors[k % 10];
        int from = 0;
        if (gs[g->leader].shared > 1) {
            /* phase 1 drawn once by the leader; each member from phase 1's last epoch on */
            if (g->leader == k) {
                const char *grey = greys[nshared % 3];
                draw_curve(b, &p, g, 0, ax->p1, grey, nshared >= 3 ? "6,3" : NULL);
                legend_text(g, ax, 1, text, sizeof text);
                legend_entry(b, &p, entry++, grey, text);
                nshared++;
            }
            from = ax->p1;
        }
        draw_curve(b, &p, g, from, ax->nslots - 1, col, NULL);
        int s0 = ax->p1 + 1; /* phase 2's epoch 0: right after pruning */
        if (s0 < ax->nslots && g->count[s0])
            sb_printf(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" fill=\"white\" stroke=\"%s\" "
                         "stroke-width=\"1.8\"/>\n",
                      px(&p, x_of(ax, s0)), py(&p, g->sum[s0] / g->count[s0]), col);
        legend_text(g, ax, 0, text, sizeof text);
        legend_entry(b, &p, entry++, col, text);
    }
    sb_printf(b, "</svg>\n");
    return b->oom ? -1 : 0;
}

int cmd_plot(int argc, char **argv)
{
    enum { O_LABEL = 256, O_BAND, O_COLUMN, O_TITLE, O_YMIN, O_YMAX };
    static const struct option lo[] = {
        {"output", required_argument, 0, 'o'}, {"label", required_argument, 0, O_LABEL},
        {"band", required_argument, 0, O_BAND}, {"column", required_argument, 0, O_COLUMN},
        {"title", required_argument, 0, O_TITLE}, {"ymin", required_argument, 0, O_YMIN},
        {"ymax", required_argument, 0, O_YMAX}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = argv[0], *out = NULL, *title = NULL, *column = "test_acc";
    struct group gs[MAX_GROUPS];
    char *labels[MAX_GROUPS];
    struct csv *csvs = NULL;
    int *group_of = NULL;
    int ng = 0, nlabels = 0, ncsv = 0, ec = S24_EXIT_FAIL;
    enum band band = BAND_MINMAX;
    double ymin = NAN, ymax = NAN;
    struct axis ax = {0, 0};
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
            if (!eq || eq == optarg || !eq[1]) { ec = cli_usage(cmd, "--label %s: expected NAME=GLOB", optarg); goto done; }
            if (ng == MAX_GROUPS) { ec = cli_usage(cmd, "at most %d groups", MAX_GROUPS); goto done; }
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
            if (!strcmp(optarg, "minmax")) band = BAND_MINMAX;
            else if (!strcmp(optarg, "std")) band = BAND_STD;
            else if (!strcmp(optarg, "none")) band = BAND_NONE;
            else { ec = cli_usage(cmd, "--band %s: expected minmax, std or none", optarg); goto done; }
            break;
        case O_COLUMN: column = optarg; break;
        case O_TITLE: title = optarg; break;
        case O_YMIN:
        case O_YMAX: {
            double v = strtod(optarg, &end);
            if (!*optarg || *end || !isfinite(v)) { ec = cli_usage(cmd, "%s: expected a number", optarg); goto done; }
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
        struct csv *c = &csvs[ncsv];
        if ((ec = csv_read(cmd, argv[a], column, c)) != S24_EXIT_OK) goto done;
        ec = S24_EXIT_FAIL;
        int k = 0;
        while (k < nlabels && fnmatch(gs[k].glob, argv[a], 0) != 0) k++;
        if (k == nlabels) {
            for (k = nlabels; k < ng && strcmp(gs[k].name, argv[a]); k++) {}
            if (k == ng) {
                if (ng == MAX_GROUPS) { ec = cli_fail(cmd, "more than %d groups", MAX_GROUPS); goto done; }
                gs[ng++].name = argv[a];
            }
        }
        group_of[ncsv] = k;
        for (int i = 0; i < c->n; i++)
            if (c->r[i].phase == 1 && c->r[i].epoch > ax.p1) ax.p1 = c->r[i].epoch;
    }
    for (int i = 0; i < ncsv; i++)
        for (int j = 0; j < csvs[i].n; j++) {
            int s = slot_of(&ax, &csvs[i].r[j]);
            if (s + 1 > ax.nslots) ax.nslots = s + 1;
        }
    for (int k = 0; k < ng; k++)
        if (group_alloc(&gs[k], ax.nslots) != 0) { ec = cli_fail(cmd, "out of memory"); goto done; }
    for (int i = 0; i < ncsv; i++) group_add(&gs[group_of[i]], &ax, &csvs[i]);
    for (int k = 0; k < nlabels; k++)
        if (gs[k].files == 0) { ec = cli_fail(cmd, "--label %s=%s matched no file", gs[k].name, gs[k].glob); goto done; }
    /* groups with the same phase 1 (e.g. strategies after one dense run) */
    for (int k = 0; k < ng; k++) {
        gs[k].leader = k;
        gs[k].shared = 1;
        for (int j = 0; j < k; j++)
            if (gs[j].leader == j && same_phase1(&gs[j], &gs[k], &ax, band)) {
                gs[k].leader = j;
                gs[j].shared++;
                break;
            }
    }
    struct sb b = {0};
    if (render(&b, gs, ng, &ax, band, title, column, ymin, ymax) != 0) {
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
        const struct group *g = &gs[k];
        int s = last_slot(g, &ax), n1 = 0, n2 = 0, s0 = ax.p1 + 1;
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
