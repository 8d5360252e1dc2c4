// mrope-opt registers the LLVM IR translations and the NVVM target, so GPU
// modules serialize to PTX without a GPU, and the PTX assembles for sm_90a.
// RUN: mrope-opt %s --convert-gpu-to-nvvm --reconcile-unrealized-casts \
// RUN:   --nvvm-attach-target="chip=sm_90a features=+ptx80" \
// RUN:   --gpu-module-to-binary="format=isa" | FileCheck %s

// CHECK: gpu.binary @kernels
// CHECK-SAME: .target sm_90a
// CHECK-SAME: .entry scale
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @scale(%buf: memref<128xf32>, %s: f32) kernel {
      %i = gpu.thread_id x
      %x = memref.load %buf[%i] : memref<128xf32>
      %y = arith.mulf %x, %s : f32
      memref.store %y, %buf[%i] : memref<128xf32>
      gpu.return
    }
  }
}
