//===- CudaEmulateOnHost.cpp - lora-cuda-emulate-on-host ------------------===//
//
// Runs the CUDA target's host code and generic kernels on the CPU, so that
// the numerics of what the CUDA pipeline does before NVVM (the
// parallel-dims-first interchange, the collapse of parallel loops, the
// tiling into blocks of threads and its bounds checks, kernel outlining,
// device memory, where buffers are allocated and freed) can be checked on a
// machine without a GPU (`lora-compile --target=cuda-emulated`). What it
// cannot show: a missing dependency between GPU ops (the host runs them in
// program order), races between threads (they run one after another),
// out-of-bounds accesses that land in other memory, and differences
// between libdevice's math and the host's libm.
//
// After lora-cuda-stream-order, in place of the NVVM lowering:
//
//   gpu.func @k (kernel)  -> func.func @<module>_<k>(args..., grid x/y/z,
//                            block x/y/z): the body in loops over the blocks
//                            and, inside, the threads of a block, with
//                            gpu.block_id / thread_id / grid_dim /
//                            block_dim replaced by the loops' values
//   gpu.launch_func       -> func.call of that function
//   gpu.alloc             -> memref.alloc, every element of a float buffer
//                            set to NaN
//   gpu.dealloc           -> the same NaN fill, then memref.dealloc
//   gpu.memcpy            -> memref.copy
//   gpu.wait, tokens      -> dropped (the host runs the work in order)
//
// The NaN fills make a read of a buffer before its first write or after its
// free show in the results, instead of reading memory that happens to hold
// the right values. Threads run one after another, so only kernels whose
// threads do not synchronize or share memory can be emulated: a barrier,
// shuffle, workgroup memory, nvgpu or NVVM op (the generated tensor-core
// kernels) is an error that names the kernel.
//
//===----------------------------------------------------------------------===//

#include "lora/Passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORACUDAEMULATEONHOST
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;

/// Whether the host can run `op` of a kernel body with one thread after
/// another: not a GPU op (barriers, shuffles, nvgpu, NVVM), not a use of a
/// symbol (those of the gpu.module go with it), no memref outside the
/// default memory space (workgroup memory), no stack allocation (the
/// threads' loops are not an allocation scope).
static bool isEmulatable(Operation *op) {
  if (isa<gpu::BlockIdOp, gpu::ThreadIdOp, gpu::GridDimOp, gpu::BlockDimOp,
          gpu::ReturnOp>(op))
    return true;
  StringRef dialect = op->getName().getDialectNamespace();
  if (dialect == gpu::GPUDialect::getDialectNamespace() || dialect == "nvgpu" ||
      dialect == "nvvm" || dialect == "llvm")
    return false;
  if (isa<memref::AllocaOp>(op))
    return false;
  if (llvm::any_of(op->getAttrs(), [](NamedAttribute attr) {
        return isa<SymbolRefAttr>(attr.getValue());
      }))
    return false;
  auto inDefaultSpace = [](Type type) {
    auto memref = dyn_cast<BaseMemRefType>(type);
    return !memref || !memref.getMemorySpace() ||
           matchPattern(memref.getMemorySpace(), m_Zero());
  };
  return llvm::all_of(op->getOperandTypes(), inDefaultSpace) &&
         llvm::all_of(op->getResultTypes(), inDefaultSpace);
}

/// The value of a block or grid size: the function's argument for `dim`.
static Value dimValue(gpu::Dimension dim, ArrayRef<Value> xyz) {
  return xyz[static_cast<unsigned>(dim)];
}

