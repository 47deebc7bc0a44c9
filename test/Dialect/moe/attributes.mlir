// Every field of every moe attribute round-trips; fields equal to their default are
// not printed.
// RUN: moe-opt %s | moe-opt | FileCheck %s

// CHECK-LABEL: func.func @routing
// CHECK-SAME: r0 = #moe.routing<softmax_topk, k = 2>
// CHECK-SAME: r1 = #moe.routing<softmax_topk, k = 2, normalize = true>
// CHECK-SAME: r2 = #moe.routing<topk_softmax, k = 4>
// CHECK-SAME: r3 = #moe.routing<sigmoid_topk, k = 8, normalize = true, scale = 2.500000e+00, num_groups = 8, topk_groups = 4>
// CHECK-SAME: r4 = #moe.routing<softmax_topk, k = 1, capacity_factor = 1.250000e+00>
// CHECK-SAME: r5 = #moe.routing<softmax_topk, k = 2>
func.func @routing() attributes {
  r0 = #moe.routing<softmax_topk, k = 2>,
  r1 = #moe.routing<softmax_topk, k = 2, normalize = true>,
  r2 = #moe.routing<topk_softmax, k = 4>,
  r3 = #moe.routing<sigmoid_topk, k = 8, normalize = true, scale = 2.5, num_groups = 8, topk_groups = 4>,
  r4 = #moe.routing<softmax_topk, k = 1, capacity_factor = 1.25>,
  r5 = #moe.routing<softmax_topk, k = 2, normalize = false, scale = 1.0, num_groups = 1, topk_groups = 1, capacity_factor = 0.0>} {
  return
}

// CHECK-LABEL: func.func @activation
// CHECK-SAME: a0 = #moe.activation<identity>
// CHECK-SAME: a1 = #moe.activation<relu>
// CHECK-SAME: a2 = #moe.activation<gelu>
// CHECK-SAME: a3 = #moe.activation<gelu_tanh, gated = concatenated>
// CHECK-SAME: a4 = #moe.activation<silu, gated = separate>
// CHECK-SAME: a5 = #moe.activation<silu, gated = interleaved, alpha = 1.702000e+00, beta = 1.000000e+00, limit = 7.000000e+00>
// CHECK-SAME: a6 = #moe.activation<silu, alpha = 1.500000e+00>
// CHECK-SAME: a7 = #moe.activation<relu>
func.func @activation() attributes {
  a0 = #moe.activation<identity>,
  a1 = #moe.activation<relu>,
  a2 = #moe.activation<gelu>,
  a3 = #moe.activation<gelu_tanh, gated = concatenated>,
  a4 = #moe.activation<silu, gated = separate>,
  a5 = #moe.activation<silu, gated = interleaved, alpha = 1.702, beta = 1.0, limit = 7.0>,
  a6 = #moe.activation<silu, alpha = 1.5>,
  a7 = #moe.activation<relu, gated = none, alpha = 1.0, beta = 0.0>} {
  return
}

// CHECK-LABEL: func.func @attn_pattern
// CHECK-SAME: p0 = #moe.attn_pattern<>
// CHECK-SAME: p1 = #moe.attn_pattern<causal = true, window_left = 4096>
// CHECK-SAME: p2 = #moe.attn_pattern<window_left = 64, window_right = 64>
// CHECK-SAME: p3 = #moe.attn_pattern<causal = true, sink_blocks = 1, vertical_stride = 8, block_q = 128, block_kv = 32>
// CHECK-SAME: p4 = #moe.attn_pattern<causal = true, head_spans = [128, 256, 0, 4096]>
// CHECK-SAME: p5 = #moe.attn_pattern<>
func.func @attn_pattern() attributes {
  p0 = #moe.attn_pattern<>,
  p1 = #moe.attn_pattern<causal = true, window_left = 4096>,
  p2 = #moe.attn_pattern<window_left = 64, window_right = 64>,
  p3 = #moe.attn_pattern<causal = true, sink_blocks = 1, vertical_stride = 8, block_q = 128, block_kv = 32>,
  p4 = #moe.attn_pattern<causal = true, head_spans = [128, 256, 0, 4096]>,
  p5 = #moe.attn_pattern<causal = false, window_left = -1, block_q = 64, block_kv = 64>} {
  return
}

// CHECK-LABEL: func.func @nm
// CHECK-SAME: n0 = #moe.nm<2, 4>
// CHECK-SAME: n1 = #moe.nm<1, 2>
// CHECK-SAME: n2 = #moe.nm<4, 8>
func.func @nm() attributes {n0 = #moe.nm<2, 4>, n1 = #moe.nm<1, 2>, n2 = #moe.nm<4, 8>} {
  return
}
