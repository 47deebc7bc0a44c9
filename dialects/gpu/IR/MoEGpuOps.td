//===- MoEGpuOps.td - warp-level instructions of the GPU kernels -*- tablegen -*-===//
//
// The warp-wide instructions the compiler's kernels run that MLIR 19 has no op
// for, each with two lowerings: to PTX, and to the CUDA emulator's model of it.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_GPU_OPS_TD
#define MOE_GPU_OPS_TD

include "mlir/IR/CommonTypeConstraints.td"
include "mlir/IR/OpBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def MoEGpu_Dialect : Dialect {
  let name = "moe_gpu";
  let cppNamespace = "::mlir::moe_gpu";
  let summary = "Warp-level instructions of moe-mlir's GPU kernels";
  let description = [{
    Instructions a warp executes together, as the kernels use them, where MLIR 19's
    `nvvm` and `nvgpu` dialects have none (`nvvm.mma.sync` refuses bf16 operands for
    m16n8k16). Each op has exactly two lowerings: `moe-gpu-to-ptx` writes the PTX
    instruction (inline assembly), and the CUDA emulator (`moe-gpu-launches-to-loops`)
    calls the runtime's model of the same instruction, whose operand layouts come from
    `moe/GPU/MmaLayout.h`, the header the kernels' fragment indices are built from.
  }];
}

class MoEGpu_Op<string mnemonic, list<Trait> traits = []>
    : Op<MoEGpu_Dialect, mnemonic, traits>;

def MoEGpu_MmaSyncOp : MoEGpu_Op<"mma_sync", [Pure]> {
  let summary = "mma.sync.aligned.m16n8kK.row.col.f32.T.T.f32 of one warp";
  let description = [{
    `D = A B + C` for a warp's 16 x K tile of A (row-major), K x 8 tile of B
    (column-major) and 16 x 8 f32 C, K = 16 or 8, T = bf16 or f16: each lane gives
    its registers of A (K / 4 of them, two T elements each, the first in the low
    half), of B (K / 8) and C (4 f32), and gets its 4 of D, laid out as the PTX ISA's
    fragment figures say (moe/GPU/MmaLayout.h). Products are exact and accumulate in
    f32.

    The operands are A's registers, then B's, then C's.

    ```mlir
    %d:4 = moe_gpu.mma_sync %a0, %a1, %a2, %a3, %b0, %b1, %c0, %c1, %c2, %c3
             {k = 16 : i64, type = bf16}
             : (i32, i32, i32, i32, i32, i32, f32, f32, f32, f32) -> (f32, f32, f32, f32)
    ```
  }];
  let arguments = (ins Variadic<AnyTypeOf<[I32, F32]>>:$registers, I64Attr:$k,
                       TypeAttr:$type);
  let results = (outs Variadic<F32>:$d);
  let assemblyFormat = [{
    $registers attr-dict `:` functional-type($registers, $d)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// A's, B's and C's registers.
    ::mlir::OperandRange getA() { return getRegisters().take_front(getK() / 4); }
    ::mlir::OperandRange getB() {
      return getRegisters().drop_front(getK() / 4).take_front(getK() / 8);
    }
    ::mlir::OperandRange getC() { return getRegisters().take_back(4); }
    /// The PTX instruction, without its operands.
    std::string getInstruction();
  }];
}

