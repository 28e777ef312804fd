//===- GemmKernelBuilder.h - one GEMM kernel's body -------------*- C++ -*-===//
//
// The builder of a generated kernel's body (GemmKernel.cpp has its design),
// shared by GemmKernel.cpp (pipeline, main loop, epilogues) and
// GemmKernelLora.cpp (t, dB and dA computed in the tile). Private to
// lib/Target/CUDA.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_LIB_TARGET_CUDA_GEMMKERNELBUILDER_H
#define LORA_LIB_TARGET_CUDA_GEMMKERNELBUILDER_H

#include "GemmLayout.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMTypes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::lora::cuda {

/// The tensor map type of `param`, whose boxes land in `boxType`.
inline nvgpu::TensorMapDescriptorType
getTensorMapType(const TensorMapParam &param, MemRefType boxType) {
  return nvgpu::TensorMapDescriptorType::get(
      boxType.getContext(), boxType,
      param.swizzle == 128  ? nvgpu::TensorMapSwizzleKind::SWIZZLE_128B
      : param.swizzle == 32 ? nvgpu::TensorMapSwizzleKind::SWIZZLE_32B
                            : nvgpu::TensorMapSwizzleKind::SWIZZLE_NONE,
      param.l2Promotion == 256 ? nvgpu::TensorMapL2PromoKind::L2PROMO_256B
                               : nvgpu::TensorMapL2PromoKind::L2PROMO_NONE,
      nvgpu::TensorMapOOBKind::OOB_ZERO,
      nvgpu::TensorMapInterleaveKind::INTERLEAVE_NONE);
}

/// Builds one kernel body; holds the values every part of it uses.
class GemmKernelBuilder {
public:
  GemmKernelBuilder(ImplicitLocOpBuilder &b, const GemmKernelSpec &spec)
      : b(b), spec(spec), ctx(b.getContext()),
        smemSpace(
            gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup)) {}

  void build(gpu::GPUFuncOp func);

private:
  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, value);
  }
  Value i32(int64_t value) {
    return arith::ConstantIntOp::create(b, value, 32);
  }
  MemRefType smemType(ArrayRef<int64_t> shape, Type elem) {
    return MemRefType::get(shape, elem, MemRefLayoutAttrInterface(), smemSpace);
  }
  /// A view of dynamic shared memory at byte `offset`.
  Value view(Value offset, ArrayRef<int64_t> shape, Type elem) {
    return memref::ViewOp::create(b, smemType(shape, elem), smem, offset,
                                  ValueRange());
  }
  /// The shared-memory side of a TMA copy of a `shape` box at byte
  /// `offset`: rank 3 with a leading 1 in a batched kernel, like its maps.
  Value tmaView(Value offset, ArrayRef<int64_t> shape, Type elem) {
    if (!spec.batched)
      return view(offset, shape, elem);
    SmallVector<int64_t> batchShape{1};
    batchShape.append(shape.begin(), shape.end());
    return view(offset, batchShape, elem);
  }
  /// TMA coordinates (innermost first) of a box at `coords`, with the
  /// CTA's matrix outermost in a batched kernel.
  SmallVector<Value> tmaCoords(ArrayRef<Value> coords) {
    SmallVector<Value> all(coords);
    if (spec.batched)
      all.push_back(batchIndex);
    return all;
  }
  Type tensorMapType(const TensorMapParam &param) {
    return getTensorMapType(param, smemType(param.box, param.elementType));
  }
  Value parity(Value k, bool flip);
  Value sharedPointer(Value offset);
  Value clusterPointer(Value local, Value rank);
  Value descriptor(Value offset, MemRefType type, Value map);
  Value emptyBarrier(Value stage);
  void initEmptyBarriers();
  void waitEmpty(Value k);
  void releaseStage(Value stage);
  void loadStep(Value s, Value base, Value aMap, Value bMap, Value kk);
  void loadDownSlice(Value s, Value base, Value kk);
  void buildProducer();
  Value mmaStep(Value isMain, Value aBase, Value bBase, Value acc,
                bool restart);
  void buildConsumer(Value consumer);
  Value buildFusedDown(Value isMain, Value base, Value aBase, Value consumer,
                       Value tAcc, bool restart);
  Value buildSwizzle32Descriptor(Value offset, MemRefType type);
  Value buildSwizzle32DescriptorBits(Value offset);
  Value buildBGradStep(Value owned, Value aBase, Value consumer, Value dbAcc);
  void reduceBGrad(Value owned, Value consumer, Value k, Value dbAcc);
  void buildAGrad(Value consumer, Value registers);
  Value wgmmaN16(Value acc, Value aBase, Value aMap, Value bBase,
                 int64_t steps);
  Value wgmmaChain(Value acc, ArrayRef<std::pair<Value, Value>> slices,
                   bool transA, bool transB, bool restart);
  Value undefinedAccumulator(Type type);
  LLVM::LLVMStructType loweredAccumulatorType(Type type);
  Value rawDescriptor(Value descriptor);
  Value mMajorDescriptor(Value offset, Value map);
  Value storedTChunk(Value row, Value chunk);
  void addPart(Value part, int64_t slot, Value consumer, StringRef role,
               Value row);
  void clusterSync();
  void storeAccumulator(Value consumer, Value acc);
  void buildEpilogue(Value consumer);
  void buildDirectEpilogue(Value consumer, Value acc);
  void forEachTile(function_ref<void(Value slotBase)> body);
  Value firstRows(Value tile, OpFoldResult first, int64_t columns);
  Value stagingRows(Value first);
  Value scaleVector();
  void syncWarpgroup(Value consumer);
  void issueBulkFromWarpgroup(Value consumer, function_ref<void()> issue,
                              bool waitForRead = false, Value also = Value());

  ImplicitLocOpBuilder &b;
  const GemmKernelSpec &spec;
  MLIRContext *ctx;
  gpu::AddressSpaceAttr smemSpace;

  Value smem, full, empty, biasBarrier, threadInWarpgroup;
  /// A dx kernel that computes dA: the barrier its tile's block of x
  /// completes on.
  Value xBlockBarrier;
  /// The address of dynamic shared memory, where something is read by
  /// address (a multicast kernel's empty barriers, a split kernel's partial
  /// sums through mapa, a fused LoraLinear's A slices), and a multicast
  /// kernel's rank in its cluster.
  Value smemAddress, clusterRank;
  Value m0, n0;
  /// A persistent kernel's output tiles (row tiles x column tiles) and row
  /// tiles, from M (an index argument).
  Value tiles, rowTiles;
  /// Of a persistent kernel, in forEachTile's body: whether this is the
  /// CTA's last tile (an i1).
  Value lastTurn;
  /// The matrix of a batched kernel this CTA computes (block id x over the
  /// column tiles per matrix).
  Value batchIndex;
  /// K steps over x·w, and in all (then over t·b).
  Value mainSteps, steps;
  /// Of a split kernel: this CTA's split (its rank in the cluster), the
  /// first of its K steps and their count; else 0, 0 and `steps`.
  Value split, firstStep, localSteps;
  /// Tensor maps by role, and as the wgmma descriptors read them (the
  /// matrix's box without a batched kernel's leading 1); the pointers the
  /// kernel was given, for NVVM's TMA ops (the dB reduce-add).
  llvm::StringMap<Value> maps, descriptorMaps, mapPointers;
};

} // namespace mlir::lora::cuda

#endif // LORA_LIB_TARGET_CUDA_GEMMKERNELBUILDER_H
