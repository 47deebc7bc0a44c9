// Numbers, not just ops: legalised nodes run through MLIR's reference lowering on
// mlir-cpu-runner, checked against values worked out by hand.
// RUN: moe-opt %s --moe-legalize-onnx %lower-to-llvm | %run-main | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)
func.func private @printMemrefI64(tensor<*xi64>)

func.func @print(%t: tensor<2x3xf32>) {
  %u = tensor.cast %t : tensor<2x3xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
func.func @print8(%t: tensor<2x8xf32>) {
  %u = tensor.cast %t : tensor<2x8xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
func.func @printIds(%t: tensor<2x3xi64>) {
  %u = tensor.cast %t : tensor<2x3xi64> to tensor<*xi64>
  call @printMemrefI64(%u) : (tensor<*xi64>) -> ()
  return
}

func.func @main() {
  %x = arith.constant dense<[[0.1, 0.9, 0.3, 0.9, -2.0, 0.5, 0.0, 0.2],
                             [5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0, 6.0]]> : tensor<2x8xf32>
  %k = onnx.node "Constant" opset 17 () attributes {value = dense<3> : tensor<1xi64>} : () -> tensor<1xi64>

  // Largest 3, ties to the lower index.
  // CHECK:      {{\[\[}}0.9, 0.9, 0.5],
  // CHECK-NEXT: [6, 5, 4]]
  // CHECK:      {{\[\[}}1, 3, 5],
  // CHECK-NEXT: [7, 0, 1]]
  %top:2 = onnx.node "TopK" opset 17 (%x, %k) attributes {axis = -1 : si64} : (tensor<2x8xf32>, tensor<1xi64>) -> (tensor<2x3xf32>, tensor<2x3xi64>)
  call @print(%top#0) : (tensor<2x3xf32>) -> ()
  call @printIds(%top#1) : (tensor<2x3xi64>) -> ()

  // Smallest 3.
  // CHECK:      {{\[\[}}-2, 0, 0.1],
  // CHECK-NEXT: [-1, 0, 1]]
  // CHECK:      {{\[\[}}4, 6, 0],
  // CHECK-NEXT: [6, 5, 4]]
  %low:2 = onnx.node "TopK" opset 17 (%x, %k) attributes {axis = -1 : si64, largest = 0 : si64} : (tensor<2x8xf32>, tensor<1xi64>) -> (tensor<2x3xf32>, tensor<2x3xi64>)
  call @print(%low#0) : (tensor<2x3xf32>) -> ()
  call @printIds(%low#1) : (tensor<2x3xi64>) -> ()

  // Renormalised top-k weights: top / ReduceSum(top, -1, keepdims).
  // 0.9 + 0.9 + 0.5 = 2.3 and 6 + 5 + 4 = 15.
  // CHECK:      {{\[\[}}0.391304, 0.391304, 0.217391],
  // CHECK-NEXT: [0.4, 0.333333, 0.266667]]
  %axes = onnx.node "Constant" opset 17 () attributes {value = dense<[-1]> : tensor<1xi64>} : () -> tensor<1xi64>
  %sum = onnx.node "ReduceSum" opset 17 (%top#0, %axes) attributes {keepdims = 1 : si64} : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<2x1xf32>
  %norm = onnx.node "Div" opset 17 (%top#0, %sum) : (tensor<2x3xf32>, tensor<2x1xf32>) -> tensor<2x3xf32>
  call @print(%norm) : (tensor<2x3xf32>) -> ()

  // Gather rows of a [4, 3] table by the ids (mod 4 via Where on Less).
  // ids row 0 = [1, 3, 5] -> 5 wraps to -3 -> row 1; row 1 = [7, 0, 1] -> 7 to -1 -> row 3.
  // CHECK:      {{\[\[}}10, 30, 10],
  // CHECK-NEXT: [30, 0, 10]]
  %table = arith.constant dense<[0.0, 10.0, 20.0, 30.0]> : tensor<4xf32>
  %four = arith.constant dense<4> : tensor<i64>
  %eight = arith.constant dense<8> : tensor<i64>
  %small = onnx.node "Less" opset 13 (%top#1, %four) : (tensor<2x3xi64>, tensor<i64>) -> tensor<2x3xi1>
  %shifted = onnx.node "Sub" opset 14 (%top#1, %eight) : (tensor<2x3xi64>, tensor<i64>) -> tensor<2x3xi64>
  %ids = onnx.node "Where" opset 16 (%small, %top#1, %shifted) : (tensor<2x3xi1>, tensor<2x3xi64>, tensor<2x3xi64>) -> tensor<2x3xi64>
  %g = onnx.node "Gather" opset 13 (%table, %ids) attributes {axis = 0 : si64} : (tensor<4xf32>, tensor<2x3xi64>) -> tensor<2x3xf32>
  call @print(%g) : (tensor<2x3xf32>) -> ()

  // MatMul [2, 8] x [8, 3] of the input with a 0/1 selector, then Split and Concat back.
  // Column j sums x[:, j] and x[:, j + 4].
  // CHECK:      {{\[\[}}-1.9, 1.4, 0.3],
  // CHECK-NEXT: [6, 4, 2]]
  %sel = arith.constant dense<[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0],
                               [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]> : tensor<8x3xf32>
  %mm = onnx.node "MatMul" opset 13 (%x, %sel) : (tensor<2x8xf32>, tensor<8x3xf32>) -> tensor<2x3xf32>
  %parts:2 = onnx.node "Split" opset 13 (%mm) attributes {axis = 1 : si64, split = [1 : si64, 2 : si64]} : (tensor<2x3xf32>) -> (tensor<2x1xf32>, tensor<2x2xf32>)
  %joined = onnx.node "Concat" opset 13 (%parts#0, %parts#1) attributes {axis = 1 : si64} : (tensor<2x1xf32>, tensor<2x2xf32>) -> tensor<2x3xf32>
  call @print(%joined) : (tensor<2x3xf32>) -> ()

  // Sigmoid where the input is positive, 0 elsewhere: sigmoid(1) = 0.731059.
  // CHECK:      {{\[\[}}0, 0, 0.731059],
  // CHECK-NEXT: [0, 0.880797, 0]]
  %z = arith.constant dense<[[0.0, -1.0, 1.0], [-3.0, 2.0, -0.5]]> : tensor<2x3xf32>
  %zero = arith.constant dense<0.0> : tensor<f32>
  %sig = onnx.node "Sigmoid" opset 13 (%z) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %pos = onnx.node "Greater" opset 13 (%z, %zero) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xi1>
  %zeros = arith.constant dense<0.0> : tensor<2x3xf32>
  %masked = onnx.node "Where" opset 16 (%pos, %sig, %zeros) : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  call @print(%masked) : (tensor<2x3xf32>) -> ()

  // Gemm with transB, alpha 2 and a broadcast bias times beta 0.5:
  // 2 * z @ I^T + 0.5 * [1, 2, 3].
  // CHECK:      {{\[\[}}0.5, -1, 3.5],
  // CHECK-NEXT: [-5.5, 5, 0.5]]
  %eye = arith.constant dense<[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]> : tensor<3x3xf32>
  %bias = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %gemm = onnx.node "Gemm" opset 13 (%z, %eye, %bias) attributes {alpha = 2.0 : f32, beta = 0.5 : f32, transB = 1 : si64} : (tensor<2x3xf32>, tensor<3x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  call @print(%gemm) : (tensor<2x3xf32>) -> ()

  // Slice columns 1, 4 and 7 of the [2, 8] input (start 1, step 3).
  // CHECK:      {{\[\[}}0.9, -2, 0.2],
  // CHECK-NEXT: [4, 1, 6]]
  %st = arith.constant dense<[1]> : tensor<1xi64>
  %en = arith.constant dense<[100]> : tensor<1xi64>
  %ax = arith.constant dense<[1]> : tensor<1xi64>
  %sp = arith.constant dense<[3]> : tensor<1xi64>
  %strided = onnx.node "Slice" opset 13 (%x, %st, %en, %ax, %sp) : (tensor<2x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x3xf32>
  call @print(%strided) : (tensor<2x3xf32>) -> ()

  // LayerNormalization over the last axis with scale and bias (epsilon 1e-5).
  // CHECK:      {{\[\[}}0.1, -2.44947, 0.512368],
  // CHECK-NEXT: [-1.12474, 2.44949, -0.1]]
  %gamma = arith.constant dense<[1.0, 2.0, 0.5]> : tensor<3xf32>
  %beta = arith.constant dense<[0.1, 0.0, -0.1]> : tensor<3xf32>
  %ln = onnx.node "LayerNormalization" opset 17 (%z, %gamma, %beta) attributes {axis = -1 : si64, epsilon = 1.0e-5 : f32} : (tensor<2x3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  call @print(%ln) : (tensor<2x3xf32>) -> ()

  // RMS norm (SimplifiedLayerNormalization, epsilon 1e-6).
  // CHECK:      {{\[\[}}0, -2.44949, 0.612372],
  // CHECK-NEXT: [-1.42749, 1.90332, -0.118958]]
  %rms = onnx.node "SimplifiedLayerNormalization" opset 17 (%z, %gamma) attributes {axis = -1 : si64, epsilon = 1.0e-6 : f32} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  call @print(%rms) : (tensor<2x3xf32>) -> ()

  // SkipSimplifiedLayerNormalization: the RMS norm of z + skip; output 3 is the sum.
  // CHECK:      {{\[\[}}0.774596, 0, 0.774596],
  // CHECK-NEXT: [-0.951662, 2.85{{[0-9]+}}, 0.118958]]
  // CHECK:      {{\[\[}}1, 0, 2],
  // CHECK-NEXT: [-2, 3, 0.5]]
  %ones = arith.constant dense<1.0> : tensor<2x3xf32>
  %skip:4 = onnx.node "SkipSimplifiedLayerNormalization" domain "com.microsoft" opset 1 (%z, %ones, %gamma) attributes {epsilon = 1.0e-6 : f32} : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<3xf32>) -> (tensor<2x3xf32>, tensor<*xf32>, tensor<*xf32>, tensor<2x3xf32>)
  call @print(%skip#0) : (tensor<2x3xf32>) -> ()
  call @print(%skip#3) : (tensor<2x3xf32>) -> ()

  // OneHot of the top-3 ids, summed over k: which experts each row chose.
  // CHECK:      {{\[\[}}0, 1, 0, 1, 0, 1, 0, 0],
  // CHECK-NEXT: [1, 1, 0, 0, 0, 0, 0, 1]]
  %depth = arith.constant dense<8> : tensor<i64>
  %onoff = arith.constant dense<[0.0, 1.0]> : tensor<2xf32>
  %hot = onnx.node "OneHot" opset 11 (%top#1, %depth, %onoff) attributes {axis = -1 : si64} : (tensor<2x3xi64>, tensor<i64>, tensor<2xf32>) -> tensor<2x3x8xf32>
  %kaxis = arith.constant dense<[1]> : tensor<1xi64>
  %chosen = onnx.node "ReduceSum" opset 13 (%hot, %kaxis) attributes {keepdims = 0 : si64} : (tensor<2x3x8xf32>, tensor<1xi64>) -> tensor<2x8xf32>
  call @print8(%chosen) : (tensor<2x8xf32>) -> ()

  // GatherElements of the input at the top-3 ids gives the top-3 values back.
  // CHECK:      {{\[\[}}0.9, 0.9, 0.5],
  // CHECK-NEXT: [6, 5, 4]]
  %picked = onnx.node "GatherElements" opset 13 (%x, %top#1) attributes {axis = 1 : si64} : (tensor<2x8xf32>, tensor<2x3xi64>) -> tensor<2x3xf32>
  call @print(%picked) : (tensor<2x3xf32>) -> ()

  // ScatterElements with reduction add of the renormalised weights onto ones: the
  // dense routing matrix, plus one.
  // CHECK:      {{\[\[}}1, 1.3913, 1, 1.3913, 1, 1.21739, 1, 1],
  // CHECK-NEXT: [1.33333, 1.26667, 1, 1, 1, 1, 1, 1.4]]
  %ones8 = arith.constant dense<1.0> : tensor<2x8xf32>
  %dense = onnx.node "ScatterElements" opset 16 (%ones8, %top#1, %norm) attributes {axis = 1 : si64, reduction = "add"} : (tensor<2x8xf32>, tensor<2x3xi64>, tensor<2x3xf32>) -> tensor<2x8xf32>
  call @print8(%dense) : (tensor<2x8xf32>) -> ()
  return
}
