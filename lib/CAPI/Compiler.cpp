//===- Compiler.cpp - C API of the lora-opt compiler ----------------------===//

#include "lora-c/Compiler.h"

#include "lora/Driver/Compile.h"
#include "lora/Pipelines/Pipelines.h"
#include "lora/Target/Cpu.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/JSON.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

using namespace mlir;

namespace {

thread_local std::string lastError;

void registerEverything() {
  static std::once_flag once;
  std::call_once(once, [] {
    registerAllPasses();
    lora::registerLoraPasses();
    lora::registerLoraPipelines();
  });
}

/// A context with every dialect lora-opt uses, collecting diagnostics as
/// "location: severity: message" lines.
struct CompilerContext {
  CompilerContext() : context(makeRegistry()) {
    context.printOpOnDiagnostic(false);
    handler.emplace(&context, [this](Diagnostic &diag) {
      append(diag);
      for (Diagnostic &note : diag.getNotes())
        append(note);
      return success();
    });
  }

  static DialectRegistry makeRegistry() {
    DialectRegistry registry;
    lora::registerLoraDialects(registry);
    lora::registerCpuTranslations(registry);
    return registry;
  }

  void append(Diagnostic &diag) {
    std::string line;
    llvm::raw_string_ostream os(line);
    // file:line:col as compilers print it (just the file for line 0).
    Location loc = diag.getLocation();
    if (auto nameLoc = dyn_cast<NameLoc>(loc);
        nameLoc && !isa<UnknownLoc>(nameLoc.getChildLoc()))
      loc = nameLoc.getChildLoc();
    if (auto file = dyn_cast<FileLineColLoc>(loc)) {
      os << file.getFilename().getValue();
      if (file.getLine())
        os << ":" << file.getLine() << ":" << file.getColumn();
      os << ": ";
    } else if (!isa<UnknownLoc>(loc)) {
      os << loc << ": ";
    }
    switch (diag.getSeverity()) {
    case DiagnosticSeverity::Error:
      os << "error: ";
      break;
    case DiagnosticSeverity::Warning:
      os << "warning: ";
      break;
    case DiagnosticSeverity::Note:
      os << "note: ";
      break;
    case DiagnosticSeverity::Remark:
      os << "remark: ";
      break;
    }
    os << diag.str();
    messages += (messages.empty() ? "" : "\n") + line;
  }

  /// Fails with the collected messages (or `fallback` if there are none).
  int fail(llvm::StringRef fallback) {
    lastError = messages.empty() ? fallback.str() : messages;
    return 1;
  }

