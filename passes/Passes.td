//===- Passes.td - lora-opt passes -------------------------*- tablegen -*-===//

#ifndef LORA_PASSES_PASSES_TD
#define LORA_PASSES_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertOnnxToTosa : Pass<"convert-onnx-to-tosa", "func::FuncOp"> {
  let summary = "Convert imported ONNX nodes to TOSA, arith and tensor ops";
  let description = [{
    Gives each `onnx.node` its meaning: one conversion per ONNX operator
    (grouped by family in passes/ConvertOnnxToTosa/), each producing TOSA ops
    with static shapes computed from the operands. Nodes whose operands are
    all constants and whose result is small (shape computations such as
    Shape → Gather → Concat → Reshape) fold to constants, so that once the
    inputs are static no shape arithmetic is left at run time.

    The pass first checks every node: each node whose operator or opset has
    no conversion is reported (node name, op type, opset), then the pass
    fails. A dynamic input dimension that a conversion needs is an error
    naming the input; specialize it with `--input-shape`.
  }];
  let dependentDialects = ["::mlir::tosa::TosaDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def LoraMarkEntryPoints : Pass<"lora-mark-entry-points", "func::FuncOp"> {
  let summary = "Ask for C interfaces on public functions";
  let description = [{
    Sets `llvm.emit_c_interface` on every public function so that
    `convert-func-to-llvm` emits `_mlir_ciface_<name>`, which
    `lora-emit-entry-point` wraps.
  }];
}

def LoraCpuContractionLoopOrder
    : Pass<"lora-cpu-contraction-loop-order", "func::FuncOp"> {
  let summary = "Order contraction loops so the innermost loop is contiguous";
  let description = [{
    `convert-linalg-to-loops` emits a matmul as (m, n, k) with the reduction
    innermost, where B is read with stride N and the floating-point sum
    cannot be vectorized without reassociation. This pass generalizes every
    contraction and moves its reduction loops before the last parallel loop
    ((m, k, n) for a matmul), so the innermost loop walks B and C
    contiguously and LLVM vectorizes it exactly, without fast-math.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def LoraCpuCopiesToLinalg : Pass<"lora-cpu-copies-to-linalg", "func::FuncOp"> {
  let summary = "Rewrite memref.copy as linalg.copy";
  let description = [{
    `finalize-memref-to-llvm` lowers a copy between non-contiguous memrefs
    (a concat writing into a strided subview, for instance) to a call to
    `memrefCopy` from MLIR's C runner utilities. Compiled models must not
    depend on that library, so every copy becomes a `linalg.copy`, which
    `convert-linalg-to-loops` turns into plain loops (LLVM recognizes the
    contiguous ones as memcpy).
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def LoraEmitEntryPoint : Pass<"lora-emit-entry-point", "ModuleOp"> {
  let summary = "Add a packed C entry point for each public function";
  let description = [{
    Runs on the LLVM dialect after `llvm.emit_c_interface` wrappers exist.
    For every `_mlir_ciface_<name>` it adds `lora_entry_<name>(void **args)`
    that loads one memref descriptor pointer per argument from `args` and
    calls the C interface. The runtime calls every compiled function through
    this one signature, whatever its arity.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // LORA_PASSES_PASSES_TD
