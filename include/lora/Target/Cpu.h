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

/// Translates `module`, already in the LLVM dialect, to LLVM IR, optimizes it
/// at `optLevel` (0-3) for the host CPU, selects its machine code as
/// `codegen` says and links it into the shared object `soPath` (written to
/// a temporary file and renamed, so a failure leaves nothing).
LogicalResult
emitCpuSharedLibrary(ModuleOp module, llvm::StringRef soPath,
                     unsigned optLevel = 3,
                     HostCodegen codegen = HostCodegen::Optimized);

/// Lets the stack memory of the CUDA runtime calls in `module`'s host code
/// share one buffer per function; gives the number of allocas it replaced.
///
/// Translated gpu.launch_func (and the lowering of TMA descriptors) gives
/// every launch allocas of its own, for its argument struct and pointer
/// array (and every tensor map its memref descriptor and box): some 27 KB a
/// layer of a train step, all in one frame, as nothing marks their
/// lifetimes. Their values are read only by the one call they are made for
/// (mgpuLaunchKernel, mgpuLaunchClusterKernel: cuLaunchKernel copies the
/// arguments; mgpuTensorMapEncodeTiledMemref), and written in the same
/// block after the call before it. Each such call's allocas become slices
/// of one buffer of the function, as large as the largest call needs. An
/// alloca with any other use, or whose uses interleave with another call's,
/// is left alone.
unsigned shareCallArgumentMemory(llvm::Module &module);

/// Registers the translations `emitCpuSharedLibrary` needs with `registry`.
void registerCpuTranslations(DialectRegistry &registry);

} // namespace mlir::lora

#endif // LORA_TARGET_CPU_H
