// Elementwise onnx nodes become one linalg.generic each, with ONNX broadcasting in
// the indexing maps.
// RUN: moe-opt %s --split-input-file --moe-legalize-onnx | FileCheck %s

// CHECK-DAG: #[[ID2:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @add_broadcast_row
// CHECK:       %[[C0:.*]] = arith.constant 0 : index
// CHECK:       %[[T:.*]] = tensor.dim %arg0, %[[C0]] : tensor<?x8xf32>
// CHECK:       %[[INIT:.*]] = tensor.empty(%[[T]]) : tensor<?x8xf32>
// CHECK:       linalg.generic {indexing_maps = [#[[ID2]], #[[ROW]], #[[ID2]]], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:    ins(%arg0, %arg1 : tensor<?x8xf32>, tensor<8xf32>) outs(%[[INIT]] : tensor<?x8xf32>)
// CHECK:         arith.addf
// CHECK-NOT:   onnx.node
func.func @add_broadcast_row(%x: tensor<?x8xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  %y = onnx.node "Add" opset 17 (%x, %b) : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// A static 1 broadcasts through a constant index in the map.
// CHECK-DAG: #[[COL:.*]] = affine_map<(d0, d1) -> (d0, 0)>
// CHECK-LABEL: func.func @mul_broadcast_column
// CHECK:       linalg.generic {indexing_maps = [#{{.*}}, #[[COL]], #{{.*}}]
// CHECK:         arith.mulf
func.func @mul_broadcast_column(%x: tensor<4x8xf32>, %w: tensor<4x1xf32>) -> tensor<4x8xf32> {
  %y = onnx.node "Mul" opset 13 (%x, %w) : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Signed integers use the signed arith ops.
// CHECK-LABEL: func.func @integer_ops
// CHECK:       arith.divsi
// CHECK:       arith.subi
// CHECK:       arith.maxsi
func.func @integer_ops(%a: tensor<4xi64>, %b: tensor<4xi64>) {
  %0 = onnx.node "Div" opset 14 (%a, %b) : (tensor<4xi64>, tensor<4xi64>) -> tensor<4xi64>
  %2 = onnx.node "Sub" opset 14 (%a, %0) : (tensor<4xi64>, tensor<4xi64>) -> tensor<4xi64>
  %3 = onnx.node "Relu" opset 14 (%2) : (tensor<4xi64>) -> tensor<4xi64>
  return
}

// -----

// CHECK-LABEL: func.func @unary
// CHECK:       math.exp
// CHECK:       math.log
// CHECK:       math.sqrt
// CHECK:       math.tanh
// CHECK:       math.erf
// CHECK:       arith.negf
// CHECK:       math.absf
// CHECK:       arith.divf
// CHECK:       %[[NEG:.*]] = arith.negf
// CHECK-NEXT:  %[[EXP:.*]] = math.exp %[[NEG]]
// CHECK-NEXT:  %[[ONE:.*]] = arith.constant 1.000000e+00 : f16
// CHECK-NEXT:  %[[DEN:.*]] = arith.addf %[[ONE]], %[[EXP]]
// CHECK-NEXT:  arith.divf %[[ONE]], %[[DEN]]
// CHECK:       arith.maximumf
// CHECK:       math.powf
// CHECK:       arith.maximumf
// CHECK:       arith.minimumf
func.func @unary(%x: tensor<2x3xf16>) {
  %0 = onnx.node "Exp" opset 13 (%x) : (tensor<2x3xf16>) -> tensor<2x3xf16>
  %1 = onnx.node "Log" opset 13 (%0) : (tensor<2x3xf16>) -> tensor<2x3xf16>
  %2 = onnx.node "Sqrt" opset 13 (%1) : (tensor<2x3xf16>) -> tensor<2x3xf16>
  %3 = onnx.node "Tanh" opset 13 (%2) : (tensor<2x3xf16>) -> tensor<2x3xf16>
  %4 = onnx.node "Erf" opset 13 (%3) : (tensor<2x3xf16>) -> tensor<2x3xf16>
  %5 = onnx.node "Neg" opset 13 (%4) : (tensor<2x3xf16>) -> tensor<2x3xf16>
  %6 = onnx.node "Abs" opset 13 (%5) : (tensor<2x3xf16>) -> tensor<2x3xf16>
  %7 = onnx.node "Reciprocal" opset 13 (%6) : (tensor<2x3xf16>) -> tensor<2x3xf16>
  %8 = onnx.node "Sigmoid" opset 13 (%7) : (tensor<2x3xf16>) -> tensor<2x3xf16>
  %9 = onnx.node "Relu" opset 14 (%8) : (tensor<2x3xf16>) -> tensor<2x3xf16>
  %10 = onnx.node "Pow" opset 15 (%9, %x) : (tensor<2x3xf16>, tensor<2x3xf16>) -> tensor<2x3xf16>
  %11 = onnx.node "Max" opset 13 (%10, %x) : (tensor<2x3xf16>, tensor<2x3xf16>) -> tensor<2x3xf16>
  %12 = onnx.node "Min" opset 13 (%11, %x) : (tensor<2x3xf16>, tensor<2x3xf16>) -> tensor<2x3xf16>
  return
}

// -----

// An imported result type less precise than the computed one is restored with a cast;
// Identity forwards its input; Constant becomes arith.constant.
// CHECK-LABEL: func.func @types_identity_constant
// CHECK:       %[[C:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK:       %[[SUM:.*]] = linalg.generic
// CHECK:       %[[CAST:.*]] = tensor.cast %[[SUM]] : tensor<2xf32> to tensor<*xf32>
// CHECK:       return %[[CAST]], %arg0
func.func @types_identity_constant(%x: tensor<2xf32>) -> (tensor<*xf32>, tensor<2xf32>) {
  %c = onnx.node "Constant" opset 17 () attributes {value = dense<[1.0, 2.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %y = onnx.node "Add" opset 17 (%x, %c) : (tensor<2xf32>, tensor<2xf32>) -> tensor<*xf32>
  %i = onnx.node "Identity" opset 17 (%x) : (tensor<2xf32>) -> tensor<2xf32>
  return %y, %i : tensor<*xf32>, tensor<2xf32>
}
