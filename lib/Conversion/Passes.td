//===- Passes.td - conversions between dialects -------------*- tablegen -*-===//

#ifndef MOE_LIB_CONVERSION_PASSES_TD
#define MOE_LIB_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoELegalizeOnnx : Pass<"moe-legalize-onnx", "::mlir::func::FuncOp"> {
  let summary = "Lower onnx.node ops to linalg, tensor, arith and math on tensors";
  let description = [{
    Each node is lowered by the handler registered for its (domain, op type,
    since-version): the handler with the highest since-version not above the model's
    opset for that domain, so every opset gets its own semantics (Softmax over one
    axis from opset 13, over the flattened trailing axes before).

    Elementwise ops follow ONNX multidirectional broadcasting; a dimension of static
    size 1 broadcasts, and dynamic dimensions are taken to be equal. A result whose
    imported type is less precise than what the lowering computes is cast back with
    `tensor.cast`, so users are unaffected.

    A node no handler covers is an error naming the node, its op type, domain and
    opset and the versions that are supported; nothing is rewritten then. Run
    `moe-raise` first: MoE layers are lowered from `moe.layer`, not from their parts.

    Supported today: Add, Sub, Mul, Div, Pow, Max, Min (two inputs), Neg, Abs, Exp,
    Log, Sqrt, Reciprocal, Tanh, Erf, Sigmoid, Relu, Identity, MatMul, Softmax (1 and
    13, as the stable max / exp / sum / divide sequence), Constant (tensor `value`), Transpose, Unsqueeze and Squeeze (axes as attribute
    or constant input), ReduceSum, ReduceMean, ReduceMax, ReduceMin (axes as attribute
    or constant input, keepdims, noop_with_empty_axes), Equal, Less, LessOrEqual,
    Greater, GreaterOrEqual, And, Or, Xor, Not, Where, Cast, Clip (6 and 11), Concat,
    Gather, Shape, ConstantOfShape, Expand (constant shape), Reshape (constant shape,
    0 and -1), Split (sizes, num_outputs or equal parts), TopK (10: k as input, over
    the last axis; scf loops, O(k n) per row, ties to the lower index), Slice (10:
    constant starts, ends, axes and positive steps on static dimensions), Gemm (11),
    GatherElements (11), OneHot (9: constant depth), ScatterElements (11, 16:
    reduction none or add, in index order), ArgMax and ArgMin (11: keepdims,
    select_last_index), Range (11: length computed at run time), NonZero (9: a
    counting pass, then a filling one), GatherND (11: batch_dims, static tuple
    length), ScatterND (11, 16, 18: reduction none, add, mul, max or min, in index
    order), Pow with an integer or other-width exponent (12), LayerNormalization (17),
    RMSNormalization (23), SimplifiedLayerNormalization and
    com.microsoft SkipSimplifiedLayerNormalization (the normalised output and the
    skip sum; the statistics outputs must be unused). Integer arithmetic is supported on signless (signed) element types.

    ```
    moe-opt model.onnx --moe-raise --moe-legalize-onnx
    ```
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def MoELowerToLinalg : Pass<"moe-lower-to-linalg", "::mlir::func::FuncOp"> {
  let summary = "Lower moe.route, moe.dispatch, moe.experts and moe.combine to loops and linalg";
  let description = [{
    The target-independent lowering of the expanded MoE steps (run `moe-expand` first),
    on tensors:

    - `moe.route`: per token, the scores (softmax over all experts, the logits, or
      sigmoid), the correction bias, grouped pre-selection, `k` passes of arg-max
      (ties to the lower id), then softmax over the chosen logits, renormalisation and
      scale, each token in its own iteration with its own scratch row, the loop marked
      `moe.independent_iterations`; with a capacity factor, a second pass in token
      order drops the assignments over capacity;
    - `moe.dispatch`: per slot (each expert, and one for assignments to no routed
      expert), a count of its assignments and then, from its offset (the exclusive
      prefix sum of the counts), a stable placement of them; the per-slot loops scan
      all assignments and are marked `moe.independent_iterations`; then a gather of
      the rows;
    - `moe.experts`: one `scf.for` over experts; each runs `linalg.matmul_transpose_b`
      on its own slice of rows only (bias, activation and gate/up split as
      `linalg.generic`), so the work grows with tokens x k, not tokens x experts.
      With `panel-width=W` (the CPU pipeline sets the target's f32 vector width),
      constant f32 weights `[E, N, K]` with `N` a multiple of `W` are packed in the
      compiler into panels `[E, N / W, K, W]` (the `W` output columns of each `k`
      contiguous, as a broadcast-FMA GEMM kernel reads them) and each projection is a
      `linalg.generic` over them; with `bf16-weights`, the panels hold the weights
      rounded to bf16 (to nearest even), widened to f32 as they are read. With
      `grouped` (the CPU pipeline's choice) the experts run in parallel loops instead.
      From 16 assignments (tokens x k) on, side by side: an `scf.forall` over experts,
      each iteration one expert's whole FFN, its rows written back by
      `tensor.parallel_insert_slice`. Below (decode), each projection is one grouped
      matmul over all experts: an `scf.forall` over blocks of output columns (about
      256 KiB of one expert's weight each), each iteration running every expert's rows
      against its block of that expert's weight; the activation runs on all rows at
      once. The blocks are alike in work however few experts were routed to, and a
      layer forks threads once per projection;
    - `moe.combine`: the inverse permutation (a loop marked
      `moe.independent_iterations`), then one `linalg.generic` summing the weighted
      rows of each token in ascending `j`.

    ```
    moe-opt model.onnx --moe-raise --moe-expand --moe-lower-to-linalg
    moe-opt model.onnx --moe-raise --moe-expand --moe-lower-to-linalg='panel-width=16 bf16-weights'
    ```
  }];
  let options = [
    Option<"panelWidth", "panel-width", "int64_t", /*default=*/"0",
           "Pack constant f32 expert weights into panels of this many output "
           "columns (0: leave them as they are)">,
    Option<"bf16Weights", "bf16-weights", "bool", /*default=*/"false",
           "Packed weights are stored in bf16 (rounded to nearest even)">,
    Option<"grouped", "grouped", "bool", /*default=*/"false",
           "Experts in parallel loops: side by side from 16 assignments on, "
           "below each projection over blocks of output columns of every expert">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def MoELowerToGPU : Pass<"moe-lower-to-gpu", "::mlir::func::FuncOp"> {
  let summary = "Lower moe.route, moe.dispatch, moe.experts and moe.combine to CUDA kernels that keep the routing on the device";
  let description = [{
    The CUDA target's lowering of an expanded MoE layer (run `moe-expand` first), on
    tensors, before `moe-lower-to-linalg`. Each `moe.route` becomes a `moe_gpu.route`
    (a warp per token) unless it has a capacity factor, the sparse mixer, more than 256
    experts, k over 16 or groups that do not split the experts evenly (a remark says
    which). Each chain `moe.dispatch` → `moe.experts` →
    `moe.combine` becomes a `moe_gpu.routed_ffn` on the buffers of its operands, which
    `moe-expand-gpu-kernels` expands after bufferization. A layer whose expert weights
    are bf16 or f16 computes in that type, its weights as they are; an f32 layer's
    weights are converted to the compute type `precision` (in the compiler when they
    are constants). A chain
    whose hidden or intermediate size is not a multiple of one 16-byte copy, or whose
    ops are used elsewhere, is left to `moe-lower-to-linalg` with a remark that says
    why.

    With `weight-tiles` (the CUDA pipeline sets it for sm_90a), a layer that computes
    in bf16 or f16 takes its expert weights as tiles (`moe_gpu.routed_ffn`'s
    `intermediate` form): each B source of each projection (gate, up, down) cut into
    64 x 64 blocks of output columns by K, zero-padded (the blocks along the columns
    to an even count when there are more than one, for 128-column tiles), each
    block's rows in the 128-byte swizzle, so that one bulk copy of 8 KiB lands a
    block in shared memory as wgmma reads it. The weights must be constants, packed in the compiler (the
    artifact holds the tiles instead of the weights); weights that are inputs stay as
    they are, since packing them would cost a pass over them every call.

    ```
    moe-opt model.onnx --moe-raise --moe-expand --moe-lower-to-gpu=precision=bf16
    ```
  }];
  let options = [
    Option<"precision", "precision", "std::string", /*default=*/"\"fp32\"",
           "f32 layers' GEMM operand type: fp32 (FMA), bf16 or fp16 (tensor "
           "cores); bf16 and f16 layers compute in their own type">,
    Option<"weightTiles", "weight-tiles", "bool", /*default=*/"false",
           "16-bit layers' constant expert weights as the 64 x 64 swizzled "
           "tiles sm_90a's kernels bulk-copy, packed in the compiler">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::moe_gpu::MoEGpuDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def MoEExpandGpuKernels : Pass<"moe-expand-gpu-kernels", "::mlir::func::FuncOp"> {
  let summary = "Expand moe_gpu.route and moe_gpu.routed_ffn into their kernels";
  let description = [{
    Each `moe_gpu.route` becomes one kernel, a warp per token (4 a block): each lane holds
    the scores of the experts `lane, lane + 32, ...` in registers; the softmax statistics,
    the groups' scores of grouped top-k and each of the `k` arg-max passes are butterfly
    reductions (`gpu.shuffle xor`; ties to the lower expert), the chosen expert's weight
    comes from its lane (`gpu.shuffle idx`), and lane `j` writes assignment `j`. No
    launch when there are no tokens.

    Each `moe_gpu.routed_ffn` becomes four `gpu.launch` kernels, and nothing the routing
    decides goes back to the host; launch sizes are bounds computed from the token
    count, and the scratch buffers are allocated and freed around them:

    - **align** (one block of 1024 threads): a warp per expert counts its assignments
      32 at a time (`nvvm.vote.ballot.sync`, popcount); an exclusive scan by shuffles
      (32 slots a step) gives the offsets and each expert's first tile, and a warp per
      expert writes its entries of
      a table of M tiles (expert, first row; at most `ceil(T k / 32) + min(E, T k)`,
      thread 0 writing how many are in use), then each warp places its expert's assignments in token
      order (rank = matching lanes below), writing the permutation and its inverse;
    - **gate/up**: one grouped GEMM launch, persistent over the table's entries in
      use x 64-column tiles, 128 threads: A rows gathered through the permutation (scaled by the routing weight
      for `scale_inputs`) into shared memory, the gate (and up) weight tiles copied by
      16-byte `cp.async` into three stages (two in f32: the copies of the next K steps
      are in flight while the block multiplies the current one), then `ldmatrix.x4` fragments and `mma.sync m16n8k16` (bf16
      or f16, f32 accumulation) or f32 FMA; gate and up of the same columns in one
      block, bias and `#moe.activation` in the epilogue, the intermediate written once
      in the compute type;
    - **down**: the same grouped GEMM over the intermediate rows, their A tiles copied
      by `cp.async` as well, bias in the epilogue;
    - **combine**: a thread per output element sums its token's k rows in ascending j.

    With at most `decode-tokens` tokens (the host tests T before the launches) gate/up
    and down are the **decode** kernels instead, as an expert then has few rows and
    its weights are what the layer moves: blocks of 8 warps over the same tile table x
    16-column tiles, each warp two output columns of every source, its lanes along K
    in 16-byte `moe_gpu.load`s (two of each weight row in flight a lane), the tile's
    rows 4 at a time, each lane's partial sums reduced across the warp by shuffles,
    the same epilogues. Every weight row an expert needs is read once.
    `decode-tokens=0` always runs the grouped GEMMs. By default the bound is per layer:
    the `gpu-config` tuning file's entry for the layer's shape (`scripts/gpu-check run`
    writes one from timings on the GPU), else `E * 4 / k` within [8, 128], the token
    count at which an evenly routed expert's rows still fit one decode pass of 4 rows
    (16 for Mixtral's 8 experts and k = 2, 64 for Qwen3-30B-A3B's 128 and k = 8).

    ```json
    {"moe_layers": [
      {"experts": 8, "k": 2, "hidden": 4096, "intermediate": 14336, "decode_tokens": 24,
       "wide_tokens": 256}
    ]}
    ```

    The projections are persistent kernels: a grid of as many blocks as the device
    holds at once (`moe_gpu.resident_grid`), each taking the work items (the table's
    entries in use, which align writes, times the column tiles) its block index, plus
    the grid's size, and so on.

    With `arch=sm_90a` and a bf16 or f16 compute type the grouped GEMMs run on
    Hopper's **wgmma**, warp-specialised: 128-column tiles (64 for a projection with
    no more columns), and above `wide-tokens` tokens 128 rows on two consumer
    warpgroups, else 64 rows on one (the host picks the tile table's rows per call),
    beside a producer warpgroup; the two roles are the branches of an `scf.if` marked
    `moe_gpu.roles` and synchronise by a full and an empty mbarrier per stage alone.
    The producer copies each K step's tiles into 128-byte swizzled K-major stages
    (four, in dynamic shared memory, views aligned to 1024 bytes): A's gathered rows
    stored or copied by `cp.async`, B by `cp.async` or, when the weights are tiles,
    by bulk copies that complete the stage's full barrier; it fences its writes for
    the async proxy and arrives on the full barrier once they have landed, and waits
    for a stage's empty barrier before refilling it. The consumers wait for a full
    stage, issue four `wgmma.mma_async m64nNk16` per source and K step in one group
    (consumer warpgroup w its 64 rows of A by all of B), wait for all but that group
    and free the stage of the step before; after a work item's steps they wait for
    all and run the same epilogues, while the producer fills the stages with the
    next item's tiles. With 384 threads `setmaxnreg` moves registers from the
    producer to the consumers. By default `wide-tokens` is the tuning file's
    `wide_tokens` for the layer's shape, else `64 E / k` (the experts average more
    than 64 rows).

    ```
    moe-opt bufferized.mlir --moe-expand-gpu-kernels
    moe-opt bufferized.mlir --moe-expand-gpu-kernels=decode-tokens=0
    moe-opt bufferized.mlir --moe-expand-gpu-kernels=arch=sm_90a
    moe-opt bufferized.mlir --moe-expand-gpu-kernels=atomic-combine=true
    ```

    With `atomic-combine` there is no combine kernel and no expert rows: a kernel
    zeroes the output before the projections, and the down projection's epilogue
    (GEMM and decode) adds each row times its routing weight into its token's output
    row with an atomic add. One pass over the expert rows and their buffer fewer, but
    the order of each token's k terms is the hardware's, so results may differ in the
    last bits from run to run; it needs an f32 output.
  }];
  let options = [
    Option<"decodeTokens", "decode-tokens", "int64_t", /*default=*/"-1",
           "run the decode kernels up to this many tokens (0: never; -1: the "
           "gpu-config file's bound for the layer's shape, else E * 4 / k "
           "within [8, 128])">,
    Option<"wideTokens", "wide-tokens", "int64_t", /*default=*/"-1",
           "sm_90a: above this many tokens the grouped GEMMs take 128-row "
           "tiles on two consumer warpgroups (-1: the gpu-config file's bound for the "
           "layer's shape, else 64 E / k)">,
    Option<"gpuConfig", "gpu-config", "std::string", /*default=*/"\"\"",
           "a tuning file (JSON) with each layer shape's decode and wide-tile "
           "bounds">,
    Option<"arch", "arch", "std::string", /*default=*/"\"sm_80\"",
           "the GPU architecture the kernels are for: sm_90a's grouped GEMMs "
           "run on wgmma">,
    Option<"atomicCombine", "atomic-combine", "bool", /*default=*/"false",
           "combine in the down projection's epilogue with atomics (f32 "
           "outputs), the order of each token's sum left to the hardware">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::moe_gpu::MoEGpuDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def MoEVectorizeMatmuls : Pass<"moe-vectorize-matmuls", "::mlir::func::FuncOp"> {
  let summary = "Register-blocked vector kernels for the matmuls of a model on memrefs";
  let description = [{
    The expert projections are `rows [M, K] x W [N, K]^T`, both contiguous along `K`.
    This pass replaces each f32 `linalg.matmul_transpose_b` on memrefs with static `N`
    and `K` (`K` a multiple of 8, `N` of 2) by a kernel that keeps a 4 x 2 block of
    rows x weight rows as `vector<8xf32>` accumulators over all of `K` (`vector.fma`),
    reduces each once (`vector.reduction <add>`) and adds it to `C`. Leftover rows go
    one at a time against 4 weight rows. The weight is walked in blocks of about
    256 KiB that stay in cache while every row block passes over them, so a weight is
    read from memory once per call however many rows its expert has; `M` may be
    dynamic. For weights of 1 MiB or more the weight blocks are an `scf.parallel`
    loop (they write disjoint columns of `C`), which the CPU pipeline hands to
    OpenMP, unless the matmul is in a parallel loop already (`scf.forall` or
    `scf.parallel`: experts run side by side).

    It also replaces the products over packed weight panels that `moe-lower-to-linalg`
    writes (`linalg.generic` reading `A [M, K]` and panels `[N / W, K, W]` of f32 or
    bf16 into `C [M, N]` at column `p * W + l`) by a broadcast-FMA kernel: a block of
    rows x column vectors of `C` stays in registers over all of `K`, each step loading
    one vector of each panel (bf16 widened to f32) and broadcasting each row's element
    against them, with no horizontal reduction. Rows go in blocks of 6 x 4 vectors with
    512-bit vectors (8 x 2 where the columns are no multiple of 4 vectors) and 6 x 2
    with 256-bit ones, the rest in blocks of 4, 2 and 1 rows x up to 4 vectors;
    panels are walked in cache-sized blocks, in parallel for weights of 1 MiB or more.
    `vector-bits` is the target's vector width (256: AVX2; 512: AVX-512).

    Products of two operands computed at run time (attention's scores `Q x K^T` and
    values `P x V`, a `linalg.generic` over `batch..., m, n, k` with `C += A x B`, `B`
    contiguous along `N`, a batch dimension of `A` or `B` possibly broadcast) go on
    the same broadcast-FMA kernel, reading `B`'s rows where they are: the batches and
    chunks of 16 row blocks (96 or 128 rows) are one `scf.parallel`, `B` is walked
    in cache-sized column blocks, and the columns past the last whole vector of a
    dynamic `N` go through scalar loops. Where a `linalg.fill` of zeros into `C`
    comes just before a product (nothing touching memory between), the fill goes and
    the kernel's blocks start from zero. Other matmuls are left as they are.

    ```
    moe-opt lowered.mlir --moe-vectorize-matmuls
    moe-opt lowered.mlir --moe-vectorize-matmuls=vector-bits=512
    ```
  }];
  let options = [
    Option<"vectorBits", "vector-bits", "int64_t", /*default=*/"256",
           "The target's vector register width in bits: 256 (AVX2) or 512 "
           "(AVX-512)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def MoEParallelizeLoops : Pass<"moe-parallelize-loops", "::mlir::func::FuncOp"> {
  let summary = "Large linalg ops on memrefs: their leading parallel loops on every thread";
  let description = [{
    What the CPU's matmul kernels leave (elementwise ops, softmax, normalisations,
    transposes, copies) lowers to serial loops. This pass tiles each linalg op on
    memrefs that is not in a parallel loop already (`scf.forall`, `scf.parallel`) and
    whose leading loops are parallel: those loops become one `scf.parallel` of one
    point each (the CPU pipeline hands it to OpenMP), the innermost loop, the
    contiguous one LLVM vectorizes, and any reduction stay inside. An op runs so when
    its iteration space has `min-elements` points or more; where a size is dynamic the
    check is made at run time, the serial op kept for small calls (a decode step's
    elementwise ops are not worth a fork).

    ```
    moe-opt lowered.mlir --moe-parallelize-loops
    moe-opt lowered.mlir --moe-parallelize-loops=min-elements=4096
    ```
  }];
  let options = [
    Option<"minElements", "min-elements", "int64_t", /*default=*/"32768",
           "The fewest iteration points an op runs in parallel for">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
  ];
}

def MoEApproximateMath : Pass<"moe-approximate-math", "::mlir::func::FuncOp"> {
  let summary = "f32 math functions as polynomials the loop vectorizer can vectorize";
  let description = [{
    A call into the C library (`expf`, `tanhf`, `erff`, `logf`) keeps the loop around
    it scalar. This pass rewrites `math` ops on f32 (and on f16 / bf16 through f32)
    as MLIR's polynomial approximations: `exp`, `expm1`, `log`, `log2`, `log1p`,
    `tanh`, `erf`, `atan`, `atan2`, `asin`, `acos`, `cbrt`, plain arithmetic that
    LLVM vectorizes with the loop. Sine and cosine stay calls (their range
    reduction loses the phase of rotary embeddings' large angles); f64 is left as
    it is. The CPU pipeline runs it; the numerics tests bound what it changes.

    ```
    moe-opt lowered.mlir --moe-approximate-math
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def MoEReassociateReductions : Pass<"moe-reassociate-reductions", "::mlir::func::FuncOp"> {
  let summary = "f32 sums and products of linalg reductions marked reassociable";
  let description = [{
    LLVM keeps the order of an f32 sum unless its additions may reassociate, so a
    reduction loop (a softmax's sum, a norm's mean, a ReduceSum) stays one scalar
    addition a step. This pass marks the combiner of each `linalg.generic` reduction
    whose yielded value is an f32 `arith.addf` or `arith.mulf` of the output's running
    value `fastmath<reassoc>`: LLVM's loop vectorizer then keeps several partial sums
    in vectors and adds them at the end. The order of the additions changes, not
    which values are summed; results agree with the serial sum to rounding. Other
    reductions (max, min, integer ones) are left as they are.

    ```
    moe-opt lowered.mlir --moe-reassociate-reductions
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def MoEOffloadToGPU : Pass<"moe-offload-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Move the work of bufferized host functions into gpu.launch kernels";
  let description = [{
    The CUDA target's first GPU step, run on bufferized code after
    `convert-linalg-to-parallel-loops`. In every function of the module:

    - each outermost `scf.parallel` without results, and each `scf.for` marked
      `moe.independent_iterations` (routing's per-token loop, the inversion of the
      dispatch permutation), becomes a `gpu.launch` over its iteration space,
      linearised: blocks of 256 threads, one iteration per thread, threads past the
      end doing nothing;
    - an operation that reads or writes memory and holds no parallel loop (a serial
      `scf.for`, a `memref.store`, a scalar loop nest) becomes a one-thread launch,
      so that every access to a buffer happens on the device;
    - a loop that holds parallel loops, or that yields values the host needs, stays
      on the host and its body is treated the same way;
    - a `memref.load` left on the host (a loop bound, an allocation size) reads
      device memory through `moe_gpu_read(host, device, bytes)`: a small static buffer
      that a host loop only reads (the dispatch offsets an expert loop bounds its
      launches with) is copied whole, once, before the outermost such loop; any other
      load reads its element.

    Allocations stay `memref.alloc`: the CUDA target lowers them to the runtime's
    device allocator. Buffers on the host stack (`memref.alloca`) are rejected, as
    no kernel can reach them.

    ```
    moe-opt bufferized.mlir --convert-linalg-to-parallel-loops --moe-offload-to-gpu --gpu-kernel-outlining
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
  ];
}

def MoEMatmulsToMma : Pass<"moe-matmuls-to-mma", "::mlir::func::FuncOp"> {
  let summary = "Tensor-core kernels (mma.sync m16n8k16) for f32 matmuls on memrefs";
  let description = [{
    The CUDA target's GEMMs in reduced precision. Each f32 `linalg.matmul_transpose_b`
    (`C += A W^T`, the expert projections) and `linalg.matmul` (`C += A B`) on
    memrefs whose reduction size `K` is static and a multiple of 16 becomes a
    `gpu.launch`: a block of 4 warps computes a 16 x 128 tile of `C`, each warp
    16 x 32 as four `moe_gpu.mma_sync` (`mma.sync.aligned.m16n8k16.row.col.f32.
    {bf16|f16}`) per step of 16 along `K` (MLIR 19's nvgpu.mma.sync has no bf16). Operands are rounded to the compute type as they are loaded, and
    accumulation is f32. Rows and columns past `M` and `N` (which may be dynamic)
    load zeros and are not stored. Fragment layouts follow the PTX ISA (9.7.14.5.8,
    "Matrix Fragments for mma.m16n8k16 with floating point type").

    ```
    moe-opt bufferized.mlir --moe-matmuls-to-mma=precision=bf16
    ```
  }];
  let options = [
    Option<"precision", "precision", "std::string", /*default=*/"\"bf16\"",
           "Compute type of the operands: bf16 or fp16">,
  ];
  let dependentDialects = [
    "::mlir::moe_gpu::MoEGpuDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
  ];
}

def MoEGpuToPtx : Pass<"moe-gpu-to-ptx"> {
  let summary = "The moe_gpu dialect's warp instructions as PTX";
  let description = [{
    The PTX lowering of `moe_gpu` ops: `moe_gpu.mma_sync` becomes its
    `mma.sync.aligned.m16n8kK.row.col.f32.T.T.f32` instruction and `moe_gpu.mma_sp`
    its `mma.sp.sync.aligned.m16n8k32.row.col.f32.T.T.f32` (with the metadata
    register and the selector immediate) in `llvm.inline_asm` (outputs `=f`, A, B and
    metadata registers `r`, C `f`). `moe_gpu.load` becomes an `llvm.load` of i32 words
    from the element's address in the global address space, aligned to its size and
    `invariant` (NVPTX writes one `ld.global.nc.v4`), bitcast to the result type. The
    CUDA target runs it on its kernel modules before `convert-gpu-to-nvvm`; the CUDA
    emulator lowers the same ops to calls of the runtime's models and checked loads
    instead (`moe-gpu-launches-to-loops`).

    ```
    moe-opt kernels.mlir --moe-gpu-to-ptx
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::memref::MemRefDialect"];
}

def MoEGpuLaunchesToLoops : Pass<"moe-gpu-launches-to-loops", "::mlir::ModuleOp"> {
  let summary = "Run gpu.launch kernels as loops on the host (the CUDA emulator)";
  let description = [{
    The CUDA emulator: runs the kernels of `moe-offload-to-gpu` (or kernels written
    by hand as `gpu.launch`) on the CPU, executing the same kernel IR the CUDA target
    makes PTX of. The grid's blocks become one `scf.parallel` (OpenMP's threads), and
    each block's threads run in turn.

    A kernel whose threads do not communicate runs thread by thread. One that does
    (`gpu.barrier`, `nvvm.barrier0`, `gpu.shuffle`, `nvvm.shfl.sync`,
    `nvvm.vote.ballot.sync`, `nvvm.redux.sync`, `nvgpu.ldmatrix`, `moe_gpu.mma_sync`,
    `moe_gpu.mma_sp`, workgroup memory)
    is split at each such operation, as POCL's work-group functions split kernels at
    barriers: the block's threads run each part in turn, values live across parts are
    kept per thread, a barrier ends the shadow's interval, and each warp's warp-wide
    operation is one call of the runtime's model of the instruction on its lanes'
    registers, through the `moe_emu_api` table the runtime fills when it loads the
    artifact (`moe/Runtime/Emulator.h`; fragment layouts from `moe/GPU/MmaLayout.h`,
    which the kernels use too). A `scf.for` or `scf.if` holding one runs once for the
    block with thread 0's bounds or condition; each thread that disagrees is a fault.
    An `scf.if` marked `moe_gpu.roles` splits the block into warp roles (a producer's
    warps and its consumers', say) that synchronise by mbarriers alone: each branch
    runs over its threads as a coroutine (an `async.func`, lowered by the async
    dialect's passes, its runtime the moe runtime's scheduler) until its threads wait
    for an mbarrier phase another role must complete, which resumes it. Roles that
    all wait with nothing left to complete a phase are a deadlock, a fault; a
    `gpu.barrier` in a role is refused. Accesses that mbarrier phases order (an
    arrival before a wait for its phase, vector clocks per thread) are no races.
    Static and dynamic workgroup memory are per-block host buffers; blocks have at
    most 1024 threads and a static size. `nvgpu.device_async_copy`, `_create_group`
    and `_wait` (cp.async) become calls of the runtime's per-thread queues, whose
    copies land at the wait.

    Every `memref.load` and `memref.store` is checked as it runs: an index past its
    dimension is a fault and the access is skipped; a shared-memory access goes past
    the runtime's shadow, which faults reads of bytes no thread has written and
    races (a byte another thread wrote, or read before this write, since the last
    barrier). A warp-wide operation run by a lane outside the member mask is a fault.
    The run then fails with the first fault, naming the kernel (as the PTX names it),
    block, thread, address and operation. Other communication (other NVVM ops, inline
    assembly) is refused. The runtime call `moe_gpu_read(host, device, bytes)` gets a
    body that copies the bytes.

    ```
    moe-opt offloaded.mlir --moe-gpu-launches-to-loops
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
    "::mlir::async::AsyncDialect",
    "::mlir::cf::ControlFlowDialect",
  ];
}

def MoEGpuEmulatorAsyncRuntime
    : Pass<"moe-gpu-emulator-async-runtime", "::mlir::ModuleOp"> {
  let summary = "The emulated warp roles' async runtime calls through moe_emu_api";
  let description = [{
    The CUDA emulator runs the warp roles of a block (`moe_gpu.roles`) as
    coroutines, which the async dialect's lowering makes of them; that lowering
    declares the functions of MLIR's async runtime (`mlirAsyncRuntime*`). This pass
    gives each declaration a body that calls the moe runtime's scheduler through the
    `moe_emu_api` table, so that an artifact needs no other library. A called
    declaration the scheduler has no function for is an error. With
    coroutines, the module gets a weak, hidden `__truncsfbf2` (f32 to bf16), which
    x86-64's back end calls for their bf16 values and the C library may lack. It runs once the
    CPU lowering has made functions `llvm.func`s.
  }];
}

def MoEPackMatmulWeights : Pass<"moe-pack-matmul-weights", "::mlir::func::FuncOp"> {
  let summary = "Pack the constant weights of a model's f32 matmuls into panels for the CPU kernel";
  let description = [{
    The matmuls outside the MoE layers (routers, attention and MLP projections, the
    LM head: `linalg.generic` `C [M, N] += A [M, K] x B` with `B` as `[K, N]` or
    `[N, K]`) whose `B` is an f32 constant with `N` a multiple of `panel-width` get
    it packed in the compiler into panels `[N / W, K, W]`, and become the panel
    product `moe-vectorize-matmuls` gives its broadcast-FMA kernel, as the experts'
    weights do. The CPU pipeline sets the width to the target's f32 vector lanes.

    ```
    moe-opt model.mlir --moe-pack-matmul-weights=panel-width=16
    ```
  }];
  let options = [
    Option<"panelWidth", "panel-width", "int64_t", /*default=*/"16",
           "Output columns per panel (0: leave the weights as they are)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

#endif // MOE_LIB_CONVERSION_PASSES_TD
