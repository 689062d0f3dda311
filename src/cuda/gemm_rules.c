/* gemm_rules.c: the host-side rules of the GPU GEMM engine: defaults, which
 * dtype/layout/epilogue combinations each path takes, the size multiples
 * cuSPARSELt needs, and names. Built in every configuration (no CUDA), so CI
 * tests the rules and a caller gets a clear message before any library call.
 * It does not know what a given library version accepts beyond these rules;
 * a refusal by the library itself still comes back as S24_ERR_CUSPARSELT. */
#include "sparse24/sparse24_cuda.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void s24_gemm_desc_init(struct s24_gemm_desc *d, int64_t m, int64_t n, int64_t k,
                        enum s24_dtype in_type)
{
    memset(d, 0, sizeof *d);
    d->m = m;
    d->n = n;
    d->k = k;
    d->in_type = in_type;
    /* int8 accumulates in int32 and fp8 in fp32: keep the full result unless told */
    d->out_type = in_type == S24_I8 ? S24_I32 : in_type == S24_F8_E4M3 ? S24_BF16 : in_type;
    d->w_order = S24_ORDER_ROW;
    d->x_order = S24_ORDER_COL;
    d->d_order = S24_ORDER_COL;
    d->act = S24_GEMM_ACT_NONE;
    d->alpha = 1.0f;
    d->beta = 0.0f;
    d->alg_id = -1;
}

const char *s24_gemm_mode_name(enum s24_gemm_mode mode)
{
    switch (mode) {
    case S24_GEMM_SPARSE: return "sparse";
    case S24_GEMM_DENSE: return "dense";
    case S24_GEMM_AUTO: return "auto";
    }
    return "?";
}

const char *s24_gemm_dtype_name(enum s24_dtype dt)
{
    switch (dt) {
    case S24_F16: return "fp16";
    case S24_BF16: return "bf16";
    case S24_F32: return "fp32";
    case S24_I8: return "int8";
    case S24_I32: return "int32";
    case S24_F8_E4M3: return "fp8";
    default: return s24_dtype_name(dt);
    }
}

int s24_gemm_dtype_parse(const char *s, enum s24_dtype *out)
{
    static const struct { const char *name; enum s24_dtype dt; } names[] = {
        {"fp16", S24_F16}, {"f16", S24_F16}, {"half", S24_F16},
        {"bf16", S24_BF16}, {"fp32", S24_F32}, {"f32", S24_F32}, {"tf32", S24_F32},
        {"int8", S24_I8}, {"i8", S24_I8}, {"int32", S24_I32}, {"i32", S24_I32},
        {"fp8", S24_F8_E4M3}, {"e4m3", S24_F8_E4M3}, {"fp8_e4m3", S24_F8_E4M3},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i].name)) {
            *out = names[i].dt;
            return S24_OK;
        }
    if (s24_dtype_parse(s, out) == S24_OK) return S24_OK;
    return s24_error(S24_ERR_INVALID, "unknown GEMM dtype '%s' (fp16, bf16, int8, fp8, fp32)", s);
}

size_t s24_gemm_bytes(enum s24_dtype dt, int64_t rows, int64_t cols)
{
    return s24_dtype_size(dt) * (size_t)rows * (size_t)cols;
}

double s24_gemm_flops(const struct s24_gemm_desc *d)
{
    return 2.0 * (double)d->m * (double)d->n * (double)d->k;
}

void s24_gemm_sparse_multiples(enum s24_dtype in_type, enum s24_dtype out_type, int64_t mult[3])
{
    /* cuSPARSELt: the structured operand's rows and columns in multiples of
     * 32 (8-bit) or 16 (16-bit) elements, dense operands in multiples of 16
     * (8-bit) or 8 (16-bit). n is a dense dimension of X and of D, so it also
     * needs 16 bytes of D's type. */
    int64_t s = s24_dtype_size(in_type) == 1 ? 32 : 16;
    int64_t nn = s24_dtype_size(in_type) == 1 ? 16 : 8;
    size_t ob = s24_dtype_size(out_type);
    if (ob && (int64_t)(16 / ob) > nn) nn = (int64_t)(16 / ob);
    mult[0] = s;
    mult[1] = nn;
    mult[2] = s;
}

static int out_ok(enum s24_dtype in, enum s24_dtype out)
{
    switch (in) {
    case S24_F16: return out == S24_F16;
    case S24_BF16: return out == S24_BF16;
    case S24_F32: return out == S24_F32;
    case S24_I8: return out == S24_I8 || out == S24_I32 || out == S24_F16 || out == S24_BF16;
    case S24_F8_E4M3: return out == S24_F16 || out == S24_BF16 || out == S24_F32;
    default: return 0;
    }
}

