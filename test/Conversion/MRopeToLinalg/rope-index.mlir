// RUN: mrope-opt %s --convert-mrope-to-linalg=parallel-rows=true | FileCheck %s
// RUN: mrope-opt %s --convert-mrope-to-linalg | FileCheck %s --check-prefix=SEQ

// With parallel-rows (the CPU and GPU pipelines) the runtime form becomes
// three parallel passes on tensors: blocks per kind
// of each row; each row positioned by its own scan (grid cursors from the
// blocks of the rows before it; the scan carries the running start, the open
// block and the row's first error; grids are read only inside an scf.if when
// one is left); the status from the first row with an error or the grids
// left over, a linalg.generic so that it runs next to the buffers it reads
// (and, on the GPU, writes the caller's buffer: its init is a tensor.empty).
// CHECK-LABEL: func.func @qwen3vl
// CHECK-DAG: %[[VS:.+]] = arith.constant 151652 : i64
// CHECK-DAG: %[[FILL:.+]] = arith.constant 1 : i32
// CHECK: %[[POS:.+]] = linalg.fill ins(%[[FILL]] : i32) outs(%{{.*}} : tensor<3x2x?xi32>)
// Static sizes stay static (GPU launches need constant bounds).
// CHECK: %[[COUNTS:.+]] = scf.forall (%[[R:.+]]) in (2) shared_outs(%[[C:.+]] = %{{.*}}) -> (tensor<2x2xi64>)
// CHECK:   scf.for {{.*}} -> (i64, i64, i1)
// CHECK:     arith.cmpi eq, %{{.*}}, %[[VS]] : i64
// CHECK:   tensor.parallel_insert_slice %{{.*}} into %[[C]][%[[R]], 0] [1, 2] [1, 1]
// CHECK: %[[ROWS:.+]]:4 = scf.forall (%[[ROW:.+]]) in (2) shared_outs(%[[P:.+]] = %[[POS]], {{.*}}) -> (tensor<3x2x?xi32>, tensor<2x1xi32>, tensor<2xi32>, tensor<2x4xi64>)
// Blocks of the rows before this one, then the video frames they took.
// CHECK:   scf.for %{{.*}} = %{{.*}} to %[[ROW]] {{.*}} -> (i64, i64)
// CHECK:     tensor.extract %[[COUNTS]]
// CHECK:   scf.for {{.*}} -> (i64, i64, i64, i1)
// CHECK:   %[[SLICE:.+]] = tensor.extract_slice %[[P]][0, %[[ROW]], 0] [3, 1, %{{.*}}]
// CHECK:   scf.for {{.*}} iter_args(%{{.*}} = %[[SLICE]], {{.*}}) -> (tensor<3x1x?xi32>,
// CHECK:     scf.if %{{.*}} -> (i64, i64, i64)
// Only the block's kind of grid list is read (no image grid at a video's index).
// CHECK:       scf.if %{{.*}} -> (i64, i64, i64)
// CHECK-NOT:     tensor.extract
// CHECK:       } else {
// CHECK:         tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<?x3xi64>
// CHECK-COUNT-3: tensor.insert %{{.*}} into %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}] : tensor<3x1x?xi32>
// CHECK:   scf.forall.in_parallel
// CHECK-NEXT: tensor.parallel_insert_slice %{{.*}} into %[[P]][0, %[[ROW]], 0] [3, 1, %{{.*}}]
// CHECK: %[[EMPTY:.+]] = tensor.empty() : tensor<4xi64>
// CHECK: %[[STATUS:.+]] = linalg.generic {{.*}} outs(%[[EMPTY]] : tensor<4xi64>)
// CHECK:   scf.for {{.*}} -> (i64, i64, i64, i64, i64, i64)
// CHECK:     tensor.extract %[[ROWS]]#3
// CHECK:   linalg.index 0
// CHECK:   linalg.yield
// CHECK: return %{{.*}}, %[[STATUS]]
// CHECK-NOT: mrope.rope_index

