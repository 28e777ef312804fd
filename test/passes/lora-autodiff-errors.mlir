// Errors of lora-autodiff. Option errors and errors that need their own
// option set take their own input: split-file cuts this file into the parts
// below (line numbers kept). The errors of the default options (loss=output)
// share one part and use -split-input-file.
//
// RUN: split-file --leading-lines %s %t

//--- default.mlir
// RUN: lora-opt %t/default.mlir -split-input-file -verify-diagnostics --lora-autodiff

// A declaration is no function to differentiate.
// expected-error @+1 {{no function 'main' with a body to differentiate}}
module {
  func.func private @main(%p: tensor<1xf32> {lora.param = "p"}) -> tensor<1xf32>
}

// -----

// Control flow: the body has two blocks.
// expected-error @+1 {{'main' has control flow (more than one block); lora-autodiff differentiates one block}}
func.func @main(%p: tensor<1xf32> {lora.param = "p"}) -> tensor<1xf32> {
  cf.br ^bb1
^bb1:
  return %p : tensor<1xf32>
}

// -----

// No argument carries lora.param.
// expected-error @+1 {{'main' has no LoRA parameters (arguments with lora.param) to differentiate; run lora-insert first}}
func.func @main(%x: tensor<1xf32>) -> tensor<1xf32> {
  %y = tosa.exp %x : (tensor<1xf32>) -> tensor<1xf32>
  return %y : tensor<1xf32>
}

// -----

// loss=output needs one element.
// expected-error @+1 {{output 0 is 'tensor<2xf32>', not a scalar; choose a loss (loss=cross-entropy, causal-lm or mse)}}
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<2xf32> {
  %y = tosa.exp %p : (tensor<2xf32>) -> tensor<2xf32>
  return %y : tensor<2xf32>
}

// -----

// An integer output takes no loss.
// expected-error @+1 {{output 0 is 'tensor<1xi32>'; a loss needs a float tensor of static shape}}
func.func @main(%p: tensor<1xf32> {lora.param = "p"}) -> tensor<1xi32> {
  %y = tosa.cast %p : (tensor<1xf32>) -> tensor<1xi32>
  return %y : tensor<1xi32>
}

// -----

// Nor does a dynamic one.
// expected-error @+1 {{output 0 is 'tensor<?xf32>'; a loss needs a float tensor of static shape}}
func.func @main(%p: tensor<1xf32> {lora.param = "p"}, %x: tensor<?xf32>) -> tensor<?xf32> {
  return %x : tensor<?xf32>
}

// -----

// tosa.gather's float values depend on a parameter: no rule.
func.func @main(%p: tensor<1x4x1xf32> {lora.param = "p"}, %i: tensor<1x2xi32>) -> tensor<1x1x1xf32> {
  // expected-error @+1 {{'tosa.gather' is on the path from a LoRA parameter to the loss, but it has no gradient rule}}
  %e = tosa.gather %p, %i : (tensor<1x4x1xf32>, tensor<1x2xi32>) -> tensor<1x2x1xf32>
  %s = tosa.reduce_sum %e {axis = 1 : i32} : (tensor<1x2x1xf32>) -> tensor<1x1x1xf32>
  return %s : tensor<1x1x1xf32>
}

// -----

