/* dtype.c: the safetensors dtypes (sizes, names) and the fp16/bf16 <-> fp32
 * conversions every module shares. Conversions round to nearest even and are
 * exact for every finite input, so masks computed on fp16 data are exact. */
#include "sparse24/sparse24.h"

#include <math.h>
#include <string.h>

static const struct { const char *name; size_t size; } dtypes[S24_DTYPE_COUNT] = {
    [S24_BOOL] = {"BOOL", 1}, [S24_U8] = {"U8", 1},     [S24_I8] = {"I8", 1},
    [S24_I16] = {"I16", 2},   [S24_U16] = {"U16", 2},   [S24_F16] = {"F16", 2},
    [S24_BF16] = {"BF16", 2}, [S24_I32] = {"I32", 4},   [S24_U32] = {"U32", 4},
    [S24_F32] = {"F32", 4},   [S24_F64] = {"F64", 8},   [S24_I64] = {"I64", 8},
    [S24_U64] = {"U64", 8},   [S24_F8_E4M3] = {"F8_E4M3", 1},
    [S24_F8_E5M2] = {"F8_E5M2", 1},
};

size_t s24_dtype_size(enum s24_dtype dt)
{
    return (unsigned)dt < S24_DTYPE_COUNT ? dtypes[dt].size : 0;
}

const char *s24_dtype_name(enum s24_dtype dt)
{
    return (unsigned)dt < S24_DTYPE_COUNT ? dtypes[dt].name : "?";
}

int s24_dtype_parse(const char *name, enum s24_dtype *out)
{
    for (int i = 0; i < S24_DTYPE_COUNT; i++) {
        if (strcmp(name, dtypes[i].name) == 0) {
            *out = (enum s24_dtype)i;
            return S24_OK;
        }
    }
    return s24_error(S24_ERR_FORMAT, "unknown dtype \"%s\"", name);
}

int s24_dtype_is_float(enum s24_dtype dt)
{
    return dt == S24_F32 || dt == S24_F16 || dt == S24_BF16 || dt == S24_F64;
}

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float s24_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return u2f(sign | 0x7f800000u | (man << 13)); /* inf / nan */
    if (exp == 0) {
        if (man == 0) return u2f(sign);
        /* subnormal: value = man * 2^-24, exact in fp32 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return u2f(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t s24_f32_to_f16(float f)
{
    uint32_t u = f2u(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) /* inf or nan (quiet nan kept nan) */
        return (uint16_t)(sign | 0x7c00 | (a > 0x7f800000u ? 0x200 | ((a >> 13) & 0x3ff) : 0));
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to >= 65520: inf */
    if (a < 0x38800000u) { /* below 2^-14: subnormal or zero */
        if (a < 0x33000000u) return sign; /* < 2^-25 rounds to 0 (2^-25 itself ties to even 0) */
        uint32_t e = a >> 23, man = (a & 0x7fffff) | 0x800000;
        int shift = 126 - (int)e; /* 14..24 */
        uint32_t q = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = a - 0x38000000u; /* rebias exponent by 112 << 23 */
    uint32_t q = r >> 13, rem = r & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (q & 1))) q++;
    return (uint16_t)(sign | q);
}

float s24_bf16_to_f32(uint16_t b) { return u2f((uint32_t)b << 16); }

uint16_t s24_f32_to_bf16(float f)
{
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet nan */
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

double s24_load_float(enum s24_dtype dt, const void *p, int64_t i)
{
    switch (dt) {
    case S24_F32: return ((const float *)p)[i];
    case S24_F64: return ((const double *)p)[i];
    case S24_F16: return s24_f16_to_f32(((const uint16_t *)p)[i]);
    case S24_BF16: return s24_bf16_to_f32(((const uint16_t *)p)[i]);
    default: return 0.0;
    }
}

int64_t s24_find_nonfinite(enum s24_dtype dt, const void *p, int64_t n)
{
    if (!s24_dtype_is_float(dt)) return -1;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(s24_load_float(dt, p, i))) return i;
    return -1;
}

/* e4m3 (no infinities): bias 7, subnormals at e == 0, S.1111.111 is NaN */
static double f8_e4m3(uint8_t b)
{
    int e = (b >> 3) & 15, m = b & 7;
    double v;
    if (e == 15 && m == 7) return NAN;
    v = e == 0 ? ldexp(m / 8.0, -6) : ldexp(1.0 + m / 8.0, e - 7);
    return b & 0x80 ? -v : v;
}

double s24_load_number(enum s24_dtype dt, const void *p, int64_t i)
{
    switch (dt) {
    case S24_U8: return ((const uint8_t *)p)[i];
    case S24_I8: return ((const int8_t *)p)[i];
    case S24_I16: return ((const int16_t *)p)[i];
    case S24_U16: return ((const uint16_t *)p)[i];
    case S24_I32: return ((const int32_t *)p)[i];
    case S24_U32: return ((const uint32_t *)p)[i];
    case S24_I64: return (double)((const int64_t *)p)[i];
    case S24_U64: return (double)((const uint64_t *)p)[i];
    case S24_F8_E4M3: return f8_e4m3(((const uint8_t *)p)[i]);
    case S24_F32:
    case S24_F64:
    case S24_F16:
    case S24_BF16: return s24_load_float(dt, p, i);
    default: return NAN;
    }
}

int64_t s24_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}
