//===- GradientRules.cpp - reverse-mode rules of TOSA and lora ops --------===//
//
// Each rule builds operand gradients from result gradients with TOSA ops
// (and lora.linear_grad), so the backward lowers through the same pipelines
// as the forward. Elementwise rules reuse the forward's results where the
// derivative is a function of them (exp, sigmoid, tanh, rsqrt, reciprocal)
// instead of recomputing; broadcast operands get their gradient summed over
// the broadcast dims ("unbroadcast").
//
//===----------------------------------------------------------------------===//

#include "GradientRules.h"

#include "ConvertOnnxToTosa/OnnxToTosa.h"

#include "lora/Dialect/Lora/Lora.h"

#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/TypeSwitch.h"

#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::onnx_to_tosa;

namespace {

/// What a rule sees: the op, its result gradients (null for zero) and which
/// operands want one. Rules fill `grads` (one slot per operand).
struct RuleContext {
  OpBuilder &b;
  Location loc;
  Operation *op;
  ArrayRef<Value> resultGrads;
  ArrayRef<bool> wanted;
  SmallVector<Value> grads;
  std::string &whyNot;

  Value operand(unsigned i) { return op->getOperand(i); }
  Value result(unsigned i = 0) { return op->getResult(i); }
  bool wants(unsigned i) { return i < wanted.size() && wanted[i]; }
  /// The gradient of result `i`, zeros when it has none.
  Value grad(unsigned i = 0) {
    if (resultGrads[i])
      return resultGrads[i];
    return splat(b, loc, tensorType(result(i)), 0.0);
  }
  Value zeroLike(Value like) { return scalarLike(b, loc, like, 0.0); }
  Value constLike(Value like, double value) {
    return scalarLike(b, loc, like, value);
  }
};

} // namespace

/// `g` (of a broadcast result) summed over the dims that `type` broadcast,
/// then reshaped and cast to `type`. A lower-rank operand lines up with the
/// trailing dims.
static Value unbroadcast(OpBuilder &b, Location loc, Value g, Type type) {
  auto target = cast<RankedTensorType>(type);
  RankedTensorType gType = tensorType(g);
  if (gType.getShape() != target.getShape()) {
    int64_t offset = gType.getRank() - target.getRank();
    SmallVector<int64_t> axes;
    for (int64_t i = 0; i < gType.getRank(); ++i) {
      int64_t dim = i < offset ? 1 : target.getDimSize(i - offset);
      if (dim == 1 && gType.getDimSize(i) != 1)
        axes.push_back(i);
    }
    g = reshape(b, loc, reduceSum(b, loc, g, axes), target.getShape());
  }
  return castTo(b, loc, g, target.getElementType());
}

/// `pred ? value : 0`, broadcast to the shape of `value` and `pred`.
static Value selectOrZero(RuleContext &c, Value pred, Value value,
                          bool zeroWhenTrue = false) {
  Value zero = c.zeroLike(value);
  return zeroWhenTrue ? selectBroadcast(c.b, c.loc, pred, zero, value)
                      : selectBroadcast(c.b, c.loc, pred, value, zero);
}

static Value neg(OpBuilder &b, Location loc, Value x) {
  return tosa::NegateOp::create(b, loc, x.getType(), x);
}

/// The constant values of a tosa.const_shape operand.
static FailureOr<SmallVector<int64_t>> constShape(Value shape) {
  SmallVector<int64_t> values;
  if (!shape.getDefiningOp() ||
      !tosa::getConstShapeValues(shape.getDefiningOp(), values))
    return failure();
  return values;
}

