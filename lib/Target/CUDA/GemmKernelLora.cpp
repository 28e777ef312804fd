//===- GemmKernelLora.cpp - t, dB and dA inside the GEMM tiles ------------===//
//
// The parts of GemmKernelBuilder that compute the LoRA branch's skinny
// products inside the main kernel's tiles (GemmKernel.cpp has the kernel
// they live in), each an opt-in pass option of lora-generate-cuda-kernels.
//
// LoRA in one kernel (opt-in, `fuse-lora-down`, r <= 16; not yet run on a
// GPU, correct on the CPU emulator of its PTX, bench/gpu/ptx_emu.py):
// LoraLinear computes t itself from the x boxes its stages hold anyway, and
// there is no LoraDown.
//   main steps each also load A's [64 x 16] slice (2 KiB, SWIZZLE_32B: 32 B
//              rows, the N-major layout wgmma reads at N = 16; descriptors
//              built by hand, upstream's take only 128B swizzle), and each
//              consumer issues four m64n16k16 on its x rows before the
//              step's main wgmma (8 more accumulator registers: 164 at
//              128x256).
//   LoRA step  the producer loads B alone; the consumers write scale·t as
//              the step's x box (128B-swizzled as TMA would, zeros past 16
//              columns) through an f32 scratch, and the first column tile's
//              CTAs store it to t for the backward; [t | B] is one k16.
// It repeats x·A once per column tile: 16/tileN more tensor work (6% at
// 128x256, 12.5% at 128x128) and 2 KiB a stage, against LoraDown's second
// read of x and its launch (17 us against lora_linear's 98 at M = 2048,
// 4096², on the H200). At r = 64 that would be 25%, too much.
// The backward's dx kernel (transposedB, GemmKernel.cpp) is fused the same way:
// dt = s·g·Bᵀ from B's [16 x 64] slices, which are K-major like its W
// boxes (B is [r, N]: rows of 128 B, SWIZZLE_128B, generate.descriptor's
// layout, trans-b 0), so lora_t_grad and its read of g go too (17 us at
// M = 2048, 4096², 40 us for 4096 -> 14336 on the H200). Not yet run on a
// GPU either; correct on the emulator.
//
// dB in the dx kernel too (opt-in, `fuse-lora-b-grad`, with the above; not
// yet run on a GPU). dB = tsᵀ·g contracts over the tokens, and the dx
// kernel's CTAs stream every g box; the column tiles share the main steps
// out (step k to tile k mod tiles), so each box is used once more:
//   loads      the tile's ts rows, [tileM x 16] (32B-swizzled like A's
//              slices), once, with the first step (4 KiB at tileM 128).
//   wgmma      at an owned step each consumer issues four m64n16k16 of
//              gᵀ·ts over its 64 rows before the step's main wgmma, whose
//              wait sees them done: g's box read M-major (trans-a 1, the
//              weight gradients' layout), ts N-major (trans-b 1) as A's
//              slices are read. 8 more accumulator registers.
//   reduce     the consumer writes that 64 x 16 f32 part of
//              dBᵀ[64k : 64k + 64, :] to shared memory of its own and adds
//              it into dBᵀ [N, r] (f32, zeroed by the launcher) with a TMA
//              reduce-add; its issuer waits for the read only before the
//              next owned step writes the part again. The f32 sums land in
//              the order the CTAs issue them, not a fixed one.
// Work: 2·M·N·16 flops on the tensor cores (16/K of the dx kernel's, 0.4%
// at K = 4096); M/64 · N · r · 4 bytes of reduce-adds into the L2 (8 MiB
// at M = 2048, N = 4096, r = 16); one more read of ts. It replaces
// lora_b_grad, which read g (16 MiB there) and took ~15 us on the H200 at
// M = 2048 (h200-311ab7e). Not with a persistent kernel.
//
// dA as well (opt-in, `fuse-lora-a-grad`, with the above; not yet run on a
// GPU). dA = xᵀ·dt needs dt complete, so it comes after the LoRA step, and
// x, which the dx kernel does not stream:
//   loads      the producer waits for every stage's release (the last one
//              too, which the consumers then release), and loads the dx
//              tile's block of x, [tileM x tileN] (64 KiB at 128x256), into
//              the stages, on a barrier of its own.
//   dt         meanwhile each consumer writes its 64 rows of dt as stored
//              (scale·t rounded) N-major, 32B-swizzled, into the ts region,
//              which the main loop no longer reads; both consumers sync.
//   wgmma      consumer c takes the 64-column blocks q = c, c + consumers:
//              per block tileM / 16 m64n16k16 of xᵀ·dt (x M-major, trans-a
//              1, like g for dB), restarted by scale-d 0, waited for.
//   reduce     each part by mma.store into the stages past the x block and
//              a TMA reduce-add into dA rows n0 + 64q (f32 [K, r], zeroed
//              by the launcher); the issuer waits for the reads before the
//              epilogue takes the stages.
// Work: 2·M·K·16 flops (16/N of the kernel's); x read once more, by the
// kernel's CTAs, instead of by lora_a_grad (16 MiB and ~15 us at M = 2048,
// 4096², on the H200); M/tileM · K · r · 4 bytes of reduce-adds. The cost
// is each CTA's tail: the x block's load latency and 2 x 8 dependent
// wgmmas before its epilogue.
//
//===----------------------------------------------------------------------===//

