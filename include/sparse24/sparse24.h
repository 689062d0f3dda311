/* sparse24.h: the public C API of sparse24's core library (no GPU types).
 *
 * sparse24 prunes neural-network weights to N:M (2:4 by default) fine-structured
 * sparsity, stores them compressed, multiplies with them on the CPU, and reads
 * and writes the files PyTorch users exchange (safetensors, .npy). The GPU
 * engine lives behind sparse24_cuda.h, the training engine behind sparse24_nn.h.
 *
 * Conventions: every call returns enum s24_status (S24_OK == 0, negative on
 * failure) and leaves a human-readable message in s24_last_error(); nothing in
 * the library exits or prints. Shapes are int64_t, byte counts size_t.
 * Every function declared in include/sparse24/ carries S24_API
 * (sparse24_api.h): the library is built with hidden visibility, so these
 * headers are all that libsparse24.so exports.
 */
#ifndef SPARSE24_H
#define SPARSE24_H

#include <stddef.h>
#include <stdint.h>

#include "sparse24/sparse24_api.h"

#ifdef __cplusplus
extern "C" {
#endif

#define S24_VERSION_MAJOR 0
#define S24_VERSION_MINOR 1
#define S24_VERSION_PATCH 0
#define S24_VERSION_STRING "0.1.0"
/* The git commit the library was built from ("unknown" outside a checkout;
 * "-dirty" appended when the tree had uncommitted changes). */
S24_API const char *s24_version_commit(void);

/* ---------------------------------------------------------------- status */
/* Stable error codes: new ones are appended, never renumbered. */
enum s24_status {
    S24_OK = 0,
    S24_ERR_INVALID = -1,      /* bad argument (shape, pattern, option) */
    S24_ERR_NOMEM = -2,        /* allocation failed */
    S24_ERR_UNSUPPORTED = -3,  /* valid request this build or device cannot do */
    S24_ERR_IO = -4,           /* open/read/write/rename failed */
    S24_ERR_FORMAT = -5,       /* malformed file (safetensors, npy, CIFAR, ...) */
    S24_ERR_CUDA = -6,         /* CUDA runtime error */
    S24_ERR_CUSPARSELT = -7,   /* cuSPARSELt error */
    S24_ERR_CUBLAS = -8,       /* cuBLAS / cuBLASLt error */
    S24_ERR_CUDNN = -9,        /* cuDNN error */
    S24_ERR_NCCL = -10,        /* NCCL error */
    S24_ERR_NO_DEVICE = -11,   /* no GPU, or library built without CUDA */
    S24_ERR_NOT_SPARSE = -12,  /* tensor is not N:M sparse where it must be */
    S24_ERR_INTERRUPTED = -13, /* stopped by a signal or a time budget */
    S24_ERR_NOT_FOUND = -14,   /* named tensor / file / entry does not exist */
    S24_ERR_COMM = -15,        /* a collective failed: another rank failed or missed the deadline */
};

S24_API const char *s24_status_str(int status);
/* The message of the most recent failure in this thread ("" if none). */
S24_API const char *s24_last_error(void);
/* Record a failure message (printf-style) and return `status`, so library
 * code can write `return s24_error(S24_ERR_FORMAT, "%s: ...", path);`. */
S24_API int s24_error(int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
S24_API void s24_clear_error(void);

/* ---------------------------------------------------------------- dtypes */
/* The dtypes of the safetensors format, in its own naming. */
enum s24_dtype {
    S24_BOOL = 0, S24_U8, S24_I8, S24_I16, S24_U16, S24_F16, S24_BF16,
    S24_I32, S24_U32, S24_F32, S24_F64, S24_I64, S24_U64,
    S24_F8_E4M3, S24_F8_E5M2,
    S24_DTYPE_COUNT
};
S24_API size_t s24_dtype_size(enum s24_dtype dt);
S24_API const char *s24_dtype_name(enum s24_dtype dt); /* "F32", ... */
/* Parse a safetensors dtype name; returns S24_ERR_FORMAT if unknown. */
S24_API int s24_dtype_parse(const char *name, enum s24_dtype *out);
/* 1 for the floating dtypes masks and GEMMs accept: F32, F16, BF16 (and F64). */
S24_API int s24_dtype_is_float(enum s24_dtype dt);

/* IEEE half and bfloat16 conversions, round to nearest even, NaN kept NaN. */
S24_API float s24_f16_to_f32(uint16_t h);
S24_API uint16_t s24_f32_to_f16(float f);
S24_API float s24_bf16_to_f32(uint16_t b);
S24_API uint16_t s24_f32_to_bf16(float f);
/* Read element i of a float tensor of dtype dt (F32, F16, BF16, F64) as double. */
S24_API double s24_load_float(enum s24_dtype dt, const void *p, int64_t i);
/* Index of the first NaN or infinity among the n elements of a float tensor
 * (F32, F16, BF16, F64), -1 if all are finite or dt is not a float. The one
 * check that permute and prune share before they rank weights by |w|. */
S24_API int64_t s24_find_nonfinite(enum s24_dtype dt, const void *p, int64_t n);
/* Element i of a tensor of any numeric dtype as double: the floats above,
 * the integers, F8_E4M3 (its one NaN code gives NaN); NaN for BOOL and
 * F8_E5M2. For checking GEMM outputs of every dtype against a reference. */
S24_API double s24_load_number(enum s24_dtype dt, const void *p, int64_t i);

/* ---------------------------------------------------------------- rng */
/* A small, fast, seedable generator (splitmix64-seeded xoshiro256**) whose
 * streams are identical on every platform: results depend only on the seed. */
struct s24_rng { uint64_t s[4]; };
S24_API void s24_rng_seed(struct s24_rng *r, uint64_t seed);
S24_API uint64_t s24_rng_u64(struct s24_rng *r);
S24_API double s24_rng_uniform(struct s24_rng *r); /* [0, 1) */
S24_API float s24_rng_uniformf(struct s24_rng *r, float lo, float hi);
S24_API double s24_rng_normal(struct s24_rng *r);              /* N(0, 1), Box-Muller */
S24_API uint64_t s24_rng_below(struct s24_rng *r, uint64_t n); /* [0, n), unbiased */

/* ---------------------------------------------------------------- threads */
/* Worker threads used by threaded kernels (OpenMP) and by OpenBLAS.
 * 0 = all online cores. */
S24_API void s24_threads_set(int n);
S24_API int s24_threads_get(void);

/* ---------------------------------------------------------------- time */
S24_API double s24_now(void); /* monotonic seconds */

/* ---------------------------------------------------------------- N:M masks
 * A weight is viewed as a 3-D array (outer, red, inner), element (o, r, i) at
 * offset (o*red + r)*inner + i, and grouped in runs of M consecutive r (the
 * reduction / input-channel dimension) at fixed (o, i):
 *   linear [OC, IC]          -> (OC, IC, 1)
 *   conv   [OC, IC, KH, KW]  -> (OC, IC, KH*KW)   PyTorch's OIHW layout
 *   conv   [OC, KH, KW, IC]  -> (OC*KH*KW, IC, 1) the engine's OHWI layout
 * Both conv forms give NVIDIA ASP's grouping: its matrix view is
 * (KH*KW*OC) x IC and groups of M run along IC. A "row" in kept-magnitude
 * bounds is one (o, i) line along r.
 *
 * Tie-break (exact, documented): within a group the N elements with the
 * largest |w| are kept; among equal magnitudes the lower index r wins. NaN
 * counts as larger than any number. */
struct s24_view { int64_t outer, red, inner; };
/* View of a PyTorch-layout weight: 2-D (O, I) or 4-D OIHW. */
S24_API int s24_view_of_shape(int ndim, const int64_t *shape, struct s24_view *out);

/* mask[(o*red + r)*inner + i] = 1 keep / 0 prune. red % m must be 0. */
S24_API int s24_mask_compute(enum s24_dtype dt, const void *w, struct s24_view v, int n, int m,
                             uint8_t *mask);
/* Zero the pruned elements (writes +0.0 of dt). */
S24_API int s24_mask_apply(enum s24_dtype dt, void *w, struct s24_view v, const uint8_t *mask);
/* S24_OK if every group has at most n non-zero elements; else
 * S24_ERR_NOT_SPARSE with the count of offending groups in *bad (may be NULL). */
S24_API int s24_mask_check(enum s24_dtype dt, const void *w, struct s24_view v, int n, int m,
                           int64_t *bad);
/* S24_OK if mask has exactly n ones per group of m. */
S24_API int s24_mask_check_mask(const uint8_t *mask, struct s24_view v, int n, int m);

/* Magnitude figures of a weight: sum |w| over everything, kept by N:M in
 * the natural order, and the bound of keeping the largest n/m of each row. */
struct s24_magnitude { double total, kept, row_bound; };
S24_API int s24_magnitude(enum s24_dtype dt, const void *w, struct s24_view v, int n, int m,
                          struct s24_magnitude *out);
/* Pool & Yu efficacy in percent: 100*(kept_perm - kept_default)/(bound - kept_default);
 * 0 when the gap is zero. */
S24_API double s24_efficacy(double kept_default, double kept_permuted, double bound);

/* ---------------------------------------------------------------- 2:4 compression
 * A 2:4 matrix of rows x k (k % 4 == 0) becomes
 *   values: rows x k/2 elements of the same dtype (kept values, in order)
 *   meta:   rows x ceil(k/8) bytes; byte j holds groups 2j (low nibble) and
 *           2j+1 (high nibble); a nibble is idx0 | idx1 << 2, idx0 < idx1,
 *           the in-group positions of the two kept values.
 * For a view with inner > 1 the (o, i) lines are compressed one by one and
 * laid out line after line: line (o, i) is row o*inner + i. A group with fewer
 * than two non-zero bit patterns keeps the lowest free positions so that
 * decompression restores every byte; a group with more than two is refused. */
struct s24_compressed {
    enum s24_dtype dtype;
    int64_t rows, k;   /* dense shape of the (rows x k) matrix */
    void *values;      /* rows x k/2 */
    uint8_t *meta;     /* rows x meta_row_bytes(k) */
};
S24_API size_t s24_meta_row_bytes(int64_t k);
S24_API int s24_compress(enum s24_dtype dt, const void *w, struct s24_view v,
                         struct s24_compressed *out);
S24_API int s24_decompress(const struct s24_compressed *c, struct s24_view v, void *w);
S24_API void s24_compressed_free(struct s24_compressed *c);
S24_API size_t s24_compressed_bytes(const struct s24_compressed *c); /* values + meta */

/* ---------------------------------------------------------------- CPU GEMM
 * C (M x N, fp32, row-major) = A (M x K, 2:4, compressed rows) x B (K x N,
 * row-major). A's dtype F32, F16 or BF16; B has A's dtype; accumulation in
 * fp32 (the reference in fp64). */
S24_API int s24_spmm_ref(const struct s24_compressed *A, const void *B, int64_t n, float *C);
/* Fast path: AVX-512 / AVX2+FMA chosen at run time, threads from s24_threads_get(). */
S24_API int s24_spmm(const struct s24_compressed *A, const void *B, int64_t n, float *C);
/* Dense reference C = A x B in fp64 accumulate (A M x K, B K x N, fp32). */
S24_API void s24_gemm_ref(int64_t m, int64_t n, int64_t k, const float *A, const float *B,
                          float *C);
/* Which SIMD path s24_spmm takes on this CPU: "avx512", "avx2", "scalar". */
S24_API const char *s24_spmm_isa(void);

/* ---------------------------------------------------------------- CPU GEMM plans
 * s24_spmm converts A into the kernel's internal form on every call. A plan
 * does that once (fp32 values, B-panel offsets, blocked by register tile), so
 * repeated products with the same A pay only for the multiply. The plan keeps
 * no pointer into A. A plan runs one product at a time (it owns the packing
 * buffers); use one plan per calling thread. */
typedef struct s24_spmm_plan *s24_spmm_plan_t;
S24_API int s24_spmm_plan_init(s24_spmm_plan_t *plan, const struct s24_compressed *A);
/* C (A->rows x n, fp32) = A x B (A->k x n, row-major, A's dtype). */
S24_API int s24_spmm_plan_run(s24_spmm_plan_t plan, const void *B, int64_t n, float *C);
S24_API void s24_spmm_plan_free(s24_spmm_plan_t plan); /* NULL is fine */
/* Force a SIMD path for plans made after the call ("avx512", "avx2",
 * "scalar"; NULL or "auto" = best this CPU has). S24_ERR_UNSUPPORTED if the
 * CPU lacks it. Process-wide; meant for tests and benchmarks. */
S24_API int s24_spmm_set_isa(const char *isa);

/* ---------------------------------------------------------------- safetensors */
#define S24_MAX_DIMS 8
struct s24_st_tensor {
    char *name;
    enum s24_dtype dtype;
    int ndim;
    int64_t shape[S24_MAX_DIMS];
    size_t nbytes;
    void *data;        /* owned */
};
struct s24_st_kv { char *key, *value; };
struct s24_st {
    int n, cap;
    struct s24_st_tensor *t;   /* in file (data offset) order */
    int nmeta;
    struct s24_st_kv *meta;    /* "__metadata__" string map, in file order */
    char *header;              /* the raw JSON header as read (NULL if built) */
    size_t header_len;         /* its length including any trailing spaces */
};
S24_API void s24_st_init(struct s24_st *st);
S24_API int s24_st_read(const char *path, struct s24_st *out);
/* Parse from memory (used by read and by tests). `what` names the source in errors. */
S24_API int s24_st_parse(const uint8_t *buf, size_t len, const char *what, struct s24_st *out);
/* Parse a header alone (the JSON text, len bytes, trailing spaces included):
 * every check of s24_st_parse except the data-section size, which the offsets
 * define; tensors get zero-filled data and out->header keeps the text, so a
 * caller that fills the data can write the original file back byte for byte. */
S24_API int s24_st_parse_header(const char *json, size_t len, const char *what, struct s24_st *out);
/* Written through s24_outfile_open (atomic; see "output files"). Tensors laid
 * out in array order. */
S24_API int s24_st_write(const char *path, const struct s24_st *st);
S24_API void s24_st_free(struct s24_st *st);
S24_API struct s24_st_tensor *s24_st_find(const struct s24_st *st, const char *name);
/* Append a tensor (data copied; NULL data = zero-filled). */
S24_API int s24_st_add(struct s24_st *st, const char *name, enum s24_dtype dt, int ndim,
                       const int64_t *shape, const void *data);
/* Tensor i (0..st->n; st->n appends) set to name, dtype and shape, its
 * bytes for the caller to fill through *data: a snapshot refilled in place
 * save after save. The buffer is kept when its size is unchanged (contents
 * as they were: no allocation, no page faults), reallocated zero-filled
 * otherwise. Tensors after the last one put stay until s24_st_truncate. */
S24_API int s24_st_put(struct s24_st *st, int i, const char *name, enum s24_dtype dt, int ndim,
                       const int64_t *shape, void **data);
/* The tensors from n on freed; st->n becomes n (when it was larger). */
S24_API void s24_st_truncate(struct s24_st *st, int n);
S24_API int s24_st_meta_set(struct s24_st *st, const char *key, const char *value);
S24_API const char *s24_st_meta_get(const struct s24_st *st, const char *key);
S24_API int64_t s24_numel(int ndim, const int64_t *shape);

/* ---------------------------------------------------------------- .npy */
/* F32, F64, F16 and I64 (for permutations), little-endian, C order. */
S24_API int s24_npy_read(const char *path, enum s24_dtype *dt, int *ndim,
                         int64_t shape[S24_MAX_DIMS], void **data);
S24_API int s24_npy_write(const char *path, enum s24_dtype dt, int ndim, const int64_t *shape,
                          const void *data);

/* ---------------------------------------------------------------- output files
 * Every file sparse24 writes goes through these calls. A target that is a
 * regular file or does not exist is written to a temporary file in its folder,
 * fsync'd and renamed over it (then the folder is fsync'd), so a reader sees
 * the old file or the new one, never a part of one. A symbolic link is
 * followed: the file it names is replaced, the link stays. /dev/null is
 * written through. With S24_OUTFILE_STREAM, "-", /dev/stdout, /dev/fd/1 and
 * /proc/self/fd/1 write straight to standard output; without it they are
 * refused, and so is any other existing target that is not a regular file
 * (device, FIFO, socket, folder): nothing is created or replaced.
 *
 * The temporary file is unnamed where Linux allows it (O_TMPFILE), so even a
 * SIGKILL leaves nothing behind; elsewhere it is PATH.tmp.<pid>, removed on
 * every error path, by s24_outfile_cleanup() from a signal handler, and, if a
 * SIGKILL left it, by the next successful write of PATH. Errors name the file
 * and say whether the old file was kept ("x: write failed: No space left on
 * device; nothing was written").
 *
 * Fault injection for tests: the environment variable S24_FAULT (read once)
 * or s24_outfile_fault_set() takes "OP:N:ERR[,OP:N:ERR...]": the Nth call
 * (counted from the first in the process; "*" = every call) of OP fails with
 * ERR. OP: open (creating the temporary file), tmpfile (trying an unnamed
 * one: a fault makes the layer use PATH.tmp.<pid>), write (one per
 * s24_outfile_write), fsync, rename. ERR: ENOSPC, EIO, EACCES, EPERM, EROFS,
 * EDQUOT, EFBIG, EXDEV, EOPNOTSUPP, or SIGINT, SIGTERM, SIGKILL: the call
 * raises that signal instead (it goes on if a handler returns). A malformed
 * S24_FAULT makes every open fail with S24_ERR_INVALID. */
typedef struct s24_outfile *s24_outfile_t;
#define S24_OUTFILE_STREAM 1u /* this output may go to standard output ("-") */
/* Check that path could be opened with these flags, creating nothing (to
 * fail before long work). */
S24_API int s24_outfile_check(const char *path, unsigned flags);
S24_API int s24_outfile_open(s24_outfile_t *f, const char *path, unsigned flags);
/* Write all len bytes (retrying short writes). After a failure the file can
 * only be aborted. */
S24_API int s24_outfile_write(s24_outfile_t f, const void *data, size_t len);
/* fsync, rename into place, fsync the folder; on failure the temporary file is
 * removed and the target left as it was. Frees f either way. */
S24_API int s24_outfile_commit(s24_outfile_t f);
/* Remove the temporary file and free f (NULL is fine). */
S24_API void s24_outfile_abort(s24_outfile_t f);
/* 1 if path is one of the names of standard output listed above. */
S24_API int s24_outfile_is_stdout(const char *path);
/* 1 if a and b exist and are the same file (same device and inode, symbolic
 * links followed): for refusing an output that would replace an input. */
S24_API int s24_outfile_same(const char *a, const char *b);
/* Unlink every named temporary file now open. Async-signal-safe: for the
 * program's SIGINT/SIGTERM handler (the library installs none). */
S24_API void s24_outfile_cleanup(void);
/* Replace the fault specification (NULL or "" for none) and restart the call
 * counts; S24_ERR_INVALID if malformed. For tests; not thread-safe. */
S24_API int s24_outfile_fault_set(const char *spec);

/* Write a whole file through the calls above (no streaming). */
S24_API int s24_write_file_atomic(const char *path, const void *data, size_t len);
/* Read a whole file (malloc'd, caller frees). */
S24_API int s24_read_file(const char *path, uint8_t **data, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* SPARSE24_H */