/// tosa.matmul of [B, M, K] x [B, K, N] accumulating in accumulatorType,
/// rounded to `elementType`. Batch dims of 1 are repeated to match.
static Value batchedMatmul(OpBuilder &b, Location loc, Value lhs, Value rhs,
                           Type elementType) {
  lhs = castTo(b, loc, lhs, elementType);
  rhs = castTo(b, loc, rhs, elementType);
  ArrayRef<int64_t> l = tensorType(lhs).getShape();
  ArrayRef<int64_t> r = tensorType(rhs).getShape();
  int64_t batch = std::max(l[0], r[0]);
  lhs = broadcastTo(b, loc, lhs, {batch, l[1], l[2]});
  rhs = broadcastTo(b, loc, rhs, {batch, r[1], r[2]});
  Type acc = accumulatorType(elementType);
  Value zeroPoint = splat(b, loc, RankedTensorType::get({1}, elementType), 0.0);
  Value product = tosa::MatMulOp::create(
      b, loc, RankedTensorType::get({batch, l[1], r[2]}, acc), lhs, rhs,
      zeroPoint, zeroPoint);
  return castTo(b, loc, product, elementType);
}

//===----------------------------------------------------------------------===//
// Rules
//===----------------------------------------------------------------------===//

static LogicalResult addRule(RuleContext &c, bool subtract) {
  Value g = c.grad();
  if (c.wants(0))
    c.grads[0] = unbroadcast(c.b, c.loc, g, c.operand(0).getType());
  if (c.wants(1))
    c.grads[1] = unbroadcast(c.b, c.loc, subtract ? neg(c.b, c.loc, g) : g,
                             c.operand(1).getType());
  return success();
}

static LogicalResult mulRule(RuleContext &c) {
  Value g = c.grad();
  for (unsigned i : {0u, 1u})
    if (c.wants(i))
      c.grads[i] = unbroadcast(c.b, c.loc, mul(c.b, c.loc, g, c.operand(1 - i)),
                               c.operand(i).getType());
  return success();
}

/// Rules whose operand gradient is g · f(x, y) for one float operand.
static LogicalResult unaryRule(RuleContext &c,
                               function_ref<Value(Value x, Value y)> factor) {
  if (c.wants(0))
    c.grads[0] = mul(c.b, c.loc, c.grad(), factor(c.operand(0), c.result()));
  return success();
}

static LogicalResult powRule(RuleContext &c) {
  OpBuilder &b = c.b;
  Value x = c.operand(0), p = c.operand(1), g = c.grad();
  if (c.wants(0)) {
    // d/dx x^p = p · x^(p-1)
    Value pMinus1 = binary<tosa::SubOp>(b, c.loc, p, c.constLike(p, 1.0));
    Value d = mul(b, c.loc, p, binary<tosa::PowOp>(b, c.loc, x, pMinus1));
    c.grads[0] = unbroadcast(b, c.loc, mul(b, c.loc, g, d), x.getType());
  }
  if (c.wants(1)) {
    // d/dp x^p = x^p · ln x
    Value d = mul(b, c.loc, c.result(), unary<tosa::LogOp>(b, c.loc, x));
    c.grads[1] = unbroadcast(b, c.loc, mul(b, c.loc, g, d), p.getType());
  }
  return success();
}

/// maximum/minimum: the gradient goes to the operand that was chosen (the
/// first one on ties).
static LogicalResult extremumRule(RuleContext &c, bool isMax) {
  Value x = c.operand(0), y = c.operand(1);
  Type i1 = c.b.getI1Type();
  Value firstChosen = isMax
                          ? binary<tosa::GreaterEqualOp>(c.b, c.loc, x, y, i1)
                          : binary<tosa::GreaterEqualOp>(c.b, c.loc, y, x, i1);
  for (unsigned i : {0u, 1u})
    if (c.wants(i))
      c.grads[i] = unbroadcast(
          c.b, c.loc,
          selectOrZero(c, firstChosen, c.grad(), /*zeroWhenTrue=*/i == 1),
          c.operand(i).getType());
  return success();
}

