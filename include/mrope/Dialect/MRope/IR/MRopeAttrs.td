//===- MRopeAttrs.td - mrope attributes ---------------------*- tablegen -*-===//

#ifndef MROPE_ATTRS_TD
#define MROPE_ATTRS_TD

include "mrope/Dialect/MRope/IR/MRopeBase.td"
include "mrope/Dialect/MRope/IR/MRopeEnums.td"
include "mlir/IR/AttrTypeBase.td"

//===----------------------------------------------------------------------===//
// Parameter helpers: doubles and booleans with a readable, exact syntax.
//===----------------------------------------------------------------------===//

class MRope_F64Param<string default, string desc>
    : DefaultValuedParameter<"::mlir::mrope::F64", default, desc> {
  let parser = "::mlir::mrope::detail::parseF64($_parser)";
  let printer = "::mlir::mrope::detail::printF64($_printer, $_self)";
}

class MRope_OptF64Param<string desc>
    : OptionalParameter<"std::optional<::mlir::mrope::F64>", desc> {
  let parser = "::mlir::mrope::detail::parseOptF64($_parser)";
  let printer = "::mlir::mrope::detail::printF64($_printer, *$_self)";
}

class MRope_OptI64Param<string desc>
    : OptionalParameter<"std::optional<int64_t>", desc> {
  let printer = "$_printer << *$_self";
}

class MRope_BoolParam<string default, string desc>
    : DefaultValuedParameter<"bool", default, desc> {
  let parser = "::mlir::mrope::detail::parseBool($_parser)";
  let printer = "$_printer << ($_self ? \"true\" : \"false\")";
}

class MRope_F64ArrayParam<string desc>
    : OptionalArrayRefParameter<"::mlir::mrope::F64", desc> {
  let parser = "::mlir::mrope::detail::parseF64Array($_parser)";
  let printer = "::mlir::mrope::detail::printF64Array($_printer, $_self)";
}

class MRope_I64ArrayParam<string desc>
    : OptionalArrayRefParameter<"int64_t", desc> {
  let parser = "::mlir::mrope::detail::parseI64Array($_parser)";
  let printer = "$_printer << '[' << $_self << ']'";
}

class MRope_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<MRope_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def MRope_TensorLayoutAttr
    : EnumAttr<MRope_Dialect, MRope_TensorLayout, "layout"> {
  let summary = "dimension order of q/k/v: bhsd, bshd or packed thd";
  // Standalone: #mrope.layout<bhsd>; ops print the bare keyword.
  let assemblyFormat = "`<` $value `>`";
}

def MRope_PairLayoutAttr
    : EnumAttr<MRope_Dialect, MRope_PairLayout, "pairs"> {
  let summary = "which channels form a rotary pair: neox or gptj";
  // Standalone: #mrope.pairs<neox>; ops print the bare keyword.
  let assemblyFormat = "`<` $value `>`";
}

//===----------------------------------------------------------------------===//
// Frequency allocation
//===----------------------------------------------------------------------===//

