//===- CudaStreamOrder.cpp - lora-cuda-stream-order -----------------------===//
//
// gpu-to-llvm lowers a `gpu.launch_func` without a token to a launch on a
// stream of its own that the host synchronizes and destroys at once, and
// lora-cuda-device-memory waits for each allocation, copy and free the same
// way: the host waits for every kernel before it launches the next, and the
// device idles for a launch's latency between any two of them (the f32 tiny
// Llama forward waits 127 times per call).
//
// This pass puts the GPU work of each block of the host code on one stream,
// in program order: a `gpu.wait async` at the block's first GPU op creates
// the stream, every launch, allocation, copy, memset and free depends on
// the op before it (one token, threaded through), and the host waits once,
// before the first op that could observe the work or run beside it: the
// block's terminator, or any op whose memory effects are not known to be
// none (a call, an op with regions holding a call or a launch, ...). An op
// with regions gets chains of its own in its blocks, except the `scf.if`s
// by which a launcher guards its launches (against an empty grid, and one
// per variant of a kernel, on the rows it is for): their launches join the
// chain (threadThrough). Waits for tokens of the chain become
// that one wait; the host waits for any other token before the op that
// depends on it. A TMA descriptor is built on the host from the buffer's
// address and shape only, so it does not wait. The launchers of the
// generated kernels (private functions of one block) are inlined first, so
// that their launches join their caller's stream.
//
// Freeing on the stream is safe because the runtime's block cache hands a
// block freed on a stream out again only on that stream (where the new
// work is ordered after the old) until the stream is synchronized.
//
// Unlike upstream's gpu-async-region, this pass also merges the waits that
// lora-cuda-device-memory put around each op, threads the launchers'
// guards, and does not wait before the host-only TMA descriptors.
//
//===----------------------------------------------------------------------===//

#include "lora/Passes/Passes.h"
#include "lora/Target/Cuda.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORACUDASTREAMORDER
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;

/// Whether the host must wait for the stream's work before `op`: `op` ends
/// the block, or might read or write memory, or run GPU work of its own.
static bool needsHostWait(Operation *op) {
  if (op->hasTrait<OpTrait::IsTerminator>())
    return true;
  // Encodes the descriptor on the host from the memref's address, shape and
  // strides; it reads no device memory.
  if (isa<nvgpu::TmaCreateDescriptorOp>(op))
    return false;
  // A persistent kernel's launcher asks the runtime for the SM count, which
  // the driver knows without the stream's work.
  if (auto call = dyn_cast<func::CallOp>(op);
      call && call.getCallee() == lora::cuda::kMultiprocessorCountFunction)
    return false;
  return !isMemoryEffectFree(op);
}

/// The async dependencies of the GPU ops that the pass chains, to replace;
/// none for any other op.
static std::optional<MutableOperandRange> dependenciesOf(Operation *op) {
  // gpu-to-llvm lowers host-shared (managed) allocations synchronously only.
  if (auto alloc = dyn_cast<gpu::AllocOp>(op); alloc && alloc.getHostShared())
    return std::nullopt;
  return TypeSwitch<Operation *, std::optional<MutableOperandRange>>(op)
      .Case<gpu::LaunchFuncOp, gpu::AllocOp, gpu::DeallocOp, gpu::MemcpyOp,
            gpu::MemsetOp>(
          [](auto gpuOp) -> std::optional<MutableOperandRange> {
            return gpuOp.getAsyncDependenciesMutable();
          })
      .Default([](Operation *) { return std::nullopt; });
}

namespace {

/// Threads one token through the GPU ops of one block.
class StreamChain {
public:
  explicit StreamChain(MLIRContext *context)
      : builder(context), tokenType(gpu::AsyncTokenType::get(context)) {}

  /// Chains the GPU ops of `block` and of the blocks nested in it; a chain
  /// still open at the terminator is waited for before it.
  void run(Block &block);
  /// Forgets the tokens of the function done.
  void reset() { ordered.clear(); }

private:
  void visit(Operation *op);
  /// Puts the GPU work in the branches of `ifOp` on the chain (the
  /// launchers guard each launch by the rows it is for); see threadThrough.
  void threadThrough(scf::IfOp ifOp);
  /// Makes `op` depend on the chain alone and its token the current one.
  void append(Operation *op, MutableOperandRange dependencies);
  /// Whether the current token is that of an op that queued work.
  bool hasQueuedWork() const;
  void waitForOthers(Location loc, ArrayRef<Value> others);
  SmallVector<Value> unordered(ValueRange dependencies) const;
  Value startChain(Location loc);
  void endChain(Location loc);
  /// Whether work behind `token` is ordered before the current op already:
  /// it is a token of the open chain, or of one the host waited for.
  bool isOrdered(Value token) const { return ordered.contains(token); }