static LogicalResult clampRule(RuleContext &c, tosa::ClampOp op) {
  if (!c.wants(0))
    return success();
  auto lo = dyn_cast<FloatAttr>(op.getMinValAttr());
  auto hi = dyn_cast<FloatAttr>(op.getMaxValAttr());
  if (!lo || !hi) {
    c.whyNot = "an integer clamp has no gradient";
    return failure();
  }
  Value x = c.operand(0);
  Type i1 = c.b.getI1Type();
  Value aboveLo = binary<tosa::GreaterEqualOp>(
      c.b, c.loc, x, c.constLike(x, lo.getValueAsDouble()), i1);
  Value belowHi = binary<tosa::GreaterEqualOp>(
      c.b, c.loc, c.constLike(x, hi.getValueAsDouble()), x, i1);
  Value inside = binary<tosa::LogicalAndOp>(c.b, c.loc, aboveLo, belowHi, i1);
  c.grads[0] = selectOrZero(c, inside, c.grad());
  return success();
}

static LogicalResult absRule(RuleContext &c) {
  if (!c.wants(0))
    return success();
  // sign(x) · g, with 0 at x = 0 like torch.
  Value x = c.operand(0), g = c.grad();
  Type i1 = c.b.getI1Type();
  Value positive = binary<tosa::GreaterOp>(c.b, c.loc, x, c.zeroLike(x), i1);
  Value negative = binary<tosa::GreaterOp>(c.b, c.loc, c.zeroLike(x), x, i1);
  Value negOrZero = selectOrZero(c, negative, neg(c.b, c.loc, g));
  c.grads[0] =
      tosa::SelectOp::create(c.b, c.loc, g.getType(), positive, g, negOrZero);
  return success();
}

static LogicalResult castRule(RuleContext &c) {
  if (c.wants(0))
    c.grads[0] =
        castTo(c.b, c.loc, c.grad(), tensorType(c.operand(0)).getElementType());
  return success();
}

static LogicalResult reshapeRule(RuleContext &c) {
  if (c.wants(0))
    c.grads[0] =
        reshape(c.b, c.loc, c.grad(), tensorType(c.operand(0)).getShape());
  return success();
}

static LogicalResult transposeRule(RuleContext &c, tosa::TransposeOp op) {
  if (!c.wants(0))
    return success();
  ArrayRef<int32_t> perms = op.getPerms();
  SmallVector<int64_t> inverse(perms.size());
  for (auto [i, p] : llvm::enumerate(perms))
    inverse[p] = i;
  c.grads[0] = transpose(c.b, c.loc, c.grad(), inverse);
  return success();
}

static LogicalResult sliceRule(RuleContext &c, tosa::SliceOp op) {
  if (!c.wants(0))
    return success();
  FailureOr<SmallVector<int64_t>> start = constShape(op.getStart());
  if (failed(start)) {
    c.whyNot = "its start is not a constant";
    return failure();
  }
  RankedTensorType inType = tensorType(c.operand(0));
  ArrayRef<int64_t> size = tensorType(c.result()).getShape();
  SmallVector<int64_t> padding;
  for (int64_t i = 0; i < inType.getRank(); ++i) {
    padding.push_back((*start)[i]);
    padding.push_back(inType.getDimSize(i) - (*start)[i] - size[i]);
  }
  c.grads[0] = tosa::PadOp::create(c.b, c.loc, inType, c.grad(),
                                   shapeValue(c.b, c.loc, padding));
  return success();
}

static LogicalResult padRule(RuleContext &c, tosa::PadOp op) {
  FailureOr<SmallVector<int64_t>> padding = constShape(op.getPadding());
  if (failed(padding)) {
    c.whyNot = "its padding is not a constant";
    return failure();
  }
  RankedTensorType inType = tensorType(c.operand(0));
  SmallVector<int64_t> starts;
  for (int64_t i = 0; i < inType.getRank(); ++i)
    starts.push_back((*padding)[2 * i]);
  Value g = c.grad();
  Value inside = sliceValue(c.b, c.loc, g, starts, inType.getShape());
  if (c.wants(0))
    c.grads[0] = inside;
  if (c.wants(2)) {
    // The pad value fills everything outside: its gradient is the sum of g
    // there, sum(g) - sum(g inside).
    auto all = llvm::to_vector(llvm::seq<int64_t>(0, inType.getRank()));
    Value outside =
        binary<tosa::SubOp>(c.b, c.loc, reduceSum(c.b, c.loc, g, all),
                            reduceSum(c.b, c.loc, inside, all));
    c.grads[2] = unbroadcast(c.b, c.loc, outside, c.operand(2).getType());
  }
  return success();
}

