//===- FuseElementwise.cpp - lora-fuse-elementwise-ops --------------------===//
//
// Upstream's linalg-fuse-elementwise-ops fuses an elementwise producer into
// any consumer that is its only user, also where the consumer reads each of
// its elements many times: into a contraction, the producer is recomputed
// for every step of the loops its operand does not depend on. The Llama
// export's rotary embedding (two multiplies and an add per element) was
// fused into the attention scores' matmul and so recomputed 128 times per
// element, and an RMSNorm's rsqrt was recomputed along the hidden dim. This
// pass applies the same patterns (elementwise fusion, reshapes folded by
// expansion, constant folding, the canonicalizations) but fuses a producer
// only when the consumer computes each producer element once: every loop
// of the consumer that the fused operand's indexing map leaves out has
// extent 1. It also folds transposes into the ops that read them, but for
// contractions (FoldTransposeIntoConsumers).
//
//===----------------------------------------------------------------------===//

#include "LoopOrder.h"

#include "lora/Passes/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORAFUSEELEMENTWISEOPS
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;

/// Whether the op that uses `fused` computes each element it reads there
/// once per iteration of its loops: every loop dim that the operand's
/// indexing map leaves out has extent 1.
static bool readsEachElementOnce(OpOperand *fused) {
  auto consumer = dyn_cast<linalg::LinalgOp>(fused->getOwner());
  if (!consumer)
    return false;
  AffineMap map = consumer.getMatchingIndexingMap(fused);
  SmallVector<int64_t> ranges = consumer.getStaticLoopRanges();
  for (unsigned dim = 0; dim < map.getNumDims(); ++dim)
    if (!map.isFunctionOfDim(dim) && ranges[dim] != 1)
      return false;
  return true;
}

namespace {

/// A `linalg.transpose` read by a linalg op that is not a contraction: the
/// op reads the transpose's input through the permuted indexing map
/// instead, and the transpose, once unused, goes. Nothing is recomputed: a
/// transpose only moves elements. A named consumer is generalized first, to
/// have a map to permute. Contractions keep reading the transposed copy:
/// with the transpose folded into them, the CPU's innermost loop (over the
/// output's columns) read the operand with a stride and the Llama train
/// step took 1.2x as long (103 against 86 ms, bench/train_memory.py's
/// model), for no lower peak.
struct FoldTransposeIntoConsumers : OpRewritePattern<linalg::TransposeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::TransposeOp transpose,
                                PatternRewriter &rewriter) const override {
    if (!transpose.hasPureTensorSemantics())
      return failure();
    SmallVector<OpOperand *> reads;
    for (OpOperand &use : transpose->getResult(0).getUses()) {
      auto consumer = dyn_cast<linalg::LinalgOp>(use.getOwner());
      if (consumer && consumer.isDpsInput(&use) &&
          consumer.hasPureTensorSemantics() &&
          !linalg::isaContractionOpInterface(consumer))
        reads.push_back(&use);
    }
    if (reads.empty())
      return failure();
    ArrayRef<int64_t> permutation = transpose.getPermutation();
    bool changed = false;
    for (OpOperand *read : reads) {
      unsigned operandNumber = read->getOperandNumber();
      auto consumer = cast<linalg::LinalgOp>(read->getOwner());
      FailureOr<linalg::GenericOp> generalized =
          lora::asGeneric(rewriter, consumer);
      if (failed(generalized))
        continue;
      linalg::GenericOp generic = *generalized;
      // result[i] = input[permutation[i]] elementwise in the indices: the
      // consumer's index i into the result is index permutation[i] of the
      // input.
      OpOperand &operand = generic->getOpOperand(operandNumber);
      AffineMap map = generic.getMatchingIndexingMap(&operand);
      SmallVector<AffineExpr> results(map.getNumResults());
      for (auto [i, dim] : llvm::enumerate(permutation))
        results[dim] = map.getResult(i);
      SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
      maps[operandNumber] = AffineMap::get(
          map.getNumDims(), map.getNumSymbols(), results, getContext());
      rewriter.modifyOpInPlace(generic, [&] {
        generic.setIndexingMapsAttr(rewriter.getAffineMapArrayAttr(maps));
        operand.set(transpose.getInput());
      });
      changed = true;
    }
    return success(changed);
  }
};

struct LoraFuseElementwiseOpsPass
    : lora::impl::LoraFuseElementwiseOpsBase<LoraFuseElementwiseOpsPass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    RewritePatternSet patterns(context);
    linalg::ControlFusionFn singleUse = [](OpOperand *fused) {
      Operation *producer = fused->get().getDefiningOp();
      return producer && producer->hasOneUse();
    };
    linalg::populateElementwiseOpsFusionPatterns(
        patterns, [&](OpOperand *fused) {
          return singleUse(fused) && readsEachElementOnce(fused);
        });
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, singleUse);
    affine::AffineApplyOp::getCanonicalizationPatterns(patterns, context);
    linalg::GenericOp::getCanonicalizationPatterns(patterns, context);
    tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, context);
    tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, context);
    context->getLoadedDialect<linalg::LinalgDialect>()
        ->getCanonicalizationPatterns(patterns);
    linalg::populateConstantFoldLinalgOperations(patterns, singleUse);
    patterns.add<FoldTransposeIntoConsumers>(context);
    if (failed(applyPatternsGreedily(
            getOperation(), std::move(patterns),
            GreedyRewriteConfig().setUseTopDownTraversal(true))))
      return signalPassFailure();
  }
};

} // namespace
