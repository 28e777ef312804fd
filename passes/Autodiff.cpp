//===- Autodiff.cpp - train and eval steps from a forward function --------===//
//
// The forward is cloned and a loss appended; then one reverse sweep over the
// clone's ops (a single block of TOSA and lora ops) builds the gradients:
//
//   active = values that depend on a LoRA parameter (float results of ops
//            with such an operand) ∩ values the loss depends on;
//   for each op, last to first, whose results have a gradient:
//     its rule builds the gradients of its active operands, which are
//     summed into what those operands already have.
//
// Only active operands are differentiated, so frozen weights, masks, rotary
// tables and embeddings get nothing. The loss's own derivative is written
// directly (softmax - onehot for cross-entropy) rather than differentiated
// op by op: it is shorter and better conditioned.
//
//===----------------------------------------------------------------------===//

#include "ConvertOnnxToTosa/OnnxToTosa.h"
#include "GradientRules.h"
#include "LinearLayers.h"

#include "lora/Dialect/Lora/Lora.h"
#include "lora/Passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringSwitch.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORAAUTODIFF
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::onnx_to_tosa;

namespace {

enum class LossKind { Output, CrossEntropy, CausalLM, Mse };

/// A loss appended to a function: its value and where the reverse sweep
/// starts (`seed`, whose gradient is `seedGrad`).
struct Loss {
  Value value;
  Value seed;
  Value seedGrad;
};

} // namespace

/// `value` as a 0-d tensor.
static Value toScalar(OpBuilder &b, Location loc, Value value) {
  return reshape(b, loc, value, {});
}

static int64_t numElements(Value value) {
  return tensorType(value).getNumElements();
}

/// Appends an input named `name` of `type` to `func`; null (with an error
/// naming `user`, what needs the input) when an input has that name already.
static Value addInput(func::FuncOp func, Type type, StringRef name,
                      Location loc, StringRef user = "the loss") {
  FailureOr<BlockArgument> arg = addNamedInput(func, type, name, loc, user);
  return succeeded(arg) ? Value(*arg) : Value();
}

/// Mean cross-entropy of `logits` [T, V] against `labels` [T, 1] (i64),
/// skipping `ignoreIndex`; returns the loss ([1, 1]) and d loss / d logits.
static std::pair<Value, Value> crossEntropy(OpBuilder &b, Location loc,
                                            Value logits, Value labels,
                                            int64_t ignoreIndex) {
  RankedTensorType type = tensorType(logits);
  Type i1 = b.getI1Type();
  int64_t vocab = type.getDimSize(1);
  // log softmax(l)[c] = (l[c] - m) - log Σ exp(l - m), m = max l.
  Value max = tosa::ReduceMaxOp::create(b, loc, logits, b.getI32IntegerAttr(1));
  Value shifted = binary<tosa::SubOp>(b, loc, logits, max);
  Value exps = unary<tosa::ExpOp>(b, loc, shifted);
  Value sums = reduceSum(b, loc, exps, {1});
  Value logSums = unary<tosa::LogOp>(b, loc, sums);

  auto columnsType = RankedTensorType::get({1, vocab}, b.getI64Type());
  SmallVector<int64_t> columnIndices =
      llvm::to_vector(llvm::seq<int64_t>(0, vocab));
  Value columns = tosa::ConstOp::create(
      b, loc, columnsType,
      DenseElementsAttr::get(columnsType, ArrayRef<int64_t>(columnIndices)));
  Value isLabel = binary<tosa::EqualOp>(b, loc, columns, labels, i1);
  auto select = [&](Value pred, Value onTrue, Value onFalse) {
    return selectBroadcast(b, loc, pred, onTrue, onFalse);
  };
  Value one = scalarLike(b, loc, logits, 1.0);
  Value zero = scalarLike(b, loc, logits, 0.0);
  Value picked = reduceSum(b, loc, select(isLabel, shifted, zero), {1});
  Value tokenLoss = binary<tosa::SubOp>(b, loc, logSums, picked);

  Value ignored = binary<tosa::EqualOp>(
      b, loc, labels, scalar(b, loc, b.getI64Type(), ignoreIndex, 2), i1);
  Value weight = select(ignored, zero, one);
  Value count = reduceSum(b, loc, weight, {0});
  Value loss =
      mul(b, loc, reduceSum(b, loc, mul(b, loc, tokenLoss, weight), {0}),
          unary<tosa::ReciprocalOp>(b, loc, count));

  // d loss / d l = (softmax(l) - onehot(label)) · weight / count. With every
  // label ignored the loss is 0/0 = NaN, as in PyTorch, whose gradient is
  // zero then: hence max(count, 1).
  Value perToken = unary<tosa::ReciprocalOp>(
      b, loc, binary<tosa::MaximumOp>(b, loc, count, one));
  Value softmax = mul(b, loc, exps, unary<tosa::ReciprocalOp>(b, loc, sums));
  Value onehot = select(isLabel, one, zero);
  Value grad = mul(b, loc, binary<tosa::SubOp>(b, loc, softmax, onehot),
                   mul(b, loc, weight, perToken));
  return {loss, grad};
}

