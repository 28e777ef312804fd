//===- Optimizer.cpp - optimizer updates in a train step ------------------===//
//
// lora-autodiff's train step returns (loss, dL/dP...); this pass adds the
// optimizer's inputs (learning rate, step, per-parameter state) and
// replaces the gradients by the updated parameters and state, one
// lora.adamw or lora.sgd per parameter. The optimizer's hyper-parameters
// other than the learning rate are compile-time attributes.
//
//===----------------------------------------------------------------------===//

#include "LinearLayers.h"

#include "lora/Dialect/Lora/Lora.h"
#include "lora/Passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/Verifier.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORAOPTIMIZER
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;
using namespace mlir::lora;

namespace {
struct LoraOptimizerPass : lora::impl::LoraOptimizerBase<LoraOptimizerPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (optimizer != "adamw" && optimizer != "sgd") {
      module.emitError() << "unknown optimizer '" << optimizer
                         << "'; expected adamw or sgd";
      return signalPassFailure();
    }
    auto step = module.lookupSymbol<func::FuncOp>(function);
    if (!step || step.isExternal() || !step.getBody().hasOneBlock()) {
      module.emitError() << "no function '" << function
                         << "' with one block to add the optimizer to";
      return signalPassFailure();
    }
    if (failed(rewrite(step)))
      return signalPassFailure();
  }

  /// The LoRA parameters of `step`, or failure when its results are not
  /// (loss, one gradient per parameter, in order).
  FailureOr<SmallVector<std::pair<BlockArgument, StringRef>>>
  getParams(func::FuncOp step) {
    SmallVector<std::pair<BlockArgument, StringRef>> params;
    for (BlockArgument arg : step.getArguments())
      if (auto name = step.getArgAttrOfType<StringAttr>(
              arg.getArgNumber(), LoraDialect::getParamAttrName()))
        params.push_back({arg, name.getValue()});
    bool matches = !params.empty() && step.getNumResults() == params.size() + 1;
    for (auto [i, param] : llvm::enumerate(params)) {
      auto name = matches
                      ? step.getResultAttrOfType<StringAttr>(i + 1, "onnx.name")
                      : StringAttr();
      matches = name && name.getValue() == (param.second + ".grad").str() &&
                step.getResultTypes()[i + 1] == param.first.getType();
    }
    if (!matches)
      return step.emitError()
             << "'" << function
             << "' does not return the loss and one gradient per LoRA "
                "parameter ('<param>.grad'); run lora-autodiff first";
    return params;
  }

  LogicalResult rewrite(func::FuncOp step) {
    FailureOr<SmallVector<std::pair<BlockArgument, StringRef>>> params =
        getParams(step);
    if (failed(params))
      return failure();
    MLIRContext *context = step.getContext();
    Location loc = step.getLoc();
    bool adamw = optimizer == "adamw";
    FailureOr<BlockArgument> lrArg = addNamedInput(
        step, RankedTensorType::get({}, Float64Type::get(context)), "lr", loc,
        "the optimizer");
    if (failed(lrArg))
      return failure();
    Value lr = *lrArg;
    Value stepNumber;
    if (adamw) {
      FailureOr<BlockArgument> arg = addNamedInput(
          step, RankedTensorType::get({}, IntegerType::get(context, 64)),
          "step", loc, "the optimizer");
      if (failed(arg))
        return failure();
      stepNumber = *arg;
    }

    Block &body = step.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    OpBuilder b(ret);
    SmallVector<Value> newParams, newStates;
    SmallVector<std::string> stateNames;
    for (auto [i, param] : llvm::enumerate(*params)) {
      auto [value, name] = param;
      Value grad = ret.getOperand(i + 1);
      auto state = [&](StringRef suffix) -> Value {
        stateNames.push_back((name + "." + suffix).str());
        unsigned index = step.getNumArguments();
        (void)step.insertArgument(index, value.getType(),
                                  b.getDictionaryAttr(b.getNamedAttr(
                                      LoraDialect::getStateAttrName(),
                                      b.getStringAttr(stateNames.back()))),
                                  loc);
        return step.getArgument(index);
      };
      Operation *update;
      if (adamw) {
        Value expAvg = state("exp_avg");
        Value expAvgSq = state("exp_avg_sq");
        update = AdamWOp::create(
            b, loc, value.getType(), value.getType(), value.getType(), value,
            grad, expAvg, expAvgSq, lr, stepNumber, b.getF64FloatAttr(beta1),
            b.getF64FloatAttr(beta2), b.getF64FloatAttr(eps),
            b.getF64FloatAttr(weightDecay));
      } else {
        // Without momentum, SGD keeps no state: the buffer is a zero
        // constant and its update is dropped.
        Value buffer =
            momentum > 0
                ? state("momentum_buffer")
                : Value(tosa::ConstOp::create(
                      b, loc, value.getType(),
                      DenseElementsAttr::get(cast<ShapedType>(value.getType()),
                                             b.getZeroAttr(getElementTypeOrSelf(
                                                 value.getType())))));
        update = SgdOp::create(b, loc, value.getType(), value.getType(), value,
                               grad, buffer, lr, b.getF64FloatAttr(momentum),
                               b.getF64FloatAttr(weightDecay),
                               nesterov ? b.getUnitAttr() : UnitAttr());
      }
      if (failed(verify(update)))
        return failure();
      newParams.push_back(update->getResult(0));
      for (Value result : update->getResults().drop_front())
        if (adamw || momentum > 0)
          newStates.push_back(result);
    }

    SmallVector<Value> results{ret.getOperand(0)};
    llvm::append_range(results, newParams);
    llvm::append_range(results, newStates);
    func::ReturnOp::create(b, ret.getLoc(), results);
    ret.erase();
    step.setFunctionType(FunctionType::get(context, step.getArgumentTypes(),
                                           ValueRange(results).getTypes()));
    SmallVector<Attribute> names{getOnnxNameDict(context, "loss")};
    for (auto &param : *params)
      names.push_back(getOnnxNameDict(context, param.second));
    for (StringRef state : stateNames)
      names.push_back(getOnnxNameDict(context, state));
    step.setAllResultAttrs(names);
    return success();
  }
};
} // namespace
