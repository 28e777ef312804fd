//===- ConvertLoraToLinalg.cpp - lora.linear to linalg on tensors ---------===//
//
// `y = x·W + s·(x·A)·B (+ bias)` for x: [..., K], W: [K, N], A: [K, r],
// B: [r, N] becomes, with M the product of x's leading dims:
//
//   x2 = x viewed as [M, K]   tensor.collapse_shape ([K] expands to [1, K])
//   xw = x2·W  : [M, N] acc   linalg.matmul into a zero-filled init
//   t  = x2·A  : [M, r] acc   linalg.matmul into a zero-filled init
//   u  = t·B   : [M, N] acc   linalg.matmul into a zero-filled init
//   y2 = elem(xw + s·u (+ bias[n]))   one linalg.generic, rounded once
//   y  = y2 viewed as x's leading dims × N
//
// lora.linear_grad (t = x·A, g = dL/dy viewed as [M, N]) becomes five
// contractions (linalg.generic, reduction innermost) and their epilogues:
//
//   dB = elem(s · tᵀ·g)      [r, N]     dt = s · g·Bᵀ   [M, r] acc
//   dA = elem(x2ᵀ·dt)        [K, r]     dx = elem(g·Wᵀ + dt·Aᵀ)  [M, K]
//
// 2MKN + 6MKr + 4MNr flops; 4MKr + 4MNr when dx is unused (a LoRA layer
// whose input needs no gradient), which is then not computed.
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
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
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

/// acc[i, j] (+)= Σ_l elem(lhs)·elem(rhs) over the iteration space
/// (i, j, l), l innermost; `lhsMap` and `rhsMap` index the operands by it.
/// Into `init` when given, else a zero-filled [sizes] tensor of `acc`.
Value contract(OpBuilder &b, Location loc, Value lhs, AffineMap lhsMap,
               Value rhs, AffineMap rhsMap, ArrayRef<OpFoldResult> sizes,
               FloatType acc, Value init = {}) {
  if (!init) {
    Value zero = arith::ConstantOp::create(b, loc, acc, b.getZeroAttr(acc));
    Value empty = tensor::EmptyOp::create(b, loc, sizes, acc);
    init = linalg::FillOp::create(b, loc, ValueRange{zero}, ValueRange{empty})
               .getResult(0);
  }
  AffineMap out = AffineMap::get(
      3, 0, {b.getAffineDimExpr(0), b.getAffineDimExpr(1)}, b.getContext());
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, ValueRange{lhs, rhs},
             ValueRange{init}, ArrayRef<AffineMap>{lhsMap, rhsMap, out},
             {utils::IteratorType::parallel, utils::IteratorType::parallel,
              utils::IteratorType::reduction},
             [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
               auto extend = [&](Value v) -> Value {
                 return v.getType() == acc
                            ? v
                            : arith::ExtFOp::create(nested, nestedLoc, acc, v);
               };
               Value product = arith::MulFOp::create(
                   nested, nestedLoc, extend(args[0]), extend(args[1]));
               linalg::YieldOp::create(
                   nested, nestedLoc,
                   arith::AddFOp::create(nested, nestedLoc, args[2], product)
                       .getResult());
             })
      .getResult(0);
}

/// elem(scale · value) elementwise, for a 2-D `value` of the accumulator
/// type; `element` may be the accumulator type itself.
Value scaleAndRound(OpBuilder &b, Location loc, Value value, double scale,
                    FloatType element) {
  auto type = cast<RankedTensorType>(value.getType());
  auto acc = cast<FloatType>(type.getElementType());
  if (scale == 1.0 && acc == element)
    return value;
  Value out = tensor::EmptyOp::create(
      b, loc, tensor::getMixedSizes(b, loc, value), element);
  AffineMap identity = b.getMultiDimIdentityMap(2);
  Value factor;
  if (scale != 1.0)
    factor = arith::ConstantOp::create(b, loc, acc, b.getFloatAttr(acc, scale));
  return linalg::GenericOp::create(
             b, loc, TypeRange{out.getType()}, ValueRange{value},
             ValueRange{out}, ArrayRef<AffineMap>{identity, identity},
             {utils::IteratorType::parallel, utils::IteratorType::parallel},
             [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
               Value v = args[0];
               if (factor)
                 v = arith::MulFOp::create(nested, nestedLoc, factor, v);
               if (acc != element)
                 v = arith::TruncFOp::create(nested, nestedLoc, element, v);
               linalg::YieldOp::create(nested, nestedLoc, v);
             })
      .getResult(0);
}

