//===- Passes.td - mrope conversion passes ------------------*- tablegen -*-===//

#ifndef MROPE_CONVERSION_PASSES_TD
#define MROPE_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertMRopeToLinalg : Pass<"convert-mrope-to-linalg"> {
  let summary = "Lower rotary ops to portable linalg-on-tensors";
  let description = [{
    Lowers `mrope.apply`, `mrope.rotate`, `mrope.cos_sin` and
    `mrope.decode_positions` to
    `linalg.generic`,
    `tensor` slicing and `arith`/`math` ops on tensors, and the runtime
    position construction `mrope.rope_index` to loops over rows (a scan over
    each row's tokens inside; `parallel-rows`: `scf.forall`): the form IREE
    and Torch-MLIR pipelines consume. Constant `mrope.inv_freq` and
    statically known positions are folded first.

    The frequency allocation is specialized at compile time: the pair -> axis
    map is split into a few strided runs (contiguous: 3 unit-stride runs;
    interleaved: stride-3 runs), each computing its angles from one row of
    the positions, so no per-element axis lookup is left. Angles and cos/sin
    are computed once per (token, pair), or per (KV head, token, pair) for
    head-partitioned allocations, and shared by every head.

    The rotation follows Hugging Face numerics: angles and cos/sin in f32,
    cos/sin rounded to the activation type, then `x * cos + rotate(x) * sin`
    in the activation type.

    `mrope.attention` becomes online softmax (flash-attention style); its
    rotary prologue becomes `mrope.apply` first. With at least 16 query rows
    per KV head (prefill), query rows of one GQA group and consecutive tokens
    sit in the lanes of an f32 vector of `vector-bits` (16 lanes by default):
    per block of keys, the scores are independent FMAs with each key channel
    broadcast, the softmax is lanewise and the output accumulates as
    channels x rows, all in registers or L1; a task runs a block of such
    tiles over chunks of keys that stay in L2. Fewer query rows (decode) are
    lowered row by row: one `scf.forall` over query rows, a loop over each
    row's keys with the running max, sum and f32 accumulator row as vectors
    over the head dimension.

    With `portable-attention` (the portable pipeline) attention becomes
    whole-tensor linalg instead: scores, softmax and values as contractions,
    reductions and elementwise generics on tensors; packed sequences limit
    each query token's keys to a range found by a reduction over the
    sequences, and a paged cache is gathered first.

    Ops without a lowering yet (`mrope.attention` with dynamic shapes, or in
    the portable form with dynamic heads, head dims, mask broadcast sizes or
    block table; static positions too large to fold) are reported as
    errors.
  }];
  let options = [
    Option<"vectorRows", "vector-rows", "bool", /*default=*/"false",
           "Lower mrope.apply to a loop over tiles of tokens with vector "
           "ops: per token each position axis's cos/sin as vectors (reused "
           "while the position repeats; no table in memory), every head's "
           "row rotated as a vector (the CPU pipeline); and mrope.cos_sin "
           "to the same loop writing each table row from those vectors. "
           "Default: angle and cos/sin tables in linalg and one "
           "linalg.generic per rotated tensor or table (the portable form)">,
    Option<"vectorBits", "vector-bits", "int64_t", /*default=*/"0",
           "With vector-rows: rotate a row in chunks of vector-bits / 32 "
           "pairs (256: AVX2, 512: AVX-512): one loop over the heads for all "
           "chunks when their cos/sin fit in 8 vector registers, else one "
           "per chunk. 0: the whole row at once. Also the width of "
           "mrope.cos_sin's cos/sin vectors and table chunks, and the lanes of "
           "mrope.attention's query-row tiles: vector-bits / 32, at most 16 "
           "(16 when below 64)">,
    Option<"fastSinCos", "fast-sin-cos", "bool", /*default=*/"false",
           "With vector-rows: cos/sin by one Cody-Waite reduction and "
           "minimax polynomials (within 2 f32 ulps, 5-25% less time) "
           "instead of the bits PyTorch's CPU kernels produce (SLEEF's "
           "algorithms, the default)">,
    Option<"tokenTile", "token-tile", "int64_t", /*default=*/"256",
           "With vector-rows: tokens per iteration of the parallel loop; "
           "within one, each position axis's cos/sin are reused while the "
           "axis's position does not change (T and H along an image row)">,
    Option<"attentionTiles", "attention-tiles", "bool", /*default=*/"true",
           "Lower prefill-sized mrope.attention (at least 16 query rows per "
           "KV head) as register tiles of query rows in vector lanes, and "
           "decode-sized as tasks of one GQA group's query heads that read "
           "each key once; false: one query row per task for both (the "
           "earlier form, kept for comparison)">,
    Option<"portableAttention", "portable-attention", "bool",
           /*default=*/"false",
           "Lower mrope.attention (static heads and head dims; batch, token "
           "and sequence counts static or dynamic; packed sequences and "
           "paged caches too) to whole-tensor linalg: a contraction per GQA "
           "group for the scores, reductions and elementwise generics for "
           "the softmax, a contraction for the values (what IREE compiles; "
           "set by mrope-to-linalg-pipeline). Default: the CPU loop nests "
           "(online softmax in scf.forall tasks with vector code)">,
    Option<"parallelRows", "parallel-rows", "bool", /*default=*/"false",
           "Lower mrope.rope_index's passes over rows to scf.forall loops "
           "(rows in parallel: threads on the CPU, a thread per row on the "
           "GPU) and its status to a linalg.generic; false: scf.for loops "
           "(booleans carried as i64) and scalar code, which IREE compiles "
           "and runs correctly for the Hugging Face designs (it rejects a "
           "top-level scf.forall and miscompiles host loops carrying i1s "
           "next to i64s)">,
    Option<"avx512BF16", "avx512-bf16", "bool", /*default=*/"false",
           "With vector-rows and bf16 activations: round the rotation's "
           "products and sums two vectors per instruction with AVX512-BF16's "
           "vcvtne2ps2bf16 (the target must have avx512bf16). Same bits: "
           "rows with a word below 2^-63, and with attention scaling below "
           "2^-30 tokens with a cos/sin below 2^-55, which could make an "
           "intermediate subnormal, take the integer rounding. Also bf16 "
           "attention tiles (prefill) and decode tasks take q . k as "
           "vdpbf16ps on channel pairs: exact products, f32 sums in another "
           "order (within the attention's tolerance, not the same bits as "
           "the FMA form)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::linalg::LinalgDialect", "::mlir::vector::VectorDialect",
    "::mlir::math::MathDialect", "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def ConvertMRopeToGPU : Pass<"convert-mrope-to-gpu", "ModuleOp"> {
  let summary = "Lower mrope.apply and mrope.attention to GPU kernels (gpu.launch on device buffers)";
  let description = [{
    Checks each `mrope.apply` and `mrope.attention` and marks it with its
    kernel configuration; one-shot bufferization then emits the kernels
    (`gpu.launch`) on the buffers, rotating q and k of an apply in place (a
    copy where q or k is still read afterwards), so the function takes and
    returns device buffers.

    `mrope.attention` (bf16/f16) becomes a flash-attention kernel on tensor
    cores (mma.sync m16n8k16, ldmatrix; sm_80+): a CTA of 4 warps per 64
    rows of one KV head (its GQA group's query heads x tokens), keys and values staged 64 at a time in shared
    memory, online softmax in registers. A rotary prologue rotates the
    queries in registers and the keys once, by the rotary kernel on a copy
    of k. With `host-loop` the attention is left to the CPU lowering.

    One thread handles one token, one group of pairs that fills a 16-byte
    vector (8 bf16/f16 or 4 f32 channels per half for NeoX, 2x that for
    GPT-J) and a slice of the heads: it computes its pairs' angles and
    cos/sin once in f32 (the allocation's pair -> axis map resolved at
    compile time as strided runs; head-partitioned allocations: one cos/sin
    per axis, chosen per head), then rotates every head of its slice of q
    and k with 16-byte loads and stores. Consecutive threads cover
    consecutive channel groups and then heads, so a warp reads whole rows.
    The number of head slices is chosen so that long prefill and decode
    sizes both fill the GPU. The arithmetic is the CPU lowering's, bit for
    bit (shared RotaryMath: polynomial cos/sin, Hugging Face rounding).

    Constant positions and frequencies become device globals of the kernel.
    Needs static shapes. The data-parallel position and table ops
    (`decode_positions`, `inv_freq`, `cos_sin`, `rotate`) are left to the
    pipeline, which runs them as GPU loops (`mrope-gpu-parallel-loops`);
    the others (`rope_index`, `sequence_length`) are reported as having no
    GPU lowering (their operands would be device buffers the host cannot
    read), except with `host-buffers` or `host-loop`, which leave them to
    the CPU lowering.
  }];
  let options = [
    Option<"headSlices", "head-slices", "int64_t", /*default=*/"0",
           "Threads per (token, channel group) that split the heads; 0: "
           "chosen from the size (at least ~512K threads when possible)">,
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "Threads per block">,
    Option<"hostBuffers", "host-buffers", "bool", /*default=*/"false",
           "The function's buffers are host memory: each kernel runs on "
           "device copies of q, k, positions and inv_freq (copied in, "
           "rotated, copied back). For host programs that mix rotary with "
           "other host code (the conformance runner); costs two transfers">,
    Option<"attentionStages", "attention-stages", "int64_t", /*default=*/"2",
           "Attention kernel pipeline stages: 2 loads the next key/value "
           "block with cp.async while the current one is computed (dynamic "
           "shared memory), 1 stages each block synchronously">,
    Option<"attentionSplits", "attention-splits", "int64_t", /*default=*/"0",
           "Attention kernel split-KV (flash-decoding): key ranges computed "
           "by separate CTAs, then combined; 0: automatic (only when the "
           "grid would not fill the GPU, e.g. decode), 1: never">,
    Option<"hostLoop", "host-loop", "bool", /*default=*/"false",
           "Instead of gpu.launch, run the same kernel body in an scf.for "
           "over the thread ids on the host: the CPU pipeline then executes "
           "the GPU kernel's indexing and arithmetic, so it can be checked "
           "against the golden data on machines without a GPU">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::gpu::GPUDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
  ];
}

def GPUDeviceAllocations : Pass<"mrope-gpu-device-allocations", "func::FuncOp"> {
  let summary = "Allocate and copy the buffers of kernel-launching functions on the device";
  let description = [{
    After bufferization, a function that launches kernels works on device
    buffers, but the copies bufferization inserts (q or k read after their
    rotation) are host `memref.alloc` + `memref.copy`. This pass turns
    `memref.alloc`, `memref.copy` and `memref.dealloc` outside kernels of
    such functions -- and of functions with memref arguments, which are
    device buffers even when their results folded to constants -- into
    `gpu.alloc`, `gpu.memcpy` and `gpu.dealloc` (each waited for), so every
    buffer a kernel sees is device memory. Temporaries without a dealloc
    (bufferization runs without the deallocation pipeline, which rejects
    gpu ops) are freed at the end of their block -- stream-ordered, after
    the kernels that use them -- unless they or a view of them escape
    (returned, yielded, passed to a call): a function called every decode
    step must not leak device memory. Other functions (a host `main` that
    allocates its own buffers) are left alone. Copies between
    non-contiguous views are reported as errors.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def GPUParallelLoops : Pass<"mrope-gpu-parallel-loops", "func::FuncOp"> {
  let summary = "Run the data-parallel loops of device-buffer functions as GPU kernels";
  let description = [{
    In a function compiled for device buffers (`mrope-gpu-pipeline`), the
    loops around the mrope kernels -- position and table ops lowered to
    linalg (`mrope.decode_positions`, `mrope.cos_sin`, `mrope.rotate`,
    `mrope.inv_freq`), and the user's own elementwise tensor code -- read
    and write device memory, so they cannot run on the host. After
    bufferization and `convert-linalg-to-parallel-loops`, each outermost
    `scf.parallel` outside a kernel becomes one `gpu.launch`: one thread per
    iteration (the iteration space linearized, `block-size` threads per
    block), the body unchanged (sequential inner loops stay loops). Copies
    between strided views (tables written in sections) become such loops
    first; contiguous copies are left to `mrope-gpu-device-allocations`
    (`gpu.memcpy`). Globals the body reads are read inside the kernel, so
    outlining moves them to the device.

    A linalg op that reduces all its loops into one element
    (`mrope.sequence_length`'s maximum) becomes a reduction kernel: each
    thread folds about 16 elements (a grid-stride loop, so a warp reads
    consecutive elements) from the combiner's identity, then folds its
    result into the output with one `memref.atomic_rmw`; integer combiners
    only (`addi`, `maxsi`, `minsi`, `maxui`, `minui`, `andi`, `ori`), whose
    result does not depend on the order. A scalar the host reads from
    device memory (such a result, a length passed as a device tensor) and
    the side-effect-free arithmetic on it move into every kernel that uses
    them -- unless an op between the read and the kernel may write that
    buffer -- so the host never dereferences it; a copy of a buffer chosen
    by such a value (LongRoPE's factors) becomes a loop, and a scalar
    stored into device memory a kernel of one thread. Float reductions,
    loops with `scf.reduce` results and non-constant bounds are reported.

    ```mlir
    // Becomes gpu.launch blocks(1, 1, 1) threads(8, 1, 1) storing at
    // [id / 4, id % 4] when id < 8.
    func.func @fill(%out: memref<2x4xf32>, %v: f32) {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %c4 = arith.constant 4 : index
      scf.parallel (%i, %j) = (%c0, %c0) to (%c2, %c4) step (%c1, %c1) {
        memref.store %v, %out[%i, %j] : memref<2x4xf32>
        scf.reduce
      }
      return
    }
    ```
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "Threads per block">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect"];
}

def GPUCheckHostAccess : Pass<"mrope-gpu-check-host-access", "func::FuncOp"> {
  let summary = "Reject host code that dereferences device memory";
  let description = [{
    The last check of `mrope-gpu-pipeline` for device buffers: a function's
    memref arguments and `gpu.alloc` results are device memory, which host
    code can pass to kernels and copies but not read or write. Any load,
    store, vector transfer, linalg op or `memref.copy` outside kernels
    whose memref comes (through views and casts) from such a buffer is an
    error naming the op -- e.g. a scalar extracted from a device tensor, or
    a loop with a reduction -- instead of a crash when the program runs.
  }];
}

def RaiseLinalgRotary : Pass<"mrope-raise-linalg-rotary", "func::FuncOp"> {
  let summary = "Recognize Hugging Face rotary in linalg-on-tensors and raise it to mrope ops";
  let description = [{
    Finds tensors computed as `x * cos + rotate_half(x) * sin` (or with
    GPT-J's `rotate_every_two`, partial rotary channels passed through) in
    linalg-on-tensors IR such as Torch-MLIR imports of Hugging Face models,
    and replaces them:

    - when cos/sin are computed in the function from positions `[3, B, S]`
      and `inv_freq` (`cos(pos * inv_freq)`, with the section split/cat or
      the interleaving of the allocation, an optional attention scaling and
      the rounding to the activation type): by `mrope.apply`, two rotated
      tensors sharing positions and frequencies in one op (q and k);
    - when cos/sin come from elsewhere (function arguments, a cache): by
      `mrope.rotate` on those tables, with the allocation when the tables
      are per-axis `[3, B, S, R]` rows selected per channel.

    The recognition does not depend on how the frontend spelled the ops:
    each channel of a candidate is evaluated symbolically (its batch, head
    and token indices as affine expressions, so the cost does not depend on
    the sizes) through views
    (slices, concat, reshapes, transposes, broadcasts, insert_slice),
    elementwise `linalg.generic` bodies (including index arithmetic and
    selects, as Torch-MLIR emits for in-place assignment) and K=1 matmuls,
    down to elements of tensors it does not look into. A candidate is raised
    only if every element has the rotary form with one consistent layout,
    pair layout, allocation and frequency per channel; so fused generics and
    unfused chains are both recognized, and anything else is left unchanged.
    Unfused producers that become dead are erased.
  }];
  let dependentDialects = [
    "::mlir::mrope::MRopeDialect", "::mlir::tensor::TensorDialect"
  ];
}

#endif // MROPE_CONVERSION_PASSES_TD
