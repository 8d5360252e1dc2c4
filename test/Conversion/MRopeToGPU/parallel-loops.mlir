// RUN: mrope-opt %s --split-input-file --verify-diagnostics --mrope-gpu-parallel-loops --canonicalize | FileCheck %s
// (The last splits are errors: exit status 1.)
// RUN: not mrope-opt %s --split-input-file --mrope-gpu-parallel-loops=block-size=64 --canonicalize 2>&1 | FileCheck %s --check-prefix=B64
// RUN: not mrope-opt %s --mrope-gpu-parallel-loops=block-size=0 2>&1 | FileCheck %s --check-prefix=SIZE
// SIZE: mrope-gpu-parallel-loops: block-size must be in [1, 1024], got 0

// One thread per iteration of the 3 x 200 space (i = 1, 3, 5; j = 0..199),
// the last dimension fastest; 600 threads in 3 blocks of 256, the last
// partly idle. A global the body reads is read inside the kernel (outlining
// moves it to the device).
// CHECK-LABEL: func.func @strided_space
// CHECK-DAG: %[[C256:.*]] = arith.constant 256 : index
// CHECK-DAG: %[[C600:.*]] = arith.constant 600 : index
// CHECK-DAG: %[[C200:.*]] = arith.constant 200 : index
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK: gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C3]], %{{.*}} = %[[C1]], %{{.*}} = %[[C1]]) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C256]], %{{.*}} = %[[C1]], %{{.*}} = %[[C1]])
// CHECK: %[[G:.*]] = memref.get_global @table
// CHECK: %[[BASE:.*]] = arith.muli %[[BX]], %[[C256]]
// CHECK: %[[ID:.*]] = arith.addi %[[BASE]], %[[TX]]
// CHECK: %[[IN:.*]] = arith.cmpi ult, %[[ID]], %[[C600]]
// CHECK: scf.if %[[IN]] {
// CHECK:   %[[J:.*]] = arith.remui %[[ID]], %[[C200]]
// CHECK:   %[[ROW:.*]] = arith.divui %[[ID]], %[[C200]]
// CHECK:   %[[IR:.*]] = arith.remui %[[ROW]], %[[C3]]
// CHECK:   %[[I2:.*]] = arith.muli %[[IR]], %[[C2]]
// CHECK:   %[[I:.*]] = arith.addi %[[I2]], %[[C1]]
// CHECK:   memref.load %[[G]][%[[J]]]
// CHECK:   memref.store %{{.*}}, %{{.*}}[%[[I]], %[[J]]]
// CHECK: }
// CHECK-NOT: scf.parallel
// B64-LABEL: func.func @strided_space
// B64: gpu.launch blocks({{.*}}) in ({{.*}} = %c10, {{.*}}) threads({{.*}}) in ({{.*}} = %c64,
memref.global "private" constant @table : memref<200xf32> = dense<1.0>
func.func @strided_space(%out: memref<6x200xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c6 = arith.constant 6 : index
  %c200 = arith.constant 200 : index
  %t = memref.get_global @table : memref<200xf32>
  scf.parallel (%i, %j) = (%c1, %c0) to (%c6, %c200) step (%c2, %c1) {
    %v = memref.load %t[%j] : memref<200xf32>
    memref.store %v, %out[%i, %j] : memref<6x200xf32>
    scf.reduce
  }
  return
}

// -----

// A copy between strided views (a table written in sections) becomes a loop
// too; a contiguous copy stays a copy (gpu.memcpy later).
// CHECK-LABEL: func.func @copies
// CHECK: gpu.launch
// CHECK:   memref.load %{{.*}} : memref<2x16xf32, strided<[64, 1], offset: 16>>
// CHECK:   memref.store %{{.*}} : memref<2x16xf32, strided<[64, 1]>>
// CHECK: gpu.terminator
// CHECK: memref.copy %arg2, %arg3 : memref<8xf32> to memref<8xf32>
func.func @copies(%a: memref<2x64xf32>, %b: memref<2x64xf32>, %c: memref<8xf32>, %d: memref<8xf32>) {
  %src = memref.subview %a[0, 16] [2, 16] [1, 1] : memref<2x64xf32> to memref<2x16xf32, strided<[64, 1], offset: 16>>
  %dst = memref.subview %b[0, 0] [2, 16] [1, 1] : memref<2x64xf32> to memref<2x16xf32, strided<[64, 1]>>
  memref.copy %src, %dst : memref<2x16xf32, strided<[64, 1], offset: 16>> to memref<2x16xf32, strided<[64, 1]>>
  memref.copy %c, %d : memref<8xf32> to memref<8xf32>
  return
}

