// Every error of the moe verifiers and attribute parsers, one per split.
// RUN: moe-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{#moe.routing: k must be at least 1, got 0}}
func.func @f() attributes {a = #moe.routing<softmax_topk, k = 0>} {
  return
}

// -----

// expected-error @+1 {{#moe.routing: scale must be positive and finite, got -1.000000e+00}}
func.func @f() attributes {a = #moe.routing<softmax_topk, k = 2, scale = -1.0>} {
  return
}

// -----

// 0x7FF0000000000000 is +infinity.
// expected-error @+1 {{#moe.routing: scale must be positive and finite, got INF}}
func.func @f() attributes {a = #moe.routing<softmax_topk, k = 2, scale = 0x7FF0000000000000>} {
  return
}

// -----

// expected-error @+1 {{#moe.routing: num_groups must be at least 1, got 0}}
func.func @f() attributes {a = #moe.routing<softmax_topk, k = 2, num_groups = 0>} {
  return
}

// -----

// expected-error @+1 {{#moe.routing: topk_groups must be in [1, num_groups = 4], got 5}}
func.func @f() attributes {a = #moe.routing<softmax_topk, k = 2, num_groups = 4, topk_groups = 5>} {
  return
}

// -----

// expected-error @+1 {{#moe.routing: topk_groups must be in [1, num_groups = 4], got 0}}
func.func @f() attributes {a = #moe.routing<softmax_topk, k = 2, num_groups = 4, topk_groups = 0>} {
  return
}

// -----

// expected-error @+1 {{#moe.routing: capacity_factor must be 0 (no dropping) or positive, got -5.000000e-01}}
func.func @f() attributes {a = #moe.routing<softmax_topk, k = 2, capacity_factor = -0.5>} {
  return
}

// -----

// expected-error @+1 {{#moe.routing: normalize has no effect with topk_softmax, whose weights already sum to 1}}
func.func @f() attributes {a = #moe.routing<topk_softmax, k = 2, normalize = true>} {
  return
}

// -----

// expected-error @+1 {{#moe.activation: alpha must be positive and finite, got 0.000000e+00}}
func.func @f() attributes {a = #moe.activation<silu, alpha = 0.0>} {
  return
}

// -----

// 0x7FF0000000000000 is +infinity.
// expected-error @+1 {{#moe.activation: alpha must be positive and finite, got INF}}
func.func @f() attributes {a = #moe.activation<silu, alpha = 0x7FF0000000000000>} {
  return
}

// -----

// expected-error @+1 {{#moe.activation: alpha applies to silu only, not gelu}}
func.func @f() attributes {a = #moe.activation<gelu, alpha = 1.702>} {
  return
}

// -----

// 0x7FF0000000000000 is +infinity.
// expected-error @+1 {{#moe.activation: beta must be finite}}
func.func @f() attributes {a = #moe.activation<silu, gated = separate, beta = 0x7FF0000000000000>} {
  return
}

// -----

// expected-error @+1 {{#moe.activation: beta needs a gated activation}}
func.func @f() attributes {a = #moe.activation<silu, beta = 1.0>} {
  return
}

// -----

// expected-error @+1 {{#moe.activation: limit needs a gated activation}}
func.func @f() attributes {a = #moe.activation<silu, limit = 7.0>} {
  return
}

// -----

// expected-error @+1 {{#moe.activation: limit must be positive and finite, got 0.000000e+00}}
func.func @f() attributes {a = #moe.activation<silu, gated = interleaved, limit = 0.0>} {
  return
}

// -----

// expected-error @+1 {{#moe.activation: limit must be positive and finite, got -1.500000e+00}}
func.func @f() attributes {a = #moe.activation<silu, gated = separate, limit = -1.5>} {
  return
}

// -----

// expected-error @+1 {{#moe.attn_pattern: window_left must be -1 (unbounded) or at least 0, got -2}}
func.func @f() attributes {a = #moe.attn_pattern<window_left = -2>} {
  return
}

// -----

// expected-error @+1 {{#moe.attn_pattern: window_right must be -1 (unbounded) or at least 0, got -3}}
func.func @f() attributes {a = #moe.attn_pattern<window_right = -3>} {
  return
}

// -----

// expected-error @+1 {{#moe.attn_pattern: window_right = 4 contradicts causal = true}}
func.func @f() attributes {a = #moe.attn_pattern<causal = true, window_right = 4>} {
  return
}

// -----

// expected-error @+1 {{#moe.attn_pattern: sink_blocks must be at least 0, got -1}}
func.func @f() attributes {a = #moe.attn_pattern<sink_blocks = -1>} {
  return
}

// -----

// expected-error @+1 {{#moe.attn_pattern: vertical_stride must be at least 0, got -1}}
func.func @f() attributes {a = #moe.attn_pattern<vertical_stride = -1>} {
  return
}

// -----

// expected-error @+1 {{#moe.attn_pattern: block sizes must be positive, got block_q = 0, block_kv = 64}}
func.func @f() attributes {a = #moe.attn_pattern<block_q = 0>} {
  return
}

// -----

// expected-error @+1 {{#moe.attn_pattern: block sizes must be positive, got block_q = 64, block_kv = -8}}
func.func @f() attributes {a = #moe.attn_pattern<block_kv = -8>} {
  return
}

// -----

// expected-error @+1 {{#moe.attn_pattern: head_spans[1] must be at least 0, got -1}}
func.func @f() attributes {a = #moe.attn_pattern<head_spans = [4, -1, 8]>} {
  return
}

// -----

// expected-error @+1 {{#moe.attn_pattern: give either window_left or head_spans, not both}}
func.func @f() attributes {a = #moe.attn_pattern<window_left = 16, head_spans = [4, 8]>} {
  return
}

// -----

// expected-error @+1 {{#moe.nm: m must be in [2, 64], got 1}}
func.func @f() attributes {a = #moe.nm<1, 1>} {
  return
}

// -----

// expected-error @+1 {{#moe.nm: m must be in [2, 64], got 128}}
func.func @f() attributes {a = #moe.nm<2, 128>} {
  return
}

// -----

// expected-error @+1 {{#moe.nm: n must be in [1, m), got n = 0, m = 4}}
func.func @f() attributes {a = #moe.nm<0, 4>} {
  return
}

// -----

// expected-error @+1 {{#moe.nm: n must be in [1, m), got n = 4, m = 4}}
func.func @f() attributes {a = #moe.nm<4, 4>} {
  return
}

// -----

// expected-error @+1 {{#moe.nm needs a tensor of rank 1 or more}}
func.func @f(%w: tensor<f16, #moe.nm<2, 4>>) {
  return
}

// -----

// expected-error @+1 {{#moe.nm needs a floating-point element type, got 'i8'}}
func.func @f(%w: tensor<64x64xi8, #moe.nm<2, 4>>) {
  return
}

// -----

// expected-error @+1 {{#moe.nm<2, 4>: innermost dimension 6 is not a multiple of m = 4}}
func.func @f(%w: tensor<64x6xf16, #moe.nm<2, 4>>) {
  return
}

