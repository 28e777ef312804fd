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
//     accumulator lives in registers (tileN/2 f32 per thread).
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
// LoRA, y = x·W + s·(x·A)·B, in two kernels (one with `fuse-lora-down`,
// below):
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
// The backward's dx kernel (transposedB, below) is fused the same way:
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
// Per CTA of LoraLinear at tileM 128, tileN 256, K 4096: 64 x 48 KiB stages
// loaded, 2·128·256·4096 = 268 MFLOP, 85 flop per shared-memory byte.
//
// Tiles (chooseGemmTilings): 128x256 for N >= 4096, else 128x128; where
// those would give fewer CTAs than half the 132 SMs, 128x128 tiles, and
// where those still would, 64x64 tiles with one consumer: M = 128, N = 4096
// runs 128 CTAs instead of 16. Stages: as many as shared memory holds (4,
// 7 and 14). Where w is larger than half an H100's L2, CTAs take their
// tiles in groups of 8 row tiles, walking down a group before across
// (buildTileRaster): the CTAs running at once share few columns of w, so a
// w larger than the L2 (4096 x 14336: 112 MiB) is read from memory once
// per group instead of once per 2.4 row tiles (on an H200 that x·W went
// from 1.17-1.19x cuBLAS to 1.07-1.08x at M = 2048 and 16384). A whole
// model, compiled for its token count, gets the one tiling for it; where M
// is known only at run time the kernel comes in one variant per tiling that
// some M gets, each with the rows it is for (`rows` in the ABI; N = 4096:
// 128x256 from 513 rows, 128x128 from 257, 64x64 below), and the launcher
// picks one by M. Few rows make the kernel bound by reading W, and only
// more CTAs read it faster; the smaller tiles read W once per row of tiles
// (from L2 after the first). This is a rule of thumb from the SM count, not
// tuned on a GPU.
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

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::cuda;

/// K step of one stage: 64 elements = 128 bytes, the 128B swizzle span.
static constexpr int64_t kTileK = 64;
static_assert(kTileK * 2 == 128, "a K step of 16-bit elements must span the "
                                 "128B swizzle (see buildConsumer)");
/// K of one wgmma instruction on 16-bit elements.
static constexpr int64_t kInstrK = 16;
/// Shared memory a CTA may use on sm_90 (227 KiB), less 2 KiB for the
/// static part (mbarriers, padded to the 1024-aligned dynamic base).
static constexpr int64_t kSharedMemoryBudget = 227 * 1024 - 2048;
/// The fewest stages a persistent kernel keeps beside its epilogue tile.
static constexpr int64_t kMinPersistentStages = 3;
/// Registers per thread of the producer and consumer warpgroups where a
/// kernel moves them from the one to the others (setmaxnreg): 128·40 +
/// 256·232 of the SM's 65536, as CUTLASS's warp-specialized kernels do.
static constexpr int32_t kProducerRegisters = 40;
static constexpr int32_t kConsumerRegisters = 232;
/// The dynamic shared-memory base: a public uninitialised workgroup global
/// becomes `.extern .shared .align 1024` (gpu.dynamic_shared_memory does not,
/// see test/Target/CUDA/wgmma-tma-sm90a.mlir).
static constexpr StringLiteral kDynamicSmemName = "__lora_dyn_smem";
/// The least bytes of w for which the CTAs take their tiles in groups of
/// rows (buildTileRaster): half an H100's L2. A w that stays in the L2 is
/// read from memory once whatever the order; on an H200 the grouped order
/// made 4096 x 1024's x·W (8 MiB) 5% slower at M >= 8192 (three runs
/// against one, bench/gpu/results), and 4096 x 14336's (112 MiB) 9% faster.
static constexpr int64_t kRasterMinWeightBytes = 25 << 20;
/// The most CTAs of a portable cluster, and so of a split LoraDown.
static constexpr int64_t kMaxClusterSize = 8;
/// The most CTAs a weight gradient splits a tile over. Its CTAs take a whole
/// SM each (14 stages), and a cluster's must share one GPC (16-18 SMs on an
/// H100/H200): clusters of 8 would fit about two a GPC, 16 or fewer at
/// once, and dB of a 1024-wide layer (16 tiles) would be right at that
/// edge; clusters of 4 fit four a GPC.
static constexpr int64_t kMaxWeightGradientSplits = 4;
/// K steps each CTA of a split kernel takes at least.
static constexpr int64_t kMinStepsPerSplit = 16;
/// The deepest pipeline built: 64x64 tiles of 16-bit elements fit 14 stages.
static constexpr int64_t kMaxStages = 16;
/// Half the SMs of an H100/H200 (132): a grid of fewer CTAs than this takes
/// smaller tiles (chooseGemmTilings).
static constexpr int64_t kSmallGridCtas = 66;
/// A wave of memory-bound CTAs, 7/8 of the SMs (one CTA each): LoraDown's
/// and the weight gradients' K steps are split over as few CTAs as give a
/// grid this large (chooseGemmTilings).
static constexpr int64_t kSplitWaveCtas = 116;

static int64_t byteWidth(Type type) { return type.getIntOrFloatBitWidth() / 8; }

static StringRef getDTypeName(Type type) {
  if (type.isBF16())
    return "bf16";
  if (type.isF16())
    return "f16";
  if (type.isF32())
    return "f32";
  return "";
}

static StringRef getKindName(GemmKind kind) {
  switch (kind) {
  case GemmKind::Matmul:
    return "matmul";
  case GemmKind::LoraDown:
    return "lora_down";
  case GemmKind::LoraLinear:
    return "lora_linear";
  }
  llvm_unreachable("unknown GemmKind");
}

/// Columns of the output tile one TMA store writes: LoraDown's t is only r
/// wide.
static int64_t getOutputBoxColumns(const GemmKernelSpec &spec) {
  return spec.kind == GemmKind::LoraDown ? spec.n : spec.tileN;
}

/// Number of K steps over t·b after the main ones.
static int64_t getLoraSteps(const GemmKernelSpec &spec) {
  return spec.kind == GemmKind::LoraLinear ? llvm::divideCeil(spec.rank, kTileK)
                                           : 0;
}

/// t's columns in a fused LoraLinear (GemmKernelSpec::fuseDown): the rank
/// rounded up to 16, one wgmma N; A's slice of a K step is [64 x 16], rows
/// of 32 B (SWIZZLE_32B, the N-major layout wgmma reads at that width), or
/// of a transposed A (the backward's B) [16 x 64], K-major rows of 128 B.
static constexpr int64_t kFusedRank = 16;

