//===- lora-opt.cpp - the lora-opt driver ---------------------------------===//
//
// MlirOptMain with lora-opt's dialects, passes and pipelines. An input file
// ending in `.onnx` is imported first (with `--input-shape`) and the pass
// pipeline runs on it directly, so
//   lora-opt model.onnx --input-shape=x:2x16 --lora-onnx-to-tosa-pipeline
// works without a separate lora-translate step. A pipeline on an .onnx input
// that does not convert it itself gets the ONNX-to-TOSA conversion first:
//   lora-opt model.onnx --lora-list-targets
//   lora-opt model.onnx --lora-insert=targets=q_proj,v_proj --lora-fuse
// With `lora-list-targets` in the pipeline only its table is printed.
//
//===----------------------------------------------------------------------===//

#include "lora/Import/OnnxImporter.h"
#include "lora/Passes/Passes.h"
#include "lora/Pipelines/Pipelines.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;

static llvm::cl::opt<std::string> inputShape(
    "input-shape",
    llvm::cl::desc("For .onnx input: static shapes of graph inputs, e.g. "
                   "input_ids:2x16,attention_mask:2x16"),
    llvm::cl::init(""));

static llvm::cl::opt<bool> noOutput(
    "no-output",
    llvm::cl::desc("For .onnx input: run the pipeline but print nothing "
                   "(to time import and passes without printing weights)"),
    llvm::cl::init(false));

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerAllPasses();
  lora::registerLoraPasses();
  lora::registerLoraPipelines();
  DialectRegistry registry;
  lora::registerLoraDialects(registry);

  auto [inputFilename, outputFilename] = registerAndParseCLIOptions(
      argc, argv, "lora-opt: MLIR passes for LoRA models", registry);
  if (!StringRef(inputFilename).ends_with(".onnx"))
    return asMainReturnCode(
        MlirOptMain(argc, argv, inputFilename, outputFilename, registry));

  // Import the model and run the pipeline on it here rather than through
  // MlirOptMain, which would need the module serialized (and the weights
  // copied) first.
  MLIRContext context(registry);
  // Prints errors with their notes (without a handler MLIR drops notes), but
  // not the whole module after each.
  context.printOpOnDiagnostic(false);
  llvm::SourceMgr diagnosticSources;
  SourceMgrDiagnosticHandler diagnostics(diagnosticSources, &context);
  lora::OnnxImportOptions options;
  std::string error;
  if (failed(lora::parseInputShapeSpec(inputShape, options, error))) {
    llvm::errs() << "lora-opt: " << error << "\n";
    return 1;
  }
  MlirOptMainConfig config = MlirOptMainConfig::createFromCLOptions();
  OwningOpRef<ModuleOp> module =
      lora::importOnnxFile(inputFilename, &context, options);
  if (!module)
    return 1;
  // The requested pipeline, to see what it does; the one that runs may get
  // the ONNX-to-TOSA conversion in front.
  std::string pipeline;
  {
    PassManager requested(&context, ModuleOp::getOperationName(),
                          PassManager::Nesting::Implicit);
    if (failed(config.setupPassPipeline(requested)))
      return 1;
    if (requested.size() != 0) {
      llvm::raw_string_ostream os(pipeline);
      requested.printAsTextualPipeline(os);
    }
  }
  bool listsTargets = StringRef(pipeline).contains("lora-list-targets");
  PassManager pm(&context, ModuleOp::getOperationName(),
                 PassManager::Nesting::Implicit);
  pm.enableVerifier(config.shouldVerifyPasses());
  if (!pipeline.empty() &&
      !StringRef(pipeline).contains("convert-onnx-to-tosa"))
    lora::buildOnnxToTosaPipeline(pm);
  if (failed(applyPassManagerCLOptions(pm)) ||
      failed(config.setupPassPipeline(pm)))
    return 1;
  if (failed(pm.run(*module)))
    return 1;

  if (noOutput || listsTargets)
    return 0;
  std::unique_ptr<llvm::ToolOutputFile> output =
      openOutputFile(outputFilename, &error);
  if (!output) {
    llvm::errs() << "lora-opt: " << error << "\n";
    return 1;
  }
  if (config.shouldEmitBytecode()) {
    if (failed(writeBytecodeToFile(*module, output->os())))
      return 1;
  } else {
    module->print(output->os());
    output->os() << "\n";
  }
  output->keep();
  return 0;
}
