//===- MRopeOps.td - mrope operations -----------------------*- tablegen -*-===//

#ifndef MROPE_OPS_TD
#define MROPE_OPS_TD

include "mrope/Dialect/MRope/IR/MRopeBase.td"
include "mrope/Dialect/MRope/IR/MRopeAttrs.td"
include "mrope/Dialect/MRope/IR/MRopeInterfaces.td"
include "mlir/IR/OpBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

def MRope_PositionTensor : TensorOf<[I64, I32, F32]>;
def MRope_FloatActivation : TensorOf<[F32, F16, BF16]>;
def MRope_IntTensor : TensorOf<[I64, I32]>;

//===----------------------------------------------------------------------===//
// Position-ID construction
//===----------------------------------------------------------------------===//

def MRope_PositionIdsOp : MRope_Op<"position_ids", [Pure]> {
  let summary = "position ids of a statically known batch";
  let description = [{
    Builds `[3, B, N]` position ids (rows t, h, w), `rope_deltas [B, 1]` and
    the next decode position of every row, for a batch whose layout is known at
    compile time. Each row is a list of segments (`text L`, `image TxHxW`,
    `video TxHxW`, `pad L`) with merged (LLM) grids; all rows have N tokens.
    The design attribute selects the rules. The op folds to constants.

    ```mlir
    // Qwen2-VL: 3 text tokens and <vision_start>, a 4x6 image (raw grid
    // 1x8x12), then <vision_end> and 4 text tokens.
    func.func @prompt() -> (tensor<3x1x33xi64>, tensor<1x1xi64>, tensor<1xi64>) {
      %positions, %rope_deltas, %next_positions = mrope.position_ids <mrope>
          [[text 4, image 1x4x6, text 5]]
          : tensor<3x1x33xi64>, tensor<1x1xi64>, tensor<1xi64>
      return %positions, %rope_deltas, %next_positions
          : tensor<3x1x33xi64>, tensor<1x1xi64>, tensor<1xi64>
    }
    ```

    `rope_deltas` follows the design's compat mode (legacy: `max + 1 - N`,
    hf5: `max + 1 - unpadded length`); `next_positions` is the absolute
    position of the first generated token, independent of padding.
  }];
  let arguments = (ins MRope_DesignAttr:$design,
                       TypedArrayAttrBase<TypedArrayAttrBase<MRope_SegmentAttr,
                           "segments">, "rows of segments">:$rows);
  let results = (outs MRope_PositionTensor:$positions,
                      MRope_PositionTensor:$rope_deltas,
                      MRope_PositionTensor:$next_positions);
  let assemblyFormat = [{
    $design custom<SegmentRows>($rows) attr-dict `:` type(results)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def MRope_RopeIndexOp : MRope_Op<"rope_index", [Pure, AttrSizedOperandSegments]> {
  let summary = "position ids from runtime token ids, mask and grids (HF get_rope_index)";
  let description = [{
    The dynamic form of position construction: inputs are the tensors a
    Hugging Face processor produces. Visual blocks are found from the vision
    token ids (`vision_tokens`, Qwen's by default) as transformers 4.49-4.57
    and vLLM find them: a block starts at the first pad token of a kind while
    blocks of that kind remain (counted as `<vision_start>` followed by that
    pad), takes the next grid of that kind (grid lists are global across the
    batch) and spans `t * (h / m) * (w / m)` tokens. Grids are *raw*
    (`image_grid_thw`, `video_grid_thw`) and merged by `spatial_merge_size`;
    the `qwen3vl`, `spatial_reset` and fractional paper designs (VideoRoPE,
    HoPE, CircleRoPE, V2PE, Omni/IL-RoPE, MM-RoPE) split each video grid into
    per-frame blocks, as their reference code does. Every design lowers
    (`--convert-mrope-to-linalg`) to loops over rows and tokens.

    Inputs that cannot be right are not positioned silently: `status` is
    `[code, sequence, block, detail]`, with code 0 when the positions are
    valid and otherwise

    | code | rule |
    |---|---|
    | 1 | the block's grid token count does not match its pad tokens (`detail`: the pad tokens found, or -1 for more pad tokens than the grid covers) |
    | 2 | more grids than blocks (`detail`: the unused grids) |
    | 3 | a visual block with no grid left |
    | 4 | a grid size is zero or negative |
    | 5 | a grid's h or w is not divisible by `spatial_merge_size` |
    | 6 | a position overflows 2^53 |
    | 7 | a row has no unpadded token |

    ```mlir
    func.func @batch(%ids: tensor<2x40xi64>, %mask: tensor<2x40xi64>,
                     %grids: tensor<1x3xi64>) -> tensor<3x2x40xi64> {
      %positions, %rope_deltas, %next_positions, %status = mrope.rope_index %ids
          mask(%mask : tensor<2x40xi64>) images(%grids : tensor<1x3xi64>)
          design <mrope>
          : tensor<2x40xi64> -> tensor<3x2x40xi64>, tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>
      return %positions : tensor<3x2x40xi64>
    }
    ```
  }];
  let arguments = (ins MRope_IntTensor:$input_ids,
                       Optional<MRope_IntTensor>:$attention_mask,
                       Optional<MRope_IntTensor>:$image_grid_thw,
                       Optional<MRope_IntTensor>:$video_grid_thw,
                       Optional<TensorOf<[F32, F64]>>:$second_per_grid_ts,
                       MRope_DesignAttr:$design,
                       OptionalAttr<MRope_VisionTokensAttr>:$vision_tokens,
                       DefaultValuedAttr<I64Attr, "2">:$spatial_merge_size);
  let results = (outs MRope_PositionTensor:$positions,
                      MRope_PositionTensor:$rope_deltas,
                      MRope_PositionTensor:$next_positions,
                      1DTensorOf<[I64]>:$status);
  let assemblyFormat = [{
    $input_ids
    (`mask` `(` $attention_mask^ `:` type($attention_mask) `)`)?
    (`images` `(` $image_grid_thw^ `:` type($image_grid_thw) `)`)?
    (`videos` `(` $video_grid_thw^ `:` type($video_grid_thw) `)`)?
    (`second_per_grid` `(` $second_per_grid_ts^ `:` type($second_per_grid_ts) `)`)?
    `design` $design (`tokens` $vision_tokens^)? attr-dict
    `:` type($input_ids) `->` type(results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The vision token ids, or the Qwen defaults when none are given.
    VisionTokensAttr getVisionTokensOrDefault();
  }];
}

def MRope_DecodePositionsOp : MRope_Op<"decode_positions", [Pure]> {
  let summary = "positions of the next generated tokens, per sequence";
  let description = [{
    Every generated token has the same position on the three rows:
    `p = next_positions[b] + k` for the k-th new token. The count comes from
    the result type `[3, B, K]`. Folds when `next_positions` is constant.

    ```mlir
    func.func @next3(%next: tensor<2xi64>) -> tensor<3x2x3xi64> {
      %0 = mrope.decode_positions %next : tensor<2xi64> -> tensor<3x2x3xi64>
      return %0 : tensor<3x2x3xi64>
    }
    ```
  }];
  let arguments = (ins MRope_PositionTensor:$next_positions);
  let results = (outs MRope_PositionTensor:$positions);
  let assemblyFormat = [{
    $next_positions attr-dict `:` type($next_positions) `->` type($positions)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def MRope_SequenceLengthOp : MRope_Op<"sequence_length", [Pure]> {
  let summary = "the length dynamic scaling reads: max position over all axes + 1";
  let description = [{
    What Hugging Face's `@dynamic_rope_update` passes to dynamic NTK and
    LongRoPE: `max(position_ids) + 1`, over the three rows and the batch. With
    multimodal positions this is much smaller than the token count, so the
    scaling triggers later than with 1-D RoPE. Folds when the positions are
    constant.

    ```mlir
    func.func @ntk(%positions: tensor<3x1x70xi64>) -> tensor<8xf32> {
      %0 = mrope.sequence_length %positions : tensor<3x1x70xi64>
      %1 = mrope.inv_freq theta = 1.000000e+04
          scaling <kind = dynamic, factor = 2.0, max_position_embeddings = 64>
          seq_len(%0 : i64) : tensor<8xf32>
      return %1 : tensor<8xf32>
    }
    ```
  }];
  let arguments = (ins TensorOf<[I64, I32]>:$positions);
  let results = (outs I64:$length);
  let assemblyFormat = "$positions attr-dict `:` type($positions)";
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Frequencies and tables
//===----------------------------------------------------------------------===//

def MRope_InvFreqOp : MRope_Op<"inv_freq", [Pure]> {
  let summary = "inverse frequencies of a rotary dimension, with scaling";
  let description = [{
    `inv_freq[j] = 1 / theta^(2j / D)` for the `D/2` pairs of the result,
    transformed by the optional scaling. Dynamic NTK and LongRoPE read the
    sequence length `seq_len`; without it they use their initial
    (unscaled-length) value, as Hugging Face does at model construction.

    Transformers computes dynamic NTK's rescaled base two ways, a few ulps
    apart: the runtime update (`@dynamic_rope_update`, `seq_len` a tensor,
    the base in float32) and the init function called with an integer
    (`ROPE_INIT_FUNCTIONS["dynamic"](config, seq_len=n)`, the base in
    float64). `seq_len` means the runtime update; `at_init` selects the init
    function's arithmetic. The result does not depend on whether `seq_len`
    is a constant: a constant folds to exactly what the lowering computes.

    ```mlir
    func.func @freqs() -> (tensor<64xf32>, tensor<64xf32>) {
      %0 = mrope.inv_freq theta = 1.000000e+06 : tensor<64xf32>
      %1 = mrope.inv_freq theta = 1.000000e+04
          scaling <kind = yarn, factor = 4.0, original_max_position_embeddings = 4096>
          : tensor<64xf32>
      return %0, %1 : tensor<64xf32>, tensor<64xf32>
    }
    ```
  }];
  let arguments = (ins F64Attr:$theta, OptionalAttr<MRope_ScalingAttr>:$scaling,
                       Optional<AnySignlessInteger>:$seq_len,
                       UnitAttr:$at_init);
  let results = (outs 1DTensorOf<[F32]>:$inv_freq);
  let assemblyFormat = [{
    `theta` `=` $theta (`scaling` $scaling^)?
    (`seq_len` `(` $seq_len^ `:` type($seq_len) `)`)? (`at_init` $at_init^)?
    attr-dict `:` type($inv_freq)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
  let extraClassDeclaration = [{
    /// D, the rotary dimension: twice the result length.
    int64_t getRotaryDim();
  }];
}

def MRope_AttentionScalingOp : MRope_Op<"attention_scaling", [Pure]> {
  let summary = "the factor a scaling applies to cos and sin";
  let description = [{
    The `attention_scaling` that the Hugging Face init function returns next
    to `inv_freq` (YaRN's mscale, LongRoPE's sqrt(1 + ln s / ln L), or 1),
    as a constant. Frontends put it into `#mrope.rotary<attention_scaling>`;
    this op lets IR compute and check it. Always folds.

    ```mlir
    func.func @yarn_scale() -> f64 {
      %0 = mrope.attention_scaling
          <kind = yarn, factor = 4.0, original_max_position_embeddings = 4096> : f64
      return %0 : f64
    }
    ```
  }];
  let arguments = (ins MRope_ScalingAttr:$scaling);
  let results = (outs AnyFloat:$result);
  let assemblyFormat = "$scaling attr-dict `:` type($result)";
  let hasFolder = 1;
}

def MRope_CosSinOp : MRope_Op<"cos_sin", [Pure,
    DeclareOpInterfaceMethods<MRope_RotaryOpInterface>]> {
  let summary = "Hugging Face style cos/sin tables after allocation";
  let description = [{
    Materializes `cos` and `sin` of the allocated angles, times the attention
    scaling, in the Hugging Face layout (`neox`: `cat(angle, angle)`; `gptj`:
    each angle repeated twice). Results are `[B, N, D]`, or `[B, KV, N, D]`
    for head-partitioned allocations. Provided for interoperability and
    checking; `mrope.apply` never materializes these tables.

    ```mlir
    func.func @tables(%positions: tensor<3x1x33xi64>, %inv_freq: tensor<64xf32>)
        -> (tensor<1x33x128xf32>, tensor<1x33x128xf32>) {
      %cos, %sin = mrope.cos_sin %positions, %inv_freq
          rotary <alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 128>
          : tensor<3x1x33xi64>, tensor<64xf32>
          -> tensor<1x33x128xf32>, tensor<1x33x128xf32>
      return %cos, %sin : tensor<1x33x128xf32>, tensor<1x33x128xf32>
    }
    ```
  }];
  let arguments = (ins MRope_PositionTensor:$positions,
                       1DTensorOf<[F32]>:$inv_freq, MRope_RotaryAttr:$rotary);
  let results = (outs MRope_FloatActivation:$cos, MRope_FloatActivation:$sin);
  let assemblyFormat = [{
    $positions `,` $inv_freq `rotary` $rotary attr-dict `:` type($positions) `,`
    type($inv_freq) `->` type($cos) `,` type($sin)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Rotary application
//===----------------------------------------------------------------------===//

def MRope_ApplyOp : MRope_Op<"apply", [Pure,
    DeclareOpInterfaceMethods<MRope_RotaryOpInterface>,
    DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface,
                              ["reifyResultShapes"]>,
    AllTypesMatch<["q", "q_out"]>, AllTypesMatch<["k", "k_out"]>]> {
  let summary = "rotate q and k by their multimodal positions";
  let description = [{
    Applies the rotary embedding to the query and key tensors in one op.
    `positions` is `[3, B, S]` (`[3, T]` for the packed `thd` layout) with
    rows t, h, w; `inv_freq` has `rotary_dim / 2` entries. Angles are
    computed in f32 (`inv_freq[j] * position[axis(j)]`), cos/sin are scaled
    by `attention_scaling`, and the rotation is applied in the activation
    type (f32, f16 or bf16). With `inverse`, the rotation is by the negated
    angle (the backward pass of training); channels past `rotary_dim` are
    copied unchanged.

    ```mlir
    func.func @rotate(%q: tensor<1x32x33x128xbf16>, %k: tensor<1x8x33x128xbf16>,
                      %positions: tensor<3x1x33xi64>, %inv_freq: tensor<64xf32>)
        -> (tensor<1x32x33x128xbf16>, tensor<1x8x33x128xbf16>) {
      %q_out, %k_out = mrope.apply %q, %k
          positions(%positions : tensor<3x1x33xi64>) freqs(%inv_freq : tensor<64xf32>)
          layout bhsd rotary <alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 128>
          : tensor<1x32x33x128xbf16>, tensor<1x8x33x128xbf16>
      return %q_out, %k_out : tensor<1x32x33x128xbf16>, tensor<1x8x33x128xbf16>
    }
    ```
  }];
  let arguments = (ins MRope_FloatActivation:$q, MRope_FloatActivation:$k,
                       MRope_PositionTensor:$positions,
                       1DTensorOf<[F32]>:$inv_freq,
                       MRope_TensorLayoutAttr:$layout, MRope_RotaryAttr:$rotary,
                       UnitAttr:$inverse);
  let results = (outs MRope_FloatActivation:$q_out,
                      MRope_FloatActivation:$k_out);
  let assemblyFormat = [{
    $q `,` $k `positions` `(` $positions `:` type($positions) `)`
    `freqs` `(` $inv_freq `:` type($inv_freq) `)` `layout` custom<LayoutKeyword>($layout)
    `rotary` $rotary (`inverse` $inverse^)? attr-dict `:` type($q) `,` type($k)
  }];
  let hasVerifier = 1;
}

def MRope_RotateOp : MRope_Op<"rotate", [Pure,
    DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface,
                              ["reifyResultShapes"]>,
    AllTypesMatch<["x", "result"]>, AllTypesMatch<["cos", "sin"]>]> {
  let summary = "rotate one tensor by given cos/sin tables";
  let description = [{
    Hugging Face's `x * cos + rotate_half(x) * sin` (`neox` pairs) or
    `x * cos + rotate_every_two(x) * sin` (`gptj`), with the cos/sin tables
    given as operands, every operation in the activation type. This is what
    code that computes its tables elsewhere (a model's rotary embedding
    module, a cache of tables) means; `mrope.apply` is the form that owns
    the angles. `-mrope-raise-linalg-rotary` produces it from imported
    linalg when the tables are not computed in the same function.

    The tables have R channels (R even, at most the head dim); channels past
    R pass through (partial rotary). Without `alloc` they are `[B, S, R]`
    (`[T, R]` for `thd`) and channel `c` of the result reads channel `c` of
    the table. With `alloc` they are per-axis tables `[3, B, S, R]`
    (`[3, T, R]`) and the pairs of channel `c` read the table row of its
    pair's axis: Qwen2-VL's `apply_multimodal_rotary_pos_emb` section
    split/cat, or Qwen3-VL's interleaving.

    ```mlir
    func.func @rotate(%q: tensor<1x32x33x128xbf16>, %cos: tensor<3x1x33x128xbf16>,
                      %sin: tensor<3x1x33x128xbf16>) -> tensor<1x32x33x128xbf16> {
      %0 = mrope.rotate %q, %cos, %sin layout bhsd pairs neox
          alloc <contiguous, section = [16, 24, 24]>
          : tensor<1x32x33x128xbf16>, tensor<3x1x33x128xbf16>
      return %0 : tensor<1x32x33x128xbf16>
    }
    ```
  }];
  let arguments = (ins MRope_FloatActivation:$x, MRope_FloatActivation:$cos,
                       MRope_FloatActivation:$sin,
                       MRope_TensorLayoutAttr:$layout,
                       MRope_PairLayoutAttr:$pairs,
                       OptionalAttr<MRope_AllocationAttr>:$alloc);
  let results = (outs MRope_FloatActivation:$result);
  let assemblyFormat = [{
    $x `,` $cos `,` $sin `layout` custom<LayoutKeyword>($layout)
    `pairs` custom<PairsKeyword>($pairs) (`alloc` $alloc^)? attr-dict `:`
    type($x) `,` type($cos)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// R, the number of rotated channels: the tables' last dimension.
    int64_t getRotaryDim();
  }];
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

def MRope_AttentionOp : MRope_Op<"attention", [Pure, AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<MRope_RotaryOpInterface>]> {
  let summary = "scaled dot-product attention with an optional rotary prologue";
  let description = [{
    `softmax(Q K^T * scale + mask) V` with GQA/MQA grouping (query head `h`
    reads KV head `h / (Hq / Hkv)`), optional causal masking (bottom-right
    aligned, so a few query tokens attend a longer KV cache), an optional
    additive mask `[B, Hq or 1, Sq, Skv]`, and packed variable-length
    sequences (`thd` layout with `cu_seqlens`). Accumulation is f32.

    Packed sequence `n` has queries `q[cu_seqlens[n] : cu_seqlens[n + 1]]`
    and, by default, keys and values over the same tokens. With
    `kv_cu_seqlens` its keys and values are `k[kv_cu_seqlens[n] :
    kv_cu_seqlens[n + 1]]` instead (q and k may then have different token
    counts): batched decode against KV caches of different lengths, or
    chunked prefill. Causal masking is bottom-right aligned per sequence.
    Boundaries outside `[0, T]` are clamped; a query token in no sequence
    attends nothing (0).

    A paged KV cache (vLLM / FlashAttention's `block_table`): with
    `block_table` `[B, M]` and `page_size` P, k and v are a pool of pages
    `[pages * P, Hkv, D]` (the cache `[pages, P, Hkv, D]` with its first two
    dimensions merged), sequence `n` has `kv_cu_seqlens[n + 1] -
    kv_cu_seqlens[n]` keys (clamped to `[0, M * P]`), and its key `j` is row
    `block_table[n, j / P] * P + j % P` of the pool (page ids clamped to the
    pool). Needs `thd` and `kv_cu_seqlens`; the cached keys are rotated when
    written (no `k_positions`).

    With a rotary prologue (`rotary`, `freqs`, and `q_positions` and/or
    `k_positions`), q and/or k are rotated as by `mrope.apply` before use.
    Omitting `k_positions` means the keys were rotated when they were written
    to the KV cache (decode). `-mrope-fuse-rotary-into-attention` forms the
    prologue from a preceding `mrope.apply`.

    ```mlir
    func.func @prefill(%q: tensor<1x32x33x128xbf16>, %k: tensor<1x8x33x128xbf16>,
                       %v: tensor<1x8x33x128xbf16>, %positions: tensor<3x1x33xi64>,
                       %inv_freq: tensor<64xf32>) -> tensor<1x32x33x128xbf16> {
      %0 = mrope.attention %q, %k, %v
          q_positions(%positions : tensor<3x1x33xi64>)
          k_positions(%positions : tensor<3x1x33xi64>)
          freqs(%inv_freq : tensor<64xf32>) layout bhsd
          rotary <alloc = <interleaved, section = [24, 20, 20]>, rotary_dim = 128>
          causal
          : tensor<1x32x33x128xbf16>, tensor<1x8x33x128xbf16>, tensor<1x8x33x128xbf16>
          -> tensor<1x32x33x128xbf16>
      return %0 : tensor<1x32x33x128xbf16>
    }
    ```
  }];
  let arguments = (ins MRope_FloatActivation:$q, MRope_FloatActivation:$k,
                       MRope_FloatActivation:$v,
                       Optional<MRope_FloatActivation>:$mask,
                       Optional<MRope_IntTensor>:$cu_seqlens,
                       Optional<MRope_IntTensor>:$kv_cu_seqlens,
                       Optional<MRope_IntTensor>:$block_table,
                       Optional<MRope_PositionTensor>:$q_positions,
                       Optional<MRope_PositionTensor>:$k_positions,
                       Optional<1DTensorOf<[F32]>>:$inv_freq,
                       MRope_TensorLayoutAttr:$layout,
                       OptionalAttr<MRope_RotaryAttr>:$rotary,
                       OptionalAttr<F64Attr>:$scale, UnitAttr:$causal,
                       OptionalAttr<I64Attr>:$page_size);
  let results = (outs MRope_FloatActivation:$result);
  let assemblyFormat = [{
    $q `,` $k `,` $v
    (`mask` `(` $mask^ `:` type($mask) `)`)?
    (`cu_seqlens` `(` $cu_seqlens^ `:` type($cu_seqlens) `)`)?
    (`kv_cu_seqlens` `(` $kv_cu_seqlens^ `:` type($kv_cu_seqlens) `)`)?
    (`block_table` `(` $block_table^ `:` type($block_table) `)`)?
    (`page_size` $page_size^)?
    (`q_positions` `(` $q_positions^ `:` type($q_positions) `)`)?
    (`k_positions` `(` $k_positions^ `:` type($k_positions) `)`)?
    (`freqs` `(` $inv_freq^ `:` type($inv_freq) `)`)?
    `layout` custom<LayoutKeyword>($layout) (`rotary` $rotary^)? (`scale` $scale^)? (`causal` $causal^)?
    attr-dict `:` type($q) `,` type($k) `,` type($v) `->` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// True when the op rotates q and/or k itself.
    bool hasRotaryPrologue() { return getRotary().has_value(); }
    /// The softmax scale: `scale` if given, else 1/sqrt(head_dim).
    double getEffectiveScale();
    /// The sequences: the batch size, or for `thd` the length of
    /// cu_seqlens - 1 (dynamic when the shape is).
    int64_t getNumSequences();
    /// The rows of the key space the lowerings index: k's tokens, or for a
    /// paged cache the sequences' page slots, B * M * page_size ("virtual"
    /// rows: sequence n's key j is virtual row (n * M * P) + j).
    int64_t getKeyRows();
  private:
    LogicalResult verifyPagedCache(RankedTensorType cuType, int64_t poolRows);
  public:
  }];
}

#endif // MROPE_OPS_TD