// Without parallel-rows (the portable form): the same passes as scf.for loops
// carrying whole outputs, each row's values written as one insert_slice
// of a block (several tensor.insert per iteration into one carried tensor
// are miscompiled by IREE 3.13), and the status as scalar code.
// SEQ-LABEL: func.func @qwen3vl
// SEQ-NOT: scf.forall
// The scans carry no i1 (IREE 3.13 miscompiles host loops carrying i1s next
// to i64s): the count loop's "after <vision_start>" flag crosses the loop as
// an i64, the token scan's block kind too.
// SEQ: %[[COUNTS:[a-z0-9_#]+]] = scf.for %[[R:[a-z0-9_#]+]] = {{.*}} iter_args(%[[C:[a-z0-9_#]+]] = %{{.*}}) -> (tensor<2x2xi64>)
// SEQ:   scf.for {{.*}} -> (i64, i64, i64) {
// SEQ:     arith.trunci %{{.*}} : i64 to i1
// SEQ:     arith.extui %{{.*}} : i1 to i64
// SEQ:   %[[PAIR:[a-z0-9_#]+]] = tensor.from_elements %{{.*}}, %{{.*}} : tensor<1x2xi64>
// SEQ:   tensor.insert_slice %[[PAIR]] into %[[C]][%[[R]], 0] [1, 2] [1, 1]
// SEQ: %[[ROWS:[a-z0-9_#]+]]:4 = scf.for %[[ROW:[a-z0-9_#]+]] = {{.*}} iter_args(%[[P:[a-z0-9_#]+]] = %{{.*}}, {{.*}}) -> (tensor<3x2x?xi32>, tensor<2x1xi32>, tensor<2xi32>, tensor<2x4xi64>)
// SEQ:   scf.for %[[I:[a-z0-9_#]+]] = {{.*}} iter_args(%[[PI:[a-z0-9_#]+]] = %[[P]], {{.*}}) -> (tensor<3x2x?xi32>{{(, (i64|f32))+}}) {
// SEQ:     %[[COLUMN:[a-z0-9_#]+]] = tensor.from_elements %{{.*}}, %{{.*}}, %{{.*}} : tensor<3x1x1xi32>
// SEQ:     tensor.insert_slice %[[COLUMN]] into %[[PI]][0, %[[ROW]], %[[I]]] [3, 1, 1] [1, 1, 1]
// SEQ: scf.for {{.*}} -> (i64, i64, i64, i64, i64, i64)
// SEQ:   tensor.extract %[[ROWS]]#3
// SEQ: %[[STATUS:[a-z0-9_#]+]] = tensor.from_elements {{.*}} : tensor<4xi64>
// SEQ: return %{{.*}}, %[[STATUS]]
func.func @qwen3vl(%ids: tensor<2x?xi64>, %mask: tensor<2x?xi64>, %vid: tensor<?x3xi64>) -> (tensor<3x2x?xi32>, tensor<4xi64>) {
  %p, %d, %n, %st = mrope.rope_index %ids mask(%mask : tensor<2x?xi64>) videos(%vid : tensor<?x3xi64>) design <qwen3vl> : tensor<2x?xi64> -> tensor<3x2x?xi32>, tensor<2x1xi32>, tensor<2xi32>, tensor<4xi64>
  return %p, %st : tensor<3x2x?xi32>, tensor<4xi64>
}

