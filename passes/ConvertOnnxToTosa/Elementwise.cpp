//===- Elementwise.cpp - elementwise ONNX ops to TOSA ---------------------===//
//
// Arithmetic, activations, comparisons, logic and casts. Binary and variadic
// ops follow numpy broadcasting; TOSA needs equal ranks, so lower-rank
// operands are reshaped. Before opset 7 the arithmetic, logic and comparison
// ops instead had a `broadcast`/`axis` pair that aligns the second operand
// with a run of the first one's dims.
//
// Where ONNX leaves numerics open, the conversion follows ONNX Runtime's CPU
// kernels, which are the reference users compare against:
//  - float Div and Sqrt are correctly rounded (TOSA has neither; see
//    divideFloat and sqrtFloat);
//  - Pow with an exponent of 2 or 3 multiplies, as ORT does;
//  - float-to-integer Cast truncates toward zero, and narrow integers wrap
//    through i32, which is what static_cast does on x86.
//
//===----------------------------------------------------------------------===//

#include "OnnxToTosa.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::onnx_to_tosa;

//===----------------------------------------------------------------------===//
// Validation
//===----------------------------------------------------------------------===//

namespace {
/// Classes of element types an input may be restricted to. Integers are the
/// signless ones from i8 to i64; unsigned integers are not supported.
enum TypeClass : unsigned {
  kFloat = 1,
  kInt = 2,
  kBool = 4,
  kNumber = kFloat | kInt,
  kAny = kFloat | kInt | kBool,
};
} // namespace

static bool isFloat(Type type) { return isa<FloatType>(type); }

static bool isInt(Type type) {
  auto intType = dyn_cast<IntegerType>(type);
  return intType && intType.isSignless() && intType.getWidth() >= 8 &&
         intType.getWidth() <= 64;
}

static bool isBool(Type type) { return type.isInteger(1); }

static bool inClass(Type type, unsigned classes) {
  return ((classes & kFloat) && isFloat(type)) ||
         ((classes & kInt) && isInt(type)) ||
         ((classes & kBool) && isBool(type));
}

static StringRef describeClass(unsigned classes) {
  switch (classes) {
  case kFloat:
    return "a floating-point";
  case kInt:
    return "a signed integer";
  case kBool:
    return "a bool";
  case kNumber:
    return "a floating-point or signed integer";
  default:
    return "a floating-point, signed integer or bool";
  }
}

/// Checks that input `i` is present and its element type is in `classes`.
static LogicalResult checkInput(Node &node, unsigned i, unsigned classes) {
  if (!node.input(i)) {
    node.emitError() << "input #" << i << " is missing";
    return failure();
  }
  if (!inClass(node.elementType(i), classes)) {
    node.emitError() << "input #" << i << " has type " << node.type(i)
                     << "; expected " << describeClass(classes)
                     << " element type";
    return failure();
  }
  return success();
}

/// Checks the node's arity and the element types of its required inputs:
/// input `i` must have an element type in `classes[i]`. `maxInputs` counts
/// optional trailing inputs too (default: just the required ones).
static LogicalResult checkNode(Node &node, ArrayRef<unsigned> classes,
                               unsigned maxInputs = 0,
                               unsigned numOutputs = 1) {
  maxInputs = std::max<unsigned>(maxInputs, classes.size());
  if (node.numInputs() < classes.size() || node.numInputs() > maxInputs) {
    auto diag = node.emitError() << "expects ";
    if (maxInputs != classes.size())
      diag << classes.size() << " to ";
    diag << maxInputs << " inputs, got " << node.numInputs();
    return failure();
  }
  if (failed(checkNumOutputs(node, numOutputs)))
    return failure();
  for (auto [i, cls] : llvm::enumerate(classes))
    if (failed(checkInput(node, i, cls)))
      return failure();
  return success();
}

/// Checks that inputs `i` and `j` have the same element type.
static LogicalResult checkSameElementType(Node &node, unsigned i, unsigned j) {
  if (node.elementType(i) == node.elementType(j))
    return success();
  node.emitError() << "inputs #" << i << " and #" << j
                   << " have different element types: " << node.type(i)
                   << " vs " << node.type(j);
  return failure();
}

//===----------------------------------------------------------------------===//
// Building blocks
//===----------------------------------------------------------------------===//

/// `lhs >= rhs` (and friends) as i1 tensors.
template <typename OpTy>
static Value compare(OpBuilder &b, Location loc, Value lhs, Value rhs) {
  return binary<OpTy>(b, loc, lhs, rhs, b.getI1Type());
}

/// Rounds floats toward zero; NaN stays NaN.
static Value truncFloat(OpBuilder &b, Location loc, Value x) {
  Value nonNegative =
      compare<tosa::GreaterEqualOp>(b, loc, x, scalarLike(b, loc, x, 0.0));
  Value down = unary<tosa::FloorOp>(b, loc, x);
  Value up = unary<tosa::CeilOp>(b, loc, x);
  return selectBroadcast(b, loc, nonNegative, down, up);
}

/// `value` converted to `to` with ONNX Runtime's (x86) Cast semantics.
static Value castElements(OpBuilder &b, Location loc, Value value, Type to) {
  Type from = tensorType(value).getElementType();
  if (from == to)
    return value;
  // ORT truncates toward zero, where tosa.cast rounds to nearest even. On
  // x86 a value outside the 32- or 64-bit range, or NaN, converts to INT_MIN
  // of that width (where tosa.cast saturates), and static_cast to a narrower
  // type wraps the i32 result.
  if (isFloat(from) && isInt(to)) {
    unsigned width = std::max(32u, to.getIntOrFloatBitWidth());
    Type wide = b.getIntegerType(width);
    Value truncated = truncFloat(b, loc, value);
    Value converted = castTo(b, loc, truncated, wide);
    double limit = std::ldexp(1.0, width - 1);
    Value aboveMin = compare<tosa::GreaterEqualOp>(
        b, loc, truncated, scalarLike(b, loc, truncated, -limit));
    Value belowMax = compare<tosa::GreaterOp>(
        b, loc, scalarLike(b, loc, truncated, limit), truncated);
    Value inRange = binary<tosa::LogicalAndOp>(b, loc, aboveMin, belowMax);
    Value intMin = scalarLike(b, loc, converted, -limit);
    Value result = selectBroadcast(b, loc, inRange, converted, intMin);
    return castTo(b, loc, result, to);
  }
  // Everything else (float<->float rounding to nearest, int<->int sign
  // extension or wrapping, bool <-> number, x != 0 for bool) is tosa.cast's
  // meaning already.
  return castTo(b, loc, value, to);
}

