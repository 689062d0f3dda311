/* plot_data.h: the data side of `sparse24 plot` (plot_data.c): training CSVs
 * read into (phase, epoch, value) rows, the x axis of slots that puts phase 2
 * after the longest phase 1, the groups (mean, band, count per slot), and the
 * ranges the picture is drawn over. cmd_plot.c draws the SVG from them. It
 * draws nothing and only the CLI uses it. */
#ifndef S24_PLOT_DATA_H
#define S24_PLOT_DATA_H

#include <stddef.h>

/* Rows (and epochs) one CSV may hold. */
#define PLOT_MAX_POINTS 100000

struct plot_row {
    int phase, epoch;   /* phase 1 or 2; epoch 0 is phase 2's pruned start */
    double y;           /* NaN: no value in this row */
};

/* One CSV's rows of the plotted column, in file order. */
struct plot_csv {
    int n;
    struct plot_row *r;
};

/* The x axis is made of slots: phase 1's epoch e is slot e, phase 2's epoch
 * e is slot p1 + 1 + e (p1: the longest phase 1), so phase 2's epoch 0 has a
 * slot of its own but the x of phase 1's last epoch. */
struct plot_axis {
    int p1;      /* the longest phase 1 among the files (0: none) */
    int nslots;
};

/* A curve: the files of one --label (or one file), summed per slot. */
struct plot_group {
    const char *name;
    const char *glob;   /* NULL for a file's own group */
    const char *color;  /* from --color; NULL: the palette's */
    size_t show_off, show_len; /* the part of name the legend shows */
    int files;
    double *sum, *sumsq, *lo, *hi;  /* per slot */
    int *count;                     /* per slot; 0: no point */
    int leader;         /* the first group with the same phase-1 points (itself if none) */
    int shared;         /* groups drawing their phase 1 through this leader (1: not shared) */
    int grey;           /* a leader with shared > 1: which grey its phase 1 gets */
};

enum plot_band { PLOT_BAND_MINMAX, PLOT_BAND_STD, PLOT_BAND_NONE };

/* Reads `column` (and phase, epoch where present) of the CSV at path into
 * out; S24_EXIT_OK, or the message printed (naming the file and line) and
 * S24_EXIT_FAIL. A missing epoch column numbers each phase's rows from 1. */
int plot_csv_read(const char *cmd, const char *path, const char *column, struct plot_csv *out);

int plot_slot_of(const struct plot_axis *ax, const struct plot_row *r);
/* The x of a slot on the axis: phase 2's epoch e at p1 + e. */
double plot_x_of(const struct plot_axis *ax, int slot);

/* The per-slot arrays of g for nslots slots; -1 when out of memory. */
int plot_group_alloc(struct plot_group *g, int nslots);
void plot_group_add(struct plot_group *g, const struct plot_axis *ax, const struct plot_csv *c);
/* The last slot with a point, or -1. */
int plot_last_slot(const struct plot_group *g, const struct plot_axis *ax);
/* A group with points in phase 1 only, in a plot that has a phase 2: its
 * last mean (drawn on across phase 2); NaN for any other group. */
double plot_phase1_end(const struct plot_group *g, const struct plot_axis *ax, int any2);
/* The band at slot i: min-max, mean +/- one standard deviation, or the mean. */
void plot_band_at(const struct plot_group *g, int i, enum plot_band band, double *lo, double *hi);
/* 1 if a and b have points at the same phase-1 slots with the same mean and band. */
int plot_same_phase1(const struct plot_group *a, const struct plot_group *b,
                     const struct plot_axis *ax, enum plot_band band);
/* Sets show_off/show_len of every group: for file groups, the part of the
 * path that tells them apart. */
void plot_short_names(struct plot_group *gs, int ng);

/* A round tick step giving about `want` ticks over span. */
double plot_nice_step(double span, int want);
/* The lowest and highest mean-or-band value over the slots at x >= from, and
 * the x extent of those slots; 0 if there is none. */
int plot_data_range(const struct plot_group *gs, int ng, const struct plot_axis *ax,
                    enum plot_band band, double from, double *ylo, double *yhi, double *xlo,
                    double *xhi);
/* The y range: the bounds asked for (NaN: none), the others from the data
 * [dlo, dhi] rounded out to the tick step. */
void plot_fit_y(double dlo, double dhi, double want_lo, double want_hi, double *lo, double *hi);
/* Mean points inside [lo, hi]; *mlo, *mhi: the range of all mean points. */
int plot_points_within(const struct plot_group *gs, int ng, const struct plot_axis *ax, double lo,
                       double hi, double *mlo, double *mhi);

#endif
