//===- onnx-import-fuzzer.cpp - libFuzzer target for the ONNX importer ----===//
//
// Feeds arbitrary bytes to the importer as a model file. Any outcome but a
// crash, a sanitizer report or a module that fails verification is fine:
// malformed input must end in a diagnostic. External data is looked up in a
// folder that does not exist, so references to it must fail cleanly too.
//
//===----------------------------------------------------------------------===//

#include "lora/Import/OnnxImporter.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlir::DialectRegistry registry;
  mlir::lora::registerOnnxImportDialects(registry);
  mlir::MLIRContext context(registry);
  mlir::ScopedDiagnosticHandler quiet(&context, [](mlir::Diagnostic &) {
    return mlir::success();
  });
  mlir::lora::OnnxImportOptions options;
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::lora::importOnnxModel(
      bytes, "fuzz.onnx", "/nonexistent-lora-fuzz-dir", &context, options);
  if (module && failed(mlir::verify(*module)))
    std::abort();
  return 0;
}
