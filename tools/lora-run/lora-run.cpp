//===- lora-run.cpp - compile a model for the CPU and run it --------------===//
//
//   lora-run model.onnx --input-shape=input_ids:2x16 \
//       --input input_ids=ids.npy --output-dir=out/
//   lora-run artifact/ [--adapter=PEFT_DIR] --input input_ids=ids.npy ...
//
// For a model, imports (for .onnx), converts to TOSA, lowers for the host
// CPU, links a shared object in a temporary folder, runs it on .npy inputs
// and writes one .npy per output. MLIR input at any stage from the onnx
// dialect on works. For a folder written by lora-compile, loads it with the
// runtime (lora/Runtime/Model.h), optionally swaps in a PEFT adapter, and
// runs it the same way.
//
//===----------------------------------------------------------------------===//

#include "lora/Dialect/Lora/Lora.h"
#include "lora/Dialect/Onnx/Onnx.h"
#include "lora/Import/OnnxImporter.h"
#include "lora/Passes/Passes.h"
#include "lora/Pipelines/Pipelines.h"
#include "lora/Runtime/Model.h"
#include "lora/Runtime/Runtime.h"
#include "lora/Target/Cpu.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"

#include <chrono>
#include <cstring>

using namespace mlir;
namespace rt = lora_runtime;

static llvm::cl::opt<std::string>
    inputFile(llvm::cl::Positional, llvm::cl::desc("<model.onnx|.mlir>"),
              llvm::cl::Required);
static llvm::cl::opt<std::string> inputShape(
    "input-shape",
    llvm::cl::desc("Static shapes of graph inputs, e.g. input_ids:2x16"),
    llvm::cl::init(""));
static llvm::cl::list<std::string>
    inputs("input", llvm::cl::desc("An input as NAME=FILE.npy (repeatable)"));
static llvm::cl::opt<std::string>
    outputDir("output-dir", llvm::cl::desc("Folder for <output>.npy files"),
              llvm::cl::init(""));
static llvm::cl::opt<std::string>
    funcName("function", llvm::cl::desc("The function to run"),
             llvm::cl::init("main"));
static llvm::cl::opt<std::string>
    keepLibrary("emit-library",
                llvm::cl::desc("Also keep the compiled shared object here"),
                llvm::cl::init(""));
static llvm::cl::opt<unsigned>
    repeat("repeat", llvm::cl::desc("Run this many times and report timings"),
           llvm::cl::init(1));
static llvm::cl::opt<unsigned> optLevel(
    "opt-level",
    llvm::cl::desc("LLVM optimization level for the compiled code (0-3)"),
    llvm::cl::init(3));
static llvm::cl::opt<std::string>
    adapter("adapter",
            llvm::cl::desc("For an artifact folder: load this PEFT adapter "
                           "instead of the initial one"),
            llvm::cl::init(""));
static llvm::cl::opt<llvm::cl::boolOrDefault> cudaGraphs(
    "cuda-graphs",
    llvm::cl::desc("For an artifact compiled for the CUDA target: replay "
                   "steady calls from CUDA graphs (=false: never; unset: "
                   "LORA_CUDA_GRAPHS=1 decides)"));
static llvm::cl::opt<bool> quiet("quiet",
                                 llvm::cl::desc("Print nothing on success"),
                                 llvm::cl::init(false));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "lora-run: error: " << message << "\n";
  return 1;
}

/// Maps an MLIR tensor type to a runtime spec; fails for other types.
static FailureOr<rt::TensorSpec> toSpec(Type type, std::string name) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || !tensor.hasStaticShape())
    return failure();
  Type e = tensor.getElementType();
  rt::DType dtype;
  if (e.isF32())
    dtype = rt::DType::F32;
  else if (e.isF64())
    dtype = rt::DType::F64;
  else if (e.isF16())
    dtype = rt::DType::F16;
  else if (e.isBF16())
    dtype = rt::DType::BF16;
  else if (e.isInteger(64))
    dtype = rt::DType::I64;
  else if (e.isInteger(32))
    dtype = rt::DType::I32;
  else if (e.isInteger(16))
    dtype = rt::DType::I16;
  else if (e.isUnsignedInteger(8))
    dtype = rt::DType::U8;
  else if (e.isInteger(8))
    dtype = rt::DType::I8;
  else if (e.isInteger(1))
    dtype = rt::DType::Bool;
  else
    return failure();
  return rt::TensorSpec{
      std::move(name), dtype,
      std::vector<int64_t>(tensor.getShape().begin(), tensor.getShape().end())};
}

