/* test_train_crash.c: training survives crashes and failed writes
 * ($S24_CLI train, smallcnn on synthetic data, CPU, one thread). A run is
 * killed with SIGKILL at seeded random times, several times, each time
 * continued with --resume, and must end with the same files as an
 * uninterrupted run with the same seed: checkpoints byte for byte, CSVs but
 * for their wall-clock columns; no temporary file may be left, with unnamed
 * temporary files and with named ones. Then each kind of write failure
 * (S24_FAULT: open, write, fsync, rename) stops a run with exit 1 and a
 * message naming the file, leaves every checkpoint already written whole,
 * and --resume finishes the run to the same result. */
#include "t.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *cli;
static const char *const train_args[] = {
    "train", "--model", "smallcnn", "--data", "synthetic", "--synthetic-size", "16",
    "--synthetic-train", "512", "--synthetic-test", "128", "--batch", "64", "--epochs", "3",
    "--phase2-epochs", "3", "--seed", "3", "--threads", "1"};
#define NARGS ((int)(sizeof train_args / sizeof train_args[0]))

static const char *path_in(const char *dir, const char *name)
{
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 1024, "%.900s/%.100s", dir, name);
    return p;
}

static const char *sub(const char *name)
{
    const char *p = path_in(t_tmpdir(), name);
    mkdir(p, 0755);
    return p;
}

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Start `train ... --out dir [--resume]` (resume when a state exists); fault
 * is S24_FAULT for it (NULL: none). Output goes to dir/../log_<name>. */
