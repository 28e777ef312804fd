//===- Compile.cpp - ONNX model to a deployable artifact ------------------===//

#include "lora/Driver/Compile.h"

#include "LinearLayers.h"

#include "lora/Adapter/Peft.h"
#include "lora/Dialect/Lora/Lora.h"
#include "lora/Dialect/Onnx/Onnx.h"
#include "lora/Import/OnnxImporter.h"
#include "lora/Pipelines/Pipelines.h"
#include "lora/Target/Cpu.h"
#include "lora/Target/CudaHostCode.h"

#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/Signals.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <sys/mman.h>
#include <unistd.h>

using namespace mlir;
using namespace mlir::lora;
namespace fs = llvm::sys::fs;
namespace path = llvm::sys::path;

std::optional<EmitStage> lora::parseEmitStage(StringRef name) {
  return llvm::StringSwitch<std::optional<EmitStage>>(name)
      .Case("onnx", EmitStage::Onnx)
      .Case("tosa", EmitStage::Tosa)
      .Case("lora", EmitStage::Lora)
      .Case("linalg", EmitStage::Linalg)
      .Case("llvm", EmitStage::LLVM)
      .Case("artifact", EmitStage::Artifact)
      .Default(std::nullopt);
}

std::string lora::getCompilerVersion() {
  return "lora-opt " LORA_OPT_VERSION " (MLIR " LORA_MLIR_VERSION ")";
}

bool CompileOptions::insertsLora() const {
  return !insert.targets.empty() || !insert.targetsRegex.empty() ||
         insert.allLinear || !insert.adapter.empty();
}

//===----------------------------------------------------------------------===//
// The temporary output folder
//===----------------------------------------------------------------------===//

