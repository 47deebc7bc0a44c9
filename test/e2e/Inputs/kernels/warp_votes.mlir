// Per warp of two: the ballot of the positive values, their sum by
// redux.sync, and lane 5's value by shfl.sync.idx, written by each warp's
// lane 0 as a row of `out`. The NVVM ops the GPU runs as they are.
func.func @main_graph(%in: memref<64xi32>) -> memref<2x3xi32> {
  %out = memref.alloc() : memref<2x3xi32>
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %c0 = arith.constant 0 : index
    %c2 = arith.constant 2 : index
    %c32 = arith.constant 32 : index
    %all = arith.constant -1 : i32
    %zero = arith.constant 0 : i32
    %clamp = arith.constant 31 : i32
    %five = arith.constant 5 : i32
    %v = memref.load %in[%tx] : memref<64xi32>
    %positive = arith.cmpi sgt, %v, %zero : i32
    %ballot = nvvm.vote.ballot.sync %all, %positive : i32
    %sum = nvvm.redux.sync add %v, %all : i32 -> i32
    %pair = nvvm.shfl.sync idx %all, %v, %five, %clamp {return_value_and_is_valid} : i32 -> !llvm.struct<(i32, i1)>
    %fifth = llvm.extractvalue %pair[0] : !llvm.struct<(i32, i1)>
    %lane = arith.remui %tx, %c32 : index
    %warp = arith.divui %tx, %c32 : index
    %first = arith.cmpi eq, %lane, %c0 : index
    scf.if %first {
      memref.store %ballot, %out[%warp, %c0] : memref<2x3xi32>
      memref.store %sum, %out[%warp, %c1] : memref<2x3xi32>
      memref.store %fifth, %out[%warp, %c2] : memref<2x3xi32>
    }
    gpu.terminator
  }
  return %out : memref<2x3xi32>
}
