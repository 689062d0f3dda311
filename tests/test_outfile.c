/* test_outfile.c: the output-file layer (src/core/outfile.c), first through
 * the library, then through every CLI command that writes ($S24_CLI):
 * regular targets replaced atomically with their mode kept; symbolic links
 * followed (dangling ones too, loops refused); devices, FIFOs, folders and
 * standard output refused (or streamed where allowed, /dev/null written
 * through) and left as they were; the same-file check and --in-place; the
 * S24_FAULT hook failing each open, write, fsync and rename with ENOSPC, EIO
 * and EACCES, with a message naming the file, exit 1, no output and an older
 * file kept; temporary files removed on SIGINT/SIGTERM, gone with SIGKILL
 * (unnamed) or swept by the next write (named); write errors on stdout. */
#include "t.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *cli, *fixtures;
static char out_txt[600], err_txt[600];

static const char *tmp(const char *name)
{
    static char buf[16][600];
    static int k;
    char *p = buf[k++ & 15];
    snprintf(p, 600, "%s/%s", t_tmpdir(), name);
    return p;
}

static char *slurp(const char *path)
{
    uint8_t *d;
    size_t n;
    if (s24_read_file(path, &d, &n) != S24_OK) return calloc(1, 1);
    char *s = realloc(d, n + 1);
    s[n] = 0;
    return s;
}

static int holds(const char *path, const char *text)
{
    char *s = slurp(path);
    int r = !strcmp(s, text);
    free(s);
    return r;
}

static int contains(const char *path, const char *word)
{
    char *s = slurp(path);
    int r = strstr(s, word) != NULL;
    if (!r) fprintf(stderr, "  (%s lacks \"%s\"; it holds: %.400s)\n", path, word, s);
    free(s);
    return r;
}

static int last_error_has(const char *word)
{
    int r = strstr(s24_last_error(), word) != NULL;
    if (!r) fprintf(stderr, "  (last error lacks \"%s\": %s)\n", word, s24_last_error());
    return r;
}

static int exists(const char *p)
{
    struct stat sb;
    return lstat(p, &sb) == 0;
}

static int same_files(const char *a, const char *b)
{
    uint8_t *x, *y;
    size_t nx, ny;
    if (s24_read_file(a, &x, &nx) != S24_OK) return 0;
    if (s24_read_file(b, &y, &ny) != S24_OK) {
        free(x);
        return 0;
    }
    int same = nx == ny && !memcmp(x, y, nx);
    free(x);
    free(y);
    return same;
}

/* Entries of the scratch folder whose name holds ".tmp." */
static int temps(void)
{
    DIR *d = opendir(t_tmpdir());
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

/* Whether this folder's file system gives unnamed temporary files. */
static int have_tmpfile(void)
{
#ifdef O_TMPFILE
    int fd = open(t_tmpdir(), O_TMPFILE | O_WRONLY, 0600);
    if (fd < 0) return 0;
    close(fd);
    return access("/proc/self/fd", X_OK) == 0;
#else
    return 0;
#endif
}

static int put(const char *path, const char *text)
{
    return s24_write_file_atomic(path, text, strlen(text));
}

/* ---------------------------------------------------------------- library */

static void test_regular(void)
{
    const char *p = tmp("a.txt");
    mode_t old = umask(022);
    CHECK_OK(put(p, "one"));
    struct stat sb;
    CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0644, "new file 0666 less the umask");
    CHECK(holds(p, "one"));
    chmod(p, 0600);
    CHECK_OK(put(p, "two"));
    CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600, "a replaced file keeps its mode");
    CHECK(holds(p, "two"));
    CHECK_OK(put(p, "")); /* an empty file is a file */
    CHECK(holds(p, "") && stat(p, &sb) == 0 && sb.st_size == 0);
    umask(old);
    CHECK(temps() == 0);
    remove(p);
}

