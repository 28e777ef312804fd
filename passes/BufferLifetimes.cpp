//===- BufferLifetimes.cpp - lora-shrink-buffer-lifetimes -----------------===//
//
// Upstream's ownership-based deallocation frees every buffer at the end of
// the block it was allocated in, the function's body for a compiled model:
// a forward then holds every activation of every layer until it returns,
// and a train step every activation of the forward and every temporary of
// the backward. On the Llama train step of bench/train_memory.py (batch 8 x
// seq 128), the bufferized step freed 195 of its 228 buffers only at its
// return. This pass moves each buffer's allocation down to right before the
// first op of the block that uses it, and its deallocation up to right
// after the last one, so that the peak is what is live at once.
//
//===----------------------------------------------------------------------===//

#include "BufferLifetimes.h"

#include "lora/Passes/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORASHRINKBUFFERLIFETIMES
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;

/// Whether `result` of `op`, which uses `value`, may hold the address of
/// the buffer `value` is or holds. Of a buffer (a memref): anything but a
/// number (a view, a cast, a TMA descriptor, a token of an op reading it),
/// and its address as an index. Of anything else that holds the address (a
/// descriptor, a token, the address itself): every result.
static bool mayHoldAddress(Value value, Operation *op, Value result) {
  return !isa<BaseMemRefType>(value.getType()) ||
         isa<memref::ExtractAlignedPointerAsIndexOp>(op) ||
         !result.getType().isIntOrIndexOrFloat();
}

lora::BufferUses lora::findBufferUses(Value buffer) {
  BufferUses uses;
  Operation *start = buffer.getDefiningOp();
  uses.first = uses.last = start;
  Block *block = start->getBlock();
  SmallVector<Value> worklist{buffer};
  llvm::SmallPtrSet<Value, 8> seen{buffer};
  while (!worklist.empty()) {
    Value value = worklist.pop_back_val();
    for (OpOperand &use : value.getUses()) {
      Operation *owner = use.getOwner();
      Operation *user = block->findAncestorOpInBlock(*owner);
      if (!user || owner->hasTrait<OpTrait::IsTerminator>() ||
          isa<RegionBranchTerminatorOpInterface>(owner)) {
        uses.escapes = true;
        continue;
      }
      // What holds the address must not be written to memory (a store of
      // the address, a token added to a group), where it is not followed.
      if (!isa<BaseMemRefType>(value.getType()) &&
          !isa<gpu::GPUDialect>(owner->getDialect()) &&
          mightHaveEffect<MemoryEffects::Write>(owner)) {
        uses.escapes = true;
        continue;
      }
      if (auto dealloc = dyn_cast<memref::DeallocOp>(owner)) {
        if (dealloc->getBlock() == block)
          uses.deallocs.push_back(dealloc);
        else
          uses.escapes = true;
        continue;
      }
      if (uses.first == start || user->isBeforeInBlock(uses.first))
        uses.first = user;
      if (uses.last->isBeforeInBlock(user))
        uses.last = user;
      // The results of the op that uses it and, for a use in a region, of
      // the op of the block that holds the region (a token that says when
      // the region has run).
      for (Operation *op : {owner, user}) {
        for (Value result : op->getResults())
          if (mayHoldAddress(value, owner, result) &&
              seen.insert(result).second)
            worklist.push_back(result);
        if (owner == user)
          break;
      }
    }
  }
  return uses;
}

namespace {

struct LoraShrinkBufferLifetimesPass
    : lora::impl::LoraShrinkBufferLifetimesBase<LoraShrinkBufferLifetimesPass> {
  void runOnOperation() override {
    SmallVector<memref::AllocOp> allocs;
    getOperation().walk(
        [&](memref::AllocOp alloc) { allocs.push_back(alloc); });
    for (memref::AllocOp alloc : allocs) {
      lora::BufferUses uses = lora::findBufferUses(alloc.getResult());
      // A buffer that outlives its block, or is freed more than once along
      // some path (only under conditions this pass does not see), stays.
      if (uses.escapes || uses.deallocs.size() != 1)
        continue;
      memref::DeallocOp dealloc = uses.deallocs.front();
      if (dealloc.getMemref() != alloc.getResult())
        continue;
      if (uses.first != alloc)
        alloc->moveBefore(uses.first);
      if (uses.last != alloc && uses.last->isBeforeInBlock(dealloc))
        dealloc->moveAfter(uses.last);
      else if (uses.last == alloc)
        dealloc->moveAfter(alloc);
    }
  }
};

} // namespace
