//===- OutlineLoopNests.cpp - lora-outline-loop-nests ---------------------===//
//
// A compiled model is one function whose body is a loop nest per op of the
// graph. LLVM optimizes a function's loops together, and some of its loop
// passes cost more than linearly in them (IndVarSimplify, through the
// function's ScalarEvolution), so a model's compile time grew faster than
// the model: a two-layer Llama's train step took 22 s in `opt -O1`, 80% of
// it in IndVarSimplify. This pass gives each top-level loop nest a function
// of its own, which LLVM then optimizes on its own: the nest's outside
// values become arguments (constants are cloned in, so that trip counts
// and strides stay constants), its results the function's results. Nests
// that are the same (a model's layers of one shape: the same ops on
// buffers of the same types) share one function.
//
//===----------------------------------------------------------------------===//

#include "DeduplicateSymbols.h"
#include "lora/Passes/Passes.h"

#include "mlir/Conversion/LLVMCommon/MemRefBuilder.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/LoopLikeInterface.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Transforms/RegionUtils.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORAOUTLINELOOPNESTS
#define GEN_PASS_DEF_LORAAPPLYNOALIASARGS
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;

/// The outlined functions' arguments that are `noalias` once lowered, by
/// their position in the LLVM function (lora-apply-noalias-args).
static constexpr StringLiteral kNoaliasArgsAttrName = "lora.noalias_args";

/// The buffer `value` is a view of: a memref.alloc or memref.alloca, a
/// memref.get_global or an argument of the function's body; null where
/// that is not known (a value yielded by a region, a call's result).
static Value getRoot(Value value) {
  while (auto view = value.getDefiningOp<ViewLikeOpInterface>())
    value = view.getViewSource();
  if (auto argument = dyn_cast<BlockArgument>(value))
    return isa<FunctionOpInterface>(argument.getOwner()->getParentOp())
               ? value
               : Value();
  if (value.getDefiningOp<memref::AllocOp>() ||
      value.getDefiningOp<memref::AllocaOp>() ||
      value.getDefiningOp<memref::GetGlobalOp>())
    return value;
  return Value();
}

/// The positions, in the function convert-func-to-llvm makes of one that
/// takes `arguments`, of the aligned pointers of the memrefs that can be
/// `noalias`: each memref whose buffer the function body allocated and no
/// other argument is a view of, so that nothing else the nest reaches
/// points into it (the body's arguments may alias each other, a fresh
/// buffer aliases nothing). None where an argument's buffer is not known,
/// or an argument is not a ranked memref or a scalar.
static SmallVector<int64_t> getNoaliasPositions(ArrayRef<Value> arguments) {
  SmallVector<Value> roots;
  llvm::DenseMap<Value, unsigned> views;
  for (Value argument : arguments) {
    Type type = argument.getType();
    if (type.isIntOrIndexOrFloat()) {
      roots.push_back(Value());
      continue;
    }
    Value root = isa<MemRefType>(type) ? getRoot(argument) : Value();
    if (!root)
      return {};
    roots.push_back(root);
    ++views[root];
  }
  SmallVector<int64_t> positions;
  int64_t position = 0;
  for (auto [argument, root] : llvm::zip_equal(arguments, roots)) {
    auto memref = dyn_cast<MemRefType>(argument.getType());
    if (!memref) {
      ++position;
      continue;
    }
    // Lowered: the allocated pointer, the aligned one, offset, sizes and
    // strides.
    if (views[root] == 1 && (root.getDefiningOp<memref::AllocOp>() ||
                             root.getDefiningOp<memref::AllocaOp>()))
      positions.push_back(position + 1);
    position += MemRefDescriptor::getNumUnpackedValues(memref);
  }
  return positions;
}

