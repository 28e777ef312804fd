//===- Reduction.cpp - reductions and normalizations to TOSA --------------===//
//
// The Reduce* family, ArgMax/ArgMin, Softmax/LogSoftmax, LayerNormalization,
// RMSNormalization and CumSum.
//
// TOSA reduces one axis at a time and keeps it as a size-1 dim. Adjacent
// reduced axes are first collapsed into one dim by a reshape (free after
// lowering), so that e.g. a LayerNorm over the last two dims of [2, 16, 64]
// is one reduction of 1024 elements rather than two chained ones. f16/bf16
// data is computed in f32 and rounded once at the end, which is also what
// ONNX Runtime does for nodes it has no f16 kernel for.
//
//===----------------------------------------------------------------------===//

#include "OnnxToTosa.h"

#include <limits>

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::onnx_to_tosa;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// Checks that inputs [0, numRequired) are present and that the node has at
/// most `maxOutputs` results.
static LogicalResult checkArity(Node &node, unsigned numRequired,
                                unsigned maxOutputs = 1) {
  if (failed(checkRequiredInputs(node, numRequired)))
    return failure();
  if (node.numOutputs() > maxOutputs) {
    node.emitError() << "expects at most " << maxOutputs << " output(s), got "
                     << node.numOutputs();
    return failure();
  }
  return success();
}

/// Whether `type` is a float or a signless integer other than i1, the types
/// TOSA's reductions and argmax accept.
static bool isFloatOrSignlessInt(Type type) {
  auto intType = dyn_cast<IntegerType>(type);
  return isa<FloatType>(type) ||
         (intType && intType.isSignless() && intType.getWidth() > 1);
}

/// Checks that input 0 is a floating-point or signless integer tensor.
static LogicalResult checkFloatOrIntInput(Node &node) {
  if (isFloatOrSignlessInt(node.elementType(0)))
    return success();
  node.emitError() << "input of type " << node.type(0)
                   << " is not supported; expected a floating-point or "
                      "signless integer tensor";
  return failure();
}

/// Checks that input 0 is a floating-point tensor.
static LogicalResult checkFloatInput(Node &node) {
  if (isa<FloatType>(node.elementType(0)))
    return success();
  node.emitError() << "input of type " << node.type(0)
                   << " is not supported; expected a floating-point tensor";
  return failure();
}

/// Checks that input 0 has rank >= 1.
static LogicalResult checkNotScalar(Node &node) {
  if (node.rank(0) >= 1)
    return success();
  node.emitError() << "input of type " << node.type(0)
                   << " must have rank >= 1";
  return failure();
}

/// `shape` with every dim in `axes` set to 1 (keepdims) or removed.
static SmallVector<int64_t>
reducedShape(ArrayRef<int64_t> shape, ArrayRef<int64_t> axes, bool keepDims) {
  SmallVector<int64_t> result;
  for (auto [i, dim] : llvm::enumerate(shape)) {
    if (!llvm::is_contained(axes, static_cast<int64_t>(i)))
      result.push_back(dim);
    else if (keepDims)
      result.push_back(1);
  }
  return result;
}

/// The number of elements each output of a reduction over `axes` combines.
static int64_t reducedCount(ArrayRef<int64_t> shape, ArrayRef<int64_t> axes) {
  int64_t count = 1;
  for (int64_t axis : axes)
    count *= shape[axis];
  return count;
}

/// Reduces `value` with the TOSA reduction `OpTy` over `axes` (sorted,
/// unique), keeping them as size-1 dims. Each run of adjacent axes is
/// collapsed into one dim so that it takes a single TOSA reduction.
template <typename OpTy>
static Value reduce(OpBuilder &b, Location loc, Value value,
                    ArrayRef<int64_t> axes) {
  ArrayRef<int64_t> shape = tensorType(value).getShape();
  SmallVector<int64_t> collapsed, collapsedAxes;
  for (int64_t i = 0, e = shape.size(); i < e; ++i) {
    bool reduced = llvm::is_contained(axes, i);
    if (reduced && i > 0 && llvm::is_contained(axes, i - 1)) {
      collapsed.back() *= shape[i];
      continue;
    }
    if (reduced)
      collapsedAxes.push_back(collapsed.size());
    collapsed.push_back(shape[i]);
  }
  value = reshape(b, loc, value, collapsed);
  for (int64_t axis : collapsedAxes) {
    RankedTensorType type = tensorType(value);
    SmallVector<int64_t> resultShape(type.getShape());
    resultShape[axis] = 1;
    value = OpTy::create(b, loc, type.clone(resultShape), value,
                         b.getI32IntegerAttr(axis));
  }
  return reshape(b, loc, value, reducedShape(shape, axes, /*keepDims=*/true));
}

