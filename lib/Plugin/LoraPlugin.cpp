//===- LoraPlugin.cpp - lora dialects and passes for upstream mlir-opt ----===//
//
// One shared object that upstream `mlir-opt` loads twice: with
// `--load-dialect-plugin` for the `lora` and `onnx` dialects, and with
// `--load-pass-plugin` for the lora passes and pipelines. Everything MLIR
// itself provides (tosa, linalg, ...) comes from the host's libMLIR.so.
//
//===----------------------------------------------------------------------===//

#include "lora/Dialect/Lora/Lora.h"
#include "lora/Dialect/Onnx/Onnx.h"
#include "lora/Passes/Passes.h"
#include "lora/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/Compiler.h"

using namespace mlir;

/// Dialect plugin entry point: registers the `lora` and `onnx` dialects.
/// `registerLoraDialects` is not used, as it also registers all upstream
/// dialects, which mlir-opt has already done.
extern "C" LLVM_ATTRIBUTE_WEAK DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "LoraDialects", LLVM_VERSION_STRING,
          [](DialectRegistry *registry) {
            registry->insert<lora::LoraDialect, lora::onnx::OnnxDialect>();
          }};
}

/// Pass plugin entry point: registers the lora passes and named pipelines.
extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "LoraPasses", LLVM_VERSION_STRING, []() {
            lora::registerLoraPasses();
            lora::registerLoraPipelines();
          }};
}
