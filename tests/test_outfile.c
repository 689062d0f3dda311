/* test_outfile.c: the output-file layer (src/core/outfile.c) through the
 * library: regular targets replaced atomically with their mode kept; symbolic
 * links followed (dangling ones too, loops refused); devices, FIFOs, folders
 * and standard output refused (or streamed where allowed, /dev/null written
 * through) and left as they were; the same-file check; the S24_FAULT hook
 * failing each open, write, fsync and rename with ENOSPC, EIO and EACCES, with
 * a message naming the file, no output and an older file kept; named
 * temporary files removed by the signal-handler call and swept once their
 * process is gone. */
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

int main(void)
{
    /* the signal tests need the default actions, even if we were started
     * with SIGINT ignored (a background job) */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    test_regular();
    test_links();
    test_refused();
    test_same();
    test_fault_parse();
    test_faults();
    test_writers();
    test_named();
    rmdir(t_tmpdir());
    return t_done("test_outfile");
}
