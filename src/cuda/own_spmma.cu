/* own_spmma.cu: sparse24's own 2:4 GEMM on the warp-level sparse tensor-core
 * instruction mma.sp m16n8k32 (fp16 in, fp32 accumulate, fp16 out):
 *     D (m x n, col-major) = W (m x k, row-major, 2:4 along k) * X (k x n, col-major)
 * A compress kernel checks W and rewrites it once into the order the MMA
 * fragments want, so the main kernel moves the weight with plain 16-byte
 * copies and loads each fragment with one shared-memory vector load.
 * It is a second, independent implementation to check the library against
 * and to study; as a GEMM it does no epilogue (alpha, beta, bias,
 * activation), no other dtype or layout, and no shapes outside its tile
 * multiples.
 * The same kernel also runs a 2:4 convolution as an implicit GEMM
 * (s24_own_conv_*): X's column for an output position and k tile is read
 * straight from the NHWC input (one filter tap, 64 consecutive channels:
 * 128 contiguous bytes, zero-filled outside the image), so no im2col buffer
 * is written. That is the one thing cuSPARSELt cannot do (it takes a dense
 * B), and what an explicit im2col costs made every 3x3 2:4 conv slower
 * than dense in the first inference measurement (docs/results/infer-h200.md).
 * The convolution's epilogue adds a bias, a residual and a ReLU. */
#include <cuda_fp16.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_internal.h"

/* Block tile BM x BN, BK of k per pipeline stage, 8 warps as 2 (m) x 4 (n),
 * each warp owning 64 x 32 of D: 4 m16 tiles x 4 n8 tiles of mma.sp. */
#define OWN_BM 128
#define OWN_BN 128
#define OWN_BK 64
#define OWN_THREADS 256
/* Pipeline depth and blocks per SM asked of the register allocator: two
 * blocks of 3 x 25 KiB with <= 128 registers a thread instead of one block
 * of 4 stages with 158 registers, which was slower on the H100 in tuning
 * runs not kept (docs/results/gemm-h100.md has the recorded speed). */
#ifndef OWN_STAGES
#define OWN_STAGES 3
#endif
#ifndef OWN_MIN_BLOCKS
#define OWN_MIN_BLOCKS 2
#endif
/* Blocks run in groups of OWN_GROUP_M block rows, n fastest within a
 * group, so that the blocks resident at one time share W and X rows in L2
 * (a few per cent in unrecorded tuning runs at 8192^3; noisy). */
#ifndef OWN_GROUP_M
#define OWN_GROUP_M 16
#endif

/* Bytes per block tile and stage: compressed values (BM x BK/2 halves), the
 * metadata (4 bits per group of four: BM x BK/16 32-bit words) and X (BN
 * columns of BK halves). */
#define OWN_A_BYTES (OWN_BM * OWN_BK)
#define OWN_E_BYTES (OWN_BM * OWN_BK / 8)
#define OWN_X_BYTES (OWN_BN * OWN_BK * 2)
#define OWN_STAGE_BYTES (OWN_A_BYTES + OWN_E_BYTES + OWN_X_BYTES)
#define OWN_SMEM_BYTES (OWN_STAGES * OWN_STAGE_BYTES)
/* The epilogue stages D's tile column by column (m contiguous); 8 halves of
 * padding per column keep the fragment writes free of bank conflicts. */
#define OWN_D_LD (OWN_BM + 8)

/* A convolution's geometry as the loader needs it (NHWC input h x w x c,
 * output positions ohw per image in rows of ow, filter taps kw wide). */
struct own_geo {
    int64_t h, w, c, ohw, ow;
    int kw, stride, pad;
};

struct s24_own_plan {
    s24_gpu_t *g;
    int device;             /* g's, or the caller's (s24_own_conv_init_at) */
    cudaStream_t stream;    /* g's, or the caller's */
    int conv;               /* 1: an implicit-GEMM convolution (geo) */
    struct own_geo geo;
    int64_t m, n, k;
    /* values: m x k/2 halves, metadata: m x k/16 words; both in tile order
     * [m/BM][k/BK][per-stage block], the block laid out as described at
     * compress_kernel */
    void *vals, *meta;
    int have_weight;
};

