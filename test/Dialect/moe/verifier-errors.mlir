// Every error the moe verifiers report, one per split, with the operand it names.
// RUN: moe-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{k must be at least 1, got 0}}
func.func @f() attributes {a = #moe.routing<softmax_topk, k = 0>} {
  return
}

// -----

// expected-error @+1 {{scale must be positive and finite, got -1}}
func.func @f() attributes {a = #moe.routing<softmax_topk, k = 2, scale = -1.0>} {
  return
}

// -----

// expected-error @+1 {{num_groups must be at least 1, got 0}}
func.func @f() attributes {a = #moe.routing<softmax_topk, k = 2, num_groups = 0>} {
  return
}

// -----

// expected-error @+1 {{topk_groups must be in [1, num_groups = 4], got 5}}
func.func @f() attributes {a = #moe.routing<softmax_topk, k = 2, num_groups = 4, topk_groups = 5>} {
  return
}

// -----

// expected-error @+1 {{capacity_factor must be 0 (no dropping) or positive, got -5.000000e-01}}
func.func @f() attributes {a = #moe.routing<softmax_topk, k = 2, capacity_factor = -0.5>} {
  return
}

// -----

// expected-error @+1 {{normalize has no effect with topk_softmax, whose weights already sum to 1}}
func.func @f() attributes {a = #moe.routing<topk_softmax, k = 2, normalize = true>} {
  return
}

// -----

// expected-error @+2 {{expected 'true' or 'false'}}
// expected-error @+1 {{failed to parse MoE_RoutingAttr parameter 'normalize'}}
func.func @f() attributes {a = #moe.routing<softmax_topk, k = 2, normalize = maybe>} {
  return
}

// -----

// expected-error @+1 {{alpha must be positive and finite, got 0}}
func.func @f() attributes {a = #moe.activation<silu, alpha = 0.0>} {
  return
}

// -----

// expected-error @+1 {{alpha applies to silu only, not relu}}
func.func @f() attributes {a = #moe.activation<relu, alpha = 2.0>} {
  return
}

// -----

// expected-error @+1 {{beta needs a gated activation}}
func.func @f() attributes {a = #moe.activation<silu, beta = 1.0>} {
  return
}

// -----

// expected-error @+1 {{limit needs a gated activation}}
func.func @f() attributes {a = #moe.activation<silu, limit = 7.0>} {
  return
}

// -----

// expected-error @+1 {{limit must be positive, got -1}}
func.func @f() attributes {a = #moe.activation<silu, gated = interleaved, limit = -1.0>} {
  return
}

// -----

// expected-error @+1 {{window_left must be -1 (unbounded) or at least 0, got -2}}
func.func @f() attributes {a = #moe.attn_pattern<window_left = -2>} {
  return
}

// -----

// expected-error @+1 {{window_right must be -1 (unbounded) or at least 0, got -3}}
func.func @f() attributes {a = #moe.attn_pattern<window_right = -3>} {
  return
}

// -----

// expected-error @+1 {{window_right = 4 contradicts causal = true}}
func.func @f() attributes {a = #moe.attn_pattern<causal = true, window_right = 4>} {
  return
}

// -----

// expected-error @+1 {{sink_blocks must be at least 0, got -1}}
func.func @f() attributes {a = #moe.attn_pattern<sink_blocks = -1>} {
  return
}

// -----

// expected-error @+1 {{vertical_stride must be at least 0, got -1}}
func.func @f() attributes {a = #moe.attn_pattern<vertical_stride = -1>} {
  return
}

// -----

// expected-error @+1 {{block sizes must be positive, got block_q = 0, block_kv = 64}}
func.func @f() attributes {a = #moe.attn_pattern<block_q = 0>} {
  return
}

// -----

// expected-error @+1 {{head_spans[1] must be at least 0, got -1}}
func.func @f() attributes {a = #moe.attn_pattern<head_spans = [4, -1]>} {
  return
}

// -----

// expected-error @+1 {{give either window_left or head_spans, not both}}
func.func @f() attributes {a = #moe.attn_pattern<window_left = 8, head_spans = [4, 4]>} {
  return
}

// -----

// expected-error @+1 {{m must be in [2, 64], got 1}}
func.func @f() attributes {a = #moe.nm<2, 1>} {
  return
}

// -----

// expected-error @+1 {{n must be in [1, m), got n = 4, m = 4}}
func.func @f() attributes {a = #moe.nm<4, 4>} {
  return
}

// -----

// expected-error @+1 {{innermost dimension 130 is not a multiple of m = 4}}
func.func @f(%w: tensor<64x130xf16, #moe.nm<2, 4>>) {
  return
}