// -----

func.func @f(%x: tensor<4x64x1xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'tokens' must have rank 2 [T, H], got 'tensor<4x64x1xf32>'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64x1xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'logits' must have rank 2 [T, EZ], got 'tensor<8xf32>'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<5x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'logits' dimension 0 (T, tokens) is 5, but 'tokens' gives T = 4}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<5x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'gate_up' must have rank 3 [E, F, H], got 'tensor<8x32xf32>'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x32xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'gate_up' dimension 2 (H, hidden size) is 32, but 'tokens' gives H = 64}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x32xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<6x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'down' dimension 0 (E, experts) is 6, but 'gate_up' gives E = 8}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<6x64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x48x32xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'down' dimension 1 (H, hidden size) is 48, but 'tokens' gives H = 64}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x48x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'gate_up' has 32 rows per expert, but activation concatenated needs 2 x 32 (the intermediate size of 'down')}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<silu, gated = concatenated>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

// An ungated activation wants F = I.
func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x64x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'gate_up' has 64 rows per expert, but activation none needs 1 x 32 (the intermediate size of 'down')}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x64x64xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'up' is required with gated = separate}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<silu, gated = separate>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

// The interleaved layout carries up inside gate_up.
func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x64x64xf32>, %w2: tensor<8x64x32xf32>, %w3: tensor<8x32x64xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'up' is only allowed with gated = separate}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 up %w3 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<silu, gated = interleaved>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x64x64xf32>, tensor<8x64x32xf32>, tensor<8x32x64xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %b3: tensor<8x32xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'up_bias' needs operand 'up'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 up_bias %b3 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<8x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %w3: tensor<8x16x64xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'up' dimension 1 (I, intermediate size) is 16, but 'down' gives I = 32}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 up %w3 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<silu, gated = separate>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<8x16x64xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %w3: tensor<4x32x64xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'up' dimension 0 (E, experts) is 4, but 'gate_up' gives E = 8}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 up %w3 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<silu, gated = separate>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<4x32x64xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %b1: tensor<8x16xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'gate_up_bias' dimension 1 (F, first-projection rows) is 16, but 'gate_up' gives F = 32}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 gate_up_bias %b1 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<8x16xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %b2: tensor<64xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'down_bias' must have rank 2 [E, H], got 'tensor<64xf32>'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 down_bias %b2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<64xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %b2: tensor<8x32xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'down_bias' dimension 1 (H, hidden size) is 32, but 'tokens' gives H = 64}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 down_bias %b2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<8x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %w3: tensor<8x32x64xf32>, %b3: tensor<8x64xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'up_bias' dimension 1 (I, intermediate size) is 64, but 'down' gives I = 32}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 up %w3 up_bias %b3 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<silu, gated = separate>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<8x32x64xf32>, tensor<8x64xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op 'logits' gives EZ (router columns) = 8, but experts + zero/copy/constant experts (8 + 1) = 9}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>, num_zero_experts = 1} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x10xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op 'logits' gives EZ (router columns) = 10, but experts + zero/copy/constant experts (8 + 3) = 11}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>, num_zero_experts = 1, num_copy_experts = 2} : (tensor<4x64xf32>, tensor<4x10xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x10xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %c: tensor<3x64xf32>) {
  // expected-error @+1 {{'moe.layer' op 'logits' gives EZ (router columns) = 10, but experts + zero/copy/constant experts (8 + 3) = 11}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 constant_experts %c {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x10xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<3x64xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x10xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %c: tensor<2x32xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'constant_experts' dimension 1 (H, hidden size) is 32, but 'tokens' gives H = 64}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 constant_experts %c {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x10xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<2x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x9xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %c: tensor<64xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'constant_experts' must have rank 2 [C, H], got 'tensor<64xf32>'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 constant_experts %c {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x9xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<64xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %rb: tensor<6xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'routing_bias' dimension 0 (EZ, router columns) is 6, but 'logits' gives EZ = 8}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 routing_bias %rb {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<6xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op routing chooses k = 9 experts, but 'logits' has only 8}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 9>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op routing splits 8 experts into num_groups = 3, which does not divide them}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<sigmoid_topk, k = 2, num_groups = 3>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op routing chooses k = 3 experts from topk_groups = 1 groups of 2, only 2 candidates}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<sigmoid_topk, k = 3, num_groups = 4, topk_groups = 1>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

// The groups split all router columns, null experts included.
func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x10xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op routing splits 10 experts into num_groups = 4, which does not divide them}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<sigmoid_topk, k = 2, num_groups = 4>, activation = #moe.activation<relu>, num_copy_experts = 2} : (tensor<4x64xf32>, tensor<4x10xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %s1: tensor<2x48x64xf32>) {
  // expected-error @+1 {{'moe.layer' op shared experts need both 'shared_gate_up' and 'shared_down'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 shared_gate_up %s1 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<2x48x64xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %s2: tensor<2x64x48xf32>) {
  // expected-error @+1 {{'moe.layer' op shared experts need both 'shared_gate_up' and 'shared_down'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 shared_down %s2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<2x64x48xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %w3: tensor<8x32x64xf32>, %s3: tensor<2x48x64xf32>) {
  // expected-error @+1 {{'moe.layer' op 'shared_up' and 'shared_gate' need 'shared_gate_up' and 'shared_down'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 up %w3 shared_up %s3 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<silu, gated = separate>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<8x32x64xf32>, tensor<2x48x64xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %sg: tensor<2x64xf32>) {
  // expected-error @+1 {{'moe.layer' op 'shared_up' and 'shared_gate' need 'shared_gate_up' and 'shared_down'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 shared_gate %sg {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<2x64xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %s1: tensor<2x48x32xf32>, %s2: tensor<2x64x48xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'shared_gate_up' dimension 2 (H, hidden size) is 32, but 'tokens' gives H = 64}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 shared_gate_up %s1 shared_down %s2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<2x48x32xf32>, tensor<2x64x48xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %s1: tensor<2x48x64xf32>, %s2: tensor<3x64x48xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'shared_down' dimension 0 (S, shared experts) is 3, but 'shared_gate_up' gives S = 2}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 shared_gate_up %s1 shared_down %s2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<2x48x64xf32>, tensor<3x64x48xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x64x64xf32>, %w2: tensor<8x64x32xf32>, %s1: tensor<2x48x64xf32>, %s2: tensor<2x64x48xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'shared_gate_up' has 48 rows per expert, but activation concatenated needs 2 x 48 (the intermediate size of 'shared_down')}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 shared_gate_up %s1 shared_down %s2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<silu, gated = concatenated>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x64x64xf32>, tensor<8x64x32xf32>, tensor<2x48x64xf32>, tensor<2x64x48xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %w3: tensor<8x32x64xf32>, %s1: tensor<2x48x64xf32>, %s2: tensor<2x64x48xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'shared_up' is required with gated = separate}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 up %w3 shared_gate_up %s1 shared_down %s2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<silu, gated = separate>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<8x32x64xf32>, tensor<2x48x64xf32>, tensor<2x64x48xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %s1: tensor<2x48x64xf32>, %s2: tensor<2x64x48xf32>, %s3: tensor<2x48x64xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'shared_up' is only allowed with gated = separate}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 shared_gate_up %s1 shared_down %s2 shared_up %s3 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<2x48x64xf32>, tensor<2x64x48xf32>, tensor<2x48x64xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %w3: tensor<8x32x64xf32>, %s1: tensor<2x48x64xf32>, %s2: tensor<2x64x48xf32>, %s3: tensor<2x40x64xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'shared_up' dimension 1 (Is, shared intermediate size) is 40, but 'shared_down' gives Is = 48}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 up %w3 shared_gate_up %s1 shared_down %s2 shared_up %s3 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<silu, gated = separate>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<8x32x64xf32>, tensor<2x48x64xf32>, tensor<2x64x48xf32>, tensor<2x40x64xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %s1: tensor<2x48x64xf32>, %s2: tensor<2x64x48xf32>, %sg: tensor<3x64xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'shared_gate' dimension 0 (S, shared experts) is 3, but 'shared_gate_up' gives S = 2}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 shared_gate_up %s1 shared_down %s2 shared_gate %sg {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<2x48x64xf32>, tensor<2x64x48xf32>, tensor<3x64xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %s1: tensor<2x48x64xf32>, %s2: tensor<2x64x48xf32>, %sg: tensor<2x32xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'shared_gate' dimension 1 (H, hidden size) is 32, but 'tokens' gives H = 64}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 shared_gate_up %s1 shared_down %s2 shared_gate %sg {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<2x48x64xf32>, tensor<2x64x48xf32>, tensor<2x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op result 'result' dimension 1 (H, hidden size) is 32, but 'tokens' gives H = 64}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<4x32xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op result 'result' dimension 0 (T, tokens) is 8, but 'tokens' gives T = 4}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<8x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf16>) {
  // expected-error @+1 {{'moe.layer' op operand 'down' has element type 'f16', but 'tokens' has 'f32'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf16>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %s1: tensor<2x48x64xf32>, %s2: tensor<2x64x48xf32>, %sg: tensor<2x64xbf16>) {
  // expected-error @+1 {{'moe.layer' op operand 'shared_gate' has element type 'bf16', but 'tokens' has 'f32'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 shared_gate_up %s1 shared_down %s2 shared_gate %sg {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<2x48x64xf32>, tensor<2x64x48xf32>, tensor<2x64xbf16>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x9xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %c: tensor<1x64xf16>) {
  // expected-error @+1 {{'moe.layer' op operand 'constant_experts' has element type 'f16', but 'tokens' has 'f32'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 constant_experts %c {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x9xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<1x64xf16>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op operand 'result' has element type 'f16', but 'tokens' has 'f32'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf16>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op attribute 'num_zero_experts' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>, num_zero_experts = -1} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op attribute 'num_copy_experts' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>, num_copy_experts = -2} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%l: tensor<8xf32>) {
  // expected-error @+1 {{'moe.route' op operand 'logits' must have rank 2 [T, E], got 'tensor<8xf32>'}}
  %w, %ids = moe.route %l {routing = #moe.routing<softmax_topk, k = 2>} : (tensor<8xf32>) -> (tensor<4x2xf32>, tensor<4x2xi32>)
  return
}

