/* sp90_cfg.cu: one tile configuration of sparse24's own Hopper 2:4 GEMM,
 * chosen by -DSP90_CFG=i (the Makefile builds this file once per entry of
 * the list below, each into its own object, so the templates compile in
 * parallel). The kernel is CUTLASS's sm90 sparse GEMM: the compressed W and
 * its metadata, and X, arrive by TMA into a multi-stage shared-memory
 * pipeline fed by a producer warpgroup; consumer warpgroups issue
 * wgmma.mma_async.sp; the persistent tile scheduler walks the output tiles.
 * D = W X with fp32 accumulation, no C term (beta = 0, no source read).
 * sm_90a only. */
#include <cute/tensor.hpp>
#include <cutlass/cutlass.h>
#include <cutlass/epilogue/collective/collective_builder.hpp>
#include <cutlass/gemm/collective/collective_builder.hpp>
#include <cutlass/gemm/device/gemm_universal_adapter.h>
#include <cutlass/gemm/dispatch_policy.hpp>
#include <cutlass/gemm/kernel/gemm_universal.hpp>
#include <cutlass/transform/device/transform_universal_adapter.hpp>
#include <cutlass/transform/kernel/sparse_gemm_compressor.hpp>
#include <cutlass/util/packed_stride.hpp>

#include <new>

#include "sparse24/sparse24.h"
#include "sp90.h"

using namespace cute;

/* Named (not anonymous) so that the entries a build does not use raise no
 * "never referenced" warnings; every object defines them alike. */
namespace s24_sp90 {

using Coop = cutlass::gemm::KernelTmaWarpSpecializedCooperative;
using Ping = cutlass::gemm::KernelTmaWarpSpecializedPingpong;

/* The list: name, element type, tile (m, n, k: k counts W's logical
 * columns, so 128 is 64 stored values per row), cluster (m, n), schedule.
 * Why these (docs/results/gemm-h200.md has the rounds): 128 x 128 x 128
 * with a 1 x 2 cluster is CUTLASS's own example, and wins at small shapes;
 * 128 x 256 x 64 won among the first five at 2048 to 8192, 256 x 128 x 128
 * (1 x 2) among the second seven from 4096 up (over 256 x 128 x 64,
 * 128 x 256 x 128 and a 64 x 256 pingpong), so this third round varies its
 * cluster: 2 x 1 shares X's tile between two CTAs by TMA multicast, 1 x 2
 * W's, 2 x 2 both, 1 x 1 neither. */
template <int I> struct cfg;
#define SP90_ENTRY(I, NAME, T, DT, TM, TN, TK, CM, CN, SCHED)                                \
    template <> struct cfg<I> {                                                            \
        using elem = T;                                                                    \
        using tile = Shape<Int<TM>, Int<TN>, Int<TK>>;                                     \
        using cluster = Shape<Int<CM>, Int<CN>, _1>;                                       \
        using sched = SCHED;                                                               \
        static constexpr int dtype = DT;                                                   \
        static constexpr const char *name = NAME;                                          \
    };
SP90_ENTRY(0, "f16_128x256x64_c1x2_coop", cutlass::half_t, S24_F16, 128, 256, 64, 1, 2, Coop)
SP90_ENTRY(1, "f16_128x256x64_c2x1_coop", cutlass::half_t, S24_F16, 128, 256, 64, 2, 1, Coop)
SP90_ENTRY(2, "f16_256x128x128_c1x2_coop", cutlass::half_t, S24_F16, 256, 128, 128, 1, 2, Coop)
SP90_ENTRY(3, "f16_256x128x128_c2x1_coop", cutlass::half_t, S24_F16, 256, 128, 128, 2, 1, Coop)
SP90_ENTRY(4, "f16_256x128x128_c2x2_coop", cutlass::half_t, S24_F16, 256, 128, 128, 2, 2, Coop)
SP90_ENTRY(5, "f16_256x128x128_c1x1_coop", cutlass::half_t, S24_F16, 256, 128, 128, 1, 1, Coop)
SP90_ENTRY(6, "f16_128x128x128_c1x2_coop", cutlass::half_t, S24_F16, 128, 128, 128, 1, 2, Coop)
SP90_ENTRY(7, "bf16_128x256x64_c1x2_coop", cutlass::bfloat16_t, S24_BF16, 128, 256, 64, 1, 2,
           Coop)
SP90_ENTRY(8, "bf16_128x256x64_c2x1_coop", cutlass::bfloat16_t, S24_BF16, 128, 256, 64, 2, 1,
           Coop)
SP90_ENTRY(9, "bf16_256x128x128_c1x2_coop", cutlass::bfloat16_t, S24_BF16, 256, 128, 128, 1, 2,
           Coop)
SP90_ENTRY(10, "bf16_256x128x128_c2x1_coop", cutlass::bfloat16_t, S24_BF16, 256, 128, 128, 2, 1,
           Coop)
SP90_ENTRY(11, "bf16_256x128x128_c2x2_coop", cutlass::bfloat16_t, S24_BF16, 256, 128, 128, 2, 2,
           Coop)
SP90_ENTRY(12, "bf16_256x128x128_c1x1_coop", cutlass::bfloat16_t, S24_BF16, 256, 128, 128, 1, 1,
           Coop)
SP90_ENTRY(13, "bf16_128x128x128_c1x2_coop", cutlass::bfloat16_t, S24_BF16, 128, 128, 128, 1, 2,
           Coop)
#undef SP90_ENTRY
/* Keep in step with the list: the Makefile builds SP90_CFG = 0 .. this - 1. */
constexpr int count = 14;

} // namespace s24_sp90