int s24_gemm_check(const struct s24_gemm_desc *d, enum s24_gemm_mode mode)
{
    char what[160];
    if (!d) return s24_error(S24_ERR_INVALID, "gemm: no descriptor");
    snprintf(what, sizeof what, "gemm %lldx%lldx%lld %s->%s %s", (long long)d->m,
             (long long)d->n, (long long)d->k, s24_gemm_dtype_name(d->in_type),
             s24_gemm_dtype_name(d->out_type), s24_gemm_mode_name(mode));
    if (mode != S24_GEMM_SPARSE && mode != S24_GEMM_DENSE && mode != S24_GEMM_AUTO)
        return s24_error(S24_ERR_INVALID, "%s: unknown mode %d", what, (int)mode);
    if (d->m <= 0 || d->n <= 0 || d->k <= 0)
        return s24_error(S24_ERR_INVALID, "%s: m, n and k must be positive", what);
    if (d->m > INT32_MAX || d->n > INT32_MAX || d->k > INT32_MAX)
        return s24_error(S24_ERR_INVALID, "%s: a dimension exceeds 2^31-1", what);
    if (d->in_type != S24_F16 && d->in_type != S24_BF16 && d->in_type != S24_I8 &&
        d->in_type != S24_F8_E4M3 && d->in_type != S24_F32)
        return s24_error(S24_ERR_UNSUPPORTED,
                         "%s: input dtype must be fp16, bf16, int8, fp8 (e4m3) or fp32", what);
    if (!out_ok(d->in_type, d->out_type))
        return s24_error(S24_ERR_UNSUPPORTED,
                         "%s: output dtype %s does not go with input %s (fp16->fp16, bf16->bf16, "
                         "int8->int8/int32/fp16/bf16, fp8->fp16/bf16/fp32)",
                         what, s24_gemm_dtype_name(d->out_type), s24_gemm_dtype_name(d->in_type));
    if ((unsigned)d->w_order > 1 || (unsigned)d->x_order > 1 || (unsigned)d->d_order > 1)
        return s24_error(S24_ERR_INVALID, "%s: orders must be S24_ORDER_ROW or S24_ORDER_COL",
                         what);
    if ((unsigned)d->act > 2)
        return s24_error(S24_ERR_INVALID, "%s: unknown activation %d", what, (int)d->act);
    if (d->fp16_accum && (d->in_type != S24_F16))
        return s24_error(S24_ERR_UNSUPPORTED, "%s: fp16 accumulation needs fp16 inputs", what);
    if (!isfinite(d->alpha) || !isfinite(d->beta))
        return s24_error(S24_ERR_INVALID, "%s: alpha and beta must be finite", what);
    if (d->out_type == S24_I32 && (d->alpha != floorf(d->alpha) || d->beta != floorf(d->beta)))
        return s24_error(S24_ERR_INVALID, "%s: int32 output scales by integers: alpha %g, beta %g",
                         what, (double)d->alpha, (double)d->beta);
    if ((d->out_type == S24_I32 || d->out_type == S24_I8) &&
        (d->act != S24_GEMM_ACT_NONE || d->bias))
        return s24_error(S24_ERR_UNSUPPORTED,
                         "%s: bias and activations need a floating output (fp16, bf16)", what);
    if (d->alg_id < -1 || d->split_k < 0)
        return s24_error(S24_ERR_INVALID, "%s: alg_id must be >= -1 and split_k >= 0", what);
    int eight = s24_dtype_size(d->in_type) == 1;
    /* cuBLASLt's int8 and fp8 kernels take only the "TN" layout, which is
     * W row-major, X column-major, D column-major in sparse24's terms. */
    if (eight &&
        (d->w_order != S24_ORDER_ROW || d->x_order != S24_ORDER_COL || d->d_order != S24_ORDER_COL))
        return s24_error(S24_ERR_UNSUPPORTED,
                         "%s: 8-bit inputs need W row-major, X and D column-major (the TN layout)",
                         what);

    /* dense rules (DENSE, and AUTO which always has the dense path) */
    if (mode != S24_GEMM_SPARSE) {
        int64_t q = d->in_type == S24_F8_E4M3 ? 16 : d->in_type == S24_I8 ? 4 : 1;
        if (d->m % q || d->n % q || d->k % q)
            return s24_error(S24_ERR_UNSUPPORTED,
                             "%s: cuBLASLt needs m, n, k in multiples of %lld for %s", what,
                             (long long)q, s24_gemm_dtype_name(d->in_type));
        if (d->bias && d->d_order == S24_ORDER_ROW)
            return s24_error(S24_ERR_UNSUPPORTED,
                             "%s: the dense path adds a bias only with D column-major", what);
        /* AUTO falls back to dense where the sparse rules below fail */
        return S24_OK;
    }

    /* sparse rules */
    if (d->in_type == S24_F32)
        return s24_error(S24_ERR_UNSUPPORTED,
                         "%s: cuSPARSELt's fp32/tf32 kernels need 1:2 sparsity, not 2:4; "
                         "use fp16/bf16 or the dense mode", what);
    int64_t mult[3];
    s24_gemm_sparse_multiples(d->in_type, d->out_type, mult);
    static const char dim[3] = {'m', 'n', 'k'};
    int64_t v[3] = {d->m, d->n, d->k};
    for (int i = 0; i < 3; i++)
        if (v[i] % mult[i])
            return s24_error(S24_ERR_UNSUPPORTED,
                             "%s: %c = %lld is not a multiple of %lld (cuSPARSELt's size rule for "
                             "%s); pad to %lld or use the dense or auto mode",
                             what, dim[i], (long long)v[i], (long long)mult[i],
                             s24_gemm_dtype_name(d->in_type),
                             (long long)((v[i] + mult[i] - 1) / mult[i] * mult[i]));
    if (d->sparse_as_b && d->bias)
        return s24_error(S24_ERR_UNSUPPORTED,
                         "%s: with the sparse weight as cuSPARSELt's B the bias would run along n; "
                         "use sparse_as_b = 0", what);
    if (d->fp16_accum && d->out_type != S24_F16)
        return s24_error(S24_ERR_UNSUPPORTED, "%s: fp16 accumulation needs fp16 output", what);
    return S24_OK;
}
