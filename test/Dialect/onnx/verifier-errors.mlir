// Errors of the onnx dialect's verifiers.
// RUN: moe-opt %s -split-input-file -verify-diagnostics

func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{needs a non-empty op_type}}
  %y = onnx.node "" opset 17 (%x) : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{spells the default domain as no domain, not "ai.onnx"}}
  %y = onnx.node "Relu" domain "ai.onnx" opset 17 (%x) : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{attribute 'opset' failed to satisfy constraint}}
  %y = onnx.node "Relu" opset 0 (%x) : (tensor<4xf32>) -> tensor<4xf32>
  return
}
