// A LoRA layer of a whole model compiled for 128 tokens (static rows): the
// 128x256 tiles would be 16 CTAs on 132 SMs, so lora_linear takes 64x64
// tiles and one consumer warpgroup (m64n64k16 wgmma, 256 threads: 128 CTAs).
// Through ptxas for sm_90a with -v: no spills, no serialized wgmma.
// REQUIRES: ptxas

// RUN: lora-opt %s --lora-generate-cuda-kernels | FileCheck %s --check-prefix=ABI
// RUN: lora-opt %s --lora-generate-cuda-kernels --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --lora-cuda-device-memory --gpu-lower-to-nvvm-pipeline="cubin-chip=sm_90a cubin-features=+ptx80 opt-level=3 cubin-format=isa" | %extract_ptx > %t.ptx
// RUN: FileCheck %s --check-prefix=PTX < %t.ptx
// RUN: ptxas -arch=sm_90a -v %t.ptx -o %t.cubin 2>&1 | FileCheck %s --implicit-check-not=warpgroup.arrive --check-prefix=PTXAS

// ABI: gpu.func @lora_linear(
// ABI-SAME: \22block\22:[256,1,1]
// ABI-SAME: \22tile\22:[64,64]
// ABI: gpu.launch_func @lora_kernels_0::@lora_linear blocks in (%c64{{(_[0-9]+)?}}, %{{.*}}, %{{.*}}) threads in (%c256

// PTX: .entry lora_linear
// PTX: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16

// PTXAS-NOT: wgmma.mma_async instructions are serialized
// PTXAS: Compiling entry function 'lora_linear' for 'sm_90a'
// PTXAS-NEXT: Function properties for lora_linear
// PTXAS-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// PTXAS-NOT: wgmma.mma_async instructions are serialized

func.func @short_prompt(%x: tensor<1x128x4096xbf16>, %w: tensor<4096x4096xbf16>,
                        %a: tensor<4096x16xbf16>, %b: tensor<16x4096xbf16>) -> tensor<1x128x4096xbf16> {
  %y = lora.linear %x, %w, %a, %b {rank = 16 : i64, scale = 2.0}
      : (tensor<1x128x4096xbf16>, tensor<4096x4096xbf16>, tensor<4096x16xbf16>, tensor<16x4096xbf16>) -> tensor<1x128x4096xbf16>
  return %y : tensor<1x128x4096xbf16>
}
