// One warp's 2:4-sparse product: each lane loads its registers of the
// compressed A, of B, of C and its metadata, runs moe_gpu.mma_sp (selector 0)
// and stores its four of D.
func.func @main_graph(%a: memref<32x4xi32>, %b: memref<32x4xi32>, %c: memref<32x4xf32>, %e: memref<32xi32>) -> memref<32x4xf32> {
  %out = memref.alloc() : memref<32x4xf32>
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
    %c0 = arith.constant 0 : index
    %c2 = arith.constant 2 : index
    %c3 = arith.constant 3 : index
    %a0 = memref.load %a[%tx, %c0] : memref<32x4xi32>
    %a1 = memref.load %a[%tx, %c1] : memref<32x4xi32>
    %a2 = memref.load %a[%tx, %c2] : memref<32x4xi32>
    %a3 = memref.load %a[%tx, %c3] : memref<32x4xi32>
    %b0 = memref.load %b[%tx, %c0] : memref<32x4xi32>
    %b1 = memref.load %b[%tx, %c1] : memref<32x4xi32>
    %b2 = memref.load %b[%tx, %c2] : memref<32x4xi32>
    %b3 = memref.load %b[%tx, %c3] : memref<32x4xi32>
    %c0f = memref.load %c[%tx, %c0] : memref<32x4xf32>
    %c1f = memref.load %c[%tx, %c1] : memref<32x4xf32>
    %c2f = memref.load %c[%tx, %c2] : memref<32x4xf32>
    %c3f = memref.load %c[%tx, %c3] : memref<32x4xf32>
    %meta = memref.load %e[%tx] : memref<32xi32>
    %d:4 = moe_gpu.mma_sp %a0, %a1, %a2, %a3, %b0, %b1, %b2, %b3, %c0f, %c1f, %c2f, %c3f, %meta {selector = 0 : i64, type = bf16} : (i32, i32, i32, i32, i32, i32, i32, i32, f32, f32, f32, f32, i32) -> (f32, f32, f32, f32)
    memref.store %d#0, %out[%tx, %c0] : memref<32x4xf32>
    memref.store %d#1, %out[%tx, %c1] : memref<32x4xf32>
    memref.store %d#2, %out[%tx, %c2] : memref<32x4xf32>
    memref.store %d#3, %out[%tx, %c3] : memref<32x4xf32>
    gpu.terminator
  }
  return %out : memref<32x4xf32>
}
