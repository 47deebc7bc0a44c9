// A gated MoE layer whose hidden (40) and intermediate (72) sizes take two and
// three 32-deep K steps of the grouped GEMMs, with tail tiles along K and N.
func.func @main_graph(%x: tensor<?x40xf32>, %logits: tensor<?x3xf32>) -> tensor<?x40xf32> {
  %w1 = arith.constant dense<0.01> : tensor<3x144x40xf32>
  %w2 = arith.constant dense<0.02> : tensor<3x40x72xf32>
  %y = moe.layer %x, %logits gate_up %w1 down %w2
      {activation = #moe.activation<silu, gated = concatenated>,
       routing = #moe.routing<softmax_topk, k = 2, normalize = true>}
      : (tensor<?x40xf32>, tensor<?x3xf32>, tensor<3x144x40xf32>, tensor<3x40x72xf32>) -> tensor<?x40xf32>
  return %y : tensor<?x40xf32>
}