static void test_links(void)
{
    const char *target = tmp("target.txt"), *link = tmp("link.txt");
    struct stat sb;
    CHECK_OK(put(target, "old"));
    CHECK(symlink("target.txt", link) == 0);
    CHECK_OK(put(link, "new"));
    CHECK(lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode), "the link stays a link");
    CHECK(holds(target, "new"), "the file it names is replaced");
    remove(link);
    remove(target);

    /* dangling, and a chain of two, relative to the link's own folder */
    const char *sub = tmp("sub"), *l1 = tmp("sub/l1"), *l2 = tmp("l2"), *made = tmp("sub/made.txt");
    mkdir(sub, 0755);
    CHECK(symlink("made.txt", l1) == 0 && symlink("sub/l1", l2) == 0);
    CHECK_OK(put(l2, "via two links"));
    CHECK(holds(made, "via two links"));
    CHECK(lstat(l1, &sb) == 0 && S_ISLNK(sb.st_mode) && lstat(l2, &sb) == 0 && S_ISLNK(sb.st_mode));
    remove(l2);
    remove(l1);
    remove(made);
    rmdir(sub);

    /* a loop is refused and nothing appears */
    const char *a = tmp("loop_a"), *b = tmp("loop_b");
    CHECK(symlink("loop_b", a) == 0 && symlink("loop_a", b) == 0);
    CHECK(put(a, "x") == S24_ERR_IO && last_error_has("loop_a") &&
          last_error_has("symbolic links"));
    remove(a);
    remove(b);
    CHECK(temps() == 0);
}

static void test_refused(void)
{
    struct stat sb;
    s24_outfile_t f;
    CHECK(put("/dev/full", "x") == S24_ERR_IO && last_error_has("/dev/full") &&
          last_error_has("character device"));
    CHECK(s24_outfile_check("/dev/full", S24_OUTFILE_STREAM) == S24_ERR_IO &&
          last_error_has("'-' for standard output"));
    CHECK(stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode), "/dev/full still a device");
    CHECK_OK(put("/dev/null", "discarded"));
    CHECK(stat("/dev/null", &sb) == 0 && S_ISCHR(sb.st_mode), "/dev/null still a device");

    const char *fifo = tmp("fifo");
    CHECK(mkfifo(fifo, 0644) == 0);
    CHECK(put(fifo, "x") == S24_ERR_IO && last_error_has("FIFO"));
    CHECK(stat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode));
    remove(fifo);
    CHECK(put(t_tmpdir(), "x") == S24_ERR_IO && last_error_has("folder"));
    CHECK(put(tmp("no/such/dir/x.txt"), "x") == S24_ERR_IO && last_error_has("no/such/dir"));
    CHECK(put("", "x") != S24_OK);

    /* standard output only where the caller streams */
    CHECK(put("-", "x") == S24_ERR_INVALID && last_error_has("standard output"));
    CHECK(put("/dev/stdout", "x") == S24_ERR_INVALID);
    CHECK(lstat("/dev/stdout", &sb) != 0 || !S_ISREG(sb.st_mode), "/dev/stdout kept");
    CHECK(!exists("-"));
    CHECK(s24_outfile_is_stdout("-") && s24_outfile_is_stdout("/dev/stdout") &&
          s24_outfile_is_stdout("/dev/fd/1") && !s24_outfile_is_stdout("x"));

    const char *cap = tmp("captured.txt");
    int saved = dup(1), fd = open(cap, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    fflush(stdout);
    dup2(fd, 1);
    CHECK_OK(s24_outfile_open(&f, "-", S24_OUTFILE_STREAM));
    CHECK_OK(s24_outfile_write(f, "streamed", 8));
    CHECK_OK(s24_outfile_commit(f));
    CHECK_OK(s24_outfile_fault_set("write:1:ENOSPC"));
    CHECK_OK(s24_outfile_open(&f, "/dev/stdout", S24_OUTFILE_STREAM));
    CHECK(s24_outfile_write(f, "lost", 4) == S24_ERR_IO && last_error_has("standard output") &&
          last_error_has(strerror(ENOSPC)));
    s24_outfile_abort(f);
    CHECK_OK(s24_outfile_fault_set(NULL));
    dup2(saved, 1);
    close(saved);
    close(fd);
    CHECK(holds(cap, "streamed"));
    remove(cap);
    CHECK(temps() == 0);
}