def MRope_AllocationAttr : MRope_Attr<"Allocation", "alloc"> {
  let summary = "which position axis each rotary pair (or KV head) reads";
  let description = [{
    A frequency allocation selects, for every rotary pair `j`, the position
    axis (`t`, `h`, `w`, or `nope`) whose position multiplies frequency
    `inv_freq[j]`. It never permutes frequencies. `head_partitioned` (MHRoPE)
    instead assigns whole KV heads to an axis; every head then uses all
    frequencies and heads past `sum(section)` are NoPE.

    | kind | section | rule |
    |---|---|---|
    | `vanilla` | - | every pair reads `t` |
    | `contiguous` | `[s_t, s_h, s_w]`, sum = D/2 | `t` for j < s_t, `h` for the next s_h, `w` after |
    | `interleaved` | `[s_t, s_h, s_w]` | `h` if j%3==1 and j<3 s_h; `w` if j%3==2 and j<3 s_w; else `t` |
    | `head_partitioned` | `[n_t, n_h, n_w]` KV heads | KV head g: `t` if g<n_t, `h`, `w`, then `nope` |
    | `videorope` | `[s_t, s_h, s_w]` | odd j < 2 s_h: `h`; even 0<j<2 s_w: `w`; else `t` |
    | `hope` | `[s_t, s_h, s_w]` | as `videorope`, with `t` pairs `nope` |
    | `mmrope` | - | `t,t,h,w,h,w,h,w` repeating |
    | `grape_interleaved` | - | `t,h,w` repeating |
    | `explicit` | - | `map` gives one of `T`,`H`,`W`,`-` per pair |

    Examples:

    ```mlir
    #mrope.alloc<contiguous, section = [16, 24, 24]>
    #mrope.alloc<interleaved, section = [24, 20, 20]>
    #mrope.alloc<head_partitioned, section = [2, 3, 3]>
    #mrope.alloc<explicit, map = "TTHWHWHW">
    ```
  }];
  let parameters = (ins
    EnumParameter<MRope_AllocationKind>:$kind,
    MRope_I64ArrayParam<"per-axis pair or head counts">:$section,
    StringRefParameter<"explicit per-pair axis map", "\"\"">:$map
  );
  let assemblyFormat = [{
    `<` $kind (`,` struct($section, $map)^)? `>`
  }];
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// True for MHRoPE-style allocations that assign whole KV heads.
    bool isHeadPartitioned() const {
      return getKind() == AllocationKind::HeadPartitioned;
    }
    /// Checks the allocation against a rotary dimension of `numPairs` pairs
    /// (rotary_dim / 2): e.g. contiguous sections must sum to `numPairs`.
    ::mlir::LogicalResult verifyPairCount(int64_t numPairs,
        ::llvm::function_ref<::mlir::InFlightDiagnostic()> emitError) const;
    /// Checks a head-partitioned allocation against `numKVHeads`.
    ::mlir::LogicalResult verifyKVHeadCount(int64_t numKVHeads,
        ::llvm::function_ref<::mlir::InFlightDiagnostic()> emitError) const;
    /// The axis read by each of `numPairs` pairs. For head-partitioned
    /// allocations every pair of a rotated head reads the head's axis, so this
    /// returns `t` everywhere; use getHeadAxes. Requires verifyPairCount.
    ::llvm::SmallVector<Axis> getPairAxes(int64_t numPairs) const;
    /// The axis of each KV head (head-partitioned), or `t` for every head
    /// otherwise (the pair map then decides).
    ::llvm::SmallVector<Axis> getHeadAxes(int64_t numKVHeads) const;
  }];
}

//===----------------------------------------------------------------------===//
// Rotary configuration
//===----------------------------------------------------------------------===//

