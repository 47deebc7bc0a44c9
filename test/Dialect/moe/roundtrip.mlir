// Every moe op in its custom form, printed and parsed back, and through the generic form.
// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s

// CHECK-LABEL: func.func @layer_plain
// CHECK: moe.layer %arg0, %arg1 gate_up %arg2 down %arg3 {activation = #moe.activation<silu, gated = concatenated>, routing = #moe.routing<softmax_topk, k = 2, normalize = true>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x256x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
func.func @layer_plain(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x256x64xf32>, %w2: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2, normalize = true>, activation = #moe.activation<silu, gated = concatenated>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x256x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @layer_every_operand
// CHECK: moe.layer %arg0, %arg1 gate_up %arg2 down %arg3 up %arg4 gate_up_bias %arg5 down_bias %arg6 up_bias %arg7 routing_bias %arg8 shared_gate_up %arg9 shared_down %arg10 shared_up %arg11 shared_gate %arg12 constant_experts %arg13
// CHECK-SAME: activation = #moe.activation<silu, gated = separate>
// CHECK-SAME: num_copy_experts = 1 : i64, num_zero_experts = 1 : i64
// CHECK-SAME: routing = #moe.routing<sigmoid_topk, k = 4, normalize = true, scale = 2.500000e+00, num_groups = 4, topk_groups = 2>
func.func @layer_every_operand(%x: tensor<16x64xf32>, %l: tensor<16x12xf32>,
    %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %w3: tensor<8x32x64xf32>,
    %b1: tensor<8x32xf32>, %b2: tensor<8x64xf32>, %b3: tensor<8x32xf32>, %rb: tensor<12xf32>,
    %s1: tensor<2x48x64xf32>, %s2: tensor<2x64x48xf32>, %s3: tensor<2x48x64xf32>, %sg: tensor<2x64xf32>,
    %c: tensor<2x64xf32>) -> tensor<16x64xf32> {
  %y = moe.layer %x, %l gate_up %w1 down %w2 up %w3 gate_up_bias %b1 down_bias %b2 up_bias %b3
         routing_bias %rb shared_gate_up %s1 shared_down %s2 shared_up %s3 shared_gate %sg
         constant_experts %c
         {routing = #moe.routing<sigmoid_topk, k = 4, normalize = true, scale = 2.5, num_groups = 4, topk_groups = 2>,
          activation = #moe.activation<silu, gated = separate>, num_zero_experts = 1, num_copy_experts = 1}
         : (tensor<16x64xf32>, tensor<16x12xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>,
            tensor<8x32x64xf32>, tensor<8x32xf32>, tensor<8x64xf32>, tensor<8x32xf32>, tensor<12xf32>,
            tensor<2x48x64xf32>, tensor<2x64x48xf32>, tensor<2x48x64xf32>, tensor<2x64xf32>,
            tensor<2x64xf32>) -> tensor<16x64xf32>
  return %y : tensor<16x64xf32>
}

// CHECK-LABEL: func.func @stages
// CHECK: %[[W:.*]], %[[IDS:.*]] = moe.route %arg1 bias %arg4 {routing = #moe.routing<sigmoid_topk, k = 2>} : (tensor<?x8xbf16>, tensor<8xbf16>) -> (tensor<?x2xbf16>, tensor<?x2xi64>)
// CHECK: %[[ROWS:.*]], %[[OFF:.*]], %[[PERM:.*]] = moe.dispatch %arg0, %[[IDS]] : (tensor<?x32xbf16>, tensor<?x2xi64>) -> (tensor<?x32xbf16>, tensor<9xi32>, tensor<?xi32>)
// CHECK: %[[OUT:.*]] = moe.experts %[[ROWS]], %[[OFF]] gate_up %arg2 down %arg3 {activation = #moe.activation<gelu_tanh>} : (tensor<?x32xbf16>, tensor<9xi32>, tensor<8x64x32xbf16>, tensor<8x32x64xbf16>) -> tensor<?x32xbf16>
// CHECK: moe.combine %[[OUT]], %[[W]], %[[PERM]] : (tensor<?x32xbf16>, tensor<?x2xbf16>, tensor<?xi32>) -> tensor<?x32xbf16>
func.func @stages(%x: tensor<?x32xbf16>, %l: tensor<?x8xbf16>, %w1: tensor<8x64x32xbf16>, %w2: tensor<8x32x64xbf16>, %b: tensor<8xbf16>) -> tensor<?x32xbf16> {
  %w, %ids = moe.route %l bias %b {routing = #moe.routing<sigmoid_topk, k = 2>} : (tensor<?x8xbf16>, tensor<8xbf16>) -> (tensor<?x2xbf16>, tensor<?x2xi64>)
  %rows, %off, %perm = moe.dispatch %x, %ids : (tensor<?x32xbf16>, tensor<?x2xi64>) -> (tensor<?x32xbf16>, tensor<9xi32>, tensor<?xi32>)
  %out = moe.experts %rows, %off gate_up %w1 down %w2 {activation = #moe.activation<gelu_tanh>} : (tensor<?x32xbf16>, tensor<9xi32>, tensor<8x64x32xbf16>, tensor<8x32x64xbf16>) -> tensor<?x32xbf16>
  %y = moe.combine %out, %w, %perm : (tensor<?x32xbf16>, tensor<?x2xbf16>, tensor<?xi32>) -> tensor<?x32xbf16>
  return %y : tensor<?x32xbf16>
}

// CHECK-LABEL: func.func @experts_with_up_and_biases
// CHECK: moe.experts %arg0, %arg1 gate_up %arg2 down %arg3 up %arg4 gate_up_bias %arg5 down_bias %arg6 up_bias %arg7 {activation = #moe.activation<relu, gated = separate>}
func.func @experts_with_up_and_biases(%r: tensor<12x16xf16>, %o: tensor<5xi64>, %w1: tensor<4x8x16xf16>, %w2: tensor<4x16x8xf16>,
    %w3: tensor<4x8x16xf16>, %b1: tensor<4x8xf16>, %b2: tensor<4x16xf16>, %b3: tensor<4x8xf16>) -> tensor<12x16xf16> {
  %y = moe.experts %r, %o gate_up %w1 down %w2 up %w3 gate_up_bias %b1 down_bias %b2 up_bias %b3 {activation = #moe.activation<relu, gated = separate>} : (tensor<12x16xf16>, tensor<5xi64>, tensor<4x8x16xf16>, tensor<4x16x8xf16>, tensor<4x8x16xf16>, tensor<4x8xf16>, tensor<4x16xf16>, tensor<4x8xf16>) -> tensor<12x16xf16>
  return %y : tensor<12x16xf16>
}

// CHECK-LABEL: func.func @attention
// CHECK: moe.sparse_attention %arg0, %arg1, %arg2 {pattern = #moe.attn_pattern<causal = true, window_left = 256>} : (tensor<1x8x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>) -> tensor<1x8x?x64xf16>
// CHECK: moe.sparse_attention %arg3, %arg4, %arg4 block_mask(%arg5, %arg6) {pattern = #moe.attn_pattern<sink_blocks = 1, vertical_stride = 4, block_q = 32, block_kv = 32>, scale = 1.250000e-01 : f64} : (tensor<2x4x128x64xf32>, tensor<2x4x96x64xf32>, tensor<2x4x96x64xf32>, tensor<2x1x4xi32>, tensor<2x1x4x3xi32>) -> tensor<2x4x128x64xf32>
func.func @attention(%q: tensor<1x8x?x64xf16>, %k: tensor<1x2x?x64xf16>, %v: tensor<1x2x?x64xf16>,
                     %q2: tensor<2x4x128x64xf32>, %k2: tensor<2x4x96x64xf32>, %n: tensor<2x1x4xi32>, %idx: tensor<2x1x4x3xi32>)
    -> (tensor<1x8x?x64xf16>, tensor<2x4x128x64xf32>) {
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true, window_left = 256>} : (tensor<1x8x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>) -> tensor<1x8x?x64xf16>
  %o2 = moe.sparse_attention %q2, %k2, %k2 block_mask(%n, %idx) {pattern = #moe.attn_pattern<sink_blocks = 1, vertical_stride = 4, block_q = 32, block_kv = 32>, scale = 0.125} : (tensor<2x4x128x64xf32>, tensor<2x4x96x64xf32>, tensor<2x4x96x64xf32>, tensor<2x1x4xi32>, tensor<2x1x4x3xi32>) -> tensor<2x4x128x64xf32>
  return %o, %o2 : tensor<1x8x?x64xf16>, tensor<2x4x128x64xf32>
}

// CHECK-LABEL: func.func @nm(
// CHECK-SAME: tensor<64x128xf16, #moe.nm<2, 4>>
// CHECK: moe.nm_matmul %arg1, %arg2, %arg3 {sparsity = #moe.nm<2, 4>} : (tensor<?x128xf16>, tensor<64x64xf16>, tensor<64x64xi8>) -> tensor<?x64xf16>
func.func @nm(%dense: tensor<64x128xf16, #moe.nm<2, 4>>, %x: tensor<?x128xf16>, %vals: tensor<64x64xf16>, %idx: tensor<64x64xi8>) -> tensor<?x64xf16> {
  %y = moe.nm_matmul %x, %vals, %idx {sparsity = #moe.nm<2, 4>} : (tensor<?x128xf16>, tensor<64x64xf16>, tensor<64x64xi8>) -> tensor<?x64xf16>
  return %y : tensor<?x64xf16>
}

// Prefetch has effects, so it survives canonicalisation with no users.
// CHECK-LABEL: func.func @movement
// CHECK: moe.prefetch %arg0, %arg1 {device = 1 : i64} : tensor<8x256x64xf32>, tensor<?x2xi32>
// CHECK: %{{.*}}, %{{.*}} = moe.all_to_all %arg2, %arg3 {group_size = 4 : i64} : (tensor<?x64xbf16>, tensor<4xi32>) -> (tensor<?x64xbf16>, tensor<4xi32>)
func.func @movement(%w: tensor<8x256x64xf32>, %ids: tensor<?x2xi32>, %rows: tensor<?x64xbf16>, %counts: tensor<4xi32>) {
  moe.prefetch %w, %ids {device = 1} : tensor<8x256x64xf32>, tensor<?x2xi32>
  %recv, %rc = moe.all_to_all %rows, %counts {group_size = 4} : (tensor<?x64xbf16>, tensor<4xi32>) -> (tensor<?x64xbf16>, tensor<4xi32>)
  return
}
