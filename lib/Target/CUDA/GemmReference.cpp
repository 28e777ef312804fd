//===- GemmReference.cpp - the generated kernels' math in linalg ----------===//
//
// What each generated kernel computes, as linalg on the same memrefs: the
// launchers of `lora-generate-cuda-kernels{reference-launchers}` call this
// instead of launching, so that `--target=cuda-emulated` runs every call
// site of the tensor-core kernels (operand order, layouts, collapsed batch
// dims, fused casts) on the CPU. It follows the kernels' numerics: products
// of the bf16/f16 operands summed in f32, then scaled (LoraDown), the bias
// added (LoraLinear) and the sum converted to the output type once; only
// the order of the f32 sums differs. A dx kernel that computes dB (and dA)
// adds it into its f32 db (da), as the kernel's reduce-adds do.
//
//===----------------------------------------------------------------------===//

#include "lora/Target/Cuda.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::cuda;

/// acc += lhs · rhs over the last loop, with the operands' maps in the
/// loops ([batch,] m, n, k) and acc indexed by all loops but the last; the
/// operands are widened to f32.
static void accumulate(ImplicitLocOpBuilder &b, Value lhs, AffineMap lhsMap,
                       Value rhs, AffineMap rhsMap, Value acc) {
  MLIRContext *ctx = b.getContext();
  unsigned loops = lhsMap.getNumDims();
  AffineMap accMap = AffineMap::getMultiDimIdentityMap(loops - 1, ctx);
  accMap = AffineMap::get(loops, 0, accMap.getResults(), ctx);
  SmallVector<utils::IteratorType> iterators(loops - 1,
                                             utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  Type f32 = b.getF32Type();
  linalg::GenericOp::create(
      b, TypeRange(), ValueRange{lhs, rhs}, ValueRange{acc},
      ArrayRef<AffineMap>{lhsMap, rhsMap, accMap}, iterators,
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        Value l = arith::ExtFOp::create(nb, loc, f32, args[0]);
        Value r = arith::ExtFOp::create(nb, loc, f32, args[1]);
        Value product = arith::MulFOp::create(nb, loc, l, r);
        Value sum = arith::AddFOp::create(nb, loc, product, args[2]);
        linalg::YieldOp::create(nb, loc, sum);
      });
}

