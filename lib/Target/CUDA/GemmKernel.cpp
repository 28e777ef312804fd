//===- GemmKernel.cpp - warp-specialized Hopper GEMM kernels --------------===//
//
// The kernels `lora-generate-cuda-kernels` emits, built from the problem's
// shapes with gpu, nvgpu and nvvm ops; upstream's gpu-lower-to-nvvm-pipeline
// takes them to PTX and cubin for sm_90a.
//
// Design of one CTA (tile tileM x tileN of the output, K in steps of 64):
//
//   the last warpgroup (producer): one thread issues TMA copies into a ring of
//     `stages` shared-memory stages. Stage s holds x[tileM x 64] and
//     w[64 x tileN] (tileN/64 boxes of 64x64: 128B swizzle caps a box row at
//     128 bytes), both 128B-swizzled, as wgmma wants them. Before filling a
//     stage it waits on empty[s]; the copies complete on full[s] (expect_tx
//     = the stage's bytes; boxes past the tensor's edge are zero-filled and
//     still count).
//   warpgroups 0..consumers-1: each waits on full[s], issues wgmma for its 64
//     rows (64 x tileN x 64 as m64nNk16 instructions), keeps one wgmma
//     group in flight and releases the previous stage on empty[s]. The
//     accumulator lives in registers (tileN/2 f32 per thread). A tile's
//     first step is peeled: its wgmmas restart the accumulators (scale-d
//     0), as CUTLASS's first k-block does, instead of adding to zeroed
//     registers, whose zeroing LLVM places between the wgmma.fence and the
//     wgmma (ptxas then injects a warpgroup.arrive of its own: C7519).
//   epilogue: each consumer stores its accumulator to shared memory (reusing
//     the stages; rows padded by 8 floats, so that the 8 rows a warp writes
//     at once fall in different banks), scales / adds the bias / converts in
//     registers, and one thread TMA-stores the tile; TMA clips rows past M
//     and columns past N, so no shape needs to divide the tile.
//
// Consumers come first because MLIR 22 lowers nvgpu.warpgroup.mma.store with
// the row 16·(tid.x / 32) + lane / 4 from the raw thread id, not the id in
// the warpgroup: consumer c's fragment lands 64·c rows below the view it is
// given. Every consumer therefore stores through the same view at row 0 of
// the tile, and finds its rows at 64·c (test/Target/CUDA/
// nvgpu-mma-store-rows.mlir pins that lowering).
//
// LoRA, y = x·W + s·(x·A)·B, in two kernels (in one with `fuse-lora-down`,
// GemmKernelLora.cpp):
//   LoraDown   t = s·(x·A), t: [M, r] in the input type. tileM 64 (one
//              consumer), tileN r rounded up to 64: the A boxes are 64 wide
//              and zero-filled past r. Bytes: 2·M·K (x) + 2·K·r + 2·M·r;
//              flops 2·M·K·tileN on the tensor cores, memory-bound. Where
//              its M/64 row tiles are few (32 at M = 2048), a cluster of
//              `splits` CTAs (up to 8, at least 16 K steps each) shares
//              each tile's K steps: each sums its run into its staging
//              tile, and after a cluster barrier the first CTA adds the
//              others' from their shared memory (mapa, in rank order: the
//              same bits every run), scales and stores t; a second barrier
//              keeps the others alive until it has read them. One variant
//              per split count, the fewest that give 7/8 of the SMs a CTA:
//              where the row tiles alone do (M > 7360), one CTA takes all
//              of K, and its fixed cost (filling and draining 14 stages,
//              the prologue) is paid once per 64 rows, not once per split.
//              The split had been fixed by K (4 at K = 4096) at every M:
//              at M = 16384 that was 1024 CTAs of 16 steps, about 8 waves
//              of 9 us for 4 us of streaming each (71 us in all for x's
//              31); all of K per CTA is 2 waves of 64 steps, predicted
//              about 40 us. Not yet run on a GPU.
//   LoraLinear the main kernel with ceil(r/64) more K steps that load t
//              [tileM x 64] and B [64 x tileN] (zero-filled past r) into the
//              same stage slots: [x | t]·[W ; B]. Extra work over x·W alone:
//              (ceil(r/64)·64)/K of the K loop (1.6% at K = 4096, r ≤ 64);
//              extra bytes 2·M·r + 2·r·N.
// So the LoRA forward costs x·W plus one read of x (LoraDown), instead of the
// three matmuls, the intermediate round trips and the add of PEFT's eager
// code. Measured on an H200 (bench/gpu/results/h200-311ab7e.txt, each
// kernel launched alone): LoraLinear 2-4% over the Matmul kernel; LoraDown
// at K = 4096, r = 16 took 8.5 us at M = 128, 17 at 2048 (x is 16 MiB: 4 us
// at the memory's 4.3 TB/s) and 71 at 16384 (x: 31 us). That is most of
// the gap to cuBLAS's x·W alone, and LoraDown is where to look next: the
// split halved it at M = 128 and left M = 2048 where 14 stages had put it
// (from about 25 us with 4).
//
// Per CTA of LoraLinear at tileM 128, tileN 256, K 4096: 64 x 48 KiB stages
// loaded, 2·128·256·4096 = 268 MFLOP, 85 flop per shared-memory byte.
//
// Tiles, stages and shared memory: GemmTiling.cpp and GemmLayout.h.
//
// TMA multicast (`multicast = 2`, opt-in: pass option `multicast=2`; not yet
// run on a GPU, correct on the emulator). On an H200 both LoraLinear (48 KiB
// a stage in ~1300 clk at M = 2048) and LoraDown moved about one 128 B box
// row per 3.4 clk per SM; if the TMA's row rate is the bound, a 128x256
// stage's 384 box rows cost more than its 1024 clk of wgmma. Two CTAs of a
// column, consecutive row tiles, form a (1, 2, 1) cluster, as CUTLASS's 2x1
// clusters do:
//   loads      each loads its own x box and half of the w side's boxes
//              (rank r: boxes r, r + 2, ...; of a transposed w, the r-th
//              half of its tileN rows, the box halved in the tensor map)
//              with multicast mask 0b11, landing at the same offset in both
//              CTAs and completing on both CTAs' full[s] (each expects the
//              whole stage's bytes). Per stage and CTA: 128 + tileN/2 box
//              rows instead of 128 + tileN (256 of 384 at 128x256), and the
//              L2 serves w once per pair.
//   empty[s]   the peer writes this CTA's stage, so a stage is refilled
//              only when both CTAs' consumers are done with it: empty[s]
//              counts one arrival per consumer warpgroup of the cluster
//              (4), lane 0 of warp d arriving on CTA d's barrier (mapa,
//              release at cluster scope) once the warpgroup's wgmma has
//              read the stage. Those barriers live in dynamic shared memory
//              after the bias (mapa needs their address).
//   start/end  a cluster barrier after the barriers' init; the consumers
//              release the last stage too, and the producer waits for
//              every stage's release before it exits (no arrive may reach
//              an exited CTA).
//   grid       y is the pairs and the rank (rank fastest), rounded up to a
//              whole pair: a CTA past M still loads its half of w for its
//              peer (x zero-filled) and its store is clipped away. The
//              raster orders pairs, 4 to a group (8 row tiles, as before).
// Only the tiles of two consumers with an even number of w boxes qualify
// (128x256, 128x128): not the 64x64 tiles, LoraDown, the weight gradients
// (their clusters split K) or batched kernels.
//
// The direct epilogue (opt-in, pass option `direct-epilogue`; not yet run on
// a GPU, correct on the emulator). The staging epilogue above moves each
// output element through shared memory three times: the f32 accumulator
// written by mma.store, read back, and the converted value written for the
// TMA store (at 128x256 with a bf16 output, 128 + 128 + 64 KiB a tile, and
// its 199 KiB are why the epilogue cannot have room of its own). Instead
// each consumer converts its fragment in registers (members of the lowered
// accumulator, at the PTX ISA's D layout: pairs of columns) and writes the
// pairs once, 128B-swizzled, into boxes of 128 B columns, 64 KiB a tile, for
// one TMA store per box (buildDirectEpilogue). Not for LoraDown or a split
// kernel (staging tiles summed across the cluster). Predicted: the
// epilogue's shared-memory time a third of what it was, worth 1-2% of a
// 128x256 tile's time; and the first step towards an epilogue with room of
// its own (a persistent kernel that loads the next tile meanwhile).
//
// Persistent kernels (opt-in, pass option `persistent=<CTAs>`, at most
// that many CTAs: 132 fills an H100 SXM or H200; not yet run on a GPU,
// correct on the emulator). One CTA per tile pays for its launch, its
// barriers' init, the fill of its pipeline (the first TMA loads' latency
// with nothing to compute) and an epilogue during which the SM's tensor
// cores and TMA idle, once per tile: at M = 2048, 4096², 128x256 tiles,
// twice per SM. A
// persistent kernel launches min(tiles, CTAs, SMs) CTAs, each taking tiles
// blockIdx.x, + gridDim.x, ... in the order the grid would (forEachTile):
//   pipeline   the producer and the consumers number the K steps of all
//              their tiles in one sequence, so a stage's use and parity
//              carry on from tile to tile, and the producer fills the next
//              tile's first stages as soon as the consumers release the last
//              tile's (the last stage too, after the main loop).
//   epilogue   the direct one, into a tile of shared memory of its own
//              after the stages (64 KiB at 128x256: 3 stages instead of 4),
//              so the producer's loads go on under it; the issuer waits for
//              its TMA stores' reads only before the next tile's epilogue
//              writes the tile again, and once before the CTA exits.
//   SMs        the GPU's own count, which the launcher asks the runtime
//              for (loraCudaMultiprocessorCount).
//   PDL        a CTA's first launch_dependents is the one that counts, so a
//              consumer signals it on its last tile.
// M comes as an index argument (the tile count). Not for a split, multicast
// or batched kernel, nor with a bias (the bias tile would change under the
// epilogue that reads it), nor where the epilogue tile would leave fewer
// than 3 stages (an f32 output at 128x256). Predicted: 2-4% of the 128x256
// kernels at M = 2048 (a tile's fill and epilogue, ~1.5-2 us of its ~49,
// hidden once per SM), more where each SM has many tiles (M = 16384: 15-16
// of them), nothing at M = 128 (a tile per SM), less if 3 stages do not
// keep the tensor cores fed.
//
// Programmatic dependent launch (PDL): every kernel waits in
// griddepcontrol.wait after its barriers' init and the tensor maps'
// prefetch, before its first load or store, and its consumers signal
// griddepcontrol.launch_dependents once past the main loop. Launched with
// programmatic stream serialization, a kernel's launch, CTA dispatch and
// prologue then overlap the tail (the epilogue, the last wave) of the one
// before it in the stream; launched plainly, as lora-opt's runtime does
// today, both return at once (ptxas: the same registers). bench/gpu/ times
// a case's launches both ways and checks they write the same bits. Not yet
// run on a GPU.
//
// Transposed operands (the backward of lora.linear reads every tensor in the
// layout the forward stores it, see GenerateCudaKernels.cpp):
//   transposedB  w, a, b stored [n, k]: one tileN x 64 box per stage, which
//                is wgmma's K-major B (trans-b 0). dx = g·Wᵀ + dt·Aᵀ is the
//                LoraLinear kernel on [g | dt] and [Wᵀ ; Aᵀ] this way, and
//                dt = s·g·Bᵀ a LoraDown.
//   transposedA  x stored [k, m]: tileM/64 boxes of 64 x 64 per stage, an
//                M-major A (trans-a 1), one box per consumer. The weight
//                gradients dB = tsᵀ·g and dA = xᵀ·dt contract over the
//                token count this way: a dynamic K (an index argument),
//                static M, 64x64 tiles for more CTAs.
// Batched (the attention's q·kᵀ and probabilities·v, [B, M, K]·[B, K, N]):
// the same kernel with every tensor map rank 3, the batch outermost with a
// box of 1, and the grid's x over the batch's column tiles (block x = batch
// · column tiles + column tile; z would cap B at 65535). The wgmma
// descriptors read the same maps as rank 2: generate.descriptor takes its
// leading byte offset from the box's first dim. A CTA's boxes never reach
// into the next matrix: TMA zero-fills and clips each dimension on its own,
// so M, N and K need not divide the tile here either. Shared memory, stages
// and epilogue are unchanged; the copies only gain a coordinate.
//
// Upstream's nvgpu.warpgroup.mma lowering steps its descriptors through K
// only for a K-major A and an M/N-major B, so these kernels issue one op per
// k16 instruction on descriptors of their own (K-major: +32 B along the
// swizzled row; M/N-major: +16 rows of 128 B). Bytes per stage, stage count
// and epilogue are the same as above. dx costs what the forward does; the
// weight gradients read g (or x) once more each, 2·M·N·2 + 2·M·K·2 bytes,
// for 2·M·r·(N + K) flops: memory-bound, like LoraDown. Their 64x64 tiles
// are few (dA of a 4096 x 16 adapter: 64, dB of a 1024-wide layer: 16), and
// on an H200 one CTA streamed about 34 GB/s (h200-311ab7e: dA at 16384
// tokens, 64 CTAs, 66 us for x's 128 MiB, 2.1 TB/s), so where M is long
// enough they split the tokens over a cluster as LoraDown splits K (block
// x = column tile · splits + split; steps per split from the token count
// at run time), predicted about twice as fast there. Not yet run on a
// GPU.
//
//===----------------------------------------------------------------------===//

