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
