// Shape, ConstantOfShape, Expand, Reshape and Split.
// RUN: moe-opt %s --split-input-file --moe-legalize-onnx | FileCheck %s

// CHECK-LABEL: func.func @shape_of_dynamic
// CHECK:       %[[D0:.*]] = tensor.dim %arg0, %{{.*}} : tensor<?x8xf32>
// CHECK:       %[[I0:.*]] = arith.index_cast %[[D0]] : index to i64
// CHECK:       %[[I1:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK:       %[[SHAPE:.*]] = tensor.from_elements %[[I0]], %[[I1]] : tensor<2xi64>
// ConstantOfShape of it reads the sizes back.
// CHECK:       tensor.extract %[[SHAPE]]
// CHECK:       %[[FILL:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:       linalg.fill ins(%[[FILL]] : f32) outs(%{{.*}} : tensor<?x?xf32>)
func.func @shape_of_dynamic(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %s = onnx.node "Shape" opset 13 (%x) : (tensor<?x8xf32>) -> tensor<2xi64>
  %z = onnx.node "ConstantOfShape" opset 9 (%s) attributes {value = dense<0.0> : tensor<1xf32>} : (tensor<2xi64>) -> tensor<?x8xf32>
  return %z : tensor<?x8xf32>
}

// -----

// CHECK-LABEL: func.func @expand_and_reshape
// CHECK:       linalg.generic {{.*}} ins(%arg0, %{{.*}} : tensor<4x1xf32>, tensor<4x6xf32>) outs(%{{.*}} : tensor<4x6xf32>)
// CHECK:       %[[SHAPE:.*]] = tensor.from_elements %{{.*}}, %{{.*}} : tensor<2xindex>
// CHECK:       tensor.reshape %{{.*}}(%[[SHAPE]]) : (tensor<4x6xf32>, tensor<2xindex>) -> tensor<2x12xf32>
func.func @expand_and_reshape(%x: tensor<4x1xf32>) -> tensor<2x12xf32> {
  %shape = onnx.node "Constant" opset 17 () attributes {value = dense<[4, 6]> : tensor<2xi64>} : () -> tensor<2xi64>
  %e = onnx.node "Expand" opset 13 (%x, %shape) : (tensor<4x1xf32>, tensor<2xi64>) -> tensor<4x6xf32>
  %to = onnx.node "Constant" opset 17 () attributes {value = dense<[2, -1]> : tensor<2xi64>} : () -> tensor<2xi64>
  %r = onnx.node "Reshape" opset 14 (%e, %to) : (tensor<4x6xf32>, tensor<2xi64>) -> tensor<2x12xf32>
  return %r : tensor<2x12xf32>
}

// -----

// 0 copies a dynamic dimension; the result keeps it dynamic.
// CHECK-LABEL: func.func @reshape_copy_dim
// CHECK:       tensor.reshape %arg0(%{{.*}}) : (tensor<?x2x4xf32>, tensor<2xindex>) -> tensor<?x8xf32>
func.func @reshape_copy_dim(%x: tensor<?x2x4xf32>) -> tensor<?x8xf32> {
  %to = onnx.node "Constant" opset 17 () attributes {value = dense<[0, 8]> : tensor<2xi64>} : () -> tensor<2xi64>
  %r = onnx.node "Reshape" opset 14 (%x, %to) : (tensor<?x2x4xf32>, tensor<2xi64>) -> tensor<?x8xf32>
  return %r : tensor<?x8xf32>
}

// -----

// CHECK-LABEL: func.func @split
// CHECK:       tensor.extract_slice %arg0[0, 0] [%{{.*}}, 32] [1, 1] : tensor<?x64xf32> to tensor<?x32xf32>
// CHECK:       tensor.extract_slice %arg0[0, 32] [%{{.*}}, 32] [1, 1] : tensor<?x64xf32> to tensor<?x32xf32>
// CHECK:       tensor.extract_slice %arg0[0, 0] [%{{.*}}, 16] [1, 1] : tensor<?x64xf32> to tensor<?x16xf32>
// CHECK:       tensor.extract_slice %arg0[0, 16] [%{{.*}}, 48] [1, 1] : tensor<?x64xf32> to tensor<?x48xf32>
func.func @split(%x: tensor<?x64xf32>) {
  %a:2 = onnx.node "Split" opset 18 (%x) attributes {axis = 1 : si64, num_outputs = 2 : si64} : (tensor<?x64xf32>) -> (tensor<?x32xf32>, tensor<?x32xf32>)
  %sizes = onnx.node "Constant" opset 17 () attributes {value = dense<[16, 48]> : tensor<2xi64>} : () -> tensor<2xi64>
  %b:2 = onnx.node "Split" opset 13 (%x, %sizes) attributes {axis = -1 : si64} : (tensor<?x64xf32>, tensor<2xi64>) -> (tensor<?x16xf32>, tensor<?x48xf32>)
  return
}
