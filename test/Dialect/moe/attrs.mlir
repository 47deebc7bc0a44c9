// Every field of the moe attributes printed and parsed back, defaults left out.
// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s

// CHECK-LABEL: func.func @routing_softmax_topk()
// CHECK-SAME: attributes {a = #moe.routing<softmax_topk, k = 2>} {
func.func @routing_softmax_topk() attributes {a = #moe.routing<softmax_topk, k = 2>} {
  return
}

// CHECK-LABEL: func.func @routing_topk_softmax()
// CHECK-SAME: attributes {a = #moe.routing<topk_softmax, k = 4>} {
func.func @routing_topk_softmax() attributes {a = #moe.routing<topk_softmax, k = 4>} {
  return
}

// CHECK-LABEL: func.func @routing_sigmoid_topk()
// CHECK-SAME: attributes {a = #moe.routing<sigmoid_topk, k = 1>} {
func.func @routing_sigmoid_topk() attributes {a = #moe.routing<sigmoid_topk, k = 1>} {
  return
}

// CHECK-LABEL: func.func @routing_normalize()
// CHECK-SAME: attributes {a = #moe.routing<softmax_topk, k = 2, normalize = true>} {
func.func @routing_normalize() attributes {a = #moe.routing<softmax_topk, k = 2, normalize = true>} {
  return
}

// CHECK-LABEL: func.func @routing_scale()
// CHECK-SAME: attributes {a = #moe.routing<softmax_topk, k = 2, scale = 2.500000e+00>} {
func.func @routing_scale() attributes {a = #moe.routing<softmax_topk, k = 2, scale = 2.5>} {
  return
}

// A scale that six digits cannot hold is printed in full.
// CHECK-LABEL: func.func @routing_scale_full_precision()
// CHECK-SAME: attributes {a = #moe.routing<softmax_topk, k = 2, scale = 1.0000001000000001>} {
func.func @routing_scale_full_precision() attributes {a = #moe.routing<softmax_topk, k = 2, scale = 1.0000001>} {
  return
}

// CHECK-LABEL: func.func @routing_groups()
// CHECK-SAME: attributes {a = #moe.routing<sigmoid_topk, k = 8, num_groups = 8, topk_groups = 4>} {
func.func @routing_groups() attributes {a = #moe.routing<sigmoid_topk, k = 8, num_groups = 8, topk_groups = 4>} {
  return
}

// CHECK-LABEL: func.func @routing_groups_all_kept()
// CHECK-SAME: attributes {a = #moe.routing<softmax_topk, k = 2, num_groups = 4, topk_groups = 4>} {
func.func @routing_groups_all_kept() attributes {a = #moe.routing<softmax_topk, k = 2, num_groups = 4, topk_groups = 4>} {
  return
}

// CHECK-LABEL: func.func @routing_capacity_factor()
// CHECK-SAME: attributes {a = #moe.routing<softmax_topk, k = 2, capacity_factor = 1.250000e+00>} {
func.func @routing_capacity_factor() attributes {a = #moe.routing<softmax_topk, k = 2, capacity_factor = 1.25>} {
  return
}

// CHECK-LABEL: func.func @routing_every_field()
// CHECK-SAME: attributes {a = #moe.routing<sigmoid_topk, k = 8, normalize = true, scale = 2.500000e+00, num_groups = 8, topk_groups = 4, capacity_factor = 1.500000e+00>} {
func.func @routing_every_field() attributes {a = #moe.routing<sigmoid_topk, k = 8, normalize = true, scale = 2.5, num_groups = 8, topk_groups = 4, capacity_factor = 1.5>} {
  return
}

// CHECK-LABEL: func.func @routing_norm_epsilon_floor()
// CHECK-SAME: attributes {a = #moe.routing<sigmoid_topk, k = 2, normalize = true, norm_epsilon = 9.9999999999999995E-7>, b = #moe.routing<softmax_topk, k = 2, normalize = true, norm_floor = 9.9999999999999998E-13>} {
func.func @routing_norm_epsilon_floor() attributes {a = #moe.routing<sigmoid_topk, k = 2, normalize = true, norm_epsilon = 1.0e-6>, b = #moe.routing<softmax_topk, k = 2, normalize = true, norm_floor = 1.0e-12>} {
  return
}

