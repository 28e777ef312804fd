//===- Cuda.h - generated tensor-core kernels for sm_90a --------*- C++ -*-===//
//
// The kernel generator of the CUDA target: warp-specialized Hopper GEMMs
// (TMA loads into 128B-swizzled shared memory, mbarrier pipeline, wgmma) for
// `lora.linear` and plain matmuls, built as `gpu.func`s from the problem's
// shapes. lib/Target/CUDA/GemmKernel.cpp has the kernel design, with its
// byte and flop counts (GemmKernelLora.cpp: t, dB and dA computed in the
// tile; GemmTiling.cpp: tilings and ABI; GemmLayout.h: shared memory); the
// `lora-generate-cuda-kernels` pass uses it.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_TARGET_CUDA_H
#define LORA_TARGET_CUDA_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

#include <string>
#include <tuple>

namespace mlir::lora::cuda {

/// What a generated kernel computes. Matrices are row-major. One size, the
/// token count, is known only at run time: M (rows of x and y) for the
/// forward and dx, K (the contraction) for the weight gradients; everything
/// else is known at compile time.
enum class GemmKind {
  /// y[M,N] = x[M,K]·w[K,N].
  Matmul,
  /// t[M,r] = round(scale · x[M,K]·a[K,r]): the LoRA down-projection, run
  /// once per call before LoraLinear.
  LoraDown,
  /// y[M,N] = x[M,K]·w[K,N] + t[M,r]·b[r,N] (+ bias[N]): the frozen matmul
  /// and the LoRA up-projection as one K loop over [x | t]·[w ; b].
  LoraLinear,
};

/// One kernel to generate: the problem and its tiling.
struct GemmKernelSpec {
  GemmKind kind = GemmKind::Matmul;
  /// bf16 or f16: x, w, a, b, t and bias.
  Type elementType;
  /// Element type of the output: bf16, f16 or f32 (LoraDown: elementType).
  Type resultType;
  /// Rows of x and y: ShapedType::kDynamic (the token count) or, for the
  /// weight gradients, a static size such as the LoRA rank.
  int64_t m = ShapedType::kDynamic;
  /// Contraction size (ShapedType::kDynamic: the token count, passed to the
  /// kernel as an index argument; then `m` is static), output columns and
  /// LoRA rank (0 for Matmul). For LoraDown, `n` is the rank.
  int64_t k = 0, n = 0, rank = 0;
  /// x is stored transposed, [k, m] row-major, and the kernel computes
  /// xᵀ·w (Matmul only): the weight gradients tᵀ·g and xᵀ·dt read the
  /// token-major activations as they are.
  bool transposedA = false;
  /// The right-hand operands (w, a, b) are stored transposed, [n, k] and
  /// [n, rank] row-major, and the kernel computes x·wᵀ: the backward's
  /// g·Wᵀ, dt·Aᵀ and g·Bᵀ read the weights as the forward stores them.
  bool transposedB = false;
  /// Rows of a transposed w, [wRows, k], where it has fewer than n: a
  /// problem whose N is padded to a multiple of 8 reads w as stored, and TMA
  /// zero-fills the rows past wRows. 0: w has n rows. Matmul only.
  int64_t wRows = 0;
  /// x, w and y carry a leading batch dim, [B, M, K]·[B, K, N] (or w
  /// [B, N, K] when transposed) -> [B, M, N]: the attention's batched
  /// matmuls. The batch size is known only at run time, like M; the grid's x
  /// walks it with the column tiles, and every tensor map is rank 3 with a
  /// box of 1 there, so no tile crosses from one matrix into the next (TMA
  /// zero-fills and clips each dimension on its own). Matmul only, with a
  /// static K.
  bool batched = false;
  bool hasBias = false;
  /// A LoraLinear that computes t = scale·x·A itself, in every output tile,
  /// from the x boxes its stages already hold (no LoraDown kernel, no second
  /// read of x): each main K step also loads A's [64 x 16] slice and each
  /// consumer accumulates its rows of x·A (m64n16k16); before the LoRA step
  /// the consumers write scale·t as the step's x box, and the CTAs of the
  /// first column tile store it to t (for the backward). The backward's dx
  /// kernel (w transposed) likewise computes dt = scale·g·Bᵀ from B's
  /// [16 x 64] slices and stores it for dA. Rank at most 16, no batch, a
  /// static K.
  bool fuseDown = false;
  /// The backward's fused dx kernel (fuseDown, w transposed) also computes
  /// dB = tsᵀ·g from the g steps it streams anyway: the CTAs of column tile
  /// j take the steps k with k mod (column tiles) = j, and each consumer
  /// adds its 64 rows' part of dBᵀ[64k : 64k + 64, :] (gᵀ·ts, m64n16k16)
  /// into an f32 dBᵀ [N, r] in global memory with a TMA reduce-add. The
  /// caller zeroes that accumulator before the launch; f32 additions land in
  /// the order the CTAs issue them. No lora_b_grad kernel, no second read
  /// of g.
  bool fuseBGrad = false;
  /// With fuseBGrad, that kernel computes dA = xᵀ·dt too: after its LoRA
  /// step, when dt is complete, it loads its tile's block of x ([tileM x
  /// tileN], the rows and columns of its dx tile) into the released stages,
  /// and each consumer adds dA rows n0 + 64q .. + 64 of its 64-column
  /// blocks q (xᵀ·dt over the tile's rows, m64n16k16) into an f32 dA
  /// [K, r] with a TMA reduce-add, zeroed by the caller. No lora_a_grad
  /// kernel, no second read of dt.
  bool fuseAGrad = false;
  /// The epilogue converts the accumulator in registers and writes the
  /// output tile straight into shared memory, 128B-swizzled in boxes of
  /// 128 B columns, for TMA stores of those boxes: no f32 staging tile (its
  /// write and read back, 2·tileM·tileN·4 bytes of shared-memory traffic).
  /// A Matmul or LoraLinear, unsplit; requested on the problem,
  /// chooseGemmTilings keeps it where the tiling allows.
  bool directEpilogue = false;
  /// At most this many CTAs, each taking output tiles in turn (tile
  /// blockIdx.x, then + gridDim.x, ...) with one pipeline across them: the
  /// producer loads the next tile's first stages while the consumers store
  /// the last one's output, and a CTA is launched once, not once per tile.
  /// 0: one CTA per tile. Implies directEpilogue, whose output tile then has
  /// shared memory of its own after the stages. A Matmul or LoraLinear,
  /// unsplit, without multicast, batch or bias, over a static K. The
  /// launcher also caps the grid at the SM count of the GPU it runs on
  /// (kMultiprocessorCountFunction): one CTA per SM.
  int64_t persistentCtas = 0;
  /// t's multiplier (alpha/r or alpha/sqrt(r)): LoraDown's, or a fused
  /// LoraLinear's.
  double scale = 1.0;