/// `value` ([..., D]) viewed as [M, D]: leading dims collapsed, or a 1-D
/// value as one row.
Value asMatrix(OpBuilder &b, Location loc, Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  int64_t rank = type.getRank();
  if (rank == 1) {
    OpFoldResult d = tensor::getMixedSize(b, loc, value, 0);
    auto matrix =
        RankedTensorType::get({1, type.getDimSize(0)}, type.getElementType());
    return tensor::ExpandShapeOp::create(b, loc, matrix, value, allDims(2),
                                         {b.getIndexAttr(1), d});
  }
  if (rank > 2)
    return tensor::CollapseShapeOp::create(b, loc, value,
                                           leadingDimsTogether(rank));
  return value;
}

/// The inverse of asMatrix: `matrix` ([M, D]) back to `like`'s leading dims
/// with D as the last dim.
Value asShapeOf(OpBuilder &b, Location loc, Value matrix, Value like) {
  auto likeType = cast<RankedTensorType>(like.getType());
  auto matrixType = cast<RankedTensorType>(matrix.getType());
  int64_t rank = likeType.getRank();
  if (rank == 1)
    return tensor::CollapseShapeOp::create(b, loc, matrix, allDims(2));
  if (rank == 2)
    return matrix;
  SmallVector<OpFoldResult> shape = tensor::getMixedSizes(b, loc, like);
  shape.back() = tensor::getMixedSize(b, loc, matrix, 1);
  SmallVector<int64_t> staticShape(likeType.getShape());
  staticShape.back() = matrixType.getDimSize(1);
  return tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(staticShape, matrixType.getElementType()),
      matrix, leadingDimsTogether(rank), shape);
}

struct LinearOpLowering : OpConversionPattern<lora::LinearOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(lora::LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput(), w = adaptor.getWeight(),
          a = adaptor.getLoraA(), b = adaptor.getLoraB(),
          bias = adaptor.getBias(), branch = adaptor.getLoraInput();
    auto xType = cast<RankedTensorType>(x.getType());
    auto element = cast<FloatType>(xType.getElementType());
    FloatType acc = element.getWidth() < 32 ? rewriter.getF32Type() : element;

    // x as [M, K].
    Value x2 = asMatrix(rewriter, loc, x);
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
    Value t = matmul(branch ? asMatrix(rewriter, loc, branch) : x2, a, {m, r});
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
    Value y = asShapeOf(rewriter, loc, y2, x);
    // The result type may know a dim that x or W leaves dynamic.
    if (y.getType() != op.getType())
      y = tensor::CastOp::create(rewriter, loc, op.getType(), y);
    rewriter.replaceOp(op, y);
    return success();
  }
};

