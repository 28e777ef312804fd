/*===- lora-c/Compiler.h - C API of the lora-opt compiler ---------*- C -*-===*\
|*                                                                            *|
|* The compiler half of the C API (liblora_compiler.so, which links MLIR and  *|
|* LLVM): compile an ONNX model to an artifact folder like `lora-compile`,    *|
|* and run a textual pass pipeline on MLIR text like `lora-opt`. Running the  *|
|* artifact is the runtime's job (lora-c/Runtime.h), which needs no MLIR.     *|
|*                                                                            *|
|* Functions return 0 (or a non-NULL pointer) on success; on failure          *|
|* loraCompilerGetLastError() holds every diagnostic, one per line. The       *|
|* error is per thread.                                                       *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef LORA_C_COMPILER_H
#define LORA_C_COMPILER_H

#ifdef __cplusplus
extern "C" {
#endif

/// The diagnostics of the last failure on this thread ("" if none).
const char *loraCompilerGetLastError(void);

/// The compiler's version, e.g. "lora-opt 0.1.0 (MLIR 22.1.8)".
const char *loraCompilerGetVersion(void);

/// Compiles `inputPath` (model.onnx or .mlir) to the artifact folder `outPath`
/// (or, with "emit", the MLIR of that stage to the file `outPath`).
/// `optionsJson` is NULL or a JSON object with lora-compile's options:
///   {"input_shape": "input_ids:1x8", "function": "main",
///    "targets": ["q_proj", "v_proj"], "targets_regex": "...",
///    "exclude": [...], "exclude_regex": "...", "all_linear": false,
///    "rank": 8, "alpha": 16, "rank_pattern": {"regex": 4},
///    "alpha_pattern": {"regex": 32}, "rslora": false, "init": "kaiming",
///    "seed": 0, "adapter": "PEFT_DIR", "merge": false, "target": "cpu",
///    "cuda_kernel_options": "fuse-lora-down multicast=2",
///    "emit": "artifact", "opt_level": 3, "min_weight_bytes": 256,
///    "timing": false, "lora_dropout": 0.05,
///    "mode": "infer"|"train", and for "train" (as lora-compile's flags):
///    "loss": "causal-lm", "ignore_index": -100, "optimizer": "adamw",
///    "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_eps": 1e-8,
///    "weight_decay": 0, "momentum": 0, "nesterov": false}
/// Unknown keys are an error. Nothing is left at `outPath` on failure.
int loraCompile(const char *inputPath, const char *outPath,
                const char *optionsJson);

/// Parses `mlirText`, runs the textual pass pipeline `pipeline` (e.g.
/// "builtin.module(lora-insert{targets=q_proj}, func.func(lora-fuse))") and
/// returns the printed result, to be freed with loraFreeString; NULL on
/// failure.
char *loraRunPasses(const char *mlirText, const char *pipeline);

void loraFreeString(char *string);

#ifdef __cplusplus
}
#endif

#endif /* LORA_C_COMPILER_H */