#include "lora/Target/Cuda.h"

#include "GemmKernelBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::cuda;

std::pair<Value, Value> cuda::buildTileRaster(OpBuilder &b, Location loc,
                                              Value blockX, Value blockY,
                                              Value rowTiles,
                                              int64_t columnTiles,
                                              int64_t groupRows) {
  auto index = [&](int64_t value) -> Value {
    return arith::ConstantIndexOp::create(b, loc, value);
  };
  auto mul = [&](Value lhs, Value rhs) {
    return b.createOrFold<arith::MulIOp>(loc, lhs, rhs);
  };
  Value linear = b.createOrFold<arith::AddIOp>(
      loc, mul(blockY, index(columnTiles)), blockX);
  // Group g holds row tiles [g·groupRows, +groupRows), the last one fewer:
  // `rows` of them, each CTA of the group in turn one row further down.
  Value groupCtas = index(groupRows * columnTiles);
  Value group = b.createOrFold<arith::DivUIOp>(loc, linear, groupCtas);
  Value firstRow = mul(group, index(groupRows));
  Value rows = b.createOrFold<arith::MinUIOp>(
      loc, b.createOrFold<arith::SubIOp>(loc, rowTiles, firstRow),
      index(groupRows));
  Value inGroup = b.createOrFold<arith::RemUIOp>(loc, linear, groupCtas);
  Value row = b.createOrFold<arith::AddIOp>(
      loc, firstRow, b.createOrFold<arith::RemUIOp>(loc, inGroup, rows));
  Value column = b.createOrFold<arith::DivUIOp>(loc, inGroup, rows);
  return {row, column};
}

/// Parity of the phase of a stage barrier at step `k`: stage k % stages is
/// on its (k / stages)-th use. The producer waits for the previous use to be
/// released (`flip`): on a fresh barrier that returns at once.
Value GemmKernelBuilder::parity(Value k, bool flip) {
  Value use = arith::DivUIOp::create(b, k, index(spec.stages));
  Value bit = arith::AndIOp::create(b, use, index(1));
  if (flip)
    bit = arith::XOrIOp::create(b, bit, index(1));
  return arith::IndexCastOp::create(b, b.getI1Type(), bit);
}

/// A pointer to byte `offset` of this CTA's dynamic shared memory.
Value GemmKernelBuilder::sharedPointer(Value offset) {
  return LLVM::IntToPtrOp::create(
      b,
      LLVM::LLVMPointerType::get(
          ctx, static_cast<unsigned>(NVVM::NVVMMemorySpace::Shared)),
      arith::IndexCastOp::create(b, b.getI64Type(),
                                 arith::AddIOp::create(b, smemAddress, offset)),
      LLVM::DereferenceableAttr());
}

/// The same place as `local` in the shared memory of the cluster's CTA
/// `rank` (an i32).
Value GemmKernelBuilder::clusterPointer(Value local, Value rank) {
  return NVVM::MapaOp::create(
      b,
      LLVM::LLVMPointerType::get(
          ctx, static_cast<unsigned>(NVVM::NVVMMemorySpace::SharedCluster)),
      local, rank);
}

/// The wgmma descriptor of a `type` operand at byte `offset` of dynamic
/// shared memory, loaded through tensor map `map` (generate.descriptor
/// takes the swizzle and the leading byte offset from it).
Value GemmKernelBuilder::descriptor(Value offset, MemRefType type, Value map) {
  return nvgpu::WarpgroupGenerateDescriptorOp::create(
      b, nvgpu::WarpgroupMatrixDescriptorType::get(ctx, type),
      view(offset, type.getShape(), type.getElementType()), map);
}

/// The address of a multicast kernel's empty[stage], in this CTA's shared
/// memory.
Value GemmKernelBuilder::emptyBarrier(Value stage) {
  return sharedPointer(
      arith::AddIOp::create(b, index(getEmptyBarriersOffset(spec)),
                            arith::MulIOp::create(b, stage, index(8))));
}

/// empty[s] completes when every consumer thread has arrived; in a multicast
/// kernel, when one thread of every consumer warpgroup of the cluster has
/// (releaseStage): the stage is refilled in both CTAs at once.
void GemmKernelBuilder::initEmptyBarriers() {
  for (int64_t s = 0; s < spec.stages; ++s) {
    if (spec.multicast == 1)
      nvgpu::MBarrierInitOp::create(b, empty, index(128 * spec.consumers),
                                    index(s), Value());
    else
      NVVM::MBarrierInitOp::create(b, emptyBarrier(index(s)),
                                   i32(spec.consumers * spec.multicast),
                                   Value());
  }
}

/// The producer's wait before it fills step `k`'s stage: until the stage's
/// previous use has been released.
void GemmKernelBuilder::waitEmpty(Value k) {
  Value s = arith::RemUIOp::create(b, k, index(spec.stages));
  if (spec.multicast == 1) {
    nvgpu::MBarrierTryWaitParityOp::create(b, empty, parity(k, /*flip=*/true),
                                           index(10000000), s);
    return;
  }
  NVVM::MBarrierTryWaitParityOp::create(
      b, emptyBarrier(s),
      arith::ExtUIOp::create(b, b.getI32Type(), parity(k, /*flip=*/true)),
      i32(10000000));
}

/// A consumer is done reading `stage`. In a multicast kernel the peer's
/// producer writes this CTA's stage too, so the release goes to every CTA of
/// the cluster: lane 0 of the warpgroup's warp d arrives on CTA d's barrier
/// (mapa). One thread speaks for its warpgroup: the wgmma reading the stage
/// is the warpgroup's, and its wait_group has returned in every thread (as
/// CUTLASS's PipelineTmaAsync releases).
void GemmKernelBuilder::releaseStage(Value stage) {
  if (spec.multicast == 1) {
    nvgpu::MBarrierArriveOp::create(b, empty, stage);
    return;
  }
  Value lane = arith::RemUIOp::create(b, threadInWarpgroup, index(32));
  Value warp = arith::DivUIOp::create(b, threadInWarpgroup, index(32));
  Value speaks = arith::AndIOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lane, index(0)),
      arith::CmpIOp::create(b, arith::CmpIPredicate::ult, warp,
                            index(spec.multicast)));
  scf::IfOp::create(b, speaks, [&](OpBuilder &, Location) {
    Value remote =
        clusterPointer(emptyBarrier(stage),
                       arith::IndexCastOp::create(b, b.getI32Type(), warp));
    NVVM::MBarrierArriveOp::create(b, Type(), remote, Value(),
                                   NVVM::MemScopeKind::CLUSTER);
    scf::YieldOp::create(b);
  });
}

