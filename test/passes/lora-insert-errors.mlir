// Errors of lora-insert (and of lora-list-targets, which shares the selection
// options). Option errors are reported on the module, so each option set
// needs its own input: split-file cuts this file into the parts below (line
// numbers kept). The errors that depend on the IR share one option set and
// use -split-input-file.
//
// RUN: split-file --leading-lines %s %t

//--- layers.mlir
// RUN: lora-opt %t/layers.mlir -split-input-file -verify-diagnostics --lora-insert="targets=fc rank=2"

func.func @rank_above_min_k_n(%x: tensor<1x3x8xf32>) -> tensor<1x3x1xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x1xf32>}> : () -> tensor<1x8x1xf32> loc("fc.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  // expected-error @+1 {{rank 2 of module 'fc' exceeds min(K, N) = min(8, 1) = 1}}
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x1xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x1xf32>
  return %y : tensor<1x3x1xf32>
}

// -----

// The same module applied twice: its LoRA parameters would share one name.
// The matmuls carry only name locations, hence @unknown.
func.func @shared_module_name(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %h = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32> loc("node_linear"("model.fc"))
  // expected-error @unknown {{module name 'model.fc' is shared by the linear layers of nodes 'node_linear' and 'node_linear_1'; exclude one of them}}
  %y = tosa.matmul %h, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32> loc("node_linear_1"("model.fc"))
  return %y : tensor<1x3x8xf32>
}

// -----

