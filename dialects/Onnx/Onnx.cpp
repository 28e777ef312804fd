//===- Onnx.cpp - the ONNX import dialect ---------------------------------===//

#include "lora/Dialect/Onnx/Onnx.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::lora::onnx;

#include "lora/Dialect/Onnx/OnnxDialect.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "lora/Dialect/Onnx/OnnxTypes.cpp.inc"

void OnnxDialect::initialize() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "lora/Dialect/Onnx/OnnxTypes.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "lora/Dialect/Onnx/OnnxOps.cpp.inc"
      >();
}

LogicalResult NodeOp::verify() {
  if (getOpType().empty())
    return emitOpError("has an empty op_type");
  if (getOpset() < 1)
    return emitOpError("opset must be positive, got ") << getOpset();
  return success();
}


#define GET_OP_CLASSES
#include "lora/Dialect/Onnx/OnnxOps.cpp.inc"
