// RUN: mrope-opt %s --split-input-file --verify-diagnostics --mrope-gpu-check-host-access

// A function's buffers and gpu.alloc results are device memory: host code
// passes them to kernels and copies, and reads only host memory.
func.func @fine(%a: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %host = memref.alloc() : memref<4xf32>
  %t = gpu.wait async
  %t1 = gpu.memcpy async [%t] %host, %a : memref<4xf32>, memref<4xf32>
  gpu.wait [%t1]
  %v = memref.load %host[%c0] : memref<4xf32>
  return %v : f32
}

// -----

func.func @scalar_of_a_device_tensor(%a: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  // expected-error @below {{'memref.load' op reads or writes device memory on the host in a function compiled for device buffers}}
  %v = memref.load %a[%c0] : memref<4xf32>
  return %v : f32
}

// -----

func.func @through_a_view(%a: memref<4x4xf32>) -> vector<4xf32> {
  %c0 = arith.constant 0 : index
  %f = arith.constant 0.0 : f32
  %row = memref.subview %a[1, 0] [1, 4] [1, 1] : memref<4x4xf32> to memref<4xf32, strided<[1], offset: 4>>
  // expected-error @below {{'vector.transfer_read' op reads or writes device memory on the host}}
  %v = vector.transfer_read %row[%c0], %f {in_bounds = [true]} : memref<4xf32, strided<[1], offset: 4>>, vector<4xf32>
  return %v : vector<4xf32>
}

// -----

func.func @device_allocation(%v: f32) {
  %c0 = arith.constant 0 : index
  %d = gpu.alloc () : memref<4xf32>
  // expected-error @below {{'memref.store' op reads or writes device memory on the host}}
  memref.store %v, %d[%c0] : memref<4xf32>
  return
}

// -----

func.func @kernels_may(%a: memref<4xf32>) {
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%u = %c1, %v = %c1, %w = %c1) {
    %e = memref.load %a[%tx] : memref<4xf32>
    memref.store %e, %a[%tx] : memref<4xf32>
    gpu.terminator
  }
  return
}