namespace {

/// What the signal handler of enableOutputCleanupOnSignals() removes: the
/// files lora-compile names itself in the temporary folder of the compile in
/// progress, then the folder, as absolute paths prepared beforehand (the
/// handler only calls unlink and rmdir).
constexpr size_t kMaxPath = 4096;
constexpr const char *kOutputFiles[] = {"model.so",
                                        "model.so.tmp",
                                        "manifest.json",
                                        "weights.bin",
                                        "adapter/adapter_config.json",
                                        "adapter/adapter_model.safetensors",
                                        "adapter"};
constexpr size_t kNumOutputFiles = std::size(kOutputFiles);
char signalPaths[kNumOutputFiles + 1][kMaxPath];
std::atomic<bool> signalPathsReady{false};
std::atomic<bool> cleanupOnSignals{false};

void removeOutputOnSignal(int sig) {
  llvm::sys::RunInterruptHandlers(); // files registered by RemoveFileOnSignal
  if (signalPathsReady.exchange(false)) {
    for (size_t i = 0; i < kNumOutputFiles; ++i)
      if (::unlink(signalPaths[i]) != 0)
        ::rmdir(signalPaths[i]);
    ::rmdir(signalPaths[kNumOutputFiles]);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

/// Makes the signal handler remove `dir` (absolute) and its known files.
void setSignalPaths(StringRef dir) {
  signalPathsReady = false;
  if (!cleanupOnSignals || dir.size() + 64 >= kMaxPath)
    return;
  for (size_t i = 0; i < kNumOutputFiles; ++i) {
    std::string file = (dir + "/" + kOutputFiles[i]).str();
    std::memcpy(signalPaths[i], file.c_str(), file.size() + 1);
  }
  std::memcpy(signalPaths[kNumOutputFiles], dir.data(), dir.size());
  signalPaths[kNumOutputFiles][dir.size()] = 0;
  signalPathsReady = true;
}

/// A folder next to `out` that becomes `out` on commit() and is removed
/// otherwise.
class TempOutputDir {
public:
  LogicalResult create(Location loc, StringRef out) {
    finalPath = out.str();
    SmallString<256> model(path::parent_path(out));
    path::append(model, "." + path::filename(out) + ".lora-compile-%%%%%%");
    for (int attempt = 0; attempt < 16; ++attempt) {
      fs::createUniquePath(model, tempPath, /*MakeAbsolute=*/false);
      std::error_code ec =
          fs::create_directory(tempPath, /*IgnoreExisting=*/false);
      if (!ec) {
        SmallString<256> absolute(tempPath);
        fs::make_absolute(absolute);
        setSignalPaths(absolute);
        return success();
      }
      if (ec != std::errc::file_exists)
        return emitError(loc) << "cannot create a folder next to '" << out
                              << "': " << ec.message();
    }
    return emitError(loc) << "cannot create a temporary folder next to '" << out
                          << "'";
  }

  ~TempOutputDir() {
    signalPathsReady = false;
    if (!tempPath.empty() && !committed)
      (void)fs::remove_directories(tempPath);
  }

  StringRef getPath() const { return tempPath; }
  std::string file(StringRef name) const {
    SmallString<256> result(tempPath);
    path::append(result, name);
    return std::string(result);
  }

  /// Replaces `out` by the temporary folder. An existing `out` is replaced
  /// only when it is an earlier artifact (it has a manifest.json) or empty,
  /// in one step (the two folders are exchanged), so a concurrent reader
  /// sees the old or the new artifact, never none.
  LogicalResult commit(Location loc) {
    bool replace = fs::exists(finalPath);
    if (replace) {
      SmallString<256> manifest(finalPath);
      path::append(manifest, "manifest.json");
      std::error_code ec;
      bool empty =
          fs::is_directory(finalPath) &&
          fs::directory_iterator(finalPath, ec) == fs::directory_iterator();
      if (!fs::is_directory(finalPath) || (!empty && !fs::exists(manifest)))
        return emitError(loc) << "'" << finalPath
                              << "' exists and is not a lora-compile "
                                 "artifact; not replacing it";
    }
    signalPathsReady = false;
    if (!replace) {
      if (std::error_code ec = fs::rename(tempPath, finalPath))
        return emitError(loc) << "cannot rename the output to '" << finalPath
                              << "': " << ec.message();
      committed = true;
      return success();
    }
    if (::renameat2(AT_FDCWD, tempPath.c_str(), AT_FDCWD, finalPath.c_str(),
                    RENAME_EXCHANGE) != 0)
      return emitError(loc) << "cannot replace '" << finalPath
                            << "': " << std::strerror(errno);
    // tempPath now holds the old artifact, which the destructor removes.
    return success();
  }

private:
  std::string finalPath;
  SmallString<256> tempPath;
  bool committed = false;
};

//===----------------------------------------------------------------------===//
// What the manifest describes
//===----------------------------------------------------------------------===//

enum class ArgumentKind { Input, Weight, LoraA, LoraB, State };

struct ArgumentInfo {
  std::string name;
  ArgumentKind kind = ArgumentKind::Input;
  std::string module;
  RankedTensorType type;
  /// The value of a weight, and where it is in weights.bin.
  ElementsAttr value;
  uint64_t offset = 0, bytes = 0;
};

struct LoraModuleInfo {
  std::string name;
  int64_t inFeatures = 0, outFeatures = 0, rank = 0;
  double scale = 0, alpha = 0;
  /// A [K, r] and B [r, N] (ONNX orientation).
  SmallVector<double> a, b;
  Type elementType;
};

StringRef kindName(ArgumentKind kind) {
  switch (kind) {
  case ArgumentKind::Input:
    return "input";
  case ArgumentKind::Weight:
    return "weight";
  case ArgumentKind::LoraA:
    return "lora_a";
  case ArgumentKind::LoraB:
    return "lora_b";
  case ArgumentKind::State:
    return "state";
  }
  llvm_unreachable("unknown argument kind");
}

/// The type of `type` when the runtime can pass it, else an error on `loc`.
FailureOr<RankedTensorType> checkRuntimeType(Location loc, Type type,
                                             StringRef what) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || !tensor.hasStaticShape())
    return emitError(loc) << what << " has type " << type
                          << "; compiled models need static shapes (give "
                             "--input-shape for dynamic ONNX inputs)";
  if (getRuntimeDTypeName(tensor.getElementType()).empty())
    return emitError(loc) << what << " has element type "
                          << tensor.getElementType()
                          << ", which the runtime cannot pass";
  return tensor;
}

/// Arguments and outputs of `func` after lora-outline-weights.
LogicalResult describeFunction(func::FuncOp func,
                               SmallVectorImpl<ArgumentInfo> &arguments,
                               SmallVectorImpl<ArgumentInfo> &outputs) {
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
    ArgumentInfo info;
    if (auto weight = func.getArgAttrOfType<StringAttr>(
            i, LoraDialect::getWeightAttrName())) {
      info.kind = ArgumentKind::Weight;
      info.name = weight.str();
      info.value = func.getArgAttrOfType<ElementsAttr>(
          i, LoraDialect::getInitAttrName());
    } else if (auto param = func.getArgAttrOfType<StringAttr>(
                   i, LoraDialect::getParamAttrName())) {
      info.name = param.str();
      info.module = getModuleOfParam(param).str();
      info.kind = param.getValue().contains(".lora_A") ? ArgumentKind::LoraA
                                                       : ArgumentKind::LoraB;
    } else if (auto state = func.getArgAttrOfType<StringAttr>(
                   i, LoraDialect::getStateAttrName())) {
      info.name = state.str();
      info.kind = ArgumentKind::State;
    } else if (auto name = func.getArgAttrOfType<StringAttr>(i, "onnx.name")) {
      info.name = name.str();
    } else {
      info.name = "arg" + std::to_string(i);
    }
    FailureOr<RankedTensorType> type = checkRuntimeType(
        func.getArgument(i).getLoc(), func.getArgumentTypes()[i],
        "argument '" + info.name + "' of '" + func.getName().str() + "'");
    if (failed(type))
      return failure();
    info.type = *type;
    arguments.push_back(std::move(info));
  }
  for (unsigned i = 0, e = func.getNumResults(); i < e; ++i) {
    ArgumentInfo info;
    auto name = func.getResultAttrOfType<StringAttr>(i, "onnx.name");
    info.name = name ? name.str() : "output" + std::to_string(i);
    FailureOr<RankedTensorType> type = checkRuntimeType(
        func.getLoc(), func.getResultTypes()[i],
        "result '" + info.name + "' of '" + func.getName().str() + "'");
    if (failed(type))
      return failure();
    info.type = *type;
    outputs.push_back(std::move(info));
  }
  return success();
}

/// alpha such that scale = alpha / r (alpha / sqrt(r) with rsLoRA).
double getAlpha(double scale, int64_t rank, bool rslora) {
  return scale * (rslora ? std::sqrt(double(rank)) : double(rank));
}

