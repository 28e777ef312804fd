/*===- lora-c/Runtime.h - C API of the lora-opt runtime -----------*- C -*-===*\
|*                                                                            *|
|* Loads a directory written by `lora-compile` (model.so, manifest.json,      *|
|* weights.bin, adapter/), swaps PEFT adapters while the model stays loaded,  *|
|* and runs it. The library behind this header (liblora_runtime.so) links no  *|
|* MLIR or LLVM library: a deployment needs only it and the artifact folder.  *|
|*                                                                            *|
|* Every function that can fail returns 0 on success and non-zero on failure  *|
|* (or NULL for a pointer result); loraGetLastError() then describes the      *|
|* failure. The error is per thread. A LoraModel may be used from one thread  *|
|* at a time.                                                                 *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef LORA_C_RUNTIME_H
#define LORA_C_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Element types, with the same names as in manifest.json.
typedef enum LoraDType {
  LORA_DTYPE_F32 = 0,
  LORA_DTYPE_F64 = 1,
  LORA_DTYPE_F16 = 2,
  LORA_DTYPE_BF16 = 3,
  LORA_DTYPE_I64 = 4,
  LORA_DTYPE_I32 = 5,
  LORA_DTYPE_I16 = 6,
  LORA_DTYPE_I8 = 7,
  LORA_DTYPE_U8 = 8,
  LORA_DTYPE_BOOL = 9,
} LoraDType;

/// A loaded artifact.
typedef struct LoraModel LoraModel;

/// The message of the last failure on this thread ("" if none).
const char *loraGetLastError(void);

/// Loads `dir`: reads and checks manifest.json, opens model.so and checks its
/// signature against the manifest, maps weights.bin, and loads the initial
/// adapter from `dir`/adapter when the model has LoRA parameters.
LoraModel *loraModelLoad(const char *dir);
void loraModelDestroy(LoraModel *model);

/// Options of loraModelLoadWithFlags, or-ed together (0: as loraModelLoad).
typedef enum LoraLoadFlags {
  /// Replay the steady calls of a model compiled for the CUDA target from
  /// CUDA graphs: one graph launch per call instead of a launch per kernel.
  /// Loading fails for another target, a driver without graphs, or with
  /// LORA_CUDA_CACHING=0. Without either flag, LORA_CUDA_GRAPHS=1 decides.
  LORA_LOAD_CUDA_GRAPHS = 1,
  /// Never replay from CUDA graphs, whatever LORA_CUDA_GRAPHS says.
  LORA_LOAD_NO_CUDA_GRAPHS = 2,
} LoraLoadFlags;

/// loraModelLoad with `flags` (LoraLoadFlags); unknown flags are an error.
LoraModel *loraModelLoadWithFlags(const char *dir, uint32_t flags);
/// 1 when CUDA graphs are on for the model (its steady calls replay from
/// them; a function whose capture failed runs without, as stderr says),
/// else 0.
int loraModelUsesCudaGraphs(const LoraModel *model);

/// Graph inputs (the arguments the caller gives to loraModelRun, in manifest
/// order; frozen weights and LoRA parameters are not among them) and outputs.
size_t loraModelGetNumInputs(const LoraModel *model);
size_t loraModelGetNumOutputs(const LoraModel *model);
const char *loraModelGetInputName(const LoraModel *model, size_t i);
LoraDType loraModelGetInputDType(const LoraModel *model, size_t i);
size_t loraModelGetInputRank(const LoraModel *model, size_t i);
const int64_t *loraModelGetInputShape(const LoraModel *model, size_t i);
const char *loraModelGetOutputName(const LoraModel *model, size_t i);
LoraDType loraModelGetOutputDType(const LoraModel *model, size_t i);
size_t loraModelGetOutputRank(const LoraModel *model, size_t i);
const int64_t *loraModelGetOutputShape(const LoraModel *model, size_t i);

/// Loads the PEFT adapter in `dir` (adapter_config.json and
/// adapter_model.safetensors) into the LoRA parameters, without recompiling.
/// Its modules must be a subset of the compiled ones, with the compiled rank
/// and K x N; compiled modules it does not name get a zero update. A scale
/// (alpha / r) other than the compiled one is folded into B. On failure the
/// previous adapter stays in place.
int loraModelSetAdapter(LoraModel *model, const char *dir);

/// Replaces one LoRA parameter (by its name in manifest.json, e.g.
/// "base_model.model.<module>.lora_A.weight", ONNX orientation [K,r] / [r,N])
/// with `data`, which must hold the parameter's dtype and element count.
int loraModelSetParameter(LoraModel *model, const char *name,
                          const void *data, size_t numBytes);

/// Runs the model. `inputs[i]` points to the dense row-major data of input i
/// (dtype and shape as above); `outputs[i]` to caller-allocated storage for
/// output i.
int loraModelRun(LoraModel *model, const void *const *inputs,
                 void *const *outputs);
/// Runs the model on buffers already on its device, with no copies through
/// the host: `inputs[i]` and `outputs[i]` are device addresses (CUDA target:
/// memory of device 0 usable from its primary context, such as a PyTorch
/// tensor's data_ptr()), dense row-major, 256-byte aligned. Checked before
/// anything runs: the alignment, device memory of device 0 (of its primary
/// context where the memory has a context), inside the range the driver
/// gives for it, no output overlapping another buffer. Work queued on the
/// legacy default stream is complete before the model reads its inputs; the
/// outputs are complete on return. For a CPU model, as loraModelRun.
int loraModelRunOnDevice(LoraModel *model, const void *const *inputs,
                         void *const *outputs);

/// Training artifacts (lora-compile --mode=train).
/// 1 when the model is a train step, else 0.
int loraModelIsTraining(const LoraModel *model);
/// Optimizer steps taken (since load, or as restored from a checkpoint).
int64_t loraModelGetStep(const LoraModel *model);
/// The seed of LoRA dropout's masks (the manifest's train.dropout.seed at
/// load; saved and restored with checkpoints), and setting it.
uint64_t loraModelGetDropoutSeed(const LoraModel *model);
void loraModelSetDropoutSeed(LoraModel *model, uint64_t seed);
/// One optimizer step: `inputs` as for loraModelRun, except that the entries
/// of the learning-rate, step and dropout seed inputs are ignored (the model
/// passes `lr`, its step count + 1 and the step's dropout seed; the
/// manifest's "train" names them). Updates the
/// LoRA parameters and the optimizer state in place; `*loss` receives the
/// loss before the update. Out-of-range labels fail before anything runs.
int loraModelTrainStep(LoraModel *model, const void *const *inputs, double lr,
                       double *loss);
/// The loss on a batch with the current parameters, changing nothing
/// (inputs as for loraModelTrainStep).
int loraModelEvalStep(LoraModel *model, const void *const *inputs,
                      double *loss);
/// Writes the current LoRA parameters to the folder `dir` as a PEFT adapter.
int loraModelSaveAdapter(LoraModel *model, const char *dir);
/// Saves adapter, optimizer state and step count to `dir`; a failed save
/// leaves a previous checkpoint there intact.
int loraModelSaveCheckpoint(LoraModel *model, const char *dir);
/// Restores a checkpoint of this model (another model's is refused and
/// changes nothing).
int loraModelLoadCheckpoint(LoraModel *model, const char *dir);

#ifdef __cplusplus
}
#endif

#endif /* LORA_C_RUNTIME_H */
