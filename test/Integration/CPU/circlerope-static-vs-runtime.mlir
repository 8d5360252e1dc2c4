// The static and runtime forms of CircleRoPE implement the same rules twice
// (a folder and a loop lowering); for options the golden data has no case for
// (move_to_positive with an offset, a fractional dff_rate, a 3x5 frame after
// a 2x2 one) they must agree exactly.
// RUN: mrope-opt %s --mrope-cpu-pipeline | mlir-runner -e main -entry-point-result=void \
// RUN:   -shared-libs=%mlir_lib_dir/libmlir_c_runner_utils.so,%mlir_lib_dir/libmlir_runner_utils.so | FileCheck %s

// CHECK: 0
// CHECK-NEXT: 0
// CHECK-NEXT: 0
func.func @main() {
  // text(2) <vs> image(raw 1x4x4 -> 2x2) <ve> text(1) <vs> frame(raw 1x6x10 -> 3x5) <ve> text(1)
  %ids = arith.constant dense<[[5, 6, 151652, 151655, 151655, 151655, 151655, 151653, 7, 151652,
      151656, 151656, 151656, 151656, 151656, 151656, 151656, 151656, 151656, 151656, 151656, 151656, 151656, 151656, 151656,
      151653, 8]]> : tensor<1x27xi64>
  %img = arith.constant dense<[[1, 4, 4]]> : tensor<1x3xi64>
  %vid = arith.constant dense<[[1, 6, 10]]> : tensor<1x3xi64>
  %rp, %rd, %rn, %st = mrope.rope_index %ids images(%img : tensor<1x3xi64>) videos(%vid : tensor<1x3xi64>)
      design <circlerope, radius = 3.5, alpha = 0.25, dff_rate = 0.375, move_to_origin = true, move_to_positive = 1.5>
      : tensor<1x27xi64> -> tensor<3x1x27xf32>, tensor<1x1xf32>, tensor<1xf32>, tensor<4xi64>
  %sp, %sd, %sn = mrope.position_ids <circlerope, radius = 3.5, alpha = 0.25, dff_rate = 0.375, move_to_origin = true, move_to_positive = 1.5>
      [[text 3, image 1x2x2, text 3, video 1x3x5, text 2]] : tensor<3x1x27xf32>, tensor<1x1xf32>, tensor<1xf32>
  %e0 = call @maxdiff3(%rp, %sp) : (tensor<3x1x27xf32>, tensor<3x1x27xf32>) -> f32
  vector.print %e0 : f32
  %c0 = arith.constant 0 : index
  %a = tensor.extract %rd[%c0, %c0] : tensor<1x1xf32>
  %b = tensor.extract %sd[%c0, %c0] : tensor<1x1xf32>
  %e1 = arith.subf %a, %b : f32
  vector.print %e1 : f32
  %code = tensor.extract %st[%c0] : tensor<4xi64>
  vector.print %code : i64
  return
}

func.func @maxdiff3(%x: tensor<3x1x27xf32>, %y: tensor<3x1x27xf32>) -> f32 {
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<f32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<f32>) -> tensor<f32>
  %r = linalg.generic {indexing_maps = [affine_map<(a, b, c) -> (a, b, c)>, affine_map<(a, b, c) -> (a, b, c)>, affine_map<(a, b, c) -> ()>], iterator_types = ["reduction", "reduction", "reduction"]} ins(%x, %y : tensor<3x1x27xf32>, tensor<3x1x27xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%p: f32, %q: f32, %m: f32):
    %d = arith.subf %p, %q : f32
    %ad = math.absf %d : f32
    %mx = arith.maximumf %m, %ad : f32
    linalg.yield %mx : f32
  } -> tensor<f32>
  %v = tensor.extract %r[] : tensor<f32>
  return %v : f32
}