/// The single value of a constant input whose elements are all equal, if so.
static std::optional<double> splatValue(Node &node, unsigned i) {
  auto values = node.constantFloats(i);
  if (!values || values->empty() ||
      llvm::any_of(*values, [&](double v) { return v != values->front(); }))
    return std::nullopt;
  return values->front();
}

/// Whether `value` is +-2^k.
static bool isPowerOfTwo(double value) {
  int exponent;
  return std::isfinite(value) && std::abs(std::frexp(value, &exponent)) == 0.5;
}

/// Whether `value` converts to the float type `type` without rounding.
static bool isExactIn(FloatType type, double value) {
  APFloat converted(value);
  bool losesInfo = false;
  converted.convert(type.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                    &losesInfo);
  return !losesInfo && converted.isFiniteNonZero();
}

/// lhs / rhs for floats, rounded as one IEEE division would be.
///
/// TOSA has no float division: its spec says to multiply by tosa.reciprocal,
/// which rounds twice (up to 1.5 ulp off, and ORT divides). For f16, bf16
/// and f32 operands the product is formed in f64 instead: its relative error
/// (below 2^-51) is smaller than the distance from any narrow quotient of
/// narrow operands to a rounding boundary, so rounding it back gives the
/// correctly rounded quotient. f64 operands keep the 1.5 ulp bound.
static Value divideFloat(OpBuilder &b, Location loc, Value lhs, Value rhs) {
  Type elementType = tensorType(lhs).getElementType();
  Type wide = elementType.isF64() ? elementType : b.getF64Type();
  Value x = castTo(b, loc, lhs, wide);
  Value y = castTo(b, loc, rhs, wide);
  Value quotient = mul(b, loc, x, unary<tosa::ReciprocalOp>(b, loc, y));
  return castTo(b, loc, quotient, elementType);
}

/// `build(x)` computed in f32 when `x` is f16 or bf16, then rounded back:
/// a formula of several TOSA ops would otherwise round after each step,
/// where ORT rounds its f32 result once.
template <typename Fn>
static Value computeInF32(OpBuilder &b, Location loc, Value x, Fn build) {
  Type elementType = tensorType(x).getElementType();
  if (elementType.getIntOrFloatBitWidth() >= 32)
    return build(x);
  Value result = build(castTo(b, loc, x, b.getF32Type()));
  return castTo(b, loc, result, elementType);
}

/// x != x: true exactly where the float `x` is NaN.
static Value isNaN(OpBuilder &b, Location loc, Value x) {
  return unary<tosa::LogicalNotOp>(b, loc,
                                   compare<tosa::EqualOp>(b, loc, x, x));
}

/// x * x * ... (n times, n >= 1), in the order ORT multiplies.
static Value power(OpBuilder &b, Location loc, Value x, int64_t n) {
  Value result = x;
  for (int64_t i = 1; i < n; ++i)
    result = mul(b, loc, result, x);
  return result;
}

//===----------------------------------------------------------------------===//
// Binary arithmetic, comparison and logic
//===----------------------------------------------------------------------===//

/// The two operands of a binary node, validated (element types in `classes`,
/// and equal unless `sameType` is false) and, before opset 7, aligned by the
/// legacy `broadcast`/`axis` attributes. They still may differ in rank.
static FailureOr<std::pair<Value, Value>>
binaryOperands(Node &node, unsigned classes, bool sameType = true) {
  if (failed(checkNode(node, {classes, classes})))
    return failure();
  if (sameType && failed(checkSameElementType(node, 0, 1)))
    return failure();
  Value lhs = node.input(0), rhs = node.input(1);
  // Opset < 7: with broadcast=1, B's dims line up with A's starting at
  // `axis` (default: A's trailing dims); without it the shapes are equal.
  if (node.opset() < 7 && node.intAttr("broadcast", 0) != 0) {
    int64_t rankA = node.rank(0), rankB = node.rank(1);
    int64_t axis = node.intAttr("axis", rankA - rankB);
    if (axis < 0)
      axis += rankA;
    if (axis < 0 || axis + rankB > rankA) {
      node.emitError() << "legacy broadcast of " << node.type(1) << " at axis "
                       << node.intAttr("axis", rankA - rankB)
                       << " does not fit in " << node.type(0);
      return failure();
    }
    SmallVector<int64_t> shape(rankA, 1);
    llvm::copy(node.shape(1), shape.begin() + axis);
    rhs = reshape(node.rewriter, node.loc, rhs, shape);
  }
  if (failed(broadcastShape(tensorType(lhs).getShape(),
                            tensorType(rhs).getShape()))) {
    node.emitError() << "operands " << node.type(0) << " and " << node.type(1)
                     << " do not broadcast";
    return failure();
  }
  return std::make_pair(lhs, rhs);
}

/// Add, Sub, and the logic and bitwise ops: one TOSA op, same element type.
template <typename OpTy, unsigned Classes>
static LogicalResult convertBinary(Node &node) {
  auto operands = binaryOperands(node, Classes);
  if (failed(operands))
    return failure();
  return node.replace(
      binary<OpTy>(node.rewriter, node.loc, operands->first, operands->second));
}

static LogicalResult convertMul(Node &node) {
  auto operands = binaryOperands(node, kNumber);
  if (failed(operands))
    return failure();
  return node.replace(
      mul(node.rewriter, node.loc, operands->first, operands->second));
}

/// a / b for signed integers, truncating toward zero like C.
static Value divideInt(OpBuilder &b, Location loc, Value lhs, Value rhs) {
  // tosa.intdiv takes i32 and i64 only; narrower ints divide as i32, where
  // the quotient always fits back (INT_MIN / -1 overflows in either case).
  Type elementType = tensorType(lhs).getElementType();
  Type work =
      elementType.getIntOrFloatBitWidth() < 32 ? b.getI32Type() : elementType;
  Value x = castTo(b, loc, lhs, work);
  Value y = castTo(b, loc, rhs, work);
  Value quotient = binary<tosa::IntDivOp>(b, loc, x, y);
  return castTo(b, loc, quotient, elementType);
}