/// The value of a constant as a runtime tensor (the bytes of dense and
/// dense_resource attributes of non-bool element types).
static FailureOr<rt::Tensor> toTensor(ElementsAttr attr) {
  FailureOr<rt::TensorSpec> spec = toSpec(attr.getShapedType(), "");
  if (failed(spec) || spec->dtype == rt::DType::Bool)
    return failure();
  rt::Tensor tensor = rt::Tensor::zeros(spec->dtype, spec->shape);
  ArrayRef<char> bytes;
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    bytes = dense.getRawData();
  } else if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
    if (AsmResourceBlob *blob = resource.getRawHandle().getBlob())
      bytes = blob->getData();
  }
  size_t size = tensor.data.size();
  if (size == 0)
    return tensor;
  // A splat stores one element.
  if (bytes.empty() || size % bytes.size() != 0)
    return failure();
  for (size_t offset = 0; offset < size; offset += bytes.size())
    std::memcpy(tensor.data.data() + offset, bytes.data(), bytes.size());
  return tensor;
}

/// A file name for an output: keeps [A-Za-z0-9_.-], maps the rest to '_'.
static std::string fileNameFor(StringRef name) {
  std::string result;
  for (char c : name)
    result += (llvm::isAlnum(c) || c == '_' || c == '-' || c == '.') ? c : '_';
  return result.empty() ? "output" : result;
}

static void printSummary(const rt::TensorSpec &spec, const rt::Tensor &t) {
  llvm::outs() << "  " << spec.name << ": " << rt::dtypeName(t.dtype) << "[";
  for (size_t i = 0; i < t.shape.size(); ++i)
    llvm::outs() << (i ? "x" : "") << t.shape[i];
  llvm::outs() << "]";
  if (t.dtype == rt::DType::F32) {
    const float *data = reinterpret_cast<const float *>(t.data.data());
    llvm::outs() << " first values:";
    for (int64_t i = 0; i < std::min<int64_t>(4, t.numElements()); ++i)
      llvm::outs() << " " << llvm::format("%.5f", data[i]);
  }
  llvm::outs() << "\n";
}

/// Reads every --input into `tensors`, keyed by name.
static bool readInputs(std::map<std::string, rt::Tensor> &tensors) {
  for (const std::string &entry : inputs) {
    auto [name, path] = StringRef(entry).split('=');
    if (path.empty()) {
      fail("--input '" + entry + "' is not NAME=FILE.npy");
      return false;
    }
    rt::Tensor tensor;
    std::string error;
    if (!rt::readNpy(path.str(), tensor, error)) {
      fail(error);
      return false;
    }
    tensors[name.str()] = std::move(tensor);
  }
  return true;
}

/// Writes one .npy per output into --output-dir.
static bool writeOutputs(const std::vector<rt::TensorSpec> &specs,
                         const std::vector<rt::Tensor> &results) {
  if (outputDir.empty())
    return true;
  if (std::error_code ec = llvm::sys::fs::create_directories(outputDir)) {
    fail("cannot create '" + outputDir + "': " + ec.message());
    return false;
  }
  for (auto [spec, tensor] : llvm::zip_equal(specs, results)) {
    SmallString<256> path(outputDir);
    llvm::sys::path::append(path, fileNameFor(spec.name) + ".npy");
    std::string error;
    if (!rt::writeNpy(path.str().str(), tensor, error)) {
      fail(error);
      return false;
    }
  }
  return true;
}

/// Runs `compute` --repeat times; returns the sorted run times in seconds,
/// or nothing when a run failed.
static std::optional<std::vector<double>>
repeatRuns(llvm::function_ref<bool()> compute) {
  using Clock = std::chrono::steady_clock;
  std::vector<double> times;
  for (unsigned r = 0; r < std::max(1u, unsigned(repeat)); ++r) {
    auto start = Clock::now();
    if (!compute())
      return std::nullopt;
    times.push_back(
        std::chrono::duration<double>(Clock::now() - start).count());
  }
  llvm::sort(times);
  return times;
}

