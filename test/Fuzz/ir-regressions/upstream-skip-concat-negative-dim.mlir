#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#tab = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
#pos = affine_map<(d0, d1, d2) -> (0, d0, d1)>
#freq = affine_map<(d0, d1, d2) -> (d2)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @token_dependent_angle(%x: tensor<1x2x4x4xf32>, %p: tensor<3x1x4xi64>, %f: tensor<2xf32>) -> tensor<1x2x4x4xf32> {
  %c2 = arith.constant 2 : index
  %zero = arith.constant 0.0 : f32
  %e3 = tensor.empty() : tensor<1x4x2xf32>
  %angle = linalg.generic {indexing_maps = [#pos, #freq, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%p, %f : tensor<3x1x4xi64>, tensor<2xf32>) outs(%e3 : tensor<1x4x2xf32>) {
  ^bb0(%pi: i64, %fi: f32, %out: f32):
    %s = linalg.index 1 : index
    %is2 = arith.cmpi eq, %s, %c2 : index
    %pf = arith.sitofp %pi : i64 to f32
    %pp = arith.select %is2, %zero, %pf : f32
    %a = arith.mulf %pp, %fi : f32
    linalg.yield %a : f32
  } -> tensor<1x4x2xf32>
  %emb = tensor.concat dim(2) %angle, %angle : (tensor<1x4x2xf32>, tensor<1x4x2xf32>) -> tensor<1x4x4xf32>
  %e4 = tensor.empty() : tensor<1x4x4xf32>
  %cos, %sin = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%emb : tensor<1x4x4xf32>) outs(%e4, %e4 : tensor<1x4x4xf32>, tensor<1x4x4xf32>) {
  ^bb0(%a: f32, %o1: f32, %o2: f32):
    %cv = math.cos %a : f32
    %sv = math.sin %a : f32
    linalg.yield %cv, %sv : f32, f32
  } -> (tensor<1x4x4xf32>, tensor<1x4x4xf32>)
  %x1 = tensor.extract_slice %x[0, 0, 0, 0] [1, 2, 4, 2] [1, 1, 1, 1] : tensor<1x2x4x4xf32> to tensor<1x2x4x2xf32>
  %x2 = tensor.extract_slice %x[0, 0, 0, 2] [1, 2, 4, 2] [1, 1, 1, 1] : tensor<1x2x4x4xf32> to tensor<1x2x4x2xf32>
  %e2 = tensor.empty() : tensor<1x2x4x2xf32>
  %n = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x2 : tensor<1x2x4x2xf32>) outs(%e2 : tensor<1x2x4x2xf32>) {
  ^bb0(%in: f32, %out: f32):
    %v = arith.negf %in : f32
    linalg.yield %v : f32
  } -> tensor<1x2x4x2xf32>
  %rh = tensor.concat dim(-1) %n, %x1 : (tensor<1x2x4x2xf32>, tensor<1x2x4x2xf32>) -> tensor<1x2x4x4xf32>
  %e = tensor.empty() : tensor<1x2x4x4xf32>
  %r = linalg.generic {indexing_maps = [#id, #tab, #id, #tab, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x, %cos, %rh, %sin : tensor<1x2x4x4xf32>, tensor<1x4x4xf32>, tensor<1x2x4x4xf32>, tensor<1x4x4xf32>) outs(%e : tensor<1x2x4x4xf32>) {
  ^bb0(%xi: f32, %ci: f32, %ri: f32, %si: f32, %out: f32):
    %p1 = arith.mulf %xi, %ci : f32
    %q1 = arith.mulf %ri, %si : f32
    %s1 = arith.addf %p1, %q1 : f32
    linalg.yield %s1 : f32
  } -> tensor<1x2x4x4xf32>
  return %r : tensor<1x2x4x4xf32>
}
