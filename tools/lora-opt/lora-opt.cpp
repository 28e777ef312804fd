//===- lora-opt.cpp - the lora-opt driver ---------------------------------===//
//
// MlirOptMain with lora-opt's dialects, passes and pipelines. An input file
// ending in `.onnx` is imported first (with `--input-shape`) and the pass
// pipeline runs on it directly, so
//   lora-opt model.onnx --input-shape=x:2x16 --lora-onnx-to-tosa-pipeline
// works without a separate lora-translate step.
//
//===----------------------------------------------------------------------===//

#include "lora/Import/OnnxImporter.h"
#include "lora/Passes/Passes.h"
#include "lora/Pipelines/Pipelines.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/InitAllPasses.h"
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
  PassManager pm(&context, ModuleOp::getOperationName(),
                 PassManager::Nesting::Implicit);
  pm.enableVerifier(config.shouldVerifyPasses());
  if (failed(applyPassManagerCLOptions(pm)) ||
      failed(config.setupPassPipeline(pm)) || failed(pm.run(*module)))
    return 1;

  if (noOutput)
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
