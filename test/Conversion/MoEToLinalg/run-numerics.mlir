// Numbers for the paths the fixtures do not reach: shared experts with a gate,
// zero-computation experts, capacity dropping and the renormalisation's epsilon and floor,
// expanded and lowered, then run through
// MLIR's reference lowering on mlir-cpu-runner and checked against values worked out by
// hand (numpy float64 for the exponentials).
// RUN: moe-opt %s --moe-expand --moe-lower-to-linalg %lower-to-llvm | %run-main | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)
func.func private @printMemrefI32(tensor<*xi32>)

func.func @main() {
  // One routed expert (relu(W1 x), W1 = [[1, 0], [0, -1]], down = identity), one zero,
  // one copy and one constant expert ([10, 20]); softmax over the four columns, top 2,
  // renormalised. A shared expert relu(x) gated by sigmoid(x . 0) = 0.5 is added.
  //   token [1, 2]:  columns 0 and 2, weights 0.622459 / 0.377541:
  //                  0.622459 [1, 0] + 0.377541 [1, 2] + 0.5 [1, 2] = [1.5, 1.755081]
  //   token [3, -1]: columns 3 and 2: 0.622459 [10, 20] + 0.377541 [3, -1]
  //                  + 0.5 [3, 0] = [8.857215, 12.071646]
  %x = arith.constant dense<[[1.0, 2.0], [3.0, -1.0]]> : tensor<2x2xf32>
  %logits = arith.constant dense<[[1.0, -10.0, 0.5, 0.0], [-10.0, -10.0, 0.5, 1.0]]> : tensor<2x4xf32>
  %w1 = arith.constant dense<[[[1.0, 0.0], [0.0, -1.0]]]> : tensor<1x2x2xf32>
  %id = arith.constant dense<[[[1.0, 0.0], [0.0, 1.0]]]> : tensor<1x2x2xf32>
  %gate = arith.constant dense<[[0.0, 0.0]]> : tensor<1x2xf32>
  %c = arith.constant dense<[[10.0, 20.0]]> : tensor<1x2xf32>
  %y = moe.layer %x, %logits gate_up %w1 down %id shared_gate_up %id shared_down %id
         shared_gate %gate constant_experts %c
         {routing = #moe.routing<softmax_topk, k = 2, normalize = true>,
          activation = #moe.activation<relu>, num_zero_experts = 1, num_copy_experts = 1}
         : (tensor<2x2xf32>, tensor<2x4xf32>, tensor<1x2x2xf32>, tensor<1x2x2xf32>,
            tensor<1x2x2xf32>, tensor<1x2x2xf32>, tensor<1x2xf32>, tensor<1x2xf32>)
         -> tensor<2x2xf32>
  %yu = tensor.cast %y : tensor<2x2xf32> to tensor<*xf32>
  call @printMemrefF32(%yu) : (tensor<*xf32>) -> ()
  // CHECK:      {{\[\[}}1.5, 1.75508],
  // CHECK-NEXT:  [8.85722, 12.0716]]

  // Capacity: E = 2, k = 1, capacity_factor 0.5 over 4 tokens: ceil(0.5 * 4 / 2) = 1
  // assignment per expert, taken in token order; the later ones get id -1, weight 0.
  // Weight of a chosen expert: softmax([2, 0])[0] = 0.880797.
  %l2 = arith.constant dense<[[2.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 0.0]]> : tensor<4x2xf32>
  %w, %ids = moe.route %l2 {routing = #moe.routing<softmax_topk, k = 1, capacity_factor = 0.5>}
               : (tensor<4x2xf32>) -> (tensor<4x1xf32>, tensor<4x1xi32>)
  %wu = tensor.cast %w : tensor<4x1xf32> to tensor<*xf32>
  call @printMemrefF32(%wu) : (tensor<*xf32>) -> ()
  // CHECK:      {{\[\[}}0.880797],
  // CHECK-NEXT:  [0],
  // CHECK-NEXT:  [0.880797],
  // CHECK-NEXT:  [0]]
  %iu = tensor.cast %ids : tensor<4x1xi32> to tensor<*xi32>
  call @printMemrefI32(%iu) : (tensor<*xi32>) -> ()
  // CHECK:      {{\[\[}}0],
  // CHECK-NEXT:  [-1],
  // CHECK-NEXT:  [1],
  // CHECK-NEXT:  [-1]]

  // Renormalising by max(sum + norm_epsilon, norm_floor): sigmoid(0) = 0.5 for both
  // experts, so the sum is 1; with norm_epsilon = 1 each weight is 0.5 / 2 = 0.25,
  // with norm_floor = 5 it is 0.5 / 5 = 0.1.
  %l3 = arith.constant dense<[[0.0, 0.0]]> : tensor<1x2xf32>
  %we, %ide = moe.route %l3 {routing = #moe.routing<sigmoid_topk, k = 2, normalize = true, norm_epsilon = 1.0>}
                : (tensor<1x2xf32>) -> (tensor<1x2xf32>, tensor<1x2xi32>)
  %weu = tensor.cast %we : tensor<1x2xf32> to tensor<*xf32>
  call @printMemrefF32(%weu) : (tensor<*xf32>) -> ()
  // CHECK:      {{\[\[}}0.25, 0.25]]
  %wf, %idf = moe.route %l3 {routing = #moe.routing<sigmoid_topk, k = 2, normalize = true, norm_floor = 5.0>}
                : (tensor<1x2xf32>) -> (tensor<1x2xf32>, tensor<1x2xi32>)
  %wfu = tensor.cast %wf : tensor<1x2xf32> to tensor<*xf32>
  call @printMemrefF32(%wfu) : (tensor<*xf32>) -> ()
  // CHECK:      {{\[\[}}0.1, 0.1]]
  return
}