/// The LoRA modules of `func`: its lora.linear ops with parameter arguments,
/// or the records lora-merge left on merged matmuls. Every LoRA parameter
/// must feed a lora.linear (lora-fuse fused every branch).
LogicalResult collectLoraModules(func::FuncOp func, bool rslora,
                                 SmallVectorImpl<LoraModuleInfo> &modules) {
  WalkResult walk = func.walk([&](Operation *op) -> WalkResult {
    LoraModuleInfo info;
    if (auto linear = dyn_cast<LinearOp>(op)) {
      auto a = dyn_cast<BlockArgument>(linear.getLoraA());
      auto param = a ? func.getArgAttrOfType<StringAttr>(
                           a.getArgNumber(), LoraDialect::getParamAttrName())
                     : StringAttr();
      if (!param)
        return WalkResult::advance(); // A frozen, constant branch.
      FailureOr<SmallVector<double>> aValues =
          readParamValues(linear.getLoraA());
      FailureOr<SmallVector<double>> bValues =
          readParamValues(linear.getLoraB());
      if (failed(aValues) || failed(bValues))
        return linear.emitError("the LoRA parameters of this layer have no "
                                "initial value (lora.init)");
      auto aType = cast<RankedTensorType>(linear.getLoraA().getType());
      auto bType = cast<RankedTensorType>(linear.getLoraB().getType());
      info.name = getModuleOfParam(param).str();
      info.inFeatures = aType.getDimSize(0);
      info.rank = linear.getRank();
      info.outFeatures = bType.getDimSize(1);
      info.scale = linear.getScale().convertToDouble();
      info.a = std::move(*aValues);
      info.b = std::move(*bValues);
      info.elementType = aType.getElementType();
    } else if (auto record =
                   op->getAttrOfType<DictionaryAttr>(kMergedAttrName)) {
      auto name = record.getAs<StringAttr>("module");
      auto rank = record.getAs<IntegerAttr>("rank");
      auto scale = record.getAs<FloatAttr>("scale");
      auto a = record.getAs<ElementsAttr>("lora_a");
      auto b = record.getAs<ElementsAttr>("lora_b");
      if (!name || !rank || !scale || !a || !b)
        return op->emitError("malformed ") << kMergedAttrName << " record";
      FailureOr<SmallVector<double>> aValues = readFloatElements(a);
      FailureOr<SmallVector<double>> bValues = readFloatElements(b);
      if (failed(aValues) || failed(bValues))
        return op->emitError("malformed ") << kMergedAttrName << " record";
      info.name = name.str();
      info.inFeatures = a.getShapedType().getDimSize(0);
      info.rank = rank.getInt();
      info.outFeatures = b.getShapedType().getDimSize(1);
      info.scale = scale.getValueAsDouble();
      info.a = std::move(*aValues);
      info.b = std::move(*bValues);
      info.elementType = a.getElementType();
    } else {
      return WalkResult::advance();
    }
    info.alpha = getAlpha(info.scale, info.rank, rslora);
    modules.push_back(std::move(info));
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();

  // A parameter that reaches no lora.linear is a branch lora-fuse left
  // written out: its scale is not known, and the runtime could not swap it.
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
    auto param =
        func.getArgAttrOfType<StringAttr>(i, LoraDialect::getParamAttrName());
    if (!param)
      continue;
    bool fused = llvm::any_of(func.getArgument(i).getUsers(),
                              [](Operation *u) { return isa<LinearOp>(u); });
    if (!fused)
      return emitError(func.getArgument(i).getLoc())
             << "the LoRA branch of '" << getModuleOfParam(param)
             << "' was not fused into a lora.linear; compiled artifacts "
                "need fused layers";
  }
  llvm::sort(modules, [](const LoraModuleInfo &l, const LoraModuleInfo &r) {
    return l.name < r.name;
  });
  return success();
}

//===----------------------------------------------------------------------===//
// Writing the artifact
//===----------------------------------------------------------------------===//

/// The bytes of a weight's value (dense or resource), or an empty ref.
ArrayRef<char> getRawBytes(ElementsAttr value) {
  if (auto dense = dyn_cast<DenseElementsAttr>(value))
    return dense.isSplat() ? ArrayRef<char>() : dense.getRawData();
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value))
    if (AsmResourceBlob *blob = resource.getRawHandle().getBlob())
      return blob->getData();
  return {};
}

/// Asks the kernel to reclaim the pages of `bytes` once they are written:
/// weights imported from external data are file-backed mappings, and
/// reading 4 GB of them would otherwise keep 4 GB resident. MADV_PAGEOUT
/// never loses data (file pages are read again on access; anonymous memory
/// without swap stays), so it is safe for heap blobs too.
void releasePages(ArrayRef<char> bytes) {
#ifdef MADV_PAGEOUT
  static const uintptr_t pageSize = ::sysconf(_SC_PAGESIZE);
  auto begin = reinterpret_cast<uintptr_t>(bytes.data());
  uintptr_t first = (begin + pageSize - 1) & ~(pageSize - 1);
  uintptr_t last = (begin + bytes.size()) & ~(pageSize - 1);
  if (last > first)
    (void)::madvise(reinterpret_cast<void *>(first), last - first,
                    MADV_PAGEOUT);
#else
  (void)bytes;
#endif
}

constexpr uint64_t kWeightAlignment = 64;