/// Multiplies `value` by the constant `factor`.
static Value scale(OpBuilder &b, Location loc, Value value, double factor) {
  return mul(b, loc, value, scalarLike(b, loc, value, factor));
}

/// The mean of `value` over `axes`, kept as size-1 dims: the sum times
/// 1/count, as ONNX Runtime computes it.
static Value mean(OpBuilder &b, Location loc, Value value,
                  ArrayRef<int64_t> axes) {
  int64_t count = reducedCount(tensorType(value).getShape(), axes);
  return scale(b, loc, reduce<tosa::ReduceSumOp>(b, loc, value, axes),
               1.0 / static_cast<double>(count));
}

/// 1 / sqrt(value + epsilon), the inverse standard deviation of the
/// normalizations, rounded like ONNX Runtime's 1 / sqrt.
static Value inverseSqrt(OpBuilder &b, Location loc, Value value,
                         float epsilon) {
  Value sum =
      binary<tosa::AddOp>(b, loc, value, scalarLike(b, loc, value, epsilon));
  return unary<tosa::ReciprocalOp>(b, loc, sqrtFloat(b, loc, sum));
}

namespace {
/// A normalization of input 0: over `axes`, computed in `compute`, with
/// Mean/InvStdDev outputs of type `stash` (stash_type).
struct Normalization {
  SmallVector<int64_t> axes;
  Type compute, stash;
};
} // namespace

/// The normalization of input 0 over dims [axis, rank). ONNX allows a float
/// or bfloat16 stash type. The computation runs in f32, or in f64 for f64
/// inputs as ONNX Runtime's double kernel does; a bfloat16 stash would lose
/// too much.
static FailureOr<Normalization> getNormalization(Node &node) {
  auto axis = node.normalizeAxis(node.intAttr("axis", -1), node.rank(0));
  if (failed(axis))
    return failure();
  MLIRContext *context = node.op.getContext();
  int64_t stashType = node.intAttr("stash_type", 1);
  Type stash;
  if (stashType == 1)
    stash = Float32Type::get(context);
  else if (stashType == 16)
    stash = BFloat16Type::get(context);
  if (!stash) {
    node.emitError() << "stash_type " << stashType
                     << " is not supported; expected 1 (float) or 16 "
                        "(bfloat16)";
    return failure();
  }
  Type compute = node.elementType(0).isF64() ? node.elementType(0)
                                             : Float32Type::get(context);
  return Normalization{llvm::to_vector(llvm::seq<int64_t>(*axis, node.rank(0))),
                       compute, stash};
}

/// Checks that input `i` (a normalization's scale or bias) broadcasts to the
/// shape of input 0 without changing it.
static LogicalResult checkBroadcastsToInput(Node &node, unsigned i,
                                            StringRef what) {
  auto shape = broadcastShape(node.shape(0), node.shape(i));
  if (succeeded(shape) && ArrayRef<int64_t>(*shape) == node.shape(0))
    return success();
  node.emitError() << what << " of type " << node.type(i)
                   << " does not broadcast to the input type " << node.type(0);
  return failure();
}

//===----------------------------------------------------------------------===//
// Reduce*
//===----------------------------------------------------------------------===//

namespace {
enum class ReduceKind {
  Sum,
  Mean,
  Max,
  Min,
  Prod,
  L1,
  L2,
  SumSquare,
  LogSum,
  LogSumExp
};
} // namespace

/// Whether reduction `kind` is defined on element type `type` here: the
/// float-valued ones (mean, norms, logs) on floats only; the others also on
/// signless integers, which TOSA's reductions accept.
static bool supportsElementType(ReduceKind kind, Type type) {
  if (!isFloatOrSignlessInt(type))
    return false;
  if (isa<FloatType>(type))
    return true;
  switch (kind) {
  case ReduceKind::Sum:
  case ReduceKind::Max:
  case ReduceKind::Min:
  case ReduceKind::Prod:
  case ReduceKind::L1:
  case ReduceKind::SumSquare:
    return true;
  default:
    return false;
  }
}

