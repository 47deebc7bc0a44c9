// onnx.node in every optional form and onnx.none, printed and parsed back, in the custom and in the generic form.
// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s

// CHECK-LABEL: func.func @default_domain
// CHECK: onnx.node "Relu" opset 13 (%arg0) : (tensor<?x8xf32>) -> tensor<?x8xf32>
func.func @default_domain(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %y = onnx.node "Relu" opset 13 (%x) : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// CHECK-LABEL: func.func @with_domain
// CHECK: onnx.node "MoE" domain "com.microsoft" opset 1 (%arg0, %arg1, %arg2, %arg3) attributes {activation_type = "silu", k = 2 : si64}
// CHECK-SAME: : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
func.func @with_domain(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>,
                       %w2: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %y = onnx.node "MoE" domain "com.microsoft" opset 1 (%x, %l, %w1, %w2)
      attributes {k = 2 : si64, activation_type = "silu"}
      : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @with_name
// CHECK: onnx.node "MatMul" opset 13 name "layers.0/mlp/MatMul:0" (%arg0, %arg1) : (tensor<?x64xf32>, tensor<64x32xf32>) -> tensor<?x32xf32>
func.func @with_name(%x: tensor<?x64xf32>, %w: tensor<64x32xf32>) -> tensor<?x32xf32> {
  %y = onnx.node "MatMul" opset 13 name "layers.0/mlp/MatMul:0" (%x, %w)
      : (tensor<?x64xf32>, tensor<64x32xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// ONNX attribute kinds: int, float, string, tensor, lists of ints, floats and strings.
// CHECK-LABEL: func.func @with_attributes
// CHECK: onnx.node "Custom" domain "ai.example" opset 3 name "n" (%arg0) attributes {
// CHECK-SAME: alpha = 1.702000e+00 : f32
// CHECK-SAME: axes = [0 : si64, -1 : si64]
// CHECK-SAME: mode = "tanh"
// CHECK-SAME: names = ["a", "b"]
// CHECK-SAME: scales = [5.000000e-01 : f32, 2.000000e+00 : f32]
// CHECK-SAME: t = dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK-SAME: } : (tensor<4xf32>) -> tensor<4xf32>
func.func @with_attributes(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = onnx.node "Custom" domain "ai.example" opset 3 name "n" (%x)
      attributes {mode = "tanh", alpha = 1.702 : f32, t = dense<[1.0, 2.0]> : tensor<2xf32>,
                  axes = [0 : si64, -1 : si64], scales = [0.5 : f32, 2.0 : f32], names = ["a", "b"]}
      : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// An empty attribute dictionary is kept apart from no dictionary.
// CHECK-LABEL: func.func @empty_attributes
// CHECK: onnx.node "Relu" opset 14 (%arg0) attributes {} : (tensor<4xf32>) -> tensor<4xf32>
func.func @empty_attributes(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = onnx.node "Relu" opset 14 (%x) attributes {} : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// CHECK-LABEL: func.func @no_inputs
// CHECK: onnx.node "Constant" opset 13 () attributes {value = dense<[1, 2]> : tensor<2xi64>} : () -> tensor<2xi64>
func.func @no_inputs() -> tensor<2xi64> {
  %c = onnx.node "Constant" opset 13 () attributes {value = dense<[1, 2]> : tensor<2xi64>} : () -> tensor<2xi64>
  return %c : tensor<2xi64>
}

// CHECK-LABEL: func.func @several_results
// CHECK: %[[R:.*]]:2 = onnx.node "TopK" opset 11 name "router/topk" (%arg0, %arg1) attributes {axis = -1 : si64, largest = 1 : si64}
// CHECK-SAME: : (tensor<?x8xf32>, tensor<1xi64>) -> (tensor<?x2xf32>, tensor<?x2xi64>)
// CHECK: return %[[R]]#0, %[[R]]#1
func.func @several_results(%s: tensor<?x8xf32>, %k: tensor<1xi64>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %v, %i = onnx.node "TopK" opset 11 name "router/topk" (%s, %k) attributes {axis = -1 : si64, largest = 1 : si64}
      : (tensor<?x8xf32>, tensor<1xi64>) -> (tensor<?x2xf32>, tensor<?x2xi64>)
  return %v, %i : tensor<?x2xf32>, tensor<?x2xi64>
}

// A node of another domain with no results is kept: it may have effects.
// CHECK-LABEL: func.func @no_results
// CHECK: onnx.node "Print" domain "ai.example" opset 1 (%arg0) : (tensor<4xf32>) -> ()
func.func @no_results(%x: tensor<4xf32>) {
  onnx.node "Print" domain "ai.example" opset 1 (%x) : (tensor<4xf32>) -> ()
  return
}

// Empty optional inputs are onnx.none values.
// CHECK-LABEL: func.func @none_inputs
// CHECK: %[[NONE:.*]] = onnx.none
// CHECK: onnx.node "Clip" opset 13 (%arg0, %[[NONE]], %arg1) : (tensor<?x8xf32>, none, tensor<f32>) -> tensor<?x8xf32>
func.func @none_inputs(%x: tensor<?x8xf32>, %max: tensor<f32>) -> tensor<?x8xf32> {
  %none = onnx.none
  %y = onnx.node "Clip" opset 13 (%x, %none, %max) : (tensor<?x8xf32>, none, tensor<f32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// CHECK-LABEL: func.func @none_alone
// CHECK: %[[NONE:.*]] = onnx.none{{$}}
// CHECK: return %[[NONE]] : none
func.func @none_alone() -> none {
  %none = onnx.none
  return %none : none
}
