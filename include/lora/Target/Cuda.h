//===- Cuda.h - generated tensor-core kernels for sm_90a --------*- C++ -*-===//
//
// The kernel generator of the CUDA target: warp-specialized Hopper GEMMs
// (TMA loads into 128B-swizzled shared memory, mbarrier pipeline, wgmma) for
// `lora.linear` and plain matmuls, built as `gpu.func`s from the problem's
// shapes. lib/Target/CUDA/GemmKernel.cpp has the kernel design, with its
// byte and flop counts; the `lora-generate-cuda-kernels` pass uses it.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_TARGET_CUDA_H
#define LORA_TARGET_CUDA_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

#include <string>

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
  /// x, w and y carry a leading batch dim, [B, M, K]·[B, K, N] (or w
  /// [B, N, K] when transposed) -> [B, M, N]: the attention's batched
  /// matmuls. The batch size is known only at run time, like M; the grid's x
  /// walks it with the column tiles, and every tensor map is rank 3 with a
  /// box of 1 there, so no tile crosses from one matrix into the next (TMA
  /// zero-fills and clips each dimension on its own). Matmul only, with a
  /// static K.
  bool batched = false;
  bool hasBias = false;
  /// LoraDown's multiplier (alpha/r or alpha/sqrt(r)).
  double scale = 1.0;

  /// Consumer warpgroups; each owns 64 rows of the tile, so tileM is
  /// 64 · consumers. One more warpgroup is the TMA producer.
  int64_t consumers = 2;
  /// Columns of the output tile (a multiple of 64, at most 256) and the depth
  /// of the shared-memory pipeline.
  int64_t tileN = 128, stages = 4;

  int64_t tileM() const { return 64 * consumers; }
  int64_t blockThreads() const { return 128 * (consumers + 1); }
};

/// Why `spec`'s problem cannot be generated (element types, alignment of
/// rows to 16 bytes, sizes), or "" when it can.
std::string checkGemmProblem(const GemmKernelSpec &spec);

/// Fills in the tiling of `spec` from its problem: tileN from N (overridden
/// by a non-zero `tileN`), the consumer count from the kind, and the deepest
/// pipeline that fits in shared memory (at most `maxStages` when non-zero).
/// `rows` is the row count where the call site knows it (a whole model's
/// static token count; ShapedType::kDynamic where it does not): where the
/// 128x256 tiles would give fewer CTAs than half the SMs of an H100/H200,
/// the kernel takes 128x128 tiles, or where those still would, 64x64 tiles
/// (up to 8x the CTAs).
void chooseGemmTiling(GemmKernelSpec &spec, int64_t tileN = 0,
                      int64_t maxStages = 0,
                      int64_t rows = ShapedType::kDynamic);

/// One kernel parameter: a pointer to a CUtensorMap (in device memory) that
/// describes a row-major tensor and the box one TMA copy moves.
struct TensorMapParam {
  /// "x", "w", "a", "t", "b", "bias" or "y".
  std::string role;
  Type elementType;
  /// Shape of the tensor; ShapedType::kDynamic stands for the token count
  /// (and, first in a batched kernel's tensors, for the batch size).
  SmallVector<int64_t, 3> dims;
  /// Shape of one box, same order as `dims`.
  SmallVector<int64_t, 3> box;
  /// 0 or 128 (bytes).
  int64_t swizzle = 0;
};

/// The kernel's tensor-map parameters, in order. A kernel whose contraction
/// is dynamic takes one more parameter after them: the contraction size, as
/// an index.
SmallVector<TensorMapParam> getGemmKernelParams(const GemmKernelSpec &spec);

/// Bytes of dynamic shared memory the kernel needs at launch.
int64_t getGemmDynamicSharedMemory(const GemmKernelSpec &spec);

/// The kernel's launch interface as JSON (kind, block, dynamic_smem, tile,
/// m/k/n/rank with "M" for the token count, scale, transposed_a/b, batched,
/// params with dims/box/swizzle and "B" for a batch size, index_params after
/// them): what a launcher written outside MLIR (bench/gpu/run.py) needs.
/// Attached to the kernel as `lora.abi`.
std::string getGemmKernelAbi(const GemmKernelSpec &spec, StringRef module,
                             StringRef name);

/// Builds the kernel `name` for `spec` at the end of `module`.
gpu::GPUFuncOp buildGemmKernel(OpBuilder &builder, Location loc,
                               gpu::GPUModuleOp module, StringRef name,
                               const GemmKernelSpec &spec);

/// Emits host code at `builder`'s insertion point that encodes the tensor
/// maps of `kernel` for `memrefs` (device buffers, one per parameter of
/// getGemmKernelParams, row-major) and launches it for `tokens`, the run-time
/// size (an index: M, or K where the contraction is dynamic), and for a
/// batched kernel `batch` matrices (an index).
void buildGemmLaunch(OpBuilder &builder, Location loc, gpu::GPUFuncOp kernel,
                     const GemmKernelSpec &spec, ValueRange memrefs,
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
