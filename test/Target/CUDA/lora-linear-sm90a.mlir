// A LoRA layer through the CUDA target's kernel generator and upstream's
// NVVM pipeline to PTX for sm_90a: what lora-generate-cuda-kernels emits must
// become Hopper code (TMA, mbarrier, wgmma, TMA store), not just verify.
// The cubin half, with ptxas -v, is lora-linear-sm90a-cubin.test.

// RUN: lora-opt %s --lora-generate-cuda-kernels --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --lora-cuda-device-memory --gpu-lower-to-nvvm-pipeline="cubin-chip=sm_90a cubin-features=+ptx80 opt-level=3 cubin-format=isa" -o %t.mlir
// RUN: FileCheck %s --check-prefix=HOST < %t.mlir
// RUN: %extract_ptx %t.mlir > %t.ptx
// RUN: FileCheck %s --check-prefix=DOWN < %t.ptx
// RUN: FileCheck %s --check-prefix=MAIN < %t.ptx
// RUN: FileCheck %s --check-prefix=FEWER < %t.ptx
// RUN: FileCheck %s --check-prefix=PDL < %t.ptx

// Host: 3 + 5 tensor maps through the runtime's wrapper, two launches (of
// each kernel, the variant for M), the t workspace and y from
// mgpuMemAlloc.
// HOST-LABEL: llvm.func @lora(
// HOST: llvm.call @mgpuMemAlloc(
// HOST: llvm.call @mgpuMemAlloc(
// HOST: llvm.call @lora_kernels_0_launch(
// HOST: llvm.call @mgpuMemFree(
// HOST: gpu.binary @lora_kernels_0 [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">
// HOST-LABEL: llvm.func @lora_kernels_0_launch(
// HOST-COUNT-3: llvm.call @mgpuTensorMapEncodeTiledMemref(
// HOST: gpu.launch_func @lora_kernels_0::@lora_down
// HOST-COUNT-3: llvm.call @mgpuTensorMapEncodeTiledMemref(
// HOST: gpu.launch_func @lora_kernels_0::@lora_down_split2
// HOST-COUNT-3: llvm.call @mgpuTensorMapEncodeTiledMemref(
// HOST: gpu.launch_func @lora_kernels_0::@lora_down_split4
// HOST-COUNT-5: llvm.call @mgpuTensorMapEncodeTiledMemref(
// HOST: gpu.launch_func @lora_kernels_0::@lora_linear
// HOST-COUNT-5: llvm.call @mgpuTensorMapEncodeTiledMemref(
// HOST: gpu.launch_func @lora_kernels_0::@lora_linear_128x128
// HOST-COUNT-5: llvm.call @mgpuTensorMapEncodeTiledMemref(
// HOST: gpu.launch_func @lora_kernels_0::@lora_linear_64x64

// The PTX's block order is LLVM's (the producer branch may come after the
// consumer's), so the instructions of each kernel are checked as a set.
// DOWN: .target sm_90a
// DOWN: .extern .shared .align 1024 .b8 __lora_dyn_smem[];
// lora_down for many rows: each CTA all of K, no cluster.
// DOWN-LABEL: .visible .entry lora_down(
// DOWN: .maxntid 256, 1, 1
// DOWN-NOT: .explicitcluster
// DOWN-NOT: mapa
// DOWN-LABEL: .visible .entry lora_down_split2(
// DOWN: .explicitcluster
// DOWN-NEXT: .reqnctapercluster 2, 1, 1
// DOWN: mapa.shared::cluster.u64 {{.*}}, 1;
// DOWN-NOT: mapa
// DOWN-LABEL: .visible .entry lora_down_split4(
// DOWN: .maxntid 256, 1, 1
// DOWN: .explicitcluster
// DOWN-NEXT: .reqnctapercluster 4, 1, 1
// DOWN-COUNT-28: mbarrier.init.shared.b64
// DOWN-COUNT-3: prefetch.tensormap
// DOWN: fence.mbarrier_init.release.cluster;
// DOWN-NOT: cp.async.bulk
// DOWN: griddepcontrol.wait;
// DOWN-DAG: griddepcontrol.launch_dependents;
// DOWN-DAG: shfl.sync.idx.b32
// DOWN-DAG: mbarrier.arrive.expect_tx.shared.b64
// DOWN-DAG: cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
// DOWN-DAG: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16
// DOWN-DAG: mbarrier.arrive.shared.b64
// DOWN-DAG: wgmma.wait_group.sync.aligned 0;
// DOWN-DAG: bar.sync 1, 128;
// DOWN-DAG: fence.proxy.async.shared::cta;
// DOWN-DAG: cp.async.bulk.tensor.2d.global.shared::cta.tile.bulk_group
// DOWN-DAG: cp.async.bulk.commit_group;
// DOWN-DAG: cp.async.bulk.wait_group.read 0;
// The split's reduction: the cluster barrier, the other CTAs' staging tiles
// through mapa and ld.shared::cluster.
// DOWN-DAG: barrier.cluster.arrive;
// DOWN-DAG: barrier.cluster.wait;
// DOWN-DAG: mapa.shared::cluster.u64 {{.*}}, 3;
// DOWN-DAG: ld.shared::cluster.v4.b32
// DOWN-LABEL: .visible .entry lora_linear(