static LogicalResult convertDiv(Node &node) {
  auto operands = binaryOperands(node, kNumber);
  if (failed(operands))
    return failure();
  auto [lhs, rhs] = *operands;
  OpBuilder &b = node.rewriter;
  Type elementType = node.elementType(0);
  if (isInt(elementType))
    return node.replace(divideInt(b, node.loc, lhs, rhs));

  // Dividing by a power of two is an exact multiplication, and 1 / x is one
  // correctly rounded tosa.reciprocal; both are common enough (x / 8,
  // Div(1, sqrt(d))) to keep them simple.
  if (auto divisor = splatValue(node, 1);
      divisor && isPowerOfTwo(*divisor) &&
      isExactIn(cast<FloatType>(elementType), 1.0 / *divisor))
    return node.replace(mul(
        b, node.loc, lhs, splat(b, node.loc, tensorType(rhs), 1.0 / *divisor)));
  if (auto dividend = splatValue(node, 0);
      dividend && *dividend == 1.0 && tensorType(lhs).getNumElements() == 1) {
    Value reciprocal = unary<tosa::ReciprocalOp>(b, node.loc, rhs);
    // The result has lhs's rank when it is the greater one.
    SmallVector<int64_t> shape(
        std::max<int64_t>(0, tensorType(lhs).getRank() -
                                 tensorType(rhs).getRank()),
        1);
    llvm::append_range(shape, tensorType(rhs).getShape());
    return node.replace(reshape(b, node.loc, reciprocal, shape));
  }
  return node.replace(divideFloat(b, node.loc, lhs, rhs));
}

static LogicalResult convertPow(Node &node) {
  // Base and exponent types are independent (opset 12+); the result has the
  // base's type.
  auto operands = binaryOperands(node, kNumber, /*sameType=*/false);
  if (failed(operands))
    return failure();
  auto [base, exponent] = *operands;
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  Type elementType = node.elementType(0);
  auto resultShape = broadcastShape(tensorType(base).getShape(),
                                    tensorType(exponent).getShape());

  // ORT multiplies for exponents 2 and 3 (x^2 in RMSNorm, x^3 in GELU-tanh),
  // which is also more accurate than pow.
  std::optional<double> constantExponent = splatValue(node, 1);
  if (constantExponent &&
      ArrayRef<int64_t>(*resultShape) == tensorType(base).getShape() &&
      llvm::is_contained({1.0, 2.0, 3.0}, *constantExponent))
    return node.replace(
        power(b, loc, base, static_cast<int64_t>(*constantExponent)));

  if (isFloat(elementType))
    return node.replace(binary<tosa::PowOp>(
        b, loc, base, castElements(b, loc, exponent, elementType)));

  // Integer bases: ORT computes std::pow in double and truncates back.
  Type f64 = b.getF64Type();
  Value x = castTo(b, loc, base, f64);
  Value y = castElements(b, loc, exponent, f64);
  Value result = binary<tosa::PowOp>(b, loc, x, y);
  return node.replace(castElements(b, loc, result, elementType));
}

static LogicalResult convertMod(Node &node) {
  auto operands = binaryOperands(node, kNumber);
  if (failed(operands))
    return failure();
  auto [lhs, rhs] = *operands;
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  int64_t fmod = node.intAttr("fmod", 0);
  if (fmod != 0 && fmod != 1) {
    node.emitError() << "fmod must be 0 or 1, got " << fmod;
    return failure();
  }
  Type elementType = node.elementType(0);
  if (isInt(elementType)) {
    // C's remainder has the dividend's sign; fmod=0 wants the divisor's, so
    // a nonzero remainder of the other sign moves by one divisor.
    Value quotient = divideInt(b, loc, lhs, rhs);
    Value remainder =
        binary<tosa::SubOp>(b, loc, lhs, mul(b, loc, quotient, rhs));
    if (fmod == 1)
      return node.replace(remainder);
    Value zero = scalarLike(b, loc, remainder, 0.0);
    Value remNegative = compare<tosa::GreaterOp>(b, loc, zero, remainder);
    Value divNegative = compare<tosa::GreaterOp>(b, loc, zero, rhs);
    Value signsDiffer =
        binary<tosa::LogicalXorOp>(b, loc, remNegative, divNegative);
    Value remZero = compare<tosa::EqualOp>(b, loc, remainder, zero);
    Value adjust = binary<tosa::LogicalAndOp>(
        b, loc, signsDiffer, unary<tosa::LogicalNotOp>(b, loc, remZero));
    Value adjusted = binary<tosa::AddOp>(b, loc, remainder, rhs);
    return node.replace(selectBroadcast(b, loc, adjust, adjusted, remainder));
  }

  if (fmod != 1) {
    node.emitError() << "fmod must be 1 for floating-point inputs, got 0";
    return failure();
  }
  // fmod(x, y) = x - trunc(x / y) * y, in f64 for narrower types: there the
  // product and difference are exact while |x / y| < 2^29. A quotient that
  // rounded up across an integer leaves a remainder of the wrong sign, one
  // that rounded down a remainder of |y| or more; each is one step of
  // copysign(|y|, x) off. A zero quotient keeps x, also for y = +-inf.
  Type wide = elementType.isF64() ? elementType : b.getF64Type();
  Value x = castTo(b, loc, lhs, wide);
  Value y = castTo(b, loc, rhs, wide);
  Value ratio = mul(b, loc, x, unary<tosa::ReciprocalOp>(b, loc, y));
  Value quotient = truncFloat(b, loc, ratio);
  Value r = binary<tosa::SubOp>(b, loc, x, mul(b, loc, quotient, y));
  Value zero = scalarLike(b, loc, r, 0.0);
  Value noQuotient = compare<tosa::EqualOp>(b, loc, quotient, zero);
  r = selectBroadcast(b, loc, noQuotient, x, r);
  Value absY = unary<tosa::AbsOp>(b, loc, y);
  Value negAbsY = unary<tosa::NegateOp>(b, loc, absY);
  Value xNegative = compare<tosa::GreaterOp>(b, loc, zero, x);
  Value step = selectBroadcast(b, loc, xNegative, negAbsY, absY);
  Value rPositive = compare<tosa::GreaterOp>(b, loc, r, zero);
  Value rNegative = compare<tosa::GreaterOp>(b, loc, zero, r);
  Value wrongSign = selectBroadcast(b, loc, xNegative, rPositive, rNegative);
  r = selectBroadcast(b, loc, wrongSign, binary<tosa::AddOp>(b, loc, r, step),
                      r);
  Value tooBig = compare<tosa::GreaterEqualOp>(
      b, loc, unary<tosa::AbsOp>(b, loc, r), absY);
  r = selectBroadcast(b, loc, tooBig, binary<tosa::SubOp>(b, loc, r, step), r);
  return node.replace(castTo(b, loc, r, elementType));
}