void GemmKernelBuilder::build(gpu::GPUFuncOp func) {
  b.setInsertionPointToStart(&func.getBody().front());
  SmallVector<TensorMapParam> params = getGemmKernelParams(spec);
  for (auto [param, arg] : llvm::zip(params, func.getArguments())) {
    mapPointers[param.role] = arg;
    maps[param.role] =
        UnrealizedConversionCastOp::create(b, tensorMapType(param), arg)
            .getResult(0);
    // generate.descriptor takes the leading byte offset from the box's
    // first dim (see buildConsumer): a batched map's is the batch's 1, so
    // the wgmma descriptors read the same pointer as a rank-2 map.
    TensorMapParam matrix = param;
    if (spec.batched)
      matrix.box.erase(matrix.box.begin());
    descriptorMaps[param.role] =
        spec.batched
            ? UnrealizedConversionCastOp::create(b, tensorMapType(matrix), arg)
                  .getResult(0)
            : maps[param.role];
  }
  // A dynamic K arrives after the tensor maps.
  if (ShapedType::isDynamic(spec.k)) {
    mainSteps = arith::CeilDivUIOp::create(b, func.getArguments().back(),
                                           index(kTileK));
    steps = mainSteps; // Only a Matmul has a dynamic K.
  } else {
    int64_t main = llvm::divideCeil(spec.k, kTileK);
    mainSteps = index(main);
    steps = index(main + getLoraSteps(spec));
  }
  // A persistent kernel's M arrives after the tensor maps.
  if (spec.persistentCtas) {
    rowTiles = arith::CeilDivUIOp::create(b, func.getArguments().back(),
                                          index(spec.tileM()));
    tiles = arith::MulIOp::create(b, rowTiles,
                                  index(llvm::divideCeil(spec.n, spec.tileN)));
  }

  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  // Block x walks the column tiles, in a batched kernel those of every
  // matrix (grid z would cap the batch at 65535, x allows 2^31 - 1).
  // Otherwise, where w is large, the tiles in groups of rows
  // (buildTileRaster).
  int64_t columnTiles = llvm::divideCeil(spec.n, spec.tileN);
  Value columnTile = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value rowTile = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  // A multicast kernel's cluster is `multicast` CTAs along y (block y is
  // the pair and the rank in it, the rank fastest): the raster orders the
  // pairs, and the pair's CTAs take consecutive row tiles of one column.
  if (spec.multicast > 1) {
    clusterRank = arith::RemUIOp::create(b, rowTile, index(spec.multicast));
    rowTile = arith::DivUIOp::create(b, rowTile, index(spec.multicast));
  }
  if (spec.batched) {
    batchIndex = arith::DivUIOp::create(b, columnTile, index(columnTiles));
    columnTile = arith::RemUIOp::create(b, columnTile, index(columnTiles));
  } else if (columnTiles > 1 && !ShapedType::isDynamic(spec.k) &&
             spec.k * spec.n * byteWidth(spec.elementType) >
                 kRasterMinWeightBytes) {
    Value rowTiles = gpu::GridDimOp::create(b, gpu::Dimension::y);
    if (spec.multicast > 1)
      rowTiles = arith::DivUIOp::create(b, rowTiles, index(spec.multicast));
    std::tie(rowTile, columnTile) =
        buildTileRaster(b, b.getLoc(), columnTile, rowTile, rowTiles,
                        columnTiles, kRasterGroupRows / spec.multicast);
  }
  if (spec.multicast > 1)
    rowTile = arith::AddIOp::create(
        b, arith::MulIOp::create(b, rowTile, index(spec.multicast)),
        clusterRank);
  // A split kernel: block x is the column tile and the split, the split
  // fastest, so a cluster's CTAs share one output tile (LoraDown's t has
  // one column tile: block x is the split). Split i takes steps
  // [i·perSplit, +perSplit), the last one what is left; a weight gradient's
  // perSplit comes from the token count at run time.
  split = index(0);
  firstStep = index(0);
  localSteps = steps;
  if (spec.splits > 1) {
    assert(!spec.batched && "no batched kernel splits");
    assert((columnTiles == 1 || ShapedType::isDynamic(spec.k)) &&
           "no split in a rastered grid");
    if (columnTiles == 1) {
      split = columnTile;
      columnTile = index(0);
    } else {
      split = arith::RemUIOp::create(b, columnTile, index(spec.splits));
      columnTile = arith::DivUIOp::create(b, columnTile, index(spec.splits));
    }
    Value perSplit =
        ShapedType::isDynamic(spec.k)
            ? arith::CeilDivUIOp::create(b, steps, index(spec.splits))
                  .getResult()
            : index(llvm::divideCeil(llvm::divideCeil(spec.k, kTileK),
                                     spec.splits));
    firstStep = arith::MulIOp::create(b, split, perSplit);
    localSteps = arith::MinSIOp::create(
        b, arith::SubIOp::create(b, steps, firstStep), perSplit);
    // Few tokens can leave the last splits none.
    if (ShapedType::isDynamic(spec.k))
      localSteps = arith::MaxSIOp::create(b, localSteps, index(0));
  }
  n0 = arith::MulIOp::create(b, columnTile, index(spec.tileN));
  m0 = arith::MulIOp::create(b, rowTile, index(spec.tileM()));
  smem = memref::GetGlobalOp::create(b, smemType({0}, b.getI8Type()),
                                     kDynamicSmemName);
  if (spec.multicast > 1 || spec.splits > 1 || spec.fuseDown || spec.fuseBGrad)
    smemAddress = memref::ExtractAlignedPointerAsIndexOp::create(b, smem);
  auto group = [&](int64_t count) {
    return nvgpu::MBarrierCreateOp::create(
        b, nvgpu::MBarrierGroupType::get(ctx, smemSpace, count));
  };
  full = group(spec.stages);
  if (spec.multicast == 1)
    empty = group(spec.stages);
  if (spec.hasBias)
    biasBarrier = group(1);
  if (spec.fuseAGrad)
    xBlockBarrier = group(1);

  // Thread 0 initialises the barriers: full[s] completes on the producer's
  // arrive plus the TMA bytes, empty[s] when every consumer thread arrived.
  Value leader =
      arith::CmpIOp::create(b, arith::CmpIPredicate::eq, tid, index(0));
  scf::IfOp::create(b, leader, [&](OpBuilder &, Location) {
    for (int64_t s = 0; s < spec.stages; ++s)
      nvgpu::MBarrierInitOp::create(b, full, index(1), index(s), Value());
    initEmptyBarriers();
    if (spec.hasBias)
      nvgpu::MBarrierInitOp::create(b, biasBarrier, index(1), index(0),
                                    Value());
    if (spec.fuseAGrad)
      nvgpu::MBarrierInitOp::create(b, xBlockBarrier, index(1), index(0),
                                    Value());
    for (const TensorMapParam &param : params)
      nvgpu::TmaPrefetchOp::create(b, maps[param.role], Value());
    // Make the initialised barriers visible to the TMA unit (and to the
    // cluster's other CTAs).
    NVVM::FenceMbarrierInitOp::create(b);
    scf::YieldOp::create(b);
  });
  // A multicast kernel's peer writes this CTA's stages and arrives on its
  // barriers: both CTAs' barriers must be initialised first.
  if (spec.multicast > 1)
    clusterSync();
  else
    gpu::BarrierOp::create(b);
  // Launched with programmatic stream serialization (PDL), the kernel may
  // start while the one before it in the stream still runs: everything
  // above (barriers, the tensor maps' prefetch: the host wrote them) can
  // overlap its tail, nothing below may touch what it writes before it has
  // completed. Without PDL this returns at once.
  NVVM::GriddepcontrolOp::create(b, NVVM::GridDepActionKind::wait);

  // The warpgroup index, read from lane 0 with a shuffle: ptxas then knows it
  // is warp-uniform. Computed as tid / 128 alone, the role branch looks
  // divergent and ptxas serializes every wgmma (warning C7520), as it
  // would in CUTLASS without canonical_warp_group_idx().
  Value warpgroupI32 = arith::IndexCastUIOp::create(
      b, b.getI32Type(), arith::DivUIOp::create(b, tid, index(128)));
  Value warpgroup = arith::IndexCastUIOp::create(
      b, b.getIndexType(),
      gpu::ShuffleOp::create(b, warpgroupI32, i32(0), i32(32),
                             gpu::ShuffleMode::IDX)
          .getShuffleResult());
  threadInWarpgroup = arith::RemUIOp::create(b, tid, index(128));
  Value isProducer = arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                           warpgroup, index(spec.consumers));
  bool rebalance = rebalancesRegisters(spec);
  scf::IfOp::create(
      b, isProducer,
      [&](OpBuilder &, Location) {
        if (rebalance)
          NVVM::SetMaxRegisterOp::create(b, kProducerRegisters,
                                         NVVM::SetMaxRegisterAction::decrease);
        buildProducer();
        scf::YieldOp::create(b);
      },
      [&](OpBuilder &, Location) {
        if (rebalance)
          NVVM::SetMaxRegisterOp::create(b, kConsumerRegisters,
                                         NVVM::SetMaxRegisterAction::increase);
        buildConsumer(warpgroup);
        scf::YieldOp::create(b);
      });
  if (spec.splits > 1) {
    // Every CTA's partial sum is in its staging tile: the first CTA adds
    // them and stores t. Its reads of the others' shared memory end before
    // they exit (the second barrier).
    clusterSync();
    Value isFirst = arith::AndIOp::create(
        b,
        arith::CmpIOp::create(b, arith::CmpIPredicate::eq, split, index(0)),
        arith::CmpIOp::create(b, arith::CmpIPredicate::ult, warpgroup,
                              index(spec.consumers)));
    scf::IfOp::create(b, isFirst, [&](OpBuilder &, Location) {
      buildEpilogue(warpgroup);
      scf::YieldOp::create(b);
    });
    clusterSync();
  }
  gpu::ReturnOp::create(b);
}