/// Builds `func.func private @name(kernel args..., grid x, y, z, block x,
/// y, z)` whose body runs `kernel`'s body once per thread of the grid.
static FailureOr<func::FuncOp> emulateKernel(gpu::GPUFuncOp kernel,
                                             StringRef name,
                                             SymbolTable &hostSymbols) {
  if (!kernel.getBody().hasOneBlock())
    return kernel.emitError()
           << "cannot emulate kernel '" << kernel.getName()
           << "' on the host: its body has more than one block";
  if (kernel.getNumWorkgroupAttributions() ||
      kernel.getNumPrivateAttributions())
    return kernel.emitError() << "cannot emulate kernel '" << kernel.getName()
                              << "' on the host: it has workgroup or private "
                                 "memory attributions";
  WalkResult walk = kernel.getBody().walk([&](Operation *op) {
    if (isEmulatable(op))
      return WalkResult::advance();
    op->emitError() << "cannot emulate kernel '" << kernel.getName()
                    << "' on the host: its threads run one after another "
                       "there, and '"
                    << op->getName()
                    << "' needs the GPU (a GPU op, a symbol, workgroup "
                       "memory or a stack allocation)";
    return WalkResult::interrupt();
  });
  if (walk.wasInterrupted())
    return failure();

  MLIRContext *context = kernel.getContext();
  Location loc = kernel.getLoc();
  Type indexType = IndexType::get(context);
  SmallVector<Type> argTypes(kernel.getArgumentTypes());
  argTypes.append(6, indexType);
  OpBuilder b(context);
  auto func = func::FuncOp::create(b, loc, name,
                                   FunctionType::get(context, argTypes, {}));
  func.setPrivate();
  hostSymbols.insert(func);
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  ArrayRef<BlockArgument> args = entry->getArguments();
  unsigned numKernelArgs = kernel.getNumArguments();
  SmallVector<Value> grid(args.slice(numKernelArgs, 3));
  SmallVector<Value> block(args.slice(numKernelArgs + 3, 3));

  // for z, y, x over blocks, then z, y, x over the threads of a block.
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  SmallVector<Value> blockIds(3), threadIds(3);
  auto loop = [&](Value upper, Value &iv) {
    auto forOp = scf::ForOp::create(b, loc, zero, upper, one);
    iv = forOp.getInductionVar();
    b.setInsertionPoint(forOp.getBody()->getTerminator());
  };
  for (int d = 2; d >= 0; --d)
    loop(grid[d], blockIds[d]);
  for (int d = 2; d >= 0; --d)
    loop(block[d], threadIds[d]);

  IRMapping mapping;
  Block &body = kernel.getBody().front();
  for (auto [from, to] : llvm::zip(body.getArguments(), args))
    mapping.map(from, to);
  for (Operation &op : body.without_terminator())
    b.clone(op, mapping);
  b.setInsertionPointToEnd(entry);
  func::ReturnOp::create(b, loc);

  func.walk([&](Operation *op) {
    Value replacement =
        TypeSwitch<Operation *, Value>(op)
            .Case([&](gpu::BlockIdOp id) {
              return dimValue(id.getDimension(), blockIds);
            })
            .Case([&](gpu::ThreadIdOp id) {
              return dimValue(id.getDimension(), threadIds);
            })
            .Case([&](gpu::GridDimOp dim) {
              return dimValue(dim.getDimension(), grid);
            })
            .Case([&](gpu::BlockDimOp dim) {
              return dimValue(dim.getDimension(), block);
            })
            .Default([](Operation *) { return Value(); });
    if (!replacement)
      return;
    op->getResult(0).replaceAllUsesWith(replacement);
    op->erase();
  });
  return func;
}

/// Sets every element of a float buffer to NaN (a read before the first
/// write or after the free then shows in the results).
static void poison(OpBuilder &b, Location loc, Value buffer) {
  auto type = cast<MemRefType>(buffer.getType());
  auto elementType = dyn_cast<FloatType>(type.getElementType());
  if (!elementType)
    return;
  Value nan = arith::ConstantOp::create(
      b, loc, elementType,
      b.getFloatAttr(elementType,
                     APFloat::getQNaN(elementType.getFloatSemantics())));
  int64_t rank = type.getRank();
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  SmallVector<Value> lower(rank, zero), upper, steps(rank, one);
  for (int64_t d = 0; d < rank; ++d)
    upper.push_back(memref::DimOp::create(b, loc, buffer, d));
  scf::buildLoopNest(b, loc, lower, upper, steps,
                     [&](OpBuilder &nested, Location loc, ValueRange ivs) {
                       memref::StoreOp::create(nested, loc, nan, buffer, ivs);
                     });
}

namespace {

struct CudaEmulateOnHostPass
    : lora::impl::LoraCudaEmulateOnHostBase<CudaEmulateOnHostPass> {
  void runOnOperation() override;

  /// Replaces one GPU op of the host code with its host form; the op itself
  /// is erased later, together with the token ops.
  LogicalResult emulate(Operation *op,
                        const llvm::StringMap<func::FuncOp> &kernels);
};

} // namespace