/// Writes every weight argument to `file`, 64-byte aligned, and records
/// where each went.
LogicalResult writeWeights(Location loc, StringRef file,
                           MutableArrayRef<ArgumentInfo> arguments,
                           uint64_t &totalBytes) {
  std::error_code ec;
  llvm::raw_fd_ostream os(file, ec);
  if (ec)
    return emitError(loc) << "cannot write '" << file << "': " << ec.message();
  uint64_t offset = 0;
  static const char zeros[kWeightAlignment] = {};
  for (ArgumentInfo &arg : arguments) {
    if (arg.kind != ArgumentKind::Weight)
      continue;
    ArrayRef<char> bytes =
        arg.value ? getRawBytes(arg.value) : ArrayRef<char>();
    uint64_t expected =
        arg.type.getNumElements() * arg.type.getElementTypeBitWidth() / 8;
    if (bytes.size() != expected)
      return emitError(loc)
             << "the value of weight '" << arg.name << "' is not available ("
             << bytes.size() << " bytes, expected " << expected
             << "); was the IR printed with elided resources?";
    uint64_t padding =
        (kWeightAlignment - offset % kWeightAlignment) % kWeightAlignment;
    os.write(zeros, padding);
    offset += padding;
    arg.offset = offset;
    arg.bytes = bytes.size();
    // In slices, each released once written: peak memory stays at one
    // slice whatever the size of the weight.
    constexpr size_t kSlice = 64 << 20;
    for (size_t start = 0; start < bytes.size(); start += kSlice) {
      ArrayRef<char> slice =
          bytes.slice(start, std::min(kSlice, bytes.size() - start));
      os.write(slice.data(), slice.size());
      releasePages(slice);
    }
    offset += bytes.size();
  }
  os.close();
  if (os.has_error()) {
    std::error_code ec = os.error();
    os.clear_error(); // else the stream's destructor aborts the process
    return emitError(loc) << "cannot write '" << file << "': " << ec.message();
  }
  totalBytes = offset;
  return success();
}

/// Writes the modules as a PEFT adapter: one target per module, the most
/// common rank and alpha as r / lora_alpha and the others as patterns.
LogicalResult writeAdapter(Location loc, StringRef dir,
                           ArrayRef<LoraModuleInfo> modules,
                           const PeftConfig &base) {
  PeftConfig config = base;
  std::map<int64_t, int> rankCount;
  std::map<double, int> alphaCount;
  std::vector<std::string> names;
  for (const LoraModuleInfo &m : modules) {
    ++rankCount[m.rank];
    ++alphaCount[m.alpha];
    names.push_back(m.name);
  }
  auto mostCommon = [](const auto &counts) {
    return llvm::max_element(
               counts,
               [](const auto &l, const auto &r) { return l.second < r.second; })
        ->first;
  };
  config.r = mostCommon(rankCount);
  config.loraAlpha = mostCommon(alphaCount);
  config.targetModules = PeftModuleSpec::list(names);
  config.excludeModules = PeftModuleSpec::none();
  config.rankPattern.clear();
  config.alphaPattern.clear();
  for (const LoraModuleInfo &m : modules) {
    if (m.rank != config.r)
      config.rankPattern.emplace_back(llvm::Regex::escape(m.name), m.rank);
    if (m.alpha != config.loraAlpha)
      config.alphaPattern.emplace_back(llvm::Regex::escape(m.name), m.alpha);
  }

  std::vector<std::vector<float>> storage;
  SmallVector<PeftAdapterModuleRef> refs;
  storage.reserve(2 * modules.size());
  for (const LoraModuleInfo &m : modules) {
    storage.emplace_back(m.a.begin(), m.a.end());
    storage.emplace_back(m.b.begin(), m.b.end());
    refs.push_back({m.name, m.inFeatures, m.outFeatures, m.rank,
                    storage[storage.size() - 2], storage.back()});
  }
  SafetensorsDType dtype = SafetensorsDType::F32;
  if (!modules.empty() && modules.front().elementType.isF16())
    dtype = SafetensorsDType::F16;
  else if (!modules.empty() && modules.front().elementType.isBF16())
    dtype = SafetensorsDType::BF16;
  if (llvm::Error err = savePeftAdapter(dir, config, refs, dtype))
    return emitError(loc) << "cannot write the adapter to '" << dir
                          << "': " << llvm::toString(std::move(err));
  return success();
}

llvm::json::Array toJson(ArrayRef<int64_t> shape) {
  llvm::json::Array result;
  for (int64_t d : shape)
    result.push_back(d);
  return result;
}

/// What the manifest's "train" object says beyond the options.
struct TrainInfo {
  /// The classes labels index (cross-entropy, causal-lm), else 0.
  int64_t numClasses = 0;
  /// The eval step's arguments (by name, a subset of the train step's) and
  /// outputs.
  SmallVector<std::string> evalArguments;
  SmallVector<ArgumentInfo> evalOutputs;
  /// The LoRA dropout rate of the train step.
  double dropout = 0;
};

/// The manifest's "train" object: how the train step was built and the
/// names of its run-time optimizer inputs; null for inference artifacts.
llvm::json::Value trainJson(const CompileOptions &options,
                            const TrainInfo &info) {
  if (!options.train)
    return nullptr;
  const LoraAutodiffOptions &loss = options.autodiff;
  const LoraOptimizerOptions &opt = options.optimizer;
  llvm::json::Object optimizer{{"name", opt.optimizer},
                               {"weight_decay", opt.weightDecay}};
  if (opt.optimizer == "adamw") {
    optimizer["beta1"] = double(opt.beta1);
    optimizer["beta2"] = double(opt.beta2);
    optimizer["eps"] = double(opt.eps);
  } else {
    optimizer["momentum"] = double(opt.momentum);
    optimizer["nesterov"] = bool(opt.nesterov);
  }
  llvm::json::Array names, outputs;
  for (const std::string &name : info.evalArguments)
    names.push_back(name);
  for (const ArgumentInfo &out : info.evalOutputs)
    outputs.push_back(llvm::json::Object{
        {"name", out.name},
        {"dtype", getRuntimeDTypeName(out.type.getElementType())},
        {"shape", toJson(out.type.getShape())}});
  return llvm::json::Object{
      {"loss", loss.loss},
      {"ignore_index", int64_t(loss.ignoreIndex)},
      {"num_classes", info.numClasses},
      {"optimizer", std::move(optimizer)},
      {"lr_input", "lr"},
      {"step_input", opt.optimizer == "adamw" ? llvm::json::Value("step")
                                              : llvm::json::Value(nullptr)},
      {"dropout", info.dropout > 0.0
                      ? llvm::json::Value(llvm::json::Object{
                            {"rate", info.dropout},
                            {"seed_input", "dropout_seed"},
                            {"seed", int64_t(options.insert.seed)}})
                      : llvm::json::Value(nullptr)},
      {"eval", loss.evalFunction.empty()
                   ? llvm::json::Value(nullptr)
                   : llvm::json::Object{{"function", loss.evalFunction},
                                        {"arguments", std::move(names)},
                                        {"outputs", std::move(outputs)}}}};
}

