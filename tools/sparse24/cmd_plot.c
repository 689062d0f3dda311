/* cmd_plot.c: `sparse24 plot`: per-epoch test accuracy curves from the CSVs
 * that `train` writes, the mean over the runs of each group (seeds) with a
 * min-max or standard-deviation band, like the paper's Figures 3 and 4, as an
 * SVG file written by plain C. It does not draw PNG or other columns than
 * test accuracy (train accuracy with --column train_acc). */
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
"a band from the smallest to the largest run. Epochs of phase 2 follow those of\n"
"phase 1 on the x axis; a dashed line marks where phase 2 starts.\n"
"\n"
"options:\n"
"  -o, --output FILE    the SVG to write (atomically; required)\n"
"  --label NAME=GLOB    files whose path matches the shell pattern GLOB form the\n"
"                       group NAME (repeatable, in legend order); a file matching\n"
"                       no --label is a group of its own, named by its path\n"
"  --band minmax|std|none  band drawn around each mean (default minmax)\n"
"  --column NAME        the CSV column to draw (default test_acc)\n"
"  --title TEXT         title above the plot\n"
"  --ymin Y, --ymax Y   y range (default: from the data)\n"
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

struct group {
    const char *name;
    const char *glob;   /* NULL for a file's own group */
    int files;
    int npts;           /* longest run seen */
    double *sum, *sumsq, *lo, *hi;
    int *count;
};

struct csv {
    int n;
    double *y;
    int *phase;
};

static int csv_read(const char *cmd, const char *path, const char *column, struct csv *out)
{
    uint8_t *buf = NULL;
    size_t len;
    out->n = 0;
    out->y = NULL;
    out->phase = NULL;
    int rc = s24_read_file(path, &buf, &len);
    if (rc != S24_OK) return cli_lib_fail(cmd, rc);
    char *text = realloc(buf, len + 1);
    if (!text) { free(buf); return cli_fail(cmd, "%s: out of memory", path); }
    text[len] = 0;
    int ec = S24_EXIT_FAIL, col = -1, pcol = -1, ncols = 0, line = 1;
    out->n = 0;
    out->y = NULL;
    out->phase = NULL;
    char *save = text, *nl = strchr(save, '\n');
    if (!nl) { cli_fail(cmd, "%s: no header line", path); goto done; }
    *nl = 0;
    /* header: find the columns by name */
    for (char *f = save;; ncols++) {
        char *comma = strchr(f, ',');
        size_t fl = comma ? (size_t)(comma - f) : strlen(f);
        if (fl && f[fl - 1] == '\r') fl--;
        if (fl == strlen(column) && !strncmp(f, column, fl)) col = ncols;
        if (fl == 5 && !strncmp(f, "phase", 5)) pcol = ncols;
        if (!comma) { ncols++; break; }
        f = comma + 1;
    }
    if (col < 0) { cli_fail(cmd, "%s: no column \"%s\" in the header", path, column); goto done; }
    size_t cap = 64;
    out->y = malloc(cap * sizeof *out->y);
    out->phase = malloc(cap * sizeof *out->phase);
    if (!out->y || !out->phase) { cli_fail(cmd, "%s: out of memory", path); goto done; }
    for (char *row = nl + 1; *row; line++) {
        char *end = strchr(row, '\n');
        if (end) *end = 0;
        if (*row && *row != '\r') {
            if ((size_t)out->n == cap) {
                cap *= 2;
                double *ny = realloc(out->y, cap * sizeof *ny);
                if (ny) out->y = ny;
                int *np = realloc(out->phase, cap * sizeof *np);
                if (np) out->phase = np;
                if (!ny || !np) { cli_fail(cmd, "%s: out of memory", path); goto done; }
            }
            if (out->n >= MAX_POINTS) { cli_fail(cmd, "%s: more than %d rows", path, MAX_POINTS); goto done; }
            int k = 0;
            double val = NAN, ph = 1;
            for (char *f = row;; k++) {
                char *e;
                double x = strtod(f, &e);
                if (e == f || (*e != ',' && *e != 0 && *e != '\r') || !isfinite(x)) {
                    if (k == col || k == pcol) {
                        cli_fail(cmd, "%s:%d: field %d is not a number", path, line + 1, k + 1);
                        goto done;
                    }
                }
                if (k == col) val = x;
                if (k == pcol) ph = x;
                char *comma = strchr(f, ',');
                if (!comma) break;
                f = comma + 1;
            }
            if (k + 1 != ncols) {
                cli_fail(cmd, "%s:%d: %d fields, the header has %d", path, line + 1, k + 1, ncols);
                goto done;
            }
            out->y[out->n] = val;
            out->phase[out->n] = (int)ph;
            out->n++;
        }
        if (!end) break;
        row = end + 1;
    }
    if (out->n == 0) { cli_fail(cmd, "%s: no rows", path); goto done; }
    ec = S24_EXIT_OK;
done:
    if (ec != S24_EXIT_OK) {
        free(out->y);
        free(out->phase);
        out->y = NULL;
        out->phase = NULL;
    }
    free(text);
    return ec;
}

