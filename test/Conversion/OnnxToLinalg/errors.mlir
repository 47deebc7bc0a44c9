// Nodes the legalisation cannot lower get one error each, naming the node, op type,
// domain and opset; nothing is rewritten then.
// RUN: moe-opt %s --split-input-file --moe-legalize-onnx --verify-diagnostics

func.func @unsupported_op(%x: tensor<4xf32>) {
  // expected-error @+1 {{node 'mystery': ONNX op Mystery (domain ai.onnx, opset 17) has no lowering}}
  %y = onnx.node "Mystery" opset 17 name "mystery" (%x) : (tensor<4xf32>) -> tensor<4xf32>
  // expected-error @+1 {{node: ONNX op Fancy (domain com.example, opset 1) has no lowering}}
  %z = onnx.node "Fancy" domain "com.example" opset 1 (%x) : (tensor<4xf32>) -> tensor<4xf32>
  // This one is supported, but stays: the function is left as it was.
  %w = onnx.node "Relu" opset 17 (%x) : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @too_old(%x: tensor<4xf32>) {
  // expected-error @+1 {{node 'old_add': ONNX op Add (domain ai.onnx) at opset 6 is not supported; supported from opset 7}}
  %y = onnx.node "Add" opset 6 name "old_add" (%x, %x) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @no_broadcast(%a: tensor<4x3xf32>, %b: tensor<4x5xf32>) {
  // expected-error @+1 {{Add inputs cannot broadcast: dimension 1 is 3 in one and 5 in another}}
  %y = onnx.node "Add" opset 17 (%a, %b) : (tensor<4x3xf32>, tensor<4x5xf32>) -> tensor<4x5xf32>
  return
}

// -----

func.func @mixed_types(%a: tensor<4xf32>, %b: tensor<4xf16>) {
  // expected-error @+1 {{Mul inputs must share an element type, got 'f32' and 'f16'}}
  %y = onnx.node "Mul" opset 17 (%a, %b) : (tensor<4xf32>, tensor<4xf16>) -> tensor<4xf32>
  return
}

// -----

func.func @float_only(%a: tensor<4xi32>) {
  // expected-error @+1 {{Exp is supported on floating-point tensors only, got 'i32'}}
  %y = onnx.node "Exp" opset 17 (%a) : (tensor<4xi32>) -> tensor<4xi32>
  return
}

// -----

func.func @unranked_input(%a: tensor<*xf32>) {
  // expected-error @+1 {{input 0 of Relu must be a ranked tensor}}
  %y = onnx.node "Relu" opset 17 (%a) : (tensor<*xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @inner_mismatch(%a: tensor<4x8xf32>, %b: tensor<6x2xf32>) {
  // expected-error @+1 {{MatMul inner dimensions differ: 8 and 6}}
  %y = onnx.node "MatMul" opset 13 (%a, %b) : (tensor<4x8xf32>, tensor<6x2xf32>) -> tensor<4x2xf32>
  return
}

// -----

func.func @wrong_imported_type(%a: tensor<4xf32>) {
  // expected-error @+1 {{lowering Relu computed 'tensor<4xf32>', which does not match the imported type 'tensor<5xf32>'}}
  %y = onnx.node "Relu" opset 17 (%a) : (tensor<4xf32>) -> tensor<5xf32>
  return
}

// -----


func.func @squeeze_non_unit(%a: tensor<4x3xf32>) {
  // expected-error @+1 {{Squeeze axis 1 is not a static unit dimension of 'tensor<4x3xf32>'}}
  %y = onnx.node "Squeeze" opset 11 (%a) attributes {axes = [1 : si64]} : (tensor<4x3xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @axis_out_of_range(%a: tensor<4x3xf32>) {
  // expected-error @+1 {{ReduceSum axis 2 is out of range for rank 2}}
  %y = onnx.node "ReduceSum" opset 11 (%a) attributes {axes = [2 : si64]} : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @axes_not_constant(%a: tensor<4x3xf32>, %axes: tensor<1xi64>) {
  // expected-error @+1 {{Unsqueeze needs constant axes}}
  %y = onnx.node "Unsqueeze" opset 13 (%a, %axes) : (tensor<4x3xf32>, tensor<1xi64>) -> tensor<4x1x3xf32>
  return
}

// -----

func.func @bad_perm(%a: tensor<4x3xf32>) {
  // expected-error @+1 {{Transpose perm is not a permutation of the 2 dimensions}}
  %y = onnx.node "Transpose" opset 13 (%a) attributes {perm = [0 : si64, 0 : si64]} : (tensor<4x3xf32>) -> tensor<4x4xf32>
  return
}

// -----

func.func @slice_negative_step(%a: tensor<4x8xf32>) {
  %st = arith.constant dense<[7]> : tensor<1xi64>
  %en = arith.constant dense<[0]> : tensor<1xi64>
  %ax = arith.constant dense<[1]> : tensor<1xi64>
  %sp = arith.constant dense<[-1]> : tensor<1xi64>
  // expected-error @+1 {{Slice with a negative or zero step is not supported}}
  %y = onnx.node "Slice" opset 13 (%a, %st, %en, %ax, %sp) : (tensor<4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<4x7xf32>
  return
}

// -----

func.func @gathernd_dynamic_tuple(%d: tensor<4x4xf32>, %i: tensor<2x?xi64>) {
  // expected-error @+1 {{GatherND needs integer indices whose last dimension is static and fits the data after batch_dims}}
  %y = onnx.node "GatherND" opset 13 (%d, %i) : (tensor<4x4xf32>, tensor<2x?xi64>) -> tensor<?xf32>
  return
}

// -----

func.func @scatternd_reduction(%d: tensor<4xf32>, %i: tensor<2x1xi64>, %u: tensor<2xf32>) {
  // expected-error @+1 {{ScatterND reduction 'mean' is not one of none, add, mul, max, min}}
  %y = onnx.node "ScatterND" opset 18 (%d, %i, %u) attributes {reduction = "mean"} : (tensor<4xf32>, tensor<2x1xi64>, tensor<2xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @range_not_scalar(%s: tensor<1xf32>) {
  // expected-error @+1 {{Range needs three scalars of one type}}
  %y = onnx.node "Range" opset 11 (%s, %s, %s) : (tensor<1xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<?xf32>
  return
}

// -----

func.func @argmax_axis(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{ArgMax axis is out of range for rank 2}}
  %y = onnx.node "ArgMax" opset 13 (%x) attributes {axis = 2 : si64} : (tensor<2x3xf32>) -> tensor<2x3xi64>
  return
}

// -----

// GroupQueryAttention with a window-sized (evicting) cache smaller than its
// window, and with a packed QKV width that no head size divides.
func.func @gqa_sliding_window_cache(%qkv: tensor<1x?x128xf32>, %past: tensor<1x2x64x16xf32>, %seqlens: tensor<1xi32>, %total: tensor<i32>) {
  %none = onnx.none
  // expected-error @+1 {{GroupQueryAttention with sliding_window_cache = 1 needs a cache capacity (past_key dimension 2, 64) of at least local_window_size (128)}}
  %y:3 = onnx.node "GroupQueryAttention" domain "com.microsoft" opset 1 (%qkv, %none, %none, %past, %past, %seqlens, %total) attributes {num_heads = 4 : si64, kv_num_heads = 2 : si64, local_window_size = 128 : si64, sliding_window_cache = 1 : si64} : (tensor<1x?x128xf32>, none, none, tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>, tensor<1xi32>, tensor<i32>) -> (tensor<1x?x64xf32>, tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>)
  return
}

// -----

func.func @gqa_window_cache_without_window(%qkv: tensor<1x?x128xf32>, %past: tensor<1x2x?x16xf32>, %seqlens: tensor<1xi32>, %total: tensor<i32>) {
  %none = onnx.none
  // expected-error @+1 {{GroupQueryAttention with sliding_window_cache = 1 needs local_window_size above 0 and the window-sized past_key and past_value}}
  %y:3 = onnx.node "GroupQueryAttention" domain "com.microsoft" opset 1 (%qkv, %none, %none, %past, %past, %seqlens, %total) attributes {num_heads = 4 : si64, kv_num_heads = 2 : si64, sliding_window_cache = 1 : si64} : (tensor<1x?x128xf32>, none, none, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1xi32>, tensor<i32>) -> (tensor<1x?x64xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>)
  return
}

// -----

func.func @gqa_head_size(%qkv: tensor<1x?x100xf32>, %seqlens: tensor<1xi32>, %total: tensor<i32>) {
  %none = onnx.none
  // expected-error @+1 {{GroupQueryAttention query hidden size 100 is not a multiple of 8 heads}}
  %y:3 = onnx.node "GroupQueryAttention" domain "com.microsoft" opset 1 (%qkv, %none, %none, %none, %none, %seqlens, %total) attributes {num_heads = 4 : si64, kv_num_heads = 2 : si64} : (tensor<1x?x100xf32>, none, none, none, none, tensor<1xi32>, tensor<i32>) -> (tensor<1x?x64xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>)
  return
}