/// The reduction `kind` of `x` over the non-empty `axes`, kept as size-1
/// dims, in x's element type.
static Value buildReduction(OpBuilder &b, Location loc, ReduceKind kind,
                            Value x, ArrayRef<int64_t> axes) {
  Type elementType = tensorType(x).getElementType();
  if (kind == ReduceKind::Max)
    return reduce<tosa::ReduceMaxOp>(b, loc, x, axes);
  if (kind == ReduceKind::Min)
    return reduce<tosa::ReduceMinOp>(b, loc, x, axes);

  Value acc = castTo(b, loc, x, accumulatorType(elementType));
  Value result;
  switch (kind) {
  case ReduceKind::Sum:
    result = reduce<tosa::ReduceSumOp>(b, loc, acc, axes);
    break;
  case ReduceKind::Mean:
    result = mean(b, loc, acc, axes);
    break;
  case ReduceKind::Prod:
    result = reduce<tosa::ReduceProductOp>(b, loc, acc, axes);
    break;
  case ReduceKind::L1:
    result = reduce<tosa::ReduceSumOp>(b, loc, unary<tosa::AbsOp>(b, loc, acc),
                                       axes);
    break;
  case ReduceKind::L2:
  case ReduceKind::SumSquare:
    result = reduce<tosa::ReduceSumOp>(b, loc, mul(b, loc, acc, acc), axes);
    if (kind == ReduceKind::L2)
      result = sqrtFloat(b, loc, result);
    break;
  case ReduceKind::LogSum:
    result = unary<tosa::LogOp>(b, loc,
                                reduce<tosa::ReduceSumOp>(b, loc, acc, axes));
    break;
  case ReduceKind::LogSumExp: {
    // log(sum(exp(x - m))) + m with m the maximum, so exp cannot overflow.
    // An infinite m would turn x - m into NaN; it is replaced by 0, which
    // still gives -inf for an all -inf slice and +inf when one is +inf.
    Value m = reduce<tosa::ReduceMaxOp>(b, loc, acc, axes);
    RankedTensorType mType = tensorType(m);
    Value inf = scalarLike(b, loc, m, std::numeric_limits<double>::infinity());
    Value isInf = binary<tosa::EqualOp>(b, loc, unary<tosa::AbsOp>(b, loc, m),
                                        inf, b.getI1Type());
    Value zero = splat(b, loc, mType, 0.0);
    m = tosa::SelectOp::create(b, loc, mType, isInf, zero, m);
    Value e = unary<tosa::ExpOp>(b, loc, binary<tosa::SubOp>(b, loc, acc, m));
    Value s = reduce<tosa::ReduceSumOp>(b, loc, e, axes);
    result = binary<tosa::AddOp>(b, loc, unary<tosa::LogOp>(b, loc, s), m);
    break;
  }
  case ReduceKind::Max:
  case ReduceKind::Min:
    llvm_unreachable("handled above");
  }
  return castTo(b, loc, result, elementType);
}

/// The axes a Reduce* node reduces over, normalised; empty means the node is
/// the identity (noop_with_empty_axes). `axesInput` selects the opset 13/18
/// form where axes is an optional constant input rather than an attribute.
static FailureOr<SmallVector<int64_t>> reductionAxes(Node &node,
                                                     bool axesInput) {
  int64_t rank = node.rank(0);
  std::optional<SmallVector<int64_t>> axes;
  if (axesInput) {
    if (node.hasAttr("axes")) {
      node.emitError() << "axes must be an input from this opset on, not an "
                          "attribute";
      return failure();
    }
    if (node.input(1)) {
      axes = node.constantInts(1);
      if (!axes) {
        node.emitError() << "axes input must be a constant";
        return failure();
      }
    }
    if ((!axes || axes->empty()) && node.intAttr("noop_with_empty_axes", 0))
      return SmallVector<int64_t>();
  } else {
    axes = node.intsAttr("axes");
  }
  if (!axes || axes->empty())
    return llvm::to_vector(llvm::seq<int64_t>(0, std::max<int64_t>(rank, 1)));
  if (rank == 0) {
    // A scalar has no axes to name, but [0] and [-1] mean the element itself.
    if (llvm::all_of(*axes, [](int64_t a) { return a == 0 || a == -1; }))
      return SmallVector<int64_t>{0};
    node.emitError() << "axes are out of range for a scalar input";
    return failure();
  }
  return node.normalizeAxes(*axes, rank);
}

