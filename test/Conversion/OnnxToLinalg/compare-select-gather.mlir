// Comparisons and logic on booleans, Where, Cast, Clip, Concat and Gather.
// RUN: moe-opt %s --split-input-file --moe-legalize-onnx | FileCheck %s

// CHECK-LABEL: func.func @compare_logic_where
// CHECK:       %[[LESS:.*]] = linalg.generic {{.*}} ins(%arg0, %arg1 : tensor<4x8xf32>, tensor<8xf32>) outs(%{{.*}} : tensor<4x8xi1>)
// CHECK:         arith.cmpf olt
// CHECK:       linalg.generic {{.*}} ins(%arg2, %arg3 : tensor<4xi64>, tensor<4xi64>) outs(%{{.*}} : tensor<4xi1>)
// CHECK:         arith.cmpi eq
// CHECK:       %[[NOT:.*]] = linalg.generic {{.*}} ins(%[[LESS]] : tensor<4x8xi1>)
// CHECK:         %[[TRUE:.*]] = arith.constant true
// CHECK:         arith.xori %{{.*}}, %[[TRUE]] : i1
// CHECK:       linalg.generic {{.*}} ins(%[[NOT]], %arg0, %arg1 : tensor<4x8xi1>, tensor<4x8xf32>, tensor<8xf32>)
// CHECK:         arith.select
func.func @compare_logic_where(%x: tensor<4x8xf32>, %t: tensor<8xf32>, %a: tensor<4xi64>, %b: tensor<4xi64>) {
  %less = onnx.node "Less" opset 13 (%x, %t) : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xi1>
  %eq = onnx.node "Equal" opset 13 (%a, %b) : (tensor<4xi64>, tensor<4xi64>) -> tensor<4xi1>
  %not = onnx.node "Not" opset 1 (%less) : (tensor<4x8xi1>) -> tensor<4x8xi1>
  %w = onnx.node "Where" opset 16 (%not, %x, %t) : (tensor<4x8xi1>, tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return
}

// -----

// CHECK-LABEL: func.func @casts
// CHECK:       arith.sitofp %{{.*}} : i64 to f32
// CHECK:       arith.fptosi %{{.*}} : f32 to i32
// CHECK:       arith.truncf %{{.*}} : f32 to bf16
// CHECK:       arith.extui %{{.*}} : i1 to i64
func.func @casts(%i: tensor<4xi64>, %f: tensor<4xf32>, %b: tensor<4xi1>) {
  %0 = onnx.node "Cast" opset 13 (%i) attributes {to = 1 : si64} : (tensor<4xi64>) -> tensor<4xf32>
  %1 = onnx.node "Cast" opset 13 (%f) attributes {to = 6 : si64} : (tensor<4xf32>) -> tensor<4xi32>
  %2 = onnx.node "Cast" opset 13 (%f) attributes {to = 16 : si64} : (tensor<4xf32>) -> tensor<4xbf16>
  %3 = onnx.node "Cast" opset 13 (%b) attributes {to = 7 : si64} : (tensor<4xi1>) -> tensor<4xi64>
  return
}

// -----

// gpt-oss's clamp of the gate: only a maximum.
// CHECK-LABEL: func.func @clip
// Before opset 11 the bounds are attributes.
// CHECK:       %[[LO:.*]] = arith.constant dense<-1.000000e+00> : tensor<f32>
// CHECK:       %[[HI:.*]] = arith.constant dense<0x7F800000> : tensor<f32>
// CHECK:       linalg.generic {{.*}} ins(%arg0, %[[LO]], %[[HI]] : tensor<?x8xf32>, tensor<f32>, tensor<f32>)
// CHECK:       linalg.generic {{.*}} ins(%arg0, %arg1 : tensor<?x8xf32>, tensor<f32>)
// CHECK-NOT:     arith.maximumf
// CHECK:         arith.minimumf
// CHECK:       linalg.generic {{.*}} ins(%arg0, %arg2, %arg1 : tensor<?x8xf32>, tensor<f32>, tensor<f32>)
// CHECK:         arith.maximumf
// CHECK:         arith.minimumf
func.func @clip(%x: tensor<?x8xf32>, %hi: tensor<f32>, %lo: tensor<f32>) {
  %none = onnx.none
  %old = onnx.node "Clip" opset 6 (%x) attributes {min = -1.0 : f32} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %0 = onnx.node "Clip" opset 13 (%x, %none, %hi) : (tensor<?x8xf32>, none, tensor<f32>) -> tensor<?x8xf32>
  %1 = onnx.node "Clip" opset 13 (%x, %lo, %hi) : (tensor<?x8xf32>, tensor<f32>, tensor<f32>) -> tensor<?x8xf32>
  return
}

// -----

// CHECK-LABEL: func.func @concat
// CHECK:       %[[E:.*]] = tensor.empty(%{{.*}}) : tensor<?x12xf32>
// CHECK:       %[[A:.*]] = tensor.insert_slice %arg0 into %[[E]][0, 0] [%{{.*}}, 8] [1, 1] : tensor<?x8xf32> into tensor<?x12xf32>
// CHECK:       tensor.insert_slice %arg1 into %[[A]][0, 8] [%{{.*}}, 4] [1, 1] : tensor<?x4xf32> into tensor<?x12xf32>
func.func @concat(%a: tensor<?x8xf32>, %b: tensor<?x4xf32>) -> tensor<?x12xf32> {
  %c = onnx.node "Concat" opset 13 (%a, %b) attributes {axis = -1 : si64} : (tensor<?x8xf32>, tensor<?x4xf32>) -> tensor<?x12xf32>
  return %c : tensor<?x12xf32>
}

// -----

// Gathering expert weights by the top-k ids: [E, H, F] by [T, k] -> [T, k, H, F].
// CHECK-DAG: #[[IDX:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1)>
// CHECK-LABEL: func.func @gather
// CHECK:       linalg.generic {indexing_maps = [#[[IDX]], #{{.*}}], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg1 : tensor<?x2xi64>) outs(%{{.*}} : tensor<?x2x16x64xf32>)
// CHECK:         %[[I:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK:         arith.cmpi slt, %[[I]]
// CHECK:         arith.select
// CHECK:         %[[D2:.*]] = linalg.index 2 : index
// CHECK:         %[[D3:.*]] = linalg.index 3 : index
// CHECK:         tensor.extract %arg0[%{{.*}}, %[[D2]], %[[D3]]] : tensor<8x16x64xf32>
func.func @gather(%w: tensor<8x16x64xf32>, %ids: tensor<?x2xi64>) -> tensor<?x2x16x64xf32> {
  %g = onnx.node "Gather" opset 13 (%w, %ids) attributes {axis = 0 : si64} : (tensor<8x16x64xf32>, tensor<?x2xi64>) -> tensor<?x2x16x64xf32>
  return %g : tensor<?x2x16x64xf32>
}
