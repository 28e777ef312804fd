// lora-compile --mode=train: the artifact runs train_step (loss, gradients
// of the LoRA parameters, optimizer update), whose optimizer state and
// run-time inputs the manifest describes; the forward itself is gone.
// RUN: rm -rf %t && mkdir -p %t
// RUN: lora-compile --quiet %s --mode=train --loss=mse --opt-level=0 -o %t/out
// RUN: FileCheck %s --check-prefix=MANIFEST < %t/out/manifest.json
// RUN: nm -D %t/out/model.so | FileCheck %s --check-prefix=SYMBOLS
// RUN: lora-compile --quiet %s --mode=train --loss=mse --optimizer=sgd --momentum=0.9 --emit=lora -o - | FileCheck %s --check-prefix=SGD
// RUN: not lora-compile --quiet %s --mode=train -o %t/scalar 2>&1 | FileCheck %s --check-prefix=NOT-SCALAR
// RUN: not ls %t/scalar
// RUN: not lora-compile --quiet %s --mode=fit -o %t/fit 2>&1 | FileCheck %s --check-prefix=MODE
// RUN: not lora-compile --quiet %s --loss=mse -o %t/infer 2>&1 | FileCheck %s --check-prefix=INFER
// RUN: lora-compile --quiet %s --mode=train --loss=mse --lora-dropout=0.5 --lora-seed=7 --opt-level=0 -o %t/dropout
// RUN: FileCheck %s --check-prefix=DROPOUT < %t/dropout/manifest.json
// RUN: FileCheck %s --check-prefix=DROPOUT-CONFIG < %t/dropout/adapter/adapter_config.json
// RUN: not lora-compile --quiet %s --mode=train --loss=mse --lora-dropout=-0.1 -o %t/bad-dropout 2>&1 | FileCheck %s --check-prefix=BAD-DROPOUT
// RUN: not ls %t/bad-dropout

// (manifest keys are sorted)
// MANIFEST: "kind": "lora_a",
// MANIFEST-NEXT: "module": "l",
// MANIFEST-NEXT: "name": "base_model.model.l.lora_A.weight",
// MANIFEST: "name": "targets",
// MANIFEST: "dtype": "f64",
// MANIFEST-NEXT: "kind": "input",
// MANIFEST-NEXT: "name": "lr",
// MANIFEST: "dtype": "i64",
// MANIFEST-NEXT: "kind": "input",
// MANIFEST-NEXT: "name": "step",
// MANIFEST: "kind": "state",
// MANIFEST-NEXT: "name": "base_model.model.l.lora_A.weight.exp_avg",
// MANIFEST: "kind": "state",
// MANIFEST-NEXT: "name": "base_model.model.l.lora_A.weight.exp_avg_sq",
// MANIFEST: "function": "train_step",
// MANIFEST: "outputs": [
// MANIFEST: "name": "loss"
// MANIFEST: "name": "base_model.model.l.lora_A.weight"
// MANIFEST: "name": "base_model.model.l.lora_B.weight.exp_avg_sq"
// MANIFEST: "train": {
// MANIFEST: "eval": {
// MANIFEST-NEXT: "arguments": [
// MANIFEST-NEXT: "x",
// MANIFEST-NEXT: "base_model.model.l.lora_A.weight",
// MANIFEST-NEXT: "base_model.model.l.lora_B.weight",
// MANIFEST-NEXT: "targets"
// MANIFEST-NEXT: ],
// MANIFEST-NEXT: "function": "eval_step",
// MANIFEST-DAG: "loss": "mse"
// MANIFEST-DAG: "lr_input": "lr"
// MANIFEST-DAG: "step_input": "step"
// MANIFEST-DAG: "name": "adamw"

// SYMBOLS-DAG: T lora_entry_train_step
// SYMBOLS-DAG: T lora_entry_eval_step
// SYMBOLS-NOT: lora_entry_main

// SGD: func.func @train_step(
// SGD-SAME: {lora.state = "base_model.model.l.lora_A.weight.momentum_buffer"}
// SGD: lora.sgd
// SGD-NOT: func.func @main(
// SGD: func.func @eval_step(

// NOT-SCALAR: error: output 0 is 'tensor<1x2x4xf32>', not a scalar; choose a loss (loss=cross-entropy, causal-lm or mse)

// MODE: lora-compile: error: unknown --mode=fit (expected infer or train)

// INFER: lora-compile: error: --loss configures training; it needs --mode=train

// The train step takes the dropout seed, which the runtime fills; the eval
// step does not.
// DROPOUT: "name": "dropout_seed",
// DROPOUT-NEXT: "shape": []
// DROPOUT: "dropout": {
// DROPOUT-NEXT: "rate": 0.5,
// DROPOUT-NEXT: "seed": 7,
// DROPOUT-NEXT: "seed_input": "dropout_seed"
// DROPOUT-NEXT: },
// DROPOUT-NOT: "dropout_seed"
// DROPOUT: "function": "eval_step"

// DROPOUT-CONFIG: "lora_dropout": 0.5,

// BAD-DROPOUT: error: the LoRA dropout must be in [0, 1), not -0.1
func.func @main(%x: tensor<1x2x4xf32> {onnx.name = "x"},
                %a: tensor<4x2xf32> {lora.param = "base_model.model.l.lora_A.weight", lora.init = dense<0.5> : tensor<4x2xf32>},
                %b: tensor<2x4xf32> {lora.param = "base_model.model.l.lora_B.weight", lora.init = dense<0.25> : tensor<2x4xf32>})
    -> (tensor<1x2x4xf32> {onnx.name = "y"}) {
  %w = arith.constant dense<0.1> : tensor<4x4xf32>
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 1.0 : f64}
      : (tensor<1x2x4xf32>, tensor<4x4xf32>, tensor<4x2xf32>, tensor<2x4xf32>)
      -> tensor<1x2x4xf32>
  return %y : tensor<1x2x4xf32>
}
