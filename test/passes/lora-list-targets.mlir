// lora-list-targets prints one table per module (then, for .mlir input, the
// unchanged module). Runs of spaces in the table match any padding.
//
// RUN: lora-opt %s -split-input-file --lora-list-targets | FileCheck %s
// RUN: lora-opt %s -split-input-file --lora-list-targets="targets=q_proj,fc,lm_head rank=2 alpha=4" | FileCheck %s --check-prefix=TARGETS
// RUN: lora-opt %s -split-input-file --lora-list-targets="targets-regex=.*_proj exclude=v_proj rank=2" | FileCheck %s --check-prefix=REGEX
// RUN: lora-opt %s -split-input-file --lora-list-targets="all-linear rank=4 alpha=6 rslora rank-pattern=v_proj=2" | FileCheck %s --check-prefix=ALL

// Module names from a name scope (q_proj), a node path (v_proj) and a weight
// name (fc, no node name); lm_head reaches the result through a reshape and
// a constant add: the output head.

// CHECK-LABEL: linear layers: 4
// CHECK-NEXT: module K x N node{{ *$}}
// CHECK-NEXT: model.layers.0.self_attn.q_proj 8 x 8 node_linear{{ *$}}
// CHECK-NEXT: model.layers.0.self_attn.v_proj 8 x 4 /model/layers.0/self_attn/v_proj/MatMul{{ *$}}
// CHECK-NEXT: model.mlp.fc 4 x 16{{ *$}}
// CHECK-NEXT: lm_head 16 x 12 node_linear_3 [output head]
// CHECK: func.func @model(%{{[^:]*}}: tensor<1x3x8xf32>) -> tensor<3x12xf32>

// TARGETS-LABEL: linear layers: 4 (3 selected by targets [q_proj, fc, lm_head])
// TARGETS-NEXT: module K x N node selected
// TARGETS-NEXT: model.layers.0.self_attn.q_proj 8 x 8 node_linear r=2 alpha=4 scale=2
// TARGETS-NEXT: model.layers.0.self_attn.v_proj 8 x 4 /model/layers.0/self_attn/v_proj/MatMul -
// TARGETS-NEXT: model.mlp.fc 4 x 16 r=2 alpha=4 scale=2
// TARGETS-NEXT: lm_head 16 x 12 node_linear_3 r=2 alpha=4 scale=2 [output head]
// The IR is left as it was.
// TARGETS: func.func @model(
// TARGETS-NOT: lora.param

// REGEX-LABEL: linear layers: 4 (1 selected by targets-regex '.*_proj')
// REGEX-NEXT: module K x N node selected
// REGEX-NEXT: model.layers.0.self_attn.q_proj 8 x 8 node_linear r=2 alpha=8 scale=4
// REGEX-NEXT: model.layers.0.self_attn.v_proj 8 x 4 /model/layers.0/self_attn/v_proj/MatMul -
// REGEX-NEXT: model.mlp.fc 4 x 16 -
// REGEX-NEXT: lm_head 16 x 12 node_linear_3 - [output head]

// rsLoRA: scale alpha/sqrt(r); v_proj gets r = 2 from rank-pattern.
// ALL-LABEL: linear layers: 4 (3 selected by all-linear)
// ALL-NEXT: module K x N node selected
// ALL-NEXT: model.layers.0.self_attn.q_proj 8 x 8 node_linear r=4 alpha=6 scale=3
// ALL-NEXT: model.layers.0.self_attn.v_proj 8 x 4 /model/layers.0/self_attn/v_proj/MatMul r=2 alpha=6 scale=4.24264
// ALL-NEXT: model.mlp.fc 4 x 16 r=4 alpha=6 scale=3
// ALL-NEXT: lm_head 16 x 12 node_linear_3 - [output head]
func.func @model(%x: tensor<1x3x8xf32>) -> tensor<3x12xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %wq = "tosa.const"() <{values = dense<0.5> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32>
  %q = tosa.matmul %x, %wq, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x8xf32> loc("node_linear"("model.layers.0.self_attn.q_proj"))
  %wv = "tosa.const"() <{values = dense<0.5> : tensor<1x8x4xf32>}> : () -> tensor<1x8x4xf32>
  %v = tosa.matmul %q, %wv, %zp, %zp : (tensor<1x3x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x4xf32> loc("/model/layers.0/self_attn/v_proj/MatMul")
  %wf = "tosa.const"() <{values = dense<0.5> : tensor<1x4x16xf32>}> : () -> tensor<1x4x16xf32> loc("model.mlp.fc.weight")
  %f = tosa.matmul %v, %wf, %zp, %zp : (tensor<1x3x4xf32>, tensor<1x4x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x16xf32>
  %wh = "tosa.const"() <{values = dense<0.5> : tensor<1x16x12xf32>}> : () -> tensor<1x16x12xf32> loc("lm_head.weight")
  %h = tosa.matmul %f, %wh, %zp, %zp : (tensor<1x3x16xf32>, tensor<1x16x12xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x12xf32> loc("node_linear_3")
  %sy = tosa.const_shape {values = dense<[3, 12]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %y = tosa.reshape %h, %sy : (tensor<1x3x12xf32>, !tosa.shape<2>) -> tensor<3x12xf32>
  %bias = "tosa.const"() <{values = dense<0.25> : tensor<1x12xf32>}> : () -> tensor<1x12xf32>
  %out = tosa.add %y, %bias : (tensor<3x12xf32>, tensor<1x12xf32>) -> tensor<3x12xf32>
  return %out : tensor<3x12xf32>
}

// -----

// Not linear layers: a matmul of two activations (attention scores) and one
// with a batched constant.

// CHECK-LABEL: linear layers: 0
// CHECK-NEXT: module K x N node{{ *$}}
// CHECK-NEXT: module {
// TARGETS-LABEL: linear layers: 0 (0 selected by targets [q_proj, fc, lm_head])
// TARGETS-NEXT: module K x N node selected
// TARGETS-NEXT: module {
func.func @no_linear_layers(%q: tensor<2x3x8xf32>, %k: tensor<2x8x3xf32>) -> tensor<2x3x4xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %s = tosa.matmul %q, %k, %zp, %zp : (tensor<2x3x8xf32>, tensor<2x8x3xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<2x3x3xf32>
  %w = "tosa.const"() <{values = dense<0.5> : tensor<2x3x4xf32>}> : () -> tensor<2x3x4xf32> loc("batched.weight")
  %y = tosa.matmul %s, %w, %zp, %zp : (tensor<2x3x3xf32>, tensor<2x3x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<2x3x4xf32>
  return %y : tensor<2x3x4xf32>
}