// -----

// expected-error @+1 {{#moe.nm needs a floating-point element type, got 'i8'}}
func.func @f(%w: tensor<64x128xi8, #moe.nm<2, 4>>) {
  return
}

// -----

// expected-error @+1 {{#moe.nm needs a tensor of rank 1 or more}}
func.func @f(%w: tensor<f16, #moe.nm<2, 4>>) {
  return
}

// -----

func.func @f(%x: tensor<4x?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x256x64xf32>, %w2: tensor<8x64x128xf32>) {
  // expected-error @+1 {{operand 'tokens' must have rank 2 [T, H], got 'tensor<4x?x64xf32>'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<silu, gated = concatenated>} : (tensor<4x?x64xf32>, tensor<?x8xf32>, tensor<8x256x64xf32>, tensor<8x64x128xf32>) -> tensor<4x?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %l: tensor<5x8xf32>, %w1: tensor<8x256x64xf32>, %w2: tensor<8x64x128xf32>) {
  // expected-error @+1 {{operand 'logits' dimension 0 (T, tokens) is 5, but 'tokens' gives T = 4}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<silu, gated = concatenated>} : (tensor<4x64xf32>, tensor<5x8xf32>, tensor<8x256x64xf32>, tensor<8x64x128xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x256x64xf32>, %w2: tensor<8x32x128xf32>) {
  // expected-error @+1 {{operand 'down' dimension 1 (H, hidden size) is 32, but 'tokens' gives H = 64}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<silu, gated = concatenated>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x256x64xf32>, tensor<8x32x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x256x64xf32>, %w2: tensor<4x64x128xf32>) {
  // expected-error @+1 {{operand 'down' dimension 0 (E, experts) is 4, but 'gate_up' gives E = 8}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<silu, gated = concatenated>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x256x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>) {
  // expected-error @+1 {{operand 'gate_up' has 128 rows per expert, but activation concatenated needs 2 x 128 (the intermediate size of 'down')}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<silu, gated = concatenated>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>) {
  // expected-error @+1 {{operand 'up' is required with gated = separate}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<silu, gated = separate>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>, %w3: tensor<8x128x64xf32>) {
  // expected-error @+1 {{operand 'up' is only allowed with gated = separate}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 up %w3 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<silu>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>, %b3: tensor<8x128xf32>) {
  // expected-error @+1 {{operand 'up_bias' needs operand 'up'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 up_bias %b3 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>, tensor<8x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>, %b1: tensor<8x64xf32>) {
  // expected-error @+1 {{operand 'gate_up_bias' dimension 1 (F, first-projection rows) is 64, but 'gate_up' gives F = 128}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 gate_up_bias %b1 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>, tensor<8x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>) {
  // expected-error @+1 {{'logits' gives EZ (router columns) = 8, but experts + zero/copy/constant experts (8 + 2) = 10}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>, num_zero_experts = 1, num_copy_experts = 1} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>, %rb: tensor<4xf32>) {
  // expected-error @+1 {{operand 'routing_bias' dimension 0 (EZ, router columns) is 4, but 'logits' gives EZ = 8}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 routing_bias %rb {routing = #moe.routing<sigmoid_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>, tensor<4xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>) {
  // expected-error @+1 {{routing chooses k = 9 experts, but 'logits' has only 8}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 9>, activation = #moe.activation<relu>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>) {
  // expected-error @+1 {{routing splits 8 experts into num_groups = 3, which does not divide them}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<sigmoid_topk, k = 2, num_groups = 3>, activation = #moe.activation<relu>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>) {
  // expected-error @+1 {{routing chooses k = 4 experts from topk_groups = 1 groups of 2, only 2 candidates}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<sigmoid_topk, k = 4, num_groups = 4, topk_groups = 1>, activation = #moe.activation<relu>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>, %s1: tensor<1x128x64xf32>) {
  // expected-error @+1 {{shared experts need both 'shared_gate_up' and 'shared_down'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 shared_gate_up %s1 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>, tensor<1x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>, %sg: tensor<1x64xf32>) {
  // expected-error @+1 {{'shared_up' and 'shared_gate' need 'shared_gate_up' and 'shared_down'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 shared_gate %sg {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>, tensor<1x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>, %s1: tensor<1x96x64xf32>, %s2: tensor<1x64x96xf32>, %sg: tensor<2x64xf32>) {
  // expected-error @+1 {{operand 'shared_gate' dimension 0 (S, shared experts) is 2, but 'shared_gate_up' gives S = 1}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 shared_gate_up %s1 shared_down %s2 shared_gate %sg {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>, tensor<1x96x64xf32>, tensor<1x64x96xf32>, tensor<2x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x10xf32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>, %ce: tensor<2x32xf32>) {
  // expected-error @+1 {{operand 'constant_experts' dimension 1 (H, hidden size) is 32, but 'tokens' gives H = 64}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 constant_experts %ce {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<?x64xf32>, tensor<?x10xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>, tensor<2x32xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>) {
  // expected-error @+1 {{operand 'result' dimension 1 (H, hidden size) is 32, but 'tokens' gives H = 64}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x32xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf16>, %w2: tensor<8x64x128xf16>) {
  // expected-error @+1 {{operand 'gate_up' has element type 'f16', but 'tokens' has 'f32'}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf16>, tensor<8x64x128xf16>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>) {
  // expected-error @+1 {{attribute 'num_zero_experts' failed to satisfy constraint}}
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>, num_zero_experts = -1} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{operand 'weights' dimension 1 (k, experts per token) is 3, but 'routing' gives k = 2}}
  %w, %i = moe.route %l {routing = #moe.routing<softmax_topk, k = 2>} : (tensor<?x8xf32>) -> (tensor<?x3xf32>, tensor<?x3xi32>)
  return
}

