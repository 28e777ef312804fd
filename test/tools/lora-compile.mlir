// A linear layer through every stage of lora-compile, then the artifact run
// by lora-run; and lora-compile's errors.
// RUN: lora-compile --quiet %s --lora-targets=up_proj --lora-rank=2 --lora-alpha=4 --emit=tosa -o - | FileCheck %s --check-prefix=TOSA
// RUN: lora-compile --quiet %s --lora-targets=up_proj --lora-rank=2 --lora-alpha=4 --emit=lora -o - | FileCheck %s --check-prefix=LORA
// RUN: lora-compile --quiet %s --lora-targets=up_proj --lora-rank=2 --lora-alpha=4 --emit=linalg -o - | FileCheck %s --check-prefix=LINALG
// RUN: lora-compile --quiet %s --lora-targets=up_proj --lora-rank=2 --lora-alpha=4 --emit=llvm -o %t.ll.mlir
// RUN: FileCheck %s --check-prefix=LLVM < %t.ll.mlir
// RUN: rm -rf %t.out && lora-compile %s --lora-targets=up_proj --lora-rank=2 --lora-alpha=4 --opt-level=1 --timing -o %t.out 2>&1 | FileCheck %s --check-prefix=PROGRESS
// RUN: FileCheck %s --check-prefix=MANIFEST < %t.out/manifest.json
// RUN: lora-run %t.out --input x=%S/Inputs/ones_1x4x16_f32.npy | FileCheck %s --check-prefix=OUT
// RUN: not lora-run %t.out 2>&1 | FileCheck %s --check-prefix=NOINPUT
// RUN: not lora-run %t.out --input x=%S/Inputs/ones_1x4x16_f32.npy --input-shape=x:2 2>&1 | FileCheck %s --check-prefix=SHAPE

// --emit=tosa stops before LoRA:
// TOSA: tosa.matmul
// TOSA-NOT: lora.linear

// LORA: func.func @main(%arg0: tensor<1x4x16xf32> {onnx.name = "x"}, %arg1: tensor<16x2xf32> {lora.init = {{.*}}, lora.param = "base_model.model.layers.0.up_proj.lora_A.weight"}, %arg2: tensor<2x8xf32> {lora.init = dense<0.000000e+00> : tensor<2x8xf32>, lora.param = "base_model.model.layers.0.up_proj.lora_B.weight"})
// LORA: lora.linear %arg0, %{{.*}}, %arg1, %arg2 {rank = 2 : i64, scale = 2.000000e+00 : f64}

// LINALG: func.func @main(%arg0: tensor<1x4x16xf32> {bufferization.writable = false, onnx.name = "x"}, %arg1: tensor<16x2xf32> {bufferization.writable = false}, %arg2: tensor<2x8xf32> {bufferization.writable = false}, %arg3: tensor<16x8xf32> {bufferization.writable = false}) -> (tensor<1x4x8xf32> {onnx.name = "logits"}) attributes {llvm.emit_c_interface, lora.signature = "f32[1x4x16],f32[16x2],f32[2x8],f32[16x8]->f32[1x4x8]"}
// LINALG: linalg.generic
// LINALG-NOT: tosa.
// LINALG-NOT: lora.linear

// LLVM: llvm.func @lora_entry_main(%arg0: !llvm.ptr)
// LLVM: llvm.mlir.global external constant @lora_signature_main("f32[1x4x16],f32[16x2],f32[2x8],f32[16x8]->f32[1x4x8]\00")

// PROGRESS: lora-compile: importing {{.*}}lora-compile.mlir ... {{[0-9.]+}} s
// PROGRESS: lora-compile: LoRA (insert, fuse) ... {{[0-9.]+}} s (1 LoRA modules)
// PROGRESS: lora-compile: writing weights.bin ... {{[0-9.]+}} s (0.0 MiB)
// PROGRESS: lora-compile: lowering to linalg ...
// PROGRESS: lora-compile: lowering to LLVM ...
// PROGRESS: lora-compile: generating code (LLVM -O1) ...
// PROGRESS: lora-compile: wrote {{.*}}.out
// PROGRESS: Execution time report
// PROGRESS: LoraInsert
// PROGRESS: LoraOutlineWeights
// PROGRESS: codegen and link

// MANIFEST: "kind": "lora_a",
// MANIFEST-NEXT: "module": "layers.0.up_proj",
// MANIFEST-NEXT: "name": "base_model.model.layers.0.up_proj.lora_A.weight",
// MANIFEST: "bytes": 512,
// MANIFEST-NEXT: "dtype": "f32",
// MANIFEST-NEXT: "kind": "weight",
// MANIFEST-NEXT: "name": "layers.0.up_proj.weight",
// MANIFEST-NEXT: "offset": 0,
// MANIFEST: "lora": {
// MANIFEST: "merged": false,
// MANIFEST: "alpha": 4,
// MANIFEST: "in_features": 16,
// MANIFEST: "rank": 2,
// MANIFEST: "scale": 2
// MANIFEST: "target": "cpu",

// y[j] = sum over k of W[k, j] = 30 + 16 j (the initial adapter has B = 0).
// OUT: logits: f32[1x4x8] first values: 30.00000 46.00000 62.00000 78.00000
// NOINPUT: lora-run: error: no --input for 'x'
// SHAPE: lora-run: error: --input-shape applies to .onnx input only; an artifact's shapes were fixed when it was compiled

func.func @main(%x: tensor<1x4x16xf32> {onnx.name = "x"}) -> (tensor<1x4x8xf32> {onnx.name = "logits"}) {
  %w = "tosa.const"() <{values = dense<[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], [0.25, 1.25, 2.25, 3.25, 4.25, 5.25, 6.25, 7.25], [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5], [0.75, 1.75, 2.75, 3.75, 4.75, 5.75, 6.75, 7.75], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [1.25, 2.25, 3.25, 4.25, 5.25, 6.25, 7.25, 8.25], [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5], [1.75, 2.75, 3.75, 4.75, 5.75, 6.75, 7.75, 8.75], [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], [2.25, 3.25, 4.25, 5.25, 6.25, 7.25, 8.25, 9.25], [2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5], [2.75, 3.75, 4.75, 5.75, 6.75, 7.75, 8.75, 9.75], [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], [3.25, 4.25, 5.25, 6.25, 7.25, 8.25, 9.25, 10.25], [3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5], [3.75, 4.75, 5.75, 6.75, 7.75, 8.75, 9.75, 10.75]]> : tensor<16x8xf32>}> : () -> tensor<16x8xf32>
  %s = tosa.const_shape {values = dense<[1, 16, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %w3 = tosa.reshape %w, %s : (tensor<16x8xf32>, !tosa.shape<3>) -> tensor<1x16x8xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w3, %zp, %zp : (tensor<1x4x16xf32>, tensor<1x16x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x8xf32> loc("layers.0.up_proj")
  return %y : tensor<1x4x8xf32>
}
