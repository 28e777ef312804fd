// RUN: lora-opt %s --lora-generate-cuda-kernels="multicast=4" -verify-diagnostics

// A cluster of more than two CTAs along the rows is not built.
// expected-error @below {{lora-generate-cuda-kernels: multicast must be 1 or 2, not 4}}
module {
}
