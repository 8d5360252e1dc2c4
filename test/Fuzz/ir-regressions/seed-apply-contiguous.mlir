func.func @contiguous(%q: tensor<1x2x5x16xf32>, %k: tensor<1x2x5x16xf32>, %pos: tensor<3x1x5xi64>, %f: tensor<8xf32>) -> (tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x5xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <contiguous, section = [2, 3, 3]>, rotary_dim = 16> : tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>
  return %a, %b : tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>
}
