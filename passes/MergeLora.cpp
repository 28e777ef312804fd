//===- MergeLora.cpp - fold LoRA branches into the weights ----------------===//
//
// W' = W + s·A·B, computed on the host in f64 and rounded once to W's type;
// the lora.linear becomes the plain linear x·W' (+ bias). The matmul keeps
// what lora-unmerge needs in `lora.merged`.
//
//===----------------------------------------------------------------------===//

#include "LinearLayers.h"

#include "lora/Adapter/Peft.h"
#include "lora/Passes/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/BitVector.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORAMERGE
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;
using namespace mlir::lora;

namespace {
struct LoraMergePass : lora::impl::LoraMergeBase<LoraMergePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (!adapter.empty()) {
      FailureOr<PeftAdapter> loaded = loadAdapter(module, adapter);
      if (failed(loaded))
        return signalPassFailure();
      weights = std::move(*loaded);
    }
    SmallVector<LinearOp> ops;
    module.walk([&](LinearOp op) { ops.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (LinearOp op : ops)
      if (failed(merge(op, rewriter)))
        return signalPassFailure();
    eraseUnusedParams(module);
  }

  /// The parameter name of a LoRA operand, or "".
  static StringRef paramName(Value value) {
    auto arg = dyn_cast<BlockArgument>(value);
    if (!arg)
      return "";
    auto func = dyn_cast<FunctionOpInterface>(arg.getOwner()->getParentOp());
    auto name = func ? func.getArgAttrOfType<StringAttr>(
                           arg.getArgNumber(), LoraDialect::getParamAttrName())
                     : StringAttr();
    return name ? name.getValue() : "";
  }

  LogicalResult merge(LinearOp op, IRRewriter &rewriter) {
    int64_t k = op.getInputSize(), n = op.getOutputSize(), r = op.getRank();
    double scale = op.getScale().convertToDouble();
    if (op.getLoraInput())
      return op.emitError("lora-merge cannot merge a branch that reads its "
                          "own input (lora_input, e.g. LoRA dropout) into W");
    FailureOr<SmallVector<double>> w = readConstantValues(op.getWeight());
    if (failed(w))
      return op.emitError("lora-merge needs a constant weight");
    StringRef paramA = paramName(op.getLoraA()),
              paramB = paramName(op.getLoraB());
    std::string module = getModuleOfParam(paramA).str();
    if (module.empty())
      module = getModuleName(op, getConstantSource(op.getWeight()));
    if (module.empty())
      module = "linear";

    SmallVector<double> a, b;
    if (weights) {
      const PeftAdapterModule *found = findAdapterModule(*weights, module);
      if (!found)
        return op.emitError()
               << "adapter '" << adapter << "' has no weights for module '"
               << module << "'";
      if (found->rank != r || found->inFeatures != k || found->outFeatures != n)
        return op.emitError()
               << "adapter module '" << found->name
               << "' has K x N = " << found->inFeatures << " x "
               << found->outFeatures << " and rank " << found->rank
               << ", the layer " << k << " x " << n << " and rank " << r;
      std::vector<float> fa = found->onnxA(), fb = found->onnxB();
      a.assign(fa.begin(), fa.end());
      b.assign(fb.begin(), fb.end());
      scale = found->scale;
    } else {
      FailureOr<SmallVector<double>> readA = readParamValues(op.getLoraA());
      FailureOr<SmallVector<double>> readB = readParamValues(op.getLoraB());
      if (failed(readA) || failed(readB))
        return op.emitError()
               << "no values to merge for module '" << module
               << "': give adapter=DIR, or A and B as arguments with "
                  "lora.init or as constants";
      a = std::move(*readA);
      b = std::move(*readB);
    }
    addLowRankProduct(*w, a, b, k, r, n, scale);

    rewriter.setInsertionPoint(op);
    auto weightType = cast<RankedTensorType>(op.getWeight().getType());
    Type element = weightType.getElementType();
    Value merged = arith::ConstantOp::create(
        rewriter, op.getWeight().getLoc(),
        cast<TypedAttr>(
            makeFloatElements(weightType, *w, module + ".weight.merged")));
    tosa::MatMulOp matmul;
    FailureOr<Value> plain =
        buildTosaLinear(rewriter, op.getLoc(), op.getInput(), merged,
                        op.getBias(), op.getType(), &matmul);
    if (failed(plain))
      return op.emitError("lora-merge needs static shapes");
    auto aType = RankedTensorType::get({k, r}, element);
    auto bType = RankedTensorType::get({r, n}, element);
    NamedAttribute record[] = {
        rewriter.getNamedAttr("module", rewriter.getStringAttr(module)),
        rewriter.getNamedAttr("rank", rewriter.getI64IntegerAttr(r)),
        rewriter.getNamedAttr("scale", rewriter.getF64FloatAttr(scale)),
        rewriter.getNamedAttr("lora_a",
                              makeFloatElements(aType, a, module + ".lora_A")),
        rewriter.getNamedAttr("lora_b",
                              makeFloatElements(bType, b, module + ".lora_B")),
        rewriter.getNamedAttr(
            "param_a", rewriter.getStringAttr(
                           paramA.empty() ? getLoraParamName(module, true)
                                          : paramA.str())),
        rewriter.getNamedAttr(
            "param_b", rewriter.getStringAttr(
                           paramB.empty() ? getLoraParamName(module, false)
                                          : paramB.str()))};
    matmul->setAttr(kMergedAttrName, rewriter.getDictionaryAttr(record));
    Value oldWeight = op.getWeight(), oldA = op.getLoraA(),
          oldB = op.getLoraB();
    rewriter.replaceOp(op, *plain);
    for (Value dead : {oldWeight, oldA, oldB})
      eraseIfDead(rewriter, dead);
    return success();
  }

  /// Removes the LoRA parameter arguments nothing reads any more.
  static void eraseUnusedParams(ModuleOp module) {
    module.walk([&](FunctionOpInterface func) {
      // A called function keeps its signature (its callers pass A and B).
      if (func.isExternal() || !SymbolTable::symbolKnownUseEmpty(func, module))
        return;
      llvm::BitVector unused(func.getNumArguments());
      for (BlockArgument arg : func.getArguments())
        if (arg.use_empty() && func.getArgAttr(arg.getArgNumber(),
                                               LoraDialect::getParamAttrName()))
          unused.set(arg.getArgNumber());
      if (unused.any())
        (void)func.eraseArguments(unused);
    });
  }

  std::optional<PeftAdapter> weights;
};
} // namespace