static int group_add(struct group *g, const struct csv *c)
{
    if (c->n > g->npts) {
        size_t n = (size_t)c->n;
        double *s = realloc(g->sum, n * sizeof *s);
        if (s) g->sum = s;
        double *q = realloc(g->sumsq, n * sizeof *q);
        if (q) g->sumsq = q;
        double *l = realloc(g->lo, n * sizeof *l);
        if (l) g->lo = l;
        double *h = realloc(g->hi, n * sizeof *h);
        if (h) g->hi = h;
        int *k = realloc(g->count, n * sizeof *k);
        if (k) g->count = k;
        if (!s || !q || !l || !h || !k) return -1;
        for (int i = g->npts; i < c->n; i++) {
            g->sum[i] = g->sumsq[i] = 0;
            g->lo[i] = INFINITY;
            g->hi[i] = -INFINITY;
            g->count[i] = 0;
        }
        g->npts = c->n;
    }
    for (int i = 0; i < c->n; i++) {
        double y = c->y[i];
        g->sum[i] += y;
        g->sumsq[i] += y * y;
        g->lo[i] = fmin(g->lo[i], y);
        g->hi[i] = fmax(g->hi[i], y);
        g->count[i]++;
    }
    g->files++;
    return 0;
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

static int render(struct sb *b, struct group *gs, int ng, enum band band, const char *title,
                  const char *column, double ymin, double ymax, int phase2_at)
{
    static const char *colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    const double W = 860, H = 520, L = 70, R = 210, T = 50, B = 60;
    const double pw = W - L - R, ph = H - T - B;
    int xmax = 1;
    double dlo = INFINITY, dhi = -INFINITY;
    for (int k = 0; k < ng; k++) {
        if (gs[k].npts > xmax) xmax = gs[k].npts;
        for (int i = 0; i < gs[k].npts; i++) {
            double lo, hi;
            band_at(&gs[k], i, band, &lo, &hi);
            dlo = fmin(dlo, lo);
            dhi = fmax(dhi, hi);
        }
    }
    if (isnan(ymin)) ymin = floor(dlo / 5) * 5;
    if (isnan(ymax)) ymax = ceil(dhi / 5) * 5;
    if (ymax <= ymin) ymax = ymin + 1;
    double x0 = 1, x1 = xmax > 1 ? xmax : 2;
#define PX(x) (L + ((x) - x0) / (x1 - x0) * pw)
#define PY(y) (T + (1 - ((fmin(fmax((y), ymin), ymax)) - ymin) / (ymax - ymin)) * ph)
    sb_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
                 "viewBox=\"0 0 %g %g\" font-family=\"sans-serif\" font-size=\"12\">\n"
                 "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H, W, H);
    if (title) {
        sb_printf(b, "<text x=\"%g\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">", L + pw / 2);
        sb_text(b, title);
        sb_printf(b, "</text>\n");
    }
    /* grid and ticks */
    double ys = nice_step(ymax - ymin, 6);
    for (double y = ceil(ymin / ys) * ys; y <= ymax + 1e-9; y += ys) {
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, PY(y), L + pw, PY(y));
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", L - 6, PY(y) + 4, y);
    }
    double xs = nice_step(x1 - x0, 8);
    if (xs < 1) xs = 1;
    for (double x = xs; x <= x1 + 1e-9; x += xs) {
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", PX(x), T, PX(x), T + ph);
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", PX(x), T + ph + 18, x);
    }
    sb_printf(b, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"black\"/>\n", L, T, pw, ph);
    sb_printf(b, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">epoch</text>\n", L + pw / 2, H - 18);
    sb_printf(b, "<text transform=\"translate(20,%g) rotate(-90)\" text-anchor=\"middle\">", T + ph / 2);
    sb_text(b, !strcmp(column, "test_acc") ? "test accuracy (%)" : column);
    sb_printf(b, "</text>\n");
    if (phase2_at > 1) {
        double x = PX(phase2_at - 0.5);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#555\" stroke-dasharray=\"5,4\"/>\n"
                     "<text x=\"%.1f\" y=\"%g\" fill=\"#555\">phase 2</text>\n",
                  x, T, x, T + ph, x + 4, T + 14);
    }
    for (int k = 0; k < ng; k++) {
        const struct group *g = &gs[k];
        const char *col = colors[k % 10];
        if (band != BAND_NONE && g->files > 1) {
            sb_printf(b, "<path fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" d=\"", col);
            for (int i = 0; i < g->npts; i++) {
                double lo, hi;
                band_at(g, i, band, &lo, &hi);
                sb_printf(b, "%s%.2f,%.2f", i ? " L" : "M", PX(i + 1), PY(hi));
            }
            for (int i = g->npts - 1; i >= 0; i--) {
                double lo, hi;
                band_at(g, i, band, &lo, &hi);
                sb_printf(b, " L%.2f,%.2f", PX(i + 1), PY(lo));
            }
            sb_printf(b, " Z\"/>\n");
        }
        sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"", col);
        for (int i = 0; i < g->npts; i++)
            sb_printf(b, "%s%.2f,%.2f", i ? " " : "", PX(i + 1), PY(g->sum[i] / g->count[i]));
        sb_printf(b, "\"/>\n");
        double ly = T + 10 + 20 * k;
        sb_printf(b, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>\n",
                  L + pw + 12, ly, L + pw + 34, ly, col);
        sb_printf(b, "<text x=\"%g\" y=\"%.1f\">", L + pw + 40, ly + 4);
        sb_text(b, g->name);
        sb_printf(b, " (n=%d, last %.2f)</text>\n", g->files,
                  g->npts ? g->sum[g->npts - 1] / g->count[g->npts - 1] : 0.0);
    }
    sb_printf(b, "</svg>\n");