struct LinearGradOpLowering : OpConversionPattern<lora::LinearGradOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(lora::LinearGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput(), w = adaptor.getWeight(),
          a = adaptor.getLoraA(), b = adaptor.getLoraB(),
          g = adaptor.getResultGrad(), branch = adaptor.getLoraInput();
    auto element =
        cast<FloatType>(cast<RankedTensorType>(x.getType()).getElementType());
    FloatType acc = element.getWidth() < 32 ? rewriter.getF32Type() : element;
    double scale = op.getScale().convertToDouble();

    Value x2 = asMatrix(rewriter, loc, x), g2 = asMatrix(rewriter, loc, g);
    // What the branch read (x itself without lora_input).
    Value xl2 = branch ? asMatrix(rewriter, loc, branch) : x2;
    OpFoldResult m = tensor::getMixedSize(rewriter, loc, x2, 0);
    OpFoldResult k = tensor::getMixedSize(rewriter, loc, w, 0);
    OpFoldResult n = tensor::getMixedSize(rewriter, loc, w, 1);
    OpFoldResult r = tensor::getMixedSize(rewriter, loc, a, 1);
    // Operand maps over the iteration space (d0, d1, d2), d2 reduced.
    auto map = [&](unsigned i, unsigned j) {
      return AffineMap::get(
          3, 0, {rewriter.getAffineDimExpr(i), rewriter.getAffineDimExpr(j)},
          rewriter.getContext());
    };
    AffineMap rowRed = map(0, 2), redCol = map(2, 1), redRow = map(2, 0),
              colRed = map(1, 2);

    // t[m, r] = Σ_k x[m, k]·A[k, r]
    Value t = contract(rewriter, loc, xl2, rowRed, a, redCol, {m, r}, acc);
    // dB[r, n] = s·Σ_m t[m, r]·g[m, n]
    Value dbAcc = contract(rewriter, loc, t, redRow, g2, redCol, {r, n}, acc);
    Value db = scaleAndRound(rewriter, loc, dbAcc, scale, element);
    // dt[m, r] = s·Σ_n g[m, n]·B[r, n]
    Value dt = scaleAndRound(
        rewriter, loc,
        contract(rewriter, loc, g2, rowRed, b, colRed, {m, r}, acc), scale,
        acc);
    // dA[k, r] = Σ_m x[m, k]·dt[m, r]
    Value da = scaleAndRound(
        rewriter, loc,
        contract(rewriter, loc, xl2, redRow, dt, redCol, {k, r}, acc), 1.0,
        element);

    // dx[m, k] = Σ_n g[m, n]·W[k, n] + Σ_r dt[m, r]·A[k, r]; with lora_input
    // the two sums are its own results: dx = g·Wᵀ, dxl = dt·Aᵀ. An unused
    // result is not computed.
    auto unused = [&] {
      return tensor::EmptyOp::create(
          rewriter, loc, tensor::getMixedSizes(rewriter, loc, x), element);
    };
    auto finish = [&](Value accumulated) {
      return asShapeOf(rewriter, loc,
                       scaleAndRound(rewriter, loc, accumulated, 1.0, element),
                       x);
    };
    Value dx = unused(), dxl;
    if (!op.getInputGrad().use_empty()) {
      Value dxAcc = contract(rewriter, loc, g2, rowRed, w, colRed, {m, k}, acc);
      if (!branch)
        dxAcc =
            contract(rewriter, loc, dt, rowRed, a, colRed, {m, k}, acc, dxAcc);
      dx = finish(dxAcc);
    }
    if (branch)
      dxl = op.getLoraInputGrad().use_empty()
                ? unused()
                : finish(contract(rewriter, loc, dt, rowRed, a, colRed, {m, k},
                                  acc));
    SmallVector<Value> results{dx, da, db};
    if (dxl)
      results.push_back(dxl);
    for (auto [value, type] : llvm::zip(results, op.getResultTypes()))
      if (value.getType() != type)
        value = tensor::CastOp::create(rewriter, loc, type, value);
    rewriter.replaceOp(op, results);
    return success();
  }
};

/// An i64 constant with the bits of `value`.
Value i64Constant(OpBuilder &b, Location loc, uint64_t value) {
  return arith::ConstantOp::create(b, loc, b.getI64Type(),
                                   b.getI64IntegerAttr(value));
}

/// splitmix64's finalizer on i64 values (arith's integer ops wrap).
Value splitmixFinalize(OpBuilder &b, Location loc, Value z) {
  auto xorShift = [&](Value v, uint64_t shift) -> Value {
    return arith::XOrIOp::create(
        b, loc, v,
        arith::ShRUIOp::create(b, loc, v, i64Constant(b, loc, shift)));
  };
  z = arith::MulIOp::create(b, loc, xorShift(z, 30),
                            i64Constant(b, loc, 0xBF58476D1CE4E5B9ULL));
  z = arith::MulIOp::create(b, loc, xorShift(z, 27),
                            i64Constant(b, loc, 0x94D049BB133111EBULL));
  return xorShift(z, 31);
}