/// Loads K step `kk` into the stage at byte `base` (barrier full[s]) from
/// `aMap` (a tileM x 64 box at column kk, or tileM/64 64 x 64 boxes at row
/// kk of a transposed x; none for a null map) and from `bMap` (tileN/64
/// 64 x 64 boxes at row kk, or one tileN x 64 box at column kk of a
/// transposed w). A multicast kernel's CTA of rank r loads the w side's
/// boxes r, r + multicast, ... (of a transposed w, the r-th 1/multicast of
/// its rows) into both CTAs of the cluster, at the same offset, completing
/// on the same stage's barrier in each.
void GemmKernelBuilder::loadStep(Value s, Value base, Value aMap, Value bMap,
                                 Value kk) {
  Type elem = spec.elementType;
  int64_t aBytes = spec.tileM() * kTileK * byteWidth(elem);
  int64_t boxBytes = kTileK * kTileK * byteWidth(elem);
  auto box = [&](Value offset, ArrayRef<int64_t> shape, Value map, Value col,
                 Value row, Value mask = Value()) {
    nvgpu::TmaAsyncLoadOp::create(
        b, tmaView(arith::AddIOp::create(b, base, offset), shape, elem), full,
        map, tmaCoords({col, row}), s, mask, Value());
  };
  if (!aMap) {
    // No x side (a fused LoraLinear's LoRA step).
  } else if (spec.transposedA) {
    for (int64_t i = 0; i < spec.consumers; ++i)
      box(index(i * boxBytes), {kTileK, kTileK}, aMap,
          arith::AddIOp::create(b, m0, index(i * 64)), kk);
  } else {
    box(index(0), {spec.tileM(), kTileK}, aMap, kk, m0);
  }
  if (spec.multicast > 1) {
    Value mask = arith::ConstantIntOp::create(b, (1 << spec.multicast) - 1, 16);
    if (spec.transposedB) {
      int64_t rows = spec.tileN / spec.multicast;
      box(arith::AddIOp::create(
              b, index(aBytes),
              arith::MulIOp::create(b, clusterRank,
                                    index(rows * kTileK * byteWidth(elem)))),
          {rows, kTileK}, bMap, kk,
          arith::AddIOp::create(
              b, n0, arith::MulIOp::create(b, clusterRank, index(rows))),
          mask);
    } else {
      for (int64_t i = 0; i < spec.tileN / kTileK; i += spec.multicast) {
        Value j = arith::AddIOp::create(b, clusterRank, index(i));
        box(arith::AddIOp::create(b, index(aBytes),
                                  arith::MulIOp::create(b, j, index(boxBytes))),
            {kTileK, kTileK}, bMap,
            arith::AddIOp::create(b, n0,
                                  arith::MulIOp::create(b, j, index(kTileK))),
            kk, mask);
      }
    }
  } else if (spec.transposedB) {
    box(index(aBytes), {spec.tileN, kTileK}, bMap, kk, n0);
  } else {
    for (int64_t j = 0; j < spec.tileN / kTileK; ++j)
      box(index(aBytes + j * boxBytes), {kTileK, kTileK}, bMap,
          arith::AddIOp::create(b, n0, index(j * kTileK)), kk);
  }
}

/// Loads a fused LoraLinear's slice of A for K step `kk` into the end of
/// the stage at byte `base`, after the w side: rows kk.. of A, or columns
/// kk.. of a transposed A.
void GemmKernelBuilder::loadDownSlice(Value s, Value base, Value kk) {
  SmallVector<int64_t> shape{kTileK, kFusedRank};
  SmallVector<Value> coords{index(0), kk};
  if (spec.transposedB) {
    std::swap(shape[0], shape[1]);
    std::swap(coords[0], coords[1]);
  }
  Value offset = arith::AddIOp::create(
      b, base, index(getStageBytes(spec) - getDownSliceBytes(spec)));
  nvgpu::TmaAsyncLoadOp::create(b, view(offset, shape, spec.elementType), full,
                                maps["a"], coords, s, Value(), Value());
}

void GemmKernelBuilder::buildProducer() {
  Value isIssuer = arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                         threadInWarpgroup, index(0));
  int64_t stageBytes = getStageBytes(spec);
  Type elem = spec.elementType;
  bool lora = spec.kind == GemmKind::LoraLinear;
  StringRef bRole = spec.kind == GemmKind::LoraDown ? "a" : "w";

  scf::IfOp::create(b, isIssuer, [&](OpBuilder &, Location) {
    if (spec.hasBias) {
      nvgpu::MBarrierArriveExpectTxOp::create(
          b, biasBarrier, index(getBiasBytes(spec)), index(0), Value());
      nvgpu::TmaAsyncLoadOp::create(
          b, view(index(getBiasOffset(spec)), {spec.tileN}, elem), biasBarrier,
          maps["bias"], ValueRange{n0}, index(0), Value(), Value());
    }
    forEachTile([&](Value slotBase) {
      scf::ForOp::create(
          b, index(0), localSteps, index(1), ValueRange(),
          [&](OpBuilder &, Location, Value local, ValueRange) {
            // The step's pipeline slot: its stage and the stage's use.
            Value slot = b.createOrFold<arith::AddIOp>(slotBase, local);
            Value s = arith::RemUIOp::create(b, slot, index(spec.stages));
            Value k =
                spec.splits > 1
                    ? arith::AddIOp::create(b, firstStep, local).getResult()
                    : local;
            Value isMain;
            if (lora)
              isMain = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, k,
                                             mainSteps);
            waitEmpty(slot);
            // A fused LoraLinear's LoRA step loads B alone: the consumers
            // write its x box (t).
            Value txBytes = index(stageBytes);
            if (spec.fuseDown)
              txBytes = arith::SelectOp::create(
                  b, isMain, txBytes,
                  index(spec.tileN * kTileK * byteWidth(elem)));
            // A dx kernel that computes dB loads the tile's ts rows with its
            // first step.
            Value isFirst;
            if (spec.fuseBGrad) {
              isFirst = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, k,
                                              index(0));
              txBytes = arith::SelectOp::create(
                  b, isFirst,
                  arith::AddIOp::create(b, txBytes,
                                        index(getBGradTsBytes(spec))),
                  txBytes);
            }
            nvgpu::MBarrierArriveExpectTxOp::create(b, full, txBytes, s,
                                                    Value());
            Value base = arith::MulIOp::create(b, s, index(stageBytes));
            Value kk = arith::MulIOp::create(b, k, index(kTileK));
            if (!lora) {
              loadStep(s, base, maps["x"], maps[bRole], kk);
            } else {
              // Steps past K read [t | B] in the same slots.
              scf::IfOp::create(
                  b, isMain,
                  [&](OpBuilder &, Location) {
                    loadStep(s, base, maps["x"], maps["w"], kk);
                    if (spec.fuseDown)
                      loadDownSlice(s, base, kk);
                    if (spec.fuseBGrad)
                      scf::IfOp::create(b, isFirst, [&](OpBuilder &, Location) {
                        nvgpu::TmaAsyncLoadOp::create(
                            b,
                            view(index(getBGradOffset(spec)),
                                 {spec.tileM(), kFusedRank}, elem),
                            full, maps["ts"], ValueRange{index(0), m0}, s,
                            Value(), Value());
                        scf::YieldOp::create(b);
                      });
                    scf::YieldOp::create(b);
                  },
                  [&](OpBuilder &, Location) {
                    Value kr = arith::SubIOp::create(
                        b, kk,
                        arith::MulIOp::create(b, mainSteps, index(kTileK)));
                    loadStep(s, base, spec.fuseDown ? Value() : maps["t"],
                             maps["b"], kr);
                    scf::YieldOp::create(b);
                  });
            }
            scf::YieldOp::create(b);
          });
    });
    // A multicast kernel's CTA stays until every consumer of the cluster has
    // released every stage: an arrive on the barrier of a CTA that has
    // exited is undefined (CUTLASS's producer tail). A stage never used
    // returns at once, as on its first fill. A dx kernel that computes dA
    // waits so too, then loads its tile's block of x into the stages.
    if (spec.multicast > 1 || spec.fuseAGrad)
      scf::ForOp::create(
          b, localSteps,
          arith::AddIOp::create(b, localSteps, index(spec.stages)), index(1),
          ValueRange(), [&](OpBuilder &, Location, Value k, ValueRange) {
            waitEmpty(k);
            scf::YieldOp::create(b);
          });
    if (spec.fuseAGrad) {
      int64_t boxBytes = spec.tileM() * kTileK * byteWidth(elem);
      nvgpu::MBarrierArriveExpectTxOp::create(b, xBlockBarrier,
                                              index(getAGradXBlockBytes(spec)),
                                              index(0), Value());
      for (int64_t q = 0; q < spec.tileN / kTileK; ++q)
        nvgpu::TmaAsyncLoadOp::create(
            b, view(index(q * boxBytes), {spec.tileM(), kTileK}, elem),
            xBlockBarrier, maps["xa"],
            ValueRange{arith::AddIOp::create(b, n0, index(q * kTileK)), m0},
            index(0), Value(), Value());
    }
    scf::YieldOp::create(b);
  });
}