/// Bytes of A's slice in a fused LoraLinear's main stage (else 0).
static int64_t getDownSliceBytes(const GemmKernelSpec &spec) {
  return spec.fuseDown ? kTileK * kFusedRank * byteWidth(spec.elementType) : 0;
}

static int64_t getStageBytes(const GemmKernelSpec &spec) {
  return (spec.tileM() + spec.tileN) * kTileK * byteWidth(spec.elementType) +
         getDownSliceBytes(spec);
}

/// Row pitch, in floats, of the f32 staging tile. Padding by 8 floats puts
/// the 8 rows a warp's mma.store writes together in different banks; an f32
/// output is converted in place and TMA-stored from the tile itself, which
/// must then be dense.
static int64_t getStagingPitch(const GemmKernelSpec &spec) {
  return spec.tileN + (spec.resultType.isF32() ? 0 : 8);
}

/// Columns of one box of a direct epilogue's output tile: 128 B of the
/// output type, the 128B swizzle's span.
static int64_t getDirectBoxColumns(const GemmKernelSpec &spec) {
  return 128 / byteWidth(spec.resultType);
}

/// Bytes of the epilogue's staging: the f32 accumulator tile, then the
/// converted output tile (none when the output is f32: converted in place);
/// of a direct epilogue, the output tile alone.
static int64_t getEpilogueBytes(const GemmKernelSpec &spec) {
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
static int64_t getEpilogueOffset(const GemmKernelSpec &spec) {
  return spec.persistentCtas
             ? llvm::alignTo(spec.stages * getStageBytes(spec), 1024)
             : 0;
}

/// Offset of a fused LoraLinear's t scratch (its f32 accumulators of x·A,
/// tileM x 16): after the stages and the epilogue.
static int64_t getDownScratchOffset(const GemmKernelSpec &spec) {
  if (spec.persistentCtas)
    return getEpilogueOffset(spec) + getEpilogueBytes(spec);
  return llvm::alignTo(
      std::max(spec.stages * getStageBytes(spec), getEpilogueBytes(spec)), 128);
}

static int64_t getDownScratchBytes(const GemmKernelSpec &spec) {
  return spec.fuseDown ? spec.tileM() * kFusedRank * 4 : 0;
}

/// Offset of the dx kernel's dB region (GemmKernelSpec::fuseBGrad), after
/// the t scratch: the tile's ts rows (tileM x 16, SWIZZLE_32B like a fused
/// LoraLinear's A slices, so 1024-aligned), then each consumer's f32 part of
/// dBᵀ (64 x 16), the source of its TMA reduce-add.
static int64_t getBGradOffset(const GemmKernelSpec &spec) {
  return llvm::alignTo(getDownScratchOffset(spec) + getDownScratchBytes(spec),
                       1024);
}

static int64_t getBGradTsBytes(const GemmKernelSpec &spec) {
  return spec.tileM() * kFusedRank * byteWidth(spec.elementType);
}

static int64_t getBGradBytes(const GemmKernelSpec &spec) {
  return spec.fuseBGrad ? getBGradTsBytes(spec) + spec.tileM() * kFusedRank * 4
                        : 0;
}

/// Of a dx kernel that computes dA (GemmKernelSpec::fuseAGrad), in the
/// stages once every one is released: the tile's block of x, tileN / 64
/// boxes of [tileM x 64] from offset 0, then the f32 parts of dA, a
/// tileM x 16 slot per block a consumer takes (its rows at 64·c), until the
/// epilogue takes the stages.
static int64_t getAGradSlots(const GemmKernelSpec &spec) {
  return llvm::divideCeil(spec.tileN / kTileK, spec.consumers);
}

static int64_t getAGradXBlockBytes(const GemmKernelSpec &spec) {
  return spec.tileM() * spec.tileN * byteWidth(spec.elementType);
}

static int64_t getAGradPartsOffset(const GemmKernelSpec &spec) {
  return getAGradXBlockBytes(spec);
}

[[maybe_unused]] static int64_t getAGradBytes(const GemmKernelSpec &spec) {
  return getAGradPartsOffset(spec) +
         getAGradSlots(spec) * spec.tileM() * kFusedRank * 4;
}

/// Offset of the bias tile, after the t scratch (and the dB region).
static int64_t getBiasOffset(const GemmKernelSpec &spec) {
  if (spec.fuseBGrad)
    return getBGradOffset(spec) + getBGradBytes(spec);
  return getDownScratchOffset(spec) + getDownScratchBytes(spec);
}

static int64_t getBiasBytes(const GemmKernelSpec &spec) {
  return spec.hasBias ? spec.tileN * byteWidth(spec.elementType) : 0;
}

/// Offset of a multicast kernel's empty barriers (one 8-byte mbarrier per
/// stage), after the bias tile: they are read by address (mapa), which the
/// nvgpu barrier groups do not give.
static int64_t getEmptyBarriersOffset(const GemmKernelSpec &spec) {
  return llvm::alignTo(getBiasOffset(spec) + getBiasBytes(spec), 8);
}

int64_t cuda::getGemmDynamicSharedMemory(const GemmKernelSpec &spec) {
  if (spec.multicast > 1)
    return getEmptyBarriersOffset(spec) + spec.stages * 8;
  return getBiasOffset(spec) + getBiasBytes(spec);
}

/// Whether `spec`'s tiling can share its w-side loads over a cluster of two
/// CTAs (GemmKernelSpec::multicast): a Matmul or LoraLinear (LoraDown's 64
/// rows have no pair) with two consumers (a 128-row tile, the pair 256
/// rows), the w side in an even number of 64-column boxes (or one
/// transposed box that halves into two), x as stored, no batch (each
/// matrix its own w), no split (its cluster is along K) and a static K.
static bool supportsMulticast(const GemmKernelSpec &spec) {
  return spec.kind != GemmKind::LoraDown && spec.consumers == 2 &&
         spec.tileN % (2 * kTileK) == 0 && !spec.transposedA && !spec.batched &&
         spec.splits == 1 && !ShapedType::isDynamic(spec.k);
}

/// Whether `spec`'s tiling can convert its output in registers
/// (GemmKernelSpec::directEpilogue): not LoraDown (its t is r columns, in
/// one box of its own) nor a split kernel (its CTAs add their staging tiles
/// through shared memory).
static bool supportsDirectEpilogue(const GemmKernelSpec &spec) {
  return spec.kind != GemmKind::LoraDown && spec.splits == 1;
}

/// Whether `spec`'s tiling can be persistent (GemmKernelSpec::
/// persistentCtas): a Matmul or LoraLinear over a static K, one CTA per
/// tile otherwise alike (no split, multicast or batch), and no bias (its
/// tile would change under the epilogue that reads it), nor a dx kernel
/// that computes dB (its ts rows are loaded once per tile).
static bool supportsPersistent(const GemmKernelSpec &spec) {
  return supportsDirectEpilogue(spec) && spec.multicast == 1 && !spec.batched &&
         !spec.hasBias && !ShapedType::isDynamic(spec.k) && !spec.fuseBGrad;
}

std::string cuda::checkGemmProblem(const GemmKernelSpec &spec) {
  Type type = spec.elementType;
  if (!type || !(type.isBF16() || type.isF16()))
    return "the generated kernels take bf16 or f16 operands";
  Type result = spec.resultType;
  if (!result || !(result == type || result.isF32()))
    return "the output must be f32 or the operands' type";
  if (spec.kind == GemmKind::LoraDown && result != type)
    return "t is stored in the operands' type";
  // TMA needs every row stride to be a multiple of 16 bytes, and the
  // epilogue converts 8 columns at a time.
  auto aligned = [&](int64_t elements) {
    return elements > 0 && elements % 8 == 0;
  };
  // One size, the token count, is dynamic: M, or K for the weight gradients
  // (which read the token-major activations as a transposed x).
  bool dynamicM = ShapedType::isDynamic(spec.m);
  bool dynamicK = ShapedType::isDynamic(spec.k);
  if (dynamicM == dynamicK)
    return "exactly one of M and K must be dynamic";
  if (dynamicK &&
      (spec.kind != GemmKind::Matmul || !spec.transposedA || spec.transposedB))
    return "a dynamic K needs a Matmul whose x is transposed and w is not";
  // A transposed x is [K, M] with M static: its row stride is M elements.
  // Upstream's wgmma verifier takes a transposed A only with an M/N-major B.
  if (spec.transposedA && (!dynamicK || spec.transposedB))
    return "a transposed x needs a dynamic K and a w that is not transposed";
  if (spec.batched && (spec.kind != GemmKind::Matmul || dynamicK ||
                       spec.transposedA || spec.hasBias))
    return "a batched kernel is a Matmul with a static K, x as stored and no "
           "bias";
  if (!dynamicM && !aligned(spec.m))
    return "M must be a positive multiple of 8";
  if (!dynamicK && !aligned(spec.k))
    return "K must be a positive multiple of 8";
  if (!aligned(spec.n))
    return "N must be a positive multiple of 8";
  if (spec.kind != GemmKind::Matmul && !aligned(spec.rank))
    return "the LoRA rank must be a multiple of 8";
  if (spec.wRows && (spec.kind != GemmKind::Matmul || !spec.transposedB ||
                     spec.wRows < 1 || spec.wRows > spec.n))
    return "fewer rows of w than N need a Matmul reading w transposed";
  // LoraDown computes all of t's columns in one tile.
  if (spec.kind != GemmKind::Matmul && spec.rank > 256)
    return "the LoRA rank must be at most 256";
  // A weight gradient: a Matmul over the tokens (a dynamic K).
  bool weightGradient = spec.kind == GemmKind::Matmul && dynamicK;
  if (spec.splits < 1 || spec.splits > kMaxClusterSize ||
      (spec.splits > 1 && spec.kind != GemmKind::LoraDown && !weightGradient))
    return "only a LoraDown or a weight gradient splits its K steps, over at "
           "most 8 CTAs";
  if (spec.multicast != 1 && spec.multicast != 2)
    return "the w side's loads are shared by 1 or 2 CTAs";
  if (spec.persistentCtas < 0)
    return "a persistent kernel runs at least one CTA";
  if (spec.fuseDown &&
      (spec.kind != GemmKind::LoraLinear || spec.rank > kFusedRank ||
       spec.batched || dynamicK || spec.splits != 1))
    return "t is computed in the tile only by a LoraLinear of rank at most 16 "
           "with no batch and a static K";
  if (spec.fuseBGrad && (!spec.fuseDown || !spec.transposedB))
    return "dB is computed in the tile only by the backward's dx kernel "
           "(a fused LoraLinear reading w transposed)";
  if (spec.fuseAGrad && !spec.fuseBGrad)
    return "dA is computed in the tile only by a dx kernel that computes dB";
  return "";
}

namespace {
/// One rung of the tiling ladder: consumer warpgroups, tile columns and the
/// CTAs that share a tile's K steps.
struct Tiling {
  int64_t consumers, tileN, splits = 1;
};
} // namespace

/// The tilings `problem`'s kernel may take, largest tiles first: the first
/// for many rows, each next one for fewer (see chooseGemmTilings).
static SmallVector<Tiling> getTilingLadder(const GemmKernelSpec &problem,
                                           int64_t tileN) {
  // LoraDown is skinny and memory-bound: small row tiles give more CTAs;
  // all of t's r columns in one tile. Its row tiles are few where M is
  // (32 at M = 2048), so there its K steps go to a cluster of CTAs, a power
  // of two of them with at least 16 steps each; where the row tiles alone
  // fill the SMs, each CTA takes all of K, so that its fixed cost (the
  // ring's fill and drain, the cluster's reduction) is paid once per 64·K
  // elements of x instead of once per split.
  if (problem.kind == GemmKind::LoraDown) {
    int64_t columns = llvm::alignTo(problem.rank, kTileK);
    int64_t steps = llvm::divideCeil(problem.k, kTileK);
    SmallVector<Tiling> ladder{{1, columns, 1}};
    while (ladder.back().splits * 2 <= kMaxClusterSize &&
           steps >= ladder.back().splits * 2 * kMinStepsPerSplit)
      ladder.push_back({1, columns, ladder.back().splits * 2});
    return ladder;
  }
  // A weight gradient: a small output ([K, r] or [r, N]) over a long token
  // contraction. 64x64 tiles give the most CTAs (64 for 4096 x 16), and
  // where that is fewer than a wave, the tokens are split over a cluster of
  // CTAs as LoraDown's K is: a power of two of them up to 4, the fewest
  // that give a wave, for as many tokens as give each at least 16 steps
  // (4096 x 16: 2 CTAs a tile from 2048 tokens); one variant per split
  // count, the most splits first (for the most tokens).
  if (ShapedType::isDynamic(problem.k)) {
    int64_t columns = tileN ? tileN : kTileK;
    int64_t ctas =
        llvm::divideCeil(problem.m, 64) * llvm::divideCeil(problem.n, columns);
    int64_t splits = 1;
    while (splits * 2 <= kMaxWeightGradientSplits &&
           ctas * splits < kSplitWaveCtas)
      splits *= 2;
    SmallVector<Tiling> ladder;
    for (; splits >= 1; splits /= 2)
      ladder.push_back({1, columns, splits});
    return ladder;
  }
  // 128x256 tiles give 85 flop per shared-memory byte; on narrow layers
  // (N < 4096) they leave too few CTAs per wave at moderate M, so 128.
  SmallVector<Tiling> ladder{
      {2, tileN ? tileN : (problem.n >= 4096 ? 256 : 128)}};
  // A batched kernel has the batch's CTAs besides.
  if (problem.batched)
    return ladder;
  // Few rows (a short prompt, a small batch): 128x256 tiles would leave most
  // SMs idle (M = 128, N = 4096: 16 CTAs), and the kernel is bound by
  // reading W, which only more CTAs read faster. 128x128 tiles first, then
  // 64x64 (128 CTAs there); W is read once per tile row, from L2 after the
  // first.
  if (!tileN && ladder.front().tileN > 128)
    ladder.push_back({2, 128});
  ladder.push_back({1, tileN ? tileN : kTileK});
  return ladder;
}

/// The deepest pipeline of `spec`'s tiles that fits in shared memory, at
/// most `maxStages` when non-zero.
static int64_t chooseStages(const GemmKernelSpec &spec, int64_t maxStages) {
  // Less room for a multicast kernel's empty barriers (8 bytes a stage),
  // reserved in every kernel: the stage count does not depend on whether
  // the tiling keeps the multicast (no default count changes).
  int64_t budget = kSharedMemoryBudget - kMaxStages * 8 -
                   getDownScratchBytes(spec) - getBiasBytes(spec);
  // The dB region, 1024-aligned.
  if (spec.fuseBGrad)
    budget -= getBGradBytes(spec) + 1024;
  // A persistent kernel's epilogue tile has room of its own (1 KiB for its
  // alignment).
  if (spec.persistentCtas)
    budget -= getEpilogueBytes(spec) + 1024;
  int64_t stages = budget / getStageBytes(spec);
  // As deep as shared memory allows: the memory-bound kernels (LoraDown,
  // the weight gradients) and the 64x64 tiles run one CTA per SM, and more
  // bytes in flight read faster (bench/gpu/results: LoraDown at K = 4096,
  // M = 2048 took about 25 us with 4 stages, 18 with 14, both measured as
  // the LoRA forward's time over the Matmul kernel's).
  int64_t cap = kMaxStages;
  if (maxStages)
    cap = std::min(cap, maxStages);
  return std::clamp<int64_t>(stages, 2, cap);
}

SmallVector<GemmKernelSpec>
cuda::chooseGemmTilings(const GemmKernelSpec &problem, int64_t tileN,
                        int64_t maxStages, int64_t rows) {
  SmallVector<Tiling> ladder = getTilingLadder(problem, tileN);
  SmallVector<GemmKernelSpec> variants;
  // The rows left to the tilings after this one: those below the least row
  // count at which this one's grid has kSmallGridCtas CTAs. A tiling whose
  // range is empty (the one before already fills the SMs wherever it does)
  // is left out.
  int64_t maxRows = ShapedType::kDynamic;
  for (auto [i, tiling] : llvm::enumerate(ladder)) {
    GemmKernelSpec spec = problem;
    spec.consumers = tiling.consumers;
    spec.tileN = tiling.tileN;
    spec.splits = tiling.splits;
    spec.multicast = supportsMulticast(spec) ? problem.multicast : 1;
    spec.persistentCtas = supportsPersistent(spec) ? problem.persistentCtas : 0;
    // A persistent kernel's epilogue tile takes room from the stages. Where
    // fewer than kMinPersistentStages would be left (an f32 output at
    // 128x256: 2), the tiling stays one CTA per tile: two stages with a
    // wgmma group in flight would leave every TMA load's latency exposed.
    if (spec.persistentCtas) {
      GemmKernelSpec persistent = spec;
      persistent.directEpilogue = true;
      if (chooseStages(persistent, /*maxStages=*/0) < kMinPersistentStages)
        spec.persistentCtas = 0;
    }
    spec.directEpilogue = (problem.directEpilogue || spec.persistentCtas) &&
                          supportsDirectEpilogue(spec);
    spec.stages = chooseStages(spec, maxStages);
    assert(getGemmDynamicSharedMemory(spec) <= kSharedMemoryBudget &&
           "a tiling that fits in shared memory");
    assert((!spec.fuseAGrad ||
            getAGradBytes(spec) <= spec.stages * getStageBytes(spec)) &&
           "x's block and dA's parts fit in the stages");
    spec.minRows = 1;
    if (i + 1 < ladder.size() && ShapedType::isDynamic(spec.k)) {
      // A weight gradient's rows are the tokens it contracts over.
      spec.minRows = spec.splits * kMinStepsPerSplit * kTileK;
    } else if (i + 1 < ladder.size()) {
      int64_t ctasPerRowTile =
          llvm::divideCeil(spec.n, spec.tileN) * spec.splits;
      int64_t rowTiles = llvm::divideCeil(
          spec.kind == GemmKind::LoraDown ? kSplitWaveCtas : kSmallGridCtas,
          ctasPerRowTile);
      spec.minRows = (rowTiles - 1) * spec.tileM() + 1;
    }
    spec.maxRows = maxRows;
    if (!ShapedType::isDynamic(maxRows) && spec.minRows > maxRows)
      continue;
    variants.push_back(spec);
    if (spec.minRows == 1)
      break;
    maxRows = spec.minRows - 1;
  }
  if (ShapedType::isDynamic(rows))
    return variants;
  // A static row count: the one tiling for it, launched for any (no rows:
  // nothing is launched).
  const GemmKernelSpec *fits =
      llvm::find_if(variants, [&](const GemmKernelSpec &spec) {
        return rows >= spec.minRows;
      });
  GemmKernelSpec chosen = fits == variants.end() ? variants.front() : *fits;
  chosen.minRows = 1;
  chosen.maxRows = ShapedType::kDynamic;
  return {chosen};
}

GemmKernelSpec cuda::getLoraDownProblem(const GemmKernelSpec &linear) {
  GemmKernelSpec down;
  down.kind = GemmKind::LoraDown;
  down.elementType = down.resultType = linear.elementType;
  down.m = linear.m;
  down.k = linear.k;
  down.n = down.rank = linear.rank;
  down.scale = linear.scale;
  // The backward's dx kernel reads its down weight (B) transposed too.
  down.transposedB = linear.transposedB;
  return down;
}

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

SmallVector<TensorMapParam>
cuda::getGemmKernelParams(const GemmKernelSpec &spec) {
  Type elem = spec.elementType;
  int64_t tileM = spec.tileM();
  SmallVector<TensorMapParam> params;
  // x: tileM x 64 boxes, or 64 x 64 boxes of the transposed x.
  if (spec.transposedA)
    params.push_back({"x", elem, {spec.k, spec.m}, {kTileK, kTileK}, 128});
  else
    params.push_back({"x", elem, {spec.m, spec.k}, {tileM, kTileK}, 128});
  // A right-hand operand [k, n] in 64 x 64 boxes, or transposed in one
  // tileN x 64 box.
  auto right = [&](StringRef role, int64_t k, int64_t rows) {
    // A multicast kernel's CTAs each load 1/multicast of the box.
    if (spec.transposedB)
      params.push_back({role.str(),
                        elem,
                        {rows, k},
                        {spec.tileN / spec.multicast, kTileK},
                        128});
    else
      params.push_back({role.str(), elem, {k, spec.n}, {kTileK, kTileK}, 128});
  };
  switch (spec.kind) {
  case GemmKind::Matmul:
    right("w", spec.k, spec.wRows ? spec.wRows : spec.n);
    break;
  case GemmKind::LoraDown:
    right("a", spec.k, spec.n);
    break;
  case GemmKind::LoraLinear:
    right("w", spec.k, spec.n);
    // A fused LoraLinear reads A in [64 x 16] slices (of a transposed A,
    // [16 x 64]: K-major, 128 B rows) and stores t, 64 rows (a consumer's)
    // at a time, from the 128B-swizzled x box it wrote.
    if (spec.fuseDown) {
      if (spec.transposedB)
        params.push_back(
            {"a", elem, {spec.rank, spec.k}, {kFusedRank, kTileK}, 128});
      else
        params.push_back(
            {"a", elem, {spec.k, spec.rank}, {kTileK, kFusedRank}, 32});
      params.push_back({"t", elem, {spec.m, spec.rank}, {64, kTileK}, 128});
    } else {
      params.push_back({"t", elem, {spec.m, spec.rank}, {tileM, kTileK}, 128});
    }
    right("b", spec.rank, spec.n);
    // The dx kernel that computes dB reads the tile's rows of ts once, as
    // the N-major B of gᵀ·ts (rows of 32 B), and adds its parts into dBᵀ
    // [k, rank] in f32, 64 rows (a consumer's g step) at a time.
    if (spec.fuseBGrad) {
      params.push_back(
          {"ts", elem, {spec.m, spec.rank}, {tileM, kFusedRank}, 32});
      params.push_back({"db",
                        Float32Type::get(elem.getContext()),
                        {spec.k, spec.rank},
                        {64, kFusedRank},
                        0});
    }
    // The one that computes dA too reads its dx tile's block of x after
    // the main loop, tileN / 64 boxes of [tileM x 64] (M-major for xᵀ, as
    // g's are for gᵀ), and adds dA rows 64 at a time into an f32 [n, rank].
    if (spec.fuseAGrad) {
      params.push_back({"xa", elem, {spec.m, spec.n}, {tileM, kTileK}, 128});
      params.push_back({"da",
                        Float32Type::get(elem.getContext()),
                        {spec.n, spec.rank},
                        {64, kFusedRank},
                        0});
    }
    if (spec.hasBias)
      params.push_back({"bias", elem, {spec.n}, {spec.tileN}, 0});
    break;
  }
  // Each consumer warpgroup stores its own 64 rows; a direct epilogue's in
  // 128B-swizzled boxes of 128 B columns.
  if (spec.directEpilogue)
    params.push_back({"y",
                      spec.resultType,
                      {spec.m, spec.n},
                      {64, getDirectBoxColumns(spec)},
                      128});
  else
    params.push_back({spec.kind == GemmKind::LoraDown ? "t" : "y",
                      spec.resultType,
                      {spec.m, spec.n},
                      {64, getOutputBoxColumns(spec)},
                      0});
  // Every map but the outputs' is read. A box row is 128 B of a row whose
  // next 128 B the next K step reads: the L2 fetches both at once, 256 B
  // per miss from the memory (as DeepGEMM and CUTLASS's TMA maps do). Not
  // yet measured against no promotion (bench/gpu/run.py times each launch
  // of the per-kernel breakdown both ways).
  for (TensorMapParam &param : llvm::drop_end(params))
    param.l2Promotion = (spec.fuseDown && param.role == "t") ||
                                param.role == "db" || param.role == "da"
                            ? 0
                            : 256;
  // A batched kernel's tensors have the batch outermost, one matrix per box.
  if (spec.batched) {
    for (TensorMapParam &param : params) {
      param.dims.insert(param.dims.begin(), ShapedType::kDynamic);
      param.box.insert(param.box.begin(), 1);
    }
  }
  return params;
}

std::string cuda::getGemmKernelAbi(const GemmKernelSpec &spec, StringRef module,
                                   StringRef name, StringRef kernel) {
  llvm::json::Array params;
  for (const TensorMapParam &param : getGemmKernelParams(spec)) {
    llvm::json::Array dims, box;
    for (auto [i, dim] : llvm::enumerate(param.dims)) {
      if (!ShapedType::isDynamic(dim))
        dims.push_back(dim);
      else
        dims.push_back(spec.batched && i == 0 ? "B" : "M");
    }
    for (int64_t dim : param.box)
      box.push_back(dim);
    params.push_back(
        llvm::json::Object{{"role", param.role},
                           {"dtype", getDTypeName(param.elementType)},
                           {"dims", std::move(dims)},
                           {"box", std::move(box)},
                           {"swizzle", param.swizzle},
                           {"l2_promotion", param.l2Promotion}});
  }
  llvm::json::Object abi{
      {"kind", getKindName(spec.kind)},
      {"module", module},
      {"name", name},
      {"kernel", kernel},
      {"block", llvm::json::Array{spec.blockThreads(), 1, 1}},
      {"dynamic_smem", getGemmDynamicSharedMemory(spec)},
      {"tile", llvm::json::Array{spec.tileM(), spec.tileN}},
      {"stages", spec.stages},
      {"splits", spec.splits},
      {"multicast", spec.multicast},
      {"fuse_down", spec.fuseDown},
      {"fuse_b_grad", spec.fuseBGrad},
      {"fuse_a_grad", spec.fuseAGrad},
      {"direct_epilogue", spec.directEpilogue},
      {"persistent", spec.persistentCtas},
      {"rows",
       llvm::json::Array{spec.minRows, ShapedType::isDynamic(spec.maxRows)
                                           ? llvm::json::Value(nullptr)
                                           : llvm::json::Value(spec.maxRows)}},
      {"m", ShapedType::isDynamic(spec.m) ? llvm::json::Value("M")
                                          : llvm::json::Value(spec.m)},
      {"k", ShapedType::isDynamic(spec.k) ? llvm::json::Value("M")
                                          : llvm::json::Value(spec.k)},
      {"transposed_a", spec.transposedA},
      {"transposed_b", spec.transposedB},
      {"batched", spec.batched},
      // Kernel parameters after the tensor maps, as u64s: a dynamic K, or a
      // persistent kernel's M (its tile count).
      {"index_params", ShapedType::isDynamic(spec.k) ? llvm::json::Array{"K"}
                       : spec.persistentCtas         ? llvm::json::Array{"M"}
                                                     : llvm::json::Array{}},
      {"n", spec.n},
      {"rank", spec.rank},
      {"scale", spec.scale},
      {"params", std::move(params)}};
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::json::Value(std::move(abi));
  return text;
}

/// The tensor map type of `param`, whose boxes land in `boxType`.
static nvgpu::TensorMapDescriptorType
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

namespace {

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
  Value mmaStep(Value isMain, Value aBase, Value bBase, Value acc);
  void buildConsumer(Value consumer);
  Value buildFusedDown(Value isMain, Value base, Value aBase, Value consumer,
                       Value tAcc);
  Value buildSwizzle32Descriptor(Value offset, MemRefType type);
  Value buildSwizzle32DescriptorBits(Value offset);
  Value buildBGradStep(Value owned, Value aBase, Value consumer, Value dbAcc);
  void reduceBGrad(Value owned, Value consumer, Value k, Value dbAcc);
  void buildAGrad(Value consumer, Value registers);
  Value wgmmaN16(Value acc, ArrayRef<std::pair<Value, Value>> descriptors);
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

} // namespace

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
  bool rebalance = spec.fuseBGrad && spec.consumers == 2;
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
/// first (t's 16 columns; the other three would multiply zeros).
Value GemmKernelBuilder::mmaStep(Value isMain, Value aBase, Value bBase,
                                 Value acc) {
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
    if (!spec.transposedA && !spec.transposedB) {
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
    // One op per k16 instruction, at descriptors of our own: upstream
    // steps a descriptor through K only for those two layouts. A K-major
    // operand (x, or a transposed w) advances 16 elements (32 B) along its
    // swizzled 128 B rows, an MN-major one (a transposed x, or w) 16 rows
    // of 128 B. Each op commits its own group; the last waits for all but
    // this step's, as waitGroup 1 does above.
    int64_t width = byteWidth(elem);
    int64_t aStep =
        spec.transposedA ? kInstrK * kTileK * width : kInstrK * width;
    int64_t bStep =
        spec.transposedB ? kInstrK * width : kInstrK * kTileK * width;
    MemRefType aStepType = smemType({64, kInstrK}, elem);
    MemRefType bStepType = smemType({kInstrK, spec.tileN}, elem);
    for (int64_t j = 0; j < k16s; ++j) {
      Value aDesc = descriptor(
          arith::AddIOp::create(b, aBase, index(j * aStep)), aStepType, aMap);
      Value bDesc = descriptor(
          arith::AddIOp::create(b, bBase, index(j * bStep)), bStepType, bMap);
      int64_t waitGroup = j + 1 == k16s ? k16s : 2 * k16s - 1;
      in = nvgpu::WarpgroupMmaOp::create(
          b, accType, aDesc, bDesc, b.getI64IntegerAttr(waitGroup),
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
    SmallVector<Value> inits{
        nvgpu::WarpgroupMmaInitAccumulatorOp::create(b, accType)};
    if (spec.fuseDown)
      inits.push_back(
          nvgpu::WarpgroupMmaInitAccumulatorOp::create(b, tAccType));
    // The dx kernel's part of dB, restarted at each owned step by its
    // first wgmma (scale-d 0), not by zeroing registers in the loop: ptxas
    // serializes every wgmma of a kernel that defines accumulator registers
    // between them otherwise (C7515).
    if (spec.fuseBGrad)
      inits.push_back(
          nvgpu::WarpgroupMmaInitAccumulatorOp::create(b, tAccType));
    auto loop = scf::ForOp::create(
        b, index(0), localSteps, index(1), inits,
        [&](OpBuilder &, Location, Value k, ValueRange iterArgs) {
          Value slot = b.createOrFold<arith::AddIOp>(slotBase, k);
          Value s = arith::RemUIOp::create(b, slot, index(spec.stages));
          nvgpu::MBarrierTryWaitParityOp::create(
              b, full, parity(slot, /*flip=*/false), index(10000000), s);
          Value base = arith::MulIOp::create(b, s, index(stageBytes));
          Value aBase = arith::AddIOp::create(b, base, rowOffset);
          Value bBase = arith::AddIOp::create(b, base, index(aBytes));
          Value acc = iterArgs[0];
          // A fused LoraLinear's main steps also accumulate t, and its LoRA
          // step writes it.
          Value isMain, tAcc;
          if (spec.fuseDown) {
            isMain = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, k,
                                           mainSteps);
            tAcc = buildFusedDown(isMain, base, aBase, consumer, iterArgs[1]);
          }
          // The dx kernel's share of dB: the main steps k with
          // k mod (column tiles) = its column tile.
          Value owned, dbAcc;
          if (spec.fuseBGrad) {
            owned = arith::AndIOp::create(
                b, isMain,
                arith::CmpIOp::create(
                    b, arith::CmpIPredicate::eq,
                    arith::RemUIOp::create(b, k, index(columnTiles)),
                    ownColumn));
            dbAcc = buildBGradStep(owned, aBase, consumer, iterArgs.back());
          }
          acc = mmaStep(isMain, aBase, bBase, acc);
          if (spec.fuseBGrad)
            reduceBGrad(owned, consumer, k, dbAcc);
          Value hasPrevious =
              arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, k, index(0));
          scf::IfOp::create(b, hasPrevious, [&](OpBuilder &, Location) {
            Value previous = arith::RemUIOp::create(
                b, arith::AddIOp::create(b, slot, index(spec.stages - 1)),
                index(spec.stages));
            releaseStage(previous);
            scf::YieldOp::create(b);
          });
          SmallVector<Value> results{acc};
          if (tAcc)
            results.push_back(tAcc);
          if (dbAcc)
            results.push_back(dbAcc);
          scf::YieldOp::create(b, results);
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
Value GemmKernelBuilder::buildFusedDown(Value isMain, Value base, Value aBase,
                                        Value consumer, Value tAcc) {
  Type elem = spec.elementType;
  Type f32 = b.getF32Type();
  auto tAccType = cast<nvgpu::WarpgroupAccumulatorType>(tAcc.getType());
  auto ifOp = scf::IfOp::create(
      b, isMain,
      [&](OpBuilder &, Location) {
        int64_t width = byteWidth(elem);
        Value slice = arith::AddIOp::create(
            b, base, index(getStageBytes(spec) - getDownSliceBytes(spec)));
        Value acc = tAcc;
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
          // No wait: the step's main wgmma waits for these.
          acc = nvgpu::WarpgroupMmaOp::create(
              b, tAccType, aDesc, bDesc, b.getI64IntegerAttr(7), UnitAttr(),
              spec.transposedB ? UnitAttr() : b.getUnitAttr(), acc);
        }
        scf::YieldOp::create(b, acc);
      },
      [&](OpBuilder &, Location) {
        // Every consumer stores through the scratch's first 64 rows; its
        // fragment lands at rows 64·c (see the header).
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
        NVVM::FenceProxyOp::create(
            b, NVVM::ProxyKind::async_shared,
            NVVM::SharedSpaceAttr::get(ctx, NVVM::SharedSpace::shared_cta));
        syncWarpgroup(consumer);
        Value stores = arith::AndIOp::create(
            b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, n0, index(0)),
            arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                  threadInWarpgroup, index(0)));
        scf::IfOp::create(b, stores, [&](OpBuilder &, Location) {
          Value rows = arith::MulIOp::create(b, consumer, index(64));
          nvgpu::TmaAsyncStoreOp::create(
              b,
              view(arith::AddIOp::create(
                       b, base,
                       arith::MulIOp::create(b, rows,
                                             index(kTileK * byteWidth(elem)))),
                   {64, kTileK}, elem),
              maps["t"],
              ValueRange{index(0), arith::AddIOp::create(b, m0, rows)},
              Value());
          // Read before the epilogue overwrites the stages (its wait is
          // after the loop, off the LoRA step's path).
          NVVM::CpAsyncBulkCommitGroupOp::create(b);
          scf::YieldOp::create(b);
        });
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
        SmallVector<std::pair<Value, Value>> descriptors;
        for (int64_t j = 0; j < kTileK / kInstrK; ++j)
          descriptors.push_back(
              {mMajorDescriptor(
                   arith::AddIOp::create(b, aBase,
                                         index(j * kInstrK * kTileK * width)),
                   descriptorMaps["x"]),
               buildSwizzle32DescriptorBits(arith::AddIOp::create(
                   b, tsRows, index(j * kInstrK * kFusedRank * width)))});
        scf::YieldOp::create(b, wgmmaN16(dbAcc, descriptors));
      },
      [&](OpBuilder &, Location) { scf::YieldOp::create(b, dbAcc); });
  return ifOp.getResult(0);
}

/// The raw descriptor of a k16 slice at byte `offset` of a 128B-swizzled
/// box of `map` read M-major (trans-a 1: 64 columns of 128 B rows).
Value GemmKernelBuilder::mMajorDescriptor(Value offset, Value map) {
  return UnrealizedConversionCastOp::create(
             b, b.getI64Type(),
             descriptor(offset, smemType({64, kInstrK}, spec.elementType), map))
      .getResult(0);
}

/// Issues the wgmma chain D = Σ A·B over `descriptors` ((A, B) pairs of
/// raw descriptors, one m64n16k16 each: A M-major, trans-a 1; B N-major,
/// trans-b 1), the first with scale-d 0, so that D restarts without any
/// other instruction writing its registers (ptxas serializes every wgmma
/// of a kernel where one does: C7515); `acc` (a 64 x 16 accumulator) is
/// only where D's registers come from. One group, not waited for; returns
/// D. NVVM's wgmma: nvgpu's has no scale-d.
Value GemmKernelBuilder::wgmmaN16(
    Value acc, ArrayRef<std::pair<Value, Value>> descriptors) {
  Type elem = spec.elementType;
  Type f32 = b.getF32Type();
  // The accumulator as upstream lowers it (see buildDirectEpilogue).
  auto inner = LLVM::LLVMStructType::getLiteral(
      ctx, SmallVector<Type>(kFusedRank / 2, f32));
  auto outer = LLVM::LLVMStructType::getLiteral(ctx, {inner});
  NVVM::WGMMATypes operands =
      elem.isBF16() ? NVVM::WGMMATypes::bf16 : NVVM::WGMMATypes::f16;
  Value fragment =
      UnrealizedConversionCastOp::create(b, outer, acc).getResult(0);
  Value d = LLVM::ExtractValueOp::create(b, fragment, ArrayRef<int64_t>{0});
  NVVM::WgmmaFenceAlignedOp::create(b);
  for (auto [i, pair] : llvm::enumerate(descriptors))
    d = NVVM::WgmmaMmaAsyncOp::create(
        b, inner, d, pair.first, pair.second,
        NVVM::MMAShapeAttr::get(ctx, 64, kFusedRank, kInstrK),
        NVVM::WGMMATypesAttr::get(ctx, operands),
        NVVM::WGMMATypesAttr::get(ctx, operands),
        NVVM::WGMMATypesAttr::get(ctx, NVVM::WGMMATypes::f32),
        NVVM::WGMMAScaleOutAttr::get(ctx, i == 0 ? NVVM::WGMMAScaleOut::zero
                                                 : NVVM::WGMMAScaleOut::one),
        NVVM::WGMMAScaleInAttr::get(ctx, NVVM::WGMMAScaleIn::one),
        NVVM::WGMMAScaleInAttr::get(ctx, NVVM::WGMMAScaleIn::one),
        NVVM::MMALayoutAttr::get(ctx, NVVM::MMALayout::col),
        NVVM::MMALayoutAttr::get(ctx, NVVM::MMALayout::row),
        NVVM::MMAIntOverflowAttr());
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
  fragment = LLVM::InsertValueOp::create(b, fragment, d, ArrayRef<int64_t>{0});
  return UnrealizedConversionCastOp::create(b, acc.getType(), fragment)
      .getResult(0);
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
/// the header).
void GemmKernelBuilder::addPart(Value part, int64_t slot, Value consumer,
                                StringRef role, Value row) {
  nvgpu::WarpgroupMmaStoreOp::create(
      b, part,
      firstRows(view(index(slot), {spec.tileM(), kFusedRank}, b.getF32Type()),
                b.getIndexAttr(0), kFusedRank));
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(ctx, NVVM::SharedSpace::shared_cta));
  syncWarpgroup(consumer);
  Value isIssuer = arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                         threadInWarpgroup, index(0));
  scf::IfOp::create(b, isIssuer, [&](OpBuilder &, Location) {
    Value rows = arith::AddIOp::create(
        b, index(slot),
        arith::MulIOp::create(b, consumer, index(64 * kFusedRank * 4)));
    NVVM::CpAsyncBulkTensorReduceOp::create(
        b, mapPointers[role], sharedPointer(rows), NVVM::TMAReduxKind::ADD,
        NVVM::TMAStoreMode::TILE,
        ValueRange{i32(0), arith::IndexCastOp::create(b, b.getI32Type(), row)},
        Value());
    NVVM::CpAsyncBulkCommitGroupOp::create(b);
    scf::YieldOp::create(b);
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
///     rows n0 + 64q by a TMA reduce-add;
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
    scf::IfOp::create(b, valid, [&](OpBuilder &, Location) {
      Value block = arith::MulIOp::create(b, q, index(boxBytes));
      SmallVector<std::pair<Value, Value>> descriptors;
      for (int64_t j = 0; j < tileM / kInstrK; ++j)
        descriptors.push_back(
            {mMajorDescriptor(
                 arith::AddIOp::create(b, block,
                                       index(j * kInstrK * kTileK * width)),
                 descriptorMaps["xa"]),
             buildSwizzle32DescriptorBits(index(
                 getBGradOffset(spec) + j * kInstrK * kFusedRank * width))});
      Value part = wgmmaN16(registers, descriptors);
      NVVM::WgmmaWaitGroupSyncOp::create(b, 0);
      addPart(part, getAGradPartsOffset(spec) + slot * slotBytes, consumer,
              "da",
              arith::AddIOp::create(
                  b, n0, arith::MulIOp::create(b, q, index(kTileK))));
      scf::YieldOp::create(b);
    });
  }
  scf::IfOp::create(b, isIssuer, [&](OpBuilder &, Location) {
    NVVM::CpAsyncBulkWaitGroupOp::create(b, b.getI32IntegerAttr(0),
                                         b.getUnitAttr());
    scf::YieldOp::create(b);
  });
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
  // The TMA store reads shared memory through the async proxy.
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(ctx, NVVM::SharedSpace::shared_cta));
  syncWarpgroup(consumer);
  Value isIssuer = arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                         threadInWarpgroup, index(0));
  scf::IfOp::create(b, isIssuer, [&](OpBuilder &, Location) {
    Value row = arith::AddIOp::create(
        b, m0, arith::MulIOp::create(b, consumer, index(64)));
    // A batched kernel's map is rank 3: the same tile through a rank-3 view.
    Value source =
        spec.batched ? tmaView(outOffset, {64, outCols}, result) : out;
    nvgpu::TmaAsyncStoreOp::create(
        b, source, maps[spec.kind == GemmKind::LoraDown ? "t" : "y"],
        tmaCoords({n0, row}), Value());
    NVVM::CpAsyncBulkCommitGroupOp::create(b);
    // Shared memory must stay valid until the store has read it.
    NVVM::CpAsyncBulkWaitGroupOp::create(b, b.getI32IntegerAttr(0),
                                         b.getUnitAttr());
    scf::YieldOp::create(b);
  });
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
  // The accumulator as upstream lowers it: one struct per m64 (one here) of
  // tileN / 2 f32 members.
  auto inner = LLVM::LLVMStructType::getLiteral(
      ctx, SmallVector<Type>(spec.tileN / 2, f32));
  auto outer = LLVM::LLVMStructType::getLiteral(ctx, {inner});
  Value fragment =
      UnrealizedConversionCastOp::create(b, outer, acc).getResult(0);
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
  // The TMA stores read shared memory through the async proxy.
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(ctx, NVVM::SharedSpace::shared_cta));
  syncWarpgroup(consumer);
  Value isIssuer = arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                         threadInWarpgroup, index(0));
  scf::IfOp::create(b, isIssuer, [&](OpBuilder &, Location) {
    Value row = arith::AddIOp::create(
        b, m0, arith::MulIOp::create(b, consumer, index(64)));
    for (int64_t box = 0; box < spec.tileN / boxColumns; ++box) {
      // A box wholly past N (the last column tile of an N that is not a
      // multiple of tileN) stores nothing.
      Value column = arith::AddIOp::create(b, n0, index(box * boxColumns));
      Value inside = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, column,
                                           index(spec.n));
      scf::IfOp::create(b, inside, [&](OpBuilder &, Location) {
        Value offset =
            arith::AddIOp::create(b, base, index(tileOffset + box * kBoxBytes));
        nvgpu::TmaAsyncStoreOp::create(
            b, tmaView(offset, {64, boxColumns}, result), maps["y"],
            tmaCoords({column, row}), Value());
        scf::YieldOp::create(b);
      });
    }
    NVVM::CpAsyncBulkCommitGroupOp::create(b);
    // Shared memory must stay valid until the stores have read it; a
    // persistent kernel waits for that only before it writes the tile again
    // (buildConsumer), its next tile's main loop meanwhile.
    if (!spec.persistentCtas)
      NVVM::CpAsyncBulkWaitGroupOp::create(b, b.getI32IntegerAttr(0),
                                           b.getUnitAttr());
    scf::YieldOp::create(b);
  });
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
