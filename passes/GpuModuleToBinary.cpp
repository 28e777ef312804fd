//===- GpuModuleToBinary.cpp - lora-gpu-module-to-binary ------------------===//
//
// gpu-module-to-binary with the modules serialized in parallel (see
// Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lora/Passes/Passes.h"

#include "mlir/Dialect/GPU/IR/CompilationInterfaces.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Threading.h"
#include "llvm/ADT/StringSwitch.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORAGPUMODULETOBINARY
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;

namespace {

/// The objects of `module`, one per target, or failure after reporting why.
FailureOr<SmallVector<Attribute>> serialize(gpu::GPUModuleOp module,
                                            const gpu::TargetOptions &options) {
  ArrayAttr targets = module.getTargetsAttr();
  if (!targets)
    return module.emitError("the module has no target attributes");
  SmallVector<Attribute> objects;
  for (Attribute attribute : targets) {
    // gpu.module's verifier admits target attributes only.
    auto target = cast<gpu::TargetAttrInterface>(attribute);
    std::optional<SmallVector<char, 0>> serialized =
        target.serializeToObject(module, options);
    if (!serialized)
      return module.emitError("An error happened while serializing the "
                              "module.");
    Attribute object = target.createObject(module, *serialized, options);
    if (!object)
      return module.emitError("An error happened while creating the object.");
    objects.push_back(object);
  }
  return objects;
}

struct LoraGpuModuleToBinaryPass
    : lora::impl::LoraGpuModuleToBinaryBase<LoraGpuModuleToBinaryPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<gpu::CompilationTarget> compilationTarget =
        llvm::StringSwitch<std::optional<gpu::CompilationTarget>>(format)
            .Cases({"offloading", "llvm"}, gpu::CompilationTarget::Offload)
            .Cases({"assembly", "isa"}, gpu::CompilationTarget::Assembly)
            .Cases({"binary", "bin"}, gpu::CompilationTarget::Binary)
            .Cases({"fatbinary", "fatbin"}, gpu::CompilationTarget::Fatbin)
            .Default(std::nullopt);
    if (!compilationTarget) {
      module.emitError() << "lora-gpu-module-to-binary: unknown format '"
                         << format << "'";
      return signalPassFailure();
    }
    gpu::TargetOptions options(/*toolkitPath=*/{}, /*librariesToLink=*/{},
                               /*cmdOptions=*/{}, /*elfSection=*/{},
                               *compilationTarget,
                               /*getSymbolTableCallback=*/[] {
                                 return static_cast<SymbolTable *>(nullptr);
                               });
    SmallVector<gpu::GPUModuleOp> gpuModules(module.getOps<gpu::GPUModuleOp>());
    SmallVector<SmallVector<Attribute>> objects(gpuModules.size());
    // Diagnostics in the order of the modules, whichever thread made them.
    ParallelDiagnosticHandler diagnostics(&getContext());
    LogicalResult serialized = failableParallelForEachN(
        &getContext(), 0, gpuModules.size(), [&](size_t i) {
          diagnostics.setOrderIDForThread(i);
          FailureOr<SmallVector<Attribute>> moduleObjects =
              serialize(gpuModules[i], options);
          diagnostics.eraseOrderIDForThread();
          if (failed(moduleObjects))
            return failure();
          objects[i] = std::move(*moduleObjects);
          return success();
        });
    if (failed(serialized))
      return signalPassFailure();
    OpBuilder builder(&getContext());
    for (auto [gpuModule, moduleObjects] : llvm::zip(gpuModules, objects)) {
      auto handler =
          dyn_cast_or_null<gpu::OffloadingLLVMTranslationAttrInterface>(
              gpuModule.getOffloadingHandlerAttr());
      builder.setInsertionPointAfter(gpuModule);
      gpu::BinaryOp::create(builder, gpuModule.getLoc(), gpuModule.getName(),
                            handler, builder.getArrayAttr(moduleObjects));
      gpuModule->erase();
    }
  }
};

} // namespace
