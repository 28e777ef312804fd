// RUN: lora-opt %s -split-input-file -verify-diagnostics --lora-unmerge
// RUN: not lora-opt %s -split-input-file --lora-merge="adapter=%t.missing" 2>&1 | FileCheck %s --check-prefix=ADAPTER

// ADAPTER: cannot load adapter: {{.*}}adapter_config.json

func.func @negative_malformed(%x: tensor<1x3x4xf32>) -> tensor<1x3x2xf32> {
  %w = "tosa.const"() <{values = dense<1.0> : tensor<1x4x2xf32>}> : () -> tensor<1x4x2xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  // expected-error @+1 {{malformed 'lora.merged' attribute: {module = "fc"}}}
  %y = tosa.matmul %x, %w, %zp, %zp {lora.merged = {module = "fc"}} : (tensor<1x3x4xf32>, tensor<1x4x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32>
  return %y : tensor<1x3x2xf32>
}
