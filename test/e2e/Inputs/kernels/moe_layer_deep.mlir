// A gated MoE layer whose down projection is 264 deep: five 64-deep K steps of
// sm_90a's GEMMs, so that each of their four stages is refilled while wgmma groups
// of the steps before may still read it.
func.func @main_graph(%x: tensor<?x40xf32>, %logits: tensor<?x3xf32>) -> tensor<?x40xf32> {
  %w1 = arith.constant dense<0.01> : tensor<3x528x40xf32>
  %w2 = arith.constant dense<0.02> : tensor<3x40x264xf32>
  %y = moe.layer %x, %logits gate_up %w1 down %w2
      {activation = #moe.activation<silu, gated = concatenated>,
       routing = #moe.routing<softmax_topk, k = 2, normalize = true>}
      : (tensor<?x40xf32>, tensor<?x3xf32>, tensor<3x528x40xf32>, tensor<3x40x264xf32>) -> tensor<?x40xf32>
  return %y : tensor<?x40xf32>
}