/// The wgmma of one K step, on the consumer's x rows at byte `aBase` and
/// the w side at `bBase`, accumulating into `acc`: all four k16 of the
/// step, or at a fused LoraLinear's LoRA step (`isMain` false) only the
/// first (t's 16 columns; the other three would multiply zeros). With
/// `restart` (a tile's first step) the step's product replaces `acc`
/// (wgmmaChain).
Value GemmKernelBuilder::mmaStep(Value isMain, Value aBase, Value bBase,
                                 Value acc, bool restart) {
  Type elem = spec.elementType;
  Type accType = acc.getType();
  StringRef bRole = spec.kind == GemmKind::LoraDown ? "a" : "w";
  // Both x and t (w and b) have the same tensor map type. generate.descriptor
  // reads the swizzle from it and the leading byte offset from its box: for
  // w, 64 rows x 128 B = 8 KiB, the distance between the 64-column boxes of a
  // stage (for x, K-major and swizzled, wgmma ignores it). Its K step for B
  // assumes a box row of kTileK elements spans the 128 B swizzle.
  Value aMap = descriptorMaps["x"], bMap = descriptorMaps[bRole];
  // Issues `k16s` k16 instructions of the step from `in`.
  auto issue = [&](int64_t k16s, Value in) -> Value {
    if (!restart && !spec.transposedA && !spec.transposedB) {
      // One op for them all; upstream's lowering steps its descriptors
      // through K for a K-major x and an N-major w. waitGroup 1: this
      // step's wgmma may still run, the previous one has finished reading
      // its stage, which can be refilled.
      int64_t depth = k16s * kInstrK;
      return nvgpu::WarpgroupMmaOp::create(
          b, accType, descriptor(aBase, smemType({64, depth}, elem), aMap),
          descriptor(bBase, smemType({depth, spec.tileN}, elem), bMap),
          b.getI64IntegerAttr(1), UnitAttr(), b.getUnitAttr(), in);
    }
    // Descriptors of our own, one per k16 instruction: upstream steps a
    // descriptor through K only for the layout above, and its op has no
    // scale-d. A K-major operand (x, or a transposed w) advances 16
    // elements (32 B) along its swizzled 128 B rows, an MN-major one (a
    // transposed x, or w) 16 rows of 128 B.
    int64_t width = byteWidth(elem);
    int64_t aStep =
        spec.transposedA ? kInstrK * kTileK * width : kInstrK * width;
    int64_t bStep =
        spec.transposedB ? kInstrK * width : kInstrK * kTileK * width;
    MemRefType aStepType = smemType({64, kInstrK}, elem);
    MemRefType bStepType = smemType({kInstrK, spec.tileN}, elem);
    SmallVector<std::pair<Value, Value>> slices;
    for (int64_t j = 0; j < k16s; ++j)
      slices.push_back(
          {descriptor(arith::AddIOp::create(b, aBase, index(j * aStep)),
                      aStepType, aMap),
           descriptor(arith::AddIOp::create(b, bBase, index(j * bStep)),
                      bStepType, bMap)});
    if (restart) {
      // One group; a tile's first step has no stage to release, but a
      // fused dB part committed before it is read after it: wait for all
      // but this group.
      Value d = wgmmaChain(in, slices, spec.transposedA, !spec.transposedB,
                           /*restart=*/true);
      NVVM::WgmmaWaitGroupSyncOp::create(b, 1);
      return d;
    }
    // Each op commits its own group; the last waits for all but this
    // step's, as waitGroup 1 does above.
    for (auto [j, slice] : llvm::enumerate(slices)) {
      int64_t waitGroup = j + 1 == slices.size() ? k16s : 2 * k16s - 1;
      in = nvgpu::WarpgroupMmaOp::create(
          b, accType, slice.first, slice.second, b.getI64IntegerAttr(waitGroup),
          spec.transposedA ? b.getUnitAttr() : UnitAttr(),
          spec.transposedB ? UnitAttr() : b.getUnitAttr(), in);
    }
    return in;
  };
  int64_t k16s = kTileK / kInstrK;
  if (!spec.fuseDown)
    return issue(k16s, acc);
  auto ifOp = scf::IfOp::create(
      b, isMain,
      [&](OpBuilder &, Location) { scf::YieldOp::create(b, issue(k16s, acc)); },
      [&](OpBuilder &, Location) { scf::YieldOp::create(b, issue(1, acc)); });
  return ifOp.getResult(0);
}

/// Issues the k16 instructions `slices` (the descriptors of each one's A
/// and B, in order, nvgpu's or raw) as one wgmma group into `acc`, a 64 x N f32
/// accumulator, A M-major where `transA` and B N-major where `transB` (PTX's
/// imm-trans-a and imm-trans-b). With `restart` the first has scale-d 0: D
/// is the chain's product alone, and `acc` (undefinedAccumulator) is only
/// where D's registers come from. Zeroed registers would be written between
/// the fence and the wgmma (LLVM copies the one zero register into each
/// accumulator register there), where ptxas injects a warpgroup.arrive
/// (C7519), or in a loop serializes every wgmma of the kernel (C7515).
/// Committed, not waited for; returns D. NVVM's wgmma: nvgpu's has no
/// scale-d.
Value GemmKernelBuilder::wgmmaChain(Value acc,
                                    ArrayRef<std::pair<Value, Value>> slices,
                                    bool transA, bool transB, bool restart) {
  LLVM::LLVMStructType outer = loweredAccumulatorType(acc.getType());
  Type inner = outer.getBody()[0];
  int64_t n = 2 * cast<LLVM::LLVMStructType>(inner).getBody().size();
  NVVM::WGMMATypes operands = spec.elementType.isBF16() ? NVVM::WGMMATypes::bf16
                                                        : NVVM::WGMMATypes::f16;
  Value fragment =
      UnrealizedConversionCastOp::create(b, outer, acc).getResult(0);
  Value d = LLVM::ExtractValueOp::create(b, fragment, ArrayRef<int64_t>{0});
  // Between the fence and the chain only wgmmas.
  SmallVector<std::pair<Value, Value>> raw;
  for (auto [aDesc, bDesc] : slices)
    raw.push_back({rawDescriptor(aDesc), rawDescriptor(bDesc)});
  NVVM::WgmmaFenceAlignedOp::create(b);
  for (auto [i, slice] : llvm::enumerate(raw))
    d = NVVM::WgmmaMmaAsyncOp::create(
        b, inner, d, slice.first, slice.second,
        NVVM::MMAShapeAttr::get(ctx, 64, n, kInstrK),
        NVVM::WGMMATypesAttr::get(ctx, operands),
        NVVM::WGMMATypesAttr::get(ctx, operands),
        NVVM::WGMMATypesAttr::get(ctx, NVVM::WGMMATypes::f32),
        NVVM::WGMMAScaleOutAttr::get(ctx, restart && i == 0
                                              ? NVVM::WGMMAScaleOut::zero
                                              : NVVM::WGMMAScaleOut::one),
        NVVM::WGMMAScaleInAttr::get(ctx, NVVM::WGMMAScaleIn::one),
        NVVM::WGMMAScaleInAttr::get(ctx, NVVM::WGMMAScaleIn::one),
        NVVM::MMALayoutAttr::get(ctx, transA ? NVVM::MMALayout::col
                                             : NVVM::MMALayout::row),
        NVVM::MMALayoutAttr::get(ctx, transB ? NVVM::MMALayout::row
                                             : NVVM::MMALayout::col),
        NVVM::MMAIntOverflowAttr());
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
  fragment = LLVM::InsertValueOp::create(b, fragment, d, ArrayRef<int64_t>{0});
  return UnrealizedConversionCastOp::create(b, acc.getType(), fragment)
      .getResult(0);
}

/// An accumulator of `type` whose registers hold nothing yet (poison): what
/// a restarting wgmma chain writes.
Value GemmKernelBuilder::undefinedAccumulator(Type type) {
  Value poison = LLVM::PoisonOp::create(b, loweredAccumulatorType(type));
  return UnrealizedConversionCastOp::create(b, type, poison).getResult(0);
}

/// A 64 x N accumulator (`type`) as upstream lowers it: one struct per m64
/// (one here) of N / 2 f32 members, a thread's part of the PTX ISA's D
/// fragment.
LLVM::LLVMStructType GemmKernelBuilder::loweredAccumulatorType(Type type) {
  int64_t n =
      cast<nvgpu::WarpgroupAccumulatorType>(type).getFragmented().getDimSize(1);
  auto inner = LLVM::LLVMStructType::getLiteral(
      ctx, SmallVector<Type>(n / 2, b.getF32Type()));
  return LLVM::LLVMStructType::getLiteral(ctx, {inner});
}

/// The 64-bit descriptor wgmma takes, of an nvgpu descriptor (a raw one
/// as it is).
Value GemmKernelBuilder::rawDescriptor(Value descriptor) {
  if (descriptor.getType().isInteger(64))
    return descriptor;
  return UnrealizedConversionCastOp::create(b, b.getI64Type(), descriptor)
      .getResult(0);
}

