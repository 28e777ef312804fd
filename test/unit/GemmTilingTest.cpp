//===- GemmTilingTest.cpp - the kernel generator's choice of tiles --------===//
//
// A kernel whose row count is known only at run time comes in one variant
// per tiling (chooseGemmTilings), each launched for a range of rows; a whole
// model compiled for its token count gets one tiling. Both must agree: for
// every M, the variant whose range holds M is the tiling chosen for M rows.
//
//===----------------------------------------------------------------------===//

#include "lora/Target/Cuda.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/MLIRContext.h"

#include <set>

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::lora::cuda;

namespace {

class GemmTiling : public ::testing::Test {
protected:
  GemmKernelSpec problem(GemmKind kind, int64_t k, int64_t n,
                         int64_t rank = 0) {
    GemmKernelSpec spec;
    spec.kind = kind;
    spec.elementType = spec.resultType = BFloat16Type::get(&context);
    spec.k = k;
    spec.n = n;
    spec.rank = rank;
    return spec;
  }

  MLIRContext context;
};

std::string tileOf(const GemmKernelSpec &spec) {
  return std::to_string(spec.tileM()) + "x" + std::to_string(spec.tileN);
}

TEST_F(GemmTiling, VariantsCoverEveryRowCountOnce) {
  for (int64_t n : {64, 512, 1024, 4096, 8192, 14336, 50264}) {
    for (int64_t tileN : {0, 64, 128, 256}) {
      SmallVector<GemmKernelSpec> variants =
          chooseGemmTilings(problem(GemmKind::LoraLinear, 4096, n, 16), tileN);
      ASSERT_FALSE(variants.empty());
      // Largest tiles first, for the most rows; the last from 1 row.
      EXPECT_TRUE(ShapedType::isDynamic(variants.front().maxRows));
      EXPECT_EQ(variants.back().minRows, 1);
      for (size_t i = 1; i < variants.size(); ++i)
        EXPECT_EQ(variants[i].maxRows + 1, variants[i - 1].minRows)
            << "N = " << n << ", tile-n " << tileN;
      for (int64_t rows = 1; rows <= 20000; rows += rows < 1100 ? 1 : 97) {
        SmallVector<GemmKernelSpec> chosen = chooseGemmTilings(
            problem(GemmKind::LoraLinear, 4096, n, 16), tileN, 0, rows);
        ASSERT_EQ(chosen.size(), 1u);
        // One tiling, launched for any rows.
        EXPECT_EQ(chosen.front().minRows, 1);
        EXPECT_TRUE(ShapedType::isDynamic(chosen.front().maxRows));
        SmallVector<const GemmKernelSpec *> holders;
        for (const GemmKernelSpec &variant : variants)
          if (variant.minRows <= rows &&
              (ShapedType::isDynamic(variant.maxRows) ||
               rows <= variant.maxRows))
            holders.push_back(&variant);
        ASSERT_EQ(holders.size(), 1u) << "rows " << rows << ", N = " << n;
        const GemmKernelSpec *holder = holders.front();
        EXPECT_EQ(tileOf(*holder), tileOf(chosen.front()))
            << "rows " << rows << ", N = " << n << ", tile-n " << tileN;
        EXPECT_EQ(holder->stages, chosen.front().stages);
        // The rule itself: the first tiling whose grid has at least half
        // of 132 SMs' CTAs, else the last.
        const GemmKernelSpec *rule = &variants.back();
        for (const GemmKernelSpec &variant : variants) {
          int64_t ctas = (rows + variant.tileM() - 1) / variant.tileM() *
                         ((n + variant.tileN - 1) / variant.tileN);
          if (ctas >= 66) {
            rule = &variant;
            break;
          }
        }
        EXPECT_EQ(tileOf(*rule), tileOf(*holder))
            << "rows " << rows << ", N = " << n << ", tile-n " << tileN;
      }
    }
  }
}

TEST_F(GemmTiling, FewRowsTakeSmallerTiles) {
  // N = 4096: 16 column tiles of 256. 128x256 from 5 row tiles (80 CTAs,
  // at least half of 132 SMs), 128x128 from 3 (96 CTAs), 64x64 below.
  SmallVector<GemmKernelSpec> variants =
      chooseGemmTilings(problem(GemmKind::Matmul, 4096, 4096));
  ASSERT_EQ(variants.size(), 3u);
  EXPECT_EQ(tileOf(variants[0]), "128x256");
  EXPECT_EQ(variants[0].minRows, 513);
  EXPECT_EQ(tileOf(variants[1]), "128x128");
  EXPECT_EQ(variants[1].minRows, 257);
  EXPECT_EQ(variants[1].maxRows, 512);
  EXPECT_EQ(tileOf(variants[2]), "64x64");
  EXPECT_EQ(variants[2].consumers, 1);
  EXPECT_EQ(variants[2].maxRows, 256);
  // N = 14336: 56 column tiles; 128x256 from 2 row tiles, 128x128 (112
  // CTAs) for one; 64x64 never.
  variants = chooseGemmTilings(problem(GemmKind::Matmul, 4096, 14336));
  ASSERT_EQ(variants.size(), 2u);
  EXPECT_EQ(variants[0].minRows, 129);
  EXPECT_EQ(tileOf(variants[1]), "128x128");
  EXPECT_EQ(variants[1].minRows, 1);
  // N = 1024: 128x128 tiles to begin with (N < 4096), from 9 row tiles.
  variants = chooseGemmTilings(problem(GemmKind::Matmul, 4096, 1024));
  ASSERT_EQ(variants.size(), 2u);
  EXPECT_EQ(tileOf(variants[0]), "128x128");
  EXPECT_EQ(variants[0].minRows, 1025);
  EXPECT_EQ(tileOf(variants[1]), "64x64");
}

TEST_F(GemmTiling, OneTilingWhereTheRowsDoNotDecide) {
  // LoraDown with too few K steps to split: 64 rows, all of t's columns.
  SmallVector<GemmKernelSpec> down =
      chooseGemmTilings(problem(GemmKind::LoraDown, 1024, 16, 16));
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(tileOf(down.front()), "64x64");
  // A weight gradient contracts over the tokens: its rows are static, and
  // 14336 x 16 has a wave of 64x64 tiles (224).
  GemmKernelSpec grad = problem(GemmKind::Matmul, ShapedType::kDynamic, 16);
  grad.m = 14336;
  grad.transposedA = true;
  ASSERT_EQ(chooseGemmTilings(grad).size(), 1u);
  EXPECT_EQ(chooseGemmTilings(grad).front().splits, 1);
  // A batched kernel has the batch's CTAs besides.
  GemmKernelSpec batched = problem(GemmKind::Matmul, 128, 2048);
  batched.batched = true;
  SmallVector<GemmKernelSpec> bmm = chooseGemmTilings(batched);
  ASSERT_EQ(bmm.size(), 1u);
  EXPECT_EQ(tileOf(bmm.front()), "128x128");
  // No rows: the first tiling (nothing is launched).
  EXPECT_EQ(
      tileOf(chooseGemmTilings(problem(GemmKind::Matmul, 4096, 4096), 0, 0, 0)
                 .front()),
      "128x256");
}

// lora_down's K steps go to a cluster of CTAs: a power of two, at most 8,
// each CTA at least 16 steps of 64, and no more of them than give 7/8 of the
// 132 SMs (116) a CTA at the row count: one variant per split count, the
// fewest splits for the most rows. Every other kernel runs one CTA a tile.
TEST_F(GemmTiling, LoraDownSplitsItsKStepsWhereRowTilesAreFew) {
  // The splits of each variant, the first (for the most rows) first.
  auto splitsOf = [&](int64_t k, int64_t rank) {
    SmallVector<GemmKernelSpec> variants =
        chooseGemmTilings(problem(GemmKind::LoraDown, k, rank, rank));
    SmallVector<int64_t> splits;
    for (const GemmKernelSpec &spec : variants) {
      EXPECT_EQ(checkGemmProblem(spec), "");
      EXPECT_EQ(tileOf(spec), "64x64");
      splits.push_back(spec.splits);
    }
    return splits;
  };
  using Splits = SmallVector<int64_t>;
  EXPECT_EQ(splitsOf(512, 16), Splits({1}));            // 8 steps
  EXPECT_EQ(splitsOf(1024, 16), Splits({1}));           // 16
  EXPECT_EQ(splitsOf(1984, 16), Splits({1}));           // 31
  EXPECT_EQ(splitsOf(2048, 16), Splits({1, 2}));        // 32
  EXPECT_EQ(splitsOf(2040, 16), Splits({1, 2}));        // 32, one partial
  EXPECT_EQ(splitsOf(4096, 16), Splits({1, 2, 4}));     // 64
  EXPECT_EQ(splitsOf(4096, 64), Splits({1, 2, 4}));     //
  EXPECT_EQ(splitsOf(8192, 16), Splits({1, 2, 4, 8}));  // 128
  EXPECT_EQ(splitsOf(14336, 16), Splits({1, 2, 4, 8})); // 224

  // Their rows: from 116 row tiles of 64 one CTA each; from 58, two; from
  // 29, four; below, eight. Together every count from 1, without overlap.
  SmallVector<GemmKernelSpec> variants =
      chooseGemmTilings(problem(GemmKind::LoraDown, 14336, 16, 16));
  ASSERT_EQ(variants.size(), 4u);
  EXPECT_EQ(variants[0].minRows, 115 * 64 + 1);
  EXPECT_TRUE(ShapedType::isDynamic(variants[0].maxRows));
  EXPECT_EQ(variants[1].minRows, 57 * 64 + 1);
  EXPECT_EQ(variants[1].maxRows, 115 * 64);
  EXPECT_EQ(variants[2].minRows, 28 * 64 + 1);
  EXPECT_EQ(variants[2].maxRows, 57 * 64);
  EXPECT_EQ(variants[3].minRows, 1);
  EXPECT_EQ(variants[3].maxRows, 28 * 64);
  // M = 2048 (32 row tiles) at K = 4096: 4 CTAs a tile, 128 in all; a
  // whole model compiled for its token count gets the one for it.
  auto splitsAt = [&](int64_t k, int64_t rows) {
    SmallVector<GemmKernelSpec> chosen =
        chooseGemmTilings(problem(GemmKind::LoraDown, k, 16, 16), 0, 0, rows);
    EXPECT_EQ(chosen.size(), 1u);
    return chosen.front().splits;
  };
  EXPECT_EQ(splitsAt(4096, 2048), 4);
  EXPECT_EQ(splitsAt(4096, 4096), 2);
  EXPECT_EQ(splitsAt(4096, 8192), 1);
  EXPECT_EQ(splitsAt(4096, 128), 4);
  EXPECT_EQ(splitsAt(14336, 128), 8);

  GemmKernelSpec linear =
      chooseGemmTilings(problem(GemmKind::LoraLinear, 14336, 4096, 16)).front();
  EXPECT_EQ(linear.splits, 1);
  linear.splits = 2;
  EXPECT_NE(checkGemmProblem(linear), "");
  GemmKernelSpec down = variants.back();
  down.splits = 16;
  EXPECT_NE(checkGemmProblem(down), "");
}

// A weight gradient with fewer 64x64 tiles than a wave splits its tokens
// over a cluster of CTAs: the fewest (a power of two, at most 4) that give
// 116, for as many tokens as give each CTA at least 16 steps of 64; the
// variants from the most splits (the most tokens) down to none.
TEST_F(GemmTiling, WeightGradientsSplitTheirTokens) {
  auto gradient = [&](int64_t m, int64_t n) {
    GemmKernelSpec grad = problem(GemmKind::Matmul, ShapedType::kDynamic, n);
    grad.m = m;
    grad.transposedA = true;
    SmallVector<GemmKernelSpec> variants = chooseGemmTilings(grad);
    SmallVector<std::pair<int64_t, int64_t>> splitsFrom;
    for (const GemmKernelSpec &spec : variants) {
      EXPECT_EQ(checkGemmProblem(spec), "");
      EXPECT_EQ(tileOf(spec), "64x64");
      splitsFrom.push_back({spec.splits, spec.minRows});
    }
    return splitsFrom;
  };
  using Splits = SmallVector<std::pair<int64_t, int64_t>>;
  // dA of a 4096-wide layer at r = 16: 64 tiles, 2 CTAs each from 2048
  // tokens.
  EXPECT_EQ(gradient(4096, 16), Splits({{2, 2048}, {1, 1}}));
  // dB of a 1024-wide layer at r = 16: 16 tiles, up to 4 CTAs each.
  EXPECT_EQ(gradient(16, 1024), Splits({{4, 4096}, {2, 2048}, {1, 1}}));
  // dB of a 14336-wide one: 224 tiles, a wave already.
  EXPECT_EQ(gradient(16, 14336), Splits({{1, 1}}));
  // The rows of the variants are token counts, together every one from 1.
  GemmKernelSpec grad = problem(GemmKind::Matmul, ShapedType::kDynamic, 1024);
  grad.m = 16;
  grad.transposedA = true;
  SmallVector<GemmKernelSpec> variants = chooseGemmTilings(grad);
  EXPECT_TRUE(ShapedType::isDynamic(variants[0].maxRows));
  for (size_t i = 1; i < variants.size(); ++i)
    EXPECT_EQ(variants[i].maxRows, variants[i - 1].minRows - 1);
  // A static token count picks the one for it.
  EXPECT_EQ(chooseGemmTilings(grad, 0, 0, 5000).front().splits, 4);
  EXPECT_EQ(chooseGemmTilings(grad, 0, 0, 3000).front().splits, 2);
  EXPECT_EQ(chooseGemmTilings(grad, 0, 0, 100).front().splits, 1);
  // A forward Matmul never splits.
  GemmKernelSpec forward =
      chooseGemmTilings(problem(GemmKind::Matmul, 4096, 1024)).front();
  forward.splits = 2;
  EXPECT_NE(checkGemmProblem(forward), "");
}

// The raster of the output tiles: built with constant block ids, the IR
// folds to the tile each CTA computes. Every tile is computed by exactly one
// CTA, and CTAs in launch order walk a group of 8 row tiles down before
// moving one column across.
TEST_F(GemmTiling, RasterVisitsEveryTileOnceInGroupsOfRows) {
  context.loadDialect<arith::ArithDialect>();
  OpBuilder builder(&context);
  Location loc = builder.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  builder.setInsertionPointToEnd(module->getBody());
  auto index = [&](int64_t value) -> Value {
    return arith::ConstantIndexOp::create(builder, loc, value);
  };
  for (int64_t rowTiles : {1, 3, 8, 9, 16, 17, 64}) {
    for (int64_t columnTiles : {2, 5, 16, 56}) {
      SCOPED_TRACE(std::to_string(rowTiles) + " x " +
                   std::to_string(columnTiles));
      std::set<std::pair<int64_t, int64_t>> seen;
      std::vector<std::pair<int64_t, int64_t>> order;
      for (int64_t y = 0; y < rowTiles; ++y) {
        for (int64_t x = 0; x < columnTiles; ++x) {
          auto [row, column] = buildTileRaster(builder, loc, index(x), index(y),
                                               index(rowTiles), columnTiles);
          std::optional<int64_t> r = getConstantIntValue(row);
          std::optional<int64_t> c = getConstantIntValue(column);
          ASSERT_TRUE(r && c);
          EXPECT_GE(*r, 0);
          EXPECT_LT(*r, rowTiles);
          EXPECT_GE(*c, 0);
          EXPECT_LT(*c, columnTiles);
          EXPECT_TRUE(seen.insert({*r, *c}).second)
              << "tile " << *r << ", " << *c << " twice";
          order.push_back({*r, *c});
        }
      }
      EXPECT_EQ(seen.size(), static_cast<size_t>(rowTiles * columnTiles));
      // The order: CTA i of a group is row first + i % rows, column
      // i / rows.
      for (auto [i, tile] : llvm::enumerate(order)) {
        int64_t group = i / (kRasterGroupRows * columnTiles);
        int64_t first = group * kRasterGroupRows;
        int64_t rows = std::min(rowTiles - first, kRasterGroupRows);
        int64_t inGroup = i % (kRasterGroupRows * columnTiles);
        EXPECT_EQ(tile.first, first + inGroup % rows);
        EXPECT_EQ(tile.second, inGroup / rows);
      }
    }
  }
}

TEST_F(GemmTiling, MulticastPairsOnlyTheTilesThatSupportIt) {
  // Requested on the problem, kept by the 128-row tilings of an even number
  // of 64-column w boxes (or a transposed box that halves), dropped by the
  // 64x64 tiles, lora_down, the weight gradients and batched kernels.
  auto multicastOf = [&](GemmKernelSpec problem, int64_t tileN = 0) {
    problem.multicast = 2;
    std::string tilings;
    for (const GemmKernelSpec &spec : chooseGemmTilings(problem, tileN)) {
      EXPECT_EQ(checkGemmProblem(spec), "");
      tilings += tileOf(spec) + ":" + std::to_string(spec.multicast) + " ";
    }
    return tilings;
  };
  EXPECT_EQ(multicastOf(problem(GemmKind::LoraLinear, 4096, 4096, 16)),
            "128x256:2 128x128:2 64x64:1 ");
  EXPECT_EQ(multicastOf(problem(GemmKind::Matmul, 4096, 1024)),
            "128x128:2 64x64:1 ");
  // Three 64-column boxes do not halve.
  EXPECT_EQ(multicastOf(problem(GemmKind::Matmul, 4096, 4096), 192),
            "128x192:1 64x192:1 ");
  GemmKernelSpec dx = problem(GemmKind::LoraLinear, 1024, 4096, 16);
  dx.transposedB = true;
  EXPECT_EQ(multicastOf(dx), "128x256:2 128x128:2 64x64:1 ");
  EXPECT_EQ(multicastOf(problem(GemmKind::LoraDown, 4096, 16, 16)),
            "64x64:1 64x64:1 64x64:1 ");
  GemmKernelSpec gradient = problem(GemmKind::Matmul, ShapedType::kDynamic, 16);
  gradient.m = 4096;
  gradient.transposedA = true;
  EXPECT_EQ(multicastOf(gradient), "64x64:1 64x64:1 ");
  GemmKernelSpec batched = problem(GemmKind::Matmul, 128, 2048);
  batched.batched = true;
  EXPECT_EQ(multicastOf(batched), "128x128:1 ");

  // A transposed w's box is halved, so that each CTA of the pair loads its
  // half of the tile's rows; the empty barriers follow the shared memory
  // the kernel had (one 8-byte mbarrier per stage).
  GemmKernelSpec paired = dx;
  paired.multicast = 2;
  paired = chooseGemmTilings(paired).front();
  GemmKernelSpec single = dx;
  single = chooseGemmTilings(single).front();
  for (const TensorMapParam &param : getGemmKernelParams(paired)) {
    if (param.role == "w" || param.role == "b") {
      EXPECT_EQ(param.box, (SmallVector<int64_t, 3>{128, 64})) << param.role;
    }
  }
  EXPECT_EQ(getGemmDynamicSharedMemory(paired),
            getGemmDynamicSharedMemory(single) + 8 * paired.stages);
  // Only 1 or 2.
  paired.multicast = 4;
  EXPECT_NE(checkGemmProblem(paired), "");
}

TEST_F(GemmTiling, FusedLoraDownReadsASlicesAndStoresT) {
  // Rank at most 16, no batch, a static K.
  GemmKernelSpec fused = problem(GemmKind::LoraLinear, 4096, 4096, 16);
  fused.fuseDown = true;
  SmallVector<GemmKernelSpec> variants = chooseGemmTilings(fused);
  ASSERT_EQ(variants.size(), 3u);
  GemmKernelSpec plain = problem(GemmKind::LoraLinear, 4096, 4096, 16);
  SmallVector<GemmKernelSpec> plainVariants = chooseGemmTilings(plain);
  for (auto [spec, unfused] : llvm::zip(variants, plainVariants)) {
    EXPECT_EQ(checkGemmProblem(spec), "");
    EXPECT_TRUE(spec.fuseDown);
    // A's slices, [64 x 16] in 32 B swizzled rows; t stored 64 rows at a
    // time from the 128B-swizzled x box.
    SmallVector<std::string> roles;
    for (const TensorMapParam &param : getGemmKernelParams(spec)) {
      roles.push_back(param.role);
      if (param.role == "a") {
        EXPECT_EQ(param.box, (SmallVector<int64_t, 3>{64, 16}));
        EXPECT_EQ(param.swizzle, 32);
      }
      if (param.role == "t") {
        EXPECT_EQ(param.box, (SmallVector<int64_t, 3>{64, 64}));
        EXPECT_EQ(param.l2Promotion, 0);
      }
    }
    EXPECT_EQ(roles, (SmallVector<std::string>{"x", "w", "a", "t", "b", "y"}));
    // Each stage holds 2 KiB more; the stages still fit with the t
    // scratch (tileM x 16 floats).
    EXPECT_LE(spec.stages, unfused.stages);
    EXPECT_GE(spec.stages, 4);
    EXPECT_LE(getGemmDynamicSharedMemory(spec), 227 * 1024 - 1024);
  }
  // Rank 8 rounds up to one 16-column slice; 32 does not fit.
  GemmKernelSpec rank8 = problem(GemmKind::LoraLinear, 4096, 4096, 8);
  rank8.fuseDown = true;
  EXPECT_EQ(checkGemmProblem(rank8), "");
  GemmKernelSpec rank32 = problem(GemmKind::LoraLinear, 4096, 4096, 32);
  rank32.fuseDown = true;
  EXPECT_NE(checkGemmProblem(rank32), "");
  // The backward's dx kernel (w, a and b read transposed) computes dt from
  // B's [16 x 64] slices: K-major rows of 128 B, 128B-swizzled; B is
  // [rank, k] there, and dt = scale·g·Bᵀ is its LoraDown problem.
  GemmKernelSpec transposed = fused;
  transposed.transposedB = true;
  EXPECT_EQ(checkGemmProblem(transposed), "");
  for (const TensorMapParam &param : getGemmKernelParams(transposed)) {
    if (param.role != "a")
      continue;
    EXPECT_EQ(param.dims, (SmallVector<int64_t, 3>{16, 4096}));
    EXPECT_EQ(param.box, (SmallVector<int64_t, 3>{16, 64}));
    EXPECT_EQ(param.swizzle, 128);
  }
  GemmKernelSpec down = getLoraDownProblem(transposed);
  EXPECT_TRUE(down.transposedB);
  EXPECT_EQ(down.k, 4096);
  EXPECT_EQ(down.n, 16);
  EXPECT_FALSE(getLoraDownProblem(fused).transposedB);
  GemmKernelSpec batched = fused;
  batched.batched = true;
  EXPECT_NE(checkGemmProblem(batched), "");
  GemmKernelSpec matmul = problem(GemmKind::Matmul, 4096, 4096);
  matmul.fuseDown = true;
  EXPECT_NE(checkGemmProblem(matmul), "");
}

} // namespace

