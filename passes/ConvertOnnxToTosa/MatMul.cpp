//===- MatMul.cpp - MatMul and Gemm to TOSA -------------------------------===//
//
// tosa.matmul is batched [B,M,K] x [B,K,N] -> [B,M,N] with equal batch sizes.
// A weight without batch dims (the linear-layer case) folds the activation's
// batch dims into M, so the whole layer is one [1, batch*M, K] x [1, K, N]
// matmul; otherwise both sides are broadcast to the common batch shape.
//
//===----------------------------------------------------------------------===//

#include "OnnxToTosa.h"

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::onnx_to_tosa;

/// Broadcasts `value` (rank = batch.size() + 2) to `batch` x its last two dims.
static Value broadcastBatch(OpBuilder &b, Location loc, Value value,
                            ArrayRef<int64_t> batch) {
  auto type = cast<RankedTensorType>(value.getType());
  SmallVector<int64_t> multiples;
  bool needed = false;
  for (auto [i, dim] : llvm::enumerate(batch)) {
    int64_t have = type.getDimSize(i);
    multiples.push_back(have == dim ? 1 : dim);
    needed |= have != dim;
  }
  if (!needed)
    return value;
  multiples.append({1, 1});
  SmallVector<int64_t> shape(batch);
  shape.append({type.getDimSize(type.getRank() - 2),
                type.getDimSize(type.getRank() - 1)});
  return tosa::TileOp::create(b, loc, type.clone(shape), value,
                              shapeValue(b, loc, multiples));
}

/// y = a x b with numpy matmul semantics, for ranked float operands.
static FailureOr<Value> buildMatMul(Node &node, Value a, Value b) {
  OpBuilder &rw = node.rewriter;
  Location loc = node.loc;
  auto aType = cast<RankedTensorType>(a.getType());
  auto bType = cast<RankedTensorType>(b.getType());
  if (!isa<FloatType>(aType.getElementType()) ||
      aType.getElementType() != bType.getElementType()) {
    node.emitError() << "operands " << aType << " and " << bType
                     << " must have the same floating-point element type";
    return failure();
  }
  if (aType.getRank() == 0 || bType.getRank() == 0) {
    node.emitError() << "operands must not be scalars";
    return failure();
  }
  // Vectors become matrices (numpy rules) and lose the dim again at the end.
  bool aVector = aType.getRank() == 1, bVector = bType.getRank() == 1;
  if (aVector)
    a = reshape(rw, loc, a, {1, aType.getDimSize(0)});
  if (bVector)
    b = reshape(rw, loc, b, {bType.getDimSize(0), 1});
  aType = cast<RankedTensorType>(a.getType());
  bType = cast<RankedTensorType>(b.getType());
  int64_t m = aType.getDimSize(aType.getRank() - 2);
  int64_t k = aType.getDimSize(aType.getRank() - 1);
  int64_t kb = bType.getDimSize(bType.getRank() - 2);
  int64_t n = bType.getDimSize(bType.getRank() - 1);
  if (k != kb) {
    node.emitError() << "inner dimensions do not match: " << aType << " x "
                     << bType;
    return failure();
  }
  auto batch = broadcastShape(aType.getShape().drop_back(2),
                              bType.getShape().drop_back(2));
  if (failed(batch)) {
    node.emitError() << "batch dimensions of " << aType << " and " << bType
                     << " do not broadcast";
    return failure();
  }
  Type elementType = aType.getElementType();
  int64_t batchSize = 1;
  for (int64_t d : *batch)
    batchSize *= d;

  Value result;
  int64_t bBatch = 1;
  for (int64_t d : bType.getShape().drop_back(2))
    bBatch *= d;
  if (bBatch == 1) {
    // Weight-like right side: fold every batch dim of `a` into M.
    Value a3 = reshape(rw, loc, a, {1, batchSize * m, k});
    Value b3 = reshape(rw, loc, b, {1, k, n});
    result = tosa::MatMulOp::create(
        rw, loc, RankedTensorType::get({1, batchSize * m, n}, elementType), a3,
        b3);
  } else {
    auto expand = [&](Value v, RankedTensorType type) {
      SmallVector<int64_t> shape(batch->size() + 2 - type.getRank(), 1);
      llvm::append_range(shape, type.getShape());
      return broadcastBatch(rw, loc, reshape(rw, loc, v, shape), *batch);
    };
    Value a3 = reshape(rw, loc, expand(a, aType), {batchSize, m, k});
    Value b3 = reshape(rw, loc, expand(b, bType), {batchSize, k, n});
    result = tosa::MatMulOp::create(
        rw, loc, RankedTensorType::get({batchSize, m, n}, elementType), a3, b3);
  }
  SmallVector<int64_t> shape(*batch);
  if (!aVector)
    shape.push_back(m);
  if (!bVector)
    shape.push_back(n);
  return reshape(rw, loc, result, shape);
}

static LogicalResult convertMatMul(Node &node) {
  auto result = buildMatMul(node, node.input(0), node.input(1));
  if (failed(result))
    return failure();
  return node.replace(*result);
}

/// Y = alpha * op(A) x op(B) + beta * C, op = optional transpose.
static LogicalResult convertGemm(Node &node) {
  OpBuilder &rw = node.rewriter;
  Location loc = node.loc;
  Value a = node.input(0), b = node.input(1), c = node.input(2);
  if (node.rank(0) != 2 || node.rank(1) != 2) {
    node.emitError() << "A and B must be 2-D, got " << node.type(0) << " and "
                     << node.type(1);
    return failure();
  }
  if (node.intAttr("transA", 0))
    a = transpose(rw, loc, a, {1, 0});
  if (node.intAttr("transB", 0))
    b = transpose(rw, loc, b, {1, 0});
  auto product = buildMatMul(node, a, b);
  if (failed(product))
    return failure();
  Value y = *product;
  auto yType = cast<RankedTensorType>(y.getType());
  float alpha = node.floatAttr("alpha", 1.0f);
  float beta = node.floatAttr("beta", 1.0f);
  if (alpha != 1.0f)
    y = mul(rw, loc, y, scalar(rw, loc, yType.getElementType(), alpha, 2));
  if (c && beta != 0.0f) {
    if (failed(broadcastShape(yType.getShape(), node.shape(2)))) {
      node.emitError() << "C of type " << node.type(2)
                       << " does not broadcast to " << yType;
      return failure();
    }
    if (beta != 1.0f)
      c = mul(rw, loc, c,
              scalar(rw, loc, yType.getElementType(), beta, node.rank(2)));
    y = binary<tosa::AddOp>(rw, loc, y, c);
  }
  return node.replace(y);
}

void onnx_to_tosa::addMatMulConverters(SmallVectorImpl<Converter> &converters) {
  converters.push_back({"MatMul", 1, convertMatMul});
  converters.push_back({"Gemm", 1, convertGemm});
}
