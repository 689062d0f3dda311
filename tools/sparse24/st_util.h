/* st_util.h: what the safetensors subcommands (prune, inspect, compress,
 * decompress) share: which tensors are prunable weights and why others are
 * not, N:M pattern parsing, name filters and shape formatting. CLI-only: no
 * library code depends on it. */
#ifndef S24_ST_UTIL_H
#define S24_ST_UTIL_H

#include <regex.h>
#include <stdio.h>

#include "sparse24/sparse24.h"

/* Shape rules for prunable weights. ASP: NVIDIA ASP's default, what Sparse
 * Tensor Cores accept (out % 8, in % 16); ANY: only in % M. */
enum st_rule { ST_RULE_ASP, ST_RULE_ANY };

/* "2:4" -> n=2, m=4; 0 on success, -1 if malformed or unsupported. */
int st_parse_pattern(const char *s, int *n, int *m);
/* 1 if the name ends in "weight" (PyTorch's conv and linear weights). */
int st_is_weight_name(const char *name);
/* Is t a prunable weight under `rule` for pattern n:m? Returns NULL and
 * fills *v if so, else a short reason ("not a float", "in 3 % 16 != 0"...)
 * written into why (size why_len). */
const char *st_eligible(const struct s24_st_tensor *t, enum st_rule rule, int n, int m,
                        struct s24_view *v, char *why, size_t why_len);
/* "[64,32,3,3]" ("[]" for 0-d). */
void st_fmt_shape(char *buf, size_t len, int ndim, const int64_t *shape);
/* Size of a file in bytes, -1 if it cannot be read. */
long long st_file_size(const char *path);
/* Bytes in human units, e.g. "87.5 KiB". */
void st_fmt_bytes(char *buf, size_t len, double bytes);

/* --include / --exclude: POSIX extended regexes on tensor names. */
#define ST_MAX_FILTERS 16
struct st_filter {
    int ninc, nexc;
    regex_t inc[ST_MAX_FILTERS], exc[ST_MAX_FILTERS];
};
void st_filter_init(struct st_filter *f);
/* Compile one pattern; 0 on success, else prints a usage message and returns -1. */
int st_filter_add(struct st_filter *f, const char *cmd, const char *re, int exclude);
/* NULL if name passes, else the reason ("excluded by --exclude", ...). */
const char *st_filter_why(const struct st_filter *f, const char *name);
void st_filter_free(struct st_filter *f);

/* Sums of |w| over a float tensor (F32, F16, BF16, F64): all of it, and
 * where mask[i] != 0 (mask indexed like w). NaNs are left out. */
void st_mag_sums(enum s24_dtype dt, const void *w, const uint8_t *mask, int64_t numel,
                 double *total, double *kept);

/* Lookup tables (st_lookup.c), which prune leaves dense unless
 * --include-embeddings: an embedding by name (a dotted component containing
 * "embed", or wte, wpe, emb, *_emb, relative_attention_bias; or the top-level
 * shared.weight), an output head by name (a component lm_head) or by shape (a
 * 2-D *weight shaped exactly like the vocabulary table, outside the numbered
 * blocks such as layers.3). */
enum st_table { ST_TABLE_NONE, ST_TABLE_EMBEDDING, ST_TABLE_HEAD, ST_TABLE_TIED_HEAD };
/* What the name alone says. */
enum st_table st_table_by_name(const char *name);
/* The embedding with the most rows, if it has more rows than columns (a
 * vocabulary x hidden table); NULL if there is none. */
const struct s24_st_tensor *st_vocab_table(const struct s24_st *st);
/* What t is, given the file's vocabulary table (may be NULL). */
enum st_table st_table_of(const struct s24_st_tensor *t, const struct s24_st_tensor *vocab);
/* The skip reason prune prints ("embedding (lookup table)", ...); NULL for NONE. */
const char *st_table_why(enum st_table k);

/* decompress's reader: check the compressed file st (read from `in`) and
 * rebuild the dense checkpoint into dense; *ncomp counts the tensors
 * expanded. S24_EXIT_OK, or the message printed and S24_EXIT_FAIL. */
int st_decompress(const char *cmd, const char *in, struct s24_st *st, struct s24_st *dense,
                  int *ncomp);

/* 1 when progress lines should be drawn on stderr. */
int st_progress_on(void);

#endif
