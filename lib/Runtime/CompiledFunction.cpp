//===- CompiledFunction.cpp - call compiled code through memref descriptors ===//
//
// A memref descriptor of rank r is
//   { void *allocated; void *aligned; int64_t offset;
//     int64_t sizes[r]; int64_t strides[r]; }
// and `lora_entry_<name>(void **args)` takes one pointer to a descriptor per
// argument: the inputs, then the outputs, which the caller allocates.
//
//===----------------------------------------------------------------------===//

#include "lora/Runtime/Runtime.h"

#include <cstdlib>
#include <dlfcn.h>
#include <unistd.h>

using namespace lora_runtime;

/// dlopen of a path the process has loaded before returns the library loaded
/// then, even when the file was replaced since (an artifact recompiled in
/// place): glibc matches the name before it looks at the file. A symlink
/// with a name of its own makes glibc compare the file itself, so a new
/// file is loaded and the same file is shared.
static void *openLibrary(const std::string &soPath) {
  char dir[] = "/tmp/lora-runtime-XXXXXX";
  char *real = ::realpath(soPath.c_str(), nullptr);
  if (!real || !::mkdtemp(dir)) {
    std::free(real);
    return dlopen(soPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  }
  std::string link = std::string(dir) + "/model.so";
  void *handle = ::symlink(real, link.c_str()) == 0
                     ? dlopen(link.c_str(), RTLD_NOW | RTLD_LOCAL)
                     : dlopen(soPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  std::free(real);
  ::unlink(link.c_str());
  ::rmdir(dir);
  return handle;
}

std::unique_ptr<CompiledFunction>
CompiledFunction::load(const std::string &soPath, const std::string &name,
                       std::vector<TensorSpec> inputs,
                       std::vector<TensorSpec> outputs, std::string &error) {
  void *handle = openLibrary(soPath);
  if (!handle) {
    const char *reason = dlerror();
    error = "cannot load '" + soPath + "': " + (reason ? reason : "unknown");
    return nullptr;
  }
  std::string symbol = "lora_entry_" + name;
  void *entry = dlsym(handle, symbol.c_str());
  if (!entry) {
    error = "'" + soPath + "' has no function '" + symbol + "'";
    dlclose(handle);
    return nullptr;
  }
  std::unique_ptr<CompiledFunction> fn(new CompiledFunction());
  fn->handle = handle;
  fn->entry = reinterpret_cast<void (*)(void **)>(entry);
  // The symbol is a `const char[]`: its address is the string.
  fn->signature = static_cast<const char *>(
      dlsym(handle, ("lora_signature_" + name).c_str()));
  fn->entryName = name;
  fn->inputSpecs = std::move(inputs);
  fn->outputSpecs = std::move(outputs);
  return fn;
}

CompiledFunction::~CompiledFunction() {
  if (handle)
    dlclose(handle);
}

int64_t TensorSpec::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

size_t TensorSpec::numBytes() const { return numElements() * dtypeSize(dtype); }

std::string lora_runtime::formatShape(const std::vector<int64_t> &shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "x" : "") + std::to_string(shape[i]);
  return s.empty() ? "scalar" : s;
}

std::string lora_runtime::formatTensorType(DType dtype,
                                           const std::vector<int64_t> &shape) {
  std::string s = std::string(dtypeName(dtype)) + "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "x" : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string
lora_runtime::formatSignature(const std::vector<TensorSpec> &arguments,
                              const std::vector<TensorSpec> &outputs) {
  std::string s;
  for (size_t i = 0; i < arguments.size(); ++i)
    s += (i ? "," : "") +
         formatTensorType(arguments[i].dtype, arguments[i].shape);
  s += "->";
  for (size_t i = 0; i < outputs.size(); ++i)
    s += (i ? "," : "") + formatTensorType(outputs[i].dtype, outputs[i].shape);
  return s;
}

/// Builds the descriptor words for a dense row-major buffer of `shape`.
static std::vector<int64_t> makeDescriptor(const void *data,
                                           const std::vector<int64_t> &shape) {
  std::vector<int64_t> words;
  auto pointer = reinterpret_cast<int64_t>(data);
  words.push_back(pointer);
  words.push_back(pointer);
  words.push_back(0);
  for (int64_t d : shape)
    words.push_back(d);
  std::vector<int64_t> strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  words.insert(words.end(), strides.begin(), strides.end());
  return words;
}

void CompiledFunction::call(const void *const *inputs, void *const *outputs) {
  std::vector<std::vector<int64_t>> descriptors;
  descriptors.reserve(inputSpecs.size() + outputSpecs.size());
  for (size_t i = 0; i < inputSpecs.size(); ++i)
    descriptors.push_back(makeDescriptor(inputs[i], inputSpecs[i].shape));
  for (size_t i = 0; i < outputSpecs.size(); ++i)
    descriptors.push_back(makeDescriptor(outputs[i], outputSpecs[i].shape));
  std::vector<void *> args;
  for (auto &d : descriptors)
    args.push_back(d.data());
  entry(args.data());
}

bool CompiledFunction::run(const std::vector<const Tensor *> &inputs,
                           std::vector<Tensor> &outputs, std::string &error) {
  if (inputs.size() != inputSpecs.size()) {
    error = "expected " + std::to_string(inputSpecs.size()) +
            " inputs, got " + std::to_string(inputs.size());
    return false;
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorSpec &spec = inputSpecs[i];
    if (inputs[i]->dtype != spec.dtype || inputs[i]->shape != spec.shape) {
      error = "input '" + spec.name + "' must be " + dtypeName(spec.dtype) +
              " " + formatShape(spec.shape) + ", got " +
              dtypeName(inputs[i]->dtype) + " " + formatShape(inputs[i]->shape);
      return false;
    }
  }
  outputs.clear();
  for (const TensorSpec &spec : outputSpecs)
    outputs.push_back(Tensor::zeros(spec.dtype, spec.shape));

  std::vector<const void *> inputData;
  for (const Tensor *input : inputs)
    inputData.push_back(input->data.data());
  std::vector<void *> outputData;
  for (Tensor &output : outputs)
    outputData.push_back(output.data.data());
  call(inputData.data(), outputData.data());
  return true;
}