void GemmKernelBuilder::buildConsumer(Value consumer) {
  Type elem = spec.elementType;
  int64_t stageBytes = getStageBytes(spec);
  int64_t aBytes = spec.tileM() * kTileK * byteWidth(elem);
  auto accType = nvgpu::WarpgroupAccumulatorType::get(
      ctx, VectorType::get({64, spec.tileN}, b.getF32Type()));
  Value rowOffset =
      arith::MulIOp::create(b, consumer, index(64 * kTileK * byteWidth(elem)));
  // A fused LoraLinear's t accumulator (x·A for the consumer's 64 rows).
  auto tAccType = nvgpu::WarpgroupAccumulatorType::get(
      ctx, VectorType::get({64, kFusedRank}, b.getF32Type()));
  int64_t columnTiles = llvm::divideCeil(spec.n, spec.tileN);
  Value ownColumn;
  if (spec.fuseBGrad)
    ownColumn = arith::DivUIOp::create(b, n0, index(spec.tileN));

  forEachTile([&](Value slotBase) {
    // The accumulators the steps carry: the main one, a fused LoraLinear's
    // t (x·A for the consumer's 64 rows) and a dx kernel's part of dB.
    SmallVector<Type> accTypes{accType};
    if (spec.fuseDown)
      accTypes.push_back(tAccType);
    if (spec.fuseBGrad)
      accTypes.push_back(tAccType);
    // One K step from the accumulators `carried`; at a tile's first
    // (`first`) the wgmmas restart them (scale-d 0) instead of adding to
    // zeros, and there is no previous stage to release.
    auto step = [&](Value k, ValueRange carried,
                    bool first) -> SmallVector<Value> {
      Value slot = b.createOrFold<arith::AddIOp>(slotBase, k);
      Value s = arith::RemUIOp::create(b, slot, index(spec.stages));
      nvgpu::MBarrierTryWaitParityOp::create(
          b, full, parity(slot, /*flip=*/false), index(10000000), s);
      Value base = arith::MulIOp::create(b, s, index(stageBytes));
      Value aBase = arith::AddIOp::create(b, base, rowOffset);
      Value bBase = arith::AddIOp::create(b, base, index(aBytes));
      Value acc = carried[0];
      // A fused LoraLinear's main steps also accumulate t, and its LoRA
      // step writes it.
      Value isMain, tAcc;
      if (spec.fuseDown) {
        isMain =
            arith::CmpIOp::create(b, arith::CmpIPredicate::ult, k, mainSteps);
        tAcc = buildFusedDown(isMain, base, aBase, consumer, carried[1], first);
      }
      // The dx kernel's share of dB: the main steps k with k mod (column
      // tiles) = its column tile. Its part restarts at each owned step by
      // its first wgmma (wgmmaN16), so at a tile's first too.
      Value owned, dbAcc;
      if (spec.fuseBGrad) {
        owned = arith::AndIOp::create(
            b, isMain,
            arith::CmpIOp::create(
                b, arith::CmpIPredicate::eq,
                arith::RemUIOp::create(b, k, index(columnTiles)), ownColumn));
        dbAcc = buildBGradStep(owned, aBase, consumer, carried.back());
      }
      acc = mmaStep(isMain, aBase, bBase, acc, first);
      if (spec.fuseBGrad)
        reduceBGrad(owned, consumer, k, dbAcc);
      if (!first)
        releaseStage(arith::RemUIOp::create(
            b, arith::AddIOp::create(b, slot, index(spec.stages - 1)),
            index(spec.stages)));
      SmallVector<Value> results{acc};
      if (tAcc)
        results.push_back(tAcc);
      if (dbAcc)
        results.push_back(dbAcc);
      return results;
    };
    // The first step, peeled, from accumulators whose registers hold
    // nothing: no register is written between its wgmma.fence and its
    // wgmmas. Where a CTA may have no step (a split of a dynamic K), its
    // accumulators are zero.
    SmallVector<Value> undefined = llvm::map_to_vector(
        accTypes, [&](Type type) { return undefinedAccumulator(type); });
    SmallVector<Value> carried;
    std::optional<int64_t> knownSteps = getConstantIntValue(localSteps);
    if (knownSteps && *knownSteps > 0) {
      carried = step(index(0), undefined, /*first=*/true);
    } else {
      Value any = arith::CmpIOp::create(b, arith::CmpIPredicate::sgt,
                                        localSteps, index(0));
      auto ifOp = scf::IfOp::create(
          b, any,
          [&](OpBuilder &, Location) {
            scf::YieldOp::create(b, step(index(0), undefined, true));
          },
          [&](OpBuilder &, Location) {
            scf::YieldOp::create(
                b, llvm::map_to_vector(accTypes, [&](Type type) -> Value {
                  return nvgpu::WarpgroupMmaInitAccumulatorOp::create(b, type);
                }));
          });
      carried = ifOp.getResults();
    }
    auto loop = scf::ForOp::create(
        b, index(1), localSteps, index(1), carried,
        [&](OpBuilder &, Location, Value k, ValueRange iterArgs) {
          scf::YieldOp::create(b, step(k, iterArgs, /*first=*/false));
        });
    NVVM::WgmmaWaitGroupSyncOp::create(b, 0);
    // The next kernel in the stream, if launched with PDL, may start its
    // CTAs (as SMs free) and their prologue during this CTA's epilogue; its
    // griddepcontrol.wait still waits for this grid to complete. Only a
    // CTA's first trigger counts: a persistent kernel's comes on its last
    // tile, not its first.
    if (lastTurn) {
      scf::IfOp::create(b, lastTurn, [&](OpBuilder &, Location) {
        NVVM::GriddepcontrolOp::create(
            b, NVVM::GridDepActionKind::launch_dependents);
        scf::YieldOp::create(b);
      });
    } else {
      NVVM::GriddepcontrolOp::create(
          b, NVVM::GridDepActionKind::launch_dependents);
    }
    // A fused LoraLinear's t store has read its x box before the epilogue
    // reuses the stages, or the producer refills it; a persistent kernel's
    // stores of the last tile's output have read its epilogue tile before
    // this one's writes it; a dx kernel's dB reduce-adds have read their
    // rows before the CTA exits (a no-op in the threads that issued none).
    if (spec.fuseDown || spec.persistentCtas)
      NVVM::CpAsyncBulkWaitGroupOp::create(b, b.getI32IntegerAttr(0),
                                           b.getUnitAttr());
    // The last stage is released too where the producer still waits for it:
    // a multicast kernel's producer tail, a persistent kernel's next tile,
    // or the block of x a dx kernel that computes dA loads into the stages
    // (K is static in all, so there is at least one step).
    if (spec.multicast > 1 || spec.persistentCtas || spec.fuseAGrad)
      releaseStage(arith::RemUIOp::create(
          b,
          arith::SubIOp::create(
              b, b.createOrFold<arith::AddIOp>(slotBase, steps), index(1)),
          index(spec.stages)));
    if (spec.fuseAGrad)
      buildAGrad(consumer, loop.getResults().back());
    // The epilogue reuses the stages (or, persistent, its own tile, which
    // the issuer's stores of the last tile have read before it arrives
    // here): every consumer must be done reading.
    NVVM::BarrierOp::create(b, Type(), i32(1), i32(128 * spec.consumers),
                            NVVM::BarrierReductionAttr(), Value());
    if (spec.directEpilogue) {
      buildDirectEpilogue(consumer, loop.getResult(0));
      return;
    }
    storeAccumulator(consumer, loop.getResult(0));
    if (spec.splits == 1)
      buildEpilogue(consumer);
  });
  // The last tile's stores read shared memory before the CTA exits.
  if (spec.persistentCtas)
    NVVM::CpAsyncBulkWaitGroupOp::create(b, b.getI32IntegerAttr(0),
                                         b.getUnitAttr());
}

/// Builds `body` once for the CTA's output tile (m0 and n0 as build() set
/// them), or in a persistent kernel, in a loop over the tiles blockIdx.x,
/// + gridDim.x, ... with m0 and n0 set for each, in launch order (column
/// tiles fastest) or, where w is large, in groups of rows as the grid of a
/// kernel that is not persistent takes them (buildTileRaster). `slotBase`
/// is the pipeline slot of the tile's first K step: the stages' uses carry
/// on from tile to tile, in the producer and the consumers alike.
void GemmKernelBuilder::forEachTile(function_ref<void(Value slotBase)> body) {
  if (!spec.persistentCtas) {
    body(index(0));
    return;
  }
  int64_t columnTiles = llvm::divideCeil(spec.n, spec.tileN);
  Value first = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value stride = gpu::GridDimOp::create(b, gpu::Dimension::x);
  scf::ForOp::create(
      b, first, tiles, stride, ValueRange(),
      [&](OpBuilder &, Location, Value tile, ValueRange) {
        Value turn = arith::DivUIOp::create(
            b, arith::SubIOp::create(b, tile, first), stride);
        Value column = arith::RemUIOp::create(b, tile, index(columnTiles));
        Value row = arith::DivUIOp::create(b, tile, index(columnTiles));
        if (columnTiles > 1 && spec.k * spec.n * byteWidth(spec.elementType) >
                                   kRasterMinWeightBytes)
          std::tie(row, column) =
              buildTileRaster(b, b.getLoc(), column, row, rowTiles, columnTiles,
                              kRasterGroupRows);
        m0 = arith::MulIOp::create(b, row, index(spec.tileM()));
        n0 = arith::MulIOp::create(b, column, index(spec.tileN));
        lastTurn = arith::CmpIOp::create(b, arith::CmpIPredicate::uge,
                                         arith::AddIOp::create(b, tile, stride),
                                         tiles);
        body(arith::MulIOp::create(b, turn, steps));
        scf::YieldOp::create(b);
      });
  lastTurn = Value(); // defined inside the loop only
}

/// The barrier of all threads of the cluster, with release and acquire
/// semantics: shared-memory writes before it are visible to reads after it,
/// from any CTA of the cluster.
void GemmKernelBuilder::clusterSync() {
  NVVM::ClusterArriveOp::create(b, UnitAttr());
  NVVM::ClusterWaitOp::create(b, UnitAttr());
}

/// The barrier of one consumer warpgroup's 128 threads.
void GemmKernelBuilder::syncWarpgroup(Value consumer) {
  Value barrierId = arith::AddIOp::create(
      b, arith::IndexCastOp::create(b, b.getI32Type(), consumer), i32(2));
  NVVM::BarrierOp::create(b, Type(), barrierId, i32(128),
                          NVVM::BarrierReductionAttr(), Value());
}

/// Hands what the consumer's threads wrote to shared memory over to the
/// async proxy (fence.proxy.async, then the warpgroup's barrier) and has
/// its first thread, where `also` holds too, `issue` TMA stores or
/// reduce-adds from it, committed as one bulk group; with `waitForRead`,
/// that thread then waits until the group has read shared memory.
void GemmKernelBuilder::issueBulkFromWarpgroup(Value consumer,
                                               function_ref<void()> issue,
                                               bool waitForRead, Value also) {
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(ctx, NVVM::SharedSpace::shared_cta));
  syncWarpgroup(consumer);
  Value isIssuer = arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                         threadInWarpgroup, index(0));
  if (also)
    isIssuer = arith::AndIOp::create(b, also, isIssuer);
  scf::IfOp::create(b, isIssuer, [&](OpBuilder &, Location) {
    issue();
    NVVM::CpAsyncBulkCommitGroupOp::create(b);
    if (waitForRead)
      NVVM::CpAsyncBulkWaitGroupOp::create(b, b.getI32IntegerAttr(0),
                                           b.getUnitAttr());
    scf::YieldOp::create(b);
  });
}