namespace {

static_assert(SP90_CFG >= 0 && SP90_CFG < s24_sp90::count, "SP90_CFG is not in the list");
using Cfg = s24_sp90::cfg<SP90_CFG>;
using T = Cfg::elem;
using LA = cutlass::layout::RowMajor;    /* W: m x k, k contiguous */
using LB = cutlass::layout::ColumnMajor; /* X: k x n, k contiguous */
using LD = cutlass::layout::ColumnMajor; /* D: m x n, m contiguous */
constexpr int kAlign = 128 / cutlass::sizeof_bits<T>::value; /* 16-byte TMA rows */

using Epi = typename cutlass::epilogue::collective::CollectiveBuilder<
    cutlass::arch::Sm90, cutlass::arch::OpClassSparseTensorOp, Cfg::tile, Cfg::cluster,
    cutlass::epilogue::collective::EpilogueTileAuto, float, float, void, LD, kAlign, T, LD,
    kAlign, cutlass::epilogue::collective::EpilogueScheduleAuto>::CollectiveOp;

using Main = typename cutlass::gemm::collective::CollectiveBuilder<
    cutlass::arch::Sm90, cutlass::arch::OpClassSparseTensorOp, T, LA, kAlign, T, LB, kAlign,
    float, Cfg::tile, Cfg::cluster,
    cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
        sizeof(typename Epi::SharedStorage))>,
    Cfg::sched>::CollectiveOp;

using Problem = Shape<int, int, int, int>;
using Kernel = cutlass::gemm::kernel::GemmUniversal<Problem, Main, Epi>;
using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;
using Sparse = typename Main::SparseConfig;
using StrideA = cutlass::gemm::TagToStrideA_t<LA>;
using StrideB = typename Kernel::StrideB;
using StrideD = typename Kernel::StrideD;
using Util = cutlass::transform::kernel::StructuredSparseCompressorUtility<Problem, T, LA, Sparse>;
using CompressK =
    cutlass::transform::kernel::StructuredSparseCompressor<Problem, T, LA, Sparse,
                                                           cutlass::arch::Sm90>;
using Compressor = cutlass::transform::device::TransformUniversalAdapter<CompressK>;

int fail(cutlass::Status st, const char *what)
{
    return s24_error(st == cutlass::Status::kErrorNotSupported ? S24_ERR_UNSUPPORTED
                                                               : S24_ERR_CUDA,
                     "own sm90 kernel %s: %s: %s", Cfg::name, what, cutlassGetStatusString(st));
}

void packed_bytes(int m, int k, size_t *a_bytes, size_t *e_bytes)
{
    Util u(Problem{m, 1, k, 1}, cutlass::make_cute_packed_stride(StrideA{}, make_shape(m, k, 1)));
    /* in 64 bits: CUTLASS's get_compressed_tensor_A_bytes multiplies ints,
     * which wraps at 16384 x 16384 */
    *a_bytes = (size_t)u.get_tensorA_m_physical() * (size_t)u.get_tensorA_k_physical() *
               sizeof(T);
    *e_bytes = (size_t)u.get_tensor_E_bytes();
}

