//===- Fold.cpp - constant folding of shape computations ------------------===//

#include "OnnxToTosa.h"

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::onnx_to_tosa;

std::optional<SmallVector<Value>> onnx_to_tosa::tryFoldNode(Node &node) {
  return std::nullopt;
}
