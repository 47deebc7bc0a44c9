// onnx.node and onnx.none round-trip in the custom and the generic form.
// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s

// CHECK-LABEL: func.func @nodes
// CHECK: %[[NONE:.*]] = onnx.none
// CHECK: %[[T:.*]]:2 = onnx.node "TopK" opset 13 name "router/topk" (%arg0, %arg1) attributes {axis = -1 : si64, largest = 1 : si64} : (tensor<?x8xf32>, tensor<1xi64>) -> (tensor<?x2xf32>, tensor<?x2xi64>)
// CHECK: onnx.node "MoE" domain "com.microsoft" opset 1 (%arg2, %arg0, %arg3, %[[NONE]], %arg4) attributes {activation_alpha = 1.702000e+00 : f32, activation_type = "silu", k = 2 : si64} : (tensor<?x16xf32>, tensor<?x8xf32>, tensor<8x64x16xf32>, none, tensor<8x16x32xf32>) -> tensor<*xf32>
// CHECK: onnx.node "Constant" opset 21 () attributes {value = dense<[1, 2]> : tensor<2xi64>} : () -> tensor<2xi64>
// CHECK: onnx.node "Custom" domain "my.domain" opset 3 (%arg0) : (tensor<?x8xf32>) -> ()
func.func @nodes(%l: tensor<?x8xf32>, %k: tensor<1xi64>, %x: tensor<?x16xf32>, %w1: tensor<8x64x16xf32>, %w2: tensor<8x16x32xf32>) {
  %none = onnx.none
  %v:2 = onnx.node "TopK" opset 13 name "router/topk" (%l, %k) attributes {axis = -1 : si64, largest = 1 : si64} : (tensor<?x8xf32>, tensor<1xi64>) -> (tensor<?x2xf32>, tensor<?x2xi64>)
  %y = onnx.node "MoE" domain "com.microsoft" opset 1 (%x, %l, %w1, %none, %w2) attributes {k = 2 : si64, activation_type = "silu", activation_alpha = 1.702 : f32} : (tensor<?x16xf32>, tensor<?x8xf32>, tensor<8x64x16xf32>, none, tensor<8x16x32xf32>) -> tensor<*xf32>
  %c = onnx.node "Constant" opset 21 () attributes {value = dense<[1, 2]> : tensor<2xi64>} : () -> tensor<2xi64>
  onnx.node "Custom" domain "my.domain" opset 3 (%l) : (tensor<?x8xf32>) -> ()
  return
}

// Default-domain nodes without users are removed; nodes of other domains and random
// generators are kept.
// RUN: moe-opt %s --canonicalize | FileCheck %s --check-prefix=DCE
// DCE-LABEL: func.func @dead_nodes
// DCE-NOT:   "Relu"
// DCE:       onnx.node "RandomNormal"
// DCE:       onnx.node "Custom" domain "my.domain"
// DCE-NOT:   "Relu"
func.func @dead_nodes(%x: tensor<4xf32>) {
  %a = onnx.node "Relu" opset 17 (%x) : (tensor<4xf32>) -> tensor<4xf32>
  %r = onnx.node "RandomNormal" opset 17 () attributes {shape = [4 : si64]} : () -> tensor<4xf32>
  %c = onnx.node "Custom" domain "my.domain" opset 1 (%x) : (tensor<4xf32>) -> tensor<4xf32>
  return
}