/// Appends the loss of `kind` on `output` to `func` at `b`'s insertion
/// point, adding the labels or targets argument it needs.
static FailureOr<Loss> buildLoss(OpBuilder &b, func::FuncOp func, Value output,
                                 unsigned outputIndex, LossKind kind,
                                 int64_t ignoreIndex) {
  Location loc = func.getLoc();
  auto type = dyn_cast<RankedTensorType>(output.getType());
  if (!type || !type.hasStaticShape() || !isa<FloatType>(type.getElementType()))
    return func.emitError()
           << "output " << outputIndex << " is " << output.getType()
           << "; a loss needs a float tensor of static shape";
  // The loss is computed in f32, or f64 for an f64 model.
  Type computeType = type.getElementType().isF64()
                         ? type.getElementType()
                         : Float32Type::get(b.getContext());
  Loss loss;
  switch (kind) {
  case LossKind::Output: {
    if (numElements(output) != 1)
      return func.emitError()
             << "output " << outputIndex << " is " << type
             << ", not a scalar; choose a loss (loss=cross-entropy, "
                "causal-lm or mse)";
    loss.seed = castTo(b, loc, output, computeType);
    loss.value = toScalar(b, loc, loss.seed);
    loss.seedGrad = splat(b, loc, tensorType(loss.seed), 1.0);
    return loss;
  }
  case LossKind::Mse: {
    Value targets = addInput(func, type, "targets", loc);
    if (!targets)
      return failure();
    loss.seed = castTo(b, loc, output, computeType);
    Value diff = binary<tosa::SubOp>(b, loc, loss.seed,
                                     castTo(b, loc, targets, computeType));
    int64_t rank = type.getRank();
    auto all = llvm::to_vector(llvm::seq<int64_t>(0, rank));
    double n = static_cast<double>(numElements(output));
    Value sum = reduceSum(b, loc, mul(b, loc, diff, diff), all);
    loss.value = toScalar(
        b, loc, mul(b, loc, sum, scalar(b, loc, computeType, 1.0 / n, rank)));
    loss.seedGrad =
        mul(b, loc, diff, scalar(b, loc, computeType, 2.0 / n, rank));
    return loss;
  }
  case LossKind::CrossEntropy:
  case LossKind::CausalLM: {
    bool causal = kind == LossKind::CausalLM;
    int64_t rank = type.getRank();
    if (rank < (causal ? 2 : 1))
      return func.emitError()
             << "output " << outputIndex << " is " << type << "; "
             << (causal ? "causal-lm needs logits [..., sequence, vocab]"
                        : "cross-entropy needs logits [..., classes]");
    ArrayRef<int64_t> shape = type.getShape();
    int64_t vocab = shape.back();
    SmallVector<int64_t> labelShape(shape.drop_back());
    if (causal && labelShape.back() < 2)
      return func.emitError() << "output " << outputIndex << " is " << type
                              << "; causal-lm needs a sequence of at least "
                                 "2 tokens (each predicts the next)";
    Value labels = addInput(
        func, RankedTensorType::get(labelShape, b.getI64Type()), "labels", loc);
    if (!labels)
      return failure();
    Value logits = output;
    if (causal) {
      // Position i predicts the label at i + 1.
      int64_t seqAxis = rank - 2;
      SmallVector<int64_t> starts(rank, 0), sizes(shape);
      sizes[seqAxis] -= 1;
      logits = sliceValue(b, loc, logits, starts, sizes);
      SmallVector<int64_t> labelStarts(rank - 1, 0), labelSizes(labelShape);
      labelStarts[seqAxis] = 1;
      labelSizes[seqAxis] -= 1;
      labels = sliceValue(b, loc, labels, labelStarts, labelSizes);
    }
    loss.seed = castTo(b, loc, logits, computeType);
    int64_t tokens = numElements(loss.seed) / vocab;
    auto [value, grad] =
        crossEntropy(b, loc, reshape(b, loc, loss.seed, {tokens, vocab}),
                     reshape(b, loc, labels, {tokens, 1}), ignoreIndex);
    loss.value = toScalar(b, loc, value);
    loss.seedGrad = reshape(b, loc, grad, tensorType(loss.seed).getShape());
    return loss;
  }
  }
  llvm_unreachable("unknown loss");
}