template <ReduceKind kind, bool axesInput>
static LogicalResult convertReduce(Node &node) {
  if (failed(checkArity(node, 1)))
    return failure();
  if (!supportsElementType(kind, node.elementType(0))) {
    node.emitError() << "input of type " << node.type(0)
                     << " is not supported; expected a floating-point"
                     << (supportsElementType(
                             kind, IntegerType::get(node.op.getContext(), 32))
                             ? " or signless integer"
                             : "")
                     << " tensor";
    return failure();
  }
  auto axes = reductionAxes(node, axesInput);
  if (failed(axes))
    return failure();
  OpBuilder &b = node.rewriter;
  Value x = node.input(0);
  if (axes->empty())
    return node.replace(x);

  // TOSA reductions need rank >= 1: a scalar is reduced as a 1-element vector.
  ArrayRef<int64_t> shape = node.shape(0);
  bool isScalar = shape.empty();
  if (isScalar)
    x = reshape(b, node.loc, x, {1});
  Value result = buildReduction(b, node.loc, kind, x, *axes);
  if (isScalar)
    return node.replace(reshape(b, node.loc, result, {}));
  bool keepDims = node.intAttr("keepdims", 1) != 0;
  return node.replace(
      reshape(b, node.loc, result, reducedShape(shape, *axes, keepDims)));
}

//===----------------------------------------------------------------------===//
// ArgMax, ArgMin
//===----------------------------------------------------------------------===//

/// The i32 index of the first or last extremum of `x` along `axis`, which
/// is dropped. The minimum is the maximum of an order-reversing map: -x for
/// floats, ~x = -x - 1 for integers (which cannot overflow). tosa.argmax
/// picks the first of equal values, so the last one is the first along the
/// reversed axis, at index n - 1 - i.
template <bool isMin>
static Value argExtremum(OpBuilder &b, Location loc, Value x, int64_t axis,
                         bool last) {
  RankedTensorType type = tensorType(x);
  if (isMin)
    x = isa<FloatType>(type.getElementType())
            ? tosa::NegateOp::create(b, loc, type, x).getResult()
            : unary<tosa::BitwiseNotOp>(b, loc, x);
  if (last)
    x = tosa::ReverseOp::create(b, loc, type, x, b.getI32IntegerAttr(axis));
  SmallVector<int64_t> shape =
      reducedShape(type.getShape(), axis, /*keepDims=*/false);
  Value index = tosa::ArgMaxOp::create(
      b, loc, RankedTensorType::get(shape, b.getI32Type()), x,
      b.getI32IntegerAttr(axis));
  if (!last)
    return index;
  return binary<tosa::SubOp>(
      b, loc, scalarLike(b, loc, index, type.getDimSize(axis) - 1), index);
}

/// ArgMax/ArgMin: the int64 index of the first (or, with select_last_index,
/// last) extremum along `axis`.
template <bool isMin> static LogicalResult convertArg(Node &node) {
  if (failed(checkArity(node, 1)) || failed(checkNotScalar(node)) ||
      failed(checkFloatOrIntInput(node)))
    return failure();
  auto axis = node.normalizeAxis(node.intAttr("axis", 0), node.rank(0));
  if (failed(axis))
    return failure();
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  bool last = node.intAttr("select_last_index", 0) != 0;
  Value index = argExtremum<isMin>(b, loc, node.input(0), *axis, last);
  bool keepDims = node.intAttr("keepdims", 1) != 0;
  return node.replace(reshape(b, loc, castTo(b, loc, index, b.getI64Type()),
                              reducedShape(node.shape(0), *axis, keepDims)));
}

//===----------------------------------------------------------------------===//
// Softmax, LogSoftmax
//===----------------------------------------------------------------------===//

/// Softmax or LogSoftmax over `axes` of `x`, numerically stable: with
/// d = x - max(x), softmax = exp(d) * (1 / sum(exp(d))) and logsoftmax =
/// d - log(sum(exp(d))), as ONNX Runtime computes them. An all -inf slice
/// gives NaN (from -inf - -inf) like ONNX Runtime, and -inf entries of any
/// other slice give exact zeros.
template <bool isLog>
static Value buildSoftmax(OpBuilder &b, Location loc, Value x,
                          ArrayRef<int64_t> axes) {
  Type elementType = tensorType(x).getElementType();
  x = castTo(b, loc, x, accumulatorType(elementType));
  Value d = binary<tosa::SubOp>(b, loc, x,
                                reduce<tosa::ReduceMaxOp>(b, loc, x, axes));
  Value e = unary<tosa::ExpOp>(b, loc, d);
  Value sum = reduce<tosa::ReduceSumOp>(b, loc, e, axes);
  Value y =
      isLog ? binary<tosa::SubOp>(b, loc, d, unary<tosa::LogOp>(b, loc, sum))
            : mul(b, loc, e, unary<tosa::ReciprocalOp>(b, loc, sum));
  return castTo(b, loc, y, elementType);
}

