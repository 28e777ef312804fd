//===- Lora.cpp - the LoRA dialect ----------------------------------------===//

#include "lora/Dialect/Lora/Lora.h"

#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

using namespace mlir;
using namespace mlir::lora;

#include "lora/Dialect/Lora/LoraDialect.cpp.inc"

void LoraDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "lora/Dialect/Lora/LoraOps.cpp.inc"
      >();
}

LogicalResult LoraDialect::verifyRegionArgAttribute(Operation *op,
                                                    unsigned regionIndex,
                                                    unsigned argIndex,
                                                    NamedAttribute attr) {
  auto argType = [&]() -> Type {
    Region &region = op->getRegion(regionIndex);
    if (region.empty() || argIndex >= region.getNumArguments())
      return {};
    return region.getArgument(argIndex).getType();
  };
  if (attr.getName() == getParamAttrName() ||
      attr.getName() == getWeightAttrName() ||
      attr.getName() == getStateAttrName()) {
    auto name = dyn_cast<StringAttr>(attr.getValue());
    if (!name || name.getValue().empty())
      return op->emitError()
             << "'" << attr.getName().getValue() << "' of argument #"
             << argIndex << " must be a non-empty string";
    return success();
  }
  if (attr.getName() == getInitAttrName()) {
    auto init = dyn_cast<ElementsAttr>(attr.getValue());
    if (!init)
      return op->emitError() << "'" << getInitAttrName() << "' of argument #"
                             << argIndex << " must be an elements attribute";
    // Bufferization turns the argument into a memref of the same shape.
    auto type = dyn_cast_or_null<ShapedType>(argType());
    if (type && (type.getShape() != init.getShapedType().getShape() ||
                 type.getElementType() != init.getElementType()))
      return op->emitError() << "'" << getInitAttrName() << "' of argument #"
                             << argIndex << " has type " << init.getType()
                             << " but the argument is " << type;
    return success();
  }
  return op->emitError() << "unknown LoRA argument attribute '"
                         << attr.getName().getValue() << "'";
}

/// True when two dims are both static and differ.
static bool mismatch(int64_t lhs, int64_t rhs) {
  return !ShapedType::isDynamic(lhs) && !ShapedType::isDynamic(rhs) &&
         lhs != rhs;
}

/// What lora.linear and lora.linear_grad check alike: one floating-point
/// element type for `x` and every tensor of `others` (named by `what` in the
/// error), x: [..., K], 2-D W: [K, N], A: [K, r], B: [r, N], and a positive
/// scale.
static LogicalResult verifyLoraOperands(Operation *op, RankedTensorType x,
                                        RankedTensorType w, RankedTensorType a,
                                        RankedTensorType b,
                                        ArrayRef<RankedTensorType> others,
                                        StringRef what, int64_t r,
                                        double scale) {
  Type element = x.getElementType();
  if (!isa<FloatType>(element))
    return op->emitOpError("requires a floating-point element type, got ")
           << element;
  for (RankedTensorType t : others)
    if (t.getElementType() != element)
      return op->emitOpError("requires all ")
             << what << " to have element type " << element << ", got " << t;
  if (x.getRank() < 1)
    return op->emitOpError("requires an input of rank >= 1, got ") << x;
  if (w.getRank() != 2 || a.getRank() != 2 || b.getRank() != 2)
    return op->emitOpError("requires a 2-D weight, lora_a and lora_b, got ")
           << w << ", " << a << " and " << b;
  int64_t k = w.getDimSize(0), n = w.getDimSize(1);
  if (mismatch(x.getDimSize(x.getRank() - 1), k))
    return op->emitOpError("input ")
           << x << " does not match weight " << w << " in K";
  if (mismatch(a.getDimSize(0), k) || mismatch(a.getDimSize(1), r))
    return op->emitOpError("lora_a must be [K, r] = [")
           << k << ", " << r << "], got " << a;
  if (mismatch(b.getDimSize(0), r) || mismatch(b.getDimSize(1), n))
    return op->emitOpError("lora_b must be [r, N] = [")
           << r << ", " << n << "], got " << b;
  if (!(scale > 0.0))
    return op->emitOpError("requires a positive scale, got ") << scale;
  return success();
}

