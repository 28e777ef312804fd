//===- CpuTargetTest.cpp - the host shared object's own helpers -----------===//
//
// emitCpuSharedLibrary links model.so with the system's `cc`, whose GCC 12
// runtime lacks `__truncsfbf2`, the call LLVM's x86 backend makes to round
// f32 to bf16 without an instruction for it. Each module defines its own
// (hidden): an `fptrunc` to bf16, which the backend turns into that call,
// must link, load and round to nearest even, however the machine code is
// selected.
//
//===----------------------------------------------------------------------===//

#include "lora/Target/Cpu.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FileSystem.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <dlfcn.h>
#include <limits>

#include <gtest/gtest.h>

using namespace mlir;

namespace {

/// f32 to bf16 bits, to nearest even; a NaN quieted, sign and payload's top
/// bits kept.
uint16_t referenceBF16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if (std::isnan(value))
    return static_cast<uint16_t>((bits >> 16) | 0x40);
  uint32_t bias = 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>((bits + bias) >> 16);
}

float fromBits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

/// Both ways of selecting machine code (the CPU target's, optimized; the
/// CUDA target's host code, fast) link, load and round alike.
class CpuTarget : public testing::TestWithParam<lora::HostCodegen> {
protected:
  void TearDown() override {
    if (library)
      dlclose(library);
    if (!so.empty())
      llvm::sys::fs::remove(so);
  }

  /// Compiles `source` (the LLVM dialect) to a shared object, loads it and
  /// returns its `round` (f32 to bf16 bits), or null with a failure.
  using Round = uint16_t (*)(float);
  Round loadRound(const char *source) {
    MLIRContext context;
    context.loadDialect<LLVM::LLVMDialect>();
    DialectRegistry registry;
    lora::registerCpuTranslations(registry);
    context.appendDialectRegistry(registry);
    OwningOpRef<ModuleOp> module =
        parseSourceString<ModuleOp>(source, &context);
    if (!module) {
      ADD_FAILURE() << "cannot parse the module";
      return nullptr;
    }
    if (llvm::sys::fs::createTemporaryFile("cpu-target", "so", so)) {
      ADD_FAILURE() << "no temporary file";
      return nullptr;
    }
    if (failed(lora::emitCpuSharedLibrary(*module, so, 2, GetParam()))) {
      ADD_FAILURE() << "emitCpuSharedLibrary failed";
      return nullptr;
    }
    library = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!library) {
      ADD_FAILURE() << dlerror();
      return nullptr;
    }
    auto round = reinterpret_cast<Round>(dlsym(library, "round"));
    if (!round)
      ADD_FAILURE() << "no 'round' in the shared object";
    return round;
  }

  llvm::SmallString<128> so;
  void *library = nullptr;
};

INSTANTIATE_TEST_SUITE_P(
    Codegen, CpuTarget,
    testing::Values(lora::HostCodegen::Optimized, lora::HostCodegen::Fast),
    [](const testing::TestParamInfo<lora::HostCodegen> &info) {
      return info.param == lora::HostCodegen::Fast ? "Fast" : "Optimized";
    });

TEST_P(CpuTarget, RoundsF32ToBF16WithoutTheGccRuntime) {
  Round round = loadRound(R"mlir(
    llvm.func @round(%x: f32) -> i16 {
      %b = llvm.fptrunc %x : f32 to bf16
      %i = llvm.bitcast %b : bf16 to i16
      llvm.return %i : i16
    }
  )mlir");
  ASSERT_NE(round, nullptr);
  // Hidden: not exported to whoever loads model.so.
  EXPECT_EQ(dlsym(library, "__truncsfbf2"), nullptr);
  const float values[] = {
      0.0f, -0.0f, 1.0f, -2.5f, 3.14159265f, 1e-40f, -1e-40f,
      std::numeric_limits<float>::max(), std::numeric_limits<float>::infinity(),
      -std::numeric_limits<float>::infinity(),
      fromBits(0x3f808000), // a tie, even below: rounds down
      fromBits(0x3f818000), // a tie, odd below: rounds up
      fromBits(0x3f808001), // just above a tie
      fromBits(0x7f7fffff), // rounds up to infinity
      fromBits(0x7fc00001), fromBits(0xff800001), // quiet and signalling NaN
  };
  for (float value : values)
    EXPECT_EQ(round(value), referenceBF16(value)) << "at " << value;
}

/// A module that calls `__truncsfbf2` by name gets its body too.
TEST_P(CpuTarget, DefinesTruncSFBF2WhereTheModuleDeclaresIt) {
  Round round = loadRound(R"mlir(
    llvm.func @__truncsfbf2(f32) -> bf16
    llvm.func @round(%x: f32) -> i16 {
      %b = llvm.call @__truncsfbf2(%x) : (f32) -> bf16
      %i = llvm.bitcast %b : bf16 to i16
      llvm.return %i : i16
    }
  )mlir");
  ASSERT_NE(round, nullptr);
  for (float value : {1.0f, fromBits(0x3f818000), fromBits(0x7fc00001)})
    EXPECT_EQ(round(value), referenceBF16(value)) << "at " << value;
}

} // namespace
