//===- GemmTiling.cpp - tilings, checks and ABI of the GEMM kernels -------===//
//
// What a generated kernel is before it is built: whether the generator takes
// a problem (checkGemmProblem), the tilings it gets (chooseGemmTilings), its
// shared memory (GemmLayout.h) and the tensor maps and JSON ABI its
// launchers and bench/gpu/ read (getGemmKernelParams, getGemmKernelAbi).
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
//===----------------------------------------------------------------------===//

#include "GemmLayout.h"

#include "llvm/Support/JSON.h"

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::cuda;

/// Shared memory a CTA may use on sm_90 (227 KiB), less 2 KiB for the
/// static part (mbarriers, padded to the 1024-aligned dynamic base).
static constexpr int64_t kSharedMemoryBudget = 227 * 1024 - 2048;

/// The fewest stages a persistent kernel keeps beside its epilogue tile.
static constexpr int64_t kMinPersistentStages = 3;

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

// A field added to GemmKernelSpec (mostly) changes its size: then
// GemmKernelSpec::fields() needs it too, or two kernels that differ in it
// would be shared.
static_assert(sizeof(GemmKernelSpec) == 152,
              "add the new field to GemmKernelSpec::fields()");

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