#include "GemmKernelBuilder.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::cuda;

/// The wgmma descriptor of an N-major [16 x 16] operand at byte `offset` of
/// dynamic shared memory, in 32 B rows swizzled as TMA's SWIZZLE_32B writes
/// them (upstream's generate.descriptor takes only 128B swizzle): the
/// layout type 3 (32B swizzle) in bits 62-63, the stride between groups of
/// 8 rows (256 B) in bits 32-45 and the distance between 16-column atoms
/// (the 64-row slice: 2 KiB; one atom here) in bits 16-29, both in 16 B
/// units, and the address's bits 4-17 in bits 0-13 (CUTLASS's canonical
/// MN-major SW32 layout, ((8,2,m),(8,k)):((1,8,LBO),(16,SBO)) elements).
Value GemmKernelBuilder::buildSwizzle32Descriptor(Value offset,
                                                  MemRefType type) {
  return UnrealizedConversionCastOp::create(
             b, nvgpu::WarpgroupMatrixDescriptorType::get(ctx, type),
             buildSwizzle32DescriptorBits(offset))
      .getResult(0);
}

Value GemmKernelBuilder::buildSwizzle32DescriptorBits(Value offset) {
  Type i64 = b.getI64Type();
  auto constant = [&](uint64_t value) -> Value {
    return arith::ConstantIntOp::create(b, i64, value);
  };
  Value address = arith::IndexCastOp::create(
      b, i64, arith::AddIOp::create(b, smemAddress, offset));
  Value start = arith::AndIOp::create(
      b, arith::ShRUIOp::create(b, address, constant(4)), constant(0x3FFF));
  // Offsets in 16 B units: 8 rows of 32 B between row groups, the whole
  // 64-row slice between 16-column atoms.
  constexpr uint64_t kLayoutSwizzle32 = 3;
  uint64_t rowGroupStride = 8 * kFusedRank * byteWidth(spec.elementType) / 16;
  uint64_t atomStride = kTileK * kFusedRank * byteWidth(spec.elementType) / 16;
  uint64_t fixed =
      (kLayoutSwizzle32 << 62) | (rowGroupStride << 32) | (atomStride << 16);
  return arith::OrIOp::create(b, start, constant(fixed));
}