/// Checks that `other` has `x`'s leading dims (all but the last) and last
/// dim `last` (called `lastName`), naming it `name` in the error.
static LogicalResult verifyRowsOf(Operation *op, RankedTensorType x,
                                  RankedTensorType other, StringRef name,
                                  StringRef lastName, int64_t last) {
  if (other.getRank() != x.getRank() ||
      mismatch(other.getDimSize(other.getRank() - 1), last))
    return op->emitOpError()
           << name << " must be the input's shape with " << lastName << " = "
           << last << " as last dim, got " << other;
  for (int64_t i = 0; i + 1 < x.getRank(); ++i)
    if (mismatch(x.getDimSize(i), other.getDimSize(i)))
      return op->emitOpError()
             << name << " " << other << " does not match input " << x
             << " in dim " << i;
  return success();
}

LogicalResult LinearOp::verify() {
  RankedTensorType x = getInput().getType(), w = getWeight().getType(),
                   a = getLoraA().getType(), b = getLoraB().getType(),
                   y = getResult().getType();
  if (failed(verifyLoraOperands(*this, x, w, a, b, {w, a, b, y},
                                "operands and the result", getRank(),
                                getScale().convertToDouble())))
    return failure();
  int64_t n = w.getDimSize(1);
  if (Value bias = getBias()) {
    auto biasType = cast<RankedTensorType>(bias.getType());
    if (biasType.getElementType() != x.getElementType() ||
        biasType.getRank() != 1 || mismatch(biasType.getDimSize(0), n))
      return emitOpError("bias must be [N] = [")
             << n << "] of " << x.getElementType() << ", got " << biasType;
  }
  if (Value branch = getLoraInput(); branch && branch.getType() != x)
    return emitOpError("lora_input must have the input's type ")
           << x << ", got " << branch.getType();
  return verifyRowsOf(*this, x, y, "result", "N", n);
}

LogicalResult LinearGradOp::verify() {
  RankedTensorType x = getInput().getType(), w = getWeight().getType(),
                   a = getLoraA().getType(), b = getLoraB().getType(),
                   g = getResultGrad().getType(), dx = getInputGrad().getType(),
                   da = getLoraAGrad().getType(), db = getLoraBGrad().getType();
  int64_t k = w.getDimSize(0), n = w.getDimSize(1), r = getRank();
  if (failed(verifyLoraOperands(*this, x, w, a, b, {w, a, b, g, dx, da, db},
                                "operands and results", r,
                                getScale().convertToDouble())) ||
      failed(verifyRowsOf(*this, x, g, "result_grad", "N", n)) ||
      failed(verifyRowsOf(*this, x, dx, "input_grad", "K",
                          x.getDimSize(x.getRank() - 1))))
    return failure();
  if (da.getRank() != 2 || mismatch(da.getDimSize(0), k) ||
      mismatch(da.getDimSize(1), r))
    return emitOpError("lora_a_grad must be [K, r] = [")
           << k << ", " << r << "], got " << da;
  if (db.getRank() != 2 || mismatch(db.getDimSize(0), r) ||
      mismatch(db.getDimSize(1), n))
    return emitOpError("lora_b_grad must be [r, N] = [")
           << r << ", " << n << "], got " << db;
  Value branch = getLoraInput(), branchGrad = getLoraInputGrad();
  if (static_cast<bool>(branch) != static_cast<bool>(branchGrad))
    return emitOpError("has a lora_input_grad result exactly when it has a "
                       "lora_input operand");
  if (branch && branch.getType() != x)
    return emitOpError("lora_input must have the input's type ")
           << x << ", got " << branch.getType();
  if (branchGrad && branchGrad.getType() != dx)
    return emitOpError("lora_input_grad must have input_grad's type ")
           << dx << ", got " << branchGrad.getType();
  return success();
}

LogicalResult DropoutOp::verify() {
  if (!isa<FloatType>(getInput().getType().getElementType()))
    return emitOpError("requires a floating-point input, got ")
           << getInput().getType();
  double rate = getRate().convertToDouble();
  if (!(rate >= 0.0 && rate < 1.0))
    return emitOpError("requires a rate in [0, 1), got ") << rate;
  if (getStreamAttr().getInt() < 0)
    return emitOpError("requires a non-negative stream, got ")
           << getStreamAttr().getInt();
  return success();
}

OpFoldResult DropoutOp::fold(FoldAdaptor) {
  return getRate().isZero() ? getInput() : Value();
}

