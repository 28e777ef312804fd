//===- CApi.cpp - the C API of the runtime (liblora_runtime.so) -----------===//
//
// Thin wrappers over lora_runtime::Model. No C++ exception crosses the C
// boundary: every entry point that can fail catches them and reports a
// message through loraGetLastError().
//
//===----------------------------------------------------------------------===//

// liblora_runtime.so exports the C API and nothing else: this file is
// compiled with -fvisibility=hidden, and the declarations of the header get
// default visibility here.
#pragma GCC visibility push(default)
#include "lora-c/Runtime.h"
#pragma GCC visibility pop

#include "lora/Runtime/Model.h"

#include <cstdio>
#include <exception>
#include <string>

using namespace lora_runtime;

struct LoraModel {
  std::unique_ptr<Model> model;
};

namespace {

thread_local std::string lastError;

/// Maps the C enum to DType; both list the types in the same order.
LoraDType toC(DType dtype) {
  static_assert(static_cast<int>(DType::F32) == LORA_DTYPE_F32 &&
                    static_cast<int>(DType::F64) == LORA_DTYPE_F64 &&
                    static_cast<int>(DType::F16) == LORA_DTYPE_F16 &&
                    static_cast<int>(DType::BF16) == LORA_DTYPE_BF16 &&
                    static_cast<int>(DType::I64) == LORA_DTYPE_I64 &&
                    static_cast<int>(DType::I32) == LORA_DTYPE_I32 &&
                    static_cast<int>(DType::I16) == LORA_DTYPE_I16 &&
                    static_cast<int>(DType::I8) == LORA_DTYPE_I8 &&
                    static_cast<int>(DType::U8) == LORA_DTYPE_U8 &&
                    static_cast<int>(DType::Bool) == LORA_DTYPE_BOOL,
                "LoraDType and lora_runtime::DType must agree");
  return static_cast<LoraDType>(dtype);
}

/// Records `message` as this thread's last error and returns `result`.
template <typename T> T failWith(const std::string &message, T result) {
  lastError = message;
  return result;
}

/// Runs `body`, which returns true on success and sets `error` otherwise;
/// returns 0 on success and 1 on failure (an exception included).
template <typename Body> int guard(Body body) {
  std::string error;
  try {
    if (body(error))
      return 0;
  } catch (const std::exception &exception) {
    error = std::string("internal error: ") + exception.what();
  } catch (...) {
    error = "internal error: unknown exception";
  }
  lastError = error;
  return 1;
}

/// The spec of input (or output) `i`, or nullptr with the error set.
const TensorSpec *getSpec(const LoraModel *model, size_t i, bool output) {
  if (!model)
    return failWith<const TensorSpec *>("model is NULL", nullptr);
  const std::vector<TensorSpec> &specs =
      output ? model->model->outputs() : model->model->inputs();
  if (i >= specs.size())
    return failWith<const TensorSpec *>(
        std::string(output ? "output" : "input") + " index " +
            std::to_string(i) + " is out of range (the model has " +
            std::to_string(specs.size()) + ")",
        nullptr);
  return &specs[i];
}

} // namespace

const char *loraGetLastError(void) { return lastError.c_str(); }

LoraModel *loraModelLoad(const char *dir) {
  return loraModelLoadWithFlags(dir, 0);
}

LoraModel *loraModelLoadWithFlags(const char *dir, uint32_t flags) {
  if (!dir)
    return failWith<LoraModel *>("dir is NULL", nullptr);
  constexpr uint32_t known = LORA_LOAD_CUDA_GRAPHS | LORA_LOAD_NO_CUDA_GRAPHS;
  if (uint32_t unknown = flags & ~known) {
    char hex[16];
    std::snprintf(hex, sizeof(hex), "0x%x", unknown);
    return failWith<LoraModel *>(std::string("unknown load flags ") + hex,
                                 nullptr);
  }
  if ((flags & known) == known)
    return failWith<LoraModel *>("LORA_LOAD_CUDA_GRAPHS and "
                                 "LORA_LOAD_NO_CUDA_GRAPHS contradict each "
                                 "other",
                                 nullptr);
  DeviceOptions options;
  if (flags & LORA_LOAD_CUDA_GRAPHS)
    options.cudaGraphs = true;
  if (flags & LORA_LOAD_NO_CUDA_GRAPHS)
    options.cudaGraphs = false;
  try {
    std::string error;
    std::unique_ptr<Model> model = Model::load(dir, error, options);
    if (!model)
      return failWith<LoraModel *>(error, nullptr);
    return new LoraModel{std::move(model)};
  } catch (const std::exception &exception) {
    return failWith<LoraModel *>(
        std::string("internal error: ") + exception.what(), nullptr);
  } catch (...) {
    return failWith<LoraModel *>("internal error: unknown exception", nullptr);
  }
}

void loraModelDestroy(LoraModel *model) { delete model; }

int loraModelUsesCudaGraphs(const LoraModel *model) {
  return model && model->model->usesCudaGraphs() ? 1 : 0;
}

size_t loraModelGetNumInputs(const LoraModel *model) {
  return model ? model->model->inputs().size() : 0;
}

