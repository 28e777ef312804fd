//===- ConvertLoraToLinalg.cpp - lora.linear to linalg on tensors ---------===//
//
// `y = x·W + s·(x·A)·B (+ bias)` for x: [..., K], W: [K, N], A: [K, r],
// B: [r, N] becomes, with M the product of x's leading dims:
//
//   x2  = x viewed as [M, K]      (tensor.collapse_shape; [K] expands to [1,
//   K]) xw  = x2·W   : [M, N] acc     linalg.matmul into a zero-filled init t
//   = x2·A   : [M, r] acc     linalg.matmul into a zero-filled init u   = t·B
//   : [M, N] acc     linalg.matmul into a zero-filled init y2  = elem(xw + s·u
//   (+ bias[n]))   one linalg.generic, rounded once y   = y2 viewed as x's
//   leading dims × N
//
// acc is f32 for element types narrower than f32 (f16, bf16): a linalg.matmul
// whose init is f32 extends its f16 operands, so every product and sum is
// formed in f32, t stays f32 as the left operand of t·B, and the only rounding
// to the element type is the truncf at the end of the epilogue. f32 and f64
// accumulate in themselves.
//
// Work: 2MKN + 2MKr + 2MrN flops in the matmuls (the branch adds a fraction
// 2r(K+N)/(2KN) ≈ r/K + r/N to the frozen layer), plus 2MN (3MN with bias) in
// the epilogue. Nothing is fused here: the CPU pipeline bufferizes these four
// ops as they are, and the matmuls become loops ordered (m, k, n) by
// lora-cpu-contraction-loop-order.
//
// Leading dims of x (and K, N, r) may be dynamic: inits take their sizes from
// tensor.dim of the operands.
//
//===----------------------------------------------------------------------===//

#include "lora/Passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::lora {
#define GEN_PASS_DEF_CONVERTLORATOLINALG
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;

