/*===- deploy.c - a C program that runs a lora-compile artifact ----------===*\
|*                                                                            *|
|* Links only LoraOpt::LoraRuntimeC (no MLIR, no LLVM, no C++ in this file):  *|
|* what a deployment needs. Loads the folder argv[1], fills every f32 input   *|
|* with 1.0, runs it, and prints the inputs, outputs and the first value of   *|
|* each f32 output; with argv[2], swaps that PEFT adapter in first.           *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "lora-c/Runtime.h"

#include <stdio.h>
#include <stdlib.h>

static size_t numElements(size_t rank, const int64_t *shape) {
  size_t n = 1;
  for (size_t d = 0; d < rank; ++d)
    n *= (size_t)shape[d];
  return n;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: deploy ARTIFACT_DIR [ADAPTER_DIR]\n");
    return 2;
  }
  LoraModel *model = loraModelLoad(argv[1]);
  if (!model) {
    fprintf(stderr, "deploy: %s\n", loraGetLastError());
    return 1;
  }
  if (argc > 2 && loraModelSetAdapter(model, argv[2])) {
    fprintf(stderr, "deploy: %s\n", loraGetLastError());
    loraModelDestroy(model);
    return 1;
  }
  size_t numInputs = loraModelGetNumInputs(model);
  size_t numOutputs = loraModelGetNumOutputs(model);
  void **inputs = calloc(numInputs + 1, sizeof(void *));
  void **outputs = calloc(numOutputs + 1, sizeof(void *));
  for (size_t i = 0; i < numInputs; ++i) {
    size_t n = numElements(loraModelGetInputRank(model, i),
                           loraModelGetInputShape(model, i));
    if (loraModelGetInputDType(model, i) != LORA_DTYPE_F32) {
      fprintf(stderr, "deploy: input %s is not f32\n",
              loraModelGetInputName(model, i));
      return 1;
    }
    float *data = malloc(n * sizeof(float) + 1);
    for (size_t j = 0; j < n; ++j)
      data[j] = 1.0f;
    inputs[i] = data;
    printf("input %s: %zu elements\n", loraModelGetInputName(model, i), n);
  }
  for (size_t i = 0; i < numOutputs; ++i)
    outputs[i] = malloc(numElements(loraModelGetOutputRank(model, i),
                                    loraModelGetOutputShape(model, i)) *
                            8 +
                        1);
  if (loraModelRun(model, (const void *const *)inputs, outputs)) {
    fprintf(stderr, "deploy: %s\n", loraGetLastError());
    return 1;
  }
  for (size_t i = 0; i < numOutputs; ++i)
    if (loraModelGetOutputDType(model, i) == LORA_DTYPE_F32)
      printf("output %s: first value %.4f\n", loraModelGetOutputName(model, i),
             ((float *)outputs[i])[0]);
  for (size_t i = 0; i < numInputs; ++i)
    free(inputs[i]);
  for (size_t i = 0; i < numOutputs; ++i)
    free(outputs[i]);
  free(inputs);
  free(outputs);
  loraModelDestroy(model);
  return 0;
}
