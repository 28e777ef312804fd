//===- ConstantCopiesTest.cpp - copyConstantsThroughRuntime ---------------===//
//
// The CUDA target's host code copies each constant the kernels read from the
// model library's memory into a device buffer (mgpuMemcpy); those copies,
// and only those, go through the runtime's device copies
// (loraCudaCopyConstant). The IR is written as `lora-compile --target=cuda
// --emit=llvm` translates it: the source is the constant global or a GEP of
// it.
//
//===----------------------------------------------------------------------===//

#include "lora/Target/CudaHostCode.h"

#include "llvm/AsmParser/Parser.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

constexpr const char *kModule = R"(
@table = private constant [1 x [64 x i16]] zeroinitializer, align 64
@mask = private constant [8 x [8 x i16]] zeroinitializer, align 64
@state = private global [64 x i16] zeroinitializer, align 64
declare void @mgpuMemcpy(ptr, ptr, i64, ptr)
define void @host(ptr %device, ptr %x, ptr %stream) {
  call void @mgpuMemcpy(ptr %device, ptr @table, i64 128, ptr %stream)
  %row = getelementptr [8 x [8 x i16]], ptr @mask, i64 0, i64 1
  call void @mgpuMemcpy(ptr %device, ptr %row, i64 16, ptr %stream)
  call void @mgpuMemcpy(ptr %device, ptr @state, i64 128, ptr %stream)
  call void @mgpuMemcpy(ptr %device, ptr %x, i64 128, ptr %stream)
  ret void
}
)";

TEST(ConstantCopies, CopiesOfConstantGlobalsGoThroughTheRuntime) {
  llvm::LLVMContext context;
  llvm::SMDiagnostic diagnostic;
  std::unique_ptr<llvm::Module> module =
      llvm::parseAssemblyString(kModule, diagnostic, context);
  ASSERT_TRUE(module);
  EXPECT_EQ(mlir::lora::cuda::copyConstantsThroughRuntime(*module), 2u);
  std::string errors;
  llvm::raw_string_ostream os(errors);
  EXPECT_FALSE(llvm::verifyModule(*module, &os)) << errors;
  // The constants' copies, in order; a global that is not constant and a
  // buffer the caller passed stay device copies of host memory as they are.
  std::vector<std::string> callees;
  for (llvm::Instruction &instruction :
       llvm::instructions(*module->getFunction("host")))
    if (auto *call = llvm::dyn_cast<llvm::CallInst>(&instruction))
      callees.push_back(call->getCalledFunction()->getName().str());
  EXPECT_EQ(callees, (std::vector<std::string>{"loraCudaCopyConstant",
                                               "loraCudaCopyConstant",
                                               "mgpuMemcpy", "mgpuMemcpy"}));
  llvm::Function *cached = module->getFunction("loraCudaCopyConstant");
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->getFunctionType(),
            module->getFunction("mgpuMemcpy")->getFunctionType());
}

TEST(ConstantCopies, AModuleWithoutCopiesIsLeftAlone) {
  llvm::LLVMContext context;
  llvm::SMDiagnostic diagnostic;
  std::unique_ptr<llvm::Module> module = llvm::parseAssemblyString(
      "define void @host() {\n  ret void\n}\n", diagnostic, context);
  ASSERT_TRUE(module);
  EXPECT_EQ(mlir::lora::cuda::copyConstantsThroughRuntime(*module), 0u);
  EXPECT_FALSE(module->getFunction("loraCudaCopyConstant"));
}

} // namespace