TEST_F(GemmTiling, DxKernelThatComputesDBReadsTsAndAddsIntoDBT) {
  // The backward's dx kernel of a 4096 -> 1024 layer: dx [M, 4096] over
  // the layer's N = 1024 (the kernel's k), dt and dB fused.
  GemmKernelSpec dx = problem(GemmKind::LoraLinear, 1024, 4096, 16);
  dx.transposedB = dx.fuseDown = dx.fuseBGrad = true;
  dx.persistentCtas = 132;
  EXPECT_EQ(checkGemmProblem(dx), "");
  SmallVector<GemmKernelSpec> variants = chooseGemmTilings(dx);
  ASSERT_EQ(variants.size(), 3u);
  // Not persistent (ts is loaded once per tile), where the same kernel
  // without dB would be.
  GemmKernelSpec unfused = dx;
  unfused.fuseBGrad = false;
  EXPECT_GT(chooseGemmTilings(unfused).front().persistentCtas, 0);
  unfused.persistentCtas = 0;
  SmallVector<GemmKernelSpec> unfusedVariants = chooseGemmTilings(unfused);
  for (auto [spec, plain] : llvm::zip(variants, unfusedVariants)) {
    EXPECT_TRUE(spec.fuseBGrad);
    EXPECT_EQ(spec.persistentCtas, 0);
    SmallVector<std::string> roles;
    for (const TensorMapParam &param : getGemmKernelParams(spec)) {
      roles.push_back(param.role);
      // The tile's ts rows in one 32B-swizzled box; dBᵀ [N, r] in f32,
      // 64 rows (a consumer's g step) a reduce-add, not promoted.
      if (param.role == "ts") {
        EXPECT_EQ(param.dims,
                  (SmallVector<int64_t, 3>{ShapedType::kDynamic, 16}));
        EXPECT_EQ(param.box, (SmallVector<int64_t, 3>{spec.tileM(), 16}));
        EXPECT_EQ(param.swizzle, 32);
        EXPECT_EQ(param.l2Promotion, 256);
      }
      if (param.role == "db") {
        EXPECT_TRUE(param.elementType.isF32());
        EXPECT_EQ(param.dims, (SmallVector<int64_t, 3>{1024, 16}));
        EXPECT_EQ(param.box, (SmallVector<int64_t, 3>{64, 16}));
        EXPECT_EQ(param.swizzle, 0);
        EXPECT_EQ(param.l2Promotion, 0);
      }
    }
    EXPECT_EQ(roles, (SmallVector<std::string>{"x", "w", "a", "t", "b", "ts",
                                               "db", "y"}));
    // ts and the consumers' parts (tileM x 16 each way) still leave at
    // least 3 stages, and everything fits.
    EXPECT_GE(spec.stages, 3);
    EXPECT_LE(spec.stages, plain.stages);
    EXPECT_LE(getGemmDynamicSharedMemory(spec), 227 * 1024 - 1024);
    if (spec.stages == plain.stages) {
      EXPECT_GE(getGemmDynamicSharedMemory(spec),
                getGemmDynamicSharedMemory(plain) +
                    spec.tileM() * 16 * (2 + 4));
    }
  }
  // dA too: the layer's x, [M, 4096] (the kernel's n), read in its dx
  // tile's [tileM x 64] boxes, and dA [4096, r] in f32, after db.
  GemmKernelSpec both = dx;
  both.fuseAGrad = true;
  EXPECT_EQ(checkGemmProblem(both), "");
  for (const GemmKernelSpec &spec : chooseGemmTilings(both)) {
    SmallVector<std::string> roles;
    for (const TensorMapParam &param : getGemmKernelParams(spec)) {
      roles.push_back(param.role);
      if (param.role == "xa") {
        EXPECT_EQ(param.dims,
                  (SmallVector<int64_t, 3>{ShapedType::kDynamic, 4096}));
        EXPECT_EQ(param.box, (SmallVector<int64_t, 3>{spec.tileM(), 64}));
        EXPECT_EQ(param.swizzle, 128);
      }
      if (param.role == "da") {
        EXPECT_TRUE(param.elementType.isF32());
        EXPECT_EQ(param.dims, (SmallVector<int64_t, 3>{4096, 16}));
        EXPECT_EQ(param.box, (SmallVector<int64_t, 3>{64, 16}));
        EXPECT_EQ(param.l2Promotion, 0);
      }
    }
    EXPECT_EQ(roles, (SmallVector<std::string>{"x", "w", "a", "t", "b", "ts",
                                               "db", "xa", "da", "y"}));
    // x's block and dA's parts go into the stages: no more shared memory.
    GemmKernelSpec bOnly = spec;
    bOnly.fuseAGrad = false;
    EXPECT_EQ(getGemmDynamicSharedMemory(spec),
              getGemmDynamicSharedMemory(bOnly));
  }
  GemmKernelSpec aOnly = dx;
  aOnly.fuseBGrad = false;
  aOnly.fuseAGrad = true;
  EXPECT_NE(checkGemmProblem(aOnly), "");
  // Multicast as without: each CTA of a pair loads its own g and ts.
  GemmKernelSpec paired = dx;
  paired.multicast = 2;
  paired.persistentCtas = 0;
  EXPECT_EQ(chooseGemmTilings(paired).front().multicast, 2);
  // Only that kernel: dt fused, w transposed.
  GemmKernelSpec forward = dx;
  forward.transposedB = false;
  EXPECT_NE(checkGemmProblem(forward), "");
  GemmKernelSpec unfusedDown = dx;
  unfusedDown.fuseDown = false;
  EXPECT_NE(checkGemmProblem(unfusedDown), "");
}