/// Equal, Greater, GreaterOrEqual; Less and LessOrEqual swap the operands.
template <typename OpTy, unsigned Classes, bool Swap>
static LogicalResult convertCompare(Node &node) {
  auto operands = binaryOperands(node, Classes);
  if (failed(operands))
    return failure();
  auto [lhs, rhs] = *operands;
  if constexpr (Swap)
    std::swap(lhs, rhs);
  return node.replace(compare<OpTy>(node.rewriter, node.loc, lhs, rhs));
}

//===----------------------------------------------------------------------===//
// Variadic
//===----------------------------------------------------------------------===//

/// Checks a variadic node: one or more inputs of one element type in
/// `classes`, broadcasting together.
static LogicalResult checkVariadic(Node &node, unsigned classes) {
  if (node.numInputs() == 0) {
    node.emitError() << "expects at least one input";
    return failure();
  }
  SmallVector<unsigned> all(node.numInputs(), classes);
  if (failed(checkNode(node, all)))
    return failure();
  SmallVector<int64_t> shape(node.shape(0));
  for (unsigned i = 1; i < node.numInputs(); ++i) {
    if (failed(checkSameElementType(node, 0, i)))
      return failure();
    auto next = broadcastShape(shape, node.shape(i));
    if (failed(next)) {
      node.emitError() << "input #" << i << " of type " << node.type(i)
                       << " does not broadcast with the others (shape so "
                          "far: "
                       << RankedTensorType::get(shape, node.elementType(0))
                       << ")";
      return failure();
    }
    shape = *next;
  }
  return success();
}

/// Folds the inputs left to right with `OpTy`, as ORT does.
template <typename OpTy> static Value foldInputs(Node &node) {
  Value result = node.input(0);
  for (unsigned i = 1; i < node.numInputs(); ++i)
    result = binary<OpTy>(node.rewriter, node.loc, result, node.input(i));
  return result;
}

/// Max, Min, Sum.
template <typename OpTy, unsigned Classes>
static LogicalResult convertVariadic(Node &node) {
  if (failed(checkVariadic(node, Classes)))
    return failure();
  return node.replace(foldInputs<OpTy>(node));
}

static LogicalResult convertMean(Node &node) {
  if (failed(checkVariadic(node, kFloat)))
    return failure();
  Value sum = foldInputs<tosa::AddOp>(node);
  // ORT scales by the rounded 1/n rather than dividing.
  double scale = 1.0 / node.numInputs();
  return node.replace(mul(node.rewriter, node.loc, sum,
                          scalarLike(node.rewriter, node.loc, sum, scale)));
}

//===----------------------------------------------------------------------===//
// Unary
//===----------------------------------------------------------------------===//

/// One TOSA op with the input's type.
template <typename OpTy, unsigned Classes>
static LogicalResult convertUnary(Node &node) {
  if (failed(checkNode(node, {Classes})))
    return failure();
  return node.replace(unary<OpTy>(node.rewriter, node.loc, node.input(0)));
}

static LogicalResult convertSqrt(Node &node) {
  if (failed(checkNode(node, {kFloat})))
    return failure();
  return node.replace(sqrtFloat(node.rewriter, node.loc, node.input(0)));
}

static LogicalResult convertNeg(Node &node) {
  if (failed(checkNode(node, {kNumber})))
    return failure();
  return node.replace(
      unary<tosa::NegateOp>(node.rewriter, node.loc, node.input(0)));
}

static LogicalResult convertNot(Node &node) {
  if (failed(checkNode(node, {kBool})))
    return failure();
  return node.replace(
      unary<tosa::LogicalNotOp>(node.rewriter, node.loc, node.input(0)));
}

/// The clamp bound `value` as an attribute of `elementType`, saturated to
/// the type's range.
static Attribute clampBound(Type elementType, double value) {
  if (auto floatType = dyn_cast<FloatType>(elementType)) {
    APFloat bound(value);
    bool losesInfo = false;
    bound.convert(floatType.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                  &losesInfo);
    return FloatAttr::get(elementType, bound);
  }
  unsigned width = elementType.getIntOrFloatBitWidth();
  double lo =
      static_cast<double>(APInt::getSignedMinValue(width).getSExtValue());
  double hi =
      static_cast<double>(APInt::getSignedMaxValue(width).getSExtValue());
  if (value <= lo)
    return IntegerAttr::get(elementType, APInt::getSignedMinValue(width));
  if (value >= hi)
    return IntegerAttr::get(elementType, APInt::getSignedMaxValue(width));
  return IntegerAttr::get(elementType, static_cast<int64_t>(value));
}

/// tosa.clamp to [lo, hi] (lo <= hi, no NaN), bounds saturated to x's
/// element type, NaN propagating like ORT.
static Value clamp(OpBuilder &b, Location loc, Value x, double lo, double hi) {
  Type elementType = tensorType(x).getElementType();
  return tosa::ClampOp::create(b, loc, x.getType(), x,
                               clampBound(elementType, lo),
                               clampBound(elementType, hi));
}

static LogicalResult convertRelu(Node &node) {
  if (failed(checkNode(node, {kNumber})))
    return failure();
  return node.replace(clamp(node.rewriter, node.loc, node.input(0), 0.0,
                            std::numeric_limits<double>::infinity()));
}

/// x >= 0 ? x : negative(x), the shape of LeakyRelu and Elu in ORT.
template <typename Fn>
static Value piecewise(OpBuilder &b, Location loc, Value x, Fn negative) {
  Value nonNegative =
      compare<tosa::GreaterEqualOp>(b, loc, x, scalarLike(b, loc, x, 0.0));
  return selectBroadcast(b, loc, nonNegative, x, negative(x));
}

static LogicalResult convertLeakyRelu(Node &node) {
  if (failed(checkNode(node, {kFloat})))
    return failure();
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  float alpha = node.floatAttr("alpha", 0.01f);
  return node.replace(computeInF32(b, loc, node.input(0), [&](Value x) {
    return piecewise(b, loc, x, [&](Value x) {
      return mul(b, loc, x, scalarLike(b, loc, x, alpha));
    });
  }));
}

static LogicalResult convertElu(Node &node) {
  if (failed(checkNode(node, {kFloat})))
    return failure();
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  float alpha = node.floatAttr("alpha", 1.0f);
  return node.replace(computeInF32(b, loc, node.input(0), [&](Value x) {
    return piecewise(b, loc, x, [&](Value x) {
      Value exp = unary<tosa::ExpOp>(b, loc, x);
      Value expm1 =
          binary<tosa::SubOp>(b, loc, exp, scalarLike(b, loc, x, 1.0));
      return mul(b, loc, expm1, scalarLike(b, loc, x, alpha));
    });
  }));
}

