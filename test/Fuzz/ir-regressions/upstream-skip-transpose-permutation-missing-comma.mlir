func.func @f(%a: tensor<2x3x4x5xf32>, %b: tensor<2x3x5x4xf32>) -> tensor<2x3x5x4xf32> {
  %0 = linalg.transpose ins(%a : tensor<2x3x4x5xf32>) outs(%b : tensor<2x3x5x4xf32>) permutation = [0, 1, 3,1 2]
  return %0 : tensor<2x3x5x4xf32>
}
