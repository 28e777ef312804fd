//===- OnnxToTosa.h - shared pieces of convert-onnx-to-tosa -----*- C++ -*-===//
//
// Each ONNX operator has one converter function, registered with the opset
// it is valid from. Converters see a `Node`: the `onnx.node` op, its operands
// after conversion (ranked, static tensors), and helpers for attributes,
// constant operands, errors and common TOSA constructions. Files are grouped
// by operator family; each family adds its converters with an
// `add...Converters` function.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_PASSES_CONVERTONNXTOTOSA_ONNXTOTOSA_H
#define LORA_PASSES_CONVERTONNXTOTOSA_ONNXTOTOSA_H

#include "lora/Dialect/Onnx/Onnx.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Transforms/DialectConversion.h"

#include <optional>

namespace mlir::lora::onnx_to_tosa {

/// The ONNX node name kept in `op`'s location.
std::string getNodeName(Operation *op);

/// One ONNX node under conversion.
class Node {
public:
  Node(onnx::NodeOp op, ValueRange inputs, ConversionPatternRewriter &rewriter)
      : op(op), inputs(inputs), rewriter(rewriter), loc(op.getLoc()) {}

  onnx::NodeOp op;
  ValueRange inputs;
  ConversionPatternRewriter &rewriter;
  Location loc;

  StringRef opType() { return op.getOpType(); }
  int64_t opset() { return op.getOpset(); }
  /// The node name (the op's location).
  std::string name();

  unsigned numInputs() { return inputs.size(); }
  unsigned numOutputs() { return op.getNumResults(); }
  /// Input `i`, or null when it is absent or an `onnx.none`.
  Value input(unsigned i);
  /// The type of input `i`; null when absent. Converted inputs are always
  /// ranked with a static shape.
  RankedTensorType type(unsigned i);
  /// Shape of input `i`.
  ArrayRef<int64_t> shape(unsigned i) { return type(i).getShape(); }
  int64_t rank(unsigned i) { return type(i).getRank(); }
  Type elementType(unsigned i) { return type(i).getElementType(); }

  /// ONNX attributes, with the defaults ONNX gives them.
  bool hasAttr(StringRef name) { return bool(op.getNodeAttr(name)); }
  int64_t intAttr(StringRef name, int64_t defaultValue);
  float floatAttr(StringRef name, float defaultValue);
  std::string stringAttr(StringRef name, StringRef defaultValue);
  std::optional<SmallVector<int64_t>> intsAttr(StringRef name);
  std::optional<SmallVector<float>> floatsAttr(StringRef name);
  /// A tensor attribute (e.g. Constant's `value`), null when absent.
  ElementsAttr tensorAttr(StringRef name);

  /// The value of input `i` when it is a constant, else null.
  ElementsAttr constant(unsigned i);
  /// Input `i`'s constant values as integers (axes, shapes, starts, ...).
  std::optional<SmallVector<int64_t>> constantInts(unsigned i);
  /// Input `i`'s constant values as doubles.
  std::optional<SmallVector<double>> constantFloats(unsigned i);

  /// Emits an error on the node, prefixed with its name, type and opset.
  InFlightDiagnostic emitError();
  /// Replaces the node's results.
  LogicalResult replace(ValueRange values);
  LogicalResult replace(Value value) { return replace(ValueRange(value)); }