/// Rows [first, first + 64) of the f32 staging tile, tileM x pitch at the
/// front of shared memory.
/// Rows [first, first + 64) and the first `columns` columns of `tile`: a
/// consumer's part of an f32 tile in shared memory.
Value GemmKernelBuilder::firstRows(Value tile, OpFoldResult first,
                                   int64_t columns) {
  SmallVector<OpFoldResult> offsets{first, b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes{b.getIndexAttr(64), b.getIndexAttr(columns)};
  SmallVector<OpFoldResult> strides{b.getIndexAttr(1), b.getIndexAttr(1)};
  return memref::SubViewOp::create(b, tile, offsets, sizes, strides);
}

Value GemmKernelBuilder::stagingRows(Value first) {
  Value tile =
      view(index(0), {spec.tileM(), getStagingPitch(spec)}, b.getF32Type());
  return firstRows(tile, first, spec.tileN);
}

/// t's multiplier in 8 f32 lanes (LoraDown's output, a fused LoraLinear's
/// t).
Value GemmKernelBuilder::scaleVector() {
  Attribute scale = b.getF32FloatAttr(static_cast<float>(spec.scale));
  return arith::ConstantOp::create(
      b, DenseElementsAttr::get(VectorType::get({8}, b.getF32Type()),
                                ArrayRef(scale)));
}

/// Stores a consumer's accumulator to the staging tile. Every consumer
/// stores through the tile's first 64 rows and its fragment lands at rows
/// 64·c (see the header).
void GemmKernelBuilder::storeAccumulator(Value consumer, Value acc) {
  nvgpu::WarpgroupMmaStoreOp::create(b, acc, stagingRows(index(0)));
  syncWarpgroup(consumer);
}

void GemmKernelBuilder::buildEpilogue(Value consumer) {
  Type elem = spec.elementType;
  Type result = spec.resultType;
  int64_t tileN = spec.tileN;
  int64_t outCols = getOutputBoxColumns(spec);
  int64_t pitch = getStagingPitch(spec);
  Value staging = stagingRows(arith::MulIOp::create(b, consumer, index(64)));

  // The output tile: the staging rows themselves for an f32 output (then
  // dense, pitch = tileN = outCols), else a tile of its own after them.
  Value out = staging;
  Value outOffset = arith::MulIOp::create(b, consumer, index(64 * pitch * 4));
  if (!result.isF32()) {
    outOffset = arith::AddIOp::create(
        b, index(spec.tileM() * pitch * 4),
        arith::MulIOp::create(b, consumer,
                              index(64 * outCols * byteWidth(result))));
    out = view(outOffset, {64, outCols}, result);
  }
  Value bias;
  if (spec.hasBias) {
    nvgpu::MBarrierTryWaitParityOp::create(
        b, biasBarrier, arith::ConstantIntOp::create(b, 0, 1), index(10000000),
        index(0));
    bias = view(index(getBiasOffset(spec)), {tileN}, elem);
  }

  // 8 columns per thread and step: chunk i is row i / (outCols/8), columns
  // 8·(i % (outCols/8)) and on.
  auto f32x8 = VectorType::get({8}, b.getF32Type());
  int64_t chunksPerRow = outCols / 8;
  scf::ForOp::create(
      b, threadInWarpgroup, index(64 * chunksPerRow), index(128), ValueRange(),
      [&](OpBuilder &, Location, Value i, ValueRange) {
        Value row = arith::DivUIOp::create(b, i, index(chunksPerRow));
        Value col = arith::MulIOp::create(
            b, arith::RemUIOp::create(b, i, index(chunksPerRow)), index(8));
        Value v =
            vector::LoadOp::create(b, f32x8, staging, ValueRange{row, col});
        // A split LoraDown's first CTA: plus the other CTAs' partial sums,
        // at the same place in their shared memory, in rank order.
        if (spec.splits > 1) {
          Value tileRow = arith::AddIOp::create(
              b, arith::MulIOp::create(b, consumer, index(64)), row);
          Value offset = arith::MulIOp::create(
              b,
              arith::AddIOp::create(
                  b, arith::MulIOp::create(b, tileRow, index(pitch)), col),
              index(4));
          Value local = sharedPointer(offset);
          for (int64_t rank = 1; rank < spec.splits; ++rank) {
            Value remote = clusterPointer(local, i32(rank));
            v = arith::AddFOp::create(
                b, v, LLVM::LoadOp::create(b, f32x8, remote, /*alignment=*/16));
          }
        }
        if (spec.kind == GemmKind::LoraDown)
          v = arith::MulFOp::create(b, v, scaleVector());
        if (bias) {
          Value bv = vector::LoadOp::create(b, VectorType::get({8}, elem), bias,
                                            ValueRange{col});
          v = arith::AddFOp::create(b, v, arith::ExtFOp::create(b, f32x8, bv));
        }
        if (!result.isF32())
          v = arith::TruncFOp::create(b, VectorType::get({8}, result), v);
        vector::StoreOp::create(b, v, out, ValueRange{row, col});
        scf::YieldOp::create(b);
      });
  // Shared memory must stay valid until the store has read it.
  issueBulkFromWarpgroup(
      consumer,
      [&] {
        Value row = arith::AddIOp::create(
            b, m0, arith::MulIOp::create(b, consumer, index(64)));
        // A batched kernel's map is rank 3: the same tile through a rank-3
        // view.
        Value source =
            spec.batched ? tmaView(outOffset, {64, outCols}, result) : out;
        nvgpu::TmaAsyncStoreOp::create(
            b, source, maps[spec.kind == GemmKind::LoraDown ? "t" : "y"],
            tmaCoords({n0, row}), Value());
      },
      /*waitForRead=*/true);
}

/// A direct epilogue (GemmKernelSpec::directEpilogue): the consumer's
/// accumulator `acc`, plus the bias, converted in
/// registers and written into its 64 rows of the output tile at the front of
/// shared memory (free: every consumer passed the barrier before), then
/// TMA-stored box by box.
///   fragment  thread t of the warpgroup holds, of each 8-column group j,
///             the pair at row 16·(t / 32) + (t % 32) / 4, columns
///             8j + 2·(t % 4) and one more (members 4j, 4j + 1 of the
///             lowered accumulator), and the pair 8 rows below (4j + 2,
///             4j + 3): the PTX ISA's m64nNk16 f32 D layout, as upstream's
///             mma.store reads it (with the thread's id in the warpgroup
///             here, so no row quirk).
///   tile      tileN / C boxes of [64 x C] per consumer, C the columns of
///             128 B of the output type, 8 KiB each, 16-byte chunk c of row
///             i at c ^ (i % 8): TMA's 128B swizzle. A warp's 8 rows of a
///             store instruction then fall on 8 different chunk positions,
///             all 32 banks.
/// Shared-memory traffic: tileM·tileN·w bytes written once, against the
/// staging epilogue's f32 tile written and read back and the converted tile
/// written (2·4 + w bytes per element).
void GemmKernelBuilder::buildDirectEpilogue(Value consumer, Value acc) {
  Type elem = spec.elementType;
  Type result = spec.resultType;
  Type f32 = b.getF32Type();
  int64_t width = byteWidth(result);
  int64_t boxColumns = getDirectBoxColumns(spec);
  constexpr int64_t kBoxBytes = 64 * 128;
  Value bias;
  if (spec.hasBias) {
    nvgpu::MBarrierTryWaitParityOp::create(
        b, biasBarrier, arith::ConstantIntOp::create(b, 0, 1), index(10000000),
        index(0));
    bias = view(index(getBiasOffset(spec)), {spec.tileN}, elem);
  }
  Value fragment = UnrealizedConversionCastOp::create(
                       b, loweredAccumulatorType(acc.getType()), acc)
                       .getResult(0);
  Value lane = arith::RemUIOp::create(b, threadInWarpgroup, index(32));
  Value warp = arith::DivUIOp::create(b, threadInWarpgroup, index(32));
  Value quad = arith::DivUIOp::create(b, lane, index(4));
  Value row0 =
      arith::AddIOp::create(b, arith::MulIOp::create(b, warp, index(16)), quad);
  Value column0 = arith::MulIOp::create(
      b, arith::RemUIOp::create(b, lane, index(4)), index(2));
  // The consumer's rows of the tile, from the tile's start.
  int64_t tileOffset = getEpilogueOffset(spec);
  Value base =
      arith::MulIOp::create(b, consumer, index(64 * spec.tileN * width));
  // Pairs are stored as one integer of 2·w bytes (aligned: the column is
  // even).
  Type pairInt = b.getIntegerType(16 * width);
  auto pairVector = VectorType::get({1}, pairInt);
  Value tile =
      view(index(tileOffset), {spec.tileM() * spec.tileN / 2}, pairInt);
  for (int64_t j = 0; j < spec.tileN / 8; ++j) {
    Value column = arith::AddIOp::create(b, column0, index(8 * j));
    int64_t box = 8 * j * width / 128;
    // Bytes into the box's row, then its 16-byte chunk, swizzled by the
    // row's position in its group of 8 (the quad: rows 16·warp + quad and
    // 8 below it).
    Value inRow =
        arith::AddIOp::create(b, index(8 * j * width % 128),
                              arith::MulIOp::create(b, column0, index(width)));
    Value chunk = arith::XOrIOp::create(
        b, arith::DivUIOp::create(b, inRow, index(16)), quad);
    Value inChunk = arith::RemUIOp::create(b, inRow, index(16));
    SmallVector<Value> biasPair;
    if (bias) {
      Value pair = vector::LoadOp::create(b, VectorType::get({2}, elem), bias,
                                          ValueRange{column});
      biasPair.push_back(
          arith::ExtFOp::create(b, VectorType::get({2}, f32), pair));
    }
    for (int64_t half = 0; half < 2; ++half) {
      int64_t member = 4 * j + 2 * half;
      Value v0 = LLVM::ExtractValueOp::create(b, fragment, {0, member});
      Value v1 = LLVM::ExtractValueOp::create(b, fragment, {0, member + 1});
      Value v = vector::FromElementsOp::create(b, VectorType::get({2}, f32),
                                               ValueRange{v0, v1});
      if (bias)
        v = arith::AddFOp::create(b, v, biasPair.front());
      if (!result.isF32())
        v = arith::TruncFOp::create(b, VectorType::get({2}, result), v);
      Value row = arith::AddIOp::create(b, row0, index(8 * half));
      Value byte = arith::AddIOp::create(
          b,
          arith::AddIOp::create(
              b, arith::AddIOp::create(b, base, index(box * kBoxBytes)),
              arith::MulIOp::create(b, row, index(128))),
          arith::AddIOp::create(b, arith::MulIOp::create(b, chunk, index(16)),
                                inChunk));
      vector::StoreOp::create(
          b, vector::BitCastOp::create(b, pairVector, v), tile,
          ValueRange{arith::DivUIOp::create(b, byte, index(2 * width))});
    }
  }
  // Shared memory must stay valid until the stores have read it; a
  // persistent kernel waits for that only before it writes the tile again
  // (buildConsumer), its next tile's main loop meanwhile.
  issueBulkFromWarpgroup(
      consumer,
      [&] {
        Value row = arith::AddIOp::create(
            b, m0, arith::MulIOp::create(b, consumer, index(64)));
        for (int64_t box = 0; box < spec.tileN / boxColumns; ++box) {
          // A box wholly past N (the last column tile of an N that is not a
          // multiple of tileN) stores nothing.
          Value column = arith::AddIOp::create(b, n0, index(box * boxColumns));
          Value inside = arith::CmpIOp::create(b, arith::CmpIPredicate::ult,
                                               column, index(spec.n));
          scf::IfOp::create(b, inside, [&](OpBuilder &, Location) {
            Value offset = arith::AddIOp::create(
                b, base, index(tileOffset + box * kBoxBytes));
            nvgpu::TmaAsyncStoreOp::create(
                b, tmaView(offset, {64, boxColumns}, result), maps["y"],
                tmaCoords({column, row}), Value());
            scf::YieldOp::create(b);
          });
        }
      },
      /*waitForRead=*/!spec.persistentCtas);
}

/// Builds kernel `name`, a variant of `kernel`, for `spec` at the end of
/// `module`.
static gpu::GPUFuncOp buildGemmKernel(OpBuilder &builder, Location loc,
                                      gpu::GPUModuleOp module, StringRef name,
                                      StringRef kernel,
                                      const GemmKernelSpec &spec) {
  ImplicitLocOpBuilder b(loc, builder);
  OpBuilder::InsertionGuard guard(b);
  MLIRContext *ctx = b.getContext();
  b.setInsertionPointToEnd(module.getBody());
  if (!module.lookupSymbol(kDynamicSmemName)) {
    auto type = MemRefType::get(
        {0}, b.getI8Type(), MemRefLayoutAttrInterface(),
        gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup));
    memref::GlobalOp::create(b, kDynamicSmemName,
                             /*sym_visibility=*/StringAttr(), type,
                             /*initial_value=*/Attribute(),
                             /*constant=*/false, b.getI64IntegerAttr(1024));
  }
  SmallVector<Type> args(getGemmKernelParams(spec).size(),
                         LLVM::LLVMPointerType::get(ctx));
  if (ShapedType::isDynamic(spec.k) || spec.persistentCtas)
    args.push_back(b.getIndexType());
  auto func = gpu::GPUFuncOp::create(b, name, b.getFunctionType(args, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr(
      {static_cast<int32_t>(spec.blockThreads()), 1, 1}));
  // `.reqnctapercluster`: a plain launch runs the split CTAs as a cluster.
  if (spec.splits > 1)
    func.setKnownClusterSizeAttr(b.getDenseI32ArrayAttr(
        {static_cast<int32_t>(spec.splits), 1, 1}));
  if (spec.multicast > 1)
    func.setKnownClusterSizeAttr(
        b.getDenseI32ArrayAttr({1, static_cast<int32_t>(spec.multicast), 1}));
  // setmaxnreg moves registers within what the CTA was launched with, which
  // must be fixed at compile time (PTX ISA): `.minnctapersm 1` beside
  // `.maxntid 384` makes ptxas allocate 65536 / 384, 168 a thread, what the
  // 128·40 + 256·232 above add up to (CUTLASS's __launch_bounds__(384, 1)).
  // Without it ptxas allocates only what the code needs, and a consumer's
  // setmaxnreg.inc would wait for registers the CTA never had.
  if (rebalancesRegisters(spec))
    func->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                  b.getI32IntegerAttr(1));
  func->setAttr("lora.abi", b.getStringAttr(getGemmKernelAbi(
                                spec, module.getName(), name, kernel)));
  GemmKernelBuilder(b, spec).build(func);
  return func;
}

