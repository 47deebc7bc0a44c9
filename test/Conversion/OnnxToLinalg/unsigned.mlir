// Unsigned integers are computed on as signless ones of the same bits, the
// function's signature included, with the unsigned forms of division,
// remainder, comparison, Max and conversions.
// RUN: moe-opt %s --moe-legalize-onnx | FileCheck %s

// CHECK-LABEL: func.func @unsigned
// CHECK-SAME:    (%{{.*}}: tensor<4xi8>, %{{.*}}: tensor<4xi8>) -> (tensor<4xi8>, tensor<4xi8>, tensor<4xi1>, tensor<4xi8>, tensor<4xf32>, tensor<4xi8>, tensor<4xi32>)
// CHECK:         arith.divui
// CHECK:         arith.remui
// CHECK:         arith.cmpi ult
// CHECK:         arith.maxui
// CHECK:         arith.uitofp {{.*}} : i8 to f32
// CHECK:         arith.fptoui {{.*}} : f32 to i8
// CHECK:         arith.extui {{.*}} : i8 to i32
// CHECK-NOT:     ui8
func.func @unsigned(%a: tensor<4xui8>, %b: tensor<4xui8>) -> (tensor<4xui8>, tensor<4xui8>, tensor<4xi1>, tensor<4xui8>, tensor<4xf32>, tensor<4xui8>, tensor<4xi32>) {
  %div = onnx.node "Div" opset 14 (%a, %b) : (tensor<4xui8>, tensor<4xui8>) -> tensor<4xui8>
  %mod = onnx.node "Mod" opset 13 (%a, %b) : (tensor<4xui8>, tensor<4xui8>) -> tensor<4xui8>
  %less = onnx.node "Less" opset 13 (%a, %b) : (tensor<4xui8>, tensor<4xui8>) -> tensor<4xi1>
  %max = onnx.node "Max" opset 13 (%a, %b) : (tensor<4xui8>, tensor<4xui8>) -> tensor<4xui8>
  %f = onnx.node "Cast" opset 13 (%a) attributes {to = 1 : si64} : (tensor<4xui8>) -> tensor<4xf32>
  %u = onnx.node "Cast" opset 13 (%f) attributes {to = 2 : si64} : (tensor<4xf32>) -> tensor<4xui8>
  %w = onnx.node "Cast" opset 13 (%a) attributes {to = 6 : si64} : (tensor<4xui8>) -> tensor<4xi32>
  return %div, %mod, %less, %max, %f, %u, %w : tensor<4xui8>, tensor<4xui8>, tensor<4xi1>, tensor<4xui8>, tensor<4xf32>, tensor<4xui8>, tensor<4xi32>
}
