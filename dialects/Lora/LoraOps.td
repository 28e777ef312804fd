//===- LoraOps.td - ops of the LoRA dialect ----------------*- tablegen -*-===//

#ifndef LORA_DIALECT_LORA_LORAOPS_TD
#define LORA_DIALECT_LORA_LORAOPS_TD

include "LoraDialect.td"
include "mlir/IR/BuiltinAttributes.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Lora_LinearOp : Lora_Op<"linear", [Pure]> {
  let summary = "A linear layer with a LoRA branch: x·W + s·(x·A)·B + bias";
  let description = [{
    Computes `y = x·W + scale·(x·A)·B`, plus `bias` when present, for `x` of
    shape `[..., K]` (any number of leading batch dims), `W: [K, N]`,
    `A: [K, r]`, `B: [r, N]`, `bias: [N]`; `y` has shape `[..., N]`. All
    operands and the result have the same floating-point element type;
    products accumulate in at least f32 and the result is rounded once.

    `rank` is `r` (it must equal the shapes of `A` and `B`); `scale` is the
    LoRA scale `alpha/r` (or `alpha/sqrt(r)` for rsLoRA) and must be
    positive. A branch that is known to be zero (`A` or `B` a zero constant)
    canonicalizes to the plain matmul.

    Example:

    ```mlir
    %y = lora.linear %x, %w, %a, %b bias(%bias) {rank = 8 : i64, scale = 2.0}
        : (tensor<2x16x64xf32>, tensor<64x64xf32>, tensor<64x8xf32>,
           tensor<8x64xf32>, tensor<64xf32>) -> tensor<2x16x64xf32>
    ```
  }];

  let arguments = (ins AnyRankedTensor:$input,
                       AnyRankedTensor:$weight,
                       AnyRankedTensor:$lora_a,
                       AnyRankedTensor:$lora_b,
                       Optional<AnyRankedTensor>:$bias,
                       ConfinedAttr<I64Attr, [IntPositive]>:$rank,
                       F64Attr:$scale);
  let results = (outs AnyRankedTensor:$result);

  let assemblyFormat = [{
    $input `,` $weight `,` $lora_a `,` $lora_b (`bias` `(` $bias^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];

  let extraClassDeclaration = [{
    /// K: the contraction size (the last dim of the input).
    int64_t getInputSize() { return getWeight().getType().getDimSize(0); }
    /// N: the output features.
    int64_t getOutputSize() { return getWeight().getType().getDimSize(1); }
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def Lora_LinearGradOp : Lora_Op<"linear_grad", [Pure]> {
  let summary = "The backward of lora.linear for its LoRA parameters and input";
  let description = [{
    Given the operands of a `lora.linear` (`x: [..., K]`, `W: [K, N]`,
    `A: [K, r]`, `B: [r, N]`) and `g = dL/dy: [..., N]`, computes with
    `t = x·A`:

        dB = s · tᵀ·g        dt = s · g·Bᵀ        dA = xᵀ·dt
        dx = g·Wᵀ + dt·Aᵀ

    (leading dims of x and g are summed over in dA and dB). W and the bias
    are frozen: there is no dW, and the bias does not enter. One op, so that
    a target can fuse the five products (the CUDA target's kernels, the CPU
    target's linalg); `dx` is computed only when it is used. Products
    accumulate in at least f32 and each result is rounded once.

    Example:

    ```mlir
    %dx, %da, %db = lora.linear_grad %x, %w, %a, %b, %g {rank = 8 : i64, scale = 2.0}
        : (tensor<2x16x64xf32>, tensor<64x32xf32>, tensor<64x8xf32>,
           tensor<8x32xf32>, tensor<2x16x32xf32>)
        -> (tensor<2x16x64xf32>, tensor<64x8xf32>, tensor<8x32xf32>)
    ```
  }];

  let arguments = (ins AnyRankedTensor:$input,
                       AnyRankedTensor:$weight,
                       AnyRankedTensor:$lora_a,
                       AnyRankedTensor:$lora_b,
                       AnyRankedTensor:$result_grad,
                       ConfinedAttr<I64Attr, [IntPositive]>:$rank,
                       F64Attr:$scale);
  let results = (outs AnyRankedTensor:$input_grad,
                      AnyRankedTensor:$lora_a_grad,
                      AnyRankedTensor:$lora_b_grad);

  let assemblyFormat = [{
    $input `,` $weight `,` $lora_a `,` $lora_b `,` $result_grad
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

#endif // LORA_DIALECT_LORA_LORAOPS_TD
