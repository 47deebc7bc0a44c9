// RUN: moe-opt %s --moe-legalize-onnx --split-input-file | FileCheck %s

// ArgMax: one reduction generic with the best value and its i64 position as outputs,
// then the unit axis back for keepdims.
// CHECK-LABEL: func.func @argmax
// CHECK:       %[[R:.*]]:2 = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]{{.*}} outs(%{{.*}}, %{{.*}} : tensor<2xf32>, tensor<2xi64>)
// CHECK:         arith.cmpf ogt
// CHECK:       tensor.expand_shape %[[R]]#1 {{\[\[}}0, 1]] output_shape [2, 1] : tensor<2xi64> into tensor<2x1xi64>
func.func @argmax(%x: tensor<2x8xf32>) -> tensor<2x1xi64> {
  %y = onnx.node "ArgMax" opset 13 (%x) attributes {axis = 1 : si64} : (tensor<2x8xf32>) -> tensor<2x1xi64>
  return %y : tensor<2x1xi64>
}

// -----

// Range: the length from the scalars at run time, then start + i * delta.
// CHECK-LABEL: func.func @range
// CHECK:       math.ceil
// CHECK:       %[[N:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK:       %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?xf32>
// CHECK:       linalg.generic {{.*}} outs(%[[E]] : tensor<?xf32>)
// CHECK:         linalg.index 0
func.func @range(%s: tensor<f32>, %l: tensor<f32>, %d: tensor<f32>) -> tensor<?xf32> {
  %y = onnx.node "Range" opset 11 (%s, %l, %d) : (tensor<f32>, tensor<f32>, tensor<f32>) -> tensor<?xf32>
  return %y : tensor<?xf32>
}

// -----

// NonZero: a counting loop nest, then a filling one.
// CHECK-LABEL: func.func @nonzero
// CHECK:       %[[COUNT:.*]] = scf.for {{.*}} -> (index)
// CHECK:       tensor.empty(%[[COUNT]]) : tensor<2x?xi64>
// CHECK:       scf.for {{.*}} -> (tensor<2x?xi64>, index)
// CHECK:         scf.if
func.func @nonzero(%x: tensor<2x3xf32>) -> tensor<2x?xi64> {
  %y = onnx.node "NonZero" opset 13 (%x) : (tensor<2x3xf32>) -> tensor<2x?xi64>
  return %y : tensor<2x?xi64>
}

// -----

// GatherND: a generic over the result reading the index tuple and the data.
// CHECK-LABEL: func.func @gathernd
// CHECK:       linalg.generic {{.*}} outs(%{{.*}} : tensor<3x4xf32>)
// CHECK:         tensor.extract %arg1
// CHECK:         tensor.extract %arg0
func.func @gathernd(%d: tensor<5x4xf32>, %i: tensor<3x1xi64>) -> tensor<3x4xf32> {
  %y = onnx.node "GatherND" opset 13 (%d, %i) : (tensor<5x4xf32>, tensor<3x1xi64>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// ScatterND with reduction add: loops in index order, read, add, insert.
// CHECK-LABEL: func.func @scatternd
// CHECK:       scf.for {{.*}} iter_args(%{{.*}} = %arg0) -> (tensor<5x4xf32>)
// CHECK:         scf.for
// CHECK:           tensor.extract %arg1
// CHECK:           arith.addf
// CHECK:           tensor.insert
func.func @scatternd(%d: tensor<5x4xf32>, %i: tensor<3x1xi64>, %u: tensor<3x4xf32>) -> tensor<5x4xf32> {
  %y = onnx.node "ScatterND" opset 16 (%d, %i, %u) attributes {reduction = "add"} : (tensor<5x4xf32>, tensor<3x1xi64>, tensor<3x4xf32>) -> tensor<5x4xf32>
  return %y : tensor<5x4xf32>
}

// -----

// Pow with an integer exponent converts it to the base's type.
// CHECK-LABEL: func.func @pow_mixed
// CHECK:       arith.sitofp %{{.*}} : i64 to f32
// CHECK:       math.powf
func.func @pow_mixed(%b: tensor<4xf32>, %e: tensor<4xi64>) -> tensor<4xf32> {
  %y = onnx.node "Pow" opset 15 (%b, %e) : (tensor<4xf32>, tensor<4xi64>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}
