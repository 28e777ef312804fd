//===- FuseLora.cpp - explicit LoRA branches to lora.linear ---------------===//
//
// Matches, at a tosa.add,
//
//   base   = tosa.matmul(x, W)              W constant (reshaped/transposed)
//            [+ constant bias]
//   branch = tosa.mul(tosa.matmul(tosa.matmul(x, A), B), s)
//            or tosa.matmul(tosa.mul(tosa.matmul(x, A), s), B)
//            or tosa.matmul(tosa.matmul(x, A), B)      (s = 1)
//
// with reshapes and casts allowed between any two of these ops (ONNX
// exports put them there), and rewrites the add as one lora.linear on the
// [1, M, K] view of x that the matmuls share.
//
//===----------------------------------------------------------------------===//

#include "LinearLayers.h"

#include "lora/Passes/Passes.h"

#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORAFUSE
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;
using namespace mlir::lora;

namespace {

/// Follows `value` up through reshapes and casts whose results have no
/// other use (when `singleUse`), and returns the op that produced it.
Operation *producer(Value value, bool singleUse = true) {
  while (Operation *def = value.getDefiningOp()) {
    if (singleUse && !value.hasOneUse())
      return nullptr;
    if (!isa<tosa::ReshapeOp, tosa::CastOp>(def))
      return def;
    value = def->getOperand(0);
  }
  return nullptr;
}

/// `value` without the reshapes that produced it (same data, other shape).
Value skipReshapes(Value value) {
  while (auto reshape = value.getDefiningOp<tosa::ReshapeOp>())
    value = reshape.getInput1();
  return value;
}

/// The positive splat value of a constant, if it is one.
std::optional<double> positiveSplat(Value value) {
  DenseFPElementsAttr attr;
  if (!matchPattern(value, m_Constant(&attr)) || !attr.isSplat())
    return std::nullopt;
  double v = attr.getSplatValue<APFloat>().convertToDouble();
  if (!(v > 0.0))
    return std::nullopt;
  return v;
}

/// The frozen side: a linear-layer matmul, possibly plus a constant bias.
struct FrozenSide {
  tosa::MatMulOp matmul;
  Value bias;
};

std::optional<FrozenSide> matchFrozen(Value value) {
  FrozenSide base;
  Operation *op = producer(value);
  if (auto add = dyn_cast_or_null<tosa::AddOp>(op)) {
    for (auto [lhs, rhs] : {std::pair(add.getInput1(), add.getInput2()),
                            std::pair(add.getInput2(), add.getInput1())}) {
      if (getConstantSource(rhs)) {
        base.bias = rhs;
        op = producer(lhs);
        break;
      }
    }
  }
  base.matmul = dyn_cast_or_null<tosa::MatMulOp>(op);
  if (!base.matmul || !getConstantSource(base.matmul.getB()))
    return std::nullopt;
  return base;
}

/// The LoRA side: two matmuls and a scale.
struct LoraSide {
  tosa::MatMulOp down, up;
  double scale;
};

std::optional<LoraSide> matchBranch(Value value) {
  LoraSide branch;
  std::optional<double> scale;
  auto takeScale = [&](Operation *op) -> Value {
    auto mul = dyn_cast_or_null<tosa::MulOp>(op);
    if (!mul || scale)
      return {};
    for (auto [lhs, rhs] : {std::pair(mul.getInput1(), mul.getInput2()),
                            std::pair(mul.getInput2(), mul.getInput1())})
      if ((scale = positiveSplat(rhs)))
        return lhs;
    return {};
  };
  Operation *op = producer(value);
  if (Value scaled = takeScale(op))
    op = producer(scaled);
  branch.up = dyn_cast_or_null<tosa::MatMulOp>(op);
  if (!branch.up)
    return std::nullopt;
  op = producer(branch.up.getA());
  if (Value scaled = takeScale(op))
    op = producer(scaled);
  branch.down = dyn_cast_or_null<tosa::MatMulOp>(op);
  if (!branch.down)
    return std::nullopt;
  // A scale of 1 (alpha == r) leaves no mul after canonicalization.
  branch.scale = scale.value_or(1.0);
  return branch;
}

/// `value` reshaped to `shape`, reusing the reshape's input when `value` is
/// a reshape of a value of that shape already.
Value reshapeTo(PatternRewriter &rewriter, Location loc, Value value,
                ArrayRef<int64_t> shape) {
  if (cast<RankedTensorType>(skipReshapes(value).getType()).getShape() == shape)
    return skipReshapes(value);
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getShape() == shape)
    return value;
  return tosa::ReshapeOp::create(rewriter, loc, type.clone(shape), value,
                                 tosa::getTosaConstShape(rewriter, loc, shape));
}

