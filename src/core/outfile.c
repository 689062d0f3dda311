/* outfile.c: the one way sparse24 writes a file (sparse24.h, "output files").
 * It checks what stands at the target (regular file or nothing: replaced
 * atomically; symbolic link: followed; /dev/null and, where the caller allows
 * it, standard output: written through; any other device, FIFO, socket or
 * folder: refused), writes a temporary file in the target's folder, fsyncs and
 * renames it, and keeps a registry of named temporary files that a signal
 * handler may remove. The S24_FAULT hook fails the Nth open, write, fsync or
 * rename on purpose so the error paths can be tested, also as root, where file
 * modes stop nothing.
 *
 * It does not buffer (callers hand it whole headers and tensors), lock a file
 * against other writers, or install signal handlers: the CLI does that. */
#include "sparse24/sparse24.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum of_kind {
    OF_NAMED,  /* PATH.tmp.<pid>, renamed over PATH */
    OF_ANON,   /* unnamed (O_TMPFILE), linked as PATH.tmp.<pid> at commit, then renamed */
    OF_STREAM, /* standard output or /dev/null, written through */
};

struct s24_outfile {
    enum of_kind kind;
    int fd;
    int existed;  /* the target existed: messages say it is kept */
    int failed;   /* a write failed: commit refuses */
    int slot;     /* registry slot of tmp, -1 if none */
    char *path;   /* as the caller named it (for messages) */
    char *target; /* symbolic links resolved: the name that gets replaced */
    char *tmp;    /* the named temporary file (OF_NAMED; OF_ANON once linked) */
};

/* ---------------------------------------------------------------- fault hook */

enum fault_op { F_OPEN, F_TMPFILE, F_WRITE, F_FSYNC, F_RENAME, F_NOPS };
static const char *const fault_op_names[F_NOPS] = {"open", "tmpfile", "write", "fsync", "rename"};

static const struct {
    const char *name;
    int err, sig;
} fault_errs[] = {
    {"ENOSPC", ENOSPC, 0}, {"EIO", EIO, 0},       {"EACCES", EACCES, 0}, {"EPERM", EPERM, 0},
    {"EROFS", EROFS, 0},   {"EDQUOT", EDQUOT, 0}, {"EFBIG", EFBIG, 0},   {"EXDEV", EXDEV, 0},
    {"EOPNOTSUPP", EOPNOTSUPP, 0}, {"SIGINT", 0, SIGINT}, {"SIGTERM", 0, SIGTERM},
    {"SIGKILL", 0, SIGKILL},
};

#define MAX_FAULTS 8
struct fault {
    int op;
    long nth; /* 0: every call */
    int err, sig;
};
static struct fault faults[MAX_FAULTS];
static int nfaults;
static char fault_bad[256]; /* why the environment's spec was refused ("" if it was not) */
static atomic_long fault_calls[F_NOPS];
static pthread_once_t fault_once = PTHREAD_ONCE_INIT;

/* Parse "OP:N:ERR[,OP:N:ERR...]" into faults; a message in why on failure. */
static int fault_parse(const char *spec, char *why, size_t whylen)
{
    struct fault f[MAX_FAULTS];
    int n = 0;
    const char *p = spec;
    while (*p) {
        char item[64];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof item || n == MAX_FAULTS) goto bad;
        memcpy(item, p, len);
        item[len] = 0;
        p += len;
        if (*p == ',' && !*++p) goto bad; /* a trailing comma */
        char *a = strchr(item, ':'), *b = a ? strchr(a + 1, ':') : NULL;
        if (!a || !b) goto bad;
        *a++ = 0;
        *b++ = 0;
        int op = -1;
        for (int i = 0; i < F_NOPS; i++)
            if (!strcmp(item, fault_op_names[i])) op = i;
        char *end;
        long nth = 0;
        if (strcmp(a, "*")) {
            errno = 0;
            nth = strtol(a, &end, 10);
            if (!*a || *end || errno || nth < 1) goto bad;
        }
        int k = -1;
        for (size_t i = 0; i < sizeof fault_errs / sizeof fault_errs[0]; i++)
            if (!strcmp(b, fault_errs[i].name)) k = (int)i;
        if (op < 0 || k < 0) goto bad;
        f[n++] = (struct fault){op, nth, fault_errs[k].err, fault_errs[k].sig};
    }
    memcpy(faults, f, sizeof f);
    nfaults = n;
    for (int i = 0; i < F_NOPS; i++) atomic_store(&fault_calls[i], 0);
    return S24_OK;