/// LoRA dropout (PEFT's `lora_B(lora_A(dropout(x)))`): every lora.linear
/// whose A is a LoRA parameter reads `lora.dropout` of its input in its
/// branch, seeded by a new `dropout_seed` argument. The stream of a layer
/// is the position of its A among the LoRA parameter arguments (plus their
/// count for each earlier use of the same A), so every layer draws its own
/// mask and a runtime or a test can tell which.
static LogicalResult insertDropout(func::FuncOp func, double rate) {
  SmallVector<LinearOp> linears;
  func.walk([&](LinearOp op) { linears.push_back(op); });
  DenseMap<unsigned, int64_t> paramIndex;
  for (BlockArgument arg : func.getArguments())
    if (func.getArgAttr(arg.getArgNumber(), LoraDialect::getParamAttrName()))
      paramIndex.try_emplace(arg.getArgNumber(), paramIndex.size());
  int64_t numParams = paramIndex.size();
  Value seed;
  DenseMap<unsigned, int64_t> uses;
  for (LinearOp op : linears) {
    auto a = dyn_cast<BlockArgument>(op.getLoraA());
    if (!a || !paramIndex.count(a.getArgNumber()) || op.getLoraInput())
      continue;
    if (!seed) {
      seed = addInput(
          func,
          RankedTensorType::get({}, IntegerType::get(func.getContext(), 64)),
          "dropout_seed", func.getLoc(), "LoRA dropout");
      if (!seed)
        return failure();
    }
    int64_t stream = paramIndex.lookup(a.getArgNumber()) +
                     numParams * uses[a.getArgNumber()]++;
    OpBuilder b(op);
    Value dropped = DropoutOp::create(
        b, op.getLoc(), op.getInput().getType(), op.getInput(), seed,
        b.getF64FloatAttr(rate), b.getI64IntegerAttr(stream));
    op.getLoraInputMutable().assign(dropped);
  }
  return success();
}

/// The name of `op`'s ONNX node, for errors.
static std::string describe(Operation *op) {
  std::string node = getNodeName(op);
  return "'" + op->getName().getStringRef().str() + "'" +
         (node == "<unnamed>" ? "" : " (node '" + node + "')");
}

