// RUN: lora-opt %s -split-input-file --lora-emit-entry-point | FileCheck %s

// CHECK-LABEL: llvm.func @lora_entry_main(
// CHECK-SAME: %[[ARGS:.*]]: !llvm.ptr)
// CHECK: %[[S0:.*]] = llvm.getelementptr %[[ARGS]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[D0:.*]] = llvm.load %[[S0]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[S1:.*]] = llvm.getelementptr %[[ARGS]][1] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[D1:.*]] = llvm.load %[[S1]] : !llvm.ptr -> !llvm.ptr
// CHECK: llvm.call @_mlir_ciface_main(%[[D0]], %[[D1]]) : (!llvm.ptr, !llvm.ptr) -> ()
// CHECK: llvm.return
llvm.func @_mlir_ciface_main(%arg0: !llvm.ptr, %arg1: !llvm.ptr) {
  llvm.return
}

// -----

// Declarations and functions without a C interface get no entry point.
// CHECK-LABEL: module
// CHECK-NOT: lora_entry
llvm.func @_mlir_ciface_external(!llvm.ptr)
llvm.func @helper(%arg0: !llvm.ptr) {
  llvm.return
}
