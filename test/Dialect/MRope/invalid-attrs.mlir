// RUN: mrope-opt %s -split-input-file -verify-diagnostics

// Every attribute verifier rule, and the parse errors a user is likely to hit.

// expected-error @+1 {{'contiguous' allocation needs section = [t, h, w] with 3 entries, got 2}}
func.func @f() attributes {a = #mrope.alloc<contiguous, section = [16, 24]>} { return }

// -----

// expected-error @+1 {{'interleaved' allocation needs section = [t, h, w] with 3 entries, got 0}}
func.func @f() attributes {a = #mrope.alloc<interleaved>} { return }

// -----

// expected-error @+1 {{section must have 3 entries [t, h, w], got 4}}
func.func @f() attributes {a = #mrope.alloc<mmrope, section = [1, 2, 3, 4]>} { return }

// -----

// expected-error @+1 {{section entry 1 is negative (-3)}}
func.func @f() attributes {a = #mrope.alloc<head_partitioned, section = [2, -3, 3]>} { return }

// -----

// expected-error @+1 {{'explicit' allocation needs a non-empty map of T/H/W/- characters, one per rotary pair}}
func.func @f() attributes {a = #mrope.alloc<explicit>} { return }

// -----

// expected-error @+1 {{allocation map character 'X' at pair 2 is not one of T, H, W or - (NoPE)}}
func.func @f() attributes {a = #mrope.alloc<explicit, map = "THXW">} { return }

// -----

// expected-error @+1 {{only an 'explicit' allocation takes a map, not 'contiguous'}}
func.func @f() attributes {a = #mrope.alloc<contiguous, section = [1, 1, 2], map = "TTHW">} { return }

// -----

// expected-error @+1 {{'explicit' allocation takes a map, not a section}}
func.func @f() attributes {a = #mrope.alloc<explicit, section = [1, 1, 2], map = "TTHW">} { return }

// -----

// expected-error @+1 {{rotary_dim 15 must be positive and even (channels rotate in pairs)}}
func.func @f() attributes {r = #mrope.rotary<alloc = <vanilla>, rotary_dim = 15>} { return }

// -----

// expected-error @+1 {{'contiguous' sections [16, 24, 20] sum to 60 pairs, but rotary_dim 128 has 64 pairs (sum(section) must be rotary_dim / 2)}}
func.func @f() attributes {r = #mrope.rotary<alloc = <contiguous, section = [16, 24, 20]>, rotary_dim = 128>} { return }

// -----

// expected-error @+1 {{'interleaved' sections [11, 11, 11] sum to 33 pairs, but rotary_dim 64 has 32 pairs}}
func.func @f() attributes {r = #mrope.rotary<alloc = <interleaved, section = [11, 11, 11]>, rotary_dim = 64>} { return }

// -----

// expected-error @+1 {{explicit allocation map has 4 entries, but rotary_dim 16 has 8 pairs}}
func.func @f() attributes {r = #mrope.rotary<alloc = <explicit, map = "TTHW">, rotary_dim = 16>} { return }

// -----

// expected-error @+1 {{attention_scaling -1.0 must be finite and positive}}
func.func @f() attributes {r = #mrope.rotary<alloc = <vanilla>, rotary_dim = 16, attention_scaling = -1.0>} { return }

// -----

// expected-error @+2 {{expected one of [reference, exact] for how the rotary angle pos * inv_freq is formed before cos/sin, got: precise}}
// expected-error @+1 {{failed to parse MRope_RotaryAttr parameter 'angles'}}
func.func @f() attributes {r = #mrope.rotary<alloc = <vanilla>, rotary_dim = 16, angles = precise>} { return }

// -----

// expected-error @+1 {{'factor' is not used by 'default' scaling}}
func.func @f() attributes {s = #mrope.scaling<kind = default, factor = 2.0>} { return }

// -----

// expected-error @+1 {{'beta_fast' is not used by 'linear' scaling}}
func.func @f() attributes {s = #mrope.scaling<kind = linear, factor = 2.0, beta_fast = 32.0>} { return }

// -----

// expected-error @+1 {{'truncate' is not used by 'llama3' scaling}}
func.func @f() attributes {s = #mrope.scaling<kind = llama3, factor = 8.0, low_freq_factor = 1.0, high_freq_factor = 4.0, original_max_position_embeddings = 8192, truncate = false>} { return }

// -----

// expected-error @+1 {{'convention' is not used by 'longrope' scaling}}
func.func @f() attributes {s = #mrope.scaling<kind = longrope, convention = hf449, short_factor = [1.0], long_factor = [1.0], original_max_position_embeddings = 4096>} { return }

// -----

// expected-error @+1 {{scaling factor 0.0 must be finite and positive}}
func.func @f() attributes {s = #mrope.scaling<kind = linear, factor = 0.0>} { return }

// -----

// expected-error @+1 {{max_position_embeddings -5 must be positive}}
func.func @f() attributes {s = #mrope.scaling<kind = dynamic, factor = 2.0, max_position_embeddings = -5>} { return }

// -----

// expected-error @+1 {{'dynamic' scaling needs max_position_embeddings (the original context length L0)}}
func.func @f() attributes {s = #mrope.scaling<kind = dynamic, factor = 2.0>} { return }

// -----

// expected-error @+1 {{'yarn' scaling needs original_max_position_embeddings or max_position_embeddings}}
func.func @f() attributes {s = #mrope.scaling<kind = yarn, factor = 4.0>} { return }

// -----

// expected-error @+1 {{yarn beta_fast 1.0 must be greater than beta_slow 32.0}}
func.func @f() attributes {s = #mrope.scaling<kind = yarn, factor = 4.0, max_position_embeddings = 4096, beta_fast = 1.0, beta_slow = 32.0>} { return }

// -----

// expected-error @+1 {{'llama3' scaling needs low_freq_factor, high_freq_factor and original_max_position_embeddings}}
func.func @f() attributes {s = #mrope.scaling<kind = llama3, factor = 8.0, low_freq_factor = 1.0>} { return }

// -----

// expected-error @+1 {{llama3 high_freq_factor 1.0 must be greater than low_freq_factor 4.0}}
func.func @f() attributes {s = #mrope.scaling<kind = llama3, factor = 8.0, low_freq_factor = 4.0, high_freq_factor = 1.0, original_max_position_embeddings = 8192>} { return }

// -----

// expected-error @+1 {{'longrope' scaling needs short_factor and long_factor}}
func.func @f() attributes {s = #mrope.scaling<kind = longrope, short_factor = [1.0], original_max_position_embeddings = 4096>} { return }

// -----

// expected-error @+1 {{longrope short_factor has 2 entries but long_factor has 1}}
func.func @f() attributes {s = #mrope.scaling<kind = longrope, short_factor = [1.0, 1.0], long_factor = [1.0], original_max_position_embeddings = 4096>} { return }

// -----

// expected-error @+1 {{'longrope' scaling needs original_max_position_embeddings or max_position_embeddings}}
func.func @f() attributes {s = #mrope.scaling<kind = longrope, short_factor = [1.0], long_factor = [1.0]>} { return }

// -----

// expected-error @+1 {{attention_factor -1.0 must be finite and positive}}
func.func @f() attributes {s = #mrope.scaling<kind = yarn, factor = 4.0, max_position_embeddings = 4096, attention_factor = -1.0>} { return }

// -----

// expected-error @+1 {{compat = hf5 reproduces a transformers release and applies only to vanilla, mrope, absolute_time and qwen3vl, not 'videorope'}}
func.func @f() attributes {d = #mrope.design<videorope, compat = hf5>} { return }

// -----

// expected-error @+1 {{temporal_stride -1.0 must be finite and non-negative}}
func.func @f() attributes {d = #mrope.design<mrope, temporal_stride = -1.0>} { return }

// -----

// expected-error @+1 {{tokens_per_second is used only by absolute_time, not 'mrope'}}
func.func @f() attributes {d = #mrope.design<mrope, tokens_per_second = 4.0>} { return }

// -----

// expected-error @+1 {{tokens_per_second 2.5 must be an integer for compat = hf457 (transformers stores it as int)}}
func.func @f() attributes {d = #mrope.design<absolute_time, compat = hf457, tokens_per_second = 2.5>} { return }

// -----

// expected-error @+1 {{position_scale is used only by mmrope, not 'mrope'}}
func.func @f() attributes {d = #mrope.design<mrope, position_scale = [1.0, 2.0, 3.0]>} { return }

// -----

// expected-error @+1 {{position_scale needs 3 entries [s_t, s_h, s_w], got 2}}
func.func @f() attributes {d = #mrope.design<mmrope, position_scale = [1.0, 2.0]>} { return }

// -----

// expected-error @+1 {{visual_stride is used only by v2pe, not 'omnirope'}}
func.func @f() attributes {d = #mrope.design<omnirope, visual_stride = 16.0>} { return }

// -----

// expected-error @+1 {{visual_stride 0.0 must be finite and positive}}
func.func @f() attributes {d = #mrope.design<v2pe, visual_stride = 0.0>} { return }

// -----

// expected-error @+1 {{grid size h = 0 must be positive}}
func.func @f() attributes {g = #mrope.segment<image 1x0x4>} { return }

// -----

// expected-error @+1 {{a visual segment needs a t x h x w grid}}
func.func @f() attributes {g = #mrope.segment<image 4x6>} { return }

// -----

// expected-error @+1 {{second_per_grid applies only to video segments}}
func.func @f() attributes {g = #mrope.segment<image 1x4x6 (second_per_grid = 0.5)>} { return }

// -----

// expected-error @+1 {{second_per_grid -0.5 must be finite and non-negative}}
func.func @f() attributes {g = #mrope.segment<video 2x4x6 (second_per_grid = -0.5)>} { return }

// -----

// expected-error @+1 {{unknown segment kind 'audio' (expected text, image, video or pad)}}
func.func @f() attributes {g = #mrope.segment<audio 5>} { return }

// -----

// expected-error @+2 {{expected 'true' or 'false'}}
// expected-error @+1 {{failed to parse MRope_ScalingAttr parameter 'truncate'}}
func.func @f() attributes {s = #mrope.scaling<kind = yarn, factor = 4.0, max_position_embeddings = 4096, truncate = 1>} { return }

// -----

// expected-error @+2 {{failed to parse MRope_AllocationAttr parameter 'kind'}}
// expected-error @+1 {{expected ::mlir::mrope::AllocationKind to be one of: vanilla, contiguous, interleaved, head_partitioned, videorope, hope, mmrope, grape_interleaved, explicit}}
func.func @f() attributes {a = #mrope.alloc<chunked>} { return }

// -----

// expected-error @+1 {{struct is missing required parameter: rotary_dim}}
func.func @f() attributes {r = #mrope.rotary<alloc = <vanilla>>} { return }

// -----

// expected-error @+1 {{'yarn' scaling with convention = hf449 needs max_position_embeddings (4.49 takes the correction range from it)}}
func.func @f() attributes {s = #mrope.scaling<kind = yarn, convention = hf449, factor = 4.0, original_max_position_embeddings = 4096>} { return }

// -----

// expected-error @+1 {{'videorope' sections [4, 4, 4] sum to 12 pairs, more than the 8 pairs of rotary_dim 16}}
func.func @f() attributes {r = #mrope.rotary<alloc = <videorope, section = [4, 4, 4]>, rotary_dim = 16>} { return }

// -----

// expected-error @+1 {{radius, alpha, circle, dff_rate, move_to_origin and move_to_positive are used only by circlerope, not 'mrope'}}
func.func @f() attributes {d = #mrope.design<mrope, radius = 10.0>} { return }

// -----

// A grid on a text segment does not parse (the verifier's "a text or pad
// segment takes one length" guards attributes built through the C++ API).
// expected-error @+1 {{expected '>'}}
func.func @f() attributes {g = #mrope.segment<text 2x3>} { return }

// -----

// expected-error @+1 {{segment length -4 must be in [0, }}
func.func @f() attributes {g = #mrope.segment<pad -4>} { return }