  MLIRContext context;
  std::optional<ScopedDiagnosticHandler> handler;
  std::string messages;
};

/// Reads lora-compile's options from `json` into `options`.
llvm::Error parseOptions(llvm::StringRef json, lora::CompileOptions &options) {
  llvm::Expected<llvm::json::Value> value = llvm::json::parse(json);
  if (!value)
    return value.takeError();
  const llvm::json::Object *object = value->getAsObject();
  if (!object)
    return llvm::createStringError("the options must be a JSON object");
  auto error = [](const llvm::Twine &key, const char *what) {
    return llvm::createStringError("option '" + key + "' must be " + what);
  };
  auto strings = [&](const llvm::json::Value &v, llvm::StringRef key,
                     llvm::SmallVector<std::string> &out) -> llvm::Error {
    const llvm::json::Array *array = v.getAsArray();
    if (!array)
      return error(key, "a list of strings");
    for (const llvm::json::Value &item : *array) {
      std::optional<llvm::StringRef> s = item.getAsString();
      if (!s)
        return error(key, "a list of strings");
      out.push_back(s->str());
    }
    return llvm::Error::success();
  };
  // lora-insert takes patterns as "regex=value": ranks as integers, alphas
  // with every digit of the double.
  auto patterns = [&](const llvm::json::Value &v, llvm::StringRef key,
                      bool integers,
                      llvm::SmallVector<std::string> &out) -> llvm::Error {
    const llvm::json::Object *dict = v.getAsObject();
    if (!dict)
      return error(key, "an object {regex: value}");
    for (const auto &[k, item] : *dict) {
      std::string value;
      if (integers) {
        std::optional<int64_t> rank = item.getAsInteger();
        if (!rank)
          return error(key, "an object {regex: integer}");
        value = std::to_string(*rank);
      } else {
        std::optional<double> number = item.getAsNumber();
        if (!number)
          return error(key, "an object {regex: number}");
        value = llvm::formatv("{0}", llvm::format("%.17g", *number)).str();
      }
      out.push_back(k.str() + "=" + value);
    }
    return llvm::Error::success();
  };
  std::string firstTrainKey;
  for (const auto &[keyRef, v] : *object) {
    llvm::StringRef key = keyRef;
    auto string = [&](std::string &out) -> llvm::Error {
      std::optional<llvm::StringRef> s = v.getAsString();
      if (!s)
        return error(key, "a string");
      out = s->str();
      return llvm::Error::success();
    };
    auto boolean = [&](bool &out) -> llvm::Error {
      std::optional<bool> b = v.getAsBoolean();
      if (!b)
        return error(key, "true or false");
      out = *b;
      return llvm::Error::success();
    };
    auto integer = [&](auto &out) -> llvm::Error {
      std::optional<int64_t> i = v.getAsInteger();
      if (!i)
        return error(key, "an integer");
      out = *i;
      return llvm::Error::success();
    };
    auto number = [&](auto &out) -> llvm::Error {
      std::optional<double> d = v.getAsNumber();
      if (!d)
        return error(key, "a number");
      out = *d;
      return llvm::Error::success();
    };
    // Options of the train step (they need "mode": "train").
    bool trainKey = true;
    llvm::Error err = llvm::Error::success();
    if (key == "loss")
      err = string(options.autodiff.loss);
    else if (key == "ignore_index")
      err = integer(options.autodiff.ignoreIndex);
    else if (key == "optimizer")
      err = string(options.optimizer.optimizer);
    else if (key == "adam_beta1")
      err = number(options.optimizer.beta1);
    else if (key == "adam_beta2")
      err = number(options.optimizer.beta2);
    else if (key == "adam_eps")
      err = number(options.optimizer.eps);
    else if (key == "weight_decay")
      err = number(options.optimizer.weightDecay);
    else if (key == "momentum")
      err = number(options.optimizer.momentum);
    else if (key == "nesterov")
      err = boolean(options.optimizer.nesterov);
    else
      trainKey = false;
    if (trainKey) {
      if (err)
        return err;
      if (firstTrainKey.empty())
        firstTrainKey = key.str();
      continue;
    }
    if (key == "mode") {
      std::string mode;
      err = string(mode);
      if (!err && mode != "infer" && mode != "train")
        err = error(key, "\"infer\" or \"train\"");
      options.train = mode == "train";
    } else if (key == "lora_dropout") {
      double rate = 0;
      err = number(rate);
      options.loraDropout = rate;
    } else if (key == "input_shape")
      err = string(options.inputShape);
    else if (key == "function")
      err = string(options.function);
    else if (key == "targets")
      err = strings(v, key, options.insert.targets);
    else if (key == "targets_regex")
      err = string(options.insert.targetsRegex);
    else if (key == "exclude")
      err = strings(v, key, options.insert.exclude);
    else if (key == "exclude_regex")
      err = string(options.insert.excludeRegex);
    else if (key == "all_linear")
      err = boolean(options.insert.allLinear);
    else if (key == "rank")
      err = integer(options.insert.rank);
    else if (key == "alpha") {
      std::optional<double> d = v.getAsNumber();
      err = d ? (options.insert.alpha = *d, llvm::Error::success())
              : error(key, "a number");
    } else if (key == "rank_pattern")
      err = patterns(v, key, /*integers=*/true, options.insert.rankPattern);
    else if (key == "alpha_pattern")
      err = patterns(v, key, /*integers=*/false, options.insert.alphaPattern);
    else if (key == "rslora")
      err = boolean(options.insert.rslora);
    else if (key == "init")
      err = string(options.insert.init);
    else if (key == "seed")
      err = integer(options.insert.seed);
    else if (key == "adapter")
      err = string(options.insert.adapter);
    else if (key == "merge")
      err = boolean(options.merge);
    else if (key == "target")
      err = string(options.target);
    else if (key == "cuda_kernel_options")
      err = string(options.cudaKernelOptions);
    else if (key == "opt_level")
      err = integer(options.optLevel);
    else if (key == "min_weight_bytes")
      err = integer(options.minWeightBytes);
    else if (key == "timing")
      err = boolean(options.timing);
    else if (key == "emit") {
      std::string name;
      err = string(name);
      if (!err) {
        std::optional<lora::EmitStage> stage = lora::parseEmitStage(name);
        if (stage)
          options.emit = *stage;
        else
          err = error(key, "onnx, tosa, lora, linalg, llvm or artifact");
      }
    } else
      err = llvm::createStringError("unknown option '" + key + "'");
    if (err)
      return err;
  }
  if (!options.train && !firstTrainKey.empty())
    return llvm::createStringError("option '" + firstTrainKey +
                                   "' configures training; it needs "
                                   "\"mode\": \"train\"");
  return llvm::Error::success();
}

} // namespace

