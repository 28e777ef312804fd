//===- CudaParallelLoops.cpp - parallel loops for the CUDA target
//----------===//
//
// The CUDA target's generic kernels come from the `scf.parallel` loops of
// convert-linalg-to-parallel-loops: the loop is tiled into blocks of
// threads, and gpu-map-parallel-loops maps the tile loop's dims to the grid
// and the loop within a tile to the threads of a block, x, y, z in order,
// running any dim past the third sequentially. Tiling each dim of a loop
// of rank 1 to 4 by fixed sizes gives blocks of one thread (a 2-d loop with
// sizes 1, 1, 128), blocks whose z dim is above the device's limit of 64
// (a 3-d or 4-d loop: threads (1, 1, 128), which cuLaunchKernel rejects),
// or most threads idle (a dim of 8 tiled by 128).
//
// This pass collapses the parallel dims of each outermost `scf.parallel` of
// a function into one, in row-major order, so that tiling it by one size
// gives full blocks along a 1-d grid whatever the loop's rank and extents.
// Consecutive threads take consecutive elements of the innermost dim, so
// loads and stores along it coalesce.
//
// A linalg op with a reduction dim before a parallel one (a sum over the
// middle dim) would become an `scf.parallel` with an `scf.for` and another
// `scf.parallel` inside, which scf-parallel-loop-tiling tiles at the inner
// loop only. lora-cuda-parallel-dims-first therefore reorders the loops of
// such ops first, parallel dims outermost: each thread then reduces its
// elements' sums alone, in the same order as before.
//
//===----------------------------------------------------------------------===//

#include "LoopOrder.h"

#include "lora/Passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/FoldUtils.h"

#include <numeric>

namespace mlir::lora {
#define GEN_PASS_DEF_LORACUDACOLLAPSEPARALLELLOOPS
#define GEN_PASS_DEF_LORACUDAPARALLELDIMSFIRST
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;

namespace {
struct CudaCollapseParallelLoopsPass
    : lora::impl::LoraCudaCollapseParallelLoopsBase<
          CudaCollapseParallelLoopsPass> {
  void runOnOperation() override {
    SmallVector<scf::ParallelOp> loops;
    getOperation().walk([&](scf::ParallelOp loop) {
      if (loop.getNumLoops() > 1 && !loop->getParentOfType<scf::ParallelOp>())
        loops.push_back(loop);
    });
    IRRewriter rewriter(&getContext());
    for (scf::ParallelOp loop : loops) {
      std::vector<unsigned> dims(loop.getNumLoops());
      std::iota(dims.begin(), dims.end(), 0u);
      rewriter.setInsertionPoint(loop);
      collapseParallelLoops(rewriter, loop, {dims});
    }
    // The collapsed bound is a product of the old ones: fold it to a
    // constant, so that the grid size and the kernel's bounds check are
    // constants too.
    SmallVector<Operation *> arith;
    getOperation().walk([&](Operation *op) {
      if (isa<arith::ArithDialect>(op->getDialect()))
        arith.push_back(op);
    });
    OperationFolder folder(&getContext());
    for (Operation *op : arith)
      (void)folder.tryToFold(op);
  }
};

struct CudaParallelDimsFirstPass
    : lora::impl::LoraCudaParallelDimsFirstBase<CudaParallelDimsFirstPass> {
  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> ops;
    getOperation().walk([&](linalg::LinalgOp op) { ops.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (linalg::LinalgOp op : ops) {
      // The parallel dims, then the others, each in their order.
      SmallVector<unsigned> order;
      SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
      for (auto [dim, kind] : llvm::enumerate(iterators))
        if (kind == utils::IteratorType::parallel)
          order.push_back(dim);
      for (auto [dim, kind] : llvm::enumerate(iterators))
        if (kind != utils::IteratorType::parallel)
          order.push_back(dim);
      lora::reorderLoops(rewriter, op, order);
    }
  }
};
} // namespace
