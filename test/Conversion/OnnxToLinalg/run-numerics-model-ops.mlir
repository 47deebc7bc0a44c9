// Numbers for the ops whole-model exports add (rotary tables, position ids from masks,
// NaN and infinity guards, hard activations, integer reductions, Trilu, Tile, Flatten,
// LogSoftmax) and for shapes computed while the model runs: legalised, run through
// MLIR's reference lowering on mlir-cpu-runner, checked against values worked out by
// hand.
// RUN: moe-opt %s --moe-legalize-onnx %lower-to-llvm | %run-main | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)
func.func private @printMemrefI64(tensor<*xi64>)

func.func @print(%t: tensor<8xf32>) {
  %u = tensor.cast %t : tensor<8xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
func.func @printInts(%t: tensor<6xi64>) {
  %u = tensor.cast %t : tensor<6xi64> to tensor<*xi64>
  call @printMemrefI64(%u) : (tensor<*xi64>) -> ()
  return
}
func.func @printPair(%t: tensor<2xi64>) {
  %u = tensor.cast %t : tensor<2xi64> to tensor<*xi64>
  call @printMemrefI64(%u) : (tensor<*xi64>) -> ()
  return
}
func.func @print2x4(%t: tensor<2x4xf32>) {
  %u = tensor.cast %t : tensor<2x4xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
func.func @printDyn(%t: tensor<?x?xf32>) {
  %u = tensor.cast %t : tensor<?x?xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}

func.func @main() {
  %x = arith.constant dense<[0.0, 0.5, 1.5, 2.5, -0.5, -1.7, 3.14159265, 20.0]> : tensor<8xf32>

  // cos, sin: cos(0.5) = 0.877583, sin(0.5) = 0.479426, cos(pi) = -1, sin(20) = 0.912945.
  // CHECK:      [1, 0.877583, 0.0707372, -0.801144, 0.877583, -0.128845, -1, 0.408082]
  // CHECK:      [0, 0.479426, 0.997495, 0.598472, -0.479426, -0.991665, {{-?[0-9.e-]+}}, 0.912945]
  %cos = onnx.node "Cos" opset 18 (%x) : (tensor<8xf32>) -> tensor<8xf32>
  %sin = onnx.node "Sin" opset 18 (%x) : (tensor<8xf32>) -> tensor<8xf32>
  call @print(%cos) : (tensor<8xf32>) -> ()
  call @print(%sin) : (tensor<8xf32>) -> ()

  // floor, ceil, round (halves to even), sign.
  // CHECK:      [0, 0, 1, 2, -1, -2, 3, 20]
  // CHECK:      [0, 1, 2, 3, -0, -1, 4, 20]
  // CHECK:      [0, 0, 2, 2, -0, -2, 3, 20]
  // CHECK:      [0, 1, 1, 1, -1, -1, 1, 1]
  %floor = onnx.node "Floor" opset 18 (%x) : (tensor<8xf32>) -> tensor<8xf32>
  %ceil = onnx.node "Ceil" opset 18 (%x) : (tensor<8xf32>) -> tensor<8xf32>
  %round = onnx.node "Round" opset 18 (%x) : (tensor<8xf32>) -> tensor<8xf32>
  %sign = onnx.node "Sign" opset 18 (%x) : (tensor<8xf32>) -> tensor<8xf32>
  call @print(%floor) : (tensor<8xf32>) -> ()
  call @print(%ceil) : (tensor<8xf32>) -> ()
  call @print(%round) : (tensor<8xf32>) -> ()
  call @print(%sign) : (tensor<8xf32>) -> ()

  // softplus = log(1 + exp(x)): log 2 = 0.693147; 20 stays 20 (no overflow).
  // CHECK:      [0.693147, 0.974077, 1.70141, 2.57889, 0.474077, 0.167786, 3.1839, 20]
  %softplus = onnx.node "Softplus" opset 18 (%x) : (tensor<8xf32>) -> tensor<8xf32>
  call @print(%softplus) : (tensor<8xf32>) -> ()

  // IsNaN, as 0 / 1.
  // CHECK:      [0, 1, 0, 0, 0, 1]
  %n = arith.constant dense<[1.0, 0x7FC00000, 0x7F800000, 0xFF800000, 0.0, 0xFFC00000]> : tensor<6xf32>
  %isnan = onnx.node "IsNaN" opset 18 (%n) : (tensor<6xf32>) -> tensor<6xi1>
  %isnan64 = onnx.node "Cast" opset 18 (%isnan) attributes {to = 7 : si64} : (tensor<6xi1>) -> tensor<6xi64>
  call @printInts(%isnan64) : (tensor<6xi64>) -> ()

  // IsInf of [1, nan, +inf, -inf, 0, -nan]: both infinities, +inf only, -inf only.
  // CHECK:      [0, 0, 1, 1, 0, 0]
  // CHECK:      [0, 0, 1, 0, 0, 0]
  // CHECK:      [0, 0, 0, 1, 0, 0]
  %isinf = onnx.node "IsInf" opset 18 (%n) : (tensor<6xf32>) -> tensor<6xi1>
  %isinf64 = onnx.node "Cast" opset 18 (%isinf) attributes {to = 7 : si64} : (tensor<6xi1>) -> tensor<6xi64>
  call @printInts(%isinf64) : (tensor<6xi64>) -> ()
  %ispos = onnx.node "IsInf" opset 18 (%n) attributes {detect_negative = 0 : si64} : (tensor<6xf32>) -> tensor<6xi1>
  %ispos64 = onnx.node "Cast" opset 18 (%ispos) attributes {to = 7 : si64} : (tensor<6xi1>) -> tensor<6xi64>
  call @printInts(%ispos64) : (tensor<6xi64>) -> ()
  %isneg = onnx.node "IsInf" opset 18 (%n) attributes {detect_positive = 0 : si64} : (tensor<6xf32>) -> tensor<6xi1>
  %isneg64 = onnx.node "Cast" opset 18 (%isneg) attributes {to = 7 : si64} : (tensor<6xi1>) -> tensor<6xi64>
  call @printInts(%isneg64) : (tensor<6xi64>) -> ()

  // HardSigmoid max(0, min(1, 0.2 x + 0.5)), and with alpha 0.5, beta 0.
  // CHECK:      [0.5, 0.6, 0.8, 1, 0.4, 0.16, 1, 1]
  // CHECK:      [0, 0.25, 0.75, 1, 0, 0, 1, 1]
  %hs = onnx.node "HardSigmoid" opset 18 (%x) : (tensor<8xf32>) -> tensor<8xf32>
  call @print(%hs) : (tensor<8xf32>) -> ()
  %hs2 = onnx.node "HardSigmoid" opset 18 (%x) attributes {alpha = 5.000000e-01 : f32, beta = 0.000000e+00 : f32} : (tensor<8xf32>) -> tensor<8xf32>
  call @print(%hs2) : (tensor<8xf32>) -> ()

  // Mod: integers take the divisor's sign; fmod = 1 the dividend's.
  // CHECK:      [1, 2, -2, -1, 0, 3]
  // CHECK:      [1, -1, 1, -1, 0, 3]
  %a = arith.constant dense<[7, -7, 7, -7, 6, 3]> : tensor<6xi64>
  %d = arith.constant dense<[3, 3, -3, -3, 3, 5]> : tensor<6xi64>
  %mod = onnx.node "Mod" opset 18 (%a, %d) : (tensor<6xi64>, tensor<6xi64>) -> tensor<6xi64>
  %fmod = onnx.node "Mod" opset 18 (%a, %d) attributes {fmod = 1 : si64} : (tensor<6xi64>, tensor<6xi64>) -> tensor<6xi64>
  call @printInts(%mod) : (tensor<6xi64>) -> ()
  call @printInts(%fmod) : (tensor<6xi64>) -> ()
  // CHECK:      [-1.5, 1.5, 0, 0.5, -0.5, -1.7, 1.14159, 0]
  %two = arith.constant dense<[2.0, 2.0, 1.5, -1.0, -1.0, 3.0, 2.0, 4.0]> : tensor<8xf32>
  %fm = arith.constant dense<[-7.5, 7.5, 1.5, 2.5, -0.5, -1.7, 3.14159265, 20.0]> : tensor<8xf32>
  %fmodf = onnx.node "Mod" opset 18 (%fm, %two) attributes {fmod = 1 : si64} : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  call @print(%fmodf) : (tensor<8xf32>) -> ()

  // CumSum along axis 1 of [[1, 2, 3, 4], [10, 20, 30, 40]]: inclusive, exclusive,
  // reverse, exclusive and reverse.
  // CHECK:      {{\[\[}}1, 3, 6, 10],
  // CHECK-NEXT: [10, 30, 60, 100]]
  // CHECK:      {{\[\[}}0, 1, 3, 6],
  // CHECK-NEXT: [0, 10, 30, 60]]
  // CHECK:      {{\[\[}}10, 9, 7, 4],
  // CHECK-NEXT: [100, 90, 70, 40]]
  // CHECK:      {{\[\[}}9, 7, 4, 0],
  // CHECK-NEXT: [90, 70, 40, 0]]
  %m = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]]> : tensor<2x4xf32>
  %axis = arith.constant dense<1> : tensor<i64>
  %cs = onnx.node "CumSum" opset 18 (%m, %axis) : (tensor<2x4xf32>, tensor<i64>) -> tensor<2x4xf32>
  %cse = onnx.node "CumSum" opset 18 (%m, %axis) attributes {exclusive = 1 : si64} : (tensor<2x4xf32>, tensor<i64>) -> tensor<2x4xf32>
  %csr = onnx.node "CumSum" opset 18 (%m, %axis) attributes {reverse = 1 : si64} : (tensor<2x4xf32>, tensor<i64>) -> tensor<2x4xf32>
  %cser = onnx.node "CumSum" opset 18 (%m, %axis) attributes {exclusive = 1 : si64, reverse = 1 : si64} : (tensor<2x4xf32>, tensor<i64>) -> tensor<2x4xf32>
  call @print2x4(%cs) : (tensor<2x4xf32>) -> ()
  call @print2x4(%cse) : (tensor<2x4xf32>) -> ()
  call @print2x4(%csr) : (tensor<2x4xf32>) -> ()
  call @print2x4(%cser) : (tensor<2x4xf32>) -> ()

  // Shapes computed as the model runs (an Add keeps them from being constants):
  // Slice [1:-1] of axis 1 with a start and end read at run time, and Reshape of
  // the [2, 4] matrix to [0, -1, 2] -> [2, 2, 2] then to [-1, 8] -> [1, 8].
  // CHECK:      {{\[\[}}2, 3],
  // CHECK-NEXT: [20, 30]]
  %zero2 = arith.constant dense<0> : tensor<1xi64>
  %s0 = arith.constant dense<1> : tensor<1xi64>
  %e0 = arith.constant dense<-1> : tensor<1xi64>
  %starts = onnx.node "Add" opset 18 (%s0, %zero2) : (tensor<1xi64>, tensor<1xi64>) -> tensor<1xi64>
  %ends = onnx.node "Add" opset 18 (%e0, %zero2) : (tensor<1xi64>, tensor<1xi64>) -> tensor<1xi64>
  %axes = arith.constant dense<1> : tensor<1xi64>
  %sl = onnx.node "Slice" opset 18 (%m, %starts, %ends, %axes) : (tensor<2x4xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x?xf32>
  call @printDyn(%sl) : (tensor<?x?xf32>) -> ()
  // CHECK:      {{\[\[}}1, 2, 3, 4, 10, 20, 30, 40]]
  %zeros3 = arith.constant dense<0> : tensor<3xi64>
  %shape3 = arith.constant dense<[0, -1, 2]> : tensor<3xi64>
  %run3 = onnx.node "Add" opset 18 (%shape3, %zeros3) : (tensor<3xi64>, tensor<3xi64>) -> tensor<3xi64>
  %r3 = onnx.node "Reshape" opset 18 (%m, %run3) : (tensor<2x4xf32>, tensor<3xi64>) -> tensor<?x?x?xf32>
  %zeros2 = arith.constant dense<0> : tensor<2xi64>
  %shape2 = arith.constant dense<[-1, 8]> : tensor<2xi64>
  %run2 = onnx.node "Add" opset 18 (%shape2, %zeros2) : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
  %r2 = onnx.node "Reshape" opset 18 (%r3, %run2) : (tensor<?x?x?xf32>, tensor<2xi64>) -> tensor<?x?xf32>
  call @printDyn(%r2) : (tensor<?x?xf32>) -> ()

  // Broadcasting decided as the model runs: both operands typed [?, ?], one [1, 4]
  // and one [2, 4] (an attention mask against the scores), and a [?, 4] against a
  // static [2, 4].
  // CHECK:      {{\[\[}}2, 4, 6, 8],
  // CHECK-NEXT: [11, 22, 33, 44]]
  // CHECK:      {{\[\[}}2, 4, 6, 8],
  // CHECK-NEXT: [11, 22, 33, 44]]
  %row = arith.constant dense<[[1.0, 2.0, 3.0, 4.0]]> : tensor<1x4xf32>
  %rowDyn = tensor.cast %row : tensor<1x4xf32> to tensor<?x?xf32>
  %mDyn = tensor.cast %m : tensor<2x4xf32> to tensor<?x?xf32>
  %sum = onnx.node "Add" opset 18 (%mDyn, %rowDyn) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  call @printDyn(%sum) : (tensor<?x?xf32>) -> ()
  %rowRows = tensor.cast %row : tensor<1x4xf32> to tensor<?x4xf32>
  %sum2 = onnx.node "Add" opset 18 (%rowRows, %m) : (tensor<?x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  call @print2x4(%sum2) : (tensor<2x4xf32>) -> ()

  // Integer reductions of an attention mask [[1, 1, 0], [1, -4, 7]]: ReduceSum
  // (the tokens of each row, as onnxruntime-genai's builder counts them),
  // ReduceMax, ReduceMin and ReduceMean rounding toward zero (4/3 -> 1).
  // CHECK:      [2,  4]
  // CHECK:      [7,  -4]
  // CHECK:      [0,  1]
  %mask = arith.constant dense<[[1, 1, 0], [1, -4, 7]]> : tensor<2x3xi64>
  %iaxes = arith.constant dense<[1]> : tensor<1xi64>
  %isum = onnx.node "ReduceSum" opset 13 (%mask, %iaxes) attributes {keepdims = 0 : si64} : (tensor<2x3xi64>, tensor<1xi64>) -> tensor<2xi64>
  %imax = onnx.node "ReduceMax" opset 18 (%mask) attributes {keepdims = 0 : si64} : (tensor<2x3xi64>) -> tensor<i64>
  %imin = onnx.node "ReduceMin" opset 18 (%mask) attributes {keepdims = 0 : si64} : (tensor<2x3xi64>) -> tensor<i64>
  %imean = onnx.node "ReduceMean" opset 18 (%mask, %iaxes) attributes {keepdims = 0 : si64} : (tensor<2x3xi64>, tensor<1xi64>) -> tensor<2xi64>
  %vmax = tensor.extract %imax[] : tensor<i64>
  %vmin = tensor.extract %imin[] : tensor<i64>
  %extremes = tensor.from_elements %vmax, %vmin : tensor<2xi64>
  call @printPair(%isum) : (tensor<2xi64>) -> ()
  call @printPair(%extremes) : (tensor<2xi64>) -> ()
  call @printPair(%imean) : (tensor<2xi64>) -> ()

  // Trilu of [[1, 2, 3], [4, 5, 6]]: upper from k = 1, then lower (k = 0).
  // CHECK:      {{\[\[}}0, 2, 3],
  // CHECK-NEXT: [0, 0, 6]]
  // CHECK:      {{\[\[}}1, 0, 0],
  // CHECK-NEXT: [4, 5, 0]]
  %tri = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %tk = arith.constant dense<1> : tensor<i64>
  %up = onnx.node "Trilu" opset 14 (%tri, %tk) : (tensor<2x3xf32>, tensor<i64>) -> tensor<2x3xf32>
  %lo = onnx.node "Trilu" opset 14 (%tri) attributes {upper = 0 : si64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %upD = tensor.cast %up : tensor<2x3xf32> to tensor<?x?xf32>
  %loD = tensor.cast %lo : tensor<2x3xf32> to tensor<?x?xf32>
  call @printDyn(%upD) : (tensor<?x?xf32>) -> ()
  call @printDyn(%loD) : (tensor<?x?xf32>) -> ()
  // Tile [[1, 2, 3], [4, 5, 6]] by (1, 2); Flatten at axis 0 to [1, 6].
  // CHECK:      {{\[\[}}1, 2, 3, 1, 2, 3],
  // CHECK-NEXT: [4, 5, 6, 4, 5, 6]]
  // CHECK:      {{\[\[}}1, 2, 3, 4, 5, 6]]
  %reps = arith.constant dense<[1, 2]> : tensor<2xi64>
  %tiled = onnx.node "Tile" opset 13 (%tri, %reps) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<2x6xf32>
  %tiledD = tensor.cast %tiled : tensor<2x6xf32> to tensor<?x?xf32>
  call @printDyn(%tiledD) : (tensor<?x?xf32>) -> ()
  %flat = onnx.node "Flatten" opset 13 (%tri) attributes {axis = 0 : si64} : (tensor<2x3xf32>) -> tensor<1x6xf32>
  %flatD = tensor.cast %flat : tensor<1x6xf32> to tensor<?x?xf32>
  call @printDyn(%flatD) : (tensor<?x?xf32>) -> ()
  // LogSoftmax of [0, ln 3] is [-ln 4, ln 3 - ln 4]; of a row [1000, 0] it stays
  // finite: [0, -1000].
  // CHECK:      {{\[\[}}-1.38629, -0.287682],
  // CHECK-NEXT: [0, -1000]]
  %ls = arith.constant dense<[[0.0, 1.0986123], [1000.0, 0.0]]> : tensor<2x2xf32>
  %lsm = onnx.node "LogSoftmax" opset 13 (%ls) : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %lsmD = tensor.cast %lsm : tensor<2x2xf32> to tensor<?x?xf32>
  call @printDyn(%lsmD) : (tensor<?x?xf32>) -> ()
  return
}
