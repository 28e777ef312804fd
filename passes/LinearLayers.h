//===- LinearLayers.h - linear layers of a TOSA graph -----------*- C++ -*-===//
//
// What the LoRA passes share: finding the linear layers of a graph, naming
// them like the PyTorch modules they came from, naming their LoRA
// parameters like PEFT, and reading/writing float constants.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_PASSES_LINEARLAYERS_H
#define LORA_PASSES_LINEARLAYERS_H

#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace mlir::lora {

/// A linear layer `y = x·W`: a `tosa.matmul` [1, M, K] x [1, K, N] whose
/// right side is a constant (the form convert-onnx-to-tosa gives an ONNX
/// MatMul or Gemm with a weight).
struct LinearLayer {
  tosa::MatMulOp matmul;
  /// The constant op the weight is computed from (reshapes, transposes and
  /// casts only).
  Operation *weightSource = nullptr;
  /// The module name, e.g. "model.layers.0.self_attn.q_proj".
  std::string module;
  /// The ONNX node the matmul came from (for messages).
  std::string node;
  /// K and N.
  int64_t inFeatures = 0, outFeatures = 0;
  /// True when the layer's result reaches a function result through
  /// reshapes, casts and constant additions only: the model's output head
  /// (lm_head), which `all-linear` leaves out like PEFT.
  bool outputHead = false;
};

/// The constant op (arith.constant or tosa.const) `value` is computed from
/// through tosa.reshape, tosa.transpose and tosa.cast only, or null.
Operation *getConstantSource(Value value);

/// Every linear layer under `root`, in IR order, named (see lora-insert's
/// description for the naming rules).
SmallVector<LinearLayer> findLinearLayers(Operation *root);

/// The module name of a matmul from its location and its weight's source.
std::string getModuleName(Operation *matmul, Operation *weightSource);

/// The ONNX node name in `loc` (its outermost NameLoc), or "".
std::string getNodeName(Location loc);

/// PEFT's key of a LoRA parameter: "base_model.model.<module>.lora_A.weight"
/// (or lora_B).
std::string getLoraParamName(StringRef module, bool isA);

/// The module of a PEFT parameter key (the inverse of getLoraParamName), or
/// "" when `param` is not such a key.
StringRef getModuleOfParam(StringRef param);

/// The values of a float constant (dense or dense_resource; f64, f32, f16,
/// bf16) as doubles, row-major. Fails for other element types.
FailureOr<SmallVector<double>> readFloatElements(ElementsAttr attr);

/// A constant of `type` (float element type) holding `values` rounded to
/// nearest-even. Large constants become resource blobs named `blobName`.
ElementsAttr makeFloatElements(RankedTensorType type, ArrayRef<double> values,
                               StringRef blobName);

} // namespace mlir::lora

#endif // LORA_PASSES_LINEARLAYERS_H