// Vanilla RoPE without a mask: every token is real text, so positions are
// the token index on all three axes (a linalg.generic of linalg.index 2, no
// scan), rope_deltas 0, the next position N, and the status 0 (a row of
// length 0 would be empty: code 7). Both loop forms alike.
// CHECK-LABEL: func.func @vanilla_unmasked
// CHECK-NOT: scf.for
// CHECK-NOT: scf.forall
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<3x2x?xi32>)
// CHECK: %[[I:.*]] = linalg.index 2 : index
// CHECK: %[[I64:.*]] = arith.index_cast %[[I]] : index to i64
// CHECK: %[[I32:.*]] = arith.trunci %[[I64]] : i64 to i32
// CHECK: linalg.yield %[[I32]]
// CHECK: linalg.fill ins(%{{.*}} : i32) outs(%{{.*}} : tensor<2x1xi32>)
// CHECK: linalg.fill ins(%{{.*}} : i32) outs(%{{.*}} : tensor<2xi32>)
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<4xi64>)
// CHECK-NOT: scf.for
// CHECK: return
// SEQ-LABEL: func.func @vanilla_unmasked
// SEQ-NOT: scf.for
// SEQ: linalg.index 2
// SEQ: tensor.from_elements {{.*}} : tensor<4xi64>
// SEQ-NOT: scf.for
// SEQ: return
func.func @vanilla_unmasked(%ids: tensor<2x?xi64>) -> (tensor<3x2x?xi32>, tensor<2x1xi32>, tensor<2xi32>, tensor<4xi64>) {
  %p, %d, %n, %st = mrope.rope_index %ids design <vanilla> : tensor<2x?xi64> -> tensor<3x2x?xi32>, tensor<2x1xi32>, tensor<2xi32>, tensor<4xi64>
  return %p, %d, %n, %st : tensor<3x2x?xi32>, tensor<2x1xi32>, tensor<2xi32>, tensor<4xi64>
}

// With a mask vanilla keeps the scan (padded slots are not positioned).
// CHECK-LABEL: func.func @vanilla_masked
// CHECK: scf.forall
// CHECK: scf.for
// SEQ-LABEL: func.func @vanilla_masked
// SEQ: scf.for
func.func @vanilla_masked(%ids: tensor<2x?xi64>, %mask: tensor<2x?xi64>) -> tensor<3x2x?xi64> {
  %p, %d, %n, %st = mrope.rope_index %ids mask(%mask : tensor<2x?xi64>) design <vanilla> : tensor<2x?xi64> -> tensor<3x2x?xi64>, tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>
  return %p : tensor<3x2x?xi64>
}

// A static length of 0: every row is empty (status code 7, sequence 0), for
// every design -- the closed form, not a scan over no tokens.
// CHECK-LABEL: func.func @no_tokens
// CHECK-NOT: scf.for
// CHECK: return
// SEQ-LABEL: func.func @no_tokens
// SEQ-NOT: scf.for
// SEQ: arith.constant 7 : i64
// SEQ: return
func.func @no_tokens(%ids: tensor<2x0xi64>, %img: tensor<1x3xi64>) -> tensor<4xi64> {
  %p, %d, %n, %st = mrope.rope_index %ids images(%img : tensor<1x3xi64>) design <mrope> : tensor<2x0xi64> -> tensor<3x2x0xi64>, tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>
  return %st : tensor<4xi64>
}

// Qwen2.5-VL's absolute time: (tau * second_per_grid) * tokens_per_second
// in f32, truncated as torch's .long(). The portable form steps a value
// fptosi rounded away from zero back (IREE 3.13's host code rounds it to
// nearest; Scalars::truncToI64); the CPU and GPU form, where fptosi
// truncates, has no such correction (no float comparison at all).
// CHECK-LABEL: func.func @absolute_time
// CHECK: arith.fptosi %{{.*}} : f32 to i64
// CHECK-NOT: arith.cmpf
// CHECK: return
// SEQ-LABEL: func.func @absolute_time
// SEQ: %[[N:.*]] = arith.fptosi %[[X:.*]] : f32 to i64
// SEQ: %[[BACK:.*]] = arith.sitofp %[[N]] : i64 to f32
// SEQ-DAG: arith.cmpf ogt, %[[BACK]], %[[X]] : f32
// SEQ-DAG: arith.cmpf olt, %[[BACK]], %[[X]] : f32
// SEQ: return
func.func @absolute_time(%ids: tensor<1x?xi64>, %vid: tensor<?x3xi64>, %spg: tensor<?xf32>) -> tensor<3x1x?xi64> {
  %p, %d, %n, %st = mrope.rope_index %ids videos(%vid : tensor<?x3xi64>) second_per_grid(%spg : tensor<?xf32>) design <absolute_time, tokens_per_second = 2.0> : tensor<1x?xi64> -> tensor<3x1x?xi64>, tensor<1x1xi64>, tensor<1xi64>, tensor<4xi64>
  return %p : tensor<3x1x?xi64>
}
