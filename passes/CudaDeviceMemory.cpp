//===- CudaDeviceMemory.cpp - lora-cuda-device-memory ---------------------===//
//
// On the CUDA target every buffer lives in device memory: the runtime passes
// device pointers for the arguments and results, and the host code only
// allocates and launches. After bufferization and kernel outlining this pass
// moves the host functions' own buffers there:
//
//   memref.alloc      -> gpu.alloc
//   memref.dealloc    -> gpu.dealloc
//   memref.copy       -> gpu.memcpy (identity layouts only)
//   memref.get_global -> a device copy of the constant, freed after its
//                        last use
//
// each in async form on a fresh token and waited for at once, the only form
// gpu-to-llvm lowers. Anything else on the host that reads or writes a
// buffer would touch device memory from the CPU: it is an error that names
// the op.
//
//===----------------------------------------------------------------------===//

#include "BufferLifetimes.h"

#include "lora/Passes/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORACUDADEVICEMEMORY
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;

namespace {

/// Builds an async gpu op with `build(dependency token)` and waits for it.
template <typename BuildFn>
auto createAndWait(PatternRewriter &rewriter, Location loc, BuildFn build) {
  auto tokenType = gpu::AsyncTokenType::get(rewriter.getContext());
  Value ready =
      gpu::WaitOp::create(rewriter, loc, tokenType, ValueRange()).getResult(0);
  auto op = build(tokenType, ready);
  gpu::WaitOp::create(rewriter, loc, Type(), ValueRange{op.getAsyncToken()});
  return op;
}

Value allocateOnDevice(PatternRewriter &rewriter, Location loc, MemRefType type,
                       ValueRange dynamicSizes, ValueRange symbols) {
  return createAndWait(rewriter, loc,
                       [&](Type tokenType, Value ready) {
                         return gpu::AllocOp::create(
                             rewriter, loc, type, tokenType, ValueRange{ready},
                             dynamicSizes, symbols, UnitAttr());
                       })
      .getMemref();
}

struct AllocToDevice : OpRewritePattern<memref::AllocOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(memref::AllocOp op,
                                PatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, allocateOnDevice(rewriter, op.getLoc(), op.getType(),
                                            op.getDynamicSizes(),
                                            op.getSymbolOperands()));
    return success();
  }
};

struct DeallocToDevice : OpRewritePattern<memref::DeallocOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(memref::DeallocOp op,
                                PatternRewriter &rewriter) const override {
    createAndWait(rewriter, op.getLoc(), [&](Type tokenType, Value ready) {
      return gpu::DeallocOp::create(rewriter, op.getLoc(), tokenType,
                                    ValueRange{ready}, op.getMemref());
    });
    rewriter.eraseOp(op);
    return success();
  }
};

struct CopyToDevice : OpRewritePattern<memref::CopyOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(memref::CopyOp op,
                                PatternRewriter &rewriter) const override {
    createAndWait(rewriter, op.getLoc(), [&](Type tokenType, Value ready) {
      return gpu::MemcpyOp::create(rewriter, op.getLoc(), tokenType,
                                   ValueRange{ready}, op.getTarget(),
                                   op.getSource());
    });
    rewriter.eraseOp(op);
    return success();
  }
};

/// A constant global read on the host: copied to device memory where it is
/// read, freed after its last use (freeConstantCopies).
struct GlobalToDevice : OpRewritePattern<memref::GetGlobalOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(memref::GetGlobalOp op,
                                PatternRewriter &rewriter) const override {
    if (op->hasAttr(kCopiedAttr))
      return failure();
    Location loc = op.getLoc();
    rewriter.setInsertionPointAfter(op);
    rewriter.modifyOpInPlace(
        op, [&] { op->setAttr(kCopiedAttr, rewriter.getUnitAttr()); });
    Value device = allocateOnDevice(rewriter, loc, op.getType(), ValueRange(),
                                    ValueRange());
    auto copy = createAndWait(rewriter, loc, [&](Type tokenType, Value ready) {
      return gpu::MemcpyOp::create(rewriter, loc, tokenType, ValueRange{ready},
                                   device, op.getResult());
    });
    rewriter.replaceAllUsesExcept(op.getResult(), device, copy);
    return success();
  }
  static constexpr StringLiteral kCopiedAttr = "lora.copied_to_device";
};

