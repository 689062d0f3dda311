/* st_util.c: helpers shared by the safetensors subcommands: weight
 * eligibility (with the reason a tensor is skipped), N:M parsing, regex name
 * filters, shape and byte formatting. Printing stays with the commands. */
#include "st_util.h"

#include <sys/stat.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int st_parse_pattern(const char *s, int *n, int *m)
{
    char *end;
    long a = strtol(s, &end, 10);
    if (end == s || *end != ':') return -1;
    const char *p = end + 1;
    long b = strtol(p, &end, 10);
    if (end == p || *end) return -1;
    /* mask.c groups at most 16 elements */
    if (b < 2 || b > 16 || a < 1 || a >= b) return -1;
    *n = (int)a;
    *m = (int)b;
    return 0;
}

int st_is_weight_name(const char *name)
{
    size_t l = strlen(name);
    return l >= 6 && !strcmp(name + l - 6, "weight");
}

const char *st_eligible(const struct s24_st_tensor *t, enum st_rule rule, int n, int m,
                        struct s24_view *v, char *why, size_t why_len)
{
    (void)n;
    if (!s24_dtype_is_float(t->dtype)) {
        snprintf(why, why_len, "not floating point");
        return why;
    }
    if (!st_is_weight_name(t->name)) {
        snprintf(why, why_len, "not a weight");
        return why;
    }
    if (t->ndim != 2 && t->ndim != 4) {
        snprintf(why, why_len, "%d-D, not conv/linear", t->ndim);
        return why;
    }
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] == 0) {
            snprintf(why, why_len, "empty");
            return why;
        }
    }
    if (s24_view_of_shape(t->ndim, t->shape, v) != S24_OK) {
        snprintf(why, why_len, "no N:M view");
        return why;
    }
    long long oc = (long long)t->shape[0], ic = (long long)t->shape[1];
    if (rule == ST_RULE_ASP && oc % 8) {
        snprintf(why, why_len, "out %lld %% 8 != 0 (asp)", oc);
        return why;
    }
    if (rule == ST_RULE_ASP && ic % 16) {
        snprintf(why, why_len, "in %lld %% 16 != 0 (asp)", ic);
        return why;
    }
    if (ic % m) {
        snprintf(why, why_len, "in %lld %% %d != 0", ic, m);
        return why;
    }
    return NULL;
}

void st_fmt_shape(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t o = 0;
    o += (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && o < len; d++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", d ? "," : "", (long long)shape[d]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

void st_fmt_bytes(char *buf, size_t len, double bytes)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 4) {
        bytes /= 1024.0;
        u++;
    }
    if (u == 0) snprintf(buf, len, "%.0f B", bytes);
    else snprintf(buf, len, "%.1f %s", bytes, units[u]);
}

void st_filter_init(struct st_filter *f) { memset(f, 0, sizeof *f); }

int st_filter_add(struct st_filter *f, const char *cmd, const char *re, int exclude)
{
    int *count = exclude ? &f->nexc : &f->ninc;
    regex_t *slot = exclude ? &f->exc[*count] : &f->inc[*count];
    if (*count >= ST_MAX_FILTERS) {
        cli_usage(cmd, "at most %d --%s patterns", ST_MAX_FILTERS, exclude ? "exclude" : "include");
        return -1;
    }
    int rc = regcomp(slot, re, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[256];
        regerror(rc, slot, msg, sizeof msg);
        cli_usage(cmd, "--%s '%s': %s", exclude ? "exclude" : "include", re, msg);
        return -1;
    }
    (*count)++;
    return 0;
}

const char *st_filter_why(const struct st_filter *f, const char *name)
{
    for (int i = 0; i < f->nexc; i++)
        if (regexec(&f->exc[i], name, 0, NULL, 0) == 0) return "excluded by --exclude";
    if (f->ninc == 0) return NULL;
    for (int i = 0; i < f->ninc; i++)
        if (regexec(&f->inc[i], name, 0, NULL, 0) == 0) return NULL;
    return "not matched by --include";
}

void st_filter_free(struct st_filter *f)
{
    for (int i = 0; i < f->ninc; i++) regfree(&f->inc[i]);
    for (int i = 0; i < f->nexc; i++) regfree(&f->exc[i]);
    st_filter_init(f);
}

/* One pass, dtype switch outside the loop, threads: this runs over every
 * pruned weight, so it should cost less than computing the mask. */
#define MAG_LOOP(LOAD)                                                          \
    _Pragma("omp parallel for reduction(+ : tot, kep) schedule(static)")        \
    for (int64_t i = 0; i < numel; i++) {                                     \
        double x = fabs((double)(LOAD));                                      \
        if (x != x) continue; /* a NaN weight would poison the percentage */  \
        tot += x;                                                             \
        if (mask[i]) kep += x;                                                \
    }

void st_mag_sums(enum s24_dtype dt, const void *w, const uint8_t *mask, int64_t numel,
                 double *total, double *kept)
{
    double tot = 0.0, kep = 0.0;
    const float *f32 = w;
    const double *f64 = w;
    const uint16_t *h = w;
    switch (dt) {
    case S24_F32: MAG_LOOP(f32[i]) break;
    case S24_F64: MAG_LOOP(f64[i]) break;
    case S24_F16: MAG_LOOP(s24_f16_to_f32(h[i])) break;
    case S24_BF16: MAG_LOOP(s24_bf16_to_f32(h[i])) break;
    default: break;
    }
    *total = tot;
    *kept = kep;
}

int st_progress_on(void) { return isatty(STDERR_FILENO); }

long long st_file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}