#undef PX
#undef PY
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
    int ng = 0, nlabels = 0, ec = S24_EXIT_FAIL;
    enum band band = BAND_MINMAX;
    double ymin = NAN, ymax = NAN;
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
    int phase2_at = 0;
    for (int a = optind; a < argc; a++) {
        struct csv c = {0, NULL, NULL};
        if ((ec = csv_read(cmd, argv[a], column, &c)) != S24_EXIT_OK) goto done;
        ec = S24_EXIT_FAIL;
        int k = 0;
        while (k < nlabels && fnmatch(gs[k].glob, argv[a], 0) != 0) k++;
        if (k == nlabels) {
            for (k = nlabels; k < ng && strcmp(gs[k].name, argv[a]); k++) {}
            if (k == ng) {
                if (ng == MAX_GROUPS) { free(c.y); free(c.phase); ec = cli_fail(cmd, "more than %d groups", MAX_GROUPS); goto done; }
                gs[ng++].name = argv[a];
            }
        }
        if (!phase2_at)
            for (int i = 1; i < c.n; i++)
                if (c.phase[i] != c.phase[i - 1]) { phase2_at = i + 1; break; }
        int bad = group_add(&gs[k], &c);
        free(c.y);
        free(c.phase);
        if (bad) { ec = cli_fail(cmd, "out of memory"); goto done; }
    }
    for (int k = 0; k < nlabels; k++)
        if (gs[k].files == 0) { ec = cli_fail(cmd, "--label %s=%s matched no file", gs[k].name, gs[k].glob); goto done; }
    struct sb b = {0};
    if (render(&b, gs, ng, band, title, column, ymin, ymax, phase2_at) != 0) {
        free(b.p);
        ec = cli_fail(cmd, "out of memory");
        goto done;
    }
    int rc = s24_write_file_atomic(out, b.p, b.len);
    free(b.p);
    if (rc != S24_OK) { ec = cli_lib_fail(cmd, rc); goto done; }
    for (int k = 0; k < ng; k++)
        printf("%-24s %d file%s, %d epochs, last %s %.2f\n", gs[k].name, gs[k].files,
               gs[k].files == 1 ? "" : "s", gs[k].npts, column,
               gs[k].sum[gs[k].npts - 1] / gs[k].count[gs[k].npts - 1]);
    printf("wrote %s\n", out);
    ec = S24_EXIT_OK;
done:
    for (int k = 0; k < ng; k++) {
        free(gs[k].sum);
        free(gs[k].sumsq);
        free(gs[k].lo);
        free(gs[k].hi);
        free(gs[k].count);
    }
    for (int k = 0; k < nlabels; k++) free(labels[k]);
    return ec;
}