// -----

// A row one iteration updates in place (a loop carries its view) and that
// bufferization writes back onto the same view: the copy does nothing and is
// dropped (kept, it would be a dynamically shaped copy: an error).
// CHECK-LABEL: func.func @write_back_onto_itself
// CHECK: gpu.launch
// CHECK:   %[[ROW:.*]] = memref.subview %arg0[%{{.*}}, 0] [1, %{{.*}}] [1, 1]
// CHECK:   scf.for
// CHECK:     memref.store %{{.*}}, %[[ROW]]
// CHECK-NOT: memref.copy
// CHECK: gpu.terminator
func.func @write_back_onto_itself(%out: memref<4x?xi64>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %v = arith.constant 7 : i64
  scf.parallel (%r) = (%c0) to (%c4) step (%c1) {
    %row = memref.subview %out[%r, 0] [1, %n] [1, 1] : memref<4x?xi64> to memref<1x?xi64, strided<[?, 1], offset: ?>>
    %done = scf.for %i = %c0 to %n step %c1 iter_args(%view = %row) -> (memref<1x?xi64, strided<[?, 1], offset: ?>>) {
      memref.store %v, %view[%c0, %i] : memref<1x?xi64, strided<[?, 1], offset: ?>>
      scf.yield %view : memref<1x?xi64, strided<[?, 1], offset: ?>>
    }
    %same = memref.subview %out[%r, 0] [1, %n] [1, 1] : memref<4x?xi64> to memref<1x?xi64, strided<[?, 1], offset: ?>>
    memref.copy %done, %same : memref<1x?xi64, strided<[?, 1], offset: ?>> to memref<1x?xi64, strided<[?, 1], offset: ?>>
    scf.reduce
  }
  return
}

// -----

// A copy onto another row is not dropped (here: rejected, dynamically shaped).
func.func @write_back_elsewhere(%out: memref<4x?xi64>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  scf.parallel (%r) = (%c0) to (%c4) step (%c1) {
    %row = memref.subview %out[%r, 0] [1, %n] [1, 1] : memref<4x?xi64> to memref<1x?xi64, strided<[?, 1], offset: ?>>
    %next = memref.subview %out[%c0, 0] [1, %n] [1, 1] : memref<4x?xi64> to memref<1x?xi64, strided<[?, 1], offset: ?>>
    // expected-error @below {{copies a dynamically shaped view in a function compiled for device buffers}}
    memref.copy %row, %next : memref<1x?xi64, strided<[?, 1], offset: ?>> to memref<1x?xi64, strided<[?, 1], offset: ?>>
    scf.reduce
  }
  return
}

// -----

// Loops inside kernels stay; an empty space needs no kernel.
// CHECK-LABEL: func.func @nested_and_empty
// CHECK-NOT: gpu.launch
// CHECK: return
func.func @nested_and_empty(%out: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %f = arith.constant 0.0 : f32
  scf.parallel (%i) = (%c1) to (%c0) step (%c1) {
    memref.store %f, %out[%i] : memref<4xf32>
    scf.reduce
  }
  return
}

// -----

