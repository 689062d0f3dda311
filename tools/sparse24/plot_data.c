/* plot_data.c: the data side of `sparse24 plot` (plot_data.h): training
 * CSVs parsed by column name, rows placed on the axis by (phase, epoch), the
 * groups' sums per slot, and the ranges fitted to them. Drawing is
 * cmd_plot.c's. */
#include "plot_data.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sparse24/sparse24.h"

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

int plot_csv_read(const char *cmd, const char *path, const char *column, struct plot_csv *out)
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
                struct plot_row *nr = realloc(out->r, cap * sizeof *nr);
                if (!nr) { cli_fail(cmd, "%s: out of memory", path); goto done; }
                out->r = nr;
            }
            if (out->n >= PLOT_MAX_POINTS) {
                cli_fail(cmd, "%s: more than %d rows", path, PLOT_MAX_POINTS);
                goto done;
            }
            struct plot_row r = {1, -1, NAN};
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
                        if (x != floor(x) || x < 0 || x >= PLOT_MAX_POINTS) {
                            cli_fail(cmd, "%s:%d: epoch %g: expected 0..%d", path, line + 1, x,
                                     PLOT_MAX_POINTS - 1);
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

int plot_slot_of(const struct plot_axis *ax, const struct plot_row *r)
{
    return r->phase == 1 ? r->epoch : ax->p1 + 1 + r->epoch;
}

double plot_x_of(const struct plot_axis *ax, int slot)
{
    return slot <= ax->p1 ? slot : slot - 1;
}

int plot_group_alloc(struct plot_group *g, int nslots)
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

void plot_group_add(struct plot_group *g, const struct plot_axis *ax, const struct plot_csv *c)
{
    for (int i = 0; i < c->n; i++) {
        double y = c->r[i].y;
        int s = plot_slot_of(ax, &c->r[i]);
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
int plot_last_slot(const struct plot_group *g, const struct plot_axis *ax)
{
    for (int s = ax->nslots - 1; s >= 0; s--)
        if (g->count[s]) return s;
    return -1;
}

/* A group with points in phase 1 only, in a plot that has a phase 2 (the
 * dense phase 1 the strategies start from): its last mean, which the plot
 * carries across phase 2 as a dotted line, so that "ends above phase 1"
 * reads off the picture; NaN for any other group. */
double plot_phase1_end(const struct plot_group *g, const struct plot_axis *ax, int any2)
{
    int s = plot_last_slot(g, ax);
    return any2 && s >= 0 && s <= ax->p1 ? g->sum[s] / g->count[s] : NAN;
}

/* a round tick step giving about `want` ticks over span */
double plot_nice_step(double span, int want)
{
    double raw = span / want, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

void plot_band_at(const struct plot_group *g, int i, enum plot_band band, double *lo, double *hi)
{
    double mean = g->sum[i] / g->count[i];
    if (band == PLOT_BAND_MINMAX) {
        *lo = g->lo[i];
        *hi = g->hi[i];
    } else if (band == PLOT_BAND_STD) {
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
int plot_same_phase1(const struct plot_group *a, const struct plot_group *b,
                     const struct plot_axis *ax, enum plot_band band)
{
    int any = 0;
    for (int s = 0; s <= ax->p1; s++) {
        if (!a->count[s] != !b->count[s]) return 0;
        if (!a->count[s]) continue;
        double la, ha, lb, hb;
        plot_band_at(a, s, band, &la, &ha);
        plot_band_at(b, s, band, &lb, &hb);
        if (!close_to(a->sum[s] / a->count[s], b->sum[s] / b->count[s]) || !close_to(la, lb) ||
            !close_to(ha, hb))
            return 0;
        any = 1;
    }
    return any;
}

/* Groups named by their file's path (no --label) show in the legend only the
 * part in which those paths differ, in whole path components: the folders
 * they all start with and the components they all end with ("/train.csv")
 * are left out, so docs/results/x/resnet18_s1/continue/train.csv reads
 * "continue". A path that would lose everything keeps its whole name; one
 * such group alone keeps its path. The summary on stdout names whole paths. */
void plot_short_names(struct plot_group *gs, int ng)
{
    const char *first = NULL;
    size_t pre = 0, suf = 0, flen = 0;
    int n = 0;
    for (int k = 0; k < ng; k++) {
        const char *s = gs[k].name;
        size_t len = strlen(s), i = 0;
        gs[k].show_off = 0;
        gs[k].show_len = len;
        if (gs[k].glob) continue;
        n++;
        if (!first) {
            first = s;
            pre = suf = flen = len;
            continue;
        }
        while (i < pre && i < len && s[i] == first[i]) i++;
        pre = i;
        for (i = 0; i < suf && i < len && s[len - 1 - i] == first[flen - 1 - i]; i++) {}
        suf = i;
    }
    if (n < 2) return;
    while (pre > 0 && first[pre - 1] != '/') pre--;
    while (suf > 0 && first[flen - suf] != '/') suf--;
    for (int k = 0; k < ng; k++) {
        size_t len = strlen(gs[k].name);
        if (gs[k].glob || pre + suf >= len) continue;
        gs[k].show_off = pre;
        gs[k].show_len = len - pre - suf;
    }
}

/* The lowest and highest mean-or-band value over the slots at x >= from, and
 * the x extent of those slots; 0 if there is none. */
int plot_data_range(const struct plot_group *gs, int ng, const struct plot_axis *ax,
                    enum plot_band band, double from, double *ylo, double *yhi, double *xlo,
                    double *xhi)
{
    *ylo = *xlo = INFINITY;
    *yhi = *xhi = -INFINITY;
    for (int k = 0; k < ng; k++)
        for (int s = 0; s < ax->nslots; s++) {
            double lo, hi, x = plot_x_of(ax, s);
            if (!gs[k].count[s] || x < from) continue;
            plot_band_at(&gs[k], s, band, &lo, &hi);
            *ylo = fmin(*ylo, lo);
            *yhi = fmax(*yhi, hi);
            *xlo = fmin(*xlo, x);
            *xhi = fmax(*xhi, x);
        }
    return isfinite(*ylo);
}

/* The y range: the bounds asked for (NaN: none), the others from the data
 * [dlo, dhi] rounded out to a tick step. */
void plot_fit_y(double dlo, double dhi, double want_lo, double want_hi, double *lo, double *hi)
{
    double span = dhi - dlo;
    if (!(span > 0)) span = dhi != 0 ? fabs(dhi) * 0.1 : 1;
    double step = plot_nice_step(span, 6);
    *lo = isnan(want_lo) ? floor(dlo / step + 1e-9) * step : want_lo;
    *hi = isnan(want_hi) ? ceil(dhi / step - 1e-9) * step : want_hi;
    if (*hi <= *lo) { /* one bound given beyond the data, or all values equal */
        if (isnan(want_hi)) *hi = *lo + step;
        else *lo = *hi - step;
    }
    /* the free ends again on the step the ticks will use (it follows the
     * range, so a few rounds), so that each end of the axis has a label */
    for (int round = 0; round < 3; round++) {
        double ts = plot_nice_step(*hi - *lo, 6);
        double nlo = isnan(want_lo) ? floor(dlo / ts + 1e-9) * ts : *lo;
        double nhi = isnan(want_hi) ? ceil(dhi / ts - 1e-9) * ts : *hi;
        if (!(nhi > nlo) || (nlo == *lo && nhi == *hi)) break;
        *lo = nlo;
        *hi = nhi;
    }
}

/* Mean points inside [lo, hi]; *mlo, *mhi: the range of all mean points. */
int plot_points_within(const struct plot_group *gs, int ng, const struct plot_axis *ax, double lo,
                         double hi, double *mlo, double *mhi)
{
    int n = 0;
    *mlo = INFINITY;
    *mhi = -INFINITY;
    for (int k = 0; k < ng; k++)
        for (int s = 0; s < ax->nslots; s++) {
            if (!gs[k].count[s]) continue;
            double y = gs[k].sum[s] / gs[k].count[s];
            n += y >= lo && y <= hi;
            *mlo = fmin(*mlo, y);
            *mhi = fmax(*mhi, y);
        }
    return n;
}

