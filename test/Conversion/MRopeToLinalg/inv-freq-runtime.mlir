// RUN: mrope-opt %s -split-input-file --convert-mrope-to-linalg | FileCheck %s

// Dynamic NTK with a runtime length: the length is the max position over all
// axes + 1 (a max reduction), clamped below by L0, and the rescaled base is
// computed in f32 as transformers' runtime update does (the power of a
// one-element tensor: the C library's powf); then one power per pair as
// torch's CPU kernel computes `base ** exponents` (TorchMath.h): the C
// library's powf for a tensor of 8 (all of it is the scalar tail)...
// CHECK-LABEL: func.func @dynamic
// CHECK: %[[MAX:.+]] = linalg.generic {{.*}}iterator_types = ["reduction", "reduction", "reduction"]
// CHECK: arith.maxsi
// CHECK: %[[LEN:.+]] = arith.addi %{{.*}}, %c1_i64 : i64
// CHECK: arith.maxsi %[[LEN]], %c64_i64 : i64
// CHECK: math.powf %{{.*}}, %cst{{.*}} : f32
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<8xf32>)
// CHECK-NOT: math.fma
// CHECK:   math.powf
// CHECK:   arith.divf
func.func @dynamic(%pos: tensor<3x1x70xi64>) -> tensor<8xf32> {
  %len = mrope.sequence_length %pos : tensor<3x1x70xi64>
  %f = mrope.inv_freq theta = 1.000000e+04 scaling <kind = dynamic, factor = 2.0, max_position_embeddings = 64> seq_len(%len : i64) : tensor<8xf32>
  return %f : tensor<8xf32>
}

// -----

// ... SLEEF's powf as arithmetic for a tensor of 64 (whole vectors of 16):
// a double-float log (exponent bits, a division), a double-float exp (2^q
// built in the exponent bits), FMAs throughout, no libm call.
// CHECK-LABEL: func.func @dynamic_vectorized
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<64xf32>)
// CHECK-NOT: math.powf
// CHECK: arith.bitcast %{{.*}} : f32 to i32
// CHECK: arith.shrui
// CHECK: math.fma
// CHECK: math.roundeven
// CHECK: arith.fptosi
// CHECK: arith.shli
// CHECK-NOT: math.powf
// CHECK: linalg.yield
func.func @dynamic_vectorized(%len: i64) -> tensor<64xf32> {
  %f = mrope.inv_freq theta = 1.000000e+06 scaling <kind = dynamic, factor = 2.0, max_position_embeddings = 64> seq_len(%len : i64) : tensor<64xf32>
  return %f : tensor<64xf32>
}

// -----

// ... and both for a tensor of 20: SLEEF for elements 0-15, powf for 16-19.
// CHECK-LABEL: func.func @dynamic_split
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<20xf32>)
// CHECK: %[[I:.+]] = linalg.index 0 : index
// CHECK: %[[IN:.+]] = arith.cmpi slt, %[[I]], %c16 : index
// CHECK: math.fma
// CHECK: %[[LIBM:.+]] = math.powf
// CHECK-NEXT: arith.select %[[IN]], %{{.+}}, %[[LIBM]] : f32
func.func @dynamic_split(%len: i64) -> tensor<20xf32> {
  %f = mrope.inv_freq theta = 1.000000e+04 scaling <kind = dynamic, factor = 2.0, max_position_embeddings = 64> seq_len(%len : i64) : tensor<20xf32>
  return %f : tensor<20xf32>
}

// -----

// LongRoPE: both factor sets are folded at compile time; the runtime length
// only selects between them (long past original_max_position_embeddings).
// CHECK-LABEL: func.func @longrope
// CHECK: %[[IS_LONG:.+]] = arith.cmpi sgt, %{{.*}}, %c4096_i64 : i64
// CHECK-DAG: %[[SHORT:.+]] = arith.constant dense<[1.000000e+00, 0.00999999977]> : tensor<2xf32>
// CHECK-DAG: %[[LONG:.+]] = arith.constant dense<[5.000000e-01, 2.500000e-03]> : tensor<2xf32>
// CHECK: arith.select %[[IS_LONG]], %[[LONG]], %[[SHORT]] : tensor<2xf32>
func.func @longrope(%len: i64) -> tensor<2xf32> {
  %f = mrope.inv_freq theta = 1.000000e+04 scaling <kind = longrope, max_position_embeddings = 131072, original_max_position_embeddings = 4096, short_factor = [1.0, 1.0], long_factor = [2.0, 4.0]> seq_len(%len : i64) : tensor<2xf32>
  return %f : tensor<2xf32>
}
