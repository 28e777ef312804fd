//===- Pipelines.h - named lora-opt pass pipelines --------------*- C++ -*-===//

#ifndef LORA_PIPELINES_PIPELINES_H
#define LORA_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

namespace mlir::lora {

/// onnx dialect -> TOSA with static shapes (`lora-onnx-to-tosa-pipeline`).
void buildOnnxToTosaPipeline(OpPassManager &pm);

/// TOSA, lora.linear and linalg on tensors -> LLVM dialect for the host CPU,
/// with a `lora_entry_<name>` packed entry point per public function
/// (`lora-cpu-pipeline`).
void buildCpuLoweringPipeline(OpPassManager &pm);

/// Registers the pipelines above with the pass registry.
void registerLoraPipelines();

/// Registers every dialect lora-opt's pipelines touch.
void registerLoraDialects(DialectRegistry &registry);

} // namespace mlir::lora

#endif // LORA_PIPELINES_PIPELINES_H