LogicalResult writeManifest(Location loc, StringRef file,
                            const CompileOptions &options, StringRef function,
                            const TrainInfo &train, bool rslora,
                            StringRef pipeline, ArrayRef<ArgumentInfo> args,
                            ArrayRef<ArgumentInfo> outputs,
                            uint64_t weightBytes,
                            ArrayRef<LoraModuleInfo> modules) {
  llvm::json::Array arguments;
  for (const ArgumentInfo &arg : args) {
    llvm::json::Object entry{
        {"name", arg.name},
        {"kind", kindName(arg.kind)},
        {"dtype", getRuntimeDTypeName(arg.type.getElementType())},
        {"shape", toJson(arg.type.getShape())}};
    if (arg.kind == ArgumentKind::Weight) {
      entry["offset"] = int64_t(arg.offset);
      entry["bytes"] = int64_t(arg.bytes);
    }
    if (!arg.module.empty())
      entry["module"] = arg.module;
    arguments.push_back(std::move(entry));
  }
  llvm::json::Array results;
  for (const ArgumentInfo &out : outputs)
    results.push_back(llvm::json::Object{
        {"name", out.name},
        {"dtype", getRuntimeDTypeName(out.type.getElementType())},
        {"shape", toJson(out.type.getShape())}});

  llvm::json::Value lora = nullptr;
  if (!modules.empty()) {
    llvm::json::Array list;
    for (const LoraModuleInfo &m : modules)
      list.push_back(llvm::json::Object{{"name", m.name},
                                        {"in_features", m.inFeatures},
                                        {"out_features", m.outFeatures},
                                        {"rank", m.rank},
                                        {"alpha", m.alpha},
                                        {"scale", m.scale}});
    auto strings = [](ArrayRef<std::string> values) {
      llvm::json::Array array;
      for (const std::string &value : values)
        array.push_back(value);
      return array;
    };
    // How the modules were chosen: lora-compile's options as given.
    const LoraInsertOptions &insert = options.insert;
    llvm::json::Object selection{
        {"targets", strings(insert.targets)},
        {"targets_regex", insert.targetsRegex},
        {"exclude", strings(insert.exclude)},
        {"exclude_regex", insert.excludeRegex},
        {"all_linear", insert.allLinear},
        {"rank", insert.rank},
        {"alpha", insert.alpha},
        {"rank_pattern", strings(insert.rankPattern)},
        {"alpha_pattern", strings(insert.alphaPattern)},
        {"init", insert.init},
        {"seed", int64_t(insert.seed)},
        {"adapter", insert.adapter}};
    lora = llvm::json::Object{{"merged", options.merge},
                              {"adapter", "adapter"},
                              {"rslora", rslora},
                              {"options", std::move(selection)},
                              {"modules", std::move(list)}};
  }
  llvm::json::Object manifest{
      {"format", "lora-opt-artifact"},
      {"format_version", 1},
      {"compiler",
       llvm::json::Object{{"version", getCompilerVersion()},
                          {"command", options.commandLine},
                          {"pipeline", pipeline},
                          {"opt_level", int64_t(options.optLevel)}}},
      {"target", options.target},
      {"library", "model.so"},
      {"function", function},
      {"arguments", std::move(arguments)},
      {"outputs", std::move(results)},
      {"weights", llvm::json::Object{{"file", "weights.bin"},
                                     {"bytes", int64_t(weightBytes)},
                                     {"alignment", int64_t(kWeightAlignment)}}},
      {"lora", std::move(lora)},
      {"train", trainJson(options, train)}};
  std::error_code ec;
  llvm::raw_fd_ostream os(file, ec);
  if (ec)
    return emitError(loc) << "cannot write '" << file << "': " << ec.message();
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(manifest))) << "\n";
  os.close();
  if (os.has_error()) {
    std::error_code ec = os.error();
    os.clear_error();
    return emitError(loc) << "cannot write '" << file << "': " << ec.message();
  }
  return success();
}

/// Writes `module` as MLIR text to `outPath` ("-" for stdout).
LogicalResult writeModule(ModuleOp module, StringRef outPath) {
  std::string error;
  auto output = openOutputFile(outPath, &error);
  if (!output)
    return module.emitError(error);
  module.print(output->os());
  output->os() << "\n";
  output->keep();
  return success();
}