extern "C" {

const char *loraCompilerGetLastError(void) { return lastError.c_str(); }

const char *loraCompilerGetVersion(void) {
  static const std::string version = lora::getCompilerVersion();
  return version.c_str();
}

int loraCompile(const char *inputPath, const char *outPath,
                const char *optionsJson) {
  lastError.clear();
  if (!inputPath || !outPath) {
    lastError = "loraCompile: the input and output paths must not be NULL";
    return 1;
  }
  registerEverything();
  lora::CompileOptions options;
  options.inputPath = inputPath;
  options.commandLine = std::string("loraCompile(") + inputPath + ", " +
                        outPath + ", " + (optionsJson ? optionsJson : "{}") +
                        ")";
  if (optionsJson) {
    if (llvm::Error err = parseOptions(optionsJson, options)) {
      lastError = "invalid compile options: " + llvm::toString(std::move(err));
      return 1;
    }
  }
  CompilerContext compiler;
  if (failed(lora::compileModel(compiler.context, options, outPath)))
    return compiler.fail("compilation failed");
  return 0;
}

char *loraRunPasses(const char *mlirText, const char *pipeline) {
  lastError.clear();
  if (!mlirText || !pipeline) {
    lastError = "loraRunPasses: the text and pipeline must not be NULL";
    return nullptr;
  }
  registerEverything();
  CompilerContext compiler;
  OwningOpRef<ModuleOp> op =
      parseSourceString<ModuleOp>(mlirText, ParserConfig(&compiler.context));
  if (!op) {
    compiler.fail("cannot parse the MLIR text");
    return nullptr;
  }
  std::string pipelineErrors;
  llvm::raw_string_ostream errorStream(pipelineErrors);
  // The text names its anchor, e.g. builtin.module(...).
  FailureOr<OpPassManager> parsed = parsePassPipeline(pipeline, errorStream);
  if (failed(parsed)) {
    lastError = "invalid pass pipeline: " + pipelineErrors;
    return nullptr;
  }
  if (parsed->getOpAnchorName() != ModuleOp::getOperationName()) {
    lastError = "the pass pipeline must be anchored on builtin.module, as in "
                "'builtin.module(func.func(lora-fuse))'";
    return nullptr;
  }
  PassManager pm(&compiler.context, ModuleOp::getOperationName());
  static_cast<OpPassManager &>(pm) = *parsed;
  if (failed(pm.run(*op))) {
    compiler.fail("the pass pipeline failed");
    return nullptr;
  }
  std::string result;
  llvm::raw_string_ostream os(result);
  op->print(os);
  char *copy = static_cast<char *>(std::malloc(result.size() + 1));
  std::memcpy(copy, result.c_str(), result.size() + 1);
  return copy;
}

void loraFreeString(char *string) { std::free(string); }

} // extern "C"
