// A bf16 MoE layer at a real model's width (H 2048, I 768, as Qwen3-30B-A3B's
// experts), its weights inputs: sm_90a's GEMMs take 128-column blocks and gate/up
// holds 64 f32 accumulators a thread for each of gate and up.
func.func @main_graph(%x: tensor<?x2048xbf16>, %logits: tensor<?x8xbf16>,
                      %w1: tensor<8x1536x2048xbf16>, %w2: tensor<8x2048x768xbf16>)
    -> tensor<?x2048xbf16> {
  %y = moe.layer %x, %logits gate_up %w1 down %w2
      {activation = #moe.activation<silu, gated = concatenated>,
       routing = #moe.routing<softmax_topk, k = 2, normalize = true>}
      : (tensor<?x2048xbf16>, tensor<?x8xbf16>, tensor<8x1536x2048xbf16>,
         tensor<8x2048x768xbf16>) -> tensor<?x2048xbf16>
  return %y : tensor<?x2048xbf16>
}
