//===- Cpu.h - CPU code generation ------------------------------*- C++ -*-===//

#ifndef LORA_TARGET_CPU_H
#define LORA_TARGET_CPU_H

#include "mlir/IR/BuiltinOps.h"

namespace llvm {
class Module;
} // namespace llvm

namespace mlir::lora {

/// How the host's machine code is selected from the optimized LLVM IR.
enum class HostCodegen {
  /// With every optimization: the CPU target's loop nests.
  Optimized,
  /// Fast (FastISel, the fast register allocator): the CUDA target's host
  /// code, a launch sequence in one basic block of some 90 instructions a
  /// launch (memref fields stored for cuLaunchKernel), where the DAG
  /// instruction selector's time grows faster than the block. Its speed is
  /// the driver calls'.
  Fast,
};

/// Translates `module`, already in the LLVM dialect, to LLVM IR, gives it to
/// `prepare` (if any; the CUDA target's shareCallArgumentMemory), optimizes
/// it at `optLevel` (0-3) for the host CPU, selects its machine code as
/// `codegen` says and links it into the shared object `soPath` (written to
/// a temporary file and renamed, so a failure leaves nothing).
LogicalResult
emitCpuSharedLibrary(ModuleOp module, llvm::StringRef soPath,
                     unsigned optLevel = 3,
                     HostCodegen codegen = HostCodegen::Optimized,
                     llvm::function_ref<void(llvm::Module &)> prepare = {});

/// Registers the translations `emitCpuSharedLibrary` needs with `registry`.
void registerCpuTranslations(DialectRegistry &registry);

} // namespace mlir::lora

#endif // LORA_TARGET_CPU_H