namespace {
/// Reassociation that groups all dims but the last: [d0..dn-2] [dn-1].
SmallVector<ReassociationIndices> leadingDimsTogether(int64_t rank) {
  ReassociationIndices leading;
  for (int64_t i = 0; i + 1 < rank; ++i)
    leading.push_back(i);
  return {leading, {rank - 1}};
}

/// Reassociation between a rank-`rank` tensor and a 1-D one: [d0..dn-1].
SmallVector<ReassociationIndices> allDims(int64_t rank) {
  return {llvm::to_vector(llvm::seq<int64_t>(0, rank))};
}

struct LinearOpLowering : OpConversionPattern<lora::LinearOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(lora::LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput(), w = adaptor.getWeight(),
          a = adaptor.getLoraA(), b = adaptor.getLoraB(),
          bias = adaptor.getBias();
    auto xType = cast<RankedTensorType>(x.getType());
    auto element = cast<FloatType>(xType.getElementType());
    FloatType acc = element.getWidth() < 32 ? rewriter.getF32Type() : element;
    int64_t rank = xType.getRank();

    // x as [M, K].
    Value x2 = x;
    if (rank == 1) {
      OpFoldResult k = tensor::getMixedSize(rewriter, loc, x, 0);
      auto type = RankedTensorType::get({1, xType.getDimSize(0)}, element);
      x2 = tensor::ExpandShapeOp::create(rewriter, loc, type, x, allDims(2),
                                         {rewriter.getIndexAttr(1), k});
    } else if (rank > 2) {
      x2 = tensor::CollapseShapeOp::create(rewriter, loc, x,
                                           leadingDimsTogether(rank));
    }
    OpFoldResult m = tensor::getMixedSize(rewriter, loc, x2, 0);
    OpFoldResult n = tensor::getMixedSize(rewriter, loc, w, 1);
    OpFoldResult r = tensor::getMixedSize(rewriter, loc, a, 1);

    Value zero = arith::ConstantOp::create(rewriter, loc, acc,
                                           rewriter.getZeroAttr(acc));
    auto matmul = [&](Value lhs, Value rhs, ArrayRef<OpFoldResult> sizes) {
      Value empty = tensor::EmptyOp::create(rewriter, loc, sizes, acc);
      Value init = linalg::FillOp::create(rewriter, loc, ValueRange{zero},
                                          ValueRange{empty})
                       .getResult(0);
      return linalg::MatmulOp::create(rewriter, loc, TypeRange{init.getType()},
                                      ValueRange{lhs, rhs}, ValueRange{init})
          .getResult(0);
    };
    Value xw = matmul(x2, w, {m, n});
    Value t = matmul(x2, a, {m, r});
    Value u = matmul(t, b, {m, n});

    // Epilogue: y2[m, n] = elem(xw[m, n] + s·u[m, n] (+ bias[n])).
    MLIRContext *ctx = rewriter.getContext();
    AffineMap identity = AffineMap::getMultiDimIdentityMap(2, ctx);
    AffineMap column =
        AffineMap::get(2, 0, {rewriter.getAffineDimExpr(1)}, ctx);
    SmallVector<Value> inputs = {xw, u};
    SmallVector<AffineMap> maps = {identity, identity};
    if (bias) {
      inputs.push_back(bias);
      maps.push_back(column);
    }
    maps.push_back(identity);
    Value out = tensor::EmptyOp::create(rewriter, loc,
                                        ArrayRef<OpFoldResult>{m, n}, element);
    Value scale = arith::ConstantOp::create(
        rewriter, loc, acc,
        rewriter.getFloatAttr(acc, op.getScale().convertToDouble()));
    Value y2 =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{out.getType()}, inputs, ValueRange{out},
            maps,
            {utils::IteratorType::parallel, utils::IteratorType::parallel},
            [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
              Value scaled =
                  arith::MulFOp::create(nested, nestedLoc, scale, args[1]);
              Value sum =
                  arith::AddFOp::create(nested, nestedLoc, args[0], scaled);
              if (bias) {
                Value biasValue = args[2];
                if (acc != element)
                  biasValue =
                      arith::ExtFOp::create(nested, nestedLoc, acc, biasValue);
                sum = arith::AddFOp::create(nested, nestedLoc, sum, biasValue);
              }
              if (acc != element)
                sum = arith::TruncFOp::create(nested, nestedLoc, element, sum);
              linalg::YieldOp::create(nested, nestedLoc, sum);
            })
            .getResult(0);

    // Back to x's leading dims × N.
    Value y = y2;
    if (rank == 1) {
      y = tensor::CollapseShapeOp::create(rewriter, loc, y2, allDims(2));
    } else if (rank > 2) {
      SmallVector<OpFoldResult> shape = tensor::getMixedSizes(rewriter, loc, x);
      shape.back() = n;
      SmallVector<int64_t> staticShape(xType.getShape());
      staticShape.back() = cast<RankedTensorType>(y2.getType()).getDimSize(1);
      y = tensor::ExpandShapeOp::create(
          rewriter, loc, RankedTensorType::get(staticShape, element), y2,
          leadingDimsTogether(rank), shape);
    }
    // The result type may know a dim that x or W leaves dynamic.
    if (y.getType() != op.getType())
      y = tensor::CastOp::create(rewriter, loc, op.getType(), y);
    rewriter.replaceOp(op, y);
    return success();
  }
};

struct ConvertLoraToLinalgPass
    : lora::impl::ConvertLoraToLinalgBase<ConvertLoraToLinalgPass> {
  using Base::Base;
  void runOnOperation() override {
    ConversionTarget target(getContext());
    target.addIllegalOp<lora::LinearOp>();
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                           tensor::TensorDialect>();
    RewritePatternSet patterns(&getContext());
    lora::populateLoraToLinalgConversionPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace

void lora::populateLoraToLinalgConversionPatterns(RewritePatternSet &patterns) {
  patterns.add<LinearOpLowering>(patterns.getContext());
}
