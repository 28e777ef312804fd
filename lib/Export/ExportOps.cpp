//===- ExportOps.cpp - TOSA ops to ONNX nodes -----------------------------===//
//
// One table for the ops that are a single ONNX node with the same operands
// and no attributes, and a small function for each of the rest. Every ONNX
// op emitted here is used in the form default-domain opset 18 defines
// (axes of reductions and Unsqueeze are inputs, Pad takes `pads` as an
// input, Clip takes min/max as inputs, Cast has no `saturate`).
//
//===----------------------------------------------------------------------===//

#include "GraphBuilder.h"

#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/TypeSwitch.h"

#include <climits>

using namespace mlir;
using namespace mlir::lora::onnx_export;

namespace {

/// TOSA ops that are one ONNX node with the same operands, in the same
/// order, and the same (broadcasting) semantics.
StringRef lookupOneToOne(Operation *op) {
  static const llvm::DenseMap<TypeID, StringRef> table = {
      {TypeID::get<tosa::AbsOp>(), "Abs"},
      {TypeID::get<tosa::AddOp>(), "Add"},
      {TypeID::get<tosa::BitwiseAndOp>(), "BitwiseAnd"},
      {TypeID::get<tosa::BitwiseNotOp>(), "BitwiseNot"},
      {TypeID::get<tosa::BitwiseOrOp>(), "BitwiseOr"},
      {TypeID::get<tosa::BitwiseXorOp>(), "BitwiseXor"},
      {TypeID::get<tosa::CeilOp>(), "Ceil"},
      {TypeID::get<tosa::CosOp>(), "Cos"},
      {TypeID::get<tosa::EqualOp>(), "Equal"},
      {TypeID::get<tosa::ErfOp>(), "Erf"},
      {TypeID::get<tosa::ExpOp>(), "Exp"},
      {TypeID::get<tosa::FloorOp>(), "Floor"},
      {TypeID::get<tosa::GreaterEqualOp>(), "GreaterOrEqual"},
      {TypeID::get<tosa::GreaterOp>(), "Greater"},
      {TypeID::get<tosa::IdentityOp>(), "Identity"},
      // Both truncate toward zero.
      {TypeID::get<tosa::IntDivOp>(), "Div"},
      {TypeID::get<tosa::LogOp>(), "Log"},
      {TypeID::get<tosa::LogicalAndOp>(), "And"},
      {TypeID::get<tosa::LogicalNotOp>(), "Not"},
      {TypeID::get<tosa::LogicalOrOp>(), "Or"},
      {TypeID::get<tosa::LogicalXorOp>(), "Xor"},
      {TypeID::get<tosa::MaximumOp>(), "Max"},
      {TypeID::get<tosa::MinimumOp>(), "Min"},
      {TypeID::get<tosa::PowOp>(), "Pow"},
      {TypeID::get<tosa::ReciprocalOp>(), "Reciprocal"},
      {TypeID::get<tosa::SelectOp>(), "Where"},
      {TypeID::get<tosa::SigmoidOp>(), "Sigmoid"},
      {TypeID::get<tosa::SinOp>(), "Sin"},
      {TypeID::get<tosa::SubOp>(), "Sub"},
      {TypeID::get<tosa::TanhOp>(), "Tanh"},
  };
  return table.lookup(op->getName().getTypeID());
}

/// The values of a `tosa.const_shape` operand.
FailureOr<SmallVector<int64_t>> getShapeOperand(GraphBuilder &g, Value shape,
                                                StringRef what) {
  SmallVector<int64_t> values;
  if (Operation *def = shape.getDefiningOp();
      def && tosa::getConstShapeValues(def, values))
    return values;
  g.emitError() << "cannot export: its " << what
                << " is not a tosa.const_shape";
  return failure();
}

/// Checks that a zero point is zero: ONNX has no counterpart of them.
LogicalResult checkZero(GraphBuilder &g, FailureOr<int64_t> value,
                        StringRef what) {
  if (succeeded(value) && *value == 0)
    return success();
  return g.emitError() << "cannot export to ONNX: the " << what
                       << " must be a constant zero";
}

std::string castTo(GraphBuilder &g, const std::string &input,
                   Type elementType) {
  ::onnx::NodeProto &node = g.addNode("Cast", {input});
  addAttribute(node, "to", *getOnnxDataType(elementType));
  return node.output(0);
}

LogicalResult exportOneToOne(GraphBuilder &g, Operation *op, StringRef opType) {
  SmallVector<std::string> inputs;
  for (Value operand : op->getOperands())
    inputs.push_back(g.operand(operand));
  g.addNode(opType, inputs, op->getResult(0));
  return success();
}

LogicalResult exportMul(GraphBuilder &g, tosa::MulOp op) {
  // The shift applies to i32 only and is 0 in everything we build.
  if (!matchPattern(op.getShift(), m_Zero()))
    return g.emitError()
           << "cannot export to ONNX: the shift of tosa.mul must be a "
              "constant zero";
  g.addNode("Mul", {g.operand(op.getInput1()), g.operand(op.getInput2())},
            op.getResult());
  return success();
}

LogicalResult exportNegate(GraphBuilder &g, tosa::NegateOp op) {
  if (failed(checkZero(g, op.getInput1ZeroPoint(),
                       "input zero point of tosa.negate")) ||
      failed(checkZero(g, op.getOutputZeroPoint(),
                       "output zero point of tosa.negate")))
    return failure();
  g.addNode("Neg", {g.operand(op.getInput1())}, op.getResult());
  return success();
}

LogicalResult exportRsqrt(GraphBuilder &g, tosa::RsqrtOp op) {
  // ONNX has no Rsqrt; the CPU lowering also computes 1 / sqrt(x)
  // (math-expand-ops{ops=rsqrt}).
  std::string root = g.addNode("Sqrt", {g.operand(op.getInput1())}).output(0);
  g.addNode("Reciprocal", {root}, op.getResult());
  return success();
}

/// tosa.cast from float to int: round half to even, then saturate
/// (tosa-to-linalg: roundeven, clamp to the int range, fptosi; where the
/// int max has no exact float, values at or above 2^(w-1), and NaN, give
/// the int max by a compare and select). ONNX Cast truncates and is
/// undefined out of range, so: Round (half to even too), Clip to the int
/// range rounded toward zero into the float type, Cast, and Where for the
/// values beyond a bound that is not exact.
void exportFloatToIntCast(GraphBuilder &g, tosa::CastOp op, FloatType from,
                          IntegerType to) {
  bool isSigned = !to.isUnsigned();
  unsigned width = to.getWidth();
  APInt intMin =
      isSigned ? APInt::getSignedMinValue(width) : APInt::getMinValue(width);
  APInt intMax =
      isSigned ? APInt::getSignedMaxValue(width) : APInt::getMaxValue(width);
  auto toFloat = [&](const APInt &value, bool &exact) {
    APFloat result(from.getFloatSemantics());
    exact = result.convertFromAPInt(value, isSigned, APFloat::rmTowardZero) ==
            APFloat::opOK;
    return g.addScalar(FloatAttr::get(from, result));
  };
  bool lowExact, highExact;
  std::string low = toFloat(intMin, lowExact);
  std::string high = toFloat(intMax, highExact);

  Value result = op.getResult();
  std::string rounded =
      g.addNode("Round", {g.operand(op.getInput())}).output(0);
  std::string clipped = g.addNode("Clip", {rounded, low, high}).output(0);
  ::onnx::NodeProto &cast =
      g.addNode("Cast", {clipped}, lowExact && highExact ? result : Value());
  addAttribute(cast, "to", *getOnnxDataType(to));
  std::string value = cast.output(0);
  if (!highExact) {
    // Not(r <= high) is also true for NaN, like tosa-to-linalg's `uge`.
    std::string notBelow = g.addNode("LessOrEqual", {rounded, high}).output(0);
    std::string above = g.addNode("Not", {notBelow}).output(0);
    value = g.addNode("Where",
                      {above, g.addScalar(IntegerAttr::get(to, intMax)), value},
                      lowExact ? result : Value())
                .output(0);
  }
  if (!lowExact) {
    // Only float types narrower than the int range (f16 -> i32): -inf.
    std::string below = g.addNode("Less", {rounded, low}).output(0);
    g.addNode("Where",
              {below, g.addScalar(IntegerAttr::get(to, intMin)), value},
              result);
  }
}

LogicalResult exportCast(GraphBuilder &g, tosa::CastOp op) {
  Type from = op.getInput().getType().getElementType();
  Type to = op.getOutput().getType().getElementType();
  if (!getOnnxDataType(to))
    return g.emitError() << "cannot export a cast to " << to << " to ONNX";
  auto floatType = dyn_cast<FloatType>(from);
  auto intType = dyn_cast<IntegerType>(to);
  if (floatType && intType && intType.getWidth() > 1) {
    exportFloatToIntCast(g, op, floatType, intType);
    return success();
  }
  // Other casts agree: float<->float rounds to nearest even, int->int
  // truncates or extends, x->bool tests x != 0, bool->x gives 0 or 1.
  ::onnx::NodeProto &node =
      g.addNode("Cast", {g.operand(op.getInput())}, op.getResult());
  addAttribute(node, "to", *getOnnxDataType(to));
  return success();
}

LogicalResult exportClamp(GraphBuilder &g, tosa::ClampOp op) {
  Type elementType = op.getInput().getType().getElementType();
  auto bound = [&](Attribute attr) -> std::string {
    if (auto f = dyn_cast<FloatAttr>(attr))
      return g.addScalar(FloatAttr::get(elementType, f.getValue()));
    auto i = cast<IntegerAttr>(attr);
    return g.addScalar(IntegerAttr::get(
        elementType,
        i.getValue().sextOrTrunc(elementType.getIntOrFloatBitWidth())));
  };
  std::string low = bound(op.getMinVal()), high = bound(op.getMaxVal());
  g.addNode("Clip", {g.operand(op.getInput()), low, high}, op.getResult());
  return success();
}

LogicalResult exportMatMul(GraphBuilder &g, tosa::MatMulOp op) {
  if (failed(checkZero(g, op.getAZeroPoint(), "A zero point of tosa.matmul")) ||
      failed(checkZero(g, op.getBZeroPoint(), "B zero point of tosa.matmul")))
    return failure();
  // tosa.matmul may accumulate in a wider type (f16 x f16 -> f32); ONNX
  // MatMul computes in its operands' type, so widen them first. Products
  // of the narrow type are exact in the wide one.
  Type resultType = op.getOutput().getType().getElementType();
  auto operand = [&](Value value) {
    std::string name = g.operand(value);
    if (cast<ShapedType>(value.getType()).getElementType() != resultType)
      name = castTo(g, name, resultType);
    return name;
  };
  std::string a = operand(op.getA()), b = operand(op.getB());
  g.addNode("MatMul", {a, b}, op.getResult());
  return success();
}

template <typename OpTy>
LogicalResult exportReduce(GraphBuilder &g, OpTy op, StringRef opType) {
  std::string axes = g.addInt64s({static_cast<int64_t>(op.getAxis())});
  ::onnx::NodeProto &node =
      g.addNode(opType, {g.operand(op.getInput()), axes}, op.getResult());
  addAttribute(node, "keepdims", 1);
  return success();
}

LogicalResult exportArgMax(GraphBuilder &g, tosa::ArgMaxOp op) {
  Type resultType = op.getOutput().getType().getElementType();
  bool isI64 = resultType.isInteger(64);
  // ArgMax gives int64 and, like TOSA, the first index of the maximum.
  ::onnx::NodeProto &node = g.addNode("ArgMax", {g.operand(op.getInput())},
                                      isI64 ? op.getResult() : Value());
  addAttribute(node, "axis", static_cast<int64_t>(op.getAxis()));
  addAttribute(node, "keepdims", 0);
  if (!isI64) {
    ::onnx::NodeProto &cast =
        g.addNode("Cast", {node.output(0)}, op.getResult());
    addAttribute(cast, "to", *getOnnxDataType(resultType));
  }
  return success();
}

LogicalResult exportTranspose(GraphBuilder &g, tosa::TransposeOp op) {
  ::onnx::NodeProto &node =
      g.addNode("Transpose", {g.operand(op.getInput1())}, op.getResult());
  addAttribute(node, "perm", llvm::to_vector_of<int64_t>(op.getPerms()));
  return success();
}

LogicalResult exportReshape(GraphBuilder &g, tosa::ReshapeOp op) {
  auto resultType = op.getOutput().getType();
  SmallVector<int64_t> shape;
  if (resultType.hasStaticShape()) {
    shape = llvm::to_vector(resultType.getShape());
  } else {
    auto values = getShapeOperand(g, op.getShape(), "shape");
    if (failed(values))
      return failure();
    shape = *values;
  }
  ::onnx::NodeProto &node =
      g.addNode("Reshape", {g.operand(op.getInput1()), g.addInt64s(shape)},
                op.getResult());
  // With allowzero=0, a 0 would copy the input's dim instead of meaning 0.
  if (llvm::is_contained(shape, 0))
    addAttribute(node, "allowzero", 1);
  return success();
}

LogicalResult exportSlice(GraphBuilder &g, tosa::SliceOp op) {
  auto starts = getShapeOperand(g, op.getStart(), "start");
  auto sizes = getShapeOperand(g, op.getSize(), "size");
  if (failed(starts) || failed(sizes))
    return failure();
  SmallVector<int64_t> ends;
  for (auto [start, size] : llvm::zip_equal(*starts, *sizes))
    ends.push_back(size < 0 ? INT64_MAX : start + size);
  g.addNode(
      "Slice",
      {g.operand(op.getInput1()), g.addInt64s(*starts), g.addInt64s(ends)},
      op.getResult());
  return success();
}

LogicalResult exportReverse(GraphBuilder &g, tosa::ReverseOp op) {
  // A slice with step -1 from the last element past the first.
  int64_t axis = op.getAxis();
  g.addNode("Slice",
            {g.operand(op.getInput1()), g.addInt64s({-1}),
             g.addInt64s({INT64_MIN}), g.addInt64s({axis}), g.addInt64s({-1})},
            op.getResult());
  return success();
}

LogicalResult exportTile(GraphBuilder &g, tosa::TileOp op) {
  auto multiples = getShapeOperand(g, op.getMultiples(), "multiples");
  if (failed(multiples))
    return failure();
  g.addNode("Tile", {g.operand(op.getInput1()), g.addInt64s(*multiples)},
            op.getResult());
  return success();
}

LogicalResult exportConcat(GraphBuilder &g, tosa::ConcatOp op) {
  SmallVector<std::string> inputs;
  for (Value input : op.getInput1())
    inputs.push_back(g.operand(input));
  ::onnx::NodeProto &node = g.addNode("Concat", inputs, op.getResult());
  addAttribute(node, "axis", static_cast<int64_t>(op.getAxis()));
  return success();
}

LogicalResult exportPad(GraphBuilder &g, tosa::PadOp op) {
  auto padding = getShapeOperand(g, op.getPadding(), "padding");
  if (failed(padding))
    return failure();
  // TOSA: [before0, after0, before1, ...]; ONNX: [before..., after...].
  int64_t rank = padding->size() / 2;
  SmallVector<int64_t> pads(2 * rank);
  for (int64_t i = 0; i < rank; ++i) {
    pads[i] = (*padding)[2 * i];
    pads[rank + i] = (*padding)[2 * i + 1];
  }
  // pad_const is a one-element tensor; ONNX wants a scalar.
  std::string value;
  DenseElementsAttr padConst;
  if (matchPattern(op.getPadConst(), m_Constant(&padConst)))
    value = g.addScalar(cast<TypedAttr>(*padConst.value_begin<Attribute>()));
  else
    value = g.addNode("Reshape", {g.operand(op.getPadConst()), g.addInt64s({})})
                .output(0);
  g.addNode("Pad", {g.operand(op.getInput1()), g.addInt64s(pads), value},
            op.getResult());
  return success();
}

LogicalResult exportGather(GraphBuilder &g, tosa::GatherOp op) {
  // values [N, K, C], indices [N, W] -> [N, W, C]: GatherND with one batch
  // dim over indices [N, W, 1] (int64, as GatherND requires).
  std::string indices = g.operand(op.getIndices());
  if (!cast<ShapedType>(op.getIndices().getType())
           .getElementType()
           .isInteger(64))
    indices = castTo(g, indices, IntegerType::get(op.getContext(), 64));
  indices = g.addNode("Unsqueeze", {indices, g.addInt64s({2})}).output(0);
  ::onnx::NodeProto &node = g.addNode(
      "GatherND", {g.operand(op.getValues()), indices}, op.getResult());
  addAttribute(node, "batch_dims", 1);
  return success();
}

} // namespace