bad:
    snprintf(why, whylen,
             "S24_FAULT \"%.60s\": expected OP:N:ERR[,...] with OP open, tmpfile, write, fsync or "
             "rename, N a count from 1 or *, ERR ENOSPC, EIO, EACCES, ...",
             spec);
    return S24_ERR_INVALID;
}

static void fault_from_env(void)
{
    const char *s = getenv("S24_FAULT");
    if (s && *s && fault_parse(s, fault_bad, sizeof fault_bad) != S24_OK) nfaults = 0;
}

int s24_outfile_fault_set(const char *spec)
{
    char why[256];
    pthread_once(&fault_once, fault_from_env);
    fault_bad[0] = 0;
    nfaults = 0;
    if (!spec || !*spec) return S24_OK;
    if (fault_parse(spec, why, sizeof why) != S24_OK) return s24_error(S24_ERR_INVALID, "%s", why);
    return S24_OK;
}

/* Count one call of op; the errno it must fail with, or 0. A signal fault
 * raises the signal instead (if a handler returns, the call goes on). */
static int fault_hit(enum fault_op op)
{
    long call = atomic_fetch_add(&fault_calls[op], 1) + 1;
    for (int i = 0; i < nfaults; i++) {
        if (faults[i].op != (int)op || (faults[i].nth && faults[i].nth != call)) continue;
        if (faults[i].sig) {
            raise(faults[i].sig);
            return 0;
        }
        return faults[i].err;
    }
    return 0;
}

/* ---------------------------------------------------------------- registry
 * Named temporary files that exist now, for s24_outfile_cleanup() in a signal
 * handler: fixed storage and atomic slot states, no locks, no allocation. A
 * slot is 0 free, 1 being filled, 2 live. */
#define REG_SLOTS 16
#define REG_PATH 4096
static atomic_int reg_state[REG_SLOTS];
static char reg_path[REG_SLOTS][REG_PATH];

static int reg_add(const char *p)
{
    size_t n = strlen(p);
    if (n >= REG_PATH) return -1; /* still removed on every error path, not by a signal */
    for (int i = 0; i < REG_SLOTS; i++) {
        int expect = 0;
        if (atomic_compare_exchange_strong(&reg_state[i], &expect, 1)) {
            memcpy(reg_path[i], p, n + 1);
            atomic_store(&reg_state[i], 2);
            return i;
        }
    }
    return -1;
}

static void reg_drop(int slot)
{
    if (slot >= 0) atomic_store(&reg_state[slot], 0);
}

void s24_outfile_cleanup(void)
{
    for (int i = 0; i < REG_SLOTS; i++)
        if (atomic_load(&reg_state[i]) == 2) unlink(reg_path[i]);
}

/* ---------------------------------------------------------------- targets */

int s24_outfile_is_stdout(const char *path)
{
    return path && (!strcmp(path, "-") || !strcmp(path, "/dev/stdout") ||
                    !strcmp(path, "/dev/fd/1") || !strcmp(path, "/proc/self/fd/1"));
}

