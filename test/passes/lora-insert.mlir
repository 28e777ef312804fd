// lora-insert fails when its targets match no layer, so each option set gets
// its own input: split-file cuts this file into the parts below (line numbers
// kept), each with its RUN lines and checks. `-split-input-file` cannot do
// this, as every RUN line would apply to every split.
//
// RUN: split-file --leading-lines %s %t

//--- branch.mlir
// The branch as written out in TOSA next to the frozen matmul of a layer as
// convert-onnx-to-tosa gives it (x and W reshaped to [1, M, K] / [1, K, N]).
// RUN: lora-opt %t/branch.mlir --lora-insert="targets=fc rank=2 alpha=4" | FileCheck %t/branch.mlir

// CHECK-LABEL: func.func @branch(
// CHECK-SAME: %[[X:[^:]*]]: tensor<3x8xf32>,
// CHECK-SAME: %[[A:[^:]*]]: tensor<8x2xf32> {lora.init = dense<{{.*}}> : tensor<8x2xf32>, lora.param = "base_model.model.model.fc.lora_A.weight"},
// CHECK-SAME: %[[B:[^:]*]]: tensor<2x4xf32> {lora.init = dense<0.000000e+00> : tensor<2x4xf32>, lora.param = "base_model.model.model.fc.lora_B.weight"})
// CHECK-SAME: -> tensor<3x4xf32>
// CHECK: %[[X3:.*]] = tosa.reshape %[[X]]
// CHECK: %[[XW:.*]] = tosa.matmul %[[X3]], %{{.*}} : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
// CHECK: %[[A3:.*]] = tosa.reshape %[[A]], %{{.*}} : (tensor<8x2xf32>, !tosa.shape<3>) -> tensor<1x8x2xf32>
// CHECK: %[[XA:.*]] = tosa.matmul %[[X3]], %[[A3]], %{{.*}} -> tensor<1x3x2xf32>
// CHECK: %[[B3:.*]] = tosa.reshape %[[B]], %{{.*}} : (tensor<2x4xf32>, !tosa.shape<3>) -> tensor<1x2x4xf32>
// CHECK: %[[XAB:.*]] = tosa.matmul %[[XA]], %[[B3]], %{{.*}} -> tensor<1x3x4xf32>
// CHECK: %[[S:.*]] = "tosa.const"() <{values = dense<2.000000e+00> : tensor<1x1x1xf32>}>
// CHECK: %[[SXAB:.*]] = tosa.mul %[[XAB]], %[[S]], %{{.*}} -> tensor<1x3x4xf32>
// CHECK: %[[SUM:.*]] = tosa.add %[[XW]], %[[SXAB]] : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
// CHECK: %[[Y:.*]] = tosa.reshape %[[SUM]], %{{.*}} -> tensor<3x4xf32>
// CHECK: %[[T:.*]] = tosa.tanh %[[Y]]
// CHECK: return %[[T]]
func.func @branch(%x: tensor<3x8xf32>) -> tensor<3x4xf32> {
  %w = arith.constant dense<0.5> : tensor<8x4xf32> loc("model.fc.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %sx = tosa.const_shape {values = dense<[1, 3, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %sw = tosa.const_shape {values = dense<[1, 8, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %sy = tosa.const_shape {values = dense<[3, 4]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %x3 = tosa.reshape %x, %sx : (tensor<3x8xf32>, !tosa.shape<3>) -> tensor<1x3x8xf32>
  %w3 = tosa.reshape %w, %sw : (tensor<8x4xf32>, !tosa.shape<3>) -> tensor<1x8x4xf32>
  %m = tosa.matmul %x3, %w3, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %y = tosa.reshape %m, %sy : (tensor<1x3x4xf32>, !tosa.shape<2>) -> tensor<3x4xf32>
  %t = tosa.tanh %y : (tensor<3x4xf32>) -> tensor<3x4xf32>
  return %t : tensor<3x4xf32>
}

//--- f16.mlir
// f16 products accumulate in f32: x·A is cast back to f16 before the second
// matmul; the scale and the add stay in f32, A and B are f16.
// RUN: lora-opt %t/f16.mlir --lora-insert="targets=fc rank=2" | FileCheck %t/f16.mlir

// CHECK-LABEL: func.func @f16(
// CHECK-SAME: %[[X:[^:]*]]: tensor<3x8xf16>,
// CHECK-SAME: %[[A:[^:]*]]: tensor<8x2xf16> {lora.init = dense<{{.*}}> : tensor<8x2xf16>, lora.param = "base_model.model.model.fc.lora_A.weight"},
// CHECK-SAME: %[[B:[^:]*]]: tensor<2x4xf16> {lora.init = dense<0.000000e+00> : tensor<2x4xf16>, lora.param = "base_model.model.model.fc.lora_B.weight"})
// CHECK: %[[X3:.*]] = tosa.reshape %[[X]]
// CHECK: %[[XW:.*]] = tosa.matmul %[[X3]], %{{.*}} -> tensor<1x3x4xf32>
// CHECK: %[[A3:.*]] = tosa.reshape %[[A]], %{{.*}} -> tensor<1x8x2xf16>
// CHECK: %[[XA:.*]] = tosa.matmul %[[X3]], %[[A3]], %{{.*}} : (tensor<1x3x8xf16>, tensor<1x8x2xf16>, tensor<1xf16>, tensor<1xf16>) -> tensor<1x3x2xf32>
// CHECK: %[[XA16:.*]] = tosa.cast %[[XA]] : (tensor<1x3x2xf32>) -> tensor<1x3x2xf16>
// CHECK: %[[B3:.*]] = tosa.reshape %[[B]], %{{.*}} -> tensor<1x2x4xf16>
// CHECK: %[[XAB:.*]] = tosa.matmul %[[XA16]], %[[B3]], %{{.*}} : (tensor<1x3x2xf16>, tensor<1x2x4xf16>, tensor<1xf16>, tensor<1xf16>) -> tensor<1x3x4xf32>
// CHECK: %[[S:.*]] = "tosa.const"() <{values = dense<4.000000e+00> : tensor<1x1x1xf32>}>
// CHECK: %[[SXAB:.*]] = tosa.mul %[[XAB]], %[[S]], %{{.*}} -> tensor<1x3x4xf32>
// CHECK: %[[SUM:.*]] = tosa.add %[[XW]], %[[SXAB]] : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
// CHECK: %[[Y:.*]] = tosa.reshape %[[SUM]]
// CHECK: tosa.cast %[[Y]] : (tensor<3x4xf32>) -> tensor<3x4xf16>
func.func @f16(%x: tensor<3x8xf16>) -> tensor<3x4xf16> {
  %w = arith.constant dense<0.5> : tensor<8x4xf16> loc("model.fc.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf16>}> : () -> tensor<1xf16>
  %sx = tosa.const_shape {values = dense<[1, 3, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %sw = tosa.const_shape {values = dense<[1, 8, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %sy = tosa.const_shape {values = dense<[3, 4]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %x3 = tosa.reshape %x, %sx : (tensor<3x8xf16>, !tosa.shape<3>) -> tensor<1x3x8xf16>
  %w3 = tosa.reshape %w, %sw : (tensor<8x4xf16>, !tosa.shape<3>) -> tensor<1x8x4xf16>
  %m = tosa.matmul %x3, %w3, %zp, %zp : (tensor<1x3x8xf16>, tensor<1x8x4xf16>, tensor<1xf16>, tensor<1xf16>) -> tensor<1x3x4xf32>
  %y = tosa.reshape %m, %sy : (tensor<1x3x4xf32>, !tosa.shape<2>) -> tensor<3x4xf32>
  %y16 = tosa.cast %y : (tensor<3x4xf32>) -> tensor<3x4xf16>
  return %y16 : tensor<3x4xf16>
}

//--- names.mlir
// Module names, in order of preference: the exporter's name scope (child of
// the node's NameLoc), a node name path, the weight's name, the node name.
// RUN: lora-opt %t/names.mlir --lora-insert="targets-regex=.* rank=2" | FileCheck %t/names.mlir

// CHECK-LABEL: func.func @scope(
// CHECK-SAME: lora.param = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
// CHECK-SAME: lora.param = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"
func.func @scope(%x: tensor<1x3x8xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("not_the_scope.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32> loc("node_linear"("model.layers.0.self_attn.q_proj"))
  return %y : tensor<1x3x4xf32>
}

// CHECK-LABEL: func.func @node_path(
// CHECK-SAME: lora.param = "base_model.model.model.layers.0.mlp.up_proj.lora_A.weight"
func.func @node_path(%x: tensor<1x3x8xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("onnx::MatMul_42")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32> loc("/model/layers.0/mlp/up_proj/MatMul")
  return %y : tensor<1x3x4xf32>
}

// CHECK-LABEL: func.func @weight_name(
// CHECK-SAME: lora.param = "base_model.model.model.fc.lora_A.weight"
func.func @weight_name(%x: tensor<1x3x8xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("model.fc.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32> loc("node_MatMul_7")
  return %y : tensor<1x3x4xf32>
}

// CHECK-LABEL: func.func @node_name(
// CHECK-SAME: lora.param = "base_model.model.node_mm.lora_A.weight"
func.func @node_name(%x: tensor<1x3x8xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32> loc("node_mm")
  return %y : tensor<1x3x4xf32>
}

//--- targets.mlir
// A target matches a module name exactly or as a '.'-separated suffix.
// RUN: lora-opt %t/targets.mlir --lora-insert="targets=model.fc,v_proj,proj rank=2" | FileCheck %t/targets.mlir

// CHECK-LABEL: func.func @exact(
// CHECK-SAME: lora.param = "base_model.model.model.fc.lora_A.weight"
func.func @exact(%x: tensor<1x3x8xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("model.fc.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// CHECK-LABEL: func.func @suffix(
// CHECK-SAME: lora.param = "base_model.model.model.layers.0.v_proj.lora_A.weight"
func.func @suffix(%x: tensor<1x3x8xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("model.layers.0.v_proj.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// `proj` ends q_proj but is not a '.'-separated suffix of it.
// CHECK-LABEL: func.func @no_substring(
// CHECK-NOT: lora.param
// CHECK-NOT: tosa.add
func.func @no_substring(%x: tensor<1x3x8xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("model.layers.0.q_proj.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// `model.fc` is a prefix of model.fc2, not the name.
// CHECK-LABEL: func.func @no_prefix(
// CHECK-NOT: lora.param
// CHECK-NOT: tosa.add
func.func @no_prefix(%x: tensor<1x3x8xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("model.fc2.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

//--- regex.mlir
// targets-regex must match the whole module name.
// RUN: lora-opt %t/regex.mlir --lora-insert="targets-regex=model\.layers\.[0-9]+\.q_proj rank=2" | FileCheck %t/regex.mlir

// CHECK-LABEL: func.func @full_match(
// CHECK-SAME: lora.param = "base_model.model.model.layers.12.q_proj.lora_A.weight"
func.func @full_match(%x: tensor<1x3x8xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("model.layers.12.q_proj.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// CHECK-LABEL: func.func @no_match_of_a_prefix(
// CHECK-NOT: lora.param
func.func @no_match_of_a_prefix(%x: tensor<1x3x8xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("model.layers.0.q_proj.inner.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// CHECK-LABEL: func.func @no_match_of_a_suffix(
// CHECK-NOT: lora.param
func.func @no_match_of_a_suffix(%x: tensor<1x3x8xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("base.model.layers.0.q_proj.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

//--- exclude.mlir
// exclude matches like targets (exact or suffix); exclude-regex must match
// the whole name.
// RUN: lora-opt %t/exclude.mlir --lora-insert="targets=q_proj,k_proj exclude=model.layers.1.q_proj,k_proj rank=2" | FileCheck %t/exclude.mlir --check-prefix=NAMES
// RUN: lora-opt %t/exclude.mlir --lora-insert="targets=q_proj,k_proj exclude-regex=model\.layers\.1\..* rank=2" | FileCheck %t/exclude.mlir --check-prefix=REGEX
// RUN: lora-opt %t/exclude.mlir --lora-insert="targets=q_proj,k_proj exclude-regex=layers\.1 rank=2" | FileCheck %t/exclude.mlir --check-prefix=PARTIAL

// NAMES-LABEL: func.func @layer0_q(
// NAMES-SAME: lora.param = "base_model.model.model.layers.0.q_proj.lora_A.weight"
// REGEX-LABEL: func.func @layer0_q(
// REGEX-SAME: lora.param = "base_model.model.model.layers.0.q_proj.lora_A.weight"
// PARTIAL-LABEL: func.func @layer0_q(
// PARTIAL-SAME: lora.param = "base_model.model.model.layers.0.q_proj.lora_A.weight"
func.func @layer0_q(%x: tensor<1x3x8xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("model.layers.0.q_proj.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// Excluded by its full name and by the regex; a partial regex match does not
// exclude it.
// NAMES-LABEL: func.func @layer1_q(
// NAMES-NOT: lora.param
// REGEX-LABEL: func.func @layer1_q(
// REGEX-NOT: lora.param
// PARTIAL-LABEL: func.func @layer1_q(
// PARTIAL-SAME: lora.param = "base_model.model.model.layers.1.q_proj.lora_A.weight"
func.func @layer1_q(%x: tensor<1x3x8xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("model.layers.1.q_proj.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// Excluded by the suffix `k_proj`; the regex leaves it.
// NAMES-LABEL: func.func @layer0_k(
// NAMES-NOT: lora.param
// REGEX-LABEL: func.func @layer0_k(
// REGEX-SAME: lora.param = "base_model.model.model.layers.0.k_proj.lora_A.weight"
// PARTIAL-LABEL: func.func @layer0_k(
// PARTIAL-SAME: lora.param = "base_model.model.model.layers.0.k_proj.lora_A.weight"
func.func @layer0_k(%x: tensor<1x3x8xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("model.layers.0.k_proj.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

//--- all-linear.mlir
// all-linear adapts every linear layer except the output head: a layer whose
// result reaches a function result through reshapes, casts and constant adds.
// RUN: lora-opt %t/all-linear.mlir --lora-insert="all-linear rank=2" | FileCheck %t/all-linear.mlir

// CHECK-LABEL: func.func @hidden(
// CHECK-SAME: lora.param = "base_model.model.model.fc.lora_A.weight"
func.func @hidden(%x: tensor<1x3x8xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("model.fc.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %t = tosa.tanh %y : (tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  return %t : tensor<1x3x4xf32>
}

// CHECK-LABEL: func.func @no_output_head(
// CHECK-NOT: lora.param
// CHECK-NOT: tosa.mul
func.func @no_output_head(%x: tensor<1x3x8xf32>) -> tensor<3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("lm_head.weight")
  %bias = "tosa.const"() <{values = dense<0.25> : tensor<1x4xf32>}> : () -> tensor<1x4xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %sy = tosa.const_shape {values = dense<[3, 4]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %m = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %y = tosa.reshape %m, %sy : (tensor<1x3x4xf32>, !tosa.shape<2>) -> tensor<3x4xf32>
  %b = tosa.add %y, %bias : (tensor<3x4xf32>, tensor<1x4xf32>) -> tensor<3x4xf32>
  return %b : tensor<3x4xf32>
}

// Adding a non-constant (a residual) on the way to the result is a hidden
// layer again.
// CHECK-LABEL: func.func @residual(
// CHECK-SAME: lora.param = "base_model.model.model.out.lora_A.weight"
func.func @residual(%x: tensor<1x3x8xf32>, %r: tensor<1x3x4xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32> loc("model.out.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %s = tosa.add %y, %r : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  return %s : tensor<1x3x4xf32>
}

//--- scale.mlir
// rank and alpha: scale alpha/r, or alpha/sqrt(r) with rslora; the defaults
// are r = 8, alpha = 8.
// RUN: lora-opt %t/scale.mlir --lora-insert="targets=fc" | FileCheck %t/scale.mlir --check-prefix=DEFAULT
// RUN: lora-opt %t/scale.mlir --lora-insert="targets=fc rank=4 alpha=6" | FileCheck %t/scale.mlir --check-prefix=RANK
// RUN: lora-opt %t/scale.mlir --lora-insert="targets=fc rank=4 alpha=6 rslora" | FileCheck %t/scale.mlir --check-prefix=RSLORA

// DEFAULT-LABEL: func.func @fc(
// DEFAULT-SAME: tensor<16x8xf32> {lora.init = {{.*}}lora_A.weight"}, %{{[^:]*}}: tensor<8x8xf32> {lora.init = {{.*}}lora_B.weight"})
// DEFAULT: "tosa.const"() <{values = dense<1.000000e+00> : tensor<1x1x1xf32>}>
// RANK-LABEL: func.func @fc(
// RANK-SAME: tensor<16x4xf32> {lora.init = {{.*}}lora_A.weight"}, %{{[^:]*}}: tensor<4x8xf32> {lora.init = {{.*}}lora_B.weight"})
// RANK: "tosa.const"() <{values = dense<1.500000e+00> : tensor<1x1x1xf32>}>
// RSLORA-LABEL: func.func @fc(
// RSLORA-SAME: tensor<16x4xf32> {lora.init = {{.*}}lora_A.weight"}, %{{[^:]*}}: tensor<4x8xf32> {lora.init = {{.*}}lora_B.weight"})
// RSLORA: "tosa.const"() <{values = dense<3.000000e+00> : tensor<1x1x1xf32>}>
func.func @fc(%x: tensor<1x3x16xf32>) -> tensor<1x3x8xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x16x8xf32>}> : () -> tensor<1x16x8xf32> loc("fc.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x16xf32>, tensor<1x16x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
  return %y : tensor<1x3x8xf32>
}

//--- patterns.mlir
// rank-pattern and alpha-pattern: the first entry whose regex matches a
// '.'-separated suffix of the module name wins; others get rank and alpha.
// `proj=5` matches no name here (q_proj is not a '.'-suffix).
// RUN: lora-opt %t/patterns.mlir --lora-insert="targets-regex=.* rank=2 alpha=3 rank-pattern=proj=5,q_proj=4,.*proj=3 alpha-pattern=v_proj=6,.*proj=1" | FileCheck %t/patterns.mlir

// r = 4 (q_proj=4 before .*proj=3), alpha = 1 (.*proj=1): scale 0.25.
// CHECK-LABEL: func.func @q_proj(
// CHECK-SAME: tensor<8x4xf32> {lora.init = {{.*}}lora_A.weight"}, %{{[^:]*}}: tensor<4x8xf32>
// CHECK: "tosa.const"() <{values = dense<2.500000e-01> : tensor<1x1x1xf32>}>
func.func @q_proj(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("model.layers.0.q_proj.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
  return %y : tensor<1x3x8xf32>
}

// r = 3 (.*proj=3), alpha = 6 (v_proj=6 before .*proj=1): scale 2.
// CHECK-LABEL: func.func @v_proj(
// CHECK-SAME: tensor<8x3xf32> {lora.init = {{.*}}lora_A.weight"}, %{{[^:]*}}: tensor<3x8xf32>
// CHECK: "tosa.const"() <{values = dense<2.000000e+00> : tensor<1x1x1xf32>}>
func.func @v_proj(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("model.layers.0.v_proj.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
  return %y : tensor<1x3x8xf32>
}

// No pattern: r = 2, alpha = 3, scale 1.5.
// CHECK-LABEL: func.func @fc(
// CHECK-SAME: tensor<8x2xf32> {lora.init = {{.*}}lora_A.weight"}, %{{[^:]*}}: tensor<2x8xf32>
// CHECK: "tosa.const"() <{values = dense<1.500000e+00> : tensor<1x1x1xf32>}>
func.func @fc(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32> loc("model.fc.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
  return %y : tensor<1x3x8xf32>
}

//--- init.mlir
// Initial A: kaiming (the default) is uniform in +-1/sqrt(K) = +-0.5 here,
// gaussian is normal with std 1/r, zeros is 0; B is always 0.
// RUN: lora-opt %t/init.mlir --lora-insert="targets=fc rank=2" | FileCheck %t/init.mlir --check-prefix=KAIMING
// RUN: lora-opt %t/init.mlir --lora-insert="targets=fc rank=2 init=gaussian" | FileCheck %t/init.mlir --check-prefix=GAUSSIAN
// RUN: lora-opt %t/init.mlir --lora-insert="targets=fc rank=2 init=zeros" | FileCheck %t/init.mlir --check-prefix=ZEROS

// Every value of A below 0.5 in magnitude: printed as 0.[0-4]..., as
// [0-4].de-01, or with a smaller exponent.
// KAIMING-LABEL: func.func @fc(
// KAIMING-SAME: tensor<4x2xf32> {lora.init = dense<{{\[(\[(-?(0\.[0-4][0-9]*|[0-4](\.[0-9]+)?[eE]-0?1|[0-9](\.[0-9]+)?[eE]-(0?[2-9]|[1-9][0-9]))(, )?)+\](, )?)+\]}}> : tensor<4x2xf32>, lora.param = "base_model.model.fc.lora_A.weight"}
// KAIMING-SAME: tensor<2x4xf32> {lora.init = dense<0.000000e+00> : tensor<2x4xf32>, lora.param = "base_model.model.fc.lora_B.weight"}
// GAUSSIAN-LABEL: func.func @fc(
// GAUSSIAN-SAME: tensor<4x2xf32> {lora.init = dense<{{\[\[}}{{.*}}]]> : tensor<4x2xf32>, lora.param = "base_model.model.fc.lora_A.weight"}
// GAUSSIAN-SAME: tensor<2x4xf32> {lora.init = dense<0.000000e+00> : tensor<2x4xf32>, lora.param = "base_model.model.fc.lora_B.weight"}
// ZEROS-LABEL: func.func @fc(
// ZEROS-SAME: tensor<4x2xf32> {lora.init = dense<0.000000e+00> : tensor<4x2xf32>, lora.param = "base_model.model.fc.lora_A.weight"}
// ZEROS-SAME: tensor<2x4xf32> {lora.init = dense<0.000000e+00> : tensor<2x4xf32>, lora.param = "base_model.model.fc.lora_B.weight"}
func.func @fc(%x: tensor<1x3x4xf32>) -> tensor<1x3x4xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x4x4xf32>}> : () -> tensor<1x4x4xf32> loc("fc.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x3x4xf32>, tensor<1x4x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

//--- seed.mlir
// The initial A of a module depends on the seed and the module only: adapting
// `other` too leaves fc's A as it was; another seed, or gaussian, changes it.
// The four outputs are checked in order, one label each.
// RUN: lora-opt %t/seed.mlir --lora-insert="targets=fc rank=2 seed=1" > %t/seed1
// RUN: lora-opt %t/seed.mlir --lora-insert="targets=other,fc rank=2 seed=1" > %t/seed1-both
// RUN: lora-opt %t/seed.mlir --lora-insert="targets=fc rank=2 seed=2" > %t/seed2
// RUN: lora-opt %t/seed.mlir --lora-insert="targets=fc rank=2 seed=1 init=gaussian" > %t/seed1-gaussian
// RUN: cat %t/seed1 %t/seed1-both %t/seed2 %t/seed1-gaussian | FileCheck %t/seed.mlir

// CHECK-LABEL: func.func @seed(
// CHECK-SAME: lora.init = [[A1:dense<[^>]*>]] : tensor<4x2xf32>, lora.param = "base_model.model.fc.lora_A.weight"
// CHECK-LABEL: func.func @seed(
// CHECK-SAME: lora.init = [[A1]] : tensor<4x2xf32>, lora.param = "base_model.model.fc.lora_A.weight"
// CHECK-LABEL: func.func @seed(
// CHECK-NOT: [[A1]]
// CHECK-LABEL: func.func @seed(
// CHECK-NOT: [[A1]]
func.func @seed(%x: tensor<1x3x4xf32>) -> tensor<1x3x4xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %w0 = "tosa.const"() <{values = dense<0.5> : tensor<1x4x4xf32>}> : () -> tensor<1x4x4xf32> loc("other.weight")
  %h = tosa.matmul %x, %w0, %zp, %zp : (tensor<1x3x4xf32>, tensor<1x4x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  %w1 = "tosa.const"() <{values = dense<0.5> : tensor<1x4x4xf32>}> : () -> tensor<1x4x4xf32> loc("fc.weight")
  %y = tosa.matmul %h, %w1, %zp, %zp : (tensor<1x3x4xf32>, tensor<1x4x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

//--- fuse.mlir
// lora-fuse turns each inserted branch into one lora.linear; the layer that
// was not adapted keeps its tosa.matmul.
// RUN: lora-opt %t/fuse.mlir --lora-insert="targets=q_proj,v_proj rank=2 alpha=4" --lora-fuse | FileCheck %t/fuse.mlir

// CHECK-LABEL: func.func @two_layers(
// CHECK-SAME: %[[X:[^:]*]]: tensor<3x8xf32>,
// CHECK-SAME: %[[QA:[^:]*]]: tensor<8x2xf32> {{.*}}q_proj.lora_A.weight"}, %[[QB:[^:]*]]: tensor<2x8xf32> {{.*}}q_proj.lora_B.weight"},
// CHECK-SAME: %[[VA:[^:]*]]: tensor<8x2xf32> {{.*}}v_proj.lora_A.weight"}, %[[VB:[^:]*]]: tensor<2x8xf32> {{.*}}v_proj.lora_B.weight"})
// CHECK-DAG: %[[WQ:.*]] = arith.constant dense<5.000000e-01> : tensor<8x8xf32>
// CHECK-DAG: %[[WV:.*]] = arith.constant dense<1.250000e-01> : tensor<8x8xf32>
// CHECK: %[[X3:.*]] = tosa.reshape %[[X]]
// CHECK-NOT: tosa.matmul
// CHECK: %[[Q:.*]] = lora.linear %[[X3]], %[[WQ]], %[[QA]], %[[QB]] {rank = 2 : i64, scale = 2.000000e+00 : f64}
// CHECK-NOT: lora.linear
// CHECK: tosa.matmul %[[Q]], %{{.*}} -> tensor<1x3x8xf32>
// CHECK-NOT: tosa.matmul
// CHECK: lora.linear %{{.*}}, %[[WV]], %[[VA]], %[[VB]] {rank = 2 : i64, scale = 2.000000e+00 : f64}
// CHECK-NOT: tosa.matmul
// CHECK-NOT: lora.linear
// CHECK: return
func.func @two_layers(%x: tensor<3x8xf32>) -> tensor<3x8xf32> {
  %wq = arith.constant dense<0.5> : tensor<8x8xf32> loc("model.q_proj.weight")
  %wk = arith.constant dense<0.25> : tensor<8x8xf32> loc("model.k_proj.weight")
  %wv = arith.constant dense<0.125> : tensor<8x8xf32> loc("model.v_proj.weight")
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %sx = tosa.const_shape {values = dense<[1, 3, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %sw = tosa.const_shape {values = dense<[1, 8, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %sy = tosa.const_shape {values = dense<[3, 8]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %x3 = tosa.reshape %x, %sx : (tensor<3x8xf32>, !tosa.shape<3>) -> tensor<1x3x8xf32>
  %wq3 = tosa.reshape %wq, %sw : (tensor<8x8xf32>, !tosa.shape<3>) -> tensor<1x8x8xf32>
  %q = tosa.matmul %x3, %wq3, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
  %wk3 = tosa.reshape %wk, %sw : (tensor<8x8xf32>, !tosa.shape<3>) -> tensor<1x8x8xf32>
  %k = tosa.matmul %q, %wk3, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
  %wv3 = tosa.reshape %wv, %sw : (tensor<8x8xf32>, !tosa.shape<3>) -> tensor<1x8x8xf32>
  %v = tosa.matmul %k, %wv3, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32>
  %y = tosa.reshape %v, %sy : (tensor<1x3x8xf32>, !tosa.shape<2>) -> tensor<3x8xf32>
  %t = tosa.tanh %y : (tensor<3x8xf32>) -> tensor<3x8xf32>
  return %t : tensor<3x8xf32>
}