def MoEGpu_MmaSpOp : MoEGpu_Op<"mma_sp", [Pure]> {
  let summary = "mma.sp.sync.aligned.m16n8k32.row.col.f32.T.T.f32 of one warp";
  let description = [{
    `D = A B + C` with a 2:4-sparse 16 x 32 A, T = bf16 or f16: each lane gives 4
    registers of the compressed A (m16n8k16's A layout, two of each chunk of four
    along K), 4 of B (two m16n8k16 B fragments stacked along K), 4 f32 of C, and the
    metadata register whose nibbles say where in each chunk the two values sit
    (moe/GPU/MmaLayout.h, MmaSpM16N8K32); `selector` (0 or 1) picks which two
    lanes of each group of four give the metadata. Metadata pairs must be
    increasing, as the ISA's ordered form requires. The operands are A's
    registers, B's, C's, then the metadata.

    ```mlir
    %d:4 = moe_gpu.mma_sp %a0, %a1, %a2, %a3, %b0, %b1, %b2, %b3, %c0, %c1, %c2, %c3, %e
             {selector = 0 : i64, type = bf16}
             : (i32, i32, i32, i32, i32, i32, i32, i32, f32, f32, f32, f32, i32)
               -> (f32, f32, f32, f32)
    ```
  }];
  let arguments = (ins Variadic<AnyTypeOf<[I32, F32]>>:$registers,
                       I64Attr:$selector, TypeAttr:$type);
  let results = (outs Variadic<F32>:$d);
  let assemblyFormat = [{
    $registers attr-dict `:` functional-type($registers, $d)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    ::mlir::OperandRange getA() { return getRegisters().take_front(4); }
    ::mlir::OperandRange getB() { return getRegisters().drop_front(4).take_front(4); }
    ::mlir::OperandRange getC() { return getRegisters().drop_front(8).take_front(4); }
    ::mlir::Value getMetadata() { return getRegisters().back(); }
    /// The PTX instruction, without its operands.
    std::string getInstruction();
  }];
}

def MoEGpu_LoadOp : MoEGpu_Op<"load", [MemoryEffects<[MemRead]>]> {
  let summary = "ld.global.nc.v4 (or .v2, scalar): one thread's 16, 8 or 4 bytes at once";
  let description = [{
    A vector load of one thread from global memory, as one instruction: the `n`
    elements of `memref` from `indices` on along its innermost dimension, which must
    lie within that dimension and start at an address aligned to their size
    (4, 8 or 16 bytes). The innermost stride must be 1. The bytes must not change
    while the kernel runs: the load goes through the read-only data path
    (`ld.global.nc`). MLIR 19's `vector.load` does not carry the alignment, so LLVM
    would split it into element loads.

    ```mlir
    %w = moe_gpu.load %weight[%e, %row, %k] : memref<8x512x64xbf16>, vector<8xbf16>
    ```

    `moe-gpu-to-ptx` writes an aligned `llvm.load` with `!invariant.load`, which the
    NVPTX back end emits as one `ld.global.nc.v4` (`.v2`, or a scalar `ld.global.nc`);
    the CUDA emulator checks the bounds and the alignment, each a fault, then loads.
  }];
  let arguments = (ins AnyMemRef:$memref, Variadic<Index>:$indices);
  let results = (outs AnyVector:$result);
  let assemblyFormat = [{
    $memref `[` $indices `]` attr-dict `:` type($memref) `,` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The bytes it loads.
    int64_t getBytes();
  }];
}

