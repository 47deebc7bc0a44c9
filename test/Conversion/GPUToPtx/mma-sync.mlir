// RUN: moe-opt %s --moe-gpu-to-ptx | FileCheck %s

// moe_gpu.mma_sync is its PTX instruction: D's registers are the outputs, then
// A's and B's (b32), then C's (f32).
// CHECK-LABEL: func.func @k16
// CHECK:         %[[ASM:.*]] = llvm.inline_asm asm_dialect = att "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {$0,$1,$2,$3}, {$4,$5,$6,$7}, {$8,$9}, {$10,$11,$12,$13};", "=f,=f,=f,=f,r,r,r,r,r,r,f,f,f,f" %{{.*}} : (i32, i32, i32, i32, i32, i32, f32, f32, f32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK:         %[[D3:.*]] = llvm.extractvalue %[[ASM]][3]
// CHECK:         return %[[D3]]
// CHECK-NOT:     moe_gpu
func.func @k16(%a: i32, %b: i32, %c: f32) -> f32 {
  %d:4 = moe_gpu.mma_sync %a, %a, %a, %a, %b, %b, %c, %c, %c, %c {k = 16 : i64, type = bf16} : (i32, i32, i32, i32, i32, i32, f32, f32, f32, f32) -> (f32, f32, f32, f32)
  return %d#3 : f32
}

// CHECK-LABEL: func.func @k8
// CHECK:         llvm.inline_asm asm_dialect = att "mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {$0,$1,$2,$3}, {$4,$5}, {$6}, {$7,$8,$9,$10};", "=f,=f,=f,=f,r,r,r,f,f,f,f"
func.func @k8(%a: i32, %b: i32, %c: f32) -> f32 {
  %d:4 = moe_gpu.mma_sync %a, %a, %b, %c, %c, %c, %c {k = 8 : i64, type = f16} : (i32, i32, i32, f32, f32, f32, f32) -> (f32, f32, f32, f32)
  return %d#0 : f32
}

// moe_gpu.mma_sp: then the metadata register and the selector, an immediate.
// CHECK-LABEL: func.func @sparse
// CHECK:         llvm.inline_asm asm_dialect = att "mma.sp.sync.aligned.m16n8k32.row.col.f32.bf16.bf16.f32 {$0,$1,$2,$3}, {$4,$5,$6,$7}, {$8,$9,$10,$11}, {$12,$13,$14,$15}, $16, 1;", "=f,=f,=f,=f,r,r,r,r,r,r,r,r,f,f,f,f,r"
func.func @sparse(%a: i32, %b: i32, %c: f32, %e: i32) -> f32 {
  %d:4 = moe_gpu.mma_sp %a, %a, %a, %a, %b, %b, %b, %b, %c, %c, %c, %c, %e {selector = 1 : i64, type = bf16} : (i32, i32, i32, i32, i32, i32, i32, i32, f32, f32, f32, f32, i32) -> (f32, f32, f32, f32)
  return %d#1 : f32
}
