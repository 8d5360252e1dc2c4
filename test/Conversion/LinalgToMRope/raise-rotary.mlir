// RUN: mrope-opt %s -split-input-file --mrope-raise-linalg-rotary | FileCheck %s

// Hand-written spellings the Torch-MLIR imports (test/Integration/TorchMLIR)
// do not cover. Each channel of a candidate is evaluated, so what counts is
// the value, not the op sequence.

// GPT-J pairs: rotate_every_two as torch writes it, stack((-x[1::2],
// x[::2]), -1).flatten(-2): strided slices, an expand, a concat on the new
// dim and a collapse. bshd layout, tables [B, S, D] from outside.
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#tab = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-LABEL: func.func @gptj_bshd
// CHECK-SAME: (%[[X:.*]]: tensor<1x3x2x8xf32>, %[[C:.*]]: tensor<1x3x8xf32>, %[[S:.*]]: tensor<1x3x8xf32>)
// CHECK-NEXT: %[[R:.*]] = mrope.rotate %[[X]], %[[C]], %[[S]] layout bshd pairs gptj : tensor<1x3x2x8xf32>, tensor<1x3x8xf32>
// CHECK-NEXT: return %[[R]]
func.func @gptj_bshd(%x: tensor<1x3x2x8xf32>, %cos: tensor<1x3x8xf32>, %sin: tensor<1x3x8xf32>) -> tensor<1x3x2x8xf32> {
  %even = tensor.extract_slice %x[0, 0, 0, 0] [1, 3, 2, 4] [1, 1, 1, 2] : tensor<1x3x2x8xf32> to tensor<1x3x2x4xf32>
  %odd = tensor.extract_slice %x[0, 0, 0, 1] [1, 3, 2, 4] [1, 1, 1, 2] : tensor<1x3x2x8xf32> to tensor<1x3x2x4xf32>
  %e4 = tensor.empty() : tensor<1x3x2x4xf32>
  %neg = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%odd : tensor<1x3x2x4xf32>) outs(%e4 : tensor<1x3x2x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %n = arith.negf %in : f32
    linalg.yield %n : f32
  } -> tensor<1x3x2x4xf32>
  %a = tensor.expand_shape %neg [[0], [1], [2], [3, 4]] output_shape [1, 3, 2, 4, 1] : tensor<1x3x2x4xf32> into tensor<1x3x2x4x1xf32>
  %b = tensor.expand_shape %even [[0], [1], [2], [3, 4]] output_shape [1, 3, 2, 4, 1] : tensor<1x3x2x4xf32> into tensor<1x3x2x4x1xf32>
  %st = tensor.concat dim(4) %a, %b : (tensor<1x3x2x4x1xf32>, tensor<1x3x2x4x1xf32>) -> tensor<1x3x2x4x2xf32>
  %rot = tensor.collapse_shape %st [[0], [1], [2], [3, 4]] : tensor<1x3x2x4x2xf32> into tensor<1x3x2x8xf32>
  %e = tensor.empty() : tensor<1x3x2x8xf32>
  // One fused generic: x * cos + rot * sin.
  %r = linalg.generic {indexing_maps = [#id, #tab, #id, #tab, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x, %cos, %rot, %sin : tensor<1x3x2x8xf32>, tensor<1x3x8xf32>, tensor<1x3x2x8xf32>, tensor<1x3x8xf32>) outs(%e : tensor<1x3x2x8xf32>) {
  ^bb0(%xi: f32, %ci: f32, %ri: f32, %si: f32, %out: f32):
    %p = arith.mulf %ri, %si : f32
    %q = arith.mulf %ci, %xi : f32
    %s = arith.addf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<1x3x2x8xf32>
  return %r : tensor<1x3x2x8xf32>
}

// -----

// Partial rotary (Qwen3.5 style: the first 4 of 8 channels rotate, the rest
// pass through via concat), packed thd layout, tables [T, R].
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#tab3 = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-LABEL: func.func @partial_thd
// CHECK-NEXT: %[[R:.*]] = mrope.rotate %arg0, %arg1, %arg2 layout thd pairs neox : tensor<5x2x8xbf16>, tensor<5x4xbf16>
// CHECK-NEXT: return %[[R]]
func.func @partial_thd(%x: tensor<5x2x8xbf16>, %cos: tensor<5x4xbf16>, %sin: tensor<5x4xbf16>) -> tensor<5x2x8xbf16> {
  %xr = tensor.extract_slice %x[0, 0, 0] [5, 2, 4] [1, 1, 1] : tensor<5x2x8xbf16> to tensor<5x2x4xbf16>
  %xp = tensor.extract_slice %x[0, 0, 4] [5, 2, 4] [1, 1, 1] : tensor<5x2x8xbf16> to tensor<5x2x4xbf16>
  %x1 = tensor.extract_slice %xr[0, 0, 0] [5, 2, 2] [1, 1, 1] : tensor<5x2x4xbf16> to tensor<5x2x2xbf16>
  %x2 = tensor.extract_slice %xr[0, 0, 2] [5, 2, 2] [1, 1, 1] : tensor<5x2x4xbf16> to tensor<5x2x2xbf16>
  %e2 = tensor.empty() : tensor<5x2x2xbf16>
  %n = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x2 : tensor<5x2x2xbf16>) outs(%e2 : tensor<5x2x2xbf16>) {
  ^bb0(%in: bf16, %out: bf16):
    %v = arith.negf %in : bf16
    linalg.yield %v : bf16
  } -> tensor<5x2x2xbf16>
  %rh = tensor.concat dim(2) %n, %x1 : (tensor<5x2x2xbf16>, tensor<5x2x2xbf16>) -> tensor<5x2x4xbf16>
  %e4 = tensor.empty() : tensor<5x2x4xbf16>
  %r = linalg.generic {indexing_maps = [#id3, #tab3, #id3, #tab3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%xr, %cos, %rh, %sin : tensor<5x2x4xbf16>, tensor<5x4xbf16>, tensor<5x2x4xbf16>, tensor<5x4xbf16>) outs(%e4 : tensor<5x2x4xbf16>) {
  ^bb0(%xi: bf16, %ci: bf16, %ri: bf16, %si: bf16, %out: bf16):
    %p = arith.mulf %xi, %ci : bf16
    %q = arith.mulf %ri, %si : bf16
    %s = arith.addf %p, %q : bf16
    linalg.yield %s : bf16
  } -> tensor<5x2x4xbf16>
  %out = tensor.concat dim(2) %r, %xp : (tensor<5x2x4xbf16>, tensor<5x2x4xbf16>) -> tensor<5x2x8xbf16>
  return %out : tensor<5x2x8xbf16>
}

// -----

// Left unchanged: rotate_half of a different tensor is not a rotation of x.
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#tab = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-LABEL: func.func @other_tensor
// CHECK-NOT: mrope.
// CHECK: return
func.func @other_tensor(%x: tensor<1x2x3x4xf32>, %y: tensor<1x2x3x4xf32>, %cos: tensor<1x3x4xf32>, %sin: tensor<1x3x4xf32>) -> tensor<1x2x3x4xf32> {
  %y1 = tensor.extract_slice %y[0, 0, 0, 0] [1, 2, 3, 2] [1, 1, 1, 1] : tensor<1x2x3x4xf32> to tensor<1x2x3x2xf32>
  %y2 = tensor.extract_slice %y[0, 0, 0, 2] [1, 2, 3, 2] [1, 1, 1, 1] : tensor<1x2x3x4xf32> to tensor<1x2x3x2xf32>
  %e2 = tensor.empty() : tensor<1x2x3x2xf32>
  %n = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%y2 : tensor<1x2x3x2xf32>) outs(%e2 : tensor<1x2x3x2xf32>) {
  ^bb0(%in: f32, %out: f32):
    %v = arith.negf %in : f32
    linalg.yield %v : f32
  } -> tensor<1x2x3x2xf32>
  %rh = tensor.concat dim(3) %n, %y1 : (tensor<1x2x3x2xf32>, tensor<1x2x3x2xf32>) -> tensor<1x2x3x4xf32>
  %e = tensor.empty() : tensor<1x2x3x4xf32>
  %r = linalg.generic {indexing_maps = [#id, #tab, #id, #tab, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x, %cos, %rh, %sin : tensor<1x2x3x4xf32>, tensor<1x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x3x4xf32>) outs(%e : tensor<1x2x3x4xf32>) {
  ^bb0(%xi: f32, %ci: f32, %ri: f32, %si: f32, %out: f32):
    %p = arith.mulf %xi, %ci : f32
    %q = arith.mulf %ri, %si : f32
    %s = arith.addf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<1x2x3x4xf32>
  return %r : tensor<1x2x3x4xf32>
}

// -----

// Left unchanged: cos and sin tables read at different tokens (the sin
// table is indexed with the token reversed), so no single angle exists.
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#tab = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
#tabT = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-LABEL: func.func @mismatched_tables
// CHECK-NOT: mrope.
// CHECK: return
func.func @mismatched_tables(%x: tensor<1x3x3x4xf32>, %cos: tensor<1x3x4xf32>, %sin: tensor<1x3x4xf32>) -> tensor<1x3x3x4xf32> {
  %x1 = tensor.extract_slice %x[0, 0, 0, 0] [1, 3, 3, 2] [1, 1, 1, 1] : tensor<1x3x3x4xf32> to tensor<1x3x3x2xf32>
  %x2 = tensor.extract_slice %x[0, 0, 0, 2] [1, 3, 3, 2] [1, 1, 1, 1] : tensor<1x3x3x4xf32> to tensor<1x3x3x2xf32>
  %e2 = tensor.empty() : tensor<1x3x3x2xf32>
  %n = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x2 : tensor<1x3x3x2xf32>) outs(%e2 : tensor<1x3x3x2xf32>) {
  ^bb0(%in: f32, %out: f32):
    %v = arith.negf %in : f32
    linalg.yield %v : f32
  } -> tensor<1x3x3x2xf32>
  %rh = tensor.concat dim(3) %n, %x1 : (tensor<1x3x3x2xf32>, tensor<1x3x3x2xf32>) -> tensor<1x3x3x4xf32>
  %e = tensor.empty() : tensor<1x3x3x4xf32>
  %r = linalg.generic {indexing_maps = [#id, #tab, #id, #tabT, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x, %cos, %rh, %sin : tensor<1x3x3x4xf32>, tensor<1x3x4xf32>, tensor<1x3x3x4xf32>, tensor<1x3x4xf32>) outs(%e : tensor<1x3x3x4xf32>) {
  ^bb0(%xi: f32, %ci: f32, %ri: f32, %si: f32, %out: f32):
    %p = arith.mulf %xi, %ci : f32
    %q = arith.mulf %ri, %si : f32
    %s = arith.addf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<1x3x3x4xf32>
  return %r : tensor<1x3x3x4xf32>
}

// -----

// A cos table patched for tokens 0-1 (an insert_slice over part of the
// token range) cannot be followed with a symbolic token index, so the
// patched tensor is the table: mrope.rotate reads it as it is.
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#tab = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-LABEL: func.func @partly_patched_table
// CHECK: %[[CP:.*]] = tensor.insert_slice %arg2 into %arg1[0, 0, 0] [1, 2, 4] [1, 1, 1]
// CHECK-NEXT: %[[R:.*]] = mrope.rotate %arg0, %[[CP]], %arg3 layout bhsd pairs neox
// CHECK-NEXT: return %[[R]]
func.func @partly_patched_table(%x: tensor<1x2x3x4xf32>, %cos: tensor<1x3x4xf32>, %patch: tensor<1x2x4xf32>, %sin: tensor<1x3x4xf32>) -> tensor<1x2x3x4xf32> {
  %cp = tensor.insert_slice %patch into %cos[0, 0, 0] [1, 2, 4] [1, 1, 1] : tensor<1x2x4xf32> into tensor<1x3x4xf32>
  %x1 = tensor.extract_slice %x[0, 0, 0, 0] [1, 2, 3, 2] [1, 1, 1, 1] : tensor<1x2x3x4xf32> to tensor<1x2x3x2xf32>
  %x2 = tensor.extract_slice %x[0, 0, 0, 2] [1, 2, 3, 2] [1, 1, 1, 1] : tensor<1x2x3x4xf32> to tensor<1x2x3x2xf32>
  %e2 = tensor.empty() : tensor<1x2x3x2xf32>
  %n = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x2 : tensor<1x2x3x2xf32>) outs(%e2 : tensor<1x2x3x2xf32>) {
  ^bb0(%in: f32, %out: f32):
    %v = arith.negf %in : f32
    linalg.yield %v : f32
  } -> tensor<1x2x3x2xf32>
  %rh = tensor.concat dim(3) %n, %x1 : (tensor<1x2x3x2xf32>, tensor<1x2x3x2xf32>) -> tensor<1x2x3x4xf32>
  %e = tensor.empty() : tensor<1x2x3x4xf32>
  %r = linalg.generic {indexing_maps = [#id, #tab, #id, #tab, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x, %cp, %rh, %sin : tensor<1x2x3x4xf32>, tensor<1x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x3x4xf32>) outs(%e : tensor<1x2x3x4xf32>) {
  ^bb0(%xi: f32, %ci: f32, %ri: f32, %si: f32, %out: f32):
    %p = arith.mulf %xi, %ci : f32
    %q = arith.mulf %ri, %si : f32
    %s = arith.addf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<1x2x3x4xf32>
  return %r : tensor<1x2x3x4xf32>
}

// -----

// Left unchanged: the angle uses position 0 at token 2 only (a select on
// the loop index), so the positions are not one row per axis; the symbolic
// token index keeps the select from folding.
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#tab = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
#pos = affine_map<(d0, d1, d2) -> (0, d0, d1)>
#freq = affine_map<(d0, d1, d2) -> (d2)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @token_dependent_angle
// CHECK-NOT: mrope.
// CHECK: return
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
  %rh = tensor.concat dim(3) %n, %x1 : (tensor<1x2x4x2xf32>, tensor<1x2x4x2xf32>) -> tensor<1x2x4x4xf32>
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
