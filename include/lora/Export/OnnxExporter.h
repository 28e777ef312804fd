//===- OnnxExporter.h - TOSA + func to an ONNX model ------------*- C++ -*-===//
//
// The exporter turns one `func.func` holding TOSA ops (what
// `--lora-onnx-to-tosa-pipeline` and the LoRA passes produce) into an ONNX
// ModelProto (IR version 10, default-domain opset 18), so that ONNX Runtime
// can run what lora-opt produces:
//   func arguments   -> graph inputs (named by `onnx.name`, or `lora.param`)
//   constants        -> initializers (raw little-endian data)
//   TOSA ops         -> one or a few ONNX nodes each, named by their NameLoc
//   func.return      -> graph outputs (named by the result's `onnx.name`)
// An op without an ONNX equivalent is an error on that op.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_EXPORT_ONNXEXPORTER_H
#define LORA_EXPORT_ONNXEXPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace mlir::lora {

/// How to export a model.
struct OnnxExportOptions {
  /// The function to export; empty: the module's only public function.
  std::string funcName;

  /// What arguments with a `lora.param` attribute become.
  enum class LoraParams {
    /// Graph inputs named by `lora.param` (adapters are fed at run time).
    Inputs,
    /// Initializers named by `lora.param`, holding the argument's `lora.init`
    /// value (a self-contained model; `lora.init` is then required).
    Initializers,
  };
  LoraParams loraParams = LoraParams::Inputs;

  /// When non-empty, initializers of at least `externalDataThreshold` bytes
  /// are written to this file instead of into the model, which refers to it
  /// by its file name: it must sit in the same folder as the model. Needed
  /// for models over protobuf's 2 GiB limit.
  std::string externalDataPath;
  int64_t externalDataThreshold = 1024;
};

/// Exports `module` as an ONNX model to `os`. Emits diagnostics and returns
/// failure, writing nothing to `os`, when the module cannot be exported.
/// The external data file, if any, is written before the model.
LogicalResult exportOnnxModel(ModuleOp module, llvm::raw_ostream &os,
                              const OnnxExportOptions &options);

/// Exports `module` to the file `path` through a temporary file that is
/// renamed into place, so that a failed export leaves no partial file.
LogicalResult exportOnnxFile(ModuleOp module, llvm::StringRef path,
                             const OnnxExportOptions &options);

/// Registers the dialects the exporter reads.
void registerOnnxExportDialects(DialectRegistry &registry);

/// Registers `--export-onnx` with mlir-translate style tools.
void registerOnnxExportTranslation();

} // namespace mlir::lora

#endif // LORA_EXPORT_ONNXEXPORTER_H
