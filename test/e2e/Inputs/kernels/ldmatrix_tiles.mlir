// One warp stages four 8 x 8 f16 matrices (rows 8 i to 8 i + 7 of the input)
// in shared memory, each lane its own row, and reads them back with
// ldmatrix.x4: lane l's register i holds matrix i's row l / 4, columns
// 2 (l % 4) and 2 (l % 4) + 1, which it writes as out[l, 2 i], out[l, 2 i + 1].
func.func @main_graph(%in: memref<32x8xf16>) -> memref<32x8xf16> {
  %out = memref.alloc() : memref<32x8xf16>
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1)
             workgroup(%sh : memref<32x8xf16, #gpu.address_space<workgroup>>) {
    %c0 = arith.constant 0 : index
    %c2 = arith.constant 2 : index
    %c3 = arith.constant 3 : index
    %c4 = arith.constant 4 : index
    %c5 = arith.constant 5 : index
    %c6 = arith.constant 6 : index
    %c7 = arith.constant 7 : index
    %c8 = arith.constant 8 : index
    scf.for %j = %c0 to %c8 step %c1 {
      %v = memref.load %in[%tx, %j] : memref<32x8xf16>
      memref.store %v, %sh[%tx, %j] : memref<32x8xf16, #gpu.address_space<workgroup>>
    }
    gpu.barrier // planted: the barrier
    %m = nvgpu.ldmatrix %sh[%tx, %c0] {numTiles = 4 : i32, transpose = false} : memref<32x8xf16, #gpu.address_space<workgroup>> -> vector<4x2xf16>
    %p0 = vector.extract %m[0] : vector<2xf16> from vector<4x2xf16>
    %lo0 = vector.extract %p0[0] : f16 from vector<2xf16>
    %hi0 = vector.extract %p0[1] : f16 from vector<2xf16>
    memref.store %lo0, %out[%tx, %c0] : memref<32x8xf16>
    memref.store %hi0, %out[%tx, %c1] : memref<32x8xf16>
    %p1 = vector.extract %m[1] : vector<2xf16> from vector<4x2xf16>
    %lo1 = vector.extract %p1[0] : f16 from vector<2xf16>
    %hi1 = vector.extract %p1[1] : f16 from vector<2xf16>
    memref.store %lo1, %out[%tx, %c2] : memref<32x8xf16>
    memref.store %hi1, %out[%tx, %c3] : memref<32x8xf16>
    %p2 = vector.extract %m[2] : vector<2xf16> from vector<4x2xf16>
    %lo2 = vector.extract %p2[0] : f16 from vector<2xf16>
    %hi2 = vector.extract %p2[1] : f16 from vector<2xf16>
    memref.store %lo2, %out[%tx, %c4] : memref<32x8xf16>
    memref.store %hi2, %out[%tx, %c5] : memref<32x8xf16>
    %p3 = vector.extract %m[3] : vector<2xf16> from vector<4x2xf16>
    %lo3 = vector.extract %p3[0] : f16 from vector<2xf16>
    %hi3 = vector.extract %p3[1] : f16 from vector<2xf16>
    memref.store %lo3, %out[%tx, %c6] : memref<32x8xf16>
    memref.store %hi3, %out[%tx, %c7] : memref<32x8xf16>
    gpu.terminator
  }
  return %out : memref<32x8xf16>
}