static LogicalResult concatRule(RuleContext &c, tosa::ConcatOp op) {
  int64_t axis = op.getAxis();
  int64_t offset = 0;
  ArrayRef<int64_t> full = tensorType(c.result()).getShape();
  for (unsigned i = 0; i < op->getNumOperands(); ++i) {
    RankedTensorType type = tensorType(c.operand(i));
    if (c.wants(i)) {
      SmallVector<int64_t> starts(full.size(), 0);
      starts[axis] = offset;
      c.grads[i] = sliceValue(c.b, c.loc, c.grad(), starts, type.getShape());
    }
    offset += type.getDimSize(axis);
  }
  return success();
}

static LogicalResult tileRule(RuleContext &c) {
  if (!c.wants(0))
    return success();
  // The output is [m0·d0, m1·d1, ...] with the copies outermost in each
  // dim: as [m0, d0, m1, d1, ...] the copies are the even axes.
  ArrayRef<int64_t> in = tensorType(c.operand(0)).getShape();
  ArrayRef<int64_t> out = tensorType(c.result()).getShape();
  SmallVector<int64_t> split, copyAxes;
  for (auto [i, d] : llvm::enumerate(in)) {
    split.push_back(out[i] / d);
    split.push_back(d);
    copyAxes.push_back(2 * i);
  }
  Value g = reshape(c.b, c.loc, c.grad(), split);
  c.grads[0] = reshape(c.b, c.loc, reduceSum(c.b, c.loc, g, copyAxes), in);
  return success();
}

static LogicalResult reduceSumRule(RuleContext &c) {
  if (c.wants(0))
    c.grads[0] =
        broadcastTo(c.b, c.loc, c.grad(), tensorType(c.operand(0)).getShape());
  return success();
}

/// The gradient is shared evenly by the elements equal to the maximum, as
/// in PyTorch's amax.
static LogicalResult reduceMaxRule(RuleContext &c, tosa::ReduceMaxOp op) {
  if (!c.wants(0))
    return success();
  Value x = c.operand(0);
  Value isMax =
      binary<tosa::EqualOp>(c.b, c.loc, x, c.result(), c.b.getI1Type());
  Value share = tosa::SelectOp::create(c.b, c.loc, x.getType(), isMax,
                                       c.constLike(x, 1.0), c.zeroLike(x));
  Value ties = reduceSum(c.b, c.loc, share, {op.getAxis()});
  Value perTie =
      mul(c.b, c.loc, c.grad(), unary<tosa::ReciprocalOp>(c.b, c.loc, ties));
  c.grads[0] = mul(c.b, c.loc, share, perTie);
  return success();
}

static LogicalResult selectRule(RuleContext &c) {
  Value pred = c.operand(0), g = c.grad();
  for (unsigned i : {1u, 2u})
    if (c.wants(i))
      c.grads[i] = unbroadcast(
          c.b, c.loc, selectOrZero(c, pred, g, /*zeroWhenTrue=*/i == 2),
          c.operand(i).getType());
  return success();
}

static LogicalResult matmulRule(RuleContext &c) {
  // y = a·b per batch: da = g·bᵀ, db = aᵀ·g; a batch of 1 was repeated, so
  // its gradient sums over the batch.
  Value a = c.operand(0), b = c.operand(1), g = c.grad();
  if (c.wants(0)) {
    Type type = tensorType(a).getElementType();
    Value da =
        batchedMatmul(c.b, c.loc, g, transpose(c.b, c.loc, b, {0, 2, 1}), type);
    c.grads[0] = unbroadcast(c.b, c.loc, da, a.getType());
  }
  if (c.wants(1)) {
    Type type = tensorType(b).getElementType();
    Value db =
        batchedMatmul(c.b, c.loc, transpose(c.b, c.loc, a, {0, 2, 1}), g, type);
    c.grads[1] = unbroadcast(c.b, c.loc, db, b.getType());
  }
  return success();
}