static void test_same(void)
{
    const char *a = tmp("same_a"), *b = tmp("same_b"), *h = tmp("same_h"), *l = tmp("same_l");
    CHECK_OK(put(a, "a"));
    CHECK_OK(put(b, "a"));
    CHECK(link(a, h) == 0 && symlink("same_a", l) == 0);
    CHECK(s24_outfile_same(a, a) && s24_outfile_same(a, h) && s24_outfile_same(l, a));
    CHECK(!s24_outfile_same(a, b) && !s24_outfile_same(a, tmp("missing")) &&
          !s24_outfile_same(tmp("missing"), tmp("missing")));
    remove(a);
    remove(b);
    remove(h);
    remove(l);
}

static void test_fault_parse(void)
{
    static const char *const bad[] = {"write",          "write:0:EIO",  "write:1:EBOGUS",
                                      "nope:1:EIO",     "write:x:EIO",  "write:1:EIO,",
                                      ",write:1:EIO",   "write:-1:EIO", "write:1:EIO:9",
                                      "a:1:EIO,b:1:EIO"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(s24_outfile_fault_set(bad[i]) == S24_ERR_INVALID && last_error_has("S24_FAULT"),
              "%s refused", bad[i]);
    CHECK_OK(s24_outfile_fault_set("open:1:EACCES,write:*:EIO,fsync:2:ENOSPC,rename:3:EROFS"));
    CHECK_OK(s24_outfile_fault_set(""));
    CHECK_OK(put(tmp("f.txt"), "no fault left"));
    remove(tmp("f.txt"));
}

/* Each operation failing with each error, on a missing and on an existing
 * target, with unnamed temporary files and with named ones. */
static void test_faults(void)
{
    static const char *const ops[] = {"open", "write", "fsync", "rename"};
    static const struct { const char *name; int err; } errs[] = {
        {"ENOSPC", ENOSPC}, {"EIO", EIO}, {"EACCES", EACCES}};
    const char *p = tmp("fault.txt");
    for (int named = 0; named < 2; named++)
        for (size_t o = 0; o < 4; o++)
            for (size_t e = 0; e < 3; e++)
                for (int old = 0; old < 2; old++) {
                    char spec[96];
                    remove(p);
                    if (old) CHECK_OK(put(p, "old"));
                    snprintf(spec, sizeof spec, "%s%s:1:%s", named ? "tmpfile:*:EOPNOTSUPP," : "",
                             ops[o], errs[e].name);
                    CHECK_OK(s24_outfile_fault_set(spec));
                    int rc = put(p, "new");
                    CHECK(rc == S24_ERR_IO, "%s: %d", spec, rc);
                    CHECK(last_error_has(p) && last_error_has(strerror(errs[e].err)) &&
                              last_error_has(old ? "the existing file is unchanged"
                                                 : "nothing was written"),
                          "%s", spec);
                    CHECK(old ? holds(p, "old") : !exists(p), "%s: target as it was", spec);
                    CHECK(temps() == 0, "%s: no temporary file", spec);
                    /* only the first call fails */
                    CHECK_OK(put(p, "after"));
                    CHECK(holds(p, "after"));
                }
    /* "*" fails every call; N counts from the last fault_set */
    CHECK_OK(s24_outfile_fault_set("write:*:EIO"));
    CHECK(put(p, "1") == S24_ERR_IO && put(p, "2") == S24_ERR_IO && holds(p, "after"));
    CHECK_OK(s24_outfile_fault_set("write:2:EIO"));
    CHECK(put(p, "1") == S24_OK && put(p, "2") == S24_ERR_IO && put(p, "3") == S24_OK);
    CHECK(holds(p, "3"));
    CHECK_OK(s24_outfile_fault_set(NULL));
    remove(p);
}

/* The safetensors and .npy writers fail cleanly at each of their writes. */
static void test_writers(void)
{
    struct s24_st st;
    float w[64];
    for (int i = 0; i < 64; i++) w[i] = (float)i;
    int64_t s1[1] = {64}, s2[2] = {8, 8};
    s24_st_init(&st);
    CHECK_OK(s24_st_add(&st, "a", S24_F32, 1, s1, w));
    CHECK_OK(s24_st_add(&st, "b", S24_F32, 2, s2, w));
    const char *ps = tmp("w.safetensors"), *pn = tmp("w.npy");
    /* writes: the length, the header, then one per tensor */
    for (int k = 1; k <= 5; k++) {
        char spec[32];
        snprintf(spec, sizeof spec, "write:%d:ENOSPC", k);
        CHECK_OK(s24_outfile_fault_set(spec));
        int rc = s24_st_write(ps, &st);
        CHECK(k <= 4 ? rc == S24_ERR_IO && !exists(ps) && last_error_has(ps) : rc == S24_OK,
              "%s: %d", spec, rc);
        CHECK_OK(s24_outfile_fault_set(spec));
        rc = s24_npy_write(pn, S24_F32, 2, s2, w);
        CHECK(k == 1 ? rc == S24_ERR_IO && !exists(pn) && last_error_has(pn) : rc == S24_OK,
              "npy %s: %d", spec, rc);
        remove(pn);
    }
    CHECK_OK(s24_outfile_fault_set(NULL));
    struct s24_st back;
    CHECK_OK(s24_st_read(ps, &back));
    CHECK(back.n == 2);
    s24_st_free(&back);
    s24_st_free(&st);
    remove(ps);
    CHECK(temps() == 0);
}

/* Named temporary files: visible while open, removed by the signal-handler
 * call, and swept once their process is gone. */
static void test_named(void)
{
    const char *p = tmp("named.txt");
    s24_outfile_t f;
    char name[700];
    CHECK_OK(s24_outfile_fault_set("tmpfile:*:EOPNOTSUPP"));
    CHECK_OK(s24_outfile_open(&f, p, 0));
    CHECK_OK(s24_outfile_write(f, "x", 1));
    snprintf(name, sizeof name, "%s.tmp.%ld", p, (long)getpid());
    CHECK(exists(name) && temps() == 1, "PATH.tmp.<pid> while open");
    s24_outfile_cleanup();
    CHECK(!exists(name), "removed by s24_outfile_cleanup");
    CHECK(s24_outfile_commit(f) == S24_ERR_IO && last_error_has(p) && !exists(p));

    /* a leftover with our own pid (a dead process had it) is replaced */
    CHECK_OK(put(name, "stale"));
    CHECK_OK(put(p, "fresh"));
    CHECK(holds(p, "fresh") && !exists(name));

    /* leftovers of a dead process are swept by the next write; a live
     * process's, other names and other targets are not */
    pid_t child = fork();
    if (child == 0) _exit(0);
    waitpid(child, NULL, 0);
    char dead[700], live[700], other[700], word[700];
    snprintf(dead, sizeof dead, "%s.tmp.%ld", p, (long)child);
    snprintf(live, sizeof live, "%s.tmp.%ld", p, (long)getppid());
    snprintf(other, sizeof other, "%s.tmp.%ld", tmp("other.txt"), (long)child);
    snprintf(word, sizeof word, "%s.tmp.abc", p);
    CHECK_OK(s24_outfile_fault_set(NULL));
    CHECK_OK(put(dead, "d"));
    CHECK_OK(put(live, "l"));
    CHECK_OK(put(other, "o"));
    CHECK_OK(put(word, "w"));
    CHECK_OK(put(p, "sweep"));
    CHECK(!exists(dead) && exists(live) && exists(other) && exists(word));
    remove(live);
    remove(other);
    remove(word);
    remove(p);

    /* unnamed where the file system allows it: no name while writing */
    if (have_tmpfile()) {
        CHECK_OK(s24_outfile_open(&f, p, 0));
        CHECK_OK(s24_outfile_write(f, "y", 1));
        CHECK(temps() == 0, "nothing named while an unnamed file is written");
        CHECK_OK(s24_outfile_commit(f));
        CHECK(holds(p, "y"));
        remove(p);
    } else {
        printf("test_outfile: no O_TMPFILE in %s: named temporary files only\n", t_tmpdir());
    }
    CHECK(temps() == 0);
}

/* ---------------------------------------------------------------- CLI */

/* Run "[ENV] $S24_CLI ARGS" with stdout and stderr captured; the exit code,
 * or 128 + the signal that killed it. */
static int run(const char *env, const char *fmt, ...)
{
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s%s%s%s %s >%s 2>%s", env ? "S24_FAULT='" : "", env ? env : "",
             env ? "' " : "", cli, args, out_txt, err_txt);
    /* the shell reports a signal death as exit 128 + N */
    int st = system(cmd);
    if (st != -1 && WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

struct writer {
    const char *name;
    const char *args; /* "... %s ... %s ...": the input, then the output */
    const char *in;
    int same_check;   /* -o IN is refused (the input is the file it reads) */
    int one_write;    /* it writes its file in one call */
};

static void cli_inputs(char *pruned, char *comp, char *npy, char *csv)
{
    char in[600];
    snprintf(in, sizeof in, "%s/torch_small_f32.safetensors", fixtures);
    CHECK(run(NULL, "prune %s -o %s -q", in, pruned) == 0);
    CHECK(run(NULL, "compress %s -o %s -q", pruned, comp) == 0);
    float w[32 * 64];
    for (int i = 0; i < 32 * 64; i++) w[i] = (float)((i * 7919) % 613) / 613.0f;
    int64_t shape[2] = {32, 64};
    CHECK_OK(s24_npy_write(npy, S24_F32, 2, shape, w));
    CHECK_OK(put(csv, "phase,epoch,lr,train_loss,train_acc,test_loss,test_acc,seconds\n"
                      "1,1,0.1,2.3,10,2.3,11,0.5\n1,2,0.05,2.2,12,2.2,13,0.5\n"));
}

/* Every writing command under three of the faults (each op and error is
 * covered in-process above): exit 1, the file and the error named, no output
 * (or the older one kept), no temporary file. */
static void test_cli_faults(const struct writer *w, int nw)
{
    static const struct { const char *spec, *msg; } faults[] = {
        {"write:1:ENOSPC", "No space left on device"},
        {"rename:1:EIO", "Input/output error"},
        {"open:1:EACCES", "Permission denied"},
        {"fsync:1:ENOSPC", "No space left on device"},
        {"write:2:EIO", "Input/output error"},
        {"tmpfile:*:EOPNOTSUPP,write:1:EACCES", "Permission denied"},
    };
    const int nf = (int)(sizeof faults / sizeof faults[0]);
    const char *out = tmp("fault_out");
    for (int i = 0; i < nw; i++)
        for (int j = 0; j < 3; j++) {
            int k = (i * 3 + j) % nf, old = (i + j) & 1;
            if (w[i].one_write && !strcmp(faults[k].spec, "write:2:EIO")) k = 0;
            remove(out);
            if (old) CHECK_OK(put(out, "older output"));
            char args[1400];
            snprintf(args, sizeof args, w[i].args, w[i].in, out);
            int rc = run(faults[k].spec, "%s", args);
            CHECK(rc == 1, "%s with %s: exit %d", w[i].name, faults[k].spec, rc);
            CHECK(contains(err_txt, out) && contains(err_txt, faults[k].msg), "%s with %s",
                  w[i].name, faults[k].spec);
            CHECK(old ? holds(out, "older output") && contains(err_txt, "unchanged")
                      : !exists(out) && contains(err_txt, "nothing was written"),
                  "%s with %s: output as it was", w[i].name, faults[k].spec);
            CHECK(temps() == 0, "%s with %s: no temporary file", w[i].name, faults[k].spec);
        }
    remove(out);
}

/* Targets that are not regular files, links, and the input itself: every
 * command gets /dev/full, /dev/null, a dangling link, its own input and one
 * of the other refused kinds in turn; prune gets them all. */
static void test_cli_targets(const struct writer *w, int nw)
{
    struct stat sb;
    const char *fifo = tmp("cli_fifo"), *link = tmp("cli_link"), *real = tmp("cli_real");
    const char *bad[] = {"/dev/full", "/dev/stdout", "-", fifo, t_tmpdir()};
    CHECK(mkfifo(fifo, 0644) == 0);
    for (int i = 0; i < nw; i++) {
        char args[1400], backup[700], abs_in[PATH_MAX];
        snprintf(backup, sizeof backup, "%s", tmp("backup"));
        uint8_t *d;
        size_t n;
        CHECK_OK(s24_read_file(w[i].in, &d, &n));
        CHECK_OK(s24_write_file_atomic(backup, d, n));
        free(d);
        for (int b = 0; b < 5; b++) {
            if (i > 0 && b != 0 && b != 1 + i % 4) continue;
            /* plot streams: '-' and /dev/stdout are its standard output */
            if (!strcmp(w[i].name, "plot") && (b == 1 || b == 2)) continue;
            snprintf(args, sizeof args, w[i].args, w[i].in, bad[b]);
            CHECK(run(NULL, "%s", args) == 1, "%s -o %s refused", w[i].name, bad[b]);
            CHECK(contains(err_txt, bad[b]));
        }
        CHECK(stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode));
        CHECK(stat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode));
        CHECK(lstat("/dev/stdout", &sb) == 0 && !S_ISREG(sb.st_mode));
        CHECK(!exists("-"));
        snprintf(args, sizeof args, w[i].args, w[i].in, "/dev/null");
        CHECK(run(NULL, "%s", args) == 0, "%s -o /dev/null", w[i].name);

        /* a link is followed: the file it names is written, the link stays */
        remove(real);
        CHECK(symlink("cli_real", link) == 0);
        snprintf(args, sizeof args, w[i].args, w[i].in, link);
        CHECK(run(NULL, "%s", args) == 0, "%s through a dangling link", w[i].name);
        CHECK(lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode) && stat(real, &sb) == 0 &&
              S_ISREG(sb.st_mode) && sb.st_size > 0);
        if (i == 0) {
            CHECK(run(NULL, "%s", args) == 0, "%s through a link", w[i].name);
            CHECK(lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode));
        }
        remove(link);
        remove(real);

        /* the input itself, by name (and for prune through a link) */
        if (w[i].same_check && realpath(w[i].in, abs_in)) {
            CHECK(symlink(abs_in, link) == 0);
            const char *outs[2] = {w[i].in, link};
            for (int k = 0; k < (i == 0 ? 2 : 1); k++) {
                snprintf(args, sizeof args, w[i].args, w[i].in, outs[k]);
                CHECK(run(NULL, "%s", args) == 1 && contains(err_txt, "is the input"),
                      "%s -o its input", w[i].name);
            }
            remove(link);
        }
        CHECK(same_files(w[i].in, backup), "%s: its input untouched", w[i].name);
        remove(backup);
    }
    remove(fifo);
    CHECK(temps() == 0);
}