Value castTo(PatternRewriter &rewriter, Location loc, Value value,
             Type element) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getElementType() == element)
    return value;
  return tosa::CastOp::create(rewriter, loc, type.clone(element), value);
}

struct FuseLoraBranch : OpRewritePattern<tosa::AddOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(tosa::AddOp add,
                                PatternRewriter &rewriter) const override {
    for (auto [lhs, rhs] : {std::pair(add.getInput1(), add.getInput2()),
                            std::pair(add.getInput2(), add.getInput1())}) {
      std::optional<FrozenSide> base = matchFrozen(lhs);
      std::optional<LoraSide> branch = base ? matchBranch(rhs) : std::nullopt;
      if (base && branch && succeeded(fuse(add, *base, *branch, rewriter)))
        return success();
    }
    return rewriter.notifyMatchFailure(add, "not x·W + s·(x·A)·B");
  }

  LogicalResult fuse(tosa::AddOp add, FrozenSide base, LoraSide branch,
                     PatternRewriter &rewriter) const {
    tosa::MatMulOp matmul = base.matmul;
    // Both sides must read the same x, and the shapes must chain.
    if (skipReshapes(branch.down.getA()) != skipReshapes(matmul.getA()))
      return failure();
    auto x = cast<RankedTensorType>(matmul.getA().getType());
    auto w = cast<RankedTensorType>(matmul.getB().getType());
    auto a = cast<RankedTensorType>(branch.down.getB().getType());
    auto b = cast<RankedTensorType>(branch.up.getB().getType());
    if (!x.hasStaticShape() || !w.hasStaticShape() || !a.hasStaticShape() ||
        !b.hasStaticShape() || w.getDimSize(0) != 1 || a.getDimSize(0) != 1 ||
        b.getDimSize(0) != 1)
      return failure();
    int64_t k = w.getDimSize(1), n = w.getDimSize(2), r = a.getDimSize(2);
    Type element = x.getElementType();
    if (a.getDimSize(1) != k || b.getDimSize(1) != r || b.getDimSize(2) != n ||
        w.getElementType() != element || a.getElementType() != element ||
        b.getElementType() != element)
      return failure();
    auto addType = cast<RankedTensorType>(add.getType());
    if (!addType.hasStaticShape() ||
        addType.getNumElements() != x.getDimSize(1) * n)
      return failure();

    Location loc = matmul.getLoc();
    Value bias;
    if (base.bias) {
      auto biasType = cast<RankedTensorType>(base.bias.getType());
      if (!biasType.hasStaticShape() || biasType.getNumElements() != n ||
          biasType.getShape().back() != n)
        return failure();
      bias = castTo(rewriter, loc, reshapeTo(rewriter, loc, base.bias, {n}),
                    element);
    }
    auto resultType = RankedTensorType::get({1, x.getDimSize(1), n}, element);
    Value fused = LinearOp::create(
        rewriter, loc, resultType, matmul.getA(),
        reshapeTo(rewriter, loc, matmul.getB(), {k, n}),
        reshapeTo(rewriter, loc, branch.down.getB(), {k, r}),
        reshapeTo(rewriter, loc, branch.up.getB(), {r, n}), bias,
        rewriter.getI64IntegerAttr(r), rewriter.getF64FloatAttr(branch.scale));
    fused = castTo(rewriter, loc, fused, addType.getElementType());
    rewriter.replaceOp(add,
                       reshapeTo(rewriter, loc, fused, addType.getShape()));
    return success();
  }
};

struct LoraFusePass : lora::impl::LoraFuseBase<LoraFusePass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseLoraBranch>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