static LogicalResult linearRule(RuleContext &c, LinearOp op) {
  // Operands: x, W, A, B, then lora_input and bias when present.
  unsigned branchIndex = 4;
  unsigned biasIndex = op.getLoraInput() ? 5 : 4;
  bool branchWanted = op.getLoraInput() && c.wants(branchIndex);
  if (c.wants(1) || (op.getBias() && c.wants(biasIndex))) {
    c.whyNot = "its frozen weight and bias get no gradient";
    return failure();
  }
  if (!c.wants(0) && !c.wants(2) && !c.wants(3) && !branchWanted)
    return success();
  Type branchGradType = op.getLoraInput() ? op.getInput().getType() : Type();
  auto grad = LinearGradOp::create(
      c.b, c.loc, op.getInput().getType(), op.getLoraA().getType(),
      op.getLoraB().getType(), branchGradType, op.getInput(), op.getWeight(),
      op.getLoraA(), op.getLoraB(), c.grad(), op.getLoraInput(),
      op.getRankAttr(), op.getScaleAttr());
  // linear_grad computes dx (and the branch input's gradient) only when it
  // is used.
  if (c.wants(0))
    c.grads[0] = grad.getInputGrad();
  if (c.wants(2))
    c.grads[2] = grad.getLoraAGrad();
  if (c.wants(3))
    c.grads[3] = grad.getLoraBGrad();
  if (branchWanted)
    c.grads[branchIndex] = grad.getLoraInputGrad();
  return success();
}

/// The mask is a function of the seed, the stream and the index: the same
/// op applied to g is g·mask/(1 - rate).
static LogicalResult dropoutRule(RuleContext &c, DropoutOp op) {
  if (c.wants(0))
    c.grads[0] =
        DropoutOp::create(c.b, c.loc, c.grad().getType(), c.grad(),
                          op.getSeed(), op.getRateAttr(), op.getStreamAttr());
  return success();
}

//===----------------------------------------------------------------------===//
// Softmax as one rule
//===----------------------------------------------------------------------===//

namespace {
/// A matched softmax or log-softmax: its input and axis.
struct SoftmaxMatch {
  Value input;
  int64_t axis;
};
} // namespace

/// `d = x - reduce_max(x, axis)`: x and the axis, or nothing.
static std::optional<SoftmaxMatch> matchShiftedInput(Value d) {
  auto sub = d.getDefiningOp<tosa::SubOp>();
  if (!sub)
    return std::nullopt;
  auto max = sub.getInput2().getDefiningOp<tosa::ReduceMaxOp>();
  if (!max || max.getInput() != sub.getInput1() ||
      sub.getInput1().getType() != d.getType())
    return std::nullopt;
  return SoftmaxMatch{sub.getInput1(), static_cast<int64_t>(max.getAxis())};
}

/// `reduce_sum(exp(d), axis)` with d as above: the match, or nothing.
static std::optional<SoftmaxMatch> matchSumOfExp(Value sum, Value *expOut) {
  auto reduce = sum.getDefiningOp<tosa::ReduceSumOp>();
  if (!reduce)
    return std::nullopt;
  auto exp = reduce.getInput().getDefiningOp<tosa::ExpOp>();
  if (!exp)
    return std::nullopt;
  std::optional<SoftmaxMatch> match = matchShiftedInput(exp.getInput1());
  if (!match || match->axis != static_cast<int64_t>(reduce.getAxis()))
    return std::nullopt;
  if (expOut)
    *expOut = exp.getResult();
  return match;
}

/// `exp(d) * reciprocal(reduce_sum(exp(d)))`, in either order: the match.
static std::optional<SoftmaxMatch> matchSoftmax(tosa::MulOp mul) {
  for (auto [e, r] : {std::pair(mul.getInput1(), mul.getInput2()),
                      std::pair(mul.getInput2(), mul.getInput1())}) {
    auto reciprocal = r.getDefiningOp<tosa::ReciprocalOp>();
    Value exp;
    std::optional<SoftmaxMatch> match =
        reciprocal ? matchSumOfExp(reciprocal.getInput1(), &exp) : std::nullopt;
    if (match && exp == e && mul.getType() == e.getType())
      return match;
  }
  return std::nullopt;
}

