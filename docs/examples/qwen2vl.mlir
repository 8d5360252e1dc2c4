// Qwen2-VL (7B shapes: 28 query heads, 4 KV heads, head_dim 128, theta 1e6,
// mrope_section [16, 24, 24]): the positions of a prompt with one image, the
// rotation of q and k, and causal attention.
//
//   mrope-opt --canonicalize docs/examples/qwen2vl.mlir
//     folds the positions and the frequencies to constants;
//   mrope-opt --mrope-fuse-rotary-into-attention docs/examples/qwen2vl.mlir
//     moves the rotation into the attention op;
//   mrope-opt --mrope-print-allocation docs/examples/qwen2vl.mlir
//     reports which axis each rotary pair reads.
module {
  func.func @qwen2vl_prefill(%q: tensor<1x28x33x128xbf16>, %k: tensor<1x4x33x128xbf16>, %v: tensor<1x4x33x128xbf16>) -> tensor<1x28x33x128xbf16> {
    // 3 text tokens and <vision_start>, a 1x8x12 raw grid (4x6 after the 2x2
    // merge), then <vision_end> and 4 text tokens.
    %positions, %rope_deltas, %next_positions = mrope.position_ids <mrope> [[text 4, image 1x4x6, text 5]] : tensor<3x1x33xi64>, tensor<1x1xi64>, tensor<1xi64>
    %0 = mrope.inv_freq theta = 1.000000e+06 : tensor<64xf32>
    %q_out, %k_out = mrope.apply %q, %k positions(%positions : tensor<3x1x33xi64>) freqs(%0 : tensor<64xf32>) layout bhsd rotary <alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 128> : tensor<1x28x33x128xbf16>, tensor<1x4x33x128xbf16>
    %1 = mrope.attention %q_out, %k_out, %v layout bhsd causal : tensor<1x28x33x128xbf16>, tensor<1x4x33x128xbf16>, tensor<1x4x33x128xbf16> -> tensor<1x28x33x128xbf16>
    return %1 : tensor<1x28x33x128xbf16>
  }
}
