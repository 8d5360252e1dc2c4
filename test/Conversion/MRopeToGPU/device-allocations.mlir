// RUN: mrope-opt %s --split-input-file --mrope-gpu-device-allocations | FileCheck %s

// A temporary of a device-buffer function is device memory, freed (stream-
// ordered) at the end of its block: a function called every decode step
// must not leak.
// CHECK-LABEL: func.func @temporary_is_freed
// CHECK: %[[T:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] () : memref<8xf32>
// CHECK: gpu.launch
// CHECK: memref.load %[[T]]
// CHECK: gpu.terminator
// CHECK: %[[READY:.*]] = gpu.wait async
// CHECK: %[[DONE:.*]] = gpu.dealloc async [%[[READY]]] %[[T]] : memref<8xf32>
// CHECK: gpu.wait [%[[DONE]]]
// CHECK-NEXT: return
func.func @temporary_is_freed(%out: memref<8xf32>) {
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %t = memref.alloc() : memref<8xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%u = %c8, %v = %c1, %w = %c1) {
    %e = memref.load %t[%tx] : memref<8xf32>
    memref.store %e, %out[%tx] : memref<8xf32>
    gpu.terminator
  }
  return
}

// -----

// Returned (or a view of it returned): the caller owns it.
// CHECK-LABEL: func.func @returned
// CHECK: gpu.alloc
// CHECK-NOT: gpu.dealloc
// CHECK: return
func.func @returned(%in: memref<8xf32>) -> (memref<8xf32>, memref<4xf32, strided<[1], offset: 4>>) {
  %a = memref.alloc() : memref<8xf32>
  memref.copy %in, %a : memref<8xf32> to memref<8xf32>
  %b = memref.alloc() : memref<8xf32>
  %view = memref.subview %b[4] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1], offset: 4>>
  return %a, %view : memref<8xf32>, memref<4xf32, strided<[1], offset: 4>>
}

// -----

// Freed by the program already: freed once.
// CHECK-LABEL: func.func @freed_by_the_program
// CHECK-COUNT-1: gpu.dealloc
// CHECK-NOT: gpu.dealloc
func.func @freed_by_the_program(%in: memref<8xf32>) {
  %a = memref.alloc() : memref<8xf32>
  memref.copy %in, %a : memref<8xf32> to memref<8xf32>
  memref.dealloc %a : memref<8xf32>
  return
}

// -----

// A host program's own buffers stay host memory.
// CHECK-LABEL: func.func @host_main
// CHECK: memref.alloc
// CHECK-NOT: gpu.
func.func @host_main() -> f32 {
  %c0 = arith.constant 0 : index
  %a = memref.alloc() : memref<8xf32>
  %v = memref.load %a[%c0] : memref<8xf32>
  return %v : f32
}
