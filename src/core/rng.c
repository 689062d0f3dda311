/* rng.c: xoshiro256** seeded through splitmix64. Chosen for identical streams
 * on every platform and compiler, so seeded runs (data, init, dropout) repeat
 * bit for bit. Not cryptographic. */
#include "sparse24/sparse24.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void s24_rng_seed(struct s24_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t s24_rng_u64(struct s24_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return out;
}

double s24_rng_uniform(struct s24_rng *r)
{
    return (double)(s24_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

float s24_rng_uniformf(struct s24_rng *r, float lo, float hi)
{
    return lo + (hi - lo) * (float)s24_rng_uniform(r);
}

double s24_rng_normal(struct s24_rng *r)
{
    double u1 = s24_rng_uniform(r), u2 = s24_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t s24_rng_below(struct s24_rng *r, uint64_t n)
{
    if (n == 0) return 0;
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = s24_rng_u64(r); while (x >= lim);
    return x % n;
}
