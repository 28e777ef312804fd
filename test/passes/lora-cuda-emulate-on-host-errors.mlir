// RUN: lora-opt %s --split-input-file --verify-diagnostics --lora-cuda-emulate-on-host

// Threads run one after another on the host: a kernel whose threads wait
// for each other cannot be emulated.
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @sync() kernel {
      // expected-error @below {{cannot emulate kernel 'sync' on the host: its threads run one after another there, and 'gpu.barrier' needs the GPU (a GPU op, a symbol, workgroup memory or a stack allocation)}}
      gpu.barrier
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    // expected-error @below {{cannot emulate kernel 'shared' on the host: it has workgroup or private memory attributions}}
    gpu.func @shared() workgroup(%tile : memref<32xf32, #gpu.address_space<workgroup>>) kernel {
      gpu.return
    }
  }
}

// -----

// The generated tensor-core kernels need the GPU.
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @tensor_cores(%bar: !nvgpu.mbarrier.group<memorySpace = #gpu.address_space<workgroup>>) kernel {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      // expected-error @below {{cannot emulate kernel 'tensor_cores' on the host: its threads run one after another there, and 'nvgpu.mbarrier.init' needs the GPU (a GPU op, a symbol, workgroup memory or a stack allocation)}}
      nvgpu.mbarrier.init %bar[%c0], %c1 : !nvgpu.mbarrier.group<memorySpace = #gpu.address_space<workgroup>>
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @empty() kernel {
      gpu.return
    }
  }
  func.func @dynamic_shared(%bytes: i32) {
    %c1 = arith.constant 1 : index
    // expected-error @below {{cannot emulate a launch with dynamic shared memory on the host}}
    gpu.launch_func @kernels::@empty blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) dynamic_shared_memory_size %bytes
    return
  }
}

// -----

module attributes {gpu.container_module} {
  func.func @memset(%buf: memref<8xf32>, %v: f32) {
    // expected-error @below {{cannot emulate 'gpu.memset' on the host}}
    gpu.memset %buf, %v : memref<8xf32>, f32
    return
  }
}

// -----

// A token that leaves the GPU ops (threaded through an scf.if) is not
// dropped silently.
module attributes {gpu.container_module} {
  func.func @token_through_if(%cond: i1) {
    // expected-error @below {{cannot emulate on the host: a result of 'gpu.wait' is used by 'scf.yield'}}
    %t0 = gpu.wait async
    %t1 = scf.if %cond -> !gpu.async.token {
      scf.yield %t0 : !gpu.async.token
    } else {
      scf.yield %t0 : !gpu.async.token
    }
    gpu.wait [%t1]
    return
  }
}

// -----

// Workgroup memory reached through a global of the gpu.module.
module attributes {gpu.container_module} {
  gpu.module @kernels {
    memref.global "private" @tile : memref<32xf32, #gpu.address_space<workgroup>>
    gpu.func @global_tile() kernel {
      // expected-error @below {{cannot emulate kernel 'global_tile' on the host: its threads run one after another there, and 'memref.get_global' needs the GPU (a GPU op, a symbol, workgroup memory or a stack allocation)}}
      %tile = memref.get_global @tile : memref<32xf32, #gpu.address_space<workgroup>>
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @scratch() kernel {
      // expected-error @below {{cannot emulate kernel 'scratch' on the host: its threads run one after another there, and 'memref.alloca' needs the GPU (a GPU op, a symbol, workgroup memory or a stack allocation)}}
      %s = memref.alloca() : memref<4xf32>
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @empty() kernel {
      gpu.return
    }
  }
  func.func @cluster() {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    // expected-error @below {{cannot emulate a launch with thread block clusters on the host}}
    gpu.launch_func @kernels::@empty clusters in (%c2, %c1, %c1) blocks in (%c2, %c1, %c1) threads in (%c1, %c1, %c1)
    return
  }
}

// -----

// The threads' loops take one block of ops.
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // expected-error @below {{cannot emulate kernel 'branches' on the host: its body has more than one block}}
    gpu.func @branches() kernel {
      cf.br ^next
    ^next:
      gpu.return
    }
  }
}