int compress(const void *w, int m, int k, void *a, void *e, int device, int sm_count,
             cudaStream_t s)
{
    Problem ps{m, 1, k, 1};
    cutlass::KernelHardwareInfo hw;
    hw.device_id = device;
    hw.sm_count = sm_count;
    typename Compressor::Arguments args{
        ps,
        {(const T *)w, cutlass::make_cute_packed_stride(StrideA{}, make_shape(m, k, 1)), (T *)a,
         (uint8_t *)e},
        {hw}};
    Compressor op;
    cutlass::Status st = op.can_implement(args);
    if (st != cutlass::Status::kSuccess) return fail(st, "compressor refuses the shape");
    void *ws = NULL;
    size_t wsb = Compressor::get_workspace_size(args);
    if (wsb && cudaMallocAsync(&ws, wsb, s) != cudaSuccess)
        return s24_error(S24_ERR_CUDA, "own sm90 kernel %s: no memory for the compressor",
                         Cfg::name);
    st = op.initialize(args, ws, s);
    if (st == cutlass::Status::kSuccess) st = op.run(s);
    if (ws) cudaFreeAsync(ws, s);
    if (st != cutlass::Status::kSuccess) return fail(st, "compressor");
    return cudaGetLastError() == cudaSuccess
               ? S24_OK
               : s24_error(S24_ERR_CUDA, "own sm90 kernel %s: compressor launch failed", Cfg::name);
}

typename Gemm::Arguments arguments(const struct s24_sp90_args *p)
{
    Problem ps{p->m, p->n, p->k, 1};
    cutlass::KernelHardwareInfo hw;
    hw.device_id = p->device;
    hw.sm_count = p->sm_count;
    StrideB sb = cutlass::make_cute_packed_stride(StrideB{}, make_shape(p->n, p->k, 1));
    StrideD sd = cutlass::make_cute_packed_stride(StrideD{}, make_shape(p->m, p->n, 1));
    typename Gemm::Arguments args{cutlass::gemm::GemmUniversalMode::kGemm,
                                  ps,
                                  {(const T *)p->a, Sparse::fill_layoutA(ps), (const T *)p->b, sb,
                                   (const typename Main::ElementE *)p->e,
                                   Sparse::fill_layoutE(ps)},
                                  {{1.0f, 0.0f}, nullptr, sd, (T *)p->d, sd},
                                  hw};
    /* tiles visited in groups of swizzle along the raster order: L2 reuse */
    args.scheduler.max_swizzle_size = p->swizzle;
    return args;
}

int make(const struct s24_sp90_args *p, void **state, size_t *ws_bytes)
{
    typename Gemm::Arguments args = arguments(p);
    cutlass::Status st = Gemm::can_implement(args);
    *state = NULL;
    if (st != cutlass::Status::kSuccess) return fail(st, "the shape");
    Gemm *g = new (std::nothrow) Gemm();
    if (!g) return s24_error(S24_ERR_NOMEM, "own sm90 kernel: out of memory");
    *ws_bytes = Gemm::get_workspace_size(args);
    *state = g;
    return S24_OK;
}

int bind(void *state, const struct s24_sp90_args *p, void *ws, cudaStream_t s)
{
    cutlass::Status st = ((Gemm *)state)->initialize(arguments(p), ws, s);
    return st == cutlass::Status::kSuccess ? S24_OK : fail(st, "initialize");
}

int launch(void *state, cudaStream_t s)
{
    cutlass::Status st = ((Gemm *)state)->run(s);
    if (st != cutlass::Status::kSuccess) return fail(st, "run");
    cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? S24_OK
                            : s24_error(S24_ERR_CUDA, "own sm90 kernel %s: launch: %s", Cfg::name,
                                        cudaGetErrorString(e));
}

void destroy(void *state) { delete (Gemm *)state; }

} // namespace

#define SP90_PASTE2(a, b) a##b
#define SP90_PASTE(a, b) SP90_PASTE2(a, b)
extern const struct s24_sp90_cfg SP90_PASTE(s24_sp90_cfg_, SP90_CFG);
const struct s24_sp90_cfg SP90_PASTE(s24_sp90_cfg_, SP90_CFG) = {
    Cfg::name, Cfg::dtype, packed_bytes, compress, make, bind, launch, destroy};