/// The softmax rule dx = y ⊙ (g - Σ_axis g ⊙ y).
static Value softmaxRule(OpBuilder &b, Location loc, Value y, Value g,
                         int64_t axis) {
  Value dot = reduceSum(b, loc, mul(b, loc, g, y), {axis});
  return mul(b, loc, y, binary<tosa::SubOp>(b, loc, g, dot));
}

FailureOr<std::pair<Value, Value>>
mlir::lora::buildSoftmaxGradient(OpBuilder &b, Operation *op, Value g) {
  Location loc = op->getLoc();
  if (auto mulOp = dyn_cast<tosa::MulOp>(op)) {
    std::optional<SoftmaxMatch> match = matchSoftmax(mulOp);
    if (!match)
      return failure();
    return std::pair(match->input,
                     softmaxRule(b, loc, mulOp.getResult(), g, match->axis));
  }
  if (auto select = dyn_cast<tosa::SelectOp>(op)) {
    // select(y == y, y, 0) of a softmax's y: where y is a number the guard
    // passes it and its gradient through, and a row of NaNs (a row masked
    // entirely, -inf everywhere) holds zeros, which the rule maps to a zero
    // gradient, the derivative of that constant row.
    auto equal = select.getInput1().getDefiningOp<tosa::EqualOp>();
    Value y = select.getInput2();
    auto mulOp = y.getDefiningOp<tosa::MulOp>();
    std::optional<SoftmaxMatch> match =
        mulOp ? matchSoftmax(mulOp) : std::nullopt;
    if (!match || !equal || equal.getInput1() != y || equal.getInput2() != y ||
        !matchPattern(select.getInput3(), m_AnyZeroFloat()) ||
        select.getType() != y.getType())
      return failure();
    return std::pair(match->input,
                     softmaxRule(b, loc, select.getResult(), g, match->axis));
  }
  if (auto subOp = dyn_cast<tosa::SubOp>(op)) {
    // d - log(sum(exp(d))).
    auto log = subOp.getInput2().getDefiningOp<tosa::LogOp>();
    std::optional<SoftmaxMatch> match =
        log ? matchSumOfExp(log.getInput1(), nullptr) : std::nullopt;
    std::optional<SoftmaxMatch> shifted = matchShiftedInput(subOp.getInput1());
    if (!match || !shifted || shifted->input != match->input)
      return failure();
    Value y = op->getResult(0);
    Value sum = reduceSum(b, loc, g, {match->axis});
    Value probs = unary<tosa::ExpOp>(b, loc, y);
    return std::pair(match->input,
                     binary<tosa::SubOp>(b, loc, g, mul(b, loc, probs, sum)));
  }
  return failure();
}

//===----------------------------------------------------------------------===//
// Dispatch
//===----------------------------------------------------------------------===//