void cuda::buildGemmReference(OpBuilder &builder, Location loc,
                              const GemmKernelSpec &spec, ValueRange memrefs) {
  ImplicitLocOpBuilder b(loc, builder);
  MLIRContext *ctx = b.getContext();
  SmallVector<TensorMapParam> params = getGemmKernelParams(spec);
  assert(params.size() == memrefs.size() && "one memref per parameter");
  llvm::StringMap<Value> byRole;
  for (auto [param, memref] : llvm::zip(params, memrefs))
    byRole[param.role] = memref;
  // A fused LoraLinear is LoraDown's t, then the LoraLinear that reads it.
  if (spec.fuseDown) {
    buildGemmReference(
        builder, loc, getLoraDownProblem(spec),
        {byRole.lookup("x"), byRole.lookup("a"), byRole.lookup("t")});
    GemmKernelSpec linear = spec;
    linear.fuseDown = linear.fuseBGrad = linear.fuseAGrad = false;
    SmallVector<Value> operands;
    for (const TensorMapParam &param : getGemmKernelParams(linear))
      operands.push_back(byRole.lookup(param.role));
    buildGemmReference(builder, loc, linear, operands);
    // sum += lhsᵀ·rhs over the tokens, for the weight gradients the dx
    // kernel adds into their f32 sums (its launcher zeroed them).
    AffineExpr row = getAffineDimExpr(0, ctx), col = getAffineDimExpr(1, ctx),
               token = getAffineDimExpr(2, ctx);
    auto addTransposedProduct = [&](StringRef lhs, StringRef rhs,
                                    StringRef sum) {
      accumulate(b, byRole.lookup(lhs), AffineMap::get(3, 0, {token, row}, ctx),
                 byRole.lookup(rhs), AffineMap::get(3, 0, {token, col}, ctx),
                 byRole.lookup(sum));
    };
    // dBᵀ = gᵀ·ts, and dA = xᵀ·dt (dt as the kernel stored it).
    if (spec.fuseBGrad)
      addTransposedProduct("x", "ts", "db");
    if (spec.fuseAGrad)
      addTransposedProduct("xa", "t", "da");
    return;
  }
  // The output is the last parameter (t for LoraDown, which has no t input).
  Value out = memrefs.back();
  auto outType = cast<MemRefType>(out.getType());

  // The f32 accumulator, shaped like the output.
  SmallVector<Value> dynamicSizes;
  for (int64_t d = 0; d < outType.getRank(); ++d)
    if (outType.isDynamicDim(d))
      dynamicSizes.push_back(memref::DimOp::create(b, out, d));
  Type f32 = b.getF32Type();
  Value acc = memref::AllocOp::create(
      b, MemRefType::get(outType.getShape(), f32), dynamicSizes);
  Value zero = arith::ConstantOp::create(b, f32, b.getZeroAttr(f32));
  linalg::FillOp::create(b, ValueRange{zero}, ValueRange{acc});

  // Loops ([batch,] m, n, k); a batched kernel's operands are indexed by
  // the batch first.
  unsigned batchLoops = spec.batched ? 1 : 0;
  AffineExpr m = getAffineDimExpr(batchLoops, ctx),
             n = getAffineDimExpr(batchLoops + 1, ctx),
             k = getAffineDimExpr(batchLoops + 2, ctx);
  auto map = [&](AffineExpr row, AffineExpr col) {
    SmallVector<AffineExpr> results;
    if (spec.batched)
      results.push_back(getAffineDimExpr(0, ctx));
    results.append({row, col});
    return AffineMap::get(batchLoops + 3, 0, results, ctx);
  };
  AffineMap xMap = spec.transposedA ? map(k, m) : map(m, k);
  AffineMap rightMap = spec.transposedB ? map(n, k) : map(k, n);
  Value right = byRole.lookup(spec.kind == GemmKind::LoraDown ? "a" : "w");
  // A w with fewer rows than N (wRows) gives the first wRows columns; the
  // rest stay zero, as the kernel's zero-filled loads give them.
  Value products = acc;
  if (spec.wRows) {
    SmallVector<OpFoldResult> sizes = memref::getMixedSizes(b, loc, acc);
    sizes.back() = b.getIndexAttr(spec.wRows);
    SmallVector<OpFoldResult> offsets(sizes.size(), b.getIndexAttr(0));
    SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
    products = memref::SubViewOp::create(b, acc, offsets, sizes, strides);
  }
  accumulate(b, byRole.lookup("x"), xMap, right, rightMap, products);
  if (spec.kind == GemmKind::LoraLinear)
    accumulate(b, byRole.lookup("t"), map(m, k), byRole.lookup("b"), rightMap,
               acc);

  // The epilogue: scale, bias, conversion to the output type.
  Type resultType = spec.resultType;
  unsigned rank = outType.getRank();
  AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, ctx);
  SmallVector<Value> inputs{acc};
  SmallVector<AffineMap> maps{identity};
  Value bias = byRole.lookup("bias");
  if (bias) {
    inputs.push_back(bias);
    maps.push_back(
        AffineMap::get(rank, 0, {getAffineDimExpr(rank - 1, ctx)}, ctx));
  }
  maps.push_back(identity);
  double scale = spec.kind == GemmKind::LoraDown ? spec.scale : 1.0;
  linalg::GenericOp::create(
      b, TypeRange(), inputs, ValueRange{out}, maps,
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value v = args[0];
        if (scale != 1.0)
          v = arith::MulFOp::create(
              nb, l, v,
              arith::ConstantOp::create(nb, l, f32, nb.getF32FloatAttr(scale)));
        if (bias)
          v = arith::AddFOp::create(
              nb, l, v, arith::ExtFOp::create(nb, l, f32, args[1]));
        if (resultType != f32)
          v = arith::TruncFOp::create(nb, l, resultType, v);
        linalg::YieldOp::create(nb, l, v);
      });
  memref::DeallocOp::create(b, acc);
}