/// Prints one progress line per stage, with its time.
class Progress {
public:
  explicit Progress(llvm::raw_ostream *os) : os(os) {}
  void stage(const Twine &what) {
    finish();
    if (os)
      *os << "lora-compile: " << what << " ... ";
    if (os)
      os->flush();
    start = Clock::now();
    open = true;
  }
  void finish(StringRef detail = "") {
    if (!open)
      return;
    open = false;
    if (!os)
      return;
    double seconds =
        std::chrono::duration<double>(Clock::now() - start).count();
    *os << llvm::format("%.2f s", seconds);
    if (!detail.empty())
      *os << " (" << detail << ")";
    *os << "\n";
  }

private:
  using Clock = std::chrono::steady_clock;
  llvm::raw_ostream *os;
  Clock::time_point start;
  bool open = false;
};

} // namespace

void lora::enableOutputCleanupOnSignals() {
  static std::once_flag once;
  std::call_once(once, [] {
    cleanupOnSignals = true;
    struct sigaction action = {};
    action.sa_handler = removeOutputOnSignal;
    sigemptyset(&action.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP})
      ::sigaction(sig, &action, nullptr);
  });
}

/// The CUDA toolkit the CUDA target compiles with: the first of CUDA_ROOT,
/// CUDA_HOME, CUDA_PATH, the folder above the `ptxas` on PATH, and
/// /usr/local/cuda that has bin/ptxas. MLIR's gpu-module-to-binary looks for
/// ptxas on PATH but for libdevice (math functions) only under CUDA_ROOT and
/// friends, so CUDA_ROOT is set to it for this process when unset. Fails
/// with a message when there is none or it lacks libdevice.
static LogicalResult findCudaToolkit(Location loc) {
  auto hasPtxas = [](StringRef root) {
    SmallString<256> ptxas(root);
    path::append(ptxas, "bin", "ptxas");
    return llvm::sys::fs::can_execute(ptxas);
  };
  std::string root;
  for (const char *var : {"CUDA_ROOT", "CUDA_HOME", "CUDA_PATH"}) {
    const char *value = std::getenv(var);
    if (value && *value && hasPtxas(value)) {
      root = value;
      break;
    }
  }
  if (root.empty()) {
    if (auto ptxas = llvm::sys::findProgramByName("ptxas")) {
      SmallString<256> real;
      if (!llvm::sys::fs::real_path(*ptxas, real))
        root = path::parent_path(path::parent_path(real)).str();
    }
  }
  if (root.empty() && hasPtxas("/usr/local/cuda"))
    root = "/usr/local/cuda";
  if (root.empty())
    return emitError(loc)
           << "--target=cuda needs ptxas from the CUDA toolkit to build "
              "sm_90a cubins; it is not in CUDA_ROOT, CUDA_HOME, CUDA_PATH, "
              "PATH or /usr/local/cuda/bin";
  SmallString<256> libdevice(root);
  path::append(libdevice, "nvvm", "libdevice", "libdevice.10.bc");
  if (!llvm::sys::fs::exists(libdevice))
    return emitError(loc) << "--target=cuda needs libdevice from the CUDA "
                             "toolkit (math functions in kernels); "
                          << libdevice << " does not exist";
  ::setenv("CUDA_ROOT", root.c_str(), /*overwrite=*/0);
  return success();
}

//===----------------------------------------------------------------------===//
// The driver
//===----------------------------------------------------------------------===//