static LogicalResult convertSigmoid(Node &node) {
  if (failed(checkNode(node, {kFloat})))
    return failure();
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  // tosa.sigmoid lowers to 1 / (1 + exp(-x)), four roundings in f16.
  return node.replace(computeInF32(b, loc, node.input(0), [&](Value x) {
    return unary<tosa::SigmoidOp>(b, loc, x);
  }));
}

/// max(x, 0) + log1p(exp(-|x|)), which cannot overflow. TOSA has no log1p:
/// log1p(t) = log(u) * t / (u - 1) with u = 1 + t (Goldberg), or t itself
/// where u rounds to 1, so that softplus(-20) is 2e-9 and not 0.
static Value softplus(OpBuilder &b, Location loc, Value x) {
  Value one = scalarLike(b, loc, x, 1.0);
  Value negAbs = unary<tosa::NegateOp>(b, loc, unary<tosa::AbsOp>(b, loc, x));
  Value t = unary<tosa::ExpOp>(b, loc, negAbs);
  Value u = binary<tosa::AddOp>(b, loc, one, t);
  Value d = binary<tosa::SubOp>(b, loc, u, one);
  Value logU = unary<tosa::LogOp>(b, loc, u);
  Value tOverD = mul(b, loc, t, unary<tosa::ReciprocalOp>(b, loc, d));
  Value scaled = mul(b, loc, logU, tOverD);
  Value uIsOne = compare<tosa::EqualOp>(b, loc, d, scalarLike(b, loc, d, 0.0));
  Value log1p = selectBroadcast(b, loc, uIsOne, t, scaled);
  Value positive =
      clamp(b, loc, x, 0.0, std::numeric_limits<double>::infinity());
  return binary<tosa::AddOp>(b, loc, positive, log1p);
}

static LogicalResult convertSoftplus(Node &node) {
  if (failed(checkNode(node, {kFloat})))
    return failure();
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  return node.replace(computeInF32(
      b, loc, node.input(0), [&](Value x) { return softplus(b, loc, x); }));
}

/// 0.5 x (1 + erf(x / sqrt(2))), or with `tanh` the tanh approximation.
static Value gelu(OpBuilder &b, Location loc, Value x, bool tanh) {
  Value inner;
  if (!tanh) {
    // Multiplies by 1/sqrt(2) as ORT does.
    Value scaled =
        mul(b, loc, x, scalarLike(b, loc, x, llvm::numbers::inv_sqrt2));
    inner = unary<tosa::ErfOp>(b, loc, scaled);
  } else {
    // tanh(x * (a + b x^2)), a = sqrt(2/pi), b = 0.044715 a, as in ORT.
    float alpha = llvm::numbers::sqrt2 * llvm::numbers::inv_sqrtpi;
    float beta = 0.044715f * alpha;
    Value square = mul(b, loc, x, x);
    Value poly = binary<tosa::AddOp>(
        b, loc, mul(b, loc, square, scalarLike(b, loc, x, beta)),
        scalarLike(b, loc, x, alpha));
    inner = unary<tosa::TanhOp>(b, loc, mul(b, loc, x, poly));
  }
  Value half = mul(b, loc, x, scalarLike(b, loc, x, 0.5));
  Value onePlus =
      binary<tosa::AddOp>(b, loc, inner, scalarLike(b, loc, x, 1.0));
  return mul(b, loc, half, onePlus);
}

static LogicalResult convertGelu(Node &node) {
  if (failed(checkNode(node, {kFloat})))
    return failure();
  std::string approximate = node.stringAttr("approximate", "none");
  if (approximate != "none" && approximate != "tanh") {
    node.emitError() << "approximate must be 'none' or 'tanh', got '"
                     << approximate << "'";
    return failure();
  }
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  return node.replace(computeInF32(b, loc, node.input(0), [&](Value x) {
    return gelu(b, loc, x, approximate == "tanh");
  }));
}

/// Activations of one float input and float attributes, computed by `build`
/// (in f32 for f16 and bf16 inputs).
template <typename Fn>
static LogicalResult convertActivation(Node &node, Fn build) {
  if (failed(checkNode(node, {kFloat})))
    return failure();
  return node.replace(computeInF32(node.rewriter, node.loc, node.input(0),
                                   [&](Value x) { return build(x); }));
}

/// min(max(alpha * x + beta, 0), 1) without NaN surprises: clamp propagates.
static Value hardSigmoid(OpBuilder &b, Location loc, Value x, float alpha,
                         float beta) {
  Value scaled = mul(b, loc, x, scalarLike(b, loc, x, alpha));
  Value shifted =
      binary<tosa::AddOp>(b, loc, scaled, scalarLike(b, loc, x, beta));
  return clamp(b, loc, shifted, 0.0, 1.0);
}

static LogicalResult convertHardSigmoid(Node &node) {
  float alpha = node.floatAttr("alpha", 0.2f);
  float beta = node.floatAttr("beta", 0.5f);
  OpBuilder &b = node.rewriter;
  return convertActivation(
      node, [&](Value x) { return hardSigmoid(b, node.loc, x, alpha, beta); });
}

static LogicalResult convertHardSwish(Node &node) {
  OpBuilder &b = node.rewriter;
  return convertActivation(node, [&](Value x) {
    return mul(b, node.loc, x, hardSigmoid(b, node.loc, x, 1.0f / 6.0f, 0.5f));
  });
}

static LogicalResult convertSelu(Node &node) {
  float alpha = node.floatAttr("alpha", 1.67326319217681884765625f);
  float gamma = node.floatAttr("gamma", 1.05070102214813232421875f);
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  // gamma * (x > 0 ? x : alpha * exp(x) - alpha).
  return convertActivation(node, [&](Value x) {
    Value zero = scalarLike(b, loc, x, 0.0);
    Value positive = compare<tosa::GreaterOp>(b, loc, x, zero);
    Value exp = unary<tosa::ExpOp>(b, loc, x);
    Value scaledExp = mul(b, loc, exp, scalarLike(b, loc, x, alpha));
    Value negative =
        binary<tosa::SubOp>(b, loc, scaledExp, scalarLike(b, loc, x, alpha));
    Value inner = selectBroadcast(b, loc, positive, x, negative);
    return mul(b, loc, inner, scalarLike(b, loc, x, gamma));
  });
}

