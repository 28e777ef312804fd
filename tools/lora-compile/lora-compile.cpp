//===- lora-compile.cpp - ONNX model to a deployable artifact -------------===//
//
//   lora-compile model.onnx --lora-targets=q_proj,v_proj --lora-rank=8 \
//       --lora-alpha=16 [--adapter=PEFT_DIR] [--merge] --target=cpu \
//       --input-shape=input_ids:1x8 -o out/
//
// writes out/{model.so, manifest.json, weights.bin, adapter/} (see
// lora/Driver/Compile.h); `--emit=onnx|tosa|lora|linalg|llvm` stops after a
// stage and writes its MLIR to -o instead.
//
//===----------------------------------------------------------------------===//

#include "lora/Driver/Compile.h"
#include "lora/Pipelines/Pipelines.h"
#include "lora/Target/Cpu.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllPasses.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("lora-compile options");

static cl::opt<std::string> inputFile(cl::Positional,
                                      cl::desc("<model.onnx|model.mlir>"),
                                      cl::Required, cl::cat(category));
static cl::opt<std::string>
    outputPath("o", cl::desc("Output folder (a file or '-' with --emit)"),
               cl::value_desc("out"), cl::Required, cl::cat(category));
static cl::opt<std::string> inputShape(
    "input-shape",
    cl::desc("Static shapes of ONNX inputs, e.g. input_ids:1x8,mask:1x8"),
    cl::init(""), cl::cat(category));
static cl::opt<std::string> function("function",
                                     cl::desc("The function to compile"),
                                     cl::init("main"), cl::cat(category));
static cl::list<std::string>
    targets("lora-targets",
            cl::desc("Modules to adapt: exact names or '.'-suffixes "
                     "(PEFT's target_modules)"),
            cl::CommaSeparated, cl::cat(category));
static cl::opt<std::string>
    targetsRegex("lora-targets-regex",
                 cl::desc("Modules to adapt: a regex matching whole names"),
                 cl::init(""), cl::cat(category));
static cl::list<std::string> exclude("lora-exclude",
                                     cl::desc("Modules never to adapt"),
                                     cl::CommaSeparated, cl::cat(category));
static cl::opt<std::string>
    excludeRegex("lora-exclude-regex",
                 cl::desc("Modules never to adapt, as a regex"), cl::init(""),
                 cl::cat(category));
static cl::opt<bool>
    allLinear("lora-all-linear",
              cl::desc("Adapt every linear layer but the output head"),
              cl::init(false), cl::cat(category));
static cl::opt<int64_t> rank("lora-rank", cl::desc("LoRA rank r"), cl::init(8),
                             cl::cat(category));
static cl::opt<double> alpha("lora-alpha", cl::desc("LoRA alpha"),
                             cl::init(8.0), cl::cat(category));
static cl::list<std::string> rankPattern("lora-rank-pattern",
                                         cl::desc("regex=rank, per module"),
                                         cl::CommaSeparated, cl::cat(category));
static cl::list<std::string> alphaPattern("lora-alpha-pattern",
                                          cl::desc("regex=alpha, per module"),
                                          cl::CommaSeparated,
                                          cl::cat(category));
static cl::opt<bool> rslora("lora-rslora",
                            cl::desc("Scale by alpha/sqrt(r) (rsLoRA)"),
                            cl::init(false), cl::cat(category));
static cl::opt<std::string>
    init("lora-init", cl::desc("Initial A: kaiming, gaussian or zeros"),
         cl::init("kaiming"), cl::cat(category));
static cl::opt<uint64_t> seed("lora-seed", cl::desc("Seed of the initial A"),
                              cl::init(0), cl::cat(category));
static cl::opt<double> loraDropout(
    "lora-dropout",
    cl::desc("LoRA dropout of the train step's branches (PEFT's lora_dropout; "
             "default: the adapter's, else 0)"),
    cl::init(0.0), cl::cat(category));
static cl::opt<std::string>
    adapter("adapter",
            cl::desc("A PEFT adapter folder: its targets, ranks and weights"),
            cl::init(""), cl::cat(category));
static cl::opt<bool>
    merge("merge", cl::desc("Merge the adapter into the frozen weights"),
          cl::init(false), cl::cat(category));
static cl::opt<std::string>
    mode("mode",
         cl::desc("infer (the forward) or train (train_step: loss, "
                  "gradients of the LoRA parameters, optimizer update; and "
                  "eval_step)"),
         cl::init("infer"), cl::cat(category));
static cl::opt<std::string>
    loss("loss",
         cl::desc("Training loss: output (the model's scalar output), "
                  "cross-entropy, causal-lm or mse"),
         cl::init("output"), cl::cat(category));
static cl::opt<int64_t>
    ignoreIndex("ignore-index",
                cl::desc("Labels that do not count in cross-entropy"),
                cl::init(-100), cl::cat(category));
static cl::opt<std::string>
    optimizer("optimizer",
              cl::desc("Training optimizer: adamw or "
                       "sgd (learning rate at run time)"),
              cl::init("adamw"), cl::cat(category));
static cl::opt<double> beta1("adam-beta1", cl::desc("AdamW beta1"),
                             cl::init(0.9), cl::cat(category));
static cl::opt<double> beta2("adam-beta2", cl::desc("AdamW beta2"),
                             cl::init(0.999), cl::cat(category));
