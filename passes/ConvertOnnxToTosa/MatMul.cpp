//===- MatMul.cpp - MatMul and Gemm to TOSA -------------------------------===//
//
// tosa.matmul is batched [B,M,K] x [B,K,N] -> [B,M,N] with equal batch sizes.
// A weight without batch dims (the linear-layer case) folds the activation's
// batch dims into M, so the whole layer is one [1, batch*M, K] x [1, K, N]
// matmul; otherwise both sides are broadcast to the common batch shape.
//
// f16 and bf16 products accumulate in f32 (tosa.matmul's wide accumulator)
// and are rounded to the operand type once, after Gemm's alpha/beta terms.
// Integer matmuls accumulate in the operand type and wrap like ONNX Runtime.
//
//===----------------------------------------------------------------------===//

#include "OnnxToTosa.h"

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::onnx_to_tosa;

/// a x b with numpy matmul semantics, in `accumulatorType` of the operands'
/// element type. Float operands of the same type, or signless i32/i64.
static FailureOr<Value> buildMatMul(Node &node, Value a, Value b) {
  OpBuilder &rw = node.rewriter;
  Location loc = node.loc;
  RankedTensorType aType = tensorType(a), bType = tensorType(b);
  Type elementType = aType.getElementType();
  bool supported = isa<FloatType>(elementType) ||
                   elementType.isSignlessInteger(32) ||
                   elementType.isSignlessInteger(64);
  if (!supported || elementType != bType.getElementType()) {
    node.emitError() << "operands " << aType << " and " << bType
                     << " must have the same floating-point, i32 or i64 "
                        "element type";
    return failure();
  }
  if (aType.getRank() == 0 || bType.getRank() == 0) {
    node.emitError() << "operands " << aType << " and " << bType
                     << " must not be scalars";
    return failure();
  }
  // Vectors become matrices (numpy rules) and lose the dim again at the end.
  bool aVector = aType.getRank() == 1, bVector = bType.getRank() == 1;
  SmallVector<int64_t> aShape(aType.getShape()), bShape(bType.getShape());
  if (aVector)
    aShape.insert(aShape.begin(), 1);
  if (bVector)
    bShape.push_back(1);
  int64_t m = aShape[aShape.size() - 2], k = aShape.back();
  int64_t kb = bShape[bShape.size() - 2], n = bShape.back();
  if (k != kb) {
    node.emitError() << "inner dimensions do not match: " << aType << " x "
                     << bType;
    return failure();
  }
  ArrayRef<int64_t> aBatch = ArrayRef(aShape).drop_back(2);
  ArrayRef<int64_t> bBatch = ArrayRef(bShape).drop_back(2);
  auto batch = broadcastShape(aBatch, bBatch);
  if (failed(batch)) {
    node.emitError() << "batch dimensions of " << aType << " and " << bType
                     << " do not broadcast";
    return failure();
  }
  Type accType = accumulatorType(elementType);
  int64_t batchSize = 1;
  for (int64_t d : *batch)
    batchSize *= d;

  // The quantization builder of tosa.matmul only handles float operands, so
  // the (zero) zero points are built here.
  Value zeroPoint =
      splat(rw, loc, RankedTensorType::get({1}, elementType), 0.0);
  auto matmul = [&](Value a3, Value b3) -> Value {
    ArrayRef<int64_t> aDims = tensorType(a3).getShape();
    return tosa::MatMulOp::create(
        rw, loc, RankedTensorType::get({aDims[0], aDims[1], n}, accType), a3,
        b3, zeroPoint, zeroPoint);
  };
  Value result;
  if (llvm::all_of(bBatch, [](int64_t d) { return d == 1; })) {
    // Weight-like right side: fold every batch dim of `a` into M.
    Value a3 = reshape(rw, loc, a, {1, batchSize * m, k});
    Value b3 = reshape(rw, loc, b, {1, k, n});
    result = matmul(a3, b3);
  } else {
    auto expand = [&](Value v, ArrayRef<int64_t> vShape) {
      SmallVector<int64_t> shape(batch->size() + 2 - vShape.size(), 1);
      llvm::append_range(shape, vShape);
      SmallVector<int64_t> full(*batch);
      full.append(shape.end() - 2, shape.end());
      return broadcastTo(rw, loc, reshape(rw, loc, v, shape), full);
    };
    Value a3 = reshape(rw, loc, expand(a, aShape), {batchSize, m, k});
    Value b3 = reshape(rw, loc, expand(b, bShape), {batchSize, k, n});
    result = matmul(a3, b3);
  }
  SmallVector<int64_t> shape(*batch);
  if (!aVector)
    shape.push_back(m);
  if (!bVector)
    shape.push_back(n);
  return reshape(rw, loc, result, shape);
}

