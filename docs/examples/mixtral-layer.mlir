// A Mixtral-style MoE layer (8 experts, top-2, SwiGLU with separate up projection),
// as raising writes it, and the same layer expanded into its four stages.
func.func @mixtral_layer(%x: tensor<?x1024xf32>, %logits: tensor<?x8xf32>,
                         %w1: tensor<8x3584x1024xf32>, %w2: tensor<8x1024x3584xf32>,
                         %w3: tensor<8x3584x1024xf32>) -> tensor<?x1024xf32> {
  %y = moe.layer %x, %logits gate_up %w1 down %w2 up %w3
         {routing = #moe.routing<softmax_topk, k = 2, normalize = true>,
          activation = #moe.activation<silu, gated = separate>}
         : (tensor<?x1024xf32>, tensor<?x8xf32>, tensor<8x3584x1024xf32>,
            tensor<8x1024x3584xf32>, tensor<8x3584x1024xf32>) -> tensor<?x1024xf32>
  return %y : tensor<?x1024xf32>
}

func.func @mixtral_layer_expanded(%x: tensor<?x1024xf32>, %logits: tensor<?x8xf32>,
                                  %w1: tensor<8x3584x1024xf32>,
                                  %w2: tensor<8x1024x3584xf32>,
                                  %w3: tensor<8x3584x1024xf32>) -> tensor<?x1024xf32> {
  %weights, %ids = moe.route %logits
      {routing = #moe.routing<softmax_topk, k = 2, normalize = true>}
      : (tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  %rows, %offsets, %perm = moe.dispatch %x, %ids
      : (tensor<?x1024xf32>, tensor<?x2xi32>)
      -> (tensor<?x1024xf32>, tensor<9xi32>, tensor<?xi32>)
  %out = moe.experts %rows, %offsets gate_up %w1 down %w2 up %w3
      {activation = #moe.activation<silu, gated = separate>}
      : (tensor<?x1024xf32>, tensor<9xi32>, tensor<8x3584x1024xf32>,
         tensor<8x1024x3584xf32>, tensor<8x3584x1024xf32>) -> tensor<?x1024xf32>
  %y = moe.combine %out, %weights, %perm
      : (tensor<?x1024xf32>, tensor<?x2xf32>, tensor<?xi32>) -> tensor<?x1024xf32>
  return %y : tensor<?x1024xf32>
}

// gpt-oss: top-k then softmax, interleaved gate/up with alpha, beta and a clamp,
// and a sliding-window attention layer with attention sinks.
func.func @gpt_oss_blocks(%x: tensor<?x512xbf16>, %logits: tensor<?x32xbf16>,
                          %w1: tensor<32x1024x512xbf16>, %w2: tensor<32x512x512xbf16>,
                          %b1: tensor<32x1024xbf16>, %b2: tensor<32x512xbf16>,
                          %q: tensor<1x8x?x64xbf16>, %k: tensor<1x2x?x64xbf16>,
                          %v: tensor<1x2x?x64xbf16>)
    -> (tensor<?x512xbf16>, tensor<1x8x?x64xbf16>) {
  %y = moe.layer %x, %logits gate_up %w1 down %w2 gate_up_bias %b1 down_bias %b2
         {routing = #moe.routing<topk_softmax, k = 4>,
          activation = #moe.activation<silu, gated = interleaved, alpha = 1.702,
                                       beta = 1.0, limit = 7.0>}
         : (tensor<?x512xbf16>, tensor<?x32xbf16>, tensor<32x1024x512xbf16>,
            tensor<32x512x512xbf16>, tensor<32x1024xbf16>, tensor<32x512xbf16>)
         -> tensor<?x512xbf16>
  %o = moe.sparse_attention %q, %k, %v
         {pattern = #moe.attn_pattern<causal = true, window_left = 128, sink_blocks = 1>}
         : (tensor<1x8x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>)
         -> tensor<1x8x?x64xbf16>
  return %y, %o : tensor<?x512xbf16>, tensor<1x8x?x64xbf16>
}