  /// `axis` in [-rank, rank) made non-negative; an error otherwise.
  FailureOr<int64_t> normalizeAxis(int64_t axis, int64_t rank);
  /// Every entry of `axes` normalised, sorted and unique.
  FailureOr<SmallVector<int64_t>> normalizeAxes(ArrayRef<int64_t> axes,
                                                int64_t rank);
};

/// Converts one node; emits an error on failure.
using ConvertFn = LogicalResult (*)(Node &node);

/// A converter for `opType` valid from opset `sinceOpset` on. When a type
/// has several entries, the one with the greatest `sinceOpset` not above the
/// node's opset applies.
struct Converter {
  StringRef opType;
  int64_t sinceOpset;
  ConvertFn convert;
};

void addElementwiseConverters(SmallVectorImpl<Converter> &converters);
void addMatMulConverters(SmallVectorImpl<Converter> &converters);
void addReductionConverters(SmallVectorImpl<Converter> &converters);
void addTensorConverters(SmallVectorImpl<Converter> &converters);

/// Largest result, in elements, computed on the host (by `tryFoldNode` and by
/// the data-movement converters); bigger constant expressions are weights,
/// whose copies would only cost memory.
inline constexpr int64_t kFoldLimit = 1 << 16;

/// Folds `node` to a constant when every input is a constant, the operator is
/// one that shape computations use, and the result is small. Returns the
/// folded values, or nullopt when it does not apply.
std::optional<SmallVector<Value>> tryFoldNode(Node &node);

//===----------------------------------------------------------------------===//
// Checks and type rules shared by the families.
//===----------------------------------------------------------------------===//

/// Checks that inputs [0, numRequired) are present; the error says
/// "expects N input(s), input I is missing".
LogicalResult checkRequiredInputs(Node &node, unsigned numRequired);
/// Checks that the node has exactly `numOutputs` results.
LogicalResult checkNumOutputs(Node &node, unsigned numOutputs);

/// The type arithmetic on `elementType` is carried out in: f16 and bf16 have
/// too few mantissa bits to accumulate sums and products, so they are widened
/// to f32 (tosa.matmul's wide accumulator); other types are kept.
Type accumulatorType(Type elementType);

/// The element type of ONNX data type `dataType` (the TensorProto enum), or
/// null for types without one here. Unsigned types are included; converters
/// that cannot take them check the result.
Type onnxElementType(MLIRContext *context, int64_t dataType);

/// The raw bytes of `attr` when it is a resource blob that is loaded.
std::optional<ArrayRef<char>> resourceBytes(ElementsAttr attr);

//===----------------------------------------------------------------------===//
// TOSA building blocks shared by the families.
//===----------------------------------------------------------------------===//

/// The type of a converted (ranked, static) tensor value.
inline RankedTensorType tensorType(Value value) {
  return cast<RankedTensorType>(value.getType());
}

/// A `tosa.const_shape` holding `shape`.
Value shapeValue(OpBuilder &b, Location loc, ArrayRef<int64_t> shape);
/// `tosa.reshape` of `value` to `shape` (no-op when it already has it).
Value reshape(OpBuilder &b, Location loc, Value value, ArrayRef<int64_t> shape);
/// `tosa.transpose` of `value` by `perm`.
Value transpose(OpBuilder &b, Location loc, Value value,
                ArrayRef<int64_t> perm);
/// `tosa.cast` of `value` to `elementType` (no-op when it has it).
Value castTo(OpBuilder &b, Location loc, Value value, Type elementType);
/// A constant tensor of `type` with every element `value`.
Value splat(OpBuilder &b, Location loc, RankedTensorType type, double value);
/// A rank-`rank` constant with the single element `value` (shape 1x..x1),
/// ready to broadcast in TOSA elementwise ops.
Value scalar(OpBuilder &b, Location loc, Type elementType, double value,
             int64_t rank);
/// A constant like `like` (same element type and rank, all dims 1) holding
/// `value`.
Value scalarLike(OpBuilder &b, Location loc, Value like, double value);
/// Reshapes the lower-rank operand by prepending 1s (numpy broadcasting) so
/// both have the same rank, as TOSA elementwise ops need.
void equalizeRanks(OpBuilder &b, Location loc, Value &lhs, Value &rhs);
/// The numpy-broadcast shape of `a` and `b`, or failure.
FailureOr<SmallVector<int64_t>> broadcastShape(ArrayRef<int64_t> a,
                                               ArrayRef<int64_t> b);
/// `tosa.mul` with a zero shift, broadcasting ranks.
Value mul(OpBuilder &b, Location loc, Value lhs, Value rhs);
/// Builds a TOSA elementwise binary op with broadcasting and an inferred
/// result shape; `resultElementType` defaults to lhs's element type.
template <typename OpTy>
Value binary(OpBuilder &b, Location loc, Value lhs, Value rhs,
             Type resultElementType = {}) {
  equalizeRanks(b, loc, lhs, rhs);
  auto lhsType = cast<RankedTensorType>(lhs.getType());
  auto rhsType = cast<RankedTensorType>(rhs.getType());
  auto shape = broadcastShape(lhsType.getShape(), rhsType.getShape());
  assert(succeeded(shape) && "caller checks broadcastability");
  Type elementType =
      resultElementType ? resultElementType : lhsType.getElementType();
  return OpTy::create(b, loc, RankedTensorType::get(*shape, elementType), lhs,
                      rhs);
}
/// A TOSA elementwise op of one operand, with its operand's type.
template <typename OpTy> Value unary(OpBuilder &b, Location loc, Value x) {
  return OpTy::create(b, loc, x.getType(), x);
}
/// The square root of a float tensor, correctly rounded for f16, bf16 and
/// f32; see the definition.
Value sqrtFloat(OpBuilder &b, Location loc, Value x);
/// `tosa.slice` of `value` from `starts` with `sizes`; no-op when it takes
/// all.
Value sliceValue(OpBuilder &b, Location loc, Value value,
                 ArrayRef<int64_t> starts, ArrayRef<int64_t> sizes);
/// Sums `value` over `axes`, keeping them as size-1 dims.
Value reduceSum(OpBuilder &b, Location loc, Value value,
                ArrayRef<int64_t> axes);
/// `value` repeated along its size-1 dims up to `shape` (same rank) with
/// `tosa.tile`; no-op when it has that shape.
Value broadcastTo(OpBuilder &b, Location loc, Value value,
                  ArrayRef<int64_t> shape);
/// `tosa.select` with numpy broadcasting of all three operands, which the
/// caller has checked are broadcastable.
Value selectBroadcast(OpBuilder &b, Location loc, Value cond, Value onTrue,
                      Value onFalse);

} // namespace mlir::lora::onnx_to_tosa

#endif // LORA_PASSES_CONVERTONNXTOTOSA_ONNXTOTOSA_H