SmallVector<GemmKernel>
cuda::buildGemmKernels(OpBuilder &builder, Location loc,
                       gpu::GPUModuleOp module, StringRef name,
                       ArrayRef<GemmKernelSpec> variants) {
  SmallVector<GemmKernel> kernels;
  for (auto [i, spec] : llvm::enumerate(variants)) {
    // The first variant is `name`; the others add what sets them apart:
    // their tile, or the CTAs they split K over (LoraDown's and the weight
    // gradients' tiles are fixed): `_split1` is a weight gradient's unsplit
    // variant, for few tokens.
    std::string variant = name.str();
    const GemmKernelSpec &first = variants.front();
    if (i != 0 && (spec.tileM() != first.tileM() || spec.tileN != first.tileN))
      variant += ("_" + Twine(spec.tileM()) + "x" + Twine(spec.tileN)).str();
    if (i != 0 && spec.splits != first.splits)
      variant += ("_split" + Twine(spec.splits)).str();
    kernels.push_back(
        {buildGemmKernel(builder, loc, module, variant, name, spec), spec});
  }
  return kernels;
}

/// Declares the runtime's SM count (kMultiprocessorCountFunction) in the
/// module of `b`'s insertion point, unless it is there already.
static void declareMultiprocessorCount(ImplicitLocOpBuilder &b) {
  auto module =
      b.getInsertionBlock()->getParentOp()->getParentOfType<ModuleOp>();
  assert(module && "host code inside a module");
  if (module.lookupSymbol(kMultiprocessorCountFunction))
    return;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(module.getBody());
  func::FuncOp::create(b, kMultiprocessorCountFunction,
                       b.getFunctionType(TypeRange{}, {b.getI32Type()}))
      .setPrivate();
}

/// Encodes the tensor maps of `kernel` for `memrefs` and launches it for
/// `tokens` (and `batch` matrices of a batched kernel).
static void launchGemmKernel(ImplicitLocOpBuilder &b, const GemmKernel &kernel,
                             ValueRange memrefs, Value tokens, Value batch) {
  MLIRContext *ctx = b.getContext();
  const GemmKernelSpec &spec = kernel.spec;
  auto smemSpace =
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  SmallVector<Value> args;
  for (auto [param, memref] : llvm::zip(getGemmKernelParams(spec), memrefs)) {
    auto boxType = MemRefType::get(param.box, param.elementType,
                                   MemRefLayoutAttrInterface(), smemSpace);
    nvgpu::TensorMapDescriptorType mapType = getTensorMapType(param, boxType);
    Value unranked = memref::CastOp::create(
        b, UnrankedMemRefType::get(param.elementType, Attribute()), memref);
    SmallVector<Value> box;
    for (int64_t dim : param.box)
      box.push_back(arith::ConstantIndexOp::create(b, dim));
    Value map = nvgpu::TmaCreateDescriptorOp::create(b, mapType, unranked, box);
    // gpu.func cannot take tensor map types through the NVVM lowering; the
    // kernel casts the pointer back.
    args.push_back(UnrealizedConversionCastOp::create(
                       b, LLVM::LLVMPointerType::get(ctx), map)
                       .getResult(0));
  }
  if (ShapedType::isDynamic(spec.k) || spec.persistentCtas)
    args.push_back(tokens);
  Value one = arith::ConstantIndexOp::create(b, 1);
  Value block = arith::ConstantIndexOp::create(b, spec.blockThreads());
  Value smem =
      arith::ConstantIntOp::create(b, getGemmDynamicSharedMemory(spec), 32);
  // A persistent kernel: one CTA per tile up to persistentCtas, each taking
  // the tiles in turn.
  if (spec.persistentCtas) {
    Value tiles = arith::MulIOp::create(
        b,
        arith::CeilDivUIOp::create(
            b, tokens, arith::ConstantIndexOp::create(b, spec.tileM())),
        arith::ConstantIndexOp::create(b,
                                       llvm::divideCeil(spec.n, spec.tileN)));
    // At most one CTA per SM of the GPU it runs on (132 on an H200, 114 on
    // an H100 PCIe): a CTA past that would start only when another ended,
    // and its tiles would finish after everyone else's.
    Value sms = arith::IndexCastOp::create(
        b, b.getIndexType(),
        func::CallOp::create(b, kMultiprocessorCountFunction,
                             TypeRange{b.getI32Type()}, ValueRange{})
            .getResult(0));
    Value ctas = arith::MinUIOp::create(
        b, tiles,
        arith::MinUIOp::create(
            b, sms, arith::ConstantIndexOp::create(b, spec.persistentCtas)));
    gpu::LaunchFuncOp::create(b, kernel.func, gpu::KernelDim3{ctas, one, one},
                              gpu::KernelDim3{block, one, one}, smem, args);
    return;
  }
  Value gridX = arith::ConstantIndexOp::create(
      b, llvm::divideCeil(spec.n, spec.tileN) * spec.splits);
  if (batch)
    gridX = arith::MulIOp::create(b, gridX, batch);
  // A multicast kernel's clusters are pairs of row tiles: a last one past M
  // still loads its share of w for its peer, and stores nothing (TMA clips).
  Value gridY;
  if (ShapedType::isDynamic(spec.m)) {
    Value clusterRows =
        arith::ConstantIndexOp::create(b, spec.tileM() * spec.multicast);
    gridY = arith::CeilDivUIOp::create(b, tokens, clusterRows);
    if (spec.multicast > 1)
      gridY = arith::MulIOp::create(
          b, gridY, arith::ConstantIndexOp::create(b, spec.multicast));
  } else {
    gridY = arith::ConstantIndexOp::create(
        b,
        llvm::alignTo(llvm::divideCeil(spec.m, spec.tileM()), spec.multicast));
  }
  gpu::LaunchFuncOp::create(b, kernel.func, gpu::KernelDim3{gridX, gridY, one},
                            gpu::KernelDim3{block, one, one}, smem, args);
}

void cuda::buildGemmLaunch(OpBuilder &builder, Location loc,
                           ArrayRef<GemmKernel> variants, ValueRange memrefs,
                           Value tokens, Value batch) {
  assert(!variants.empty() && "a kernel to launch");
  assert(variants.front().spec.batched == static_cast<bool>(batch) &&
         "a batch size exactly for a batched kernel");
  ImplicitLocOpBuilder b(loc, builder);
  // A persistent kernel's launch (in the scf.if below, not yet in the
  // module while it is built) calls the runtime for the SM count.
  if (llvm::any_of(variants, [](const GemmKernel &kernel) {
        return kernel.spec.persistentCtas != 0;
      }))
    declareMultiprocessorCount(b);
  // One scf.if per variant, on its rows (from at least 1: no tokens, no
  // launch; a grid of 0 is an error, and so is a tensor map with a dim of 0,
  // so the maps too are made only where a kernel runs). A weight gradient
  // over no tokens is zero; its caller fills it.
  Value zero = arith::ConstantIndexOp::create(b, 0);
  Value hasBatch =
      batch ? arith::CmpIOp::create(b, arith::CmpIPredicate::ne, batch, zero)
                  .getResult()
            : Value();
  for (const GemmKernel &kernel : variants) {
    Value fits = arith::CmpIOp::create(
        b, arith::CmpIPredicate::uge, tokens,
        arith::ConstantIndexOp::create(b, kernel.spec.minRows));
    if (!ShapedType::isDynamic(kernel.spec.maxRows))
      fits = arith::AndIOp::create(
          b, fits,
          arith::CmpIOp::create(
              b, arith::CmpIPredicate::ule, tokens,
              arith::ConstantIndexOp::create(b, kernel.spec.maxRows)));
    if (hasBatch)
      fits = arith::AndIOp::create(b, fits, hasBatch);
    scf::IfOp::create(b, fits, [&](OpBuilder &nested, Location nestedLoc) {
      ImplicitLocOpBuilder body(nestedLoc, nested);
      launchGemmKernel(body, kernel, memrefs, tokens, batch);
      scf::YieldOp::create(body);
    });
  }
}