  OpBuilder builder;
  Type tokenType;
  /// The last token of the chain, null when no chain is open.
  Value current;
  /// The tokens of the open chain and of the chains the host waited for.
  llvm::SmallPtrSet<Value, 32> ordered;
};

} // namespace

/// Whether `op`'s GPU work can join a chain with no host wait: an `scf.if`
/// without results whose branches hold only the GPU ops that the chain
/// takes in and ops that need no wait, none with regions.
static bool canThreadThrough(scf::IfOp op) {
  if (op.getNumResults() != 0)
    return false;
  WalkResult result = op->walk([&](Operation *nested) {
    // Only ops that the chain takes in: any other would end the chain
    // inside the branch, destroying the stream that the ops after the
    // `scf.if` go on with.
    if (nested == op || isa<scf::YieldOp, gpu::WaitOp>(nested) ||
        dependenciesOf(nested))
      return WalkResult::advance();
    if (nested->getNumRegions() != 0 || needsHostWait(nested))
      return WalkResult::interrupt();
    return WalkResult::advance();
  });
  return !result.wasInterrupted();
}

void StreamChain::run(Block &block) {
  for (Operation &op : llvm::make_early_inc_range(block)) {
    if (op.getNumRegions() == 0) {
      visit(&op);
      continue;
    }
    if (auto ifOp = dyn_cast<scf::IfOp>(op);
        ifOp && hasQueuedWork() && canThreadThrough(ifOp)) {
      builder.setInsertionPoint(ifOp);
      threadThrough(ifOp);
      continue;
    }
    // Any other op with regions: the host waits before it if it might touch
    // memory, and each of its blocks has chains of its own.
    visit(&op);
    Value outside = current;
    current = nullptr;
    for (Region &region : op.getRegions())
      for (Block &nested : region)
        run(nested);
    current = outside;
  }
  assert(!current && "the terminator ends every chain");
}

/// The branches' GPU ops join the chain where the `scf.if` is, each
/// depending on the token before it, from the chain's current one. The ops
/// after the `scf.if` go on from the token before it, not from a branch's
/// last: gpu-to-llvm gives an op the stream of its dependency, so every
/// token of a chain lowers to the chain's one stream, and work queued on a
/// stream runs in order; the host wait at the chain's end waits for the
/// branch's work too. (An `scf.if` yielding its token would reach
/// gpu-to-llvm as a block argument, which it takes for an event, and
/// convert-nvgpu-to-nvvm's type converter rejects it before that.)
///
/// The chain must have queued work before the `scf.if` (hasQueuedWork):
/// had it only its `gpu.wait async`, and nothing after the `scf.if`, the
/// wait at its end would wait for that token alone, which the canonicalizer
/// rightly drops as waiting for nothing, and with it the branch's work.
void StreamChain::threadThrough(scf::IfOp ifOp) {
  Value before = current;
  for (Region &branch : ifOp->getRegions()) {
    for (Block &block : branch)
      for (Operation &op :
           llvm::make_early_inc_range(block.without_terminator()))
        visit(&op);
    current = before;
  }
}

bool StreamChain::hasQueuedWork() const {
  if (!current)
    return false;
  auto wait = current.getDefiningOp<gpu::WaitOp>();
  return !wait || !wait.getAsyncDependencies().empty();
}

/// Other work (a token the chain does not order): the host waits for it
/// first, so the chain stays one stream (gpu-to-llvm would lower a join to
/// a new stream that waits on events).
void StreamChain::waitForOthers(Location loc, ArrayRef<Value> others) {
  if (others.empty())
    return;
  gpu::WaitOp::create(builder, loc, Type(), others);
  ordered.insert(others.begin(), others.end());
}

Value StreamChain::startChain(Location loc) {
  current = gpu::WaitOp::create(builder, loc, tokenType, ValueRange())
                .getAsyncToken();
  ordered.insert(current);
  return current;
}

void StreamChain::endChain(Location loc) {
  gpu::WaitOp::create(builder, loc, Type(), ValueRange{current});
  current = nullptr;
}

