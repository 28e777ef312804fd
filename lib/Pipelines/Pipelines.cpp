//===- Pipelines.cpp - named lora-opt pass pipelines ----------------------===//

#include "lora/Pipelines/Pipelines.h"

#include "lora/Dialect/Lora/Lora.h"
#include "lora/Dialect/Onnx/Onnx.h"
#include "lora/Passes/Passes.h"

#include "mlir/Conversion/TosaToLinalg/TosaToLinalg.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

void lora::buildOnnxToTosaPipeline(OpPassManager &pm) {
  pm.addNestedPass<func::FuncOp>(lora::createConvertOnnxToTosa());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

/// The parts after TOSA, written as pipeline strings so that they read the
/// same as the `lora-opt` command line that reproduces them.
static constexpr llvm::StringLiteral kCpuToLinalgCleanup =
    "func.func(tosa-to-arith{include-apply-rescale}, tosa-to-tensor, "
    "canonicalize, lora-fuse-elementwise-ops, cse, "
    "lora-mark-entry-points)";
/// Bufferization, results as out parameters: the first steps of both
/// targets' lowering to LLVM.
static constexpr llvm::StringLiteral kBufferize =
    "func.func(lora-untie-inits), "
    "one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map}, "
    "buffer-results-to-out-params{hoist-static-allocs "
    "modify-public-functions}, ";
static constexpr llvm::StringLiteral kCpuLinalgToLLVM =
    "buffer-deallocation-pipeline, "
    "func.func(lora-shrink-buffer-lifetimes, lora-cpu-copies-to-linalg, "
    "lora-cpu-contraction-loop-order, "
    "convert-linalg-to-loops), ";
/// From loops and memrefs to the host's LLVM: shared by the CPU target and
/// the CUDA target's emulation on the host.
static constexpr llvm::StringLiteral kCpuLoopsToLLVM =
    "lora-outline-loop-nests, "
    "func.func(math-extend-to-supported-types, math-expand-ops{ops=rsqrt}, "
    "lora-cpu-truncate-f64-to-bf16, "
    "arith-emulate-unsupported-floats{source-types=bf16 target-type=f32}, "
    "arith-expand{include-bf16}), "
    "lower-affine, convert-scf-to-cf, "
    "expand-strided-metadata, convert-math-to-libm, "
    "finalize-memref-to-llvm, convert-math-to-llvm, convert-arith-to-llvm, "
    "convert-index-to-llvm, convert-cf-to-llvm, convert-func-to-llvm, "
    "reconcile-unrealized-casts, lora-apply-noalias-args, "
    "lora-emit-entry-point";

/// Everything in device memory (lora-cuda-device-memory, which also frees
/// the buffers); the generic kernels are parallel loops (parallel dims
/// outermost) collapsed to one dim and tiled into blocks of 256 threads on
/// a 1-d grid, with the constants they use moved into them.
/// lora-cuda-stream-order then puts a function's GPU work on one stream,
/// waited for once.
static constexpr llvm::StringLiteral kCudaLinalgToKernels =
    "func.func(lora-cpu-copies-to-linalg, lora-cuda-parallel-dims-first, "
    "convert-linalg-to-parallel-loops, lora-cuda-collapse-parallel-loops, "
    "scf-parallel-loop-tiling{parallel-loop-tile-sizes=256 "
    "no-min-max-bounds}, "
    "gpu-map-parallel-loops, convert-parallel-loops-to-gpu, "
    "gpu-launch-sink-index-computations), "
    "gpu-kernel-outlining, lora-dedup-gpu-modules, lora-cuda-device-memory, "
    "lora-cuda-stream-order, ";
/// MLIR 22's gpu-lower-to-nvvm-pipeline{cubin-chip=sm_90a
/// cubin-features=+ptx80 opt-level=3 cubin-format=bin}, as
/// `--dump-pass-pipeline` prints it, with lora-gpu-module-to-binary (the
/// modules compiled in parallel) for gpu-module-to-binary.
static constexpr llvm::StringLiteral kCudaKernelsToLLVM =
    "convert-nvgpu-to-nvvm, gpu-kernel-outlining, convert-vector-to-scf, "
    "convert-scf-to-cf, convert-nvvm-to-llvm, convert-func-to-llvm, "
    "expand-strided-metadata, "
    "nvvm-attach-target{O=3 chip=sm_90a features=+ptx80}, lower-affine, "
    "convert-arith-to-llvm, convert-index-to-llvm{index-bitwidth=64}, "
    "canonicalize, cse, "
    "gpu.module(convert-gpu-to-nvvm{index-bitwidth=64}, canonicalize, cse, "
    "reconcile-unrealized-casts), "
    "gpu-to-llvm, lora-gpu-module-to-binary{format=bin}, "
    "convert-math-to-llvm, canonicalize, cse, reconcile-unrealized-casts, "
    "lora-emit-entry-point";
/// The CUDA target's host code and kernels run on the CPU instead.
static constexpr llvm::StringLiteral kCudaKernelsToHost =
    "lora-cuda-emulate-on-host, ";

/// Parses the concatenation of `parts` into `pm`.
static void addPipeline(OpPassManager &pm, ArrayRef<StringRef> parts) {
  std::string text;
  for (StringRef part : parts)
    text += part;
  if (failed(parsePassPipeline(text, pm, llvm::errs())))
    llvm::report_fatal_error("invalid built-in lowering pipeline");
}

void lora::buildCpuToLinalgPipeline(OpPassManager &pm) {
  // lora.linear becomes linalg on tensors first, so that the cleanups after
  // tosa-to-linalg (canonicalize, elementwise fusion, cse) see it together
  // with the rest of the graph.
  pm.addNestedPass<func::FuncOp>(lora::createConvertLoraToLinalg());
  // No tosa-validate: our TOSA is an internal IR that uses i64 and f64 (ONNX
  // index math, exact f64 intermediates) beyond the TOSA spec's profiles,
  // and every TOSA op we build is verified by its own verifier anyway.
  tosa::addTosaToLinalgPasses(pm, TosaToLinalgOptions(),
                              TosaToLinalgNamedOptions(),
                              /*validationOptions=*/std::nullopt);
  if (failed(parsePassPipeline(kCpuToLinalgCleanup, pm, llvm::errs())))
    llvm::report_fatal_error("invalid built-in CPU lowering pipeline");
}

void lora::buildCpuLinalgToLLVMPipeline(OpPassManager &pm) {
  addPipeline(pm, {kBufferize, kCpuLinalgToLLVM, kCpuLoopsToLLVM});
}

void lora::buildCpuLoweringPipeline(OpPassManager &pm) {
  buildCpuToLinalgPipeline(pm);
  buildCpuLinalgToLLVMPipeline(pm);
}

LogicalResult lora::buildCudaToLinalgPipeline(
    OpPassManager &pm, StringRef kernelOptions, bool referenceLaunchers,
    function_ref<LogicalResult(const Twine &)> errorHandler) {
  std::unique_ptr<Pass> generate = lora::createLoraGenerateCudaKernels();
  std::string options = kernelOptions.str();
  if (referenceLaunchers)
    options += " reference-launchers=true";
  if (failed(generate->initializeOptions(options, errorHandler)))
    return failure();
  pm.addPass(std::move(generate));
  buildCpuToLinalgPipeline(pm);
  return success();
}

/// The built-in CUDA pipelines: the kernel generator's default options.
static void addCudaToLinalg(OpPassManager &pm, bool referenceLaunchers) {
  if (failed(lora::buildCudaToLinalgPipeline(
          pm, "", referenceLaunchers, [](const Twine &) { return failure(); })))
    llvm::report_fatal_error("invalid built-in CUDA lowering pipeline");
}

void lora::buildCudaToLinalgPipeline(OpPassManager &pm) {
  addCudaToLinalg(pm, /*referenceLaunchers=*/false);
}

void lora::buildCudaLinalgToLLVMPipeline(OpPassManager &pm) {
  addPipeline(pm, {kBufferize, kCudaLinalgToKernels, kCudaKernelsToLLVM});
}

void lora::buildCudaEmulatedLinalgToLLVMPipeline(OpPassManager &pm) {
  addPipeline(pm, {kBufferize, kCudaLinalgToKernels, kCudaKernelsToHost,
                   kCpuLoopsToLLVM});
}

void lora::buildCudaLoweringPipeline(OpPassManager &pm) {
  buildCudaToLinalgPipeline(pm);
  buildCudaLinalgToLLVMPipeline(pm);
}

void lora::buildCudaEmulatedToLinalgPipeline(OpPassManager &pm) {
  addCudaToLinalg(pm, /*referenceLaunchers=*/true);
}

void lora::buildCudaEmulatedLoweringPipeline(OpPassManager &pm) {
  buildCudaEmulatedToLinalgPipeline(pm);
  buildCudaEmulatedLinalgToLLVMPipeline(pm);
}

void lora::registerLoraPipelines() {
  PassPipelineRegistration<>(
      "lora-onnx-to-tosa-pipeline",
      "Convert the onnx import dialect to TOSA with static shapes",
      buildOnnxToTosaPipeline);
  PassPipelineRegistration<>(
      "lora-cpu-pipeline",
      "Lower TOSA, lora.linear and linalg on tensors to the LLVM dialect "
      "for the host CPU",
      buildCpuLoweringPipeline);
  PassPipelineRegistration<>(
      "lora-cuda-pipeline",
      "Lower TOSA, lora.linear and linalg on tensors to host LLVM with "
      "embedded sm_90a cubins (generated tensor-core kernels for bf16/f16 "
      "lora.linear and matmuls)",
      buildCudaLoweringPipeline);
  PassPipelineRegistration<>(
      "lora-cuda-emulated-pipeline",
      "Lower TOSA, lora.linear and linalg on tensors as the CUDA target "
      "does, then run its host code and generic kernels on the CPU",
      buildCudaEmulatedLoweringPipeline);
}

void lora::registerLoraDialects(DialectRegistry &registry) {
  registerAllDialects(registry);
  registerAllExtensions(registry);
  // gpu-module-to-binary (in gpu-lower-to-nvvm-pipeline) translates kernels
  // to LLVM IR inside the pass pipeline.
  registerAllToLLVMIRTranslations(registry);
  registry.insert<LoraDialect, onnx::OnnxDialect>();
}
