//===- Cpu.cpp - LLVM dialect to a host shared object ---------------------===//

#include "lora/Target/Cpu.h"

#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/Signals.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

using namespace mlir;

void lora::registerCpuTranslations(DialectRegistry &registry) {
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  // Host code of the CUDA target: gpu.binary (embedded cubins) and
  // gpu.launch_func become globals and runtime calls.
  registerGPUDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
}

/// The x86 backend rounds f32 to bf16 with a call of `__truncsfbf2` where
/// the CPU has no instruction for it: a vectorized select of bf16 values,
/// for one, which it widens to f32 and rounds back (seen on Zen 1). The GCC
/// 12 runtime that Debian 12 links with has no `__truncsfbf2` (GCC 13's
/// has), so `module` gets its own: f32 to bf16 to nearest even, a NaN
/// quieted with its sign and payload's top bits kept. Weak, so that the
/// optimizer keeps it whether or not a call exists yet, and hidden, so that
/// model.so does not export it; optnone, so that the optimizer does not
/// turn its body into the conversion it implements. A module that declares
/// it (calls it by name) gets the body too; one that defines it keeps its
/// own.
static void defineTruncSFBF2(llvm::Module &module) {
  llvm::LLVMContext &ctx = module.getContext();
  auto *type = llvm::FunctionType::get(llvm::Type::getBFloatTy(ctx),
                                       {llvm::Type::getFloatTy(ctx)},
                                       /*isVarArg=*/false);
  llvm::Function *function = module.getFunction("__truncsfbf2");
  if (function &&
      (!function->isDeclaration() || function->getFunctionType() != type))
    return;
  if (!function)
    function = llvm::Function::Create(type, llvm::GlobalValue::WeakAnyLinkage,
                                      "__truncsfbf2", module);
  function->setLinkage(llvm::GlobalValue::WeakAnyLinkage);
  function->setVisibility(llvm::GlobalValue::HiddenVisibility);
  function->addFnAttr(llvm::Attribute::NoInline);
  function->addFnAttr(llvm::Attribute::OptimizeNone);
  function->addFnAttr(llvm::Attribute::NoUnwind);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", function));
  llvm::Value *value = function->getArg(0);
  llvm::Value *bits = b.CreateBitCast(value, b.getInt32Ty());
  llvm::Value *high = b.CreateLShr(bits, 16);
  llvm::Value *bias = b.CreateAdd(b.CreateAnd(high, 1), b.getInt32(0x7fff));
  llvm::Value *rounded = b.CreateLShr(b.CreateAdd(bits, bias), 16);
  llvm::Value *quiet = b.CreateOr(high, 0x40);
  llvm::Value *result =
      b.CreateSelect(b.CreateFCmpUNO(value, value), quiet, rounded);
  b.CreateRet(
      b.CreateBitCast(b.CreateTrunc(result, b.getInt16Ty()), b.getBFloatTy()));
}

/// LLVM's default pipeline at `optLevel` for `machine`, as MLIR's
/// makeOptimizingTransformer runs it, but vectorizing only where
/// `vectorize`: the SLP vectorizer's time grows faster than a basic block,
/// and the CUDA target's host code is one block of stores of launch
/// arguments, which it tries to pair (25 s of 30 for a 10-layer train
/// step's, where the CPU has AVX2).
static void optimize(llvm::Module &module, unsigned optLevel,
                     llvm::TargetMachine &machine, bool vectorize) {
  llvm::PipelineTuningOptions tuning;
  tuning.LoopUnrolling = true;
  tuning.LoopInterleaving = vectorize;
  tuning.LoopVectorization = vectorize;
  tuning.SLPVectorization = vectorize;
  llvm::LoopAnalysisManager loops;
  llvm::FunctionAnalysisManager functions;
  llvm::CGSCCAnalysisManager sccs;
  llvm::ModuleAnalysisManager modules;
  llvm::PassBuilder builder(&machine, tuning);
  builder.registerModuleAnalyses(modules);
  builder.registerCGSCCAnalyses(sccs);
  builder.registerFunctionAnalyses(functions);
  builder.registerLoopAnalyses(loops);
  builder.crossRegisterProxies(loops, functions, sccs, modules);
  const llvm::OptimizationLevel levels[] = {
      llvm::OptimizationLevel::O0, llvm::OptimizationLevel::O1,
      llvm::OptimizationLevel::O2, llvm::OptimizationLevel::O3};
  llvm::ModulePassManager passes =
      optLevel == 0 ? builder.buildO0DefaultPipeline(levels[0])
                    : builder.buildPerModuleDefaultPipeline(levels[optLevel]);
  passes.run(module, modules);
}