/* ---------------------------------------------------------------- layout
 * mma.sp.m16n8k32 (f16): lane = 4*gid + tig. The compressed A (16 x 16
 * halves) has the dense m16n8k16 A layout: register r holds the two kept
 * values of one group of four, row gid + 8*(r & 1), group tig + 4*(r >> 1)
 * (k = 16*(r >> 1) + 4*tig .. + 3); the lower half is the lower k index.
 * Metadata: a thread pair per quad supplies one 32-bit word per MMA, the
 * sparsity selector naming the pair (0: tig 0, 1; 1: tig 2, 3). In the
 * pair, the first thread covers k 0..15 and the second k 16..31; the low
 * 16 bits are row gid, the high 16 bits row gid + 8; each 4 bits hold the
 * group's two indices (first kept in bits 0-1, second in bits 2-3, first <
 * second, as mma.sp::ordered_metadata requires).
 * Since one MMA reads only half the warp's metadata, one word per lane
 * serves both k32 halves of a BK = 64 stage: selector 0 for the first,
 * 1 for the second. So per stage and m16 tile, lane L holds the word
 * for k32 step s = (tig >> 1), k half (tig & 1). */

/* Byte offsets inside one block-tile stage. Row rb of the block (0..127),
 * k32 step s (0, 1), group c (0..7) within that step. */
__device__ static inline int own_a_off(int rb, int s, int c)
{
    int tile = rb >> 4, gid = rb & 7, hi = (rb >> 3) & 1;
    int lane = gid * 4 + (c & 3), reg = (c >> 2) * 2 + hi;
    /* [tile][s][lane][reg]: a warp reads 512 contiguous bytes per step */
    return tile * 1024 + s * 512 + lane * 16 + reg * 4;
}

__device__ static inline int own_e_off(int rb, int s, int khalf)
{
    int tile = rb >> 4, gid = rb & 7;
    int lane = gid * 4 + s * 2 + khalf;
    /* [warp row (tile / 4)][lane][tile % 4]: one 16-byte load per lane
     * gives the words of the warp's four m16 tiles */
    return (tile >> 2) * 512 + lane * 16 + (tile & 3) * 4;
}

/* One thread per (pair of rows gid, gid + 8 of an m16 tile, 16 of k): it
 * reads 2 x 16 halves, writes 2 x 4 kept values and one metadata word, and
 * counts groups with more than two non-zeros (-0 counts as zero). Groups
 * with fewer keep zeros at the lowest free indices, so that the two indices
 * always differ (equal ones are invalid metadata). */
__global__ static void own_compress_kernel(const __half *__restrict__ w, int64_t m, int64_t k,
                                           uint8_t *__restrict__ vals, uint8_t *__restrict__ meta,
                                           unsigned long long *bad)
{
    int64_t kb_count = k / 16, items = (m / 2) * kb_count;
    int64_t kt_count = k / OWN_BK;
    for (int64_t it = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; it < items;
         it += (int64_t)gridDim.x * blockDim.x) {
        int64_t pair = it / kb_count, kb = it % kb_count;
        int64_t tile16 = pair / 8;
        int gid = (int)(pair % 8);
        int64_t bm = tile16 / (OWN_BM / 16), kt = kb / 4;
        int s = (int)((kb / 2) % 2), khalf = (int)(kb % 2);
        size_t base = (size_t)(bm * kt_count + kt);
        uint8_t *vb = vals + base * OWN_A_BYTES;
        uint8_t *eb = meta + base * OWN_E_BYTES;
        uint32_t word = 0;
        unsigned long long nbad = 0;
        for (int hi = 0; hi < 2; hi++) {
            int rb = (int)(tile16 % (OWN_BM / 16)) * 16 + hi * 8 + gid;
            const __half *src = w + (bm * OWN_BM + rb) * k + kb * 16;
            for (int q = 0; q < 4; q++) {
                __half v[4];
                unsigned nz = 0;
                for (int e = 0; e < 4; e++) {
                    v[e] = src[q * 4 + e];
                    if (__half_as_ushort(v[e]) & 0x7fff) nz |= 1u << e;
                }
                if (__popc(nz) > 2) {
                    nbad++;
                    while (__popc(nz) > 2) nz &= nz - 1; /* any two: the result is refused */
                }
                while (__popc(nz) < 2) nz |= ~nz & (nz + 1); /* lowest free index */
                int i0 = __ffs(nz) - 1, i1 = 31 - __clz(nz);
                word |= (uint32_t)(i0 | i1 << 2) << (hi * 16 + q * 4);
                __half2 kept = __halves2half2(v[i0], v[i1]);
                *(__half2 *)(vb + own_a_off(rb, s, khalf * 4 + q)) = kept;
            }
        }
        *(uint32_t *)(eb + own_e_off((int)(tile16 % (OWN_BM / 16)) * 16 + gid, s, khalf)) = word;
        if (nbad) atomicAdd(bad, nbad);
    }
}

