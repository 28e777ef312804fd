//===- Fold.cpp - constant folding of shape computations ------------------===//
//
// TorchScript exports compute shapes, masks and the attention scale at run
// time from constants; static TOSA needs them as constants. A node whose
// inputs are all constant is evaluated here when its operator is elementwise
// and ONNX Runtime computes it exactly: integer arithmetic, comparisons,
// logic, Where, Cast and the correctly rounded float operations (+ - * /,
// sqrt, ...). Transcendental functions are left to the converters, since their
// last bit depends on the implementation.
//
// Data-movement operators (Reshape, Gather, Concat, Slice, Expand, ...) fold
// in their converters in Tensor.cpp, next to their shape rules; Shape, Size,
// Range and ConstantOfShape always become constants there.
//
//===----------------------------------------------------------------------===//

#include "OnnxToTosa.h"

#include "mlir/Dialect/Utils/IndexingUtils.h"
#include "llvm/ADT/StringSwitch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::onnx_to_tosa;

namespace {

/// One element: `i` for integer and boolean types (sign- or zero-extended
/// from their width), `f` for floating-point types (rounded to their type).
struct Scalar {
  int64_t i = 0;
  double f = 0;
};

/// A constant tensor on the host.
struct HostTensor {
  RankedTensorType type;
  SmallVector<Scalar> values;

  Type elementType() const { return type.getElementType(); }
  bool isFloat() const { return isa<FloatType>(elementType()); }
  bool isBool() const { return elementType().isInteger(1); }
};

/// Computes one result element from one element per input, or nothing when
/// the result is not exactly known (e.g. integer division by zero).
using ElementFn = function_ref<std::optional<Scalar>(ArrayRef<Scalar>)>;

} // namespace

/// Whether the host evaluation holds every value of `type` exactly. Unsigned
/// 64-bit integers do not fit the int64_t that holds integers.
static bool isSupported(Type type) {
  if (isa<Float16Type, BFloat16Type, Float32Type, Float64Type>(type))
    return true;
  auto intType = dyn_cast<IntegerType>(type);
  if (!intType || intType.isSigned())
    return false;
  unsigned width = intType.getWidth();
  return width == 1 || width == 8 || width == 16 || width == 32 ||
         (width == 64 && intType.isSignless());
}

/// `value` rounded to floating-point `type`.
static double roundTo(FloatType type, double value) {
  if (type.isF64())
    return value;
  bool losesInfo;
  APFloat rounded(value);
  rounded.convert(type.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                  &losesInfo);
  return rounded.convertToDouble();
}

/// `value` wrapped to integer `type`, as a C++ conversion does.
static int64_t wrapTo(IntegerType type, int64_t value) {
  unsigned width = type.getWidth();
  if (width >= 64)
    return value;
  APInt bits(64, value, /*isSigned=*/true);
  bits = bits.trunc(width);
  return type.isUnsigned() || width == 1 ? bits.getZExtValue()
                                         : bits.getSExtValue();
}

/// Reads input `i` when it is a small constant of a supported type.
static std::optional<HostTensor> readInput(Node &node, unsigned i) {
  RankedTensorType type = node.type(i);
  if (!type || type.getNumElements() > kFoldLimit ||
      !isSupported(type.getElementType()))
    return std::nullopt;
  HostTensor tensor{type, {}};
  if (isa<FloatType>(type.getElementType())) {
    auto values = node.constantFloats(i);
    if (!values)
      return std::nullopt;
    for (double v : *values)
      tensor.values.push_back({0, v});
  } else {
    auto values = node.constantInts(i);
    if (!values)
      return std::nullopt;
    for (int64_t v : *values)
      tensor.values.push_back({v, 0});
  }
  if (static_cast<int64_t>(tensor.values.size()) != type.getNumElements())
    return std::nullopt;
  return tensor;
}

/// `tensor` as an `arith.constant`.
static Value materialize(Node &node, const HostTensor &tensor) {
  Type elementType = tensor.elementType();
  DenseElementsAttr attr;
  if (auto floatType = dyn_cast<FloatType>(elementType)) {
    SmallVector<APFloat> values;
    for (const Scalar &s : tensor.values) {
      bool losesInfo;
      APFloat value(s.f);
      value.convert(floatType.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                    &losesInfo);
      values.push_back(value);
    }
    attr = DenseElementsAttr::get(tensor.type, values);
  } else {
    auto intType = cast<IntegerType>(elementType);
    bool isSigned = !intType.isUnsigned() && intType.getWidth() > 1;
    SmallVector<APInt> values;
    for (const Scalar &s : tensor.values)
      values.push_back(APInt(intType.getWidth(), s.i, isSigned));
    attr = DenseElementsAttr::get(tensor.type, values);
  }
  return arith::ConstantOp::create(node.rewriter, node.loc, attr);
}