size_t loraModelGetNumOutputs(const LoraModel *model) {
  return model ? model->model->outputs().size() : 0;
}

const char *loraModelGetInputName(const LoraModel *model, size_t i) {
  const TensorSpec *spec = getSpec(model, i, false);
  return spec ? spec->name.c_str() : nullptr;
}

LoraDType loraModelGetInputDType(const LoraModel *model, size_t i) {
  const TensorSpec *spec = getSpec(model, i, false);
  return spec ? toC(spec->dtype) : LORA_DTYPE_F32;
}

size_t loraModelGetInputRank(const LoraModel *model, size_t i) {
  const TensorSpec *spec = getSpec(model, i, false);
  return spec ? spec->shape.size() : 0;
}

const int64_t *loraModelGetInputShape(const LoraModel *model, size_t i) {
  const TensorSpec *spec = getSpec(model, i, false);
  return spec ? spec->shape.data() : nullptr;
}

const char *loraModelGetOutputName(const LoraModel *model, size_t i) {
  const TensorSpec *spec = getSpec(model, i, true);
  return spec ? spec->name.c_str() : nullptr;
}

LoraDType loraModelGetOutputDType(const LoraModel *model, size_t i) {
  const TensorSpec *spec = getSpec(model, i, true);
  return spec ? toC(spec->dtype) : LORA_DTYPE_F32;
}

size_t loraModelGetOutputRank(const LoraModel *model, size_t i) {
  const TensorSpec *spec = getSpec(model, i, true);
  return spec ? spec->shape.size() : 0;
}

const int64_t *loraModelGetOutputShape(const LoraModel *model, size_t i) {
  const TensorSpec *spec = getSpec(model, i, true);
  return spec ? spec->shape.data() : nullptr;
}

int loraModelSetAdapter(LoraModel *model, const char *dir) {
  return guard([&](std::string &error) {
    if (!model || !dir) {
      error = !model ? "model is NULL" : "dir is NULL";
      return false;
    }
    return model->model->setAdapter(dir, error);
  });
}

int loraModelSetParameter(LoraModel *model, const char *name, const void *data,
                          size_t numBytes) {
  return guard([&](std::string &error) {
    if (!model || !name) {
      error = !model ? "model is NULL" : "name is NULL";
      return false;
    }
    return model->model->setParameter(name, data, numBytes, error);
  });
}

int loraModelRun(LoraModel *model, const void *const *inputs,
                 void *const *outputs) {
  return guard([&](std::string &error) {
    if (!model) {
      error = "model is NULL";
      return false;
    }
    return model->model->run(inputs, outputs, error);
  });
}

int loraModelRunOnDevice(LoraModel *model, const void *const *inputs,
                         void *const *outputs) {
  return guard([&](std::string &error) {
    if (!model) {
      error = "model is NULL";
      return false;
    }
    return model->model->runOnDevice(inputs, outputs, error);
  });
}

int loraModelIsTraining(const LoraModel *model) {
  return model && model->model->isTraining() ? 1 : 0;
}

int64_t loraModelGetStep(const LoraModel *model) {
  return model ? model->model->getStep() : 0;
}

uint64_t loraModelGetDropoutSeed(const LoraModel *model) {
  return model ? model->model->getDropoutSeed() : 0;
}

void loraModelSetDropoutSeed(LoraModel *model, uint64_t seed) {
  if (model)
    model->model->setDropoutSeed(seed);
}

int loraModelTrainStep(LoraModel *model, const void *const *inputs, double lr,
                       double *loss) {
  return guard([&](std::string &error) {
    if (!model || !loss) {
      error = !model ? "model is NULL" : "loss is NULL";
      return false;
    }
    return model->model->trainStep(inputs, lr, *loss, error);
  });
}

int loraModelEvalStep(LoraModel *model, const void *const *inputs,
                      double *loss) {
  return guard([&](std::string &error) {
    if (!model || !loss) {
      error = !model ? "model is NULL" : "loss is NULL";
      return false;
    }
    return model->model->evalStep(inputs, *loss, error);
  });
}

/// The folder operations: `dir` must not be NULL.
template <typename Fn>
static int withFolder(LoraModel *model, const char *dir, Fn fn) {
  return guard([&](std::string &error) {
    if (!model || !dir) {
      error = !model ? "model is NULL" : "dir is NULL";
      return false;
    }
    return fn(*model->model, std::string(dir), error);
  });
}

int loraModelSaveAdapter(LoraModel *model, const char *dir) {
  return withFolder(model, dir,
                    [](lora_runtime::Model &m, const std::string &d,
                       std::string &e) { return m.saveAdapter(d, e); });
}

int loraModelSaveCheckpoint(LoraModel *model, const char *dir) {
  return withFolder(model, dir,
                    [](lora_runtime::Model &m, const std::string &d,
                       std::string &e) { return m.saveCheckpoint(d, e); });
}

int loraModelLoadCheckpoint(LoraModel *model, const char *dir) {
  return withFolder(model, dir,
                    [](lora_runtime::Model &m, const std::string &d,
                       std::string &e) { return m.loadCheckpoint(d, e); });
}