static LogicalResult applyRule(RuleContext &c) {
  OpBuilder &b = c.b;
  Location loc = c.loc;
  return TypeSwitch<Operation *, LogicalResult>(c.op)
      .Case<tosa::AddOp>([&](auto) { return addRule(c, false); })
      .Case<tosa::SubOp>([&](auto) { return addRule(c, true); })
      .Case<tosa::MulOp>([&](auto) { return mulRule(c); })
      .Case<tosa::NegateOp>([&](auto) {
        if (c.wants(0))
          c.grads[0] = neg(b, loc, c.grad());
        return success();
      })
      .Case<tosa::ExpOp>(
          [&](auto) { return unaryRule(c, [](Value, Value y) { return y; }); })
      .Case<tosa::LogOp>([&](auto) {
        return unaryRule(c, [&](Value x, Value) {
          return unary<tosa::ReciprocalOp>(b, loc, x);
        });
      })
      .Case<tosa::ReciprocalOp>([&](auto) {
        // d(1/x) = -y²
        return unaryRule(
            c, [&](Value, Value y) { return neg(b, loc, mul(b, loc, y, y)); });
      })
      .Case<tosa::RsqrtOp>([&](auto) {
        // d(x^-1/2) = -1/2 · y³
        return unaryRule(c, [&](Value, Value y) {
          Value y3 = mul(b, loc, mul(b, loc, y, y), y);
          return mul(b, loc, y3, c.constLike(y, -0.5));
        });
      })
      .Case<tosa::SigmoidOp>([&](auto) {
        return unaryRule(c, [&](Value, Value y) {
          return binary<tosa::SubOp>(b, loc, y, mul(b, loc, y, y));
        });
      })
      .Case<tosa::TanhOp>([&](auto) {
        return unaryRule(c, [&](Value, Value y) {
          return binary<tosa::SubOp>(b, loc, c.constLike(y, 1.0),
                                     mul(b, loc, y, y));
        });
      })
      .Case<tosa::ErfOp>([&](auto) {
        // d erf(x) = 2/sqrt(pi) · exp(-x²)
        return unaryRule(c, [&](Value x, Value) {
          Value e = unary<tosa::ExpOp>(b, loc, neg(b, loc, mul(b, loc, x, x)));
          return mul(b, loc, e,
                     c.constLike(x, 2.0 * llvm::numbers::inv_sqrtpi));
        });
      })
      .Case<tosa::SinOp>([&](auto) {
        return unaryRule(
            c, [&](Value x, Value) { return unary<tosa::CosOp>(b, loc, x); });
      })
      .Case<tosa::CosOp>([&](auto) {
        return unaryRule(c, [&](Value x, Value) {
          return neg(b, loc, unary<tosa::SinOp>(b, loc, x));
        });
      })
      .Case<tosa::PowOp>([&](auto) { return powRule(c); })
      .Case<tosa::MaximumOp>([&](auto) { return extremumRule(c, true); })
      .Case<tosa::MinimumOp>([&](auto) { return extremumRule(c, false); })
      .Case<tosa::ClampOp>([&](auto op) { return clampRule(c, op); })
      .Case<tosa::AbsOp>([&](auto) { return absRule(c); })
      .Case<tosa::CastOp>([&](auto) { return castRule(c); })
      .Case<tosa::ReshapeOp>([&](auto) { return reshapeRule(c); })
      .Case<tosa::TransposeOp>([&](auto op) { return transposeRule(c, op); })
      .Case<tosa::SliceOp>([&](auto op) { return sliceRule(c, op); })
      .Case<tosa::PadOp>([&](auto op) { return padRule(c, op); })
      .Case<tosa::ConcatOp>([&](auto op) { return concatRule(c, op); })
      .Case<tosa::TileOp>([&](auto) { return tileRule(c); })
      .Case<tosa::ReduceSumOp>([&](auto) { return reduceSumRule(c); })
      .Case<tosa::ReduceMaxOp>([&](auto op) { return reduceMaxRule(c, op); })
      .Case<tosa::SelectOp>([&](auto) { return selectRule(c); })
      .Case<tosa::MatMulOp>([&](auto) { return matmulRule(c); })
      .Case<LinearOp>([&](auto op) { return linearRule(c, op); })
      .Case<DropoutOp>([&](auto op) { return dropoutRule(c, op); })
      .Default([&](Operation *) {
        c.whyNot = "it has no gradient rule";
        return failure();
      });
}

FailureOr<SmallVector<Value>>
lora::buildOperandGradients(OpBuilder &b, Operation *op,
                            ArrayRef<Value> resultGrads, ArrayRef<bool> wanted,
                            std::string &whyNot) {
  RuleContext c{b,      op->getLoc(),
                op,     resultGrads,
                wanted, SmallVector<Value>(op->getNumOperands()),
                whyNot};
  if (failed(applyRule(c)))
    return failure();
  return std::move(c.grads);
}