LogicalResult AdamWOp::verify() {
  if (!isa<FloatType>(getParam().getType().getElementType()))
    return emitOpError("requires a floating-point parameter, got ")
           << getParam().getType();
  double beta1 = getBeta1().convertToDouble(),
         beta2 = getBeta2().convertToDouble();
  if (!(beta1 >= 0.0 && beta1 < 1.0) || !(beta2 >= 0.0 && beta2 < 1.0))
    return emitOpError("requires betas in [0, 1), got ")
           << beta1 << " and " << beta2;
  if (!(getEps().convertToDouble() > 0.0))
    return emitOpError("requires a positive eps");
  if (!(getWeightDecay().convertToDouble() >= 0.0))
    return emitOpError("requires a non-negative weight_decay");
  return success();
}

LogicalResult SgdOp::verify() {
  if (!isa<FloatType>(getParam().getType().getElementType()))
    return emitOpError("requires a floating-point parameter, got ")
           << getParam().getType();
  if (!(getMomentum().convertToDouble() >= 0.0) ||
      !(getWeightDecay().convertToDouble() >= 0.0))
    return emitOpError("requires a non-negative momentum and weight_decay");
  if (getNesterov() && getMomentum().convertToDouble() == 0.0)
    return emitOpError("nesterov needs a momentum");
  return success();
}

FailureOr<Value> lora::buildTosaLinear(RewriterBase &rewriter, Location loc,
                                       Value input, Value weight, Value bias,
                                       RankedTensorType resultType,
                                       tosa::MatMulOp *matmulOp) {
  auto x = cast<RankedTensorType>(input.getType());
  auto w = cast<RankedTensorType>(weight.getType());
  if (!x.hasStaticShape() || !w.hasStaticShape() ||
      !resultType.hasStaticShape())
    return failure();
  int64_t k = w.getDimSize(0), n = w.getDimSize(1);
  if (k == 0)
    return failure();
  int64_t m = x.getNumElements() / k;
  Type element = x.getElementType();
  // tosa.matmul accumulates half types in f32; round once at the end.
  Type acc =
      element.isF16() || element.isBF16() ? rewriter.getF32Type() : element;
  auto reshape = [&](Value v, ArrayRef<int64_t> shape) -> Value {
    auto type = cast<RankedTensorType>(v.getType());
    if (type.getShape() == shape)
      return v;
    ImplicitLocOpBuilder builder(loc, rewriter);
    return tosa::ReshapeOp::create(rewriter, loc, type.clone(shape), v,
                                   tosa::getTosaConstShape(builder, shape));
  };
  std::optional<Value> zeroPoint =
      tosa::createZeroPointTensor(rewriter, loc, element);
  if (!zeroPoint)
    return failure();
  auto matmul = tosa::MatMulOp::create(
      rewriter, loc, RankedTensorType::get({1, m, n}, acc),
      reshape(input, {1, m, k}), reshape(weight, {1, k, n}), *zeroPoint,
      *zeroPoint);
  if (matmulOp)
    *matmulOp = matmul;
  Value y = matmul;
  if (bias) {
    if (acc != element)
      bias = tosa::CastOp::create(rewriter, loc,
                                  RankedTensorType::get({n}, acc), bias);
    y = tosa::AddOp::create(rewriter, loc, y.getType(), y,
                            reshape(bias, {1, 1, n}));
  }
  if (acc != element)
    y = tosa::CastOp::create(rewriter, loc,
                             RankedTensorType::get({1, m, n}, element), y);
  return reshape(y, resultType.getShape());
}

namespace {
/// A branch with a zero A or B contributes nothing: x·W (+ bias).
struct DropZeroBranch : OpRewritePattern<LinearOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LinearOp op,
                                PatternRewriter &rewriter) const override {
    if (!matchPattern(op.getLoraA(), m_AnyZeroFloat()) &&
        !matchPattern(op.getLoraB(), m_AnyZeroFloat()))
      return rewriter.notifyMatchFailure(op, "the LoRA branch is not zero");
    FailureOr<Value> plain =
        buildTosaLinear(rewriter, op.getLoc(), op.getInput(), op.getWeight(),
                        op.getBias(), op.getResult().getType());
    if (failed(plain))
      return rewriter.notifyMatchFailure(op, "dynamic shapes");
    rewriter.replaceOp(op, *plain);
    return success();
  }
};
} // namespace

void LinearOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                           MLIRContext *context) {
  results.add<DropZeroBranch>(context);
}

#define GET_OP_CLASSES
#include "lora/Dialect/Lora/LoraOps.cpp.inc"
