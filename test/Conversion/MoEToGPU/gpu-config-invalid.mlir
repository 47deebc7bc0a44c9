// A tuning file that cannot be read, is not JSON or lacks a field is an error that
// names it.
// RUN: not moe-opt %s --moe-expand-gpu-kernels=gpu-config=%t.missing.json 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: error: gpu-config '{{.*}}missing.json': cannot read: No such file or directory
// RUN: echo '{"moe_layers": [' > %t.broken.json
// RUN: not moe-opt %s --moe-expand-gpu-kernels=gpu-config=%t.broken.json 2>&1 | FileCheck %s --check-prefix=BROKEN
// BROKEN: error: gpu-config '{{.*}}broken.json': not JSON:
// RUN: echo '{"moe_layers": [{"experts": 4, "k": 2, "hidden": 32, "decode_tokens": 24}]}' > %t.field.json
// RUN: not moe-opt %s --moe-expand-gpu-kernels=gpu-config=%t.field.json 2>&1 | FileCheck %s --check-prefix=FIELD
// FIELD: error: gpu-config '{{.*}}field.json': moe_layers[0] needs non-negative integers experts, k, hidden, intermediate and decode_tokens
// RUN: echo '[]' > %t.array.json
// RUN: not moe-opt %s --moe-expand-gpu-kernels=gpu-config=%t.array.json 2>&1 | FileCheck %s --check-prefix=ARRAY
// ARRAY: error: gpu-config '{{.*}}array.json': expected an object with a "moe_layers" array
// RUN: echo '{"moe_layers": [{"experts": 4, "k": 2, "hidden": 32, "intermediate": 64, "decode_tokens": 24}, {"experts": 8, "k": 2, "hidden": 32, "intermediate": 64, "decode_tokens": 24, "wide_tokens": "many"}]}' > %t.wide.json
// RUN: not moe-opt %s --moe-expand-gpu-kernels=gpu-config=%t.wide.json 2>&1 | FileCheck %s --check-prefix=WIDE
// WIDE: error: gpu-config '{{.*}}wide.json': moe_layers[1].wide_tokens is not a non-negative integer
func.func @f(%x: memref<?x32xf32>) {
  return
}
