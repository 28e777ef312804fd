//===- FakeCuda.cpp - a libcuda.so.1 that checks calls and runs nothing ---===//
//
// The CUDA target's host code (the launch sequence lowered from
// gpu.launch_func, the tensor maps, the copies of the CUDA device) otherwise
// runs only where a GPU is lent. This library stands in for the driver on
// machines without one: put its folder first on LD_LIBRARY_PATH and the
// runtime's dlopen("libcuda.so.1") finds it. It implements the functions of
// CudaDriver.h over host memory and checks each call as the driver does, or
// more strictly:
//
//   - modules are sm_90a cubins (ELF); a kernel's parameters (ordinal,
//     offset, size), .maxntid, .reqntid and register count come from its
//     .nv.info section, its static shared memory from .nv.shared.<kernel>;
//   - a launch has grid, block and cluster sizes within Hopper's limits, the
//     block within the kernel's .maxntid/.reqntid and its registers, dynamic
//     shared memory over 48 KiB only after cuFuncSetAttribute allowed it and
//     never past the 227 KiB of an SM; the parameters are copied as the
//     driver copies them (from kernelParams[ordinal], the cubin's size);
//   - copies, memsets and tensor maps stay inside live allocations; a tensor
//     map meets every rule of cuTensorMapEncodeTiled's documentation, and
//     the farthest element it can address lies inside its allocation;
//   - frees name live allocations; cuPointerGetAttributes answers for them
//     (device 0, the primary context, the allocation's range) and, as the
//     driver does, with empty answers for other addresses;
//   - stream capture (cuStreamBeginCapture ... cuStreamEndCapture) records
//     launches, copies and memsets on the capturing stream after checking
//     them, and cuGraphLaunch replays them, checked again: a kernel of an
//     unloaded module or a parameter into memory freed since the capture
//     fails the replay. While a capture is under way, what a driver refuses
//     fails and invalidates it: waiting for the capturing stream or the
//     context, cuMemFree, a captured copy from or to host memory, work on
//     the legacy stream when the capturing stream is a blocking one, and
//     cuMemAlloc in a capture not begun in relaxed mode.
//
// Kernels do not run: device memory keeps what copies and memsets put there
// and starts as 0xff bytes (NaN in every float type), so outputs read back
// are NaN unless host code copied or set them.
//
// Environment:
//   LORA_FAKE_CUDA_TRACE=<file>  one JSON object a line per launch, tensor
//                                map, allocation, free, graph instantiated
//                                and graph replayed (whose launches carry
//                                "graph": <id>); device addresses
//                                written as "a<allocation>+<offset>"; at
//                                exit, {"calls": {...}}: the calls of each
//                                driver function
//   LORA_FAKE_CUDA_FAIL=<fn>:<n> the n-th call (from 1) of driver function
//                                <fn> fails (CUDA_ERROR_LAUNCH_FAILED for
//                                launches, else CUDA_ERROR_OUT_OF_MEMORY);
//                                with <n>+, every call from the n-th
//   LORA_FAKE_CUDA_DEVICES=<n>   how many devices there are (default 1)
//   LORA_FAKE_CUDA_REUSE=1       an allocation may get the pages of a freed
//                                one of the same page count (the youngest),
//                                as a driver reuses addresses: caches keyed
//                                by address meet a new buffer there (a use
//                                after free then goes unseen)
//
// A failed check prints "fake libcuda: <function>: <why>" to stderr, goes
// to the trace as {"error": ...} and returns an error code, as a driver
// would; the runtime then reports it as for any driver error.
//
//===----------------------------------------------------------------------===//

#include <cuda.h>

#include <algorithm>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <elf.h>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

#define FAKE_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

//===----------------------------------------------------------------------===//
// Hopper's limits (sm_90, H100/H200)
//===----------------------------------------------------------------------===//

constexpr int kMultiprocessors = 132;
constexpr int kMaxThreadsPerBlock = 1024;
constexpr unsigned kMaxBlockDims[3] = {1024, 1024, 64};
constexpr unsigned kMaxGridDims[3] = {0x7fffffffu, 65535, 65535};
constexpr size_t kDefaultSharedBytes = 48 * 1024;
constexpr size_t kMaxSharedBytesOptin = 227 * 1024;
constexpr int kRegistersPerBlock = 65536;
constexpr int kMaxPortableCluster = 8, kMaxCluster = 16;
constexpr uint8_t kPoison = 0xff;

//===----------------------------------------------------------------------===//
// State
//===----------------------------------------------------------------------===//

struct Kernel {
  std::string name;
  unsigned module = 0; // Modules are numbered in load order.
  struct Param {
    unsigned ordinal, offset, size;
  };
  std::vector<Param> params;
  unsigned maxThreads[3] = {0, 0, 0}; // .maxntid; 0: none.
  unsigned reqThreads[3] = {0, 0, 0}; // .reqntid; 0: none.
  int registers = 0;
  size_t staticShared = 0;
  /// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: what is left of 48 KiB
  /// after the static shared memory, unless set.
  size_t maxDynamicShared = kDefaultSharedBytes;
  bool nonPortableCluster = false;
};

struct Module {
  std::map<std::string, std::unique_ptr<Kernel>> kernels;
  bool loaded = true;
};

struct Allocation {
  size_t bytes;
  unsigned id;
};

/// What a capture recorded: a launch (with copies of its parameters), a
/// copy or a memset.
struct Node {
  enum class Kind { Launch, Copy, Memset } kind;
  Kernel *kernel = nullptr;
  unsigned grid[3] = {}, block[3] = {}, cluster[3] = {}, sharedBytes = 0;
  std::vector<std::vector<uint8_t>> params; // By ordinal.
  uintptr_t destination = 0, source = 0;
  size_t bytes = 0;   // Copies.
  uint32_t value = 0; // Memsets: the value, its size and how many.
  size_t valueSize = 0, count = 0;
};

struct Stream {
  bool nonBlocking = false;
  bool capturing = false;
  bool relaxed = false;     // The capture's mode.
  bool invalidated = false; // Something the capture cannot hold happened.
  std::vector<Node> nodes;
};

struct Graph {
  unsigned id;
  std::vector<Node> nodes;
};

/// Everything the fake keeps, behind one lock: the runtime calls from the
/// threads of its callers.
struct State {
  std::mutex mutex;
  std::map<uintptr_t, Allocation> allocations; // By base address.
  /// Freed allocations, by base address: their pages stay reserved (and
  /// inaccessible), so no later allocation, of the fake or of the host,
  /// gets their addresses, and a use after free is told apart from host
  /// memory.
  std::map<uintptr_t, Allocation> freed;
  unsigned nextAllocation = 0;
  std::vector<std::unique_ptr<Module>> modules;
  std::map<std::string, unsigned> calls; // Calls so far, per function.
  std::string failFunction;
  unsigned failCall = 0;
  bool failLater = false; // Also the calls after failCall.
  int devices = 1;
  bool reuseFreed = false; // LORA_FAKE_CUDA_REUSE=1.
  FILE *trace = nullptr;
  unsigned tensorMaps = 0;
  int contextTag = 0; // Its address is the context.
  std::set<Stream *> streams;
  std::set<Graph *> graphs, executables;
  unsigned nextGraph = 0;

  State() {
    if (const char *path = std::getenv("LORA_FAKE_CUDA_TRACE"))
      trace = std::fopen(path, "a"); // Tests append markers.
    if (const char *fail = std::getenv("LORA_FAKE_CUDA_FAIL")) {
      std::string spec = fail;
      size_t colon = spec.rfind(':');
      failFunction = spec.substr(0, colon);
      char *end = nullptr;
      failCall = colon == std::string::npos
                     ? 1
                     : std::strtoul(spec.c_str() + colon + 1, &end, 10);
      failLater = end && *end == '+';
    }
    if (const char *devices = std::getenv("LORA_FAKE_CUDA_DEVICES"))
      this->devices = std::atoi(devices);
    if (const char *reuse = std::getenv("LORA_FAKE_CUDA_REUSE"))
      reuseFreed = std::string(reuse) == "1";
  }
};