// -----

func.func @f(%l: tensor<?x8xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{operand 'bias' dimension 0 (E, experts) is 4, but 'logits' gives E = 8}}
  %w, %i = moe.route %l bias %b {routing = #moe.routing<sigmoid_topk, k = 2>} : (tensor<?x8xf32>, tensor<4xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  return
}

// -----

func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{routing chooses k = 5 experts, but 'logits' has only 4}}
  %w, %i = moe.route %l {routing = #moe.routing<softmax_topk, k = 5>} : (tensor<?x4xf32>) -> (tensor<?x5xf32>, tensor<?x5xi32>)
  return
}

// -----

func.func @f(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{operand 'weights' has element type 'f16', but 'logits' has 'f32'}}
  %w, %i = moe.route %l {routing = #moe.routing<softmax_topk, k = 2>} : (tensor<?x8xf32>) -> (tensor<?x2xf16>, tensor<?x2xi32>)
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %i: tensor<4x2xi32>) {
  // expected-error @+1 {{'rows' gives R (dispatched rows) = 6, but tokens x k = 8}}
  %r, %o, %p = moe.dispatch %x, %i : (tensor<4x64xf32>, tensor<4x2xi32>) -> (tensor<6x64xf32>, tensor<9xi32>, tensor<6xi32>)
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{result 'offsets' needs at least one element (E + 1)}}
  %r, %o, %p = moe.dispatch %x, %i : (tensor<?x64xf32>, tensor<?x2xi32>) -> (tensor<?x64xf32>, tensor<0xi32>, tensor<?xi32>)
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{operand 'permutation' dimension 0 (R, dispatched rows) is 7, but 'rows' gives R = 8}}
  %r, %o, %p = moe.dispatch %x, %i : (tensor<?x64xf32>, tensor<?x2xi32>) -> (tensor<8x64xf32>, tensor<9xi32>, tensor<7xi32>)
  return
}

// -----