// CHECK-LABEL: func.func @routing_sparse_mixer()
// CHECK-SAME: attributes {a = #moe.routing<sparse_mixer, k = 2, jitter_eps = 1.000000e-02>} {
func.func @routing_sparse_mixer() attributes {a = #moe.routing<sparse_mixer, k = 2, jitter_eps = 0.01>} {
  return
}

// Fields may be given in any order; they print in declaration order.
// CHECK-LABEL: func.func @routing_reordered()
// CHECK-SAME: attributes {a = #moe.routing<softmax_topk, k = 3, normalize = true, num_groups = 4, topk_groups = 2, capacity_factor = 2.000000e+00>} {
func.func @routing_reordered() attributes {a = #moe.routing<softmax_topk, capacity_factor = 2.0, topk_groups = 2, k = 3, num_groups = 4, normalize = true>} {
  return
}

// Fields spelled at their default values are not printed.
// CHECK-LABEL: func.func @routing_defaults_elided()
// CHECK-SAME: attributes {a = #moe.routing<softmax_topk, k = 2>} {
func.func @routing_defaults_elided() attributes {a = #moe.routing<softmax_topk, k = 2, normalize = false, scale = 1.0, num_groups = 1, topk_groups = 1, capacity_factor = 0.0>} {
  return
}

// CHECK-LABEL: func.func @activation_identity()
// CHECK-SAME: attributes {a = #moe.activation<identity>} {
func.func @activation_identity() attributes {a = #moe.activation<identity>} {
  return
}

// No extra fields: nothing after the function.
// CHECK-LABEL: func.func @activation_relu()
// CHECK-SAME: attributes {a = #moe.activation<relu>} {
func.func @activation_relu() attributes {a = #moe.activation<relu>} {
  return
}

// CHECK-LABEL: func.func @activation_gelu()
// CHECK-SAME: attributes {a = #moe.activation<gelu>} {
func.func @activation_gelu() attributes {a = #moe.activation<gelu>} {
  return
}

// CHECK-LABEL: func.func @activation_gelu_tanh()
// CHECK-SAME: attributes {a = #moe.activation<gelu_tanh>} {
func.func @activation_gelu_tanh() attributes {a = #moe.activation<gelu_tanh>} {
  return
}

// CHECK-LABEL: func.func @activation_silu()
// CHECK-SAME: attributes {a = #moe.activation<silu>} {
func.func @activation_silu() attributes {a = #moe.activation<silu>} {
  return
}

// CHECK-LABEL: func.func @activation_gated_none()
// CHECK-SAME: attributes {a = #moe.activation<silu>} {
func.func @activation_gated_none() attributes {a = #moe.activation<silu, gated = none>} {
  return
}

// CHECK-LABEL: func.func @activation_gated_separate()
// CHECK-SAME: attributes {a = #moe.activation<silu, gated = separate>} {
func.func @activation_gated_separate() attributes {a = #moe.activation<silu, gated = separate>} {
  return
}

// CHECK-LABEL: func.func @activation_gated_concatenated()
// CHECK-SAME: attributes {a = #moe.activation<gelu, gated = concatenated>} {
func.func @activation_gated_concatenated() attributes {a = #moe.activation<gelu, gated = concatenated>} {
  return
}

// CHECK-LABEL: func.func @activation_gated_interleaved()
// CHECK-SAME: attributes {a = #moe.activation<relu, gated = interleaved>} {
func.func @activation_gated_interleaved() attributes {a = #moe.activation<relu, gated = interleaved>} {
  return
}

// CHECK-LABEL: func.func @activation_alpha()
// CHECK-SAME: attributes {a = #moe.activation<silu, alpha = 1.702000e+00>} {
func.func @activation_alpha() attributes {a = #moe.activation<silu, alpha = 1.702>} {
  return
}

