// TopK over the last axis: k selection passes per row, each scanning the row for the
// best element ranked after the previous pick (value, then lower index).
// RUN: moe-opt %s --split-input-file --moe-legalize-onnx | FileCheck %s

// CHECK-LABEL: func.func @topk_router
// CHECK:       %[[K:.*]] = arith.constant 2 : index
// CHECK:       %[[V0:.*]] = tensor.empty(%{{.*}}) : tensor<?x2xf32>
// CHECK:       %[[I0:.*]] = tensor.empty(%{{.*}}) : tensor<?x2xi64>
// CHECK-DAG:   %[[NEG_INF:.*]] = arith.constant 0xFF800000 : f32
// CHECK-DAG:   %[[NONE:.*]] = arith.constant -1 : index
// CHECK:       %[[ROWS:.*]]:2 = scf.for %[[ROW:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %[[V0]], %{{.*}} = %[[I0]])
// CHECK:         scf.for %[[PICK:.*]] = %{{.*}} to %[[K]] step %{{.*}} iter_args({{.*}}, %[[PREV:.*]] = %[[NEG_INF]], %[[PREVI:.*]] = %[[NONE]])
// CHECK:           scf.for %[[COL:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[BEST:.*]] = %[[NEG_INF]], %[[BESTI:.*]] = %[[NONE]])
// CHECK:             %[[V:.*]] = tensor.extract %arg0[%[[ROW]], %[[COL]]] : tensor<?x8xf32>
// CHECK:             arith.cmpf olt, %[[V]], %[[PREV]]
// CHECK:             arith.cmpf oeq, %[[V]], %[[PREV]]
// CHECK:             arith.cmpi sgt, %[[COL]], %[[PREVI]]
// CHECK:             arith.cmpf ogt, %[[V]], %[[BEST]]
// CHECK:           tensor.insert %{{.*}} into %{{.*}}[%[[ROW]], %[[PICK]]] : tensor<?x2xf32>
// CHECK:           arith.index_cast %{{.*}} : index to i64
// CHECK:           tensor.insert %{{.*}} into %{{.*}}[%[[ROW]], %[[PICK]]] : tensor<?x2xi64>
// CHECK:       return %[[ROWS]]#0, %[[ROWS]]#1
func.func @topk_router(%probs: tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %k = onnx.node "Constant" opset 17 () attributes {value = dense<2> : tensor<1xi64>} : () -> tensor<1xi64>
  %v:2 = onnx.node "TopK" opset 17 (%probs, %k) attributes {axis = -1 : si64} : (tensor<?x8xf32>, tensor<1xi64>) -> (tensor<?x2xf32>, tensor<?x2xi64>)
  return %v#0, %v#1 : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

// Smallest: the order flips and the scan starts from +inf; rank 3 is flattened to rows.
// CHECK-LABEL: func.func @topk_smallest_rank3
// CHECK:       tensor.collapse_shape %arg0 {{\[\[}}0, 1], [2]] : tensor<2x3x8xf32> into tensor<6x8xf32>
// CHECK-DAG:   arith.constant 0x7F800000 : f32
// CHECK:       arith.cmpf ogt
// CHECK:       arith.cmpf olt
// CHECK:       tensor.expand_shape %{{.*}} {{\[\[}}0, 1], [2]] output_shape [2, 3, 4] : tensor<6x4xf32> into tensor<2x3x4xf32>
func.func @topk_smallest_rank3(%x: tensor<2x3x8xf32>) {
  %k = onnx.node "Constant" opset 17 () attributes {value = dense<4> : tensor<1xi64>} : () -> tensor<1xi64>
  %v:2 = onnx.node "TopK" opset 17 (%x, %k) attributes {largest = 0 : si64} : (tensor<2x3x8xf32>, tensor<1xi64>) -> (tensor<2x3x4xf32>, tensor<2x3x4xi64>)
  return
}