// lora-insert adds arguments to the layer's function, so no call may use it.
func.func @called(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("fc.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  // expected-error @+1 {{lora-insert adds arguments to the function of layer 'fc', which must not be called}}
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
  return %y : tensor<1x3x8xf32>
}

func.func @caller(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
  %y = func.call @called(%x) : (tensor<1x3x8xf32>) -> tensor<1x3x8xf32>
  return %y : tensor<1x3x8xf32>
}

//--- rank-zero.mlir
// RUN: lora-opt %t/rank-zero.mlir -verify-diagnostics --lora-insert="targets=fc rank=0"

// expected-error @+1 {{rank must be > 0, got 0}}
module {
  func.func @fc(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
    %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("fc.weight")
    %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
    %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
    return %y : tensor<1x3x8xf32>
  }
}

//--- alpha-zero.mlir
// RUN: lora-opt %t/alpha-zero.mlir -verify-diagnostics --lora-insert="targets=fc rank=2 alpha=0"

// expected-error @+1 {{alpha must be > 0, got 0.000000e+00}}
module {
  func.func @fc(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
    %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("fc.weight")
    %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
    %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
    return %y : tensor<1x3x8xf32>
  }
}

//--- alpha-negative.mlir
// RUN: lora-opt %t/alpha-negative.mlir -verify-diagnostics --lora-insert="targets=fc rank=2 alpha=-2"

// expected-error @+1 {{alpha must be > 0, got -2.000000e+00}}
module {
  func.func @fc(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
    %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("fc.weight")
    %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
    %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
    return %y : tensor<1x3x8xf32>
  }
}

//--- bad-targets-regex.mlir
// RUN: lora-opt %t/bad-targets-regex.mlir -verify-diagnostics --lora-insert="targets-regex=(fc rank=2"

// expected-error @+1 {{target_modules regex '(fc' does not compile}}
module {
  func.func @fc(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
    %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("fc.weight")
    %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
    %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
    return %y : tensor<1x3x8xf32>
  }
}

//--- bad-rank-pattern-regex.mlir
// RUN: lora-opt %t/bad-rank-pattern-regex.mlir -verify-diagnostics --lora-insert="targets=fc rank=2 rank-pattern=(fc=4"

// expected-error @+1 {{rank_pattern key regex '(fc' does not compile}}
module {
  func.func @fc(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
    %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("fc.weight")
    %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
    %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
    return %y : tensor<1x3x8xf32>
  }
}

//--- malformed-rank-pattern.mlir
// RUN: lora-opt %t/malformed-rank-pattern.mlir -verify-diagnostics --lora-insert="targets=fc rank=2 rank-pattern=fc"

// expected-error @+1 {{rank-pattern entry 'fc' is not 'regex=value' with a numeric value}}
module {
  func.func @fc(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
    %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("fc.weight")
    %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
    %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
    return %y : tensor<1x3x8xf32>
  }
}

//--- non-numeric-alpha-pattern.mlir
// RUN: lora-opt %t/non-numeric-alpha-pattern.mlir -verify-diagnostics --lora-insert="targets=fc rank=2 alpha-pattern=fc=big"

// expected-error @+1 {{alpha-pattern entry 'fc=big' is not 'regex=value' with a numeric value}}
module {
  func.func @fc(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
    %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("fc.weight")
    %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
    %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
    return %y : tensor<1x3x8xf32>
  }
}

//--- rank-pattern-zero.mlir
// RUN: lora-opt %t/rank-pattern-zero.mlir -verify-diagnostics --lora-insert="targets=fc rank=2 rank-pattern=fc=0"

// expected-error @+1 {{rank-pattern entry 'fc=0' must have a value > 0}}
module {
  func.func @fc(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
    %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("fc.weight")
    %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
    %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
    return %y : tensor<1x3x8xf32>
  }
}

//--- no-match.mlir
// Targets that match nothing list the closest module names.
// RUN: lora-opt %t/no-match.mlir -verify-diagnostics --lora-insert="targets=model.layers.0.q_prj,modle.fc rank=2"

// expected-error @+3 {{targets [model.layers.0.q_prj, modle.fc] matched none of the 3 linear layers}}
// expected-note @+2 {{closest module names to 'model.layers.0.q_prj': [model.layers.0.q_proj, model.layers.0.v_proj, model.fc]}}
// expected-note @+1 {{closest module names to 'modle.fc': [model.fc, }}
module {
  func.func @layers(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
    %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
    %wq = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("model.layers.0.q_proj.weight")
    %q = tosa.matmul %x, %wq, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
    %wv = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("model.layers.0.v_proj.weight")
    %v = tosa.matmul %q, %wv, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
    %wo = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("model.fc.weight")
    %o = tosa.matmul %v, %wo, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
    return %o : tensor<1x3x8xf32>
  }
}

//--- targets-and-regex.mlir
// RUN: lora-opt %t/targets-and-regex.mlir -verify-diagnostics --lora-insert="targets=fc targets-regex=.*fc rank=2"

// expected-error @+1 {{give targets or targets-regex, not both}}
module {
  func.func @fc(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
    %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("fc.weight")
    %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
    %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
    return %y : tensor<1x3x8xf32>
  }
}

//--- exclude-and-regex.mlir
// RUN: lora-opt %t/exclude-and-regex.mlir -verify-diagnostics --lora-insert="targets=fc exclude=q_proj exclude-regex=.*q_proj rank=2"

// expected-error @+1 {{give exclude or exclude-regex, not both}}
module {
  func.func @fc(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
    %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("fc.weight")
    %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
    %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
    return %y : tensor<1x3x8xf32>
  }
}

//--- bad-init.mlir
// RUN: lora-opt %t/bad-init.mlir -verify-diagnostics --lora-insert="targets=fc rank=2 init=foo"

// expected-error @+1 {{init must be kaiming, gaussian or zeros, got 'foo'}}
module {
  func.func @fc(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
    %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("fc.weight")
    %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
    %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
    return %y : tensor<1x3x8xf32>
  }
}

//--- no-targets.mlir
// RUN: lora-opt %t/no-targets.mlir -verify-diagnostics --lora-insert="rank=2"

// expected-error @+1 {{no layers to adapt: give targets, targets-regex, all-linear or adapter (lora-list-targets shows the module names)}}
module {
  func.func @fc(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
    %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("fc.weight")
    %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
    %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
    return %y : tensor<1x3x8xf32>
  }
}

//--- missing-adapter.mlir
// RUN: lora-opt %t/missing-adapter.mlir -verify-diagnostics --lora-insert="adapter=/nonexistent"

// expected-error @+1 {{cannot load adapter: cannot open '/nonexistent/adapter_config.json'}}
module {
  func.func @fc(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
    %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("fc.weight")
    %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
    %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
    return %y : tensor<1x3x8xf32>
  }
}

//--- list-targets-bad-regex.mlir
// lora-list-targets reports bad selection options the same way.
// RUN: lora-opt %t/list-targets-bad-regex.mlir -verify-diagnostics --lora-list-targets="exclude-regex=fc)"

// expected-error @+1 {{exclude_modules regex 'fc)' does not compile}}
module {
  func.func @fc(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
    %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("fc.weight")
    %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
    %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
    return %y : tensor<1x3x8xf32>
  }
}