LogicalResult
lora::emitCpuSharedLibrary(ModuleOp module, StringRef soPath, unsigned optLevel,
                           HostCodegen codegen,
                           llvm::function_ref<void(llvm::Module &)> prepare) {
  DialectRegistry registry;
  registerCpuTranslations(registry);
  module->getContext()->appendDialectRegistry(registry);

  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();

  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext);
  if (!llvmModule)
    return module.emitError("cannot translate the module to LLVM IR");
  defineTruncSFBF2(*llvmModule);

  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  std::string error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return module.emitError("no LLVM target for ")
           << triple.str() << ": " << error;
  llvm::SubtargetFeatures features;
  for (const auto &feature : llvm::sys::getHostCPUFeatures())
    features.AddFeature(feature.first(), feature.second);
  llvm::TargetOptions targetOptions;
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, llvm::sys::getHostCPUName(), features.getString(), targetOptions,
      llvm::Reloc::PIC_, std::nullopt,
      codegen == HostCodegen::Fast ? llvm::CodeGenOptLevel::None
                                   : llvm::CodeGenOptLevel::Aggressive));
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(triple);
  if (prepare)
    prepare(*llvmModule);

  optimize(*llvmModule, std::min(optLevel, 3u), *machine,
           /*vectorize=*/codegen == HostCodegen::Optimized);

  // Object file next to the output, then `cc -shared`.
  SmallString<256> objectPath;
  int objectFd;
  if (std::error_code ec = llvm::sys::fs::createTemporaryFile(
          "lora-model", "o", objectFd, objectPath))
    return module.emitError("cannot create a temporary object file: ")
           << ec.message();
  llvm::FileRemover removeObject(objectPath);
  // An interrupted compile removes these too (see llvm::sys::Signals).
  llvm::sys::RemoveFileOnSignal(objectPath);
  llvm::scope_exit forgetObject(
      [&] { llvm::sys::DontRemoveFileOnSignal(objectPath); });
  {
    llvm::raw_fd_ostream objectStream(objectFd, /*shouldClose=*/true);
    llvm::legacy::PassManager codegen;
    if (machine->addPassesToEmitFile(codegen, objectStream, nullptr,
                                     llvm::CodeGenFileType::ObjectFile))
      return module.emitError("the host target cannot emit object files");
    codegen.run(*llvmModule);
  }

  auto cc = llvm::sys::findProgramByName("cc");
  if (!cc)
    return module.emitError("cannot find the system C compiler 'cc' to link ")
           << soPath;
  std::string tmpSo = (soPath + ".tmp").str();
  llvm::sys::RemoveFileOnSignal(tmpSo);
  llvm::scope_exit forgetSo([&] { llvm::sys::DontRemoveFileOnSignal(tmpSo); });
  SmallVector<StringRef> args = {*cc,     "-shared", "-o",  tmpSo,
                                 objectPath, "-lm"};
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*cc, args, std::nullopt, {}, 0, 0,
                                     &message);
  if (rc != 0) {
    llvm::sys::fs::remove(tmpSo);
    return module.emitError("linking ")
           << soPath << " failed (" << rc << "): " << message;
  }
  if (std::error_code ec = llvm::sys::fs::rename(tmpSo, soPath)) {
    llvm::sys::fs::remove(tmpSo);
    return module.emitError("cannot write ") << soPath << ": " << ec.message();
  }
  return success();
}