def MRope_RotaryAttr : MRope_Attr<"Rotary", "rotary"> {
  let summary = "allocation, pair layout, partial rotary dim and scaling of cos/sin";
  let description = [{
    Bundles the choices that decide how q and k are rotated, each kept
    independent:

    - `alloc`: the frequency allocation (`#mrope.alloc`);
    - `pairs`: `neox` (pair j = channels j and j + D/2, HF `rotate_half`) or
      `gptj` (pair j = channels 2j and 2j+1);
    - `rotary_dim`: D, the number of rotated channels (even, at most the head
      dim); channels past D pass through (partial rotary, e.g. Qwen3.5 64 of 256);
    - `attention_scaling`: the factor that multiplies cos and sin (YaRN,
      LongRoPE), 1.0 by default;
    - `angles`: `reference` (default) forms the angle as the f32 product
      `pos * inv_freq`, exactly as Hugging Face and vLLM do; `exact` keeps
      the exact product and reduces it modulo 2*pi before cos/sin, so long
      contexts (positions up to 2^24, e.g. YaRN at 1M tokens) get cos/sin
      within about 1 f32 ulp of the true value instead of the reference's
      error of half an f32 ulp of the angle (0.03 at position 10^6).

    ```mlir
    #mrope.rotary<alloc = <interleaved, section = [24, 20, 20]>, rotary_dim = 128>
    #mrope.rotary<alloc = <contiguous, section = [16, 24, 24]>, pairs = gptj, rotary_dim = 128, attention_scaling = 1.1386>
    #mrope.rotary<alloc = <interleaved, section = [24, 20, 20]>, rotary_dim = 128, angles = exact>
    ```
  }];
  let parameters = (ins
    "AllocationAttr":$alloc,
    DefaultValuedParameter<"PairLayout", "PairLayout::NeoX",
                           "pair layout">:$pairs,
    "int64_t":$rotary_dim,
    MRope_F64Param<"1.0", "factor applied to cos and sin">:$attention_scaling,
    DefaultValuedParameter<"AnglePrecision", "AnglePrecision::Reference",
                           "how the angle is formed">:$angles
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// RoPE scaling
//===----------------------------------------------------------------------===//

def MRope_ScalingAttr : MRope_Attr<"Scaling", "scaling"> {
  let summary = "RoPE scaling: how inv_freq and the attention scaling are derived";
  let description = [{
    Mirrors Hugging Face `rope_parameters` / `rope_scaling`. Only the fields a
    kind reads may be set; the verifier rejects the rest.

    | kind | fields |
    |---|---|
    | `default` | - |
    | `linear` | `factor` |
    | `dynamic` | `factor`, `max_position_embeddings` |
    | `yarn` | `factor`, `original_max_position_embeddings` or `max_position_embeddings`, `beta_fast`, `beta_slow`, `mscale`, `mscale_all_dim`, `attention_factor`, `truncate`, `convention` |
    | `longrope` | `short_factor`, `long_factor`, `original_max_position_embeddings`, `max_position_embeddings`, `factor`, `attention_factor` |
    | `llama3` | `factor`, `low_freq_factor`, `high_freq_factor`, `original_max_position_embeddings` |

    `convention = hf449` selects transformers 4.49 YaRN (mscale ignored,
    correction range from `max_position_embeddings`, always truncated);
    the default `hf457` is 4.57 and 5.x.

    ```mlir
    #mrope.scaling<kind = yarn, factor = 4.0, original_max_position_embeddings = 4096>
    ```
  }];
  let parameters = (ins
    EnumParameter<MRope_ScalingKind>:$kind,
    DefaultValuedParameter<"ScalingConvention", "ScalingConvention::HF457",
                           "formula version">:$convention,
    MRope_F64Param<"1.0", "scaling factor">:$factor,
    MRope_OptI64Param<"max_position_embeddings">:$max_position_embeddings,
    MRope_OptI64Param<"original_max_position_embeddings">:$original_max_position_embeddings,
    MRope_OptF64Param<"YaRN beta_fast (default 32)">:$beta_fast,
    MRope_OptF64Param<"YaRN beta_slow (default 1)">:$beta_slow,
    MRope_OptF64Param<"YaRN mscale">:$mscale,
    MRope_OptF64Param<"YaRN mscale_all_dim">:$mscale_all_dim,
    MRope_OptF64Param<"explicit attention factor">:$attention_factor,
    MRope_BoolParam<"true", "YaRN: floor/ceil the correction range">:$truncate,
    MRope_OptF64Param<"Llama-3 low_freq_factor">:$low_freq_factor,
    MRope_OptF64Param<"Llama-3 high_freq_factor">:$high_freq_factor,
    MRope_F64ArrayParam<"LongRoPE short_factor">:$short_factor,
    MRope_F64ArrayParam<"LongRoPE long_factor">:$long_factor
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Checks the fields against a rotary dimension (LongRoPE factor lengths).
    ::mlir::LogicalResult verifyRotaryDim(int64_t rotaryDim,
        ::llvm::function_ref<::mlir::InFlightDiagnostic()> emitError) const;
    /// The fields as plain values, for the reference math.
    ::mlir::mrope::freq::ScalingParams toParams() const;
    /// True when inv_freq depends on the runtime sequence length.
    bool dependsOnSequenceLength() const {
      return getKind() == ScalingKind::Dynamic ||
             getKind() == ScalingKind::LongRoPE;
    }
  }];
}

//===----------------------------------------------------------------------===//
// Position design
//===----------------------------------------------------------------------===//

def MRope_DesignAttr : MRope_Attr<"Design", "design"> {
  let summary = "position design: how [3, N] position ids are built";
  let description = [{
    Selects the rules that turn a sequence of text runs and visual grids into
    `(t, h, w)` positions, plus the parameters those rules read:

    - `compat` (`reference` | `hf457` | `hf5`): `reference` is transformers
      4.49 / vLLM / the Qwen code (float `second_per_grid`); `hf457` truncates
      `second_per_grid` to an integer first (transformers 4.52-4.57); `hf5` is
      the transformers 5.x unified path (advance `max(H, W)` after a visual
      block, padding filled with 0, deltas from the unpadded length).
    - `temporal_stride`: t step between temporal patches (paper designs).
    - `tokens_per_second`: Qwen2.5-VL absolute time (released checkpoints: 2).
    - `position_scale`: MM-RoPE per-axis scales `[s_t, s_h, s_w]`.
    - `visual_stride`: V2PE position budget per visual block.
    - CircleRoPE (paper repo `CircleRopeConfig`, defaults as there, used
      literally): `radius` (-1), `alpha` (-1), `circle` (map the grid onto a
      circle, `method = "circle"`; false is `"no_circle"`), `dff_rate` (0;
      `true` in the repo is 1.0), `move_to_origin` (false),
      `move_to_positive` (absent: false; a value: the offset, `"auto"` = 0).

    ```mlir
    #mrope.design<mrope>
    #mrope.design<absolute_time, tokens_per_second = 4.0>
    #mrope.design<absolute_time, compat = hf5>
    ```
  }];
  let parameters = (ins
    EnumParameter<MRope_PositionDesign>:$kind,
    DefaultValuedParameter<"CompatMode", "CompatMode::Reference",
                           "compatibility mode">:$compat,
    MRope_F64Param<"1.0", "temporal stride">:$temporal_stride,
    MRope_F64Param<"2.0", "Qwen2.5-VL tokens_per_second">:$tokens_per_second,
    MRope_F64ArrayParam<"MM-RoPE position scales">:$position_scale,
    MRope_F64Param<"1.0", "V2PE visual stride">:$visual_stride,
    MRope_F64Param<"-1.0", "CircleRoPE radius">:$radius,
    MRope_F64Param<"-1.0", "CircleRoPE alpha">:$alpha,
    MRope_BoolParam<"true", "CircleRoPE circle mapping">:$circle,
    MRope_F64Param<"0.0", "CircleRoPE dff_rate">:$dff_rate,
    MRope_BoolParam<"false", "CircleRoPE move_to_origin">:$move_to_origin,
    MRope_OptF64Param<"CircleRoPE move_to_positive offset">:$move_to_positive
  );
  let assemblyFormat = "`<` $kind (`,` struct($compat, $temporal_stride, $tokens_per_second, $position_scale, $visual_stride, $radius, $alpha, $circle, $dff_rate, $move_to_origin, $move_to_positive)^)? `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// True when the design produces fractional positions (f32 results).
    bool hasFloatPositions() const;
    /// Value of padded slots (1 in HF legacy and the paper repo, 0 in hf5).
    int64_t getPadFill() const { return getCompat() == CompatMode::HF5 ? 0 : 1; }
  }];
}