// -----

func.func @f(%l: tensor<4x8xf32>, %b: tensor<6xf32>) {
  // expected-error @+1 {{'moe.route' op operand 'bias' dimension 0 (E, experts) is 6, but 'logits' gives E = 8}}
  %w, %ids = moe.route %l bias %b {routing = #moe.routing<softmax_topk, k = 2>} : (tensor<4x8xf32>, tensor<6xf32>) -> (tensor<4x2xf32>, tensor<4x2xi32>)
  return
}

// -----

func.func @f(%l: tensor<4x8xf32>, %b: tensor<1x8xf32>) {
  // expected-error @+1 {{'moe.route' op operand 'bias' must have rank 1 [E], got 'tensor<1x8xf32>'}}
  %w, %ids = moe.route %l bias %b {routing = #moe.routing<softmax_topk, k = 2>} : (tensor<4x8xf32>, tensor<1x8xf32>) -> (tensor<4x2xf32>, tensor<4x2xi32>)
  return
}

// -----

func.func @f(%l: tensor<4x8xf32>) {
  // expected-error @+1 {{'moe.route' op result 'weights' dimension 1 (k, experts per token) is 3, but 'routing' gives k = 2}}
  %w, %ids = moe.route %l {routing = #moe.routing<softmax_topk, k = 2>} : (tensor<4x8xf32>) -> (tensor<4x3xf32>, tensor<4x2xi32>)
  return
}

// -----

func.func @f(%l: tensor<4x8xf32>) {
  // expected-error @+1 {{'moe.route' op result 'ids' dimension 1 (k, experts per token) is 4, but 'routing' gives k = 2}}
  %w, %ids = moe.route %l {routing = #moe.routing<softmax_topk, k = 2>} : (tensor<4x8xf32>) -> (tensor<4x2xf32>, tensor<4x4xi64>)
  return
}

// -----

func.func @f(%l: tensor<4x8xf32>) {
  // expected-error @+1 {{'moe.route' op result 'ids' dimension 0 (T, tokens) is 5, but 'logits' gives T = 4}}
  %w, %ids = moe.route %l {routing = #moe.routing<softmax_topk, k = 2>} : (tensor<4x8xf32>) -> (tensor<4x2xf32>, tensor<5x2xi32>)
  return
}

// -----

func.func @f(%l: tensor<4x8xf32>) {
  // expected-error @+1 {{'moe.route' op routing chooses k = 9 experts, but 'logits' has only 8}}
  %w, %ids = moe.route %l {routing = #moe.routing<softmax_topk, k = 9>} : (tensor<4x8xf32>) -> (tensor<4x9xf32>, tensor<4x9xi32>)
  return
}

// -----

func.func @f(%l: tensor<4x8xf32>) {
  // expected-error @+1 {{'moe.route' op routing splits 8 experts into num_groups = 3, which does not divide them}}
  %w, %ids = moe.route %l {routing = #moe.routing<sigmoid_topk, k = 2, num_groups = 3>} : (tensor<4x8xf32>) -> (tensor<4x2xf32>, tensor<4x2xi32>)
  return
}

// -----

func.func @f(%l: tensor<4x8xf32>) {
  // expected-error @+1 {{'moe.route' op routing chooses k = 2 experts from topk_groups = 1 groups of 1, only 1 candidates}}
  %w, %ids = moe.route %l {routing = #moe.routing<sigmoid_topk, k = 2, num_groups = 8, topk_groups = 1>} : (tensor<4x8xf32>) -> (tensor<4x2xf32>, tensor<4x2xi32>)
  return
}

// -----

func.func @f(%l: tensor<4x8xf32>) {
  // expected-error @+1 {{'moe.route' op operand 'weights' has element type 'f16', but 'logits' has 'f32'}}
  %w, %ids = moe.route %l {routing = #moe.routing<softmax_topk, k = 2>} : (tensor<4x8xf32>) -> (tensor<4x2xf16>, tensor<4x2xi32>)
  return
}

// -----

func.func @f(%l: tensor<4x8xf32>, %b: tensor<8xbf16>) {
  // expected-error @+1 {{'moe.route' op operand 'bias' has element type 'bf16', but 'logits' has 'f32'}}
  %w, %ids = moe.route %l bias %b {routing = #moe.routing<softmax_topk, k = 2>} : (tensor<4x8xf32>, tensor<8xbf16>) -> (tensor<4x2xf32>, tensor<4x2xi32>)
  return
}

// -----

func.func @f(%l: tensor<4x8xf32>) {
  // expected-error @+1 {{'moe.route' op result #1 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values, but got 'tensor<4x2xf32>'}}
  %w, %ids = moe.route %l {routing = #moe.routing<softmax_topk, k = 2>} : (tensor<4x8xf32>) -> (tensor<4x2xf32>, tensor<4x2xf32>)
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %ids: tensor<4x2xi32>) {
  // expected-error @+1 {{'moe.dispatch' op 'rows' gives R (dispatched rows) = 7, but tokens x k = 8}}
  %rows, %off, %perm = moe.dispatch %x, %ids : (tensor<4x64xf32>, tensor<4x2xi32>) -> (tensor<7x64xf32>, tensor<9xi32>, tensor<7xi32>)
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %ids: tensor<4x2xi32>) {
  // expected-error @+1 {{'moe.dispatch' op 'permutation' gives R (dispatched rows) = 6, but tokens x k = 8}}
  %rows, %off, %perm = moe.dispatch %x, %ids : (tensor<4x64xf32>, tensor<4x2xi32>) -> (tensor<?x64xf32>, tensor<9xi32>, tensor<6xi32>)
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %ids: tensor<4x2xi32>) {
  // expected-error @+1 {{'moe.dispatch' op result 'permutation' dimension 0 (R, dispatched rows) is 6, but 'rows' gives R = 8}}
  %rows, %off, %perm = moe.dispatch %x, %ids : (tensor<4x64xf32>, tensor<4x2xi32>) -> (tensor<8x64xf32>, tensor<9xi32>, tensor<6xi32>)
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %ids: tensor<5x2xi32>) {
  // expected-error @+1 {{'moe.dispatch' op operand 'ids' dimension 0 (T, tokens) is 5, but 'tokens' gives T = 4}}
  %rows, %off, %perm = moe.dispatch %x, %ids : (tensor<4x64xf32>, tensor<5x2xi32>) -> (tensor<8x64xf32>, tensor<9xi32>, tensor<8xi32>)
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %ids: tensor<4x2xi32>) {
  // expected-error @+1 {{'moe.dispatch' op result 'rows' dimension 1 (H, hidden size) is 32, but 'tokens' gives H = 64}}
  %rows, %off, %perm = moe.dispatch %x, %ids : (tensor<4x64xf32>, tensor<4x2xi32>) -> (tensor<8x32xf32>, tensor<9xi32>, tensor<8xi32>)
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %ids: tensor<4x2xi32>) {
  // expected-error @+1 {{'moe.dispatch' op result 'offsets' needs at least one element (E + 1)}}
  %rows, %off, %perm = moe.dispatch %x, %ids : (tensor<4x64xf32>, tensor<4x2xi32>) -> (tensor<8x64xf32>, tensor<0xi32>, tensor<8xi32>)
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %ids: tensor<4x2xi32>) {
  // expected-error @+1 {{'moe.dispatch' op result 'offsets' must have rank 1, got 'tensor<3x3xi32>'}}
  %rows, %off, %perm = moe.dispatch %x, %ids : (tensor<4x64xf32>, tensor<4x2xi32>) -> (tensor<8x64xf32>, tensor<3x3xi32>, tensor<8xi32>)
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %ids: tensor<4x2xi32>) {
  // expected-error @+1 {{'moe.dispatch' op operand 'rows' has element type 'f16', but 'tokens' has 'f32'}}
  %rows, %off, %perm = moe.dispatch %x, %ids : (tensor<4x64xf32>, tensor<4x2xi32>) -> (tensor<8x64xf16>, tensor<9xi32>, tensor<8xi32>)
  return
}

// -----

func.func @f(%r: tensor<12x64xf32>, %o: tensor<8xi32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.experts' op operand 'offsets' has 8 elements, but 'gate_up' has 8 experts, which need 9}}
  %y = moe.experts %r, %o gate_up %w1 down %w2 {activation = #moe.activation<relu>} : (tensor<12x64xf32>, tensor<8xi32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<12x64xf32>
  return
}

// -----

func.func @f(%r: tensor<12x64xf32>, %o: tensor<1x9xi64>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.experts' op operand 'offsets' must have rank 1, got 'tensor<1x9xi64>'}}
  %y = moe.experts %r, %o gate_up %w1 down %w2 {activation = #moe.activation<relu>} : (tensor<12x64xf32>, tensor<1x9xi64>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<12x64xf32>
  return
}

// -----

func.func @f(%r: tensor<12xf32>, %o: tensor<9xi32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.experts' op operand 'rows' must have rank 2 [R, H], got 'tensor<12xf32>'}}
  %y = moe.experts %r, %o gate_up %w1 down %w2 {activation = #moe.activation<relu>} : (tensor<12xf32>, tensor<9xi32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<12x64xf32>
  return
}

// -----

func.func @f(%r: tensor<12x64xf32>, %o: tensor<9xi32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.experts' op result 'result' dimension 0 (R, dispatched rows) is 10, but 'rows' gives R = 12}}
  %y = moe.experts %r, %o gate_up %w1 down %w2 {activation = #moe.activation<relu>} : (tensor<12x64xf32>, tensor<9xi32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<10x64xf32>
  return
}

// -----

func.func @f(%r: tensor<12x64xf32>, %o: tensor<9xi32>, %w1: tensor<8x32x32xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.experts' op operand 'gate_up' dimension 2 (H, hidden size) is 32, but 'rows' gives H = 64}}
  %y = moe.experts %r, %o gate_up %w1 down %w2 {activation = #moe.activation<relu>} : (tensor<12x64xf32>, tensor<9xi32>, tensor<8x32x32xf32>, tensor<8x64x32xf32>) -> tensor<12x64xf32>
  return
}

// -----

func.func @f(%r: tensor<12x64xf32>, %o: tensor<9xi32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.experts' op operand 'gate_up' has 32 rows per expert, but activation interleaved needs 2 x 32 (the intermediate size of 'down')}}
  %y = moe.experts %r, %o gate_up %w1 down %w2 {activation = #moe.activation<silu, gated = interleaved>} : (tensor<12x64xf32>, tensor<9xi32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<12x64xf32>
  return
}

// -----

func.func @f(%r: tensor<12x64xf32>, %o: tensor<9xi32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.experts' op operand 'up' is required with gated = separate}}
  %y = moe.experts %r, %o gate_up %w1 down %w2 {activation = #moe.activation<gelu, gated = separate>} : (tensor<12x64xf32>, tensor<9xi32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<12x64xf32>
  return
}

// -----

func.func @f(%r: tensor<12x64xf32>, %o: tensor<9xi32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %w3: tensor<8x32x64xf32>) {
  // expected-error @+1 {{'moe.experts' op operand 'up' is only allowed with gated = separate}}
  %y = moe.experts %r, %o gate_up %w1 down %w2 up %w3 {activation = #moe.activation<relu>} : (tensor<12x64xf32>, tensor<9xi32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<8x32x64xf32>) -> tensor<12x64xf32>
  return
}

// -----

func.func @f(%r: tensor<12x64xf32>, %o: tensor<9xi32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %b3: tensor<8x32xf32>) {
  // expected-error @+1 {{'moe.experts' op operand 'up_bias' needs operand 'up'}}
  %y = moe.experts %r, %o gate_up %w1 down %w2 up_bias %b3 {activation = #moe.activation<relu>} : (tensor<12x64xf32>, tensor<9xi32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<8x32xf32>) -> tensor<12x64xf32>
  return
}

// -----

func.func @f(%r: tensor<12x64xf32>, %o: tensor<9xi32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %b1: tensor<4x32xf32>) {
  // expected-error @+1 {{'moe.experts' op operand 'gate_up_bias' dimension 0 (E, experts) is 4, but 'gate_up' gives E = 8}}
  %y = moe.experts %r, %o gate_up %w1 down %w2 gate_up_bias %b1 {activation = #moe.activation<relu>} : (tensor<12x64xf32>, tensor<9xi32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<4x32xf32>) -> tensor<12x64xf32>
  return
}

// -----

func.func @f(%r: tensor<12x64xf32>, %o: tensor<9xi32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %w3: tensor<8x32x64xf32>, %b3: tensor<8x32xf16>) {
  // expected-error @+1 {{'moe.experts' op operand 'up_bias' has element type 'f16', but 'rows' has 'f32'}}
  %y = moe.experts %r, %o gate_up %w1 down %w2 up %w3 up_bias %b3 {activation = #moe.activation<silu, gated = separate>} : (tensor<12x64xf32>, tensor<9xi32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<8x32x64xf32>, tensor<8x32xf16>) -> tensor<12x64xf32>
  return
}

// -----

func.func @f(%r: tensor<12x64xf32>, %o: tensor<9xi32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.experts' op operand 'result' has element type 'bf16', but 'rows' has 'f32'}}
  %y = moe.experts %r, %o gate_up %w1 down %w2 {activation = #moe.activation<relu>} : (tensor<12x64xf32>, tensor<9xi32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<12x64xbf16>
  return
}

// -----

func.func @f(%o: tensor<6x64xf32>, %w: tensor<4x2xf32>, %p: tensor<6xi32>) {
  // expected-error @+1 {{'moe.combine' op 'expert_rows' gives R (dispatched rows) = 6, but tokens x k from 'weights' = 8}}
  %y = moe.combine %o, %w, %p : (tensor<6x64xf32>, tensor<4x2xf32>, tensor<6xi32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%o: tensor<8x64xf32>, %w: tensor<4x2xf32>, %p: tensor<7xi32>) {
  // expected-error @+1 {{'moe.combine' op operand 'permutation' dimension 0 (R, dispatched rows) is 7, but 'expert_rows' gives R = 8}}
  %y = moe.combine %o, %w, %p : (tensor<8x64xf32>, tensor<4x2xf32>, tensor<7xi32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%o: tensor<8x64xf32>, %w: tensor<4x2xf32>, %p: tensor<8xi32>) {
  // expected-error @+1 {{'moe.combine' op result 'result' dimension 0 (T, tokens) is 5, but 'weights' gives T = 4}}
  %y = moe.combine %o, %w, %p : (tensor<8x64xf32>, tensor<4x2xf32>, tensor<8xi32>) -> tensor<5x64xf32>
  return
}

// -----

func.func @f(%o: tensor<8x64xf32>, %w: tensor<4x2xf32>, %p: tensor<8xi32>) {
  // expected-error @+1 {{'moe.combine' op result 'result' dimension 1 (H, hidden size) is 32, but 'expert_rows' gives H = 64}}
  %y = moe.combine %o, %w, %p : (tensor<8x64xf32>, tensor<4x2xf32>, tensor<8xi32>) -> tensor<4x32xf32>
  return
}

// -----

func.func @f(%o: tensor<8x64xf32>, %w: tensor<8xf32>, %p: tensor<8xi32>) {
  // expected-error @+1 {{'moe.combine' op operand 'weights' must have rank 2 [T, k], got 'tensor<8xf32>'}}
  %y = moe.combine %o, %w, %p : (tensor<8x64xf32>, tensor<8xf32>, tensor<8xi32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%o: tensor<8x64xf32>, %w: tensor<4x2xf32>, %p: tensor<8xi32>) {
  // expected-error @+1 {{'moe.combine' op operand 'result' has element type 'f16', but 'expert_rows' has 'f32'}}
  %y = moe.combine %o, %w, %p : (tensor<8x64xf32>, tensor<4x2xf32>, tensor<8xi32>) -> tensor<4x64xf16>
  return
}

// -----

func.func @f(%q: tensor<8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xf16>) {
  // expected-error @+1 {{'moe.sparse_attention' op operand 'query' must have rank 4 [B, Hq, Sq, D], got 'tensor<8x128x64xf16>'}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>} : (tensor<8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<1x2x128x64xf16>) {
  // expected-error @+1 {{'moe.sparse_attention' op operand 'key' dimension 0 (B, batch) is 2, but 'query' gives B = 1}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<1x2x128x64xf16>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x32xf16>, %v: tensor<1x2x128x64xf16>) {
  // expected-error @+1 {{'moe.sparse_attention' op operand 'key' dimension 3 (D, head size) is 32, but 'query' gives D = 64}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x128x64xf16>, tensor<1x2x128x32xf16>, tensor<1x2x128x64xf16>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x4x128x64xf16>) {
  // expected-error @+1 {{'moe.sparse_attention' op operand 'value' dimension 1 (Hkv, key/value heads) is 4, but 'key' gives Hkv = 2}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x4x128x64xf16>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x96x64xf16>) {
  // expected-error @+1 {{'moe.sparse_attention' op operand 'value' dimension 2 (Skv, key length) is 96, but 'key' gives Skv = 128}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x96x64xf16>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xf16>) {
  // expected-error @+1 {{'moe.sparse_attention' op result 'result' dimension 1 (Hq, query heads) is 4, but 'query' gives Hq = 8}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>) -> tensor<1x4x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xf16>) {
  // expected-error @+1 {{'moe.sparse_attention' op result 'result' dimension 2 (Sq, query length) is 64, but 'query' gives Sq = 128}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>) -> tensor<1x8x64x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x32xf16>) {
  // expected-error @+1 {{'moe.sparse_attention' op result 'result' dimension 3 (Dv, value head size) is 64, but 'value' gives Dv = 32}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x32xf16>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x6x128x64xf16>, %k: tensor<1x4x128x64xf16>, %v: tensor<1x4x128x64xf16>) {
  // expected-error @+1 {{'moe.sparse_attention' op query heads (6) must be a multiple of key/value heads (4)}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x6x128x64xf16>, tensor<1x4x128x64xf16>, tensor<1x4x128x64xf16>) -> tensor<1x6x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x0x128x64xf16>, %v: tensor<1x0x128x64xf16>) {
  // expected-error @+1 {{'moe.sparse_attention' op query heads (8) must be a multiple of key/value heads (0)}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x128x64xf16>, tensor<1x0x128x64xf16>, tensor<1x0x128x64xf16>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xf16>) {
  // expected-error @+1 {{'moe.sparse_attention' op 'query' gives Hq (query heads) = 8, but the number of head_spans = 2}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true, head_spans = [16, 32]>} : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xf16>) {
  // expected-error @+1 {{'moe.sparse_attention' op scale must be positive, got 0.000000e+00}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>, scale = 0.0 : f64} : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xf16>) {
  // expected-error @+1 {{'moe.sparse_attention' op scale must be positive, got -1.000000e+00}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>, scale = -1.0 : f64} : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xf16>, %n: tensor<1x2xi32>, %i: tensor<1x1x2x2xi32>) {
  // expected-error @+1 {{'moe.sparse_attention' op operand 'kv_num_blocks' must have rank 3 [B, Hm, Qb], got 'tensor<1x2xi32>'}}
  %o = moe.sparse_attention %q, %k, %v block_mask(%n, %i) {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2xi32>, tensor<1x1x2x2xi32>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xf16>, %n: tensor<2x1x2xi32>, %i: tensor<1x1x2x2xi32>) {
  // expected-error @+1 {{'moe.sparse_attention' op operand 'kv_num_blocks' dimension 0 (B, batch) is 2, but 'query' gives B = 1}}
  %o = moe.sparse_attention %q, %k, %v block_mask(%n, %i) {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>, tensor<2x1x2xi32>, tensor<1x1x2x2xi32>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xf16>, %n: tensor<1x1x2xi32>, %i: tensor<1x8x2x2xi32>) {
  // expected-error @+1 {{'moe.sparse_attention' op operand 'kv_indices' dimension 1 (Hm, block-mask heads) is 8, but 'kv_num_blocks' gives Hm = 1}}
  %o = moe.sparse_attention %q, %k, %v block_mask(%n, %i) {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x1x2xi32>, tensor<1x8x2x2xi32>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xf16>, %n: tensor<1x1x2xi32>, %i: tensor<1x1x4x2xi32>) {
  // expected-error @+1 {{'moe.sparse_attention' op operand 'kv_indices' dimension 2 (Qb, query blocks) is 4, but 'kv_num_blocks' gives Qb = 2}}
  %o = moe.sparse_attention %q, %k, %v block_mask(%n, %i) {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x1x2xi32>, tensor<1x1x4x2xi32>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xf16>, %n: tensor<1x1x3xi32>, %i: tensor<1x1x3x2xi32>) {
  // expected-error @+1 {{'moe.sparse_attention' op 'kv_num_blocks' gives Qb (query blocks) = 3, but ceil(query length / block_q) = 2}}
  %o = moe.sparse_attention %q, %k, %v block_mask(%n, %i) {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x1x3xi32>, tensor<1x1x3x2xi32>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xf16>, %n: tensor<1x1x2xi32>, %i: tensor<1x1x2x3xi32>) {
  // expected-error @+1 {{'moe.sparse_attention' op 'kv_indices' gives Kb (key blocks) = 3, but ceil(key length / block_kv) = 2}}
  %o = moe.sparse_attention %q, %k, %v block_mask(%n, %i) {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x1x2xi32>, tensor<1x1x2x3xi32>) -> tensor<1x8x128x64xf16>
  return
}

// -----

// Query length 130 in blocks of 32 needs ceil(130 / 32) = 5 query blocks.
func.func @f(%q: tensor<1x8x130x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xf16>, %n: tensor<1x1x4xi32>, %i: tensor<1x1x4x4xi32>) {
  // expected-error @+1 {{'moe.sparse_attention' op 'kv_num_blocks' gives Qb (query blocks) = 4, but ceil(query length / block_q) = 5}}
  %o = moe.sparse_attention %q, %k, %v block_mask(%n, %i) {pattern = #moe.attn_pattern<block_q = 32, block_kv = 32>} : (tensor<1x8x130x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x1x4xi32>, tensor<1x1x4x4xi32>) -> tensor<1x8x130x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xf16>, %n: tensor<1x2x2xi32>, %i: tensor<1x2x2x2xi32>) {
  // expected-error @+1 {{'moe.sparse_attention' op 'query' gives Hq (query heads) = 8, but the block mask's head dimension = 2}}
  %o = moe.sparse_attention %q, %k, %v block_mask(%n, %i) {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x2xi32>, tensor<1x2x2x2xi32>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf32>, %v: tensor<1x2x128x64xf16>) {
  // expected-error @+1 {{'moe.sparse_attention' op operand 'key' has element type 'f32', but 'query' has 'f16'}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf16>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xbf16>) {
  // expected-error @+1 {{'moe.sparse_attention' op operand 'value' has element type 'bf16', but 'query' has 'f16'}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xbf16>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xf16>) {
  // expected-error @+1 {{'moe.sparse_attention' op operand 'result' has element type 'f32', but 'query' has 'f16'}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>) -> tensor<1x8x128x64xf32>
  return
}

// -----

// A block mask needs both of its operands; the custom form cannot leave one out.
func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xf16>, %n: tensor<1x1x2xi32>) {
  // expected-error @+1 {{'moe.sparse_attention' op a block mask needs both 'kv_num_blocks' and 'kv_indices'}}
  %o = "moe.sparse_attention"(%q, %k, %v, %n) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>, pattern = #moe.attn_pattern<>}>
         : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x1x2xi32>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xf16>, %i: tensor<1x1x2x2xi32>) {
  // expected-error @+1 {{'moe.sparse_attention' op a block mask needs both 'kv_num_blocks' and 'kv_indices'}}
  %o = "moe.sparse_attention"(%q, %k, %v, %i) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 1>, pattern = #moe.attn_pattern<>}>
         : (tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x1x2x2xi32>) -> tensor<1x8x128x64xf16>
  return
}

// -----

func.func @f(%x: tensor<4x126xf16>, %vals: tensor<64x63xf16>, %idx: tensor<64x63xi8>) {
  // expected-error @+1 {{'moe.nm_matmul' op operand 'input' has 126 features, not a multiple of m = 4}}
  %y = moe.nm_matmul %x, %vals, %idx {sparsity = #moe.nm<2, 4>} : (tensor<4x126xf16>, tensor<64x63xf16>, tensor<64x63xi8>) -> tensor<4x64xf16>
  return
}

// -----

func.func @f(%x: tensor<4x128xf16>, %vals: tensor<64x32xf16>, %idx: tensor<64x32xi8>) {
  // expected-error @+1 {{'moe.nm_matmul' op 'values' gives Kp (packed input features) = 32, but input features x n / m = 64}}
  %y = moe.nm_matmul %x, %vals, %idx {sparsity = #moe.nm<2, 4>} : (tensor<4x128xf16>, tensor<64x32xf16>, tensor<64x32xi8>) -> tensor<4x64xf16>
  return
}

// -----

func.func @f(%x: tensor<4x128xf16>, %vals: tensor<64x64xf16>, %idx: tensor<64x64xi8>) {
  // expected-error @+1 {{'moe.nm_matmul' op 'values' gives Kp (packed input features) = 64, but input features x n / m = 16}}
  %y = moe.nm_matmul %x, %vals, %idx {sparsity = #moe.nm<1, 8>} : (tensor<4x128xf16>, tensor<64x64xf16>, tensor<64x64xi8>) -> tensor<4x64xf16>
  return
}

// -----

func.func @f(%x: tensor<4x128xf16>, %vals: tensor<64x64xf16>, %idx: tensor<64x32xi8>) {
  // expected-error @+1 {{'moe.nm_matmul' op operand 'indices' dimension 1 (Kp, packed input features) is 32, but 'values' gives Kp = 64}}
  %y = moe.nm_matmul %x, %vals, %idx {sparsity = #moe.nm<2, 4>} : (tensor<4x128xf16>, tensor<64x64xf16>, tensor<64x32xi8>) -> tensor<4x64xf16>
  return
}

// -----

func.func @f(%x: tensor<4x128xf16>, %vals: tensor<64x64xf16>, %idx: tensor<32x64xi8>) {
  // expected-error @+1 {{'moe.nm_matmul' op operand 'indices' dimension 0 (N, output features) is 32, but 'values' gives N = 64}}
  %y = moe.nm_matmul %x, %vals, %idx {sparsity = #moe.nm<2, 4>} : (tensor<4x128xf16>, tensor<64x64xf16>, tensor<32x64xi8>) -> tensor<4x64xf16>
  return
}

// -----

func.func @f(%x: tensor<4x128xf16>, %vals: tensor<64x64xf16>, %idx: tensor<64x64xi8>) {
  // expected-error @+1 {{'moe.nm_matmul' op result 'result' dimension 1 (N, output features) is 32, but 'values' gives N = 64}}
  %y = moe.nm_matmul %x, %vals, %idx {sparsity = #moe.nm<2, 4>} : (tensor<4x128xf16>, tensor<64x64xf16>, tensor<64x64xi8>) -> tensor<4x32xf16>
  return
}

// -----

func.func @f(%x: tensor<4x128xf16>, %vals: tensor<64x64xf16>, %idx: tensor<64x64xi8>) {
  // expected-error @+1 {{'moe.nm_matmul' op result 'result' dimension 0 (T, tokens) is 2, but 'input' gives T = 4}}
  %y = moe.nm_matmul %x, %vals, %idx {sparsity = #moe.nm<2, 4>} : (tensor<4x128xf16>, tensor<64x64xf16>, tensor<64x64xi8>) -> tensor<2x64xf16>
  return
}

// -----

func.func @f(%x: tensor<2x4x128xf16>, %vals: tensor<64x64xf16>, %idx: tensor<64x64xi8>) {
  // expected-error @+1 {{'moe.nm_matmul' op operand 'input' must have rank 2 [T, K], got 'tensor<2x4x128xf16>'}}
  %y = moe.nm_matmul %x, %vals, %idx {sparsity = #moe.nm<2, 4>} : (tensor<2x4x128xf16>, tensor<64x64xf16>, tensor<64x64xi8>) -> tensor<4x64xf16>
  return
}

// -----

func.func @f(%x: tensor<4x128xf16>, %vals: tensor<64x64xbf16>, %idx: tensor<64x64xi8>) {
  // expected-error @+1 {{'moe.nm_matmul' op operand 'values' has element type 'bf16', but 'input' has 'f16'}}
  %y = moe.nm_matmul %x, %vals, %idx {sparsity = #moe.nm<2, 4>} : (tensor<4x128xf16>, tensor<64x64xbf16>, tensor<64x64xi8>) -> tensor<4x64xf16>
  return
}

// -----

func.func @f(%x: tensor<4x128xf16>, %vals: tensor<64x64xf16>, %idx: tensor<64x64xi8>) {
  // expected-error @+1 {{'moe.nm_matmul' op operand 'result' has element type 'f32', but 'input' has 'f16'}}
  %y = moe.nm_matmul %x, %vals, %idx {sparsity = #moe.nm<2, 4>} : (tensor<4x128xf16>, tensor<64x64xf16>, tensor<64x64xi8>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%w: tensor<f32>, %ids: tensor<4xi32>) {
  // expected-error @+1 {{'moe.prefetch' op operand 'weights' needs an expert dimension (rank 1 or more)}}
  moe.prefetch %w, %ids : tensor<f32>, tensor<4xi32>
  return
}

// -----

func.func @f(%w: tensor<8x4xf32>, %ids: tensor<4xi32>) {
  // expected-error @+1 {{'moe.prefetch' op attribute 'device' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  moe.prefetch %w, %ids {device = -1} : tensor<8x4xf32>, tensor<4xi32>
  return
}

// -----

func.func @f(%s: tensor<bf16>, %c: tensor<4xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op operand 'send' needs a row dimension (rank 1 or more)}}
  %r, %rc = moe.all_to_all %s, %c {group_size = 4} : (tensor<bf16>, tensor<4xi32>) -> (tensor<bf16>, tensor<4xi32>)
  return
}

// -----

func.func @f(%s: tensor<?x64xbf16>, %c: tensor<4xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op result 'recv' has rank 3, but 'send' has rank 2}}
  %r, %rc = moe.all_to_all %s, %c {group_size = 4} : (tensor<?x64xbf16>, tensor<4xi32>) -> (tensor<?x64x1xbf16>, tensor<4xi32>)
  return
}

// -----

func.func @f(%s: tensor<?x64xbf16>, %c: tensor<4xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op result 'recv' has element type 'f16', but 'send' has 'bf16'}}
  %r, %rc = moe.all_to_all %s, %c {group_size = 4} : (tensor<?x64xbf16>, tensor<4xi32>) -> (tensor<?x64xf16>, tensor<4xi32>)
  return
}

// -----

func.func @f(%s: tensor<?x64xbf16>, %c: tensor<8xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op operand 'send_counts' dimension 0 (P, group size) is 8, but 'group_size' gives P = 4}}
  %r, %rc = moe.all_to_all %s, %c {group_size = 4} : (tensor<?x64xbf16>, tensor<8xi32>) -> (tensor<?x64xbf16>, tensor<4xi32>)
  return
}

// -----

func.func @f(%s: tensor<?x64xbf16>, %c: tensor<4xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op result 'recv_counts' dimension 0 (P, group size) is 2, but 'group_size' gives P = 4}}
  %r, %rc = moe.all_to_all %s, %c {group_size = 4} : (tensor<?x64xbf16>, tensor<4xi32>) -> (tensor<?x64xbf16>, tensor<2xi64>)
  return
}

// -----

func.func @f(%s: tensor<?x64xbf16>, %c: tensor<2x2xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op operand 'send_counts' must have rank 1 [P], got 'tensor<2x2xi32>'}}
  %r, %rc = moe.all_to_all %s, %c {group_size = 4} : (tensor<?x64xbf16>, tensor<2x2xi32>) -> (tensor<?x64xbf16>, tensor<4xi32>)
  return
}

// -----

func.func @f(%s: tensor<?x64xbf16>, %c: tensor<4xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op result 'recv' dimension 1 (row dim 1) is 32, but 'send' gives row dim 1 = 64}}
  %r, %rc = moe.all_to_all %s, %c {group_size = 4} : (tensor<?x64xbf16>, tensor<4xi32>) -> (tensor<?x32xbf16>, tensor<4xi32>)
  return
}

// -----

func.func @f(%s: tensor<?x64xbf16>, %c: tensor<4xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op attribute 'group_size' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %r, %rc = moe.all_to_all %s, %c {group_size = 0} : (tensor<?x64xbf16>, tensor<4xi32>) -> (tensor<?x64xbf16>, tensor<4xi32>)
  return
}

// -----

// With dynamic logits the router columns come from routing_bias, which still has to
// match the experts.
func.func @routing_bias_sets_router_columns(%x: tensor<4x64xf32>, %l: tensor<4x?xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>, %rb: tensor<8xf32>) {
  // expected-error @+1 {{'moe.layer' op 'routing_bias' gives EZ (router columns) = 8, but experts + zero/copy/constant experts (8 + 2) = 10}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 routing_bias %rb {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>, num_zero_experts = 2} : (tensor<4x64xf32>, tensor<4x?xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<8xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @route_columns_from_bias(%l: tensor<4x?xf32>, %b: tensor<6xf32>) {
  // expected-error @+1 {{'moe.route' op routing chooses k = 8 experts, but 'bias' has only 6}}
  %w, %i = moe.route %l bias %b {routing = #moe.routing<softmax_topk, k = 8>} : (tensor<4x?xf32>, tensor<6xf32>) -> (tensor<4x8xf32>, tensor<4x8xi32>)
  return
}

// -----

func.func @layer_columns_from_routing_bias(%x: tensor<4x64xf32>, %l: tensor<4x?xf32>, %w1: tensor<10x32x64xf32>, %w2: tensor<10x64x32xf32>, %rb: tensor<10xf32>) {
  // expected-error @+1 {{'moe.layer' op routing chooses k = 12 experts, but 'routing_bias' has only 10}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 routing_bias %rb {routing = #moe.routing<sigmoid_topk, k = 12>, activation = #moe.activation<relu>} : (tensor<4x64xf32>, tensor<4x?xf32>, tensor<10x32x64xf32>, tensor<10x64x32xf32>, tensor<10xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @null_expert_counts_bounded(%x: tensor<4x64xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op num_zero_experts and num_copy_experts must be at most 2147483647}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>, num_zero_experts = 9223372036854775807, num_copy_experts = 9223372036854775807} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

// expected-error @+1 {{#moe.activation: limit must be positive and finite, got INF}}
func.func @limit_infinite() attributes {a = #moe.activation<silu, gated = interleaved, limit = 0x7FF0000000000000>} {
  return
}

// -----

// expected-error @+1 {{#moe.routing: norm_epsilon and norm_floor apply only with normalize = true}}
func.func @f() attributes {a = #moe.routing<sigmoid_topk, k = 2, norm_epsilon = 1.0e-6>} {
  return
}

// -----

// expected-error @+1 {{#moe.routing: norm_epsilon and norm_floor must be 0 or positive, got 0.000000e+00 and -1.000000e+00}}
func.func @f() attributes {a = #moe.routing<sigmoid_topk, k = 2, normalize = true, norm_floor = -1.0>} {
  return
}

// -----

// expected-error @+1 {{#moe.routing: jitter_eps applies only to sparse_mixer}}
func.func @f() attributes {a = #moe.routing<topk_softmax, k = 2, jitter_eps = 0.01>} {
  return
}

// -----

// expected-error @+1 {{#moe.routing: jitter_eps must be 0 or positive, got -1.000000e-02}}
func.func @f() attributes {a = #moe.routing<sparse_mixer, k = 2, jitter_eps = -0.01>} {
  return
}

// -----

// expected-error @+1 {{#moe.routing: sparse_mixer has no grouped top-k}}
func.func @f() attributes {a = #moe.routing<sparse_mixer, k = 2, num_groups = 2>} {
  return
}

// -----

func.func @f(%l: tensor<4x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'moe.route' op sparse_mixer routing selects by the logits themselves and takes no routing bias}}
  %w, %ids = moe.route %l bias %b {routing = #moe.routing<sparse_mixer, k = 2, jitter_eps = 0.01>} : (tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x2xf32>, tensor<4x2xi32>)
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %ids: tensor<4x2xi32>, %w: tensor<4x3xf32>) {
  // expected-error @+1 {{'moe.dispatch' op operand 'weights' dimension 1 (k, experts per token) is 3, but 'ids' gives k = 2}}
  %rows, %off, %perm = moe.dispatch %x, %ids weights %w : (tensor<4x64xf32>, tensor<4x2xi32>, tensor<4x3xf32>) -> (tensor<8x64xf32>, tensor<9xi32>, tensor<8xi32>)
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %ids: tensor<4x2xi32>, %w: tensor<4x2xf16>) {
  // expected-error @+1 {{'moe.dispatch' op operand 'weights' has element type 'f16', but 'tokens' has 'f32'}}
  %rows, %off, %perm = moe.dispatch %x, %ids weights %w : (tensor<4x64xf32>, tensor<4x2xi32>, tensor<4x2xf16>) -> (tensor<8x64xf32>, tensor<9xi32>, tensor<8xi32>)
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<4x9xf32>, %w1: tensor<8x32x64xf32>, %w2: tensor<8x64x32xf32>) {
  // expected-error @+1 {{'moe.layer' op scale_inputs takes no zero-computation experts}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<sigmoid_topk, k = 2>, activation = #moe.activation<relu>, num_zero_experts = 1, scale_inputs} : (tensor<4x64xf32>, tensor<4x9xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<4x64xf32>
  return
}
