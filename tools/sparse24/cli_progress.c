/* cli_progress.c: the progress line with an ETA that the longer commands
 * (eval, permute --model, bench) draw on stderr. On a terminal it is one line
 * redrawn in place at most five times a second and erased at the end, as
 * train's bar; elsewhere it is off, so tests and logs stay clean, unless the
 * command was given --progress: then it prints a plain line every 10 s.
 *
 * The ETA is elapsed time scaled by the work left (done / total, in whatever
 * unit the caller counts); it does not model per-item cost. */
#include "cli.h"

#include <stdarg.h>
#include <unistd.h>

#include "sparse24/sparse24.h"

void cli_fmt_eta(double s, char *buf, size_t n)
{
    long t = s > 0 && s < 1e8 ? (long)(s + 0.5) : 0;
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t % 3600 / 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%lds", t);
}

void cli_progress_begin(struct cli_progress *p, const char *cmd, int forced)
{
    p->cmd = cmd;
    p->tty = isatty(STDERR_FILENO);
    p->on = p->tty || forced;
    p->drawn = 0;
    p->t0 = s24_now();
    p->last = -1e9;
}

void cli_progress_step(struct cli_progress *p, double done, double total, const char *fmt, ...)
{
    if (!p->on) return;
    double now = s24_now(), gap = p->tty ? 0.2 : 10.0;
    if (now - p->last < gap && done < total) return;
    p->last = now;
    char what[160], eta[32], el[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    double spent = now - p->t0;
    cli_fmt_eta(spent, el, sizeof el);
    if (done > 0 && total > done) cli_fmt_eta(spent * (total - done) / done, eta, sizeof eta);
    else snprintf(eta, sizeof eta, done > 0 ? "0s" : "?");
    fprintf(stderr, "%ssparse24 %s: %3.0f%% %s, %s elapsed, ETA %s%s", p->tty ? "\r\033[K" : "",
            p->cmd, total > 0 ? 100.0 * done / total : 0.0, what, el, eta, p->tty ? "" : "\n");
    fflush(stderr);
    p->drawn = 1;
}

void cli_progress_end(struct cli_progress *p)
{
    if (p->on && p->tty && p->drawn) fprintf(stderr, "\r\033[K");
    fflush(stderr);
    p->drawn = 0;
}
