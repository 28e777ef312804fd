//===- Manifest.h - manifest.json of a lora-compile artifact ----*- C++ -*-===//
//
// `lora-compile` writes out/manifest.json next to model.so, weights.bin and
// adapter/. It lists the arguments of the compiled function in order (graph
// inputs, frozen weights and LoRA parameters, interleaved as the function
// takes them), its outputs, where each weight lies in weights.bin, and the
// LoRA modules the code was compiled with. Keys the runtime does not know are
// ignored, so that newer compilers can add some.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_RUNTIME_MANIFEST_H
#define LORA_RUNTIME_MANIFEST_H

#include "lora/Runtime/Runtime.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lora_runtime {

/// What an argument of the compiled function is.
enum class ArgumentKind {
  /// A graph input, given by the caller to each run ("input").
  Input,
  /// A frozen weight, read from weights.bin ("weight").
  Weight,
  /// A of a LoRA module in ONNX orientation, [K, r]: the transpose of PEFT's
  /// lora_A.weight ("lora_a").
  LoraA,
  /// B of a LoRA module in ONNX orientation, [r, N]: the transpose of PEFT's
  /// lora_B.weight ("lora_b").
  LoraB,
  /// Optimizer state of a train step, zero at load, updated in place by
  /// each step ("state").
  State,
};

/// How a train step was built (lora-compile --mode=train): the "train"
/// object of the manifest.
struct TrainSpec {
  /// The loss (output, cross-entropy, causal-lm, mse) and its ignore index.
  std::string loss;
  int64_t ignoreIndex = -100;
  /// Classes of the cross-entropy losses (labels must be below), else 0.
  int64_t numClasses = 0;
  /// adamw or sgd, and its hyper-parameters in manifest order (booleans
  /// as 0 and 1): what a checkpoint records and a resume must match.
  std::string optimizer;
  std::vector<std::pair<std::string, double>> optimizerOptions;
  /// The inputs the model fills itself: the learning rate (f64) and, for
  /// AdamW, the 1-based step number (i64; empty when there is none).
  std::string lrInput, stepInput;
  /// LoRA dropout (0: none). The model fills the i64 input
  /// `dropoutSeedInput` each step from its dropout seed, which starts at
  /// `dropoutSeed` (lora-compile's --lora-seed).
  double dropout = 0;
  std::string dropoutSeedInput;
  uint64_t dropoutSeed = 0;
  /// The eval step (loss only; empty when there is none): the library
  /// function, the names of the train step's arguments it takes, in order,
  /// and its outputs.
  std::string evalFunction;
  std::vector<std::string> evalArguments;
  std::vector<TensorSpec> evalOutputs;
};

/// One argument of the compiled function.
struct ArgumentSpec {
  TensorSpec tensor;
  ArgumentKind kind = ArgumentKind::Input;
  /// For LoraA and LoraB: the module, e.g. "model.layers.0.self_attn.q_proj".
  std::string module;
  /// For Weight: its bytes are [offset, offset + bytes) of weights.bin.
  uint64_t offset = 0;
  uint64_t bytes = 0;
};

/// One LoRA module the model was compiled with.
struct LoraModuleSpec {
  /// The module name, without PEFT's "base_model.model." prefix.
  std::string name;
  /// K and N of the layer y = x * W, W: [K, N].
  int64_t inFeatures = 0;
  int64_t outFeatures = 0;
  int64_t rank = 0;
  double alpha = 0;
  /// The scale compiled into the code: alpha / rank (alpha / sqrt(rank) for
  /// rsLoRA).
  double scale = 0;
};

/// What the runtime reads from manifest.json (format version 1).
struct Manifest {
  /// The device the code was compiled for ("cpu", "cuda", "cuda-emulated");
  /// "cpu" when the manifest does not say.
  std::string target = "cpu";
  /// The compiled library, relative to the artifact folder ("model.so").
  std::string library;
  /// The compiled function: the library exports lora_entry_<function> and
  /// lora_signature_<function>.
  std::string function;
  /// The function's arguments, in the order it takes them.
  std::vector<ArgumentSpec> arguments;
  std::vector<TensorSpec> outputs;
  /// The weights file, relative to the artifact folder, and its size.
  std::string weightsFile;
  uint64_t weightsBytes = 0;
  /// Every weight offset is a multiple of this power of two.
  uint64_t weightsAlignment = 64;
  /// "lora" is not null.
  bool hasLora = false;
  /// The adapter was merged into the weights at compile time: there are no
  /// lora_a / lora_b arguments.
  bool merged = false;
  /// The initial adapter's folder, relative to the artifact folder; empty
  /// when "lora.adapter" is null or absent (the LoRA parameters then start
  /// at zero).
  std::string adapter;
  std::vector<LoraModuleSpec> loraModules;
  /// Set for training artifacts: every lora_a, lora_b and state argument
  /// then has an output of the same name, its new value.
  std::optional<TrainSpec> train;

  /// The specs of all arguments, in order.
  std::vector<TensorSpec> argumentSpecs() const;
  /// The `lora_signature_<function>` string a library compiled for this
  /// manifest holds.
  std::string signature() const;
};

/// Parses and checks `text`, the contents of the manifest at `path` (used in
/// messages). Errors name the file, the line:column and the key at fault,
/// e.g. "out/manifest.json:14:17: arguments[3].dtype: unknown dtype 'f8'".
bool parseManifest(std::string_view text, const std::string &path,
                   Manifest &manifest, std::string &error);

/// Reads, parses and checks the manifest at `path`.
bool readManifest(const std::string &path, Manifest &manifest,
                  std::string &error);

} // namespace lora_runtime

#endif // LORA_RUNTIME_MANIFEST_H
