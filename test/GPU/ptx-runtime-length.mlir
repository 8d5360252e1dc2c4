// A prefill rotary whose scaling reads the sequence length at run time
// (dynamic NTK): mrope.sequence_length is a reduction kernel (one atomic
// maximum per thread), the rescaled inverse frequencies a kernel that reads
// that length from device memory itself, then the rotation. The host code
// reads no device memory; every kernel assembles for sm_90a.
// REQUIRES: ptxas
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa" -o %t.mlir
// RUN: FileCheck %s --check-prefix=HOST < %t.mlir
// RUN: %python %S/../Tools/Inputs/extract_ptx.py prefill_kernel_0::prefill_kernel < %t.mlir > %t.length.ptx
// RUN: FileCheck %s --check-prefix=LENGTH < %t.length.ptx
// RUN: %ptxas -arch=sm_90a %t.length.ptx -o %t.length.cubin
// RUN: %python %S/../Tools/Inputs/extract_ptx.py prefill_kernel_1::prefill_kernel < %t.mlir > %t.freqs.ptx
// RUN: FileCheck %s --check-prefix=FREQS < %t.freqs.ptx
// RUN: %ptxas -arch=sm_90a %t.freqs.ptx -o %t.freqs.cubin
// RUN: %python %S/../Tools/Inputs/extract_ptx.py mrope_apply_interleaved < %t.mlir > %t.rotary.ptx
// RUN: %ptxas -arch=sm_90a %t.rotary.ptx -o %t.rotary.cubin

// HOST-LABEL: llvm.func @prefill
// HOST-NOT: llvm.load
// HOST: gpu.launch_func @prefill_kernel::@prefill_kernel
// HOST-NOT: llvm.load
// HOST: gpu.launch_func @prefill_kernel_0::@prefill_kernel
// HOST-NOT: llvm.load
// HOST: gpu.launch_func @prefill_kernel_1::@prefill_kernel
// HOST-NOT: llvm.load
// HOST: gpu.launch_func @mrope_apply_interleaved_module::@mrope_apply_interleaved
// HOST-NOT: llvm.load
// HOST: llvm.return

// 3 x 2 x 4096 positions, 16 per thread: 1,536 threads in 6 blocks of 256,
// each a strided loop then one atomic maximum.
// LENGTH: .visible .entry prefill_kernel(
// LENGTH: .maxntid 256, 1, 1
// LENGTH: ld.global
// LENGTH: max.s64
// LENGTH: atom.global.max.s64
// LENGTH: ret;

// The frequencies' kernel loads the length (no parameter carries it) and
// clamps it to max_position_embeddings before the power.
// FREQS: .visible .entry prefill_kernel(
// FREQS: ld.global
// FREQS: max.s64 {{.*}}, 4096;
// FREQS: cvt.rn.f32.{{[su]}}64
// FREQS: ret;

func.func @prefill(%pos: tensor<3x2x4096xi64>, %q: tensor<2x32x4096x128xbf16>, %k: tensor<2x8x4096x128xbf16>)
    -> (tensor<2x32x4096x128xbf16>, tensor<2x8x4096x128xbf16>) {
  %n = mrope.sequence_length %pos : tensor<3x2x4096xi64>
  %f = mrope.inv_freq theta = 5.0e6
      scaling <kind = dynamic, factor = 4.0, max_position_embeddings = 4096>
      seq_len(%n : i64) : tensor<64xf32>
  %q1, %k1 = mrope.apply %q, %k positions(%pos : tensor<3x2x4096xi64>) freqs(%f : tensor<64xf32>) layout bhsd
      rotary <alloc = <interleaved, section = [24, 20, 20]>, rotary_dim = 128>
      : tensor<2x32x4096x128xbf16>, tensor<2x8x4096x128xbf16>
  return %q1, %k1 : tensor<2x32x4096x128xbf16>, tensor<2x8x4096x128xbf16>
}