static LogicalResult convertCelu(Node &node) {
  float alpha = node.floatAttr("alpha", 1.0f);
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  // max(0, x) + min(0, alpha * (exp(x / alpha) - 1)).
  return convertActivation(node, [&](Value x) {
    double inf = std::numeric_limits<double>::infinity();
    // x / alpha: a multiplication when exact (the default alpha is 1).
    Value scaled = isPowerOfTwo(alpha)
                       ? mul(b, loc, x, scalarLike(b, loc, x, 1.0 / alpha))
                       : divideFloat(b, loc, x, scalarLike(b, loc, x, alpha));
    Value exp = unary<tosa::ExpOp>(b, loc, scaled);
    Value expm1 = binary<tosa::SubOp>(b, loc, exp, scalarLike(b, loc, x, 1.0));
    Value negative = mul(b, loc, expm1, scalarLike(b, loc, x, alpha));
    Value negPart = clamp(b, loc, negative, -inf, 0.0);
    Value posPart = clamp(b, loc, x, 0.0, inf);
    return binary<tosa::AddOp>(b, loc, posPart, negPart);
  });
}

static LogicalResult convertThresholdedRelu(Node &node) {
  float alpha = node.floatAttr("alpha", 1.0f);
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  return convertActivation(node, [&](Value x) {
    Value above =
        compare<tosa::GreaterOp>(b, loc, x, scalarLike(b, loc, x, alpha));
    return selectBroadcast(b, loc, above, x, scalarLike(b, loc, x, 0.0));
  });
}

static LogicalResult convertMish(Node &node) {
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  // x * tanh(softplus(x)).
  return convertActivation(node, [&](Value x) {
    Value tanh = unary<tosa::TanhOp>(b, loc, softplus(b, loc, x));
    return mul(b, loc, x, tanh);
  });
}

/// x > 0 ? x : x * slope, with slope broadcasting to x. (Before opset 7 a
/// 1-D slope applied to dim 1, which is not supported.)
static LogicalResult convertPRelu(Node &node) {
  auto operands = binaryOperands(node, kNumber);
  if (failed(operands))
    return failure();
  auto [x, slope] = *operands;
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  Value positive =
      compare<tosa::GreaterOp>(b, loc, x, scalarLike(b, loc, x, 0.0));
  Value scaled = mul(b, loc, x, slope);
  return node.replace(selectBroadcast(b, loc, positive, x, scaled));
}

/// Rounds half to even, like ORT's std::nearbyint. TOSA has no round:
/// r = floor(x), and x - r (exact) decides; r + (r mod 2) breaks ties.
static LogicalResult convertRound(Node &node) {
  if (failed(checkNode(node, {kFloat})))
    return failure();
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  Value x = node.input(0);
  Value half = scalarLike(b, loc, x, 0.5);
  Value one = scalarLike(b, loc, x, 1.0);
  Value down = unary<tosa::FloorOp>(b, loc, x);
  Value fraction = binary<tosa::SubOp>(b, loc, x, down);
  Value up = binary<tosa::AddOp>(b, loc, down, one);
  // down mod 2 = down - 2 floor(down / 2), exactly.
  Value halfDown = unary<tosa::FloorOp>(b, loc, mul(b, loc, down, half));
  Value odd = binary<tosa::SubOp>(
      b, loc, down, binary<tosa::AddOp>(b, loc, halfDown, halfDown));
  Value tie = binary<tosa::AddOp>(b, loc, down, odd);
  Value aboveHalf = compare<tosa::GreaterOp>(b, loc, fraction, half);
  Value belowHalf = compare<tosa::GreaterOp>(b, loc, half, fraction);
  Value rounded = selectBroadcast(b, loc, belowHalf, down, tie);
  rounded = selectBroadcast(b, loc, aboveHalf, up, rounded);
  // inf - inf is NaN: infinities (and NaN) are their own rounding.
  Value finite = compare<tosa::EqualOp>(b, loc, fraction, fraction);
  return node.replace(selectBroadcast(b, loc, finite, rounded, x));
}

static LogicalResult convertSign(Node &node) {
  if (failed(checkNode(node, {kNumber})))
    return failure();
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  Value x = node.input(0);
  Value zero = scalarLike(b, loc, x, 0.0);
  Value positive = compare<tosa::GreaterOp>(b, loc, x, zero);
  Value negative = compare<tosa::GreaterOp>(b, loc, zero, x);
  Value plusOne = scalarLike(b, loc, x, 1.0);
  Value minusOne = scalarLike(b, loc, x, -1.0);
  Value sign = selectBroadcast(b, loc, negative, minusOne, zero);
  sign = selectBroadcast(b, loc, positive, plusOne, sign);
  // ORT maps -0 to +0 but keeps NaN.
  if (isFloat(node.elementType(0))) {
    sign = selectBroadcast(b, loc, isNaN(b, loc, x), x, sign);
  }
  return node.replace(sign);
}

static LogicalResult convertIsNaN(Node &node) {
  if (failed(checkNode(node, {kFloat})))
    return failure();
  return node.replace(isNaN(node.rewriter, node.loc, node.input(0)));
}

static LogicalResult convertIsInf(Node &node) {
  if (failed(checkNode(node, {kFloat})))
    return failure();
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  Value x = node.input(0);
  bool positive = node.intAttr("detect_positive", 1) != 0;
  bool negative = node.intAttr("detect_negative", 1) != 0;
  double inf = std::numeric_limits<double>::infinity();
  Value result;
  std::pair<bool, double> targets[] = {{positive, inf}, {negative, -inf}};
  for (auto [enabled, value] : targets) {
    if (!enabled)
      continue;
    Value hit = compare<tosa::EqualOp>(b, loc, x, scalarLike(b, loc, x, value));
    result = result ? binary<tosa::LogicalOrOp>(b, loc, result, hit) : hit;
  }
  if (!result)
    result = splat(b, loc, node.type(0).clone(b.getI1Type()), 0.0);
  return node.replace(result);
}

//===----------------------------------------------------------------------===//
// Clip, Where, Cast, Identity, Dropout
//===----------------------------------------------------------------------===//

/// Clips to [lo, hi] given as constants: tosa.clamp, or ORT's
/// min(max(x, lo), hi) (= hi everywhere) when lo > hi, which clamp rejects.
static Value clipConstant(OpBuilder &b, Location loc, Value x, double lo,
                          double hi) {
  if (lo <= hi)
    return clamp(b, loc, x, lo, hi);
  Value lower = binary<tosa::MaximumOp>(b, loc, x, scalarLike(b, loc, x, lo));
  return binary<tosa::MinimumOp>(b, loc, lower, scalarLike(b, loc, x, hi));
}