def MoEGpu_WgmmaOp : MoEGpu_Op<"wgmma", [MemoryEffects<[MemRead]>,
                                            AttrSizedOperandSegments]> {
  let summary = "wgmma.mma_async.sync.aligned.m64nNk16.f32.T.T of one warpgroup";
  let description = [{
    `D = A B + C` for a warpgroup (four consecutive warps, 128 threads): A is a 64 x 16
    tile and B a 16 x `n` tile (`n` a multiple of 8 up to 256), both of bf16 or f16
    in shared memory, both K-major: A's rows and B's columns each hold their 16 K
    elements along the operand's layout. C and D are 64 x `n` f32, `n` / 2 registers
    per thread, laid out as in the PTX ISA's figure (moe/GPU/MmaLayout.h,
    WgmmaM64NK16). Products are exact and accumulate in f32.

    `a[indices]` and `b[indices]` are the operands' first elements (row 0, k 0), the
    matrix descriptors' start addresses. `swizzle` (0, 32, 64 or 128 bytes) is both
    operands' layout: with a swizzle, rows of `swizzle` bytes, 8-row groups
    `a_stride` / `b_stride` bytes apart, the 16-byte chunks of a row XORed with the
    address's row bits, so the swizzled span must start at an address aligned to 8
    rows (the PTX lowering aligns every workgroup buffer a swizzled wgmma reads; a
    view of dynamic shared memory is the kernel's to align, at run time);
    without one, core matrices of 8 rows x 16 bytes, `leading` bytes apart along K
    and the strides apart along M or N.

    The instruction is asynchronous: its results are available once a
    `moe_gpu.wgmma_wait` has waited for its group, so D may be used only as C of
    another wgmma of the same group or as an operand of the wait. Shared memory the
    generic proxy wrote (stores, cp.async) must be ordered before it by
    `moe_gpu.fence_proxy_async`, and a `moe_gpu.wgmma_fence` must come before the
    first wgmma of a group.

    ```mlir
    moe_gpu.wgmma_fence
    %d:4 = moe_gpu.wgmma %a[%i], %b[%j], (%c0, %c1, %c2, %c3)
             {n = 8 : i64, swizzle = 0 : i64, leading = 128 : i64, a_stride = 256 : i64,
              b_stride = 256 : i64}
             : memref<1024xbf16, #gpu.address_space<workgroup>>,
               memref<128xbf16, #gpu.address_space<workgroup>>,
               (f32, f32, f32, f32) -> (f32, f32, f32, f32)
    moe_gpu.wgmma_commit
    %r:4 = moe_gpu.wgmma_wait 0, %d#0, %d#1, %d#2, %d#3
             : (f32, f32, f32, f32) -> (f32, f32, f32, f32)
    ```

    `moe-gpu-to-ptx` writes the descriptors and the instruction; the CUDA emulator
    runs the runtime's model of it for each warpgroup when the op is reached, after
    checking that every byte it reads was written and fenced.
  }];
  let arguments = (ins AnyMemRef:$a, Variadic<Index>:$aIndices, AnyMemRef:$b,
                       Variadic<Index>:$bIndices, Variadic<F32>:$c, I64Attr:$n,
                       I64Attr:$swizzle, I64Attr:$leading, I64Attr:$a_stride,
                       I64Attr:$b_stride);
  let results = (outs Variadic<F32>:$d);
  let assemblyFormat = [{
    $a `[` $aIndices `]` `,` $b `[` $bIndices `]` `,` `(` $c `)` attr-dict `:`
    type($a) `,` type($b) `,` functional-type($c, $d)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The operands' element type (bf16 or f16).
    ::mlir::Type getType();
    /// The PTX instruction, without its operands.
    std::string getInstruction();
    /// A's and B's matrix descriptors without their start addresses
    /// (moe/GPU/MmaLayout.h, WgmmaDescriptor).
    uint64_t getDescriptor(bool isA);
    /// The alignment in bytes the swizzle needs of the operands' buffers.
    int64_t getBufferAlignment() { return getSwizzle() * 8; }
  }];
}

def MoEGpu_WgmmaFenceOp : MoEGpu_Op<"wgmma_fence",
                                    [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "wgmma.fence.sync.aligned: registers ready for the next wgmma";
  let description = [{
    Orders a warpgroup's earlier accesses of the registers and shared memory a
    wgmma uses before the first `moe_gpu.wgmma` that follows. The CUDA emulator,
    which runs each wgmma when it is reached, has nothing to do for it.
  }];
  let assemblyFormat = "attr-dict";
}

def MoEGpu_WgmmaCommitOp : MoEGpu_Op<"wgmma_commit",
                                     [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "wgmma.commit_group.sync.aligned: the wgmmas so far as one group";
  let assemblyFormat = "attr-dict";
}

def MoEGpu_WgmmaWaitOp : MoEGpu_Op<"wgmma_wait",
                                   [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "wgmma.wait_group.sync.aligned N: waits for all but N groups";
  let description = [{
    Waits until at most `pending` committed wgmma groups are still running, then
    gives its operands, the accumulators of the groups waited for, as its results:
    the registers are tied through the wait, so no use of them can move above it.
  }];
  let arguments = (ins I64Attr:$pending, Variadic<F32>:$values);
  let results = (outs Variadic<F32>:$results);
  let assemblyFormat = [{
    $pending (`,` $values^)? attr-dict `:` functional-type($values, $results)
  }];
  let hasVerifier = 1;
}