/// A fused LoraLinear's work on t at a step (`isMain`: a main one; stage at
/// byte `base`, the consumer's x rows at `aBase`), before the step's main
/// wgmma; returns the t accumulator.
///   main steps: t += x·A[kk:kk+64, :16] as four m64n16k16, issued before
///     the step's main wgmma, whose wait (waitGroup 1; of a transposed w's
///     four ops, the last one's 4) then sees them done: the next step's
///     release of this stage waits for them too.
///   the LoRA step: t is complete (the last main step's wait): the consumer
///     stores it through mma.store to its f32 scratch rows, and writes
///     scale·t as bf16 into its 64 rows of the step's x box, 128B-swizzled
///     as TMA would have (16-byte chunk c of row i at c ^ (i % 8); the
///     stages are 1024-aligned) with zeros past column 16, which B's
///     zero-filled rows past r multiply; then fences the async proxy (the
///     wgmma and the TMA store read it) and syncs its warpgroup. The CTAs
///     of the first column tile store those rows to t for the backward
///     (waited for after the loop, before the epilogue reuses the stages).
/// The backward's dx kernel (transposed w) does the same with g for x and
/// B's K-major slices for A's: dt = scale·g·Bᵀ, stored for dA.
/// At a tile's first step (`restart`) the four restart t (wgmmaChain).
Value GemmKernelBuilder::buildFusedDown(Value isMain, Value base, Value aBase,
                                        Value consumer, Value tAcc,
                                        bool restart) {
  Type elem = spec.elementType;
  Type f32 = b.getF32Type();
  auto tAccType = cast<nvgpu::WarpgroupAccumulatorType>(tAcc.getType());
  auto ifOp = scf::IfOp::create(
      b, isMain,
      [&](OpBuilder &, Location) {
        int64_t width = byteWidth(elem);
        Value slice = arith::AddIOp::create(
            b, base, index(getStageBytes(spec) - getDownSliceBytes(spec)));
        SmallVector<std::pair<Value, Value>> slices;
        for (int64_t j = 0; j < kTileK / kInstrK; ++j) {
          MemRefType aType = smemType({64, kInstrK}, elem);
          MemRefType bType = smemType({kInstrK, kFusedRank}, elem);
          // x: K-major, +32 B along its swizzled rows. A's slice: N-major,
          // +16 rows of 32 B; a transposed A's, K-major like x (its 16 rows
          // of 128 B, 128B-swizzled: generate.descriptor's layout), +32 B.
          Value aDesc = descriptor(
              arith::AddIOp::create(b, aBase, index(j * kInstrK * width)),
              aType, descriptorMaps["x"]);
          Value bDesc =
              spec.transposedB
                  ? descriptor(arith::AddIOp::create(
                                   b, slice, index(j * kInstrK * width)),
                               bType, descriptorMaps["a"])
                  : buildSwizzle32Descriptor(
                        arith::AddIOp::create(
                            b, slice, index(j * kInstrK * kFusedRank * width)),
                        bType);
          slices.push_back({aDesc, bDesc});
        }
        // No wait: the step's main wgmma waits for these.
        if (restart) {
          scf::YieldOp::create(b, wgmmaChain(tAcc, slices, /*transA=*/false,
                                             !spec.transposedB,
                                             /*restart=*/true));
          return;
        }
        Value acc = tAcc;
        for (auto [aDesc, bDesc] : slices)
          acc = nvgpu::WarpgroupMmaOp::create(
              b, tAccType, aDesc, bDesc, b.getI64IntegerAttr(7), UnitAttr(),
              spec.transposedB ? UnitAttr() : b.getUnitAttr(), acc);
        scf::YieldOp::create(b, acc);
      },
      [&](OpBuilder &, Location) {
        // Every consumer stores through the scratch's first 64 rows; its
        // fragment lands at rows 64·c (see GemmKernel.cpp).
        Value scratch = view(index(getDownScratchOffset(spec)),
                             {spec.tileM(), kFusedRank}, f32);
        nvgpu::WarpgroupMmaStoreOp::create(
            b, tAcc, firstRows(scratch, b.getIndexAttr(0), kFusedRank));
        syncWarpgroup(consumer);
        // 64 rows x 8 chunks of 16 B, four per thread.
        Value xBox = view(base, {spec.tileM() * kTileK}, elem);
        auto elemx8 = VectorType::get({8}, elem);
        Value zeros = arith::ConstantOp::create(b, b.getZeroAttr(elemx8));
        int64_t chunks = kTileK * byteWidth(elem) / 16;
        scf::ForOp::create(
            b, threadInWarpgroup, index(64 * chunks), index(128), ValueRange(),
            [&](OpBuilder &, Location, Value i, ValueRange) {
              Value row = arith::AddIOp::create(
                  b, arith::MulIOp::create(b, consumer, index(64)),
                  arith::DivUIOp::create(b, i, index(chunks)));
              Value chunk = arith::RemUIOp::create(b, i, index(chunks));
              Value inT = arith::CmpIOp::create(
                  b, arith::CmpIPredicate::ult, chunk,
                  index(kFusedRank * byteWidth(elem) / 16));
              auto value = scf::IfOp::create(
                  b, inT,
                  [&](OpBuilder &, Location) {
                    scf::YieldOp::create(b, storedTChunk(row, chunk));
                  },
                  [&](OpBuilder &, Location) {
                    scf::YieldOp::create(b, ValueRange{zeros});
                  });
              Value swizzled = arith::XOrIOp::create(
                  b, chunk, arith::RemUIOp::create(b, row, index(8)));
              Value at = arith::AddIOp::create(
                  b, arith::MulIOp::create(b, row, index(kTileK)),
                  arith::MulIOp::create(b, swizzled, index(8)));
              vector::StoreOp::create(b, value.getResult(0), xBox,
                                      ValueRange{at});
              scf::YieldOp::create(b);
            });
        // The first column tile's CTAs store t, read before the epilogue
        // overwrites the stages (its wait is after the loop, off the LoRA
        // step's path).
        issueBulkFromWarpgroup(
            consumer,
            [&] {
              Value rows = arith::MulIOp::create(b, consumer, index(64));
              nvgpu::TmaAsyncStoreOp::create(
                  b,
                  view(arith::AddIOp::create(
                           b, base,
                           arith::MulIOp::create(
                               b, rows, index(kTileK * byteWidth(elem)))),
                       {64, kTileK}, elem),
                  maps["t"],
                  ValueRange{index(0), arith::AddIOp::create(b, m0, rows)},
                  Value());
            },
            /*waitForRead=*/false,
            arith::CmpIOp::create(b, arith::CmpIPredicate::eq, n0, index(0)));
        scf::YieldOp::create(b, tAcc);
      });
  return ifOp.getResult(0);
}