State &state() {
  static State *instance = new State(); // Outlives the model's destructors.
  return *instance;
}

thread_local std::vector<CUcontext> contextStack;

void traceLine(State &s, const std::string &json) {
  if (!s.trace)
    return;
  std::fprintf(s.trace, "%s\n", json.c_str());
  std::fflush(s.trace);
}

std::string quoted(const std::string &text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string format(const char *fmt, ...) {
  char buffer[1024];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buffer, sizeof(buffer), fmt, args);
  va_end(args);
  return buffer;
}

/// Reports a failed check of `function` and gives `result`.
CUresult fail(State &s, const char *function, const std::string &why,
              CUresult result = CUDA_ERROR_INVALID_VALUE) {
  std::fprintf(stderr, "fake libcuda: %s: %s\n", function, why.c_str());
  traceLine(s,
            "{\"error\": " + quoted(std::string(function) + ": " + why) + "}");
  return result;
}

/// Counts a call of `function`; true when LORA_FAKE_CUDA_FAIL picks it.
bool injectFailure(State &s, const char *function) {
  unsigned count = s.calls[function]; // FAKE_LOCK counted this call.
  return s.failFunction == function &&
         (count == s.failCall || (s.failLater && count > s.failCall));
}

/// The live allocation that holds [address, address + bytes), or null.
const std::pair<const uintptr_t, Allocation> *
findAllocation(State &s, uintptr_t address, size_t bytes = 1) {
  auto it = s.allocations.upper_bound(address);
  if (it == s.allocations.begin())
    return nullptr;
  --it;
  if (address - it->first + bytes > it->second.bytes)
    return nullptr;
  return &*it;
}

/// The freed allocation that held `address`, or null.
const std::pair<const uintptr_t, Allocation> *findFreed(State &s,
                                                        uintptr_t address) {
  auto it = s.freed.upper_bound(address);
  if (it == s.freed.begin())
    return nullptr;
  --it;
  return address - it->first < it->second.bytes ? &*it : nullptr;
}

/// "a<id>+<offset>" for an address inside an allocation, else hex.
std::string describeAddress(State &s, uintptr_t address) {
  if (auto *found = findAllocation(s, address))
    return format("a%u+%zu", found->second.id,
                  static_cast<size_t>(address - found->first));
  return format("0x%llx", static_cast<unsigned long long>(address));
}

/// Checks that [address, address + bytes) is device memory.
CUresult checkDeviceRange(State &s, const char *function, const char *what,
                          uintptr_t address, size_t bytes) {
  if (bytes == 0 || findAllocation(s, address, bytes))
    return CUDA_SUCCESS;
  if (findAllocation(s, address))
    return fail(s, function,
                format("%s: %zu bytes from %s run past the end of its "
                       "allocation",
                       what, bytes, describeAddress(s, address).c_str()));
  if (auto *gone = findFreed(s, address))
    return fail(s, function,
                format("%s: a%u+%zu is in a freed allocation", what,
                       gone->second.id, size_t(address - gone->first)));
  return fail(s, function,
              format("%s: 0x%llx is not device memory", what,
                     static_cast<unsigned long long>(address)));
}

//===----------------------------------------------------------------------===//
// Stream capture
//===----------------------------------------------------------------------===//

/// The stream of a handle: null for the legacy stream (0 or
/// CU_STREAM_LEGACY) and the per-thread one, which cannot capture.
Stream *findStream(State &s, CUstream handle) {
  auto *stream = reinterpret_cast<Stream *>(handle);
  return s.streams.count(stream) ? stream : nullptr;
}

bool anyCapture(State &s) {
  for (Stream *stream : s.streams)
    if (stream->capturing)
      return true;
  return false;
}

/// Fails `function`, which no capture may see, and invalidates every
/// capture under way, as the driver does (cuStreamEndCapture then fails).
CUresult
refuseDuringCapture(State &s, const char *function, const std::string &why,
                    CUresult result = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED) {
  for (Stream *stream : s.streams)
    if (stream->capturing)
      stream->invalidated = true;
  return fail(s, function, why + " while a stream is being captured", result);
}

/// Checks work on the legacy stream against the captures under way: it
/// would wait for a blocking stream, which cannot wait while it captures.
CUresult checkLegacyStreamWork(State &s, const char *function) {
  for (Stream *stream : s.streams)
    if (stream->capturing && !stream->nonBlocking)
      return refuseDuringCapture(
          s, function,
          "work on the legacy stream, which would wait for a blocking "
          "stream,",
          CUDA_ERROR_STREAM_CAPTURE_IMPLICIT);
  return CUDA_SUCCESS;
}

