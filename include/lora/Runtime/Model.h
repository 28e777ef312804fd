//===- Model.h - a loaded lora-compile artifact -----------------*- C++ -*-===//
//
// Loads the folder `lora-compile` writes (model.so, manifest.json,
// weights.bin, adapter/), swaps PEFT adapters while the model stays loaded,
// and runs it:
//
//   std::string error;
//   auto model = lora_runtime::Model::load("out", error);
//   model->setAdapter("other-adapter", error);
//   model->run({&inputIds}, outputs, error);
//
// Where the buffers live is the Device's business (Device.h): on the CPU,
// frozen weights are used in place in a read-only mapping of weights.bin and
// the LoRA parameters are host buffers the model owns, in the dtype and ONNX
// orientation (A: [K, r], B: [r, N]) the code was compiled for.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_RUNTIME_MODEL_H
#define LORA_RUNTIME_MODEL_H

#include "lora/Runtime/Device.h"
#include "lora/Runtime/Manifest.h"
#include "lora/Runtime/Runtime.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lora_runtime {

/// A compiled model with its weights and current LoRA parameters. Use it
/// from one thread at a time.
class Model {
public:
  /// Loads the artifact folder `dir`: reads and checks manifest.json, opens
  /// the library and checks its `lora_signature_<function>` against the
  /// manifest, maps the weights file, and, when the model has unmerged LoRA
  /// parameters, loads the initial adapter from `dir`/<lora.adapter>. Errors
  /// name the file at fault.
  /// The device comes from the manifest's "target" (createDevice, with
  /// `options`).
  static std::unique_ptr<Model> load(const std::string &dir, std::string &error,
                                     const DeviceOptions &options = {});
  /// Loads `dir` onto `device`, whatever the manifest's target.
  static std::unique_ptr<Model> load(const std::string &dir, std::string &error,
                                     std::unique_ptr<Device> device);
  ~Model();
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;

  /// Everything manifest.json says.
  const Manifest &manifest() const { return info; }
  /// The graph inputs the caller gives to run(), in manifest order.
  const std::vector<TensorSpec> &inputs() const { return inputSpecs; }
  const std::vector<TensorSpec> &outputs() const { return info.outputs; }
  /// CUDA graphs are on (DeviceOptions::cudaGraphs).
  bool usesCudaGraphs() const { return device->usesCudaGraphs(); }
  /// The model was compiled with LoRA ("lora" is not null in the manifest).
  bool hasLora() const { return info.hasLora; }
  /// The adapter was merged into the weights at compile time: setAdapter()
  /// always fails.
  bool isMerged() const { return info.merged; }
  /// The LoRA modules the model was compiled with.
  const std::vector<LoraModuleSpec> &loraModules() const {
    return info.loraModules;
  }

  /// Loads the PEFT adapter in `dir` (adapter_config.json and
  /// adapter_model.safetensors) into the LoRA parameters. Every module of the
  /// adapter must be a compiled module, with the compiled rank, K and N;
  /// compiled modules the adapter lacks get A = 0 and B = 0. When the
  /// adapter's scale (alpha / r, or alpha / sqrt(r) with use_rslora, after
  /// rank_pattern and alpha_pattern) differs from the compiled one, B is
  /// multiplied by their ratio. Everything is checked before a parameter is
  /// replaced: on failure the previous adapter stays in place.
  bool setAdapter(const std::string &dir, std::string &error);

  /// Replaces the LoRA parameter called `name` (its manifest name) with
  /// `value`, which must have its dtype and shape (ONNX orientation).
  bool setParameter(const std::string &name, const Tensor &value,
                    std::string &error);
  /// Like setParameter() with raw bytes: `numBytes` must be the parameter's
  /// size.
  bool setParameter(const std::string &name, const void *data, size_t numBytes,
                    std::string &error);

  /// Runs the model on `inputs` (one per graph input, in order, with its
  /// dtype and shape) and allocates `outputs`.
  bool run(const std::vector<const Tensor *> &inputs,
           std::vector<Tensor> &outputs, std::string &error);
  /// Runs the model on raw dense row-major buffers: `inputs[i]` holds graph
  /// input i and `outputs[i]` receives output i, in the dtypes and shapes of
  /// inputs() and outputs(). Only null pointers can be detected.
  bool run(const void *const *inputs, void *const *outputs, std::string &error);

  /// Runs the model on buffers already on its device, with no staging:
  /// `inputs[i]` and `outputs[i]` as for run(), but device addresses (for
  /// the CUDA target, memory of device 0 that its primary context can use,
  /// 256-byte aligned: a PyTorch or CuPy tensor's, for one). Each is checked
  /// where the device can tell (Device::checkCallerBuffer), and no output
  /// may overlap another buffer. Returns when the outputs are complete; work
  /// the caller queued on the legacy default stream is complete before the
  /// model reads its inputs. On a host device it is run().
  bool runOnDevice(const void *const *inputs, void *const *outputs,
                   std::string &error);