LogicalResult mlir::lora::onnx_export::exportOperation(GraphBuilder &g,
                                                       Operation *op) {
  g.setOp(op);
  // ONNX Max, Min, Clip and ReduceMax/Min propagate NaN, as TOSA does by
  // default.
  if (auto mode = op->getAttrOfType<tosa::NanPropagationModeAttr>("nan_mode");
      mode && mode.getValue() == tosa::NanPropagationMode::IGNORE)
    return g.emitError() << "cannot export '" << op->getName()
                         << "' with nan_mode IGNORE to ONNX, whose ops "
                            "propagate NaN";
  if (StringRef opType = lookupOneToOne(op); !opType.empty())
    return exportOneToOne(g, op, opType);
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](tosa::ArgMaxOp op) { return exportArgMax(g, op); })
      .Case([&](tosa::CastOp op) { return exportCast(g, op); })
      .Case([&](tosa::ClampOp op) { return exportClamp(g, op); })
      .Case([&](tosa::ConcatOp op) { return exportConcat(g, op); })
      .Case([&](tosa::GatherOp op) { return exportGather(g, op); })
      .Case([&](tosa::MatMulOp op) { return exportMatMul(g, op); })
      .Case([&](tosa::MulOp op) { return exportMul(g, op); })
      .Case([&](tosa::NegateOp op) { return exportNegate(g, op); })
      .Case([&](tosa::PadOp op) { return exportPad(g, op); })
      .Case([&](tosa::ReduceMaxOp op) {
        return exportReduce(g, op, "ReduceMax");
      })
      .Case([&](tosa::ReduceMinOp op) {
        return exportReduce(g, op, "ReduceMin");
      })
      .Case([&](tosa::ReduceProductOp op) {
        return exportReduce(g, op, "ReduceProd");
      })
      .Case([&](tosa::ReduceSumOp op) {
        return exportReduce(g, op, "ReduceSum");
      })
      .Case([&](tosa::ReshapeOp op) { return exportReshape(g, op); })
      .Case([&](tosa::ReverseOp op) { return exportReverse(g, op); })
      .Case([&](tosa::RsqrtOp op) { return exportRsqrt(g, op); })
      .Case([&](tosa::SliceOp op) { return exportSlice(g, op); })
      .Case([&](tosa::TileOp op) { return exportTile(g, op); })
      .Case([&](tosa::TransposeOp op) { return exportTranspose(g, op); })
      .Default([&](Operation *op) {
        return g.emitError()
               << "cannot export '" << op->getName() << "' to ONNX";
      });
}
