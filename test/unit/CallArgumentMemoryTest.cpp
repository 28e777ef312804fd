//===- CallArgumentMemoryTest.cpp - shareCallArgumentMemory ---------------===//
//
// The CUDA target's host code gives each launch (and each tensor map) stack
// memory of its own; shareCallArgumentMemory lets the calls that only read
// theirs during the call share one buffer. The IR below is written as
// MLIR 22 translates gpu.launch_func and lowers nvgpu.tma.create.descriptor
// (as `mlir-translate --mlir-to-llvmir` writes the module of `lora-compile
// --target=cuda --emit=llvm`). What must hold: the
// allocas a call reads are replaced by slices of one buffer, the slices of
// one call do not overlap, and memory whose use does not end at its call is
// left alone.
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

namespace {

/// The declarations of the runtime calls, and a launch's struct type.
constexpr const char *kPrelude = R"(
%args = type { i64, ptr, ptr }
declare void @mgpuLaunchKernel(ptr, i64, i64, i64, i64, i64, i64, i32, ptr, ptr, ptr, i64)
declare ptr @mgpuTensorMapEncodeTiledMemref(i64, ptr, i64, i64, i64, i64, i64, ptr)
declare void @keep(ptr)
)";

/// The struct and pointer array of launch `tag`.
std::string launchAllocas(const std::string &tag) {
  return "  %s" + tag + " = alloca %args, align 8\n" + //
         "  %p" + tag + " = alloca ptr, i64 3, align 8\n";
}

/// A launch of `kernel` with arguments (n, x, x), as the translation of
/// gpu.launch_func writes it: its allocas (unless `withAllocas` is false),
/// the struct's fields, their addresses in the pointer array, the call.
std::string launch(const std::string &tag, const std::string &kernel,
                   bool withAllocas = true) {
  return (withAllocas ? launchAllocas(tag) : std::string()) + //
         "  %f0" + tag + " = getelementptr inbounds %args, ptr %s" + tag +
         ", i32 0, i32 0\n" +                                       //
         "  store i64 %n, ptr %f0" + tag + ", align 8\n" +          //
         "  store ptr %f0" + tag + ", ptr %p" + tag + ", align 8\n" //
         + "  %f1" + tag + " = getelementptr inbounds %args, ptr %s" + tag +
         ", i32 0, i32 1\n" +                                               //
         "  store ptr %x, ptr %f1" + tag + ", align 8\n" +                  //
         "  %q1" + tag + " = getelementptr ptr, ptr %p" + tag + ", i32 1\n" //
         + "  store ptr %f1" + tag + ", ptr %q1" + tag + ", align 8\n" +    //
         "  %f2" + tag + " = getelementptr inbounds %args, ptr %s" + tag +
         ", i32 0, i32 2\n" +                                               //
         "  store ptr %x, ptr %f2" + tag + ", align 8\n" +                  //
         "  %q2" + tag + " = getelementptr ptr, ptr %p" + tag + ", i32 2\n" //
         + "  store ptr %f2" + tag + ", ptr %q2" + tag + ", align 8\n" +    //
         "  call void @mgpuLaunchKernel(ptr " + kernel +
         ", i64 1, i64 1, i64 1, i64 128, i64 1, i64 1, i32 0, ptr null, "
         "ptr %p" +
         tag + ", ptr null, i64 3)\n";
}

class CallArgumentMemory : public testing::Test {
protected:
  /// Parses `body` as the body of @host(i64 %n, ptr %x, ptr %k) and shares
  /// its call memory; the number of allocas replaced.
  unsigned share(const std::string &body) {
    std::string text = std::string(kPrelude) +
                       "define void @host(i64 %n, ptr %x, ptr %k) {\n" + body +
                       "  ret void\n}\n";
    llvm::SMDiagnostic diagnostic;
    module = llvm::parseAssemblyString(text, diagnostic, context);
    if (!module) {
      std::string message;
      llvm::raw_string_ostream os(message);
      diagnostic.print("test", os);
      ADD_FAILURE() << message << "\n" << text;
      return 0;
    }
    unsigned replaced = mlir::lora::cuda::shareCallArgumentMemory(*module);
    std::string errors;
    llvm::raw_string_ostream os(errors);
    EXPECT_FALSE(llvm::verifyModule(*module, &os)) << errors;
    return replaced;
  }

  /// The allocas of @host: name and size in bytes.
  std::vector<std::pair<std::string, uint64_t>> allocas() {
    std::vector<std::pair<std::string, uint64_t>> result;
    for (llvm::Instruction &instruction :
         llvm::instructions(*module->getFunction("host")))
      if (auto *alloca = llvm::dyn_cast<llvm::AllocaInst>(&instruction))
        result.emplace_back(alloca->getName().str(),
                            alloca->getAllocationSize(module->getDataLayout())
                                ->getFixedValue());
    return result;
  }

  llvm::LLVMContext context;
  std::unique_ptr<llvm::Module> module;
};