  /// Consumer warpgroups; each owns 64 rows of the tile, so tileM is
  /// 64 · consumers. One more warpgroup is the TMA producer.
  int64_t consumers = 2;
  /// Columns of the output tile (a multiple of 64, at most 256) and the depth
  /// of the shared-memory pipeline.
  int64_t tileN = 128, stages = 4;
  /// CTAs that share one output tile's K steps (LoraDown and the weight
  /// gradients): a cluster of `splits` CTAs side by side along the grid's x,
  /// each summing a contiguous run of the K steps, the first adding the
  /// others' partial sums from their shared memory, so that more SMs read
  /// the operands at once: t has few row tiles (32 at M = 2048), dA of a
  /// 4096 x 16 adapter 64 tiles in all.
  int64_t splits = 1;
  /// CTAs that share the w side's loads (1 or 2): a cluster of `multicast`
  /// CTAs one above the other along the grid's y, on the same column tile
  /// and consecutive row tiles. Each loads its own x rows and 1/multicast of
  /// the stage's w boxes, multicast to both, so that a stage costs each
  /// CTA's TMA 128 + tileN/2 box rows instead of 128 + tileN (CUTLASS's 2x1
  /// cluster). Requested on the problem; chooseGemmTilings keeps it for the
  /// tilings that support it (a Matmul or LoraLinear with two consumers, w
  /// as stored in an even number of 64-column boxes or transposed, x as
  /// stored, no batch, no split, a static K) and sets 1 on the others.
  int64_t multicast = 1;
  /// The row counts this tiling is launched for, [minRows, maxRows]
  /// (maxRows ShapedType::kDynamic: no bound). Where M is known only at run
  /// time, a kernel comes in one variant per tiling that some M would get
  /// (chooseGemmTilings), and its launch picks the variant by M.
  int64_t minRows = 1, maxRows = ShapedType::kDynamic;