TEST_F(GemmTiling, DirectEpilogueStoresSwizzledBoxesWithoutStaging) {
  // Requested on the problem, kept by the Matmul and LoraLinear tilings that
  // are not split: not lora_down, not a weight gradient's split variants.
  auto directOf = [&](GemmKernelSpec problem) {
    problem.directEpilogue = true;
    std::string tilings;
    for (const GemmKernelSpec &spec : chooseGemmTilings(problem)) {
      EXPECT_EQ(checkGemmProblem(spec), "");
      tilings += tileOf(spec) + (spec.directEpilogue ? ":d " : ":s ");
    }
    return tilings;
  };
  EXPECT_EQ(directOf(problem(GemmKind::LoraLinear, 4096, 4096, 16)),
            "128x256:d 128x128:d 64x64:d ");
  EXPECT_EQ(directOf(problem(GemmKind::LoraDown, 4096, 16, 16)),
            "64x64:s 64x64:s 64x64:s ");
  GemmKernelSpec gradient = problem(GemmKind::Matmul, ShapedType::kDynamic, 16);
  gradient.m = 4096;
  gradient.transposedA = true;
  EXPECT_EQ(directOf(gradient), "64x64:s 64x64:d ");

  // The output map: boxes of 128 B columns, 128B-swizzled; shared memory
  // holds the stages or the output tile, no f32 staging.
  for (Type result :
       {Type(BFloat16Type::get(&context)), Type(Float32Type::get(&context))}) {
    GemmKernelSpec matmul = problem(GemmKind::Matmul, 4096, 4096);
    matmul.resultType = result;
    GemmKernelSpec staged = chooseGemmTilings(matmul).front();
    matmul.directEpilogue = true;
    GemmKernelSpec direct = chooseGemmTilings(matmul).front();
    ASSERT_TRUE(direct.directEpilogue);
    int64_t width = result.getIntOrFloatBitWidth() / 8;
    const TensorMapParam &y = getGemmKernelParams(direct).back();
    EXPECT_EQ(y.role, "y");
    EXPECT_EQ(y.box, (SmallVector<int64_t, 3>{64, 128 / width}));
    EXPECT_EQ(y.swizzle, 128);
    EXPECT_EQ(getGemmKernelParams(staged).back().swizzle, 0);
    EXPECT_EQ(direct.stages, staged.stages);
    EXPECT_EQ(getGemmDynamicSharedMemory(direct),
              std::max<int64_t>(direct.stages * (128 + 256) * 64 * 2,
                                128 * 256 * width));
  }
}