static void test_cli_in_place(const char *pruned_ref)
{
    char in[600];
    snprintf(in, sizeof in, "%s/torch_small_f32.safetensors", fixtures);
    const char *x = tmp("inplace.safetensors"), *orig = tmp("inplace_orig.safetensors");
    uint8_t *d;
    size_t n;
    CHECK_OK(s24_read_file(in, &d, &n));
    CHECK_OK(s24_write_file_atomic(x, d, n));
    free(d);
    CHECK(run(NULL, "prune %s -o %s -q", x, x) == 1 && contains(err_txt, "--in-place"));
    CHECK(same_files(x, in), "refused: the dense original is kept");
    CHECK(run(NULL, "prune %s --in-place -q", x) == 0);
    CHECK(same_files(x, pruned_ref), "prune --in-place");
    CHECK_OK(s24_read_file(x, &d, &n));
    CHECK_OK(s24_write_file_atomic(orig, d, n));
    free(d);
    CHECK(run(NULL, "compress %s -o %s -q", x, x) == 1 && contains(err_txt, "--in-place"));
    CHECK(run(NULL, "compress %s --in-place -q", x) == 0 && contains(out_txt, "compressed 2"));
    CHECK(run(NULL, "decompress %s -o %s", x, x) == 1 && contains(err_txt, "--in-place"));
    CHECK(run(NULL, "decompress %s -o %s --in-place", x, x) == 0);
    CHECK(same_files(x, orig), "compress then decompress in place: byte for byte");
    /* hard links are the same file too */
    const char *h = tmp("inplace_hard.safetensors");
    CHECK(link(x, h) == 0);
    CHECK(run(NULL, "prune %s -o %s -q", x, h) == 1 && contains(err_txt, "same file"));
    remove(h);
    /* masks must not be the input or the output, by any name */
    CHECK(symlink("inplace.safetensors", tmp("inplace_link")) == 0);
    CHECK(run(NULL, "prune %s -o %s --save-masks %s -q", x, tmp("p.st"), tmp("inplace_link")) == 2);
    remove(tmp("inplace_link"));
    CHECK(!exists(tmp("p.st")));
    remove(x);
    remove(orig);
}

