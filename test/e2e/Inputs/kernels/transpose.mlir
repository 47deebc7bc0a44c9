// A 32 x 32 transpose through a padded 16 x 17 tile of dynamic shared
// memory, by 2 x 2 blocks of 16 x 16 threads.
func.func @main_graph(%in: memref<32x32xf32>) -> memref<32x32xf32> {
  %out = memref.alloc() : memref<32x32xf32>
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c16 = arith.constant 16 : index
  %bytes = arith.constant 1088 : i32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c2, %gy = %c2, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c16, %sz = %c1)
             dynamic_shared_memory_size %bytes {
    %c0 = arith.constant 0 : index
    %dynamic = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
    %tile = memref.view %dynamic[%c0][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<16x17xf32, #gpu.address_space<workgroup>>
    %row0 = arith.muli %by, %c16 : index
    %col0 = arith.muli %bx, %c16 : index
    %row = arith.addi %row0, %ty : index
    %col = arith.addi %col0, %tx : index
    %v = memref.load %in[%row, %col] : memref<32x32xf32>
    memref.store %v, %tile[%ty, %tx] : memref<16x17xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    %t = memref.load %tile[%tx, %ty] : memref<16x17xf32, #gpu.address_space<workgroup>>
    %orow = arith.addi %col0, %ty : index
    %ocol = arith.addi %row0, %tx : index
    memref.store %t, %out[%orow, %ocol] : memref<32x32xf32>
    gpu.terminator
  }
  return %out : memref<32x32xf32>
}
