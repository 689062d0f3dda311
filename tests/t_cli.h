/* t_cli.h: what the tests that run the sparse24 CLI share (test_cli.c,
 * test_cli_input.c, test_cli_plot.c, test_cli_release.c): the binary
 * ($S24_CLI), a run with stdout and stderr captured into files, reading those
 * files back, and the check that no temporary file was left. Include after
 * t.h. */
#ifndef S24_T_CLI_H
#define S24_T_CLI_H

#include <dirent.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const char *cli;
static char out_path[600], err_path[600];

/* $S24_CLI (default build/sparse24) and the capture files in the test's
 * scratch folder. Call first. */
static inline void t_cli_init(void)
{
    cli = getenv("S24_CLI");
    if (!cli) cli = "build/sparse24";
    snprintf(out_path, sizeof out_path, "%s/stdout.txt", t_tmpdir());
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", t_tmpdir());
}

/* Runs "$S24_CLI <args>" with stdout into out_path and stderr into err_path,
 * stdin from /dev/null (so nothing waits on a terminal); the exit code, or
 * -1 when it did not exit normally. */
static inline int run(const char *fmt, ...)
{
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s </dev/null", cli, args, out_path, err_path);
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

/* The whole file as a string (empty when unreadable); free() it. */
static inline char *slurp(const char *path)
{
    uint8_t *d;
    size_t n;
    if (s24_read_file(path, &d, &n) != S24_OK) return calloc(1, 1);
    char *s = realloc(d, n + 1);
    if (!s) {
        free(d);
        return calloc(1, 1);
    }
    s[n] = 0;
    return s;
}

/* 1 when the file holds `word`; else 0, with the start of the file printed. */
static inline int contains(const char *path, const char *word)
{
    char *s = slurp(path);
    int r = strstr(s, word) != NULL;
    if (!r) fprintf(stderr, "  (%s lacks \"%s\"; it holds: %.400s)\n", path, word, s);
    free(s);
    return r;
}

/* name inside the scratch folder (eight buffers in turn). */
static inline const char *tmp(const char *name)
{
    static char buf[8][600];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 600, "%s/%s", t_tmpdir(), name);
    return p;
}

static inline int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* No "*.tmp.*" left in the scratch folder. */
static inline int no_temp_files(void)
{
    DIR *d = opendir(t_tmpdir());
    struct dirent *e;
    int clean = 1;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) clean = 0;
    if (d) closedir(d);
    return clean;
}

#endif
