//===- EmitEntryPoint.cpp - packed C entry points for compiled functions --===//
//
// `llvm.emit_c_interface` gives each function `_mlir_ciface_<name>(desc *...)`
// taking one memref descriptor pointer per argument. The runtime cannot call a
// C function of arbitrary arity, so this adds
//   void lora_entry_<name>(void **args) { _mlir_ciface_<name>(args[0], ...); }
// and, for functions that lora-mark-entry-points gave a signature,
//   const char lora_signature_<name>[] = "i64[2x16],f32[64x8]->f32[2x16x8]";
// which the runtime compares with the artifact's manifest before calling.
//
//===----------------------------------------------------------------------===//

#include "lora/Passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORAMARKENTRYPOINTS
#define GEN_PASS_DEF_LORAEMITENTRYPOINT
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;

namespace {
constexpr StringLiteral kSignatureAttrName = "lora.signature";

} // namespace

StringRef lora::getRuntimeDTypeName(Type type) {
  if (type.isF32())
    return "f32";
  if (type.isF64())
    return "f64";
  if (type.isF16())
    return "f16";
  if (type.isBF16())
    return "bf16";
  if (type.isInteger(1))
    return "bool";
  if (type.isUnsignedInteger(8))
    return "u8";
  if (type.isSignlessInteger(8) || type.isSignedInteger(8))
    return "i8";
  if (type.isSignlessInteger(16) || type.isSignedInteger(16))
    return "i16";
  if (type.isSignlessInteger(32) || type.isSignedInteger(32))
    return "i32";
  if (type.isSignlessInteger(64) || type.isSignedInteger(64))
    return "i64";
  return "";
}

namespace {

/// `dtype[d0xd1...]` for each type, joined by ','; fails for dynamic shapes
/// and unsupported element types.
FailureOr<std::string> getSignature(TypeRange types) {
  std::string result;
  llvm::raw_string_ostream os(result);
  for (auto [i, type] : llvm::enumerate(types)) {
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor || !tensor.hasStaticShape())
      return failure();
    StringRef dtype = lora::getRuntimeDTypeName(tensor.getElementType());
    if (dtype.empty())
      return failure();
    os << (i ? "," : "") << dtype << "[";
    llvm::interleave(tensor.getShape(), os, "x");
    os << "]";
  }
  return result;
}

struct LoraMarkEntryPointsPass
    : lora::impl::LoraMarkEntryPointsBase<LoraMarkEntryPointsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (!func.isPublic() || func.isExternal())
      return;
    func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                  UnitAttr::get(&getContext()));
    // The caller's inputs, the mmapped weights and the LoRA parameters are
    // read-only: one-shot-bufferize must copy before writing into any of
    // them (it would otherwise update them in place, run after run).
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
      if (isa<TensorType>(func.getArgumentTypes()[i]))
        func.setArgAttr(i, "bufferization.writable",
                        BoolAttr::get(&getContext(), false));
    FailureOr<std::string> inputs = getSignature(func.getArgumentTypes());
    FailureOr<std::string> outputs = getSignature(func.getResultTypes());
    if (succeeded(inputs) && succeeded(outputs))
      func->setAttr(kSignatureAttrName,
                    StringAttr::get(&getContext(), *inputs + "->" + *outputs));
  }
};

struct LoraEmitEntryPointPass
    : lora::impl::LoraEmitEntryPointBase<LoraEmitEntryPointPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Argument and result attributes of other dialects (onnx.name, lora.*)
    // have served; LLVM IR translation would warn about each.
    for (FunctionOpInterface func : module.getOps<LLVM::LLVMFuncOp>()) {
      auto isForeign = [](NamedAttribute attr) {
        return !attr.getName().getValue().starts_with("llvm.");
      };
      for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
        for (NamedAttribute attr : llvm::to_vector(func.getArgAttrs(i)))
          if (isForeign(attr))
            func.removeArgAttr(i, attr.getName());
      for (unsigned i = 0, e = func.getNumResults(); i < e; ++i)
        for (NamedAttribute attr : llvm::to_vector(func.getResultAttrs(i)))
          if (isForeign(attr))
            func.removeResultAttr(i, attr.getName());
    }
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

      // convert-func-to-llvm keeps the function's discardable attributes.
      StringRef original = callee.getName().drop_front(prefix.size());
      auto function = module.lookupSymbol<LLVM::LLVMFuncOp>(original);
      auto signature =
          function ? function->getAttrOfType<StringAttr>(kSignatureAttrName)
                   : StringAttr();
      if (!signature)
        continue;
      std::string value = signature.getValue().str();
      value.push_back('\0');
      auto arrayType = LLVM::LLVMArrayType::get(
          IntegerType::get(&getContext(), 8), value.size());
      OpBuilder atEnd = OpBuilder::atBlockEnd(module.getBody());
      LLVM::GlobalOp::create(
          atEnd, loc, arrayType, /*isConstant=*/true, LLVM::Linkage::External,
          "lora_signature_" + original.str(), b.getStringAttr(value));
    }
  }
};
} // namespace
