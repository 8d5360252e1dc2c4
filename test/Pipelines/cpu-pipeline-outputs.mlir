// RUN: mrope-opt %s --mrope-cpu-pipeline | FileCheck %s
// RUN: sed 's/in restrict writable/in writable/' %s | mrope-opt --mrope-cpu-pipeline | FileCheck %s --check-prefix=COPIED

// Results stored into `restrict` destinations (the Python package's output
// arguments) are computed in them: empty tensor elimination runs before
// bufferization, so the tables are neither allocated nor copied. Without
// `restrict` the destination may alias another buffer, and the tables go
// through a temporary (the form this avoids; it costs an allocation and a
// copy of each table per call).
// CHECK-LABEL: llvm.func @restrict_output
// CHECK-NOT: llvm.call @malloc
// CHECK-NOT: llvm.intr.memcpy
// CHECK: llvm.return
// COPIED-LABEL: llvm.func @restrict_output
// COPIED: llvm.call @malloc
// COPIED: llvm.intr.memcpy
func.func @restrict_output(%p_m: memref<3x1x40xi64>, %c_out: memref<1x40x16xf32>, %s_out: memref<1x40x16xf32>) attributes {llvm.emit_c_interface} {
  %p = bufferization.to_tensor %p_m restrict : memref<3x1x40xi64> to tensor<3x1x40xi64>
  %f = mrope.inv_freq theta = 1.000000e+04 : tensor<8xf32>
  %c, %s = mrope.cos_sin %p, %f rotary <alloc = <contiguous, section = [2, 3, 3]>, rotary_dim = 16> : tensor<3x1x40xi64>, tensor<8xf32> -> tensor<1x40x16xf32>, tensor<1x40x16xf32>
  bufferization.materialize_in_destination %c in restrict writable %c_out : (tensor<1x40x16xf32>, memref<1x40x16xf32>) -> ()
  bufferization.materialize_in_destination %s in restrict writable %s_out : (tensor<1x40x16xf32>, memref<1x40x16xf32>) -> ()
  return
}