/// Builds the gradients of `params` from `seedGrad` of `seed` at `b`'s
/// insertion point; see the file comment.
static FailureOr<SmallVector<Value>>
buildGradients(OpBuilder &b, Block &body, ArrayRef<BlockArgument> params,
               Value seed, Value seedGrad) {
  SmallVector<Operation *> ops;
  for (Operation &op : body.without_terminator())
    ops.push_back(&op);

  // What an op reads: its operands, and the values its regions use from
  // above (no rule differentiates through a region, so those make the op
  // fail below instead of being missed).
  auto inputsOf = [](Operation *op) {
    llvm::SetVector<Value> inputs(op->operand_begin(), op->operand_end());
    getUsedValuesDefinedAbove(op->getRegions(), inputs);
    return inputs;
  };
  llvm::DenseSet<Value> varied(params.begin(), params.end());
  for (Operation *op : ops) {
    if (llvm::none_of(inputsOf(op),
                      [&](Value v) { return varied.contains(v); }))
      continue;
    for (Value result : op->getResults())
      if (auto type = dyn_cast<RankedTensorType>(result.getType());
          type && isa<FloatType>(type.getElementType()))
        varied.insert(result);
  }
  llvm::DenseSet<Value> useful{seed};
  for (Operation *op : llvm::reverse(ops))
    if (llvm::any_of(op->getResults(),
                     [&](Value v) { return useful.contains(v); })) {
      llvm::SetVector<Value> inputs = inputsOf(op);
      useful.insert(inputs.begin(), inputs.end());
    }
  auto isActive = [&](Value v) {
    return varied.contains(v) && useful.contains(v);
  };

  DenseMap<Value, Value> grads{{seed, seedGrad}};
  auto accumulate = [&](Value value, Value grad) {
    Value &slot = grads[value];
    slot = slot ? binary<tosa::AddOp>(b, grad.getLoc(), slot, grad) : grad;
  };
  for (Operation *op : llvm::reverse(ops)) {
    SmallVector<Value> resultGrads;
    for (Value result : op->getResults())
      resultGrads.push_back(grads.lookup(result));
    if (llvm::all_of(resultGrads, [](Value g) { return !g; }))
      continue;
    // A softmax (or its NaN guard) is differentiated as one op: its fused
    // rule reads only its result, so exp(d), x, the argmax mask (and the
    // unguarded softmax and NaN mask) need not be kept, and the ops inside
    // get no gradient from it.
    if (op->getNumResults() == 1 && isActive(op->getResult(0))) {
      FailureOr<std::pair<Value, Value>> softmax =
          buildSoftmaxGradient(b, op, resultGrads[0]);
      if (succeeded(softmax)) {
        if (isActive(softmax->first))
          accumulate(softmax->first, softmax->second);
        continue;
      }
    }
    llvm::SetVector<Value> captured;
    getUsedValuesDefinedAbove(op->getRegions(), captured);
    if (llvm::any_of(captured, isActive))
      return op->emitError()
             << describe(op)
             << " is on the path from a LoRA parameter to the loss, but its "
                "regions have no gradient rule";
    SmallVector<bool> wanted;
    for (Value operand : op->getOperands()) {
      wanted.push_back(isActive(operand));
      auto type = dyn_cast<RankedTensorType>(operand.getType());
      if (wanted.back() && !type.hasStaticShape())
        return op->emitError()
               << describe(op) << " has operand " << operand.getType()
               << " on the path to the loss; lora-autodiff needs static "
                  "shapes (give them with --input-shape)";
    }
    std::string whyNot;
    FailureOr<SmallVector<Value>> operandGrads =
        buildOperandGradients(b, op, resultGrads, wanted, whyNot);
    if (failed(operandGrads))
      return op->emitError()
             << describe(op)
             << " is on the path from a LoRA parameter to the loss, but "
             << whyNot;
    for (auto [operand, grad] :
         llvm::zip_equal(op->getOperands(), *operandGrads))
      if (grad)
        accumulate(operand, grad);
  }

  SmallVector<Value> result;
  for (BlockArgument param : params) {
    Value grad = grads.lookup(param);
    if (!grad) {
      // Nothing on the path: a parameter that does not affect the loss.
      grad = splat(b, param.getLoc(), tensorType(param), 0.0);
    }
    result.push_back(grad);
  }
  return result;
}