constexpr uint64_t kSplitmixIncrement = 0x9E3779B97F4A7C15ULL;

/// lora.dropout as one linalg.generic: the element's row-major index
/// (linalg.index) hashed with the key of (seed, stream); see the op's
/// description. The seed is a 0-d input of the generic, not a host read:
/// on the CUDA target the whole op is one kernel whose threads each derive
/// the key (a few integer ops) before hashing their index.
struct DropoutOpLowering : OpConversionPattern<lora::DropoutOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(lora::DropoutOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput();
    auto type = cast<RankedTensorType>(x.getType());
    auto element = cast<FloatType>(type.getElementType());
    int64_t rank = type.getRank();
    double rate = op.getRate().convertToDouble();
    uint64_t stream = op.getStreamAttr().getInt();
    Value threshold = i64Constant(
        rewriter, loc, static_cast<uint64_t>(std::llround(rate * 0x1p24)));
    Value keepScale = arith::ConstantOp::create(
        rewriter, loc, element,
        rewriter.getFloatAttr(element, 1.0 / (1.0 - rate)));
    Value zero = arith::ConstantOp::create(rewriter, loc, element,
                                           rewriter.getZeroAttr(element));
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, x);
    Value init = tensor::EmptyOp::create(rewriter, loc, sizes, element);
    AffineMap identity = rewriter.getMultiDimIdentityMap(rank);
    AffineMap scalar = AffineMap::get(rank, 0, {}, rewriter.getContext());
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{init.getType()},
            ValueRange{x, adaptor.getSeed()}, ValueRange{init},
            ArrayRef<AffineMap>{identity, scalar, identity},
            SmallVector<utils::IteratorType>(rank,
                                             utils::IteratorType::parallel),
            [&](OpBuilder &b, Location nestedLoc, ValueRange args) {
              auto i64 = [&](uint64_t value) {
                return i64Constant(b, nestedLoc, value);
              };
              Value key =
                  splitmixFinalize(b, nestedLoc,
                                   arith::AddIOp::create(
                                       b, nestedLoc, args[1],
                                       i64((stream + 1) * kSplitmixIncrement)));
              // i = ((i0·s1 + i1)·s2 + i2)…, then h = mix(key + (i+1)·G).
              Value index =
                  rank == 0
                      ? Value(arith::ConstantIndexOp::create(b, nestedLoc, 0))
                      : Value(linalg::IndexOp::create(b, nestedLoc, 0));
              for (int64_t d = 1; d < rank; ++d)
                index = arith::AddIOp::create(
                    b, nestedLoc,
                    arith::MulIOp::create(b, nestedLoc, index,
                                          getValueOrCreateConstantIndexOp(
                                              b, nestedLoc, sizes[d])),
                    linalg::IndexOp::create(b, nestedLoc, d));
              Value i = arith::IndexCastUIOp::create(b, nestedLoc,
                                                     b.getI64Type(), index);
              Value counter = arith::AddIOp::create(
                  b, nestedLoc, key,
                  arith::MulIOp::create(
                      b, nestedLoc,
                      arith::AddIOp::create(b, nestedLoc, i, i64(1)),
                      i64(kSplitmixIncrement)));
              Value h = splitmixFinalize(b, nestedLoc, counter);
              Value keep = arith::CmpIOp::create(
                  b, nestedLoc, arith::CmpIPredicate::uge,
                  arith::ShRUIOp::create(b, nestedLoc, h, i64(40)), threshold);
              Value kept =
                  arith::MulFOp::create(b, nestedLoc, args[0], keepScale);
              linalg::YieldOp::create(
                  b, nestedLoc,
                  arith::SelectOp::create(b, nestedLoc, keep, kept, zero)
                      .getResult());
            })
            .getResult(0);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// A linalg.generic over `tensors` (all of one shape; identity maps) and
