// RUN: moe-opt %s --moe-lower-to-gpu=precision=bf16 --split-input-file --verify-diagnostics | FileCheck %s

// The chain becomes one moe_gpu.routed_ffn on the buffers of its operands: the
// weights as bf16 constants made in the compiler, the offsets, permutation and
// result allocated for it, and the result back as a tensor.
// CHECK-LABEL: func.func @chain
// CHECK-DAG: %[[W1:.*]] = arith.constant dense_resource<gpu_weight{{.*}}> : tensor<4x128x32xbf16>
// CHECK-DAG: %[[W2:.*]] = arith.constant dense_resource<gpu_weight{{.*}}> : tensor<4x32x64xbf16>
// CHECK-DAG: %[[OFF:.*]] = memref.alloc() : memref<5xi32>
// CHECK-DAG: %[[PERM:.*]] = memref.alloc(%{{.*}}) : memref<?xi32>
// CHECK-DAG: %[[Y:.*]] = memref.alloc(%{{.*}}) : memref<?x32xf32>
// CHECK:     moe_gpu.routed_ffn tokens(%{{.*}}) ids(%{{.*}}) weights(%{{.*}}) gate_up(%{{.*}}) down(%{{.*}}) offsets(%[[OFF]]) permutation(%[[PERM]]) result(%[[Y]])
// CHECK-SAME:  {activation = #moe.activation<silu, gated = concatenated>, compute = bf16}
// CHECK-SAME:  memref<4x128x32xbf16, strided<[?, ?, 1], offset: ?>>, memref<4x32x64xbf16, strided<[?, ?, 1], offset: ?>>
// CHECK:     %[[T:.*]] = bufferization.to_tensor %[[Y]] restrict writable
// CHECK-NOT: moe.
// CHECK:     return %[[T]]
func.func @chain(%x: tensor<?x32xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) -> tensor<?x32xf32> {
  %w1 = arith.constant dense<0.01> : tensor<4x128x32xf32>
  %w2 = arith.constant dense<0.02> : tensor<4x32x64xf32>
  %rows, %off, %perm = moe.dispatch %x, %ids : (tensor<?x32xf32>, tensor<?x2xi32>) -> (tensor<?x32xf32>, tensor<5xi32>, tensor<?xi32>)
  %out = moe.experts %rows, %off gate_up %w1 down %w2 {activation = #moe.activation<silu, gated = concatenated>} : (tensor<?x32xf32>, tensor<5xi32>, tensor<4x128x32xf32>, tensor<4x32x64xf32>) -> tensor<?x32xf32>
  %y = moe.combine %out, %w, %perm : (tensor<?x32xf32>, tensor<?x2xf32>, tensor<?xi32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// The dispatch's offsets used past the chain come back as a tensor of the
// buffer the kernels write; separate up weights and biases are operands, and
// weights that are no constants are converted by a kernel at run time.
// CHECK-LABEL: func.func @used_offsets
// CHECK:     linalg.generic
// CHECK:       arith.truncf %{{.*}} : f32 to bf16
// CHECK:     moe_gpu.routed_ffn {{.*}} gate_up(%{{.*}}) up(%{{.*}}) down(%{{.*}}) gate_up_bias(%{{.*}}) up_bias(%{{.*}}) down_bias(%{{.*}}) offsets(%[[OFF:[^)]*]])
// CHECK:     %[[O:.*]] = bufferization.to_tensor %[[OFF]] restrict writable : memref<3xi32>
// CHECK:     return %{{.*}}, %[[O]]
func.func @used_offsets(%x: tensor<?x16xf32>, %ids: tensor<?x1xi32>, %w: tensor<?x1xf32>, %w1: tensor<2x8x16xf32>, %w3: tensor<2x8x16xf32>, %w2: tensor<2x16x8xf32>, %b1: tensor<2x8xf32>, %b3: tensor<2x8xf32>, %b2: tensor<2x16xf32>) -> (tensor<?x16xf32>, tensor<3xi32>) {
  %rows, %off, %perm = moe.dispatch %x, %ids : (tensor<?x16xf32>, tensor<?x1xi32>) -> (tensor<?x16xf32>, tensor<3xi32>, tensor<?xi32>)
  %out = moe.experts %rows, %off gate_up %w1 down %w2 up %w3 gate_up_bias %b1 down_bias %b2 up_bias %b3 {activation = #moe.activation<silu, gated = separate>} : (tensor<?x16xf32>, tensor<3xi32>, tensor<2x8x16xf32>, tensor<2x16x8xf32>, tensor<2x8x16xf32>, tensor<2x8xf32>, tensor<2x16xf32>, tensor<2x8xf32>) -> tensor<?x16xf32>
  %y = moe.combine %out, %w, %perm : (tensor<?x16xf32>, tensor<?x1xf32>, tensor<?xi32>) -> tensor<?x16xf32>
  return %y, %off : tensor<?x16xf32>, tensor<3xi32>
}

// -----

// A hidden size that is not a whole number of 16-byte copies stays with the
// generic lowering, and says so.
// CHECK-LABEL: func.func @unaligned
// CHECK: moe.dispatch
// CHECK: moe.experts
// CHECK: moe.combine
func.func @unaligned(%x: tensor<?x12xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<4x16x12xf32>, %w2: tensor<4x12x16xf32>) -> tensor<?x12xf32> {
  %rows, %off, %perm = moe.dispatch %x, %ids : (tensor<?x12xf32>, tensor<?x2xi32>) -> (tensor<?x12xf32>, tensor<5xi32>, tensor<?xi32>)
  %out = moe.experts %rows, %off gate_up %w1 down %w2 {activation = #moe.activation<relu>} : (tensor<?x12xf32>, tensor<5xi32>, tensor<4x16x12xf32>, tensor<4x12x16xf32>) -> tensor<?x12xf32>
  // expected-remark @+1 {{moe-lower-to-gpu leaves this moe.combine to the generic lowering: its hidden and intermediate sizes are not multiples of 8 (16-byte rows)}}
  %y = moe.combine %out, %w, %perm : (tensor<?x12xf32>, tensor<?x2xf32>, tensor<?xi32>) -> tensor<?x12xf32>
  return %y : tensor<?x12xf32>
}

// -----

// Rows used outside the chain: the generic lowering.
func.func @rows_used(%x: tensor<?x16xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<4x16x16xf32>, %w2: tensor<4x16x16xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %rows, %off, %perm = moe.dispatch %x, %ids : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?xi32>)
  %out = moe.experts %rows, %off gate_up %w1 down %w2 {activation = #moe.activation<relu>} : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x16x16xf32>, tensor<4x16x16xf32>) -> tensor<?x16xf32>
  // expected-remark @+1 {{its experts' rows and offsets, and its permutation, do not come from one moe.dispatch}}
  %y = moe.combine %out, %w, %perm : (tensor<?x16xf32>, tensor<?x2xf32>, tensor<?xi32>) -> tensor<?x16xf32>
  return %y, %rows : tensor<?x16xf32>, tensor<?x16xf32>
}

// -----

// Routing as a warp per token: the logits' and bias's buffers in, the weights
// and ids allocated for it.
// CHECK-LABEL: func.func @route
// CHECK:     %[[W:.*]] = memref.alloc(%{{.*}}) : memref<?x8xf32>
// CHECK:     %[[I:.*]] = memref.alloc(%{{.*}}) : memref<?x8xi32>
// CHECK:     moe_gpu.route logits(%{{.*}}) bias(%{{.*}}) weights(%[[W]]) ids(%[[I]]) {routing = #moe.routing<sigmoid_topk, k = 8, normalize = true, num_groups = 8, topk_groups = 4>}
// CHECK-DAG: bufferization.to_tensor %[[W]] restrict writable
// CHECK-DAG: bufferization.to_tensor %[[I]] restrict writable
func.func @route(%l: tensor<?x256xf32>, %b: tensor<256xf32>) -> (tensor<?x8xf32>, tensor<?x8xi32>) {
  %w, %ids = moe.route %l bias %b {routing = #moe.routing<sigmoid_topk, k = 8, normalize = true, num_groups = 8, topk_groups = 4>} : (tensor<?x256xf32>, tensor<256xf32>) -> (tensor<?x8xf32>, tensor<?x8xi32>)
  return %w, %ids : tensor<?x8xf32>, tensor<?x8xi32>
}

// -----

// Routings the warp does not run stay with the generic lowering, and say why.
func.func @route_left(%l: tensor<?x8xf32>, %wide: tensor<?x300xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>) {
  // expected-remark @+1 {{moe-lower-to-gpu leaves this moe.route to the generic lowering (a thread per token): capacity dropping needs the assignments in token order}}
  %w0, %i0 = moe.route %l {routing = #moe.routing<softmax_topk, k = 2, capacity_factor = 1.0>} : (tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  // expected-remark @+1 {{the sparse mixer's weights are computed serially}}
  %w1, %i1 = moe.route %l {routing = #moe.routing<sparse_mixer, k = 2, jitter_eps = 0.01>} : (tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  // expected-remark @+1 {{it has more than 256 experts, or a dynamic number of them}}
  %w2, %i2 = moe.route %wide {routing = #moe.routing<softmax_topk, k = 2>} : (tensor<?x300xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  return %w0, %w1, %w2 : tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>
}
