//===- Compile.h - ONNX model to a deployable artifact ----------*- C++ -*-===//
//
// What `lora-compile`, `lora-run` and the C API's loraCompile share: import,
// ONNX to TOSA, LoRA insertion / fusion / merge, weights outlined, lowering,
// code generation, and the artifact folder
//
//   out/model.so        the compiled code, `lora_entry_<fn>` and
//                       `lora_signature_<fn>` (see lora-emit-entry-point)
//   out/manifest.json   arguments (inputs, weights, LoRA parameters) and
//                       outputs with names, dtypes and shapes; the LoRA
//                       modules; the compiler version and exact pipeline
//   out/weights.bin     the frozen weights, 64-byte aligned
//   out/adapter/        the initial adapter in PEFT format
//
// written into a temporary sibling folder that is renamed to `out` at the
// end: a failed or interrupted compile leaves no `out`.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_DRIVER_COMPILE_H
#define LORA_DRIVER_COMPILE_H

#include "lora/Passes/Passes.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace mlir::lora {

/// Where `--emit` stops.
enum class EmitStage { Onnx, Tosa, Lora, Linalg, LLVM, Artifact };

/// Parses "onnx", "tosa", "lora", "linalg", "llvm" or "artifact".
std::optional<EmitStage> parseEmitStage(llvm::StringRef name);

/// The version string recorded in manifests ("lora-opt 0.1.0 (MLIR 22.1.8)").
std::string getCompilerVersion();

struct CompileOptions {
  /// model.onnx, or MLIR at any stage from the onnx dialect to TOSA/LoRA.
  std::string inputPath;
  /// `--input-shape` for ONNX inputs (name:DxD,...).
  std::string inputShape;
  /// The function that becomes the artifact's entry point.
  std::string function = "main";
  /// lora-insert's options; insertion runs when `targets`, `targetsRegex`,
  /// `allLinear` or `adapter` is set.
  LoraInsertOptions insert;
  /// Merge the adapter into the weights (no LoRA parameters remain).
  bool merge = false;
  /// Build a training artifact: `function` becomes lora-autodiff's
  /// train_step (loss, then `optimizer`'s update of the LoRA parameters and
  /// the optimizer state) and eval_step (loss); the forward itself goes.
  bool train = false;
  /// lora-autodiff's loss options (its `function` is `function`).
  LoraAutodiffOptions autodiff;
  /// lora-optimizer's options (its `function` is autodiff's train function).
  LoraOptimizerOptions optimizer;
  /// PEFT's `lora_dropout`: applied to the LoRA branches of the train step
  /// (`autodiff.dropout` is set from it) and recorded in the artifact's
  /// adapter_config.json. Unset: the adapter's (`insert.adapter`), else 0.
  std::optional<double> loraDropout;
  /// "cpu" (the CUDA target comes with the generated kernels).
  std::string target = "cpu";
  /// Options of lora-generate-cuda-kernels for the CUDA targets, in the
  /// pass's syntax: "multicast=2 fuse-lora-down" (kernel choices not yet
  /// the defaults), "tile-n=256", "max-stages=7". Empty: its defaults.
  std::string cudaKernelOptions;
  EmitStage emit = EmitStage::Artifact;
  /// LLVM optimization level of the generated code (0-3).
  unsigned optLevel = 3;
  /// Constants this large or larger go to weights.bin.
  int64_t minWeightBytes = 256;
  /// Per-pass times (MLIR's pass timing) on stderr.
  bool timing = false;
  /// One line per stage on `progress` when non-null.
  llvm::raw_ostream *progress = nullptr;
  /// The command line recorded in the manifest.
  std::string commandLine;

  /// True when lora-insert has something to do.
  bool insertsLora() const;
};

/// For command-line tools: on SIGINT, SIGTERM and SIGHUP, remove the
/// temporary output folder of the compile in progress (and the temporary
/// files of code generation), then die of the signal as usual. Libraries
/// leave signal handling to their host: there, an interrupted compile may
/// leave its hidden temporary folder next to `out`, but never `out`.
void enableOutputCleanupOnSignals();

/// Compiles `options.inputPath` and writes `outPath`: the artifact folder, or
/// for an `emit` stage other than Artifact the MLIR text of that stage ("-"
/// for stdout). Errors go to `context`'s diagnostic handler; nothing is left
/// at `outPath` on failure.
LogicalResult compileModel(MLIRContext &context, const CompileOptions &options,
                           llvm::StringRef outPath);

} // namespace mlir::lora

#endif // LORA_DRIVER_COMPILE_H