/// True for the host ops that may have buffers as operands: the ones this
/// pass rewrites, launches, calls, and ops that only compute addresses.
bool isAllowedOnHost(Operation *op) {
  if (isa<memref::AllocOp, memref::DeallocOp, memref::CopyOp,
          memref::GetGlobalOp, func::CallOp, func::ReturnOp>(op))
    return true;
  if (isa<gpu::GPUDialect>(op->getDialect()))
    return true;
  if (isa<ViewLikeOpInterface>(op) || isa<memref::DimOp>(op) ||
      isa<memref::ExtractStridedMetadataOp>(op) ||
      isa<memref::ExtractAlignedPointerAsIndexOp>(op))
    return true;
  return isMemoryEffectFree(op);
}

struct CudaDeviceMemoryPass
    : lora::impl::LoraCudaDeviceMemoryBase<CudaDeviceMemoryPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<func::FuncOp> hostFunctions(module.getOps<func::FuncOp>());
    bool failed = false;
    for (func::FuncOp func : hostFunctions) {
      func.walk([&](Operation *op) {
        bool touchesBuffer =
            llvm::any_of(op->getOperandTypes(), llvm::IsaPred<MemRefType>);
        if (touchesBuffer && !isAllowedOnHost(op)) {
          op->emitError() << "the CUDA target keeps buffers in device "
                             "memory, but '"
                          << op->getName()
                          << "' would access one on the host; it must be in "
                             "a GPU kernel";
          failed = true;
        }
      });
      func.walk([&](memref::CopyOp copy) {
        auto identity = [](Type type) {
          return cast<MemRefType>(type).getLayout().isIdentity();
        };
        if (!identity(copy.getSource().getType()) ||
            !identity(copy.getTarget().getType())) {
          copy.emitError() << "the CUDA target copies buffers with "
                              "gpu.memcpy, which needs contiguous buffers";
          failed = true;
        }
      });
    }
    if (failed)
      return signalPassFailure();
    for (func::FuncOp func : hostFunctions)
      freeAfterLastUse(func);

    RewritePatternSet patterns(&getContext());
    patterns.add<AllocToDevice, DeallocToDevice, CopyToDevice, GlobalToDevice>(
        &getContext());
    FrozenRewritePatternSet frozen(std::move(patterns));
    for (func::FuncOp func : hostFunctions) {
      if (applyPatternsGreedily(func, frozen).failed())
        return signalPassFailure();
      freeConstantCopies(func);
    }
  }

  /// Frees each device copy of a constant after its last use.
  void freeConstantCopies(func::FuncOp func);

  /// Adds a memref.dealloc after the last use of each allocation that is
  /// not returned.
  void freeAfterLastUse(func::FuncOp func);
};

} // namespace

void CudaDeviceMemoryPass::freeConstantCopies(func::FuncOp func) {
  SmallVector<Value> copies;
  func.walk([&](memref::GetGlobalOp op) {
    if (!op->removeAttr(GlobalToDevice::kCopiedAttr))
      return;
    for (Operation *user : op->getUsers())
      if (auto memcpy = dyn_cast<gpu::MemcpyOp>(user))
        copies.push_back(memcpy.getDst());
  });
  IRRewriter rewriter(func.getContext());
  auto tokenType = gpu::AsyncTokenType::get(func.getContext());
  for (Value copy : copies) {
    lora::BufferUses uses = lora::findBufferUses(copy);
    if (uses.escapes)
      continue; // Returned: the caller's to free.
    Location loc = copy.getLoc();
    rewriter.setInsertionPointAfter(uses.last);
    Value ready = gpu::WaitOp::create(rewriter, loc, tokenType, ValueRange())
                      .getResult(0);
    Value done = gpu::DeallocOp::create(rewriter, loc, tokenType,
                                        ValueRange{ready}, copy)
                     .getAsyncToken();
    gpu::WaitOp::create(rewriter, loc, Type(), ValueRange{done});
  }
}

/// Host code of the CUDA target is straight-line: allocations, launches that
/// complete before they return, views. So a buffer can be allocated right
/// before the first op of its block that uses it and freed after the last.
/// (Upstream's ownership-based deallocation pipeline, which the CPU target
/// runs, rejects gpu.launch_func, whose memory effects are not declared.)
void CudaDeviceMemoryPass::freeAfterLastUse(func::FuncOp func) {
  SmallVector<memref::AllocOp> allocs;
  func.walk([&](memref::AllocOp alloc) { allocs.push_back(alloc); });
  IRRewriter rewriter(func.getContext());
  for (memref::AllocOp alloc : allocs) {
    lora::BufferUses uses = lora::findBufferUses(alloc.getResult());
    if (uses.escapes || !uses.deallocs.empty())
      continue;
    if (uses.first != alloc)
      alloc->moveBefore(uses.first);
    rewriter.setInsertionPointAfter(uses.last);
    memref::DeallocOp::create(rewriter, alloc.getLoc(), alloc.getResult());
  }
}