/// Evaluates `fn` elementwise over `inputs` broadcast together (numpy rules),
/// giving elements of `elementType`.
static std::optional<HostTensor> elementwise(ArrayRef<HostTensor> inputs,
                                             Type elementType, ElementFn fn) {
  SmallVector<int64_t> shape;
  for (const HostTensor &input : inputs) {
    auto broadcast = broadcastShape(shape, input.type.getShape());
    if (failed(broadcast))
      return std::nullopt;
    shape = *broadcast;
  }
  int64_t count = computeProduct(shape);
  if (count > kFoldLimit)
    return std::nullopt;
  // For each input, the row-major strides of the result that it follows:
  // 0 on broadcast dims, so that one element serves all.
  SmallVector<SmallVector<int64_t>> strides;
  for (const HostTensor &input : inputs) {
    ArrayRef<int64_t> inShape = input.type.getShape();
    SmallVector<int64_t> padded(shape.size() - inShape.size(), 1);
    llvm::append_range(padded, inShape);
    SmallVector<int64_t> inStrides = computeSuffixProduct(padded);
    for (auto [stride, dim] : llvm::zip_equal(inStrides, padded))
      if (dim == 1)
        stride = 0;
    strides.push_back(inStrides);
  }
  SmallVector<int64_t> resultStrides = computeSuffixProduct(shape);
  HostTensor result{RankedTensorType::get(shape, elementType), {}};
  SmallVector<Scalar> args(inputs.size());
  for (int64_t i = 0; i < count; ++i) {
    SmallVector<int64_t> index = delinearize(i, resultStrides);
    for (auto [k, input] : llvm::enumerate(inputs))
      args[k] = input.values[linearize(index, strides[k])];
    std::optional<Scalar> value = fn(args);
    if (!value)
      return std::nullopt;
    result.values.push_back(*value);
  }
  return result;
}

/// Whether every input has the element type of the first.
static bool sameElementTypes(ArrayRef<HostTensor> inputs) {
  return llvm::all_of(inputs, [&](const HostTensor &t) {
    return t.elementType() == inputs.front().elementType();
  });
}

/// Converts `value` of type `from` to type `to` as ONNX Runtime's Cast does
/// (C++ conversions); nothing where C++ leaves the result undefined.
static std::optional<Scalar> castScalar(Scalar value, Type from, Type to) {
  bool fromFloat = isa<FloatType>(from);
  if (to.isInteger(1))
    return Scalar{fromFloat ? value.f != 0 : value.i != 0, 0};
  if (auto floatType = dyn_cast<FloatType>(to)) {
    if (fromFloat)
      return Scalar{0, roundTo(floatType, value.f)};
    // Beyond 2^53, int64 -> double would round before the rounding to `to`.
    constexpr int64_t exact = int64_t(1) << 53;
    if (value.i > exact || value.i < -exact)
      return std::nullopt;
    return Scalar{0, roundTo(floatType, static_cast<double>(value.i))};
  }
  auto intType = cast<IntegerType>(to);
  if (!fromFloat)
    return Scalar{wrapTo(intType, value.i), 0};
  // The truncated value must lie in [lo, hi); NaN fails both comparisons.
  double truncated = std::trunc(value.f);
  unsigned width = intType.getWidth();
  double lo = intType.isUnsigned() ? 0.0 : -std::ldexp(1.0, width - 1);
  double hi = std::ldexp(1.0, intType.isUnsigned() ? width : width - 1);
  if (!(truncated >= lo && truncated < hi))
    return std::nullopt;
  return Scalar{static_cast<int64_t>(truncated), 0};
}

/// Integer arithmetic wraps in the element type, as it does in C++.
static int64_t wrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) +
                              static_cast<uint64_t>(b));
}
static int64_t wrapSub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) -
                              static_cast<uint64_t>(b));
}
static int64_t wrapMul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) *
                              static_cast<uint64_t>(b));
}