LogicalResult lora::compileModel(MLIRContext &context,
                                 const CompileOptions &options,
                                 StringRef outPath) {
  Location loc = FileLineColLoc::get(&context, options.inputPath, 0, 0);
  bool cuda = options.target == "cuda";
  bool cudaEmulated = options.target == "cuda-emulated";
  if (options.target != "cpu" && !cuda && !cudaEmulated)
    return emitError(loc) << "unknown target '" << options.target
                          << "' (expected cpu, cuda or cuda-emulated)";
  if (!options.cudaKernelOptions.empty() && !cuda && !cudaEmulated)
    return emitError(loc) << "CUDA kernel options ('"
                          << options.cudaKernelOptions
                          << "') need --target=cuda or cuda-emulated";
  // The lowering to linalg, built now: a bad kernel option fails before a
  // model is imported or a weight written.
  PassManager linalgPm(&context);
  if (cuda || cudaEmulated) {
    if (StringRef(options.cudaKernelOptions).contains("reference-launchers"))
      return emitError(loc)
             << "reference-launchers is --target=cuda-emulated's "
                "choice, not a CUDA kernel option";
    std::string problem;
    if (failed(buildCudaToLinalgPipeline(
            linalgPm, options.cudaKernelOptions,
            /*referenceLaunchers=*/cudaEmulated, [&](const Twine &message) {
              problem = StringRef(message.str()).trim().str();
              return failure();
            })))
      return emitError(loc)
             << "invalid CUDA kernel options '" << options.cudaKernelOptions
             << "': "
             << (problem.empty() ? "lora-generate-cuda-kernels takes "
                                   "tile-n=N, max-stages=N, multicast=1|2, "
                                   "fuse-lora-down, fuse-lora-b-grad, "
                                   "fuse-lora-a-grad, "
                                   "direct-epilogue and persistent=N"
                                 : problem);
  } else {
    buildCpuToLinalgPipeline(linalgPm);
  }
  if (cuda && failed(findCudaToolkit(loc)))
    return failure();
  if (options.merge && !options.insertsLora())
    return emitError(loc) << "--merge needs an adapter or LoRA targets";
  if (options.optLevel > 3)
    return emitError(loc) << "--opt-level must be 0 to 3";
  // The library exports lora_entry_<function>: a C identifier.
  if (options.function.empty() || llvm::isDigit(options.function[0]) ||
      !llvm::all_of(options.function,
                    [](char c) { return llvm::isAlnum(c) || c == '_'; }))
    return emitError(loc) << "--function must be a C identifier (the "
                             "library exports lora_entry_<function>), got '"
                          << options.function << "'";
  // `out/` and `out` are the same folder.
  std::string outPathStorage = outPath.str();
  while (outPathStorage.size() > 1 && outPathStorage.back() == '/')
    outPathStorage.pop_back();
  outPath = outPathStorage;

  DefaultTimingManager timing;
  timing.setEnabled(options.timing);
  TimingScope rootTimer = timing.getRootScope();
  Progress progress(options.progress);
  std::string pipelineText;
  auto runPasses = [&](PassManager &pm, ModuleOp module,
                       StringRef name) -> LogicalResult {
    if (pm.size() == 0)
      return success();
    std::string text;
    llvm::raw_string_ostream os(text);
    pm.printAsTextualPipeline(os);
    // Printed as `any(...)`: keep the passes, which the manifest lists
    // inside one `builtin.module(...)`.
    StringRef passes(text);
    if (passes.consume_front("any(") && passes.consume_back(")"))
      text = passes.str();
    pipelineText += (pipelineText.empty() ? "" : ",") + text;
    TimingScope scope = rootTimer.nest(name);
    pm.enableTiming(scope);
    return pm.run(module);
  };

  // Import.
  progress.stage("importing " + options.inputPath);
  OwningOpRef<ModuleOp> module;
  {
    TimingScope scope = rootTimer.nest("import");
    if (StringRef(options.inputPath).ends_with(".onnx")) {
      OnnxImportOptions importOptions;
      std::string error;
      if (failed(parseInputShapeSpec(options.inputShape, importOptions, error)))
        return emitError(loc) << error;
      module = importOnnxFile(options.inputPath, &context, importOptions);
    } else {
      if (!options.inputShape.empty())
        return emitError(loc) << "--input-shape applies to .onnx input only";
      llvm::SourceMgr sourceMgr;
      module = parseSourceFile<ModuleOp>(options.inputPath, sourceMgr,
                                         ParserConfig(&context));
    }
  }
  if (!module)
    return failure();
  if (options.emit == EmitStage::Onnx) {
    progress.finish();
    return writeModule(*module, outPath);
  }

  // ONNX to TOSA.
  bool hasOnnx = false;
  module->walk([&](Operation *op) {
    if (isa<onnx::OnnxDialect>(op->getDialect()))
      hasOnnx = true;
  });
  PassManager tosaPm(&context);
  if (hasOnnx) {
    progress.stage("converting ONNX to TOSA");
    buildOnnxToTosaPipeline(tosaPm);
    if (failed(runPasses(tosaPm, *module, "onnx-to-tosa")))
      return failure();
  }
  if (options.emit == EmitStage::Tosa) {
    progress.finish();
    return writeModule(*module, outPath);
  }

  // LoRA: insert, fuse, merge.
  PassManager loraPm(&context);
  if (options.insertsLora())
    loraPm.addPass(createLoraInsert(options.insert));
  loraPm.addNestedPass<func::FuncOp>(createLoraFuse());
  if (options.merge)
    loraPm.addPass(createLoraMerge());
  loraPm.addPass(createCanonicalizerPass());
  progress.stage("LoRA (insert, fuse" + Twine(options.merge ? ", merge" : "") +
                 ")");
  if (failed(runPasses(loraPm, *module, "lora")))
    return failure();
  auto func = module->lookupSymbol<func::FuncOp>(options.function);
  if (!func || func.isExternal())
    return emitError(loc) << "the model has no function '" << options.function
                          << "'";
  SmallVector<LoraModuleInfo> modules;
  bool rslora = options.insert.rslora;
  PeftConfig adapterConfig;
  if (!options.insert.adapter.empty()) {
    SmallString<256> configPath(options.insert.adapter);
    path::append(configPath, "adapter_config.json");
    if (auto config = readPeftConfig(configPath)) {
      adapterConfig = std::move(*config);
      rslora = adapterConfig.useRslora;
    } else {
      return emitError(loc) << llvm::toString(config.takeError());
    }
  }
  adapterConfig.useRslora = rslora;
  // An adapter's dropout only matters to a train step: inference keeps
  // whatever its config says.
  double dropout = options.loraDropout.value_or(adapterConfig.loraDropout);
  if ((options.loraDropout || options.train) &&
      !(dropout >= 0.0 && dropout < 1.0))
    return emitError(loc)
           << "the LoRA dropout must be in [0, 1), not "
           << llvm::formatv("{0}", llvm::format("%g", dropout)).str()
           << (options.loraDropout ? ""
                                   : " (the adapter's "
                                     "lora_dropout)");
  adapterConfig.loraDropout = dropout;
  if (failed(collectLoraModules(func, rslora, modules)))
    return failure();
  progress.finish(std::to_string(modules.size()) + " LoRA modules");
  // Labels of a cross-entropy loss index the classes: the last dim of the
  // forward's output, which the runtime checks them against.
  TrainInfo train;
  train.dropout = dropout;
  if (options.train) {
    // The artifact runs the train step; the forward is only its source.
    StringRef loss = options.autodiff.loss;
    unsigned output = options.autodiff.output;
    if ((loss == "cross-entropy" || loss == "causal-lm") &&
        output < func.getNumResults())
      if (auto type = dyn_cast<RankedTensorType>(func.getResultTypes()[output]);
          type && type.getRank() > 0 && !type.isDynamicDim(type.getRank() - 1))
        train.numClasses = type.getShape().back();
    LoraAutodiffOptions autodiff = options.autodiff;
    autodiff.function = options.function;
    autodiff.dropout = dropout;
    LoraOptimizerOptions optimizer = options.optimizer;
    optimizer.function = autodiff.trainFunction;
    PassManager trainPm(&context);
    trainPm.addPass(createLoraAutodiff(autodiff));
    trainPm.addPass(createLoraOptimizer(optimizer));
    progress.stage("train step (autodiff, " + Twine(optimizer.optimizer) + ")");
    if (failed(runPasses(trainPm, *module, "train step")))
      return failure();
    progress.finish();
    func.erase();
    func = module->lookupSymbol<func::FuncOp>(autodiff.trainFunction);
  }
  // `func` does not survive the lowering to LLVM.
  std::string functionName = func.getName().str();
  if (options.emit == EmitStage::Lora)
    return writeModule(*module, outPath);

  // Frozen weights become arguments.
  PassManager outlinePm(&context);
  LoraOutlineWeightsOptions outlineOptions;
  outlineOptions.minBytes = options.minWeightBytes;
  outlinePm.addPass(createLoraOutlineWeights(outlineOptions));
  if (failed(runPasses(outlinePm, *module, "outline-weights")))
    return failure();
  SmallVector<ArgumentInfo> arguments, outputs;
  if (failed(describeFunction(func, arguments, outputs)))
    return failure();
  // The eval step takes a subset of the train step's arguments (no
  // optimizer inputs): the runtime passes it those by name.
  SmallVector<func::FuncOp> functions{func};
  if (options.train && !options.autodiff.evalFunction.empty()) {
    auto eval =
        module->lookupSymbol<func::FuncOp>(options.autodiff.evalFunction);
    SmallVector<ArgumentInfo> evalArgs;
    if (!eval || failed(describeFunction(eval, evalArgs, train.evalOutputs)))
      return failure();
    for (const ArgumentInfo &arg : evalArgs) {
      const ArgumentInfo *match = llvm::find_if(
          arguments, [&](const ArgumentInfo &a) { return a.name == arg.name; });
      if (match == arguments.end() || match->type != arg.type)
        return emitError(loc)
               << "argument '" << arg.name << "' of '" << eval.getName()
               << "' is not an argument of '" << func.getName() << "'";
      train.evalArguments.push_back(arg.name);
    }
    functions.push_back(eval);
  }

  // The output folder, then the weights and the adapter, whose values the
  // lowering below no longer needs.
  bool artifact = options.emit == EmitStage::Artifact;
  TempOutputDir out;
  uint64_t weightBytes = 0;
  if (artifact) {
    if (failed(out.create(loc, outPath)))
      return failure();
    progress.stage("writing weights.bin");
    TimingScope scope = rootTimer.nest("write weights");
    if (failed(
            writeWeights(loc, out.file("weights.bin"), arguments, weightBytes)))
      return failure();
    progress.finish(
        llvm::formatv("{0:f1} MiB", weightBytes / double(1 << 20)).str());
    if (!modules.empty() &&
        failed(writeAdapter(loc, out.file("adapter"), modules, adapterConfig)))
      return failure();
  }
  for (ArgumentInfo &arg : arguments)
    arg.value = {};
  for (func::FuncOp f : functions)
    for (unsigned i = 0, e = f.getNumArguments(); i < e; ++i) {
      f.removeArgAttr(i, LoraDialect::getParamAttrName());
      f.removeArgAttr(i, LoraDialect::getInitAttrName());
      f.removeArgAttr(i, LoraDialect::getWeightAttrName());
      f.removeArgAttr(i, LoraDialect::getStateAttrName());
    }

  // Lowering.
  progress.stage("lowering to linalg");
  if (failed(runPasses(linalgPm, *module, "lower to linalg")))
    return failure();
  if (options.emit == EmitStage::Linalg) {
    progress.finish();
    return writeModule(*module, outPath);
  }
  progress.stage("lowering to LLVM");
  PassManager llvmPm(&context);
  if (cuda)
    buildCudaLinalgToLLVMPipeline(llvmPm);
  else if (cudaEmulated)
    buildCudaEmulatedLinalgToLLVMPipeline(llvmPm);
  else
    buildCpuLinalgToLLVMPipeline(llvmPm);
  if (failed(runPasses(llvmPm, *module, "lower to LLVM")))
    return failure();
  if (options.emit == EmitStage::LLVM) {
    progress.finish();
    return writeModule(*module, outPath);
  }

  progress.stage("generating code (LLVM -O" + Twine(options.optLevel) + ")");
  {
    TimingScope scope = rootTimer.nest("codegen and link");
    auto prepareHostCode = [](llvm::Module &host) {
      cuda::shareCallArgumentMemory(host);
      cuda::copyConstantsThroughRuntime(host);
    };
    llvm::function_ref<void(llvm::Module &)> prepare;
    if (cuda)
      prepare = prepareHostCode;
    if (failed(emitCpuSharedLibrary(
            *module, out.file("model.so"), options.optLevel,
            cuda ? HostCodegen::Fast : HostCodegen::Optimized, prepare)))
      return failure();
  }
  progress.finish();
  if (failed(writeManifest(loc, out.file("manifest.json"), options,
                           functionName, train, rslora,
                           "builtin.module(" + pipelineText + ")", arguments,
                           outputs, weightBytes, modules)))
    return failure();
  if (failed(out.commit(loc)))
    return failure();
  if (options.progress)
    *options.progress << "lora-compile: wrote " << outPath << "\n";
  return success();
}