/// Columns 8·chunk .. + 8 of row `row` of a fused LoraLinear's t scratch as
/// the kernel stores t (or dt): scaled, rounded to the element type.
Value GemmKernelBuilder::storedTChunk(Value row, Value chunk) {
  Value scratch = view(index(getDownScratchOffset(spec)),
                       {spec.tileM(), kFusedRank}, b.getF32Type());
  Value v = vector::LoadOp::create(
      b, VectorType::get({8}, b.getF32Type()), scratch,
      ValueRange{row, arith::MulIOp::create(b, chunk, index(8))});
  v = arith::MulFOp::create(b, v, scaleVector());
  return arith::TruncFOp::create(b, VectorType::get({8}, spec.elementType), v);
}

/// The dx kernel's work on dB at a step it owns (`owned`; the consumer's g
/// rows at byte `aBase`), before the step's main wgmma: the consumer's part
/// of dBᵀ[64k : 64k + 64, :] = gᵀ·ts over its 64 rows, four m64n16k16 into
/// `dbAcc` (the last owned step's), the first with scale-d 0; returns it
/// (unchanged at the other steps). g's box is K-major for dx and so
/// M-major for gᵀ (trans-a 1, +16 rows of 128 B per k16, the weight
/// gradients' layout); ts is N-major (trans-b 1) in rows of 32 B,
/// 32B-swizzled as a fused LoraLinear's A slices (+16 rows per k16). One
/// group (wgmmaN16), not waited for: the step's main wgmma waits for it.
Value GemmKernelBuilder::buildBGradStep(Value owned, Value aBase,
                                        Value consumer, Value dbAcc) {
  Type elem = spec.elementType;
  int64_t width = byteWidth(elem);
  auto ifOp = scf::IfOp::create(
      b, owned,
      [&](OpBuilder &, Location) {
        Value tsRows = arith::AddIOp::create(
            b, index(getBGradOffset(spec)),
            arith::MulIOp::create(b, consumer, index(64 * kFusedRank * width)));
        scf::YieldOp::create(b, wgmmaN16(dbAcc, aBase, descriptorMaps["x"],
                                         tsRows, kTileK / kInstrK));
      },
      [&](OpBuilder &, Location) { scf::YieldOp::create(b, dbAcc); });
  return ifOp.getResult(0);
}

/// The descriptor of a k16 slice at byte `offset` of a 128B-swizzled box of
/// `map` read M-major (trans-a 1: 64 columns of 128 B rows); wgmmaChain
/// takes it as it is.
Value GemmKernelBuilder::mMajorDescriptor(Value offset, Value map) {
  return descriptor(offset, smemType({64, kInstrK}, spec.elementType), map);
}