func.func @f(%r: tensor<?x64xf32>, %o: tensor<8xi32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>) {
  // expected-error @+1 {{operand 'offsets' has 8 elements, but 'gate_up' has 8 experts, which need 9}}
  %y = moe.experts %r, %o gate_up %w1 down %w2 {activation = #moe.activation<relu>} : (tensor<?x64xf32>, tensor<8xi32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%r: tensor<?x64xf32>, %o: tensor<9xi32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>) {
  // expected-error @+1 {{operand 'result' dimension 1 (H, hidden size) is 32, but 'rows' gives H = 64}}
  %y = moe.experts %r, %o gate_up %w1 down %w2 {activation = #moe.activation<relu>} : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x32xf32>
  return
}

// -----

func.func @f(%e: tensor<10x64xf32>, %w: tensor<4x2xf32>, %p: tensor<10xi32>) {
  // expected-error @+1 {{'expert_rows' gives R (dispatched rows) = 10, but tokens x k from 'weights' = 8}}
  %y = moe.combine %e, %w, %p : (tensor<10x64xf32>, tensor<4x2xf32>, tensor<10xi32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%e: tensor<8x64xf32>, %w: tensor<4x2xf32>, %p: tensor<8xi32>) {
  // expected-error @+1 {{operand 'result' dimension 0 (T, tokens) is 5, but 'weights' gives T = 4}}
  %y = moe.combine %e, %w, %p : (tensor<8x64xf32>, tensor<4x2xf32>, tensor<8xi32>) -> tensor<5x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x6x16x32xf32>, %k: tensor<1x4x16x32xf32>, %v: tensor<1x4x16x32xf32>) {
  // expected-error @+1 {{query heads (6) must be a multiple of key/value heads (4)}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x6x16x32xf32>, tensor<1x4x16x32xf32>, tensor<1x4x16x32xf32>) -> tensor<1x6x16x32xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x16x32xf32>, %k: tensor<1x2x16x16xf32>, %v: tensor<1x2x16x32xf32>) {
  // expected-error @+1 {{operand 'key' dimension 3 (D, head size) is 16, but 'query' gives D = 32}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x16x32xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16x32xf32>) -> tensor<1x8x16x32xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x16x32xf32>, %k: tensor<1x2x16x32xf32>, %v: tensor<1x2x16x32xf32>) {
  // expected-error @+1 {{'query' gives Hq (query heads) = 8, but the number of head_spans = 2}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<head_spans = [4, 4]>} : (tensor<1x8x16x32xf32>, tensor<1x2x16x32xf32>, tensor<1x2x16x32xf32>) -> tensor<1x8x16x32xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x16x32xf32>, %k: tensor<1x2x16x32xf32>, %v: tensor<1x2x16x32xf32>) {
  // expected-error @+1 {{scale must be positive, got -1}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>, scale = -1.0} : (tensor<1x8x16x32xf32>, tensor<1x2x16x32xf32>, tensor<1x2x16x32xf32>) -> tensor<1x8x16x32xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x32xf32>, %k: tensor<1x8x128x32xf32>, %v: tensor<1x8x128x32xf32>, %n: tensor<1x1x3xi32>, %idx: tensor<1x1x3x2xi32>) {
  // expected-error @+1 {{'kv_num_blocks' gives Qb (query blocks) = 3, but ceil(query length / block_q) = 2}}
  %o = moe.sparse_attention %q, %k, %v block_mask(%n, %idx) {pattern = #moe.attn_pattern<>} : (tensor<1x8x128x32xf32>, tensor<1x8x128x32xf32>, tensor<1x8x128x32xf32>, tensor<1x1x3xi32>, tensor<1x1x3x2xi32>) -> tensor<1x8x128x32xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x32xf32>, %k: tensor<1x8x128x32xf32>, %v: tensor<1x8x128x32xf32>, %n: tensor<1x1x2xi32>, %idx: tensor<1x1x2x4xi32>) {
  // expected-error @+1 {{'kv_indices' gives Kb (key blocks) = 4, but ceil(key length / block_kv) = 2}}
  %o = moe.sparse_attention %q, %k, %v block_mask(%n, %idx) {pattern = #moe.attn_pattern<>} : (tensor<1x8x128x32xf32>, tensor<1x8x128x32xf32>, tensor<1x8x128x32xf32>, tensor<1x1x2xi32>, tensor<1x1x2x4xi32>) -> tensor<1x8x128x32xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x128x32xf32>, %k: tensor<1x8x128x32xf32>, %v: tensor<1x8x128x32xf32>, %n: tensor<1x2x2xi32>, %idx: tensor<1x2x2x2xi32>) {
  // expected-error @+1 {{'query' gives Hq (query heads) = 8, but the block mask's head dimension = 2}}
  %o = moe.sparse_attention %q, %k, %v block_mask(%n, %idx) {pattern = #moe.attn_pattern<>} : (tensor<1x8x128x32xf32>, tensor<1x8x128x32xf32>, tensor<1x8x128x32xf32>, tensor<1x2x2xi32>, tensor<1x2x2x2xi32>) -> tensor<1x8x128x32xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x16x32xf32>, %k: tensor<1x2x16x32xf32>, %v: tensor<1x2x16x32xf16>) {
  // expected-error @+1 {{operand 'value' has element type 'f16', but 'query' has 'f32'}}
  %o = moe.sparse_attention %q, %k, %v {pattern = #moe.attn_pattern<causal = true>} : (tensor<1x8x16x32xf32>, tensor<1x2x16x32xf32>, tensor<1x2x16x32xf16>) -> tensor<1x8x16x32xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x16x32xf32>, %n: tensor<1x1x1xi32>) {
  // expected-error @+1 {{a block mask needs both 'kv_num_blocks' and 'kv_indices'}}
  %o = "moe.sparse_attention"(%q, %q, %q, %n) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>, pattern = #moe.attn_pattern<>}> : (tensor<1x8x16x32xf32>, tensor<1x8x16x32xf32>, tensor<1x8x16x32xf32>, tensor<1x1x1xi32>) -> tensor<1x8x16x32xf32>
  return
}

// -----

func.func @f(%x: tensor<?x130xf16>, %v: tensor<64x65xf16>, %i: tensor<64x65xi8>) {
  // expected-error @+1 {{operand 'input' has 130 features, not a multiple of m = 4}}
  %y = moe.nm_matmul %x, %v, %i {sparsity = #moe.nm<2, 4>} : (tensor<?x130xf16>, tensor<64x65xf16>, tensor<64x65xi8>) -> tensor<?x64xf16>
  return
}

// -----

func.func @f(%x: tensor<?x128xf16>, %v: tensor<64x32xf16>, %i: tensor<64x32xi8>) {
  // expected-error @+1 {{'values' gives Kp (packed input features) = 32, but input features x n / m = 64}}
  %y = moe.nm_matmul %x, %v, %i {sparsity = #moe.nm<2, 4>} : (tensor<?x128xf16>, tensor<64x32xf16>, tensor<64x32xi8>) -> tensor<?x64xf16>
  return
}

// -----

func.func @f(%x: tensor<?x128xf16>, %v: tensor<64x64xf16>, %i: tensor<64x32xi8>) {
  // expected-error @+1 {{operand 'indices' dimension 1 (Kp, packed input features) is 32, but 'values' gives Kp = 64}}
  %y = moe.nm_matmul %x, %v, %i {sparsity = #moe.nm<2, 4>} : (tensor<?x128xf16>, tensor<64x64xf16>, tensor<64x32xi8>) -> tensor<?x64xf16>
  return
}

// -----

func.func @f(%w: tensor<f32>, %i: tensor<2xi32>) {
  // expected-error @+1 {{operand 'weights' needs an expert dimension (rank 1 or more)}}
  moe.prefetch %w, %i : tensor<f32>, tensor<2xi32>
  return
}

// -----

func.func @f(%s: tensor<f32>, %c: tensor<4xi32>) {
  // expected-error @+1 {{operand 'send' needs a row dimension (rank 1 or more)}}
  %r, %rc = moe.all_to_all %s, %c {group_size = 4} : (tensor<f32>, tensor<4xi32>) -> (tensor<f32>, tensor<4xi32>)
  return
}

// -----

func.func @f(%s: tensor<?x64xf32>, %c: tensor<4xi32>) {
  // expected-error @+1 {{result 'recv' has rank 3, but 'send' has rank 2}}
  %r, %rc = moe.all_to_all %s, %c {group_size = 4} : (tensor<?x64xf32>, tensor<4xi32>) -> (tensor<?x64x1xf32>, tensor<4xi32>)
  return
}

// -----

func.func @f(%s: tensor<?x64xf32>, %c: tensor<4xi32>) {
  // expected-error @+1 {{result 'recv' has element type 'f16', but 'send' has 'f32'}}
  %r, %rc = moe.all_to_all %s, %c {group_size = 4} : (tensor<?x64xf32>, tensor<4xi32>) -> (tensor<?x64xf16>, tensor<4xi32>)
  return
}

// -----

func.func @f(%s: tensor<?x64xf32>, %c: tensor<4xi32>) {
  // expected-error @+1 {{operand 'send_counts' dimension 0 (P, group size) is 4, but 'group_size' gives P = 8}}
  %r, %rc = moe.all_to_all %s, %c {group_size = 8} : (tensor<?x64xf32>, tensor<4xi32>) -> (tensor<?x64xf32>, tensor<4xi32>)
  return
}

// -----

func.func @f(%s: tensor<?x64xf32>, %c: tensor<4xi32>) {
  // expected-error @+1 {{operand 'recv' dimension 1 (row dim 1) is 32, but 'send' gives row dim 1 = 64}}
  %r, %rc = moe.all_to_all %s, %c {group_size = 4} : (tensor<?x64xf32>, tensor<4xi32>) -> (tensor<?x32xf32>, tensor<4xi32>)
  return
}

// -----

func.func @f(%s: tensor<?x64xf32>, %c: tensor<4xi32>) {
  // expected-error @+1 {{attribute 'group_size' failed to satisfy constraint}}
  %r, %rc = moe.all_to_all %s, %c {group_size = 0} : (tensor<?x64xf32>, tensor<4xi32>) -> (tensor<?x64xf32>, tensor<4xi32>)
  return
}
