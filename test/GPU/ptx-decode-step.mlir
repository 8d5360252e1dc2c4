// A whole decode step in one device-buffer function: the next tokens'
// positions (mrope.decode_positions, lowered to linalg and run as a GPU loop
// by mrope-gpu-parallel-loops) feed the rotation kernel of q and k. Both
// kernels assemble for sm_90a; the host code only launches them.
// REQUIRES: ptxas
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa" -o %t.mlir
// RUN: FileCheck %s --check-prefix=HOST < %t.mlir
// RUN: %python %S/../Tools/Inputs/extract_ptx.py decode_step_kernel < %t.mlir > %t.positions.ptx
// RUN: FileCheck %s < %t.positions.ptx
// RUN: %ptxas -arch=sm_90a %t.positions.ptx -o %t.positions.cubin
// RUN: %python %S/../Tools/Inputs/extract_ptx.py mrope_apply_contiguous < %t.mlir > %t.rotary.ptx
// RUN: %ptxas -arch=sm_90a %t.rotary.ptx -o %t.rotary.cubin

// Positions first (3 rows x 4 sequences x 2 new tokens: 24 threads), then the
// rotation; no host loop touches the buffers.
// HOST-LABEL: llvm.func @decode_step
// HOST-NOT: llvm.load
// HOST: gpu.launch_func @decode_step_kernel::@decode_step_kernel
// HOST-NOT: llvm.load
// HOST: gpu.launch_func @mrope_apply_contiguous_module::@mrope_apply_contiguous
// HOST-NOT: llvm.load
// HOST: llvm.return

// The positions kernel: 24 threads, each adds its token index (tid % 2)
// to its sequence's next position and stores one i64.
// CHECK: .visible .entry decode_step_kernel(
// CHECK: .maxntid 24, 1, 1
// CHECK: and.b64 {{.*}}, 1;
// CHECK: ld.global
// CHECK: add.s64
// CHECK: st.global
// CHECK: ret;

func.func @decode_step(%next: tensor<4xi64>, %q: tensor<4x32x2x128xbf16>, %k: tensor<4x8x2x128xbf16>)
    -> (tensor<4x32x2x128xbf16>, tensor<4x8x2x128xbf16>) {
  %pos = mrope.decode_positions %next : tensor<4xi64> -> tensor<3x4x2xi64>
  %f = mrope.inv_freq theta = 1.0e6 : tensor<64xf32>
  %q1, %k1 = mrope.apply %q, %k positions(%pos : tensor<3x4x2xi64>) freqs(%f : tensor<64xf32>) layout bhsd
      rotary <alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 128>
      : tensor<4x32x2x128xbf16>, tensor<4x8x2x128xbf16>
  return %q1, %k1 : tensor<4x32x2x128xbf16>, tensor<4x8x2x128xbf16>
}
