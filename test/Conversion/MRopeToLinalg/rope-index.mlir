// RUN: mrope-opt %s --convert-mrope-to-linalg | FileCheck %s

// The runtime form becomes loops over rows and tokens on tensors: a counting
// pass (blocks per kind) and a positioning pass that carries the running
// start, the open block and the first error; grids are read only inside an
// scf.if when one is left.
// CHECK-LABEL: func.func @qwen3vl
// CHECK-DAG: %[[VS:.+]] = arith.constant 151652 : i64
// CHECK-DAG: %[[FILL:.+]] = arith.constant 1 : i32
// CHECK: linalg.fill ins(%[[FILL]] : i32) outs(%{{.*}} : tensor<3x?x?xi32>)
// CHECK: scf.for %{{.*}} iter_args({{.*}}) -> (tensor<3x?x?xi32>, tensor<?x1xi32>, tensor<?xi32>, i64, i64, i64, i64, i64, i64, i64)
// CHECK:   scf.for {{.*}} -> (i64, i64, i1)
// CHECK:     arith.cmpi eq, %{{.*}}, %[[VS]] : i64
// CHECK:   scf.for {{.*}} -> (tensor<3x?x?xi32>,
// CHECK:     scf.if %{{.*}} -> (i64, i64, i64, f32)
// CHECK:       tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<?x3xi64>
// CHECK-COUNT-3: tensor.insert %{{.*}} into %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}] : tensor<3x?x?xi32>
// CHECK: tensor.from_elements {{.*}} : tensor<4xi64>
// CHECK-NOT: mrope.rope_index
func.func @qwen3vl(%ids: tensor<2x?xi64>, %mask: tensor<2x?xi64>, %vid: tensor<?x3xi64>) -> (tensor<3x2x?xi32>, tensor<4xi64>) {
  %p, %d, %n, %st = mrope.rope_index %ids mask(%mask : tensor<2x?xi64>) videos(%vid : tensor<?x3xi64>) design <qwen3vl> : tensor<2x?xi64> -> tensor<3x2x?xi32>, tensor<2x1xi32>, tensor<2xi32>, tensor<4xi64>
  return %p, %st : tensor<3x2x?xi32>, tensor<4xi64>
}
