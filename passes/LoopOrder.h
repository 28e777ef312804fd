//===- LoopOrder.h - generalizing and reordering linalg ops -----*- C++ -*-===//
//
// Shared by the passes that rewrite a linalg op's indexing maps or loop
// order, which named ops do not let them change.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_PASSES_LOOPORDER_H
#define LORA_PASSES_LOOPORDER_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"

namespace mlir::lora {

/// `op` as a linalg.generic: itself, or the named op generalized in place.
inline FailureOr<linalg::GenericOp> asGeneric(RewriterBase &rewriter,
                                              linalg::LinalgOp op) {
  if (auto generic = dyn_cast<linalg::GenericOp>(op.getOperation()))
    return generic;
  rewriter.setInsertionPoint(op);
  return linalg::generalizeNamedOp(rewriter, op);
}

/// Interchanges the loops of `op` so that new loop i is old loop order[i],
/// generalizing a named op first; leaves `op` alone when `order` is the
/// identity.
inline void reorderLoops(RewriterBase &rewriter, linalg::LinalgOp op,
                         ArrayRef<unsigned> order) {
  if (llvm::equal(order, llvm::seq<unsigned>(0, order.size())))
    return;
  FailureOr<linalg::GenericOp> generic = asGeneric(rewriter, op);
  if (succeeded(generic))
    (void)linalg::interchangeGenericOp(rewriter, *generic, order);
}

} // namespace mlir::lora

#endif // LORA_PASSES_LOOPORDER_H