def MoEGpu_FenceProxyAsyncOp : MoEGpu_Op<"fence_proxy_async",
                                         [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "fence.proxy.async.shared::cta";
  let description = [{
    Orders the thread's shared-memory accesses through the generic proxy (stores,
    cp.async copies it has waited for) before later accesses through the async
    proxy (wgmma's operands, TMA). The CUDA emulator checks that every byte a
    wgmma reads was fenced after its last generic write.
  }];
  let assemblyFormat = "attr-dict";
}

def MoEGpu_MbarrierInitOp : MoEGpu_Op<"mbarrier_init",
                                     [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "mbarrier.init.shared::cta.b64: a barrier object expecting `count` arrivals";
  let description = [{
    Initialises the 64-bit barrier object `barriers[index]` (a 1-D `i64` workgroup
    buffer) for phases of `count` arrivals (1 to 2^20 - 1). One thread initialises a
    barrier, and a `gpu.barrier` orders that before any other thread's use of it.

    ```mlir
    moe_gpu.mbarrier_init %bars[%i], 1 : memref<4xi64, #gpu.address_space<workgroup>>
    ```
  }];
  let arguments = (ins AnyMemRef:$barriers, Index:$index, I64Attr:$count);
  let assemblyFormat = [{
    $barriers `[` $index `]` `,` $count attr-dict `:` type($barriers)
  }];
  let hasVerifier = 1;
}

def MoEGpu_MbarrierArriveOp : MoEGpu_Op<"mbarrier_arrive",
                                       [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "mbarrier.arrive(.expect_tx).shared::cta.b64: one arrival";
  let description = [{
    The thread's arrival on `barriers[index]`, which releases its earlier writes to
    whoever waits for the phase. With `tx_bytes`, the phase also expects that many
    bytes of asynchronous copies (`moe_gpu.bulk_copy`) to land before it completes
    (`mbarrier.arrive.expect_tx`).

    ```mlir
    moe_gpu.mbarrier_arrive %bars[%i] {tx_bytes = 8192 : i64}
        : memref<4xi64, #gpu.address_space<workgroup>>
    ```
  }];
  let arguments = (ins AnyMemRef:$barriers, Index:$index,
                       DefaultValuedAttr<I64Attr, "0">:$tx_bytes);
  let assemblyFormat = [{
    $barriers `[` $index `]` attr-dict `:` type($barriers)
  }];
  let hasVerifier = 1;
}