/* Standard output written whole, or exit 1. */
static void test_cli_stdout(const char *pruned)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s inspect %s > /dev/full 2>%s", cli, pruned, err_txt);
    int st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1 && contains(err_txt, "standard output") &&
          contains(err_txt, "No space left on device"));
    snprintf(cmd, sizeof cmd, "%s --help > /dev/full 2>%s", cli, err_txt);
    st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    snprintf(cmd, sizeof cmd, "%s inspect %s > %s 2>%s", cli, pruned, out_txt, err_txt);
    st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* plot streams its SVG; the summary then goes to stderr */
    const char *csv = tmp("in.csv"), *svg = tmp("plot.svg");
    snprintf(cmd, sizeof cmd, "%s plot %s -o - > %s 2>%s", cli, csv, svg, err_txt);
    st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && contains(svg, "<svg") &&
          contains(err_txt, "wrote"));
    char *text = slurp(svg);
    size_t len = strlen(text);
    CHECK(len > 7 && !strcmp(text + len - 7, "</svg>\n"), "the summary is not in the SVG");
    free(text);
    snprintf(cmd, sizeof cmd, "%s plot %s -o /dev/stdout > /dev/full 2>%s", cli, csv, err_txt);
    st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1 && contains(err_txt, "No space left on device"));
    remove(svg);
}

