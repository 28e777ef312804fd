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

} // namespace mlir::lora

#endif // LORA_PASSES_GRADIENTRULES_H