// No rule for tosa.reduce_product; the error names the ONNX node (a name
// location without a file, hence @unknown).
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<1xf32> {
  // expected-error @unknown {{'tosa.reduce_product' (node '/ReduceProd') is on the path from a LoRA parameter to the loss, but it has no gradient rule}}
  %y = tosa.reduce_product %p {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32> loc("/ReduceProd")
  return %y : tensor<1xf32>
}

// -----

// A slice whose start is computed (tosa.add_shape) cannot be padded back.
func.func @main(%p: tensor<4xf32> {lora.param = "p"}) -> tensor<1xf32> {
  %one = tosa.const_shape {values = dense<1> : tensor<1xindex>} : () -> !tosa.shape<1>
  %start = tosa.add_shape %one, %one : (!tosa.shape<1>, !tosa.shape<1>) -> !tosa.shape<1>
  // expected-error @+1 {{'tosa.slice' is on the path from a LoRA parameter to the loss, but its start is not a constant}}
  %y = tosa.slice %p, %start, %one : (tensor<4xf32>, !tosa.shape<1>, !tosa.shape<1>) -> tensor<1xf32>
  return %y : tensor<1xf32>
}

// -----

// lora.linear's weight depends on a parameter.
func.func @main(%x: tensor<1x1x4xf32>, %w: tensor<4x1xf32> {lora.param = "w"}, %a: tensor<4x1xf32>, %b: tensor<1x1xf32>) -> tensor<1x1x1xf32> {
  // expected-error @+1 {{'lora.linear' is on the path from a LoRA parameter to the loss, but its frozen weight and bias get no gradient}}
  %y = lora.linear %x, %w, %a, %b {rank = 1 : i64, scale = 1.0 : f64} : (tensor<1x1x4xf32>, tensor<4x1xf32>, tensor<4x1xf32>, tensor<1x1xf32>) -> tensor<1x1x1xf32>
  return %y : tensor<1x1x1xf32>
}

// -----

// lora.linear's bias depends on a parameter.
func.func @main(%x: tensor<1x1x4xf32>, %a: tensor<4x1xf32> {lora.param = "a"}, %b: tensor<1x1xf32> {lora.param = "b"}, %bias: tensor<1xf32> {lora.param = "bias"}) -> tensor<1x1x1xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<4x1xf32>}> : () -> tensor<4x1xf32>
  // expected-error @+1 {{'lora.linear' is on the path from a LoRA parameter to the loss, but its frozen weight and bias get no gradient}}
  %y = lora.linear %x, %w, %a, %b bias(%bias) {rank = 1 : i64, scale = 1.0 : f64} : (tensor<1x1x4xf32>, tensor<4x1xf32>, tensor<4x1xf32>, tensor<1x1xf32>, tensor<1xf32>) -> tensor<1x1x1xf32>
  return %y : tensor<1x1x1xf32>
}

// -----

// A parameter must be a float tensor of static shape.
// expected-error @+1 {{LoRA parameter #0 of 'main' is 'f32'; lora-autodiff needs float tensors of static shape}}
func.func @main(%p: f32 {lora.param = "p"}, %x: tensor<1xf32>) -> tensor<1xf32> {
  return %x : tensor<1xf32>
}

// -----

