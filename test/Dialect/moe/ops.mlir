// Every moe op form printed and parsed back, in the custom and in the generic form.
// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s

// CHECK-LABEL: func.func @layer_plain
// CHECK: moe.layer %arg0, %arg1 gate_up %arg2 down %arg3 {
// CHECK-SAME: activation = #moe.activation<gelu>
// CHECK-SAME: routing = #moe.routing<softmax_topk, k = 2, normalize = true>}
// CHECK-SAME: : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
func.func @layer_plain(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>,
                       %w2: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x, %l gate_up %w1 down %w2
         {routing = #moe.routing<softmax_topk, k = 2, normalize = true>,
          activation = #moe.activation<gelu>}
         : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>)
         -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @layer_concatenated
// CHECK: moe.layer %arg0, %arg1 gate_up %arg2 down %arg3 {
// CHECK-SAME: activation = #moe.activation<silu, gated = concatenated>
// CHECK-SAME: : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x256x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
func.func @layer_concatenated(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x256x64xf32>,
                              %w2: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x, %l gate_up %w1 down %w2
         {routing = #moe.routing<softmax_topk, k = 2>,
          activation = #moe.activation<silu, gated = concatenated>}
         : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x256x64xf32>, tensor<8x64x128xf32>)
         -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @layer_separate_up
// CHECK: moe.layer %arg0, %arg1 gate_up %arg2 down %arg3 up %arg4 {
// CHECK-SAME: activation = #moe.activation<silu, gated = separate>
// CHECK-SAME: routing = #moe.routing<softmax_topk, k = 2, normalize = true>}
// CHECK-SAME: tensor<8x128x64xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<?x64xf32>
func.func @layer_separate_up(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>,
                             %w2: tensor<8x64x128xf32>, %w3: tensor<8x128x64xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x, %l gate_up %w1 down %w2 up %w3
         {routing = #moe.routing<softmax_topk, k = 2, normalize = true>,
          activation = #moe.activation<silu, gated = separate>}
         : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>,
            tensor<8x128x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @layer_biases
// CHECK: moe.layer %arg0, %arg1 gate_up %arg2 down %arg3 up %arg4 gate_up_bias %arg5 down_bias %arg6 up_bias %arg7 {
// CHECK-SAME: activation = #moe.activation<silu, gated = separate, alpha = 1.702000e+00, beta = 1.000000e+00, limit = 7.000000e+00>
// CHECK-SAME: routing = #moe.routing<topk_softmax, k = 4>}
// CHECK-SAME: tensor<32x64x16xbf16>, tensor<32x16x64xbf16>, tensor<32x64x16xbf16>, tensor<32x64xbf16>, tensor<32x16xbf16>, tensor<32x64xbf16>) -> tensor<?x16xbf16>
func.func @layer_biases(%x: tensor<?x16xbf16>, %l: tensor<?x32xbf16>, %w1: tensor<32x64x16xbf16>,
                        %w2: tensor<32x16x64xbf16>, %w3: tensor<32x64x16xbf16>, %b1: tensor<32x64xbf16>,
                        %b2: tensor<32x16xbf16>, %b3: tensor<32x64xbf16>) -> tensor<?x16xbf16> {
  %y = moe.layer %x, %l gate_up %w1 down %w2 up %w3 gate_up_bias %b1 down_bias %b2 up_bias %b3
         {routing = #moe.routing<topk_softmax, k = 4>,
          activation = #moe.activation<silu, gated = separate, alpha = 1.702, beta = 1.0, limit = 7.0>}
         : (tensor<?x16xbf16>, tensor<?x32xbf16>, tensor<32x64x16xbf16>, tensor<32x16x64xbf16>,
            tensor<32x64x16xbf16>, tensor<32x64xbf16>, tensor<32x16xbf16>, tensor<32x64xbf16>)
         -> tensor<?x16xbf16>
  return %y : tensor<?x16xbf16>
}

// CHECK-LABEL: func.func @layer_routing_bias
// CHECK: moe.layer %arg0, %arg1 gate_up %arg2 down %arg3 routing_bias %arg4 {
// CHECK-SAME: activation = #moe.activation<silu, gated = interleaved>
// CHECK-SAME: routing = #moe.routing<sigmoid_topk, k = 8, normalize = true, scale = 2.500000e+00, num_groups = 8, topk_groups = 4>}
// CHECK-SAME: tensor<64x32x16xf32>, tensor<64x16x16xf32>, tensor<64xf32>) -> tensor<?x16xf32>
func.func @layer_routing_bias(%x: tensor<?x16xf32>, %l: tensor<?x64xf32>, %w1: tensor<64x32x16xf32>,
                              %w2: tensor<64x16x16xf32>, %rb: tensor<64xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x, %l gate_up %w1 down %w2 routing_bias %rb
         {routing = #moe.routing<sigmoid_topk, k = 8, normalize = true, scale = 2.5, num_groups = 8, topk_groups = 4>,
          activation = #moe.activation<silu, gated = interleaved>}
         : (tensor<?x16xf32>, tensor<?x64xf32>, tensor<64x32x16xf32>, tensor<64x16x16xf32>, tensor<64xf32>)
         -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @layer_shared
// CHECK: moe.layer %arg0, %arg1 gate_up %arg2 down %arg3 up %arg4 shared_gate_up %arg5 shared_down %arg6 shared_up %arg7 shared_gate %arg8 {
// CHECK-SAME: activation = #moe.activation<silu, gated = separate>
// CHECK-SAME: tensor<2x48x64xf32>, tensor<2x64x48xf32>, tensor<2x48x64xf32>, tensor<2x64xf32>) -> tensor<?x64xf32>
func.func @layer_shared(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x32x64xf32>,
                        %w2: tensor<8x64x32xf32>, %w3: tensor<8x32x64xf32>, %s1: tensor<2x48x64xf32>,
                        %s2: tensor<2x64x48xf32>, %s3: tensor<2x48x64xf32>, %sg: tensor<2x64xf32>)
    -> tensor<?x64xf32> {
  %y = moe.layer %x, %l gate_up %w1 down %w2 up %w3
         shared_gate_up %s1 shared_down %s2 shared_up %s3 shared_gate %sg
         {routing = #moe.routing<softmax_topk, k = 2>,
          activation = #moe.activation<silu, gated = separate>}
         : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>,
            tensor<8x32x64xf32>, tensor<2x48x64xf32>, tensor<2x64x48xf32>, tensor<2x48x64xf32>,
            tensor<2x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @layer_shared_without_up
// CHECK: moe.layer %arg0, %arg1 gate_up %arg2 down %arg3 shared_gate_up %arg4 shared_down %arg5 {activation = #moe.activation<gelu, gated = concatenated>, routing = #moe.routing<softmax_topk, k = 2>} :
func.func @layer_shared_without_up(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x64x64xf32>,
                                   %w2: tensor<8x64x32xf32>, %s1: tensor<1x96x64xf32>,
                                   %s2: tensor<1x64x48xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x, %l gate_up %w1 down %w2 shared_gate_up %s1 shared_down %s2
         {routing = #moe.routing<softmax_topk, k = 2>,
          activation = #moe.activation<gelu, gated = concatenated>}
         : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x64x64xf32>, tensor<8x64x32xf32>,
            tensor<1x96x64xf32>, tensor<1x64x48xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// 8 routed + 2 zero + 1 copy + 3 constant experts = 14 router columns.
// CHECK-LABEL: func.func @layer_null_experts
// CHECK: moe.layer %arg0, %arg1 gate_up %arg2 down %arg3 constant_experts %arg4 {
// CHECK-SAME: num_copy_experts = 1 : i64, num_zero_experts = 2 : i64
// CHECK-SAME: : (tensor<?x64xf32>, tensor<?x14xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<3x64xf32>) -> tensor<?x64xf32>
func.func @layer_null_experts(%x: tensor<?x64xf32>, %l: tensor<?x14xf32>, %w1: tensor<8x32x64xf32>,
                              %w2: tensor<8x64x32xf32>, %c: tensor<3x64xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x, %l gate_up %w1 down %w2 constant_experts %c
         {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>,
          num_zero_experts = 2, num_copy_experts = 1}
         : (tensor<?x64xf32>, tensor<?x14xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<3x64xf32>)
         -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// Zero-valued null-expert counts are the defaults and are not printed.
// CHECK-LABEL: func.func @layer_default_null_experts
// CHECK: moe.layer %arg0, %arg1 gate_up %arg2 down %arg3 {activation = #moe.activation<relu>, routing = #moe.routing<softmax_topk, k = 2>} : (tensor<4x64xf32>
func.func @layer_default_null_experts(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>,
                                      %w2: tensor<8x64x32xf32>) -> tensor<4x64xf32> {
  %y = moe.layer %x, %l gate_up %w1 down %w2
         {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>,
          num_zero_experts = 0, num_copy_experts = 0}
         : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return %y : tensor<4x64xf32>
}

// CHECK-LABEL: func.func @layer_static_tokens
// CHECK: moe.layer %arg0, %arg1 gate_up %arg2 down %arg3 {
// CHECK-SAME: : (tensor<16x64xf16>, tensor<16x8xf16>, tensor<8x32x64xf16>, tensor<8x64x32xf16>) -> tensor<16x64xf16>
func.func @layer_static_tokens(%x: tensor<16x64xf16>, %l: tensor<16x8xf16>, %w1: tensor<8x32x64xf16>,
                               %w2: tensor<8x64x32xf16>) -> tensor<16x64xf16> {
  %y = moe.layer %x, %l gate_up %w1 down %w2
         {routing = #moe.routing<softmax_topk, k = 1>, activation = #moe.activation<identity>}
         : (tensor<16x64xf16>, tensor<16x8xf16>, tensor<8x32x64xf16>, tensor<8x64x32xf16>) -> tensor<16x64xf16>
  return %y : tensor<16x64xf16>
}

// Dynamic tokens, a dynamic expert count and a dynamic router width.
// CHECK-LABEL: func.func @layer_dynamic_dims
// CHECK: moe.layer %arg0, %arg1 gate_up %arg2 down %arg3 {
// CHECK-SAME: : (tensor<?x64xf32>, tensor<?x?xf32>, tensor<?x32x64xf32>, tensor<?x64x32xf32>) -> tensor<?x64xf32>
func.func @layer_dynamic_dims(%x: tensor<?x64xf32>, %l: tensor<?x?xf32>, %w1: tensor<?x32x64xf32>,
                              %w2: tensor<?x64x32xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x, %l gate_up %w1 down %w2
         {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<gelu_tanh>}
         : (tensor<?x64xf32>, tensor<?x?xf32>, tensor<?x32x64xf32>, tensor<?x64x32xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @route_i32
// CHECK: %weights, %ids = moe.route %arg0 {routing = #moe.routing<softmax_topk, k = 2, normalize = true>}
// CHECK-SAME: : (tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
func.func @route_i32(%l: tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  %w, %ids = moe.route %l {routing = #moe.routing<softmax_topk, k = 2, normalize = true>}
               : (tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  return %w, %ids : tensor<?x2xf32>, tensor<?x2xi32>
}

// CHECK-LABEL: func.func @route_bias_i64
// CHECK: %weights, %ids = moe.route %arg0 bias %arg1 {routing = #moe.routing<sigmoid_topk, k = 4, num_groups = 4, topk_groups = 2, capacity_factor = 1.250000e+00>}
// CHECK-SAME: : (tensor<32x16xbf16>, tensor<16xbf16>) -> (tensor<32x4xbf16>, tensor<32x4xi64>)
func.func @route_bias_i64(%l: tensor<32x16xbf16>, %b: tensor<16xbf16>) -> (tensor<32x4xbf16>, tensor<32x4xi64>) {
  %w, %ids = moe.route %l bias %b
               {routing = #moe.routing<sigmoid_topk, k = 4, num_groups = 4, topk_groups = 2, capacity_factor = 1.25>}
               : (tensor<32x16xbf16>, tensor<16xbf16>) -> (tensor<32x4xbf16>, tensor<32x4xi64>)
  return %w, %ids : tensor<32x4xbf16>, tensor<32x4xi64>
}

// CHECK-LABEL: func.func @dispatch
// CHECK: %rows, %offsets, %permutation = moe.dispatch %arg0, %arg1 : (tensor<?x64xf32>, tensor<?x2xi32>) -> (tensor<?x64xf32>, tensor<9xi32>, tensor<?xi32>)
func.func @dispatch(%x: tensor<?x64xf32>, %ids: tensor<?x2xi32>) -> (tensor<?x64xf32>, tensor<9xi32>, tensor<?xi32>) {
  %rows, %off, %perm = moe.dispatch %x, %ids
      : (tensor<?x64xf32>, tensor<?x2xi32>) -> (tensor<?x64xf32>, tensor<9xi32>, tensor<?xi32>)
  return %rows, %off, %perm : tensor<?x64xf32>, tensor<9xi32>, tensor<?xi32>
}

// Weights that scale the dispatched rows (moe.layer scale_inputs).
// CHECK-LABEL: func.func @dispatch_weighted
// CHECK: moe.dispatch %arg0, %arg1 weights %arg2 : (tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> (tensor<?x64xf32>, tensor<9xi32>, tensor<?xi32>)
func.func @dispatch_weighted(%x: tensor<?x64xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) -> tensor<?x64xf32> {
  %rows, %off, %perm = moe.dispatch %x, %ids weights %w
      : (tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> (tensor<?x64xf32>, tensor<9xi32>, tensor<?xi32>)
  return %rows : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @dispatch_static
// CHECK: moe.dispatch %arg0, %arg1 : (tensor<4x16xf16>, tensor<4x2xi64>) -> (tensor<8x16xf16>, tensor<5xi64>, tensor<8xi64>)
func.func @dispatch_static(%x: tensor<4x16xf16>, %ids: tensor<4x2xi64>) -> (tensor<8x16xf16>, tensor<5xi64>, tensor<8xi64>) {
  %rows, %off, %perm = moe.dispatch %x, %ids
      : (tensor<4x16xf16>, tensor<4x2xi64>) -> (tensor<8x16xf16>, tensor<5xi64>, tensor<8xi64>)
  return %rows, %off, %perm : tensor<8x16xf16>, tensor<5xi64>, tensor<8xi64>
}

// CHECK-LABEL: func.func @experts_plain
// CHECK: moe.experts %arg0, %arg1 gate_up %arg2 down %arg3 {activation = #moe.activation<silu, gated = interleaved>}
// CHECK-SAME: : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x256x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
func.func @experts_plain(%r: tensor<?x64xf32>, %o: tensor<9xi32>, %w1: tensor<8x256x64xf32>,
                         %w2: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %y = moe.experts %r, %o gate_up %w1 down %w2 {activation = #moe.activation<silu, gated = interleaved>}
         : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x256x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @experts_up_biases
// CHECK: moe.experts %arg0, %arg1 gate_up %arg2 down %arg3 up %arg4 gate_up_bias %arg5 down_bias %arg6 up_bias %arg7 {activation = #moe.activation<gelu, gated = separate>}
// CHECK-SAME: : (tensor<12x16xf16>, tensor<5xi64>, tensor<4x8x16xf16>, tensor<4x16x8xf16>, tensor<4x8x16xf16>, tensor<4x8xf16>, tensor<4x16xf16>, tensor<4x8xf16>) -> tensor<12x16xf16>
func.func @experts_up_biases(%r: tensor<12x16xf16>, %o: tensor<5xi64>, %w1: tensor<4x8x16xf16>,
                             %w2: tensor<4x16x8xf16>, %w3: tensor<4x8x16xf16>, %b1: tensor<4x8xf16>,
                             %b2: tensor<4x16xf16>, %b3: tensor<4x8xf16>) -> tensor<12x16xf16> {
  %y = moe.experts %r, %o gate_up %w1 down %w2 up %w3 gate_up_bias %b1 down_bias %b2 up_bias %b3
         {activation = #moe.activation<gelu, gated = separate>}
         : (tensor<12x16xf16>, tensor<5xi64>, tensor<4x8x16xf16>, tensor<4x16x8xf16>, tensor<4x8x16xf16>,
            tensor<4x8xf16>, tensor<4x16xf16>, tensor<4x8xf16>) -> tensor<12x16xf16>
  return %y : tensor<12x16xf16>
}

// CHECK-LABEL: func.func @experts_down_bias_only
// CHECK: moe.experts %arg0, %arg1 gate_up %arg2 down %arg3 down_bias %arg4 {activation = #moe.activation<relu>}
func.func @experts_down_bias_only(%r: tensor<?x16xf32>, %o: tensor<5xi32>, %w1: tensor<4x8x16xf32>,
                                  %w2: tensor<4x16x8xf32>, %b2: tensor<4x16xf32>) -> tensor<?x16xf32> {
  %y = moe.experts %r, %o gate_up %w1 down %w2 down_bias %b2 {activation = #moe.activation<relu>}
         : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<4x16xf32>)
         -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @combine
// CHECK: moe.combine %arg0, %arg1, %arg2 : (tensor<?x64xf32>, tensor<?x2xf32>, tensor<?xi32>) -> tensor<?x64xf32>
func.func @combine(%out: tensor<?x64xf32>, %w: tensor<?x2xf32>, %perm: tensor<?xi32>) -> tensor<?x64xf32> {
  %y = moe.combine %out, %w, %perm : (tensor<?x64xf32>, tensor<?x2xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @combine_static
// CHECK: moe.combine %arg0, %arg1, %arg2 : (tensor<8x16xbf16>, tensor<4x2xbf16>, tensor<8xi64>) -> tensor<4x16xbf16>
func.func @combine_static(%out: tensor<8x16xbf16>, %w: tensor<4x2xbf16>, %perm: tensor<8xi64>) -> tensor<4x16xbf16> {
  %y = moe.combine %out, %w, %perm : (tensor<8x16xbf16>, tensor<4x2xbf16>, tensor<8xi64>) -> tensor<4x16xbf16>
  return %y : tensor<4x16xbf16>
}

// CHECK-LABEL: func.func @attention
// CHECK: moe.sparse_attention %arg0, %arg1, %arg2 {pattern = #moe.attn_pattern<causal = true, window_left = 256>}
// CHECK-SAME: : (tensor<1x8x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>) -> tensor<1x8x?x64xf16>
func.func @attention(%q: tensor<1x8x?x64xf16>, %k: tensor<1x2x?x64xf16>, %v: tensor<1x2x?x64xf16>)
    -> tensor<1x8x?x64xf16> {
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true, window_left = 256>}
         : (tensor<1x8x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>) -> tensor<1x8x?x64xf16>
  return %o : tensor<1x8x?x64xf16>
}

// CHECK-LABEL: func.func @attention_scale
// CHECK: moe.sparse_attention %arg0, %arg1, %arg2 {pattern = #moe.attn_pattern<>, scale = 1.250000e-01 : f64}
// CHECK-SAME: : (tensor<2x4x16x64xf32>, tensor<2x4x32x64xf32>, tensor<2x4x32x32xf32>) -> tensor<2x4x16x32xf32>
func.func @attention_scale(%q: tensor<2x4x16x64xf32>, %k: tensor<2x4x32x64xf32>, %v: tensor<2x4x32x32xf32>)
    -> tensor<2x4x16x32xf32> {
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<>, scale = 0.125 : f64}
         : (tensor<2x4x16x64xf32>, tensor<2x4x32x64xf32>, tensor<2x4x32x32xf32>) -> tensor<2x4x16x32xf32>
  return %o : tensor<2x4x16x32xf32>
}

// CHECK-LABEL: func.func @attention_head_spans
// CHECK: moe.sparse_attention %arg0, %arg1, %arg2 {pattern = #moe.attn_pattern<causal = true, head_spans = [16, 32, 64, 128]>}
func.func @attention_head_spans(%q: tensor<1x4x?x64xbf16>, %k: tensor<1x1x?x64xbf16>, %v: tensor<1x1x?x64xbf16>)
    -> tensor<1x4x?x64xbf16> {
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true, head_spans = [16, 32, 64, 128]>}
         : (tensor<1x4x?x64xbf16>, tensor<1x1x?x64xbf16>, tensor<1x1x?x64xbf16>) -> tensor<1x4x?x64xbf16>
  return %o : tensor<1x4x?x64xbf16>
}

// S = 128 and Skv = 96 with 32-wide blocks: Qb = 4, Kb = 3; the mask is shared by all heads.
// CHECK-LABEL: func.func @attention_block_mask
// CHECK: moe.sparse_attention %arg0, %arg1, %arg2 block_mask(%arg3, %arg4) {
// CHECK-SAME: pattern = #moe.attn_pattern<sink_blocks = 1, vertical_stride = 4, block_q = 32, block_kv = 32>
// CHECK-SAME: scale = 1.250000e-01 : f64
// CHECK-SAME: : (tensor<2x4x128x64xf32>, tensor<2x4x96x64xf32>, tensor<2x4x96x64xf32>, tensor<2x1x4xi32>, tensor<2x1x4x3xi32>) -> tensor<2x4x128x64xf32>
func.func @attention_block_mask(%q: tensor<2x4x128x64xf32>, %k: tensor<2x4x96x64xf32>, %v: tensor<2x4x96x64xf32>,
                                %n: tensor<2x1x4xi32>, %idx: tensor<2x1x4x3xi32>) -> tensor<2x4x128x64xf32> {
  %o = moe.sparse_attention %q, %k, %v block_mask(%n, %idx)
         {pattern = #moe.attn_pattern<sink_blocks = 1, vertical_stride = 4, block_q = 32, block_kv = 32>,
          scale = 0.125 : f64}
         : (tensor<2x4x128x64xf32>, tensor<2x4x96x64xf32>, tensor<2x4x96x64xf32>, tensor<2x1x4xi32>,
            tensor<2x1x4x3xi32>) -> tensor<2x4x128x64xf32>
  return %o : tensor<2x4x128x64xf32>
}

// A per-head block mask (Hm = Hq) with i64 entries.
// CHECK-LABEL: func.func @attention_block_mask_per_head
// CHECK: moe.sparse_attention %arg0, %arg1, %arg2 block_mask(%arg3, %arg4) {pattern = #moe.attn_pattern<causal = true>}
// CHECK-SAME: tensor<1x8x2xi64>, tensor<1x8x2x2xi64>) -> tensor<1x8x128x64xf16>
func.func @attention_block_mask_per_head(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>,
                                         %v: tensor<1x2x128x64xf16>, %n: tensor<1x8x2xi64>,
                                         %idx: tensor<1x8x2x2xi64>) -> tensor<1x8x128x64xf16> {
  %o = moe.sparse_attention %q, %k, %v block_mask(%n, %idx) {pattern = #moe.attn_pattern<causal = true>}
         : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x8x2xi64>,
            tensor<1x8x2x2xi64>) -> tensor<1x8x128x64xf16>
  return %o : tensor<1x8x128x64xf16>
}

// CHECK-LABEL: func.func @nm_matmul
// CHECK: moe.nm_matmul %arg0, %arg1, %arg2 {sparsity = #moe.nm<2, 4>}
// CHECK-SAME: : (tensor<?x128xf16>, tensor<64x64xf16>, tensor<64x64xi8>) -> tensor<?x64xf16>
func.func @nm_matmul(%x: tensor<?x128xf16>, %vals: tensor<64x64xf16>, %idx: tensor<64x64xi8>) -> tensor<?x64xf16> {
  %y = moe.nm_matmul %x, %vals, %idx {sparsity = #moe.nm<2, 4>}
         : (tensor<?x128xf16>, tensor<64x64xf16>, tensor<64x64xi8>) -> tensor<?x64xf16>
  return %y : tensor<?x64xf16>
}

// CHECK-LABEL: func.func @nm_matmul_1_of_8
// CHECK: moe.nm_matmul %arg0, %arg1, %arg2 {sparsity = #moe.nm<1, 8>}
// CHECK-SAME: : (tensor<4x64xbf16>, tensor<32x8xbf16>, tensor<32x8xi32>) -> tensor<4x32xbf16>
func.func @nm_matmul_1_of_8(%x: tensor<4x64xbf16>, %vals: tensor<32x8xbf16>, %idx: tensor<32x8xi32>) -> tensor<4x32xbf16> {
  %y = moe.nm_matmul %x, %vals, %idx {sparsity = #moe.nm<1, 8>}
         : (tensor<4x64xbf16>, tensor<32x8xbf16>, tensor<32x8xi32>) -> tensor<4x32xbf16>
  return %y : tensor<4x32xbf16>
}

// CHECK-LABEL: func.func @prefetch
// CHECK: moe.prefetch %arg0, %arg1 {device = 1 : i64} : tensor<8x256x64xf32>, tensor<?x2xi32>
// CHECK: moe.prefetch %arg0, %arg2 : tensor<8x256x64xf32>, tensor<4xi64>
// CHECK-NOT: device
// CHECK: return
func.func @prefetch(%w: tensor<8x256x64xf32>, %ids: tensor<?x2xi32>, %ids2: tensor<4xi64>) {
  moe.prefetch %w, %ids {device = 1} : tensor<8x256x64xf32>, tensor<?x2xi32>
  moe.prefetch %w, %ids2 {device = 0} : tensor<8x256x64xf32>, tensor<4xi64>
  return
}

// CHECK-LABEL: func.func @all_to_all
// CHECK: %recv, %recv_counts = moe.all_to_all %arg0, %arg1 {group_size = 4 : i64}
// CHECK-SAME: : (tensor<?x64xbf16>, tensor<4xi32>) -> (tensor<?x64xbf16>, tensor<4xi32>)
func.func @all_to_all(%rows: tensor<?x64xbf16>, %counts: tensor<4xi32>) -> (tensor<?x64xbf16>, tensor<4xi32>) {
  %recv, %rc = moe.all_to_all %rows, %counts {group_size = 4}
      : (tensor<?x64xbf16>, tensor<4xi32>) -> (tensor<?x64xbf16>, tensor<4xi32>)
  return %recv, %rc : tensor<?x64xbf16>, tensor<4xi32>
}

// Any element type travels; the row count may change.
// CHECK-LABEL: func.func @all_to_all_rank3
// CHECK: moe.all_to_all %arg0, %arg1 {group_size = 2 : i64}
// CHECK-SAME: : (tensor<6x4x8xi8>, tensor<2xi64>) -> (tensor<?x4x8xi8>, tensor<2xi64>)
func.func @all_to_all_rank3(%rows: tensor<6x4x8xi8>, %counts: tensor<2xi64>) -> (tensor<?x4x8xi8>, tensor<2xi64>) {
  %recv, %rc = moe.all_to_all %rows, %counts {group_size = 2}
      : (tensor<6x4x8xi8>, tensor<2xi64>) -> (tensor<?x4x8xi8>, tensor<2xi64>)
  return %recv, %rc : tensor<?x4x8xi8>, tensor<2xi64>
}

// CHECK-LABEL: func.func @nm_encoding
// CHECK-SAME: %arg0: tensor<64x128xbf16, #moe.nm<2, 4>>
// CHECK-SAME: %arg1: tensor<4x?xf16, #moe.nm<1, 8>>
func.func @nm_encoding(%w: tensor<64x128xbf16, #moe.nm<2, 4>>, %w2: tensor<4x?xf16, #moe.nm<1, 8>>) {
  return
}

// A block size as large as int64 allows still gives one query block.
// CHECK-LABEL: func.func @huge_block_size
// CHECK: moe.sparse_attention %arg0, %arg0, %arg0 block_mask(%arg1, %arg2) {pattern = #moe.attn_pattern<block_q = 9223372036854775807>}
func.func @huge_block_size(%q: tensor<1x8x128x32xf32>, %n: tensor<1x1x1xi32>, %i: tensor<1x1x1x2xi32>) -> tensor<1x8x128x32xf32> {
  %o = moe.sparse_attention %q, %q, %q block_mask(%n, %i) {pattern = #moe.attn_pattern<block_q = 9223372036854775807>} : (tensor<1x8x128x32xf32>, tensor<1x8x128x32xf32>, tensor<1x8x128x32xf32>, tensor<1x1x1xi32>, tensor<1x1x1x2xi32>) -> tensor<1x8x128x32xf32>
  return %o : tensor<1x8x128x32xf32>
}