/// 0-d `scalars` (broadcast) that updates `inits` (same shape), one result
/// each: destination-passing style, as an optimizer step writes its
/// parameter and state. The body reads the inits through their block
/// arguments: were they unused, elementwise fusion would swap them for
/// tensor.empty, CSE would merge those, and bufferization could then put
/// every result in one buffer. `body` gets the block arguments (tensors,
/// scalars, inits) and yields the new values.
SmallVector<Value> elementwise(
    OpBuilder &b, Location loc, ValueRange tensors, ValueRange scalars,
    ValueRange inits,
    function_ref<SmallVector<Value>(OpBuilder &, Location, ValueRange)> body) {
  auto type = cast<RankedTensorType>(tensors.front().getType());
  int64_t rank = type.getRank();
  AffineMap identity = b.getMultiDimIdentityMap(rank);
  AffineMap scalar = AffineMap::get(rank, 0, {}, b.getContext());
  SmallVector<AffineMap> maps(tensors.size(), identity);
  maps.append(scalars.size(), scalar);
  maps.append(inits.size(), identity);
  SmallVector<Value> inputs(tensors);
  llvm::append_range(inputs, scalars);
  auto op = linalg::GenericOp::create(
      b, loc, TypeRange(inits), inputs, inits, maps,
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        linalg::YieldOp::create(nested, nestedLoc,
                                body(nested, nestedLoc, args));
      });
  return SmallVector<Value>(op.getResults());
}

/// Optimizer math in at least f32: converts between the element type and
/// the compute type, and makes constants.
struct ComputeTypes {
  ComputeTypes(OpBuilder &b, Location loc, Type element)
      : b(b), loc(loc), element(cast<FloatType>(element)),
        compute(this->element.getWidth() < 32 ? b.getF32Type()
                                              : this->element) {}
  Value in(Value v) const {
    return v.getType() == compute ? v
                                  : arith::ExtFOp::create(b, loc, compute, v);
  }
  Value out(Value v) const {
    return v.getType() == element ? v
                                  : arith::TruncFOp::create(b, loc, element, v);
  }
  /// An f64 value (a scalar computed in f64, as PyTorch does in Python) in
  /// the compute type.
  Value fromF64(Value v) const {
    return compute.isF64() ? v : arith::TruncFOp::create(b, loc, compute, v);
  }
  Value constant(double value) const {
    return arith::ConstantOp::create(b, loc, compute,
                                     b.getFloatAttr(compute, value));
  }
  Value f64(double value) const {
    return arith::ConstantOp::create(b, loc, b.getF64Type(),
                                     b.getF64FloatAttr(value));
  }
  Value toF64(Value v) const {
    return v.getType().isF64()
               ? v
               : arith::ExtFOp::create(b, loc, b.getF64Type(), v);
  }
  OpBuilder &b;
  Location loc;
  FloatType element, compute;
};

