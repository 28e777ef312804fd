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

def Lora_AdamWOp : Lora_Op<"adamw", [Pure, AllTypesMatch<["param", "grad",
    "exp_avg", "exp_avg_sq", "new_param", "new_exp_avg", "new_exp_avg_sq"]>]> {
  let summary = "One AdamW step for a parameter (PyTorch's torch.optim.AdamW)";
  let description = [{
    Updates `param` with its gradient and Adam state the way
    `torch.optim.AdamW` does (the single-tensor path, what PEFT and
    transformers' Trainer use): with `lr` a 0-d float tensor (a run-time
    input, so that schedules work) and `step` the 0-d integer step number
    (1 on the first step):

        p  = p · (1 - lr·weight_decay)
        m  = m + (1 - beta1)·(g - m)
        v  = v·beta2 + (1 - beta2)·g²
        p  = p - lr / (1 - beta1^step) · m / (sqrt(v) / sqrt(1 - beta2^step) + eps)

    The results are the new parameter and state; bufferization writes them
    in place of the operands when nothing else reads those. Elementwise math
    is in the parameter's type (at least f32), bias corrections in f64.

    Example:

    ```mlir
    %p, %m, %v = lora.adamw %param, %grad, %m0, %v0, %lr, %step
        {beta1 = 0.9, beta2 = 0.999, eps = 1.0e-8, weight_decay = 0.01}
        : (tensor<64x8xf32>, tensor<64x8xf32>, tensor<64x8xf32>,
           tensor<64x8xf32>, tensor<f64>, tensor<i64>)
        -> (tensor<64x8xf32>, tensor<64x8xf32>, tensor<64x8xf32>)
    ```
  }];
  let arguments = (ins AnyRankedTensor:$param, AnyRankedTensor:$grad,
                       AnyRankedTensor:$exp_avg, AnyRankedTensor:$exp_avg_sq,
                       0DTensorOf<[AnyFloat]>:$lr,
                       0DTensorOf<[AnySignlessInteger]>:$step,
                       DefaultValuedAttr<F64Attr, "0.9">:$beta1,
                       DefaultValuedAttr<F64Attr, "0.999">:$beta2,
                       DefaultValuedAttr<F64Attr, "1.0e-8">:$eps,
                       DefaultValuedAttr<F64Attr, "0.01">:$weight_decay);
  let results = (outs AnyRankedTensor:$new_param,
                      AnyRankedTensor:$new_exp_avg,
                      AnyRankedTensor:$new_exp_avg_sq);
  let assemblyFormat = [{
    $param `,` $grad `,` $exp_avg `,` $exp_avg_sq `,` $lr `,` $step
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Lora_SgdOp : Lora_Op<"sgd", [Pure, AllTypesMatch<["param", "grad",
    "momentum_buffer", "new_param", "new_momentum_buffer"]>]> {
  let summary = "One SGD step with momentum (PyTorch's torch.optim.SGD)";
  let description = [{
    With `lr` a 0-d float tensor, as `torch.optim.SGD` without dampening:

        d   = g + weight_decay·p
        buf = momentum·buf + d          (buf starts at zero)
        d   = d + momentum·buf if nesterov, else buf (d when momentum = 0)
        p   = p - lr·d

    A zero-initialized buffer gives PyTorch's first step exactly (it starts
    the buffer at d). Results: the new parameter and buffer.

    Example:

    ```mlir
    %p, %buf = lora.sgd %param, %grad, %buf0, %lr {momentum = 0.9}
        : (tensor<8x64xf32>, tensor<8x64xf32>, tensor<8x64xf32>, tensor<f64>)
        -> (tensor<8x64xf32>, tensor<8x64xf32>)
    ```
  }];
  let arguments = (ins AnyRankedTensor:$param, AnyRankedTensor:$grad,
                       AnyRankedTensor:$momentum_buffer,
                       0DTensorOf<[AnyFloat]>:$lr,
                       DefaultValuedAttr<F64Attr, "0.0">:$momentum,
                       DefaultValuedAttr<F64Attr, "0.0">:$weight_decay,
                       UnitAttr:$nesterov);
  let results = (outs AnyRankedTensor:$new_param,
                      AnyRankedTensor:$new_momentum_buffer);
  let assemblyFormat = [{
    $param `,` $grad `,` $momentum_buffer `,` $lr attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

#endif // LORA_DIALECT_LORA_LORAOPS_TD
