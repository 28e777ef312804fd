//===- Elementwise.cpp - elementwise ONNX ops to TOSA ---------------------===//
//
// Arithmetic, activations, comparisons and logic. Binary ops follow numpy
// broadcasting; TOSA needs equal ranks, so the lower-rank side is reshaped.
//
//===----------------------------------------------------------------------===//

#include "OnnxToTosa.h"

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::onnx_to_tosa;

/// Checks that inputs 0 and 1 broadcast and have the same element type.
static LogicalResult checkBinary(Node &node) {
  if (node.elementType(0) != node.elementType(1)) {
    node.emitError() << "operand element types differ: " << node.type(0)
                     << " vs " << node.type(1);
    return failure();
  }
  if (failed(broadcastShape(node.shape(0), node.shape(1)))) {
    node.emitError() << "operands " << node.type(0) << " and "
                     << node.type(1) << " do not broadcast";
    return failure();
  }
  return success();
}

template <typename OpTy>
static LogicalResult convertBinary(Node &node) {
  if (failed(checkBinary(node)))
    return failure();
  return node.replace(
      binary<OpTy>(node.rewriter, node.loc, node.input(0), node.input(1)));
}

static LogicalResult convertMul(Node &node) {
  if (failed(checkBinary(node)))
    return failure();
  return node.replace(mul(node.rewriter, node.loc, node.input(0),
                          node.input(1)));
}

static LogicalResult convertIdentity(Node &node) {
  return node.replace(node.input(0));
}

void onnx_to_tosa::addElementwiseConverters(
    SmallVectorImpl<Converter> &converters) {
  converters.push_back({"Add", 1, convertBinary<tosa::AddOp>});
  converters.push_back({"Sub", 1, convertBinary<tosa::SubOp>});
  converters.push_back({"Mul", 1, convertMul});
  converters.push_back({"Identity", 1, convertIdentity});
}
