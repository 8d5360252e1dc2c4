// Qwen2-VL-shaped prefill attention with the rotary fused into it: q and k
// rotated by MRoPE's contiguous sections (t/h/w = 16/24/24 pairs), GQA 32/8,
// causal.
//
//   mrope-opt --mrope-cpu-pipeline docs/examples/qwen2vl_attention.mlir
//   mrope-opt '--mrope-gpu-pipeline=format=isa' docs/examples/qwen2vl_attention.mlir
module {
  func.func @prefill(%arg0: tensor<1x32x256x128xbf16>, %arg1: tensor<1x8x256x128xbf16>, %arg2: tensor<1x8x256x128xbf16>, %arg3: tensor<3x1x256xi64>) -> tensor<1x32x256x128xbf16> {
    %0 = mrope.inv_freq theta = 1.000000e+06 : tensor<64xf32>
    %1 = mrope.attention %arg0, %arg1, %arg2 q_positions(%arg3 : tensor<3x1x256xi64>) k_positions(%arg3 : tensor<3x1x256xi64>) freqs(%0 : tensor<64xf32>) layout bhsd rotary <alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 128> causal : tensor<1x32x256x128xbf16>, tensor<1x8x256x128xbf16>, tensor<1x8x256x128xbf16> -> tensor<1x32x256x128xbf16>
    return %1 : tensor<1x32x256x128xbf16>
  }
}
