// Every error of the onnx.node verifier and its attribute constraints, one per split.
// RUN: moe-opt %s -split-input-file -verify-diagnostics

func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{'onnx.node' op needs a non-empty op_type}}
  %y = onnx.node "" opset 13 (%x) : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{'onnx.node' op spells the default domain as no domain, not "ai.onnx"}}
  %y = onnx.node "Relu" domain "ai.onnx" opset 13 (%x) : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{'onnx.node' op attribute 'opset' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %y = onnx.node "Relu" opset 0 (%x) : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{'onnx.node' op attribute 'opset' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %y = onnx.node "Relu" domain "com.microsoft" opset -1 (%x) : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @empty_domain(%x: tensor<4xf32>) {
  // expected-error @+1 {{spells the default domain as no domain, not ""}}
  %y = onnx.node "Relu" domain "" opset 17 (%x) : (tensor<4xf32>) -> tensor<4xf32>
  return
}