/* ---------------------------------------------------------------- kernel */
__device__ static inline void own_cp16(uint32_t dst, const void *src)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(src));
}
/* bytes < 16 zero-fill the rest: 0 for a tap outside the image (src is
 * then not read, but stays a valid address) */
__device__ static inline void own_cp16z(uint32_t dst, const void *src, int bytes)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
                 "r"(bytes));
}
__device__ static inline void own_commit(void) { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ static inline void own_wait(void)
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ static inline void own_ldsm4(uint32_t addr, uint32_t (&r)[4])
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

/* The ordered-metadata form (PTX 8.5, CUDA 12.5) is the one PTX recommends;
 * our metadata always satisfies its ordering. */
#if defined(__CUDACC_VER_MAJOR__) &&                                                               \
    (__CUDACC_VER_MAJOR__ > 12 || (__CUDACC_VER_MAJOR__ == 12 && __CUDACC_VER_MINOR__ >= 5))
#define OWN_MMA_SP "mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32.f16.f16.f32 "
#else
#define OWN_MMA_SP "mma.sp.sync.aligned.m16n8k32.row.col.f32.f16.f16.f32 "
#endif

template <int SEL>
__device__ static inline void own_mma(float (&d)[4], const uint4 &a, const uint32_t (&b)[4],
                                      uint32_t e)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile(
        OWN_MMA_SP
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9, %10, %11}, {%0, %1, %2, %3}, %12, %13;\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b[0]), "r"(b[1]), "r"(b[2]), "r"(b[3]),
          "r"(e), "n"(SEL));
#else
    (void)d, (void)a, (void)b, (void)e;
    __trap();
#endif
}

/* The weight's part of a stage: values and metadata, already contiguous
 * per (block row, k tile). */
__device__ static inline void own_load_weight(uint32_t st, const uint8_t *va, const uint8_t *ve,
                                              int tid)
{
    uint32_t sa = st, se = st + OWN_A_BYTES;
#pragma unroll
    for (int j = 0; j < OWN_A_BYTES / 16 / OWN_THREADS; j++) {
        int c = tid + j * OWN_THREADS;
        own_cp16(sa + c * 16, va + c * 16);
    }
    if (tid < OWN_E_BYTES / 16) own_cp16(se + tid * 16, ve + tid * 16);
}

/* Queue one stage's copies: the weight's values and metadata are already
 * contiguous per (block row, k tile); X's BN columns of BK halves go to
 * rows of 128 bytes whose 16-byte chunks are XOR-swizzled by the row, so
 * that ldmatrix's eight row reads hit eight different bank groups. */
__device__ static inline void own_load_stage(uint32_t st, const uint8_t *va, const uint8_t *ve,
                                             const __half *x, int64_t k, int tid)
{
    uint32_t sx = st + OWN_A_BYTES + OWN_E_BYTES;
    own_load_weight(st, va, ve, tid);
#pragma unroll
    for (int j = 0; j < OWN_X_BYTES / 16 / OWN_THREADS; j++) {
        int c = tid + j * OWN_THREADS;
        int col = c >> 3, ch = c & 7;
        own_cp16(sx + col * 128 + ((ch ^ (col & 7)) << 4), x + col * k + ch * 8);
    }
}

/* The thread's X copies per stage: OWN_X_BYTES / 16 / OWN_THREADS of them,
 * columns (tid >> 3) + 32 j, chunk tid & 7 (as own_load_stage). */
#define OWN_XJ (OWN_X_BYTES / 16 / OWN_THREADS)

/* Per thread, once per block: where its columns' output positions read
 * from (the image's first element, the top-left tap's row and column). */
struct own_cols {
    int64_t base[OWN_XJ];
    int iy[OWN_XJ], ix[OWN_XJ];
};

