// lora-autodiff: the rule of each op (rules.mlir, loss=output on a forward
// that ends with a reduce_sum to one element, so the gradient reaching the
// op is the tile of the seed, %[[G]]), the train and eval steps and their
// signatures, the losses, and the activity analysis. Each option set takes
// its own input: split-file cuts this file into the parts below (line
// numbers kept).
//
// RUN: split-file --leading-lines %s %t

//--- rules.mlir
// RUN: lora-opt %t/rules.mlir -split-input-file --lora-autodiff="eval-function=" | FileCheck %t/rules.mlir

// add: the broadcast operand's gradient is summed over the broadcast dim.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<1x3xf32> {lora.param = "p"}, %[[X:[^:]*]]: tensor<2x3xf32>)
// CHECK: tosa.add %[[X]], %[[P]]
// CHECK: %[[G:.*]] = tosa.tile {{.*}} -> tensor<2x3xf32>
// CHECK: %[[DP:.*]] = tosa.reduce_sum %[[G]] {axis = 0 : i32} : (tensor<2x3xf32>) -> tensor<1x3xf32>
// CHECK: return %{{.*}}, %[[DP]] : tensor<f32>, tensor<1x3xf32>
func.func @main(%p: tensor<1x3xf32> {lora.param = "p"}, %x: tensor<2x3xf32>) -> tensor<1x1xf32> {
  %y = tosa.add %x, %p : (tensor<2x3xf32>, tensor<1x3xf32>) -> tensor<2x3xf32>
  %s0 = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2x3xf32>) -> tensor<1x3xf32>
  %s = tosa.reduce_sum %s0 {axis = 1 : i32} : (tensor<1x3xf32>) -> tensor<1x1xf32>
  return %s : tensor<1x1xf32>
}

// -----

// sub: the subtrahend gets -g.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"}, %[[X:[^:]*]]: tensor<2xf32>)
// CHECK: tosa.sub %[[X]], %[[P]]
// CHECK: %[[G:.*]] = tosa.tile
// CHECK: %[[DP:.*]] = tosa.negate %[[G]]
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2xf32> {lora.param = "p"}, %x: tensor<2xf32>) -> tensor<1xf32> {
  %y = tosa.sub %x, %p : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// mul: g times the other operand, summed over the dim the parameter was
// broadcast along.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<1x3xf32> {lora.param = "p"}, %[[X:[^:]*]]: tensor<2x3xf32>)
// CHECK: tosa.mul %[[X]], %[[P]]
// CHECK: %[[G:.*]] = tosa.tile {{.*}} -> tensor<2x3xf32>
// CHECK: %[[GX:.*]] = tosa.mul %[[G]], %[[X]]
// CHECK: %[[DP:.*]] = tosa.reduce_sum %[[GX]] {axis = 0 : i32} : (tensor<2x3xf32>) -> tensor<1x3xf32>
// CHECK: return %{{.*}}, %[[DP]] : tensor<f32>, tensor<1x3xf32>
func.func @main(%p: tensor<1x3xf32> {lora.param = "p"}, %x: tensor<2x3xf32>) -> tensor<1x1xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %y = tosa.mul %x, %p, %shift : (tensor<2x3xf32>, tensor<1x3xf32>, tensor<1xi8>) -> tensor<2x3xf32>
  %s0 = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2x3xf32>) -> tensor<1x3xf32>
  %s = tosa.reduce_sum %s0 {axis = 1 : i32} : (tensor<1x3xf32>) -> tensor<1x1xf32>
  return %s : tensor<1x1xf32>
}

// -----