/// Opset 6: bounds are attributes.
static LogicalResult convertClipV6(Node &node) {
  if (failed(checkNode(node, {kFloat})))
    return failure();
  double lo = node.floatAttr("min", std::numeric_limits<float>::lowest());
  double hi = node.floatAttr("max", std::numeric_limits<float>::max());
  return node.replace(
      clipConstant(node.rewriter, node.loc, node.input(0), lo, hi));
}

/// Opset 11+: bounds are optional scalar inputs. Constant bounds become a
/// tosa.clamp; computed ones (or ones clamp cannot take: NaN, min > max)
/// ORT's min(max(x, min), max).
static LogicalResult convertClip(Node &node) {
  if (failed(checkNode(node, {kNumber}, /*maxInputs=*/3)))
    return failure();
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  Value x = node.input(0);
  Type elementType = node.elementType(0);
  bool constantBounds = true;
  for (unsigned i : {1u, 2u}) {
    if (!node.input(i))
      continue;
    if (failed(checkInput(node, i, kNumber)) ||
        failed(checkSameElementType(node, 0, i)))
      return failure();
    if (node.type(i).getNumElements() != 1) {
      node.emitError() << (i == 1 ? "min" : "max") << " (input #" << i
                       << ") must be a scalar, got " << node.type(i);
      return failure();
    }
    // Bounds must be readable as numbers to become clamp attributes.
    constantBounds &= isFloat(elementType) ? node.constantFloats(i).has_value()
                                           : node.constantInts(i).has_value();
  }

  if (constantBounds && isFloat(elementType)) {
    double inf = std::numeric_limits<double>::infinity();
    double lo = node.input(1) ? node.constantFloats(1)->front() : -inf;
    double hi = node.input(2) ? node.constantFloats(2)->front() : inf;
    if (lo <= hi)
      return node.replace(clamp(b, loc, x, lo, hi));
  }
  if (constantBounds && isInt(elementType)) {
    unsigned width = elementType.getIntOrFloatBitWidth();
    int64_t lo = node.input(1) ? node.constantInts(1)->front()
                               : APInt::getSignedMinValue(width).getSExtValue();
    int64_t hi = node.input(2) ? node.constantInts(2)->front()
                               : APInt::getSignedMaxValue(width).getSExtValue();
    if (lo <= hi)
      return node.replace(Value(tosa::ClampOp::create(
          b, loc, x.getType(), x, IntegerAttr::get(elementType, lo),
          IntegerAttr::get(elementType, hi))));
  }
  SmallVector<int64_t> ones(node.rank(0), 1);
  if (Value lo = node.input(1))
    x = binary<tosa::MaximumOp>(b, loc, x, reshape(b, loc, lo, ones));
  if (Value hi = node.input(2))
    x = binary<tosa::MinimumOp>(b, loc, x, reshape(b, loc, hi, ones));
  return node.replace(x);
}

static LogicalResult convertWhere(Node &node) {
  if (failed(checkNode(node, {kBool, kAny, kAny})) ||
      failed(checkSameElementType(node, 1, 2)))
    return failure();
  auto shape = broadcastShape(node.shape(0), node.shape(1));
  if (succeeded(shape))
    shape = broadcastShape(*shape, node.shape(2));
  if (failed(shape)) {
    node.emitError() << "condition " << node.type(0) << " and values "
                     << node.type(1) << ", " << node.type(2)
                     << " do not broadcast";
    return failure();
  }
  return node.replace(selectBroadcast(node.rewriter, node.loc, node.input(0),
                                      node.input(1), node.input(2)));
}

/// The TensorProto enum value of an opset 1 type name such as "FLOAT".
static int64_t dataTypeOfName(StringRef name) {
  return llvm::StringSwitch<int64_t>(name)
      .Case("FLOAT", 1)
      .Case("UINT8", 2)
      .Case("INT8", 3)
      .Case("UINT16", 4)
      .Case("INT16", 5)
      .Case("INT32", 6)
      .Case("INT64", 7)
      .Case("STRING", 8)
      .Case("BOOL", 9)
      .Case("FLOAT16", 10)
      .Case("DOUBLE", 11)
      .Case("UINT32", 12)
      .Case("UINT64", 13)
      .Default(0);
}

/// Replaces the node by its input cast to `to` (`what` names the target in
/// errors).
static LogicalResult replaceWithCast(Node &node, Type to, const Twine &what) {
  if (!to || !inClass(to, kAny)) {
    node.emitError() << "casting to " << what << " is not supported";
    return failure();
  }
  return node.replace(castElements(node.rewriter, node.loc, node.input(0), to));
}

/// Opset 1-5: `to` is a type name.
static LogicalResult convertCastV1(Node &node) {
  if (failed(checkNode(node, {kAny})))
    return failure();
  std::string name = node.stringAttr("to", "");
  return replaceWithCast(
      node, onnxElementType(node.op.getContext(), dataTypeOfName(name)),
      "'" + name + "'");
}

/// Opset 6+: `to` is a TensorProto data type. Opset 19's `saturate` only
/// concerns float8 types, which are not supported.
static LogicalResult convertCast(Node &node) {
  if (failed(checkNode(node, {kAny})))
    return failure();
  if (!node.hasAttr("to")) {
    node.emitError() << "the 'to' attribute is missing";
    return failure();
  }
  int64_t to = node.intAttr("to", 0);
  return replaceWithCast(node, onnxElementType(node.op.getContext(), to),
                         "ONNX data type " + Twine(to));
}

static LogicalResult convertCastLike(Node &node) {
  if (failed(checkNode(node, {kAny, kAny})))
    return failure();
  return replaceWithCast(node, node.elementType(1), "element type");
}

/// Identity moves no data, so it takes every element type, unsigned ones
/// included.
static LogicalResult convertIdentity(Node &node) {
  if (node.numInputs() != 1 || node.numOutputs() != 1 || !node.input(0)) {
    node.emitError() << "expects 1 input and 1 output, got " << node.numInputs()
                     << " and " << node.numOutputs();
    return failure();
  }
  return node.replace(node.input(0));
}

