// RUN: moe-opt %s --canonicalize | FileCheck %s

// Default-domain nodes without users are removed; nodes of other domains and random
// generators are kept.
// CHECK-LABEL: func.func @dead_nodes
// CHECK-NOT:   "Relu"
// CHECK:       onnx.node "RandomNormal"
// CHECK:       onnx.node "Custom" domain "my.domain"
// CHECK-NOT:   "Relu"
func.func @dead_nodes(%x: tensor<4xf32>) {
  %a = onnx.node "Relu" opset 17 (%x) : (tensor<4xf32>) -> tensor<4xf32>
  %r = onnx.node "RandomNormal" opset 17 () attributes {shape = [4 : si64]} : () -> tensor<4xf32>
  %c = onnx.node "Custom" domain "my.domain" opset 1 (%x) : (tensor<4xf32>) -> tensor<4xf32>
  return
}