static pid_t start(const char *dir, const char *fault)
{
    const char *argv[NARGS + 6];
    int n = 0;
    argv[n++] = cli;
    for (int i = 0; i < NARGS; i++) argv[n++] = train_args[i];
    argv[n++] = "--out";
    argv[n++] = dir;
    if (exists(path_in(dir, "state.safetensors"))) argv[n++] = "--resume";
    argv[n] = NULL;
    char log[1100];
    snprintf(log, sizeof log, "%.1000s.log", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (fault) setenv("S24_FAULT", fault, 1);
        else unsetenv("S24_FAULT");
        execv(cli, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Wait for pid, killing it with SIGKILL after `after` seconds (< 0: never);
 * if `appear` is given, *appear_s gets when that file first existed.
 * Returns its exit code, or 128 + the signal. */
static int finish_at(pid_t pid, double after, const char *appear, double *appear_s)
{
    int st;
    double t0 = s24_now();
    for (;;) {
        pid_t r = waitpid(pid, &st, after < 0 && !appear ? 0 : WNOHANG);
        if (r == pid) break;
        if (r < 0) return -1;
        if (appear && exists(appear)) {
            *appear_s = s24_now() - t0;
            appear = NULL;
        }
        if (after >= 0 && s24_now() - t0 >= after) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        usleep(1000);
    }
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static int finish(pid_t pid, double after)
{
    return finish_at(pid, after, NULL, NULL);
}

/* A CSV without its wall-clock columns ("seconds", "*_s"). */
static char *csv_no_time(const char *path)
{
    uint8_t *d;
    size_t n;
    if (s24_read_file(path, &d, &n) != S24_OK) return NULL;
    char *out = malloc(n + 2);
    uint64_t drop = 0; /* bit c: column c is dropped (the first 64 columns) */
    size_t o = 0;
    for (size_t i = 0, line = 0; i < n; line++) {
        size_t e = i;
        while (e < n && d[e] != '\n') e++;
        int col = 0;
        for (size_t f = i; f <= e; col++) {
            size_t g = f;
            while (g < e && d[g] != ',') g++;
            if (line == 0) {
                size_t len = g - f;
                int t = (len == 7 && !memcmp(d + f, "seconds", 7)) ||
                        (len > 2 && !memcmp(d + g - 2, "_s", 2));
                if (t && col < 64) drop |= 1ull << col;
            }
            if (!(col < 64 && (drop >> col & 1))) {
                memcpy(out + o, d + f, g - f);
                o += g - f;
                out[o++] = ',';
            }
            f = g + 1;
        }
        out[o ? o - 1 : o++] = '\n';
        i = e + 1;
    }
    out[o] = 0;
    free(d);
    return out;
}

/* dir holds what ref holds: checkpoints byte for byte (not the resumable
 * state, whose CSV copy has times), CSVs without their time columns. */
static int same_outputs(const char *ref, const char *dir)
{
    DIR *d = opendir(ref);
    struct dirent *e;
    int same = d != NULL, files = 0;
    while (d && (e = readdir(d))) {
        const char *n = e->d_name;
        size_t len = strlen(n);
        if (n[0] == '.' || !strcmp(n, "state.safetensors")) continue;
        char a[1400], b[1400];
        snprintf(a, sizeof a, "%s/%s", ref, n);
        snprintf(b, sizeof b, "%s/%s", dir, n);
        files++;
        if (len > 4 && !strcmp(n + len - 4, ".csv")) {
            char *x = csv_no_time(a), *y = csv_no_time(b);
            if (!x || !y || strcmp(x, y)) {
                fprintf(stderr, "  %s differs:\n%s\nvs\n%s\n", b, x ? x : "", y ? y : "(none)");
                same = 0;
            }
            free(x);
            free(y);
            continue;
        }
        uint8_t *x = NULL, *y = NULL;
        size_t nx = 0, ny = 0;
        int ok = s24_read_file(a, &x, &nx) == S24_OK && s24_read_file(b, &y, &ny) == S24_OK &&
                 nx == ny && !memcmp(x, y, nx);
        if (!ok) {
            fprintf(stderr, "  %s differs from %s\n", b, a);
            same = 0;
        }
        free(x);
        free(y);
    }
    if (d) closedir(d);
    return same && files >= 4;
}

/* Files in dir whose name holds ".tmp." */
static int temps_in(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) {
            fprintf(stderr, "  left behind: %s/%s\n", dir, e->d_name);
            n++;
        }
    if (d) closedir(d);
    return n;
}

/* Every safetensors file in dir reads back whole. */
static int all_whole(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int ok = d != NULL;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 12 || strcmp(e->d_name + len - 12, ".safetensors")) continue;
        struct s24_st st;
        if (s24_st_read(path_in(dir, e->d_name), &st) != S24_OK) {
            fprintf(stderr, "  %s: %s\n", e->d_name, s24_last_error());
            ok = 0;
            continue;
        }
        s24_st_free(&st);
    }
    if (d) closedir(d);
    return ok;
}

static void rm_rf(const char *dir)
{
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%.1000s' '%.1000s.log'", dir, dir);
    if (system(cmd) != 0) fprintf(stderr, "  could not remove %s\n", dir);
}

/* How far the saved state of dir is: "phase P epoch E", or "no state". */
static const char *progress(const char *dir)
{
    static char buf[64];
    struct s24_st st;
    if (s24_st_read(path_in(dir, "state.safetensors"), &st) != S24_OK) return "no state";
    const char *p = s24_st_meta_get(&st, "sparse24.state.phase");
    const char *e = s24_st_meta_get(&st, "sparse24.state.epochs_done");
    snprintf(buf, sizeof buf, "phase %s epoch %s", p ? p : "?", e ? e : "?");
    s24_st_free(&st);
    return buf;
}

/* SIGKILL at `kills` seeded random moments, then run to the end. */
static void crash_run(const char *ref, const char *dir, double t_start, double t_ref, int kills,
                      uint64_t seed, const char *fault)
{
    struct s24_rng r;
    s24_rng_seed(&r, seed);
    int done = 0;
    char seen[2][64] = {"", ""};
    printf("test_train_crash: %s temporary files: SIGKILL after (state then)",
           fault ? "named" : "unnamed");
    for (int k = 0; k < kills && !done; k++) {
        /* a moment of the training (an epoch, a checkpoint write), after the
         * start-up (data, model) that every attempt repeats */
        double at = t_start + 0.5 * s24_rng_uniform(&r) * (t_ref - t_start);
        int rc = finish(start(dir, fault), at);
        done = rc == 0;
        CHECK(rc == 0 || rc == 128 + SIGKILL, "attempt %d: exit %d", k, rc);
        const char *state = progress(dir);
        printf(" %.3f (%s)", at, state);
        if (k == 0 || strcmp(state, seen[0])) snprintf(seen[k == 0 ? 0 : 1], 64, "%s", state);
    }
    CHECK(done || seen[1][0], "the kills stopped the run at different points");
    printf(" s%s\n", done ? " (finished before the last kill)" : "");
    CHECK(finish(start(dir, fault), -1) == 0, "the resumed run finishes");
    CHECK(same_outputs(ref, dir), "killed and resumed: the same results (%s)", dir);
    CHECK(temps_in(dir) == 0, "no temporary file left (%s)", dir);
}

/* A failed write stops the run cleanly; what was written stays whole. */
static void fault_run(const char *ref, const char *dir, const char *fault, const char *msg)
{
    char log[1100];
    snprintf(log, sizeof log, "%.1000s.log", dir);
    int rc = finish(start(dir, fault), -1);
    CHECK(rc == 1, "%s: exit %d", fault, rc);
    uint8_t *text = NULL;
    size_t n = 0;
    CHECK_OK(s24_read_file(log, &text, &n));
    char *s = realloc(text, n + 1);
    s[n] = 0;
    CHECK(strstr(s, dir) && strstr(s, msg) &&
              (strstr(s, "nothing was written") || strstr(s, "is unchanged")),
          "%s: the message names the file and the error:\n%s", fault, s);
    free(s);
    CHECK(temps_in(dir) == 0 && all_whole(dir), "%s: the files written before are whole", fault);
    const char *init = path_in(dir, "init.safetensors");
    if (exists(init)) {
        uint8_t *x, *y;
        size_t nx, ny;
        CHECK(s24_read_file(init, &x, &nx) == S24_OK);
        CHECK(s24_read_file(path_in(ref, "init.safetensors"), &y, &ny) == S24_OK);
        CHECK(nx == ny && !memcmp(x, y, nx), "%s: init.safetensors intact", fault);
        free(x);
        free(y);
    }
    CHECK(finish(start(dir, NULL), -1) == 0, "%s: the run continues", fault);
    CHECK(same_outputs(ref, dir), "%s: then ends as the uninterrupted run", fault);
}

int main(int argc, char **argv)
{
    t_passive_omp(argc, argv); /* see t.h */
    cli = getenv("S24_CLI");
    if (!cli || access(cli, X_OK) != 0) {
        printf("test_train_crash: S24_CLI not set, skipped\n");
        return t_done("test_train_crash");
    }
    char ref[512], k1[512], k2[512];
    snprintf(ref, sizeof ref, "%.500s", sub("ref"));
    double t0 = s24_now(), t_start = 0;
    CHECK(finish_at(start(ref, NULL), -1, path_in(ref, "state.safetensors"), &t_start) == 0,
          "the uninterrupted run");
    double t_ref = s24_now() - t0;
    printf("test_train_crash: uninterrupted run %.2f s, its first state after %.2f s\n", t_ref,
           t_start);

    snprintf(k1, sizeof k1, "%.500s", path_in(t_tmpdir(), "killed"));
    snprintf(k2, sizeof k2, "%.500s", path_in(t_tmpdir(), "killed_named"));
    crash_run(ref, k1, t_start, t_ref, 6, 3, NULL);
    crash_run(ref, k2, t_start, t_ref, 5, 2, "tmpfile:*:EOPNOTSUPP");
    rm_rf(k1);
    rm_rf(k2);

    static const struct { const char *spec, *msg; } faults[] = {
        /* in a run of 3 + 3 epochs: train.csv after epoch 1, phase1.safetensors,
         * masks.safetensors, a state of phase 1, a late file of phase 2 */
        {"rename:5:EIO", "Input/output error"},
        {"rename:10:EIO", "Input/output error"},
        {"fsync:11:ENOSPC", "No space left on device"},
        {"write:60:ENOSPC", "No space left on device"},
        {"open:21:EACCES", "Permission denied"},
    };
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        char name[32], dir[512];
        snprintf(name, sizeof name, "fault%zu", i);
        snprintf(dir, sizeof dir, "%.500s", path_in(t_tmpdir(), name));
        fault_run(ref, dir, faults[i].spec, faults[i].msg);
        rm_rf(dir);
    }
    rm_rf(ref);
    rmdir(t_tmpdir());
    printf("test_train_crash: %.1f s in all\n", s24_now() - t0);
    return t_done("test_train_crash");
}
