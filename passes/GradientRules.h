//===- GradientRules.h - reverse-mode rules of TOSA and lora ops -*- C++
//-*-===//
//
// One rule per op: given the gradients of an op's results, build the
// gradients of the operands that need one. lora-autodiff calls these on the
// ops between the LoRA parameters and the loss; another tool can call them
// the same way.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_PASSES_GRADIENTRULES_H
#define LORA_PASSES_GRADIENTRULES_H

#include "mlir/IR/Builders.h"
#include "mlir/Support/LLVM.h"

namespace mlir::lora {

/// Builds, at `b`'s insertion point, the gradients of `op`'s operands from
/// `resultGrads` (one per result, each of its result's type; a null entry
/// means a zero gradient). Only operands with `wanted[i]` set get one; the
/// others are null in the returned vector. Each gradient has its operand's
/// type. Integer and boolean operands (indices, masks) never get one.
/// Fails without emitting when `op` has no rule, or when a wanted
/// operand is one the rule does not differentiate (lora.linear's frozen
/// weight and bias); `whyNot` then says which.
FailureOr<SmallVector<Value>> buildOperandGradients(OpBuilder &b, Operation *op,
                                                    ArrayRef<Value> resultGrads,
                                                    ArrayRef<bool> wanted,
                                                    std::string &whyNot);

/// When `op` ends a softmax or log-softmax as the ONNX importer builds them
/// (`d = x - reduce_max(x)`, then `exp(d) * reciprocal(reduce_sum(exp(d)))`
/// or `d - log(reduce_sum(exp(d)))`, over one axis), returns x and builds
/// at `b`'s insertion point its gradient from `resultGrad` by the fused
/// rules, which read only the result y:
///
///   softmax      dx = y ⊙ (g - Σ_axis g ⊙ y)
///   log-softmax  dx = g - exp(y) ⊙ Σ_axis g
///
/// Differentiated op by op, the same function keeps exp(d), x and the
/// argmax mask for the backward as well; the fused rule lets lora-autodiff
/// skip the inner ops. `op` may also be the NaN guard that exporters put
/// after a softmax, `y' = select(y == y, y, 0)` (torch.onnx's attention):
/// the softmax rule then reads y' in place of y, which is the same where y
/// is a number and gives a zero gradient for a row masked entirely (NaNs
/// in y, zeros in y'), so neither y nor the mask is kept. Returns failure,
/// building nothing, for any other op.
FailureOr<std::pair<Value, Value>>
buildSoftmaxGradient(OpBuilder &b, Operation *op, Value resultGrad);

} // namespace mlir::lora

#endif // LORA_PASSES_GRADIENTRULES_H
