//===- UntieInits.cpp - lora-untie-inits ----------------------------------===//
//
// CSE merges identical inits into one value that many ops use: constant
// `linalg.fill`s (the zero accumulators of matmuls and reductions) and
// `tensor.empty`s of the same shape, also seen through the same reshape.
// One-shot bufferization gives such a value one buffer: a shared fill is
// copied for every writer but one, and the buffer of a shared empty is
// written in place by the first user and reused by a later one, which keeps
// it allocated in between, from a layer's forward to its backward in a
// train step. This pass gives every user of a shared constant fill or empty
// but the first an init of its own, built right before the user, so that
// each accumulator is written in place and each buffer lives only as long
// as its value (lora-shrink-buffer-lifetimes then frees it there).
//
// On the Llama train step of bench/train_memory.py (batch 8 x seq 128):
// untying the fills took the copies from 136 to 53; with early frees,
// untying the empties (and their reshapes) too takes the bufferized step's
// peak from 15.1 to 12.8 MiB and the forward's from 6.8 to 5.0 MiB. (Without
// early frees, untying the empties raised the peak: every buffer then lived
// to the end.)
//
//===----------------------------------------------------------------------===//

#include "lora/Passes/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORAUNTIEINITS
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;

namespace {

struct LoraUntieInitsPass
    : lora::impl::LoraUntieInitsBase<LoraUntieInitsPass> {
  void runOnOperation() override {
    SmallVector<linalg::FillOp> fills;
    SmallVector<Value> empties;
    getOperation().walk([&](Operation *op) {
      if (auto fill = dyn_cast<linalg::FillOp>(op)) {
        if (fill.hasPureTensorSemantics() &&
            matchPattern(fill.value(), m_Constant()) &&
            !fill.result().hasOneUse())
          fills.push_back(fill);
      } else if (op->getNumResults() == 1 && isEmptyLike(op->getResult(0))) {
        empties.push_back(op->getResult(0));
      }
    });
    OpBuilder b(&getContext());
    for (linalg::FillOp fill : fills) {
      for (OpOperand *use : laterUses(fill.result())) {
        b.setInsertionPoint(use->getOwner());
        Value like = fill.output();
        Value empty = tensor::EmptyOp::create(
            b, fill.getLoc(), tensor::getMixedSizes(b, fill.getLoc(), like),
            cast<RankedTensorType>(like.getType()).getElementType());
        IRMapping mapping;
        mapping.map(like, empty);
        use->set(b.clone(*fill, mapping)->getResult(0));
      }
    }
    // After the fills, whose outputs may have lost all users but one; in
    // program order, so that an empty is untied before its reshapes, each
    // of which then gets a whole chain of its own.
    for (Value empty : empties) {
      for (OpOperand *use : laterUses(empty)) {
        b.setInsertionPoint(use->getOwner());
        use->set(cloneEmptyLike(b, empty));
      }
    }
  }

  /// Whether `value` is a `tensor.empty`, seen through reshapes.
  static bool isEmptyLike(Value value) {
    Operation *op = value.getDefiningOp();
    if (isa_and_nonnull<tensor::EmptyOp>(op))
      return true;
    if (isa_and_nonnull<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(op))
      return isEmptyLike(op->getOperand(0));
    return false;
  }

  /// A copy of an empty-like value, built at `b` with its own empty and
  /// reshapes.
  static Value cloneEmptyLike(OpBuilder &b, Value value) {
    Operation *op = value.getDefiningOp();
    IRMapping mapping;
    if (!isa<tensor::EmptyOp>(op))
      mapping.map(op->getOperand(0), cloneEmptyLike(b, op->getOperand(0)));
    return b.clone(*op, mapping)->getResult(0);
  }

  /// The uses of `value` but the first in its block: the first user keeps
  /// the init, every later one gets its own.
  static SmallVector<OpOperand *> laterUses(Value value) {
    SmallVector<OpOperand *> uses;
    for (OpOperand &use : value.getUses())
      uses.push_back(&use);
    if (uses.size() < 2)
      return {};
    Block *block = value.getParentBlock();
    auto earlier = [&](OpOperand *a, OpOperand *b) {
      Operation *x = block->findAncestorOpInBlock(*a->getOwner());
      Operation *y = block->findAncestorOpInBlock(*b->getOwner());
      return x && y && x != y && x->isBeforeInBlock(y);
    };
    llvm::stable_sort(uses, earlier);
    uses.erase(uses.begin());
    return uses;
  }
};

} // namespace