// mul of a parameter by itself: the gradients of both operands are summed.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"})
// CHECK: %[[G:.*]] = tosa.tile
// CHECK: %[[D0:.*]] = tosa.mul %[[G]], %[[P]]
// CHECK: %[[D1:.*]] = tosa.mul %[[G]], %[[P]]
// CHECK: %[[DP:.*]] = tosa.add %[[D0]], %[[D1]]
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<1xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %y = tosa.mul %p, %p, %shift : (tensor<2xf32>, tensor<2xf32>, tensor<1xi8>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// negate: -g.
// CHECK-LABEL: func.func @train_step(
// CHECK: %[[G:.*]] = tosa.tile
// CHECK: %[[DP:.*]] = tosa.negate %[[G]]
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<1xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.negate %p, %zp, %zp : (tensor<2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// exp: g · y, with the forward's y.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"})
// CHECK: %[[Y:.*]] = tosa.exp %[[P]]
// CHECK: %[[G:.*]] = tosa.tile
// CHECK-NOT: tosa.exp
// CHECK: %[[DP:.*]] = tosa.mul %[[G]], %[[Y]]
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<1xf32> {
  %y = tosa.exp %p : (tensor<2xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// log: g / x.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"})
// CHECK: %[[G:.*]] = tosa.tile
// CHECK: %[[R:.*]] = tosa.reciprocal %[[P]]
// CHECK: %[[DP:.*]] = tosa.mul %[[G]], %[[R]]
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<1xf32> {
  %y = tosa.log %p : (tensor<2xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// reciprocal: g · -y².
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"})
// CHECK: %[[Y:.*]] = tosa.reciprocal %[[P]]
// CHECK: %[[G:.*]] = tosa.tile
// CHECK: %[[YY:.*]] = tosa.mul %[[Y]], %[[Y]]
// CHECK: %[[D:.*]] = tosa.negate %[[YY]]
// CHECK: %[[DP:.*]] = tosa.mul %[[G]], %[[D]]
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<1xf32> {
  %y = tosa.reciprocal %p : (tensor<2xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// rsqrt: g · -y³/2.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"})
// CHECK: %[[Y:.*]] = tosa.rsqrt %[[P]]
// CHECK: %[[G:.*]] = tosa.tile
// CHECK: %[[YY:.*]] = tosa.mul %[[Y]], %[[Y]]
// CHECK: %[[Y3:.*]] = tosa.mul %[[YY]], %[[Y]]
// CHECK: %[[HALF:.*]] = "tosa.const"() <{values = dense<-5.000000e-01> : tensor<1xf32>}>
// CHECK: %[[D:.*]] = tosa.mul %[[Y3]], %[[HALF]]
// CHECK: %[[DP:.*]] = tosa.mul %[[G]], %[[D]]
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<1xf32> {
  %y = tosa.rsqrt %p : (tensor<2xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// sigmoid: g · (y - y²), with the forward's y (no second sigmoid).
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"})
// CHECK: %[[Y:.*]] = tosa.sigmoid %[[P]]
// CHECK: %[[G:.*]] = tosa.tile
// CHECK-NOT: tosa.sigmoid
// CHECK: %[[YY:.*]] = tosa.mul %[[Y]], %[[Y]]
// CHECK: %[[D:.*]] = tosa.sub %[[Y]], %[[YY]]
// CHECK: %[[DP:.*]] = tosa.mul %[[G]], %[[D]]
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<1xf32> {
  %y = tosa.sigmoid %p : (tensor<2xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// tanh: g · (1 - y²).
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"})
// CHECK: %[[Y:.*]] = tosa.tanh %[[P]]
// CHECK: %[[G:.*]] = tosa.tile
// CHECK-NOT: tosa.tanh
// CHECK: %[[YY:.*]] = tosa.mul %[[Y]], %[[Y]]
// CHECK: %[[ONE:.*]] = "tosa.const"() <{values = dense<1.000000e+00> : tensor<1xf32>}>
// CHECK: %[[D:.*]] = tosa.sub %[[ONE]], %[[YY]]
// CHECK: %[[DP:.*]] = tosa.mul %[[G]], %[[D]]
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<1xf32> {
  %y = tosa.tanh %p : (tensor<2xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// erf: g · 2/sqrt(pi) · exp(-x²).
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"})
// CHECK: %[[G:.*]] = tosa.tile
// CHECK: %[[XX:.*]] = tosa.mul %[[P]], %[[P]]
// CHECK: %[[NXX:.*]] = tosa.negate %[[XX]]
// CHECK: %[[E:.*]] = tosa.exp %[[NXX]]
// CHECK: %[[C:.*]] = "tosa.const"() <{values = dense<1.12837923> : tensor<1xf32>}>
// CHECK: %[[D:.*]] = tosa.mul %[[E]], %[[C]]
// CHECK: %[[DP:.*]] = tosa.mul %[[G]], %[[D]]
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<1xf32> {
  %y = tosa.erf %p : (tensor<2xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// sin: g · cos x.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"})
// CHECK: %[[G:.*]] = tosa.tile
// CHECK: %[[C:.*]] = tosa.cos %[[P]]
// CHECK: %[[DP:.*]] = tosa.mul %[[G]], %[[C]]
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<1xf32> {
  %y = tosa.sin %p : (tensor<2xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// cos: g · -sin x.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"})
// CHECK: %[[G:.*]] = tosa.tile
// CHECK: %[[S:.*]] = tosa.sin %[[P]]
// CHECK: %[[D:.*]] = tosa.negate %[[S]]
// CHECK: %[[DP:.*]] = tosa.mul %[[G]], %[[D]]
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<1xf32> {
  %y = tosa.cos %p : (tensor<2xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// pow of two parameters: d/dp = q · p^(q-1), d/dq = y · ln p.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"}, %[[Q:[^:]*]]: tensor<2xf32> {lora.param = "q"})
// CHECK-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<2xf32> {onnx.name = "p.grad"}, tensor<2xf32> {onnx.name = "q.grad"})
// CHECK: %[[Y:.*]] = tosa.pow %[[P]], %[[Q]]
// CHECK: %[[G:.*]] = tosa.tile
// CHECK: %[[ONE:.*]] = "tosa.const"() <{values = dense<1.000000e+00> : tensor<1xf32>}>
// CHECK: %[[QM1:.*]] = tosa.sub %[[Q]], %[[ONE]]
// CHECK: %[[POW:.*]] = tosa.pow %[[P]], %[[QM1]]
// CHECK: %[[DPDX:.*]] = tosa.mul %[[Q]], %[[POW]]
// CHECK: %[[DP:.*]] = tosa.mul %[[G]], %[[DPDX]]
// CHECK: %[[LN:.*]] = tosa.log %[[P]]
// CHECK: %[[DQDX:.*]] = tosa.mul %[[Y]], %[[LN]]
// CHECK: %[[DQ:.*]] = tosa.mul %[[G]], %[[DQDX]]
// CHECK: return %{{.*}}, %[[DP]], %[[DQ]] :
func.func @main(%p: tensor<2xf32> {lora.param = "p"}, %q: tensor<2xf32> {lora.param = "q"}) -> tensor<1xf32> {
  %y = tosa.pow %p, %q : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// maximum(x, p): p gets g where x < p (x wins ties).
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"}, %[[X:[^:]*]]: tensor<2xf32>)
// CHECK: %[[G:.*]] = tosa.tile
// CHECK: %[[XWINS:.*]] = tosa.greater_equal %[[X]], %[[P]]
// CHECK: %[[ZERO:.*]] = "tosa.const"() <{values = dense<0.000000e+00> : tensor<1xf32>}>
// CHECK: %[[DP:.*]] = tosa.select %[[XWINS]], %[[ZERO]], %[[G]]
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2xf32> {lora.param = "p"}, %x: tensor<2xf32>) -> tensor<1xf32> {
  %y = tosa.maximum %x, %p : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// minimum(p, x): p gets g where p <= x.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"}, %[[X:[^:]*]]: tensor<2xf32>)
// CHECK: %[[G:.*]] = tosa.tile
// CHECK: %[[PWINS:.*]] = tosa.greater_equal %[[X]], %[[P]]
// CHECK: %[[ZERO:.*]] = "tosa.const"() <{values = dense<0.000000e+00> : tensor<1xf32>}>
// CHECK: %[[DP:.*]] = tosa.select %[[PWINS]], %[[G]], %[[ZERO]]
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2xf32> {lora.param = "p"}, %x: tensor<2xf32>) -> tensor<1xf32> {
  %y = tosa.minimum %p, %x : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// clamp: g where min <= x <= max.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"})
// CHECK: %[[G:.*]] = tosa.tile
// CHECK: %[[LO:.*]] = "tosa.const"() <{values = dense<-1.000000e+00> : tensor<1xf32>}>
// CHECK: %[[ABOVE:.*]] = tosa.greater_equal %[[P]], %[[LO]]
// CHECK: %[[HI:.*]] = "tosa.const"() <{values = dense<6.000000e+00> : tensor<1xf32>}>
// CHECK: %[[BELOW:.*]] = tosa.greater_equal %[[HI]], %[[P]]
// CHECK: %[[INSIDE:.*]] = tosa.logical_and %[[ABOVE]], %[[BELOW]]
// CHECK: %[[ZERO:.*]] = "tosa.const"() <{values = dense<0.000000e+00> : tensor<1xf32>}>
// CHECK: %[[DP:.*]] = tosa.select %[[INSIDE]], %[[G]], %[[ZERO]]
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<1xf32> {
  %y = tosa.clamp %p {min_val = -1.0 : f32, max_val = 6.0 : f32} : (tensor<2xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// abs: g where x > 0, -g where x < 0, 0 at 0.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"})
// CHECK: %[[G:.*]] = tosa.tile
// CHECK: %[[Z0:.*]] = "tosa.const"() <{values = dense<0.000000e+00> : tensor<1xf32>}>
// CHECK: %[[POS:.*]] = tosa.greater %[[P]], %[[Z0]]
// CHECK: %[[Z1:.*]] = "tosa.const"() <{values = dense<0.000000e+00> : tensor<1xf32>}>
// CHECK: %[[NEG:.*]] = tosa.greater %[[Z1]], %[[P]]
// CHECK: %[[NG:.*]] = tosa.negate %[[G]]
// CHECK: %[[Z2:.*]] = "tosa.const"() <{values = dense<0.000000e+00> : tensor<1xf32>}>
// CHECK: %[[NEGORZERO:.*]] = tosa.select %[[NEG]], %[[NG]], %[[Z2]]
// CHECK: %[[DP:.*]] = tosa.select %[[POS]], %[[G]], %[[NEGORZERO]]
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<1xf32> {
  %y = tosa.abs %p : (tensor<2xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// cast f32 -> f64 -> f32: the gradient is cast the other way at each step.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"})
// CHECK: %[[D:.*]] = tosa.cast %[[P]] : (tensor<2xf32>) -> tensor<2xf64>
// CHECK: %[[E:.*]] = tosa.exp %[[D]]
// CHECK: %[[G:.*]] = tosa.tile {{.*}} -> tensor<2xf32>
// CHECK: %[[G64:.*]] = tosa.cast %[[G]] : (tensor<2xf32>) -> tensor<2xf64>
// CHECK: %[[GE:.*]] = tosa.mul %[[G64]], %[[E]]
// CHECK: %[[DP:.*]] = tosa.cast %[[GE]] : (tensor<2xf64>) -> tensor<2xf32>
// CHECK: return %{{.*}}, %[[DP]] : tensor<f32>, tensor<2xf32>
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> tensor<1xf32> {
  %d = tosa.cast %p : (tensor<2xf32>) -> tensor<2xf64>
  %e = tosa.exp %d : (tensor<2xf64>) -> tensor<2xf64>
  %f = tosa.cast %e : (tensor<2xf64>) -> tensor<2xf32>
  %s = tosa.reduce_sum %f {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// reshape: back to the operand's shape.
// CHECK-LABEL: func.func @train_step(
// CHECK: %[[G:.*]] = tosa.tile {{.*}} -> tensor<6xf32>
// CHECK: %[[DP:.*]] = tosa.reshape %[[G]], %{{.*}} : (tensor<6xf32>, !tosa.shape<2>) -> tensor<2x3xf32>
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2x3xf32> {lora.param = "p"}) -> tensor<1xf32> {
  %shape = tosa.const_shape {values = dense<6> : tensor<1xindex>} : () -> !tosa.shape<1>
  %r = tosa.reshape %p, %shape : (tensor<2x3xf32>, !tosa.shape<1>) -> tensor<6xf32>
  %s = tosa.reduce_sum %r {axis = 0 : i32} : (tensor<6xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// transpose by [1, 2, 0]: the gradient goes back by the inverse, [2, 0, 1].
// CHECK-LABEL: func.func @train_step(
// CHECK: %[[G:.*]] = tosa.tile {{.*}} -> tensor<3x4x2xf32>
// CHECK: %[[DP:.*]] = tosa.transpose %[[G]] {perms = array<i32: 2, 0, 1>} : (tensor<3x4x2xf32>) -> tensor<2x3x4xf32>
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2x3x4xf32> {lora.param = "p"}) -> tensor<1x1x1xf32> {
  %t = tosa.transpose %p {perms = array<i32: 1, 2, 0>} : (tensor<2x3x4xf32>) -> tensor<3x4x2xf32>
  %s0 = tosa.reduce_sum %t {axis = 0 : i32} : (tensor<3x4x2xf32>) -> tensor<1x4x2xf32>
  %s1 = tosa.reduce_sum %s0 {axis = 1 : i32} : (tensor<1x4x2xf32>) -> tensor<1x1x2xf32>
  %s = tosa.reduce_sum %s1 {axis = 2 : i32} : (tensor<1x1x2xf32>) -> tensor<1x1x1xf32>
  return %s : tensor<1x1x1xf32>
}

// -----

// slice [1:3, 0:3] of a 3x4: the gradient is padded back, [before, after]
// per dim.
// CHECK-LABEL: func.func @train_step(
// CHECK: %[[G:.*]] = tosa.tile {{.*}} -> tensor<2x3xf32>
// CHECK: %[[PADDING:.*]] = tosa.const_shape {values = dense<[1, 0, 0, 1]> : tensor<4xindex>}
// CHECK: %[[DP:.*]] = tosa.pad %[[G]], %[[PADDING]], %{{.*}} : (tensor<2x3xf32>, !tosa.shape<4>, tensor<1xf32>) -> tensor<3x4xf32>
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<3x4xf32> {lora.param = "p"}) -> tensor<1x1xf32> {
  %start = tosa.const_shape {values = dense<[1, 0]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %size = tosa.const_shape {values = dense<[2, 3]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %y = tosa.slice %p, %start, %size : (tensor<3x4xf32>, !tosa.shape<2>, !tosa.shape<2>) -> tensor<2x3xf32>
  %s0 = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2x3xf32>) -> tensor<1x3xf32>
  %s = tosa.reduce_sum %s0 {axis = 1 : i32} : (tensor<1x3xf32>) -> tensor<1x1xf32>
  return %s : tensor<1x1xf32>
}

// -----

// pad by [1, 0, 0, 2]: the gradient is the slice at [1, 0] of the operand's
// size.
// CHECK-LABEL: func.func @train_step(
// CHECK: %[[G:.*]] = tosa.tile {{.*}} -> tensor<3x5xf32>
// CHECK-DAG: %[[SIZE:.*]] = tosa.const_shape {values = dense<[2, 3]> : tensor<2xindex>}
// CHECK-DAG: %[[START:.*]] = tosa.const_shape {values = dense<[1, 0]> : tensor<2xindex>}
// CHECK: %[[DP:.*]] = tosa.slice %[[G]], %[[START]], %[[SIZE]] : (tensor<3x5xf32>, !tosa.shape<2>, !tosa.shape<2>) -> tensor<2x3xf32>
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2x3xf32> {lora.param = "p"}) -> tensor<1x1xf32> {
  %padding = tosa.const_shape {values = dense<[1, 0, 0, 2]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %pc = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.pad %p, %padding, %pc : (tensor<2x3xf32>, !tosa.shape<4>, tensor<1xf32>) -> tensor<3x5xf32>
  %s0 = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<3x5xf32>) -> tensor<1x5xf32>
  %s = tosa.reduce_sum %s0 {axis = 1 : i32} : (tensor<1x5xf32>) -> tensor<1x1xf32>
  return %s : tensor<1x1xf32>
}

// -----

// concat(x, p) along 0: p's gradient is the slice after x's row; the frozen
// x gets none.
// CHECK-LABEL: func.func @train_step(
// CHECK: %[[G:.*]] = tosa.tile {{.*}} -> tensor<3x3xf32>
// CHECK-DAG: %[[SIZE:.*]] = tosa.const_shape {values = dense<[2, 3]> : tensor<2xindex>}
// CHECK-DAG: %[[START:.*]] = tosa.const_shape {values = dense<[1, 0]> : tensor<2xindex>}
// CHECK: %[[DP:.*]] = tosa.slice %[[G]], %[[START]], %[[SIZE]] : (tensor<3x3xf32>, !tosa.shape<2>, !tosa.shape<2>) -> tensor<2x3xf32>
// CHECK-NOT: tosa.slice
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2x3xf32> {lora.param = "p"}, %x: tensor<1x3xf32>) -> tensor<1x1xf32> {
  %y = tosa.concat %x, %p {axis = 0 : i32} : (tensor<1x3xf32>, tensor<2x3xf32>) -> tensor<3x3xf32>
  %s0 = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<3x3xf32>) -> tensor<1x3xf32>
  %s = tosa.reduce_sum %s0 {axis = 1 : i32} : (tensor<1x3xf32>) -> tensor<1x1xf32>
  return %s : tensor<1x1xf32>
}

// -----

// tile by [2, 1]: the 4x3 gradient as [copies, 2, copies, 3], summed over
// the copies.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2x3xf32> {lora.param = "p"})
// CHECK: tosa.tile %[[P]]
// CHECK: %[[G:.*]] = tosa.tile {{.*}} -> tensor<4x3xf32>
// CHECK: %[[SPLIT:.*]] = tosa.reshape %[[G]], %{{.*}} -> tensor<2x2x1x3xf32>
// CHECK: %[[S0:.*]] = tosa.reduce_sum %[[SPLIT]] {axis = 0 : i32}
// CHECK: %[[S2:.*]] = tosa.reduce_sum %[[S0]] {axis = 2 : i32}
// CHECK: %[[DP:.*]] = tosa.reshape %[[S2]], %{{.*}} -> tensor<2x3xf32>
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2x3xf32> {lora.param = "p"}) -> tensor<1x1xf32> {
  %m = tosa.const_shape {values = dense<[2, 1]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %y = tosa.tile %p, %m : (tensor<2x3xf32>, !tosa.shape<2>) -> tensor<4x3xf32>
  %s0 = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<4x3xf32>) -> tensor<1x3xf32>
  %s = tosa.reduce_sum %s0 {axis = 1 : i32} : (tensor<1x3xf32>) -> tensor<1x1xf32>
  return %s : tensor<1x1xf32>
}

// -----

// reduce_sum along 1 (then a mul by a frozen x): the gradient is tiled back
// along 1.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2x3xf32> {lora.param = "p"}, %[[X:[^:]*]]: tensor<2x1xf32>)
// CHECK: %[[G:.*]] = tosa.tile {{.*}} -> tensor<2x1xf32>
// CHECK: %[[GX:.*]] = tosa.mul %[[G]], %[[X]]
// CHECK: %[[M:.*]] = tosa.const_shape {values = dense<[1, 3]> : tensor<2xindex>}
// CHECK: %[[DP:.*]] = tosa.tile %[[GX]], %[[M]] : (tensor<2x1xf32>, !tosa.shape<2>) -> tensor<2x3xf32>
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2x3xf32> {lora.param = "p"}, %x: tensor<2x1xf32>) -> tensor<1x1xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %r = tosa.reduce_sum %p {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  %y = tosa.mul %r, %x, %shift : (tensor<2x1xf32>, tensor<2x1xf32>, tensor<1xi8>) -> tensor<2x1xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2x1xf32>) -> tensor<1x1xf32>
  return %s : tensor<1x1xf32>
}

// -----

// reduce_max along 1: the gradient is shared evenly by the elements equal to
// the max (PyTorch's amax): share = (x == max), g / sum(share) per row.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2x3xf32> {lora.param = "p"})
// CHECK: %[[MAX:.*]] = tosa.reduce_max %[[P]] {axis = 1 : i32}
// CHECK: %[[G:.*]] = tosa.tile {{.*}} -> tensor<2x1xf32>
// CHECK: %[[ISMAX:.*]] = tosa.equal %[[P]], %[[MAX]] : (tensor<2x3xf32>, tensor<2x1xf32>) -> tensor<2x3xi1>
// CHECK: %[[ZERO:.*]] = "tosa.const"() <{values = dense<0.000000e+00> : tensor<1x1xf32>}>
// CHECK: %[[ONE:.*]] = "tosa.const"() <{values = dense<1.000000e+00> : tensor<1x1xf32>}>
// CHECK: %[[SHARE:.*]] = tosa.select %[[ISMAX]], %[[ONE]], %[[ZERO]]
// CHECK: %[[TIES:.*]] = tosa.reduce_sum %[[SHARE]] {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x1xf32>
// CHECK: %[[INV:.*]] = tosa.reciprocal %[[TIES]]
// CHECK: %[[PER:.*]] = tosa.mul %[[G]], %[[INV]]
// CHECK: %[[DP:.*]] = tosa.mul %[[SHARE]], %[[PER]], %{{.*}} -> tensor<2x3xf32>
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2x3xf32> {lora.param = "p"}) -> tensor<1x1xf32> {
  %y = tosa.reduce_max %p {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2x1xf32>) -> tensor<1x1xf32>
  return %s : tensor<1x1xf32>
}

// -----

// select(c, p, q): p gets g where c, q where not; the predicate gets none.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"}, %[[Q:[^:]*]]: tensor<2xf32> {lora.param = "q"}, %[[C:[^:]*]]: tensor<2xi1>)
// CHECK: %[[G:.*]] = tosa.tile
// CHECK: %[[Z0:.*]] = "tosa.const"() <{values = dense<0.000000e+00> : tensor<1xf32>}>
// CHECK: %[[DP:.*]] = tosa.select %[[C]], %[[G]], %[[Z0]]
// CHECK: %[[Z1:.*]] = "tosa.const"() <{values = dense<0.000000e+00> : tensor<1xf32>}>
// CHECK: %[[DQ:.*]] = tosa.select %[[C]], %[[Z1]], %[[G]]
// CHECK: return %{{.*}}, %[[DP]], %[[DQ]] :
func.func @main(%p: tensor<2xf32> {lora.param = "p"}, %q: tensor<2xf32> {lora.param = "q"}, %c: tensor<2xi1>) -> tensor<1xf32> {
  %y = tosa.select %c, %p, %q : (tensor<2xi1>, tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// matmul [2, 2, 3] x [1, 3, 4]: dp = g·qᵀ with qᵀ repeated over the batch,
// dq = pᵀ·g summed over the batch.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2x2x3xf32> {lora.param = "p"}, %[[Q:[^:]*]]: tensor<1x3x4xf32> {lora.param = "q"})
// CHECK-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<2x2x3xf32> {onnx.name = "p.grad"}, tensor<1x3x4xf32> {onnx.name = "q.grad"})
// CHECK: %[[G:.*]] = tosa.tile {{.*}} -> tensor<2x2x4xf32>
// CHECK: %[[QT:.*]] = tosa.transpose %[[Q]] {perms = array<i32: 0, 2, 1>} : (tensor<1x3x4xf32>) -> tensor<1x4x3xf32>
// CHECK: %[[QTB:.*]] = tosa.tile %[[QT]], %{{.*}} -> tensor<2x4x3xf32>
// CHECK: %[[DP:.*]] = tosa.matmul %[[G]], %[[QTB]], %{{.*}} -> tensor<2x2x3xf32>
// CHECK: %[[PT:.*]] = tosa.transpose %[[P]] {perms = array<i32: 0, 2, 1>} : (tensor<2x2x3xf32>) -> tensor<2x3x2xf32>
// CHECK: %[[DQB:.*]] = tosa.matmul %[[PT]], %[[G]], %{{.*}} -> tensor<2x3x4xf32>
// CHECK: %[[DQ:.*]] = tosa.reduce_sum %[[DQB]] {axis = 0 : i32} : (tensor<2x3x4xf32>) -> tensor<1x3x4xf32>
// CHECK: return %{{.*}}, %[[DP]], %[[DQ]] :
func.func @main(%p: tensor<2x2x3xf32> {lora.param = "p"}, %q: tensor<1x3x4xf32> {lora.param = "q"}) -> tensor<1x1x1xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %p, %q, %zp, %zp : (tensor<2x2x3xf32>, tensor<1x3x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<2x2x4xf32>
  %s0 = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2x2x4xf32>) -> tensor<1x2x4xf32>
  %s1 = tosa.reduce_sum %s0 {axis = 1 : i32} : (tensor<1x2x4xf32>) -> tensor<1x1x4xf32>
  %s = tosa.reduce_sum %s1 {axis = 2 : i32} : (tensor<1x1x4xf32>) -> tensor<1x1x1xf32>
  return %s : tensor<1x1x1xf32>
}

// -----

// Two lora.linear layers: each becomes one lora.linear_grad; the second's dx
// feeds the first, whose input is frozen, so its dx has no use.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[X:[^:]*]]: tensor<1x3x4xf32>, %[[A1:[^:]*]]: tensor<4x2xf32> {lora.param = "a1"}, %[[B1:[^:]*]]: tensor<2x4xf32> {lora.param = "b1"}, %[[A2:[^:]*]]: tensor<4x2xf32> {lora.param = "a2"}, %[[B2:[^:]*]]: tensor<2x1xf32> {lora.param = "b2"})
// CHECK-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<4x2xf32> {onnx.name = "a1.grad"}, tensor<2x4xf32> {onnx.name = "b1.grad"}, tensor<4x2xf32> {onnx.name = "a2.grad"}, tensor<2x1xf32> {onnx.name = "b2.grad"})
// CHECK-DAG: %[[W1:.*]] = "tosa.const"() <{values = dense<5.000000e-01> : tensor<4x4xf32>}>
// CHECK-DAG: %[[W2:.*]] = "tosa.const"() <{values = dense<2.500000e-01> : tensor<4x1xf32>}>
// CHECK: %[[H:.*]] = lora.linear %[[X]], %[[W1]], %[[A1]], %[[B1]]
// CHECK: %[[G:.*]] = tosa.tile {{.*}} -> tensor<1x3x1xf32>
// CHECK: %[[DH:[^,]*]], %[[DA2:[^,]*]], %[[DB2:[^ ]*]] = lora.linear_grad %[[H]], %[[W2]], %[[A2]], %[[B2]], %[[G]] {rank = 2 : i64, scale = 5.000000e-01 : f64}
// CHECK: %[[DX:[^,]*]], %[[DA1:[^,]*]], %[[DB1:[^ ]*]] = lora.linear_grad %[[X]], %[[W1]], %[[A1]], %[[B1]], %[[DH]] {rank = 2 : i64, scale = 2.000000e+00 : f64}
// CHECK-NOT: %[[DX]]
// CHECK: return %{{.*}}, %[[DA1]], %[[DB1]], %[[DA2]], %[[DB2]] :
func.func @main(%x: tensor<1x3x4xf32>, %a1: tensor<4x2xf32> {lora.param = "a1"}, %b1: tensor<2x4xf32> {lora.param = "b1"}, %a2: tensor<4x2xf32> {lora.param = "a2"}, %b2: tensor<2x1xf32> {lora.param = "b2"}) -> tensor<1x1x1xf32> {
  %w1 = "tosa.const"() <{values = dense<0.5> : tensor<4x4xf32>}> : () -> tensor<4x4xf32>
  %w2 = "tosa.const"() <{values = dense<0.25> : tensor<4x1xf32>}> : () -> tensor<4x1xf32>
  %h = lora.linear %x, %w1, %a1, %b1 {rank = 2 : i64, scale = 2.0 : f64} : (tensor<1x3x4xf32>, tensor<4x4xf32>, tensor<4x2xf32>, tensor<2x4xf32>) -> tensor<1x3x4xf32>
  %y = lora.linear %h, %w2, %a2, %b2 {rank = 2 : i64, scale = 0.5 : f64} : (tensor<1x3x4xf32>, tensor<4x1xf32>, tensor<4x2xf32>, tensor<2x1xf32>) -> tensor<1x3x1xf32>
  %s = tosa.reduce_sum %y {axis = 1 : i32} : (tensor<1x3x1xf32>) -> tensor<1x1x1xf32>
  return %s : tensor<1x1x1xf32>
}

// -----

// A softmax (as the ONNX importer builds it) is one op to lora-autodiff:
// dp = y·(g - Σ g·y), from the result y alone; no argmax mask, no second
// exp, nothing from the inner ops.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2x3xf32> {lora.param = "p"}, %[[X:[^:]*]]: tensor<2x3xf32>)
// CHECK: %[[Y:.*]] = tosa.mul %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<2x1xf32>, tensor<1xi8>) -> tensor<2x3xf32>
// CHECK: %[[G:.*]] = tosa.tile {{.*}} -> tensor<2x3xf32>
// CHECK: %[[GY:.*]] = tosa.mul %[[G]], %[[X]], %{{.*}} :
// CHECK: %[[GYY:.*]] = tosa.mul %[[GY]], %[[Y]], %{{.*}} :
// CHECK: %[[DOT:.*]] = tosa.reduce_sum %[[GYY]] {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x1xf32>
// CHECK: %[[DIFF:.*]] = tosa.sub %[[GY]], %[[DOT]] :
// CHECK: %[[DP:.*]] = tosa.mul %[[Y]], %[[DIFF]], %{{.*}} :
// CHECK-NOT: tosa.equal
// CHECK-NOT: tosa.exp
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2x3xf32> {lora.param = "p"}, %x: tensor<2x3xf32>) -> tensor<1x1xf32> {
  %m = tosa.reduce_max %p {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  %d = tosa.sub %p, %m : (tensor<2x3xf32>, tensor<2x1xf32>) -> tensor<2x3xf32>
  %e = tosa.exp %d : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %s = tosa.reduce_sum %e {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  %r = tosa.reciprocal %s : (tensor<2x1xf32>) -> tensor<2x1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %y = tosa.mul %e, %r, %shift : (tensor<2x3xf32>, tensor<2x1xf32>, tensor<1xi8>) -> tensor<2x3xf32>
  %z = tosa.mul %y, %x, %shift : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<1xi8>) -> tensor<2x3xf32>
  %s0 = tosa.reduce_sum %z {axis = 0 : i32} : (tensor<2x3xf32>) -> tensor<1x3xf32>
  %l = tosa.reduce_sum %s0 {axis = 1 : i32} : (tensor<1x3xf32>) -> tensor<1x1xf32>
  return %l : tensor<1x1xf32>
}

// -----

// The NaN guard torch.onnx puts after an attention softmax,
// y' = select(y == y, y, 0), is part of it: the rule reads y' in place of y
// (equal where y is a number, and a zero gradient for a row of NaNs), so the
// backward keeps neither y nor the mask.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2x3xf32> {lora.param = "p"}, %[[X:[^:]*]]: tensor<2x3xf32>)
// CHECK: %[[Y:.*]] = tosa.mul %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<2x1xf32>, tensor<1xi8>) -> tensor<2x3xf32>
// CHECK: %[[EQ:.*]] = tosa.equal %[[Y]], %[[Y]]
// CHECK: %[[YG:.*]] = tosa.select %[[EQ]], %[[Y]], %{{.*}}
// CHECK: %[[G:.*]] = tosa.tile {{.*}} -> tensor<2x3xf32>
// CHECK: %[[GY:.*]] = tosa.mul %[[G]], %[[X]], %{{.*}} :
// CHECK: %[[GYY:.*]] = tosa.mul %[[GY]], %[[YG]], %{{.*}} :
// CHECK: %[[DOT:.*]] = tosa.reduce_sum %[[GYY]] {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x1xf32>
// CHECK: %[[DIFF:.*]] = tosa.sub %[[GY]], %[[DOT]] :
// CHECK: %[[DP:.*]] = tosa.mul %[[YG]], %[[DIFF]], %{{.*}} :
// CHECK-NOT: tosa.select
// CHECK-NOT: tosa.exp
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2x3xf32> {lora.param = "p"}, %x: tensor<2x3xf32>) -> tensor<1x1xf32> {
  %m = tosa.reduce_max %p {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  %d = tosa.sub %p, %m : (tensor<2x3xf32>, tensor<2x1xf32>) -> tensor<2x3xf32>
  %e = tosa.exp %d : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %s = tosa.reduce_sum %e {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  %r = tosa.reciprocal %s : (tensor<2x1xf32>) -> tensor<2x1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %y = tosa.mul %e, %r, %shift : (tensor<2x3xf32>, tensor<2x1xf32>, tensor<1xi8>) -> tensor<2x3xf32>
  %eq = tosa.equal %y, %y : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xi1>
  %zero = "tosa.const"() <{values = dense<0.0> : tensor<1x1xf32>}> : () -> tensor<1x1xf32>
  %yg = tosa.select %eq, %y, %zero : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<1x1xf32>) -> tensor<2x3xf32>
  %z = tosa.mul %yg, %x, %shift : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<1xi8>) -> tensor<2x3xf32>
  %s0 = tosa.reduce_sum %z {axis = 0 : i32} : (tensor<2x3xf32>) -> tensor<1x3xf32>
  %l = tosa.reduce_sum %s0 {axis = 1 : i32} : (tensor<1x3xf32>) -> tensor<1x1xf32>
  return %l : tensor<1x1xf32>
}

// -----

// A log-softmax likewise: dp = g - exp(y)·Σ g, from y alone.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2x3xf32> {lora.param = "p"}, %[[X:[^:]*]]: tensor<2x3xf32>)
// CHECK: tosa.log
// CHECK: %[[Y:.*]] = tosa.sub %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<2x1xf32>) -> tensor<2x3xf32>
// CHECK: %[[G:.*]] = tosa.tile {{.*}} -> tensor<2x3xf32>
// CHECK: %[[GY:.*]] = tosa.mul %[[G]], %[[X]], %{{.*}} :
// CHECK: %[[SUM:.*]] = tosa.reduce_sum %[[GY]] {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x1xf32>
// CHECK: %[[PROBS:.*]] = tosa.exp %[[Y]] :
// CHECK: %[[SHARE:.*]] = tosa.mul %[[PROBS]], %[[SUM]], %{{.*}} :
// CHECK: %[[DP:.*]] = tosa.sub %[[GY]], %[[SHARE]] :
// CHECK-NOT: tosa.equal
// CHECK: return %{{.*}}, %[[DP]] :
func.func @main(%p: tensor<2x3xf32> {lora.param = "p"}, %x: tensor<2x3xf32>) -> tensor<1x1xf32> {
  %m = tosa.reduce_max %p {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  %d = tosa.sub %p, %m : (tensor<2x3xf32>, tensor<2x1xf32>) -> tensor<2x3xf32>
  %e = tosa.exp %d : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %s = tosa.reduce_sum %e {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  %lg = tosa.log %s : (tensor<2x1xf32>) -> tensor<2x1xf32>
  %y = tosa.sub %d, %lg : (tensor<2x3xf32>, tensor<2x1xf32>) -> tensor<2x3xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %z = tosa.mul %y, %x, %shift : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<1xi8>) -> tensor<2x3xf32>
  %s0 = tosa.reduce_sum %z {axis = 0 : i32} : (tensor<2x3xf32>) -> tensor<1x3xf32>
  %l = tosa.reduce_sum %s0 {axis = 1 : i32} : (tensor<1x3xf32>) -> tensor<1x1xf32>
  return %l : tensor<1x1xf32>
}

//--- steps.mlir
// RUN: lora-opt %t/steps.mlir -split-input-file --lora-autodiff | FileCheck %t/steps.mlir

// The forward is kept; train_step returns the loss and one gradient per
// parameter, in argument order, named after lora.param; eval_step returns
// the loss only.
// CHECK-LABEL: func.func @main(
// CHECK-SAME: -> tensor<1xf32>
// CHECK-NOT: tosa.tile
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[X:[^:]*]]: tensor<2xf32>, %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"}, %[[Q:[^:]*]]: tensor<1xf32> {lora.param = "q"})
// CHECK-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<2xf32> {onnx.name = "p.grad"}, tensor<1xf32> {onnx.name = "q.grad"})
// CHECK: %[[S:.*]] = tosa.reduce_sum
// CHECK: %[[LOSS:.*]] = tosa.reshape %[[S]], %{{.*}} -> tensor<f32>
// CHECK: %[[G:.*]] = tosa.tile
// CHECK: %[[DQ:.*]] = tosa.reduce_sum %[[G]] {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
// CHECK: %[[DP:.*]] = tosa.mul %[[G]], %[[X]]
// CHECK: return %[[LOSS]], %[[DP]], %[[DQ]] : tensor<f32>, tensor<2xf32>, tensor<1xf32>
// CHECK-LABEL: func.func @eval_step(
// CHECK-SAME: %{{[^:]*}}: tensor<2xf32>, %{{[^:]*}}: tensor<2xf32> {lora.param = "p"}, %{{[^:]*}}: tensor<1xf32> {lora.param = "q"})
// CHECK-SAME: -> (tensor<f32> {onnx.name = "loss"})
// CHECK: %[[S:.*]] = tosa.reduce_sum
// CHECK: %[[LOSS:.*]] = tosa.reshape %[[S]], %{{.*}} -> tensor<f32>
// CHECK-NOT: tosa.tile
// CHECK: return %[[LOSS]] : tensor<f32>
func.func @main(%x: tensor<2xf32>, %p: tensor<2xf32> {lora.param = "p"}, %q: tensor<1xf32> {lora.param = "q"}) -> tensor<1xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %y = tosa.mul %x, %p, %shift : (tensor<2xf32>, tensor<2xf32>, tensor<1xi8>) -> tensor<2xf32>
  %z = tosa.add %y, %q : (tensor<2xf32>, tensor<1xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %z {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// A parameter that does not reach the loss gets a zero gradient.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<2xf32> {onnx.name = "p.grad"}, tensor<3xf32> {onnx.name = "unused.grad"})
// CHECK: %[[ZERO:.*]] = "tosa.const"() <{values = dense<0.000000e+00> : tensor<3xf32>}>
// CHECK: return %{{.*}}, %{{.*}}, %[[ZERO]] : tensor<f32>, tensor<2xf32>, tensor<3xf32>
func.func @main(%p: tensor<2xf32> {lora.param = "p"}, %unused: tensor<3xf32> {lora.param = "unused"}) -> tensor<1xf32> {
  %y = tosa.exp %p : (tensor<2xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// An f64 model has an f64 loss.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: -> (tensor<f64> {onnx.name = "loss"}, tensor<2xf64> {onnx.name = "p.grad"})
// CHECK-LABEL: func.func @eval_step(
// CHECK-SAME: -> (tensor<f64> {onnx.name = "loss"})
func.func @main(%p: tensor<2xf64> {lora.param = "p"}) -> tensor<1xf64> {
  %y = tosa.exp %p : (tensor<2xf64>) -> tensor<2xf64>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf64>) -> tensor<1xf64>
  return %s : tensor<1xf64>
}

//--- names.mlir
// RUN: lora-opt %t/names.mlir --lora-autodiff="output=1 train-function=grads eval-function=loss_only" | FileCheck %t/names.mlir

// The loss reads result 1 (the sum), not result 0 (the exp); the steps take
// the names given.
// CHECK-NOT: @train_step
// CHECK-NOT: @eval_step
// CHECK-LABEL: func.func @grads(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"})
// CHECK-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<2xf32> {onnx.name = "p.grad"})
// CHECK: %[[S:.*]] = tosa.reduce_sum %[[P]]
// CHECK: %[[LOSS:.*]] = tosa.reshape %[[S]], %{{.*}} -> tensor<f32>
// CHECK: %[[DP:.*]] = tosa.tile {{.*}} -> tensor<2xf32>
// CHECK-NOT: tosa.mul
// CHECK: return %[[LOSS]], %[[DP]] :
// CHECK-LABEL: func.func @loss_only(
// CHECK-SAME: -> (tensor<f32> {onnx.name = "loss"})
// CHECK-NOT: @train_step
// CHECK-NOT: @eval_step
func.func @main(%p: tensor<2xf32> {lora.param = "p"}) -> (tensor<2xf32>, tensor<1xf32>) {
  %e = tosa.exp %p : (tensor<2xf32>) -> tensor<2xf32>
  %s = tosa.reduce_sum %p {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  return %e, %s : tensor<2xf32>, tensor<1xf32>
}

//--- no-frozen-branch.mlir
// RUN: lora-opt %t/no-frozen-branch.mlir --lora-autodiff="function=no_frozen_branch eval-function=" | FileCheck %t/no-frozen-branch.mlir

// sin(x) sees only the frozen x and cos(p) does not reach the loss: neither
// gets a backward (no cos of x, no sin of p, no g·p for sin(x)), and cos(p),
// which the loss does not need, is dropped.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<2xf32> {lora.param = "p"}, %[[X:[^:]*]]: tensor<2xf32>)
// CHECK: %[[FX:.*]] = tosa.sin %[[X]]
// CHECK-NOT: tosa.cos
// CHECK: %[[G:.*]] = tosa.tile
// CHECK-NOT: tosa.sin
// CHECK-NOT: tosa.cos
// CHECK-NOT: tosa.mul %[[G]], %[[P]]
// CHECK: %[[DP:.*]] = tosa.mul %[[G]], %[[FX]]
// CHECK-NOT: tosa.sin
// CHECK-NOT: tosa.cos
// CHECK-NOT: tosa.mul
// CHECK: return %{{.*}}, %[[DP]] : tensor<f32>, tensor<2xf32>
func.func @no_frozen_branch(%p: tensor<2xf32> {lora.param = "p"}, %x: tensor<2xf32>) -> (tensor<1xf32>, tensor<2xf32>) {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %fx = tosa.sin %x : (tensor<2xf32>) -> tensor<2xf32>
  %y = tosa.mul %fx, %p, %shift : (tensor<2xf32>, tensor<2xf32>, tensor<1xi8>) -> tensor<2xf32>
  %s = tosa.reduce_sum %y {axis = 0 : i32} : (tensor<2xf32>) -> tensor<1xf32>
  %c = tosa.cos %p : (tensor<2xf32>) -> tensor<2xf32>
  return %s, %c : tensor<1xf32>, tensor<2xf32>
}

//--- no-integer-path.mlir
// RUN: lora-opt %t/no-integer-path.mlir --lora-autodiff="function=no_integer_path eval-function=" | FileCheck %t/no-integer-path.mlir

// p also picks rows of a frozen table through integer indices: that path
// is not differentiated (tosa.gather, which has no rule, is not reached),
// only the product's.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: tensor<1x2xf32> {lora.param = "p"}, %[[T:[^:]*]]: tensor<1x4x1xf32>)
// CHECK: %[[I:.*]] = tosa.cast %[[P]] : (tensor<1x2xf32>) -> tensor<1x2xi32>
// CHECK: %[[E:.*]] = tosa.gather %[[T]], %[[I]]
// CHECK: %[[G:.*]] = tosa.tile
// CHECK-NOT: tosa.cast
// CHECK-NOT: tosa.gather
// CHECK: %[[D:.*]] = tosa.mul %[[G]], %[[E]]
// CHECK: %[[DP:.*]] = tosa.reshape %[[D]], %{{.*}} -> tensor<1x2xf32>
// CHECK-NOT: tosa.add
// CHECK: return %{{.*}}, %[[DP]] :
func.func @no_integer_path(%p: tensor<1x2xf32> {lora.param = "p"}, %table: tensor<1x4x1xf32>) -> tensor<1x1x1xf32> {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %idx = tosa.cast %p : (tensor<1x2xf32>) -> tensor<1x2xi32>
  %e = tosa.gather %table, %idx : (tensor<1x4x1xf32>, tensor<1x2xi32>) -> tensor<1x2x1xf32>
  %shape = tosa.const_shape {values = dense<[1, 2, 1]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %p3 = tosa.reshape %p, %shape : (tensor<1x2xf32>, !tosa.shape<3>) -> tensor<1x2x1xf32>
  %y = tosa.mul %e, %p3, %shift : (tensor<1x2x1xf32>, tensor<1x2x1xf32>, tensor<1xi8>) -> tensor<1x2x1xf32>
  %s = tosa.reduce_sum %y {axis = 1 : i32} : (tensor<1x2x1xf32>) -> tensor<1x1x1xf32>
  return %s : tensor<1x1x1xf32>
}

//--- cross-entropy.mlir
// RUN: lora-opt %t/cross-entropy.mlir --lora-autodiff="loss=cross-entropy ignore-index=7" | FileCheck %t/cross-entropy.mlir

// Logits [2, 3] and a new labels [2] (i64) argument; labels equal to
// ignore-index weigh 0; the loss is the weighted mean of
// log Σ exp(l - max) - (l[label] - max) and its gradient is
// (softmax - onehot) · weight / count, summed over p's broadcast dim.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[X:[^:]*]]: tensor<2x3xf32>, %[[P:[^:]*]]: tensor<1x3xf32> {lora.param = "p"}, %[[LABELS:[^:]*]]: tensor<2xi64> {onnx.name = "labels"})
// CHECK-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<1x3xf32> {onnx.name = "p.grad"})
// CHECK: %[[L:.*]] = tosa.add %[[X]], %[[P]]
// CHECK: %[[LAB:.*]] = tosa.reshape %[[LABELS]], %{{.*}} -> tensor<2x1xi64>
// CHECK: %[[MAX:.*]] = tosa.reduce_max %[[L]] {axis = 1 : i32}
// CHECK: %[[SH:.*]] = tosa.sub %[[L]], %[[MAX]]
// CHECK: %[[E:.*]] = tosa.exp %[[SH]]
// CHECK: %[[SUM:.*]] = tosa.reduce_sum %[[E]] {axis = 1 : i32}
// CHECK: %[[LOGSUM:.*]] = tosa.log %[[SUM]]
// CHECK: %[[COLS:.*]] = "tosa.const"() <{values = dense<{{\[\[}}0, 1, 2]]> : tensor<1x3xi64>}>
// CHECK: %[[ISLABEL:.*]] = tosa.equal %[[COLS]], %[[LAB]] : (tensor<1x3xi64>, tensor<2x1xi64>) -> tensor<2x3xi1>
// CHECK: %[[ONE:.*]] = "tosa.const"() <{values = dense<1.000000e+00> : tensor<1x1xf32>}>
// CHECK: %[[ZERO:.*]] = "tosa.const"() <{values = dense<0.000000e+00> : tensor<1x1xf32>}>
// CHECK: %[[SEL:.*]] = tosa.select %[[ISLABEL]], %[[SH]], %[[ZERO]]
// CHECK: %[[PICKED:.*]] = tosa.reduce_sum %[[SEL]] {axis = 1 : i32}
// CHECK: %[[TOKLOSS:.*]] = tosa.sub %[[LOGSUM]], %[[PICKED]]
// CHECK: %[[IGNORE:.*]] = "tosa.const"() <{values = dense<7> : tensor<1x1xi64>}>
// CHECK: %[[IGNORED:.*]] = tosa.equal %[[LAB]], %[[IGNORE]]
// CHECK: %[[W:.*]] = tosa.select %[[IGNORED]], %[[ZERO]], %[[ONE]]
// CHECK: %[[COUNT:.*]] = tosa.reduce_sum %[[W]] {axis = 0 : i32}
// CHECK: %[[RCOUNT:.*]] = tosa.reciprocal %[[COUNT]]
// CHECK: %[[WL:.*]] = tosa.mul %[[TOKLOSS]], %[[W]]
// CHECK: %[[WLSUM:.*]] = tosa.reduce_sum %[[WL]] {axis = 0 : i32}
// CHECK: %[[MEAN:.*]] = tosa.mul %[[WLSUM]], %[[RCOUNT]]
// The gradient divides by max(count, 1): zero, not NaN, when every label is
// ignored (PyTorch's).
// CHECK: %[[ATLEAST1:.*]] = tosa.maximum %[[COUNT]], %[[ONE]]
// CHECK: %[[PERTOKEN:.*]] = tosa.reciprocal %[[ATLEAST1]]
// CHECK: %[[RSUM:.*]] = tosa.reciprocal %[[SUM]]
// CHECK: %[[SOFTMAX:.*]] = tosa.mul %[[E]], %[[RSUM]]
// CHECK: %[[ONEHOT:.*]] = tosa.select %[[ISLABEL]], %[[ONE]], %[[ZERO]]
// CHECK: %[[SCALE:.*]] = tosa.mul %[[W]], %[[PERTOKEN]]
// CHECK: %[[DIFF:.*]] = tosa.sub %[[SOFTMAX]], %[[ONEHOT]]
// CHECK: %[[DL:.*]] = tosa.mul %[[DIFF]], %[[SCALE]]
// CHECK: %[[LOSS:.*]] = tosa.reshape %[[MEAN]], %{{.*}} -> tensor<f32>
// CHECK: %[[DP:.*]] = tosa.reduce_sum %[[DL]] {axis = 0 : i32} : (tensor<2x3xf32>) -> tensor<1x3xf32>
// CHECK: return %[[LOSS]], %[[DP]] : tensor<f32>, tensor<1x3xf32>
// CHECK-LABEL: func.func @eval_step(
// CHECK-SAME: %{{[^:]*}}: tensor<2xi64> {onnx.name = "labels"})
// CHECK-SAME: -> (tensor<f32> {onnx.name = "loss"})
// CHECK: return %{{.*}} : tensor<f32>
func.func @main(%x: tensor<2x3xf32>, %p: tensor<1x3xf32> {lora.param = "p"}) -> tensor<2x3xf32> {
  %y = tosa.add %x, %p : (tensor<2x3xf32>, tensor<1x3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

//--- causal-lm.mlir
// RUN: lora-opt %t/causal-lm.mlir --lora-autodiff="loss=causal-lm eval-function=" | FileCheck %t/causal-lm.mlir

// Logits [2, 4, 3] at positions 0..2 against labels [2, 4] at 1..3, as 6
// tokens; the gradient of the dropped last position is padded back as 0.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[X:[^:]*]]: tensor<2x4x3xf32>, %[[P:[^:]*]]: tensor<1x1x3xf32> {lora.param = "p"}, %[[LABELS:[^:]*]]: tensor<2x4xi64> {onnx.name = "labels"})
// CHECK-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<1x1x3xf32> {onnx.name = "p.grad"})
// CHECK: %[[L:.*]] = tosa.add %[[X]], %[[P]]
// CHECK-DAG: %[[LSIZE:.*]] = tosa.const_shape {values = dense<[2, 3, 3]> : tensor<3xindex>}
// CHECK-DAG: %[[LSTART:.*]] = tosa.const_shape {values = dense<0> : tensor<3xindex>}
// CHECK: %[[LS:.*]] = tosa.slice %[[L]], %[[LSTART]], %[[LSIZE]] : (tensor<2x4x3xf32>, !tosa.shape<3>, !tosa.shape<3>) -> tensor<2x3x3xf32>
// CHECK-DAG: %[[YSIZE:.*]] = tosa.const_shape {values = dense<[2, 3]> : tensor<2xindex>}
// CHECK-DAG: %[[YSTART:.*]] = tosa.const_shape {values = dense<[0, 1]> : tensor<2xindex>}
// CHECK: %[[YS:.*]] = tosa.slice %[[LABELS]], %[[YSTART]], %[[YSIZE]] : (tensor<2x4xi64>, !tosa.shape<2>, !tosa.shape<2>) -> tensor<2x3xi64>
// CHECK: tosa.reshape %[[YS]], %{{.*}} -> tensor<6x1xi64>
// CHECK: tosa.reshape %[[LS]], %{{.*}} -> tensor<6x3xf32>
// CHECK: %[[DLS:.*]] = tosa.reshape {{.*}} : (tensor<6x3xf32>, !tosa.shape<3>) -> tensor<2x3x3xf32>
// CHECK: %[[PADDING:.*]] = tosa.const_shape {values = dense<[0, 0, 0, 1, 0, 0]> : tensor<6xindex>}
// CHECK: %[[DL:.*]] = tosa.pad %[[DLS]], %[[PADDING]], %{{.*}} -> tensor<2x4x3xf32>
// CHECK: %[[DL0:.*]] = tosa.reduce_sum %[[DL]] {axis = 0 : i32}
// CHECK: %[[DP:.*]] = tosa.reduce_sum %[[DL0]] {axis = 1 : i32} : (tensor<1x4x3xf32>) -> tensor<1x1x3xf32>
// CHECK: return %{{.*}}, %[[DP]] : tensor<f32>, tensor<1x1x3xf32>
func.func @main(%x: tensor<2x4x3xf32>, %p: tensor<1x1x3xf32> {lora.param = "p"}) -> tensor<2x4x3xf32> {
  %y = tosa.add %x, %p : (tensor<2x4x3xf32>, tensor<1x1x3xf32>) -> tensor<2x4x3xf32>
  return %y : tensor<2x4x3xf32>
}

//--- mse.mlir
// RUN: lora-opt %t/mse.mlir --lora-autodiff="loss=mse" | FileCheck %t/mse.mlir

// f16 output and a new targets argument of its type; the loss is
// Σ (y - t)² / 6 in f32 and its gradient (y - t) · 2/6, cast back to f16.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[X:[^:]*]]: tensor<2x3xf16>, %[[P:[^:]*]]: tensor<2x3xf16> {lora.param = "p"}, %[[T:[^:]*]]: tensor<2x3xf16> {onnx.name = "targets"})
// CHECK-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<2x3xf16> {onnx.name = "p.grad"})
// CHECK: %[[Y:.*]] = tosa.add %[[X]], %[[P]]
// CHECK: %[[Y32:.*]] = tosa.cast %[[Y]] : (tensor<2x3xf16>) -> tensor<2x3xf32>
// CHECK: %[[T32:.*]] = tosa.cast %[[T]] : (tensor<2x3xf16>) -> tensor<2x3xf32>
// CHECK: %[[DIFF:.*]] = tosa.sub %[[Y32]], %[[T32]]
// CHECK: %[[SQ:.*]] = tosa.mul %[[DIFF]], %[[DIFF]]
// CHECK: %[[S0:.*]] = tosa.reduce_sum %[[SQ]] {axis = 0 : i32}
// CHECK: %[[S:.*]] = tosa.reduce_sum %[[S0]] {axis = 1 : i32}
// CHECK: %[[INVN:.*]] = "tosa.const"() <{values = dense<0.166666672> : tensor<1x1xf32>}>
// CHECK: %[[MEAN:.*]] = tosa.mul %[[S]], %[[INVN]]
// CHECK: %[[LOSS:.*]] = tosa.reshape %[[MEAN]], %{{.*}} -> tensor<f32>
// CHECK: %[[TWOINVN:.*]] = "tosa.const"() <{values = dense<0.333333343> : tensor<1x1xf32>}>
// CHECK: %[[DY:.*]] = tosa.mul %[[DIFF]], %[[TWOINVN]]
// CHECK: %[[DP:.*]] = tosa.cast %[[DY]] : (tensor<2x3xf32>) -> tensor<2x3xf16>
// CHECK: return %[[LOSS]], %[[DP]] : tensor<f32>, tensor<2x3xf16>
// CHECK-LABEL: func.func @eval_step(
// CHECK-SAME: %{{[^:]*}}: tensor<2x3xf16> {onnx.name = "targets"})
// CHECK-SAME: -> (tensor<f32> {onnx.name = "loss"})
// CHECK: return %{{.*}} : tensor<f32>
func.func @main(%x: tensor<2x3xf16>, %p: tensor<2x3xf16> {lora.param = "p"}) -> tensor<2x3xf16> {
  %y = tosa.add %x, %p : (tensor<2x3xf16>, tensor<2x3xf16>) -> tensor<2x3xf16>
  return %y : tensor<2x3xf16>
}

//--- dropout.mlir
// RUN: lora-opt %t/dropout.mlir --lora-autodiff="loss=mse dropout=0.25" | FileCheck %t/dropout.mlir

// LoRA dropout: each branch reads lora.dropout of its layer's input, with
// the stream of its A (0 and 2: the positions of l1's and l2's A among the
// LoRA parameters) and a new dropout_seed argument. The backward applies
// the same dropout (same seed and stream) to the branch input's gradient,
// which joins g·Wᵀ; the first layer's input is frozen, so its gradients
// through x have no use. The eval step has no dropout.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[X:[^:]*]]: tensor<1x3x4xf32>, %[[A1:[^:]*]]: tensor<4x2xf32> {lora.param = "l1.lora_A.weight"}, %[[B1:[^:]*]]: tensor<2x4xf32> {lora.param = "l1.lora_B.weight"}, %[[A2:[^:]*]]: tensor<4x2xf32> {lora.param = "l2.lora_A.weight"}, %[[B2:[^:]*]]: tensor<2x1xf32> {lora.param = "l2.lora_B.weight"}, %[[W1:[^:]*]]: tensor<4x4xf32>, %[[W2:[^:]*]]: tensor<4x1xf32>, %[[SEED:[^:]*]]: tensor<i64> {onnx.name = "dropout_seed"}, %{{[^:]*}}: tensor<1x3x1xf32> {onnx.name = "targets"})
// CHECK: %[[XD:.*]] = lora.dropout %[[X]], %[[SEED]] {rate = 2.500000e-01 : f64, stream = 0 : i64}
// CHECK: %[[H:.*]] = lora.linear %[[X]], %[[W1]], %[[A1]], %[[B1]] lora_input(%[[XD]])
// CHECK: %[[HD:.*]] = lora.dropout %[[H]], %[[SEED]] {rate = 2.500000e-01 : f64, stream = 2 : i64}
// CHECK: lora.linear %[[H]], %[[W2]], %[[A2]], %[[B2]] lora_input(%[[HD]])
// CHECK: %[[DH:[^,]*]], %[[DA2:[^,]*]], %[[DB2:[^,]*]], %[[DHD:[^ ]*]] = lora.linear_grad %[[H]], %[[W2]], %[[A2]], %[[B2]], %{{.*}} lora_input(%[[HD]])
// CHECK: %[[DHD2:.*]] = lora.dropout %[[DHD]], %[[SEED]] {rate = 2.500000e-01 : f64, stream = 2 : i64}
// CHECK: %[[DHSUM:.*]] = tosa.add %[[DH]], %[[DHD2]]
// CHECK: %{{[^,]*}}, %[[DA1:[^,]*]], %[[DB1:[^,]*]], %{{[^ ]*}} = lora.linear_grad %[[X]], %[[W1]], %[[A1]], %[[B1]], %[[DHSUM]] lora_input(%[[XD]])
// CHECK: return %{{.*}}, %[[DA1]], %[[DB1]], %[[DA2]], %[[DB2]] :
// CHECK-LABEL: func.func @eval_step(
// CHECK-NOT: dropout
// CHECK: return
func.func @main(%x: tensor<1x3x4xf32>, %a1: tensor<4x2xf32> {lora.param = "l1.lora_A.weight"}, %b1: tensor<2x4xf32> {lora.param = "l1.lora_B.weight"}, %a2: tensor<4x2xf32> {lora.param = "l2.lora_A.weight"}, %b2: tensor<2x1xf32> {lora.param = "l2.lora_B.weight"}, %w1: tensor<4x4xf32>, %w2: tensor<4x1xf32>) -> tensor<1x3x1xf32> {
  %h = lora.linear %x, %w1, %a1, %b1 {rank = 2 : i64, scale = 2.0 : f64} : (tensor<1x3x4xf32>, tensor<4x4xf32>, tensor<4x2xf32>, tensor<2x4xf32>) -> tensor<1x3x4xf32>
  %y = lora.linear %h, %w2, %a2, %b2 {rank = 2 : i64, scale = 0.5 : f64} : (tensor<1x3x4xf32>, tensor<4x1xf32>, tensor<4x2xf32>, tensor<2x1xf32>) -> tensor<1x3x1xf32>
  return %y : tensor<1x3x1xf32>
}

//--- dropout-shared.mlir
// RUN: lora-opt %t/dropout-shared.mlir --lora-autodiff="loss=mse dropout=0.5 eval-function=" | FileCheck %t/dropout-shared.mlir

// One adapter applied twice: each use draws its own mask, stream 0 and
// then 0 + 2 (the number of LoRA parameters). A branch of constants (no
// LoRA parameter) gets no dropout.
// CHECK-LABEL: func.func @train_step(
// CHECK: lora.dropout %{{.*}}, %{{.*}} {rate = 5.000000e-01 : f64, stream = 0 : i64}
// CHECK: lora.dropout %{{.*}}, %{{.*}} {rate = 5.000000e-01 : f64, stream = 2 : i64}
// CHECK-NOT: stream = 4
// CHECK: lora.linear_grad
func.func @main(%x: tensor<3x4xf32>, %a: tensor<4x2xf32> {lora.param = "l.lora_A.weight"}, %b: tensor<2x4xf32> {lora.param = "l.lora_B.weight"}, %w: tensor<4x4xf32>) -> tensor<3x4xf32> {
  %h = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 1.0 : f64} : (tensor<3x4xf32>, tensor<4x4xf32>, tensor<4x2xf32>, tensor<2x4xf32>) -> tensor<3x4xf32>
  %y = lora.linear %h, %w, %a, %b {rank = 2 : i64, scale = 1.0 : f64} : (tensor<3x4xf32>, tensor<4x4xf32>, tensor<4x2xf32>, tensor<2x4xf32>) -> tensor<3x4xf32>
  %ca = arith.constant dense<0.5> : tensor<4x2xf32>
  %z = lora.linear %y, %w, %ca, %b {rank = 2 : i64, scale = 1.0 : f64} : (tensor<3x4xf32>, tensor<4x4xf32>, tensor<4x2xf32>, tensor<2x4xf32>) -> tensor<3x4xf32>
  return %z : tensor<3x4xf32>
}
