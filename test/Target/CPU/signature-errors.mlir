// RUN: not moe-opt %s --emit=lib -o %t.so 2>&1 | FileCheck %s
// RUN: not test -e %t.so

// CHECK: error: input 0 of @main_graph has type 'tensor<4xi16>', which artifacts do not support
func.func @main_graph(%x: tensor<4xi16>) -> tensor<4xi16> {
  return %x : tensor<4xi16>
}
