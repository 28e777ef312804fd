//===- Cpu.h - CPU code generation ------------------------------*- C++ -*-===//

#ifndef LORA_TARGET_CPU_H
#define LORA_TARGET_CPU_H

#include "mlir/IR/BuiltinOps.h"

namespace mlir::lora {

/// Translates `module`, already in the LLVM dialect, to LLVM IR, optimizes it
/// at `optLevel` (0-3) for the host CPU and links it into the shared object
/// `soPath` (written to a temporary file and renamed, so a failure leaves
/// nothing).
LogicalResult emitCpuSharedLibrary(ModuleOp module, llvm::StringRef soPath,
                                   unsigned optLevel = 3);

/// Registers the translations `emitCpuSharedLibrary` needs with `registry`.
void registerCpuTranslations(DialectRegistry &registry);

} // namespace mlir::lora

#endif // LORA_TARGET_CPU_H
