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
// extent 1.
//
//===----------------------------------------------------------------------===//

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
    if (failed(applyPatternsGreedily(
            getOperation(), std::move(patterns),
            GreedyRewriteConfig().setUseTopDownTraversal(true))))
      return signalPassFailure();
  }
};

} // namespace
