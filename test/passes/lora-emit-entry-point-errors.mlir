// RUN: lora-opt %s -split-input-file --lora-emit-entry-point -verify-diagnostics

// expected-error @+1 {{entry points need results passed as out parameters and memref arguments only}}
llvm.func @_mlir_ciface_returns(%arg0: !llvm.ptr) -> i32 {
  %0 = llvm.mlir.constant(0 : i32) : i32
  llvm.return %0 : i32
}