// CHECK-LABEL: func.func @activation_beta()
// CHECK-SAME: attributes {a = #moe.activation<gelu_tanh, gated = separate, beta = -5.000000e-01>} {
func.func @activation_beta() attributes {a = #moe.activation<gelu_tanh, gated = separate, beta = -0.5>} {
  return
}

// CHECK-LABEL: func.func @activation_limit()
// CHECK-SAME: attributes {a = #moe.activation<identity, gated = concatenated, limit = 2.500000e-01>} {
func.func @activation_limit() attributes {a = #moe.activation<identity, gated = concatenated, limit = 0.25>} {
  return
}

// CHECK-LABEL: func.func @activation_gpt_oss()
// CHECK-SAME: attributes {a = #moe.activation<silu, gated = interleaved, alpha = 1.702000e+00, beta = 1.000000e+00, limit = 7.000000e+00>} {
func.func @activation_gpt_oss() attributes {a = #moe.activation<silu, gated = interleaved, alpha = 1.702, beta = 1.0, limit = 7.0>} {
  return
}

// CHECK-LABEL: func.func @activation_reordered()
// CHECK-SAME: attributes {a = #moe.activation<silu, gated = separate, alpha = 2.000000e+00, limit = 7.000000e+00>} {
func.func @activation_reordered() attributes {a = #moe.activation<silu, limit = 7.0, alpha = 2.0, gated = separate>} {
  return
}

// Fields spelled at their default values are not printed.
// CHECK-LABEL: func.func @activation_defaults_elided()
// CHECK-SAME: attributes {a = #moe.activation<silu>} {
func.func @activation_defaults_elided() attributes {a = #moe.activation<silu, gated = none, alpha = 1.0, beta = 0.0>} {
  return
}

// CHECK-LABEL: func.func @activation_gated_defaults_elided()
// CHECK-SAME: attributes {a = #moe.activation<gelu, gated = separate>} {
func.func @activation_gated_defaults_elided() attributes {a = #moe.activation<gelu, gated = separate, alpha = 1.0, beta = 0.0>} {
  return
}

// CHECK-LABEL: func.func @attn_pattern_empty()
// CHECK-SAME: attributes {a = #moe.attn_pattern<>} {
func.func @attn_pattern_empty() attributes {a = #moe.attn_pattern<>} {
  return
}

// Fields spelled at their default values are not printed.
// CHECK-LABEL: func.func @attn_pattern_defaults_elided()
// CHECK-SAME: attributes {a = #moe.attn_pattern<>} {
func.func @attn_pattern_defaults_elided() attributes {a = #moe.attn_pattern<causal = false, window_left = -1, window_right = -1, sink_blocks = 0, vertical_stride = 0, block_q = 64, block_kv = 64, head_spans = []>} {
  return
}

// CHECK-LABEL: func.func @attn_pattern_causal()
// CHECK-SAME: attributes {a = #moe.attn_pattern<causal = true>} {
func.func @attn_pattern_causal() attributes {a = #moe.attn_pattern<causal = true>} {
  return
}

// CHECK-LABEL: func.func @attn_pattern_window_left()
// CHECK-SAME: attributes {a = #moe.attn_pattern<causal = true, window_left = 4096>} {
func.func @attn_pattern_window_left() attributes {a = #moe.attn_pattern<causal = true, window_left = 4096>} {
  return
}

// CHECK-LABEL: func.func @attn_pattern_window_left_zero()
// CHECK-SAME: attributes {a = #moe.attn_pattern<window_left = 0>} {
func.func @attn_pattern_window_left_zero() attributes {a = #moe.attn_pattern<window_left = 0>} {
  return
}

// CHECK-LABEL: func.func @attn_pattern_window_right()
// CHECK-SAME: attributes {a = #moe.attn_pattern<window_left = 8, window_right = 16>} {
func.func @attn_pattern_window_right() attributes {a = #moe.attn_pattern<window_left = 8, window_right = 16>} {
  return
}

// window_right = 0 agrees with causal.
// CHECK-LABEL: func.func @attn_pattern_causal_window_right_zero()
// CHECK-SAME: attributes {a = #moe.attn_pattern<causal = true, window_right = 0>} {
func.func @attn_pattern_causal_window_right_zero() attributes {a = #moe.attn_pattern<causal = true, window_right = 0>} {
  return
}