__device__ static inline void own_conv_cols(const struct own_geo &g, int64_t bn, int tid,
                                            struct own_cols &q)
{
#pragma unroll
    for (int j = 0; j < OWN_XJ; j++) {
        int64_t pos = bn * OWN_BN + (tid >> 3) + 32 * j, img = pos / g.ohw, r = pos % g.ohw;
        q.base[j] = img * g.h * g.w * g.c;
        q.iy[j] = (int)(r / g.ow) * g.stride - g.pad;
        q.ix[j] = (int)(r % g.ow) * g.stride - g.pad;
    }
}

/* own_load_stage for the implicit GEMM: k tile kt is one filter tap and
 * BK consecutive channels (c % BK == 0), so each column's 128 bytes are one
 * contiguous piece of an input position, or zeros for a tap in the padding. */
__device__ static inline void own_load_stage_conv(uint32_t st, const uint8_t *va, const uint8_t *ve,
                                                  const __half *x, const struct own_geo &g,
                                                  const struct own_cols &q, int64_t kt, int tid)
{
    uint32_t sx = st + OWN_A_BYTES + OWN_E_BYTES;
    own_load_weight(st, va, ve, tid);
    int64_t k0 = kt * OWN_BK, tap = k0 / g.c, c0 = k0 - tap * g.c;
    int kh = (int)(tap / g.kw), kw = (int)(tap - (int64_t)kh * g.kw), ch = tid & 7;
#pragma unroll
    for (int j = 0; j < OWN_XJ; j++) {
        int col = (tid >> 3) + 32 * j, iy = q.iy[j] + kh, ix = q.ix[j] + kw;
        int in = (unsigned)iy < (unsigned)g.h && (unsigned)ix < (unsigned)g.w;
        const __half *src = in ? x + q.base[j] + ((int64_t)iy * g.w + ix) * g.c + c0 + ch * 8 : x;
        own_cp16z(sx + col * 128 + ((ch ^ (col & 7)) << 4), src, in ? 16 : 0);
    }
}

/* CONV: x is the NHWC input and the k tiles are gathered from it
 * (own_load_stage_conv); the epilogue adds bias (fp32, per row of D: an
 * output channel), then z (D's layout) and applies the ReLU when asked. */
template <bool CONV>
__global__ static void __launch_bounds__(OWN_THREADS, OWN_MIN_BLOCKS)
own_spmma_kernel(const uint8_t *__restrict__ vals, const uint8_t *__restrict__ meta,
                 const __half *__restrict__ x, __half *__restrict__ d, int64_t m, int64_t n,
                 int64_t k, struct own_geo geo, const float *__restrict__ bias,
                 const __half *__restrict__ z, int relu)
{
    extern __shared__ __align__(128) uint8_t smem[];
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    int wm = warp >> 2, wn = warp & 3;
    int64_t num_bm = m / OWN_BM, num_bn = n / OWN_BN, pid = blockIdx.x;
    int64_t per_group = OWN_GROUP_M * num_bn, first_bm = pid / per_group * OWN_GROUP_M;
    int64_t rows = num_bm - first_bm < OWN_GROUP_M ? num_bm - first_bm : OWN_GROUP_M;
    int64_t bm = first_bm + pid % per_group % rows, bn = pid % per_group / rows;
    int kt_count = (int)(k / OWN_BK);
    const uint8_t *va = vals + (size_t)bm * kt_count * OWN_A_BYTES;
    const uint8_t *ve = meta + (size_t)bm * kt_count * OWN_E_BYTES;
    const __half *xb = x + bn * OWN_BN * k;
    uint32_t s0 = (uint32_t)__cvta_generic_to_shared(smem);
    struct own_cols q;
    if (CONV) own_conv_cols(geo, bn, tid, q);

    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) acc[i][j][r] = 0.f;