/// The tokens of `dependencies` that the chain does not order.
SmallVector<Value> StreamChain::unordered(ValueRange dependencies) const {
  SmallVector<Value> others;
  for (Value token : dependencies)
    if (!isOrdered(token))
      others.push_back(token);
  return others;
}

void StreamChain::visit(Operation *op) {
  builder.setInsertionPoint(op);
  if (auto wait = dyn_cast<gpu::WaitOp>(op)) {
    SmallVector<Value> others = unordered(wait.getAsyncDependencies());
    if (!wait.getAsyncToken()) {
      // A host wait for work of this chain (the wait at its end does that)
      // or of one the host waited for already goes; any other stays.
      if (others.empty())
        wait.erase();
      else
        ordered.insert(others.begin(), others.end());
      return;
    }
    waitForOthers(op->getLoc(), others);
    if (current) {
      // A fresh stream for one op (lora-cuda-device-memory): the chain's.
      wait.getAsyncToken().replaceAllUsesWith(current);
      wait.erase();
      return;
    }
    wait.getAsyncDependenciesMutable().clear();
    current = wait.getAsyncToken();
    ordered.insert(current);
    return;
  }
  std::optional<MutableOperandRange> dependencies = dependenciesOf(op);
  if (dependencies)
    return append(op, *dependencies);
  if (current && needsHostWait(op))
    endChain(op->getLoc());
}

void StreamChain::append(Operation *op, MutableOperandRange dependencies) {
  waitForOthers(op->getLoc(), unordered(OperandRange(dependencies)));
  if (!current)
    startChain(op->getLoc());
  dependencies.assign(current);
  if (Value token = cast<gpu::AsyncOpInterface>(op).getAsyncToken()) {
    current = token;
    ordered.insert(current);
    return;
  }
  // A synchronous op (a gpu.launch_func from kernel outlining): a clone
  // that returns a token.
  SmallVector<Type> resultTypes(op->getResultTypes());
  resultTypes.push_back(tokenType);
  OperationState state(op->getLoc(), op->getName(), op->getOperands(),
                       resultTypes, op->getAttrs(), op->getSuccessors());
  Operation *clone = builder.create(state);
  op->replaceAllUsesWith(clone->getResults().drop_back());
  op->erase();
  current = clone->getResults().back();
  ordered.insert(current);
}

namespace {

struct CudaStreamOrderPass
    : lora::impl::LoraCudaStreamOrderBase<CudaStreamOrderPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<func::FuncOp> functions(module.getOps<func::FuncOp>());
    inlineLaunchers(module, functions);
    StreamChain chain(&getContext());
    for (func::FuncOp func : module.getOps<func::FuncOp>()) {
      for (Block &block : func.getBody())
        chain.run(block);
      chain.reset();
    }
  }

  /// Inlines every call of a launcher (a private function of the module
  /// with one block and no results, as lora-generate-cuda-kernels builds)
  /// and erases the launchers left without a call. Upstream's inliner
  /// cannot: the nvgpu dialect declares no inlining interface.
  void inlineLaunchers(ModuleOp module, ArrayRef<func::FuncOp> functions);
};

} // namespace

void CudaStreamOrderPass::inlineLaunchers(ModuleOp module,
                                          ArrayRef<func::FuncOp> functions) {
  SymbolTable symbols(module);
  auto isLauncher = [](func::FuncOp func) {
    return func && func.isPrivate() && !func.isExternal() &&
           func.getBody().hasOneBlock() && func.getNumResults() == 0;
  };
  SmallVector<func::CallOp> calls;
  for (func::FuncOp func : functions)
    func.walk([&](func::CallOp call) {
      if (isLauncher(symbols.lookup<func::FuncOp>(call.getCallee())))
        calls.push_back(call);
    });
  llvm::SetVector<func::FuncOp> inlined;
  OpBuilder builder(&getContext());
  for (func::CallOp call : calls) {
    auto launcher = symbols.lookup<func::FuncOp>(call.getCallee());
    IRMapping mapping;
    mapping.map(launcher.getArguments(), call.getOperands());
    builder.setInsertionPoint(call);
    for (Operation &op : launcher.getBody().front().without_terminator())
      builder.clone(op, mapping);
    call.erase();
    inlined.insert(launcher);
  }
  for (func::FuncOp launcher : inlined)
    if (SymbolTable::symbolKnownUseEmpty(launcher, module))
      launcher.erase();
}
