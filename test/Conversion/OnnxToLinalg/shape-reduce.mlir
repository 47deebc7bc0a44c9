// Transpose, Unsqueeze and Squeeze (axes as attribute before opset 13, as input since),
// and the reductions with and without keepdims.
// RUN: moe-opt %s --split-input-file --moe-legalize-onnx | FileCheck %s

// CHECK-LABEL: func.func @unsqueeze_squeeze
// CHECK:       %[[E:.*]] = tensor.expand_shape %arg0 {{\[\[}}0], [1, 2, 3]] output_shape [%{{.*}}, 1, 1, 8] : tensor<?x8xf32> into tensor<?x1x1x8xf32>
// CHECK:       tensor.collapse_shape %[[E]] {{\[\[}}0], [1, 2, 3]] : tensor<?x1x1x8xf32> into tensor<?x8xf32>
// CHECK:       tensor.expand_shape %arg0 {{\[\[}}0, 1], [2]] {{.*}} : tensor<?x8xf32> into tensor<1x?x8xf32>
func.func @unsqueeze_squeeze(%x: tensor<?x8xf32>) {
  %axes = onnx.node "Constant" opset 17 () attributes {value = dense<[1, 2]> : tensor<2xi64>} : () -> tensor<2xi64>
  %u = onnx.node "Unsqueeze" opset 17 (%x, %axes) : (tensor<?x8xf32>, tensor<2xi64>) -> tensor<?x1x1x8xf32>
  %s = onnx.node "Squeeze" opset 11 (%u) attributes {axes = [1 : si64, -2 : si64]} : (tensor<?x1x1x8xf32>) -> tensor<?x8xf32>
  %u0 = onnx.node "Unsqueeze" opset 11 (%x) attributes {axes = [0 : si64]} : (tensor<?x8xf32>) -> tensor<1x?x8xf32>
  return
}

// -----

// CHECK-LABEL: func.func @transpose
// CHECK:       linalg.transpose ins(%arg0 : tensor<2x3x4xf32>) outs(%{{.*}} : tensor<4x2x3xf32>) permutation = [2, 0, 1]
// CHECK:       linalg.transpose ins(%arg0 : tensor<2x3x4xf32>) outs(%{{.*}} : tensor<4x3x2xf32>) permutation = [2, 1, 0]
func.func @transpose(%y: tensor<2x3x4xf32>) {
  %t = onnx.node "Transpose" opset 13 (%y) attributes {perm = [2 : si64, 0 : si64, 1 : si64]} : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>
  %r = onnx.node "Transpose" opset 13 (%y) : (tensor<2x3x4xf32>) -> tensor<4x3x2xf32>
  return
}

// -----

// CHECK-LABEL: func.func @reductions
// CHECK:       %[[SUM:.*]] = linalg.reduce ins(%arg0 : tensor<?x8xf32>) outs(%{{.*}} : tensor<?xf32>) dimensions = [1]
// CHECK:         arith.addf
// CHECK:       tensor.expand_shape %[[SUM]] {{\[\[}}0, 1]] {{.*}} : tensor<?xf32> into tensor<?x1xf32>
// CHECK:       %[[MEAN:.*]] = linalg.reduce ins(%arg1 : tensor<2x3x4xf32>) outs(%{{.*}} : tensor<3xf32>) dimensions = [0, 2]
// CHECK:       arith.sitofp
// CHECK:       linalg.generic
// CHECK:         arith.divf
// CHECK:       %[[NEG_INF:.*]] = arith.constant 0xFF800000 : f32
// CHECK:       linalg.fill ins(%[[NEG_INF]] : f32)
// CHECK:       linalg.reduce ins(%arg1 : tensor<2x3x4xf32>) outs(%{{.*}} : tensor<f32>) dimensions = [0, 1, 2]
// CHECK:         arith.maximumf
// CHECK:       tensor.expand_shape %{{.*}} [] {{.*}} : tensor<f32> into tensor<1x1x1xf32>
func.func @reductions(%x: tensor<?x8xf32>, %y: tensor<2x3x4xf32>) {
  %ax = onnx.node "Constant" opset 17 () attributes {value = dense<[-1]> : tensor<1xi64>} : () -> tensor<1xi64>
  %r = onnx.node "ReduceSum" opset 17 (%x, %ax) attributes {keepdims = 1 : si64} : (tensor<?x8xf32>, tensor<1xi64>) -> tensor<?x1xf32>
  %m = onnx.node "ReduceMean" opset 13 (%y) attributes {axes = [0 : si64, 2 : si64], keepdims = 0 : si64} : (tensor<2x3x4xf32>) -> tensor<3xf32>
  %mx = onnx.node "ReduceMax" opset 13 (%y) : (tensor<2x3x4xf32>) -> tensor<1x1x1xf32>
  return
}

// -----

// noop_with_empty_axes keeps the input as it is.
// CHECK-LABEL: func.func @noop_reduce
// CHECK-NEXT:  return %arg0
func.func @noop_reduce(%x: tensor<4xf32>) -> tensor<4xf32> {
  %r = onnx.node "ReduceSum" opset 13 (%x) attributes {noop_with_empty_axes = 1 : si64} : (tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
}
