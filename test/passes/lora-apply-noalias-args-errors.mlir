// RUN: lora-opt %s --split-input-file --lora-apply-noalias-args --verify-diagnostics

// negative_: the list names an argument that is not a pointer.
// expected-error @below {{lora.noalias_args names argument 2, which is not a pointer}}
llvm.func internal @negative_not_a_pointer(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: i64) attributes {lora.noalias_args = array<i64: 2>} {
  llvm.return
}

// -----

// negative_: past the last argument.
// expected-error @below {{lora.noalias_args names argument 3, which is not a pointer}}
llvm.func internal @negative_past_the_end(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: i64) attributes {lora.noalias_args = array<i64: 3>} {
  llvm.return
}