// The main kernel: 384 threads; each stage is 128x64 of x (or t) and four
// 64x64 boxes of W (or B); each consumer warpgroup issues m64n256k16 four
// times per stage and keeps one group in flight. The role branch reads the
// warpgroup index through a shuffle, so that ptxas sees it warp-uniform.
// Launched with PDL it waits for the kernel before it after its barriers'
// init and before any load, and lets the next one launch once its
// consumers are past the main loop.
// MAIN-LABEL: .visible .entry lora_linear(
// MAIN: .maxntid 384, 1, 1
// MAIN-COUNT-5: prefetch.tensormap
// MAIN-NOT: cp.async.bulk
// MAIN: bar.sync 0;
// MAIN-NEXT: griddepcontrol.wait;
// MAIN-DAG: griddepcontrol.launch_dependents;
// MAIN-DAG: shfl.sync.idx.b32
// MAIN-DAG: mbarrier.try_wait.parity.shared.b64
// MAIN-DAG: mbarrier.arrive.expect_tx.shared.b64
// MAIN-DAG: cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
// MAIN-DAG: wgmma.fence.sync.aligned;
// MAIN-DAG: wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16
// MAIN-DAG: wgmma.commit_group.sync.aligned;
// MAIN-DAG: wgmma.wait_group.sync.aligned 1;
// MAIN-DAG: mbarrier.arrive.shared.b64
// MAIN-DAG: wgmma.wait_group.sync.aligned 0;
// MAIN-DAG: bar.sync 1, 256;
// MAIN-DAG: fence.proxy.async.shared::cta;
// MAIN-DAG: cp.async.bulk.tensor.2d.global.shared::cta.tile.bulk_group
// MAIN-NOT: st.global

// Every kernel lets the next one launch (PDL) right after its main loop's
// last wgmma wait, before its epilogue.
// PDL-LABEL: .visible .entry lora_down(
// PDL: wgmma.wait_group.sync.aligned 0;
// PDL-NEXT: griddepcontrol.launch_dependents;
// PDL-LABEL: .visible .entry lora_linear(
// PDL: wgmma.wait_group.sync.aligned 0;
// PDL-NEXT: griddepcontrol.launch_dependents;
// PDL-LABEL: .visible .entry lora_linear_64x64(
// PDL: wgmma.wait_group.sync.aligned 0;
// PDL-NEXT: griddepcontrol.launch_dependents;

// The variants for fewer rows: 128x128 tiles (two consumers, m64n128k16)
// from 257 to 512 rows, 64x64 (one consumer, m64n64k16) up to 256.
// FEWER-LABEL: .visible .entry lora_linear_128x128(
// FEWER: .maxntid 384, 1, 1
// FEWER-DAG: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// FEWER-DAG: cp.async.bulk.tensor.2d.global.shared::cta.tile.bulk_group
// FEWER-LABEL: .visible .entry lora_linear_64x64(
// FEWER: .maxntid 256, 1, 1
// FEWER-DAG: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16
// FEWER-DAG: cp.async.bulk.tensor.2d.global.shared::cta.tile.bulk_group
// FEWER-NOT: st.global

func.func @lora(%x: tensor<?x4096xbf16>, %w: tensor<4096x4096xbf16>,
                %a: tensor<4096x16xbf16>, %b: tensor<16x4096xbf16>)
    -> tensor<?x4096xbf16> {
  %y = lora.linear %x, %w, %a, %b {rank = 16 : i64, scale = 2.0}
      : (tensor<?x4096xbf16>, tensor<4096x4096xbf16>, tensor<4096x16xbf16>,
         tensor<16x4096xbf16>) -> tensor<?x4096xbf16>
  return %y : tensor<?x4096xbf16>
}