//===----------------------------------------------------------------------===//
// Sequence segments (static position construction)
//===----------------------------------------------------------------------===//

def MRope_SegmentAttr : MRope_Attr<"Segment", "segment"> {
  let summary = "a run of text, an image or video grid, or padding";
  let description = [{
    One piece of a statically known sequence. Grids are *LLM* grids, i.e.
    after spatial merge (`(t, h/m, w/m)` of the processor's `image_grid_thw`):

    ```mlir
    #mrope.segment<text 5>
    #mrope.segment<image 1x4x6>
    #mrope.segment<video 3x2x3 (second_per_grid = 0.5)>
    #mrope.segment<pad 2>
    ```
  }];
  let parameters = (ins
    EnumParameter<MRope_SegmentKind>:$kind,
    ArrayRefParameter<"int64_t", "length, or the t x h x w grid">:$shape,
    MRope_OptF64Param<"seconds per temporal patch">:$second_per_grid
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Number of tokens the segment occupies.
    int64_t getNumTokens() const;
    bool isVisual() const {
      return getKind() == SegmentKind::Image || getKind() == SegmentKind::Video;
    }
  }];
}

def MRope_VisionTokensAttr : MRope_Attr<"VisionTokens", "vision_tokens"> {
  let summary = "token ids that delimit visual blocks (Qwen defaults)";
  let parameters = (ins
    DefaultValuedParameter<"int64_t", "151652", "vision_start id">:$vision_start,
    DefaultValuedParameter<"int64_t", "151653", "vision_end id">:$vision_end,
    DefaultValuedParameter<"int64_t", "151655", "image_pad id">:$image_pad,
    DefaultValuedParameter<"int64_t", "151656", "video_pad id">:$video_pad
  );
  let assemblyFormat = "`<` struct(params) `>`";
}

#endif // MROPE_ATTRS_TD
