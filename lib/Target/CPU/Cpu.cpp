//===- Cpu.cpp - LLVM dialect to a host shared object ---------------------===//

#include "lora/Target/Cpu.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
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

LogicalResult lora::emitCpuSharedLibrary(ModuleOp module, StringRef soPath,
                                         unsigned optLevel) {
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
      llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(triple);

  auto optimize = makeOptimizingTransformer(std::min(optLevel, 3u),
                                            /*sizeLevel=*/0, machine.get());
  if (llvm::Error err = optimize(llvmModule.get())) {
    return module.emitError("LLVM optimization failed: ")
           << llvm::toString(std::move(err));
  }

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
