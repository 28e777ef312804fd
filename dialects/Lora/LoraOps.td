//===- LoraOps.td - ops of the LoRA dialect ----------------*- tablegen -*-===//

#ifndef LORA_DIALECT_LORA_LORAOPS_TD
#define LORA_DIALECT_LORA_LORAOPS_TD

include "LoraDialect.td"
include "mlir/IR/BuiltinAttributes.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Lora_LinearOp : Lora_Op<"linear", [Pure, AttrSizedOperandSegments]> {
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

    `lora_input`, when present, is what the branch reads instead of `x`
    (same type): `y = x·W + scale·(lora_input·A)·B`. A train step with LoRA
    dropout passes `lora.dropout` of `x` there, as PEFT's
    `lora_B(lora_A(dropout(x)))` does.

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
                       Optional<AnyRankedTensor>:$lora_input,
                       Optional<AnyRankedTensor>:$bias,
                       ConfinedAttr<I64Attr, [IntPositive]>:$rank,
                       F64Attr:$scale);
  let results = (outs AnyRankedTensor:$result);

  let assemblyFormat = [{
    $input `,` $weight `,` $lora_a `,` $lora_b
    (`lora_input` `(` $lora_input^ `)`)? (`bias` `(` $bias^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];

  let builders = [
    // Without lora_input: the branch reads x.
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input,
                   "::mlir::Value":$weight, "::mlir::Value":$lora_a,
                   "::mlir::Value":$lora_b, "::mlir::Value":$bias,
                   "::mlir::IntegerAttr":$rank, "::mlir::FloatAttr":$scale), [{
      build($_builder, $_state, result, input, weight, lora_a, lora_b,
            /*lora_input=*/::mlir::Value(), bias, rank, scale);
    }]>
  ];

  let extraClassDeclaration = [{
    /// K: the contraction size (the last dim of the input).
    int64_t getInputSize() { return getWeight().getType().getDimSize(0); }
    /// N: the output features.
    int64_t getOutputSize() { return getWeight().getType().getDimSize(1); }
    /// What the LoRA branch reads: lora_input when present, else x.
    ::mlir::Value getBranchInput() {
      return getLoraInput() ? getLoraInput() : getInput();
    }
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

    With `lora_input` (`xl`, the branch's own input; see `lora.linear`),
    `t = xl·A` and `dA = xlᵀ·dt`, and the two paths to the inputs stay
    apart: `input_grad = g·Wᵀ` and the extra result
    `lora_input_grad = dt·Aᵀ`.

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
                       Optional<AnyRankedTensor>:$lora_input,
                       ConfinedAttr<I64Attr, [IntPositive]>:$rank,
                       F64Attr:$scale);
  let results = (outs AnyRankedTensor:$input_grad,
                      AnyRankedTensor:$lora_a_grad,
                      AnyRankedTensor:$lora_b_grad,
                      Optional<AnyRankedTensor>:$lora_input_grad);

  let assemblyFormat = [{
    $input `,` $weight `,` $lora_a `,` $lora_b `,` $result_grad
    (`lora_input` `(` $lora_input^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];

  let extraClassDeclaration = [{
    /// What the LoRA branch read: lora_input when present, else x.
    ::mlir::Value getBranchInput() {
      return getLoraInput() ? getLoraInput() : getInput();
    }
  }];
  let hasVerifier = 1;
}

def Lora_DropoutOp : Lora_Op<"dropout", [Pure, AllTypesMatch<["input",
    "result"]>]> {
  let summary = "Dropout with a counter-based mask: the same seed, the same mask";
  let description = [{
    Zeroes each element of `input` with probability `rate` and scales the
    others by `1/(1 - rate)`, as `torch.nn.functional.dropout` in training.
    The mask is a function of the 0-d `seed`, the `stream` attribute and
    the element's row-major index `i`, nothing else, so the backward (and
    any recomputation) regenerates it instead of storing it. With
    `mix(z)` the splitmix64 finalizer

        z = (z ^ (z >> 30)) · 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) · 0x94D049BB133111EB
        mix(z) = z ^ (z >> 31)

    and `G = 0x9E3779B97F4A7C15`, all mod 2⁶⁴:

        key  = mix(seed + (stream + 1)·G)
        h(i) = mix(key + (i + 1)·G)
        keep(i) = (h(i) >> 40) >= round(rate · 2²⁴)

    that is, element `i` draws the `(i+1)`-th output of splitmix64 seeded
    with the `(stream+1)`-th output of splitmix64 seeded with `seed`, and
    keeps the top 24 bits as a uniform number in [0, 1). Distinct streams
    give independent masks for one seed; `rate` is in [0, 1), and a rate
    of 0 folds to the input.

    Example:

    ```mlir
    %y = lora.dropout %x, %seed {rate = 0.1, stream = 3 : i64}
        : (tensor<2x16x64xf32>, tensor<i64>) -> tensor<2x16x64xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input,
                       0DTensorOf<[I64]>:$seed,
                       F64Attr:$rate,
                       I64Attr:$stream);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $seed attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
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