/* Signals during a write: SIGINT/SIGTERM remove the named temporary file;
 * SIGKILL leaves an unnamed one nowhere, and a named one until the next
 * write of the same output. */
static void test_cli_signals(void)
{
    char in[600];
    snprintf(in, sizeof in, "%s/torch_small_f32.safetensors", fixtures);
    const char *out = tmp("sig.safetensors");
    static const char *const specs[] = {
        "tmpfile:*:EOPNOTSUPP,write:2:SIGINT", "tmpfile:*:EOPNOTSUPP,write:2:SIGTERM",
        "rename:1:SIGINT", "fsync:1:SIGTERM"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        int rc = run(specs[i], "prune %s -o %s -q", in, out);
        CHECK(rc == 128 + (strstr(specs[i], "SIGINT") ? SIGINT : SIGTERM), "%s: exit %d",
              specs[i], rc);
        CHECK(!exists(out) && temps() == 0, "%s: nothing left", specs[i]);
    }
    if (have_tmpfile()) {
        CHECK(run("write:2:SIGKILL", "prune %s -o %s -q", in, out) == 128 + SIGKILL);
        CHECK(!exists(out) && temps() == 0, "SIGKILL during an unnamed write leaves nothing");
    }
    CHECK(run("tmpfile:*:EOPNOTSUPP,write:2:SIGKILL", "prune %s -o %s -q", in, out) ==
          128 + SIGKILL);
    CHECK(!exists(out) && temps() == 1, "SIGKILL leaves the named temporary file");
    CHECK(run(NULL, "prune %s -o %s -q", in, out) == 0);
    CHECK(exists(out) && temps() == 0, "the next write of the output sweeps it");
    remove(out);
    /* a malformed S24_FAULT stops every write, loudly */
    CHECK(run("write:1", "prune %s -o %s -q", in, out) == 1 && contains(err_txt, "S24_FAULT") &&
          !exists(out));
}