#pragma unroll
    for (int p = 0; p < OWN_STAGES - 1; p++) {
        if (p < kt_count) {
            if (CONV)
                own_load_stage_conv(s0 + p * OWN_STAGE_BYTES, va + (size_t)p * OWN_A_BYTES,
                                    ve + (size_t)p * OWN_E_BYTES, x, geo, q, p, tid);
            else
                own_load_stage(s0 + p * OWN_STAGE_BYTES, va + (size_t)p * OWN_A_BYTES,
                               ve + (size_t)p * OWN_E_BYTES, xb + p * OWN_BK, k, tid);
        }
        own_commit();
    }

    /* ldmatrix row addresses: lane supplies row (lane & 7) of matrix
     * (lane >> 3), i.e. column n = base + (lane & 7), k chunk (lane >> 3) */
    int xrow = wn * 32 + (lane & 7), xch = lane >> 3;

    for (int kt = 0; kt < kt_count; kt++) {
        own_wait<OWN_STAGES - 2>();
        __syncthreads();
        /* refill the stage everyone finished with in the previous iteration */
        int pf = kt + OWN_STAGES - 1;
        if (pf < kt_count) {
            if (CONV)
                own_load_stage_conv(s0 + (pf % OWN_STAGES) * OWN_STAGE_BYTES,
                                    va + (size_t)pf * OWN_A_BYTES, ve + (size_t)pf * OWN_E_BYTES, x,
                                    geo, q, pf, tid);
            else
                own_load_stage(s0 + (pf % OWN_STAGES) * OWN_STAGE_BYTES,
                               va + (size_t)pf * OWN_A_BYTES, ve + (size_t)pf * OWN_E_BYTES,
                               xb + (int64_t)pf * OWN_BK, k, tid);
        }
        own_commit();

        const uint8_t *st = smem + (kt % OWN_STAGES) * OWN_STAGE_BYTES;
        uint32_t sx = s0 + (kt % OWN_STAGES) * OWN_STAGE_BYTES + OWN_A_BYTES + OWN_E_BYTES;
        uint4 e = *(const uint4 *)(st + OWN_A_BYTES + wm * 512 + lane * 16);
        uint32_t ew[4] = {e.x, e.y, e.z, e.w};
#pragma unroll
        for (int s = 0; s < 2; s++) {
            uint4 a[4];
            uint32_t b[4][4];
#pragma unroll
            for (int i = 0; i < 4; i++)
                a[i] = *(const uint4 *)(st + (wm * 4 + i) * 1024 + s * 512 + lane * 16);
#pragma unroll
            for (int j = 0; j < 4; j++) {
                int row = xrow + j * 8, ch = s * 4 + xch;
                own_ldsm4(sx + row * 128 + ((ch ^ (row & 7)) << 4), b[j]);
            }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    if (s == 0) own_mma<0>(acc[i][j], a[i], b[j], ew[i]);
                    else own_mma<1>(acc[i][j], a[i], b[j], ew[i]);
                }
        }
    }
    own_wait<0>();
    __syncthreads();

    /* D's tile through shared memory, so that global stores are whole
     * 16-byte runs of a column */
    __half *sd = (__half *)smem;
    int gid = lane >> 2, tig = lane & 3;
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int row = wm * 64 + i * 16 + gid, col = wn * 32 + j * 8 + tig * 2;
            /* the bias in fp32, before D is rounded */
            float b0 = CONV && bias ? bias[bm * OWN_BM + row] : 0.f;
            float b8 = CONV && bias ? bias[bm * OWN_BM + row + 8] : 0.f;
            sd[col * OWN_D_LD + row] = __float2half_rn(acc[i][j][0] + b0);
            sd[(col + 1) * OWN_D_LD + row] = __float2half_rn(acc[i][j][1] + b0);
            sd[col * OWN_D_LD + row + 8] = __float2half_rn(acc[i][j][2] + b8);
            sd[(col + 1) * OWN_D_LD + row + 8] = __float2half_rn(acc[i][j][3] + b8);
        }
    __syncthreads();
    __half *db = d + bn * OWN_BN * m + bm * OWN_BM;
#pragma unroll
    for (int j = 0; j < OWN_BM * OWN_BN / 8 / OWN_THREADS; j++) {
        int c = tid + j * OWN_THREADS;
        int col = c / (OWN_BM / 8), ch = c % (OWN_BM / 8);
        uint4 v = *(const uint4 *)(sd + col * OWN_D_LD + ch * 8);
        if (CONV && (z || relu)) {
            __half *hv = (__half *)&v;
            uint4 zv = make_uint4(0, 0, 0, 0);
            if (z) zv = *(const uint4 *)(z + (bn * OWN_BN + col) * m + bm * OWN_BM + ch * 8);
            const __half *hz = (const __half *)&zv;
#pragma unroll
            for (int e = 0; e < 8; e++) {
                float f = __half2float(hv[e]) + (z ? __half2float(hz[e]) : 0.f);
                hv[e] = __float2half_rn(relu ? fmaxf(f, 0.f) : f);
            }
        }
        *(uint4 *)(db + col * m + ch * 8) = v;
    }
}

