//===- DedupGpuModules.cpp - lora-dedup-gpu-modules -----------------------===//
//
// One gpu.module of each set that is the same but for the name (see
// Passes.td).
//
//===----------------------------------------------------------------------===//

#include "DeduplicateSymbols.h"
#include "lora/Passes/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORADEDUPGPUMODULES
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;

namespace {
struct LoraDedupGpuModulesPass
    : lora::impl::LoraDedupGpuModulesBase<LoraDedupGpuModulesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<Operation *> gpuModules;
    for (gpu::GPUModuleOp gpuModule : module.getOps<gpu::GPUModuleOp>())
      gpuModules.push_back(gpuModule);
    lora::deduplicateSymbols(gpuModules, module);
  }
};
} // namespace
