// ArgMax/ArgMin, Range, NonZero, Gather(Elements) out of range, GatherND, ScatterND and Pow with an integer
// exponent, legalised and run through MLIR's reference lowering on mlir-cpu-runner,
// against values worked out by hand.
// RUN: moe-opt %s --moe-legalize-onnx %lower-to-llvm | %run-main | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)
func.func private @printMemrefI64(tensor<*xi64>)

func.func @main() {
  %x = arith.constant dense<[[0.1, 0.9, 0.3, 0.9, -2.0, 0.5, 0.0, 0.2],
                             [5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0, 6.0]]> : tensor<2x8xf32>

  // ArgMax, first of the tied maxima, keepdims.
  // CHECK:      {{\[\[}}1],
  // CHECK-NEXT:  [7]]
  %amax = onnx.node "ArgMax" opset 13 (%x) attributes {axis = 1 : si64} : (tensor<2x8xf32>) -> tensor<2x1xi64>
  %u0 = tensor.cast %amax : tensor<2x1xi64> to tensor<*xi64>
  call @printMemrefI64(%u0) : (tensor<*xi64>) -> ()
  // select_last_index picks the last of the ties.
  // CHECK:      {{\[\[}}3],
  // CHECK-NEXT:  [7]]
  %alast = onnx.node "ArgMax" opset 13 (%x) attributes {axis = -1 : si64, select_last_index = 1 : si64} : (tensor<2x8xf32>) -> tensor<2x1xi64>
  %u1 = tensor.cast %alast : tensor<2x1xi64> to tensor<*xi64>
  call @printMemrefI64(%u1) : (tensor<*xi64>) -> ()
  // ArgMin without keepdims.
  // CHECK:      [4,  6]
  %amin = onnx.node "ArgMin" opset 13 (%x) attributes {axis = 1 : si64, keepdims = 0 : si64} : (tensor<2x8xf32>) -> tensor<2xi64>
  %u2 = tensor.cast %amin : tensor<2xi64> to tensor<*xi64>
  call @printMemrefI64(%u2) : (tensor<*xi64>) -> ()

  // Range(0.5, 2, 0.5) = [0.5, 1, 1.5]; Range(10, 1, -3) = [10, 7, 4].
  // CHECK:      [0.5,  1,  1.5]
  // CHECK:      [10,  7,  4]
  %s = arith.constant dense<0.5> : tensor<f32>
  %l = arith.constant dense<2.0> : tensor<f32>
  %r = onnx.node "Range" opset 11 (%s, %l, %s) : (tensor<f32>, tensor<f32>, tensor<f32>) -> tensor<?xf32>
  %u3 = tensor.cast %r : tensor<?xf32> to tensor<*xf32>
  call @printMemrefF32(%u3) : (tensor<*xf32>) -> ()
  %is = arith.constant dense<10> : tensor<i64>
  %il = arith.constant dense<1> : tensor<i64>
  %id = arith.constant dense<-3> : tensor<i64>
  %ri = onnx.node "Range" opset 11 (%is, %il, %id) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %u4 = tensor.cast %ri : tensor<?xi64> to tensor<*xi64>
  call @printMemrefI64(%u4) : (tensor<*xi64>) -> ()

  // NonZero of [[0, 1, 0], [2, 0, 3]]: rows 0, 1, 1 and columns 1, 0, 2.
  // CHECK:      {{\[\[}}0,  1,  1],
  // CHECK-NEXT:  [1,  0,  2]]
  %nz_in = arith.constant dense<[[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]]> : tensor<2x3xf32>
  %nz = onnx.node "NonZero" opset 13 (%nz_in) : (tensor<2x3xf32>) -> tensor<2x?xi64>
  %u5 = tensor.cast %nz : tensor<2x?xi64> to tensor<*xi64>
  call @printMemrefI64(%u5) : (tensor<*xi64>) -> ()

  // GatherND: whole index tuples, then rows, then with one batch dimension.
  %d = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %ix = arith.constant dense<[[0, 0], [1, -1]]> : tensor<2x2xi64>
  // CHECK:      [1,  4]
  %g1 = onnx.node "GatherND" opset 13 (%d, %ix) : (tensor<2x2xf32>, tensor<2x2xi64>) -> tensor<2xf32>
  %u6 = tensor.cast %g1 : tensor<2xf32> to tensor<*xf32>
  call @printMemrefF32(%u6) : (tensor<*xf32>) -> ()
  %rows = arith.constant dense<[[1], [0]]> : tensor<2x1xi64>
  // CHECK:      {{\[\[}}3,  4],
  // CHECK-NEXT:  [1,  2]]
  %g2 = onnx.node "GatherND" opset 13 (%d, %rows) : (tensor<2x2xf32>, tensor<2x1xi64>) -> tensor<2x2xf32>
  %u7 = tensor.cast %g2 : tensor<2x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u7) : (tensor<*xf32>) -> ()
  %d3 = arith.constant dense<[[[0.0, 1.0], [2.0, 3.0]], [[4.0, 5.0], [6.0, 7.0]]]> : tensor<2x2x2xf32>
  // CHECK:      {{\[\[}}2,  3],
  // CHECK-NEXT:  [4,  5]]
  %g3 = onnx.node "GatherND" opset 13 (%d3, %rows) attributes {batch_dims = 1 : si64} : (tensor<2x2x2xf32>, tensor<2x1xi64>) -> tensor<2x2xf32>
  %u8 = tensor.cast %g3 : tensor<2x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u8) : (tensor<*xf32>) -> ()

  // ScatterND: writes in order; add and max combine with what is there.
  %data = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
  %at = arith.constant dense<[[4], [3], [1], [7]]> : tensor<4x1xi64>
  %upd = arith.constant dense<[9.0, 10.0, 11.0, 12.0]> : tensor<4xf32>
  // CHECK:      [1,  11,  3,  10,  9,  6,  7,  12]
  %sc = onnx.node "ScatterND" opset 11 (%data, %at, %upd) : (tensor<8xf32>, tensor<4x1xi64>, tensor<4xf32>) -> tensor<8xf32>
  %u9 = tensor.cast %sc : tensor<8xf32> to tensor<*xf32>
  call @printMemrefF32(%u9) : (tensor<*xf32>) -> ()
  %twice = arith.constant dense<[[0], [0]]> : tensor<2x1xi64>
  %pair = arith.constant dense<[5.0, 6.0]> : tensor<2xf32>
  %four = arith.constant dense<[1.0, 1.0, 1.0, 1.0]> : tensor<4xf32>
  // CHECK:      [12,  1,  1,  1]
  %sa = onnx.node "ScatterND" opset 16 (%four, %twice, %pair) attributes {reduction = "add"} : (tensor<4xf32>, tensor<2x1xi64>, tensor<2xf32>) -> tensor<4xf32>
  %u10 = tensor.cast %sa : tensor<4xf32> to tensor<*xf32>
  call @printMemrefF32(%u10) : (tensor<*xf32>) -> ()
  // CHECK:      [6,  1,  1,  1]
  %sm = onnx.node "ScatterND" opset 18 (%four, %twice, %pair) attributes {reduction = "max"} : (tensor<4xf32>, tensor<2x1xi64>, tensor<2xf32>) -> tensor<4xf32>
  %u11 = tensor.cast %sm : tensor<4xf32> to tensor<*xf32>
  call @printMemrefF32(%u11) : (tensor<*xf32>) -> ()

  // Pow with an int64 exponent (opset 12 and later).
  // CHECK:      [8,  9]
  %base = arith.constant dense<[2.0, 3.0]> : tensor<2xf32>
  %exp = arith.constant dense<[3, 2]> : tensor<2xi64>
  %p = onnx.node "Pow" opset 15 (%base, %exp) : (tensor<2xf32>, tensor<2xi64>) -> tensor<2xf32>
  %u12 = tensor.cast %p : tensor<2xf32> to tensor<*xf32>
  call @printMemrefF32(%u12) : (tensor<*xf32>) -> ()

  // Slice of a dynamic dimension, bounds clamped at run time: rows -7..9 step 2
  // of a 5-row input are rows 0, 2, 4; rows 3..-4 are none.
  // CHECK:      {{\[\[}}0,  1],
  // CHECK-NEXT:  [4,  5],
  // CHECK-NEXT:  [8,  9]]
  // CHECK:      Unranked Memref {{.*}} sizes = [0, 2]
  %rows5 = arith.constant dense<[[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0], [8.0, 9.0]]> : tensor<5x2xf32>
  %dyn = tensor.cast %rows5 : tensor<5x2xf32> to tensor<?x2xf32>
  %sst = arith.constant dense<[-7]> : tensor<1xi64>
  %sen = arith.constant dense<[9]> : tensor<1xi64>
  %sax = arith.constant dense<[0]> : tensor<1xi64>
  %ssp = arith.constant dense<[2]> : tensor<1xi64>
  %sl = onnx.node "Slice" opset 13 (%dyn, %sst, %sen, %sax, %ssp) : (tensor<?x2xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x2xf32>
  %u13 = tensor.cast %sl : tensor<?x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u13) : (tensor<*xf32>) -> ()
  %est = arith.constant dense<[3]> : tensor<1xi64>
  %een = arith.constant dense<[-4]> : tensor<1xi64>
  %empty = onnx.node "Slice" opset 13 (%dyn, %est, %een) : (tensor<?x2xf32>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x2xf32>
  %u14 = tensor.cast %empty : tensor<?x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u14) : (tensor<*xf32>) -> ()
  // Gather and GatherElements with indices past either end read the nearest
  // element (7 -> 4, -9 -> 0), never memory outside the data.
  // CHECK:      [50,  10,  20]
  // CHECK:      [50,  10,  40]
  %gd = arith.constant dense<[10.0, 20.0, 30.0, 40.0, 50.0]> : tensor<5xf32>
  %gi = arith.constant dense<[7, -9, 1]> : tensor<3xi64>
  %gg = onnx.node "Gather" opset 13 (%gd, %gi) : (tensor<5xf32>, tensor<3xi64>) -> tensor<3xf32>
  %ug = tensor.cast %gg : tensor<3xf32> to tensor<*xf32>
  call @printMemrefF32(%ug) : (tensor<*xf32>) -> ()
  %gei = arith.constant dense<[12, -100, -2]> : tensor<3xi64>
  %ge = onnx.node "GatherElements" opset 13 (%gd, %gei) : (tensor<5xf32>, tensor<3xi64>) -> tensor<3xf32>
  %uge = tensor.cast %ge : tensor<3xf32> to tensor<*xf32>
  call @printMemrefF32(%uge) : (tensor<*xf32>) -> ()
  return
}