struct AdamWOpLowering : OpConversionPattern<lora::AdamWOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(lora::AdamWOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    double beta1 = op.getBeta1().convertToDouble(),
           beta2 = op.getBeta2().convertToDouble(),
           eps = op.getEps().convertToDouble(),
           decay = op.getWeightDecay().convertToDouble();
    Type element = op.getParam().getType().getElementType();
    SmallVector<Value> results = elementwise(
        rewriter, op.getLoc(), {adaptor.getGrad()},
        {adaptor.getLr(), adaptor.getStep()},
        {adaptor.getParam(), adaptor.getExpAvg(), adaptor.getExpAvgSq()},
        [&](OpBuilder &b, Location loc, ValueRange args) {
          ComputeTypes t(b, loc, element);
          Value g = t.in(args[0]), p = t.in(args[3]), m = t.in(args[4]),
                v = t.in(args[5]);
          // Scalars in f64, as torch computes them in Python floats.
          Value lr = t.toF64(args[1]);
          Value step = arith::SIToFPOp::create(b, loc, b.getF64Type(), args[2]);
          Value keep = arith::SubFOp::create(
              b, loc, t.f64(1.0),
              arith::MulFOp::create(b, loc, lr, t.f64(decay)));
          p = arith::MulFOp::create(b, loc, p, t.fromF64(keep));
          // m.lerp_(g, 1 - beta1)
          m = arith::AddFOp::create(
              b, loc, m,
              arith::MulFOp::create(b, loc, t.constant(1.0 - beta1),
                                    arith::SubFOp::create(b, loc, g, m)));
          v = arith::AddFOp::create(
              b, loc, arith::MulFOp::create(b, loc, v, t.constant(beta2)),
              arith::MulFOp::create(b, loc, t.constant(1.0 - beta2),
                                    arith::MulFOp::create(b, loc, g, g)));
          auto correction = [&](double beta) {
            return arith::SubFOp::create(
                b, loc, t.f64(1.0),
                math::PowFOp::create(b, loc, t.f64(beta), step));
          };
          Value stepSize =
              t.fromF64(arith::DivFOp::create(b, loc, lr, correction(beta1)));
          Value root2 =
              t.fromF64(math::SqrtOp::create(b, loc, correction(beta2)));
          Value denom = arith::AddFOp::create(
              b, loc,
              arith::DivFOp::create(b, loc, math::SqrtOp::create(b, loc, v),
                                    root2),
              t.constant(eps));
          p = arith::SubFOp::create(
              b, loc, p,
              arith::MulFOp::create(b, loc, stepSize,
                                    arith::DivFOp::create(b, loc, m, denom)));
          return SmallVector<Value>{t.out(p), t.out(m), t.out(v)};
        });
    rewriter.replaceOp(op, results);
    return success();
  }
};

struct SgdOpLowering : OpConversionPattern<lora::SgdOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(lora::SgdOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    double momentum = op.getMomentum().convertToDouble(),
           decay = op.getWeightDecay().convertToDouble();
    bool nesterov = op.getNesterov();
    Type element = op.getParam().getType().getElementType();
    SmallVector<Value> results = elementwise(
        rewriter, op.getLoc(), {adaptor.getGrad()}, {adaptor.getLr()},
        {adaptor.getParam(), adaptor.getMomentumBuffer()},
        [&](OpBuilder &b, Location loc, ValueRange args) {
          ComputeTypes t(b, loc, element);
          Value d = t.in(args[0]), p = t.in(args[2]), buf = t.in(args[3]);
          Value lr = t.fromF64(t.toF64(args[1]));
          if (decay != 0.0)
            d = arith::AddFOp::create(
                b, loc, d, arith::MulFOp::create(b, loc, t.constant(decay), p));
          if (momentum != 0.0) {
            buf = arith::AddFOp::create(
                b, loc,
                arith::MulFOp::create(b, loc, t.constant(momentum), buf), d);
            d = nesterov ? arith::AddFOp::create(
                               b, loc, d,
                               arith::MulFOp::create(b, loc,
                                                     t.constant(momentum), buf))
                         : buf;
          }
          p = arith::SubFOp::create(b, loc, p,
                                    arith::MulFOp::create(b, loc, lr, d));
          return SmallVector<Value>{t.out(p), t.out(buf)};
        });
    rewriter.replaceOp(op, results);
    return success();
  }
};

struct ConvertLoraToLinalgPass
    : lora::impl::ConvertLoraToLinalgBase<ConvertLoraToLinalgPass> {
  using Base::Base;
  void runOnOperation() override {
    ConversionTarget target(getContext());
    target.addIllegalOp<lora::LinearOp, lora::LinearGradOp, lora::DropoutOp,
                        lora::AdamWOp, lora::SgdOp>();
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                           math::MathDialect, tensor::TensorDialect>();
    RewritePatternSet patterns(&getContext());
    lora::populateLoraToLinalgConversionPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace

void lora::populateLoraToLinalgConversionPatterns(RewritePatternSet &patterns) {
  patterns.add<LinearOpLowering, LinearGradOpLowering, DropoutOpLowering,
               AdamWOpLowering, SgdOpLowering>(patterns.getContext());
}