// A linalg op that reduces all its loops (mrope.sequence_length's maximum):
// 600 elements, 16 per thread -> 38 threads in one block, each folding a
// strided share (consecutive threads, consecutive elements) from the
// identity, then one atomic maximum into the output. The 0-d fill before it
// is a kernel of one thread.
// CHECK-LABEL: func.func @max_reduction
// CHECK-DAG: %[[C38:.*]] = arith.constant 38 : index
// CHECK-DAG: %[[C600:.*]] = arith.constant 600 : index
// CHECK-DAG: %[[LOWEST:.*]] = arith.constant -9223372036854775808 : i64
// CHECK: gpu.launch {{.*}} threads({{.*}}) in (%{{.*}} = %c1,
// CHECK:   memref.store %[[LOWEST]], %arg1[]
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c1, {{.*}}) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C38]],
// CHECK:   %[[ACC:.*]] = scf.for %[[I:.*]] = %[[TX]] to %[[C600]] step %[[C38]] iter_args(%[[A:.*]] = %[[LOWEST]]) -> (i64) {
// CHECK:     %[[X:.*]] = memref.load %arg0[
// CHECK:     %[[M:.*]] = arith.maxsi %[[X]], %[[A]] : i64
// CHECK:     scf.yield %[[M]]
// CHECK:   %[[IN:.*]] = arith.cmpi ult, %[[TX]], %[[C600]]
// CHECK:   scf.if %[[IN]] {
// CHECK:     memref.atomic_rmw maxs %[[ACC]], %arg1[] : (i64, memref<i64>) -> i64
#all3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#none3 = affine_map<(d0, d1, d2) -> ()>
func.func @max_reduction(%pos: memref<3x2x100xi64>, %out: memref<i64>) {
  %lowest = arith.constant -9223372036854775808 : i64
  linalg.fill ins(%lowest : i64) outs(%out : memref<i64>)
  linalg.generic {indexing_maps = [#all3, #none3],
                  iterator_types = ["reduction", "reduction", "reduction"]}
      ins(%pos : memref<3x2x100xi64>) outs(%out : memref<i64>) {
  ^bb0(%x: i64, %acc: i64):
    %m = arith.maxsi %x, %acc : i64
    linalg.yield %m : i64
  }
  return
}

// -----

// A length read from device memory and the arithmetic on it move into the
// kernel that uses them (the host cannot read device memory); nothing of it
// is left on the host.
// CHECK-LABEL: func.func @length_read_by_kernel
// CHECK-NOT: memref.load
// CHECK: gpu.launch
// CHECK:   %[[N:.*]] = memref.load %arg0[%{{.*}}] : memref<1xi64>
// CHECK:   %[[M:.*]] = arith.addi %[[N]], %{{.*}} : i64
// CHECK:   %[[F:.*]] = arith.sitofp %[[M]] : i64 to f32
// CHECK:   memref.store %[[F]], %arg1[
// CHECK: gpu.terminator
// CHECK-NOT: memref.load
// CHECK: return
func.func @length_read_by_kernel(%len: memref<1xi64>, %out: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %n = memref.load %len[%c0] : memref<1xi64>
  %one = arith.constant 1 : i64
  %m = arith.addi %n, %one : i64
  %f = arith.sitofp %m : i64 to f32
  linalg.fill ins(%f : f32) outs(%out : memref<8xf32>)
  return
}

// -----

// But not past a kernel that may overwrite what it read: that load stays on
// the host (mrope-gpu-check-host-access then reports it).
// CHECK-LABEL: func.func @overwritten_before_use
// CHECK: memref.load %arg0
// CHECK: gpu.launch
// CHECK: gpu.launch
// CHECK-NOT: memref.load %arg0
func.func @overwritten_before_use(%a: memref<4xf32>, %out: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %v = memref.load %a[%c0] : memref<4xf32>
  linalg.fill ins(%zero : f32) outs(%a : memref<4xf32>)
  linalg.fill ins(%v : f32) outs(%out : memref<8xf32>)
  return
}

// -----

// Past a kernel that writes other buffers, the read moves.
// CHECK-LABEL: func.func @past_another_kernel
// CHECK-NOT: memref.load %arg0
// CHECK: gpu.launch
// CHECK: gpu.launch
// CHECK: memref.load %arg0
func.func @past_another_kernel(%len: memref<1xi64>, %a: memref<4xf32>, %out: memref<8xi64>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = memref.load %len[%c0] : memref<1xi64>
  linalg.fill ins(%zero : f32) outs(%a : memref<4xf32>)
  linalg.fill ins(%n : i64) outs(%out : memref<8xi64>)
  return
}

// -----

// LongRoPE's factors chosen by a length in device memory: the copy of the
// chosen table is a kernel that reads the length, chooses and copies; a
// scalar stored into device memory is a kernel of one thread.
// CHECK-LABEL: func.func @chosen_table
// CHECK-NOT: memref.copy
// CHECK: gpu.launch
// CHECK: %[[N:.*]] = memref.load %arg0
// CHECK: %[[IS_LONG:.*]] = arith.cmpi sgt, %[[N]]
// CHECK-DAG: %[[SHORT:.*]] = memref.get_global @short
// CHECK-DAG: %[[LONG:.*]] = memref.get_global @long
// CHECK: %[[T:.*]] = arith.select %[[IS_LONG]], %[[LONG]], %[[SHORT]]
// CHECK: memref.load %[[T]]
// CHECK: gpu.launch {{.*}} threads({{.*}}) in (%{{.*}} = %c1,
// CHECK:   %[[N2:.*]] = memref.load %arg0
// CHECK:   memref.store %[[N2]], %arg2[
// CHECK-NOT: memref.load
// CHECK: return
memref.global "private" constant @short : memref<4xf32> = dense<1.0>
memref.global "private" constant @long : memref<4xf32> = dense<2.0>
func.func @chosen_table(%len: memref<1xi64>, %out: memref<4xf32>, %copy: memref<1xi64>) {
  %c0 = arith.constant 0 : index
  %n = memref.load %len[%c0] : memref<1xi64>
  %limit = arith.constant 64 : i64
  %is_long = arith.cmpi sgt, %n, %limit : i64
  %s = memref.get_global @short : memref<4xf32>
  %l = memref.get_global @long : memref<4xf32>
  %t = arith.select %is_long, %l, %s : memref<4xf32>
  memref.copy %t, %out : memref<4xf32> to memref<4xf32>
  memref.store %n, %copy[%c0] : memref<1xi64>
  return
}

// -----

func.func @float_sum(%in: memref<4xf32>, %out: memref<f32>) {
  // expected-error @below {{reduces all its loops with a combiner that is not an order-independent integer operation (addi, maxsi, minsi, maxui, minui, andi, ori), which has no GPU lowering in a function compiled for device buffers}}
  linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>],
                  iterator_types = ["reduction"]}
      ins(%in : memref<4xf32>) outs(%out : memref<f32>) {
  ^bb0(%x: f32, %acc: f32):
    %s = arith.addf %x, %acc : f32
    linalg.yield %s : f32
  }
  return
}