/// lora-run on a folder written by lora-compile.
static int runArtifact() {
  if (!inputShape.empty())
    return fail("--input-shape applies to .onnx input only; an artifact's "
                "shapes were fixed when it was compiled");
  using Clock = std::chrono::steady_clock;
  auto start = Clock::now();
  std::string error;
  rt::DeviceOptions options;
  if (cudaGraphs != llvm::cl::BOU_UNSET)
    options.cudaGraphs = cudaGraphs == llvm::cl::BOU_TRUE;
  std::unique_ptr<rt::Model> model = rt::Model::load(inputFile, error, options);
  if (!model)
    return fail(error);
  if (!adapter.empty() && !model->setAdapter(adapter, error))
    return fail(error);
  double loadSeconds =
      std::chrono::duration<double>(Clock::now() - start).count();

  std::map<std::string, rt::Tensor> tensors;
  if (!readInputs(tensors))
    return 1;
  std::vector<const rt::Tensor *> args;
  for (const rt::TensorSpec &spec : model->inputs()) {
    auto it = tensors.find(spec.name);
    if (it == tensors.end())
      return fail("no --input for '" + spec.name + "'");
    args.push_back(&it->second);
  }
  for (const auto &[name, tensor] : tensors) {
    if (llvm::any_of(model->inputs(),
                     [&, &name = name](const rt::TensorSpec &s) {
                       return s.name == name;
                     }))
      continue;
    // Not a graph input: a LoRA parameter, or a mistake.
    if (!model->setParameter(name, tensor, error))
      return fail("--input names '" + name + "': " + error);
  }

  std::vector<rt::Tensor> results;
  auto times = repeatRuns([&] { return model->run(args, results, error); });
  if (!times)
    return fail(error);
  if (!writeOutputs(model->outputs(), results))
    return 1;
  if (!quiet) {
    llvm::outs() << "lora-run: loaded '" << inputFile << "' in "
                 << llvm::format("%.3f", loadSeconds) << " s; ran "
                 << times->size() << "x, median "
                 << llvm::format("%.3f", (*times)[times->size() / 2] * 1e3)
                 << " ms" << (model->usesCudaGraphs() ? " (CUDA graphs)" : "")
                 << "\n";
    for (auto [spec, tensor] : llvm::zip_equal(model->outputs(), results))
      printSummary(spec, tensor);
  }
  return 0;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerAllPasses();
  lora::registerLoraPasses();
  lora::registerLoraPipelines();
  llvm::cl::ParseCommandLineOptions(
      argc, argv, "lora-run: compile a model for the host CPU and run it\n");

  if (llvm::sys::fs::is_directory(inputFile))
    return runArtifact();
  if (!adapter.empty())
    return fail("--adapter applies to a folder written by lora-compile");
  if (cudaGraphs != llvm::cl::BOU_UNSET)
    return fail("--cuda-graphs applies to a folder written by lora-compile "
                "for the CUDA target");

  DialectRegistry registry;
  lora::registerLoraDialects(registry);
  lora::registerCpuTranslations(registry);
  MLIRContext context(registry);
  // Prints errors with their notes (without a handler MLIR drops notes), but
  // not the whole module after each.
  context.printOpOnDiagnostic(false);
  llvm::SourceMgr diagnosticSources;
  SourceMgrDiagnosticHandler diagnostics(diagnosticSources, &context);

  using Clock = std::chrono::steady_clock;
  auto start = Clock::now();
  OwningOpRef<ModuleOp> module;
  if (StringRef(inputFile).ends_with(".onnx")) {
    lora::OnnxImportOptions options;
    std::string error;
    if (failed(lora::parseInputShapeSpec(inputShape, options, error)))
      return fail(error);
    module = lora::importOnnxFile(inputFile, &context, options);
  } else {
    if (!inputShape.empty())
      return fail("--input-shape applies to .onnx input only");
    llvm::SourceMgr sourceMgr;
    module =
        parseSourceFile<ModuleOp>(inputFile, sourceMgr, ParserConfig(&context));
  }
  if (!module)
    return 1;

  bool hasOnnx = false;
  module->walk([&](Operation *op) {
    if (isa<lora::onnx::OnnxDialect>(op->getDialect()))
      hasOnnx = true;
  });
  if (hasOnnx) {
    PassManager pm(&context);
    lora::buildOnnxToTosaPipeline(pm);
    if (failed(pm.run(*module)))
      return 1;
  }

  auto func = module->lookupSymbol<func::FuncOp>(funcName);
  if (!func)
    return fail("the model has no function '" + funcName + "'");
  std::vector<rt::TensorSpec> inputSpecs, outputSpecs;
  // LoRA parameters default to their initial value (lora.init).
  std::map<std::string, ElementsAttr> defaults;
  for (auto [i, type] : llvm::enumerate(func.getArgumentTypes())) {
    auto name = func.getArgAttrOfType<StringAttr>(i, "onnx.name");
    if (!name)
      name = func.getArgAttrOfType<StringAttr>(
          i, lora::LoraDialect::getParamAttrName());
    if (auto init = func.getArgAttrOfType<ElementsAttr>(
            i, lora::LoraDialect::getInitAttrName());
        init && name)
      defaults[name.str()] = init;
    auto spec = toSpec(type, name ? name.str() : "arg" + std::to_string(i));
    if (failed(spec))
      return fail("argument " + std::to_string(i) + " of '" + funcName +
                  "' is not a static tensor of a supported dtype");
    inputSpecs.push_back(*spec);
  }
  for (auto [i, type] : llvm::enumerate(func.getResultTypes())) {
    auto name = func.getResultAttrOfType<StringAttr>(i, "onnx.name");
    auto spec = toSpec(type, name ? name.str() : "output" + std::to_string(i));
    if (failed(spec))
      return fail("result " + std::to_string(i) + " of '" + funcName +
                  "' is not a static tensor of a supported dtype");
    outputSpecs.push_back(*spec);
  }

  // Read the inputs before compiling, so that a bad input fails fast.
  std::map<std::string, rt::Tensor> inputTensors;
  if (!readInputs(inputTensors))
    return 1;
  std::vector<const rt::Tensor *> args;
  std::map<std::string, rt::Tensor> initialValues;
  for (const rt::TensorSpec &spec : inputSpecs) {
    if (auto it = inputTensors.find(spec.name); it != inputTensors.end()) {
      args.push_back(&it->second);
      continue;
    }
    auto init = defaults.find(spec.name);
    if (init == defaults.end())
      return fail("no --input for '" + spec.name + "'");
    FailureOr<rt::Tensor> tensor = toTensor(init->second);
    if (failed(tensor))
      return fail("the initial value (lora.init) of '" + spec.name +
                  "' has no data: was the IR printed with elided resources? "
                  "Give it with --input");
    args.push_back(&(initialValues[spec.name] = std::move(*tensor)));
  }
  for (const auto &[name, tensor] : inputTensors)
    if (llvm::none_of(inputSpecs,
                      [&](const rt::TensorSpec &s) { return s.name == name; }))
      return fail("--input names '" + name + "', which is not an input");

  // The LoRA argument attributes have served; LLVM would warn about them.
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
    func.removeArgAttr(i, lora::LoraDialect::getParamAttrName());
    func.removeArgAttr(i, lora::LoraDialect::getInitAttrName());
  }
  PassManager pm(&context);
  lora::buildCpuLoweringPipeline(pm);
  if (failed(pm.run(*module)))
    return 1;

  SmallString<128> tmpDir;
  if (std::error_code ec =
          llvm::sys::fs::createUniqueDirectory("lora-run", tmpDir))
    return fail("cannot create a temporary folder: " + ec.message());
  SmallString<128> soPath(tmpDir);
  llvm::sys::path::append(soPath, "model.so");
  llvm::scope_exit cleanup([&] {
    llvm::sys::fs::remove(soPath);
    llvm::sys::fs::remove(tmpDir);
  });
  if (failed(lora::emitCpuSharedLibrary(*module, soPath, optLevel)))
    return 1;
  if (!keepLibrary.empty())
    if (std::error_code ec = llvm::sys::fs::copy_file(soPath, keepLibrary))
      return fail("cannot write '" + keepLibrary + "': " + ec.message());
  double compileSeconds =
      std::chrono::duration<double>(Clock::now() - start).count();

  std::string error;
  auto compiled = rt::CompiledFunction::load(soPath.str().str(), funcName,
                                             inputSpecs, outputSpecs, error);
  if (!compiled)
    return fail(error);
  std::vector<rt::Tensor> results;
  auto sortedTimes =
      repeatRuns([&] { return compiled->run(args, results, error); });
  if (!sortedTimes)
    return fail(error);
  std::vector<double> &times = *sortedTimes;
  if (!writeOutputs(outputSpecs, results))
    return 1;
  if (!quiet) {
    llvm::outs() << "lora-run: compiled '" << inputFile << "' for the CPU in "
                 << llvm::format("%.2f", compileSeconds) << " s; ran '"
                 << funcName << "' " << times.size() << "x, median "
                 << llvm::format("%.3f", times[times.size() / 2] * 1e3)
                 << " ms\n";
    for (auto [spec, tensor] : llvm::zip_equal(outputSpecs, results))
      printSummary(spec, tensor);
  }
  return 0;
}
