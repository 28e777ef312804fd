//===- Tensor.cpp - data movement and shape ONNX ops to TOSA --------------===//

#include "OnnxToTosa.h"

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::onnx_to_tosa;

static LogicalResult convertConstant(Node &node) {
  ElementsAttr value = node.tensorAttr("value");
  if (!value) {
    node.emitError() << "only the 'value' form of Constant is supported";
    return failure();
  }
  return node.replace(Value(arith::ConstantOp::create(
      node.rewriter, node.loc, cast<TypedAttr>(value))));
}

void onnx_to_tosa::addTensorConverters(SmallVectorImpl<Converter> &converters) {
  converters.push_back({"Constant", 1, convertConstant});
}