TEST_F(CallArgumentMemory, LaunchesShareOneBuffer) {
  EXPECT_EQ(share(launch("a", "%k") + launch("b", "%k") + launch("c", "%k")),
            6u);
  // One buffer, the size of one launch's struct (24 bytes) and pointer array
  // (24 bytes) side by side.
  using Allocas = std::vector<std::pair<std::string, uint64_t>>;
  EXPECT_EQ(allocas(), (Allocas{{"call_arguments", 48}}));
  // Each launch's stores go to the same two slices: its struct at offset 0,
  // its pointer array at 24.
  unsigned launches = 0;
  for (llvm::Instruction &instruction :
       llvm::instructions(*module->getFunction("host")))
    if (auto *call = llvm::dyn_cast<llvm::CallInst>(&instruction)) {
      ++launches;
      auto *params =
          llvm::dyn_cast<llvm::GetElementPtrInst>(call->getArgOperand(9));
      ASSERT_TRUE(params);
      llvm::APInt offset(64, 0);
      ASSERT_TRUE(
          params->accumulateConstantOffset(module->getDataLayout(), offset));
      EXPECT_EQ(offset, 24u);
    }
  EXPECT_EQ(launches, 3u);
}

TEST_F(CallArgumentMemory, TensorMapsAndLaunchesShareOneBuffer) {
  // A tensor map (its memref descriptor and box) whose result the launch
  // passes on: the map's memory ends at its call, before the launch's
  // begins.
  std::string body = R"(
  %d = alloca { ptr, ptr, i64, [2 x i64], [2 x i64] }, i64 1, align 8
  store { ptr, ptr, i64, [2 x i64], [2 x i64] } zeroinitializer, ptr %d, align 8
  %box = alloca i64, i64 5, align 8
  store i64 64, ptr %box, align 4
  %box1 = getelementptr ptr, ptr %box, i32 1
  store i64 64, ptr %box1, align 4
  %map = call ptr @mgpuTensorMapEncodeTiledMemref(i64 2, ptr %d, i64 6, i64 0, i64 3, i64 3, i64 0, ptr %box)
)" + launch("a", "%map");
  EXPECT_EQ(share(body), 4u);
  using Allocas = std::vector<std::pair<std::string, uint64_t>>;
  // The descriptor (56 bytes) and box (40): 96, more than the launch's 48.
  EXPECT_EQ(allocas(), (Allocas{{"call_arguments", 96}}));
}

TEST_F(CallArgumentMemory, MemoryUsedAfterItsCallIsLeftAlone) {
  // %sb is read after its launch: not the launch's memory only.
  std::string body = launch("a", "%k") + launch("b", "%k") +
                     "  %late = load i64, ptr %sb, align 8\n";
  EXPECT_EQ(share(body), 3u);
  auto names = allocas();
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0].first, "call_arguments");
  EXPECT_EQ(names[1].first, "sb");
}

TEST_F(CallArgumentMemory, MemoryGivenToOtherCallsIsLeftAlone) {
  // @keep may hold on to %sa; the pointer array is still the launch's only.
  std::string body = launch("a", "%k") + "  call void @keep(ptr %sa)\n";
  EXPECT_EQ(share(body), 1u);
  auto names = allocas();
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0].first, "call_arguments");
  EXPECT_EQ(names[1].first, "sa");
}

TEST_F(CallArgumentMemory, CallsInTwoBlocksShareOneBuffer) {
  // The allocas in the entry block, as translation puts them; each launch's
  // stores in its own block.
  std::string body = launchAllocas("b") + launch("a", "%k") +
                     "  br label %next\nnext:\n" + launch("b", "%k", false);
  EXPECT_EQ(share(body), 4u);
  EXPECT_EQ(allocas().size(), 1u);
}

TEST_F(CallArgumentMemory, MemoryWhoseAddressEscapesIsLeftAlone) {
  // %sa's address is stored where it may be read later (through %x).
  std::string body = launch("a", "%k") + "  store ptr %sa, ptr %x, align 8\n";
  EXPECT_EQ(share(body), 1u);
  auto names = allocas();
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[1].first, "sa");
}

TEST_F(CallArgumentMemory, InterleavedCallsDoNotShare) {
  // Launch b's struct is written before launch a's call: b keeps its own
  // memory, a's goes to the buffer.
  std::string a = launch("a", "%k"), b = launch("b", "%k", false);
  size_t callA = a.find("  call void @mgpuLaunchKernel");
  std::string body = launchAllocas("b") + a.substr(0, callA) +
                     "  %early = getelementptr inbounds %args, ptr %sb, i32 "
                     "0, i32 0\n  store i64 7, ptr %early, align 8\n" +
                     a.substr(callA) + b;
  EXPECT_EQ(share(body), 2u);
  std::vector<std::string> names;
  for (auto &[name, size] : allocas())
    names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"call_arguments", "sb", "pb"}));
  // Without the early store, both launches share.
  EXPECT_EQ(share(launchAllocas("b") + a + b), 4u);
  EXPECT_EQ(allocas().size(), 1u);
}

} // namespace
