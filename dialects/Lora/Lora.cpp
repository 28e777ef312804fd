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
      attr.getName() == getWeightAttrName()) {
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

LogicalResult LinearOp::verify() {
  RankedTensorType x = getInput().getType(), w = getWeight().getType(),
                   a = getLoraA().getType(), b = getLoraB().getType(),
                   y = getResult().getType();
  Type element = x.getElementType();
  if (!isa<FloatType>(element))
    return emitOpError("requires a floating-point element type, got ")
           << element;
  for (RankedTensorType t : {w, a, b, y})
    if (t.getElementType() != element)
      return emitOpError("requires all operands and the result to have "
                         "element type ")
             << element << ", got " << t;
  if (x.getRank() < 1)
    return emitOpError("requires an input of rank >= 1, got ") << x;
  if (w.getRank() != 2 || a.getRank() != 2 || b.getRank() != 2)
    return emitOpError("requires a 2-D weight, lora_a and lora_b, got ")
           << w << ", " << a << " and " << b;

  // Dims must agree where both are static.
  auto mismatch = [](int64_t lhs, int64_t rhs) {
    return !ShapedType::isDynamic(lhs) && !ShapedType::isDynamic(rhs) &&
           lhs != rhs;
  };
  int64_t k = w.getDimSize(0), n = w.getDimSize(1), r = getRank();
  if (mismatch(x.getDimSize(x.getRank() - 1), k))
    return emitOpError("input ")
           << x << " does not match weight " << w << " in K";
  if (mismatch(a.getDimSize(0), k) || mismatch(a.getDimSize(1), r))
    return emitOpError("lora_a must be [K, r] = [")
           << k << ", " << r << "], got " << a;
  if (mismatch(b.getDimSize(0), r) || mismatch(b.getDimSize(1), n))
    return emitOpError("lora_b must be [r, N] = [")
           << r << ", " << n << "], got " << b;
  if (Value bias = getBias()) {
    auto biasType = cast<RankedTensorType>(bias.getType());
    if (biasType.getElementType() != element || biasType.getRank() != 1 ||
        mismatch(biasType.getDimSize(0), n))
      return emitOpError("bias must be [N] = [")
             << n << "] of " << element << ", got " << biasType;
  }
  if (y.getRank() != x.getRank() || mismatch(y.getDimSize(y.getRank() - 1), n))
    return emitOpError("result must be the input's shape with N = ")
           << n << " as last dim, got " << y;
  for (int64_t i = 0; i + 1 < x.getRank(); ++i)
    if (mismatch(x.getDimSize(i), y.getDimSize(i)))
      return emitOpError("result ")
             << y << " does not match input " << x << " in dim " << i;
  if (!(getScale().convertToDouble() > 0.0))
    return emitOpError("requires a positive scale, got ")
           << getScale().convertToDouble();
  return success();
}

LogicalResult LinearGradOp::verify() {
  RankedTensorType x = getInput().getType(), w = getWeight().getType(),
                   a = getLoraA().getType(), b = getLoraB().getType(),
                   g = getResultGrad().getType(), dx = getInputGrad().getType(),
                   da = getLoraAGrad().getType(), db = getLoraBGrad().getType();
  Type element = x.getElementType();
  if (!isa<FloatType>(element))
    return emitOpError("requires a floating-point element type, got ")
           << element;
  for (RankedTensorType t : {w, a, b, g, dx, da, db})
    if (t.getElementType() != element)
      return emitOpError("requires all operands and results to have "
                         "element type ")
             << element << ", got " << t;
  if (x.getRank() < 1 || w.getRank() != 2 || a.getRank() != 2 ||
      b.getRank() != 2)
    return emitOpError("requires an input of rank >= 1 and a 2-D weight, "
                       "lora_a and lora_b");
  auto mismatch = [](int64_t lhs, int64_t rhs) {
    return !ShapedType::isDynamic(lhs) && !ShapedType::isDynamic(rhs) &&
           lhs != rhs;
  };
  int64_t k = w.getDimSize(0), n = w.getDimSize(1), r = getRank();
  if (mismatch(x.getDimSize(x.getRank() - 1), k))
    return emitOpError("input ")
           << x << " does not match weight " << w << " in K";
  if (mismatch(a.getDimSize(0), k) || mismatch(a.getDimSize(1), r))
    return emitOpError("lora_a must be [K, r] = [")
           << k << ", " << r << "], got " << a;
  if (mismatch(b.getDimSize(0), r) || mismatch(b.getDimSize(1), n))
    return emitOpError("lora_b must be [r, N] = [")
           << r << ", " << n << "], got " << b;
  if (g.getRank() != x.getRank() || mismatch(g.getDimSize(g.getRank() - 1), n))
    return emitOpError("result_grad must be the input's shape with N = ")
           << n << " as last dim, got " << g;
  for (int64_t i = 0; i + 1 < x.getRank(); ++i)
    if (mismatch(x.getDimSize(i), g.getDimSize(i)))
      return emitOpError("result_grad ")
             << g << " does not match input " << x << " in dim " << i;
  if (dx.getRank() != x.getRank() ||
      llvm::any_of(llvm::seq<int64_t>(0, x.getRank()), [&](int64_t i) {
        return mismatch(dx.getDimSize(i), x.getDimSize(i));
      }))
    return emitOpError("input_grad must have the input's shape ")
           << x << ", got " << dx;
  if (da.getRank() != 2 || mismatch(da.getDimSize(0), k) ||
      mismatch(da.getDimSize(1), r))
    return emitOpError("lora_a_grad must be [K, r] = [")
           << k << ", " << r << "], got " << da;
  if (db.getRank() != 2 || mismatch(db.getDimSize(0), r) ||
      mismatch(db.getDimSize(1), n))
    return emitOpError("lora_b_grad must be [r, N] = [")
           << r << ", " << n << "], got " << db;
  if (!(getScale().convertToDouble() > 0.0))
    return emitOpError("requires a positive scale, got ")
           << getScale().convertToDouble();
  return success();
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