  /// The artifact is a train step (lora-compile --mode=train).
  bool isTraining() const { return info.train.has_value(); }
  /// Optimizer steps taken since load (or restored by loadCheckpoint()).
  int64_t getStep() const { return stepCount; }
  /// The seed of LoRA dropout's masks (train steps with dropout): the
  /// manifest's at load, restored by loadCheckpoint(). Step n (1-based)
  /// passes the train step's seed input dropoutSeedOfStep(seed, n), so a
  /// run is reproducible and a resumed one continues the same masks.
  uint64_t getDropoutSeed() const { return dropoutSeed; }
  void setDropoutSeed(uint64_t seed) { dropoutSeed = seed; }
  /// The n-th output of splitmix64 seeded with `seed`: the value of the
  /// dropout seed input at step `step` (lora.dropout hashes it further).
  static uint64_t dropoutSeedOfStep(uint64_t seed, int64_t step);
  /// One optimizer step on a batch: `inputs` holds every graph input in
  /// inputs() order, except that the learning-rate, step and dropout seed
  /// entries are ignored (they may be null): the model passes `lr`, its
  /// step count + 1 and that step's dropout seed. Labels of a cross-entropy
  /// loss must be class indices or the ignore index; they are checked before
  /// anything runs. The LoRA parameters and the optimizer state are updated in
  /// place; `loss` is the batch's loss before the update.
  bool trainStep(const void *const *inputs, double lr, double &loss,
                 std::string &error);
  /// The loss on a batch with the current parameters, changing nothing
  /// (the artifact's eval step): `inputs` as for trainStep(), whose
  /// learning-rate and step entries are not read.
  bool evalStep(const void *const *inputs, double &loss, std::string &error);
  /// Writes the current LoRA parameters to the folder `dir` (created if
  /// needed) as a PEFT adapter: the artifact's adapter_config.json and
  /// adapter_model.safetensors with lora_A.weight [r, K] and lora_B.weight
  /// [N, r], loadable by PEFT and by setAdapter().
  bool saveAdapter(const std::string &dir, std::string &error);
  /// Saves the adapter, the optimizer state and the step count to `dir`.
  /// Everything is written to a sibling folder first, which then replaces
  /// `dir`: a failed save leaves the previous checkpoint as it was.
  bool saveCheckpoint(const std::string &dir, std::string &error);
  /// Restores a checkpoint saveCheckpoint() wrote. Everything is checked
  /// first: a checkpoint of another model (another signature), of a train
  /// step with other optimizer hyper-parameters or dropout rate, or with a
  /// missing or misshapen state tensor, changes nothing.
  bool loadCheckpoint(const std::string &dir, std::string &error);

private:
  Model() = default;
  /// load(): onto `device`, or when null the one createDevice gives for the
  /// manifest's target and `options`.
  static std::unique_ptr<Model> loadOnto(const std::string &dir,
                                         std::string &error,
                                         const DeviceOptions &options,
                                         std::unique_ptr<Device> device);
  /// Runs `fn` on the arguments `argumentIndices` (into the manifest's
  /// arguments), graph inputs from `inputs` (in inputs() order; those `fn`
  /// does not take may be null), writing `outputSpecs` to `outputs`. An
  /// output with a non-null `deviceOutputs` entry (device memory of its
  /// size) is written there instead and never reaches the host; its
  /// `outputs` entry is not read. With `onDevice`, `inputs` and `outputs`
  /// are device memory already (runOnDevice()): nothing is staged.
  bool call(CompiledFunction &fn, const std::vector<size_t> &argumentIndices,
            const std::vector<TensorSpec> &outputSpecs,
            const void *const *inputs, void *const *outputs, std::string &error,
            const std::vector<void *> &deviceOutputs = {},
            bool onDevice = false);
  /// 0, 1, ..., one per manifest argument: what the main function takes.
  std::vector<size_t> allArguments() const;
  /// Resolves the training inputs and the output -> argument updates.
  bool prepareTraining(std::string &error);
  /// The optimizer and its hyper-parameters, and the dropout rate, as one
  /// line ("adamw beta1=0.9 ..."): what checkpoints record and compare.
  std::string hyperparameters() const;
  /// Checks the labels input against the loss's classes.
  bool checkLabels(const void *labels, std::string &error) const;
  /// The index of the argument called `name`, or -1.
  int64_t findArgument(const std::string &name) const;
  /// Checks that argument `index` is a LoRA parameter of `numBytes` bytes.
  bool checkParameter(const std::string &name, int64_t index, size_t numBytes,
                      std::string &error) const;

  std::string directory;
  Manifest info;
  std::vector<TensorSpec> inputSpecs;
  std::unique_ptr<Device> device;
  std::unique_ptr<CompiledFunction> function;
  /// weights.bin on the device.
  const uint8_t *weights = nullptr;
  /// The device buffer of each LoRA parameter, indexed like the arguments
  /// (empty for the other arguments).
  std::vector<DeviceBuffer> parameters;
  /// Training: (output index, argument index) of each in-place update, and
  /// the positions in inputs() of the learning rate, the step and the
  /// labels (-1 when absent).
  std::vector<std::pair<size_t, size_t>> updates;
  int64_t lrInput = -1, stepInput = -1, labelsInput = -1;
  int64_t dropoutSeedInput = -1;
  int64_t stepCount = 0;
  uint64_t dropoutSeed = 0;
  /// The eval step and the manifest arguments it takes, in order.
  std::unique_ptr<CompiledFunction> evalFunction;
  std::vector<size_t> evalArguments;
};

} // namespace lora_runtime

#endif // LORA_RUNTIME_MODEL_H