  int64_t tileM() const { return 64 * consumers; }
  int64_t blockThreads() const { return 128 * (consumers + 1); }

  /// Every field above, for comparisons: equal specs build the same kernel
  /// (lora-generate-cuda-kernels builds it once). A new field goes here too.
  auto fields() const {
    return std::tie(kind, elementType, resultType, m, k, n, rank, transposedA,
                    transposedB, wRows, batched, hasBias, fuseDown, fuseBGrad,
                    fuseAGrad, directEpilogue, persistentCtas, scale, consumers,
                    tileN, stages, splits, multicast, minRows, maxRows);
  }
  bool operator==(const GemmKernelSpec &other) const {
    return fields() == other.fields();
  }
  bool operator!=(const GemmKernelSpec &other) const {
    return !(*this == other);
  }
};

/// Why `spec`'s problem cannot be generated (element types, alignment of
/// rows to 16 bytes, sizes), or "" when it can.
std::string checkGemmProblem(const GemmKernelSpec &spec);

/// The tilings of `problem`'s kernel: tileN from N (overridden by a
/// non-zero `tileN`), the consumer count from the kind, and the deepest
/// pipeline that fits in shared memory (at most `maxStages` when non-zero).
/// Tiles are 128x256 (N >= 4096) or 128x128; where those would give fewer
/// CTAs than half the SMs of an H100/H200, 128x128 tiles, and where those
/// still would, 64x64 tiles with one consumer (up to 8x the CTAs). `rows` is
/// the row count where the call site knows it (a whole model's static token
/// count): then one tiling, the one for it. Where it does not
/// (ShapedType::kDynamic), one variant per tiling that some row count gets,
/// largest tiles first, each with the rows it is launched for (minRows,
/// maxRows; together every count from 1). Batched kernels have one tiling.
/// LoraDown has one tile (64 rows, all of t's columns) and one variant per
/// `splits`, the CTAs its K steps are split over: a power of two up to 8
/// with at least 16 steps each, the fewest that give 7/8 of the SMs a CTA
/// (M = 2048 at K = 4096: 4; from M = 7361: 1, each CTA all of K). A weight
/// gradient (64x64 tiles over a dynamic K, the tokens) splits its tokens
/// the same way, over at most 4, where its tiles are fewer than that, one
/// variant per split count down to 1, each for the token counts that give
/// its CTAs at least 16 steps.
SmallVector<GemmKernelSpec>
chooseGemmTilings(const GemmKernelSpec &problem, int64_t tileN = 0,
                  int64_t maxStages = 0, int64_t rows = ShapedType::kDynamic);

/// The LoraDown problem, t = scale·x·A, of the LoraLinear problem `linear`
/// (no tiling chosen); of the backward's dx = g·Wᵀ + dt·Aᵀ (w transposed),
/// dt = scale·g·Bᵀ, B read transposed.
GemmKernelSpec getLoraDownProblem(const GemmKernelSpec &linear);

/// One kernel parameter: a pointer to a CUtensorMap (in device memory) that
/// describes a row-major tensor and the box one TMA copy moves.
struct TensorMapParam {
  /// "x", "w", "a", "t", "b", "ts", "db", "xa", "da", "bias" or "y".
  std::string role;
  Type elementType;
  /// Shape of the tensor; ShapedType::kDynamic stands for the token count
  /// (and, first in a batched kernel's tensors, for the batch size).
  SmallVector<int64_t, 3> dims;
  /// Shape of one box, same order as `dims`.
  SmallVector<int64_t, 3> box;
  /// 0, 32 (a fused LoraLinear's A slices) or 128 (bytes).
  int64_t swizzle = 0;
  /// Bytes the L2 fetches from memory for each line a copy of this map
  /// misses: 256 for the operands (a box row is 128 B, the next K step's
  /// row continues it), 0 (the line alone) for the stored output.
  int64_t l2Promotion = 0;
};

/// The kernel's tensor-map parameters, in order. A kernel whose contraction
/// is dynamic takes one more parameter after them: the contraction size, as
/// an index.
SmallVector<TensorMapParam> getGemmKernelParams(const GemmKernelSpec &spec);

/// Bytes of dynamic shared memory the kernel needs at launch.
int64_t getGemmDynamicSharedMemory(const GemmKernelSpec &spec);

/// The launch interface of kernel `name`, variant of `kernel` (the name of
/// its first variant), as JSON (module, name, kernel, kind, block,
/// dynamic_smem, tile, rows [min, max or null] it is launched for, m/k/n/rank
/// with "M" for the token count, scale, transposed_a/b, batched, params with
/// dims/box/swizzle and "B" for a batch size, index_params after them): what
/// a launcher written outside MLIR (bench/gpu/run.py) needs. Attached to the
/// kernel as `lora.abi`.
std::string getGemmKernelAbi(const GemmKernelSpec &spec, StringRef module,
                             StringRef name, StringRef kernel);

/// Output row tiles a group of the raster holds (buildTileRaster).
inline constexpr int64_t kRasterGroupRows = 8;

/// Emits the output tile a CTA computes, (row tile, column tile), from its
/// block ids (`blockX` over `columnTiles` column tiles, `blockY` over
/// `rowTiles` row tiles). CTAs start in the order of their linear id
/// blockY·columnTiles + blockX; that order walks `groupRows` rows of tiles
/// down before it moves one column tile across, so the CTAs running at once
/// share few columns of w and few rows of x, and a w larger than the L2 is
/// read from memory once per group instead of once per row tile. A
/// bijection onto the grid's tiles. Built with createOrFold: constant
/// block ids give constant tiles.
std::pair<Value, Value> buildTileRaster(OpBuilder &builder, Location loc,
                                        Value blockX, Value blockY,
                                        Value rowTiles, int64_t columnTiles,
                                        int64_t groupRows = kRasterGroupRows);

/// A generated kernel and the spec it was built for.
struct GemmKernel {
  gpu::GPUFuncOp func;
  GemmKernelSpec spec;
};

/// Builds the kernel `name` for each of `variants` (chooseGemmTilings' list
/// for one problem) at the end of `module`: the first is named `name`, the
/// others `name` with their tile appended (`_64x64`).
SmallVector<GemmKernel> buildGemmKernels(OpBuilder &builder, Location loc,
                                         gpu::GPUModuleOp module,
                                         StringRef name,
                                         ArrayRef<GemmKernelSpec> variants);

/// The runtime function (liblora_cuda_runtime.so) that a persistent
/// kernel's launcher calls for the SM count of the GPU it runs on, which
/// caps its grid: `i32 ()`, the driver's answer read once per device. It
/// touches no memory that GPU work on a stream might use, so
/// lora-cuda-stream-order does not wait before it.
inline constexpr llvm::StringLiteral kMultiprocessorCountFunction =
    "loraCudaMultiprocessorCount";

/// Emits host code at `builder`'s insertion point that launches, of
/// `variants` (one kernel's tilings, as buildGemmKernels returns them), the
/// one whose rows hold `tokens`, the run-time size (an index: M, or K where
/// the contraction is dynamic), for `memrefs` (device buffers, one per
/// parameter of getGemmKernelParams, row-major; their tensor maps encoded
/// there) and, for a batched kernel, `batch` matrices (an index). Nothing is
/// launched for no tokens or no matrices. Each variant's launch is an
/// `scf.if` of its own, on its row range, with no region inside, which
/// lora-cuda-stream-order threads onto the caller's stream.
void buildGemmLaunch(OpBuilder &builder, Location loc,
                     ArrayRef<GemmKernel> variants, ValueRange memrefs,
                     Value tokens, Value batch = {});

/// Emits at `builder`'s insertion point what `spec`'s kernel computes, as
/// linalg on `memrefs` (host buffers, one per parameter of
/// getGemmKernelParams, row-major): the reference launchers of
/// `--target=cuda-emulated`. Products are summed in f32 and converted to
/// the output type once, as the kernel does.
void buildGemmReference(OpBuilder &builder, Location loc,
                        const GemmKernelSpec &spec, ValueRange memrefs);

} // namespace mlir::lora::cuda

#endif // LORA_TARGET_CUDA_H
