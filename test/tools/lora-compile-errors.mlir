// Every failing lora-compile prints one clear error, exits non-zero and
// leaves nothing at -o.
// RUN: rm -rf %t && mkdir -p %t
// RUN: rm -rf %t.cuda && mkdir -p %t.cuda/bin && touch %t.cuda/bin/ptxas && chmod +x %t.cuda/bin/ptxas
// RUN: env CUDA_ROOT=%t.cuda not lora-compile --quiet %s -o %t/out --target=cuda 2>&1 | FileCheck %s --check-prefix=CUDA
// RUN: not lora-compile --quiet %s -o %t/out --target=tpu 2>&1 | FileCheck %s --check-prefix=TARGET
// RUN: not lora-compile --quiet %s -o %t/out --emit=asm 2>&1 | FileCheck %s --check-prefix=EMIT
// RUN: not lora-compile --quiet %s -o %t/out --merge 2>&1 | FileCheck %s --check-prefix=MERGE
// RUN: not lora-compile --quiet %s -o %t/out --opt-level=4 2>&1 | FileCheck %s --check-prefix=OPT
// RUN: not lora-compile --quiet %s -o %t/out --function=nope 2>&1 | FileCheck %s --check-prefix=FUNC
// RUN: not lora-compile --quiet %s -o %t/out --function=my.fn 2>&1 | FileCheck %s --check-prefix=IDENT
// RUN: not lora-compile --quiet %s -o %t/out --function=dynamic 2>&1 | FileCheck %s --check-prefix=DYNAMIC
// RUN: not lora-compile --quiet %s -o %t/out --input-shape=x:1x2 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: not lora-compile --quiet %s -o %t/out --lora-targets=down_proj 2>&1 | FileCheck %s --check-prefix=TARGETS
// RUN: not lora-compile --quiet %t/missing.onnx -o %t/out 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not lora-compile --quiet %s -o %t/out --function=unfused 2>&1 | FileCheck %s --check-prefix=UNFUSED
// RUN: not lora-compile --quiet %s -o %t/out --cuda-kernel-options=fuse-lora-down 2>&1 | FileCheck %s --check-prefix=KOPT-CPU
// RUN: not lora-compile --quiet %s -o %t/out --target=cuda-emulated --cuda-kernel-options=bogus=1 2>&1 | FileCheck %s --check-prefix=KOPT-BOGUS
// RUN: not lora-compile --quiet %s -o %t/out --target=cuda-emulated --cuda-kernel-options=multicast=abc 2>&1 | FileCheck %s --check-prefix=KOPT-VALUE
// RUN: not lora-compile --quiet %s -o %t/out --target=cuda-emulated --cuda-kernel-options=reference-launchers=1 2>&1 | FileCheck %s --check-prefix=KOPT-REF
// RUN: not lora-compile --quiet %s -o %t/out --target=tpu --cuda-kernel-options=fuse-lora-down 2>&1 | FileCheck %s --check-prefix=TARGET
// RUN: test ! -e %t/out
// RUN: mkdir %t/out && touch %t/out/notes.txt
// RUN: not lora-compile --quiet %s -o %t/out 2>&1 | FileCheck %s --check-prefix=EXISTS
// RUN: test -f %t/out/notes.txt
// RUN: ls -A %t | FileCheck %s --check-prefix=LEFT

// CUDA: error: --target=cuda needs libdevice from the CUDA toolkit (math functions in kernels); {{.*}}.cuda/nvvm/libdevice/libdevice.10.bc does not exist
// TARGET: error: unknown target 'tpu' (expected cpu, cuda or cuda-emulated)
// KOPT-CPU: error: CUDA kernel options ('fuse-lora-down') need --target=cuda or cuda-emulated
// KOPT-BOGUS: error: invalid CUDA kernel options 'bogus=1': <Pass-Options-Parser>: no such option bogus{{$}}
// KOPT-VALUE: error: invalid CUDA kernel options 'multicast=abc': lora-generate-cuda-kernels takes tile-n=N, max-stages=N, multicast=1|2, fuse-lora-down, fuse-lora-b-grad, fuse-lora-a-grad, direct-epilogue and persistent=N
// KOPT-REF: error: reference-launchers is --target=cuda-emulated's choice, not a CUDA kernel option
// EMIT: lora-compile: error: unknown --emit=asm (expected onnx, tosa, lora, linalg, llvm or artifact)
// MERGE: error: --merge needs an adapter or LoRA targets
// OPT: error: --opt-level must be 0 to 3
// FUNC: error: the model has no function 'nope'
// IDENT: error: --function must be a C identifier (the library exports lora_entry_<function>), got 'my.fn'
// DYNAMIC: error: argument 'arg0' of 'dynamic' has type 'tensor<?x16xf32>'; compiled models need static shapes (give --input-shape for dynamic ONNX inputs)
// SHAPE: error: --input-shape applies to .onnx input only
// TARGETS: error: targets [down_proj] matched none of the 1 linear layers
// MISSING: missing.onnx
// UNFUSED: error: the LoRA branch of 'layers.1.proj' was not fused into a lora.linear; compiled artifacts need fused layers
// EXISTS: error: '{{.*}}out' exists and is not a lora-compile artifact; not replacing it
// LEFT: out
// LEFT-NOT: {{.}}

func.func @main(%x: tensor<1x4x16xf32> {onnx.name = "x"}) -> (tensor<1x4x8xf32> {onnx.name = "y"}) {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x16x8xf32>}> : () -> tensor<1x16x8xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x4x16xf32>, tensor<1x16x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x8xf32> loc("layers.0.up_proj")
  return %y : tensor<1x4x8xf32>
}

func.func @dynamic(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  return %x : tensor<?x16xf32>
}

// A LoRA parameter whose branch is not a lora.linear (here: its x·A feeds
// something else too, so lora-fuse leaves it written out).
func.func @unfused(%x: tensor<1x4x16xf32>, %a: tensor<1x16x2xf32> {lora.param = "base_model.model.layers.1.proj.lora_A.weight"}) -> (tensor<1x4x2xf32>) {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %t = tosa.matmul %x, %a, %zp, %zp : (tensor<1x4x16xf32>, tensor<1x16x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x2xf32>
  return %t : tensor<1x4x2xf32>
}
