// The rotary part of qwen2vl.mlir (positions of a prompt with one image and
// the rotation of q and k), which every pipeline lowers today:
//
//   mrope-opt --mrope-cpu-pipeline docs/examples/qwen2vl_rotary.mlir
//   mrope-opt --mrope-to-linalg-pipeline docs/examples/qwen2vl_rotary.mlir
module {
  func.func @qwen2vl_rotary(%q: tensor<1x28x33x128xbf16>, %k: tensor<1x4x33x128xbf16>) -> (tensor<1x28x33x128xbf16>, tensor<1x4x33x128xbf16>) {
    %positions, %rope_deltas, %next_positions = mrope.position_ids <mrope> [[text 4, image 1x4x6, text 5]] : tensor<3x1x33xi64>, tensor<1x1xi64>, tensor<1xi64>
    %0 = mrope.inv_freq theta = 1.000000e+06 : tensor<64xf32>
    %q_out, %k_out = mrope.apply %q, %k positions(%positions : tensor<3x1x33xi64>) freqs(%0 : tensor<64xf32>) layout bhsd rotary <alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 128> : tensor<1x28x33x128xbf16>, tensor<1x4x33x128xbf16>
    return %q_out, %k_out : tensor<1x28x33x128xbf16>, tensor<1x4x33x128xbf16>
  }
}
