//===- CpuLoopPreparation.cpp - loop-level CPU preparation ----------------===//
//
// Two small rewrites on bufferized linalg before it becomes loops.
//
// For C[m,n] += A[m,k] * B[k,n] the loop order (m, k, n) makes the innermost
// loop a contiguous axpy over n: one broadcast of A[m,k], a vector load of
// B[k, n:n+V], a vector FMA into C[m, n:n+V]. The sums are still formed in
// the same order per element, so results are bit-identical to (m, n, k).
//
//===----------------------------------------------------------------------===//

#include "LoopOrder.h"

#include "lora/Passes/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORACPUCONTRACTIONLOOPORDER
#define GEN_PASS_DEF_LORACPUCOPIESTOLINALG
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;

namespace {
struct LoraCpuContractionLoopOrderPass
    : lora::impl::LoraCpuContractionLoopOrderBase<
          LoraCpuContractionLoopOrderPass> {
  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> contractions;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (linalg::isaContractionOpInterface(op) && op.hasPureBufferSemantics())
        contractions.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::LinalgOp op : contractions) {
      SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
      SmallVector<unsigned> parallel, reduction;
      for (auto [i, kind] : llvm::enumerate(iterators))
        (kind == utils::IteratorType::parallel ? parallel : reduction)
            .push_back(i);
      if (parallel.empty() || reduction.empty())
        continue;
      // New order: all parallel loops but the last, the reductions, then
      // the last parallel loop (the output's contiguous dim).
      SmallVector<unsigned> order(parallel.begin(), parallel.end() - 1);
      order.append(reduction.begin(), reduction.end());
      order.push_back(parallel.back());
      lora::reorderLoops(rewriter, op, order);
    }
  }
};

struct LoraCpuCopiesToLinalgPass
    : lora::impl::LoraCpuCopiesToLinalgBase<LoraCpuCopiesToLinalgPass> {
  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    getOperation().walk([&](memref::CopyOp copy) {
      // A 0-d copy is contiguous (an llvm.memcpy without the library), and
      // as linalg it would have no loop to put in a GPU kernel.
      if (copy.getSource().getType().getRank() == 0)
        return;
      rewriter.setInsertionPoint(copy);
      rewriter.replaceOpWithNewOp<linalg::CopyOp>(copy, copy.getSource(),
                                                  copy.getTarget());
    });
  }
};
} // namespace