LogicalResult
CudaEmulateOnHostPass::emulate(Operation *op,
                               const llvm::StringMap<func::FuncOp> &kernels) {
  OpBuilder b(op);
  Location loc = op->getLoc();
  return TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](gpu::LaunchFuncOp launch) -> LogicalResult {
        std::string name = (launch.getKernelModuleName().getValue() + "::" +
                            launch.getKernelName().getValue())
                               .str();
        auto it = kernels.find(name);
        if (it == kernels.end())
          return launch.emitError() << "cannot emulate the launch of '" << name
                                    << "' on the host: no such kernel";
        if (launch.hasClusterSize())
          return launch.emitError() << "cannot emulate a launch with thread "
                                       "block clusters on the host";
        if (Value shared = launch.getDynamicSharedMemorySize();
            shared && !matchPattern(shared, m_Zero()))
          return launch.emitError() << "cannot emulate a launch with dynamic "
                                       "shared memory on the host";
        SmallVector<Value> operands(launch.getKernelOperands());
        gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
        gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
        for (Value size : {grid.x, grid.y, grid.z, block.x, block.y, block.z})
          operands.push_back(size.getType().isIndex()
                                 ? size
                                 : arith::IndexCastUIOp::create(
                                       b, loc, b.getIndexType(), size));
        func::CallOp::create(b, loc, it->second, operands);
        return success();
      })
      .Case([&](gpu::AllocOp alloc) {
        Value memref = memref::AllocOp::create(
            b, loc, cast<MemRefType>(alloc.getMemref().getType()),
            alloc.getDynamicSizes(),
            alloc.getSymbolOperands(), IntegerAttr());
        alloc.getMemref().replaceAllUsesWith(memref);
        poison(b, loc, memref);
        return success();
      })
      .Case([&](gpu::DeallocOp dealloc) {
        poison(b, loc, dealloc.getMemref());
        memref::DeallocOp::create(b, loc, dealloc.getMemref());
        return success();
      })
      .Case([&](gpu::MemcpyOp copy) {
        memref::CopyOp::create(b, loc, copy.getSrc(), copy.getDst());
        return success();
      })
      .Case([&](gpu::WaitOp) { return success(); })
      .Default([&](Operation *op) {
        return op->emitError()
               << "cannot emulate '" << op->getName() << "' on the host";
      });
}

void CudaEmulateOnHostPass::runOnOperation() {
  ModuleOp module = getOperation();
  SymbolTable hostSymbols(module);

  // The kernels, as host functions.
  llvm::StringMap<func::FuncOp> kernels;
  SmallVector<gpu::GPUModuleOp> gpuModules(module.getOps<gpu::GPUModuleOp>());
  for (gpu::GPUModuleOp gpuModule : gpuModules)
    for (auto kernel : gpuModule.getOps<gpu::GPUFuncOp>()) {
      if (!kernel.isKernel())
        continue;
      std::string name =
          (gpuModule.getName() + "_" + kernel.getName()).str();
      FailureOr<func::FuncOp> func =
          emulateKernel(kernel, name, hostSymbols);
      if (failed(func))
        return signalPassFailure();
      kernels[(gpuModule.getName() + "::" + kernel.getName()).str()] = *func;
    }

  // The host code's GPU ops, in host form.
  SmallVector<Operation *> gpuOps;
  module.walk<WalkOrder::PreOrder>([&](Operation *op) {
    if (isa<gpu::GPUModuleOp>(op))
      return WalkResult::skip();
    StringRef dialect = op->getName().getDialectNamespace();
    if (dialect == gpu::GPUDialect::getDialectNamespace() ||
        dialect == "nvgpu")
      gpuOps.push_back(op);
    return WalkResult::advance();
  });
  for (Operation *op : gpuOps)
    if (failed(emulate(op, kernels)))
      return signalPassFailure();

  // What is left of them are the ops and their tokens. A token that reaches
  // another op (an scf.yield) cannot be dropped.
  llvm::SmallPtrSet<Operation *, 32> erased(gpuOps.begin(), gpuOps.end());
  for (Operation *op : gpuOps)
    for (Operation *user : op->getUsers()) {
      if (erased.contains(user))
        continue;
      op->emitError() << "cannot emulate on the host: a result of '"
                      << op->getName() << "' is used by '" << user->getName()
                      << "'";
      return signalPassFailure();
    }
  for (Operation *op : gpuOps)
    op->dropAllUses();
  for (Operation *op : gpuOps)
    op->erase();
  for (gpu::GPUModuleOp gpuModule : gpuModules)
    gpuModule->erase();
  module->removeAttr(gpu::GPUDialect::getContainerModuleAttrName());
}
