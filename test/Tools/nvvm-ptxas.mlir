// The PTX that mrope-opt serializes is accepted by CUDA's ptxas for sm_90a.
// REQUIRES: ptxas
// RUN: mrope-opt %s --convert-gpu-to-nvvm --reconcile-unrealized-casts \
// RUN:   --nvvm-attach-target="chip=sm_90a features=+ptx80" \
// RUN:   --gpu-module-to-binary="format=isa" | %python %S/Inputs/extract_ptx.py > %t.ptx
// RUN: %ptxas -arch=sm_90a %t.ptx -o %t.cubin
// RUN: FileCheck %s < %t.ptx
// CHECK: .visible .entry axpy(
// CHECK: fma.rn.f32
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @axpy(%x: memref<256xf32>, %y: memref<256xf32>, %a: f32) kernel {
      %i = gpu.thread_id x
      %xi = memref.load %x[%i] : memref<256xf32>
      %yi = memref.load %y[%i] : memref<256xf32>
      %r = math.fma %a, %xi, %yi : f32
      memref.store %r, %y[%i] : memref<256xf32>
      gpu.return
    }
  }
}