// -----

func.func @reduction(%in: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %zero = arith.constant 0.0 : f32
  // expected-error @below {{has a reduction, which has no GPU lowering in a function compiled for device buffers}}
  %s = scf.parallel (%i) = (%c0) to (%c4) step (%c1) init (%zero) -> f32 {
    %v = memref.load %in[%i] : memref<4xf32>
    scf.reduce(%v : f32) {
    ^bb0(%x: f32, %y: f32):
      %r = arith.addf %x, %y : f32
      scf.reduce.return %r : f32
    }
  }
  return %s : f32
}

// -----

func.func @dynamic(%out: memref<?xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %f = arith.constant 0.0 : f32
  // expected-error @below {{needs constant bounds and positive steps to run as a GPU kernel (static shapes)}}
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    memref.store %f, %out[%i] : memref<?xf32>
    scf.reduce
  }
  return
}

// -----

func.func @too_large(%out: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %big = arith.constant 9223372036854775807 : index
  %f = arith.constant 0.0 : f32
  // expected-error @below {{has too many iterations for one GPU launch}}
  scf.parallel (%i, %j) = (%c0, %c0) to (%big, %big) step (%c1, %c1) {
    memref.store %f, %out[%c0] : memref<4xf32>
    scf.reduce
  }
  return
}
