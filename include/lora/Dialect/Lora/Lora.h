//===- Lora.h - the LoRA dialect --------------------------------*- C++ -*-===//

#ifndef LORA_DIALECT_LORA_LORA_H
#define LORA_DIALECT_LORA_LORA_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "lora/Dialect/Lora/LoraDialect.h.inc"

#define GET_OP_CLASSES
#include "lora/Dialect/Lora/LoraOps.h.inc"

namespace mlir {
class RewriterBase;
namespace tosa {
class MatMulOp;
} // namespace tosa
namespace lora {

/// Builds `x·W (+ bias)` in TOSA for `x: [..., K]`, `W: [K, N]`, `bias: [N]`
/// (may be null) as one [1, M, K] x [1, K, N] tosa.matmul (returned in
/// `matmulOp` when given), accumulating half types in f32. Fails on dynamic
/// shapes.
FailureOr<Value> buildTosaLinear(RewriterBase &rewriter, Location loc,
                                 Value input, Value weight, Value bias,
                                 RankedTensorType resultType,
                                 tosa::MatMulOp *matmulOp = nullptr);

} // namespace lora
} // namespace mlir

#endif // LORA_DIALECT_LORA_LORA_H