/// Issues the wgmma chain D = Aᵀ·B over `steps` k16 slices, one m64n16k16
/// each, restarting D (wgmmaChain: `acc`, a 64 x 16 accumulator, only lends
/// its registers): A is 64 columns of 128 B rows at byte `aBase`, read
/// M-major (trans-a 1, +16 rows a slice) through `aMap`'s descriptor layout;
/// B is N-major in 32 B rows, 32B-swizzled, at byte `bBase` (trans-b 1, +16
/// rows a slice). One group, not waited for; returns D.
Value GemmKernelBuilder::wgmmaN16(Value acc, Value aBase, Value aMap,
                                  Value bBase, int64_t steps) {
  int64_t width = byteWidth(spec.elementType);
  SmallVector<std::pair<Value, Value>> slices;
  for (int64_t j = 0; j < steps; ++j)
    slices.push_back(
        {mMajorDescriptor(arith::AddIOp::create(
                              b, aBase, index(j * kInstrK * kTileK * width)),
                          aMap),
         buildSwizzle32DescriptorBits(arith::AddIOp::create(
             b, bBase, index(j * kInstrK * kFusedRank * width)))});
  return wgmmaChain(acc, slices, /*transA=*/true, /*transB=*/true,
                    /*restart=*/true);
}

/// After a step it owns (`owned`, step `k`: the main wgmma's wait has seen
/// `dbAcc` done), the consumer writes its part of dBᵀ to its f32 rows of the
/// dB region (once its last reduce-add has read them) and adds them into
/// dBᵀ rows 64k.. with a TMA reduce-add, which clips rows past N and
/// columns past the rank. The issuing thread waits for it only before the
/// rows are written again (and after the loop, with the t store).
void GemmKernelBuilder::reduceBGrad(Value owned, Value consumer, Value k,
                                    Value dbAcc) {
  scf::IfOp::create(b, owned, [&](OpBuilder &, Location) {
    Value isIssuer = arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                           threadInWarpgroup, index(0));
    scf::IfOp::create(b, isIssuer, [&](OpBuilder &, Location) {
      NVVM::CpAsyncBulkWaitGroupOp::create(b, b.getI32IntegerAttr(0),
                                           b.getUnitAttr());
      scf::YieldOp::create(b);
    });
    syncWarpgroup(consumer);
    addPart(dbAcc, getBGradOffset(spec) + getBGradTsBytes(spec), consumer, "db",
            arith::MulIOp::create(b, k, index(kTileK)));
    scf::YieldOp::create(b);
  });
}

/// Writes the consumer's 64 x 16 f32 `part` to its rows of the tileM x 16
/// slot at byte `slot` and adds them into rows `row`.. of map `role` with a
/// TMA reduce-add (committed, not waited for). Every consumer stores
/// through the slot's first 64 rows; its fragment lands at rows 64·c (see
/// GemmKernel.cpp).
void GemmKernelBuilder::addPart(Value part, int64_t slot, Value consumer,
                                StringRef role, Value row) {
  nvgpu::WarpgroupMmaStoreOp::create(
      b, part,
      firstRows(view(index(slot), {spec.tileM(), kFusedRank}, b.getF32Type()),
                b.getIndexAttr(0), kFusedRank));
  issueBulkFromWarpgroup(consumer, [&] {
    Value rows = arith::AddIOp::create(
        b, index(slot),
        arith::MulIOp::create(b, consumer, index(64 * kFusedRank * 4)));
    NVVM::CpAsyncBulkTensorReduceOp::create(
        b, mapPointers[role], sharedPointer(rows), NVVM::TMAReduxKind::ADD,
        NVVM::TMAStoreMode::TILE,
        ValueRange{i32(0), arith::IndexCastOp::create(b, b.getI32Type(), row)},
        Value());
  });
}