/// Where work on `handle` goes: the stream's capture (set `capture`) or
/// the device. An invalidated capture takes nothing more.
CUresult streamForWork(State &s, const char *function, CUstream handle,
                       Stream *&capture) {
  Stream *stream = findStream(s, handle);
  capture = stream && stream->capturing ? stream : nullptr;
  if (capture && capture->invalidated)
    return fail(s, function, "the stream's capture was invalidated",
                CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  if (!stream)
    return checkLegacyStreamWork(s, function);
  return CUDA_SUCCESS;
}

//===----------------------------------------------------------------------===//
// Cubins
//===----------------------------------------------------------------------===//

// .nv.info attributes (as cuobjdump -elf names them) and entry formats.
constexpr uint8_t kFormatSizedValue = 0x04;
constexpr uint8_t kAttrMaxThreads = 0x05;
constexpr uint8_t kAttrReqThreads = 0x10;
constexpr uint8_t kAttrKernelParamInfo = 0x17;
constexpr uint8_t kAttrRegisterCount = 0x2f;

/// Calls `entry(attribute, payload, payloadSize)` for each entry of a
/// .nv.info section; false when an entry runs past its end.
template <typename Fn>
bool forEachInfo(const uint8_t *data, size_t size, Fn entry) {
  size_t at = 0;
  while (at + 4 <= size) {
    uint8_t format = data[at], attribute = data[at + 1];
    if (format != kFormatSizedValue) { // Fixed four-byte entries.
      entry(attribute, data + at + 2, size_t(2));
      at += 4;
      continue;
    }
    uint16_t length;
    std::memcpy(&length, data + at + 2, 2);
    if (at + 4 + length > size)
      return false;
    entry(attribute, data + at + 4, size_t(length));
    at += 4 + length;
  }
  return at == size;
}

/// Parses a cubin into `module`; an error message, or empty.
std::string parseCubin(const void *image, Module &module) {
  const auto *bytes = static_cast<const uint8_t *>(image);
  Elf64_Ehdr header;
  std::memcpy(&header, bytes, sizeof(header));
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0)
    return "the image is not an ELF cubin (a fatbin or PTX?)";
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_machine != EM_CUDA)
    return "the image is an ELF file but not a 64-bit CUDA cubin";
  // The architecture: the SM in bits 8-15 of the flags from ELF ABI
  // version 8 on (ptxas of CUDA 12.8 and later), in bits 0-7 before.
  unsigned arch = header.e_ident[EI_ABIVERSION] >= 8
                      ? (header.e_flags >> 8) & 0xff
                      : header.e_flags & 0xff;
  if (arch != 90)
    return format("the cubin is for sm_%u, not sm_90", arch);
  // cuModuleLoadData gets no size: the header's numbers are all there is.
  // Indices between them are checked; offsets are trusted.
  if (header.e_shentsize != sizeof(Elf64_Shdr) || header.e_shnum == 0 ||
      header.e_shstrndx >= header.e_shnum)
    return "the cubin's section headers are malformed";
  std::vector<Elf64_Shdr> sections(header.e_shnum);
  std::memcpy(sections.data(), bytes + header.e_shoff,
              sections.size() * sizeof(Elf64_Shdr));
  for (const Elf64_Shdr &section : sections)
    if (section.sh_link >= sections.size())
      return "a section of the cubin links to no section";
  // A string of string table `table` at `offset`; empty past its end.
  auto stringAt = [&](const Elf64_Shdr &table, uint32_t offset) {
    if (offset >= table.sh_size)
      return std::string();
    const char *text =
        reinterpret_cast<const char *>(bytes + table.sh_offset + offset);
    return std::string(text, strnlen(text, table.sh_size - offset));
  };
  const Elf64_Shdr &names = sections[header.e_shstrndx];
  auto nameOf = [&](uint32_t offset) { return stringAt(names, offset); };
  // Symbols, for the register counts of the module-wide .nv.info.
  std::vector<std::string> symbols;
  for (const Elf64_Shdr &section : sections) {
    if (section.sh_type != SHT_SYMTAB)
      continue;
    const Elf64_Shdr &strings = sections[section.sh_link];
    for (size_t at = 0; at + sizeof(Elf64_Sym) <= section.sh_size;
         at += sizeof(Elf64_Sym)) {
      Elf64_Sym symbol;
      std::memcpy(&symbol, bytes + section.sh_offset + at, sizeof(symbol));
      symbols.push_back(stringAt(strings, symbol.st_name));
    }
  }
  for (const Elf64_Shdr &section : sections) {
    std::string name = nameOf(section.sh_name);
    if (name.rfind(".text.", 0) == 0) {
      auto kernel = std::make_unique<Kernel>();
      kernel->name = name.substr(6);
      module.kernels[kernel->name] = std::move(kernel);
    }
  }
  std::map<std::string, int> registers;
  for (const Elf64_Shdr &section : sections) {
    std::string name = nameOf(section.sh_name);
    const uint8_t *data = bytes + section.sh_offset;
    if (name.rfind(".nv.shared.", 0) == 0) {
      auto it = module.kernels.find(name.substr(11));
      if (it != module.kernels.end()) {
        it->second->staticShared = section.sh_size;
        it->second->maxDynamicShared =
            kDefaultSharedBytes -
            std::min(kDefaultSharedBytes, section.sh_size);
      }
      continue;
    }
    if (name == ".nv.info") {
      bool ok = forEachInfo(
          data, section.sh_size,
          [&](uint8_t attribute, const uint8_t *payload, size_t length) {
            uint32_t symbol, count;
            if (attribute != kAttrRegisterCount || length != 8)
              return;
            std::memcpy(&symbol, payload, 4);
            std::memcpy(&count, payload + 4, 4);
            if (symbol < symbols.size())
              registers[symbols[symbol]] = count;
          });
      if (!ok)
        return "the cubin's .nv.info section is malformed";
      continue;
    }
    if (name.rfind(".nv.info.", 0) != 0)
      continue;
    auto it = module.kernels.find(name.substr(9));
    if (it == module.kernels.end())
      return "the cubin has " + name + " for no kernel";
    Kernel &kernel = *it->second;
    bool ok = forEachInfo(
        data, section.sh_size,
        [&](uint8_t attribute, const uint8_t *payload, size_t length) {
          if (attribute == kAttrKernelParamInfo && length == 12) {
            uint16_t ordinal, offset;
            uint32_t flags;
            std::memcpy(&ordinal, payload + 4, 2);
            std::memcpy(&offset, payload + 6, 2);
            std::memcpy(&flags, payload + 8, 4);
            kernel.params.push_back({ordinal, offset, (flags >> 18) & 0x3fff});
          } else if ((attribute == kAttrMaxThreads ||
                      attribute == kAttrReqThreads) &&
                     length == 12) {
            std::memcpy(attribute == kAttrMaxThreads ? kernel.maxThreads
                                                     : kernel.reqThreads,
                        payload, 12);
          }
        });
    if (!ok)
      return "the cubin's " + name + " section is malformed";
    std::sort(kernel.params.begin(), kernel.params.end(),
              [](const Kernel::Param &a, const Kernel::Param &b) {
                return a.ordinal < b.ordinal;
              });
    for (size_t i = 0; i < kernel.params.size(); ++i)
      if (kernel.params[i].ordinal != i || kernel.params[i].size == 0)
        return "kernel " + kernel.name + "'s parameter list is malformed";
  }
  for (auto &[name, kernel] : module.kernels) {
    auto found = registers.find(name);
    if (found == registers.end())
      return "the cubin gives no register count for kernel " + name;
    kernel->registers = found->second;
  }
  return {};
}

//===----------------------------------------------------------------------===//
// Launches
//===----------------------------------------------------------------------===//

/// Checks a launch of `kernel` and traces it, or records it in `capture`;
/// a launch replayed by graph `graph` (>= 0) says so in the trace.
CUresult launch(State &s, const char *function, Kernel *kernel,
                const unsigned grid[3], const unsigned block[3],
                const unsigned cluster[3], unsigned sharedBytes, void **params,
                void **extra, Stream *capture = nullptr, int graph = -1) {
  if (!kernel)
    return fail(s, function, "no kernel (a null CUfunction)",
                CUDA_ERROR_INVALID_HANDLE);
  if (!s.modules[kernel->module]->loaded)
    return fail(s, function, kernel->name + ": its module was unloaded",
                CUDA_ERROR_INVALID_HANDLE);
  const std::string &name = kernel->name;
  if (extra)
    return fail(s, function,
                name + ": `extra` parameter buffers are not "
                       "supported by the fake driver");
  unsigned threads = 1;
  for (int i = 0; i < 3; ++i) {
    if (grid[i] == 0 || grid[i] > kMaxGridDims[i])
      return fail(s, function,
                  format("%s: grid dimension %d is %u (1 to %u)", name.c_str(),
                         i, grid[i], kMaxGridDims[i]));
    if (block[i] == 0 || block[i] > kMaxBlockDims[i])
      return fail(s, function,
                  format("%s: block dimension %d is %u (1 to %u)", name.c_str(),
                         i, block[i], kMaxBlockDims[i]));
    threads *= block[i];
  }
  if (threads > kMaxThreadsPerBlock)
    return fail(s, function,
                format("%s: %u threads a block (at most %d)", name.c_str(),
                       threads, kMaxThreadsPerBlock));
  if (kernel->reqThreads[0] &&
      !std::equal(block, block + 3, kernel->reqThreads))
    return fail(s, function,
                format("%s: block %ux%ux%u, but the kernel requires "
                       "%ux%ux%u (.reqntid)",
                       name.c_str(), block[0], block[1], block[2],
                       kernel->reqThreads[0], kernel->reqThreads[1],
                       kernel->reqThreads[2]));
  if (kernel->maxThreads[0] && threads > kernel->maxThreads[0] *
                                             kernel->maxThreads[1] *
                                             kernel->maxThreads[2])
    return fail(s, function,
                format("%s: %u threads a block, but .maxntid is %ux%ux%u",
                       name.c_str(), threads, kernel->maxThreads[0],
                       kernel->maxThreads[1], kernel->maxThreads[2]));
  // Registers go to warps in units of 256.
  unsigned warps = (threads + 31) / 32;
  unsigned perWarp = (kernel->registers * 32 + 255) / 256 * 256;
  if (warps * perWarp > unsigned(kRegistersPerBlock))
    return fail(s, function,
                format("%s: %u warps of %d registers a thread need %u "
                       "registers, more than an SM has (%d)",
                       name.c_str(), warps, kernel->registers, warps * perWarp,
                       kRegistersPerBlock),
                CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES);
  if (sharedBytes > kernel->maxDynamicShared)
    return fail(s, function,
                format("%s: %u bytes of dynamic shared memory, more than the "
                       "%zu allowed (cuFuncSetAttribute with "
                       "CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES raises "
                       "the limit)",
                       name.c_str(), sharedBytes, kernel->maxDynamicShared));
  if (kernel->staticShared + sharedBytes > kMaxSharedBytesOptin)
    return fail(s, function,
                format("%s: %zu bytes of static and %u of dynamic shared "
                       "memory, more than an SM has (%zu)",
                       name.c_str(), kernel->staticShared, sharedBytes,
                       kMaxSharedBytesOptin));
  unsigned clusterSize = cluster[0] * cluster[1] * cluster[2];
  for (int i = 0; i < 3; ++i)
    if (cluster[i] == 0 || grid[i] % cluster[i] != 0)
      return fail(s, function,
                  format("%s: cluster dimension %d is %u, which does not "
                         "divide the grid's %u",
                         name.c_str(), i, cluster[i], grid[i]));
  if (clusterSize >
      unsigned(kernel->nonPortableCluster ? kMaxCluster : kMaxPortableCluster))
    return fail(s, function,
                format("%s: clusters of %u blocks%s", name.c_str(), clusterSize,
                       kernel->nonPortableCluster
                           ? " (at most 16)"
                           : " need CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_"
                             "SIZE_ALLOWED (at most 8 without)"));
  if (!kernel->params.empty() && !params)
    return fail(s, function,
                name + format(": the kernel has %zu parameters and "
                              "kernelParams is null",
                              kernel->params.size()));
  std::string traced =
      "{\"launch\": " + quoted(name) +
      format(", \"module\": %u, \"grid\": [%u, %u, %u], \"block\": [%u, %u, "
             "%u], \"cluster\": [%u, %u, %u], \"shared\": "
             "%u, \"params\": [",
             kernel->module, grid[0], grid[1], grid[2], block[0], block[1],
             block[2], cluster[0], cluster[1], cluster[2], sharedBytes);
  Node node{Node::Kind::Launch};
  for (const Kernel::Param &param : kernel->params) {
    if (!params[param.ordinal])
      return fail(
          s, function,
          format("%s: kernelParams[%u] is null", name.c_str(), param.ordinal));
    std::vector<uint8_t> value(param.size);
    std::memcpy(value.data(), params[param.ordinal], param.size);
    if (param.ordinal)
      traced += ", ";
    if (param.size == 8) {
      uint64_t word;
      std::memcpy(&word, value.data(), 8);
      if (auto *gone = findFreed(s, word))
        return fail(s, function,
                    format("%s: kernelParams[%u] points into a%u, which was "
                           "freed%s",
                           name.c_str(), param.ordinal, gone->second.id,
                           graph >= 0 ? " since the graph was captured" : ""),
                    CUDA_ERROR_ILLEGAL_ADDRESS);
      traced += quoted(describeAddress(s, word));
    } else {
      std::string hex = "0x";
      for (size_t i = value.size(); i-- > 0;)
        hex += format("%02x", value[i]);
      traced += quoted(hex);
    }
    if (node.params.size() <= param.ordinal)
      node.params.resize(param.ordinal + 1);
    node.params[param.ordinal] = std::move(value);
  }
  if (capture) {
    node.kernel = kernel;
    std::copy(grid, grid + 3, node.grid);
    std::copy(block, block + 3, node.block);
    std::copy(cluster, cluster + 3, node.cluster);
    node.sharedBytes = sharedBytes;
    capture->nodes.push_back(std::move(node));
    return CUDA_SUCCESS;
  }
  traceLine(s, traced + "]" +
                   (graph >= 0 ? format(", \"graph\": %d", graph) : "") + "}");
  return CUDA_SUCCESS;
}