int s24_outfile_same(const char *a, const char *b)
{
    struct stat x, y;
    return a && b && stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev &&
           x.st_ino == y.st_ino;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* The folder part of path ("." if none), malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return dup_str(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}

/* A name that does not exist may be a dangling symbolic link (or a chain of
 * them): follow it by hand to the name that is to be created. */
static int follow_links(const char *path, char **out)
{
    char *p = dup_str(path);
    struct stat sb;
    if (!p) return s24_error(S24_ERR_NOMEM, "%s: out of memory", path);
    for (int hops = 0; lstat(p, &sb) == 0 && S_ISLNK(sb.st_mode); hops++) {
        char link[PATH_MAX];
        ssize_t n = hops < 40 ? readlink(p, link, sizeof link - 1) : -1;
        if (n < 0) {
            free(p);
            return s24_error(S24_ERR_IO, "%s: cannot follow the symbolic link: %s", path,
                             hops < 40 ? strerror(errno) : strerror(ELOOP));
        }
        link[n] = 0;
        char *d = link[0] == '/' ? dup_str("") : dir_of(p);
        char *next = d ? malloc(strlen(d) + (size_t)n + 2) : NULL;
        if (next) snprintf(next, strlen(d) + (size_t)n + 2, "%s%s%s", d, *d ? "/" : "", link);
        free(d);
        free(p);
        if (!next) return s24_error(S24_ERR_NOMEM, "%s: out of memory", path);
        p = next;
    }
    *out = p;
    return S24_OK;
}

static const char *kind_name(mode_t m)
{
    if (S_ISDIR(m)) return "a folder";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a FIFO (named pipe)";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

static int is_dev_null(const struct stat *sb)
{
    struct stat n;
    return S_ISCHR(sb->st_mode) && stat("/dev/null", &n) == 0 && S_ISCHR(n.st_mode) &&
           n.st_rdev == sb->st_rdev;
}

enum target_kind { T_FILE, T_STDOUT, T_DEVNULL };

/* What path names and whether this writer may write it: *target gets the
 * name to replace (links resolved) for T_FILE, *existed whether it exists and
 * *mode its permission bits. */
static int classify(const char *path, unsigned flags, enum target_kind *kind, char **target,
                    int *existed, mode_t *mode)
{
    struct stat sb;
    *target = NULL;
    *existed = 0;
    *mode = 0;
    if (!path || !*path) return s24_error(S24_ERR_INVALID, "output: empty file name");
    if (s24_outfile_is_stdout(path)) {
        if (!(flags & S24_OUTFILE_STREAM))
            return s24_error(S24_ERR_INVALID,
                             "%s: cannot write this output to standard output; name a regular file",
                             path);
        *kind = T_STDOUT;
        return S24_OK;
    }
    *kind = T_FILE;
    if (stat(path, &sb) == 0) {
        if (is_dev_null(&sb)) {
            *kind = T_DEVNULL;
            return S24_OK;
        }
        if (!S_ISREG(sb.st_mode))
            return s24_error(S24_ERR_IO,
                             "%s: is %s, not a regular file; refusing to write over it (name a "
                             "regular file%s)",
                             path, kind_name(sb.st_mode),
                             flags & S24_OUTFILE_STREAM ? ", or '-' for standard output" : "");
        *existed = 1;
        *mode = sb.st_mode & 07777;
        struct stat lb;
        if (lstat(path, &lb) == 0 && S_ISLNK(lb.st_mode)) {
            *target = realpath(path, NULL);
            if (!*target)
                return s24_error(S24_ERR_IO, "%s: cannot resolve the symbolic link: %s", path,
                                 strerror(errno));
        } else if (!(*target = dup_str(path))) {
            return s24_error(S24_ERR_NOMEM, "%s: out of memory", path);
        }
        return S24_OK;
    }
    if (errno != ENOENT)
        return s24_error(S24_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    int rc = follow_links(path, target);
    if (rc != S24_OK) return rc;
    /* the folder must exist: say so now rather than after the work */
    char *dir = dir_of(*target);
    struct stat db;
    if (!dir) rc = s24_error(S24_ERR_NOMEM, "%s: out of memory", path);
    else if (stat(dir, &db) != 0)
        rc = s24_error(S24_ERR_IO, "%s: cannot create: folder %s: %s", path, dir, strerror(errno));
    else if (!S_ISDIR(db.st_mode))
        rc = s24_error(S24_ERR_IO, "%s: cannot create: %s is not a folder", path, dir);
    free(dir);
    if (rc != S24_OK) {
        free(*target);
        *target = NULL;
    }
    return rc;
}

int s24_outfile_check(const char *path, unsigned flags)
{
    enum target_kind kind;
    char *target;
    int existed;
    mode_t mode;
    int rc = classify(path, flags, &kind, &target, &existed, &mode);
    free(target);
    return rc;
}

/* ---------------------------------------------------------------- writing */

static const char *kept(const struct s24_outfile *f)
{
    if (f->kind == OF_STREAM) return "";
    return f->existed ? "; the existing file is unchanged" : "; nothing was written";
}

/* Record a failure of `what` (errno e) naming the file. */
static int fail_errno(struct s24_outfile *f, const char *what, int e)
{
    f->failed = 1;
    return s24_error(S24_ERR_IO, "%s: %s: %s%s", f->kind == OF_STREAM && f->fd == 1 ?
                     "standard output" : f->path, what, strerror(e), kept(f));
}

static void free_outfile(struct s24_outfile *f)
{
    reg_drop(f->slot);
    free(f->path);
    free(f->target);
    free(f->tmp);
    free(f);
}

/* Open an unnamed file in dir (Linux O_TMPFILE, where /proc lets us name it
 * later); -1 if this system or file system cannot, or a fault says so. */
static int open_anon(const char *dir, mode_t mode)
{
#ifdef O_TMPFILE
    if (fault_hit(F_TMPFILE) || access("/proc/self/fd", X_OK) != 0) return -1;
    return open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
#else
    (void)dir;
    (void)mode;
    return -1;
#endif
}

int s24_outfile_open(s24_outfile_t *out, const char *path, unsigned flags)
{
    enum target_kind kind;
    char *target = NULL, *dir = NULL;
    int existed, rc, e;
    mode_t mode;
    *out = NULL;
    pthread_once(&fault_once, fault_from_env);
    if (fault_bad[0]) return s24_error(S24_ERR_INVALID, "%s", fault_bad);
    if ((rc = classify(path, flags, &kind, &target, &existed, &mode)) != S24_OK) return rc;
    struct s24_outfile *f = calloc(1, sizeof *f);
    if (!f || !(f->path = dup_str(path))) {
        free(f);
        free(target);
        return s24_error(S24_ERR_NOMEM, "%s: out of memory", path);
    }
    f->slot = -1;
    f->fd = -1;
    f->target = target;
    f->existed = existed;
    if (kind != T_FILE) {
        f->kind = OF_STREAM;
        if (kind == T_STDOUT) {
            fflush(stdout); /* what the caller printed comes first */
            f->fd = 1;
        } else if ((f->fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0) {
            rc = fail_errno(f, "cannot open", errno);
            goto fail;
        }
        *out = f;
        return S24_OK;
    }
    size_t tlen = strlen(target) + 32;
    if (!(dir = dir_of(target)) || !(f->tmp = malloc(tlen))) {
        rc = s24_error(S24_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    snprintf(f->tmp, tlen, "%s.tmp.%ld", target, (long)getpid());
    if ((e = fault_hit(F_OPEN)) != 0) {
        rc = fail_errno(f, "cannot create", e);
        goto fail;
    }
    /* new files get 0666 less the umask; a replaced file keeps its mode */
    mode_t m = existed ? mode : 0666;
    f->kind = OF_ANON;
    if ((f->fd = open_anon(dir, m)) < 0) {
        f->kind = OF_NAMED;
        /* registered first: a signal between open and registration would leak it */
        f->slot = reg_add(f->tmp);
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, m);
        if (f->fd < 0 && errno == EEXIST) {
            /* left by a dead process that had our pid */
            unlink(f->tmp);
            f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, m);
        }
        if (f->fd < 0) {
            e = errno;
            rc = s24_error(S24_ERR_IO, "%s: cannot create a temporary file in %s: %s%s", path, dir,
                           strerror(e), kept(f));
            goto fail;
        }
    }
    if (existed) (void)fchmod(f->fd, mode); /* O_CREAT's mode is cut by the umask */
    free(dir);
    *out = f;
    return S24_OK;
fail:
    free(dir);
    if (f->kind == OF_STREAM && f->fd > 1) close(f->fd);
    free_outfile(f);
    return rc;
}

int s24_outfile_write(s24_outfile_t f, const void *data, size_t len)
{
    const char *p = data;
    int e;
    if (!f) return s24_error(S24_ERR_INVALID, "output: write to a file that is not open");
    if (f->failed) return s24_error(S24_ERR_IO, "%s: an earlier write failed", f->path);
    if ((e = fault_hit(F_WRITE)) != 0) return fail_errno(f, "write failed", e);
    while (len) {
        ssize_t n = write(f->fd, p, len > ((size_t)1 << 30) ? (size_t)1 << 30 : len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return fail_errno(f, "write failed", n < 0 ? errno : EIO);
        p += n;
        len -= (size_t)n;
    }
    return S24_OK;
}

/* Make the rename itself durable; a failure here cannot be undone (the new
 * file is in place and whole), so it is not reported. */
static void sync_dir(const char *target)
{
    char *dir = dir_of(target);
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Remove TARGET.tmp.<pid> files whose process is gone (a SIGKILL in the
 * middle of a write where no unnamed temporary file could be used). */
static void sweep_stale(const char *target)
{
    char *dir = dir_of(target);
    const char *base = strrchr(target, '/');
    base = base ? base + 1 : target;
    size_t bl = strlen(base);
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *ent;
    while (d && (ent = readdir(d))) {
        const char *n = ent->d_name, *q = n + bl + 5;
        if (strncmp(n, base, bl) || strncmp(n + bl, ".tmp.", 5) || !isdigit((unsigned char)*q))
            continue;
        char *end;
        errno = 0;
        long pid = strtol(q, &end, 10);
        if (*end || errno || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
        (void)unlinkat(dirfd(d), n, 0);
    }
    if (d) closedir(d);
    free(dir);
}

int s24_outfile_commit(s24_outfile_t f)
{
    int rc = S24_OK, e;
    if (!f) return s24_error(S24_ERR_INVALID, "output: commit of a file that is not open");
    if (f->failed) {
        rc = s24_error(S24_ERR_IO, "%s: an earlier write failed%s", f->path, kept(f));
        goto fail;
    }
    if (f->kind == OF_STREAM) {
        if (f->fd > 1 && close(f->fd) != 0) rc = fail_errno(f, "write failed", errno);
        f->fd = -1;
        free_outfile(f);
        return rc;
    }
    if ((e = fault_hit(F_FSYNC)) != 0 || (fsync(f->fd) != 0 && (e = errno) != EINVAL)) {
        rc = fail_errno(f, "sync to disk failed", e);
        goto fail;
    }
    if (f->kind == OF_ANON) {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", f->fd);
        f->slot = reg_add(f->tmp);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, f->tmp, AT_SYMLINK_FOLLOW) != 0) {
            e = errno;
            if (e == EEXIST && unlink(f->tmp) == 0 &&
                linkat(AT_FDCWD, proc, AT_FDCWD, f->tmp, AT_SYMLINK_FOLLOW) == 0)
                e = 0;
            if (e) {
                rc = fail_errno(f, "cannot name the finished file", e);
                f->kind = OF_NAMED; /* unlink whatever may stand there */
                goto fail;
            }
        }
        f->kind = OF_NAMED;
    }
    e = close(f->fd) != 0 ? errno : 0; /* NFS reports write errors here */
    f->fd = -1;
    if (e) {
        rc = fail_errno(f, "write failed", e);
        goto fail;
    }
    if ((e = fault_hit(F_RENAME)) != 0 || (rename(f->tmp, f->target) != 0 && (e = errno))) {
        rc = fail_errno(f, "cannot move the finished file into place", e);
        goto fail;
    }
    sync_dir(f->target);
    sweep_stale(f->target);
    free_outfile(f);
    return S24_OK;
fail:
    s24_outfile_abort(f);
    return rc;
}

void s24_outfile_abort(s24_outfile_t f)
{
    if (!f) return;
    if (f->fd > 1) close(f->fd);
    /* an unnamed file vanishes with its descriptor */
    if (f->kind == OF_NAMED && f->tmp) unlink(f->tmp);
    free_outfile(f);
}