/* ---------------------------------------------------------------- API */
extern "C" int s24_own_plan_init(s24_gpu_t *g, int64_t m, int64_t n, int64_t k,
                                 s24_own_plan_t **out)
{
    int rc = S24_OK;
    s24_own_plan_t *p = NULL;
    if (out) *out = NULL;
    if (!g || !out) return s24_error(S24_ERR_INVALID, "own kernel: NULL context or output");
    if (m <= 0 || n <= 0 || k <= 0)
        return s24_error(S24_ERR_INVALID, "own kernel: m, n, k = %lld, %lld, %lld must be positive",
                         (long long)m, (long long)n, (long long)k);
    if (m % OWN_BM || n % OWN_BN || k % OWN_BK)
        return s24_error(S24_ERR_UNSUPPORTED,
                         "own kernel: m = %lld, n = %lld, k = %lld: needs m %% %d == 0, "
                         "n %% %d == 0, k %% %d == 0 (its tile; pad the problem)",
                         (long long)m, (long long)n, (long long)k, OWN_BM, OWN_BN, OWN_BK);
    /* one grid dimension of blocks; sizes far beyond any GPU's memory */
    if ((m / OWN_BM) * (n / OWN_BN) > 0x7fffffff || m * k > ((int64_t)1 << 40) ||
        k * n > ((int64_t)1 << 40))
        return s24_error(S24_ERR_UNSUPPORTED,
                         "own kernel: m = %lld, n = %lld, k = %lld is too large", (long long)m,
                         (long long)n, (long long)k);
    if (g->props.cc_major < 8)
        return s24_error(S24_ERR_UNSUPPORTED,
                         "own kernel: mma.sp needs sm_80 or later (%s is sm_%d%d)", g->props.name,
                         g->props.cc_major, g->props.cc_minor);
    p = (s24_own_plan_t *)calloc(1, sizeof *p);
    if (!p) return s24_error(S24_ERR_NOMEM, "own kernel: out of memory");
    p->g = g, p->device = g->device, p->stream = g->stream;
    p->m = m, p->n = n, p->k = k;
    S24_GPU_CHECK(cudaSetDevice(g->device));
    S24_GPU_CHECK(cudaFuncSetAttribute(
        own_spmma_kernel<false>, cudaFuncAttributeMaxDynamicSharedMemorySize, OWN_SMEM_BYTES));
    S24_GPU_CHECK(cudaMalloc(&p->vals, (size_t)m * (size_t)k)); /* m x k/2 halves */
    S24_GPU_CHECK(cudaMalloc(&p->meta, (size_t)m * (size_t)k / 8)); /* 4 bits per 4 elements */
    *out = p;
    return S24_OK;
fail:
    s24_own_plan_free(p);
    return rc;
}

extern "C" int s24_own_plan_set_weight(s24_own_plan_t *p, const void *d_w)
{
    int rc = S24_OK;
    unsigned long long *d_bad = NULL, h_bad = 0;
    cudaStream_t s;
    int64_t items;
    int grid;
    if (!p || !d_w) return s24_error(S24_ERR_INVALID, "own kernel: NULL plan or weight");
    s = p->stream;
    items = p->m / 2 * (p->k / 16);
    grid = (int)((items + 255) / 256 < 8192 ? (items + 255) / 256 : 8192);
    p->have_weight = 0;
    S24_GPU_CHECK(cudaMallocAsync((void **)&d_bad, sizeof *d_bad, s));
    S24_GPU_CHECK(cudaMemsetAsync(d_bad, 0, sizeof *d_bad, s));
    own_compress_kernel<<<grid, 256, 0, s>>>((const __half *)d_w, p->m, p->k, (uint8_t *)p->vals,
                                             (uint8_t *)p->meta, d_bad);
    S24_LAUNCH_CHECK();
    S24_GPU_CHECK(cudaMemcpyAsync(&h_bad, d_bad, sizeof h_bad, cudaMemcpyDeviceToHost, s));
    S24_GPU_CHECK(cudaStreamSynchronize(s));
    if (h_bad) {
        rc = s24_error(S24_ERR_NOT_SPARSE,
                       "own kernel: weight (%lld x %lld) is not 2:4 along k: %llu groups of four "
                       "have more than two non-zeros",
                       (long long)p->m, (long long)p->k, h_bad);
        goto fail;
    }
    p->have_weight = 1;
fail:
    if (d_bad) cudaFreeAsync(d_bad, s);
    return rc;
}