/// The bytes of an element of tensor map data type `type`, from cuda.h's
/// list, written here rather than shared with the runtime, which this
/// library checks; 0 for the packed sub-byte types (not used by our
/// kernels).
size_t tensorElementBytes(CUtensorMapDataType type) {
  // UINT8, UINT16, UINT32, INT32, UINT64, INT64, FLOAT16, FLOAT32, FLOAT64,
  // BFLOAT16, FLOAT32_FTZ, TFLOAT32, TFLOAT32_FTZ.
  constexpr uint8_t kBytes[] = {1, 2, 4, 4, 8, 8, 2, 4, 8, 2, 4, 4, 4};
  static_assert(CU_TENSOR_MAP_DATA_TYPE_TFLOAT32_FTZ == 12);
  unsigned index = unsigned(type);
  return index < std::size(kBytes) ? kBytes[index] : 0;
}

} // namespace

/// The calls of each driver function, as the trace's last line.
__attribute__((destructor)) static void traceCallCounts() {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  std::string counts;
  for (const auto &[function, count] : s.calls)
    counts +=
        (counts.empty() ? "" : ", ") + quoted(function) + format(": %u", count);
  traceLine(s, "{\"calls\": {" + counts + "}}");
}

//===----------------------------------------------------------------------===//
// The driver API
//===----------------------------------------------------------------------===//

/// Takes the fake's lock for the rest of the scope and counts a call of
/// driver function `name`.
#define FAKE_LOCK(name)                                                        \
  State &s = state();                                                          \
  std::lock_guard<std::mutex> lock(s.mutex);                                   \
  ++s.calls[name]

FAKE_EXPORT CUresult cuGetErrorName(CUresult error, const char **name) {
  switch (error) {
#define FAKE_ERROR(code)                                                       \
  case code:                                                                   \
    *name = #code;                                                             \
    return CUDA_SUCCESS;
    FAKE_ERROR(CUDA_SUCCESS)
    FAKE_ERROR(CUDA_ERROR_INVALID_VALUE)
    FAKE_ERROR(CUDA_ERROR_OUT_OF_MEMORY)
    FAKE_ERROR(CUDA_ERROR_NOT_INITIALIZED)
    FAKE_ERROR(CUDA_ERROR_NO_DEVICE)
    FAKE_ERROR(CUDA_ERROR_INVALID_DEVICE)
    FAKE_ERROR(CUDA_ERROR_INVALID_IMAGE)
    FAKE_ERROR(CUDA_ERROR_INVALID_CONTEXT)
    FAKE_ERROR(CUDA_ERROR_INVALID_HANDLE)
    FAKE_ERROR(CUDA_ERROR_NOT_FOUND)
    FAKE_ERROR(CUDA_ERROR_LAUNCH_FAILED)
    FAKE_ERROR(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES)
    FAKE_ERROR(CUDA_ERROR_NOT_SUPPORTED)
#undef FAKE_ERROR
  default:
    *name = nullptr;
    return CUDA_ERROR_INVALID_VALUE;
  }
}

FAKE_EXPORT CUresult cuGetErrorString(CUresult error, const char **text) {
  const char *name = nullptr;
  CUresult result = cuGetErrorName(error, &name);
  *text = name ? "reported by the fake driver (test/lib/FakeCuda)" : nullptr;
  return result;
}

FAKE_EXPORT CUresult cuInit(unsigned) {
  FAKE_LOCK("cuInit");
  return s.devices > 0 ? CUDA_SUCCESS : CUDA_ERROR_NO_DEVICE;
}