TEST_F(GemmTiling, PersistentKernelsKeepTheirEpilogueTileApart) {
  // Requested on the problem, kept by the Matmul and LoraLinear tilings of
  // one CTA per tile otherwise: not lora_down, a split, a multicast pair, a
  // batched kernel or a bias; it brings the direct epilogue with it.
  auto persistentOf = [&](GemmKernelSpec problem) {
    problem.persistentCtas = 132;
    std::string tilings;
    for (const GemmKernelSpec &spec : chooseGemmTilings(problem)) {
      EXPECT_EQ(checkGemmProblem(spec), "");
      EXPECT_EQ(spec.directEpilogue, spec.persistentCtas != 0);
      tilings += tileOf(spec) + ":" + std::to_string(spec.persistentCtas) + " ";
    }
    return tilings;
  };
  GemmKernelSpec lora = problem(GemmKind::LoraLinear, 4096, 4096, 16);
  EXPECT_EQ(persistentOf(lora), "128x256:132 128x128:132 64x64:132 ");
  EXPECT_EQ(persistentOf(problem(GemmKind::LoraDown, 4096, 16, 16)),
            "64x64:0 64x64:0 64x64:0 ");
  GemmKernelSpec paired = lora;
  paired.multicast = 2;
  EXPECT_EQ(persistentOf(paired), "128x256:0 128x128:0 64x64:132 ");
  GemmKernelSpec biased = lora;
  biased.hasBias = true;
  EXPECT_EQ(persistentOf(biased), "128x256:0 128x128:0 64x64:0 ");
  GemmKernelSpec batched = problem(GemmKind::Matmul, 128, 2048);
  batched.batched = true;
  EXPECT_EQ(persistentOf(batched), "128x128:0 ");
  GemmKernelSpec gradient = problem(GemmKind::Matmul, ShapedType::kDynamic, 16);
  gradient.m = 4096;
  gradient.transposedA = true;
  EXPECT_EQ(persistentOf(gradient), "64x64:0 64x64:0 ");

  // The output tile (64 KiB at 128x256 in bf16) after the stages, 1 KiB
  // aligned: 3 stages of 48 KiB instead of 4.
  lora.persistentCtas = 132;
  GemmKernelSpec spec = chooseGemmTilings(lora).front();
  EXPECT_EQ(spec.stages, 3);
  int64_t stages = 3 * (128 + 256) * 64 * 2;
  EXPECT_EQ(getGemmDynamicSharedMemory(spec), stages + 128 * 256 * 2);
  EXPECT_LE(getGemmDynamicSharedMemory(spec), 227 * 1024 - 1024);
  // Every tiling still fits, with the fused t's scratch too.
  lora.fuseDown = true;
  for (const GemmKernelSpec &fused : chooseGemmTilings(lora)) {
    EXPECT_GE(fused.stages, 2);
    EXPECT_LE(getGemmDynamicSharedMemory(fused), 227 * 1024 - 1024);
  }
  // An f32 output's tile (128 KiB at 128x256) would leave 2 stages: that
  // tiling stays one CTA per tile (its staging epilogue, 4 stages); the
  // smaller ones keep 3 or more beside their tiles.
  GemmKernelSpec wide = problem(GemmKind::Matmul, 4096, 4096);
  wide.resultType = Float32Type::get(&context);
  EXPECT_EQ(persistentOf(wide), "128x256:0 128x128:132 64x64:132 ");
  wide.persistentCtas = 132;
  for (const GemmKernelSpec &f32 : chooseGemmTilings(wide)) {
    EXPECT_GE(f32.stages, f32.persistentCtas ? 3 : 4) << tileOf(f32);
    EXPECT_LE(getGemmDynamicSharedMemory(f32), 227 * 1024 - 1024);
  }
  // An explicit max-stages cap below 3 is the user's: it does not undo
  // persistence where 3 would fit.
  EXPECT_EQ(chooseGemmTilings(lora, /*tileN=*/0, /*maxStages=*/2)
                .front()
                .persistentCtas,
            132);
  spec.persistentCtas = -1;
  EXPECT_NE(checkGemmProblem(spec), "");
}