def MoEGpu_MbarrierWaitOp : MoEGpu_Op<"mbarrier_wait",
                                     [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "mbarrier.try_wait.parity in a loop: waits for a phase to complete";
  let description = [{
    Waits until the phase of `barriers[index]` whose parity is `parity` (its low bit)
    has completed: all its arrivals made and all the bytes it expects landed. The
    thread then sees the writes released by the arrivals and the copies' bytes. A
    kernel flips the parity it waits for each time a barrier is reused.

    ```mlir
    moe_gpu.mbarrier_wait %bars[%i], %parity : memref<4xi64, #gpu.address_space<workgroup>>
    ```

    The CUDA emulator lands the copies queued on the barrier, then faults if the phase
    has still not completed: in its order (a block's threads run each part in turn)
    nothing else could complete it.
  }];
  let arguments = (ins AnyMemRef:$barriers, Index:$index, Index:$parity);
  let assemblyFormat = [{
    $barriers `[` $index `]` `,` $parity attr-dict `:` type($barriers)
  }];
  let hasVerifier = 1;
}

def MoEGpu_BulkCopyOp : MoEGpu_Op<"bulk_copy", [AttrSizedOperandSegments,
                                               MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes";
  let description = [{
    A copy by the TMA unit of `bytes` contiguous bytes (a multiple of 16, both
    addresses 16-byte aligned) from global memory at `src[srcIndices]` to shared
    memory at `dst[dstIndices]`, along the innermost dimension of each (stride 1).
    When the bytes have landed, the copy completes that many of the transaction bytes
    the current phase of `barriers[index]` expects; a thread that waits for that phase
    then reads them (through either proxy: the copy writes through the async proxy).
    One thread issues it; the arrival that expects its bytes may come before or after.

    ```mlir
    moe_gpu.bulk_copy %tile[%s, %c0], %packed[%e, %n, %k, %c0], %bars[%s] {bytes = 8192 : i64}
        : memref<4x4096xbf16, #gpu.address_space<workgroup>>, memref<8x4x2x4096xbf16>,
          memref<4xi64, #gpu.address_space<workgroup>>
    ```
  }];
  let arguments = (ins AnyMemRef:$dst, Variadic<Index>:$dstIndices, AnyMemRef:$src,
                       Variadic<Index>:$srcIndices, AnyMemRef:$barriers, Index:$index,
                       I64Attr:$bytes);
  let assemblyFormat = [{
    $dst `[` $dstIndices `]` `,` $src `[` $srcIndices `]` `,` $barriers `[` $index `]`
    attr-dict `:` type($dst) `,` type($src) `,` type($barriers)
  }];
  let hasVerifier = 1;
}

def MoEGpu_ResidentGridOp : MoEGpu_Op<"resident_grid", [Pure]> {
  let summary = "the blocks of a persistent kernel the device holds at once";
  let description = [{
    Host code: the x grid size of the `gpu.launch` (or, once outlined,
    `gpu.launch_func`) that uses it, a persistent kernel whose blocks loop over
    `work` items in steps of the grid's size. It is `work` or fewer: as many blocks
    of that kernel, at its block size and shared memory, as the device's
    multiprocessors hold at once (the CUDA runtime asks the driver for its
    multiprocessor count and the kernel's occupancy; the CUDA emulator holds three),
    and at least one.

    ```mlir
    %grid = moe_gpu.resident_grid %work
    gpu.launch blocks(%bx, %by, %bz) in (%gx = %grid, %gy = %c1, %gz = %c1) ...
    ```
  }];
  let arguments = (ins Index:$work);
  let results = (outs Index:$grid);
  let assemblyFormat = "$work attr-dict";
  let hasVerifier = 1;
}

def MoEGpu_RouteOp : MoEGpu_Op<"route", [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "moe.route on device buffers, a warp per token";
  let description = [{
    What `moe-lower-to-gpu` makes of a `moe.route` it can run as a warp per token, on
    buffers, until `moe-expand-gpu-kernels` expands it into its kernel: `logits [T, E]`
    and the optional selection `bias [E]` in, `weights [T, k]` and `ids [T, k]` written,
    as `moe.route` defines them for `routing` (a `#moe.routing` without capacity
    factor or sparse mixer, E at most 256).

    ```mlir
    moe_gpu.route logits(%l) weights(%w) ids(%ids)
        {routing = #moe.routing<softmax_topk, k = 2, normalize = true>}
        : memref<?x8xf32>, memref<?x2xf32>, memref<?x2xi32>
    ```
  }];
  let arguments = (ins AnyMemRef:$logits, Optional<AnyMemRef>:$bias,
                       AnyMemRef:$weights, AnyMemRef:$ids, AnyAttr:$routing);
  let assemblyFormat = [{
    `logits` `(` $logits `)` (`bias` `(` $bias^ `)`)? `weights` `(` $weights `)`
    `ids` `(` $ids `)` attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}

def MoEGpu_RoutedFfnOp : MoEGpu_Op<"routed_ffn", [AttrSizedOperandSegments,
                                                  MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "a routed MoE FFN on device buffers: dispatch, experts and combine";
  let description = [{
    What `moe-lower-to-gpu` makes of a `moe.dispatch` → `moe.experts` → `moe.combine`
    chain, on buffers, until `moe-expand-gpu-kernels` expands it into its kernels
    (after bufferization and deallocation, which do not look into kernels). The
    operands are `moe.dispatch`'s (`tokens [T, H]`, `ids [T, k]`, the optional
    `scale [T, k]` of `scale_inputs`), `moe.combine`'s `weights [T, k]`, `moe.experts`'
    weights in the `compute` type and biases, then the buffers it writes: the
    dispatch's `offsets [E + 1]` and `permutation [T k]` (i32, as `moe.dispatch`
    defines them) and the combined `result [T, H]`. `activation` is the experts'
    `#moe.activation`.

    With `intermediate = I`, the weights are **tiles**, as sm_90a's kernels read them:
    `gate_up [E, S, tiles(I), ceil(H / 64), 4096]` holds the S B sources of the
    gate/up projection (gate, then up when the activation is gated; `up` is then
    absent) and `down [E, 1, tiles(H), ceil(I / 64), 4096]` the down projection's,
    each tile the 64 x 64 block of the source's weight rows for 64 output columns and
    64 along K, zero past the weight, row `r` at `r * 64` and its 16-byte chunk `c` at
    chunk `c ^ (r % 8)` (the 128-byte swizzle): one bulk copy lands a tile in shared
    memory as wgmma reads it. `tiles(n)` is `ceil(n / 64)`, rounded up to an even
    count when it is more than one: the kernels' 128-column blocks read two tiles.

    ```mlir
    moe_gpu.routed_ffn tokens(%x) ids(%ids) weights(%w) gate_up(%w1) down(%w2)
        offsets(%off) permutation(%perm) result(%y)
        {activation = #moe.activation<silu, gated = concatenated>, compute = bf16}
        : memref<?x64xf32>, memref<?x2xi32>, memref<?x2xf32>, memref<8x256x64xbf16>,
          memref<8x64x128xbf16>, memref<9xi32>, memref<?xi32>, memref<?x64xf32>
    ```
  }];
  let arguments = (ins AnyMemRef:$tokens, AnyMemRef:$ids, Optional<AnyMemRef>:$scale,
                       AnyMemRef:$weights, AnyMemRef:$gate_up, Optional<AnyMemRef>:$up,
                       AnyMemRef:$down, Optional<AnyMemRef>:$gate_up_bias,
                       Optional<AnyMemRef>:$up_bias, Optional<AnyMemRef>:$down_bias,
                       AnyMemRef:$offsets, AnyMemRef:$permutation, AnyMemRef:$result,
                       AnyAttr:$activation, TypeAttr:$compute,
                       OptionalAttr<I64Attr>:$intermediate);
  let assemblyFormat = [{
    `tokens` `(` $tokens `)` `ids` `(` $ids `)` (`scale` `(` $scale^ `)`)?
    `weights` `(` $weights `)` `gate_up` `(` $gate_up `)` (`up` `(` $up^ `)`)?
    `down` `(` $down `)` (`gate_up_bias` `(` $gate_up_bias^ `)`)?
    (`up_bias` `(` $up_bias^ `)`)? (`down_bias` `(` $down_bias^ `)`)?
    `offsets` `(` $offsets `)` `permutation` `(` $permutation `)` `result` `(` $result `)`
    attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The side of a weight tile (64: a row of 16-bit elements is one 128-byte
    /// swizzle span).
    static constexpr int64_t kWeightTile = 64;
    /// The tiles along a projection's `columns` output columns: one per 64,
    /// padded to an even count when there is more than one, so that sm_90a's
    /// 128-column blocks each read two whole tiles.
    static int64_t columnTiles(int64_t columns) {
      int64_t tiles = (columns + kWeightTile - 1) / kWeightTile;
      return tiles > 1 ? (tiles + 1) / 2 * 2 : tiles;
    }
    /// Whether the weights are tiles (`intermediate` given).
    bool isTiled() { return getIntermediate().has_value(); }
    /// The intermediate size of the tiled form (signed: the attribute's
    /// accessor gives it unsigned).
    int64_t getTiledIntermediate() { return getIntermediateAttr().getInt(); }
  private:
    ::mlir::LogicalResult verifyTiles();
  public:
  }];
}

#endif // MOE_GPU_OPS_TD