// CHECK-LABEL: func.func @attn_pattern_sink_blocks()
// CHECK-SAME: attributes {a = #moe.attn_pattern<sink_blocks = 2>} {
func.func @attn_pattern_sink_blocks() attributes {a = #moe.attn_pattern<sink_blocks = 2>} {
  return
}

// CHECK-LABEL: func.func @attn_pattern_vertical_stride()
// CHECK-SAME: attributes {a = #moe.attn_pattern<vertical_stride = 8>} {
func.func @attn_pattern_vertical_stride() attributes {a = #moe.attn_pattern<vertical_stride = 8>} {
  return
}

// CHECK-LABEL: func.func @attn_pattern_block_sizes()
// CHECK-SAME: attributes {a = #moe.attn_pattern<block_q = 128, block_kv = 32>} {
func.func @attn_pattern_block_sizes() attributes {a = #moe.attn_pattern<block_q = 128, block_kv = 32>} {
  return
}

// CHECK-LABEL: func.func @attn_pattern_head_spans()
// CHECK-SAME: attributes {a = #moe.attn_pattern<head_spans = [0, 16, 256, 4096]>} {
func.func @attn_pattern_head_spans() attributes {a = #moe.attn_pattern<head_spans = [0, 16, 256, 4096]>} {
  return
}

// CHECK-LABEL: func.func @attn_pattern_every_field()
// CHECK-SAME: attributes {a = #moe.attn_pattern<causal = true, window_right = 0, sink_blocks = 1, vertical_stride = 8, block_q = 16, block_kv = 128, head_spans = [64, 128]>} {
func.func @attn_pattern_every_field() attributes {a = #moe.attn_pattern<causal = true, window_right = 0, sink_blocks = 1, vertical_stride = 8, block_q = 16, block_kv = 128, head_spans = [64, 128]>} {
  return
}

// CHECK-LABEL: func.func @attn_pattern_reordered()
// CHECK-SAME: attributes {a = #moe.attn_pattern<causal = true, window_left = 512, sink_blocks = 4, block_kv = 32>} {
func.func @attn_pattern_reordered() attributes {a = #moe.attn_pattern<block_kv = 32, window_left = 512, causal = true, sink_blocks = 4>} {
  return
}

// CHECK-LABEL: func.func @nm_2_4()
// CHECK-SAME: attributes {a = #moe.nm<2, 4>} {
func.func @nm_2_4() attributes {a = #moe.nm<2, 4>} {
  return
}

// CHECK-LABEL: func.func @nm_1_2()
// CHECK-SAME: attributes {a = #moe.nm<1, 2>} {
func.func @nm_1_2() attributes {a = #moe.nm<1, 2>} {
  return
}

// CHECK-LABEL: func.func @nm_4_8()
// CHECK-SAME: attributes {a = #moe.nm<4, 8>} {
func.func @nm_4_8() attributes {a = #moe.nm<4, 8>} {
  return
}

// CHECK-LABEL: func.func @nm_63_64()
// CHECK-SAME: attributes {a = #moe.nm<63, 64>} {
func.func @nm_63_64() attributes {a = #moe.nm<63, 64>} {
  return
}

// As discardable attributes of an op, several at once, in dictionary order.
// CHECK-LABEL: func.func @on_an_op
// CHECK: arith.constant {
// CHECK-SAME: act = #moe.activation<silu, gated = concatenated>
// CHECK-SAME: nm = #moe.nm<2, 4>
// CHECK-SAME: pat = #moe.attn_pattern<causal = true, sink_blocks = 1>
// CHECK-SAME: route = #moe.routing<softmax_topk, k = 2, normalize = true>}
// CHECK-SAME: 0 : i32
func.func @on_an_op() -> i32 {
  %c = arith.constant {route = #moe.routing<softmax_topk, k = 2, normalize = true>,
                       act = #moe.activation<silu, gated = concatenated>,
                       pat = #moe.attn_pattern<sink_blocks = 1, causal = true>,
                       nm = #moe.nm<2, 4>} 0 : i32
  return %c : i32
}
