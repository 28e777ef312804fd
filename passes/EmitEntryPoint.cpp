//===- EmitEntryPoint.cpp - packed C entry points for compiled functions --===//
//
// `llvm.emit_c_interface` gives each function `_mlir_ciface_<name>(desc *...)`
// taking one memref descriptor pointer per argument. The runtime cannot call a
// C function of arbitrary arity, so this adds
//   void lora_entry_<name>(void **args) { _mlir_ciface_<name>(args[0], ...); }
//
//===----------------------------------------------------------------------===//

#include "lora/Passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORAMARKENTRYPOINTS
#define GEN_PASS_DEF_LORAEMITENTRYPOINT
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;

namespace {
struct LoraMarkEntryPointsPass
    : lora::impl::LoraMarkEntryPointsBase<LoraMarkEntryPointsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isPublic() && !func.isExternal())
      func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                    UnitAttr::get(&getContext()));
  }
};

struct LoraEmitEntryPointPass
    : lora::impl::LoraEmitEntryPointBase<LoraEmitEntryPointPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    constexpr StringLiteral prefix = "_mlir_ciface_";
    SmallVector<LLVM::LLVMFuncOp> interfaces;
    for (auto func : module.getOps<LLVM::LLVMFuncOp>())
      if (func.getName().starts_with(prefix) && !func.isExternal())
        interfaces.push_back(func);

    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    auto ptrType = LLVM::LLVMPointerType::get(&getContext());
    for (LLVM::LLVMFuncOp callee : interfaces) {
      LLVM::LLVMFunctionType calleeType = callee.getFunctionType();
      if (!isa<LLVM::LLVMVoidType>(calleeType.getReturnType()) ||
          !llvm::all_of(calleeType.getParams(), [](Type t) {
            return isa<LLVM::LLVMPointerType>(t);
          })) {
        callee.emitError() << "entry points need results passed as out "
                              "parameters and memref arguments only";
        return signalPassFailure();
      }
      std::string name =
          "lora_entry_" + callee.getName().drop_front(prefix.size()).str();
      Location loc = callee.getLoc();
      auto entry = LLVM::LLVMFuncOp::create(
          b, loc, name,
          LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(&getContext()),
                                      {ptrType}));
      OpBuilder::InsertionGuard guard(b);
      Block *body = entry.addEntryBlock(b);
      b.setInsertionPointToStart(body);
      SmallVector<Value> args;
      for (unsigned i = 0, e = calleeType.getNumParams(); i < e; ++i) {
        Value slot = LLVM::GEPOp::create(
            b, loc, ptrType, ptrType, body->getArgument(0),
            ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(i)});
        args.push_back(LLVM::LoadOp::create(b, loc, ptrType, slot));
      }
      LLVM::CallOp::create(b, loc, callee, args);
      LLVM::ReturnOp::create(b, loc, ValueRange());
    }
  }
};
} // namespace
