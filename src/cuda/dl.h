/* dl.h: run-time loading of the GPU libraries (cuBLASLt, cuSPARSELt,
 * cuDNN, NCCL). A sparse24 built with them is not linked against them: each
 * is opened with dlopen the first time an operation needs it, so the binary
 * starts where they are absent and says which one is missing, and why, only
 * then. Plain C, no CUDA types (the tests call it). The function tables live
 * in dl_cublaslt.h, dl_cusparselt.h, dl_cudnn.h and dl_nccl.h, included only
 * where each library is called. The CUDA runtime is linked statically
 * (mk/build.mk), so what a CUDA build needs at start-up is none of these and
 * not even the driver: libcuda.so is opened by the runtime at its first call. */
#ifndef S24_DL_H
#define S24_DL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One library to open: its names, and what happened. */
struct s24_dl_lib {
    const char *name;   /* for messages: "cuDNN" */
    const char *soname; /* versioned, searched on the loader path: "libcudnn.so.9" */
    const char *env;    /* names a file that replaces the search: "S24_CUDNN_LIB" */
    void *handle;       /* NULL until opened */
    char path[512];     /* the file opened (full path where the loader says it) */
    char error[768];    /* why it is not open; "" once it is */
};

/* Opens lib: the file $env names if that is set (nothing else is tried then,
 * so a wrong setting is reported, not bypassed); else the soname through the
 * loader path (LD_LIBRARY_PATH, ld.so.cache, the program's RUNPATH); else,
 * only for a program run from the build folder itself, `fallback` (a full
 * path or NULL). S24_OK, or S24_ERR_UNSUPPORTED with lib->error set; records
 * no last error (the caller does, when an operation needs the library). Not
 * thread-safe: each loader calls it under its pthread_once. */
int s24_dl_open(struct s24_dl_lib *lib, const char *fallback);
/* Looks up `sym` in the opened lib into *slot, a function pointer of
 * slot_bytes. S24_OK, or S24_ERR_UNSUPPORTED with lib->error naming the
 * symbol (a library too old for this build). */
int s24_dl_sym(struct s24_dl_lib *lib, const char *sym, void *slot, size_t slot_bytes);
/* Records (s24_error) and returns lib's failure: "cuDNN (libcudnn.so.9)
 * could not be loaded: <reason>; needed for <need>", with how to point
 * sparse24 at the library. need may be NULL. */
int s24_dl_fail(const struct s24_dl_lib *lib, const char *need);
/* Opens lib (s24_dl_open) and fills `table`, a struct of n function
 * pointers (table_bytes in all) in the order of names[]: S24_OK, or
 * S24_ERR_UNSUPPORTED with lib->error set. What every loader does under
 * its pthread_once (S24_DL_LOADER). */
int s24_dl_load_table(struct s24_dl_lib *lib, const char *fallback, const char *const *names, int n,
                      void *table, size_t table_bytes);
/* A library's loader: its table filled once per process (thread-safe) and
 * the two entry points LOAD(need) and PATH() declared below. LIB is the
 * file's static struct s24_dl_lib, FNS the table, FUNCS its X-macro list,
 * FALLBACK s24_dl_open's fallback. The file includes <pthread.h>. */
#define S24_DL_NAME(f) #f,
#define S24_DL_LOADER(LIB, FNS, FUNCS, FALLBACK, LOAD, PATH)                                    \
    static const char *const LIB##_names[] = {FUNCS(S24_DL_NAME)};                           \
    static pthread_once_t LIB##_once = PTHREAD_ONCE_INIT;                                      \
    static int LIB##_loaded;                                                                   \
    static void LIB##_load_once(void)                                                          \
    {                                                                                          \
        LIB##_loaded = s24_dl_load_table(&LIB, FALLBACK, LIB##_names,                          \
                                         (int)(sizeof LIB##_names / sizeof *LIB##_names), &FNS, \
                                         sizeof FNS) == 0;                                     \
    }                                                                                          \
    int LOAD(const char *need)                                                                 \
    {                                                                                          \
        pthread_once(&LIB##_once, LIB##_load_once);                                            \
        return LIB##_loaded ? 0 : s24_dl_fail(&LIB, need);                                     \
    }                                                                                          \
    const char *PATH(void)                                                                     \
    {                                                                                          \
        pthread_once(&LIB##_once, LIB##_load_once);                                            \
        return LIB##_loaded ? LIB.path : NULL;                                                 \
    }
/* The build folder, and its cuSPARSELt fallback ("" without one); generated
 * by mk/build.mk into build/gen/build_paths.c. */
const char *s24_build_root(void);
const char *s24_build_cusparselt(void);

/* Each library, opened once per process (thread-safe) with its table filled:
 * S24_OK, or the recorded s24_dl_fail error ("built without" in a build
 * that has no such library). _path: the file loaded, or NULL. */
int s24_dl_cudnn_load(const char *need);
const char *s24_dl_cudnn_path(void);
int s24_dl_cusparselt_load(const char *need);
const char *s24_dl_cusparselt_path(void);
int s24_dl_cublaslt_load(const char *need);
const char *s24_dl_cublaslt_path(void);
int s24_dl_nccl_load(const char *need);
const char *s24_dl_nccl_path(void);

/* The type of a pointer to function f, for the tables. */
#ifdef __cplusplus
#define S24_DL_PTR(f) decltype(&f)
#else
#define S24_DL_PTR(f) __typeof__(&f)
#endif

#ifdef __cplusplus
}
#endif
#endif
