//===- LoraDialect.td - the LoRA dialect -------------------*- tablegen -*-===//
//
// The `lora` dialect holds the fused low-rank-adapted linear layer that the
// LoRA passes produce (lora-fuse) and the targets lower (CPU: linalg; CUDA:
// generated tensor-core kernels).
//
//===----------------------------------------------------------------------===//

#ifndef LORA_DIALECT_LORA_LORADIALECT_TD
#define LORA_DIALECT_LORA_LORADIALECT_TD

include "mlir/IR/OpBase.td"

def Lora_Dialect : Dialect {
  let name = "lora";
  let summary = "Low-rank adaptation (LoRA) of linear layers";
  let description = [{
    A LoRA-adapted linear layer computes `y = x·W + s·(x·A)·B (+ bias)` with
    a frozen weight `W: [K, N]` (ONNX MatMul orientation), trainable
    `A: [K, r]` and `B: [r, N]`, and the scale `s = alpha/r` (rsLoRA:
    `alpha/sqrt(r)`).

    LoRA parameters are function arguments, never constants (unless merged),
    so that adapters swap without recompiling. Two argument attributes
    describe them:

    * `lora.param` (string): the PEFT-style name of the parameter,
      `base_model.model.<module>.lora_A.weight` or `...lora_B.weight`.
    * `lora.init` (elements attribute, optional): the parameter's initial
      value in the argument's (ONNX) orientation, e.g. PEFT's `lora_A.weight`
      transposed to `[K, r]`.

    A train step (lora-optimizer) also takes optimizer state, named by
    `lora.state` (string), and returns every updated parameter and state
    under its own name (`onnx.name` of the result), so that a runtime can
    update them in place.
  }];
  let cppNamespace = "::mlir::lora";
  let hasRegionArgAttrVerify = 1;
  let dependentDialects = ["::mlir::tosa::TosaDialect"];
  let extraClassDeclaration = [{
    /// The argument attribute naming a LoRA parameter (a StringAttr).
    static ::llvm::StringRef getParamAttrName() { return "lora.param"; }
    /// The argument attribute holding a LoRA parameter's initial value.
    static ::llvm::StringRef getInitAttrName() { return "lora.init"; }
    /// The argument attribute naming a frozen weight that
    /// lora-outline-weights turned into an argument (a StringAttr); its
    /// value is the argument's `lora.init`.
    static ::llvm::StringRef getWeightAttrName() { return "lora.weight"; }
    /// The argument attribute naming an optimizer state tensor that
    /// lora-optimizer added (a StringAttr: `<param>.exp_avg`,
    /// `<param>.exp_avg_sq` or `<param>.momentum_buffer`); it starts at zero.
    static ::llvm::StringRef getStateAttrName() { return "lora.state"; }
  }];
}

class Lora_Op<string mnemonic, list<Trait> traits = []>
    : Op<Lora_Dialect, mnemonic, traits>;

#endif // LORA_DIALECT_LORA_LORADIALECT_TD
