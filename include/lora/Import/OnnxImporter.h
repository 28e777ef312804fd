//===- OnnxImporter.h - ONNX protobuf to the onnx dialect -------*- C++ -*-===//
//
// The importer is mechanical: every node becomes one `onnx.node`, every
// initializer an `arith.constant` named by its location, the graph a
// `func.func`. It gives no meaning to operators; that is the conversion's job.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_IMPORT_ONNXIMPORTER_H
#define LORA_IMPORT_ONNXIMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"

#include <string>

namespace mlir::lora {

/// How to import a model.
struct OnnxImportOptions {
  /// Static shapes for graph inputs, by input name. Overrides dynamic dims;
  /// contradicting a static dim is an error.
  llvm::StringMap<llvm::SmallVector<int64_t>> inputShapes;
  /// Name of the function that holds the graph.
  std::string funcName = "main";
  /// Initializers with at most this many elements become inline dense
  /// attributes; larger ones are resource blobs that alias the file's bytes.
  int64_t inlineElementLimit = 1024;
};

/// Parses `spec`, e.g. "input_ids:2x16,attention_mask:2x16", into
/// `options.inputShapes`. Returns failure with a message in `error`.
LogicalResult parseInputShapeSpec(llvm::StringRef spec,
                                  OnnxImportOptions &options,
                                  std::string &error);

/// Imports the ONNX model in `bytes`. `bufferName` names it in diagnostics;
/// external data files are resolved relative to `baseDir` and mmapped.
/// Emits diagnostics and returns null on failure.
OwningOpRef<ModuleOp> importOnnxModel(llvm::StringRef bytes,
                                      llvm::StringRef bufferName,
                                      llvm::StringRef baseDir,
                                      MLIRContext *context,
                                      const OnnxImportOptions &options);

/// Imports the ONNX model file at `path`.
OwningOpRef<ModuleOp> importOnnxFile(llvm::StringRef path,
                                     MLIRContext *context,
                                     const OnnxImportOptions &options);

/// Registers the dialects the importer produces.
void registerOnnxImportDialects(DialectRegistry &registry);

/// Registers `--import-onnx` with mlir-translate style tools.
void registerOnnxImportTranslation();

} // namespace mlir::lora

#endif // LORA_IMPORT_ONNXIMPORTER_H
