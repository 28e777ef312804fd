//===- UnmergeLora.cpp - undo lora-merge ----------------------------------===//
//
// For a matmul marked `lora.merged`: W = W' - s·A·B (f64, rounded once), and
// the matmul becomes lora.linear(x, W, A, B) with A and B function
// arguments again (initial values: the adapter's, or those recorded at
// merge).
//
//===----------------------------------------------------------------------===//

#include "LinearLayers.h"

#include "lora/Adapter/Peft.h"
#include "lora/Passes/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORAUNMERGE
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;
using namespace mlir::lora;

namespace {
struct LoraUnmergePass : lora::impl::LoraUnmergeBase<LoraUnmergePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (!adapter.empty()) {
      FailureOr<PeftAdapter> loaded = loadAdapter(module, adapter);
      if (failed(loaded))
        return signalPassFailure();
      weights = std::move(*loaded);
    }
    SmallVector<tosa::MatMulOp> merged;
    module.walk([&](tosa::MatMulOp op) {
      if (op->hasAttr(kMergedAttrName))
        merged.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (tosa::MatMulOp op : merged)
      if (failed(unmerge(op, rewriter)))
        return signalPassFailure();
  }

  LogicalResult unmerge(tosa::MatMulOp matmul, IRRewriter &rewriter) {
    auto record = matmul->getAttrOfType<DictionaryAttr>(kMergedAttrName);
    auto moduleName =
        record ? record.getAs<StringAttr>("module") : StringAttr();
    auto rank = record ? record.getAs<IntegerAttr>("rank") : IntegerAttr();
    auto scaleAttr = record ? record.getAs<FloatAttr>("scale") : FloatAttr();
    auto recordedA =
        record ? record.getAs<ElementsAttr>("lora_a") : ElementsAttr();
    auto recordedB =
        record ? record.getAs<ElementsAttr>("lora_b") : ElementsAttr();
    auto paramA = record ? record.getAs<StringAttr>("param_a") : StringAttr();
    auto paramB = record ? record.getAs<StringAttr>("param_b") : StringAttr();
    if (!moduleName || !rank || !scaleAttr || !recordedA || !recordedB ||
        !paramA || !paramB)
      return matmul.emitError()
             << "malformed '" << kMergedAttrName << "' attribute: " << record;
    auto weightType = cast<RankedTensorType>(matmul.getB().getType());
    int64_t k = weightType.getDimSize(1), n = weightType.getDimSize(2);
    int64_t r = rank.getInt();
    if (r <= 0 || recordedA.getNumElements() != k * r ||
        recordedB.getNumElements() != r * n)
      return matmul.emitError()
             << "malformed '" << kMergedAttrName << "' attribute: "
             << "lora_a must be [" << k << ", r], lora_b [r, " << n
             << "] with r = rank > 0, got " << record;
    auto func = matmul->getParentOfType<FunctionOpInterface>();
    auto module = matmul->getParentOfType<ModuleOp>();
    if (!func || !module || !SymbolTable::symbolKnownUseEmpty(func, module))
      return matmul.emitError()
             << "lora-unmerge adds arguments to the function of layer '"
             << moduleName.getValue() << "', which must exist and not be "
             << "called";
    double scale = scaleAttr.getValueAsDouble();
    FailureOr<SmallVector<double>> w = readConstantValues(matmul.getB());
    if (failed(w))
      return matmul.emitError("lora-unmerge needs a constant weight");

    SmallVector<double> a, b;
    if (weights) {
      const PeftAdapterModule *found =
          findAdapterModule(*weights, moduleName.getValue());
      if (!found || found->rank != r || found->inFeatures != k ||
          found->outFeatures != n)
        return matmul.emitError()
               << "adapter '" << adapter << "' has no " << k << " x " << n
               << " weights of rank " << r << " for module '"
               << moduleName.getValue() << "'";
      std::vector<float> fa = found->onnxA(), fb = found->onnxB();
      a.assign(fa.begin(), fa.end());
      b.assign(fb.begin(), fb.end());
      scale = found->scale;
    } else {
      FailureOr<SmallVector<double>> readA = readFloatElements(recordedA);
      FailureOr<SmallVector<double>> readB = readFloatElements(recordedB);
      if (failed(readA) || failed(readB))
        return matmul.emitError("cannot read the recorded LoRA weights");
      a = std::move(*readA);
      b = std::move(*readB);
    }
    addLowRankProduct(*w, a, b, k, r, n, -scale);

    Type element = weightType.getElementType();
    auto aType = RankedTensorType::get({k, r}, element);
    auto bType = RankedTensorType::get({r, n}, element);
    FailureOr<BlockArgument> argA =
        getOrAddParam(func, aType, paramA.getValue(), a, matmul.getLoc());
    FailureOr<BlockArgument> argB =
        getOrAddParam(func, bType, paramB.getValue(), b, matmul.getLoc());
    if (failed(argA) || failed(argB))
      return matmul.emitError("cannot add LoRA arguments");

    rewriter.setInsertionPoint(matmul);
    auto plainType = RankedTensorType::get({k, n}, element);
    Value weight = arith::ConstantOp::create(
        rewriter, matmul.getB().getLoc(),
        cast<TypedAttr>(makeFloatElements(
            plainType, *w, (moduleName.getValue() + ".weight").str())));
    auto resultType = cast<RankedTensorType>(matmul.getType());
    Value linear = LinearOp::create(
        rewriter, matmul.getLoc(), resultType.clone(element), matmul.getA(),
        weight, *argA, *argB, /*bias=*/Value(), rewriter.getI64IntegerAttr(r),
        rewriter.getF64FloatAttr(scale));
    if (element != resultType.getElementType())
      linear =
          tosa::CastOp::create(rewriter, matmul.getLoc(), resultType, linear);
    Value mergedWeight = matmul.getB();
    rewriter.replaceOp(matmul, linear);
    eraseIfDead(rewriter, mergedWeight);
    return success();
  }

  /// The argument named `name` when the function still has it (merge keeps
  /// parameters that have other uses), else a new one.
  static FailureOr<BlockArgument>
  getOrAddParam(FunctionOpInterface func, RankedTensorType type, StringRef name,
                ArrayRef<double> init, Location loc) {
    for (BlockArgument arg : func.getArguments()) {
      auto param = func.getArgAttrOfType<StringAttr>(
          arg.getArgNumber(), LoraDialect::getParamAttrName());
      if (!param || param.getValue() != name)
        continue;
      if (arg.getType() != type)
        return failure();
      return arg;
    }
    return addLoraParam(func, type, name, init, loc);
  }

  std::optional<PeftAdapter> weights;
};
} // namespace
