// Edge cases of the LoRA passes found in review: constant x constant
// matmuls, all-linear on a model with only a head, closest-name hints for
// suffix targets, scale 1 (no mul left), dynamic rows, lora-insert twice.
//
// RUN: split-file --leading-lines %s %t

//--- constant-matmul.mlir
// A matmul of two constants (llama's rotary embedding in a torchscript
// export: inv_freq [1, 8, 1] x positions [1, 1, 16]) reads no activation, so
// it is no linear layer. before the fix it is listed (K x N = 1 x 16) and all-linear
// fails with "rank 2 of module 'model.rotary_emb' exceeds min(K, N) = 1".
// RUN: lora-opt %t/constant-matmul.mlir --lora-list-targets | FileCheck %t/constant-matmul.mlir --check-prefix=LIST
// RUN: lora-opt %t/constant-matmul.mlir --lora-insert="all-linear rank=2" | FileCheck %t/constant-matmul.mlir --check-prefix=INSERT

// LIST-LABEL: linear layers: 1
// LIST-NEXT: module K x N node
// LIST-NEXT: model.fc 8 x 16
// LIST-NOT: rotary_emb
// INSERT-LABEL: func.func @rotary(
// INSERT-SAME: lora.param = "base_model.model.model.fc.lora_A.weight"
// INSERT-NOT: rotary_emb.lora_A
func.func @rotary(%x: tensor<1x8x8xf32>) -> tensor<1x8x16xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %inv_freq = "tosa.const"() <{values = dense<0.5> : tensor<1x8x1xf32>}> : () -> tensor<1x8x1xf32>
  %pos = "tosa.const"() <{values = dense<2.0> : tensor<1x1x16xf32>}> : () -> tensor<1x1x16xf32>
  %freqs = tosa.matmul %inv_freq, %pos, %zp, %zp : (tensor<1x8x1xf32>, tensor<1x1x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x8x16xf32> loc("/model/rotary_emb/MatMul")
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x16xf32>}> : () -> tensor<1x8x16xf32> loc("model.fc.weight")
  %h = tosa.matmul %x, %w, %zp, %zp : (tensor<1x8x8xf32>, tensor<1x8x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x8x16xf32>
  %y = tosa.add %h, %freqs : (tensor<1x8x16xf32>, tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
  return %y : tensor<1x8x16xf32>
}

//--- all-linear-only-head.mlir
// all-linear on a model whose only linear layer is the output head: the
// error stands alone. before the fix it adds the note "closest module names to '':
// [lm_head]" (the empty targets-regex is taken as the query).
// RUN: lora-opt %t/all-linear-only-head.mlir -verify-diagnostics --lora-insert="all-linear rank=2"

// expected-error @+1 {{all-linear matched none of the 1 linear layers}}
module {
  func.func @head(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
    %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("lm_head.weight")
    %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
    %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
    return %y : tensor<1x3x8xf32>
  }
}

//--- closest-suffix.mlir
// Targets are usually suffixes (q_proj), so the closest names must be ranked
// by the suffix a target could match. Before the fix, the whole names are compared, and
// for the typo `q_prj` the short `model.fc` comes first:
// [model.fc, model.layers.0.q_proj, model.layers.0.v_proj].
// RUN: lora-opt %t/closest-suffix.mlir -verify-diagnostics --lora-insert="targets=q_prj rank=2"

// expected-error @+2 {{targets [q_prj] matched none of the 3 linear layers}}
// expected-note @+1 {{closest module names to 'q_prj': [model.layers.0.q_proj, }}
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

//--- scale-one.mlir
// With alpha = r the scale is 1, and a branch multiplied by 1 loses its Mul
// to canonicalization (tosa.mul folds x * 1), which the ONNX-to-TOSA pipeline
// runs: a PEFT export with lora_alpha = r (PEFT's default r = alpha = 8) and
// lora-insert followed by -canonicalize both give x·W + (x·A)·B. Expected: one
// lora.linear with scale 1. Before the fix, nothing is fused (lora-fuse needs a Mul).
// RUN: lora-opt %t/scale-one.mlir --lora-fuse | FileCheck %t/scale-one.mlir --check-prefix=FUSE
// RUN: lora-opt %t/scale-one.mlir --lora-insert="targets=fc rank=2 alpha=2" --canonicalize --lora-fuse | FileCheck %t/scale-one.mlir --check-prefix=INSERT

// FUSE-LABEL: func.func @no_mul(
// FUSE-SAME: %[[X:[^:]*]]: tensor<1x3x8xf32>, %[[A:[^:]*]]: tensor<1x8x2xf32>, %[[B:[^:]*]]: tensor<1x2x4xf32>)
// FUSE: lora.linear %[[X]], %{{.*}}, %{{.*}}, %{{.*}} {rank = 2 : i64, scale = 1.000000e+00 : f64}
// FUSE-NOT: tosa.matmul
func.func @no_mul(%x: tensor<1x3x8xf32>, %a: tensor<1x8x2xf32>, %b: tensor<1x2x4xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %xw = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %xa = tosa.matmul %x, %a, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32>
  %xab = tosa.matmul %xa, %b, %zp, %zp : (tensor<1x3x2xf32>, tensor<1x2x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %y = tosa.add %xw, %xab : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// FUSE-LABEL: func.func @layer(
// INSERT-LABEL: func.func @layer(
// INSERT: lora.linear {{.*}} {rank = 2 : i64, scale = 1.000000e+00 : f64}
// INSERT-NOT: tosa.matmul
func.func @layer(%x: tensor<1x3x8xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("fc.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %t = tosa.tanh %y : (tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  return %t : tensor<1x3x4xf32>
}

//--- dynamic-rows.mlir
// lora-insert adapts a layer with a dynamic number of rows (M = ?), but
// lora-fuse needs static shapes (it checks that the add covers [M, N]), so
// the explicit branch stays: it still computes the right thing.
// RUN: lora-opt %t/dynamic-rows.mlir --lora-insert="targets=fc rank=2" --lora-fuse | FileCheck %t/dynamic-rows.mlir

// CHECK-LABEL: func.func @dynamic_rows(
// CHECK-NOT: lora.linear
// CHECK-COUNT-3: tosa.matmul
func.func @dynamic_rows(%x: tensor<1x?x8xf32>) -> tensor<1x?x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("fc.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x?x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x?x4xf32>
  %t = tosa.tanh %y : (tensor<1x?x4xf32>) -> tensor<1x?x4xf32>
  return %t : tensor<1x?x4xf32>
}

//--- dynamic-add-result.mlir
// The add's result type may be less static than its operands. lora-fuse calls
// getNumElements() on it unchecked (FuseLora.cpp, `addType.getNumElements()`),
// which asserts in builds with assertions; a release build (like the one
// here) compares a garbage count and does not fuse. Expected: no crash.
// RUN: lora-opt %t/dynamic-add-result.mlir --lora-fuse | FileCheck %t/dynamic-add-result.mlir

// CHECK-LABEL: func.func @dynamic_add_result(
// CHECK: return
func.func @dynamic_add_result(%x: tensor<1x3x8xf32>, %a: tensor<1x8x2xf32>, %b: tensor<1x2x4xf32>) -> tensor<1x?x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %s = "tosa.const"() <{values = dense<2.0> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %xw = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %xa = tosa.matmul %x, %a, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32>
  %xab = tosa.matmul %xa, %b, %zp, %zp : (tensor<1x3x2xf32>, tensor<1x2x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %sxab = tosa.mul %xab, %s, %shift : (tensor<1x3x4xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<1x3x4xf32>
  %y = tosa.add %xw, %sxab : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x?x4xf32>
  return %y : tensor<1x?x4xf32>
}

//--- insert-twice.mlir
// A layer that already has LoRA parameters of its module name (lora-insert
// run twice): a second pair with the same lora.param names would make the
// names ambiguous for export and merge. Expected: an error on the layer
// (the wording is the fix's choice; it should name the module). Before the fix, two
// more arguments with the same names are added.
// RUN: lora-opt %t/insert-twice.mlir -verify-diagnostics --lora-insert="targets=fc rank=2"

func.func @twice(%x: tensor<1x3x8xf32>,
    %a: tensor<8x2xf32> {lora.param = "base_model.model.fc.lora_A.weight"},
    %b: tensor<2x4xf32> {lora.param = "base_model.model.fc.lora_B.weight"}) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("fc.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %s = "tosa.const"() <{values = dense<4.0> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %sa = tosa.const_shape {values = dense<[1, 8, 2]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %sb = tosa.const_shape {values = dense<[1, 2, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  // expected-error @+1 {{fc}}
  %xw = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %a3 = tosa.reshape %a, %sa : (tensor<8x2xf32>, !tosa.shape<3>) -> tensor<1x8x2xf32>
  %xa = tosa.matmul %x, %a3, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32>
  %b3 = tosa.reshape %b, %sb : (tensor<2x4xf32>, !tosa.shape<3>) -> tensor<1x2x4xf32>
  %xab = tosa.matmul %xa, %b3, %zp, %zp : (tensor<1x3x2xf32>, tensor<1x2x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %sxab = tosa.mul %xab, %s, %shift : (tensor<1x3x4xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<1x3x4xf32>
  %y = tosa.add %xw, %sxab : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}