// expected-error @+1 {{LoRA parameter #0 of 'main' is 'tensor<?xf32>'; lora-autodiff needs float tensors of static shape}}
func.func @main(%p: tensor<?xf32> {lora.param = "p"}) -> tensor<1xf32> {
  %s = tosa.reduce_sum %p {axis = 0 : i32} : (tensor<?xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// A dynamic value on the path, even between static ends.
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<1xf32> {
  %c = tensor.cast %p : tensor<2xf32> to tensor<?xf32>
  // expected-error @+1 {{'tosa.reduce_sum' has operand 'tensor<?xf32>' on the path to the loss; lora-autodiff needs static shapes (give them with --input-shape)}}
  %s = tosa.reduce_sum %c {axis = 0 : i32} : (tensor<?xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// A region that uses a parameter from above is not differentiated through.
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<1xf32> {
  // expected-error @+1 {{'scf.execute_region' is on the path from a LoRA parameter to the loss, but its regions have no gradient rule}}
  %r = scf.execute_region -> tensor<2xf32> {
    %e = tosa.exp %p : (tensor<2xf32>) -> tensor<2xf32>
    scf.yield %e : tensor<2xf32>
  }
  %s = tosa.reduce_sum %r {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// The train function's name is taken.
// expected-error @+1 {{a symbol named 'train_step' exists already}}
module {
  func.func @main(%p: tensor<1xf32> {lora.param = "p"}) -> tensor<1xf32> {
    return %p : tensor<1xf32>
  }
  func.func private @train_step()
}

// -----

// So is the eval function's.
// expected-error @+1 {{a symbol named 'eval_step' exists already}}
module {
  func.func @main(%p: tensor<1xf32> {lora.param = "p"}) -> tensor<1xf32> {
    return %p : tensor<1xf32>
  }
  func.func private @eval_step()
}

//--- unknown-loss.mlir
// RUN: lora-opt %t/unknown-loss.mlir -verify-diagnostics --lora-autodiff="loss=hinge"

// expected-error @+1 {{unknown loss 'hinge'; expected output, cross-entropy, causal-lm or mse}}
module {
  func.func @main(%p: tensor<1xf32> {lora.param = "p"}) -> tensor<1xf32> {
    return %p : tensor<1xf32>
  }
}

//--- no-function.mlir
// RUN: lora-opt %t/no-function.mlir -verify-diagnostics --lora-autodiff="function=forward"

// expected-error @+1 {{no function 'forward' with a body to differentiate}}
module {
  func.func @main(%p: tensor<1xf32> {lora.param = "p"}) -> tensor<1xf32> {
    return %p : tensor<1xf32>
  }
}

//--- output-index.mlir
// RUN: lora-opt %t/output-index.mlir -verify-diagnostics --lora-autodiff="output=1"

// expected-error @+1 {{'main' has 1 results; there is no output 1}}
func.func @main(%p: tensor<1xf32> {lora.param = "p"}) -> tensor<1xf32> {
  return %p : tensor<1xf32>
}

//--- cross-entropy.mlir
// RUN: lora-opt %t/cross-entropy.mlir -verify-diagnostics --lora-autodiff="loss=cross-entropy"

// Logits need a class dim.
// expected-error @+1 {{output 0 is 'tensor<f32>'; cross-entropy needs logits [..., classes]}}
func.func @main(%p: tensor<f32> {lora.param = "p"}) -> tensor<f32> {
  return %p : tensor<f32>
}

//--- causal-lm.mlir
// RUN: lora-opt %t/causal-lm.mlir -split-input-file -verify-diagnostics --lora-autodiff="loss=causal-lm"

// Rank 1: no sequence dim.
// expected-error @+1 {{output 0 is 'tensor<5xf32>'; causal-lm needs logits [..., sequence, vocab]}}
func.func @main(%p: tensor<5xf32> {lora.param = "p"}) -> tensor<5xf32> {
  return %p : tensor<5xf32>
}

// -----

// A sequence of one token predicts nothing.
// expected-error @+1 {{output 0 is 'tensor<2x1x5xf32>'; causal-lm needs a sequence of at least 2 tokens (each predicts the next)}}
func.func @main(%p: tensor<2x1x5xf32> {lora.param = "p"}) -> tensor<2x1x5xf32> {
  return %p : tensor<2x1x5xf32>
}

//--- name-taken.mlir
// RUN: lora-opt %t/name-taken.mlir -verify-diagnostics --lora-autodiff="loss=mse"

// The loss's new input would shadow one the model has.
// expected-error @+1 {{the loss needs an input named 'targets', but argument #1 has that name}}
func.func @main(%p: tensor<2xf32> {lora.param = "p"}, %t: tensor<2xf32> {onnx.name = "targets"}) -> tensor<2xf32> {
  return %p : tensor<2xf32>
}

//--- dropout-rate.mlir
// RUN: lora-opt %t/dropout-rate.mlir -verify-diagnostics --lora-autodiff="dropout=1.0"

// expected-error @below {{lora-autodiff: dropout must be in [0, 1), not 1}}
module {
  func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<1xf32> {
    %s = tosa.reduce_sum %p {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
    return %s : tensor<1xf32>
  }
}

//--- dropout-name-taken.mlir
// RUN: lora-opt %t/dropout-name-taken.mlir -verify-diagnostics --lora-autodiff="loss=mse dropout=0.1"

// The seed input would shadow one the model has.
// expected-error @+1 {{LoRA dropout needs an input named 'dropout_seed', but argument #4 has that name}}
func.func @main(%x: tensor<3x4xf32>, %a: tensor<4x2xf32> {lora.param = "l.lora_A.weight"}, %b: tensor<2x4xf32> {lora.param = "l.lora_B.weight"}, %w: tensor<4x4xf32>, %s: tensor<i64> {onnx.name = "dropout_seed"}) -> tensor<3x4xf32> {
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 1.0 : f64} : (tensor<3x4xf32>, tensor<4x4xf32>, tensor<4x2xf32>, tensor<2x4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}