static cl::opt<double> eps("adam-eps", cl::desc("AdamW epsilon"),
                           cl::init(1e-8), cl::cat(category));
static cl::opt<double>
    weightDecay("weight-decay",
                cl::desc("Weight decay (AdamW: decoupled; SGD: L2)"),
                cl::init(0.0), cl::cat(category));
static cl::opt<double> momentum("momentum", cl::desc("SGD momentum"),
                                cl::init(0.0), cl::cat(category));
static cl::opt<bool> nesterov("nesterov", cl::desc("SGD Nesterov momentum"),
                              cl::init(false), cl::cat(category));
static cl::opt<std::string>
    target("target",
           cl::desc("cpu, cuda (sm_90a), or cuda-emulated (the CUDA "
                    "target's host code and generic kernels run on the CPU, "
                    "to check its numerics without a GPU)"),
           cl::init("cpu"), cl::cat(category));
static cl::opt<std::string> cudaKernelOptions(
    "cuda-kernel-options",
    cl::desc("Options of lora-generate-cuda-kernels for --target=cuda or "
             "cuda-emulated, in the pass's syntax: \"multicast=2 "
             "fuse-lora-down\", \"tile-n=256\", \"max-stages=7\""),
    cl::init(""), cl::cat(category));
static cl::opt<std::string>
    emit("emit",
         cl::desc("Stop after a stage and write its MLIR: onnx, tosa, lora, "
                  "linalg, llvm (default: the artifact folder)"),
         cl::init("artifact"), cl::cat(category));
static cl::opt<bool> timing("timing", cl::desc("Print per-pass times"),
                            cl::init(false), cl::cat(category));
static cl::opt<unsigned> optLevel("opt-level",
                                  cl::desc("LLVM optimization level (0-3)"),
                                  cl::init(3), cl::cat(category));
static cl::opt<int64_t> minWeightBytes(
    "min-weight-bytes",
    cl::desc("Constants of at least this many bytes go to weights.bin"),
    cl::init(256), cl::cat(category));
static cl::opt<bool> quiet("quiet", cl::desc("No progress lines"),
                           cl::init(false), cl::cat(category));

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  registerAllPasses();
  lora::registerLoraPasses();
  lora::registerLoraPipelines();
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv, "lora-compile: an ONNX model to a deployable artifact\n");

  std::string commandLine;
  for (int i = 0; i < argc; ++i)
    commandLine += (i ? " " : "") + std::string(argv[i]);

  lora::CompileOptions options;
  options.inputPath = inputFile;
  options.inputShape = inputShape;
  options.function = function;
  options.insert.targets.assign(targets.begin(), targets.end());
  options.insert.targetsRegex = targetsRegex;
  options.insert.exclude.assign(exclude.begin(), exclude.end());
  options.insert.excludeRegex = excludeRegex;
  options.insert.allLinear = allLinear;
  options.insert.rank = rank;
  options.insert.alpha = alpha;
  options.insert.rankPattern.assign(rankPattern.begin(), rankPattern.end());
  options.insert.alphaPattern.assign(alphaPattern.begin(), alphaPattern.end());
  options.insert.rslora = rslora;
  options.insert.adapter = adapter;
  options.insert.init = init;
  options.insert.seed = seed;
  options.merge = merge;
  if (loraDropout.getNumOccurrences())
    options.loraDropout = loraDropout;
  if (mode != "infer" && mode != "train") {
    llvm::errs() << "lora-compile: error: unknown --mode=" << mode
                 << " (expected infer or train)\n";
    return 1;
  }
  options.train = mode == "train";
  for (const cl::Option *trainOption :
       std::initializer_list<const cl::Option *>{
           &loss, &ignoreIndex, &optimizer, &beta1, &beta2, &eps, &weightDecay,
           &momentum, &nesterov})
    if (!options.train && trainOption->getNumOccurrences()) {
      llvm::errs() << "lora-compile: error: --" << trainOption->ArgStr
                   << " configures training; it needs --mode=train\n";
      return 1;
    }
  options.autodiff.loss = loss;
  options.autodiff.ignoreIndex = ignoreIndex;
  options.optimizer.optimizer = optimizer;
  options.optimizer.beta1 = beta1;
  options.optimizer.beta2 = beta2;
  options.optimizer.eps = eps;
  options.optimizer.weightDecay = weightDecay;
  options.optimizer.momentum = momentum;
  options.optimizer.nesterov = nesterov;
  options.target = target;
  options.cudaKernelOptions = cudaKernelOptions;
  options.optLevel = optLevel;
  options.minWeightBytes = minWeightBytes;
  options.timing = timing;
  options.commandLine = commandLine;
  if (!quiet)
    options.progress = &llvm::errs();
  std::optional<lora::EmitStage> stage = lora::parseEmitStage(emit);
  if (!stage) {
    llvm::errs() << "lora-compile: error: unknown --emit=" << emit
                 << " (expected onnx, tosa, lora, linalg, llvm or artifact)\n";
    return 1;
  }
  options.emit = *stage;

  lora::enableOutputCleanupOnSignals();
  DialectRegistry registry;
  lora::registerLoraDialects(registry);
  lora::registerCpuTranslations(registry);
  MLIRContext context(registry);
  context.printOpOnDiagnostic(false);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  if (failed(lora::compileModel(context, options, outputPath))) {
    if (!quiet)
      llvm::errs() << "\n";
    return 1;
  }
  return 0;
}
