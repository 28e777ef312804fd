//===- CpuTruncateToBF16.cpp - lora-cpu-truncate-f64-to-bf16 --------------===//
//
// LLVM lowers `fptrunc double to bfloat` on x86 to a call of
// `__truncdfbf2`, which the GCC 12 runtime does not have: a model whose
// f64 intermediates (the exact ONNX constants of a bf16 BERT's GELU, for
// example) are rounded to bf16 would not load. This pass rounds through
// f32 instead, exactly: f64 -> f32 rounded to odd, then f32 -> bf16 to
// nearest even (arith-expand lowers that one with integer ops). Rounding to
// odd first keeps the second rounding from seeing a false tie, so the
// result is the f64 value rounded to nearest even, as a direct conversion
// would give (f32 has 16 more significand bits than bf16; 2 suffice).
//
//===----------------------------------------------------------------------===//

#include "lora/Passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORACPUTRUNCATEF64TOBF16
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;

/// `type` with its element type replaced by `element`.
static Type withElement(Type type, Type element) {
  if (auto shaped = dyn_cast<ShapedType>(type))
    return shaped.clone(element);
  return element;
}

/// f64 `x` -> f32, rounded to odd: the f32 rounded to nearest (f), or, when
/// that is inexact and has an even significand, its neighbour on the other
/// side of x, whose significand is odd. In sign-magnitude bits that
/// neighbour is bits - 1 when f was rounded away from zero, else bits + 1
/// (an overflow to infinity becomes the largest finite f32, an underflow to
/// zero the smallest subnormal, as rounding to odd wants).
static Value roundToOddF32(OpBuilder &b, Location loc, Value x) {
  Type type = x.getType();
  Type f32 = withElement(type, b.getF32Type());
  Type i32 = withElement(type, b.getI32Type());
  Value f = arith::TruncFOp::create(b, loc, f32, x);
  Value back = arith::ExtFOp::create(b, loc, type, f);
  // Ordered: a NaN stays what the conversion made of it.
  Value inexact =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE, back, x);
  Value bits = arith::BitcastOp::create(b, loc, i32, f);
  Value one = createScalarOrSplatConstant(b, loc, i32, 1);
  Value even =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                            arith::AndIOp::create(b, loc, bits, one),
                            createScalarOrSplatConstant(b, loc, i32, 0));
  // Away from zero: above x for a positive x, below it for a negative one.
  Value above =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, back, x);
  Value positive = arith::CmpFOp::create(
      b, loc, arith::CmpFPredicate::OGT, x,
      createScalarOrSplatConstant(b, loc, type, APFloat(0.0)));
  Value away =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, above, positive);
  Value neighbour = arith::SelectOp::create(
      b, loc, away, arith::SubIOp::create(b, loc, bits, one),
      arith::AddIOp::create(b, loc, bits, one));
  Value odd = arith::SelectOp::create(
      b, loc, arith::AndIOp::create(b, loc, inexact, even), neighbour, bits);
  return arith::BitcastOp::create(b, loc, f32, odd);
}

namespace {

struct TruncateF64ToBF16 : OpRewritePattern<arith::TruncFOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(arith::TruncFOp op,
                                PatternRewriter &rewriter) const override {
    if (!getElementTypeOrSelf(op.getIn().getType()).isF64() ||
        !getElementTypeOrSelf(op.getType()).isBF16())
      return failure();
    Value f32 = roundToOddF32(rewriter, op.getLoc(), op.getIn());
    rewriter.replaceOpWithNewOp<arith::TruncFOp>(op, op.getType(), f32);
    return success();
  }
};

struct CpuTruncateF64ToBF16Pass
    : lora::impl::LoraCpuTruncateF64ToBF16Base<CpuTruncateF64ToBF16Pass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<TruncateF64ToBF16>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