static void test_cli(void)
{
    char pruned[600], comp[600], npy[600], csv[600], bench[600];
    snprintf(pruned, sizeof pruned, "%s", tmp("in_pruned.safetensors"));
    snprintf(comp, sizeof comp, "%s", tmp("in_comp.safetensors"));
    snprintf(npy, sizeof npy, "%s", tmp("in_w.npy"));
    snprintf(csv, sizeof csv, "%s", tmp("in.csv"));
    snprintf(bench, sizeof bench, "%s", tmp("bench"));
    cli_inputs(pruned, comp, npy, csv);
    char in[600];
    snprintf(in, sizeof in, "%s/torch_small_f32.safetensors", fixtures);
    char a_masks[900];
    snprintf(a_masks, sizeof a_masks, "prune %%s -o %s --save-masks %%s -q",
             tmp("with_masks.safetensors"));
    const struct writer w[] = {
        {"prune", "prune %s -o %s -q", in, 1, 0},
        {"prune --save-masks", a_masks, in, 0, 0},
        {"compress", "compress %s -o %s -q", pruned, 1, 0},
        {"decompress", "decompress %s -o %s", comp, 1, 0},
        {"permute", "permute %s -o %s --strategy stripes8", npy, 1, 1},
        {"permute --tensor", "permute %s --tensor 8.weight -o %s --strategy stripes8", in, 1, 1},
        {"plot", "plot %s -o %s", csv, 1, 1},
    };
    int nw = (int)(sizeof w / sizeof w[0]);
    test_cli_faults(w, nw);
    remove(tmp("with_masks.safetensors"));
    test_cli_targets(w, nw);
    test_cli_in_place(pruned);
    test_cli_stdout(pruned);
    test_cli_signals();

    /* prune with masks: the masks go when the output cannot be written */
    const char *o = tmp("pm.safetensors"), *mk = tmp("pm_masks.safetensors");
    CHECK(run("rename:2:EIO", "prune %s -o %s --save-masks %s -q", in, o, mk) == 1);
    CHECK(!exists(o) && !exists(mk) && contains(err_txt, o));

    /* the benchmarks' result files (bench permute --quick takes < 1 s) */
    mkdir(bench, 0755);
    char bcsv[700], bmd[700];
    snprintf(bcsv, sizeof bcsv, "%s/permute-cpu.csv", bench);
    snprintf(bmd, sizeof bmd, "%s/permute-cpu.md", bench);
    CHECK(run("write:1:ENOSPC", "bench permute --quick --out %s", bench) == 1);
    CHECK(contains(err_txt, bcsv) && contains(err_txt, "No space left") && !exists(bcsv));
    CHECK(run("rename:2:EIO", "bench permute --quick --out %s", bench) == 1);
    CHECK(contains(err_txt, bmd) && exists(bcsv) && !exists(bmd), "each file whole");
    snprintf(bcsv, sizeof bcsv, "%s/cpu-gemm.csv", bench);
    CHECK(run("fsync:1:EIO", "bench cpu --sizes 64 --no-layers --repeats 1 --rounds 1 --out %s",
              bench) == 1);
    CHECK(contains(err_txt, bcsv) && contains(err_txt, "Input/output error") && !exists(bcsv));
    CHECK(temps() == 0);
    char rm[800];
    snprintf(rm, sizeof rm, "rm -rf %s", bench);
    CHECK(system(rm) == 0);
    remove(pruned);
    remove(comp);
    remove(npy);
    remove(csv);
}

int main(void)
{
    /* the signal tests need the default actions, even if we were started
     * with SIGINT ignored (a background job) */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    cli = getenv("S24_CLI");
    fixtures = getenv("S24_FIXTURES");
    if (!fixtures) fixtures = "tests/fixtures";
    snprintf(out_txt, sizeof out_txt, "%s/stdout.txt", t_tmpdir());
    snprintf(err_txt, sizeof err_txt, "%s/stderr.txt", t_tmpdir());
    test_regular();
    test_links();
    test_refused();
    test_same();
    test_fault_parse();
    test_faults();
    test_writers();
    test_named();
    if (cli && access(cli, X_OK) == 0) {
        test_cli();
    } else {
        printf("test_outfile: S24_CLI not set, CLI checks skipped\n");
    }
    remove(out_txt);
    remove(err_txt);
    rmdir(t_tmpdir());
    return t_done("test_outfile");
}