static LogicalResult convertMatMul(Node &node) {
  if (failed(checkRequiredInputs(node, 2)) || failed(checkNumOutputs(node, 1)))
    return failure();
  auto result = buildMatMul(node, node.input(0), node.input(1));
  if (failed(result))
    return failure();
  return node.replace(
      castTo(node.rewriter, node.loc, *result, node.elementType(0)));
}

/// Y = alpha * op(A) x op(B) + beta * C, op = optional transpose. C is
/// optional from opset 11 on and broadcasts to [M, N] one way (scalar, [N],
/// [M, 1], [1, N] or [M, N]). Like ONNX Runtime, C is not read when beta is
/// 0.
static LogicalResult convertGemm(Node &node) {
  if (failed(checkRequiredInputs(node, node.opset() < 11 ? 3 : 2)) ||
      failed(checkNumOutputs(node, 1)))
    return failure();
  Value a = node.input(0), b = node.input(1), c = node.input(2);
  if (node.rank(0) != 2 || node.rank(1) != 2) {
    node.emitError() << "A and B must be 2-D, got " << node.type(0) << " and "
                     << node.type(1);
    return failure();
  }
  Type elementType = node.elementType(0);
  if (!isa<FloatType>(elementType) || node.elementType(1) != elementType) {
    node.emitError() << "A and B of types " << node.type(0) << " and "
                     << node.type(1)
                     << " must have the same floating-point element type";
    return failure();
  }
  bool transA = node.intAttr("transA", 0), transB = node.intAttr("transB", 0);
  int64_t m = node.shape(0)[transA ? 1 : 0], k = node.shape(0)[transA ? 0 : 1];
  int64_t kb = node.shape(1)[transB ? 1 : 0], n = node.shape(1)[transB ? 0 : 1];
  if (k != kb) {
    node.emitError() << "inner dimensions of op(A) [" << m << ", " << k
                     << "] and op(B) [" << kb << ", " << n << "] do not match";
    return failure();
  }
  float alpha = node.floatAttr("alpha", 1.0f);
  float beta = node.floatAttr("beta", 1.0f);
  if (c && beta != 0.0f) {
    auto shape = broadcastShape({m, n}, node.shape(2));
    if (failed(shape) || ArrayRef<int64_t>(*shape) != ArrayRef<int64_t>{m, n} ||
        node.elementType(2) != elementType) {
      node.emitError() << "C of type " << node.type(2)
                       << " does not broadcast to the result type "
                       << RankedTensorType::get({m, n}, elementType);
      return failure();
    }
  }

  OpBuilder &rw = node.rewriter;
  Location loc = node.loc;
  if (transA)
    a = transpose(rw, loc, a, {1, 0});
  if (transB)
    b = transpose(rw, loc, b, {1, 0});
  auto product = buildMatMul(node, a, b);
  if (failed(product))
    return failure();
  Value y = *product;
  Type accType = tensorType(y).getElementType();
  if (alpha != 1.0f)
    y = mul(rw, loc, y, scalar(rw, loc, accType, alpha, 2));
  if (c && beta != 0.0f) {
    c = castTo(rw, loc, c, accType);
    if (beta != 1.0f)
      c = mul(rw, loc, c, scalar(rw, loc, accType, beta, node.rank(2)));
    y = binary<tosa::AddOp>(rw, loc, y, c);
  }
  return node.replace(castTo(rw, loc, y, elementType));
}

void onnx_to_tosa::addMatMulConverters(SmallVectorImpl<Converter> &converters) {
  converters.push_back({"MatMul", 1, convertMatMul});
  converters.push_back({"Gemm", 1, convertGemm});
}