/// Opset 13 on: softmax along the single `axis`, default -1. Before: the
/// input is seen as 2-D [prod(dims < axis), prod(dims >= axis)], axis default
/// 1, and softmax runs over the second dim, i.e. over every dim >= axis.
template <bool isLog, bool coerce2D>
static LogicalResult convertSoftmax(Node &node) {
  if (failed(checkArity(node, 1)) || failed(checkNotScalar(node)) ||
      failed(checkFloatInput(node)))
    return failure();
  int64_t rank = node.rank(0);
  auto axis = node.normalizeAxis(node.intAttr("axis", coerce2D ? 1 : -1), rank);
  if (failed(axis))
    return failure();
  SmallVector<int64_t> axes{*axis};
  if (coerce2D)
    axes = llvm::to_vector(llvm::seq<int64_t>(*axis, rank));
  return node.replace(
      buildSoftmax<isLog>(node.rewriter, node.loc, node.input(0), axes));
}

//===----------------------------------------------------------------------===//
// LayerNormalization, RMSNormalization
//===----------------------------------------------------------------------===//

/// Y = (X - mean) / sqrt(var + epsilon) * Scale + B over dims [axis, rank),
/// with the two-pass variance mean((X - mean)^2), in `getNormalization`.
/// The optional outputs Mean and InvStdDev have X's shape with those dims set
/// to 1, in the stash type.
static LogicalResult convertLayerNorm(Node &node) {
  if (failed(checkArity(node, 2, /*maxOutputs=*/3)) ||
      failed(checkNotScalar(node)) || failed(checkFloatInput(node)) ||
      failed(checkBroadcastsToInput(node, 1, "Scale")) ||
      (node.input(2) && failed(checkBroadcastsToInput(node, 2, "B"))))
    return failure();
  auto norm = getNormalization(node);
  if (failed(norm))
    return failure();
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;

  Value x = castTo(b, loc, node.input(0), norm->compute);
  Value mu = mean(b, loc, x, norm->axes);
  Value d = binary<tosa::SubOp>(b, loc, x, mu);
  Value var = mean(b, loc, mul(b, loc, d, d), norm->axes);
  Value invStdDev = inverseSqrt(b, loc, var, node.floatAttr("epsilon", 1e-5f));
  Value y = mul(b, loc, d, invStdDev);
  y = mul(b, loc, y, castTo(b, loc, node.input(1), norm->compute));
  if (Value bias = node.input(2))
    y = binary<tosa::AddOp>(b, loc, y, castTo(b, loc, bias, norm->compute));
  SmallVector<Value> results{castTo(b, loc, y, node.elementType(0))};
  if (node.numOutputs() > 1)
    results.push_back(castTo(b, loc, mu, norm->stash));
  if (node.numOutputs() > 2)
    results.push_back(castTo(b, loc, invStdDev, norm->stash));
  return node.replace(results);
}

/// Y = X / sqrt(mean(X^2) + epsilon) * scale over dims [axis, rank), in
/// `getNormalization`.
static LogicalResult convertRMSNorm(Node &node) {
  if (failed(checkArity(node, 2)) || failed(checkNotScalar(node)) ||
      failed(checkFloatInput(node)) ||
      failed(checkBroadcastsToInput(node, 1, "scale")))
    return failure();
  auto norm = getNormalization(node);
  if (failed(norm))
    return failure();
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;

  Value x = castTo(b, loc, node.input(0), norm->compute);
  Value meanSquare = mean(b, loc, mul(b, loc, x, x), norm->axes);
  Value invRms =
      inverseSqrt(b, loc, meanSquare, node.floatAttr("epsilon", 1e-5f));
  Value y = mul(b, loc, mul(b, loc, x, invRms),
                castTo(b, loc, node.input(1), norm->compute));
  return node.replace(castTo(b, loc, y, node.elementType(0)));
}

//===----------------------------------------------------------------------===//
// CumSum
//===----------------------------------------------------------------------===//