/// Moves `nest` into a new private function `name` after `after` and calls
/// it in its place; returns the function.
static func::FuncOp outlineLoopNest(Operation *nest, Operation *after,
                                    StringRef name, SymbolTable &symbols) {
  MLIRContext *ctx = nest->getContext();
  Location loc = nest->getLoc();
  // What the nest reads from outside: its operands (bounds, inits) and the
  // values its regions use. Constants are cloned into the callee instead.
  llvm::SetVector<Value> used(nest->operand_begin(), nest->operand_end());
  getUsedValuesDefinedAbove(nest->getRegions(), used);
  SmallVector<Value> arguments;
  SmallVector<Operation *> constants;
  for (Value value : used) {
    Operation *def = value.getDefiningOp();
    if (def && def->hasTrait<OpTrait::ConstantLike>())
      constants.push_back(def);
    else
      arguments.push_back(value);
  }

  OpBuilder b(ctx);
  b.setInsertionPointAfter(after);
  auto type = FunctionType::get(ctx, ValueRange(arguments).getTypes(),
                                nest->getResultTypes());
  auto callee = func::FuncOp::create(b, loc, name, type);
  callee.setPrivate();
  // Internal, so that LLVM may specialize it to its one call; never inlined
  // back into the function it was taken out of.
  callee->setAttr("llvm.linkage",
                  LLVM::LinkageAttr::get(ctx, LLVM::Linkage::Internal));
  // (convert-func-to-llvm keeps `passthrough`, LLVM's function attributes,
  // and drops a `no_inline` of the func.func.)
  callee->setAttr("passthrough", b.getArrayAttr({b.getStringAttr("noinline")}));
  // Inlined, a nest's buffers were LLVM's own allocations, which alias
  // nothing: LICM kept a matmul's accumulator in a register. Through
  // arguments that knowledge is lost unless they say so (without it the
  // outlined forward of a small Llama ran 17% slower).
  SmallVector<int64_t> noalias = getNoaliasPositions(arguments);
  if (!noalias.empty())
    callee->setAttr(kNoaliasArgsAttrName, b.getDenseI64ArrayAttr(noalias));
  symbols.insert(callee);

  Block *entry = callee.addEntryBlock();
  IRMapping mapping;
  mapping.map(arguments, entry->getArguments());
  b.setInsertionPointToStart(entry);
  for (Operation *constant : constants)
    b.clone(*constant, mapping);
  Operation *copy = b.clone(*nest, mapping);
  func::ReturnOp::create(b, loc, copy->getResults());

  b.setInsertionPoint(nest);
  auto call = func::CallOp::create(b, loc, callee, arguments);
  nest->replaceAllUsesWith(call.getResults());
  nest->erase();
  for (Operation *constant : constants)
    if (constant->use_empty())
      constant->erase();
  return callee;
}

namespace {
struct LoraOutlineLoopNestsPass
    : lora::impl::LoraOutlineLoopNestsBase<LoraOutlineLoopNestsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    // The functions as they were: the outlined ones are not visited.
    SmallVector<func::FuncOp> functions(module.getOps<func::FuncOp>());
    SmallVector<Operation *> outlined;
    for (func::FuncOp function : functions) {
      if (function.isExternal())
        continue;
      SmallVector<Operation *> nests;
      for (Block &block : function.getBody())
        for (Operation &op : block)
          if (isa<LoopLikeOpInterface>(op))
            nests.push_back(&op);
      if (nests.size() < minLoopNests)
        continue;
      Operation *after = function;
      for (auto [i, nest] : llvm::enumerate(nests)) {
        after = outlineLoopNest(
            nest, after, (function.getSymName() + "_nest" + Twine(i)).str(),
            symbols);
        outlined.push_back(after);
      }
    }
    // A model's layers of one shape give the same nests: one function each.
    lora::deduplicateSymbols(outlined, module);
  }
};
} // namespace

namespace {
struct LoraApplyNoaliasArgsPass
    : lora::impl::LoraApplyNoaliasArgsBase<LoraApplyNoaliasArgsPass> {
  void runOnOperation() override {
    for (auto function : getOperation().getOps<LLVM::LLVMFuncOp>()) {
      auto positions =
          function->getAttrOfType<DenseI64ArrayAttr>(kNoaliasArgsAttrName);
      if (!positions)
        continue;
      function->removeAttr(kNoaliasArgsAttrName);
      for (int64_t position : positions.asArrayRef()) {
        if (position >= function.getNumArguments() ||
            !isa<LLVM::LLVMPointerType>(
                function.getArgument(position).getType())) {
          function.emitError("lora.noalias_args names argument ")
              << position << ", which is not a pointer";
          return signalPassFailure();
        }
        function.setArgAttr(position, LLVM::LLVMDialect::getNoAliasAttrName(),
                            UnitAttr::get(&getContext()));
      }
    }
  }
};
} // namespace
