//===- Onnx.h - the ONNX import dialect -------------------------*- C++ -*-===//

#ifndef LORA_DIALECT_ONNX_ONNX_H
#define LORA_DIALECT_ONNX_ONNX_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "lora/Dialect/Onnx/OnnxDialect.h.inc"

#define GET_TYPEDEF_CLASSES
#include "lora/Dialect/Onnx/OnnxTypes.h.inc"

#define GET_OP_CLASSES
#include "lora/Dialect/Onnx/OnnxOps.h.inc"

namespace mlir::lora::onnx {

/// The newest default-domain opset the conversion patterns understand.
inline constexpr int64_t kMaxSupportedOpset = 23;

} // namespace mlir::lora::onnx

#endif // LORA_DIALECT_ONNX_ONNX_H