/// Evaluates binary arithmetic `op` (Add, Sub, Mul, Div, Mod).
static std::optional<HostTensor> arithmetic(Node &node, StringRef op,
                                            ArrayRef<HostTensor> in) {
  if (in.size() != 2 || !sameElementTypes(in) || in[0].isBool())
    return std::nullopt;
  Type type = in[0].elementType();
  if (auto floatType = dyn_cast<FloatType>(type)) {
    if (op == "Mod" && node.intAttr("fmod", 0) == 0)
      return std::nullopt;
    return elementwise(in, type, [&](ArrayRef<Scalar> v) {
      double a = v[0].f, b = v[1].f;
      double r = llvm::StringSwitch<double>(op)
                     .Case("Add", a + b)
                     .Case("Sub", a - b)
                     .Case("Mul", a * b)
                     .Case("Div", a / b)
                     .Default(std::fmod(a, b));
      return std::optional<Scalar>(Scalar{0, roundTo(floatType, r)});
    });
  }
  auto intType = cast<IntegerType>(type);
  bool cMod = node.intAttr("fmod", 0) != 0;
  return elementwise(
      in, type, [&](ArrayRef<Scalar> v) -> std::optional<Scalar> {
        int64_t a = v[0].i, b = v[1].i;
        int64_t r;
        if (op == "Add") {
          r = wrapAdd(a, b);
        } else if (op == "Sub") {
          r = wrapSub(a, b);
        } else if (op == "Mul") {
          r = wrapMul(a, b);
        } else {
          // Division by zero and INT64_MIN / -1 are undefined in C++.
          if (b == 0 || (b == -1 && a == std::numeric_limits<int64_t>::min()))
            return std::nullopt;
          if (op == "Div") {
            r = a / b;
          } else {
            r = a % b;
            // Mod with fmod = 0 takes the sign of the divisor, like Python.
            if (!cMod && r != 0 && (r < 0) != (b < 0))
              r += b;
          }
        }
        return Scalar{wrapTo(intType, r), 0};
      });
}

/// Evaluates unary `op` on numbers.
static std::optional<HostTensor> unaryMath(StringRef op,
                                           ArrayRef<HostTensor> in) {
  if (in.size() != 1 || in[0].isBool())
    return std::nullopt;
  Type type = in[0].elementType();
  if (auto floatType = dyn_cast<FloatType>(type)) {
    return elementwise(in, type,
                       [&](ArrayRef<Scalar> v) -> std::optional<Scalar> {
                         double x = v[0].f;
                         std::optional<double> r =
                             llvm::StringSwitch<std::optional<double>>(op)
                                 .Case("Neg", -x)
                                 .Case("Abs", std::abs(x))
                                 .Case("Sqrt", std::sqrt(x))
                                 .Case("Reciprocal", 1.0 / x)
                                 .Case("Floor", std::floor(x))
                                 .Case("Ceil", std::ceil(x))
                                 .Case("Round", std::nearbyint(x))
                                 .Default(std::nullopt);
                         if (!r)
                           return std::nullopt;
                         return Scalar{0, roundTo(floatType, *r)};
                       });
  }
  auto intType = cast<IntegerType>(type);
  return elementwise(in, type,
                     [&](ArrayRef<Scalar> v) -> std::optional<Scalar> {
                       int64_t x = v[0].i;
                       std::optional<int64_t> r =
                           llvm::StringSwitch<std::optional<int64_t>>(op)
                               .Case("Neg", wrapSub(0, x))
                               .Case("Abs", x < 0 ? wrapSub(0, x) : x)
                               .Case("Sign", (x > 0) - (x < 0))
                               .Default(std::nullopt);
                       if (!r)
                         return std::nullopt;
                       return Scalar{wrapTo(intType, *r), 0};
                     });
}

/// Evaluates comparison `op`; the result is boolean.
static std::optional<HostTensor> compare(Node &node, StringRef op,
                                         ArrayRef<HostTensor> in) {
  if (in.size() != 2 || !sameElementTypes(in))
    return std::nullopt;
  bool isFloat = in[0].isFloat();
  return elementwise(in, node.rewriter.getI1Type(), [&](ArrayRef<Scalar> v) {
    // int64_t values compare exactly; doubles hold NaNs, which compare
    // false as in C++.
    auto test = [&](auto a, auto b) {
      return llvm::StringSwitch<bool>(op)
          .Case("Equal", a == b)
          .Case("Less", a < b)
          .Case("LessOrEqual", a <= b)
          .Case("Greater", a > b)
          .Default(a >= b);
    };
    bool r = isFloat ? test(v[0].f, v[1].f) : test(v[0].i, v[1].i);
    return std::optional<Scalar>(Scalar{r, 0});
  });
}

