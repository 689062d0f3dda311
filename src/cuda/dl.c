/* dl.c: opening a GPU library at run time (dl.h): the search order, symbol
 * lookup, and the message that names the library. It knows no library in
 * particular (dl_cudnn.c and cusparselt_dl.cu hold the tables) and closes
 * nothing: a library once opened stays for the life of the process. */
#include "dl.h"

#include <dlfcn.h>
#include <link.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparse24/sparse24.h"

/* Is this program a file under the build folder? Only such a program may use
 * the build's fallback path: an installed copy must not reach into the tree. */
static int run_from_build(void)
{
    char exe[PATH_MAX], root[PATH_MAX];
    const char *r = s24_build_root();
    if (!r || !*r || !realpath("/proc/self/exe", exe) || !realpath(r, root)) return 0;
    size_t n = strlen(root);
    return strncmp(exe, root, n) == 0 && exe[n] == '/';
}

/* dlopen one file; on failure appends "<how>dlerror's text" to lib->error. */
static void *try_open(struct s24_dl_lib *lib, const char *file, const char *how)
{
    void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    snprintf(lib->path, sizeof lib->path, "%s", file);
    if (!h) {
        const char *e = dlerror();
        size_t o = strlen(lib->error);
        snprintf(lib->error + o, sizeof lib->error - o, "%s%s%s", o ? "; " : "", how,
                 e ? e : "dlopen failed");
    }
    return h;
}

int s24_dl_open(struct s24_dl_lib *lib, const char *fallback)
{
    const char *v = getenv(lib->env);
    lib->error[0] = 0;
    lib->handle = NULL;
    if (v && *v) {
        char how[64];
        snprintf(how, sizeof how, "%s: ", lib->env);
        lib->handle = try_open(lib, v, how);
    } else {
        lib->handle = try_open(lib, lib->soname, "");
        if (!lib->handle && fallback && *fallback && run_from_build())
            lib->handle = try_open(lib, fallback, "the build's copy: ");
    }
    if (!lib->handle) return S24_ERR_UNSUPPORTED;
    lib->error[0] = 0;
    /* the file the loader chose, for `sparse24 info` */
    struct link_map *lm = NULL;
    if (dlinfo(lib->handle, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name && *lm->l_name)
        snprintf(lib->path, sizeof lib->path, "%s", lm->l_name);
    return S24_OK;
}

int s24_dl_sym(struct s24_dl_lib *lib, const char *sym, void *slot, size_t slot_bytes)
{
    void *p;
    dlerror();
    p = dlsym(lib->handle, sym);
    if (!p || slot_bytes != sizeof p) {
        snprintf(lib->error, sizeof lib->error, "%s has no %s (a version older than this build's "
                 "headers?)", lib->path, sym);
        return S24_ERR_UNSUPPORTED;
    }
    /* POSIX guarantees that dlsym's void * holds a function pointer */
    memcpy(slot, &p, sizeof p);
    return S24_OK;
}

int s24_dl_load_table(struct s24_dl_lib *lib, const char *fallback, const char *const *names, int n,
                      void *table, size_t table_bytes)
{
    int rc = s24_dl_open(lib, fallback);
    size_t slot = n > 0 ? table_bytes / (size_t)n : 0;
    if (rc == S24_OK && (n < 1 || slot * (size_t)n != table_bytes)) {
        snprintf(lib->error, sizeof lib->error, "%s: a table of %zu bytes is not %d function "
                 "pointers", lib->name, table_bytes, n);
        rc = S24_ERR_UNSUPPORTED;
    }
    for (int i = 0; rc == S24_OK && i < n; i++)
        rc = s24_dl_sym(lib, names[i], (char *)table + (size_t)i * slot, slot);
    return rc;
}

int s24_dl_fail(const struct s24_dl_lib *lib, const char *need)
{
    return s24_error(S24_ERR_UNSUPPORTED,
                     "%s (%s) could not be loaded: %s%s%s (set %s to the library's file, or "
                     "add its folder to LD_LIBRARY_PATH)",
                     lib->name, lib->soname, lib->error, need ? "; needed for " : "",
                     need ? need : "", lib->env);
}
