//===- GemmLayout.h - a generated GEMM kernel's shared memory ---*- C++ -*-===//
//
// The constants and the shared-memory layout of the kernels GemmKernel.cpp
// builds, shared by the tiling (GemmTiling.cpp: what fits), the kernel body
// (GemmKernel.cpp) and its fused LoRA parts (GemmKernelLora.cpp). A CTA's
// dynamic shared memory, from its 1024-aligned base:
//
//   stages       `stages` x (x box, w boxes, a fused LoraLinear's A slice)
//   epilogue     the f32 staging tile and the converted output tile, over
//                the stages (free by then), or a persistent kernel's direct
//                output tile after them
//   t scratch    a fused LoraLinear's f32 x·A (tileM x 16)
//   dB region    the dx kernel's ts rows and dBᵀ parts (fuse-lora-b-grad);
//                dA's x block and parts reuse the stages
//   bias         tileN elements
//   barriers     a multicast kernel's empty barriers, read by address
//
// Private to lib/Target/CUDA.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_LIB_TARGET_CUDA_GEMMLAYOUT_H
#define LORA_LIB_TARGET_CUDA_GEMMLAYOUT_H

#include "lora/Target/Cuda.h"

#include "llvm/Support/MathExtras.h"

#include <algorithm>

namespace mlir::lora::cuda {

/// K step of one stage: 64 elements = 128 bytes, the 128B swizzle span.
inline constexpr int64_t kTileK = 64;
static_assert(kTileK * 2 == 128, "a K step of 16-bit elements must span the "
                                 "128B swizzle (see buildConsumer)");

/// K of one wgmma instruction on 16-bit elements.
inline constexpr int64_t kInstrK = 16;

/// Registers per thread of the producer and consumer warpgroups where a
/// kernel moves them from the one to the others (setmaxnreg): 128·40 +
/// 256·232 of the SM's 65536, as CUTLASS's warp-specialized kernels do.
inline constexpr int32_t kProducerRegisters = 40;
inline constexpr int32_t kConsumerRegisters = 232;
static_assert(128 * kProducerRegisters + 256 * kConsumerRegisters <=
                  384 * (65536 / 384 / 8 * 8),
              "within what a CTA of 384 threads is launched with");

/// Whether `spec`'s kernel moves registers from its producer to its
/// consumers (setmaxnreg): a dx kernel that computes dB (8 more accumulator
/// registers) with two consumers, which spilled at 128x256 without.
inline bool rebalancesRegisters(const GemmKernelSpec &spec) {
  return spec.fuseBGrad && spec.consumers == 2;
}

/// The dynamic shared-memory base: a public uninitialised workgroup global
/// becomes `.extern .shared .align 1024` (gpu.dynamic_shared_memory does not,
/// see test/Target/CUDA/wgmma-tma-sm90a.mlir).
inline constexpr StringLiteral kDynamicSmemName = "__lora_dyn_smem";

/// The least bytes of w for which the CTAs take their tiles in groups of
/// rows (buildTileRaster): half an H100's L2. A w that stays in the L2 is
/// read from memory once whatever the order; on an H200 the grouped order
/// made 4096 x 1024's x·W (8 MiB) 5% slower at M >= 8192 (three runs
/// against one, bench/gpu/results), and 4096 x 14336's (112 MiB) 9% faster.
inline constexpr int64_t kRasterMinWeightBytes = 25 << 20;

/// Bytes of one element of `type`.
inline int64_t byteWidth(Type type) { return type.getIntOrFloatBitWidth() / 8; }

/// Columns of the output tile one TMA store writes: LoraDown's t is only r
/// wide.
inline int64_t getOutputBoxColumns(const GemmKernelSpec &spec) {
  return spec.kind == GemmKind::LoraDown ? spec.n : spec.tileN;
}

/// Number of K steps over t·b after the main ones.
inline int64_t getLoraSteps(const GemmKernelSpec &spec) {
  return spec.kind == GemmKind::LoraLinear ? llvm::divideCeil(spec.rank, kTileK)
                                           : 0;
}

/// t's columns in a fused LoraLinear (GemmKernelSpec::fuseDown): the rank
/// rounded up to 16, one wgmma N; A's slice of a K step is [64 x 16], rows
/// of 32 B (SWIZZLE_32B, the N-major layout wgmma reads at that width), or
/// of a transposed A (the backward's B) [16 x 64], K-major rows of 128 B.
inline constexpr int64_t kFusedRank = 16;

/// Bytes of A's slice in a fused LoraLinear's main stage (else 0).
inline int64_t getDownSliceBytes(const GemmKernelSpec &spec) {
  return spec.fuseDown ? kTileK * kFusedRank * byteWidth(spec.elementType) : 0;
}

/// Bytes of one stage: the x box, the w boxes and a fused LoraLinear's A
/// slice.
inline int64_t getStageBytes(const GemmKernelSpec &spec) {
  return (spec.tileM() + spec.tileN) * kTileK * byteWidth(spec.elementType) +
         getDownSliceBytes(spec);
}

/// Row pitch, in floats, of the f32 staging tile. Padding by 8 floats puts
/// the 8 rows a warp's mma.store writes together in different banks; an f32
/// output is converted in place and TMA-stored from the tile itself, which
/// must then be dense.
inline int64_t getStagingPitch(const GemmKernelSpec &spec) {
  return spec.tileN + (spec.resultType.isF32() ? 0 : 8);
}

/// Columns of one box of a direct epilogue's output tile: 128 B of the
/// output type, the 128B swizzle's span.
inline int64_t getDirectBoxColumns(const GemmKernelSpec &spec) {
  return 128 / byteWidth(spec.resultType);
}

/// Bytes of the epilogue's staging: the f32 accumulator tile, then the
/// converted output tile (none when the output is f32: converted in place);
/// of a direct epilogue, the output tile alone.
inline int64_t getEpilogueBytes(const GemmKernelSpec &spec) {
  if (spec.directEpilogue)
    return spec.tileM() * spec.tileN * byteWidth(spec.resultType);
  int64_t bytes = spec.tileM() * getStagingPitch(spec) * 4;
  if (!spec.resultType.isF32())
    bytes +=
        spec.tileM() * getOutputBoxColumns(spec) * byteWidth(spec.resultType);
  return bytes;
}

/// Offset of the epilogue's tile: the front of shared memory, where the
/// stages are (free by then), or in a persistent kernel, whose producer
/// fills the stages for the next tile meanwhile, after them (1024-aligned
/// for the 128B swizzle).
inline int64_t getEpilogueOffset(const GemmKernelSpec &spec) {
  return spec.persistentCtas
             ? llvm::alignTo(spec.stages * getStageBytes(spec), 1024)
             : 0;
}

/// Offset of a fused LoraLinear's t scratch (its f32 accumulators of x·A,
/// tileM x 16): after the stages and the epilogue.
inline int64_t getDownScratchOffset(const GemmKernelSpec &spec) {
  if (spec.persistentCtas)
    return getEpilogueOffset(spec) + getEpilogueBytes(spec);
  return llvm::alignTo(
      std::max(spec.stages * getStageBytes(spec), getEpilogueBytes(spec)), 128);
}

/// Bytes of the t scratch (none unless fused).
inline int64_t getDownScratchBytes(const GemmKernelSpec &spec) {
  return spec.fuseDown ? spec.tileM() * kFusedRank * 4 : 0;
}

/// Offset of the dx kernel's dB region (GemmKernelSpec::fuseBGrad), after
/// the t scratch: the tile's ts rows (tileM x 16, SWIZZLE_32B like a fused
/// LoraLinear's A slices, so 1024-aligned), then each consumer's f32 part of
/// dBᵀ (64 x 16), the source of its TMA reduce-add.
inline int64_t getBGradOffset(const GemmKernelSpec &spec) {
  return llvm::alignTo(getDownScratchOffset(spec) + getDownScratchBytes(spec),
                       1024);
}

/// Bytes of the dB region's ts rows.
inline int64_t getBGradTsBytes(const GemmKernelSpec &spec) {
  return spec.tileM() * kFusedRank * byteWidth(spec.elementType);
}

/// Bytes of the dB region: the ts rows and the parts (none without dB).
inline int64_t getBGradBytes(const GemmKernelSpec &spec) {
  return spec.fuseBGrad ? getBGradTsBytes(spec) + spec.tileM() * kFusedRank * 4
                        : 0;
}

/// Of a dx kernel that computes dA (GemmKernelSpec::fuseAGrad), in the
/// stages once every one is released: the tile's block of x, tileN / 64
/// boxes of [tileM x 64] from offset 0, then the f32 parts of dA, a
/// tileM x 16 slot per block a consumer takes (its rows at 64·c), until the
/// epilogue takes the stages.
/// Slots of dA's parts: the 64-column blocks a consumer takes.
inline int64_t getAGradSlots(const GemmKernelSpec &spec) {
  return llvm::divideCeil(spec.tileN / kTileK, spec.consumers);
}

/// Bytes of dA's block of x.
inline int64_t getAGradXBlockBytes(const GemmKernelSpec &spec) {
  return spec.tileM() * spec.tileN * byteWidth(spec.elementType);
}

/// Offset of dA's parts in the stages, after the x block.
inline int64_t getAGradPartsOffset(const GemmKernelSpec &spec) {
  return getAGradXBlockBytes(spec);
}

/// Bytes of the stages dA uses: the x block and the parts.
inline int64_t getAGradBytes(const GemmKernelSpec &spec) {
  return getAGradPartsOffset(spec) +
         getAGradSlots(spec) * spec.tileM() * kFusedRank * 4;
}

/// Offset of the bias tile, after the t scratch (and the dB region).
inline int64_t getBiasOffset(const GemmKernelSpec &spec) {
  if (spec.fuseBGrad)
    return getBGradOffset(spec) + getBGradBytes(spec);
  return getDownScratchOffset(spec) + getDownScratchBytes(spec);
}

/// Bytes of the bias tile (none without a bias).
inline int64_t getBiasBytes(const GemmKernelSpec &spec) {
  return spec.hasBias ? spec.tileN * byteWidth(spec.elementType) : 0;
}

/// Offset of a multicast kernel's empty barriers (one 8-byte mbarrier per
/// stage), after the bias tile: they are read by address (mapa), which the
/// nvgpu barrier groups do not give.
inline int64_t getEmptyBarriersOffset(const GemmKernelSpec &spec) {
  return llvm::alignTo(getBiasOffset(spec) + getBiasBytes(spec), 8);
}

} // namespace mlir::lora::cuda

#endif // LORA_LIB_TARGET_CUDA_GEMMLAYOUT_H