/// `value` shifted by `offset` positions along `axis` towards higher
/// indices, with zeros shifted in: pad the front, then keep the first n.
static Value shiftAlong(OpBuilder &b, Location loc, Value value, int64_t axis,
                        int64_t offset) {
  RankedTensorType type = tensorType(value);
  int64_t rank = type.getRank();
  SmallVector<int64_t> padding(2 * rank, 0);
  padding[2 * axis] = offset;
  SmallVector<int64_t> paddedShape(type.getShape());
  paddedShape[axis] += offset;
  Value padded = tosa::PadOp::create(b, loc, type.clone(paddedShape), value,
                                     shapeValue(b, loc, padding));
  return sliceValue(b, loc, padded, SmallVector<int64_t>(rank),
                    type.getShape());
}

/// CumSum(x, axis) with the `exclusive` and `reverse` attributes, as a
/// Hillis-Steele scan: after adding x shifted by 1, 2, 4, ... along the
/// axis, element i holds the sum of the 2^s elements ending at i. That is
/// ceil(log2(n)) shift-and-add steps instead of a loop over the axis; the
/// sums are grouped pairwise rather than left to right, which rounds no
/// worse than ONNX Runtime's running sum.
static LogicalResult convertCumSum(Node &node) {
  if (failed(checkArity(node, 2)) || failed(checkNotScalar(node)) ||
      failed(checkFloatOrIntInput(node)))
    return failure();
  auto axisValues = node.constantInts(1);
  if (!axisValues || axisValues->size() != 1) {
    node.emitError() << "axis input must be a constant with one element";
    return failure();
  }
  auto axis = node.normalizeAxis(axisValues->front(), node.rank(0));
  if (failed(axis))
    return failure();
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  Type elementType = node.elementType(0);
  int64_t n = node.shape(0)[*axis];
  bool reverse = node.intAttr("reverse", 0) != 0;
  auto reverseIfNeeded = [&](Value v) -> Value {
    if (!reverse || n <= 1)
      return v;
    return tosa::ReverseOp::create(b, loc, v.getType(), v,
                                   b.getI32IntegerAttr(*axis));
  };

  Value x = castTo(b, loc, reverseIfNeeded(node.input(0)),
                   accumulatorType(elementType));
  // The exclusive sum at i is the inclusive sum at i - 1.
  if (node.intAttr("exclusive", 0) && n > 0)
    x = shiftAlong(b, loc, x, *axis, 1);
  for (int64_t offset = 1; offset < n; offset *= 2)
    x = binary<tosa::AddOp>(b, loc, x, shiftAlong(b, loc, x, *axis, offset));
  return node.replace(reverseIfNeeded(castTo(b, loc, x, elementType)));
}

//===----------------------------------------------------------------------===//
// Registration
//===----------------------------------------------------------------------===//

void onnx_to_tosa::addReductionConverters(
    SmallVectorImpl<Converter> &converters) {
  // ReduceSum takes axes as an input from opset 13, the others from 18.
  converters.push_back({"ReduceSum", 1, convertReduce<ReduceKind::Sum, false>});
  converters.push_back({"ReduceSum", 13, convertReduce<ReduceKind::Sum, true>});
#define LORA_REDUCE(NAME, KIND)                                                \
  converters.push_back({NAME, 1, convertReduce<ReduceKind::KIND, false>});     \
  converters.push_back({NAME, 18, convertReduce<ReduceKind::KIND, true>});
  LORA_REDUCE("ReduceMean", Mean)
  LORA_REDUCE("ReduceMax", Max)
  LORA_REDUCE("ReduceMin", Min)
  LORA_REDUCE("ReduceProd", Prod)
  LORA_REDUCE("ReduceL1", L1)
  LORA_REDUCE("ReduceL2", L2)
  LORA_REDUCE("ReduceSumSquare", SumSquare)
  LORA_REDUCE("ReduceLogSum", LogSum)
  LORA_REDUCE("ReduceLogSumExp", LogSumExp)
#undef LORA_REDUCE

  converters.push_back({"ArgMax", 1, convertArg</*isMin=*/false>});
  converters.push_back({"ArgMin", 1, convertArg</*isMin=*/true>});
  converters.push_back({"Softmax", 1, convertSoftmax<false, true>});
  converters.push_back({"Softmax", 13, convertSoftmax<false, false>});
  converters.push_back({"LogSoftmax", 1, convertSoftmax<true, true>});
  converters.push_back({"LogSoftmax", 13, convertSoftmax<true, false>});
  converters.push_back({"LayerNormalization", 17, convertLayerNorm});
  converters.push_back({"RMSNormalization", 23, convertRMSNorm});
  converters.push_back({"CumSum", 11, convertCumSum});
}