FAKE_EXPORT CUresult cuDriverGetVersion(int *version) {
  FAKE_LOCK("cuDriverGetVersion");
  *version = CUDA_VERSION;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuDeviceGetCount(int *count) {
  FAKE_LOCK("cuDeviceGetCount");
  *count = s.devices;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuDeviceGet(CUdevice *device, int ordinal) {
  FAKE_LOCK("cuDeviceGet");
  if (ordinal < 0 || ordinal >= s.devices)
    return fail(s, "cuDeviceGet", format("no device %d", ordinal),
                CUDA_ERROR_INVALID_DEVICE);
  *device = ordinal;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuDeviceGetName(char *name, int length, CUdevice) {
  FAKE_LOCK("cuDeviceGetName");
  std::snprintf(name, length, "lora-opt fake CUDA device (sm_90)");
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuDeviceGetAttribute(int *value,
                                          CUdevice_attribute attribute,
                                          CUdevice) {
  FAKE_LOCK("cuDeviceGetAttribute");
  switch (attribute) {
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR:
    *value = 9;
    return CUDA_SUCCESS;
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR:
    *value = 0;
    return CUDA_SUCCESS;
  case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT:
    *value = kMultiprocessors;
    return CUDA_SUCCESS;
  case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK:
    *value = kMaxThreadsPerBlock;
    return CUDA_SUCCESS;
  case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK:
    *value = int(kDefaultSharedBytes);
    return CUDA_SUCCESS;
  case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN:
    *value = int(kMaxSharedBytesOptin);
    return CUDA_SUCCESS;
  case CU_DEVICE_ATTRIBUTE_WARP_SIZE:
    *value = 32;
    return CUDA_SUCCESS;
  default: {
    return fail(
        s, "cuDeviceGetAttribute",
        format("attribute %d is not known to the fake driver", int(attribute)),
        CUDA_ERROR_NOT_SUPPORTED);
  }
  }
}

FAKE_EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *context, CUdevice) {
  FAKE_LOCK("cuDevicePrimaryCtxRetain");
  *context = reinterpret_cast<CUcontext>(&state().contextTag);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuDevicePrimaryCtxRelease(CUdevice) {
  FAKE_LOCK("cuDevicePrimaryCtxRelease");
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuCtxPushCurrent(CUcontext context) {
  FAKE_LOCK("cuCtxPushCurrent");
  contextStack.push_back(context);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuCtxPopCurrent(CUcontext *context) {
  FAKE_LOCK("cuCtxPopCurrent");
  if (contextStack.empty()) {
    return fail(s, "cuCtxPopCurrent", "no context is current",
                CUDA_ERROR_INVALID_CONTEXT);
  }
  if (context)
    *context = contextStack.back();
  contextStack.pop_back();
  return CUDA_SUCCESS;
}

/// Every call that works in a context checks that one is current.
#define FAKE_NEEDS_CONTEXT(name)                                               \
  if (contextStack.empty())                                                    \
  return fail(s, name, "no context is current", CUDA_ERROR_INVALID_CONTEXT)

FAKE_EXPORT CUresult cuCtxSynchronize() {
  FAKE_LOCK("cuCtxSynchronize");
  FAKE_NEEDS_CONTEXT("cuCtxSynchronize");
  if (anyCapture(s))
    return refuseDuringCapture(s, "cuCtxSynchronize",
                               "waiting for the context");
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuModuleLoadData(CUmodule *module, const void *image) {
  FAKE_LOCK("cuModuleLoadData");
  FAKE_NEEDS_CONTEXT("cuModuleLoadData");
  if (injectFailure(s, "cuModuleLoadData"))
    return CUDA_ERROR_OUT_OF_MEMORY;
  if (!image)
    return fail(s, "cuModuleLoadData", "no image");
  auto loaded = std::make_unique<Module>();
  std::string error = parseCubin(image, *loaded);
  if (!error.empty())
    return fail(s, "cuModuleLoadData", error, CUDA_ERROR_INVALID_IMAGE);
  std::string names;
  for (const auto &entry : loaded->kernels) {
    entry.second->module = unsigned(s.modules.size());
    names += (names.empty() ? "" : ", ") + quoted(entry.first);
  }
  traceLine(s, format("{\"module\": %zu, \"kernels\": [", s.modules.size()) +
                   names + "]}");
  *module = reinterpret_cast<CUmodule>(loaded.get());
  s.modules.push_back(std::move(loaded));
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuModuleLoadDataEx(CUmodule *module, const void *image,
                                        unsigned, CUjit_option *, void **) {
  return cuModuleLoadData(module, image);
}

static Module *findModule(State &s, CUmodule handle) {
  for (auto &module : s.modules)
    if (reinterpret_cast<CUmodule>(module.get()) == handle && module->loaded)
      return module.get();
  return nullptr;
}

FAKE_EXPORT CUresult cuModuleUnload(CUmodule handle) {
  FAKE_LOCK("cuModuleUnload");
  Module *module = findModule(s, handle);
  if (!module)
    return fail(s, "cuModuleUnload", "not a loaded module",
                CUDA_ERROR_INVALID_HANDLE);
  module->loaded = false;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuModuleGetFunction(CUfunction *function, CUmodule handle,
                                         const char *name) {
  FAKE_LOCK("cuModuleGetFunction");
  FAKE_NEEDS_CONTEXT("cuModuleGetFunction");
  Module *module = findModule(s, handle);
  if (!module)
    return fail(s, "cuModuleGetFunction", "not a loaded module",
                CUDA_ERROR_INVALID_HANDLE);
  auto it = module->kernels.find(name ? name : "");
  if (it == module->kernels.end())
    return fail(s, "cuModuleGetFunction",
                std::string("the module has no kernel ") + (name ? name : ""),
                CUDA_ERROR_NOT_FOUND);
  *function = reinterpret_cast<CUfunction>(it->second.get());
  return CUDA_SUCCESS;
}

/// The kernel of `function` in a loaded module, or null.
static Kernel *findKernel(State &s, CUfunction function) {
  for (auto &module : s.modules)
    if (module->loaded)
      for (auto &entry : module->kernels)
        if (reinterpret_cast<CUfunction>(entry.second.get()) == function)
          return entry.second.get();
  return nullptr;
}

FAKE_EXPORT CUresult cuFuncSetAttribute(CUfunction function,
                                        CUfunction_attribute attribute,
                                        int value) {
  FAKE_LOCK("cuFuncSetAttribute");
  FAKE_NEEDS_CONTEXT("cuFuncSetAttribute");
  Kernel *kernel = findKernel(s, function);
  if (!kernel)
    return fail(s, "cuFuncSetAttribute", "not a kernel of a loaded module",
                CUDA_ERROR_INVALID_HANDLE);
  switch (attribute) {
  case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
    if (value < 0 ||
        kernel->staticShared + size_t(value) > kMaxSharedBytesOptin)
      return fail(s, "cuFuncSetAttribute",
                  format("%s: %d bytes of dynamic shared memory with %zu "
                         "static exceed the %zu of an SM",
                         kernel->name.c_str(), value, kernel->staticShared,
                         kMaxSharedBytesOptin));
    kernel->maxDynamicShared = size_t(value);
    return CUDA_SUCCESS;
  case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED:
    kernel->nonPortableCluster = value != 0;
    return CUDA_SUCCESS;
  default:
    return fail(
        s, "cuFuncSetAttribute",
        format("attribute %d is not known to the fake driver", int(attribute)),
        CUDA_ERROR_NOT_SUPPORTED);
  }
}

FAKE_EXPORT CUresult cuLaunchKernel(CUfunction function, unsigned gridX,
                                    unsigned gridY, unsigned gridZ,
                                    unsigned blockX, unsigned blockY,
                                    unsigned blockZ, unsigned sharedBytes,
                                    CUstream stream, void **params,
                                    void **extra) {
  FAKE_LOCK("cuLaunchKernel");
  FAKE_NEEDS_CONTEXT("cuLaunchKernel");
  if (injectFailure(s, "cuLaunchKernel"))
    return CUDA_ERROR_LAUNCH_FAILED;
  Stream *capture = nullptr;
  if (CUresult result = streamForWork(s, "cuLaunchKernel", stream, capture))
    return result;
  const unsigned grid[3] = {gridX, gridY, gridZ};
  const unsigned block[3] = {blockX, blockY, blockZ};
  const unsigned cluster[3] = {1, 1, 1};
  return launch(s, "cuLaunchKernel", findKernel(s, function), grid, block,
                cluster, sharedBytes, params, extra, capture);
}

FAKE_EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig *config,
                                      CUfunction function, void **params,
                                      void **extra) {
  FAKE_LOCK("cuLaunchKernelEx");
  FAKE_NEEDS_CONTEXT("cuLaunchKernelEx");
  if (injectFailure(s, "cuLaunchKernelEx"))
    return CUDA_ERROR_LAUNCH_FAILED;
  Stream *capture = nullptr;
  if (CUresult result =
          streamForWork(s, "cuLaunchKernelEx", config->hStream, capture))
    return result;
  unsigned cluster[3] = {1, 1, 1};
  for (unsigned i = 0; i < config->numAttrs; ++i) {
    const CUlaunchAttribute &attribute = config->attrs[i];
    if (attribute.id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION) {
      cluster[0] = attribute.value.clusterDim.x;
      cluster[1] = attribute.value.clusterDim.y;
      cluster[2] = attribute.value.clusterDim.z;
    } else if (attribute.id !=
                   CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE &&
               attribute.id !=
                   CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION) {
      return fail(s, "cuLaunchKernelEx",
                  format("launch attribute %d is not known to the fake driver",
                         int(attribute.id)),
                  CUDA_ERROR_NOT_SUPPORTED);
    }
  }
  const unsigned grid[3] = {config->gridDimX, config->gridDimY,
                            config->gridDimZ};
  const unsigned block[3] = {config->blockDimX, config->blockDimY,
                             config->blockDimZ};
  return launch(s, "cuLaunchKernelEx", findKernel(s, function), grid, block,
                cluster, config->sharedMemBytes, params, extra, capture);
}

// Work "completes" when it is issued (or replayed); events are tokens.
static int eventTag;

FAKE_EXPORT CUresult cuStreamCreate(CUstream *stream, unsigned flags) {
  FAKE_LOCK("cuStreamCreate");
  FAKE_NEEDS_CONTEXT("cuStreamCreate");
  auto *created = new Stream();
  created->nonBlocking = flags & CU_STREAM_NON_BLOCKING;
  s.streams.insert(created);
  *stream = reinterpret_cast<CUstream>(created);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuStreamDestroy(CUstream handle) {
  FAKE_LOCK("cuStreamDestroy");
  Stream *stream = findStream(s, handle);
  if (!stream)
    return fail(s, "cuStreamDestroy", "not a stream of cuStreamCreate",
                CUDA_ERROR_INVALID_HANDLE);
  if (stream->capturing)
    return fail(s, "cuStreamDestroy", "the stream is being captured",
                CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  s.streams.erase(stream);
  delete stream;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuStreamSynchronize(CUstream handle) {
  FAKE_LOCK("cuStreamSynchronize");
  Stream *stream = findStream(s, handle);
  if (stream && stream->capturing)
    return refuseDuringCapture(s, "cuStreamSynchronize",
                               "waiting for the stream");
  if (!stream)
    return checkLegacyStreamWork(s, "cuStreamSynchronize");
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuStreamBeginCapture(CUstream handle,
                                          CUstreamCaptureMode mode) {
  FAKE_LOCK("cuStreamBeginCapture");
  FAKE_NEEDS_CONTEXT("cuStreamBeginCapture");
  if (injectFailure(s, "cuStreamBeginCapture"))
    return CUDA_ERROR_OUT_OF_MEMORY;
  Stream *stream = findStream(s, handle);
  if (!stream)
    return fail(s, "cuStreamBeginCapture",
                "the legacy stream cannot be captured");
  if (stream->capturing)
    return fail(s, "cuStreamBeginCapture", "the stream is being captured",
                CUDA_ERROR_ILLEGAL_STATE);
  *stream = Stream{stream->nonBlocking, /*capturing=*/true,
                   mode == CU_STREAM_CAPTURE_MODE_RELAXED};
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuStreamEndCapture(CUstream handle, CUgraph *graph) {
  FAKE_LOCK("cuStreamEndCapture");
  Stream *stream = findStream(s, handle);
  if (!stream || !stream->capturing)
    return fail(s, "cuStreamEndCapture", "the stream is not being captured",
                CUDA_ERROR_ILLEGAL_STATE);
  stream->capturing = false;
  *graph = nullptr;
  if (stream->invalidated)
    return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
  auto *captured = new Graph{s.nextGraph++, std::move(stream->nodes)};
  stream->nodes.clear();
  s.graphs.insert(captured);
  *graph = reinterpret_cast<CUgraph>(captured);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuGraphInstantiate(CUgraphExec *exec, CUgraph handle,
                                        unsigned long long) {
  FAKE_LOCK("cuGraphInstantiate");
  FAKE_NEEDS_CONTEXT("cuGraphInstantiate");
  if (injectFailure(s, "cuGraphInstantiate"))
    return CUDA_ERROR_OUT_OF_MEMORY;
  auto *graph = reinterpret_cast<Graph *>(handle);
  if (!s.graphs.count(graph))
    return fail(s, "cuGraphInstantiate", "not a live graph",
                CUDA_ERROR_INVALID_VALUE);
  auto *executable = new Graph{s.nextGraph++, graph->nodes};
  s.executables.insert(executable);
  size_t launches = std::count_if(
      executable->nodes.begin(), executable->nodes.end(),
      [](const Node &node) { return node.kind == Node::Kind::Launch; });
  traceLine(s, format("{\"graph\": %u, \"nodes\": %zu, \"launches\": %zu}",
                      executable->id, executable->nodes.size(), launches));
  *exec = reinterpret_cast<CUgraphExec>(executable);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuGraphDestroy(CUgraph handle) {
  FAKE_LOCK("cuGraphDestroy");
  auto *graph = reinterpret_cast<Graph *>(handle);
  if (!s.graphs.erase(graph))
    return fail(s, "cuGraphDestroy", "not a live graph");
  delete graph;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuGraphExecDestroy(CUgraphExec handle) {
  FAKE_LOCK("cuGraphExecDestroy");
  auto *executable = reinterpret_cast<Graph *>(handle);
  if (!s.executables.erase(executable))
    return fail(s, "cuGraphExecDestroy", "not a live executable graph");
  traceLine(s, format("{\"graph_destroyed\": %u}", executable->id));
  delete executable;
  return CUDA_SUCCESS;
}

static CUresult copy(State &s, const char *function, uintptr_t destination,
                     uintptr_t source, size_t bytes);
template <typename T>
static CUresult setMemory(State &s, const char *function,
                          CUdeviceptr destination, T value, size_t count);

/// Runs `executable`'s nodes again, checked as when they were captured.
FAKE_EXPORT CUresult cuGraphLaunch(CUgraphExec handle, CUstream handleStream) {
  FAKE_LOCK("cuGraphLaunch");
  FAKE_NEEDS_CONTEXT("cuGraphLaunch");
  auto *executable = reinterpret_cast<Graph *>(handle);
  if (!s.executables.count(executable))
    return fail(s, "cuGraphLaunch", "not a live executable graph",
                CUDA_ERROR_INVALID_VALUE);
  Stream *capture = nullptr;
  if (CUresult result =
          streamForWork(s, "cuGraphLaunch", handleStream, capture))
    return result;
  if (capture)
    return fail(s, "cuGraphLaunch",
                "graphs launched into a capture are not supported by the "
                "fake driver",
                CUDA_ERROR_NOT_SUPPORTED);
  traceLine(s, format("{\"replay\": %u}", executable->id));
  for (Node &node : executable->nodes) {
    CUresult result = CUDA_SUCCESS;
    switch (node.kind) {
    case Node::Kind::Launch: {
      std::vector<void *> params;
      for (auto &value : node.params)
        params.push_back(value.data());
      result = launch(s, "cuGraphLaunch", node.kernel, node.grid, node.block,
                      node.cluster, node.sharedBytes, params.data(), nullptr,
                      nullptr, int(executable->id));
      break;
    }
    case Node::Kind::Copy:
      result =
          copy(s, "cuGraphLaunch", node.destination, node.source, node.bytes);
      break;
    case Node::Kind::Memset:
      result = node.valueSize == 2
                   ? setMemory<uint16_t>(s, "cuGraphLaunch", node.destination,
                                         uint16_t(node.value), node.count)
                   : setMemory<uint32_t>(s, "cuGraphLaunch", node.destination,
                                         node.value, node.count);
      break;
    }
    if (result != CUDA_SUCCESS)
      return result;
  }
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuStreamWaitEvent(CUstream, CUevent, unsigned) {
  FAKE_LOCK("cuStreamWaitEvent");
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuEventCreate(CUevent *event, unsigned) {
  FAKE_LOCK("cuEventCreate");
  *event = reinterpret_cast<CUevent>(new int(eventTag));
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuEventDestroy(CUevent event) {
  FAKE_LOCK("cuEventDestroy");
  delete reinterpret_cast<int *>(event);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuEventSynchronize(CUevent) {
  FAKE_LOCK("cuEventSynchronize");
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuEventRecord(CUevent, CUstream) {
  FAKE_LOCK("cuEventRecord");
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuMemAlloc(CUdeviceptr *pointer, size_t bytes) {
  FAKE_LOCK("cuMemAlloc");
  FAKE_NEEDS_CONTEXT("cuMemAlloc");
  if (injectFailure(s, "cuMemAlloc"))
    return CUDA_ERROR_OUT_OF_MEMORY;
  // Threads are not told apart: any capture not in relaxed mode forbids it.
  for (Stream *stream : s.streams)
    if (stream->capturing && !stream->relaxed)
      return refuseDuringCapture(s, "cuMemAlloc",
                                 "an allocation (not in relaxed mode)");
  if (bytes == 0)
    return fail(s, "cuMemAlloc", "0 bytes");
  // Pages of their own (the driver aligns to 256 bytes at least), never
  // given back to the host (see State::freed).
  size_t page = size_t(sysconf(_SC_PAGESIZE));
  size_t rounded = (bytes + page - 1) / page * page;
  void *memory = nullptr;
  int reused = -1; // The freed allocation whose pages these are.
  if (s.reuseFreed) {
    // The youngest freed allocation of as many pages, made accessible again.
    auto youngest = s.freed.end();
    for (auto it = s.freed.begin(); it != s.freed.end(); ++it)
      if ((it->second.bytes + page - 1) / page * page == rounded &&
          (youngest == s.freed.end() || it->second.id > youngest->second.id))
        youngest = it;
    if (youngest != s.freed.end()) {
      memory = reinterpret_cast<void *>(youngest->first);
      reused = int(youngest->second.id);
      mprotect(memory, rounded, PROT_READ | PROT_WRITE);
      s.freed.erase(youngest);
    }
  }
  if (!memory)
    memory = mmap(nullptr, rounded, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED)
    return CUDA_ERROR_OUT_OF_MEMORY;
  std::memset(memory, kPoison, bytes);
  unsigned id = s.nextAllocation++;
  s.allocations[reinterpret_cast<uintptr_t>(memory)] = {bytes, id};
  traceLine(s, format("{\"alloc\": %u, \"bytes\": %zu", id, bytes) +
                   (reused >= 0 ? format(", \"reuses\": %d}", reused) : "}"));
  *pointer = reinterpret_cast<CUdeviceptr>(memory);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuMemAllocManaged(CUdeviceptr *pointer, size_t bytes,
                                       unsigned) {
  return cuMemAlloc(pointer, bytes);
}

/// As the driver: an address it does not know (host memory, a freed
/// allocation) gets empty answers and success.
FAKE_EXPORT CUresult cuPointerGetAttributes(unsigned count,
                                            CUpointer_attribute *attributes,
                                            void **data, CUdeviceptr pointer) {
  FAKE_LOCK("cuPointerGetAttributes");
  if (!attributes || !data)
    return fail(s, "cuPointerGetAttributes", "null attributes or data");
  auto *found = findAllocation(s, uintptr_t(pointer));
  for (unsigned i = 0; i < count; ++i) {
    switch (attributes[i]) {
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
      *static_cast<unsigned *>(data[i]) = found ? CU_MEMORYTYPE_DEVICE : 0;
      break;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
      *static_cast<int *>(data[i]) = found ? 0 : -2;
      break;
    case CU_POINTER_ATTRIBUTE_CONTEXT:
      *static_cast<CUcontext *>(data[i]) =
          found ? reinterpret_cast<CUcontext>(&s.contextTag) : nullptr;
      break;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
      *static_cast<CUdeviceptr *>(data[i]) = found ? found->first : 0;
      break;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
      *static_cast<size_t *>(data[i]) = found ? found->second.bytes : 0;
      break;
    default:
      return fail(s, "cuPointerGetAttributes",
                  format("attribute %d is not modelled", int(attributes[i])));
    }
  }
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuMemFree(CUdeviceptr pointer) {
  FAKE_LOCK("cuMemFree");
  if (anyCapture(s))
    return refuseDuringCapture(s, "cuMemFree",
                               "a free, which waits for the device,");
  if (auto *gone = findFreed(s, uintptr_t(pointer)))
    return fail(s, "cuMemFree",
                format("a%u+%zu was freed before", gone->second.id,
                       size_t(uintptr_t(pointer) - gone->first)));
  auto it = s.allocations.find(uintptr_t(pointer));
  if (it == s.allocations.end())
    return fail(s, "cuMemFree",
                findAllocation(s, uintptr_t(pointer))
                    ? describeAddress(s, uintptr_t(pointer)) +
                          " is inside an allocation, not its start"
                    : format("0x%llx is not a live allocation",
                             static_cast<unsigned long long>(pointer)));
  traceLine(s, format("{\"free\": %u}", it->second.id));
  // Its memory goes back to the system; its addresses stay reserved.
  size_t page = size_t(sysconf(_SC_PAGESIZE));
  size_t rounded = (it->second.bytes + page - 1) / page * page;
  auto *base = reinterpret_cast<void *>(it->first);
  madvise(base, rounded, MADV_DONTNEED);
  mprotect(base, rounded, PROT_NONE);
  s.freed.insert(*it);
  s.allocations.erase(it);
  return CUDA_SUCCESS;
}

/// A copy between device or host ranges (unified addressing): each side
/// that starts in device memory must end there; none may be null or freed
/// device memory.
static CUresult copy(State &s, const char *function, uintptr_t destination,
                     uintptr_t source, size_t bytes) {
  for (auto [what, address] :
       {std::pair{"destination", destination}, std::pair{"source", source}}) {
    if (bytes && !address)
      return fail(s, function, std::string(what) + " is null");
    if (findAllocation(s, address) || findFreed(s, address))
      if (CUresult result = checkDeviceRange(s, function, what, address, bytes))
        return result;
  }
  std::memmove(reinterpret_cast<void *>(destination),
               reinterpret_cast<const void *>(source), bytes);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuMemcpy(CUdeviceptr destination, CUdeviceptr source,
                              size_t bytes) {
  FAKE_LOCK("cuMemcpy");
  FAKE_NEEDS_CONTEXT("cuMemcpy");
  if (CUresult result = checkLegacyStreamWork(s, "cuMemcpy"))
    return result;
  return copy(s, "cuMemcpy", destination, source, bytes);
}

FAKE_EXPORT CUresult cuMemcpyAsync(CUdeviceptr destination, CUdeviceptr source,
                                   size_t bytes, CUstream stream) {
  FAKE_LOCK("cuMemcpyAsync");
  FAKE_NEEDS_CONTEXT("cuMemcpyAsync");
  Stream *capture = nullptr;
  if (CUresult result = streamForWork(s, "cuMemcpyAsync", stream, capture))
    return result;
  if (!capture)
    return copy(s, "cuMemcpyAsync", destination, source, bytes);
  // A graph copies between device buffers only (pageable host memory
  // cannot be a graph's memcpy node).
  for (auto [what, address] :
       {std::pair{"destination", destination}, std::pair{"source", source}})
    if (bytes && !findAllocation(s, uintptr_t(address)))
      return refuseDuringCapture(
          s, "cuMemcpyAsync",
          format("a copy whose %s %s is not device memory", what,
                 describeAddress(s, uintptr_t(address)).c_str()));
  if (CUresult result = checkDeviceRange(s, "cuMemcpyAsync", "destination",
                                         uintptr_t(destination), bytes))
    return result;
  if (CUresult result = checkDeviceRange(s, "cuMemcpyAsync", "source",
                                         uintptr_t(source), bytes))
    return result;
  Node node{Node::Kind::Copy};
  node.destination = uintptr_t(destination);
  node.source = uintptr_t(source);
  node.bytes = bytes;
  capture->nodes.push_back(node);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuMemcpyHtoD(CUdeviceptr destination, const void *source,
                                  size_t bytes) {
  FAKE_LOCK("cuMemcpyHtoD");
  FAKE_NEEDS_CONTEXT("cuMemcpyHtoD");
  if (CUresult result = checkLegacyStreamWork(s, "cuMemcpyHtoD"))
    return result;
  if (CUresult result = checkDeviceRange(s, "cuMemcpyHtoD", "destination",
                                         uintptr_t(destination), bytes))
    return result;
  std::memcpy(reinterpret_cast<void *>(destination), source, bytes);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuMemcpyDtoH(void *destination, CUdeviceptr source,
                                  size_t bytes) {
  FAKE_LOCK("cuMemcpyDtoH");
  FAKE_NEEDS_CONTEXT("cuMemcpyDtoH");
  if (CUresult result = checkLegacyStreamWork(s, "cuMemcpyDtoH"))
    return result;
  if (CUresult result = checkDeviceRange(s, "cuMemcpyDtoH", "source",
                                         uintptr_t(source), bytes))
    return result;
  std::memcpy(destination, reinterpret_cast<const void *>(source), bytes);
  return CUDA_SUCCESS;
}

/// Sets `count` elements of type T at `destination` to `value`.
template <typename T>
static CUresult setMemory(State &s, const char *function,
                          CUdeviceptr destination, T value, size_t count) {
  if (destination % sizeof(T) != 0)
    return fail(s, function,
                format("%s is not %zu-byte aligned",
                       describeAddress(s, uintptr_t(destination)).c_str(),
                       sizeof(T)));
  if (CUresult result =
          checkDeviceRange(s, function, "destination", uintptr_t(destination),
                           count * sizeof(T)))
    return result;
  T *out = reinterpret_cast<T *>(destination);
  std::fill(out, out + count, value);
  return CUDA_SUCCESS;
}

/// A memset on `stream` (null: the legacy stream), or its capture.
template <typename T>
static CUresult memset(const char *function, CUdeviceptr destination, T value,
                       size_t count, CUstream stream) {
  FAKE_LOCK(function);
  FAKE_NEEDS_CONTEXT(function);
  Stream *capture = nullptr;
  if (CUresult result = streamForWork(s, function, stream, capture))
    return result;
  if (!capture)
    return setMemory<T>(s, function, destination, value, count);
  if (CUresult result =
          checkDeviceRange(s, function, "destination", uintptr_t(destination),
                           count * sizeof(T)))
    return result;
  Node node{Node::Kind::Memset};
  node.destination = uintptr_t(destination);
  node.value = value;
  node.valueSize = sizeof(T);
  node.count = count;
  capture->nodes.push_back(node);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuMemsetD8(CUdeviceptr destination, unsigned char value,
                                size_t count) {
  return memset<uint8_t>("cuMemsetD8", destination, value, count, nullptr);
}

FAKE_EXPORT CUresult cuMemsetD16Async(CUdeviceptr destination,
                                      unsigned short value, size_t count,
                                      CUstream stream) {
  return memset<uint16_t>("cuMemsetD16Async", destination, value, count,
                          stream);
}

FAKE_EXPORT CUresult cuMemsetD32Async(CUdeviceptr destination, unsigned value,
                                      size_t count, CUstream stream) {
  return memset<uint32_t>("cuMemsetD32Async", destination, value, count,
                          stream);
}

FAKE_EXPORT CUresult cuMemHostRegister(void *, size_t, unsigned) {
  FAKE_LOCK("cuMemHostRegister");
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuMemHostUnregister(void *) {
  FAKE_LOCK("cuMemHostUnregister");
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuTensorMapEncodeTiled(
    CUtensorMap *tensorMap, CUtensorMapDataType dataType, cuuint32_t rank,
    void *globalAddress, const cuuint64_t *globalDim,
    const cuuint64_t *globalStrides, const cuuint32_t *boxDim,
    const cuuint32_t *elementStrides, CUtensorMapInterleave interleave,
    CUtensorMapSwizzle swizzle, CUtensorMapL2promotion l2Promotion,
    CUtensorMapFloatOOBfill oobFill) {
  FAKE_LOCK("cuTensorMapEncodeTiled");
  const char *function = "cuTensorMapEncodeTiled";
  if (injectFailure(s, function))
    return CUDA_ERROR_OUT_OF_MEMORY;
  // The rules of cuTensorMapEncodeTiled's documentation in cuda.h (CUDA 13)
  // for the unpacked types, which are all our kernels use.
  size_t element = tensorElementBytes(dataType);
  if (element == 0)
    return fail(s, function, format("data type %d", int(dataType)));
  if (rank < 1 || rank > 5 ||
      (interleave != CU_TENSOR_MAP_INTERLEAVE_NONE && rank < 3))
    return fail(s, function, format("rank %u", rank));
  uintptr_t base = reinterpret_cast<uintptr_t>(globalAddress);
  size_t alignment = interleave == CU_TENSOR_MAP_INTERLEAVE_32B ? 32 : 16;
  if (base % alignment != 0)
    return fail(s, function,
                format("the global address %s is not %zu-byte aligned",
                       describeAddress(s, base).c_str(), alignment));
  // The farthest byte the map can reach: each dimension at its last index.
  uint64_t extent = element;
  for (cuuint32_t i = 0; i < rank; ++i) {
    if (globalDim[i] == 0 || globalDim[i] > (uint64_t(1) << 32))
      return fail(s, function,
                  format("globalDim[%u] is %llu (1 to 2^32)", i,
                         static_cast<unsigned long long>(globalDim[i])));
    uint64_t stride = i == 0 ? element : globalStrides[i - 1];
    if (i > 0 && (stride % alignment != 0 || stride >= (uint64_t(1) << 40)))
      return fail(s, function,
                  format("globalStrides[%u] is %llu (a multiple of %zu, "
                         "below 2^40)",
                         i - 1, static_cast<unsigned long long>(stride),
                         alignment));
    extent += (globalDim[i] - 1) * stride;
    if (boxDim[i] == 0 || boxDim[i] > 256)
      return fail(s, function,
                  format("boxDim[%u] is %u (1 to 256)", i, boxDim[i]));
    if (elementStrides[i] == 0 || elementStrides[i] > 8)
      return fail(
          s, function,
          format("elementStrides[%u] is %u (1 to 8)", i, elementStrides[i]));
  }
  size_t innerBoxBytes = boxDim[0] * element;
  if (interleave == CU_TENSOR_MAP_INTERLEAVE_NONE) {
    if (innerBoxBytes % 16 != 0)
      return fail(s, function,
                  format("the box's inner dimension is %zu bytes, not a "
                         "multiple of 16",
                         innerBoxBytes));
    size_t span = swizzle == CU_TENSOR_MAP_SWIZZLE_32B    ? 32
                  : swizzle == CU_TENSOR_MAP_SWIZZLE_64B  ? 64
                  : swizzle == CU_TENSOR_MAP_SWIZZLE_NONE ? SIZE_MAX
                                                          : 128;
    if (innerBoxBytes > span)
      return fail(s, function,
                  format("the box's inner dimension is %zu bytes, more than "
                         "the %zu-byte swizzle span",
                         innerBoxBytes, span));
  } else if (interleave == CU_TENSOR_MAP_INTERLEAVE_32B &&
             swizzle != CU_TENSOR_MAP_SWIZZLE_32B) {
    return fail(s, function, "32-byte interleave needs the 32-byte swizzle");
  }
  if (unsigned(l2Promotion) > CU_TENSOR_MAP_L2_PROMOTION_L2_256B ||
      unsigned(oobFill) > CU_TENSOR_MAP_FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA ||
      unsigned(swizzle) > CU_TENSOR_MAP_SWIZZLE_128B_ATOM_64B)
    return fail(s, function, "an enum argument is out of range");
  if (CUresult result =
          checkDeviceRange(s, function, "the tensor", base, extent))
    return result;
  // The map holds its number, so traces can follow it to launches.
  unsigned id = s.tensorMaps++;
  std::memset(tensorMap, 0, sizeof(*tensorMap));
  std::memcpy(tensorMap, &id, sizeof(id));
  std::string dims, box;
  for (cuuint32_t i = 0; i < rank; ++i) {
    dims += format("%s%llu", i ? ", " : "",
                   static_cast<unsigned long long>(globalDim[i]));
    box += format("%s%u", i ? ", " : "", boxDim[i]);
  }
  traceLine(s, format("{\"tensor_map\": %u, \"address\": \"%s\", \"dims\": "
                      "[%s], \"box\": [%s], \"swizzle\": %d}",
                      id, describeAddress(s, base).c_str(), dims.c_str(),
                      box.c_str(), int(swizzle)));
  return CUDA_SUCCESS;
}
