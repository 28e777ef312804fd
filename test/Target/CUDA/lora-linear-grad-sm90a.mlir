// The backward of a LoRA layer (lora.linear_grad) through the kernel
// generator and upstream's NVVM pipeline to PTX for sm_90a: five kernels,
// each reading its operands in the layout they are stored in, which only
// the transpose bits of wgmma tell apart. The cubin half, with ptxas -v, is
// lora-linear-grad-sm90a-cubin.test.

// RUN: lora-opt %s --lora-generate-cuda-kernels --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --lora-cuda-device-memory --gpu-lower-to-nvvm-pipeline="cubin-chip=sm_90a cubin-features=+ptx80 opt-level=3 cubin-format=isa" -o %t.mlir
// RUN: FileCheck %s --check-prefix=HOST < %t.mlir
// RUN: %extract_ptx %t.mlir > %t.ptx
// RUN: FileCheck %s --check-prefix=PTX < %t.ptx

// Host: five launchers called in order, device buffers for ts, dt and the
// three gradients; the weight gradients' launchers pass the token count
// and zero-fill their output when it is 0.
// HOST-LABEL: llvm.func @grad(
// HOST: llvm.call @lora_kernels_0_lora_down_launch(
// HOST: llvm.call @lora_kernels_0_lora_t_grad_launch(
// HOST: llvm.call @lora_kernels_0_lora_b_grad_launch(
// HOST: llvm.call @lora_kernels_0_lora_a_grad_launch(
// HOST: llvm.call @lora_kernels_0_lora_input_grad_launch(
// HOST-LABEL: llvm.func @lora_kernels_0_lora_b_grad_launch(
// HOST-COUNT-3: llvm.call @mgpuTensorMapEncodeTiledMemref(
// HOST: gpu.launch_func @lora_kernels_0::@lora_b_grad {{.*}} args(%{{.*}} : !llvm.ptr, %{{.*}} : !llvm.ptr, %{{.*}} : !llvm.ptr, %{{.*}} : i64)
// HOST: llvm.call @mgpuMemset16(

// wgmma's operands: `p, 1, 1, trans-a, trans-b`. trans-a = 1 reads an
// M-major x (ts and x for the weight gradients: [tokens, M]), trans-b = 0 a
// K-major w (B, W and A read transposed: [N, K]). The transposed layouts
// issue one m64nNk16 per op, each committing a group.
// PTX: .target sm_90a
// PTX-LABEL: .visible .entry lora_down(
// PTX: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, {{p, 1, +1, 0, +1;}}
// PTX-LABEL: .visible .entry lora_t_grad(
// PTX: .maxntid 256, 1, 1
// PTX-DAG: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, {{p, 1, +1, 0, +0;}}
// PTX-DAG: wgmma.wait_group.sync.aligned 7;
// PTX-DAG: wgmma.wait_group.sync.aligned 4;
// dB has 16 tiles of 64x64: from 4096 tokens a cluster of 4 CTAs shares
// each (the variants for fewer tokens, 2 and none, follow it); the first
// adds the other three's partial sums.
// PTX-LABEL: .visible .entry lora_b_grad(
// PTX: .param .u64 lora_b_grad_param_3
// PTX: .reqnctapercluster 4, 1, 1
// PTX-DAG: barrier.cluster.arrive;
// PTX-DAG: mapa.shared::cluster.u64 {{.*}}, 3;
// PTX-DAG: .visible .entry lora_b_grad_split2(
// PTX-DAG: .visible .entry lora_b_grad_split1(
// PTX-DAG: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, {{p, 1, +1, 1, +1;}}
// PTX-DAG: cp.async.bulk.tensor.2d.global.shared::cta.tile.bulk_group
// PTX-LABEL: .visible .entry lora_a_grad(
// PTX: .param .u64 lora_a_grad_param_3
// PTX-DAG: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, {{p, 1, +1, 1, +1;}}
// PTX-LABEL: .visible .entry lora_input_grad(
// PTX: .maxntid 384, 1, 1
// PTX-DAG: wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {{.*}}, {{p, 1, +1, 0, +0;}}
// PTX-DAG: cp.async.bulk.tensor.2d.global.shared::cta.tile.bulk_group
// PTX-NOT: st.global

func.func @grad(%x: tensor<?x4096xbf16>, %w: tensor<4096x1024xbf16>,
                %a: tensor<4096x16xbf16>, %b: tensor<16x1024xbf16>,
                %g: tensor<?x1024xbf16>)
    -> (tensor<?x4096xbf16>, tensor<4096x16xbf16>, tensor<16x1024xbf16>) {
  %dx, %da, %db = lora.linear_grad %x, %w, %a, %b, %g {rank = 16 : i64, scale = 2.0 : f64}
      : (tensor<?x4096xbf16>, tensor<4096x1024xbf16>, tensor<4096x16xbf16>,
         tensor<16x1024xbf16>, tensor<?x1024xbf16>)
      -> (tensor<?x4096xbf16>, tensor<4096x16xbf16>, tensor<16x1024xbf16>)
  return %dx, %da, %db : tensor<?x4096xbf16>, tensor<4096x16xbf16>, tensor<16x1024xbf16>
}