static int own_launch(s24_own_plan_t *p, const void *d_x, void *d_d, cudaStream_t s)
{
    int rc = S24_OK;
    unsigned grid = (unsigned)(p->m / OWN_BM * (p->n / OWN_BN));
    struct own_geo none;
    memset(&none, 0, sizeof none);
    own_spmma_kernel<false><<<grid, OWN_THREADS, OWN_SMEM_BYTES, s>>>(
        (const uint8_t *)p->vals, (const uint8_t *)p->meta, (const __half *)d_x, (__half *)d_d,
        p->m, p->n, p->k, none, NULL, NULL, 0);
    S24_LAUNCH_CHECK();
fail:
    return rc;
}

extern "C" int s24_own_run(s24_own_plan_t *p, const void *d_x, void *d_d, void *stream)
{
    if (!p || !d_x || !d_d) return s24_error(S24_ERR_INVALID, "own kernel: NULL plan, X or D");
    if (p->conv)
        return s24_error(S24_ERR_INVALID,
                         "own kernel: a convolution plan runs through s24_own_conv_run");
    if (!p->have_weight)
        return s24_error(S24_ERR_INVALID, "own kernel: no weight (call s24_own_plan_set_weight)");
    /* the kernel moves X and D in 16-byte pieces */
    if (((uintptr_t)d_x | (uintptr_t)d_d) & 15)
        return s24_error(S24_ERR_INVALID, "own kernel: X and D must be 16-byte aligned");
    return own_launch(p, d_x, d_d, stream ? (cudaStream_t)stream : p->stream);
}

struct own_call {
    s24_own_plan_t *p;
    const void *x;
    void *d;
};

static int own_call_fn(void *ctx, cudaStream_t s)
{
    struct own_call *c = (struct own_call *)ctx;
    return own_launch(c->p, c->x, c->d, s);
}

extern "C" int s24_own_time(s24_own_plan_t *p, const void *d_x, void *d_d, int warmup, int repeats,
                            int flush_l2, struct s24_gemm_timing *out)
{
    struct own_call c = {p, d_x, d_d};
    if (p && !p->g)
        return s24_error(S24_ERR_INVALID,
                         "own kernel: a plan without an engine context cannot be timed");
    int rc = s24_own_run(p, d_x, d_d, NULL); /* the checks, and one warm call */
    if (rc != S24_OK) return rc;
    return s24_gpu_time_calls(p->g, own_call_fn, &c, warmup, repeats, flush_l2, out);
}

extern "C" void s24_own_plan_free(s24_own_plan_t *p)
{
    if (!p) return;
    if (p->stream) cudaStreamSynchronize(p->stream);
    cudaFree(p->vals);
    cudaFree(p->meta);
    free(p);
}