namespace {
struct LoraAutodiffPass : lora::impl::LoraAutodiffBase<LoraAutodiffPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<LossKind> kind =
        llvm::StringSwitch<std::optional<LossKind>>(loss)
            .Case("output", LossKind::Output)
            .Case("cross-entropy", LossKind::CrossEntropy)
            .Case("causal-lm", LossKind::CausalLM)
            .Case("mse", LossKind::Mse)
            .Default(std::nullopt);
    if (!kind) {
      module.emitError() << "unknown loss '" << loss
                         << "'; expected output, cross-entropy, causal-lm "
                            "or mse";
      return signalPassFailure();
    }
    auto forward = module.lookupSymbol<func::FuncOp>(function);
    if (!forward || forward.isExternal()) {
      module.emitError() << "no function '" << function
                         << "' with a body to differentiate";
      return signalPassFailure();
    }
    if (!forward.getBody().hasOneBlock()) {
      forward.emitError() << "'" << function
                          << "' has control flow (more than one block); "
                             "lora-autodiff differentiates one block";
      return signalPassFailure();
    }
    auto ret = cast<func::ReturnOp>(forward.getBody().front().getTerminator());
    if (output >= ret.getNumOperands()) {
      forward.emitError() << "'" << function << "' has " << ret.getNumOperands()
                          << " results; there is no output "
                          << static_cast<unsigned>(output);
      return signalPassFailure();
    }
    bool hasParams = false;
    for (BlockArgument arg : forward.getArguments()) {
      if (!forward.getArgAttr(arg.getArgNumber(),
                              LoraDialect::getParamAttrName()))
        continue;
      hasParams = true;
      auto type = dyn_cast<RankedTensorType>(arg.getType());
      if (!type || !type.hasStaticShape() ||
          !isa<FloatType>(type.getElementType())) {
        forward.emitError() << "LoRA parameter #" << arg.getArgNumber()
                            << " of '" << function << "' is " << arg.getType()
                            << "; lora-autodiff needs float tensors of "
                               "static shape";
        return signalPassFailure();
      }
    }
    if (!hasParams) {
      forward.emitError() << "'" << function
                          << "' has no LoRA parameters (arguments with "
                             "lora.param) to differentiate; run lora-insert "
                             "first";
      return signalPassFailure();
    }
    if (!(dropout >= 0.0 && dropout < 1.0)) {
      module.emitError() << "lora-autodiff: dropout must be in [0, 1), not "
                         << static_cast<double>(dropout);
      return signalPassFailure();
    }

    if (failed(buildStep(module, forward, *kind, trainFunction,
                         /*withGradients=*/true)))
      return signalPassFailure();
    if (!evalFunction.empty() &&
        failed(buildStep(module, forward, *kind, evalFunction,
                         /*withGradients=*/false)))
      return signalPassFailure();
  }

  /// Adds `name`: a clone of `forward` returning the loss, and the LoRA
  /// parameters' gradients when `withGradients`.
  LogicalResult buildStep(ModuleOp module, func::FuncOp forward, LossKind kind,
                          StringRef name, bool withGradients) {
    if (module.lookupSymbol(name))
      return module.emitError()
             << "a symbol named '" << name << "' exists already";
    func::FuncOp step = forward.clone();
    step.setName(name);
    step.setPublic();
    SymbolTable(module).insert(step);

    // The eval step is the model in eval mode: no dropout.
    if (withGradients && dropout > 0.0 && failed(insertDropout(step, dropout)))
      return failure();
    Block &body = step.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    OpBuilder b(ret);
    FailureOr<Loss> loss =
        buildLoss(b, step, ret.getOperand(output), output, kind, ignoreIndex);
    if (failed(loss))
      return failure();

    SmallVector<BlockArgument> params;
    SmallVector<StringAttr> paramNames;
    for (BlockArgument arg : step.getArguments())
      if (auto name = step.getArgAttrOfType<StringAttr>(
              arg.getArgNumber(), LoraDialect::getParamAttrName())) {
        params.push_back(arg);
        paramNames.push_back(name);
      }
    SmallVector<Value> results{loss->value};
    if (withGradients) {
      FailureOr<SmallVector<Value>> grads =
          buildGradients(b, body, params, loss->seed, loss->seedGrad);
      if (failed(grads))
        return failure();
      llvm::append_range(results, *grads);
    }

    func::ReturnOp::create(b, ret.getLoc(), results);
    ret.erase();
    // What the loss does not need (other outputs; the loss's own gradient
    // in an eval step) goes.
    SmallVector<Operation *> ops;
    for (Operation &op : body.without_terminator())
      ops.push_back(&op);
    for (Operation *op : llvm::reverse(ops))
      if (isOpTriviallyDead(op))
        op->erase();
    MLIRContext *context = module.getContext();
    step.setFunctionType(FunctionType::get(context, step.getArgumentTypes(),
                                           ValueRange(results).getTypes()));
    auto nameAttr = [&](StringRef value) {
      return getOnnxNameDict(context, value);
    };
    SmallVector<Attribute> resultAttrs{nameAttr("loss")};
    for (StringAttr param : paramNames)
      resultAttrs.push_back(nameAttr((param.getValue() + ".grad").str()));
    if (!withGradients)
      resultAttrs.resize(1);
    step.setAllResultAttrs(resultAttrs);
    return success();
  }
};
} // namespace
