//===- CudaRuntimeTest.cpp - the CUDA driver layer, with and without a GPU ===//
//
// liblora_cuda_runtime.so must load everywhere, export exactly what the host
// code of MLIR 22's gpu-to-llvm lowering calls, depend on neither libcuda
// nor MLIR/LLVM, and fail cleanly (an error, no crash) without a driver.
// The tests that need a GPU skip themselves when no driver or device is
// there.
//
//===----------------------------------------------------------------------===//

#include "lora/Runtime/Device.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <elf.h>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace rt = lora_runtime;

namespace {

/// The functions that host code lowered by MLIR 22 calls, as it declares
/// them (`mlir-opt --gpu-lower-to-nvvm-pipeline | mlir-translate
/// --mlir-to-llvmir | grep 'declare.*mgpu'`, over launches with and without
/// clusters, async copies, memsets, allocations, events, host registration
/// and TMA descriptors).
const char *const kLoweringSymbols[] = {
    "mgpuModuleLoad",            // ptr (ptr, i64)
    "mgpuModuleLoadJIT",         // ptr (ptr, i32)
    "mgpuModuleUnload",          // void (ptr)
    "mgpuModuleGetFunction",     // ptr (ptr, ptr)
    "mgpuLaunchKernel",          // void (ptr, i64 x6, i32, ptr, ptr, ptr, i64)
    "mgpuLaunchClusterKernel",   // void (ptr, i64 x9, i32, ptr, ptr, ptr)
    "mgpuStreamCreate",          // ptr ()
    "mgpuStreamDestroy",         // void (ptr)
    "mgpuStreamSynchronize",     // void (ptr)
    "mgpuStreamWaitEvent",       // void (ptr, ptr)
    "mgpuEventCreate",           // ptr ()
    "mgpuEventDestroy",          // void (ptr)
    "mgpuEventSynchronize",      // void (ptr)
    "mgpuEventRecord",           // void (ptr, ptr)
    "mgpuMemAlloc",              // ptr (i64, ptr, i8)
    "mgpuMemFree",               // void (ptr, ptr)
    "mgpuMemcpy",                // void (ptr, ptr, i64, ptr)
    "mgpuMemset16",              // void (ptr, i16, i64, ptr)
    "mgpuMemset32",              // void (ptr, i32, i64, ptr)
    "mgpuMemHostRegisterMemRef", // void (i64, ptr, i64)
    "mgpuMemHostUnregisterMemRef",    // void (i64, ptr, i64)
    "mgpuSetDefaultDevice",           // void (i32)
    "mgpuTensorMapEncodeTiledMemref", // ptr (i64, ptr, i64 x5, ptr)
};

using MemAllocFn = void *(*)(uint64_t, void *, bool);
using MemFreeFn = void (*)(void *, void *);
using MemcpyFn = void (*)(void *, void *, size_t, void *);
using Memset32Fn = void (*)(void *, unsigned, size_t, void *);
using ModuleLoadFn = void *(*)(void *, size_t);
using ModuleUnloadFn = void (*)(void *);
using StreamCreateFn = void *(*)();
using StreamFn = void (*)(void *);
using TensorMapFn = void *(*)(int64_t, void *, int64_t, int64_t, int64_t,
                              int64_t, int64_t, int64_t *);
using GetLastErrorFn = const char *(*)();
using ClearLastErrorFn = void (*)();

/// True when this machine has a CUDA driver (not necessarily a GPU).
bool hasDriver() {
  static const bool present = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  return present;
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// What the dynamic section and dynamic symbol table of an ELF64 shared
/// library say, read from the file (not through the loader, which would
/// load the dependencies we want to check are absent).
struct DynamicInfo {
  std::vector<std::string> needed;
  /// Defined symbols with global or weak binding.
  std::vector<std::string> exported;
};

bool readDynamicInfo(const std::string &path, DynamicInfo &info,
                     std::string &error) {
  std::string file = readFile(path);
  auto in = [&](uint64_t offset, uint64_t size) {
    return offset <= file.size() && size <= file.size() - offset;
  };
  if (!in(0, sizeof(Elf64_Ehdr)) || std::memcmp(file.data(), ELFMAG, SELFMAG) ||
      file[EI_CLASS] != ELFCLASS64) {
    error = path + " is not an ELF64 file";
    return false;
  }
  Elf64_Ehdr header;
  std::memcpy(&header, file.data(), sizeof(header));
  if (header.e_shentsize != sizeof(Elf64_Shdr) ||
      !in(header.e_shoff, uint64_t(header.e_shnum) * sizeof(Elf64_Shdr))) {
    error = path + " has no readable section headers";
    return false;
  }
  std::vector<Elf64_Shdr> sections(header.e_shnum);
  std::memcpy(sections.data(), file.data() + header.e_shoff,
              sections.size() * sizeof(Elf64_Shdr));
  auto string = [&](const Elf64_Shdr &table, uint64_t offset) {
    if (!in(table.sh_offset, table.sh_size) || offset >= table.sh_size)
      return std::string();
    const char *start = file.data() + table.sh_offset + offset;
    return std::string(start, strnlen(start, table.sh_size - offset));
  };
  for (const Elf64_Shdr &section : sections) {
    if (section.sh_link >= sections.size() ||
        !in(section.sh_offset, section.sh_size))
      continue;
    const Elf64_Shdr &strings = sections[section.sh_link];
    if (section.sh_type == SHT_DYNAMIC) {
      for (uint64_t at = 0; at + sizeof(Elf64_Dyn) <= section.sh_size;
           at += sizeof(Elf64_Dyn)) {
        Elf64_Dyn entry;
        std::memcpy(&entry, file.data() + section.sh_offset + at,
                    sizeof(entry));
        if (entry.d_tag == DT_NEEDED)
          info.needed.push_back(string(strings, entry.d_un.d_val));
      }
    } else if (section.sh_type == SHT_DYNSYM) {
      for (uint64_t at = 0; at + sizeof(Elf64_Sym) <= section.sh_size;
           at += sizeof(Elf64_Sym)) {
        Elf64_Sym symbol;
        std::memcpy(&symbol, file.data() + section.sh_offset + at,
                    sizeof(symbol));
        unsigned char binding = ELF64_ST_BIND(symbol.st_info);
        if (symbol.st_shndx != SHN_UNDEF &&
            (binding == STB_GLOBAL || binding == STB_WEAK))
          info.exported.push_back(string(strings, symbol.st_name));
      }
    }
  }
  return true;
}

/// liblora_cuda_runtime.so, opened once for the tests of this file.
class CudaRuntimeLibrary : public ::testing::Test {
protected:
  void SetUp() override {
    library = dlopen(LORA_CUDA_RUNTIME_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    ASSERT_TRUE(library) << dlerror();
    getLastError = reinterpret_cast<GetLastErrorFn>(
        dlsym(library, "loraCudaGetLastError"));
    clearLastError = reinterpret_cast<ClearLastErrorFn>(
        dlsym(library, "loraCudaClearLastError"));
    ASSERT_TRUE(getLastError && clearLastError);
    clearLastError();
  }
  void TearDown() override {
    if (library)
      dlclose(library);
  }

  template <typename Fn> Fn get(const char *name) {
    return reinterpret_cast<Fn>(dlsym(library, name));
  }

  std::string lastError() {
    const char *error = getLastError();
    return error ? error : "";
  }

  void *library = nullptr;
  GetLastErrorFn getLastError = nullptr;
  ClearLastErrorFn clearLastError = nullptr;
};

//===----------------------------------------------------------------------===//
// Without a GPU
//===----------------------------------------------------------------------===//

TEST_F(CudaRuntimeLibrary, ExportsEverySymbolOfTheLowering) {
  for (const char *name : kLoweringSymbols)
    EXPECT_TRUE(dlsym(library, name)) << name;
  // Also those that the lowering of gpu.host_register and of host-side TMA
  // descriptor helpers in hand-written code use.
  for (const char *name : {"mgpuMemHostRegister", "mgpuMemHostUnregister",
                           "mgpuTensorMapEncodeTiled"})
    EXPECT_TRUE(dlsym(library, name)) << name;
  // And what the generated launchers call: a persistent kernel's grid is
  // capped by the SM count.
  EXPECT_TRUE(dlsym(library, "loraCudaMultiprocessorCount"));
}

TEST_F(CudaRuntimeLibrary, ExportsNothingElse) {
  DynamicInfo info;
  std::string error;
  ASSERT_TRUE(readDynamicInfo(LORA_CUDA_RUNTIME_LIBRARY, info, error)) << error;
  ASSERT_FALSE(info.exported.empty());
  for (const std::string &name : info.exported)
    EXPECT_TRUE(name.rfind("mgpu", 0) == 0 || name.rfind("loraCuda", 0) == 0)
        << "exported: " << name;
}

TEST_F(CudaRuntimeLibrary, DependsOnNoDriverAndNoMlir) {
  DynamicInfo info;
  std::string error;
  ASSERT_TRUE(readDynamicInfo(LORA_CUDA_RUNTIME_LIBRARY, info, error)) << error;
  ASSERT_FALSE(info.needed.empty()); // At least libc.
  for (const std::string &name : info.needed) {
    EXPECT_EQ(name.find("libcuda"), std::string::npos) << name;
    EXPECT_EQ(name.find("libMLIR"), std::string::npos) << name;
    EXPECT_EQ(name.find("libLLVM"), std::string::npos) << name;
  }
}

TEST_F(CudaRuntimeLibrary, CallsWithoutADriverFailCleanly) {
  if (hasDriver())
    GTEST_SKIP() << "this machine has a CUDA driver";
  auto memAlloc = get<MemAllocFn>("mgpuMemAlloc");
  auto moduleLoad = get<ModuleLoadFn>("mgpuModuleLoad");
  auto moduleUnload = get<ModuleUnloadFn>("mgpuModuleUnload");
  auto streamCreate = get<StreamCreateFn>("mgpuStreamCreate");
  auto streamSynchronize = get<StreamFn>("mgpuStreamSynchronize");
  auto tensorMap = get<TensorMapFn>("mgpuTensorMapEncodeTiledMemref");
  ASSERT_TRUE(memAlloc && moduleLoad && moduleUnload && streamCreate &&
              streamSynchronize && tensorMap);

  EXPECT_EQ(getLastError(), nullptr);
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(memAlloc(1024, nullptr, false), nullptr);
  std::string error = lastError();
  EXPECT_EQ(
      error.rfind("mgpuMemAlloc: the CUDA driver could not be loaded (", 0), 0u)
      << error;
  EXPECT_NE(error.find("libcuda.so.1"), std::string::npos) << error;

  // The first error since the last clear stays: what fails after a failed
  // call is mostly its consequence.
  char image[16] = {};
  EXPECT_EQ(moduleLoad(image, sizeof(image)), nullptr);
  EXPECT_EQ(lastError(), error);
  clearLastError();
  EXPECT_EQ(moduleLoad(image, sizeof(image)), nullptr);
  EXPECT_EQ(lastError().rfind("mgpuModuleLoad: ", 0), 0u) << lastError();
  EXPECT_NE(lastError().find("libcuda.so.1"), std::string::npos);

  clearLastError();
  EXPECT_EQ(streamCreate(), nullptr);
  EXPECT_EQ(lastError().rfind("mgpuStreamCreate: ", 0), 0u) << lastError();
  EXPECT_NE(lastError().find("libcuda.so.1"), std::string::npos);

  // Calls on the null results of failed calls do not crash either.
  clearLastError();
  streamSynchronize(nullptr);
  EXPECT_EQ(lastError().rfind("mgpuStreamSynchronize: ", 0), 0u);
  int64_t descriptor[7] = {0, 0, 0, 64, 64, 64, 1};
  int64_t box[2] = {64, 64};
  clearLastError();
  EXPECT_EQ(tensorMap(2, descriptor, /*FLOAT16=*/6, 0, 0, 0, 0, box), nullptr);
  EXPECT_EQ(lastError().rfind("mgpuTensorMapEncodeTiledMemref: ", 0), 0u);

  // A grid without blocks (a dynamic extent of 0) is no work: it needs no
  // driver and reports nothing.
  using LaunchFn =
      void (*)(void *, intptr_t, intptr_t, intptr_t, intptr_t, intptr_t,
               intptr_t, int32_t, void *, void **, void **, size_t);
  auto launch = get<LaunchFn>("mgpuLaunchKernel");
  ASSERT_TRUE(launch);
  clearLastError();
  launch(nullptr, 0, 1, 1, 256, 1, 1, 0, nullptr, nullptr, nullptr, 0);
  EXPECT_EQ(getLastError(), nullptr) << lastError();

  // Each failed call printed one line, the first with the message above.
  std::string printed = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(printed.rfind("lora_cuda_runtime: " + error + "\n", 0), 0u)
      << printed;
  EXPECT_EQ(std::count(printed.begin(), printed.end(), '\n'), 6) << printed;

  // Unloading the module a failed load gave is not an error (model
  // libraries do it in their destructors).
  clearLastError();
  EXPECT_EQ(getLastError(), nullptr);
  moduleUnload(nullptr);
  EXPECT_EQ(getLastError(), nullptr);
}

TEST_F(CudaRuntimeLibrary, MultiprocessorCountWithoutADriverIsOne) {
  if (hasDriver())
    GTEST_SKIP() << "this machine has a CUDA driver";
  auto count = get<int32_t (*)()>("loraCudaMultiprocessorCount");
  ASSERT_TRUE(count);
  // A launch sized by it stays valid (one CTA), and the error says why.
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(count(), 1);
  ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(lastError().rfind("loraCudaMultiprocessorCount: the CUDA driver "
                              "could not be loaded (",
                              0),
            0u)
      << lastError();
}

TEST_F(CudaRuntimeLibrary, LastErrorIsPerThread) {
  if (hasDriver())
    GTEST_SKIP() << "this machine has a CUDA driver";
  auto memAlloc = get<MemAllocFn>("mgpuMemAlloc");
  ASSERT_TRUE(memAlloc);
  ::testing::internal::CaptureStderr();
  std::string otherThreadError;
  std::thread([&] {
    memAlloc(16, nullptr, false);
    otherThreadError = lastError();
  }).join();
  ::testing::internal::GetCapturedStderr();
  EXPECT_NE(otherThreadError, "");
  EXPECT_EQ(getLastError(), nullptr);
}

TEST(CudaDevice, NeedsADriver) {
  if (hasDriver())
    GTEST_SKIP() << "this machine has a CUDA driver";
  std::string error;
  EXPECT_EQ(rt::createDevice("cuda", error), nullptr);
  EXPECT_EQ(
      error.rfind("target 'cuda': the CUDA driver could not be loaded (", 0),
      0u)
      << error;
  EXPECT_NE(error.find("libcuda.so.1"), std::string::npos) << error;
}

//===----------------------------------------------------------------------===//
// With a GPU
//===----------------------------------------------------------------------===//

/// The CUDA device, or a skip when this machine cannot give one.
std::unique_ptr<rt::Device> cudaDeviceOrSkip(std::string &reason) {
  if (!hasDriver()) {
    reason = "no CUDA driver";
    return nullptr;
  }
  std::unique_ptr<rt::Device> device = rt::createDevice("cuda", reason);
  return device;
}

TEST(CudaDevice, UsesGraphsAsItsOptionsSay) {
  std::string reason;
  if (!cudaDeviceOrSkip(reason))
    GTEST_SKIP() << reason;
  // The option decides over the variable, either way.
  struct Variable {
    explicit Variable(const char *value) {
      if (const char *old = std::getenv("LORA_CUDA_GRAPHS"))
        before = old;
      ::setenv("LORA_CUDA_GRAPHS", value, 1);
    }
    ~Variable() {
      if (before)
        ::setenv("LORA_CUDA_GRAPHS", before->c_str(), 1);
      else
        ::unsetenv("LORA_CUDA_GRAPHS");
    }
    std::optional<std::string> before;
  };
  auto variable = std::make_unique<Variable>("1");
  std::string error;
  rt::DeviceOptions off;
  off.cudaGraphs = false;
  std::unique_ptr<rt::Device> device = rt::createDevice("cuda", error, off);
  ASSERT_TRUE(device) << error;
  EXPECT_FALSE(device->usesCudaGraphs());
  device = rt::createDevice("cuda", error);
  ASSERT_TRUE(device) << error;
  EXPECT_TRUE(device->usesCudaGraphs());
  variable.reset(); // Restores the variable, which the next one then keeps.
  variable = std::make_unique<Variable>("0");
  device = rt::createDevice("cuda", error);
  ASSERT_TRUE(device) << error;
  EXPECT_FALSE(device->usesCudaGraphs());
  rt::DeviceOptions on;
  on.cudaGraphs = true;
  device = rt::createDevice("cuda", error, on);
  ASSERT_TRUE(device) << error;
  EXPECT_TRUE(device->usesCudaGraphs());
  // The host devices have no graphs to give.
  EXPECT_FALSE(rt::createDevice("cuda-emulated", error, on));
  EXPECT_EQ(error, "CUDA graphs were asked for, but the model is compiled for "
                   "target 'cuda-emulated', which runs on the host");
}

TEST(CudaDevice, RoundTripsBuffersAndWeights) {
  std::string reason;
  std::unique_ptr<rt::Device> device = cudaDeviceOrSkip(reason);
  if (!device)
    GTEST_SKIP() << reason;
  EXPECT_STREQ(device->name(), "cuda");
  EXPECT_FALSE(device->sharesHostMemory());

  std::string error;
  constexpr size_t kBytes = 4096 + 3;
  void *buffer = device->allocate(kBytes, error);
  ASSERT_TRUE(buffer) << error;
  std::vector<uint8_t> host(kBytes, 0xff);
  ASSERT_TRUE(device->download(host.data(), buffer, kBytes, error)) << error;
  EXPECT_EQ(host, std::vector<uint8_t>(kBytes, 0)); // Zero-filled.
  for (size_t i = 0; i < kBytes; ++i)
    host[i] = static_cast<uint8_t>(i * 7);
  ASSERT_TRUE(device->upload(buffer, host.data(), kBytes, error)) << error;
  std::vector<uint8_t> back(kBytes);
  ASSERT_TRUE(device->download(back.data(), buffer, kBytes, error)) << error;
  EXPECT_EQ(back, host);
  device->release(buffer);

  std::string path = ::testing::TempDir() + "cuda_weights.bin";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char *>(host.data()), kBytes);
  }
  const uint8_t *weights = nullptr;
  ASSERT_TRUE(device->loadWeights(path, kBytes, weights, error)) << error;
  ASSERT_TRUE(weights);
  ASSERT_TRUE(device->download(back.data(), weights, kBytes, error)) << error;
  EXPECT_EQ(back, host);
  std::remove(path.c_str());
}

TEST_F(CudaRuntimeLibrary, MultiprocessorCountOnAGpu) {
  std::string reason;
  if (!cudaDeviceOrSkip(reason))
    GTEST_SKIP() << reason;
  auto count = get<int32_t (*)()>("loraCudaMultiprocessorCount");
  ASSERT_TRUE(count);
  int32_t first = count();
  EXPECT_EQ(getLastError(), nullptr) << lastError();
  EXPECT_GE(first, 1);
  EXPECT_EQ(count(), first); // cached
}

TEST_F(CudaRuntimeLibrary, MemoryFunctionsOnAGpu) {
  std::string reason;
  if (!cudaDeviceOrSkip(reason))
    GTEST_SKIP() << reason;
  auto memAlloc = get<MemAllocFn>("mgpuMemAlloc");
  auto memFree = get<MemFreeFn>("mgpuMemFree");
  auto memcpy = get<MemcpyFn>("mgpuMemcpy");
  auto memset32 = get<Memset32Fn>("mgpuMemset32");
  auto streamCreate = get<StreamCreateFn>("mgpuStreamCreate");
  auto streamSynchronize = get<StreamFn>("mgpuStreamSynchronize");
  auto streamDestroy = get<StreamFn>("mgpuStreamDestroy");
  auto tensorMap = get<TensorMapFn>("mgpuTensorMapEncodeTiledMemref");

  void *stream = streamCreate();
  ASSERT_TRUE(stream) << lastError();
  constexpr size_t kWords = 1000;
  void *data = memAlloc(kWords * 4, stream, false);
  ASSERT_TRUE(data) << lastError();
  memset32(data, 0x3f800000u, kWords, stream);
  std::vector<uint32_t> host(kWords);
  memcpy(host.data(), data, kWords * 4, stream);
  streamSynchronize(stream);
  EXPECT_EQ(getLastError(), nullptr) << lastError();
  EXPECT_EQ(host, std::vector<uint32_t>(kWords, 0x3f800000u));

  // A 16x16 f16 memref: { allocated, aligned, offset, sizes, strides }.
  int64_t descriptor[7] = {reinterpret_cast<int64_t>(data),
                           reinterpret_cast<int64_t>(data),
                           0,
                           16,
                           16,
                           16,
                           1};
  int64_t box[2] = {8, 8};
  void *first = tensorMap(2, descriptor, /*FLOAT16=*/6, 0, 0, 0, 0, box);
  ASSERT_TRUE(first) << lastError();
  // The same arguments give the cached copy; another box a new one.
  EXPECT_EQ(tensorMap(2, descriptor, 6, 0, 0, 0, 0, box), first);
  int64_t otherBox[2] = {16, 8};
  void *second = tensorMap(2, descriptor, 6, 0, 0, 0, 0, otherBox);
  EXPECT_TRUE(second);
  EXPECT_NE(second, first);
  EXPECT_EQ(getLastError(), nullptr) << lastError();

  // A freed block is kept, with its tensor maps, and handed out again for
  // the same size; loraCudaEmptyCache gives it back to the driver.
  using StatsFn = void (*)(uint64_t *, uint64_t *);
  auto stats = get<StatsFn>("loraCudaMemoryStats");
  auto emptyCache = get<void (*)()>("loraCudaEmptyCache");
  uint64_t inUseBefore = 0, cachedBefore = 0, inUse = 0, cached = 0;
  stats(&inUseBefore, &cachedBefore);
  memFree(data, stream);
  stats(&inUse, &cached);
  EXPECT_EQ(inUse, inUseBefore - 4096); // 4000 bytes, in 512-byte steps
  EXPECT_EQ(cached, cachedBefore + 4096);
  void *again = memAlloc(kWords * 4, stream, false);
  EXPECT_EQ(again, data);
  EXPECT_EQ(tensorMap(2, descriptor, 6, 0, 0, 0, 0, box), first);
  memFree(again, stream);
  // A second free is an error, not a block handed out twice.
  memFree(again, stream);
  ASSERT_NE(getLastError(), nullptr);
  EXPECT_NE(std::string(getLastError()).find("freed twice"), std::string::npos);
  clearLastError();
  // Freed on a stream whose queued work may still use it, a block goes to
  // work on that stream only, until the stream is synchronized.
  void *block = memAlloc(kWords * 4, stream, false);
  memFree(block, stream);
  void *elsewhere = memAlloc(kWords * 4, nullptr, false);
  EXPECT_NE(elsewhere, block);
  memFree(elsewhere, nullptr);
  streamSynchronize(stream);
  std::set<void *> idle = {memAlloc(kWords * 4, nullptr, false),
                           memAlloc(kWords * 4, nullptr, false)};
  EXPECT_EQ(idle, (std::set<void *>{block, elsewhere}));
  for (void *pointer : idle)
    memFree(pointer, nullptr);
  EXPECT_EQ(getLastError(), nullptr) << lastError();
  emptyCache();
  stats(&inUse, &cached);
  EXPECT_EQ(cached, 0u);
  // A destroyed stream is kept for the next mgpuStreamCreate.
  streamDestroy(stream);
  void *reused = streamCreate();
  EXPECT_EQ(reused, stream);
  streamDestroy(reused);
  EXPECT_EQ(getLastError(), nullptr) << lastError();
}

// The host code's constants reach the device through one cached device copy
// each: the first copy makes it (driver work loraCudaSetupCount counts), the
// next ones only copy from it, device to device.
TEST_F(CudaRuntimeLibrary, ConstantCopiesOnAGpu) {
  std::string reason;
  if (!cudaDeviceOrSkip(reason))
    GTEST_SKIP() << reason;
  auto memAlloc = get<MemAllocFn>("mgpuMemAlloc");
  auto memFree = get<MemFreeFn>("mgpuMemFree");
  auto memcpy = get<MemcpyFn>("mgpuMemcpy");
  auto copyConstant = get<MemcpyFn>("loraCudaCopyConstant");
  auto setupCount = get<uint64_t (*)()>("loraCudaSetupCount");
  ASSERT_TRUE(copyConstant && setupCount);
  static const uint16_t kConstant[64] = {1, 2, 3, 5, 8, 13, 21, 34};
  void *a = memAlloc(sizeof(kConstant), nullptr, false);
  void *b = memAlloc(sizeof(kConstant), nullptr, false);
  ASSERT_TRUE(a && b) << lastError();
  uint64_t before = setupCount();
  copyConstant(a, const_cast<uint16_t *>(kConstant), sizeof(kConstant),
               nullptr);
  uint64_t afterFirst = setupCount();
  EXPECT_GT(afterFirst, before);
  copyConstant(b, const_cast<uint16_t *>(kConstant), sizeof(kConstant),
               nullptr);
  EXPECT_EQ(setupCount(), afterFirst);
  for (void *copy : {a, b}) {
    uint16_t back[64] = {};
    memcpy(back, copy, sizeof(back), nullptr);
    EXPECT_EQ(std::memcmp(back, kConstant, sizeof(back)), 0);
    memFree(copy, nullptr);
  }
  EXPECT_EQ(getLastError(), nullptr) << lastError();
}

// While the CUDA device captures a call (loraCudaCaptureBegin), the host
// code's streams are the capture's, and what a capture cannot hold is
// reported, not done: a wait for an event, memory given back to the driver.
TEST_F(CudaRuntimeLibrary, CaptureRedirectsStreamsOnAGpu) {
  std::string reason;
  if (!cudaDeviceOrSkip(reason))
    GTEST_SKIP() << reason;
  auto captureBegin = get<bool (*)(void *)>("loraCudaCaptureBegin");
  auto captureEnd = get<void (*)()>("loraCudaCaptureEnd");
  auto streamCreate = get<StreamCreateFn>("mgpuStreamCreate");
  auto streamDestroy = get<StreamFn>("mgpuStreamDestroy");
  auto streamSynchronize = get<StreamFn>("mgpuStreamSynchronize");
  auto eventCreate = get<void *(*)()>("mgpuEventCreate");
  auto eventSynchronize = get<void (*)(void *)>("mgpuEventSynchronize");
  auto eventDestroy = get<void (*)(void *)>("mgpuEventDestroy");
  auto memFree = get<MemFreeFn>("mgpuMemFree");
  ASSERT_TRUE(captureBegin && captureEnd && eventCreate && eventSynchronize);

  EXPECT_FALSE(captureBegin(nullptr));
  EXPECT_NE(lastError().find("loraCudaCaptureBegin: no stream to capture on"),
            std::string::npos)
      << lastError();
  clearLastError();

  void *stream = streamCreate();
  void *event = eventCreate();
  ASSERT_TRUE(stream && event) << lastError();
  ASSERT_TRUE(captureBegin(stream)) << lastError();
  EXPECT_EQ(streamCreate(), stream);
  streamSynchronize(stream); // Left to the capture's end: no driver wait.
  streamDestroy(stream);     // Still the capture's.
  EXPECT_EQ(getLastError(), nullptr) << lastError();
  EXPECT_FALSE(captureBegin(stream));
  EXPECT_NE(lastError().find("a capture is already under way"),
            std::string::npos)
      << lastError();
  clearLastError();
  eventSynchronize(event);
  EXPECT_NE(lastError().find("mgpuEventSynchronize: the host code waits for "
                             "an event, which a CUDA graph cannot capture"),
            std::string::npos)
      << lastError();
  clearLastError();
  int notABlock = 0;
  memFree(&notABlock, stream);
  EXPECT_NE(lastError().find("mgpuMemFree: cannot give device memory back to "
                             "the driver while a CUDA graph is captured"),
            std::string::npos)
      << lastError();
  clearLastError();
  captureEnd();

  void *other = streamCreate(); // The pool's: `stream` is still out.
  EXPECT_NE(other, stream);
  streamDestroy(other);
  eventSynchronize(event);
  eventDestroy(event);
  streamDestroy(stream);
  EXPECT_EQ(getLastError(), nullptr) << lastError();
}

} // namespace