/// Inference-mode Dropout: the output is the input and the optional mask is
/// all true (bool since opset 10, the input's type before).
static LogicalResult convertDropout(Node &node) {
  if (node.numOutputs() != 1 && node.numOutputs() != 2) {
    node.emitError() << "expects 1 or 2 outputs, got " << node.numOutputs();
    return failure();
  }
  unsigned maxInputs = node.opset() >= 12 ? 3 : 1;
  if (failed(checkNode(node, {kFloat}, maxInputs, node.numOutputs())))
    return failure();
  // Opset 12+: training_mode=true drops at random, which inference cannot
  // reproduce, unless the ratio is 0.
  if (node.input(2)) {
    auto training = node.constantInts(2);
    if (!training || training->size() != 1) {
      node.emitError() << "training_mode (input #2) must be a constant "
                          "scalar, got "
                       << node.type(2);
      return failure();
    }
    std::optional<SmallVector<double>> ratio =
        node.input(1) ? node.constantFloats(1) : SmallVector<double>{0.5};
    if (training->front() != 0 &&
        (!ratio || ratio->size() != 1 || ratio->front() != 0.0)) {
      node.emitError() << "training mode with a nonzero ratio is not "
                          "supported";
      return failure();
    }
  }
  SmallVector<Value> results = {node.input(0)};
  if (node.numOutputs() == 2) {
    Type maskType =
        node.opset() >= 10 ? node.rewriter.getI1Type() : node.elementType(0);
    results.push_back(
        splat(node.rewriter, node.loc, node.type(0).clone(maskType), 1.0));
  }
  return node.replace(results);
}

//===----------------------------------------------------------------------===//
// Registration
//===----------------------------------------------------------------------===//

void onnx_to_tosa::addElementwiseConverters(
    SmallVectorImpl<Converter> &converters) {
  // Binary arithmetic; opset < 7 forms (legacy broadcast) are handled by
  // binaryOperands.
  converters.push_back({"Add", 1, convertBinary<tosa::AddOp, kNumber>});
  converters.push_back({"Sub", 1, convertBinary<tosa::SubOp, kNumber>});
  converters.push_back({"Mul", 1, convertMul});
  converters.push_back({"Div", 1, convertDiv});
  converters.push_back({"Pow", 1, convertPow});
  converters.push_back({"Mod", 10, convertMod});

  // Variadic.
  converters.push_back({"Max", 1, convertVariadic<tosa::MaximumOp, kNumber>});
  converters.push_back({"Min", 1, convertVariadic<tosa::MinimumOp, kNumber>});
  converters.push_back({"Sum", 1, convertVariadic<tosa::AddOp, kFloat>});
  converters.push_back({"Mean", 1, convertMean});

  // Comparison and logic.
  converters.push_back(
      {"Equal", 1, convertCompare<tosa::EqualOp, kAny, false>});
  converters.push_back(
      {"Greater", 1, convertCompare<tosa::GreaterOp, kNumber, false>});
  converters.push_back({"GreaterOrEqual", 12,
                        convertCompare<tosa::GreaterEqualOp, kNumber, false>});
  converters.push_back(
      {"Less", 1, convertCompare<tosa::GreaterOp, kNumber, true>});
  converters.push_back(
      {"LessOrEqual", 12, convertCompare<tosa::GreaterEqualOp, kNumber, true>});
  converters.push_back({"And", 1, convertBinary<tosa::LogicalAndOp, kBool>});
  converters.push_back({"Or", 1, convertBinary<tosa::LogicalOrOp, kBool>});
  converters.push_back({"Xor", 1, convertBinary<tosa::LogicalXorOp, kBool>});
  converters.push_back({"Not", 1, convertNot});
  converters.push_back(
      {"BitwiseAnd", 18, convertBinary<tosa::BitwiseAndOp, kInt>});
  converters.push_back(
      {"BitwiseOr", 18, convertBinary<tosa::BitwiseOrOp, kInt>});
  converters.push_back(
      {"BitwiseXor", 18, convertBinary<tosa::BitwiseXorOp, kInt>});
  converters.push_back(
      {"BitwiseNot", 18, convertUnary<tosa::BitwiseNotOp, kInt>});

  // Unary math.
  converters.push_back({"Sqrt", 1, convertSqrt});
  converters.push_back({"Neg", 1, convertNeg});
  converters.push_back({"Abs", 1, convertUnary<tosa::AbsOp, kNumber>});
  converters.push_back(
      {"Reciprocal", 1, convertUnary<tosa::ReciprocalOp, kFloat>});
  converters.push_back({"Exp", 1, convertUnary<tosa::ExpOp, kFloat>});
  converters.push_back({"Log", 1, convertUnary<tosa::LogOp, kFloat>});
  converters.push_back({"Tanh", 1, convertUnary<tosa::TanhOp, kFloat>});
  converters.push_back({"Sigmoid", 1, convertSigmoid});
  converters.push_back({"Erf", 9, convertUnary<tosa::ErfOp, kFloat>});
  converters.push_back({"Cos", 7, convertUnary<tosa::CosOp, kFloat>});
  converters.push_back({"Sin", 7, convertUnary<tosa::SinOp, kFloat>});
  converters.push_back({"Floor", 1, convertUnary<tosa::FloorOp, kFloat>});
  converters.push_back({"Ceil", 1, convertUnary<tosa::CeilOp, kFloat>});
  converters.push_back({"Round", 11, convertRound});
  converters.push_back({"Sign", 9, convertSign});
  converters.push_back({"IsNaN", 9, convertIsNaN});
  converters.push_back({"IsInf", 10, convertIsInf});

  // Activations.
  converters.push_back({"Relu", 1, convertRelu});
  converters.push_back({"LeakyRelu", 1, convertLeakyRelu});
  converters.push_back({"Elu", 1, convertElu});
  converters.push_back({"Softplus", 1, convertSoftplus});
  converters.push_back({"Gelu", 20, convertGelu});
  converters.push_back({"HardSigmoid", 1, convertHardSigmoid});
  converters.push_back({"HardSwish", 14, convertHardSwish});
  converters.push_back({"Selu", 1, convertSelu});
  converters.push_back({"Celu", 12, convertCelu});
  converters.push_back({"ThresholdedRelu", 10, convertThresholdedRelu});
  converters.push_back({"Mish", 18, convertMish});
  converters.push_back({"PRelu", 7, convertPRelu});

  // Selection, casts and pass-throughs.
  converters.push_back({"Clip", 1, convertClipV6});
  converters.push_back({"Clip", 11, convertClip});
  converters.push_back({"Where", 9, convertWhere});
  converters.push_back({"Cast", 1, convertCastV1});
  converters.push_back({"Cast", 6, convertCast});
  converters.push_back({"CastLike", 15, convertCastLike});
  converters.push_back({"Identity", 1, convertIdentity});
  converters.push_back({"Dropout", 1, convertDropout});
}