/* ---------------------------------------------------------------- convolution */
extern "C" int s24_own_conv_init_at(int device, int cc_major, void *stream,
                                    const struct s24_own_conv *cs, s24_own_plan_t **out)
{
    int rc = S24_OK;
    s24_own_plan_t *p = NULL;
    if (out) *out = NULL;
    if (!cs || !out) return s24_error(S24_ERR_INVALID, "own conv: NULL shape or output");
    if (cs->n < 1 || cs->h < 1 || cs->w < 1 || cs->c < 1 || cs->oc < 1 || cs->kh < 1 ||
        cs->kw < 1 || cs->stride < 1 || cs->pad < 0 || cs->h > (1 << 20) || cs->w > (1 << 20) ||
        cs->kh > 64 || cs->kw > 64 || cs->stride > 64 || cs->pad > 64 ||
        cs->h + 2 * cs->pad < cs->kh || cs->w + 2 * cs->pad < cs->kw)
        return s24_error(S24_ERR_INVALID,
                         "own conv: bad shape n %lld %lldx%lld c %lld -> %lld, %lldx%lld "
                         "stride %lld pad %lld",
                         (long long)cs->n, (long long)cs->h, (long long)cs->w, (long long)cs->c,
                         (long long)cs->oc, (long long)cs->kh, (long long)cs->kw,
                         (long long)cs->stride, (long long)cs->pad);
    int64_t oh = (cs->h + 2 * cs->pad - cs->kh) / cs->stride + 1,
            ow = (cs->w + 2 * cs->pad - cs->kw) / cs->stride + 1;
    int64_t m = cs->oc, n = cs->n * oh * ow, k = cs->kh * cs->kw * cs->c;
    /* a k tile is one tap's run of channels; whole tiles of D */
    if (cs->c % OWN_BK || m % OWN_BM || n % OWN_BN)
        return s24_error(S24_ERR_UNSUPPORTED,
                         "own conv: needs input channels %% %d == 0 (%lld), output channels "
                         "%% %d == 0 (%lld) and output positions %% %d == 0 (%lld)",
                         OWN_BK, (long long)cs->c, OWN_BM, (long long)m, OWN_BN, (long long)n);
    if ((m / OWN_BM) * (n / OWN_BN) > 0x7fffffff || m * k > ((int64_t)1 << 40) ||
        cs->n * cs->h * cs->w * cs->c > ((int64_t)1 << 40))
        return s24_error(S24_ERR_UNSUPPORTED, "own conv: m = %lld, n = %lld, k = %lld is too large",
                         (long long)m, (long long)n, (long long)k);
    if (cc_major < 8)
        return s24_error(S24_ERR_UNSUPPORTED, "own conv: mma.sp needs sm_80 or later");
    p = (s24_own_plan_t *)calloc(1, sizeof *p);
    if (!p) return s24_error(S24_ERR_NOMEM, "own conv: out of memory");
    p->device = device, p->stream = (cudaStream_t)stream, p->conv = 1;
    p->m = m, p->n = n, p->k = k;
    p->geo.h = cs->h, p->geo.w = cs->w, p->geo.c = cs->c, p->geo.ohw = oh * ow, p->geo.ow = ow;
    p->geo.kw = (int)cs->kw, p->geo.stride = (int)cs->stride, p->geo.pad = (int)cs->pad;
    S24_GPU_CHECK(cudaSetDevice(device));
    S24_GPU_CHECK(cudaFuncSetAttribute(
        own_spmma_kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize, OWN_SMEM_BYTES));
    S24_GPU_CHECK(cudaMalloc(&p->vals, (size_t)m * (size_t)k));
    S24_GPU_CHECK(cudaMalloc(&p->meta, (size_t)m * (size_t)k / 8));
    *out = p;
    return S24_OK;
fail:
    s24_own_plan_free(p);
    return rc;
}

extern "C" int s24_own_conv_init(s24_gpu_t *g, const struct s24_own_conv *cs, s24_own_plan_t **out)
{
    if (out) *out = NULL;
    if (!g) return s24_error(S24_ERR_INVALID, "own conv: NULL context");
    int rc = s24_own_conv_init_at(g->device, g->props.cc_major, g->stream, cs, out);
    if (rc == S24_OK) (*out)->g = g;
    return rc;
}

extern "C" int s24_own_conv_run(s24_own_plan_t *p, const void *d_x, void *d_y, const float *d_bias,
                                const void *d_z, int relu, void *stream)
{
    int rc = S24_OK;
    if (!p || !d_x || !d_y)
        return s24_error(S24_ERR_INVALID, "own conv: NULL plan, input or output");
    if (!p->conv)
        return s24_error(S24_ERR_INVALID, "own conv: a GEMM plan runs through s24_own_run");
    if (!p->have_weight)
        return s24_error(S24_ERR_INVALID, "own conv: no weight (call s24_own_plan_set_weight)");
    if (((uintptr_t)d_x | (uintptr_t)d_y | (uintptr_t)d_z) & 15)
        return s24_error(S24_ERR_INVALID,
                         "own conv: input, output and residual must be 16-byte aligned");
    cudaStream_t s = stream ? (cudaStream_t)stream : p->stream;
    unsigned grid = (unsigned)(p->m / OWN_BM * (p->n / OWN_BN));
    own_spmma_kernel<true><<<grid, OWN_THREADS, OWN_SMEM_BYTES, s>>>(
        (const uint8_t *)p->vals, (const uint8_t *)p->meta, (const __half *)d_x, (__half *)d_y,
        p->m, p->n, p->k, p->geo, d_bias, (const __half *)d_z, relu);
    S24_LAUNCH_CHECK();
fail:
    return rc;
}