/// A dx kernel's dA = xᵀ·dt (GemmKernelSpec::fuseAGrad), after its LoRA
/// step, when dt is complete in the t scratch (f32, unscaled) and the last
/// stage is released:
///   the consumer writes its 64 rows of dt as the kernel stores it (scale·t
///     rounded), N-major and 32B-swizzled (16-byte chunk c of row i at
///     c ^ (i / 4 % 2)), into the ts region, which the main loop no longer
///     reads; fences the async proxy; the consumers sync (each reads every
///     row);
///   waits for the block of x the producer loads into the stages;
///   for each 64-column block q it takes (c, c + consumers, ...): tileM / 16
///     m64n16k16 of xᵀ·dt over the tile's rows (x M-major, trans-a 1, as g
///     for dB) into a part (`registers` lend it registers: wgmmaN16),
///     waited for, stored to its slot's rows 64·c, fenced, and added into dA
///     rows n0 + 64q by a TMA reduce-add; each block's part takes the
///     registers of the one before it (the first, `registers`): lending
///     every block `registers` kept them live past the first, and LLVM
///     copied them between its wgmma.fence and wgmma, which the PTX ISA
///     does not allow (ptxas happened to drop the copies);
///   the issuer waits for the reduce-adds' reads before the epilogue takes
///     the stages.
void GemmKernelBuilder::buildAGrad(Value consumer, Value registers) {
  Type elem = spec.elementType;
  int64_t width = byteWidth(elem);
  int64_t tileM = spec.tileM();
  Value dtRows = view(index(getBGradOffset(spec)), {tileM * kFusedRank}, elem);
  // 64 rows x 2 chunks of 16 B, one per thread.
  int64_t chunks = kFusedRank * width / 16;
  Value row = arith::AddIOp::create(
      b, arith::MulIOp::create(b, consumer, index(64)),
      arith::DivUIOp::create(b, threadInWarpgroup, index(chunks)));
  Value chunk = arith::RemUIOp::create(b, threadInWarpgroup, index(chunks));
  Value rounded = storedTChunk(row, chunk);
  Value swizzled = arith::XOrIOp::create(
      b, chunk,
      arith::RemUIOp::create(b, arith::DivUIOp::create(b, row, index(4)),
                             index(2)));
  vector::StoreOp::create(
      b, rounded, dtRows,
      ValueRange{arith::AddIOp::create(
          b, arith::MulIOp::create(b, row, index(kFusedRank)),
          arith::MulIOp::create(b, swizzled, index(8)))});
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(ctx, NVVM::SharedSpace::shared_cta));
  NVVM::BarrierOp::create(b, Type(), i32(1), i32(128 * spec.consumers),
                          NVVM::BarrierReductionAttr(), Value());
  nvgpu::MBarrierTryWaitParityOp::create(b, xBlockBarrier,
                                         arith::ConstantIntOp::create(b, 0, 1),
                                         index(10000000), index(0));

  int64_t blocks = spec.tileN / kTileK;
  int64_t boxBytes = tileM * kTileK * width;
  int64_t slotBytes = tileM * kFusedRank * 4;
  Value isIssuer = arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                         threadInWarpgroup, index(0));
  for (int64_t slot = 0; slot < getAGradSlots(spec); ++slot) {
    Value q = arith::AddIOp::create(b, consumer, index(slot * spec.consumers));
    Value valid =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ult, q, index(blocks));
    auto ifOp = scf::IfOp::create(
        b, valid,
        [&](OpBuilder &, Location) {
          Value block = arith::MulIOp::create(b, q, index(boxBytes));
          Value part = wgmmaN16(registers, block, descriptorMaps["xa"],
                                index(getBGradOffset(spec)), tileM / kInstrK);
          NVVM::WgmmaWaitGroupSyncOp::create(b, 0);
          addPart(part, getAGradPartsOffset(spec) + slot * slotBytes, consumer,
                  "da",
                  arith::AddIOp::create(
                      b, n0, arith::MulIOp::create(b, q, index(kTileK))));
          scf::YieldOp::create(b, part);
        },
        [&](OpBuilder &, Location) { scf::YieldOp::create(b, registers); });
    registers = ifOp.getResult(0);
  }
  scf::IfOp::create(b, isIssuer, [&](OpBuilder &, Location) {
    NVVM::CpAsyncBulkWaitGroupOp::create(b, b.getI32IntegerAttr(0),
                                         b.getUnitAttr());
    scf::YieldOp::create(b);
  });
}
