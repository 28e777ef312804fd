// RUN: lora-opt %s --lora-generate-cuda-kernels="tile-n=100" -verify-diagnostics

// expected-error @below {{lora-generate-cuda-kernels: tile-n must be 64, 128, 192 or 256, not 100}}
module {
}