/// Evaluates the boolean `op` (Not, And, Or, Xor).
static std::optional<HostTensor> logic(StringRef op, ArrayRef<HostTensor> in) {
  if (in.empty() ||
      !llvm::all_of(in, [](const HostTensor &t) { return t.isBool(); }))
    return std::nullopt;
  if ((op == "Not") != (in.size() == 1))
    return std::nullopt;
  return elementwise(in, in[0].elementType(), [&](ArrayRef<Scalar> v) {
    bool a = v[0].i != 0, b = v.size() > 1 && v[1].i != 0;
    bool r = llvm::StringSwitch<bool>(op)
                 .Case("Not", !a)
                 .Case("And", a && b)
                 .Case("Or", a || b)
                 .Default(a != b);
    return std::optional<Scalar>(Scalar{r, 0});
  });
}

/// Evaluates variadic Max / Min.
static std::optional<HostTensor> extremum(StringRef op,
                                          ArrayRef<HostTensor> in) {
  if (in.empty() || !sameElementTypes(in) || in[0].isBool())
    return std::nullopt;
  bool isFloat = in[0].isFloat();
  bool isMax = op == "Max";
  return elementwise(in, in[0].elementType(),
                     [&](ArrayRef<Scalar> v) -> std::optional<Scalar> {
                       Scalar best = v[0];
                       for (const Scalar &s : v) {
                         // Runtimes differ in which NaN they keep: leave those
                         // unfolded.
                         if (isFloat && std::isnan(s.f))
                           return std::nullopt;
                         bool better =
                             isFloat ? (isMax ? s.f > best.f : s.f < best.f)
                                     : (isMax ? s.i > best.i : s.i < best.i);
                         if (better)
                           best = s;
                       }
                       return best;
                     });
}

/// Evaluates Where(condition, x, y).
static std::optional<HostTensor> where(ArrayRef<HostTensor> in) {
  if (in.size() != 3 || !in[0].isBool() ||
      in[1].elementType() != in[2].elementType())
    return std::nullopt;
  return elementwise(in, in[1].elementType(), [](ArrayRef<Scalar> v) {
    return std::optional<Scalar>(v[0].i ? v[1] : v[2]);
  });
}

/// Evaluates Cast (to the `to` type) and CastLike (to input 1's type).
static std::optional<HostTensor> castElements(Node &node, StringRef op,
                                              ArrayRef<HostTensor> in) {
  Type to = op == "Cast"
                ? onnxElementType(node.op.getContext(), node.intAttr("to", 0))
                : (in.size() == 2 ? in[1].elementType() : Type());
  if (!to || in.empty())
    return std::nullopt;
  Type from = in[0].elementType();
  return elementwise(in.take_front(), to, [&](ArrayRef<Scalar> v) {
    return castScalar(v[0], from, to);
  });
}

std::optional<SmallVector<Value>> onnx_to_tosa::tryFoldNode(Node &node) {
  StringRef op = node.opType();
  enum class Kind {
    None,
    Arithmetic,
    Unary,
    Compare,
    Logic,
    Extremum,
    Where,
    Cast
  };
  Kind kind =
      llvm::StringSwitch<Kind>(op)
          .Cases({"Add", "Sub", "Mul", "Div", "Mod"}, Kind::Arithmetic)
          .Cases({"Neg", "Abs", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round",
                  "Sign"},
                 Kind::Unary)
          .Cases({"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"},
                 Kind::Compare)
          .Cases({"Not", "And", "Or", "Xor"}, Kind::Logic)
          .Cases({"Max", "Min"}, Kind::Extremum)
          .Case("Where", Kind::Where)
          .Cases({"Cast", "CastLike"}, Kind::Cast)
          .Default(Kind::None);
  if (kind == Kind::None || node.numOutputs() != 1 || node.numInputs() == 0)
    return std::nullopt;
  SmallVector<HostTensor> inputs;
  for (unsigned i = 0; i < node.numInputs(); ++i) {
    std::optional<HostTensor> input = readInput(node, i);
    if (!input)
      return std::nullopt;
    inputs.push_back(std::move(*input));
  }
  std::optional<HostTensor> result;
  switch (kind) {
  case Kind::Arithmetic:
    result = arithmetic(node, op, inputs);
    break;
  case Kind::Unary:
    result = unaryMath(op, inputs);
    break;
  case Kind::Compare:
    result = compare(node, op, inputs);
    break;
  case Kind::Logic:
    result = logic(op, inputs);
    break;
  case Kind::Extremum:
    result = extremum(op, inputs);
    break;
  case Kind::Where:
    result = where(inputs);
    break;
  case Kind::Cast:
    result = castElements(node, op, inputs);
    break;
  case Kind::None:
    break;
  }
  if (!result)
    return std::nullopt;
  return SmallVector<Value>{materialize(node, *result)};
}
